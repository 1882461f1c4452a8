// SIP over WebSocket (RFC 7118) on Cardea's SIP endpoint: the subprotocol is required, and
// OPTIONS and REGISTER (digest challenge) are answered on the same socket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startCardea } from '../cardea.mjs';

let cardea;
before(async () => {
  cardea = await startCardea({
    extraYaml: 'sip:\n  ws_port: 0\n  realm: cardea.test\n  users:\n    - username: alice\n      password: alicepw\n',
  });
});
after(async () => { await cardea?.stop(); });

function open(protocols) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${cardea.ready.sip_ws}`, protocols);
    const timer = setTimeout(() => reject(new Error('no WebSocket answer in 5 s')), 5000);
    ws.once('open', () => { clearTimeout(timer); resolve(ws); });
    ws.once('error', (e) => { clearTimeout(timer); reject(e); });
    ws.once('unexpected-response', (_req, res) => { clearTimeout(timer); reject(new Error(`HTTP ${res.statusCode}`)); });
  });
}

function exchange(ws, text) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no SIP answer in 5 s')), 5000);
    ws.once('message', (data) => { clearTimeout(timer); resolve(data.toString()); });
    ws.send(text);
  });
}

function request(method, uri, extra = '') {
  const branch = `z9hG4bK${Math.random().toString(16).slice(2)}`;
  return `${method} ${uri} SIP/2.0\r\n` +
    `Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=${branch}\r\n` +
    'Max-Forwards: 70\r\n' +
    'From: <sip:alice@cardea.test>;tag=ws1\r\n' +
    'To: <sip:alice@cardea.test>\r\n' +
    `Call-ID: ws-${branch}\r\n` +
    `CSeq: 1 ${method}\r\n` + extra +
    'Content-Length: 0\r\n\r\n';
}

test('a WebSocket without the sip subprotocol is refused', async () => {
  await assert.rejects(open([]), /HTTP 400/);
});

test('OPTIONS over WebSocket is answered 200 with Allow on the same socket', async () => {
  const ws = await open(['sip']);
  assert.equal(ws.protocol, 'sip');
  const answer = await exchange(ws, request('OPTIONS', 'sip:cardea.test'));
  assert.match(answer, /^SIP\/2\.0 200 /);
  assert.match(answer, /\r\nAllow: [^\r]*REGISTER/);
  ws.close();
});

test('REGISTER over WebSocket without credentials is challenged with digest', async () => {
  const ws = await open(['sip']);
  const answer = await exchange(ws, request('REGISTER', 'sip:cardea.test',
    'Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>\r\nExpires: 600\r\n'));
  assert.match(answer, /^SIP\/2\.0 401 /);
  assert.match(answer, /\r\nWWW-Authenticate: Digest realm="cardea.test"/);
  ws.close();
});

test('garbage frames do not stop the endpoint', async () => {
  const ws = await open(['sip']);
  for (const junk of ['hello', '\u0000\u0001', 'REGISTER sip:x SIP/2.0\r\n\r\n', 'X'.repeat(70000)]) {
    ws.send(junk);
  }
  await new Promise((r) => setTimeout(r, 200));
  const ws2 = await open(['sip']);
  const answer = await exchange(ws2, request('OPTIONS', 'sip:cardea.test'));
  assert.match(answer, /^SIP\/2\.0 200 /);
  ws2.close();
  ws.terminate();
});
