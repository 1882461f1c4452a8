// Starts the real `cardea` binary for a test and tells where it listens.
// The binary comes from CARDEA_BIN (scripts/test sets it). Every listener is bound to
// 127.0.0.1 port 0; cardea prints one line `CARDEA_READY {json}` on stdout once all are up.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export function cardeaBin() {
  const bin = process.env.CARDEA_BIN;
  if (!bin) throw new Error('CARDEA_BIN is not set: run the tests through scripts/test');
  return bin;
}

// `general` is merged into the general section; `extraYaml` is appended verbatim.
// `config`: start with this configuration file as it is (a restart of an earlier start:
// its `config`). `noConfig`: start with no configuration file at all (built-in defaults,
// free ports through environment overrides).
export async function startCardea({ general = {}, extraYaml = '', args = [], config: reuse, noConfig = false } = {}) {
  let config = reuse;
  if (!config && !noConfig) {
    const dir = mkdtempSync(join(tmpdir(), 'cardea-test-'));
    const generalLines = Object.entries({ debug_level: 4, ...general })
      .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`).join('\n');
    const yaml = `general:\n${generalLines}\n` +
      `http:\n  bind: 127.0.0.1\n  port: 0\n` +
      `websocket:\n  bind: 127.0.0.1\n  port: 0\n` +
      `admin:\n  bind: 127.0.0.1\n  http_port: 0\n  ws_port: 0\n` +
      `media:\n  bind: 127.0.0.1\n  port: 0\n` + extraYaml;
    config = join(dir, 'cardea.yaml');
    writeFileSync(config, yaml);
  }
  // Tests run side by side: the SIP endpoint takes free ports, not 5060.
  const env = { ...process.env, CARDEA_SIP_UDP_PORT: '0', CARDEA_SIP_TCP_PORT: '0' };
  if (noConfig) {
    Object.assign(env, {
      CARDEA_HTTP_PORT: '0', CARDEA_WEBSOCKET_PORT: '0', CARDEA_ADMIN_HTTP_PORT: '0',
      CARDEA_ADMIN_WS_PORT: '0', CARDEA_MEDIA_PORT: '0',
    });
  }
  const configArgs = config ? ['--config', config] : [];
  const child = spawn(cardeaBin(), [...configArgs, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const logs = [];
  child.stderr.on('data', (d) => { logs.push(d.toString()); if (process.env.CARDEA_LOG) process.stderr.write(d); });
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('cardea did not get ready in 20 s:\n' + logs.join(''))), 20000);
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      if (line.startsWith('CARDEA_READY ')) { clearTimeout(timer); resolve(JSON.parse(line.slice(13))); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`cardea exited with ${code}:\n` + logs.join(''))); });
  });
  const stop = async () => {
    if (child.exitCode !== null) return child.exitCode;
    child.kill('SIGTERM');
    return await new Promise((r) => child.on('exit', (c, s) => r(c ?? s)));
  };
  return {
    child, config, logs, stop,
    http: `http://${ready.http}/janus`,
    ws: `ws://${ready.ws}`,
    adminHttp: `http://${ready.admin_http}/admin`,
    adminWs: `ws://${ready.admin_ws}`,
    base: `http://${ready.http}`,
    ready,
  };
}
