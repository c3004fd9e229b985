//! `medspace scan --format table`: the classification as an aligned text table (GB/T 39725-2020
//! Table 1 categories in Chinese, §6.2 levels, Appendix G identifier kinds, DMS 4.2 classes).

use medspace_core::classification::DmsClass;
use medspace_core::{ColumnClassification, IdentifierKind};

use crate::report::{ColumnReport, ScanMode, ScanResult};
use crate::ScanReport;

/// Renders a report as a plain text table, one line per column, padded by display width (CJK
/// characters count two). Ends with a newline.
pub fn render_table(report: &ScanReport) -> String {
    let header = [
        "column",
        "semantic type",
        "category",
        "level",
        "identifier",
        "DMS",
        "confidence",
        "special diseases",
    ];
    let rows: Vec<[String; 8]> = report.columns.iter().map(row).collect();
    let mut widths = header.map(width);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(width(cell));
        }
    }
    let mut out = format!(
        "{} rows sampled, {} columns, highest level {}\n",
        report.rows_sampled,
        report.columns.len(),
        report.max_level().get()
    );
    push_line(&mut out, &header.map(str::to_string), &widths);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    push_line(&mut out, &rule, &widths);
    for r in &rows {
        push_line(&mut out, r, &widths);
    }
    out
}

fn row(c: &ColumnClassification) -> [String; 8] {
    [
        c.name.clone(),
        c.semantic_type.name(),
        c.category.name_zh().to_string(),
        c.level.get().to_string(),
        identifier_name(c.identifier_kind).to_string(),
        dms_name(c.dms_class).to_string(),
        format!("{:.2}", c.confidence),
        c.special_diseases.join(", "),
    ]
}

/// Renders a [`ScanResult`] as a text table with the same fields as the JSON report, one line
/// per column, then the notes of each column. Ends with a newline.
pub fn render_result_table(result: &ScanResult) -> String {
    let header = [
        "column",
        "semantic type",
        "identifier",
        "category",
        "level",
        "DMS",
        "special disease",
        "hidden",
        "confidence",
        "findings",
        "suggested action",
    ];
    let rows: Vec<[String; 11]> = result.columns.iter().map(result_row).collect();
    let mut widths = header.map(width);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(width(cell));
        }
    }
    let mode = match result.mode {
        ScanMode::Sampled => "sampled",
        ScanMode::Full => "full",
    };
    let read = if result.rows_scanned == result.rows_total {
        format!("{} rows", result.rows_scanned)
    } else {
        format!(
            "{} of {} rows (seeded random sample)",
            result.rows_scanned, result.rows_total
        )
    };
    let mut out = format!(
        "{mode} scan: {read}, {} columns, highest level {}\n",
        result.columns.len(),
        result.max_level
    );
    push_line(&mut out, &header.map(str::to_string), &widths);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    push_line(&mut out, &rule, &widths);
    for r in &rows {
        push_line(&mut out, r, &widths);
    }
    for c in &result.columns {
        for note in &c.findings.notes {
            push_line(&mut out, &[format!("note: {}: {note}", c.name)], &[0]);
        }
    }
    out
}

fn result_row(c: &ColumnReport) -> [String; 11] {
    let findings = if c.findings.counts.is_empty() {
        String::new()
    } else {
        c.findings
            .counts
            .iter()
            .map(|(k, n)| format!("{k}×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    [
        c.name.clone(),
        c.semantic_type.name(),
        identifier_name(c.identifier_kind).to_string(),
        c.category.name().to_string(),
        c.level.to_string(),
        dms_name(c.dms_class).to_string(),
        c.special_disease
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", "),
        if c.hidden_from_self_query { "yes" } else { "" }.to_string(),
        format!("{:.2}", c.confidence),
        findings,
        c.suggested_action.name().to_string(),
    ]
}

fn identifier_name(k: IdentifierKind) -> &'static str {
    match k {
        IdentifierKind::Direct => "direct",
        IdentifierKind::Quasi => "quasi",
        IdentifierKind::Sensitive => "sensitive",
        IdentifierKind::Other => "other",
    }
}

fn dms_name(d: DmsClass) -> &'static str {
    match d {
        DmsClass::C1 => "C1",
        DmsClass::C2 => "C2",
        DmsClass::C3 => "C3",
    }
}

fn push_line(out: &mut String, cells: &[String], widths: &[usize]) {
    let mut line = String::new();
    let last = cells.len().saturating_sub(1);
    for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
        // Control characters in a header name would break the layout; show them escaped.
        let shown: String = cell
            .chars()
            .flat_map(|c| {
                if c.is_control() {
                    c.escape_default().collect::<Vec<_>>()
                } else {
                    vec![c]
                }
            })
            .collect();
        line.push_str(&shown);
        if i < last {
            line.push_str(&" ".repeat(w.saturating_sub(width(&shown)) + 2));
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// Display width in terminal columns: East Asian wide and full-width characters count two.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let u = c as u32;
            let wide = matches!(u,
                0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
                | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60
                | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD);
            if wide {
                2
            } else {
                1
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify_column;

    #[test]
    fn aligned_table_with_cjk_names() {
        let report = ScanReport {
            columns: vec![
                classify_column("姓名", &["张伟", "王秀英", "李娜"]),
                classify_column("c5", &["B20.1", "I10"]),
                classify_column("c3", &[]),
            ],
            rows_sampled: 3,
        };
        let t = render_table(&report);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 6, "{t}");
        assert_eq!(
            lines.first().copied(),
            Some("3 rows sampled, 3 columns, highest level 5")
        );
        assert!(t.contains("person_name") && t.contains("个人属性数据") && t.contains("direct"));
        assert!(t.contains("hiv"));
        // The semantic-type column starts at the same display position on every row.
        let col_of = |line: &str, word: &str| line.find(word).map(|i| width(&line[..i]));
        let header = lines.get(1).copied().unwrap_or_default();
        let start = col_of(header, "semantic type");
        assert_eq!(
            col_of(lines.get(3).copied().unwrap_or_default(), "person_name"),
            start
        );
        assert_eq!(
            col_of(lines.get(4).copied().unwrap_or_default(), "diagnosis_code"),
            start
        );
        assert_eq!(
            col_of(lines.get(5).copied().unwrap_or_default(), "other"),
            start
        );
    }

    #[test]
    fn widths() {
        assert_eq!(width("abc"), 3);
        assert_eq!(width("姓名"), 4);
        assert_eq!(width("ａ"), 2);
    }
}
