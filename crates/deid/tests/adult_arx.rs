//! The dataset-level anonymisation engine reproduces ARX 3.9.2's results on the Adult data
//! (GB/T 39725-2020 §10.2 e), §11.4.2.4, Appendix G; T/CI 857-2024 6.5).
//!
//! Data: `shared/data/arx-adult/` beside the repository (or `$MEDSPACE_ARX_ADULT`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use medspace_deid::{
    local_recoding, quality, risk_from_class_sizes, search_exhaustive, search_optimal, Aggregate,
    AnonConfig, AnonData, Criterion, Hierarchy, QuasiIdentifier, Recoding,
};
use proptest::prelude::*;

const QIS: [&str; 9] = [
    "sex",
    "age",
    "race",
    "marital-status",
    "education",
    "native-country",
    "workclass",
    "occupation",
    "salary-class",
];

fn data_dir() -> PathBuf {
    if let Ok(d) = std::env::var("MEDSPACE_ARX_ADULT") {
        return PathBuf::from(d);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let beside = manifest.join("../../../shared/data/arx-adult");
    if beside.join("adult.csv").exists() {
        return beside;
    }
    PathBuf::from("/work/shared/data/arx-adult")
}

type Table = (Vec<String>, Vec<Vec<String>>);

fn read_table(name: &str) -> Table {
    let path = data_dir().join(name);
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_path(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (set MEDSPACE_ARX_ADULT)", path.display()));
    let header = rdr.headers().unwrap().iter().map(str::to_string).collect();
    let rows = rdr
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn adult_table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| read_table("adult.csv"))
}

fn hierarchy(prefix: &str, attr: &str) -> Hierarchy {
    Hierarchy::from_csv_path(&data_dir().join(format!("{prefix}_hierarchy_{attr}.csv"))).unwrap()
}

fn adult() -> &'static AnonData {
    static D: OnceLock<AnonData> = OnceLock::new();
    D.get_or_init(|| {
        let (header, rows) = adult_table();
        let qis: Vec<QuasiIdentifier> = QIS
            .iter()
            .map(|a| QuasiIdentifier {
                column: a.to_string(),
                hierarchy: hierarchy("adult", a),
            })
            .collect();
        AnonData::new(header, rows, &qis, None).unwrap()
    })
}

/// Re-checks a recoding on the generalised rows themselves (strings, not engine bookkeeping):
/// every class of non-suppressed records has at least k rows and at most ⌊limit·n⌋ rows are
/// suppressed. Returns the suppressed count.
fn recheck(data: &AnonData, recoding: &Recoding, k: usize, limit: f64) -> usize {
    let rows = recoding.rows(data).unwrap();
    assert_eq!(rows.len(), data.len());
    let mut classes: HashMap<&[String], usize> = HashMap::new();
    let mut suppressed = 0;
    for (row, node) in rows.iter().zip(&recoding.record_node) {
        if node.is_none() {
            assert!(row.iter().all(|v| v == "*"));
            suppressed += 1;
        } else {
            *classes.entry(row.as_slice()).or_default() += 1;
        }
    }
    for (key, size) in &classes {
        assert!(*size >= k, "class {key:?} has {size} < {k} records");
    }
    let max = (limit * data.len() as f64 + 1e-9).floor() as usize;
    assert!(suppressed <= max, "{suppressed} suppressed > {max}");
    suppressed
}

fn global_recoding(data: &AnonData, node: &[usize], config: &AnonConfig) -> Recoding {
    let suppressed = data.suppressed_records(node, config).unwrap();
    Recoding::global(node, &suppressed)
}

#[test]
fn adult_input_risk() {
    let data = adult();
    assert_eq!(data.len(), 30_162);
    let classes = data.classes(&[0; 9]).unwrap();
    let sizes: Vec<usize> = classes.sizes.iter().map(|&s| s as usize).collect();
    let r = risk_from_class_sizes(&sizes, 0.2, Some(245_000_000.0));
    eprintln!("input risk: {r:?}");
    assert_eq!(r.prosecutor_highest, 1.0);
    assert!(
        (r.sample_uniques - 0.514).abs() <= 0.001,
        "{}",
        r.sample_uniques
    );
    assert!(r.records_above_threshold >= r.sample_uniques);
    assert!((r.marketer - r.classes as f64 / 30_162.0).abs() < 1e-12);
    let pu = r.population_uniques_zayatz.unwrap();
    assert!((0.0..=r.sample_uniques).contains(&pu), "{pu}");
}

#[test]
fn adult_k5_no_suppression_matches_arx() {
    let data = adult();
    let config = AnonConfig::k_anonymity(5, 0.0);
    let res = search_optimal(data, &config).unwrap();
    let best = res.optimum.clone().unwrap();
    eprintln!(
        "k=5 0%: {:?} loss {:.4} evaluated {}/{}",
        best.node, best.loss, res.evaluated, res.lattice_size
    );
    assert_eq!(best.node, vec![0, 4, 1, 1, 3, 2, 2, 1, 0]);
    assert_eq!(res.lattice_size, 2 * 5 * 2 * 3 * 4 * 3 * 3 * 3 * 2);
    let rec = global_recoding(data, &best.node, &config);
    assert_eq!(recheck(data, &rec, 5, 0.0), 0);
    let q = quality(data, &rec).unwrap();
    eprintln!("quality: {q:?}");
    assert!((q.granularity - 0.292).abs() < 0.0005, "{}", q.granularity);
}

#[test]
fn adult_k5_exhaustive_agrees() {
    let data = adult();
    let config = AnonConfig::k_anonymity(5, 0.0);
    let fast = search_optimal(data, &config).unwrap().optimum.unwrap();
    let all = search_exhaustive(data, &config).unwrap().optimum.unwrap();
    assert_eq!(fast.node, all.node);
    assert!((fast.loss - all.loss).abs() < 1e-12);
}

#[test]
fn adult_k5_five_percent_suppression() {
    let data = adult();
    let config = AnonConfig::k_anonymity(5, 0.05);
    let res = search_optimal(data, &config).unwrap();
    let best = res.optimum.clone().unwrap();
    let rec = global_recoding(data, &best.node, &config);
    let suppressed = recheck(data, &rec, 5, 0.05);
    let q = quality(data, &rec).unwrap();
    eprintln!(
        "k=5 5%: {:?} loss {:.4} suppressed {suppressed} evaluated {}/{} granularity {:.4}",
        best.node, best.loss, res.evaluated, res.lattice_size, q.granularity
    );
    assert!(q.granularity >= 0.698, "{}", q.granularity);
}

#[test]
fn adult_k5_local_recoding() {
    let data = adult();
    let mut config = AnonConfig::k_anonymity(5, 0.05);
    config.suppression_weight = 0.0;
    let res = local_recoding(data, &config, 0.9, 100).unwrap();
    let suppressed = recheck(data, &res.recoding, 5, 0.05);
    let q = quality(data, &res.recoding).unwrap();
    eprintln!(
        "local: rounds {} suppressed {suppressed} granularity {:.4}",
        res.rounds.len(),
        q.granularity
    );
    assert!(q.granularity >= 0.90, "{}", q.granularity);
}

/// ARX's test2 example: l-diversity and t-closeness over `Disease` with its hierarchy.
#[test]
fn test2_diversity_and_closeness() {
    let (header, rows) = read_table("test2.csv");
    let qis: Vec<QuasiIdentifier> = ["ZIPCode", "Age"]
        .iter()
        .map(|a| QuasiIdentifier {
            column: a.to_string(),
            hierarchy: hierarchy("test2", a),
        })
        .collect();
    let disease = hierarchy("test2", "Disease");
    let data = AnonData::new(&header, &rows, &qis, Some(("Disease", Some(&disease)))).unwrap();
    for criteria in [
        vec![Criterion::KAnonymity { k: 3 }],
        vec![Criterion::DistinctLDiversity { l: 3 }],
        vec![Criterion::EntropyLDiversity { l: 2.5 }],
        vec![Criterion::RecursiveCLDiversity { c: 3.0, l: 2 }],
        vec![Criterion::TClosenessEqual { t: 0.5 }],
        vec![Criterion::TClosenessHierarchical { t: 0.3 }],
    ] {
        let config = AnonConfig {
            criteria: criteria.clone(),
            suppression_limit: 0.0,
            aggregate: Aggregate::GeometricMean,
            suppression_weight: 1.0,
            min_levels: Vec::new(),
        };
        let fast = search_optimal(&data, &config).unwrap().optimum.unwrap();
        let all = search_exhaustive(&data, &config).unwrap().optimum.unwrap();
        assert_eq!(fast.node, all.node, "{criteria:?}");
        assert!(fast.anonymous && fast.suppressed == 0);
    }
    // Distinct 3-diversity at ZIP 476**/479** and age bands: every class has 3 diseases.
    let config = AnonConfig {
        criteria: vec![Criterion::DistinctLDiversity { l: 3 }],
        ..AnonConfig::k_anonymity(1, 0.0)
    };
    let e = data.evaluate(&[2, 2], &config).unwrap();
    assert!(e.anonymous);
    let e = data.evaluate(&[0, 0], &config).unwrap();
    assert!(!e.anonymous && e.suppressed == 9);
    // A sensitive criterion without a sensitive attribute is refused.
    let plain = AnonData::new(&header, &rows, &qis, None).unwrap();
    assert!(plain.evaluate(&[0, 0], &config).is_err());
}

fn small_case() -> impl Strategy<Value = (Vec<usize>, Vec<Vec<usize>>, usize, f64)> {
    // heights 2..=4 for 1..=3 attributes, domain 2..=6, 5..=60 records
    (1usize..=3, 5usize..=60, 2usize..=4, 0usize..=2).prop_flat_map(|(q, n, k, lim)| {
        let dims = proptest::collection::vec((2usize..=6, 2usize..=4), q);
        (dims, Just(n), Just(k), Just([0.0, 0.05, 0.2][lim])).prop_flat_map(|(dims, n, k, lim)| {
            let domains: Vec<usize> = dims.iter().map(|d| d.0).collect();
            let heights: Vec<usize> = dims.iter().map(|d| d.1).collect();
            let rows =
                proptest::collection::vec(domains.iter().map(|&d| 0..d).collect::<Vec<_>>(), n);
            (
                Just(
                    heights
                        .iter()
                        .zip(&domains)
                        .map(|(h, d)| h * 100 + d)
                        .collect(),
                ),
                rows,
                Just(k),
                Just(lim),
            )
        })
    })
}

/// A random consistent hierarchy: at each level, values are merged by integer division.
fn random_hierarchy(name: &str, domain: usize, height: usize) -> Hierarchy {
    let rows = (0..domain)
        .map(|v| {
            let mut path = vec![format!("v{v}")];
            for level in 1..height {
                if level + 1 == height {
                    path.push("*".to_string());
                } else {
                    path.push(format!("g{level}_{}", v >> level));
                }
            }
            path
        })
        .collect();
    Hierarchy::from_rows(name, rows).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn search_satisfies_k_and_matches_exhaustive((spec, rows, k, limit) in small_case()) {
        let q = spec.len();
        let header: Vec<String> = (0..q).map(|j| format!("a{j}")).collect();
        let qis: Vec<QuasiIdentifier> = spec
            .iter()
            .enumerate()
            .map(|(j, s)| QuasiIdentifier {
                column: header[j].clone(),
                hierarchy: random_hierarchy(&header[j], s % 100, s / 100),
            })
            .collect();
        let records: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(|v| format!("v{v}")).collect())
            .collect();
        let data = AnonData::new(&header, &records, &qis, None).unwrap();
        let config = AnonConfig::k_anonymity(k, limit);
        let fast = search_optimal(&data, &config).unwrap().optimum;
        let all = search_exhaustive(&data, &config).unwrap().optimum;
        match (fast, all) {
            (Some(f), Some(a)) => {
                let rec = global_recoding(&data, &f.node, &config);
                prop_assert_eq!(recheck(&data, &rec, k, limit), f.suppressed);
                prop_assert!(a.loss <= f.loss + 1e-12);
                prop_assert!((a.loss - f.loss).abs() < 1e-12);
                prop_assert_eq!(f.node, a.node);
            }
            (None, None) => prop_assert!(data.len() < k),
            (f, a) => prop_assert!(false, "search {:?} vs exhaustive {:?}", f, a),
        }
    }
}
