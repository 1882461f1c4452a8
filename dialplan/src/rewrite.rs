//! Number rewriting: replace (a template over the match's captures), then strip leading
//! characters, then prepend.

use serde::Deserialize;

use crate::matcher::Captures;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rewrite {
    /// A template: `$0` the whole dialled number, `$1`…`$9` the pattern's or regex's
    /// groups, `$$` a dollar sign.
    #[serde(default)]
    pub replace: Option<String>,
    /// Characters removed from the front (after `replace`).
    #[serde(default)]
    pub strip: usize,
    /// Put in front (last).
    #[serde(default)]
    pub prepend: Option<String>,
}

impl Rewrite {
    pub fn apply(&self, number: &str, caps: &Captures) -> String {
        let mut out = match &self.replace {
            Some(t) => expand(t, caps),
            None => number.to_owned(),
        };
        if self.strip > 0 {
            out = out.chars().skip(self.strip).collect();
        }
        if let Some(p) = &self.prepend {
            out.insert_str(0, p);
        }
        out
    }

    /// Errors a template can have: a `$` not followed by a digit or `$`, or a group the
    /// matcher does not have.
    pub fn check(&self, groups: usize) -> Result<(), String> {
        let Some(t) = &self.replace else {
            return Ok(());
        };
        let mut chars = t.chars();
        while let Some(c) = chars.next() {
            if c != '$' {
                continue;
            }
            match chars.next() {
                Some('$') => {}
                Some(d) if d.is_ascii_digit() => {
                    let n = d as usize - '0' as usize;
                    if n >= groups {
                        return Err(format!(
                            "rewrite.replace {t:?} uses ${n} but the match has {} group(s)",
                            groups - 1
                        ));
                    }
                }
                _ => {
                    return Err(format!(
                        "rewrite.replace {t:?}: `$` must be followed by a digit or `$`"
                    ))
                }
            }
        }
        Ok(())
    }
}

/// `$N` → capture N, `$$` → `$`.
pub fn expand(template: &str, caps: &Captures) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('$') => out.push('$'),
            Some(d) if d.is_ascii_digit() => out.push_str(caps.get(d as usize - '0' as usize)),
            Some(other) => {
                out.push('$');
                out.push(other);
            }
            None => out.push('$'),
        }
    }
    out
}
