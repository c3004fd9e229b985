//! `medspace scan FILE [--format table|json] [--full] [--sample-rows N] [--emit-policy P]`:
//! classification and grading of every column (GB/T 39725-2020 §6.1 Table 1, §6.2, §11.1.2.3,
//! §11.2.2.2, Appendix G; DMS 4.2.1; T/CI 857-2024 6.2) and, on request, a de-identification
//! policy draft for `medspace deid` (GB/T 39725-2020 §10.2, Table 6; T/CI 857-2024 6.5.2).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, Context, Result};
use indicatif::ProgressBar;
use medspace_service::reexports::classify::{self, DraftOptions, ScanConfig, DEFAULT_MAX_SPANS};
use medspace_service::reexports::deid;

use crate::cli::{Format, ScanArgs};
use crate::output;

/// Counts bytes read into a progress bar.
struct Progress<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// Runs `medspace scan`.
pub fn scan(a: ScanArgs) -> Result<ExitCode> {
    let file = File::open(&a.file).with_context(|| format!("cannot open {}", a.file.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let cfg = ScanConfig {
        sample_rows: a.sample_rows,
        full: a.full,
        max_spans: DEFAULT_MAX_SPANS,
        ..ScanConfig::default()
    };
    // Only a full scan reads enough to need a progress bar.
    let bar = if a.full {
        output::progress_bar(len, "scanning")
    } else {
        ProgressBar::hidden()
    };
    let reader = Progress {
        inner: BufReader::with_capacity(1 << 20, file),
        bar: bar.clone(),
    };
    let result = classify::scan_report(reader, &cfg)
        .with_context(|| format!("cannot scan {}", a.file.display()))?;
    bar.finish_and_clear();
    if let Some(path) = &a.emit_policy {
        let text = classify::draft_policy(
            &result,
            &DraftOptions {
                name: policy_name(&a.file),
                supported_actions: deid::ACTION_NAMES,
                reference_date: chrono::Local::now().date_naive().to_string(),
                k: deid::NODE_MIN_K,
            },
        )
        .context("cannot write a policy draft")?;
        // The draft must be usable by `medspace deid` as written.
        deid::DeidPolicy::parse(&text)
            .map_err(|e| anyhow!("the policy draft does not parse ({e}); this is a bug"))?;
        std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!(
            "wrote a de-identification policy draft to {}: review it before use",
            path.display()
        );
    }
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&result)?),
        Format::Table => print!("{}", classify::render_result_table(&result)),
    }
    Ok(ExitCode::SUCCESS)
}

/// `settlements.csv` → `settlements-draft`.
fn policy_name(file: &Path) -> String {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "scan".to_string());
    format!("{stem}-draft")
}
