// Chromium watching a Cardea Streaming mountpoint (janus.plugin.streaming), driven by janus.js
// from npm the way Meetecho's Streaming demo does: list, watch, answer Cardea's offer
// receive-only, start. The mountpoint is plain RTP fed by ffmpeg: an opus 440 Hz sine tone
// and ffmpeg's VP8 test pattern (320x240, 15 fps, a key frame every second). The page must
// decode the video (getStats frames, the <video> element's size, a colourful frame) and hear
// the tone (getStats audio energy, and a WebAudio analyser whose loudest frequency is 440 Hz);
// pause stops the frames, start brings them back, stop ends the PeerConnection.
// Run: cd tests/js && CARDEA_BIN=<path to cardea> node --test browser/streaming.test.mjs
// (needs /usr/bin/chromium or CHROMIUM_BIN, and ffmpeg with libopus and libvpx, or FFMPEG_BIN).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import dgram from 'node:dgram';
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
const FFMPEG = process.env.FFMPEG_BIN || 'ffmpeg';
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
];
const STATIC = {
  '/': [join(here, 'janusjs-streaming.html'), 'text/html; charset=utf-8'],
  '/janus.js': [join(pkgDir('janus-gateway'), 'npm/src/janus.js'), 'text/javascript; charset=utf-8'],
  '/adapter.js': [join(pkgDir('webrtc-adapter'), 'out/adapter.js'), 'text/javascript; charset=utf-8'],
};
const PLUGIN = 'janus.plugin.streaming';
const MOUNTPOINT = 4242;
// The tone ffmpeg sends, and how far the analyser's loudest bin may be from it.
const TONE_HZ = 440;
const TONE_SLACK_HZ = 30;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let cardea, server, base, browser, viewer, ffmpeg, ports;
const consoleLines = [];
const ffmpegLog = [];

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms); }),
  ]);
}

async function diag() {
  let state = '';
  if (viewer) {
    state = await withTimeout(viewer.evaluate(async () => ({
      events: window.T.events, errors: window.T.errors, states: window.T.states, tracks: window.T.tracks,
      stats: await window.rtpStats(), video: window.videoProbe(), audio: window.audioProbe(),
      offer: window.T.offer, answer: window.T.answer,
    })), 3000, 'page state').then((s) => JSON.stringify(s, null, 1)).catch((e) => e.message);
  }
  return `\n--- page ---\n${state}\n--- browser console ---\n${consoleLines.slice(-40).join('\n')}` +
    `\n--- ffmpeg (exit ${ffmpeg?.exitCode}) ---\n${ffmpegLog.join('').split('\n').slice(-15).join('\n')}` +
    `\n--- cardea log ---\n${cardea ? cardea.logs.join('').split('\n').slice(-40).join('\n') : ''}`;
}

// Polls `probe` until it returns {ok: true}; fails with the last probe and the page's state.
async function until(what, ms, probe) {
  const end = Date.now() + ms;
  for (;;) {
    const last = await withTimeout(probe(), 5000, what);
    if (last.ok) return last;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms; last ${JSON.stringify(last)}${await diag()}`);
    await sleep(250);
  }
}

const inbound = async (kind) => (await withTimeout(viewer.evaluate(() => window.rtpStats()), 3000, 'getStats')).rtp
  .filter((r) => r.kind === kind)[0] || {};

// The Janus HTTP API, by hand: a session and a streaming handle for management requests.
let txn = 0;
async function janus(path, body) {
  const res = await fetch(cardea.http + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ transaction: `streaming-browser-${++txn}`, ...body }),
    signal: AbortSignal.timeout(5000),
  });
  return res.json();
}
let mgr;
async function manage(body) {
  const r = await janus(`/${mgr.session}/${mgr.handle}`, { janus: 'message', body });
  assert.equal(r.janus, 'success', JSON.stringify(r));
  assert.equal(r.plugindata?.plugin, PLUGIN, JSON.stringify(r));
  return r.plugindata.data;
}

before(async () => {
  cardea = await startCardea({ extraYaml: 'plugins:\n  streaming:\n    mountpoints: []\n' });
  const session = (await janus('', { janus: 'create' })).data.id;
  const attached = await janus(`/${session}`, { janus: 'attach', plugin: PLUGIN });
  assert.equal(attached.janus, 'success', `this cardea has no ${PLUGIN}: ${JSON.stringify(attached)}`);
  mgr = { session, handle: attached.data.id };
  // janus.js polls its session; ours needs a keepalive now and then (60 s timeout).
  mgr.keepalive = setInterval(() => janus(`/${session}`, { janus: 'keepalive' }).catch(() => {}), 20000);

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
  if (mgr) clearInterval(mgr.keepalive);
  if (ffmpeg && ffmpeg.exitCode === null) {
    ffmpeg.kill('SIGKILL');
    await new Promise((r) => ffmpeg.once('exit', r));
  }
  if (browser) await withTimeout(browser.close(), 10000, 'browser.close').catch(() => {});
  if (server) { server.closeAllConnections(); server.close(); }
  if (cardea) await withTimeout(cardea.stop(), 10000, 'cardea stop').catch(() => cardea.child.kill('SIGKILL'));
});

test('an RTP mountpoint (opus mid a, VP8 mid v, free ports) fed by ffmpeg', { timeout: 20000 }, async () => {
  const created = await manage({
    request: 'create', type: 'rtp', id: MOUNTPOINT, description: 'ffmpeg tone and test pattern',
    media: [
      { type: 'audio', mid: 'a', port: 0, pt: 111, codec: 'opus' },
      { type: 'video', mid: 'v', port: 0, pt: 100, codec: 'vp8' },
    ],
  });
  assert.equal(created.streaming, 'created', JSON.stringify(created));
  ports = Object.fromEntries(created.stream.ports.map((p) => [p.mid, p.port]));
  assert.ok(ports.a > 0 && ports.v > 0, JSON.stringify(created));

  // -re and -t on each input: real time, for at most a minute (killed at the end anyway).
  const args = [
    '-hide_banner', '-loglevel', 'warning', '-nostdin',
    '-re', '-t', '60', '-f', 'lavfi', '-i', `sine=frequency=${TONE_HZ}:sample_rate=48000`,
    '-re', '-t', '60', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=15',
    '-map', '0:a', '-c:a', 'libopus', '-b:a', '64k', '-ar', '48000', '-ac', '2',
    '-payload_type', '111', '-ssrc', '1111', '-f', 'rtp', `rtp://127.0.0.1:${ports.a}`,
    '-map', '1:v', '-c:v', 'libvpx', '-deadline', 'realtime', '-g', '15', '-b:v', '300k',
    '-payload_type', '100', '-ssrc', '2222', '-f', 'rtp', `rtp://127.0.0.1:${ports.v}`,
  ];
  ffmpeg = spawn(FFMPEG, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  ffmpeg.stderr.on('data', (d) => ffmpegLog.push(d.toString()));
  const spawned = await new Promise((resolve) => {
    ffmpeg.once('spawn', () => resolve(null));
    ffmpeg.once('error', (e) => resolve(e));
  });
  assert.equal(spawned, null, `cannot run ${FFMPEG}: ${spawned?.message}`);

  // Cardea sees both streams: info's age_ms says when each last had a packet.
  await until('age_ms on both streams', 10000, async () => {
    const info = await manage({ request: 'info', id: MOUNTPOINT });
    const ages = (info.info?.media || []).map((m) => m.age_ms);
    return { ok: ages.length === 2 && ages.every((a) => Number.isInteger(a) && a < 1000), ages, ffmpeg: ffmpeg.exitCode };
  });
});

test('janus.js watches: Chromium decodes the 320x240 test pattern and hears the 440 Hz tone', { timeout: 45000 }, async (t) => {
  assert.ok(ports, 'no mountpoint');
  viewer = await (await browser.newContext()).newPage();
  viewer.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  viewer.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  await viewer.goto(base + '/', { timeout: 10000 });
  await viewer.click('#go', { timeout: 5000 }); // a user gesture: the AudioContext may run
  let list;
  try {
    list = await withTimeout(viewer.evaluate(([s, id]) => window.watch(s, id), [cardea.http, MOUNTPOINT]), 15000, 'list/watch/answer/start');
  } catch (e) {
    throw new Error(e.message + await diag());
  }
  const listed = list.find((m) => m.id === MOUNTPOINT);
  assert.ok(listed, `mountpoint ${MOUNTPOINT} in the list janus.js got: ${JSON.stringify(list)}`);
  assert.deepEqual(listed.media.map((m) => m.type), ['audio', 'video'], JSON.stringify(listed));

  const { offer, answer, events } = await viewer.evaluate(() => ({ offer: window.T.offer, answer: window.T.answer, events: window.T.events }));
  assert.equal(events[0]?.result?.status, 'preparing', JSON.stringify(events));
  assert.deepEqual((offer.match(/^m=\w+/gm) || []), ['m=audio', 'm=video'], offer);
  assert.equal((offer.match(/^a=sendonly/gm) || []).length, 2, `Cardea offers both sendonly:\n${offer}`);
  assert.match(offer, /a=rtpmap:\d+ opus\/48000\/2/i);
  assert.match(offer, /a=rtpmap:\d+ VP8\/90000/i);
  assert.equal((answer.match(/^a=recvonly/gm) || []).length, 2, `Chromium receives both:\n${answer}`);

  await until('the started event and webrtcup', 10000, async () => {
    const t = await viewer.evaluate(() => ({ up: window.T.webrtcUp, statuses: window.T.events.map((e) => e.result?.status) }));
    return { ok: t.up === true && t.statuses.includes('started'), ...t };
  });
  const seen = await until('decoded VP8 frames at 320x240', 15000, async () => {
    const v = await inbound('video');
    return { ok: v.framesDecoded > 5 && v.frameWidth === 320 && v.frameHeight === 240, frames: v.framesDecoded, width: v.frameWidth, height: v.frameHeight, packets: v.packets };
  });
  const picture = await until('the test pattern in the <video> element', 10000, async () => {
    const p = await viewer.evaluate(() => window.videoProbe());
    return { ok: p.videoWidth === 320 && p.videoHeight === 240 && p.colours >= 8, ...p };
  });
  await sleep(2000);
  const later = await inbound('video');
  const fps = (later.framesDecoded - seen.frames) / 2;
  assert.ok(fps >= 10, `about 15 frames a second decoded, not ${fps}${await diag()}`);
  assert.ok(later.keyFramesDecoded >= 1, JSON.stringify(later));

  const audio = await until('audible audio (getStats)', 10000, async () => {
    const a = await inbound('audio');
    return { ok: a.totalAudioEnergy > 0.01 && a.audioLevel > 0.01, energy: a.totalAudioEnergy, level: a.audioLevel, packets: a.packets };
  });
  const tone = await until(`the ${TONE_HZ} Hz tone in the WebAudio analyser`, 10000, async () => {
    const p = await viewer.evaluate(() => window.audioProbe());
    return { ok: p.rms > 0.01 && Math.abs(p.peakHz - TONE_HZ) <= TONE_SLACK_HZ, ...p };
  });
  // janus.js calls onremotetrack again when a track unmutes: one kind per mid, both kinds.
  const tracks = await viewer.evaluate(() => window.T.tracks.filter((t) => t.on));
  const kinds = Object.fromEntries(tracks.map((t) => [t.mid, t.kind]));
  assert.deepEqual(Object.values(kinds).sort(), ['audio', 'video'], `onremotetrack for both: ${JSON.stringify(tracks)}`);
  const errors = await viewer.evaluate(() => window.T.errors);
  assert.deepEqual(errors, []);
  t.diagnostic(`decoded ${later.framesDecoded} frames (${fps}/s) of ${picture.videoWidth}x${picture.videoHeight}, ` +
    `${picture.colours} colours; audio level ${audio.level.toFixed(3)}, analyser rms ${tone.rms.toFixed(3)}, peak ${tone.peakHz.toFixed(0)} Hz`);
});

test('pause stops the frames, start brings them back', { timeout: 30000 }, async () => {
  assert.ok(viewer, 'no viewer');
  await viewer.evaluate(() => window.sendMessage({ request: 'pause' }));
  await until('the pausing event', 5000, async () => {
    const s = await viewer.evaluate(() => window.T.events.map((e) => e.result?.status));
    return { ok: s.includes('pausing'), s };
  });
  await sleep(500);
  const paused = await inbound('video');
  const pausedAudio = await inbound('audio');
  await sleep(1500);
  const still = await inbound('video');
  const stillAudio = await inbound('audio');
  assert.equal(still.packets, paused.packets, `no VP8 while paused${await diag()}`);
  assert.equal(stillAudio.packets, pausedAudio.packets, `no opus while paused${await diag()}`);

  const before = (await viewer.evaluate(() => window.T.events.length));
  await viewer.evaluate(() => window.sendMessage({ request: 'start' }));
  await until('started again', 5000, async () => {
    const s = await viewer.evaluate((n) => window.T.events.slice(n).map((e) => e.result?.status), before);
    return { ok: s.includes('started'), s };
  });
  await until('frames decoded again', 10000, async () => {
    const v = await inbound('video');
    return { ok: v.framesDecoded > still.framesDecoded + 10, from: still.framesDecoded, now: v.framesDecoded };
  });
  await until('audio again', 5000, async () => {
    const a = await inbound('audio');
    return { ok: a.packets > stillAudio.packets + 25, from: stillAudio.packets, now: a.packets };
  });
});

test('stop: Cardea says stopping, then stopped, and the PeerConnection goes away', { timeout: 20000 }, async () => {
  assert.ok(viewer, 'no viewer');
  const from = await viewer.evaluate(() => window.T.events.length);
  await viewer.evaluate(() => window.sendMessage({ request: 'stop' }));
  await until('stopping then stopped', 10000, async () => {
    const s = await viewer.evaluate((n) => window.T.events.slice(n).map((e) => e.result?.status), from);
    return { ok: s.includes('stopping') && s.includes('stopped') && s.indexOf('stopping') < s.indexOf('stopped'), s };
  });
  await until('the PeerConnection cleaned up', 10000, async () => {
    const t = await viewer.evaluate(() => ({ cleanups: window.T.cleanups, up: window.T.webrtcUp }));
    return { ok: t.cleanups >= 1, ...t };
  });
  const info = await manage({ request: 'info', id: MOUNTPOINT });
  assert.ok(!info.info.viewers, `no viewer left: ${JSON.stringify(info)}`);
  assert.equal(ffmpeg.exitCode, null, `ffmpeg still feeding: ${ffmpegLog.join('')}`);
});

test('a data stream: janus.js gets the kept last message, then each datagram, through ondata', { timeout: 30000 }, async () => {
  const created = await manage({
    request: 'create', type: 'rtp', id: MOUNTPOINT + 1, description: 'text over a data channel',
    media: [{ type: 'data', mid: 'd', port: 0, datatype: 'text', buffermsg: true }],
  });
  assert.equal(created.streaming, 'created', JSON.stringify(created));
  const port = created.stream.ports[0].port;
  assert.equal(created.stream.ports[0].type, 'data', JSON.stringify(created));
  const socket = dgram.createSocket('udp4');
  const sendText = (text) => new Promise((resolve, reject) => socket.send(text, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  try {
    // Before anyone watches: kept for the first viewer.
    await sendText('kept before watch');
    await until('the data stream receiving', 5000, async () => {
      const info = await manage({ request: 'info', id: MOUNTPOINT + 1 });
      const m = info.info?.media?.[0] || {};
      return { ok: Number.isInteger(m.age_ms) && m.type === 'data' && m.datatype === 'text', m };
    });
    const page = await (await browser.newContext()).newPage();
    page.on('console', (m) => consoleLines.push(`data page ${m.type()}: ${m.text()}`));
    await page.goto(base + '/', { timeout: 10000 });
    await withTimeout(page.evaluate(([s, id]) => window.watch(s, id), [cardea.http, MOUNTPOINT + 1]), 15000, 'watch the data mountpoint');
    const offer = await page.evaluate(() => window.T.offer);
    assert.deepEqual((offer.match(/^m=\w+/gm) || []), ['m=application'], offer);
    const opened = await until('the data channel open', 10000, async () => {
      const t = await page.evaluate(() => ({ open: window.T.dataOpen, data: window.T.data }));
      return { ok: typeof t.open === 'string' && t.data.length >= 1, ...t };
    });
    assert.equal(opened.data[0].data, 'kept before watch', JSON.stringify(opened));
    for (let i = 0; i < 5; i++) {
      await sendText(`live ${i}`);
      await sleep(50);
    }
    const got = await until('five live messages', 5000, async () => {
      const data = await page.evaluate(() => window.T.data.map((d) => d.data));
      return { ok: data.length >= 6, data };
    });
    assert.deepEqual(got.data.slice(1, 6), ['live 0', 'live 1', 'live 2', 'live 3', 'live 4']);
    await page.close();
  } finally {
    socket.close();
  }
});
