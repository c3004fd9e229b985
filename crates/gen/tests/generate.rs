//! End-to-end properties of the generated CSV tables.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, NaiveDateTime};
use medspace_gen::{generate, header, special_disease_category, GenOptions, Table, PROGRESS_EVERY};
use medspace_validators::{gb11643, icd10, phone, reference, Sex};

fn gen(table: Table, rows: u64, seed: u64, persons: Option<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    let n = generate(
        &GenOptions {
            rows,
            seed,
            table,
            persons,
        },
        &mut out,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(n, rows);
    out
}

fn records(bytes: &[u8]) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let mut r = csv::Reader::from_reader(bytes);
    let h = r.headers().unwrap().clone();
    let rows = r.records().map(|x| x.unwrap()).collect();
    (h, rows)
}

fn col(h: &csv::StringRecord, name: &str) -> usize {
    h.iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// Parses `123.45` into cents, insisting on exactly two decimals.
fn cents(s: &str) -> u64 {
    let (yuan, frac) = s
        .split_once('.')
        .unwrap_or_else(|| panic!("no decimals in {s}"));
    assert_eq!(frac.len(), 2, "{s}");
    yuan.parse::<u64>().unwrap() * 100 + frac.parse::<u64>().unwrap()
}

fn datetime(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    for table in [
        Table::Settlements,
        Table::Persons,
        Table::Visits,
        Table::Labs,
    ] {
        let a = gen(table, 500, 42, None);
        let b = gen(table, 500, 42, None);
        assert_eq!(a, b, "{table} not deterministic");
        let c = gen(table, 500, 43, None);
        assert_ne!(a, c, "{table} ignores the seed");
    }
}

#[test]
fn a_longer_run_starts_with_the_shorter_one() {
    for table in [Table::Settlements, Table::Persons, Table::Labs] {
        let short = gen(table, 200, 5, Some(100));
        let long = gen(table, 400, 5, Some(100));
        assert!(long.starts_with(&short), "{table}");
    }
}

#[test]
fn headers_and_row_counts() {
    for table in [
        Table::Settlements,
        Table::Persons,
        Table::Visits,
        Table::Labs,
    ] {
        for rows in [0u64, 1, 1234] {
            let bytes = gen(table, rows, 9, None);
            let text = String::from_utf8(bytes.clone()).expect("UTF-8");
            assert!(!text.contains('\r'), "\\n line ends only");
            let (h, recs) = records(&bytes);
            assert_eq!(h.iter().collect::<Vec<_>>(), header(table).to_vec());
            assert_eq!(recs.len() as u64, rows, "{table}");
            assert_eq!(
                text.lines().count() as u64,
                rows + 1,
                "{table}: one line per row"
            );
            assert!(recs.iter().all(|r| r.len() == header(table).len()));
        }
    }
}

#[test]
fn settlement_identifiers_are_valid_and_consistent() {
    let bytes = gen(Table::Settlements, 3000, 1, None);
    let (h, recs) = records(&bytes);
    let [pid, name, id, sex, birth, mobile, addr, county, employer, ins, vtype, inst, dept, dcode, dname, adm, dis, total, fund, personal] =
        [
            "person_id",
            "person_name",
            "id_number",
            "sex",
            "birth_date",
            "mobile",
            "address",
            "county_code",
            "employer",
            "insurance_type",
            "visit_type",
            "institution_code",
            "department",
            "diagnosis_code",
            "diagnosis_name",
            "admission_time",
            "discharge_time",
            "total_fee",
            "fund_payment",
            "personal_payment",
        ]
        .map(|c| col(&h, c));
    let mut settlement_ids = HashSet::new();
    let mut persons: HashMap<String, Vec<String>> = HashMap::new();
    let start = NaiveDate::from_ymd_opt(2023, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let end = NaiveDate::from_ymd_opt(2025, 12, 31)
        .unwrap()
        .and_hms_opt(23, 59, 59)
        .unwrap();
    let mut inpatient_fees = Vec::new();
    let mut outpatient_fees = Vec::new();
    for r in &recs {
        assert!(
            settlement_ids.insert(r[0].to_string()),
            "settlement ids unique"
        );
        assert!(r[0].starts_with('S') && r[0].len() == 13);
        assert!(
            r[pid].starts_with('P')
                && r[pid].len() == 11
                && r[pid][1..].bytes().all(|b| b.is_ascii_digit())
        );

        let parsed = gb11643::parse(&r[id]).unwrap_or_else(|e| panic!("row {}: {e}", &r[0]));
        assert_eq!(Sex::parse(&r[sex]), Some(parsed.sex));
        assert!(r[sex] == *"男" || r[sex] == *"女");
        assert_eq!(r[birth], parsed.birth_date.format("%Y-%m-%d").to_string());
        assert_eq!(r[county], parsed.division_code);
        let division = reference::county_by_code(&r[county]).expect("a real GB/T 2260 county");
        assert!(r[addr].starts_with(&division.full_name()), "{}", &r[addr]);
        assert!(r[addr].ends_with('号') || r[addr].ends_with('室'));
        assert!(phone::is_mobile(&r[mobile]) && r[mobile].len() == 11);
        assert!(reference::is_surname_prefix(&r[name]));
        assert!(!r[employer].is_empty());
        assert!([
            "职工基本医疗保险",
            "城乡居民基本医疗保险",
            "新型农村合作医疗",
            "公费医疗"
        ]
        .contains(&&r[ins]));

        // The same person always has the same identity.
        let identity = vec![
            r[name].to_string(),
            r[id].to_string(),
            r[mobile].to_string(),
            r[addr].to_string(),
        ];
        let prev = persons
            .entry(r[pid].to_string())
            .or_insert_with(|| identity.clone());
        assert_eq!(*prev, identity);

        assert!(["门诊", "住院", "门诊慢特病", "急诊"].contains(&&r[vtype]));
        let ic = &r[inst];
        assert!(
            ic.len() == 12 && ic.starts_with('H') && ic[1..].bytes().all(|b| b.is_ascii_digit()),
            "{ic}"
        );
        assert_eq!(
            &ic[1..5],
            &r[county][..4],
            "institution in the person's prefecture"
        );
        assert!(reference::county_by_code(&ic[1..7]).is_some());
        assert!(r[dept].ends_with('科'));
        assert!(icd10::is_code(&r[dcode]));
        assert!(!r[dname].is_empty());

        let (a, d) = (datetime(&r[adm]), datetime(&r[dis]));
        assert!(start <= a && a < d && d <= end, "{a} {d}");
        assert!(a.date() >= parsed.birth_date);
        let days = (d.date() - a.date()).num_days();
        let (t, f, p) = (cents(&r[total]), cents(&r[fund]), cents(&r[personal]));
        assert_eq!(f + p, t, "fees add up exactly");
        assert!(t > 0);
        if &r[vtype] == "住院" {
            assert!((1..=30).contains(&days));
            inpatient_fees.push(t);
        } else {
            assert_eq!(days, 0, "outpatient visits end the same day");
            outpatient_fees.push(t);
        }
    }
    let mean = |v: &[u64]| v.iter().sum::<u64>() / v.len().max(1) as u64;
    assert!(inpatient_fees.len() > 30 && outpatient_fees.len() > 1000);
    assert!(
        mean(&inpatient_fees) > 10 * mean(&outpatient_fees),
        "inpatient care costs much more"
    );
    assert!(
        persons.len() > 300 && persons.len() <= 1000,
        "pool of rows/3 persons: {}",
        persons.len()
    );
}

#[test]
fn special_diseases_appear_in_a_20k_sample() {
    let bytes = gen(Table::Visits, 20_000, 2024, None);
    let (h, recs) = records(&bytes);
    let code = col(&h, "diagnosis_code");
    let codes: HashSet<&str> = recs.iter().map(|r| r.get(code).unwrap()).collect();
    for c in [
        "B24", "B18.1", "B18.2", "A15.0", "A53.9", "C16.9", "C22.0", "C34.9", "C50.9", "C18.9",
        "F20.9", "F32.9", "F31.9", "F10.2", "O80.0", "N97.9",
    ] {
        assert!(codes.contains(c), "{c} missing from 20k visits");
    }
    let cats: HashSet<&str> = codes
        .iter()
        .filter_map(|c| special_disease_category(c))
        .collect();
    for c in icd10::SPECIAL_DISEASE_CATEGORIES {
        assert!(cats.contains(c), "category {c} missing");
    }
    let special = recs
        .iter()
        .filter(|r| special_disease_category(&r[code]).is_some())
        .count();
    assert!(
        special > 200 && special < 4000,
        "special diseases are rare but present: {special}"
    );
    // The commonest diagnoses lead.
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in &recs {
        *counts.entry(r.get(code).unwrap()).or_default() += 1;
    }
    let mut top: Vec<_> = counts.into_iter().collect();
    top.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let top5: Vec<&str> = top.iter().take(5).map(|(c, _)| *c).collect();
    assert!(top5.contains(&"I10") && top5.contains(&"J06.9"), "{top5:?}");
}

#[test]
fn compound_surnames_and_both_sexes_appear() {
    let bytes = gen(Table::Persons, 20_000, 8, None);
    let (h, recs) = records(&bytes);
    let (name, sex) = (col(&h, "person_name"), col(&h, "sex"));
    let compound: HashSet<&str> = [
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "令狐",
        "夏侯", "宇文", "司徒", "轩辕", "端木", "百里", "呼延", "南宫", "独孤",
    ]
    .into();
    let with_compound = recs
        .iter()
        .filter(|r| {
            reference::surname_of(&r[name]).is_some_and(|s| compound.contains(s))
                && r[name].chars().count() >= 3
        })
        .count();
    assert!(with_compound >= 10, "{with_compound}");
    let male = recs.iter().filter(|r| &r[sex] == "男").count();
    assert!((9_500..11_000).contains(&male), "{male}");
    let distinct: HashSet<&str> = recs.iter().map(|r| r.get(name).unwrap()).collect();
    assert!(distinct.len() > 5_000, "names vary: {}", distinct.len());
    // Bigger provinces have more people.
    let county = col(&h, "county_code");
    let guangdong = recs.iter().filter(|r| r[county].starts_with("44")).count();
    let tibet = recs.iter().filter(|r| r[county].starts_with("54")).count();
    assert!(guangdong > 10 * tibet, "{guangdong} vs {tibet}");
}

#[test]
fn tables_join_by_index() {
    let pool = Some(50);
    let (sh, settlements) = records(&gen(Table::Settlements, 300, 77, pool));
    let (vh, visits) = records(&gen(Table::Visits, 300, 77, pool));
    let (ph, persons) = records(&gen(Table::Persons, 50, 77, None));
    let person_by_id: HashMap<&str, &csv::StringRecord> =
        persons.iter().map(|r| (r.get(0).unwrap(), r)).collect();
    for (s, v) in settlements.iter().zip(&visits) {
        assert_eq!(s[0][1..], v[0][1..], "S and V ids share the number");
        for c in [
            "person_id",
            "institution_code",
            "department",
            "visit_type",
            "diagnosis_code",
            "admission_time",
            "total_fee",
            "fund_payment",
        ] {
            assert_eq!(s[col(&sh, c)], v[col(&vh, c)], "{c}");
        }
        let p = person_by_id[&s[col(&sh, "person_id")]];
        for c in [
            "person_name",
            "id_number",
            "sex",
            "birth_date",
            "mobile",
            "address",
            "county_code",
            "employer",
            "insurance_type",
        ] {
            assert_eq!(s[col(&sh, c)], p[col(&ph, c)], "{c}");
        }
    }

    let (lh, labs) = records(&gen(Table::Labs, 600, 77, pool));
    let visit_by_id: HashMap<&str, &csv::StringRecord> =
        visits.iter().map(|r| (r.get(0).unwrap(), r)).collect();
    let mut lab_ids = HashSet::new();
    for l in &labs {
        assert!(lab_ids.insert(l[0].to_string()));
        let v = visit_by_id
            .get(&l[col(&lh, "visit_id")])
            .unwrap_or_else(|| panic!("lab of an unknown visit {}", &l[1]));
        assert_eq!(l[col(&lh, "person_id")], v[col(&vh, "person_id")]);
        let t = datetime(&l[col(&lh, "sample_time")]);
        assert!(
            datetime(&v[col(&vh, "admission_time")]) <= t
                && t <= datetime(&v[col(&vh, "discharge_time")])
        );
    }
}

#[test]
fn lab_results_are_plausible() {
    let (h, labs) = records(&gen(Table::Labs, 5000, 3, None));
    let (code, name, value, unit, range) = (
        col(&h, "test_code"),
        col(&h, "test_name"),
        col(&h, "result_value"),
        col(&h, "unit"),
        col(&h, "reference_range"),
    );
    let mut seen = HashSet::new();
    for l in &labs {
        seen.insert(l[code].to_string());
        match &l[code] {
            "HGB" => {
                assert_eq!((&l[name], &l[unit]), ("血红蛋白", "g/L"));
                assert!(l[range] == *"130-175" || l[range] == *"115-150");
                let v: f64 = l[value].parse().unwrap();
                assert!((20.0..250.0).contains(&v), "{v}");
            }
            "GLU" => {
                assert_eq!(
                    (&l[name], &l[unit], &l[range]),
                    ("空腹血糖", "mmol/L", "3.9-6.1")
                );
                let v: f64 = l[value].parse().unwrap();
                assert!((2.0..30.0).contains(&v), "{v}");
            }
            "ALT" => assert_eq!(&l[unit], "U/L"),
            "HBsAg" | "Anti-HIV" | "TP-Ab" | "Anti-HCV" => {
                assert!(l[value] == *"阴性" || l[value] == *"阳性");
                assert_eq!(&l[range], "阴性");
            }
            _ => {
                let v: f64 = l[value]
                    .parse()
                    .unwrap_or_else(|_| panic!("{} = {}", &l[code], &l[value]));
                assert!(v >= 0.0);
                assert!(!l[unit].is_empty());
            }
        }
    }
    for c in ["WBC", "HGB", "PLT", "ALT", "CREA", "GLU", "TC"] {
        assert!(seen.contains(c), "{c} never ordered");
    }
}

#[test]
fn progress_is_reported() {
    let mut calls = Vec::new();
    let mut sink = std::io::sink();
    let rows = 2 * PROGRESS_EVERY + 5;
    let n = generate(
        &GenOptions {
            rows,
            seed: 1,
            table: Table::Persons,
            persons: None,
        },
        &mut sink,
        &mut |n| calls.push(n),
    )
    .unwrap();
    assert_eq!(n, rows);
    assert_eq!(calls, vec![PROGRESS_EVERY, 2 * PROGRESS_EVERY, rows]);
}

#[test]
fn writes_to_a_file_like_to_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.csv");
    let opts = GenOptions {
        rows: 100,
        seed: 12,
        table: Table::Settlements,
        persons: None,
    };
    let f = std::fs::File::create(&path).unwrap();
    generate(&opts, std::io::BufWriter::new(f), &mut |_| {}).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        gen(Table::Settlements, 100, 12, None)
    );
}

#[test]
fn zero_persons_is_refused_without_output() {
    let mut out = Vec::new();
    let err = generate(
        &GenOptions {
            rows: 10,
            seed: 1,
            table: Table::Visits,
            persons: Some(0),
        },
        &mut out,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("persons"));
    assert!(out.is_empty());
}
