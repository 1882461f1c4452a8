//! Matching a number (or any header value) against a rule: exact, prefix, a dial pattern
//! in the PBX tradition, or a regular expression with captures.

use std::fmt;

use regex::Regex;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// How one value is matched. In YAML: a plain string is an exact match; otherwise a map
/// with one key, `exact`, `prefix`, `pattern` or `regex`.
#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(String),
    Prefix(String),
    /// A dial pattern (`_9NXXXXXX`, `00X.`), compiled to an anchored regex.
    Pattern {
        source: String,
        regex: Regex,
    },
    /// An unanchored regular expression as written (anchor it with `^…$`); its capture
    /// groups feed `rewrite.replace`.
    Regex(Regex),
}

/// What a successful match captured: `$0` is the whole value, `$1`… the groups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captures(pub Vec<String>);

impl Captures {
    pub fn get(&self, i: usize) -> &str {
        self.0.get(i).map_or("", String::as_str)
    }
}

impl Matcher {
    /// The captures when `value` matches.
    pub fn captures(&self, value: &str) -> Option<Captures> {
        match self {
            Matcher::Exact(s) => (value == s).then(|| Captures(vec![value.to_owned()])),
            Matcher::Prefix(p) => value
                .starts_with(p.as_str())
                .then(|| Captures(vec![value.to_owned()])),
            Matcher::Pattern { regex, .. } | Matcher::Regex(regex) => {
                let caps = regex.captures(value)?;
                Some(Captures(
                    caps.iter()
                        .map(|m| m.map_or(String::new(), |m| m.as_str().to_owned()))
                        .collect(),
                ))
            }
        }
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(s) => value == s,
            Matcher::Prefix(p) => value.starts_with(p.as_str()),
            Matcher::Pattern { regex, .. } | Matcher::Regex(regex) => regex.is_match(value),
        }
    }

    fn build(kind: &str, value: String) -> Result<Matcher, String> {
        match kind {
            "exact" => Ok(Matcher::Exact(value)),
            "prefix" => Ok(Matcher::Prefix(value)),
            "pattern" => {
                let regex = compile_pattern(&value)?;
                Ok(Matcher::Pattern {
                    source: value,
                    regex,
                })
            }
            "regex" => Regex::new(&value)
                .map(Matcher::Regex)
                .map_err(|e| format!("bad regex {value:?}: {e}")),
            other => Err(format!(
                "unknown matcher `{other}`: expected exact, prefix, pattern or regex"
            )),
        }
    }
}

/// Largest compiled regex, in bytes: a config file must not make the router slow or big.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a dial pattern. An optional leading `_`; then `X` any digit, `Z` 1–9, `N`
/// 2–9, `[…]` one character of a set with ranges (`[1-5,7]`), `.` one or more characters
/// of any kind and `!` zero or more (both only at the end), anything else itself.
pub fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    let body = pattern.strip_prefix('_').unwrap_or(pattern);
    if body.is_empty() {
        return Err("empty pattern".into());
    }
    let mut re = String::from("^(?:");
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            'X' | 'x' => re.push_str("[0-9]"),
            'Z' | 'z' => re.push_str("[1-9]"),
            'N' | 'n' => re.push_str("[2-9]"),
            '.' | '!' => {
                if chars.peek().is_some() {
                    return Err(format!("pattern {pattern:?}: `{c}` may only end a pattern"));
                }
                re.push_str(if c == '.' { ".+" } else { ".*" });
            }
            '[' => {
                let mut set = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == ']' {
                        closed = true;
                        break;
                    }
                    set.push(c);
                }
                if !closed {
                    return Err(format!("pattern {pattern:?}: `[` without `]`"));
                }
                re.push_str(&compile_set(pattern, &set)?);
            }
            ']' => return Err(format!("pattern {pattern:?}: `]` without `[`")),
            other => re.push_str(&regex::escape(other.encode_utf8(&mut [0; 4]))),
        }
    }
    re.push_str(")$");
    regex::RegexBuilder::new(&re)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("pattern {pattern:?}: {e}"))
}

/// `1-5,7` or `157` or `1-57` → a regex class.
fn compile_set(pattern: &str, set: &str) -> Result<String, String> {
    let chars: Vec<char> = set.chars().filter(|c| *c != ',').collect();
    if chars.is_empty() {
        return Err(format!("pattern {pattern:?}: empty `[]`"));
    }
    let mut class = String::from("[");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if i + 2 < chars.len() && chars[i + 1] == '-' {
            let end = chars[i + 2];
            if end < c {
                return Err(format!(
                    "pattern {pattern:?}: range {c}-{end} runs backwards"
                ));
            }
            class.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
            class.push('-');
            class.push_str(&regex::escape(end.encode_utf8(&mut [0; 4])));
            i += 3;
        } else {
            class.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
            i += 1;
        }
    }
    class.push(']');
    Ok(class)
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MatcherVisitor;
        impl<'de> Visitor<'de> for MatcherVisitor {
            type Value = Matcher;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a string (exact match) or a map with one of exact, prefix, pattern, regex",
                )
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Matcher, E> {
                Ok(Matcher::Exact(v.to_owned()))
            }

            // A number written bare (`to: 1000`) is still a number to dial.
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Matcher, E> {
                Ok(Matcher::Exact(v.to_string()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Matcher, E> {
                Ok(Matcher::Exact(v.to_string()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Matcher, A::Error> {
                let Some((kind, value)) = map.next_entry::<String, String>()? else {
                    return Err(de::Error::custom(
                        "empty matcher: give one of exact, prefix, pattern, regex",
                    ));
                };
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(
                        "a matcher takes one key (exact, prefix, pattern or regex)",
                    ));
                }
                Matcher::build(&kind, value).map_err(de::Error::custom)
            }
        }
        deserializer.deserialize_any(MatcherVisitor)
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "{s}"),
            Matcher::Prefix(p) => write!(f, "prefix {p}"),
            Matcher::Pattern { source, .. } => write!(f, "pattern {source}"),
            Matcher::Regex(r) => write!(f, "regex {}", r.as_str()),
        }
    }
}
