// A small OpenAI-compatible server for the cases the mock model server cannot
// produce: Retry-After headers, replies slower than the client's timeout, a
// connection reset in the middle of a body, and a body that is not JSON.
// Usage: node http_peer.js SCENARIO; prints the port it listens on (loopback,
// chosen by the kernel) as its first line.
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

const scenario = scenarios[process.argv[2]];
if (!scenario) {
  process.stderr.write(`usage: node http_peer.js ${Object.keys(scenarios).join('|')}\n`);
  process.exit(2);
}
let requests = 0;
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => scenario(requests++, res));
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
