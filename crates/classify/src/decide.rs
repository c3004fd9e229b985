//! Combining header evidence and value evidence into one decision with a confidence.
//!
//! GB/T 39725-2020 §6.1–6.2 and Appendix G grade data by what it *is*; a column's name is only a
//! claim about that, and its values are the test of the claim. The rules:
//!
//! 1. **No usable name** (`c7`): the best value test decides (`c7` full of valid citizen ID
//!    numbers is `id_number`). Confidence = rule weight × pass rate × n/(n+2).
//! 2. **Name and values agree** (a checksum, pattern or reference test for the named type passes
//!    for ≥ 80 % of the values): the named type, confidence 1 − (1 − h)(1 − v).
//! 3. **Name and values disagree** (the test for the named type passes for < 80 %): the lower
//!    confidence wins — the named type keeps min(h, pass rate), and a type the values do
//!    support competes at v·(1 − h/2). A column named `id_number` of 18-digit numbers failing
//!    the GB 11643 check is therefore not an `id_number` with any real confidence; below 0.1 the
//!    column is reported as `other`.
//! 4. **Name cannot be tested by value shape** (department, occupation …) or only loosely (a
//!    `person_id` of codes): the named type at the name's confidence, except that values which
//!    are unmistakably a direct identifier (valid citizen IDs, mobile numbers, e-mail, IP
//!    addresses, licence plates) refine it: a `person_id` column of citizen ID numbers is an
//!    `id_number`.
//!
//! A directly identifying name over values that are mostly partly masked (`139****5678`, `张*`)
//! keeps its semantic type but is graded as a quasi identifier (see `mapping`).
//!
//! Types of one family refine each other instead of competing: `admission_time` holding plain
//! dates is a `date`; `诊断` holding ICD-10 codes is a `diagnosis_code`; `电话` holding landline
//! numbers is a `landline_phone`; `address` holding GB/T 2260 codes is a county code.

use medspace_core::SemanticType as S;

use crate::header;
use crate::mapping::Kind;
use crate::values::Stats;

/// Dates with nothing after the day that reach 40 years or more back, none in the future and none
/// before 1900: the birth dates of living people, as no event a record dates spans (admissions,
/// settlements and tests of one system span a few decades at most). Only the values decide this:
/// a header naming another date (`admission_date`) still wins.
fn spans_a_lifetime(s: &Stats) -> bool {
    use chrono::Datelike;
    let this_year = u16::try_from(chrono::Utc::now().year()).unwrap_or(u16::MAX);
    s.n >= 10
        && s.years
            .is_some_and(|(lo, hi)| lo >= 1900 && hi <= this_year && hi - lo >= 40)
}

/// Share of values a test must pass for the values to agree with a type.
const AGREE: f64 = 0.8;
/// Value confidence needed to refine a loosely tested name (rule 4): more than one or two values.
const REFINE: f64 = 0.5;
/// Below this, a decision is no decision and the column is `other`.
const FLOOR: f64 = 0.1;
/// Confidence reported for columns nothing was recognised in.
pub(crate) const OTHER_CONFIDENCE: f64 = 0.5;
/// The `other` kind.
pub(crate) const OTHER: Kind = Kind::Sem(S::Other);

/// How the values can test a named type.
#[derive(Debug, Clone, Copy)]
enum Support {
    /// A checksum, pattern or reference test; the share of values passing.
    Strong(f64),
    /// Only a compatibility test (values are text, values are codes); the share passing.
    Weak(f64),
    /// Nothing to test.
    Unchecked,
}

/// A type the values suggest by themselves.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    kind: Kind,
    confidence: f64,
    /// An unmistakable direct identifier, which refines a loosely tested name (rule 4).
    refines: bool,
}

/// The kind and confidence (0–1) of a column.
#[cfg(test)]
pub(crate) fn decide(name: &str, values: &[&str]) -> (Kind, f64) {
    decide_stats(name, &Stats::of(values))
}

/// The kind and confidence (0–1) of a column from the statistics of its values.
pub(crate) fn decide_stats(name: &str, stats: &Stats) -> (Kind, f64) {
    if stats.n == 0 {
        return (OTHER, OTHER_CONFIDENCE);
    }
    let candidates = candidates(stats);
    let Some((named, h)) = header::evidence(name) else {
        return candidates
            .first()
            .map(|c| (c.kind, round(c.confidence)))
            .unwrap_or((OTHER, OTHER_CONFIDENCE));
    };
    let named = refine(named, stats);
    let size = stats.size_factor();
    let (named_confidence, state) = match support(named, stats) {
        Support::Strong(r) if r >= AGREE => (combine(h, r * size), State::Confirmed),
        Support::Weak(r) if r >= AGREE => (h, State::Compatible),
        Support::Unchecked => (h, State::Compatible),
        Support::Strong(r) | Support::Weak(r) => (h.min(r), State::Disputed),
    };
    if state == State::Disputed && stats.masked >= AGREE && is_direct(named) {
        // `mobile` holding 139****5678: what is left still identifies in combination.
        return (Kind::Masked(named.semantic_type()), round(h * stats.masked));
    }
    let rivals = candidates.iter().filter(|c| !same_family(c.kind, named));
    if state == State::Compatible {
        if let Some(c) = rivals.clone().find(|c| c.refines && c.confidence >= REFINE) {
            return (c.kind, round(c.confidence.min(h)));
        }
    }
    let mut best = (named, named_confidence);
    for c in rivals {
        let adjusted = match state {
            State::Confirmed => c.confidence * (1.0 - h),
            State::Compatible | State::Disputed => c.confidence * (1.0 - h / 2.0),
        };
        if adjusted > best.1 {
            best = (c.kind, adjusted);
        }
    }
    if best.1 < FLOOR {
        return (OTHER, OTHER_CONFIDENCE);
    }
    (best.0, round(best.1))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Confirmed,
    Compatible,
    Disputed,
}

/// What the values say by themselves, best first.
fn candidates(s: &Stats) -> Vec<Candidate> {
    let size = s.size_factor();
    let mut out = Vec::new();
    let mut push = |kind: Kind, rate: f64, threshold: f64, weight: f64, refines: bool| {
        if rate >= threshold {
            out.push(Candidate {
                kind,
                confidence: weight * rate * size,
                refines,
            });
        }
    };
    let t = Kind::Sem;
    // Checksums, patterns and reference lists.
    push(t(S::IdNumber), s.id_valid, AGREE, 0.98, true);
    push(t(S::IdNumber), s.id_valid + s.id_legacy, AGREE, 0.85, false);
    push(t(S::MobilePhone), s.mobile, AGREE, 0.95, true);
    push(t(S::Email), s.email, AGREE, 0.95, true);
    push(t(S::IpAddress), s.ip, AGREE, 0.9, true);
    push(t(S::LicensePlate), s.plate, AGREE, 0.85, true);
    push(t(S::LandlinePhone), s.landline, AGREE, 0.8, false);
    if s.id_valid < 0.5 && s.n >= 5 {
        // One random number in ten passes Luhn; ask for nearly all.
        // Nearly all passing refines a loosely named column (`card_no`): random digits pass
        // Luhn one time in ten, so a sample of five or more passing is no accident.
        push(t(S::BankCard), s.luhn, 0.95, 0.7, true);
    }
    push(
        t(S::InstitutionCode),
        s.institution_code,
        AGREE,
        0.85,
        false,
    );
    push(Kind::CountyCode, s.county, AGREE, 0.8, false);
    push(t(S::DiagnosisCode), s.icd, AGREE, 0.85, false);
    // NHSA 医保信息业务编码 and other catalogue codes (structural tests).
    push(t(S::DrugCode), s.drug, AGREE, 0.9, false);
    push(t(S::ConsumableCode), s.consumable, AGREE, 0.9, false);
    push(t(S::ServiceItemCode), s.service_item, AGREE, 0.75, false);
    push(t(S::Uscc), s.uscc, AGREE, 0.9, false);
    push(t(S::TravelPermit), s.permit, 0.9, 0.7, false);
    if s.operation_ext >= 0.3 {
        push(t(S::OperationCode), s.operation, AGREE, 0.75, false);
    }
    if s.datetime >= AGREE {
        push(t(S::Datetime), s.datetime, AGREE, 0.9, false);
    } else if spans_a_lifetime(s) {
        push(t(S::BirthDate), s.date_any, AGREE, 0.85, false);
    } else {
        push(t(S::Date), s.date_any, AGREE, 0.85, false);
    }
    push(t(S::Sex), s.sex_word, 0.9, 0.85, false);
    // Heuristics on Chinese text.
    if s.n < 10 || s.distinct_ratio() >= 0.3 {
        push(t(S::PersonName), s.person_name, AGREE, 0.75, false);
    }
    push(t(S::Ethnicity), s.ethnicity, 0.9, 0.8, false);
    push(t(S::MaritalStatus), s.marital, 0.9, 0.8, false);
    push(t(S::Address), s.address, 0.7, 0.75, false);
    push(t(S::DiagnosisName), s.diagnosis_name, 0.6, 0.6, false);
    push(t(S::Department), s.department, AGREE, 0.6, false);
    push(t(S::InstitutionName), s.hospital, 0.7, 0.6, false);
    if s.hospital < 0.7 {
        push(t(S::Employer), s.organisation, 0.7, 0.55, false);
    }
    push(t(S::Age), s.age_with_unit, AGREE, 0.7, false);
    push(t(S::Amount), s.money, AGREE, 0.6, false);
    push(t(S::FreeText), s.free_text, 0.5, 0.6, false);
    push(t(S::Passport), s.passport, 0.9, 0.6, false);
    // Distinct codes link records: a record id unless something more specific matched.
    if s.code >= 0.95 && s.distinct_ratio() >= 0.9 && s.n >= 5 && s.min_chars >= 6 {
        push(t(S::RecordId), 1.0, 1.0, 0.5, false);
    }
    out.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    out
}

/// Moves a named type within its family according to the values (module doc).
fn refine(kind: Kind, s: &Stats) -> Kind {
    match kind {
        Kind::Sem(S::Date | S::Datetime) if s.datetime >= AGREE => Kind::Sem(S::Datetime),
        Kind::Sem(S::Date | S::Datetime) if s.date_any >= AGREE => Kind::Sem(S::Date),
        Kind::Sem(S::MobilePhone) if s.landline > s.mobile && s.landline >= 0.5 => {
            Kind::Sem(S::LandlinePhone)
        }
        Kind::Sem(S::LandlinePhone) if s.mobile > s.landline && s.mobile >= 0.5 => {
            Kind::Sem(S::MobilePhone)
        }
        Kind::Sem(S::DiagnosisName) if s.icd >= AGREE => Kind::Sem(S::DiagnosisCode),
        Kind::Sem(S::DiagnosisCode) if s.icd < 0.2 && s.diagnosis_name >= 0.5 => {
            Kind::Sem(S::DiagnosisName)
        }
        Kind::Sem(S::Address) if s.county >= AGREE => Kind::CountyCode,
        other => other,
    }
}

fn is_direct(kind: Kind) -> bool {
    crate::mapping::grading(kind, None).identifier_kind == medspace_core::IdentifierKind::Direct
}

fn same_family(a: Kind, b: Kind) -> bool {
    let family = |k: Kind| match k {
        Kind::Sem(S::Date | S::Datetime | S::BirthDate) => 1,
        Kind::Sem(S::MobilePhone | S::LandlinePhone) => 2,
        Kind::Sem(S::DiagnosisCode | S::DiagnosisName) => 3,
        _ => 0,
    };
    a == b || (family(a) != 0 && family(a) == family(b))
}

/// How the values can test each named type.
fn support(kind: Kind, s: &Stats) -> Support {
    use Support::{Strong, Unchecked, Weak};
    let t = match kind {
        // County codes, or county names (西湖区) in a column named 区县.
        Kind::CountyCode if s.six_digits >= 0.5 => return Strong(s.county),
        Kind::CountyCode => return Weak(s.text),
        Kind::Masked(_) => return Strong(s.masked),
        Kind::Sem(t) => t,
    };
    match t {
        // 18-digit numbers must pass the GB 11643 check; 15-digit first-generation numbers
        // have no check character and are tested by their birth date.
        S::IdNumber => Strong(s.id_valid + s.id_legacy),
        // The two tests are exclusive, so their shares add up.
        S::MobilePhone | S::LandlinePhone => Strong(s.mobile + s.landline),
        S::Email => Strong(s.email),
        S::DiagnosisCode => Strong(s.icd),
        S::Date | S::Datetime | S::BirthDate => Strong(s.date_any),
        // Known surname + given name confirms; a name in another form (扎西多吉, a surname
        // missing from the reference list) is still compatible, so real names are never
        // demoted to `other` for failing a heuristic.
        S::PersonName if s.person_name >= AGREE => Strong(s.person_name),
        S::PersonName => Weak(s.name_shape),
        S::Sex => Strong(s.sex_any),
        S::Amount => Strong(s.number),
        S::Age => Strong(s.age),
        S::PostalCode => Strong(s.six_digits),
        S::IpAddress => Strong(s.ip),
        S::LicensePlate => Strong(s.plate),
        S::BankCard => Strong(s.luhn),
        S::InstitutionCode if s.institution_code >= AGREE => Strong(s.institution_code),
        S::DrugCode if s.drug >= AGREE => Strong(s.drug),
        S::ConsumableCode if s.consumable >= AGREE => Strong(s.consumable),
        S::ServiceItemCode if s.service_item >= AGREE => Strong(s.service_item),
        S::OperationCode if s.operation >= AGREE => Strong(s.operation),
        S::Uscc if s.uscc >= AGREE => Strong(s.uscc),
        S::TravelPermit if s.permit >= AGREE => Strong(s.permit),
        S::InstitutionCode
        | S::Passport
        | S::TravelPermit
        | S::SocialSecurityCard
        | S::Uscc
        | S::PatientId
        | S::RecordId => Weak(s.code),
        S::Address | S::Employer | S::InstitutionName | S::DiagnosisName | S::FreeText => {
            Weak(s.text)
        }
        S::Ethnicity
        | S::MaritalStatus
        | S::Occupation
        | S::Department
        | S::OperationCode
        | S::DrugCode
        | S::ConsumableCode
        | S::ServiceItemCode
        | S::LabResult
        | S::Biometric
        | S::Other => Unchecked,
    }
}

/// Two independent pieces of evidence for the same conclusion.
fn combine(a: f64, b: f64) -> f64 {
    (1.0 - (1.0 - a) * (1.0 - b)).min(0.99)
}

/// Clamped to 0–1 and rounded to 3 decimals, for stable reports.
fn round(x: f64) -> f64 {
    if x.is_nan() {
        return 0.0;
    }
    (x.clamp(0.0, 1.0) * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a telling header, dates spanning a lifetime are birth dates; dates of a few
    /// decades, dates in the future, and a header naming another event keep them `date`.
    #[test]
    fn dates_spanning_a_lifetime_are_birth_dates_when_the_header_says_nothing() {
        let years = |from: u16, step: u16, n: u16| -> Vec<String> {
            (0..n)
                .map(|i| format!("{}-0{}-1{}", from + i * step, 1 + i % 9, i % 10))
                .collect()
        };
        let decide = |name: &str, values: &[String]| {
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            decide_stats(name, &Stats::of(&refs)).0
        };
        let births = years(1931, 2, 40); // 1931–2009
        assert_eq!(decide("c8", &births), Kind::Sem(S::BirthDate));
        assert_eq!(decide("field_08", &births), Kind::Sem(S::BirthDate));
        assert_eq!(decide("admission_date", &births), Kind::Sem(S::Date));
        let admissions = years(1995, 1, 30); // 1995–2024
        assert_eq!(decide("c8", &admissions), Kind::Sem(S::Date));
        let with_future = years(1990, 2, 40); // up to 2068
        assert_eq!(decide("c8", &with_future), Kind::Sem(S::Date));
        let chinese: Vec<String> = births
            .iter()
            .map(|d| {
                let p: Vec<&str> = d.split('-').collect();
                format!("{}年{}月{}日", p[0], p[1], p[2])
            })
            .collect();
        assert_eq!(decide("c8", &chinese), Kind::Sem(S::BirthDate));
    }

    #[test]
    fn combine_and_round() {
        assert!((combine(0.9, 0.9) - 0.99).abs() < 1e-9);
        assert!((combine(0.5, 0.5) - 0.75).abs() < 1e-9);
        assert_eq!(round(0.12345), 0.123);
        assert_eq!(round(f64::NAN), 0.0);
        assert_eq!(round(7.0), 1.0);
    }

    #[test]
    fn families_refine() {
        let dates = Stats::of(&["2024-03-15", "2024-03-16", "2024-03-17"]);
        assert_eq!(refine(Kind::Sem(S::Datetime), &dates), Kind::Sem(S::Date));
        let codes = Stats::of(&["I10", "E11.9", "B20"]);
        assert_eq!(
            refine(Kind::Sem(S::DiagnosisName), &codes),
            Kind::Sem(S::DiagnosisCode)
        );
        let landlines = Stats::of(&["0571-87654321", "010-12345678"]);
        assert_eq!(
            refine(Kind::Sem(S::MobilePhone), &landlines),
            Kind::Sem(S::LandlinePhone)
        );
        let counties = Stats::of(&["330106", "110105"]);
        assert_eq!(refine(Kind::Sem(S::Address), &counties), Kind::CountyCode);
    }

    #[test]
    fn disagreement_lowers_confidence() {
        // Mobile numbers under a column named for ID numbers: the values win, with doubt.
        let (kind, conf) = decide(
            "id_number",
            &["13912345678", "13812345679", "13712345670", "15012345671"],
        );
        assert_eq!(kind, Kind::Sem(S::MobilePhone));
        assert!(conf < 0.6, "{conf}");
        // Agreement is more certain than either piece of evidence alone.
        let (kind, agreed) = decide(
            "mobile",
            &["13912345678", "13812345679", "13712345670", "15012345671"],
        );
        assert_eq!(kind, Kind::Sem(S::MobilePhone));
        let (_, values_only) = decide(
            "c1",
            &["13912345678", "13812345679", "13712345670", "15012345671"],
        );
        assert!(
            agreed > values_only && agreed > 0.9,
            "{agreed} {values_only}"
        );
    }
}
