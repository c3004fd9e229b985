//! Synthetic visits and their settlements (医保结算), reproducible from `(seed, visit index)`.
//!
//! A visit picks its person from the pool (older and chronically ill persons visit more), a
//! diagnosis (the person's long-term condition or a weighted draw fitting sex and age), a visit
//! type (住院 more likely with age), a department, a designated institution of the person's or a
//! neighbouring county, admission and discharge times in 2023–2025, and fees in integer cents
//! split between the fund and the patient by scheme, deductible and co-payment — the medical
//! payment data (医疗支付数据) of GB/T 39725-2020 Table 1.

use std::sync::OnceLock;

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::catalog::{fits, Diagnosis, DIAGNOSES, FALLBACK_DIAGNOSIS};
use crate::geo::Geo;
use crate::person::{draw_profile, Insurance, Occupation, Profile};
use crate::util::{permille, Weighted};
use crate::GenError;

/// The independent random streams of one seed: one ChaCha20 key per kind of record, one
/// ChaCha20 stream number per record index.
#[derive(Debug, Clone)]
pub(crate) struct Streams {
    /// The seed, for hashing per-person facts that must not depend on a visit.
    pub seed: u64,
    persons: ChaCha20Rng,
    visits: ChaCha20Rng,
    labs: ChaCha20Rng,
}

impl Streams {
    /// Derives the three keys from the seed.
    pub fn new(seed: u64) -> Self {
        let mut master = ChaCha20Rng::seed_from_u64(seed);
        let persons = ChaCha20Rng::from_seed(master.gen());
        let visits = ChaCha20Rng::from_seed(master.gen());
        let labs = ChaCha20Rng::from_seed(master.gen());
        Streams {
            seed,
            persons,
            visits,
            labs,
        }
    }

    fn stream(template: &ChaCha20Rng, index: u64) -> ChaCha20Rng {
        let mut rng = template.clone();
        rng.set_stream(index);
        rng
    }

    /// The RNG of person `index`.
    pub fn person(&self, index: u64) -> ChaCha20Rng {
        Self::stream(&self.persons, index)
    }

    /// The RNG of visit `index`.
    pub fn visit(&self, index: u64) -> ChaCha20Rng {
        Self::stream(&self.visits, index)
    }

    /// The RNG of the lab results of visit `index`.
    pub fn lab(&self, index: u64) -> ChaCha20Rng {
        Self::stream(&self.labs, index)
    }
}

/// 就诊类型.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VisitType {
    /// 门诊.
    Outpatient,
    /// 门诊慢特病 (outpatient care of a registered chronic or special disease).
    ChronicSpecial,
    /// 急诊.
    Emergency,
    /// 住院.
    Inpatient,
}

impl VisitType {
    /// Name as written in settlement records.
    pub fn name(self) -> &'static str {
        match self {
            VisitType::Outpatient => "门诊",
            VisitType::ChronicSpecial => "门诊慢特病",
            VisitType::Emergency => "急诊",
            VisitType::Inpatient => "住院",
        }
    }
}

/// One visit with its settlement amounts.
#[derive(Debug, Clone)]
pub(crate) struct Visit {
    /// Visit index (0-based).
    pub index: u64,
    /// The person.
    pub profile: Profile,
    /// The person's RNG, positioned after the profile (draw text from it).
    pub person_rng: ChaCha20Rng,
    /// Diagnosis.
    pub diagnosis: &'static Diagnosis,
    /// Visit type.
    pub visit_type: VisitType,
    /// Department.
    pub department: &'static str,
    /// County of the institution (index into `Geo::counties`).
    pub institution_county: usize,
    /// 5-digit number of the institution within its county.
    pub institution_number: u32,
    /// Admission (or registration) time.
    pub admission: NaiveDateTime,
    /// Discharge (or end of visit) time.
    pub discharge: NaiveDateTime,
    /// Total fee in cents.
    pub total_cents: u64,
    /// Fund payment in cents (≤ total).
    pub fund_cents: u64,
}

/// First day of the simulated period.
pub(crate) fn period_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2023, 1, 1).unwrap_or_default()
}

/// Last day of the simulated period.
pub(crate) fn period_end() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 12, 31).unwrap_or_default()
}

fn diagnosis_weights() -> &'static Weighted {
    static W: OnceLock<Weighted> = OnceLock::new();
    W.get_or_init(|| Weighted::new(DIAGNOSES.iter().map(|d| d.weight)))
}

/// How readily a person turns up in the settlement data, ‰ (older and chronically ill people
/// use more care).
fn propensity(p: &Profile) -> u32 {
    let base = match p.age {
        0..=6 => 700,
        7..=17 => 350,
        18..=39 => 400,
        40..=59 => 600,
        60..=74 => 850,
        _ => 1000,
    };
    if p.chronic.is_some() {
        (base + 300).min(1000)
    } else {
        base
    }
}

fn uniform(rng: &mut ChaCha20Rng) -> f64 {
    rng.gen::<f64>()
}

/// Draws visit `index` from a pool of `pool` persons.
pub(crate) fn draw_visit(
    index: u64,
    pool: u64,
    streams: &Streams,
    geo: &Geo,
) -> Result<Visit, GenError> {
    let mut vr = streams.visit(index);

    // Person: rejection sampling by propensity, at most 4 candidates.
    let mut attempt = 0;
    let (profile, person_rng) = loop {
        let pi = vr.gen_range(0..pool.max(1));
        let mut pr = streams.person(pi);
        let prof = draw_profile(pi, &mut pr, geo);
        attempt += 1;
        if attempt >= 4 || permille(&mut vr) < propensity(&prof) {
            break (prof, pr);
        }
    };
    let age = profile.age;

    // Diagnosis.
    let chronic_visit = profile.chronic.is_some() && permille(&mut vr) < 550;
    let diag_index = match profile.chronic {
        Some(c) if chronic_visit => c,
        _ => {
            let mut found = FALLBACK_DIAGNOSIS;
            for _ in 0..10 {
                let i = diagnosis_weights().pick(&mut vr);
                if DIAGNOSES.get(i).is_some_and(|d| fits(d, profile.sex, age)) {
                    found = i;
                    break;
                }
            }
            found
        }
    };
    let diagnosis = DIAGNOSES
        .get(diag_index)
        .ok_or(GenError::Internal("diagnosis index out of range"))?;

    // Visit type: admissions more likely with age.
    let inpatient = match age {
        0..=13 => diagnosis.inpatient * 4 / 5,
        50..=64 => diagnosis.inpatient * 5 / 4,
        65.. => diagnosis.inpatient * 3 / 2,
        _ => diagnosis.inpatient,
    }
    .min(1000);
    let mut visit_type = if permille(&mut vr) < inpatient {
        VisitType::Inpatient
    } else if chronic_visit && permille(&mut vr) < 400 {
        VisitType::ChronicSpecial
    } else if permille(&mut vr) < diagnosis.emergency {
        VisitType::Emergency
    } else {
        VisitType::Outpatient
    };

    // Institution: own county, the prefecture's central district, or a neighbouring county.
    let county = geo
        .counties
        .get(profile.county)
        .ok_or(GenError::Internal("county index out of range"))?;
    let (ps, pe) = county.prefecture;
    let r = permille(&mut vr);
    let institution_county = if visit_type == VisitType::Inpatient && r < 350 {
        ps
    } else if r >= 800 {
        vr.gen_range(ps..pe.max(ps + 1))
    } else {
        profile.county
    };
    let ic = geo
        .counties
        .get(institution_county)
        .ok_or(GenError::Internal("county index out of range"))?;
    let k = if visit_type == VisitType::Inpatient && permille(&mut vr) < 500 {
        0
    } else {
        vr.gen_range(0..ic.institutions.max(1))
    };
    let institution_number = ic.institution_number(k);

    // Dates: within 2023-01-01 … 2025-12-31 and not before birth.
    let mut stay: i64 = 0;
    if visit_type == VisitType::Inpatient {
        let f = 0.5 + 0.6 * uniform(&mut vr) + 0.6 * uniform(&mut vr);
        stay = ((f64::from(diagnosis.los) * f).round() as i64).clamp(1, 30);
    }
    let first = profile.birth.max(period_start());
    let span = (period_end() - first).num_days().max(0);
    if stay > span {
        stay = span;
        if stay == 0 {
            visit_type = VisitType::Outpatient;
        }
    }
    let day = first + Duration::days(vr.gen_range(0..=span - stay));
    let (admission, discharge) = times(&mut vr, visit_type, day, stay);

    let department = match visit_type {
        VisitType::Emergency => "急诊科",
        _ if age < 14 && diagnosis.peds => "儿科",
        _ => diagnosis.dept,
    };

    let (total_cents, fund_cents) = fees(&mut vr, &profile, diagnosis, visit_type, stay);

    Ok(Visit {
        index,
        profile,
        person_rng,
        diagnosis,
        visit_type,
        department,
        institution_county,
        institution_number,
        admission,
        discharge,
        total_cents,
        fund_cents,
    })
}

fn at(day: NaiveDate, h: u32, m: u32, s: u32) -> NaiveDateTime {
    day.and_time(NaiveTime::from_hms_opt(h, m, s).unwrap_or_default())
}

fn times(
    vr: &mut ChaCha20Rng,
    vt: VisitType,
    day: NaiveDate,
    stay: i64,
) -> (NaiveDateTime, NaiveDateTime) {
    let (m, s) = (vr.gen_range(0..60), vr.gen_range(0..60));
    let end_of_day = at(day, 23, 59, 59);
    match vt {
        VisitType::Outpatient | VisitType::ChronicSpecial => {
            let h = if permille(vr) < 600 {
                vr.gen_range(8..=11)
            } else {
                vr.gen_range(13..=17)
            };
            let adm = at(day, h, m, s);
            let dis = adm + Duration::seconds(vr.gen_range(300..=10_800));
            (adm, dis.min(end_of_day))
        }
        VisitType::Emergency => {
            // Until 22:59 so that even the shortest stay ends the same day.
            let adm = at(day, vr.gen_range(0..=22), m, s);
            let dis = adm + Duration::seconds(vr.gen_range(1800..=21_600));
            (adm, dis.min(end_of_day))
        }
        VisitType::Inpatient => {
            let adm = at(day, vr.gen_range(7..=22), m, s);
            let out_day = day + Duration::days(stay);
            let dis = at(
                out_day,
                vr.gen_range(8..=16),
                vr.gen_range(0..60),
                vr.gen_range(0..60),
            );
            (adm, dis)
        }
    }
}

/// Total and fund payment in cents. The fund pays `ratio` of what is left after the patient's
/// own share (乙类先行自付, 自费) and the deductible (起付线); the patient pays the rest, so
/// `fund + personal == total` exactly.
fn fees(vr: &mut ChaCha20Rng, p: &Profile, d: &Diagnosis, vt: VisitType, stay: i64) -> (u64, u64) {
    let stay = u64::try_from(stay).unwrap_or(0);
    let (base_yuan, skew, min_cents) = match vt {
        VisitType::Inpatient => {
            let skew = (0.6 + 0.8 * uniform(vr)) * (0.7 + 0.6 * uniform(vr));
            (d.ip_day * stay.max(1) + d.ip_fixed, skew, 50_000)
        }
        _ => {
            let skew = (0.35 + 1.3 * uniform(vr)) * (0.5 + uniform(vr)) * (0.5 + uniform(vr));
            let base = match vt {
                VisitType::Emergency => d.op_fee * 2 + 150,
                VisitType::ChronicSpecial => d.op_fee * 3,
                _ => d.op_fee,
            };
            (base, skew, 500)
        }
    };
    let age_factor = if p.age >= 65 { 1.1 } else { 1.0 };
    let total = ((base_yuan as f64) * skew * age_factor * 100.0)
        .round()
        .max(0.0) as u64;
    let total = total.max(min_cents);

    let retired = p.occupation == Occupation::Retired;
    let ratio: u64 = match (p.insurance, vt) {
        (Insurance::PublicFunded, _) => 900,
        (Insurance::Employee, VisitType::Inpatient) => 850,
        (Insurance::Employee, VisitType::ChronicSpecial) => 800,
        (Insurance::Employee, _) => 600,
        (Insurance::Resident, VisitType::Inpatient) => 650,
        (Insurance::Resident, VisitType::ChronicSpecial) => 600,
        (Insurance::Resident, _) => 500,
        (Insurance::RuralCooperative, VisitType::Inpatient) => 600,
        (Insurance::RuralCooperative, VisitType::ChronicSpecial) => 550,
        (Insurance::RuralCooperative, _) => 450,
    };
    let bonus = if retired && p.insurance == Insurance::Employee {
        50
    } else {
        0
    };
    let ratio = (ratio + bonus + vr.gen_range(0..=60))
        .saturating_sub(30)
        .min(950);
    let self_pay_pm: u64 = if vt == VisitType::Inpatient {
        vr.gen_range(50..=150)
    } else {
        vr.gen_range(0..=100)
    };
    let deductible: u64 = match (vt, p.insurance) {
        (VisitType::Inpatient, Insurance::Employee) if retired => 60_000,
        (VisitType::Inpatient, Insurance::Employee) => 80_000,
        (VisitType::Inpatient, Insurance::Resident) => 60_000,
        (VisitType::Inpatient, Insurance::RuralCooperative) => 50_000,
        _ => 0,
    };
    // Outpatient visits below the annual outpatient deductible get nothing from the fund.
    let below_threshold = matches!(vt, VisitType::Outpatient | VisitType::Emergency)
        && p.insurance != Insurance::PublicFunded
        && permille(vr) < 350;
    let eligible = total
        .saturating_sub(total * self_pay_pm / 1000)
        .saturating_sub(deductible);
    let fund = if below_threshold {
        0
    } else {
        eligible * ratio / 1000
    };
    (total, fund.min(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_are_plausible() {
        let geo = Geo::get();
        let streams = Streams::new(7);
        let mut inpatient = 0;
        let mut inpatient_age = 0u64;
        let mut outpatient_age = 0u64;
        let mut outpatient = 0;
        for j in 0..3000 {
            let v = draw_visit(j, 1000, &streams, geo).unwrap();
            assert!(v.profile.index < 1000);
            assert!(fits(v.diagnosis, v.profile.sex, v.profile.age));
            assert!(v.admission.date() >= period_start() && v.discharge.date() <= period_end());
            assert!(v.admission.date() >= v.profile.birth);
            assert!(v.admission < v.discharge);
            let days = (v.discharge.date() - v.admission.date()).num_days();
            if v.visit_type == VisitType::Inpatient {
                assert!((1..=30).contains(&days), "{days}");
                assert!(v.total_cents >= 50_000);
                inpatient += 1;
                inpatient_age += u64::from(v.profile.age);
            } else {
                assert_eq!(days, 0);
                outpatient += 1;
                outpatient_age += u64::from(v.profile.age);
            }
            assert!(v.fund_cents <= v.total_cents && v.total_cents > 0);
            let own = &geo.counties[v.profile.county];
            let inst = &geo.counties[v.institution_county];
            assert_eq!(
                inst.division.prefecture_code(),
                own.division.prefecture_code()
            );
            if v.visit_type == VisitType::Emergency {
                assert_eq!(v.department, "急诊科");
            }
        }
        assert!(
            inpatient > 50 && outpatient > 1000,
            "{inpatient} {outpatient}"
        );
        assert!(
            inpatient_age / inpatient > outpatient_age / outpatient,
            "inpatients are older on average"
        );
    }

    #[test]
    fn same_index_same_visit() {
        let geo = Geo::get();
        let streams = Streams::new(3);
        let a = draw_visit(5, 100, &streams, geo).unwrap();
        let b = draw_visit(5, 100, &streams, geo).unwrap();
        assert_eq!(
            (
                a.profile.index,
                a.diagnosis.code,
                a.admission,
                a.total_cents
            ),
            (
                b.profile.index,
                b.diagnosis.code,
                b.admission,
                b.total_cents
            )
        );
    }
}
