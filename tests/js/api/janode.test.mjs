// janode 1.8 (Meetecho's own Node client) driving Cardea over WebSocket, subprotocol
// janus-protocol: info, create, attach, async plugin message, keepalive, detach, destroy,
// plus janode's Admin API helpers on the admin WebSocket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Janode from 'janode';
import { genericPlugin } from './generic-plugin.mjs';
import {
  ECHOTEST, launch, shutdown, assertId, sleep, listSessions, admin, eventually,
} from './helpers.mjs';

Janode.Logger.setLevel(process.env.JANODE_LOG || 'none');

const ADMIN_SECRET = 'janode-admin-secret';
let cardea;
let connection;
let adminConnection;
let session;
let handle;
let handleWithOpaque;
const seen = []; // every Janus message janode received on the API connection (spy)

before(async () => {
  cardea = await launch({ general: { admin_secret: ADMIN_SECRET } });
});

after(async () => {
  try { if (connection) await Promise.race([connection.close(), sleep(2000)]); } catch { /* ignore */ }
  try { if (adminConnection) await Promise.race([adminConnection.close(), sleep(2000)]); } catch { /* ignore */ }
  await shutdown(cardea);
});

const T = { timeout: 15000 };

test('janode connects over WebSocket (janus-protocol) and getInfo reports name, version and janus.plugin.echotest', T, async () => {
  connection = await Janode.connect({ address: [{ url: cardea.ws }], retry_time_secs: 1, max_retries: 0 });
  // Spy on every message the transport hands to the connection (used for the detached event).
  const orig = connection._handleMessage.bind(connection);
  connection._handleMessage = (msg) => { seen.push(msg); return orig(msg); };

  const info = await connection.getInfo();
  assert.equal(info.janus, 'server_info');
  assert.equal(typeof info.name, 'string', 'server_info.name');
  assert.ok(info.name.length > 0);
  assert.equal(typeof info.version, 'number', 'server_info.version is an integer');
  assert.equal(typeof info.version_string, 'string', 'server_info.version_string');
  assert.ok(info.plugins && typeof info.plugins === 'object', 'server_info.plugins is an object');
  assert.ok(Object.hasOwn(info.plugins, ECHOTEST), `plugins lists ${ECHOTEST}: ${JSON.stringify(info.plugins)}`);
  assert.ok(info.transports && typeof info.transports === 'object', 'server_info.transports is an object');
});

test('janode creates a session with a JS-safe positive id', T, async () => {
  session = await connection.create();
  assertId(session.id, 'session id');
});

test('janode attaches janus.plugin.echotest through a plugin descriptor', T, async () => {
  handle = await session.attach(genericPlugin(ECHOTEST));
  assertId(handle.id, 'handle id');
  assert.notEqual(handle.id, session.id);
});

test('attach with opaque_id through janode sendRequest; Admin handle_info (janode admin connection) shows it', T, async () => {
  const opaque = `janode-opaque-${Date.now()}`;
  const reply = await session.sendRequest({ janus: 'attach', plugin: ECHOTEST, opaque_id: opaque });
  assert.equal(reply.janus, 'success');
  assert.equal(reply.session_id, session.id);
  assertId(reply.data?.id, 'handle id');
  handleWithOpaque = reply.data.id;

  adminConnection = await Janode.connect({
    is_admin: true, address: { url: cardea.adminWs, apisecret: ADMIN_SECRET }, retry_time_secs: 1, max_retries: 0,
  });
  const sessions = await adminConnection.listSessions();
  assert.equal(sessions.janus, 'success');
  assert.ok(sessions.sessions.includes(session.id), `list_sessions has ${session.id}: ${JSON.stringify(sessions)}`);
  const handles = await adminConnection.listHandles(session.id);
  assert.equal(handles.janus, 'success');
  assert.ok(handles.handles.includes(handle.id) && handles.handles.includes(handleWithOpaque),
    `list_handles has both handles: ${JSON.stringify(handles)}`);
  const hi = await adminConnection.handleInfo(session.id, handleWithOpaque);
  assert.equal(hi.janus, 'success');
  assert.equal(hi.info.opaque_id, opaque);
  assert.equal(hi.info.plugin, ECHOTEST);
  assert.equal(hi.info.session_id, session.id);
  assert.equal(hi.info.handle_id, handleWithOpaque);
});

test('message {audio:true} without jsep resolves with an event: echotest "event", result "ok", same sender and session', T, async () => {
  const ev = await handle.message({ audio: true });
  assert.equal(ev.janus, 'event', JSON.stringify(ev));
  assert.equal(ev.session_id, session.id);
  assert.equal(ev.sender, handle.id);
  assert.equal(typeof ev.transaction, 'string');
  assert.equal(ev.plugindata?.plugin, ECHOTEST);
  assert.equal(ev.plugindata?.data?.echotest, 'event');
  assert.equal(ev.plugindata?.data?.result, 'ok');
  assert.equal(ev.jsep, undefined, 'no jsep without an offer');
  // The ack for that transaction came too (in any order).
  await eventually(() => seen.some((m) => m.janus === 'ack' && m.transaction === ev.transaction), { timeout: 2000 });
  assert.ok(seen.some((m) => m.janus === 'ack' && m.transaction === ev.transaction && m.session_id === session.id),
    'ack with session_id for the message');
});

test('keepalive through janode resolves with an ack carrying the session id', T, async () => {
  const ack = await session.sendRequest({ janus: 'keepalive' });
  assert.equal(ack.janus, 'ack');
  assert.equal(ack.session_id, session.id);
});

test('janode keep-alive task (1 s period) keeps a second session alive', T, async () => {
  const s2 = await connection.create(1);
  let destroyed = false;
  s2.once(Janode.EVENT.SESSION_DESTROYED, () => { destroyed = true; });
  await sleep(2600);
  assert.equal(destroyed, false, 'janode saw its keep-alive fail');
  await s2.destroy();
  assert.equal(destroyed, true);
});

test('detach: janode resolves, the handle emits HANDLE_DETACHED, the server pushes a "detached" event', T, async () => {
  const id = handle.id;
  const detachedEmitted = new Promise((r) => handle.once(Janode.EVENT.HANDLE_DETACHED, r));
  await handle.detach();
  const ev = await Promise.race([detachedEmitted, sleep(3000).then(() => null)]);
  assert.ok(ev, 'HANDLE_DETACHED emitted');
  assert.equal(ev.id, id);
  // janode's detach() swallows errors: check the server answered success to a detach (it may
  // come after the detached event, which already made janode emit HANDLE_DETACHED).
  assert.ok(await eventually(() => seen.some((m) => m.janus === 'success' && m.session_id === session.id &&
    !m.data && !m.plugindata), { timeout: 3000 }), 'a success reply to detach');
  const ok = await eventually(() => seen.some((m) => m.janus === 'detached' && m.sender === id && m.session_id === session.id),
    { timeout: 3000 });
  assert.ok(ok, `server sent {"janus":"detached","session_id":${session.id},"sender":${id}}`);
  const handles = await admin(cardea, `/${session.id}`, { janus: 'list_handles' }, { secret: ADMIN_SECRET });
  assert.ok(!handles.handles.includes(id), `handle ${id} gone from list_handles: ${JSON.stringify(handles)}`);
});

test('destroy: janode resolves, SESSION_DESTROYED is emitted, Admin list_sessions no longer has it', T, async () => {
  const id = session.id;
  const destroyedEmitted = new Promise((r) => session.once(Janode.EVENT.SESSION_DESTROYED, r));
  await session.destroy();
  const ev = await Promise.race([destroyedEmitted, sleep(3000).then(() => null)]);
  assert.ok(ev, 'SESSION_DESTROYED emitted');
  const gone = await eventually(async () => !(await listSessions(cardea, ADMIN_SECRET)).includes(id), { timeout: 3000 });
  assert.ok(gone, `session ${id} gone from list_sessions`);
});

test('janode connection closes cleanly', T, async () => {
  const closed = new Promise((r) => connection.once(Janode.EVENT.CONNECTION_CLOSED, r));
  await connection.close();
  assert.ok(await Promise.race([closed.then(() => true), sleep(3000).then(() => false)]), 'CONNECTION_CLOSED emitted');
  connection = null;
});
