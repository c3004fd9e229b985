//! Interoperability of the international profile (Parquet modular encryption, AES-256-GCM;
//! T/CI 857-2024 6.3, DMS 4.3.1 / 7.2.4): pyarrow (Arrow C++) reads a stored object given its
//! key, through its own key-management layer, and cannot read it with a wrong key.
//!
//! Needs `python3` with `pyarrow`; without them the test prints a NOTICE and passes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a test failure"
)]

use std::path::Path;
use std::process::Command;

use medspace_columnar::{csv_batches, write, ObjectKey};
use medspace_core::{ColumnSchema, DataType};
use medspace_crypto::{CryptoProfile, SecretKey};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/read_encrypted.py");

fn pyarrow_available() -> bool {
    Command::new("python3")
        .args(["-c", "import pyarrow.parquet.encryption"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn run(path: &Path, key_hex: &str, key_id: &str) -> std::process::Output {
    Command::new("python3")
        .arg(SCRIPT)
        .arg(path)
        .arg(key_hex)
        .arg(key_id)
        .output()
        .unwrap()
}

#[test]
fn pyarrow_reads_the_international_file_given_its_key() {
    if !pyarrow_available() {
        eprintln!(
            "NOTICE: python3 with pyarrow is not available; skipping the pyarrow interop test \
             (pip install pyarrow to run it)"
        );
        return;
    }
    let schema = vec![
        ColumnSchema {
            name: "id_number".into(),
            data_type: DataType::Text,
        },
        ColumnSchema {
            name: "age".into(),
            data_type: DataType::Integer,
        },
        ColumnSchema {
            name: "fee".into(),
            data_type: DataType::Float,
        },
    ];
    let csv = "id_number,age,fee\n110105194912310020,74,1234.5\n11010519491231002X,,0.25\n";
    let batches = csv_batches("t", &schema, None, csv.as_bytes()).unwrap();
    let dek = SecretKey::generate();
    let key = ObjectKey {
        dek: &dek,
        context: "ds-interop",
    };
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("v1.parquet");
    // The file holds ciphertext only (modular encryption, encrypted footer).
    let file = std::fs::File::create(&path).unwrap();
    write(
        file,
        medspace_columnar::arrow_schema(&schema),
        batches,
        CryptoProfile::International,
        key,
    )
    .unwrap();

    let out = run(&path, &hex::encode(dek.expose()), &key.key_id());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pyarrow failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        vec![
            r#"{"rows": 2, "columns": ["id_number", "age", "fee"], "types": ["string", "int64", "double"]}"#,
            r#"["110105194912310020", 74, 1234.5]"#,
            r#"["11010519491231002X", null, 0.25]"#,
        ]
    );

    // A wrong key: pyarrow refuses the footer.
    let wrong = run(
        &path,
        &hex::encode(SecretKey::generate().expose()),
        &key.key_id(),
    );
    assert!(!wrong.status.success(), "pyarrow read with a wrong key");
    assert!(!String::from_utf8_lossy(&wrong.stdout).contains("110105"));
}
