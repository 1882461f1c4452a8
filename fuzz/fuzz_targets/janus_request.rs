//! The Janus API request decoder: any bytes a transport receives.
#![no_main]
use cardea_bridge::api::{decode, parse_body, Path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = parse_body(data) {
        let _ = decode(v.clone(), Path::default());
        let _ = decode(
            v,
            Path {
                session: Some(1),
                handle: Some(2),
            },
        );
    }
});
