// Drives the console of `agentrt serve` in headless Chromium as a reviewer
// would: node console_driver.js URL TOKEN RUN_ID SCREENSHOT.png
//
// It gives the page the token, sees RUN_ID waiting for approval (its tool
// and input, markup in which must stay text), opens the run's timeline,
// approves, and waits for the run to finish on the page (the timeline follows
// the event stream); then it saves a screenshot.  It prints one JSON line, {"ok", "step", "errors", "page"},
// and exits 1 when a step failed or the page's JS console said an error.
//
// Chromium is spoken to over --remote-debugging-pipe (the DevTools protocol
// as NUL-ended JSON on descriptors 3 and 4), so the driver needs node's
// built-ins only: no websocket client, no port, no npm package.  Chromium
// leads a process group of its own, which is killed at the end whatever
// happened, so none of its helpers outlive the test.
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const [url, token, runId, shot] = process.argv.slice(2);
const STEP_MS = 20000; // a step that takes longer is a failure (not a timing assertion)

const profile = fs.mkdtempSync(path.join(os.tmpdir(), "agentrt-chromium-"));
const chromium = spawn(
  process.env.CHROMIUM || "chromium",
  [
    "--headless=new",
    "--remote-debugging-pipe",
    "--no-sandbox", // the tests run as root in CI, where the sandbox refuses to start
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--metrics-recording-only",
    "--password-store=basic",
    "--use-mock-keychain",
    `--user-data-dir=${profile}`,
    "--window-size=1280,900",
    "about:blank",
  ],
  { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"], detached: true },
);

// ---- the DevTools protocol over the pipe -------------------------------------

let nextId = 1;
const waiting = new Map();
const listeners = [];
let inbox = Buffer.alloc(0);

chromium.stdio[4].on("data", (chunk) => {
  inbox = Buffer.concat([inbox, chunk]);
  let end;
  while ((end = inbox.indexOf(0)) >= 0) {
    const msg = JSON.parse(inbox.subarray(0, end).toString("utf8"));
    inbox = inbox.subarray(end + 1);
    if (msg.id && waiting.has(msg.id)) {
      const { resolve, reject } = waiting.get(msg.id);
      waiting.delete(msg.id);
      if (msg.error) reject(new Error(`${msg.error.message} (${msg.error.code})`));
      else resolve(msg.result);
    } else if (msg.method) {
      for (const l of listeners) l(msg);
    }
  }
});
chromium.stdio[4].on("error", () => {});
chromium.stdio[3].on("error", () => {});

function send(method, params, sessionId) {
  const id = nextId++;
  const msg = { id, method, params: params || {} };
  if (sessionId) msg.sessionId = sessionId;
  chromium.stdio[3].write(JSON.stringify(msg) + "\0");
  return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
}

// ---- the page ------------------------------------------------------------------

const errors = [];
let session;
let step = "start";

function watchConsole(msg) {
  if (msg.sessionId !== session) return;
  if (msg.method === "Runtime.consoleAPICalled" && (msg.params.type === "error" || msg.params.type === "assert"))
    errors.push("console." + msg.params.type + ": " + msg.params.args.map((a) => a.value ?? a.description).join(" "));
  else if (msg.method === "Runtime.exceptionThrown")
    errors.push("exception: " + (msg.params.exceptionDetails.exception?.description || msg.params.exceptionDetails.text));
  else if (msg.method === "Log.entryAdded" && msg.params.entry.level === "error")
    errors.push("log: " + msg.params.entry.text + (msg.params.entry.url ? " " + msg.params.entry.url : ""));
}

async function evaluate(expression) {
  const r = await send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true }, session);
  if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.text}`);
  return r.result.value;
}

// Waits until `expression` is true on the page.
async function until(what, expression) {
  step = what;
  const deadline = Date.now() + STEP_MS;
  while (!(await evaluate(expression))) {
    if (Date.now() > deadline) throw new Error(`the page never showed: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const text = (selector) => `(document.querySelector(${JSON.stringify(selector)})?.textContent || "")`;
const has = (selector, part) => `${text(selector)}.includes(${JSON.stringify(part)})`;

async function drive() {
  step = "open a page";
  listeners.push(watchConsole);
  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  ({ sessionId: session } = await send("Target.attachToTarget", { targetId, flatten: true }));
  await send("Runtime.enable", {}, session);
  await send("Log.enable", {}, session);
  await send("Page.enable", {}, session);
  const loaded = new Promise((resolve) =>
    listeners.push((m) => m.sessionId === session && m.method === "Page.loadEventFired" && resolve()),
  );
  step = "load the console";
  await send("Page.navigate", { url }, session);
  await loaded;

  step = "give the token";
  await evaluate(`document.getElementById("token").value = ${JSON.stringify(token)};
                  document.querySelector("#login button").click(); true`);
  await until("the run waiting for approval", `${has("#approvals", runId)} && ${has("#approvals", "send_message")}`);
  await until("the input it would allow", has("#approvals", "a@example.com"));
  step = "the run's markup shown as text";
  if (!(await evaluate(`${has("#approvals", "<img src=x")} && document.querySelectorAll("img").length === 0
                        && document.title === "agentrt console"`)))
    throw new Error("markup from a run became part of the page");
  if (await evaluate(`sessionStorage.getItem("agentrt.token") !== ${JSON.stringify(token)}`))
    throw new Error("the token is not in sessionStorage");
  if (await evaluate(`location.href.includes(${JSON.stringify(token)})`)) throw new Error("the token is in the URL");

  step = "open the run";
  await evaluate(`document.querySelector('#runs tr[data-run=${JSON.stringify(runId)}]').click(); true`);
  await until("the run's timeline", `${has("#timeline", "approval_required")} && ${has("#run-pending", "send_message")}`);

  step = "approve";
  await evaluate(`document.querySelector("#approvals button.approve").click(); true`);
  await until("the run finished", `${text("#run-status")} === "finished"`);
  await until("its stop in the timeline", `${has("#timeline", "success")} && ${has("#timeline", "send_message")}`);
  await until("nothing waiting", `${text("#approvals-empty")} !== "" && !document.getElementById("approvals-empty").hidden`);

  step = "screenshot";
  const { data } = await send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true }, session);
  fs.writeFileSync(shot, Buffer.from(data, "base64"));
  return await evaluate(`document.body.innerText`);
}

// Chromium closes (reaping its helpers), or is killed with its process group
// if it does not within a few seconds; then its profile is removed.
async function shutdown() {
  const exited = new Promise((resolve) => {
    if (chromium.exitCode !== null || chromium.signalCode !== null) resolve();
    else chromium.once("exit", resolve);
  });
  send("Browser.close").catch(() => {});
  const late = setTimeout(() => process.kill(-chromium.pid, "SIGKILL"), 5000);
  await exited;
  clearTimeout(late);
  try {
    process.kill(-chromium.pid, "SIGKILL"); // a helper left behind
  } catch {}
  fs.rmSync(profile, { recursive: true, force: true });
}

(async () => {
  let page = "", failure = null;
  let watchdog;
  const hung = new Promise((_, reject) => {
    watchdog = setTimeout(() => reject(new Error("no progress for 90 s")), 90000);
  });
  try {
    page = await Promise.race([drive(), hung]);
  } catch (e) {
    failure = `${step}: ${e.message}`;
    const gaveUp = new Promise((resolve) => setTimeout(resolve, 2000, ""));
    page = await Promise.race([evaluate("document.body.innerText").catch(() => ""), gaveUp]);
  }
  clearTimeout(watchdog);
  await shutdown();
  const ok = !failure && errors.length === 0;
  console.log(JSON.stringify({ ok, step: failure, errors, page }));
  process.exit(ok ? 0 : 1);
})();
