// janus.plugin.streaming driven by janode 1.8 (Meetecho's own client: its Streaming plugin
// module where it fits, raw handle messages where exact shapes or error codes are checked) over
// the WebSocket transport. Mountpoint management (list with and without the admin key, info
// with and without the secret, create with media[] or the deprecated audio/video fields,
// mountpoints from the configuration, edit, enable/disable, kick_all, destroy, recording),
// plain RTP fed over UDP to the ports Cardea bound (info/list then show age_ms), viewers (watch
// with Cardea's offer, start with a hand-made answer, pause, configure, switch, stop) and the
// plugin's error codes. No browser: the viewers' PeerConnections never connect, so `start`
// answers "starting" (Janus says "started" only once ICE/DTLS is up). Where Cardea should match
// Janus 1.x's janus_streaming.c to the letter (default names and labels, offer mids, error
// texts), the differences are gathered and reported by a few dedicated tests at the end.
//
// The configuration gives a mountpoint list (so the sample mountpoint 1 and its fixed ports
// 5002/5004 are never used) and an admin_key (so `create` needs it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Janode from 'janode';
import StreamingPlugin from 'janode/plugins/streaming';
import { PluginSuite } from './janode-plugin.mjs';
import { mSections, answerTo, assertOnlyRtxBesides } from './sdp-kit.mjs';
import { launch, shutdown, sleep, tx, assertId, eventually } from './helpers.mjs';
import { withOwnCardea, stateFile } from './permanent-kit.mjs';

Janode.Logger.setLevel(process.env.JANODE_LOG || 'none');

const PLUGIN = 'janus.plugin.streaming';
const ST = StreamingPlugin.EVENT;
const T = { timeout: 20000 };

const ADMIN_KEY = 'streaming-admin-key';
const CFG = 7001; // configured: public, secret, Opus/VP8, ports 0
const CFG_SECRET = 'cfgsecret';
const CFG_PRIV = 7002; // configured: private, no secret, PCMU

const CONFIG = `plugins:
  streaming:
    admin_key: "${ADMIN_KEY}"
    mountpoints:
      - type: rtp
        id: ${CFG}
        name: cfg-mp
        description: "Configured Opus/VP8"
        metadata: "cfg-meta"
        secret: "${CFG_SECRET}"
        media:
          - { type: audio, mid: a, port: 0, pt: 111, codec: opus }
          - { type: video, mid: v, port: 0, pt: 100, codec: vp8 }
      - type: rtp
        id: ${CFG_PRIV}
        description: "Configured private PCMU"
        is_private: true
        media:
          - { type: audio, mid: pa, label: phone, port: 0, pt: 0, codec: pcmu }
`;

let cardea;
let connection;
let session;
const suite = new PluginSuite({ plugin: PLUGIN, key: 'streaming', module: StreamingPlugin, prefix: 'st' });
const { handles, seen } = suite;
const waitSeen = (pred, opts) => suite.waitSeen(pred, opts);
const janodeEvent = (h, name, timeout) => suite.janodeEvent(h, name, timeout);
const attach = () => suite.attach();
const lastReply = (h) => suite.lastReply(h);
const send = (h, body, jsep) => suite.send(h, body, jsep);
const syncOk = (h, body) => suite.syncOk(h, body);
const asyncOk = (h, body, jsep) => suite.asyncOk(h, body, jsep);
const expectStError = (h, body, code, opts) => suite.expectError(h, body, code, opts);

// ---------------------------------------------------------------------------------------------
// Helpers

/** A fresh mountpoint id (JS-safe, unlikely to collide with the configured ones). */
const mpId = () => 100000 + Math.floor(Math.random() * 1e12);

const waitEvent = (h, pred, opts) => suite.waitEvent(h, pred, opts);

/** Waits for a Janus "hangup" on handle h. */
function waitHangup(h, { from = 0, timeout = 4000 } = {}) {
  return waitSeen((m) => m.janus === 'hangup' && m.sender === h.id, { from, timeout, what: `hangup on handle ${h.id}` });
}

const eventsOf = (h, from) => suite.eventsOf(h, from);

/** Plugin error through janode's high-level API: rejects with "<code> <text>". */
async function expectJanodeReject(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.ok(e.message.startsWith(`${code} `), `janode error ${e.message}, expected ${code}`);
    return true;
  });
}

const status = (s) => ({ streaming: 'event', result: { status: s } });

// ----- mountpoints --------------------------------------------------------------------------

let mgr; // a handle for management requests

/** Opus (mid a, pt 111) + VP8 (mid v, pt 100) on free ports. */
const AV = () => [
  { type: 'audio', mid: 'a', port: 0, pt: 111, codec: 'opus' },
  { type: 'video', mid: 'v', port: 0, pt: 100, codec: 'vp8' },
];

/** Creates an rtp mountpoint (admin_key added); returns the raw "created" data. */
async function create(body) {
  const d = await syncOk(mgr, { request: 'create', type: 'rtp', admin_key: ADMIN_KEY, ...body });
  assert.equal(d.streaming, 'created', JSON.stringify(d));
  return d;
}

/**
 * Creates on ports just released by a destroy: the sockets close asynchronously (in Janus as
 * well), so a 456 is retried for at most 3 s. Returns the raw reply data.
 */
async function createOnReleasedPorts(body) {
  let d;
  await eventually(async () => {
    d = (await send(mgr, { request: 'create', type: 'rtp', admin_key: ADMIN_KEY, ...body })).plugindata?.data;
    return d?.error_code !== 456;
  }, { timeout: 3000, interval: 200 });
  assert.equal(d?.streaming, 'created', `create on released ports: ${JSON.stringify(d)}`);
  return d;
}

/** The list entry of a mountpoint (undefined when not listed). */
async function listed(id, extra = {}) {
  const d = await syncOk(mgr, { request: 'list', ...extra });
  assert.equal(d.streaming, 'list', JSON.stringify(d));
  assert.ok(Array.isArray(d.list), JSON.stringify(d));
  return d.list.find((m) => m.id === id);
}

/** info's data.info. */
async function info(id, secret) {
  const body = { request: 'info', id };
  if (secret !== undefined) body.secret = secret;
  const d = await syncOk(mgr, body);
  assert.deepEqual(Object.keys(d).sort(), ['info', 'streaming'], JSON.stringify(d));
  assert.equal(d.streaming, 'info');
  return d.info;
}

/** A mountpoint's media entries without their labels (checked on their own). */
const noLabel = (media) => media.map(({ label, ...rest }) => rest);

const ADMIN_FIELDS = ['name', 'secret', 'pin', 'is_private', 'viewers'];

// ----- RTP over UDP ---------------------------------------------------------------------------

const u16 = () => randomBytes(2).readUInt16BE(0);
const u32 = () => randomBytes(4).readUInt32BE(0);

function rtpPacket({ pt, seq, ts, ssrc, marker = false, payload }) {
  const b = Buffer.alloc(12 + payload.length);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | (pt & 0x7f);
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(ts >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  payload.copy(b, 12);
  return b;
}

// An Opus packet (TOC of a 20 ms CELT frame, then filler) and a VP8 key frame packet: payload
// descriptor S=1 PID=0, then a key frame tag (P bit 0) and the key frame start code, 640x480.
const OPUS = Buffer.from([0xfc, 0xff, 0xfe, ...randomBytes(40)]);
const VP8_KEY = Buffer.from([0x10, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01, ...randomBytes(60)]);

/**
 * Sends plain RTP to host:port every `interval` ms until stop() (at most `max` packets).
 */
function feeder(port, { host = '127.0.0.1', pt, payload, step, interval = 30, max = 400 }) {
  const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  sock.on('error', () => { /* surfaced by the missing age_ms */ });
  let seq = u16();
  let ts = u32();
  const ssrc = u32() || 1;
  let n = 0;
  const tick = () => {
    if (n++ >= max) { clearInterval(timer); return; }
    sock.send(rtpPacket({ pt, seq, ts, ssrc, marker: true, payload }), port, host);
    seq += 1;
    ts += step;
  };
  const timer = setInterval(tick, interval);
  tick();
  return {
    get sent() { return n; },
    stop() { clearInterval(timer); try { sock.close(); } catch { /* closed */ } },
  };
}

/** The media entry of `mid` in info (with the secret when given). */
async function mediaInfo(id, mid, secret) {
  const i = await info(id, secret);
  const m = i.media.find((x) => x.mid === mid);
  assert.ok(m, `mid ${mid} in info ${JSON.stringify(i)}`);
  return m;
}

/** Feeds `port` until info shows age_ms for `mid` (bounded); returns that media entry. */
async function feedUntilAge(id, mid, port, host, rtp, secret) {
  const f = feeder(port, { host: host ?? '127.0.0.1', ...rtp });
  try {
    let last;
    const ok = await eventually(async () => {
      last = await mediaInfo(id, mid, secret);
      return last.age_ms !== undefined;
    }, { timeout: 5000, interval: 150 });
    assert.ok(ok, `info shows age_ms for mid ${mid} after ${f.sent} RTP packets to ${host ?? '127.0.0.1'}:${port}: ${JSON.stringify(last)}`);
    return last;
  } finally {
    f.stop();
  }
}

const OPUS_RTP = { pt: 111, payload: OPUS, step: 960 };
const VP8_RTP = { pt: 100, payload: VP8_KEY, step: 3000 };

// ----- SDP --------------------------------------------------------------------------------------




/**
 * Asserts an offer has sendonly m-lines [kind, mountpoint mid, pt, encoding name] in this order
 * (the mids are checked on their own, in one test: see there).
 */
function assertOffer(jsep, expected) {
  assert.equal(jsep?.type, 'offer', `jsep offer expected: ${JSON.stringify(jsep)}`);
  const ms = mSections(jsep.sdp);
  assert.deepEqual(ms.map((m) => m.kind), expected.map(([k]) => k),
    `one m-line per subscribed stream, in the mountpoint's order:\n${jsep.sdp}`);
  assert.ok(ms.every((m) => m.mid !== undefined), `every m-line has a mid:\n${jsep.sdp}`);
  ms.forEach((m, i) => {
    const [, , pt, name] = expected[i];
    assert.equal(m.dir, 'sendonly', `sendonly m-line ${m.mid}:\n${jsep.sdp}`);
    assert.notEqual(m.port, 0, `m-line ${m.mid} is live:\n${jsep.sdp}`);
    assert.deepEqual(m.codecs, [String(pt)], `m-line ${m.mid} carries ${name} under PT ${pt} only:\n${jsep.sdp}`);
    assert.equal(m.rtpmap[pt], name, `PT ${pt} is ${name}:\n${jsep.sdp}`);
    assertOnlyRtxBesides(m, pt, jsep.sdp);
  });
  return ms;
}

const OPUS_VP8_OFFER = [['audio', 'a', 111, 'opus'], ['video', 'v', 96, 'VP8']];

/** watch: "preparing" (exactly) with an offer; returns the offer. */
async function watch(h, body) {
  const r = await asyncOk(h, { request: 'watch', ...body });
  assert.deepEqual(r.plugindata.data, status('preparing'), JSON.stringify(r));
  assert.equal(r.jsep?.type, 'offer', `watch brings an offer: ${JSON.stringify(r)}`);
  return r.jsep;
}

/** watch + start with a hand-made answer: "starting" (the PC never connects). */
async function watchAndStart(h, body) {
  const offer = await watch(h, body);
  const r = await asyncOk(h, { request: 'start' }, answerTo(offer.sdp));
  assert.deepEqual(r.plugindata.data, status('starting'), JSON.stringify(r));
  assert.equal(r.jsep, undefined);
  return offer;
}

// ---------------------------------------------------------------------------------------------

before(async () => {
  cardea = await launch({ extraYaml: CONFIG });
  connection = await suite.connect(cardea.ws);
  session = suite.session;
});

after(async () => {
  await suite.close();
  await shutdown(cardea);
});

// ----- list / info ------------------------------------------------------------------------------

test('server_info lists janus.plugin.streaming; list: the configured public mountpoint, not the private one, no sample 1', T, async () => {
  const si = await connection.getInfo();
  assert.ok(Object.hasOwn(si.plugins, PLUGIN), `plugins: ${JSON.stringify(Object.keys(si.plugins))}`);
  assert.equal(si.plugins[PLUGIN].name, 'JANUS Streaming plugin');
  mgr = await attach();

  // janode's own list() digests the reply into {list}.
  const viaJanode = await mgr.list();
  assert.ok(Array.isArray(viaJanode.list), JSON.stringify(viaJanode));
  assert.ok(viaJanode.list.some((m) => m.id === CFG), `janode list() has ${CFG}: ${JSON.stringify(viaJanode)}`);

  const r = await send(mgr, { request: 'list' });
  assert.equal(r.janus, 'success');
  assert.deepEqual(Object.keys(r.plugindata.data).sort(), ['list', 'streaming']);
  const list = r.plugindata.data.list;
  assert.equal(list.find((m) => m.id === 1), undefined, `a configured list replaces the sample mountpoint 1: ${JSON.stringify(list)}`);
  assert.equal(list.find((m) => m.id === CFG_PRIV), undefined, `private mountpoints are not listed: ${JSON.stringify(list)}`);
  const e = list.find((m) => m.id === CFG);
  assert.ok(e, `configured mountpoint ${CFG} listed: ${JSON.stringify(list)}`);
  assert.deepEqual({ ...e, media: noLabel(e.media) }, {
    id: CFG, type: 'live', description: 'Configured Opus/VP8', metadata: 'cfg-meta', enabled: true,
    media: [{ mid: 'a', type: 'audio' }, { mid: 'v', type: 'video' }],
  }, 'list entry (no age_ms before any packet, no secret)');
  assert.ok(e.media.every((m) => typeof m.label === 'string' && m.label.length > 0), JSON.stringify(e));
});

test('list with the admin_key shows private mountpoints too; a wrong admin_key -> 457', T, async () => {
  const priv = await listed(CFG_PRIV, { admin_key: ADMIN_KEY });
  assert.ok(priv, 'private mountpoint listed with the admin key');
  assert.deepEqual(priv, {
    id: CFG_PRIV, type: 'live', description: 'Configured private PCMU', enabled: true,
    media: [{ mid: 'pa', type: 'audio', label: 'phone' }],
  });
  assert.ok(await listed(CFG, { admin_key: ADMIN_KEY }), 'public ones too');
  const viaJanode = await mgr.list({ admin_key: ADMIN_KEY });
  assert.ok(viaJanode.list.some((m) => m.id === CFG_PRIV));
  await expectStError(mgr, { request: 'list', admin_key: 'not-the-key' }, 457, { sync: true });
});

test('info without the secret: public fields only; with it: name, secret, viewers and the bound ports', T, async () => {
  const pub = await info(CFG);
  for (const k of ADMIN_FIELDS) assert.equal(k in pub, false, `no ${k} without the secret: ${JSON.stringify(pub)}`);
  assert.deepEqual({ ...pub, media: noLabel(pub.media) }, {
    id: CFG, description: 'Configured Opus/VP8', metadata: 'cfg-meta', enabled: true, type: 'live',
    media: [
      { mindex: 0, type: 'audio', mid: 'a', pt: 111, codec: 'opus', rtpmap: 'opus/48000/2' },
      { mindex: 1, type: 'video', mid: 'v', pt: 100, codec: 'vp8', rtpmap: 'VP8/90000' },
    ],
  }, 'public info (no port, no age_ms before any packet)');
  // A wrong secret is no error: the answer is the public one.
  assert.deepEqual(await info(CFG, 'wrong'), pub, 'a wrong secret gets the public fields');

  const adm = await info(CFG, CFG_SECRET);
  assert.equal(adm.name, 'cfg-mp');
  assert.equal(adm.secret, CFG_SECRET);
  assert.equal(adm.viewers, 0);
  assert.equal('pin' in adm, false, 'no pin set');
  assert.equal('is_private' in adm, false, 'is_private only when true');
  const ports = adm.media.map((m) => m.port);
  for (const p of ports) assert.ok(Number.isInteger(p) && p > 0 && p < 65536, `port 0 in the config is bound to a real port: ${JSON.stringify(adm)}`);
  assert.notEqual(ports[0], ports[1], 'one port per stream');
  assert.deepEqual(noLabel(adm.media).map(({ port, ...m }) => m), noLabel(pub.media));

  // janode's info() resolves with data.info.
  const j = await mgr.info({ id: CFG, secret: CFG_SECRET });
  assert.equal(j.id, CFG);
  assert.equal(j.name, 'cfg-mp');

  // A mountpoint without a secret shows everything to anyone.
  const priv = await info(CFG_PRIV);
  assert.equal(priv.is_private, true);
  assert.equal(priv.viewers, 0);
  assert.equal(typeof priv.name, 'string');
  assert.equal(priv.media.length, 1);
  assert.equal(priv.media[0].codec, 'pcmu');
  assert.equal(priv.media[0].rtpmap, 'PCMU/8000');
  assert.equal(priv.media[0].pt, 0);
  assert.equal(priv.media[0].label, 'phone');
  assert.ok(priv.media[0].port > 0, JSON.stringify(priv));
});

test('info errors: unknown id -> 455, missing id -> 453, id not a positive integer -> 454', T, async () => {
  const nope = mpId();
  await expectStError(mgr, { request: 'info', id: nope }, 455, { sync: true, error: `No such mountpoint/stream ${nope}` });
  await expectStError(mgr, { request: 'info' }, 453, { sync: true, error: 'Missing element (id)' });
  await expectStError(mgr, { request: 'info', id: 'abc' }, 454, { sync: true });
  await expectStError(mgr, { request: 'info', id: -3 }, 454, { sync: true });
  await expectJanodeReject(mgr.info({ id: nope }), 455);
});

// ----- create -----------------------------------------------------------------------------------

const M1 = mpId(); // Opus/VP8, secret s1: the viewers' main mountpoint
let M1ports; // [{type, mid, port, host?}]

test('create with media[] and port 0: created with the real ports; list and info show the mountpoint', T, async () => {
  const d = await create({
    id: M1, name: 'm-one', description: 'Mountpoint one', metadata: 'meta one', secret: 's1', is_private: false,
    media: AV(),
  });
  assert.deepEqual(Object.keys(d).sort(), ['created', 'permanent', 'stream', 'streaming']);
  assert.equal(d.created, 'm-one');
  assert.equal(d.permanent, false);
  assert.equal(d.warning, undefined, 'no warning with media[]');
  const { ports, ...stream } = d.stream;
  assert.deepEqual(stream, { id: M1, type: 'live', description: 'Mountpoint one', is_private: false });
  assert.ok(Array.isArray(ports), `stream.ports: ${JSON.stringify(d)}`);
  assert.equal(d.stream.audio_port, undefined, 'no legacy fields with media[]');
  assert.deepEqual(ports.map((p) => [p.type, p.mid]), [['audio', 'a'], ['video', 'v']]);
  for (const p of ports) {
    assert.ok(Number.isInteger(p.port) && p.port > 0 && p.port < 65536, `a real port for ${p.mid}: ${JSON.stringify(d)}`);
    if (p.host !== undefined) assert.equal(typeof p.host, 'string');
  }
  assert.notEqual(ports[0].port, ports[1].port);
  M1ports = ports;

  const e = await listed(M1);
  assert.deepEqual({ ...e, media: noLabel(e.media) }, {
    id: M1, type: 'live', description: 'Mountpoint one', metadata: 'meta one', enabled: true,
    media: [{ mid: 'a', type: 'audio' }, { mid: 'v', type: 'video' }],
  });
  const i = await info(M1, 's1');
  assert.equal(i.name, 'm-one');
  assert.equal(i.viewers, 0);
  assert.deepEqual(i.media.map((m) => m.port), ports.map((p) => p.port), 'info shows the ports created told');
  assert.ok(i.media.every((m) => m.age_ms === undefined), `no age_ms before any packet: ${JSON.stringify(i)}`);
});

test('create through janode (createRtpMountpoint with media[]), private: not listed, info works; destroy through janode', T, async () => {
  const id = mpId();
  const c = await mgr.createRtpMountpoint({
    id, description: 'janode mp', admin_key: ADMIN_KEY, is_private: true,
    media: [{ type: 'audio', mid: 'x', port: 0, pt: 0, codec: 'pcmu' }],
  });
  assert.equal(c.id, id);
  assert.equal(c.description, 'janode mp');
  const raw = lastReply(mgr).plugindata.data;
  assert.equal(raw.streaming, 'created');
  assert.equal(raw.stream.is_private, true);
  assert.equal(raw.stream.ports[0].mid, 'x');
  assert.ok(raw.stream.ports[0].port > 0);
  assert.equal(await listed(id), undefined, 'private: not listed');
  assert.ok(await listed(id, { admin_key: ADMIN_KEY }), 'listed with the admin key');
  const i = await mgr.info({ id });
  assert.equal(i.is_private, true);
  const d = await mgr.destroyMountpoint({ id });
  assert.equal(d.id, id);
  assert.deepEqual(lastReply(mgr).plugindata.data, { streaming: 'destroyed', destroyed: id });
  await expectStError(mgr, { request: 'info', id }, 455, { sync: true });
});

test('create without an id: one is picked (JS-safe); janode createRtpMountpoint with id 0 too', T, async () => {
  const d = await create({ description: 'no id', media: [{ type: 'audio', mid: 'a', port: 0, pt: 111, codec: 'opus' }] });
  assertId(d.stream.id, 'picked mountpoint id');
  assert.ok(await listed(d.stream.id), 'listed under the picked id');
  await syncOk(mgr, { request: 'destroy', id: d.stream.id });
  // janode sends id: 0 (and e2ee: false, collision: 2000) when no id is given.
  const c = await mgr.createRtpMountpoint({ admin_key: ADMIN_KEY, media: [{ type: 'video', mid: 'v', port: 0, pt: 96, codec: 'vp8' }] });
  assertId(c.id, 'picked mountpoint id (janode)');
  await syncOk(mgr, { request: 'destroy', id: c.id });
});

test('RTP fed to the created ports: info and list show age_ms for that mid only, then for both', T, async () => {
  const [a, v] = M1ports;
  const am = await feedUntilAge(M1, 'a', a.port, a.host, OPUS_RTP, 's1');
  assert.ok(Number.isInteger(am.age_ms) && am.age_ms >= 0 && am.age_ms < 5000, `age_ms: ${JSON.stringify(am)}`);
  assert.equal((await mediaInfo(M1, 'v', 's1')).age_ms, undefined, 'nothing reached the video port yet');
  assert.ok((await mediaInfo(M1, 'a')).age_ms !== undefined, 'age_ms is public (info without the secret)');
  const e = await listed(M1);
  assert.ok(Number.isInteger(e.media.find((m) => m.mid === 'a').age_ms), `list shows age_ms: ${JSON.stringify(e)}`);
  assert.equal(e.media.find((m) => m.mid === 'v').age_ms, undefined);

  const vm = await feedUntilAge(M1, 'v', v.port, v.host, VP8_RTP, 's1');
  assert.ok(vm.age_ms >= 0 && vm.age_ms < 5000, JSON.stringify(vm));
  // The age grows once the source is quiet.
  const before = (await mediaInfo(M1, 'a')).age_ms;
  await sleep(600);
  const later = (await mediaInfo(M1, 'a')).age_ms;
  assert.ok(later >= before + 300, `age_ms grows without packets: ${before} -> ${later}`);
});

test('RTP fed to a configured mountpoint (port 0 in the config): age_ms', T, async () => {
  const adm = await info(CFG, CFG_SECRET);
  const a = adm.media.find((m) => m.mid === 'a');
  const am = await feedUntilAge(CFG, 'a', a.port, undefined, OPUS_RTP, CFG_SECRET);
  assert.ok(am.age_ms < 5000, JSON.stringify(am));
  const priv = await info(CFG_PRIV);
  await feedUntilAge(CFG_PRIV, 'pa', priv.media[0].port, undefined, { pt: 0, payload: randomBytes(160), step: 160 });
});

test('create with the deprecated audio/video fields: audio_port/video_port, warning deprecated_api, mids a and v', T, async () => {
  const id = mpId();
  const d = await create({
    id, description: 'legacy', audio: true, audioport: 0, audiopt: 111, audiocodec: 'opus',
    video: true, videoport: 0, videopt: 100, videocodec: 'vp8',
  });
  assert.equal(d.warning, 'deprecated_api', JSON.stringify(d));
  assert.equal(d.permanent, false);
  assert.equal(d.stream.ports, undefined, `no ports[] in the legacy answer: ${JSON.stringify(d)}`);
  assert.equal(d.stream.id, id);
  assert.equal(d.stream.type, 'live');
  assert.equal(d.stream.description, 'legacy');
  for (const k of ['audio_port', 'video_port']) {
    assert.ok(Number.isInteger(d.stream[k]) && d.stream[k] > 0, `${k}: ${JSON.stringify(d)}`);
  }
  assert.notEqual(d.stream.audio_port, d.stream.video_port);
  const i = await info(id);
  assert.deepEqual(noLabel(i.media).map(({ port, ...m }) => m), [
    { mindex: 0, type: 'audio', mid: 'a', pt: 111, codec: 'opus', rtpmap: 'opus/48000/2' },
    { mindex: 1, type: 'video', mid: 'v', pt: 100, codec: 'vp8', rtpmap: 'VP8/90000' },
  ]);
  assert.deepEqual(i.media.map((m) => m.port), [d.stream.audio_port, d.stream.video_port]);
  await feedUntilAge(id, 'v', d.stream.video_port, undefined, VP8_RTP);
  await syncOk(mgr, { request: 'destroy', id });
});

test('create through janode\'s legacy API (audio/video objects with rtpmap, as Janus still accepts)', T, async () => {
  const id = mpId();
  const c = await mgr.createRtpMountpoint({
    id, admin_key: ADMIN_KEY, description: 'janode legacy',
    audio: { port: 0, pt: 111, rtpmap: 'opus/48000/2' },
    video: { port: 0, pt: 100, rtpmap: 'VP8/90000' },
  });
  assert.equal(c.id, id);
  assert.ok(c.audio_port > 0, JSON.stringify(c));
  assert.ok(c.video_port > 0, JSON.stringify(c));
  const i = await info(id);
  assert.deepEqual(i.media.map((m) => [m.mid, m.codec]), [['a', 'opus'], ['v', 'vp8']]);
  await syncOk(mgr, { request: 'destroy', id });
});

test('create errors: id taken 456, type missing 453, rtsp without audio or video 456, files that cannot be read 456, bad codec 456, bad media 453', T, async () => {
  const body = (extra) => ({ request: 'create', type: 'rtp', admin_key: ADMIN_KEY, media: AV(), ...extra });
  await expectStError(mgr, body({ id: M1 }), 456, { sync: true, error: 'A stream with the provided ID already exists' });
  await expectStError(mgr, body({ id: CFG }), 456, { sync: true, error: 'A stream with the provided ID already exists' });
  await expectJanodeReject(mgr.createRtpMountpoint({ id: M1, admin_key: ADMIN_KEY, media: AV() }), 456);

  const id = mpId();
  const { type, ...untyped } = body({ id });
  await expectStError(mgr, untyped, 453, { sync: true, error: 'Missing element (type)' });
  // An rtsp mountpoint must stream audio or video; files must exist.
  await expectStError(mgr, body({ id, type: 'rtsp', url: 'rtsp://127.0.0.1:8554/x' }), 456, { sync: true });
  await expectStError(mgr, body({ id, type: 'live', filename: '/tmp/x.alaw' }), 456, { sync: true });
  await expectStError(mgr, body({ id, type: 'ondemand', filename: '/tmp/x.alaw' }), 456, { sync: true });
  // Codecs.
  await expectStError(mgr, body({ id, media: [{ type: 'audio', mid: 'a', port: 0, pt: 111, codec: 'mp3' }] }), 456, { sync: true });
  await expectStError(mgr, body({ id, media: [{ type: 'video', mid: 'v', port: 0, pt: 96, codec: 'theora' }] }), 456, { sync: true });
  await expectStError(mgr, body({ id, media: [{ type: 'audio', mid: 'a', port: 0, pt: 96, codec: 'vp8' }] }), 456, { sync: true });
  // media entries need type, mid and port.
  await expectStError(mgr, body({ id, media: [{ type: 'audio', port: 0, pt: 111, codec: 'opus' }] }), 453, { sync: true, error: 'Missing element (mid)' });
  await expectStError(mgr, body({ id, media: [{ mid: 'a', port: 0, pt: 111, codec: 'opus' }] }), 453, { sync: true, error: 'Missing element (type)' });
  await expectStError(mgr, body({ id, media: [{ type: 'audio', mid: 'a', pt: 111, codec: 'opus' }] }), 453, { sync: true, error: 'Missing element (port)' });
  // Nothing was created under that id.
  await expectStError(mgr, { request: 'info', id }, 455, { sync: true });
});

test('create with an unknown media type -> 456 "Unsupported media type in media stream" (Janus)', T, async () => {
  const id = mpId();
  await expectStError(mgr, {
    request: 'create', type: 'rtp', admin_key: ADMIN_KEY, id,
    media: [{ type: 'text', mid: 't', port: 0, pt: 111, codec: 'opus' }],
  }, 456, { sync: true });
});

test('svc (VP9 only, not with simulcast -> 456): info shows svc; iface binds the port there, an unknown interface -> 456', T, async () => {
  const svc = await create({ id: mpId(), media: [{ type: 'video', mid: 'v', port: 0, pt: 98, codec: 'vp9', svc: true }] });
  const info = await syncOk(mgr, { request: 'info', id: svc.stream.id, admin_key: ADMIN_KEY });
  assert.equal(info.info.media[0].svc, true, JSON.stringify(info));
  for (const media of [
    [{ type: 'video', mid: 'v', port: 0, pt: 96, codec: 'vp8', svc: true }],
    [{ type: 'video', mid: 'v', port: 0, pt: 98, codec: 'vp9', svc: true, simulcast: true, port2: 0, port3: 0 }],
    [{ type: 'audio', mid: 'a', port: 0, pt: 111, codec: 'opus', iface: 'no-such-if0' }],
  ]) {
    await expectStError(mgr, { request: 'create', type: 'rtp', admin_key: ADMIN_KEY, id: mpId(), media }, 456, { sync: true });
  }
  const on = await create({ id: mpId(), media: [{ type: 'audio', mid: 'a', port: 0, pt: 111, codec: 'opus', iface: '127.0.0.3' }] });
  assert.ok(on.stream.ports[0].port > 0, JSON.stringify(on));
});

test('create needs the configured admin_key: missing -> 453, wrong -> 457', T, async () => {
  const id = mpId();
  await expectStError(mgr, { request: 'create', type: 'rtp', id, media: AV() }, 453, { sync: true, error: 'Missing element (admin_key)' });
  await expectStError(mgr, { request: 'create', type: 'rtp', id, media: AV(), admin_key: 'nope' }, 457, { sync: true });
  await expectJanodeReject(mgr.createRtpMountpoint({ id, media: AV() }), 453);
  await expectStError(mgr, { request: 'info', id }, 455, { sync: true });
});

test('create on a port another mountpoint holds -> 456; once that one is destroyed the port is free', T, async () => {
  const owner = await create({ id: mpId(), media: [{ type: 'audio', mid: 'a', port: 0, pt: 111, codec: 'opus' }] });
  const port = owner.stream.ports[0].port;
  const id = mpId();
  const body = { request: 'create', type: 'rtp', admin_key: ADMIN_KEY, id, media: [{ type: 'audio', mid: 'a', port, pt: 111, codec: 'opus' }] };
  await expectStError(mgr, body, 456, { sync: true });
  await expectStError(mgr, { request: 'info', id }, 455, { sync: true });
  // A failed create binds nothing: the owner still gets its packets.
  await feedUntilAge(owner.stream.id, 'a', port, undefined, OPUS_RTP);
  await syncOk(mgr, { request: 'destroy', id: owner.stream.id });
  const { request, type, admin_key, ...rest } = body;
  const again = await createOnReleasedPorts(rest);
  assert.equal(again.stream.ports[0].port, port, 'the explicit port is the one bound');
  await feedUntilAge(id, 'a', port, undefined, OPUS_RTP);
  await syncOk(mgr, { request: 'destroy', id });
});

// ----- edit / enable / disable / recording --------------------------------------------------------

test('edit: secret missing -> 453, wrong -> 457; with it -> {streaming:"edited", id, permanent:false}; list/info show the changes', T, async () => {
  const id = mpId();
  await create({ id, description: 'before', secret: 'es', media: AV() });
  await expectStError(mgr, { request: 'edit', id, new_description: 'x' }, 453, { sync: true, error: 'Missing element (secret)' });
  await expectStError(mgr, { request: 'edit', id, secret: 'wrong', new_description: 'x' }, 457, { sync: true });
  await expectStError(mgr, { request: 'edit', id: mpId(), secret: 'es' }, 455, { sync: true });
  assert.equal((await listed(id)).description, 'before', 'refused edits changed nothing');

  const d = await syncOk(mgr, { request: 'edit', id, secret: 'es', new_description: 'after', new_metadata: 'new meta' });
  assert.deepEqual(d, { streaming: 'edited', id, permanent: false });
  const e = await listed(id);
  assert.equal(e.description, 'after');
  assert.equal(e.metadata, 'new meta');
  assert.equal((await info(id)).description, 'after');

  // new_secret: the old one no longer works.
  await syncOk(mgr, { request: 'edit', id, secret: 'es', new_secret: 'es2' });
  await expectStError(mgr, { request: 'edit', id, secret: 'es', new_description: 'y' }, 457, { sync: true });
  assert.equal((await info(id, 'es2')).secret, 'es2');

  // new_is_private hides it from list.
  await syncOk(mgr, { request: 'edit', id, secret: 'es2', new_is_private: true });
  assert.equal(await listed(id), undefined, 'private after edit');
  assert.equal((await info(id, 'es2')).is_private, true);
  await syncOk(mgr, { request: 'edit', id, secret: 'es2', new_is_private: false });
  assert.ok(await listed(id), 'public again');

  // new_pin: watching now needs it.
  await syncOk(mgr, { request: 'edit', id, secret: 'es2', new_pin: 'pp' });
  assert.equal((await info(id, 'es2')).pin, 'pp');
  const v = await attach();
  await expectStError(v, { request: 'watch', id }, 453, { sync: false });
  await expectStError(v, { request: 'watch', id, pin: 'nope' }, 457, { sync: false });
  await watch(v, { id, pin: 'pp' });
  await syncOk(mgr, { request: 'destroy', id, secret: 'es2' });
});

test('disable / enable: {streaming:"ok"}; list and info show enabled; secret checked', T, async () => {
  await expectStError(mgr, { request: 'disable', id: M1 }, 453, { sync: true });
  await expectStError(mgr, { request: 'disable', id: M1, secret: 'nope' }, 457, { sync: true });
  await expectStError(mgr, { request: 'enable', id: M1, secret: 'nope' }, 457, { sync: true });
  await expectStError(mgr, { request: 'disable', id: mpId(), secret: 's1' }, 455, { sync: true });
  assert.equal((await listed(M1)).enabled, true);

  assert.deepEqual(await syncOk(mgr, { request: 'disable', id: M1, secret: 's1' }), { streaming: 'ok' });
  assert.equal((await listed(M1)).enabled, false);
  assert.equal((await info(M1)).enabled, false);
  assert.deepEqual(await syncOk(mgr, { request: 'enable', id: M1, secret: 's1' }), { streaming: 'ok' });
  assert.equal((await listed(M1)).enabled, true);
  assert.equal((await info(M1)).enabled, true);

  // Through janode (its disable() adds stop_recording: true).
  assert.ok(await mgr.disable({ id: M1, secret: 's1' }));
  assert.equal((await info(M1)).enabled, false);
  assert.ok(await mgr.enable({ id: M1, secret: 's1' }));
  assert.equal((await info(M1)).enabled, true);
});

test('recording: start/stop per mid or per kind -> {streaming:"ok"}, .mjr files; Janus\'s errors', T, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cardea-st-rec-'));
  const id = mpId();
  const { stream } = await create({ id, secret: 'rs', media: AV() });
  const rec = (body) => ({ request: 'recording', id, secret: 'rs', ...body });
  await expectStError(mgr, { request: 'recording', id, secret: 'rs' }, 453, { sync: true, error: 'Missing element (action)' });
  await expectStError(mgr, rec({ action: 7 }), 454, { sync: true });
  await expectStError(mgr, rec({ action: 'pause' }), 454, { sync: true, error: 'Invalid action (should be start|stop)' });
  await expectStError(mgr, { request: 'recording', action: 'start', id: mpId(), secret: 'rs' }, 455, { sync: true });
  await expectStError(mgr, { request: 'recording', action: 'start', id }, 453, { sync: true, error: 'Missing element (secret)' });
  await expectStError(mgr, rec({ action: 'start', secret: 'nope' }), 457, { sync: true });
  await expectStError(mgr, rec({ action: 'start' }), 452, { sync: true, error: 'Missing audio, video and/or data' });
  await expectStError(mgr, rec({ action: 'stop' }), 452, { sync: true, error: 'Missing audio, video and or data' });
  await expectStError(mgr, rec({ action: 'start', media: 'a' }), 454, { sync: true });
  await expectStError(mgr, rec({ action: 'start', audio: true }), 454, { sync: true });
  await expectStError(mgr, rec({ action: 'stop', audio: 'yes' }), 454, { sync: true });
  await expectStError(mgr, rec({ action: 'start', media: [{ mid: 'a', filename: '/proc/no-such-dir/x' }] }), 459, { sync: true, error: 'Error starting recorder for audio' });

  const audioPort = stream.ports.find((p) => p.mid === 'a').port;
  const f = feeder(audioPort, { ...OPUS_RTP, interval: 20 });
  try {
    assert.deepEqual(await syncOk(mgr, rec({ action: 'start', media: [{ mid: 'a', filename: join(dir, 'a') }, { mid: 'nope', filename: join(dir, 'x') }] })), { streaming: 'ok' });
    await expectStError(mgr, rec({ action: 'start', media: [{ mid: 'a', filename: join(dir, 'b') }] }), 452, { sync: true, error: 'Recording for audio, video and/or data already started for this stream' });
    assert.equal((await mediaInfo(id, 'a', 'rs')).recording, 'a.mjr', 'info (with the secret) names the file');
    assert.equal((await mediaInfo(id, 'a')).recording, undefined, 'not without the secret');
    await sleep(600);
    assert.deepEqual(await syncOk(mgr, rec({ action: 'stop', media: [{ mid: 'a' }] })), { streaming: 'ok' });
    assert.equal((await mediaInfo(id, 'a', 'rs')).recording, undefined);
    // janode's own calls: the deprecated audio/video fields.
    assert.ok(await mgr.startRecording({ id, secret: 'rs', audio: join(dir, 'ja'), video: join(dir, 'jv') }));
    await expectJanodeReject(mgr.startRecording({ id, secret: 'rs', audio: join(dir, 'ja2') }), 452);
    await sleep(300);
    assert.ok(await mgr.stopRecording({ id, secret: 'rs' }));
    // disable stops recordings unless stop_recording is false.
    assert.deepEqual(await syncOk(mgr, rec({ action: 'start', media: [{ mid: 'a', filename: join(dir, 'd') }] })), { streaming: 'ok' });
    assert.deepEqual(await syncOk(mgr, { request: 'disable', id, secret: 'rs' }), { streaming: 'ok' });
    assert.equal((await mediaInfo(id, 'a', 'rs')).recording, undefined, 'disable closed the recording');
    await syncOk(mgr, { request: 'enable', id, secret: 'rs' });
  } finally {
    f.stop();
  }
  await sleep(400);
  const mjr = (name) => {
    const b = readFileSync(join(dir, name));
    assert.equal(b.subarray(0, 8).toString(), 'MJR00002', name);
    const header = JSON.parse(b.subarray(10, 10 + b.readUInt16BE(8)).toString());
    return { header, size: b.length };
  };
  const a = mjr('a.mjr');
  assert.equal(a.header.t, 'a');
  assert.equal(a.header.c, 'opus');
  assert.ok(a.size > 500, `a.mjr holds frames: ${a.size} bytes`);
  assert.equal(mjr('ja.mjr').header.c, 'opus');
  assert.equal(readFileSync(join(dir, 'jv.mjr')).toString(), 'MJR00002', 'a stream that got no packet: only the file magic');
  assert.ok(existsSync(join(dir, 'd.mjr')));
  assert.ok(!existsSync(join(dir, 'x.mjr')), 'an unknown mid records nothing');
  await syncOk(mgr, { request: 'destroy', id, secret: 'rs' });
  rmSync(dir, { recursive: true, force: true });
});

test('unknown request -> 452; no request -> 453', T, async () => {
  await expectStError(mgr, { request: 'frobnicate' }, 452, { sync: true, error: 'Unknown request \'frobnicate\'' });
  await expectStError(mgr, { id: M1 }, 453, { sync: true, error: 'Missing element (request)' });
});

// ----- viewers ----------------------------------------------------------------------------------

let V; // watches M1
let Voffer;

test('watch: {status:"preparing"} + an offer with one sendonly m-line per stream, Cardea\'s payload types', T, async () => {
  V = await attach();
  const j = await V.watch({ id: M1 });
  assert.equal(j.status, 'preparing');
  assert.equal(j.jsep?.type, 'offer');
  assert.equal(V.mp, M1, 'janode took the mountpoint');
  const r = lastReply(V);
  assert.equal(r.janus, 'event');
  assert.deepEqual(r.plugindata.data, status('preparing'));
  Voffer = r.jsep;
  // M1's source sends VP8 as PT 100: viewers get VP8 as 96 (and opus as 111).
  const ms = assertOffer(Voffer, OPUS_VP8_OFFER);
  assert.ok(ms.every((m) => m.proto === 'UDP/TLS/RTP/SAVPF'), Voffer.sdp);
  assert.ok(new RegExp(`^a=group:BUNDLE ${ms[0].mid} ${ms[1].mid}$`, 'm').test(Voffer.sdp), `one BUNDLE group:\n${Voffer.sdp}`);
  assert.ok(/^a=fingerprint:sha-256 /m.test(Voffer.sdp) && /^a=ice-ufrag:/m.test(Voffer.sdp), Voffer.sdp);
  assert.equal((await info(M1, 's1')).viewers, 1, 'one viewer');
});

// Known difference: str0m 0.25 picks each m-line's mid itself, so Cardea's offer cannot reuse
// the mountpoint's mids yet; `configure` accepts either name. Kept as a todo so it shows.
test('the offer\'s mids are the mountpoint\'s mids (Janus: JANUS_SDP_OA_MID, stream->mid), as media:[mid] and configure use them', { ...T, todo: 'str0m chooses the mids of an offer' }, async () => {
  const ms = mSections(Voffer.sdp);
  assert.deepEqual(ms.map((m) => m.mid), ['a', 'v'], `offer mids vs mountpoint mids a, v:\n${Voffer.sdp}`);
});

test('watch errors: watching twice -> 460, unknown id -> 455, missing id -> 453, a PIN -> 453 missing / 457 wrong', T, async () => {
  await expectStError(V, { request: 'watch', id: M1 }, 460, { sync: false, error: `Already watching mountpoint ${M1}` });
  await expectStError(V, { request: 'watch', id: CFG }, 460, { sync: false });
  const h = await attach();
  const nope = mpId();
  await expectStError(h, { request: 'watch', id: nope }, 455, { sync: false, error: `No such mountpoint/stream ${nope}` });
  await expectJanodeReject(h.watch({ id: nope }), 455);
  await expectStError(h, { request: 'watch' }, 453, { sync: false, error: 'Missing element (id)' });
  const pid = mpId();
  await create({ id: pid, pin: 'p1', media: AV() });
  await expectStError(h, { request: 'watch', id: pid }, 453, { sync: false, error: 'Missing element (pin)' });
  await expectStError(h, { request: 'watch', id: pid, pin: 'p2' }, 457, { sync: false });
  await expectJanodeReject(h.watch({ id: pid, pin: 'p2' }), 457);
  assert.equal((await info(pid)).viewers, 0, 'refused watches add no viewer');
  assertOffer(await watch(h, { id: pid, pin: 'p1' }), OPUS_VP8_OFFER);
  assert.equal((await info(pid)).viewers, 1);
  await syncOk(mgr, { request: 'destroy', id: pid });
});

test('watch a subset: media:["v"] -> only the video m-line; offer_audio:false -> no audio; PCMU mountpoint -> PT 0', T, async () => {
  const h1 = await attach();
  assertOffer(await watch(h1, { id: M1, media: ['v'] }), [['video', 'v', 96, 'VP8']]);
  const h2 = await attach();
  assertOffer(await watch(h2, { id: M1, media: ['a'] }), [['audio', 'a', 111, 'opus']]);
  const h3 = await attach();
  assertOffer(await watch(h3, { id: M1, offer_audio: false }), [['video', 'v', 96, 'VP8']]);
  // Private mountpoints can be watched by whoever knows the id.
  const h4 = await attach();
  assertOffer(await watch(h4, { id: CFG_PRIV }), [['audio', 'pa', 0, 'PCMU']]);
  assert.equal((await info(M1, 's1')).viewers, 4, 'V, h1, h2, h3');
  for (const h of [h1, h2, h3, h4]) await h.detach();
  assert.equal((await eventually(async () => (await info(M1, 's1')).viewers === 1, { timeout: 3000 })), true, 'detached viewers left');
});

test('start with the answer -> "starting"; pause -> "pausing"; start without JSEP -> "starting" again (no ICE here)', T, async () => {
  const r = await asyncOk(V, { request: 'start' }, answerTo(Voffer.sdp));
  assert.deepEqual(r.plugindata.data, status('starting'));
  assert.equal(r.jsep, undefined);
  const p = await V.pause();
  assert.equal(p.status, 'pausing');
  assert.deepEqual(lastReply(V).plugindata.data, status('pausing'));
  // Janus: "started" only once the PeerConnection is up (setup_media), else "starting".
  const again = await asyncOk(V, { request: 'start' });
  assert.deepEqual(again.plugindata.data, status('starting'));
});

test('configure: streams [{mid, send}] and the single {mid, send} form -> {result:{event:"configured"}}; janode configure', T, async () => {
  const r = await asyncOk(V, { request: 'configure', streams: [{ mid: 'v', send: false }] });
  assert.deepEqual(r.plugindata.data, { streaming: 'event', result: { event: 'configured' } });
  const r2 = await asyncOk(V, { request: 'configure', mid: 'v', send: true });
  assert.deepEqual(r2.plugindata.data, { streaming: 'event', result: { event: 'configured' } });
  const j = await V.configure({ audio: false });
  assert.ok(j, 'janode resolved configure()');
  assert.deepEqual(lastReply(V).plugindata.data, { streaming: 'event', result: { event: 'configured' } });
  await V.configure({ audio: true });
});

const M2 = mpId(); // same shape as M1 (Opus + VP8, other source PTs)
const M3 = mpId(); // audio only
const M4 = mpId(); // Opus + H.264

test('switch to a same-shaped mountpoint -> {switched:"ok", id}; viewers move; back through janode', T, async () => {
  await create({ id: M2, description: 'two', media: [
    { type: 'audio', mid: 'a2', port: 0, pt: 109, codec: 'opus' },
    { type: 'video', mid: 'v2', port: 0, pt: 97, codec: 'vp8' },
  ] });
  const r = await asyncOk(V, { request: 'switch', id: M2 });
  assert.deepEqual(r.plugindata.data, { streaming: 'event', result: { switched: 'ok', id: M2 } });
  assert.equal(r.jsep, undefined, 'same PeerConnection: no new offer');
  assert.equal((await info(M1, 's1')).viewers, 0, 'left M1');
  assert.equal((await info(M2)).viewers, 1, 'watching M2');
  // Watching M2 now: watching again still refused.
  await expectStError(V, { request: 'watch', id: M2 }, 460, { sync: false, error: `Already watching mountpoint ${M2}` });
  const j = await V.switch({ id: M1 });
  assert.equal(j.switched, 'ok');
  assert.equal(j.id, M1);
  assert.equal((await info(M1, 's1')).viewers, 1);
  assert.equal((await info(M2)).viewers, 0);
});

test('switch to a differently shaped mountpoint -> 458; unknown id -> 455; the viewer stays where it was', T, async () => {
  await create({ id: M3, media: [{ type: 'audio', mid: 'a', port: 0, pt: 111, codec: 'opus' }] });
  await create({ id: M4, media: [
    { type: 'audio', mid: 'a', port: 0, pt: 111, codec: 'opus' },
    { type: 'video', mid: 'v', port: 0, pt: 102, codec: 'h264' },
  ] });
  await expectStError(V, { request: 'switch', id: M3 }, 458, { sync: false });
  await expectStError(V, { request: 'switch', id: M4 }, 458, { sync: false });
  await expectJanodeReject(V.switch({ id: M4 }), 458);
  const nope = mpId();
  await expectStError(V, { request: 'switch', id: nope }, 455, { sync: false, error: `No such mountpoint/stream ${nope}` });
  await expectStError(V, { request: 'switch' }, 453, { sync: false, error: 'Missing element (id)' });
  assert.equal((await info(M1, 's1')).viewers, 1, 'still on M1');
  assert.equal((await info(M3)).viewers, 0);
  assert.equal((await info(M4)).viewers, 0);
});

test('requests without a mountpoint: start/pause/configure/switch -> 455; stop -> {status:"idle"}', T, async () => {
  const h = await attach();
  await expectStError(h, { request: 'start' }, 455, { sync: false });
  await expectStError(h, { request: 'pause' }, 455, { sync: false });
  await expectStError(h, { request: 'configure', streams: [{ mid: 'a', send: false }] }, 455, { sync: false });
  await expectStError(h, { request: 'switch', id: M2 }, 455, { sync: false });
  const r = await asyncOk(h, { request: 'stop' });
  assert.deepEqual(r.plugindata.data, status('idle'));
});

test('stop -> {status:"stopping"}, then {status:"stopped"}; the viewer left and may watch again', T, async () => {
  const h = await attach();
  const w = await h.watch({ id: M2 });
  assert.equal(w.status, 'preparing');
  const s = await h.start({ jsep: answerTo(w.jsep.sdp) });
  assert.equal(s.status, 'starting', 'janode start() with the answer');
  assert.deepEqual(lastReply(h).plugindata.data, status('starting'));
  assert.equal((await info(M2)).viewers, 1);
  const from = seen.length;
  const j = await h.stop();
  assert.equal(j.status, 'stopping');
  assert.deepEqual(lastReply(h).plugindata.data, status('stopping'));
  await waitEvent(h, (d) => d.result?.status === 'stopped', { from, what: 'stopped' });
  assert.deepEqual(eventsOf(h, from).filter((d) => d.result?.status === 'stopped'), [status('stopped')], 'one "stopped"');
  assert.equal((await info(M2)).viewers, 0, 'left M2');
  // Stopped: requests that need a mountpoint are refused; watching again works.
  await expectStError(h, { request: 'pause' }, 455, { sync: false });
  await waitHangup(h, { from }).catch(() => null); // let the PeerConnection go before a new offer
  assertOffer(await watch(h, { id: M2 }), [['audio', 'a2', 111, 'opus'], ['video', 'v2', 96, 'VP8']]);
  assert.equal((await info(M2)).viewers, 1);
  await asyncOk(h, { request: 'stop' });
});

test('a viewer whose handle is detached leaves its mountpoint', T, async () => {
  const h = await attach();
  await watchAndStart(h, { id: M3 });
  assert.equal((await info(M3)).viewers, 1);
  await h.detach();
  assert.ok(await eventually(async () => (await info(M3)).viewers === 0, { timeout: 3000 }), 'viewers back to 0 after detach');
});

test('kick_all: secret checked; {streaming:"kicked_all"}; viewers get {status:"kicked_all"} and a hangup; they may watch again', T, async () => {
  const id = mpId();
  await create({ id, secret: 'ks', media: AV() });
  const k1 = await attach();
  const k2 = await attach();
  await watchAndStart(k1, { id });
  await watch(k2, { id });
  assert.equal((await info(id, 'ks')).viewers, 2);
  await expectStError(mgr, { request: 'kick_all', id }, 453, { sync: true });
  await expectStError(mgr, { request: 'kick_all', id, secret: 'nope' }, 457, { sync: true });
  await expectStError(mgr, { request: 'kick_all', id: mpId(), secret: 'ks' }, 455, { sync: true });
  assert.equal((await info(id, 'ks')).viewers, 2, 'refused kicks kicked no one');

  const from = seen.length;
  const janodeKick = janodeEvent(k1, ST.STREAMING_STATUS, 4000);
  assert.deepEqual(await syncOk(mgr, { request: 'kick_all', id, secret: 'ks' }), { streaming: 'kicked_all' });
  for (const h of [k1, k2]) {
    const ev = await waitEvent(h, (d) => d.result?.status === 'kicked_all', { from, what: 'kicked_all' });
    assert.deepEqual(ev.plugindata.data, status('kicked_all'));
  }
  const jk = await janodeKick;
  assert.equal(jk?.status, 'kicked_all', `janode emitted ${ST.STREAMING_STATUS}: ${JSON.stringify(jk)}`);
  await waitHangup(k1, { from });
  assert.equal((await info(id, 'ks')).viewers, 0);
  assert.ok((await listed(id)), 'the mountpoint stays');
  await expectStError(k1, { request: 'pause' }, 455, { sync: false });
  await waitHangup(k2, { from, timeout: 2000 }).catch(() => null);
  assertOffer(await watch(k2, { id }), OPUS_VP8_OFFER);
  assert.equal((await info(id, 'ks')).viewers, 1);
  await syncOk(mgr, { request: 'destroy', id, secret: 'ks' });
});

test('destroy: secret checked; {streaming:"destroyed", destroyed:id}; viewers get {status:"stopped"} and a hangup; gone from list', T, async () => {
  const from0 = seen.length;
  await expectStError(mgr, { request: 'destroy', id: M1 }, 453, { sync: true, error: 'Missing element (secret)' });
  await expectStError(mgr, { request: 'destroy', id: M1, secret: 'nope' }, 457, { sync: true });
  assert.ok(await listed(M1), 'refused destroys destroyed nothing');
  assert.equal(eventsOf(V, from0).length, 0, 'and told the viewer nothing');

  const from = seen.length;
  const d = await syncOk(mgr, { request: 'destroy', id: M1, secret: 's1' });
  assert.deepEqual(d, { streaming: 'destroyed', destroyed: M1 });
  const ev = await waitEvent(V, (x) => x.result?.status === 'stopped', { from, what: 'stopped after destroy' });
  assert.deepEqual(ev.plugindata.data, status('stopped'));
  await waitHangup(V, { from });
  assert.equal(eventsOf(V, from).filter((x) => x.result?.status === 'stopped').length, 1, 'one "stopped"');
  assert.equal(await listed(M1), undefined, 'gone from list');
  await expectStError(mgr, { request: 'info', id: M1 }, 455, { sync: true, error: `No such mountpoint/stream ${M1}` });
  await expectStError(mgr, { request: 'destroy', id: M1, secret: 's1' }, 455, { sync: true });
  await expectJanodeReject(mgr.destroyMountpoint({ id: M1, secret: 's1' }), 455);
  await expectStError(V, { request: 'start' }, 455, { sync: false });
  // Its ports are free again.
  const again = await createOnReleasedPorts({ id: M1, media: [
    { type: 'audio', mid: 'a', port: M1ports[0].port, pt: 111, codec: 'opus' },
    { type: 'video', mid: 'v', port: M1ports[1].port, pt: 100, codec: 'vp8' },
  ] });
  assert.deepEqual(again.stream.ports.map((p) => p.port), M1ports.map((p) => p.port));
  await syncOk(mgr, { request: 'destroy', id: M1 });
  for (const id of [M2, M3, M4]) await syncOk(mgr, { request: 'destroy', id });
});

// ----- Janus's exact defaults and wording ---------------------------------------------------------

test('defaults as in Janus: a media label defaults to its type; no name -> "mp-<id>", described by that name', T, async () => {
  const id = mpId();
  const d = await create({ id, media: AV() });
  const i = await info(id);
  const problems = [];
  if (d.created !== `mp-${id}`) problems.push(`created: ${JSON.stringify(d.created)}, Janus says "mp-${id}"`);
  if (i.name !== `mp-${id}`) problems.push(`info.name: ${JSON.stringify(i.name)}, Janus says "mp-${id}"`);
  if (i.description !== `mp-${id}`) problems.push(`info.description: ${JSON.stringify(i.description)}, Janus says "mp-${id}"`);
  const labels = i.media.map((m) => m.label);
  if (JSON.stringify(labels) !== '["audio","video"]') problems.push(`labels: ${JSON.stringify(labels)}, Janus says ["audio","video"]`);
  const listLabels = (await listed(id)).media.map((m) => m.label);
  if (JSON.stringify(listLabels) !== '["audio","video"]') problems.push(`list labels: ${JSON.stringify(listLabels)}`);
  const cfgLabels = (await info(CFG)).media.map((m) => m.label);
  if (JSON.stringify(cfgLabels) !== '["audio","video"]') problems.push(`configured mountpoint labels: ${JSON.stringify(cfgLabels)}`);
  await syncOk(mgr, { request: 'destroy', id });
  assert.deepEqual(problems, []);
});

test('error texts as in Janus (JANUS_CHECK_SECRET, JSON validation, configure)', T, async () => {
  const problems = [];
  const check = async (h, body, code, text) => {
    const r = await send(h, body);
    const d = r.plugindata?.data ?? {};
    if (d.error_code !== code || d.error !== text) {
      problems.push(`${JSON.stringify(body)} -> ${d.error_code} ${JSON.stringify(d.error)}; Janus: ${code} ${JSON.stringify(text)}`);
    }
  };
  await check(mgr, { request: 'edit', id: CFG, secret: 'wrong' }, 457, 'Unauthorized (wrong secret)');
  await check(mgr, { request: 'list', admin_key: 'wrong' }, 457, 'Unauthorized (wrong admin_key)');
  await check(mgr, { request: 'info', id: 'abc' }, 454, 'Invalid element type (id should be a positive integer)');
  const h = await attach();
  await check(h, { request: 'start' }, 455, 'Can\'t start: no mountpoint set');
  await check(h, { request: 'switch', id: CFG }, 455, 'Can\'t switch: not on a mountpoint');
  await check(h, { request: 'configure', streams: [{ mid: 'a', send: false }] }, 455, 'Can\'t configure: not on a mountpoint');
  // Janus validates the pin's type even when the mountpoint has no pin.
  await check(await attach(), { request: 'watch', id: CFG_PRIV, pin: 5 }, 454, 'Invalid element type (pin should be a string)');
  const pid = mpId();
  await create({ id: pid, pin: 'pp', media: AV() });
  await check(h, { request: 'watch', id: pid, pin: 'wrong' }, 457, 'Unauthorized (wrong pin)');
  await syncOk(mgr, { request: 'destroy', id: pid });
  assert.deepEqual(problems, []);
});

// ----- permanent mountpoints ----------------------------------------------------------------------

const SUITE = { plugin: PLUGIN, key: 'streaming', module: StreamingPlugin, prefix: 'stp' };

test('permanent: create, edit and destroy with permanent:true survive a restart; the others do not', { timeout: 60000 }, async () => {
  const [A, B, C] = [mpId(), mpId(), mpId()];
  const mk = (id, extra) => ({ request: 'create', type: 'rtp', admin_key: ADMIN_KEY, id, media: AV(), ...extra });
  const first = await withOwnCardea({ extraYaml: CONFIG }, SUITE, async (s, h, c) => {
    const a = await s.syncOk(h, mk(A, { name: 'perm-a', description: 'kept', secret: 'sa', permanent: true }));
    assert.equal(a.permanent, true, JSON.stringify(a));
    assert.equal((await s.syncOk(h, mk(B, { secret: 'sb', permanent: true }))).permanent, true);
    assert.equal((await s.syncOk(h, mk(C, {}))).permanent, false);
    assert.deepEqual(await s.syncOk(h, {
      request: 'edit', id: A, secret: 'sa', new_description: 'kept and edited', new_metadata: 'new meta', permanent: true,
    }), { streaming: 'edited', id: A, permanent: true });
    assert.deepEqual(await s.syncOk(h, { request: 'destroy', id: B, secret: 'sb', permanent: true }),
      { streaming: 'destroyed', destroyed: B });
    assert.deepEqual(await s.syncOk(h, { request: 'destroy', id: CFG_PRIV, permanent: true }),
      { streaming: 'destroyed', destroyed: CFG_PRIV });
    const text = stateFile(c, 'streaming');
    assert.match(text, new RegExp(`id: ${A}`), text);
    assert.doesNotMatch(text, new RegExp(`id: ${B}`), text);
    assert.doesNotMatch(text, new RegExp(ADMIN_KEY), `the admin key is not saved: ${text}`);
  });
  await withOwnCardea({ config: first.config }, SUITE, async (s, h) => {
    const exists = async (id) => (await s.syncOk(h, { request: 'exists', id })).exists;
    assert.equal(await exists(A), true, 'permanent mountpoint back after the restart');
    assert.equal(await exists(B), false, 'permanently destroyed mountpoint stays gone');
    assert.equal(await exists(CFG_PRIV), false, 'permanently destroyed configured mountpoint stays gone');
    assert.equal(await exists(CFG), true, 'the other configured mountpoint is still there');
    assert.equal(await exists(C), false, 'a mountpoint that was not permanent is gone');
    const info = (await s.syncOk(h, { request: 'info', id: A, secret: 'sa' })).info;
    assert.equal(info.name, 'perm-a', JSON.stringify(info));
    assert.equal(info.description, 'kept and edited');
    assert.equal(info.metadata, 'new meta');
    assert.equal(info.media.length, 2);
  });
});

test('permanent without a configuration file -> 470, and nothing is created, edited or destroyed', { timeout: 30000 }, async () => {
  await withOwnCardea({ noConfig: true }, SUITE, async (s, h) => {
    const p = mpId();
    await s.expectError(h, { request: 'create', type: 'rtp', id: p, media: AV(), permanent: true }, 470,
      { sync: true, error: "No configuration file, can't create permanent mountpoint" });
    assert.equal((await s.syncOk(h, { request: 'exists', id: p })).exists, false, 'refused mountpoint not created');
    assert.equal((await s.syncOk(h, { request: 'create', type: 'rtp', id: p, media: AV() })).permanent, false);
    await s.expectError(h, { request: 'edit', id: p, new_description: 'x', permanent: true }, 470,
      { sync: true, error: "No configuration file, can't edit mountpoint permanently" });
    await s.expectError(h, { request: 'destroy', id: p, permanent: true }, 470,
      { sync: true, error: "No configuration file, can't destroy mountpoint permanently" });
    assert.equal((await s.syncOk(h, { request: 'exists', id: p })).exists, true);
  });
});
