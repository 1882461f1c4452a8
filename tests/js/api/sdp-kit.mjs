// SDP by hand for the janode suites, which never connect a browser: the m-sections of an
// offer, and an answer to it with made-up ICE credentials and DTLS fingerprint.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

export const hex = (n) => randomBytes(n).toString('hex');
export const fingerprint = () => [...randomBytes(32)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');

/** The m-sections of an SDP: kind, port, formats, mid, direction, and its lines. */
export function mSections(sdp) {
  const out = [];
  let cur = null;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) {
      const [kind, port, proto, ...fmts] = line.slice(2).split(' ');
      cur = { kind, port: Number(port), proto, fmts, lines: [], mid: undefined, dir: undefined };
      out.push(cur);
    } else if (cur && line) {
      cur.lines.push(line);
      if (line.startsWith('a=mid:')) cur.mid = line.slice(6);
      if (/^a=(sendrecv|sendonly|recvonly|inactive)$/.test(line)) cur.dir = line.slice(2);
    }
  }
  for (const m of out) {
    m.rtpmap = {};
    for (const l of m.lines) {
      const r = l.match(/^a=rtpmap:(\d+) ([^/]+)/);
      if (r) m.rtpmap[r[1]] = r[2];
    }
    // Codecs carried, retransmission and comfort-noise/DTMF aside.
    m.codecs = m.fmts.filter((pt) => !/^(rtx|red|ulpfec|flexfec-03|CN|telephone-event)$/i.test(m.rtpmap[pt] ?? ''));
  }
  return out;
}

/** Made-up ICE credentials and DTLS fingerprint of one (never connecting) browser. */
export const iceCreds = () => ({ ufrag: hex(4), pwd: hex(12), fp: fingerprint() });

/**
 * A subscriber's answer to Cardea's offer, by hand: same m-lines, formats and mids, recvonly,
 * rtcp-mux, made-up ICE credentials and DTLS fingerprint, setup:active.
 */
export function answerTo(offer, { ufrag, pwd, fp } = iceCreds()) {
  const ms = mSections(offer);
  const live = ms.filter((m) => m.port !== 0);
  const lines = ['v=0', `o=- ${BigInt(`0x${hex(7)}`)} 2 IN IP4 127.0.0.1`, 's=-', 't=0 0',
    `a=group:BUNDLE ${live.map((m) => m.mid).join(' ')}`, 'a=msid-semantic: WMS'];
  for (const m of ms) {
    if (m.port === 0) {
      lines.push(`m=${m.kind} 0 ${m.proto} ${m.fmts.join(' ')}`, 'c=IN IP4 0.0.0.0', `a=mid:${m.mid}`, 'a=inactive');
      continue;
    }
    lines.push(
      `m=${m.kind} 9 ${m.proto} ${m.fmts.join(' ')}`,
      'c=IN IP4 0.0.0.0',
      'a=rtcp:9 IN IP4 0.0.0.0',
      `a=ice-ufrag:${ufrag}`,
      `a=ice-pwd:${pwd}`,
      'a=ice-options:trickle',
      `a=fingerprint:sha-256 ${fp}`,
      'a=setup:active',
      `a=mid:${m.mid}`,
      m.dir === 'inactive' ? 'a=inactive' : 'a=recvonly',
      'a=rtcp-mux',
      ...m.lines.filter((l) => /^a=(rtpmap|fmtp|rtcp-fb|extmap):/.test(l)),
    );
  }
  return { type: 'answer', sdp: `${lines.join('\r\n')}\r\n` };
}

/** Every format of m-section m other than `pt` is a retransmission type for `pt` (no RED, CN, DTMF...). */
export function assertOnlyRtxBesides(m, pt, sdp) {
  for (const f of m.fmts.filter((x) => x !== String(pt))) {
    assert.equal(m.rtpmap[f], 'rtx', `only ${pt} and its rtx on the ${m.kind} m-line, not ${f}:\n${sdp}`);
    assert.ok(m.lines.includes(`a=fmtp:${f} apt=${pt}`), `the rtx ${f} goes with ${pt}:\n${sdp}`);
  }
}
