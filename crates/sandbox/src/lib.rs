//! Sandboxed SQL analysis over granted columns, with output control.
//!
//! T/CI 857-2024 5.2 and 7.2.1 (原始数据不出域, 数据可用不可见: raw data stays in the domain and
//! is usable but not visible); GB/T 39725-2020 Table 2 (数据分析平台: analysis happens on the
//! platform, no raw data leaves it) and §11.4.2.4 (every shared description covers at least 5
//! people). The caller decrypts the granted datasets into memory; the sandbox loads them into a
//! fresh DataFusion session that exists for one query, with no file, URL or `information_schema`
//! access, no spilling to disk and a memory cap, and answers only if the result passes these
//! rules, all checked on DataFusion's logical plan (not on the SQL text). Tables arrive as typed
//! Arrow record batches (decrypted from the node's Parquet objects); the runtime's disk manager is
//! disabled, so an operator that would spill fails with a resources error and no temporary file
//! is ever written (T/CI 857-2024 7.2.5 c); DMS 4.3.1: nothing personal unencrypted on disk).
//!
//! 1. **One query.** Exactly one statement, and it is a query (`SELECT`, `WITH`, `UNION` …);
//!    DDL, DML, `COPY`, `SET`, `EXPLAIN` … are refused ([`SandboxError::NotAQuery`],
//!    [`SandboxError::MultipleStatements`]). See module `plan`.
//! 2. **Only granted data exists.** Each table is projected to its granted columns before it is
//!    registered, and only the given tables are registered; any other column or table fails with
//!    [`SandboxError::UnknownColumn`] / [`SandboxError::UnknownTable`]. See module `load`.
//! 3. **Row-level output only over low-level data.** A result is row-level when some path from
//!    the plan's root reaches a table without passing through an aggregation (window functions
//!    and `DISTINCT` do not aggregate); it is refused ([`SandboxError::RowLevelRefused`]) when
//!    a table it reaches is above [`SandboxOptions::max_row_level_level`]. See module `plan`.
//! 4. **No small groups.** Every group formed by every aggregation over records (subqueries
//!    included) covers at least [`SandboxOptions::min_group_size`] records, counted per table scan
//!    as distinct records so joins and unions cannot inflate a group; otherwise the whole result
//!    is refused ([`SandboxError::SmallGroup`]) without saying which group. See module `groups`.
//! 5. **Bounded output.** At most [`SandboxOptions::max_result_rows`] rows
//!    ([`SandboxError::TooManyRows`]); execution is capped at
//!    [`SandboxOptions::memory_limit_bytes`].
//!
//! Error messages never quote stored values (see module `error`).
#![deny(missing_docs)]

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use medspace_core::{ColumnSchema, Level};

mod error;
mod groups;
mod load;
mod output;
mod plan;

pub use datafusion::arrow;
pub use error::SandboxError;

/// A table the caller may query: its decrypted content as typed record batches, its full
/// schema, and the granted columns.
#[derive(Debug, Clone)]
pub struct SandboxTable {
    /// SQL table name (`[a-z_][a-z0-9_]*`).
    pub name: String,
    /// The content (held in memory only), typed per [`SandboxTable::schema`]: `Integer` → Int64,
    /// `Float` → Float64, `Text` → Utf8, all nullable. The batches may hold only the granted
    /// columns (the node reads just those from the stored Parquet object) or more; columns are
    /// matched by name, and any that are not granted are dropped before registration.
    pub batches: Vec<RecordBatch>,
    /// Schema of the whole dataset, in stored order.
    pub schema: Vec<ColumnSchema>,
    /// The only columns the query may see; the others are dropped before registration.
    pub granted_columns: Vec<String>,
    /// Highest level among the granted columns.
    pub level: Level,
}

impl SandboxTable {
    /// A table from plaintext CSV with a header row (tests and tools; the node loads batches from
    /// its encrypted Parquet objects). Only the granted columns are converted, with
    /// medspace-columnar's typed conversion; a cell that does not convert is reported by column
    /// and record number, never by value.
    pub fn from_csv(
        name: impl Into<String>,
        csv: &[u8],
        schema: Vec<ColumnSchema>,
        granted_columns: Vec<String>,
        level: Level,
    ) -> Result<Self, SandboxError> {
        let name = name.into();
        let mut projection: Vec<usize> = Vec::new();
        for g in &granted_columns {
            if let Some(i) = schema.iter().position(|c| &c.name == g) {
                if !projection.contains(&i) {
                    projection.push(i);
                }
            }
        }
        let batches = if projection.is_empty() {
            Vec::new()
        } else {
            medspace_columnar::csv_batches(&name, &schema, Some(&projection), csv)
                .and_then(|b| b.collect::<Result<Vec<_>, _>>())
                .map_err(|e| SandboxError::Data {
                    message: e.to_string(),
                })?
        };
        Ok(SandboxTable {
            name,
            batches,
            schema,
            granted_columns,
            level,
        })
    }
}

/// Output-control settings.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Smallest group an aggregate may show (GB/T 39725-2020 §11.4.2.4: 5).
    pub min_group_size: usize,
    /// Row-level results are allowed only over tables at or below this level (default L2).
    pub max_row_level_level: Level,
    /// Largest result, in rows (default 10 000).
    pub max_result_rows: usize,
    /// Memory limit of one query's execution, in bytes (default 512 MiB). Nothing spills to disk.
    pub memory_limit_bytes: usize,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            min_group_size: 5,
            max_row_level_level: Level::L2,
            max_result_rows: 10_000,
            memory_limit_bytes: 512 * 1024 * 1024,
        }
    }
}

/// A query result that passed output control.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows as JSON values, in column order.
    pub rows: Vec<Vec<serde_json::Value>>,
    /// The same result as CSV with a header row.
    pub csv: Vec<u8>,
    /// Whether the result shows individual records (rule 3).
    pub row_level: bool,
    /// Smallest group, in records, behind any aggregation over records (rule 4); `None` when the
    /// query has no such aggregation.
    pub smallest_group: Option<u64>,
}

fn session(opts: &SandboxOptions) -> Result<SessionContext, SandboxError> {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(GreedyMemoryPool::new(opts.memory_limit_bytes)))
        // Plaintext never reaches the disk: operators that would spill fail instead.
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        )
        .build_arc()
        .map_err(|e| SandboxError::Execution {
            message: e.strip_backtrace(),
        })?;
    let config = SessionConfig::new()
        .with_information_schema(false)
        .with_target_partitions(2);
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

/// Runs one query over `tables` under the output-control rules (see the crate documentation).
///
/// The tables exist only for this call. Checks run before the query is executed: rules 1–3 on
/// the plan, rule 4 by executing one counting query per aggregation.
pub async fn run_query(
    tables: Vec<SandboxTable>,
    sql: &str,
    opts: &SandboxOptions,
) -> Result<QueryOutput, SandboxError> {
    // Rule 1 on the AST: one statement, a query.
    let statement = plan::single_query(sql)?;

    // Rule 2: a fresh session with only the granted projections registered.
    let ctx = session(opts)?;
    let mut loaded: Vec<load::LoadedTable> = Vec::with_capacity(tables.len());
    for t in &tables {
        if loaded.iter().any(|l| l.name == t.name) {
            return Err(SandboxError::Data {
                message: format!("table `{}` is given twice", t.name),
            });
        }
        let l = load::load_table(t)?;
        ctx.register_table(l.name.as_str(), Arc::clone(&l.provider))
            .map_err(|e| SandboxError::Data {
                message: format!("table `{}`: {}", l.name, e.strip_backtrace()),
            })?;
        loaded.push(l);
    }
    drop(tables);
    let state = ctx.state();
    plan::check_table_references(&state, &statement, &loaded)?;
    let logical = state
        .statement_to_plan(statement)
        .await
        .map_err(error::plan_error)?;
    // Rule 1 on the plan.
    plan::verify_read_only(&logical)?;

    // Rule 3.
    let row_tables = plan::row_level_tables(&logical, &loaded)?;
    let row_level = !row_tables.is_empty();
    if let Some(level) = row_tables
        .iter()
        .filter_map(|i| loaded.get(*i).map(|t| t.level))
        .max()
    {
        if level > opts.max_row_level_level {
            return Err(SandboxError::RowLevelRefused { level: level.get() });
        }
    }

    // Rule 4.
    let mut smallest: Option<u64> = None;
    for agg in plan::record_aggregations(&logical, &loaded)? {
        if let Some(n) =
            groups::smallest_group(&ctx, &loaded, &agg, opts.memory_limit_bytes).await?
        {
            smallest = Some(smallest.map_or(n, |s| s.min(n)));
            if n < opts.min_group_size as u64 {
                return Err(SandboxError::SmallGroup {
                    min: opts.min_group_size,
                    smallest: n,
                });
            }
        }
    }

    // Rule 5, and the answer.
    let limited = LogicalPlanBuilder::from(logical)
        .limit(0, Some(opts.max_result_rows.saturating_add(1)))
        .and_then(|b| b.build())
        .map_err(error::plan_error)?;
    let physical = state
        .create_physical_plan(&limited)
        .await
        .map_err(error::plan_error)?;
    let schema = physical.schema();
    let batches = datafusion::physical_plan::collect(physical, ctx.task_ctx())
        .await
        .map_err(|e| error::run_error(&e, opts.memory_limit_bytes))?;
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    if total > opts.max_result_rows {
        return Err(SandboxError::TooManyRows {
            max: opts.max_result_rows,
        });
    }
    let columns = output::column_names(&schema);
    let rows = output::json_rows(&batches, &columns)?;
    let csv = output::csv_bytes(&schema, &batches)?;
    Ok(QueryOutput {
        columns,
        rows,
        csv,
        row_level,
        smallest_group: smallest,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

    use super::*;

    #[test]
    fn the_session_can_never_write_temporary_files() {
        let ctx = session(&SandboxOptions::default()).unwrap();
        assert!(!ctx.runtime_env().disk_manager.tmp_files_enabled());
    }
}
