//! GB/T 39725-2020 §10.2 c) 1) end to end: areas (division and postal codes) are released only
//! where they cover at least 20,000 people — by the policy's population table when it has one,
//! otherwise never finer than a prefecture — for fixed levels and for the k-anonymity search.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use medspace_deid::{
    deidentify_with, DeidKeys, DeidPolicy, DeidReport, Hierarchies, NoProgress, RunOptions,
};

const AREAS: &str = "code,population\n\
    330106,520000\n330102,8000\n\
    100080,25000\n100081,900\n1000**,35000\n";

fn run(dir: &Path, policy: &str, input: &str, optimize: bool) -> (DeidReport, Vec<Vec<String>>) {
    std::fs::write(dir.join("areas.csv"), AREAS).unwrap();
    let policy = DeidPolicy::parse(policy).unwrap();
    let hierarchies = Hierarchies::load(&policy, dir).unwrap();
    let options = RunOptions {
        optimize,
        local: None,
        delimiter: None,
        hierarchies: &hierarchies,
        progress: &NoProgress,
        risk_threshold: 0.2,
        population: None,
    };
    let keys = DeidKeys {
        pseudonym_key: [1; 32],
        date_shift_key: [2; 32],
        mac: medspace_deid::MacAlgorithm::HmacSha256,
    };
    let mut out = Vec::new();
    let mut open = || Ok::<_, std::io::Error>(input.as_bytes());
    let report = deidentify_with(&policy, &keys, &mut open, &mut out, &options).unwrap();
    let mut reader = csv::Reader::from_reader(out.as_slice());
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (report, rows)
}

/// Whether a released postal label covers 20,000 people by the table or is a postal zone
/// (three digits) or coarser.
fn postal_allowed(label: &str) -> bool {
    let known = AREAS
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .any(|(code, people)| code == label && people.parse::<u64>().unwrap() >= 20_000);
    known || label == "*" || label.ends_with("***")
}

#[test]
fn with_a_table_each_area_is_kept_only_where_it_covers_enough_people() {
    let dir = tempfile::tempdir().unwrap();
    let policy = "name = \"p\"\nk = 2\nquasi_identifiers = [\"county\"]\n\
        population_table = \"areas.csv\"\n\
        [columns.county]\naction = \"generalize\"\nhierarchy = \"division_codes\"\nlevel = 0\n\
        [columns.zip]\naction = \"generalize\"\nhierarchy = \"postal_codes\"\nlevel = 0\n";
    let input = "county,zip\n330106,100080\n330106,100081\n330102,200030\n330102,100080\n110101,100081\n110101,100080\n";
    let (_, rows) = run(dir.path(), policy, input, false);
    let county: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    let zip: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    // 330106 covers 520,000; 330102 only 8,000 and 110101 is not in the table: prefecture.
    assert_eq!(
        county,
        ["330106", "330106", "330100", "330100", "110100", "110100"]
    );
    // 100080 covers 25,000; 100081 only 900, its zone 1000** 35,000; 200030 is unknown.
    assert_eq!(
        zip,
        ["100080", "1000**", "200***", "100080", "1000**", "100080"]
    );
}

#[test]
fn the_search_releases_no_area_that_covers_too_few_people() {
    let dir = tempfile::tempdir().unwrap();
    let base = "name = \"p\"\nk = 2\nquasi_identifiers = [\"zip\"]\n\
        [columns.zip]\naction = \"generalize\"\nhierarchy = \"postal_codes\"\n";
    let mut input = String::from("zip\n");
    for zip in [
        "100080", "100080", "100081", "100081", "100082", "100082", "200030", "200030",
    ] {
        input.push_str(zip);
        input.push('\n');
    }
    // With the table: the search may keep 100080 (25,000 people) at level 0; the others are
    // raised first, whatever level the search then picks.
    let with_table = format!("population_table = \"areas.csv\"\n{base}");
    let (report, rows) = run(dir.path(), &with_table, &input, true);
    assert_eq!(report.generalization["zip"], 0, "{report:?}");
    let zips: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        zips,
        ["100080", "100080", "1000**", "1000**", "1000**", "1000**", "200***", "200***"]
    );
    assert!(zips.iter().all(|z| postal_allowed(z)), "{zips:?}");
    // Without a table nothing finer than a postal zone is released, though level 0 would be
    // 2-anonymous here.
    let (report, rows) = run(dir.path(), base, &input, true);
    assert_eq!(report.generalization["zip"], 3, "{report:?}");
    assert!(rows.iter().all(|r| r[0].ends_with("***")), "{rows:?}");
}

#[test]
fn a_bad_population_table_is_reported_before_any_data_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("areas.csv"),
        "code,population\n330106,lots\n",
    )
    .unwrap();
    let policy = DeidPolicy::parse(
        "name = \"p\"\nk = 2\nquasi_identifiers = [\"county\"]\npopulation_table = \"areas.csv\"\n\
         [columns.county]\naction = \"generalize\"\nhierarchy = \"division_codes\"\nlevel = 0\n",
    )
    .unwrap();
    let e = Hierarchies::load(&policy, dir.path()).unwrap_err();
    assert_eq!(e.path(), "population_table");
    assert!(
        e.message().contains("line 2") && e.message().contains("`population`"),
        "{e}"
    );
    let missing = DeidPolicy::parse(
        "name = \"p\"\nk = 2\nquasi_identifiers = [\"county\"]\npopulation_table = \"nope.csv\"\n\
         [columns.county]\naction = \"generalize\"\nhierarchy = \"division_codes\"\nlevel = 1\n",
    )
    .unwrap();
    let e = Hierarchies::load(&missing, dir.path()).unwrap_err();
    assert!(e.message().contains("nope.csv"), "{e}");
    // A minimum must be a positive whole number.
    let e = DeidPolicy::parse(
        "name = \"p\"\nk = 2\nquasi_identifiers = [\"county\"]\nmin_area_population = 0\n\
         [columns.county]\naction = \"generalize\"\nhierarchy = \"division_codes\"\nlevel = 1\n",
    )
    .unwrap_err();
    assert_eq!(e.path(), "min_area_population");
}

/// The published township codes of the National Bureau of Statistics (2023, every street and
/// township of the country): each one's hierarchy climbs to the county, prefecture and province
/// the file names for it.
#[test]
fn township_codes_climb_to_the_areas_the_published_table_names() {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/china-divisions/nbs-2023/streets.csv");
    let path = if beside.exists() {
        beside
    } else {
        Path::new("/work/shared/data/china-divisions/nbs-2023/streets.csv").to_path_buf()
    };
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "NOTICE: {} not found; skipping the published township codes",
            path.display()
        );
        return;
    };
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (code, area, city, province) = (
        col("code"),
        col("areaCode"),
        col("cityCode"),
        col("provinceCode"),
    );
    let mut checked = 0;
    for record in reader.records() {
        let r = record.unwrap();
        let h = medspace_deid::Hierarchy::township_codes("street", [&r[code]]).unwrap();
        assert_eq!(
            h.rows()[0],
            [
                r[code].to_string(),
                r[area].to_string(),
                format!("{}00", &r[city]),
                format!("{}0000", &r[province]),
                "*".to_string()
            ]
        );
        checked += 1;
    }
    assert!(checked > 40_000, "{checked} township codes");
}

/// A township column in a run: fixed levels finer than a prefecture need a table that shows the
/// coverage, and the search never releases a street or county that the table does not show to
/// cover 20,000 people.
#[test]
fn township_codes_are_released_only_where_they_cover_enough_people() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("streets.csv"),
        "code,population\n330106001,45000\n330106002,3000\n330106,520000\n",
    )
    .unwrap();
    let policy = |level: &str, table: bool| {
        format!(
            "name = \"p\"\nk = 2\nquasi_identifiers = [\"street\"]\n{}\
             [columns.street]\naction = \"generalize\"\nhierarchy = \"township_codes\"\n{level}",
            if table {
                "population_table = \"streets.csv\"\n"
            } else {
                ""
            }
        )
    };
    let input = "street\n330106001\n330106001\n330106002\n330106002\n330102001\n330102001\n";
    // Without a table: level 1 (the county) is refused before any data is read.
    let e = DeidPolicy::parse(&policy("level = 1\n", false)).unwrap_err();
    assert!(e.to_string().contains(">= 2"), "{e}");
    let read = |text: &str| {
        let (_, rows) = run(dir.path(), text, input, !text.contains("level ="));
        let streets: Vec<String> = rows.into_iter().map(|r| r[0].clone()).collect();
        format!("street\n{}\n", streets.join("\n"))
    };
    // With the table, level 0: the street that covers 45,000 stays, the small one becomes its
    // county (520,000), the unknown one its prefecture.
    assert_eq!(
        read(&policy("level = 0\n", true)),
        "street\n330106001\n330106001\n330106\n330106\n330100\n330100\n"
    );
    // The search (k = 2, every class already has two records) releases the same labels.
    assert_eq!(
        read(&policy("", true)),
        "street\n330106001\n330106001\n330106\n330106\n330100\n330100\n"
    );
    // The search without a table: prefecture at the finest.
    let searched = read(&policy("", false));
    assert!(
        searched
            .lines()
            .skip(1)
            .all(|l| l.len() == 6 && l.ends_with("00")),
        "{searched}"
    );
}
