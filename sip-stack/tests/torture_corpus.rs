//! Every message of the RFC 4475 / RFC 5118 torture corpus gets the verdict manifest.tsv
//! gives it: parse plus validation accepts the valid ones and refuses the invalid ones.

use cardea_sip::{reject_reason, HeaderName, Message, ParseError};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/testdata/sip-torture"
);

struct Case {
    file: String,
    valid: bool,
}

fn manifest() -> Vec<Case> {
    let text = std::fs::read_to_string(format!("{CORPUS}/manifest.tsv"))
        .expect("manifest.tsv is readable (shared/ must sit beside the repo)");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let valid = match cols[2] {
                "valid" => true,
                "invalid" => false,
                other => panic!("unknown verdict {other} in {l}"),
            };
            Case {
                file: cols[0].to_owned(),
                valid,
            }
        })
        .collect()
}

fn verdict(bytes: &[u8]) -> Result<Message, ParseError> {
    let m = Message::parse(bytes)?;
    m.validate()?;
    Ok(m)
}

fn read(file: &str) -> Vec<u8> {
    std::fs::read(format!("{CORPUS}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn every_corpus_message_gets_the_manifest_verdict() {
    let cases = manifest();
    assert!(cases.len() >= 73, "manifest lists {} files", cases.len());
    let mut wrong = Vec::new();
    for c in &cases {
        match (verdict(&read(&c.file)), c.valid) {
            (Ok(_), true) | (Err(_), false) => {}
            (Ok(_), false) => wrong.push(format!("{}: accepted, expected invalid", c.file)),
            (Err(e), true) => wrong.push(format!("{}: refused ({e}), expected valid", c.file)),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[test]
fn valid_corpus_messages_survive_serialize_and_reparse() {
    for c in manifest().iter().filter(|c| c.valid) {
        let m = verdict(&read(&c.file)).unwrap();
        let again =
            verdict(&m.to_bytes()).unwrap_or_else(|e| panic!("{}: re-parse failed: {e}", c.file));
        // Content-Length is the one field the writer corrects (three RFC 5118 archive files
        // declare a wrong one); everything else must come back equal.
        let names = |m: &Message| {
            m.headers()
                .iter()
                .filter(|h| h.name() != &HeaderName::ContentLength)
                .map(|h| (h.name().clone(), h.value_bytes().to_vec()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&m), names(&again), "{}", c.file);
        assert_eq!(m.body(), again.body(), "{}", c.file);
    }
}

#[test]
fn crlf_messages_without_changes_are_written_back_byte_for_byte() {
    for file in [
        "wsinv.msg",
        "intmeth.msg",
        "esc01.msg",
        "mpart01.msg",
        "longreq.msg",
    ] {
        let bytes = read(file);
        let m = Message::parse(&bytes).unwrap();
        assert_eq!(m.to_bytes(), bytes, "{file}");
    }
}

fn reason_of(file: &str) -> String {
    reject_reason(&verdict(&read(file)).unwrap_err())
}

#[test]
fn every_invalid_message_is_refused_for_its_own_fault() {
    let expected = [
        ("badinv01.msg", "Bad Request - Malformed Via"),
        ("clerr.msg", "Bad Request - Content-Length larger than body"),
        ("ncl.msg", "Bad Request - Malformed Content-Length"),
        ("scalar02.msg", "Bad Request - Malformed CSeq"),
        ("scalarlg.msg", "Bad Request - Malformed CSeq"),
        ("quotbal.msg", "Bad Request - Malformed To"),
        ("ltgtruri.msg", "Bad Request - Malformed Request-URI"),
        ("lwsruri.msg", "Bad Request - Malformed start line"),
        ("lwsstart.msg", "Bad Request - Malformed start line"),
        ("trws.msg", "Bad Request - Malformed start line"),
        ("escruri.msg", "Bad Request - Headers in Request-URI"),
        ("baddate.msg", "Bad Request - Malformed Date"),
        ("regbadct.msg", "Bad Request - Malformed Contact"),
        ("badaspec.msg", "Bad Request - Malformed To"),
        ("baddn.msg", "Bad Request - Malformed From"),
        ("badvers.msg", "Version Not Supported"),
        ("mismatch01.msg", "Bad Request - CSeq method does not match"),
        ("mismatch02.msg", "Bad Request - CSeq method does not match"),
        ("bigcode.msg", "Bad Request - Malformed start line"),
        ("insuf.msg", "Bad Request - Missing Call-ID, From, To"),
        ("multi01.msg", "Bad Request - Conflicting Call-ID"),
        ("mcl01.msg", "Bad Request - Conflicting Content-Length"),
        ("test.msg", "Bad Request - Malformed start line"),
        ("ipv6-bad.msg", "Bad Request - Malformed Request-URI"),
        ("ipv6-bad.wire.msg", "Bad Request - Malformed Request-URI"),
    ];
    let invalid: Vec<String> = manifest()
        .into_iter()
        .filter(|c| !c.valid)
        .map(|c| c.file)
        .collect();
    assert_eq!(
        invalid.len(),
        expected.len(),
        "table covers every invalid file"
    );
    for (file, reason) in expected {
        assert!(
            invalid.iter().any(|f| f == file),
            "{file} is not invalid in the manifest"
        );
        assert_eq!(reason_of(file), reason, "{file}");
    }
}

#[test]
fn badvers_is_answered_with_505() {
    assert_eq!(
        verdict(&read("badvers.msg")).unwrap_err().status_code(),
        505
    );
}
