//! The minimum-count principle (GB/T 39725-2020 §11.4.2.4: every released description is
//! shared by at least 5 people — "a diagnosis that 4 patients have this year is generalised or
//! suppressed") on columns other than the quasi-identifiers: `min_count` raises a rare value
//! along its hierarchy, or replaces it by `*`, and every released value is then shared by at
//! least that many records. Checks re-count the output independently.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use medspace_deid::{deidentify, DeidKeys, DeidPolicy, DeidReport, MacAlgorithm};
use proptest::prelude::*;

fn keys() -> DeidKeys {
    DeidKeys {
        pseudonym_key: [5; 32],
        date_shift_key: [6; 32],
        mac: MacAlgorithm::HmacSha256,
    }
}

fn run(policy: &str, input: &str) -> Result<(DeidReport, Vec<String>), String> {
    let policy = DeidPolicy::parse(policy).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let report =
        deidentify(&policy, &keys(), input.as_bytes(), &mut out).map_err(|e| e.to_string())?;
    let mut reader = csv::Reader::from_reader(out.as_slice());
    let at = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "dx")
        .unwrap();
    let column = reader
        .records()
        .map(|r| r.unwrap().get(at).unwrap().to_string())
        .collect();
    Ok((report, column))
}

fn counts(values: &[String]) -> HashMap<&str, usize> {
    let mut c = HashMap::new();
    for v in values {
        *c.entry(v.as_str()).or_insert(0) += 1;
    }
    c
}

fn input(dx: &[(&str, usize)]) -> String {
    let mut s = String::from("sex,dx\n");
    for (code, n) in dx {
        for i in 0..*n {
            s.push_str(if i % 2 == 0 { "M" } else { "F" });
            s.push(',');
            s.push_str(code);
            s.push('\n');
        }
    }
    s
}

const HEAD: &str =
    "name = \"p\"\nk = 2\nquasi_identifiers = [\"sex\"]\n[columns.sex]\naction = \"keep\"\n";

#[test]
fn a_rare_kept_value_becomes_a_star() {
    let policy = format!("{HEAD}[columns.dx]\naction = \"keep\"\nmin_count = 5\n");
    let (report, dx) = run(&policy, &input(&[("K35.8", 6), ("I21.0", 4), ("J18.9", 1)])).unwrap();
    let c = counts(&dx);
    assert_eq!(c.get("K35.8"), Some(&6));
    assert_eq!(c.get("*"), Some(&5));
    assert_eq!(c.len(), 2, "{c:?}");
    assert_eq!(report.min_count_released["dx"], 2);
}

#[test]
fn a_rare_diagnosis_is_generalised_along_icd10_until_five_share_it() {
    let policy = format!(
        "{HEAD}[columns.dx]\naction = \"generalize\"\nhierarchy = \"icd10\"\nlevel = 0\nmin_count = 5\n"
    );
    let (report, dx) = run(
        &policy,
        &input(&[("K35.8", 3), ("K35.2", 3), ("I21.0", 6), ("J18.9", 2)]),
    )
    .unwrap();
    let c = counts(&dx);
    // K35.8 and K35.2 (3 each) share the category K35 (6); I21.0 (6) stays; J18.9 (2) finds
    // nobody up to its chapter and is released as `*`.
    assert_eq!(c.get("K35"), Some(&6), "{c:?}");
    assert_eq!(c.get("I21.0"), Some(&6), "{c:?}");
    assert_eq!(c.get("*"), Some(&2), "{c:?}");
    assert_eq!(c.len(), 3, "{c:?}");
    assert_eq!(report.min_count_released["dx"], 3);
}

#[test]
fn min_count_is_refused_where_it_cannot_hold() {
    // On a quasi-identifier (k covers it), on an action that releases nothing to count, and
    // with a search that may suppress records after they were counted.
    let on_qi = "name = \"p\"\nk = 2\nquasi_identifiers = [\"sex\"]\n[columns.sex]\naction = \"keep\"\nmin_count = 5\n";
    assert!(run(on_qi, "sex\nM\n")
        .unwrap_err()
        .contains("columns.sex.min_count"));
    let on_pseudonym = format!("{HEAD}[columns.dx]\naction = \"pseudonymize\"\nmin_count = 5\n");
    assert!(run(&on_pseudonym, "sex,dx\nM,x\n")
        .unwrap_err()
        .contains("columns.dx.min_count"));
    let policy = DeidPolicy::parse(
        "name = \"p\"\nk = 2\nsuppression_limit = 0.1\nquasi_identifiers = [\"age\"]\n\
         [columns.age]\naction = \"generalize\"\nhierarchy = \"age_bands\"\n\
         [columns.dx]\naction = \"keep\"\nmin_count = 5\n",
    )
    .unwrap();
    let hierarchies = medspace_deid::Hierarchies::default();
    let options = medspace_deid::RunOptions {
        optimize: true,
        local: None,
        delimiter: None,
        hierarchies: &hierarchies,
        progress: &medspace_deid::NoProgress,
        risk_threshold: 0.2,
        population: None,
    };
    let mut open = || Ok::<_, std::io::Error>("age,dx\n30,x\n".as_bytes());
    let e = medspace_deid::deidentify_with(&policy, &keys(), &mut open, Vec::new(), &options)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("columns.dx.min_count") && e.contains("suppress"),
        "{e}"
    );
}

const CODES: [&str; 10] = [
    "K35.8", "K35.2", "K37", "I21.0", "I21.1", "I25.1", "J18.9", "J15.0", "C34.1", "E11.9",
];

proptest! {
    /// Whatever the frequencies, every released diagnosis other than `*` is shared by at
    /// least `min_count` records, and a value already that frequent is released unchanged.
    #[test]
    fn every_released_value_is_shared_by_at_least_min_count_records(
        freq in proptest::collection::vec(0usize..9, CODES.len()),
        n in 2usize..7,
        hierarchy in any::<bool>(),
    ) {
        let dx: Vec<(&str, usize)> = CODES.iter().copied().zip(freq.iter().copied()).collect();
        let rule = if hierarchy {
            format!("[columns.dx]\naction = \"generalize\"\nhierarchy = \"icd10\"\nlevel = 0\nmin_count = {n}\n")
        } else {
            format!("[columns.dx]\naction = \"keep\"\nmin_count = {n}\n")
        };
        let (_, out) = run(&format!("{HEAD}{rule}"), &input(&dx)).unwrap();
        prop_assert_eq!(out.len(), freq.iter().sum::<usize>());
        for (value, count) in counts(&out) {
            prop_assert!(value == "*" || count >= n, "{} released for {} records", value, count);
        }
        for (code, f) in &dx {
            if *f >= n {
                prop_assert!(out.iter().any(|v| v == code), "{} ({} records) was changed", code, f);
            }
        }
    }
}
