//! Rule 4: every group of every aggregation covers at least the minimum number of records.
//!
//! GB/T 39725-2020 §11.4.2.4 (a shared description of a group covers at least 5 people; smaller
//! cells are suppressed) and T/CI 857-2024 7.2.1. The whole result is refused if any group is too
//! small, without saying which group.
//!
//! # What is counted
//!
//! For each aggregation whose input carries records (see [`crate::plan::record_aggregations`]),
//! the check re-runs the aggregation's *input* with the aggregation's own `GROUP BY` (grouping sets
//! included) and measures each group as it is formed, before `HAVING`, `ORDER BY` or `LIMIT`:
//!
//! * records, not rows: each scan of a sandbox table below the aggregation is traced with a
//!   record number (a copy of the table with one extra column, never registered, so the query
//!   cannot see it), and a group's size for that scan is `count(DISTINCT record)`. A self-join, a
//!   cross join with `VALUES`/`generate_series`, or `UNION ALL` of a table with itself multiplies
//!   rows but not records, so it cannot inflate a group of 2 past the minimum;
//! * per scan: every scan that contributes to a group must contribute at least the minimum (a
//!   scan contributing no record — the missing side of an outer join, the other branch of a
//!   `UNION` — reveals nothing about it and is skipped). Scans of level-1 (public) tables, such as
//!   code lists joined for labels, are exempt when a scan of a higher level is present;
//! * per aggregate function: a function only sees the records whose arguments are not NULL and
//!   that pass its `FILTER (WHERE …)` clause, so those records are counted too:
//!   `sum(fee) FILTER (WHERE diagnosis = 'X')` or `avg(CASE WHEN … THEN fee END)` over a
//!   large group is refused when only 2 records feed it (a count of 0 is allowed: it shows that
//!   no record qualifies, and is NULL or 0 for every group alike);
//! * a global aggregation (no `GROUP BY`) forms one group even when no record qualifies; that
//!   group has 0 records and is refused like any other small group.
//!
//! # Not covered
//!
//! Arithmetic that singles out records inside an argument that is never NULL
//! (`sum(CASE WHEN id = … THEN fee ELSE 0 END)`), differencing between two allowed queries, and
//! `min`/`max` showing one record's value within a large enough group are outside this rule.
//! Correlated subqueries containing aggregations cannot be re-run on their own and are refused
//! as unverifiable; `UNNEST`, `DISTINCT ON` and recursive queries below an aggregation likewise.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array, RecordBatch};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::functions_aggregate::count::count_udaf;
use datafusion::functions_aggregate::expr_fn::{count, max, min};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    col, lit, when, Aggregate, Distinct, Expr, LogicalPlan, LogicalPlanBuilder, Projection, Union,
};
use datafusion::prelude::SessionContext;
use medspace_core::Level;

use crate::error::{run_error, SandboxError};
use crate::load::{LoadedTable, RID_COLUMN};
use crate::plan::{scanned_table, MAX_DEPTH};

type Result<T> = std::result::Result<T, SandboxError>;

fn unverifiable(reason: impl Into<String>) -> SandboxError {
    SandboxError::Unverifiable {
        reason: reason.into(),
    }
}

fn engine(e: datafusion::common::DataFusionError) -> SandboxError {
    unverifiable(e.strip_backtrace())
}

fn rid_name(k: usize) -> String {
    format!("__medspace_rid_{k}")
}

/// A reference to traced scan `k`'s record number in `schema` (qualified as the schema has it).
fn rid_ref(schema: &DFSchema, k: usize) -> Result<Expr> {
    let name = rid_name(k);
    let (qualifier, _) = schema
        .qualified_field_with_unqualified_name(&name)
        .map_err(engine)?;
    Ok(Expr::Column(Column::new(qualifier.cloned(), name)))
}

/// Rewrites a plan so that it also carries, for every scan of a sandbox table, that scan's
/// record number (`__medspace_rid_k`).
struct Tracer<'a> {
    tables: &'a [LoadedTable],
    /// Table index of each traced scan `k`.
    scans: Vec<usize>,
}

impl Tracer<'_> {
    /// The rewritten plan and the traced scans present in its output.
    fn trace(&mut self, plan: &LogicalPlan, depth: usize) -> Result<(LogicalPlan, Vec<usize>)> {
        if depth > MAX_DEPTH {
            return Err(unverifiable(format!(
                "the query is nested more than {MAX_DEPTH} levels deep"
            )));
        }
        match plan {
            LogicalPlan::TableScan(scan) => {
                let Some((i, table)) = scanned_table(scan, self.tables)
                    .and_then(|i| self.tables.get(i).map(|t| (i, t)))
                else {
                    // A table function: no records of anyone.
                    return Ok((plan.clone(), Vec::new()));
                };
                let k = self.scans.len();
                self.scans.push(i);
                let mut b = LogicalPlanBuilder::scan(
                    scan.table_name.clone(),
                    Arc::clone(&table.traced),
                    None,
                )
                .map_err(engine)?;
                if let Some(f) = conjunction(scan.filters.clone()) {
                    b = b.filter(f).map_err(engine)?;
                }
                if let Some(n) = scan.fetch {
                    b = b.limit(0, Some(n)).map_err(engine)?;
                }
                let mut exprs: Vec<Expr> = scan
                    .projected_schema
                    .iter()
                    .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
                    .collect();
                exprs.push(
                    Expr::Column(Column::new(Some(scan.table_name.clone()), RID_COLUMN))
                        .alias(rid_name(k)),
                );
                let traced = b.project(exprs).and_then(|b| b.build()).map_err(engine)?;
                Ok((traced, vec![k]))
            }
            LogicalPlan::Projection(p) => {
                let (input, ks) = self.trace(&p.input, depth + 1)?;
                let mut exprs = p.expr.clone();
                for k in &ks {
                    exprs.push(rid_ref(input.schema(), *k)?);
                }
                let projection = Projection::try_new(exprs, Arc::new(input)).map_err(engine)?;
                Ok((LogicalPlan::Projection(projection), ks))
            }
            // Already aggregated: its groups are checked on their own.
            LogicalPlan::Aggregate(a) if !a.aggr_expr.is_empty() => Ok((plan.clone(), Vec::new())),
            // GROUP BY without aggregate functions: the records behind each output row are those
            // of its group; keep one row per record, with the same output columns.
            LogicalPlan::Aggregate(a) => {
                if a.group_expr
                    .iter()
                    .any(|e| matches!(e, Expr::GroupingSet(_)))
                {
                    return Err(unverifiable(
                        "GROUPING SETS, ROLLUP or CUBE without aggregate functions below an \
                         aggregation",
                    ));
                }
                let (input, ks) = self.trace(&a.input, depth + 1)?;
                let mut exprs: Vec<Expr> = a
                    .group_expr
                    .iter()
                    .zip(a.schema.iter())
                    .map(|(e, (q, f))| e.clone().alias_qualified(q.cloned(), f.name()))
                    .collect();
                for k in &ks {
                    exprs.push(rid_ref(input.schema(), *k)?);
                }
                let projection = Projection::try_new(exprs, Arc::new(input)).map_err(engine)?;
                Ok((LogicalPlan::Projection(projection), ks))
            }
            // The records behind the distinct rows are the records of its input.
            LogicalPlan::Distinct(Distinct::All(input)) => self.trace(input, depth + 1),
            LogicalPlan::Union(u) => {
                let mut branches = Vec::with_capacity(u.inputs.len());
                let mut all = Vec::new();
                for input in &u.inputs {
                    let (b, ks) = self.trace(input, depth + 1)?;
                    all.extend(ks.iter().copied());
                    branches.push((b, ks));
                }
                let mut aligned = Vec::with_capacity(branches.len());
                for (b, ks) in branches {
                    let mut exprs: Vec<Expr> = b
                        .schema()
                        .iter()
                        .filter(|(_, f)| !ks.iter().any(|k| f.name() == &rid_name(*k)))
                        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())))
                        .collect();
                    for k in &all {
                        exprs.push(if ks.contains(k) {
                            rid_ref(b.schema(), *k)?
                        } else {
                            lit(ScalarValue::Int64(None)).alias(rid_name(*k))
                        });
                    }
                    let p = Projection::try_new(exprs, Arc::new(b)).map_err(engine)?;
                    aligned.push(Arc::new(LogicalPlan::Projection(p)));
                }
                let union = Union::try_new_with_loose_types(aligned).map_err(engine)?;
                Ok((LogicalPlan::Union(union), all))
            }
            LogicalPlan::Filter(_)
            | LogicalPlan::Sort(_)
            | LogicalPlan::Limit(_)
            | LogicalPlan::SubqueryAlias(_)
            | LogicalPlan::Window(_)
            | LogicalPlan::Repartition(_)
            | LogicalPlan::Join(_) => {
                let mut inputs = Vec::new();
                let mut ks = Vec::new();
                for input in plan.inputs() {
                    let (p, k) = self.trace(input, depth + 1)?;
                    inputs.push(p);
                    ks.extend(k);
                }
                let rebuilt = plan
                    .with_new_exprs(plan.expressions(), inputs)
                    .map_err(engine)?;
                // Semi and anti joins keep one side only.
                ks.retain(|k| {
                    rebuilt
                        .schema()
                        .has_column_with_unqualified_name(&rid_name(*k))
                });
                Ok((rebuilt, ks))
            }
            LogicalPlan::Values(_) | LogicalPlan::EmptyRelation(_) => {
                Ok((plan.clone(), Vec::new()))
            }
            other => Err(unverifiable(format!(
                "{} below an aggregation",
                node_kind(other)
            ))),
        }
    }
}

fn node_kind(plan: &LogicalPlan) -> &'static str {
    match plan {
        LogicalPlan::Unnest(_) => "UNNEST",
        LogicalPlan::Distinct(Distinct::On(_)) => "DISTINCT ON",
        LogicalPlan::RecursiveQuery(_) => "a recursive query",
        LogicalPlan::Subquery(_) => "a subquery",
        _ => "this operation",
    }
}

/// The conditions under which an aggregate function of `aggr_expr` sees a record: its
/// arguments are not NULL and its `FILTER` clause holds. Functions that see every record (e.g.
/// `count(*)`) give no condition.
fn feeding_conditions(aggr_expr: &[Expr]) -> Result<Vec<Expr>> {
    let mut out: Vec<Expr> = Vec::new();
    for e in aggr_expr {
        e.apply(|x| {
            if let Expr::AggregateFunction(f) = x {
                if f.func.name() != "grouping" {
                    let mut parts: Vec<Expr> = f
                        .params
                        .args
                        .iter()
                        .filter(|a| !a.column_refs().is_empty())
                        .map(|a| a.clone().is_not_null())
                        .collect();
                    if let Some(filter) = &f.params.filter {
                        parts.push(filter.as_ref().clone());
                    }
                    if let Some(c) = conjunction(parts) {
                        if !out.contains(&c) {
                            out.push(c);
                        }
                    }
                }
                return Ok(TreeNodeRecursion::Jump);
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .map_err(engine)?;
    }
    Ok(out)
}

/// Whether the plan refers to columns of an enclosing query.
fn correlated(plan: &LogicalPlan) -> Result<bool> {
    let mut found = false;
    plan.apply(|node| {
        found = node.expressions().iter().any(Expr::contains_outer);
        Ok(if found {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })
    .map_err(engine)?;
    Ok(found)
}

fn count_distinct_where(expr: Expr, filter: Option<Expr>) -> Expr {
    Expr::AggregateFunction(AggregateFunction::new_udf(
        count_udaf(),
        vec![expr],
        true,
        filter.map(Box::new),
        vec![],
        None,
    ))
}

/// The smallest group of one aggregation, in records (`None` when it forms no group).
pub(crate) async fn smallest_group(
    ctx: &SessionContext,
    tables: &[LoadedTable],
    agg: &Aggregate,
    memory_limit_bytes: usize,
) -> Result<Option<u64>> {
    if correlated(&agg.input)? {
        return Err(unverifiable(
            "an aggregation inside a correlated subquery cannot be counted on its own; rewrite \
             it as a join with a grouped subquery",
        ));
    }
    let mut tracer = Tracer {
        tables,
        scans: Vec::new(),
    };
    let (input, ks) = tracer.trace(&agg.input, 0)?;
    let level_of = |k: &usize| {
        tracer
            .scans
            .get(*k)
            .and_then(|i| tables.get(*i))
            .map_or(Level::L5, |t| t.level)
    };
    let mut checked: Vec<usize> = ks
        .iter()
        .copied()
        .filter(|k| level_of(k) > Level::L1)
        .collect();
    if checked.is_empty() {
        checked = ks.clone();
    }
    if checked.is_empty() {
        return Err(unverifiable(
            "the records behind an aggregation cannot be traced",
        ));
    }

    // Per group: distinct records of each checked scan, overall and per feeding condition.
    let conditions = feeding_conditions(&agg.aggr_expr)?;
    let mut counts = Vec::new();
    let mut overall = Vec::new();
    let mut all_names = Vec::new();
    for k in &checked {
        let rid = rid_ref(input.schema(), *k)?;
        let name = format!("__medspace_n{}", all_names.len());
        counts.push(count_distinct_where(rid.clone(), None).alias(&name));
        overall.push(name.clone());
        all_names.push(name);
        for c in &conditions {
            let name = format!("__medspace_n{}", all_names.len());
            counts.push(count_distinct_where(rid.clone(), Some(c.clone())).alias(&name));
            all_names.push(name);
        }
    }
    // Over all groups: the smallest non-zero count of each column, whether some group has no
    // record at all, and the number of groups.
    let mut summary = Vec::new();
    for (j, name) in all_names.iter().enumerate() {
        let positive = when(col(name.as_str()).gt(lit(0i64)), col(name.as_str()))
            .end()
            .map_err(engine)?;
        summary.push(min(positive).alias(format!("__medspace_m{j}")));
    }
    let empty = conjunction(overall.iter().map(|n| col(n.as_str()).eq(lit(0i64))))
        .unwrap_or_else(|| lit(false));
    summary.push(
        max(when(empty, lit(1i64))
            .otherwise(lit(0i64))
            .map_err(engine)?)
        .alias("__medspace_empty"),
    );
    summary.push(count(lit(1i64)).alias("__medspace_groups"));

    let plan = LogicalPlanBuilder::from(input)
        .aggregate(agg.group_expr.clone(), counts)
        .and_then(|b| b.aggregate(Vec::<Expr>::new(), summary))
        .and_then(|b| b.build())
        .map_err(engine)?;
    let physical = ctx
        .state()
        .create_physical_plan(&plan)
        .await
        .map_err(engine)?;
    let batches = datafusion::physical_plan::collect(physical, ctx.task_ctx())
        .await
        .map_err(|e| run_error(&e, memory_limit_bytes))?;
    read_summary(&batches, all_names.len())
}

fn int_at(batch: &RecordBatch, column: usize) -> Option<i64> {
    let a = batch
        .columns()
        .get(column)?
        .as_any()
        .downcast_ref::<Int64Array>()?;
    (a.len() == 1 && a.is_valid(0)).then(|| a.value(0))
}

fn read_summary(batches: &[RecordBatch], columns: usize) -> Result<Option<u64>> {
    let Some(row) = batches.iter().find(|b| b.num_rows() == 1) else {
        return Err(unverifiable("the group sizes could not be read"));
    };
    let groups = int_at(row, columns + 1).unwrap_or(0);
    if groups == 0 {
        return Ok(None);
    }
    if int_at(row, columns) == Some(1) {
        return Ok(Some(0));
    }
    let smallest = (0..columns)
        .filter_map(|j| int_at(row, j))
        .min()
        .unwrap_or(0);
    Ok(Some(u64::try_from(smallest).unwrap_or(0)))
}
