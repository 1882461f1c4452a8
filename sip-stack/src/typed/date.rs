//! `Date` (RFC 3261 §20.17): an RFC 1123 date restricted to the GMT zone, e.g.
//! `Sat, 13 Nov 2010 23:29:00 GMT`. Only the shape is checked; the text is kept.

use crate::header_name::HeaderName;
use crate::typed::{HeaderError, TypedHeader};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Date(pub String);

const WKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_rfc1123_gmt(v: &str) -> bool {
    // wkday "," SP 2DIGIT SP month SP 4DIGIT SP 2DIGIT ":" 2DIGIT ":" 2DIGIT SP "GMT"
    let Some((wkday, rest)) = v.split_once(", ") else {
        return false;
    };
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, zone] = parts.as_slice() else {
        return false;
    };
    let hms: Vec<&str> = time.split(':').collect();
    WKDAYS.contains(&wkday)
        && digits(day, 2)
        && MONTHS.contains(month)
        && digits(year, 4)
        && hms.len() == 3
        && hms.iter().all(|p| digits(p, 2))
        && *zone == "GMT"
}

impl TypedHeader for Date {
    const NAME: HeaderName = HeaderName::Date;

    fn decode(value: &str) -> Result<Self, HeaderError> {
        let v = value.trim_matches([' ', '\t']);
        if is_rfc1123_gmt(v) {
            Ok(Date(v.to_owned()))
        } else {
            Err(HeaderError::Syntax("Date is not an RFC 1123 GMT date"))
        }
    }

    fn encode(&self, out: &mut String) {
        out.push_str(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_gmt_dates_are_accepted() {
        assert!(Date::decode("Sat, 15 Oct 2005 04:44:56 GMT").is_ok());
        assert!(Date::decode("Fri, 01 Jan 2010 16:00:00 EST").is_err());
    }
}
