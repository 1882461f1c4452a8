//! Time-of-day conditions: days of the week and an hours range, at a fixed UTC offset.

use serde::Deserialize;

/// A moment as the dialplan sees it: seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment(pub u64);

impl Moment {
    pub fn now() -> Moment {
        Moment(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSpec {
    /// `mon-fri`, `sat,sun`, or a list: `[mon, wed]`. Absent: every day.
    #[serde(default)]
    pub days: Option<DaysSpec>,
    /// `09:00-17:30` (start included, end excluded; `22:00-06:00` wraps midnight).
    #[serde(default)]
    pub hours: Option<String>,
    /// The clock the days and hours are read on, as `+01:00` or `-05:00`. Default UTC.
    #[serde(default)]
    pub utc_offset: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DaysSpec {
    One(String),
    List(Vec<String>),
}

/// The compiled condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    /// Bit d set: weekday d (0 Monday … 6 Sunday) is in.
    days: u8,
    /// Minutes since midnight: [start, end).
    hours: Option<(u16, u16)>,
    offset_minutes: i32,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl TimeWindow {
    pub fn compile(spec: &TimeSpec) -> Result<TimeWindow, String> {
        let days = match &spec.days {
            None => 0x7f,
            Some(DaysSpec::One(s)) => parse_days(&s.split(',').collect::<Vec<_>>())?,
            Some(DaysSpec::List(l)) => {
                parse_days(&l.iter().map(String::as_str).collect::<Vec<_>>())?
            }
        };
        let hours = spec.hours.as_deref().map(parse_hours).transpose()?;
        let offset_minutes = spec
            .utc_offset
            .as_deref()
            .map(parse_offset)
            .transpose()?
            .unwrap_or(0);
        Ok(TimeWindow {
            days,
            hours,
            offset_minutes,
        })
    }

    pub fn contains(&self, at: Moment) -> bool {
        let local = at.0 as i64 + i64::from(self.offset_minutes) * 60;
        let day_number = local.div_euclid(86_400);
        let minute = (local.rem_euclid(86_400) / 60) as u16;
        // 1970-01-01 was a Thursday (3 with Monday as 0).
        let weekday = (day_number + 3).rem_euclid(7) as u8;
        let Some((start, end)) = self.hours else {
            return self.days & (1 << weekday) != 0;
        };
        if start <= end {
            self.days & (1 << weekday) != 0 && minute >= start && minute < end
        } else if minute >= start {
            // The evening part of a window that wraps midnight belongs to its start day.
            self.days & (1 << weekday) != 0
        } else {
            let yesterday = (weekday + 6) % 7;
            minute < end && self.days & (1 << yesterday) != 0
        }
    }
}

fn day_index(name: &str) -> Result<u8, String> {
    let lower = name.trim().to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|d| lower.starts_with(d) && lower.len() >= 3)
        .map(|i| i as u8)
        .ok_or_else(|| format!("unknown day {name:?}: use mon, tue, wed, thu, fri, sat, sun"))
}

fn parse_days(items: &[&str]) -> Result<u8, String> {
    let mut bits = 0u8;
    for item in items {
        if let Some((a, b)) = item.split_once('-') {
            let (a, b) = (day_index(a)?, day_index(b)?);
            let mut d = a;
            loop {
                bits |= 1 << d;
                if d == b {
                    break;
                }
                d = (d + 1) % 7;
            }
        } else {
            bits |= 1 << day_index(item)?;
        }
    }
    if bits == 0 {
        return Err("days names no day".into());
    }
    Ok(bits)
}

fn parse_clock(s: &str) -> Result<u16, String> {
    let (h, m) = s
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("time {s:?}: expected HH:MM"))?;
    let h: u16 = h.parse().map_err(|_| format!("time {s:?}: bad hour"))?;
    let m: u16 = m.parse().map_err(|_| format!("time {s:?}: bad minute"))?;
    if h > 24 || m > 59 || (h == 24 && m != 0) {
        return Err(format!("time {s:?} is not a time of day"));
    }
    Ok(h * 60 + m)
}

fn parse_hours(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("hours {s:?}: expected HH:MM-HH:MM"))?;
    let (a, b) = (parse_clock(a)?, parse_clock(b)?);
    if a == b {
        return Err(format!("hours {s:?} is an empty range"));
    }
    Ok((a, b))
}

fn parse_offset(s: &str) -> Result<i32, String> {
    let sign = match s.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(format!("utc_offset {s:?}: expected +HH:MM or -HH:MM")),
    };
    let minutes = parse_clock(&s[1..]).map_err(|e| format!("utc_offset: {e}"))?;
    if minutes > 14 * 60 {
        return Err(format!("utc_offset {s:?} is beyond ±14:00"));
    }
    Ok(sign * i32::from(minutes))
}
