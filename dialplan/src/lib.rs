//! Cardea's dialplan: ordered YAML rules compiled into `route(call) -> decision`.
//!
//! A rule matches on where the call comes from (a local user, a group of them, a trunk,
//! anyone), the dialled number (exact, prefix, dial pattern, regex), the caller's number,
//! headers and the time of day; the first rule that matches decides: ring local users,
//! send to trunks with failover, join a conference room, echo, play an announcement, or
//! reject. The number can be rewritten and the caller ID replaced on the way. Pure: no
//! I/O, no clock (the caller passes the time), so every decision is a table test.
#![forbid(unsafe_code)]

mod matcher;
mod rewrite;
mod time;

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_saphyr::Spanned;

pub use matcher::{compile_pattern, Captures, Matcher};
pub use rewrite::{expand, Rewrite};
pub use time::{Moment, TimeSpec, TimeWindow};

/// A load error: the file, the line when known, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct DialplanError {
    pub file: String,
    pub line: Option<u32>,
    pub message: String,
}

/// Where a call comes from, as the bridge established it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin<'a> {
    /// A local user who authenticated (digest) or registered, with their groups.
    User { name: &'a str, groups: &'a [String] },
    /// A configured trunk, recognised by its source address or registration.
    Trunk(&'a str),
}

/// What the router is asked about.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub origin: Origin<'a>,
    /// The dialled number: the user part of the Request-URI.
    pub to: &'a str,
    /// The caller's number: the user part of From.
    pub caller: &'a str,
    /// Header lookup by name (case-insensitive): the first value.
    pub header: &'a dyn Fn(&str) -> Option<String>,
    pub at: Moment,
}

/// The YAML shape of `from`: `any`, `local`, `trunk`, `user:NAME`, `group:NAME`,
/// `trunk:NAME`, or a list of these (any of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromSpec {
    Any,
    Local,
    AnyTrunk,
    User(String),
    Group(String),
    Trunk(String),
}

impl FromSpec {
    fn parse(s: &str) -> Result<FromSpec, String> {
        Ok(match s.split_once(':') {
            None if s == "any" => FromSpec::Any,
            None if s == "local" => FromSpec::Local,
            None if s == "trunk" => FromSpec::AnyTrunk,
            Some(("user", n)) if !n.is_empty() => FromSpec::User(n.into()),
            Some(("group", n)) if !n.is_empty() => FromSpec::Group(n.into()),
            Some(("trunk", n)) if !n.is_empty() => FromSpec::Trunk(n.into()),
            _ => {
                return Err(format!(
                    "from {s:?}: expected any, local, trunk, user:NAME, group:NAME or trunk:NAME"
                ))
            }
        })
    }

    fn admits(&self, origin: &Origin<'_>) -> bool {
        match (self, origin) {
            (FromSpec::Any, _) => true,
            (FromSpec::Local, Origin::User { .. }) => true,
            (FromSpec::AnyTrunk, Origin::Trunk(_)) => true,
            (FromSpec::User(n), Origin::User { name, .. }) => n == name,
            (FromSpec::Group(g), Origin::User { groups, .. }) => groups.iter().any(|x| x == g),
            (FromSpec::Trunk(n), Origin::Trunk(t)) => n == t,
            _ => false,
        }
    }
}

impl<'de> Deserialize<'de> for FromSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FromSpec::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One value or a list of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

/// A trunk in a `trunk:` action: a name, or `{name, weight}`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrunkChoice {
    pub name: String,
    /// Relative weight when several trunks are listed: the order they are tried in is
    /// drawn with these weights. Absent on every trunk: the listed order.
    pub weight: Option<u32>,
}

impl<'de> Deserialize<'de> for TrunkChoice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            name: String,
            #[serde(default)]
            weight: Option<u32>,
        }
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = TrunkChoice;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a trunk name or {name, weight}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TrunkChoice, E> {
                Ok(TrunkChoice {
                    name: v.to_owned(),
                    weight: None,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<TrunkChoice, A::Error> {
                let full = Full::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(TrunkChoice {
                    name: full.name,
                    weight: full.weight,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// `reject: 486` or `reject: {code: 403, reason: "…"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub code: u16,
    pub reason: Option<String>,
}

impl<'de> Deserialize<'de> for Reject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            code: u16,
            #[serde(default)]
            reason: Option<String>,
        }
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Reject;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a SIP status code (400-699) or {code, reason}")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Reject, E> {
                reject(v, None)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Reject, E> {
                reject(u64::try_from(v).unwrap_or(0), None)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Reject, A::Error> {
                let full = Full::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                reject(u64::from(full.code), full.reason)
            }
        }
        fn reject<E: serde::de::Error>(code: u64, reason: Option<String>) -> Result<Reject, E> {
            if !(400..700).contains(&code) {
                return Err(E::custom(format!(
                    "reject code {code}: a rejection is a SIP status from 400 to 699"
                )));
            }
            if reason.as_deref().is_some_and(|r| r.contains(['\r', '\n'])) {
                return Err(E::custom("reject reason: one line, no CR or LF"));
            }
            Ok(Reject {
                code: code as u16,
                reason,
            })
        }
        d.deserialize_any(V)
    }
}

/// What a rule does with the call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Action {
    /// Ring every registered contact of these local users at once (phones and browser
    /// handles); the first answer wins and the others are cancelled.
    Ring(#[serde(deserialize_with = "one_or_many")] Vec<String>),
    /// Send to these trunks, one after the other on timeout or 5xx (not on a 4xx: a busy
    /// number is busy everywhere).
    Trunk(#[serde(deserialize_with = "one_or_many")] Vec<TrunkChoice>),
    /// Join an AudioBridge room as a plain-RTP participant.
    Room(u64),
    /// Answer and send the caller's RTP back (an echo test number).
    Echo,
    /// Answer and play an announcement file (Ogg/Opus, or raw A-law/µ-law).
    Play(String),
    Reject(Reject),
}

fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let v = OneOrMany::<T>::deserialize(d)?.into_vec();
    if v.is_empty() {
        return Err(serde::de::Error::custom("an empty list"));
    }
    Ok(v)
}

/// Replacement caller ID (From user and display name, and P-Asserted-Identity).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallerId {
    /// A template like `rewrite.replace` over the caller's number: `$0` is the number.
    #[serde(default)]
    pub number: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    from: Option<OneOrMany<FromSpec>>,
    #[serde(default)]
    to: Option<Matcher>,
    #[serde(default)]
    caller: Option<Matcher>,
    #[serde(default)]
    headers: BTreeMap<String, Matcher>,
    #[serde(default)]
    time: Option<TimeSpec>,
    /// Local callers outside these groups get 403 from this rule.
    #[serde(default)]
    require_group: Option<OneOrMany<String>>,
    #[serde(default)]
    rewrite: Option<Rewrite>,
    #[serde(default)]
    caller_id: Option<CallerId>,
    action: Action,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    rules: Vec<Spanned<RuleSpec>>,
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub line: u32,
    from: Vec<FromSpec>,
    to: Option<Matcher>,
    caller: Option<Matcher>,
    headers: Vec<(String, Matcher)>,
    time: Option<TimeWindow>,
    require_group: Vec<String>,
    rewrite: Option<Rewrite>,
    pub caller_id: Option<CallerId>,
    pub action: Action,
}

impl Rule {
    fn admits(&self, call: &Call<'_>) -> Option<Captures> {
        if !self.from.is_empty() && !self.from.iter().any(|f| f.admits(&call.origin)) {
            return None;
        }
        let caps = match &self.to {
            Some(m) => m.captures(call.to)?,
            None => Captures(vec![call.to.to_owned()]),
        };
        if let Some(m) = &self.caller {
            if !m.matches(call.caller) {
                return None;
            }
        }
        for (name, m) in &self.headers {
            match (call.header)(name) {
                Some(v) if m.matches(&v) => {}
                _ => return None,
            }
        }
        if let Some(t) = &self.time {
            if !t.contains(call.at) {
                return None;
            }
        }
        Some(caps)
    }

    /// The trunk names this rule's action names.
    pub fn trunks(&self) -> Vec<&str> {
        match &self.action {
            Action::Trunk(t) => t.iter().map(|c| c.name.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

/// The router's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The rule that decided (its name, or `rule N`), for logs and call records.
    pub rule: String,
    /// The number to dial, after rewriting.
    pub number: String,
    /// The caller ID to present, when the rule replaces it.
    pub caller_number: Option<String>,
    pub caller_name: Option<String>,
    pub action: Action,
}

/// The compiled dialplan.
#[derive(Debug, Clone, Default)]
pub struct Dialplan {
    rules: Vec<Rule>,
}

/// What a dialplan refers to that the rest of the configuration must define.
#[derive(Debug, Default)]
pub struct Names<'a> {
    pub users: &'a [&'a str],
    pub trunks: &'a [&'a str],
}

impl Dialplan {
    /// Parses and compiles `text` (the contents of `file`). Errors name the file and line.
    pub fn from_yaml(text: &str, file: &str) -> Result<Dialplan, DialplanError> {
        let err = |line: Option<u32>, message: String| DialplanError {
            file: file.to_owned(),
            line,
            message,
        };
        if text.trim().is_empty() {
            return Ok(Dialplan::default());
        }
        let spec: FileSpec = serde_saphyr::from_str(text).map_err(|e| {
            let line = e.location().map(|l| l.line() as u32);
            err(line, e.to_string())
        })?;
        let mut rules = Vec::with_capacity(spec.rules.len());
        for (i, spanned) in spec.rules.into_iter().enumerate() {
            let line = spanned.referenced.line() as u32;
            let r = spanned.value;
            let time = r
                .time
                .as_ref()
                .map(TimeWindow::compile)
                .transpose()
                .map_err(|m| err(Some(line), m))?;
            let groups = match &r.to {
                Some(Matcher::Pattern { regex, .. } | Matcher::Regex(regex)) => {
                    regex.captures_len()
                }
                _ => 1,
            };
            if let Some(rw) = &r.rewrite {
                rw.check(groups).map_err(|m| err(Some(line), m))?;
            }
            if let Some(number) = r.caller_id.as_ref().and_then(|c| c.number.as_ref()) {
                Rewrite {
                    replace: Some(number.clone()),
                    ..Rewrite::default()
                }
                .check(1)
                .map_err(|m| err(Some(line), format!("caller_id.number: {m}")))?;
            }
            if let Some(name) = r.caller_id.as_ref().and_then(|c| c.name.as_ref()) {
                if name.contains(['\r', '\n', '"']) {
                    return Err(err(
                        Some(line),
                        "caller_id.name: one line without double quotes".into(),
                    ));
                }
            }
            rules.push(Rule {
                name: r.name.unwrap_or_else(|| format!("rule {}", i + 1)),
                line,
                from: r.from.map(OneOrMany::into_vec).unwrap_or_default(),
                to: r.to,
                caller: r.caller,
                headers: r.headers.into_iter().collect(),
                time,
                require_group: r.require_group.map(OneOrMany::into_vec).unwrap_or_default(),
                rewrite: r.rewrite,
                caller_id: r.caller_id,
                action: r.action,
            });
        }
        Ok(Dialplan { rules })
    }

    /// Reads and compiles a file.
    pub fn from_file(path: &std::path::Path) -> Result<Dialplan, DialplanError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| DialplanError {
            file: file.clone(),
            line: None,
            message: e.to_string(),
        })?;
        Dialplan::from_yaml(&text, &file)
    }

    /// Checks that every user and trunk the rules name exists.
    pub fn check_names(&self, file: &str, names: &Names<'_>) -> Result<(), DialplanError> {
        for rule in &self.rules {
            let err = |message: String| DialplanError {
                file: file.to_owned(),
                line: Some(rule.line),
                message,
            };
            for t in rule.trunks() {
                if !names.trunks.contains(&t) {
                    return Err(err(format!(
                        "rule {:?} sends to trunk {t:?}, which sip.trunks does not define",
                        rule.name
                    )));
                }
            }
            for f in &rule.from {
                if let FromSpec::Trunk(t) = f {
                    if !names.trunks.contains(&t.as_str()) {
                        return Err(err(format!(
                            "rule {:?} matches calls from trunk {t:?}, which sip.trunks does not define",
                            rule.name
                        )));
                    }
                }
            }
            if let Action::Ring(users) = &rule.action {
                for u in users {
                    if !names.users.contains(&u.as_str()) {
                        return Err(err(format!(
                            "rule {:?} rings user {u:?}, who is not in sip.users",
                            rule.name
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// A dialplan that rings the local user named by the dialled number: what Cardea does
    /// when no dialplan file is configured.
    pub fn ring_dialled_user() -> Dialplan {
        Dialplan::default()
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The first rule that admits the call decides. `None`: no rule matched (the bridge
    /// then rings a local user by that name if one exists, else answers 404).
    pub fn route(&self, call: &Call<'_>) -> Option<Decision> {
        for rule in &self.rules {
            let Some(caps) = rule.admits(call) else {
                continue;
            };
            if let Origin::User { groups, .. } = call.origin {
                if !rule.require_group.is_empty()
                    && !rule.require_group.iter().any(|g| groups.contains(g))
                {
                    return Some(Decision {
                        rule: rule.name.clone(),
                        number: call.to.to_owned(),
                        caller_number: None,
                        caller_name: None,
                        action: Action::Reject(Reject {
                            code: 403,
                            reason: Some(format!("Forbidden - not permitted by {}", rule.name)),
                        }),
                    });
                }
            }
            let number = match &rule.rewrite {
                Some(rw) => rw.apply(call.to, &caps),
                None => call.to.to_owned(),
            };
            let caller_caps = Captures(vec![call.caller.to_owned()]);
            let caller_id = rule.caller_id.as_ref();
            return Some(Decision {
                rule: rule.name.clone(),
                number,
                caller_number: caller_id
                    .and_then(|c| c.number.as_deref())
                    .map(|t| expand(t, &caller_caps)),
                caller_name: caller_id.and_then(|c| c.name.clone()),
                action: rule.action.clone(),
            });
        }
        None
    }
}

/// The order to try `trunks` in: by weight when any has one (a weighted draw without
/// replacement, `draw()` giving uniform numbers in [0, 1)), else as listed.
pub fn order_trunks(trunks: &[TrunkChoice], mut draw: impl FnMut() -> f64) -> Vec<String> {
    if trunks.iter().all(|t| t.weight.is_none()) {
        return trunks.iter().map(|t| t.name.clone()).collect();
    }
    let mut left: Vec<(String, f64)> = trunks
        .iter()
        .map(|t| (t.name.clone(), f64::from(t.weight.unwrap_or(1))))
        .collect();
    let mut out = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let total: f64 = left.iter().map(|(_, w)| w).sum();
        let pick = if total <= 0.0 {
            0
        } else {
            let mut x = draw().clamp(0.0, 1.0) * total;
            let mut chosen = left.len() - 1;
            for (i, (_, w)) in left.iter().enumerate() {
                if x < *w {
                    chosen = i;
                    break;
                }
                x -= w;
            }
            chosen
        };
        out.push(left.remove(pick).0);
    }
    out
}

#[cfg(test)]
mod tests;
