//! Unit tests of the VideoRoom plugin: requests in, commands out.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::VideoRoom;
use crate::{Command, Ctx, HandleId, Jsep, JsepAction, JsepType, Message, Plugin, Reply};
use cardea_media::LayerSwitch;

const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE a v\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=mid:a\r\na=sendrecv\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=mid:v\r\na=sendrecv\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n";

/// [`OFFER`] with a data channel m-line (mid `d`) after the media.
fn offer_with_data() -> String {
    format!(
        "{OFFER}m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:d\r\na=sctp-port:5000\r\n"
    )
}

fn jsep(kind: JsepType, sdp: &str) -> Option<Jsep> {
    Some(Jsep {
        kind,
        sdp: sdp.into(),
        trickle: None,
        update: false,
        e2ee: false,
    })
}

struct Room {
    p: VideoRoom,
}

impl Room {
    fn new(handles: &[HandleId]) -> Self {
        let mut p = VideoRoom::default();
        for h in handles {
            p.create_session(*h).unwrap();
        }
        Self { p }
    }

    fn send(&mut self, handle: HandleId, body: Value, jsep: Option<Jsep>) -> (Reply, Vec<Command>) {
        let mut ctx = Ctx::default();
        let reply = self.p.handle_message(
            &mut ctx,
            Message {
                handle,
                transaction: Some("t".into()),
                body,
                jsep,
            },
        );
        (reply, ctx.commands)
    }

    fn sync(&mut self, handle: HandleId, body: Value) -> Value {
        match self.send(handle, body, None).0 {
            Reply::Sync(v) => v,
            other => panic!("a sync reply: {other:?}"),
        }
    }

    /// The event answering an async request (the one with our transaction).
    fn event(
        &mut self,
        handle: HandleId,
        body: Value,
        jsep: Option<Jsep>,
    ) -> (Value, Option<JsepAction>, Vec<Command>) {
        let (reply, commands) = self.send(handle, body, jsep);
        assert!(matches!(reply, Reply::Ack), "{reply:?}");
        let answer = commands
            .iter()
            .find_map(|c| match c {
                Command::PushEvent {
                    handle: h,
                    transaction: Some(_),
                    data,
                    jsep,
                } if *h == handle => Some((data.clone(), jsep.clone())),
                _ => None,
            })
            .expect("an event answers the request");
        (answer.0, answer.1, commands)
    }

    fn publish(&mut self, handle: HandleId, id: u64) -> Vec<Command> {
        let (joined, answer, commands) = self.event(
            handle,
            json!({"request": "joinandconfigure", "ptype": "publisher", "room": 1234, "id": id, "display": format!("p{id}")}),
            jsep(JsepType::Offer, OFFER),
        );
        assert_eq!(joined["videoroom"], "joined", "{joined}");
        assert!(matches!(answer, Some(JsepAction::AnswerOffer { .. })));
        commands
    }

    /// `handle` joins `room` as a subscriber of one feed stream (`stream`, as `streams[]`
    /// takes it) and gets the `attached` event, its one m-line offered as mid 0.
    fn subscribe_one(&mut self, handle: HandleId, room: u64, stream: Value) -> Value {
        let (mut attached, _, _) = self.event(
            handle,
            json!({"request": "join", "ptype": "subscriber", "room": room, "streams": [stream]}),
            None,
        );
        self.p.offered(handle, &["0".into()], &mut attached);
        attached
    }

    fn subscribe(&mut self, handle: HandleId, feed: u64) -> Value {
        let (mut attached, offer, _) = self.event(
            handle,
            json!({"request": "join", "ptype": "subscriber", "room": 1234, "streams": [{"feed": feed}]}),
            None,
        );
        assert_eq!(attached["videoroom"], "attached", "{attached}");
        let Some(JsepAction::Offer { media, .. }) = offer else {
            panic!("an offer to the subscriber")
        };
        assert!(media.iter().all(|m| m.send_only && m.codecs.len() == 1));
        self.p
            .offered(handle, &["0".into(), "1".into()], &mut attached);
        attached
    }
}

fn pushes_to(commands: &[Command], handle: HandleId) -> Vec<Value> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::PushEvent {
                handle: h, data, ..
            } if *h == handle => Some(data.clone()),
            _ => None,
        })
        .collect()
}

fn routes(commands: &[Command]) -> Vec<(HandleId, String, HandleId, String, bool)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::RouteMid {
                from,
                from_mid,
                to,
                to_mid,
                enabled,
            } => Some((*from, from_mid.clone(), *to, to_mid.clone(), *enabled)),
            _ => None,
        })
        .collect()
}

#[test]
fn publishing_answers_one_codec_per_stream_and_tells_the_room() {
    let mut r = Room::new(&[1, 2]);
    let (joined, _, commands) = r.event(
        2,
        json!({"request": "join", "ptype": "publisher", "room": 1234, "id": 20}),
        None,
    );
    assert_eq!(joined["publishers"], json!([]));
    assert!(matches!(
        commands[0],
        Command::PinShard {
            handle: 2,
            key: 1234
        }
    ));
    let commands = r.publish(1, 10);
    // Shard placement before the event that builds the PeerConnection, the cap after it.
    let pin = commands
        .iter()
        .position(|c| matches!(c, Command::PinShard { .. }))
        .unwrap();
    let event = commands
        .iter()
        .position(|c| matches!(c, Command::PushEvent { handle: 1, .. }))
        .unwrap();
    let cap = commands
        .iter()
        .position(|c| {
            matches!(
                c,
                Command::SetBitrateCap {
                    handle: 1,
                    bps: Some(128_000)
                }
            )
        })
        .unwrap();
    assert!(pin < event && event < cap);
    let Some(Command::PushEvent {
        data,
        jsep: Some(JsepAction::AnswerOffer { offer }),
        ..
    }) = commands.get(event)
    else {
        panic!("the joined event carries the answer")
    };
    assert!(
        offer.contains("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"),
        "{offer}"
    );
    assert!(
        offer.contains("m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n"),
        "{offer}"
    );
    assert_eq!(data["audio_codec"], "opus");
    assert_eq!(data["streams"][1]["mid"], "v");
    let news = pushes_to(&commands, 2);
    assert_eq!(news[0]["publishers"][0]["id"], 10);
    assert_eq!(news[0]["publishers"][0]["display"], "p10");
    // A late publisher sees the published one in `joined`.
    r.p.create_session(3).unwrap();
    let (joined, _, _) = r.event(
        3,
        json!({"request": "join", "ptype": "publisher", "room": 1234}),
        None,
    );
    assert_eq!(joined["publishers"][0]["id"], 10);
    assert_eq!(joined["publishers"][0]["streams"][0]["codec"], "opus");
}

#[test]
fn a_subscriber_gets_an_offer_then_edges_on_start_and_none_on_pause() {
    let mut r = Room::new(&[1, 5]);
    r.publish(1, 10);
    let attached = r.subscribe(5, 10);
    assert_eq!(attached["streams"][0]["mid"], "0");
    assert_eq!(attached["streams"][1]["feed_mid"], "v");
    assert_eq!(attached["streams"][1]["codec"], "vp8");
    assert_eq!(attached["streams"][0]["feed_display"], "p10");
    let (started, _, commands) = r.event(
        5,
        json!({"request": "start"}),
        jsep(JsepType::Answer, "v=0"),
    );
    assert_eq!(started["started"], "ok");
    assert!(commands
        .iter()
        .any(|c| matches!(c, Command::AcceptAnswer { handle: 5, .. })));
    assert_eq!(
        routes(&commands),
        vec![
            (1, "a".into(), 5, "0".into(), true),
            (1, "v".into(), 5, "1".into(), true)
        ]
    );
    let mut ctx = Ctx::default();
    r.p.setup_media(&mut ctx, 5);
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::RequestKeyframe { handle: 1 })));
    let (paused, _, commands) = r.event(5, json!({"request": "pause"}), None);
    assert_eq!(paused["paused"], "ok");
    assert!(routes(&commands).iter().all(|r| !r.4));
    let (_, _, commands) = r.event(
        5,
        json!({"request": "configure", "streams": [{"mid": "0", "send": false}]}),
        None,
    );
    assert!(routes(&commands).is_empty(), "paused: nothing flows");
    let (_, _, commands) = r.event(5, json!({"request": "start"}), None);
    assert_eq!(
        routes(&commands),
        vec![
            (1, "a".into(), 5, "0".into(), false),
            (1, "v".into(), 5, "1".into(), true)
        ]
    );
    let (left, _, commands) = r.event(5, json!({"request": "leave"}), None);
    assert_eq!(left["left"], "ok");
    assert!(commands
        .iter()
        .any(|c| matches!(c, Command::ClosePc { handle: 5 })));
}

#[test]
fn unpublishing_ends_subscriptions_and_tells_everyone() {
    let mut r = Room::new(&[1, 2, 5]);
    r.publish(1, 10);
    r.event(
        2,
        json!({"request": "join", "ptype": "publisher", "room": 1234, "id": 20}),
        None,
    );
    r.subscribe(5, 10);
    r.event(
        5,
        json!({"request": "start"}),
        jsep(JsepType::Answer, "v=0"),
    );
    let (done, _, commands) = r.event(1, json!({"request": "unpublish"}), None);
    assert_eq!(done["unpublished"], "ok");
    assert_eq!(pushes_to(&commands, 2)[0]["unpublished"], 10);
    let updated = &pushes_to(&commands, 5)[0];
    assert_eq!(updated["videoroom"], "updated");
    assert_eq!(updated["streams"][0]["active"], false);
    assert!(routes(&commands).iter().all(|r| !r.4));
    assert!(commands
        .iter()
        .any(|c| matches!(c, Command::ClosePc { handle: 1 })));
    let (e, _, _) = r.event(1, json!({"request": "unpublish"}), None);
    assert_eq!(e["error_code"], 435);
    // Leaving is `leaving` for the room.
    let (bye, _, commands) = r.event(1, json!({"request": "leave"}), None);
    assert_eq!(bye["leaving"], "ok");
    assert_eq!(pushes_to(&commands, 2)[0]["leaving"], 10);
}

#[test]
fn errors_carry_janus_codes() {
    let mut r = Room::new(&[1, 5]);
    let code = |v: &Value| v["error_code"].as_u64().unwrap();
    assert_eq!(code(&r.sync(1, json!({"request": "exists"}))), 429);
    assert_eq!(code(&r.sync(1, json!({"request": "nope"}))), 423);
    assert_eq!(
        code(&r.sync(1, json!({"request": "create", "room": 1234}))),
        427
    );
    assert_eq!(
        code(&r.sync(1, json!({"request": "create", "permanent": true}))),
        499
    );
    let (e, _, _) = r.event(1, json!({"request": "start"}), None);
    assert_eq!(code(&e), 424);
    let (e, _, _) = r.event(
        1,
        json!({"request": "join", "ptype": "publisher", "room": 9}),
        None,
    );
    assert_eq!(code(&e), 426);
    let (e, _, _) = r.event(
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 1234, "feed": 77}),
        None,
    );
    assert_eq!(code(&e), 428);
    r.event(
        1,
        json!({"request": "join", "ptype": "publisher", "room": 1234, "id": 10}),
        None,
    );
    let (e, _, _) = r.event(
        1,
        json!({"request": "join", "ptype": "publisher", "room": 1234}),
        None,
    );
    assert_eq!(code(&e), 425);
    let (e, _, _) = r.event(
        5,
        json!({"request": "join", "ptype": "publisher", "room": 1234, "id": 10}),
        None,
    );
    assert_eq!(code(&e), 436);
    let (e, _, _) = r.event(1, json!({"request": "publish"}), None);
    assert_eq!(code(&e), 429);
    let (e, _, _) = r.event(
        1,
        json!({"request": "publish"}),
        jsep(JsepType::Answer, OFFER),
    );
    assert_eq!(code(&e), 431);
    let (e, _, _) = r.event(
        1,
        json!({"request": "publish", "videocodec": "h264"}),
        jsep(JsepType::Offer, OFFER),
    );
    assert_eq!(code(&e), 430);
}

#[test]
fn publishers_limit_kick_and_destroy() {
    let mut r = Room::new(&[1, 2, 3]);
    let created = r.sync(
        1,
        json!({"request": "create", "room": 7, "publishers": 1, "secret": "s"}),
    );
    assert_eq!(created["videoroom"], "created");
    let join =
        |id: u64| json!({"request": "joinandconfigure", "ptype": "publisher", "room": 7, "id": id});
    let (ok, _, _) = r.event(1, join(1), jsep(JsepType::Offer, OFFER));
    assert_eq!(ok["videoroom"], "joined");
    let (full, _, _) = r.event(2, join(2), jsep(JsepType::Offer, OFFER));
    assert_eq!(full["error_code"], 432);
    // The failed joinandconfigure left no participant behind.
    let list = r.sync(3, json!({"request": "listparticipants", "room": 7}));
    assert_eq!(list["participants"].as_array().unwrap().len(), 1);
    r.event(
        3,
        json!({"request": "join", "ptype": "publisher", "room": 7, "id": 3}),
        None,
    );
    let wrong = r.sync(3, json!({"request": "kick", "room": 7, "id": 1}));
    assert_eq!(wrong["error_code"], 433);
    let (reply, commands) = r.send(
        3,
        json!({"request": "kick", "room": 7, "id": 1, "secret": "s"}),
        None,
    );
    assert!(matches!(reply, Reply::Sync(ref v) if v["videoroom"] == "success"));
    assert_eq!(pushes_to(&commands, 1)[0]["reason"], "kicked");
    assert_eq!(pushes_to(&commands, 3)[0]["kicked"], 1);
    let (_, commands) = r.send(
        3,
        json!({"request": "destroy", "room": 7, "secret": "s"}),
        None,
    );
    assert_eq!(pushes_to(&commands, 3)[0]["videoroom"], "destroyed");
    assert_eq!(
        r.sync(3, json!({"request": "exists", "room": 7}))["exists"],
        false
    );
}

#[test]
fn switch_moves_a_stream_to_another_feed_of_the_same_codec() {
    let mut r = Room::new(&[1, 2, 5]);
    r.publish(1, 10);
    r.publish(2, 20);
    r.subscribe(5, 10);
    r.event(
        5,
        json!({"request": "start"}),
        jsep(JsepType::Answer, "v=0"),
    );
    let (switched, _, commands) = r.event(
        5,
        json!({"request": "switch", "streams": [{"feed": 20, "mid": "v", "sub_mid": "1"}]}),
        None,
    );
    assert_eq!(switched["switched"], "ok", "{switched}");
    assert_eq!(switched["streams"][1]["feed_id"], 20);
    assert_eq!(
        routes(&commands),
        vec![
            (1, "v".into(), 5, "1".into(), false),
            (2, "v".into(), 5, "1".into(), true)
        ]
    );
    let (e, _, _) = r.event(
        5,
        json!({"request": "switch", "streams": [{"feed": 20, "mid": "a", "sub_mid": "1"}]}),
        None,
    );
    assert_eq!(e["error_code"], 438);
}

#[test]
fn fir_freq_asks_publishers_for_key_frames() {
    let mut r = Room::new(&[1]);
    r.publish(1, 10);
    let t0 = Instant::now();
    let mut ctx = Ctx::at(t0);
    r.p.handle_timeout(&mut ctx);
    assert_eq!(ctx.commands.len(), 1);
    let mut ctx = Ctx::at(t0 + Duration::from_secs(5));
    r.p.handle_timeout(&mut ctx);
    assert!(ctx.commands.is_empty(), "room 1234 asks every 10 s");
    let mut ctx = Ctx::at(t0 + Duration::from_secs(10));
    r.p.handle_timeout(&mut ctx);
    assert!(matches!(
        ctx.commands[..],
        [Command::RequestKeyframe { handle: 1 }]
    ));
}

#[test]
fn simulcast_subscribers_choose_a_layer_before_media_flows() {
    let mut r = Room::new(&[1, 5]);
    let simulcast = OFFER.replace(
        "a=fmtp:97 apt=96\r\n",
        "a=fmtp:97 apt=96\r\na=rid:h send\r\na=rid:m send\r\na=rid:l send\r\na=simulcast:send h;m;l\r\n",
    );
    let (joined, _, _) = r.event(
        1,
        json!({"request": "joinandconfigure", "ptype": "publisher", "room": 1234, "id": 10}),
        jsep(JsepType::Offer, &simulcast),
    );
    assert_eq!(joined["streams"][1]["simulcast"], true);
    let attached = r.subscribe_one(5, 1234, json!({"feed": 10, "mid": "v", "substream": 1}));
    assert_eq!(
        attached["streams"][0]["simulcast"],
        json!({"substream": -1, "substream-target": 1, "temporal-layer": -1,
            "temporal-layer-target": 2}),
        "nothing forwarded yet, as Janus shows it"
    );
    let (refused, _, _) = r.event(
        5,
        json!({"request": "subscribe", "streams": [{"feed": 10, "mid": "v", "temporal": 3}]}),
        None,
    );
    assert_eq!(refused["error_code"], 430, "{refused}");
    let (_, _, commands) = r.event(
        5,
        json!({"request": "start"}),
        jsep(JsepType::Answer, "v=0"),
    );
    let layer = commands
        .iter()
        .position(|c| matches!(c, Command::SelectLayer { handle: 5, substream: 1, temporal: 2, fallback: None, rids, .. } if rids == &["l", "m", "h"]))
        .expect("a layer choice");
    let route = commands
        .iter()
        .position(|c| matches!(c, Command::RouteMid { enabled: true, .. }))
        .unwrap();
    assert!(layer < route);
    let (_, _, commands) = r.event(
        5,
        json!({"request": "configure", "streams": [{"mid": "0", "substream": 0}]}),
        None,
    );
    assert!(commands
        .iter()
        .any(|c| matches!(c, Command::SelectLayer { substream: 0, .. })));
    let (_, _, commands) = r.event(5, json!({"request": "configure", "substream": 9}), None);
    assert!(
        commands
            .iter()
            .any(|c| matches!(c, Command::SelectLayer { substream: 2, .. })),
        "clamped to the best layer"
    );
    let (_, _, commands) = r.event(
        5,
        json!({"request": "configure", "streams": [{"mid": "0", "temporal": 0, "fallback": 500000}]}),
        None,
    );
    assert!(
        commands.iter().any(|c| matches!(c,
            Command::SelectLayer { substream: 2, temporal: 0, fallback: Some(f), .. }
                if *f == std::time::Duration::from_millis(500))),
        "{commands:?}"
    );
}

#[test]
fn a_subscribers_playout_delay_follows_janus_rules_and_reaches_its_video() {
    let mut r = Room::new(&[1, 5]);
    r.publish(1, 10);
    let attached = r.subscribe_one(5, 1234, json!({"feed": 10, "mid": "v", "min_delay": 10}));
    // A lone min_delay takes max_delay up with it; shown in 10 ms units, as Janus shows it.
    assert_eq!(
        attached["streams"][0]["playout-delay"],
        json!({"min-delay": 10, "max-delay": 10}),
        "{attached}"
    );
    let delay = |commands: &[Command]| {
        commands.iter().find_map(|c| match c {
            Command::PlayoutDelay {
                handle: 5,
                mid,
                delay,
            } if mid == "0" => Some(*delay),
            _ => None,
        })
    };
    let (_, _, commands) = r.event(
        5,
        json!({"request": "start"}),
        jsep(JsepType::Answer, "v=0"),
    );
    assert_eq!(delay(&commands), Some(Some((10, 10))));
    let configure = |r: &mut Room, stream: Value| {
        r.event(
            5,
            json!({"request": "configure", "streams": [stream]}),
            None,
        )
    };
    // A max_delay under min_delay takes min_delay down with it.
    let (_, _, commands) = configure(&mut r, json!({"mid": "0", "max_delay": 5}));
    assert_eq!(delay(&commands), Some(Some((5, 5))));
    let (_, _, commands) = configure(&mut r, json!({"mid": "0", "max_delay": 30}));
    assert_eq!(delay(&commands), Some(Some((5, 30))));
    // Negative clears both: forwarded video carries what the publisher's does.
    let (_, _, commands) = configure(&mut r, json!({"mid": "0", "min_delay": -1}));
    assert_eq!(delay(&commands), Some(None));
    // Top level, as older clients send it: every video stream.
    let (_, _, commands) = r.event(
        5,
        json!({"request": "configure", "min_delay": 0, "max_delay": 20}),
        None,
    );
    assert_eq!(delay(&commands), Some(Some((0, 20))));
    // More than the extension's 12 bits can carry is refused, not wrapped.
    let (refused, _, _) = configure(&mut r, json!({"mid": "0", "max_delay": 4096}));
    assert_eq!(refused["error_code"], 430, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("max_delay"),
        "{refused}"
    );
    let (refused, _, _) = configure(&mut r, json!({"mid": "0", "min_delay": "1"}));
    assert_eq!(refused["error_code"], 430, "{refused}");

    // A room without the extension (`playoutdelay_ext: false`) tells no delay.
    let mut r = Room::new(&[1, 5]);
    let created = r.sync(
        1,
        json!({"request": "create", "room": 77, "playoutdelay_ext": false}),
    );
    assert_eq!(created["videoroom"], "created", "{created}");
    let (joined, _, _) = r.event(
        1,
        json!({"request": "joinandconfigure", "ptype": "publisher", "room": 77, "id": 10}),
        jsep(JsepType::Offer, OFFER),
    );
    assert_eq!(joined["videoroom"], "joined", "{joined}");
    r.subscribe_one(5, 77, json!({"feed": 10, "mid": "v", "min_delay": 10}));
    let (_, _, commands) = r.event(
        5,
        json!({"request": "start"}),
        jsep(JsepType::Answer, "v=0"),
    );
    assert_eq!(delay(&commands), Some(None), "{commands:?}");
}

#[test]
fn a_forwarders_local_rtcp_port_is_its_rooms_media_shard_port() {
    let mut r = Room {
        p: VideoRoom::default().with_media_ports(vec![40000, 40001, 40002]),
    };
    for h in [1, 2] {
        r.p.create_session(h).unwrap();
    }
    r.publish(1, 10);
    let reply = r.sync(
        2,
        json!({"request": "rtp_forward", "room": 1234, "secret": "adminpwd", "publisher_id": 10,
            "host": "127.0.0.1", "streams": [{"mid": "v", "port": 6000, "rtcp_port": 6001},
                                             {"mid": "a", "port": 6002}]}),
    );
    // Room 1234's participants are pinned to shard 1234 % 3 = 1.
    let fws = reply["forwarders"].as_array().expect("forwarders");
    assert_eq!(fws[0]["local_rtcp_port"], 40001, "{reply}");
    assert!(
        fws[1].get("local_rtcp_port").is_none(),
        "no RTCP asked: {reply}"
    );
    let list = r.sync(
        2,
        json!({"request": "listforwarders", "room": 1234, "secret": "adminpwd"}),
    );
    assert!(
        list.to_string().contains("\"local_rtcp_port\":40001"),
        "{list}"
    );
}

#[test]
fn a_publisher_stops_and_resumes_a_stream_and_sets_its_playout_delay() {
    let mut r = Room::new(&[1, 5]);
    r.publish(1, 10);
    r.subscribe(5, 10);
    r.event(
        5,
        json!({"request": "start"}),
        jsep(JsepType::Answer, "v=0"),
    );
    let video_route = |commands: &[Command]| {
        routes(commands)
            .into_iter()
            .find(|(from, from_mid, to, _, _)| (*from, from_mid.as_str(), *to) == (1, "v", 5))
            .map(|(.., enabled)| enabled)
    };
    let configure = |r: &mut Room, body: Value| r.event(1, body, None);
    let (ok, _, commands) = configure(
        &mut r,
        json!({"request": "configure", "streams": [{"mid": "v", "send": false}]}),
    );
    assert_eq!(ok["configured"], "ok", "{ok}");
    assert_eq!(video_route(&commands), Some(false), "{commands:?}");
    // Asking again changes nothing, so nothing is routed again.
    let (_, _, commands) = configure(
        &mut r,
        json!({"request": "configure", "streams": [{"mid": "v", "send": false}]}),
    );
    assert_eq!(video_route(&commands), None);
    // The older form: every stream of a kind.
    let (_, _, commands) = configure(&mut r, json!({"request": "configure", "video": true}));
    assert_eq!(video_route(&commands), Some(true));
    // The publisher's playout delay reaches its subscriber's video (the subscriber's own
    // would win).
    let (_, _, commands) = configure(
        &mut r,
        json!({"request": "configure", "streams": [{"min_delay": 20, "max_delay": 40}]}),
    );
    assert!(
        commands.iter().any(|c| matches!(
            c,
            Command::PlayoutDelay {
                handle: 5,
                delay: Some((20, 40)),
                ..
            }
        )),
        "{commands:?}"
    );
    let (_, _, commands) = r.event(
        5,
        json!({"request": "configure", "streams": [{"mid": "1", "min_delay": 10}]}),
        None,
    );
    assert!(
        commands.iter().any(|c| matches!(
            c,
            Command::PlayoutDelay {
                handle: 5,
                delay: Some((10, 10)),
                ..
            }
        )),
        "{commands:?}"
    );
    let (refused, _, _) = configure(
        &mut r,
        json!({"request": "configure", "streams": [{"mid": "x", "send": false}]}),
    );
    assert_eq!(refused["error_code"], 428, "{refused}");
    // `audio: false` stops the audio stream the same way.
    let (_, _, commands) = configure(&mut r, json!({"request": "configure", "audio": false}));
    assert!(routes(&commands)
        .iter()
        .any(|(_, m, _, _, on)| m == "a" && !on));
}

#[test]
fn subscribe_and_unsubscribe_renegotiate_the_subscription() {
    let mut r = Room::new(&[1, 2, 5]);
    r.publish(1, 10);
    r.publish(2, 20);
    let (mut attached, offer, _) = r.event(
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 1234, "streams": [{"feed": 10, "mid": "v"}]}),
        None,
    );
    let Some(JsepAction::Offer { later, .. }) = offer else {
        panic!("an offer")
    };
    assert!(
        later.iter().any(|m| m.kind == crate::MediaKind::Audio),
        "audio codecs are kept for a later subscription"
    );
    r.p.offered(5, &["x".into()], &mut attached);
    r.event(
        5,
        json!({"request": "start"}),
        jsep(JsepType::Answer, "v=0"),
    );
    // Add feed 20: a new offer with two more m-lines; the event lists all streams.
    let (mut updated, offer, _) = r.event(
        5,
        json!({"request": "subscribe", "streams": [{"feed": 20}]}),
        None,
    );
    assert_eq!(updated["videoroom"], "updated");
    let Some(JsepAction::Reoffer(crate::Reoffer { add, inactive, .. })) = offer else {
        panic!("a new offer: {updated}")
    };
    assert_eq!((add.len(), inactive.len()), (2, 0));
    r.p.offered(5, &["x".into(), "y".into(), "z".into()], &mut updated);
    assert_eq!(updated["streams"][1]["mid"], "y");
    assert_eq!(updated["streams"][2]["mid"], "z");
    assert_eq!(updated["streams"][2]["feed_id"], 20);
    let (_, _, commands) = r.event(
        5,
        json!({"request": "start"}),
        jsep(JsepType::Answer, "v=0"),
    );
    assert!(commands.iter().any(|c| matches!(
        c,
        Command::ForwardPt { handle: 5, mid, pt: Some(111), .. } if mid == "y"
    )));
    assert_eq!(routes(&commands).len(), 3);
    // Drop feed 10: its stream goes inactive in a new offer.
    let (updated, offer, commands) = r.event(
        5,
        json!({"request": "update", "unsubscribe": [{"feed": 10}]}),
        None,
    );
    let Some(JsepAction::Reoffer(crate::Reoffer { add, inactive, .. })) = offer else {
        panic!("a new offer")
    };
    assert!(add.is_empty());
    assert_eq!(inactive, vec!["x".to_owned()]);
    assert_eq!(updated["streams"][0]["active"], false);
    assert_eq!(
        routes(&commands),
        vec![(1, "v".into(), 5, "x".into(), false)]
    );
    // Feed 20 unpublishes: the subscriber is offered the rest without it.
    let (_, _, commands) = r.event(2, json!({"request": "unpublish"}), None);
    let news = commands.iter().find_map(|c| match c {
        Command::PushEvent {
            handle: 5,
            jsep,
            data,
            ..
        } => Some((jsep.clone(), data.clone())),
        _ => None,
    });
    let Some((Some(JsepAction::Reoffer(crate::Reoffer { inactive, .. })), data)) = news else {
        panic!("updated with an offer")
    };
    assert_eq!(inactive, vec!["y".to_owned(), "z".to_owned()]);
    assert_eq!(data["videoroom"], "updated");
    let (e, _, _) = r.event(5, json!({"request": "subscribe"}), None);
    assert_eq!(e["error_code"], 429);
}

#[test]
fn a_later_subscription_to_data_adds_the_data_m_line_once() {
    let mut r = Room::new(&[1, 2, 5]);
    let with_data = offer_with_data();
    for (handle, id) in [(1, 10), (2, 20)] {
        let (joined, _, _) = r.event(
            handle,
            json!({"request": "joinandconfigure", "ptype": "publisher", "room": 1234, "id": id}),
            jsep(JsepType::Offer, &with_data),
        );
        assert_eq!(joined["videoroom"], "joined", "{joined}");
    }
    let (mut attached, offer, _) = r.event(
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 1234, "streams": [{"feed": 10, "mid": "a"}]}),
        None,
    );
    assert!(matches!(offer, Some(JsepAction::Offer { data: false, .. })));
    r.p.offered(5, &["0".into()], &mut attached);
    r.event(
        5,
        json!({"request": "start"}),
        jsep(JsepType::Answer, "v=0"),
    );
    // Feed 10's data: the new offer adds a data m-line, after nothing else.
    let (mut updated, offer, _) = r.event(
        5,
        json!({"request": "subscribe", "streams": [{"feed": 10, "mid": "d"}]}),
        None,
    );
    let Some(JsepAction::Reoffer(crate::Reoffer { add, data, .. })) = offer else {
        panic!("a new offer: {updated}")
    };
    assert!(add.is_empty() && data, "only a data m-line is added");
    r.p.offered(5, &["0".into(), "1".into()], &mut updated);
    assert_eq!(updated["streams"][1]["type"], "data", "{updated}");
    assert_eq!(updated["streams"][1]["mid"], "1", "{updated}");
    // Feed 20's data shares that m-line: no new offer, the stream has its mid at once.
    let (updated, offer, _) = r.event(
        5,
        json!({"request": "subscribe", "streams": [{"feed": 20, "mid": "d"}]}),
        None,
    );
    assert!(offer.is_none(), "nothing to renegotiate: {offer:?}");
    assert_eq!(updated["streams"][2]["mid"], "1", "{updated}");
    // Dropping one feed's data leaves the shared m-line alone.
    let (_, offer, _) = r.event(
        5,
        json!({"request": "unsubscribe", "streams": [{"feed": 10, "mid": "d"}]}),
        None,
    );
    assert!(offer.is_none(), "the data m-line stays: {offer:?}");
    // A data message of feed 20 reaches the subscriber; feed 10's no longer does.
    let mut ctx = Ctx::default();
    r.p.incoming_data(&mut ctx, 2, "chat", false, b"hi");
    r.p.incoming_data(&mut ctx, 1, "chat", false, b"gone");
    let sent: Vec<_> = ctx
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::SendData {
                handle: 5, data, ..
            } => Some(data.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(sent, vec![b"hi".to_vec()]);
}

#[test]
fn talking_is_watched_in_rooms_that_ask_and_told_to_everyone() {
    let mut r = Room::new(&[1, 2]);
    r.sync(
        1,
        json!({"request": "create", "room": 8, "audiolevel_event": true, "audio_active_packets": 50, "audio_level_average": 40}),
    );
    let join =
        |id: u64| json!({"request": "joinandconfigure", "ptype": "publisher", "room": 8, "id": id});
    let (_, _, commands) = r.event(1, join(1), jsep(JsepType::Offer, OFFER));
    assert!(commands.iter().any(|c| matches!(
        c,
        Command::WatchTalking {
            handle: 1,
            packets: 50,
            threshold: 40
        }
    )));
    r.event(2, join(2), jsep(JsepType::Offer, OFFER));
    let mut ctx = Ctx::default();
    r.p.talking(&mut ctx, 1, "a", true, 12.5);
    let to_self = pushes_to(&ctx.commands, 1);
    let to_other = pushes_to(&ctx.commands, 2);
    assert_eq!(to_self[0]["videoroom"], "talking");
    assert_eq!(to_other[0]["id"], 1);
    assert_eq!(to_other[0]["audio-level-dBov-avg"], 12.5);
    let list = r.sync(2, json!({"request": "listparticipants", "room": 8}));
    assert!(list["participants"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == 1));
    // Room 1234 does not ask for it.
    r.p.create_session(3).unwrap();
    let commands = r.publish(3, 3);
    assert!(!commands
        .iter()
        .any(|c| matches!(c, Command::WatchTalking { .. })));
}

#[test]
fn moderate_mutes_a_stream_for_every_subscriber() {
    let mut r = Room::new(&[1, 5]);
    r.publish(1, 10);
    r.subscribe(5, 10);
    r.event(
        5,
        json!({"request": "start"}),
        jsep(JsepType::Answer, "v=0"),
    );
    let body = |mute: bool| json!({"request": "moderate", "room": 1234, "secret": "adminpwd", "id": 10, "mid": "v", "mute": mute});
    let (reply, commands) = r.send(1, body(true), None);
    assert!(
        matches!(reply, Reply::Sync(ref v) if v["videoroom"] == "success"),
        "{reply:?}"
    );
    assert_eq!(
        routes(&commands),
        vec![(1, "v".into(), 5, "1".into(), false)]
    );
    assert_eq!(pushes_to(&commands, 1)[0]["moderation"], "muted");
    // A restart keeps it muted; unmuting restores it.
    let (_, _, commands) = r.event(5, json!({"request": "start"}), None);
    assert!(routes(&commands).contains(&(1, "v".into(), 5, "1".into(), false)));
    let (_, commands) = r.send(1, body(false), None);
    assert_eq!(
        routes(&commands),
        vec![(1, "v".into(), 5, "1".into(), true)]
    );
    let wrong = r.sync(1, json!({"request": "moderate", "room": 1234, "secret": "adminpwd", "id": 10, "mid": "zz", "mute": true}));
    assert_eq!(wrong["error_code"], 428);
}

#[test]
fn rtp_forward_of_a_data_stream_and_the_legacy_data_port() {
    let mut r = Room::new(&[1, 2]);
    r.event(
        1,
        json!({"request": "joinandconfigure", "ptype": "publisher", "room": 1234, "id": 10}),
        jsep(JsepType::Offer, &offer_with_data()),
    );
    let forward = |r: &mut Room, body: Value| {
        let (reply, commands) = r.send(2, body, None);
        let Reply::Sync(reply) = reply else { panic!() };
        let rtcp: Vec<_> = commands
            .iter()
            .filter_map(|c| match c {
                Command::ForwardRtp {
                    mid, srtp, rtcp, ..
                } => Some((mid.clone(), srtp.is_some(), *rtcp)),
                _ => None,
            })
            .collect();
        (reply, rtcp)
    };
    let (reply, sent) = forward(
        &mut r,
        json!({"request": "rtp_forward", "room": 1234, "secret": "adminpwd", "publisher_id": 10,
            "host": "127.0.0.1", "srtp_suite": 80, "srtp_crypto": "S2V5U2FsdEZvclRoZUZvcndhcmRlck9mVGhlTWl4",
            "streams": [{"mid": "d", "port": 6000, "rtcp_port": 6001}]}),
    );
    let fw = &reply["forwarders"][0];
    assert_eq!(
        (fw["type"].as_str(), fw["port"].as_u64()),
        (Some("data"), Some(6000)),
        "{reply}"
    );
    assert!(
        fw.get("ssrc").is_none() && fw.get("srtp").is_none(),
        "{reply}"
    );
    assert_eq!(sent, vec![("d".to_owned(), false, None)], "plain, no RTCP");
    let (reply, sent) = forward(
        &mut r,
        json!({"request": "rtp_forward", "room": 1234, "secret": "adminpwd", "publisher_id": 10,
            "host": "127.0.0.1", "data_port": 6002, "video_port": 6004, "video_rtcp_port": 6005}),
    );
    assert_eq!(
        reply["forwarders"].as_array().map(Vec::len),
        Some(2),
        "{reply}"
    );
    assert_eq!(reply["forwarders"][0]["remote_rtcp_port"], 6005, "{reply}");
    assert!(
        reply["forwarders"][0].get("local_rtcp_port").is_none(),
        "no media ports known here: {reply}"
    );
    assert_eq!(
        sent,
        vec![
            (
                "v".to_owned(),
                false,
                Some("127.0.0.1:6005".parse().unwrap())
            ),
            ("d".to_owned(), false, None)
        ]
    );
    // Layers of a stream that has none.
    let e = r.sync(
        2,
        json!({"request": "rtp_forward", "room": 1234, "secret": "adminpwd", "publisher_id": 10,
            "host": "127.0.0.1", "streams": [{"mid": "v", "port": 6006, "port_2": 6008}]}),
    );
    assert_eq!(e["error_code"], 430, "{e}");
    // Nothing to switch between: `simulcast: true` on it is a plain forwarder.
    let (reply, _) = forward(
        &mut r,
        json!({"request": "rtp_forward", "room": 1234, "secret": "adminpwd", "publisher_id": 10,
            "host": "127.0.0.1", "streams": [{"mid": "v", "port": 6006, "simulcast": true}]}),
    );
    assert!(reply["forwarders"][0].get("simulcast").is_none(), "{reply}");
}

#[test]
fn rtp_forward_copies_streams_until_stopped_or_unpublished() {
    let mut r = Room::new(&[1, 2]);
    r.publish(1, 10);
    let unauthorized = r.sync(2, json!({"request": "rtp_forward", "room": 1234, "publisher_id": 10, "host": "127.0.0.1", "streams": [{"mid": "v", "port": 5004}]}));
    assert_eq!(unauthorized["error_code"], 433);
    let (reply, commands) = r.send(
        2,
        json!({"request": "rtp_forward", "room": 1234, "secret": "adminpwd", "publisher_id": 10,
            "host": "127.0.0.1", "streams": [{"mid": "v", "port": 5004, "pt": 100, "ssrc": 42}, {"mid": "a", "port": 5002}]}),
        None,
    );
    let Reply::Sync(reply) = reply else { panic!() };
    assert_eq!(reply["videoroom"], "rtp_forward", "{reply}");
    assert_eq!(reply["forwarders"][0]["type"], "video");
    assert_eq!(reply["forwarders"][0]["port"], 5004);
    assert_eq!(reply["forwarders"][0]["ssrc"], 42);
    let sent: Vec<_> = commands
        .iter()
        .filter_map(|c| match c {
            Command::ForwardRtp {
                handle: 1,
                mid,
                destination,
                pt,
                ssrc,
                ..
            } => Some((mid.clone(), destination.port(), *pt, *ssrc)),
            _ => None,
        })
        .collect();
    assert_eq!(sent[0], ("v".into(), 5004, Some(100), 42));
    assert_eq!(sent[1].1, 5002);
    // Legacy form.
    let (reply, _) = r.send(
        2,
        json!({"request": "rtp_forward", "room": 1234, "secret": "adminpwd", "publisher_id": 10,
            "host": "localhost", "audio_port": 6000}),
        None,
    );
    let Reply::Sync(reply) = reply else { panic!() };
    assert_eq!(reply["forwarders"][0]["type"], "audio");
    let list = r.sync(
        2,
        json!({"request": "listforwarders", "room": 1234, "secret": "adminpwd"}),
    );
    assert_eq!(
        list["publishers"][0]["forwarders"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let stream_id = list["publishers"][0]["forwarders"][0]["stream_id"]
        .as_u64()
        .unwrap();
    let (reply, commands) = r.send(
        2,
        json!({"request": "stop_rtp_forward", "room": 1234, "secret": "adminpwd", "publisher_id": 10, "stream_id": stream_id}),
        None,
    );
    assert!(matches!(reply, Reply::Sync(ref v) if v["videoroom"] == "stop_rtp_forward"));
    assert!(matches!(
        commands[..],
        [Command::StopForward { handle: 1, .. }]
    ));
    let bad = r.sync(2, json!({"request": "rtp_forward", "room": 1234, "secret": "adminpwd", "publisher_id": 10, "host": "example.com", "audio_port": 1}));
    assert_eq!(bad["error_code"], 430);
    // Unpublishing ends the rest.
    let (_, _, commands) = r.event(1, json!({"request": "unpublish"}), None);
    let stops = commands
        .iter()
        .filter(|c| matches!(c, Command::StopForward { .. }))
        .count();
    assert_eq!(stops, 2);
}

#[test]
fn bitrate_cap_bounds_what_publishers_ask_for() {
    let mut r = Room::new(&[1]);
    r.sync(
        1,
        json!({"request": "create", "room": 3, "bitrate": 300000, "bitrate_cap": true}),
    );
    let (_, _, commands) = r.event(
        1,
        json!({"request": "joinandconfigure", "ptype": "publisher", "room": 3, "bitrate": 2000000}),
        jsep(JsepType::Offer, OFFER),
    );
    assert!(commands.iter().any(|c| matches!(
        c,
        Command::SetBitrateCap {
            bps: Some(300_000),
            ..
        }
    )));
    let (_, _, commands) = r.event(1, json!({"request": "configure", "bitrate": 0}), None);
    assert!(commands.iter().any(|c| matches!(
        c,
        Command::SetBitrateCap {
            bps: Some(300_000),
            ..
        }
    )));
    let (_, _, commands) = r.event(1, json!({"request": "configure", "bitrate": 100000}), None);
    assert!(commands.iter().any(|c| matches!(
        c,
        Command::SetBitrateCap {
            bps: Some(100_000),
            ..
        }
    )));
}

#[test]
fn layer_switches_are_told_to_the_subscriber_as_substream_and_temporal() {
    let mut r = Room::new(&[1, 5]);
    let simulcast = OFFER.replace(
        "a=fmtp:97 apt=96\r\n",
        "a=fmtp:97 apt=96\r\na=rid:h send\r\na=rid:l send\r\na=simulcast:send h;l\r\n",
    );
    r.event(
        1,
        json!({"request": "joinandconfigure", "ptype": "publisher", "room": 1234, "id": 10}),
        jsep(JsepType::Offer, &simulcast),
    );
    r.subscribe_one(5, 1234, json!({"feed": 10, "mid": "v"}));
    let mut ctx = Ctx::default();
    let l = LayerSwitch::Substream("l".into());
    r.p.layer_switched(&mut ctx, 5, "0", &l);
    r.p.layer_switched(&mut ctx, 5, "zz", &l);
    r.p.layer_switched(&mut ctx, 5, "0", &LayerSwitch::Temporal(1));
    let events = pushes_to(&ctx.commands, 5);
    assert_eq!(
        events,
        vec![
            json!({"videoroom": "event", "room": 1234, "mid": "0", "substream": 0}),
            json!({"videoroom": "event", "room": 1234, "mid": "0", "temporal": 1}),
        ]
    );
    // Asking for what is forwarded already is answered at once.
    let (_, _, commands) = r.event(
        5,
        json!({"request": "configure", "streams": [{"mid": "0", "substream": 0, "temporal": 1}]}),
        None,
    );
    assert_eq!(
        pushes_to(&commands, 5).len(),
        3,
        "configured, substream, temporal"
    );
}

#[test]
fn vp9_subscribers_choose_svc_layers() {
    let mut r = Room::new(&[1, 5]);
    let (created, _) = r.send(
        1,
        json!({"request": "create", "room": 99, "videocodec": "vp9"}),
        None,
    );
    assert!(matches!(created, Reply::Sync(_)), "{created:?}");
    let vp9 = OFFER.replace("VP8/90000", "VP9/90000");
    r.event(
        1,
        json!({"request": "joinandconfigure", "ptype": "publisher", "room": 99, "id": 10}),
        jsep(JsepType::Offer, &vp9),
    );
    let (refused, _, _) = r.event(
        5,
        json!({"request": "join", "ptype": "subscriber", "room": 99,
            "streams": [{"feed": 10, "mid": "v", "spatial_layer": 3}]}),
        None,
    );
    assert_eq!(refused["error_code"], 430, "{refused}");
    let attached = r.subscribe_one(5, 99, json!({"feed": 10, "mid": "v", "spatial_layer": 1}));
    assert_eq!(
        attached["streams"][0]["svc"],
        json!({"spatial-layer": -1, "target-spatial-layer": 1, "temporal-layer": -1,
            "target-temporal-layer": 2}),
        "{attached}"
    );
    let (_, _, commands) = r.event(
        5,
        json!({"request": "start"}),
        jsep(JsepType::Answer, "v=0"),
    );
    assert!(
        commands.iter().any(|c| matches!(
            c,
            Command::SelectSvc {
                handle: 5,
                spatial: 1,
                temporal: 2,
                ..
            }
        )),
        "{commands:?}"
    );
    let mut ctx = Ctx::default();
    r.p.layer_switched(&mut ctx, 5, "0", &LayerSwitch::Spatial(1));
    r.p.layer_switched(&mut ctx, 5, "0", &LayerSwitch::SvcTemporal(2));
    assert_eq!(
        pushes_to(&ctx.commands, 5),
        vec![
            json!({"videoroom": "event", "room": 99, "mid": "0", "spatial_layer": 1}),
            json!({"videoroom": "event", "room": 99, "mid": "0", "temporal_layer": 2}),
        ]
    );
    let (_, _, commands) = r.event(
        5,
        json!({"request": "configure", "streams": [{"mid": "0", "temporal_layer": 0}]}),
        None,
    );
    assert!(commands.iter().any(|c| matches!(
        c,
        Command::SelectSvc {
            spatial: 1,
            temporal: 0,
            ..
        }
    )));
}

/// A state file in memory: what the core's would hold.
#[derive(Default)]
struct MemoryStore(std::sync::Mutex<crate::PermanentState>);

impl crate::PermanentStore for MemoryStore {
    fn save(&self, state: &crate::PermanentState) -> Result<(), String> {
        *self.0.lock().map_err(|e| e.to_string())? = state.clone();
        Ok(())
    }
}

#[test]
fn permanent_rooms_come_back_from_the_state_file_as_they_were_left() {
    let store = std::sync::Arc::new(MemoryStore::default());
    let permanence = |state| crate::Permanence {
        state,
        store: store.clone(),
    };
    let mut r = Room {
        p: VideoRoom::configured(None, Some(&permanence(Default::default()))),
    };
    r.p.create_session(1).unwrap();
    let created = r.sync(
        1,
        json!({"request": "create", "room": 7, "secret": "s", "permanent": true}),
    );
    assert_eq!(
        created,
        json!({"videoroom": "created", "room": 7, "permanent": true})
    );
    let edited = r.sync(
        1,
        json!({"request": "edit", "room": 7, "secret": "s", "new_description": "seven", "permanent": true}),
    );
    assert_eq!(edited["permanent"], true);
    let destroyed = r.sync(
        1,
        json!({"request": "destroy", "room": 1234, "secret": "adminpwd", "permanent": true}),
    );
    assert_eq!(destroyed["permanent"], true);
    assert_eq!(
        r.sync(1, json!({"request": "create", "room": 8}))["permanent"],
        false
    );
    // A restart: the state file as it was left.
    let state = store.0.lock().unwrap().clone();
    let mut r = Room {
        p: VideoRoom::configured(None, Some(&permanence(state))),
    };
    r.p.create_session(1).unwrap();
    let list = r.sync(1, json!({"request": "list"}));
    let rooms: Vec<(u64, String)> = list["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["room"].as_u64().unwrap(),
                e["description"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(rooms, vec![(7, "seven".to_owned())]);
}

fn records(commands: &[Command]) -> Vec<(String, crate::RecordSpec)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Record { mid, spec, .. } => Some((mid.clone(), spec.clone())),
            _ => None,
        })
        .collect()
}

fn record_stops(commands: &[Command]) -> Vec<String> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::StopRecord { mid, .. } => Some(mid.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_publisher_that_asks_is_recorded_per_stream_until_it_unpublishes() {
    let mut r = Room::new(&[1]);
    r.event(
        1,
        json!({"request": "join", "ptype": "publisher", "room": 1234, "id": 10}),
        None,
    );
    let (_, _, commands) = r.event(
        1,
        json!({"request": "publish", "record": true, "filename": "/rec/alice"}),
        jsep(JsepType::Offer, OFFER),
    );
    let started = records(&commands);
    assert_eq!(started.len(), 2, "{started:?}");
    assert_eq!(started[0].0, "a");
    assert_eq!(started[0].1.path, "/rec/alice-audio-0.mjr");
    assert_eq!(started[0].1.codec, "opus");
    assert_eq!(started[1].1.path, "/rec/alice-video-1.mjr");
    assert_eq!(started[1].1.codec, "vp8");
    // Turning it off stops both; on again (the feed is live) restarts with a key frame.
    let (_, _, commands) = r.event(1, json!({"request": "configure", "record": false}), None);
    assert_eq!(record_stops(&commands), ["a", "v"]);
    let (_, _, commands) = r.event(1, json!({"request": "configure", "record": true}), None);
    assert_eq!(records(&commands).len(), 2);
    assert!(commands
        .iter()
        .any(|c| matches!(c, Command::RequestKeyframe { handle: 1 })));
    let (_, _, commands) = r.event(1, json!({"request": "unpublish"}), None);
    assert_eq!(record_stops(&commands), ["a", "v"]);
}

#[test]
fn a_publishers_data_channel_is_recorded_as_text() {
    let mut r = Room::new(&[1]);
    let (joined, _, commands) = r.event(
        1,
        json!({"request": "joinandconfigure", "ptype": "publisher", "room": 1234, "id": 10,
               "record": true, "filename": "/rec/bob"}),
        jsep(JsepType::Offer, &offer_with_data()),
    );
    assert_eq!(joined["videoroom"], "joined", "{joined}");
    let started = records(&commands);
    assert_eq!(started.len(), 3, "{started:?}");
    assert_eq!(started[2].0, "d");
    assert_eq!(started[2].1.path, "/rec/bob-data-2.mjr");
    assert_eq!(started[2].1.codec, "text");
    assert_eq!(started[2].1.fmtp, None);
    let (_, _, commands) = r.event(1, json!({"request": "unpublish"}), None);
    assert_eq!(record_stops(&commands), ["a", "v", "d"]);
}

#[test]
fn enable_recording_records_the_room_into_its_rec_dir() {
    let mut r = Room::new(&[1, 9]);
    let created = r.sync(
        9,
        json!({"request": "create", "room": 77, "secret": "s", "rec_dir": "/var/rec/"}),
    );
    assert_eq!(created["videoroom"], "created");
    r.event(
        1,
        json!({"request": "join", "ptype": "publisher", "room": 77, "id": 5}),
        None,
    );
    let (_, _, commands) = r.event(
        1,
        json!({"request": "publish"}),
        jsep(JsepType::Offer, OFFER),
    );
    assert!(records(&commands).is_empty(), "not recorded yet");
    let e = r.sync(9, json!({"request": "enable_recording", "room": 77}));
    assert_eq!(e["error_code"], 429);
    let e = r.sync(
        9,
        json!({"request": "enable_recording", "room": 77, "record": true}),
    );
    assert_eq!(e["error_code"], 433);
    let (reply, commands) = r.send(
        9,
        json!({"request": "enable_recording", "room": 77, "record": true, "secret": "s"}),
        None,
    );
    let Reply::Sync(ok) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(ok, json!({"videoroom": "success", "record": true}));
    let started = records(&commands);
    assert_eq!(started.len(), 2);
    let path = &started[1].1.path;
    assert!(
        path.starts_with("/var/rec/videoroom-77-user-5-") && path.ends_with("-video-1.mjr"),
        "{path}"
    );
    let list = r.sync(9, json!({"request": "list"}));
    let room = list["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["room"] == 77)
        .unwrap()
        .clone();
    assert_eq!(
        (room["record"].clone(), room["rec_dir"].clone()),
        (json!(true), json!("/var/rec/"))
    );
    let (_, commands) = r.send(
        9,
        json!({"request": "enable_recording", "room": 77, "record": false, "secret": "s"}),
        None,
    );
    assert_eq!(record_stops(&commands), ["a", "v"]);
}

#[test]
fn lock_record_needs_the_secret_to_change_a_recording() {
    let mut r = Room::new(&[1, 9]);
    r.sync(
        9,
        json!({"request": "create", "room": 78, "secret": "s", "lock_record": true}),
    );
    r.event(
        1,
        json!({"request": "join", "ptype": "publisher", "room": 78, "id": 5}),
        None,
    );
    let (_, _, commands) = r.event(
        1,
        json!({"request": "publish", "record": true}),
        jsep(JsepType::Offer, OFFER),
    );
    assert!(records(&commands).is_empty());
    let (_, _, commands) = r.event(
        1,
        json!({"request": "configure", "record": true, "secret": "s"}),
        None,
    );
    assert_eq!(records(&commands).len(), 2);
}
