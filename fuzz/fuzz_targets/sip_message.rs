//! The SIP datagram parser: any bytes from the network. A message that parses must
//! serialize to bytes that parse again.
#![no_main]
use cardea_sip::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        let _ = m.validate();
        let written = m.to_bytes();
        let again = Message::parse(&written).expect("a written message parses again");
        assert_eq!(again.headers().len(), m.headers().len());
        assert_eq!(again.body(), m.body());
    }
});
