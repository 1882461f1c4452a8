// Chromium with janus.js from npm (janus-gateway) against Cardea's janus.plugin.sip, the way
// Janus's siptest demo uses it, with SIPp on the SIP side (sipp/README.md, "The SIP plugin"):
// the handle registers as alice with sipp/plugin_registrar.xml (digest, alice / alicepw), then
// calls sipp/plugin_uas_echo.xml, which answers PCMU and echoes the RTP (-rtp_echo). Chromium's
// fake microphone (a beep) goes out as PCMU through Cardea to SIPp and must come back audible.
// Run: cd tests/js && CARDEA_BIN=<path to cardea> node --test browser/sip.test.mjs
// (needs /usr/bin/chromium or CHROMIUM_BIN, and `sipp` on PATH: Debian's sip-tester).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { mkdtempSync, openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startCardea } from '../cardea.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const pkgDir = (name) => dirname(require.resolve(`${name}/package.json`));
const SIPP_DIR = resolve(here, '../../../sipp');

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
];

const STATIC = {
  '/': [join(here, 'janusjs-siptest.html'), 'text/html; charset=utf-8'],
  '/janus.js': [join(pkgDir('janus-gateway'), 'npm/src/janus.js'), 'text/javascript; charset=utf-8'],
  '/adapter.js': [join(pkgDir('webrtc-adapter'), 'out/adapter.js'), 'text/javascript; charset=utf-8'],
};

// Cardea's shared SIP stack on free loopback ports, no registrar users: the handle registers
// with SIPp, not with Cardea (as tests/tests/sip_plugin.rs does).
const SIP_SECTION = 'sip:\n  bind: 127.0.0.1\n  udp_port: 0\n  tcp_port: 0\n  realm: cardea.test\n';
const USERNAME = 'sip:alice@127.0.0.1';
const SECRET = 'alicepw';
const MIN_PACKETS = 50;
// An AnalyserNode frame (2048 samples) holding part of the fake microphone's beep is far above
// this; digital silence (PCMU 0xff) and comfort noise are far below.
const MIN_RMS = 0.01;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let cardea, server, staticBase, browser, scratch;
const sipps = [];
const consoleLines = [];

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms); }),
  ]);
}

// A loopback port free for UDP and TCP right now (SIPp's -p; it writes it in Via and Contact).
async function freePort(not = []) {
  for (let i = 0; i < 50; i++) {
    const udp = createSocket('udp4');
    const port = await new Promise((r, j) => { udp.once('error', j); udp.bind(0, '127.0.0.1', () => r(udp.address().port)); });
    const tcpFree = await new Promise((r) => {
      const tcp = createTcpServer();
      tcp.once('error', () => r(false));
      tcp.listen(port, '127.0.0.1', () => tcp.close(() => r(true)));
    });
    await new Promise((r) => udp.close(r));
    if (tcpFree && !not.includes(port)) return port;
  }
  throw new Error('no loopback port free for UDP and TCP after 50 tries');
}

// One SIPp run (-m 1) over UDP from 127.0.0.1:port toward Cardea's SIP listener, bounded by
// SIPp's own -timeout; its messages, errors and screen go to files in the scratch directory.
function spawnSipp(role, scenario, port, extra = []) {
  const file = (suffix) => join(scratch, `${role}-${suffix}`);
  const screen = openSync(file('screen.txt'), 'w');
  const args = [
    '-sf', join(SIPP_DIR, `${scenario}.xml`), '-m', '1', '-i', '127.0.0.1', '-p', String(port), '-t', 'u1',
    '-default_behaviors', 'all,-bye', '-timeout', '45s', '-timeout_error', '-recv_timeout', '20s',
    '-trace_err', '-error_file', file('errors.log'), '-trace_msg', '-message_file', file('messages.log'),
    '-nostdin', ...extra, cardea.ready.sip_udp,
  ];
  const child = spawn(process.env.SIPP_BIN || 'sipp', args, { cwd: scratch, stdio: ['ignore', screen, screen] });
  closeSync(screen);
  const run = { role, scenario, port, child, code: undefined, file };
  run.exited = new Promise((r) => {
    child.on('exit', (code, signal) => { run.code = code ?? signal; r(run.code); });
    child.on('error', (e) => { run.code = `spawn error: ${e.message}`; r(run.code); });
  });
  sipps.push(run);
  return run;
}

function describeSipp(run) {
  const read = (suffix) => {
    const f = run.file(suffix);
    return existsSync(f) ? readFileSync(f, 'utf8') : `(${suffix}: none)`;
  };
  const screen = read('screen.txt').split('\n').slice(-25).join('\n');
  return `\n--- SIPp ${run.role} (${run.scenario}, port ${run.port}): ` +
    `${run.code === undefined ? 'still running' : 'exit ' + run.code}\n` +
    `--- ${run.role} SIP messages:\n${read('messages.log')}\n--- ${run.role} SIPp errors:\n${read('errors.log')}` +
    `\n--- ${run.role} SIPp screen (tail):\n${screen}`;
}

function watch(page, name) {
  page.on('console', (m) => consoleLines.push(`[${name}] ${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`[${name}] pageerror: ${e.message}`));
  return page;
}

// Everything useful when a step fails: the page's view, the browser console, Cardea's log
// tail and every SIPp run's messages.
async function diag(page) {
  let state = '';
  try {
    state = JSON.stringify(await withTimeout(page.evaluate(async () => ({
      errors: window.T?.errors, states: window.T?.states, events: window.T?.events,
      stats: window.rtpStats ? await window.rtpStats() : undefined,
      log: document.getElementById('log')?.textContent.split('\n').slice(-30),
      offer: window.T?.offer, answer: window.T?.answer,
    })), 3000, 'page state'), null, 1);
  } catch (e) { state = `(page state unavailable: ${e.message})`; }
  const cardeaTail = cardea ? cardea.logs.join('').split('\n').slice(-80).join('\n') : '';
  return `\n--- page state ---\n${state}\n--- browser console (tail) ---\n${consoleLines.slice(-60).join('\n')}` +
    `\n--- cardea log (tail) ---\n${cardeaTail}${sipps.map(describeSipp).join('')}`;
}

// Polls `probe` until it returns {ok: true, ...}; a {fail: text} result or the deadline fails
// with the last probe and the diagnostics.
async function until(page, what, ms, probe, every = 200) {
  const end = Date.now() + ms;
  for (;;) {
    const last = await withTimeout(probe(), 5000, what);
    if (last.ok) return last;
    if (last.fail || Date.now() > end) {
      throw new Error(`${what}: ${last.fail || `not within ${ms} ms`}; last probe ${JSON.stringify(last)}${await diag(page)}`);
    }
    await sleep(every);
  }
}

const stats = (page) => withTimeout(page.evaluate(() => window.rtpStats()), 3000, 'getStats');
const audioRow = (s, type) => s.rtp.find((r) => r.type === type && r.kind === 'audio') || {};
const sipEvents = (page) => page.evaluate(() => window.T.events.map((e) => e.result?.event || (e.error ? 'error' : '?')));

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'cardea-browser-sip-'));
  cardea = await startCardea({ extraYaml: SIP_SECTION });
  assert.ok(cardea.ready.sip_udp, `CARDEA_READY names no sip_udp listener: ${JSON.stringify(cardea.ready)}`);
  server = createHttpServer(async (req, res) => {
    const entry = STATIC[new URL(req.url, 'http://x').pathname];
    if (!entry) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': entry[1], 'cache-control': 'no-store' }).end(await readFile(entry[0]));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  staticBase = `http://127.0.0.1:${server.address().port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 20000 });
}, { timeout: 40000 });

after(async () => {
  for (const run of sipps) if (run.code === undefined) run.child.kill('SIGKILL');
  await Promise.all(sipps.map((run) => withTimeout(run.exited, 3000, 'sipp exit').catch(() => {})));
  if (browser) await withTimeout(browser.close(), 10000, 'browser.close').catch(() => {});
  if (server) { server.closeAllConnections(); server.close(); }
  if (cardea) await withTimeout(cardea.stop(), 10000, 'cardea stop').catch(() => cardea.child.kill('SIGKILL'));
});

describe('janus.js from npm against janus.plugin.sip, calling a SIPp echo', () => {
  let context, page, registrar, callee;
  let accepted = false, hungUp = false;

  before(async () => {
    const registrarPort = await freePort();
    const calleePort = await freePort([registrarPort]);
    registrar = spawnSipp('registrar', 'plugin_registrar', registrarPort);
    callee = spawnSipp('callee', 'plugin_uas_echo', calleePort, ['-rtp_echo', '-mi', '127.0.0.1']);
    await sleep(300); // let both bind before anything is sent to them
    for (const run of [registrar, callee]) {
      if (run.code !== undefined) throw new Error(`SIPp ${run.role} exited at once${describeSipp(run)}`);
    }
    context = await browser.newContext();
    page = watch(await context.newPage(), 'siptest');
    await page.goto(staticBase + '/', { timeout: 10000 });
    await page.click('#go', { timeout: 5000 }); // a user gesture: <audio> and the AudioContext may play
    try {
      await withTimeout(page.evaluate((o) => window.startSip(o), {
        server: cardea.http,
        username: USERNAME,
        secret: SECRET,
        proxy: `sip:127.0.0.1:${registrarPort}`,
        callUri: `sip:bob@127.0.0.1:${calleePort}`,
      }), 15000, 'janus.js create/attach/register');
    } catch (e) {
      throw new Error(e.message + await diag(page));
    }
  }, { timeout: 30000 });

  after(async () => {
    if (page) await withTimeout(page.evaluate(() => new Promise((r) => window.T.janus.destroy({ success: r, error: r }))), 3000, 'destroy').catch(() => {});
    if (context) await withTimeout(context.close(), 5000, 'context.close').catch(() => {});
  });

  test('register: registered as alice through the SIPp registrar', { timeout: 20000 }, async (t) => {
    const r = await until(page, 'registered', 10000, async () => {
      const s = await page.evaluate(() => ({ registered: window.T.registered, failed: window.T.registrationFailed, errors: window.T.errors }));
      return { ok: !!s.registered, fail: s.failed ? `registration_failed ${JSON.stringify(s.failed)}` : s.errors.length ? s.errors.join('; ') : undefined, ...s };
    });
    t.diagnostic(`registered: ${JSON.stringify(r.registered)}`);
    assert.equal(r.registered.username, 'alice', `registered names alice: ${JSON.stringify(r.registered)}`);
    const events = await sipEvents(page);
    assert.ok(events.indexOf('registering') >= 0 && events.indexOf('registering') < events.indexOf('registered'),
      `registering comes before registered: ${JSON.stringify(events)}`);
  });

  test('call: accepted with a JSEP answer that keeps PCMU only', { timeout: 20000 }, async (t) => {
    const r = await until(page, 'accepted + answer applied', 12000, async () => {
      const s = await page.evaluate(() => ({
        accepted: window.T.accepted, applied: window.T.answerApplied, hangup: window.T.hangup, errors: window.T.errors,
      }));
      return { ok: !!(s.accepted && s.applied), fail: s.hangup ? `hangup ${JSON.stringify(s.hangup)}` : s.errors.length ? s.errors.join('; ') : undefined, ...s };
    });
    const { offer, answer } = await page.evaluate(() => ({ offer: window.T.offer, answer: window.T.answer }));
    const events = await sipEvents(page);
    t.diagnostic(`events: ${JSON.stringify(events)}`);
    t.diagnostic(`answer m-line: ${answer.match(/^m=.*$/m)?.[0]}`);
    assert.match(offer, /^a=rtpmap:0 PCMU\/8000/m, 'Chromium offered PCMU');
    assert.ok(events.indexOf('calling') >= 0 && events.indexOf('calling') < events.indexOf('accepted'),
      `calling comes before accepted: ${JSON.stringify(events)}`);
    assert.equal(typeof r.accepted.call_id, 'string', `accepted carries a call_id: ${JSON.stringify(r.accepted)}`);
    const mline = answer.match(/^m=audio \d+ \S+ ([\d ]+)$/m);
    assert.ok(mline, `the answer has an audio m-line:\n${answer}`);
    const audioPts = mline[1].trim().split(/\s+/).filter((pt) => !/telephone-event/i.test(answer.match(new RegExp(`^a=rtpmap:${pt} (\\S+)`, 'm'))?.[1] || ''));
    assert.deepEqual(audioPts, ['0'], `the answer keeps PCMU only (plus telephone-event):\n${answer}`);
    accepted = true;
  });

  test('remote audio: the beep comes back through the SIPp echo', { timeout: 30000 }, async (t) => {
    assert.ok(accepted, 'the call was not accepted, no audio to hear');
    const flowing = await until(page, `more than ${MIN_PACKETS} audio packets received`, 12000, async () => {
      const s = await stats(page);
      const inbound = audioRow(s, 'inbound-rtp');
      return { ok: (inbound.packets || 0) > MIN_PACKETS, inbound, outbound: audioRow(s, 'outbound-rtp'), pc: s.pc };
    });
    t.diagnostic(`flowing: ${JSON.stringify(flowing)}`);
    const level = await withTimeout(page.evaluate(() => window.measureAudio(2000)), 6000, 'measureAudio');
    const s = await stats(page);
    const inbound = audioRow(s, 'inbound-rtp');
    t.diagnostic(`WebAudio RMS over 2 s: ${JSON.stringify(level)}`);
    t.diagnostic(`inbound audio: ${JSON.stringify(inbound)}; outbound: ${JSON.stringify(audioRow(s, 'outbound-rtp'))}`);
    assert.match(inbound.codec || '', /PCMU/i, `the received audio is PCMU: ${JSON.stringify(inbound)}`);
    assert.ok(inbound.packets > flowing.inbound.packets, `audio packets keep arriving: ${JSON.stringify(inbound)}${await diag(page)}`);
    assert.ok(inbound.totalAudioEnergy > 0 || inbound.audioLevel > 0,
      `getStats reports silence (totalAudioEnergy and audioLevel 0): ${JSON.stringify(inbound)}${await diag(page)}`);
    assert.ok(level.max > MIN_RMS,
      `the remote track is silent to WebAudio (max RMS ${level.max} <= ${MIN_RMS}): ${JSON.stringify(level)}${await diag(page)}`);
  });

  test('hangup: {request: "hangup"} ends the call with a hangup event', { timeout: 20000 }, async (t) => {
    assert.ok(accepted, 'the call was not accepted, nothing to hang up');
    await withTimeout(page.evaluate(() => window.hangup()), 5000, 'send hangup');
    const r = await until(page, 'hangup event', 10000, async () => {
      const s = await page.evaluate(() => ({ hangup: window.T.hangup, errors: window.T.errors }));
      return { ok: !!s.hangup, ...s };
    });
    const events = await sipEvents(page);
    t.diagnostic(`hangup: ${JSON.stringify(r.hangup)}; events ${JSON.stringify(events)}`);
    assert.ok(events.indexOf('hangingup') >= 0 && events.indexOf('hangingup') < events.lastIndexOf('hangup'),
      `hangingup comes before hangup: ${JSON.stringify(events)}`);
    assert.equal(r.hangup.code, 200, `a hangup of ours is reported with code 200: ${JSON.stringify(r.hangup)}`);
    assert.ok(typeof r.hangup.reason === 'string' && r.hangup.reason.length > 0, `hangup has a reason: ${JSON.stringify(r.hangup)}`);
    hungUp = true;
  });

  test('the SIPp callee got the BYE and exits 0; no error events', { timeout: 20000 }, async () => {
    assert.ok(hungUp, 'no hangup, so the callee still waits for its BYE');
    const code = await withTimeout(callee.exited, 10000, 'SIPp callee exit').catch(() => 'still running after 10 s');
    if (code !== 0) assert.fail(`SIPp callee exit: ${code}${await diag(page)}`);
    const errors = await page.evaluate(() => window.T.errors);
    assert.deepEqual(errors, [], `janus.js reported errors${errors.length ? await diag(page) : ''}`);
    // The registrar is done or waits for an unregistration (optional); it must not have failed.
    if (registrar.code !== undefined) assert.equal(registrar.code, 0, `SIPp registrar failed${describeSipp(registrar)}`);
  });
});
