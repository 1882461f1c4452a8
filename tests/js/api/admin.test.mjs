// Admin/Monitor API over HTTP (POST <admin>[/<session>[/<handle>]]) and WebSocket (subprotocol
// janus-admin-protocol). Only info and ping work without admin_secret; every other request is
// 403 without it and succeeds with it. Unknown admin verbs: Janus answers 457 ("Unhandled request
// at this path") — the Admin API never answers 453.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  ECHOTEST, JanusWs, launch, shutdown, closeAllSockets, tx, randomId, assertError, assertJanus, admin, listSessions,
  eventually, expectHandshakeRefused, API_PROTOCOL, ADMIN_PROTOCOL,
} from './helpers.mjs';

const SECRET = 'admin-test-secret';
const T = { timeout: 15000 };

describe('Admin API (admin_secret set)', () => {
  let cardea;
  let ws; // Janus API socket owning the sessions used here
  before(async () => {
    cardea = await launch({ general: { admin_secret: SECRET } });
    ws = await JanusWs.open(cardea.ws);
  });
  after(async () => { closeAllSockets(); await shutdown(cardea); });

  // ------------------------------------------------------------------ HTTP, root-level

  test('info works without the secret (server_info)', T, async () => {
    const r = await admin(cardea, '', { janus: 'info' });
    assertJanus(r, 'server_info');
    assert.ok(Object.hasOwn(r.plugins ?? {}, ECHOTEST));
  });

  test('ping works without the secret (pong)', T, async () => {
    const t = tx();
    assertJanus(await admin(cardea, '', { janus: 'ping', transaction: t }), 'pong', { transaction: t });
  });

  test('wrong admin_secret is 403', T, async () => {
    assertError(await admin(cardea, '', { janus: 'list_sessions' }, { secret: 'wrong' }), 403);
  });

  test('get_status: 403 without the secret; with it success and status{session_timeout, log_level, ...}', T, async () => {
    const t = tx();
    assertError(await admin(cardea, '', { janus: 'get_status', transaction: t }), 403, { transaction: t });
    const r = await admin(cardea, '', { janus: 'get_status' }, { secret: SECRET });
    assertJanus(r, 'success');
    assert.equal(typeof r.status?.session_timeout, 'number');
    assert.equal(typeof r.status?.log_level, 'number');
    assert.equal(typeof r.status?.token_auth, 'boolean');
  });

  test('list_sessions: 403 without the secret; with it lists a session created over WebSocket', T, async () => {
    const s = await ws.createSession();
    assertError(await admin(cardea, '', { janus: 'list_sessions' }), 403);
    const list = await listSessions(cardea, SECRET);
    assert.ok(list.includes(s), JSON.stringify(list));
  });

  test('set_session_timeout (global): 403 without the secret; with it success {timeout} and get_status reflects it', T, async () => {
    assertError(await admin(cardea, '', { janus: 'set_session_timeout', timeout: 120 }), 403);
    const r = await admin(cardea, '', { janus: 'set_session_timeout', timeout: 120 }, { secret: SECRET });
    assertJanus(r, 'success');
    assert.equal(r.timeout, 120);
    const st = await admin(cardea, '', { janus: 'get_status' }, { secret: SECRET });
    assert.equal(st.status.session_timeout, 120);
    assertJanus(await admin(cardea, '', { janus: 'set_session_timeout', timeout: 60 }, { secret: SECRET }), 'success');
  });

  test('set_session_timeout without timeout is 456, with a string timeout 467', T, async () => {
    assertError(await admin(cardea, '', { janus: 'set_session_timeout' }, { secret: SECRET }), 456);
    assertError(await admin(cardea, '', { janus: 'set_session_timeout', timeout: 'x' }, { secret: SECRET }), 467);
  });

  test('set_log_level: 403 without the secret; with it success {level}', T, async () => {
    assertError(await admin(cardea, '', { janus: 'set_log_level', level: 5 }), 403);
    const r = await admin(cardea, '', { janus: 'set_log_level', level: 5 }, { secret: SECRET });
    assertJanus(r, 'success');
    assert.equal(r.level, 5);
    const st = await admin(cardea, '', { janus: 'get_status' }, { secret: SECRET });
    assert.equal(st.status.log_level, 5);
    assertJanus(await admin(cardea, '', { janus: 'set_log_level', level: 4 }, { secret: SECRET }), 'success');
  });

  test('set_log_level outside 0..7 is 467', T, async () => {
    assertError(await admin(cardea, '', { janus: 'set_log_level', level: 42 }, { secret: SECRET }), 467);
  });

  test('accept_new_sessions: 403 without the secret; false → create 472; true → create works', T, async () => {
    assertError(await admin(cardea, '', { janus: 'accept_new_sessions', accept: false }), 403);
    const off = await admin(cardea, '', { janus: 'accept_new_sessions', accept: false }, { secret: SECRET });
    assertJanus(off, 'success');
    assert.equal(off.accept, false);
    try {
      assertError(await ws.request({ janus: 'create' }), 472);
    } finally {
      const on = await admin(cardea, '', { janus: 'accept_new_sessions', accept: true }, { secret: SECRET });
      assertJanus(on, 'success');
      assert.equal(on.accept, true);
    }
    await ws.createSession();
  });

  test('token verbs answer 403 without the secret (add/allow/disallow/list/remove_token)', T, async () => {
    for (const janus of ['add_token', 'allow_token', 'disallow_token', 'list_tokens', 'remove_token']) {
      assertError(await admin(cardea, '', { janus, token: 'x', plugins: [ECHOTEST] }), 403);
    }
  });

  test('unknown admin verb: 403 without the secret, 457 with it (as Janus)', T, async () => {
    assertError(await admin(cardea, '', { janus: 'frobnicate' }), 403);
    const t = tx();
    assertError(await admin(cardea, '', { janus: 'frobnicate', transaction: t }, { secret: SECRET }), 457, { transaction: t });
  });

  test('Janus API verbs are not Admin verbs (create on the admin endpoint is 457)', T, async () => {
    assertError(await admin(cardea, '', { janus: 'create' }, { secret: SECRET }), 457);
  });

  test('admin request without transaction or janus is 456', T, async () => {
    assertError(await admin(cardea, '', { janus: 'ping', transaction: undefined }), 456);
    assertError(await admin(cardea, '', { }, { secret: SECRET }), 456);
  });

  // ------------------------------------------------------------------ HTTP, session/handle paths

  test('list_handles (POST /admin/<session>): 403 without the secret; lists the handles', T, async () => {
    const s = await ws.createSession();
    const h1 = await ws.attach(s);
    const h2 = await ws.attach(s);
    assertError(await admin(cardea, `/${s}`, { janus: 'list_handles' }), 403);
    const r = await admin(cardea, `/${s}`, { janus: 'list_handles' }, { secret: SECRET });
    assertJanus(r, 'success', { session_id: s });
    assert.deepEqual([...r.handles].sort(), [h1, h2].sort());
  });

  test('handle_info (POST /admin/<session>/<handle>): info.plugin, info.session_id, info.handle_id, opaque_id', T, async () => {
    const s = await ws.createSession();
    const h = await ws.attach(s, ECHOTEST, { opaque_id: 'admin-opaque' });
    assertError(await admin(cardea, `/${s}/${h}`, { janus: 'handle_info' }), 403);
    const r = await admin(cardea, `/${s}/${h}`, { janus: 'handle_info' }, { secret: SECRET });
    assertJanus(r, 'success', { session_id: s });
    assert.equal(r.handle_id, h);
    assert.equal(r.info?.plugin, ECHOTEST);
    assert.equal(r.info?.session_id, s);
    assert.equal(r.info?.handle_id, h);
    assert.equal(r.info?.opaque_id, 'admin-opaque');
    assert.equal(typeof r.info?.created, 'number');
  });

  test('Admin paths: unknown session 458, unknown handle 459', T, async () => {
    assertError(await admin(cardea, `/${randomId()}`, { janus: 'list_handles' }, { secret: SECRET }), 458);
    const s = await ws.createSession();
    assertError(await admin(cardea, `/${s}/${randomId()}`, { janus: 'handle_info' }, { secret: SECRET }), 459);
  });

  test('unknown verb on an admin session or handle path is 457', T, async () => {
    const s = await ws.createSession();
    const h = await ws.attach(s);
    assertError(await admin(cardea, `/${s}`, { janus: 'frobnicate' }, { secret: SECRET }), 457);
    assertError(await admin(cardea, `/${s}/${h}`, { janus: 'frobnicate' }, { secret: SECRET }), 457);
  });

  test('set_session_timeout on a session path: success {timeout, session_id}', T, async () => {
    const s = await ws.createSession();
    assertError(await admin(cardea, `/${s}`, { janus: 'set_session_timeout', timeout: 5 }), 403);
    const r = await admin(cardea, `/${s}`, { janus: 'set_session_timeout', timeout: 5 }, { secret: SECRET });
    assertJanus(r, 'success', { session_id: s });
    assert.equal(r.timeout, 5);
  });

  test('detach_handle: 403 without the secret; success; the owner gets "detached"; the handle is gone', T, async () => {
    const s = await ws.createSession();
    const h = await ws.attach(s);
    assertError(await admin(cardea, `/${s}/${h}`, { janus: 'detach_handle' }), 403);
    const from = ws.messages.length;
    const r = await admin(cardea, `/${s}/${h}`, { janus: 'detach_handle' }, { secret: SECRET });
    assertJanus(r, 'success', { session_id: s });
    const ev = await ws.waitFor((m) => m.janus === 'detached' && m.sender === h, { from, timeout: 3000, what: 'detached event' });
    assert.equal(ev.session_id, s);
    const l = await admin(cardea, `/${s}`, { janus: 'list_handles' }, { secret: SECRET });
    assert.ok(!l.handles.includes(h));
    assertError(await ws.request({ janus: 'message', session_id: s, handle_id: h, body: {} }), 459);
  });

  test('destroy_session: 403 without the secret; success; the session is gone (Janus API 458)', T, async () => {
    const s = await ws.createSession();
    await ws.attach(s);
    assertError(await admin(cardea, `/${s}`, { janus: 'destroy_session' }), 403);
    const r = await admin(cardea, `/${s}`, { janus: 'destroy_session' }, { secret: SECRET });
    assertJanus(r, 'success', { session_id: s });
    assert.ok(!(await listSessions(cardea, SECRET)).includes(s));
    assertError(await ws.request({ janus: 'keepalive', session_id: s }), 458);
  });

  test('GET on the admin info endpoint is not required; DELETE on /admin is 450', T, async () => {
    const r = await fetch(cardea.adminHttp, { method: 'DELETE', signal: AbortSignal.timeout(5000) });
    const body = await r.json().catch(() => null);
    assert.ok(body, `DELETE /admin answer is JSON (HTTP ${r.status})`);
    assertError(body, 450);
  });

  // ------------------------------------------------------------------ WebSocket admin

  test('admin WebSocket negotiates janus-admin-protocol; info and ping work without the secret', T, async () => {
    const a = await JanusWs.open(cardea.adminWs, { protocol: ADMIN_PROTOCOL });
    assert.equal(a.protocol, ADMIN_PROTOCOL);
    assertJanus(await a.request({ janus: 'info' }), 'server_info');
    assertJanus(await a.request({ janus: 'ping' }), 'pong');
    a.close();
  });

  test('admin WebSocket: list_sessions 403 without the secret, success with it', T, async () => {
    const a = await JanusWs.open(cardea.adminWs, { protocol: ADMIN_PROTOCOL });
    const s = await ws.createSession();
    const t = tx();
    assertError(await a.request({ janus: 'list_sessions', transaction: t }), 403, { transaction: t });
    const r = await a.request({ janus: 'list_sessions', admin_secret: SECRET });
    assertJanus(r, 'success');
    assert.ok(r.sessions.includes(s));
    a.close();
  });

  test('admin WebSocket: list_handles and handle_info with session_id/handle_id in the body', T, async () => {
    const a = await JanusWs.open(cardea.adminWs, { protocol: ADMIN_PROTOCOL });
    const s = await ws.createSession();
    const h = await ws.attach(s);
    const lh = await a.request({ janus: 'list_handles', session_id: s, admin_secret: SECRET });
    assertJanus(lh, 'success', { session_id: s });
    assert.deepEqual(lh.handles, [h]);
    const hi = await a.request({ janus: 'handle_info', session_id: s, handle_id: h, admin_secret: SECRET });
    assertJanus(hi, 'success');
    assert.equal(hi.info?.plugin, ECHOTEST);
    assert.equal(hi.info?.handle_id, h);
    assertError(await a.request({ janus: 'handle_info', session_id: s, handle_id: h }), 403);
    a.close();
  });

  test('admin WebSocket: get_status 403 / success, unknown verb 457', T, async () => {
    const a = await JanusWs.open(cardea.adminWs, { protocol: ADMIN_PROTOCOL });
    assertError(await a.request({ janus: 'get_status' }), 403);
    assertJanus(await a.request({ janus: 'get_status', admin_secret: SECRET }), 'success');
    assertError(await a.request({ janus: 'frobnicate', admin_secret: SECRET }), 457);
    a.close();
  });

  test('admin WebSocket handshake needs janus-admin-protocol (none or janus-protocol is refused)', T, async () => {
    const none = await expectHandshakeRefused(cardea.adminWs, null);
    assert.ok(none.refused, `no subprotocol accepted: ${JSON.stringify(none)}`);
    const api = await expectHandshakeRefused(cardea.adminWs, API_PROTOCOL);
    assert.ok(api.refused, `janus-protocol accepted on the admin socket: ${JSON.stringify(api)}`);
  });

  test('the Janus API socket does not answer admin verbs (list_sessions at the API root is 457)', T, async () => {
    assertError(await ws.request({ janus: 'list_sessions', admin_secret: SECRET }), 457);
  });
});

describe('Admin token verbs (token_auth: true)', () => {
  let cardea;
  before(async () => { cardea = await launch({ general: { admin_secret: SECRET, token_auth: true } }); });
  after(async () => { closeAllSockets(); await shutdown(cardea); });

  test('add_token: success with data.plugins listing every plugin (no plugins given)', T, async () => {
    assertError(await admin(cardea, '', { janus: 'add_token', token: 'tok-all' }), 403);
    const r = await admin(cardea, '', { janus: 'add_token', token: 'tok-all' }, { secret: SECRET });
    assertJanus(r, 'success');
    assert.ok(Array.isArray(r.data?.plugins) && r.data.plugins.includes(ECHOTEST), JSON.stringify(r));
  });

  test('add_token without token is 456', T, async () => {
    assertError(await admin(cardea, '', { janus: 'add_token' }, { secret: SECRET }), 456);
  });

  test('list_tokens: success with data.tokens[{token, allowed_plugins}]', T, async () => {
    assertError(await admin(cardea, '', { janus: 'list_tokens' }), 403);
    const r = await admin(cardea, '', { janus: 'list_tokens' }, { secret: SECRET });
    assertJanus(r, 'success');
    const entry = r.data?.tokens?.find((x) => x.token === 'tok-all');
    assert.ok(entry, JSON.stringify(r));
    // A token added without plugins may use every plugin the server offers (as in Janus).
    const info = await admin(cardea, '', { janus: 'info' });
    assert.deepEqual([...entry.allowed_plugins].sort(), Object.keys(info.plugins).sort());
    assert.ok(entry.allowed_plugins.includes(ECHOTEST), JSON.stringify(r));
  });

  test('disallow_token removes the plugin (attach with that token is 405); allow_token gives it back', T, async () => {
    const ws = await JanusWs.open(cardea.ws);
    assertJanus(await admin(cardea, '', { janus: 'add_token', token: 'tok-2', plugins: [ECHOTEST] }, { secret: SECRET }), 'success');
    assertError(await admin(cardea, '', { janus: 'disallow_token', token: 'tok-2', plugins: [ECHOTEST] }), 403);
    const d = await admin(cardea, '', { janus: 'disallow_token', token: 'tok-2', plugins: [ECHOTEST] }, { secret: SECRET });
    assertJanus(d, 'success');
    assert.deepEqual(d.data?.plugins, []);
    const s = await ws.createSession({ token: 'tok-2' });
    assertError(await ws.request({ janus: 'attach', session_id: s, plugin: ECHOTEST, token: 'tok-2' }), 405);
    assertError(await admin(cardea, '', { janus: 'allow_token', token: 'tok-2', plugins: [ECHOTEST] }), 403);
    const a = await admin(cardea, '', { janus: 'allow_token', token: 'tok-2', plugins: [ECHOTEST] }, { secret: SECRET });
    assertJanus(a, 'success');
    assert.deepEqual(a.data?.plugins, [ECHOTEST]);
    await ws.attach(s, ECHOTEST, { token: 'tok-2' });
    ws.close();
  });

  test('allow_token / disallow_token on an unknown token is 470', T, async () => {
    assertError(await admin(cardea, '', { janus: 'allow_token', token: 'nope', plugins: [ECHOTEST] }, { secret: SECRET }), 470);
    assertError(await admin(cardea, '', { janus: 'disallow_token', token: 'nope', plugins: [ECHOTEST] }, { secret: SECRET }), 470);
  });

  test('remove_token: success; the token no longer authorizes (create is 403)', T, async () => {
    const ws = await JanusWs.open(cardea.ws);
    assertJanus(await admin(cardea, '', { janus: 'add_token', token: 'tok-rm' }, { secret: SECRET }), 'success');
    await ws.createSession({ token: 'tok-rm' });
    assertError(await admin(cardea, '', { janus: 'remove_token', token: 'tok-rm' }), 403);
    assertJanus(await admin(cardea, '', { janus: 'remove_token', token: 'tok-rm' }, { secret: SECRET }), 'success');
    assertError(await ws.request({ janus: 'create', token: 'tok-rm' }), 403);
    const l = await admin(cardea, '', { janus: 'list_tokens' }, { secret: SECRET });
    assert.ok(!l.data.tokens.some((x) => x.token === 'tok-rm'));
    ws.close();
  });
});

describe('Admin API without admin_secret configured (Cardea policy: Janus itself would answer everything)', () => {
  let cardea;
  before(async () => { cardea = await launch(); });
  after(async () => { await shutdown(cardea); });

  test('info and ping answer; every other admin verb is 403', T, async () => {
    assertJanus(await admin(cardea, '', { janus: 'info' }), 'server_info');
    assertJanus(await admin(cardea, '', { janus: 'ping' }), 'pong');
    for (const janus of ['get_status', 'list_sessions', 'set_log_level', 'accept_new_sessions', 'list_tokens']) {
      assertError(await admin(cardea, '', { janus, level: 4, accept: true }), 403);
    }
    assertError(await admin(cardea, '', { janus: 'list_sessions' }, { secret: 'anything' }), 403);
    const s = await (async () => {
      const r = await fetch(cardea.http, { method: 'POST', body: JSON.stringify({ janus: 'create', transaction: tx() }), signal: AbortSignal.timeout(5000) });
      return (await r.json()).data.id;
    })();
    assertError(await admin(cardea, `/${s}`, { janus: 'list_handles' }), 403);
  });
});
