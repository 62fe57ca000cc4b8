#!/usr/bin/env node
// A misbehaving (or merely minimal) MCP server for the crash tests, speaking
// newline-delimited JSON-RPC on stdio.  argv[3], when given, is a file every
// message received is appended to (a JSON line each), so a test can see what
// the client sent.  argv[2] picks how it behaves:
//   ok            a well-behaved server whose tools/list comes in three pages
//   garbage       answers initialize with a line that is not JSON
//   hang          never answers anything
//   exit-init     writes to stderr and exits 3 when asked to initialize
//   old-version   insists on protocol version 2023-01-01
// Tools of "ok": t1..t5 (t5 without annotations), die (exits 7 mid-call),
// killself (SIGKILL mid-call), garble (garbage mid-call), ask (sends the
// client a roots/list request and reports the answer it got), oops (an
// isError result), slow {ms} (answers after ms; cancelled, it answers at
// once anyway: a late answer the client must drop), wait-for {path, method}
// (answers once the log at path holds a message with that method).
'use strict';
const fs = require('fs');
const mode = process.argv[2] || 'ok';
const logPath = process.argv[3];
const send = (msg) => process.stdout.write(JSON.stringify(msg) + '\n');
const tool = (name, annotations) =>
  Object.assign({name, description: 'fake ' + name,
                 inputSchema: {type: 'object', properties: {}}}, annotations ? {annotations} : {});
const ro = {readOnlyHint: true};
const pages = [
  [tool('t1', {readOnlyHint: true}), tool('t2', {readOnlyHint: false, destructiveHint: false})],
  [tool('t3', {readOnlyHint: true}), tool('t4', {destructiveHint: true}), tool('t5')],
  [tool('die', ro), tool('killself', ro), tool('garble', ro), tool('ask', ro), tool('ping', ro),
   tool('oops', ro), tool('slow', ro), tool('wait-for', ro)],
];
const asking = new Map(); // id of the server's roots/list -> the ask call waiting for it
const sleeping = new Map(); // id of a slow call -> its timer
const answer = (id, text, isError) =>
  send({jsonrpc: '2.0', id, result: Object.assign({content: [{type: 'text', text}]},
                                                  isError ? {isError} : {})});

function slow(id, args) {
  sleeping.set(id, setTimeout(() => {
    sleeping.delete(id);
    answer(id, 'slept ' + args.ms + ' ms');
  }, args.ms));
}

function waitFor(id, args) {
  let lines = [];
  try { lines = fs.readFileSync(args.path, 'utf8').split('\n'); } catch (e) { /* not yet */ }
  if (lines.some((line) => line && JSON.parse(line).method === args.method))
    return answer(id, 'saw ' + args.method);
  setTimeout(() => waitFor(id, args), 10);
}

function cancelled(msg) {
  const id = msg.params.requestId;
  if (!sleeping.has(id)) return;
  clearTimeout(sleeping.get(id));
  sleeping.delete(id);
  answer(id, 'a late answer');
}

function initialize(msg) {
  if (mode === 'garbage') return process.stdout.write('this is not json\n');
  if (mode === 'hang') return;
  if (mode === 'exit-init') {
    process.stderr.write('fake: refusing to initialize\n');
    process.exit(3);
  }
  const version = mode === 'old-version' ? '2023-01-01' : msg.params.protocolVersion;
  send({jsonrpc: '2.0', id: msg.id, result: {protocolVersion: version,
        capabilities: {tools: {}}, serverInfo: {name: 'fake', version: '1'}}});
}

function call(msg) {
  const name = msg.params.name;
  // Noise the client must ignore before the answer: a log message, progress.
  send({jsonrpc: '2.0', method: 'notifications/message', params: {level: 'info', data: 'calling ' + name}});
  if (name === 'die') {
    process.stderr.write('fake: dying on purpose\n');
    process.exit(7);
  }
  if (name === 'killself') process.kill(process.pid, 'SIGKILL');
  if (name === 'garble') return process.stdout.write('{"jsonrpc": "2.0", "id": \n');
  if (name === 'ask' || name === 'ping') {
    asking.set('srv-' + msg.id, msg.id);
    const method = name === 'ask' ? 'roots/list' : 'ping';
    return send({jsonrpc: '2.0', id: 'srv-' + msg.id, method, params: {}});
  }
  if (name === 'oops') return answer(msg.id, 'it went wrong', true);
  if (name === 'slow') return slow(msg.id, msg.params.arguments);
  if (name === 'wait-for') return waitFor(msg.id, msg.params.arguments);
  answer(msg.id, 'called ' + name);
}

function answerAsk(msg) {
  const text = msg.error ? 'client answered error ' + msg.error.code
                         : 'client answered a result: ' + JSON.stringify(msg.result);
  const id = asking.get(msg.id);
  asking.delete(msg.id);
  answer(id, text);
}

function handle(msg) {
  if (logPath) fs.appendFileSync(logPath, JSON.stringify(msg) + '\n');
  if (msg.method === 'initialize') return initialize(msg);
  if (mode === 'hang') return;
  if (msg.method === 'tools/list') {
    const page = msg.params && msg.params.cursor ? Number(msg.params.cursor) : 0;
    const result = {tools: pages[page]};
    if (page + 1 < pages.length) result.nextCursor = String(page + 1);
    return send({jsonrpc: '2.0', id: msg.id, result});
  }
  if (msg.method === 'tools/call') return call(msg);
  if (msg.method === 'notifications/cancelled') return cancelled(msg);
  if (asking.has(msg.id)) return answerAsk(msg);
}

let buffered = '';
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  let nl;
  while ((nl = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    if (line.trim()) handle(JSON.parse(line));
  }
});
process.stdin.on('end', () => process.exit(0));
