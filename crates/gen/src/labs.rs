//! Synthetic laboratory results (检验结果) of a visit: the panels a visit of that type and
//! diagnosis would order, values inside the WS/T 404 / WS/T 405 reference intervals or, where
//! the diagnosis implies it, outside them (GB/T 39725-2020 Table 1 健康状况数据).

use std::fmt::Write as _;

use chrono::{Duration, NaiveDateTime};
use medspace_validators::Sex;
use rand::Rng;
use rand_chacha::ChaCha20Rng;

use crate::catalog::{panel, t, Dir, LabTest, Range, LAB_TESTS, PANELS};
use crate::util::{mix64, permille};
use crate::visit::{Streams, Visit, VisitType};
use crate::GenError;

/// One result row.
#[derive(Debug)]
pub(crate) struct LabResult<'a> {
    /// The test.
    pub test: &'static LabTest,
    /// Result text.
    pub value: &'a str,
    /// Reference interval text for the person's sex.
    pub reference: &'static str,
    /// Sample collection time, within the visit.
    pub sample_time: NaiveDateTime,
}

/// True if the person is a chronic HBsAg carrier (about 6 % of the population), independent of
/// the visit so that all of a person's tests agree.
fn hbsag_carrier(seed: u64, person: u64) -> bool {
    mix64(seed ^ mix64(person ^ 0x4842_5341_6701)) % 1000 < 60
}

/// Calls `emit` for each result of the visit, in panel order, until it returns `Ok(false)`.
/// Returns whether `emit` asked to stop.
pub(crate) fn for_each_result(
    visit: &Visit,
    streams: &Streams,
    value_buf: &mut String,
    emit: &mut dyn FnMut(&LabResult<'_>) -> Result<bool, GenError>,
) -> Result<bool, GenError> {
    let mut lr = streams.lab(visit.index);
    let d = visit.diagnosis;
    let panels = match visit.visit_type {
        VisitType::Inpatient => {
            let screen = if permille(&mut lr) < 600 {
                panel::INFECTION
            } else {
                0
            };
            panel::CBC | panel::LIVER | panel::RENAL | panel::ELECTROLYTE | d.panels | screen
        }
        VisitType::ChronicSpecial => {
            let cbc = if d.panels == 0 || permille(&mut lr) < 300 {
                panel::CBC
            } else {
                0
            };
            d.panels | cbc
        }
        VisitType::Emergency => {
            if permille(&mut lr) < 800 {
                panel::CBC | panel::CRP | d.panels
            } else {
                0
            }
        }
        VisitType::Outpatient => {
            if permille(&mut lr) < 450 {
                if d.panels == 0 {
                    panel::CBC
                } else {
                    d.panels
                }
            } else {
                0
            }
        }
    };
    let duration = (visit.discharge - visit.admission).num_seconds().max(2);
    let carrier = hbsag_carrier(streams.seed, visit.profile.index);
    // One blood draw per visit: inpatients on the first morning (06:00-07:59) after admission,
    // others during the visit.
    let next_morning = visit
        .admission
        .date()
        .succ_opt()
        .and_then(|d| d.and_hms_opt(6, 0, 0))
        .map(|t| t + Duration::seconds(lr.gen_range(0..7200)));
    let sample_time = match next_morning {
        Some(t) if visit.visit_type == VisitType::Inpatient && t < visit.discharge => t,
        _ => visit.admission + Duration::seconds(lr.gen_range(duration / 10..=duration * 9 / 10)),
    };
    for (bit, tests) in PANELS {
        if panels & bit == 0 {
            continue;
        }
        for &ti in tests.iter() {
            let Some(test) = LAB_TESTS.get(ti) else {
                continue;
            };
            let range = match visit.profile.sex {
                Sex::Male => test.male,
                Sex::Female => test.female,
            };
            let expected = d
                .abnormal
                .iter()
                .find(|(x, _)| *x == ti)
                .map(|(_, dir)| *dir);
            value_buf.clear();
            if test.qualitative {
                let positive = match expected {
                    Some(Dir::Positive) => permille(&mut lr) < 970,
                    _ if ti == t::HBSAG => carrier,
                    _ if ti == t::HCV || ti == t::TP => permille(&mut lr) < 5,
                    _ => false,
                };
                value_buf.push_str(if positive { "阳性" } else { "阴性" });
            } else {
                let v = quantitative(&mut lr, test, &range, expected);
                let _ = write!(value_buf, "{:.*}", test.decimals, v);
            }
            let row = LabResult {
                test,
                value: value_buf.as_str(),
                reference: range.text,
                sample_time,
            };
            if !emit(&row)? {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn quantitative(lr: &mut ChaCha20Rng, test: &LabTest, range: &Range, expected: Option<Dir>) -> f64 {
    let Range {
        lo,
        hi,
        gen_lo,
        gen_hi,
        ..
    } = *range;
    let dir = match expected {
        Some(dir @ (Dir::High | Dir::Low)) if permille(lr) < 750 => Some((dir, true)),
        _ => match permille(lr) {
            0..=29 => Some((Dir::High, false)),
            30..=59 => Some((Dir::Low, false)),
            _ => None,
        },
    };
    let u: f64 = lr.gen();
    let u2: f64 = lr.gen();
    match dir {
        Some((Dir::High, marked)) if test.spread > 0.0 => {
            if marked {
                hi * (1.05 + test.spread * u * u2)
            } else {
                hi * (1.02 + 0.15 * u)
            }
        }
        Some((Dir::Low, marked)) if lo > 0.0 => {
            if marked {
                lo * (0.2 + 0.7 * u)
            } else {
                lo * (0.85 + 0.12 * u)
            }
        }
        _ => gen_lo + (gen_hi - gen_lo) * (u + u2) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::Geo;
    use crate::visit::draw_visit;

    #[test]
    fn results_follow_the_diagnosis_and_the_visit() {
        let geo = Geo::get();
        let streams = Streams::new(11);
        let mut buf = String::new();
        let mut rows = 0;
        let mut high_glucose_in_diabetes = 0;
        let mut glucose_in_diabetes = 0;
        for j in 0..3000 {
            let v = draw_visit(j, 800, &streams, geo).unwrap();
            let mut emit = |r: &LabResult<'_>| {
                rows += 1;
                assert!(r.sample_time >= v.admission && r.sample_time <= v.discharge);
                if r.test.qualitative {
                    assert!(r.value == "阴性" || r.value == "阳性");
                } else {
                    let x: f64 = r.value.parse().unwrap();
                    assert!(x >= 0.0 && x.is_finite(), "{} {}", r.test.code, r.value);
                }
                if v.diagnosis.code == "B24" && r.test.code == "Anti-HIV" {
                    assert!(r.value == "阳性" || r.value == "阴性");
                }
                if v.diagnosis.code != "B24" && r.test.code == "Anti-HIV" {
                    assert_eq!(r.value, "阴性", "HIV positive only with HIV disease");
                }
                if v.diagnosis.code == "E11.9" && r.test.code == "GLU" {
                    glucose_in_diabetes += 1;
                    if r.value.parse::<f64>().unwrap() > 6.1 {
                        high_glucose_in_diabetes += 1;
                    }
                }
                Ok(true)
            };
            for_each_result(&v, &streams, &mut buf, &mut emit).unwrap();
        }
        assert!(rows > 3000, "{rows}");
        assert!(glucose_in_diabetes > 20);
        assert!(
            high_glucose_in_diabetes * 2 > glucose_in_diabetes,
            "{high_glucose_in_diabetes}/{glucose_in_diabetes}"
        );
    }

    #[test]
    fn carrier_state_is_per_person() {
        let carriers = (0..10_000).filter(|p| hbsag_carrier(1, *p)).count();
        assert!((400..800).contains(&carriers), "{carriers}");
        assert_eq!(hbsag_carrier(1, 5), hbsag_carrier(1, 5));
    }
}
