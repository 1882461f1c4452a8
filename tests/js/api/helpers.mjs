// Shared helpers for the Janus-API conformance tests: a raw Janus WebSocket client that records
// every message, small HTTP helpers, and assertions on the Janus envelope.
// Every wait is bounded; nothing here retries forever.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { startCardea } from '../cardea.mjs';

export { WebSocket };

export const ECHOTEST = 'janus.plugin.echotest';
export const API_PROTOCOL = 'janus-protocol';
export const ADMIN_PROTOCOL = 'janus-admin-protocol';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let txCounter = 0;
/** A fresh transaction string. */
export const tx = (prefix = 't') => `${prefix}-${process.pid}-${++txCounter}-${randomBytes(3).toString('hex')}`;

/** A random id that is a valid Janus id (positive, < 2^53) and very unlikely to exist. */
export const randomId = () => 1 + Math.floor(Math.random() * (Number.MAX_SAFE_INTEGER - 1));

/** Janus session/handle ids: integers, non-zero, JS-safe (< 2^53). */
export function assertId(id, what = 'id') {
  assert.equal(typeof id, 'number', `${what} must be a JSON number, got ${JSON.stringify(id)}`);
  assert.ok(Number.isSafeInteger(id), `${what} must be an integer < 2^53, got ${id}`);
  assert.ok(id > 0, `${what} must be positive and non-zero, got ${id}`);
}

/** Asserts a Janus error reply with one of the given codes (number or array of numbers). */
export function assertError(reply, codes, { transaction, session_id } = {}) {
  const allowed = Array.isArray(codes) ? codes : [codes];
  assert.ok(reply && typeof reply === 'object', `expected a JSON object, got ${JSON.stringify(reply)}`);
  assert.equal(reply.janus, 'error', `expected janus:"error" with code ${allowed.join('|')}, got ${JSON.stringify(reply)}`);
  assert.ok(reply.error && typeof reply.error === 'object', `error object missing: ${JSON.stringify(reply)}`);
  assert.ok(allowed.includes(reply.error.code),
    `expected error code ${allowed.join('|')}, got ${reply.error.code} (${JSON.stringify(reply)})`);
  assert.equal(typeof reply.error.reason, 'string', `error.reason must be a string: ${JSON.stringify(reply)}`);
  if (transaction !== undefined) assert.equal(reply.transaction, transaction, `transaction not echoed: ${JSON.stringify(reply)}`);
  if (session_id !== undefined) assert.equal(reply.session_id, session_id, `session_id not echoed: ${JSON.stringify(reply)}`);
  return reply;
}

export function assertJanus(reply, janus, { transaction, session_id } = {}) {
  assert.ok(reply && typeof reply === 'object', `expected a JSON object, got ${JSON.stringify(reply)}`);
  assert.equal(reply.janus, janus, `expected janus:"${janus}", got ${JSON.stringify(reply)}`);
  if (transaction !== undefined) assert.equal(reply.transaction, transaction, `transaction not echoed: ${JSON.stringify(reply)}`);
  if (session_id !== undefined) assert.equal(reply.session_id, session_id, `session_id wrong: ${JSON.stringify(reply)}`);
  return reply;
}

// ---------------------------------------------------------------------------------------------
// Cardea lifecycle

/** startCardea, bounded; the stop is bounded too (SIGKILL after 5 s). */
export async function launch(opts = {}) {
  const c = await startCardea(opts);
  return c;
}

export async function shutdown(c) {
  if (!c) return;
  const killer = setTimeout(() => { try { c.child.kill('SIGKILL'); } catch { /* gone */ } }, 5000);
  try {
    await Promise.race([c.stop(), sleep(6000)]);
  } finally {
    clearTimeout(killer);
  }
}

export function alive(c) {
  return c && c.child && c.child.exitCode === null && c.child.signalCode === null;
}

// ---------------------------------------------------------------------------------------------
// Raw WebSocket client

const openSockets = new Set();

/** Closes every socket opened through JanusWs in this process (call in after()). */
export function closeAllSockets() {
  for (const s of openSockets) { try { s.terminate(); } catch { /* ignore */ } }
  openSockets.clear();
}

export class JanusWs {
  /**
   * Opens a WebSocket with the given subprotocol(s) (default janus-protocol); rejects on a refused
   * handshake or after `timeout` ms.
   */
  static open(url, { protocol = API_PROTOCOL, timeout = 5000 } = {}) {
    return new Promise((resolve, reject) => {
      const ws = protocol === null ? new WebSocket(url, { handshakeTimeout: timeout })
        : new WebSocket(url, protocol, { handshakeTimeout: timeout });
      openSockets.add(ws);
      const client = new JanusWs(ws);
      const timer = setTimeout(() => { ws.terminate(); reject(new Error(`WebSocket open timed out: ${url}`)); }, timeout + 500);
      ws.once('open', () => { clearTimeout(timer); resolve(client); });
      ws.once('error', (e) => { clearTimeout(timer); reject(e); });
      ws.once('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        const err = new Error(`handshake refused with HTTP ${res.statusCode}`);
        err.statusCode = res.statusCode;
        res.resume();
        ws.terminate();
        reject(err);
      });
    });
  }

  constructor(ws) {
    this.ws = ws;
    this.messages = [];
    this.waiters = [];
    this.closed = null; // {code, reason} once closed
    ws.on('message', (data, isBinary) => {
      let msg;
      try { msg = JSON.parse(data.toString()); } catch { msg = { __unparsable: data.toString(), __binary: isBinary }; }
      this.messages.push(msg);
      this._wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      openSockets.delete(ws);
      this._wake();
    });
    ws.on('error', () => { /* surfaced through close */ });
  }

  get protocol() { return this.ws.protocol; }

  _wake() {
    for (const w of [...this.waiters]) w();
  }

  /** Sends an object (JSON-encoded), a string, or a Buffer (as a text frame unless binary). */
  send(payload, { binary = false } = {}) {
    if (typeof payload === 'string' || Buffer.isBuffer(payload)) this.ws.send(payload, { binary });
    else this.ws.send(JSON.stringify(payload));
  }

  /**
   * Resolves with the first message at index >= from that satisfies pred; rejects after timeout
   * or when the socket closes before a match (unless allowClose, then resolves null).
   */
  waitFor(pred, { timeout = 5000, from = 0, what = 'message', allowClose = false } = {}) {
    return new Promise((resolve, reject) => {
      let timer;
      const check = () => {
        for (let i = from; i < this.messages.length; i++) {
          if (pred(this.messages[i])) { done(); resolve(this.messages[i]); return true; }
        }
        if (this.closed) {
          done();
          if (allowClose) resolve(null);
          else reject(new Error(`socket closed (${this.closed.code} ${this.closed.reason}) while waiting for ${what}; got ${JSON.stringify(this.messages.slice(from))}`));
          return true;
        }
        return false;
      };
      const done = () => { clearTimeout(timer); this.waiters = this.waiters.filter((w) => w !== check); };
      if (check()) return;
      this.waiters.push(check);
      timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeout} ms waiting for ${what}; got since: ${JSON.stringify(this.messages.slice(from)).slice(0, 2000)}`));
      }, timeout);
    });
  }

  /** Resolves with the next message after the current position (or null if the socket closes). */
  next({ timeout = 5000, what = 'next message' } = {}) {
    return this.waitFor(() => true, { timeout, from: this.messages.length, what, allowClose: true });
  }

  /** Waits until the socket is closed (resolves {code, reason}) or timeout (resolves null). */
  waitClose(timeout = 5000) {
    return new Promise((resolve) => {
      if (this.closed) return resolve(this.closed);
      const timer = setTimeout(() => { this.waiters = this.waiters.filter((w) => w !== check); resolve(null); }, timeout);
      const check = () => {
        if (!this.closed) return false;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve(this.closed);
        return true;
      };
      this.waiters.push(check);
    });
  }

  /**
   * Sends a request and resolves with the first direct reply (success, error, ack, server_info, pong)
   * carrying the same transaction. A transaction is added unless the request has a
   * 'transaction' key already (set it to undefined to send none — then the reply is the next error).
   */
  async request(req, { timeout = 5000 } = {}) {
    const body = { ...req };
    if (!('transaction' in req)) body.transaction = tx();
    const from = this.messages.length;
    this.send(body);
    if (body.transaction === undefined || typeof body.transaction !== 'string') {
      // No usable transaction to match on: the reply is the next error/answer.
      return this.waitFor((m) => ['error', 'success', 'ack', 'server_info', 'pong'].includes(m.janus),
        { timeout, from, what: `reply to ${JSON.stringify(body).slice(0, 200)}` });
    }
    // Janus answers envelope errors (missing/ill-typed janus, transaction, id) without echoing the
    // transaction: such an error, arriving after the send, is the reply too.
    return this.waitFor((m) => (m.transaction === body.transaction &&
      ['success', 'error', 'ack', 'server_info', 'pong'].includes(m.janus)) ||
      (m.janus === 'error' && m.transaction === undefined),
    { timeout, from, what: `reply to ${JSON.stringify(body).slice(0, 200)}` });
  }

  /** Sends a raw string/Buffer and resolves with the next message (or null if the socket closed). */
  async rawRequest(payload, { timeout = 5000, binary = false } = {}) {
    const from = this.messages.length;
    this.send(payload, { binary });
    return this.waitFor(() => true, { timeout, from, what: 'reply to raw payload', allowClose: true });
  }

  close() {
    try { this.ws.close(); } catch { /* ignore */ }
  }

  terminate() {
    try { this.ws.terminate(); } catch { /* ignore */ }
  }

  // ----- Janus conveniences (each asserts success) -----

  async createSession(extra = {}) {
    const t = tx();
    const r = await this.request({ janus: 'create', transaction: t, ...extra });
    assertJanus(r, 'success', { transaction: t });
    assertId(r.data?.id, 'session id');
    return r.data.id;
  }

  async attach(session_id, plugin = ECHOTEST, extra = {}) {
    const t = tx();
    const r = await this.request({ janus: 'attach', session_id, plugin, transaction: t, ...extra });
    assertJanus(r, 'success', { transaction: t, session_id });
    assertId(r.data?.id, 'handle id');
    return r.data.id;
  }

  /** Sends an async plugin message and resolves {ack, event} (either order on the wire). */
  async pluginMessage(session_id, handle_id, body, { jsep, timeout = 5000, extra = {} } = {}) {
    const t = tx();
    const from = this.messages.length;
    const req = { janus: 'message', session_id, handle_id, transaction: t, body, ...extra };
    if (jsep !== undefined) req.jsep = jsep;
    this.send(req);
    const first = await this.waitFor((m) => m.transaction === t && ['ack', 'success', 'error'].includes(m.janus),
      { timeout, from, what: `ack to message ${t}` });
    if (first.janus !== 'ack') return { ack: first, event: null, transaction: t };
    const event = await this.waitFor((m) => m.transaction === t && m.janus === 'event',
      { timeout, from, what: `event for message ${t}` });
    return { ack: first, event, transaction: t };
  }
}

/** Opens a socket and expects the handshake to be refused (or the socket to be closed at once). */
export async function expectHandshakeRefused(url, protocol, timeout = 4000) {
  let client;
  try {
    client = await JanusWs.open(url, { protocol, timeout });
  } catch (e) {
    return { refused: true, error: e.message };
  }
  // The handshake went through: accept only an immediate close, and no usable API.
  const closed = await client.waitClose(2000);
  if (closed) return { refused: true, error: `closed ${closed.code}` };
  const reply = await client.rawRequest(JSON.stringify({ janus: 'ping', transaction: 'refuse-check' }), { timeout: 1500 })
    .catch(() => null);
  client.terminate();
  return { refused: false, protocol: client.protocol, reply };
}

// ---------------------------------------------------------------------------------------------
// HTTP

/**
 * fetch with a bound. body: object (JSON-encoded), string or Buffer sent verbatim.
 * Resolves {status, headers, text, json} (json undefined when the body is not JSON).
 */
export async function http(url, { method = 'POST', body, headers = {}, timeout = 5000, signal } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    if (typeof body === 'string' || Buffer.isBuffer(body)) init.body = body;
    else { init.body = JSON.stringify(body); init.headers['content-type'] ??= 'application/json'; }
  }
  init.signal = signal ?? AbortSignal.timeout(timeout);
  const res = await fetch(url, init);
  const text = await res.text();
  let json;
  try { json = text.length ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

/** POST a Janus request over HTTP, adding a transaction unless the request has the key. */
export async function httpRequest(url, req, opts = {}) {
  const body = { ...req };
  if (!('transaction' in req)) body.transaction = tx();
  const r = await http(url, { ...opts, body });
  return { ...r, transaction: body.transaction };
}

export async function httpCreate(base, extra = {}) {
  const r = await httpRequest(base, { janus: 'create', ...extra });
  assert.equal(r.status, 200);
  assertJanus(r.json, 'success', { transaction: r.transaction });
  assertId(r.json.data?.id, 'session id');
  return r.json.data.id;
}

export async function httpAttach(base, session_id, plugin = ECHOTEST, extra = {}) {
  const r = await httpRequest(`${base}/${session_id}`, { janus: 'attach', plugin, ...extra });
  assert.equal(r.status, 200);
  assertJanus(r.json, 'success', { transaction: r.transaction, session_id });
  assertId(r.json.data?.id, 'handle id');
  return r.json.data.id;
}

// ---------------------------------------------------------------------------------------------
// Admin API over HTTP

export async function admin(c, path, req, { secret, timeout = 5000 } = {}) {
  const body = { ...req };
  if (!('transaction' in req)) body.transaction = tx('adm');
  if (secret !== undefined) body.admin_secret = secret;
  const r = await http(`${c.adminHttp}${path}`, { body, timeout });
  assert.equal(r.status, 200, `admin ${JSON.stringify(body)} -> HTTP ${r.status} ${r.text}`);
  assert.ok(r.json, `admin answer is not JSON: ${r.text}`);
  return r.json;
}

export async function listSessions(c, secret) {
  const r = await admin(c, '', { janus: 'list_sessions' }, { secret });
  assertJanus(r, 'success');
  assert.ok(Array.isArray(r.sessions), `list_sessions: sessions must be an array: ${JSON.stringify(r)}`);
  return r.sessions;
}

/** Polls until cond() is true or timeout; returns the last value of cond(). */
export async function eventually(cond, { timeout = 3000, interval = 100 } = {}) {
  const end = Date.now() + timeout;
  let v;
  for (;;) {
    v = await cond();
    if (v || Date.now() > end) return v;
    await sleep(interval);
  }
}
