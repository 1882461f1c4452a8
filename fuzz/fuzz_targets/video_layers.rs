//! VP8 temporal-layer and VP9 SVC payload descriptors, through the layer choices a
//! subscriber's stream makes (what a publisher sends, after SRTP).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cardea_media::fuzzing::video_layers(data);
});
