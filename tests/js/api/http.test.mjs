// Janus API over HTTP (REST + long poll): path-addressed verbs, long-poll shapes (single object,
// maxev array, idle keepalive), info/ping endpoints, HTTP-specific errors, CORS, and long polls
// counting as session activity.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  ECHOTEST, launch, shutdown, tx, randomId, assertId, assertError, assertJanus, http, httpRequest,
  httpCreate, httpAttach, sleep,
} from './helpers.mjs';

const T = { timeout: 15000 };
const ORIGIN = 'http://app.example.test';

/** Long poll GET; returns {status, json, text, headers}. */
function poll(base, sid, { query = '', timeout = 5000, headers } = {}) {
  return http(`${base}/${sid}${query}`, { method: 'GET', timeout, headers });
}

/** Long-polls until an event matching pred shows up (each poll bounded), returns it. */
async function pollFor(base, sid, pred, { timeout = 5000 } = {}) {
  const end = Date.now() + timeout;
  const seen = [];
  while (Date.now() < end) {
    const r = await poll(base, sid, { query: '?maxev=10', timeout: Math.max(500, end - Date.now()) }).catch(() => null);
    if (!r) break;
    assert.equal(r.status, 200, `long poll answered HTTP ${r.status}`);
    assert.ok(Array.isArray(r.json), `long poll with maxev must answer an array: ${r.text}`);
    seen.push(...r.json);
    const hit = r.json.find(pred);
    if (hit) return hit;
  }
  throw new Error(`no matching event in ${timeout} ms; got ${JSON.stringify(seen)}`);
}

describe('HTTP transport', () => {
  let cardea;
  let base;
  before(async () => { cardea = await launch(); base = cardea.http; });
  after(async () => { await shutdown(cardea); });

  test('GET /janus/info answers server_info listing janus.plugin.echotest', T, async () => {
    const r = await http(`${base}/info`, { method: 'GET' });
    assert.equal(r.status, 200);
    assertJanus(r.json, 'server_info');
    assert.equal(typeof r.json.name, 'string');
    assert.equal(typeof r.json.version, 'number');
    assert.ok(Object.hasOwn(r.json.plugins ?? {}, ECHOTEST));
    assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  });

  test('GET /janus/ping answers pong (Janus master; Debian 1.1.2 answers 404)', T, async () => {
    const r = await http(`${base}/ping`, { method: 'GET' });
    assert.equal(r.status, 200);
    assertJanus(r.json, 'pong');
  });

  test('POST /janus {create} answers success with data.id', T, async () => {
    const r = await httpRequest(base, { janus: 'create' });
    assert.equal(r.status, 200);
    assertJanus(r.json, 'success', { transaction: r.transaction });
    assertId(r.json.data?.id);
  });

  test('POST /janus/<session> {attach} answers success with data.id (session id only in the path)', T, async () => {
    const s = await httpCreate(base);
    const r = await httpRequest(`${base}/${s}`, { janus: 'attach', plugin: ECHOTEST, opaque_id: 'http-opaque' });
    assert.equal(r.status, 200);
    assertJanus(r.json, 'success', { transaction: r.transaction, session_id: s });
    assertId(r.json.data?.id);
  });

  test('POST /janus/<session>/<handle> {message}: ack, then the event (same transaction) via long poll GET without maxev as one object', T, async () => {
    const s = await httpCreate(base);
    const h = await httpAttach(base, s);
    const r = await httpRequest(`${base}/${s}/${h}`, { janus: 'message', body: { audio: true } });
    assert.equal(r.status, 200);
    assertJanus(r.json, 'ack', { transaction: r.transaction, session_id: s });
    const p = await poll(base, s, { timeout: 5000 });
    assert.equal(p.status, 200);
    assert.ok(p.json && !Array.isArray(p.json), `without maxev the long poll answers one object: ${p.text}`);
    assertJanus(p.json, 'event', { transaction: r.transaction, session_id: s });
    assert.equal(p.json.sender, h);
    assert.equal(p.json.plugindata?.plugin, ECHOTEST);
    assert.equal(p.json.plugindata?.data?.echotest, 'event');
    assert.equal(p.json.plugindata?.data?.result, 'ok');
  });

  test('long poll GET /janus/<session>?maxev=5 answers a JSON array of events', T, async () => {
    const s = await httpCreate(base);
    const h = await httpAttach(base, s);
    const tA = tx(); const tB = tx();
    assertJanus((await httpRequest(`${base}/${s}/${h}`, { janus: 'message', body: { audio: true }, transaction: tA })).json, 'ack');
    assertJanus((await httpRequest(`${base}/${s}/${h}`, { janus: 'message', body: { video: true }, transaction: tB })).json, 'ack');
    await sleep(300);
    const got = [];
    const end = Date.now() + 5000;
    while (Date.now() < end && !(got.some((e) => e.transaction === tA) && got.some((e) => e.transaction === tB))) {
      const p = await poll(base, s, { query: '?maxev=5', timeout: 5000 });
      assert.equal(p.status, 200);
      assert.ok(Array.isArray(p.json), `maxev answers an array: ${p.text}`);
      assert.ok(p.json.length >= 1 && p.json.length <= 5, `1..5 events: ${p.text}`);
      got.push(...p.json);
    }
    for (const t of [tA, tB]) {
      const ev = got.find((e) => e.transaction === t);
      assert.ok(ev, `event for ${t} in ${JSON.stringify(got)}`);
      assertJanus(ev, 'event', { session_id: s });
      assert.equal(ev.plugindata?.data?.result, 'ok');
    }
  });

  test('keepalive, trickle, hangup, detach and destroy over HTTP paths', T, async () => {
    const s = await httpCreate(base);
    const h = await httpAttach(base, s);
    let r = await httpRequest(`${base}/${s}`, { janus: 'keepalive' });
    assertJanus(r.json, 'ack', { transaction: r.transaction, session_id: s });
    r = await httpRequest(`${base}/${s}/${h}`, { janus: 'trickle', candidate: { sdpMid: '0', sdpMLineIndex: 0, candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host' } });
    assertJanus(r.json, 'ack', { transaction: r.transaction, session_id: s });
    r = await httpRequest(`${base}/${s}/${h}`, { janus: 'trickle', candidates: [{ sdpMid: '0', sdpMLineIndex: 0, candidate: 'candidate:2 1 udp 2122260223 127.0.0.1 50002 typ host' }] });
    assertJanus(r.json, 'ack', { transaction: r.transaction });
    r = await httpRequest(`${base}/${s}/${h}`, { janus: 'trickle', candidate: { completed: true } });
    assertJanus(r.json, 'ack', { transaction: r.transaction });
    r = await httpRequest(`${base}/${s}/${h}`, { janus: 'hangup' });
    assertJanus(r.json, 'success', { transaction: r.transaction, session_id: s });
    r = await httpRequest(`${base}/${s}/${h}`, { janus: 'detach' });
    assertJanus(r.json, 'success', { transaction: r.transaction, session_id: s });
    const det = await pollFor(base, s, (e) => e.janus === 'detached');
    assert.equal(det.sender, h);
    assert.equal(det.session_id, s);
    r = await httpRequest(`${base}/${s}`, { janus: 'destroy' });
    assertJanus(r.json, 'success', { transaction: r.transaction, session_id: s });
    const p = await poll(base, s);
    assert.equal(p.status, 404, 'long poll on a destroyed session is 404');
  });

  test('ids in the body are accepted too; a body id conflicting with the path is 457', T, async () => {
    const s = await httpCreate(base);
    const h = await httpAttach(base, s);
    let r = await httpRequest(`${base}/${s}`, { janus: 'keepalive', session_id: s });
    assertJanus(r.json, 'ack');
    r = await httpRequest(`${base}/${s}`, { janus: 'keepalive', session_id: s + 1 });
    assertError(r.json, 457);
    r = await httpRequest(`${base}/${s}/${h}`, { janus: 'hangup', handle_id: h + 1 });
    assertError(r.json, 457);
  });

  test('GET /janus/<unknown session> is HTTP 404 with an empty body', T, async () => {
    const r = await poll(base, randomId());
    assert.equal(r.status, 404);
    assert.equal(r.text, '');
  });

  test('POST to an unknown session is 458, to an unknown handle 459', T, async () => {
    const ghost = randomId();
    let r = await httpRequest(`${base}/${ghost}`, { janus: 'keepalive' });
    assertError(r.json, 458, { transaction: r.transaction });
    const s = await httpCreate(base);
    r = await httpRequest(`${base}/${s}/${randomId()}`, { janus: 'message', body: {} });
    assertError(r.json, 459, { transaction: r.transaction });
  });

  test('POST /janus {keepalive} (root path) is 457', T, async () => {
    const r = await httpRequest(base, { janus: 'keepalive' });
    assert.equal(r.status, 200);
    assertError(r.json, 457, { transaction: r.transaction });
  });

  test('POST /janus/<session> with an unknown verb is 453', T, async () => {
    const s = await httpCreate(base);
    const r = await httpRequest(`${base}/${s}`, { janus: 'frobnicate' });
    assertError(r.json, 453, { transaction: r.transaction });
  });

  test('HTTP DELETE is error 450', T, async () => {
    const r = await http(base, { method: 'DELETE' });
    assert.ok(r.json, `DELETE answer is JSON: HTTP ${r.status} ${r.text}`);
    assertError(r.json, 450);
  });

  test('invalid JSON is 454, a JSON array is 455, missing transaction is 456, wrong types are 467', T, async () => {
    let r = await http(base, { body: '{"janus":"create",' });
    assertError(r.json, 454);
    r = await http(base, { body: '[{"janus":"create","transaction":"x"}]' });
    assertError(r.json, 455);
    r = await http(base, { body: JSON.stringify({ janus: 'create' }) });
    assertError(r.json, 456);
    r = await http(base, { body: JSON.stringify({ janus: 'create', transaction: 5 }) });
    assertError(r.json, 467);
  });

  test('message with a jsep that is not an object is 455; without body 456', T, async () => {
    const s = await httpCreate(base);
    const h = await httpAttach(base, s);
    let r = await httpRequest(`${base}/${s}/${h}`, { janus: 'message', body: {}, jsep: 'v=0' });
    assertError(r.json, 455, { transaction: r.transaction });
    r = await httpRequest(`${base}/${s}/${h}`, { janus: 'message' });
    assertError(r.json, 456, { transaction: r.transaction });
  });

  test('CORS: OPTIONS preflight answers Access-Control-Allow-Origin/Methods/Headers', T, async () => {
    const r = await http(base, {
      method: 'OPTIONS',
      headers: {
        Origin: ORIGIN, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type',
      },
    });
    assert.ok(r.status === 200 || r.status === 204, `preflight status ${r.status}`);
    const allowOrigin = r.headers.get('access-control-allow-origin');
    assert.ok(allowOrigin === '*' || allowOrigin === ORIGIN, `Access-Control-Allow-Origin: ${allowOrigin}`);
    assert.match(r.headers.get('access-control-allow-methods') ?? '', /POST/i);
    assert.match(r.headers.get('access-control-allow-headers') ?? '', /content-type/i);
  });

  test('CORS: normal answers (POST, GET info, long poll, errors) carry Access-Control-Allow-Origin', T, async () => {
    const headers = { Origin: ORIGIN };
    const check = (r, what) => {
      const v = r.headers.get('access-control-allow-origin');
      assert.ok(v === '*' || v === ORIGIN, `${what}: Access-Control-Allow-Origin is ${v}`);
    };
    const create = await http(base, { body: { janus: 'create', transaction: tx() }, headers });
    check(create, 'POST create');
    const s = create.json.data.id;
    check(await http(`${base}/info`, { method: 'GET', headers }), 'GET info');
    check(await http(base, { body: { janus: 'keepalive', transaction: tx() }, headers }), 'error answer');
    const h = await httpAttach(base, s);
    await httpRequest(`${base}/${s}/${h}`, { janus: 'message', body: { audio: true } });
    check(await poll(base, s, { headers }), 'long poll');
    check(await poll(base, randomId(), { headers }), '404 long poll');
  });

  test('an idle long poll answers {"janus":"keepalive"} after ~30 s', { timeout: 45000 }, async () => {
    const s = await httpCreate(base);
    const t0 = Date.now();
    const r = await poll(base, s, { timeout: 35000 });
    const held = Date.now() - t0;
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { janus: 'keepalive' });
    assert.ok(held >= 20000, `the long poll was held only ${held} ms`);
  });
});

describe('HTTP long poll and session_timeout: 3', () => {
  let cardea;
  let base;
  before(async () => { cardea = await launch({ general: { session_timeout: 3 } }); base = cardea.http; });
  after(async () => { await shutdown(cardea); });

  test('repeated long polls keep a session alive while an idle one times out', { timeout: 20000 }, async () => {
    const polled = await httpCreate(base);
    const idle = await httpCreate(base);
    const end = Date.now() + 7000;
    while (Date.now() < end) {
      // Start a long poll and give up on it after 1 s: starting it is the activity.
      await http(`${base}/${polled}`, { method: 'GET', signal: AbortSignal.timeout(1000) }).catch(() => null);
    }
    let r = await httpRequest(`${base}/${polled}`, { janus: 'keepalive' });
    assertJanus(r.json, 'ack', { session_id: polled });
    r = await httpRequest(`${base}/${idle}`, { janus: 'keepalive' });
    assertError(r.json, 458);
  });

  test('the timeout event is delivered on a pending long poll', { timeout: 20000 }, async () => {
    const s = await httpCreate(base);
    const r = await poll(base, s, { timeout: 10000 });
    assert.equal(r.status, 200);
    assertJanus(r.json, 'timeout', { session_id: s });
  });
});
