//! Helpers shared by the service integration tests: backends (SQLite, and PostgreSQL in a fresh
//! schema when MEDSPACE_TEST_PG_URL is set), nodes, accounts and generated data.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::{Path, PathBuf};

use medspace_core::Role;
use medspace_service::reexports::gen::{generate, GenOptions, Table};
use medspace_service::{Caller, InitOptions, Node};

pub const POLICY: &str = r#"
name = "test-policy"
k = 5
quasi_identifiers = ["sex", "birth_date"]
subject_column = "id_number"
default_action = "drop"
[columns.id_number]
action = "pseudonymize"
[columns.sex]
action = "keep"
[columns.birth_date]
action = "age_band"
reference_column = "admission_time"
[columns.visit_type]
action = "keep"
[columns.diagnosis_code]
action = "keep"
[columns.admission_time]
action = "date_shift"
[columns.discharge_time]
action = "date_shift"
[columns.total_fee]
action = "keep"
"#;

/// A database for one test: `None` is the embedded SQLite file; `Some(url)` a fresh PostgreSQL schema.
pub async fn backends() -> Vec<(&'static str, Option<String>)> {
    let mut out = vec![("sqlite", None)];
    match std::env::var("MEDSPACE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => {
            let schema = format!("ms_svc_{}", uuid_like());
            let pool = sqlx::PgPool::connect(&url)
                .await
                .expect("connect to MEDSPACE_TEST_PG_URL");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await
                .unwrap();
            let sep = if url.contains('?') { '&' } else { '?' };
            out.push((
                "postgres",
                Some(format!("{url}{sep}options=-c%20search_path%3D{schema}")),
            ));
        }
        _ => eprintln!(
            "NOTICE: MEDSPACE_TEST_PG_URL unset; skipping the PostgreSQL half of this service test"
        ),
    }
    out
}

/// Unique within the machine: two tests of one process may read the clock in the same
/// nanosecond (a CI run once made two schemas of the same name), so a process-wide counter
/// is part of the name.
pub fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let seq = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:x}_{:x}_{:x}", n, std::process::id(), seq)
}

pub async fn new_node(tmp: &Path, db: Option<String>) -> (Node, String) {
    new_node_with_profile(tmp, db, None).await
}

pub async fn new_node_with_profile(
    tmp: &Path,
    db: Option<String>,
    profile: Option<&str>,
) -> (Node, String) {
    let (node, outcome) = Node::init(InitOptions {
        dir: tmp.join("node"),
        database_url: db,
        profile: profile.map(str::to_string),
        master_key_file: Some(tmp.join("node.masterkey")),
        hsm: None,
        admin_username: "admin".into(),
        listen: None,
    })
    .await
    .unwrap();
    (node, outcome.admin_password)
}

/// TOTP secrets of the accounts the tests enrolled (by account id) and the time steps used.
/// Account id → (TOTP secret, time steps used).
type TotpSecrets = std::collections::HashMap<String, (String, Vec<i64>)>;
static TOTP: std::sync::Mutex<Option<TotpSecrets>> = std::sync::Mutex::new(None);

/// A fresh code of an enrolled account: a time step within the ±1 window not used before (each
/// code is accepted once); waits for the next step when all three are used.
pub async fn totp_code(user_id: &str) -> String {
    use medspace_service::identity::{totp_code, totp_step, TOTP_STEP_SECONDS};
    loop {
        let now = chrono::Utc::now().timestamp();
        {
            let mut map = TOTP.lock().unwrap();
            let (secret, used) = map
                .get_or_insert_with(Default::default)
                .get_mut(user_id)
                .expect("account enrolled by the tests");
            let step = totp_step(now);
            if let Some(s) = [step, step + 1, step - 1]
                .into_iter()
                .find(|s| !used.contains(s))
            {
                used.push(s);
                return totp_code(secret, s * TOTP_STEP_SECONDS).unwrap();
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

/// Enrols the caller's second factor (privileged roles must before anything else).
pub async fn enrol_totp(node: &Node, c: &Caller) {
    let e = node.begin_totp_enrolment(c).await.unwrap();
    TOTP.lock()
        .unwrap()
        .get_or_insert_with(Default::default)
        .insert(c.id().to_string(), (e.secret, Vec::new()));
    node.confirm_totp_enrolment(c, &totp_code(c.id()).await)
        .await
        .unwrap();
}

/// Logs in (with a TOTP code when the account has one enrolled) and returns the session token.
pub async fn login_token(node: &Node, user: &str, password: &str) -> String {
    let id = node.user_named(user).await.unwrap().unwrap().id;
    let enrolled = TOTP
        .lock()
        .unwrap()
        .get_or_insert_with(Default::default)
        .contains_key(&id);
    let code = if enrolled {
        Some(totp_code(&id).await)
    } else {
        None
    };
    node.login_with_code(user, password, code.as_deref())
        .await
        .unwrap()
        .token
}

/// First login with the one-time password: sets `New-Passw0rd-2026`, enrols a second factor when
/// the role needs one, and returns the (same) session, now unrestricted.
pub async fn activate(node: &Node, user: &str, otp: &str) -> Caller {
    let token = node.login(user, otp).await.unwrap().token;
    let c = node.authenticate(&token).await.unwrap();
    node.change_password(&c, otp, "New-Passw0rd-2026")
        .await
        .unwrap();
    let c = node.authenticate(&token).await.unwrap();
    if c.must_enrol_second_factor {
        enrol_totp(node, &c).await;
    }
    node.authenticate(&token).await.unwrap()
}

pub async fn accounts(node: &Node, admin_otp: &str) -> [Caller; 4] {
    let admin = activate(node, "admin", admin_otp).await;
    let mut out = Vec::new();
    for (name, role) in [
        ("officer", Role::SecurityOfficer),
        ("reviewer", Role::CommitteeMember),
        ("researcher", Role::DataUser),
        ("auditor", Role::Auditor),
    ] {
        let (_, otp) = node.create_user(&admin, name, role).await.unwrap();
        out.push(activate(node, name, &otp).await);
    }
    out.try_into().unwrap()
}

pub fn settlements(rows: u64) -> Vec<u8> {
    let mut csv = Vec::new();
    generate(
        &GenOptions {
            rows,
            seed: 9,
            table: Table::Settlements,
            persons: None,
        },
        &mut csv,
        &mut |_| {},
    )
    .unwrap();
    csv
}

/// Every file under `root` (none if it does not exist).
pub fn files_under(root: &Path) -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out)
            } else {
                out.push(p)
            }
        }
    }
    let mut out = Vec::new();
    if root.exists() {
        walk(root, &mut out);
    }
    out
}

/// The stored objects of the node in `dir` (default local object store).
pub fn object_files(dir: &Path) -> Vec<PathBuf> {
    files_under(&dir.join("objects"))
}

/// GB/T 39725-2020 §9.2 a) 8): the officer confirms the proposed grading of a dataset and the
/// committee approves it, so the sandbox may use the dataset.
pub async fn approve_grading(node: &Node, officer: &Caller, reviewer: &Caller, dataset_id: &str) {
    node.confirm_grading(officer, dataset_id, "checked every column against the scan")
        .await
        .unwrap();
    node.decide_grading(
        reviewer,
        dataset_id,
        true,
        "grading follows Table 1 and §6.2",
    )
    .await
    .unwrap();
}

/// A second committee member (important data needs two, DMS 4.3.2), created by the
/// administrator after [`accounts`].
pub async fn second_reviewer(node: &Node) -> Caller {
    let admin = node
        .authenticate(&login_token(node, "admin", "New-Passw0rd-2026").await)
        .await
        .unwrap();
    let (_, otp) = node
        .create_user(&admin, "reviewer2", Role::CommitteeMember)
        .await
        .unwrap();
    activate(node, "reviewer2", &otp).await
}

/// Ingests `csv` as the dataset `claims` (the security officer).
pub async fn ingest_claims(
    node: &Node,
    officer: &Caller,
    csv: Vec<u8>,
) -> medspace_core::DatasetMeta {
    node.ingest(
        officer,
        medspace_service::datasets::IngestRequest {
            name: "claims".into(),
            source_name: "claims.csv".into(),
            owner: None,
            update_frequency: "monthly".into(),
        },
        Box::new(std::io::Cursor::new(csv)),
        Box::new(|_| {}),
    )
    .await
    .unwrap()
}

/// Files an application for `columns` of `dataset_id` that names every special-disease class (so
/// the sandbox's row filter withholds nothing) and has `reviewer` approve it with `reason`.
pub async fn approved_application(
    node: &Node,
    researcher: &Caller,
    reviewer: &Caller,
    dataset_id: &str,
    columns: &[&str],
    purpose: &str,
    reason: &str,
) {
    let app = node
        .apply(
            researcher,
            medspace_service::workflow::ApplicationRequest {
                dataset_id: dataset_id.to_string(),
                columns: columns.iter().map(|c| c.to_string()).collect(),
                purpose: purpose.to_string(),
                period_days: 30,
                special_diseases: medspace_service::patients::SPECIAL_DISEASES
                    .iter()
                    .map(|d| d.to_string())
                    .collect(),
            },
        )
        .await
        .unwrap();
    node.decide_application(reviewer, &app.id, true, reason)
        .await
        .unwrap();
}
