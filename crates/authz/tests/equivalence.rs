//! The sliced engine gives exactly plain Cedar's decisions and determining policies
//! (issue 7 item 5; the argument is in the crate documentation): ≥ 10,000 random requests over a
//! generated set of ≥ 200 policies and ≥ 10,000 entities, plus a proptest over request fields.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;
use std::sync::OnceLock;

use medspace_authz::cedar_policy::{Entities, EntityUid};
use medspace_authz::synth::{generate, Sizes, Workload};
use medspace_authz::{builtin_schema, AccessContext, Authorizer, ConsentState, Network};
use proptest::prelude::*;

fn setup() -> &'static (Workload, Authorizer) {
    static S: OnceLock<(Workload, Authorizer)> = OnceLock::new();
    S.get_or_init(|| {
        let w = generate(42, Sizes::default(), 10_000);
        let schema = builtin_schema().expect("schema");
        let entities =
            Entities::from_json_value(w.entities.clone(), Some(&schema)).expect("entities");
        let authz = Authorizer::new(schema, &w.policies, entities).expect("authorizer");
        (w, authz)
    })
}

fn uid(s: &str) -> EntityUid {
    EntityUid::from_str(s).expect("uid")
}

#[test]
fn sliced_engine_equals_full_cedar_on_10000_random_requests() {
    let (w, authz) = setup();
    assert!(
        authz.policy_count() >= 200,
        "{} policies",
        authz.policy_count()
    );
    assert!(w.entity_count >= 10_000, "{} entities", w.entity_count);
    assert!(w.requests.len() >= 10_000);
    let (mut allowed, mut with_forbid_reasons, mut sliced_total) = (0, 0, 0usize);
    for (i, (p, a, r, c)) in w.requests.iter().enumerate() {
        let req = authz.request(uid(p), uid(a), uid(r), c).expect("request");
        let fast = authz.decide(&req);
        let full = authz.decide_reference(&req);
        assert_eq!(fast.allowed, full.allowed, "request {i}: {p} {a} {r} {c:?}");
        assert_eq!(
            fast.determining_policies, full.determining_policies,
            "request {i}: {p} {a} {r} {c:?}"
        );
        assert!(fast.errors.len() <= full.errors.len(), "request {i}");
        allowed += usize::from(fast.allowed);
        with_forbid_reasons += usize::from(!fast.allowed && !fast.determining_policies.is_empty());
        sliced_total += authz.evaluated_policies(&req);
    }
    // The workload exercises both outcomes, forbids and permits.
    assert!(allowed > 500, "only {allowed} allowed");
    assert!(
        with_forbid_reasons > 500,
        "only {with_forbid_reasons} forbidden"
    );
    // And slicing does cut the work.
    let mean = sliced_total as f64 / w.requests.len() as f64;
    assert!(mean < 10.0, "mean {mean} policies evaluated");
}

#[test]
fn batch_decisions_equal_single_decisions() {
    let (w, authz) = setup();
    let ctx = w.requests[0].3.clone();
    let resources: Vec<EntityUid> = (0..300)
        .map(|i| uid(&format!("PatientRecord::\"p{}-r{}\"", i * 7 % 2000, i % 3)))
        .collect();
    for u in 0..20 {
        let p = uid(&format!("User::\"u{}\"", u * 37));
        let a = uid("Action::\"read\"");
        let batch = authz.decide_batch(&p, &a, &resources, &ctx).expect("batch");
        for (r, d) in resources.iter().zip(&batch) {
            let req = authz
                .request(p.clone(), a.clone(), r.clone(), &ctx)
                .expect("request");
            assert_eq!(d, &authz.decide_reference(&req));
        }
    }
}

fn consent() -> impl Strategy<Value = ConsentState> {
    prop_oneof![
        Just(ConsentState::Granted),
        Just(ConsentState::NotRequired),
        Just(ConsentState::None),
        Just(ConsentState::Restricted),
        Just(ConsentState::Revoked),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]
    #[test]
    fn sliced_engine_equals_full_cedar_proptest(
        user in 0usize..1000,
        patient in 0usize..2000,
        rec in 0usize..3,
        action in prop::sample::select(vec!["read", "export", "download", "modify_bulk"]),
        purpose in prop::option::of(prop::sample::select(vec![
            "treatment", "marketing", "emergency_treatment", "study-3", ""])),
        hour in 0u8..24,
        internal in any::<bool>(),
        consent in consent(),
        emergency in any::<bool>(),
        law in any::<bool>(),
        approval in any::<bool>(),
    ) {
        let (_, authz) = setup();
        let ctx = AccessContext {
            purpose: purpose.map(str::to_string),
            hour,
            network: Network { internal, address: "192.0.2.1".into() },
            consent,
            emergency,
            legal_basis: law.then(|| "law".to_string()),
            approval_id: approval.then(|| "APR-1".to_string()),
            approved_special_diseases: None,
        };
        let req = authz.request(
            uid(&format!("User::\"u{user}\"")),
            uid(&format!("Action::\"{action}\"")),
            uid(&format!("PatientRecord::\"p{patient}-r{rec}\"")),
            &ctx,
        ).expect("request");
        let fast = authz.decide(&req);
        let full = authz.decide_reference(&req);
        prop_assert_eq!(fast.allowed, full.allowed);
        prop_assert_eq!(fast.determining_policies, full.determining_policies);
    }
}
