//! Per-request latency of the sliced engine and of plain Cedar on the same requests, with p50 /
//! p99 from sorted per-request timings (issue 7 item 5). Also checks every decision is identical.
//!
//! `cargo run --release -p medspace-authz --example latency [-- REQUESTS]`

use std::str::FromStr;
use std::time::Instant;

use medspace_authz::cedar_policy::{Authorizer as Cedar, EntityUid};
use medspace_authz::synth::{generate, Sizes};
use medspace_authz::{builtin_schema, Authorizer, DecisionWithReasons};

fn pct(sorted: &[u128], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let w = generate(7, Sizes::default(), n);
    let schema = builtin_schema()?;
    let entities =
        medspace_authz::cedar_policy::Entities::from_json_value(w.entities.clone(), Some(&schema))?;
    let authz = Authorizer::new(schema, &w.policies, entities)?;
    let (full, entities) = authz.snapshot();
    let reqs = w
        .requests
        .iter()
        .map(|(p, a, r, c)| {
            authz
                .request(
                    EntityUid::from_str(p)?,
                    EntityUid::from_str(a)?,
                    EntityUid::from_str(r)?,
                    c,
                )
                .map_err(|e| e.into())
        })
        .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?;
    println!(
        "policies: {}  entities: {}  requests: {}",
        authz.policy_count(),
        w.entity_count,
        reqs.len()
    );
    let cedar = Cedar::new();
    let fast_only = std::env::var_os("AUTHZ_FAST_ONLY").is_some();
    // Warm up caches (sliced policy sets) and the CPU.
    for r in &reqs {
        std::hint::black_box(authz.decide(r));
        if !fast_only {
            std::hint::black_box(cedar.is_authorized(r.cedar(), &full, &entities));
        }
    }
    if fast_only {
        // Profiling aid: only the sliced engine, many rounds.
        let t = Instant::now();
        for _ in 0..20 {
            for r in &reqs {
                std::hint::black_box(authz.decide(r));
            }
        }
        println!(
            "fast only: {:.2} µs mean",
            t.elapsed().as_secs_f64() * 1e6 / (20 * reqs.len()) as f64
        );
        return Ok(());
    }
    let mut fast = Vec::with_capacity(reqs.len());
    let mut plain = Vec::with_capacity(reqs.len());
    let mut allowed = 0usize;
    let mut mismatches = 0usize;
    let mut evaluated = 0usize;
    let (mut refuted_all, mut with_cedar) = (Vec::new(), Vec::new());
    for r in &reqs {
        let t = Instant::now();
        let d = authz.decide(r);
        fast.push(t.elapsed().as_nanos());
        let t = Instant::now();
        let resp = cedar.is_authorized(r.cedar(), &full, &entities);
        plain.push(t.elapsed().as_nanos());
        let mut reasons: Vec<String> = resp.diagnostics().reason().map(|p| p.to_string()).collect();
        reasons.sort();
        let reference = DecisionWithReasons {
            allowed: resp.decision() == medspace_authz::cedar_policy::Decision::Allow,
            determining_policies: reasons,
            errors: Vec::new(),
        };
        if d.allowed != reference.allowed
            || d.determining_policies != reference.determining_policies
        {
            mismatches += 1;
        }
        allowed += usize::from(d.allowed);
        let k = authz.evaluated_policies(r);
        evaluated += k;
        if k == 0 {
            refuted_all.push(*fast.last().unwrap_or(&0));
        } else {
            with_cedar.push(*fast.last().unwrap_or(&0));
        }
    }
    fast.sort_unstable();
    plain.sort_unstable();
    let mean = |v: &[u128]| v.iter().sum::<u128>() as f64 / v.len() as f64 / 1000.0;
    println!(
        "allowed: {allowed}  denied: {}  mismatches: {mismatches}  mean policies given to Cedar: {:.2}",
        reqs.len() - allowed,
        evaluated as f64 / reqs.len() as f64
    );
    println!("engine        p50 µs   p99 µs   mean µs   max µs");
    println!(
        "medspace    {:8.2} {:8.2} {:9.2} {:8.1}",
        pct(&fast, 0.5),
        pct(&fast, 0.99),
        mean(&fast),
        pct(&fast, 1.0)
    );
    println!(
        "plain Cedar {:8.2} {:8.2} {:9.2} {:8.1}",
        pct(&plain, 0.5),
        pct(&plain, 0.99),
        mean(&plain),
        pct(&plain, 1.0)
    );
    refuted_all.sort_unstable();
    with_cedar.sort_unstable();
    if !refuted_all.is_empty() && !with_cedar.is_empty() {
        println!(
            "medspace, all policies refuted statically ({}): p50 {:.2} µs, p99 {:.2} µs",
            refuted_all.len(),
            pct(&refuted_all, 0.5),
            pct(&refuted_all, 0.99)
        );
        println!(
            "medspace, Cedar evaluates the rest ({}): p50 {:.2} µs, p99 {:.2} µs",
            with_cedar.len(),
            pct(&with_cedar, 0.5),
            pct(&with_cedar, 0.99)
        );
    }
    if mismatches > 0 {
        return Err(format!("{mismatches} decisions differ").into());
    }
    Ok(())
}
