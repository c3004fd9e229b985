//! Attribute-based access control for medspace on Cedar (`cedar-policy`), with the GB/T 39725
//! default policies and a sliced evaluator that gives Cedar's decisions at a fraction of the cost.
//!
//! Clauses implemented:
//! - GB/T 39725-2020 §11.1.2.2–§11.1.2.3 and Table 7: doctors by department, title and treatment
//!   group; special-disease granularity (resident → summary, attending → abstract,
//!   associate chief / chief → detail); supervisors see their juniors' patients; infectious
//!   diseases disclosed to treating staff; union of roles ([`DEFAULT_POLICIES`]).
//! - GB/T 39725-2020 §6.2 and Table 3 (level rules), §7 a), c), h), j) (consent, marketing,
//!   restrictions with the legal / medical-emergency exception, minimum necessary).
//! - T/CI 857-2024 6.4.1 (default deny), 6.4.2 (least privilege), 7.2.4 a), b) (role-based,
//!   dynamically changed permissions taking effect on the next request: [`Authorizer`] swaps an
//!   immutable engine atomically). DMS 4.3.2 (C2 only under an approval), 6.2.2.
//! - Every decision returns its determining policies ([`DecisionWithReasons`]).
//!
//! # Why the sliced evaluator decides exactly as Cedar does
//!
//! Cedar's answer for a request over a policy set *S* is a function of the set *Sat* ⊆ *S* of
//! satisfied policies only: Deny with reasons = the satisfied forbids if any forbid is satisfied;
//! otherwise Allow with reasons = the satisfied permits if any; otherwise Deny with no reasons.
//! Each policy is evaluated independently of the others, and a policy whose evaluation raises an
//! error is not satisfied (it only appears among the errors). Hence evaluating any subset
//! *S'* with *Sat* ⊆ *S'* ⊆ *S* yields the same decision and the same determining policies.
//!
//! The engine builds *S'* by dropping only policies it can prove unsatisfied for the request:
//! 1. **Scope.** Buckets per (action, principal type, resource type) from the schema's request
//!    environments keep only policies whose scope can match that triple; `principal == E` /
//!    `resource == E` policies are looked up by the request's entity, `in E` policies by the
//!    entity and its ancestors (the same ancestor sets Cedar uses, `Entities::ancestors`), and
//!    then every candidate's scope is checked exactly (`==`, `is`, `in` via
//!    `Entities::is_ancestor_of`, Cedar's own `in`).
//! 2. **Conditions.** A policy holds iff every `when` body is `true` and every `unless` body is
//!    `false`. The engine evaluates a subset of Cedar expressions (`&&`, `||`, `!`, `==`, `!=`,
//!    `<`, `<=`, `>`, `>=`, `contains`, `containsAll`, `containsAny`, `isEmpty`, `has`, attribute
//!    access, literals) over a mirror of the entity and context attributes built from the very
//!    values Cedar holds (`Entity::attrs`, `Context::get`). It drops a policy only when a `when`
//!    body certainly does not evaluate to `true`, or an `unless` body certainly does not evaluate
//!    to `false`, using: `a && b` not true if either is not true; `a || b` not true if both are
//!    not true; `!a` not true if `a` is not false (and duals). An atom counts only when all its
//!    operands are known primitives (strings, longs, booleans, entity uids) or sets of them, for
//!    which Cedar's `==` is plain equality and different types compare unequal; a missing entity
//!    or attribute, an extension value or any other expression form is "unknown" and never used.
//!    Because Cedar short-circuits `&&`/`||` left to right, a conjunct that is certainly false
//!    makes the conjunction false or an error — unsatisfied either way.
//! 3. A bucket may also hash its policies by the attribute path most of them compare with a
//!    literal in a top-level `when` conjunct (e.g. `principal.department == "cardiology"`): when
//!    the request's value differs the conjunct is false, so those policies are unsatisfied.
//!
//! 4. **Certainly satisfied.** With the same exact evaluation (`&&`/`||` left to right with
//!    short-circuit, `!`, atoms over known primitives, which raise no error), a surviving policy
//!    whose scope matches exactly and whose `when` bodies are certainly `true` and `unless`
//!    bodies certainly `false` is satisfied. If *every* survivor is certainly satisfied, the
//!    survivors are *Sat* itself and the answer follows from Cedar's rule above without calling
//!    Cedar.
//!
//! Otherwise the survivors are evaluated by Cedar itself (`Authorizer::is_authorized`) as a
//! pre-built, cached `PolicySet` keyed by the surviving indices, so allow/deny and the
//! determining policies are Cedar's. Errors can only be fewer: a skipped policy might have raised
//! an error before reaching its false conjunct. `tests/equivalence.rs` checks the identity on
//! random requests over a generated set of 200+ policies and 10,000+ entities, and
//! `examples/latency.rs` on every benchmarked request.

mod authorizer;
mod compile;
mod engine;
mod mirror;
pub mod synth;
pub mod vocab;

pub use authorizer::{
    builtin_schema, parse_policies, AccessContext, Authorizer, ConsentState, DecisionWithReasons,
    Network, Request,
};
pub use cedar_policy;

/// The Cedar schema (`schema/medspace.cedarschema`).
pub const SCHEMA: &str = include_str!("../schema/medspace.cedarschema");

/// The default policies (`policies/default.cedar`).
pub const DEFAULT_POLICIES: &str = include_str!("../policies/default.cedar");

/// The context attributes the schema declares (`RequestContext`); checked against the schema in
/// tests.
pub const CONTEXT_KEYS: &[&str] = &[
    "purpose",
    "hour",
    "network",
    "consent",
    "emergency",
    "legal_basis",
    "approval_id",
    "approved_special_diseases",
];

/// Errors of the access-control layer. Messages name the problem (policy id, attribute) but
/// carry no attribute values of people.
#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    /// Policy text does not parse.
    #[error("policy syntax error: {0}")]
    Parse(String),
    /// A policy lacks the `@id("…")` annotation that names it in decisions.
    #[error("policy without @id annotation: {0}")]
    MissingId(String),
    /// Two policies share an id.
    #[error("duplicate policy id {0}")]
    DuplicateId(String),
    /// Templates are not accepted (link a static policy instead).
    #[error("policy templates are not supported ({0})")]
    Template(String),
    /// The policy set does not validate against the schema (strict mode).
    #[error("policy rejected by schema validation: {0}")]
    Validation(String),
    /// The schema does not parse.
    #[error("schema error: {0}")]
    Schema(String),
    /// Entities do not parse or do not conform to the schema.
    #[error("entities rejected: {0}")]
    Entities(String),
    /// The request does not conform to the schema.
    #[error("request rejected: {0}")]
    Request(String),
}
