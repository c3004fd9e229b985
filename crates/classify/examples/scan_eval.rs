//! Prints the quality tables of `medspace scan` on the labelled corpus (issue 5 item 7;
//! GB/T 39725-2020 §6, Appendix G): per-type precision/recall/F1 over columns, accuracy per
//! corpus style, free-text span precision/recall, and scan throughput on the corpus.
//!
//! `cargo run --release -p medspace-classify --example scan_eval [ROWS] [SEED]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

#[path = "../tests/corpus/mod.rs"]
mod corpus;

use std::time::Instant;

use corpus::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(400);
    let seed: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_240_315);
    let files = corpus(rows, seed);
    let started = Instant::now();
    let outcomes = classify_corpus(&files);
    let took = started.elapsed();
    let pairs: Vec<(&str, &str)> = outcomes
        .iter()
        .map(|o| (o.truth.semantic_type, o.semantic_type.as_str()))
        .collect();
    let table = per_type(&pairs);
    println!(
        "{}",
        format_table(
            &format!(
                "## Columns: {} files, {} columns, {rows} rows each",
                files.len(),
                outcomes.len()
            ),
            &table
        )
    );
    let ids = total(&table, &IDENTIFIER_TYPES);
    println!(
        "structured identifier columns: precision {:.3} recall {:.3} F1 {:.3}\n",
        ids.precision(),
        ids.recall(),
        ids.f1()
    );
    println!("| corpus part | columns | semantic type + identifier kind right |\n|---|---|---|");
    for style in [Style::Generated, Style::Unseen, Style::Hard] {
        let of: Vec<&Outcome> = outcomes.iter().filter(|o| o.style == style).collect();
        let right = of.iter().filter(|o| o.right()).count();
        println!(
            "| {style:?} | {} | {right} ({:.1} %) |",
            of.len(),
            100.0 * right as f64 / of.len().max(1) as f64
        );
    }
    for o in outcomes.iter().filter(|o| !o.right()) {
        println!(
            "wrong: {}:{} truth {}/{} got {}/{}",
            o.file,
            o.column,
            o.truth.semantic_type,
            o.truth.identifier_kind,
            o.semantic_type,
            o.identifier_kind
        );
    }
    let failing: Vec<&Outcome> = outcomes.iter().filter(|o| o.failing_ids).collect();
    let called_ids = failing
        .iter()
        .filter(|o| o.semantic_type == "id_number")
        .count();
    println!(
        "\nfailing-checksum 18-digit columns: {}, called id_number: {called_ids}\n",
        failing.len()
    );
    let cases = text_cases(seed, 3000);
    let started = Instant::now();
    let spans = evaluate_spans(&cases);
    let span_time = started.elapsed();
    println!(
        "{}",
        format_table("## Identifiers inside free text (3000 complaints)", &spans)
    );
    let all = total(&spans, &[]);
    println!(
        "all free-text identifiers: precision {:.3} recall {:.3} F1 {:.3}",
        all.precision(),
        all.recall(),
        all.f1()
    );
    let bytes: usize = cases.iter().map(|c| c.text.len()).sum();
    println!(
        "\nclassified {} columns in {:.2} s; find_spans over {} KiB of complaints: {:.1} MB/s",
        outcomes.len(),
        took.as_secs_f64(),
        bytes / 1024,
        bytes as f64 / 1e6 / span_time.as_secs_f64()
    );
}
