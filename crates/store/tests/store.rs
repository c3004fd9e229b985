//! Store behaviour on both backends: SQLite in a temporary file, and PostgreSQL in a fresh schema
//! of the server named by `MEDSPACE_TEST_PG_URL` (skipped with a visible notice when unset).
//!
//! Every test is written once, as an async fn over `Arc<dyn Store>` (or over the [`Fixture`] when
//! it needs raw database access or a second handle), and instantiated for both backends by
//! `both_backends!`, as `sqlite::<name>` and `postgres::<name>`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should fail the test

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use medspace_audit::{AuditEntry, ChainBreak, ChainVerifier, VerifyReport};
use medspace_core::classification::DmsClass;
use medspace_core::*;
use medspace_store::{
    AuditCommitter, AuditTreeNode, AuditTreeState, Backend, PgStore, SqliteStore, Store,
    StoreError, StoredCheckpoint,
};
use medspace_store::{StoredCosignature, WitnessHead};

// ---------------------------------------------------------------- fixtures

enum Db {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres {
        url: String,
        schema: String,
    },
}

/// A migrated store on a fresh database, and raw access to that database.
struct Fixture {
    store: Arc<dyn Store>,
    db: Db,
}

impl Fixture {
    async fn sqlite() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metadata.db");
        let store = SqliteStore::open(&path).await.unwrap();
        store.migrate().await.unwrap();
        Fixture {
            store: Arc::new(store),
            db: Db::Sqlite { _dir: dir, path },
        }
    }

    async fn postgres() -> Option<Fixture> {
        let url = match std::env::var("MEDSPACE_TEST_PG_URL") {
            Ok(u) if !u.trim().is_empty() => u,
            _ => {
                eprintln!("NOTICE: MEDSPACE_TEST_PG_URL unset; skipping PostgreSQL test (set it, e.g. postgres://postgres@127.0.0.1:5432/test, to run it)");
                return None;
            }
        };
        let schema = format!("ms_test_{}", uuid::Uuid::new_v4().simple());
        let pool = sqlx::PgPool::connect(&url)
            .await
            .expect("connect to MEDSPACE_TEST_PG_URL");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let store = PgStore::connect_with_schema(&url, &schema).await.unwrap();
        store.migrate().await.unwrap();
        Some(Fixture {
            store: Arc::new(store),
            db: Db::Postgres { url, schema },
        })
    }

    /// A second, independent handle on the same database (as a second process would have).
    async fn reopen(&self) -> Arc<dyn Store> {
        match &self.db {
            Db::Sqlite { path, .. } => Arc::new(SqliteStore::open(path).await.unwrap()),
            Db::Postgres { url, schema } => {
                Arc::new(PgStore::connect_with_schema(url, schema).await.unwrap())
            }
        }
    }

    /// Runs one statement directly on the database, bypassing the store.
    async fn raw(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match &self.db {
            Db::Sqlite { path, .. } => {
                let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
                let pool = sqlx::SqlitePool::connect_with(opts).await?;
                let r = sqlx::query(sql)
                    .execute(&pool)
                    .await
                    .map(|d| d.rows_affected());
                pool.close().await;
                r
            }
            Db::Postgres { url, schema } => {
                let opts = sqlx::postgres::PgConnectOptions::from_str(url)?
                    .options([("search_path", schema.as_str())]);
                let pool = sqlx::PgPool::connect_with(opts).await?;
                let r = sqlx::query(sql)
                    .execute(&pool)
                    .await
                    .map(|d| d.rows_affected());
                pool.close().await;
                r
            }
        }
    }

    /// Removes the triggers that refuse UPDATE/DELETE on audit_log (what an attacker with database
    /// access could do).
    async fn drop_append_only_guard(&self) {
        let sql: &[&str] = match self.db {
            Db::Sqlite { .. } => &[
                "DROP TRIGGER audit_log_no_update",
                "DROP TRIGGER audit_log_no_delete",
            ],
            Db::Postgres { .. } => &["DROP TRIGGER audit_log_no_change ON audit_log"],
        };
        for s in sql {
            self.raw(s).await.unwrap();
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Best effort, also when the test panicked: drop the PostgreSQL schema from a helper thread
        // with its own runtime (the test's runtime may be shutting down).
        if let Db::Postgres { url, schema } = &self.db {
            let (url, schema) = (url.clone(), schema.clone());
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                            .execute(&pool)
                            .await;
                        pool.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// Instantiates each listed test for both backends. `store:` tests take `Arc<dyn Store>`,
/// `fixture:` tests take `&Fixture`.
macro_rules! both_backends {
    (store: [$($s:ident),* $(,)?], fixture: [$($f:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            use super::Fixture;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $s() {
                let f = Fixture::sqlite().await;
                super::$s(f.store.clone()).await;
            })*
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $f() {
                let f = Fixture::sqlite().await;
                super::$f(&f).await;
            })*
        }
        mod postgres {
            use super::Fixture;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $s() {
                if let Some(f) = Fixture::postgres().await {
                    super::$s(f.store.clone()).await;
                }
            })*
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $f() {
                if let Some(f) = Fixture::postgres().await {
                    super::$f(&f).await;
                }
            })*
        }
    };
}

both_backends!(
    store: [
        migrations_are_idempotent,
        entities_round_trip,
        timestamps_round_trip_exactly,
        lists_are_oldest_first_and_filtered,
        sessions_touch_and_end,
        unique_violations_are_reported_and_leave_no_audit_entry,
        missing_references_are_reported_and_leave_no_audit_entry,
        decisions_happen_once,
        exports_download_only_when_approved,
        audit_chain_verifies_against_head,
        concurrent_appends_form_a_gapless_chain,
        wrapped_keys_are_listed_and_replaced_all_or_nothing,
        group_commit_acknowledges_only_committed_entries,
    ],
    fixture: [
        audit_tree_moves_forward_once_and_stays_append_only,
        witness_heads_move_forward_compare_and_set_and_cosignatures_are_append_only,
        two_handles_writing_concurrently_keep_one_chain,
        audit_log_refuses_edits_and_tampering_is_located,
        failed_audit_append_aborts_the_change,
        dual_approvals_are_one_per_person_and_append_only,
    ],
);

// ---------------------------------------------------------------- helpers

fn ev(action: &str, target: &str) -> AuditEvent {
    AuditEvent::new("u-test", action, target, Outcome::Success)
}

/// A timestamp with nanoseconds, so truncation to microseconds would be caught.
fn at(secs: i64, nanos: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + secs, nanos)
        .single()
        .unwrap()
}

fn user(name: &str) -> User {
    User {
        id: new_id("u"),
        username: name.into(),
        role: Role::DataUser,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        must_change_password: true,
        failed_logins: 0,
        locked: false,
        disabled: false,
        created_at: at(0, 123_456_789),
    }
}

fn dataset(name: &str) -> DatasetMeta {
    DatasetMeta {
        id: new_id("ds"),
        name: name.into(),
        kind: DatasetKind::Deidentified,
        format: "csv".into(),
        owner: "u-officer".into(),
        update_frequency: "monthly".into(),
        schema: vec![
            ColumnSchema {
                name: "sex".into(),
                data_type: DataType::Text,
            },
            ColumnSchema {
                name: "age".into(),
                data_type: DataType::Integer,
            },
        ],
        classification: vec![ColumnClassification {
            name: "sex".into(),
            semantic_type: SemanticType::Sex,
            category: Category::PersonalAttributes,
            level: Level::L3,
            identifier_kind: IdentifierKind::Quasi,
            dms_class: DmsClass::C2,
            confidence: 0.75,
            special_diseases: vec![],
        }],
        level: Level::L3,
        row_count: 10,
        version: 2,
        object_key: "datasets/x/v2.enc".into(),
        wrapped_key: vec![0, 1, 2, 3, 255, 0],
        content_sha256: "ab".repeat(32),
        lineage: Some(Lineage {
            source_id: "ds-src".into(),
            source_version: 1,
            policy_hash: "cd".repeat(32),
            project: "p1".into(),
        }),
        created_at: at(1, 1),
        destroyed_at: None,
    }
}

fn application(applicant: &User, ds: &DatasetMeta) -> Application {
    Application {
        id: new_id("app"),
        applicant_id: applicant.id.clone(),
        dataset_id: ds.id.clone(),
        columns: vec!["sex".into(), "age".into()],
        purpose: "readmission study".into(),
        period_start: at(10, 500),
        period_end: at(10 + 86_400 * 30, 999_999_999),
        status: Decision::Pending,
        decided_by: None,
        decision_reason: None,
        decided_at: None,
        created_at: at(2, 7),
        special_diseases: vec!["malignant_tumour".into()],
    }
}

fn query_record(u: &User, app: &Application) -> QueryRecord {
    QueryRecord {
        id: new_id("q"),
        user_id: u.id.clone(),
        application_id: app.id.clone(),
        sql_sha256: "ef".repeat(32),
        row_count: 4,
        object_key: "results/q.enc".into(),
        wrapped_key: vec![9; 40],
        created_at: at(3, 333),
    }
}

fn export(u: &User, q: &QueryRecord) -> ExportRequest {
    ExportRequest {
        id: new_id("exp"),
        requester_id: u.id.clone(),
        query_id: q.id.clone(),
        justification: "annual report".into(),
        status: Decision::Pending,
        decided_by: None,
        decision_reason: None,
        decided_at: None,
        downloads: 0,
        created_at: at(4, 4),
    }
}

/// A user, a dataset, an application, a query result and an export request, all stored.
async fn seed(store: &dyn Store) -> (User, DatasetMeta, Application, QueryRecord, ExportRequest) {
    let u = user(&format!("user-{}", new_id("n")));
    store
        .insert_user(&u, &ev("account.create", &u.id))
        .await
        .unwrap();
    let d = dataset(&format!("claims-{}", new_id("n")));
    store
        .insert_dataset(&d, &ev("dataset.ingest", &d.id))
        .await
        .unwrap();
    let a = application(&u, &d);
    store
        .insert_application(&a, &ev("application.create", &a.id))
        .await
        .unwrap();
    let q = query_record(&u, &a);
    store
        .insert_query(&q, &ev("sandbox.query", &q.id))
        .await
        .unwrap();
    let e = export(&u, &q);
    store
        .insert_export(&e, &ev("export.request", &e.id))
        .await
        .unwrap();
    (u, d, a, q, e)
}

/// Verifies the whole stored chain against the recorded head.
async fn verify(store: &dyn Store) -> Result<VerifyReport, ChainBreak> {
    let entries = store.audit_entries(1, i64::MAX).await.unwrap();
    let head = store.audit_head().await.unwrap().map(|h| (h.seq, h.hash));
    let mut v = ChainVerifier::new();
    for e in &entries {
        v.push(e)?;
    }
    v.finish(head)
}

async fn head_seq(store: &dyn Store) -> i64 {
    store.audit_head().await.unwrap().map_or(0, |h| h.seq)
}

async fn entry_count(store: &dyn Store) -> usize {
    store.audit_entries(1, i64::MAX).await.unwrap().len()
}

// ---------------------------------------------------------------- tests

async fn migrations_are_idempotent(store: Arc<dyn Store>) {
    assert!(store.audit_head().await.unwrap().is_none());
    store
        .put_setting("node_id", "node-1", &ev("node.init", "node-1"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    // Re-running migrations keeps data and the audit chain.
    assert_eq!(
        store.setting("node_id").await.unwrap().as_deref(),
        Some("node-1")
    );
    assert_eq!(head_seq(&*store).await, 1);
    assert_eq!(verify(&*store).await.unwrap().entries, 1);
}

async fn entities_round_trip(store: Arc<dyn Store>) {
    store
        .put_setting("node_id", "node-1", &ev("node.init", "node-1"))
        .await
        .unwrap();
    store
        .put_setting("node_id", "node-2", &ev("node.init", "node-2"))
        .await
        .unwrap();
    assert_eq!(
        store.setting("node_id").await.unwrap().as_deref(),
        Some("node-2")
    );
    assert_eq!(store.setting("missing").await.unwrap(), None);

    let mut u = user("researcher");
    u.role = Role::CommitteeMember;
    store
        .insert_user(&u, &ev("account.create", &u.id))
        .await
        .unwrap();
    assert_eq!(store.user_by_name("researcher").await.unwrap().unwrap(), u);
    assert_eq!(store.user_by_id(&u.id).await.unwrap().unwrap(), u);
    assert_eq!(store.user_by_name("nobody").await.unwrap(), None);
    store
        .set_login_state(&u.id, 3, true, &ev("account.login", &u.id))
        .await
        .unwrap();
    store
        .set_password(&u.id, "new-hash", false, &ev("account.password", &u.id))
        .await
        .unwrap();
    let back = store.user_by_id(&u.id).await.unwrap().unwrap();
    assert_eq!(
        (
            back.failed_logins,
            back.locked,
            back.password_hash.as_str(),
            back.must_change_password,
            back.role
        ),
        (3, true, "new-hash", false, Role::CommitteeMember)
    );
    assert!(matches!(
        store.set_login_state("u-none", 0, false, &ev("account.login", "u-none")).await,
        Err(StoreError::NotFound { what }) if what == "user `u-none`"
    ));
    assert!(matches!(
        store
            .set_password("u-none", "h", false, &ev("account.password", "u-none"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.list_users().await.unwrap(), vec![back]);

    // A derived dataset with lineage, and a raw one without.
    let d = dataset("claims");
    store
        .insert_dataset(&d, &ev("dataset.ingest", &d.id))
        .await
        .unwrap();
    assert_eq!(store.dataset(&d.id).await.unwrap().unwrap(), d);
    assert_eq!(store.dataset_by_name("claims").await.unwrap().unwrap(), d);
    let mut raw = dataset("claims-raw");
    raw.kind = DatasetKind::Raw;
    raw.lineage = None;
    raw.level = Level::L5;
    raw.classification.clear();
    raw.created_at = at(5, 0);
    store
        .insert_dataset(&raw, &ev("dataset.ingest", &raw.id))
        .await
        .unwrap();
    assert_eq!(store.dataset(&raw.id).await.unwrap().unwrap(), raw);
    assert_eq!(store.dataset("ds-none").await.unwrap(), None);

    let app = application(&u, &d);
    store
        .insert_application(&app, &ev("application.create", &app.id))
        .await
        .unwrap();
    assert_eq!(store.application(&app.id).await.unwrap().unwrap(), app);
    let decided_at = at(20, 987_654_321);
    store
        .decide_application(
            &app.id,
            Decision::Approved,
            "u-rev",
            "fine",
            decided_at,
            &ev("application.decide", &app.id),
        )
        .await
        .unwrap();
    let decided = Application {
        status: Decision::Approved,
        decided_by: Some("u-rev".into()),
        decision_reason: Some("fine".into()),
        decided_at: Some(decided_at),
        ..app.clone()
    };
    assert_eq!(store.application(&app.id).await.unwrap().unwrap(), decided);

    let q = query_record(&u, &app);
    store
        .insert_query(&q, &ev("sandbox.query", &q.id))
        .await
        .unwrap();
    assert_eq!(store.query_record(&q.id).await.unwrap().unwrap(), q);
    assert_eq!(store.query_record("q-none").await.unwrap(), None);

    let e = export(&u, &q);
    store
        .insert_export(&e, &ev("export.request", &e.id))
        .await
        .unwrap();
    assert_eq!(store.export_request(&e.id).await.unwrap().unwrap(), e);
    store
        .decide_export(
            &e.id,
            Decision::Rejected,
            "u-rev",
            "too small",
            decided_at,
            &ev("export.decide", &e.id),
        )
        .await
        .unwrap();
    let decided = ExportRequest {
        status: Decision::Rejected,
        decided_by: Some("u-rev".into()),
        decision_reason: Some("too small".into()),
        decided_at: Some(decided_at),
        ..e.clone()
    };
    assert_eq!(store.export_request(&e.id).await.unwrap().unwrap(), decided);

    // Every write above left exactly one audit entry, and the chain is intact.
    assert_eq!(verify(&*store).await.unwrap().entries, 12);
}

async fn timestamps_round_trip_exactly(store: Arc<dyn Store>) {
    // Nanoseconds (PostgreSQL timestamps would keep only microseconds), the epoch, a leap day.
    for (i, t) in [
        at(0, 1),
        at(0, 999_999_999),
        Utc.timestamp_opt(0, 0).single().unwrap(),
        Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 59)
            .single()
            .unwrap(),
        Utc::now(),
    ]
    .into_iter()
    .enumerate()
    {
        let mut u = user(&format!("t{i}"));
        u.created_at = t;
        store
            .insert_user(&u, &ev("account.create", &u.id))
            .await
            .unwrap();
        assert_eq!(
            store.user_by_id(&u.id).await.unwrap().unwrap().created_at,
            t
        );
    }
}

async fn lists_are_oldest_first_and_filtered(store: Arc<dyn Store>) {
    let mut alice = user("alice");
    alice.created_at = at(100, 0);
    let mut bob = user("bob");
    bob.created_at = at(50, 0);
    for u in [&alice, &bob] {
        store
            .insert_user(u, &ev("account.create", &u.id))
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .list_users()
            .await
            .unwrap()
            .iter()
            .map(|u| u.username.as_str())
            .collect::<Vec<_>>(),
        ["bob", "alice"]
    );

    let mut newer = dataset("newer");
    newer.created_at = at(9, 0);
    let mut older = dataset("older");
    older.created_at = at(8, 999_999_999);
    store
        .insert_dataset(&newer, &ev("dataset.ingest", &newer.id))
        .await
        .unwrap();
    store
        .insert_dataset(&older, &ev("dataset.ingest", &older.id))
        .await
        .unwrap();
    assert_eq!(
        store.list_datasets().await.unwrap(),
        vec![older.clone(), newer.clone()]
    );

    let mut a1 = application(&alice, &older);
    a1.created_at = at(30, 0);
    let mut a2 = application(&alice, &newer);
    a2.created_at = at(20, 0);
    let b1 = application(&bob, &older);
    for a in [&a1, &a2, &b1] {
        store
            .insert_application(a, &ev("application.create", &a.id))
            .await
            .unwrap();
    }
    let ids = |v: Vec<Application>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_applications(Some(&alice.id)).await.unwrap()),
        [a2.id.clone(), a1.id.clone()]
    );
    assert_eq!(
        ids(store.list_applications(Some(&bob.id)).await.unwrap()),
        vec![b1.id.clone()]
    );
    assert_eq!(store.list_applications(None).await.unwrap().len(), 3);
    assert!(store
        .list_applications(Some("u-other"))
        .await
        .unwrap()
        .is_empty());

    let qa = query_record(&alice, &a1);
    let qb = query_record(&bob, &b1);
    store
        .insert_query(&qa, &ev("sandbox.query", &qa.id))
        .await
        .unwrap();
    store
        .insert_query(&qb, &ev("sandbox.query", &qb.id))
        .await
        .unwrap();
    let ea = export(&alice, &qa);
    let eb = export(&bob, &qb);
    store
        .insert_export(&ea, &ev("export.request", &ea.id))
        .await
        .unwrap();
    store
        .insert_export(&eb, &ev("export.request", &eb.id))
        .await
        .unwrap();
    assert_eq!(store.list_exports(Some(&bob.id)).await.unwrap(), vec![eb]);
    assert_eq!(store.list_exports(None).await.unwrap().len(), 2);
}

async fn sessions_touch_and_end(store: Arc<dyn Store>) {
    let u = user("s");
    store
        .insert_user(&u, &ev("account.create", &u.id))
        .await
        .unwrap();
    let s = Session {
        token_hash: "a1".repeat(32),
        user_id: u.id.clone(),
        created_at: at(0, 11),
        last_seen: at(0, 11),
    };
    store
        .insert_session(&s, &ev("account.login", &u.id))
        .await
        .unwrap();
    assert_eq!(store.session(&s.token_hash).await.unwrap().unwrap(), s);
    let head = head_seq(&*store).await;
    let later = at(180, 22);
    store.touch_session(&s.token_hash, later).await.unwrap();
    assert_eq!(
        store
            .session(&s.token_hash)
            .await
            .unwrap()
            .unwrap()
            .last_seen,
        later
    );
    assert_eq!(
        head_seq(&*store).await,
        head,
        "touching a session is not audited"
    );
    assert!(matches!(
        store.insert_session(&s, &ev("account.login", &u.id)).await,
        Err(StoreError::AlreadyExists { .. })
    ));
    let r = store
        .delete_session(&s.token_hash, &ev("account.logout", &u.id))
        .await
        .unwrap();
    assert_eq!(r.seq, head + 1);
    assert!(store.session(&s.token_hash).await.unwrap().is_none());
    // Ending an ended session is harmless, and still audited.
    let r = store
        .delete_session(&s.token_hash, &ev("session.expire", &u.id))
        .await
        .unwrap();
    assert_eq!(r.seq, head + 2);
}

async fn unique_violations_are_reported_and_leave_no_audit_entry(store: Arc<dyn Store>) {
    let d = dataset("claims");
    store
        .insert_dataset(&d, &ev("dataset.ingest", &d.id))
        .await
        .unwrap();
    let head = store.audit_head().await.unwrap().unwrap();

    let dup = dataset("claims");
    let err = store
        .insert_dataset(&dup, &ev("dataset.ingest", &dup.id))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::AlreadyExists { what } if what == "dataset name `claims`"),
        "{err}"
    );
    assert_eq!(err.to_string(), "dataset name `claims` already exists");
    // Fail closed: the refused change left no audit entry behind.
    assert_eq!(store.audit_head().await.unwrap().unwrap(), head);
    assert_eq!(entry_count(&*store).await, 1);
    assert!(store.dataset(&dup.id).await.unwrap().is_none());

    // A duplicate id is named as such.
    let mut same_id = dataset("other-name");
    same_id.id = d.id.clone();
    let err = store
        .insert_dataset(&same_id, &ev("dataset.ingest", &d.id))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::AlreadyExists { what } if *what == format!("dataset `{}`", d.id)),
        "{err}"
    );

    let u = user("zhang.wei");
    store
        .insert_user(&u, &ev("account.create", &u.id))
        .await
        .unwrap();
    let head = store.audit_head().await.unwrap().unwrap();
    let err = store
        .insert_user(&user("zhang.wei"), &ev("account.create", "u-x"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err}");
    assert!(
        !err.to_string().contains("zhang"),
        "the login name is not repeated: {err}"
    );
    assert_eq!(store.audit_head().await.unwrap().unwrap(), head);
    assert_eq!(verify(&*store).await.unwrap().entries, 2);
}

async fn missing_references_are_reported_and_leave_no_audit_entry(store: Arc<dyn Store>) {
    let u = user("applicant");
    store
        .insert_user(&u, &ev("account.create", &u.id))
        .await
        .unwrap();
    let mut ghost = dataset("ghost");
    ghost.id = "ds-missing".into();
    let app = application(&u, &ghost);
    let err = store
        .insert_application(&app, &ev("application.create", &app.id))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotFound { what } if what.contains("ds-missing")),
        "{err}"
    );
    let s = Session {
        token_hash: "ff".repeat(32),
        user_id: "u-missing".into(),
        created_at: at(0, 0),
        last_seen: at(0, 0),
    };
    assert!(matches!(
        store
            .insert_session(&s, &ev("account.login", "u-missing"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(head_seq(&*store).await, 1);
    assert!(store.application(&app.id).await.unwrap().is_none());
}

async fn decisions_happen_once(store: Arc<dyn Store>) {
    let (_, _, app, _, exp) = seed(&*store).await;
    store
        .decide_application(
            &app.id,
            Decision::Approved,
            "u-rev",
            "fine",
            Utc::now(),
            &ev("application.decide", &app.id),
        )
        .await
        .unwrap();
    let head = store.audit_head().await.unwrap();
    let again = store
        .decide_application(
            &app.id,
            Decision::Rejected,
            "u-rev2",
            "no",
            Utc::now(),
            &ev("application.decide", &app.id),
        )
        .await;
    assert!(
        matches!(&again, Err(StoreError::Conflict(m)) if m.contains("approved")),
        "{again:?}"
    );
    assert_eq!(
        store.audit_head().await.unwrap(),
        head,
        "refused change left an audit entry"
    );
    let stored = store.application(&app.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.decided_by.as_deref()),
        (Decision::Approved, Some("u-rev"))
    );
    assert!(matches!(
        store.decide_application("app-none", Decision::Approved, "r", "x", Utc::now(), &ev("application.decide", "app-none")).await,
        Err(StoreError::NotFound { what }) if what == "application `app-none`"
    ));
    // "Deciding" to pending is not a decision.
    assert!(matches!(
        store
            .decide_export(
                &exp.id,
                Decision::Pending,
                "r",
                "x",
                Utc::now(),
                &ev("export.decide", &exp.id)
            )
            .await,
        Err(StoreError::Conflict(_))
    ));

    store
        .decide_export(
            &exp.id,
            Decision::Approved,
            "u-rev",
            "ok",
            Utc::now(),
            &ev("export.decide", &exp.id),
        )
        .await
        .unwrap();
    let head = store.audit_head().await.unwrap();
    assert!(matches!(
        store
            .decide_export(
                &exp.id,
                Decision::Approved,
                "u-rev",
                "ok",
                Utc::now(),
                &ev("export.decide", &exp.id)
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .decide_export(
                "exp-none",
                Decision::Approved,
                "u-rev",
                "ok",
                Utc::now(),
                &ev("export.decide", "exp-none")
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.audit_head().await.unwrap(), head);
    verify(&*store).await.unwrap();
}

async fn exports_download_only_when_approved(store: Arc<dyn Store>) {
    let (u, _, _, q, pending) = seed(&*store).await;
    let head = head_seq(&*store).await;
    assert!(matches!(
        store.record_export_download(&pending.id, &ev("export.download", &pending.id)).await,
        Err(StoreError::Conflict(m)) if m.contains("pending")
    ));
    assert!(matches!(
        store
            .record_export_download("exp-none", &ev("export.download", "exp-none"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(head_seq(&*store).await, head);

    store
        .decide_export(
            &pending.id,
            Decision::Approved,
            "u-rev",
            "ok",
            Utc::now(),
            &ev("export.decide", &pending.id),
        )
        .await
        .unwrap();
    for _ in 0..3 {
        store
            .record_export_download(&pending.id, &ev("export.download", &pending.id))
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .export_request(&pending.id)
            .await
            .unwrap()
            .unwrap()
            .downloads,
        3
    );

    let rejected = export(&u, &q);
    store
        .insert_export(&rejected, &ev("export.request", &rejected.id))
        .await
        .unwrap();
    store
        .decide_export(
            &rejected.id,
            Decision::Rejected,
            "u-rev",
            "no",
            Utc::now(),
            &ev("export.decide", &rejected.id),
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .record_export_download(&rejected.id, &ev("export.download", &rejected.id))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .export_request(&rejected.id)
            .await
            .unwrap()
            .unwrap()
            .downloads,
        0
    );
}

async fn audit_chain_verifies_against_head(store: Arc<dyn Store>) {
    let mut receipts = Vec::new();
    for i in 0..25 {
        let event = AuditEvent::new(
            format!("u-{i}"),
            "dataset.read",
            format!("ds-{i}"),
            Outcome::Denied,
        )
        .with_detail(serde_json::json!({"z": i, "a": "x"}));
        receipts.push(store.append_audit(&event).await.unwrap());
    }
    assert_eq!(
        receipts.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=25).collect::<Vec<_>>()
    );
    let head = store.audit_head().await.unwrap().unwrap();
    assert_eq!(
        (head.seq, head.hash.as_str()),
        (25, receipts[24].hash.as_str())
    );

    let entries = store.audit_entries(1, 1000).await.unwrap();
    assert_eq!(entries.len(), 25);
    for (e, r) in entries.iter().zip(&receipts) {
        assert_eq!((e.seq, &e.hash), (r.seq, &r.hash));
        let parsed: AuditEntry = serde_json::from_str(&e.entry).unwrap();
        assert_eq!(parsed.actor, format!("u-{}", e.seq - 1));
        assert_eq!(parsed.target, format!("ds-{}", e.seq - 1));
        assert_eq!(parsed.outcome, Outcome::Denied);
    }
    let report = verify(&*store).await.unwrap();
    assert_eq!((report.entries, report.head_hash), (25, head.hash));

    // Paging.
    let page = store.audit_entries(11, 5).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [11, 12, 13, 14, 15]
    );
    assert!(store.audit_entries(26, 5).await.unwrap().is_empty());
    assert!(store.audit_entries(1, 0).await.unwrap().is_empty());
    assert!(store.audit_entries(1, -1).await.unwrap().is_empty());
}

async fn concurrent_appends_form_a_gapless_chain(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for t in 0..8 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..10 {
                seqs.push(
                    s.append_audit(&ev("test.append", &format!("t{t}-{i}")))
                        .await
                        .unwrap()
                        .seq,
                );
            }
            seqs
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.extend(t.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=80).collect::<Vec<_>>(),
        "every append got its own seq"
    );
    assert_eq!(verify(&*store).await.unwrap().entries, 80);
}

async fn two_handles_writing_concurrently_keep_one_chain(f: &Fixture) {
    assert_eq!(f.store.backend(), f.reopen().await.backend());
    let handles = [f.store.clone(), f.reopen().await];
    let mut tasks = Vec::new();
    for (h, store) in handles.iter().enumerate() {
        for t in 0..4 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..8 {
                    if i % 2 == 0 {
                        s.append_audit(&ev("test.append", &format!("h{h}-t{t}-{i}")))
                            .await
                            .unwrap();
                    } else {
                        s.put_setting(&format!("k{h}{t}"), &i.to_string(), &ev("setting.put", "k"))
                            .await
                            .unwrap();
                    }
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(verify(&*f.store).await.unwrap().entries, 64);
    assert_eq!(verify(&*handles[1]).await.unwrap().entries, 64);
    assert_eq!(f.store.setting("k13").await.unwrap().as_deref(), Some("7"));
}

async fn audit_log_refuses_edits_and_tampering_is_located(f: &Fixture) {
    for i in 1..=5 {
        f.store
            .append_audit(&ev("test.append", &format!("t-{i}")))
            .await
            .unwrap();
    }
    // The schema itself refuses edits and deletions.
    assert!(f
        .raw("UPDATE audit_log SET entry = 'x' WHERE seq = 3")
        .await
        .is_err());
    assert!(f.raw("DELETE FROM audit_log WHERE seq = 5").await.is_err());
    if matches!(f.db, Db::Postgres { .. }) {
        assert!(f.raw("TRUNCATE audit_log").await.is_err());
    }
    assert_eq!(verify(&*f.store).await.unwrap().entries, 5);

    // Someone with database access removes the guard and changes one byte of entry 3.
    f.drop_append_only_guard().await;
    let changed = f
        .raw(r#"UPDATE audit_log SET entry = replace(entry, '"target":"t-3"', '"target":"t-4"') WHERE seq = 3"#)
        .await
        .unwrap();
    assert_eq!(changed, 1);
    let tampered = f.store.audit_entries(3, 1).await.unwrap();
    assert!(tampered[0].entry.contains(r#""target":"t-4""#));
    let err = verify(&*f.store).await.unwrap_err();
    assert_eq!(err, ChainBreak::HashMismatch { seq: 3 });
    assert_eq!(err.seq(), 3);

    // Removing the last entry is caught against the recorded head.
    f.raw("UPDATE audit_log SET entry = replace(entry, '\"target\":\"t-4\"', '\"target\":\"t-3\"') WHERE seq = 3").await.unwrap();
    verify(&*f.store).await.unwrap();
    f.raw("DELETE FROM audit_log WHERE seq = 5").await.unwrap();
    let err = verify(&*f.store).await.unwrap_err();
    assert_eq!(
        err,
        ChainBreak::Truncated {
            head_seq: 5,
            found: 4
        }
    );
}

async fn failed_audit_append_aborts_the_change(f: &Fixture) {
    let store = &f.store;
    store.append_audit(&ev("test.append", "one")).await.unwrap();
    let head = store.audit_head().await.unwrap().unwrap();
    // Occupy the next audit position, so the next append cannot be written.
    f.raw("INSERT INTO audit_log (seq, entry, hash) VALUES (2, 'occupied', 'x')")
        .await
        .unwrap();

    let d = dataset("claims");
    let err = store
        .insert_dataset(&d, &ev("dataset.ingest", &d.id))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Audit(_)), "{err}");
    assert!(err.to_string().contains("change not made"), "{err}");
    assert!(
        store.dataset(&d.id).await.unwrap().is_none(),
        "change stored without its audit entry"
    );
    assert!(store.dataset_by_name("claims").await.unwrap().is_none());
    assert_eq!(store.audit_head().await.unwrap().unwrap(), head);
    assert!(matches!(
        store.put_setting("k", "v", &ev("setting.put", "k")).await,
        Err(StoreError::Audit(_))
    ));
    assert_eq!(store.setting("k").await.unwrap(), None);
    assert!(matches!(
        store.append_audit(&ev("test.append", "two")).await,
        Err(StoreError::Audit(_))
    ));
    // The planted row itself is flagged by verification.
    assert_eq!(
        verify(&**store).await.unwrap_err(),
        ChainBreak::HashMismatch { seq: 2 }
    );
    assert_eq!(
        store.backend() == Backend::Sqlite,
        matches!(f.db, Db::Sqlite { .. })
    );
}

async fn wrapped_keys_are_listed_and_replaced_all_or_nothing(store: Arc<dyn Store>) {
    use medspace_store::{KeyOwner, WrappedKeyRef};
    let (_, d, _, q, _) = seed(&*store).await;
    store
        .put_setting(
            "master_key_check",
            &hex::encode([9u8; 4]),
            &ev("keys.master.register", "k"),
        )
        .await
        .unwrap();
    store
        .insert_project_key(
            "study-1",
            "pseudonym",
            &[1, 2, 3],
            &ev("keys.project.create", "study-1"),
        )
        .await
        .unwrap();
    // A second writer racing to create the same key is told it exists.
    assert!(matches!(
        store
            .insert_project_key(
                "study-1",
                "pseudonym",
                &[4],
                &ev("keys.project.create", "study-1")
            )
            .await,
        Err(StoreError::AlreadyExists { .. })
    ));
    assert_eq!(
        store.project_key("study-1", "pseudonym").await.unwrap(),
        Some(vec![1, 2, 3])
    );
    assert_eq!(
        store.project_key("study-1", "date-shift").await.unwrap(),
        None
    );

    let keys = store.wrapped_keys().await.unwrap();
    let owners: Vec<&KeyOwner> = keys.iter().map(|k| &k.owner).collect();
    assert!(owners.contains(&&KeyOwner::Dataset(d.id.clone())));
    assert!(owners.contains(&&KeyOwner::QueryResult(q.id.clone())));
    assert!(owners.contains(&&KeyOwner::Setting("master_key_check".into())));
    assert!(owners.contains(&&KeyOwner::ProjectKey {
        project: "study-1".into(),
        purpose: "pseudonym".into()
    }));

    // One reference to a missing row: nothing is replaced and no audit entry is left.
    let before = head_seq(&*store).await;
    let mut replaced: Vec<WrappedKeyRef> = keys
        .iter()
        .map(|k| WrappedKeyRef {
            owner: k.owner.clone(),
            wrapped: vec![7; 5],
        })
        .collect();
    replaced.push(WrappedKeyRef {
        owner: KeyOwner::Dataset("ds-missing".into()),
        wrapped: vec![7],
    });
    assert!(store
        .replace_wrapped_keys(&replaced, &ev("keys.rewrap", "all"))
        .await
        .is_err());
    assert_eq!(head_seq(&*store).await, before);
    assert_eq!(store.wrapped_keys().await.unwrap(), keys);

    replaced.pop();
    store
        .replace_wrapped_keys(&replaced, &ev("keys.rewrap", "all"))
        .await
        .unwrap();
    assert_eq!(head_seq(&*store).await, before + 1);
    assert!(store
        .wrapped_keys()
        .await
        .unwrap()
        .iter()
        .all(|k| k.wrapped == vec![7; 5]));
    assert_eq!(
        store.setting("master_key_check").await.unwrap().as_deref(),
        Some("0707070707")
    );
    verify(&*store).await.unwrap();
}

async fn group_commit_acknowledges_only_committed_entries(store: Arc<dyn Store>) {
    let committer = AuditCommitter::start(store.clone());
    let mut tasks = Vec::new();
    for t in 0..16 {
        let c = committer.clone();
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut receipts = Vec::new();
            for i in 0..40 {
                if t == 0 && i % 10 == 0 {
                    // Audited changes queue on the same writer as the batches.
                    s.put_setting("k", &i.to_string(), &ev("setting.put", "k"))
                        .await
                        .unwrap();
                    continue;
                }
                let target = format!("t{t}-{i}");
                let r = c.append(ev("test.group", &target)).await.unwrap();
                receipts.push((target, r));
            }
            receipts
        }));
    }
    let mut receipts = Vec::new();
    for t in tasks {
        receipts.extend(t.await.unwrap());
    }
    assert_eq!(receipts.len(), 16 * 40 - 4);
    // Every acknowledged receipt names a stored entry with that content.
    for (target, r) in &receipts {
        let stored = store.audit_entries(r.seq, 1).await.unwrap();
        assert_eq!(stored[0].hash, r.hash);
        let entry: AuditEntry = serde_json::from_str(&stored[0].entry).unwrap();
        assert_eq!(&entry.target, target);
    }
    let mut seqs: Vec<i64> = receipts.iter().map(|(_, r)| r.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), receipts.len(), "one seq per append");
    assert_eq!(verify(&*store).await.unwrap().entries, 16 * 40);
    assert!(store.append_audit_batch(&[]).await.unwrap().is_empty());
}

async fn audit_tree_moves_forward_once_and_stays_append_only(f: &Fixture) {
    let store = &f.store;
    assert_eq!(
        store.audit_tree_state().await.unwrap(),
        AuditTreeState::default()
    );
    let node = |level: u32, index: u64, b: u8| AuditTreeNode {
        level,
        index,
        hash: vec![b; 32],
    };
    let three = AuditTreeState {
        size: 3,
        alg: Some("sha256".into()),
        border: vec![vec![4; 32], vec![3; 32]],
    };
    let nodes = [node(0, 0, 1), node(0, 1, 2), node(1, 0, 4), node(0, 2, 3)];
    store
        .extend_audit_tree(0, &nodes, &[], &three)
        .await
        .unwrap();
    assert_eq!(store.audit_tree_state().await.unwrap(), three);
    // A second integrator that also started from size 0 loses and writes nothing.
    let lost = store.extend_audit_tree(0, &nodes[..1], &[], &three).await;
    assert!(matches!(lost, Err(StoreError::Conflict(_))), "{lost:?}");
    // The algorithm cannot change.
    let sm3 = AuditTreeState {
        size: 4,
        alg: Some("sm3".into()),
        border: vec![vec![9; 32]],
    };
    assert!(matches!(
        store
            .extend_audit_tree(3, &[node(0, 3, 5)], &[], &sm3)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.audit_tree_state().await.unwrap(), three);
    assert_eq!(
        store
            .audit_tree_nodes(&[(1, 0), (0, 2), (0, 0)])
            .await
            .unwrap(),
        vec![vec![4; 32], vec![3; 32], vec![1; 32]]
    );
    let missing = store.audit_tree_nodes(&[(0, 3)]).await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound { .. }), "{missing}");

    let cp = |size: i64, b: u8| StoredCheckpoint {
        size,
        root: vec![b; 32],
        note: format!("origin\n{size}\nroot\n\n— origin sig\n"),
        created_at: at(1_700_000_000 + size, 5),
    };
    assert!(store.put_audit_checkpoint(&cp(2, 7)).await.unwrap());
    assert!(store.put_audit_checkpoint(&cp(3, 8)).await.unwrap());
    assert!(!store.put_audit_checkpoint(&cp(3, 9)).await.unwrap());
    assert_eq!(
        store.latest_audit_checkpoint().await.unwrap(),
        Some(cp(3, 8))
    );
    assert_eq!(
        store.audit_checkpoints(0, 10).await.unwrap(),
        vec![cp(2, 7), cp(3, 8)]
    );

    // The schema refuses edits of stored nodes and checkpoints.
    assert!(f
        .raw("UPDATE audit_tree_nodes SET hash = hash WHERE level = 0")
        .await
        .is_err());
    assert!(f.raw("DELETE FROM audit_tree_nodes").await.is_err());
    assert!(f.raw("DELETE FROM audit_checkpoints").await.is_err());
    assert!(f
        .raw("UPDATE audit_checkpoints SET note = 'x'")
        .await
        .is_err());
}

/// Witness state (C2SP tlog-witness): the head per origin moves forward compare-and-set together
/// with its audit entry, a lost race writes nothing, and the schema refuses to move a head back,
/// change its root or delete it; cosignatures received for this node's checkpoints are
/// append-only.
async fn witness_heads_move_forward_compare_and_set_and_cosignatures_are_append_only(f: &Fixture) {
    let store = &f.store;
    let origin = "medspace.local/a/audit";
    let head = |size: i64, b: u8| WitnessHead {
        origin: origin.into(),
        size,
        root: vec![b; 32],
        updated_at: at(size, 7),
    };
    assert_eq!(store.witness_head(origin).await.unwrap(), None);
    let entries = |s: &Arc<dyn Store>| {
        let s = s.clone();
        async move { s.audit_head().await.unwrap().map(|h| h.seq).unwrap_or(0) }
    };
    let before = entries(store).await;
    store
        .advance_witness_head(None, &head(5, 1), &ev("witness.cosign", origin))
        .await
        .unwrap();
    assert_eq!(entries(store).await, before + 1);
    assert_eq!(store.witness_head(origin).await.unwrap(), Some(head(5, 1)));
    // A second first-time writer, a stale expected head and a wrong root all lose, writing
    // neither the head nor an audit entry.
    for expected in [None, Some((4, &[1u8; 32][..])), Some((5, &[2u8; 32][..]))] {
        let lost = store
            .advance_witness_head(expected, &head(9, 3), &ev("witness.cosign", origin))
            .await;
        assert!(matches!(lost, Err(StoreError::Conflict(_))), "{lost:?}");
    }
    let moved_back = store
        .advance_witness_head(
            Some((5, &[1; 32])),
            &head(4, 3),
            &ev("witness.cosign", origin),
        )
        .await;
    assert!(
        matches!(moved_back, Err(StoreError::Conflict(_))),
        "{moved_back:?}"
    );
    assert_eq!(entries(store).await, before + 1);
    assert_eq!(store.witness_head(origin).await.unwrap(), Some(head(5, 1)));
    // Forward from the right head; the same head again is accepted and changes nothing.
    store
        .advance_witness_head(
            Some((5, &[1; 32])),
            &head(9, 3),
            &ev("witness.cosign", origin),
        )
        .await
        .unwrap();
    let mut again = head(9, 3);
    again.updated_at = at(20, 0);
    store
        .advance_witness_head(Some((9, &[3; 32])), &again, &ev("witness.cosign", origin))
        .await
        .unwrap();
    assert_eq!(store.witness_head(origin).await.unwrap().unwrap().size, 9);
    assert_eq!(
        store.witness_history(origin).await.unwrap(),
        vec![head(5, 1), head(9, 3)]
    );
    assert_eq!(store.witness_head("other/log").await.unwrap(), None);
    // The schema refuses to move back, to change the root, to delete.
    assert!(f.raw("UPDATE witness_heads SET size = 1").await.is_err());
    assert!(f
        .raw("UPDATE witness_heads SET root = root || root")
        .await
        .is_err());
    assert!(f.raw("DELETE FROM witness_heads").await.is_err());
    assert!(f.raw("DELETE FROM witness_history").await.is_err());
    assert!(f.raw("UPDATE witness_history SET size = 1").await.is_err());
    assert_eq!(store.witness_head(origin).await.unwrap().unwrap().size, 9);

    // Client side.
    let cosig = |size: i64, w: &str, sig: &str| StoredCosignature {
        size,
        witness: w.into(),
        signature: format!("\u{2014} {w} {sig}\n"),
        received_at: at(size, 3),
    };
    assert_eq!(store.latest_cosigned_size("w1").await.unwrap(), None);
    assert!(store
        .put_audit_cosignature(&cosig(3, "w1", "AAAA"))
        .await
        .unwrap());
    assert!(store
        .put_audit_cosignature(&cosig(3, "w2", "BBBB"))
        .await
        .unwrap());
    assert!(store
        .put_audit_cosignature(&cosig(7, "w1", "CCCC"))
        .await
        .unwrap());
    assert!(!store
        .put_audit_cosignature(&cosig(7, "w1", "DDDD"))
        .await
        .unwrap());
    assert_eq!(store.latest_cosigned_size("w1").await.unwrap(), Some(7));
    assert_eq!(store.latest_cosigned_size("w2").await.unwrap(), Some(3));
    assert_eq!(
        store.audit_cosignatures(0, 10).await.unwrap(),
        vec![
            cosig(3, "w1", "AAAA"),
            cosig(3, "w2", "BBBB"),
            cosig(7, "w1", "CCCC")
        ]
    );
    assert_eq!(
        store.audit_cosignatures(4, 10).await.unwrap(),
        vec![cosig(7, "w1", "CCCC")]
    );
    assert!(store.audit_cosignatures(0, 0).await.unwrap().is_empty());
    assert!(f
        .raw("UPDATE audit_cosignatures SET signature = 'x'")
        .await
        .is_err());
    assert!(f.raw("DELETE FROM audit_cosignatures").await.is_err());
}

async fn dual_approvals_are_one_per_person_and_append_only(f: &Fixture) {
    use medspace_store::DualApprovalRow;
    let store = &f.store;
    let (u, ..) = seed(store.as_ref()).await;
    let subject = "export:exp-1";
    let row = DualApprovalRow {
        subject: subject.into(),
        approver_id: u.id.clone(),
        reason: "looked at the aggregate".into(),
        decided_at: at(50, 1),
    };
    assert!(store.dual_approvals(subject).await.unwrap().is_empty());
    let before = entry_count(store.as_ref()).await;
    store
        .insert_dual_approval(&row, &ev("export.approve_first", "exp-1"))
        .await
        .unwrap();
    assert_eq!(entry_count(store.as_ref()).await, before + 1);
    assert_eq!(
        store.dual_approvals(subject).await.unwrap(),
        vec![row.clone()]
    );
    assert!(store
        .dual_approvals("export:exp-2")
        .await
        .unwrap()
        .is_empty());
    // The same person a second time: refused, and nothing audited.
    let again = store
        .insert_dual_approval(&row, &ev("export.approve_first", "exp-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(again, medspace_store::StoreError::AlreadyExists { .. }),
        "{again:?}"
    );
    assert_eq!(entry_count(store.as_ref()).await, before + 1);
    let stranger = DualApprovalRow {
        approver_id: "u-nobody".into(),
        ..row.clone()
    };
    assert!(matches!(
        store
            .insert_dual_approval(&stranger, &ev("export.approve_first", "exp-1"))
            .await
            .unwrap_err(),
        medspace_store::StoreError::NotFound { .. }
    ));
    assert!(f
        .raw("UPDATE dual_approvals SET reason = 'x'")
        .await
        .is_err());
    assert!(f.raw("DELETE FROM dual_approvals").await.is_err());
}
