//! Query spill never reaches the disk (T/CI 857-2024 7.2.5 c); DMS 4.3.1: nothing personal is ever
//! written unencrypted, query spill included). An aggregation that DataFusion would spill to temporary
//! files under a small memory limit fails in the sandbox with a resources error instead, and no
//! file appears in the temporary directory.
//!
//! This file holds one test: it points `TMPDIR` at a fresh directory for the whole process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use std::sync::Arc;

use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use medspace_core::{ColumnSchema, DataType, Level};
use medspace_sandbox::{run_query, SandboxError, SandboxOptions, SandboxTable};

const ROWS: usize = 300_000;
const MEMORY: usize = 4 * 1024 * 1024;
/// 300 000 distinct values: the hash aggregation outgrows the memory limit and, in plain
/// DataFusion, spills.
const SQL: &str = "SELECT count(DISTINCT v) AS n FROM t";

fn table() -> SandboxTable {
    let mut csv = String::from("v,w\n");
    for i in 0..ROWS {
        csv.push_str(&format!("{},{}\n", (i * 7919) % ROWS, i % 1000));
    }
    SandboxTable::from_csv(
        "t",
        csv.as_bytes(),
        vec![
            ColumnSchema {
                name: "v".into(),
                data_type: DataType::Integer,
            },
            ColumnSchema {
                name: "w".into(),
                data_type: DataType::Integer,
            },
        ],
        vec!["v".into(), "w".into()],
        Level::L1,
    )
    .unwrap()
}

fn spilled(plan: &Arc<dyn ExecutionPlan>) -> usize {
    let own = plan
        .metrics()
        .and_then(|m| m.spill_count())
        .unwrap_or_default();
    own + plan.children().into_iter().map(spilled).sum::<usize>()
}

fn files_in(dir: &std::path::Path) -> usize {
    fn walk(d: &std::path::Path) -> usize {
        std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    1 + walk(&e.path())
                } else {
                    1
                }
            })
            .sum()
    }
    walk(dir)
}

#[tokio::test]
async fn a_query_that_would_spill_fails_with_a_resources_error_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // Only test in this binary: no other thread reads the environment concurrently.
    std::env::set_var("TMPDIR", tmp.path());
    assert_eq!(std::env::temp_dir(), tmp.path());

    // Control: plain DataFusion with the same memory limit and its default (OS temp dir) disk
    // manager answers the query by spilling to temporary files.
    let t = table();
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(GreedyMemoryPool::new(MEMORY)))
        .build_arc()
        .unwrap();
    let config = SessionConfig::new()
        .with_target_partitions(2)
        .with_sort_spill_reservation_bytes(64 * 1024);
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    let schema = t.batches[0].schema();
    ctx.register_table(
        "t",
        Arc::new(MemTable::try_new(schema, vec![t.batches.clone()]).unwrap()),
    )
    .unwrap();
    let plan = ctx
        .sql(SQL)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let out = datafusion::physical_plan::collect(Arc::clone(&plan), ctx.task_ctx())
        .await
        .unwrap();
    assert_eq!(out.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    assert!(
        spilled(&plan) > 0,
        "the control query did not need to spill"
    );
    drop((plan, ctx));
    // The control's spill files are gone once its session is; start from an empty directory.
    for e in std::fs::read_dir(tmp.path()).unwrap().flatten() {
        let _ = std::fs::remove_dir_all(e.path());
    }
    assert_eq!(files_in(tmp.path()), 0);

    // The sandbox: the same query and memory limit fail with a resources error.
    let opts = SandboxOptions {
        memory_limit_bytes: MEMORY,
        max_result_rows: ROWS * 2,
        ..SandboxOptions::default()
    };
    let err = run_query(vec![t], SQL, &opts).await.unwrap_err();
    assert!(
        matches!(err, SandboxError::Execution { ref message } if message.contains(&format!("more than the sandbox's {MEMORY} bytes of memory"))),
        "{err:?}"
    );
    assert_eq!(
        files_in(tmp.path()),
        0,
        "the sandbox wrote a temporary file"
    );
}
