/* Run and approval records as JSON (durable.h), one shape for the CLI and the
 * service. */
#include "agentrt/durable.h"

static json_t *holder_json(const art_run_record *r, int64_t now) {
  if (!r->lease_owner) return json_null();
  return json_pack("{s:s, s:b, s:I}", "owner", r->lease_owner, "alive",
                   art_holder_of(r, now) == ART_HOLDER_ALIVE, "lease_until_us",
                   (json_int_t)r->lease_until_us);
}

int64_t art_holder_heartbeat_ms(const art_run_record *r, int64_t now_us) {
  if (!r->lease_owner || !r->lease_renewed_us) return -1;
  return now_us > r->lease_renewed_us ? (now_us - r->lease_renewed_us) / 1000 : 0;
}

json_t *art_run_record_json(const art_run_record *r, int64_t now_us) {
  int64_t heartbeat = art_holder_heartbeat_ms(r, now_us);
  return json_pack("{s:s, s:s, s:s?, s:s?, s:i, s:s, s:s?, s:I, s:I, s:o, s:o}", "run_id",
                   r->run_id, "status", art_run_status_name(art_durable_status_now(r, now_us)),
                   "stop_reason", r->stop_reason, "reason", r->detail, "steps", (int)r->steps,
                   "queue", r->queue ? r->queue : ART_QUEUE_DEFAULT, "tenant", r->tenant,
                   "created_us", (json_int_t)r->created_us, "updated_us", (json_int_t)r->updated_us,
                   "holder", holder_json(r, now_us), "heartbeat_age_ms",
                   heartbeat < 0 ? json_null() : json_integer(heartbeat));
}

json_t *art_approval_records_json(const art_approval_record *list, size_t n) {
  json_t *array = json_array();
  for (size_t i = 0; array && i < n; i++) {
    const art_approval_record *a = &list[i];
    json_t *one = json_pack(
        "{s:s, s:s, s:s?, s:s, s:s?, s:I, s:s, s:s, s:s?, s:I, s:I, s:I}", "run_id", a->run_id,
        "action_id", a->action_id, "tool", a->tool, "input_sha256", a->input_sha256, "requested_by",
        a->requested_by, "requested_at_us", (json_int_t)a->requested_at_us, "reviewer", a->reviewer,
        "decision", a->approved ? "approved" : "denied", "reason", a->reason, "decided_at_us",
        (json_int_t)a->decided_at_us, "expires_at_us", (json_int_t)a->expires_at_us, "event_seq",
        (json_int_t)a->event_seq);
    if (json_array_append_new(array, one) < 0) json_decref(array), array = NULL;
  }
  return array;
}
