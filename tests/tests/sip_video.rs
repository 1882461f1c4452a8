//! Video through the SIP plugin (`janus.plugin.sip`): a webrtc-rs peer (the `webrtc` crate, a
//! browser stand-in that shares no code with Cardea) calls SIPp over the Janus HTTP API with
//! PCMU and VP8, as `sip_plugin.rs` does with audio alone.
//!
//! - `sip_plugin_video_call_relays_vp8_and_key_frame_requests`: a PCMU + VP8 call to
//!   `sipp/plugin_uas_echo_video.xml` (SIPp with `-rtp_echo`, which echoes RTP on its audio
//!   port and on that port + 2, the video port of its answer); the peer's VP8 comes back, and
//!   an RTCP PLI sent to the video RTCP port of Cardea's SIP offer (as a SIP phone asks for a
//!   key frame) reaches the peer as a key frame request for its video SSRC; so does the
//!   callee's INFO asking for a `picture_fast_update` (RFC 5168), as video phones send it.
//!
//! The case, its report and the SIPp runs are `tests/src/sip_case.rs`'s (included as a
//! module); the video-capable peer, with the interceptor that hands inbound PLI and FIR to the
//! test, is `common/peer.rs`'s. webrtc-rs hands them to the track with the id of the sending
//! track they are about, remote tracks first; Cardea's answer repeats the peer's msid, so the
//! video coming back has the local video track's id and the requests arrive there
//! ([`PeerState::remote_track_keyframe_requests`]): both places count. A failure reports the
//! events of the session, the SDPs exchanged (the peer's, Cardea's answer, and Cardea's SIP offer and SIPp's answer from the
//! callee's trace), the packet and request counts, and the SIPp run (Cardea's log is printed
//! by the harness).
//!
//! `sipp` must be on PATH (`apt-get install sip-tester`).

mod common;
#[path = "../src/sip_case.rs"]
mod sip_case;

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::peer::{
    local_offer, local_track, pcmu, peer_connection, rtp, vp8, vp8_frame, KeyframeRequest,
    PeerOptions, PeerState, VP8_PT,
};
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use serde_json::json;
use sip_case::{connected_within, one_at_a_time, traced, SipCase, AUDIO_SSRC, STEP, TEST_WITHIN};
use tokio::net::UdpSocket;
use tokio::time::{sleep, timeout, Instant};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::RTCSessionDescription;

/// The peer's VP8 SSRC: the key frame requests must name it.
const VIDEO_SSRC: u32 = 0x7676_7676;
/// Every VP8 payload the peer sends ends with this tag and the packet's index (big endian).
const TAG: u8 = b'V';
/// VP8 frames a second (an inter frame is one packet, a key frame three).
const FRAME_RATE: u64 = 30;
/// How long the VP8 echo is measured.
const ECHO_FOR: Duration = Duration::from_secs(3);
/// How long to wait for the last echoes after [`ECHO_FOR`].
const SETTLE: Duration = Duration::from_secs(1);
/// The SSRCs the test's PLI names as its sender and as the media source (any will do: the
/// request is about the one video stream Cardea sends to the SIP side).
const PLI_SENDER_SSRC: u32 = 0x5150_1150;
const PLI_MEDIA_SSRC: u32 = 0x0bad_cafe;
/// How long no key frame request may reach the peer before the PLI.
const QUIET: Duration = Duration::from_secs(1);
/// The PLI is resent this often (Cardea relays at most one request per stream per ~500 ms)…
const PLI_EVERY: Duration = Duration::from_millis(200);
/// …until the peer gets a request, for at most this long.
const PLI_WITHIN: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_plugin_video_call_relays_vp8_and_key_frame_requests() {
    let _one_at_a_time = one_at_a_time().await;
    timeout(TEST_WITHIN, video_call())
        .await
        .expect("the video call test did not finish in time");
}

async fn video_call() {
    let mut case = SipCase::start("plugin-video-call").await;
    case.guest().await;
    let (callee, callee_port) = case.spawn_sipp(
        "callee",
        "plugin_uas_echo_video",
        &["-rtp_echo", "-mi", "127.0.0.1"],
    );

    // The browser stand-in: PCMU on audio (opus left out of the offer), VP8 on video, inbound
    // PLI and FIR handed to the video track.
    let peer = PeerState::new();
    let options = PeerOptions {
        pcmu: true,
        keyframe_requests: true,
        ..PeerOptions::default()
    };
    let pc = peer_connection(&case.cardea, Arc::clone(&peer), options).await;
    let audio = local_track("sip-video", RtpCodecKind::Audio, pcmu(), AUDIO_SSRC, None);
    pc.add_track(Arc::clone(&audio) as Arc<dyn TrackLocal>)
        .await
        .expect("add_track (audio)");
    for transceiver in pc.get_transceivers().await {
        transceiver
            .set_codec_preferences(vec![pcmu()])
            .await
            .expect("set_codec_preferences (PCMU alone on audio)");
    }
    let video = local_track("sip-video", RtpCodecKind::Video, vp8(), VIDEO_SSRC, None);
    pc.add_track(Arc::clone(&video) as Arc<dyn TrackLocal>)
        .await
        .expect("add_track (video)");
    // Key frame requests are counted from the start: Cardea asks for one when it bridges.
    let requests = Arc::new(Requests::new(Arc::clone(&peer)));
    let watcher = tokio::spawn(watch_requests(Arc::clone(&video), Arc::clone(&requests)));

    let offer = local_offer(&*pc, &peer, None, "the peer's offer").await;
    case.note("the peer's offer", &offer);
    case.request(
        json!({"request": "call", "uri": format!("sip:bob@127.0.0.1:{callee_port}")}),
        Some(json!({"type": "offer", "sdp": offer, "trickle": false})),
    )
    .await;
    case.wait_event("calling", STEP, &["hangup"]).await;
    let accepted = case.wait_event("accepted", STEP, &["hangup"]).await;
    let answer = case.jsep_sdp(&accepted, "answer");
    case.note("Cardea's answer (accepted)", &answer);
    if !answer.lines().any(|l| l.starts_with("m=video ")) {
        case.fail("Cardea's answer to the peer has no m=video line");
    }
    if let Err(e) = pc
        .set_remote_description(RTCSessionDescription::answer(answer).expect("SDP"))
        .await
    {
        case.fail(&format!("the peer rejected the answer: {e}"));
    }
    if let Err(state) = connected_within(&peer.connection, STEP)
        .await
        .map_err(|e| format!("{e} (states {:?})", peer.history.lock().unwrap()))
    {
        case.fail(&format!("ICE/DTLS did not connect: {state}"));
    }

    // Cardea's SIP side as its INVITE announced it, and SIPp's answer, from the trace (given
    // a moment to reach the file).
    let traced_by = Instant::now() + Duration::from_secs(2);
    let (invite_sdp, sipp_answer) = loop {
        let (invite, answer) = sip_sdps(&case.sipps[callee].messages());
        if (!invite.is_empty() && !answer.is_empty()) || Instant::now() >= traced_by {
            break (invite, answer);
        }
        sleep(Duration::from_millis(50)).await;
    };
    case.note("Cardea's SIP offer (the INVITE SIPp received)", &invite_sdp);
    case.note("SIPp's answer (its 200 OK)", &sipp_answer);
    let sip_video = match SipVideo::read(&invite_sdp) {
        Ok(v) => v,
        Err(e) => case.fail(&format!("Cardea's SIP offer: {e}")),
    };
    let sipp_video = match SipVideo::read(&sipp_answer) {
        Ok(v) => v,
        Err(e) => case.fail(&format!("SIPp's answer ([media_port+2] for video): {e}")),
    };
    eprintln!(
        "Cardea's SIP offer: video RTP at {}, RTCP at {} ({}), payload types {:?}; SIPp's \
         answer: video RTP at {}, payload types {:?}",
        sip_video.rtp,
        sip_video.rtcp,
        match (sip_video.rtcp_attribute, sip_video.rtcp_mux) {
            (true, _) => "a=rtcp",
            (false, true) => "a=rtcp-mux",
            (false, false) => "RTP port + 1",
        },
        sip_video.payload_types,
        sipp_video.rtp,
        sipp_video.payload_types,
    );

    // The peer sends VP8 from now on, answering key frame requests as an encoder would.
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sender = tokio::spawn(send_vp8(
        Arc::clone(&video),
        Arc::clone(&requests),
        Arc::clone(&sent),
        Arc::clone(&stop),
    ));

    // 1. SIPp echoes the VP8 on its video port: it comes back through Cardea.
    sleep(ECHO_FOR).await;
    let sent_in_window = sent.load(Ordering::Relaxed);
    let settle = Instant::now() + SETTLE;
    while echoed(&peer, sent_in_window).0 < sent_in_window && Instant::now() < settle {
        sleep(Duration::from_millis(50)).await;
    }
    let (distinct, packets, pts) = echoed(&peer, sent_in_window);
    eprintln!(
        "video echo: sent {sent_in_window} VP8 packets in {ECHO_FOR:?}, {distinct} of them \
         came back ({packets} VP8 packets received, payload types {pts:?})"
    );
    if distinct * 2 < sent_in_window || sent_in_window == 0 {
        stop_and_fail(
            &mut case,
            &stop,
            &format!(
                "{distinct} of {sent_in_window} VP8 packets came back through the SIP callee's \
                 echo (at least half expected; {packets} VP8 packets received, payload types \
                 {pts:?})"
            ),
        );
    }
    if pts.iter().any(|pt| *pt != VP8_PT) {
        stop_and_fail(
            &mut case,
            &stop,
            &format!("video came back with other payload types than VP8's {VP8_PT}: {pts:?}"),
        );
    }

    // 2. The SIP side asks for a key frame: RR + PLI to Cardea's video RTCP port. First a
    // quiet second: any request of Cardea's own (at the start) is past its rate limit, and
    // none may come without a PLI, or the PLI's could not be told apart.
    let quiet_from = requests.count();
    // Cardea asked on its own when the call was bridged (the SIP side decodes nothing
    // before a key frame), once DTLS was up: a request made before then is lost.
    if quiet_from == 0 {
        stop_and_fail(
            &mut case,
            &stop,
            "no key frame request reached the peer when the video call was bridged",
        );
    }
    sleep(QUIET).await;
    let before = requests.count();
    if before != quiet_from {
        stop_and_fail(
            &mut case,
            &stop,
            &format!(
                "the peer got {} key frame request(s) in {QUIET:?} with no PLI from the SIP \
                 side (Cardea asking on its own: the PLI's request could not be told apart): \
                 {:?}",
                before - quiet_from,
                requests.all()
            ),
        );
    }
    let socket = Arc::new(
        UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("binding the PLI socket"),
    );
    // Cardea latches its video RTCP to the first valid RTCP it hears: what it sends back to
    // this socket shows that the PLI was read (reported on failure).
    let back = Arc::new(Mutex::new(Vec::<Datagram>::new()));
    let listener = tokio::spawn(listen(Arc::clone(&socket), Arc::clone(&back)));
    let compound = rr_and_pli(PLI_SENDER_SSRC, PLI_MEDIA_SSRC);
    let first_sent = Instant::now();
    let mut plis = 0;
    while requests.count() == before && first_sent.elapsed() < PLI_WITHIN {
        if let Err(e) = socket.send_to(&compound, sip_video.rtcp).await {
            stop_and_fail(
                &mut case,
                &stop,
                &format!("sending the PLI to {}: {e}", sip_video.rtcp),
            );
        }
        plis += 1;
        let next = Instant::now() + PLI_EVERY;
        while requests.count() == before && Instant::now() < next {
            sleep(Duration::from_millis(10)).await;
        }
    }
    // A moment for any further request (the rate limit lets one through per ~500 ms).
    sleep(PLI_EVERY).await;
    let all = requests.all();
    let fresh: Vec<&KeyframeRequest> = all[before..].iter().map(|(_, r)| r).collect();
    let timeline: Vec<String> = all
        .iter()
        .map(|(track, r)| {
            let ms = |d: Duration| d.as_millis() as i64;
            let at = if r.at >= first_sent {
                ms(r.at - first_sent)
            } else {
                -ms(first_sent - r.at)
            };
            format!("{} for {:x?} on the {track} at {at:+} ms", r.what, r.ssrcs)
        })
        .collect();
    eprintln!(
        "key frame requests at the peer: {before} before the PLI, {} after {plis} PLI(s) to \
         {} (the first {:?} after the first PLI); times from the first PLI: {timeline:?}",
        fresh.len(),
        sip_video.rtcp,
        fresh.first().map(|r| r.at.duration_since(first_sent)),
    );
    let rtcp_back = describe_rtcp(&back.lock().unwrap());
    eprintln!("RTCP Cardea sent to the PLI socket: {rtcp_back}");
    if fresh.is_empty() {
        stop_and_fail(
            &mut case,
            &stop,
            &format!(
                "no key frame request reached the peer within {PLI_WITHIN:?} of {plis} RR + \
                 PLI sent every {PLI_EVERY:?} to Cardea's SIP-side video RTCP port {} ({} \
                 before them); RTCP Cardea sent back to the PLI socket: {rtcp_back}",
                sip_video.rtcp, before
            ),
        );
    }
    if !fresh.iter().any(|r| r.ssrcs.contains(&VIDEO_SSRC)) {
        stop_and_fail(
            &mut case,
            &stop,
            &format!(
                "the key frame requests after the PLI do not name the peer's video SSRC \
                 {VIDEO_SSRC:#x}: {:?}",
                fresh.iter().map(|r| (r.what, &r.ssrcs)).collect::<Vec<_>>()
            ),
        );
    }

    // 3. A video phone's key frame request by INFO (RFC 5168 picture_fast_update): the
    // test's own INFO tells the callee to send it, after Cardea's relay interval.
    sleep(Duration::from_millis(700)).await;
    let before = requests.count();
    case.request(
        json!({"request": "info", "type": "text/plain", "content": "send the fast update"}),
        None,
    )
    .await;
    let info = case.wait_event("info", STEP, &["hangup"]).await;
    let result = &info["plugindata"]["data"]["result"];
    if result["type"] != "application/media_control+xml" {
        stop_and_fail(
            &mut case,
            &stop,
            &format!("the callee's INFO should come as `info` with its type: {info}"),
        );
    }
    let asked_from = Instant::now();
    while requests.count() == before && asked_from.elapsed() < Duration::from_secs(3) {
        sleep(Duration::from_millis(20)).await;
    }
    if requests.count() == before {
        stop_and_fail(
            &mut case,
            &stop,
            &format!(
                "the callee's INFO picture_fast_update brought no key frame request to the \
                 peer within 3 s ({before} before it): {info}"
            ),
        );
    }
    eprintln!(
        "INFO picture_fast_update: a key frame request reached the peer {:?} after the info \
         event",
        asked_from.elapsed()
    );

    // 4. Hang up.
    stop.store(true, Ordering::Relaxed);
    let _ = sender.await;
    watcher.abort();
    listener.abort();
    eprintln!(
        "the peer sent {} VP8 packets in all",
        sent.load(Ordering::Relaxed)
    );
    case.hang_up().await;
    // The callee got the BYE and answered it.
    case.expect_sipp_success(callee, STEP).await;
    case.assert_no_errors();
    let _ = timeout(Duration::from_secs(3), pc.close()).await;
    case.detach().await;
    case.close().await;
}

/// Stops the VP8 sender, then fails the case with `problem`.
fn stop_and_fail(case: &mut SipCase, stop: &AtomicBool, problem: &str) -> ! {
    stop.store(true, Ordering::Relaxed);
    case.fail(problem)
}

/// The VP8 the peer received back: how many of the packets with an index below `sent` came
/// back (distinct), how many VP8 packets arrived in all, and their payload types.
fn echoed(peer: &PeerState, sent: usize) -> (usize, usize, HashSet<u8>) {
    let got = peer.received(RtpCodecKind::Video);
    let distinct: HashSet<u16> = got
        .iter()
        .filter(|g| g.tag() == Some(TAG))
        .filter_map(|g| g.index())
        .filter(|i| usize::from(*i) < sent)
        .collect();
    let pts = got.iter().map(|g| g.pt).collect();
    (distinct.len(), got.len(), pts)
}

/// The SDP of Cardea's INVITE and of SIPp's 200 OK in the callee's `-trace_msg` file (empty
/// when missing; the scenario checked the offer's m-lines).
fn sip_sdps(trace: &str) -> (String, String) {
    let body = |messages: Vec<&str>| {
        messages
            .first()
            .and_then(|m| m.find("v=0").map(|at| m[at..].trim().to_owned()))
            .unwrap_or_default()
    };
    (
        body(traced(trace, "INVITE ")),
        body(traced(trace, "SIP/2.0 200")),
    )
}

/// The video m-line of Cardea's SIP offer: where its RTP leg takes video RTP and RTCP.
#[derive(Debug)]
struct SipVideo {
    rtp: SocketAddr,
    /// `a=rtcp` (RFC 3605) if present, else the RTP port + 1, or the RTP port with
    /// `a=rtcp-mux`.
    rtcp: SocketAddr,
    rtcp_attribute: bool,
    rtcp_mux: bool,
    payload_types: Vec<u8>,
}

impl SipVideo {
    fn read(sdp: &str) -> Result<SipVideo, String> {
        let mut session_ip: Option<IpAddr> = None;
        let mut video_ip: Option<IpAddr> = None;
        let mut section = "";
        let mut port: Option<u16> = None;
        let mut payload_types = Vec::new();
        let mut rtcp_port: Option<u16> = None;
        let mut rtcp_mux = false;
        for line in sdp.lines().map(str::trim) {
            if let Some(m) = line.strip_prefix("m=") {
                let fields: Vec<&str> = m.split_whitespace().collect();
                section = if fields.first() == Some(&"video") && port.is_none() {
                    port = fields.get(1).and_then(|p| p.parse().ok());
                    payload_types = fields
                        .iter()
                        .skip(3)
                        .filter_map(|f| f.parse().ok())
                        .collect();
                    "video"
                } else {
                    "other"
                };
            } else if let Some(c) = line.strip_prefix("c=IN IP4 ") {
                let ip = c.trim().parse().ok();
                match section {
                    "" => session_ip = ip,
                    "video" => video_ip = ip,
                    _ => {}
                }
            } else if section == "video" {
                if let Some(rtcp) = line.strip_prefix("a=rtcp:") {
                    rtcp_port = rtcp.split_whitespace().next().and_then(|p| p.parse().ok());
                } else if line == "a=rtcp-mux" {
                    rtcp_mux = true;
                }
            }
        }
        let port = port
            .filter(|p| *p != 0)
            .ok_or("no m=video line with a port")?;
        let ip = video_ip.or(session_ip).ok_or("no c=IN IP4 for video")?;
        let rtcp = match (rtcp_port, rtcp_mux) {
            (Some(p), _) => p,
            (None, true) => port,
            (None, false) => port + 1,
        };
        Ok(SipVideo {
            rtp: SocketAddr::new(ip, port),
            rtcp: SocketAddr::new(ip, rtcp),
            rtcp_attribute: rtcp_port.is_some(),
            rtcp_mux,
            payload_types,
        })
    }
}

/// A compound RTCP packet as a SIP phone sends it to ask for a key frame: an empty receiver
/// report (RFC 3550 §6.4.2), then a Picture Loss Indication (RFC 4585 §6.3.1).
fn rr_and_pli(sender: u32, media: u32) -> Vec<u8> {
    let mut packet = vec![0x80, 201, 0, 1];
    packet.extend_from_slice(&sender.to_be_bytes());
    packet.extend_from_slice(&[0x81, 206, 0, 2]);
    packet.extend_from_slice(&sender.to_be_bytes());
    packet.extend_from_slice(&media.to_be_bytes());
    packet
}

/// A datagram received, and when (from the start of [`listen`]).
type Datagram = (Duration, Vec<u8>);

/// Keeps what arrives on `socket`, with its time since the start.
async fn listen(socket: Arc<UdpSocket>, back: Arc<Mutex<Vec<Datagram>>>) {
    let start = Instant::now();
    let mut buf = vec![0u8; 2048];
    while let Ok((n, _)) = socket.recv_from(&mut buf).await {
        back.lock()
            .unwrap()
            .push((start.elapsed(), buf[..n].to_vec()));
    }
}

/// The datagrams received, each as its time and the RTCP packet types in it.
fn describe_rtcp(datagrams: &[Datagram]) -> String {
    if datagrams.is_empty() {
        return "none".to_owned();
    }
    let described: Vec<String> = datagrams
        .iter()
        .map(|(at, d)| {
            let mut types = Vec::new();
            let mut rest = d.as_slice();
            while rest.len() >= 4 {
                types.push(rest[1]);
                let len = (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1) * 4;
                rest = rest.get(len..).unwrap_or_default();
            }
            format!("{at:?}: {} bytes, RTCP types {types:?}", d.len())
        })
        .collect();
    format!("{} datagram(s): {}", datagrams.len(), described.join("; "))
}

/// The key frame requests the peer got: those webrtc-rs handed to the local video track, and
/// those it handed to the remote video track (see
/// [`PeerState::remote_track_keyframe_requests`]: Cardea's answer repeats the peer's msid, so
/// the track coming back has the local track's id).
struct Requests {
    local_track: Mutex<Vec<KeyframeRequest>>,
    peer: Arc<PeerState>,
}

impl Requests {
    fn new(peer: Arc<PeerState>) -> Requests {
        Requests {
            local_track: Mutex::new(Vec::new()),
            peer,
        }
    }

    fn count(&self) -> usize {
        self.local_track.lock().unwrap().len()
            + self
                .peer
                .remote_track_keyframe_requests
                .lock()
                .unwrap()
                .len()
    }

    /// Every request so far, in arrival order, with the track it was handed to.
    fn all(&self) -> Vec<(&'static str, KeyframeRequest)> {
        let local = self.local_track.lock().unwrap().clone();
        let remote = self
            .peer
            .remote_track_keyframe_requests
            .lock()
            .unwrap()
            .clone();
        let mut all: Vec<(&'static str, KeyframeRequest)> = local
            .into_iter()
            .map(|r| ("local track", r))
            .chain(remote.into_iter().map(|r| ("remote track", r)))
            .collect();
        all.sort_by_key(|(_, r)| r.at);
        all
    }
}

/// Records every PLI and FIR the interceptor hands to the local video track.
async fn watch_requests(video: Arc<TrackLocalStaticRTP>, requests: Arc<Requests>) {
    while let Some(event) = video.poll().await {
        let TrackLocalEvent::OnRtcpPacket(packets) = event else {
            continue;
        };
        let got = packets
            .iter()
            .filter_map(|p| KeyframeRequest::of(p.as_ref()));
        requests.local_track.lock().unwrap().extend(got);
    }
}

/// [`FRAME_RATE`] VP8 frames a second on [`VIDEO_SSRC`] until `stop`: a key frame first and
/// whenever one was asked for, inter frames otherwise; every payload ends with [`TAG`] and
/// its index. Counts the packets in `sent` (the next packet's index).
async fn send_vp8(
    track: Arc<TrackLocalStaticRTP>,
    requests: Arc<Requests>,
    sent: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / FRAME_RATE));
    let mut index: u16 = 0;
    let mut frame: u32 = 0;
    let mut answered = 0;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let asked = requests.count();
        let key = frame == 0 || asked > answered;
        answered = asked;
        let packets = vp8_frame(key, frame);
        let last = packets.len() - 1;
        for (i, mut payload) in packets.into_iter().enumerate() {
            payload.push(TAG);
            payload.extend_from_slice(&index.to_be_bytes());
            let packet = rtp(
                VP8_PT,
                7000u16.wrapping_add(index),
                frame.wrapping_mul(90_000 / FRAME_RATE as u32),
                VIDEO_SSRC,
                i == last,
                payload,
            );
            // A failed write counts as sent: it is still a packet that did not come back.
            let _ = track.write_rtp(packet).await;
            sent.fetch_add(1, Ordering::Relaxed);
            index = index.wrapping_add(1);
        }
        frame += 1;
    }
}
