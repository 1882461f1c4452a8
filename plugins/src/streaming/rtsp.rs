//! What an `rtsp` mountpoint needs from the server's description, read without I/O: the
//! fmtp of a track, from the SDP that DESCRIBE returned.

/// The `a=fmtp` value for payload type `pt` in the `index`-th media section of `sdp` (media
/// sections counted from 0 in the order of their `m=` lines).
pub fn fmtp_of(sdp: &[u8], index: usize, pt: u8) -> Option<String> {
    let text = String::from_utf8_lossy(sdp);
    let mut section: Option<usize> = None;
    let prefix = format!("a=fmtp:{pt} ");
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.starts_with("m=") {
            section = Some(section.map_or(0, |s| s + 1));
            continue;
        }
        if section != Some(index) {
            continue;
        }
        if let Some(value) = line.strip_prefix(&prefix) {
            let value = value.trim();
            // A browser's offer must not carry line breaks or a huge attribute.
            if !value.is_empty() && value.len() <= 4096 && !value.contains(['\r', '\n']) {
                return Some(value.to_owned());
            }
        }
    }
    None
}

/// The codec name a Streaming stream uses for an RTSP encoding name, if Cardea can relay it
/// (a codec it offers browsers).
pub fn codec_of(encoding: &str) -> Option<String> {
    let name = encoding.to_ascii_lowercase();
    crate::codecs::canonical(&name).map(|_| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &[u8] = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\n\
        m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
        a=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\na=control:stream=0\r\n\
        m=audio 0 RTP/AVP 97\r\na=rtpmap:97 OPUS/48000/2\r\na=fmtp:97 sprop-stereo=0\r\n";

    #[test]
    fn fmtp_is_read_from_the_right_section() {
        assert_eq!(
            fmtp_of(SDP, 0, 96).as_deref(),
            Some("packetization-mode=1;profile-level-id=42e01f")
        );
        assert_eq!(fmtp_of(SDP, 1, 97).as_deref(), Some("sprop-stereo=0"));
        assert_eq!(fmtp_of(SDP, 1, 96), None);
        assert_eq!(fmtp_of(SDP, 2, 97), None);
        assert_eq!(fmtp_of(b"\xff\xfe garbage", 0, 0), None);
    }

    #[test]
    fn codecs_cardea_relays() {
        assert_eq!(codec_of("H264").as_deref(), Some("h264"));
        assert_eq!(codec_of("OPUS").as_deref(), Some("opus"));
        assert_eq!(codec_of("MPEG4-GENERIC"), None);
    }
}
