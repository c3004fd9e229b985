//! Properties of the small-group rule (GB/T 39725-2020 §11.4.2.4): over random data, a grouped
//! count is allowed exactly when every group has at least 5 records, and joins or unions that
//! multiply rows do not change the verdict.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use medspace_core::{ColumnSchema, DataType, Level};
use medspace_sandbox::{run_query, QueryOutput, SandboxError, SandboxOptions, SandboxTable};
use proptest::prelude::*;

const CATEGORIES: [&str; 5] = ["a", "b", "c", "d", "e"];

fn table(counts: &[usize], values: &[i64]) -> SandboxTable {
    let mut csv = String::from("cat,v\n");
    let mut next = values.iter().cycle();
    for (cat, n) in CATEGORIES.iter().zip(counts) {
        for _ in 0..*n {
            let v = next.next().copied().unwrap_or(0);
            csv.push_str(&format!("{cat},{v}\n"));
        }
    }
    SandboxTable::from_csv(
        "t",
        csv.as_bytes(),
        vec![
            ColumnSchema {
                name: "cat".into(),
                data_type: DataType::Text,
            },
            ColumnSchema {
                name: "v".into(),
                data_type: DataType::Integer,
            },
        ],
        vec!["cat".into(), "v".into()],
        Level::L3,
    )
    .unwrap()
}

fn query(t: SandboxTable, sql: &str) -> Result<QueryOutput, SandboxError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(run_query(vec![t], sql, &SandboxOptions::default()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn grouped_counts_are_allowed_iff_every_group_has_five(
        counts in proptest::collection::vec(0usize..9, 5),
    ) {
        let present: Vec<(usize, &str)> = counts
            .iter()
            .zip(CATEGORIES)
            .filter(|(n, _)| **n > 0)
            .map(|(n, c)| (*n, c))
            .collect();
        let smallest = present.iter().map(|(n, _)| *n as u64).min();
        let allowed = smallest.is_none_or(|s| s >= 5);
        let sqls = [
            "SELECT cat, count(*) AS n FROM t GROUP BY cat ORDER BY cat",
            // Row multiplication must not help a small group through.
            "SELECT a.cat, count(*) AS n FROM t a CROSS JOIN t b GROUP BY a.cat ORDER BY a.cat",
            "SELECT cat, count(*) AS n FROM (SELECT * FROM t UNION ALL SELECT * FROM t) u \
             GROUP BY cat ORDER BY cat",
        ];
        for (i, sql) in sqls.iter().enumerate() {
            let result = query(table(&counts, &[1]), sql);
            if allowed {
                let out = result.map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))?;
                prop_assert_eq!(out.smallest_group, smallest, "{}", sql);
                if i == 0 {
                    let got: Vec<(String, i64)> = out
                        .rows
                        .iter()
                        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_i64().unwrap()))
                        .collect();
                    let want: Vec<(String, i64)> = present
                        .iter()
                        .map(|(n, c)| (c.to_string(), *n as i64))
                        .collect();
                    prop_assert_eq!(got, want);
                }
            } else {
                match result {
                    Err(SandboxError::SmallGroup { min: 5, smallest: s }) => {
                        prop_assert_eq!(Some(s), smallest, "{}", sql);
                    }
                    other => prop_assert!(false, "{}: expected SmallGroup, got {:?}", sql, other),
                }
            }
        }
    }

    #[test]
    fn integer_columns_load_exactly(
        values in proptest::collection::vec(-1_000_000_000i64..1_000_000_000, 5..40),
    ) {
        let n = values.len();
        let out = query(
            table(&[n, 0, 0, 0, 0], &values),
            "SELECT count(*) AS n, sum(v) AS s, min(v) AS lo, max(v) AS hi FROM t",
        )
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let row = &out.rows[0];
        prop_assert_eq!(row[0].as_i64(), Some(n as i64));
        prop_assert_eq!(row[1].as_i64(), Some(values.iter().sum::<i64>()));
        prop_assert_eq!(row[2].as_i64(), values.iter().min().copied());
        prop_assert_eq!(row[3].as_i64(), values.iter().max().copied());
    }
}
