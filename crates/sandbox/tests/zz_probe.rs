#![allow(clippy::unwrap_used)]
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
    SandboxTable {
        name: "claims".into(),
        csv: csv.into_bytes(),
        schema: vec![
            col("sex", DataType::Text),
            col("diagnosis", DataType::Text),
            col("fee", DataType::Float),
            col("secret", DataType::Text),
        ],
        granted_columns: vec!["sex".into(), "diagnosis".into(), "fee".into()],
        level: Level::L3,
    }
}

#[tokio::test]
async fn probe() {
    for sql in [
        "SELECT c.diagnosis, avg(c.fee) FROM claims c CROSS JOIN claims d GROUP BY c.diagnosis",
        "SELECT diagnosis, avg(fee) FROM (SELECT * FROM claims UNION ALL SELECT * FROM claims UNION ALL SELECT * FROM claims) GROUP BY diagnosis",
        "SELECT sex, array_agg(fee) FROM claims GROUP BY sex",
        "SELECT count(*), (SELECT fee FROM claims WHERE fee > 40) FROM claims",
        "SELECT sum(CAST(diagnosis AS INT)) FROM claims",
        "SELECT diagnosis, avg(c.fee) FROM claims c CROSS JOIN generate_series(1,10) GROUP BY diagnosis",
        "SELECT diagnosis, avg(fee) FROM claims CROSS JOIN unnest([1,2,3]) GROUP BY diagnosis",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM 'file:///etc/passwd'",
        "SELECT count(DISTINCT fee) FROM claims",
        "SELECT count(*) FROM (SELECT DISTINCT fee FROM claims)",
        "SELECT count(*) FROM (SELECT DISTINCT fee FROM claims WHERE fee < 3)",
        "SELECT sex, sum(fee) FILTER (WHERE diagnosis = 'X') FROM claims GROUP BY sex",
        "SELECT sex, avg(CASE WHEN diagnosis = 'X' THEN fee END) FROM claims GROUP BY sex",
        "SELECT sex, count(*) FROM claims GROUP BY ROLLUP(sex)",
        "SELECT c.sex, count(*) FROM claims c JOIN claims d ON c.sex = d.sex GROUP BY c.sex",
        "SELECT sex, count(*) FROM claims WHERE fee IN (SELECT fee FROM claims) GROUP BY sex",
        "SELECT sex, count(*) FROM (SELECT sex FROM claims GROUP BY sex, fee) GROUP BY sex",
        "SELECT n, count(*) FROM (SELECT sex, count(*) AS n FROM claims GROUP BY sex) GROUP BY n",
        "SELECT sex, count(*) FROM (SELECT sex, row_number() OVER (PARTITION BY sex) AS rn FROM claims) WHERE rn < 3 GROUP BY sex",
        "SELECT sex, count(*) FROM (SELECT * FROM claims LIMIT 7) GROUP BY sex",
        "SELECT sex, count(*) FROM claims c WHERE fee > (SELECT avg(fee) FROM claims d WHERE d.sex = c.sex) GROUP BY sex",
        "SELECT sex, count(*) FROM claims GROUP BY sex HAVING count(*) > 100",
        "SELECT * FROM generate_series(1, 3)",
        "SELECT sex INTO t2 FROM claims",
        "SELECT string_agg(diagnosis, ',') FROM claims",
        "SELECT x FROM (SELECT array_agg(n) AS x FROM (SELECT sex, count(*) AS n FROM claims GROUP BY sex))",
    ] {
        let r = run_query(vec![claims()], sql, &SandboxOptions::default()).await;
        match r {
            Ok(o) => println!("ALLOWED {sql}\n  -> {:?}", o.rows),
            Err(e) => println!("REFUSED {sql}\n  -> {e:?}"),
        }
    }
    let mut bad = claims();
    bad.csv = b"sex,diagnosis,fee,secret\nM,X,13800138000x,S\n".to_vec();
    println!(
        "{:?}",
        run_query(vec![bad], "SELECT 1", &SandboxOptions::default())
            .await
            .err()
    );
}
