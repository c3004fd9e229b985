//! Dataset-level anonymisation engine: dictionary encoding, distinct-tuple grouping and the
//! evaluation of one generalisation (a lattice node) against privacy criteria.
//!
//! GB/T 39725-2020 §10.2 e) and §11.4.2.4 (k-anonymity: every description shared by at least k
//! records, generalise further or suppress otherwise), Appendix G (generalisation per data
//! element through hierarchies); T/CI 857-2024 6.5 (the transformation applied is recorded: the
//! node, the criteria and the suppressed count are returned, never values).
//!
//! Each quasi-identifier column is encoded to integer ids per hierarchy level. Records are
//! grouped into distinct (quasi-identifier, sensitive value) tuples with counts, so evaluating a
//! node costs time proportional to the number of distinct tuples, not records (or fewer: the
//! classes of a node below it, see `AnonData::group`). The rows given may themselves be
//! weighted distinct combinations ([`AnonData::new_weighted`]), so a caller that counted them
//! while streaming never holds the records. For a node (one level per quasi-identifier) the
//! tuples are mapped through the hierarchies and grouped into equivalence classes; a class that fails a criterion is suppressed, and the node is accepted
//! when the suppressed records are at most `⌊suppression_limit · n⌋` (ARX's rule).
//!
//! Criteria: k-anonymity, distinct-, entropy- and recursive-(c,l)-diversity and t-closeness with
//! the equal-distance and the hierarchical-distance EMD (Li, Li, Venkatasubramanian 2007).

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use crate::hierarchy::Hierarchy;

/// Why the engine refused its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnonError {
    /// A quasi-identifier or sensitive column is not in the header.
    #[error("column `{0}` is not in the header")]
    MissingColumn(String),
    /// A record has fewer cells than the header.
    #[error("record {record}: {found} cells, the header has {expected}")]
    ShortRecord {
        /// 1-based record number (header excluded).
        record: usize,
        /// Cells found.
        found: usize,
        /// Header length.
        expected: usize,
    },
    /// A value is not a level-0 value of its hierarchy.
    #[error("record {record}, column `{column}`: the value is not in hierarchy `{hierarchy}`")]
    ValueNotInHierarchy {
        /// 1-based record number.
        record: usize,
        /// Column.
        column: String,
        /// Hierarchy name.
        hierarchy: String,
    },
    /// No quasi-identifiers were given.
    #[error("at least one quasi-identifier is needed")]
    NoQuasiIdentifiers,
    /// The encoded quasi-identifiers need more than 128 bits.
    #[error("the quasi-identifier domains need {0} bits, at most 128 are supported")]
    TooWide(u32),
    /// A criterion that needs a sensitive attribute was given none (or t-closeness with the
    /// hierarchical distance was given no sensitive hierarchy).
    #[error(
        "criterion `{0}` needs a sensitive attribute (and t-closeness/hierarchical its hierarchy)"
    )]
    NoSensitiveAttribute(&'static str),
    /// A parameter is out of range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(&'static str),
    /// No acceptable recoding exists within the suppression allowance.
    #[error("no recoding satisfies the criteria within the suppression limit")]
    NoSolution,
    /// A lattice node has the wrong number of levels or a level above the hierarchy.
    #[error("invalid lattice node: expected one level per quasi-identifier within its height")]
    InvalidNode,
}

/// A privacy criterion, checked per equivalence class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Criterion {
    /// At least `k` records per class (GB/T 39725-2020 §10.2 e): k ≥ 5 on a node).
    KAnonymity {
        /// Minimum class size.
        k: usize,
    },
    /// At least `l` distinct sensitive values per class.
    DistinctLDiversity {
        /// Minimum distinct values.
        l: usize,
    },
    /// Entropy of the class's sensitive values at least `ln(l)`.
    EntropyLDiversity {
        /// l (may be fractional).
        l: f64,
    },
    /// Recursive (c,l)-diversity: `r1 < c · (r_l + … + r_m)` on the sorted value counts.
    RecursiveCLDiversity {
        /// c.
        c: f64,
        /// l.
        l: usize,
    },
    /// t-closeness, equal ground distance (EMD = variational distance).
    TClosenessEqual {
        /// Maximum distance.
        t: f64,
    },
    /// t-closeness, hierarchical ground distance over the sensitive hierarchy.
    TClosenessHierarchical {
        /// Maximum distance.
        t: f64,
    },
}

impl Criterion {
    fn name(&self) -> &'static str {
        match self {
            Criterion::KAnonymity { .. } => "k-anonymity",
            Criterion::DistinctLDiversity { .. } => "distinct-l-diversity",
            Criterion::EntropyLDiversity { .. } => "entropy-l-diversity",
            Criterion::RecursiveCLDiversity { .. } => "recursive-(c,l)-diversity",
            Criterion::TClosenessEqual { .. } => "t-closeness/equal",
            Criterion::TClosenessHierarchical { .. } => "t-closeness/hierarchical",
        }
    }

    fn needs_sensitive(&self) -> bool {
        !matches!(self, Criterion::KAnonymity { .. })
    }

    /// True when merging a passing class with any class yields a passing class, so that the
    /// set of suppressed records can only shrink under generalisation (monotonic with
    /// suppression). Every criterion here is monotonic without suppression (merging two passing
    /// classes passes: sizes add, distinct values unite, entropy and EMD are concave/convex).
    pub fn monotone_with_suppression(&self) -> bool {
        matches!(
            self,
            Criterion::KAnonymity { .. } | Criterion::DistinctLDiversity { .. }
        )
    }
}

/// How per-attribute losses are aggregated into the score the search minimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregate {
    /// Arithmetic mean (the "granularity" quality figure is `1 −` this).
    ArithmeticMean,
    /// ARX's default for the Loss metric: `Π (lᵢ + 1)^(1/q) − 1`.
    #[default]
    GeometricMean,
}

impl Aggregate {
    /// Aggregates per-attribute losses in `[0,1]`.
    pub fn apply(&self, values: &[f64]) -> f64 {
        let q = values.len();
        self.combine(values.iter().map(|&v| self.term(v, q)), q)
    }

    /// The term one attribute's loss `value` contributes among `q` attributes: the loss itself
    /// (arithmetic mean) or `(value + 1)^(1/q)` (geometric mean). [`Aggregate::combine`] of the
    /// terms is [`Aggregate::apply`], to the bit, so a search can compute the terms of each
    /// level once and combine them per node.
    pub(crate) fn term(&self, value: f64, q: usize) -> f64 {
        match self {
            Aggregate::ArithmeticMean => value,
            Aggregate::GeometricMean => (value + 1.0).powf(1.0 / q as f64),
        }
    }

    /// Combines the terms of `q` attributes, in attribute order (0 for none).
    pub(crate) fn combine(&self, terms: impl Iterator<Item = f64>, q: usize) -> f64 {
        if q == 0 {
            return 0.0;
        }
        match self {
            Aggregate::ArithmeticMean => terms.sum::<f64>() / q as f64,
            Aggregate::GeometricMean => terms.product::<f64>() - 1.0,
        }
    }
}

/// What a node must satisfy.
#[derive(Debug, Clone, PartialEq)]
pub struct AnonConfig {
    /// Criteria, all checked per class.
    pub criteria: Vec<Criterion>,
    /// Share of records that may be suppressed, in `[0, 1]`.
    pub suppression_limit: f64,
    /// Aggregate of the loss metric minimised by the search.
    pub aggregate: Aggregate,
    /// Cost of a suppressed cell between its generalisation's loss (0) and full loss (1):
    /// `l + w·(1 − l)`. ARX's gs-factor `g ≤ 0.5` gives `w = 2g`; the default 1 is ARX's
    /// default (`g = 0.5`). Local recoding uses a low weight so that early rounds prefer to
    /// pass records on rather than generalise everybody.
    pub suppression_weight: f64,
    /// The lowest level the search may choose per dimension (empty or missing: 0), e.g. the
    /// prefecture for division codes when no population table shows a county's coverage
    /// (GB/T 39725-2020 §10.2 c) 1)).
    pub min_levels: Vec<usize>,
}

impl AnonConfig {
    /// k-anonymity with a suppression limit and ARX's default aggregate.
    pub fn k_anonymity(k: usize, suppression_limit: f64) -> Self {
        AnonConfig {
            criteria: vec![Criterion::KAnonymity { k }],
            suppression_limit,
            aggregate: Aggregate::default(),
            suppression_weight: 1.0,
            min_levels: Vec::new(),
        }
    }

    /// Whether a node's levels are all at or above [`AnonConfig::min_levels`].
    pub fn allows(&self, levels: &[usize]) -> bool {
        levels
            .iter()
            .zip(&self.min_levels)
            .all(|(level, min)| level >= min)
    }

    /// The largest k among the criteria (1 when none).
    pub fn k(&self) -> usize {
        self.criteria
            .iter()
            .filter_map(|c| match c {
                Criterion::KAnonymity { k } => Some(*k),
                _ => None,
            })
            .max()
            .unwrap_or(1)
    }

    /// True when node acceptance is monotonic under generalisation for this configuration.
    pub fn is_monotone(&self) -> bool {
        self.suppression_limit <= 0.0
            || self
                .criteria
                .iter()
                .all(Criterion::monotone_with_suppression)
    }

    fn check(&self, data: &AnonData) -> Result<(), AnonError> {
        if !(0.0..=1.0).contains(&self.suppression_limit) || self.suppression_limit.is_nan() {
            return Err(AnonError::InvalidParameter(
                "suppression_limit must be in [0, 1]",
            ));
        }
        if !(0.0..=1.0).contains(&self.suppression_weight) {
            return Err(AnonError::InvalidParameter(
                "suppression_weight must be in [0, 1]",
            ));
        }
        for c in &self.criteria {
            if c.needs_sensitive() && data.sensitive.is_none() {
                return Err(AnonError::NoSensitiveAttribute(c.name()));
            }
            if matches!(c, Criterion::TClosenessHierarchical { .. })
                && data.sensitive.as_ref().is_none_or(|s| s.tree.is_none())
            {
                return Err(AnonError::NoSensitiveAttribute(c.name()));
            }
            let ok = match *c {
                Criterion::KAnonymity { k } => k >= 1,
                Criterion::DistinctLDiversity { l } => l >= 1,
                Criterion::EntropyLDiversity { l } => l >= 1.0,
                Criterion::RecursiveCLDiversity { c, l } => c > 0.0 && l >= 1,
                Criterion::TClosenessEqual { t } | Criterion::TClosenessHierarchical { t } => {
                    (0.0..=1.0).contains(&t)
                }
            };
            if !ok {
                return Err(AnonError::InvalidParameter(
                    "criterion parameter out of range",
                ));
            }
        }
        Ok(())
    }
}

/// A quasi-identifier: a column and the hierarchy it is generalised along.
#[derive(Debug, Clone)]
pub struct QuasiIdentifier {
    /// Column name.
    pub column: String,
    /// Its hierarchy.
    pub hierarchy: Hierarchy,
}

/// The encoded hierarchy of one quasi-identifier.
#[derive(Debug, Clone)]
pub(crate) struct Dim {
    pub(crate) name: String,
    /// `map[level][leaf]`: the id at `level` of level-0 id `leaf` (hierarchy row index).
    pub(crate) map: Vec<Vec<u32>>,
    /// `labels[level][id]`.
    pub(crate) labels: Vec<Vec<String>>,
    /// `leaves[level][id]`: hierarchy rows under the value.
    pub(crate) leaves: Vec<Vec<u32>>,
    /// Hierarchy rows (domain size).
    pub(crate) domain: usize,
    /// Bit offset of this dimension in a packed class key.
    shift: u32,
}

impl Dim {
    fn new(name: &str, h: &Hierarchy) -> Dim {
        let height = h.height();
        let mut map = vec![Vec::with_capacity(h.domain_size()); height];
        let mut labels = vec![Vec::new(); height];
        let mut leaves = vec![Vec::new(); height];
        for level in 0..height {
            let mut ids: HashMap<&str, u32> = HashMap::new();
            for row in h.rows() {
                let v = row.get(level).map_or("", String::as_str);
                let next = ids.len() as u32;
                let id = *ids.entry(v).or_insert(next);
                if id == next {
                    labels[level].push(v.to_string());
                    leaves[level].push(0);
                }
                leaves[level][id as usize] += 1;
                map[level].push(id);
            }
        }
        Dim {
            name: name.to_string(),
            map,
            labels,
            leaves,
            domain: h.domain_size(),
            shift: 0,
        }
    }

    /// Height (number of levels).
    pub(crate) fn height(&self) -> usize {
        self.map.len()
    }

    /// Normalised loss of one cell at `level` with leaf `leaf`: `(leaves − 1)/(domain − 1)`.
    #[cfg(test)]
    pub(crate) fn cell_loss(&self, level: usize, leaf: u32) -> f64 {
        if self.domain <= 1 {
            return 0.0;
        }
        let id = self.map[level][leaf as usize] as usize;
        (f64::from(self.leaves[level][id]) - 1.0) / (self.domain as f64 - 1.0)
    }
}

/// The sensitive attribute: value ids per distinct tuple and the overall distribution.
#[derive(Debug, Clone)]
pub(crate) struct Sensitive {
    labels: Vec<String>,
    /// Overall frequency of each value id (share of records).
    global: Vec<f64>,
    /// For the hierarchical EMD: `path[value][level]` node ids (level 0 = leaf) and height.
    tree: Option<SensTree>,
}

#[derive(Debug, Clone)]
struct SensTree {
    /// `path[value][level]` = node id at that level (ids unique across levels).
    path: Vec<Vec<u32>>,
    nodes: usize,
    height: usize,
}

/// An encoded dataset, grouped into distinct tuples.
#[derive(Debug, Clone)]
pub struct AnonData {
    pub(crate) dims: Vec<Dim>,
    /// Distinct tuples, flattened: `tuples[t * q + j]` is the level-0 id in dimension `j`.
    pub(crate) tuples: Vec<u32>,
    /// Records per distinct tuple.
    pub(crate) counts: Vec<u32>,
    /// Sensitive value id per distinct tuple (0 when there is no sensitive attribute).
    pub(crate) sens_of: Vec<u32>,
    pub(crate) sensitive: Option<Sensitive>,
    /// Distinct tuple of each record (unit).
    pub(crate) record_tuple: Vec<u32>,
    /// Records per unit; empty when every unit is one record.
    pub(crate) record_weight: Vec<u32>,
    /// Records.
    pub(crate) n: usize,
    /// `level_extra[j][level]`: Σ over records of (leaves under the value − 1) in dimension `j`
    /// at `level`, the numerator of the loss without suppression; a node's loss then needs
    /// only its suppressed classes.
    pub(crate) level_extra: Vec<Vec<u64>>,
    /// The distinct tuples column-major: `columns[j][t] == tuples[t * q + j]`, so that class
    /// keys are built one dimension at a time.
    pub(crate) columns: Vec<Vec<u32>>,
}

/// The equivalence classes of one node.
#[derive(Debug, Clone)]
pub struct Classes {
    /// The node (level per quasi-identifier).
    pub node: Vec<usize>,
    /// Class of each distinct tuple.
    pub class_of_tuple: Vec<u32>,
    /// Records per class.
    pub sizes: Vec<u32>,
    /// A distinct tuple of each class (to read its generalised values).
    pub representative: Vec<u32>,
}

/// The classes of one node without the class of each tuple: what the search keeps to roll
/// later nodes up from.
#[derive(Debug, Clone)]
pub(crate) struct Grouping {
    /// The node.
    pub(crate) node: Vec<usize>,
    /// Records per class.
    pub(crate) sizes: Vec<u32>,
    /// A distinct tuple of each class.
    pub(crate) representative: Vec<u32>,
}

/// Dense grouping table entries allowed per grouped item, and at most (16 MB of `u32`).
const DENSE_PER_ITEM: u64 = 64;
const DENSE_MAX: u64 = 1 << 22;

thread_local! {
    /// Per-thread dense grouping table: class index + 1 per key, all zero between groupings.
    static DENSE: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Dense tables above this many entries (1 MB) are freed when a search ends, so that a
/// long-running process does not keep up to [`DENSE_MAX`] entries per pool thread.
const DENSE_KEEP: usize = 1 << 18;

/// Frees the large dense grouping tables of the current rayon pool's threads and of the
/// calling thread (called when a search ends).
pub(crate) fn release_grouping_tables() {
    let release = || {
        DENSE.with(|cell| {
            if let Ok(mut table) = cell.try_borrow_mut() {
                if table.len() > DENSE_KEEP {
                    *table = Vec::new();
                }
            }
        })
    };
    rayon::broadcast(|_| release());
    release();
}

/// The outcome of evaluating one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeEval {
    /// The node.
    pub node: Vec<usize>,
    /// Whether the suppressed records are within the limit.
    pub anonymous: bool,
    /// Records in failing classes (suppressed).
    pub suppressed: usize,
    /// Classes (passing and failing).
    pub classes: usize,
    /// Per-attribute loss in `[0,1]`, suppressed cells counting 1.
    pub attribute_loss: Vec<f64>,
    /// Aggregated loss (the search score).
    pub loss: f64,
}

impl AnonData {
    /// Encodes `records` (rows of strings in `header` order) for the quasi-identifiers and an
    /// optional sensitive column (with an optional hierarchy for the hierarchical EMD).
    pub fn new(
        header: &[String],
        records: &[Vec<String>],
        qis: &[QuasiIdentifier],
        sensitive: Option<(&str, Option<&Hierarchy>)>,
    ) -> Result<AnonData, AnonError> {
        Self::new_weighted(header, records, None, qis, sensitive)
    }

    /// [`AnonData::new`] over weighted rows: row `r` stands for `weights[r]` records (a
    /// distinct combination and how often it occurs), so a caller that counted the distinct
    /// combinations while streaming never holds the records. The rows are then the *units*
    /// that [`Recoding`](crate::metrics::Recoding) assigns nodes to; every figure (counts,
    /// suppression, loss, quality) is in records.
    pub fn new_weighted(
        header: &[String],
        records: &[Vec<String>],
        weights: Option<&[u32]>,
        qis: &[QuasiIdentifier],
        sensitive: Option<(&str, Option<&Hierarchy>)>,
    ) -> Result<AnonData, AnonError> {
        for (r, rec) in records.iter().enumerate() {
            if rec.len() < header.len() {
                return Err(AnonError::ShortRecord {
                    record: r + 1,
                    found: rec.len(),
                    expected: header.len(),
                });
            }
        }
        Self::from_cells(
            header,
            records.len(),
            &|r, c| records[r][c].as_str(),
            weights,
            &|r| r,
            None,
            qis,
            sensitive,
            false,
        )
    }

    /// [`AnonData::new_weighted`] over `units` rows whose cells `cell(row, column)` gives (the
    /// columns of `header`), so that a caller holding its distinct combinations in
    /// dictionaries builds no strings. `record_of(row)` is the 0-based record an error names.
    ///
    /// `distinct`: the caller promises that no two rows have the same values in the columns
    /// used (quasi-identifiers and sensitive), so each row is its own tuple and no index of
    /// the tuples is built (on large data that index is the largest transient allocation).
    ///
    /// `value_id(row, column)`: the dictionary id of a cell (columns of `header`), for a caller
    /// that keeps each column's distinct values in a dictionary; each distinct value of a
    /// quasi-identifier is then looked up in its hierarchy once, not once per row.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_cells<'a>(
        header: &[String],
        units: usize,
        cell: &dyn Fn(usize, usize) -> &'a str,
        weights: Option<&[u32]>,
        record_of: &dyn Fn(usize) -> usize,
        value_id: Option<&dyn Fn(usize, usize) -> Option<u32>>,
        qis: &[QuasiIdentifier],
        sensitive: Option<(&str, Option<&Hierarchy>)>,
        distinct: bool,
    ) -> Result<AnonData, AnonError> {
        if weights.is_some_and(|w| w.len() != units) {
            return Err(AnonError::InvalidParameter("one weight per row is needed"));
        }
        let weight = |r: usize| weights.and_then(|w| w.get(r).copied()).unwrap_or(1);
        if qis.is_empty() {
            return Err(AnonError::NoQuasiIdentifiers);
        }
        let col = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| AnonError::MissingColumn(name.to_string()))
        };
        let qcols: Vec<usize> = qis
            .iter()
            .map(|q| col(&q.column))
            .collect::<Result<_, _>>()?;
        let scol = sensitive.map(|(s, _)| col(s)).transpose()?;
        let mut dims: Vec<Dim> = qis
            .iter()
            .map(|q| Dim::new(&q.column, &q.hierarchy))
            .collect();
        let mut shift = 0u32;
        for d in &mut dims {
            d.shift = shift;
            let ids = d.map.first().map_or(1, Vec::len).max(2) as u64;
            shift += 64 - (ids - 1).leading_zeros();
        }
        if shift > 128 {
            return Err(AnonError::TooWide(shift));
        }
        // Keyed by hierarchy values (built from the input for built-ins): seeded hashing.
        let lookups: Vec<HashMap<&str, u32, foldhash::fast::RandomState>> = qis
            .iter()
            .map(|q| {
                q.hierarchy
                    .rows()
                    .iter()
                    .enumerate()
                    .filter_map(|(i, r)| r.first().map(|v| (v.as_str(), i as u32)))
                    .collect()
            })
            .collect();
        // Sensitive values: ids from the hierarchy when given, else first-seen order.
        let mut sens_ids: HashMap<String, u32> = HashMap::new();
        let mut sens_labels: Vec<String> = Vec::new();
        let sens_h = sensitive.and_then(|(_, h)| h);
        if let Some(h) = sens_h {
            for r in h.rows() {
                if let Some(v) = r.first() {
                    sens_ids.insert(v.clone(), sens_labels.len() as u32);
                    sens_labels.push(v.clone());
                }
            }
        }
        let q = qis.len();
        let mut index: FxHashMap<(u128, u32), u32> = FxHashMap::default();
        let mut tuples = Vec::new();
        let mut counts = Vec::new();
        let mut sens_of = Vec::new();
        let mut record_tuple = Vec::with_capacity(units);
        let mut ids = vec![0u32; q];
        // Per quasi-identifier, the leaf of each dictionary id already looked up (`NOT_YET`
        // until then), when the caller gave dictionary ids.
        const NOT_YET: u32 = u32::MAX;
        let mut leaf_of_value: Vec<Vec<u32>> = vec![Vec::new(); q];
        for r in 0..units {
            let mut key = 0u128;
            for (j, &c) in qcols.iter().enumerate() {
                let known = value_id.and_then(|id| id(r, c)).map(|v| {
                    let leaves = &mut leaf_of_value[j];
                    if leaves.len() <= v as usize {
                        leaves.resize(v as usize + 1, NOT_YET);
                    }
                    (v as usize, leaves[v as usize])
                });
                let id = match known {
                    Some((_, leaf)) if leaf != NOT_YET => leaf,
                    _ => {
                        let leaf = lookups[j].get(cell(r, c)).copied().ok_or_else(|| {
                            AnonError::ValueNotInHierarchy {
                                record: record_of(r) + 1,
                                column: qis[j].column.clone(),
                                hierarchy: qis[j].hierarchy.name().to_string(),
                            }
                        })?;
                        if let Some((v, _)) = known {
                            leaf_of_value[j][v] = leaf;
                        }
                        leaf
                    }
                };
                ids[j] = id;
                key |= u128::from(id) << dims[j].shift;
            }
            let s = match scol {
                None => 0,
                Some(c) => {
                    let v = cell(r, c);
                    match sens_ids.get(v) {
                        Some(&id) => id,
                        None if sens_h.is_some() => {
                            return Err(AnonError::ValueNotInHierarchy {
                                record: record_of(r) + 1,
                                column: sensitive.map_or("", |s| s.0).to_string(),
                                hierarchy: sens_h.map_or("", |h| h.name()).to_string(),
                            })
                        }
                        None => {
                            let id = sens_labels.len() as u32;
                            sens_ids.insert(v.to_string(), id);
                            sens_labels.push(v.to_string());
                            id
                        }
                    }
                }
            };
            let next = counts.len() as u32;
            let t = if distinct {
                next
            } else {
                *index.entry((key, s)).or_insert(next)
            };
            if t == next {
                tuples.extend_from_slice(&ids);
                counts.push(0);
                sens_of.push(s);
            }
            counts[t as usize] += weight(r);
            record_tuple.push(t);
        }
        let n: usize = (0..units).map(|r| weight(r) as usize).sum();
        let sensitive = scol.map(|_| {
            let mut global = vec![0.0; sens_labels.len()];
            for (t, &c) in counts.iter().enumerate() {
                global[sens_of[t] as usize] += f64::from(c);
            }
            for g in &mut global {
                *g /= n.max(1) as f64;
            }
            let tree = sens_h.map(|h| {
                let height = h.height();
                let mut node_ids: HashMap<(usize, &str), u32> = HashMap::new();
                let path = h
                    .rows()
                    .iter()
                    .map(|row| {
                        (0..height)
                            .map(|lvl| {
                                let next = node_ids.len() as u32;
                                *node_ids
                                    .entry((lvl, row.get(lvl).map_or("", String::as_str)))
                                    .or_insert(next)
                            })
                            .collect()
                    })
                    .collect();
                SensTree {
                    path,
                    nodes: node_ids.len(),
                    height,
                }
            });
            Sensitive {
                labels: sens_labels,
                global,
                tree,
            }
        });
        Ok(AnonData {
            dims,
            tuples,
            counts,
            sens_of,
            sensitive,
            record_tuple,
            record_weight: weights.map(<[u32]>::to_vec).unwrap_or_default(),
            n,
            level_extra: Vec::new(),
            columns: Vec::new(),
        }
        .with_level_extra())
    }

    /// Fills [`AnonData::level_extra`] and [`AnonData::columns`].
    fn with_level_extra(mut self) -> AnonData {
        let q = self.dims.len();
        self.columns = (0..q)
            .map(|j| {
                self.tuples
                    .iter()
                    .skip(j)
                    .step_by(q.max(1))
                    .copied()
                    .collect()
            })
            .collect();
        // Records per level-0 value first, then each level sums over the distinct values: one
        // pass over the tuples per dimension instead of one per dimension and level.
        self.level_extra = self
            .dims
            .iter()
            .zip(&self.columns)
            .map(|(d, column)| {
                let mut records_of_leaf = vec![0u64; d.map.first().map_or(0, Vec::len)];
                for (&leaf, &c) in column.iter().zip(&self.counts) {
                    if let Some(n) = records_of_leaf.get_mut(leaf as usize) {
                        *n += u64::from(c);
                    }
                }
                (0..d.height())
                    .map(|level| {
                        let (map, leaves) = (&d.map[level], &d.leaves[level]);
                        records_of_leaf
                            .iter()
                            .zip(map)
                            .map(|(&n, &id)| u64::from(leaves[id as usize].saturating_sub(1)) * n)
                            .sum()
                    })
                    .collect()
            })
            .collect();
        self
    }

    /// The same encoding restricted to some records (given by index, in that order).
    pub fn subset(&self, records: &[usize]) -> AnonData {
        let q = self.dims.len();
        let mut remap: FxHashMap<u32, u32> = FxHashMap::default();
        let mut tuples = Vec::new();
        let mut counts: Vec<u32> = Vec::new();
        let mut sens_of = Vec::new();
        let mut record_tuple = Vec::with_capacity(records.len());
        let mut record_weight = Vec::new();
        for &r in records {
            let Some(&old) = self.record_tuple.get(r) else {
                continue;
            };
            let next = counts.len() as u32;
            let t = *remap.entry(old).or_insert(next);
            if t == next {
                let o = old as usize;
                tuples.extend_from_slice(&self.tuples[o * q..(o + 1) * q]);
                counts.push(0);
                sens_of.push(self.sens_of[o]);
            }
            counts[t as usize] += self.weight(r);
            record_tuple.push(t);
            if !self.record_weight.is_empty() {
                record_weight.push(self.weight(r));
            }
        }
        let n: usize = records.iter().map(|&r| self.weight(r) as usize).sum();
        let sensitive = self.sensitive.as_ref().map(|s| {
            let mut global = vec![0.0; s.labels.len()];
            for (t, &c) in counts.iter().enumerate() {
                global[sens_of[t] as usize] += f64::from(c);
            }
            for g in &mut global {
                *g /= n.max(1) as f64;
            }
            Sensitive {
                labels: s.labels.clone(),
                global,
                tree: s.tree.clone(),
            }
        });
        AnonData {
            dims: self.dims.clone(),
            tuples,
            counts,
            sens_of,
            sensitive,
            record_tuple,
            record_weight,
            n,
            level_extra: Vec::new(),
            columns: Vec::new(),
        }
        .with_level_extra()
    }

    /// Rows (units): the records, or the weighted rows of [`AnonData::new_weighted`].
    pub fn units(&self) -> usize {
        self.record_tuple.len()
    }

    /// Records that unit `r` stands for (1 unless built by [`AnonData::new_weighted`]).
    pub fn weight(&self, r: usize) -> u32 {
        if self.record_weight.is_empty() {
            1
        } else {
            self.record_weight.get(r).copied().unwrap_or(0)
        }
    }

    /// Records.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Distinct (quasi-identifier, sensitive) tuples.
    pub fn distinct_tuples(&self) -> usize {
        self.counts.len()
    }

    /// Number of quasi-identifiers.
    pub fn dimensions(&self) -> usize {
        self.dims.len()
    }

    /// Height of each quasi-identifier's hierarchy (levels 0..height).
    pub fn heights(&self) -> Vec<usize> {
        self.dims.iter().map(Dim::height).collect()
    }

    /// Quasi-identifier column names.
    pub fn qi_names(&self) -> Vec<String> {
        self.dims.iter().map(|d| d.name.clone()).collect()
    }

    /// The generalised label of record `record` in dimension `dim` at `level`.
    pub fn label(&self, record: usize, dim: usize, level: usize) -> Option<&str> {
        self.label_by_id(dim, level, self.label_id(record, dim, level)?)
    }

    /// The id of [`AnonData::label`]'s label among the labels of `dim` at `level`: records
    /// with the same id there have the same label.
    pub(crate) fn label_id(&self, record: usize, dim: usize, level: usize) -> Option<u32> {
        let t = *self.record_tuple.get(record)? as usize;
        let d = self.dims.get(dim)?;
        let leaf = *self.tuples.get(t * self.dims.len() + dim)?;
        d.map.get(level)?.get(leaf as usize).copied()
    }

    /// The label with this [`AnonData::label_id`].
    pub(crate) fn label_by_id(&self, dim: usize, level: usize, id: u32) -> Option<&str> {
        let d = self.dims.get(dim)?;
        d.labels.get(level)?.get(id as usize).map(String::as_str)
    }

    pub(crate) fn check_node(&self, node: &[usize]) -> Result<(), AnonError> {
        if node.len() != self.dims.len()
            || node.iter().zip(&self.dims).any(|(l, d)| *l >= d.height())
        {
            return Err(AnonError::InvalidNode);
        }
        Ok(())
    }

    /// Groups the distinct tuples into the equivalence classes of `node`.
    pub fn classes(&self, node: &[usize]) -> Result<Classes, AnonError> {
        self.check_node(node)?;
        Ok(self.classes_unchecked(node))
    }

    pub(crate) fn classes_unchecked(&self, node: &[usize]) -> Classes {
        let mut class_of_tuple = Vec::with_capacity(self.counts.len());
        let g = self.group(node, None, Some(&mut class_of_tuple));
        Classes {
            node: g.node,
            class_of_tuple,
            sizes: g.sizes,
            representative: g.representative,
        }
    }

    /// Groups a node's classes (sizes and a representative tuple each). Without `source` the
    /// distinct tuples are grouped; with `source`, the classes of a node at or below `node` in
    /// every dimension (a lattice predecessor, possibly indirect) are merged instead: classes
    /// only merge under generalisation, so rolling up the source's classes gives the same
    /// classes from fewer items (Flash's and ARX's roll-up). `class_of` (no source only)
    /// receives the class of every distinct tuple.
    ///
    /// The class key is the node's generalised ids in mixed radix. When their range is small
    /// (the usual case above the lattice's bottom) a dense per-thread table replaces the hash
    /// map, so grouping is a few array reads per item.
    pub(crate) fn group(
        &self,
        node: &[usize],
        source: Option<&Grouping>,
        mut class_of: Option<&mut Vec<u32>>,
    ) -> Grouping {
        // Items: records per item, and each item's representative tuple (the item itself when
        // grouping the tuples).
        let (reps, weights): (Option<&[u32]>, &[u32]) = match source {
            Some(g) => (Some(&g.representative), &g.sizes),
            None => (None, &self.counts),
        };
        let n_items = weights.len();
        let mut sizes: Vec<u32> = Vec::new();
        let mut representative: Vec<u32> = Vec::new();
        let mut assign =
            |i: usize, cl: u32, sizes: &mut Vec<u32>, representative: &mut Vec<u32>| {
                if cl as usize == sizes.len() {
                    sizes.push(0);
                    representative.push(reps.map_or(i as u32, |r| r[i]));
                }
                sizes[cl as usize] += weights[i];
                if let Some(co) = class_of.as_deref_mut() {
                    co.push(cl);
                }
            };
        match self.mixed_radix_keys(node, reps, n_items) {
            Some((keys, range)) => {
                let dense_limit = (n_items as u64)
                    .saturating_mul(DENSE_PER_ITEM)
                    .clamp(1 << 16, DENSE_MAX);
                if range <= dense_limit {
                    DENSE.with(|cell| {
                        let mut table = cell.borrow_mut();
                        if table.len() < range as usize {
                            table.resize(range as usize, 0);
                        }
                        for (i, &key) in keys.iter().enumerate() {
                            let slot = &mut table[key as usize];
                            if *slot == 0 {
                                *slot = sizes.len() as u32 + 1;
                            }
                            let cl = *slot - 1;
                            assign(i, cl, &mut sizes, &mut representative);
                        }
                        // Leave the table all zero for the next grouping on this thread.
                        for &key in &keys {
                            table[key as usize] = 0;
                        }
                    });
                } else {
                    let mut index: FxHashMap<u64, u32> = FxHashMap::default();
                    index.reserve(n_items.min(1 << 16));
                    for (i, &key) in keys.iter().enumerate() {
                        let next = sizes.len() as u32;
                        let cl = *index.entry(key).or_insert(next);
                        assign(i, cl, &mut sizes, &mut representative);
                    }
                }
            }
            None => {
                // More than 64 bits of mixed radix: the packed per-dimension bit fields.
                let q = self.dims.len();
                let maps: Vec<(&[u32], u32)> = self
                    .dims
                    .iter()
                    .zip(node)
                    .map(|(d, &l)| (d.map[l].as_slice(), d.shift))
                    .collect();
                let mut index: FxHashMap<u128, u32> = FxHashMap::default();
                index.reserve(n_items.min(1 << 16));
                for i in 0..n_items {
                    let t = reps.map_or(i, |r| r[i] as usize);
                    let mut key = 0u128;
                    for (&id, &(m, shift)) in self.tuples[t * q..(t + 1) * q].iter().zip(&maps) {
                        key |= u128::from(m[id as usize]) << shift;
                    }
                    let next = sizes.len() as u32;
                    let cl = *index.entry(key).or_insert(next);
                    assign(i, cl, &mut sizes, &mut representative);
                }
            }
        }
        Grouping {
            node: node.to_vec(),
            sizes,
            representative,
        }
    }

    /// Each item's class key at `node`: the generalised ids in mixed radix (dimension 0 most
    /// significant), built one dimension at a time over the column-major tuples, with the
    /// key range; `None` when the range exceeds 64 bits.
    fn mixed_radix_keys(
        &self,
        node: &[usize],
        reps: Option<&[u32]>,
        n_items: usize,
    ) -> Option<(Vec<u64>, u64)> {
        let mut range = 1u64;
        let mut strides = vec![0u64; node.len()];
        for (j, (d, &l)) in self.dims.iter().zip(node).enumerate().rev() {
            strides[j] = range;
            range = range.checked_mul(d.labels[l].len().max(1) as u64)?;
        }
        let mut keys = vec![0u64; n_items];
        let mut scaled: Vec<u64> = Vec::new();
        for (j, (d, &l)) in self.dims.iter().zip(node).enumerate() {
            if d.labels[l].len() <= 1 {
                continue; // one value at this level: adds 0 to every key
            }
            // id at this level times the stride, per level-0 id
            scaled.clear();
            scaled.extend(d.map[l].iter().map(|&id| u64::from(id) * strides[j]));
            let column = &self.columns[j];
            match reps {
                None => {
                    for (k, &leaf) in keys.iter_mut().zip(column) {
                        *k += scaled[leaf as usize];
                    }
                }
                Some(reps) => {
                    for (k, &t) in keys.iter_mut().zip(reps) {
                        *k += scaled[column[t as usize] as usize];
                    }
                }
            }
        }
        Some((keys, range))
    }

    /// Which classes fail the criteria (true = suppressed).
    pub fn failing_classes(&self, classes: &Classes, config: &AnonConfig) -> Vec<bool> {
        let mut fail: Vec<bool> = vec![false; classes.sizes.len()];
        let mut hists: Option<Vec<FxHashMap<u32, u32>>> = None;
        for c in &config.criteria {
            match *c {
                Criterion::KAnonymity { k } => {
                    for (f, &s) in fail.iter_mut().zip(&classes.sizes) {
                        *f |= (s as usize) < k;
                    }
                }
                _ => {
                    let hists = hists.get_or_insert_with(|| self.histograms(classes));
                    for (ci, (f, h)) in fail.iter_mut().zip(hists.iter()).enumerate() {
                        if !*f {
                            *f = !self.class_passes(c, h, classes.sizes[ci]);
                        }
                    }
                }
            }
        }
        fail
    }

    fn histograms(&self, classes: &Classes) -> Vec<FxHashMap<u32, u32>> {
        let mut h: Vec<FxHashMap<u32, u32>> = vec![FxHashMap::default(); classes.sizes.len()];
        for (t, &cl) in classes.class_of_tuple.iter().enumerate() {
            *h[cl as usize].entry(self.sens_of[t]).or_insert(0) += self.counts[t];
        }
        h
    }

    fn class_passes(&self, c: &Criterion, hist: &FxHashMap<u32, u32>, size: u32) -> bool {
        let size = f64::from(size.max(1));
        match *c {
            Criterion::KAnonymity { k } => size as usize >= k,
            Criterion::DistinctLDiversity { l } => hist.len() >= l,
            Criterion::EntropyLDiversity { l } => {
                let h: f64 = hist
                    .values()
                    .map(|&v| {
                        let p = f64::from(v) / size;
                        -p * p.ln()
                    })
                    .sum();
                h + 1e-12 >= l.ln()
            }
            Criterion::RecursiveCLDiversity { c, l } => {
                let mut r: Vec<u32> = hist.values().copied().collect();
                r.sort_unstable_by(|a, b| b.cmp(a));
                if r.len() < l {
                    return false;
                }
                let tail: u32 = r.iter().skip(l.saturating_sub(1)).sum();
                f64::from(r[0]) < c * f64::from(tail)
            }
            Criterion::TClosenessEqual { t } => {
                let Some(s) = &self.sensitive else {
                    return false;
                };
                let mut d = 0.0;
                for (v, &g) in s.global.iter().enumerate() {
                    let p = f64::from(hist.get(&(v as u32)).copied().unwrap_or(0)) / size;
                    d += (p - g).abs();
                }
                d / 2.0 <= t + 1e-12
            }
            Criterion::TClosenessHierarchical { t } => {
                let Some(s) = &self.sensitive else {
                    return false;
                };
                let Some(tree) = &s.tree else {
                    return false;
                };
                hierarchical_emd(tree, &s.global, hist, size) <= t + 1e-12
            }
        }
    }

    /// Evaluates a node: classes, failing classes, suppression and loss.
    pub fn evaluate(&self, node: &[usize], config: &AnonConfig) -> Result<NodeEval, AnonError> {
        self.check_node(node)?;
        config.check(self)?;
        Ok(self.evaluate_unchecked(node, config))
    }

    pub(crate) fn evaluate_unchecked(&self, node: &[usize], config: &AnonConfig) -> NodeEval {
        self.evaluate_from(node, config, None).0
    }

    /// True when a node's evaluation needs only its class sizes (k-anonymity alone), so that
    /// its classes can be rolled up from a predecessor's [`Grouping`].
    pub(crate) fn sizes_suffice(config: &AnonConfig) -> bool {
        config
            .criteria
            .iter()
            .all(|c| matches!(c, Criterion::KAnonymity { .. }))
    }

    /// Evaluates a node, rolling its classes up from `source` when given (see
    /// [`AnonData::group`]; only valid when [`AnonData::sizes_suffice`]). Returns the node's
    /// grouping too when sizes suffice, for later roll-ups.
    pub(crate) fn evaluate_from(
        &self,
        node: &[usize],
        config: &AnonConfig,
        source: Option<&Grouping>,
    ) -> (NodeEval, Option<Grouping>) {
        let (grouping, failing) = if Self::sizes_suffice(config) {
            let g = self.group(node, source, None);
            let k = config.k() as u64;
            let failing: Vec<u32> = (0..g.sizes.len() as u32)
                .filter(|&c| u64::from(g.sizes[c as usize]) < k)
                .collect();
            (g, failing)
        } else {
            let classes = self.classes_unchecked(node);
            let fail = self.failing_classes(&classes, config);
            let failing = (0..fail.len() as u32)
                .filter(|&c| fail[c as usize])
                .collect();
            (
                Grouping {
                    node: classes.node,
                    sizes: classes.sizes,
                    representative: classes.representative,
                },
                failing,
            )
        };
        let suppressed: usize = failing
            .iter()
            .map(|&c| grouping.sizes[c as usize] as usize)
            .sum();
        let anonymous = suppressed <= self.max_suppressed(config);
        let attribute_loss =
            self.attribute_loss(&grouping, &failing, suppressed, config.suppression_weight);
        let loss = config.aggregate.apply(&attribute_loss);
        let eval = NodeEval {
            node: node.to_vec(),
            anonymous,
            suppressed,
            classes: grouping.sizes.len(),
            attribute_loss,
            loss,
        };
        (eval, Self::sizes_suffice(config).then_some(grouping))
    }

    /// `⌊limit · n⌋`.
    pub fn max_suppressed(&self, config: &AnonConfig) -> usize {
        (config.suppression_limit * self.n as f64 + 1e-9).floor() as usize
    }

    /// Per-attribute loss of a node with the given failing (suppressed) classes; a suppressed
    /// cell costs `l + weight·(1 − l)`.
    ///
    /// The leaves under each generalised value are summed as integers and divided once, so
    /// the result does not depend on the order of the classes (a rolled-up grouping lists
    /// them in another order than a grouping of the tuples).
    pub(crate) fn attribute_loss(
        &self,
        classes: &Grouping,
        failing: &[u32],
        suppressed: usize,
        weight: f64,
    ) -> Vec<f64> {
        let q = self.dims.len();
        let mut out = vec![0.0; q];
        if self.n == 0 {
            return out;
        }
        for (j, d) in self.dims.iter().enumerate() {
            let level = classes.node[j];
            let (map, leaves) = (&d.map[level], &d.leaves[level]);
            // Σ (leaves − 1)·size over the suppressed classes; the kept ones' is the level's
            // total minus that.
            let mut supp = 0u64;
            let column = &self.columns[j];
            for &c in failing {
                let (size, rep) = (
                    classes.sizes[c as usize],
                    classes.representative[c as usize],
                );
                let leaf = column[rep as usize] as usize;
                supp += u64::from(leaves[map[leaf] as usize].saturating_sub(1)) * u64::from(size);
            }
            let total = self.level_extra[j][level];
            let kept = total.saturating_sub(supp);
            let span = if d.domain <= 1 {
                0.0
            } else {
                d.domain as f64 - 1.0
            };
            let (kept, supp) = if span == 0.0 {
                (0.0, 0.0)
            } else {
                (kept as f64 / span, supp as f64 / span)
            };
            // Σ over suppressed cells of l + w·(1 − l) = w·S + (1 − w)·Σ l.
            out[j] = (kept + weight * suppressed as f64 + (1.0 - weight) * supp) / self.n as f64;
        }
        out
    }

    /// Per-attribute loss of `level` in dimension `dim` without suppression (the lower bound
    /// used for pruning), summed as [`AnonData::attribute_loss`] sums it.
    pub(crate) fn level_loss(&self, dim: usize, level: usize) -> f64 {
        let d = &self.dims[dim];
        if d.domain <= 1 || self.n == 0 {
            return 0.0;
        }
        let s = self.level_extra[dim][level];
        s as f64 / (d.domain as f64 - 1.0) / self.n as f64
    }

    /// Applies a node: per record, whether it is suppressed.
    pub fn suppressed_records(
        &self,
        node: &[usize],
        config: &AnonConfig,
    ) -> Result<Vec<bool>, AnonError> {
        let classes = self.classes(node)?;
        config.check(self)?;
        let fail = self.failing_classes(&classes, config);
        Ok(self
            .record_tuple
            .iter()
            .map(|&t| fail[classes.class_of_tuple[t as usize] as usize])
            .collect())
    }

    /// The generalised quasi-identifier values of every record under `node`; suppressed
    /// records get `*` in every quasi-identifier.
    pub fn generalized_rows(
        &self,
        node: &[usize],
        suppressed: &[bool],
    ) -> Result<Vec<Vec<String>>, AnonError> {
        self.check_node(node)?;
        let q = self.dims.len();
        Ok(self
            .record_tuple
            .iter()
            .enumerate()
            .map(|(r, &t)| {
                if suppressed.get(r).copied().unwrap_or(false) {
                    return vec!["*".to_string(); q];
                }
                (0..q)
                    .map(|j| {
                        let d = &self.dims[j];
                        let leaf = self.tuples[t as usize * q + j] as usize;
                        d.labels[node[j]][d.map[node[j]][leaf] as usize].clone()
                    })
                    .collect()
            })
            .collect())
    }
}

/// Hierarchical-distance EMD (Li et al. 2007): Σ over inner nodes of
/// `height(N)/H · min(pos_extra(N), neg_extra(N))`.
fn hierarchical_emd(tree: &SensTree, global: &[f64], hist: &FxHashMap<u32, u32>, size: f64) -> f64 {
    let h = tree.height.saturating_sub(1);
    if h == 0 {
        return 0.0;
    }
    // extra per leaf, propagated up: pos and neg sums per node
    let mut pos = vec![0.0; tree.nodes];
    let mut neg = vec![0.0; tree.nodes];
    for (v, path) in tree.path.iter().enumerate() {
        let p = f64::from(hist.get(&(v as u32)).copied().unwrap_or(0)) / size;
        let e = p - global.get(v).copied().unwrap_or(0.0);
        if let Some(&leaf) = path.first() {
            if e > 0.0 {
                pos[leaf as usize] += e;
            } else {
                neg[leaf as usize] -= e;
            }
        }
    }
    let mut cost = 0.0;
    for level in 1..tree.height {
        // extra of a node = Σ children's net extra; children at level-1
        let mut net = vec![0.0; tree.nodes];
        let mut inner_pos = vec![0.0; tree.nodes];
        let mut inner_neg = vec![0.0; tree.nodes];
        let mut seen = vec![false; tree.nodes];
        for path in &tree.path {
            let (child, parent) = (path[level - 1] as usize, path[level] as usize);
            if seen[child] {
                continue;
            }
            seen[child] = true;
            let e = pos[child] - neg[child];
            net[parent] += e;
            if e > 0.0 {
                inner_pos[parent] += e;
            } else {
                inner_neg[parent] -= e;
            }
        }
        for node in 0..tree.nodes {
            if inner_pos[node] > 0.0 || inner_neg[node] > 0.0 {
                cost += level as f64 / h as f64 * inner_pos[node].min(inner_neg[node]);
                let e: f64 = net[node];
                pos[node] = e.max(0.0);
                neg[node] = (-e).max(0.0);
            }
        }
    }
    cost
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A consistent hierarchy over `domain` values: at each level values merge by halving,
    /// the top level is `*`.
    fn halving(name: &str, domain: usize, height: usize) -> Hierarchy {
        let rows = (0..domain)
            .map(|v| {
                let mut path = vec![format!("v{v}")];
                for level in 1..height {
                    if level + 1 == height {
                        path.push("*".to_string());
                    } else {
                        path.push(format!("g{level}_{}", v >> level));
                    }
                }
                path
            })
            .collect();
        Hierarchy::from_rows(name, rows).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Random records over the given (domain, height) dimensions (xorshift, fixed seed).
    fn data(spec: &[(usize, usize)], records: usize, seed: u64) -> AnonData {
        let header: Vec<String> = (0..spec.len()).map(|j| format!("a{j}")).collect();
        let qis: Vec<QuasiIdentifier> = spec
            .iter()
            .enumerate()
            .map(|(j, &(domain, height))| QuasiIdentifier {
                column: header[j].clone(),
                hierarchy: halving(&header[j], domain, height),
            })
            .collect();
        let mut x = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let rows: Vec<Vec<String>> = (0..records)
            .map(|_| {
                spec.iter()
                    .map(|&(domain, _)| {
                        // skewed, so that classes of several sizes appear
                        let v = (next() % domain as u64) * (next() % 2);
                        format!("v{v}")
                    })
                    .collect()
            })
            .collect();
        AnonData::new(&header, &rows, &qis, None).unwrap_or_else(|e| panic!("{e}"))
    }

    fn all_nodes(heights: &[usize]) -> Vec<Vec<usize>> {
        let mut nodes = vec![vec![]];
        for &h in heights {
            nodes = nodes
                .into_iter()
                .flat_map(|n| {
                    (0..h).map(move |l| {
                        let mut m = n.clone();
                        m.push(l);
                        m
                    })
                })
                .collect();
        }
        nodes
    }

    fn sorted(mut v: Vec<u32>) -> Vec<u32> {
        v.sort_unstable();
        v
    }

    /// Rolling a node's classes up from any node below it gives the classes, suppression and
    /// loss of grouping the tuples directly, whichever grouping table is used: dense (small
    /// domains), 64-bit hashed (large product) and 128-bit packed (product above 2⁶⁴).
    #[test]
    fn roll_up_equals_direct_grouping_on_every_key_path() {
        let cases: [&[(usize, usize)]; 3] = [
            &[(6, 3), (9, 4), (4, 2)],
            &[(3000, 3), (2500, 3), (5, 2)],
            &[(60000, 2), (60000, 2), (60000, 2), (60000, 2), (3, 2)],
        ];
        for (ci, spec) in cases.iter().enumerate() {
            let d = data(spec, 400, 0x9e37_79b9_7f4a_7c15 + ci as u64);
            let config = AnonConfig::k_anonymity(3, 0.2);
            let nodes = all_nodes(&d.heights());
            for b in &nodes {
                let (direct, g) = d.evaluate_from(b, &config, None);
                let g = g.unwrap_or_else(|| panic!("k-anonymity keeps groupings"));
                // the direct grouping is also the one `classes` gives
                let classes = d.classes(b).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(classes.sizes, g.sizes);
                for a in nodes
                    .iter()
                    .filter(|a| a.iter().zip(b).all(|(x, y)| x <= y))
                {
                    let (_, source) = d.evaluate_from(a, &config, None);
                    let source = source.unwrap_or_else(|| panic!("grouping"));
                    let (rolled, rg) = d.evaluate_from(b, &config, Some(&source));
                    let rg = rg.unwrap_or_else(|| panic!("grouping"));
                    assert_eq!(rolled, direct, "case {ci}: {a:?} -> {b:?}");
                    assert_eq!(sorted(rg.sizes), sorted(g.sizes.clone()));
                }
            }
        }
    }

    /// Terms computed apart and combined give `apply`'s aggregate to the bit (the search's lower
    /// bounds combine precomputed terms, and ties between nodes are decided on these values).
    #[test]
    fn terms_combined_equal_the_aggregate_to_the_bit() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        for q in 0..12 {
            for _ in 0..200 {
                let values: Vec<f64> = (0..q)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x >> 11) as f64 / (1u64 << 53) as f64
                    })
                    .collect();
                for aggregate in [Aggregate::ArithmeticMean, Aggregate::GeometricMean] {
                    let combined =
                        aggregate.combine(values.iter().map(|&v| aggregate.term(v, q)), q);
                    let applied = aggregate.apply(&values);
                    let naive = match (q, aggregate) {
                        (0, _) => 0.0,
                        (_, Aggregate::ArithmeticMean) => values.iter().sum::<f64>() / q as f64,
                        (_, Aggregate::GeometricMean) => {
                            values
                                .iter()
                                .map(|v| (v + 1.0).powf(1.0 / q as f64))
                                .product::<f64>()
                                - 1.0
                        }
                    };
                    assert_eq!(
                        combined.to_bits(),
                        applied.to_bits(),
                        "{aggregate:?} {values:?}"
                    );
                    assert_eq!(
                        applied.to_bits(),
                        naive.to_bits(),
                        "{aggregate:?} {values:?}"
                    );
                }
            }
        }
    }

    /// The loss summed over suppressed classes only equals summing every cell.
    #[test]
    fn attribute_loss_equals_the_sum_over_cells() {
        let d = data(&[(6, 3), (9, 4), (4, 2)], 300, 7);
        let config = AnonConfig::k_anonymity(4, 1.0);
        for node in all_nodes(&d.heights()) {
            let e = d.evaluate(&node, &config).unwrap_or_else(|e| panic!("{e}"));
            let classes = d.classes(&node).unwrap_or_else(|e| panic!("{e}"));
            let q = d.dimensions();
            for (j, dim) in d.dims.iter().enumerate() {
                let mut sum = 0.0;
                for (t, &c) in d.counts.iter().enumerate() {
                    let l = dim.cell_loss(node[j], d.tuples[t * q + j]);
                    let size = classes.sizes[classes.class_of_tuple[t] as usize];
                    let cell = if (size as usize) < 4 { 1.0 } else { l };
                    sum += cell * f64::from(c);
                }
                let expected = sum / d.len() as f64;
                assert!(
                    (e.attribute_loss[j] - expected).abs() < 1e-12,
                    "{node:?} dim {j}: {} vs {expected}",
                    e.attribute_loss[j]
                );
            }
        }
    }
}
