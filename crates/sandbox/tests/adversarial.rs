//! Adversarial queries: every way of reaching individual records or small groups that the rules
//! must catch (joins that multiply rows, set operations, FILTER/CASE inside aggregates, LIMIT and
//! window tricks, list aggregates, file and catalog tables), and the aggregate forms that stay allowed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]
use medspace_core::{ColumnSchema, DataType, Level};
use medspace_sandbox::{run_query, SandboxOptions, SandboxTable};

fn claims() -> SandboxTable {
    let mut csv = String::from("sex,diagnosis,fee,secret\n");
    for i in 1..=40 {
        let sex = if i % 2 == 0 { "F" } else { "M" };
        let diag = if i <= 2 { "X" } else { "E11" };
        csv.push_str(&format!("{sex},{diag},{i}.5,S{i}\n"));
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
            col("diagnosis", DataType::Text),
            col("fee", DataType::Float),
            col("secret", DataType::Text),
        ],
        vec!["sex".into(), "diagnosis".into(), "fee".into()],
        Level::L3,
    )
    .unwrap()
}

#[tokio::test]
async fn tricks_to_reach_records_or_small_groups_are_refused() {
    let cases: &[(bool, &str)] = &[
        (false, "SELECT c.diagnosis, avg(c.fee) FROM claims c CROSS JOIN claims d GROUP BY c.diagnosis"),
        (false, "SELECT diagnosis, avg(fee) FROM (SELECT * FROM claims UNION ALL SELECT * FROM claims UNION ALL SELECT * FROM claims) GROUP BY diagnosis"),
        (false, "SELECT sex, array_agg(fee) FROM claims GROUP BY sex"),
        (false, "SELECT count(*), (SELECT fee FROM claims WHERE fee > 40) FROM claims"),
        (false, "SELECT sum(CAST(diagnosis AS INT)) FROM claims"),
        (false, "SELECT diagnosis, avg(c.fee) FROM claims c CROSS JOIN generate_series(1,10) GROUP BY diagnosis"),
        (false, "SELECT diagnosis, avg(fee) FROM claims CROSS JOIN unnest([1,2,3]) GROUP BY diagnosis"),
        (false, "SELECT * FROM information_schema.tables"),
        (false, "SELECT * FROM 'file:///etc/passwd'"),
        (true, "SELECT count(DISTINCT fee) FROM claims"),
        (true, "SELECT count(*) FROM (SELECT DISTINCT fee FROM claims)"),
        (false, "SELECT count(*) FROM (SELECT DISTINCT fee FROM claims WHERE fee < 3)"),
        (false, "SELECT sex, sum(fee) FILTER (WHERE diagnosis = 'X') FROM claims GROUP BY sex"),
        (false, "SELECT sex, avg(CASE WHEN diagnosis = 'X' THEN fee END) FROM claims GROUP BY sex"),
        (true, "SELECT sex, count(*) FROM claims GROUP BY ROLLUP(sex)"),
        (true, "SELECT c.sex, count(*) FROM claims c JOIN claims d ON c.sex = d.sex GROUP BY c.sex"),
        (true, "SELECT sex, count(*) FROM claims WHERE fee IN (SELECT fee FROM claims) GROUP BY sex"),
        (false, "SELECT sex, count(*) FROM (SELECT sex FROM claims GROUP BY sex, fee) GROUP BY sex"),
        (true, "SELECT n, count(*) FROM (SELECT sex, count(*) AS n FROM claims GROUP BY sex) GROUP BY n"),
        (false, "SELECT sex, count(*) FROM (SELECT sex, row_number() OVER (PARTITION BY sex) AS rn FROM claims) WHERE rn < 3 GROUP BY sex"),
        (false, "SELECT sex, count(*) FROM (SELECT * FROM claims LIMIT 7) GROUP BY sex"),
        (false, "SELECT sex, count(*) FROM claims c WHERE fee > (SELECT avg(fee) FROM claims d WHERE d.sex = c.sex) GROUP BY sex"),
        (true, "SELECT sex, count(*) FROM claims GROUP BY sex HAVING count(*) > 100"),
        (true, "SELECT * FROM generate_series(1, 3)"),
        (false, "SELECT sex INTO t2 FROM claims"),
        (false, "SELECT string_agg(diagnosis, ',') FROM claims"),
        (false, "SELECT x FROM (SELECT array_agg(n) AS x FROM (SELECT sex, count(*) AS n FROM claims GROUP BY sex))"),
    ];
    for (allowed, sql) in cases {
        let r = run_query(vec![claims()], sql, &SandboxOptions::default()).await;
        assert_eq!(r.is_ok(), *allowed, "{sql}: {r:?}");
        if let Ok(out) = r {
            // Nothing allowed shows the never-granted column or a group under the minimum.
            let text = format!("{:?}", out.rows);
            assert!(!text.contains("S1"), "{sql}: {text}");
        }
    }
}

#[tokio::test]
async fn a_load_failure_does_not_quote_the_stored_value() {
    let good = claims();
    let err = SandboxTable::from_csv(
        "claims",
        b"sex,diagnosis,fee,secret\nM,X,13800138000x,S\n",
        good.schema,
        good.granted_columns,
        Level::L3,
    )
    .unwrap_err();
    assert!(!err.to_string().contains("13800138000"), "{err}");
    // The same content as typed batches with a mistyped column is refused without values too.
    let mut typed = claims();
    typed.schema[2].data_type = DataType::Integer;
    let err = run_query(
        vec![typed],
        "SELECT count(*) FROM claims",
        &SandboxOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("column `fee` is stored as Float64"),
        "{err}"
    );
}
