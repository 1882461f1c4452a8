// Robustness: a burst of ~500 malformed requests over HTTP and WebSocket. Each must get a clear
// answer — an HTTP error status, a Janus error with a numeric code, or (WebSocket only, for
// frames RFC 6455 lets a server refuse) a close with a protocol-level code — the process must
// stay alive, and a normal create/attach/message must still work afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  ECHOTEST, JanusWs, launch, shutdown, closeAllSockets, alive, randomId, assertJanus, http, httpCreate,
  httpAttach, httpRequest, sleep,
} from './helpers.mjs';

const JANUS_ERROR_CODES = new Set([403, 405, 450, 452, 453, 454, 455, 456, 457, 458, 459, 460, 461, 462, 463, 464,
  465, 466, 467, 468, 469, 470, 471, 472, 490]);
// Close codes a server may use to refuse a frame: protocol error, unsupported data, invalid
// payload (bad UTF-8), policy, message too big.
const WS_REFUSAL_CLOSE_CODES = new Set([1002, 1003, 1007, 1008, 1009]);

let cardea;
let sid; // a live session (HTTP) used to aim junk at real paths
let hid;

// Deterministic PRNG so a failure can be replayed.
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = mulberry32(0xCA4DEA);
const pick = (arr) => arr[Math.floor(rnd() * arr.length)];
const randBytes = (n) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));

const VERBS = ['create', 'keepalive', 'attach', 'message', 'trickle', 'detach', 'hangup', 'destroy', 'claim', 'frobnicate'];
const WRONG = [42, -1, 1.5, true, null, [], {}, [1, 2], { a: 1 }, '', 'x'.repeat(300), 2 ** 64, -(2 ** 60)];

/** One malformed payload (string or Buffer) and a label; every one of them must be refused. */
function junk(i, ctx) {
  const kind = i % 16;
  switch (kind) {
    case 0: return ['invalid JSON', pick(['{', '{"janus":', 'nul', '[1,2', "{'janus':'create','transaction':'x'}",
      '{"janus":"ping","transaction":"x"', '{"janus" "ping"}', '{"janus":"ping",}', '\u0000', ' ', '}{', 'undefined'])];
    case 1: return ['wrong transaction type', JSON.stringify({ janus: pick(VERBS), transaction: pick(WRONG.filter((w) => typeof w !== 'string')) })];
    case 2: return ['wrong janus type', JSON.stringify({ janus: pick(WRONG.filter((w) => typeof w !== 'string')), transaction: `r${i}` })];
    case 3: return ['missing transaction', JSON.stringify({ janus: pick(VERBS), session_id: ctx.sid })];
    case 4: return ['missing janus', JSON.stringify({ transaction: `r${i}`, session_id: ctx.sid, handle_id: ctx.hid })];
    case 5: return ['unknown session', JSON.stringify({ janus: pick(['keepalive', 'attach', 'destroy', 'claim']), plugin: ECHOTEST, session_id: randomId(), transaction: `r${i}` })];
    case 6: return ['unknown handle', JSON.stringify({ janus: pick(['message', 'trickle', 'detach', 'hangup']), session_id: ctx.sid, handle_id: randomId(), body: {}, candidate: { completed: true }, transaction: `r${i}` })];
    case 7: return ['random bytes', randBytes(1 + Math.floor(rnd() * 200))];
    case 8: return ['non-object JSON', pick(['[]', '[{"janus":"create","transaction":"x"}]', '"create"', '42', 'true', 'null', '1e999'])];
    case 9: return ['deeply nested JSON', pick([
      '['.repeat(100000) + ']'.repeat(100000),
      '{"janus":"ping","transaction":"x","deep":' + '{"a":'.repeat(50000) + '1' + '}'.repeat(50000) + '}',
      '{"janus":"create","transaction":' + '['.repeat(20000) + ']'.repeat(20000) + '}',
      '['.repeat(200000),
    ])];
    case 10: return ['NUL in strings', pick([
      '{"janus":"create\\u0000","transaction":"x"}',
      '{"janus":"create","transaction":"x","id":"\\u0000"}',
      '{"janus":"cre\u0000ate","transaction":"x"}',
      `{"janus":"keepalive\\u0000","transaction":"x","session_id":${ctx.sid}}`,
    ])];
    case 11: return ['invalid UTF-8', Buffer.concat([Buffer.from('{"janus":"'), pick([
      Buffer.from([0xff, 0xfe]), Buffer.from([0xc3, 0x28]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf8, 0x88, 0x80, 0x80, 0x80]),
      Buffer.from([0xe2, 0x82]),
    ]), Buffer.from('create","transaction":"x"}')])];
    case 12: return ['wrong id types', JSON.stringify({ janus: pick(['create', 'attach', 'message']), transaction: `r${i}`, id: pick(['abc', -3, 1.25, {}]), plugin: pick([7, null, ['a']]), body: pick(['s', 3, []]) , session_id: ctx.sid, handle_id: pick([undefined, ctx.hid]) })];
    case 13: return ['huge numbers', `{"janus":"keepalive","transaction":"r${i}","session_id":${pick(['1e400', '-0', '18446744073709551616', '9007199254740993', '0'])}}`];
    case 14: return ['bad jsep', JSON.stringify({ janus: 'message', transaction: `r${i}`, session_id: ctx.sid, handle_id: ctx.hid, body: {}, jsep: pick(['offer', 5, [], { type: 'offer' }, { sdp: 'v=0' }, { type: 7, sdp: 'x' }, { type: 'nonsense', sdp: 'v=0' }]) })];
    default: return ['unknown verbs', JSON.stringify({ janus: `x${Math.floor(rnd() * 1e9)}`, transaction: `r${i}`, session_id: pick([undefined, ctx.sid]) })];
  }
}

// A direct answer (not an asynchronous event such as "detached" sent while a socket is torn down).
const isReply = (m) => ['error', 'success', 'ack', 'pong', 'server_info'].includes(m.janus) || '__unparsable' in m;

function clearHttp(r) {
  if (r.status >= 400 && r.status < 600) return true;
  return !!(r.json && r.json.janus === 'error' && JANUS_ERROR_CODES.has(r.json.error?.code));
}

before(async () => {
  cardea = await launch({ general: { admin_secret: 'robust-admin' } });
  sid = await httpCreate(cardea.http);
  hid = await httpAttach(cardea.http, sid);
});

after(async () => {
  closeAllSockets();
  await shutdown(cardea);
});

test('HTTP: ~250 malformed POSTs (plus a 2 MiB body and junk paths) each get an HTTP error or a Janus error code', { timeout: 120000 }, async () => {
  const failures = [];
  const paths = () => pick(['', '', '', `/${sid}`, `/${sid}/${hid}`, `/${randomId()}`, `/${sid}/${randomId()}`]);
  for (let i = 0; i < 240; i++) {
    const [label, payload] = junk(i, { sid, hid });
    // A zero session_id in the body means "take it from the path": aim those at the root only.
    const url = `${cardea.http}${label === 'huge numbers' ? '' : paths()}`;
    let r;
    try {
      r = await http(url, { body: payload, headers: { 'content-type': 'application/json' }, timeout: 5000 });
    } catch (e) {
      failures.push(`#${i} ${label} → no answer (${e.message})`);
      continue;
    }
    if (!clearHttp(r)) failures.push(`#${i} ${label} to ${url} → HTTP ${r.status} ${r.text.slice(0, 200)}`);
  }
  // Junk paths (non-numeric ids, too many components) with a request that no reading of the
  // path makes valid (a handle verb without a usable handle). A dropped connection is not a
  // clear answer (Janus 1.1.2 drops the one with too many components; a 404 is expected).
  for (const p of ['/abc', `/${sid}/abc`, `/${sid}/${hid}/extra`, '/-1', '/99999999999999999999999']) {
    const r = await http(`${cardea.http}${p}`, { body: JSON.stringify({ janus: 'message', body: {}, transaction: 'p' }), timeout: 5000 })
      .catch((e) => ({ status: 0, text: e.message }));
    if (!clearHttp(r)) failures.push(`path ${p} → HTTP ${r.status} ${r.text.slice(0, 200)}`);
  }
  // A 2 MiB body that never becomes valid JSON.
  const big = '{"janus":"create","transaction":"' + 'a'.repeat(2 * 1024 * 1024);
  const rb = await http(cardea.http, { body: big, timeout: 15000 }).catch((e) => ({ status: 0, text: e.message }));
  if (!clearHttp(rb)) failures.push(`2 MiB unterminated body → HTTP ${rb.status} ${String(rb.text).slice(0, 200)}`);
  // A 2 MiB body that is valid JSON (a ping with padding): any clear answer (pong, or an error/413) is fine.
  const bigOk = JSON.stringify({ janus: 'ping', transaction: 'big', pad: 'b'.repeat(2 * 1024 * 1024) });
  const rb2 = await http(cardea.http, { body: bigOk, timeout: 15000 }).catch((e) => ({ status: 0, text: e.message }));
  if (!(clearHttp(rb2) || rb2.json?.janus === 'pong')) failures.push(`2 MiB padded ping → HTTP ${rb2.status} ${String(rb2.text).slice(0, 200)}`);
  assert.ok(alive(cardea), 'cardea died during the HTTP burst');
  assert.deepEqual(failures, []);
});

test('WebSocket: ~250 malformed frames each get a Janus error code (or a refusal close for bad frames)', { timeout: 120000 }, async () => {
  const failures = [];
  let ws = await JanusWs.open(cardea.ws);
  // The session the junk aims at must belong to this socket's world: make one here.
  const wsid = await ws.createSession();
  const whid = await ws.attach(wsid);
  let reconnects = 0;
  for (let i = 0; i < 240; i++) {
    const [label, payload] = junk(i, { sid: wsid, hid: whid });
    const from = ws.messages.length;
    ws.send(payload);
    const reply = await ws.waitFor(isReply, { from, timeout: 4000, allowClose: true, what: label }).catch(() => undefined);
    if (reply === undefined) {
      failures.push(`#${i} ${label} → no answer in 4 s (${String(payload).slice(0, 80)})`);
    } else if (reply === null) {
      // Socket closed: acceptable only with a refusal code, and only for frames a server may refuse.
      const code = ws.closed?.code;
      const refusable = ['random bytes', 'invalid UTF-8', 'deeply nested JSON'].includes(label);
      if (!(refusable && WS_REFUSAL_CLOSE_CODES.has(code))) failures.push(`#${i} ${label} → socket closed with ${code}`);
      ws = await JanusWs.open(cardea.ws);
      reconnects++;
    } else if (!(reply.janus === 'error' && JANUS_ERROR_CODES.has(reply.error?.code))) {
      failures.push(`#${i} ${label} → ${JSON.stringify(reply).slice(0, 200)}`);
    }
  }
  // Binary frames with random bytes.
  for (let i = 0; i < 5; i++) {
    const from = ws.messages.length;
    ws.send(randBytes(64), { binary: true });
    const reply = await ws.waitFor(isReply, { from, timeout: 4000, allowClose: true }).catch(() => undefined);
    if (reply === undefined) failures.push(`binary frame #${i} → no answer`);
    else if (reply === null) {
      if (!WS_REFUSAL_CLOSE_CODES.has(ws.closed?.code)) failures.push(`binary frame #${i} → closed with ${ws.closed?.code}`);
      ws = await JanusWs.open(cardea.ws);
      reconnects++;
    } else if (!(reply.janus === 'error' && JANUS_ERROR_CODES.has(reply.error?.code))) failures.push(`binary frame #${i} → ${JSON.stringify(reply)}`);
  }
  // A 2 MiB text frame that is not valid JSON: an error, or a close with 1009 (too big).
  {
    const from = ws.messages.length;
    ws.send('{"janus":"create","transaction":"' + 'a'.repeat(2 * 1024 * 1024));
    const reply = await ws.waitFor(isReply, { from, timeout: 10000, allowClose: true }).catch(() => undefined);
    if (reply === undefined) failures.push('2 MiB frame → no answer');
    else if (reply === null) {
      if (!WS_REFUSAL_CLOSE_CODES.has(ws.closed?.code)) failures.push(`2 MiB frame → closed with ${ws.closed?.code}`);
      ws = await JanusWs.open(cardea.ws);
    } else if (!(reply.janus === 'error' && JANUS_ERROR_CODES.has(reply.error?.code))) failures.push(`2 MiB frame → ${JSON.stringify(reply).slice(0, 200)}`);
  }
  assert.ok(alive(cardea), 'cardea died during the WebSocket burst');
  assert.deepEqual(failures, [], `reconnects: ${reconnects}`);
  ws.close();
});

test('WebSocket: a burst of 200 malformed frames without waiting gets 200 error replies', { timeout: 60000 }, async () => {
  const ws = await JanusWs.open(cardea.ws);
  const from = ws.messages.length;
  for (let i = 0; i < 200; i++) ws.send(i % 2 ? '{"janus":' : JSON.stringify({ janus: 'keepalive', transaction: `b${i}`, session_id: randomId() }));
  const ok = await (async () => {
    const end = Date.now() + 10000;
    while (Date.now() < end && ws.messages.length - from < 200 && !ws.closed) await sleep(50);
    return ws.messages.length - from;
  })();
  assert.equal(ok, 200, `got ${ok} replies`);
  assert.ok(ws.messages.slice(from).every((m) => m.janus === 'error' && [454, 458].includes(m.error?.code)));
  ws.close();
});

test('afterwards the process is alive and a normal create/attach/message works over HTTP and WebSocket', { timeout: 20000 }, async () => {
  assert.ok(alive(cardea), 'cardea process is gone');
  // HTTP
  const s = await httpCreate(cardea.http);
  const h = await httpAttach(cardea.http, s);
  const r = await httpRequest(`${cardea.http}/${s}/${h}`, { janus: 'message', body: { audio: true } });
  assertJanus(r.json, 'ack');
  const p = await http(`${cardea.http}/${s}`, { method: 'GET', timeout: 5000 });
  assertJanus(p.json, 'event', { transaction: r.transaction });
  assert.equal(p.json.plugindata?.data?.result, 'ok');
  // The session created before the burst is still fine.
  assertJanus((await httpRequest(`${cardea.http}/${sid}`, { janus: 'keepalive' })).json, 'ack');
  // WebSocket
  const ws = await JanusWs.open(cardea.ws);
  const ws_s = await ws.createSession();
  const ws_h = await ws.attach(ws_s);
  const { event } = await ws.pluginMessage(ws_s, ws_h, { audio: true });
  assert.equal(event?.plugindata?.data?.result, 'ok');
  ws.close();
  // Admin still answers.
  const st = await http(cardea.adminHttp, { body: { janus: 'get_status', transaction: 'x', admin_secret: 'robust-admin' } });
  assertJanus(st.json, 'success');
  await sleep(100);
  assert.ok(alive(cardea));
});
