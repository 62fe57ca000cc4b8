// The operator console of `agentrt serve`: the runs, a run's timeline, and
// what waits for people, over the service's own /v1 API with the bearer
// token the person gives.  The token is kept in sessionStorage (this tab,
// until it closes), never in a URL, a cookie or the page.  Everything that
// comes from runs is put on the page as text (textContent), never as HTML.
"use strict";

const TOKEN_KEY = "agentrt.token";
const state = { runId: null, events: [], stream: null, cursor: null };

// ---- the page as elements --------------------------------------------------

// An element with text or child elements: el("td", {class: "x"}, "text", child).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

const $ = (id) => document.getElementById(id);

function json(v) {
  return el("pre", {}, JSON.stringify(v, null, 2));
}

function when(us) {
  return us ? new Date(us / 1000).toLocaleTimeString() : "";
}

function ms(us) {
  return us === undefined || us === null ? "" : (us / 1000).toFixed(us < 10000 ? 2 : 0) + " ms";
}

function notice(text, ok) {
  const n = $("notice");
  n.textContent = text;
  n.className = ok ? "ok" : "";
  n.hidden = !text;
}

// ---- the API -----------------------------------------------------------------

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

// The reply's JSON; a refusal throws the API's own message.
async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const j = await r.json().catch(() => null);
  if (!r.ok) {
    const e = j && j.error ? j.error : { code: String(r.status), message: r.statusText };
    throw new Error(`${e.message} (${r.status} ${e.code})`);
  }
  return j;
}

// ---- runs ----------------------------------------------------------------------

function runRow(r) {
  const tr = el(
    "tr",
    { class: "run" + (r.run_id === state.runId ? " chosen" : ""), "data-run": r.run_id },
    el("td", {}, el("code", {}, r.run_id)),
    el("td", {}, el("span", { class: "status " + r.status }, r.status)),
    el("td", {}, r.stop_reason || "", r.reason ? el("div", { class: "muted" }, r.reason) : null),
    el("td", {}, r.steps),
    el("td", {}, r.queue || ""),
    el("td", {}, r.holder || ""),
    el("td", {}, when(r.updated_us)),
  );
  tr.addEventListener("click", () => openRun(r.run_id));
  return tr;
}

async function loadRuns(more) {
  const q = "/v1/runs?limit=50" + (more && state.cursor ? "&cursor=" + encodeURIComponent(state.cursor) : "");
  const page = await api("GET", q);
  const body = $("runs").tBodies[0];
  if (!more) body.replaceChildren();
  for (const r of page.runs) body.append(runRow(r));
  state.cursor = page.next_cursor;
  $("more").hidden = !page.next_cursor;
}

// ---- what waits for people ---------------------------------------------------------

async function decide(runId, verb, actionId) {
  const body = { action_id: actionId };
  if (verb === "deny") {
    const reason = prompt("Why deny it?");
    if (!reason) return;
    body.reason = reason;
  }
  try {
    const r = await api("POST", `/v1/runs/${encodeURIComponent(runId)}/${verb}`, body);
    notice(`${r.decision}: ${runId} is ${r.status}`, true);
  } catch (e) {
    notice(`${verb} ${runId}: ${e.message}`);
  }
  await refresh();
}

function decisionButtons(runId, p) {
  if (p.kind !== "approval") return null;
  const ok = el("button", { class: "approve", type: "button" }, "Approve");
  const no = el("button", { class: "deny", type: "button" }, "Deny");
  ok.addEventListener("click", () => decide(runId, "approve", p.action_id));
  no.addEventListener("click", () => decide(runId, "deny", p.action_id));
  return el("span", {}, ok, no);
}

function approvalRow(a) {
  const what = a.kind === "approval" ? "approval of " + a.action_id : a.kind;
  const tr = el(
    "tr",
    {},
    el("td", {}, el("code", {}, a.run_id)),
    el("td", {}, what, a.question ? el("div", {}, a.question) : null),
    el("td", {}, a.tool || ""),
    el("td", {}, a.input === undefined || a.input === null ? "" : json(a.input)),
    el("td", {}, a.requested_by || "", el("div", { class: "muted" }, when(a.requested_at_us))),
    el("td", {}, decisionButtons(a.run_id, a)),
  );
  return tr;
}

async function loadApprovals() {
  const list = (await api("GET", "/v1/approvals?state=pending")).approvals;
  $("approvals").tBodies[0].replaceChildren(...list.map(approvalRow));
  $("approvals").hidden = list.length === 0;
  $("approvals-empty").hidden = list.length !== 0;
}

// ---- a run's timeline ---------------------------------------------------------------

// The events of one step, as a row: what the model decided, what the policy
// said (and the rule that matched), the call and its result.
function stepRow(step, evs) {
  const cells = { decision: [], policy: [], call: [], result: [] };
  let latency = 0, cost = null;
  for (const e of evs) {
    latency += e.latency_us || 0;
    if (e.usage || e.cost_usd !== undefined) cost = e.usage || { cost_usd: e.cost_usd };
    if (e.type === "decision") cells.decision.push(json(e.decision));
    else if (e.type === "policy_decision")
      cells.policy.push(
        el("div", {}, el("span", { class: e.effect }, e.effect), " ", e.action || "", e.tool ? " " + e.tool : ""),
        el("div", { class: "muted" }, e.rule ? "rule " + e.rule : "no rule: default", e.reason ? " — " + e.reason : ""),
      );
    else if (e.type === "tool_call")
      cells.call.push(el("div", {}, e.tool, " ", el("span", { class: "muted" }, e.side_effect || "")), json(e.input));
    else if (e.type === "tool_result")
      cells.result.push(el("div", { class: e.status }, e.status), json(e.data === undefined ? e.error : e.data));
    else if (e.type === "approval" || e.type === "human_input")
      cells.result.push(el("div", {}, e.type, ": ", e.decision || e.text || "", e.reviewer ? " by " + e.reviewer : ""));
  }
  return el(
    "tr",
    {},
    el("td", {}, step),
    el("td", {}, ...cells.decision),
    el("td", {}, ...cells.policy),
    el("td", {}, ...cells.call),
    el("td", {}, ...cells.result),
    el("td", {}, ms(latency)),
    el("td", {}, cost ? json(cost) : ""),
  );
}

function stopRow(e) {
  return el(
    "tr",
    { class: "stop" },
    el("td", {}, "stop"),
    el("td", { colspan: "6" }, e.stop_reason, e.reason ? " — " + e.reason : "", e.tool ? " (" + e.tool + ")" : ""),
  );
}

function renderTimeline() {
  const rows = [], omitted = new Map();
  let step = null, group = [];
  const flush = () => group.length && rows.push(stepRow(step, group));
  for (const e of state.events) {
    if (e.type === "context_built")
      for (const o of e.omitted_refs || []) omitted.set(o.ref + "\u0000" + o.reason, o);
    if (e.type === "run_started") continue;
    if (e.type === "stop") {
      flush(), (group = []);
      rows.push(stopRow(e));
      continue;
    }
    if (e.step !== step) flush(), (group = []), (step = e.step);
    group.push(e);
  }
  flush();
  $("timeline").tBodies[0].replaceChildren(...rows);
  $("omitted").replaceChildren(
    ...[...omitted.values()].map((o) => el("li", {}, el("code", {}, o.ref), " — ", o.reason)),
  );
  $("omitted-empty").hidden = omitted.size !== 0;
}

function renderRun(run) {
  $("run-id").textContent = run.run_id;
  $("run-status").textContent = run.status;
  $("run-status").className = "status " + run.status;
  $("run-stop").replaceChildren(
    run.stop_reason ? el("span", {}, "stopped: ", el("b", {}, run.stop_reason), run.reason ? " — " + run.reason : "") : "",
  );
  const p = run.pending;
  $("run-pending").replaceChildren(
    p && p.kind
      ? el(
          "div",
          { class: "pending" },
          el("h3", {}, "Waits for ", p.kind === "approval" ? "approval of " + p.action_id : p.kind),
          p.tool ? el("div", {}, "tool ", el("b", {}, p.tool)) : null,
          p.input !== undefined && p.input !== null ? json(p.input) : null,
          p.question ? el("div", {}, p.question) : null,
          decisionButtons(run.run_id, p),
        )
      : "",
  );
}

// Follows the run's event stream from the last event shown.  EventSource
// cannot send an Authorization header, so the stream is read with fetch and
// parsed here (text/event-stream: "id:", "event:", "data:" lines, a blank
// line ends an event).
async function follow(runId) {
  const ctl = new AbortController();
  state.stream = ctl;
  const last = state.events.length ? state.events[state.events.length - 1].seq : 0;
  $("live").textContent = "following";
  try {
    const r = await fetch(`/v1/runs/${encodeURIComponent(runId)}/events`, {
      headers: { Authorization: "Bearer " + token(), Accept: "text/event-stream", "Last-Event-ID": String(last) },
      signal: ctl.signal,
    });
    if (!r.ok) throw new Error(`event stream: ${r.status}`);
    const reader = r.body.getReader(), text = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += text.decode(value, { stream: true });
      let end;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        onStreamEvent(runId, buf.slice(0, end));
        buf = buf.slice(end + 2);
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") notice(e.message);
  }
  if (state.stream === ctl) {
    state.stream = null;
    $("live").textContent = "";
  }
}

function onStreamEvent(runId, block) {
  const data = block
    .split("\n")
    .filter((l) => l.startsWith("data:"))
    .map((l) => l.slice(5).trimStart())
    .join("\n");
  if (!data || runId !== state.runId) return; /* a keep-alive comment, or a run left */
  const e = JSON.parse(data);
  state.events.push(e);
  renderTimeline();
  if (e.type === "stop" || e.type === "approval" || e.type === "human_input") refresh();
}

async function openRun(runId) {
  if (state.stream) state.stream.abort();
  state.runId = runId;
  for (const tr of $("runs").tBodies[0].rows) tr.classList.toggle("chosen", tr.dataset.run === runId);
  const run = await api("GET", `/v1/runs/${encodeURIComponent(runId)}`);
  state.events = run.trace || [];
  $("run-pane").hidden = false;
  renderRun(run);
  renderTimeline();
  follow(runId);
}

// ---- the whole page ------------------------------------------------------------------

async function refresh() {
  try {
    await Promise.all([loadRuns(false), loadApprovals()]);
    if (state.runId) renderRun(await api("GET", `/v1/runs/${encodeURIComponent(state.runId)}`));
  } catch (e) {
    notice(e.message);
  }
}

function showSession() {
  const has = Boolean(token());
  $("login").hidden = has;
  $("session").hidden = !has;
  $("app").hidden = !has;
  if (has) refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token").value.trim();
    $("token").value = "";
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    notice("");
    showSession();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    if (state.stream) state.stream.abort();
    state.runId = null;
    $("run-pane").hidden = true;
    showSession();
  });
  $("refresh").addEventListener("click", refresh);
  $("more").addEventListener("click", () => loadRuns(true).catch((e) => notice(e.message)));
  showSession();
});
