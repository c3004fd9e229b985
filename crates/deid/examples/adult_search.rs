//! Times the Adult searches of `benches/adult.rs` in one process and prints the result of each
//! (levels, granularity, suppressed, nodes evaluated) with wall and CPU seconds, for profiling
//! (`perf record`, `valgrind --tool=callgrind`) and for quick before/after runs. GB/T 39725-2020
//! §10.2 e), §11.4.2.4.
//!
//! ```text
//! adult_search [ADULT_DIR] [REPEATS] [global0|global5|local|all]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Instant;

use medspace_deid::{
    local_recoding, quality, search_optimal, AnonConfig, AnonData, Hierarchy, QuasiIdentifier,
    Recoding,
};

const QIS: [&str; 9] = [
    "sex",
    "age",
    "race",
    "marital-status",
    "education",
    "native-country",
    "workclass",
    "occupation",
    "salary-class",
];

/// User + system CPU seconds of this process (all threads), from `/proc/self/stat`.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(
        args.first()
            .cloned()
            .unwrap_or_else(|| "/work/shared/data/arx-adult".into()),
    );
    let repeats: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    let which = args.get(2).cloned().unwrap_or_else(|| "all".into());
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_path(dir.join("adult.csv"))
        .unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(str::to_string).collect();
    let rows: Vec<Vec<String>> = rdr
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    let qis: Vec<QuasiIdentifier> = QIS
        .iter()
        .map(|a| QuasiIdentifier {
            column: a.to_string(),
            hierarchy: Hierarchy::from_csv_path(&dir.join(format!("adult_hierarchy_{a}.csv")))
                .unwrap(),
        })
        .collect();
    let data = &AnonData::new(&header, &rows, &qis, None).unwrap();
    eprintln!(
        "{} records, {} distinct tuples",
        data.len(),
        data.distinct_tuples()
    );
    let run = |name: &str, f: &dyn Fn() -> (Recoding, String)| {
        let mut walls = Vec::new();
        let cpu0 = cpu_seconds();
        let mut last = None;
        for _ in 0..repeats {
            let t = Instant::now();
            last = Some(f());
            walls.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let cpu = (cpu_seconds() - cpu0) / repeats as f64;
        let (recoding, what) = last.unwrap();
        let q = quality(data, &recoding).unwrap();
        walls.sort_by(f64::total_cmp);
        println!(
            "{name}: {what} granularity {:.4} suppressed {} | wall ms min {:.1} median {:.1} max {:.1} | CPU s/run {:.3}",
            q.granularity,
            q.suppressed,
            walls[0],
            walls[walls.len() / 2],
            walls[walls.len() - 1],
            cpu
        );
    };
    let global = |limit: f64| {
        let config = AnonConfig::k_anonymity(5, limit);
        move || {
            let res = search_optimal(data, &config).unwrap();
            let best = res.optimum.unwrap();
            let suppressed = data.suppressed_records(&best.node, &config).unwrap();
            (
                Recoding::global(&best.node, &suppressed),
                format!(
                    "levels {:?} evaluated {}/{}",
                    best.node, res.evaluated, res.lattice_size
                ),
            )
        }
    };
    if which == "all" || which == "global0" {
        run("global_0pct", &global(0.0));
    }
    if which == "all" || which == "global5" {
        run("global_5pct", &global(0.05));
    }
    if which == "all" || which == "local" {
        let mut config = AnonConfig::k_anonymity(5, 0.05);
        config.suppression_weight = 0.0;
        run("local_recoding", &|| {
            let res = local_recoding(data, &config, 0.9, 100).unwrap();
            let rounds = res.rounds.len();
            (res.recoding, format!("rounds {rounds}"))
        });
    }
}
