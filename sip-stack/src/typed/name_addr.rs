//! `name-addr / addr-spec` followed by header parameters (RFC 3261 §20.10, §25.1): the shape
//! shared by From, To, Contact, Route, Record-Route and Refer-To.

use crate::lex::{is_token_char, is_wsp, unquote, write_quoted, Scanner};
use crate::params::Params;
use crate::typed::HeaderError;
use crate::uri::Uri;

/// An address with optional display name and header parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted.
    pub display_name: Option<String>,
    pub uri: Uri,
    /// Header parameters (after the URI, outside `<>`).
    pub params: Params,
}

impl NameAddr {
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display_name: None,
            uri,
            params: Params::new(),
        }
    }

    /// The `tag` parameter (§19.3).
    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag").flatten()
    }

    pub fn set_tag(&mut self, tag: &str) {
        self.params.set("tag", Some(tag));
    }

    pub(crate) fn parse(s: &str) -> Result<NameAddr, HeaderError> {
        let s = s.trim_matches([' ', '\t']);
        if s.is_empty() {
            return Err(HeaderError::Empty);
        }
        let mut sc = Scanner::new(s);
        let mut display_name = None;
        let angle = if sc.peek() == Some(b'"') {
            let q = sc
                .quoted_string()
                .ok_or(HeaderError::Syntax("unterminated quoted display name"))?;
            display_name = Some(unquote(q));
            sc.skip_ws();
            if !sc.eat(b'<') {
                return Err(HeaderError::Syntax("display name not followed by <"));
            }
            true
        } else if let Some(lt) = s.find('<') {
            // display-name = *(token LWS): anything else must be quoted (RFC 4475 §3.1.2.15).
            let dn = s[..lt].trim_matches([' ', '\t']);
            if !dn.bytes().all(|b| is_token_char(b) || is_wsp(b)) {
                return Err(HeaderError::Syntax("unquoted display name is not tokens"));
            }
            if !dn.is_empty() {
                display_name = Some(dn.to_owned());
            }
            sc.advance(lt + 1);
            true
        } else {
            false
        };
        let uri = if angle {
            // LAQUOT and RAQUOT allow no whitespace inside the brackets (RFC 4475 §3.1.2.14).
            let rest = sc.rest();
            let end = rest.find('>').ok_or(HeaderError::Syntax("missing >"))?;
            let text = &rest[..end];
            if text.starts_with([' ', '\t']) || text.ends_with([' ', '\t']) {
                return Err(HeaderError::Syntax("whitespace inside <>"));
            }
            sc.advance(end + 1);
            Uri::parse(text)?
        } else {
            // addr-spec: header parameters start at the first ';' (§20.10), and a URI with
            // headers must be in name-addr form (RFC 4475 §3.1.2.13).
            let rest = sc.rest();
            let end = rest.find([';', ' ', '\t']).unwrap_or(rest.len());
            let text = &rest[..end];
            if text.contains('?') {
                return Err(HeaderError::Syntax("URI with headers outside <>"));
            }
            sc.advance(end);
            Uri::parse(text)?
        };
        let params = Params::parse(&mut sc)?;
        sc.skip_ws();
        if !sc.is_empty() {
            return Err(HeaderError::Syntax("unexpected text after address"));
        }
        Ok(NameAddr {
            display_name,
            uri,
            params,
        })
    }

    /// Writes the name-addr form: always `<uri>` so URI parameters stay URI parameters.
    pub(crate) fn encode(&self, out: &mut String) {
        if let Some(d) = &self.display_name {
            write_quoted(out, d);
            out.push(' ');
        }
        out.push('<');
        out.push_str(&self.uri.to_string());
        out.push('>');
        out.push_str(&self.params.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_addr_spec_parameters_belong_to_the_header() {
        let a = NameAddr::parse("sip:+19725552222@gw1.example.net;unknownparam").unwrap();
        assert!(a.params.contains("unknownparam"));
        assert!(a.uri.as_sip().unwrap().params.is_empty());
    }

    #[test]
    fn bracketed_uri_parameters_belong_to_the_uri() {
        let a = NameAddr::parse("<sip:+19725552222@gw1.example.net;unknownparam>").unwrap();
        assert!(a.params.is_empty());
        assert!(a.uri.as_sip().unwrap().params.contains("unknownparam"));
    }

    #[test]
    fn token_display_name_may_touch_the_bracket() {
        let a = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(a.display_name.as_deref(), Some("caller"));
        assert_eq!(a.tag(), Some("323"));
    }

    #[test]
    fn escaped_quotes_in_display_name_are_unescaped() {
        let a = NameAddr::parse(r#""J Rosenberg \\\""  <sip:jdrosen@example.com> ; tag = 98asjd8"#)
            .unwrap();
        assert_eq!(a.display_name.as_deref(), Some(r#"J Rosenberg \""#));
        assert_eq!(a.tag(), Some("98asjd8"));
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            r#""Mr. J. User <sip:j.user@example.com>"#,
            "< sip:t.watson@example.org >",
            "Bell, Alexander <sip:a.g.bell@example.com>",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            r#""Joe" <sip:joe@example.org>;;;;"#,
        ] {
            assert!(NameAddr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn encoded_address_parses_back_equal() {
        let a = NameAddr::parse(r#""A \"B\"" <sip:a@b;lr>;tag=x;q=0.5"#).unwrap();
        let mut s = String::new();
        a.encode(&mut s);
        assert_eq!(NameAddr::parse(&s).unwrap(), a);
    }
}
