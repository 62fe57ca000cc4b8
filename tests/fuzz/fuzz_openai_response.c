/* libFuzzer target: a chat-completions response body from a server.
 * Bytes -> art_oai_parse_reply -> art_oai_decision against a context with one
 * tool (with a schema) -> art_decision_check, and the same bytes as an error
 * body -> art_oai_error_message.  A parsed reply must keep its invariants: a
 * decision that is accepted is one the run accepts too, and the message
 * always fits its buffer. */
#include <stdlib.h>
#include <string.h>

#include "agentrt.h"
#include "model/openai_response.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static art_registry *registry; /* reachable for the whole process: not a leak */
static const art_tool *tools[1];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  json_t *schema = json_loads("{\"type\":\"object\",\"properties\":{\"task\":{\"type\":\"string\","
                              "\"maxLength\":8}},\"required\":[\"task\"]}",
                              0, NULL);
  art_tool_def def = {.name = "lookup", .input_schema = schema};
  const char *const command[] = {"true", NULL};
  art_error err;
  if (!schema || art_registry_new(&registry, NULL) < 0 ||
      art_registry_add_command(registry, &def, command, 0, &err) < 0)
    abort();
  json_decref(schema);
  tools[0] = art_registry_find(registry, "lookup");
  return 0;
}

static void check_decision(const art_oai_reply *r) {
  art_context ctx = {.run_id = "r", .goal = "g", .step = 1, .max_steps = 2, .tools = tools,
                     .n_tools = 1};
  art_decision d;
  json_t *args = NULL;
  char problem[256], detail[512];
  int rc = art_oai_decision(r, &ctx, &d, &args, problem, sizeof problem);
  if (rc == 0 && problem[0]) abort();
  if (rc < 0 && !problem[0]) abort();
  /* Usable decisions are well formed, and a tool decision's input passed the schema. */
  if (rc == 0 && art_decision_check(&d, detail, sizeof detail) < 0) abort();
  if (rc == 0 && d.kind == ART_DECISION_TOOL && art_tool_check_input(tools[0], d.input, detail, sizeof detail) < 0)
    abort();
  json_decref(args);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  art_oai_reply r;
  char why[256], message[64];
  if (art_oai_parse_reply((const char *)data, size, &r, why, sizeof why) == 0) {
    if (!r.message || r.n_ignored > ART_MODEL_CALL_MAX_IGNORED) abort();
    check_decision(&r);
    art_oai_reply_dispose(&r);
  } else if (r.body || !why[0]) {
    abort();
  }
  art_oai_error_message((const char *)data, size, message, sizeof message);
  if (strlen(message) >= sizeof message) abort();
  return 0;
}
