//! The SIP datagram parser: any bytes from the network. A message that parses must
//! serialize to bytes that parse again; one that does not may get a 400, which must parse.
#![no_main]
use cardea_sip::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = Message::parse(data) {
        if let Some(r) = cardea_sip::response_to_unparsable(data, &e) {
            let written = Message::Response(r).to_bytes();
            Message::parse(&written).expect("our 400 to an unparsable request parses");
        }
    }
    if let Ok(m) = Message::parse(data) {
        let _ = m.validate();
        let written = m.to_bytes();
        let again = Message::parse(&written).expect("a written message parses again");
        assert_eq!(again.headers().len(), m.headers().len());
        assert_eq!(again.body(), m.body());
    }
});
