//! Command implementations.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use medspace_service::datasets::IngestRequest;
use medspace_service::reexports::gen::{self, GenOptions, Table};
use medspace_service::{Caller, ConfigOverrides, InitOptions, Node};

use crate::cli::{
    BackupArgs, Cli, Command, DestroyArgs, Format, GenArgs, GenTable, IngestArgs, InitArgs,
    KeysCommand, RestoreArgs, ServeArgs,
};
use crate::output;

/// Runs one command.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init(a) => init(a).await,
        Command::Serve(a) => serve(a).await,
        Command::Demo(a) => crate::demo::run(a).await,
        Command::Gen(a) => generate(a),
        Command::Ingest(a) => ingest(a).await,
        Command::Scan(a) => crate::scan_cmd::scan(a),
        Command::Deid(a) => crate::deid_cmd::deid(a),
        Command::Risk(a) => crate::deid_cmd::risk(a),
        Command::Audit { command } => crate::audit_cmd::run(command).await,
        Command::Authz { command } => crate::authz_cmd::run(command).await,
        Command::Keys { command } => keys(command).await,
        Command::Destroy(a) => destroy(a).await,
        Command::Grading { command } => crate::grading_cmd::run(command).await,
        Command::Backup(a) => backup(a).await,
        Command::Restore(a) => restore(a).await,
    }
}

async fn init(a: InitArgs) -> Result<ExitCode> {
    let hsm = match (a.hsm_module, a.hsm_token, a.hsm_key_label) {
        (Some(module), Some(token_label), Some(key_label)) => {
            Some(medspace_service::config::HsmSettings {
                module,
                token_label,
                key_label,
                pin_env: a.hsm_pin_env,
                pin_file: a.hsm_pin_file,
            })
        }
        _ => None,
    };
    let (node, outcome) = Node::init(InitOptions {
        dir: a.dir.clone(),
        database_url: a.database_url,
        profile: Some(a.profile),
        master_key_file: None,
        admin_username: a.admin,
        listen: a.listen,
        hsm,
    })
    .await
    .with_context(|| format!("cannot initialise a node in {}", a.dir.display()))?;
    node.close().await;
    println!("Initialised medspace node in {}", a.dir.display());
    println!("  database:    {}", outcome.database);
    match &node.config().hsm {
        Some(hsm) => println!(
            "  master key:  in PKCS#11 token `{}`, key `{}` (non-extractable)",
            hsm.token_label, hsm.key_label
        ),
        None => println!(
            "  master key:  {} ({}; keep it outside backups of the node directory)",
            outcome.master_key_file.display(),
            if outcome.master_key_created {
                "created, mode 0600"
            } else {
                "existing key"
            }
        ),
    }
    println!("  certificate: {}", outcome.tls_cert.display());
    println!();
    println!(
        "Administrator `{}` — one-time password (shown only now, change it at first login):",
        outcome.admin_username
    );
    println!("  {}", outcome.admin_password);
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn open(dir: &Path, overrides: &ConfigOverrides) -> Result<Node> {
    Node::open(dir, overrides)
        .await
        .with_context(|| format!("cannot open the node in {}", dir.display()))
}

async fn serve(a: ServeArgs) -> Result<ExitCode> {
    let overrides = ConfigOverrides {
        listen: a.listen.clone(),
        ..Default::default()
    };
    let node = Arc::new(open(&a.dir.dir, &overrides).await?);
    // `[backup] dir` set: a backup every `interval_minutes` while serving (DMS 7.2.4.3).
    let schedule = node.spawn_backup_schedule();
    // Signed audit checkpoints on a timer (`[audit] checkpoint_interval_seconds`).
    let checkpoints = node.spawn_checkpoint_schedule();
    // Expired and unused accounts disabled at start and every `[accounts] sweep_interval_minutes`.
    let sweep = Some(node.spawn_account_sweep());
    serve_node(node).await?;
    for task in [schedule, checkpoints, sweep].into_iter().flatten() {
        task.abort();
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn serve_node(node: Arc<Node>) -> Result<()> {
    let addr: std::net::SocketAddr = node.config().listen.parse().with_context(|| {
        format!(
            "listen address `{}`: expected IP:PORT",
            node.config().listen
        )
    })?;
    println!("Serving https://{addr}/ (API under /api/v1, OpenAPI at /api/v1/openapi.json). Ctrl-C stops.");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let served = medspace_server::serve(node.clone(), addr, shutdown).await;
    node.close().await;
    served.with_context(|| format!("server on {addr} failed"))?;
    Ok(())
}

fn to_table(t: GenTable) -> Table {
    match t {
        GenTable::Settlements => Table::Settlements,
        GenTable::Persons => Table::Persons,
        GenTable::Visits => Table::Visits,
        GenTable::Labs => Table::Labs,
    }
}

fn generate(a: GenArgs) -> Result<ExitCode> {
    let opts = GenOptions {
        rows: a.rows,
        seed: a.seed,
        table: to_table(a.table),
        persons: a.persons,
    };
    let bar = output::progress_bar(a.rows, "generating");
    let mut progress = |n: u64| bar.set_position(n);
    let written = if a.output.as_os_str() == "-" {
        let stdout = std::io::stdout();
        gen::generate(&opts, BufWriter::new(stdout.lock()), &mut progress)?
    } else {
        let f = File::create(&a.output)
            .with_context(|| format!("cannot create {}", a.output.display()))?;
        gen::generate(&opts, BufWriter::with_capacity(1 << 20, f), &mut progress)?
    };
    bar.finish_and_clear();
    if a.output.as_os_str() != "-" {
        eprintln!("wrote {written} rows to {}", a.output.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn read_password() -> Result<String> {
    if let Ok(p) = std::env::var("MEDSPACE_PASSWORD") {
        return Ok(p);
    }
    eprint!("password: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub(crate) async fn login(node: &Node, user: &str, password: &str) -> Result<Caller> {
    // Accounts with a second factor give the current code in MEDSPACE_TOTP.
    let code = std::env::var("MEDSPACE_TOTP").ok();
    let outcome = node
        .login_with_code(user, password, code.as_deref())
        .await
        .with_context(|| format!("login as `{user}` failed"))?;
    Ok(node.authenticate(&outcome.token).await?)
}

async fn ingest(a: IngestArgs) -> Result<ExitCode> {
    let node = open(&a.dir.dir, &ConfigOverrides::default()).await?;
    let caller = login(&node, &a.user.user, &read_password()?).await?;
    let file = File::open(&a.file).with_context(|| format!("cannot open {}", a.file.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = output::progress_bar(0, "ingesting rows");
    let b = bar.clone();
    let meta = node
        .ingest(
            &caller,
            IngestRequest {
                name: a.name.clone(),
                source_name: a.file.display().to_string(),
                owner: None,
                update_frequency: a.update_frequency,
            },
            Box::new(BufReader::with_capacity(1 << 20, file)),
            Box::new(move |n| b.set_position(n)),
        )
        .await
        .context("ingest failed; nothing was stored")?;
    bar.finish_and_clear();
    node.close().await;
    match a.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&medspace_service::datasets::DatasetView::from(&meta))?
        ),
        Format::Table => {
            println!(
                "Ingested `{}` as {} ({} rows, {} columns, {size} bytes read, level {}), encrypted at rest.",
                meta.name,
                meta.id,
                meta.row_count,
                meta.schema.len(),
                meta.level.get()
            );
            print!("{}", output::classification_table(&meta.classification));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn destroy(a: DestroyArgs) -> Result<ExitCode> {
    let node = open(&a.dir.dir, &ConfigOverrides::default()).await?;
    let caller = login(&node, &a.user.user, &read_password()?).await?;
    let result = async {
        let meta = node
            .store()
            .dataset_by_name(&a.name)
            .await?
            .with_context(|| format!("no dataset named `{}`", a.name))?;
        node.destroy_dataset(&caller, &meta.id, &a.agreement)
            .await
            .context("destruction failed")
    }
    .await;
    node.close().await;
    let cert = result?;
    let json = serde_json::to_string_pretty(&cert)?;
    if let Some(path) = &a.output {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    match a.format {
        Format::Json => println!("{json}"),
        Format::Table => println!(
            "Destroyed `{}` ({}, {} rows): data key erased, objects deleted.\n\
             certificate {} signed {} by the node identity key {}…",
            cert.dataset_name,
            cert.dataset_id,
            cert.row_count,
            cert.certificate_id,
            cert.signature_scheme,
            &cert.public_key[..16.min(cert.public_key.len())]
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_backup(r: &medspace_service::backup::BackupReport, format: Format) -> Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(r)?),
        Format::Table => println!(
            "{} backup {} -> {} ({} bytes; {} of {} objects in this file{}; audit head {}); keys in {}",
            r.kind,
            r.backup_id,
            r.path.display(),
            r.bytes,
            r.objects_written,
            r.objects_total,
            r.base
                .as_ref()
                .map(|b| format!(", builds on {b}"))
                .unwrap_or_default(),
            r.audit_seq,
            r.key_vault.display()
        ),
    }
    Ok(())
}

async fn backup(a: BackupArgs) -> Result<ExitCode> {
    let node = open(&a.dir.dir, &ConfigOverrides::default()).await?;
    let result = async {
        match (&a.output, &a.to) {
            (Some(out), None) => {
                let r = node
                    .backup(out, a.base.as_deref(), "cli")
                    .await
                    .context("backup failed")?;
                print_backup(&r, a.format)
            }
            (None, Some(dir)) => {
                let full_every = chrono::Duration::hours(a.full_every_hours.max(1) as i64);
                loop {
                    let r = node
                        .backup_into(dir, full_every, "cli")
                        .await
                        .context("backup failed")?;
                    print_backup(&r, a.format)?;
                    let Some(minutes) = a.every else {
                        return Ok(());
                    };
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(minutes * 60)) => {}
                        _ = tokio::signal::ctrl_c() => return Ok(()),
                    }
                }
            }
            _ => anyhow::bail!("give either -o FILE or --to DIR"),
        }
    }
    .await;
    node.close().await;
    result?;
    Ok(ExitCode::SUCCESS)
}

async fn restore(a: RestoreArgs) -> Result<ExitCode> {
    let opts = medspace_service::backup::RestoreOptions {
        sources: a.from.clone(),
        target: a.dir.clone(),
        master_key_file: a.master_key_file.clone(),
        key_vault: a.key_vault.clone(),
        expect_public_key: a.expect_key.clone(),
    };
    let (node, report) = medspace_service::backup::restore(&opts)
        .await
        .context("restore refused")?;
    node.close().await;
    match a.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Table => {
            println!(
                "Restored backup {} (taken {}, chain of {}) into {}: {} objects, {} keys from the \
                 vault; audit log intact ({} entries).",
                report.backup_id,
                report.created_at,
                report.chain.len(),
                a.dir.display(),
                report.objects,
                report.keys_restored,
                report.audit_entries
            );
            for id in &report.destroyed_since_backup {
                println!("  dataset {id} was destroyed after this backup: restored as destroyed");
            }
            println!("  signed by node identity key {}", report.public_key);
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn keys(command: KeysCommand) -> Result<ExitCode> {
    match command {
        KeysCommand::Status { dir, format } => {
            let node = open(&dir.dir, &ConfigOverrides::default()).await?;
            let status = node.key_status().await;
            node.close().await;
            let status = status?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&status)?),
                Format::Table => {
                    println!(
                        "profile: {}   active master key: {}",
                        status.profile, status.active
                    );
                    for v in &status.versions {
                        println!("  {:<28} {:>8} wrapped keys", v.key_id, v.wrapped_keys);
                    }
                    if status.orphaned > 0 {
                        println!(
                            "  WARNING: {} wrapped keys name a version the keyring no longer holds",
                            status.orphaned
                        );
                    }
                }
            }
            Ok(if status.orphaned == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        KeysCommand::Rotate { dir, format } => {
            let mut node = open(&dir.dir, &ConfigOverrides::default()).await?;
            let report = node.rotate_master_key().await;
            node.close().await;
            let report = report.context("key rotation failed; every key still unwraps")?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                Format::Table => println!(
                    "rotated master key {} -> {}; rewrapped {} data keys (no data re-encrypted).\n\
                     Retire the old version with `medspace keys retire --dir {} {}` once backups \
                     that need it have expired.",
                    report.previous,
                    report.active,
                    report.rewrapped,
                    dir.dir.display(),
                    report.previous
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Retire { dir, key_id } => {
            let mut node = open(&dir.dir, &ConfigOverrides::default()).await?;
            let done = node.retire_master_key(&key_id).await;
            node.close().await;
            done?;
            println!("retired master key {key_id}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
