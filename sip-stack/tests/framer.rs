//! Stream framing: whole messages out of arbitrary chunks, keep-alives, limits.

use cardea_sip::{Frame, FrameError, Framer, Limits, Message, ParseError};

const OPTIONS: &[u8] = b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP client.example.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: <sip:bob@example.com>\r\n\
From: <sip:alice@example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 63104 OPTIONS\r\n\
Content-Type: text/plain\r\n\
Content-Length: 5\r\n\
\r\n\
hello";

fn drain(f: &mut Framer) -> Result<Vec<Frame>, FrameError> {
    let mut out = Vec::new();
    while let Some(frame) = f.poll_frame()? {
        out.push(frame);
    }
    Ok(out)
}

fn message(frame: &Frame) -> &Message {
    match frame {
        Frame::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn message_fed_one_byte_at_a_time_comes_out_whole() {
    let mut f = Framer::default();
    let mut frames = Vec::new();
    for b in OPTIONS {
        f.handle_input(std::slice::from_ref(b));
        frames.extend(drain(&mut f).unwrap());
    }
    assert_eq!(frames.len(), 1);
    let m = message(&frames[0]);
    m.validate().unwrap();
    assert_eq!(&m.body()[..], b"hello");
    assert_eq!(f.buffered(), 0);
}

#[test]
fn two_messages_in_one_chunk_come_out_in_order() {
    let mut f = Framer::default();
    let mut data = OPTIONS.to_vec();
    data.extend_from_slice(OPTIONS);
    f.handle_input(&data);
    let frames = drain(&mut f).unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(message(&frames[1]).to_bytes(), OPTIONS);
}

#[test]
fn double_crlf_is_a_ping_and_single_crlf_a_pong() {
    let mut f = Framer::default();
    f.handle_input(b"\r\n\r\n");
    assert!(matches!(drain(&mut f).unwrap()[..], [Frame::Ping]));
    f.handle_input(b"\r\n");
    assert!(matches!(drain(&mut f).unwrap()[..], [Frame::Pong]));
    let mut data = b"\r\n\r\n".to_vec();
    data.extend_from_slice(OPTIONS);
    f.handle_input(&data);
    let frames = drain(&mut f).unwrap();
    assert!(matches!(frames[0], Frame::Ping));
    message(&frames[1]);
}

#[test]
fn missing_content_length_on_a_stream_is_an_error() {
    let mut f = Framer::default();
    f.handle_input(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n");
    assert_eq!(drain(&mut f).unwrap_err(), FrameError::MissingContentLength);
    // Framing is lost for good: the connection must be closed.
    f.handle_input(OPTIONS);
    assert!(f.poll_frame().is_err());
}

#[test]
fn oversized_header_section_is_refused_before_it_ends() {
    let mut f = Framer::new(Limits {
        max_header_bytes: 64,
        ..Limits::default()
    });
    f.handle_input(&[b'a'; 100]);
    let err = drain(&mut f).unwrap_err();
    assert_eq!(err, FrameError::HeaderSectionTooLarge { limit: 64 });
    assert_eq!(err.status_code(), 513);
}

#[test]
fn oversized_body_is_refused_from_its_content_length() {
    let mut f = Framer::new(Limits {
        max_body: 4,
        ..Limits::default()
    });
    f.handle_input(OPTIONS);
    assert_eq!(
        drain(&mut f).unwrap_err(),
        FrameError::BodyTooLarge {
            declared: 5,
            limit: 4
        }
    );
}

#[test]
fn too_many_headers_is_refused() {
    let mut f = Framer::new(Limits {
        max_headers: 3,
        ..Limits::default()
    });
    f.handle_input(OPTIONS);
    assert_eq!(
        drain(&mut f).unwrap_err(),
        FrameError::Parse(ParseError::TooManyHeaders(3))
    );
}

#[test]
fn body_waits_for_all_its_bytes() {
    let mut f = Framer::default();
    f.handle_input(&OPTIONS[..OPTIONS.len() - 2]);
    assert!(drain(&mut f).unwrap().is_empty());
    f.handle_input(&OPTIONS[OPTIONS.len() - 2..]);
    assert_eq!(drain(&mut f).unwrap().len(), 1);
}
