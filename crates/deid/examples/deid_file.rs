//! Benchmark driver: de-identifies a CSV file with a policy exactly as `medspace deid` does
//! (same engine call), or copies it through the same CSV reader and writer (`--copy`, the
//! plain read-and-write floor). GB/T 39725-2020 §10.2, Table 6; used by
//! `scripts/bench-deid-presidio.sh`.
//!
//! ```text
//! deid_file POLICY.toml IN.csv OUT.csv [--optimize] [--local] [--stages] [--arrow] [--national]
//! deid_file --copy IN.csv OUT.csv
//! ```
//!
//! `--arrow` runs the columnar engine instead: the CSV is first loaded into Arrow batches of
//! text columns in memory (8,192 rows each, as a Parquet reader would hand them over; this
//! load is timed and printed apart), then de-identified from those batches. Compare the
//! `ms` figure (the engine's own `elapsed_ms`) with the same run without `--arrow`.
//!
//! `--stages` prints the wall and CPU seconds (user + system, all threads) at which each
//! stage of the run began, and the run's search summary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter};
use std::path::Path;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use medspace_deid::{
    deidentify_batches_with, deidentify_with, detect_delimiter, DeidKeys, DeidPolicy, Hierarchies,
    NoProgress, Progress, RunOptions, TextBatches,
};

/// The CSV file as Arrow batches of text columns, read with Arrow's CSV reader.
fn text_batches(path: &str) -> Result<(Vec<String>, Vec<RecordBatch>), Box<dyn std::error::Error>> {
    let mut buffered = BufReader::with_capacity(1 << 20, File::open(path)?);
    let delimiter = detect_delimiter(buffered.fill_buf()?);
    let columns: Vec<String> = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_path(path)?
        .headers()?
        .iter()
        .map(String::from)
        .collect();
    let schema = std::sync::Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let reader = arrow::csv::ReaderBuilder::new(schema)
        .with_header(true)
        .with_delimiter(delimiter)
        .with_batch_size(8192)
        .build(buffered)?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok((columns, batches))
}

/// User + system CPU seconds of this process (all threads), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Prints when each stage begins.
struct Stages(Instant);

impl Progress for Stages {
    fn stage(&self, name: &str) {
        eprintln!(
            "  {:8.3} s wall {:7.2} s CPU: {name}",
            self.0.elapsed().as_secs_f64(),
            cpu_seconds()
        );
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Paths are the arguments that are not flags, wherever the flags are: a flag taken for the
    // input must not let the input be taken for the output and truncated.
    let paths: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    if args.iter().any(|a| a == "--copy") {
        let [input, output] = paths[..] else {
            return Err("usage: deid_file --copy IN.csv OUT.csv".into());
        };
        let mut buffered = BufReader::with_capacity(1 << 20, File::open(input)?);
        let delimiter = detect_delimiter(buffered.fill_buf()?);
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .from_reader(buffered);
        let mut writer =
            csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, File::create(output)?));
        writer.write_record(reader.headers()?)?;
        let mut record = csv::StringRecord::new();
        let mut n = 0u64;
        while reader.read_record(&mut record)? {
            writer.write_record(&record)?;
            n += 1;
        }
        writer.flush()?;
        eprintln!("copied {n} records");
        return Ok(());
    }
    let [policy_path, input, output] = paths[..] else {
        return Err("usage: deid_file POLICY.toml IN.csv OUT.csv [flags]".into());
    };
    let input = input.clone();
    // The input must open before the output is created (and possibly truncated).
    File::open(&input)?;
    let text = std::fs::read_to_string(policy_path)?;
    let policy = DeidPolicy::parse(&text)?;
    let base = Path::new(policy_path).parent().unwrap_or(Path::new("."));
    let hierarchies = Hierarchies::load(&policy, base)?;
    let stages = args.iter().any(|a| a == "--stages");
    let timer = Stages(Instant::now());
    let keys = DeidKeys {
        pseudonym_key: [7; 32],
        date_shift_key: [9; 32],
        // `--national`: HMAC-SM3, as a national-profile node keys its runs.
        mac: if args.iter().any(|a| a == "--national") {
            medspace_deid::MacAlgorithm::HmacSm3
        } else {
            medspace_deid::MacAlgorithm::HmacSha256
        },
    };
    let options = RunOptions {
        optimize: args.iter().any(|a| a == "--optimize"),
        local: args.iter().any(|a| a == "--local").then_some(true),
        delimiter: None,
        hierarchies: &hierarchies,
        progress: if stages { &timer } else { &NoProgress },
        risk_threshold: 0.2,
        population: None,
    };
    let out = BufWriter::with_capacity(1 << 20, File::create(output)?);
    let report = if args.iter().any(|a| a == "--arrow") {
        let loading = Instant::now();
        let (columns, batches) = text_batches(&input)?;
        eprintln!(
            "loaded {} batches into Arrow in {:.3} s",
            batches.len(),
            loading.elapsed().as_secs_f64()
        );
        let mut open = || {
            Ok(TextBatches {
                columns: columns.clone(),
                batches: Box::new(batches.clone().into_iter().map(Ok)),
            })
        };
        deidentify_batches_with(&policy, &keys, &mut open, out, &options)?
    } else {
        let mut open = || File::open(&input);
        deidentify_with(&policy, &keys, &mut open, out, &options)?
    };
    if stages {
        timer.stage("done");
        eprintln!(
            "  levels {:?}, search {:?}, granularity {:?}",
            report.generalization,
            report.search,
            report.utility.as_ref().map(|u| u.granularity)
        );
    }
    eprintln!(
        "{} rows in, {} out, k achieved {}, {} ms",
        report.rows_in, report.rows_out, report.k_achieved, report.elapsed_ms
    );
    Ok(())
}
