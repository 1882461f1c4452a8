//! Lexical building blocks shared by every parser in the crate (RFC 3261 §25.1).
//!
//! Header values reach these helpers already unfolded (§7.3.1: folding is equivalent to SP), so
//! the only whitespace left is SP and HTAB.

/// `token` characters (RFC 3261 §25.1): alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~".
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// True when `s` is a non-empty `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

pub(crate) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Characters that may appear in a loosely checked value run (parameter values, hosts,
/// `received=` with or without IPv6 brackets per RFC 5118 §4.5).
pub(crate) fn is_value_char(b: u8) -> bool {
    b > b' ' && b != 0x7f && !matches!(b, b';' | b',' | b'"' | b'<' | b'>')
}

/// A cursor over one header value.
#[derive(Debug, Clone)]
pub(crate) struct Scanner<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Scanner { s, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.s.len()
    }

    /// Moves forward `n` bytes (callers pass lengths of ASCII-delimited slices of `rest()`).
    pub(crate) fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.s.len());
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    pub(crate) fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_wsp) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Consumes `b` (after optional whitespace on both sides: SWS b SWS, §25.1) if it is next.
    pub(crate) fn eat_sep(&mut self, b: u8) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.peek() == Some(b) {
            self.pos += 1;
            self.skip_ws();
            true
        } else {
            self.pos = save;
            false
        }
    }

    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Takes the longest run of bytes matching `f` (ASCII predicates only, so the
    /// slice ends on a character boundary).
    pub(crate) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    pub(crate) fn token(&mut self) -> Option<&'a str> {
        let t = self.take_while(is_token_char);
        (!t.is_empty()).then_some(t)
    }

    /// Reads a `quoted-string` (§25.1) and returns it with its quotes, as written.
    pub(crate) fn quoted_string(&mut self) -> Option<&'a str> {
        let bytes = self.s.as_bytes();
        if bytes.get(self.pos) != Some(&b'"') {
            return None;
        }
        let start = self.pos;
        let mut i = self.pos + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => {
                    // quoted-pair excludes CR and LF.
                    match bytes.get(i + 1) {
                        Some(b'\r') | Some(b'\n') | None => return None,
                        Some(_) => i += 2,
                    }
                }
                b'"' => {
                    self.pos = i + 1;
                    return self.s.get(start..self.pos);
                }
                b'\r' | b'\n' => return None,
                _ => i += 1,
            }
        }
        None
    }
}

/// Removes the quotes and quoted-pair escapes of a `quoted-string` written as received.
pub(crate) fn unquote(q: &str) -> String {
    let inner = q
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(q);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes `s` as a `quoted-string`, escaping `"` and `\`.
pub(crate) fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        // CR and LF cannot be carried in a quoted-string; they are dropped.
        if c != '\r' && c != '\n' {
            out.push(c);
        }
    }
    out.push('"');
}

/// Splits a comma-separated header value into its elements (§7.3.1), ignoring commas inside
/// quoted strings and `<...>`. Elements are trimmed; an empty element is reported as `None`.
pub(crate) fn split_list(value: &str) -> Option<Vec<&str>> {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut in_angle = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_quotes {
            match b {
                b'\\' => i += 1,
                b'"' => in_quotes = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_quotes = true,
                b'<' => in_angle = true,
                b'>' => in_angle = false,
                b',' if !in_angle => {
                    out.push(value[start..i].trim_matches([' ', '\t']));
                    start = i + 1;
                }
                _ => {}
            }
        }
        i += 1;
    }
    out.push(value[start..].trim_matches([' ', '\t']));
    if out.iter().any(|e| e.is_empty()) {
        return None;
    }
    Some(out)
}

/// Checks that every `%` in `s` starts an `escaped` triplet (§25.1: "%" HEXDIG HEXDIG).
pub(crate) fn escapes_valid(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Decodes `%HH` escapes (RFC 3261 §19.1.2, §19.1.4: escaped and unescaped forms compare equal).
/// Invalid escapes are kept as written.
pub fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Parses a run of ASCII digits into a u32, rejecting empty input and overflow
/// (leading zeros are legal: RFC 4475 §3.1.1.1).
pub(crate) fn parse_u32(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: u32 = 0;
    for b in s.bytes() {
        v = v.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_list_ignores_commas_in_quotes_and_angles() {
        let v = split_list(r#""a, b" <sip:x,y@h>, <sip:z@h>"#).unwrap();
        assert_eq!(v, vec![r#""a, b" <sip:x,y@h>"#, "<sip:z@h>"]);
    }

    #[test]
    fn split_list_refuses_empty_elements() {
        assert!(split_list("a,,b").is_none());
    }

    #[test]
    fn percent_decode_keeps_nul() {
        assert_eq!(percent_decode("null-%00-null"), b"null-\0-null".to_vec());
        assert_eq!(percent_decode("%Z%45"), b"%ZE".to_vec());
    }

    #[test]
    fn parse_u32_accepts_leading_zeros_and_refuses_overflow() {
        assert_eq!(parse_u32("0009"), Some(9));
        assert_eq!(parse_u32("4294967296"), None);
        assert_eq!(parse_u32("-1"), None);
    }
}
