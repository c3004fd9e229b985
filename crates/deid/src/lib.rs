//! De-identification of tabular health data: TOML policies, per-column transforms and a
//! k-anonymity report.
//!
//! GB/T 39725-2020 §10.2 (de-identification guide), Table 6 (methods per attribute: delete or
//! blank names and contact details, shift dates per project, generalise), Appendix G (methods
//! per data element), §10.2 e) and §11.4.2.4 (every description shared by at least k ≥ 5
//! people); T/CI 857-2024 6.5 (data masking rules and their log).
//!
//! ```toml
//! name = "settlement-research"                 # required
//! k = 5                                        # default 5, at least 2 (nodes require 5: check_min_k)
//! quasi_identifiers = ["sex", "birth_date"]    # output columns the k check groups by
//! subject_column = "id_number"                 # whose dates are shifted together
//! date_shift_max_days = 30                     # offsets in [-30, -1] ∪ [1, 30]
//! default_action = "drop"                      # unlisted columns: "drop" (default) or "keep"
//!
//! [columns.person_name]
//! action = "drop"                              # or "blank": keep the column, empty every value
//! [columns.id_number]
//! action = "pseudonymize"                      # HMAC-SHA-256 → 32 hex chars; prefix = "PID-";
//!                                               # or format = "ff1": digits encrypted in place (FF1)
//! [columns.mobile]
//! action = "mask"                              # keep_first, keep_last, mask_char = "*"
//! keep_first = 3
//! keep_last = 4
//! [columns.birth_date]
//! action = "age_band"                          # "<25", "25-29", …, "85-89", ">89"
//! reference_column = "admission_time"          # or reference_date = "2025-01-01"
//! [columns.admission_time]
//! action = "date_shift"                        # per-subject offset, format kept
//! [columns.visit_date]
//! action = "year"                              # "YYYY"
//! [columns.county_code]
//! action = "truncate"                          # keep `length` chars, pad back with `pad`
//! length = 4
//! pad = "0"
//! [columns.sex]
//! action = "keep"
//! ```
//!
//! Dataset-level keys (all optional): `suppression_limit = 0.05` (share of records the search
//! may suppress), `sensitive = ["diagnosis"]`, `project = "p1"` (the key derivation's project
//! when the CLI is given none), `recoding = "global" | "local"`, `[l_diversity]` with
//! `kind = "distinct" | "entropy" | "recursive"`, `l` and (recursive) `c`, and `[t_closeness]`
//! with `t` and `distance = "equal" | "hierarchical"` (+ `hierarchy`), `population_table =
//! "areas.csv"` (`code,population` rows) and `min_area_population = 20000` (GB/T 39725-2020
//! §10.2 c) 1): `division_codes`, `township_codes`, `village_codes` and `postal_codes` values
//! are released only where their area covers that many people; without a table, never finer
//! than a prefecture — see [`population`]). Any column that releases values (`keep`, `generalize`, `truncate`, `year`,
//! `age_band`, `to_age`, `top_bottom_code`) may take `min_count = 5` (§11.4.2.4: a value fewer
//! records share is generalised along its hierarchy until enough do, or released as `*`). More
//! actions: `null`
//! (alias of `blank`), `generalize` with `hierarchy = "<built-in or path to an ARX CSV>"`
//! (built-ins: `age_bands`, `age_decades`, `dates`, `division_codes`, `township_codes` (9-digit
//! township or street codes), `village_codes` (12-digit), `postal_codes`, `icd10`, `suppress`)
//! and an optional fixed `level` (without one, `medspace deid --optimize` chooses it), `top_bottom_code` (`top`, `bottom`), `to_age` (`reference_column` or
//! `reference_date`), `to_duration` (`end_column`), `noise` (`scale`, `distribution`,
//! `decimals`; keyed, reproducible), `redact_spans` (`types = ["id_number", "phone",
//! "email", "date"]`) and `microaggregate` (numbers; GB/T 37964, GB/T 39725 §10.2 statistical
//! techniques):
//!
//! ```toml
//! [columns.total_fee]
//! action = "microaggregate"                    # records sorted by value, cut into groups of
//! group_size = 5                               # at least group_size (default: k); each value
//! aggregate = "mean"                           # → its group's "mean" (default) or "median",
//! decimals = 2                                 # rounded to decimals (default 2);
//! group_by = ["sex"]                           # optional: quasi-identifiers ordering the groups
//! ```
//!
//! [`deidentify_with`] runs the search and microaggregation (two passes over the input) and
//! fills the report's levels, utility and risk before and after.
//!
//! [`deidentify`] streams CSV to CSV; [`transform`] holds the per-cell functions for reuse by
//! other engines.
//!
//! Dataset-level anonymisation (ARX-compatible): [`hierarchy`] (generalisation hierarchies),
//! [`anon`] (encoding, classes, privacy criteria), [`lattice`] (optimal global recoding),
//! [`local`] (local recoding), [`metrics`] (loss, granularity, discernibility, AECS,
//! non-uniform entropy) and [`risk`] (prosecutor, journalist, marketer, uniqueness).
#![deny(missing_docs)]

pub mod anon;
pub mod engine;
pub mod ff1;
pub mod hierarchy;
pub mod kanon;
pub mod keys;
pub mod lattice;
pub mod local;
pub mod metrics;
pub mod micro;
pub mod policy;
pub mod population;
pub mod risk;
pub mod transform;

pub use anon::{
    Aggregate, AnonConfig, AnonData, AnonError, Classes, Criterion, NodeEval, QuasiIdentifier,
};
pub use engine::{
    deidentify, deidentify_batches, deidentify_batches_with, deidentify_reopenable,
    deidentify_with, detect_delimiter, file_risk, parameter_fingerprint, CellProblem, ColumnAction,
    ColumnRole, DeidError, DeidReport, FileRisk, Hierarchies, NoProgress, Progress, RunOptions,
    SearchSummary, SensitiveDiversity, TextBatches, Utility, DEFAULT_RISK_THRESHOLD,
};
pub use hierarchy::{Builtin, Hierarchy, HierarchyError};
pub use kanon::{KAnonymityCounter, KAnonymityReport};
pub use keys::{DeidKeys, MacAlgorithm};
pub use lattice::{evaluate_all, search_exhaustive, search_optimal, Lattice, SearchResult};
pub use local::{local_recoding, LocalResult};
pub use metrics::{quality, QualityReport, Recoding};
pub use micro::MicroError;
pub use policy::{
    Action, AgeReference, ColumnRule, DefaultAction, DeidPolicy, GroupStatistic, HierarchySpec,
    LDiversity, Location, NoiseKind, PolicyError, RecodingModel, SpanKind, TCloseness,
    ACTION_NAMES, BUILTIN_HIERARCHIES, MAX_GROUP_SIZE, NODE_MIN_K,
};
pub use population::{PopulationError, PopulationTable, DEFAULT_MIN_AREA_POPULATION};
pub use risk::{risk_from_class_sizes, RiskReport};
pub use transform::{MaskSpec, TransformError};
