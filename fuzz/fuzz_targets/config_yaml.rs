//! The configuration loader: any file an operator might write.
#![no_main]
use cardea_bridge::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = Config::from_yaml(text) {
            let _ = c.validate();
        }
    }
});
