//! AudioBridge (`janus.plugin.audiobridge`) against WebRTC peers that share no code with the
//! server: webrtc-rs (the `webrtc` crate) stands in for the browsers, negotiating over the
//! Janus HTTP API as janus.js does (`join`, then `configure` with an audio-only offer,
//! non-trickle), and libopus (the `opus` crate) encodes what they send and decodes what they
//! hear.
//!
//! Each peer sends its own pure tone (440 Hz, 1000 Hz, 2500 Hz) as 20 ms opus packets. The
//! mixer must send every participant the mix of the OTHER unmuted participants (Janus's "mix
//! minus self"), so a peer must hear the other tones and not its own: a Goertzel filter over
//! about a second of what it decoded, after a warm-up, measures each tone. Muting (the `mute`
//! request or `configure` with `muted`) takes a tone out of the others' mixes, `leave` takes
//! the leaver out and tells the others `leaving`, and a participant sending undecodable or
//! truncated opus stops nobody's mix.
//!
//! What is expected is Janus 1.x's AudioBridge (janus_audiobridge.c) and Cardea's AudioBridge
//! contract: every participant gets one packet every 20 ms on its audio m-line, in its codec
//! and payload type, with continuous sequence numbers and timestamps.

#[path = "common/audio.rs"]
mod audio;
mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use audio::{
    decode_ulaw_window, decode_window, rms_dbfs, tone_levels_at, ToneEncoder, UlawToneEncoder,
    FRAME, G711_FRAME, G711_RATE, PTIME,
};
use cardea_tests::Cardea;
use common::janus::Handle;
use common::peer::{
    apply_answer, local_offer, local_track, opus, pcmu, peer_connection, rtp, wait_connected, Got,
    PeerOptions, PeerState, OPUS_PT, PCMU_PT,
};
use common::sdp::m_lines;
use common::STEP;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde_json::{json, Value};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, Instant};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::PeerConnection;

const PLUGIN: &str = "janus.plugin.audiobridge";
/// The three tones, one per peer.
const TONES: [f64; 3] = [440.0, 1000.0, 2500.0];
/// What every peer sends and receives before its mix is measured: the mixer's jitter buffer
/// fills and the decoders settle.
const WARM_UP: Duration = Duration::from_millis(1500);
/// The window a mix is measured over.
const WINDOW: Duration = Duration::from_secs(1);
/// After a mute, unmute or leave: how long before the change must be heard.
const SETTLE: Duration = Duration::from_millis(600);
/// A tone another participant sends is heard at least this loud (it is sent at −12 dBFS).
const PRESENT_DBFS: f64 = -30.0;
/// A tone that must not be in a mix is at least this far below the weakest tone that is.
const ABSENT_BELOW_DB: f64 = 20.0;
/// Packets one peer must receive in [`WINDOW`] (one every 20 ms: 50).
const MIN_PACKETS: usize = 40;
const MAX_PACKETS: usize = 60;
/// The room secret of the rooms the tests create.
const SECRET: &str = "ab-test-secret";

// ---- the tests -------------------------------------------------------------------------

/// Three peers in a 48 kHz room each hear the two other tones and not their own; `mute` of
/// one (with the room secret) takes its tone out of the others' mixes and tells everyone
/// (`participants` with `muted: true`), `unmute` brings it back; `leave` tells the others
/// `leaving` and takes the leaver's tone out of their mixes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audiobridge_three_peers_hear_the_others_minus_themselves_48k() {
    timeout(Duration::from_secs(45), mix_mute_leave(48_000))
        .await
        .expect("the 48 kHz mix exchange did not finish within 45 s");
}

/// The same mix in a 16 kHz room (Janus's default rate); muting by `configure` with
/// `muted: true` takes the tone out of the others' mixes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audiobridge_three_peers_mix_16k_and_configure_muted() {
    timeout(Duration::from_secs(45), mix_configure_muted(16_000))
        .await
        .expect("the 16 kHz mix exchange did not finish within 45 s");
}

/// A participant sending garbage as opus (empty, truncated, random bytes, impossible frame
/// counts, huge packets), with sequence numbers and timestamps jumping about, and a stranger
/// sending junk datagrams to the media socket, stop nobody's mix: the two well-behaved peers
/// go on hearing each other every 20 ms, the garbage sender goes on hearing both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audiobridge_garbage_from_one_participant_does_not_stop_the_mix() {
    timeout(Duration::from_secs(45), garbage_does_not_stop_the_mix())
        .await
        .expect("the garbage exchange did not finish within 45 s");
}

/// A G.711 µ-law participant (`codec: "pcmu"`) in a 16 kHz room with two opus ones: the
/// opus peers hear its tone (resampled from 8 kHz), it hears theirs (resampled to 8 kHz, in
/// 160-byte PCMU packets every 20 ms), nobody hears themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audiobridge_pcmu_participant_mixes_with_opus_ones() {
    timeout(Duration::from_secs(45), pcmu_with_opus())
        .await
        .expect("the PCMU exchange did not finish within 45 s");
}

/// `rtp_forward` sends the room's whole mix (both tones) as plain PCMU RTP to a UDP
/// socket, 50 packets a second with continuous numbering, and `stop_rtp_forward` stops it;
/// `enable_recording` writes the whole mix into a WAV file at the room's rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audiobridge_rtp_forward_and_recording_carry_the_whole_mix() {
    let cardea = Cardea::start("");
    let mut admin = Handle::attach(&cardea, PLUGIN).await;
    let room = create_room(&mut admin, 1702, Some(16_000)).await;
    let peers = vec![
        Peer::join(&cardea, room, "tone-0", Some(0)).await,
        Peer::join(&cardea, room, "tone-1", Some(1)).await,
    ];
    wait_all_setup(&admin, room, &peers).await;
    let sink = UdpSocket::bind("127.0.0.1:0").await.expect("bind the sink");
    let port = sink.local_addr().unwrap().port();
    let reply = admin
        .sync_request(json!({
            "request": "rtp_forward", "room": room, "secret": SECRET, "host": "127.0.0.1",
            "port": port, "codec": "pcmu", "ptype": 0, "ssrc": 4242,
        }))
        .await;
    let data = sync_data(&reply, "rtp_forward");
    let stream = data["stream_id"].as_u64().expect("stream_id");
    assert_eq!(data["port"], port, "{reply}");
    let listed = admin
        .sync_request(json!({"request": "listforwarders", "room": room, "secret": SECRET}))
        .await;
    let list = &sync_data(&listed, "listforwarders")["rtp_forwarders"];
    assert_eq!(list[0]["stream_id"], stream, "{listed}");
    assert_eq!(list[0]["codec"], "pcmu", "{listed}");

    sleep(WARM_UP).await;
    let mut buf = [0u8; 1500];
    while let Ok(Ok(_)) = timeout(Duration::from_millis(1), sink.recv_from(&mut buf)).await {}
    let end = Instant::now() + WINDOW;
    let mut samples = Vec::new();
    let mut seqs = Vec::new();
    while let Ok(Ok((n, _))) = timeout(end - Instant::now(), sink.recv_from(&mut buf)).await {
        assert!(n == 12 + G711_FRAME, "a forwarded packet of {n} bytes");
        assert_eq!(buf[1] & 0x7f, 0, "payload type");
        assert_eq!(
            u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            4242,
            "ssrc"
        );
        seqs.push(u16::from_be_bytes([buf[2], buf[3]]));
        samples.extend(
            buf[12..n]
                .iter()
                .map(|&b| f32::from(audio::ulaw_decode(b)) / 32768.0),
        );
        if Instant::now() >= end {
            break;
        }
    }
    assert!(
        (MIN_PACKETS..=MAX_PACKETS).contains(&seqs.len()),
        "{} forwarded packets in a second",
        seqs.len()
    );
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "seq {seqs:?}"
    );
    let levels = tone_levels_at(&samples, G711_RATE, &TONES[..2]);
    for (tone, level) in TONES.iter().zip(&levels) {
        assert!(
            *level > PRESENT_DBFS,
            "{tone} Hz in the forwarded mix at {level:.1} dBFS"
        );
    }

    let stopped = admin
        .sync_request(json!({
            "request": "stop_rtp_forward", "room": room, "secret": SECRET, "stream_id": stream,
        }))
        .await;
    sync_data(&stopped, "stop_rtp_forward");
    sleep(Duration::from_millis(200)).await;
    while let Ok(Ok(_)) = timeout(Duration::from_millis(1), sink.recv_from(&mut buf)).await {}
    let late = timeout(Duration::from_millis(300), sink.recv_from(&mut buf)).await;
    assert!(
        late.is_err(),
        "packets still forwarded after stop_rtp_forward"
    );
    for mut p in peers {
        p.assert_no_errors();
        p.close().await;
    }
    assert_alive(cardea);
}

/// `rtp_forward` with `srtp_suite` and `srtp_crypto` sends the mix as SRTP that ffmpeg,
/// given the same key in its SDP (`a=crypto`), decrypts and decodes: both tones are in
/// what it writes; `listforwarders` says `srtp: true`; a key that is not base64 of a key
/// and salt, or a suite without a key, is refused with Janus's codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audiobridge_srtp_forward_is_decrypted_by_ffmpeg() {
    let cardea = Cardea::start("");
    let mut admin = Handle::attach(&cardea, PLUGIN).await;
    let room = create_room(&mut admin, 1703, Some(16_000)).await;
    let peers = vec![
        Peer::join(&cardea, room, "tone-0", Some(0)).await,
        Peer::join(&cardea, room, "tone-1", Some(1)).await,
    ];
    wait_all_setup(&admin, room, &peers).await;
    let forward = |extra: Value| {
        let mut body = json!({
            "request": "rtp_forward", "room": room, "secret": SECRET, "host": "127.0.0.1",
            "port": 9, "codec": "pcmu", "ptype": 0,
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    for (extra, code) in [
        (json!({"srtp_suite": 80}), 483),
        (json!({"srtp_suite": 80, "srtp_crypto": "c2hvcnQ="}), 484),
        (json!({"srtp_suite": 64, "srtp_crypto": FORWARD_KEY}), 484),
    ] {
        let reply = admin.sync_request(forward(extra.clone())).await;
        let data = &reply["plugindata"]["data"];
        assert_eq!(data["error_code"], code, "{extra}: {reply}");
    }

    // A port pair for ffmpeg (RTP and RTCP), free when we looked.
    let port = (20_000u16..30_000)
        .step_by(2)
        .find(|p| {
            std::net::UdpSocket::bind(("127.0.0.1", *p)).is_ok()
                && std::net::UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
        })
        .expect("a free port pair");
    let dir = scratch_dir("srtp-forward");
    let sdp = dir.join("forward.sdp");
    std::fs::write(
        &sdp,
        format!(
            "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=mix\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
             a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{FORWARD_KEY}\r\n"
        ),
    )
    .unwrap();
    let wav = dir.join("forward.wav");
    let mut ffmpeg = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-protocol_whitelist", "file,udp,rtp,srtp,crypto"])
        .arg("-i")
        .arg(&sdp)
        .args(["-t", "3", "-ac", "1", "-ar", "8000"])
        .arg(&wav)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ffmpeg (Debian package ffmpeg) runs");
    sleep(Duration::from_millis(500)).await;
    let reply = admin
        .sync_request(forward(json!({
            "port": port, "ssrc": 4343, "srtp_suite": 80, "srtp_crypto": FORWARD_KEY,
        })))
        .await;
    sync_data(&reply, "rtp_forward");
    let listed = admin
        .sync_request(json!({"request": "listforwarders", "room": room, "secret": SECRET}))
        .await;
    let list = &sync_data(&listed, "listforwarders")["rtp_forwarders"];
    assert_eq!(list[0]["srtp"], true, "{listed}");

    let end = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = ffmpeg.try_wait().expect("ffmpeg's status") {
            break status;
        }
        if Instant::now() > end {
            let _ = ffmpeg.kill();
            panic!("ffmpeg wrote no 3 s of the SRTP mix within 15 s");
        }
        sleep(Duration::from_millis(100)).await;
    };
    let mut errors = String::new();
    if let Some(mut e) = ffmpeg.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut errors).ok();
    }
    assert!(status.success(), "ffmpeg failed: {errors}");
    let (rate, pcm) = cardea_tests::baresip::read_wav(&wav).expect("ffmpeg's WAV");
    assert_eq!(rate, 8000);
    assert!(pcm.len() >= 8000 * 2, "{} samples", pcm.len());
    // The last two seconds (the start may hold the first packets' silence).
    let samples: Vec<f32> = pcm[pcm.len() - 16_000..]
        .iter()
        .map(|&s| f32::from(s) / 32768.0)
        .collect();
    let levels = tone_levels_at(&samples, 8000, &TONES[..2]);
    for (tone, level) in TONES.iter().zip(&levels) {
        assert!(
            *level > PRESENT_DBFS,
            "{tone} Hz in the mix ffmpeg decrypted at {level:.1} dBFS"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    for mut p in peers {
        p.assert_no_errors();
        p.close().await;
    }
    assert_alive(cardea);
}

/// An SRTP master key and salt (30 bytes), base64 as Janus's `srtp_crypto` takes it.
const FORWARD_KEY: &str = "S2V5U2FsdEZvclRoZUZvcndhcmRlck9mVGhlTWl4";

async fn mix_mute_leave(rate: u32) {
    let cardea = Cardea::start("");
    let mut admin = Handle::attach(&cardea, PLUGIN).await;
    let room = create_room(&mut admin, 4801, Some(rate)).await;
    let mut peers = join_three(&cardea, room).await;
    check_joined_notifications(&mut peers).await;
    wait_all_setup(&admin, room, &peers).await;

    sleep(WARM_UP).await;
    let levels = measure(&peers).await;
    for (n, l) in levels.iter().enumerate() {
        l.assert_hears(&others(n), &format!("{rate} Hz room, all three speaking"));
        l.assert_silent_on(&[n], &format!("{rate} Hz room, own tone"));
    }
    for p in &peers {
        p.assert_stream_shape();
    }

    // `mute` peer 0 (the room has a secret: without it 483, a wrong one 489).
    let muted_id = peers[0].id;
    let reply = admin
        .sync_request(json!({"request": "mute", "room": room, "id": muted_id}))
        .await;
    assert_plugin_error(&reply, 483, "mute without the room secret");
    let reply = admin
        .sync_request(json!({"request": "mute", "room": room, "id": muted_id, "secret": "nope"}))
        .await;
    assert_plugin_error(&reply, 489, "mute with a wrong room secret");
    let reply = admin
        .sync_request(json!({"request": "mute", "room": room, "id": muted_id, "secret": SECRET}))
        .await;
    let data = sync_data(&reply, "mute");
    assert_eq!(data["audiobridge"], "success", "mute: {reply}");
    assert_eq!(data["room"], room, "mute: {reply}");
    for p in peers.iter_mut().skip(1) {
        let event = p
            .wait_event("the participants event announcing the mute", |d| {
                d["audiobridge"] == "event"
                    && d["participants"].as_array().is_some_and(|l| {
                        l.iter().any(|e| e["id"] == muted_id && e["muted"] == true)
                    })
            })
            .await;
        eprintln!("{}: {event}", p.what);
    }
    sleep(SETTLE).await;
    let levels = measure(&peers).await;
    for n in [1, 2] {
        let other = 3 - n;
        levels[n].assert_hears(&[other], "peer 0 muted");
        levels[n].assert_silent_on(&[0, n], "peer 0 muted (its tone and the own one)");
    }
    levels[0].assert_hears(&[1, 2], "the muted peer still hears the others");
    levels[0].assert_silent_on(&[0], "the muted peer, own tone");
    let listed = list_participants(&admin, room).await;
    let entry = listed.iter().find(|e| e["id"] == muted_id).cloned();
    assert_eq!(
        entry.as_ref().map(|e| e["muted"].clone()),
        Some(json!(true)),
        "listparticipants shows peer 0 muted: {listed:?}"
    );

    // `unmute`: the tone comes back.
    let reply = admin
        .sync_request(json!({"request": "unmute", "room": room, "id": muted_id, "secret": SECRET}))
        .await;
    assert_eq!(
        sync_data(&reply, "unmute")["audiobridge"],
        "success",
        "{reply}"
    );
    sleep(SETTLE).await;
    let levels = measure(&peers).await;
    for (n, l) in levels.iter().enumerate() {
        l.assert_hears(&others(n), "peer 0 unmuted");
        l.assert_silent_on(&[n], "peer 0 unmuted, own tone");
    }

    // Peer 2 leaves: `left` to it, `leaving` to the others, and its tone is gone.
    let leaver = peers[2].id;
    let left = peers[2]
        .handle
        .request(json!({"request": "leave"}), None)
        .await;
    assert_eq!(left["audiobridge"], "left", "leave: {left}");
    assert_eq!(left["room"], room, "leave: {left}");
    assert_eq!(left["id"], leaver, "leave: {left}");
    for p in peers.iter_mut().take(2) {
        let event = p
            .wait_event("leaving", |d| {
                d["audiobridge"] == "event" && d["leaving"] == leaver
            })
            .await;
        assert_eq!(
            event["plugindata"]["data"]["room"], room,
            "{}: the leaving event names the room: {event}",
            p.what
        );
    }
    sleep(SETTLE).await;
    let levels = measure(&peers[..2]).await;
    levels[0].assert_hears(&[1], "after peer 2 left");
    levels[0].assert_silent_on(&[0, 2], "after peer 2 left");
    levels[1].assert_hears(&[0], "after peer 2 left");
    levels[1].assert_silent_on(&[1, 2], "after peer 2 left");
    let listed = list_participants(&admin, room).await;
    assert_eq!(
        listed.len(),
        2,
        "listparticipants after a leave lists two: {listed:?}"
    );
    assert!(
        listed.iter().all(|e| e["id"] != leaver),
        "the leaver is not listed: {listed:?}"
    );

    for mut p in peers {
        p.assert_no_errors();
        p.close().await;
    }
    assert_alive(cardea);
}

async fn mix_configure_muted(rate: u32) {
    let cardea = Cardea::start("");
    let mut admin = Handle::attach(&cardea, PLUGIN).await;
    let room = create_room(&mut admin, 1601, Some(rate)).await;
    let mut peers = join_three(&cardea, room).await;
    wait_all_setup(&admin, room, &peers).await;

    sleep(WARM_UP).await;
    let levels = measure(&peers).await;
    for (n, l) in levels.iter().enumerate() {
        l.assert_hears(&others(n), &format!("{rate} Hz room, all three speaking"));
        l.assert_silent_on(&[n], &format!("{rate} Hz room, own tone"));
    }
    for p in &peers {
        p.assert_stream_shape();
    }

    // Peer 1 mutes itself with `configure`.
    let muted_id = peers[1].id;
    let reply = peers[1]
        .handle
        .request(json!({"request": "configure", "muted": true}), None)
        .await;
    assert_eq!(reply["audiobridge"], "event", "configure muted: {reply}");
    assert_eq!(reply["result"], "ok", "configure muted: {reply}");
    for n in [0, 2] {
        peers[n]
            .wait_event("the participants event announcing the mute", |d| {
                d["participants"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|e| e["id"] == muted_id && e["muted"] == true))
            })
            .await;
    }
    sleep(SETTLE).await;
    let levels = measure(&peers).await;
    levels[0].assert_hears(&[2], "peer 1 muted itself");
    levels[0].assert_silent_on(&[0, 1], "peer 1 muted itself");
    levels[2].assert_hears(&[0], "peer 1 muted itself");
    levels[2].assert_silent_on(&[1, 2], "peer 1 muted itself");
    levels[1].assert_hears(&[0, 2], "the self-muted peer still hears the others");

    for mut p in peers {
        p.assert_no_errors();
        p.close().await;
    }
    assert_alive(cardea);
}

async fn pcmu_with_opus() {
    let cardea = Cardea::start("");
    let mut admin = Handle::attach(&cardea, PLUGIN).await;
    let room = create_room(&mut admin, 811, Some(16_000)).await;
    let peers = vec![
        Peer::join(&cardea, room, "tone-0", Some(0)).await,
        Peer::join(&cardea, room, "tone-1", Some(1)).await,
        Peer::join_with(&cardea, room, "tone-2-pcmu", Some(2), Codec::Pcmu).await,
    ];
    wait_all_setup(&admin, room, &peers).await;
    sleep(WARM_UP).await;
    let levels = measure(&peers).await;
    for (n, l) in levels.iter().enumerate() {
        l.assert_hears(&others(n), "two opus peers and a PCMU one");
        l.assert_silent_on(&[n], "two opus peers and a PCMU one, own tone");
    }
    for p in &peers {
        p.assert_stream_shape();
    }
    for mut p in peers {
        p.assert_no_errors();
        p.close().await;
    }
    assert_alive(cardea);
}

async fn garbage_does_not_stop_the_mix() {
    let cardea = Cardea::start("");
    let mut admin = Handle::attach(&cardea, PLUGIN).await;
    // No sampling_rate: Janus's default, 16 kHz.
    let room = create_room(&mut admin, 6601, None).await;
    let a = Peer::join(&cardea, room, "tone-a", Some(0)).await;
    let b = Peer::join(&cardea, room, "tone-b", Some(1)).await;
    let mut c = Peer::join(&cardea, room, "garbage", None).await;
    let garbage_sent = Arc::new(AtomicUsize::new(0));
    c.tasks.push(tokio::spawn(send_garbage(
        Arc::clone(&c.track),
        c.ssrc,
        Arc::clone(&c.stop),
        Arc::clone(&garbage_sent),
    )));
    // A stranger throws junk at the media socket meanwhile.
    let stranger = tokio::spawn(junk_datagrams(
        cardea.listeners.media[0].clone(),
        Arc::clone(&c.stop),
    ));

    sleep(WARM_UP + Duration::from_secs(1)).await;
    let peers = [a, b, c];
    let levels = measure(&peers).await;
    eprintln!(
        "the garbage peer sent {} bad packets",
        garbage_sent.load(Ordering::Relaxed)
    );
    levels[0].assert_hears(&[1], "while peer C sends garbage");
    levels[0].assert_silent_on(&[0], "while peer C sends garbage");
    levels[1].assert_hears(&[0], "while peer C sends garbage");
    levels[1].assert_silent_on(&[1], "while peer C sends garbage");
    levels[2].assert_hears(&[0, 1], "the garbage sender still hears the others");
    for p in &peers {
        p.assert_stream_shape();
    }
    let listed = list_participants(&admin, room).await;
    assert_eq!(listed.len(), 3, "everyone still in the room: {listed:?}");
    stranger.abort();
    for p in peers {
        p.close().await;
    }
    assert_alive(cardea);
}

// ---- rooms and requests ------------------------------------------------------------------

/// Creates a room (id `base` plus the process id, so parallel binaries do not collide, and
/// with [`SECRET`]); checks Janus's `created` reply and returns the room id.
async fn create_room(admin: &mut Handle, base: u64, rate: Option<u32>) -> u64 {
    let room = base * 100_000 + u64::from(std::process::id() % 100_000);
    let mut body = json!({
        "request": "create", "room": room, "description": format!("test room {base}"),
        "secret": SECRET,
    });
    if let Some(rate) = rate {
        body["sampling_rate"] = json!(rate);
    }
    let reply = admin.sync_request(body.clone()).await;
    let data = sync_data(&reply, "create");
    assert_eq!(
        data,
        &json!({"audiobridge": "created", "room": room, "permanent": false}),
        "create {body}: {reply}"
    );
    let reply = admin
        .sync_request(json!({"request": "exists", "room": room}))
        .await;
    assert_eq!(sync_data(&reply, "exists")["exists"], true, "{reply}");
    room
}

/// The plugin data of a synchronous reply (`janus` "success"), which must not be an error.
fn sync_data<'a>(reply: &'a Value, what: &str) -> &'a Value {
    assert_eq!(reply["janus"], "success", "{what}: {reply}");
    assert_eq!(reply["plugindata"]["plugin"], PLUGIN, "{what}: {reply}");
    let data = &reply["plugindata"]["data"];
    assert!(data.get("error_code").is_none(), "{what} failed: {reply}");
    data
}

fn assert_plugin_error(reply: &Value, code: u64, what: &str) {
    assert_eq!(reply["janus"], "success", "{what}: {reply}");
    let data = &reply["plugindata"]["data"];
    assert_eq!(data["audiobridge"], "event", "{what}: {reply}");
    assert_eq!(data["error_code"], code, "{what}: {reply}");
    assert!(data["error"].is_string(), "{what}: {reply}");
}

async fn list_participants(admin: &Handle, room: u64) -> Vec<Value> {
    let reply = admin
        .sync_request(json!({"request": "listparticipants", "room": room}))
        .await;
    let data = sync_data(&reply, "listparticipants");
    assert_eq!(data["audiobridge"], "participants", "{reply}");
    assert_eq!(data["room"], room, "{reply}");
    data["participants"]
        .as_array()
        .unwrap_or_else(|| panic!("listparticipants without a participants array: {reply}"))
        .clone()
}

/// Polls `listparticipants` (up to 5 s) until the three peers are listed with `setup: true`
/// (their PeerConnections are up).
async fn wait_all_setup(admin: &Handle, room: u64, peers: &[Peer]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let listed = list_participants(admin, room).await;
        let ok = peers.iter().all(|p| {
            listed
                .iter()
                .any(|e| e["id"] == p.id && e["setup"] == true && e["muted"] == false)
        });
        if ok && listed.len() == peers.len() {
            for e in &listed {
                let display = e["display"].as_str().unwrap_or_default();
                assert!(
                    peers.iter().any(|p| p.id == e["id"] && p.what == display),
                    "listparticipants entry {e} is one of ours, with its display"
                );
            }
            return;
        }
        assert!(
            Instant::now() < deadline,
            "listparticipants did not show the {} peers set up within 5 s: {listed:?}",
            peers.len()
        );
        sleep(Duration::from_millis(100)).await;
    }
}

/// The peers that joined after peer n were announced to it with `joined` (setup false).
async fn check_joined_notifications(peers: &mut [Peer]) {
    let ids: Vec<(u64, String)> = peers.iter().map(|p| (p.id, p.what.clone())).collect();
    for (n, p) in peers.iter_mut().enumerate() {
        for (id, display) in ids.iter().skip(n + 1) {
            let event = p
                .wait_event("a joined notification", |d| {
                    d["audiobridge"] == "joined"
                        && d["participants"]
                            .as_array()
                            .is_some_and(|l| l.iter().any(|e| e["id"] == *id))
                })
                .await;
            let data = &event["plugindata"]["data"];
            let entry = data["participants"]
                .as_array()
                .and_then(|l| l.iter().find(|e| e["id"] == *id))
                .expect("found above");
            assert_eq!(entry["display"], display.as_str(), "{}: {event}", p.what);
            assert_eq!(entry["muted"], false, "{}: {event}", p.what);
            assert!(entry["setup"].is_boolean(), "{}: {event}", p.what);
            assert!(
                data.get("id").is_none(),
                "{}: a notification about someone else has no top-level id: {event}",
                p.what
            );
        }
    }
}

fn others(n: usize) -> Vec<usize> {
    (0..3).filter(|&i| i != n).collect()
}

fn assert_alive(mut cardea: Cardea) {
    assert!(
        cardea.exited().is_none(),
        "cardea exited: {:?}",
        cardea.exited()
    );
}

// ---- peers -------------------------------------------------------------------------------

/// A participant: a Janus handle joined to the room and a webrtc-rs PeerConnection with one
/// sendrecv audio m-line (opus), sending its tone (or whatever a task writes on its track).
struct Peer {
    what: String,
    id: u64,
    handle: Handle,
    peer: Arc<PeerState>,
    pc: Arc<dyn PeerConnection>,
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    codec: Codec,
    offer_sdp: String,
    answer_sdp: String,
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Peers 0, 1 and 2, sending [`TONES`] 0, 1 and 2, joined one after the other.
async fn join_three(cardea: &Cardea, room: u64) -> Vec<Peer> {
    let mut peers = Vec::new();
    for n in 0..3 {
        peers.push(Peer::join(cardea, room, &format!("tone-{n}"), Some(n)).await);
    }
    peers
}

/// A participant's codec.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Codec {
    Opus,
    Pcmu,
}

impl Codec {
    fn pt(self) -> u8 {
        match self {
            Codec::Opus => OPUS_PT,
            Codec::Pcmu => PCMU_PT,
        }
    }

    /// RTP timestamp units in 20 ms.
    fn ts_step(self) -> u32 {
        match self {
            Codec::Opus => FRAME as u32,
            Codec::Pcmu => G711_FRAME as u32,
        }
    }
}

impl Peer {
    /// `join` (display `what`), then `configure` with an audio-only offer; applies the answer,
    /// waits for the connection and, with `tone`, starts sending [`TONES`]`[tone]`, in opus.
    async fn join(cardea: &Cardea, room: u64, what: &str, tone: Option<usize>) -> Peer {
        Peer::join_with(cardea, room, what, tone, Codec::Opus).await
    }

    /// [`Peer::join`] in `codec`: PCMU is joined with `codec: "pcmu"` and offered after opus
    /// (as a browser would), and the answer must keep PCMU only.
    async fn join_with(
        cardea: &Cardea,
        room: u64,
        what: &str,
        tone: Option<usize>,
        codec: Codec,
    ) -> Peer {
        Peer::join_pin(cardea, room, what, tone, codec, None).await
    }

    /// [`Peer::join_with`] into a room that has a PIN.
    async fn join_pin(
        cardea: &Cardea,
        room: u64,
        what: &str,
        tone: Option<usize>,
        codec: Codec,
        pin: Option<&str>,
    ) -> Peer {
        let mut handle = Handle::attach(cardea, PLUGIN).await;
        let mut body = json!({"request": "join", "room": room, "display": what});
        if codec == Codec::Pcmu {
            body["codec"] = json!("pcmu");
        }
        if let Some(pin) = pin {
            body["pin"] = json!(pin);
        }
        let joined = handle.request(body, None).await;
        assert_eq!(joined["audiobridge"], "joined", "{what}: join: {joined}");
        assert_eq!(joined["room"], room, "{what}: join: {joined}");
        assert!(
            joined["participants"].is_array(),
            "{what}: joined lists the others: {joined}"
        );
        assert!(
            joined.get("jsep").is_none(),
            "{what}: no JSEP yet: {joined}"
        );
        let id = joined["id"]
            .as_u64()
            .unwrap_or_else(|| panic!("{what}: joined has no integer id: {joined}"));

        let peer = PeerState::new();
        let options = PeerOptions {
            pcmu: codec == Codec::Pcmu,
            ..PeerOptions::default()
        };
        let pc = peer_connection(cardea, Arc::clone(&peer), options).await;
        let ssrc = 0x4142_0000 | (id as u32 & 0xffff);
        let track_codec = match codec {
            Codec::Opus => opus(),
            Codec::Pcmu => pcmu(),
        };
        let track = local_track(
            &format!("ab-{what}"),
            RtpCodecKind::Audio,
            track_codec,
            ssrc,
            None,
        );
        pc.add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
            .await
            .expect("add_track");
        let offer_sdp = local_offer(&*pc, &peer, None, what).await;
        let configured = handle
            .request(
                json!({"request": "configure", "muted": false}),
                Some(json!({"type": "offer", "sdp": offer_sdp, "trickle": false})),
            )
            .await;
        assert_eq!(
            configured["audiobridge"], "event",
            "{what}: configure with an offer: {configured}\noffer:\n{offer_sdp}"
        );
        assert_eq!(configured["result"], "ok", "{what}: {configured}");
        assert_eq!(configured["jsep"]["type"], "answer", "{what}: {configured}");
        let answer_sdp = configured["jsep"]["sdp"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no jsep.sdp in {configured}"))
            .to_owned();
        let lines = m_lines(&answer_sdp);
        assert_eq!(
            lines.iter().map(|l| l.kind.as_str()).collect::<Vec<_>>(),
            vec!["audio"],
            "{what}: the answer has the one audio m-line:\n{answer_sdp}"
        );
        assert_eq!(
            lines[0].media_pts(),
            vec![codec.pt()],
            "{what}: the answer keeps {codec:?} only, under the offer's payload type:\n{answer_sdp}"
        );
        assert!(
            answer_sdp
                .lines()
                .any(|l| l.starts_with("m=audio ") && !l.starts_with("m=audio 0 ")),
            "{what}: the audio m-line is accepted (not port 0):\n{answer_sdp}"
        );
        assert_eq!(
            lines[0].direction, "sendrecv",
            "{what}: the participant sends and receives:\n{answer_sdp}"
        );
        apply_answer(&*pc, &answer_sdp, what).await;
        wait_connected(
            &peer,
            STEP,
            &format!("{what}\noffer:\n{offer_sdp}\nanswer:\n{answer_sdp}"),
        )
        .await;

        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        if let Some(n) = tone {
            tasks.push(match codec {
                Codec::Opus => tokio::spawn(send_tone(
                    Arc::clone(&track),
                    TONES[n],
                    ssrc,
                    Arc::clone(&stop),
                )),
                Codec::Pcmu => tokio::spawn(send_ulaw_tone(
                    Arc::clone(&track),
                    TONES[n],
                    ssrc,
                    Arc::clone(&stop),
                )),
            });
        }
        Peer {
            what: what.to_owned(),
            id,
            handle,
            peer,
            pc,
            track,
            ssrc,
            codec,
            offer_sdp,
            answer_sdp,
            stop,
            tasks,
        }
    }

    /// The first event pushed to this handle without a transaction whose plugin data
    /// satisfies `matches` (waiting up to [`STEP`]).
    async fn wait_event(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let who = format!("{what} on {}", self.what);
        self.handle
            .events
            .wait_for(&who, STEP, |e| {
                e["janus"] == "event"
                    && e.get("transaction").is_none()
                    && e["plugindata"]["plugin"] == PLUGIN
                    && matches(&e["plugindata"]["data"])
            })
            .await
    }

    fn received(&self) -> Vec<Got> {
        self.peer.received(RtpCodecKind::Audio)
    }

    /// The packets of the last [`WINDOW`] arrive every 20 ms (40 to 60 of them), on the
    /// answer's payload type, one SSRC, sequence numbers stepping by one and timestamps by
    /// 20 ms (960 at opus's 48 kHz clock, 160 at PCMU's 8 kHz).
    fn assert_stream_shape(&self) {
        let got = self.received();
        let end = got.last().map(|g| g.at).unwrap_or_else(Instant::now);
        let window: Vec<&Got> = got.iter().filter(|g| g.at + WINDOW >= end).collect();
        assert!(
            (MIN_PACKETS..=MAX_PACKETS).contains(&window.len()),
            "{}: {} mix packets in the last {WINDOW:?}, expected one every 20 ms\noffer:\n{}\nanswer:\n{}",
            self.what,
            window.len(),
            self.offer_sdp,
            self.answer_sdp
        );
        for g in &window {
            assert_eq!(
                g.pt,
                self.codec.pt(),
                "{}: payload type of the mix",
                self.what
            );
            assert!(!g.payload.is_empty(), "{}: an empty mix packet", self.what);
        }
        let ssrcs: std::collections::BTreeSet<u32> = window.iter().map(|g| g.ssrc).collect();
        assert_eq!(
            ssrcs.len(),
            1,
            "{}: one SSRC for the mix: {ssrcs:?}",
            self.what
        );
        let bad: Vec<(u16, u32, u16, u32)> = window
            .windows(2)
            .filter(|w| {
                let seq_step = w[1].seq.wrapping_sub(w[0].seq);
                let ts_step = w[1].ts.wrapping_sub(w[0].ts);
                // Loss on loopback is rare; allow a lost packet or two, in step.
                !(1..=3).contains(&seq_step)
                    || ts_step != u32::from(seq_step) * self.codec.ts_step()
            })
            .map(|w| (w[0].seq, w[0].ts, w[1].seq, w[1].ts))
            .collect();
        assert!(
            bad.is_empty(),
            "{}: (seq, ts) steps not continuous at {:?}",
            self.what,
            &bad[..bad.len().min(10)]
        );
    }

    fn assert_no_errors(&mut self) {
        let seen = self.handle.events.drain();
        let errors: Vec<&Value> = seen
            .iter()
            .filter(|e| e["janus"] == "error" || e["plugindata"]["data"]["error_code"].is_u64())
            .collect();
        assert!(errors.is_empty(), "{}: errors: {errors:?}", self.what);
    }

    async fn close(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for task in std::mem::take(&mut self.tasks) {
            task.abort();
        }
        let _ = timeout(Duration::from_secs(3), self.pc.close()).await;
    }
}

/// What one peer's mix held over the measured window.
struct Levels {
    what: String,
    /// dBFS of each of [`TONES`].
    tones: Vec<f64>,
    rms: f64,
    packets: usize,
}

impl Levels {
    fn describe(&self) -> String {
        format!(
            "{}: {} packets, RMS {:.1} dBFS, {}",
            self.what,
            self.packets,
            self.rms,
            TONES
                .iter()
                .zip(&self.tones)
                .map(|(f, l)| format!("{f} Hz {l:.1} dBFS"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// The tones of the peers `who` are in the mix, at least [`PRESENT_DBFS`].
    fn assert_hears(&self, who: &[usize], when: &str) {
        for &n in who {
            assert!(
                self.tones[n] >= PRESENT_DBFS,
                "{when}: {} Hz (peer {n}) should be in the mix: {}",
                TONES[n],
                self.describe()
            );
        }
    }

    /// The tones of the peers `who` are at least [`ABSENT_BELOW_DB`] below the weakest of the
    /// tones that are present (those above [`PRESENT_DBFS`]), or below −60 dBFS when none is.
    fn assert_silent_on(&self, who: &[usize], when: &str) {
        let present: Vec<f64> = (0..TONES.len())
            .filter(|i| !who.contains(i))
            .map(|i| self.tones[i])
            .filter(|&l| l >= PRESENT_DBFS)
            .collect();
        let ceiling = if present.is_empty() {
            -60.0
        } else {
            present.iter().copied().fold(f64::INFINITY, f64::min) - ABSENT_BELOW_DB
        };
        for &n in who {
            assert!(
                self.tones[n] <= ceiling,
                "{when}: {} Hz (peer {n}) should not be in the mix (at most {ceiling:.1} \
                 dBFS): {}",
                TONES[n],
                self.describe()
            );
        }
    }
}

/// Waits [`WINDOW`], then decodes what each peer received in it and measures [`TONES`].
/// Every packet of the window must decode.
async fn measure(peers: &[Peer]) -> Vec<Levels> {
    let from = Instant::now();
    sleep(WINDOW).await;
    let to = Instant::now();
    peers
        .iter()
        .map(|p| {
            let (decoded, rate) = match p.codec {
                Codec::Opus => (decode_window(&p.received(), from, to), audio::RATE),
                Codec::Pcmu => (decode_ulaw_window(&p.received(), from, to), G711_RATE),
            };
            assert!(
                decoded.errors.is_empty(),
                "{}: mix packets that cannot be decoded: {:?}",
                p.what,
                decoded.errors
            );
            assert!(
                decoded.packets >= MIN_PACKETS,
                "{}: {} mix packets in {WINDOW:?} (one every 20 ms expected), {} missing",
                p.what,
                decoded.packets,
                decoded.missing
            );
            let levels = Levels {
                what: p.what.clone(),
                tones: tone_levels_at(&decoded.samples, rate, &TONES),
                rms: rms_dbfs(&decoded.samples),
                packets: decoded.packets,
            };
            eprintln!("{}", levels.describe());
            levels
        })
        .collect()
}

// ---- senders -----------------------------------------------------------------------------

/// 20 ms opus packets of a `freq` Hz tone, RTP timestamps stepping by 960.
async fn send_tone(track: Arc<TrackLocalStaticRTP>, freq: f64, ssrc: u32, stop: Arc<AtomicBool>) {
    let mut encoder = ToneEncoder::new(freq);
    let mut tick = tokio::time::interval(PTIME);
    let seq0: u16 = 1000 + (freq as u16);
    let ts0: u32 = 0x1000_0000 + freq as u32 * 7;
    let mut index: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let payload = encoder.next_packet();
        let packet = rtp(
            OPUS_PT,
            seq0.wrapping_add(index as u16),
            ts0.wrapping_add(FRAME as u32 * index),
            ssrc,
            index == 0,
            payload,
        );
        if track.write_rtp(packet).await.is_err() {
            return;
        }
        index += 1;
    }
}

/// 20 ms PCMU packets (160 bytes) of a `freq` Hz tone, RTP timestamps stepping by 160.
async fn send_ulaw_tone(
    track: Arc<TrackLocalStaticRTP>,
    freq: f64,
    ssrc: u32,
    stop: Arc<AtomicBool>,
) {
    let mut encoder = UlawToneEncoder::new(freq);
    let mut tick = tokio::time::interval(PTIME);
    let seq0: u16 = 3000 + (freq as u16);
    let ts0: u32 = 0x2000_0000 + freq as u32 * 3;
    let mut index: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let packet = rtp(
            PCMU_PT,
            seq0.wrapping_add(index as u16),
            ts0.wrapping_add(G711_FRAME as u32 * index),
            ssrc,
            index == 0,
            encoder.next_packet(),
        );
        if track.write_rtp(packet).await.is_err() {
            return;
        }
        index += 1;
    }
}

/// Payloads no opus decoder accepts, or should not choke on: nothing, a lone TOC byte of each
/// frame-count code, code 3 with impossible frame counts or paddings, frame lengths running
/// past the end, random bytes, a huge packet; sequence numbers and timestamps jump about.
async fn send_garbage(
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
) {
    let mut tick = tokio::time::interval(PTIME);
    let mut seed: u32 = 0x1234_5678;
    let mut random = move |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect()
    };
    let mut index: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let payload: Vec<u8> = match index % 12 {
            0 => Vec::new(),
            1 => vec![0xf8],
            2 => vec![0xf9],
            3 => vec![0xfb],
            // Code 3, 48 frames of 20 ms (960 ms > 120 ms), then nothing.
            4 => vec![0xfb, 0x30],
            // Code 3, VBR, padding flag and a padding length larger than the packet.
            5 => vec![0xfb, 0xc2, 0xff, 0xff, 0x10],
            // Code 2: the first frame's length runs past the end.
            6 => vec![0xfa, 0xfb, 0xff, 0x01, 0x02],
            // A 20 ms CELT TOC and random bytes.
            7 => {
                let mut p = vec![0xf8];
                p.extend(random(60));
                p
            }
            8 => random(1),
            9 => random(200),
            10 => random(1200),
            // SILK 20 ms TOC, truncated.
            _ => vec![0x08, 0x0b],
        };
        // Sequence numbers and timestamps: mostly in step, sometimes far away or backwards.
        let seq = match index % 7 {
            3 => (index as u16).wrapping_add(30_000),
            5 => (index as u16).wrapping_sub(10),
            _ => index as u16,
        };
        let ts = match index % 5 {
            2 => 0xffff_0000u32.wrapping_add(index),
            4 => 0,
            _ => FRAME as u32 * index,
        };
        let packet = rtp(OPUS_PT, seq, ts, ssrc, index.is_multiple_of(9), payload);
        // Whatever webrtc-rs refuses to send is skipped.
        let _ = track.write_rtp(packet).await;
        sent.fetch_add(1, Ordering::Relaxed);
        index += 1;
    }
}

/// Junk datagrams (not STUN, DTLS, RTP or RTCP of any session) to the media socket.
async fn junk_datagrams(media: String, stop: Arc<AtomicBool>) {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0").await else {
        return;
    };
    let junk: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x80],
        vec![0x80, 111, 0, 1, 0, 0, 0, 0, 0x41, 0x42, 0x00, 0x01, 0xf8],
        vec![0x00, 0x01, 0x00, 0x00],
        vec![0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10],
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        vec![0xff; 1400],
    ];
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let _ = socket.send_to(&junk[i % junk.len()], &media).await;
        i += 1;
    }
}

// ---- dial-in ---------------------------------------------------------------------------

/// A phone (baresip, a real SIP UA we did not write) calls the number the dialplan's `room`
/// action sends to a room: it is answered, appears among the participants under its name,
/// hears the WebRTC peer's tone while the peer hears the phone's, and when it hangs up the
/// peer is told it left.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audiobridge_a_phone_dials_into_a_room() {
    use cardea_tests::baresip::{write_tone_wav, Baresip};

    const NUMBER: &str = "5000";
    let base = 4242;
    let dir = scratch_dir("dialin");
    let (cardea, room, sip_port) = start_dial_in(&dir, base, NUMBER, "");
    let mut admin = Handle::attach(&cardea, PLUGIN).await;
    assert_eq!(create_room(&mut admin, base, Some(16_000)).await, room);
    let mut peers = vec![Peer::join(&cardea, room, "tone-0", Some(0)).await];
    wait_all_setup(&admin, room, &peers).await;

    let wav = dir.join("phone-tone.wav");
    write_tone_wav(&wav, TONES[1], 15.0);
    let mut phone = Baresip::start(&dir, "caller", &wav, &[sip_port]);
    let target = format!("sip:{NUMBER}@127.0.0.1:{sip_port}");
    if let Err(e) = phone.command("dial", &target).await {
        panic!("baresip could not dial {target}: {e}\n{}", phone.log());
    }
    if phone.wait_event("CALL_ESTABLISHED", STEP).await.is_none() {
        panic!("the room did not answer the phone:\n{}", phone.log());
    }
    let listed = list_participants(&admin, room).await;
    assert_eq!(listed.len(), 2, "the phone is a participant: {listed:?}");
    assert!(
        listed
            .iter()
            .any(|p| p["display"] == "caller" && p["setup"] == true),
        "the phone is listed by its name: {listed:?}"
    );

    sleep(WARM_UP).await;
    let levels = measure(&peers).await;
    levels[0].assert_hears(&[1], "the phone's tone reaches the WebRTC peer");
    levels[0].assert_silent_on(&[0], "the peer's own tone");

    if let Err(e) = phone.command("hangup", "").await {
        panic!("baresip could not hang up: {e}");
    }
    if phone.wait_event("CALL_CLOSED", STEP).await.is_none() {
        panic!("the call did not close:\n{}", phone.log());
    }
    peers[0]
        .wait_event("the phone leaving", |d| d["leaving"].is_u64())
        .await;
    let (rate, samples) = phone_recording(&phone).await;
    assert_phone_hears_the_peer(&samples, rate);
    assert_eq!(list_participants(&admin, room).await.len(), 1);

    // It calls again and is kicked: Cardea hangs up on it (BYE).
    if let Err(e) = phone.command("dial", &target).await {
        panic!("baresip could not dial again: {e}");
    }
    let deadline = Instant::now() + STEP;
    let caller = loop {
        let listed = list_participants(&admin, room).await;
        if let Some(p) = listed.iter().find(|p| p["display"] == "caller") {
            break p["id"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "the phone did not join again: {listed:?}"
        );
        sleep(Duration::from_millis(100)).await;
    };
    let kicked = admin
        .sync_request(json!({"request": "kick", "room": room, "secret": SECRET, "id": caller}))
        .await;
    sync_data(&kicked, "kick");
    let deadline = Instant::now() + STEP;
    while phone
        .events()
        .iter()
        .filter(|e| e["type"] == "CALL_CLOSED")
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "the kicked phone got no BYE:\n{}",
            phone.log()
        );
        sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(list_participants(&admin, room).await.len(), 1);
    for mut p in peers {
        p.assert_no_errors();
        p.close().await;
    }
    assert_alive(cardea);
    std::fs::remove_dir_all(&dir).ok();
}

/// An Ogg/Opus file of `seconds` of a `freq` Hz tone, encoded with libopus (what a PIN
/// prompt would be; CRCs and granules are left 0, which Cardea's reader does not check).
fn ogg_opus_tone(freq: f64, seconds: u32) -> Vec<u8> {
    fn page(out: &mut Vec<u8>, packets: &[Vec<u8>]) {
        let mut lacing = Vec::new();
        for p in packets {
            lacing.extend(std::iter::repeat_n(255u8, p.len() / 255));
            lacing.push((p.len() % 255) as u8);
        }
        out.extend_from_slice(b"OggS");
        out.extend_from_slice(&[0; 22]);
        out.push(lacing.len() as u8);
        out.extend_from_slice(&lacing);
        for p in packets {
            out.extend_from_slice(p);
        }
    }
    let mut file = Vec::new();
    page(
        &mut file,
        &[b"OpusHead\x01\x01\x38\x01\x80\xbb\0\0\0\0\0".to_vec()],
    );
    page(&mut file, &[b"OpusTags".to_vec()]);
    let mut encoder = ToneEncoder::new(freq);
    let packets: Vec<Vec<u8>> = (0..seconds * 50).map(|_| encoder.next_packet()).collect();
    for chunk in packets.chunks(50) {
        page(&mut file, chunk);
    }
    file
}

/// A phone calls a room that has a PIN: it is answered into a lobby where it hears the
/// prompt (a tone played from an Ogg/Opus file) and not the room, and where the room does
/// not hear or list it; a wrong PIN keeps it there, the right one (RFC 4733 DTMF from
/// baresip's `sndcode`) takes it into the room, where the WebRTC peer hears it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audiobridge_a_phone_types_the_pin_to_enter_a_room() {
    use cardea_tests::baresip::{write_tone_wav, Baresip, ToneStats};

    const NUMBER: &str = "5001";
    const PIN: &str = "4321";
    const PROMPT_HZ: f64 = 700.0;
    let base = 4343;
    let dir = scratch_dir("pin");
    let prompt = dir.join("enter-pin.opus");
    std::fs::write(&prompt, ogg_opus_tone(PROMPT_HZ, 2)).expect("the prompt file");
    let extra = format!(
        "plugins:\n  audiobridge:\n    pin_prompt: \"{}\"\n",
        prompt.display()
    );
    let (cardea, room, sip_port) = start_dial_in(&dir, base, NUMBER, &extra);
    let admin = Handle::attach(&cardea, PLUGIN).await;
    let created = admin
        .sync_request(json!({
            "request": "create", "room": room, "secret": SECRET, "pin": PIN,
            "sampling_rate": 16000,
        }))
        .await;
    sync_data(&created, "create with a pin");
    let mut peers =
        vec![Peer::join_pin(&cardea, room, "tone-0", Some(0), Codec::Opus, Some(PIN)).await];
    wait_all_setup(&admin, room, &peers).await;

    let wav = dir.join("phone-tone.wav");
    write_tone_wav(&wav, TONES[1], 20.0);
    let mut phone = Baresip::start(&dir, "pincaller", &wav, &[sip_port]);
    let target = format!("sip:{NUMBER}@127.0.0.1:{sip_port}");
    if let Err(e) = phone.command("dial", &target).await {
        panic!("baresip could not dial {target}: {e}\n{}", phone.log());
    }
    if phone.wait_event("CALL_ESTABLISHED", STEP).await.is_none() {
        panic!("the lobby did not answer the phone:\n{}", phone.log());
    }
    let answered = Instant::now();
    let ok = phone
        .messages()
        .into_iter()
        .find(|m| !m.sent && m.is_response(200, "INVITE"))
        .expect("baresip traced the 200");
    assert!(
        ok.text.contains("telephone-event/8000"),
        "the answer offers DTMF back:\n{}",
        ok.text
    );
    sleep(WARM_UP).await;
    assert_eq!(
        list_participants(&admin, room).await.len(),
        1,
        "the caller is not listed before its PIN"
    );
    let levels = measure(&peers).await;
    levels[0].assert_silent_on(&[1], "the room does not hear a caller in the lobby");

    // A wrong PIN (ended by #): still out of the room.
    if let Err(e) = phone.command("sndcode", "99#").await {
        panic!("baresip could not send DTMF: {e}\n{}", phone.log());
    }
    sleep(Duration::from_secs(2)).await;
    assert_eq!(list_participants(&admin, room).await.len(), 1);
    let pin_at = Instant::now();
    if let Err(e) = phone.command("sndcode", PIN).await {
        panic!("baresip could not send DTMF: {e}\n{}", phone.log());
    }
    let deadline = Instant::now() + STEP;
    loop {
        let listed = list_participants(&admin, room).await;
        if listed.iter().any(|p| p["display"] == "pincaller") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the right PIN did not let the phone in: {listed:?}\n{}",
            phone.log()
        );
        sleep(Duration::from_millis(100)).await;
    }
    peers[0]
        .wait_event("the phone joining", |d| d["audiobridge"] == "joined")
        .await;
    sleep(WARM_UP).await;
    let levels = measure(&peers).await;
    levels[0].assert_hears(
        &[1],
        "the phone's tone reaches the WebRTC peer after its PIN",
    );

    if let Err(e) = phone.command("hangup", "").await {
        panic!("baresip could not hang up: {e}");
    }
    if phone.wait_event("CALL_CLOSED", STEP).await.is_none() {
        panic!("the call did not close:\n{}", phone.log());
    }
    let (rate, samples) = phone_recording(&phone).await;
    // In the lobby (the first second after the answer, well before the PIN): the prompt;
    // in the room (the last second): the peer.
    let second = rate as usize;
    let in_lobby = pin_at.duration_since(answered).as_secs_f64();
    assert!(in_lobby > 2.0, "the phone was {in_lobby} s in the lobby");
    let lobby = ToneStats::of(&samples[second / 2..second * 3 / 2], rate);
    assert!(
        lobby.is_tone(PROMPT_HZ, 0.9),
        "the phone should hear the {PROMPT_HZ} Hz prompt in the lobby: {lobby}"
    );
    let end = samples.len().saturating_sub(second / 2);
    let room_part = ToneStats::of(&samples[end.saturating_sub(second)..end], rate);
    assert!(
        room_part.is_tone(TONES[0], 0.9),
        "the phone should hear the peer's {} Hz tone in the room: {room_part}",
        TONES[0]
    );
    for mut p in peers {
        p.assert_no_errors();
        p.close().await;
    }
    assert_alive(cardea);
    std::fs::remove_dir_all(&dir).ok();
}

// ---- dial-out ----------------------------------------------------------------------------

/// The first `dial` event (no transaction) on `handle` satisfying `matches`.
async fn wait_dial_event(
    handle: &mut Handle,
    what: &str,
    matches: impl Fn(&Value) -> bool,
) -> Value {
    handle
        .events
        .wait_for(what, STEP, |e| {
            e["janus"] == "event"
                && e.get("transaction").is_none()
                && e["plugindata"]["plugin"] == PLUGIN
                && e["plugindata"]["data"]["dial"].is_string()
                && matches(&e["plugindata"]["data"])
        })
        .await["plugindata"]["data"]
        .clone()
}

/// `dial` (a Cardea extension) calls a phone (baresip, auto-answering) behind a configured
/// trunk: refused without the room's secret, for an unknown room and for a URI no trunk
/// reaches; the answer joins the room under its display name, the WebRTC peer hears the
/// phone and the phone the peer; `kick` hangs up on it (BYE).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audiobridge_dials_a_phone_into_a_room() {
    use cardea_tests::baresip::{write_tone_wav, Baresip};

    let dir = scratch_dir("dialout");
    let wav = dir.join("phone-tone.wav");
    write_tone_wav(&wav, TONES[1], 20.0);
    let phone = Baresip::start(&dir, "callee", &wav, &[]);
    // The phone is the trunk's far end; the trunk's inbound address is another loopback one.
    let cardea = Cardea::start(&format!(
        "sip:\n  bind: 127.0.0.1\n  udp_port: 0\n  tcp_port: 0\n  realm: cardea.test\n  \
         trunks:\n    - name: pbx\n      uri: \"sip:127.0.0.1:{}\"\n      inbound: [127.0.0.9]\n      \
         probe: 0\n",
        phone.sip_port
    ));
    let mut admin = Handle::attach(&cardea, PLUGIN).await;
    let room = create_room(&mut admin, 4545, Some(16_000)).await;
    let mut peers = vec![Peer::join(&cardea, room, "tone-0", Some(0)).await];
    wait_all_setup(&admin, room, &peers).await;

    let uri = phone.uri();
    let dial = |room: u64, secret: &str, uri: &str| json!({"request": "dial", "room": room, "secret": secret, "uri": uri, "display": "Desk"});
    let r = admin.sync_request(dial(room, "wrong", &uri)).await;
    assert_plugin_error(&r, 489, "dial with a wrong secret");
    let r = admin.sync_request(dial(room + 1, SECRET, &uri)).await;
    assert_plugin_error(&r, 485, "dial into no room");
    let r = admin
        .sync_request(dial(room, SECRET, "sip:someone@198.51.100.7:5060"))
        .await;
    assert_plugin_error(&r, 495, "dial a URI no trunk reaches");

    let r = admin.sync_request(dial(room, SECRET, &uri)).await;
    let data = sync_data(&r, "dial");
    assert_eq!(data["audiobridge"], "dialing", "{r}");
    let id = data["id"].as_u64().expect("the callee's participant id");
    if phone.wait_event("CALL_ESTABLISHED", STEP).await.is_none() {
        panic!("the phone did not answer:\n{}", phone.log());
    }
    let answered = wait_dial_event(&mut admin, "dial answered", |d| d["dial"] == "answered").await;
    assert_eq!(answered["id"], id, "{answered}");
    assert!(answered["call_id"].is_string(), "{answered}");
    let joined = peers[0]
        .wait_event("the callee joining", |d| d["audiobridge"] == "joined")
        .await;
    assert_eq!(joined["plugindata"]["data"]["participants"][0]["id"], id);
    let listed = list_participants(&admin, room).await;
    assert!(
        listed
            .iter()
            .any(|p| p["id"] == id && p["display"] == "Desk"),
        "the callee is listed by its display: {listed:?}"
    );
    sleep(WARM_UP).await;
    let levels = measure(&peers).await;
    levels[0].assert_hears(&[1], "the phone's tone reaches the WebRTC peer");

    let kicked = admin
        .sync_request(json!({"request": "kick", "room": room, "secret": SECRET, "id": id}))
        .await;
    sync_data(&kicked, "kick the callee");
    if phone.wait_event("CALL_CLOSED", STEP).await.is_none() {
        panic!("the kicked phone got no BYE:\n{}", phone.log());
    }
    assert!(
        phone
            .messages()
            .iter()
            .any(|m| !m.sent && m.is_request("BYE")),
        "Cardea sent BYE"
    );
    let (rate, samples) = phone_recording(&phone).await;
    assert_phone_hears_the_peer(&samples, rate);
    assert_eq!(list_participants(&admin, room).await.len(), 1);
    for mut p in peers {
        p.assert_no_errors();
        p.close().await;
    }
    assert_alive(cardea);
    std::fs::remove_dir_all(&dir).ok();
}

/// What a baresip phone heard during its call (its decoded-audio WAV), once the call ended:
/// sample rate and samples.
async fn phone_recording(phone: &cardea_tests::baresip::Baresip) -> (u32, Vec<i16>) {
    let deadline = Instant::now() + STEP;
    let path = loop {
        if let Some(p) = phone.heard() {
            break p;
        }
        assert!(Instant::now() < deadline, "baresip recorded nothing");
        sleep(Duration::from_millis(50)).await;
    };
    // baresip finishes writing the file after it reports the call closed.
    sleep(Duration::from_millis(300)).await;
    cardea_tests::baresip::read_wav(&path).expect("baresip's recording")
}

/// The phone's recording carries the first WebRTC peer's tone.
fn assert_phone_hears_the_peer(samples: &[i16], rate: u32) {
    let heard = cardea_tests::baresip::ToneStats::of(samples, rate);
    assert!(
        heard.is_tone(TONES[0], 1.0),
        "the phone should hear the peer's {} Hz tone: {heard}",
        TONES[0]
    );
}

/// A scratch directory of this test process for `what`.
fn scratch_dir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cardea-ab-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Cardea with a `pstn` trunk whose inbound address is 127.0.0.1 (where the phones call
/// from) and a dialplan that sends its calls to `number` into room `base`'s id (as
/// [`create_room`] makes it); `extra` is appended to the configuration. Gives the server,
/// the room id and the SIP UDP port.
fn start_dial_in(
    dir: &std::path::Path,
    base: u64,
    number: &str,
    extra: &str,
) -> (Cardea, u64, u16) {
    let room = base * 100_000 + u64::from(std::process::id() % 100_000);
    let plan = dir.join("dialplan.yaml");
    std::fs::write(
        &plan,
        format!(
            "rules:\n  - name: dial-in\n    from: trunk\n    to: \"{number}\"\n    \
             action: {{ room: {room} }}\n"
        ),
    )
    .expect("dialplan");
    let cardea = Cardea::start(&format!(
        "sip:\n  bind: 127.0.0.1\n  udp_port: 0\n  tcp_port: 0\n  realm: cardea.test\n  \
         trunks:\n    - name: pstn\n      uri: \"sip:127.0.0.9:5060\"\n      inbound: [127.0.0.1]\n      \
         probe: 0\n  dialplan: \"{}\"\n{extra}",
        plan.display()
    ));
    let sip_at = cardea
        .listeners
        .sip_udp
        .clone()
        .expect("a SIP UDP listener");
    let sip_port: u16 = sip_at.rsplit(':').next().unwrap().parse().unwrap();
    (cardea, room, sip_port)
}
