/* The event-loop driver (loop.h): each run on the loop is a slot that is
 * either between actions, or has one action in flight: a model's decision
 * (started on the loop, or deciding on the thread pool) or a tool call (on
 * the loop's thread at once, or on the thread pool).  An outcome is fed to
 * the run on the loop's thread, and the slot goes on to the next action,
 * without returning to the loop while actions complete at once.
 *
 * A run whose sinks hold back an event that must be durable (a batched store
 * sink: a side effect's intent, a stop) is held at the end of the turn: once
 * the turn's callbacks are done, the held runs are synced together (the first
 * sync commits the events of all of them, the others find nothing left) and
 * only then go on to the action, or report the stop.
 *
 * A model job's timer (`after`) is not a libuv timer of its own: the jobs
 * waiting the same number of milliseconds are in one list, due in the order
 * they joined it (the loop's clock never goes back), so one libuv timer set
 * for the list's head serves them all, and joining or leaving costs O(1)
 * instead of a heap operation over every timer of ten thousand runs (Node.js
 * keeps its timers in lists by duration for the same reason). */
#include "agentrt/loop.h"
#include "core/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

typedef enum { SLOT_IDLE, SLOT_DECIDING, SLOT_CALLING } slot_state;
/* Where the action in flight stands with the loop's process slots. */
typedef enum { PROC_NONE, PROC_WAITING, PROC_HOLDING } proc_state;

typedef struct slot slot;
typedef struct delay_list delay_list;

/* An action on the thread pool and its outcome: made for it, freed after. */
typedef struct pool_job {
  uv_work_t work;
  slot *s;
  art_interrupt interrupt;
  const art_context *ctx;
  const art_tool *tool;
  art_tool_call call;
  art_tool_result result;
  art_decision decision;
  art_error err;
  int rc;
} pool_job;

struct slot {
  art_loop *loop;
  slot *prev, *next; /* the loop's runs */
  art_run *run;
  art_model *model;
  art_loop_stopped_fn stopped;
  void *ud;
  slot_state state;
  pool_job *pool;        /* the action in flight on the thread pool, if any */
  bool in_start;         /* inside a model's or tool's start: an outcome now is fed by drive */
  bool fed_at_start;     /* the outcome came before start returned */
  int fed_rc;            /* what feeding it returned */
  atomic_bool give_up;   /* read by an action on the pool through its interrupt */
  char *cancel_reason;   /* art_loop_cancel's, until acted on */
  bool let_go;           /* art_loop_let_go's: stop before the next action */
  bool timed_out;        /* the wall-time budget ran out with an action in flight */
  int64_t deadline_us;   /* the budget's end for the action in flight; 0: none */
  /* The clock when the last outcome was fed (or the run was started or
   * synced): the next action starts then, so a step reads the clock once
   * for each outcome, not again for each action. */
  int64_t now_us;
  unsigned open_handles;       /* timers initialised: the slot is freed once they are closed */
  uv_timer_t *deadline_timer; /* made for a run with a wall-time budget */
  delay_list *delays;         /* the list its model job's `after` waits in, if any */
  slot *delay_prev, *delay_next;
  uint64_t due_ms;  /* on the loop's clock */
  uint64_t join_no; /* the loop's count of joins when it joined */
  void (*fire)(art_model_job *job);
  art_model_job job;
  const art_tool *tool; /* the tool started on the loop, while its call is in flight */
  art_tool_call call;
  art_tool_job tool_job;
  slot *held_next;            /* the loop's held runs, while this one is held */
  const art_action *held_act; /* what it goes on to once synced; NULL: it finishes */
  proc_state proc;
  slot *proc_next;                /* the runs waiting for a process slot, while this one does */
  void (*proc_granted)(void *ud); /* told once it holds one */
  void *proc_ud;
};

struct art_loop {
  const art_allocator *alloc;
  uv_loop_t own, *uv;
  uv_idle_t kick; /* starts the runs added since the last turn */
  /* Runs held until their sinks are synced, in order; the turn's end syncs them:
   * after the I/O callbacks (check), or before the loop would wait (prepare). */
  slot *held, **held_end;
  uv_check_t sync_after_io;
  uv_prepare_t sync_before_wait;
  /* libuv reads its clock once a turn, before the timers, and would reckon
   * how long to wait for the next timer from that reading: a turn that
   * drove ten thousand runs for 5 ms would make every timer 5 ms late.  The
   * clock is read again before the loop waits. */
  uv_prepare_t clock_before_wait;
  delay_list *delay_lists;        /* one for each delay some job waits now */
  uint64_t delay_joins;
  /* Process slots: held by actions in flight, and the actions waiting for
   * one, first come first served; a slot given back is granted on the next
   * turn (grant), not inside the callback that gave it back. */
  size_t max_procs, procs_held;
  slot *proc_waiting, **proc_waiting_end;
  uv_idle_t grant;
  slot *runs;                     /* every run on the loop */
  slot *starting, **starting_end; /* added, not driven yet: in order, through next */
  size_t n_runs;
  bool freeing;
};

static void drive(slot *s);
static void hold(slot *s, const art_action *act);
static void delay_leave(slot *s);
static void proc_release_slot(slot *s);

/* ---- slots --------------------------------------------------------------------- */

static void unlink_slot(slot *s) {
  art_loop *l = s->loop;
  if (s->prev) s->prev->next = s->next;
  if (s->next) s->next->prev = s->prev;
  if (l->runs == s) l->runs = s->next;
  s->prev = s->next = NULL;
  l->n_runs--;
}

static void slot_free(slot *s) {
  const art_allocator *a = s->loop->alloc;
  art_release(a, s->deadline_timer);
  art_release(a, s);
}

static void slot_closed(uv_handle_t *h) {
  slot *s = h->data;
  if (--s->open_handles == 0) slot_free(s);
}

/* The loop is done with the run: it is told, and the slot goes (once its
 * timers have closed). */
static void finish(slot *s, int rc) {
  proc_release_slot(s);
  if (art_run_owes_sync(s->run)) {
    if (rc >= 0 && !s->loop->freeing) {
      hold(s, NULL);
      return;
    }
    int synced = art_run_sync(s->run);
    if (rc >= 0) rc = synced;
  }
  unlink_slot(s);
  art_release(s->loop->alloc, s->cancel_reason);
  art_run *run = s->run;
  art_loop_stopped_fn stopped = s->stopped;
  void *ud = s->ud;
  if (s->open_handles == 0)
    slot_free(s);
  else
    uv_close((uv_handle_t *)s->deadline_timer, slot_closed);
  stopped(ud, run, rc);
}

static bool stopping(slot *s) {
  return s->cancel_reason || s->timed_out || atomic_load(&s->give_up);
}

/* An action that gave up before it ended: the run stops cancelled or out of
 * time, or (the loop is being freed) is let go.  Nothing is recorded for it. */
static int gave_up(slot *s, int64_t now) {
  if (s->cancel_reason) return art_run_cancel(s->run, s->cancel_reason, now);
  if (s->timed_out) return art_run_feed_time_out(s->run, now);
  return ART_EINTR;
}

static int timer_init(slot *s, uv_timer_t *t) {
  if (uv_timer_init(s->loop->uv, t) < 0) return ART_EIO;
  t->data = s;
  s->open_handles++;
  return 0;
}

/* ---- the wall-time budget ---------------------------------------------------------- */

static void interrupt_in_flight(slot *s);

/* libuv reckons a timer from its clock reading at the start of the turn that
 * armed it, which may be older than the run's: a deadline timer may fire
 * before the budget has run out, and then waits again for the rest. */
static void deadline_fired(uv_timer_t *t) {
  slot *s = t->data;
  int64_t now = art_now_us();
  if (now < s->deadline_us) {
    uv_timer_start(t, deadline_fired, (uint64_t)(s->deadline_us - now + 999) / 1000, 0);
    return;
  }
  s->timed_out = true;
  interrupt_in_flight(s);
}

static int arm_deadline(slot *s, int64_t now) {
  s->deadline_us = art_run_next_deadline(s->run);
  if (!s->deadline_us) return 0;
  if (!s->deadline_timer) {
    if (!(s->deadline_timer = art_alloc(s->loop->alloc, sizeof *s->deadline_timer)))
      return ART_ENOMEM;
    if (timer_init(s, s->deadline_timer) < 0) {
      art_release(s->loop->alloc, s->deadline_timer), s->deadline_timer = NULL;
      return ART_EIO;
    }
  }
  uint64_t ms = s->deadline_us > now ? (uint64_t)(s->deadline_us - now + 999) / 1000 : 0;
  return uv_timer_start(s->deadline_timer, deadline_fired, ms, 0) < 0 ? ART_EIO : 0;
}

static void disarm_deadline(slot *s) {
  if (s->deadline_timer) uv_timer_stop(s->deadline_timer);
}

/* ---- process slots ---------------------------------------------------------------- */

static void grant_waiting(uv_idle_t *idle) {
  art_loop *l = idle->data;
  while (l->proc_waiting && l->procs_held < l->max_procs) {
    slot *s = l->proc_waiting;
    if (!(l->proc_waiting = s->proc_next)) l->proc_waiting_end = &l->proc_waiting;
    s->proc = PROC_HOLDING;
    l->procs_held++;
    s->proc_granted(s->proc_ud); /* may give it back, or ask for more, at once */
  }
  uv_idle_stop(idle);
}

static bool proc_acquire(art_proc_gate *g, void (*granted)(void *ud), void *ud) {
  slot *s = g->loop_ud;
  art_loop *l = s->loop;
  if (s->proc == PROC_HOLDING) return true;
  if (s->proc == PROC_NONE && !l->proc_waiting && l->procs_held < l->max_procs) {
    s->proc = PROC_HOLDING;
    l->procs_held++;
    return true;
  }
  s->proc_granted = granted;
  s->proc_ud = ud;
  if (s->proc == PROC_WAITING) return false;
  s->proc = PROC_WAITING;
  s->proc_next = NULL;
  *l->proc_waiting_end = s;
  l->proc_waiting_end = &s->proc_next;
  return false;
}

static void stop_waiting(slot *s) {
  art_loop *l = s->loop;
  slot **p = &l->proc_waiting;
  while (*p != s) p = &(*p)->proc_next;
  if (!(*p = s->proc_next)) l->proc_waiting_end = p;
}

/* Also the loop's own: whatever a job holds or waits for is given back when
 * its action ends or is given up. */
static void proc_release_slot(slot *s) {
  if (s->proc == PROC_WAITING) stop_waiting(s);
  if (s->proc == PROC_HOLDING && --s->loop->procs_held < s->loop->max_procs &&
      s->loop->proc_waiting)
    uv_idle_start(&s->loop->grant, grant_waiting);
  s->proc = PROC_NONE;
}

static void proc_release(art_proc_gate *g) { proc_release_slot(g->loop_ud); }

static art_proc_gate proc_gate(slot *s) { return (art_proc_gate){proc_acquire, proc_release, s}; }

static size_t default_max_procs(void) { return 4 * (size_t)uv_available_parallelism(); }

/* ---- the thread pool ------------------------------------------------------------ */

static bool pool_interrupted(void *ud) {
  slot *s = ud;
  return atomic_load(&s->give_up) || (s->deadline_us && art_now_us() >= s->deadline_us);
}

static pool_job *pool_job_new(slot *s) {
  pool_job *j = art_zalloc(s->loop->alloc, sizeof *j);
  if (!j) return NULL;
  j->s = s;
  j->work.data = j;
  j->interrupt = (art_interrupt){pool_interrupted, s, NULL};
  return j;
}

/* Hand the job, filled in, to the pool: 1 (in flight), or a failure. */
static int to_pool(pool_job *j, uv_work_cb work, uv_after_work_cb after) {
  slot *s = j->s;
  atomic_store(&s->give_up, false);
  if (uv_queue_work(s->loop->uv, &j->work, work, after) < 0) {
    art_release(s->loop->alloc, j);
    return ART_EIO;
  }
  s->pool = j;
  return 1;
}

/* Back on the loop's thread: whether the budget ran out meanwhile. */
static slot *from_pool(pool_job *j) {
  slot *s = j->s;
  s->pool = NULL;
  if (s->deadline_us && art_now_us() >= s->deadline_us) s->timed_out = true;
  return s;
}

/* ---- model jobs' timers: one list per delay ------------------------------------- */

struct delay_list {
  art_loop *loop;
  delay_list *next; /* the loop's lists */
  uint64_t ms;
  uv_timer_t timer; /* set for the head's due time while the list has jobs */
  slot *head, *tail;
};

static void delay_list_closed(uv_handle_t *h) {
  delay_list *d = h->data;
  art_release(d->loop->alloc, d);
}

/* An empty list goes; the next job that waits as long makes a new one. */
static void delay_list_close(delay_list *d) {
  delay_list **p = &d->loop->delay_lists;
  while (*p != d) p = &(*p)->next;
  *p = d->next;
  uv_close((uv_handle_t *)&d->timer, delay_list_closed);
}

/* Fires the jobs due now that joined before this call (one that waits again,
 * even 0 ms, joins at the tail and is fired next time), then sets the timer
 * for the next. */
static void delay_list_fired(uv_timer_t *t) {
  delay_list *d = t->data;
  uint64_t now = uv_now(d->loop->uv), joined = d->loop->delay_joins;
  while (d->head && d->head->due_ms <= now && d->head->join_no <= joined) {
    slot *s = d->head;
    delay_leave(s);
    s->fire(&s->job);
  }
  if (!d->head)
    delay_list_close(d);
  else
    uv_timer_start(&d->timer, delay_list_fired, d->head->due_ms > now ? d->head->due_ms - now : 0,
                   0);
}

static delay_list *delay_list_for(art_loop *l, uint64_t ms) {
  for (delay_list *d = l->delay_lists; d; d = d->next)
    if (d->ms == ms) return d;
  delay_list *d = art_zalloc(l->alloc, sizeof *d);
  if (!d) return NULL;
  if (uv_timer_init(l->uv, &d->timer) < 0) {
    art_release(l->alloc, d);
    return NULL;
  }
  d->loop = l;
  d->ms = ms;
  d->timer.data = d;
  d->next = l->delay_lists;
  l->delay_lists = d;
  return d;
}

static int delay_join(slot *s, uint64_t ms) {
  delay_list *d = delay_list_for(s->loop, ms);
  if (!d) return ART_ENOMEM;
  if (!d->head && uv_timer_start(&d->timer, delay_list_fired, ms, 0) < 0) return ART_EIO;
  /* From the turn's clock, as libuv's own timers (and Node's) count: a job
   * that waits late in a long turn is due that much sooner. */
  s->due_ms = uv_now(s->loop->uv) + ms;
  s->join_no = ++s->loop->delay_joins;
  s->delays = d;
  s->delay_prev = d->tail;
  s->delay_next = NULL;
  if (d->tail)
    d->tail->delay_next = s;
  else
    d->head = s;
  d->tail = s;
  return 0;
}

/* Out of its list, if in one (the list's timer goes on for the others). */
static void delay_leave(slot *s) {
  delay_list *d = s->delays;
  if (!d) return;
  if (s->delay_prev)
    s->delay_prev->delay_next = s->delay_next;
  else
    d->head = s->delay_next;
  if (s->delay_next)
    s->delay_next->delay_prev = s->delay_prev;
  else
    d->tail = s->delay_prev;
  s->delays = NULL;
}

/* ---- decisions ------------------------------------------------------------------ */

static int feed_calls(slot *s, int64_t now) {
  size_t n;
  const art_model_call *calls = art_model_calls(s->model, &n);
  for (size_t i = 0; i < n; i++) {
    int rc =
        art_run_feed_model_call(s->run, &calls[i], calls[i].ended_us ? calls[i].ended_us : now);
    if (rc < 0) return rc;
  }
  return 0;
}

static int feed_decision(slot *s, int rc, const art_decision *d, const art_error *err) {
  int64_t now = s->now_us = art_now_us();
  if (rc == ART_ENOMEM) return ART_ENOMEM;
  int fed = feed_calls(s, now);
  if (fed < 0) return fed;
  if (rc < 0 && stopping(s)) return gave_up(s, now);
  if (rc < 0) return art_run_feed_model_failure(s->run, err->message, now);
  return art_run_feed_decision(s->run, d, now);
}

/* After an outcome: the next action, or the end. */
static void go_on(slot *s, int rc) {
  s->state = SLOT_IDLE;
  disarm_deadline(s);
  if (rc < 0 || s->loop->freeing)
    finish(s, rc < 0 ? rc : ART_EINTR);
  else
    drive(s);
}

/* An outcome started on the loop was fed: go on, or (it came before start
 * returned) leave that to the start. */
static void fed_started(slot *s, int fed) {
  if (s->in_start) {
    s->fed_at_start = true;
    s->fed_rc = fed;
    return;
  }
  go_on(s, fed);
}

/* A start returned 0: 1 while its outcome is awaited, or what feeding the
 * outcome (it came before start returned) returned. */
static int started(slot *s) {
  s->in_start = false;
  if (!s->fed_at_start) return 1;
  s->state = SLOT_IDLE;
  return s->fed_rc;
}

static void job_done(art_model_job *job, int rc, const art_decision *d, const art_error *err) {
  slot *s = job->loop_ud;
  if (s->state != SLOT_DECIDING) return; /* given up already */
  delay_leave(s);
  proc_release_slot(s);
  fed_started(s, feed_decision(s, rc, d, err));
}

static void job_after(art_model_job *job, uint64_t ms, void (*fire)(art_model_job *job)) {
  slot *s = job->loop_ud;
  s->fire = fire;
  delay_leave(s);
  if (delay_join(s, ms) == 0) return;
  art_error err = {0};
  art_error_set(&err, ART_EIO, "the event loop cannot set a timer");
  job_done(job, ART_EIO, NULL, &err);
}

static void decide_on_pool(uv_work_t *w) {
  pool_job *j = w->data;
  j->rc = art_model_decide_until(j->s->model, j->ctx, &j->interrupt, &j->decision, &j->err);
}

static void decided_on_pool(uv_work_t *w, int status) {
  pool_job *j = w->data;
  slot *s = from_pool(j);
  if (status == UV_ECANCELED) /* it never ran */
    j->rc = art_error_set(&j->err, ART_EIO, "interrupted");
  int rc = feed_decision(s, j->rc, &j->decision, &j->err);
  art_release(s->loop->alloc, j);
  go_on(s, rc);
}

/* 1: the decision is in flight; 0: it was fed already; < 0: failure. */
static int start_decision(slot *s, const art_action *act) {
  s->state = SLOT_DECIDING;
  const art_model_vtable *vt = s->model->vt;
  if (vt->version < 4 || !vt->start) {
    pool_job *j = pool_job_new(s);
    if (!j) return ART_ENOMEM;
    j->ctx = act->context;
    return to_pool(j, decide_on_pool, decided_on_pool);
  }
  s->job = (art_model_job){s->loop->uv, job_after, job_done, NULL, s, proc_gate(s)};
  s->in_start = true;
  s->fed_at_start = false;
  art_error err = {0};
  int rc = vt->start(s->model, act->context, &s->job, &err);
  if (rc < 0) {
    s->in_start = false;
    s->state = SLOT_IDLE;
    return feed_decision(s, rc, NULL, &err);
  }
  return started(s);
}

/* ---- tool calls ----------------------------------------------------------------- */

static int feed_result(slot *s, uint32_t call_id, art_tool_result *result) {
  int64_t now = s->now_us = art_now_us();
  int rc = stopping(s) && result->status == ART_RESULT_ERROR
               ? gave_up(s, now)
               : art_run_feed_tool_result(s->run, call_id, result, now);
  art_tool_result_dispose(result);
  return rc;
}

static void call_on_pool(uv_work_t *w) {
  pool_job *j = w->data;
  art_tool_invoke(j->tool, &j->call, &j->result);
}

static void called_on_pool(uv_work_t *w, int status) {
  pool_job *j = w->data;
  slot *s = from_pool(j);
  if (status == UV_ECANCELED)
    art_tool_result_set(&j->result, ART_RESULT_ERROR, NULL, "interrupted");
  int rc = feed_result(s, j->call.id, &j->result);
  art_release(s->loop->alloc, j);
  go_on(s, rc);
}

static void tool_job_done(art_tool_job *job, art_tool_result *result) {
  slot *s = job->loop_ud;
  s->tool = NULL;
  proc_release_slot(s);
  fed_started(s, feed_result(s, s->call.id, result));
}

/* A tool that starts its call on the loop: 1 (in flight), or what feeding
 * its result (it came at once, or the call could not start) returned. */
static int start_on_loop(slot *s, const art_action *act) {
  s->tool = act->tool;
  s->call = *act->call;
  s->call.interrupt = NULL;
  s->tool_job = (art_tool_job){s->loop->uv, tool_job_done, NULL, s, proc_gate(s)};
  s->in_start = true;
  s->fed_at_start = false;
  art_tool_result result = {0};
  if (art_tool_start(act->tool, &s->call, &s->tool_job, &result) < 0) {
    s->in_start = false;
    s->tool = NULL;
    s->state = SLOT_IDLE;
    return feed_result(s, s->call.id, &result);
  }
  return started(s);
}

/* 1: the call is in flight; 0: its result was fed already; < 0: failure. */
static int start_call(slot *s, const art_action *act) {
  s->state = SLOT_CALLING;
  if (art_tool_can_start(act->tool)) return start_on_loop(s, act);
  if (art_tool_may_block(act->tool)) {
    pool_job *j = pool_job_new(s);
    if (!j) return ART_ENOMEM;
    j->tool = act->tool;
    j->call = *act->call;
    j->call.interrupt = &j->interrupt;
    return to_pool(j, call_on_pool, called_on_pool);
  }
  art_tool_result result = {0};
  art_tool_call call = *act->call;
  call.interrupt = NULL;
  art_tool_invoke(act->tool, &call, &result);
  s->state = SLOT_IDLE;
  return feed_result(s, call.id, &result);
}

/* ---- driving -------------------------------------------------------------------- */

/* Give up the action in flight: one on the pool is asked to stop and ends
 * through its after-work callback; a model job is cancelled here. */
static void interrupt_in_flight(slot *s) {
  if (s->state == SLOT_IDLE) return;
  if (s->pool) {
    atomic_store(&s->give_up, true);
    uv_cancel((uv_req_t *)&s->pool->work); /* only one that has not begun */
    return;
  }
  if (s->state == SLOT_CALLING) {
    art_tool_cancel(s->tool, &s->tool_job);
    s->tool = NULL;
  } else if (s->model->vt->cancel) {
    s->model->vt->cancel(s->model, &s->job);
  }
  delay_leave(s);
  proc_release_slot(s);
  s->state = SLOT_IDLE;
  go_on(s, gave_up(s, s->now_us = art_now_us()));
}

/* Perform `act`: true while it is in flight or the run is finished, false
 * when its outcome was fed at once (the run goes on). */
static bool perform(slot *s, const art_action *act) {
  int rc = arm_deadline(s, s->now_us);
  if (rc == 0) rc = act->kind == ART_ACT_CALL_TOOL ? start_call(s, act) : start_decision(s, act);
  if (rc > 0) return true;
  disarm_deadline(s);
  if (rc < 0) finish(s, rc);
  return rc < 0;
}

/* Actions until one is in flight or held, or the run waits or is done. */
static void drive(slot *s) {
  for (;;) {
    int64_t now = s->now_us;
    if (s->cancel_reason && art_run_stop_reason(s->run) == ART_STOP_NONE) {
      finish(s, art_run_cancel(s->run, s->cancel_reason, now));
      return;
    }
    const art_action *act;
    int rc = art_run_next(s->run, now, &act);
    if (rc < 0 || act->kind == ART_ACT_WAIT || act->kind == ART_ACT_DONE) {
      finish(s, rc);
      return;
    }
    if (s->let_go) {
      finish(s, ART_EINTR);
      return;
    }
    if (art_run_owes_sync(s->run)) {
      hold(s, act);
      return;
    }
    if (perform(s, act)) return;
  }
}

/* ---- held runs ------------------------------------------------------------------ */

static void sync_after_io(uv_check_t *h);
static void sync_before_wait(uv_prepare_t *h);

static void hold(slot *s, const art_action *act) {
  art_loop *l = s->loop;
  s->held_act = act;
  s->held_next = NULL;
  if (!l->held) {
    uv_check_start(&l->sync_after_io, sync_after_io);
    uv_prepare_start(&l->sync_before_wait, sync_before_wait);
  }
  *l->held_end = s;
  l->held_end = &s->held_next;
}

/* Synced: the held action is performed (a cancel asked meanwhile comes
 * first), or the run finishes as it was about to. */
static void go_on_held(slot *s) {
  const art_action *act = s->held_act;
  int rc = art_run_sync(s->run);
  s->now_us = art_now_us();
  if (rc < 0 || !act)
    finish(s, rc);
  else if (s->loop->freeing || s->let_go)
    finish(s, ART_EINTR);
  else if (s->cancel_reason || !perform(s, act))
    drive(s);
}

/* The runs held so far go on; those held meanwhile wait for the next turn. */
static void sync_held(art_loop *l) {
  slot *s = l->held;
  l->held = NULL;
  l->held_end = &l->held;
  while (s) {
    slot *next = s->held_next;
    go_on_held(s);
    s = next;
  }
  if (!l->held) {
    uv_check_stop(&l->sync_after_io);
    uv_prepare_stop(&l->sync_before_wait);
  }
}

static void sync_after_io(uv_check_t *h) { sync_held(h->data); }
static void sync_before_wait(uv_prepare_t *h) { sync_held(h->data); }
static void clock_before_wait(uv_prepare_t *h) { uv_update_time(h->loop); }

static void kicked(uv_idle_t *idle) {
  art_loop *l = idle->data;
  slot *s = l->starting;
  l->starting = NULL;
  l->starting_end = &l->starting;
  uv_idle_stop(idle);
  while (s) {
    slot *next = s->next;
    s->next = l->runs;
    if (l->runs) l->runs->prev = s;
    l->runs = s;
    s->now_us = art_now_us();
    if (l->freeing)
      finish(s, ART_EINTR);
    else
      drive(s);
    s = next;
  }
}

/* ---- the loop ------------------------------------------------------------------- */

int art_loop_new(art_loop **out, const art_loop_options *opts, art_error *err) {
  const art_allocator *a = opts && opts->alloc ? opts->alloc : art_default_allocator();
  art_loop *l = art_zalloc(a, sizeof *l);
  if (!l) return art_error_set(err, ART_ENOMEM, "out of memory");
  l->alloc = a;
  l->uv = opts && opts->uv ? opts->uv : &l->own;
  if (l->uv == &l->own && uv_loop_init(&l->own) < 0) {
    art_release(a, l);
    return art_error_set(err, ART_EIO, "cannot make an event loop");
  }
  uv_idle_init(l->uv, &l->kick);
  uv_idle_init(l->uv, &l->grant);
  uv_check_init(l->uv, &l->sync_after_io);
  uv_prepare_init(l->uv, &l->sync_before_wait);
  uv_prepare_init(l->uv, &l->clock_before_wait);
  uv_prepare_start(&l->clock_before_wait, clock_before_wait);
  uv_unref((uv_handle_t *)&l->clock_before_wait); /* it keeps no loop turning */
  l->kick.data = l->grant.data = l->sync_after_io.data = l->sync_before_wait.data = l;
  l->starting_end = &l->starting;
  l->held_end = &l->held;
  l->proc_waiting_end = &l->proc_waiting;
  l->max_procs = opts && opts->max_procs ? opts->max_procs : default_max_procs();
  *out = l;
  return 0;
}

int art_loop_add(art_loop *l, art_run *run, art_model *model, art_loop_stopped_fn stopped,
                 void *ud) {
  slot *s = art_zalloc(l->alloc, sizeof *s);
  if (!s) return ART_ENOMEM;
  s->loop = l;
  s->run = run;
  s->model = model;
  s->stopped = stopped;
  s->ud = ud;
  atomic_init(&s->give_up, false);
  *l->starting_end = s;
  l->starting_end = &s->next;
  l->n_runs++;
  uv_idle_start(&l->kick, kicked);
  return 0;
}

static slot *find_in(const art_run *run, slot *list) {
  for (slot *s = list; s; s = s->next)
    if (s->run == run) return s;
  return NULL;
}

/* The run's slot, driven or not started yet. */
static slot *find(const art_loop *l, const art_run *run) {
  slot *s = find_in(run, l->runs);
  return s ? s : find_in(run, l->starting);
}

int art_loop_cancel(art_loop *l, art_run *run, const char *reason) {
  slot *s = find(l, run);
  if (!s) return ART_ENOTFOUND;
  if (s->cancel_reason) return 0; /* asked already */
  if (!(s->cancel_reason = art_strdup(l->alloc, reason && reason[0] ? reason : "cancelled")))
    return ART_ENOMEM;
  interrupt_in_flight(s);
  return 0;
}

int art_loop_let_go(art_loop *l, art_run *run) {
  slot *s = find(l, run);
  if (!s) return ART_ENOTFOUND;
  s->let_go = true;
  return 0;
}

struct uv_loop_s *art_loop_uv(art_loop *l) { return l->uv; }

int art_loop_run(art_loop *l) { return uv_run(l->uv, UV_RUN_DEFAULT) < 0 ? ART_EIO : 0; }

void art_loop_stop(art_loop *l) { uv_stop(l->uv); }

size_t art_loop_runs(const art_loop *l) { return l->n_runs; }

static void nothing_on_close(uv_handle_t *h) { (void)h; }

void art_loop_free(art_loop *l) {
  if (!l) return;
  l->freeing = true;
  kicked(&l->kick); /* runs not started yet are let go at once */
  for (slot *s = l->runs, *next; s; s = next) {
    next = s->next;
    interrupt_in_flight(s);
  }
  while (l->held) sync_held(l); /* what they wrote is made durable; they are let go */
  while (l->delay_lists) delay_list_close(l->delay_lists);
  uv_close((uv_handle_t *)&l->kick, nothing_on_close);
  uv_close((uv_handle_t *)&l->grant, nothing_on_close);
  uv_close((uv_handle_t *)&l->sync_after_io, nothing_on_close);
  uv_close((uv_handle_t *)&l->sync_before_wait, nothing_on_close);
  uv_close((uv_handle_t *)&l->clock_before_wait, nothing_on_close);
  uv_run(l->uv, UV_RUN_DEFAULT); /* the pool's work ends; the handles close */
  if (l->uv == &l->own) uv_loop_close(&l->own);
  art_release(l->alloc, l);
}
