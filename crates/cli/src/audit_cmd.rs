//! `medspace audit …`: verification, signed checkpoints, proofs and the durable-append benchmark
//! (T/CI 857-2024 7.2.6, 7.2.9 e)).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use medspace_service::reexports::core::{AuditEvent, Outcome};
use medspace_service::ConfigOverrides;

use crate::cli::{AuditCommand, Format};
use crate::commands::{login, open, read_password};
use medspace_service::audit_query::EventFilter;

/// Runs one `audit` subcommand.
pub async fn run(command: AuditCommand) -> Result<ExitCode> {
    match command {
        AuditCommand::Verify {
            dir,
            checkpoint,
            vkey,
            format,
        } => verify(&dir.dir, checkpoint.as_deref(), vkey.as_deref(), format).await,
        AuditCommand::Checkpoint {
            dir,
            vkey,
            witness_vkey,
            format,
        } => {
            // A new checkpoint is sent to the configured witnesses over HTTPS.
            medspace_server::install_witness_transport();
            let node = open(&dir.dir, &ConfigOverrides::default()).await?;
            let out = if witness_vkey {
                node.witness_vkey().await.map(|v| match format {
                    Format::Json => serde_json::json!({ "witness_vkey": v }).to_string(),
                    Format::Table => v,
                })
            } else if vkey {
                node.audit_vkey().await.map(|v| match format {
                    Format::Json => serde_json::json!({ "vkey": v }).to_string(),
                    Format::Table => v,
                })
            } else {
                node.issue_audit_checkpoint().await.map(|cp| match format {
                    Format::Json => serde_json::to_string_pretty(&cp).unwrap_or_default(),
                    Format::Table => cp.note.trim_end().to_string(),
                })
            };
            node.close().await;
            println!("{}", out?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Proof {
            dir,
            entry,
            size,
            format,
        } => {
            let node = open(&dir.dir, &ConfigOverrides::default()).await?;
            let proof = node.audit_inclusion_proof(entry, size).await;
            node.close().await;
            let proof = proof.with_context(|| format!("inclusion proof of entry {entry}"))?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&proof)?),
                Format::Table => {
                    println!(
                        "entry {entry} (leaf {}) in tree of size {}",
                        proof.leaf_idx, proof.tree_size
                    );
                    println!("leaf hash  {}", proof.leaf_hash);
                    for (i, h) in proof.proof.iter().enumerate() {
                        println!("proof[{i:>2}]  {h}");
                    }
                    println!("root       {}", proof.root);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Consistency {
            dir,
            from,
            to,
            format,
        } => {
            let node = open(&dir.dir, &ConfigOverrides::default()).await?;
            let proof = node.audit_consistency_proof(from, to).await;
            node.close().await;
            let proof = proof.context("consistency proof")?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&proof)?),
                Format::Table => {
                    println!("tree {} → {}", proof.size1, proof.size2);
                    for (i, h) in proof.proof.iter().enumerate() {
                        println!("proof[{i:>2}]  {h}");
                    }
                    println!("root {:<8} {}", proof.size1, proof.root1);
                    println!("root {:<8} {}", proof.size2, proof.root2);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Bench {
            dir,
            writers,
            entries,
            print_acks,
            datasets,
            format,
        } => bench(&dir.dir, writers, entries, print_acks, datasets, format).await,
        AuditCommand::Events {
            dir,
            user,
            since,
            until,
            actor,
            action,
            dataset,
            application,
            outcome,
            after,
            limit,
            fhir,
            format,
        } => {
            let outcome = outcome
                .map(|o| {
                    serde_json::from_value::<Outcome>(serde_json::Value::String(o.clone()))
                        .with_context(|| {
                            format!("--outcome `{o}`: expected success, denied or error")
                        })
                })
                .transpose()?;
            let filter = EventFilter {
                since,
                until,
                actor,
                action,
                dataset,
                application,
                outcome,
                after,
                limit: Some(limit),
            };
            let node = open(&dir.dir, &ConfigOverrides::default()).await?;
            let result = async {
                let caller = login(&node, &user.user, &read_password()?).await?;
                let entries = node.audit_events(&caller, &filter).await?;
                let fhir_bundle = fhir.then(|| node.fhir_audit_bundle(&entries));
                anyhow::Ok((entries, fhir_bundle))
            }
            .await;
            node.close().await;
            let (entries, fhir_bundle) = result?;
            if let Some(bundle) = fhir_bundle {
                println!("{}", serde_json::to_string_pretty(&bundle)?);
            } else {
                match format {
                    Format::Json => println!("{}", serde_json::to_string_pretty(&entries)?),
                    Format::Table => {
                        for e in &entries {
                            println!(
                                "{:>8}  {}  {:<22} {:<28} {:<40} {:?}",
                                e.seq,
                                e.timestamp.format("%Y-%m-%d %H:%M:%S"),
                                e.actor,
                                e.action,
                                e.target,
                                e.outcome
                            );
                        }
                        println!("{} entries", entries.len());
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Subject {
            dir,
            user,
            identifiers_file,
            format,
        } => {
            let text = std::fs::read_to_string(&identifiers_file).with_context(|| {
                format!(
                    "cannot read the identifiers file {}",
                    identifiers_file.display()
                )
            })?;
            let identifiers: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            let node = open(&dir.dir, &ConfigOverrides::default()).await?;
            let result = async {
                let caller = login(&node, &user.user, &read_password()?).await?;
                anyhow::Ok(node.subject_history(&caller, &identifiers).await?)
            }
            .await;
            node.close().await;
            let history = result.context("subject disclosure history")?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&history)?),
                Format::Table => {
                    println!(
                        "subject {} — {} dataset(s), {} entries since {}",
                        history.pseudonyms.join(", "),
                        history.datasets.len(),
                        history.entries.len(),
                        history.since.format("%Y-%m-%d")
                    );
                    for e in &history.entries {
                        println!(
                            "{:>8}  {}  {:<12} {:<22} {:<24} {:?}",
                            e.seq,
                            e.timestamp.format("%Y-%m-%d %H:%M:%S"),
                            format!("{:?}", e.category).to_lowercase(),
                            e.actor,
                            e.action,
                            e.outcome
                        );
                    }
                    println!(
                        "each entry proven in the tree of size {} (root {})",
                        history.tree_size, history.root
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A vkey given as text, or the path of a file holding it.
fn vkey_text(arg: &str) -> Result<String> {
    let path = Path::new(arg);
    if !arg.contains('+') && path.exists() {
        return Ok(std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the verifier key file {}", path.display()))?
            .trim()
            .to_string());
    }
    Ok(arg.trim().to_string())
}

async fn verify(
    dir: &Path,
    checkpoint: Option<&Path>,
    vkey: Option<&str>,
    format: Format,
) -> Result<ExitCode> {
    let outside = checkpoint
        .map(|p| {
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the checkpoint file {}", p.display()))
        })
        .transpose()?;
    let vkey = vkey.map(vkey_text).transpose()?;
    let node = open(dir, &ConfigOverrides::default()).await?;
    let result = node
        .verify_audit_log(outside.as_deref(), vkey.as_deref())
        .await;
    node.close().await;
    let result = result?;
    match (&result, format) {
        (Ok(r), Format::Json) => {
            let mut v = serde_json::to_value(r)?;
            v["ok"] = serde_json::Value::Bool(true);
            println!("{v}");
        }
        (Ok(r), Format::Table) => {
            println!(
                "audit log intact: {} entries, head {}",
                r.entries, r.head_hash
            );
            println!(
                "Merkle tree ({}): root {}, {} leaves integrated",
                r.tree_alg, r.root, r.integrated
            );
            println!(
                "signed checkpoints verified: {} (latest size {})",
                r.checkpoints_verified,
                r.latest_checkpoint
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "none".into())
            );
            if let Some(s) = r.outside_checkpoint {
                println!("outside checkpoint of size {s}: contained in the log");
            }
            let w = &r.witness;
            if w.witnesses > 0 {
                println!(
                    "witnesses: {} configured, quorum {}; {} checkpoint(s) lack the quorum{}",
                    w.witnesses,
                    w.witness_quorum,
                    w.unwitnessed_checkpoints.unwrap_or(0),
                    if w.audit_witness_quorum {
                        ""
                    } else {
                        " — WARNING: the latest checkpoint is not witnessed"
                    }
                );
            }
        }
        (Err(f), Format::Json) => println!(
            "{}",
            serde_json::json!({"ok": false, "first_bad_entry": f.seq(), "reason": f.to_string()})
        ),
        (Err(f), Format::Table) => match f.seq() {
            Some(seq) => eprintln!("AUDIT LOG BROKEN at entry {seq}: {f}"),
            None => eprintln!("AUDIT LOG BROKEN: {f}"),
        },
    }
    Ok(if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn bench(
    dir: &Path,
    writers: usize,
    entries: u64,
    print_acks: bool,
    datasets: usize,
    format: Format,
) -> Result<ExitCode> {
    let node = Arc::new(open(dir, &ConfigOverrides::default()).await?);
    let mut targets: Vec<String> = Vec::new();
    if datasets > 0 {
        targets.extend(
            node.store()
                .list_datasets()
                .await?
                .into_iter()
                .map(|d| d.id)
                .take(datasets),
        );
        let synthetic = datasets.saturating_sub(targets.len());
        targets.extend((0..synthetic).map(|i| format!("ds-bench{i:06}")));
    }
    let targets = Arc::new(targets);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(writers.max(1));
    for w in 0..writers.max(1) {
        let node = node.clone();
        let next = next.clone();
        let targets = targets.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if entries > 0 && n >= entries {
                    return Ok::<u64, anyhow::Error>(done);
                }
                let target = if targets.is_empty() {
                    format!("w{w}-{n}")
                } else {
                    targets[(n % targets.len() as u64) as usize].clone()
                };
                let event = AuditEvent::new("system", "audit.benchmark", target, Outcome::Success);
                let receipt = node.append_audit_event(event).await?;
                done += 1;
                if print_acks {
                    // Printed only after the entry is durable; a crash test compares these with
                    // what survives.
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ack {} w{w}-{n}", receipt.seq)?;
                    out.flush()?;
                }
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    let seconds = started.elapsed().as_secs_f64();
    node.close().await;
    let rate = total as f64 / seconds.max(1e-9);
    match format {
        Format::Json => println!(
            "{}",
            serde_json::json!({"entries": total, "writers": writers, "seconds": seconds,
                "appends_per_second": rate})
        ),
        Format::Table => println!(
            "{total} durable audit appends by {writers} writers in {seconds:.3} s: {rate:.0} per second"
        ),
    }
    Ok(ExitCode::SUCCESS)
}
