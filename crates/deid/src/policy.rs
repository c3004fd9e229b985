//! De-identification policy: TOML text → checked [`DeidPolicy`].
//!
//! GB/T 39725-2020 §10.2 (which attributes are deleted, generalised or shifted; g) the parameters
//! — keys, shift ranges — stay with the controller: a policy names methods, never secrets),
//! §10.2 e) and §11.4.2.4 (minimum group size, k ≥ 5 on the node), Table 6 and Appendix G
//! (methods per data element); T/CI 857-2024 6.5.2 (written de-identification rules).
//!
//! The text is deserialised into raw, loosely typed structs (every leaf a spanned TOML value) and
//! then checked into a [`DeidPolicy`] whose invariants hold by construction. Every error names
//! the TOML line and column, the field path and what was expected.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::num::NonZeroU32;
use std::ops::Range;

use chrono::NaiveDate;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use toml::Spanned;

use crate::hierarchy::Builtin;
use crate::transform::MaskSpec;

/// Smallest k a policy may state.
pub const POLICY_MIN_K: usize = 2;
/// Minimum k a node requires (GB/T 39725-2020 §10.2 e) and §11.4.2.4: no fewer than 5).
pub const NODE_MIN_K: usize = 5;
/// k when the policy does not say.
pub const DEFAULT_K: usize = 5;
/// Date-shift range when the policy does not say.
pub const DEFAULT_DATE_SHIFT_MAX_DAYS: u32 = 30;
/// Largest date-shift range a policy may state (ten years).
pub const MAX_DATE_SHIFT_DAYS: u32 = 3650;
/// The action names a column rule may use.
pub const ACTION_NAMES: &[&str] = &[
    "drop",
    "blank",
    "null",
    "keep",
    "pseudonymize",
    "mask",
    "age_band",
    "date_shift",
    "year",
    "truncate",
    "generalize",
    "top_bottom_code",
    "to_age",
    "to_duration",
    "noise",
    "redact_spans",
    "microaggregate",
];

/// Built-in hierarchy names accepted by `generalize` (aliases in parentheses in the docs).
pub const BUILTIN_HIERARCHIES: &[&str] = &[
    "age_bands",
    "age_decades",
    "dates",
    "division_codes",
    "township_codes",
    "village_codes",
    "postal_codes",
    "icd10",
    "suppress",
];

const TOP_LEVEL_KEYS: &[&str] = &[
    "name",
    "k",
    "quasi_identifiers",
    "subject_column",
    "date_shift_max_days",
    "default_action",
    "suppression_limit",
    "sensitive",
    "project",
    "recoding",
    "l_diversity",
    "t_closeness",
    "population_table",
    "min_area_population",
    "columns",
];

/// Top-level keys whose value is a table (not `columns`).
const TABLE_KEYS: &[&str] = &["l_diversity", "t_closeness"];

const MAX_NAME_CHARS: usize = 200;
const MAX_PREFIX_CHARS: usize = 32;
const MAX_KEEP_CHARS: i64 = 1000;

/// A 1-based position in the policy text (column counted in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl Location {
    fn of(text: &str, offset: usize) -> Location {
        let bytes = text.as_bytes();
        let prefix = bytes.get(..offset.min(bytes.len())).unwrap_or_default();
        let line = 1 + prefix.iter().filter(|b| **b == b'\n').count();
        let line_start = prefix
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1);
        let tail = prefix.get(line_start..).unwrap_or_default();
        let column = 1 + String::from_utf8_lossy(tail).chars().count();
        Location { line, column }
    }
}

/// A policy that could not be parsed or checked: where, which field, what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    location: Option<Location>,
    path: String,
    message: String,
}

impl PolicyError {
    fn new(
        location: Option<Location>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        PolicyError {
            location,
            path: path.into(),
            message: message.into(),
        }
    }

    /// Line and column in the policy text, when the error can be pinned to one.
    pub fn location(&self) -> Option<Location> {
        self.location
    }

    /// Line in the policy text, from 1.
    pub fn line(&self) -> Option<usize> {
        self.location.map(|l| l.line)
    }

    /// Dotted field path (`columns.mobile.keep_first`); empty for syntax errors.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What was wrong and what was expected.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = self.location {
            write!(f, "line {}, column {}: ", l.line, l.column)?;
        }
        if !self.path.is_empty() {
            write!(f, "`{}`: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// What happens to columns the policy does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAction {
    /// Unlisted columns are left out of the output (the safe default).
    Drop,
    /// Unlisted columns are copied unchanged.
    Keep,
}

/// Where `age_band` takes the date at which the age is computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgeReference {
    /// The same row's value of this column (its original, unshifted date).
    Column(String),
    /// A fixed date.
    Date(NaiveDate),
}

/// Where a `generalize` column's hierarchy comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HierarchySpec {
    /// A built-in hierarchy, materialised over the column's values.
    Builtin(Builtin),
    /// An ARX-format hierarchy CSV, as written in the policy (relative paths are resolved
    /// against the policy file's directory by the caller).
    File(String),
}

/// Which free-text spans `redact_spans` replaces with type tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// 18-digit resident ID numbers (GB 11643; last character may be `X`) and 15-digit ones.
    IdNumber,
    /// Mainland mobile numbers (11 digits starting `1`) and landlines `0AA(A)-NNNNNNN(N)`.
    Phone,
    /// E-mail addresses.
    Email,
    /// Dates `YYYY-MM-DD`, `YYYY/MM/DD` and `YYYY年M月D日`.
    Date,
}

impl SpanKind {
    /// All kinds, the default of `redact_spans`.
    pub const ALL: [SpanKind; 4] = [
        SpanKind::IdNumber,
        SpanKind::Phone,
        SpanKind::Email,
        SpanKind::Date,
    ];

    /// The policy name of the kind.
    pub fn name(&self) -> &'static str {
        match self {
            SpanKind::IdNumber => "id_number",
            SpanKind::Phone => "phone",
            SpanKind::Email => "email",
            SpanKind::Date => "date",
        }
    }

    /// The tag written in place of a span.
    pub fn tag(&self) -> &'static str {
        match self {
            SpanKind::IdNumber => "[ID_NUMBER]",
            SpanKind::Phone => "[PHONE]",
            SpanKind::Email => "[EMAIL]",
            SpanKind::Date => "[DATE]",
        }
    }
}

/// The distribution `noise` draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseKind {
    /// Laplace with scale `b` (the differential-privacy mechanism's shape).
    Laplace,
    /// Uniform in `[-scale, scale]`.
    Uniform,
}

/// What replaces the values of a `microaggregate` group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupStatistic {
    /// The group's arithmetic mean (the column's mean is preserved, up to rounding).
    Mean,
    /// The group's median (the mean of the two middle values for an even group size).
    Median,
}

/// Largest `group_size` a policy may state.
pub const MAX_GROUP_SIZE: i64 = 1_000_000;

/// Which l-diversity variant a policy asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LDiversity {
    /// At least `l` distinct sensitive values per class.
    Distinct {
        /// l.
        l: usize,
    },
    /// Entropy of the sensitive values at least `ln l`.
    Entropy {
        /// l.
        l: f64,
    },
    /// Recursive (c,l)-diversity.
    Recursive {
        /// c.
        c: f64,
        /// l.
        l: usize,
    },
}

/// The t-closeness a policy asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct TCloseness {
    /// Largest earth mover's distance allowed.
    pub t: f64,
    /// `None`: equal ground distance; `Some`: hierarchical distance over this hierarchy.
    pub hierarchy: Option<HierarchySpec>,
}

/// Global (one generalisation for all records) or local recoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecodingModel {
    /// Optimal global recoding (default).
    #[default]
    Global,
    /// Local recoding (iterated global recoding, higher utility).
    Local,
}

/// The transform applied to one column.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Leave the column out (Table 6, Table G.1: 删除).
    Drop,
    /// Keep the column with every value empty (Table G.1: 置空).
    Blank,
    /// Copy unchanged.
    Keep,
    /// HMAC-SHA-256 pseudonym, 32 hex characters after `prefix` (§10.2 f); or, with
    /// `format = "ff1"`, the value's digits encrypted in place with FF1 (length and every other
    /// character kept; see [`crate::ff1`]).
    Pseudonymize {
        /// Prepended to every pseudonym (hex form only).
        prefix: String,
        /// Format-preserving FF1 instead of the hex form.
        format_preserving: bool,
    },
    /// Hide characters except some at each end.
    Mask(MaskSpec),
    /// Birth date → five-year age band (§10.2 c) 2)).
    AgeBand {
        /// Date at which the age is computed.
        reference: AgeReference,
    },
    /// Per-subject date shift keeping intervals (Table 6).
    DateShift,
    /// Date → year (§10.2 c) 3)).
    Year,
    /// Keep the first `length` characters, optionally padding back (§10.2 c) 1)).
    Truncate {
        /// Characters kept.
        length: usize,
        /// Pads back to the original length with this character.
        pad: Option<char>,
    },
    /// Generalise along a hierarchy (§10.2 c), Appendix G); the level is fixed by `level` or
    /// chosen by the k-anonymity search (`medspace deid --optimize`).
    Generalize {
        /// The hierarchy.
        hierarchy: HierarchySpec,
        /// A fixed level, or `None` to let the search choose.
        level: Option<usize>,
    },
    /// Numeric top and bottom coding: values above `top` become `>top`, below `bottom`
    /// become `<bottom` (§10.2 c) 2): e.g. ages over 89).
    TopBottomCode {
        /// Values below become `<bottom`.
        bottom: Option<f64>,
        /// Values above become `>top`.
        top: Option<f64>,
    },
    /// Birth date → age in completed years at a reference date.
    ToAge {
        /// Date at which the age is computed.
        reference: AgeReference,
    },
    /// Start date → whole days until the row's `end_column` date (length of stay).
    ToDuration {
        /// The end date's column.
        end_column: String,
    },
    /// Adds keyed random noise to a number.
    Noise {
        /// Distribution.
        kind: NoiseKind,
        /// Laplace `b`, or the half-width of the uniform interval.
        scale: f64,
        /// Decimals kept in the output.
        decimals: u32,
    },
    /// Replaces identifier spans in free text by type tags.
    RedactSpans {
        /// Kinds of span replaced.
        kinds: Vec<SpanKind>,
    },
    /// Numeric microaggregation (GB/T 37964-2019 and GB/T 39725-2020 §10.2, statistical
    /// techniques): records sorted by value (within `group_by` classes) are cut into groups of
    /// at least `group_size`, and every value becomes its group's mean or median. A
    /// dataset-level transform: see [`crate::engine`] for its pass and memory.
    Microaggregate {
        /// Fewest records per group (the policy's `k` unless stated; at least 2).
        group_size: usize,
        /// Quasi-identifier columns whose output values order the records before the value.
        group_by: Vec<String>,
        /// Mean or median.
        statistic: GroupStatistic,
        /// Decimals kept in the output.
        decimals: u32,
    },
}

impl Action {
    /// The action's name as written in the policy.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Drop => "drop",
            Action::Blank => "blank",
            Action::Keep => "keep",
            Action::Pseudonymize { .. } => "pseudonymize",
            Action::Mask(_) => "mask",
            Action::AgeBand { .. } => "age_band",
            Action::DateShift => "date_shift",
            Action::Year => "year",
            Action::Truncate { .. } => "truncate",
            Action::Generalize { .. } => "generalize",
            Action::TopBottomCode { .. } => "top_bottom_code",
            Action::ToAge { .. } => "to_age",
            Action::ToDuration { .. } => "to_duration",
            Action::Noise { .. } => "noise",
            Action::RedactSpans { .. } => "redact_spans",
            Action::Microaggregate { .. } => "microaggregate",
        }
    }

    /// True for [`Action::Drop`].
    pub fn drops(&self) -> bool {
        matches!(self, Action::Drop)
    }
}

/// One `[columns.NAME]` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnRule {
    /// Input column name.
    pub column: String,
    /// What is done to it.
    pub action: Action,
    /// Minimum count of every released value (`min_count`, GB/T 39725-2020 §11.4.2.4): a value
    /// that fewer records share is generalised further along the column's hierarchy, or
    /// replaced by `*`.
    pub min_count: Option<usize>,
}

/// A checked de-identification policy. Built only by [`DeidPolicy::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct DeidPolicy {
    suppression_limit: f64,
    sensitive: Vec<String>,
    project: Option<String>,
    recoding: RecodingModel,
    l_diversity: Option<LDiversity>,
    t_closeness: Option<TCloseness>,
    /// Where some values are written (`columns.age.hierarchy`), for errors found later.
    locations: BTreeMap<String, Location>,
    name: String,
    sha256: String,
    k: usize,
    k_location: Option<Location>,
    quasi_identifiers: Vec<String>,
    subject_column: Option<String>,
    date_shift_max_days: NonZeroU32,
    default: Action,
    columns: Vec<ColumnRule>,
    population_table: Option<String>,
    min_area_population: u64,
}

impl DeidPolicy {
    /// The population table (`population_table`), as written in the policy (relative paths
    /// are resolved against the policy file's directory by the caller); GB/T 39725-2020 §10.2
    /// c) 1).
    pub fn population_table(&self) -> Option<&str> {
        self.population_table.as_deref()
    }

    /// The population a released area must cover (`min_area_population`, default 20,000).
    pub fn min_area_population(&self) -> u64 {
        self.min_area_population
    }

    /// Parses and checks a policy (see the crate docs for the format).
    pub fn parse(toml_text: &str) -> Result<Self, PolicyError> {
        let raw: RawPolicy = toml::from_str(toml_text).map_err(|e| serde_error(toml_text, &e))?;
        Checker {
            text: toml_text,
            locations: RefCell::new(BTreeMap::new()),
        }
        .policy(raw)
    }

    /// SHA-256 (lowercase hex) of the policy text exactly as given, for lineage and audit.
    pub fn sha256_hex(&self) -> String {
        self.sha256.clone()
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Minimum equivalence-class size the output must reach.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Output columns the k-anonymity check groups by.
    pub fn quasi_identifiers(&self) -> &[String] {
        &self.quasi_identifiers
    }

    /// Column identifying the data subject (for per-subject date shifts).
    pub fn subject_column(&self) -> Option<&str> {
        self.subject_column.as_deref()
    }

    /// Date shifts are drawn from `[-max, -1] ∪ [1, max]` days.
    pub fn date_shift_max_days(&self) -> NonZeroU32 {
        self.date_shift_max_days
    }

    /// What happens to columns without a rule.
    pub fn default_action(&self) -> DefaultAction {
        if self.default.drops() {
            DefaultAction::Drop
        } else {
            DefaultAction::Keep
        }
    }

    /// The column rules, in the order they appear in the text.
    pub fn columns(&self) -> &[ColumnRule] {
        &self.columns
    }

    /// The action for a column: its rule, else the default action.
    pub fn action_for(&self, column: &str) -> &Action {
        self.columns
            .iter()
            .find(|r| r.column == column)
            .map_or(&self.default, |r| &r.action)
    }

    /// Share of records the k-anonymity search may suppress, in `[0, 1]` (default 0).
    pub fn suppression_limit(&self) -> f64 {
        self.suppression_limit
    }

    /// Sensitive columns (l-diversity and t-closeness are checked on the first).
    pub fn sensitive(&self) -> &[String] {
        &self.sensitive
    }

    /// The project named in the policy (pseudonyms and date shifts are per project).
    pub fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }

    /// Global or local recoding for the search.
    pub fn recoding(&self) -> RecodingModel {
        self.recoding
    }

    /// The l-diversity asked for, if any.
    pub fn l_diversity(&self) -> Option<LDiversity> {
        self.l_diversity
    }

    /// The t-closeness asked for, if any.
    pub fn t_closeness(&self) -> Option<&TCloseness> {
        self.t_closeness.as_ref()
    }

    /// Where a value is written in the policy text, by field path (recorded for
    /// `columns.NAME.hierarchy`, `columns.NAME.level` and `t_closeness.hierarchy`).
    pub fn location_of(&self, path: &str) -> Option<Location> {
        self.locations.get(path).copied()
    }

    /// An error pinned to a field of this policy (for checks made after parsing, such as
    /// loading a hierarchy file, still before any data is read).
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> PolicyError {
        PolicyError::new(self.location_of(path), path, message)
    }

    /// The `generalize` rules: column, hierarchy and fixed level.
    pub fn generalized_columns(&self) -> Vec<(&str, &HierarchySpec, Option<usize>)> {
        self.columns
            .iter()
            .filter_map(|r| match &r.action {
                Action::Generalize { hierarchy, level } => {
                    Some((r.column.as_str(), hierarchy, *level))
                }
                _ => None,
            })
            .collect()
    }

    /// Refuses a policy whose k is below `min_k`; a node calls this with [`NODE_MIN_K`]
    /// (GB/T 39725-2020 §11.4.2.4: at least 5 people share every description).
    pub fn check_min_k(&self, min_k: usize) -> Result<(), PolicyError> {
        if self.k >= min_k {
            return Ok(());
        }
        Err(PolicyError::new(
            self.k_location,
            "k",
            format!(
                "k = {} is below the required minimum of {min_k} (GB/T 39725-2020 §11.4.2.4); expected k >= {min_k}",
                self.k
            ),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Raw layer: what serde can read without judging it.

type RawValue = Option<Spanned<toml::Value>>;
type RawColumn = BTreeMap<String, Spanned<toml::Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: RawValue,
    k: RawValue,
    quasi_identifiers: RawValue,
    subject_column: RawValue,
    date_shift_max_days: RawValue,
    default_action: RawValue,
    suppression_limit: RawValue,
    sensitive: RawValue,
    project: RawValue,
    recoding: RawValue,
    l_diversity: Option<RawColumn>,
    t_closeness: Option<RawColumn>,
    population_table: RawValue,
    min_area_population: RawValue,
    columns: Option<BTreeMap<String, RawColumn>>,
}

/// Turns a toml/serde error into a located error with a field path. Serde only fails on syntax,
/// unknown top-level keys and tables in the wrong places; the path is recovered by walking the
/// document as an untyped table.
fn serde_error(text: &str, e: &toml::de::Error) -> PolicyError {
    let location = e.span().map(|s| Location::of(text, s.start));
    let message = e.message().trim().replace('\n', "; ");
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(_) => return PolicyError::new(location, "", format!("TOML syntax: {message}")),
    };
    let mut problems = shape_problems(&table);
    if problems.is_empty() {
        return PolicyError::new(location, "", message);
    }
    let more = problems.len() - 1;
    let (path, msg) = problems.swap_remove(0);
    if more == 0 {
        PolicyError::new(location, path, msg)
    } else {
        // Several problems: the reported position might belong to another one, so leave it out.
        PolicyError::new(
            None,
            path,
            format!("{msg} (and {more} more problem(s) of this kind)"),
        )
    }
}

fn holds_table(v: &toml::Value) -> bool {
    match v {
        toml::Value::Table(_) => true,
        toml::Value::Array(items) => items.iter().any(holds_table),
        _ => false,
    }
}

fn shape_problems(table: &toml::Table) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, value) in table {
        if !TOP_LEVEL_KEYS.contains(&key.as_str()) {
            out.push((
                key.clone(),
                format!("unknown key; expected one of {}", TOP_LEVEL_KEYS.join(", ")),
            ));
        } else if key == "columns" {
            let Some(columns) = value.as_table() else {
                out.push((
                    key.clone(),
                    format!(
                        "expected a table of column rules such as `[columns.mobile]` with `action = \"mask\"`, found {}",
                        value.type_str()
                    ),
                ));
                continue;
            };
            for (name, rule) in columns {
                let path = format!("columns.{name}");
                let Some(rule) = rule.as_table() else {
                    out.push((
                        path,
                        format!(
                            "expected a table such as `[columns.{name}]` with an `action`, found {}",
                            rule.type_str()
                        ),
                    ));
                    continue;
                };
                for (opt, v) in rule {
                    if holds_table(v) {
                        out.push((
                            format!("{path}.{opt}"),
                            "expected a string or a number, found a table".to_string(),
                        ));
                    }
                }
            }
        } else if TABLE_KEYS.contains(&key.as_str()) {
            if !value.is_table() {
                out.push((
                    key.clone(),
                    format!(
                        "expected a table such as `[{key}]`, found {}",
                        value.type_str()
                    ),
                ));
            }
        } else if holds_table(value) {
            out.push((
                key.clone(),
                "expected a string, number or list, found a table".to_string(),
            ));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Checked layer.

/// Checks that a criterion has exactly one sensitive column to work on.
type SensitiveCheck<'a> = dyn Fn(&str, &Spanned<toml::Value>) -> Result<(), PolicyError> + 'a;

struct Checker<'a> {
    text: &'a str,
    locations: RefCell<BTreeMap<String, Location>>,
}

fn describe(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

impl Checker<'_> {
    fn loc(&self, span: Range<usize>) -> Option<Location> {
        Some(Location::of(self.text, span.start))
    }

    fn err(&self, v: &Spanned<toml::Value>, path: &str, message: impl Into<String>) -> PolicyError {
        PolicyError::new(self.loc(v.span()), path, message)
    }

    fn string(
        &self,
        v: &Spanned<toml::Value>,
        path: &str,
        expected: &str,
    ) -> Result<String, PolicyError> {
        match v.get_ref() {
            toml::Value::String(s) => Ok(s.clone()),
            other => Err(self.err(
                v,
                path,
                format!("expected {expected}, found {}", describe(other)),
            )),
        }
    }

    fn nonempty_string(
        &self,
        v: &Spanned<toml::Value>,
        path: &str,
        expected: &str,
    ) -> Result<String, PolicyError> {
        let s = self.string(v, path, expected)?;
        if s.trim().is_empty() {
            return Err(self.err(
                v,
                path,
                format!("expected {expected}, found an empty string"),
            ));
        }
        Ok(s)
    }

    fn integer(
        &self,
        v: &Spanned<toml::Value>,
        path: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<i64, PolicyError> {
        let expected = format!("an integer from {} to {}", range.start(), range.end());
        match v.get_ref() {
            toml::Value::Integer(n) if range.contains(n) => Ok(*n),
            toml::Value::Integer(n) => {
                Err(self.err(v, path, format!("expected {expected}, found {n}")))
            }
            other => Err(self.err(
                v,
                path,
                format!("expected {expected}, found {}", describe(other)),
            )),
        }
    }

    fn remember(&self, v: &Spanned<toml::Value>, path: &str) {
        if let Some(l) = self.loc(v.span()) {
            self.locations.borrow_mut().insert(path.to_string(), l);
        }
    }

    /// A finite number (integer or float) within `[lo, hi]`.
    fn number(
        &self,
        v: &Spanned<toml::Value>,
        path: &str,
        lo: f64,
        hi: f64,
        what: &str,
    ) -> Result<f64, PolicyError> {
        let x = match v.get_ref() {
            toml::Value::Float(f) => *f,
            toml::Value::Integer(n) => *n as f64,
            other => {
                return Err(self.err(
                    v,
                    path,
                    format!("expected {what}, found {}", describe(other)),
                ))
            }
        };
        if !x.is_finite() || x < lo || x > hi {
            return Err(self.err(v, path, format!("expected {what}, found {x}")));
        }
        Ok(x)
    }

    /// A `hierarchy = "…"` value: a built-in name or a path to an ARX CSV.
    fn hierarchy(
        &self,
        v: &Spanned<toml::Value>,
        path: &str,
    ) -> Result<HierarchySpec, PolicyError> {
        let builtins = BUILTIN_HIERARCHIES.join(", ");
        let expected = format!(
            "a built-in hierarchy ({builtins}) or a path to an ARX hierarchy CSV ending in .csv"
        );
        let text = self.nonempty_string(v, path, &expected)?;
        self.remember(v, path);
        if let Some(b) = Builtin::from_name(&text) {
            return Ok(HierarchySpec::Builtin(b));
        }
        let lower = text.to_ascii_lowercase();
        if lower.ends_with(".csv") || text.contains('/') || text.contains('\\') {
            return Ok(HierarchySpec::File(text));
        }
        Err(self.err(
            v,
            path,
            format!("unknown hierarchy `{text}`; expected {expected}"),
        ))
    }

    fn age_reference(
        &self,
        column: &str,
        table: &RawColumn,
        action_value: &Spanned<toml::Value>,
        path: &str,
        action_name: &str,
    ) -> Result<AgeReference, PolicyError> {
        let opt_path = |key: &str| format!("{path}.{key}");
        match (table.get("reference_column"), table.get("reference_date")) {
            (Some(c), None) => {
                let r = self.nonempty_string(c, &opt_path("reference_column"), "a column name")?;
                if r == column {
                    return Err(self.err(
                        c,
                        &opt_path("reference_column"),
                        "expected another column (the date at which the age is computed, e.g. the admission date), not the birth date itself",
                    ));
                }
                Ok(AgeReference::Column(r))
            }
            (None, Some(d)) => Ok(AgeReference::Date(self.date(d, &opt_path("reference_date"))?)),
            (Some(c), Some(_)) => Err(self.err(
                c,
                path,
                "expected either `reference_column` or `reference_date`, not both",
            )),
            (None, None) => Err(self.err(
                action_value,
                path,
                format!("{action_name} needs the date at which the age is computed; expected `reference_column = \"admission_time\"` or `reference_date = \"2025-01-01\"`"),
            )),
        }
    }

    fn unknown_keys(
        &self,
        table: &RawColumn,
        key: &str,
        allowed: &[&str],
    ) -> Result<(), PolicyError> {
        for (k, v) in table {
            if !allowed.contains(&k.as_str()) {
                return Err(self.err(
                    v,
                    &format!("{key}.{k}"),
                    format!("unknown option `{k}`; {key} takes {}", allowed.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn table_location(&self, table: &RawColumn) -> Option<Location> {
        table
            .values()
            .map(|v| v.span().start)
            .min()
            .map(|s| Location::of(self.text, s))
    }

    fn l_diversity(
        &self,
        table: &RawColumn,
        one_sensitive: &SensitiveCheck<'_>,
    ) -> Result<LDiversity, PolicyError> {
        self.unknown_keys(table, "l_diversity", &["kind", "l", "c"])?;
        let Some(l_value) = table.get("l") else {
            return Err(PolicyError::new(
                self.table_location(table),
                "l_diversity.l",
                "missing; expected l = 2 or more",
            ));
        };
        one_sensitive("l_diversity", l_value)?;
        let kind = match table.get("kind") {
            Some(v) => self.string(
                v,
                "l_diversity.kind",
                "\"distinct\", \"entropy\" or \"recursive\"",
            )?,
            None => "distinct".to_string(),
        };
        let l = self.number(l_value, "l_diversity.l", 1.0, 1e6, "a number of at least 1")?;
        let whole = |x: f64| -> Result<usize, PolicyError> {
            if x.fract() != 0.0 {
                return Err(self.err(
                    l_value,
                    "l_diversity.l",
                    format!("expected a whole number for {kind} l-diversity, found {x}"),
                ));
            }
            Ok(x as usize)
        };
        match kind.as_str() {
            "distinct" | "recursive" if table.contains_key("c") != (kind == "recursive") => {
                let v = table.get("c").unwrap_or(l_value);
                Err(self.err(
                    v,
                    "l_diversity.c",
                    "`c` is given for, and only for, recursive (c,l)-diversity",
                ))
            }
            "distinct" => Ok(LDiversity::Distinct { l: whole(l)? }),
            "entropy" => {
                if let Some(v) = table.get("c") {
                    return Err(self.err(
                        v,
                        "l_diversity.c",
                        "`c` is given for, and only for, recursive (c,l)-diversity",
                    ));
                }
                Ok(LDiversity::Entropy { l })
            }
            "recursive" => {
                let c = match table.get("c") {
                    Some(v) => self.number(
                        v,
                        "l_diversity.c",
                        f64::MIN_POSITIVE,
                        1e6,
                        "a positive number",
                    )?,
                    None => 1.0,
                };
                Ok(LDiversity::Recursive { c, l: whole(l)? })
            }
            other => {
                let v = table.get("kind").unwrap_or(l_value);
                Err(self.err(v, "l_diversity.kind", format!("unknown kind `{other}`; expected \"distinct\", \"entropy\" or \"recursive\"")))
            }
        }
    }

    fn t_closeness(
        &self,
        table: &RawColumn,
        one_sensitive: &SensitiveCheck<'_>,
    ) -> Result<TCloseness, PolicyError> {
        self.unknown_keys(table, "t_closeness", &["t", "distance", "hierarchy"])?;
        let Some(t_value) = table.get("t") else {
            return Err(PolicyError::new(
                self.table_location(table),
                "t_closeness.t",
                "missing; expected t between 0 and 1, e.g. t = 0.2",
            ));
        };
        one_sensitive("t_closeness", t_value)?;
        let t = self.number(t_value, "t_closeness.t", 0.0, 1.0, "a distance from 0 to 1")?;
        let distance = match table.get("distance") {
            Some(v) => self.string(v, "t_closeness.distance", "\"equal\" or \"hierarchical\"")?,
            None if table.contains_key("hierarchy") => "hierarchical".to_string(),
            None => "equal".to_string(),
        };
        match (distance.as_str(), table.get("hierarchy")) {
            ("equal", None) => Ok(TCloseness { t, hierarchy: None }),
            ("equal", Some(h)) => Err(self.err(
                h,
                "t_closeness.hierarchy",
                "a hierarchy is only used with distance = \"hierarchical\"",
            )),
            ("hierarchical", Some(h)) => Ok(TCloseness {
                t,
                hierarchy: Some(self.hierarchy(h, "t_closeness.hierarchy")?),
            }),
            ("hierarchical", None) => Err(self.err(
                t_value,
                "t_closeness.hierarchy",
                "missing; the hierarchical distance needs the sensitive column's hierarchy",
            )),
            (other, _) => {
                let v = table.get("distance").unwrap_or(t_value);
                Err(self.err(
                    v,
                    "t_closeness.distance",
                    format!("unknown distance `{other}`; expected \"equal\" or \"hierarchical\""),
                ))
            }
        }
    }

    fn single_char(&self, v: &Spanned<toml::Value>, path: &str) -> Result<char, PolicyError> {
        let s = self.string(v, path, "a string of exactly one character")?;
        let mut chars = s.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_control() => Ok(c),
            _ => Err(self.err(
                v,
                path,
                format!(
                    "expected exactly one printable character, found {} characters",
                    s.chars().count()
                ),
            )),
        }
    }

    fn date(&self, v: &Spanned<toml::Value>, path: &str) -> Result<NaiveDate, PolicyError> {
        let expected = "a date `YYYY-MM-DD` (quoted or as a TOML date)";
        let text = match v.get_ref() {
            toml::Value::String(s) => s.clone(),
            toml::Value::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => dt.to_string(),
            other => {
                return Err(self.err(
                    v,
                    path,
                    format!("expected {expected}, found {}", describe(other)),
                ))
            }
        };
        match crate::transform::parse_date_cell(&text) {
            Ok(cell) if cell.rest.is_empty() => Ok(cell.date),
            _ => Err(self.err(v, path, format!("expected {expected}, found `{text}`"))),
        }
    }

    fn string_list(
        &self,
        v: &Spanned<toml::Value>,
        path: &str,
    ) -> Result<Vec<String>, PolicyError> {
        let expected = "a list of column names such as [\"sex\", \"birth_date\"]";
        let toml::Value::Array(items) = v.get_ref() else {
            return Err(self.err(
                v,
                path,
                format!("expected {expected}, found {}", describe(v.get_ref())),
            ));
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                toml::Value::String(s) if !s.trim().is_empty() => out.push(s.clone()),
                toml::Value::String(_) => {
                    return Err(self.err(
                        v,
                        &format!("{path}[{i}]"),
                        "expected a column name, found an empty string",
                    ))
                }
                other => {
                    return Err(self.err(
                        v,
                        &format!("{path}[{i}]"),
                        format!("expected a column name (string), found {}", describe(other)),
                    ))
                }
            }
        }
        Ok(out)
    }

    fn policy(&self, raw: RawPolicy) -> Result<DeidPolicy, PolicyError> {
        let name = match &raw.name {
            Some(v) => {
                let s = self.nonempty_string(v, "name", "a non-empty policy name")?;
                if s.chars().count() > MAX_NAME_CHARS || s.chars().any(char::is_control) {
                    return Err(self.err(
                        v,
                        "name",
                        format!("expected at most {MAX_NAME_CHARS} characters without control characters"),
                    ));
                }
                s
            }
            None => {
                return Err(PolicyError::new(
                    None,
                    "name",
                    "missing; expected a policy name such as name = \"settlement-research\"",
                ))
            }
        };

        let (k, k_location) = match &raw.k {
            Some(v) => {
                let n = self.integer(v, "k", POLICY_MIN_K as i64..=i64::from(u32::MAX))?;
                (usize::try_from(n).unwrap_or(usize::MAX), self.loc(v.span()))
            }
            None => (DEFAULT_K, None),
        };

        let (quasi_identifiers, qi_span) = match &raw.quasi_identifiers {
            Some(v) => (self.string_list(v, "quasi_identifiers")?, v.span()),
            None => {
                return Err(PolicyError::new(
                    None,
                    "quasi_identifiers",
                    "missing; expected the output columns the k-anonymity check groups by, e.g. quasi_identifiers = [\"sex\", \"birth_date\"]",
                ))
            }
        };
        if quasi_identifiers.is_empty() {
            return Err(PolicyError::new(
                self.loc(qi_span),
                "quasi_identifiers",
                "expected at least one column; without quasi-identifiers the k-anonymity check (GB/T 39725-2020 §11.4.2.4) means nothing",
            ));
        }
        let mut seen = HashSet::new();
        for q in &quasi_identifiers {
            if !seen.insert(q.as_str()) {
                return Err(PolicyError::new(
                    self.loc(qi_span.clone()),
                    "quasi_identifiers",
                    format!("column `{q}` is listed twice; expected each column once"),
                ));
            }
        }

        let subject_column = match &raw.subject_column {
            Some(v) => Some(self.nonempty_string(v, "subject_column", "a column name")?),
            None => None,
        };

        let date_shift_max_days = match &raw.date_shift_max_days {
            Some(v) => {
                let n =
                    self.integer(v, "date_shift_max_days", 1..=i64::from(MAX_DATE_SHIFT_DAYS))?;
                u32::try_from(n).ok().and_then(NonZeroU32::new)
            }
            None => NonZeroU32::new(DEFAULT_DATE_SHIFT_MAX_DAYS),
        }
        .ok_or_else(|| {
            PolicyError::new(
                None,
                "date_shift_max_days",
                "expected a positive number of days",
            )
        })?;

        let default = match &raw.default_action {
            Some(v) => match self
                .string(v, "default_action", "\"drop\" or \"keep\"")?
                .as_str()
            {
                "drop" => Action::Drop,
                "keep" => Action::Keep,
                other => {
                    return Err(self.err(
                        v,
                        "default_action",
                        format!("unknown default action `{other}`; expected \"drop\" or \"keep\""),
                    ))
                }
            },
            None => Action::Drop,
        };

        let population_table = match &raw.population_table {
            Some(v) => Some(self.nonempty_string(
                v,
                "population_table",
                "a path to a CSV file of `code,population` rows",
            )?),
            None => None,
        };
        let min_area_population = match &raw.min_area_population {
            Some(v) => {
                let n = self.integer(v, "min_area_population", 1..=2_000_000_000)?;
                u64::try_from(n).unwrap_or(crate::population::DEFAULT_MIN_AREA_POPULATION)
            }
            None => crate::population::DEFAULT_MIN_AREA_POPULATION,
        };

        let mut rules: Vec<(usize, ColumnRule, Range<usize>)> = Vec::new();
        for (column, table) in raw.columns.unwrap_or_default() {
            let (rule, span) = self.column(
                &column,
                table,
                subject_column.is_some(),
                k,
                population_table.is_some(),
            )?;
            rules.push((span.start, rule, span));
        }
        rules.sort_by_key(|(start, _, _)| *start);

        for (_, r, span) in &rules {
            if r.min_count.is_some() && quasi_identifiers.contains(&r.column) {
                return Err(PolicyError::new(
                    self.loc(span.clone()),
                    format!("columns.{}.min_count", r.column),
                    format!(
                        "`{}` is a quasi-identifier, whose classes k already keeps at or above k records; expected min_count on other released columns only",
                        r.column
                    ),
                ));
            }
        }

        for q in &quasi_identifiers {
            match rules.iter().find(|(_, r, _)| &r.column == q) {
                Some((_, r, span)) if r.action.drops() => {
                    return Err(PolicyError::new(
                        self.loc(span.clone()),
                        format!("columns.{q}.action"),
                        format!(
                            "quasi-identifier `{q}` is dropped, but k-anonymity is checked on output columns; expected an action that keeps or generalises it (keep, age_band, year, truncate, …) or its removal from quasi_identifiers"
                        ),
                    ))
                }
                None if default.drops() => {
                    return Err(PolicyError::new(
                        self.loc(qi_span.clone()),
                        "quasi_identifiers",
                        format!(
                            "quasi-identifier `{q}` has no [columns.{q}] rule and default_action is \"drop\", so it would not be in the output; expected a rule that keeps or generalises it"
                        ),
                    ))
                }
                _ => {}
            }
        }

        let suppression_limit = match &raw.suppression_limit {
            Some(v) => self.number(
                v,
                "suppression_limit",
                0.0,
                1.0,
                "a share of records from 0 to 1, e.g. 0.05 for 5%",
            )?,
            None => 0.0,
        };
        let project = match &raw.project {
            Some(v) => {
                let p = self.nonempty_string(v, "project", "a project name")?;
                if p.chars().count() > MAX_NAME_CHARS || p.chars().any(char::is_control) {
                    return Err(self.err(
                        v,
                        "project",
                        format!("expected at most {MAX_NAME_CHARS} characters without control characters"),
                    ));
                }
                Some(p)
            }
            None => None,
        };
        let recoding = match &raw.recoding {
            Some(v) => match self
                .string(v, "recoding", "\"global\" or \"local\"")?
                .as_str()
            {
                "global" => RecodingModel::Global,
                "local" => RecodingModel::Local,
                other => {
                    return Err(self.err(
                        v,
                        "recoding",
                        format!("unknown recoding `{other}`; expected \"global\" or \"local\""),
                    ))
                }
            },
            None => RecodingModel::Global,
        };
        let (sensitive, sensitive_span) = match &raw.sensitive {
            Some(v) => (self.string_list(v, "sensitive")?, Some(v.span())),
            None => (Vec::new(), None),
        };
        for (i, c) in sensitive.iter().enumerate() {
            let at = sensitive_span.clone().and_then(|s| self.loc(s));
            if quasi_identifiers.contains(c) {
                return Err(PolicyError::new(
                    at,
                    format!("sensitive[{i}]"),
                    format!("column `{c}` is also a quasi-identifier; expected a column that is either sensitive (its values are protected by l-diversity / t-closeness) or quasi-identifying, not both"),
                ));
            }
            if sensitive[..i].contains(c) {
                return Err(PolicyError::new(
                    at,
                    "sensitive",
                    format!("column `{c}` is listed twice; expected each column once"),
                ));
            }
            let dropped = match rules.iter().find(|(_, r, _)| &r.column == c) {
                Some((_, r, _)) => r.action.drops(),
                None => default.drops(),
            };
            if dropped {
                return Err(PolicyError::new(
                    at,
                    format!("sensitive[{i}]"),
                    format!("sensitive column `{c}` is not in the output (dropped or no rule with default_action \"drop\"); expected a rule that keeps it"),
                ));
            }
        }
        let one_sensitive = |key: &str, v: &Spanned<toml::Value>| -> Result<(), PolicyError> {
            if sensitive.len() == 1 {
                Ok(())
            } else {
                Err(self.err(
                    v,
                    key,
                    format!("{key} is checked on one sensitive column; expected `sensitive = [\"…\"]` naming exactly one column, found {}", sensitive.len()),
                ))
            }
        };
        let l_diversity = match &raw.l_diversity {
            Some(t) => Some(self.l_diversity(t, &one_sensitive)?),
            None => None,
        };
        let t_closeness = match &raw.t_closeness {
            Some(t) => Some(self.t_closeness(t, &one_sensitive)?),
            None => None,
        };
        for (_, r, span) in &rules {
            if let Action::Microaggregate { group_by, .. } = &r.action {
                for (i, c) in group_by.iter().enumerate() {
                    let aggregated = rules.iter().any(|(_, o, _)| {
                        &o.column == c && matches!(o.action, Action::Microaggregate { .. })
                    });
                    if aggregated {
                        let path = format!("columns.{}.group_by", r.column);
                        return Err(PolicyError::new(
                            self.locations.borrow().get(&path).copied().or(self.loc(span.clone())),
                            format!("{path}[{i}]"),
                            format!("column `{c}` is itself microaggregated, so its output is not known while the groups are formed; expected a quasi-identifier with a record-level action"),
                        ));
                    }
                    if !quasi_identifiers.contains(c) {
                        let path = format!("columns.{}.group_by", r.column);
                        return Err(PolicyError::new(
                            self.locations.borrow().get(&path).copied().or(self.loc(span.clone())),
                            format!("{path}[{i}]"),
                            format!("column `{c}` is not a quasi-identifier; expected columns listed in quasi_identifiers (groups follow their output values)"),
                        ));
                    }
                }
            }
            if let Action::Generalize { level: None, .. } = r.action {
                if !quasi_identifiers.contains(&r.column) {
                    return Err(PolicyError::new(
                        self.loc(span.clone()),
                        format!("columns.{}.level", r.column),
                        format!("generalize column `{}` has no `level` and is not a quasi-identifier, so nothing would choose its level; expected `level = N` or the column in quasi_identifiers", r.column),
                    ));
                }
            }
        }

        let mut sha = Sha256::new();
        sha.update(self.text.as_bytes());
        Ok(DeidPolicy {
            suppression_limit,
            sensitive,
            project,
            recoding,
            l_diversity,
            t_closeness,
            locations: self.locations.borrow().clone(),
            name,
            sha256: hex::encode(sha.finalize()),
            k,
            k_location,
            quasi_identifiers,
            subject_column,
            date_shift_max_days,
            default,
            columns: rules.into_iter().map(|(_, r, _)| r).collect(),
            population_table,
            min_area_population,
        })
    }

    /// Checks one `[columns.NAME]` table; returns the rule and the span of its `action`.
    fn column(
        &self,
        column: &str,
        mut table: RawColumn,
        has_subject: bool,
        k: usize,
        has_population_table: bool,
    ) -> Result<(ColumnRule, Range<usize>), PolicyError> {
        let path = format!("columns.{column}");
        let valid = ACTION_NAMES.join(", ");
        let first_location = table
            .values()
            .map(|v| v.span().start)
            .min()
            .map(|s| Location::of(self.text, s));
        if column.trim().is_empty() {
            return Err(PolicyError::new(
                first_location,
                "columns",
                "expected a non-empty column name",
            ));
        }
        let Some(action_value) = table.remove("action") else {
            return Err(PolicyError::new(
                first_location,
                path,
                format!("missing `action`; expected one of {valid}"),
            ));
        };
        let action_path = format!("{path}.action");
        let action_name = self.string(&action_value, &action_path, &format!("one of {valid}"))?;
        // `min_count` applies to actions that release a value as it is or generalised.
        let min_count = match table.remove("min_count") {
            Some(v) => {
                const COUNTED: &[&str] = &[
                    "keep",
                    "generalize",
                    "truncate",
                    "year",
                    "age_band",
                    "to_age",
                    "top_bottom_code",
                ];
                if !COUNTED.contains(&action_name.as_str()) {
                    return Err(self.err(
                        &v,
                        &format!("{path}.min_count"),
                        format!(
                            "min_count applies to released values ({}); action `{action_name}` releases none to count",
                            COUNTED.join(", ")
                        ),
                    ));
                }
                self.remember(&v, &format!("{path}.min_count"));
                let n = self.integer(&v, &format!("{path}.min_count"), 2..=1_000_000)?;
                Some(usize::try_from(n).unwrap_or(2))
            }
            None => None,
        };
        let allowed: &[&str] = match action_name.as_str() {
            "drop" | "blank" | "null" | "keep" | "date_shift" | "year" => &[],
            "pseudonymize" => &["prefix", "format"],
            "mask" => &["keep_first", "keep_last", "mask_char"],
            "age_band" | "to_age" => &["reference_column", "reference_date"],
            "truncate" => &["length", "pad"],
            "generalize" => &["hierarchy", "level"],
            "top_bottom_code" => &["bottom", "top"],
            "to_duration" => &["end_column"],
            "noise" => &["scale", "distribution", "decimals"],
            "redact_spans" => &["types"],
            "microaggregate" => &["group_size", "group_by", "aggregate", "decimals"],
            other => {
                return Err(self.err(
                    &action_value,
                    &action_path,
                    format!("unknown action `{other}`; expected one of {valid}"),
                ))
            }
        };
        for (key, v) in &table {
            if !allowed.contains(&key.as_str()) {
                let takes = if allowed.is_empty() {
                    "it takes no options".to_string()
                } else {
                    format!("it takes {}", allowed.join(", "))
                };
                return Err(self.err(
                    v,
                    &format!("{path}.{key}"),
                    format!("unknown option `{key}` for action `{action_name}`; {takes}"),
                ));
            }
        }
        let opt_path = |key: &str| format!("{path}.{key}");
        let action = match action_name.as_str() {
            "drop" => Action::Drop,
            "blank" | "null" => Action::Blank,
            "keep" => Action::Keep,
            "to_age" => Action::ToAge {
                reference: self.age_reference(column, &table, &action_value, &path, "to_age")?,
            },
            "to_duration" => {
                let Some(v) = table.get("end_column") else {
                    return Err(self.err(
                        &action_value,
                        &path,
                        "to_duration needs `end_column`; expected the column holding the end date, e.g. end_column = \"discharge_time\"",
                    ));
                };
                let end_column =
                    self.nonempty_string(v, &opt_path("end_column"), "a column name")?;
                if end_column == column {
                    return Err(self.err(
                        v,
                        &opt_path("end_column"),
                        "expected another column than the start date itself",
                    ));
                }
                Action::ToDuration { end_column }
            }
            "generalize" => {
                let Some(h) = table.get("hierarchy") else {
                    return Err(self.err(
                        &action_value,
                        &path,
                        format!("generalize needs `hierarchy`; expected a built-in ({}) or a path to an ARX hierarchy CSV", BUILTIN_HIERARCHIES.join(", ")),
                    ));
                };
                let hierarchy = self.hierarchy(h, &opt_path("hierarchy"))?;
                let level = match table.get("level") {
                    Some(v) => {
                        self.remember(v, &opt_path("level"));
                        let n = self.integer(v, &opt_path("level"), 0..=64)?;
                        let n = usize::try_from(n).unwrap_or_default();
                        if let HierarchySpec::Builtin(b) = &hierarchy {
                            let finest = b.finest_level_without_population_table();
                            if n < finest && !has_population_table {
                                return Err(self.err(
                                    v,
                                    &opt_path("level"),
                                    format!(
                                        "level {n} of `{}` keeps areas smaller than a prefecture; GB/T 39725-2020 §10.2 c) 1) keeps an area only if it covers at least 20,000 people, and without a population table the finest level allowed is {finest}; expected level >= {finest}, or a `population_table` that shows which areas cover 20,000 people",
                                        b.name()
                                    ),
                                ));
                            }
                            if let Some(height) = b.height() {
                                if n >= height {
                                    return Err(self.err(
                                        v,
                                        &opt_path("level"),
                                        format!(
                                            "hierarchy `{}` has levels 0 to {}; found {n}",
                                            b.name(),
                                            height - 1
                                        ),
                                    ));
                                }
                            }
                        }
                        Some(n)
                    }
                    None => None,
                };
                Action::Generalize { hierarchy, level }
            }
            "top_bottom_code" => {
                let bottom = match table.get("bottom") {
                    Some(v) => {
                        Some(self.number(v, &opt_path("bottom"), f64::MIN, f64::MAX, "a number")?)
                    }
                    None => None,
                };
                let top = match table.get("top") {
                    Some(v) => {
                        Some(self.number(v, &opt_path("top"), f64::MIN, f64::MAX, "a number")?)
                    }
                    None => None,
                };
                match (bottom, top) {
                    (None, None) => {
                        return Err(self.err(
                            &action_value,
                            &path,
                            "top_bottom_code needs `top`, `bottom` or both; expected e.g. top = 89",
                        ))
                    }
                    (Some(b), Some(t)) if b > t => {
                        let v = table.get("bottom").unwrap_or(&action_value);
                        return Err(self.err(
                            v,
                            &opt_path("bottom"),
                            format!("expected bottom <= top, found bottom {b} > top {t}"),
                        ));
                    }
                    _ => {}
                }
                Action::TopBottomCode { bottom, top }
            }
            "noise" => {
                let Some(v) = table.get("scale") else {
                    return Err(self.err(
                        &action_value,
                        &path,
                        "noise needs `scale`; expected a positive number (Laplace b, or the uniform half-width)",
                    ));
                };
                let scale = self.number(
                    v,
                    &opt_path("scale"),
                    f64::MIN_POSITIVE,
                    1e15,
                    "a positive number",
                )?;
                let kind = match table.get("distribution") {
                    Some(d) => match self.string(d, &opt_path("distribution"), "\"laplace\" or \"uniform\"")?.as_str() {
                        "laplace" => NoiseKind::Laplace,
                        "uniform" => NoiseKind::Uniform,
                        other => {
                            return Err(self.err(d, &opt_path("distribution"), format!("unknown distribution `{other}`; expected \"laplace\" or \"uniform\"")))
                        }
                    },
                    None => NoiseKind::Laplace,
                };
                let decimals = match table.get("decimals") {
                    Some(d) => u32::try_from(self.integer(d, &opt_path("decimals"), 0..=9)?)
                        .unwrap_or_default(),
                    None => 0,
                };
                Action::Noise {
                    kind,
                    scale,
                    decimals,
                }
            }
            "microaggregate" => {
                let group_size = match table.get("group_size") {
                    Some(v) => usize::try_from(self.integer(
                        v,
                        &opt_path("group_size"),
                        POLICY_MIN_K as i64..=MAX_GROUP_SIZE,
                    )?)
                    .unwrap_or(POLICY_MIN_K),
                    None => k.max(POLICY_MIN_K),
                };
                let group_by = match table.get("group_by") {
                    Some(v) => {
                        self.remember(v, &opt_path("group_by"));
                        let list = self.string_list(v, &opt_path("group_by"))?;
                        for (i, c) in list.iter().enumerate() {
                            if c == column {
                                return Err(self.err(
                                    v,
                                    &format!("{}[{i}]", opt_path("group_by")),
                                    "expected quasi-identifier columns other than the aggregated column itself",
                                ));
                            }
                            if list[..i].contains(c) {
                                return Err(self.err(
                                    v,
                                    &format!("{}[{i}]", opt_path("group_by")),
                                    format!(
                                        "column `{c}` is listed twice; expected each column once"
                                    ),
                                ));
                            }
                        }
                        list
                    }
                    None => Vec::new(),
                };
                let statistic = match table.get("aggregate") {
                    Some(a) => match self
                        .string(a, &opt_path("aggregate"), "\"mean\" or \"median\"")?
                        .as_str()
                    {
                        "mean" => GroupStatistic::Mean,
                        "median" => GroupStatistic::Median,
                        other => {
                            return Err(self.err(
                                a,
                                &opt_path("aggregate"),
                                format!(
                                    "unknown aggregate `{other}`; expected \"mean\" or \"median\""
                                ),
                            ))
                        }
                    },
                    None => GroupStatistic::Mean,
                };
                let decimals = match table.get("decimals") {
                    Some(d) => u32::try_from(self.integer(d, &opt_path("decimals"), 0..=9)?)
                        .unwrap_or_default(),
                    None => 2,
                };
                Action::Microaggregate {
                    group_size,
                    group_by,
                    statistic,
                    decimals,
                }
            }
            "redact_spans" => {
                let kinds = match table.get("types") {
                    Some(v) => {
                        let names: Vec<&str> = SpanKind::ALL.iter().map(SpanKind::name).collect();
                        let list = self.string_list(v, &opt_path("types"))?;
                        let mut kinds = Vec::new();
                        for (i, t) in list.iter().enumerate() {
                            let Some(k) = SpanKind::ALL.iter().find(|k| k.name() == t) else {
                                return Err(self.err(
                                    v,
                                    &format!("{}[{i}]", opt_path("types")),
                                    format!(
                                        "unknown span type `{t}`; expected one of {}",
                                        names.join(", ")
                                    ),
                                ));
                            };
                            if !kinds.contains(k) {
                                kinds.push(*k);
                            }
                        }
                        if kinds.is_empty() {
                            return Err(self.err(
                                v,
                                &opt_path("types"),
                                format!("expected at least one of {}", names.join(", ")),
                            ));
                        }
                        kinds
                    }
                    None => SpanKind::ALL.to_vec(),
                };
                Action::RedactSpans { kinds }
            }
            "year" => Action::Year,
            "date_shift" => {
                if !has_subject {
                    return Err(self.err(
                        &action_value,
                        &action_path,
                        "date_shift needs a top-level `subject_column` (the column identifying the person) so each subject gets one offset; expected subject_column = \"…\"",
                    ));
                }
                Action::DateShift
            }
            "pseudonymize" => {
                let prefix = match table.get("prefix") {
                    Some(v) => {
                        let p = self.string(v, &opt_path("prefix"), "a string")?;
                        if p.chars().count() > MAX_PREFIX_CHARS || p.chars().any(char::is_control) {
                            return Err(self.err(
                                v,
                                &opt_path("prefix"),
                                format!("expected at most {MAX_PREFIX_CHARS} characters without control characters"),
                            ));
                        }
                        p
                    }
                    None => String::new(),
                };
                let format_preserving =
                    match table.get("format") {
                        None => false,
                        Some(v) => match self
                            .string(v, &opt_path("format"), "\"hex\" or \"ff1\"")?
                            .as_str()
                        {
                            "hex" => false,
                            "ff1" => true,
                            _ => return Err(self.err(
                                v,
                                &opt_path("format"),
                                "expected \"hex\" (HMAC pseudonym) or \"ff1\" (format-preserving)",
                            )),
                        },
                    };
                if format_preserving && !prefix.is_empty() {
                    return Err(self.err(
                        &action_value,
                        &opt_path("prefix"),
                        "a format-preserving (ff1) pseudonym keeps the value's format; expected no prefix",
                    ));
                }
                Action::Pseudonymize {
                    prefix,
                    format_preserving,
                }
            }
            "mask" => {
                let mut spec = MaskSpec::default();
                if let Some(v) = table.get("keep_first") {
                    spec.keep_first = usize::try_from(self.integer(
                        v,
                        &opt_path("keep_first"),
                        0..=MAX_KEEP_CHARS,
                    )?)
                    .unwrap_or_default();
                }
                if let Some(v) = table.get("keep_last") {
                    spec.keep_last = usize::try_from(self.integer(
                        v,
                        &opt_path("keep_last"),
                        0..=MAX_KEEP_CHARS,
                    )?)
                    .unwrap_or_default();
                }
                if let Some(v) = table.get("mask_char") {
                    spec.mask_char = self.single_char(v, &opt_path("mask_char"))?;
                }
                Action::Mask(spec)
            }
            "age_band" => {
                let reference =
                    self.age_reference(column, &table, &action_value, &path, "age_band")?;
                Action::AgeBand { reference }
            }
            "truncate" => {
                let Some(v) = table.get("length") else {
                    return Err(self.err(
                        &action_value,
                        &path,
                        "truncate needs `length`; expected the number of characters to keep, e.g. length = 4",
                    ));
                };
                let length =
                    usize::try_from(self.integer(v, &opt_path("length"), 1..=MAX_KEEP_CHARS)?)
                        .unwrap_or_default();
                let pad = match table.get("pad") {
                    Some(p) => Some(self.single_char(p, &opt_path("pad"))?),
                    None => None,
                };
                Action::Truncate { length, pad }
            }
            other => {
                return Err(self.err(
                    &action_value,
                    &action_path,
                    format!("unknown action `{other}`; expected one of {valid}"),
                ))
            }
        };
        Ok((
            ColumnRule {
                column: column.to_string(),
                action,
                min_count,
            },
            action_value.span(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) const FULL: &str = r#"name = "settlement-research"
k = 5
quasi_identifiers = ["sex", "birth_date", "county_code"]
subject_column = "id_number"
date_shift_max_days = 30
default_action = "drop"

[columns.person_name]
action = "drop"
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
[columns.discharge_time]
action = "date_shift"
[columns.visit_date]
action = "year"
[columns.county_code]
action = "truncate"
length = 4
pad = "0"
[columns.diagnosis_code]
action = "keep"
[columns.sex]
action = "keep"
"#;

    fn err(text: &str) -> PolicyError {
        DeidPolicy::parse(text).unwrap_err()
    }

    #[test]
    fn parses_the_full_example() {
        let p = DeidPolicy::parse(FULL).unwrap();
        assert_eq!(p.name(), "settlement-research");
        assert_eq!(p.k(), 5);
        assert_eq!(p.quasi_identifiers(), ["sex", "birth_date", "county_code"]);
        assert_eq!(p.subject_column(), Some("id_number"));
        assert_eq!(p.date_shift_max_days().get(), 30);
        assert_eq!(p.default_action(), DefaultAction::Drop);
        let order: Vec<&str> = p.columns().iter().map(|r| r.column.as_str()).collect();
        assert_eq!(order.first(), Some(&"person_name"), "file order kept");
        assert_eq!(order.last(), Some(&"sex"));
        assert_eq!(
            p.action_for("id_number"),
            &Action::Pseudonymize {
                prefix: "PID-".into(),
                format_preserving: false,
            }
        );
        assert_eq!(
            p.action_for("mobile"),
            &Action::Mask(MaskSpec {
                keep_first: 3,
                keep_last: 4,
                mask_char: '*'
            })
        );
        assert_eq!(
            p.action_for("birth_date"),
            &Action::AgeBand {
                reference: AgeReference::Column("admission_time".into())
            }
        );
        assert_eq!(
            p.action_for("county_code"),
            &Action::Truncate {
                length: 4,
                pad: Some('0')
            }
        );
        assert_eq!(p.action_for("visit_date"), &Action::Year);
        assert_eq!(p.action_for("not_listed"), &Action::Drop);
        // The hash is of the text as given.
        assert_eq!(p.sha256_hex(), hex::encode(Sha256::digest(FULL.as_bytes())));
        assert_ne!(
            p.sha256_hex(),
            DeidPolicy::parse(&format!("{FULL}\n"))
                .unwrap()
                .sha256_hex()
        );
    }

    #[test]
    fn defaults() {
        let p = DeidPolicy::parse(
            "name = \"x\"\nquasi_identifiers = [\"sex\"]\ndefault_action = \"keep\"\n",
        )
        .unwrap();
        assert_eq!(p.k(), DEFAULT_K);
        assert_eq!(p.date_shift_max_days().get(), DEFAULT_DATE_SHIFT_MAX_DAYS);
        assert_eq!(p.default_action(), DefaultAction::Keep);
        assert_eq!(p.action_for("anything"), &Action::Keep);
        let p = DeidPolicy::parse(
            "name = \"x\"\nquasi_identifiers = [\"b\"]\n[columns.b]\naction = \"age_band\"\nreference_date = 2025-01-01\n[columns.m]\naction = \"mask\"\n",
        )
        .unwrap();
        assert_eq!(p.default_action(), DefaultAction::Drop);
        assert_eq!(
            p.action_for("b"),
            &Action::AgeBand {
                reference: AgeReference::Date(NaiveDate::from_ymd_opt(2025, 1, 1).unwrap())
            }
        );
        assert_eq!(p.action_for("m"), &Action::Mask(MaskSpec::default()));
    }

    #[test]
    fn k_below_two_is_refused_and_min_k_is_checkable() {
        let e = err(
            "name = \"x\"\nquasi_identifiers = [\"s\"]\nk = 1\n[columns.s]\naction = \"keep\"\n",
        );
        assert_eq!(e.line(), Some(3));
        assert_eq!(e.path(), "k");
        assert!(e.message().contains("from 2"), "{e}");
        let p = DeidPolicy::parse(
            "name = \"x\"\nquasi_identifiers = [\"s\"]\nk = 3\n[columns.s]\naction = \"keep\"\n",
        )
        .unwrap();
        let e = p.check_min_k(NODE_MIN_K).unwrap_err();
        assert_eq!(e.line(), Some(3));
        assert!(
            e.to_string().contains("below the required minimum of 5"),
            "{e}"
        );
        p.check_min_k(3).unwrap();
        DeidPolicy::parse(FULL)
            .unwrap()
            .check_min_k(NODE_MIN_K)
            .unwrap();
    }

    #[test]
    fn unknown_action_lists_the_valid_ones() {
        let text = FULL.replace("action = \"year\"", "action = \"yeer\"");
        let e = err(&text);
        assert_eq!(e.path(), "columns.visit_date.action");
        let line = text.lines().position(|l| l.contains("yeer")).unwrap() + 1;
        assert_eq!(e.line(), Some(line));
        assert_eq!(e.location().unwrap().column, 10);
        for a in ACTION_NAMES {
            assert!(e.message().contains(a), "{a} missing from {e}");
        }
        assert!(
            e.to_string().starts_with(&format!(
                "line {line}, column 10: `columns.visit_date.action`"
            )),
            "{e}"
        );
    }

    #[test]
    fn type_errors_are_located() {
        let text = FULL.replace("keep_first = 3", "keep_first = \"3\"");
        let e = err(&text);
        assert_eq!(e.path(), "columns.mobile.keep_first");
        assert_eq!(e.line(), Some(15));
        assert!(
            e.message().contains("expected an integer") && e.message().contains("found a string"),
            "{e}"
        );

        let e = err(&FULL.replace("pad = \"0\"", "pad = \"00\""));
        assert_eq!(e.path(), "columns.county_code.pad");
        assert!(e.message().contains("exactly one"), "{e}");

        let e = err(&FULL.replace("length = 4", "length = 0"));
        assert_eq!(e.path(), "columns.county_code.length");

        let e = err(&FULL.replace("date_shift_max_days = 30", "date_shift_max_days = 0"));
        assert_eq!((e.path(), e.line()), ("date_shift_max_days", Some(5)));

        let e = err(&FULL.replace("default_action = \"drop\"", "default_action = \"delete\""));
        assert_eq!((e.path(), e.line()), ("default_action", Some(6)));
        assert!(e.message().contains("\"drop\" or \"keep\""));

        let e = err(&FULL.replace("[\"sex\", \"birth_date\", \"county_code\"]", "[\"sex\", 3]"));
        assert_eq!((e.path(), e.line()), ("quasi_identifiers[1]", Some(3)));
    }

    #[test]
    fn microaggregate_parameters_are_checked_at_load() {
        let base = "name = \"p\"\nk = 4\nquasi_identifiers = [\"sex\"]\n[columns.sex]\naction = \"keep\"\n[columns.fee]\naction = \"microaggregate\"\n";
        let p = DeidPolicy::parse(base).unwrap();
        assert_eq!(
            p.action_for("fee"),
            &Action::Microaggregate {
                group_size: 4,
                group_by: Vec::new(),
                statistic: GroupStatistic::Mean,
                decimals: 2
            }
        );
        let p = DeidPolicy::parse(&format!(
            "{base}group_size = 3\naggregate = \"median\"\ndecimals = 0\ngroup_by = [\"sex\"]\n"
        ))
        .unwrap();
        assert_eq!(
            p.action_for("fee"),
            &Action::Microaggregate {
                group_size: 3,
                group_by: vec!["sex".to_string()],
                statistic: GroupStatistic::Median,
                decimals: 0
            }
        );
        for (extra, path, reason) in [
            (
                "group_size = 1",
                "columns.fee.group_size",
                "expected an integer from 2 to 1000000, found 1",
            ),
            (
                "group_size = \"5\"",
                "columns.fee.group_size",
                "found a string",
            ),
            (
                "aggregate = \"mode\"",
                "columns.fee.aggregate",
                "unknown aggregate `mode`; expected \"mean\" or \"median\"",
            ),
            (
                "decimals = 10",
                "columns.fee.decimals",
                "expected an integer from 0 to 9, found 10",
            ),
            (
                "group_by = [\"age\"]",
                "columns.fee.group_by[0]",
                "column `age` is not a quasi-identifier",
            ),
            (
                "group_by = [\"fee\"]",
                "columns.fee.group_by[0]",
                "other than the aggregated column itself",
            ),
            (
                "group_by = [\"sex\", \"sex\"]",
                "columns.fee.group_by[1]",
                "listed twice",
            ),
            (
                "groups = 3",
                "columns.fee.groups",
                "it takes group_size, group_by, aggregate, decimals",
            ),
        ] {
            let e = err(&format!("{base}{extra}\n"));
            assert_eq!(e.path(), path, "{extra}: {e}");
            assert!(e.message().contains(reason), "{extra}: {e}");
            assert_eq!(e.line(), Some(8), "{extra}: {e}");
        }
        let nested = "name = \"p\"\nquasi_identifiers = [\"age\"]\n[columns.age]\naction = \"microaggregate\"\n[columns.fee]\naction = \"microaggregate\"\ngroup_by = [\"age\"]\n";
        let e = err(nested);
        assert_eq!(e.path(), "columns.fee.group_by[0]");
        assert!(e.message().contains("itself microaggregated"), "{e}");
        // Without k, the default k (5) is the group size.
        let p = DeidPolicy::parse(&base.replace("k = 4\n", "")).unwrap();
        assert!(matches!(
            p.action_for("fee"),
            Action::Microaggregate { group_size: 5, .. }
        ));
    }

    #[test]
    fn options_that_do_not_belong_to_the_action() {
        let text = FULL.replace("action = \"year\"", "action = \"year\"\nlength = 2");
        let e = err(&text);
        assert_eq!(e.path(), "columns.visit_date.length");
        assert!(e.message().contains("takes no options"), "{e}");
        let e = err(&FULL.replace("keep_last = 4", "keep_lsat = 4"));
        assert_eq!(e.path(), "columns.mobile.keep_lsat");
        assert_eq!(e.line(), Some(16));
        assert!(
            e.message().contains("keep_first, keep_last, mask_char"),
            "{e}"
        );
    }

    #[test]
    fn missing_and_unknown_top_level_keys() {
        let e = err("k = 5\nquasi_identifiers = [\"a\"]\n");
        assert_eq!(e.path(), "name");
        assert!(e.message().starts_with("missing"));
        let e =
            err("name = \"x\"\nquasi_identifiers = [\"a\"]\ndefault_action = \"keep\"\nkk = 5\n");
        assert_eq!((e.path(), e.line()), ("kk", Some(4)));
        assert!(e.message().contains("expected one of name, k,"), "{e}");
        let e = err("name = \"x\"\n");
        assert_eq!(e.path(), "quasi_identifiers");
        let e = err("name = \"x\"\nquasi_identifiers = []\n");
        assert_eq!((e.path(), e.line()), ("quasi_identifiers", Some(2)));
        let e =
            err("name = \"x\"\nquasi_identifiers = [\"a\", \"a\"]\ndefault_action = \"keep\"\n");
        assert!(e.message().contains("listed twice"), "{e}");
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let e = err("name = \"x\"\nk = \n");
        assert_eq!(e.line(), Some(2));
        assert_eq!(e.location().unwrap().column, 5);
        assert!(e.message().starts_with("TOML syntax"), "{e}");
        let e = err("name = \"x\"\n[columns.a\naction = \"keep\"\n");
        assert_eq!(e.line(), Some(2));
    }

    #[test]
    fn misplaced_tables_get_a_path() {
        let e = err("name = \"x\"\nquasi_identifiers = [\"a\"]\ncolumns = 3\n");
        assert_eq!((e.path(), e.line()), ("columns", Some(3)));
        let e = err("name = \"x\"\nquasi_identifiers = [\"a\"]\n[columns]\nmobile = \"mask\"\n");
        assert_eq!((e.path(), e.line()), ("columns.mobile", Some(4)));
        let e = err("name = \"x\"\nquasi_identifiers = [\"a\"]\n[columns.a]\naction = \"keep\"\n[columns.a.sub]\nx = 1\n");
        assert_eq!((e.path(), e.line()), ("columns.a.sub", Some(5)));
    }

    #[test]
    fn column_rule_requirements() {
        let e = err("name = \"x\"\nquasi_identifiers = [\"a\"]\n[columns.a]\nkeep_first = 2\n");
        assert_eq!((e.path(), e.line()), ("columns.a", Some(4)));
        assert!(e.message().contains("missing `action`"), "{e}");
        // date_shift without subject_column.
        let e = err("name = \"x\"\nquasi_identifiers = [\"a\"]\ndefault_action = \"keep\"\n[columns.t]\naction = \"date_shift\"\n");
        assert_eq!((e.path(), e.line()), ("columns.t.action", Some(5)));
        assert!(e.message().contains("subject_column"));
        // age_band without, with both, and with itself as reference.
        let base =
            "name = \"x\"\nquasi_identifiers = [\"b\"]\n[columns.b]\naction = \"age_band\"\n";
        assert!(err(base).message().contains("reference_column"));
        let e = err(&format!(
            "{base}reference_column = \"t\"\nreference_date = \"2025-01-01\"\n"
        ));
        assert!(e.message().contains("not both"), "{e}");
        let e = err(&format!("{base}reference_column = \"b\"\n"));
        assert_eq!(e.path(), "columns.b.reference_column");
        let e = err(&format!("{base}reference_date = \"2025-02-30\"\n"));
        assert_eq!((e.path(), e.line()), ("columns.b.reference_date", Some(5)));
        let e =
            err("name = \"x\"\nquasi_identifiers = [\"a\"]\n[columns.a]\naction = \"truncate\"\n");
        assert!(e.message().contains("length"));
    }

    #[test]
    fn quasi_identifiers_must_reach_the_output() {
        let e = err(&FULL.replace("[columns.sex]\naction = \"keep\"\n", ""));
        assert_eq!((e.path(), e.line()), ("quasi_identifiers", Some(3)));
        assert!(
            e.message().contains("`sex`") && e.message().contains("default_action"),
            "{e}"
        );
        let e = err(&FULL.replace(
            "[columns.sex]\naction = \"keep\"",
            "[columns.sex]\naction = \"drop\"",
        ));
        assert_eq!(e.path(), "columns.sex.action");
        // With default keep an unlisted quasi-identifier is fine.
        DeidPolicy::parse(
            &FULL
                .replace("[columns.sex]\naction = \"keep\"\n", "")
                .replace("default_action = \"drop\"", "default_action = \"keep\""),
        )
        .unwrap();
    }

    #[test]
    fn location_counts_characters() {
        let e = err("name = \"张三\"\nquasi_identifiers = [\"a\"]\ndefault_action = \"keep\"\n\"名字\" = 1\n");
        assert_eq!((e.path(), e.line()), ("名字", Some(4)));
        let line = r#"columns = { "姓名" = { action = "mask", keep_first = "x" } }"#;
        let e = err(&format!(
            "name = \"p\"\nquasi_identifiers = [\"a\"]\ndefault_action = \"keep\"\n{line}\n"
        ));
        assert_eq!(e.path(), "columns.姓名.keep_first");
        let col = line.chars().position(|c| c == 'x').unwrap(); // the opening quote is one before
        assert_eq!(
            e.location(),
            Some(Location {
                line: 4,
                column: col
            })
        );
        let l = Location::of("一二\n三四五", "一二\n三四".len());
        assert_eq!(l, Location { line: 2, column: 3 });
        assert_eq!(Location::of("abc", 99), Location { line: 1, column: 4 });
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
            let _ = DeidPolicy::parse(&text);
        }

        #[test]
        fn parse_never_panics_on_toml_like_text(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("name = \"p\"".to_string()),
                    Just("quasi_identifiers = [\"a\"]".to_string()),
                    Just("subject_column = \"s\"".to_string()),
                    Just("[columns.a]".to_string()),
                    Just("[columns.b]".to_string()),
                    Just("[columns.a.x]".to_string()),
                    Just("[[columns.c]]".to_string()),
                    "(action|keep_first|keep_last|mask_char|length|pad|prefix|reference_date|reference_column|k|date_shift_max_days|default_action|columns) = (\"[a-z_]{0,12}\"|-?[0-9]{1,20}|true|2025-0[0-9]-[0-3][0-9]|\\[\\]|\\{\\}|\"\\PC{0,3}\")",
                ],
                0..14,
            )
        ) {
            let text = lines.join("\n");
            match DeidPolicy::parse(&text) {
                Ok(p) => prop_assert!(p.k() >= POLICY_MIN_K),
                Err(e) => prop_assert!(!e.message().is_empty()),
            }
        }
    }

    #[test]
    fn an_area_finer_than_a_prefecture_is_refused_without_a_population_table() {
        for (hierarchy, level, finest) in [
            ("division_codes", 0, 1),
            ("postal_codes", 2, 3),
            ("township_codes", 1, 2),
            ("village_codes", 2, 3),
        ] {
            let text = format!(
                "name = \"p\"\nk = 5\nquasi_identifiers = [\"area\"]\n[columns.area]\naction = \"generalize\"\nhierarchy = \"{hierarchy}\"\nlevel = {level}\n"
            );
            let e = DeidPolicy::parse(&text).unwrap_err();
            assert_eq!(e.path, "columns.area.level", "{e}");
            assert!(
                e.message.contains("20,000") && e.message.contains(&format!(">= {finest}")),
                "{e}"
            );
            let allowed = text.replace(&format!("level = {level}"), &format!("level = {finest}"));
            assert!(
                DeidPolicy::parse(&allowed).is_ok(),
                "{hierarchy} at level {finest}"
            );
        }
    }
}
