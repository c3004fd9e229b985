//! `medspace deid` and `medspace risk`: de-identification of a file outside a node and the
//! re-identification risk of a file.
//!
//! GB/T 39725-2020 §10.2 (de-identification methods), §10.2 e) and §11.4.2.4 (k-anonymity, the
//! re-identification test after every de-identification: prosecutor, journalist and marketer
//! risk, sample and population uniques), Appendix G; T/CI 857-2024 6.5 (the report is the
//! de-identification log: policy hash, counts, levels, utility and risk, never keys or values).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use indicatif::ProgressBar;
use medspace_service::reexports::columnar::{
    is_parquet_file, plain_parquet_as_csv, plain_parquet_batches, TextBatchIter,
};
use medspace_service::reexports::deid::{
    deidentify_batches_with, deidentify_with, file_risk, DeidError, DeidKeys, DeidPolicy,
    Hierarchies, Progress, RunOptions, TextBatches, DEFAULT_RISK_THRESHOLD,
};

use crate::cli::{DeidArgs, Format, RiskArgs};
use crate::output;

/// Parses `--delimiter`: `,`, `;`, `tab` (or a literal tab) or `|`.
pub fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "," | "comma" => Ok(b','),
        ";" | "semicolon" => Ok(b';'),
        "\t" | "tab" | "\\t" => Ok(b'\t'),
        "|" | "pipe" => Ok(b'|'),
        other => Err(format!(
            "unknown delimiter `{other}`; expected `,`, `;`, `tab` or `|`"
        )),
    }
}

/// The input as the CSV text the engine reads: the file itself, or a plain Parquet file (known by
/// its magic bytes, not its name) rendered as comma-separated text batch by batch. Returns the
/// delimiter to use: `--delimiter` for CSV (or `None` to detect it), `,` for Parquet, where a
/// `--delimiter` is refused as meaningless.
fn input(path: &Path, delimiter: Option<u8>) -> Result<(Option<u8>, bool)> {
    let parquet =
        is_parquet_file(path).with_context(|| format!("cannot open {}", path.display()))?;
    if parquet && delimiter.is_some() {
        bail!(
            "{}: --delimiter applies to CSV input; this file is Parquet",
            path.display()
        );
    }
    Ok((if parquet { Some(b',') } else { delimiter }, parquet))
}

fn open_input(path: &PathBuf, parquet: bool) -> std::io::Result<Box<dyn Read>> {
    let file = File::open(path)?;
    if parquet {
        let csv = plain_parquet_as_csv(file).map_err(std::io::Error::other)?;
        Ok(Box::new(csv))
    } else {
        Ok(Box::new(file))
    }
}

/// A plain Parquet file as batches of text columns for the columnar engine.
fn open_batches(path: &Path) -> Result<TextBatches<'static>> {
    let file = File::open(path)?;
    let typed = plain_parquet_batches(file)?;
    let batches = TextBatchIter::new(&typed.schema(), typed)?;
    Ok(TextBatches {
        columns: batches.column_names(),
        batches: Box::new(
            batches.map(|b| b.map_err(|e| DeidError::Read(std::io::Error::other(e.to_string())))),
        ),
    })
}

/// The project the keys are derived for: `--project`, else the policy's `project`, else
/// `default`.
fn project<'a>(a: &'a DeidArgs, policy: &'a DeidPolicy) -> &'a str {
    a.project
        .as_deref()
        .or(policy.project())
        .unwrap_or("default")
}

pub fn deid_keys(a: &DeidArgs, project: &str) -> Result<DeidKeys> {
    use medspace_service::reexports::crypto::{FileKeyProvider, KeyProvider, SecretKey};
    let provider = match &a.key_file {
        Some(path) => {
            FileKeyProvider::open(path).with_context(|| format!("key file {}", path.display()))?
        }
        None => {
            eprintln!("note: no --key-file given; using one-off random keys, so pseudonyms and date shifts cannot be reproduced");
            FileKeyProvider::from_key(SecretKey::generate(), "ephemeral")
        }
    };
    let p = provider.derive("pseudonym", project.as_bytes())?;
    let d = provider.derive("date-shift", project.as_bytes())?;
    Ok(DeidKeys {
        pseudonym_key: *p.expose(),
        date_shift_key: *d.expose(),
        mac: a.profile.mac(),
    })
}

/// A terminal spinner showing the stage and the records processed.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn stage(&self, name: &str) {
        self.0.set_message(name.to_string());
        self.0.set_position(0);
    }
    fn rows(&self, rows: u64) {
        self.0.set_position(rows);
    }
}

pub fn deid(a: DeidArgs) -> Result<ExitCode> {
    // Everything about the policy is checked before any data is read.
    let text = std::fs::read_to_string(&a.policy)
        .with_context(|| format!("cannot read {}", a.policy.display()))?;
    let policy = DeidPolicy::parse(&text).map_err(|e| anyhow!("{}: {e}", a.policy.display()))?;
    let base = a
        .policy
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let hierarchies =
        Hierarchies::load(&policy, base).map_err(|e| anyhow!("{}: {e}", a.policy.display()))?;
    let keys = deid_keys(&a, project(&a, &policy))?;
    // The same file under another name (`./in.csv`, a link) counts too.
    let same_file = match (
        std::fs::canonicalize(&a.output),
        std::fs::canonicalize(&a.file),
    ) {
        (Ok(output), Ok(input)) => output == input,
        _ => false,
    };
    if a.output == a.file || same_file {
        bail!("the output must not overwrite the input");
    }
    let file = a.file.clone();
    let (delimiter, parquet) = input(&a.file, a.delimiter)?;
    // Fail early (before creating the output) when the input cannot be opened or, for Parquet,
    // when its schema has a column with no text form.
    if parquet {
        open_batches(&file).with_context(|| format!("cannot open {}", a.file.display()))?;
    } else {
        File::open(&file).with_context(|| format!("cannot open {}", a.file.display()))?;
    }
    // Write to a temporary file beside the output and rename, so a failure leaves no half file.
    let tmp = a.output.with_extension("partial");
    let out = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let bar = Bar(output::progress_bar(0, "de-identifying"));
    let options = RunOptions {
        optimize: a.optimize,
        local: a.local.then_some(true),
        delimiter,
        hierarchies: &hierarchies,
        progress: &bar,
        risk_threshold: DEFAULT_RISK_THRESHOLD,
        population: a.population,
    };
    let out = BufWriter::with_capacity(1 << 20, out);
    // Parquet goes to the columnar engine as Arrow batches; CSV is parsed by the CSV engine.
    let result = if parquet {
        let mut open = || {
            open_batches(&file).map_err(|e| DeidError::Read(std::io::Error::other(e.to_string())))
        };
        deidentify_batches_with(&policy, &keys, &mut open, out, &options)
    } else {
        let mut open = || File::open(&file);
        deidentify_with(&policy, &keys, &mut open, out, &options)
    };
    bar.0.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(anyhow!("{}: {e}", a.file.display()));
        }
    };
    std::fs::rename(&tmp, &a.output)?;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(r) = &a.report {
        std::fs::write(r, &json).with_context(|| format!("cannot write {}", r.display()))?;
    }
    match a.format {
        Format::Json => println!("{json}"),
        Format::Table => {
            print!("{}", output::deid_summary(&report));
            if !report.generalization.is_empty() {
                let levels: Vec<String> = report
                    .generalization
                    .iter()
                    .map(|(c, l)| format!("{c}={l}"))
                    .collect();
                println!("generalization levels: {}", levels.join(", "));
            }
            if let Some(u) = &report.utility {
                println!(
                    "utility: granularity {:.4}, discernibility {:.0}, aecs {:.2}, non-uniform entropy {:.4}; suppressed {} records",
                    u.granularity, u.discernibility, u.aecs, u.non_uniform_entropy, report.suppressed_records
                );
            }
            if let (Some(b), Some(r)) = (&report.risk_before, &report.risk_after) {
                println!(
                    "risk: highest prosecutor {:.4} → {:.4}, sample uniques {:.4} → {:.4}, records above {:.2}: {:.4} → {:.4}",
                    b.prosecutor_highest,
                    r.prosecutor_highest,
                    b.sample_uniques,
                    r.sample_uniques,
                    r.threshold,
                    b.records_above_threshold,
                    r.records_above_threshold
                );
            }
            println!("elapsed: {} ms", report.elapsed_ms);
        }
    }
    Ok(if report.k_anonymity.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

pub fn risk(a: RiskArgs) -> Result<ExitCode> {
    let qis: Vec<String> =
        a.qi.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
    if qis.is_empty() {
        bail!("--qi needs at least one column");
    }
    let (delimiter, parquet) = input(&a.file, a.delimiter)?;
    let file = open_input(&a.file, parquet)
        .with_context(|| format!("cannot open {}", a.file.display()))?;
    let bar = Bar(output::progress_bar(0, "reading"));
    let result = file_risk(
        BufReader::with_capacity(1 << 20, file),
        &qis,
        a.sensitive.as_deref(),
        delimiter,
        a.threshold,
        a.population,
        &bar,
    );
    bar.0.finish_and_clear();
    let out = result.map_err(|e| anyhow!("{}: {e}", a.file.display()))?;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&out)?),
        Format::Table => {
            let r = &out.risk;
            println!(
                "{}: {} records, {} equivalence classes over ({}), smallest {}",
                a.file.display(),
                out.records,
                out.equivalence_classes,
                out.quasi_identifiers.join(", "),
                out.smallest_class
            );
            println!(
                "prosecutor risk: highest {:.4}, average {:.4}, records above {:.2}: {:.4}",
                r.prosecutor_highest, r.prosecutor_average, r.threshold, r.records_above_threshold
            );
            println!(
                "journalist risk (sample as population): highest {:.4}; marketer risk {:.4}",
                r.journalist_highest, r.marketer
            );
            println!("sample uniques: {:.4}", r.sample_uniques);
            if let Some(p) = r.population_uniques_zayatz {
                println!("population uniques (Zayatz): {p:.4}");
            }
            if let Some(s) = &out.sensitive {
                println!(
                    "sensitive `{}`: distinct l = {}, entropy l = {:.3}",
                    s.column, s.distinct_l, s.entropy_l
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
