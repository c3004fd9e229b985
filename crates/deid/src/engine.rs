//! Row-streaming de-identification engine: CSV in, CSV out, one record at a time.
//!
//! GB/T 39725-2020 §10.2 and Table 6 (the transforms), §10.2 e) and §11.4.2.4 (k-anonymity of
//! the result, reported — never hidden — so the caller can refuse to publish), T/CI 857-2024
//! 6.5.3 (the report is the de-identification log entry: what was done, by which policy, with
//! which outcome, without keys, offsets or values).
//!
//! Memory is bounded by one record plus the k-anonymity counter (one counter per distinct
//! quasi-identifier combination). Output is written as it is produced: when an error is
//! returned, or when the k check fails, the caller must discard what was written.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::time::Instant;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::anon::{Aggregate, AnonConfig, AnonData, AnonError, Criterion, QuasiIdentifier};
use crate::hierarchy::{Builtin, Hierarchy, HierarchyError};
use crate::kanon::{KAnonymityCounter, KAnonymityReport};
use crate::keys::DeidKeys;
use crate::lattice::{search_optimal, Lattice};
use crate::local::local_recoding;
use crate::metrics::{quality, Recoding};
use crate::policy::{
    Action, AgeReference, DeidPolicy, HierarchySpec, LDiversity, NoiseKind, PolicyError,
    RecodingModel, SpanKind, TCloseness,
};
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
    /// Format-preserving pseudonym; the cipher is keyed on first use (keys arrive per call).
    Ff1(Option<Box<crate::ff1::Ff1Pseudonymizer>>),
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
    /// Fixed-level generalisation, value → label (cached for built-ins).
    Generalize(Generalizer, String),
    /// Level chosen by the search: the label comes from the search's recoding (`dim`); in the
    /// collecting pass the value is passed through.
    Searched(usize),
}

/// A fixed-level generalisation of one column.
enum Generalizer {
    /// From a hierarchy file: level-0 value → label at the level.
    Map(HashMap<String, String>),
    /// A built-in at a level, with a cache of values seen.
    Builtin(Builtin, usize, HashMap<String, String>),
}

impl Generalizer {
    fn apply(&mut self, value: &str) -> Option<String> {
        match self {
            Generalizer::Map(m) => m.get(value).cloned(),
            Generalizer::Builtin(b, level, cache) => {
                if let Some(v) = cache.get(value) {
                    return Some(v.clone());
                }
                let g = b.generalize(value, *level).ok()?;
                if cache.len() < 1 << 20 {
                    cache.insert(value.to_string(), g.clone());
                }
                Some(g)
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
                } => Op::Ff1(None),
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
                Action::Generalize { hierarchy, level } => {
                    if let Some(dim) = searched.iter().position(|s| s == column) {
                        Op::Searched(dim)
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
                                Generalizer::Builtin(*b, level, HashMap::new())
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

        Ok(Plan {
            steps,
            output_columns,
            actions,
            subject,
            qi_outputs,
            qi_inputs,
            sensitive_outputs,
            fixed_levels,
        })
    }

    /// Transforms one record into `out`. `only`: compute just these output positions (others
    /// are left empty); `searched`: the search's labels per searched column (empty: pass the
    /// value through).
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        record: &csv::StringRecord,
        line: u64,
        keys: &DeidKeys,
        policy: &DeidPolicy,
        out: &mut Vec<String>,
        only: Option<&[bool]>,
        searched: &[&str],
    ) -> Result<(), DeidError> {
        let mut offset: Option<i64> = None;
        let subject = self.subject;
        let reference_date = |r: &Reference<'_>, cell_err: &dyn Fn(CellProblem) -> DeidError| {
            Ok::<NaiveDate, DeidError>(match r {
                Reference::Date(d) => *d,
                Reference::Column(i, name) => {
                    let v = record.get(*i).unwrap_or("");
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
        for (pos, step) in self.steps.iter_mut().enumerate() {
            if only.is_some_and(|o| !o.get(pos).copied().unwrap_or(false)) {
                out.push(String::new());
                continue;
            }
            let value = record.get(step.input).unwrap_or("");
            let column = &step.column;
            let cell_err = |problem: CellProblem| DeidError::Cell {
                line,
                column: column.clone(),
                problem,
            };
            let produced = match &mut step.op {
                Op::Keep => value.to_string(),
                Op::Blank => String::new(),
                Op::Searched(dim) => match searched.get(*dim) {
                    Some(label) => (*label).to_string(),
                    None => value.to_string(),
                },
                _ if value.is_empty() => String::new(),
                Op::Pseudonymize(prefix) => {
                    transform::pseudonymize(&keys.pseudonym_key, prefix, value)
                }
                Op::Ff1(cipher) => {
                    let ff1 = match cipher {
                        Some(c) => c,
                        None => cipher.insert(Box::new(
                            crate::ff1::Ff1Pseudonymizer::new(&keys.pseudonym_key)
                                .map_err(|e| cell_err(CellProblem::Ff1(e)))?,
                        )),
                    };
                    ff1.pseudonymize(value)
                        .map_err(|e| cell_err(CellProblem::Ff1(e)))?
                }
                Op::Mask(spec) => transform::mask(value, spec),
                Op::Truncate(length, pad) => transform::truncate(value, *length, *pad),
                Op::Year => transform::year(value).map_err(|e| cell_err(e.into()))?,
                Op::AgeBand(reference) => {
                    let at = reference_date(reference, &cell_err)?;
                    transform::age_band_of(value, at).map_err(|e| cell_err(e.into()))?
                }
                Op::ToAge(reference) => {
                    let at = reference_date(reference, &cell_err)?;
                    transform::age_of(value, at)
                        .map_err(|e| cell_err(e.into()))?
                        .to_string()
                }
                Op::ToDuration(end, name) => {
                    let e = record.get(*end).unwrap_or("");
                    if e.is_empty() {
                        String::new()
                    } else {
                        transform::parse_date_cell(e).map_err(|problem| {
                            cell_err(CellProblem::ReferenceInvalid {
                                reference: (*name).to_string(),
                                problem,
                            })
                        })?;
                        transform::days_between(value, e)
                            .map_err(|e| cell_err(e.into()))?
                            .to_string()
                    }
                }
                Op::TopBottom(bottom, top) => transform::top_bottom_code(value, *bottom, *top)
                    .ok_or_else(|| cell_err(CellProblem::NotANumber))?,
                Op::Noise(kind, scale, decimals) => {
                    let mut context = Vec::with_capacity(column.len() + 16);
                    context.extend_from_slice(b"noise\0");
                    context.extend_from_slice(column.as_bytes());
                    context.push(0);
                    context.extend_from_slice(&line.to_be_bytes());
                    let u = transform::keyed_uniform(&keys.date_shift_key, &context);
                    transform::add_noise(value, u, *kind == NoiseKind::Laplace, *scale, *decimals)
                        .ok_or_else(|| cell_err(CellProblem::NotANumber))?
                }
                Op::Redact(kinds) => transform::redact_spans(value, kinds),
                Op::Generalize(g, name) => g.apply(value).ok_or_else(|| {
                    cell_err(CellProblem::NotInHierarchy {
                        hierarchy: name.clone(),
                    })
                })?,
                Op::DateShift => {
                    let days = match offset {
                        Some(d) => d,
                        None => {
                            let (i, name) =
                                subject.ok_or_else(|| cell_err(CellProblem::NoSubjectColumn))?;
                            let subject = record.get(i).unwrap_or("");
                            if subject.is_empty() {
                                return Err(cell_err(CellProblem::SubjectEmpty {
                                    subject: name.to_string(),
                                }));
                            }
                            let d = transform::date_shift_offset(
                                &keys.date_shift_key,
                                subject,
                                policy.date_shift_max_days(),
                            );
                            offset = Some(d);
                            d
                        }
                    };
                    transform::shift_date(value, days).map_err(|e| cell_err(e.into()))?
                }
            };
            out.push(produced);
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
            problem: format!(
                "field {} is not valid UTF-8; expected UTF-8 text (convert GBK/GB18030 exports first)",
                err.field() + 1
            ),
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
        Ok(Hierarchies { files })
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
/// `generalize` rules need a fixed `level` here; see [`deidentify_with`] for the search.
pub fn deidentify<R: Read, W: Write>(
    policy: &DeidPolicy,
    keys: &DeidKeys,
    input: R,
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
    let mut input = Some(input);
    let mut open = move || {
        input
            .take()
            .ok_or_else(|| std::io::Error::other("the input can be read only once"))
    };
    deidentify_with(policy, keys, &mut open, output, &options)
}

/// Prosecutor risk above which a record counts as at risk: 1/5 (GB/T 39725-2020 §11.4.2.4).
pub const DEFAULT_RISK_THRESHOLD: f64 = 0.2;

/// De-identifies CSV from `open` (called once, or twice with `optimize`: the search needs the
/// quasi-identifiers of every record before the first output row is written) into `output`.
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
    let open_csv = |open: &mut dyn FnMut() -> std::io::Result<R>| -> Result<csv::Reader<BufReader<R>>, DeidError> {
        let mut buffered = BufReader::with_capacity(1 << 20, open().map_err(DeidError::Read)?);
        let delimiter = match options.delimiter {
            Some(d) => d,
            None => detect_delimiter(buffered.fill_buf().map_err(DeidError::Read)?),
        };
        Ok(csv::ReaderBuilder::new()
            .has_headers(true)
            .delimiter(delimiter)
            .from_reader(buffered))
    };

    let mut reader = open_csv(open)?;
    let header = reader.headers().map_err(read_error)?.clone();
    if header.is_empty() {
        return Err(DeidError::NoHeader);
    }
    let mut plan = Plan::build(policy, &header, options.hierarchies, &searched)?;
    let mut before = KAnonymityCounter::new(policy.k(), policy.quasi_identifiers().to_vec());
    let mut record = csv::StringRecord::new();
    let mut out: Vec<String> = Vec::with_capacity(plan.steps.len());

    // Pass 1 (search only): the quasi-identifier and sensitive output values of every record.
    let mut search: Option<SearchOutcome> = None;
    if !searched.is_empty() {
        options.progress.stage("reading quasi-identifiers");
        let mut wanted = vec![false; plan.steps.len()];
        for &i in plan.qi_outputs.iter().chain(&plan.sensitive_outputs) {
            if let Some(w) = wanted.get_mut(i) {
                *w = true;
            }
        }
        let mut rows: Vec<Vec<String>> = Vec::new();
        while reader.read_record(&mut record).map_err(read_error)? {
            let line = record.position().map_or(0, |p| p.line());
            out.clear();
            plan.apply(&record, line, keys, policy, &mut out, Some(&wanted), &[])?;
            before.add(plan.qi_inputs.iter().map(|&i| record.get(i).unwrap_or("")));
            let mut row: Vec<String> = plan
                .qi_outputs
                .iter()
                .map(|&i| out.get(i).cloned().unwrap_or_default())
                .collect();
            if let Some(&s) = plan.sensitive_outputs.first() {
                row.push(out.get(s).cloned().unwrap_or_default());
            }
            rows.push(row);
            if (rows.len() as u64).is_multiple_of(PROGRESS_EVERY) {
                options.progress.rows(rows.len() as u64);
            }
        }
        options.progress.stage("searching");
        search = Some(run_search(policy, options, &searched, rows)?);
        reader = open_csv(open)?;
        let again = reader.headers().map_err(read_error)?.clone();
        if again != header {
            return Err(DeidError::Read(std::io::Error::other(
                "the input changed between the two passes",
            )));
        }
    }

    options.progress.stage("writing");
    let mut writer = csv::WriterBuilder::new().from_writer(output);
    writer
        .write_record(&plan.output_columns)
        .map_err(write_error)?;
    let mut counter = KAnonymityCounter::new(policy.k(), policy.quasi_identifiers().to_vec());
    let mut rows: u64 = 0;
    let mut rows_out: u64 = 0;
    let mut labels: Vec<&str> = Vec::with_capacity(searched.len());
    while reader.read_record(&mut record).map_err(read_error)? {
        let line = record.position().map_or(0, |p| p.line());
        let r = rows as usize;
        rows += 1;
        if rows.is_multiple_of(PROGRESS_EVERY) {
            options.progress.rows(rows);
        }
        labels.clear();
        if let Some(s) = &search {
            let node = match s.recoding.record_node.get(r) {
                Some(Some(n)) => s.recoding.nodes.get(*n as usize),
                Some(None) => continue, // suppressed
                None => {
                    return Err(DeidError::Read(std::io::Error::other(
                        "the input changed between the two passes",
                    )))
                }
            };
            let Some(node) = node else { continue };
            for (dim, &level) in node.iter().enumerate().take(searched.len()) {
                labels.push(s.data.label(r, dim, level).unwrap_or("*"));
            }
        } else {
            before.add(plan.qi_inputs.iter().map(|&i| record.get(i).unwrap_or("")));
        }
        out.clear();
        plan.apply(&record, line, keys, policy, &mut out, None, &labels)?;
        counter.add(
            plan.qi_outputs
                .iter()
                .map(|&i| out.get(i).map_or("", String::as_str)),
        );
        writer.write_record(&out).map_err(write_error)?;
        rows_out += 1;
    }
    writer.flush().map_err(DeidError::Write)?;
    options.progress.rows(rows);

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

/// What the search found.
struct SearchOutcome {
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

/// Builds the encoded data (searched columns first, then the fixed quasi-identifiers as
/// one-level dimensions) and runs the search.
fn run_search(
    policy: &DeidPolicy,
    options: &RunOptions<'_>,
    searched: &[String],
    rows: Vec<Vec<String>>,
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
    let records: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| {
            order
                .iter()
                .map(|&i| r.get(i).cloned().unwrap_or_default())
                .collect()
        })
        .collect();
    let mut dims = Vec::with_capacity(qis.len());
    for (j, column) in header.iter().take(qis.len()).enumerate() {
        let values = distinct(&records, j);
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
        ) => Some(
            options
                .hierarchies
                .resolve(h, s, &distinct(&records, qis.len()))?,
        ),
        _ => None,
    };
    let sensitive = match &sensitive_name {
        Some(s) if policy.l_diversity().is_some() || policy.t_closeness().is_some() => {
            Some((s.as_str(), sensitive_hierarchy.as_ref()))
        }
        _ => None,
    };
    let data = AnonData::new(&header, &records, &dims, sensitive).map_err(DeidError::Anon)?;
    drop(records);
    let local = options
        .local
        .unwrap_or(policy.recoding() == RecodingModel::Local);
    let mut config = AnonConfig {
        criteria: criteria(policy),
        suppression_limit: policy.suppression_limit(),
        aggregate: Aggregate::default(),
        suppression_weight: 1.0,
    };
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
    let utility = Utility {
        granularity: q.granularity,
        discernibility: q.discernibility,
        aecs: q.aecs,
        non_uniform_entropy: q.non_uniform_entropy_normalized,
        loss: q.loss_geometric,
    };
    Ok(SearchOutcome {
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
}
