//! Rules 1–3 of the sandbox, checked on the SQL statement and on DataFusion's logical plan.
//!
//! T/CI 857-2024 5.2 and 7.2.1 (原始数据不出域, 数据可用不可见: only results of analysis leave the
//! domain); GB/T 39725-2020 Table 2 (数据分析平台) and §11.4.2.4.
//!
//! * Rule 1 — one statement, and it is a query. Checked on the parsed AST (the statement must be
//!   `Statement::Query`) and again on the plan with DDL, DML and statements disabled
//!   ([`SQLOptions::verify_plan`]); `SELECT … INTO` is caught by the second check.
//! * Rule 2 — only granted tables and columns exist. Every table reference of the statement is
//!   resolved before planning; columns that are not granted were never registered (see
//!   [`crate::load`]), so naming one fails planning with a field-not-found error.
//! * Rule 3 — a result is *row-level* when some path from the plan's root reaches a scan of a
//!   sandbox table without passing through an aggregation with aggregate functions. `DISTINCT`,
//!   `GROUP BY` without aggregate functions and window functions do not count as aggregation.
//!   Subqueries in the expressions of a node on such a path (a scalar subquery in the select list,
//!   `IN (SELECT …)` in a filter) are paths too: they decide which records are shown. A row-level
//!   result is allowed only if every table it reaches is at or below the configured level.
//!
//! The checks run on the **unoptimized** plan: it is the query as written. The optimizer rewrites
//! aggregations (`count(DISTINCT x)` becomes a nested `GROUP BY x`, decorrelation adds joins and
//! aggregations, projections and filters move), which would make the structure being checked
//! depend on optimizer rules rather than on what the user asked for.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, TableReference};
use datafusion::datasource::source_as_provider;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Aggregate, Expr, LogicalPlan, TableScan};
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::Statement;

use crate::error::SandboxError;
use crate::load::LoadedTable;

/// Deepest plan the sandbox walks; deeper queries are refused rather than risking the stack.
pub(crate) const MAX_DEPTH: usize = 256;

/// Aggregate functions whose result is a statistic of the group. Functions that return one
/// record's value or a list of values (`array_agg`, `string_agg`, `first_value`, `last_value`,
/// `nth_value`, `any_value`) are refused over records; they stay allowed over already-checked
/// aggregates. `min`/`max` (and the median, percentiles) are allowed: they are order statistics of a
/// group that has passed the small-group check.
pub(crate) const STATISTIC_AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "median",
    "stddev",
    "stddev_pop",
    "var",
    "var_pop",
    "covar_samp",
    "covar_pop",
    "corr",
    "regr_slope",
    "regr_intercept",
    "regr_count",
    "regr_r2",
    "regr_avgx",
    "regr_avgy",
    "regr_sxx",
    "regr_syy",
    "regr_sxy",
    "approx_distinct",
    "approx_median",
    "approx_percentile_cont",
    "approx_percentile_cont_with_weight",
    "percentile_cont",
    "bool_and",
    "bool_or",
    "bit_and",
    "bit_or",
    "bit_xor",
    "grouping",
];

fn too_deep() -> SandboxError {
    SandboxError::Unverifiable {
        reason: format!("the query is nested more than {MAX_DEPTH} levels deep"),
    }
}

fn engine(e: DataFusionError) -> SandboxError {
    SandboxError::Unverifiable {
        reason: e.strip_backtrace(),
    }
}

/// Rule 1: parses `sql` and returns its only statement if it is a query.
pub(crate) fn single_query(sql: &str) -> Result<DFStatement, SandboxError> {
    let mut statements = DFParser::parse_sql(sql).map_err(|e| SandboxError::Parse {
        message: e.strip_backtrace(),
    })?;
    if statements.len() > 1 {
        return Err(SandboxError::MultipleStatements);
    }
    let Some(statement) = statements.pop_front() else {
        return Err(SandboxError::Parse {
            message: "no SQL statement given".into(),
        });
    };
    match &statement {
        DFStatement::Statement(s) if matches!(**s, Statement::Query(_)) => Ok(statement),
        DFStatement::Statement(s) => Err(SandboxError::NotAQuery {
            kind: statement_kind(&s.to_string()),
        }),
        DFStatement::CreateExternalTable(_) => Err(SandboxError::NotAQuery {
            kind: "CREATE EXTERNAL TABLE".into(),
        }),
        DFStatement::CopyTo(_) => Err(SandboxError::NotAQuery {
            kind: "COPY".into(),
        }),
        DFStatement::Explain(_) => Err(SandboxError::NotAQuery {
            kind: "EXPLAIN".into(),
        }),
        DFStatement::Reset(_) => Err(SandboxError::NotAQuery {
            kind: "RESET".into(),
        }),
    }
}

/// The leading keywords of a statement (`DROP TABLE`, `INSERT`, `SET` …), for messages.
fn statement_kind(text: &str) -> String {
    let words: Vec<String> = text
        .split_whitespace()
        .take(3)
        .map(str::to_ascii_uppercase)
        .collect();
    let first = words
        .first()
        .map(String::as_str)
        .unwrap_or("this statement");
    let takes_object = matches!(
        first,
        "CREATE" | "DROP" | "ALTER" | "TRUNCATE" | "SHOW" | "DESCRIBE"
    );
    match (takes_object, words.get(1)) {
        (true, Some(second)) if second.chars().all(|c| c.is_ascii_alphabetic()) => {
            format!("{first} {second}")
        }
        _ => first.to_string(),
    }
}

/// Rule 2: every table the statement names is one of the sandbox tables (or a built-in table
/// function such as `generate_series`, which produces no records of anyone).
pub(crate) fn check_table_references(
    state: &SessionState,
    statement: &DFStatement,
    tables: &[LoadedTable],
) -> Result<(), SandboxError> {
    let references =
        state
            .resolve_table_references(statement)
            .map_err(|e| SandboxError::Parse {
                message: e.strip_backtrace(),
            })?;
    for r in references {
        let default_place = match &r {
            TableReference::Bare { .. } => true,
            TableReference::Partial { schema, .. } => schema.as_ref() == "public",
            TableReference::Full {
                catalog, schema, ..
            } => catalog.as_ref() == "datafusion" && schema.as_ref() == "public",
        };
        let known = default_place
            && (tables.iter().any(|t| t.name == r.table())
                || state.table_functions().contains_key(r.table()));
        if !known {
            return Err(SandboxError::UnknownTable {
                table: r.to_string(),
            });
        }
    }
    Ok(())
}

/// Rule 1, second line of defence: the plan contains no DDL, DML or statement.
pub(crate) fn verify_read_only(plan: &LogicalPlan) -> Result<(), SandboxError> {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
        .verify_plan(plan)
        .map_err(|e| SandboxError::NotAQuery {
            kind: match e.find_root() {
                DataFusionError::Plan(m) => m.clone(),
                other => other.strip_backtrace(),
            },
        })
}

/// Index of the sandbox table a scan reads, if it reads one (identified by the provider itself,
/// not by name).
pub(crate) fn scanned_table(scan: &TableScan, tables: &[LoadedTable]) -> Option<usize> {
    let provider = source_as_provider(&scan.source).ok()?;
    tables
        .iter()
        .position(|t| std::ptr::addr_eq(Arc::as_ptr(&t.provider), Arc::as_ptr(&provider)))
}

/// The subquery plans used by this node's own expressions.
fn subqueries(plan: &LogicalPlan) -> Result<Vec<LogicalPlan>, SandboxError> {
    let mut out = Vec::new();
    plan.apply_subqueries(|sq| {
        if let LogicalPlan::Subquery(s) = sq {
            out.push(s.subquery.as_ref().clone());
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(engine)?;
    Ok(out)
}

/// Whether an aggregation summarises its input (has aggregate functions). `GROUP BY` without
/// aggregate functions is a `DISTINCT`: it shows the records' values.
fn summarises(a: &Aggregate) -> bool {
    !a.aggr_expr.is_empty()
}

/// Rule 3: the sandbox tables (indices) whose records reach the result without aggregation.
/// Empty means the result is not row-level.
pub(crate) fn row_level_tables(
    plan: &LogicalPlan,
    tables: &[LoadedTable],
) -> Result<BTreeSet<usize>, SandboxError> {
    let mut out = BTreeSet::new();
    collect_row_tables(plan, tables, &mut out, 0)?;
    Ok(out)
}

fn collect_row_tables(
    plan: &LogicalPlan,
    tables: &[LoadedTable],
    out: &mut BTreeSet<usize>,
    depth: usize,
) -> Result<(), SandboxError> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    match plan {
        LogicalPlan::TableScan(scan) => {
            if let Some(i) = scanned_table(scan, tables) {
                out.insert(i);
            }
        }
        LogicalPlan::Aggregate(a) if summarises(a) => {}
        other => {
            for input in other.inputs() {
                collect_row_tables(input, tables, out, depth + 1)?;
            }
        }
    }
    // Subqueries in this node's expressions (conservatively also those of an aggregation's own
    // expressions, e.g. `max((SELECT fee …))`).
    for sq in subqueries(plan)? {
        collect_row_tables(&sq, tables, out, depth + 1)?;
    }
    Ok(())
}

/// Whether records of a sandbox table reach `plan`'s output without passing through an
/// aggregation (ignoring expression subqueries: they filter, they are not counted).
pub(crate) fn reaches_records(
    plan: &LogicalPlan,
    tables: &[LoadedTable],
    depth: usize,
) -> Result<bool, SandboxError> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    Ok(match plan {
        LogicalPlan::TableScan(scan) => scanned_table(scan, tables).is_some(),
        LogicalPlan::Aggregate(a) if summarises(a) => false,
        other => {
            for input in other.inputs() {
                if reaches_records(input, tables, depth + 1)? {
                    return Ok(true);
                }
            }
            false
        }
    })
}

/// Rule 4's subjects: every aggregation in the plan (subqueries included) whose input carries
/// records. An aggregation over already-aggregated rows summarises groups that are checked
/// themselves. Their aggregate functions must be statistics ([`STATISTIC_AGGREGATES`]).
pub(crate) fn record_aggregations(
    plan: &LogicalPlan,
    tables: &[LoadedTable],
) -> Result<Vec<Aggregate>, SandboxError> {
    let mut found = Vec::new();
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Aggregate(a) = node {
            found.push(a.clone());
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(engine)?;
    let mut out = Vec::new();
    for a in found {
        if reaches_records(&a.input, tables, 0)? {
            for e in &a.aggr_expr {
                check_statistics(e)?;
            }
            out.push(a);
        }
    }
    Ok(out)
}

fn check_statistics(e: &Expr) -> Result<(), SandboxError> {
    let mut refused: Option<String> = None;
    e.apply(|x| {
        if let Expr::AggregateFunction(f) = x {
            let name = f.func.name();
            if !STATISTIC_AGGREGATES.contains(&name) {
                refused = Some(name.to_string());
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map_err(engine)?;
    match refused {
        Some(name) => Err(SandboxError::Unverifiable {
            reason: format!(
                "aggregate function `{name}` returns individual values rather than a statistic \
                 of the group; use count, sum, avg, min, max, stddev …"
            ),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

    use super::*;

    #[test]
    fn statement_kinds_are_named() {
        assert_eq!(statement_kind("DROP TABLE claims"), "DROP TABLE");
        assert_eq!(statement_kind("insert into claims values (1)"), "INSERT");
        assert_eq!(statement_kind("SET datafusion.x = 1"), "SET");
        assert_eq!(statement_kind("CREATE TABLE t AS SELECT 1"), "CREATE TABLE");
        assert_eq!(statement_kind(""), "this statement");
    }

    #[test]
    fn only_single_queries_pass() {
        assert!(single_query("SELECT 1").is_ok());
        assert!(single_query("WITH t AS (SELECT 1 AS a) SELECT a FROM t").is_ok());
        assert!(single_query("SELECT 1 UNION ALL SELECT 2;").is_ok());
        assert!(matches!(
            single_query("SELECT 1; SELECT 2"),
            Err(SandboxError::MultipleStatements)
        ));
        assert!(matches!(
            single_query("   "),
            Err(SandboxError::Parse { .. })
        ));
        for (sql, kind) in [
            ("DROP TABLE claims", "DROP TABLE"),
            ("COPY claims TO '/tmp/x.csv'", "COPY"),
            ("EXPLAIN SELECT 1", "EXPLAIN"),
            (
                "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
                "CREATE EXTERNAL TABLE",
            ),
            ("SET datafusion.execution.batch_size = 1", "SET"),
            ("DELETE FROM claims", "DELETE"),
            ("UPDATE claims SET fee = 0", "UPDATE"),
        ] {
            match single_query(sql) {
                Err(SandboxError::NotAQuery { kind: k }) => assert_eq!(k, kind, "{sql}"),
                other => panic!("{sql}: {other:?}"),
            }
        }
    }

    #[test]
    fn parse_errors_say_where() {
        let Err(SandboxError::Parse { message }) = single_query("SELECT count(* FROM claims")
        else {
            panic!("expected a parse error")
        };
        assert!(message.contains("Line: 1"), "{message}");
    }

    #[test]
    fn allowed_statistics_exist_and_list_functions_are_not_allowed() {
        let names: Vec<String> = datafusion::functions_aggregate::all_default_aggregate_functions()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        for allowed in STATISTIC_AGGREGATES {
            assert!(
                names.iter().any(|n| n == allowed),
                "unknown function {allowed}"
            );
        }
        for listing in [
            "array_agg",
            "string_agg",
            "first_value",
            "last_value",
            "nth_value",
            "any_value",
        ] {
            assert!(names.iter().any(|n| n == listing), "{listing} missing");
            assert!(!STATISTIC_AGGREGATES.contains(&listing), "{listing}");
        }
    }
}
