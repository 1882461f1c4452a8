// What the janode suites of one plugin share: a janode connection whose every received Janus
// message is recorded (`seen`), bounded waits on those messages, and requests sent with our
// own transactions so that the raw reply (success, event or error) can be checked exactly.
import assert from 'node:assert/strict';
import Janode from 'janode';
import { sleep, tx, assertId } from './helpers.mjs';

export class PluginSuite {
  /**
   * plugin: the package name; key: the field naming the plugin in its data ("videoroom");
   * module: janode's plugin module; prefix: of our transactions.
   */
  constructor({ plugin, key, module, prefix }) {
    Object.assign(this, { plugin, key, module, prefix });
    this.seen = [];
    this.wakers = new Set();
    this.handles = [];
    this.connection = null;
    this.session = null;
  }

  /** Connects janode to `url` over WebSocket, records what it receives, creates a session. */
  async connect(url) {
    const connection = await Janode.connect({ address: [{ url }], retry_time_secs: 1, max_retries: 0 });
    const orig = connection._handleMessage.bind(connection);
    connection._handleMessage = (msg) => {
      this.seen.push(msg);
      for (const w of [...this.wakers]) w();
      return orig(msg);
    };
    this.connection = connection;
    this.session = await connection.create();
    return connection;
  }

  /** Destroys the session and closes the connection, each within 2 s. */
  async close() {
    try { if (this.session) await Promise.race([this.session.destroy(), sleep(2000)]); } catch { /* ignore */ }
    try { if (this.connection) await Promise.race([this.connection.close(), sleep(2000)]); } catch { /* ignore */ }
  }

  /** Resolves with the first message of `seen` at index >= from that satisfies pred. */
  waitSeen(pred, { from = 0, timeout = 4000, what = 'message' } = {}) {
    const seen = this.seen;
    return new Promise((resolve, reject) => {
      let timer;
      const check = () => {
        for (let i = from; i < seen.length; i++) {
          if (pred(seen[i])) {
            clearTimeout(timer);
            this.wakers.delete(check);
            resolve(seen[i]);
            return;
          }
        }
      };
      this.wakers.add(check);
      timer = setTimeout(() => {
        this.wakers.delete(check);
        reject(new Error(`timed out waiting for ${what}; messages since: ${JSON.stringify(seen.slice(from)).slice(0, 3000)}`));
      }, timeout);
      check();
    });
  }

  /** Waits for an unsolicited event of this plugin pushed to handle h (no transaction). */
  waitEvent(h, pred, { from = 0, timeout = 4000, what = 'event' } = {}) {
    return this.waitSeen((m) => m.sender === h.id && m.janus === 'event' && m.transaction === undefined &&
      m.plugindata?.plugin === this.plugin && pred(m.plugindata.data), { from, timeout, what: `${what} on handle ${h.id}` });
  }

  /** Events of this plugin pushed to h (no transaction) since index `from`, their data only. */
  eventsOf(h, from = 0) {
    return this.seen.slice(from).filter((m) => m.sender === h.id && m.janus === 'event' && m.transaction === undefined &&
      m.plugindata?.plugin === this.plugin).map((m) => m.plugindata.data);
  }

  /** Resolves with the first emission of a janode event on h (or null after timeout). */
  janodeEvent(h, name, timeout = 3000) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { h.off(name, on); resolve(null); }, timeout);
      const on = (data) => { clearTimeout(timer); resolve(data); };
      h.once(name, on);
    });
  }

  /**
   * Attaches a janode handle of the plugin whose message() uses a transaction of ours, so the
   * raw reply can be found in `seen` (janode resolves high-level calls with its own digest).
   */
  async attach() {
    const h = await this.session.attach(this.module);
    assertId(h.id, 'handle id');
    const prefix = this.prefix;
    h.message = function message(body, jsep) {
      const t = tx(prefix);
      this.lastTx = t;
      const request = { janus: 'message', body, transaction: t };
      if (jsep) request.jsep = jsep;
      return this.sendRequest(request, 8000);
    };
    this.handles.push(h);
    return h;
  }

  /** The raw reply (success, event or error) to the last message sent on h. */
  lastReply(h) {
    const t = h.lastTx;
    return this.seen.findLast((m) => m.transaction === t && ['success', 'event', 'error'].includes(m.janus));
  }

  /** Sends a message through janode and resolves with the raw reply, whatever it is. */
  async send(h, body, jsep) {
    let thrown = null;
    try { await h.message(body, jsep); } catch (e) { thrown = e; }
    const reply = this.lastReply(h);
    if (!reply) throw thrown ?? new Error(`no reply to ${JSON.stringify(body)}`);
    return reply;
  }

  /** Checks the envelope of a reply on h carrying plugin data without an error. */
  checkOk(h, body, r, janus) {
    assert.equal(r.janus, janus, `${JSON.stringify(body)} -> ${JSON.stringify(r)}`);
    assert.equal(r.sender, h.id);
    assert.equal(r.session_id, this.session.id);
    assert.equal(r.plugindata?.plugin, this.plugin, JSON.stringify(r));
    assert.equal(r.plugindata.data.error_code, undefined, `${JSON.stringify(body)} failed: ${JSON.stringify(r)}`);
  }

  /** A synchronous request: janus "success" carrying plugindata; returns the data. */
  async syncOk(h, body) {
    const r = await this.send(h, body);
    this.checkOk(h, body, r, 'success');
    return r.plugindata.data;
  }

  /** An asynchronous request: acked, then an event with the same transaction; returns the event. */
  async asyncOk(h, body, jsep) {
    const r = await this.send(h, body, jsep);
    this.checkOk(h, body, r, 'event');
    assert.ok(this.seen.some((m) => m.janus === 'ack' && m.transaction === r.transaction), `no ack for ${JSON.stringify(body)}`);
    return r;
  }

  /**
   * Expects the plugin error `code`: {"<key>":"event","error_code":code,"error":"..."} as the
   * plugindata of a "success" (sync request) or of an "event" after an ack (async request),
   * without JSEP.
   */
  async expectError(h, body, code, { jsep, sync, error } = {}) {
    const r = await this.send(h, body, jsep);
    const what = `${JSON.stringify(body)} -> ${JSON.stringify(r)}`;
    assert.equal(r.plugindata?.plugin, this.plugin, `expected plugin error ${code}: ${what}`);
    const d = r.plugindata.data;
    assert.deepEqual(Object.keys(d).sort(), ['error', 'error_code', this.key].sort(), what);
    assert.equal(d[this.key], 'event', what);
    assert.equal(d.error_code, code, what);
    assert.equal(typeof d.error, 'string', what);
    assert.ok(d.error.length > 0, what);
    if (error !== undefined) assert.equal(d.error, error, what);
    if (sync === true) assert.equal(r.janus, 'success', `sync request answers at once: ${what}`);
    if (sync === false) {
      assert.equal(r.janus, 'event', `async request answers with an event: ${what}`);
      assert.ok(this.seen.some((m) => m.janus === 'ack' && m.transaction === r.transaction), `no ack: ${what}`);
    }
    assert.equal(r.jsep, undefined, `no JSEP with an error: ${what}`);
    assert.equal(r.transaction, h.lastTx);
    return d;
  }
}
