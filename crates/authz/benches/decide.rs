//! Criterion benchmark: the sliced engine and plain Cedar side by side on the same requests
//! (≥ 200 policies, ≥ 10,000 entities; issue 7 item 5). Criterion reports means; the p50 / p99
//! figures come from `cargo run --release -p medspace-authz --example latency`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use criterion::{criterion_group, criterion_main, Criterion};
use medspace_authz::cedar_policy::{Authorizer as Cedar, Entities, EntityUid};
use medspace_authz::synth::{generate, Sizes};
use medspace_authz::{builtin_schema, Authorizer};

fn bench(c: &mut Criterion) {
    let w = generate(7, Sizes::default(), 2_000);
    let schema = builtin_schema().expect("schema");
    let entities = Entities::from_json_value(w.entities.clone(), Some(&schema)).expect("entities");
    let authz = Authorizer::new(schema, &w.policies, entities).expect("authorizer");
    let (full, entities) = authz.snapshot();
    let reqs: Vec<_> = w
        .requests
        .iter()
        .map(|(p, a, r, ctx)| {
            authz
                .request(
                    EntityUid::from_str(p).expect("uid"),
                    EntityUid::from_str(a).expect("uid"),
                    EntityUid::from_str(r).expect("uid"),
                    ctx,
                )
                .expect("request")
        })
        .collect();
    for r in &reqs {
        assert_eq!(authz.decide(r), authz.decide_reference(r));
    }
    let cedar = Cedar::new();
    let mut g = c.benchmark_group(format!(
        "decide/{}-policies/{}-entities",
        authz.policy_count(),
        w.entity_count
    ));
    let mut i = 0usize;
    g.bench_function("medspace-sliced", |b| {
        b.iter(|| {
            i = (i + 1) % reqs.len();
            authz.decide(&reqs[i])
        })
    });
    let mut j = 0usize;
    g.bench_function("plain-cedar", |b| {
        b.iter(|| {
            j = (j + 1) % reqs.len();
            cedar.is_authorized(reqs[j].cedar(), &full, &entities)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
