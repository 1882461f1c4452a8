// Chromium against Cardea's EchoTest, twice: driven by janus.js from npm (janus-gateway), which
// Cardea must serve unchanged, and through our own demo page served by Cardea at /demos/.
// Chromium's fake camera and microphone (a moving test pattern and a beep) supply the media.
// Run: cd tests/js && CARDEA_BIN=<path to cardea> node --test browser/
// (needs /usr/bin/chromium or CHROMIUM_BIN; ECHOTEST_SCREENSHOT=<png> saves the demo page).
import { test, describe, before, after } from 'node:test';
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

// What our little static server hands to the janus.js page (its own origin, so CORS is exercised).
const STATIC = {
  '/': [join(here, 'janusjs-echotest.html'), 'text/html; charset=utf-8'],
  '/janus.js': [join(pkgDir('janus-gateway'), 'npm/src/janus.js'), 'text/javascript; charset=utf-8'],
  '/adapter.js': [join(pkgDir('webrtc-adapter'), 'out/adapter.js'), 'text/javascript; charset=utf-8'],
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let cardea, server, staticBase, browser;
const consoleLines = [];

function watch(page, name) {
  page.on('console', (m) => consoleLines.push(`[${name}] ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`[${name}] pageerror: ${e.message}`));
  return page;
}

// Everything useful when a wait runs out: the page's own view plus both sides' logs.
async function diag(page) {
  let state = '';
  try {
    state = JSON.stringify(await withTimeout(page.evaluate(async () => ({
      errors: window.T?.errors, states: window.T?.states, events: window.T?.events, data: window.T?.data,
      stats: window.rtpStats ? await window.rtpStats() : undefined,
      remote: (({ videoWidth, videoHeight, readyState, paused }) => ({ videoWidth, videoHeight, readyState, paused }))(document.getElementById('remote')),
      log: document.getElementById('log')?.textContent.split('\n').slice(-30),
      offer: window.T?.offer, answer: window.T?.answer,
    })), 3000, 'page state'), null, 1);
  } catch (e) { state = `(page state unavailable: ${e.message})`; }
  const cardeaTail = cardea ? cardea.logs.join('').split('\n').slice(-60).join('\n') : '';
  return `\n--- page state ---\n${state}\n--- browser console (tail) ---\n${consoleLines.slice(-60).join('\n')}` +
    `\n--- cardea log (tail) ---\n${cardeaTail}`;
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms); }),
  ]);
}

// Polls `probe` until it returns {ok: true, ...}; fails with the last probe and the diagnostics.
async function until(page, what, ms, probe, every = 250) {
  const end = Date.now() + ms;
  for (;;) {
    const last = await withTimeout(probe(), 5000, what);
    if (last.ok) return last;
    if (Date.now() > end) {
      throw new Error(`${what}: not within ${ms} ms; last probe ${JSON.stringify(last)}${await diag(page)}`);
    }
    await sleep(every);
  }
}

const stats = (page) => withTimeout(page.evaluate(() => window.rtpStats()), 3000, 'getStats');
const pick = (s, type, kind) => s.rtp.filter((r) => r.type === type && r.kind === kind);
const sum = (rows, field) => rows.reduce((n, r) => n + (r[field] || 0), 0);

// Sent video bitrate in kbit/s over one window (bytes * 8 / ms = kbit/s).
async function sentVideoKbps(page, windowMs = 1000) {
  const a = await stats(page);
  await sleep(windowMs);
  const b = await stats(page);
  const rows = pick(b, 'outbound-rtp', 'video');
  return {
    kbps: Math.round((sum(rows, 'bytes') - sum(pick(a, 'outbound-rtp', 'video'), 'bytes')) * 8 / (b.now - a.now)),
    target: Math.round(sum(rows, 'targetBitrate') / 1000),
    limit: rows[0]?.qualityLimitationReason,
  };
}

before(async () => {
  cardea = await startCardea();
  server = createServer(async (req, res) => {
    const entry = STATIC[new URL(req.url, 'http://x').pathname];
    if (!entry) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': entry[1], 'cache-control': 'no-store' }).end(await readFile(entry[0]));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  staticBase = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 20000 });
}, { timeout: 40000 });

after(async () => {
  if (browser) await withTimeout(browser.close(), 10000, 'browser.close').catch(() => {});
  if (server) { server.closeAllConnections(); server.close(); }
  if (cardea) await withTimeout(cardea.stop(), 10000, 'cardea stop').catch(() => cardea.child.kill('SIGKILL'));
});

describe('janus.js from npm against janus.plugin.echotest', () => {
  let context, page, offerSentAt;
  let videoFlows = false; // set by the first test; the bitrate tests are pointless without it
  let capApplied = false;

  before(async () => {
    context = await browser.newContext();
    page = watch(await context.newPage(), 'janus.js');
    await page.goto(staticBase + '/', { timeout: 10000 });
    await page.click('#go', { timeout: 5000 }); // a user gesture, so the remote <video> may play sound
    try {
      await withTimeout(page.evaluate((s) => window.startEcho(s), cardea.http), 15000, 'janus.js create/attach/offer');
    } catch (e) {
      throw new Error(e.message + await diag(page));
    }
    offerSentAt = Date.now();
  }, { timeout: 30000 });

  after(async () => {
    if (page) await withTimeout(page.evaluate(() => new Promise((r) => window.T.janus.destroy({ success: r, error: r }))), 3000, 'destroy').catch(() => {});
    if (context) await withTimeout(context.close(), 5000, 'context.close').catch(() => {});
  });

  test('remote video decodes frames within 15 s', { timeout: 25000 }, async () => {
    const seen = await until(page, 'remote video decoding', Math.max(15000 - (Date.now() - offerSentAt), 1000), async () => {
      const width = await page.evaluate(() => document.getElementById('remote').videoWidth);
      const frames = sum(pick(await stats(page), 'inbound-rtp', 'video'), 'framesDecoded');
      return { ok: width > 0 && frames > 0, width, frames };
    });
    await sleep(1000);
    const later = sum(pick(await stats(page), 'inbound-rtp', 'video'), 'framesDecoded');
    assert.ok(later > seen.frames, `framesDecoded stuck at ${seen.frames} -> ${later}${later > seen.frames ? '' : await diag(page)}`);
    videoFlows = true;
    const answer = await page.evaluate(() => window.T.answer);
    assert.match(answer, /^m=video /m, 'the answer has a video m-line');
  });

  test('janus.js reports webrtcup from the server', { timeout: 10000 }, async () => {
    await until(page, 'webrtcState(true)', 5000, async () => ({ ok: await page.evaluate(() => window.T.webrtcUp === true) }));
  });

  test('remote audio is not silent for 5 s', { timeout: 15000 }, async () => {
    const samples = [];
    for (let i = 0; i <= 10; i++) {
      const s = pick(await stats(page), 'inbound-rtp', 'audio')[0] || {};
      samples.push({ energy: s.totalAudioEnergy || 0, level: s.audioLevel || 0, packets: s.packets || 0 });
      if (i < 10) await sleep(500);
    }
    const flat = [];
    for (let i = 0; i + 2 < samples.length; i += 2) {
      if (!(samples[i + 2].energy > samples[i].energy)) flat.push(`${i / 2}-${i / 2 + 1} s`);
    }
    const detail = JSON.stringify(samples);
    assert.ok(samples[10].packets > samples[0].packets, `no audio packets arrive: ${detail}${await diag(page)}`);
    assert.deepEqual(flat, [], `totalAudioEnergy did not grow in every second: ${detail}${flat.length ? await diag(page) : ''}`);
    assert.ok(Math.max(...samples.map((s) => s.level)) > 0 || samples[10].energy > 0, `audioLevel always 0: ${detail}`);
  });

  test('data-channel text sent with sendData comes back through ondata', { timeout: 20000 }, async (t) => {
    await until(page, 'data channel open', 10000, async () => ({ ok: !!(await page.evaluate(() => window.T.dataOpen)) }));
    const text = 'cardea-dc-' + Math.random().toString(36).slice(2, 10);
    await withTimeout(page.evaluate((t) => window.sendText(t), text), 3000, 'sendData');
    const got = await until(page, 'data echo', 5000, async () => {
      const data = await page.evaluate(() => window.T.data);
      return { ok: data.some((d) => d.includes(text)), data };
    });
    t.diagnostic(`data echo: ${JSON.stringify(got.data.find((d) => d.includes(text)))}`);
  });

  test('bitrate 128000 caps the sent video under 200 kbit/s', { timeout: 30000 }, async (t) => {
    assert.ok(videoFlows, 'no echoed video (first test failed), so no bitrate to cap');
    const uncapped = [];
    for (let i = 0; i < 6; i++) {
      uncapped.push(await sentVideoKbps(page));
      if (uncapped.length >= 2 && uncapped.at(-1).kbps > 300) break;
    }
    const peak = Math.max(...uncapped.map((w) => w.kbps));
    t.diagnostic(`uncapped video send rate per second (kbit/s): ${JSON.stringify(uncapped)}`);
    if (peak <= 200) t.diagnostic(`WARNING: uncapped send rate never went above 200 kbit/s (peak ${peak}); the cap check proves little`);

    await withTimeout(page.evaluate((m) => window.sendMessage(m), { bitrate: 128000 }), 5000, 'send {bitrate}');
    const capped = [];
    let below = 0;
    for (let i = 0; i < 10 && below < 2; i++) {
      const w = await sentVideoKbps(page);
      capped.push(w);
      below = w.kbps < 200 ? below + 1 : 0;
    }
    t.diagnostic(`after {bitrate:128000} (kbit/s): ${JSON.stringify(capped)}`);
    assert.equal(below, 2, `sent video stayed above 200 kbit/s for ${capped.length} s after the cap: ` +
      `${JSON.stringify(capped)} (uncapped peak ${peak})${await diag(page)}`);
    capApplied = true;
  });

  // The "no limit" choice of a bitrate selector sends 0. A REMB cap stays in force in the browser
  // until another REMB replaces it, so Janus answers 0 with a REMB of 10 Mbit/s.
  test('bitrate 0 lifts the cap again', { timeout: 20000 }, async (t) => {
    assert.ok(capApplied, 'the cap test did not pass, so there is no cap to lift');
    await withTimeout(page.evaluate((m) => window.sendMessage(m), { bitrate: 0 }), 5000, 'send {bitrate:0}');
    const lifted = [];
    for (let i = 0; i < 8; i++) {
      lifted.push(await sentVideoKbps(page));
      if (lifted.at(-1).kbps > 200) break;
    }
    t.diagnostic(`after {bitrate:0} (kbit/s): ${JSON.stringify(lifted)}`);
    assert.ok(lifted.at(-1).kbps > 200, `sent video stayed under 200 kbit/s for ${lifted.length} s after {bitrate:0}: ` +
      `${JSON.stringify(lifted)}${await diag(page)}`);
  });

  // Renegotiation: a new offer on the handle whose PeerConnection is up is answered in place by
  // the same WebRTC leg. Same DTLS (fingerprint and role unchanged), media keeps flowing.
  // Each check: the answer arrives and is accepted, ICE is (back to) connected on the expected
  // credentials, the echoed video keeps decoding for 3 s, audio and data channel still echo,
  // and janus.js saw no hangup.
  async function renegotiate(options, what) {
    const before = await page.evaluate(() => ({ states: window.T.states.length, answers: window.T.answers.length }));
    let r;
    try {
      r = await withTimeout(page.evaluate((o) => window.renegotiate(o), options), 10000, `${what}: offer/answer`);
    } catch (e) {
      throw new Error(e.message + await diag(page));
    }
    return { ...r, before };
  }

  const ufragOf = (sdp) => sdp.match(/^a=ice-ufrag:(\S+)/m)?.[1];
  const fingerprintOf = (sdp) => sdp.match(/^a=fingerprint:(.+)$/m)?.[1]?.trim();
  const setupsOf = (sdp) => [...sdp.matchAll(/^a=setup:(\S+)/gm)].map((m) => m[1]);
  const mlinesOf = (sdp) => [...sdp.matchAll(/^m=(\S+) /gm)].map((m) => m[1]);
  const iceInfo = () => withTimeout(page.evaluate(() => window.iceInfo()), 3000, 'iceInfo');

  // Video decodes and audio arrives in each of the next `seconds` seconds; no hangup meanwhile.
  async function mediaKeepsFlowing(t, what, seconds, statesFrom) {
    const samples = [];
    for (let i = 0; i <= seconds * 2; i++) {
      const s = await stats(page);
      samples.push({
        frames: sum(pick(s, 'inbound-rtp', 'video'), 'framesDecoded'),
        audio: sum(pick(s, 'inbound-rtp', 'audio'), 'packets'),
        pc: s.pc,
      });
      if (i < seconds * 2) await sleep(500);
    }
    t.diagnostic(`${what}: per 0.5 s ${JSON.stringify(samples.map(({ frames, audio }) => [frames, audio]))}`);
    const stuck = [];
    for (let i = 0; i + 2 < samples.length; i += 2) {
      if (!(samples[i + 2].frames > samples[i].frames)) stuck.push(`video ${i / 2}-${i / 2 + 1} s`);
      if (!(samples[i + 2].audio > samples[i].audio)) stuck.push(`audio ${i / 2}-${i / 2 + 1} s`);
    }
    assert.deepEqual(stuck, [], `${what}: echoed media stalled: ${JSON.stringify(samples)}${stuck.length ? await diag(page) : ''}`);
    const states = await page.evaluate((n) => window.T.states.slice(n), statesFrom);
    const bad = states.filter((x) => /^webrtc false|^cleanup|^ice (failed|disconnected|closed)/.test(x));
    assert.deepEqual(bad, [], `${what}: janus.js reported ${JSON.stringify(states)}${bad.length ? await diag(page) : ''}`);
    const events = await page.evaluate(() => window.T.events);
    const errors = events.filter((e) => e.error || e.error_code || e.result === 'done');
    assert.deepEqual(errors, [], `${what}: plugin events ${JSON.stringify(events)}`);
  }

  async function dataStillEchoes(what) {
    const text = 'reneg-' + Math.random().toString(36).slice(2, 10);
    await withTimeout(page.evaluate((x) => window.sendText(x), text), 3000, `${what}: sendData`);
    await until(page, `${what}: data echo`, 5000, async () => {
      const data = await page.evaluate(() => window.T.data);
      return { ok: data.some((d) => d.includes(text)), last: data.slice(-3) };
    });
  }

  let restarted = false;
  test('an ICE restart offer is answered in place: new ufrag, same DTLS, media keeps flowing', { timeout: 40000 }, async (t) => {
    assert.ok(videoFlows, 'no echoed video (first test failed), nothing to renegotiate');
    const [firstOffer, firstAnswer] = await page.evaluate(() => [window.T.offers[0], window.T.answers[0]]);
    const pre = await iceInfo();
    t.diagnostic(`before the restart: ${JSON.stringify(pre)}`);
    await page.evaluate(() => window.startAudioGapWatch());
    const r = await renegotiate({ iceRestart: true }, 'ICE restart');
    t.diagnostic(`restart offer ufrag ${ufragOf(r.offer)} (was ${ufragOf(firstOffer)}); ` +
      `answer ufrag ${ufragOf(r.answer)} (was ${ufragOf(firstAnswer)}); m-lines ${mlinesOf(r.answer)}`);
    assert.notEqual(ufragOf(r.offer), ufragOf(firstOffer), 'Chromium put new credentials in the restart offer');
    assert.ok(ufragOf(r.answer), `the answer has an a=ice-ufrag:\n${r.answer}`);
    assert.notEqual(ufragOf(r.answer), ufragOf(firstAnswer),
      `an ICE restart offer must be answered with new ICE credentials (RFC 8839 4.4.1.1.1); answer:\n${r.answer}`);
    assert.equal(fingerprintOf(r.answer), fingerprintOf(firstAnswer), 'same DTLS certificate (same leg)');
    assert.deepEqual(setupsOf(r.answer), setupsOf(firstAnswer), 'same DTLS role');
    assert.deepEqual(mlinesOf(r.answer), mlinesOf(firstAnswer), 'same m-lines');

    // ICE back to connected, on a pair whose remote candidate carries the answer's new ufrag.
    const newUfrag = ufragOf(r.answer);
    const post = await until(page, 'ICE connected on the restarted credentials', 10000, async () => {
      const info = await iceInfo();
      return {
        ok: ['connected', 'completed'].includes(info?.ice) && info?.connection === 'connected' &&
          info?.pair?.remote?.ufrag === newUfrag,
        info,
      };
    });
    t.diagnostic(`after the restart: ${JSON.stringify(post.info)}`);
    const iceStates = await page.evaluate((n) => window.T.states.slice(n), r.before.states);
    t.diagnostic(`janus.js states since the restart offer: ${JSON.stringify(iceStates)}`);
    // The longest stretch without an echoed audio packet around the restart (sampled every 20 ms
    // from just before the offer until ICE is connected on the new credentials, plus 1 s).
    await sleep(1000);
    const gap = await page.evaluate(() => window.T.stopAudioGapWatch());
    t.diagnostic(`longest audio gap around the ICE restart: ${JSON.stringify(gap)}`);
    assert.ok(gap.ms < 1000, `echoed audio stopped for ${gap.ms} ms around the ICE restart: ${JSON.stringify(gap)}`);

    await mediaKeepsFlowing(t, 'after the ICE restart', 3, r.before.states);
    await dataStillEchoes('after the ICE restart');
    restarted = true;
  });

  test('a renegotiation that changes nothing is answered in place and media keeps flowing', { timeout: 40000 }, async (t) => {
    assert.ok(videoFlows, 'no echoed video (first test failed), nothing to renegotiate');
    const prevAnswer = await page.evaluate(() => window.T.answers.at(-1));
    // No capture changes: the data channel exists already, so janus.js only creates a new offer.
    const r = await renegotiate({ tracks: [{ type: 'data' }] }, 'plain renegotiation');
    t.diagnostic(`answer ufrag ${ufragOf(r.answer)} (previous ${ufragOf(prevAnswer)}); m-lines ${mlinesOf(r.answer)}`);
    if (restarted) {
      assert.equal(ufragOf(r.answer), ufragOf(prevAnswer),
        `without an ICE restart the answer keeps the ICE credentials; answer:\n${r.answer}`);
    }
    assert.equal(fingerprintOf(r.answer), fingerprintOf(prevAnswer), 'same DTLS certificate (same leg)');
    assert.deepEqual(setupsOf(r.answer), setupsOf(prevAnswer), 'same DTLS role');
    assert.deepEqual(mlinesOf(r.answer), mlinesOf(prevAnswer), 'same m-lines');
    const info = await until(page, 'ICE still connected', 5000, async () => {
      const i = await iceInfo();
      return { ok: ['connected', 'completed'].includes(i?.ice) && i?.connection === 'connected', info: i };
    });
    t.diagnostic(`after the renegotiation: ${JSON.stringify(info.info)}`);
    await mediaKeepsFlowing(t, 'after the plain renegotiation', 3, r.before.states);
    await dataStillEchoes('after the plain renegotiation');
  });
});

describe('demo page served by Cardea', () => {
  let context, page;

  before(async () => {
    context = await browser.newContext();
    page = watch(await context.newPage(), 'demo');
  });
  after(async () => {
    if (page) await withTimeout(page.click('#stop', { timeout: 2000 }), 3000, 'stop').catch(() => {});
    if (context) await withTimeout(context.close(), 5000, 'context.close').catch(() => {});
  });

  test('index.html, echotest.html and echotest.js are served', { timeout: 10000 }, async () => {
    for (const [file, type] of [['index.html', /text\/html/], ['echotest.html', /text\/html/], ['echotest.js', /javascript/]]) {
      const res = await fetch(`${cardea.base}/demos/${file}`, { signal: AbortSignal.timeout(5000) });
      assert.equal(res.status, 200, `GET /demos/${file}`);
      assert.match(res.headers.get('content-type') || '', type, `content-type of /demos/${file}`);
      const body = await res.text();
      if (file === 'index.html') assert.match(body, /href="echotest\.html"/);
    }
  });

  test('echotest.html plays the echoed video and echoes data-channel text', { timeout: 35000 }, async () => {
    const res = await page.goto(`${cardea.base}/demos/echotest.html`, { timeout: 10000 });
    assert.equal(res.status(), 200);
    await page.click('#start', { timeout: 5000 });
    await until(page, 'demo remote video', 15000, async () => {
      const width = await page.evaluate(() => document.getElementById('remote').videoWidth);
      return { ok: width > 0, width };
    });
    await until(page, 'demo data channel open', 5000, async () => ({ ok: await page.isEnabled('#send') }));
    const text = 'demo-' + Math.random().toString(36).slice(2, 10);
    await page.fill('#text', text, { timeout: 2000 });
    await page.click('#send', { timeout: 2000 });
    await until(page, 'demo data echo', 5000, async () => {
      const lines = await page.evaluate(() => [...document.querySelectorAll('#data div')].map((d) => d.textContent));
      return { ok: lines.some((l) => l.startsWith('\u2190') && l.includes(text)), lines };
    });
    if (process.env.ECHOTEST_SCREENSHOT) {
      await until(page, 'demo stats line', 5000, async () => ({ ok: (await page.textContent('#stats')).length > 0 }));
      await sleep(1500);
      await page.screenshot({ path: process.env.ECHOTEST_SCREENSHOT, fullPage: true, timeout: 5000 });
    }
  });
});
