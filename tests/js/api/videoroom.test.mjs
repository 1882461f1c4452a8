// janus.plugin.videoroom driven by janode 1.8 (Meetecho's own client: its VideoRoom plugin
// module where it fits, raw handle messages where exact shapes or error codes are checked) over
// the WebSocket transport. Room management (list, exists, create, edit, allowed, destroy, kick,
// listparticipants, listforwarders), publishers (join, publish with a static Chrome-like SDP
// offer, codec preferences, simulcast, unpublish, leave, notify_joining), subscribers (join with
// Cardea's offer, start with a hand-made answer, pause, configure, switch, subscribe /
// unsubscribe / update with a new offer, leave) and the plugin's error codes. No browser: str0m
// accepts an offer without the PeerConnection ever connecting.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Janode from 'janode';
import VideoRoomPlugin from 'janode/plugins/videoroom';
import { PluginSuite } from './janode-plugin.mjs';
import { hex, fingerprint, iceCreds, mSections, answerTo, assertOnlyRtxBesides } from './sdp-kit.mjs';
import { launch, shutdown, sleep, tx, assertId } from './helpers.mjs';
import { withOwnCardea, stateFile } from './permanent-kit.mjs';

Janode.Logger.setLevel(process.env.JANODE_LOG || 'none');

const PLUGIN = 'janus.plugin.videoroom';
const VR = VideoRoomPlugin.EVENT;
const T = { timeout: 15000 };

let cardea;
let connection;
let session;
const suite = new PluginSuite({ plugin: PLUGIN, key: 'videoroom', module: VideoRoomPlugin, prefix: 'vr' });
const { handles, seen } = suite;
const waitSeen = (pred, opts) => suite.waitSeen(pred, opts);
const janodeEvent = (h, name, timeout) => suite.janodeEvent(h, name, timeout);
const attach = () => suite.attach();
const lastReply = (h) => suite.lastReply(h);
const send = (h, body, jsep) => suite.send(h, body, jsep);
const syncOk = (h, body) => suite.syncOk(h, body);
const asyncOk = (h, body, jsep) => suite.asyncOk(h, body, jsep);
const expectVrError = (h, body, code, opts) => suite.expectError(h, body, code, opts);

// ---------------------------------------------------------------------------------------------
// Helpers

/** A fresh room id (JS-safe, unlikely to collide with 1234 or another test's room). */
const roomId = () => 100000 + Math.floor(Math.random() * 1e12);
/** A fresh publisher id. */
const feedId = () => 1 + Math.floor(Math.random() * 1e12);

const waitEvent = (h, pred, opts) => suite.waitEvent(h, pred, opts);

const eventsOf = (h, from) => suite.eventsOf(h, from);

/**
 * A leaving/unpublished notification's data without its optional `display` (newer Janus
 * versions add the participant's display name there; janode reads it): when present it must
 * be the participant's.
 */
function withoutDisplay(data, display) {
  const { display: d, ...rest } = data;
  if (d !== undefined) assert.equal(d, display, `display in ${JSON.stringify(data)}`);
  return rest;
}

/** Plugin error through janode's high-level API: rejects with _code set. */
async function expectJanodeReject(promise, code) {
  await assert.rejects(promise, (e) => {
    assert.equal(e._code, code, `janode error ${e.message}`);
    assert.ok(e.message.startsWith(`${code} `), e.message);
    return true;
  });
}

// ----- SDP --------------------------------------------------------------------------------------
// Cardea's own payload types for subscriber offers (Chrome's numbers), by room codec name.
const CANONICAL = {
  opus: [111, 'opus'], g722: [9, 'G722'], pcmu: [0, 'PCMU'], pcma: [8, 'PCMA'],
  vp8: [96, 'VP8'], vp9: [98, 'VP9'], h264: [102, 'H264'], av1: [45, 'AV1'],
};

const ssrc = () => 1 + randomBytes(4).readUInt32BE(0) % 0xfffffff0;

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
const VFB = ['goog-remb', 'transport-cc', 'ccm fir', 'nack', 'nack pli'];
const VP8 = [{ pt: 96, map: 'VP8/90000', fb: VFB }, { pt: 97, map: 'rtx/90000', fmtp: 'apt=96' }];
const H264 = [
  { pt: 102, map: 'H264/90000', fmtp: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f', fb: VFB },
  { pt: 103, map: 'rtx/90000', fmtp: 'apt=102' },
  { pt: 104, map: 'H264/90000', fmtp: 'level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f', fb: VFB },
  { pt: 105, map: 'rtx/90000', fmtp: 'apt=104' },
];
const VP9 = [{ pt: 98, map: 'VP9/90000', fmtp: 'profile-id=0', fb: VFB }, { pt: 99, map: 'rtx/90000', fmtp: 'apt=98' }];
// Chrome's order: VP8 first, then H.264, then VP9.
const VIDEO = [...VP8, ...H264, ...VP9];

/**
 * A Chrome-like publisher offer (sendonly audio + video, BUNDLE, rtcp-mux, one host candidate),
 * with made-up but well-formed ICE credentials, DTLS fingerprint and SSRCs.
 */
function publisherOffer({ audio = AUDIO, video = VIDEO, simulcast = null } = {}) {
  const ufrag = hex(4);
  const pwd = hex(12);
  const fp = fingerprint();
  const stream = hex(8);
  const cname = hex(8);
  const port = 40000 + Math.floor(Math.random() * 20000);
  const lines = [
    'v=0', `o=- ${BigInt(`0x${hex(7)}`)} 2 IN IP4 127.0.0.1`, 's=-', 't=0 0',
  ];
  const sections = [];
  if (audio) sections.push(['audio', audio]);
  if (video) sections.push(['video', video]);
  lines.push(`a=group:BUNDLE ${sections.map((_, i) => i).join(' ')}`, 'a=extmap-allow-mixed', `a=msid-semantic: WMS ${stream}`);
  sections.forEach(([kind, codecs], mid) => {
    const track = hex(8);
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
      'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
      'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
      'a=sendonly',
      `a=msid:${stream} ${track}`,
      'a=rtcp-mux',
    );
    if (kind === 'video') lines.push('a=rtcp-rsize');
    for (const c of codecs) {
      lines.push(`a=rtpmap:${c.pt} ${c.map}`);
      for (const fb of c.fb ?? []) lines.push(`a=rtcp-fb:${c.pt} ${fb}`);
      if (c.fmtp) lines.push(`a=fmtp:${c.pt} ${c.fmtp}`);
    }
    if (kind === 'video' && simulcast) {
      // As Chrome sends simulcast: rids and a=simulcast, no a=ssrc lines.
      lines.push('a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id',
        'a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id',
        ...simulcast.map((r) => `a=rid:${r} send`), `a=simulcast:send ${simulcast.join(';')}`);
      return;
    }
    const main = ssrc();
    if (kind === 'video' && codecs.some((c) => c.map.startsWith('rtx/'))) {
      const rtx = ssrc();
      lines.push(`a=ssrc-group:FID ${main} ${rtx}`,
        `a=ssrc:${main} cname:${cname}`, `a=ssrc:${main} msid:${stream} ${track}`,
        `a=ssrc:${rtx} cname:${cname}`, `a=ssrc:${rtx} msid:${stream} ${track}`);
    } else {
      lines.push(`a=ssrc:${main} cname:${cname}`, `a=ssrc:${main} msid:${stream} ${track}`);
    }
  });
  return { type: 'offer', sdp: `${lines.join('\r\n')}\r\n` };
}



/**
 * A subscriber m-line: sendonly, carries `codec` (room codec name) under Cardea's payload type;
 * anything else it lists is another codec of the room (same kind) under its payload type, or
 * an rtx of one of those.
 */
function assertSubscriberMline(m, codec, roomCodecs, sdp) {
  assert.equal(m.dir, 'sendonly', `sendonly m-line ${m.mid}:\n${sdp}`);
  const [pt, name] = CANONICAL[codec];
  assert.ok(m.fmts.includes(String(pt)), `${codec} under PT ${pt} on m-line ${m.mid}:\n${sdp}`);
  assert.equal(m.rtpmap[pt], name, `PT ${pt} is ${name}:\n${sdp}`);
  const allowed = new Map(roomCodecs.map((c) => CANONICAL[c]).map(([p, n]) => [String(p), n]));
  for (const f of m.fmts) {
    if (m.rtpmap[f] === 'rtx') {
      const apt = m.lines.find((l) => l.startsWith(`a=fmtp:${f} apt=`))?.split('apt=')[1];
      assert.ok(allowed.has(apt), `rtx ${f} for a room codec (apt ${apt}):\n${sdp}`);
    } else {
      assert.equal(m.rtpmap[f], allowed.get(f), `format ${f} of m-line ${m.mid} is a room codec under its PT:\n${sdp}`);
    }
  }
}

/** Asserts the publisher answer restricts each m-line to one codec (plus its rtx), no simulcast. */
function assertOneCodecPerMline(answer, { audio, video }) {
  assert.equal(answer?.type, 'answer', `jsep answer expected: ${JSON.stringify(answer)}`);
  const ms = mSections(answer.sdp);
  const a = ms.find((m) => m.kind === 'audio');
  const v = ms.find((m) => m.kind === 'video');
  assert.ok(a && v, `audio and video m-lines in the answer:\n${answer.sdp}`);
  assert.deepEqual(a.codecs.map((pt) => [Number(pt), a.rtpmap[pt]]), [audio],
    `exactly one audio codec in the answer:\n${answer.sdp}`);
  assert.deepEqual(v.codecs.map((pt) => [Number(pt), v.rtpmap[pt]]), [video],
    `exactly one video codec in the answer:\n${answer.sdp}`);
  assertOnlyRtxBesides(a, audio[0], answer.sdp);
  assertOnlyRtxBesides(v, video[0], answer.sdp);
  assert.ok(!/^a=simulcast/m.test(answer.sdp), `no simulcast in the answer:\n${answer.sdp}`);
  assert.ok(!/^a=rid/m.test(answer.sdp), `no rid in the answer:\n${answer.sdp}`);
}

/** The list entry of a room (undefined when not listed). */
async function listed(h, room) {
  const d = await syncOk(h, { request: 'list' });
  assert.equal(d.videoroom, 'success');
  assert.ok(Array.isArray(d.list), JSON.stringify(d));
  return d.list.find((r) => r.room === room);
}

/** Joins h as a publisher; returns the raw "joined" data. */
async function joinPub(h, body) {
  const r = await asyncOk(h, { request: 'join', ptype: 'publisher', ...body });
  const d = r.plugindata.data;
  assert.equal(d.videoroom, 'joined', JSON.stringify(d));
  return d;
}

/** Publishes a default Chrome-like offer on h; returns the raw event (with its jsep answer). */
async function publish(h, body = {}, offer = publisherOffer()) {
  const r = await asyncOk(h, { request: 'publish', ...body }, offer);
  assert.equal(r.plugindata.data.configured, 'ok', JSON.stringify(r));
  return r;
}

// ---------------------------------------------------------------------------------------------

before(async () => {
  cardea = await launch();
  connection = await suite.connect(cardea.ws);
  session = suite.session;
});

after(async () => {
  await suite.close();
  await shutdown(cardea);
});

// ----- room management -------------------------------------------------------------------------

let mgr; // a handle for management requests

test('server_info lists janus.plugin.videoroom; list has room 1234 as in Janus\'s sample config', T, async () => {
  const info = await connection.getInfo();
  assert.ok(Object.hasOwn(info.plugins, PLUGIN), `plugins: ${JSON.stringify(Object.keys(info.plugins))}`);
  mgr = await attach();

  // janode's own list() digests the reply into {list}.
  const viaJanode = await mgr.list();
  assert.ok(Array.isArray(viaJanode.list), JSON.stringify(viaJanode));
  assert.ok(viaJanode.list.some((r) => r.room === 1234), `janode list() has 1234: ${JSON.stringify(viaJanode)}`);

  const r = await send(mgr, { request: 'list' });
  assert.equal(r.janus, 'success');
  assert.deepEqual(Object.keys(r.plugindata.data).sort(), ['list', 'videoroom']);
  const demo = await listed(mgr, 1234);
  assert.ok(demo, 'room 1234 listed');
  assert.equal(demo.description, 'Demo Room');
  assert.equal(demo.pin_required, false);
  assert.equal(demo.is_private, false);
  assert.equal(demo.max_publishers, 6);
  assert.equal(demo.bitrate, 128000);
  assert.equal(demo.fir_freq, 10);
  assert.equal(demo.audiocodec, 'opus');
  assert.equal(demo.videocodec, 'vp8');
  assert.equal(demo.num_participants, 0);
  assert.equal(demo.require_pvtid, false);
  assert.equal(demo.notify_joining, false);
  assert.equal('secret' in demo, false, 'the secret is not listed');
});

test('exists: {videoroom:"success", room, exists} for 1234 and for an unknown room', T, async () => {
  assert.deepEqual(await syncOk(mgr, { request: 'exists', room: 1234 }), { videoroom: 'success', room: 1234, exists: true });
  const nope = roomId();
  assert.deepEqual(await syncOk(mgr, { request: 'exists', room: nope }), { videoroom: 'success', room: nope, exists: false });
  const viaJanode = await mgr.exists({ room: 1234 });
  assert.equal(viaJanode.exists, true);
  assert.equal(viaJanode.room, 1234);
});

const R1 = roomId(); // created with options, secret s1, pin p1, notify_joining
let R1pin = 'p1';

test('create with options: {videoroom:"created", room, permanent:false}; list shows the options', T, async () => {
  const d = await syncOk(mgr, {
    request: 'create', room: R1, description: 'Room one', secret: 's1', pin: 'p1', is_private: false,
    publishers: 4, bitrate: 256000, bitrate_cap: true, fir_freq: 5, audiocodec: 'opus,pcmu', videocodec: 'vp8,h264',
    notify_joining: true, require_pvtid: false,
  });
  assert.deepEqual(d, { videoroom: 'created', room: R1, permanent: false });
  const e = await listed(mgr, R1);
  assert.ok(e, `room ${R1} listed`);
  assert.equal(e.description, 'Room one');
  assert.equal(e.pin_required, true);
  assert.equal(e.is_private, false);
  assert.equal(e.max_publishers, 4);
  assert.equal(e.bitrate, 256000);
  assert.equal(e.bitrate_cap, true);
  assert.equal(e.fir_freq, 5);
  assert.equal(e.audiocodec, 'opus,pcmu');
  assert.equal(e.videocodec, 'vp8,h264');
  assert.equal(e.notify_joining, true);
  assert.equal(e.require_pvtid, false);
  assert.equal(e.num_participants, 0);
  assert.deepEqual(await syncOk(mgr, { request: 'exists', room: R1 }), { videoroom: 'success', room: R1, exists: true });
});

test('create through janode, without a room id (one is picked), private rooms are not listed', T, async () => {
  const c = await mgr.create({ description: 'janode room', is_private: true });
  assert.equal(c.permanent, false);
  assertId(c.room, 'picked room id');
  const raw = lastReply(mgr).plugindata.data;
  assert.deepEqual(raw, { videoroom: 'created', room: c.room, permanent: false });
  assert.equal(await listed(mgr, c.room), undefined, 'a private room is not listed');
  assert.equal((await syncOk(mgr, { request: 'exists', room: c.room })).exists, true);
  // No secret: destroy needs none.
  assert.deepEqual(await syncOk(mgr, { request: 'destroy', room: c.room }), { videoroom: 'destroyed', room: c.room, permanent: false });
});

test('create: duplicate room -> 427, room 0 / unknown codec -> 430', T, async () => {
  await expectVrError(mgr, { request: 'create', room: R1 }, 427, { sync: true, error: `Room ${R1} already exists` });
  await expectVrError(mgr, { request: 'create', room: 1234 }, 427, { sync: true });
  await expectJanodeReject(mgr.create({ room: R1 }), 427);
  await expectVrError(mgr, { request: 'create', room: 0 }, 430, { sync: true });
  await expectVrError(mgr, { request: 'create', room: roomId(), audiocodec: 'mp3' }, 430, { sync: true });
  await expectVrError(mgr, { request: 'create', room: 'abc' }, 430, { sync: true });
});

test('edit: wrong secret -> 433; with the secret -> {videoroom:"edited"} and list shows the changes', T, async () => {
  await expectVrError(mgr, { request: 'edit', room: R1, secret: 'nope', new_description: 'x' }, 433, { sync: true });
  await expectVrError(mgr, { request: 'edit', room: R1, new_description: 'x' }, 433, { sync: true });
  await expectVrError(mgr, { request: 'edit', room: roomId(), secret: 's1' }, 426, { sync: true });
  assert.equal((await listed(mgr, R1)).description, 'Room one', 'refused edit changed nothing');
  const d = await syncOk(mgr, {
    request: 'edit', room: R1, secret: 's1', new_description: 'Room one, edited', new_publishers: 5,
    new_bitrate: 300000, new_fir_freq: 7, new_pin: 'p2',
  });
  assert.deepEqual(d, { videoroom: 'edited', room: R1, permanent: false });
  R1pin = 'p2';
  const e = await listed(mgr, R1);
  assert.equal(e.description, 'Room one, edited');
  assert.equal(e.max_publishers, 5);
  assert.equal(e.bitrate, 300000);
  assert.equal(e.fir_freq, 7);
  assert.equal(e.pin_required, true);
  // new_is_private hides it from list.
  await syncOk(mgr, { request: 'edit', room: R1, secret: 's1', new_is_private: true });
  assert.equal(await listed(mgr, R1), undefined, 'private after edit');
  await syncOk(mgr, { request: 'edit', room: R1, secret: 's1', new_is_private: false });
  assert.ok(await listed(mgr, R1), 'public again');
});

test('listforwarders: {videoroom:"forwarders", room, publishers:[]}; wrong secret -> 433', T, async () => {
  assert.deepEqual(await syncOk(mgr, { request: 'listforwarders', room: 1234, secret: 'adminpwd' }),
    { videoroom: 'forwarders', room: 1234, publishers: [] });
  await expectVrError(mgr, { request: 'listforwarders', room: 1234, secret: 'wrong' }, 433, { sync: true });
  await expectVrError(mgr, { request: 'listforwarders', room: roomId() }, 426, { sync: true });
});

test('allowed: enable/add/remove; join without a token -> 433, with an allowed token -> joined', T, async () => {
  const R = roomId();
  await syncOk(mgr, { request: 'create', room: R, secret: 'as' });
  await expectVrError(mgr, { request: 'allowed', room: R, secret: 'bad', action: 'enable' }, 433, { sync: true });
  assert.deepEqual(await syncOk(mgr, { request: 'allowed', room: R, secret: 'as', action: 'enable' }),
    { videoroom: 'success', room: R, allowed: [] });
  const added = await syncOk(mgr, { request: 'allowed', room: R, secret: 'as', action: 'add', allowed: ['tokB', 'tokA'] });
  assert.deepEqual(Object.keys(added).sort(), ['allowed', 'room', 'videoroom']);
  assert.equal(added.videoroom, 'success');
  assert.deepEqual([...added.allowed].sort(), ['tokA', 'tokB']);
  assert.deepEqual(await syncOk(mgr, { request: 'allowed', room: R, secret: 'as', action: 'remove', allowed: ['tokB'] }),
    { videoroom: 'success', room: R, allowed: ['tokA'] });
  await expectVrError(mgr, { request: 'allowed', room: R, secret: 'as', action: 'add' }, 429, { sync: true });
  await expectVrError(mgr, { request: 'allowed', room: R, secret: 'as' }, 429, { sync: true });
  await expectVrError(mgr, { request: 'allowed', room: R, secret: 'as', action: 'frob' }, 430, { sync: true });

  const h = await attach();
  await expectVrError(h, { request: 'join', ptype: 'publisher', room: R }, 433, { sync: false });
  await expectVrError(h, { request: 'join', ptype: 'publisher', room: R, token: 'tokB' }, 433, { sync: false });
  const j = await h.joinPublisher({ room: R, token: 'tokA', display: 'tok' });
  assert.equal(j.room, R);
  assertId(j.feed, 'feed id');
  assert.equal(lastReply(h).plugindata.data.videoroom, 'joined');
  // disable: anyone may join again.
  assert.deepEqual(await syncOk(mgr, { request: 'allowed', room: R, secret: 'as', action: 'disable' }),
    { videoroom: 'success', room: R, allowed: [] });
  const h2 = await attach();
  await joinPub(h2, { room: R });
  await syncOk(mgr, { request: 'destroy', room: R, secret: 'as' });
});

// ----- publishers ------------------------------------------------------------------------------

let A; let B; let C; // publishers in room 1234
const Aid = feedId();
let Bid;
let Cid;
let Aoffer;

test('join publisher with an id: "joined" {room, description, id, private_id, publishers:[]}; janode joinPublisher', T, async () => {
  A = await attach();
  const d = await joinPub(A, { room: 1234, id: Aid, display: 'alice' });
  const { private_id: pvt, ...rest } = d;
  assert.deepEqual(rest, { videoroom: 'joined', room: 1234, description: 'Demo Room', id: Aid, publishers: [] });
  assert.ok(Number.isSafeInteger(pvt) && pvt > 0, `private_id: ${pvt}`);

  B = await attach();
  const jb = await B.joinPublisher({ room: 1234, display: 'bob' });
  assertId(jb.feed, 'picked feed id');
  Bid = jb.feed;
  assert.equal(jb.room, 1234);
  assert.equal(jb.description, 'Demo Room');
  assert.deepEqual(jb.publishers, [], 'A has not published: not in publishers');
  assert.equal(typeof jb.private_id, 'number');
  assert.equal(lastReply(B).plugindata.data.id, Bid);
  assert.equal(lastReply(B).plugindata.data.attendees, undefined, 'no attendees without notify_joining');
  assert.equal(B.feed, Bid, 'janode stored the feed');
});

test('join errors: id clash 436, already joined 425, wrong/missing pin 433, no such room 426, missing room/ptype 429, bad ptype 430', T, async () => {
  const h = await attach();
  await expectVrError(h, { request: 'join', ptype: 'publisher', room: 1234, id: Aid }, 436, { sync: false, error: `User ID ${Aid} already exists` });
  await expectVrError(A, { request: 'join', ptype: 'publisher', room: 1234 }, 425, { sync: false });
  await expectVrError(A, { request: 'join', ptype: 'subscriber', room: 1234, streams: [{ feed: Bid }] }, 425, { sync: false });
  await expectVrError(h, { request: 'join', ptype: 'publisher', room: R1, pin: 'p1-wrong' }, 433, { sync: false });
  await expectVrError(h, { request: 'join', ptype: 'publisher', room: R1 }, 433, { sync: false });
  const nope = roomId();
  await expectVrError(h, { request: 'join', ptype: 'publisher', room: nope }, 426, { sync: false, error: `No such room (${nope})` });
  await expectVrError(h, { request: 'join', ptype: 'publisher' }, 429, { sync: false, error: 'Missing element (room)' });
  await expectVrError(h, { request: 'join', room: 1234 }, 429, { sync: false, error: 'Missing element (ptype)' });
  await expectVrError(h, { request: 'join', ptype: 'spectator', room: 1234 }, 430, { sync: false });
  await expectVrError(h, { request: 'join', ptype: 'publisher', room: 1234, id: 'x' }, 430, { sync: false });
  await expectJanodeReject(h.joinPublisher({ room: 1234, feed: Aid }), 436);
  // After all that, the handle can still join.
  const ok = await joinPub(h, { room: R1, pin: R1pin, display: 'late' });
  assert.equal(ok.room, R1);
  await asyncOk(h, { request: 'leave' });
});

test('publish: configured event + answer with exactly one audio and one video codec; the others get "publishers"', T, async () => {
  const fromB = seen.length;
  const janodeList = janodeEvent(B, VR.VIDEOROOM_PUB_LIST);
  Aoffer = publisherOffer();
  const r = await publish(A, { descriptions: [{ mid: '1', description: 'camera' }] }, Aoffer);
  const d = r.plugindata.data;
  assert.deepEqual(d, {
    videoroom: 'event', room: 1234, configured: 'ok', audio_codec: 'opus', video_codec: 'vp8',
    streams: [
      { type: 'audio', mindex: 0, mid: '0', codec: 'opus' },
      { type: 'video', mindex: 1, mid: '1', codec: 'vp8', description: 'camera' },
    ],
  });
  assertOneCodecPerMline(r.jsep, { audio: [111, 'opus'], video: [96, 'VP8'] });
  const ms = mSections(r.jsep.sdp);
  assert.deepEqual(ms.map((m) => m.mid), ['0', '1'], 'answer keeps the offer\'s mids');
  assert.deepEqual(ms.map((m) => m.dir), ['recvonly', 'recvonly'], 'answer to sendonly is recvonly');

  const ev = await waitEvent(B, (x) => Array.isArray(x.publishers), { from: fromB, what: 'publishers event' });
  assert.deepEqual(ev.plugindata.data, {
    videoroom: 'event', room: 1234,
    publishers: [{
      id: Aid, display: 'alice', talking: false, audio_codec: 'opus', video_codec: 'vp8',
      streams: [
        { type: 'audio', mindex: 0, mid: '0', codec: 'opus' },
        { type: 'video', mindex: 1, mid: '1', codec: 'vp8', description: 'camera' },
      ],
    }],
  });
  const jl = await janodeList;
  assert.ok(jl, 'janode emitted VIDEOROOM_PUB_LIST on B');
  assert.equal(jl.publishers[0].feed, Aid);
  assert.equal(jl.publishers[0].videocodec, 'vp8');
  assert.equal(eventsOf(A, fromB).filter((x) => x.publishers).length, 0, 'the publisher is not told of itself');
});

test('a newcomer sees the published feed in joined.publishers; when B publishes, A and C are told', T, async () => {
  C = await attach();
  const d = await joinPub(C, { room: 1234, display: 'carol' });
  Cid = d.id;
  assert.equal(d.publishers.length, 1, `only published feeds: ${JSON.stringify(d.publishers)}`);
  assert.deepEqual(d.publishers[0], {
    id: Aid, display: 'alice', talking: false, audio_codec: 'opus', video_codec: 'vp8',
    streams: [
      { type: 'audio', mindex: 0, mid: '0', codec: 'opus' },
      { type: 'video', mindex: 1, mid: '1', codec: 'vp8', description: 'camera' },
    ],
  });

  const from = seen.length;
  const r = await B.publish({ jsep: publisherOffer() });
  assert.equal(r.configured, 'ok');
  assert.equal(r.feed, Bid);
  assert.equal(r.jsep?.type, 'answer');
  for (const h of [A, C]) {
    const ev = await waitEvent(h, (x) => x.publishers?.[0]?.id === Bid, { from, what: 'publishers with B' });
    const p = ev.plugindata.data.publishers[0];
    assert.equal(p.display, 'bob');
    assert.equal(p.video_codec, 'vp8');
    assert.deepEqual(p.streams.map((s) => [s.type, s.mid, s.codec]), [['audio', '0', 'opus'], ['video', '1', 'vp8']]);
  }
  // C, a newcomer after both published, would see both: check with listparticipants.
  const lp = await syncOk(mgr, { request: 'listparticipants', room: 1234 });
  assert.equal(lp.videoroom, 'participants');
  assert.equal(lp.room, 1234);
  const byId = Object.fromEntries(lp.participants.map((p) => [p.id, p]));
  assert.deepEqual(byId[Aid], { id: Aid, display: 'alice', publisher: true, talking: false });
  assert.deepEqual(byId[Bid], { id: Bid, display: 'bob', publisher: true, talking: false });
  assert.deepEqual(byId[Cid], { id: Cid, display: 'carol', publisher: false, talking: false });
  assert.equal(lp.participants.length, 3);
  const viaJanode = await mgr.listParticipants({ room: 1234 });
  assert.equal(viaJanode.participants.length, 3);
  assert.ok(viaJanode.participants.some((p) => p.feed === Aid && p.publisher === true));
  assert.equal((await listed(mgr, 1234)).num_participants, 3);
});

test('publisher errors: publish twice 434, unpublish unpublished 435, publish without jsep 429, configure', T, async () => {
  await expectVrError(A, { request: 'publish' }, 434, { sync: false, jsep: publisherOffer() });
  await expectVrError(C, { request: 'unpublish' }, 435, { sync: false });
  await expectVrError(C, { request: 'publish' }, 429, { sync: false, error: 'Missing element (jsep)' });
  // configure without an offer: bitrate / keyframe.
  const r = await asyncOk(A, { request: 'configure', bitrate: 100000, keyframe: true });
  assert.deepEqual(r.plugindata.data, { videoroom: 'event', room: 1234, configured: 'ok' });
  assert.equal(r.jsep, undefined);
  const viaJanode = await A.configure({ bitrate: 0 });
  assert.equal(viaJanode.configured, 'ok');
});

test('codec preferences: room videocodec "h264,vp8" picks H.264 from an offer listing VP8 first; audiocodec "pcmu,opus" picks PCMU', T, async () => {
  const R = roomId();
  await syncOk(mgr, { request: 'create', room: R, videocodec: 'h264,vp8', audiocodec: 'pcmu,opus' });
  const h = await attach();
  await joinPub(h, { room: R });
  const r = await publish(h);
  const d = r.plugindata.data;
  assert.equal(d.audio_codec, 'pcmu');
  assert.equal(d.video_codec, 'h264');
  assert.deepEqual(d.streams.map((s) => [s.type, s.codec]), [['audio', 'pcmu'], ['video', 'h264']]);
  // H.264 with packetization-mode=1 (PT 102) rather than mode 0 (104).
  assertOneCodecPerMline(r.jsep, { audio: [0, 'PCMU'], video: [102, 'H264'] });
  assert.match(r.jsep.sdp, /^a=fmtp:102 .*packetization-mode=1/m);

  // Per-publisher preference among the room's codecs; one not allowed in the room -> 430.
  const h2 = await attach();
  await joinPub(h2, { room: R });
  await expectVrError(h2, { request: 'publish', videocodec: 'vp9' }, 430, { sync: false, jsep: publisherOffer() });
  const r2 = await publish(h2, { videocodec: 'vp8', audiocodec: 'opus' });
  assert.equal(r2.plugindata.data.video_codec, 'vp8');
  assert.equal(r2.plugindata.data.audio_codec, 'opus');
  assertOneCodecPerMline(r2.jsep, { audio: [111, 'opus'], video: [96, 'VP8'] });

  // Offer with no codec the room allows at all -> 437.
  const h3 = await attach();
  await joinPub(h3, { room: R });
  await expectVrError(h3, { request: 'publish' }, 437, { sync: false, jsep: publisherOffer({ audio: [AUDIO[2]], video: VP9 }) });
  codecRoom = { R, h264: h, vp8: h2 };
});
let codecRoom;

test('publishers full: room with publishers:1 -> second publish gets 432', T, async () => {
  const R = roomId();
  await syncOk(mgr, { request: 'create', room: R, publishers: 1 });
  assert.equal((await listed(mgr, R)).max_publishers, 1);
  const p = await attach();
  await joinPub(p, { room: R });
  await publish(p);
  const q = await attach();
  await joinPub(q, { room: R }); // joining is fine, publishing is not
  await expectVrError(q, { request: 'publish' }, 432, { sync: false, jsep: publisherOffer() });
  await expectJanodeReject(q.publish({ jsep: publisherOffer() }), 432);
  await syncOk(mgr, { request: 'destroy', room: R });
});

// ----- subscribers -----------------------------------------------------------------------------

let S; // subscriber to A in 1234
let Soffer;
let Sstreams;

test('subscriber join: "attached" with streams + a sendonly offer with the publisher\'s payload types, mids matching', T, async () => {
  S = await attach();
  const r = await asyncOk(S, { request: 'join', ptype: 'subscriber', room: 1234, streams: [{ feed: Aid }] });
  const d = r.plugindata.data;
  assert.deepEqual(Object.keys(d).sort(), ['room', 'streams', 'videoroom']);
  assert.equal(d.videoroom, 'attached');
  assert.equal(d.room, 1234);
  assert.equal(r.jsep?.type, 'offer', `jsep offer: ${JSON.stringify(r.jsep)}`);
  const ms = mSections(r.jsep.sdp);
  assert.deepEqual(ms.map((m) => m.kind), ['audio', 'video']);
  assert.deepEqual(ms.map((m) => m.dir), ['sendonly', 'sendonly'], `sendonly m-lines:\n${r.jsep.sdp}`);
  assert.deepEqual(ms[0].codecs, ['111'], `publisher's audio PT:\n${r.jsep.sdp}`);
  assert.equal(ms[0].rtpmap['111'], 'opus');
  assert.deepEqual(ms[1].codecs, ['96'], `publisher's video PT:\n${r.jsep.sdp}`);
  assert.equal(ms[1].rtpmap['96'], 'VP8');
  assertOnlyRtxBesides(ms[0], 111, r.jsep.sdp);
  assertOnlyRtxBesides(ms[1], 96, r.jsep.sdp);
  assert.ok(ms.every((m) => m.mid !== undefined), 'every m-line has a mid');
  assert.deepEqual(d.streams, [
    { mindex: 0, mid: ms[0].mid, type: 'audio', active: true, feed_id: Aid, feed_mid: '0', feed_display: 'alice', send: true, codec: 'opus', ready: false },
    { mindex: 1, mid: ms[1].mid, type: 'video', active: true, feed_id: Aid, feed_mid: '1', feed_display: 'alice', send: true, codec: 'vp8', ready: false },
  ]);
  Soffer = r.jsep;
  Sstreams = d.streams;
});

test('subscriber: start with an SDP offer -> 431; start with an answer -> started; pause -> paused; start -> started', T, async () => {
  await expectVrError(S, { request: 'start' }, 431, { sync: false, jsep: publisherOffer() });
  const r = await asyncOk(S, { request: 'start' }, answerTo(Soffer.sdp));
  assert.deepEqual(r.plugindata.data, { videoroom: 'event', room: 1234, started: 'ok' });
  assert.equal(r.jsep, undefined);
  const p = await S.pause();
  assert.equal(p.paused, 'ok');
  assert.deepEqual(lastReply(S).plugindata.data, { videoroom: 'event', room: 1234, paused: 'ok' });
  const again = await asyncOk(S, { request: 'start' });
  assert.deepEqual(again.plugindata.data, { videoroom: 'event', room: 1234, started: 'ok' });
});

test('subscriber configure: streams [{mid, send:false}] -> configured; unknown mid -> 428', T, async () => {
  const video = Sstreams.find((s) => s.type === 'video');
  const r = await asyncOk(S, { request: 'configure', streams: [{ mid: video.mid, send: false }] });
  assert.deepEqual(r.plugindata.data, { videoroom: 'event', room: 1234, configured: 'ok' });
  const back = await S.configure({ streams: [{ mid: video.mid, send: true }] });
  assert.equal(back.configured, 'ok');
  await expectVrError(S, { request: 'configure', streams: [{ mid: 'no-such-mid', send: false }] }, 428, { sync: false });
});

test('switch: to another feed with the same codec -> switched; to a different codec -> 438; unknown feed -> 428', T, async () => {
  // C publishes too (same codecs, same payload types).
  await publish(C);
  const video = Sstreams.find((s) => s.type === 'video');
  const audio = Sstreams.find((s) => s.type === 'audio');
  const r = await asyncOk(S, { request: 'switch', streams: [{ feed: Cid, mid: '1', sub_mid: video.mid }] });
  const d = r.plugindata.data;
  assert.equal(d.videoroom, 'event');
  assert.equal(d.room, 1234);
  assert.equal(d.switched, 'ok');
  assert.equal(d.changes, 1);
  const sv = d.streams.find((s) => s.mid === video.mid);
  assert.equal(sv.feed_id, Cid);
  assert.equal(sv.feed_mid, '1');
  assert.equal(sv.feed_display, 'carol');
  assert.equal(sv.active, true);
  assert.equal(d.streams.find((s) => s.mid === audio.mid).feed_id, Aid, 'audio still from A');
  // Audio mid fed by a video stream: another codec.
  await expectVrError(S, { request: 'switch', streams: [{ feed: Cid, mid: '1', sub_mid: audio.mid }] }, 438, { sync: false });
  await expectVrError(S, { request: 'switch', streams: [{ feed: feedId(), mid: '1', sub_mid: video.mid }] }, 428, { sync: false });
  await expectVrError(S, { request: 'switch', streams: [{ feed: Cid, mid: '9', sub_mid: video.mid }] }, 428, { sync: false });
  await expectVrError(S, { request: 'switch', streams: [{ feed: Cid, mid: '1', sub_mid: 'nope' }] }, 428, { sync: false });
  await expectVrError(S, { request: 'switch' }, 429, { sync: false });
  // Back to A through janode's switch().
  const j = await S.switch({ streams: [{ feed: Aid, mid: '1', sub_mid: video.mid }] });
  assert.equal(j.switched, 'ok');
  assert.equal(j.streams.find((s) => s.mid === video.mid).feed_id, Aid);
});

test('switch between an H.264 and a VP8 publisher (room "h264,vp8") -> 438', T, async () => {
  const { R, h264, vp8 } = codecRoom;
  const h264Feed = h264.feed;
  const vp8Feed = vp8.feed;
  const sub = await attach();
  const j = await sub.joinSubscriber({ room: R, streams: [{ feed: h264Feed, mid: '1' }] });
  assert.equal(j.streams.length, 1);
  assert.equal(j.streams[0].codec, 'h264');
  const ms = mSections(j.jsep.sdp);
  assert.equal(ms.length, 1);
  assertSubscriberMline(ms[0], 'h264', ['h264', 'vp8'], j.jsep.sdp);
  assert.match(j.jsep.sdp, /^a=fmtp:102 .*packetization-mode=1/m);
  assert.equal(j.streams[0].mid, ms[0].mid);
  const started = await sub.start({ jsep: answerTo(j.jsep.sdp) });
  assert.equal(started.started, 'ok');
  await expectVrError(sub, { request: 'switch', streams: [{ feed: vp8Feed, mid: '1', sub_mid: j.streams[0].mid }] }, 438, { sync: false });
  await expectJanodeReject(sub.switch({ streams: [{ feed: vp8Feed, mid: '1', sub_mid: j.streams[0].mid }] }), 438);
});

test('payload types: a publisher using VP8 100 / opus 109 is offered to subscribers as 96 / 111; switch across them works', T, async () => {
  const D = await attach();
  await joinPub(D, { room: 1234, display: 'dave' });
  const offer = publisherOffer({
    audio: [{ ...AUDIO[0], pt: 109 }, ...AUDIO.slice(2)],
    video: [{ ...VP8[0], pt: 100 }, { pt: 101, map: 'rtx/90000', fmtp: 'apt=100' }],
  });
  const r = await publish(D, {}, offer);
  // The answer keeps the offerer's payload types.
  assertOneCodecPerMline(r.jsep, { audio: [109, 'opus'], video: [100, 'VP8'] });
  const V = await attach();
  const j = await asyncOk(V, { request: 'join', ptype: 'subscriber', room: 1234, streams: [{ feed: D.feed }] });
  const ms = mSections(j.jsep.sdp);
  assert.deepEqual(ms.map((m) => m.kind), ['audio', 'video']);
  assertSubscriberMline(ms[0], 'opus', ['opus'], j.jsep.sdp);
  assertSubscriberMline(ms[1], 'vp8', ['vp8'], j.jsep.sdp);
  assert.ok(!ms[0].fmts.includes('109') && !ms[1].fmts.includes('100'), `Cardea's numbers, not the publisher's:\n${j.jsep.sdp}`);
  assert.deepEqual(j.plugindata.data.streams.map((s) => [s.type, s.codec, s.feed_id, s.mid]),
    [['audio', 'opus', D.feed, ms[0].mid], ['video', 'vp8', D.feed, ms[1].mid]]);
  await asyncOk(V, { request: 'start' }, answerTo(j.jsep.sdp));
  // Same codec under another payload type: switching is fine.
  const sw = await asyncOk(V, { request: 'switch', streams: [{ feed: Aid, mid: '1', sub_mid: ms[1].mid }] });
  assert.equal(sw.plugindata.data.switched, 'ok');
  assert.equal(sw.plugindata.data.streams.find((s) => s.mid === ms[1].mid).feed_id, Aid);
  assert.deepEqual((await asyncOk(V, { request: 'leave' })).plugindata.data, { videoroom: 'event', room: 1234, left: 'ok' });
  await asyncOk(D, { request: 'leave' });
});

/** Answers a renegotiation offer (same ICE/DTLS as before) with start + answer: started. */
async function answerReoffer(h, offer, creds) {
  const r = await send(h, { request: 'start' }, answerTo(offer, creds));
  assert.equal(r.janus, 'event', `start + answer to Cardea's new offer on a live PeerConnection -> ${JSON.stringify(r)}`);
  assert.deepEqual(r.plugindata?.data, { videoroom: 'event', room: r.plugindata?.data?.room, started: 'ok' }, JSON.stringify(r));
}

test('subscribe / unsubscribe / update: "updated" with every stream + a new offer on the same PC, answered with start', T, async () => {
  const U = await attach();
  const creds = iceCreds();
  const attr = (sdp, a) => sdp.match(new RegExp(`^a=${a}:(.+)$`, 'm'))?.[1];
  const j = await asyncOk(U, { request: 'join', ptype: 'subscriber', room: 1234, streams: [{ feed: Aid, mid: '0' }] });
  const m0 = mSections(j.jsep.sdp);
  assert.deepEqual(m0.map((m) => m.kind), ['audio']);
  await asyncOk(U, { request: 'start' }, answerTo(j.jsep.sdp, creds));

  await expectVrError(U, { request: 'subscribe' }, 429, { sync: false, error: 'Missing element (streams)' });
  await expectVrError(U, { request: 'subscribe', streams: [] }, 429, { sync: false });
  await expectVrError(U, { request: 'update' }, 429, { sync: false });
  await expectVrError(U, { request: 'subscribe', streams: [{ feed: feedId() }] }, 428, { sync: false });
  await expectVrError(U, { request: 'unsubscribe', streams: [{}] }, 429, { sync: false });

  // subscribe: A's video joins the audio.
  const r1 = await asyncOk(U, { request: 'subscribe', streams: [{ feed: Aid, mid: '1' }] });
  const d1 = r1.plugindata.data;
  assert.deepEqual(Object.keys(d1).sort(), ['room', 'streams', 'videoroom']);
  assert.equal(d1.videoroom, 'updated');
  assert.equal(d1.room, 1234);
  assert.equal(r1.jsep?.type, 'offer', `a new offer: ${JSON.stringify(r1.jsep)}`);
  const m1 = mSections(r1.jsep.sdp);
  assert.deepEqual(m1.map((m) => m.kind), ['audio', 'video']);
  assert.equal(m1[0].mid, m0[0].mid, 'the first m-line is kept');
  assertSubscriberMline(m1[1], 'vp8', ['vp8'], r1.jsep.sdp);
  assert.deepEqual(d1.streams.map((s) => [s.mindex, s.mid, s.type, s.active, s.feed_id, s.feed_mid]),
    [[0, m1[0].mid, 'audio', true, Aid, '0'], [1, m1[1].mid, 'video', true, Aid, '1']]);
  assert.equal(attr(r1.jsep.sdp, 'fingerprint'), attr(j.jsep.sdp, 'fingerprint'), 'same PeerConnection: same DTLS certificate');
  assert.equal(attr(r1.jsep.sdp, 'ice-ufrag'), attr(j.jsep.sdp, 'ice-ufrag'), 'same PeerConnection: no ICE restart');
  await answerReoffer(U, r1.jsep.sdp, creds);

  // unsubscribe by sub_mid: the video stream stays listed, inactive; its m-line goes inactive.
  const r2 = await asyncOk(U, { request: 'unsubscribe', streams: [{ sub_mid: m1[1].mid }] });
  const d2 = r2.plugindata.data;
  assert.equal(d2.videoroom, 'updated');
  assert.deepEqual(d2.streams.map((s) => [s.mid, s.active]), [[m1[0].mid, true], [m1[1].mid, false]]);
  assert.equal(r2.jsep?.type, 'offer');
  const m2 = mSections(r2.jsep.sdp);
  assert.deepEqual(m2.map((m) => m.mid), [m1[0].mid, m1[1].mid]);
  assert.equal(m2[0].dir, 'sendonly');
  assert.ok(m2[1].dir === 'inactive' || m2[1].port === 0, `unsubscribed m-line inactive:\n${r2.jsep.sdp}`);
  await answerReoffer(U, r2.jsep.sdp, creds);

  // update: B's streams in, A's out (by feed), one offer.
  const r3 = await asyncOk(U, { request: 'update', subscribe: [{ feed: Bid }], unsubscribe: [{ feed: Aid }] });
  const d3 = r3.plugindata.data;
  assert.equal(d3.videoroom, 'updated');
  const m3 = mSections(r3.jsep.sdp);
  const live = d3.streams.filter((s) => s.active);
  assert.deepEqual(live.map((s) => [s.type, s.feed_id, s.feed_mid]), [['audio', Bid, '0'], ['video', Bid, '1']]);
  assert.ok(d3.streams.filter((s) => !s.active).every((s) => s.feed_id === Aid), JSON.stringify(d3.streams));
  for (const s of d3.streams) {
    const m = m3.find((x) => x.mid === s.mid);
    assert.ok(m, `stream ${s.mid} has its m-line in the offer:\n${r3.jsep.sdp}`);
    if (s.active) assertSubscriberMline(m, s.codec, [s.codec], r3.jsep.sdp);
    else assert.ok(m.dir === 'inactive' || m.port === 0, `m-line ${s.mid} inactive:\n${r3.jsep.sdp}`);
    assert.equal(m3.indexOf(m), s.mindex, 'mindex is the m-line index');
  }
  await answerReoffer(U, r3.jsep.sdp, creds);

  // Through janode's update(): B's audio out.
  const u = await U.update({ unsubscribe: [{ feed: Bid, mid: '0' }] });
  assert.equal(u.jsep?.type, 'offer');
  assert.deepEqual(u.streams.filter((s) => s.active).map((s) => [s.type, s.feed_id]), [['video', Bid]]);
  await answerReoffer(U, u.jsep.sdp, creds);
  await asyncOk(U, { request: 'leave' });
});

test('simulcast: the answer has a=simulcast:recv; streams say simulcast; subscribers choose the substream', T, async () => {
  const P = await attach();
  await joinPub(P, { room: 1234, display: 'sim' });
  const from = seen.length;
  const r = await publish(P, {}, publisherOffer({ simulcast: ['h', 'l'] }));
  const d = r.plugindata.data;
  assert.deepEqual(d.streams, [
    { type: 'audio', mindex: 0, mid: '0', codec: 'opus' },
    { type: 'video', mindex: 1, mid: '1', codec: 'vp8', simulcast: true },
  ]);
  const v = mSections(r.jsep.sdp).find((m) => m.kind === 'video');
  const sim = v.lines.find((l) => l.startsWith('a=simulcast:'));
  assert.ok(sim && /^a=simulcast:recv /.test(sim), `a=simulcast:recv in the answer:\n${r.jsep.sdp}`);
  assert.deepEqual(sim.slice('a=simulcast:recv '.length).split(';').map((x) => x.replace(/^~/, '')).sort(), ['h', 'l']);
  assert.ok(v.lines.includes('a=rid:h recv') && v.lines.includes('a=rid:l recv'), `rids in the answer:\n${r.jsep.sdp}`);
  assert.deepEqual(v.codecs, ['96'], 'still one video codec');
  const ev = await waitEvent(A, (x) => x.publishers?.[0]?.id === P.feed, { from, what: 'publishers with the simulcast feed' });
  assert.equal(ev.plugindata.data.publishers[0].streams[1].simulcast, true);

  const Q = await attach();
  const j = await asyncOk(Q, { request: 'join', ptype: 'subscriber', room: 1234, streams: [{ feed: P.feed, mid: '1', substream: 0 }] });
  const sv = j.plugindata.data.streams[0];
  // As Janus shows it: nothing forwarded yet (-1), the layers asked for as targets.
  const simTo = (target) => ({ substream: -1, 'substream-target': target, 'temporal-layer': -1, 'temporal-layer-target': 2 });
  assert.deepEqual(sv.simulcast, simTo(0), JSON.stringify(sv));
  assert.equal(sv.codec, 'vp8');
  assert.ok(!/^a=(simulcast|rid)/m.test(j.jsep.sdp), `one layer at a time to a subscriber: no simulcast in its offer:\n${j.jsep.sdp}`);
  await asyncOk(Q, { request: 'start' }, answerTo(j.jsep.sdp));
  const c = await asyncOk(Q, { request: 'configure', streams: [{ mid: sv.mid, substream: 1 }] });
  assert.deepEqual(c.plugindata.data, { videoroom: 'event', room: 1234, configured: 'ok' });
  // No substream asked: the best layer (the highest index).
  const Q2 = await attach();
  const j2 = await asyncOk(Q2, { request: 'join', ptype: 'subscriber', room: 1234, streams: [{ feed: P.feed }] });
  assert.deepEqual(j2.plugindata.data.streams.map((s) => s.simulcast), [undefined, simTo(1)]);
  // Legacy top-level substream.
  const c2 = await asyncOk(Q2, { request: 'configure', substream: 0 });
  assert.equal(c2.plugindata.data.configured, 'ok');
  for (const h of [Q, Q2]) await asyncOk(h, { request: 'leave' });
  await asyncOk(P, { request: 'leave' });
});

test('rtp_forward forms: layers to port/port_2 (port_3 of a 2-layer feed 430), simulcast:true, rtcp_port; listforwarders; stop', T, async () => {
  const P = await attach();
  await joinPub(P, { room: 1234, display: 'fwd' });
  await publish(P, {}, publisherOffer({ simulcast: ['h', 'l'] }));
  const layers = await syncOk(mgr, { request: 'rtp_forward', room: 1234, secret: 'adminpwd', publisher_id: P.feed, host: '127.0.0.1',
    streams: [{ mid: '1', port: 40000, ssrc: 11, port_2: 40002, ssrc_2: 12, pt_2: 101 }] });
  assert.equal(layers.videoroom, 'rtp_forward');
  assert.deepEqual(layers.forwarders.map((f) => [f.type, f.port, f.ssrc, f.substream ?? 0, f.pt]), [
    ['video', 40000, 11, 0, undefined], ['video', 40002, 12, 1, 101]]);
  await expectVrError(mgr, { request: 'rtp_forward', room: 1234, secret: 'adminpwd', publisher_id: P.feed, host: '127.0.0.1',
    streams: [{ mid: '1', port: 40004, port_3: 40006 }] }, 430, { sync: true });
  const viewer = await syncOk(mgr, { request: 'rtp_forward', room: 1234, secret: 'adminpwd', publisher_id: P.feed, host: '127.0.0.1',
    streams: [{ mid: '1', port: 40008, simulcast: true, rtcp_port: 40009 }, { mid: '0', port: 40010, rtcp_port: 40011 }] });
  const [v, a] = viewer.forwarders;
  assert.equal(v.simulcast, true, JSON.stringify(v));
  assert.equal(v.substream, undefined, 'a switching forwarder has no one substream');
  assert.equal(v.remote_rtcp_port, 40009, JSON.stringify(v));
  // The receiver's RTCP comes back to the media socket the forwarder sends from (one shard
  // here): Janus's local_rtcp_port.
  const mediaPort = Number(cardea.ready.media[0].split(':').pop());
  assert.equal(v.local_rtcp_port, mediaPort, JSON.stringify({ v, media: cardea.ready.media }));
  assert.equal(a.local_rtcp_port, undefined, JSON.stringify(a));
  assert.equal(a.type, 'audio');
  assert.equal(a.remote_rtcp_port, undefined, 'RTCP feedback is for video only');
  const listed = await syncOk(mgr, { request: 'listforwarders', room: 1234, secret: 'adminpwd' });
  const mine = listed.publishers.find((p) => p.publisher_id === P.feed);
  assert.deepEqual(mine.forwarders.map((f) => f.port).sort(), [40000, 40002, 40008, 40010]);
  for (const f of mine.forwarders) {
    const stop = await syncOk(mgr, { request: 'stop_rtp_forward', room: 1234, secret: 'adminpwd', publisher_id: P.feed, stream_id: f.stream_id });
    assert.equal(stop.videoroom, 'stop_rtp_forward');
  }
  await asyncOk(P, { request: 'leave' });
});

test('subscriber join errors: unknown feed 428, no streams 429, no such room 426; legacy feed join has id and display', T, async () => {
  const h = await attach();
  await expectVrError(h, { request: 'join', ptype: 'subscriber', room: 1234, streams: [{ feed: feedId() }] }, 428, { sync: false });
  await expectVrError(h, { request: 'join', ptype: 'subscriber', room: 1234, streams: [{ feed: Aid, mid: '7' }] }, 428, { sync: false });
  await expectVrError(h, { request: 'join', ptype: 'subscriber', room: 1234 }, 429, { sync: false, error: 'Missing element (streams)' });
  await expectVrError(h, { request: 'join', ptype: 'subscriber', room: roomId(), streams: [{ feed: Aid }] }, 426, { sync: false });
  const j = await h.joinSubscriber({ room: 1234, feed: Bid });
  assert.equal(j.feed, Bid);
  assert.equal(j.display, 'bob');
  const raw = lastReply(h).plugindata.data;
  assert.equal(raw.videoroom, 'attached');
  assert.equal(raw.id, Bid);
  assert.equal(raw.display, 'bob');
  assert.deepEqual(raw.streams.map((s) => [s.type, s.feed_id, s.feed_mid]), [['audio', Bid, '0'], ['video', Bid, '1']]);
  assert.equal(j.jsep?.type, 'offer');
  await expectVrError(h, { request: 'join', ptype: 'subscriber', room: 1234, feed: Bid }, 425, { sync: false });
  await expectVrError(h, { request: 'unpublish' }, 423, { sync: false });
  legacySub = h;
});
let legacySub;

test('subscriber leave -> {left:"ok"}; requests after leaving -> 424', T, async () => {
  const r = await asyncOk(S, { request: 'leave' });
  assert.deepEqual(r.plugindata.data, { videoroom: 'event', room: 1234, left: 'ok' });
  await expectVrError(S, { request: 'start' }, 424, { sync: false });
  await expectVrError(S, { request: 'pause' }, 424, { sync: false });
});

// ----- unpublish, leave ------------------------------------------------------------------------

test('unpublish -> {unpublished:"ok"}; others get {unpublished:id}; its subscribers get "updated" (inactive)', T, async () => {
  // A subscriber of B that has started (W) and one that has not (legacySub).
  const W = await attach();
  const wj = await asyncOk(W, { request: 'join', ptype: 'subscriber', room: 1234, streams: [{ feed: Aid, mid: '0' }, { feed: Bid }] });
  const wcreds = iceCreds();
  await asyncOk(W, { request: 'start' }, answerTo(wj.jsep.sdp, wcreds));
  const from = seen.length;
  const janodeUnpub = janodeEvent(A, VR.VIDEOROOM_UNPUBLISHED);
  const hangup = janodeEvent(B, Janode.EVENT.HANDLE_HANGUP);
  const r = await asyncOk(B, { request: 'unpublish' });
  assert.deepEqual(r.plugindata.data, { videoroom: 'event', room: 1234, unpublished: 'ok' });
  assert.ok(await hangup, 'the publisher\'s PeerConnection is closed: janus "hangup" (janode HANDLE_HANGUP)');
  for (const h of [A, C]) {
    const ev = await waitEvent(h, (x) => x.unpublished !== undefined, { from, what: 'unpublished' });
    assert.deepEqual(withoutDisplay(ev.plugindata.data, 'bob'), { videoroom: 'event', room: 1234, unpublished: Bid });
  }
  const ju = await janodeUnpub;
  assert.equal(ju?.feed, Bid, 'janode VIDEOROOM_UNPUBLISHED on A with feed B');
  const up = await waitEvent(legacySub, (x) => x.videoroom === 'updated', { from, what: 'updated' });
  assert.equal(up.plugindata.data.room, 1234);
  assert.ok(up.plugindata.data.streams.length === 2 && up.plugindata.data.streams.every((s) => s.active === false),
    `streams inactive: ${JSON.stringify(up.plugindata.data)}`);
  assert.equal(up.jsep, undefined, 'not started: no new offer');
  // The started subscriber gets a new offer with B's m-lines inactive, and answers it.
  const wu = await waitEvent(W, (x) => x.videoroom === 'updated', { from, what: 'updated with an offer' });
  assert.deepEqual(wu.plugindata.data.streams.map((s) => [s.feed_id, s.active]), [[Aid, true], [Bid, false], [Bid, false]]);
  assert.equal(wu.jsep?.type, 'offer', `a new offer for a started subscriber: ${JSON.stringify(wu)}`);
  const wm = mSections(wu.jsep.sdp);
  assert.equal(wm[0].dir, 'sendonly');
  assert.ok(wm.slice(1).every((m) => m.dir === 'inactive' || m.port === 0), `B's m-lines inactive:\n${wu.jsep.sdp}`);
  assert.equal(eventsOf(B, from).filter((x) => x.unpublished !== undefined).length, 0, 'B is not told of itself');
  const lp = await syncOk(mgr, { request: 'listparticipants', room: 1234 });
  assert.equal(lp.participants.find((p) => p.id === Bid)?.publisher, false, 'still a participant, not publishing');
  // And it can publish again.
  await publish(B);
  // W answers its new offer.
  try {
    await answerReoffer(W, wu.jsep.sdp, wcreds);
  } finally {
    await asyncOk(W, { request: 'leave' });
  }
});

test('leave (publisher) -> {leaving:"ok"}; others get {leaving:id}; janode leave() and VIDEOROOM_LEAVING', T, async () => {
  const from = seen.length;
  const janodeLeaving = janodeEvent(A, VR.VIDEOROOM_LEAVING);
  const r = await asyncOk(C, { request: 'leave' });
  assert.deepEqual(r.plugindata.data, { videoroom: 'event', room: 1234, leaving: 'ok' });
  for (const h of [A, B]) {
    const ev = await waitEvent(h, (x) => x.leaving !== undefined, { from, what: 'leaving' });
    assert.deepEqual(withoutDisplay(ev.plugindata.data, 'carol'), { videoroom: 'event', room: 1234, leaving: Cid });
  }
  assert.equal((await janodeLeaving)?.feed, Cid);
  const lp = await syncOk(mgr, { request: 'listparticipants', room: 1234 });
  assert.ok(!lp.participants.some((p) => p.id === Cid), 'C gone');
  await expectVrError(C, { request: 'configure', bitrate: 1 }, 424, { sync: false });

  const from2 = seen.length;
  const lv = await B.leave();
  assert.equal(lv.feed, Bid);
  assert.deepEqual(lastReply(B).plugindata.data, { videoroom: 'event', room: 1234, leaving: 'ok' });
  await waitEvent(A, (x) => x.leaving === Bid, { from: from2, what: 'leaving B' });
});

// ----- notify_joining, kick, destroy (room R1) -----------------------------------------------

let N1; let N2; let N3;
let N1id; let N2id;

test('notify_joining: joined has "attendees"; others get {joining:{id, display}} (janode VIDEOROOM_PUB_PEER_JOINED)', T, async () => {
  N1 = await attach();
  const j1 = await joinPub(N1, { room: R1, pin: R1pin, display: 'n1' });
  N1id = j1.id;
  assert.deepEqual(j1.attendees, [], 'nobody else yet');
  assert.deepEqual(j1.publishers, []);

  const from = seen.length;
  const peerJoined = janodeEvent(N1, VR.VIDEOROOM_PUB_PEER_JOINED);
  N2 = await attach();
  const j2 = await joinPub(N2, { room: R1, pin: R1pin, display: 'n2' });
  N2id = j2.id;
  assert.deepEqual(j2.attendees, [{ id: N1id, display: 'n1' }]);
  const ev = await waitEvent(N1, (x) => x.joining !== undefined, { from, what: 'joining' });
  assert.deepEqual(ev.plugindata.data, { videoroom: 'event', room: R1, joining: { id: N2id, display: 'n2' } });
  const pj = await peerJoined;
  assert.equal(pj?.feed, N2id);
  assert.equal(pj?.display, 'n2');
  assert.equal(eventsOf(N2, from).filter((x) => x.joining).length, 0, 'the newcomer is not told of itself');

  // A published participant is a publisher, not an attendee.
  await publish(N1);
  const from3 = seen.length;
  N3 = await attach();
  const j3 = await joinPub(N3, { room: R1, pin: R1pin });
  assert.deepEqual(j3.attendees, [{ id: N2id, display: 'n2' }]);
  assert.deepEqual(j3.publishers.map((p) => p.id), [N1id]);
  for (const h of [N1, N2]) {
    const e3 = await waitEvent(h, (x) => x.joining !== undefined, { from: from3, what: 'joining N3' });
    assert.deepEqual(e3.plugindata.data.joining, { id: j3.id }, 'no display given: none sent');
  }
});

test('kick: wrong secret 433, unknown id 428; kicked gets leaving/reason kicked, others get {kicked:id}', T, async () => {
  await expectVrError(mgr, { request: 'kick', room: R1, secret: 'bad', id: N1id }, 433, { sync: true });
  await expectVrError(mgr, { request: 'kick', room: R1, secret: 's1', id: feedId() }, 428, { sync: true });
  await expectVrError(mgr, { request: 'kick', room: R1, secret: 's1' }, 429, { sync: true, error: 'Missing element (id)' });
  const from = seen.length;
  const janodeKicked = janodeEvent(N2, VR.VIDEOROOM_KICKED);
  const hangup = janodeEvent(N1, Janode.EVENT.HANDLE_HANGUP);
  const d = await syncOk(mgr, { request: 'kick', room: R1, secret: 's1', id: N1id });
  assert.deepEqual(d, { videoroom: 'success' });
  const bye = await waitEvent(N1, (x) => x.leaving !== undefined, { from, what: 'kicked leaving' });
  assert.deepEqual(bye.plugindata.data, { videoroom: 'event', room: R1, leaving: 'ok', reason: 'kicked' });
  for (const h of [N2, N3]) {
    const ev = await waitEvent(h, (x) => x.kicked !== undefined, { from, what: 'kicked' });
    assert.deepEqual(withoutDisplay(ev.plugindata.data, 'n1'), { videoroom: 'event', room: R1, kicked: N1id });
  }
  assert.equal((await janodeKicked)?.feed, N1id, 'janode VIDEOROOM_KICKED');
  assert.ok(await hangup, 'the kicked publisher\'s PeerConnection is closed (hangup)');
  const lp = await syncOk(mgr, { request: 'listparticipants', room: R1 });
  assert.deepEqual(lp.participants.map((p) => p.id).sort(), [N2id, N3.feed].sort());
  // janode's kick() for N3.
  const k = await mgr.kick({ room: R1, feed: N3.feed, secret: 's1' });
  assert.equal(k.feed, N3.feed);
  await waitEvent(N3, (x) => x.reason === 'kicked', { from, what: 'N3 kicked' });
  await expectVrError(N1, { request: 'configure', bitrate: 1 }, 424, { sync: false });
});

test('destroy: wrong secret 433; participants get {videoroom:"destroyed", room}; gone afterwards (426)', T, async () => {
  await expectVrError(mgr, { request: 'destroy', room: R1, secret: 'bad' }, 433, { sync: true });
  await expectVrError(mgr, { request: 'destroy', room: R1 }, 433, { sync: true });
  // A subscriber in R1 too.
  const pub = await attach();
  await joinPub(pub, { room: R1, pin: R1pin });
  await publish(pub);
  const sub = await attach();
  await sub.joinSubscriber({ room: R1, pin: R1pin, streams: [{ feed: pub.feed }] });
  const from = seen.length;
  const janodeDestroyed = janodeEvent(N2, VR.VIDEOROOM_DESTROYED);
  const d = await syncOk(mgr, { request: 'destroy', room: R1, secret: 's1' });
  assert.deepEqual(d, { videoroom: 'destroyed', room: R1, permanent: false });
  for (const h of [N2, pub, sub]) {
    const ev = await waitEvent(h, (x) => x.videoroom === 'destroyed', { from, what: 'destroyed' });
    assert.deepEqual(ev.plugindata.data, { videoroom: 'destroyed', room: R1 });
  }
  assert.equal((await janodeDestroyed)?.room, R1, 'janode VIDEOROOM_DESTROYED');
  assert.deepEqual(await syncOk(mgr, { request: 'exists', room: R1 }), { videoroom: 'success', room: R1, exists: false });
  assert.equal(await listed(mgr, R1), undefined);
  await expectVrError(mgr, { request: 'destroy', room: R1, secret: 's1' }, 426, { sync: true, error: `No such room (${R1})` });
  await expectVrError(mgr, { request: 'listparticipants', room: R1 }, 426, { sync: true });
  // The handles are free again: N2 can join another room.
  await expectVrError(N2, { request: 'configure', bitrate: 1 }, 424, { sync: false });
  await joinPub(N2, { room: 1234 });
  await asyncOk(N2, { request: 'leave' });
});

// ----- generic errors --------------------------------------------------------------------------

test('errors: unknown request 423, missing request / room 429, invalid element 430, join first 424, rtp_forward without streams 429', T, async () => {
  const h = await attach();
  await expectVrError(h, { request: 'foo' }, 423, { sync: true, error: "Unknown request 'foo'" });
  await expectVrError(h, {}, 429, { sync: true, error: 'Missing element (request)' });
  await expectVrError(h, { request: 42 }, 430, { sync: true });
  await expectVrError(h, { request: 'exists' }, 429, { sync: true, error: 'Missing element (room)' });
  await expectVrError(h, { request: 'exists', room: 'abc' }, 430, { sync: true });
  await expectVrError(h, { request: 'listparticipants' }, 429, { sync: true, error: 'Missing element (room)' });
  await expectVrError(h, { request: 'listparticipants', room: roomId() }, 426, { sync: true });
  for (const request of ['configure', 'publish', 'unpublish', 'start', 'pause', 'switch', 'leave']) {
    await expectVrError(h, { request }, 424, { sync: false });
  }
  await expectVrError(h, { request: 'rtp_forward', room: 1234, secret: 'adminpwd', publisher_id: Aid, host: '127.0.0.1' }, 429, { sync: true }); // no streams to forward
});

test('enable_recording: record missing 429, wrong secret 433, no room 426; {videoroom:"success", record}; list shows record and rec_dir', T, async () => {
  const h = await attach();
  await expectVrError(h, { request: 'enable_recording', room: 1234, secret: 'adminpwd' }, 429, { sync: true, error: 'Missing element (record)' });
  await expectVrError(h, { request: 'enable_recording', room: 1234, secret: 'adminpwd', record: 'yes' }, 430, { sync: true });
  await expectVrError(h, { request: 'enable_recording', room: 1234, secret: 'nope', record: false }, 433, { sync: true });
  await expectVrError(h, { request: 'enable_recording', room: roomId(), record: false }, 426, { sync: true });
  assert.deepEqual(await syncOk(h, { request: 'enable_recording', room: 1234, secret: 'adminpwd', record: false }), { videoroom: 'success', record: false });
  // A room of its own, with nobody in it: nothing is written.
  const room = roomId();
  await syncOk(h, { request: 'create', room, secret: 'rs', rec_dir: '/tmp/cardea-vr-rec', lock_record: true });
  const entry = async () => (await syncOk(h, { request: 'list' })).list.find((r) => r.room === room);
  assert.equal((await entry()).record, false);
  assert.equal((await entry()).rec_dir, '/tmp/cardea-vr-rec');
  assert.equal((await entry()).lock_record, true);
  assert.deepEqual(await syncOk(h, { request: 'enable_recording', room, secret: 'rs', record: true }), { videoroom: 'success', record: true });
  assert.equal((await entry()).record, true);
  await syncOk(h, { request: 'destroy', room, secret: 'rs' });
});

test('body that is not an object: refused by the core (Janus 467), so the plugin\'s 422 cannot be reached, as in Janus', T, async () => {
  const h = await attach();
  for (const body of [[], 'join', 42]) {
    const r = await send(h, body);
    assert.equal(r.janus, 'error', `body ${JSON.stringify(body)} -> ${JSON.stringify(r)}`);
    assert.equal(r.error.code, 467, JSON.stringify(r));
  }
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

const SUITE = { plugin: PLUGIN, key: 'videoroom', module: VideoRoomPlugin, prefix: 'vrp' };

test('permanent: create, edit and destroy with permanent:true survive a restart; the others do not', { timeout: 60000 }, async () => {
  const [A, B, C] = [roomId(), roomId(), roomId()];
  let picked;
  const first = await withOwnCardea({}, SUITE, async (s, h, c) => {
    assert.equal(stateFile(c, 'videoroom'), '', 'no state file before a permanent request');
    assert.deepEqual(await s.syncOk(h, {
      request: 'create', room: A, description: 'kept', secret: 'sa', publishers: 4, videocodec: 'vp8,h264', permanent: true,
    }), { videoroom: 'created', room: A, permanent: true });
    assert.deepEqual(await s.syncOk(h, { request: 'create', room: B, secret: 'sb', permanent: true }),
      { videoroom: 'created', room: B, permanent: true });
    assert.deepEqual(await s.syncOk(h, { request: 'create', room: C, permanent: false }),
      { videoroom: 'created', room: C, permanent: false });
    // A picked id is saved too.
    picked = await s.syncOk(h, { request: 'create', description: 'picked', permanent: true });
    assert.equal(picked.permanent, true);
    assert.deepEqual(await s.syncOk(h, {
      request: 'edit', room: A, secret: 'sa', new_description: 'kept and edited', new_publishers: 7, new_pin: '42', permanent: true,
    }), { videoroom: 'edited', room: A, permanent: true });
    assert.deepEqual(await s.syncOk(h, { request: 'destroy', room: B, secret: 'sb', permanent: true }),
      { videoroom: 'destroyed', room: B, permanent: true });
    // The sample room of the configuration, destroyed for good.
    assert.deepEqual(await s.syncOk(h, { request: 'destroy', room: 1234, secret: 'adminpwd', permanent: true }),
      { videoroom: 'destroyed', room: 1234, permanent: true });
    // A wrong secret changes nothing, permanent or not.
    await s.expectError(h, { request: 'edit', room: A, secret: 'no', new_description: 'x', permanent: true }, 433, { sync: true });
    const text = stateFile(c, 'videoroom');
    assert.match(text, new RegExp(`room: ${A}`), text);
    assert.doesNotMatch(text, new RegExp(`room: ${B}`), text);
    assert.doesNotMatch(text.replace(/^#.*$/gm, ''), /permanent|request/, `request fields are not saved: ${text}`);
  });
  await withOwnCardea({ config: first.config }, SUITE, async (s, h) => {
    const exists = async (room) => (await s.syncOk(h, { request: 'exists', room })).exists;
    assert.equal(await exists(A), true, 'permanent room back after the restart');
    assert.equal(await exists(picked.room), true, 'permanent room with a picked id back');
    assert.equal(await exists(B), false, 'permanently destroyed room stays gone');
    assert.equal(await exists(1234), false, 'permanently destroyed configured room stays gone');
    assert.equal(await exists(C), false, 'a room that was not permanent is gone');
    const list = (await s.syncOk(h, { request: 'list' })).list;
    const a = list.find((r) => r.room === A);
    assert.ok(a, JSON.stringify(list));
    assert.equal(a.description, 'kept and edited');
    assert.equal(a.max_publishers, 7);
    assert.equal(a.pin_required, true);
    assert.equal(a.videocodec, 'vp8,h264');
    // Its secret is still the one it was created with.
    await s.expectError(h, { request: 'destroy', room: A, secret: 'sb' }, 433, { sync: true });
    // Destroyed without permanent: back again after the next restart.
    assert.deepEqual(await s.syncOk(h, { request: 'destroy', room: A, secret: 'sa' }),
      { videoroom: 'destroyed', room: A, permanent: false });
  });
  await withOwnCardea({ config: first.config }, SUITE, async (s, h) => {
    assert.equal((await s.syncOk(h, { request: 'exists', room: A })).exists, true);
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
