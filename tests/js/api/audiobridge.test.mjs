// janus.plugin.audiobridge driven by janode 1.8 (Meetecho's own client: its AudioBridge plugin
// module where it fits, raw handle messages where exact shapes or error codes are checked) over
// the WebSocket transport. Room management (list, exists, create, edit, allowed, destroy,
// listparticipants, kick, kick_all, mute/unmute, mute_room/unmute_room, suspend/resume,
// resetdecoder), announcements (play_file, is_playing, listannouncements, stop_file, with an
// Ogg/Opus file made by ffmpeg), participants (join, configure with a hand-made Chrome-like
// audio offer, generate_offer answered with configure, leave, hangup, detach) and every error
// code of 480–494 a client can reach. No browser: the PeerConnections never connect, so every
// participant stays `setup: false`.
//
// What is expected is Janus 1.x's janus_audiobridge.c (shapes, codes and error texts) with its
// sample configuration (room 1234, "Demo Room", 16 kHz, secret adminpwd), which Cardea keeps
// when the configuration has no `plugins.audiobridge` section.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Janode from 'janode';
import AudioBridgePlugin from 'janode/plugins/audiobridge';
import { PluginSuite } from './janode-plugin.mjs';
import { hex, fingerprint, mSections, answerTo } from './sdp-kit.mjs';
import { launch, shutdown, sleep, assertId, eventually } from './helpers.mjs';
import { withOwnCardea, stateFile } from './permanent-kit.mjs';

Janode.Logger.setLevel(process.env.JANODE_LOG || 'none');

const PLUGIN = 'janus.plugin.audiobridge';
const AB = AudioBridgePlugin.EVENT;
const T = { timeout: 15000 };
const DEMO = 1234;
const DEMO_SECRET = 'adminpwd';

let cardea;
let connection;
let session;
let dir;
let toneFile; // 1 s of 440 Hz, Ogg/Opus
const suite = new PluginSuite({ plugin: PLUGIN, key: 'audiobridge', module: AudioBridgePlugin, prefix: 'ab' });
const { seen } = suite;
const waitSeen = (pred, opts) => suite.waitSeen(pred, opts);
const janodeEvent = (h, name, timeout) => suite.janodeEvent(h, name, timeout);
const attach = () => suite.attach();
const lastReply = (h) => suite.lastReply(h);
const send = (h, body, jsep) => suite.send(h, body, jsep);
const syncOk = (h, body) => suite.syncOk(h, body);
const asyncOk = (h, body, jsep) => suite.asyncOk(h, body, jsep);
const expectAbError = (h, body, code, opts) => suite.expectError(h, body, code, opts);

// ---------------------------------------------------------------------------------------------
// Helpers

/** A fresh room id (JS-safe, unlikely to collide with 1234 or another test's room). */
const roomId = () => 100000 + Math.floor(Math.random() * 1e12);
/** A fresh participant id. */
const userId = () => 1 + Math.floor(Math.random() * 1e12);

const waitEvent = (h, pred, opts) => suite.waitEvent(h, pred, opts);

const eventsOf = (h, from) => suite.eventsOf(h, from);

/** Plugin error through janode's high-level API: rejects with "<code> <text>". */
async function expectJanodeReject(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.ok(e.message.startsWith(`${code} `), `janode error ${e.message}, expected ${code}`);
    return true;
  });
}

// ----- SDP --------------------------------------------------------------------------------------

const AUDIO = [
  { pt: 111, map: 'opus/48000/2', fmtp: 'minptime=10;useinbandfec=1', fb: ['transport-cc'] },
  { pt: 63, map: 'red/48000/2', fmtp: '111/111' },
  { pt: 9, map: 'G722/8000' },
  { pt: 0, map: 'PCMU/8000' },
  { pt: 8, map: 'PCMA/8000' },
  { pt: 13, map: 'CN/8000' },
  { pt: 110, map: 'telephone-event/48000' },
  { pt: 126, map: 'telephone-event/8000' },
];
const VIDEO = [
  { pt: 96, map: 'VP8/90000', fb: ['goog-remb', 'transport-cc', 'ccm fir', 'nack', 'nack pli'] },
  { pt: 97, map: 'rtx/90000', fmtp: 'apt=96' },
];

const ssrc = () => 1 + randomBytes(4).readUInt32BE(0) % 0xfffffff0;

/**
 * A Chrome-like offer of janus.js's AudioBridge demo: one sendrecv audio m-line (BUNDLE,
 * rtcp-mux, one host candidate, the audio level extension), with made-up but well-formed ICE
 * credentials, DTLS fingerprint and SSRC; `video` adds a sendrecv video m-line.
 */
function audioOffer({ audio = AUDIO, video = null } = {}) {
  const ufrag = hex(4);
  const pwd = hex(12);
  const fp = fingerprint();
  const stream = hex(8);
  const cname = hex(8);
  const port = 40000 + Math.floor(Math.random() * 20000);
  const sections = [['audio', audio]];
  if (video) sections.push(['video', video]);
  const lines = ['v=0', `o=- ${BigInt(`0x${hex(7)}`)} 2 IN IP4 127.0.0.1`, 's=-', 't=0 0',
    `a=group:BUNDLE ${sections.map((_, i) => i).join(' ')}`, 'a=extmap-allow-mixed', `a=msid-semantic: WMS ${stream}`];
  sections.forEach(([kind, codecs], mid) => {
    const track = hex(8);
    const main = ssrc();
    lines.push(
      `m=${kind} 9 UDP/TLS/RTP/SAVPF ${codecs.map((c) => c.pt).join(' ')}`,
      'c=IN IP4 0.0.0.0',
      'a=rtcp:9 IN IP4 0.0.0.0',
      `a=candidate:${1000 + mid} 1 udp 2122260223 127.0.0.1 ${port} typ host generation 0 network-id 1`,
      `a=ice-ufrag:${ufrag}`,
      `a=ice-pwd:${pwd}`,
      'a=ice-options:trickle',
      `a=fingerprint:sha-256 ${fp}`,
      'a=setup:actpass',
      `a=mid:${mid}`,
    );
    if (kind === 'audio') lines.push('a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level');
    lines.push(
      'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
      'a=sendrecv',
      `a=msid:${stream} ${track}`,
      'a=rtcp-mux',
    );
    for (const c of codecs) {
      lines.push(`a=rtpmap:${c.pt} ${c.map}`);
      for (const fb of c.fb ?? []) lines.push(`a=rtcp-fb:${c.pt} ${fb}`);
      if (c.fmtp) lines.push(`a=fmtp:${c.pt} ${c.fmtp}`);
    }
    lines.push(`a=ssrc:${main} cname:${cname}`, `a=ssrc:${main} msid:${stream} ${track}`);
  });
  return { type: 'offer', sdp: `${lines.join('\r\n')}\r\n` };
}

/** A browser's sendrecv answer to Cardea's offer (generate_offer). */
function sendrecvAnswerTo(offer) {
  const a = answerTo(offer);
  return { type: 'answer', sdp: a.sdp.replace(/a=recvonly\r\n/g, 'a=sendrecv\r\n') };
}

/**
 * The answer to an audio offer: its first m-line is audio, live, sendrecv, with exactly one
 * codec (opus under the offer's 111, or `pt` given); any other m-line is rejected (port 0).
 */
function assertAudioAnswer(jsep, { pt = 111, name = 'opus', lines = 1 } = {}) {
  assert.equal(jsep?.type, 'answer', `jsep answer expected: ${JSON.stringify(jsep)}`);
  const ms = mSections(jsep.sdp);
  assert.equal(ms.length, lines, `as many m-lines as offered:\n${jsep.sdp}`);
  const [a, ...rest] = ms;
  assert.equal(a.kind, 'audio', jsep.sdp);
  assert.notEqual(a.port, 0, `the audio m-line is accepted:\n${jsep.sdp}`);
  assert.ok(a.dir === 'sendrecv' || a.dir === undefined, `the participant sends and receives (${a.dir}):\n${jsep.sdp}`);
  assert.deepEqual(a.codecs, [String(pt)], `exactly one codec, ${name} under ${pt}:\n${jsep.sdp}`);
  assert.equal(a.rtpmap[pt], name, jsep.sdp);
  for (const m of rest) assert.equal(m.port, 0, `the ${m.kind} m-line is rejected:\n${jsep.sdp}`);
}

/** The offer of a generate_offer join: one sendrecv audio m-line with one codec. */
function assertAudioOffer(jsep, { name = 'opus' } = {}) {
  assert.equal(jsep?.type, 'offer', `jsep offer expected: ${JSON.stringify(jsep)}`);
  const ms = mSections(jsep.sdp);
  assert.deepEqual(ms.map((m) => m.kind), ['audio'], `one audio m-line:\n${jsep.sdp}`);
  assert.notEqual(ms[0].port, 0, jsep.sdp);
  assert.ok(ms[0].dir === 'sendrecv' || ms[0].dir === undefined, `sendrecv:\n${jsep.sdp}`);
  assert.equal(ms[0].codecs.length, 1, `one codec:\n${jsep.sdp}`);
  assert.equal(ms[0].rtpmap[ms[0].codecs[0]], name, jsep.sdp);
}

// ----- rooms and participants -------------------------------------------------------------------

/** The list entry of a room (undefined when not listed). */
async function listed(h, room, extra = {}) {
  const d = await syncOk(h, { request: 'list', ...extra });
  assert.equal(d.audiobridge, 'success');
  assert.ok(Array.isArray(d.list), JSON.stringify(d));
  return d.list.find((r) => r.room === room);
}

/**
 * Participant entries without `talking`, which Janus adds (a boolean) for those who negotiated
 * the audio level extension, as the offers here do.
 */
function withoutTalking(list) {
  return list.map(({ talking, ...rest }) => {
    if (talking !== undefined) assert.equal(typeof talking, 'boolean', JSON.stringify(list));
    return rest;
  });
}

/** listparticipants' participants (without `talking`). */
async function participants(h, room) {
  const d = await syncOk(h, { request: 'listparticipants', room });
  assert.deepEqual(Object.keys(d).sort(), ['audiobridge', 'participants', 'room'], JSON.stringify(d));
  assert.equal(d.audiobridge, 'participants');
  assert.equal(d.room, room);
  assert.ok(Array.isArray(d.participants), JSON.stringify(d));
  return withoutTalking(d.participants);
}

/** Creates a room; returns its id. */
async function createRoom(h, body = {}) {
  const room = body.room ?? roomId();
  const d = await syncOk(h, { request: 'create', room, ...body });
  assert.deepEqual(d, { audiobridge: 'created', room, permanent: false });
  return room;
}

/** Joins h to `room`; returns the raw "joined" data (checked). */
async function joinRoom(h, body) {
  const r = await asyncOk(h, { request: 'join', ...body });
  const d = r.plugindata.data;
  assert.equal(d.audiobridge, 'joined', JSON.stringify(d));
  // Janus's documentation shows the joiner's display in its joined event (its code leaves it
  // out): either way, nothing else.
  const { display, ...rest } = d;
  if (display !== undefined) assert.equal(display, body.display, `joined: ${JSON.stringify(d)}`);
  assert.deepEqual(Object.keys(rest).sort(), ['audiobridge', 'id', 'participants', 'room'], `joined: ${JSON.stringify(d)}`);
  assert.equal(d.room, body.room);
  assertId(d.id, 'participant id');
  if (body.id !== undefined) assert.equal(d.id, body.id);
  assert.ok(Array.isArray(d.participants), JSON.stringify(d));
  assert.equal(r.jsep, undefined, 'no JSEP without an offer or generate_offer');
  return { ...rest, participants: withoutTalking(d.participants) };
}

/** join, then configure with an audio offer: returns [joined data, configure event]. */
async function joinAndOffer(h, body, offer = audioOffer()) {
  const j = await joinRoom(h, body);
  const r = await asyncOk(h, { request: 'configure', muted: false }, offer);
  assert.deepEqual(r.plugindata.data, { audiobridge: 'event', result: 'ok' }, JSON.stringify(r));
  assertAudioAnswer(r.jsep);
  return [j, r];
}

/** A participant entry as Janus lists it for a participant who has no PeerConnection up. */
const entry = (id, display, extra = {}) => ({ id, ...(display !== undefined ? { display } : {}), setup: false, muted: false, ...extra });

// ---------------------------------------------------------------------------------------------

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cardea-ab-'));
  toneFile = join(dir, 'tone.opus');
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
    'sine=frequency=440:duration=1:sample_rate=48000', '-ac', '1', '-c:a', 'libopus', '-b:a', '32k', toneFile],
  { timeout: 15000 });
  cardea = await launch();
  connection = await suite.connect(cardea.ws);
  session = suite.session;
});

after(async () => {
  await suite.close();
  await shutdown(cardea);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ----- room management -------------------------------------------------------------------------

let mgr; // a handle for management requests

test('server_info lists janus.plugin.audiobridge; list has room 1234 as in Janus\'s sample config', T, async () => {
  const info = await connection.getInfo();
  assert.ok(Object.hasOwn(info.plugins, PLUGIN), `plugins: ${JSON.stringify(Object.keys(info.plugins))}`);
  assert.equal(info.plugins[PLUGIN].name, 'JANUS AudioBridge plugin');
  mgr = await attach();

  const viaJanode = await mgr.list();
  assert.ok(Array.isArray(viaJanode.list), JSON.stringify(viaJanode));
  assert.ok(viaJanode.list.some((r) => r.room === DEMO), `janode list() has 1234: ${JSON.stringify(viaJanode)}`);

  const r = await send(mgr, { request: 'list' });
  assert.equal(r.janus, 'success');
  assert.deepEqual(Object.keys(r.plugindata.data).sort(), ['audiobridge', 'list']);
  const demo = await listed(mgr, DEMO);
  assert.deepEqual(demo, {
    room: DEMO, description: 'Demo Room', sampling_rate: 16000, spatial_audio: false, pin_required: false,
    record: false, muted: false, num_participants: 0,
  }, 'the sample room, as Janus lists it (no secret)');
});

test('exists: {audiobridge:"success", room, exists} for 1234 and for an unknown room; janode exists()', T, async () => {
  assert.deepEqual(await syncOk(mgr, { request: 'exists', room: DEMO }), { audiobridge: 'success', room: DEMO, exists: true });
  const nope = roomId();
  assert.deepEqual(await syncOk(mgr, { request: 'exists', room: nope }), { audiobridge: 'success', room: nope, exists: false });
  const viaJanode = await mgr.exists({ room: DEMO });
  assert.equal(viaJanode.exists, true);
  assert.equal(viaJanode.room, DEMO);
});

const R1 = roomId(); // 48 kHz, secret s1, pin p1

test('create with options: {audiobridge:"created", room, permanent:false}; list shows them; private rooms are not listed', T, async () => {
  await createRoom(mgr, { room: R1, description: 'Room one', secret: 's1', pin: 'p1', sampling_rate: 48000, is_private: false });
  assert.deepEqual(await listed(mgr, R1), {
    room: R1, description: 'Room one', sampling_rate: 48000, spatial_audio: false, pin_required: true,
    record: false, muted: false, num_participants: 0,
  });
  // No description: "Room <id>"; no sampling rate: 16000.
  const plain = await createRoom(mgr);
  const e = await listed(mgr, plain);
  assert.equal(e.description, `Room ${plain}`, 'Janus names a room without description "Room <id>"');
  assert.equal(e.sampling_rate, 16000, 'default sampling rate');
  assert.equal(e.pin_required, false);
  // The legacy "sampling" key.
  const legacy = await createRoom(mgr, { sampling: 8000 });
  assert.equal((await listed(mgr, legacy)).sampling_rate, 8000);
  // Private: not listed, but it exists.
  const priv = await createRoom(mgr, { is_private: true });
  assert.equal(await listed(mgr, priv), undefined, 'a private room is not listed');
  assert.equal((await syncOk(mgr, { request: 'exists', room: priv })).exists, true);
});

test('create without a room id: one is picked (JS-safe); through janode create()', T, async () => {
  const d = await syncOk(mgr, { request: 'create', description: 'no id' });
  assert.equal(d.audiobridge, 'created');
  assertId(d.room, 'picked room id');
  assert.equal(d.permanent, false);
  assert.ok(await listed(mgr, d.room));
  const id = roomId();
  const viaJanode = await mgr.create({ room: id, description: 'via janode', sampling_rate: 24000 });
  assert.equal(viaJanode.room, id);
  assert.equal(viaJanode.permanent, false);
  assert.equal((await listed(mgr, id)).sampling_rate, 24000);
});

test('create errors: room exists 486, unsupported sampling rate 499, invalid elements 484', T, async () => {
  await expectAbError(mgr, { request: 'create', room: R1 }, 486, { sync: true, error: `Room ${R1} already exists` });
  await expectAbError(mgr, { request: 'create', room: DEMO }, 486, { sync: true, error: `Room ${DEMO} already exists` });
  const r = roomId();
  await expectAbError(mgr, { request: 'create', room: r, sampling_rate: 44100 }, 499, { sync: true, error: 'Unsupported sampling rate 44100' });
  assert.equal((await syncOk(mgr, { request: 'exists', room: r })).exists, false, 'a refused create leaves no room');
  await expectAbError(mgr, { request: 'create', room: 'abc' }, 484, { sync: true, error: 'Invalid element type (room should be a positive integer)' });
  await expectAbError(mgr, { request: 'create', room: roomId(), description: 42 }, 484, { sync: true, error: 'Invalid element type (description should be a string)' });
  await expectAbError(mgr, { request: 'create', room: roomId(), is_private: 'yes' }, 484, { sync: true });
  await expectAbError(mgr, { request: 'create', room: roomId(), allowed: ['ok', 3] }, 484, { sync: true, error: 'Invalid element in the allowed array (not a string)' });
  await expectJanodeReject(mgr.create({ room: R1 }), 486);
});

test('edit: secret missing 483, wrong 489, no such room 485; with it {audiobridge:"edited", room, permanent:false}', T, async () => {
  await expectAbError(mgr, { request: 'edit', room: R1, new_description: 'x' }, 483, { sync: true, error: 'Missing mandatory element (secret)' });
  await expectAbError(mgr, { request: 'edit', room: R1, secret: 'bad', new_description: 'x' }, 489, { sync: true, error: 'Unauthorized (wrong secret)' });
  const nope = roomId();
  await expectAbError(mgr, { request: 'edit', room: nope, new_description: 'x' }, 485, { sync: true, error: `No such room (${nope})` });
  await expectAbError(mgr, { request: 'edit', room: R1, secret: 's1', new_is_private: 'no' }, 484, { sync: true });
  const d = await syncOk(mgr, { request: 'edit', room: R1, secret: 's1', new_description: 'Room one, edited', new_pin: '' });
  assert.deepEqual(d, { audiobridge: 'edited', room: R1, permanent: false });
  const e = await listed(mgr, R1);
  assert.equal(e.description, 'Room one, edited');
  assert.equal(e.pin_required, false, 'an empty new_pin removes the pin');
  // Pin back, secret changed (and changed back).
  await syncOk(mgr, { request: 'edit', room: R1, secret: 's1', new_pin: 'p1', new_secret: 's1b' });
  assert.equal((await listed(mgr, R1)).pin_required, true);
  await expectAbError(mgr, { request: 'edit', room: R1, secret: 's1', new_description: 'x' }, 489, { sync: true });
  await syncOk(mgr, { request: 'edit', room: R1, secret: 's1b', new_secret: 's1' });
});

// ----- participants (room 1234) ----------------------------------------------------------------

let A; let B; let C;
let Aid; let Bid; let Cid;

test('join with an id: "joined" {room, id, participants:[]}; then configure with an audio offer -> {result:"ok"} + an opus-only answer', T, async () => {
  A = await attach();
  Aid = userId();
  const j = await joinRoom(A, { room: DEMO, id: Aid, display: 'alice' });
  assert.deepEqual(j, { audiobridge: 'joined', room: DEMO, id: Aid, participants: [] });
  const r = await asyncOk(A, { request: 'configure', muted: false }, audioOffer());
  assert.deepEqual(r.plugindata.data, { audiobridge: 'event', result: 'ok' });
  assertAudioAnswer(r.jsep);
  assert.equal((await listed(mgr, DEMO)).num_participants, 1);
  assert.deepEqual(await participants(mgr, DEMO), [entry(Aid, 'alice')]);
});

test('a second participant (janode join(), then configure with jsep): its joined lists A; A gets {audiobridge:"joined", participants:[B]}', T, async () => {
  const from = seen.length;
  const peerJoined = janodeEvent(A, AB.AUDIOBRIDGE_PEER_JOINED);
  B = await attach();
  const j = await B.join({ room: DEMO, display: 'bob' });
  assertId(j.feed, 'janode feed');
  Bid = j.feed;
  assert.deepEqual(withoutTalking(j.participants), [{ feed: Aid, display: 'alice', muted: false, setup: false }]);
  const { display: shown, ...raw } = lastReply(B).plugindata.data;
  if (shown !== undefined) assert.equal(shown, 'bob');
  assert.deepEqual({ ...raw, participants: withoutTalking(raw.participants) }, { audiobridge: 'joined', room: DEMO, id: Bid, participants: [entry(Aid, 'alice')] });
  const ev = await waitEvent(A, (d) => d.audiobridge === 'joined', { from, what: 'joined (B)' });
  assert.deepEqual(ev.plugindata.data, { audiobridge: 'joined', room: DEMO, participants: [entry(Bid, 'bob')] });
  assert.equal((await peerJoined)?.feed, Bid, 'janode AUDIOBRIDGE_PEER_JOINED');
  assert.equal(eventsOf(B, from).filter((d) => d.audiobridge === 'joined').length, 0, 'the newcomer is not told of itself');

  const cfg = await B.configure({ jsep: audioOffer() });
  assertAudioAnswer(cfg.jsep);
  assert.deepEqual(lastReply(B).plugindata.data, { audiobridge: 'event', result: 'ok' });
});

test('join with the offer on the join itself: "joined" + answer (as janus.js may send it)', T, async () => {
  C = await attach();
  const from = seen.length;
  const r = await asyncOk(C, { request: 'join', room: DEMO, display: 'carol' }, audioOffer());
  const d = r.plugindata.data;
  assert.equal(d.audiobridge, 'joined', JSON.stringify(d));
  Cid = d.id;
  assertId(Cid);
  assert.deepEqual(withoutTalking(d.participants).sort((x, y) => x.id - y.id), [entry(Aid, 'alice'), entry(Bid, 'bob')].sort((x, y) => x.id - y.id));
  assertAudioAnswer(r.jsep);
  for (const h of [A, B]) await waitEvent(h, (x) => x.audiobridge === 'joined' && x.participants?.[0]?.id === Cid, { from, what: 'joined (C)' });
});

test('an offer with audio and video: the answer accepts audio only and rejects video (port 0)', T, async () => {
  const h = await attach();
  await joinRoom(h, { room: R1, pin: 'p1' });
  const r = await asyncOk(h, { request: 'configure' }, audioOffer({ video: VIDEO }));
  assert.deepEqual(r.plugindata.data, { audiobridge: 'event', result: 'ok' });
  assertAudioAnswer(r.jsep, { lines: 2 });
  await asyncOk(h, { request: 'leave' });
});

test('codec pcmu: the answer carries PCMU (0) only; pcma: PCMA (8)', T, async () => {
  for (const [codec, pt, name] of [['pcmu', 0, 'PCMU'], ['pcma', 8, 'PCMA']]) {
    const h = await attach();
    await joinRoom(h, { room: R1, pin: 'p1', codec });
    const r = await asyncOk(h, { request: 'configure' }, audioOffer());
    assertAudioAnswer(r.jsep, { pt, name });
    await asyncOk(h, { request: 'leave' });
  }
});

test('generate_offer: "joined" + Cardea\'s offer (one audio m-line, opus); configure answers it; an offer then -> 493', T, async () => {
  const h = await attach();
  const r = await asyncOk(h, { request: 'join', room: R1, pin: 'p1', display: 'offered', generate_offer: true });
  assert.equal(r.plugindata.data.audiobridge, 'joined', JSON.stringify(r));
  assertAudioOffer(r.jsep);
  const c = await asyncOk(h, { request: 'configure' }, sendrecvAnswerTo(r.jsep.sdp));
  assert.deepEqual(c.plugindata.data, { audiobridge: 'event', result: 'ok' });
  assert.equal(c.jsep, undefined, 'nothing to answer to an answer');
  await expectAbError(h, { request: 'configure' }, 493, { sync: false, jsep: audioOffer(), error: 'Received an offer on a plugin-offered session' });
  await asyncOk(h, { request: 'leave' });
});

test('join errors: already joined 491, id exists 490, no such room 485, missing room 483, bad room 484, bad codec/quality/expected_loss 484', T, async () => {
  await expectAbError(A, { request: 'join', room: DEMO }, 491, { sync: false, error: 'Already in a room (use changeroom to join another one)' });
  const h = await attach();
  await expectAbError(h, { request: 'join', room: DEMO, id: Aid }, 490, { sync: false, error: `User ID ${Aid} already exists` });
  const nope = roomId();
  await expectAbError(h, { request: 'join', room: nope }, 485, { sync: false, error: `No such room (${nope})` });
  await expectAbError(h, { request: 'join' }, 483, { sync: false, error: 'Missing mandatory element (room)' });
  await expectAbError(h, { request: 'join', room: 'abc' }, 484, { sync: false, error: 'Invalid element type (room should be a positive integer)' });
  await expectAbError(h, { request: 'join', room: DEMO, display: 7 }, 484, { sync: false, error: 'Invalid element type (display should be a string)' });
  await expectAbError(h, { request: 'join', room: DEMO, codec: 'g722' }, 484, { sync: false, error: 'Invalid element (codec must opus, pcmu or pcma)' });
  await expectAbError(h, { request: 'join', room: DEMO, quality: 11 }, 484, { sync: false, error: 'Invalid element (quality should be a positive integer between 1 and 10)' });
  await expectAbError(h, { request: 'join', room: DEMO, expected_loss: 21 }, 484, { sync: false, error: 'Invalid element (expected_loss should be a positive integer between 0 and 20)' });
  await expectJanodeReject(h.join({ room: nope }), 485);
  // None of these left h in a room.
  await expectAbError(h, { request: 'leave' }, 487, { sync: false });
});

test('pin: missing 483, wrong 489; with it joined', T, async () => {
  const h = await attach();
  await expectAbError(h, { request: 'join', room: R1 }, 483, { sync: false, error: 'Missing mandatory element (pin)' });
  await expectAbError(h, { request: 'join', room: R1, pin: 'nope' }, 489, { sync: false, error: 'Unauthorized (wrong pin)' });
  await joinRoom(h, { room: R1, pin: 'p1' });
  await asyncOk(h, { request: 'leave' });
});

test('not joined: configure/leave -> 487; resetdecoder -> 487 (sync); joined: resetdecoder -> {audiobridge:"success"}', T, async () => {
  const h = await attach();
  await expectAbError(h, { request: 'configure', muted: true }, 487, { sync: false, error: "Can't configure (not in a room)" });
  await expectAbError(h, { request: 'leave' }, 487, { sync: false, error: "Can't leave (not in a room)" });
  await expectAbError(h, { request: 'resetdecoder' }, 487, { sync: true, error: "Can't reset (not in a room)" });
  assert.deepEqual(await syncOk(A, { request: 'resetdecoder' }), { audiobridge: 'success' });
});

test('configure: display/muted -> {result:"ok"}, the others get {audiobridge:"event", room, participants:[A]}; bad values 484', T, async () => {
  const from = seen.length;
  const peerConfigured = janodeEvent(B, AB.AUDIOBRIDGE_PEER_CONFIGURED);
  const r = await asyncOk(A, { request: 'configure', display: 'alice2', muted: true });
  assert.deepEqual(r.plugindata.data, { audiobridge: 'event', result: 'ok' });
  for (const h of [B, C]) {
    const ev = await waitEvent(h, (d) => d.participants?.[0]?.id === Aid, { from, what: 'configured A' });
    assert.deepEqual(ev.plugindata.data, { audiobridge: 'event', room: DEMO, participants: [entry(Aid, 'alice2', { muted: true })] });
  }
  assert.equal((await peerConfigured)?.feed, Aid, 'janode AUDIOBRIDGE_PEER_CONFIGURED');
  assert.deepEqual((await participants(mgr, DEMO)).find((p) => p.id === Aid), entry(Aid, 'alice2', { muted: true }));
  const viaJanode = await A.configure({ muted: false, display: 'alice' });
  assert.ok(viaJanode, 'janode configure()');
  await expectAbError(A, { request: 'configure', quality: 0 }, 484, { sync: false });
  await expectAbError(A, { request: 'configure', expected_loss: 40 }, 484, { sync: false });
  await expectAbError(A, { request: 'configure', muted: 'yes' }, 484, { sync: false, error: 'Invalid element type (muted should be a boolean)' });
  // A volume, bitrate, quality and expected loss within range are taken without a word.
  const ok = await asyncOk(A, { request: 'configure', volume: 150, bitrate: 24000, quality: 6, expected_loss: 5 });
  assert.deepEqual(ok.plugindata.data, { audiobridge: 'event', result: 'ok' });
});

test('mute / unmute: secret missing 483, wrong 489, id missing 483, unknown id 492; success {audiobridge:"success", room}; everyone told', T, async () => {
  await expectAbError(mgr, { request: 'mute', room: DEMO, id: Bid }, 483, { sync: true, error: 'Missing mandatory element (secret)' });
  await expectAbError(mgr, { request: 'mute', room: DEMO, id: Bid, secret: 'bad' }, 489, { sync: true, error: 'Unauthorized (wrong secret)' });
  await expectAbError(mgr, { request: 'mute', room: DEMO, secret: DEMO_SECRET }, 483, { sync: true, error: 'Missing mandatory element (id)' });
  const ghost = userId();
  await expectAbError(mgr, { request: 'mute', room: DEMO, id: ghost, secret: DEMO_SECRET }, 492, { sync: true, error: `No such user ${ghost} in room ${DEMO}` });
  const nope = roomId();
  await expectAbError(mgr, { request: 'mute', room: nope, id: Bid, secret: DEMO_SECRET }, 485, { sync: true, error: `No such room (${nope})` });

  const from = seen.length;
  const d = await syncOk(mgr, { request: 'mute', room: DEMO, id: Bid, secret: DEMO_SECRET });
  assert.deepEqual(d, { audiobridge: 'success', room: DEMO });
  for (const h of [A, B, C]) {
    const ev = await waitEvent(h, (x) => x.participants?.[0]?.id === Bid, { from, what: 'B muted' });
    assert.deepEqual(ev.plugindata.data, { audiobridge: 'event', room: DEMO, participants: [entry(Bid, 'bob', { muted: true })] });
  }
  assert.equal((await participants(mgr, DEMO)).find((p) => p.id === Bid).muted, true);
  // Muting again changes nothing (Janus answers a bare success).
  assert.equal((await syncOk(mgr, { request: 'mute', room: DEMO, id: Bid, secret: DEMO_SECRET })).audiobridge, 'success');

  const from2 = seen.length;
  const u = await mgr.unmute({ room: DEMO, feed: Bid, secret: DEMO_SECRET });
  assert.equal(u.feed, Bid, 'janode unmute()');
  assert.deepEqual(lastReply(mgr).plugindata.data, { audiobridge: 'success', room: DEMO });
  await waitEvent(A, (x) => x.participants?.[0]?.id === Bid && x.participants[0].muted === false, { from: from2, what: 'B unmuted' });
  assert.equal((await participants(mgr, DEMO)).find((p) => p.id === Bid).muted, false);
});

test('mute_room / unmute_room: {audiobridge:"success", room}; participants get {audiobridge:"event", room, muted}; list shows muted', T, async () => {
  await expectAbError(mgr, { request: 'mute_room', room: DEMO }, 483, { sync: true });
  await expectAbError(mgr, { request: 'mute_room', room: DEMO, secret: 'bad' }, 489, { sync: true });
  const from = seen.length;
  const roomMuted = janodeEvent(B, AB.AUDIOBRIDGE_ROOM_MUTED);
  assert.deepEqual(await syncOk(mgr, { request: 'mute_room', room: DEMO, secret: DEMO_SECRET }), { audiobridge: 'success', room: DEMO });
  for (const h of [A, B, C]) {
    const ev = await waitEvent(h, (x) => x.muted !== undefined && x.participants === undefined, { from, what: 'room muted' });
    assert.deepEqual(ev.plugindata.data, { audiobridge: 'event', room: DEMO, muted: true });
  }
  assert.equal((await roomMuted)?.muted, true, 'janode AUDIOBRIDGE_ROOM_MUTED');
  assert.equal((await listed(mgr, DEMO)).muted, true);
  const from2 = seen.length;
  await mgr.unmuteRoom({ room: DEMO, secret: DEMO_SECRET });
  assert.deepEqual(lastReply(mgr).plugindata.data, { audiobridge: 'success', room: DEMO });
  const ev = await waitEvent(A, (x) => x.muted === false && x.participants === undefined, { from: from2, what: 'room unmuted' });
  assert.deepEqual(ev.plugindata.data, { audiobridge: 'event', room: DEMO, muted: false });
  assert.equal((await listed(mgr, DEMO)).muted, false);
});

test('suspend / resume: {audiobridge:"success"}; everyone gets {suspended:id} / {resumed:id}; listparticipants shows suspended', T, async () => {
  await expectAbError(mgr, { request: 'suspend', room: DEMO, id: Cid }, 483, { sync: true });
  await expectAbError(mgr, { request: 'suspend', room: DEMO, id: Cid, secret: 'bad' }, 489, { sync: true });
  const ghost = userId();
  await expectAbError(mgr, { request: 'suspend', room: DEMO, id: ghost, secret: DEMO_SECRET }, 492, { sync: true });
  const from = seen.length;
  const peerSuspended = janodeEvent(A, AB.AUDIOBRIDGE_PEER_SUSPENDED);
  assert.deepEqual(await syncOk(mgr, { request: 'suspend', room: DEMO, id: Cid, secret: DEMO_SECRET }), { audiobridge: 'success' });
  for (const h of [A, B, C]) {
    const ev = await waitEvent(h, (x) => x.suspended !== undefined, { from, what: 'C suspended' });
    assert.deepEqual(ev.plugindata.data, { audiobridge: 'event', room: DEMO, suspended: Cid });
  }
  assert.equal((await peerSuspended)?.feed, Cid);
  assert.equal((await participants(mgr, DEMO)).find((p) => p.id === Cid).suspended, true);
  const from2 = seen.length;
  // A participant may resume itself without the secret.
  assert.deepEqual(await syncOk(C, { request: 'resume', room: DEMO, id: Cid }), { audiobridge: 'success' });
  for (const h of [A, B, C]) {
    const ev = await waitEvent(h, (x) => x.resumed !== undefined, { from: from2, what: 'C resumed' });
    assert.deepEqual(ev.plugindata.data, { audiobridge: 'event', room: DEMO, resumed: Cid });
  }
  assert.equal((await participants(mgr, DEMO)).find((p) => p.id === Cid).suspended, undefined, 'suspended is only listed when true');
});

test('allowed: enable/add/remove/disable; join without a token 489, with an allowed one joined; bad action 484', T, async () => {
  const room = await createRoom(mgr, { secret: 'as', allowed: ['tok-a'] });
  const h = await attach();
  await expectAbError(h, { request: 'join', room }, 489, { sync: false, error: 'Unauthorized (not in the allowed list)' });
  await expectAbError(h, { request: 'join', room, token: 'tok-b' }, 489, { sync: false });
  await expectAbError(mgr, { request: 'allowed', room, secret: 'as', action: 'bogus' }, 484, { sync: true, error: "Unsupported action 'bogus' (allowed)" });
  await expectAbError(mgr, { request: 'allowed', room, secret: 'bad', action: 'add', allowed: ['x'] }, 489, { sync: true });
  await expectAbError(mgr, { request: 'allowed', room, secret: 'as' }, 483, { sync: true, error: 'Missing mandatory element (action)' });
  const add = await syncOk(mgr, { request: 'allowed', room, secret: 'as', action: 'add', allowed: ['tok-b'] });
  assert.equal(add.audiobridge, 'success');
  assert.equal(add.room, room);
  assert.deepEqual([...add.allowed].sort(), ['tok-a', 'tok-b']);
  await joinRoom(h, { room, token: 'tok-b' });
  await asyncOk(h, { request: 'leave' });
  const rem = await syncOk(mgr, { request: 'allowed', room, secret: 'as', action: 'remove', allowed: ['tok-b'] });
  assert.deepEqual(rem.allowed, ['tok-a']);
  await expectAbError(h, { request: 'join', room, token: 'tok-b' }, 489, { sync: false });
  const dis = await syncOk(mgr, { request: 'allowed', room, secret: 'as', action: 'disable' });
  assert.deepEqual(dis, { audiobridge: 'success', room }, 'disable answers without the list');
  await joinRoom(h, { room });
  await asyncOk(h, { request: 'leave' });
  const en = await syncOk(mgr, { request: 'allowed', room, secret: 'as', action: 'enable' });
  assert.deepEqual(en, { audiobridge: 'success', room, allowed: ['tok-a'] });
  await expectAbError(h, { request: 'join', room }, 489, { sync: false });
});

test('groups: join a grouped room without a group 483, with an unknown one 494; with a known one joined', T, async () => {
  const room = await createRoom(mgr, { groups: ['left', 'right'] });
  const h = await attach();
  await expectAbError(h, { request: 'join', room }, 483, { sync: false, error: 'Missing mandatory element (group)' });
  await expectAbError(h, { request: 'join', room, group: 'middle' }, 494, { sync: false, error: 'No such group (middle)' });
  await joinRoom(h, { room, group: 'left' });
  await asyncOk(h, { request: 'leave' });
});

// ----- announcements ---------------------------------------------------------------------------

test('play_file / is_playing / listannouncements / stop_file: shapes, events to the participants, errors', { timeout: 20000 }, async () => {
  await expectAbError(mgr, { request: 'play_file', room: DEMO, secret: DEMO_SECRET }, 483, { sync: true, error: 'Missing mandatory element (filename)' });
  await expectAbError(mgr, { request: 'play_file', room: DEMO, filename: toneFile }, 483, { sync: true, error: 'Missing mandatory element (secret)' });
  await expectAbError(mgr, { request: 'play_file', room: DEMO, filename: toneFile, secret: 'bad' }, 489, { sync: true });
  const nope = roomId();
  await expectAbError(mgr, { request: 'play_file', room: nope, filename: toneFile }, 485, { sync: true });
  await expectAbError(mgr, { request: 'play_file', room: DEMO, secret: DEMO_SECRET, filename: join(dir, 'missing.opus') }, 499, { sync: true, error: 'Error opening file' });

  // A looped file: started, listed, playing, then stopped on request.
  const from = seen.length;
  const started = janodeEvent(A, AB.AUDIOBRIDGE_ANNOUNCEMENT_STARTED, 4000);
  const d = await syncOk(mgr, { request: 'play_file', room: DEMO, secret: DEMO_SECRET, filename: toneFile, file_id: 'loop1', loop: true });
  assert.deepEqual(d, { audiobridge: 'success', room: DEMO, file_id: 'loop1' });
  await expectAbError(mgr, { request: 'play_file', room: DEMO, secret: DEMO_SECRET, filename: toneFile, file_id: 'loop1' }, 490, { sync: true, error: 'File ID exists (loop1)' });
  for (const h of [A, B, C]) {
    const ev = await waitEvent(h, (x) => x.audiobridge === 'announcement-started', { from, what: 'announcement-started' });
    assert.deepEqual(ev.plugindata.data, { audiobridge: 'announcement-started', room: DEMO, file_id: 'loop1' });
  }
  assert.equal((await started)?.file_id, 'loop1', 'janode AUDIOBRIDGE_ANNOUNCEMENT_STARTED');
  const playing = await eventually(async () => (await syncOk(mgr, { request: 'is_playing', room: DEMO, secret: DEMO_SECRET, file_id: 'loop1' })).playing, { timeout: 3000 });
  assert.equal(playing, true, 'is_playing once started');
  assert.deepEqual(await syncOk(mgr, { request: 'is_playing', room: DEMO, secret: DEMO_SECRET, file_id: 'loop1' }),
    { audiobridge: 'success', room: DEMO, file_id: 'loop1', playing: true });
  await expectAbError(mgr, { request: 'is_playing', room: DEMO, secret: DEMO_SECRET }, 483, { sync: true, error: 'Missing mandatory element (file_id)' });
  const list = await syncOk(mgr, { request: 'listannouncements', room: DEMO, secret: DEMO_SECRET });
  assert.deepEqual(list, { audiobridge: 'announcements', room: DEMO, announcements: [{ file_id: 'loop1', filename: toneFile, playing: true, loop: true }] });
  await expectAbError(mgr, { request: 'listannouncements', room: DEMO, secret: 'bad' }, 489, { sync: true });
  // Still playing 1.5 s later: it loops.
  await sleep(1500);
  assert.equal((await syncOk(mgr, { request: 'is_playing', room: DEMO, secret: DEMO_SECRET, file_id: 'loop1' })).playing, true, 'a looped 1 s file still plays after 1.5 s');

  const from2 = seen.length;
  assert.deepEqual(await syncOk(mgr, { request: 'stop_file', room: DEMO, secret: DEMO_SECRET, file_id: 'loop1' }),
    { audiobridge: 'success', room: DEMO, file_id: 'loop1' });
  for (const h of [A, B, C]) {
    const ev = await waitEvent(h, (x) => x.audiobridge === 'announcement-stopped', { from: from2, what: 'announcement-stopped' });
    assert.deepEqual(ev.plugindata.data, { audiobridge: 'announcement-stopped', room: DEMO, file_id: 'loop1' });
  }
  assert.deepEqual(await syncOk(mgr, { request: 'is_playing', room: DEMO, secret: DEMO_SECRET, file_id: 'loop1' }),
    { audiobridge: 'success', room: DEMO, file_id: 'loop1', playing: false });
  assert.deepEqual((await syncOk(mgr, { request: 'listannouncements', room: DEMO, secret: DEMO_SECRET })).announcements, []);

  // A file without loop ends on its own (about 1 s): announcement-stopped, gone from the list.
  const from3 = seen.length;
  const once = await syncOk(mgr, { request: 'play_file', room: DEMO, secret: DEMO_SECRET, filename: toneFile });
  assert.equal(typeof once.file_id, 'string', 'a file_id is picked');
  assert.ok(once.file_id.length > 0);
  const ended = await waitEvent(A, (x) => x.audiobridge === 'announcement-stopped' && x.file_id === once.file_id, { from: from3, timeout: 6000, what: 'the one-shot file ended' });
  assert.deepEqual(ended.plugindata.data, { audiobridge: 'announcement-stopped', room: DEMO, file_id: once.file_id });
  assert.ok(eventsOf(A, from3).some((x) => x.audiobridge === 'announcement-started' && x.file_id === once.file_id), 'it was announced as started first');
  assert.deepEqual((await syncOk(mgr, { request: 'listannouncements', room: DEMO, secret: DEMO_SECRET })).announcements, []);
});

// ----- leaving ---------------------------------------------------------------------------------

test('leave -> {audiobridge:"left", room, id}; the others get {audiobridge:"event", room, leaving:id}; again -> 487', T, async () => {
  const from = seen.length;
  const peerLeaving = janodeEvent(A, AB.AUDIOBRIDGE_PEER_LEAVING);
  const r = await asyncOk(C, { request: 'leave' });
  assert.deepEqual(r.plugindata.data, { audiobridge: 'left', room: DEMO, id: Cid });
  for (const h of [A, B]) {
    const ev = await waitEvent(h, (x) => x.leaving !== undefined, { from, what: 'leaving C' });
    assert.deepEqual(ev.plugindata.data, { audiobridge: 'event', room: DEMO, leaving: Cid });
  }
  assert.equal((await peerLeaving)?.feed, Cid, 'janode AUDIOBRIDGE_PEER_LEAVING');
  assert.equal(eventsOf(C, from).filter((x) => x.leaving !== undefined).length, 0, 'the leaver is not told of itself');
  assert.ok(!(await participants(mgr, DEMO)).some((p) => p.id === Cid));
  await expectAbError(C, { request: 'leave' }, 487, { sync: false });
  // The handle may join again, as someone new.
  const again = await joinRoom(C, { room: DEMO, display: 'carol again' });
  Cid = again.id;
  // janode leave().
  const from2 = seen.length;
  const lv = await C.leave();
  assert.equal(lv.feed, Cid);
  await waitEvent(A, (x) => x.leaving === Cid, { from: from2, what: 'leaving C again' });
});

test('hangup request -> {audiobridge:"hangingup"}; detaching a participant\'s handle makes it leave (the others get leaving)', T, async () => {
  const h = await attach();
  const j = await joinRoom(h, { room: DEMO, display: 'dan' });
  const hr = await asyncOk(h, { request: 'hangup' });
  assert.deepEqual(hr.plugindata.data, { audiobridge: 'hangingup' });
  const from = seen.length;
  await h.detach();
  const ev = await waitEvent(A, (x) => x.leaving === j.id, { from, what: 'leaving after detach' });
  assert.deepEqual(ev.plugindata.data, { audiobridge: 'event', room: DEMO, leaving: j.id });
  assert.ok(!(await participants(mgr, DEMO)).some((p) => p.id === j.id), 'gone from the room');
});

// ----- kick, kick_all, destroy (room R1) ----------------------------------------------------------

test('kick: secret missing 483 / wrong 489, unknown id 492; success {audiobridge:"success"}; everyone gets {kicked:id}', T, async () => {
  const k1 = await attach();
  const k2 = await attach();
  // With an offer negotiated: Janus's kick closes the PeerConnection, and its hangup takes the
  // participant out of the room (one without a PeerConnection would stay).
  const [j1] = await joinAndOffer(k1, { room: R1, pin: 'p1', display: 'k1' });
  const [j2] = await joinAndOffer(k2, { room: R1, pin: 'p1', display: 'k2' });
  await expectAbError(mgr, { request: 'kick', room: R1, id: j1.id }, 483, { sync: true, error: 'Missing mandatory element (secret)' });
  await expectAbError(mgr, { request: 'kick', room: R1, id: j1.id, secret: 'bad' }, 489, { sync: true });
  const ghost = userId();
  await expectAbError(mgr, { request: 'kick', room: R1, id: ghost, secret: 's1' }, 492, { sync: true, error: `No such user ${ghost} in room ${R1}` });
  await expectAbError(mgr, { request: 'kick', room: R1, secret: 's1' }, 483, { sync: true, error: 'Missing mandatory element (id)' });
  const from = seen.length;
  const kicked = janodeEvent(k1, AB.AUDIOBRIDGE_KICKED);
  const peerKicked = janodeEvent(k2, AB.AUDIOBRIDGE_PEER_KICKED);
  assert.deepEqual(await syncOk(mgr, { request: 'kick', room: R1, id: j1.id, secret: 's1' }), { audiobridge: 'success' });
  for (const h of [k1, k2]) {
    const ev = await waitEvent(h, (x) => x.kicked !== undefined, { from, what: 'kicked' });
    assert.deepEqual(ev.plugindata.data, { audiobridge: 'event', room: R1, kicked: j1.id });
  }
  assert.equal((await kicked)?.feed, j1.id, 'janode AUDIOBRIDGE_KICKED');
  assert.equal((await peerKicked)?.feed, j1.id, 'janode AUDIOBRIDGE_PEER_KICKED');
  // The kicked participant is out of the room: the others are told it left.
  const bye = await waitEvent(k2, (x) => x.leaving !== undefined, { from, what: 'leaving after the kick' });
  assert.deepEqual(bye.plugindata.data, { audiobridge: 'event', room: R1, leaving: j1.id });
  assert.ok(await eventually(async () => !(await participants(mgr, R1)).some((p) => p.id === j1.id), { timeout: 3000 }),
    `the kicked participant is gone: ${JSON.stringify(await participants(mgr, R1))}`);
  // janode kick().
  const k = await mgr.kick({ room: R1, feed: j2.id, secret: 's1' });
  assert.equal(k.feed, j2.id);
});

test('kick_all: success {audiobridge:"success"}; each participant gets {kicked_all:own id}; the room is empty', T, async () => {
  const room = await createRoom(mgr, { secret: 'ka' });
  const hs = [await attach(), await attach()];
  const ids = [];
  for (const h of hs) ids.push((await joinAndOffer(h, { room }))[0].id);
  await expectAbError(mgr, { request: 'kick_all', room, secret: 'bad' }, 489, { sync: true });
  const from = seen.length;
  assert.deepEqual(await syncOk(mgr, { request: 'kick_all', room, secret: 'ka' }), { audiobridge: 'success' });
  for (const [i, h] of hs.entries()) {
    const ev = await waitEvent(h, (x) => x.kicked_all !== undefined, { from, what: 'kicked_all' });
    assert.deepEqual(ev.plugindata.data, { audiobridge: 'event', room, kicked_all: ids[i] });
  }
  assert.ok(await eventually(async () => (await participants(mgr, room)).length === 0, { timeout: 3000 }), 'nobody left in the room');
});

test('destroy: secret missing 483 / wrong 489; {audiobridge:"destroyed", room, permanent:false}; participants get {audiobridge:"destroyed", room}; gone (485)', T, async () => {
  await expectAbError(mgr, { request: 'destroy', room: R1 }, 483, { sync: true, error: 'Missing mandatory element (secret)' });
  await expectAbError(mgr, { request: 'destroy', room: R1, secret: 'bad' }, 489, { sync: true, error: 'Unauthorized (wrong secret)' });
  const p1 = await attach();
  const p2 = await attach();
  await joinAndOffer(p1, { room: R1, pin: 'p1', display: 'p1' });
  await joinRoom(p2, { room: R1, pin: 'p1', display: 'p2' });
  const from = seen.length;
  const janodeDestroyed = janodeEvent(p2, AB.AUDIOBRIDGE_DESTROYED);
  const d = await syncOk(mgr, { request: 'destroy', room: R1, secret: 's1' });
  assert.deepEqual(d, { audiobridge: 'destroyed', room: R1, permanent: false });
  for (const h of [p1, p2]) {
    const ev = await waitEvent(h, (x) => x.audiobridge === 'destroyed', { from, what: 'destroyed' });
    assert.deepEqual(ev.plugindata.data, { audiobridge: 'destroyed', room: R1 });
  }
  assert.equal((await janodeDestroyed)?.room, R1, 'janode AUDIOBRIDGE_DESTROYED');
  assert.deepEqual(await syncOk(mgr, { request: 'exists', room: R1 }), { audiobridge: 'success', room: R1, exists: false });
  assert.equal(await listed(mgr, R1), undefined);
  await expectAbError(mgr, { request: 'destroy', room: R1, secret: 's1' }, 485, { sync: true, error: `No such room (${R1})` });
  await expectAbError(mgr, { request: 'listparticipants', room: R1 }, 485, { sync: true });
  // The handles are out of the room: they may join another one.
  await expectAbError(p2, { request: 'configure', muted: true }, 487, { sync: false });
  await joinRoom(p2, { room: DEMO });
  await asyncOk(p2, { request: 'leave' });
  // janode destroy().
  const r = await createRoom(mgr, { secret: 'zz' });
  const viaJanode = await mgr.destroy({ room: r, secret: 'zz' });
  assert.equal(viaJanode.room, r);
});

// ----- generic errors --------------------------------------------------------------------------

test('errors: unknown request 482 (sync), missing request 483, request not a string 484, missing/invalid room 483/484, unknown room 485', T, async () => {
  const h = await attach();
  await expectAbError(h, { request: 'foo' }, 482, { sync: true, error: "Unknown request 'foo'" });
  await expectAbError(h, {}, 483, { sync: true, error: 'Missing mandatory element (request)' });
  await expectAbError(h, { request: 42 }, 484, { sync: true, error: 'Invalid element type (request should be a string)' });
  for (const request of ['exists', 'listparticipants', 'destroy', 'edit', 'mute_room', 'kick_all', 'listannouncements']) {
    await expectAbError(h, { request }, 483, { sync: true, error: 'Missing mandatory element (room)' });
    await expectAbError(h, { request, room: 'abc' }, 484, { sync: true, error: 'Invalid element type (room should be a positive integer)' });
  }
  const nope = roomId();
  await expectAbError(h, { request: 'listparticipants', room: nope }, 485, { sync: true, error: `No such room (${nope})` });
  await expectAbError(h, { request: 'mute', room: DEMO, id: 'x', secret: DEMO_SECRET }, 484, { sync: true, error: 'Invalid element type (id should be a positive integer)' });
});

test('JSEP with e2ee -> 484 (media must be decoded to be mixed)', T, async () => {
  const h = await attach();
  await joinRoom(h, { room: DEMO });
  await expectAbError(h, { request: 'configure' }, 484, { sync: false, jsep: { ...audioOffer(), e2ee: true }, error: 'Media encryption unsupported by this plugin' });
  await asyncOk(h, { request: 'leave' });
});

test('dial (Cardea extension) errors: secret missing 483, wrong 489, no such room 485, a URI no trunk reaches 495', T, async () => {
  const uri = 'sip:someone@198.51.100.7:5060';
  await expectAbError(mgr, { request: 'dial', room: DEMO, uri }, 483, { sync: true, error: 'Missing mandatory element (secret)' });
  await expectAbError(mgr, { request: 'dial', room: DEMO, secret: 'bad', uri }, 489, { sync: true, error: 'Unauthorized (wrong secret)' });
  const nope = roomId();
  await expectAbError(mgr, { request: 'dial', room: nope, secret: DEMO_SECRET, uri }, 485, { sync: true, error: `No such room (${nope})` });
  await expectAbError(mgr, { request: 'dial', room: DEMO, secret: DEMO_SECRET, uri }, 495, { sync: true, error: `Dial refused (${uri} is not reached through a configured trunk)` });
  await expectAbError(mgr, { request: 'dial', room: DEMO, secret: DEMO_SECRET }, 483, { sync: true, error: 'Missing mandatory element (uri)' });
});

test('no request got two answers, and no plugin error came outside a reply', T, async () => {
  await sleep(300);
  const replies = new Map();
  for (const m of seen) {
    if (m.transaction && ['success', 'event', 'error'].includes(m.janus)) {
      replies.set(m.transaction, [...(replies.get(m.transaction) ?? []), m]);
    }
  }
  const doubled = [...replies.values()].filter((l) => l.length > 1);
  assert.deepEqual(doubled, [], 'one answer per request (a late error would be a second one)');
  const stray = seen.filter((m) => m.janus === 'event' && m.transaction === undefined && m.plugindata?.data?.error_code !== undefined);
  assert.deepEqual(stray, [], 'no unsolicited plugin error');
});

// ----- permanent rooms ---------------------------------------------------------------------------

const SUITE = { plugin: PLUGIN, key: 'audiobridge', module: AudioBridgePlugin, prefix: 'abp' };

test('permanent: create, edit and destroy with permanent:true survive a restart; the others do not', { timeout: 60000 }, async () => {
  const [A, B, C] = [roomId(), roomId(), roomId()];
  const first = await withOwnCardea({}, SUITE, async (s, h, c) => {
    assert.deepEqual(await s.syncOk(h, {
      request: 'create', room: A, description: 'kept', secret: 'sa', sampling_rate: 8000, permanent: true,
    }), { audiobridge: 'created', room: A, permanent: true });
    assert.deepEqual(await s.syncOk(h, { request: 'create', room: B, secret: 'sb', permanent: true }),
      { audiobridge: 'created', room: B, permanent: true });
    assert.deepEqual(await s.syncOk(h, { request: 'create', room: C }),
      { audiobridge: 'created', room: C, permanent: false });
    assert.deepEqual(await s.syncOk(h, {
      request: 'edit', room: A, secret: 'sa', new_description: 'kept and edited', new_pin: '42', permanent: true,
    }), { audiobridge: 'edited', room: A, permanent: true });
    assert.deepEqual(await s.syncOk(h, { request: 'destroy', room: B, secret: 'sb', permanent: true }),
      { audiobridge: 'destroyed', room: B, permanent: true });
    assert.deepEqual(await s.syncOk(h, { request: 'destroy', room: 1234, secret: 'adminpwd', permanent: true }),
      { audiobridge: 'destroyed', room: 1234, permanent: true });
    const text = stateFile(c, 'audiobridge');
    assert.match(text, new RegExp(`room: ${A}`), text);
    assert.doesNotMatch(text, new RegExp(`room: ${B}`), text);
  });
  await withOwnCardea({ config: first.config }, SUITE, async (s, h) => {
    const exists = async (room) => (await s.syncOk(h, { request: 'exists', room })).exists;
    assert.equal(await exists(A), true, 'permanent room back after the restart');
    assert.equal(await exists(B), false, 'permanently destroyed room stays gone');
    assert.equal(await exists(1234), false, 'permanently destroyed configured room stays gone');
    assert.equal(await exists(C), false, 'a room that was not permanent is gone');
    const a = (await s.syncOk(h, { request: 'list' })).list.find((r) => r.room === A);
    assert.equal(a?.description, 'kept and edited', JSON.stringify(a));
    assert.equal(a.sampling_rate, 8000);
    assert.equal(a.pin_required, true);
    await s.expectError(h, { request: 'destroy', room: A, secret: 'sb' }, 489, { sync: true });
  });
});

test('permanent without a configuration file -> 499, and nothing is created, edited or destroyed', { timeout: 30000 }, async () => {
  await withOwnCardea({ noConfig: true }, SUITE, async (s, h) => {
    const p = roomId();
    await s.expectError(h, { request: 'create', room: p, permanent: true }, 499,
      { sync: true, error: "No configuration file, can't create permanent room" });
    assert.equal((await s.syncOk(h, { request: 'exists', room: p })).exists, false, 'refused room not created');
    await s.expectError(h, { request: 'edit', room: 1234, secret: 'adminpwd', new_description: 'x', permanent: true }, 499,
      { sync: true, error: "No configuration file, can't edit room permanently" });
    await s.expectError(h, { request: 'destroy', room: 1234, secret: 'adminpwd', permanent: true }, 499,
      { sync: true, error: "No configuration file, can't destroy room permanently" });
    assert.equal((await s.syncOk(h, { request: 'exists', room: 1234 })).exists, true);
  });
});
