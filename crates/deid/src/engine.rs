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

use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Write};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::kanon::{KAnonymityCounter, KAnonymityReport};
use crate::keys::DeidKeys;
use crate::policy::{Action, AgeReference, DeidPolicy};
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

/// What a de-identification run did. Contains names and counts only: no keys, no offsets, no
/// values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// `reference_column` of the named `age_band` column.
    ReferenceColumn(String),
}

impl fmt::Display for ColumnRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnRole::PolicyColumn => f.write_str("named by a [columns.…] rule of the policy"),
            ColumnRole::QuasiIdentifier => f.write_str("listed in quasi_identifiers"),
            ColumnRole::SubjectColumn => f.write_str("the policy's subject_column"),
            ColumnRole::ReferenceColumn(c) => {
                write!(f, "reference_column of age_band column `{c}`")
            }
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
    /// No subject column is configured (the policy parser prevents this).
    #[error("date_shift needs the policy's subject_column")]
    NoSubjectColumn,
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
}

/// One output column's operation.
enum Op<'p> {
    Keep,
    Blank,
    Pseudonymize(&'p str),
    Mask(MaskSpec),
    AgeBand(Reference<'p>),
    DateShift,
    Year,
    Truncate(usize, Option<char>),
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
    fn build(policy: &'p DeidPolicy, header: &csv::StringRecord) -> Result<Self, DeidError> {
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

        let mut steps = Vec::new();
        let mut output_columns = Vec::new();
        let mut actions = Vec::with_capacity(header.len());
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
                Action::Pseudonymize { prefix } => Op::Pseudonymize(prefix),
                Action::Mask(spec) => Op::Mask(*spec),
                Action::AgeBand { reference } => Op::AgeBand(match reference {
                    AgeReference::Date(d) => Reference::Date(*d),
                    AgeReference::Column(c) => Reference::Column(
                        find(c, ColumnRole::ReferenceColumn(column.to_string()))?,
                        c.as_str(),
                    ),
                }),
                Action::DateShift => Op::DateShift,
                Action::Year => Op::Year,
                Action::Truncate { length, pad } => Op::Truncate(*length, *pad),
            };
            output_columns.push(column.to_string());
            steps.push(Step {
                input,
                column: column.to_string(),
                op,
            });
        }

        let mut qi_outputs = Vec::with_capacity(policy.quasi_identifiers().len());
        for q in policy.quasi_identifiers() {
            match output_columns.iter().position(|c| c == q) {
                Some(i) => qi_outputs.push(i),
                None => {
                    // The policy guarantees a quasi-identifier is never dropped, so it is absent.
                    return Err(DeidError::MissingColumn {
                        column: q.clone(),
                        role: ColumnRole::QuasiIdentifier,
                        available: header_listing(header),
                    });
                }
            }
        }

        Ok(Plan {
            steps,
            output_columns,
            actions,
            subject,
            qi_outputs,
        })
    }

    /// Transforms one record into `out`.
    fn apply(
        &self,
        record: &csv::StringRecord,
        line: u64,
        keys: &DeidKeys,
        policy: &DeidPolicy,
        out: &mut Vec<String>,
    ) -> Result<(), DeidError> {
        let mut offset: Option<i64> = None;
        for step in &self.steps {
            let value = record.get(step.input).unwrap_or("");
            let cell_err = |problem: CellProblem| DeidError::Cell {
                line,
                column: step.column.clone(),
                problem,
            };
            let produced = match &step.op {
                Op::Keep => value.to_string(),
                Op::Blank => String::new(),
                _ if value.is_empty() => String::new(),
                Op::Pseudonymize(prefix) => {
                    transform::pseudonymize(&keys.pseudonym_key, prefix, value)
                }
                Op::Mask(spec) => transform::mask(value, spec),
                Op::Truncate(length, pad) => transform::truncate(value, *length, *pad),
                Op::Year => transform::year(value).map_err(|e| cell_err(e.into()))?,
                Op::AgeBand(reference) => {
                    let at = match reference {
                        Reference::Date(d) => *d,
                        Reference::Column(i, name) => {
                            let r = record.get(*i).unwrap_or("");
                            if r.is_empty() {
                                return Err(cell_err(CellProblem::ReferenceEmpty {
                                    reference: (*name).to_string(),
                                }));
                            }
                            transform::parse_date_cell(r)
                                .map_err(|problem| {
                                    cell_err(CellProblem::ReferenceInvalid {
                                        reference: (*name).to_string(),
                                        problem,
                                    })
                                })?
                                .date
                        }
                    };
                    transform::age_band_of(value, at).map_err(|e| cell_err(e.into()))?
                }
                Op::DateShift => {
                    let days = match offset {
                        Some(d) => d,
                        None => {
                            let (i, name) = self
                                .subject
                                .ok_or_else(|| cell_err(CellProblem::NoSubjectColumn))?;
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

/// De-identifies a CSV stream under `policy` and `keys`, writing CSV to `output`.
///
/// The input must be UTF-8 CSV with a header line. Columns are written in input order, without
/// the dropped ones. Empty cells stay empty. The k-anonymity check runs over the output's
/// quasi-identifier columns; a failing check is reported (`passed = false`), not an error —
/// the caller decides, and must discard the output on failure if it will not publish it.
pub fn deidentify<R: Read, W: Write>(
    policy: &DeidPolicy,
    keys: &DeidKeys,
    input: R,
    output: W,
) -> Result<DeidReport, DeidError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(input);
    let header = reader.headers().map_err(read_error)?.clone();
    if header.is_empty() {
        return Err(DeidError::NoHeader);
    }
    let plan = Plan::build(policy, &header)?;

    let mut writer = csv::WriterBuilder::new().from_writer(output);
    writer
        .write_record(&plan.output_columns)
        .map_err(write_error)?;

    let mut counter = KAnonymityCounter::new(policy.k(), policy.quasi_identifiers().to_vec());
    let mut record = csv::StringRecord::new();
    let mut out: Vec<String> = Vec::with_capacity(plan.steps.len());
    let mut rows: u64 = 0;
    while reader.read_record(&mut record).map_err(read_error)? {
        let line = record.position().map_or(0, |p| p.line());
        out.clear();
        plan.apply(&record, line, keys, policy, &mut out)?;
        counter.add(
            plan.qi_outputs
                .iter()
                .map(|&i| out.get(i).map_or("", String::as_str)),
        );
        writer.write_record(&out).map_err(write_error)?;
        rows += 1;
    }
    writer.flush().map_err(DeidError::Write)?;

    Ok(DeidReport {
        policy_name: policy.name().to_string(),
        policy_sha256: policy.sha256_hex(),
        rows_in: rows,
        rows_out: rows,
        output_columns: plan.output_columns,
        actions: plan.actions,
        k_anonymity: counter.report(),
    })
}

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
        let plan = Plan::build(&policy, &header(&["c", "a", "b"])).unwrap();
        assert_eq!(plan.output_columns, ["c", "b"]);
        assert_eq!(plan.qi_outputs, [1]);
        assert_eq!(
            plan.steps.iter().map(|s| s.input).collect::<Vec<_>>(),
            [0, 2]
        );
        assert_eq!(plan.actions.len(), 3);
    }
}
