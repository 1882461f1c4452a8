// Cardea EchoTest demo: a small Janus-API client over HTTP long poll, no library.
// create -> attach janus.plugin.echotest -> message {audio, video} + offer -> answer by long poll.
'use strict';
(function () {
  const API = '/janus'; // same origin as this page
  const $ = (id) => document.getElementById(id);
  const state = { session: null, handle: null, pc: null, dc: null, stream: null,
    polling: false, abort: null, timers: [], last: null };

  function log(text) {
    const el = $('log');
    el.textContent += new Date().toISOString().slice(11, 23) + '  ' + text + '\n';
    el.scrollTop = el.scrollHeight;
    console.log('[echotest] ' + text);
  }
  const transaction = () => Math.random().toString(36).slice(2, 14);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // One Janus API request; resolves with the reply (success or ack), throws on error.
  async function api(path, body) {
    const res = await fetch(API + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(Object.assign({ transaction: transaction() }, body)),
    });
    if (!res.ok) throw new Error('HTTP ' + res.status + ' on ' + body.janus);
    const reply = await res.json();
    if (reply.janus === 'error') throw new Error(body.janus + ': ' + reply.error.code + ' ' + reply.error.reason);
    return reply;
  }
  const handlePath = () => '/' + state.session + '/' + state.handle;

  // Long poll: GET /janus/<session>?maxev=10 answers one event or an array of them.
  async function poll() {
    while (state.polling) {
      state.abort = new AbortController();
      try {
        const res = await fetch(API + '/' + state.session + '?maxev=10&rid=' + Date.now(),
          { cache: 'no-store', signal: state.abort.signal });
        if (res.status === 404) { log('session is gone'); stop(false); return; }
        if (!res.ok) throw new Error('HTTP ' + res.status);
        const body = await res.json();
        for (const ev of Array.isArray(body) ? body : [body]) await onEvent(ev);
      } catch (e) {
        if (!state.polling) return;
        log('long poll failed: ' + e.message);
        await sleep(1000);
      }
    }
  }

  async function onEvent(ev) {
    switch (ev.janus) {
      case 'keepalive': return;
      case 'event': {
        const data = (ev.plugindata && ev.plugindata.data) || {};
        if (data.error) log('plugin error ' + data.error_code + ': ' + data.error);
        else log('event ' + JSON.stringify(data));
        if (ev.jsep && state.pc) {
          try {
            await state.pc.setRemoteDescription(ev.jsep);
            log('answer applied');
          } catch (e) { log('answer rejected: ' + e.message); }
        }
        return;
      }
      case 'webrtcup': log('WebRTC is up'); return;
      case 'media': log('server ' + (ev.receiving ? 'receives' : 'stopped receiving') + ' ' + ev.type + ' (mid ' + ev.mid + ')'); return;
      case 'slowlink': log('slow link: ' + ev.media + ' ' + (ev.uplink ? 'uplink' : 'downlink') + ', lost ' + ev.lost); return;
      case 'hangup': log('hangup: ' + ev.reason); return;
      case 'detached': log('handle detached'); return;
      case 'timeout': log('session timed out'); stop(false); return;
      default: log('unhandled ' + JSON.stringify(ev));
    }
  }

  function iceDone(pc, ms) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
      });
    });
  }

  async function start() {
    $('start').disabled = true;
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      $('local').srcObject = state.stream;
      state.session = (await api('', { janus: 'create' })).data.id;
      log('session ' + state.session);
      state.polling = true;
      poll();
      state.timers.push(setInterval(() => {
        api('/' + state.session, { janus: 'keepalive' }).catch((e) => log('keepalive failed: ' + e.message));
      }, 25000));
      state.handle = (await api('/' + state.session, { janus: 'attach', plugin: 'janus.plugin.echotest' })).data.id;
      log('handle ' + state.handle);

      const pc = state.pc = new RTCPeerConnection({ iceServers: [] });
      for (const track of state.stream.getTracks()) pc.addTrack(track, state.stream);
      const remoteTracks = [];
      pc.ontrack = (e) => {
        remoteTracks.push(e.track);
        $('remote').srcObject = new MediaStream(remoteTracks);
      };
      pc.onconnectionstatechange = () => log('peer connection ' + pc.connectionState);
      const dc = state.dc = pc.createDataChannel('JanusDataChannel');
      dc.onopen = () => { log('data channel open'); $('text').disabled = $('send').disabled = false; };
      dc.onmessage = (e) => {
        const line = document.createElement('div');
        line.textContent = '\u2190 ' + e.data;
        $('data').appendChild(line);
      };

      await pc.setLocalDescription(await pc.createOffer());
      await iceDone(pc, 3000); // candidates go in the SDP: no trickle needed
      const offer = pc.localDescription;
      await api(handlePath(), { janus: 'message', body: { audio: true, video: true },
        jsep: { type: offer.type, sdp: offer.sdp, trickle: false } });
      log('offer sent');
      $('stop').disabled = $('bitrate').disabled = false;
      state.timers.push(setInterval(showStats, 1000));
    } catch (e) {
      log('error: ' + e.message);
      stop(true);
    }
  }

  async function setBitrate() {
    const bitrate = parseInt($('bitrate').value, 10);
    try {
      await api(handlePath(), { janus: 'message', body: { bitrate: bitrate } });
      log('bitrate cap ' + (bitrate ? bitrate / 1000 + ' kbit/s' : 'removed'));
    } catch (e) { log('bitrate: ' + e.message); }
  }

  function sendText() {
    const text = $('text').value;
    if (!text || !state.dc || state.dc.readyState !== 'open') return;
    state.dc.send(text);
    const line = document.createElement('div');
    line.textContent = '\u2192 ' + text;
    $('data').appendChild(line);
    $('text').value = '';
  }

  // Sent and received video bitrate, from byte counters one second apart.
  async function showStats() {
    if (!state.pc) return;
    const now = { t: performance.now(), out: 0, in: 0, w: 0, h: 0 };
    (await state.pc.getStats()).forEach((s) => {
      if (s.kind !== 'video') return;
      if (s.type === 'outbound-rtp') now.out += s.bytesSent || 0;
      if (s.type === 'inbound-rtp') { now.in += s.bytesReceived || 0; now.w = s.frameWidth || 0; now.h = s.frameHeight || 0; }
    });
    const last = state.last;
    state.last = now;
    if (!last) return;
    const kbps = (bytes) => Math.round(bytes * 8 / (now.t - last.t));
    $('stats').textContent = 'video out ' + kbps(now.out - last.out) + ' kbit/s, back ' +
      kbps(now.in - last.in) + ' kbit/s' + (now.w ? ', ' + now.w + '\u00d7' + now.h : '');
  }

  function stop(destroy) {
    if (destroy !== false && state.session) {
      api('/' + state.session, { janus: 'destroy' }).catch(() => {});
    }
    state.polling = false;
    if (state.abort) state.abort.abort();
    state.timers.forEach(clearInterval);
    state.timers = [];
    if (state.pc) state.pc.close();
    if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
    Object.assign(state, { session: null, handle: null, pc: null, dc: null, stream: null, last: null });
    $('start').disabled = false;
    $('stop').disabled = $('bitrate').disabled = $('text').disabled = $('send').disabled = true;
  }

  $('start').onclick = start;
  $('stop').onclick = () => { stop(true); log('stopped'); };
  $('bitrate').onchange = setBitrate;
  $('send').onclick = sendText;
  $('text').onkeydown = (e) => { if (e.key === 'Enter') sendText(); };
  window.addEventListener('pagehide', () => {
    if (state.session) {
      fetch(API + '/' + state.session, { method: 'POST', keepalive: true,
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ janus: 'destroy', transaction: transaction() }) });
    }
  });
})();
