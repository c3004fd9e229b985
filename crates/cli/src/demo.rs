//! `medspace demo`: the whole trusted flow on a fresh embedded node, through the same service
//! layer the HTTPS API uses (PRODUCT.md, "The trusted flow").

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use medspace_core::Role;
use medspace_service::datasets::IngestRequest;
use medspace_service::reexports::gen::{self, GenOptions, Table};
use medspace_service::reidentification::DeidentifyOptions;
use medspace_service::workflow::ApplicationRequest;
use medspace_service::{Caller, InitOptions, Node, ServiceError};

use crate::cli::DemoArgs;
use crate::output;

const MARKER: &str = ".medspace-demo";

/// The grading proposed by the scan is confirmed by the security officer and approved by the data
/// security committee (GB/T 39725-2020 §9.2 a) 8); T/CI 857-2024 6.2): without the approval the
/// sandbox refuses the dataset.
async fn approve_grading(
    node: &Node,
    officer: &Caller,
    reviewer: &Caller,
    id: &str,
    name: &str,
) -> Result<()> {
    let confirmed = node
        .confirm_grading(officer, id, "every column checked against the scan report")
        .await?;
    let approved = node
        .decide_grading(
            reviewer,
            id,
            true,
            "categories, levels and DMS classes follow Table 1, §6.2 and DMS 4.2.1",
        )
        .await?;
    println!(
        "   grading of `{name}`: proposed by the scan → {} by the officer (step {}) → {} by the \
         committee (step {})",
        confirmed.status.as_str(),
        confirmed.seq,
        approved.status.as_str(),
        approved.seq
    );
    Ok(())
}

/// The de-identification policy the demo's security officer applies (GB/T 39725-2020 Table 6 and
/// Appendix G: direct identifiers removed or pseudonymised, quasi-identifiers generalised).
pub const DEMO_POLICY: &str = r#"
name = "settlement-research-v1"
k = 5
quasi_identifiers = ["sex", "birth_date"]
subject_column = "id_number"
date_shift_max_days = 30
default_action = "drop"

[columns.person_id]
action = "pseudonymize"
prefix = "P-"
[columns.id_number]
action = "pseudonymize"
[columns.sex]
action = "keep"
[columns.birth_date]
action = "age_band"
reference_column = "admission_time"
[columns.insurance_type]
action = "keep"
[columns.visit_type]
action = "keep"
[columns.department]
action = "keep"
[columns.diagnosis_code]
action = "keep"
[columns.diagnosis_name]
action = "keep"
[columns.admission_time]
action = "date_shift"
[columns.discharge_time]
action = "date_shift"
[columns.total_fee]
action = "keep"
[columns.fund_payment]
action = "keep"
[columns.personal_payment]
action = "keep"
"#;

struct Step {
    started: Instant,
    n: usize,
}

impl Step {
    fn new() -> Self {
        Step {
            started: Instant::now(),
            n: 0,
        }
    }
    fn head(&mut self, title: &str) {
        self.n += 1;
        println!();
        println!("── {:>2}. {title}", self.n);
    }
    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

fn prepare_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let is_demo = dir.join(MARKER).exists();
        let empty = std::fs::read_dir(dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !is_demo && !empty {
            bail!(
                "{} exists and does not hold an earlier demo; choose another --dir",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot remove the earlier demo in {}", dir.display()))?;
        let key = medspace_service::config::default_master_key_path(dir);
        if key.exists() && std::env::var_os("MEDSPACE_MASTER_KEY_FILE").is_none() {
            std::fs::remove_file(&key)
                .with_context(|| format!("cannot remove {}", key.display()))?;
        }
    }
    Ok(())
}

/// Logs in with a one-time password, sets a new password, enrols a TOTP second factor when the
/// role needs one (administrator, security officer, auditor: GB/T 39725-2020 Appendix F), and
/// returns the caller and what to show once: the password, and the TOTP secret if enrolled.
async fn activate(node: &Node, username: &str, one_time: &str) -> Result<(Caller, String)> {
    let first = node
        .login(username, one_time)
        .await
        .with_context(|| format!("login as `{username}` failed"))?;
    let caller = node.authenticate(&first.token).await?;
    let new_password = medspace_service::accounts::generate_one_time_password();
    node.change_password(&caller, one_time, &new_password)
        .await?;
    let caller = node.authenticate(&first.token).await?;
    let mut shown = new_password;
    if caller.must_enrol_second_factor {
        // The demo plays the authenticator app: it computes the first code from the secret.
        let e = node.begin_totp_enrolment(&caller).await?;
        let code =
            medspace_service::identity::totp_code(&e.secret, chrono::Utc::now().timestamp())?;
        node.confirm_totp_enrolment(&caller, &code).await?;
        shown = format!("{shown}  TOTP secret {}", e.secret);
    }
    let caller = node.authenticate(&first.token).await?;
    Ok((caller, shown))
}

fn print_rows(columns: &[String], rows: &[Vec<serde_json::Value>], max: usize) {
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .take(max)
                .map(|r| r.get(i).map(cell).unwrap_or_default().chars().count())
                .chain(std::iter::once(c.chars().count()))
                .max()
                .unwrap_or(4)
                + 2
        })
        .collect();
    let line: String = columns
        .iter()
        .zip(&widths)
        .map(|(c, w)| output::pad(c, *w))
        .collect();
    println!("     {line}");
    for r in rows.iter().take(max) {
        let line: String = r
            .iter()
            .zip(&widths)
            .map(|(v, w)| output::pad(&cell(v), *w))
            .collect();
        println!("     {line}");
    }
    if rows.len() > max {
        println!("     … {} more rows", rows.len() - max);
    }
}

fn cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "∅".into(),
        other => other.to_string(),
    }
}

/// Runs the walk-through.
pub async fn run(a: DemoArgs) -> Result<ExitCode> {
    let mut step = Step::new();
    println!("medspace demo — the trusted data flow on an embedded node (SQLite + local encrypted files)");
    prepare_dir(&a.dir)?;

    step.head("Initialise the node");
    let (node, init) = Node::init(InitOptions {
        dir: a.dir.clone(),
        database_url: None,
        profile: None,
        master_key_file: None,
        hsm: None,
        admin_username: "admin".into(),
        listen: a.listen.clone(),
    })
    .await
    .with_context(|| format!("cannot create the demo node in {}", a.dir.display()))?;
    std::fs::write(
        a.dir.join(MARKER),
        "this directory holds a medspace demo node and is replaced by the next `medspace demo`\n",
    )?;
    println!("   node directory  {}", a.dir.display());
    println!("   metadata        {} (SQLite, WAL)", init.database);
    println!(
        "   master key      {} ({}, mode 0600, outside the node directory)",
        init.master_key_file.display(),
        if init.master_key_created {
            "created"
        } else {
            "existing"
        }
    );
    println!("   TLS certificate {}", init.tls_cert.display());

    step.head("Accounts: one role each (separation of duties), argon2id passwords, one-time passwords changed at first login, TOTP second factor for administrator, officer, auditor and re-identification officer");
    let (admin, admin_pw) = activate(&node, "admin", &init.admin_password).await?;
    let mut accounts = vec![("admin".to_string(), Role::Administrator, admin_pw)];
    let mut callers = Vec::new();
    for (name, role) in [
        ("officer", Role::SecurityOfficer),
        ("reviewer", Role::CommitteeMember),
        ("researcher", Role::DataUser),
        ("auditor", Role::Auditor),
        ("reid_officer", Role::ReidentificationOfficer),
    ] {
        let (_, otp) = node.create_user(&admin, name, role).await?;
        let (caller, pw) = activate(&node, name, &otp).await?;
        println!("   {} {}", output::pad(name, 12), role);
        accounts.push((name.to_string(), role, pw));
        callers.push(caller);
    }
    let [officer, reviewer, researcher, auditor, reid_officer]: [Caller; 5] = callers
        .try_into()
        .map_err(|_| anyhow::anyhow!("demo accounts were not all created"))?;
    match node.list_datasets(&admin).await {
        Err(ServiceError::Forbidden(m)) => {
            println!("   administrator reading the catalog → refused ({m})")
        }
        other => bail!("the administrator must not read data, got {other:?}"),
    }

    step.head(&format!("Generate {} synthetic settlement records and ingest them (streamed, never written in plaintext)", a.rows));
    let t = Instant::now();
    let (reader, writer) = std::io::pipe().context("cannot create a pipe")?;
    let opts = GenOptions {
        rows: a.rows,
        seed: a.seed,
        table: Table::Settlements,
        persons: None,
    };
    let bar = output::progress_bar(a.rows, "ingesting");
    let b = bar.clone();
    let producer = std::thread::spawn(move || {
        gen::generate(
            &opts,
            std::io::BufWriter::with_capacity(1 << 20, writer),
            &mut |_| {},
        )
    });
    let raw = node
        .ingest(
            &officer,
            IngestRequest {
                name: "settlements".into(),
                source_name: "generated settlements".into(),
                owner: Some("医保结算科".into()),
                update_frequency: "monthly".into(),
            },
            Box::new(reader),
            Box::new(move |n| b.set_position(n)),
        )
        .await?;
    bar.finish_and_clear();
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("generator thread panicked"))?
        .context("generator failed")?;
    println!(
        "   dataset `{}` ({}): {} rows, {} columns, AES-256-GCM under its own data key, {:.1}s",
        raw.name,
        raw.id,
        raw.row_count,
        raw.schema.len(),
        t.elapsed().as_secs_f64()
    );

    step.head("Classify and grade every column (GB/T 39725 Table 1 categories, §6.2 levels, Appendix G identifiers)");
    print!("{}", output::classification_table(&raw.classification));
    println!(
        "   dataset level: {} (highest column level)",
        raw.level.get()
    );
    approve_grading(&node, &officer, &reviewer, &raw.id, &raw.name).await?;

    step.head("De-identify with the approved policy (pseudonyms, age bands, per-subject date shift, direct identifiers dropped)");
    let (deid, report) = node
        .deidentify_dataset_with(
            &officer,
            &raw.id,
            DEMO_POLICY,
            "demo-research-2026",
            "settlements_deid",
            DeidentifyOptions { code_index: true },
        )
        .await?;
    print!(
        "   {}",
        output::deid_summary(&report)
            .replace('\n', "\n   ")
            .trim_end_matches(' ')
    );
    println!();
    let lineage = deid
        .lineage
        .as_ref()
        .context("derived dataset has no lineage")?;
    println!(
        "   derived `{}` ({}) from {} v{} under policy sha256 {}…, level {}",
        deid.name,
        deid.id,
        lineage.source_id,
        lineage.source_version,
        lineage.policy_hash.get(..12).unwrap_or(""),
        deid.level.get()
    );
    println!(
        "   patient code index kept inside the node, sealed under the project's key (§10.2 f)): {}",
        node.store()
            .code_index_columns(&deid.id)
            .await?
            .iter()
            .map(|(c, n)| format!("{c} {n} entries"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    approve_grading(&node, &officer, &reviewer, &deid.id, &deid.name).await?;

    step.head("A researcher applies for columns, purpose and period");
    match node
        .query(&researcher, "SELECT count(*) FROM settlements_deid")
        .await
    {
        Err(ServiceError::Forbidden(m)) => println!("   before approval, a query → refused ({m})"),
        other => bail!("an unapproved query must be refused, got {other:?}"),
    }
    let columns = [
        "sex",
        "birth_date",
        "visit_type",
        "insurance_type",
        "diagnosis_code",
        "total_fee",
        "fund_payment",
    ];
    let app = node
        .apply(
            &researcher,
            ApplicationRequest {
                dataset_id: deid.id.clone(),
                columns: columns.iter().map(|c| c.to_string()).collect(),
                purpose: "Study of inpatient and outpatient cost burden by visit type and insurance scheme (demo)".into(),
                period_days: 90,
                ..Default::default()
            },
        )
        .await?;
    println!(
        "   application {} for {} columns, 90 days: {}",
        app.id,
        app.columns.len(),
        app.columns.join(", ")
    );

    step.head("The data security committee approves");
    let app = node
        .decide_application(
            &reviewer,
            &app.id,
            true,
            "minimum necessary columns; aggregate research use",
        )
        .await?;
    println!(
        "   {} → {} by reviewer until {}",
        app.id,
        app.status.as_str(),
        app.period_end.format("%Y-%m-%d")
    );

    step.head("Analyse in the sandbox (DataFusion SQL over the granted columns only)");
    let allowed = "SELECT visit_type, count(*) AS visits, round(avg(total_fee), 2) AS avg_fee, \
                   round(sum(fund_payment) / sum(total_fee), 3) AS fund_share \
                   FROM settlements_deid GROUP BY visit_type ORDER BY visits DESC";
    println!("   allowed aggregate:\n     {allowed}");
    let result = node.query(&researcher, allowed).await?;
    print_rows(&result.columns, &result.rows, 10);
    println!(
        "   result {} kept encrypted inside the node (smallest group {})",
        result.query_id,
        result.smallest_group.unwrap_or(0)
    );
    for f in &result.row_filter {
        println!(
            "   row filter on `{}`: {} rows visible, {} withheld by {} ({} label groups decided by Cedar in one batch; the application named no special disease)",
            f.table,
            f.rows_visible,
            f.rows_withheld,
            f.withheld_by.iter().cloned().collect::<Vec<_>>().join(", "),
            f.groups
        );
    }

    let small = "SELECT total_fee, count(*) AS n FROM settlements_deid GROUP BY total_fee";
    println!("   small-count query (one group per exact fee, nearly unique):\n     {small}");
    match node.query(&researcher, small).await {
        Err(ServiceError::Query(e)) => println!("     → refused: {e}"),
        other => bail!("the small-count query must be refused, got {other:?}"),
    }
    let raw_rows = "SELECT * FROM settlements_deid LIMIT 10";
    println!("   raw-row query:\n     {raw_rows}");
    match node.query(&researcher, raw_rows).await {
        Err(ServiceError::Query(e)) => println!("     → refused: {e}"),
        other => bail!("the raw-row query must be refused, got {other:?}"),
    }
    let ungranted = "SELECT department, count(*) FROM settlements_deid GROUP BY department";
    match node.query(&researcher, ungranted).await {
        Err(ServiceError::Query(e)) => println!("   a column outside the grant → refused: {e}"),
        other => bail!("an ungranted column must be refused, got {other:?}"),
    }

    step.head("Export review: the result leaves only after a committee member approves");
    let export = node
        .request_export(
            &researcher,
            &result.query_id,
            "Aggregate cost table for the study report (demo)",
        )
        .await?;
    match node.download_export(&researcher, &export.id).await {
        Err(ServiceError::Forbidden(m)) => println!("   download before approval → refused ({m})"),
        other => bail!("an unapproved download must be refused, got {other:?}"),
    }
    node.decide_export(
        &reviewer,
        &export.id,
        true,
        "aggregate only, all groups ≥ 5",
    )
    .await?;
    let csv = node.download_export(&researcher, &export.id).await?;
    let export_dir = a.dir.join("exports");
    std::fs::create_dir_all(&export_dir)?;
    let export_path = export_dir.join(format!("{}.csv", export.id));
    std::fs::write(&export_path, &csv)?;
    println!(
        "   export {} approved and downloaded: {} bytes → {}",
        export.id,
        csv.len(),
        export_path.display()
    );

    step.head("Re-identification (GB/T 39725 §10.2 f–h): a flagged pseudonym goes back to the patient only through the designated officer, with a second person's approval, once");
    let follow_up = node
        .apply(
            &researcher,
            ApplicationRequest {
                dataset_id: deid.id.clone(),
                columns: vec!["id_number".into()],
                purpose: "Follow-up of a suspected serious adverse drug reaction (demo)".into(),
                period_days: 7,
                ..Default::default()
            },
        )
        .await?;
    node.decide_application(
        &reviewer,
        &follow_up.id,
        true,
        "pharmacovigilance follow-up",
    )
    .await?;
    let flagged = node
        .query(
            &researcher,
            "SELECT min(id_number) AS flagged FROM settlements_deid",
        )
        .await?;
    let pseudonym = flagged
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_str())
        .context("the follow-up query returned no pseudonym")?
        .to_string();
    println!(
        "   the study flags pseudonym {}… (the researcher never sees an identity)",
        pseudonym.chars().take(12).collect::<String>()
    );
    let request = node
        .request_reidentification(
            &reid_officer,
            &deid.id,
            "id_number",
            &pseudonym,
            "serious adverse drug reaction: the treating hospital must contact the patient (demo)",
        )
        .await?;
    match node
        .resolve_reidentification(&reid_officer, &request.id)
        .await
    {
        Err(ServiceError::Conflict(m)) => println!("   resolving before approval → refused ({m})"),
        other => bail!("an unapproved re-identification must be refused, got {other:?}"),
    }
    node.decide_reidentification(&reviewer, &request.id, true, "patient safety")
        .await?;
    let resolved = node
        .resolve_reidentification(&reid_officer, &request.id)
        .await?;
    let identity: Vec<char> = resolved.identity.chars().collect();
    let shown: String = identity
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < 3 || i + 2 >= identity.len() {
                *c
            } else {
                '*'
            }
        })
        .collect();
    println!(
        "   request {} approved by reviewer, resolved once by reid_officer → {shown} (masked here; audited with the subject's pseudonym only)",
        request.id
    );
    match node
        .resolve_reidentification(&reid_officer, &request.id)
        .await
    {
        Err(ServiceError::Conflict(_)) => println!("   a second resolution → refused"),
        other => bail!("a re-identification must resolve once, got {other:?}"),
    }

    step.head("Audit: every step above is in the hash-chained log; verify it");
    let entries = node.audit_entries(&auditor, 1, 1000).await?;
    let denied = entries
        .iter()
        .filter(|e| e.outcome == medspace_core::Outcome::Denied)
        .count();
    let checkpoint = node.issue_audit_checkpoint().await?;
    let report = match node.verify_audit_log(None, None).await? {
        Ok(r) => r,
        Err(b) => bail!("audit verification failed: {b}"),
    };
    println!(
        "   {} entries ({} refusals recorded), chain intact, head {}…",
        report.entries,
        denied,
        report.head_hash.get(..16).unwrap_or("")
    );
    println!(
        "   signed checkpoint: tree size {}, {} root {} ({} checkpoint(s) verified)",
        checkpoint.tree_size, report.tree_alg, checkpoint.root, report.checkpoints_verified
    );

    println!();
    println!("Summary: {} steps in {:.1}s — ingest → classify → de-identify → apply → approve → query (1 allowed, 3 refused) → export review → re-identification with two people → audit verified.", step.n, step.elapsed());
    println!(
        "Check the log independently:  medspace audit verify --dir {}",
        a.dir.display()
    );
    println!(
        "Prove an entry is in the log: medspace audit proof --dir {} --entry 1 --format json",
        a.dir.display()
    );

    if a.exit {
        node.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    println!();
    println!("Demo accounts (passwords shown once):");
    for (name, role, pw) in &accounts {
        println!(
            "   {} {} {}",
            output::pad(name, 12),
            output::pad(role.as_str(), 18),
            pw
        );
    }
    crate::commands::serve_node(Arc::new(node)).await?;
    Ok(ExitCode::SUCCESS)
}
