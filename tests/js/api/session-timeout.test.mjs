// Session timeout (session_timeout: 2): an idle session gets {"janus":"timeout","session_id":S}
// pushed on its WebSocket about 2–4 s after the last request and is gone afterwards; keepalive
// and other requests keep it alive. Reclaim (reclaim_session_timeout) lets another socket claim a
// session after its socket closed, within the window only.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  JanusWs, launch, shutdown, closeAllSockets, tx, assertError, assertJanus, sleep,
} from './helpers.mjs';

const T = { timeout: 20000 };

describe('session_timeout: 2', () => {
  let cardea;
  before(async () => { cardea = await launch({ general: { session_timeout: 2, admin_secret: 'st-admin' } }); });
  after(async () => { closeAllSockets(); await shutdown(cardea); });

  test('an idle session gets a {"janus":"timeout","session_id":S} event within ~5 s, then is unknown (458)', T, async () => {
    const ws = await JanusWs.open(cardea.ws);
    const t0 = Date.now();
    const s = await ws.createSession();
    const h = await ws.attach(s);
    const ev = await ws.waitFor((m) => m.janus === 'timeout', { timeout: 6000, what: 'timeout event' });
    const elapsed = Date.now() - t0;
    assert.equal(ev.session_id, s);
    assert.equal(ev.transaction, undefined, 'timeout is not tied to a transaction');
    assert.ok(elapsed >= 1500, `timeout fired too early (${elapsed} ms after create with session_timeout 2)`);
    const t = tx();
    assertError(await ws.request({ janus: 'keepalive', session_id: s, transaction: t }), 458, { transaction: t });
    assertError(await ws.request({ janus: 'message', session_id: s, handle_id: h, body: {} }), 458);
    // The socket itself stays open and usable.
    assertJanus(await ws.request({ janus: 'ping' }), 'pong');
    ws.close();
  });

  test('keepalive every second keeps a session alive past the timeout', T, async () => {
    const ws = await JanusWs.open(cardea.ws);
    const s = await ws.createSession();
    const end = Date.now() + 6000;
    while (Date.now() < end) {
      await sleep(1000);
      assertJanus(await ws.request({ janus: 'keepalive', session_id: s }), 'ack', { session_id: s });
    }
    assert.ok(!ws.messages.some((m) => m.janus === 'timeout'), 'no timeout event while kept alive');
    ws.close();
  });

  test('any request on the session (a plugin message) counts as activity too', T, async () => {
    const ws = await JanusWs.open(cardea.ws);
    const s = await ws.createSession();
    const h = await ws.attach(s);
    const end = Date.now() + 5000;
    while (Date.now() < end) {
      await sleep(1000);
      const { event } = await ws.pluginMessage(s, h, { audio: true });
      assert.equal(event?.plugindata?.data?.result, 'ok');
    }
    assert.ok(!ws.messages.some((m) => m.janus === 'timeout'), 'no timeout event while active');
    ws.close();
  });

  test('only the idle one of two sessions on one socket times out', T, async () => {
    const ws = await JanusWs.open(cardea.ws);
    const idle = await ws.createSession();
    const busy = await ws.createSession();
    const end = Date.now() + 5500;
    while (Date.now() < end) {
      await sleep(900);
      assertJanus(await ws.request({ janus: 'keepalive', session_id: busy }), 'ack');
    }
    const timeouts = ws.messages.filter((m) => m.janus === 'timeout');
    assert.deepEqual(timeouts.map((m) => m.session_id), [idle]);
    assertJanus(await ws.request({ janus: 'keepalive', session_id: busy }), 'ack');
    ws.close();
  });

  test('Admin get_status reports session_timeout 2', T, async () => {
    const r = await fetch(cardea.adminHttp, {
      method: 'POST', body: JSON.stringify({ janus: 'get_status', transaction: tx(), admin_secret: 'st-admin' }),
      signal: AbortSignal.timeout(5000),
    }).then((x) => x.json());
    assertJanus(r, 'success');
    assert.equal(r.status?.session_timeout, 2);
  });
});

describe('reclaim_session_timeout: 3', () => {
  let cardea;
  before(async () => { cardea = await launch({ general: { session_timeout: 60, reclaim_session_timeout: 3 } }); });
  after(async () => { closeAllSockets(); await shutdown(cardea); });

  test('after its socket closes, a session can be claimed from a new socket within the window; events then go there', T, async () => {
    const a = await JanusWs.open(cardea.ws);
    const s = await a.createSession();
    const h = await a.attach(s);
    a.close();
    await a.waitClose(2000);
    await sleep(500);
    const b = await JanusWs.open(cardea.ws);
    const t = tx();
    assertJanus(await b.request({ janus: 'claim', session_id: s, transaction: t }), 'success', { transaction: t, session_id: s });
    assertJanus(await b.request({ janus: 'keepalive', session_id: s }), 'ack');
    const { event } = await b.pluginMessage(s, h, { audio: true });
    assert.equal(event?.sender, h);
    assert.equal(event?.plugindata?.data?.result, 'ok');
    b.close();
  });

  test('a session whose socket closed is gone once the reclaim window has passed (claim → 458)', T, async () => {
    const a = await JanusWs.open(cardea.ws);
    const s = await a.createSession();
    a.close();
    await a.waitClose(2000);
    await sleep(6500);
    const b = await JanusWs.open(cardea.ws);
    assertError(await b.request({ janus: 'claim', session_id: s }), 458);
    b.close();
  });
});
