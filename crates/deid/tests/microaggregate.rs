//! `microaggregate` end to end (GB/T 37964-2019 and GB/T 39725-2020 §10.2 statistical
//! techniques): every output group has at least `group_size` records, the column mean is kept
//! for `mean`, groups follow `group_by`, bad cells are located without their value, and the
//! search sees the aggregated values. Checks re-read the output with the csv crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use medspace_deid::{
    deidentify, deidentify_with, CellProblem, DeidError, DeidKeys, DeidPolicy, DeidReport,
    Hierarchies, NoProgress, RunOptions,
};
use proptest::prelude::*;

fn keys() -> DeidKeys {
    DeidKeys {
        pseudonym_key: [3; 32],
        date_shift_key: [4; 32],
        mac: medspace_deid::MacAlgorithm::HmacSha256,
    }
}

fn run(
    policy: &str,
    input: &str,
    optimize: bool,
) -> Result<(DeidReport, Vec<Vec<String>>), DeidError> {
    let policy = DeidPolicy::parse(policy).unwrap();
    let hierarchies = Hierarchies::load(&policy, std::path::Path::new(".")).unwrap();
    let options = RunOptions {
        optimize,
        local: None,
        delimiter: None,
        hierarchies: &hierarchies,
        progress: &NoProgress,
        risk_threshold: 0.2,
        population: None,
    };
    let mut out = Vec::new();
    let mut open = || Ok::<_, std::io::Error>(input.as_bytes());
    let report = deidentify_with(&policy, &keys(), &mut open, &mut out, &options)?;
    let mut r = csv::Reader::from_reader(out.as_slice());
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    Ok((report, rows))
}

const POLICY: &str = r#"name = "micro"
k = 3
quasi_identifiers = ["sex"]
[columns.sex]
action = "keep"
[columns.fee]
action = "microaggregate"
"#;

#[test]
fn fees_become_group_means() {
    let input = "sex,fee\n男,10\n女,1\n男,4\n女,2\n男,8\n女,3\n男,100\n女,\n";
    let (report, rows) = run(POLICY, input, false).unwrap();
    assert_eq!(report.rows_out, 8);
    let fees: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    // 1 2 3 | 4 8 10 100; the empty cell stays empty.
    assert_eq!(
        fees,
        ["30.50", "2.00", "30.50", "2.00", "30.50", "2.00", "30.50", ""]
    );
    assert_eq!(report.actions[1].action, "microaggregate");
}

#[test]
fn group_by_keeps_classes_apart_and_median_rounds() {
    let policy = POLICY.replace(
        "action = \"microaggregate\"",
        "action = \"microaggregate\"\ngroup_by = [\"sex\"]\naggregate = \"median\"\ndecimals = 0\ngroup_size = 2",
    );
    let input = "sex,fee\n男,10\n女,1\n男,20\n女,2\n男,31\n女,5\n";
    let (_, rows) = run(&policy, input, false).unwrap();
    let fees: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    // 男: 10 20 31 → median 20; 女: 1 2 5 → median 2.
    assert_eq!(fees, ["20", "2", "20", "2", "20", "2"]);
}

#[test]
fn a_non_numeric_cell_names_line_and_column_not_the_value() {
    let input = "sex,fee\n男,10\n女,张三13812345678\n男,3\n";
    let e = run(POLICY, input, false).unwrap_err();
    match &e {
        DeidError::Cell {
            line,
            column,
            problem: CellProblem::NotANumber,
        } => {
            assert_eq!((*line, column.as_str()), (3, "fee"));
        }
        other => panic!("{other:?}"),
    }
    let shown = e.to_string();
    assert!(!shown.contains("张三") && !shown.contains("138"), "{shown}");
}

#[test]
fn too_few_values_and_one_shot_inputs_are_refused() {
    let e = run(POLICY, "sex,fee\n男,10\n女,1\n", false).unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.contains("columns.fee.group_size") && shown.contains("2 non-empty values"),
        "{shown}"
    );
    let policy = DeidPolicy::parse(POLICY).unwrap();
    let e = deidentify(&policy, &keys(), "sex,fee\n男,1\n".as_bytes(), Vec::new()).unwrap_err();
    assert!(e.to_string().contains("columns.fee.action"), "{e}");
}

#[test]
fn the_search_sees_aggregated_quasi_identifiers() {
    // A numeric quasi-identifier aggregated in groups of 3: the k = 3 check passes on it.
    let policy = r#"name = "micro-qi"
k = 3
quasi_identifiers = ["income", "zip"]
[columns.income]
action = "microaggregate"
decimals = 0
[columns.zip]
action = "generalize"
hierarchy = "postal_codes"
"#;
    let mut input = String::from("income,zip\n");
    for i in 0..30 {
        input.push_str(&format!("{},1000{}0\n", 1000 + i * 37, i % 3));
    }
    let (report, rows) = run(policy, &input, true).unwrap();
    // Raw incomes are all distinct: only their group means let k = 3 hold without suppression.
    assert!(report.k_anonymity.passed, "{report:?}");
    assert_eq!((report.rows_out, report.suppressed_records), (30, 0));
    let mut counts: HashMap<(String, String), usize> = HashMap::new();
    for r in &rows {
        *counts.entry((r[0].clone(), r[1].clone())).or_default() += 1;
    }
    assert!(counts.values().all(|&n| n >= 3), "{counts:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn groups_are_large_enough_and_the_mean_is_kept(
        fees in proptest::collection::vec(proptest::option::weighted(0.9, 0u32..100_000), 0..120),
        g in 2usize..9,
        by_sex in any::<bool>(),
    ) {
        let mut policy = POLICY.replace("k = 3", &format!("k = {g}"));
        if by_sex {
            policy = policy.replace("action = \"microaggregate\"", "action = \"microaggregate\"\ngroup_by = [\"sex\"]");
        }
        let mut input = String::from("sex,fee\n");
        for (i, f) in fees.iter().enumerate() {
            let sex = if i % 3 == 0 { "女" } else { "男" };
            match f {
                Some(c) => input.push_str(&format!("{sex},{}.{:02}\n", c / 100, c % 100)),
                None => input.push_str(&format!("{sex},\n")),
            }
        }
        let present: Vec<f64> = fees.iter().flatten().map(|c| f64::from(*c) / 100.0).collect();
        let result = run(&policy, &input, false);
        if !present.is_empty() && present.len() < g {
            prop_assert!(result.is_err());
            return Ok(());
        }
        let (_, rows) = result.unwrap();
        let out: Vec<f64> = rows.iter().filter(|r| !r[1].is_empty()).map(|r| r[1].parse().unwrap()).collect();
        prop_assert_eq!(out.len(), present.len());
        // Every distinct output value is shared by at least g records (equal means of two
        // groups only make the count larger).
        let mut sizes: HashMap<String, usize> = HashMap::new();
        for r in rows.iter().filter(|r| !r[1].is_empty()) {
            *sizes.entry(r[1].clone()).or_default() += 1;
        }
        prop_assert!(sizes.values().all(|&n| n >= g), "{:?}", sizes);
        if !present.is_empty() {
            let mean_in = present.iter().sum::<f64>() / present.len() as f64;
            let mean_out = out.iter().sum::<f64>() / out.len() as f64;
            prop_assert!((mean_in - mean_out).abs() <= 0.005 + 1e-9, "{} vs {}", mean_in, mean_out);
        }
    }
}
