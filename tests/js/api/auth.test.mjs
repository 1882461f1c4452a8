// Janus API authentication: api_secret (apisecret in every request, ?apisecret= on long polls)
// and stored tokens (token_auth: tokens managed through the Admin API, ?token= on long polls).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  ECHOTEST, JanusWs, launch, shutdown, closeAllSockets, tx, assertError, assertJanus, admin, http, httpRequest,
} from './helpers.mjs';

const T = { timeout: 15000 };

describe('api_secret', () => {
  const SECRET = 'the-api-secret';
  let cardea;
  let ws;
  before(async () => {
    cardea = await launch({ general: { api_secret: SECRET } });
    ws = await JanusWs.open(cardea.ws);
  });
  after(async () => { closeAllSockets(); await shutdown(cardea); });

  test('create without apisecret is 403', T, async () => {
    const t = tx();
    assertError(await ws.request({ janus: 'create', transaction: t }), 403, { transaction: t });
  });

  test('create with a wrong apisecret is 403 (also a non-string one)', T, async () => {
    assertError(await ws.request({ janus: 'create', apisecret: 'nope' }), 403);
    assertError(await ws.request({ janus: 'create', apisecret: `${SECRET}x` }), 403);
    assertError(await ws.request({ janus: 'create', apisecret: 12 }), 403);
  });

  test('info and ping need no apisecret', T, async () => {
    assertJanus(await ws.request({ janus: 'info' }), 'server_info');
    assertJanus(await ws.request({ janus: 'ping' }), 'pong');
  });

  test('with the right apisecret: create, attach, message, keepalive succeed; each needs the secret', T, async () => {
    const s = await ws.createSession({ apisecret: SECRET });
    assertError(await ws.request({ janus: 'attach', session_id: s, plugin: ECHOTEST }), 403);
    const h = await ws.attach(s, ECHOTEST, { apisecret: SECRET });
    assertError(await ws.request({ janus: 'keepalive', session_id: s }), 403);
    assertJanus(await ws.request({ janus: 'keepalive', session_id: s, apisecret: SECRET }), 'ack');
    assertError(await ws.request({ janus: 'message', session_id: s, handle_id: h, body: {} }), 403);
    const { event } = await ws.pluginMessage(s, h, { audio: true }, { extra: { apisecret: SECRET } });
    assert.equal(event?.plugindata?.data?.result, 'ok');
    assertJanus(await ws.request({ janus: 'destroy', session_id: s, apisecret: SECRET }), 'success');
  });

  test('HTTP: create 403 without apisecret; long poll GET 403 without ?apisecret=, 200 with it', T, async () => {
    const base = cardea.http;
    let r = await httpRequest(base, { janus: 'create' });
    assertError(r.json, 403);
    r = await httpRequest(base, { janus: 'create', apisecret: SECRET });
    assertJanus(r.json, 'success');
    const s = r.json.data.id;
    r = await httpRequest(`${base}/${s}`, { janus: 'attach', plugin: ECHOTEST, apisecret: SECRET });
    assertJanus(r.json, 'success');
    const h = r.json.data.id;
    r = await httpRequest(`${base}/${s}/${h}`, { janus: 'message', body: { audio: true }, apisecret: SECRET });
    assertJanus(r.json, 'ack');
    const denied = await http(`${base}/${s}`, { method: 'GET' });
    assert.equal(denied.status, 403, 'long poll without apisecret');
    const wrong = await http(`${base}/${s}?apisecret=wrong`, { method: 'GET' });
    assert.equal(wrong.status, 403, 'long poll with a wrong apisecret');
    const ok = await http(`${base}/${s}?apisecret=${encodeURIComponent(SECRET)}`, { method: 'GET' });
    assert.equal(ok.status, 200);
    assertJanus(ok.json, 'event', { transaction: r.transaction });
  });
});

describe('token_auth', () => {
  const ADMIN_SECRET = 'token-admin';
  let cardea;
  let ws;
  before(async () => {
    cardea = await launch({ general: { token_auth: true, admin_secret: ADMIN_SECRET } });
    ws = await JanusWs.open(cardea.ws);
  });
  after(async () => { closeAllSockets(); await shutdown(cardea); });

  test('create without a token is 403; with an unknown token 403', T, async () => {
    assertError(await ws.request({ janus: 'create' }), 403);
    assertError(await ws.request({ janus: 'create', token: 'not-added-yet' }), 403);
  });

  test('Admin add_token, then create/attach/message with the token succeed; requests without it are 403', T, async () => {
    const added = await admin(cardea, '', { janus: 'add_token', token: 'good-token' }, { secret: ADMIN_SECRET });
    assertJanus(added, 'success');
    const s = await ws.createSession({ token: 'good-token' });
    const h = await ws.attach(s, ECHOTEST, { token: 'good-token' });
    assertError(await ws.request({ janus: 'keepalive', session_id: s }), 403);
    assertJanus(await ws.request({ janus: 'keepalive', session_id: s, token: 'good-token' }), 'ack');
    const { event } = await ws.pluginMessage(s, h, { audio: true }, { extra: { token: 'good-token' } });
    assert.equal(event?.plugindata?.data?.result, 'ok');
  });

  test('HTTP long poll needs ?token=', T, async () => {
    const base = cardea.http;
    let r = await httpRequest(base, { janus: 'create', token: 'good-token' });
    assertJanus(r.json, 'success');
    const s = r.json.data.id;
    r = await httpRequest(`${base}/${s}`, { janus: 'attach', plugin: ECHOTEST, token: 'good-token' });
    const h = r.json.data.id;
    r = await httpRequest(`${base}/${s}/${h}`, { janus: 'message', body: { audio: true }, token: 'good-token' });
    assertJanus(r.json, 'ack');
    assert.equal((await http(`${base}/${s}`, { method: 'GET' })).status, 403);
    const ok = await http(`${base}/${s}?token=good-token`, { method: 'GET' });
    assert.equal(ok.status, 200);
    assertJanus(ok.json, 'event', { transaction: r.transaction });
  });

  test('a token limited to no plugin cannot attach (405)', T, async () => {
    assertJanus(await admin(cardea, '', { janus: 'add_token', token: 'limited', plugins: [ECHOTEST] }, { secret: ADMIN_SECRET }), 'success');
    assertJanus(await admin(cardea, '', { janus: 'disallow_token', token: 'limited', plugins: [ECHOTEST] }, { secret: ADMIN_SECRET }), 'success');
    const s = await ws.createSession({ token: 'limited' });
    const t = tx();
    assertError(await ws.request({ janus: 'attach', session_id: s, plugin: ECHOTEST, token: 'limited', transaction: t }), 405,
      { transaction: t, session_id: s });
  });

  test('a removed token is refused again (403)', T, async () => {
    assertJanus(await admin(cardea, '', { janus: 'add_token', token: 'short-lived' }, { secret: ADMIN_SECRET }), 'success');
    await ws.createSession({ token: 'short-lived' });
    assertJanus(await admin(cardea, '', { janus: 'remove_token', token: 'short-lived' }, { secret: ADMIN_SECRET }), 'success');
    assertError(await ws.request({ janus: 'create', token: 'short-lived' }), 403);
  });
});

describe('api_secret and token_auth together', () => {
  const SECRET = 'both-secret';
  const ADMIN_SECRET = 'both-admin';
  let cardea;
  let ws;
  before(async () => {
    cardea = await launch({ general: { api_secret: SECRET, token_auth: true, admin_secret: ADMIN_SECRET } });
    ws = await JanusWs.open(cardea.ws);
  });
  after(async () => { closeAllSockets(); await shutdown(cardea); });

  test('either the apisecret or a valid token authorizes a request', T, async () => {
    assertError(await ws.request({ janus: 'create' }), 403);
    await ws.createSession({ apisecret: SECRET });
    assertJanus(await admin(cardea, '', { janus: 'add_token', token: 'both-token' }, { secret: ADMIN_SECRET }), 'success');
    await ws.createSession({ token: 'both-token' });
    assertError(await ws.request({ janus: 'create', apisecret: 'wrong', token: 'wrong' }), 403);
  });
});
