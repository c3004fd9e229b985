//! Streaming de-identification engine: CSV text or Arrow batches in, CSV out.
//!
//! Two inputs share one engine. CSV text ([`deidentify_with`]) is parsed in chunks of records;
//! columnar data ([`deidentify_batches_with`]: the node's encrypted Parquet objects, Parquet
//! files) arrives as Arrow batches of text columns, cut into zero-copy slices of rows, with no
//! CSV rendering or parsing in between. The transforms read a record through one interface
//! (`Cells`: a CSV record or a row of a batch), so both inputs give the same output, report and
//! errors.
//!
//! GB/T 39725-2020 §10.2 and Table 6 (the transforms), §10.2 e) and §11.4.2.4 (k-anonymity of
//! the result, reported — never hidden — so the caller can refuse to publish), T/CI 857-2024
//! 6.5.3 (the report is the de-identification log entry: what was done, by which policy, with
//! which outcome, without keys, offsets or values).
//!
//! Records are transformed in parallel chunks (see `write_records`) and written in input order,
//! so the output is byte for byte that of a record-by-record pass. Memory is bounded by the
//! chunks in flight (`2 × threads + 1` chunks of `CHUNK_ROWS` records, and per worker at most
//! `PARTITIONS × FLUSH_KEYS` input-class digests waiting for the shared counter) plus the
//! k-anonymity counters (one counter per distinct quasi-identifier combination). Output is written as it
//! is produced: when an error is returned, or when the k check fails, the caller must discard
//! what was written.
//!
//! Dataset-level transforms read the input twice: the k-anonymity search (pass 1 counts the
//! distinct combinations of quasi-identifier and sensitive values, each value kept once in a
//! per-column dictionary, so its memory is bounded by the distinct combinations, not the
//! records; pass 2 finds each record's combination again and writes it with the chosen
//! generalisation — only when microaggregated columns take part does pass 1 keep every record's
//! values) and `microaggregate` (GB/T 37964-2019, statistical
//! techniques; [`crate::micro`]), whose pass 1 keeps per record and aggregated column only the
//! number and a class id (12 bytes, 20 while grouping; no text), the number then replaced by
//! its group's value for pass 2.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::BuildHasher;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::time::Instant;

use arrow::array::{Array, RecordBatch, StringArray};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::anon::{Aggregate, AnonConfig, AnonData, AnonError, Criterion, QuasiIdentifier};
use crate::hierarchy::{Builtin, Hierarchy, HierarchyError};
use crate::kanon::{ClassTally, KAnonymityCounter, KAnonymityReport};
use crate::keys::{DeidKeys, MacAlgorithm};
use crate::lattice::{search_optimal, Lattice};
use crate::local::local_recoding;
use crate::metrics::{quality, QualityReport, Recoding};
use crate::micro;
use crate::policy::{
    Action, AgeReference, DeidPolicy, GroupStatistic, HierarchySpec, LDiversity, NoiseKind,
    PolicyError, RecodingModel, SpanKind, TCloseness,
};
use crate::population::PopulationTable;
use crate::risk::{risk_from_class_sizes, RiskReport};
use crate::transform::{self, MaskSpec, TransformError};

/// Longest header listing shown in an error.
const MAX_LISTED_COLUMNS: usize = 60;
const MAX_LISTED_CHARS: usize = 64;

/// The column action recorded in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnAction {
    /// Input column.
    pub column: String,
    /// Action name (`drop`, `pseudonymize`, …); unlisted columns show the default action.
    pub action: String,
}

/// Utility retained by the search, with ARX's definitions (see [`crate::metrics`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utility {
    /// ARX's granularity (1 = nothing generalised; higher is better).
    pub granularity: f64,
    /// Discernibility (DM*): Σ|E|² plus n per suppressed record (lower is better).
    pub discernibility: f64,
    /// Average equivalence class size.
    pub aecs: f64,
    /// Non-uniform entropy relative to full suppression (0 = no loss, 1 = everything lost).
    pub non_uniform_entropy: f64,
    /// ARX's loss (geometric aggregate), the score the global search minimises.
    pub loss: f64,
}

/// How the search ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchSummary {
    /// `global` or `local`.
    pub recoding: String,
    /// Nodes in the generalisation lattice.
    pub lattice_size: usize,
    /// Nodes evaluated (global recoding).
    pub evaluated: Option<usize>,
    /// Rounds (local recoding; 1 for global).
    pub rounds: usize,
}

/// What a de-identification run did. Contains names and counts only: no keys, no offsets, no
/// values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeidReport {
    /// Policy name.
    pub policy_name: String,
    /// SHA-256 of the policy text.
    pub policy_sha256: String,
    /// Data records read.
    pub rows_in: u64,
    /// Data records written.
    pub rows_out: u64,
    /// Header of the output.
    pub output_columns: Vec<String>,
    /// Every input column with the action applied, in header order.
    pub actions: Vec<ColumnAction>,
    /// The keyed MAC of pseudonyms, date shifts and noise (`HMAC-SHA-256` or `HMAC-SM3`, by
    /// crypto profile): a parameter of the run, never a key.
    #[serde(default)]
    pub mac: MacAlgorithm,
    /// Per `min_count` column, how many distinct values were released generalised further or
    /// as `*` because fewer records than the minimum shared them (GB/T 39725-2020 §11.4.2.4).
    #[serde(default)]
    pub min_count_released: BTreeMap<String, u64>,
    /// Fingerprint of the run's parameters (T/CI 857-2024 6.5.3): a digest of the policy, the
    /// MAC and the keys' check values (see [`parameter_fingerprint`]). Two runs with the same
    /// fingerprint used the same policy and keys; it reveals neither key.
    #[serde(default)]
    pub parameter_fingerprint: String,
    /// The k-anonymity check over the output.
    pub k_anonymity: KAnonymityReport,
    /// Smallest equivalence class of the output over the quasi-identifiers (0: no records).
    #[serde(default)]
    pub k_achieved: u64,
    /// Records left out by the search's suppression.
    #[serde(default)]
    pub suppressed_records: u64,
    /// Equivalence classes of the output over the quasi-identifiers.
    #[serde(default)]
    pub equivalence_classes: u64,
    /// Generalisation level per `generalize` column (chosen by the search or fixed; for local
    /// recoding, the first round's levels).
    #[serde(default)]
    pub generalization: BTreeMap<String, usize>,
    /// Utility figures (only when the search ran).
    #[serde(default)]
    pub utility: Option<Utility>,
    /// The search (only when it ran).
    #[serde(default)]
    pub search: Option<SearchSummary>,
    /// Re-identification risk of the input over the quasi-identifier columns (§11.4.2.4).
    #[serde(default)]
    pub risk_before: Option<RiskReport>,
    /// Re-identification risk of the output over the quasi-identifier columns.
    #[serde(default)]
    pub risk_after: Option<RiskReport>,
    /// Wall-clock time of the run in milliseconds.
    #[serde(default)]
    pub elapsed_ms: u64,
}

/// Why a policy column is needed, for [`DeidError::MissingColumn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnRole {
    /// Named by a `[columns.NAME]` rule.
    PolicyColumn,
    /// Listed in `quasi_identifiers` (with `default_action = "keep"`).
    QuasiIdentifier,
    /// The `subject_column`.
    SubjectColumn,
    /// `reference_column` of the named `age_band` or `to_age` column.
    ReferenceColumn(String),
    /// `end_column` of the named `to_duration` column.
    EndColumn(String),
    /// Listed in `sensitive`.
    Sensitive,
}

impl fmt::Display for ColumnRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnRole::PolicyColumn => f.write_str("named by a [columns.…] rule of the policy"),
            ColumnRole::QuasiIdentifier => f.write_str("listed in quasi_identifiers"),
            ColumnRole::SubjectColumn => f.write_str("the policy's subject_column"),
            ColumnRole::ReferenceColumn(c) => {
                write!(f, "reference_column of column `{c}`")
            }
            ColumnRole::EndColumn(c) => write!(f, "end_column of to_duration column `{c}`"),
            ColumnRole::Sensitive => f.write_str("listed in sensitive"),
        }
    }
}

/// What was wrong with one cell. Never carries the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CellProblem {
    /// The transform refused the value.
    #[error(transparent)]
    Transform(#[from] TransformError),
    /// The age reference cell of the same row is empty.
    #[error("its reference column `{reference}` is empty in this row; expected a date to compute the age at")]
    ReferenceEmpty {
        /// Reference column.
        reference: String,
    },
    /// The age reference cell of the same row is not a date.
    #[error("its reference column `{reference}`: {problem}")]
    ReferenceInvalid {
        /// Reference column.
        reference: String,
        /// What was wrong.
        problem: TransformError,
    },
    /// The value is not a number.
    #[error("expected a number")]
    NotANumber,
    /// The value is not in the column's hierarchy.
    #[error("the value is not in hierarchy `{hierarchy}`")]
    NotInHierarchy {
        /// Hierarchy name or file.
        hierarchy: String,
    },
    /// No subject column is configured (the policy parser prevents this).
    #[error("date_shift needs the policy's subject_column")]
    NoSubjectColumn,
    /// The value cannot get a format-preserving pseudonym (too few digits).
    #[error("format-preserving pseudonym: the value {0}")]
    Ff1(crate::ff1::Ff1Error),
    /// The subject cell is empty, so no per-subject offset exists.
    #[error("the subject column `{subject}` is empty in this row, so no per-subject date shift can be derived; expected every dated row to name its subject")]
    SubjectEmpty {
        /// Subject column.
        subject: String,
    },
}

/// Why a run failed. Messages name lines and columns, never cell values.
#[derive(Debug, thiserror::Error)]
pub enum DeidError {
    /// The input is empty.
    #[error("input: no header line; expected a CSV file whose first line names the columns")]
    NoHeader,
    /// Reading the input failed.
    #[error("input: read failed: {0}")]
    Read(std::io::Error),
    /// The CSV is malformed at a line.
    #[error("input line {line}: {problem}")]
    Csv {
        /// Line in the input (1-based).
        line: u64,
        /// What was wrong.
        problem: String,
    },
    /// Two header columns share a name.
    #[error("input header: column {position} has the same name as an earlier column; expected unique column names")]
    DuplicateColumn {
        /// 1-based position of the second occurrence.
        position: usize,
    },
    /// A column the policy needs is not in the header.
    #[error("input header has no column `{column}` ({role}); the header columns are: {available}")]
    MissingColumn {
        /// The column looked for.
        column: String,
        /// Why it is needed.
        role: ColumnRole,
        /// The header, as far as it is safe to show.
        available: String,
    },
    /// A cell could not be transformed.
    #[error("input line {line}, column `{column}`: {problem}")]
    Cell {
        /// Line in the input (1-based).
        line: u64,
        /// Column name.
        column: String,
        /// What was wrong.
        problem: CellProblem,
    },
    /// Writing the output failed.
    #[error("output: write failed: {0}")]
    Write(std::io::Error),
    /// The policy cannot be applied as given (found before any data is read).
    #[error("policy: {0}")]
    Policy(PolicyError),
    /// A hierarchy cannot be built for the data.
    #[error("hierarchy: {0}")]
    Hierarchy(String),
    /// The k-anonymity search failed (for example no recoding within the suppression limit).
    #[error("k-anonymity search: {0}")]
    Anon(AnonError),
}

/// One output column's operation.
enum Op<'p> {
    Keep,
    Blank,
    Pseudonymize(&'p str),
    /// Format-preserving pseudonym (the cipher is in [`Keyed`]: keys arrive per call).
    Ff1,
    Mask(MaskSpec),
    AgeBand(Reference<'p>),
    ToAge(Reference<'p>),
    ToDuration(usize, &'p str),
    DateShift,
    Year,
    Truncate(usize, Option<char>),
    TopBottom(Option<f64>, Option<f64>),
    Noise(NoiseKind, f64, u32),
    Redact(&'p [SpanKind]),
    /// Fixed-level generalisation, value → label (built-ins cached per worker in [`Scratch`]).
    Generalize(Generalizer, String),
    /// Level chosen by the search: the label comes from the search's recoding (`dim`); in the
    /// collecting pass the value is passed through.
    Searched(usize, Option<(Builtin, std::sync::Arc<PopulationTable>)>),
    /// Microaggregated: the value computed in pass 1 (`Plan::micro`, by this index).
    Microaggregate(usize),
}

/// A fixed-level generalisation of one column.
enum Generalizer {
    /// From a hierarchy file: level-0 value → label at the level.
    Map(HashMap<String, String>),
    /// A built-in at a level; with a population table, a geographic value is first raised
    /// to an area that covers enough people (GB/T 39725-2020 §10.2 c) 1)).
    Builtin(Builtin, usize, Option<std::sync::Arc<PopulationTable>>),
}

impl Generalizer {
    /// `cache`: labels of built-in values already seen (one per worker, so the plan stays
    /// shared and immutable).
    fn apply(&self, value: &str, cache: &mut HashMap<String, String>, out: &mut String) -> bool {
        match self {
            Generalizer::Map(m) => match m.get(value) {
                Some(v) => out.push_str(v),
                None => return false,
            },
            Generalizer::Builtin(b, level, population) => {
                if let Some(v) = cache.get(value) {
                    out.push_str(v);
                    return true;
                }
                let covered = match population {
                    Some(table) => match table.covered(*b, value) {
                        Ok(c) => std::borrow::Cow::Owned(c),
                        Err(_) => return false,
                    },
                    None => std::borrow::Cow::Borrowed(value),
                };
                let Ok(g) = b.generalize(&covered, *level) else {
                    return false;
                };
                out.push_str(&g);
                if cache.len() < 1 << 20 {
                    cache.insert(value.to_string(), g);
                }
            }
        }
        true
    }
}

/// The run's keys in the form the transforms use: HMAC states keyed once and the FF1 cipher,
/// built before the first record and shared read-only by the workers.
struct Keyed {
    pseudonym: transform::KeyedHmac,
    date_shift: transform::KeyedHmac,
    /// Present when a column takes format-preserving pseudonyms; a keying failure is reported
    /// at the first non-empty cell, where the lazily keyed cipher used to report it.
    ff1: Option<Result<crate::ff1::Ff1Pseudonymizer, crate::ff1::Ff1Error>>,
}

impl Keyed {
    fn new(keys: &DeidKeys, plan: &Plan<'_>) -> Self {
        let ff1 = plan
            .steps
            .iter()
            .any(|s| matches!(s.op, Op::Ff1))
            .then(|| crate::ff1::Ff1Pseudonymizer::new(&keys.pseudonym_key));
        Keyed {
            pseudonym: transform::KeyedHmac::with(keys.mac, &keys.pseudonym_key),
            date_shift: transform::KeyedHmac::with(keys.mac, &keys.date_shift_key),
            ff1,
        }
    }
}

/// Per-worker mutable state: generalisation caches (one per output column) and the output
/// cells, reused from record to record so a cell costs no allocation once warm.
struct Scratch {
    caches: Vec<HashMap<String, String>>,
    cells: Vec<String>,
    /// Input class digests not yet added to the shared counter.
    pending_before: PendingKeys,
    /// This worker's copies of the keyed pseudonym and date-shift MACs, made on first use.
    pseudonym: Option<transform::KeyedHmac>,
    date_shift: Option<transform::KeyedHmac>,
}

impl Scratch {
    fn new(plan: &Plan<'_>) -> Self {
        Scratch {
            caches: plan.steps.iter().map(|_| HashMap::new()).collect(),
            cells: plan.steps.iter().map(|_| String::new()).collect(),
            pending_before: PendingKeys::default(),
            pseudonym: None,
            date_shift: None,
        }
    }
}

/// Input class keys a worker holds back, one buffer per partition of the shared counter
/// ([`crate::kanon::partition_of`]), until a buffer holds [`FLUSH_KEYS`]: then they go into the
/// counter's table of that partition one after the other, while it is in the core's cache.
/// Added one record at a time, keys hit the counter's tables all over and missed the cache.
#[derive(Debug, Default)]
struct PendingKeys {
    /// One buffer per partition, made on the first key (a worker's scratch is taken and put
    /// back once per chunk, so an empty one must cost nothing).
    buffers: Vec<Vec<crate::kanon::ClassKey>>,
}

/// Keys a [`PendingKeys`] buffer holds before they go to the counter: at most
/// `PARTITIONS × FLUSH_KEYS` keys (8 MB) per worker.
const FLUSH_KEYS: usize = 2048;

impl PendingKeys {
    /// Holds `key` back; a full buffer goes to `counter`.
    fn push(&mut self, key: crate::kanon::ClassKey, counter: &std::sync::Mutex<KAnonymityCounter>) {
        if self.buffers.is_empty() {
            self.buffers.resize_with(crate::kanon::PARTITIONS, Vec::new);
        }
        let Some(buffer) = self.buffers.get_mut(crate::kanon::partition_of(&key)) else {
            return;
        };
        buffer.push(key);
        if buffer.len() >= FLUSH_KEYS {
            let mut counter = counter
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for key in buffer.drain(..) {
                counter.add_key(key, 1);
            }
        }
    }

    /// Adds every key held back to `counter`.
    fn drain_into(self, counter: &mut KAnonymityCounter) {
        for buffer in self.buffers {
            for key in buffer {
                counter.add_key(key, 1);
            }
        }
    }
}

enum Reference<'p> {
    Column(usize, &'p str),
    Date(NaiveDate),
}

struct Step<'p> {
    input: usize,
    column: String,
    op: Op<'p>,
}

struct Plan<'p> {
    steps: Vec<Step<'p>>,
    output_columns: Vec<String>,
    actions: Vec<ColumnAction>,
    subject: Option<(usize, &'p str)>,
    qi_outputs: Vec<usize>,
    /// Input positions of the quasi-identifiers (for the risk before de-identification).
    qi_inputs: Vec<usize>,
    /// Output position of each sensitive column.
    sensitive_outputs: Vec<usize>,
    /// Fixed generalisation levels, by column.
    fixed_levels: BTreeMap<String, usize>,
    max_shift_days: std::num::NonZeroU32,
    /// The microaggregated columns, in output order.
    micro: Vec<MicroColumn<'p>>,
    /// The columns with a `min_count`, in output order.
    min_count: Vec<MinCountColumn>,
    /// Per output position: its index in `min_count`.
    min_count_of: Vec<Option<usize>>,
    /// Set after pass 1: per `min_count` column, the values released otherwise (key → value).
    released: std::sync::OnceLock<Vec<HashMap<String, String>>>,
}

/// A column whose released values must each be shared by `n` records (GB/T 39725-2020
/// §11.4.2.4, the minimum-count principle: "a diagnosis that 4 patients have is generalised").
struct MinCountColumn {
    step: usize,
    input: usize,
    column: String,
    n: usize,
    /// A fixed-level `generalize`: counted by input value and raised along the hierarchy.
    /// Otherwise counted by output value and replaced by `*`.
    hierarchy: Option<(HierarchyPaths, usize)>,
}

/// How the generalisation path of a value is found.
enum HierarchyPaths {
    Builtin(Builtin, Option<std::sync::Arc<PopulationTable>>),
    File(Hierarchy),
}

impl HierarchyPaths {
    /// The labels of `value` from level 0 to the top, or `None` when the hierarchy has no path
    /// for it (the writing pass then reports the cell).
    fn path(&self, value: &str) -> Option<Vec<String>> {
        match self {
            HierarchyPaths::Builtin(b, population) => match population {
                Some(table) => b.path(&table.covered(*b, value).ok()?).ok(),
                None => b.path(value).ok(),
            },
            HierarchyPaths::File(h) => h
                .rows()
                .iter()
                .find(|r| r.first().map(String::as_str) == Some(value))
                .cloned(),
        }
    }
}

/// The values of a `min_count` column released otherwise, from pass 1's counts: for a
/// hierarchy, level by level from the rule's level, every label that fewer than `n` records
/// would share moves all its records one level up (where they may join others), so every
/// label finally released is shared by at least `n` records or is the top of the hierarchy;
/// without one, a value fewer than `n` records share becomes `*`.
fn released_values(m: &MinCountColumn, counts: HashMap<String, u64>) -> HashMap<String, String> {
    let n = m.n as u64;
    let Some((paths, level)) = &m.hierarchy else {
        return counts
            .into_iter()
            .filter(|(_, c)| *c < n)
            .map(|(v, _)| (v, "*".to_string()))
            .collect();
    };
    let values: Vec<(String, u64, Vec<String>)> = counts
        .into_iter()
        .filter_map(|(v, c)| {
            let path = paths.path(&v)?;
            Some((v, c, path))
        })
        .collect();
    let mut at: Vec<usize> = vec![*level; values.len()];
    let height = values.iter().map(|(_, _, p)| p.len()).max().unwrap_or(0);
    for l in *level..height.saturating_sub(1) {
        let mut groups: HashMap<&str, (u64, Vec<usize>)> = HashMap::new();
        for (i, (_, count, path)) in values.iter().enumerate() {
            if at.get(i) != Some(&l) || l + 1 >= path.len() {
                continue;
            }
            let Some(label) = path.get(l) else { continue };
            let g = groups.entry(label.as_str()).or_default();
            g.0 += count;
            g.1.push(i);
        }
        for (_, (total, members)) in groups {
            if total < n {
                for i in members {
                    if let Some(a) = at.get_mut(i) {
                        *a = l + 1;
                    }
                }
            }
        }
    }
    values
        .into_iter()
        .zip(at)
        .filter(|(_, a)| a > level)
        .filter_map(|((v, _, path), a)| Some((v, path.get(a)?.clone())))
        .collect()
}

/// One `microaggregate` column.
struct MicroColumn<'p> {
    input: usize,
    column: String,
    group_size: usize,
    statistic: GroupStatistic,
    decimals: u32,
    /// Output positions of its `group_by` columns.
    group_outputs: Vec<usize>,
    group_by: &'p [String],
}

/// Pass 1's results for the microaggregated columns: per column, per record, the value to
/// write (NaN: the cell was empty).
struct MicroValues {
    values: Vec<Vec<f64>>,
}

/// A record as the transforms read it: the cell at an input position, `""` when the record has
/// no such field or the value is NULL (an empty CSV field and an Arrow NULL mean the same).
trait Cells {
    fn cell(&self, i: usize) -> &str;
}

impl Cells for csv::StringRecord {
    fn cell(&self, i: usize) -> &str {
        self.get(i).unwrap_or("")
    }
}

/// A CSV record whose bytes were checked as UTF-8 once, as a whole: a field is valid UTF-8
/// exactly when the record is and the field's ends are character boundaries, which
/// [`TextOfRecord::of`] checks. `csv`'s `StringRecord` checks each field with `str::from_utf8`
/// once a record holds a non-ASCII byte, which cost more than the SIMD check of the whole record
/// (`simdutf8`) on Chinese names and addresses.
struct TextOfRecord<'a> {
    text: &'a str,
    record: &'a csv::ByteRecord,
}

impl<'a> TextOfRecord<'a> {
    /// The record as text, or `Err(i)` with the 0-based index of the first field that is not
    /// UTF-8 (the field `StringRecord` names).
    fn of(record: &'a csv::ByteRecord) -> Result<TextOfRecord<'a>, usize> {
        let first_invalid = || {
            record
                .iter()
                .position(|f| std::str::from_utf8(f).is_err())
                .unwrap_or(0)
        };
        let text = simdutf8::basic::from_utf8(record.as_slice()).map_err(|_| first_invalid())?;
        for i in 0..record.len() {
            match record.range(i) {
                Some(r) if text.is_char_boundary(r.start) && text.is_char_boundary(r.end) => {}
                _ => return Err(first_invalid()),
            }
        }
        Ok(TextOfRecord { text, record })
    }
}

impl Cells for TextOfRecord<'_> {
    fn cell(&self, i: usize) -> &str {
        self.record
            .range(i)
            .and_then(|r| self.text.get(r))
            .unwrap_or("")
    }
}

/// One row of a batch of text columns (the columnar input, see [`deidentify_batches_with`]).
struct BatchRow<'a> {
    columns: &'a [StringArray],
    row: usize,
}

impl Cells for BatchRow<'_> {
    fn cell(&self, i: usize) -> &str {
        match self.columns.get(i) {
            Some(c) if self.row < c.len() && c.is_valid(self.row) => c.value(self.row),
            _ => "",
        }
    }
}

/// Header fields that look like values (dates, long digit runs): a file without a header line
/// would otherwise have its first record echoed in an error.
fn looks_like_data(field: &str) -> bool {
    let digits = field.chars().filter(char::is_ascii_digit).count();
    digits >= 6 || transform::parse_date_cell(field).is_ok()
}

fn header_listing(header: &csv::StringRecord) -> String {
    if header.iter().any(looks_like_data) {
        return "(not shown: the first line holds dates or long numbers, so it looks like a data record rather than a header)".to_string();
    }
    let mut shown: Vec<String> = header
        .iter()
        .take(MAX_LISTED_COLUMNS)
        .map(|h| {
            let mut s: String = h.chars().take(MAX_LISTED_CHARS).collect();
            if h.chars().count() > MAX_LISTED_CHARS {
                s.push('…');
            }
            s
        })
        .collect();
    if header.len() > MAX_LISTED_COLUMNS {
        shown.push(format!("… ({} more)", header.len() - MAX_LISTED_COLUMNS));
    }
    shown.join(", ")
}

impl<'p> Plan<'p> {
    /// `searched`: columns whose level the search chooses (in quasi-identifier order); without
    /// a search, a `generalize` rule without `level` is refused.
    fn build(
        policy: &'p DeidPolicy,
        header: &csv::StringRecord,
        hierarchies: &Hierarchies,
        searched: &[String],
    ) -> Result<Self, DeidError> {
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(header.len());
        for (i, name) in header.iter().enumerate() {
            if index.insert(name, i).is_some() {
                return Err(DeidError::DuplicateColumn { position: i + 1 });
            }
        }
        let find = |column: &str, role: ColumnRole| {
            index
                .get(column)
                .copied()
                .ok_or_else(|| DeidError::MissingColumn {
                    column: column.to_string(),
                    role,
                    available: header_listing(header),
                })
        };
        for rule in policy.columns() {
            find(&rule.column, ColumnRole::PolicyColumn)?;
        }
        let subject = match policy.subject_column() {
            Some(s) => Some((find(s, ColumnRole::SubjectColumn)?, s)),
            None => None,
        };
        let reference = |column: &str, r: &'p AgeReference| -> Result<Reference<'p>, DeidError> {
            Ok(match r {
                AgeReference::Date(d) => Reference::Date(*d),
                AgeReference::Column(c) => Reference::Column(
                    find(c, ColumnRole::ReferenceColumn(column.to_string()))?,
                    c.as_str(),
                ),
            })
        };

        let mut steps = Vec::new();
        let mut output_columns = Vec::new();
        let mut actions = Vec::with_capacity(header.len());
        let mut fixed_levels = BTreeMap::new();
        let mut micro: Vec<MicroColumn<'p>> = Vec::new();
        for (input, column) in header.iter().enumerate() {
            let action = policy.action_for(column);
            actions.push(ColumnAction {
                column: column.to_string(),
                action: action.name().to_string(),
            });
            let op = match action {
                Action::Drop => continue,
                Action::Blank => Op::Blank,
                Action::Keep => Op::Keep,
                Action::Pseudonymize {
                    format_preserving: true,
                    ..
                } => Op::Ff1,
                Action::Pseudonymize { prefix, .. } => Op::Pseudonymize(prefix),
                Action::Mask(spec) => Op::Mask(*spec),
                Action::AgeBand { reference: r } => Op::AgeBand(reference(column, r)?),
                Action::ToAge { reference: r } => Op::ToAge(reference(column, r)?),
                Action::ToDuration { end_column } => Op::ToDuration(
                    find(end_column, ColumnRole::EndColumn(column.to_string()))?,
                    end_column.as_str(),
                ),
                Action::DateShift => Op::DateShift,
                Action::Year => Op::Year,
                Action::Truncate { length, pad } => Op::Truncate(*length, *pad),
                Action::TopBottomCode { bottom, top } => Op::TopBottom(*bottom, *top),
                Action::Noise {
                    kind,
                    scale,
                    decimals,
                } => Op::Noise(*kind, *scale, *decimals),
                Action::RedactSpans { kinds } => Op::Redact(kinds),
                Action::Microaggregate {
                    group_size,
                    group_by,
                    statistic,
                    decimals,
                } => {
                    micro.push(MicroColumn {
                        input,
                        column: column.to_string(),
                        group_size: *group_size,
                        statistic: *statistic,
                        decimals: *decimals,
                        group_outputs: Vec::new(),
                        group_by,
                    });
                    Op::Microaggregate(micro.len() - 1)
                }
                Action::Generalize { hierarchy, level } => {
                    if let Some(dim) = searched.iter().position(|s| s == column) {
                        // The search sees each geographic value raised to an area that covers
                        // enough people, and generalises from there.
                        let cover = match (hierarchy, &hierarchies.population) {
                            (HierarchySpec::Builtin(b), Some(table))
                                if b.finest_level_without_population_table() > 0 =>
                            {
                                Some((*b, table.clone()))
                            }
                            _ => None,
                        };
                        Op::Searched(dim, cover)
                    } else {
                        let Some(level) = *level else {
                            return Err(DeidError::Policy(policy.error_at(
                                &format!("columns.{column}.level"),
                                "generalize has no `level` and no search runs; expected `level = N`, or run the k-anonymity search (medspace deid --optimize)",
                            )));
                        };
                        fixed_levels.insert(column.to_string(), level);
                        let name = match hierarchy {
                            HierarchySpec::Builtin(b) => b.name().to_string(),
                            HierarchySpec::File(f) => f.clone(),
                        };
                        let g = match hierarchy {
                            HierarchySpec::Builtin(b) => {
                                Generalizer::Builtin(*b, level, hierarchies.population.clone())
                            }
                            HierarchySpec::File(f) => {
                                let h = hierarchies.file(f).ok_or_else(|| {
                                    DeidError::Policy(policy.error_at(
                                        &format!("columns.{column}.hierarchy"),
                                        "the hierarchy file was not loaded",
                                    ))
                                })?;
                                if level >= h.height() {
                                    return Err(DeidError::Policy(policy.error_at(
                                        &format!("columns.{column}.level"),
                                        format!(
                                            "hierarchy `{f}` has levels 0 to {}; found {level}",
                                            h.height().saturating_sub(1)
                                        ),
                                    )));
                                }
                                Generalizer::Map(
                                    h.rows()
                                        .iter()
                                        .filter_map(|r| {
                                            Some((r.first()?.clone(), r.get(level)?.clone()))
                                        })
                                        .collect(),
                                )
                            }
                        };
                        Op::Generalize(g, name)
                    }
                }
            };
            output_columns.push(column.to_string());
            steps.push(Step {
                input,
                column: column.to_string(),
                op,
            });
        }

        let position = |q: &String, role: ColumnRole| {
            output_columns
                .iter()
                .position(|c| c == q)
                .ok_or_else(|| DeidError::MissingColumn {
                    column: q.clone(),
                    role,
                    available: header_listing(header),
                })
        };
        let mut qi_outputs = Vec::with_capacity(policy.quasi_identifiers().len());
        let mut qi_inputs = Vec::with_capacity(policy.quasi_identifiers().len());
        for q in policy.quasi_identifiers() {
            // The policy guarantees a quasi-identifier is never dropped, so it is absent.
            qi_outputs.push(position(q, ColumnRole::QuasiIdentifier)?);
            qi_inputs.push(find(q, ColumnRole::QuasiIdentifier)?);
        }
        let mut sensitive_outputs = Vec::new();
        for s in policy.sensitive() {
            sensitive_outputs.push(position(s, ColumnRole::Sensitive)?);
        }
        for m in &mut micro {
            // The policy checks that group_by names quasi-identifiers, which are in the output.
            for g in m.group_by {
                m.group_outputs
                    .push(position(g, ColumnRole::QuasiIdentifier)?);
            }
        }

        let mut min_count = Vec::new();
        let mut min_count_of = vec![None; steps.len()];
        for (pos, step) in steps.iter().enumerate() {
            let Some(n) = policy
                .columns()
                .iter()
                .find(|r| r.column == step.column)
                .and_then(|r| r.min_count)
            else {
                continue;
            };
            let hierarchy = match &step.op {
                Op::Generalize(Generalizer::Builtin(b, level, population), _) => {
                    Some((HierarchyPaths::Builtin(*b, population.clone()), *level))
                }
                Op::Generalize(Generalizer::Map(_), file) => {
                    match (hierarchies.file(file), fixed_levels.get(&step.column)) {
                        (Some(h), Some(level)) => Some((HierarchyPaths::File(h.clone()), *level)),
                        _ => None,
                    }
                }
                _ => None,
            };
            if let Some(slot) = min_count_of.get_mut(pos) {
                *slot = Some(min_count.len());
            }
            min_count.push(MinCountColumn {
                step: pos,
                input: step.input,
                column: step.column.clone(),
                n,
                hierarchy,
            });
        }
        Ok(Plan {
            steps,
            output_columns,
            actions,
            subject,
            qi_outputs,
            qi_inputs,
            sensitive_outputs,
            fixed_levels,
            max_shift_days: policy.date_shift_max_days(),
            micro,
            min_count,
            min_count_of,
            released: std::sync::OnceLock::new(),
        })
    }

    /// Transforms one record into `scratch.cells` (one cell per output column). `only`:
    /// compute just these output positions (others are left empty); `searched`: the search's
    /// labels per searched column (empty: pass the value through).
    #[allow(clippy::too_many_arguments)]
    fn apply<C: Cells + ?Sized>(
        &self,
        keyed: &Keyed,
        scratch: &mut Scratch,
        record: &C,
        line: u64,
        row: u64,
        only: Option<&[bool]>,
        searched: &[&str],
        micro: Option<(&MicroValues, usize)>,
    ) -> Result<(), DeidError> {
        let mut offset: Option<i64> = None;
        let subject = self.subject;
        let reference_date = |r: &Reference<'_>, cell_err: &dyn Fn(CellProblem) -> DeidError| {
            Ok::<NaiveDate, DeidError>(match r {
                Reference::Date(d) => *d,
                Reference::Column(i, name) => {
                    let v = record.cell(*i);
                    if v.is_empty() {
                        return Err(cell_err(CellProblem::ReferenceEmpty {
                            reference: (*name).to_string(),
                        }));
                    }
                    transform::parse_date_cell(v)
                        .map_err(|problem| {
                            cell_err(CellProblem::ReferenceInvalid {
                                reference: (*name).to_string(),
                                problem,
                            })
                        })?
                        .date
                }
            })
        };
        let Scratch {
            caches,
            cells,
            pseudonym,
            date_shift,
            ..
        } = scratch;
        for (pos, ((step, cell), cache)) in self
            .steps
            .iter()
            .zip(cells.iter_mut())
            .zip(caches.iter_mut())
            .enumerate()
        {
            cell.clear();
            if only.is_some_and(|o| !o.get(pos).copied().unwrap_or(false)) {
                continue;
            }
            let value = record.cell(step.input);
            let column = &step.column;
            let cell_err = |problem: CellProblem| DeidError::Cell {
                line,
                column: column.clone(),
                problem,
            };
            match &step.op {
                Op::Keep => cell.push_str(value),
                Op::Blank => {}
                Op::Searched(dim, cover) => match (searched.get(*dim), cover) {
                    (Some(label), _) => cell.push_str(label),
                    (None, Some((b, table))) if !value.is_empty() => {
                        if let Some(v) = cache.get(value) {
                            cell.push_str(v);
                        } else {
                            let covered = table.covered(*b, value).map_err(|_| {
                                cell_err(CellProblem::NotInHierarchy {
                                    hierarchy: b.name().to_string(),
                                })
                            })?;
                            cell.push_str(&covered);
                            if cache.len() < 1 << 20 {
                                cache.insert(value.to_string(), covered);
                            }
                        }
                    }
                    (None, _) => cell.push_str(value),
                },
                // Pass 1 reads these columns' values itself; the results exist afterwards.
                Op::Microaggregate(i) => {
                    let m = self.micro.get(*i);
                    let v = micro.and_then(|(mv, row)| mv.values.get(*i)?.get(row).copied());
                    if let (Some(m), Some(v)) = (m, v) {
                        if !v.is_nan() {
                            cell.push_str(&micro::format_value(v, m.decimals));
                        }
                    }
                }
                _ if value.is_empty() => {}
                Op::Pseudonymize(prefix) => {
                    let mac = pseudonym.get_or_insert_with(|| keyed.pseudonym.clone());
                    transform::pseudonymize_in_place(mac, prefix, value, cell)
                }
                Op::Ff1 => {
                    let ff1 = match &keyed.ff1 {
                        Some(Ok(c)) => c,
                        Some(Err(e)) => return Err(cell_err(CellProblem::Ff1(e.clone()))),
                        None => {
                            return Err(cell_err(CellProblem::Ff1(crate::ff1::Ff1Error::Cipher(
                                "the cipher was not prepared".to_string(),
                            ))))
                        }
                    };
                    cell.push_str(
                        &ff1.pseudonymize(value)
                            .map_err(|e| cell_err(CellProblem::Ff1(e)))?,
                    );
                }
                Op::Mask(spec) => transform::mask_into(value, spec, cell),
                Op::Truncate(length, pad) => transform::truncate_into(value, *length, *pad, cell),
                Op::Year => cell.push_str(&transform::year(value).map_err(|e| cell_err(e.into()))?),
                Op::AgeBand(reference) => {
                    let at = reference_date(reference, &cell_err)?;
                    cell.push_str(
                        transform::age_band_label_of(value, at).map_err(|e| cell_err(e.into()))?,
                    );
                }
                Op::ToAge(reference) => {
                    let at = reference_date(reference, &cell_err)?;
                    cell.push_str(
                        &transform::age_of(value, at)
                            .map_err(|e| cell_err(e.into()))?
                            .to_string(),
                    );
                }
                Op::ToDuration(end, name) => {
                    let e = record.cell(*end);
                    if !e.is_empty() {
                        transform::parse_date_cell(e).map_err(|problem| {
                            cell_err(CellProblem::ReferenceInvalid {
                                reference: (*name).to_string(),
                                problem,
                            })
                        })?;
                        cell.push_str(
                            &transform::days_between(value, e)
                                .map_err(|e| cell_err(e.into()))?
                                .to_string(),
                        );
                    }
                }
                Op::TopBottom(bottom, top) => cell.push_str(
                    &transform::top_bottom_code(value, *bottom, *top)
                        .ok_or_else(|| cell_err(CellProblem::NotANumber))?,
                ),
                Op::Noise(kind, scale, decimals) => {
                    let mut context = Vec::with_capacity(column.len() + 16);
                    context.extend_from_slice(b"noise\0");
                    context.extend_from_slice(column.as_bytes());
                    context.push(0);
                    // Keyed by the record's index, not its line: a record's noise is the same
                    // whichever line breaks its fields hold and whether it came as CSV or Arrow.
                    context.extend_from_slice(&row.to_be_bytes());
                    let u = transform::keyed_uniform_keyed(&keyed.date_shift, &context);
                    cell.push_str(
                        &transform::add_noise(
                            value,
                            u,
                            *kind == NoiseKind::Laplace,
                            *scale,
                            *decimals,
                        )
                        .ok_or_else(|| cell_err(CellProblem::NotANumber))?,
                    );
                }
                Op::Redact(kinds) => cell.push_str(&transform::redact_spans(value, kinds)),
                Op::Generalize(g, name) => {
                    if !g.apply(value, cache, cell) {
                        return Err(cell_err(CellProblem::NotInHierarchy {
                            hierarchy: name.clone(),
                        }));
                    }
                }
                Op::DateShift => {
                    let days = match offset {
                        Some(d) => d,
                        None => {
                            let (i, name) =
                                subject.ok_or_else(|| cell_err(CellProblem::NoSubjectColumn))?;
                            let subject = record.cell(i);
                            if subject.is_empty() {
                                return Err(cell_err(CellProblem::SubjectEmpty {
                                    subject: name.to_string(),
                                }));
                            }
                            let mac = date_shift.get_or_insert_with(|| keyed.date_shift.clone());
                            let d = transform::date_shift_offset_in_place(
                                mac,
                                subject,
                                self.max_shift_days,
                            );
                            offset = Some(d);
                            d
                        }
                    };
                    transform::shift_date_into(value, days, cell)
                        .map_err(|e| cell_err(e.into()))?;
                }
            }
            // §11.4.2.4: a value too few records share is released generalised further.
            if let (Some(Some(i)), Some(released)) =
                (self.min_count_of.get(pos), self.released.get())
            {
                let by_input = self
                    .min_count
                    .get(*i)
                    .is_some_and(|m| m.hierarchy.is_some());
                let key = if by_input { value } else { cell.as_str() };
                if let Some(other) = released.get(*i).and_then(|r| r.get(key)) {
                    let other = other.clone();
                    cell.clear();
                    cell.push_str(&other);
                }
            }
        }
        Ok(())
    }
}

fn read_error(e: csv::Error) -> DeidError {
    let line = e.position().map_or(0, |p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => DeidError::Read(io),
        csv::ErrorKind::Utf8 { err, .. } => DeidError::Csv {
            line,
            problem: utf8_problem(err.field()),
        },
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => DeidError::Csv {
            line,
            problem: format!("record has {len} fields but the header has {expected_len}; expected the same number"),
        },
        _ => DeidError::Csv {
            line,
            problem: "malformed CSV record".to_string(),
        },
    }
}

/// `field`: 0-based.
fn utf8_problem(field: usize) -> String {
    format!(
        "field {} is not valid UTF-8; expected UTF-8 text (convert GBK/GB18030 exports first)",
        field + 1
    )
}

fn write_error(e: csv::Error) -> DeidError {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => DeidError::Write(io),
        _ => DeidError::Write(std::io::Error::other("the CSV writer failed")),
    }
}

/// Guesses the field separator from the first line of `head`: the most frequent of `,`, `;`
/// and tab outside double quotes (`,` on a tie or when none occurs). ARX's files use `;`.
pub fn detect_delimiter(head: &[u8]) -> u8 {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let (mut comma, mut semi, mut tab) = (0usize, 0usize, 0usize);
    let mut quoted = false;
    for &b in line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => comma += 1,
            b';' if !quoted => semi += 1,
            b'\t' if !quoted => tab += 1,
            _ => {}
        }
    }
    if semi > comma && semi >= tab {
        b';'
    } else if tab > comma && tab > semi {
        b'\t'
    } else {
        b','
    }
}

/// Reports progress of a long run (a terminal progress bar in the CLI).
pub trait Progress {
    /// A new stage begins (`reading`, `searching`, `writing`).
    fn stage(&self, _name: &str) {}
    /// Records processed so far in the current stage.
    fn rows(&self, _rows: u64) {}
}

/// No progress reporting.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

const PROGRESS_EVERY: u64 = 1 << 14;

/// The hierarchy files a policy names, loaded before any data is read.
#[derive(Debug, Clone, Default)]
pub struct Hierarchies {
    files: HashMap<String, Hierarchy>,
    /// The policy's population table (GB/T 39725-2020 §10.2 c) 1)), when it names one.
    population: Option<std::sync::Arc<PopulationTable>>,
}

impl Hierarchies {
    /// Loads every hierarchy file the policy names (`columns.*.hierarchy`,
    /// `t_closeness.hierarchy`), relative paths against `base` (the policy file's directory),
    /// and checks fixed levels against them. Errors name the policy key.
    pub fn load(policy: &DeidPolicy, base: &Path) -> Result<Hierarchies, PolicyError> {
        let mut files = HashMap::new();
        let mut specs: Vec<(String, &HierarchySpec, Option<usize>)> = policy
            .generalized_columns()
            .into_iter()
            .map(|(c, h, l)| (format!("columns.{c}"), h, l))
            .collect();
        if let Some(TCloseness {
            hierarchy: Some(h), ..
        }) = policy.t_closeness()
        {
            specs.push(("t_closeness".to_string(), h, None));
        }
        for (key, spec, level) in specs {
            let HierarchySpec::File(f) = spec else {
                continue;
            };
            if !files.contains_key(f) {
                let path = base.join(f);
                let h = Hierarchy::from_csv_path(&path)
                    .map_err(|e| policy.error_at(&format!("{key}.hierarchy"), format!("{e}")))?;
                files.insert(f.clone(), h);
            }
            if let (Some(level), Some(h)) = (level, files.get(f)) {
                if level >= h.height() {
                    return Err(policy.error_at(
                        &format!("{key}.level"),
                        format!(
                            "hierarchy `{f}` has levels 0 to {}; found {level}",
                            h.height().saturating_sub(1)
                        ),
                    ));
                }
            }
        }
        let population = match policy.population_table() {
            Some(f) => Some(std::sync::Arc::new(
                PopulationTable::from_csv_path(&base.join(f), policy.min_area_population())
                    .map_err(|e| policy.error_at("population_table", e.to_string()))?,
            )),
            None => None,
        };
        Ok(Hierarchies { files, population })
    }

    /// With the policy's population table (tests and callers that build the table themselves).
    pub fn with_population(mut self, table: PopulationTable) -> Self {
        self.population = Some(std::sync::Arc::new(table));
        self
    }

    /// A loaded file by the name the policy gives it.
    pub fn file(&self, name: &str) -> Option<&Hierarchy> {
        self.files.get(name)
    }

    fn resolve(
        &self,
        spec: &HierarchySpec,
        column: &str,
        values: &[String],
    ) -> Result<Hierarchy, DeidError> {
        match spec {
            HierarchySpec::File(f) => self.file(f).cloned().ok_or_else(|| {
                DeidError::Hierarchy(format!(
                    "hierarchy file `{f}` of column `{column}` was not loaded"
                ))
            }),
            HierarchySpec::Builtin(b) => {
                let nonempty: Vec<&str> = values
                    .iter()
                    .map(String::as_str)
                    .filter(|v| !v.is_empty())
                    .collect();
                let h = b.materialize(column, nonempty).map_err(|e| match e {
                    HierarchyError::BadValue { builtin, expected, .. } => DeidError::Hierarchy(format!(
                        "column `{column}`: a value is not {expected}, so built-in hierarchy `{builtin}` cannot generalise it"
                    )),
                    other => DeidError::Hierarchy(format!("column `{column}`: {other}")),
                })?;
                if values.iter().any(String::is_empty) {
                    // An empty cell stays empty until the top level.
                    let height = h.height().max(2);
                    let mut rows = h.rows().to_vec();
                    let mut empty = vec![String::new(); height - 1];
                    empty.push("*".to_string());
                    rows.push(empty);
                    return Hierarchy::from_rows(column, rows)
                        .map_err(|e| DeidError::Hierarchy(format!("column `{column}`: {e}")));
                }
                Ok(h)
            }
        }
    }
}

/// How [`deidentify_with`] runs.
pub struct RunOptions<'a> {
    /// Run the k-anonymity search over the `generalize` quasi-identifiers without a `level`.
    pub optimize: bool,
    /// Force local (`Some(true)`) or global (`Some(false)`) recoding; `None`: the policy's.
    pub local: Option<bool>,
    /// Field separator; `None`: detected from the header line.
    pub delimiter: Option<u8>,
    /// The policy's hierarchy files.
    pub hierarchies: &'a Hierarchies,
    /// Progress sink.
    pub progress: &'a dyn Progress,
    /// Prosecutor-risk threshold for `records_above_threshold` (default 0.2 = 1/5).
    pub risk_threshold: f64,
    /// Population size for the population-uniqueness estimate.
    pub population: Option<f64>,
}

impl fmt::Debug for RunOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("optimize", &self.optimize)
            .field("local", &self.local)
            .field("delimiter", &self.delimiter)
            .field("risk_threshold", &self.risk_threshold)
            .field("population", &self.population)
            .finish_non_exhaustive()
    }
}

fn risk_of(counter: &KAnonymityCounter, options: &RunOptions<'_>) -> RiskReport {
    risk_from_class_sizes(
        &counter.class_sizes(),
        options.risk_threshold,
        options.population,
    )
}

/// De-identifies a CSV stream under `policy` and `keys`, writing CSV to `output`.
///
/// The input must be UTF-8 CSV with a header line. Columns are written in input order, without
/// the dropped ones. Empty cells stay empty. The k-anonymity check runs over the output's
/// quasi-identifier columns; a failing check is reported (`passed = false`), not an error —
/// the caller decides, and must discard the output on failure if it will not publish it.
/// `generalize` rules need a fixed `level` here, and `microaggregate` is refused (it reads the
/// input twice); see [`deidentify_reopenable`] and [`deidentify_with`] for those.
pub fn deidentify<R: Read, W: Write>(
    policy: &DeidPolicy,
    keys: &DeidKeys,
    input: R,
    output: W,
) -> Result<DeidReport, DeidError> {
    if let Some(rule) = policy
        .columns()
        .iter()
        .find(|r| matches!(r.action, Action::Microaggregate { .. }))
    {
        // Refused before any output rather than failing at the end of the first pass.
        return Err(DeidError::Policy(policy.error_at(
            &format!("columns.{}.action", rule.column),
            "microaggregate reads the input twice (all values of the column before the first output row), and this input can be read only once; expected an input that can be opened again (deidentify_reopenable, deidentify_with, medspace deid FILE)",
        )));
    }
    let mut input = Some(input);
    let mut open = move || {
        input
            .take()
            .ok_or_else(|| std::io::Error::other("the input can be read only once"))
    };
    deidentify_reopenable(policy, keys, &mut open, output)
}

/// [`deidentify`] over an input that `open` can produce again, so `microaggregate` is allowed:
/// an input of at most 64 MB is read once into memory, a larger one is opened a second time
/// for the second pass (see [`deidentify_with`]). The policy's `generalize` rules need a fixed
/// `level` (no search); the delimiter is a comma.
pub fn deidentify_reopenable<R: Read, W: Write>(
    policy: &DeidPolicy,
    keys: &DeidKeys,
    open: &mut dyn FnMut() -> std::io::Result<R>,
    output: W,
) -> Result<DeidReport, DeidError> {
    let hierarchies = Hierarchies::load(policy, Path::new(".")).map_err(DeidError::Policy)?;
    let options = RunOptions {
        optimize: false,
        local: None,
        delimiter: Some(b','),
        hierarchies: &hierarchies,
        progress: &NoProgress,
        risk_threshold: DEFAULT_RISK_THRESHOLD,
        population: None,
    };
    deidentify_with(policy, keys, open, output, &options)
}

/// The parameter fingerprint of a run under `policy` and `keys` (T/CI 857-2024 6.5.3: the
/// de-identification log names the parameters, never the secrets): SHA-256 (SM3 with HMAC-SM3)
/// over a version label, the policy's SHA-256, the MAC's name and each key's check value — the
/// MAC of a fixed label under the key, as a hardware module's key check value identifies a key
/// without revealing it. Lower-case hex.
pub fn parameter_fingerprint(policy: &DeidPolicy, keys: &DeidKeys) -> String {
    let check_value = |key: &[u8; 32]| {
        transform::KeyedHmac::with(keys.mac, key).mac(b"medspace-deid key check value v1")
    };
    let mut input = Vec::with_capacity(256);
    input.extend_from_slice(b"medspace-deid parameters v1\0");
    input.extend_from_slice(policy.sha256_hex().as_bytes());
    input.push(0);
    input.extend_from_slice(keys.mac.name().as_bytes());
    input.push(0);
    input.extend_from_slice(&check_value(&keys.pseudonym_key));
    input.extend_from_slice(&check_value(&keys.date_shift_key));
    match keys.mac {
        MacAlgorithm::HmacSha256 => {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&input))
        }
        MacAlgorithm::HmacSm3 => {
            use sm3::Digest;
            hex::encode(sm3::Sm3::digest(&input))
        }
    }
}

/// Prosecutor risk above which a record counts as at risk: 1/5 (GB/T 39725-2020 §11.4.2.4).
pub const DEFAULT_RISK_THRESHOLD: f64 = 0.2;

/// De-identifies CSV from `open` into `output`. With `optimize` or microaggregation the input
/// is read twice (the search needs the quasi-identifiers of every record before the first
/// output row is written): an input of at most 64 MB is read once into memory and both passes
/// run over those bytes (`open` is called once), a larger one is opened again for pass 2.
///
/// With `optimize`, the `generalize` quasi-identifiers without a fixed level are generalised
/// by optimal global recoding (or local recoding) under the policy's k, suppression limit,
/// l-diversity and t-closeness; suppressed records are left out of the output. The report
/// carries the levels, utility and the risk before and after.
pub fn deidentify_with<R: Read, W: Write>(
    policy: &DeidPolicy,
    keys: &DeidKeys,
    open: &mut dyn FnMut() -> std::io::Result<R>,
    output: W,
    options: &RunOptions<'_>,
) -> Result<DeidReport, DeidError> {
    deidentify_chunked(
        policy,
        keys,
        Opener::Csv(open),
        output,
        options,
        CHUNK_ROWS,
        true,
        IN_MEMORY_LIMIT,
    )
}

/// The columnar input of [`deidentify_batches_with`]: the column names and Arrow batches whose
/// columns are all text (`Utf8`, NULL for an absent value) in that order. Typed columns are
/// rendered to text before they arrive here (medspace-columnar renders them as a CSV export of
/// the same data would), so both inputs give byte-identical output.
pub struct TextBatches<'a> {
    /// Column names, in batch order.
    pub columns: Vec<String>,
    /// The batches, read one at a time; an error ends the run with it.
    pub batches: Box<dyn Iterator<Item = Result<RecordBatch, DeidError>> + 'a>,
}

impl fmt::Debug for TextBatches<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextBatches")
            .field("columns", &self.columns.len())
            .finish_non_exhaustive()
    }
}

/// [`deidentify_reopenable`] over Arrow batches (see [`deidentify_batches_with`]).
pub fn deidentify_batches<'a, W: Write>(
    policy: &DeidPolicy,
    keys: &DeidKeys,
    open: &mut dyn FnMut() -> Result<TextBatches<'a>, DeidError>,
    output: W,
) -> Result<DeidReport, DeidError> {
    let hierarchies = Hierarchies::load(policy, Path::new(".")).map_err(DeidError::Policy)?;
    let options = RunOptions {
        optimize: false,
        local: None,
        delimiter: None,
        hierarchies: &hierarchies,
        progress: &NoProgress,
        risk_threshold: DEFAULT_RISK_THRESHOLD,
        population: None,
    };
    deidentify_batches_with(policy, keys, open, output, &options)
}

/// The columnar engine: [`deidentify_with`] over Arrow batches instead of CSV text, for data
/// that is already columnar (the node's encrypted Parquet objects, Parquet files given to the
/// command line). Batches stream one at a time: each is cut into zero-copy slices of
/// `CHUNK_ROWS` rows that the rayon pool transforms in parallel while the next batch is read,
/// and the output is written in input order; a run that reads its input twice (search,
/// microaggregation) calls `open` again for the second pass. No text is parsed and no batch
/// is kept after its rows are written, so memory is bounded by the batches in flight and the
/// distinct quasi-identifier combinations, as in the CSV engine. The output (CSV), the report
/// and the errors are those of [`deidentify_with`] on the CSV rendering of the same batches;
/// an error names the record by the line it would have in that rendering (row + 1, after the
/// header line).
pub fn deidentify_batches_with<'a, W: Write>(
    policy: &DeidPolicy,
    keys: &DeidKeys,
    open: &mut dyn FnMut() -> Result<TextBatches<'a>, DeidError>,
    output: W,
    options: &RunOptions<'_>,
) -> Result<DeidReport, DeidError> {
    deidentify_chunked::<std::io::Empty, W>(
        policy,
        keys,
        Opener::Batches(open),
        output,
        options,
        CHUNK_ROWS,
        true,
        0,
    )
}

/// Where a run's input comes from.
enum Opener<'o, 'a, R> {
    /// CSV text, opened once per pass (or once, when it is buffered).
    Csv(&'o mut dyn FnMut() -> std::io::Result<R>),
    /// Text batches, opened once per pass.
    Batches(&'o mut dyn FnMut() -> Result<TextBatches<'a>, DeidError>),
}

/// The records of one pass.
enum Records<'s, 'a, R> {
    Csv(csv::Reader<BufReader<Source<'s, R>>>),
    Batches(BatchCursor<'a>),
}

impl<R: Read> Records<'_, '_, R> {
    fn header(&mut self) -> Result<csv::StringRecord, DeidError> {
        match self {
            Records::Csv(reader) => Ok(reader.headers().map_err(read_error)?.clone()),
            Records::Batches(cursor) => Ok(cursor.header.clone()),
        }
    }
}

/// The records of a pass: `first` when pass 1 already read the start of the input while
/// deciding whether it fits in memory, else the buffered bytes (`in_memory`), else the input
/// opened (again).
fn open_records<'s, 'a, R: Read>(
    opener: &mut Opener<'_, 'a, R>,
    first: Option<Source<'s, R>>,
    head: &'s [u8],
    in_memory: bool,
    delimiter: Option<u8>,
) -> Result<Records<'s, 'a, R>, DeidError> {
    Ok(match opener {
        Opener::Csv(open) => {
            let source = match first {
                Some(source) => source,
                None if in_memory => Source {
                    head,
                    read: None,
                    rest: None,
                },
                None => Source {
                    head: &[],
                    read: None,
                    rest: Some(open().map_err(DeidError::Read)?),
                },
            };
            Records::Csv(open_source(source, delimiter)?)
        }
        Opener::Batches(open) => Records::Batches(BatchCursor::new(open()?)),
    })
}

/// Reads text batches as consecutive slices of rows.
struct BatchCursor<'a> {
    header: csv::StringRecord,
    batches: Box<dyn Iterator<Item = Result<RecordBatch, DeidError>> + 'a>,
    current: Vec<StringArray>,
    offset: usize,
    len: usize,
}

impl<'a> BatchCursor<'a> {
    fn new(input: TextBatches<'a>) -> Self {
        BatchCursor {
            header: csv::StringRecord::from(input.columns),
            batches: input.batches,
            current: Vec::new(),
            offset: 0,
            len: 0,
        }
    }

    /// The next rows, at most `max` and all from one batch (zero-copy slices of its columns);
    /// `None` at the end of the input.
    fn next_rows(&mut self, max: usize) -> Result<Option<Vec<StringArray>>, DeidError> {
        while self.offset >= self.len {
            let Some(batch) = self.batches.next() else {
                self.current.clear();
                return Ok(None);
            };
            let batch = batch?;
            self.current = text_columns(&batch, &self.header)?;
            self.offset = 0;
            self.len = batch.num_rows();
        }
        let n = max.max(1).min(self.len - self.offset);
        let rows = self
            .current
            .iter()
            .map(|c| c.slice(self.offset, n))
            .collect();
        self.offset += n;
        Ok(Some(rows))
    }
}

/// A batch's columns as text arrays, checked against the declared column names.
fn text_columns(
    batch: &RecordBatch,
    header: &csv::StringRecord,
) -> Result<Vec<StringArray>, DeidError> {
    if batch.num_columns() != header.len() {
        return Err(DeidError::Read(std::io::Error::other(format!(
            "a batch of the input has {} columns, expected {} ({})",
            batch.num_columns(),
            header.len(),
            header_listing(header)
        ))));
    }
    batch
        .columns()
        .iter()
        .zip(header.iter())
        .map(|(column, name)| {
            column
                .as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .ok_or_else(|| {
                    DeidError::Read(std::io::Error::other(format!(
                        "column `{name}` of the input is {}, expected text (Utf8)",
                        column.data_type()
                    )))
                })
        })
        .collect()
}

/// A run that reads its input twice (a search or microaggregation) reads an input of at most
/// this many bytes once into memory: the second pass parses the buffered bytes instead of
/// opening the input again, and finds each record's combination by the id noted in pass 1
/// instead of transforming its quasi-identifiers again. Larger inputs stream twice.
const IN_MEMORY_LIMIT: usize = 64 << 20;

/// The input of a pass: bytes in memory (all of a buffered input, or, owned and freed once
/// read, the start of a larger one read while deciding), then the rest of the opened input.
struct Source<'b, R> {
    head: &'b [u8],
    read: Option<std::io::Cursor<Vec<u8>>>,
    rest: Option<R>,
}

/// A CSV reader over `source`, with the given delimiter or the one its first bytes suggest.
fn open_source<R: Read>(
    source: Source<'_, R>,
    delimiter: Option<u8>,
) -> Result<csv::Reader<BufReader<Source<'_, R>>>, DeidError> {
    let mut buffered = BufReader::with_capacity(1 << 20, source);
    let delimiter = match delimiter {
        Some(d) => d,
        None => detect_delimiter(buffered.fill_buf().map_err(DeidError::Read)?),
    };
    Ok(csv::ReaderBuilder::new()
        .has_headers(true)
        .delimiter(delimiter)
        .from_reader(buffered))
}

impl<R: Read> Read for Source<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.head.is_empty() {
            return self.head.read(buf);
        }
        if let Some(bytes) = &mut self.read {
            let n = bytes.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.read = None;
        }
        match &mut self.rest {
            Some(r) => r.read(buf),
            None => Ok(0),
        }
    }
}

/// [`deidentify_with`] with the writing pass's chunk size as a parameter (tests vary it to
/// move the chunk boundaries), and whether a search without microaggregation may stream
/// (tests compare it with keeping every record), and the largest input read into memory for
/// the second pass (tests compare 0, always streaming, with buffering).
#[allow(clippy::too_many_arguments)]
fn deidentify_chunked<'a, R: Read, W: Write>(
    policy: &DeidPolicy,
    keys: &DeidKeys,
    mut opener: Opener<'_, 'a, R>,
    output: W,
    options: &RunOptions<'_>,
    chunk_rows: usize,
    stream_search: bool,
    memory_limit: usize,
) -> Result<DeidReport, DeidError> {
    let started = Instant::now();
    let searched: Vec<String> = if options.optimize {
        policy
            .quasi_identifiers()
            .iter()
            .filter(|q| matches!(policy.action_for(q), Action::Generalize { level: None, .. }))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let counted = policy.columns().iter().find(|r| r.min_count.is_some());
    let local = options
        .local
        .unwrap_or(policy.recoding() == RecodingModel::Local);
    if let (Some(rule), false) = (counted, searched.is_empty()) {
        if policy.suppression_limit() > 0.0 || local {
            // Pass 1 counts the input's records; records the search then suppresses would
            // leave released values with fewer records than counted.
            return Err(DeidError::Policy(policy.error_at(
                &format!("columns.{}.min_count", rule.column),
                "min_count counts the input's records, and this search may suppress records (suppression_limit above 0 or local recoding), so a released value could be shared by fewer; expected suppression_limit = 0 with global recoding, or no min_count",
            )));
        }
    }
    // Two passes (search, microaggregation or minimum counts): an input within
    // `memory_limit` is read once.
    let two_passes = !searched.is_empty()
        || counted.is_some()
        || policy
            .columns()
            .iter()
            .any(|r| matches!(r.action, Action::Microaggregate { .. }));
    let mut head: Vec<u8> = Vec::new();
    let mut first: Option<Source<'_, R>> = None;
    let mut in_memory = false;
    if let (true, true, Opener::Csv(open)) = (two_passes, memory_limit > 0, &mut opener) {
        let mut input = open().map_err(DeidError::Read)?;
        let limit = memory_limit.saturating_add(1);
        // Reserved, not touched: only the bytes read take memory, and reading never copies
        // them to a larger buffer.
        let mut bytes = Vec::with_capacity(limit);
        (&mut input)
            .take(u64::try_from(limit).unwrap_or(u64::MAX))
            .read_to_end(&mut bytes)
            .map_err(DeidError::Read)?;
        in_memory = bytes.len() <= memory_limit;
        if in_memory {
            bytes.shrink_to_fit();
            head = bytes;
        } else {
            // Too large: pass 1 reads these bytes, then the rest; they are freed once read.
            first = Some(Source {
                head: &[],
                read: Some(std::io::Cursor::new(bytes)),
                rest: Some(input),
            });
        }
    }
    let head: &[u8] = &head;
    let mut reader = open_records(&mut opener, first, head, in_memory, options.delimiter)?;
    let header = reader.header()?;
    if header.is_empty() {
        return Err(DeidError::NoHeader);
    }
    let plan = Plan::build(policy, &header, options.hierarchies, &searched)?;
    let keyed = Keyed::new(keys, &plan);
    let mut before = KAnonymityCounter::new(policy.k(), policy.quasi_identifiers().to_vec());

    // Pass 1 (search or microaggregation): the quasi-identifier and sensitive output values of
    // every record for the search, and the microaggregated columns' values with their classes.
    let mut search: Option<SearchOutcome> = None;
    let mut micro_values: Option<MicroValues> = None;
    let mut min_count_released: BTreeMap<String, u64> = BTreeMap::new();
    if !searched.is_empty() || !plan.micro.is_empty() || !plan.min_count.is_empty() {
        let searching = !searched.is_empty();
        options.progress.stage(if searching {
            "reading quasi-identifiers"
        } else if !plan.micro.is_empty() {
            "reading values to aggregate"
        } else {
            "counting released values"
        });
        let mut wanted = vec![false; plan.steps.len()];
        let for_search: &[usize] = if searching { &plan.qi_outputs } else { &[] };
        let sensitive: &[usize] = if searching {
            &plan.sensitive_outputs
        } else {
            &[]
        };
        let group_outputs = plan.micro.iter().flat_map(|m| &m.group_outputs);
        // Minimum counts by output value need that value.
        let counted_outputs: Vec<usize> = plan
            .min_count
            .iter()
            .filter(|m| m.hierarchy.is_none())
            .map(|m| m.step)
            .collect();
        for &i in for_search
            .iter()
            .chain(sensitive)
            .chain(group_outputs)
            .chain(&counted_outputs)
        {
            if let Some(w) = wanted.get_mut(i) {
                *w = true;
            }
        }
        let mut record = csv::StringRecord::new();
        let mut scratch = Scratch::new(&plan);
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut values: Vec<Vec<f64>> = plan.micro.iter().map(|_| Vec::new()).collect();
        let mut classes: Vec<Vec<u32>> = plan.micro.iter().map(|_| Vec::new()).collect();
        let mut class_ids: Vec<crate::kanon::ClassKeyMap<u32>> = plan
            .micro
            .iter()
            .map(|_| crate::kanon::ClassKeyMap::default())
            .collect();
        let mut n: u64 = 0;
        // Without microaggregation the search needs only the distinct combinations of the
        // quasi-identifiers' output values (with the sensitive value).
        let streaming = searching && plan.micro.is_empty() && stream_search;
        // When every quasi-identifier's output in this pass is its input (kept, or searched and
        // not yet generalised), a record's input class is its combination's quasi-identifiers:
        // the input classes are then counted per combination, not digested per record.
        let before_from_units = streaming
            && plan.qi_outputs.iter().zip(&plan.qi_inputs).all(|(&o, &i)| {
                plan.steps.get(o).is_some_and(|s| {
                    s.input == i && matches!(s.op, Op::Keep | Op::Searched(_, None))
                })
            });
        let mut units = streaming
            .then(|| UnitIndex::new(plan.qi_outputs.len() + plan.sensitive_outputs.len().min(1)));
        let mut record_units: Option<Vec<u32>> = (streaming && in_memory).then(Vec::new);
        let mut min_counts: Vec<HashMap<String, u64>> =
            plan.min_count.iter().map(|_| HashMap::new()).collect();
        let mut visit = |record: &dyn Cells, line: u64| -> Result<(), DeidError> {
            plan.apply(
                &keyed,
                &mut scratch,
                record,
                line,
                n,
                Some(&wanted),
                &[],
                None,
            )?;
            let cells = &scratch.cells;
            for (m, counts) in plan.min_count.iter().zip(&mut min_counts) {
                let key = if m.hierarchy.is_some() {
                    record.cell(m.input)
                } else {
                    cells.get(m.step).map_or("", String::as_str)
                };
                if key.is_empty() {
                    continue;
                }
                match counts.get_mut(key) {
                    Some(c) => *c += 1,
                    None => {
                        counts.insert(key.to_string(), 1);
                    }
                }
            }
            for (((m, vals), cls), ids) in plan
                .micro
                .iter()
                .zip(&mut values)
                .zip(&mut classes)
                .zip(&mut class_ids)
            {
                let raw = record.cell(m.input);
                let v = if raw.is_empty() {
                    f64::NAN
                } else {
                    transform::parse_number(raw).ok_or_else(|| DeidError::Cell {
                        line,
                        column: m.column.clone(),
                        problem: CellProblem::NotANumber,
                    })?
                };
                vals.push(v);
                let class = if m.group_outputs.is_empty() {
                    0
                } else {
                    let key = KAnonymityCounter::class_key(
                        m.group_outputs
                            .iter()
                            .map(|&i| cells.get(i).map_or("", String::as_str)),
                    );
                    let next = u32::try_from(ids.len()).unwrap_or(u32::MAX);
                    *ids.entry(key).or_insert(next)
                };
                cls.push(class);
            }
            if searching && !before_from_units {
                // The input's classes (the risk before): one digest per record, as the
                // writing pass counts them without a search.
                before.add(plan.qi_inputs.iter().map(|&i| record.cell(i)));
            }
            if let (true, Some(units)) = (searching, units.as_mut()) {
                // Streaming: count combinations, keep no record.
                let unit = units.add(
                    plan.qi_outputs
                        .iter()
                        .chain(plan.sensitive_outputs.first())
                        .map(|&i| cells.get(i).map_or("", String::as_str)),
                )?;
                if let Some(ids) = record_units.as_mut() {
                    ids.push(unit);
                }
            } else if searching {
                let mut row: Vec<String> = plan
                    .qi_outputs
                    .iter()
                    .map(|&i| cells.get(i).cloned().unwrap_or_default())
                    .collect();
                if let Some(&s) = plan.sensitive_outputs.first() {
                    row.push(cells.get(s).cloned().unwrap_or_default());
                }
                rows.push(row);
            }
            n += 1;
            if n.is_multiple_of(PROGRESS_EVERY) {
                options.progress.rows(n);
            }
            Ok(())
        };
        match &mut reader {
            Records::Csv(reader) => {
                while reader.read_record(&mut record).map_err(read_error)? {
                    let line = record.position().map_or(0, |p| p.line());
                    visit(&record, line)?;
                }
            }
            Records::Batches(cursor) => {
                // Lines as in the CSV rendering: the header is line 1.
                let mut line = 1u64;
                while let Some(columns) = cursor.next_rows(usize::MAX)? {
                    for row in 0..columns.first().map_or(0, Array::len) {
                        line += 1;
                        visit(
                            &BatchRow {
                                columns: &columns,
                                row,
                            },
                            line,
                        )?;
                    }
                }
            }
        }
        drop(class_ids);
        let released: Vec<HashMap<String, String>> = plan
            .min_count
            .iter()
            .zip(min_counts)
            .map(|(m, counts)| released_values(m, counts))
            .collect();
        min_count_released = plan
            .min_count
            .iter()
            .zip(&released)
            .map(|(m, r)| (m.column.clone(), r.len() as u64))
            .collect();
        // Set once, before the writing pass reads it.
        let _ = plan.released.set(released);
        for ((m, vals), cls) in plan.micro.iter().zip(&mut values).zip(&classes) {
            micro::microaggregate(vals, cls, m.group_size, m.statistic).map_err(|e| {
                DeidError::Policy(policy.error_at(
                    &format!("columns.{}.group_size", m.column),
                    format!("column `{}`: {e}", m.column),
                ))
            })?;
        }
        drop(classes);
        let mv = MicroValues { values };
        if searching {
            // The search sees the aggregated values of microaggregated quasi-identifiers.
            let mut columns: Vec<usize> = plan.qi_outputs.clone();
            columns.extend(plan.sensitive_outputs.first());
            for (j, &out_pos) in columns.iter().enumerate() {
                let Some(Op::Microaggregate(i)) = plan.steps.get(out_pos).map(|s| &s.op) else {
                    continue;
                };
                let (Some(m), Some(vals)) = (plan.micro.get(*i), mv.values.get(*i)) else {
                    continue;
                };
                for (row, v) in rows.iter_mut().zip(vals) {
                    if let Some(cell) = row.get_mut(j) {
                        *cell = if v.is_nan() {
                            String::new()
                        } else {
                            micro::format_value(*v, m.decimals)
                        };
                    }
                }
            }
            options.progress.stage("searching");
            search = Some(match units {
                Some(units) => {
                    if before_from_units {
                        // A unit's first `q` value ids are its input class: classes are told
                        // apart by ids, so no digest of their values is needed.
                        let q = plan.qi_outputs.len();
                        let width = units.dicts.len();
                        if width == q {
                            // Units are distinct combinations of exactly these values.
                            for (u, &count) in units.counts.iter().enumerate() {
                                before.add_key(
                                    KAnonymityCounter::index_key(u as u64),
                                    u64::from(count),
                                );
                            }
                        } else {
                            // Units that differ only in the sensitive value share a class.
                            let mut classes: SeededMap<&[u32], u64> = SeededMap::default();
                            for (u, &count) in units.counts.iter().enumerate() {
                                let ids = units.tuples.get(u * width..u * width + q).unwrap_or(&[]);
                                let next = classes.len() as u64;
                                let class = *classes.entry(ids).or_insert(next);
                                before
                                    .add_key(KAnonymityCounter::index_key(class), u64::from(count));
                            }
                        }
                    }
                    let mut outcome =
                        run_search(policy, options, &searched, SearchRows::Units(&units))?;
                    outcome.units = Some(units);
                    outcome.record_units = record_units;
                    outcome
                }
                _ => run_search(policy, options, &searched, SearchRows::Records(rows))?,
            });
        }
        micro_values = Some(mv);
        reader = open_records(&mut opener, None, head, in_memory, options.delimiter)?;
        let again = reader.header()?;
        if again != header {
            return Err(DeidError::Read(std::io::Error::other(
                "the input changed between the two passes",
            )));
        }
    }

    options.progress.stage("writing");
    let mut output = output;
    let mut head = new_chunk_writer();
    head.write_record(&plan.output_columns)
        .map_err(write_error)?;
    head.flush().map_err(DeidError::Write)?;
    output.write_all(head.get_ref()).map_err(DeidError::Write)?;
    let wanted_for_units: Vec<bool> = {
        let mut w = vec![false; plan.steps.len()];
        for &i in plan.qi_outputs.iter().chain(plan.sensitive_outputs.first()) {
            if let Some(x) = w.get_mut(i) {
                *x = true;
            }
        }
        w
    };
    let writing = Writing {
        wanted_for_units: &wanted_for_units,
        plan: &plan,
        keyed: &keyed,
        search: search.as_ref(),
        searched: searched.len(),
        collect_before: search.is_none(),
        micro: micro_values.as_ref(),
        after: std::sync::Mutex::new(KAnonymityCounter::new(
            policy.k(),
            policy.quasi_identifiers().to_vec(),
        )),
        before: std::sync::Mutex::new(before),
    };
    let by_unit = search.as_ref().and_then(|s| by_unit(&plan, s));
    let written = match by_unit {
        // Every output cell is a function of the record's unit: each distinct output line is
        // rendered once and the input is not parsed again.
        Some(by_unit) => write_by_unit(
            &mut output,
            &plan,
            &by_unit,
            &mut writing
                .after
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            options.progress,
        )?,
        None => write_records(
            &mut reader,
            &mut output,
            &writing,
            options.progress,
            chunk_rows,
        )?,
    };
    output.flush().map_err(DeidError::Write)?;
    let (rows, rows_out) = (written.rows, written.rows_out);
    options.progress.rows(rows);
    let Writing { after, before, .. } = writing;
    let counter = after
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = before
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);

    let k_anonymity = counter.report();
    let mut generalization: BTreeMap<String, usize> = plan.fixed_levels.clone();
    let (mut utility, mut search_summary) = (None, None);
    if let Some(s) = &search {
        if let Some(first) = s.recoding.nodes.first() {
            for (c, &l) in searched.iter().zip(first) {
                generalization.insert(c.clone(), l);
            }
        }
        utility = Some(s.utility.clone());
        search_summary = Some(s.summary.clone());
    }
    Ok(DeidReport {
        min_count_released,
        mac: keys.mac,
        parameter_fingerprint: parameter_fingerprint(policy, keys),
        policy_name: policy.name().to_string(),
        policy_sha256: policy.sha256_hex(),
        rows_in: rows,
        rows_out,
        output_columns: plan.output_columns,
        actions: plan.actions,
        k_achieved: k_anonymity.smallest_class,
        suppressed_records: rows - rows_out,
        equivalence_classes: k_anonymity.equivalence_classes,
        generalization,
        utility,
        search: search_summary,
        risk_before: Some(risk_of(&before, options)),
        risk_after: Some(risk_of(&counter, options)),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        k_anonymity,
    })
}

/// Records handed to a worker at a time: enough that scheduling costs nothing next to the
/// transforms, few enough that the chunks in flight stay within a few megabytes.
const CHUNK_ROWS: usize = 2048;

/// What the workers of the writing pass share, read-only.
struct Writing<'a, 'p> {
    /// Output positions whose values identify a record's combination (quasi-identifiers and
    /// the first sensitive column), for a streamed search.
    wanted_for_units: &'a [bool],
    plan: &'a Plan<'p>,
    keyed: &'a Keyed,
    search: Option<&'a SearchOutcome>,
    /// Columns whose level the search chose.
    searched: usize,
    /// Count the input's quasi-identifier classes (the risk before; with a search, pass 1
    /// counted them).
    collect_before: bool,
    micro: Option<&'a MicroValues>,
    /// The output's classes and the input's, filled by the workers: counting is commutative,
    /// so the calling thread (reading and writing) never waits on it.
    after: std::sync::Mutex<KAnonymityCounter>,
    before: std::sync::Mutex<KAnonymityCounter>,
}

/// Consecutive input records, in input order.
struct Chunk {
    seq: usize,
    /// Index of the first record in the input.
    first_row: usize,
    rows: ChunkRows,
    /// A recycled, empty output buffer.
    bytes: Vec<u8>,
}

/// A chunk's records.
enum ChunkRows {
    /// Recycled buffers; the first `len` hold this chunk's records.
    Csv {
        records: Vec<csv::ByteRecord>,
        len: usize,
    },
    /// Zero-copy slices of one batch's text columns.
    Batch(Vec<StringArray>),
}

/// A transformed chunk: its CSV bytes and its classes, merged by the reader thread in order.
struct Done {
    seq: usize,
    records: Vec<csv::ByteRecord>,
    bytes: Vec<u8>,
    rows_out: u64,
    /// The chunk's first failing record; the records before it are in `bytes`.
    error: Option<DeidError>,
}

/// The writing pass's totals.
struct Written {
    rows: u64,
    rows_out: u64,
}

fn new_chunk_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().from_writer(Vec::new())
}

/// The writing pass. GB/T 39725-2020 §10.2's transforms are per record, so records are
/// transformed in chunks on the rayon pool while the calling thread reads the next chunks and
/// writes finished ones strictly in input order: the output, the counts and the first error
/// reported are those of a record-by-record pass. The reader and writer never leave the
/// calling thread (they need not be `Send`), and at most `2 × threads + 1` chunks are in
/// flight, so memory stays bounded whatever the input size.
fn write_records<R: Read, W: Write>(
    reader: &mut Records<'_, '_, R>,
    output: &mut W,
    w: &Writing<'_, '_>,
    progress: &dyn Progress,
    chunk_rows: usize,
) -> Result<Written, DeidError> {
    let chunk_rows = chunk_rows.max(1);
    let pool: std::sync::Mutex<Vec<Scratch>> = std::sync::Mutex::new(Vec::new());
    let (tx, rx) = std::sync::mpsc::channel::<Done>();
    // Chunks read and not yet written, finished or not: a chunk finished while an earlier one is
    // still being transformed waits for it and still counts, so a stalled worker stops the
    // reading instead of letting finished chunks pile up in memory.
    let max_in_flight = 2 * rayon::current_num_threads() + 1;
    let mut written = Written {
        rows: 0,
        rows_out: 0,
    };
    rayon::in_place_scope(|scope| {
        let mut free: Vec<Vec<csv::ByteRecord>> = Vec::new();
        let mut free_bytes: Vec<Vec<u8>> = Vec::new();
        let mut pending: BTreeMap<usize, Done> = BTreeMap::new();
        let (mut next_seq, mut next_write, mut in_flight) = (0usize, 0usize, 0usize);
        let mut ended = false;
        let mut read_failure: Option<DeidError> = None;
        loop {
            while !ended && in_flight < max_in_flight {
                let (rows, len) = match reader {
                    Records::Csv(reader) => {
                        let mut records = free.pop().unwrap_or_default();
                        let mut len = 0;
                        while len < chunk_rows {
                            if records.len() == len {
                                records.push(csv::ByteRecord::new());
                            }
                            let Some(slot) = records.get_mut(len) else {
                                break;
                            };
                            match reader.read_byte_record(slot) {
                                Ok(true) => len += 1,
                                Ok(false) => {
                                    ended = true;
                                    break;
                                }
                                Err(e) => {
                                    read_failure = Some(read_error(e));
                                    ended = true;
                                    break;
                                }
                            }
                        }
                        (ChunkRows::Csv { records, len }, len)
                    }
                    Records::Batches(cursor) => match cursor.next_rows(chunk_rows) {
                        Ok(Some(columns)) => {
                            let len = columns.first().map_or(0, Array::len);
                            (ChunkRows::Batch(columns), len)
                        }
                        Ok(None) => {
                            ended = true;
                            (ChunkRows::Batch(Vec::new()), 0)
                        }
                        Err(e) => {
                            read_failure = Some(e);
                            ended = true;
                            (ChunkRows::Batch(Vec::new()), 0)
                        }
                    },
                };
                let first_row = written.rows;
                written.rows += len as u64;
                // Progress at the same multiples as a record-by-record loop would report.
                let mut mark = (first_row / PROGRESS_EVERY + 1) * PROGRESS_EVERY;
                while mark <= written.rows {
                    progress.rows(mark);
                    mark += PROGRESS_EVERY;
                }
                if len == 0 {
                    if let ChunkRows::Csv { records, .. } = rows {
                        free.push(records);
                    }
                    break;
                }
                let chunk = Chunk {
                    seq: next_seq,
                    first_row: usize::try_from(first_row).unwrap_or(usize::MAX),
                    rows,
                    bytes: free_bytes.pop().unwrap_or_default(),
                };
                next_seq += 1;
                in_flight += 1;
                let tx = tx.clone();
                let pool = &pool;
                scope.spawn(move |_| {
                    let taken = pool
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .pop();
                    let mut scratch = taken.unwrap_or_else(|| Scratch::new(w.plan));
                    let seq = chunk.seq;
                    // A panicking job must still answer, or the reading thread would wait for
                    // its chunk forever; the run then fails with an error instead.
                    let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        transform_chunk(w, &mut scratch, chunk)
                    }));
                    let done = match done {
                        Ok(done) => {
                            pool.lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .push(scratch);
                            done
                        }
                        Err(_) => Done {
                            seq,
                            records: Vec::new(),
                            bytes: Vec::new(),
                            rows_out: 0,
                            error: Some(DeidError::Read(std::io::Error::other(
                                "internal error: a worker failed while transforming records",
                            ))),
                        },
                    };
                    // The receiver is gone only when the pass already failed.
                    let _ = tx.send(done);
                });
            }
            if in_flight == 0 {
                break;
            }
            let Some(done) = receive(&rx) else {
                break;
            };
            pending.insert(done.seq, done);
            while let Some(done) = pending.remove(&next_write) {
                next_write += 1;
                in_flight -= 1;
                output.write_all(&done.bytes).map_err(DeidError::Write)?;
                if let Some(e) = done.error {
                    return Err(e);
                }
                written.rows_out += done.rows_out;
                if !done.records.is_empty() {
                    free.push(done.records);
                }
                let mut bytes = done.bytes;
                bytes.clear();
                free_bytes.push(bytes);
            }
        }
        match read_failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    })?;
    let mut before = w
        .before
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for scratch in pool
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        scratch.pending_before.drain_into(&mut before);
    }
    Ok(written)
}

/// Where an output cell comes from when every cell of a record is a function of the record's
/// unit (see [`unit_cells`]).
#[derive(Debug, Clone, Copy)]
enum UnitCell {
    /// The search's label in this dimension, at the level of the unit's node.
    Label(usize),
    /// Pass 1's output value in this column of the unit's combination.
    Unit(usize),
    Blank,
}

/// What [`write_by_unit`] writes from.
struct ByUnit<'s> {
    search: &'s SearchOutcome,
    units: &'s UnitIndex,
    /// Each record's unit, in input order.
    record_units: &'s [u32],
    /// The source of each output cell.
    cells: Vec<UnitCell>,
}

/// The sources of the output cells when a record's output is determined by its unit alone:
/// the search streamed over units and noted each record's unit, there are no minimum counts
/// (pass 1 runs before the released values are known) and no microaggregation, and every
/// column is a searched quasi-identifier (a label), one of the unit's columns (pass 1 computed
/// exactly the output value: the same transform of the same record) or blank. `None`: the
/// writing pass transforms record by record.
fn by_unit<'s>(plan: &Plan<'_>, search: &'s SearchOutcome) -> Option<ByUnit<'s>> {
    let (Some(units), Some(record_units)) = (&search.units, &search.record_units) else {
        return None;
    };
    if !plan.min_count.is_empty() || !plan.micro.is_empty() {
        return None;
    }
    let cells = plan
        .steps
        .iter()
        .enumerate()
        .map(|(pos, step)| match step.op {
            Op::Searched(dim, _) => Some(UnitCell::Label(dim)),
            Op::Blank => Some(UnitCell::Blank),
            _ => plan
                .qi_outputs
                .iter()
                .chain(plan.sensitive_outputs.first())
                .position(|&c| c == pos)
                .map(UnitCell::Unit),
        })
        .collect::<Option<Vec<_>>>()?;
    Some(ByUnit {
        search,
        units,
        record_units,
        cells,
    })
}

/// One distinct output line of [`write_by_unit`].
struct Line {
    /// Its bytes in the rendered lines.
    span: std::ops::Range<usize>,
    /// Records that get it.
    records: u64,
    /// Its output class.
    class: crate::kanon::ClassKey,
}

/// Lines [`write_by_unit`] rendered, for the tests that must know it ran.
#[cfg(test)]
static LINES_RENDERED_BY_UNIT: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// The writing pass when a record's output line is a function of its unit ([`by_unit`]):
/// the records' units say which line each record gets, each distinct line is rendered once,
/// and the output classes are counted per line. Same bytes and counts as [`write_records`].
fn write_by_unit<W: Write>(
    output: &mut W,
    plan: &Plan<'_>,
    by_unit: &ByUnit<'_>,
    after: &mut KAnonymityCounter,
    progress: &dyn Progress,
) -> Result<Written, DeidError> {
    let changed = || {
        DeidError::Read(std::io::Error::other(
            "the input changed between the two passes",
        ))
    };
    let ByUnit {
        search: s,
        units,
        record_units,
        cells,
    } = by_unit;
    // A line is named by its unit's node and, per cell, the label's id or the unit's value id.
    const SUPPRESSED: u32 = u32::MAX;
    let mut line_ids: SeededMap<Vec<u32>, u32> = SeededMap::default();
    let mut line_of_unit: Vec<u32> = Vec::with_capacity(units.counts.len());
    let mut lines: Vec<Line> = Vec::new();
    let mut rendered = new_chunk_writer();
    let mut key: Vec<u32> = Vec::with_capacity(cells.len() + 1);
    let mut row: Vec<&str> = Vec::with_capacity(cells.len());
    for (u, &count) in units.counts.iter().enumerate() {
        let (node_index, node) = match s.recoding.record_node.get(u) {
            Some(Some(n)) => (*n, s.recoding.nodes.get(*n as usize).ok_or_else(changed)?),
            Some(None) => {
                line_of_unit.push(SUPPRESSED);
                continue;
            }
            None => return Err(changed()),
        };
        key.clear();
        key.push(node_index);
        for cell in cells {
            key.push(match *cell {
                UnitCell::Label(dim) => {
                    let level = node.get(dim).copied().unwrap_or(0);
                    s.data.label_id(u, dim, level).unwrap_or(u32::MAX)
                }
                UnitCell::Unit(j) => units.value_id(u, j).unwrap_or(0),
                UnitCell::Blank => 0,
            });
        }
        let line = match line_ids.get(key.as_slice()) {
            Some(&line) => line,
            None => {
                let line = u32::try_from(lines.len()).map_err(|_| changed())?;
                row.clear();
                for (cell, &id) in cells.iter().zip(key.iter().skip(1)) {
                    row.push(match *cell {
                        UnitCell::Label(dim) => {
                            let level = node.get(dim).copied().unwrap_or(0);
                            s.data.label_by_id(dim, level, id).unwrap_or("*")
                        }
                        UnitCell::Unit(j) => units.value(u, j),
                        UnitCell::Blank => "",
                    });
                }
                let start = rendered.get_ref().len();
                rendered.write_record(&row).map_err(write_error)?;
                rendered.flush().map_err(DeidError::Write)?;
                lines.push(Line {
                    span: start..rendered.get_ref().len(),
                    records: 0,
                    class: KAnonymityCounter::class_key(
                        plan.qi_outputs
                            .iter()
                            .map(|&i| row.get(i).copied().unwrap_or("")),
                    ),
                });
                line_ids.insert(key.clone(), line);
                line
            }
        };
        if let Some(l) = lines.get_mut(line as usize) {
            l.records += u64::from(count);
        }
        line_of_unit.push(line);
    }
    #[cfg(test)]
    LINES_RENDERED_BY_UNIT.fetch_add(lines.len(), std::sync::atomic::Ordering::Relaxed);
    for line in &lines {
        after.add_key(line.class, line.records);
    }
    let rendered = rendered.get_ref();
    let mut written = Written {
        rows: 0,
        rows_out: 0,
    };
    let mut buffer: Vec<u8> = Vec::with_capacity(1 << 20);
    for &unit in record_units.iter() {
        let line = *line_of_unit.get(unit as usize).ok_or_else(changed)?;
        written.rows += 1;
        if written.rows.is_multiple_of(PROGRESS_EVERY) {
            progress.rows(written.rows);
        }
        if line == SUPPRESSED {
            continue;
        }
        let bytes = lines
            .get(line as usize)
            .and_then(|l| rendered.get(l.span.clone()))
            .ok_or_else(changed)?;
        buffer.extend_from_slice(bytes);
        written.rows_out += 1;
        if buffer.len() >= 1 << 20 {
            output.write_all(&buffer).map_err(DeidError::Write)?;
            buffer.clear();
        }
    }
    output.write_all(&buffer).map_err(DeidError::Write)?;
    Ok(written)
}

/// The next finished chunk. On a rayon worker (the caller runs inside a pool) the thread keeps
/// executing pool jobs while it waits, so a pool of one thread cannot deadlock.
fn receive(rx: &std::sync::mpsc::Receiver<Done>) -> Option<Done> {
    use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
    loop {
        match rx.try_recv() {
            Ok(done) => return Some(done),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        match rayon::yield_now() {
            None => return rx.recv().ok(),
            Some(rayon::Yield::Executed) => {}
            Some(rayon::Yield::Idle) => {
                match rx.recv_timeout(std::time::Duration::from_millis(1)) {
                    Ok(done) => return Some(done),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return None,
                }
            }
        }
    }
}

/// Transforms a chunk's records in order, stopping at the first failing one.
fn transform_chunk(w: &Writing<'_, '_>, scratch: &mut Scratch, mut chunk: Chunk) -> Done {
    let mut out = csv::WriterBuilder::new().from_writer(std::mem::take(&mut chunk.bytes));
    let mut after = ClassTally::default();
    let mut before = std::mem::take(&mut scratch.pending_before);
    let mut rows_out = 0u64;
    let mut error = None;
    let mut labels: Vec<&str> = Vec::with_capacity(w.searched);
    let mut records = Vec::new();
    match chunk.rows {
        ChunkRows::Csv {
            records: slots,
            len,
        } => {
            for (i, raw) in slots.iter().take(len).enumerate() {
                let line = raw.position().map_or(0, |p| p.line());
                // UTF-8 is checked here rather than by the reader so that it runs on the
                // workers; the error is the one the reader would have given.
                let record = match TextOfRecord::of(raw) {
                    Ok(record) => record,
                    Err(field) => {
                        error = Some(DeidError::Csv {
                            line,
                            problem: utf8_problem(field),
                        });
                        break;
                    }
                };
                let result = transform_one(
                    w,
                    scratch,
                    &mut out,
                    &record,
                    line,
                    chunk.first_row.saturating_add(i),
                    &mut labels,
                    &mut after,
                    &mut before,
                );
                match result {
                    Ok(true) => rows_out += 1,
                    Ok(false) => {}
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
            records = slots;
        }
        ChunkRows::Batch(columns) => {
            for row in 0..columns.first().map_or(0, Array::len) {
                let r = chunk.first_row.saturating_add(row);
                // The line of the record in the CSV rendering (header = line 1).
                let line = (r as u64).saturating_add(2);
                let record = BatchRow {
                    columns: &columns,
                    row,
                };
                match transform_one(
                    w,
                    scratch,
                    &mut out,
                    &record,
                    line,
                    r,
                    &mut labels,
                    &mut after,
                    &mut before,
                ) {
                    Ok(true) => rows_out += 1,
                    Ok(false) => {}
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
        }
    }
    if !after.is_empty() {
        after.drain_into(
            &mut w
                .after
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    }
    scratch.pending_before = before;
    let bytes = match out.into_inner() {
        Ok(bytes) => bytes,
        Err(e) => {
            error = error.or_else(|| {
                Some(DeidError::Write(std::io::Error::new(
                    e.error().kind(),
                    "the CSV writer failed",
                )))
            });
            Vec::new()
        }
    };
    Done {
        seq: chunk.seq,
        records,
        bytes,
        rows_out,
        error,
    }
}

/// One record; `Ok(false)` when the search suppressed it.
#[allow(clippy::too_many_arguments)]
fn transform_one<'a, C: Cells + ?Sized>(
    w: &Writing<'a, '_>,
    scratch: &mut Scratch,
    out: &mut csv::Writer<Vec<u8>>,
    record: &C,
    line: u64,
    r: usize,
    labels: &mut Vec<&'a str>,
    after: &mut ClassTally,
    before: &mut PendingKeys,
) -> Result<bool, DeidError> {
    let plan = w.plan;
    labels.clear();
    if let Some(s) = w.search {
        // The record's unit: its combination when the search streamed, else the record itself.
        let r = match (&s.units, &s.record_units) {
            (None, _) => r,
            (Some(_), Some(ids)) => match ids.get(r) {
                Some(&u) => u as usize,
                None => {
                    return Err(DeidError::Read(std::io::Error::other(
                        "the input changed between the two passes",
                    )))
                }
            },
            (Some(units), None) => {
                plan.apply(
                    w.keyed,
                    scratch,
                    record,
                    line,
                    r as u64,
                    Some(w.wanted_for_units),
                    &[],
                    None,
                )?;
                let cells = &scratch.cells;
                let found = units.find(
                    plan.qi_outputs
                        .iter()
                        .chain(plan.sensitive_outputs.first())
                        .map(|&i| cells.get(i).map_or("", String::as_str)),
                );
                match found {
                    Some(u) => u as usize,
                    None => {
                        return Err(DeidError::Read(std::io::Error::other(
                            "the input changed between the two passes",
                        )))
                    }
                }
            }
        };
        let node = match s.recoding.record_node.get(r) {
            Some(Some(n)) => s.recoding.nodes.get(*n as usize),
            Some(None) => return Ok(false), // suppressed
            None => {
                return Err(DeidError::Read(std::io::Error::other(
                    "the input changed between the two passes",
                )))
            }
        };
        let Some(node) = node else {
            return Ok(false);
        };
        for (dim, &level) in node.iter().enumerate().take(w.searched) {
            labels.push(s.data.label(r, dim, level).unwrap_or("*"));
        }
    } else if w.collect_before {
        before.push(
            KAnonymityCounter::class_key(plan.qi_inputs.iter().map(|&i| record.cell(i))),
            &w.before,
        );
    }
    plan.apply(
        w.keyed,
        scratch,
        record,
        line,
        r as u64,
        None,
        labels,
        w.micro.map(|m| (m, r)),
    )?;
    let cells = &scratch.cells;
    after.add(
        plan.qi_outputs
            .iter()
            .map(|&i| cells.get(i).map_or("", String::as_str)),
    );
    out.write_record(cells).map_err(write_error)?;
    Ok(true)
}

/// A hash map with a per-process random seed, for keys taken from the input.
type SeededMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Distinct combinations of values, counted as they stream by: each column's values are kept
/// once in a dictionary and a combination is its tuple of value ids, so memory is bounded by
/// the distinct values and combinations, whatever the number of records. Unit ids are in
/// first-seen order, so the search sees the combinations (and the values) in the order a
/// record-by-record pass would.
#[derive(Debug)]
struct UnitIndex {
    /// Keyed by input values, so hashed with a per-process seed (foldhash) rather than Fx.
    dicts: Vec<SeededMap<Box<str>, u32>>,
    values: Vec<Vec<Box<str>>>,
    /// Unit ids, found by the hash of their id tuple in `tuples` (no allocation per unit).
    units: hashbrown::HashTable<u32>,
    /// Hashes id tuples; seeded, as the tuples follow the input.
    hasher: foldhash::fast::RandomState,
    /// Flattened id tuples, one per unit.
    tuples: Vec<u32>,
    /// Records per unit.
    counts: Vec<u32>,
    /// The 0-based record that first had each unit's combination (named by errors).
    first_record: Vec<u32>,
    /// Records added.
    records: u64,
    ids: Vec<u32>,
}

/// The rows the search runs on: every record's values, or the distinct combinations.
enum SearchRows<'a> {
    /// Per record, the quasi-identifiers' output values (policy order), then the sensitive one.
    Records(Vec<Vec<String>>),
    /// The distinct combinations of the same columns, with their counts.
    Units(&'a UnitIndex),
}

impl UnitIndex {
    fn new(columns: usize) -> Self {
        UnitIndex {
            dicts: (0..columns).map(|_| SeededMap::default()).collect(),
            values: vec![Vec::new(); columns],
            units: hashbrown::HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            tuples: Vec::new(),
            counts: Vec::new(),
            first_record: Vec::new(),
            records: 0,
            ids: Vec::with_capacity(columns),
        }
    }

    /// Counts one record's combination; returns its unit.
    fn add<'a, I: IntoIterator<Item = &'a str>>(&mut self, cells: I) -> Result<u32, DeidError> {
        let too_many = || {
            DeidError::Anon(AnonError::InvalidParameter(
                "more than 2^32 distinct values, combinations or records per combination",
            ))
        };
        self.ids.clear();
        for ((v, dict), values) in cells.into_iter().zip(&mut self.dicts).zip(&mut self.values) {
            let id = match dict.get(v) {
                Some(&id) => id,
                None => {
                    let id = u32::try_from(values.len()).map_err(|_| too_many())?;
                    dict.insert(v.into(), id);
                    values.push(v.into());
                    id
                }
            };
            self.ids.push(id);
        }
        let q = self.dicts.len();
        let UnitIndex {
            units,
            hasher,
            tuples,
            ids,
            ..
        } = self;
        let tuple = |u: u32| {
            tuples
                .get(u as usize * q..(u as usize + 1) * q)
                .unwrap_or(&[])
        };
        let hash = hasher.hash_one(ids.as_slice());
        let unit = match units.find(hash, |&u| tuple(u) == ids.as_slice()) {
            Some(&u) => {
                let c = &mut self.counts[u as usize];
                *c = c.checked_add(1).ok_or_else(too_many)?;
                u
            }
            None => {
                let u = u32::try_from(self.counts.len()).map_err(|_| too_many())?;
                units.insert_unique(hash, u, |&v| {
                    hasher.hash_one(
                        tuples
                            .get(v as usize * q..(v as usize + 1) * q)
                            .unwrap_or(&[]),
                    )
                });
                tuples.extend_from_slice(ids);
                self.counts.push(1);
                self.first_record
                    .push(u32::try_from(self.records).unwrap_or(u32::MAX));
                u
            }
        };
        self.records += 1;
        Ok(unit)
    }

    /// Value of unit `unit` in column `column` (empty past the columns).
    fn value(&self, unit: usize, column: usize) -> &str {
        self.value_id(unit, column)
            .and_then(|id| self.values.get(column)?.get(id as usize))
            .map_or("", |v| v)
    }

    /// Id of [`UnitIndex::value`] among its column's values (`None` past the columns).
    fn value_id(&self, unit: usize, column: usize) -> Option<u32> {
        let q = self.dicts.len();
        if column >= q {
            return None;
        }
        self.tuples.get(unit * q + column).copied()
    }

    /// The unit of a combination seen by [`UnitIndex::add`].
    fn find<'a, I: IntoIterator<Item = &'a str>>(&self, cells: I) -> Option<u32> {
        let mut ids = [0u32; 16];
        let mut long = Vec::new();
        let q = self.dicts.len();
        for (j, (v, dict)) in cells.into_iter().zip(&self.dicts).enumerate() {
            let id = *dict.get(v)?;
            if q <= ids.len() {
                ids[j] = id;
            } else {
                long.push(id);
            }
        }
        let key: &[u32] = if q <= ids.len() { &ids[..q] } else { &long };
        let hash = self.hasher.hash_one(key);
        let tuple = |u: u32| {
            self.tuples
                .get(u as usize * q..(u as usize + 1) * q)
                .unwrap_or(&[])
        };
        self.units.find(hash, |&u| tuple(u) == key).copied()
    }
}

/// What the search found.
struct SearchOutcome {
    /// The distinct combinations the search ran on (the units of `data` and `recoding`), when
    /// pass 1 streamed; `None` when the units are the records.
    units: Option<UnitIndex>,
    /// Each record's unit, noted in pass 1 when the second pass reads the same bytes from
    /// memory (the input cannot have changed); `None`: pass 2 finds it by its values.
    record_units: Option<Vec<u32>>,
    data: AnonData,
    recoding: Recoding,
    utility: Utility,
    summary: SearchSummary,
}

fn criteria(policy: &DeidPolicy) -> Vec<Criterion> {
    let mut c = vec![Criterion::KAnonymity { k: policy.k() }];
    match policy.l_diversity() {
        Some(LDiversity::Distinct { l }) => c.push(Criterion::DistinctLDiversity { l }),
        Some(LDiversity::Entropy { l }) => c.push(Criterion::EntropyLDiversity { l }),
        Some(LDiversity::Recursive { c: cc, l }) => {
            c.push(Criterion::RecursiveCLDiversity { c: cc, l })
        }
        None => {}
    }
    if let Some(t) = policy.t_closeness() {
        c.push(match t.hierarchy {
            Some(_) => Criterion::TClosenessHierarchical { t: t.t },
            None => Criterion::TClosenessEqual { t: t.t },
        });
    }
    c
}

fn distinct(rows: &[Vec<String>], j: usize) -> Vec<String> {
    let mut seen = HashSet::new();
    rows.iter()
        .filter_map(|r| r.get(j))
        .filter(|v| seen.insert(v.as_str()))
        .cloned()
        .collect()
}

/// A search over at most this many distinct quasi-identifier combinations runs on one thread.
/// Each lattice node then costs microseconds, less than handing batches of nodes to the pool
/// and the speculative evaluations a batch adds: on Adult (30,162 rows, 9 quasi-identifiers)
/// the whole run took 42.6 ms on one thread against 50.1 ms on two (0 % suppression), 162
/// against 208 ms (≤ 5 %) and 458 against 485 ms (local recoding); see docs/benchmarks.md.
/// Larger searches (a million combinations) keep both cores.
const SEQUENTIAL_SEARCH_TUPLES: usize = 1 << 16;

/// Runs `f` inside a one-thread pool when `tuples` is small (so every parallel iterator in it
/// runs sequentially), else on the current pool.
fn on_one_thread_if_small<T: Send>(tuples: usize, f: impl FnOnce() -> T + Send) -> T {
    if tuples > SEQUENTIAL_SEARCH_TUPLES || rayon::current_num_threads() == 1 {
        return f();
    }
    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool.install(f),
        // No thread to be had: the current pool still gives the same answer.
        Err(_) => f(),
    }
}

/// Builds the encoded data (searched columns first, then the fixed quasi-identifiers as
/// one-level dimensions) and runs the search.
fn run_search(
    policy: &DeidPolicy,
    options: &RunOptions<'_>,
    searched: &[String],
    rows: SearchRows<'_>,
) -> Result<SearchOutcome, DeidError> {
    let qis = policy.quasi_identifiers();
    // Reorder the columns: searched dims first (so the dim index is the position in
    // `searched`), then the other quasi-identifiers, then the sensitive value.
    let mut order: Vec<usize> = searched
        .iter()
        .filter_map(|s| qis.iter().position(|q| q == s))
        .collect();
    let rest: Vec<usize> = (0..qis.len()).filter(|i| !order.contains(i)).collect();
    order.extend(rest);
    let mut header: Vec<String> = order.iter().map(|&i| qis[i].clone()).collect();
    let sensitive_name = policy.sensitive().first().cloned();
    if let Some(s) = &sensitive_name {
        header.push(s.clone());
        order.push(qis.len());
    }
    // Distinct values of a column (of `header`), in first-seen order.
    let distinct = |j: usize| -> Vec<String> {
        let i = order.get(j).copied().unwrap_or(usize::MAX);
        match &rows {
            SearchRows::Records(records) => distinct(records, i),
            SearchRows::Units(units) => units
                .values
                .get(i)
                .map(|v| v.iter().map(|s| s.to_string()).collect())
                .unwrap_or_else(|| vec![String::new()]),
        }
    };
    let mut dims = Vec::with_capacity(qis.len());
    for (j, column) in header.iter().take(qis.len()).enumerate() {
        let values = distinct(j);
        let hierarchy = match policy.action_for(column) {
            Action::Generalize {
                hierarchy,
                level: None,
            } if j < searched.len() => options.hierarchies.resolve(hierarchy, column, &values)?,
            _ => Hierarchy::from_rows(column, values.into_iter().map(|v| vec![v]).collect())
                .map_err(|e| DeidError::Hierarchy(format!("column `{column}`: {e}")))?,
        };
        dims.push(QuasiIdentifier {
            column: column.clone(),
            hierarchy,
        });
    }
    let sensitive_hierarchy = match (&sensitive_name, policy.t_closeness()) {
        (
            Some(s),
            Some(TCloseness {
                hierarchy: Some(h), ..
            }),
        ) => Some(options.hierarchies.resolve(h, s, &distinct(qis.len()))?),
        _ => None,
    };
    let sensitive = match &sensitive_name {
        Some(s) if policy.l_diversity().is_some() || policy.t_closeness().is_some() => {
            Some((s.as_str(), sensitive_hierarchy.as_ref()))
        }
        _ => None,
    };
    let data = match &rows {
        SearchRows::Records(records) => AnonData::from_cells(
            &header,
            records.len(),
            &|r, c| records[r].get(order[c]).map_or("", String::as_str),
            None,
            &|r| r,
            None,
            &dims,
            sensitive,
            false,
        ),
        SearchRows::Units(units) => AnonData::from_cells(
            &header,
            units.counts.len(),
            &|r, c| units.value(r, order[c]),
            Some(&units.counts),
            &|r| units.first_record.get(r).map_or(0, |&f| f as usize),
            Some(&|r, c| units.value_id(r, *order.get(c)?)),
            &dims,
            sensitive,
            // Units are distinct combinations of these very values (a sensitive column the
            // criteria do not use only splits units; keeping them apart changes no class).
            sensitive.is_some() || units.dicts.len() == qis.len(),
        ),
    }
    .map_err(DeidError::Anon)?;
    drop(rows);
    let local = options
        .local
        .unwrap_or(policy.recoding() == RecodingModel::Local);
    // GB/T 39725-2020 §10.2 c) 1): without a population table a searched geographic column
    // is generalised at least to the prefecture.
    let min_levels: Vec<usize> = dims
        .iter()
        .enumerate()
        .map(|(j, d)| match policy.action_for(&d.column) {
            Action::Generalize {
                hierarchy: HierarchySpec::Builtin(b),
                level: None,
            } if j < searched.len() && options.hierarchies.population.is_none() => b
                .finest_level_without_population_table()
                .min(d.hierarchy.height().saturating_sub(1)),
            _ => 0,
        })
        .collect();
    let mut config = AnonConfig {
        criteria: criteria(policy),
        suppression_limit: policy.suppression_limit(),
        aggregate: Aggregate::default(),
        suppression_weight: 1.0,
        min_levels,
    };
    let search = || -> Result<(Recoding, SearchSummary, QualityReport), DeidError> {
        let (recoding, summary) = if local {
            config.suppression_weight = 0.0;
            let res = local_recoding(&data, &config, LOCAL_ROUND_LIMIT, LOCAL_MAX_ROUNDS)
                .map_err(DeidError::Anon)?;
            let summary = SearchSummary {
                recoding: "local".to_string(),
                lattice_size: Lattice::new(&data.heights()).size(),
                evaluated: None,
                rounds: res.rounds.len(),
            };
            (res.recoding, summary)
        } else {
            let res = search_optimal(&data, &config).map_err(DeidError::Anon)?;
            let Some(best) = res.optimum else {
                return Err(DeidError::Anon(AnonError::NoSolution));
            };
            let suppressed = data
                .suppressed_records(&best.node, &config)
                .map_err(DeidError::Anon)?;
            let summary = SearchSummary {
                recoding: "global".to_string(),
                lattice_size: res.lattice_size,
                evaluated: Some(res.evaluated),
                rounds: 1,
            };
            (Recoding::global(&best.node, &suppressed), summary)
        };
        let q = quality(&data, &recoding).map_err(DeidError::Anon)?;
        Ok((recoding, summary, q))
    };
    let (recoding, summary, q) = on_one_thread_if_small(data.distinct_tuples(), search)?;
    let utility = Utility {
        granularity: q.granularity,
        discernibility: q.discernibility,
        aecs: q.aecs,
        non_uniform_entropy: q.non_uniform_entropy_normalized,
        loss: q.loss_geometric,
    };
    Ok(SearchOutcome {
        units: None,
        record_units: None,
        data,
        recoding,
        utility,
        summary,
    })
}

/// The re-identification risk of a file over some quasi-identifiers (`medspace risk`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRisk {
    /// Quasi-identifier columns grouped by.
    pub quasi_identifiers: Vec<String>,
    /// Records.
    pub records: u64,
    /// Equivalence classes.
    pub equivalence_classes: u64,
    /// Smallest class (the k the file reaches).
    pub smallest_class: u64,
    /// Risk figures.
    pub risk: RiskReport,
    /// Diversity of the sensitive column, when one was given.
    pub sensitive: Option<SensitiveDiversity>,
}

/// How diverse a sensitive column is within the classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensitiveDiversity {
    /// Column.
    pub column: String,
    /// Smallest number of distinct values in a class (distinct l-diversity).
    pub distinct_l: u64,
    /// Smallest `exp(entropy)` of a class's values (entropy l-diversity).
    pub entropy_l: f64,
}

/// Measures the risk of a CSV stream (header line required; `delimiter` detected when `None`)
/// over the quasi-identifier columns `qis`, and the l-diversity of `sensitive`.
pub fn file_risk<R: Read>(
    input: R,
    qis: &[String],
    sensitive: Option<&str>,
    delimiter: Option<u8>,
    threshold: f64,
    population: Option<f64>,
    progress: &dyn Progress,
) -> Result<FileRisk, DeidError> {
    let mut buffered = BufReader::with_capacity(1 << 20, input);
    let delimiter = match delimiter {
        Some(d) => d,
        None => detect_delimiter(buffered.fill_buf().map_err(DeidError::Read)?),
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(buffered);
    let header = reader.headers().map_err(read_error)?.clone();
    if header.is_empty() {
        return Err(DeidError::NoHeader);
    }
    let col = |name: &str, role: ColumnRole| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DeidError::MissingColumn {
                column: name.to_string(),
                role,
                available: header_listing(&header),
            })
    };
    let qi_idx: Vec<usize> = qis
        .iter()
        .map(|q| col(q, ColumnRole::QuasiIdentifier))
        .collect::<Result<_, _>>()?;
    let sens_idx = match sensitive {
        Some(s) => Some(col(s, ColumnRole::Sensitive)?),
        None => None,
    };
    let mut counter = KAnonymityCounter::new(1, qis.to_vec());
    let mut by_class: HashMap<Vec<String>, HashMap<String, u64>> = HashMap::new();
    let mut record = csv::StringRecord::new();
    let mut n = 0u64;
    while reader.read_record(&mut record).map_err(read_error)? {
        counter.add(qi_idx.iter().map(|&i| record.get(i).unwrap_or("")));
        if let Some(s) = sens_idx {
            let key: Vec<String> = qi_idx
                .iter()
                .map(|&i| record.get(i).unwrap_or("").to_string())
                .collect();
            *by_class
                .entry(key)
                .or_default()
                .entry(record.get(s).unwrap_or("").to_string())
                .or_insert(0) += 1;
        }
        n += 1;
        if n.is_multiple_of(PROGRESS_EVERY) {
            progress.rows(n);
        }
    }
    let report = counter.report();
    let risk = risk_from_class_sizes(&counter.class_sizes(), threshold, population);
    let sensitive = sensitive.map(|column| {
        let mut distinct_l = u64::MAX;
        let mut entropy_l = f64::INFINITY;
        for hist in by_class.values() {
            distinct_l = distinct_l.min(hist.len() as u64);
            let total = hist.values().sum::<u64>().max(1) as f64;
            let h: f64 = hist
                .values()
                .map(|&c| {
                    let p = c as f64 / total;
                    -p * p.ln()
                })
                .sum();
            entropy_l = entropy_l.min(h.exp());
        }
        SensitiveDiversity {
            column: column.to_string(),
            distinct_l: if by_class.is_empty() { 0 } else { distinct_l },
            entropy_l: if by_class.is_empty() { 0.0 } else { entropy_l },
        }
    });
    Ok(FileRisk {
        quasi_identifiers: qis.to_vec(),
        records: n,
        equivalence_classes: report.equivalence_classes,
        smallest_class: report.smallest_class,
        risk,
        sensitive,
    })
}

/// Per-round suppression limit of local recoding (ARX's iterative approach uses a high one).
const LOCAL_ROUND_LIMIT: f64 = 0.9;
/// Rounds of local recoding at most.
const LOCAL_MAX_ROUNDS: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys held back per partition and flushed when a buffer fills count exactly what adding
    /// each key at once counts, including keys that never fill their buffer.
    #[test]
    fn held_back_class_keys_count_like_keys_added_at_once() {
        let direct = std::sync::Mutex::new(KAnonymityCounter::new(2, vec!["a".into()]));
        let shared = std::sync::Mutex::new(KAnonymityCounter::new(2, vec!["a".into()]));
        let mut pending = PendingKeys::default();
        // Most records in partition 0 (index keys of multiples of 256), so that its buffer fills
        // several times, and the rest spread over every partition (digests of values).
        for i in 0..(3 * FLUSH_KEYS + 100) {
            let key = if i % 4 == 3 {
                KAnonymityCounter::class_key([format!("{}", i % 1000).as_str()])
            } else {
                KAnonymityCounter::index_key(((i % 3000) * 256) as u64)
            };
            assert!(i % 4 == 3 || crate::kanon::partition_of(&key) == 0);
            pending.push(key, &shared);
            direct.lock().unwrap().add_key(key, 1);
        }
        let flushed = shared.lock().unwrap().report().equivalence_classes;
        assert!(flushed > 0, "no buffer was flushed");
        let mut shared = shared.into_inner().unwrap();
        pending.drain_into(&mut shared);
        let direct = direct.into_inner().unwrap();
        assert_eq!(shared.report(), direct.report());
        let (mut a, mut b) = (shared.class_sizes(), direct.class_sizes());
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
    }

    #[test]
    fn small_searches_run_on_one_thread_and_large_ones_on_the_pool() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            let threads = || rayon::current_num_threads();
            assert_eq!(on_one_thread_if_small(SEQUENTIAL_SEARCH_TUPLES, threads), 1);
            assert_eq!(
                on_one_thread_if_small(SEQUENTIAL_SEARCH_TUPLES + 1, threads),
                2
            );
            // Errors and values come back unchanged.
            let r: Result<u8, DeidError> =
                on_one_thread_if_small(3, || Err(DeidError::Anon(AnonError::NoSolution)));
            assert!(matches!(r, Err(DeidError::Anon(AnonError::NoSolution))));
        });
    }

    fn header(fields: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(fields.to_vec())
    }

    #[test]
    fn header_listing_shows_names_but_hides_data_like_lines() {
        assert_eq!(header_listing(&header(&["姓名", "sex"])), "姓名, sex");
        let hidden = header_listing(&header(&["张三", "110101199003071234"]));
        assert!(
            !hidden.contains("张三") && !hidden.contains("1101"),
            "{hidden}"
        );
        let hidden = header_listing(&header(&["a", "2024-01-01 08:00:00"]));
        assert!(hidden.starts_with("(not shown"), "{hidden}");
        let long = "x".repeat(100);
        let shown = header_listing(&header(&[long.as_str()]));
        assert_eq!(shown.chars().count(), MAX_LISTED_CHARS + 1);
        let many: Vec<String> = (0..70).map(|i| format!("c{i}")).collect();
        let many_refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(header_listing(&header(&many_refs)).ends_with("… (10 more)"));
    }

    /// A policy touching every record-level action, for the parallel-versus-serial tests.
    const MIXED_POLICY: &str = r#"name = "mixed"
k = 2
quasi_identifiers = ["birth_date", "postal_code"]
subject_column = "id_number"
date_shift_max_days = 30
[columns.name]
action = "mask"
keep_first = 1
[columns.id_number]
action = "pseudonymize"
prefix = "PID-"
[columns.mobile]
action = "mask"
keep_first = 3
keep_last = 4
[columns.birth_date]
action = "age_band"
reference_column = "admission_time"
[columns.admission_time]
action = "date_shift"
[columns.visit_date]
action = "year"
[columns.postal_code]
action = "truncate"
length = 4
pad = "0"
[columns.fee]
action = "noise"
scale = 5.0
decimals = 2
[columns.note]
action = "redact_spans"
[columns.county]
action = "generalize"
hierarchy = "division_codes"
level = 1
"#;

    /// MIXED_POLICY with the postal code generalised by the search: global recoding, local
    /// recoding, and global with distinct 2-diversity of `visit_date` and 10 % suppression.
    fn searched_policies() -> (String, String, String) {
        let generalized = MIXED_POLICY.replace(
            "[columns.postal_code]\naction = \"truncate\"\nlength = 4\npad = \"0\"",
            "[columns.postal_code]\naction = \"generalize\"\nhierarchy = \"postal_codes\"",
        );
        assert_ne!(generalized, MIXED_POLICY);
        let local = generalized.replacen('\n', "\nrecoding = \"local\"\n", 1);
        let sensitive = format!(
            "{}\n[l_diversity]\nkind = \"distinct\"\nl = 2\n",
            generalized.replacen(
                '\n',
                "\nsensitive = [\"visit_date\"]\nsuppression_limit = 0.1\n",
                1
            )
        );
        (generalized, local, sensitive)
    }

    /// `policy` with the noisy fee microaggregated instead.
    fn with_microaggregated_fee(policy: &str) -> String {
        let micro = policy.replace(
            "[columns.fee]\naction = \"noise\"\nscale = 5.0\ndecimals = 2",
            "[columns.fee]\naction = \"microaggregate\"",
        );
        assert_ne!(micro, policy);
        micro
    }

    /// Run options for the tests: no progress, the default risk threshold, no population.
    fn test_options(hierarchies: &Hierarchies, optimize: bool) -> RunOptions<'_> {
        RunOptions {
            optimize,
            local: None,
            delimiter: None,
            hierarchies,
            progress: &NoProgress,
            risk_threshold: DEFAULT_RISK_THRESHOLD,
            population: None,
        }
    }

    /// The keys every test run uses.
    fn test_keys() -> DeidKeys {
        DeidKeys {
            pseudonym_key: [7; 32],
            date_shift_key: [9; 32],
            mac: MacAlgorithm::HmacSha256,
        }
    }

    /// `n` reproducible records with quoting, empty cells, multi-line fields, non-ASCII text
    /// and the date-time forms the parser accepts. `bad_birth`: that record's birth date is not
    /// a date; `bad_utf8`: that record's note holds a byte that is not UTF-8.
    fn mixed_csv(n: usize, bad_birth: Option<usize>, bad_utf8: Option<usize>) -> Vec<u8> {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        let mut s = b"name,id_number,mobile,birth_date,admission_time,visit_date,postal_code,fee,note,county\n".to_vec();
        let names = ["张三", "欧阳娜娜", "Li, \"\"Ming\"\"", "王", ""];
        let times = ["", " 08:30:00", "T23:59:59", " 07:05", "T10:00:00.250"];
        for i in 0..n {
            let name = names[next(5) as usize];
            let mut birth = format!(
                "19{:02}-{:02}-{:02}",
                30 + next(70),
                1 + next(12),
                1 + next(28)
            );
            if bad_birth == Some(i) {
                birth.replace_range(..1, "x");
            }
            let admission = format!(
                "20{:02}-{:02}-{:02}{}",
                20 + next(5),
                1 + next(12),
                1 + next(28),
                times[next(5) as usize]
            );
            let mobile = if next(10) == 0 {
                String::new()
            } else {
                format!("1{}{:09}", 3 + next(6), next(1_000_000_000))
            };
            s.extend_from_slice(
                format!(
                    "\"{name}\",33010619{:010},{mobile},{birth},{admission},{admission},{},{}.{:02},\"电话{mobile}，{}",
                    next(30),
                    100000 + next(5) * 10,
                    next(5000),
                    next(100),
                    if i % 7 == 0 { "line\nbreak" } else { "ok" },
                )
                .as_bytes(),
            );
            if bad_utf8 == Some(i) {
                s.push(0xff);
            }
            s.extend_from_slice(
                format!("\",{}\n", ["330106", "110101", "440305"][next(3) as usize]).as_bytes(),
            );
        }
        s
    }

    fn run_mixed(
        policy: &str,
        input: &[u8],
        threads: usize,
        chunk_rows: usize,
        optimize: bool,
    ) -> (Result<DeidReport, String>, Vec<u8>) {
        run_mixed_streaming(policy, input, threads, chunk_rows, optimize, true)
    }

    fn run_mixed_streaming(
        policy: &str,
        input: &[u8],
        threads: usize,
        chunk_rows: usize,
        optimize: bool,
        stream_search: bool,
    ) -> (Result<DeidReport, String>, Vec<u8>) {
        run_mixed_with(
            policy,
            input,
            threads,
            chunk_rows,
            optimize,
            stream_search,
            IN_MEMORY_LIMIT,
        )
    }

    fn run_mixed_with(
        policy: &str,
        input: &[u8],
        threads: usize,
        chunk_rows: usize,
        optimize: bool,
        stream_search: bool,
        memory_limit: usize,
    ) -> (Result<DeidReport, String>, Vec<u8>) {
        let policy = DeidPolicy::parse(policy).unwrap();
        let keys = test_keys();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let hierarchies = Hierarchies::default();
        let mut out = Vec::new();
        let result = pool.install(|| {
            let options = test_options(&hierarchies, optimize);
            let mut open = || Ok::<_, std::io::Error>(input);
            deidentify_chunked(
                &policy,
                &keys,
                Opener::Csv(&mut open),
                &mut out,
                &options,
                chunk_rows,
                stream_search,
                memory_limit,
            )
        });
        let result = result
            .map(|mut r| {
                r.elapsed_ms = 0;
                r
            })
            .map_err(|e| e.to_string());
        (result, out)
    }

    #[test]
    fn parallel_chunks_equal_one_serial_pass() {
        let input = mixed_csv(3000, None, None);
        let (serial, serial_out) = run_mixed(MIXED_POLICY, &input, 1, usize::MAX, false);
        let serial = serial.unwrap();
        assert_eq!(serial.rows_out, 3000);
        for (threads, chunk) in [(1, 1), (2, 7), (4, 64), (3, 2048)] {
            let (parallel, out) = run_mixed(MIXED_POLICY, &input, threads, chunk, false);
            assert_eq!(
                parallel.unwrap(),
                serial,
                "{threads} threads, chunks of {chunk}"
            );
            assert!(out == serial_out, "{threads} threads, chunks of {chunk}");
        }
    }

    #[test]
    fn output_is_that_of_the_record_by_record_implementation() {
        // SHA-256 of what the record-by-record engine this replaced (commit b719797, through
        // `examples/deid_file` with these keys) wrote for the same input, with one change made
        // on purpose since: `noise` is keyed by the record's index instead of its line (so a
        // record's noise no longer depends on line breaks inside earlier quoted fields, and
        // CSV and Arrow input agree). Before that change this test passed against b719797's
        // digest with the chunked engine and the columnar refactoring in place.
        use sha2::{Digest, Sha256};
        let input = mixed_csv(3000, None, None);
        if let Ok(path) = std::env::var("MEDSPACE_DEID_DUMP") {
            std::fs::write(path, &input).unwrap();
        }
        let (_, out) = run_mixed(MIXED_POLICY, &input, 2, 100, false);
        assert_eq!(hex::encode(Sha256::digest(&out)), GOLDEN_MIXED_SHA256);
    }

    const GOLDEN_MIXED_SHA256: &str =
        "0308d80525aa50b9141930d9012991b673059b6b433bae683582a075d0d60209";

    #[test]
    fn parallel_chunks_equal_one_serial_pass_with_the_search() {
        let policy = MIXED_POLICY.replace(
            "[columns.postal_code]\naction = \"truncate\"\nlength = 4\npad = \"0\"",
            "[columns.postal_code]\naction = \"generalize\"\nhierarchy = \"postal_codes\"",
        );
        assert_ne!(policy, MIXED_POLICY);
        let input = mixed_csv(2000, None, None);
        // The lattice search evaluates a thread-dependent number of nodes; the rest must match.
        let evaluated_aside = |r: Result<DeidReport, String>| {
            let mut r = r.unwrap();
            r.search.as_mut().unwrap().evaluated = None;
            r
        };
        let (serial, serial_out) = run_mixed(&policy, &input, 1, usize::MAX, true);
        let serial = evaluated_aside(serial);
        let (parallel, out) = run_mixed(&policy, &input, 2, 33, true);
        assert_eq!(evaluated_aside(parallel), serial);
        assert!(out == serial_out);
    }

    /// A search over the distinct combinations counted while streaming (pass 1 keeps no
    /// record) writes the output, levels, suppression, classes and risk of a search over every
    /// record, for global and local recoding, with and without a sensitive column.
    #[test]
    fn a_second_pass_over_the_buffered_input_equals_reading_it_again() {
        let (generalized, local, _) = searched_policies();
        let input = mixed_csv(2500, None, None);
        let micro = with_microaggregated_fee(MIXED_POLICY);
        let micro_search = with_microaggregated_fee(&generalized);
        for (name, policy, optimize) in [
            ("global", &generalized, true),
            ("local", &local, true),
            ("microaggregation", &micro, false),
            ("microaggregation and search", &micro_search, true),
        ] {
            // 0: both passes open the input; half: the head read while deciding, then the rest.
            let (streamed, streamed_out) =
                run_mixed_with(policy, &input, 2, 100, optimize, true, 0);
            let (half, half_out) =
                run_mixed_with(policy, &input, 2, 100, optimize, true, input.len() / 2);
            let (buffered, buffered_out) =
                run_mixed_with(policy, &input, 2, 100, optimize, true, IN_MEMORY_LIMIT);
            let streamed = streamed.unwrap();
            assert_eq!(streamed.search.is_some(), optimize, "{name}");
            assert!(streamed.rows_out > 0, "{name}");
            assert!(buffered_out == streamed_out, "{name}: same output");
            assert!(half_out == streamed_out, "{name}: same output");
            assert_eq!(buffered.unwrap(), streamed, "{name}");
            assert_eq!(half.unwrap(), streamed, "{name}");
        }
        // A buffered input is opened once: an input that can be read only once suffices.
        let policy = DeidPolicy::parse(&generalized).unwrap();
        let keys = test_keys();
        let hierarchies = Hierarchies::default();
        let options = test_options(&hierarchies, true);
        let once = |limit: usize| {
            let mut input = Some(input.as_slice());
            let mut open = move || {
                input
                    .take()
                    .ok_or_else(|| std::io::Error::other("opened twice"))
            };
            let mut out = Vec::new();
            let r = deidentify_chunked(
                &policy,
                &keys,
                Opener::Csv(&mut open),
                &mut out,
                &options,
                100,
                true,
                limit,
            );
            r.map(|_| out).map_err(|e| e.to_string())
        };
        let (_, streamed_out) = run_mixed_with(&generalized, &input, 2, 100, true, true, 0);
        assert!(once(IN_MEMORY_LIMIT).unwrap() == streamed_out);
        assert!(once(0).unwrap_err().contains("opened twice"));
    }

    /// When every output column is a function of the record's combination (searched and
    /// transformed quasi-identifiers, a kept sensitive column, everything else dropped), the
    /// writing pass renders each distinct line once from the records' units noted in pass 1;
    /// output and report equal those of transforming every record again (an input larger than
    /// the memory limit, read twice).
    #[test]
    fn lines_rendered_per_unit_equal_records_transformed_again() {
        let base = r#"name = "units"
k = 3
default_action = "drop"
quasi_identifiers = ["birth_date", "postal_code"]
[columns.birth_date]
action = "age_band"
reference_column = "admission_time"
[columns.postal_code]
action = "generalize"
hierarchy = "postal_codes"
"#;
        let local = base.replacen('\n', "\nrecoding = \"local\"\n", 1);
        let sensitive = format!(
            "{}[columns.visit_date]\naction = \"year\"\n[l_diversity]\nkind = \"distinct\"\nl = 2\n",
            base.replacen('\n', "\nsensitive = [\"visit_date\"]\nsuppression_limit = 0.1\n", 1)
        );
        let kept = base
            .replace(
                "[\"birth_date\", \"postal_code\"]",
                "[\"birth_date\", \"postal_code\", \"county\"]",
            )
            .replace("k = 3", "k = 3\nsuppression_limit = 0.2")
            + "[columns.county]\naction = \"keep\"\n";
        let input = mixed_csv(2500, None, None);
        for (name, policy) in [
            ("global", base.to_string()),
            ("local", local),
            ("sensitive", sensitive),
            ("kept quasi-identifier", kept),
        ] {
            let rendered_before = LINES_RENDERED_BY_UNIT.load(std::sync::atomic::Ordering::Relaxed);
            let (by_unit, by_unit_out) =
                run_mixed_with(&policy, &input, 2, 100, true, true, IN_MEMORY_LIMIT);
            let rendered_after = LINES_RENDERED_BY_UNIT.load(std::sync::atomic::Ordering::Relaxed);
            assert!(
                rendered_after > rendered_before,
                "{name}: rendered per unit"
            );
            let (again, again_out) = run_mixed_with(&policy, &input, 2, 100, true, true, 0);
            let by_unit = by_unit.unwrap();
            assert!(by_unit.rows_out > 0, "{name}");
            assert!(by_unit.search.is_some(), "{name}");
            assert!(by_unit_out == again_out, "{name}: same output");
            assert_eq!(by_unit, again.unwrap(), "{name}");
        }
    }

    #[test]
    fn a_streamed_search_equals_a_search_over_every_record() {
        let (generalized, local, sensitive) = searched_policies();
        let input = mixed_csv(2500, None, None);
        // Only searched quasi-identifiers: the input classes are counted per combination.
        let passthrough = generalized
            .replace(
                "quasi_identifiers = [\"birth_date\", \"postal_code\"]",
                "quasi_identifiers = [\"postal_code\", \"county\"]",
            )
            .replace(
                "hierarchy = \"division_codes\"\nlevel = 1",
                "hierarchy = \"division_codes\"",
            );
        assert_ne!(passthrough, generalized);
        let passthrough_sensitive = format!(
            "{}\n[l_diversity]\nkind = \"distinct\"\nl = 2\n",
            passthrough.replacen(
                '\n',
                "\nsensitive = [\"visit_date\"]\nsuppression_limit = 0.1\n",
                1
            )
        );
        for (name, policy) in [
            ("global", &generalized),
            ("local", &local),
            ("sensitive", &sensitive),
            ("passthrough", &passthrough),
            (
                "passthrough with a sensitive column",
                &passthrough_sensitive,
            ),
        ] {
            let (streamed, streamed_out) = run_mixed_streaming(policy, &input, 2, 100, true, true);
            let (kept, kept_out) = run_mixed_streaming(policy, &input, 2, 100, true, false);
            let (mut streamed, mut kept) = (streamed.unwrap(), kept.unwrap());
            assert!(streamed.search.is_some(), "{name}: the search ran");
            assert!(streamed_out == kept_out, "{name}: same output");
            // Entropy is summed per record in one and weighted per combination in the other.
            let (su, ku) = (
                streamed.utility.take().unwrap(),
                kept.utility.take().unwrap(),
            );
            assert!(
                (su.non_uniform_entropy - ku.non_uniform_entropy).abs() < 1e-9,
                "{name}"
            );
            assert_eq!(
                (su.granularity, su.discernibility, su.aecs, su.loss),
                (ku.granularity, ku.discernibility, ku.aecs, ku.loss),
                "{name}"
            );
            assert_eq!(streamed, kept, "{name}");
        }
    }

    #[test]
    fn the_first_failing_record_is_reported_whatever_the_chunking() {
        for (bad_birth, bad_utf8, expected) in [
            (Some(1001), Some(1200), "column `birth_date`"),
            (Some(1300), Some(1200), "not valid UTF-8"),
        ] {
            let input = mixed_csv(1500, bad_birth, bad_utf8);
            let (serial, _) = run_mixed(MIXED_POLICY, &input, 1, usize::MAX, false);
            let serial = serial.unwrap_err();
            assert!(serial.contains(expected), "{serial}");
            for (threads, chunk) in [(2, 5), (4, 1000), (2, 1001), (2, 1201)] {
                let (parallel, _) = run_mixed(MIXED_POLICY, &input, threads, chunk, false);
                assert_eq!(parallel.unwrap_err(), serial);
            }
        }
    }

    proptest::proptest! {
        /// A record checked as a whole is taken exactly when `StringRecord` takes it field by
        /// field, with the same cells, and refused with the field `StringRecord` names, also
        /// when a character's bytes are split between two fields.
        #[test]
        fn text_of_a_record_agrees_with_string_record(
            fields in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::prop_oneof![
                        proptest::strategy::Just(b'a'),
                        proptest::strategy::Just(0xE7u8),
                        proptest::strategy::Just(0x9Cu8),
                        proptest::strategy::Just(0x89u8),
                        proptest::strategy::Just(0xC3u8),
                        proptest::strategy::Just(0xA9u8),
                        proptest::arbitrary::any::<u8>(),
                    ],
                    0..8,
                ),
                1..6,
            )
        ) {
            let mut raw = csv::ByteRecord::new();
            for f in &fields {
                raw.push_field(f);
            }
            match csv::StringRecord::from_byte_record(raw.clone()) {
                Ok(record) => {
                    let text = TextOfRecord::of(&raw);
                    proptest::prop_assert!(text.is_ok());
                    if let Ok(text) = text {
                        for i in 0..=record.len() {
                            proptest::prop_assert_eq!(text.cell(i), record.cell(i));
                        }
                    }
                }
                Err(e) => proptest::prop_assert_eq!(
                    TextOfRecord::of(&raw).err(),
                    Some(e.utf8_error().field())
                ),
            }
        }
    }

    #[test]
    fn a_character_split_between_fields_is_refused_in_the_first() {
        let mut raw = csv::ByteRecord::new();
        raw.push_field(b"ok");
        raw.push_field(&[b'a', 0xE7]);
        raw.push_field(&[0x9C, 0x89, b'b']);
        assert!(std::str::from_utf8(raw.as_slice()).is_ok());
        assert_eq!(TextOfRecord::of(&raw).err(), Some(1));
    }

    #[test]
    fn plan_keeps_header_order_and_skips_drops() {
        let policy = DeidPolicy::parse(
            "name = \"p\"\nquasi_identifiers = [\"b\"]\ndefault_action = \"keep\"\n[columns.a]\naction = \"drop\"\n",
        )
        .unwrap();
        let plan = Plan::build(
            &policy,
            &header(&["c", "a", "b"]),
            &Hierarchies::default(),
            &[],
        )
        .unwrap();
        assert_eq!(plan.output_columns, ["c", "b"]);
        assert_eq!(plan.qi_outputs, [1]);
        assert_eq!(
            plan.steps.iter().map(|s| s.input).collect::<Vec<_>>(),
            [0, 2]
        );
        assert_eq!(plan.actions.len(), 3);
    }

    /// The input as text batches of `rows_per_batch` rows: every field as text, an empty field
    /// as NULL (so the engine's "empty or NULL" reading is exercised).
    fn text_batches_of(input: &[u8], rows_per_batch: usize) -> (Vec<String>, Vec<RecordBatch>) {
        let mut reader = csv::Reader::from_reader(input);
        let columns: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(
            columns
                .iter()
                .map(|c| arrow::datatypes::Field::new(c, arrow::datatypes::DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let batches = records
            .chunks(rows_per_batch.max(1))
            .map(|rows| {
                let arrays: Vec<arrow::array::ArrayRef> = (0..columns.len())
                    .map(|j| {
                        std::sync::Arc::new(StringArray::from(
                            rows.iter()
                                .map(|r| r.get(j).filter(|v| !v.is_empty()))
                                .collect::<Vec<_>>(),
                        )) as arrow::array::ArrayRef
                    })
                    .collect();
                RecordBatch::try_new(schema.clone(), arrays).unwrap()
            })
            .collect();
        (columns, batches)
    }

    /// The columnar engine over `input` cut into batches; also returns how often it opened
    /// the input.
    fn run_batches(
        policy: &str,
        input: &[u8],
        threads: usize,
        rows_per_batch: usize,
        optimize: bool,
    ) -> (Result<DeidReport, String>, Vec<u8>, usize) {
        let policy = DeidPolicy::parse(policy).unwrap();
        let keys = test_keys();
        let (columns, batches) = text_batches_of(input, rows_per_batch);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let hierarchies = Hierarchies::default();
        let mut out = Vec::new();
        let mut opened = 0;
        let result = pool.install(|| {
            let options = test_options(&hierarchies, optimize);
            let mut open = || {
                opened += 1;
                Ok(TextBatches {
                    columns: columns.clone(),
                    batches: Box::new(batches.clone().into_iter().map(Ok)),
                })
            };
            deidentify_batches_with(&policy, &keys, &mut open, &mut out, &options)
        });
        let result = result
            .map(|mut r| {
                r.elapsed_ms = 0;
                r
            })
            .map_err(|e| e.to_string());
        (result, out, opened)
    }

    /// The columnar engine writes the output, report and counts of the CSV engine over the
    /// same records — record-level transforms, the streamed search (global and local, with a
    /// sensitive column) and microaggregation — whatever the batch size and thread count.
    #[test]
    fn the_columnar_engine_equals_the_csv_engine() {
        let (generalized, local, sensitive) = searched_policies();
        let micro = with_microaggregated_fee(MIXED_POLICY);
        let counted = MIXED_POLICY.replace(
            "[columns.visit_date]\naction = \"year\"",
            "[columns.visit_date]\naction = \"year\"\nmin_count = 510",
        );
        assert_ne!(counted, MIXED_POLICY);
        let input = mixed_csv(2500, None, None);
        for (name, policy, optimize, opens) in [
            ("record-level", MIXED_POLICY, false, 1),
            ("global search", &generalized, true, 2),
            ("local recoding", &local, true, 2),
            ("l-diversity", &sensitive, true, 2),
            ("microaggregation", &micro, false, 2),
            ("minimum counts", &counted, false, 2),
        ] {
            let (csv, csv_out) = run_mixed(policy, &input, 2, 100, optimize);
            let csv = csv.unwrap();
            assert!(csv.rows_out > 0, "{name}");
            if name == "minimum counts" {
                // Some years are shared by fewer than 510 of the 2,500 records.
                assert!(csv.min_count_released["visit_date"] > 0, "{name}");
            }
            for (threads, rows_per_batch) in [(1, 2500), (2, 1), (2, 7), (2, 1000), (3, 4096)] {
                let (columnar, out, opened) =
                    run_batches(policy, &input, threads, rows_per_batch, optimize);
                let label = format!("{name}, {threads} threads, batches of {rows_per_batch}");
                assert_eq!(columnar.unwrap(), csv, "{label}");
                assert!(out == csv_out, "{label}: same output bytes");
                assert_eq!(opened, opens, "{label}: passes over the input");
            }
        }
    }

    /// A failing cell is reported with the column, the problem and the record's line in the
    /// CSV rendering (row + 1 after the header); a batch that is not all text is refused by
    /// column name.
    #[test]
    fn the_columnar_engine_names_the_failing_record_and_refuses_typed_columns() {
        let input = mixed_csv(300, Some(150), None);
        let (csv, _) = run_mixed(MIXED_POLICY, &input, 2, 100, false);
        let csv = csv.unwrap_err();
        for (threads, rows_per_batch) in [(1, 300), (2, 7)] {
            let (columnar, _, _) =
                run_batches(MIXED_POLICY, &input, threads, rows_per_batch, false);
            let columnar = columnar.unwrap_err();
            assert!(columnar.contains("line 152"), "{columnar}");
            // Same column and problem as the CSV engine (whose lines count the line breaks
            // inside quoted fields).
            let tail = |e: &str| e.split_once(", column").map(|(_, t)| t.to_string());
            assert_eq!(tail(&columnar), tail(&csv), "{columnar} / {csv}");
            assert!(tail(&csv).is_some(), "{csv}");
        }

        let policy = DeidPolicy::parse(
            "name = \"t\"\nk = 2\nquasi_identifiers = [\"name\"]\n[columns.name]\naction = \"keep\"\n[columns.fee]\naction = \"keep\"\n",
        )
        .unwrap();
        let keys = test_keys();
        let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("name", arrow::datatypes::DataType::Utf8, true),
            arrow::datatypes::Field::new("fee", arrow::datatypes::DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                std::sync::Arc::new(StringArray::from(vec!["张三"])),
                std::sync::Arc::new(arrow::array::Int64Array::from(vec![5])),
            ],
        )
        .unwrap();
        let mut open = || {
            Ok(TextBatches {
                columns: vec!["name".into(), "fee".into()],
                batches: Box::new(std::iter::once(Ok(batch.clone()))),
            })
        };
        let err = deidentify_batches(&policy, &keys, &mut open, Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("`fee`") && err.contains("Int64"), "{err}");
    }

    /// Batches stream: output is written while later batches have not yet been read, so no
    /// more than the batches in flight are held, whatever the input's length.
    #[test]
    fn the_columnar_engine_writes_before_it_has_read_the_whole_input() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        struct Watch {
            pulled: Arc<AtomicUsize>,
            writes: usize,
            pulled_at_first_record: Option<usize>,
        }
        impl Write for Watch {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.writes += 1;
                // The first write is the header line.
                if self.writes == 2 {
                    self.pulled_at_first_record = Some(self.pulled.load(Ordering::SeqCst));
                }
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let input = mixed_csv(5000, None, None);
        let (columns, batches) = text_batches_of(&input, 50);
        assert_eq!(batches.len(), 100);
        let pulled = Arc::new(AtomicUsize::new(0));
        let mut watch = Watch {
            pulled: pulled.clone(),
            writes: 0,
            pulled_at_first_record: None,
        };
        let policy = DeidPolicy::parse(MIXED_POLICY).unwrap();
        let keys = test_keys();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let counter = pulled.clone();
        let report = pool
            .install(|| {
                let mut open = || {
                    let counter = counter.clone();
                    Ok(TextBatches {
                        columns: columns.clone(),
                        batches: Box::new(batches.clone().into_iter().map(move |b| {
                            counter.fetch_add(1, Ordering::SeqCst);
                            Ok(b)
                        })),
                    })
                };
                deidentify_batches(&policy, &keys, &mut open, &mut watch)
            })
            .unwrap();
        assert_eq!(report.rows_in, 5000);
        assert_eq!(pulled.load(Ordering::SeqCst), 100);
        let at_first = watch.pulled_at_first_record.unwrap();
        // At most `2 × threads + 1` chunks read and not yet written, each from one batch, however
        // the workers are scheduled (a finished chunk waiting for an earlier one counts).
        assert!(
            at_first <= 2 * 2 + 1,
            "{at_first} of 100 batches read before the first record was written"
        );
    }
}
