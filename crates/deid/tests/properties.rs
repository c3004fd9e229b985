//! Property tests of whole runs (GB/T 39725-2020 §10.2 e) and §11.4.2.4: the output satisfies
//! the declared k (and l); Table 6: a date shift keeps every per-subject interval; §10.2 f) and
//! g): pseudonyms are stable per key and differ between projects; Table G.1: nothing of a
//! dropped or pseudonymised column survives). Checks here re-read the output with the csv crate
//! and count with plain maps, not with the engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use medspace_deid::{
    deidentify, deidentify_with, AnonError, DeidError, DeidKeys, DeidPolicy, Hierarchies,
    NoProgress, RunOptions,
};
use proptest::prelude::*;

fn keys(seed: u8) -> DeidKeys {
    DeidKeys {
        pseudonym_key: [seed; 32],
        date_shift_key: [seed ^ 0x5a; 32],
        mac: medspace_deid::MacAlgorithm::HmacSha256,
    }
}

fn table(out: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_reader(out);
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn run_optimized(
    policy: &str,
    input: &str,
    local: bool,
) -> Result<(medspace_deid::DeidReport, Vec<u8>), DeidError> {
    let policy = DeidPolicy::parse(policy).unwrap();
    let hierarchies = Hierarchies::load(&policy, std::path::Path::new(".")).unwrap();
    let options = RunOptions {
        optimize: true,
        local: Some(local),
        delimiter: None,
        hierarchies: &hierarchies,
        progress: &NoProgress,
        risk_threshold: 0.2,
        population: None,
    };
    let mut out = Vec::new();
    let mut open = || Ok::<_, std::io::Error>(input.as_bytes());
    let report = deidentify_with(&policy, &keys(1), &mut open, &mut out, &options)?;
    Ok((report, out))
}

const ZIPS: [&str; 6] = ["100080", "100081", "100085", "100190", "310012", "310013"];
const DX: [&str; 6] = ["K35.8", "K37", "I21.0", "I25.1", "J18.9", "J20"];

fn records() -> impl Strategy<Value = Vec<(u32, usize, bool, usize)>> {
    proptest::collection::vec(
        (0u32..100, 0..ZIPS.len(), any::<bool>(), 0..DX.len()),
        1..80,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Every successful optimised run's output satisfies its k (and distinct l) and suppresses
    /// at most ⌊limit·n⌋ records; a failure happens only when no recoding can exist.
    #[test]
    fn optimized_output_satisfies_declared_models(
        rows in records(),
        k in 2usize..7,
        limit in prop_oneof![Just(0.0), Just(0.05), Just(0.2)],
        l in prop_oneof![Just(0usize), Just(2usize)],
        local in any::<bool>(),
        sep in prop_oneof![Just(','), Just(';'), Just('\t')],
    ) {
        let sensitive = if l > 0 {
            "sensitive = [\"dx\"]\n[l_diversity]\nl = 2\n"
        } else {
            ""
        };
        let policy = format!(
            "name = \"p\"\nk = {k}\nsuppression_limit = {limit}\nquasi_identifiers = [\"age\", \"zip\", \"sex\"]\n{sensitive}\
             [columns.age]\naction = \"generalize\"\nhierarchy = \"age_bands\"\n\
             [columns.zip]\naction = \"generalize\"\nhierarchy = \"postal_codes\"\n\
             [columns.sex]\naction = \"generalize\"\nhierarchy = \"suppress\"\n\
             [columns.dx]\naction = \"keep\"\n"
        );
        let mut input = format!("age{sep}zip{sep}sex{sep}dx\n");
        for (age, z, male, d) in &rows {
            input.push_str(&format!(
                "{age}{sep}{}{sep}{}{sep}{}\n",
                ZIPS[*z],
                if *male { "M" } else { "F" },
                DX[*d]
            ));
        }
        let n = rows.len();
        let distinct_dx = rows.iter().map(|r| r.3).collect::<HashSet<_>>().len();
        match run_optimized(&policy, &input, local) {
            Ok((report, out)) => {
                let (header, out_rows) = table(&out);
                prop_assert_eq!(&header, &["age", "zip", "sex", "dx"]);
                // §10.2 c) 1): without a population table no area finer than the three-digit
                // postal zone (a prefecture) is released, whatever the search prefers.
                for r in &out_rows {
                    prop_assert!(r[1] == "*" || r[1].ends_with("***"), "zip {:?}", r[1]);
                }
                let mut classes: HashMap<Vec<String>, (usize, HashSet<String>)> = HashMap::new();
                for r in &out_rows {
                    let e = classes.entry(r[..3].to_vec()).or_default();
                    e.0 += 1;
                    e.1.insert(r[3].clone());
                }
                for (key, (size, dx)) in &classes {
                    prop_assert!(*size >= k, "class {:?} has {} < {}", key, size, k);
                    if l > 0 {
                        prop_assert!(dx.len() >= l, "class {:?} has {} diagnoses", key, dx.len());
                    }
                }
                let suppressed = n - out_rows.len();
                prop_assert!(suppressed <= (limit * n as f64 + 1e-9).floor() as usize);
                prop_assert_eq!(report.suppressed_records as usize, suppressed);
                prop_assert_eq!(report.rows_in as usize, n);
                prop_assert_eq!(report.equivalence_classes as usize, classes.len());
                if !out_rows.is_empty() {
                    prop_assert_eq!(
                        report.k_achieved as usize,
                        classes.values().map(|c| c.0).min().unwrap()
                    );
                }
                prop_assert!(report.k_anonymity.passed);
            }
            Err(DeidError::Anon(AnonError::NoSolution)) => {
                // Everything generalised to one class still fails: too few records or values.
                prop_assert!(n < k || (l > 0 && distinct_dx < l) || local);
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    /// A subject's dates move together: every interval between two dates of one subject, in
    /// any rows and columns, is the same after the shift.
    #[test]
    fn date_shift_keeps_every_per_subject_interval(
        rows in proptest::collection::vec((0usize..5, 0i64..3000, 0i64..60), 1..40),
        max_days in 1u32..400,
        seed in any::<u8>(),
    ) {
        let base = NaiveDate::from_ymd_opt(2015, 1, 1).unwrap();
        let fmt = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
        let mut input = String::from("pid,admission,discharge\n");
        for (s, a, len) in &rows {
            let adm = base + chrono::Days::new(*a as u64);
            let dis = adm + chrono::Days::new(*len as u64);
            input.push_str(&format!("P{s},{},{} 12:00:00\n", fmt(adm), fmt(dis)));
        }
        let policy = DeidPolicy::parse(&format!(
            "name = \"p\"\nquasi_identifiers = [\"pid\"]\nsubject_column = \"pid\"\ndate_shift_max_days = {max_days}\n\
             [columns.pid]\naction = \"keep\"\n[columns.admission]\naction = \"date_shift\"\n[columns.discharge]\naction = \"date_shift\"\n"
        )).unwrap();
        let mut out = Vec::new();
        deidentify(&policy, &keys(seed), input.as_bytes(), &mut out).unwrap();
        let (_, out_rows) = table(&out);
        let parse = |s: &str| NaiveDate::parse_from_str(&s[..10], "%Y-%m-%d").unwrap();
        let original: Vec<Vec<String>> = input
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect();
        let mut offsets: HashMap<String, i64> = HashMap::new();
        for (o, s) in original.iter().zip(&out_rows) {
            prop_assert_eq!(&o[0], &s[0]);
            prop_assert!(s[2].ends_with(" 12:00:00"));
            for c in 1..3 {
                let off = (parse(&s[c]) - parse(&o[c])).num_days();
                prop_assert!(off != 0 && off.unsigned_abs() <= u64::from(max_days));
                let first = *offsets.entry(o[0].clone()).or_insert(off);
                // one offset per subject ⇔ every interval of the subject is kept
                prop_assert_eq!(first, off);
            }
        }
    }

    /// Pseudonyms are stable under one key (the same value always maps to the same code, across
    /// runs) and differ between projects (keys); no dropped or pseudonymised value survives.
    #[test]
    fn pseudonyms_stable_per_key_differ_across_projects_and_nothing_survives(
        people in proptest::collection::vec(("[1-6][0-9]{16}[0-9X]", "[\u{4e00}-\u{4e30}]{2,3}", 0u32..3), 1..30),
    ) {
        let mut input = String::from("id_number,name,ward,note\n");
        for (id, name, ward) in &people {
            input.push_str(&format!("{id},{name},{ward},\"联系 {id}\"\n"));
        }
        let policy = DeidPolicy::parse(
            "name = \"p\"\nk = 2\nquasi_identifiers = [\"ward\"]\n\
             [columns.id_number]\naction = \"pseudonymize\"\n[columns.name]\naction = \"drop\"\n\
             [columns.ward]\naction = \"keep\"\n[columns.note]\naction = \"redact_spans\"\n",
        ).unwrap();
        let run = |seed: u8| {
            let mut out = Vec::new();
            deidentify(&policy, &keys(seed), input.as_bytes(), &mut out).unwrap();
            out
        };
        let (a, b, other) = (run(1), run(1), run(2));
        prop_assert_eq!(&a, &b);
        let (header, ta) = table(&a);
        let (_, tother) = table(&other);
        prop_assert_eq!(&header, &["id_number", "ward", "note"]);
        let mut code_of: HashMap<&str, &str> = HashMap::new();
        for ((id, _, _), (ra, ro)) in people.iter().zip(ta.iter().zip(&tother)) {
            let code = code_of.entry(id.as_str()).or_insert(ra[0].as_str());
            prop_assert_eq!(*code, ra[0].as_str());
            prop_assert_ne!(&ra[0], &ro[0]);
        }
        let text = String::from_utf8(a).unwrap();
        for (id, name, _) in &people {
            prop_assert!(!text.contains(id.as_str()), "id survived");
            prop_assert!(!text.contains(name.as_str()), "name survived");
        }
    }
}

#[test]
fn new_actions_end_to_end() {
    let policy = DeidPolicy::parse(
        "name = \"p\"\nk = 2\nquasi_identifiers = [\"age\"]\n\
         [columns.birth]\naction = \"to_age\"\nreference_date = 2024-06-30\n\
         [columns.age]\naction = \"top_bottom_code\"\ntop = 89\nbottom = 18\n\
         [columns.admission]\naction = \"to_duration\"\nend_column = \"discharge\"\n\
         [columns.discharge]\naction = \"null\"\n\
         [columns.fee]\naction = \"noise\"\nscale = 10\ndistribution = \"uniform\"\ndecimals = 2\n\
         [columns.zip]\naction = \"generalize\"\nhierarchy = \"postal\"\nlevel = 3\n\
         [columns.county]\naction = \"generalize\"\nhierarchy = \"division_codes\"\nlevel = 1\n\
         [columns.dx]\naction = \"generalize\"\nhierarchy = \"icd10\"\nlevel = 3\n",
    )
    .unwrap();
    let input = "birth,age,admission,discharge,fee,zip,county,dx\n\
                 1990-07-01,95,2024-01-01,2024-01-11,100.00,100080,330106,K35.8\n\
                 1990-06-30,10,2024-02-01 08:00:00,2024-02-02,50,100081,330102,I21.0\n";
    let mut out = Vec::new();
    let report = deidentify(&policy, &keys(3), input.as_bytes(), &mut out).unwrap();
    let (header, rows) = table(&out);
    assert_eq!(
        header,
        [
            "birth",
            "age",
            "admission",
            "discharge",
            "fee",
            "zip",
            "county",
            "dx"
        ]
    );
    assert_eq!(rows[0][..4], ["33", ">89", "10", ""]);
    assert_eq!(rows[1][..4], ["34", "<18", "1", ""]);
    let fee: f64 = rows[0][4].parse().unwrap();
    assert!(
        (90.0..=110.0).contains(&fee) && rows[0][4].contains('.'),
        "{fee}"
    );
    assert_eq!(rows[0][5..], ["100***", "330100", "XI"]);
    assert_eq!(rows[1][5..], ["100***", "330100", "IX"]);
    assert_eq!(report.generalization["zip"], 3);
    assert_eq!(report.generalization["dx"], 3);
    let before = report.risk_before.unwrap();
    assert_eq!(before.sample_uniques, 1.0);
    assert_eq!(report.risk_after.unwrap().sample_uniques, 1.0);
    // A non-number under top_bottom_code names the line and column, never the value.
    let bad = "birth,age,admission,discharge,fee,zip,county,dx\n1990-07-01,abc,2024-01-01,2024-01-11,1,100080,330106,K35.8\n";
    let e = deidentify(&policy, &keys(3), bad.as_bytes(), &mut Vec::new()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("line 2") && msg.contains("`age`") && !msg.contains("abc"),
        "{msg}"
    );
    // A built-in that cannot generalise a value says so without the value.
    let bad = "birth,age,admission,discharge,fee,zip,county,dx\n1990-07-01,5,2024-01-01,2024-01-11,1,100080,33010X,K35.8\n";
    let e = deidentify(&policy, &keys(3), bad.as_bytes(), &mut Vec::new()).unwrap_err();
    assert!(
        e.to_string().contains("division_codes") && !e.to_string().contains("33010X"),
        "{e}"
    );
}

#[test]
fn t_closeness_and_entropy_l_are_enforced_by_the_search() {
    let mut input = String::from("age,zip,dx\n");
    for i in 0..60u32 {
        input.push_str(&format!(
            "{},{},{}\n",
            20 + i % 50,
            ZIPS[(i % 6) as usize],
            DX[(i * 7 % 6) as usize]
        ));
    }
    let policy =
        "name = \"p\"\nk = 3\nquasi_identifiers = [\"age\", \"zip\"]\nsensitive = [\"dx\"]\n\
        [t_closeness]\nt = 0.4\n[l_diversity]\nkind = \"entropy\"\nl = 2\n\
        [columns.age]\naction = \"generalize\"\nhierarchy = \"age_decades\"\n\
        [columns.zip]\naction = \"generalize\"\nhierarchy = \"postal_codes\"\n\
        [columns.dx]\naction = \"keep\"\n";
    let (report, out) = run_optimized(policy, &input, false).unwrap();
    let (_, rows) = table(&out);
    let overall: HashMap<&str, f64> = DX
        .iter()
        .map(|d| {
            (
                *d,
                rows.iter().filter(|r| r[2] == *d).count() as f64 / rows.len() as f64,
            )
        })
        .collect();
    let mut classes: HashMap<(String, String), Vec<String>> = HashMap::new();
    for r in &rows {
        classes
            .entry((r[0].clone(), r[1].clone()))
            .or_default()
            .push(r[2].clone());
    }
    assert!(report.suppressed_records == 0);
    for dx in classes.values() {
        assert!(dx.len() >= 3);
        let n = dx.len() as f64;
        let mut counts: HashMap<&str, f64> = HashMap::new();
        for d in dx {
            *counts.entry(d.as_str()).or_default() += 1.0;
        }
        let entropy: f64 = counts.values().map(|c| -(c / n) * (c / n).ln()).sum();
        assert!(entropy + 1e-9 >= 2f64.ln(), "entropy {entropy}");
        let emd: f64 = DX
            .iter()
            .map(|d| (counts.get(d).copied().unwrap_or(0.0) / n - overall[d]).abs())
            .sum::<f64>()
            / 2.0;
        assert!(emd <= 0.4 + 1e-9, "emd {emd}");
    }
}
