//! `medspace scan`: classify every column of a CSV file from its header and a sample of rows
//! (GB/T 39725-2020 §6 data classification and grading; T/CI 857-2024 6.2.2 catalogue fields).
//!
//! The CSV is parsed by the `csv` crate (RFC 4180: quoted fields, embedded separators and line
//! breaks). Every record must have as many fields as the header. Errors give the line and field
//! and what was expected, never the content of a cell.

use std::io::Read;

use medspace_core::{ColumnClassification, SemanticType};

use crate::freetext::{find_spans, Finding};
use crate::mapping::{self, Kind};
use crate::memo::Memo;
use crate::report::{is_hidden_from_self_query, ColumnReport, Findings, ScanMode, ScanResult};
use crate::sample::{Reservoir, DEFAULT_SAMPLE_SEED};
use crate::text_record::TextRecord;
use crate::values::{Stats, StatsBuilder};
use crate::{classify_column, decide, header, special, ScanOptions, ScanReport};

/// Why a CSV could not be scanned. Messages name lines and columns, never cell values.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The input has no header row.
    #[error("no header row: expected a first line naming the columns")]
    NoHeader,
    /// A record has a different number of fields than the header.
    #[error("{}: record has {found} fields, expected {expected} (one per header column)", at_line(*.line))]
    FieldCount {
        /// 1-based line where the record starts, if known.
        line: Option<u64>,
        /// Fields in the header.
        expected: u64,
        /// Fields in the record.
        found: u64,
    },
    /// A field is not valid UTF-8.
    #[error(
        "{}, column {column}{}: invalid UTF-8; expected UTF-8 text (convert GBK/GB18030 files first, e.g. `iconv -f GB18030 -t UTF-8`)",
        at_line(*.line),
        fmt_column(.column_name.as_deref())
    )]
    Encoding {
        /// 1-based line where the record starts, if known.
        line: Option<u64>,
        /// 1-based column number.
        column: u64,
        /// Header name of that column, when the error is past the header.
        column_name: Option<String>,
    },
    /// The input could not be read.
    #[error("cannot read input: {0}")]
    Io(#[source] std::io::Error),
    /// Any other CSV syntax error.
    #[error("{}: malformed CSV; expected RFC 4180 records", at_line(*.line))]
    Malformed {
        /// 1-based line, if known.
        line: Option<u64>,
    },
}

fn at_line(line: Option<u64>) -> String {
    match line {
        Some(l) => format!("line {l}"),
        None => "unknown line".to_string(),
    }
}

fn fmt_column(name: Option<&str>) -> String {
    match name {
        Some(n) => format!(" (`{n}`)"),
        None => String::new(),
    }
}

impl ScanError {
    /// The 1-based line the error is on, if known.
    pub fn line(&self) -> Option<u64> {
        match self {
            ScanError::FieldCount { line, .. }
            | ScanError::Encoding { line, .. }
            | ScanError::Malformed { line } => *line,
            ScanError::NoHeader | ScanError::Io(_) => None,
        }
    }

    /// Field `field` (0-based) of the record at `line` is not UTF-8; `headers` name the column.
    fn encoding(line: Option<u64>, field: usize, headers: &[String]) -> ScanError {
        ScanError::Encoding {
            line,
            column: field as u64 + 1,
            column_name: headers.get(field).cloned(),
        }
    }

    /// Maps a `csv` error, keeping positions and dropping anything else.
    fn from_csv(err: csv::Error, headers: &[String]) -> ScanError {
        let line = err.position().map(csv::Position::line);
        match err.into_kind() {
            csv::ErrorKind::Io(e) => ScanError::Io(e),
            csv::ErrorKind::UnequalLengths {
                pos,
                expected_len,
                len,
            } => ScanError::FieldCount {
                line: pos.map(|p| p.line()).or(line),
                expected: expected_len,
                found: len,
            },
            csv::ErrorKind::Utf8 { pos, err } => {
                ScanError::encoding(pos.map(|p| p.line()).or(line), err.field(), headers)
            }
            _ => ScanError::Malformed { line },
        }
    }
}

/// Reads the header and up to `opts.sample_rows` records of a CSV and classifies each column
/// with [`classify_column`]. The rest of the input is not read.
pub fn scan_csv<R: Read>(input: R, opts: &ScanOptions) -> Result<ScanReport, ScanError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(input);
    let names: Vec<String> = reader
        .headers()
        .map_err(|e| ScanError::from_csv(e, &[]))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    if names.is_empty() {
        return Err(ScanError::NoHeader);
    }
    let mut columns: Vec<Vec<String>> = vec![Vec::new(); names.len()];
    let mut record = csv::StringRecord::new();
    let mut rows: u64 = 0;
    let mut remaining = opts.sample_rows;
    while remaining > 0 {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(ScanError::from_csv(e, &names)),
        }
        for (column, field) in columns.iter_mut().zip(record.iter()) {
            if !field.trim().is_empty() {
                column.push(field.to_string());
            }
        }
        rows += 1;
        remaining -= 1;
    }
    let columns = names
        .iter()
        .zip(&columns)
        .map(|(name, values)| {
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            classify_column(name, &refs)
        })
        .collect();
    Ok(ScanReport {
        columns,
        rows_sampled: rows,
    })
}

/// Rows read by a sampled scan unless told otherwise.
pub const DEFAULT_SAMPLE_ROWS: usize = 2000;
/// Spans listed per column in `findings.spans` unless told otherwise.
pub const DEFAULT_MAX_SPANS: usize = 20;

/// Options of [`scan_report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanConfig {
    /// Rows a sampled scan classifies (default [`DEFAULT_SAMPLE_ROWS`]); a full scan decides
    /// provisional types from these rows before reading the rest.
    pub sample_rows: usize,
    /// Read and test every row.
    pub full: bool,
    /// Spans listed per column (counts cover all of them).
    pub max_spans: usize,
    /// Seed of the reservoir sample of a sampled scan (default [`DEFAULT_SAMPLE_SEED`]): the
    /// same file and seed always give the same report.
    pub seed: u64,
}

impl Default for ScanConfig {
    fn default() -> Self {
        ScanConfig {
            sample_rows: DEFAULT_SAMPLE_ROWS,
            full: false,
            max_spans: DEFAULT_MAX_SPANS,
            seed: DEFAULT_SAMPLE_SEED,
        }
    }
}

/// What a column accumulates while the file is read.
#[derive(Debug, Default)]
struct ColumnAcc {
    stats: StatsBuilder,
    /// Sampled values with their data row, kept until the provisional decision.
    sample: Vec<(u64, String)>,
    special: Vec<&'static str>,
    hidden: bool,
    findings: Findings,
    /// What the value scans found in the values already scanned.
    cells: Memo<CellScan>,
}

/// What the value scans of [`Needs`] find in one cell.
#[derive(Debug, Clone, Default)]
struct CellScan {
    special: Vec<&'static str>,
    hidden: bool,
    spans: Vec<Finding>,
}

impl CellScan {
    /// Scans `value` (`v` trimmed, not empty). `hidden` is only looked for if `want_hidden`.
    fn of(needs: Needs, value: &str, v: &str, want_hidden: bool) -> CellScan {
        let mut scan = CellScan::default();
        if needs.special {
            special::scan_value(v, needs.negations, &mut scan.special);
        }
        if want_hidden {
            scan.hidden = is_hidden_from_self_query(v);
        }
        if needs.spans {
            scan.spans = find_spans(value);
        }
        scan
    }
}

/// Which value scans a kind of column needs.
#[derive(Debug, Clone, Copy)]
struct Needs {
    special: bool,
    negations: bool,
    hidden: bool,
    spans: bool,
}

fn needs(kind: Kind) -> Needs {
    let s = kind.semantic_type();
    let text = matches!(s, SemanticType::FreeText | SemanticType::Other);
    Needs {
        special: mapping::may_hold_special_diseases(kind),
        negations: s == SemanticType::FreeText,
        hidden: text
            || matches!(
                s,
                SemanticType::DiagnosisCode | SemanticType::DiagnosisName | SemanticType::LabResult
            ),
        spans: text,
    }
}

impl ColumnAcc {
    fn scan_cell(&mut self, needs: Needs, row: u64, value: &str, max_spans: usize) {
        if !(needs.special || needs.hidden || needs.spans) {
            return;
        }
        let v = crate::values::trim(value);
        if v.is_empty() {
            return;
        }
        let ColumnAcc {
            special,
            hidden,
            findings,
            cells,
            ..
        } = self;
        let want_hidden = needs.hidden && !*hidden;
        let mut apply = |scan: &CellScan| {
            for c in &scan.special {
                if !special.contains(c) {
                    special.push(c);
                }
            }
            *hidden |= scan.hidden;
            if needs.spans {
                findings.add_cell(row, &scan.spans, max_spans);
            }
        };
        if cells.is_off() {
            // Without a memo, §11.2.2.2 content is looked for only until the column has some.
            apply(&CellScan::of(needs, value, v, want_hidden));
        } else {
            // The scans depend on the raw value alone (spans are offsets into it).
            cells.with(value, || CellScan::of(needs, value, v, needs.hidden), apply);
        }
    }
}

/// Opens a CSV reader and reads its header (BOM stripped).
fn open_csv<R: Read>(input: R) -> Result<(csv::Reader<R>, Vec<String>), ScanError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(input);
    let names: Vec<String> = reader
        .headers()
        .map_err(|e| ScanError::from_csv(e, &[]))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_string())
        .collect();
    if names.is_empty() {
        return Err(ScanError::NoHeader);
    }
    Ok((reader, names))
}

/// Scans a CSV and reports every column with the keys of `medspace scan --format json`
/// ([`ColumnReport`]).
///
/// A sampled scan (the default) reads every record — checking that each has one field per header
/// column — and classifies a seeded uniform sample of [`ScanConfig::sample_rows`] of them
/// ([`Reservoir`]; only the sampled records are decoded as UTF-8), so sorted files are graded on
/// rows from all of the file rather than its first rows. A full scan decides provisional types
/// from the first [`ScanConfig::sample_rows`] rows, then reads every row, testing each value,
/// finding special diseases, §11.2.2.2 content and embedded identifiers in every cell of the
/// columns that can hold them, and decides the final types from the statistics of all rows.
pub fn scan_report<R: Read + Send>(input: R, cfg: &ScanConfig) -> Result<ScanResult, ScanError> {
    if cfg.full {
        return scan_full(input, cfg);
    }
    let (mut reader, names) = open_csv(input)?;
    let mut reservoir: Reservoir<Vec<String>> = Reservoir::new(cfg.sample_rows, cfg.seed);
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(ScanError::from_csv(e, &names)),
        }
        let mut failed = None;
        reservoir.offer_with(|| {
            let line = record.position().map(csv::Position::line);
            let mut fields = Vec::with_capacity(record.len());
            for (i, f) in record.iter().enumerate() {
                match std::str::from_utf8(f) {
                    Ok(v) => fields.push(v.to_string()),
                    Err(_) => {
                        failed = Some(ScanError::encoding(line, i, &names));
                        break;
                    }
                }
            }
            fields
        });
        if let Some(e) = failed {
            return Err(e);
        }
    }
    let rows_total = reservoir.seen();
    let sample = reservoir.into_sorted();
    Ok(scan_sample(&names, &sample, rows_total, cfg.max_spans).result)
}

/// A sampled scan's report together with the classification of each column as stored in the
/// catalog (`medspace_core::ColumnClassification`, which keeps types the report vocabulary folds
/// into `other`, such as biometric data).
#[derive(Debug, Clone, PartialEq)]
pub struct SampleScan {
    /// The report, as `medspace scan --format json` prints it.
    pub result: ScanResult,
    /// The classification of each column, in header order.
    pub classification: Vec<ColumnClassification>,
}

/// Classifies every column from a sample of rows (`(1-based data row, fields)`, fields in header
/// order) drawn from `rows_total` rows: the report of a sampled scan. Ingest calls this with the
/// reservoir sample it keeps while it reads, so what the security officer confirms is exactly
/// what `medspace scan` prints for the same sample.
pub fn scan_sample(
    names: &[String],
    sample: &[(u64, Vec<String>)],
    rows_total: u64,
    max_spans: usize,
) -> SampleScan {
    let mut columns = Vec::with_capacity(names.len());
    let mut classification = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let mut builder = StatsBuilder::default();
        for (_, row) in sample {
            builder.add(row.get(i).map(String::as_str).unwrap_or(""));
        }
        let stats = builder.finish();
        let (kind, confidence) = decide::decide_stats(name, &stats);
        let n = needs(kind);
        let mut acc = ColumnAcc::default();
        for (row_no, row) in sample {
            if let Some(v) = row.get(i) {
                acc.scan_cell(n, *row_no, v, max_spans);
            }
        }
        special::sort_categories(&mut acc.special);
        let graded = crate::graded(name, kind, confidence, &acc.special);
        let mut findings = acc.findings;
        findings.notes = notes(name, kind, &stats);
        columns.push(ColumnReport::new(
            &graded,
            kind,
            &acc.special,
            acc.hidden && n.hidden,
            findings,
        ));
        classification.push(graded);
    }
    let max_level = columns.iter().map(|c| c.level).max().unwrap_or(1);
    SampleScan {
        result: ScanResult {
            mode: ScanMode::Sampled,
            rows_scanned: sample.len() as u64,
            rows_total,
            max_level,
            columns,
        },
        classification,
    }
}

/// The full scan of [`scan_report`].
fn scan_full<R: Read + Send>(input: R, cfg: &ScanConfig) -> Result<ScanResult, ScanError> {
    let (mut reader, names) = open_csv(input)?;
    let mut accs: Vec<ColumnAcc> = names.iter().map(|_| ColumnAcc::default()).collect();
    let mut record = csv::StringRecord::new();
    let mut rows: u64 = 0;
    while (rows as usize) < cfg.sample_rows {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(ScanError::from_csv(e, &names)),
        }
        rows += 1;
        for (acc, field) in accs.iter_mut().zip(record.iter()) {
            acc.stats.add(field);
            if !field.trim().is_empty() {
                acc.sample.push((rows, field.to_string()));
            }
        }
    }
    // Provisional decision from the first rows, and the value scans it calls for.
    let mut plan: Vec<Needs> = Vec::with_capacity(names.len());
    for (name, acc) in names.iter().zip(accs.iter_mut()) {
        let (kind, _) = decide::decide_stats(name, &acc.stats.finish());
        let n = needs(kind);
        let sample = std::mem::take(&mut acc.sample);
        for (row, v) in &sample {
            acc.scan_cell(n, *row, v, cfg.max_spans);
        }
        plan.push(n);
    }
    rows += test_rest(reader, &names, &mut accs, &plan, rows, cfg.max_spans)?;
    let mut columns = Vec::with_capacity(names.len());
    for (name, mut acc) in names.iter().zip(accs) {
        let stats = acc.stats.finish();
        let (kind, confidence) = decide::decide_stats(name, &stats);
        let n = needs(kind);
        if !n.special {
            acc.special.clear();
        }
        special::sort_categories(&mut acc.special);
        let graded = crate::graded(name, kind, confidence, &acc.special);
        let mut findings = acc.findings;
        findings.notes = notes(name, kind, &stats);
        columns.push(ColumnReport::new(
            &graded,
            kind,
            &acc.special,
            acc.hidden && n.hidden,
            findings,
        ));
    }
    let max_level = columns.iter().map(|c| c.level).max().unwrap_or(1);
    Ok(ScanResult {
        mode: ScanMode::Full,
        rows_scanned: rows,
        rows_total: rows,
        max_level,
        columns,
    })
}

/// Records a full scan hands from the reading thread to the testing threads at a time. Each
/// column is a pass over the chunk, reading one field of every record: a chunk small enough to
/// stay in a core's cache (512 settlement records ≈ 250 KB with their field bounds) is fetched
/// from the reading thread's core once, not once per column. With 4,096 records (1.2 MB) the
/// first read of each cell was a cache miss and the largest single cost of a full scan.
const CHUNK_ROWS: usize = 512;

/// Reads the records after row `done` and tests every value: one thread parses the CSV while the
/// columns of the previous chunk are tested in parallel (rayon), so a full scan uses every core.
/// Each column still sees its rows in file order, so the report is the same as a sequential
/// scan's. Returns the number of records read.
fn test_rest<R: Read + Send>(
    mut reader: csv::Reader<R>,
    names: &[String],
    accs: &mut [ColumnAcc],
    plan: &[Needs],
    done: u64,
    max_spans: usize,
) -> Result<u64, ScanError> {
    use rayon::prelude::*;
    use std::sync::mpsc::sync_channel;

    type Chunk = Vec<TextRecord>;
    let (full_tx, full_rx) = sync_channel::<Result<Chunk, ScanError>>(2);
    // Emptied chunks go back to the reader, so record buffers are reused rather than reallocated.
    let (empty_tx, empty_rx) = sync_channel::<Chunk>(4);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut raw = csv::ByteRecord::new();
            loop {
                let mut chunk = empty_rx.try_recv().unwrap_or_default();
                chunk.resize_with(CHUNK_ROWS, TextRecord::new);
                let mut filled = 0;
                let mut failed = None;
                for record in chunk.iter_mut() {
                    match reader.read_byte_record(&mut raw) {
                        Ok(true) => {}
                        Ok(false) => break,
                        Err(e) => {
                            failed = Some(ScanError::from_csv(e, names));
                            break;
                        }
                    }
                    // One UTF-8 check per record (the error names the field `read_record` would).
                    if let Err(field) = record.fill(&raw) {
                        failed = Some(ScanError::encoding(
                            raw.position().map(csv::Position::line),
                            field,
                            names,
                        ));
                        break;
                    }
                    filled += 1;
                }
                chunk.truncate(filled);
                let last = filled < CHUNK_ROWS || failed.is_some();
                if filled > 0 && full_tx.send(Ok(chunk)).is_err() {
                    return;
                }
                if let Some(e) = failed {
                    let _ = full_tx.send(Err(e));
                    return;
                }
                if last {
                    return;
                }
            }
        });
        let mut rows = done;
        for chunk in full_rx {
            let chunk = chunk?;
            let first_row = rows + 1;
            accs.par_iter_mut()
                .zip(plan.par_iter())
                .enumerate()
                .for_each(|(column, (acc, needs))| {
                    for (offset, record) in chunk.iter().enumerate() {
                        let field = record.get(column).unwrap_or_default();
                        acc.stats.add(field);
                        acc.scan_cell(*needs, first_row + offset as u64, field, max_spans);
                    }
                });
            rows += chunk.len() as u64;
            let _ = empty_tx.try_send(chunk);
        }
        Ok(rows - done)
    })
}

/// Notes for reviewers: failed checks and header/value disagreements, without values.
fn notes(name: &str, kind: Kind, stats: &Stats) -> Vec<String> {
    let mut out = Vec::new();
    if stats.id_bad_check >= 0.05 {
        out.push(format!(
            "{:.0}% of values are 18-digit numbers failing the GB 11643 check character: not citizen ID numbers",
            stats.id_bad_check * 100.0
        ));
    }
    if let Some((named, h)) = header::evidence(name) {
        let said = crate::report::report_semantic_type(named.semantic_type());
        let decided = crate::report::report_semantic_type(kind.semantic_type());
        if said != decided {
            out.push(format!(
                "header suggests {} (confidence {h:.2}) but the values do not agree; the lower confidence wins: {}",
                said.name(),
                decided.name()
            ));
        }
    }
    if kind.semantic_type() == SemanticType::Biometric {
        out.push(
            "biometric data (GB/T 39725-2020 Table 1 个人生物识别数据; the report vocabulary has no \
             biometric type, so it is reported as `other`): a direct identifier, level 4, C1; \
             ingest stores only a keyed digest (§10.1 h)"
                .to_string(),
        );
    }
    if matches!(kind, Kind::Masked(_)) {
        out.push(format!(
            "{:.0}% of values are partly masked: graded as a quasi-identifier",
            stats.masked * 100.0
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use medspace_core::SemanticType;

    #[test]
    fn unequal_field_counts_name_the_line_and_not_the_values() {
        let csv = "person_name,mobile\n张伟,13912345678\n王秀英,13812345678,extra-secret\n";
        let err = scan_csv(csv.as_bytes(), &ScanOptions::default()).unwrap_err();
        assert_eq!(err.line(), Some(3));
        let msg = err.to_string();
        assert!(msg.contains("line 3"), "{msg}");
        assert!(
            msg.contains("3 fields") && msg.contains("expected 2"),
            "{msg}"
        );
        for secret in ["王秀英", "13812345678", "extra-secret"] {
            assert!(!msg.contains(secret), "{msg}");
        }
        let short = "a,b,c\n1,2\n";
        let err = scan_csv(short.as_bytes(), &ScanOptions::default()).unwrap_err();
        assert!(
            matches!(
                err,
                ScanError::FieldCount {
                    line: Some(2),
                    expected: 3,
                    found: 2
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let mut bytes = b"id,person_name\n1,".to_vec();
        bytes.extend_from_slice(&[0xD5, 0xC5, 0xCE, 0xB0]); // 张伟 in GBK
        bytes.push(b'\n');
        let err = scan_csv(bytes.as_slice(), &ScanOptions::default()).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                ScanError::Encoding {
                    line: Some(2),
                    column: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            msg.contains("person_name") && msg.contains("UTF-8"),
            "{msg}"
        );
    }

    #[test]
    fn empty_input_has_no_header() {
        assert!(matches!(
            scan_csv(&b""[..], &ScanOptions::default()),
            Err(ScanError::NoHeader)
        ));
    }

    #[test]
    fn reads_at_most_sample_rows_and_strips_a_bom() {
        let mut csv = String::from("\u{feff}mobile,note\n");
        for i in 0..50 {
            csv.push_str(&format!("139{i:08},x\n"));
        }
        // A malformed record after the sample is never reached.
        csv.push_str("1,2,3\n");
        let report = scan_csv(csv.as_bytes(), &ScanOptions { sample_rows: 10 }).unwrap();
        assert_eq!(report.rows_sampled, 10);
        assert_eq!(
            report.columns.first().map(|c| c.name.as_str()),
            Some("mobile")
        );
        assert_eq!(
            report.columns.first().map(|c| c.semantic_type),
            Some(SemanticType::MobilePhone)
        );
        assert!(scan_csv(csv.as_bytes(), &ScanOptions::default()).is_err());
    }

    #[test]
    fn a_sampled_scan_draws_from_the_whole_file() {
        // A sorted file: no contact number in the first half, mobile numbers in the second. A
        // scan of the first rows would see an empty column.
        let mut csv = String::from("c1,seq\n");
        for i in 0..3000 {
            csv.push_str(&format!(",{i}\n"));
        }
        for i in 0..3000 {
            csv.push_str(&format!("139{i:08},{}\n", 3000 + i));
        }
        let cfg = ScanConfig {
            sample_rows: 500,
            ..ScanConfig::default()
        };
        let r = scan_report(csv.as_bytes(), &cfg).unwrap();
        assert_eq!((r.rows_scanned, r.rows_total), (500, 6000));
        assert_eq!(r.columns[0].semantic_type, SemanticType::MobilePhone);
        // Seeded: the same file gives the same report.
        assert_eq!(r, scan_report(csv.as_bytes(), &cfg).unwrap());
        // A record with the wrong number of fields anywhere in the file is an error, even when
        // it is not sampled.
        csv.push_str("1,2,3\n");
        assert!(matches!(
            scan_report(csv.as_bytes(), &cfg),
            Err(ScanError::FieldCount {
                line: Some(6002),
                ..
            })
        ));
    }

    #[test]
    fn sampled_scans_of_small_files_read_every_row_in_order() {
        let csv = "mobile,remark\n13912345678,患者电话13812345678\n13812345679,无\n";
        let r = scan_report(csv.as_bytes(), &ScanConfig::default()).unwrap();
        assert_eq!((r.rows_scanned, r.rows_total), (2, 2));
        let spans = &r.columns[1].findings.spans;
        assert!(
            !spans.is_empty() && spans.iter().all(|s| s.row == 1),
            "{spans:?}"
        );
    }

    #[test]
    fn header_only_gives_other_columns() {
        let report = scan_csv(
            "id_number,person_name\n".as_bytes(),
            &ScanOptions::default(),
        )
        .unwrap();
        assert_eq!(report.rows_sampled, 0);
        assert!(report
            .columns
            .iter()
            .all(|c| c.semantic_type == SemanticType::Other));
    }

    #[test]
    fn quoted_fields_with_separators_and_newlines() {
        let csv = "remark,mobile\n\"患者自述咳嗽，发热 3 天,\n伴乏力\",13912345678\n";
        let report = scan_csv(csv.as_bytes(), &ScanOptions::default()).unwrap();
        assert_eq!(report.rows_sampled, 1);
        assert_eq!(report.columns.len(), 2);
    }

    fn settlements(rows: u64) -> Vec<u8> {
        let mut csv = Vec::new();
        medspace_gen::generate(
            &medspace_gen::GenOptions {
                rows,
                seed: 3,
                table: medspace_gen::Table::Settlements,
                persons: None,
            },
            &mut csv,
            &mut |_| {},
        )
        .unwrap();
        csv
    }

    /// The rows after the provisional decision are read on one thread and tested in parallel in
    /// chunks; every column must still see every row in order, so the report equals one
    /// sequential pass over the same rows.
    #[test]
    fn a_full_scan_in_parallel_chunks_equals_one_sequential_pass() {
        let rows = 3 * CHUNK_ROWS + 123;
        let mut csv = String::from("patient,mobile,chief_complaint,diagnosis\n");
        let names = ["张伟", "王秀英", "李娜", "刘洋", "陈静"];
        let diagnoses = ["I10", "B20.1", "F32.9", "C34.9", "J18.9"];
        for i in 0..rows {
            let name = names[i % names.len()];
            let diagnosis = diagnoses[i % diagnoses.len()];
            let complaint = if i % 3 == 0 {
                format!("患者自述咳嗽{}天，家属电话139{:08}。", i % 9 + 1, i)
            } else {
                format!("头痛{}天，无发热。", i % 5 + 1)
            };
            csv.push_str(&format!("{name},138{i:08},{complaint},{diagnosis}\n"));
        }
        let full = |sample_rows| ScanConfig {
            full: true,
            sample_rows,
            ..ScanConfig::default()
        };
        let chunked = scan_report(csv.as_bytes(), &full(40)).unwrap();
        let sequential = scan_report(csv.as_bytes(), &full(rows + 1)).unwrap();
        assert_eq!(chunked.rows_scanned, rows as u64);
        assert_eq!(chunked.columns, sequential.columns);
        let complaint = &chunked.columns[2];
        assert_eq!(
            complaint.findings.cells_with_identifiers,
            rows.div_ceil(3) as u64,
            "every third complaint holds a phone number"
        );
        assert!(!chunked.columns[3].special_disease.is_empty());
    }

    /// The per-column memos of value tests and value scans change the cost of a scan, never what
    /// it finds: every column of a generated table and of free text with embedded identifiers,
    /// scanned with and without them, gives the same counts, special diseases, §11.2.2.2 flag
    /// and spans.
    #[test]
    fn memoised_value_tests_and_scans_find_what_fresh_ones_find() {
        let mut csv = settlements(6000);
        for i in 0..3000 {
            let complaint = match i % 4 {
                0 => format!("\"患者自述咳嗽{}天，家属电话139{:08}。\"", i % 9 + 1, i),
                1 => "否认肝炎、结核病史，HIV抗体阴性".to_string(),
                2 => format!("\"B20.1；住址浙江省杭州市西湖区文三路{}号\"", i % 7),
                // The same text with and without leading spaces: spans are offsets into the raw
                // cell, so the memo must not key on the trimmed value.
                _ => format!(
                    "{}头痛2天，家属电话13912345678",
                    if i % 8 == 3 { "  " } else { "" }
                ),
            };
            csv.extend_from_slice(format!("{complaint}\n").as_bytes());
        }
        let text = String::from_utf8(csv).unwrap();
        let (head, complaints) = text.split_at(text.find("\"患者").unwrap());
        let mut reader = csv::Reader::from_reader(head.as_bytes());
        let mut columns: Vec<Vec<String>> = vec![Vec::new(); reader.headers().unwrap().len()];
        for record in reader.records() {
            for (column, field) in columns.iter_mut().zip(record.unwrap().iter()) {
                column.push(field.to_string());
            }
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(complaints.as_bytes());
        columns.push(
            reader
                .records()
                .map(|r| r.unwrap()[0].to_string())
                .collect(),
        );
        let every_scan = Needs {
            special: true,
            negations: true,
            hidden: true,
            spans: true,
        };
        for (i, values) in columns.iter().enumerate() {
            for needs in [
                every_scan,
                needs(Kind::Sem(SemanticType::DiagnosisCode)),
                needs(Kind::Sem(SemanticType::FreeText)),
            ] {
                let mut memoised = ColumnAcc::default();
                let mut fresh = ColumnAcc {
                    stats: StatsBuilder::without_memo(),
                    cells: Memo::switched_off(),
                    ..ColumnAcc::default()
                };
                for (row, v) in values.iter().enumerate() {
                    for acc in [&mut memoised, &mut fresh] {
                        acc.stats.add(v);
                        acc.scan_cell(needs, row as u64 + 1, v, 50);
                    }
                }
                assert_eq!(memoised.stats.counts(), fresh.stats.counts(), "column {i}");
                assert_eq!(memoised.special, fresh.special, "column {i}");
                assert_eq!(memoised.hidden, fresh.hidden, "column {i}");
                assert_eq!(memoised.findings, fresh.findings, "column {i}");
            }
        }
        let complaints = columns.last().unwrap();
        let mut acc = ColumnAcc::default();
        for (row, v) in complaints.iter().enumerate() {
            acc.scan_cell(every_scan, row as u64 + 1, v, 50);
        }
        assert!(
            acc.hidden && acc.special.contains(&"hiv"),
            "{:?}",
            acc.special
        );
        assert!(
            acc.findings.cells_with_identifiers >= 1500,
            "{:?}",
            acc.findings.counts
        );
    }

    /// A bad record far past the first rows stops the scan with its line, from the reading thread.
    #[test]
    fn a_bad_record_in_a_later_chunk_names_its_line() {
        let mut csv = settlements(2 * CHUNK_ROWS as u64);
        csv.extend_from_slice(b"only,three,fields\n");
        let cfg = ScanConfig {
            full: true,
            sample_rows: 10,
            ..ScanConfig::default()
        };
        let err = scan_report(&csv[..], &cfg).unwrap_err();
        assert_eq!(err.line(), Some(2 * CHUNK_ROWS as u64 + 2), "{err}");
    }

    /// Text that is not UTF-8 far past the first rows stops a full scan with its line and the
    /// column `read_record` would name, also when a character is split between two fields.
    #[test]
    fn invalid_utf8_in_a_later_chunk_names_its_line_and_column() {
        let header = b"id,person_name,note\n".to_vec();
        let good = |n: usize| -> Vec<u8> {
            let mut v = header.clone();
            for i in 0..n {
                v.extend_from_slice(format!("{i},张伟,门诊\n").as_bytes());
            }
            v
        };
        let cfg = ScanConfig {
            full: true,
            sample_rows: 10,
            ..ScanConfig::default()
        };
        let rows = 2 * CHUNK_ROWS;
        let line = Some(rows as u64 + 2);
        // GBK bytes in the third column.
        let mut gbk = good(rows);
        gbk.extend_from_slice(b"9,ok,");
        gbk.extend_from_slice(&[0xD5, 0xC5, 0xCE, 0xB0]);
        gbk.push(b'\n');
        // 眉 (E7 9C 89) split between the second and third columns: the record's bytes are
        // UTF-8, the second field's are not.
        let mut split = good(rows);
        split.extend_from_slice(&[b'9', b',', b'a', 0xE7, b',', 0x9C, 0x89, b'\n']);
        for (input, column, name) in [(gbk, 3, "note"), (split, 2, "person_name")] {
            match scan_report(&input[..], &cfg) {
                Err(ScanError::Encoding {
                    line: l,
                    column: c,
                    column_name,
                }) => {
                    assert_eq!((l, c), (line, column));
                    assert_eq!(column_name.as_deref(), Some(name));
                }
                other => panic!("{other:?}"),
            }
        }
        // The same rows without the bad one scan.
        assert!(scan_report(&good(rows)[..], &cfg).is_ok());
    }
}
