//! Motor-vehicle number plates of mainland China (GA 36-2018 机动车号牌; GB/T 39725-2020
//! Appendix G lists vehicle plate numbers as identifiers of a person).
//!
//! Accepted forms (GA 36-2018 §5 and the 2021 amendment for new-energy plates):
//! - **ordinary** (7 characters): province abbreviation (one of the 31 of [`PROVINCES`]) + issuing
//!   authority letter (`A`–`Z`, not `I`) + 5 characters of digits and letters (not `I`/`O`); the
//!   last may instead be one of the use characters 挂 (trailer), 学 (driving school), 警
//!   (police), 港 / 澳 (cross-border), 领 (consulate), 试 (test), 超 (over-limit);
//! - **small new-energy** (8 characters): province + letter + `D`/`A`/`B`/`C`/`E` (battery
//!   electric) or `F`/`G`/`H`/`J`/`K` (other) + a digit or letter (not `I`/`O`) + 4 digits;
//! - **large new-energy** (8 characters): province + letter + 5 digits + `D` or `F`.
//!
//! A separator (`·`, `•`, `-` or a space) after the letter is tolerated, and lower-case letters
//! are upper-cased. Military, armed-police and embassy (使) plates are not accepted.

/// The 31 province-level abbreviations used on plates.
pub const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

/// Use characters allowed in the last position of an ordinary plate.
const USE_CHARS: &str = "挂学警港澳领试超";

/// Plate kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlateKind {
    /// 7-character plate (blue, yellow, trailer, police …).
    Ordinary,
    /// 8-character small new-energy plate (green, e.g. 京AD12345).
    NewEnergySmall,
    /// 8-character large new-energy plate (e.g. 粤B12345D).
    NewEnergyLarge,
}

/// A parsed plate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plate {
    /// Province abbreviation.
    pub province: char,
    /// The plate without separators, upper case.
    pub normalized: String,
    /// Kind.
    pub kind: PlateKind,
}

fn serial_char(c: char) -> bool {
    c.is_ascii_digit() || (c.is_ascii_uppercase() && c != 'I' && c != 'O')
}

/// Parses a plate number in one of the accepted forms.
pub fn parse(s: &str) -> Option<Plate> {
    let mut chars = s.trim().chars();
    let province = chars.next().filter(|c| PROVINCES.contains(*c))?;
    let authority = chars
        .next()
        .map(|c| c.to_ascii_uppercase())
        .filter(|c| c.is_ascii_uppercase() && *c != 'I')?;
    let rest: Vec<char> = {
        let r: String = chars.collect();
        let r = r
            .strip_prefix(['·', '•', '-', ' '])
            .unwrap_or(&r)
            .to_string();
        r.chars().map(|c| c.to_ascii_uppercase()).collect()
    };
    let kind = match rest.as_slice() {
        [a, b, c, d, e] => {
            let serial_ok = [a, b, c, d].iter().all(|c| serial_char(**c));
            if serial_ok && (serial_char(*e) || USE_CHARS.contains(*e)) {
                PlateKind::Ordinary
            } else {
                return None;
            }
        }
        [a, b, tail @ ..]
            if "DABCEFGHJK".contains(*a)
                && serial_char(*b)
                && tail.len() == 4
                && tail.iter().all(char::is_ascii_digit) =>
        {
            PlateKind::NewEnergySmall
        }
        [digits @ .., last]
            if digits.len() == 5
                && digits.iter().all(char::is_ascii_digit)
                && (*last == 'D' || *last == 'F') =>
        {
            PlateKind::NewEnergyLarge
        }
        _ => return None,
    };
    let mut normalized = String::with_capacity(12);
    normalized.push(province);
    normalized.push(authority);
    normalized.extend(rest.iter());
    Some(Plate {
        province,
        normalized,
        kind,
    })
}

/// True if `s` is a plate number in one of the accepted forms.
pub fn is_plate(s: &str) -> bool {
    parse(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(parse("京A12345").unwrap().kind, PlateKind::Ordinary);
        assert_eq!(parse("京a·1234警").unwrap().normalized, "京A1234警");
        assert_eq!(parse("沪AD12345").unwrap().kind, PlateKind::NewEnergySmall);
        assert_eq!(parse("粤B12345D").unwrap().kind, PlateKind::NewEnergyLarge);
        assert!(parse("京I12345").is_none());
        assert!(parse("京A1234O").is_none());
        assert!(parse("AA12345").is_none());
        assert!(parse("京A1234").is_none());
    }
}
