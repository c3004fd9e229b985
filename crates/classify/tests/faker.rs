//! `medspace scan` on an outside corpus (issue 5, "files the team has never seen"): values from
//! Faker's zh_CN providers and mimesis's zh locale (third-party generators), written by
//! `scripts/faker_corpus.py` with its
//! defaults into `tests/faker/` together with the truth of every column. The headers are Chinese,
//! English, pinyin initials, and opaque `field_NN` names where only the values can decide.
//! Thresholds are about correctness, never timing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;

struct Truth {
    file: String,
    column: String,
    semantic_type: String,
    identifier_kind: String,
}

fn corpus_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/faker"))
}

fn truth() -> Vec<Truth> {
    let mut reader = csv::Reader::from_path(corpus_dir().join("truth.csv")).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            Truth {
                file: r[0].to_string(),
                column: r[1].to_string(),
                semantic_type: r[2].to_string(),
                identifier_kind: r[3].to_string(),
            }
        })
        .collect()
}

/// (file, column) → (semantic type, identifier kind, findings) as `scan --format json` gives them.
fn scanned(files: &[&str]) -> BTreeMap<(String, String), serde_json::Value> {
    let mut out = BTreeMap::new();
    for file in files {
        let bytes = std::fs::read(corpus_dir().join(file)).unwrap();
        let result = medspace_classify::scan_report(
            bytes.as_slice(),
            &medspace_classify::ScanConfig::default(),
        )
        .unwrap();
        let json = serde_json::to_value(&result).unwrap();
        for column in json["columns"].as_array().unwrap() {
            let name = column["name"].as_str().unwrap().to_string();
            out.insert((file.to_string(), name), column.clone());
        }
    }
    out
}

/// Columns the scan gets wrong, with the reason (none at present).
const KNOWN_MISSES: &[&str] = &[];

#[test]
fn faker_files_get_95_percent_of_columns_right() {
    let truth = truth();
    let mut files: Vec<&str> = truth.iter().map(|t| t.file.as_str()).collect();
    files.dedup();
    assert_eq!(files.len(), 5, "{files:?}");
    let got = scanned(&files);
    let mut wrong = Vec::new();
    for t in &truth {
        let c = &got[&(t.file.clone(), t.column.clone())];
        let pair = (
            c["semantic_type"].as_str().unwrap(),
            c["identifier_kind"].as_str().unwrap(),
        );
        if pair != (t.semantic_type.as_str(), t.identifier_kind.as_str()) {
            wrong.push(format!(
                "{}:{} truth {}/{} got {}/{}",
                t.file, t.column, t.semantic_type, t.identifier_kind, pair.0, pair.1
            ));
        }
    }
    let right = truth.len() - wrong.len();
    println!("{right}/{} columns right; wrong: {wrong:#?}", truth.len());
    assert!(
        right * 100 >= truth.len() * 95,
        "{right}/{} columns right; wrong: {wrong:#?}",
        truth.len()
    );
    // Nothing else may go wrong than the known misses: a regression anywhere fails here even
    // while the share stays above 95 %.
    let unexplained: Vec<&String> = wrong
        .iter()
        .filter(|w| !KNOWN_MISSES.iter().any(|k| w.starts_with(k)))
        .collect();
    assert!(unexplained.is_empty(), "{unexplained:#?}");
    // Every direct identifier is found as one, whatever the header says.
    for t in truth.iter().filter(|t| t.identifier_kind == "direct") {
        let c = &got[&(t.file.clone(), t.column.clone())];
        assert_eq!(c["identifier_kind"], "direct", "{}:{}", t.file, t.column);
    }
}

/// The complaints carry phone and ID numbers in some rows (written by the generator after the
/// sentence): the scan finds them as spans in every free-text column, with or without a header.
#[test]
fn identifiers_inside_faker_complaints_are_found() {
    let truth = truth();
    let text_columns: Vec<&Truth> = truth
        .iter()
        .filter(|t| t.semantic_type == "free_text")
        .collect();
    assert_eq!(text_columns.len(), 3);
    for t in text_columns {
        let mut reader = csv::Reader::from_path(corpus_dir().join(&t.file)).unwrap();
        let index = reader
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == t.column)
            .unwrap();
        let (mut phones, mut ids) = (0, 0);
        for record in reader.records() {
            let value = record.unwrap()[index].to_string();
            let spans = medspace_classify::find_spans(&value);
            let kinds: Vec<&str> = spans.iter().map(|f| f.kind.name()).collect();
            if let Some(at) = value.find("联系电话") {
                let number = &value[at + "联系电话".len()..at + "联系电话".len() + 11];
                assert!(
                    spans
                        .iter()
                        .any(|f| &value[f.start..f.end] == number
                            && f.kind.name().ends_with("_phone")),
                    "{}:{}: {kinds:?}",
                    t.file,
                    t.column
                );
                phones += 1;
            }
            if let Some(at) = value.find("身份证号") {
                let number = &value[at + "身份证号".len()..at + "身份证号".len() + 18];
                assert!(
                    spans
                        .iter()
                        .any(|f| &value[f.start..f.end] == number && f.kind.name() == "id_number"),
                    "{}:{}: {kinds:?}",
                    t.file,
                    t.column
                );
                ids += 1;
            }
        }
        assert!(
            phones > 50 && ids > 20,
            "{}: {phones} phones, {ids} IDs",
            t.file
        );
    }
}
