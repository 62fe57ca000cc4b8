// A small OpenAI-compatible server for the cases the mock model server cannot
// produce: Retry-After headers, replies slower than the client's timeout, a
// connection reset in the middle of a body, and a body that is not JSON.
// Usage: node http_peer.js SCENARIO [KEY=VALUE...]; prints the port it listens
// on (loopback, chosen by the kernel) as its first line.
//
// The `agent` scenario plays a model for many runs at once (the event loop's
// tests): it reads the run id and the step from the request's context packet
// and answers step <= calls with a call of `tool` ({"task":"refund"}), then
// "done", each after `delay` ms.  A marker in the run's goal changes that,
// counted per run and step (repair rounds included): [flaky] gets 429 with
// Retry-After: 1, then 500, then the answer; [reset] gets its first body cut
// off; [repair] gets a call of an unknown function at step 1 first; [hang] is
// never answered.  GET /stats says how many connections carried requests and
// how many requests came; POST /reset forgets all that.
'use strict';
const http = require('http');

const answer = JSON.stringify({
  choices: [{message: {role: 'assistant', content: 'done'}, finish_reason: 'stop'}],
  usage: {prompt_tokens: 7, completion_tokens: 3},
});

function reply(res, status, body, headers) {
  res.writeHead(status, Object.assign({'Content-Type': 'application/json'}, headers || {}));
  res.end(body);
}

// Each scenario answers the n-th request (from 0).
const scenarios = {
  // 429 asking for one second, then an answer.
  retry_after_seconds: (n, res) => n === 0
    ? reply(res, 429, '{"error":{"message":"slow down"}}', {'Retry-After': '1'})
    : reply(res, 200, answer),
  // 503 with a date in the past (retry at once), then an answer.
  retry_after_date: (n, res) => n === 0
    ? reply(res, 503, '{"error":{"message":"busy"}}', {'Retry-After': 'Wed, 21 Oct 2015 07:28:00 GMT'})
    : reply(res, 200, answer),
  // Never in time for a client that waits less than two seconds.
  slow: (n, res) => setTimeout(() => reply(res, 200, answer), 2000),
  // The first body is cut off mid-way, then an answer.
  reset_once: (n, res) => {
    if (n > 0) return reply(res, 200, answer);
    res.writeHead(200, {'Content-Type': 'application/json', 'Content-Length': String(answer.length)});
    res.write(answer.slice(0, 20));
    setTimeout(() => res.socket.destroy(), 20);
  },
  // A proxy's error page with status 200.
  not_json: (n, res) => {
    res.writeHead(200, {'Content-Type': 'text/html'});
    res.end('<html><body>Bad gateway</body></html>');
  },
};

const options = {delay: 0, tool: 'lookup', calls: 2};
for (const arg of process.argv.slice(3)) {
  const [key, value] = arg.split('=');
  options[key] = key === 'tool' ? value : Number(value);
}

function toolCall(name) {
  return JSON.stringify({
    choices: [{message: {role: 'assistant', content: null, tool_calls: [{id: 'c1', type: 'function',
      function: {name, arguments: JSON.stringify({task: 'refund'})}}]}}],
    usage: {prompt_tokens: 100, completion_tokens: 20},
  });
}

const attempts = new Map(); // "run step" -> requests so far

function agent(n, res, body) {
  const request = JSON.parse(body);
  const system = request.messages[0].content;
  const packet = JSON.parse(system.slice(system.indexOf('Context packet: ') + 16));
  const goal = system.slice(system.indexOf('Goal: ') + 6, system.indexOf('\n\nContext packet'));
  const key = `${packet.run_id} ${packet.step}`;
  const k = attempts.get(key) || 0;
  attempts.set(key, k + 1);
  if (goal.includes('[hang]')) return;
  if (goal.includes('[flaky]') && k === 0)
    return reply(res, 429, '{"error":{"message":"slow down"}}', {'Retry-After': '1'});
  if (goal.includes('[flaky]') && k === 1) return reply(res, 500, '{"error":{"message":"oops"}}');
  if (goal.includes('[reset]') && k === 0) return scenarios.reset_once(0, res);
  if (goal.includes('[repair]') && packet.step === 1 && k === 0) return reply(res, 200, toolCall('nope'));
  reply(res, 200, packet.step <= options.calls ? toolCall(options.tool) : answer);
}
scenarios.agent = (n, res, body) => setTimeout(() => agent(n, res, body), options.delay);

const scenario = scenarios[process.argv[2]];
if (!scenario) {
  process.stderr.write(`usage: node http_peer.js ${Object.keys(scenarios).join('|')}\n`);
  process.exit(2);
}
let requests = 0;
let sockets = new Set(); // those that carried a request
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/stats')
      return reply(res, 200, JSON.stringify({connections: sockets.size, requests}));
    if (req.method === 'POST' && req.url === '/reset') {
      requests = 0;
      sockets = new Set();
      attempts.clear();
      return reply(res, 200, '{}');
    }
    sockets.add(req.socket);
    scenario(requests++, res, Buffer.concat(chunks).toString());
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
