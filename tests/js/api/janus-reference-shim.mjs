#!/usr/bin/env node
// Reference oracle, not part of the suite: behaves like `cardea --config <yaml>` (the YAML that
// ../cardea.mjs writes) but runs Debian's Janus 1.1.2 (`apt-get install janus`) with the same
// knobs (session_timeout, reclaim_session_timeout, api_secret, token_auth, admin_secret), the
// echotest plugin only, HTTP + WebSocket + admin listeners on free loopback ports, and prints the
// same `CARDEA_READY {json}` line. Use it to check that a test asserts what Janus really does:
//   CARDEA_BIN=$PWD/api/janus-reference-shim.mjs node --test --test-concurrency=1 api/
// Known, intended differences with Janus 1.1.2: GET /janus/ping (newer Janus only), the Admin API
// without admin_secret (Cardea answers 403, Janus answers everything), and a POST with too many
// path components (Janus drops the connection instead of answering 404).
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const cfg = readFileSync(process.argv[process.argv.indexOf('--config') + 1], 'utf8');
const general = {};
let sec = null;
for (const line of cfg.split('\n')) {
  const m0 = line.match(/^(\w+):\s*$/); if (m0) { sec = m0[1]; continue; }
  const m = line.match(/^  (\w+): (.*)$/);
  if (m && sec === 'general') general[m[1]] = JSON.parse(m[2]);
}
const freePort = () => new Promise((r) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
const [http, ws, ah, aw] = [await freePort(), await freePort(), await freePort(), await freePort()];
const dir = mkdtempSync(join(tmpdir(), 'janus-shim-'));
const g = [];
g.push(`configs_folder = "${dir}"`, 'plugins_folder = "/usr/lib/x86_64-linux-gnu/janus/plugins"',
  'transports_folder = "/usr/lib/x86_64-linux-gnu/janus/transports"', 'events_folder = "/usr/lib/x86_64-linux-gnu/janus/events"',
  'loggers_folder = "/usr/lib/x86_64-linux-gnu/janus/loggers"', `debug_level = ${general.debug_level ?? 4}`);
if (general.admin_secret) g.push(`admin_secret = "${general.admin_secret}"`);
if (general.api_secret) g.push(`api_secret = "${general.api_secret}"`);
if (general.token_auth) g.push('token_auth = true');
if (general.session_timeout !== undefined) g.push(`session_timeout = ${general.session_timeout}`);
if (general.reclaim_session_timeout !== undefined) g.push(`reclaim_session_timeout = ${general.reclaim_session_timeout}`);
const plugins = 'libjanus_audiobridge.so,libjanus_duktape.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_streaming.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_videoroom.so,libjanus_voicemail.so';
writeFileSync(join(dir, 'janus.jcfg'), `general: {\n${g.join('\n')}\n}\nmedia: {}\nnat: { ice_ignore_list = "vmnet" }\nplugins: { disable = "${plugins}" }\ntransports: { disable = "libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so" }\nloggers: { disable = "libjanus_jsonlog.so" }\nevents: {}\n`);
writeFileSync(join(dir, 'janus.transport.http.jcfg'), `general: { json = "compact" base_path = "/janus" http = true port = ${http} ip = "127.0.0.1" https = false }\nadmin: { admin_base_path = "/admin" admin_http = true admin_port = ${ah} admin_ip = "127.0.0.1" admin_https = false }\ncors: {}\n`);
writeFileSync(join(dir, 'janus.transport.websockets.jcfg'), `general: { json = "compact" ws = true ws_port = ${ws} ws_ip = "127.0.0.1" wss = false }\nadmin: { admin_ws = true admin_ws_port = ${aw} admin_ws_ip = "127.0.0.1" admin_wss = false }\n`);
writeFileSync(join(dir, 'janus.plugin.echotest.jcfg'), 'general: { events = false }\n');
const child = spawn('janus', ['-C', join(dir, 'janus.jcfg'), '-F', dir, '-o'], { stdio: ['ignore', 'pipe', 'inherit'] });
child.stdout.on('data', (d) => process.stderr.write(d));
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => child.kill('SIGTERM'));
child.on('exit', (c) => process.exit(c ?? 0));
const up = (p) => new Promise((r) => { const c = net.connect(p, '127.0.0.1', () => { c.destroy(); r(true); }); c.on('error', () => r(false)); });
for (let i = 0; i < 100; i++) {
  if (await up(http) && await up(ws) && await up(ah) && await up(aw)) {
    console.log('CARDEA_READY ' + JSON.stringify({ http: `127.0.0.1:${http}`, ws: `127.0.0.1:${ws}`, admin_http: `127.0.0.1:${ah}`, admin_ws: `127.0.0.1:${aw}` }));
    break;
  }
  await new Promise((r) => setTimeout(r, 100));
}
