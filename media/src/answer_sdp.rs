//! Text fixes around str0m's offer/answer, where what it does differs from what browsers
//! and Janus clients expect.

/// An offer as str0m reads it: a mono codec written with its channel count
/// (`PCMU/8000/1`, valid SDP that webrtc-rs and SIP phones write) would otherwise match
/// none of str0m's codecs, which have no channel count.
pub fn tidy_offer(offer: &str) -> std::borrow::Cow<'_, str> {
    if !offer.contains("/1\r\n") && !offer.contains("/1\n") {
        return offer.into();
    }
    let mut out = String::with_capacity(offer.len());
    for line in offer.split_inclusive('\n') {
        let body = line.trim_end_matches(['\r', '\n']);
        let ending = &line[body.len()..];
        match body
            .strip_prefix("a=rtpmap:")
            .and_then(|r| r.strip_suffix("/1"))
        {
            Some(rest) if rest.split('/').count() == 2 => {
                out.push_str("a=rtpmap:");
                out.push_str(rest);
            }
            _ => out.push_str(body),
        }
        out.push_str(ending);
    }
    out.into()
}

/// The mids of the offer's m-lines whose port is 0 (rejected by the offerer, or by a
/// plugin restricting what a room accepts).
fn rejected_mids(offer: &str) -> Vec<String> {
    let mut mids = Vec::new();
    let mut rejected = false;
    for line in offer.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            rejected = m.split_whitespace().nth(1) == Some("0");
        } else if let Some(mid) = line.strip_prefix("a=mid:") {
            if rejected {
                mids.push(mid.trim().to_owned());
            }
        }
    }
    mids
}

/// The answer with the m-lines the offer rejected rejected too (port 0, inactive, out of
/// the BUNDLE group), as RFC 3264 §6 requires; str0m answers them as if they were live.
pub fn keep_rejections(offer: &str, answer: String) -> String {
    let mids = rejected_mids(offer);
    if mids.is_empty() {
        return answer;
    }
    // Which answer m-lines carry those mids.
    let mut sections: Vec<(usize, Option<String>)> = Vec::new();
    for (i, line) in answer.lines().enumerate() {
        if line.starts_with("m=") {
            sections.push((i, None));
        } else if let (Some(mid), Some(last)) = (line.strip_prefix("a=mid:"), sections.last_mut()) {
            last.1 = Some(mid.trim().to_owned());
        }
    }
    let is_rejected = |line_no: usize| {
        sections
            .iter()
            .rev()
            .find(|(start, _)| *start <= line_no)
            .and_then(|(_, mid)| mid.as_ref())
            .is_some_and(|mid| mids.contains(mid))
    };
    let mut out = String::with_capacity(answer.len());
    for (i, line) in answer.lines().enumerate() {
        if let Some(group) = line.strip_prefix("a=group:BUNDLE") {
            let kept: Vec<&str> = group
                .split_whitespace()
                .filter(|m| !mids.iter().any(|r| r == m))
                .collect();
            if !kept.is_empty() {
                out.push_str("a=group:BUNDLE ");
                out.push_str(&kept.join(" "));
                out.push_str("\r\n");
            }
            continue;
        }
        if is_rejected(i) {
            if let Some(m) = line.strip_prefix("m=") {
                let mut parts: Vec<&str> = m.split(' ').collect();
                if parts.len() > 1 {
                    parts[1] = "0";
                }
                out.push_str("m=");
                out.push_str(&parts.join(" "));
                out.push_str("\r\n");
                continue;
            }
            if matches!(line, "a=sendrecv" | "a=sendonly" | "a=recvonly") {
                out.push_str("a=inactive\r\n");
                continue;
            }
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_channel_counts_are_dropped_and_opus_kept() {
        let offer =
            "m=audio 9 RTP/AVP 0 111\r\na=rtpmap:0 PCMU/8000/1\r\na=rtpmap:111 opus/48000/2\r\n";
        assert_eq!(
            tidy_offer(offer),
            "m=audio 9 RTP/AVP 0 111\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:111 opus/48000/2\r\n"
        );
    }

    #[test]
    fn rejected_offer_lines_are_rejected_in_the_answer() {
        let offer = "v=0\r\na=group:BUNDLE 0 1\r\nm=audio 9 X 111\r\na=mid:0\r\nm=video 0 X 96\r\na=mid:1\r\n";
        let answer = "v=0\r\na=group:BUNDLE 0 1\r\nm=audio 9 X 111\r\na=mid:0\r\na=sendrecv\r\n\
m=video 9 X 96 97\r\na=mid:1\r\na=sendrecv\r\n"
            .to_owned();
        let fixed = keep_rejections(offer, answer);
        assert_eq!(
            fixed,
            "v=0\r\na=group:BUNDLE 0\r\nm=audio 9 X 111\r\na=mid:0\r\na=sendrecv\r\n\
m=video 0 X 96 97\r\na=mid:1\r\na=inactive\r\n"
        );
    }
}
