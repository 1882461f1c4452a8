use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde_json::{json, Value};

use super::*;
use crate::{Jsep, JsepAction, JsepType};

const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 109 0 8\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n\
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=rtpmap:109 opus/48000/2\r\n\
a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=rtpmap:96 VP8/90000\r\n";

fn jsep(kind: JsepType, sdp: &str) -> Option<Jsep> {
    Some(Jsep {
        kind,
        sdp: sdp.into(),
        trickle: None,
        update: false,
        e2ee: false,
    })
}

fn plugin() -> AudioBridge {
    AudioBridge::new(Some(&json!({ "rooms": [] })), None)
}

fn sync(p: &mut AudioBridge, ctx: &mut Ctx, handle: HandleId, body: Value) -> Value {
    crate::dispatch::test_support::sync(p, ctx, handle, body)
}

/// Sends an async request on `handle`; returns the event's data and JSEP action.
fn event(
    p: &mut AudioBridge,
    ctx: &mut Ctx,
    handle: HandleId,
    body: Value,
    jsep: Option<Jsep>,
) -> (Value, Option<JsepAction>) {
    crate::dispatch::test_support::event(p, ctx, handle, body, jsep)
}

/// The events pushed to `handle` without a transaction (notifications).
fn notes(ctx: &Ctx, handle: HandleId) -> Vec<Value> {
    ctx.commands
        .iter()
        .filter_map(|c| match c {
            Command::PushEvent {
                handle: h,
                transaction: None,
                data,
                ..
            } if *h == handle => Some(data.clone()),
            _ => None,
        })
        .collect()
}

fn mix_ins(ctx: &Ctx, handle: HandleId) -> Vec<MixParticipant> {
    ctx.commands
        .iter()
        .filter_map(|c| match c {
            Command::MixIn {
                handle: h,
                participant,
                ..
            } if *h == handle => Some(participant.clone()),
            _ => None,
        })
        .collect()
}

use crate::{MixCodec, MixParticipant};

fn room(p: &mut AudioBridge, ctx: &mut Ctx, body: Value) -> u64 {
    let mut body = body;
    body["request"] = "create".into();
    let r = sync(p, ctx, 100, body);
    assert_eq!(r["audiobridge"], "created", "{r}");
    r["room"].as_u64().unwrap()
}

/// Joins `handle` to `room` with a browser offer; returns the `joined` event.
fn join(p: &mut AudioBridge, ctx: &mut Ctx, handle: HandleId, room: u64, id: u64) -> Value {
    let (data, action) = event(
        p,
        ctx,
        handle,
        json!({ "request": "join", "room": room, "id": id, "display": format!("u{id}") }),
        jsep(JsepType::Offer, OFFER),
    );
    assert_eq!(data["audiobridge"], "joined", "{data}");
    assert!(matches!(action, Some(JsepAction::AnswerOffer { .. })));
    data
}

#[test]
fn the_sample_room_exists_and_its_mixer_starts_with_the_first_request() {
    let mut p = AudioBridge::default();
    let mut ctx = Ctx::default();
    let r = sync(&mut p, &mut ctx, 1, json!({ "request": "list" }));
    assert_eq!(
        r["list"],
        json!([{
            "room": 1234, "description": "Demo Room", "sampling_rate": 16000,
            "spatial_audio": false, "pin_required": false, "record": false,
            "muted": false, "num_participants": 0,
        }])
    );
    assert!(ctx.commands.iter().any(|c| matches!(
        c,
        Command::OpenMixer {
            room: 1234,
            sampling_rate: 16000,
            ..
        }
    )));
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "destroy", "room": 1234 }),
    );
    assert_eq!(
        (r["error_code"].clone(), r["error"].clone()),
        (json!(483), json!("Missing mandatory element (secret)"))
    );
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "destroy", "room": 1234, "secret": "adminpwd" }),
    );
    assert_eq!(
        r,
        json!({ "audiobridge": "destroyed", "room": 1234, "permanent": false })
    );
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::CloseMixer { room: 1234 })));
}

#[test]
fn create_checks_its_fields_and_opens_a_mixer() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "create", "room": 5, "sampling_rate": 48000 }),
    );
    assert_eq!(
        r,
        json!({ "audiobridge": "created", "room": 5, "permanent": false })
    );
    let key = room::room_key(5);
    assert!(ctx.commands.iter().any(|c| matches!(
        c,
        Command::OpenMixer { room: 5, key: k, sampling_rate: 48000 } if *k == key
    )));
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "create", "room": 5 }),
    );
    assert_eq!(
        (r["error_code"].clone(), r["error"].clone()),
        (json!(486), json!("Room 5 already exists"))
    );
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "create", "sampling_rate": 44100 }),
    );
    assert_eq!(
        (r["error_code"].clone(), r["error"].clone()),
        (json!(499), json!("Unsupported sampling rate 44100"))
    );
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "create", "is_private": "yes" }),
    );
    assert_eq!(
        (r["error_code"].clone(), r["error"].clone()),
        (
            json!(484),
            json!("Invalid element type (is_private should be a boolean)")
        )
    );
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "create", "allowed": [1] }),
    );
    assert_eq!(r["error_code"], 484);
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "create", "is_private": true }),
    );
    let id = r["room"].as_u64().unwrap();
    assert!(id > 0 && id < 1 << 53);
    let list = sync(&mut p, &mut ctx, 1, json!({ "request": "list" }));
    assert_eq!(
        list["list"].as_array().unwrap().len(),
        1,
        "private rooms are not listed"
    );
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "exists", "room": id }),
    );
    assert_eq!(
        r,
        json!({ "audiobridge": "success", "room": id, "exists": true })
    );
    let r = sync(&mut p, &mut ctx, 1, json!({ "request": "nope" }));
    assert_eq!(
        (r["error_code"].clone(), r["error"].clone()),
        (json!(482), json!("Unknown request 'nope'"))
    );
    let r = sync(&mut p, &mut ctx, 1, json!({ "room": 1 }));
    assert_eq!(r["error_code"], 483);

    let mut p = AudioBridge::new(Some(&json!({ "admin_key": "k", "rooms": [] })), None);
    let r = sync(&mut p, &mut ctx, 1, json!({ "request": "create" }));
    assert_eq!(r["error_code"], 483);
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "create", "admin_key": "x" }),
    );
    assert_eq!(
        (r["error_code"].clone(), r["error"].clone()),
        (json!(489), json!("Unauthorized (wrong admin_key)"))
    );
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "create", "admin_key": "k" }),
    );
    assert_eq!(r["audiobridge"], "created");
}

#[test]
fn settings_name_the_bad_room() {
    assert!(Settings::parse(None).unwrap().rooms.is_none());
    let e = Settings::parse(Some(&json!({ "rooms": [{ "room": 1 }, { "room": 1 }] }))).unwrap_err();
    assert!(e.contains("room 1 is used twice"), "{e}");
    let e = Settings::parse(Some(
        &json!({ "rooms": [{ "room": 2, "sampling_rate": 7 }] }),
    ))
    .unwrap_err();
    assert_eq!(e, "rooms[0] (room 2): Unsupported sampling rate 7");
    let e = Settings::parse(Some(&json!({ "rooms": [{ "description": "x" }] }))).unwrap_err();
    assert_eq!(e, "rooms[0]: Missing mandatory element (room)");
    let e = Settings::parse(Some(&json!({ "admin_key": 3 }))).unwrap_err();
    assert!(e.contains("admin_key"));
    let p = AudioBridge::new(Some(&json!({ "rooms": [{ "room": 9, "pin": "1" }] })), None);
    assert!(p.rooms.contains_key(&9) && !p.rooms.contains_key(&1234));
}

#[test]
fn joining_pins_the_shard_answers_the_offer_and_mixes() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    let r = room(&mut p, &mut ctx, json!({ "room": 7 }));
    ctx.commands.clear();
    let data = join(&mut p, &mut ctx, 1, r, 11);
    assert_eq!(
        data,
        json!({ "audiobridge": "joined", "room": 7, "id": 11, "display": "u11", "participants": [] })
    );
    let kinds: Vec<&str> = ctx
        .commands
        .iter()
        .map(|c| match c {
            Command::PinShard { .. } => "pin",
            Command::PushEvent { .. } => "event",
            Command::MixIn { .. } => "mixin",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["pin", "event", "mixin"]);
    let Some(Command::PinShard { key, .. }) = ctx.commands.first() else {
        panic!()
    };
    assert_eq!(*key, room::room_key(7));
    let Some(Command::PushEvent {
        jsep: Some(JsepAction::AnswerOffer { offer }),
        ..
    }) = ctx.commands.get(1)
    else {
        panic!()
    };
    assert!(offer.contains("m=audio 9 UDP/TLS/RTP/SAVPF 109\r\n"));
    assert!(offer.contains("m=video 0 "));
    let mix = mix_ins(&ctx, 1);
    assert_eq!(
        (mix[0].pt, mix[0].codec, mix[0].quality, mix[0].rtp),
        (109, MixCodec::Opus, 4, false)
    );

    ctx.commands.clear();
    let data = join(&mut p, &mut ctx, 2, r, 12);
    assert_eq!(
        data["participants"],
        json!([{ "id": 11, "display": "u11", "setup": false, "muted": false, "talking": false }])
    );
    assert_eq!(
        notes(&ctx, 1),
        [
            json!({ "audiobridge": "joined", "room": 7, "participants": [
                { "id": 12, "display": "u12", "setup": false, "muted": false }
            ]})
        ]
    );
    ctx.commands.clear();
    p.setup_media(&mut ctx, 2);
    assert_eq!(notes(&ctx, 1)[0]["participants"][0]["setup"], true);
    assert!(notes(&ctx, 2).is_empty());
    let list = sync(
        &mut p,
        &mut ctx,
        3,
        json!({ "request": "listparticipants", "room": 7 }),
    );
    assert_eq!(list["audiobridge"], "participants");
    assert_eq!(list["participants"][1]["setup"], true);

    let (e, _) = event(
        &mut p,
        &mut ctx,
        3,
        json!({ "request": "join", "room": 7, "id": 11 }),
        None,
    );
    assert_eq!(
        (e["error_code"].clone(), e["error"].clone()),
        (json!(490), json!("User ID 11 already exists"))
    );
    let (e, _) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "join", "room": 7 }),
        None,
    );
    assert_eq!(e["error_code"], 491);
    let (e, _) = event(
        &mut p,
        &mut ctx,
        3,
        json!({ "request": "join", "room": 8 }),
        None,
    );
    assert_eq!(
        (e["error_code"].clone(), e["error"].clone()),
        (json!(485), json!("No such room (8)"))
    );
    let (e, _) = event(
        &mut p,
        &mut ctx,
        3,
        json!({ "request": "join", "room": 7, "codec": "g722" }),
        None,
    );
    assert_eq!(
        e["error"],
        "Invalid element (codec must opus, pcmu or pcma)"
    );
    let (e, _) = event(
        &mut p,
        &mut ctx,
        3,
        json!({ "request": "join", "room": 7, "quality": 11 }),
        None,
    );
    assert_eq!(e["error_code"], 484);
    let (e, _) = event(
        &mut p,
        &mut ctx,
        3,
        json!({ "request": "join", "room": 7 }),
        jsep(JsepType::Answer, OFFER),
    );
    assert_eq!(e["error_code"], 493);
}

#[test]
fn pins_tokens_and_groups_guard_the_door() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    room(
        &mut p,
        &mut ctx,
        json!({ "room": 3, "pin": "p", "allowed": ["tok"], "groups": ["a", "b"], "secret": "s" }),
    );
    let (e, _) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "join", "room": 3 }),
        None,
    );
    assert_eq!(e["error"], "Missing mandatory element (pin)");
    let (e, _) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "join", "room": 3, "pin": "x" }),
        None,
    );
    assert_eq!(
        (e["error_code"].clone(), e["error"].clone()),
        (json!(489), json!("Unauthorized (wrong pin)"))
    );
    let (e, _) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "join", "room": 3, "pin": "p" }),
        None,
    );
    assert_eq!(e["error"], "Unauthorized (not in the allowed list)");
    let (e, _) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "join", "room": 3, "pin": "p", "token": "tok" }),
        None,
    );
    assert_eq!(e["error"], "Missing mandatory element (group)");
    let (e, _) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "join", "room": 3, "pin": "p", "token": "tok", "group": "c" }),
        None,
    );
    assert_eq!(
        (e["error_code"].clone(), e["error"].clone()),
        (json!(494), json!("No such group (c)"))
    );
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "allowed", "room": 3, "secret": "s", "action": "disable" }),
    );
    assert_eq!(r, json!({ "audiobridge": "success", "room": 3 }));
    let (d, _) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "join", "room": 3, "pin": "p", "group": "a" }),
        None,
    );
    assert_eq!(d["audiobridge"], "joined");
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "allowed", "room": 3, "secret": "s", "action": "add", "allowed": ["t2"] }),
    );
    assert_eq!(r["allowed"], json!(["t2", "tok"]));
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "allowed", "room": 3, "secret": "s", "action": "zap" }),
    );
    assert_eq!(r["error"], "Unsupported action 'zap' (allowed)");
}

#[test]
fn moderation_mutes_suspends_and_kicks() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    room(&mut p, &mut ctx, json!({ "room": 7, "secret": "s" }));
    join(&mut p, &mut ctx, 1, 7, 11);
    join(&mut p, &mut ctx, 2, 7, 12);
    ctx.commands.clear();
    let r = sync(
        &mut p,
        &mut ctx,
        3,
        json!({ "request": "mute", "room": 7, "id": 12, "secret": "s" }),
    );
    assert_eq!(r, json!({ "audiobridge": "success", "room": 7 }));
    assert!(mix_ins(&ctx, 2)[0].muted);
    for h in [1, 2] {
        assert_eq!(notes(&ctx, h)[0]["participants"][0]["muted"], true);
    }
    let r = sync(
        &mut p,
        &mut ctx,
        3,
        json!({ "request": "mute", "room": 7, "id": 13, "secret": "s" }),
    );
    assert_eq!(
        (r["error_code"].clone(), r["error"].clone()),
        (json!(492), json!("No such user 13 in room 7"))
    );

    ctx.commands.clear();
    let r = sync(
        &mut p,
        &mut ctx,
        3,
        json!({ "request": "mute_room", "room": 7, "secret": "s" }),
    );
    assert_eq!(r["audiobridge"], "success");
    assert!(mix_ins(&ctx, 1)[0].muted);
    assert_eq!(
        notes(&ctx, 1),
        [json!({ "audiobridge": "event", "room": 7, "muted": true })]
    );
    assert_eq!(
        sync(&mut p, &mut ctx, 3, json!({ "request": "list" }))["list"][0]["muted"],
        true
    );

    ctx.commands.clear();
    // A participant may suspend itself without the secret.
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "suspend", "room": 7, "id": 11 }),
    );
    assert_eq!(r, json!({ "audiobridge": "success" }));
    assert!(mix_ins(&ctx, 1)[0].suspended);
    assert_eq!(
        notes(&ctx, 2),
        [json!({ "audiobridge": "event", "room": 7, "suspended": 11 })]
    );
    let r = sync(
        &mut p,
        &mut ctx,
        3,
        json!({ "request": "resume", "room": 7, "id": 11 }),
    );
    assert_eq!(r["error_code"], 483);

    ctx.commands.clear();
    let r = sync(
        &mut p,
        &mut ctx,
        3,
        json!({ "request": "kick", "room": 7, "id": 12, "secret": "s" }),
    );
    assert_eq!(r, json!({ "audiobridge": "success" }));
    assert_eq!(
        notes(&ctx, 2),
        [json!({ "audiobridge": "event", "room": 7, "kicked": 12 })]
    );
    assert!(notes(&ctx, 1).contains(&json!({ "audiobridge": "event", "room": 7, "leaving": 12 })));
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::MixOut { room: 7, handle: 2 })));
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::ClosePc { handle: 2 })));
    ctx.commands.clear();
    p.hangup_media(&mut ctx, 2);
    assert!(ctx.commands.is_empty());

    ctx.commands.clear();
    sync(
        &mut p,
        &mut ctx,
        3,
        json!({ "request": "kick_all", "room": 7, "secret": "s" }),
    );
    assert_eq!(
        notes(&ctx, 1),
        [json!({ "audiobridge": "event", "room": 7, "kicked_all": 11 })]
    );
    let list = sync(
        &mut p,
        &mut ctx,
        3,
        json!({ "request": "listparticipants", "room": 7 }),
    );
    assert_eq!(list["participants"], json!([]));
}

#[test]
fn configure_changes_settings_and_tells_the_others() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    room(&mut p, &mut ctx, json!({ "room": 7 }));
    join(&mut p, &mut ctx, 1, 7, 11);
    join(&mut p, &mut ctx, 2, 7, 12);
    ctx.commands.clear();
    let (d, _) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "configure", "muted": true, "display": "x", "volume": 150, "bitrate": 24000, "quality": 10 }),
        None,
    );
    assert_eq!(d, json!({ "audiobridge": "event", "result": "ok" }));
    let m = mix_ins(&ctx, 1).remove(0);
    assert_eq!(
        (m.muted, m.volume, m.bitrate, m.quality),
        (true, 150, 24000, 10)
    );
    assert_eq!(
        notes(&ctx, 2),
        [json!({ "audiobridge": "event", "room": 7, "participants": [
            { "id": 11, "display": "x", "setup": false, "muted": true }
        ]})]
    );
    assert!(notes(&ctx, 1).is_empty());
    let (e, _) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "configure", "expected_loss": 30 }),
        None,
    );
    assert_eq!(
        e["error"],
        "Invalid element (expected_loss should be a positive integer between 0 and 20)"
    );
    let (e, _) = event(&mut p, &mut ctx, 3, json!({ "request": "configure" }), None);
    assert_eq!(
        (e["error_code"].clone(), e["error"].clone()),
        (json!(487), json!("Can't configure (not in a room)"))
    );
    // A renegotiation: a new offer is answered with the same codec.
    let (_, a) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "configure" }),
        jsep(JsepType::Offer, OFFER),
    );
    assert!(matches!(a, Some(JsepAction::AnswerOffer { .. })));
}

#[test]
fn generate_offer_is_answered_in_configure() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    room(&mut p, &mut ctx, json!({ "room": 7 }));
    let (d, a) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "join", "room": 7, "id": 5, "codec": "pcmu", "generate_offer": true }),
        None,
    );
    assert_eq!(d["id"], 5);
    let Some(JsepAction::Offer { media, .. }) = a else {
        panic!("no offer: {a:?}")
    };
    assert_eq!(
        (
            media[0].codecs[0].pt,
            media[0].codecs[0].name.as_str(),
            media[0].send_only
        ),
        (0, "PCMU", false)
    );
    assert!(mix_ins(&ctx, 1).is_empty(), "no mix before the answer");
    let (e, _) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "configure" }),
        jsep(JsepType::Offer, OFFER),
    );
    assert_eq!(e["error"], "Received an offer on a plugin-offered session");
    ctx.commands.clear();
    let (d, _) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "configure" }),
        jsep(JsepType::Answer, "v=0"),
    );
    assert_eq!(d["result"], "ok");
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::AcceptAnswer { handle: 1, .. })));
    let m = mix_ins(&ctx, 1).remove(0);
    assert_eq!((m.codec, m.pt), (MixCodec::Pcmu, 0));
}

#[test]
fn talking_is_watched_and_reported_to_everyone() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    room(
        &mut p,
        &mut ctx,
        json!({ "room": 7, "audiolevel_event": true, "audio_active_packets": 50, "audio_level_average": 40 }),
    );
    join(&mut p, &mut ctx, 1, 7, 11);
    assert!(ctx.commands.iter().any(|c| matches!(
        c,
        Command::WatchTalking {
            handle: 1,
            packets: 50,
            threshold: 40
        }
    )));
    join(&mut p, &mut ctx, 2, 7, 12);
    ctx.commands.clear();
    p.talking(&mut ctx, 1, "0", true, 20.0);
    for h in [1, 2] {
        assert_eq!(
            notes(&ctx, h),
            [json!({ "audiobridge": "talking", "room": 7, "id": 11 })]
        );
    }
    let list = sync(
        &mut p,
        &mut ctx,
        3,
        json!({ "request": "listparticipants", "room": 7 }),
    );
    assert_eq!(list["participants"][0]["talking"], true);
    ctx.commands.clear();
    p.talking(&mut ctx, 1, "0", false, 60.0);
    assert_eq!(notes(&ctx, 2)[0]["audiobridge"], "stopped-talking");
}

#[test]
fn leaving_hanging_up_and_destroying() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    room(&mut p, &mut ctx, json!({ "room": 7 }));
    join(&mut p, &mut ctx, 1, 7, 11);
    join(&mut p, &mut ctx, 2, 7, 12);
    join(&mut p, &mut ctx, 3, 7, 13);
    ctx.commands.clear();
    let (d, _) = event(&mut p, &mut ctx, 1, json!({ "request": "leave" }), None);
    assert_eq!(d, json!({ "audiobridge": "left", "room": 7, "id": 11 }));
    assert_eq!(
        notes(&ctx, 2),
        [json!({ "audiobridge": "event", "room": 7, "leaving": 11 })]
    );
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::MixOut { room: 7, handle: 1 })));
    let (e, _) = event(&mut p, &mut ctx, 1, json!({ "request": "leave" }), None);
    assert_eq!(e["error_code"], 487);

    ctx.commands.clear();
    let (d, _) = event(&mut p, &mut ctx, 2, json!({ "request": "hangup" }), None);
    assert_eq!(d, json!({ "audiobridge": "hangingup" }));
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::ClosePc { handle: 2 })));
    p.hangup_media(&mut ctx, 2);
    assert_eq!(
        notes(&ctx, 3),
        [json!({ "audiobridge": "event", "room": 7, "leaving": 12 })]
    );

    ctx.commands.clear();
    sync(
        &mut p,
        &mut ctx,
        9,
        json!({ "request": "destroy", "room": 7 }),
    );
    assert_eq!(
        notes(&ctx, 3),
        [json!({ "audiobridge": "destroyed", "room": 7 })]
    );
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::ClosePc { handle: 3 })));
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::CloseMixer { room: 7 })));
    let (e, _) = event(&mut p, &mut ctx, 3, json!({ "request": "configure" }), None);
    assert_eq!(e["error_code"], 487);
}

#[test]
fn changeroom_moves_the_participant_and_its_mix() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    room(&mut p, &mut ctx, json!({ "room": 7 }));
    room(&mut p, &mut ctx, json!({ "room": 8 }));
    join(&mut p, &mut ctx, 1, 7, 11);
    join(&mut p, &mut ctx, 2, 7, 12);
    join(&mut p, &mut ctx, 3, 8, 13);
    ctx.commands.clear();
    let (d, _) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "changeroom", "room": 8, "id": 21 }),
        None,
    );
    assert_eq!(d["audiobridge"], "roomchanged");
    assert_eq!((d["room"].clone(), d["id"].clone()), (json!(8), json!(21)));
    assert_eq!(d["participants"][0]["id"], 13);
    assert_eq!(
        notes(&ctx, 2),
        [json!({ "audiobridge": "event", "room": 7, "leaving": 11 })]
    );
    assert_eq!(notes(&ctx, 3)[0]["audiobridge"], "joined");
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::MixOut { room: 7, handle: 1 })));
    assert!(ctx.commands.iter().any(|c| matches!(
        c,
        Command::MixIn {
            room: 8,
            handle: 1,
            ..
        }
    )));
    let (e, _) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "changeroom", "room": 8 }),
        None,
    );
    assert_eq!(e["error"], "Already in this room");
}

#[test]
fn plain_rtp_participants_join_once_their_ports_are_open() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    room(&mut p, &mut ctx, json!({ "room": 7 }));
    room(
        &mut p,
        &mut ctx,
        json!({ "room": 8, "allow_rtp_participants": true }),
    );
    join(&mut p, &mut ctx, 1, 8, 11);
    let body = |room: u64| {
        json!({ "request": "join", "room": room, "id": 5, "codec": "pcma",
        "rtp": { "ip": "192.0.2.1", "port": 4000, "payload_type": 8 } })
    };
    p.create_session(2).ok();
    ctx.commands.clear();
    let msg = |body| Message {
        handle: 2,
        transaction: Some("r".into()),
        body,
        jsep: None,
    };
    assert!(matches!(
        p.handle_message(&mut ctx, msg(body(7))),
        Reply::Ack
    ));
    let Some(Command::PushEvent {
        data, transaction, ..
    }) = ctx.commands.last()
    else {
        panic!()
    };
    assert_eq!(
        (data["error"].clone(), transaction.as_deref()),
        (
            json!("Plain RTP participants not allowed in this room"),
            Some("r")
        )
    );
    ctx.commands.clear();
    assert!(matches!(
        p.handle_message(&mut ctx, msg(body(8))),
        Reply::Ack
    ));
    assert!(matches!(
        ctx.commands[0],
        Command::PinShard { handle: 2, .. }
    ));
    assert!(matches!(
        ctx.commands[1],
        Command::OpenRtp {
            handle: 2,
            video: false
        }
    ));
    assert_eq!(ctx.commands.len(), 2, "the answer waits for the ports");
    ctx.commands.clear();
    let local = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    p.rtp_opened(
        &mut ctx,
        2,
        Ok(RtpPorts {
            ip: local,
            audio: (SocketAddr::new(local, 20000), SocketAddr::new(local, 20001)),
            video: None,
        }),
    );
    let Some(Command::ConfigureRtp { config, .. }) = ctx.commands.first() else {
        panic!("{:?}", ctx.commands)
    };
    assert_eq!(config.remote_rtp, Some("192.0.2.1:4000".parse().unwrap()));
    assert_eq!(config.clock_rate, 8000);
    let joined = ctx
        .commands
        .iter()
        .find_map(|c| match c {
            Command::PushEvent {
                handle: 2,
                transaction: Some(t),
                data,
                ..
            } if t == "r" => Some(data.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        joined["rtp"],
        json!({ "ip": "10.0.0.1", "port": 20000, "payload_type": 8 })
    );
    assert_eq!(joined["participants"][0]["id"], 11);
    let m = mix_ins(&ctx, 2).remove(0);
    assert_eq!((m.rtp, m.codec, m.pt), (true, MixCodec::Pcma, 8));
    let seen = notes(&ctx, 1);
    assert_eq!(seen[0]["audiobridge"], "joined");
    assert_eq!(seen[1]["participants"][0]["setup"], true);
    ctx.commands.clear();
    let (d, _) = event(&mut p, &mut ctx, 2, json!({ "request": "leave" }), None);
    assert_eq!(d["audiobridge"], "left");
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::CloseRtp { handle: 2 })));
}

#[test]
fn announcements_play_stop_and_end() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    room(&mut p, &mut ctx, json!({ "room": 7, "secret": "s" }));
    join(&mut p, &mut ctx, 1, 7, 11);
    ctx.commands.clear();
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "play_file", "room": 7, "secret": "s", "filename": "/tmp/a.opus", "file_id": "f1", "loop": true }),
    );
    assert_eq!(
        r,
        json!({ "audiobridge": "success", "room": 7, "file_id": "f1" })
    );
    assert!(ctx.commands.iter().any(|c| matches!(
        c,
        Command::MixPlayFile { room: 7, file, path, looped: true } if file == "f1" && path == "/tmp/a.opus"
    )));
    assert_eq!(
        notes(&ctx, 1),
        [json!({ "audiobridge": "announcement-started", "room": 7, "file_id": "f1" })]
    );
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "play_file", "room": 7, "secret": "s", "filename": "/tmp/a.opus", "file_id": "f1" }),
    );
    assert_eq!(
        (r["error_code"].clone(), r["error"].clone()),
        (json!(490), json!("File ID exists (f1)"))
    );
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "is_playing", "room": 7, "secret": "s", "file_id": "f1" }),
    );
    assert_eq!(r["playing"], true);
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "listannouncements", "room": 7, "secret": "s" }),
    );
    assert_eq!(
        r["announcements"],
        json!([{ "file_id": "f1", "filename": "/tmp/a.opus", "playing": true, "loop": true }])
    );
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "play_file", "room": 7, "secret": "s", "filename": "/tmp/b.opus" }),
    );
    let f2 = r["file_id"].as_str().unwrap().to_owned();
    assert_eq!(f2.len(), 36);
    ctx.commands.clear();
    p.mix_file_done(&mut ctx, 7, &f2, None);
    assert_eq!(
        notes(&ctx, 1),
        [json!({ "audiobridge": "announcement-stopped", "room": 7, "file_id": f2 })]
    );
    ctx.commands.clear();
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "stop_file", "room": 7, "secret": "s", "file_id": "f1" }),
    );
    assert_eq!(
        r,
        json!({ "audiobridge": "success", "room": 7, "file_id": "f1" })
    );
    assert!(ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::MixStopFile { room: 7, file } if file == "f1")));
    assert_eq!(notes(&ctx, 1)[0]["audiobridge"], "announcement-stopped");
    ctx.commands.clear();
    p.mix_file_done(&mut ctx, 7, "f1", None);
    assert!(ctx.commands.is_empty(), "a stopped file ends quietly");
}

#[test]
fn what_this_server_does_not_do_is_refused_plainly() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    room(&mut p, &mut ctx, json!({ "room": 7 }));
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "enable_recording", "room": 7, "record": true,
                "record_file": "mix.wav", "record_dir": "/tmp/rooms/" }),
    );
    assert_eq!(r, json!({ "audiobridge": "success", "record": true }));
    assert!(ctx.commands.iter().any(|c| matches!(c,
        Command::MixRecord { room: 7, path: Some(p) } if p == "/tmp/rooms/mix.wav")));
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "enable_recording", "room": 7, "record": false }),
    );
    assert!(matches!(
        ctx.commands.last(),
        Some(Command::MixRecord {
            room: 7,
            path: None
        })
    ));
    assert_eq!(r, json!({ "audiobridge": "success", "record": false }));
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "rtp_forward", "room": 7, "host": "127.0.0.1", "port": 5000, "codec": "pcmu" }),
    );
    assert_eq!(r["audiobridge"], "success");
    let stream = r["stream_id"].as_u64().unwrap();
    assert!(ctx.commands.iter().any(|c| matches!(c,
        Command::MixForward { room: 7, forward } if forward.pt == 0
            && forward.destination == "127.0.0.1:5000".parse().unwrap()
            && u64::from(forward.id) == stream)));
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "rtp_forward", "room": 7, "host": "127.0.0.1" }),
    );
    assert_eq!(r["error"], "Missing mandatory element (port)");
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "rtp_forward", "room": 7, "host": "pbx.example", "port": 5000 }),
    );
    assert_eq!(r["error_code"], 484);
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "listforwarders", "room": 7 }),
    );
    assert_eq!(r["rtp_forwarders"][0]["stream_id"], stream);
    assert_eq!(r["rtp_forwarders"][0]["codec"], "pcmu");
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "stop_rtp_forward", "room": 7, "stream_id": stream }),
    );
    assert_eq!(r["audiobridge"], "success");
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "listforwarders", "room": 7 }),
    );
    assert_eq!(
        r,
        json!({ "audiobridge": "forwarders", "room": 7, "rtp_forwarders": [] })
    );
    let r = sync(&mut p, &mut ctx, 1, json!({ "request": "resetdecoder" }));
    assert_eq!(r["error"], "Can't reset (not in a room)");
    let r = sync(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "create", "spatial_audio": true }),
    );
    assert_eq!(r["error_code"], 499);
    let (e, _) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "join", "room": 7, "record": true }),
        None,
    );
    assert_eq!(e["error_code"], 499);
}

#[test]
fn joining_again_on_a_live_peerconnection_keeps_its_codec_and_shard() {
    let mut p = plugin();
    let mut ctx = Ctx::default();
    room(&mut p, &mut ctx, json!({ "room": 7 }));
    join(&mut p, &mut ctx, 1, 7, 11);
    p.setup_media(&mut ctx, 1);
    event(&mut p, &mut ctx, 1, json!({ "request": "leave" }), None);
    ctx.commands.clear();
    let (d, a) = event(
        &mut p,
        &mut ctx,
        1,
        json!({ "request": "join", "room": 7 }),
        None,
    );
    assert_eq!(d["audiobridge"], "joined");
    assert!(a.is_none());
    assert!(!ctx
        .commands
        .iter()
        .any(|c| matches!(c, Command::PinShard { .. })));
    assert_eq!(mix_ins(&ctx, 1)[0].pt, 109);
    let list = sync(
        &mut p,
        &mut ctx,
        3,
        json!({ "request": "listparticipants", "room": 7 }),
    );
    assert_eq!(list["participants"][0]["setup"], true);
}

// ---- dial-in PIN prompt ----------------------------------------------------------------

mod pin_prompt {
    use super::*;
    use crate::audiobridge::dialin::tests::{arrive, request, responses};
    use crate::audiobridge::pin::{lobby_id, PIN_TIMEOUT};
    use crate::SipIn;
    use cardea_media::rtp_leg::RtpLegEvent;
    use cardea_sip::transaction::{Destination, Timers, TransactionLayer};
    use std::time::{Duration, Instant};

    const CALLER: &str = "127.0.0.1:5070";
    const H: HandleId = 9;

    fn bridge(prompt: Option<&str>) -> AudioBridge {
        let mut settings = json!({ "rooms": [{ "room": 77, "pin": "1234" }] });
        if let Some(p) = prompt {
            settings["pin_prompt"] = p.into();
        }
        let env = crate::sip::SipEnv {
            udp: "127.0.0.1:5060".parse().unwrap(),
            user_agent: "test".into(),
            keepalive: None,
        };
        AudioBridge::new(Some(&settings), None).with_sip(Some(env))
    }

    /// A caller dials room 77; returns the plugin's commands.
    fn dial(p: &mut AudioBridge, layer: &mut TransactionLayer) -> Ctx {
        let mut ctx = Ctx::default();
        let (key, invite) = arrive(layer, &request("INVITE", 1, None, Some(4000)));
        let source = Destination::udp(CALLER.parse().unwrap());
        p.incoming_sip(
            &mut ctx,
            H,
            SipIn::DialIn {
                room: 77,
                key,
                request: invite,
                source,
            },
        );
        ctx
    }

    fn open_leg(p: &mut AudioBridge) -> Ctx {
        let mut ctx = Ctx::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let ports = RtpPorts {
            ip,
            audio: (SocketAddr::new(ip, 20000), SocketAddr::new(ip, 20001)),
            video: None,
        };
        p.rtp_opened(&mut ctx, H, Ok(ports));
        ctx
    }

    fn keys(p: &mut AudioBridge, ctx: &mut Ctx, keys: &str) {
        for digit in keys.chars() {
            for end in [false, true] {
                let event = RtpLegEvent::Dtmf {
                    digit,
                    duration: Duration::from_millis(100),
                    end,
                };
                p.rtp_event(ctx, H, event);
            }
        }
    }

    fn sent_bye(ctx: &Ctx) -> bool {
        ctx.commands.iter().any(|c| {
            matches!(c, Command::Sip { out: crate::SipOut::Request { request, .. }, .. }
                if request.method == cardea_sip::Method::Bye)
        })
    }

    #[test]
    fn a_room_with_a_pin_and_no_prompt_refuses_callers() {
        let mut p = bridge(None);
        let mut layer = TransactionLayer::new(Timers::default());
        let ctx = dial(&mut p, &mut layer);
        let r = responses(&ctx);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].status, 403);
        assert_eq!(r[0].reason, "Forbidden - PIN required");
        assert!(!ctx
            .commands
            .iter()
            .any(|c| matches!(c, Command::OpenRtp { .. })));
    }

    #[test]
    fn the_caller_hears_the_prompt_apart_and_enters_with_the_right_pin() {
        let mut p = bridge(Some("/prompts/pin.opus"));
        let mut layer = TransactionLayer::new(Timers::default());
        let ctx = dial(&mut p, &mut layer);
        assert!(ctx.commands.iter().any(
            |c| matches!(c, Command::PinShard { handle: H, key } if *key == room::room_key(77))
        ));
        assert!(p.rooms[&77].participants.is_empty());
        let ctx = open_leg(&mut p);
        assert!(responses(&ctx).iter().any(|r| r.status == 200));
        let lobby = lobby_id(H);
        assert!(ctx.commands.iter().any(|c| matches!(c,
            Command::OpenMixer { room, key, sampling_rate: 16_000 } if *room == lobby && *key == room::room_key(77))));
        assert!(ctx.commands.iter().any(|c| matches!(c,
            Command::MixIn { room, handle: H, participant } if *room == lobby && participant.rtp)));
        assert!(ctx.commands.iter().any(|c| matches!(c,
            Command::MixPlayFile { room, path, looped: true, .. } if *room == lobby && path == "/prompts/pin.opus")));
        assert!(!ctx
            .commands
            .iter()
            .any(|c| matches!(c, Command::MixIn { room: 77, .. })));
        assert!(p.rooms[&77].participants.is_empty(), "not listed yet");

        // A wrong PIN: still in the lobby.
        let mut ctx = Ctx::default();
        keys(&mut p, &mut ctx, "99#");
        assert!(p.rooms[&77].participants.is_empty());
        assert!(!sent_bye(&ctx));
        assert!(!ctx
            .commands
            .iter()
            .any(|c| matches!(c, Command::MixIn { room: 77, .. })));
        // The right one: out of the lobby, into the room.
        keys(&mut p, &mut ctx, "1234");
        assert!(ctx.commands.iter().any(|c| matches!(c,
            Command::MixOut { room, handle: H } if *room == lobby)));
        assert!(ctx
            .commands
            .iter()
            .any(|c| matches!(c, Command::CloseMixer { room } if *room == lobby)));
        assert!(ctx.commands.iter().any(|c| matches!(c,
            Command::MixIn { room: 77, handle: H, participant } if participant.rtp && participant.pt == 0)));
        assert_eq!(p.rooms[&77].participants.len(), 1);
        // Keys in the room are ignored.
        let mut ctx = Ctx::default();
        keys(&mut p, &mut ctx, "000#000#000#");
        assert!(!sent_bye(&ctx));
        assert_eq!(p.rooms[&77].participants.len(), 1);
    }

    #[test]
    fn three_wrong_pins_or_a_timeout_hang_up() {
        let mut p = bridge(Some("/prompts/pin.opus"));
        let mut layer = TransactionLayer::new(Timers::default());
        dial(&mut p, &mut layer);
        open_leg(&mut p);
        let mut ctx = Ctx::default();
        keys(&mut p, &mut ctx, "1111");
        keys(&mut p, &mut ctx, "2#");
        assert!(!sent_bye(&ctx));
        keys(&mut p, &mut ctx, "3#");
        assert!(sent_bye(&ctx), "BYE after three wrong PINs");
        assert!(p.rooms[&77].participants.is_empty());

        let mut p = bridge(Some("/prompts/pin.opus"));
        let mut layer = TransactionLayer::new(Timers::default());
        let start = Instant::now();
        dial(&mut p, &mut layer);
        open_leg(&mut p);
        let mut ctx = Ctx::at(start + PIN_TIMEOUT - Duration::from_secs(1));
        p.handle_timeout(&mut ctx);
        assert!(!sent_bye(&ctx));
        let mut ctx = Ctx::at(start + PIN_TIMEOUT + Duration::from_secs(1));
        p.handle_timeout(&mut ctx);
        assert!(sent_bye(&ctx), "BYE when the PIN does not come in time");
    }

    #[test]
    fn a_sip_info_key_counts_too() {
        let mut p = bridge(Some("/prompts/pin.opus"));
        let mut layer = TransactionLayer::new(Timers::default());
        dial(&mut p, &mut layer);
        let ctx = open_leg(&mut p);
        let ok = responses(&ctx)
            .into_iter()
            .find(|r| r.status == 200)
            .unwrap();
        let tag = ok
            .headers
            .typed::<cardea_sip::typed::To>()
            .ok()
            .flatten()
            .and_then(|t| t.tag().map(str::to_owned))
            .unwrap();
        let mut ctx = Ctx::default();
        for (i, k) in "1234".chars().enumerate() {
            let body = format!("Signal={k}\r\nDuration=160\r\n");
            let text = format!(
                "INFO sip:5000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bKinfo{i}\r\n\
                 From: \"Desk Phone\" <sip:desk@127.0.0.1>;tag=caller\r\nTo: <sip:5000@127.0.0.1>;tag={tag}\r\n\
                 Call-ID: dial-in-test\r\nCSeq: {} INFO\r\nContact: <sip:desk@{CALLER}>\r\n\
                 Max-Forwards: 70\r\nContent-Type: application/dtmf-relay\r\nContent-Length: {}\r\n\r\n{body}",
                i + 2,
                body.len()
            );
            let (key, info) = arrive(&mut layer, &text);
            let source = Destination::udp(CALLER.parse().unwrap());
            p.incoming_sip(
                &mut ctx,
                H,
                SipIn::Request {
                    key,
                    request: info,
                    source,
                },
            );
        }
        assert_eq!(p.rooms[&77].participants.len(), 1);
    }
}

// ---- dial-out ----------------------------------------------------------------------------

mod dial_out {
    use super::*;

    const ADMIN: HandleId = 5;

    fn bridge() -> AudioBridge {
        let env = crate::sip::SipEnv {
            udp: "127.0.0.1:5060".parse().unwrap(),
            user_agent: "test".into(),
            keepalive: None,
        };
        let settings = json!({ "rooms": [{ "room": 88, "secret": "s" }] });
        AudioBridge::new(Some(&settings), None)
            .with_sip(Some(env))
            .with_dial_out(&["sip:127.0.0.1:5080".into(), "sip:pbx.example:5060".into()])
    }

    fn dial(p: &mut AudioBridge, ctx: &mut Ctx, room: u64, secret: &str, uri: &str) -> Value {
        p.create_session(ADMIN).unwrap();
        sync(
            p,
            ctx,
            ADMIN,
            json!({ "request": "dial", "room": room, "secret": secret, "uri": uri, "display": "Desk" }),
        )
    }

    #[test]
    fn dial_needs_the_secret_a_room_and_a_trunk() {
        let mut p = bridge();
        let mut ctx = Ctx::default();
        let r = dial(&mut p, &mut ctx, 88, "x", "sip:1@127.0.0.1:5080");
        assert_eq!(r["error_code"], 489, "{r}");
        let r = dial(&mut p, &mut ctx, 89, "s", "sip:1@127.0.0.1:5080");
        assert_eq!(r["error_code"], 485, "{r}");
        // A room with no secret never reaches a trunk.
        let r = sync(
            &mut p,
            &mut ctx,
            ADMIN,
            json!({ "request": "create", "room": 90 }),
        );
        assert_eq!(r["audiobridge"], "created", "{r}");
        let r = dial(&mut p, &mut ctx, 90, "", "sip:1@127.0.0.1:5080");
        assert_eq!(r["error_code"], 489, "{r}");
        assert!(
            r["error"]
                .as_str()
                .unwrap()
                .contains("needs a room with a secret"),
            "{r}"
        );
        for uri in [
            "sip:1@127.0.0.1:5090",
            "sip:1@198.51.100.7",
            "tel:+123",
            "nonsense",
        ] {
            let r = dial(&mut p, &mut ctx, 88, "s", uri);
            assert!(
                matches!(r["error_code"].as_u64(), Some(495 | 484)),
                "{uri}: {r}"
            );
        }
        let r = dial(&mut p, &mut ctx, 88, "s", "sip:1@198.51.100.7");
        assert_eq!(r["error_code"], 495, "{r}");
        assert!(ctx
            .commands
            .iter()
            .all(|c| !matches!(c, Command::OpenRtp { .. })));
        let r = dial(&mut p, &mut ctx, 88, "s", "sip:7@PBX.example");
        assert_eq!(r["audiobridge"], "dialing", "{r}");
    }

    #[test]
    fn dial_needs_the_admin_key_when_one_is_configured() {
        let env = crate::sip::SipEnv {
            udp: "127.0.0.1:5060".parse().unwrap(),
            user_agent: "test".into(),
            keepalive: None,
        };
        let settings = json!({ "admin_key": "k", "rooms": [{ "room": 88, "secret": "s" }] });
        let mut p = AudioBridge::new(Some(&settings), None)
            .with_sip(Some(env))
            .with_dial_out(&["sip:127.0.0.1:5080".into()]);
        let mut ctx = Ctx::default();
        let uri = "sip:1@127.0.0.1:5080";
        let r = dial(&mut p, &mut ctx, 88, "s", uri);
        assert_eq!(r["error_code"], 483, "{r}");
        p.create_session(ADMIN).unwrap();
        let ask = |key: &str| json!({ "request": "dial", "room": 88, "secret": "s", "admin_key": key, "uri": uri });
        let r = sync(&mut p, &mut ctx, ADMIN, ask("x"));
        assert_eq!(r["error_code"], 489, "{r}");
        let r = sync(&mut p, &mut ctx, ADMIN, ask("k"));
        assert_eq!(r["audiobridge"], "dialing", "{r}");
    }

    #[test]
    fn the_offer_leaves_once_the_leg_is_open_and_a_kick_gives_up() {
        let mut p = bridge();
        let mut ctx = Ctx::default();
        let r = dial(&mut p, &mut ctx, 88, "s", "sip:1@127.0.0.1:5080");
        assert_eq!(r["audiobridge"], "dialing", "{r}");
        let id = r["id"].as_u64().unwrap();
        let handle = ctx
            .commands
            .iter()
            .find_map(|c| match c {
                Command::AttachSipHandle { handle } => Some(*handle),
                _ => None,
            })
            .expect("a handle for the call");
        assert!(ctx.commands.iter().any(|c| matches!(c,
            Command::PinShard { handle: h, key } if *h == handle && *key == room::room_key(88))));
        assert!(ctx
            .commands
            .iter()
            .any(|c| matches!(c, Command::OpenRtp { handle: h, .. } if *h == handle)));
        let mut ctx = Ctx::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let ports = RtpPorts {
            ip,
            audio: (SocketAddr::new(ip, 20000), SocketAddr::new(ip, 20001)),
            video: None,
        };
        p.rtp_opened(&mut ctx, handle, Ok(ports));
        let invite = ctx
            .commands
            .iter()
            .find_map(|c| match c {
                Command::Sip {
                    out: crate::SipOut::Request { request, .. },
                    ..
                } => Some(request.clone()),
                _ => None,
            })
            .expect("an INVITE");
        assert_eq!(invite.method, cardea_sip::Method::Invite);
        let sdp = String::from_utf8_lossy(&invite.body).into_owned();
        assert!(sdp.contains("m=audio 20000 RTP/AVP 0 8 101\r\n"), "{sdp}");
        assert!(sdp.contains("a=rtpmap:101 telephone-event/8000"), "{sdp}");
        assert!(
            p.rooms[&88].participants.is_empty(),
            "not in the room before the answer"
        );
        // Kicked before any answer: given up, the asker is told.
        let mut ctx = Ctx::default();
        let r = sync(
            &mut p,
            &mut ctx,
            ADMIN,
            json!({ "request": "kick", "room": 88, "secret": "s", "id": id }),
        );
        assert_eq!(r["audiobridge"], "success", "{r}");
    }

    #[test]
    fn destroying_the_room_gives_up_its_unanswered_calls() {
        let mut p = bridge();
        let mut ctx = Ctx::default();
        let r = dial(&mut p, &mut ctx, 88, "s", "sip:1@127.0.0.1:5080");
        let id = r["id"].as_u64().unwrap();
        let mut ctx = Ctx::default();
        let r = sync(
            &mut p,
            &mut ctx,
            ADMIN,
            json!({ "request": "destroy", "room": 88, "secret": "s" }),
        );
        assert_eq!(r["audiobridge"], "destroyed", "{r}");
        let failed = notes(&ctx, ADMIN);
        assert!(
            failed
                .iter()
                .any(|e| e["dial"] == "failed" && e["id"] == id && e["code"] == 487),
            "{failed:?}"
        );
        assert!(ctx
            .commands
            .iter()
            .any(|c| matches!(c, Command::CloseRtp { .. })));
    }
}
