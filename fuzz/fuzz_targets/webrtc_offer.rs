//! A browser's SDP offer to a WebRTC leg: str0m's parser, Cardea's own reading of the
//! offer text (mids, kinds, rejected m-lines, the data m-line, `a=ssrc-group:SIM`), and the
//! answer it writes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    cardea_media::fuzzing::webrtc_offer(data);
});
