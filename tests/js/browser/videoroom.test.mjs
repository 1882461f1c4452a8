// Two Chromium pages in Cardea's VideoRoom, both driven by janus.js from npm the way the
// multistream VideoRoom demo does: page A (HTTP) publishes its fake camera and microphone
// in room 1234, page B (WebSocket) subscribes to A's feed, answers Cardea's offer and must
// decode A's video and hear A's audio; when A unpublishes, B gets `updated` with a new offer.
// Then a simulcast publisher (720p in three encodings) in a room without a bitrate cap:
// choosing a lower substream lowers the resolution the subscriber decodes, and a lower
// temporal layer its frame rate.
// Run: cd tests/js && CARDEA_BIN=<path to cardea> node --test browser/videoroom.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startCardea } from '../cardea.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const pkgDir = (name) => dirname(require.resolve(`${name}/package.json`));

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
];
const STATIC = {
  '/': [join(here, 'janusjs-videoroom.html'), 'text/html; charset=utf-8'],
  '/janus.js': [join(pkgDir('janus-gateway'), 'npm/src/janus.js'), 'text/javascript; charset=utf-8'],
  '/adapter.js': [join(pkgDir('webrtc-adapter'), 'out/adapter.js'), 'text/javascript; charset=utf-8'],
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let cardea, server, base, browser, publisher, subscriber, feed;
const consoleLines = [];

async function page(name) {
  const p = await (await browser.newContext()).newPage();
  p.on('console', (m) => consoleLines.push(`[${name}] ${m.type()}: ${m.text()}`));
  p.on('pageerror', (e) => consoleLines.push(`[${name}] pageerror: ${e.message}`));
  await p.goto(base + '/', { timeout: 10000 });
  await p.click('#go', { timeout: 5000 }); // a user gesture, so the remote <video> may play sound
  return p;
}

async function diag() {
  const state = {};
  for (const [name, p] of [['publisher', publisher], ['subscriber', subscriber]]) {
    if (!p) continue;
    state[name] = await p.evaluate(async () => ({
      events: window.T.events, errors: window.T.errors, states: window.T.states,
      tracks: window.T.tracks, stats: await window.rtpStats(),
    })).catch((e) => e.message);
  }
  return `\n--- pages ---\n${JSON.stringify(state, null, 1)}\n--- browser console ---\n` +
    `${consoleLines.slice(-40).join('\n')}\n--- cardea log ---\n${cardea.logs.join('').split('\n').slice(-40).join('\n')}`;
}

// Polls `probe` until it returns {ok: true}; fails with the last probe and both pages' state.
async function until(what, ms, probe) {
  const end = Date.now() + ms;
  for (;;) {
    const last = await probe();
    if (last.ok) return last;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms; last ${JSON.stringify(last)}${await diag()}`);
    await sleep(250);
  }
}

const inbound = async (p, kind) => (await p.evaluate(() => window.rtpStats())).rtp
  .filter((r) => r.type === 'inbound-rtp' && r.kind === kind);

// Frames per second the page's first video receiver decodes, over two seconds.
/** Creates VideoRoom `room` with `settings` through page A's handle. */
async function createRoom(room, settings) {
  const created = await publisher.evaluate(([r, extra]) => new Promise((resolve, reject) => window.T.handle.send({
    message: { request: 'create', room: r, ...extra }, success: resolve, error: reject,
  })), [room, settings]);
  assert.equal(created.videoroom, 'created', JSON.stringify(created));
}

async function decodedPerSecond(p) {
  const a = (await inbound(p, 'video'))[0].framesDecoded;
  await sleep(2000);
  return ((await inbound(p, 'video'))[0].framesDecoded - a) / 2;
}

before(async () => {
  cardea = await startCardea();
  server = createServer(async (req, res) => {
    const entry = STATIC[new URL(req.url, 'http://x').pathname];
    if (!entry) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': entry[1], 'cache-control': 'no-store' }).end(await readFile(entry[0]));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 20000 });
}, { timeout: 40000 });

after(async () => {
  if (browser) await browser.close().catch(() => {});
  if (server) { server.closeAllConnections(); server.close(); }
  if (cardea) await cardea.stop();
});

test('page A publishes camera and microphone in room 1234 (janus.js over HTTP)', { timeout: 30000 }, async () => {
  publisher = await page('publisher');
  try {
    feed = await publisher.evaluate((s) => window.publish(s), cardea.http);
  } catch (e) {
    throw new Error(e.message + await diag());
  }
  assert.ok(Number.isSafeInteger(feed) && feed > 0, `feed id ${feed}`);
  const answer = await publisher.evaluate(() => window.T.answer);
  assert.match(answer, /^m=audio \d+ \S+ \d+\r?$/m, 'one audio codec in the answer');
  assert.match(answer, /a=rtpmap:\d+ opus\/48000/);
  assert.match(answer, /a=rtpmap:\d+ VP8\/90000/);
  await until('publisher webrtcup', 10000, async () => ({ ok: await publisher.evaluate(() => window.T.webrtcUp === true) }));
});

test('page B subscribes over WebSocket and decodes A\'s video and hears A\'s audio', { timeout: 40000 }, async () => {
  assert.ok(feed, 'no feed published');
  subscriber = await page('subscriber');
  try {
    await subscriber.evaluate(([s, f]) => window.subscribe(s, f), [cardea.ws, feed]);
  } catch (e) {
    throw new Error(e.message + await diag());
  }
  const streams = await subscriber.evaluate(() => window.T.streams);
  assert.deepEqual(streams.map((s) => s.type).sort(), ['audio', 'video']);
  assert.ok(streams.every((s) => s.feed_id === feed && s.active), JSON.stringify(streams));
  const seen = await until('decoded video at B', 20000, async () => {
    const v = (await inbound(subscriber, 'video'))[0] || {};
    return { ok: v.framesDecoded > 0 && v.frameWidth > 0, frames: v.framesDecoded, width: v.frameWidth };
  });
  await sleep(1000);
  const later = (await inbound(subscriber, 'video'))[0];
  assert.ok(later.framesDecoded > seen.frames, `framesDecoded stuck at ${seen.frames}${await diag()}`);
  await until('audible audio at B', 10000, async () => {
    const a = (await inbound(subscriber, 'audio'))[0] || {};
    return { ok: a.totalAudioEnergy > 0, packets: a.packets, energy: a.totalAudioEnergy };
  });
  // janus.js told the page about both tracks, under the mids of the `attached` event.
  const tracks = await subscriber.evaluate(() => window.T.tracks.filter((t) => t.on));
  for (const s of streams) {
    assert.ok(tracks.some((t) => t.mid === s.mid && t.kind === s.type), `onremotetrack for ${s.type} mid ${s.mid}: ${JSON.stringify(tracks)}`);
  }
});

test('configure restart: B gets an ICE-restart offer, answers it, and video goes on', { timeout: 30000 }, async () => {
  assert.ok(subscriber, 'no subscriber');
  const before = await subscriber.evaluate(() => ({ offers: window.T.offers, ufrag: window.T.handle.webrtcStuff.pc.remoteDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1] }));
  await subscriber.evaluate(() => window.sendMessage({ request: 'configure', restart: true }));
  await until('ICE-restart offer answered', 10000, async () => {
    const now = await subscriber.evaluate(() => ({
      offers: window.T.offers,
      started: window.T.events.filter((e) => e.started === 'ok').length,
      ufrag: window.T.handle.webrtcStuff.pc.remoteDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1],
    }));
    return { ok: now.offers === before.offers + 1 && now.started === 2 && now.ufrag !== before.ufrag, now, before };
  });
  const frames = async () => (await inbound(subscriber, 'video'))[0].framesDecoded;
  const f0 = await frames();
  await until('video after the ICE restart', 10000, async () => {
    const f = await frames();
    return { ok: f > f0 + 10, from: f0, now: f };
  });
});

test('configure send: false stops A\'s video at B; send: true brings it back with no gap in the numbering', { timeout: 40000 }, async (t) => {
  assert.ok(subscriber, 'no subscriber');
  const video = async () => (await inbound(subscriber, 'video'))[0] || {};
  const mid = await publisher.evaluate(() => window.T.handle.webrtcStuff.pc.getTransceivers()
    .find((tr) => tr.sender.track && tr.sender.track.kind === 'video').mid);
  await publisher.evaluate((m) => window.sendMessage({ request: 'configure', streams: [{ mid: m, send: false }] }), mid);
  // The packets stop (Chromium goes on sending: Cardea no longer relays them).
  const stopped = await until('no more video packets at B', 5000, async () => {
    const a = (await video()).packets;
    await sleep(500);
    const b = (await video()).packets;
    return { ok: a === b, packets: b };
  });
  await sleep(2000);
  const off = await video();
  assert.equal(off.packets, stopped.packets, 'nothing relayed while stopped');
  await publisher.evaluate((m) => window.sendMessage({ request: 'configure', streams: [{ mid: m, send: true }] }), mid);
  const back = await until('video decoded again at B', 10000, async () => {
    const v = await video();
    return { ok: v.framesDecoded > off.framesDecoded + 10, frames: v.framesDecoded, packets: v.packets, lost: v.packetsLost };
  });
  // Two seconds of Chromium's video (hundreds of packets) were left out: the numbering
  // went on from the last packet B got, so B counts none of them as lost.
  t.diagnostic(`B's video: ${stopped.packets} packets when stopped, lost ${off.packetsLost} before and ${back.lost} after the pause`);
  assert.ok(back.lost - off.packetsLost < 20, `packets counted lost across the pause: ${off.packetsLost} -> ${back.lost}`);
});

test('playout delay: min_delay/max_delay make B\'s video jitter buffer hold frames that long', { timeout: 60000 }, async (t) => {
  const viewer = await page('playout delay subscriber');
  await viewer.evaluate(([s, f]) => window.subscribe(s, f), [cardea.ws, feed]);
  const mid = (await viewer.evaluate(() => window.T.streams)).find((s) => s.type === 'video').mid;
  // The mean time a frame spent in the jitter buffer over the next `ms`.
  const held = async (ms = 2000) => {
    const read = async () => (await inbound(viewer, 'video'))[0] || {};
    const a = await read();
    await sleep(ms);
    const b = await read();
    const frames = b.jitterBufferEmittedCount - a.jitterBufferEmittedCount;
    return frames > 0 ? Math.round(1000 * (b.jitterBufferDelay - a.jitterBufferDelay) / frames) : NaN;
  };
  await until('B decodes A\'s video', 15000, async () => {
    const v = (await inbound(viewer, 'video'))[0] || {};
    return { ok: v.framesDecoded > 10, frames: v.framesDecoded };
  });
  const plain = await held();
  await viewer.evaluate((m) => window.sendMessage({
    request: 'configure', streams: [{ mid: m, min_delay: 60, max_delay: 80 }],
  }), mid);
  await until('configured', 5000, async () => {
    const events = await viewer.evaluate(() => window.T.events);
    return { ok: events.some((e) => e.configured === 'ok'), events };
  });
  const delayed = await until('frames held about 600 ms', 15000, async () => {
    const ms = await held();
    return { ok: ms >= 450, ms };
  });
  // A negative bound stops the extension (as in Janus), and the receiver keeps the delay
  // it was last told; a delay of 0-200 ms brings it down.
  await viewer.evaluate((m) => window.sendMessage({ request: 'configure', streams: [{ mid: m, min_delay: 0, max_delay: 20 }] }), mid);
  const lowered = await until('the delay lowered', 15000, async () => {
    const ms = await held();
    return { ok: ms < delayed.ms / 2, ms };
  });
  t.diagnostic(`mean jitter-buffer time per frame: ${plain} ms plain, ${delayed.ms} ms at min_delay 60 (600 ms), ${lowered.ms} ms at max_delay 20`);
  await viewer.close();
});

test('when A unpublishes, B gets updated with a new offer and answers it', { timeout: 30000 }, async () => {
  assert.ok(subscriber, 'no subscriber');
  await publisher.evaluate(() => window.sendMessage({ request: 'unpublish' }));
  await until('updated at B', 10000, async () => {
    const events = await subscriber.evaluate(() => window.T.events);
    const updated = events.find((e) => e.videoroom === 'updated');
    return { ok: !!updated && updated.streams.every((s) => s.active === false), updated };
  });
  await until('B answered the new offer', 10000, async () => {
    const offers = await subscriber.evaluate(() => window.T.offers);
    const started = (await subscriber.evaluate(() => window.T.events)).filter((e) => e.started === 'ok').length;
    return { ok: offers === 3 && started === 3, offers, started };
  });
  const errors = await subscriber.evaluate(() => window.T.errors);
  assert.deepEqual(errors, []);
});

test('simulcast: a lower substream lowers the resolution B decodes', { timeout: 60000 }, async (t) => {
  const room = 4321;
  await createRoom(room, { bitrate: 0, publishers: 2 });
  const sender = await page('simulcast publisher');
  const receiver = await page('simulcast subscriber');
  const simFeed = await sender.evaluate(([s, r]) => window.publish(s, r, true), [cardea.http, room]);
  const answer = await sender.evaluate(() => window.T.answer);
  assert.match(answer, /a=simulcast:recv/, 'the answer takes the simulcast offer');
  // The sender ramps its bandwidth up before it sends its best encoding.
  await until('three encodings sent', 30000, async () => {
    const out = (await sender.evaluate(() => window.rtpStats())).rtp
      .filter((r) => r.type === 'outbound-rtp' && r.kind === 'video' && r.frameWidth > 0);
    return { ok: out.length === 3, widths: out.map((r) => `${r.rid}:${r.frameWidth}`) };
  });
  await receiver.evaluate(([s, f, r]) => window.subscribe(s, f, r), [cardea.ws, simFeed, room]);
  const high = await until('high layer decoded at B', 15000, async () => {
    const v = (await inbound(receiver, 'video'))[0] || {};
    return { ok: v.frameWidth >= 1280, width: v.frameWidth, frames: v.framesDecoded };
  });
  const mid = (await receiver.evaluate(() => window.T.streams)).find((s) => s.type === 'video').mid;
  await receiver.evaluate((m) => window.sendMessage({ request: 'configure', streams: [{ mid: m, substream: 0 }] }), mid);
  const low = await until('low layer decoded at B', 15000, async () => {
    const v = (await inbound(receiver, 'video'))[0] || {};
    return { ok: v.frameWidth > 0 && v.frameWidth <= 320, width: v.frameWidth, frames: v.framesDecoded };
  });
  t.diagnostic(`decoded width ${high.width} at substream 2, ${low.width} at substream 0`);
  const told = (await receiver.evaluate(() => window.T.events)).filter((e) => e.substream !== undefined);
  assert.deepEqual(told.at(-1), { videoroom: 'event', room, mid, substream: 0 }, JSON.stringify(told));
  // Decoding goes on after the switch (within 5 s: a loaded machine's decoder may pause).
  const before = low.frames;
  await until(`decoding goes on after the switch (from ${before} frames)`, 5000, async () => {
    const after = (await inbound(receiver, 'video'))[0].framesDecoded;
    return { ok: after > before, after };
  });

  // Chromium codes each VP8 simulcast encoding in temporal layers (L1T2: every other frame
  // is in layer 1): temporal 0 keeps the base layer only, half the frame rate or less, and
  // B still decodes.
  const modes = (await sender.evaluate(() => window.rtpStats())).rtp
    .filter((r) => r.type === 'outbound-rtp' && r.kind === 'video').map((r) => r.scalabilityMode);
  t.diagnostic(`the sender's scalability modes: ${modes.join(' ')}`);
  const rate = () => decodedPerSecond(receiver);
  const full = await rate();
  await receiver.evaluate((m) => window.sendMessage({ request: 'configure', streams: [{ mid: m, temporal: 0 }] }), mid);
  await until('the temporal event', 5000, async () => {
    const ev = (await receiver.evaluate(() => window.T.events)).filter((e) => e.temporal !== undefined);
    return { ok: ev.at(-1)?.temporal === 0, told: ev };
  });
  await sleep(500);
  const base = await rate();
  t.diagnostic(`decoded frames per second: ${full} at temporal 2, ${base} at temporal 0`);
  assert.ok(base > 0 && base <= full * 0.6, `temporal 0 should cut the frame rate: ${full} -> ${base}${await diag()}`);
  await receiver.evaluate((m) => window.sendMessage({ request: 'configure', streams: [{ mid: m, temporal: 2 }] }), mid);
  await sleep(500);
  const back = await rate();
  t.diagnostic(`decoded frames per second back at temporal 2: ${back}`);
  assert.ok(back >= full * 0.7, `temporal 2 should bring the frame rate back: ${base} -> ${back}${await diag()}`);
});

test('SSRC-group simulcast (a=ssrc-group:SIM, no rids): substream picks the layer B decodes', { timeout: 60000 }, async (t) => {
  const room = 4325;
  await createRoom(room, { bitrate: 0, publishers: 2 });
  const sender = await page('SSRC simulcast publisher');
  const receiver = await page('SSRC simulcast subscriber');
  const feedId = await sender.evaluate(([s, r]) => window.publish(s, r, 'ssrc'), [cardea.http, room]);
  const offer = await sender.evaluate(() => window.T.offer);
  assert.match(offer, /a=ssrc-group:SIM \d+ \d+ \d+/, 'the munged offer has the SIM group');
  assert.doesNotMatch(offer, /a=simulcast|a=rid/, 'and no rids');
  // One encoding per SSRC; Chromium may leave the top one off while its bandwidth estimate
  // or CPU budget is low, so two layers are enough to tell them apart.
  const sending = async () => (await sender.evaluate(() => window.rtpStats())).rtp
    .filter((r) => r.type === 'outbound-rtp' && r.kind === 'video' && r.frameWidth > 0)
    .map((r) => r.frameWidth).sort((a, b) => a - b);
  const sent = await until('two or three encodings sent, one per SSRC', 30000, async () => {
    const widths = await sending();
    return { ok: widths.length >= 2 && widths[0] < widths.at(-1), widths };
  });
  t.diagnostic(`the publisher sends widths ${sent.widths.join(' ')}`);
  await receiver.evaluate(([s, f, r]) => window.subscribe(s, f, r), [cardea.ws, feedId, room]);
  const video = (await receiver.evaluate(() => window.T.streams)).find((s) => s.type === 'video');
  assert.ok(video.simulcast, `the subscription is to a simulcast stream: ${JSON.stringify(video)}`);
  const mid = video.mid;
  const decoded = async () => ((await inbound(receiver, 'video'))[0] || {}).frameWidth;
  // Substream 2 (the default) is the best layer sending; 0 the lowest.
  const top = await until('the top layer decoded at B', 15000, async () => {
    const [width, widths] = [await decoded(), await sending()];
    return { ok: width > 0 && width === widths.at(-1), width, widths };
  });
  await receiver.evaluate((m) => window.sendMessage({ request: 'configure', streams: [{ mid: m, substream: 0 }] }), mid);
  const low = await until('the lowest layer decoded at B', 15000, async () => {
    const [width, widths] = [await decoded(), await sending()];
    return { ok: width > 0 && width === widths[0] && width < top.width, width, widths };
  });
  const told = (await receiver.evaluate(() => window.T.events)).filter((e) => e.substream !== undefined);
  assert.deepEqual(told.at(-1), { videoroom: 'event', room, mid, substream: 0 }, JSON.stringify(told));
  await receiver.evaluate((m) => window.sendMessage({ request: 'configure', streams: [{ mid: m, substream: 2 }] }), mid);
  const back = await until('the top layer decoded at B again', 15000, async () => {
    const [width, widths] = [await decoded(), await sending()];
    return { ok: width > low.width && width === widths.at(-1), width, widths };
  });
  t.diagnostic(`decoded width ${top.width} at substream 2, ${low.width} at 0, ${back.width} back at 2`);
});

test('VP9 SVC: a lower spatial_layer lowers the resolution B decodes, a lower temporal_layer its frame rate', { timeout: 60000 }, async (t) => {
  const room = 4322;
  await createRoom(room, { bitrate: 0, publishers: 2, videocodec: 'vp9' });
  const sender = await page('SVC publisher');
  const receiver = await page('SVC subscriber');
  const feedId = await sender.evaluate(([s, r]) => window.publish(s, r, 'L3T3_KEY'), [cardea.http, room]);
  assert.match(await sender.evaluate(() => window.T.answer), /VP9\/90000/, 'the answer takes VP9');
  // Chromium codes the 720p camera in two or three spatial layers of three temporal ones
  // (L3T3_KEY, or L2T3_KEY at a size its CPU budget lowered), the top one at the size sent.
  const sent = async () => (await sender.evaluate(() => window.rtpStats())).rtp
    .find((r) => r.type === 'outbound-rtp' && r.kind === 'video' && /^L[23]T3/.test(r.scalabilityMode || '')) || {};
  await until('an SVC encoding', 30000, async () => {
    const out = await sent();
    return { ok: out.frameWidth >= 320, out };
  });
  await receiver.evaluate(([s, f, r]) => window.subscribe(s, f, r), [cardea.ws, feedId, room]);
  const full = await until('the top spatial layer decoded at B', 20000, async () => {
    const v = (await inbound(receiver, 'video'))[0] || {};
    const out = await sent();
    return { ok: v.frameWidth > 0 && v.frameWidth === out.frameWidth, width: v.frameWidth, sent: out.frameWidth, mode: out.scalabilityMode };
  });
  const streams = await receiver.evaluate(() => window.T.streams);
  const video = streams.find((s) => s.type === 'video');
  assert.deepEqual(Object.keys(video.svc || {}).sort(),
    ['spatial-layer', 'target-spatial-layer', 'target-temporal-layer', 'temporal-layer'], JSON.stringify(video));
  const mid = video.mid;
  await receiver.evaluate((m) => window.sendMessage({ request: 'configure', streams: [{ mid: m, spatial_layer: 0 }] }), mid);
  const low = await until('the base spatial layer decoded at B', 15000, async () => {
    const v = (await inbound(receiver, 'video'))[0] || {};
    const out = await sent();
    return { ok: v.frameWidth > 0 && v.frameWidth * 2 <= out.frameWidth, width: v.frameWidth, sent: out.frameWidth, frames: v.framesDecoded };
  });
  t.diagnostic(`${full.mode}: decoded width ${full.width} at spatial_layer 2, ${low.width} at 0 (sent ${low.sent})`);
  const told = (await receiver.evaluate(() => window.T.events)).filter((e) => e.spatial_layer !== undefined);
  assert.deepEqual(told.at(-1), { videoroom: 'event', room, mid, spatial_layer: 0 }, JSON.stringify(told));
  const rate = () => decodedPerSecond(receiver);
  const all = await rate();
  await receiver.evaluate((m) => window.sendMessage({ request: 'configure', streams: [{ mid: m, temporal_layer: 0 }] }), mid);
  await sleep(500);
  const base = await rate();
  t.diagnostic(`decoded frames per second at spatial_layer 0: ${all} at temporal_layer 2, ${base} at 0`);
  assert.ok(base > 0 && base <= all * 0.6, `temporal_layer 0 should cut the frame rate: ${all} -> ${base}${await diag()}`);
  await receiver.evaluate((m) => window.sendMessage({ request: 'configure', streams: [{ mid: m, spatial_layer: 2, temporal_layer: 2 }] }), mid);
  const back = await until('the top spatial layer again', 15000, async () => {
    const v = (await inbound(receiver, 'video'))[0] || {};
    const out = await sent();
    return { ok: v.frameWidth > 0 && v.frameWidth === out.frameWidth, width: v.frameWidth };
  });
  t.diagnostic(`back at spatial_layer 2: width ${back.width}`);
});

test('data: what a publisher sends on its data channel reaches its subscriber, with its label', { timeout: 40000 }, async () => {
  const room = 4323;
  await createRoom(room, { publishers: 2 });
  const sender = await page('data publisher');
  const receiver = await page('data subscriber');
  const feedId = await sender.evaluate(([s, r]) => window.publish(s, r, false, true), [cardea.http, room]);
  assert.match(await sender.evaluate(() => window.T.answer), /m=application/, 'the answer takes the data channel');
  await until('the publisher\'s data channel open', 10000, async () => {
    const open = await sender.evaluate(() => window.T.dataOpen);
    return { ok: open.length > 0, open };
  });
  await receiver.evaluate(([s, f, r]) => window.subscribe(s, f, r), [cardea.ws, feedId, room]);
  const streams = await receiver.evaluate(() => window.T.streams);
  assert.ok(streams.some((s) => s.type === 'data' && s.mid), JSON.stringify(streams));
  await until('the subscriber\'s data channel open', 15000, async () => {
    const open = await receiver.evaluate(() => window.T.dataOpen);
    return { ok: open.length > 0, open };
  });
  const got = await until('a message relayed to B', 10000, async () => {
    await sender.evaluate(() => new Promise((resolve, reject) => window.T.handle.data({
      text: 'hello from A', success: resolve, error: (e) => reject(new Error(String(e))),
    })));
    const data = await receiver.evaluate(() => window.T.data);
    return { ok: data.length > 0, data };
  });
  assert.equal(got.data[0].data, 'hello from A', JSON.stringify(got.data));
  assert.equal(got.data[0].label, 'JanusDataChannel', 'janus.js\'s label, kept');
});

test('data: a subscriber that first took only audio gets the data channel by a later subscribe', { timeout: 40000 }, async () => {
  const room = 4324;
  await createRoom(room, { publishers: 2 });
  const sender = await page('data publisher (later)');
  const receiver = await page('audio, then data, subscriber');
  const feedId = await sender.evaluate(([s, r]) => window.publish(s, r, false, true), [cardea.http, room]);
  const mids = [...(await sender.evaluate(() => window.T.answer)).matchAll(/^m=(\w+).*\r?\n(?:.*\r?\n)*?a=mid:(\S+)/gm)]
    .map((m) => ({ kind: m[1], mid: m[2] }));
  const audioMid = mids.find((m) => m.kind === 'audio').mid;
  const dataMid = mids.find((m) => m.kind === 'application').mid;
  await until('the publisher\'s data channel open', 10000, async () => {
    const open = await sender.evaluate(() => window.T.dataOpen);
    return { ok: open.length > 0, open };
  });
  await receiver.evaluate(([s, f, r, m]) => window.subscribe(s, f, r, [{ feed: f, mid: m }]), [cardea.ws, feedId, room, audioMid]);
  assert.doesNotMatch(await receiver.evaluate(() => window.T.handle.webrtcStuff.pc.remoteDescription.sdp), /m=application/,
    'the first offer has no data m-line');
  await receiver.evaluate(([f, m]) => window.sendMessage({ request: 'subscribe', streams: [{ feed: f, mid: m }] }), [feedId, dataMid]);
  await until('the renegotiated data channel open', 15000, async () => {
    const open = await receiver.evaluate(() => window.T.dataOpen);
    const offers = await receiver.evaluate(() => window.T.offers);
    return { ok: open.length > 0, open, offers };
  });
  const sdp = await receiver.evaluate(() => window.T.handle.webrtcStuff.pc.remoteDescription.sdp);
  assert.match(sdp, /m=audio[^]*m=application/, 'the new offer adds the data m-line after the audio');
  const got = await until('a message relayed to the late data subscriber', 10000, async () => {
    await sender.evaluate(() => new Promise((resolve, reject) => window.T.handle.data({
      text: 'hello later', success: resolve, error: (e) => reject(new Error(String(e))),
    })));
    const data = await receiver.evaluate(() => window.T.data);
    return { ok: data.length > 0, data };
  });
  assert.equal(got.data[0].data, 'hello later', JSON.stringify(got.data));
});
