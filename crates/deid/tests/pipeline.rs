//! End-to-end de-identification of CSV streams (GB/T 39725-2020 §10.2, Table 6, §11.4.2.4).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::io::Write;

use chrono::NaiveDate;
use medspace_deid::{
    deidentify, CellProblem, ColumnRole, DeidError, DeidKeys, DeidPolicy, DeidReport,
    TransformError,
};

const POLICY: &str = r#"name = "settlement-research"
k = 5
quasi_identifiers = ["sex", "birth_date", "county_code"]
subject_column = "id_number"
date_shift_max_days = 30
default_action = "drop"

[columns.person_name]
action = "drop"
[columns.id_number]
action = "pseudonymize"
prefix = "PID-"
[columns.mobile]
action = "mask"
keep_first = 3
keep_last = 4
[columns.address]
action = "mask"
keep_first = 6
[columns.sex]
action = "keep"
[columns.birth_date]
action = "age_band"
reference_column = "admission_time"
[columns.county_code]
action = "truncate"
length = 4
pad = "0"
[columns.admission_time]
action = "date_shift"
[columns.discharge_time]
action = "date_shift"
[columns.visit_date]
action = "year"
[columns.diagnosis_code]
action = "keep"
"#;

const HEADER: &str = "person_name,id_number,mobile,address,sex,birth_date,county_code,admission_time,discharge_time,visit_date,diagnosis_code,total_fee";

fn keys(seed: u8) -> DeidKeys {
    DeidKeys {
        pseudonym_key: [seed; 32],
        date_shift_key: [seed.wrapping_add(100); 32],
        mac: medspace_deid::MacAlgorithm::HmacSha256,
    }
}

/// Ten patients: five men aged 30–34 and five women aged 60–64 at admission, all in county 3301xx.
fn rows() -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..10u32 {
        let (sex, birth) = if i < 5 {
            ("男", format!("1990-0{}-15", i + 1))
        } else {
            ("女", format!("1960-0{}-01", i - 4))
        };
        out.push(format!(
            "张{i}明,33010619900101{i:04},1381234{i:04},浙江省杭州市西湖区文三路{i}号,{sex},{birth},33010{i},2024-03-0{} 08:30:00,2024-03-{} 10:00:00,2024-0{}-01,J18.9,123.50",
            i % 9 + 1,
            10 + i,
            i % 9 + 1
        ));
    }
    out
}

fn csv_of(lines: &[String]) -> String {
    let mut s = String::from(HEADER);
    for l in lines {
        s.push('\n');
        s.push_str(l);
    }
    s.push('\n');
    s
}

fn run(policy: &str, input: &str, seed: u8) -> Result<(DeidReport, Vec<Vec<String>>), DeidError> {
    let policy = DeidPolicy::parse(policy).unwrap();
    let mut out = Vec::new();
    let report = deidentify(&policy, &keys(seed), input.as_bytes(), &mut out)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(out.as_slice());
    let table = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    Ok((report, table))
}

fn col(table: &[Vec<String>], name: &str) -> Vec<String> {
    let i = table[0]
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    table[1..].iter().map(|r| r[i].clone()).collect()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(&s[..10], "%Y-%m-%d").unwrap()
}

#[test]
fn full_pipeline_transforms_every_column() {
    let input = csv_of(&rows());
    let (report, table) = run(POLICY, &input, 1).unwrap();
    assert_eq!(
        table[0],
        [
            "id_number",
            "mobile",
            "address",
            "sex",
            "birth_date",
            "county_code",
            "admission_time",
            "discharge_time",
            "visit_date",
            "diagnosis_code"
        ]
    );
    assert_eq!(table.len(), 11);
    assert_eq!(report.output_columns, table[0]);
    assert_eq!((report.rows_in, report.rows_out), (10, 10));

    let ids = col(&table, "id_number");
    assert!(
        ids.iter().all(|p| p.len() == 36 && p.starts_with("PID-")),
        "{ids:?}"
    );
    assert_eq!(
        ids.iter().collect::<std::collections::HashSet<_>>().len(),
        10
    );
    assert_eq!(col(&table, "mobile")[3], "138****0003");
    assert_eq!(col(&table, "address")[2], "浙江省杭州市********");
    assert_eq!(col(&table, "sex")[0], "男");
    let bands = col(&table, "birth_date");
    assert_eq!(&bands[..5], ["30-34"; 5]);
    assert_eq!(&bands[5..], ["60-64"; 5]);
    assert!(col(&table, "county_code").iter().all(|c| c == "330100"));
    assert_eq!(col(&table, "visit_date")[0], "2024");
    assert_eq!(col(&table, "diagnosis_code")[0], "J18.9");

    // Date shift: same subject, same offset; interval and time of day kept; offset within range.
    let adm = col(&table, "admission_time");
    let dis = col(&table, "discharge_time");
    let original: Vec<Vec<String>> = rows()
        .iter()
        .map(|r| r.split(',').map(str::to_string).collect())
        .collect();
    let mut offsets = std::collections::HashSet::new();
    for (i, row) in original.iter().enumerate() {
        let (a0, d0) = (&row[7], &row[8]);
        assert_eq!(
            date(&dis[i]) - date(&adm[i]),
            date(d0) - date(a0),
            "row {i}"
        );
        assert_eq!(&adm[i][10..], " 08:30:00");
        assert_eq!(&dis[i][10..], " 10:00:00");
        let offset = (date(&adm[i]) - date(a0)).num_days();
        assert!(offset != 0 && offset.abs() <= 30, "{offset}");
        offsets.insert(offset);
    }
    assert!(
        offsets.len() > 1,
        "different subjects should usually get different offsets"
    );

    // Report: actions in header order, defaults included, k check passes.
    let actions: Vec<(String, String)> = report
        .actions
        .iter()
        .map(|a| (a.column.clone(), a.action.clone()))
        .collect();
    assert_eq!(actions[0], ("person_name".to_string(), "drop".to_string()));
    assert_eq!(
        actions[1],
        ("id_number".to_string(), "pseudonymize".to_string())
    );
    assert_eq!(actions[11], ("total_fee".to_string(), "drop".to_string()));
    let k = &report.k_anonymity;
    assert_eq!(k.quasi_identifiers, ["sex", "birth_date", "county_code"]);
    assert_eq!(
        (
            k.k,
            k.equivalence_classes,
            k.smallest_class,
            k.classes_below_k
        ),
        (5, 2, 5, 0)
    );
    assert!(k.passed);
    assert_eq!(report.policy_name, "settlement-research");
    assert_eq!(
        report.policy_sha256,
        DeidPolicy::parse(POLICY).unwrap().sha256_hex()
    );
}

#[test]
fn same_subject_keeps_its_pseudonym_and_offset_across_rows_and_runs() {
    let mut lines = rows();
    // A second visit by patient 0, 100 days later.
    lines.push(
        lines[0]
            .replace("2024-03-01 08:30:00", "2024-06-09 08:30:00")
            .replace("2024-03-10 10:00:00", "2024-06-18 10:00:00"),
    );
    let (_, t1) = run(POLICY, &csv_of(&lines), 1).unwrap();
    let ids = col(&t1, "id_number");
    assert_eq!(ids[0], ids[10]);
    let adm = col(&t1, "admission_time");
    assert_eq!((date(&adm[10]) - date(&adm[0])).num_days(), 100);
    // Same keys: identical output. Other keys: different pseudonyms.
    let (_, again) = run(POLICY, &csv_of(&lines), 1).unwrap();
    assert_eq!(t1, again);
    let (_, t2) = run(POLICY, &csv_of(&lines), 2).unwrap();
    assert!(col(&t2, "id_number").iter().zip(&ids).all(|(a, b)| a != b));
}

#[test]
fn failing_k_check_is_reported_not_hidden() {
    let mut lines = rows();
    lines.truncate(9); // four women left: a class of 4 < 5
    let (report, table) = run(POLICY, &csv_of(&lines), 1).unwrap();
    assert_eq!(
        table.len(),
        10,
        "output is still written; the caller discards it"
    );
    let k = &report.k_anonymity;
    assert!(!k.passed);
    assert_eq!(
        (
            k.equivalence_classes,
            k.smallest_class,
            k.classes_below_k,
            k.records_in_classes_below_k
        ),
        (2, 4, 1, 4)
    );
}

#[test]
fn report_holds_no_keys_offsets_or_values() {
    let input = csv_of(&rows());
    let (report, _) = run(POLICY, &input, 1).unwrap();
    let json = serde_json::to_string(&report).unwrap();
    for secret in [
        "张0明",
        "330106199001010000",
        "13812340000",
        "文三路",
        "2024-03",
        "J18.9",
        "PID-",
    ] {
        assert!(!json.contains(secret), "{secret} leaked into {json}");
    }
    assert!(!json.contains(&hex::encode([1u8; 32])) && !json.contains(&hex::encode([101u8; 32])));
    assert!(!json.to_lowercase().contains("offset"));
    for field in [
        "policy_name",
        "policy_sha256",
        "rows_in",
        "rows_out",
        "output_columns",
        "actions",
        "k_anonymity",
        "records_in_classes_below_k",
        "passed",
    ] {
        assert!(json.contains(&format!("\"{field}\"")), "{field} missing");
    }
}

#[test]
fn header_only_input_is_fine() {
    let (report, table) = run(POLICY, &format!("{HEADER}\n"), 1).unwrap();
    assert_eq!(table.len(), 1);
    assert_eq!(report.rows_in, 0);
    assert!(report.k_anonymity.passed);
    assert_eq!(report.k_anonymity.equivalence_classes, 0);
}

#[test]
fn empty_input_has_no_header() {
    assert!(matches!(run(POLICY, "", 1), Err(DeidError::NoHeader)));
}

#[test]
fn empty_cells_stay_empty() {
    let line = ",,,,男,,,,,,,".to_string();
    let (_, table) = run(POLICY, &csv_of(&[line]), 1).unwrap();
    assert_eq!(table[1], ["", "", "", "男", "", "", "", "", "", ""]);
}

#[test]
fn bad_cell_names_line_and_column_never_the_value() {
    let mut lines = rows();
    lines[3] = lines[3].replace("2024-03-04 08:30:00", "4th of March");
    let err = run(POLICY, &csv_of(&lines), 1).unwrap_err();
    match &err {
        DeidError::Cell {
            line,
            column,
            problem,
        } => {
            assert_eq!(*line, 5); // header is line 1
                                  // birth_date's reference is read first, then admission_time itself.
            assert!(
                column == "birth_date" || column == "admission_time",
                "{column}"
            );
            assert!(matches!(
                problem,
                CellProblem::ReferenceInvalid {
                    problem: TransformError::NotADate,
                    ..
                } | CellProblem::Transform(TransformError::NotADate)
            ));
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(text.starts_with("input line 5, column `"), "{text}");
    assert!(!text.contains("March") && !text.contains("张3明"), "{text}");

    let mut lines = rows();
    lines[0] = lines[0].replace(",2024-01-01,", ",2024-13-01,");
    let err = run(POLICY, &csv_of(&lines), 1).unwrap_err();
    assert!(
        matches!(&err, DeidError::Cell { line: 2, column, problem: CellProblem::Transform(TransformError::NotADate) } if column == "visit_date"),
        "{err:?}"
    );
}

#[test]
fn birth_after_reference_and_empty_reference_and_subject() {
    let mut lines = rows();
    lines[0] = lines[0].replace("1990-01-15", "2025-01-15");
    let err = run(POLICY, &csv_of(&lines), 1).unwrap_err();
    assert!(
        matches!(
            err,
            DeidError::Cell {
                line: 2,
                problem: CellProblem::Transform(TransformError::BirthAfterReference),
                ..
            }
        ),
        "{err:?}"
    );

    let mut lines = rows();
    lines[1] = lines[1].replace("2024-03-02 08:30:00", "");
    let err = run(POLICY, &csv_of(&lines), 1).unwrap_err();
    assert!(
        matches!(&err, DeidError::Cell { line: 3, problem: CellProblem::ReferenceEmpty { reference }, .. } if reference == "admission_time"),
        "{err:?}"
    );

    let mut lines = rows();
    lines[2] = lines[2].replace("330106199001010002", "");
    let err = run(POLICY, &csv_of(&lines), 1).unwrap_err();
    assert!(
        matches!(&err, DeidError::Cell { line: 4, problem: CellProblem::SubjectEmpty { subject }, .. } if subject == "id_number"),
        "{err:?}"
    );
}

#[test]
fn missing_policy_column_names_it_and_the_header() {
    let input = csv_of(&rows()).replace("visit_date", "visit_day");
    let err = run(POLICY, &input, 1).unwrap_err();
    match &err {
        DeidError::MissingColumn {
            column,
            role,
            available,
        } => {
            assert_eq!(column, "visit_date");
            assert_eq!(role, &ColumnRole::PolicyColumn);
            assert!(
                available.contains("visit_day") && available.contains("person_name"),
                "{available}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("no column `visit_date`"));
}

#[test]
fn missing_subject_reference_and_quasi_identifier_columns() {
    let no_subject = POLICY.replace(
        "subject_column = \"id_number\"",
        "subject_column = \"patient_id\"",
    );
    let err = run(&no_subject, &csv_of(&rows()), 1).unwrap_err();
    assert!(
        matches!(&err, DeidError::MissingColumn { column, role: ColumnRole::SubjectColumn, .. } if column == "patient_id"),
        "{err:?}"
    );

    let no_ref = POLICY.replace(
        "reference_column = \"admission_time\"",
        "reference_column = \"visit_time\"",
    );
    let err = run(&no_ref, &csv_of(&rows()), 1).unwrap_err();
    assert!(
        matches!(&err, DeidError::MissingColumn { column, role: ColumnRole::ReferenceColumn(of), .. } if column == "visit_time" && of == "birth_date"),
        "{err:?}"
    );

    let keep = "name = \"p\"\nquasi_identifiers = [\"sex\", \"age\"]\ndefault_action = \"keep\"\n";
    let err = run(keep, &csv_of(&rows()), 1).unwrap_err();
    assert!(
        matches!(&err, DeidError::MissingColumn { column, role: ColumnRole::QuasiIdentifier, .. } if column == "age"),
        "{err:?}"
    );
}

#[test]
fn a_headerless_file_does_not_echo_its_first_record() {
    let input = rows().join("\n");
    let err = run(POLICY, &input, 1).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DeidError::MissingColumn { .. }));
    assert!(
        !text.contains("张0明") && !text.contains("330106199001010000"),
        "{text}"
    );
    assert!(text.contains("looks like a data record"), "{text}");
}

#[test]
fn malformed_csv_is_located() {
    let mut lines = rows();
    lines[4].push_str(",extra");
    let err = run(POLICY, &csv_of(&lines), 1).unwrap_err();
    assert!(
        matches!(&err, DeidError::Csv { line: 6, problem } if problem.contains("13 fields") && problem.contains("12")),
        "{err:?}"
    );

    let mut bytes = csv_of(&rows()).into_bytes();
    let pos = bytes.windows(3).position(|w| w == "张".as_bytes()).unwrap();
    bytes[pos] = 0xff;
    let policy = DeidPolicy::parse(POLICY).unwrap();
    let err = deidentify(&policy, &keys(1), bytes.as_slice(), Vec::new()).unwrap_err();
    assert!(
        matches!(&err, DeidError::Csv { line: 2, problem } if problem.contains("UTF-8")),
        "{err:?}"
    );

    let dup = csv_of(&rows()).replacen("total_fee", "sex", 1);
    let err = run(POLICY, &dup, 1).unwrap_err();
    assert!(
        matches!(err, DeidError::DuplicateColumn { position: 12 }),
        "{err:?}"
    );
}

#[test]
fn quoted_fields_and_multiline_records_round_trip() {
    let mut lines = rows();
    lines[0] = lines[0].replace(
        "浙江省杭州市西湖区文三路0号",
        "\"浙江省杭州市,\n西湖区\"\"文三路\"\"\"",
    );
    lines[1] = lines[1].replace("2024-03-02 08:30:00", "2024-03-02T08:30");
    let mut bad = lines.clone();
    bad[2] = bad[2].replace(",2024-03-01,", ",bad,");
    // The multi-line record makes every later record one line further down.
    let err = run(POLICY, &csv_of(&bad), 1).unwrap_err();
    assert!(matches!(err, DeidError::Cell { line: 5, .. }), "{err:?}");
    let (_, table) = run(POLICY, &csv_of(&lines), 1).unwrap();
    assert_eq!(col(&table, "address")[0], "浙江省杭州市**********");
    assert_eq!(&col(&table, "admission_time")[1][10..], "T08:30");
}

#[test]
fn utf8_bom_in_header_is_not_part_of_the_first_column() {
    let input = format!("\u{feff}{}", csv_of(&rows()));
    let (report, _) = run(POLICY, &input, 1).unwrap();
    assert_eq!(report.actions[0].column, "person_name");
}

#[test]
fn blank_and_keep_defaults() {
    let policy = "name = \"p\"\nquasi_identifiers = [\"sex\"]\ndefault_action = \"keep\"\nk = 2\n[columns.person_name]\naction = \"blank\"\n[columns.id_number]\naction = \"drop\"\n";
    let (report, table) = run(policy, &csv_of(&rows()), 1).unwrap();
    assert_eq!(table[0].len(), 11);
    assert!(col(&table, "person_name").iter().all(String::is_empty));
    assert_eq!(col(&table, "total_fee")[0], "123.50");
    assert_eq!(col(&table, "mobile")[0], "13812340000");
    assert_eq!(report.actions[0].action, "blank");
    assert_eq!(report.actions[11].action, "keep");
    assert!(report.k_anonymity.passed);
}

struct FailingWriter;
impl Write for FailingWriter {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk full"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Err(std::io::Error::other("disk full"))
    }
}

#[test]
fn write_failures_are_errors() {
    let policy = DeidPolicy::parse(POLICY).unwrap();
    let input = csv_of(&rows());
    let err = deidentify(&policy, &keys(1), input.as_bytes(), FailingWriter).unwrap_err();
    assert!(matches!(err, DeidError::Write(_)), "{err:?}");
}

#[test]
fn writes_to_a_file() {
    let policy = DeidPolicy::parse(POLICY).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.csv");
    let file = std::fs::File::create(&path).unwrap();
    let report = deidentify(
        &policy,
        &keys(1),
        csv_of(&rows()).as_bytes(),
        std::io::BufWriter::new(file),
    )
    .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count() as u64, report.rows_out + 1);
    assert!(!text.contains("张") && !text.contains("330106199001010000"));
}

#[test]
fn ff1_pseudonyms_keep_the_format_join_within_a_project_and_refuse_short_values() {
    let policy = POLICY.replace(
        "action = \"pseudonymize\"\nprefix = \"PID-\"",
        "action = \"pseudonymize\"\nformat = \"ff1\"",
    );
    let input = csv_of(&rows());
    let (_, a) = run(&policy, &input, 1).unwrap();
    let (_, again) = run(&policy, &input, 1).unwrap();
    let (_, other) = run(&policy, &input, 2).unwrap();
    let ids = col(&a, "id_number");
    let originals: Vec<String> = rows()
        .iter()
        .map(|r| r.split(',').nth(1).unwrap().to_string())
        .collect();
    for (p, o) in ids.iter().zip(&originals) {
        assert_eq!(p.len(), 18, "{p}");
        assert!(p.chars().all(|c| c.is_ascii_digit()), "{p}");
        assert_ne!(p, o, "the value is encrypted");
    }
    // Deterministic within a project (joins work), unrelated across projects, no collisions.
    assert_eq!(ids, col(&again, "id_number"));
    assert_ne!(ids, col(&other, "id_number"));
    let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len());
    // A prefix makes no sense with a format-preserving pseudonym; an unknown format is named.
    let bad = POLICY.replace("prefix = \"PID-\"", "prefix = \"PID-\"\nformat = \"ff1\"");
    assert!(DeidPolicy::parse(&bad)
        .unwrap_err()
        .to_string()
        .contains("prefix"));
    let bad = POLICY.replace("prefix = \"PID-\"", "format = \"fpe\"");
    assert!(DeidPolicy::parse(&bad)
        .unwrap_err()
        .to_string()
        .contains("format"));
    // Fewer than six digits: the run fails naming the line and column, and nothing is published.
    let mut short = rows();
    short[3] = short[3].replacen("330106199001010003", "P-123", 1);
    match run(&policy, &csv_of(&short), 1) {
        Err(DeidError::Cell {
            line,
            column,
            problem: CellProblem::Ff1(_),
        }) => {
            assert_eq!((line, column.as_str()), (5, "id_number"));
        }
        other => panic!("expected an FF1 cell error, got {other:?}"),
    }
}

/// The national profile's keys pseudonymise with HMAC-SM3 and shift dates by HMAC-SM3
/// offsets: the output's codes are those of `pseudonymize_with(HmacSm3, …)`, none equals the
/// HMAC-SHA-256 code of the same value under the same key, and the report names the MAC.
#[test]
fn national_keys_pseudonymize_with_hmac_sm3() {
    use medspace_deid::transform::pseudonymize_with;
    use medspace_deid::MacAlgorithm;
    let input = csv_of(&rows());
    let policy = DeidPolicy::parse(POLICY).unwrap();
    let run_with = |mac: MacAlgorithm| {
        let mut keys = keys(1);
        keys.mac = mac;
        let mut out = Vec::new();
        let report = deidentify(&policy, &keys, input.as_bytes(), &mut out).unwrap();
        let table: Vec<Vec<String>> = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(out.as_slice())
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        (report, table)
    };
    let (sm3_report, sm3) = run_with(MacAlgorithm::HmacSm3);
    let (sha_report, sha) = run_with(MacAlgorithm::HmacSha256);
    assert_eq!(sm3_report.mac, MacAlgorithm::HmacSm3);
    assert_eq!(sha_report.mac, MacAlgorithm::HmacSha256);
    let key = keys(1).pseudonym_key;
    let originals: Vec<String> = rows()
        .iter()
        .map(|r| r.split(',').nth(1).unwrap().to_string())
        .collect();
    let expected: Vec<String> = originals
        .iter()
        .map(|v| pseudonymize_with(MacAlgorithm::HmacSm3, &key, "PID-", v))
        .collect();
    assert_eq!(col(&sm3, "id_number"), expected);
    let sha_ids = col(&sha, "id_number");
    assert!(col(&sm3, "id_number").iter().all(|p| !sha_ids.contains(p)));
    // Offsets differ too (a subject's admission date moves by another number of days).
    assert_ne!(col(&sm3, "admission_time"), col(&sha, "admission_time"));
}

/// T/CI 857-2024 6.5.3: the report's parameter fingerprint is the same for the same policy
/// and keys, changes with either (and with the MAC), and reveals no key.
#[test]
fn the_parameter_fingerprint_names_policy_and_keys_without_revealing_them() {
    let input = csv_of(&rows());
    let (a, _) = run(POLICY, &input, 1).unwrap();
    let (again, _) = run(POLICY, &input, 1).unwrap();
    let (other_keys, _) = run(POLICY, &input, 2).unwrap();
    let (other_policy, _) = run(
        &POLICY.replace("settlement-research", "settlement-audit"),
        &input,
        1,
    )
    .unwrap();
    assert_eq!(a.parameter_fingerprint.len(), 64);
    assert_eq!(a.parameter_fingerprint, again.parameter_fingerprint);
    assert_ne!(a.parameter_fingerprint, other_keys.parameter_fingerprint);
    assert_ne!(a.parameter_fingerprint, other_policy.parameter_fingerprint);
    let policy = DeidPolicy::parse(POLICY).unwrap();
    let mut national = keys(1);
    national.mac = medspace_deid::MacAlgorithm::HmacSm3;
    assert_ne!(
        medspace_deid::parameter_fingerprint(&policy, &national),
        a.parameter_fingerprint
    );
    assert_eq!(
        medspace_deid::parameter_fingerprint(&policy, &keys(1)),
        a.parameter_fingerprint
    );
    let json = serde_json::to_string(&a).unwrap();
    for key in [keys(1).pseudonym_key, keys(1).date_shift_key] {
        assert!(!json.contains(&hex::encode(key)), "{json}");
        assert!(!a.parameter_fingerprint.contains(&hex::encode(&key[..4])));
    }
}
