//! `medspace grading …` end to end on a node with an ingested dataset (GB/T 39725-2020 §6, §9.2 a)
//! 8); T/CI 857-2024 6.2): the security officer sees the proposed grading, overrides a column and
//! confirms; the committee member can approve only after confirmation; the history keeps every
//! step with what it changed; bad values are refused naming the option; the audit log verifies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use std::path::Path;
use std::process::Output;

use medspace_gen::{generate, header, GenOptions, Table};
use medspace_service::datasets::IngestRequest;
use medspace_service::reexports::core::Role;
use medspace_service::{InitOptions, Node};

mod common;
use common::{activate, medspace, verify_json, Totp, PASSWORD};

/// A node in `tmp/node` with an officer, a committee member and one ingested settlements dataset.
fn node_with_dataset(tmp: &Path, totp: &mut Totp) -> std::path::PathBuf {
    let dir = tmp.join("node");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (node, outcome) = Node::init(InitOptions {
            dir: dir.clone(),
            database_url: None,
            profile: None,
            master_key_file: Some(tmp.join("node.masterkey")),
            hsm: None,
            admin_username: "admin".into(),
            listen: None,
        })
        .await
        .unwrap();
        let admin = activate(&node, "admin", &outcome.admin_password, totp).await;
        let mut officer = None;
        for (name, role) in [
            ("officer", Role::SecurityOfficer),
            ("reviewer", Role::CommitteeMember),
        ] {
            let (_, otp) = node.create_user(&admin, name, role).await.unwrap();
            let c = activate(&node, name, &otp, totp).await;
            if role == Role::SecurityOfficer {
                officer = Some(c);
            }
        }
        let mut csv = Vec::new();
        generate(
            &GenOptions {
                rows: 400,
                seed: 5,
                table: Table::Settlements,
                persons: None,
            },
            &mut csv,
            &mut |_| {},
        )
        .unwrap();
        node.ingest(
            &officer.unwrap(),
            IngestRequest {
                name: "settlements".into(),
                source_name: "settlements.csv".into(),
                owner: None,
                update_frequency: "monthly".into(),
            },
            Box::new(std::io::Cursor::new(csv)),
            Box::new(|_| {}),
        )
        .await
        .unwrap();
        node.close().await;
    });
    dir
}

fn grading(dir: &Path, user: &str, totp: &mut Totp, args: &[&str]) -> Output {
    let mut command = medspace();
    command
        .arg("grading")
        .args(args)
        .arg("--dir")
        .arg(dir)
        .args(["--user", user])
        .env("MEDSPACE_PASSWORD", PASSWORD);
    // Committee members need no second factor; the others give a fresh code per login.
    if let Some(code) = totp.code(user) {
        command.env("MEDSPACE_TOTP", code);
    }
    command.output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn officer_confirms_and_committee_approves_with_history_and_audit() {
    let tmp = tempfile::tempdir().unwrap();
    let mut totp = Totp::default();
    let dir = node_with_dataset(tmp.path(), &mut totp);
    let column = header(Table::Settlements)[0];

    // The scan at ingest proposed a grading.
    let list = json(&grading(
        &dir,
        "officer",
        &mut totp,
        &["list", "--format", "json"],
    ));
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "settlements")
        .expect("dataset listed");
    assert_eq!(row["status"], "proposed");

    // A bad value is refused before anything is changed, naming the option.
    let bad = medspace()
        .args(["grading", "set", "settlements", "--column", column])
        .args(["--reason", "r", "--category", "no_such_category", "--dir"])
        .arg(&dir)
        .args(["--user", "officer"])
        .env("MEDSPACE_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("--category"), "{err}");

    // The officer raises one column to level 5 and confirms.
    let set = json(&grading(
        &dir,
        "officer",
        &mut totp,
        &[
            "set",
            "settlements",
            "--column",
            column,
            "--level",
            "5",
            "--reason",
            "linked to a rare-disease registry",
            "--format",
            "json",
        ],
    ));
    assert_eq!(set["action"], "override");
    assert_eq!(set["status"], "proposed");
    let change = set["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "level")
        .expect("level change recorded");
    assert_eq!(change["column"], column);
    assert_eq!(change["after"], 5);

    // The committee cannot approve what the officer has not confirmed.
    let early = grading(
        &dir,
        "reviewer",
        &mut totp,
        &[
            "approve",
            "settlements",
            "--reason",
            "ok",
            "--format",
            "json",
        ],
    );
    assert!(!early.status.success(), "approved an unconfirmed grading");

    let confirmed = json(&grading(
        &dir,
        "officer",
        &mut totp,
        &[
            "confirm",
            "settlements",
            "--reason",
            "every column checked",
            "--format",
            "json",
        ],
    ));
    assert_eq!(confirmed["status"], "confirmed");

    let approved = json(&grading(
        &dir,
        "reviewer",
        &mut totp,
        &[
            "approve",
            "settlements",
            "--reason",
            "grading follows Table 1",
            "--format",
            "json",
        ],
    ));
    assert_eq!(approved["status"], "approved");
    let graded = approved["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == column)
        .unwrap();
    assert_eq!(
        graded["level"], 5,
        "the approved grading keeps the override"
    );

    // Every step is kept, oldest first.
    let history = json(&grading(
        &dir,
        "reviewer",
        &mut totp,
        &["show", "settlements", "--history", "--format", "json"],
    ));
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["propose", "override", "confirm", "approve"]);

    let (ok, report) = verify_json(&dir);
    assert!(ok, "audit verify failed: {report}");
}
