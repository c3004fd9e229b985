//! Mainland China mobile and fixed-line telephone numbers (GB/T 39725-2020 Appendix G and
//! T/CI 857-2024: telephone numbers are direct identifiers).
//!
//! Numbering follows the MIIT 电信网编号计划 (2017), with ITU-T E.164 country code 86.
//!
//! **Mobile**: 11 digits `1[3-9]xxxxxxxxx` (the 13x–19x segments). Written forms accepted: an
//! optional country prefix `+86`, `86`, `0086`, `(+86)` or `（+86）`, and single spaces, dashes or
//! dots between digits (`+86 139-1234-5678`, `139.1234.5678`). [`mobile_operator`] reports the
//! operator a segment was allocated to (information only; unallocated segments such as 154 are
//! still accepted as mobile numbers by [`is_mobile`]).
//!
//! **Fixed line** ([`parse_landline`]): a long-distance area code `010`, `02X` (3 digits, then an
//! 8-digit subscriber number) or `0[3-9]XX` (4 digits, then 7 or 8 digits); the subscriber
//! number starts with 2–9. Written forms: `010-12345678`, `(0571)8888-8888`, `（0571）88888888`,
//! `0571 8888 8888`, `057188888888`, `+86 10 1234 5678`, `+86-571-88888888`, optionally followed
//! by an extension of 1–6 digits after `-`, `转`, `分机`, `ext`, `x` or `#`
//! (`010-12345678-8001`, `0571-88888888转123`). Local numbers without an area code and service
//! numbers (`95xxx`, `400`, `800`) are not accepted: on their own they are too ambiguous.

/// Strips a bracketed country code `(+86)`, `（+86）`, `(86)` or `(0086)`; returns the rest.
fn strip_bracketed_country_code(s: &str) -> Option<&str> {
    for (open, close) in [("(", ")"), ("（", "）")] {
        if let Some(inner) = s.strip_prefix(open) {
            let end = inner.find(close)?;
            let cc = inner.get(..end)?.trim();
            if matches!(cc, "+86" | "86" | "0086") {
                return Some(inner.get(end + close.len()..)?.trim_start());
            }
            return None;
        }
    }
    None
}

/// The 11-digit form of a mobile number, or `None` if `s` is not one.
pub fn normalize_mobile(s: &str) -> Option<String> {
    let s = s.trim();
    let (plus, rest) = if let Some(r) = strip_bracketed_country_code(s) {
        (true, r)
    } else {
        match s.strip_prefix('+') {
            Some(r) => (true, r),
            None => (false, s),
        }
    };
    let mut digits = String::with_capacity(15);
    let mut last_was_sep = true; // no separator first
    for c in rest.chars() {
        match c {
            '0'..='9' => {
                digits.push(c);
                last_was_sep = false;
            }
            ' ' | '-' | '.' if !last_was_sep => last_was_sep = true,
            _ => return None,
        }
    }
    if last_was_sep || digits.len() > 15 {
        return None;
    }
    let national = if plus && digits.len() == 11 && s.starts_with(['(', '（']) {
        digits.as_str()
    } else if plus || digits.len() == 13 {
        digits.strip_prefix("86")?
    } else if digits.len() == 15 {
        digits.strip_prefix("0086")?
    } else {
        digits.as_str()
    };
    let b = national.as_bytes();
    if b.len() == 11
        && b.first() == Some(&b'1')
        && b.get(1).is_some_and(|d| (b'3'..=b'9').contains(d))
    {
        Some(national.to_string())
    } else {
        None
    }
}

/// True if `s` is a mainland mobile number in one of the accepted written forms.
pub fn is_mobile(s: &str) -> bool {
    normalize_mobile(s).is_some()
}

/// Operator a mobile segment was allocated to (MIIT allocations to 2023).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MobileOperator {
    /// 中国移动.
    ChinaMobile,
    /// 中国联通.
    ChinaUnicom,
    /// 中国电信 (including the 1349 and 174 satellite ranges).
    ChinaTelecom,
    /// 中国广电 (192).
    ChinaBroadnet,
    /// 虚拟运营商 (MVNO segments 162, 165, 167, 170, 171).
    Virtual,
}

/// The operator of a mobile number's segment, if the number is a mobile number and its segment
/// is allocated.
pub fn mobile_operator(s: &str) -> Option<MobileOperator> {
    use MobileOperator::*;
    let n = normalize_mobile(s)?;
    let seg: u32 = n.get(..3)?.parse().ok()?;
    let seg4: u32 = n.get(..4)?.parse().ok()?;
    Some(match seg {
        134 if seg4 == 1349 => ChinaTelecom,
        134..=139
        | 147
        | 148
        | 150..=152
        | 157..=159
        | 172
        | 178
        | 182..=184
        | 187
        | 188
        | 195
        | 197
        | 198 => ChinaMobile,
        130..=132 | 145 | 146 | 155 | 156 | 166 | 175 | 176 | 185 | 186 | 196 => ChinaUnicom,
        133 | 149 | 153 | 173 | 174 | 177 | 180 | 181 | 189 | 190 | 191 | 193 | 199 => ChinaTelecom,
        192 => ChinaBroadnet,
        162 | 165 | 167 | 170 | 171 => Virtual,
        _ => return None,
    })
}

/// A fixed-line number split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landline {
    /// Long-distance area code with its leading 0 (`010`, `0571`).
    pub area_code: String,
    /// Subscriber number, 7 or 8 digits.
    pub number: String,
    /// Extension digits, if written.
    pub extension: Option<String>,
}

impl Landline {
    /// `area-number` or `area-number-extension`.
    pub fn normalized(&self) -> String {
        match &self.extension {
            Some(e) => format!("{}-{}-{}", self.area_code, self.number, e),
            None => format!("{}-{}", self.area_code, self.number),
        }
    }
}

/// Extension markers, longest first where one is a prefix of another.
const EXTENSION_MARKERS: [&str; 8] = ["分机", "转", "ext.", "ext", "EXT", "Ext", "x", "#"];

/// Parses a fixed-line number in one of the written forms of the module documentation.
pub fn parse_landline(s: &str) -> Option<Landline> {
    let s = s.trim();
    // Split off an explicit extension.
    let marker = EXTENSION_MARKERS
        .iter()
        .filter_map(|m| s.find(m).map(|i| (i, *m)))
        .min_by_key(|(i, m)| (*i, std::cmp::Reverse(m.len())));
    let (main, mut extension) = match marker {
        Some((i, m)) => {
            let ext = s
                .get(i + m.len()..)?
                .trim_start_matches([' ', '.', ':', '：']);
            if !(1..=6).contains(&ext.len()) || !ext.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (s.get(..i)?.trim_end(), Some(ext.to_string()))
        }
        None => (s, None),
    };
    // Country code.
    let (intl, main) = if let Some(r) = strip_bracketed_country_code(main) {
        (true, r)
    } else if let Some(r) = main.strip_prefix("+86") {
        (true, r)
    } else if let Some(r) = main.strip_prefix("0086") {
        (true, r)
    } else {
        (false, main)
    };
    // Digit groups between separators.
    let mut groups: Vec<String> = Vec::new();
    let mut cur = String::new();
    for c in main.chars() {
        match c {
            '0'..='9' => cur.push(c),
            ' ' | '-' | '(' | ')' | '（' | '）' => {
                if !cur.is_empty() {
                    groups.push(std::mem::take(&mut cur));
                }
            }
            _ => return None,
        }
    }
    if !cur.is_empty() {
        groups.push(cur);
    }
    if intl {
        let first = groups.first_mut()?;
        if first.starts_with('0') {
            return None;
        }
        first.insert(0, '0');
    }
    let area_len = |d: &str| match d.as_bytes().get(1) {
        Some(b'1' | b'2') => Some(3),
        Some(b'3'..=b'9') => Some(4),
        _ => None,
    };
    let mut rest = groups.into_iter();
    let first = rest.next()?;
    if !first.starts_with('0') {
        return None;
    }
    let alen = area_len(&first)?;
    let (area_code, number) = if first.len() > alen {
        // Unseparated: area code and number in one group.
        (
            first.get(..alen)?.to_string(),
            first.get(alen..)?.to_string(),
        )
    } else if first.len() == alen {
        let mut number = rest.next()?;
        let mut peek = rest.clone();
        if let Some(next) = peek.next() {
            if (3..=4).contains(&number.len())
                && next.len() == 4
                && (7..=8).contains(&(number.len() + 4))
            {
                number.push_str(&next);
                rest = peek;
            }
        }
        (first, number)
    } else {
        return None;
    };
    if let Some(ext) = rest.next() {
        if extension.is_some() || !(1..=6).contains(&ext.len()) {
            return None;
        }
        extension = Some(ext);
    }
    if rest.next().is_some() {
        return None;
    }
    let len_ok = if alen == 3 {
        number.len() == 8
    } else {
        (7..=8).contains(&number.len())
    };
    if !len_ok || !number.starts_with(['2', '3', '4', '5', '6', '7', '8', '9']) {
        return None;
    }
    Some(Landline {
        area_code,
        number,
        extension,
    })
}

/// True if `s` is a fixed-line number with area code.
pub fn is_landline(s: &str) -> bool {
    parse_landline(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_written_forms() {
        for ok in [
            "13912345678",
            "199 0000 1111",
            "139-1234-5678",
            "+8613912345678",
            "+86 139 1234 5678",
            "+86-139-1234-5678",
            "8613912345678",
            "008613912345678",
            " 17712345678 ",
            "139.1234.5678",
            "(+86)13912345678",
            "（+86）139 1234 5678",
            "(86) 139-1234-5678",
        ] {
            assert!(is_mobile(ok), "{ok}");
        }
        assert_eq!(
            normalize_mobile("+86 139-1234-5678").as_deref(),
            Some("13912345678")
        );
    }

    #[test]
    fn rejects_other_numbers() {
        for bad in [
            "",
            "1391234567",      // 10 digits
            "139123456789",    // 12 digits
            "12912345678",     // second digit 2
            "23912345678",     // not starting with 1
            "010-12345678",    // landline
            "+85213912345678", // Hong Kong prefix
            "+1 13912345678",
            "139 1234 567a",
            "139--1234-5678",
            "-13912345678",
            "13912345678-",
            "１３９１２３４５６７８",
        ] {
            assert!(!is_mobile(bad), "{bad}");
        }
    }

    #[test]
    fn operators() {
        assert_eq!(
            mobile_operator("13912345678"),
            Some(MobileOperator::ChinaMobile)
        );
        assert_eq!(
            mobile_operator("13491234567"),
            Some(MobileOperator::ChinaTelecom)
        );
        assert_eq!(
            mobile_operator("18612345678"),
            Some(MobileOperator::ChinaUnicom)
        );
        assert_eq!(
            mobile_operator("19912345678"),
            Some(MobileOperator::ChinaTelecom)
        );
        assert_eq!(
            mobile_operator("19212345678"),
            Some(MobileOperator::ChinaBroadnet)
        );
        assert_eq!(
            mobile_operator("17012345678"),
            Some(MobileOperator::Virtual)
        );
        assert_eq!(mobile_operator("15412345678"), None);
        assert_eq!(mobile_operator("010-12345678"), None);
    }

    #[test]
    fn landlines() {
        let l = parse_landline("0571-88888888转123").unwrap();
        assert_eq!(l.area_code, "0571");
        assert_eq!(l.number, "88888888");
        assert_eq!(l.extension.as_deref(), Some("123"));
        assert_eq!(l.normalized(), "0571-88888888-123");
        assert_eq!(
            parse_landline("+86 10 6234 5678").unwrap().normalized(),
            "010-62345678"
        );
        assert_eq!(
            parse_landline("01062345678").unwrap().normalized(),
            "010-62345678"
        );
        assert_eq!(
            parse_landline("(0755)8765-4321").unwrap().normalized(),
            "0755-87654321"
        );
        assert!(parse_landline("13912345678").is_none());
        assert!(parse_landline("010-1234567").is_none());
    }

    proptest! {
        #[test]
        fn every_11_digit_1x_number_is_accepted_with_and_without_prefix(second in 3u8..10, rest in proptest::collection::vec(0u8..10, 9)) {
            let mut n = format!("1{second}");
            n.extend(rest.iter().map(|d| char::from(b'0' + d)));
            prop_assert!(is_mobile(&n));
            prop_assert_eq!(normalize_mobile(&format!("+86 {n}")), Some(n.clone()));
            let with_cc = format!("86{n}");
            prop_assert!(is_mobile(&with_cc));
            let bad = format!("1{}{}", second % 3, &n[2..]);
            prop_assert!(!is_mobile(&bad));
        }
    }
}
