//! Human-readable output: tables and progress bars.

use indicatif::{ProgressBar, ProgressStyle};
use medspace_core::ColumnClassification;
use medspace_service::reexports::deid::DeidReport;

/// A progress bar on a terminal, hidden otherwise. `len` 0 means an unknown total.
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = if len > 0 {
        ProgressBar::new(len)
    } else {
        ProgressBar::new_spinner()
    };
    let template = if len > 0 {
        "{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta})"
    } else {
        "{spinner} {msg} {pos} ({per_sec})"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// Pads by display width (CJK characters take two columns).
pub fn pad(s: &str, width: usize) -> String {
    let w: usize = s
        .chars()
        .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
        .sum();
    format!("{s}{}", " ".repeat(width.saturating_sub(w)))
}

/// The classification of each column as a table.
pub fn classification_table(cols: &[ColumnClassification]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "  {} {} {} {} {}\n",
        pad("column", 18),
        pad("semantic type", 16),
        pad("category", 20),
        pad("level", 6),
        "identifier"
    ));
    for c in cols {
        let kind = serde_json::to_value(c.identifier_kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let special = if c.special_diseases.is_empty() {
            String::new()
        } else {
            format!("  special diseases: {}", c.special_diseases.join(", "))
        };
        out.push_str(&format!(
            "  {} {} {} {} {}{}\n",
            pad(&c.name, 18),
            pad(&c.semantic_type.name(), 16),
            pad(c.category.name_zh(), 20),
            pad(&c.level.get().to_string(), 6),
            kind,
            special
        ));
    }
    out
}

/// A de-identification report as text.
pub fn deid_summary(r: &DeidReport) -> String {
    let k = &r.k_anonymity;
    let mut out = format!(
        "policy `{}` (sha256 {}…): {} rows in, {} rows out, {} output columns\n",
        r.policy_name,
        r.policy_sha256.get(..12).unwrap_or(&r.policy_sha256),
        r.rows_in,
        r.rows_out,
        r.output_columns.len()
    );
    out.push_str(&format!(
        "k-anonymity over ({}): k = {}, {} classes, smallest {}, {} classes below k ({} records) — {}\n",
        k.quasi_identifiers.join(", "),
        k.k,
        k.equivalence_classes,
        k.smallest_class,
        k.classes_below_k,
        k.records_in_classes_below_k,
        if k.passed { "PASSED" } else { "FAILED" }
    ));
    out
}
