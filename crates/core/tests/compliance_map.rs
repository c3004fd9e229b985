//! Traceability: `docs/compliance.md` maps requirement ids of the three standards to the code and
//! the tests that fail if a clause breaks. This test keeps the map honest: every row has a known
//! status, ids are unique and exist in `requirements.tsv` (read from `shared/` beside the
//! repository when it is there), every `implemented` row names at least one test, and every test
//! named anywhere in the map exists as a function in the file the row gives.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Row {
    line: usize,
    id: String,
    status: String,
    tests: Vec<String>,
}

fn rows() -> Vec<Row> {
    let path = repo_root().join("docs/compliance.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if !line.starts_with("| ") || line.starts_with("| id ") {
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // A row is `| id | status | code | test |`: six pieces around five bars.
        assert_eq!(
            cells.len(),
            6,
            "docs/compliance.md line {}: expected 4 cells, found {} (a stray `|`?)",
            i + 1,
            cells.len().saturating_sub(2)
        );
        out.push(Row {
            line: i + 1,
            id: cells[1].to_string(),
            status: cells[2].to_string(),
            tests: cells[4]
                .split(';')
                .map(str::trim)
                .filter(|t| t.starts_with("crates/"))
                .map(str::to_string)
                .collect(),
        });
    }
    out
}

#[test]
fn every_row_has_a_known_status_a_unique_id_and_implemented_rows_name_a_test() {
    let rows = rows();
    assert!(rows.len() > 100, "the map has only {} rows", rows.len());
    let mut seen = HashSet::new();
    for row in &rows {
        assert!(
            matches!(row.status.as_str(), "implemented" | "partial" | "planned"),
            "line {}: status `{}` of {} is not implemented/partial/planned",
            row.line,
            row.status,
            row.id
        );
        assert!(
            seen.insert(row.id.clone()),
            "line {}: {} is listed twice",
            row.line,
            row.id
        );
        if row.status == "implemented" {
            assert!(
                !row.tests.is_empty(),
                "line {}: {} is implemented but names no test",
                row.line,
                row.id
            );
        }
    }
}

#[test]
fn every_id_is_a_requirement_of_the_inventory() {
    let candidates = [
        repo_root().join("../shared/requirements.tsv"),
        PathBuf::from("/work/shared/requirements.tsv"),
    ];
    let Some(inventory) = candidates.iter().find(|p| p.is_file()) else {
        eprintln!(
            "NOTICE: skipping the id check: requirements.tsv is not beside the repository ({})",
            candidates[0].display()
        );
        return;
    };
    let text = std::fs::read_to_string(inventory).expect("read requirements.tsv");
    let ids: HashSet<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .collect();
    assert!(ids.len() > 800, "the inventory has only {} ids", ids.len());
    for row in rows() {
        assert!(
            ids.contains(row.id.as_str()),
            "line {}: {} is not an id of requirements.tsv",
            row.line,
            row.id
        );
    }
}

#[test]
fn every_named_test_exists_where_the_row_says() {
    let root = repo_root();
    let mut files: HashMap<String, String> = HashMap::new();
    let mut checked = 0;
    for row in rows() {
        for reference in &row.tests {
            // `crates/x/tests/f.rs::name`, `crates/x/src/f.rs::tests::name`, optionally followed by
            // a remark in parentheses.
            let reference = reference.split(" (").next().unwrap_or(reference).trim();
            let (file, path) = reference
                .split_once("::")
                .unwrap_or_else(|| panic!("line {}: `{reference}` is not `file::test`", row.line));
            let name = path.rsplit("::").next().unwrap_or(path);
            let text = files.entry(file.to_string()).or_insert_with(|| {
                std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| {
                    panic!(
                        "line {}: {} names {file}, which cannot be read: {e}",
                        row.line, row.id
                    )
                })
            });
            let defined =
                text.contains(&format!("fn {name}(")) || text.contains(&format!("fn {name}<"));
            assert!(
                defined,
                "line {}: {} names the test `{name}`, which {file} does not define",
                row.line, row.id
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} test references were checked");
}
