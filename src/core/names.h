/* The names of every enum the spec, the trace and the CLI speak, in one place:
 * each table turns a value into its name and a name back into its value, and
 * the strict reader uses the same tables for its messages. */
#ifndef ART_NAMES_H
#define ART_NAMES_H

typedef struct art_names {
  const char *const *names;
  int count;
  const char *expected; /* "read, draft, write": for error messages */
} art_names;

extern const art_names art_side_effect_names, art_result_status_names, art_scope_names,
    art_sensitivity_names, art_omit_reason_names, art_observation_kind_names, art_effect_names,
    art_gate_action_names, art_stop_reason_names, art_event_type_names, art_decision_kind_names,
    art_resolve_kind_names;

/* The value named `name`, or -1. */
int art_names_find(const art_names *t, const char *name);
/* The name of `value`, or "?" outside the table. */
const char *art_names_name(const art_names *t, int value);

#endif
