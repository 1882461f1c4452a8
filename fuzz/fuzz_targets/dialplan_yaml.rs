//! The dialplan loader and router: any file an operator might write, then a call routed
//! through whatever it compiled to.
#![no_main]
use cardea_dialplan::{Call, Dialplan, Moment, Origin};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(plan) = Dialplan::from_yaml(text, "fuzz.yaml") else {
        return;
    };
    let groups = vec!["international".to_string()];
    let header = |_: &str| Some("high".to_string());
    for (origin, to) in [
        (Origin::Trunk("carrier"), "+33155501234"),
        (Origin::User { name: "alice", groups: &groups }, "0044207946000"),
        (Origin::User { name: "bob", groups: &[] }, ""),
    ] {
        let _ = plan.route(&Call {
            origin,
            to,
            caller: "1000",
            header: &header,
            at: Moment(1_795_780_800),
        });
    }
});
