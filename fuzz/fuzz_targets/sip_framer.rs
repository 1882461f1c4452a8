//! The SIP stream framer: any bytes, cut into chunks at positions the input chooses.
#![no_main]
use cardea_sip::{Frame, Framer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&step, stream)) = data.split_first() else {
        return;
    };
    let step = usize::from(step).max(1);
    let mut framer = Framer::default();
    for chunk in stream.chunks(step) {
        framer.handle_input(chunk);
        loop {
            match framer.poll_frame() {
                Ok(Some(Frame::Message(m))) => {
                    let _ = m.validate();
                    let _ = m.to_bytes();
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
});
