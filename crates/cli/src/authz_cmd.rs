//! `medspace authz check --dir D --request R.json [--entities E.json] [--format json]`: decides
//! one request with the node's access policies and prints the decision and the policies that
//! determined it (issue 7 item 4; GB/T 39725-2020 §11.1.2.3 and Table 7; T/CI 857-2024 6.4.1,
//! 7.2.4). Policies are the built-in defaults, then — when `D` is a node directory — the policies
//! the security officer added through the API (the version in force), then any `*.cedar` files in
//! `D/policies/` (drafts to try), all validated against the schema; entities use Cedar's JSON
//! entity format. This is a dry run: it reads no personal data and changes nothing, so it writes no
//! audit entry.
//!
//! Exit status: 0 allowed, 3 denied, 1 on an invalid input.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use medspace_authz::cedar_policy::Entities;
use medspace_authz::{builtin_schema, Authorizer, DEFAULT_POLICIES};

use crate::cli::{AuthzCommand, Format};

/// Exit status of a denied request.
const DENIED: u8 = 3;

/// Runs one `authz` subcommand.
pub async fn run(command: AuthzCommand) -> Result<ExitCode> {
    match command {
        AuthzCommand::Check {
            dir,
            request,
            entities,
            format,
        } => {
            let added = node_policies(&dir.dir).await?;
            check(&dir.dir, added, &request, entities.as_deref(), format)
        }
    }
}

/// The policies added through the API on the node in `dir` and their version, if `dir` holds a
/// node.
async fn node_policies(dir: &Path) -> Result<Option<(i64, String)>> {
    if !dir.join(medspace_service::config::CONFIG_FILE).exists() {
        return Ok(None);
    }
    let node = crate::commands::open(dir, &medspace_service::ConfigOverrides::default()).await?;
    let added = node
        .added_access_policies()
        .await
        .context("cannot read the node's access policies")?;
    node.close().await;
    Ok(Some(added))
}

/// The default policies, the node's added ones, then `D/policies/*.cedar` in name order.
fn policy_text(dir: &Path, added: Option<&str>) -> Result<(String, Vec<String>)> {
    let mut text = DEFAULT_POLICIES.to_string();
    if let Some(added) = added {
        text.push('\n');
        text.push_str(added);
    }
    let mut files = Vec::new();
    let pdir = dir.join("policies");
    if pdir.is_dir() {
        let mut paths: Vec<_> = std::fs::read_dir(&pdir)
            .with_context(|| format!("cannot list {}", pdir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "cedar"))
            .collect();
        paths.sort();
        for p in paths {
            let t = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            text.push('\n');
            text.push_str(&t);
            files.push(p.display().to_string());
        }
    }
    Ok((text, files))
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

fn check(
    dir: &Path,
    added: Option<(i64, String)>,
    request: &Path,
    entities: Option<&Path>,
    format: Format,
) -> Result<ExitCode> {
    let schema = builtin_schema()?;
    let (text, files) = policy_text(dir, added.as_ref().map(|(_, t)| t.as_str()))?;
    let entities = match entities {
        Some(p) => Entities::from_json_value(read_json(p)?, Some(&schema))
            .with_context(|| format!("entities in {} rejected", p.display()))?,
        None => Entities::empty(),
    };
    let authz = Authorizer::new(schema, &text, entities).context("policies rejected")?;
    let req = authz
        .request_from_json(&read_json(request)?)
        .with_context(|| format!("request in {} rejected", request.display()))?;
    let d = authz.decide(&req);
    let reasons: Vec<serde_json::Value> = d
        .determining_policies
        .iter()
        .map(|id| {
            serde_json::json!({
                "id": id,
                "clause": authz.policy_annotation(id, "clause"),
            })
        })
        .collect();
    match format {
        Format::Json => {
            let out = serde_json::json!({
                "decision": if d.allowed { "allow" } else { "deny" },
                "allowed": d.allowed,
                "determining_policies": d.determining_policies,
                "reasons": reasons,
                "default_deny": !d.allowed && d.determining_policies.is_empty(),
                "errors": d.errors,
                "policies": authz.policy_count(),
                "custom_policy_files": files,
                "node_policy_version": added.as_ref().map(|(v, _)| *v),
            });
            println!("{out}");
        }
        Format::Table => {
            println!("decision: {}", if d.allowed { "ALLOW" } else { "DENY" });
            if d.determining_policies.is_empty() {
                println!("reasons:  no policy permits this request (default deny)");
            } else {
                println!("reasons:");
                for r in &reasons {
                    let clause = r["clause"].as_str().unwrap_or("");
                    println!("  {:<32} {clause}", r["id"].as_str().unwrap_or(""));
                }
            }
            for e in &d.errors {
                println!("error:    {e}");
            }
            println!(
                "policies: {} ({} custom file(s))",
                authz.policy_count(),
                files.len()
            );
        }
    }
    Ok(if d.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(DENIED)
    })
}
