//! Reading SDP: m-lines, mids, header extension ids, candidates.

/// One m-line of an SDP.
#[derive(Debug)]
pub struct MLine {
    pub kind: String,
    pub mid: String,
    pub pts: Vec<u8>,
    /// The payload types that are retransmissions (`rtx`) of another.
    pub rtx: Vec<u8>,
    pub direction: String,
}

impl MLine {
    /// The media payload types: the formats that are not retransmissions.
    pub fn media_pts(&self) -> Vec<u8> {
        self.pts
            .iter()
            .copied()
            .filter(|pt| !self.rtx.contains(pt))
            .collect()
    }
}

/// The m-lines of an SDP with their mid, payload types and direction.
pub fn m_lines(sdp: &str) -> Vec<MLine> {
    let mut lines: Vec<MLine> = Vec::new();
    for line in sdp.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            let fields: Vec<&str> = m.split_whitespace().collect();
            lines.push(MLine {
                kind: fields.first().copied().unwrap_or_default().to_owned(),
                mid: String::new(),
                pts: fields
                    .iter()
                    .skip(3)
                    .filter_map(|f| f.parse().ok())
                    .collect(),
                rtx: Vec::new(),
                direction: "sendrecv".to_owned(),
            });
        } else if let Some(current) = lines.last_mut() {
            if let Some(mid) = line.strip_prefix("a=mid:") {
                current.mid = mid.trim().to_owned();
            } else if let Some(map) = line.strip_prefix("a=rtpmap:") {
                let mut parts = map.split_whitespace();
                let pt = parts.next().and_then(|pt| pt.parse().ok());
                let rtx = parts
                    .next()
                    .is_some_and(|enc| enc.to_ascii_lowercase().starts_with("rtx/"));
                if let (Some(pt), true) = (pt, rtx) {
                    current.rtx.push(pt);
                }
            } else if let Some(dir) = ["sendrecv", "sendonly", "recvonly", "inactive"]
                .iter()
                .find(|d| line.trim() == format!("a={d}"))
            {
                current.direction = (*dir).to_owned();
            }
        }
    }
    lines
}

/// The id an SDP gives the header extension `uri` in the m-section with `a=mid:<mid>` (or at
/// session level).
pub fn extmap_id(sdp: &str, mid: &str, uri: &str) -> Option<u8> {
    let mut sections: Vec<Vec<&str>> = vec![Vec::new()];
    for line in sdp.lines() {
        if line.starts_with("m=") {
            sections.push(Vec::new());
        }
        sections.last_mut().expect("a section").push(line.trim());
    }
    let in_section = |lines: &[&str]| {
        lines.iter().find_map(|line| {
            let rest = line.strip_prefix("a=extmap:")?;
            let mut fields = rest.split_whitespace();
            let id = fields.next()?.split('/').next()?.parse().ok()?;
            (fields.next()? == uri).then_some(id)
        })
    };
    sections[1..]
        .iter()
        .find(|lines| lines.contains(&format!("a=mid:{mid}").as_str()))
        .and_then(|lines| in_section(lines))
        .or_else(|| in_section(&sections[0]))
}

/// The `a=mid` of the first `m=<kind>` line of an SDP.
pub fn media_mid(sdp: &str, kind: &str) -> Option<String> {
    m_lines(sdp)
        .into_iter()
        .find(|l| l.kind == kind)
        .map(|l| l.mid)
        .filter(|mid| !mid.is_empty())
}

/// `ip:port` of every `typ host` candidate in an SDP.
pub fn host_candidates(sdp: &str) -> Vec<String> {
    sdp.lines()
        .filter_map(|line| line.strip_prefix("a=candidate:"))
        .filter_map(|candidate| {
            // foundation component transport priority address port typ type ...
            let fields: Vec<&str> = candidate.split_whitespace().collect();
            (fields.len() >= 8 && fields[6] == "typ" && fields[7] == "host")
                .then(|| format!("{}:{}", fields[4], fields[5]))
        })
        .collect()
}
