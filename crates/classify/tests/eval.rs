//! Quality of `medspace scan` on the labelled corpus (`tests/corpus`): the correctness goals of
//! issue 5 item 7 (GB/T 39725-2020 §6, Appendix G Table G.1). Thresholds are about correctness,
//! never timing; `examples/scan_eval.rs` prints the same tables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod corpus;

use corpus::*;

const ROWS: u64 = 400;
const SEED: u64 = 20_240_315;

fn outcomes() -> Vec<Outcome> {
    classify_corpus(&corpus(ROWS, SEED))
}

fn wrong(outcomes: &[&Outcome]) -> Vec<String> {
    outcomes
        .iter()
        .filter(|o| !o.right())
        .map(|o| {
            format!(
                "{}:{} truth {}/{} got {}/{}",
                o.file,
                o.column,
                o.truth.semantic_type,
                o.truth.identifier_kind,
                o.semantic_type,
                o.identifier_kind
            )
        })
        .collect()
}

#[test]
fn structured_identifier_columns_reach_f1_098() {
    let all = outcomes();
    let pairs: Vec<(&str, &str)> = all
        .iter()
        .filter(|o| o.truth.semantic_type != "free_text")
        .map(|o| (o.truth.semantic_type, o.semantic_type.as_str()))
        .collect();
    let table = per_type(&pairs);
    let ids = total(&table, &IDENTIFIER_TYPES);
    println!("{}", format_table("columns", &table));
    assert!(ids.tp >= 40, "the corpus has identifier columns: {ids:?}");
    assert!(
        ids.f1() >= 0.98,
        "F1 {:.3} on identifier columns; wrong: {:#?}",
        ids.f1(),
        wrong(&all.iter().collect::<Vec<_>>())
    );
}

#[test]
fn unseen_style_files_get_95_percent_of_columns_right() {
    let all = outcomes();
    let unseen: Vec<&Outcome> = all.iter().filter(|o| o.style == Style::Unseen).collect();
    let right = unseen.iter().filter(|o| o.right()).count();
    let share = right as f64 / unseen.len() as f64;
    assert!(unseen.len() >= 150, "{}", unseen.len());
    assert!(
        share >= 0.95,
        "{right}/{} right ({share:.3}); wrong: {:#?}",
        unseen.len(),
        wrong(&unseen)
    );
}

#[test]
fn generated_and_hard_case_columns_are_right() {
    let all = outcomes();
    for style in [Style::Generated, Style::Hard] {
        let of_style: Vec<&Outcome> = all.iter().filter(|o| o.style == style).collect();
        let right = of_style.iter().filter(|o| o.right()).count();
        let share = right as f64 / of_style.len() as f64;
        assert!(
            share >= 0.95,
            "{style:?}: {right}/{} right; wrong: {:#?}",
            of_style.len(),
            wrong(&of_style)
        );
    }
}

#[test]
fn failing_checksum_columns_are_never_citizen_ids() {
    let all = outcomes();
    let failing: Vec<&Outcome> = all.iter().filter(|o| o.failing_ids).collect();
    assert!(
        failing.len() >= 2,
        "the corpus has failing-checksum columns"
    );
    for o in failing {
        assert_ne!(o.semantic_type, "id_number", "{}:{}", o.file, o.column);
        assert_ne!(o.identifier_kind, "direct", "{}:{}", o.file, o.column);
    }
}

#[test]
fn identifiers_inside_free_text_reach_recall_095() {
    let cases = text_cases(SEED, 3000);
    let table = evaluate_spans(&cases);
    println!("{}", format_table("free-text spans", &table));
    let all = total(&table, &[]);
    assert!(all.tp + all.fn_ >= 2000, "{all:?}");
    assert!(
        all.recall() >= 0.95,
        "recall {:.3}: {table:#?}",
        all.recall()
    );
    assert!(
        all.precision() >= 0.95,
        "precision {:.3}: {table:#?}",
        all.precision()
    );
    // Phones inside complaints specifically (the "must show").
    let phones = total(&table, &["mobile_phone"]);
    assert!(phones.recall() >= 0.98, "{phones:?}");
}

#[test]
fn free_text_columns_report_spans_and_counts() {
    let files = corpus(ROWS, SEED);
    let hard = files.iter().find(|f| f.style == Style::Hard).unwrap();
    let result = medspace_classify::scan_report(
        hard.to_csv().as_bytes(),
        &medspace_classify::ScanConfig::default(),
    )
    .unwrap();
    let notes = result.columns.iter().find(|c| c.name == "备注").unwrap();
    assert_eq!(notes.semantic_type.name(), "free_text");
    assert_eq!(notes.findings.cells_scanned, ROWS);
    assert!(
        notes
            .findings
            .counts
            .get("mobile_phone")
            .copied()
            .unwrap_or(0)
            > 10
    );
    assert!(!notes.findings.spans.is_empty());
    assert!(notes.findings.spans.len() <= medspace_classify::DEFAULT_MAX_SPANS);
    // Every listed span is inside its cell and has the listed type.
    let cells = &hard
        .columns
        .iter()
        .find(|c| c.name == "备注")
        .unwrap()
        .values;
    for s in &notes.findings.spans {
        let cell = &cells[(s.row - 1) as usize];
        let found = medspace_classify::find_spans(cell);
        assert!(
            found
                .iter()
                .any(|f| f.start == s.start && f.end == s.end && f.kind == s.kind),
            "{s:?}"
        );
    }
    // The failing-checksum column says why it is not a citizen ID.
    let lying = result
        .columns
        .iter()
        .find(|c| c.name == "id_number")
        .unwrap();
    assert!(
        lying.findings.notes.iter().any(|n| n.contains("GB 11643")),
        "{:?}",
        lying.findings.notes
    );
}
