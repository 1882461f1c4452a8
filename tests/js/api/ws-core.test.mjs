// Janus core API over a raw WebSocket (subprotocol janus-protocol): every core verb, every
// reachable core error code, claim, socket-close semantics, handshake and RFC 6455 ping.
// Expected values follow Janus 1.x (janus.c / janus_websockets.c) and janus-observed.md.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  ECHOTEST, JanusWs, launch, shutdown, closeAllSockets, tx, randomId, assertId, assertError, assertJanus,
  admin, listSessions, eventually, expectHandshakeRefused, sleep, ADMIN_PROTOCOL,
} from './helpers.mjs';

const ADMIN_SECRET = 'ws-core-admin';
let cardea;
let ws; // shared client
let sid; // shared session
let hid; // shared echotest handle

before(async () => {
  cardea = await launch({ general: { admin_secret: ADMIN_SECRET } });
  ws = await JanusWs.open(cardea.ws);
  sid = await ws.createSession();
  hid = await ws.attach(sid);
});

after(async () => {
  closeAllSockets();
  await shutdown(cardea);
});

const T = { timeout: 15000 };

// ----------------------------------------------------------------------------- root verbs

test('handshake negotiates the janus-protocol subprotocol', T, () => {
  assert.equal(ws.protocol, 'janus-protocol');
});

test('ping answers pong with the transaction', T, async () => {
  const t = tx();
  const r = await ws.request({ janus: 'ping', transaction: t });
  assertJanus(r, 'pong', { transaction: t });
});

test('info answers server_info with name, version, version_string and plugins', T, async () => {
  const t = tx();
  const r = await ws.request({ janus: 'info', transaction: t });
  assertJanus(r, 'server_info', { transaction: t });
  assert.equal(typeof r.name, 'string');
  assert.equal(typeof r.version, 'number');
  assert.equal(typeof r.version_string, 'string');
  assert.ok(r.plugins && Object.hasOwn(r.plugins, ECHOTEST), JSON.stringify(r.plugins));
});

test('verbs match case-insensitively (PING, KeepAlive)', T, async () => {
  assertJanus(await ws.request({ janus: 'PING' }), 'pong');
  assertJanus(await ws.request({ janus: 'KeepAlive', session_id: sid }), 'ack', { session_id: sid });
});

test('create answers success with data.id, a positive integer < 2^53', T, async () => {
  const t = tx();
  const r = await ws.request({ janus: 'create', transaction: t });
  assertJanus(r, 'success', { transaction: t });
  assertId(r.data?.id);
});

test('create with a client-chosen id returns that id; the same id again is 468', T, async () => {
  const want = randomId();
  const t = tx();
  const r = await ws.request({ janus: 'create', id: want, transaction: t });
  assertJanus(r, 'success', { transaction: t });
  assert.equal(r.data.id, want);
  const t2 = tx();
  assertError(await ws.request({ janus: 'create', id: want, transaction: t2 }), 468, { transaction: t2 });
});

test('session and handle ids are distinct JS-safe positive integers', T, async () => {
  const ids = new Set();
  for (let i = 0; i < 10; i++) {
    const s = await ws.createSession();
    const h1 = await ws.attach(s);
    const h2 = await ws.attach(s);
    for (const id of [s, h1, h2]) { assertId(id); ids.add(id); }
  }
  assert.equal(ids.size, 30, 'no id reused');
});

// ----------------------------------------------------------------------------- session verbs

test('keepalive answers ack with session_id and transaction', T, async () => {
  const t = tx();
  const r = await ws.request({ janus: 'keepalive', session_id: sid, transaction: t });
  assertJanus(r, 'ack', { transaction: t, session_id: sid });
});

test('attach answers success with session_id and data.id; opaque_id accepted', T, async () => {
  const t = tx();
  const r = await ws.request({ janus: 'attach', session_id: sid, plugin: ECHOTEST, opaque_id: 'ws-core-opaque', transaction: t });
  assertJanus(r, 'success', { transaction: t, session_id: sid });
  assertId(r.data?.id);
  const info = await admin(cardea, `/${sid}/${r.data.id}`, { janus: 'handle_info' }, { secret: ADMIN_SECRET });
  assertJanus(info, 'success');
  assert.equal(info.info?.opaque_id, 'ws-core-opaque');
});

test('attach to an unknown plugin is 460', T, async () => {
  const t = tx();
  assertError(await ws.request({ janus: 'attach', session_id: sid, plugin: 'janus.plugin.nosuch', transaction: t }), 460,
    { transaction: t, session_id: sid });
});

test('attach without plugin is 456', T, async () => {
  const t = tx();
  assertError(await ws.request({ janus: 'attach', session_id: sid, transaction: t }), 456, { transaction: t });
});

test('attach with a non-string plugin or opaque_id is 467', T, async () => {
  assertError(await ws.request({ janus: 'attach', session_id: sid, plugin: 42 }), 467);
  assertError(await ws.request({ janus: 'attach', session_id: sid, plugin: ECHOTEST, opaque_id: 7 }), 467);
});

test('destroy answers success with session_id; the session is then unknown (458)', T, async () => {
  const s = await ws.createSession();
  await ws.attach(s);
  const t = tx();
  const r = await ws.request({ janus: 'destroy', session_id: s, transaction: t });
  assertJanus(r, 'success', { transaction: t, session_id: s });
  const t2 = tx();
  assertError(await ws.request({ janus: 'keepalive', session_id: s, transaction: t2 }), 458, { transaction: t2 });
  assert.ok(!(await listSessions(cardea, ADMIN_SECRET)).includes(s));
});

// ----------------------------------------------------------------------------- handle verbs

test('message {audio:true} without jsep: ack (session_id, transaction) then event echotest/ok with sender', T, async () => {
  const { ack, event, transaction } = await ws.pluginMessage(sid, hid, { audio: true });
  assertJanus(ack, 'ack', { transaction, session_id: sid });
  assertJanus(event, 'event', { transaction, session_id: sid });
  assert.equal(event.sender, hid);
  assert.deepEqual(event.plugindata?.plugin, ECHOTEST);
  assert.equal(event.plugindata?.data?.echotest, 'event');
  assert.equal(event.plugindata?.data?.result, 'ok');
});

test('message without body is 456', T, async () => {
  const t = tx();
  assertError(await ws.request({ janus: 'message', session_id: sid, handle_id: hid, transaction: t }), 456,
    { transaction: t, session_id: sid });
});

test('message with a body that is not an object is 467', T, async () => {
  assertError(await ws.request({ janus: 'message', session_id: sid, handle_id: hid, body: 'audio' }), 467);
});

test('message with a jsep that is not an object is 455', T, async () => {
  const t = tx();
  assertError(await ws.request({ janus: 'message', session_id: sid, handle_id: hid, body: { audio: true }, jsep: 'v=0', transaction: t }),
    455, { transaction: t });
});

test('message with a jsep missing sdp is 456; unknown jsep type is 464', T, async () => {
  assertError(await ws.request({ janus: 'message', session_id: sid, handle_id: hid, body: {}, jsep: { type: 'offer' } }), 456);
  const h = await ws.attach(sid);
  assertError(await ws.request({ janus: 'message', session_id: sid, handle_id: h, body: {}, jsep: { type: 'pranswer', sdp: 'v=0\r\n' } }), 464);
});

test('trickle with a single candidate answers ack', T, async () => {
  const t = tx();
  const r = await ws.request({
    janus: 'trickle', session_id: sid, handle_id: hid, transaction: t,
    candidate: { sdpMid: '0', sdpMLineIndex: 0, candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host' },
  });
  assertJanus(r, 'ack', { transaction: t, session_id: sid });
});

test('trickle with an array of candidates answers ack', T, async () => {
  const t = tx();
  const r = await ws.request({
    janus: 'trickle', session_id: sid, handle_id: hid, transaction: t,
    candidates: [
      { sdpMid: '0', sdpMLineIndex: 0, candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host' },
      { sdpMid: '0', sdpMLineIndex: 0, candidate: 'candidate:2 1 udp 2122260222 127.0.0.1 50001 typ host' },
    ],
  });
  assertJanus(r, 'ack', { transaction: t, session_id: sid });
});

test('trickle {completed:true} answers ack', T, async () => {
  const t = tx();
  const r = await ws.request({ janus: 'trickle', session_id: sid, handle_id: hid, transaction: t, candidate: { completed: true } });
  assertJanus(r, 'ack', { transaction: t, session_id: sid });
});

test('trickle without candidate(s) is 456; both candidate and candidates is 454', T, async () => {
  assertError(await ws.request({ janus: 'trickle', session_id: sid, handle_id: hid }), 456);
  assertError(await ws.request({ janus: 'trickle', session_id: sid, handle_id: hid, candidate: { completed: true }, candidates: [] }), 454);
});

test('hangup answers success with session_id', T, async () => {
  const t = tx();
  const r = await ws.request({ janus: 'hangup', session_id: sid, handle_id: hid, transaction: t });
  assertJanus(r, 'success', { transaction: t, session_id: sid });
});

test('detach answers success and a detached event (session_id, sender) follows; the handle is then 459', T, async () => {
  const h = await ws.attach(sid);
  const from = ws.messages.length;
  const t = tx();
  const r = await ws.request({ janus: 'detach', session_id: sid, handle_id: h, transaction: t });
  assertJanus(r, 'success', { transaction: t, session_id: sid });
  const ev = await ws.waitFor((m) => m.janus === 'detached' && m.sender === h, { from, timeout: 3000, what: 'detached event' });
  assert.equal(ev.session_id, sid);
  const t2 = tx();
  assertError(await ws.request({ janus: 'message', session_id: sid, handle_id: h, body: {}, transaction: t2 }), 459,
    { transaction: t2, session_id: sid });
});

// ----------------------------------------------------------------------------- envelope errors

test('missing transaction is 456 (no transaction in the reply)', T, async () => {
  const r = await ws.request({ janus: 'ping', transaction: undefined });
  assertError(r, 456);
  assert.equal(r.transaction, undefined);
});

test('missing janus is 456 (Janus never sends 452)', T, async () => {
  assertError(await ws.request({ transaction: tx() }), 456);
  assertError(await ws.request({ session_id: sid, transaction: tx() }), 456);
});

test('envelope errors on a session path carry the session_id (456, 467)', T, async () => {
  assertError(await ws.request({ janus: 'keepalive', session_id: sid, transaction: undefined }), 456, { session_id: sid });
  assertError(await ws.request({ janus: 'keepalive', session_id: sid, transaction: 9 }), 467, { session_id: sid });
});

test('invalid JSON is 454', T, async () => {
  const r = await ws.rawRequest('{"janus":"ping","transaction":');
  assertError(r, 454);
});

test('a JSON array or scalar instead of an object is an error (Janus WS: 456 / 454, Janus HTTP: 455)', T, async () => {
  assertError(await ws.rawRequest('[{"janus":"ping","transaction":"x"}]'), [455, 456]);
  assertError(await ws.rawRequest('"ping"'), [454, 455, 456]);
});

test('transaction that is not a string is 467', T, async () => {
  assertError(await ws.request({ janus: 'ping', transaction: 42 }), 467);
  assertError(await ws.request({ janus: 'create', transaction: { a: 1 } }), 467);
});

test('janus that is not a string is 467', T, async () => {
  assertError(await ws.request({ janus: 7, transaction: tx() }), 467);
});

test('create with a non-integer or negative id is 467', T, async () => {
  assertError(await ws.request({ janus: 'create', id: 'abc' }), 467);
  assertError(await ws.request({ janus: 'create', id: -5 }), 467);
});

test('session_id that is not an integer is not a session: keepalive answers 457 (Janus ignores it) or 467', T, async () => {
  // Janus only reads an integer session_id; a string one is treated as absent, so a session verb
  // lands on the root path (457). 467 would be an acceptable stricter answer.
  assertError(await ws.request({ janus: 'keepalive', session_id: String(sid) }), [457, 467]);
});

test('handle_id that is not an integer: Janus answers 459 (467 accepted as stricter)', T, async () => {
  assertError(await ws.request({ janus: 'message', session_id: sid, handle_id: String(hid), body: {} }), [459, 467]);
});

// ----------------------------------------------------------------------------- path errors

test('keepalive without session_id (root path) is 457', T, async () => {
  const t = tx();
  assertError(await ws.request({ janus: 'keepalive', transaction: t }), 457, { transaction: t });
});

test('unknown verb at the root is 457', T, async () => {
  const t = tx();
  assertError(await ws.request({ janus: 'frobnicate', transaction: t }), 457, { transaction: t });
});

test('other session/handle verbs at the root are 457 (attach, destroy, message, trickle, detach, hangup, claim)', T, async () => {
  for (const janus of ['attach', 'destroy', 'message', 'trickle', 'detach', 'hangup', 'claim']) {
    assertError(await ws.request({ janus, plugin: ECHOTEST, body: {}, candidate: { completed: true } }), 457);
  }
});

test('unknown verb on a session path is 453', T, async () => {
  const t = tx();
  assertError(await ws.request({ janus: 'frobnicate', session_id: sid, transaction: t }), 453, { transaction: t, session_id: sid });
});

test('unknown verb on a handle path is 453', T, async () => {
  const t = tx();
  assertError(await ws.request({ janus: 'frobnicate', session_id: sid, handle_id: hid, transaction: t }), 453, { transaction: t });
});

test('handle verbs on a session path are 457 (message, trickle, detach, hangup)', T, async () => {
  for (const janus of ['message', 'trickle', 'detach', 'hangup']) {
    assertError(await ws.request({ janus, session_id: sid, body: {}, candidate: { completed: true } }), 457);
  }
});

test('session verbs on a handle path are 457 (attach, destroy)', T, async () => {
  assertError(await ws.request({ janus: 'attach', session_id: sid, handle_id: hid, plugin: ECHOTEST }), 457);
  assertError(await ws.request({ janus: 'destroy', session_id: sid, handle_id: hid }), 457);
});

test('unknown session is 458 (with session_id echoed)', T, async () => {
  const ghost = randomId();
  const t = tx();
  assertError(await ws.request({ janus: 'keepalive', session_id: ghost, transaction: t }), 458, { transaction: t, session_id: ghost });
  assertError(await ws.request({ janus: 'attach', session_id: ghost, plugin: ECHOTEST }), 458);
  assertError(await ws.request({ janus: 'message', session_id: ghost, handle_id: hid, body: {} }), 458);
});

test('unknown handle is 459', T, async () => {
  const t = tx();
  assertError(await ws.request({ janus: 'message', session_id: sid, handle_id: randomId(), body: {}, transaction: t }), 459,
    { transaction: t, session_id: sid });
  assertError(await ws.request({ janus: 'trickle', session_id: sid, handle_id: randomId(), candidate: { completed: true } }), 459);
  assertError(await ws.request({ janus: 'detach', session_id: sid, handle_id: randomId() }), 459);
});

test('a handle of another session is 459', T, async () => {
  const s2 = await ws.createSession();
  assertError(await ws.request({ janus: 'hangup', session_id: s2, handle_id: hid }), 459);
});

// ----------------------------------------------------------------------------- admin-driven

test('after Admin accept_new_sessions false, create is 472; true again restores create', T, async () => {
  const off = await admin(cardea, '', { janus: 'accept_new_sessions', accept: false }, { secret: ADMIN_SECRET });
  assertJanus(off, 'success');
  try {
    const t = tx();
    assertError(await ws.request({ janus: 'create', transaction: t }), 472, { transaction: t });
    // Existing sessions keep working.
    assertJanus(await ws.request({ janus: 'keepalive', session_id: sid }), 'ack');
  } finally {
    assertJanus(await admin(cardea, '', { janus: 'accept_new_sessions', accept: true }, { secret: ADMIN_SECRET }), 'success');
  }
  await ws.createSession();
});

// ----------------------------------------------------------------------------- claim

test('claim from a second socket answers success (session_id); later plugin events go to the claiming socket', T, async () => {
  const a = await JanusWs.open(cardea.ws);
  const b = await JanusWs.open(cardea.ws);
  const s = await a.createSession();
  const h = await a.attach(s);
  const t = tx();
  const r = await b.request({ janus: 'claim', session_id: s, transaction: t });
  assertJanus(r, 'success', { transaction: t, session_id: s });
  const aFrom = a.messages.length;
  const { ack, event } = await b.pluginMessage(s, h, { audio: true });
  assertJanus(ack, 'ack');
  assertJanus(event, 'event');
  assert.equal(event.plugindata?.data?.result, 'ok');
  await sleep(300);
  assert.ok(!a.messages.slice(aFrom).some((m) => m.janus === 'event'), 'old socket got no event after the claim');
  a.close(); b.close();
});

test('after a claim, an event answering a request sent on the old socket is delivered on the claiming socket', T, async () => {
  const a = await JanusWs.open(cardea.ws);
  const b = await JanusWs.open(cardea.ws);
  const s = await a.createSession();
  const h = await a.attach(s);
  assertJanus(await b.request({ janus: 'claim', session_id: s }), 'success');
  const t = tx();
  const bFrom = b.messages.length;
  const ack = await a.request({ janus: 'message', session_id: s, handle_id: h, body: { audio: false }, transaction: t });
  assertJanus(ack, 'ack', { transaction: t });
  const ev = await b.waitFor((m) => m.janus === 'event' && m.transaction === t, { from: bFrom, timeout: 3000, what: 'event on claiming socket' });
  assert.equal(ev.sender, h);
  a.close(); b.close();
});

test('claiming an unknown session is 458', T, async () => {
  assertError(await ws.request({ janus: 'claim', session_id: randomId() }), 458);
});

test('claiming a session from the socket that owns it answers success', T, async () => {
  const t = tx();
  assertJanus(await ws.request({ janus: 'claim', session_id: sid, transaction: t }), 'success', { transaction: t, session_id: sid });
});

// ----------------------------------------------------------------------------- socket lifecycle

test('closing the WebSocket destroys its sessions (reclaim_session_timeout 0): gone from Admin list_sessions', T, async () => {
  const c = await JanusWs.open(cardea.ws);
  const s1 = await c.createSession();
  const s2 = await c.createSession();
  await c.attach(s1);
  const before = await listSessions(cardea, ADMIN_SECRET);
  assert.ok(before.includes(s1) && before.includes(s2), JSON.stringify(before));
  c.close();
  const gone = await eventually(async () => {
    const l = await listSessions(cardea, ADMIN_SECRET);
    return !l.includes(s1) && !l.includes(s2);
  }, { timeout: 3000 });
  assert.ok(gone, `sessions ${s1}, ${s2} still listed 3 s after the close`);
  assertError(await ws.request({ janus: 'claim', session_id: s1 }), 458);
});

test('a handshake without subprotocol is refused', T, async () => {
  const r = await expectHandshakeRefused(cardea.ws, null);
  assert.ok(r.refused, `handshake accepted: ${JSON.stringify(r)}`);
});

test('a handshake with an unknown subprotocol is refused', T, async () => {
  const r = await expectHandshakeRefused(cardea.ws, 'chat');
  assert.ok(r.refused, `handshake accepted: ${JSON.stringify(r)}`);
});

test('the API socket does not speak janus-admin-protocol', T, async () => {
  const r = await expectHandshakeRefused(cardea.ws, ADMIN_PROTOCOL);
  assert.ok(r.refused, `handshake accepted: ${JSON.stringify(r)}`);
});

test('an RFC 6455 ping is answered with a pong carrying the same payload', T, async () => {
  const payload = Buffer.from(`ping-${Date.now()}`);
  const pong = new Promise((resolve) => ws.ws.once('pong', resolve));
  ws.ws.ping(payload);
  const got = await Promise.race([pong, sleep(3000).then(() => null)]);
  assert.ok(got, 'no pong within 3 s');
  assert.deepEqual(Buffer.from(got), payload);
});

test('the shared socket is still usable after all of the above', T, async () => {
  assertJanus(await ws.request({ janus: 'keepalive', session_id: sid }), 'ack');
  const { event } = await ws.pluginMessage(sid, hid, { video: false });
  assert.equal(event.plugindata?.data?.result, 'ok');
});
