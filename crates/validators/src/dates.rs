//! Dates and date-times as written in Chinese health and insurance records (GB/T 39725-2020
//! Appendix G: dates of birth, admission and discharge are quasi-identifiers).
//!
//! Dates: `2024-03-15`, `2024-3-15`, `20240315`, `2024/3/15`, `2024.03.15`, `2024年3月15日`.
//! Date-times: any of those dates followed by a space or `T` and `HH:MM:SS` (optional fraction)
//! or `HH:MM`, plus the compact `20240315134530`. Parsing is done by `chrono`; surrounding spaces
//! are ignored.

use chrono::{NaiveDate, NaiveDateTime};

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

/// Parses a date-time in one of the accepted spellings.
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    if s.len() == 14 && s.bytes().all(|b| b.is_ascii_digit()) {
        return NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").ok();
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

    proptest! {
        #[test]
        fn round_trips_every_date(days in 0i64..80_000) {
            let date = d(1900, 1, 1) + chrono::Duration::days(days);
            prop_assert_eq!(parse_date(&date.format("%Y-%m-%d").to_string()), Some(date));
            prop_assert_eq!(parse_date(&date.format("%Y%m%d").to_string()), Some(date));
            prop_assert_eq!(parse_date(&date.format("%Y年%-m月%-d日").to_string()), Some(date));
            let dt = date.and_hms_opt(23, 59, 59).unwrap();
            prop_assert_eq!(parse_datetime(&dt.format("%Y-%m-%dT%H:%M:%S").to_string()), Some(dt));
        }
    }
}
