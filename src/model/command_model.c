#include "model/command_model.h"

#include <stdio.h>
#include <time.h>

#include "core/alloc.h"
#include "core/spec_internal.h"
#include "core/text.h"
#include "tool/command.h"

typedef struct command_model {
  art_model base;
  const art_spec *spec;
  json_t *decision;    /* the last decision's JSON: the decision borrows from it */
  art_model_call call; /* the last run of the program */
  char outcome[48];    /* what it came to: "command exit 0", ... */
  char error[ART_ERRMSG_SIZE];
  int64_t started_us;
  art_command_job *running; /* the decision in flight on an event loop */
} command_model;

static uint32_t tokens(const json_t *usage, const char *key) {
  json_int_t n = json_integer_value(json_object_get(usage, key));
  return n < 0 ? 0 : n > (json_int_t)UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* The program's result: an ok result whose data is an object is a decision. */
static int take_result(command_model *m, art_tool_result *r, art_decision *out, art_error *err) {
  if (r->status == ART_RESULT_OK && json_is_object(r->data)) {
    m->decision = json_incref(r->data);
    art_decision_from_json(m->decision, out);
    const json_t *usage = json_object_get(m->decision, "usage");
    out->usage = (art_usage){tokens(usage, "prompt_tokens"), tokens(usage, "completion_tokens")};
    m->call.usage = out->usage;
    return 0;
  }
  if (r->status == ART_RESULT_OK)
    snprintf(m->error, sizeof m->error, "model command: stdout is not a decision object");
  else
    art_format(m->error, sizeof m->error, "model command: %s",
               r->message[0] ? r->message : "failed");
  m->call.error = m->error;
  return art_error_set(err, ART_EIO, "%s", m->error);
}

/* A decision begins: the last one's state goes; the context packet is what
 * the program reads (NULL: out of memory). */
static json_t *begin(command_model *m, const art_context *ctx) {
  json_decref(m->decision);
  m->decision = NULL;
  m->call = (art_model_call){.attempt = 1, .retry_in_ms = -1};
  m->started_us = art_now_us();
  return art_context_to_json(ctx);
}

/* The program ran (rc, result, as art_command_tool_run says): the decision,
 * or why there is none. */
static int decided(command_model *m, int rc, art_tool_result *result, art_decision *out,
                   art_error *err) {
  m->call.outcome = m->outcome;
  m->call.ended_us = art_now_us();
  m->call.latency_us = m->call.ended_us - m->started_us;
  if (rc == ART_ENOMEM)
    rc = art_error_set(err, ART_ENOMEM, "out of memory");
  else
    rc = take_result(m, result, out, err);
  art_tool_result_dispose(result);
  return rc;
}

static int command_decide(art_model *base, const art_context *ctx, const art_interrupt *interrupt,
                          art_decision *out, art_error *err) {
  command_model *m = (command_model *)base;
  const art_model_config *cfg = &m->spec->model_cfg;
  json_t *packet = begin(m, ctx);
  if (!packet) return art_error_set(err, ART_ENOMEM, "out of memory");
  art_tool_call call = {
      .step = ctx->step, .run_id = ctx->run_id, .input = packet, .interrupt = interrupt};
  art_tool_result result = {0};
  int rc = art_command_tool_run(cfg->argv, cfg->timeout_ms, &call, m->spec->alloc, &result,
                                m->outcome, sizeof m->outcome);
  json_decref(packet);
  return decided(m, rc, &result, out, err);
}

/* ---- on an event loop: the same program, started there ---- */

static void command_done(void *ud, int rc, art_tool_result *result, const char *ending) {
  art_model_job *job = ud;
  command_model *m = job->state;
  art_decision d;
  art_error err = {0};
  m->running = NULL;
  snprintf(m->outcome, sizeof m->outcome, "%s", ending);
  rc = decided(m, rc, result, &d, &err);
  job->done(job, rc, rc == 0 ? &d : NULL, &err);
}

static int command_start(art_model *base, const art_context *ctx, art_model_job *job,
                         art_error *err) {
  command_model *m = (command_model *)base;
  const art_model_config *cfg = &m->spec->model_cfg;
  json_t *packet = begin(m, ctx);
  if (!packet) return art_error_set(err, ART_ENOMEM, "out of memory");
  art_tool_call call = {.step = ctx->step, .run_id = ctx->run_id, .input = packet};
  art_command_start how = {.uv = job->uv,
                           .gate = &job->procs,
                           .argv = cfg->argv,
                           .timeout_ms = cfg->timeout_ms,
                           .call = &call,
                           .alloc = m->spec->alloc,
                           .done = command_done,
                           .ud = job};
  job->state = m;
  m->running = art_command_tool_start(&how);
  json_decref(packet);
  return 0;
}

static void command_cancel(art_model *base, art_model_job *job) {
  command_model *m = (command_model *)base;
  (void)job;
  if (m->running) art_command_job_cancel(m->running);
  m->running = NULL;
}

static const art_model_call *command_calls(const art_model *base, size_t *n) {
  const command_model *m = (const command_model *)base;
  *n = m->call.attempt ? 1 : 0;
  return &m->call;
}

static void command_free(art_model *base) {
  command_model *m = (command_model *)base;
  json_decref(m->decision);
  art_release(m->spec->alloc, m);
}

static const art_model_vtable command_vtable = {ART_MODEL_VERSION, "command",     command_decide,
                                                command_free,      NULL,          command_calls,
                                                command_start,     command_cancel};

int art_command_model_new(art_model **out, const art_spec *spec, art_error *err) {
  command_model *m = art_zalloc(spec->alloc, sizeof *m);
  if (!m) return art_error_set(err, ART_ENOMEM, "out of memory");
  m->base.vt = &command_vtable;
  m->spec = spec;
  *out = &m->base;
  return 0;
}
