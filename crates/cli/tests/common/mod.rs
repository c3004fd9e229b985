//! Helpers shared by the CLI integration tests: the binary with a clean environment, and
//! `audit verify --format json`.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::Path;
use std::process::Command;

/// The `medspace` binary, without node settings inherited from the environment.
pub fn medspace() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_medspace"));
    c.env_remove("MEDSPACE_MASTER_KEY_FILE")
        .env_remove("MEDSPACE_DATABASE_URL")
        .env_remove("MEDSPACE_LISTEN");
    c
}

/// Runs `medspace audit verify --format json --dir DIR`: whether it succeeded, and its report.
pub fn verify_json(dir: &Path) -> (bool, serde_json::Value) {
    let out = medspace()
        .args(["audit", "verify", "--format", "json", "--dir"])
        .arg(dir)
        .output()
        .expect("run medspace audit verify");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify output not JSON ({e}): {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), v)
}
