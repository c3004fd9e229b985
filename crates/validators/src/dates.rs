//! Dates and date-times as written in Chinese health and insurance records (GB/T 39725-2020
//! Appendix G: dates of birth, admission and discharge are quasi-identifiers; T/CI 857-2024
//! likewise), normalised to GB/T 7408-2005 (ISO 8601) extended format.
//!
//! Dates ([`parse_date`]): `2024-03-15`, `2024-3-15`, `20240315` (GB/T 7408 basic format),
//! `2024/3/15`, `2024.3.15`, `2024.03.15`, `2024年3月15日`.
//!
//! Date-times ([`parse_datetime`], no zone): any of those dates followed by a space or `T` and
//! `HH:MM:SS` (optional fraction) or `HH:MM`; the Chinese forms `13时45分`, `13时45分30秒`,
//! `13点45分` (with or without a space after `日`); the basic forms `20240315134530` and
//! `20240315T134530` / `20240315T1345`.
//!
//! [`parse_temporal`] also takes a zone designator after a date-time (`Z`, `+08:00`, `+0800`,
//! `+08`; GB/T 7408-2005 §4.2.5), epoch milliseconds (exactly 13 digits, 2001-09-09 … 2100-01-01
//! since shorter values would be 12 digits) and — only when [`DateOptions::epoch_seconds`] is
//! set, because a 9–10-digit number is far more often something else — epoch seconds
//! (1970-01-01 … 2100-01-01). [`normalize_iso8601`] writes the result as an ISO 8601 / GB/T 7408
//! extended-format string (`2024-03-15`, `2024-03-15T13:45:30`, `2024-03-15T13:45:30+08:00`,
//! `2024-03-15T05:45:30Z`).
//!
//! Impossible calendar dates (`2023-02-29`, month 13) and times (`25:00`) are rejected; parsing
//! is done by `chrono`; surrounding spaces are ignored.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Utc};

const DATE_FORMATS: [&str; 4] = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日"];

const TIME_FORMATS: [&str; 2] = ["%H:%M:%S%.f", "%H:%M"];

/// Parses a date in one of the accepted spellings.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        // Only the 8-digit compact form; chrono would also read `2024315`.
        return if s.len() == 8 {
            NaiveDate::parse_from_str(s, "%Y%m%d").ok()
        } else {
            None
        };
    }
    DATE_FORMATS
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(s, f).ok())
        .or_else(|| {
            // 2024年3月15 without the closing 日.
            NaiveDate::parse_from_str(s, "%Y年%m月%d").ok()
        })
}

/// Parses a date-time in one of the accepted spellings (no zone designator).
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").ok();
    }
    // GB/T 7408 basic format with the T designator: 20240315T134530, 20240315T1345.
    if let Some((d, t)) = s.split_once('T') {
        if d.len() == 8
            && (t.len() == 6 || t.len() == 4)
            && d.bytes().chain(t.bytes()).all(|b| b.is_ascii_digit())
        {
            let date = NaiveDate::parse_from_str(d, "%Y%m%d").ok()?;
            let fmt = if t.len() == 6 { "%H%M%S" } else { "%H%M" };
            return NaiveTime::parse_from_str(t, fmt)
                .ok()
                .map(|t| date.and_time(t));
        }
    }
    // 2024年3月15日 13时45分 / 2024年3月15日13点45分30秒.
    if let Some(i) = s.find('日') {
        let (d, t) = (
            s.get(..i + '日'.len_utf8())?,
            s.get(i + '日'.len_utf8()..)?.trim(),
        );
        if t.contains(['时', '点']) {
            return Some(parse_date(d)?.and_time(chinese_time(t)?));
        }
    }
    let split = s.find(['T', ' '])?;
    let (date, time) = (s.get(..split)?, s.get(split + 1..)?.trim_start());
    if time.is_empty()
        || !time
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b':' || b == b'.')
    {
        return None;
    }
    let date = parse_date(date)?;
    TIME_FORMATS
        .iter()
        .find_map(|f| chrono::NaiveTime::parse_from_str(time, f).ok())
        .map(|t| date.and_time(t))
}

/// `13时45分`, `13时45分30秒`, `13点45分`, `13时`, `13点`.
fn chinese_time(t: &str) -> Option<NaiveTime> {
    let (h, rest) = t.split_once(['时', '点'])?;
    let (m, rest) = if rest.is_empty() {
        ("0", "")
    } else {
        rest.split_once('分')?
    };
    let sec = if rest.is_empty() {
        "0"
    } else {
        rest.strip_suffix('秒')?
    };
    let num = |x: &str| -> Option<u32> {
        if (1..=2).contains(&x.len()) && x.bytes().all(|b| b.is_ascii_digit()) {
            x.parse().ok()
        } else {
            None
        }
    };
    NaiveTime::from_hms_opt(num(h)?, num(m)?, num(sec)?)
}

/// What [`parse_temporal`] accepts beyond dates and date-times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateOptions {
    /// Accept 13-digit epoch milliseconds (default: yes).
    pub epoch_millis: bool,
    /// Accept 9–10-digit epoch seconds (default: no — ask explicitly).
    pub epoch_seconds: bool,
}

impl Default for DateOptions {
    fn default() -> Self {
        DateOptions {
            epoch_millis: true,
            epoch_seconds: false,
        }
    }
}

/// A parsed date or time value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporal {
    /// A calendar date.
    Date(NaiveDate),
    /// A local date-time without zone.
    DateTime(NaiveDateTime),
    /// A date-time with a UTC offset (`Z` is offset zero).
    Zoned(DateTime<FixedOffset>),
    /// An instant given as epoch milliseconds or seconds.
    Epoch(DateTime<Utc>),
}

impl Temporal {
    /// GB/T 7408-2005 / ISO 8601 extended-format string. Fractions of a second are written only
    /// when non-zero; offset zero from `Z` is written `Z`, epoch instants in UTC with `Z`.
    pub fn to_iso8601(&self) -> String {
        match self {
            Temporal::Date(d) => d.format("%Y-%m-%d").to_string(),
            Temporal::DateTime(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.f").to_string(),
            Temporal::Zoned(dt) => {
                if dt.offset().local_minus_utc() == 0 {
                    dt.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string()
                } else {
                    dt.format("%Y-%m-%dT%H:%M:%S%.f%:z").to_string()
                }
            }
            Temporal::Epoch(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string(),
        }
    }
}

/// 2100-01-01T00:00:00Z in seconds.
const EPOCH_MAX_SECONDS: i64 = 4_102_444_800;

/// Parses a date, a date-time (with or without zone) or an epoch number per `opts`.
pub fn parse_temporal(s: &str, opts: DateOptions) -> Option<Temporal> {
    let s = s.trim();
    if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
        if let Some(d) = parse_date(s) {
            return Some(Temporal::Date(d));
        }
        if let Some(dt) = parse_datetime(s) {
            return Some(Temporal::DateTime(dt));
        }
        let n: i64 = s.parse().ok()?;
        if opts.epoch_millis && s.len() == 13 && n <= EPOCH_MAX_SECONDS * 1000 {
            return DateTime::from_timestamp_millis(n).map(Temporal::Epoch);
        }
        if opts.epoch_seconds && (9..=10).contains(&s.len()) && n <= EPOCH_MAX_SECONDS {
            return DateTime::from_timestamp(n, 0).map(Temporal::Epoch);
        }
        return None;
    }
    if let Some(d) = parse_date(s) {
        return Some(Temporal::Date(d));
    }
    if let Some(dt) = parse_datetime(s) {
        return Some(Temporal::DateTime(dt));
    }
    parse_zoned(s).map(Temporal::Zoned)
}

/// A date-time followed by `Z`/`z` or a `±HH:MM`, `±HHMM`, `±HH` offset.
fn parse_zoned(s: &str) -> Option<DateTime<FixedOffset>> {
    if let Some(local) = s.strip_suffix(['Z', 'z']) {
        let dt = parse_datetime(local)?;
        let utc = FixedOffset::east_opt(0)?;
        return dt.and_local_timezone(utc).single();
    }
    let i = s.rfind(['+', '-'])?;
    let (local, off) = (s.get(..i)?, s.get(i..)?);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let digits: String = off.get(1..)?.chars().filter(|c| *c != ':').collect();
    let colon_ok = match off.get(1..)?.find(':') {
        None => true,
        Some(p) => p == 2 && off.len() == 6,
    };
    if !colon_ok || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i32, i32) = match digits.len() {
        2 => (digits.parse().ok()?, 0),
        4 => (
            digits.get(..2)?.parse().ok()?,
            digits.get(2..)?.parse().ok()?,
        ),
        _ => return None,
    };
    if h > 14 || m > 59 {
        return None;
    }
    let offset = FixedOffset::east_opt(sign * (h * 3600 + m * 60))?;
    parse_datetime(local.trim_end())?
        .and_local_timezone(offset)
        .single()
}

/// The GB/T 7408 / ISO 8601 extended-format spelling of a date or date-time in any accepted
/// form (epoch milliseconds yes, epoch seconds no).
pub fn normalize_iso8601(s: &str) -> Option<String> {
    normalize_iso8601_with(s, DateOptions::default())
}

/// [`normalize_iso8601`] with explicit options.
pub fn normalize_iso8601_with(s: &str, opts: DateOptions) -> Option<String> {
    parse_temporal(s, opts).map(|t| t.to_iso8601())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn date_spellings() {
        for s in [
            "2024-03-15",
            "2024-3-15",
            "20240315",
            "2024/3/15",
            "2024/03/15",
            "2024.03.15",
            "2024年3月15日",
            "2024年03月15日",
            " 2024-03-15 ",
        ] {
            assert_eq!(parse_date(s), Some(d(2024, 3, 15)), "{s}");
        }
        for s in [
            "",
            "2024-02-30",
            "2024315",
            "202403155",
            "15/03/2024",
            "2024-03",
            "2024-03-15x",
            "三月",
        ] {
            assert_eq!(parse_date(s), None, "{s}");
        }
        assert_eq!(parse_date("2024-02-29"), Some(d(2024, 2, 29)));
        assert_eq!(parse_date("2023-02-29"), None);
    }

    #[test]
    fn datetime_spellings() {
        let want = d(2024, 3, 15).and_hms_opt(13, 45, 30).unwrap();
        for s in [
            "2024-03-15 13:45:30",
            "2024-03-15T13:45:30",
            "2024/3/15 13:45:30",
            "2024年3月15日 13:45:30",
            "20240315134530",
            "2024-03-15 13:45:30.000",
            "20240315T134530",
            "2024年3月15日 13时45分30秒",
            "2024年3月15日13点45分30秒",
        ] {
            assert_eq!(parse_datetime(s), Some(want), "{s}");
        }
        assert_eq!(
            parse_datetime("2024-03-15 13:45"),
            Some(d(2024, 3, 15).and_hms_opt(13, 45, 0).unwrap())
        );
        for s in [
            "2024-03-15",
            "2024-03-15 25:00:00",
            "2024-03-15 13:45:30Z",
            "2024-03-15 ",
            "x 13:45:30",
        ] {
            assert_eq!(parse_datetime(s), None, "{s}");
        }
    }

    #[test]
    fn temporal_normalisation() {
        let n = |s: &str| normalize_iso8601(s);
        assert_eq!(
            n("2024年3月15日 13时45分").as_deref(),
            Some("2024-03-15T13:45:00")
        );
        assert_eq!(
            n("2024-03-15T13:45:30Z").as_deref(),
            Some("2024-03-15T13:45:30Z")
        );
        assert_eq!(
            n("2024-03-15T13:45:30+0800").as_deref(),
            Some("2024-03-15T13:45:30+08:00")
        );
        assert_eq!(
            n("2024-03-15 13:45:30-05").as_deref(),
            Some("2024-03-15T13:45:30-05:00")
        );
        assert_eq!(
            n("20240315T134530Z").as_deref(),
            Some("2024-03-15T13:45:30Z")
        );
        assert_eq!(n("1710510330000").as_deref(), Some("2024-03-15T13:45:30Z"));
        assert_eq!(
            n("1710510330123").as_deref(),
            Some("2024-03-15T13:45:30.123Z")
        );
        assert_eq!(n("1710510330"), None, "epoch seconds only on request");
        let secs = DateOptions {
            epoch_seconds: true,
            ..DateOptions::default()
        };
        assert_eq!(
            normalize_iso8601_with("1710510330", secs).as_deref(),
            Some("2024-03-15T13:45:30Z")
        );
        assert_eq!(n("9999999999999"), None, "after 2100");
        assert_eq!(n("2023-02-29"), None);
        assert_eq!(n("2024-03-15T13:45:30+25:00"), None);
        assert_eq!(n("2024-03-15T13:45:30+08:0"), None);
        assert_eq!(n("2024-03-15+08:00"), None);
    }

    proptest! {
        #[test]
        fn round_trips_every_date(days in 0i64..80_000) {
            let date = d(1900, 1, 1) + chrono::Duration::days(days);
            prop_assert_eq!(parse_date(&date.format("%Y-%m-%d").to_string()), Some(date));
            prop_assert_eq!(parse_date(&date.format("%Y%m%d").to_string()), Some(date));
            prop_assert_eq!(parse_date(&date.format("%Y年%-m月%-d日").to_string()), Some(date));
            let dt = date.and_hms_opt(23, 59, 59).unwrap();
            prop_assert_eq!(parse_datetime(&dt.format("%Y-%m-%dT%H:%M:%S").to_string()), Some(dt));
            let iso = date.format("%Y-%m-%d").to_string();
            prop_assert_eq!(normalize_iso8601(&date.format("%Y年%-m月%-d日").to_string()), Some(iso.clone()));
            prop_assert_eq!(normalize_iso8601(&date.format("%Y/%-m/%-d").to_string()), Some(iso.clone()));
            prop_assert_eq!(normalize_iso8601(&date.format("%Y.%-m.%-d").to_string()), Some(iso));
        }

        #[test]
        fn epoch_millis_round_trip(ms in 1_000_000_000_000i64..4_102_444_800_000) {
            let t = DateTime::from_timestamp_millis(ms).unwrap();
            prop_assert_eq!(parse_temporal(&ms.to_string(), DateOptions::default()), Some(Temporal::Epoch(t)));
        }
    }
}
