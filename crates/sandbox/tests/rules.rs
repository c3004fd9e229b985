//! Sandbox rules, table-driven: allowed queries return the right values; every refusal has its
//! reason (T/CI 857-2024 7.2.1; GB/T 39725-2020 Table 2 and §11.4.2.4).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use medspace_core::{ColumnSchema, DataType, Level};
use medspace_sandbox::{run_query, QueryOutput, SandboxError, SandboxOptions, SandboxTable};
use serde_json::{json, Value};

/// 40 claims. sex: odd i 男, even i 女 (20 each); age_band: i ≤ 20 `25-29`, else `30-34`;
/// county: 4 codes, 10 each; diagnosis: i ≤ 2 `X99` (a group of 2), i % 3 == 0 `I10` (13),
/// else `E11` (25); fee = i + 0.5 (total 840: 男 410, 女 430); secret: never granted.
fn claims(level: Level) -> SandboxTable {
    let mut csv = String::from("sex,age_band,county,diagnosis,fee,secret\n");
    let counties = ["330102", "330105", "330106", "330108"];
    for i in 1..=40usize {
        let sex = if i % 2 == 0 { "女" } else { "男" };
        let band = if i <= 20 { "25-29" } else { "30-34" };
        let county = counties[(i - 1) % 4];
        let diag = if i <= 2 {
            "X99"
        } else if i % 3 == 0 {
            "I10"
        } else {
            "E11"
        };
        csv.push_str(&format!(
            "{sex},{band},{county},{diag},{i}.5,SECRET-{i:04}\n"
        ));
    }
    let col = |n: &str, t| ColumnSchema {
        name: n.into(),
        data_type: t,
    };
    SandboxTable::from_csv(
        "claims",
        csv.as_bytes(),
        vec![
            col("sex", DataType::Text),
            col("age_band", DataType::Text),
            col("county", DataType::Text),
            col("diagnosis", DataType::Text),
            col("fee", DataType::Float),
            col("secret", DataType::Text),
        ],
        ["sex", "age_band", "county", "diagnosis", "fee"]
            .map(String::from)
            .to_vec(),
        level,
    )
    .unwrap()
}

/// A public code list (level 1) to join against.
fn labels() -> SandboxTable {
    SandboxTable::from_csv(
        "labels",
        "sex,label\n男,male\n女,female\n".as_bytes(),
        vec![
            ColumnSchema {
                name: "sex".into(),
                data_type: DataType::Text,
            },
            ColumnSchema {
                name: "label".into(),
                data_type: DataType::Text,
            },
        ],
        vec!["sex".into(), "label".into()],
        Level::L1,
    )
    .unwrap()
}

async fn run(sql: &str, level: Level) -> Result<QueryOutput, SandboxError> {
    run_query(
        vec![claims(level), labels()],
        sql,
        &SandboxOptions::default(),
    )
    .await
}

#[tokio::test]
async fn allowed_queries_return_correct_values() {
    let cases: &[(&str, Level, Value)] = &[
        (
            "SELECT sex, count(*) AS n, sum(fee) AS total FROM claims GROUP BY sex ORDER BY sex",
            Level::L3,
            json!([["女", 20, 430.0], ["男", 20, 410.0]]),
        ),
        (
            "SELECT county, count(*) AS n FROM claims GROUP BY county ORDER BY county",
            Level::L4,
            json!([
                ["330102", 10],
                ["330105", 10],
                ["330106", 10],
                ["330108", 10]
            ]),
        ),
        (
            "SELECT count(*) AS n, avg(fee) AS a FROM claims WHERE diagnosis = 'I10'",
            Level::L3,
            json!([[13, 21.5]]),
        ),
        (
            "WITH t AS (SELECT age_band, count(*) AS n FROM claims GROUP BY age_band) \
             SELECT max(n) AS m FROM t",
            Level::L3,
            json!([[20]]),
        ),
        (
            "SELECT sex, n FROM (SELECT sex, count(*) AS n FROM claims GROUP BY sex) s \
             WHERE n >= 5 ORDER BY sex",
            Level::L3,
            json!([["女", 20], ["男", 20]]),
        ),
        (
            "SELECT l.label, count(*) AS n FROM claims c JOIN labels l ON c.sex = l.sex \
             GROUP BY l.label ORDER BY l.label",
            Level::L3,
            json!([["female", 20], ["male", 20]]),
        ),
        (
            // A self-join: each side contributes 20 distinct records to each group.
            "SELECT c.sex, count(*) AS pairs FROM claims c JOIN claims d ON c.sex = d.sex \
             GROUP BY c.sex ORDER BY c.sex",
            Level::L3,
            json!([["女", 400], ["男", 400]]),
        ),
        (
            // FILTER is counted on its own records: 6 and 7 here, so allowed.
            "SELECT sex, count(*) FILTER (WHERE diagnosis = 'I10') AS n FROM claims \
             GROUP BY sex ORDER BY sex",
            Level::L3,
            json!([["女", 6], ["男", 7]]),
        ),
        (
            // A cohort chosen by a subquery in a filter: the aggregate is what is shown.
            "SELECT count(*) AS n FROM claims WHERE fee IN \
             (SELECT fee FROM claims WHERE diagnosis = 'I10')",
            Level::L3,
            json!([[13]]),
        ),
        (
            "SELECT age_band, count(*) AS n FROM claims GROUP BY ROLLUP(age_band) \
             ORDER BY age_band NULLS LAST",
            Level::L3,
            json!([["25-29", 20], ["30-34", 20], [null, 40]]),
        ),
        (
            // HAVING filters groups after they were checked; no row survives here.
            "SELECT sex, count(*) AS n FROM claims GROUP BY sex HAVING count(*) > 100",
            Level::L3,
            json!([]),
        ),
        (
            "SELECT sex, label FROM labels ORDER BY label",
            Level::L3,
            json!([["女", "female"], ["男", "male"]]),
        ),
    ];
    for (sql, level, expected) in cases {
        let out = run(sql, *level)
            .await
            .unwrap_or_else(|e| panic!("{sql}: refused: {e}"));
        assert_eq!(&json!(out.rows), expected, "{sql}");
    }
}

#[tokio::test]
async fn aggregate_output_has_columns_csv_and_smallest_group() {
    let out = run(
        "SELECT sex, count(*) AS n, sum(fee) AS total FROM claims GROUP BY sex ORDER BY sex",
        Level::L3,
    )
    .await
    .unwrap();
    assert_eq!(out.columns, vec!["sex", "n", "total"]);
    assert_eq!(out.smallest_group, Some(20));
    assert!(!out.row_level);
    assert_eq!(
        String::from_utf8(out.csv).unwrap(),
        "sex,n,total\n女,20,430.0\n男,20,410.0\n"
    );
}

#[tokio::test]
async fn row_level_output_is_allowed_only_at_low_levels() {
    let out = run("SELECT * FROM claims", Level::L2).await.unwrap();
    assert!(out.row_level);
    assert_eq!(out.rows.len(), 40);
    assert_eq!(
        out.columns,
        vec!["sex", "age_band", "county", "diagnosis", "fee"],
        "the ungranted column is not part of the table"
    );
    assert!(!String::from_utf8(out.csv).unwrap().contains("SECRET"));
    assert_eq!(out.smallest_group, None);

    let err = run("SELECT * FROM claims", Level::L3).await.unwrap_err();
    assert!(
        matches!(err, SandboxError::RowLevelRefused { level: 3 }),
        "{err:?}"
    );
    assert!(err.is_policy_refusal());
}

type Check = fn(&SandboxError) -> bool;

#[tokio::test]
async fn refusals_carry_their_reason() {
    use SandboxError as E;
    let cases: &[(&str, Level, Check)] = &[
        // Rule 4: small groups, however they are reached.
        (
            "SELECT diagnosis, count(*) FROM claims GROUP BY diagnosis",
            Level::L3,
            |e| matches!(e, E::SmallGroup { min: 5, smallest: 2 }),
        ),
        ("SELECT count(*) FROM claims WHERE fee < 4", Level::L3, |e| {
            matches!(e, E::SmallGroup { smallest: 3, .. })
        }),
        ("SELECT count(*) FROM claims WHERE fee < 0", Level::L3, |e| {
            matches!(e, E::SmallGroup { smallest: 0, .. })
        }),
        (
            // Small groups are refused on row-level-eligible tables too.
            "SELECT diagnosis, avg(fee) FROM claims GROUP BY diagnosis",
            Level::L2,
            |e| matches!(e, E::SmallGroup { smallest: 2, .. }),
        ),
        (
            "SELECT c.diagnosis, avg(c.fee) FROM claims c CROSS JOIN claims d GROUP BY c.diagnosis",
            Level::L3,
            |e| matches!(e, E::SmallGroup { smallest: 2, .. }),
        ),
        (
            "SELECT diagnosis, avg(fee) FROM (SELECT * FROM claims UNION ALL SELECT * FROM claims \
             UNION ALL SELECT * FROM claims) u GROUP BY diagnosis",
            Level::L3,
            |e| matches!(e, E::SmallGroup { smallest: 2, .. }),
        ),
        (
            "SELECT diagnosis, avg(fee) FROM claims CROSS JOIN generate_series(1, 10) \
             GROUP BY diagnosis",
            Level::L3,
            |e| matches!(e, E::SmallGroup { smallest: 2, .. }),
        ),
        (
            "SELECT sex, sum(fee) FILTER (WHERE diagnosis = 'X99') FROM claims GROUP BY sex",
            Level::L3,
            |e| matches!(e, E::SmallGroup { smallest: 1, .. }),
        ),
        (
            "SELECT sex, avg(CASE WHEN diagnosis = 'X99' THEN fee END) FROM claims GROUP BY sex",
            Level::L3,
            |e| matches!(e, E::SmallGroup { smallest: 1, .. }),
        ),
        (
            "WITH t AS (SELECT diagnosis, count(*) AS n FROM claims GROUP BY diagnosis) \
             SELECT max(n) FROM t",
            Level::L3,
            |e| matches!(e, E::SmallGroup { smallest: 2, .. }),
        ),
        (
            "SELECT count(*) FROM (SELECT DISTINCT fee FROM claims WHERE fee < 3) d",
            Level::L3,
            |e| matches!(e, E::SmallGroup { smallest: 2, .. }),
        ),
        // Aggregates that list values are not statistics.
        ("SELECT sex, array_agg(fee) FROM claims GROUP BY sex", Level::L3, |e| {
            matches!(e, E::Unverifiable { reason } if reason.contains("array_agg"))
        }),
        ("SELECT string_agg(diagnosis, ',') FROM claims", Level::L3, |e| {
            matches!(e, E::Unverifiable { reason } if reason.contains("string_agg"))
        }),
        // Rule 3: records reaching the result without aggregation.
        ("SELECT * FROM claims", Level::L3, |e| {
            matches!(e, E::RowLevelRefused { level: 3 })
        }),
        ("SELECT DISTINCT fee FROM claims", Level::L3, |e| {
            matches!(e, E::RowLevelRefused { .. })
        }),
        ("SELECT sex FROM claims GROUP BY sex", Level::L3, |e| {
            matches!(e, E::RowLevelRefused { .. })
        }),
        (
            "SELECT fee, count(*) OVER (PARTITION BY sex) FROM claims",
            Level::L4,
            |e| matches!(e, E::RowLevelRefused { level: 4 }),
        ),
        (
            "SELECT count(*) AS n, (SELECT fee FROM claims WHERE fee > 40) AS leak FROM labels",
            Level::L3,
            |e| matches!(e, E::RowLevelRefused { level: 3 }),
        ),
        (
            "SELECT label FROM labels WHERE sex IN (SELECT sex FROM claims WHERE diagnosis = 'X99')",
            Level::L3,
            |e| matches!(e, E::RowLevelRefused { level: 3 }),
        ),
        // Rule 2: only granted columns and tables exist.
        ("SELECT secret FROM claims", Level::L2, |e| {
            matches!(e, E::UnknownColumn { column } if column == "secret")
        }),
        ("SELECT count(secret) FROM claims", Level::L2, |e| {
            matches!(e, E::UnknownColumn { column } if column == "secret")
        }),
        ("SELECT count(*) FROM other", Level::L2, |e| {
            matches!(e, E::UnknownTable { table } if table == "other")
        }),
        ("SELECT * FROM information_schema.tables", Level::L2, |e| {
            matches!(e, E::UnknownTable { .. })
        }),
        ("SELECT * FROM '/etc/passwd'", Level::L2, |e| {
            matches!(e, E::UnknownTable { .. })
        }),
        // Rule 1: one statement, a query.
        ("DROP TABLE claims", Level::L2, |e| {
            matches!(e, E::NotAQuery { kind } if kind == "DROP TABLE")
        }),
        ("INSERT INTO claims VALUES ('男','x','y','z',1)", Level::L2, |e| {
            matches!(e, E::NotAQuery { kind } if kind == "INSERT")
        }),
        ("CREATE TABLE t AS SELECT * FROM claims", Level::L2, |e| {
            matches!(e, E::NotAQuery { kind } if kind == "CREATE TABLE")
        }),
        ("SELECT sex INTO t2 FROM claims", Level::L2, |e| {
            matches!(e, E::NotAQuery { .. })
        }),
        ("COPY claims TO '/tmp/x.csv'", Level::L2, |e| {
            matches!(e, E::NotAQuery { kind } if kind == "COPY")
        }),
        ("SET datafusion.execution.batch_size = 1", Level::L2, |e| {
            matches!(e, E::NotAQuery { kind } if kind == "SET")
        }),
        ("EXPLAIN SELECT count(*) FROM claims", Level::L2, |e| {
            matches!(e, E::NotAQuery { .. })
        }),
        ("SELECT count(*) FROM claims; DROP TABLE claims", Level::L2, |e| {
            matches!(e, E::MultipleStatements)
        }),
        ("SELEC count(*) FROM claims", Level::L2, |e| {
            matches!(e, E::Parse { message } if message.contains("Line: 1"))
        }),
    ];
    for (sql, level, expected) in cases {
        match run(sql, *level).await {
            Err(e) => assert!(expected(&e), "{sql}: unexpected error {e:?}"),
            Ok(o) => panic!("{sql}: allowed, returned {:?}", o.rows),
        }
    }
}

#[tokio::test]
async fn errors_never_quote_stored_values() {
    // A failed cast at run time: the engine's message would contain a diagnosis code.
    let err = run("SELECT sum(CAST(diagnosis AS INT)) FROM claims", Level::L3)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SandboxError::Execution { .. }), "{err:?}");
    for value in ["E11", "I10", "X99"] {
        assert!(!text.contains(value), "{text}");
    }
    // A bad cell in stored content: named by column and record, not by value.
    let good = claims(Level::L3);
    let err = SandboxTable::from_csv(
        "claims",
        "sex,age_band,county,diagnosis,fee,secret\n男,25-29,330102,E11,1.5,S\n女,25-29,330102,E11,13800138000x,SECRET-0002\n"
            .as_bytes(),
        good.schema,
        good.granted_columns,
        Level::L3,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SandboxError::Data { .. }), "{err:?}");
    assert!(text.contains("column `fee`, record 2"), "{text}");
    assert!(
        !text.contains("13800138000") && !text.contains("SECRET"),
        "{text}"
    );
}

#[tokio::test]
async fn result_size_and_memory_are_capped() {
    let small = SandboxOptions {
        max_result_rows: 10,
        ..SandboxOptions::default()
    };
    let err = run_query(vec![claims(Level::L2)], "SELECT * FROM claims", &small)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SandboxError::TooManyRows { max: 10 }),
        "{err:?}"
    );
    let ok = run_query(
        vec![claims(Level::L2)],
        "SELECT * FROM claims LIMIT 10",
        &small,
    )
    .await
    .unwrap();
    assert_eq!(ok.rows.len(), 10);

    let tiny = SandboxOptions {
        memory_limit_bytes: 1024,
        ..SandboxOptions::default()
    };
    let err = run_query(
        vec![claims(Level::L3)],
        "SELECT c.sex, count(*) FROM claims c JOIN claims d ON c.sex = d.sex GROUP BY c.sex",
        &tiny,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, SandboxError::Execution { message } if message.contains("1024 bytes")),
        "{err:?}"
    );
}

#[tokio::test]
async fn minimum_group_size_is_configurable() {
    let strict = SandboxOptions {
        min_group_size: 21,
        ..SandboxOptions::default()
    };
    let err = run_query(
        vec![claims(Level::L3)],
        "SELECT sex, count(*) FROM claims GROUP BY sex",
        &strict,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            SandboxError::SmallGroup {
                min: 21,
                smallest: 20
            }
        ),
        "{err:?}"
    );
    let lenient = SandboxOptions {
        min_group_size: 2,
        ..SandboxOptions::default()
    };
    let out = run_query(
        vec![claims(Level::L3)],
        "SELECT diagnosis, count(*) AS n FROM claims GROUP BY diagnosis ORDER BY diagnosis",
        &lenient,
    )
    .await
    .unwrap();
    assert_eq!(
        json!(out.rows),
        json!([["E11", 25], ["I10", 13], ["X99", 2]])
    );
    assert_eq!(out.smallest_group, Some(2));
}

#[tokio::test]
async fn duplicate_tables_are_refused() {
    let err = run_query(
        vec![claims(Level::L2), claims(Level::L2)],
        "SELECT count(*) FROM claims",
        &SandboxOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SandboxError::Data { .. }), "{err:?}");
}
