// Two Chromium pages in Cardea's AudioBridge room 1234 (Janus's sample room, 16 kHz), both
// driven by janus.js from npm the way Meetecho's AudioBridge demo does: join, then an offer
// with the microphone sent with configure {muted: false}, the answer applied. Page A talks to
// Cardea over HTTP long polls, page B over WebSocket. Chromium's fake microphone plays a WAV
// file of a 440 Hz tone (made by ffmpeg), so each page must hear the other's tone in its mix:
// getStats shows audio energy on the inbound track, and a WebAudio analyser hears a loud
// 440 Hz. Then B leaves: A is told `leaving`, and A's mix falls silent (A never hears itself).
// Run: cd tests/js && CARDEA_BIN=<path to cardea> node --test browser/audiobridge.test.mjs
// (needs /usr/bin/chromium or CHROMIUM_BIN, and ffmpeg or FFMPEG_BIN).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
const STATIC = {
  '/': [join(here, 'janusjs-audiobridge.html'), 'text/html; charset=utf-8'],
  '/janus.js': [join(pkgDir('janus-gateway'), 'npm/src/janus.js'), 'text/javascript; charset=utf-8'],
  '/adapter.js': [join(pkgDir('webrtc-adapter'), 'out/adapter.js'), 'text/javascript; charset=utf-8'],
};
const PLUGIN = 'janus.plugin.audiobridge';
const ROOM = 1234;
// The tone of the fake microphones, and how far the analyser's loudest bin may be from it.
const TONE_HZ = 440;
const TONE_SLACK_HZ = 30;
// The analyser's RMS: the other page's tone (sent at about -12 dBFS) is well above LOUD;
// an empty mix (silence, or comfort noise at most) is below QUIET.
const LOUD_RMS = 0.02;
const QUIET_RMS = 0.005;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let cardea, server, base, browser, dir, pageA, pageB, idA, idB;
const consoleLines = [];

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms); }),
  ]);
}

async function page(name) {
  const p = await (await browser.newContext()).newPage();
  p.on('console', (m) => consoleLines.push(`[${name}] ${m.type()}: ${m.text()}`));
  p.on('pageerror', (e) => consoleLines.push(`[${name}] pageerror: ${e.message}`));
  await p.goto(base + '/', { timeout: 10000 });
  await p.click('#go', { timeout: 5000 }); // a user gesture, so the mix may play and be analysed
  return p;
}

async function diag() {
  const state = {};
  for (const [name, p] of [['A (http)', pageA], ['B (ws)', pageB]]) {
    if (!p) continue;
    state[name] = await withTimeout(p.evaluate(async () => ({
      events: window.T.events, errors: window.T.errors, states: window.T.states, tracks: window.T.tracks,
      stats: await window.rtpStats(), audio: window.audioProbe(), offer: window.T.offer, answer: window.T.answer,
    })), 3000, 'page state').catch((e) => e.message);
  }
  return `\n--- pages ---\n${JSON.stringify(state, null, 1)}\n--- browser console ---\n` +
    `${consoleLines.slice(-40).join('\n')}\n--- cardea log ---\n${cardea ? cardea.logs.join('').split('\n').slice(-40).join('\n') : ''}`;
}

// Polls `probe` until it returns {ok: true}; fails with the last probe and both pages' state.
async function until(what, ms, probe) {
  const end = Date.now() + ms;
  for (;;) {
    const last = await withTimeout(probe(), 5000, what);
    if (last.ok) return last;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms; last ${JSON.stringify(last)}${await diag()}`);
    await sleep(250);
  }
}

const inboundAudio = async (p) => (await withTimeout(p.evaluate(() => window.rtpStats()), 3000, 'getStats')).rtp
  .filter((r) => r.type === 'inbound-rtp' && r.kind === 'audio')[0] || {};

/** Over `ms`: the inbound audio's energy gained and the analyser's loudest RMS and its peak. */
async function listen(p, ms) {
  const s0 = await inboundAudio(p);
  let loudest = { rms: 0 };
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const a = await withTimeout(p.evaluate(() => window.audioProbe()), 3000, 'audioProbe');
    if (a.rms > loudest.rms) loudest = a;
    await sleep(100);
  }
  const s1 = await inboundAudio(p);
  return {
    energy: (s1.totalAudioEnergy ?? 0) - (s0.totalAudioEnergy ?? 0),
    packets: (s1.packets ?? 0) - (s0.packets ?? 0),
    audioLevel: s1.audioLevel,
    loudest,
  };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cardea-ab-browser-'));
  const wav = join(dir, 'tone.wav');
  execFileSync(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
    `sine=frequency=${TONE_HZ}:sample_rate=48000:duration=10`, '-ac', '1', '-c:a', 'pcm_s16le', wav], { timeout: 15000 });
  cardea = await startCardea();
  server = createServer(async (req, res) => {
    const entry = STATIC[new URL(req.url, 'http://x').pathname];
    if (!entry) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': entry[1], 'cache-control': 'no-store' }).end(await readFile(entry[0]));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-audio-capture=${wav}`,
      '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
    ],
    timeout: 20000,
  });
}, { timeout: 40000 });

after(async () => {
  if (browser) await withTimeout(browser.close(), 10000, 'browser.close').catch(() => {});
  if (server) { server.closeAllConnections(); server.close(); }
  if (cardea) await withTimeout(cardea.stop(), 10000, 'cardea stop').catch(() => cardea.child.kill('SIGKILL'));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('page A joins room 1234 over HTTP: joined, an opus-only answer, the PeerConnection up', { timeout: 30000 }, async () => {
  pageA = await page('A');
  try {
    idA = await withTimeout(pageA.evaluate(([s, r]) => window.join(s, r, 'browser-http'), [cardea.http, ROOM]), 15000, 'join A');
  } catch (e) {
    throw new Error(e.message + await diag());
  }
  assert.ok(Number.isSafeInteger(idA) && idA > 0, `participant id ${idA}`);
  const joined = await pageA.evaluate(() => window.T.joined);
  assert.equal(joined.room, ROOM, JSON.stringify(joined));
  const answer = await pageA.evaluate(() => window.T.answer);
  assert.match(answer, /^m=audio \d+ \S+ \d+\r?$/m, `one audio codec in the answer:\n${answer}`);
  assert.match(answer, /a=rtpmap:\d+ opus\/48000/, answer);
  assert.doesNotMatch(answer, /^m=video/m, answer);
  await until('A webrtcup', 10000, async () => ({ ok: await pageA.evaluate(() => window.T.webrtcUp === true) }));
});

test('page B joins over WebSocket; A is told; each hears the other\'s 440 Hz tone', { timeout: 45000 }, async () => {
  assert.ok(idA, 'A did not join');
  pageB = await page('B');
  try {
    idB = await withTimeout(pageB.evaluate(([s, r]) => window.join(s, r, 'browser-ws'), [cardea.ws, ROOM]), 15000, 'join B');
  } catch (e) {
    throw new Error(e.message + await diag());
  }
  const joinedB = await pageB.evaluate(() => window.T.joined);
  assert.ok(joinedB.participants.some((p) => p.id === idA && p.display === 'browser-http'), `B's joined lists A: ${JSON.stringify(joinedB)}`);
  await until('A told that B joined', 5000, async () => {
    const events = await pageA.evaluate(() => window.T.events);
    return { ok: events.some((e) => e.audiobridge === 'joined' && e.participants?.some((p) => p.id === idB)), events };
  });
  await until('B webrtcup', 10000, async () => ({ ok: await pageB.evaluate(() => window.T.webrtcUp === true) }));

  // Both set up, as listparticipants says.
  await until('both participants set up', 10000, async () => {
    const r = await pageA.evaluate(() => window.sendMessage({ request: 'listparticipants', room: 1234 }));
    const ps = r.participants || [];
    return { ok: [idA, idB].every((id) => ps.some((p) => p.id === id && p.setup === true)), r };
  });

  for (const [name, p] of [['A', pageA], ['B', pageB]]) {
    await until(`${name} receives the mix`, 10000, async () => {
      const a = await inboundAudio(p);
      return { ok: a.packets > 50 && a.totalAudioEnergy > 0, a };
    });
    const heard = await until(`${name} hears the other's tone`, 10000, async () => {
      const l = await listen(p, 1000);
      return {
        ok: l.energy > 0 && l.packets >= 40 && l.loudest.rms >= LOUD_RMS && Math.abs(l.loudest.peakHz - TONE_HZ) <= TONE_SLACK_HZ,
        ...l,
      };
    });
    console.log(`${name} hears: ${JSON.stringify(heard)}`);
  }
});

test('B leaves: A gets leaving and its mix falls silent (it never hears itself)', { timeout: 30000 }, async () => {
  assert.ok(idB, 'B did not join');
  const left = await pageB.evaluate(() => window.sendMessage({ request: 'leave' }).then(() => true));
  assert.ok(left);
  await until('B got left', 5000, async () => {
    const events = await pageB.evaluate(() => window.T.events);
    return { ok: events.some((e) => e.audiobridge === 'left'), events };
  });
  await until('A told that B left', 5000, async () => {
    const events = await pageA.evaluate(() => window.T.events);
    return { ok: events.some((e) => e.audiobridge === 'event' && e.leaving === idB), events };
  });
  const quiet = await until('A\'s mix silent', 10000, async () => {
    const l = await listen(pageA, 1000);
    return { ok: l.packets >= 40 && l.loudest.rms < QUIET_RMS, ...l };
  });
  console.log(`A alone hears: ${JSON.stringify(quiet)}`);
  const errors = [...await pageA.evaluate(() => window.T.errors), ...await pageB.evaluate(() => window.T.errors)];
  assert.deepEqual(errors, []);
});
