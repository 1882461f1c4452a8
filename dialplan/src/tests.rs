use super::*;

const PLAN: &str = r#"
rules:
  - name: agents
    to: "1000"
    action: { ring: [alice, bob] }
  - name: support-did
    from: trunk:carrier
    to: { prefix: "+3315550" }
    rewrite: { strip: 8 }
    action: { ring: alice }
  - name: conference
    from: trunk
    to: "+33155501234"
    action: { room: 1234 }
  - name: echo
    to: "9196"
    action: echo
  - name: international
    from: local
    to: { pattern: "_00X." }
    require_group: international
    rewrite: { strip: 2, prepend: "+" }
    caller_id: { number: "+3315550$0", name: "Cardea" }
    action: { trunk: [asterisk, { name: backup, weight: 1 }] }
  - name: national
    from: local
    to: { regex: "^0([1-9][0-9]{8})$" }
    rewrite: { replace: "+33$1" }
    action: { trunk: asterisk }
  - name: night
    from: any
    to: "1001"
    time: { days: mon-fri, hours: "18:00-08:00" }
    action: { play: closed.opus }
  - name: vip
    headers: { X-Priority: high }
    to: { pattern: "1[0-4]XX" }
    action: { ring: bob }
  - name: catch-all
    action: { reject: { code: 404, reason: "Not Found - no such number" } }
"#;

fn no_headers(_: &str) -> Option<String> {
    None
}

fn vip(name: &str) -> Option<String> {
    name.eq_ignore_ascii_case("x-priority")
        .then(|| "high".into())
}

const INTL: &[String] = &[];

fn user<'a>(name: &'a str, groups: &'a [String]) -> Origin<'a> {
    Origin::User { name, groups }
}

// 2026-11-27 was a Friday; 2026-11-27T12:00:00Z.
const FRIDAY_NOON: u64 = 1_795_780_800;

#[test]
fn friday_noon_is_friday() {
    let w = TimeWindow::compile(&TimeSpec {
        days: Some(time::DaysSpec::One("fri".into())),
        hours: Some("11:00-13:00".into()),
        utc_offset: None,
    })
    .unwrap();
    assert!(w.contains(Moment(FRIDAY_NOON)));
    assert!(!w.contains(Moment(FRIDAY_NOON + 2 * 3600)));
    assert!(!w.contains(Moment(FRIDAY_NOON + 86_400)));
}

#[test]
fn routing_table() {
    let plan = Dialplan::from_yaml(PLAN, "dialplan.yaml").unwrap();
    let intl = vec!["international".to_string()];
    type H = fn(&str) -> Option<String>;
    let cases: Vec<(Origin, &str, H, u64, &str, &str, Action)> = vec![
        (
            user("carol", INTL),
            "1000",
            no_headers,
            FRIDAY_NOON,
            "agents",
            "1000",
            Action::Ring(vec!["alice".into(), "bob".into()]),
        ),
        (
            Origin::Trunk("carrier"),
            "+33155501000",
            no_headers,
            FRIDAY_NOON,
            "support-did",
            "1000",
            Action::Ring(vec!["alice".into()]),
        ),
        // A DID from another trunk skips the carrier's rule and lands in the room.
        (
            Origin::Trunk("asterisk"),
            "+33155501234",
            no_headers,
            FRIDAY_NOON,
            "conference",
            "+33155501234",
            Action::Room(1234),
        ),
        (
            user("alice", INTL),
            "9196",
            no_headers,
            FRIDAY_NOON,
            "echo",
            "9196",
            Action::Echo,
        ),
        (
            user("alice", &intl),
            "0044207946000",
            no_headers,
            FRIDAY_NOON,
            "international",
            "+44207946000",
            Action::Trunk(vec![
                TrunkChoice {
                    name: "asterisk".into(),
                    weight: None,
                },
                TrunkChoice {
                    name: "backup".into(),
                    weight: Some(1),
                },
            ]),
        ),
        // Interns are not in the group: the rule that matches refuses.
        (
            user("intern", INTL),
            "0044207946000",
            no_headers,
            FRIDAY_NOON,
            "international",
            "0044207946000",
            Action::Reject(Reject {
                code: 403,
                reason: Some("Forbidden - not permitted by international".into()),
            }),
        ),
        (
            user("intern", INTL),
            "0155501000",
            no_headers,
            FRIDAY_NOON,
            "national",
            "+33155501000",
            Action::Trunk(vec![TrunkChoice {
                name: "asterisk".into(),
                weight: None,
            }]),
        ),
        // A trunk may not dial out through the national rule (from: local).
        (
            Origin::Trunk("carrier"),
            "0155501000",
            no_headers,
            FRIDAY_NOON,
            "catch-all",
            "0155501000",
            Action::Reject(Reject {
                code: 404,
                reason: Some("Not Found - no such number".into()),
            }),
        ),
        // Friday 19:00 is in the night window, Friday noon is not.
        (
            user("bob", INTL),
            "1001",
            no_headers,
            FRIDAY_NOON + 7 * 3600,
            "night",
            "1001",
            Action::Play("closed.opus".into()),
        ),
        // Saturday 03:00 belongs to Friday night's window.
        (
            user("bob", INTL),
            "1001",
            no_headers,
            FRIDAY_NOON + 15 * 3600,
            "night",
            "1001",
            Action::Play("closed.opus".into()),
        ),
        (
            user("bob", INTL),
            "1001",
            no_headers,
            FRIDAY_NOON,
            "catch-all",
            "1001",
            Action::Reject(Reject {
                code: 404,
                reason: Some("Not Found - no such number".into()),
            }),
        ),
        (
            user("bob", INTL),
            "1234",
            vip,
            FRIDAY_NOON,
            "vip",
            "1234",
            Action::Ring(vec!["bob".into()]),
        ),
        (
            user("bob", INTL),
            "1534",
            vip,
            FRIDAY_NOON,
            "catch-all",
            "1534",
            Action::Reject(Reject {
                code: 404,
                reason: Some("Not Found - no such number".into()),
            }),
        ),
    ];
    for (i, (origin, to, header, at, rule, number, action)) in cases.into_iter().enumerate() {
        let call = Call {
            origin,
            to,
            caller: "0155509999",
            header: &header,
            at: Moment(at),
        };
        let d = plan
            .route(&call)
            .unwrap_or_else(|| panic!("case {i}: no rule"));
        assert_eq!(d.rule, rule, "case {i}");
        assert_eq!(d.number, number, "case {i}");
        assert_eq!(d.action, action, "case {i}");
    }
}

#[test]
fn caller_id_template() {
    let plan = Dialplan::from_yaml(PLAN, "d.yaml").unwrap();
    let intl = vec!["international".to_string()];
    let d = plan
        .route(&Call {
            origin: user("alice", &intl),
            to: "0049301234",
            caller: "1000",
            header: &no_headers,
            at: Moment(FRIDAY_NOON),
        })
        .unwrap();
    assert_eq!(d.caller_number.as_deref(), Some("+33155501000"));
    assert_eq!(d.caller_name.as_deref(), Some("Cardea"));
}

#[test]
fn patterns() {
    let cases = [
        ("_NXXXXXX", "2345678", true),
        ("_NXXXXXX", "1345678", false),
        ("NXXXXXX", "234567", false),
        ("_9Z.", "91", false),
        ("_9Z.", "912", true),
        ("_9Z!", "91", true),
        ("_1[2-4,7]X", "137", true),
        ("_1[2-4,7]X", "177", true),
        ("_1[2-4,7]X", "157", false),
        ("+33X.", "+33123", true),
        ("*72X.", "*7212", true),
        ("*72X.", "*721", false),
        ("#", "#", true),
    ];
    for (p, v, want) in cases {
        let re = compile_pattern(p).unwrap();
        assert_eq!(re.is_match(v), want, "{p} vs {v}");
    }
    for bad in ["", "_", "1.2", "[12", "1]", "[]", "[9-1]"] {
        assert!(compile_pattern(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn weighted_trunk_order() {
    let t = |n: &str, w: Option<u32>| TrunkChoice {
        name: n.into(),
        weight: w,
    };
    let listed = [t("a", None), t("b", None)];
    assert_eq!(order_trunks(&listed, || 0.99), ["a", "b"]);
    let weighted = [t("a", Some(1)), t("b", Some(3))];
    assert_eq!(order_trunks(&weighted, || 0.0), ["a", "b"]);
    assert_eq!(order_trunks(&weighted, || 0.5), ["b", "a"]);
    // Over many draws b comes first about three times in four.
    let mut seed = 12345u64;
    let mut draw = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let b_first = (0..4000)
        .filter(|_| order_trunks(&weighted, &mut draw)[0] == "b")
        .count();
    assert!((2800..3200).contains(&b_first), "{b_first}");
}

#[test]
fn errors_name_file_and_line() {
    let cases = [
        ("rules:\n  - to: 1\n    action: { ring: a }\n    colour: red\n", 4, "colour"),
        ("rules:\n  - action: { dance: a }\n", 2, "dance"),
        ("rules:\n  - to: { pattern: \"1.2\" }\n    action: echo\n", 2, "end"),
        ("rules:\n  - to: { regex: \"(\" }\n    action: echo\n", 2, "regex"),
        ("rules:\n  - action: { reject: 200 }\n", 2, "400"),
        ("rules:\n  - action: echo\n  - from: somewhere\n    action: echo\n", 3, "from"),
        (
            "rules:\n  - action: echo\n  - to: { regex: \"^0(1)$\" }\n    rewrite: { replace: \"$2\" }\n    action: echo\n",
            3,
            "$2",
        ),
        ("rules:\n  - time: { hours: \"25:00-26:00\" }\n    action: echo\n", 2, "25"),
        ("rules:\n  - time: { days: funday }\n    action: echo\n", 2, "funday"),
        ("rules:\n  - to: { prefix: 1, exact: 2 }\n    action: echo\n", 2, "one key"),
    ];
    for (yaml, line, word) in cases {
        let e = Dialplan::from_yaml(yaml, "conf/dialplan.yaml").unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("conf/dialplan.yaml:"), "{text}");
        assert_eq!(e.line, Some(line), "{yaml:?}: {text}");
        assert!(
            text.contains(word),
            "{yaml:?}: {text} should mention {word}"
        );
    }
}

#[test]
fn names_are_checked() {
    let plan = Dialplan::from_yaml(PLAN, "d.yaml").unwrap();
    let ok = Names {
        users: &["alice", "bob"],
        trunks: &["asterisk", "backup", "carrier"],
    };
    plan.check_names("d.yaml", &ok).unwrap();
    let missing = Names {
        users: &["alice", "bob"],
        trunks: &["asterisk", "carrier"],
    };
    let e = plan.check_names("d.yaml", &missing).unwrap_err();
    assert!(e.message.contains("backup"), "{e}");
    assert_eq!(e.line, Some(18), "the international rule starts on line 18");
}

#[test]
fn empty_file_routes_nothing() {
    let plan = Dialplan::from_yaml("", "d.yaml").unwrap();
    assert!(plan
        .route(&Call {
            origin: Origin::Trunk("t"),
            to: "1",
            caller: "2",
            header: &no_headers,
            at: Moment(0),
        })
        .is_none());
    assert!(Dialplan::from_yaml("rules: []\n", "d.yaml")
        .unwrap()
        .rules()
        .is_empty());
}
