//! The media port's demultiplexer: any datagram from the network.
#![no_main]
use cardea_media::{stun_local_ufrag, DatagramKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = DatagramKind::of(data);
    let _ = stun_local_ufrag(data);
});
