//! Times `scan_report` on a CSV file, sampled and full, and CSV parsing alone, for the figures
//! of issue 5 item 8 (GB/T 39725-2020 §6 classification at scale).
//!
//! `cargo run --release -p medspace-classify --example scan_file FILE [--full] [--json OUT]`
//!
//! CSV parsing alone is timed twice: with `csv`'s `StringRecord` (a UTF-8 check per field), and
//! as the full scan reads (byte records, one UTF-8 check per record, [`TextRecord`]).
//!
//! Each phase prints its wall-clock time and, on Linux, the CPU seconds (user + system, all
//! threads) it used, read from `/proc/self/stat`: on a shared machine the CPU seconds are the
//! comparable figure.
//!
//! `--full-only` runs the full scan alone (for profiling it apart from the other phases).
//!
//! With `--json OUT` the full scan's report is written to `OUT`, so reports of two builds can be
//! compared (`cmp`): a faster scan must report exactly the same.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::fs::File;
use std::io::BufReader;
use std::time::Instant;

use medspace_classify::{scan_report, ScanConfig, TextRecord};

/// CPU seconds (user + system, all threads) used by this process so far, if `/proc` has them.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in brackets and may hold spaces): utime and stime
    // are fields 14 and 15 of the line, in clock ticks of 1/100 s on Linux.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU seconds used since `from`, as text.
fn cpu_since(from: Option<f64>) -> String {
    match (from, cpu_seconds()) {
        (Some(a), Some(b)) => format!(", {:.1} CPU s", b - a),
        _ => String::new(),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: scan_file FILE [--full | --full-only] [--json OUT]");
    let rest: Vec<String> = args.collect();
    let full_only = rest.iter().any(|a| a == "--full-only");
    let full = full_only || rest.iter().any(|a| a == "--full");
    let json = rest
        .iter()
        .position(|a| a == "--json")
        .map(|i| rest.get(i + 1).expect("--json OUT").clone());
    let size = std::fs::metadata(&path).unwrap().len() as f64;
    let open = || BufReader::with_capacity(1 << 20, File::open(&path).unwrap());

    let full_scan = || {
        let t = Instant::now();
        let cpu = cpu_seconds();
        let result = scan_report(
            open(),
            &ScanConfig {
                full: true,
                ..ScanConfig::default()
            },
        )
        .unwrap();
        let took = t.elapsed().as_secs_f64();
        println!(
            "full scan: {} rows in {took:.1} s{} = {:.1} MB/s",
            result.rows_scanned,
            cpu_since(cpu),
            size / 1e6 / took
        );
        if let Some(out) = &json {
            std::fs::write(out, serde_json::to_string_pretty(&result).unwrap()).unwrap();
        }
        result
    };
    if full_only {
        full_scan();
        return;
    }
    let t = Instant::now();
    let cpu = cpu_seconds();
    let sampled = scan_report(open(), &ScanConfig::default()).unwrap();
    println!(
        "sampled scan: {} rows in {:.3} s{} (file {:.0} MB)",
        sampled.rows_scanned,
        t.elapsed().as_secs_f64(),
        cpu_since(cpu),
        size / 1e6
    );
    if !full {
        return;
    }
    let t = Instant::now();
    let cpu = cpu_seconds();
    let mut reader = csv::Reader::from_reader(open());
    let mut record = csv::StringRecord::new();
    let mut rows = 0u64;
    while reader.read_record(&mut record).unwrap() {
        rows += 1;
    }
    let parse = t.elapsed().as_secs_f64();
    println!(
        "CSV parsing alone (StringRecord): {rows} rows in {parse:.1} s{} = {:.1} MB/s",
        cpu_since(cpu),
        size / 1e6 / parse
    );
    // The full scan's own reading: byte records, one UTF-8 check per record.
    let t = Instant::now();
    let cpu = cpu_seconds();
    let mut reader = csv::Reader::from_reader(open());
    let mut raw = csv::ByteRecord::new();
    let mut text = TextRecord::new();
    let mut rows = 0u64;
    while reader.read_byte_record(&mut raw).unwrap() {
        text.fill(&raw).unwrap();
        rows += 1;
    }
    let parse = t.elapsed().as_secs_f64();
    println!(
        "CSV parsing alone (as the full scan reads): {rows} rows in {parse:.1} s{} = {:.1} MB/s",
        cpu_since(cpu),
        size / 1e6 / parse
    );
    let result = full_scan();
    let same = sampled
        .columns
        .iter()
        .zip(&result.columns)
        .filter(|(a, b)| a.semantic_type == b.semantic_type)
        .count();
    println!(
        "columns with the same semantic type sampled and full: {same}/{}",
        result.columns.len()
    );
}
