// What the `permanent` tests of the VideoRoom, AudioBridge and Streaming suites share: a
// Cardea of their own (it is restarted, so it cannot be the suite's), a janode session on it,
// and where its state files of permanent objects are.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PluginSuite } from './janode-plugin.mjs';
import { launch, shutdown } from './helpers.mjs';

/**
 * Starts Cardea with `opts` (see startCardea: `config` restarts one with the same file,
 * `noConfig` runs without any), connects a fresh PluginSuite of `suiteOpts`, attaches one
 * handle and runs `fn(suite, handle, cardea)`; then closes and stops it whatever happens.
 * Returns the cardea (its `config` restarts it).
 */
export async function withOwnCardea(opts, suiteOpts, fn) {
  const cardea = await launch(opts);
  const suite = new PluginSuite(suiteOpts);
  try {
    await suite.connect(cardea.ws);
    const h = await suite.attach();
    await fn(suite, h, cardea);
  } finally {
    await suite.close();
    await shutdown(cardea);
  }
  return cardea;
}

/** The text of plugin `key`'s state file beside the configuration file ('' if none yet). */
export function stateFile(cardea, key) {
  const path = join(dirname(cardea.config), `${key}.permanent.yaml`);
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}
