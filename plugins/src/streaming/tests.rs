use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::*;
use crate::{Ports, SourceInput, SourceIo};

/// Ports without sockets: 0 becomes 30000, 30002...; a port in `taken` fails.
#[derive(Default)]
struct FakePorts {
    bound: Mutex<Vec<SocketAddr>>,
    taken: Vec<u16>,
}

impl SourceIo for FakePorts {
    fn bind(&self, port: u16, _iface: Option<&str>) -> Result<SocketAddr, String> {
        if self.taken.contains(&port) {
            return Err("Address already in use".into());
        }
        let mut bound = self.bound.lock().unwrap();
        let port = if port == 0 {
            30_000 + 2 * bound.len() as u16
        } else {
            port
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        bound.push(addr);
        Ok(addr)
    }

    fn release(&self, local: SocketAddr) {
        self.bound.lock().unwrap().retain(|a| *a != local);
    }

    fn check_file(&self, path: &str, _codec: &str) -> Result<(), String> {
        if path.starts_with("/missing") {
            return Err(format!("{path}: No such file or directory"));
        }
        Ok(())
    }

    fn create_recording(&self, path: &str) -> Result<(), String> {
        if path.starts_with("/missing") {
            return Err(format!("{path}: Permission denied"));
        }
        Ok(())
    }
}

fn plugin_with(settings: Value, taken: Vec<u16>) -> (Streaming, Arc<FakePorts>) {
    let ports = Arc::new(FakePorts {
        taken,
        ..FakePorts::default()
    });
    let p = Streaming::new(Some(&settings), Some(Ports(ports.clone())));
    (p, ports)
}

fn plugin() -> Streaming {
    plugin_with(json!({ "mountpoints": [] }), vec![]).0
}

fn sync(p: &mut Streaming, ctx: &mut Ctx, body: Value) -> Value {
    crate::dispatch::test_support::sync(p, ctx, 1, body)
}

/// Sends an async request on `handle`; returns the event's data and JSEP action.
fn event(
    p: &mut Streaming,
    ctx: &mut Ctx,
    handle: HandleId,
    body: Value,
    jsep: Option<Jsep>,
) -> (Value, Option<JsepAction>) {
    crate::dispatch::test_support::event(p, ctx, handle, body, jsep)
}

/// The streams of the source a create opened (the first `OpenSource` command).
fn opened_streams(ctx: &Ctx) -> Vec<crate::SourceSpec> {
    ctx.commands
        .iter()
        .find_map(|c| match c {
            Command::OpenSource { streams, .. } => Some(streams.clone()),
            _ => None,
        })
        .expect("a source is opened")
}

fn av(id: u64) -> Value {
    json!({
        "request": "create", "type": "rtp", "id": id, "secret": "s",
        "media": [
            { "type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus" },
            { "type": "video", "mid": "v", "port": 0, "pt": 100, "codec": "vp8" },
        ]
    })
}

#[test]
fn create_binds_ports_and_opens_a_source() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    let r = sync(&mut p, &mut ctx, av(7));
    assert_eq!(r["streaming"], "created");
    assert_eq!(r["stream"]["id"], 7);
    assert_eq!(r["stream"]["ports"][0]["port"], 30000);
    assert_eq!(r["stream"]["ports"][1]["mid"], "v");
    let open = opened_streams(&ctx);
    assert_eq!(open.len(), 2);
    assert_eq!(open[0].pt, Some(111));
    assert_eq!(open[1].clock_rate, 90_000);
    let again = sync(&mut p, &mut ctx, av(7));
    assert_eq!(again["error_code"], 456);
}

#[test]
fn create_errors_name_the_problem() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    let r = sync(&mut p, &mut ctx, json!({ "request": "create" }));
    assert_eq!(
        (r["error_code"].clone(), r["error"].clone()),
        (json!(453), json!("Missing element (type)"))
    );
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "rtsp", "rtsp_failcheck": false }),
    );
    assert_eq!(r["error"], "Missing element (url)");
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "rtsp", "url": "rtsp://127.0.0.1/x" }),
    );
    assert_eq!(r["error_code"], 456, "neither audio nor video: {r}");
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "rtp", "media": [{ "type": "audio", "mid": "a", "port": 0, "pt": 0, "codec": "vp8" }] }),
    );
    assert_eq!(r["error_code"], 456);
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "rtp", "media": [{ "type": "audio", "port": 0 }] }),
    );
    assert_eq!(r["error_code"], 453);
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "rtp", "media": [{ "type": "audio", "mid": "a", "port": 0, "pt": 0, "codec": "pcmu", "mcast": "239.1.1.1" }] }),
    );
    assert!(r["error"].as_str().unwrap().contains("needs a port"), "{r}");
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "rtp", "audio": true, "audioport": 5000, "audiopt": 0, "audiocodec": "pcmu", "audiomcast": "bogus" }),
    );
    assert_eq!(r["error_code"], 456, "{r}");
    let r = sync(&mut p, &mut ctx, json!({ "request": "nope" }));
    assert_eq!(r["error_code"], 452);
}

#[test]
fn a_taken_port_fails_the_create_and_frees_the_others() {
    let (mut p, ports) = plugin_with(json!({ "mountpoints": [] }), vec![5004]);
    let mut ctx = Ctx::default();
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "rtp", "media": [
            { "type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus" },
            { "type": "video", "mid": "v", "port": 5004, "pt": 100, "codec": "vp8" },
        ]}),
    );
    assert_eq!(r["error_code"], 456, "{r}");
    assert!(r["error"].as_str().unwrap().contains("5004"));
    assert!(ports.bound.lock().unwrap().is_empty());
}

#[test]
fn the_sample_mountpoint_exists_without_configuration_and_is_skipped_when_its_ports_are_taken() {
    let (mut p, _) = plugin_with(Value::Null, vec![]);
    let mut ctx = Ctx::default();
    let list = sync(&mut p, &mut ctx, json!({ "request": "list" }));
    assert_eq!(list["list"][0]["id"], 1);
    assert_eq!(list["list"][0]["media"][1]["mid"], "v");
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::OpenSource { .. })));
    let (mut p, _) = plugin_with(Value::Null, vec![5002]);
    let list = sync(&mut p, &mut Ctx::default(), json!({ "request": "list" }));
    assert_eq!(list["list"], json!([]));
}

#[test]
fn info_shows_admin_fields_only_with_the_secret() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    sync(&mut p, &mut ctx, av(3));
    let r = sync(&mut p, &mut ctx, json!({ "request": "info", "id": 3 }));
    assert!(r["info"].get("secret").is_none());
    assert_eq!(r["info"]["media"][0]["rtpmap"], "opus/48000/2");
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "info", "id": 3, "secret": "s" }),
    );
    assert_eq!(r["info"]["secret"], "s");
    assert_eq!(r["info"]["viewers"], 0);
    let r = sync(&mut p, &mut ctx, json!({ "request": "destroy", "id": 3 }));
    assert_eq!(r["error_code"], 453);
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "destroy", "id": 3, "secret": "x" }),
    );
    assert_eq!(r["error_code"], 457);
    let r = sync(&mut p, &mut ctx, json!({ "request": "info", "id": 4 }));
    assert_eq!(r["error_code"], 455);
}

fn answer() -> Jsep {
    Jsep {
        kind: JsepType::Answer,
        sdp: "v=0".into(),
        trickle: None,
        update: false,
        e2ee: false,
    }
}

#[test]
fn a_viewer_watches_starts_pauses_switches_and_stops() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    sync(&mut p, &mut ctx, av(3));
    sync(&mut p, &mut ctx, av(4));
    let (data, jsep) = event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "watch", "id": 3 }),
        None,
    );
    assert_eq!(data["result"]["status"], "preparing");
    let Some(JsepAction::Offer { media, .. }) = jsep else {
        panic!("no offer")
    };
    assert_eq!(media.len(), 2);
    assert_eq!(media[1].codecs[0].pt, 96, "Cardea's own VP8 number");
    p.offered(9, &["m0".into(), "m1".into()], &mut Value::Null);
    let (data, _) = event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "watch", "id": 3 }),
        None,
    );
    assert_eq!(data["error_code"], 460);

    ctx.commands.clear();
    let (data, _) = event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "start" }),
        Some(answer()),
    );
    assert_eq!(data["result"]["status"], "starting");
    let routes: Vec<_> = ctx
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::RouteSource {
                mid,
                to_mid,
                enabled,
                ..
            } => Some((mid.clone(), to_mid.clone(), *enabled)),
            _ => None,
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("a".into(), "m0".into(), true),
            ("v".into(), "m1".into(), true)
        ]
    );
    let accept = ctx
        .commands
        .iter()
        .position(|c| matches!(c, Command::AcceptAnswer { .. }));
    let route = ctx
        .commands
        .iter()
        .position(|c| matches!(c, Command::RouteSource { .. }));
    assert!(accept < route, "the answer is applied before media flows");

    ctx.commands.clear();
    p.setup_media(&mut ctx, 9);
    assert!(
        matches!(&ctx.commands[0], Command::PushEvent { data, .. } if data["result"]["status"] == "started")
    );

    let (data, _) = event(&mut p, &mut ctx, 9, json!({ "request": "pause" }), None);
    assert_eq!(data["result"]["status"], "pausing");
    let (data, _) = event(&mut p, &mut ctx, 9, json!({ "request": "start" }), None);
    assert_eq!(data["result"]["status"], "started");

    ctx.commands.clear();
    let (data, _) = event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "configure", "streams": [{ "mid": "m1", "send": false }] }),
        None,
    );
    assert_eq!(data["result"]["event"], "configured");
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::RouteSource { mid, enabled: false, .. } if mid == "v")));

    let (data, _) = event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "switch", "id": 4 }),
        None,
    );
    assert_eq!(data["result"]["switched"], "ok");
    let info = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "info", "id": 4, "secret": "s" }),
    );
    assert_eq!(info["info"]["viewers"], 1);

    let (data, _) = event(&mut p, &mut ctx, 9, json!({ "request": "stop" }), None);
    assert_eq!(data["result"]["status"], "stopping");
    ctx.commands.clear();
    p.hangup_media(&mut ctx, 9);
    assert!(
        matches!(&ctx.commands.last().unwrap(), Command::PushEvent { data, .. } if data["result"]["status"] == "stopped")
    );
    let (data, _) = event(&mut p, &mut ctx, 9, json!({ "request": "stop" }), None);
    assert_eq!(data["result"]["status"], "idle");
}

#[test]
fn switching_to_another_shape_is_refused_and_destroy_stops_viewers() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    sync(&mut p, &mut ctx, av(3));
    sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "rtp", "id": 5, "media": [{ "type": "audio", "mid": "a", "port": 0, "pt": 0, "codec": "pcmu" }] }),
    );
    event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "watch", "id": 3 }),
        None,
    );
    let (data, _) = event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "switch", "id": 5 }),
        None,
    );
    assert_eq!(data["error_code"], 458);
    ctx.commands.clear();
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "destroy", "id": 3, "secret": "s" }),
    );
    assert_eq!(r["destroyed"], 3);
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::ClosePc { handle: 9 })));
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::CloseSource { .. })));
}

#[test]
fn configuration_errors_name_the_mountpoint() {
    let e = Settings::parse(Some(
        &json!({ "mountpoints": [{ "type": "rtp", "id": 2 }] }),
    ))
    .unwrap_err();
    assert!(e.contains("mountpoints[0] (id 2)"), "{e}");
    let e = Settings::parse(Some(&json!({ "mountpoints": [{ "type": "rtp" }] }))).unwrap_err();
    assert!(e.contains("Missing element (id)"), "{e}");
    assert!(Settings::parse(Some(&json!({ "mountpoints": 3 }))).is_err());
}

#[test]
fn file_mountpoints_play_live_for_all_and_on_demand_for_each_viewer() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "live", "id": 20, "filename": "/tmp/music.opus" }),
    );
    assert_eq!(r["streaming"], "created", "{r}");
    let opened = |ctx: &Ctx| {
        ctx.commands
            .iter()
            .filter_map(|c| match c {
                Command::OpenSource {
                    source, streams, ..
                } => Some((*source, streams.clone())),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let live = opened(&ctx);
    assert_eq!(live.len(), 1);
    assert_eq!(
        live[0].1[0].input,
        SourceInput::File("/tmp/music.opus".into())
    );
    assert_eq!(live[0].1[0].pt, Some(111));

    ctx.commands.clear();
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "ondemand", "id": 21, "filename": "/tmp/a.alaw" }),
    );
    assert_eq!(r["streaming"], "created");
    assert!(
        opened(&ctx).is_empty(),
        "no playback before a viewer starts"
    );
    let info = sync(&mut p, &mut ctx, json!({ "request": "info", "id": 21 }));
    assert_eq!(info["info"]["type"], "on demand");
    assert_eq!(info["info"]["media"][0]["codec"], "pcma");

    for viewer in [8, 9] {
        event(
            &mut p,
            &mut ctx,
            viewer,
            json!({ "request": "watch", "id": 21 }),
            None,
        );
        p.offered(viewer, &["x".into()], &mut Value::Null);
        event(
            &mut p,
            &mut ctx,
            viewer,
            json!({ "request": "start" }),
            Some(answer()),
        );
    }
    let own = opened(&ctx);
    assert_eq!(own.len(), 2, "one playback per viewer");
    assert_ne!(own[0].0, own[1].0);
    let (data, _) = event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "switch", "id": 20 }),
        None,
    );
    assert_eq!(data["error_code"], 458);
    ctx.commands.clear();
    event(&mut p, &mut ctx, 9, json!({ "request": "stop" }), None);
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::CloseSource { source } if *source == own[1].0)));

    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "live", "filename": "/missing.opus" }),
    );
    assert_eq!(r["error_code"], 456);
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "live", "filename": "x.wav" }),
    );
    assert_eq!(r["error_code"], 456);
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "ondemand" }),
    );
    assert_eq!(r["error_code"], 453);
}

fn rtsp_create(p: &mut Streaming, ctx: &mut Ctx, id: u64) -> Reply {
    p.create_session(3).ok();
    p.handle_message(
        ctx,
        Message {
            handle: 3,
            transaction: Some("rt".into()),
            body: json!({ "request": "create", "type": "rtsp", "id": id,
                          "url": "rtsp://127.0.0.1:8554/cam", "rtsp_user": "u", "rtsp_pwd": "p",
                          "audio": true, "video": true }),
            jsep: None,
        },
    )
}

fn pushed(ctx: &Ctx) -> Vec<(Option<String>, Value)> {
    ctx.commands
        .iter()
        .filter_map(|c| match c {
            Command::PushEvent {
                transaction, data, ..
            } => Some((transaction.clone(), data.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn an_rtsp_mountpoint_is_created_once_the_server_describes_it() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    assert!(matches!(rtsp_create(&mut p, &mut ctx, 40), Reply::Ack));
    let (source, spec) = ctx
        .commands
        .iter()
        .find_map(|c| match c {
            Command::OpenRtsp { source, spec } => Some((*source, spec.clone())),
            _ => None,
        })
        .expect("the core is asked to pull the presentation");
    assert_eq!(spec.credentials, Some(("u".into(), "p".into())));
    assert!(spec.audio.is_some() && spec.video.is_some() && spec.audio != spec.video);
    assert!(pushed(&ctx).is_empty(), "no answer before the server's");
    let tracks = [
        crate::RtspTrack {
            kind: crate::MediaKind::Video,
            codec: "h264".into(),
            pt: 96,
            clock_rate: 90_000,
            fmtp: Some("packetization-mode=1".into()),
        },
        crate::RtspTrack {
            kind: crate::MediaKind::Audio,
            codec: "mpeg4-generic".into(),
            pt: 97,
            clock_rate: 44_100,
            fmtp: None,
        },
    ];
    let mut ctx = Ctx::default();
    p.rtsp_described(&mut ctx, source, Ok(&tracks));
    let streams = opened_streams(&ctx);
    // AAC cannot be relayed to a browser: only the video is.
    assert_eq!(streams.len(), 1, "{streams:?}");
    assert_eq!(
        (streams[0].codec.as_str(), streams[0].pt),
        ("h264", Some(96))
    );
    let answers = pushed(&ctx);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].0.as_deref(), Some("rt"));
    assert_eq!(answers[0].1["streaming"], "created");
    let info = sync(&mut p, &mut ctx, json!({ "request": "info", "id": 40 }));
    assert_eq!(info["info"]["media"][1]["fmtp"], "packetization-mode=1");
    // A later connection changes nothing.
    let mut ctx = Ctx::default();
    p.rtsp_described(&mut ctx, source, Err("connection reset"));
    p.rtsp_described(&mut ctx, source, Ok(&tracks));
    assert!(ctx.commands.is_empty(), "{:?}", ctx.commands);
    let mut ctx = Ctx::default();
    let r = sync(&mut p, &mut ctx, json!({ "request": "destroy", "id": 40 }));
    assert_eq!(r["streaming"], "destroyed");
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::CloseRtsp { source: s } if *s == source)));
}

#[test]
fn an_rtsp_server_that_fails_fails_the_create() {
    let (mut p, ports) = plugin_with(json!({ "mountpoints": [] }), vec![]);
    let mut ctx = Ctx::default();
    assert!(matches!(rtsp_create(&mut p, &mut ctx, 41), Reply::Ack));
    let source = ctx
        .commands
        .iter()
        .find_map(|c| match c {
            Command::OpenRtsp { source, .. } => Some(*source),
            _ => None,
        })
        .unwrap();
    let mut ctx = Ctx::default();
    p.rtsp_described(&mut ctx, source, Err("DESCRIBE: 401 Unauthorized"));
    let answers = pushed(&ctx);
    assert_eq!(answers[0].1["error_code"], 456);
    assert!(
        answers[0].1["error"]
            .as_str()
            .unwrap()
            .contains("401 Unauthorized"),
        "{answers:?}"
    );
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::CloseRtsp { .. })));
    assert!(
        ports.bound.lock().unwrap().is_empty(),
        "its ports are freed"
    );
    let r = sync(&mut p, &mut ctx, json!({ "request": "exists", "id": 41 }));
    assert_eq!(r["exists"], false);
}

#[test]
fn a_data_stream_is_offered_as_a_data_channel_after_the_media() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "rtp", "id": 50, "media": [
            { "type": "data", "mid": "d", "port": 0, "datatype": "binary", "buffermsg": true },
            { "type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus" },
        ]}),
    );
    assert_eq!(r["stream"]["ports"][0]["type"], "data", "{r}");
    let spec = opened_streams(&ctx);
    assert_eq!(
        spec[0].data,
        Some(cardea_media::DataMode {
            binary: true,
            keep_last: true
        })
    );
    assert_eq!(spec[0].pt, None, "a data stream takes any datagram");
    let info = sync(&mut p, &mut ctx, json!({ "request": "info", "id": 50 }));
    assert_eq!(info["info"]["media"][0]["datatype"], "binary", "{info}");
    assert!(info["info"]["media"][0]["codec"].is_null(), "{info}");
    let mut ctx = Ctx::default();
    let (_, jsep) = event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "watch", "id": 50 }),
        None,
    );
    let Some(JsepAction::Offer { media, data, .. }) = jsep else {
        panic!("an offer: {jsep:?}");
    };
    assert!(data, "the offer has a data channel");
    assert_eq!(media.len(), 1, "one audio m-line");
    // The application m-line comes after the media in the offer.
    p.offered(9, &["0".into(), "1".into()], &mut json!({}));
    let q = p.query_session(9);
    assert_eq!(q["streams"][0]["type"], "data", "{q}");
    assert_eq!(q["streams"][0]["mid"], "1", "{q}");
    assert_eq!(q["streams"][1]["mid"], "0", "{q}");
    // Only one data stream, and a known datatype.
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "rtp", "data": true, "dataport": 0, "datatype": "json" }),
    );
    assert_eq!(r["error_code"], 456, "{r}");
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "rtp", "media": [
            { "type": "data", "mid": "d", "port": 0 }, { "type": "data", "mid": "e", "port": 0 }]}),
    );
    assert_eq!(r["error_code"], 456, "{r}");
}

#[test]
fn a_simulcast_video_is_three_source_streams_and_a_layer_choice() {
    let (mut p, ports) = plugin_with(json!({ "mountpoints": [] }), vec![]);
    let mut ctx = Ctx::default();
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "rtp", "id": 60, "video": true, "videoport": 0,
                "videopt": 100, "videocodec": "vp8", "videosimulcast": true,
                "videoport2": 0, "videoport3": 0 }),
    );
    assert_eq!(r["streaming"], "created", "{r}");
    assert_eq!(ports.bound.lock().unwrap().len(), 3);
    let specs = opened_streams(&ctx);
    let layers: Vec<(String, Option<String>)> = specs
        .iter()
        .map(|s| (s.mid.clone(), s.rid.clone()))
        .collect();
    assert_eq!(
        layers,
        [
            ("v".to_owned(), Some("0".to_owned())),
            ("v/1".to_owned(), Some("1".to_owned())),
            ("v/2".to_owned(), Some("2".to_owned()))
        ]
    );
    let mut ctx = Ctx::default();
    event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "watch", "id": 60 }),
        None,
    );
    p.offered(9, &["0".into()], &mut json!({}));
    let mut ctx = Ctx::default();
    event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "start" }),
        Some(answer()),
    );
    let select = ctx.commands.iter().find_map(|c| match c {
        Command::SelectLayer {
            rids, substream, ..
        } => Some((rids.clone(), *substream)),
        _ => None,
    });
    assert_eq!(select, Some((vec!["0".into(), "1".into(), "2".into()], 2)));
    let routes = ctx
        .commands
        .iter()
        .filter(|c| matches!(c, Command::RouteSource { enabled: true, .. }))
        .count();
    assert_eq!(routes, 3, "every layer is routed to the viewer's stream");
    // The temporal layer and the fallback time, as Janus's configure takes them.
    let mut ctx = Ctx::default();
    let (r, _) = event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "configure", "temporal": 0, "fallback": 100000 }),
        None,
    );
    assert_eq!(r["result"]["event"], "configured", "{r}");
    assert!(ctx.commands.iter().any(|c| matches!(c,
        Command::SelectLayer { substream: 2, temporal: 0, fallback: Some(f), .. }
            if *f == std::time::Duration::from_millis(100))));
    let (r, _) = event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "configure", "temporal": 3 }),
        None,
    );
    assert_eq!(r["error_code"], 454, "{r}");
    let mut ctx = Ctx::default();
    p.layer_switched(&mut ctx, 9, "0", &cardea_media::LayerSwitch::Temporal(0));
    assert!(
        ctx.commands
            .iter()
            .any(|c| matches!(c, Command::PushEvent { data, .. }
            if *data == json!({ "streaming": "event", "result": { "mid": "v", "temporal": 0 } }))),
        "{:?}",
        ctx.commands
    );
    // Simulcast is for video.
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "rtp", "media": [{ "type": "audio", "mid": "a",
                "port": 0, "pt": 0, "codec": "pcmu", "simulcast": true, "port2": 0, "port3": 0 }] }),
    );
    assert_eq!(r["error_code"], 456, "{r}");
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "rtp", "media": [{ "type": "video", "mid": "v",
                "port": 0, "pt": 96, "codec": "vp8", "simulcast": true }] }),
    );
    assert_eq!(r["error"], "Missing element (port2)", "{r}");
}

#[test]
fn an_svc_video_gets_each_viewer_its_spatial_and_temporal_layers() {
    let (mut p, _ports) = plugin_with(json!({ "mountpoints": [] }), vec![]);
    let mut ctx = Ctx::default();
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "rtp", "id": 61, "media": [{ "type": "video",
                "mid": "v", "port": 0, "pt": 98, "codec": "vp9", "svc": true }] }),
    );
    assert_eq!(r["streaming"], "created", "{r}");
    let r = sync(&mut p, &mut ctx, json!({ "request": "info", "id": 61 }));
    assert_eq!(r["info"]["media"][0]["svc"], true, "{r}");
    event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "watch", "id": 61 }),
        None,
    );
    p.offered(9, &["0".into()], &mut json!({}));
    let mut ctx = Ctx::default();
    event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "start" }),
        Some(answer()),
    );
    let svc = |ctx: &Ctx| {
        ctx.commands.iter().find_map(|c| match c {
            Command::SelectSvc {
                handle: 9,
                spatial,
                temporal,
                ..
            } => Some((*spatial, *temporal)),
            _ => None,
        })
    };
    assert_eq!(svc(&ctx), Some((2, 2)), "the top layers unless asked");
    let mut ctx = Ctx::default();
    let (r, _) = event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "configure", "streams": [{ "mid": "v", "spatial_layer": 0,
                "temporal_layer": 1 }] }),
        None,
    );
    assert_eq!(r["result"]["event"], "configured", "{r}");
    assert_eq!(svc(&ctx), Some((0, 1)));
    // The media reports the switch: Janus's event; asking again is answered at once.
    let mut ctx = Ctx::default();
    p.layer_switched(&mut ctx, 9, "0", &cardea_media::LayerSwitch::Spatial(0));
    assert!(
        ctx.commands
            .iter()
            .any(|c| matches!(c, Command::PushEvent { data, .. }
        if *data == json!({ "streaming": "event", "result": { "mid": "v", "spatial_layer": 0 } })))
    );
    let mut ctx = Ctx::default();
    event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "configure", "spatial_layer": 0 }),
        None,
    );
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::PushEvent { data, .. }
        if data["result"]["spatial_layer"] == 0)));
    let (r, _) = event(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "configure", "spatial_layer": 3 }),
        None,
    );
    assert_eq!(r["error_code"], 454, "{r}");
    // SVC is VP9's.
    let r = sync(
        &mut p,
        &mut ctx,
        json!({ "request": "create", "type": "rtp", "media": [{ "type": "video", "mid": "v",
                "port": 0, "pt": 96, "codec": "vp8", "svc": true }] }),
    );
    assert_eq!(r["error_code"], 456, "{r}");
}

#[test]
fn recording_starts_and_stops_per_mid_with_janus_errors() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    sync(&mut p, &mut ctx, av(7));
    let code = |p: &mut Streaming, body: Value| {
        let mut ctx = Ctx::default();
        sync(p, &mut ctx, body)["error_code"].clone()
    };
    assert_eq!(code(&mut p, json!({"request": "recording", "id": 7})), 453);
    assert_eq!(
        code(
            &mut p,
            json!({"request": "recording", "action": "go", "id": 7})
        ),
        454
    );
    assert_eq!(
        code(
            &mut p,
            json!({"request": "recording", "action": "start", "id": 8})
        ),
        455
    );
    assert_eq!(
        code(
            &mut p,
            json!({"request": "recording", "action": "start", "id": 7, "secret": "x"})
        ),
        457
    );
    assert_eq!(
        code(
            &mut p,
            json!({"request": "recording", "action": "start", "id": 7, "secret": "s"})
        ),
        452
    );
    assert_eq!(
        code(
            &mut p,
            json!({"request": "recording", "action": "start", "id": 7, "secret": "s",
            "media": [{"mid": "a", "filename": "/missing/a"}]})
        ),
        459
    );
    let mut ctx = Ctx::default();
    let ok = sync(
        &mut p,
        &mut ctx,
        json!({"request": "recording", "action": "start", "id": 7, "secret": "s",
            "media": [{"mid": "v", "filename": "/tmp/rec/v"}]}),
    );
    assert_eq!(ok, json!({"streaming": "ok"}));
    let started: Vec<_> = ctx
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Record { mid, spec, .. } => {
                Some((mid.clone(), spec.path.clone(), spec.codec.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        started,
        [(
            "v".to_owned(),
            "/tmp/rec/v.mjr".to_owned(),
            "vp8".to_owned()
        )]
    );
    assert_eq!(
        code(
            &mut p,
            json!({"request": "recording", "action": "start", "id": 7, "secret": "s",
            "media": [{"mid": "v", "filename": "/tmp/rec/v2"}]})
        ),
        452
    );
    let mut ctx = Ctx::default();
    let info = sync(
        &mut p,
        &mut ctx,
        json!({"request": "info", "id": 7, "secret": "s"}),
    );
    assert_eq!(info["info"]["media"][1]["recording"], "v.mjr");
    // The deprecated fields: a file name per kind to start, booleans to stop.
    let mut ctx = Ctx::default();
    let ok = sync(
        &mut p,
        &mut ctx,
        json!({"request": "recording", "action": "start", "id": 7, "secret": "s", "audio": "/tmp/rec/a"}),
    );
    assert_eq!(ok["streaming"], "ok");
    assert_eq!(ctx.commands.len(), 1);
    assert_eq!(
        code(
            &mut p,
            json!({"request": "recording", "action": "stop", "id": 7, "secret": "s", "audio": "yes"})
        ),
        454
    );
    let mut ctx = Ctx::default();
    let ok = sync(
        &mut p,
        &mut ctx,
        json!({"request": "recording", "action": "stop", "id": 7, "secret": "s", "audio": true, "video": true}),
    );
    assert_eq!(ok["streaming"], "ok");
    let stopped: Vec<_> = ctx
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::StopRecord { mid, .. } => Some(mid.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(stopped, ["a", "v"]);
}

#[test]
fn only_rtp_mountpoints_are_recorded() {
    let (mut p, _) = plugin_with(
        json!({ "mountpoints": [{ "id": 3, "type": "live", "filename": "/tmp/x.opus",
            "media": [{ "type": "audio", "mid": "a", "codec": "opus", "pt": 111 }] }] }),
        vec![],
    );
    let mut ctx = Ctx::default();
    let r = sync(
        &mut p,
        &mut ctx,
        json!({"request": "recording", "action": "start", "id": 3, "audio": "/tmp/a"}),
    );
    if r["error_code"] == 455 {
        // The sample mountpoint could not be created here (no such file): nothing to test.
        return;
    }
    assert_eq!(r["error_code"], 452, "{r}");
}
