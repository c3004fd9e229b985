//! The value tests as they were before the shape-gated rewrite of [`super::test_value`],
//! kept verbatim (tests only) so a test can check that the fast version gives the same answer
//! for every value: the full scan must count exactly what it counted before.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use medspace_validators::{
    dates, gb11643, icd10, icd9cm3, nhsa, permits, phone, reference, uscc, Sex,
};

use super::*;
use crate::header::is_cjk;

/// Runs every test on one trimmed, non-empty value of `chars` characters.
pub(super) fn test_value(v: &str, chars: usize) -> [bool; FIELDS] {
    let mut f = [false; FIELDS];
    let mut set = |i: usize, b: bool| {
        if let Some(slot) = f.get_mut(i) {
            *slot = b;
        }
    };
    let digits_only = v.bytes().all(|b| b.is_ascii_digit());
    let starts_digit = v.bytes().next().is_some_and(|b| b.is_ascii_digit());
    let has_cjk = v.chars().any(is_cjk);

    let id_valid = chars == 18 && gb11643::is_valid(v);
    set(ID, id_valid);
    set(
        ID_BAD,
        chars == 18
            && !id_valid
            && v.bytes().take(17).all(|b| b.is_ascii_digit())
            && v.as_bytes()
                .get(17)
                .copied()
                .is_some_and(|b| b.is_ascii_digit() || b == b'X' || b == b'x'),
    );
    let first = v.as_bytes().first().copied().unwrap_or_default();
    set(
        DRUG,
        (first == b'X' && chars == 23 && nhsa::is_western_drug(v))
            || (first == b'Z' && chars == 20 && nhsa::is_patent_medicine(v)),
    );
    set(CONSUMABLE, first == b'C' && nhsa::is_consumable(v));
    set(SERVICE_ITEM, chars == 15 && nhsa::is_service_item(v));
    set(USCC, chars == 18 && !id_valid && uscc::is_valid(v));
    let operation = starts_digit && v.contains('.') && icd9cm3::is_code(v);
    set(OPERATION, operation);
    set(OPERATION_EXT, operation && icd9cm3::is_extended(v));
    set(
        PERMIT,
        first.is_ascii_uppercase()
            && chars <= 12
            && (permits::is_hk_macao_travel_permit(v) || permits::is_exit_entry_permit(v)),
    );
    set(ID_LEGACY, chars == 15 && digits_only && is_legacy_id(v));
    set(
        MASKED,
        v.contains(['*', '＊']) && v.chars().any(|c| c != '*' && c != '＊'),
    );
    let mobile = phone::is_mobile(v);
    set(MOBILE, mobile);
    set(LANDLINE, !mobile && is_landline(v));
    set(EMAIL, is_email(v));
    set(ICD, is_icd_list(v));
    if starts_digit {
        let dt = dates::parse_datetime(v).is_some();
        set(DATETIME, dt);
        set(DATE_ANY, dt || dates::parse_date(v).is_some());
    }
    let six = chars == 6 && digits_only;
    set(SIX, six);
    set(COUNTY, six && reference::county_by_code(v).is_some());
    set(INSTITUTION, is_institution_code(v));
    let organisation = has_cjk && ends_with_any(v, ORGANISATION_SUFFIXES) && chars >= 4;
    let hospital = has_cjk && ends_with_any(v, HOSPITAL_SUFFIXES) && chars >= 3;
    let department =
        has_cjk && (2..=10).contains(&chars) && ends_with_any(v, DEPARTMENT_SUFFIXES) && !hospital;
    let diagnosis = !department && is_diagnosis_name(v, has_cjk);
    set(ORGANISATION, organisation);
    set(HOSPITAL, hospital);
    set(DEPARTMENT, department);
    set(DIAGNOSIS_NAME, diagnosis);
    set(NAME, !diagnosis && !department && is_person_name(v));
    let address = has_cjk && !organisation && !hospital && is_address(v, chars);
    let named_thing = diagnosis || department || organisation || hospital || address;
    set(NAME_SHAPE, !named_thing && is_name_shaped(v, chars));
    set(SEX_WORD, is_sex_word(v));
    set(SEX_ANY, Sex::parse(v).is_some() || SEX_UNKNOWN.contains(&v));
    let number = is_number(v);
    set(NUMBER, number);
    set(
        MONEY,
        number && v.split_once('.').is_some_and(|(_, frac)| frac.len() == 2),
    );
    let (age, unit) = age_of(v);
    set(AGE, age);
    set(AGE_UNIT, unit);
    set(
        ADDRESS,
        has_cjk && !organisation && !hospital && is_address(v, chars),
    );
    set(FREE_TEXT, is_free_text(v, chars));
    set(
        IP,
        v.contains(['.', ':']) && v.parse::<std::net::IpAddr>().is_ok(),
    );
    set(PLATE, is_plate(v));
    set(PASSPORT, is_passport(v));
    set(LUHN, digits_only && (16..=19).contains(&chars) && luhn(v));
    set(TEXT, v.chars().any(char::is_alphabetic));
    set(
        ETHNICITY,
        has_cjk && (2..=6).contains(&chars) && v.ends_with('族'),
    );
    set(MARITAL, MARITAL_WORDS.contains(&v));
    set(CODE, is_code_like(v, chars));
    f
}

/// One or more ICD-10 codes separated by `,`, `;`, `|`, `、` or spaces; lower case tolerated.
fn is_icd_list(v: &str) -> bool {
    // Every ICD-10 code has a letter; most values (numbers, dates, Chinese text) stop here.
    if !v.bytes().any(|b| b.is_ascii_alphabetic()) {
        return false;
    }
    let mut any = false;
    for part in v
        .split([',', ';', '|', '、', '，', '；', ' '])
        .filter(|p| !p.is_empty())
    {
        if part.len() > 16 || !icd10::is_code(&part.to_ascii_uppercase()) {
            return false;
        }
        any = true;
    }
    any
}

fn is_person_name(v: &str) -> bool {
    // A name is all CJK (starting with a surname) or two or three romanised words.
    if !v.chars().next().is_some_and(is_cjk) && !v.contains(' ') {
        return false;
    }
    let chars: Vec<char> = v.chars().collect();
    if chars.iter().all(|c| is_cjk(*c) || *c == '·' || *c == '•') {
        let dots = chars.iter().filter(|c| !is_cjk(**c)).count();
        if dots > 0 {
            // Uyghur and other transliterated names: 阿依古丽·买买提.
            let first_last_cjk = chars.first().is_some_and(|c| is_cjk(*c))
                && chars.last().is_some_and(|c| is_cjk(*c));
            return first_last_cjk && (4..=16).contains(&chars.len());
        }
        return (2..=4).contains(&chars.len())
            && chars.last().is_some_and(|c| !NON_NAME_ENDINGS.contains(c))
            && reference::is_surname_prefix(v);
    }
    // Romanised: "Zhang San", "ZHANG Wei", "Li Xiaoming".
    let words: Vec<&str> = v.split(' ').filter(|w| !w.is_empty()).collect();
    (2..=3).contains(&words.len())
        && words.iter().all(|w| {
            let mut cs = w.chars();
            let first_upper = cs.next().is_some_and(|c| c.is_ascii_uppercase());
            first_upper && (2..=12).contains(&w.len()) && w.chars().all(|c| c.is_ascii_alphabetic())
        })
}

fn is_address(v: &str, chars: usize) -> bool {
    let markers = ADDRESS_MARKERS.iter().filter(|m| v.contains(*m)).count();
    let house_number = v.strip_suffix('号').is_some_and(|rest| {
        let digits = rest.chars().rev().take_while(char::is_ascii_digit).count();
        (1..=5).contains(&digits)
            && rest
                .chars()
                .rev()
                .nth(digits)
                .is_some_and(crate::header::is_cjk)
    });
    chars >= 6 && (markers >= 2 || (markers == 1 && house_number))
}

fn is_diagnosis_name(v: &str, has_cjk: bool) -> bool {
    if has_cjk {
        // One automaton over the disease words rather than a substring search per word.
        static WORDS: std::sync::OnceLock<Option<aho_corasick::AhoCorasick>> =
            std::sync::OnceLock::new();
        let automaton = WORDS.get_or_init(|| aho_corasick::AhoCorasick::new(DISEASE_WORDS).ok());
        return v.chars().count() <= 40
            && match automaton {
                Some(ac) => ac.is_match(v),
                None => DISEASE_WORDS.iter().any(|w| v.contains(w)),
            };
    }
    v.len() <= 80
        && v.split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| !w.is_empty())
            .any(|w| {
                ENGLISH_DISEASE_WORDS
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(w))
            })
}

fn is_free_text(v: &str, chars: usize) -> bool {
    if chars >= 50 {
        return true;
    }
    let spaces = v.chars().filter(|c| c.is_whitespace()).count();
    let punct = v.chars().any(|c| "，。；：！？、,;!?".contains(c))
        || v.char_indices().any(|(i, c)| {
            c == '.'
                && v[..i]
                    .chars()
                    .next_back()
                    .is_some_and(crate::header::is_cjk)
        });
    chars >= 15 && (spaces >= 2 || punct)
}

fn ends_with_any(v: &str, suffixes: &[&str]) -> bool {
    suffixes.iter().any(|s| v.ends_with(s))
}

fn is_name_shaped(v: &str, chars: usize) -> bool {
    (1..=30).contains(&chars)
        && v.chars().any(char::is_alphabetic)
        && v.chars()
            .all(|c| c.is_alphabetic() || matches!(c, '·' | '•' | ' ' | '.' | '-'))
}

/// `is_number` as it was before it read bytes instead of splitting the string.
fn is_number(v: &str) -> bool {
    let body = v.strip_prefix(['-', '+']).unwrap_or(v);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let int_ok = (1..=15).contains(&int.len()) && int.bytes().all(|b| b.is_ascii_digit());
    let frac_ok =
        frac.is_none_or(|f| (1..=6).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()));
    int_ok && frac_ok
}
