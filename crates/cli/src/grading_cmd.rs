//! `medspace grading list|show|set|confirm|approve|reject --dir D --user U`: the grading workflow
//! of a node from the command line (GB/T 39725-2020 §6, §9.2 a) 8); T/CI 857-2024 6.2): the
//! security officer edits and confirms the grading the scan proposed at ingest, a committee member
//! approves or rejects it, and every step is audited and kept in the dataset's history. Calls the
//! same service operations as the HTTPS API (`medspace_service::grading`).

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use medspace_service::grading::{ColumnOverride, GradingStep};
use medspace_service::reexports::classify::report::{ReportCategory, SpecialDiseaseClass};
use medspace_service::reexports::core::classification::DmsClass;
use medspace_service::reexports::core::{IdentifierKind, SemanticType};
use medspace_service::{Caller, ConfigOverrides, Node};

use crate::cli::{DirArg, Format, UserArg};
use crate::commands::{login, open, read_password};
use crate::output;

/// The dataset a grading command acts on.
#[derive(Debug, Args)]
pub struct Target {
    #[command(flatten)]
    pub dir: DirArg,
    #[command(flatten)]
    pub user: UserArg,
    /// Catalog name of the dataset.
    pub name: String,
}

/// `medspace grading …`.
#[derive(Debug, Subcommand)]
pub enum GradingCommand {
    /// Grading status (proposed, confirmed, approved, rejected) of every dataset.
    List {
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        user: UserArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The current grading of a dataset (the per-column report of `medspace scan`), or with
    /// `--history` every step with what it changed.
    Show {
        #[command(flatten)]
        target: Target,
        /// Every step, oldest first.
        #[arg(long)]
        history: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Override one column's grading (security officers); the grading returns to `proposed`.
    Set {
        #[command(flatten)]
        target: Target,
        /// Column name.
        #[arg(long)]
        column: String,
        /// Why (recorded in the history and the audit log).
        #[arg(long)]
        reason: String,
        /// New level 1–5 (GB/T 39725 §6.2).
        #[arg(long)]
        level: Option<u8>,
        /// New category (`personal_attribute`, `health_status`, … of Table 1).
        #[arg(long)]
        category: Option<String>,
        /// New DMS 4.2.1 class (`C1`, `C2`, `C3`).
        #[arg(long)]
        dms_class: Option<String>,
        /// New identifier kind (`direct`, `quasi`, `sensitive`, `other`).
        #[arg(long)]
        identifier_kind: Option<String>,
        /// New semantic type (one of the `medspace scan` vocabulary).
        #[arg(long)]
        semantic_type: Option<String>,
        /// New special-disease classes, comma-separated (`infectious,mental`; empty for none).
        #[arg(long)]
        special_disease: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Confirm the proposed grading for the committee (security officers).
    Confirm {
        #[command(flatten)]
        target: Target,
        /// Why the grading is right.
        #[arg(long)]
        reason: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Approve a confirmed grading (committee members): the dataset may then be used.
    Approve {
        #[command(flatten)]
        target: Target,
        /// Reason recorded with the decision.
        #[arg(long)]
        reason: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Reject a confirmed grading (committee members).
    Reject {
        #[command(flatten)]
        target: Target,
        /// Reason recorded with the decision.
        #[arg(long)]
        reason: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// A snake_case (or `C1`-style) name parsed as one of a serde enum's values.
fn parse_name<T: serde::de::DeserializeOwned>(what: &str, v: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(v.trim().to_string()))
        .with_context(|| format!("--{what}: `{v}` is not a known value"))
}

async fn session(dir: &DirArg, user: &UserArg) -> Result<(Node, Caller)> {
    let node = open(&dir.dir, &ConfigOverrides::default()).await?;
    let caller = login(&node, &user.user, &read_password()?).await?;
    Ok((node, caller))
}

fn print_step(step: &GradingStep, format: Format) -> Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(step)?),
        Format::Table => {
            println!(
                "step {} ({}) by {}: {} — {}",
                step.seq,
                step.action,
                step.actor_id,
                step.status.as_str(),
                step.reason
            );
            for c in &step.changes {
                println!("   {}.{}: {} → {}", c.column, c.field, c.before, c.after);
            }
        }
    }
    Ok(())
}

/// Runs `medspace grading …`.
pub async fn run(command: GradingCommand) -> Result<ExitCode> {
    match command {
        GradingCommand::List { dir, user, format } => {
            let (node, caller) = session(&dir, &user).await?;
            let result = async {
                let statuses = node.grading_statuses(&caller).await?;
                let names = node.list_datasets(&caller).await?;
                anyhow::Ok((statuses, names))
            }
            .await;
            node.close().await;
            let (statuses, datasets) = result?;
            let rows: Vec<serde_json::Value> = statuses
                .iter()
                .map(|(id, seq, status)| {
                    let name = datasets
                        .iter()
                        .find(|d| &d.id == id)
                        .map_or("", |d| d.name.as_str());
                    serde_json::json!({"dataset_id": id, "name": name, "step": seq,
                                       "status": status.as_str()})
                })
                .collect();
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                Format::Table => {
                    for r in &rows {
                        println!(
                            "{} {} step {:>3}  {}",
                            output::pad(r["name"].as_str().unwrap_or(""), 24),
                            output::pad(r["dataset_id"].as_str().unwrap_or(""), 40),
                            r["step"],
                            r["status"].as_str().unwrap_or("")
                        );
                    }
                }
            }
        }
        GradingCommand::Show {
            target,
            history,
            format,
        } => {
            let (node, caller) = session(&target.dir, &target.user).await?;
            let result = async {
                let id = node.dataset_id_by_name(&caller, &target.name).await?;
                if history {
                    node.grading_history(&caller, &id).await
                } else {
                    node.grading(&caller, &id).await.map(|s| vec![s])
                }
            }
            .await;
            node.close().await;
            let steps = result?;
            match (format, history) {
                (Format::Json, true) => println!("{}", serde_json::to_string_pretty(&steps)?),
                (Format::Json, false) | (Format::Table, _) => {
                    for s in &steps {
                        print_step(s, format)?;
                    }
                    if let (Format::Table, false, Some(s)) = (format, history, steps.first()) {
                        for c in &s.columns {
                            println!(
                                "   {} {} level {} {:?} {:?}",
                                output::pad(&c.name, 24),
                                output::pad(&c.semantic_type.name(), 20),
                                c.level,
                                c.dms_class,
                                c.identifier_kind
                            );
                        }
                    }
                }
            }
        }
        GradingCommand::Set {
            target,
            column,
            reason,
            level,
            category,
            dms_class,
            identifier_kind,
            semantic_type,
            special_disease,
            format,
        } => {
            let edit = ColumnOverride {
                level,
                category: category
                    .map(|v| parse_name::<ReportCategory>("category", &v))
                    .transpose()?,
                dms_class: dms_class
                    .map(|v| parse_name::<DmsClass>("dms-class", &v.to_uppercase()))
                    .transpose()?,
                identifier_kind: identifier_kind
                    .map(|v| parse_name::<IdentifierKind>("identifier-kind", &v))
                    .transpose()?,
                semantic_type: semantic_type
                    .map(|v| parse_name::<SemanticType>("semantic-type", &v))
                    .transpose()?,
                special_disease: special_disease
                    .map(|v| {
                        v.split(',')
                            .filter(|s| !s.trim().is_empty())
                            .map(|s| parse_name::<SpecialDiseaseClass>("special-disease", s))
                            .collect::<Result<Vec<_>>>()
                    })
                    .transpose()?,
                ..ColumnOverride::default()
            };
            let (node, caller) = session(&target.dir, &target.user).await?;
            let result = async {
                let id = node.dataset_id_by_name(&caller, &target.name).await?;
                node.override_grading(&caller, &id, &column, &edit, &reason)
                    .await
            }
            .await;
            node.close().await;
            print_step(&result?, format)?;
        }
        GradingCommand::Confirm {
            target,
            reason,
            format,
        } => {
            let (node, caller) = session(&target.dir, &target.user).await?;
            let result = async {
                let id = node.dataset_id_by_name(&caller, &target.name).await?;
                node.confirm_grading(&caller, &id, &reason).await
            }
            .await;
            node.close().await;
            print_step(&result?, format)?;
        }
        GradingCommand::Approve {
            target,
            reason,
            format,
        } => decide(target, true, &reason, format).await?,
        GradingCommand::Reject {
            target,
            reason,
            format,
        } => decide(target, false, &reason, format).await?,
    }
    Ok(ExitCode::SUCCESS)
}

async fn decide(target: Target, approve: bool, reason: &str, format: Format) -> Result<()> {
    let (node, caller) = session(&target.dir, &target.user).await?;
    let result = async {
        let id = node.dataset_id_by_name(&caller, &target.name).await?;
        node.decide_grading(&caller, &id, approve, reason).await
    }
    .await;
    node.close().await;
    print_step(&result?, format)
}
