//! The [`Authorizer`]: decisions with reasons, batch decisions for row filtering, and policy and
//! entity changes that take effect on the next request without restart (T/CI 857-2024 7.2.4 b)),
//! each validated against the schema before acceptance (issue 7 item 3).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use cedar_policy::{
    Context, Entities, EntityUid, Policy, PolicyId, PolicySet, RestrictedExpression, Schema,
    ValidationMode, Validator,
};
use serde::{Deserialize, Serialize};

use crate::engine::{Engine, Env, Outcome};
use crate::mirror::{mirror_context, Attrs, EntityMirror};
use crate::{AuthzError, CONTEXT_KEYS, DEFAULT_POLICIES, SCHEMA};

/// A decision and the policies that determined it (the satisfied forbids of a Deny, the
/// satisfied permits of an Allow; empty for a default deny).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionWithReasons {
    /// Whether the request is allowed.
    pub allowed: bool,
    /// Ids (`@id`) of the determining policies, sorted.
    pub determining_policies: Vec<String>,
    /// Evaluation errors (policies that could not be evaluated are ignored, as in Cedar).
    pub errors: Vec<String>,
}

impl From<Outcome> for DecisionWithReasons {
    fn from(o: Outcome) -> Self {
        Self {
            allowed: o.allowed,
            determining_policies: o.reasons,
            errors: o.errors,
        }
    }
}

/// State of the data subject's consent for this use (GB/T 39725-2020 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// Valid consent covers this use.
    Granted,
    /// A lawful basis without consent applies (§7 b)).
    #[default]
    NotRequired,
    /// No consent on record.
    None,
    /// The subject asked for a restriction that was agreed (§7 h)).
    Restricted,
    /// The subject revoked consent.
    Revoked,
}

impl ConsentState {
    /// The value policies see in `context.consent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Granted => "granted",
            Self::NotRequired => "not_required",
            Self::None => "none",
            Self::Restricted => "restricted",
            Self::Revoked => "revoked",
        }
    }
}

/// Where the request comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Network {
    /// Inside the configured internal networks.
    pub internal: bool,
    /// Client address as text.
    pub address: String,
}

/// The request context every decision sees (schema type `RequestContext`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AccessContext {
    /// Stated purpose (minimum necessary: none → denied).
    pub purpose: Option<String>,
    /// Local hour, 0–23.
    pub hour: u8,
    /// Network of the caller.
    pub network: Network,
    /// Consent state of the data subject for this use.
    pub consent: ConsentState,
    /// Medical emergency (break-glass).
    pub emergency: bool,
    /// Lawful basis without consent (§7 b)).
    pub legal_basis: Option<String>,
    /// Approval authorising an over-scope or bulk operation.
    pub approval_id: Option<String>,
    /// Special-disease classes the approval explicitly covers (sandbox rows).
    #[serde(default)]
    pub approved_special_diseases: Option<Vec<String>>,
}

impl AccessContext {
    /// The Cedar context value.
    pub fn to_cedar(&self) -> Result<Context, AuthzError> {
        let s = |v: &str| RestrictedExpression::new_string(v.to_string());
        let mut pairs = vec![
            (
                "hour".to_string(),
                RestrictedExpression::new_long(i64::from(self.hour)),
            ),
            (
                "network".to_string(),
                RestrictedExpression::new_record([
                    (
                        "internal".to_string(),
                        RestrictedExpression::new_bool(self.network.internal),
                    ),
                    ("address".to_string(), s(&self.network.address)),
                ])
                .map_err(|e| AuthzError::Request(e.to_string()))?,
            ),
            ("consent".to_string(), s(self.consent.as_str())),
            (
                "emergency".to_string(),
                RestrictedExpression::new_bool(self.emergency),
            ),
        ];
        for (k, v) in [
            ("purpose", &self.purpose),
            ("legal_basis", &self.legal_basis),
            ("approval_id", &self.approval_id),
        ] {
            if let Some(v) = v {
                pairs.push((k.to_string(), s(v)));
            }
        }
        if let Some(classes) = &self.approved_special_diseases {
            pairs.push((
                "approved_special_diseases".to_string(),
                RestrictedExpression::new_set(classes.iter().map(|c| s(c))),
            ));
        }
        Context::from_pairs(pairs).map_err(|e| AuthzError::Request(e.to_string()))
    }
}

/// A prepared authorization request: the Cedar request and the slicer's view of its context.
#[derive(Debug, Clone)]
pub struct Request {
    cedar: cedar_policy::Request,
    principal: EntityUid,
    action: EntityUid,
    resource: EntityUid,
    ctx: Attrs,
}

fn context_keys() -> &'static [String] {
    static KEYS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| CONTEXT_KEYS.iter().map(|s| s.to_string()).collect())
}

impl Request {
    /// Builds a request; with a schema, the request and its context are validated.
    pub fn new(
        principal: EntityUid,
        action: EntityUid,
        resource: EntityUid,
        context: Context,
        schema: Option<&Schema>,
    ) -> Result<Self, AuthzError> {
        let ctx = mirror_context(&context, context_keys());
        let cedar = cedar_policy::Request::new(
            principal.clone(),
            action.clone(),
            resource.clone(),
            context,
            schema,
        )
        .map_err(|e| AuthzError::Request(e.to_string()))?;
        Ok(Self {
            cedar,
            principal,
            action,
            resource,
            ctx,
        })
    }

    /// The Cedar request, for evaluating it elsewhere (e.g. plain Cedar in benchmarks).
    pub fn cedar(&self) -> &cedar_policy::Request {
        &self.cedar
    }

    /// The principal.
    pub fn principal(&self) -> &EntityUid {
        &self.principal
    }

    /// The action.
    pub fn action(&self) -> &EntityUid {
        &self.action
    }

    /// The resource.
    pub fn resource(&self) -> &EntityUid {
        &self.resource
    }
}

#[derive(Debug)]
struct PolicyState {
    engine: Engine,
    /// `(id, policy text)` in order, for listings and the audit trail of changes.
    texts: Vec<(String, String)>,
}

#[derive(Debug)]
struct EntityStore {
    entities: Entities,
    mirror: EntityMirror,
}

#[derive(Debug)]
struct Shared {
    schema: Schema,
    policies: ArcSwap<PolicyState>,
    entities: ArcSwap<EntityStore>,
    /// Serialises policy changes so that none is lost between load and store.
    writer: Mutex<()>,
}

/// The policy decision point. Cheap to clone (one `Arc`), `Send + Sync`; policy and entity
/// changes are atomic swaps seen by the next request.
#[derive(Debug, Clone)]
pub struct Authorizer {
    shared: Arc<Shared>,
}

/// Parses policy text into named static policies: each needs a unique `@id("…")`, which becomes
/// its Cedar policy id (and so the name in decisions).
pub fn parse_policies(text: &str) -> Result<Vec<Policy>, AuthzError> {
    let set = PolicySet::from_str(text).map_err(|e| AuthzError::Parse(format!("{e:?}")))?;
    if let Some(t) = set.templates().next() {
        return Err(AuthzError::Template(t.id().to_string()));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    // `PolicySet` iterates in no fixed order; the parser numbers policies `policy0`, `policy1`, …
    // in text order, so sort by that number to keep the text order.
    let mut parsed: Vec<&Policy> = set.policies().collect();
    parsed.sort_by_key(|p| {
        p.id()
            .to_string()
            .trim_start_matches("policy")
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    });
    for p in parsed {
        let id = p
            .annotation("id")
            .ok_or_else(|| AuthzError::MissingId(p.to_string().chars().take(80).collect()))?;
        if !seen.insert(id.to_string()) {
            return Err(AuthzError::DuplicateId(id.to_string()));
        }
        out.push(p.new_id(PolicyId::new(id)));
    }
    Ok(out)
}

fn policy_text(p: &Policy) -> String {
    p.to_string()
}

impl Authorizer {
    /// The built-in schema and default policies, with the given entities.
    pub fn with_defaults(entities: Entities) -> Result<Self, AuthzError> {
        let schema = builtin_schema()?;
        Self::new(schema, DEFAULT_POLICIES, entities)
    }

    /// An authorizer over `schema` with the policies in `policy_text` (validated strictly).
    pub fn new(schema: Schema, policy_text: &str, entities: Entities) -> Result<Self, AuthzError> {
        let policies = parse_policies(policy_text)?;
        let state = compile(&schema, policies)?;
        let store = EntityStore {
            mirror: EntityMirror::build(&entities),
            entities,
        };
        Ok(Self {
            shared: Arc::new(Shared {
                schema,
                policies: ArcSwap::from_pointee(state),
                entities: ArcSwap::from_pointee(store),
                writer: Mutex::new(()),
            }),
        })
    }

    /// The schema.
    pub fn schema(&self) -> &Schema {
        &self.shared.schema
    }

    /// Parses entities in Cedar's JSON entity format, validated against the schema.
    pub fn parse_entities(&self, json: serde_json::Value) -> Result<Entities, AuthzError> {
        Entities::from_json_value(json, Some(&self.shared.schema))
            .map_err(|e| AuthzError::Entities(e.to_string()))
    }

    /// Replaces the entity data (attribute, role, hierarchy changes); the next request sees it.
    pub fn replace_entities(&self, entities: Entities) {
        let store = EntityStore {
            mirror: EntityMirror::build(&entities),
            entities,
        };
        self.shared.entities.store(Arc::new(store));
    }

    /// Builds a request validated against the schema.
    pub fn request(
        &self,
        principal: EntityUid,
        action: EntityUid,
        resource: EntityUid,
        context: &AccessContext,
    ) -> Result<Request, AuthzError> {
        Request::new(
            principal,
            action,
            resource,
            context.to_cedar()?,
            Some(&self.shared.schema),
        )
    }

    /// Builds a request from JSON `{"principal", "action", "resource", "context"}` where each
    /// entity is `{"type": …, "id": …}` or `Type::"id"` and the context follows the schema.
    pub fn request_from_json(&self, json: &serde_json::Value) -> Result<Request, AuthzError> {
        let uid = |k: &str| -> Result<EntityUid, AuthzError> {
            let v = json
                .get(k)
                .ok_or_else(|| AuthzError::Request(format!("missing \"{k}\"")))?;
            match v {
                serde_json::Value::String(s) => {
                    EntityUid::from_str(s).map_err(|e| AuthzError::Request(format!("{k}: {e}")))
                }
                other => EntityUid::from_json(other.clone())
                    .map_err(|e| AuthzError::Request(format!("{k}: {e}"))),
            }
        };
        let (principal, action, resource) = (uid("principal")?, uid("action")?, uid("resource")?);
        let ctx_json = json
            .get("context")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}));
        let context = Context::from_json_value(ctx_json, Some((&self.shared.schema, &action)))
            .map_err(|e| AuthzError::Request(format!("context: {e}")))?;
        Request::new(
            principal,
            action,
            resource,
            context,
            Some(&self.shared.schema),
        )
    }

    /// Decides a request with the sliced engine.
    pub fn decide(&self, request: &Request) -> DecisionWithReasons {
        let state = self.shared.policies.load();
        let store = self.shared.entities.load();
        decide_with(&state.engine, &store, request).into()
    }

    /// Decides the same principal, action and context over many resources (row filtering: one
    /// call, no per-row round trip). Fails if the requests do not conform to the schema.
    pub fn decide_batch(
        &self,
        principal: &EntityUid,
        action: &EntityUid,
        resources: &[EntityUid],
        context: &AccessContext,
    ) -> Result<Vec<DecisionWithReasons>, AuthzError> {
        let store = self.shared.entities.load();
        self.decide_all(
            &store.mirror,
            &store.entities,
            principal,
            action,
            resources,
            context,
        )
    }

    /// Decides the same principal, action and context over many resources with request-scoped
    /// entities instead of the stored ones: the service builds the caller, the patient and the
    /// records for each call from current data, so an attribute change applies to the very next
    /// request (T/CI 857-2024 7.2.4 b)). Fails if the requests do not conform to the schema.
    pub fn decide_batch_in(
        &self,
        entities: &Entities,
        principal: &EntityUid,
        action: &EntityUid,
        resources: &[EntityUid],
        context: &AccessContext,
    ) -> Result<Vec<DecisionWithReasons>, AuthzError> {
        let mirror = EntityMirror::build(entities);
        self.decide_all(&mirror, entities, principal, action, resources, context)
    }

    fn decide_all(
        &self,
        mirror: &EntityMirror,
        entities: &Entities,
        principal: &EntityUid,
        action: &EntityUid,
        resources: &[EntityUid],
        context: &AccessContext,
    ) -> Result<Vec<DecisionWithReasons>, AuthzError> {
        let state = self.shared.policies.load();
        let ctx = context.to_cedar()?;
        resources
            .iter()
            .map(|r| {
                let req = Request::new(
                    principal.clone(),
                    action.clone(),
                    r.clone(),
                    ctx.clone(),
                    Some(&self.shared.schema),
                )?;
                Ok(decide_in(&state.engine, mirror, entities, &req).into())
            })
            .collect()
    }

    /// Plain Cedar over the full policy set: the reference the fast path is tested against.
    pub fn decide_reference(&self, request: &Request) -> DecisionWithReasons {
        let state = self.shared.policies.load();
        let store = self.shared.entities.load();
        state
            .engine
            .decide_full(&request.cedar, &store.entities)
            .into()
    }

    /// How many policies the sliced engine hands Cedar for this request (diagnostics).
    pub fn evaluated_policies(&self, request: &Request) -> usize {
        let state = self.shared.policies.load();
        let store = self.shared.entities.load();
        decide_with(&state.engine, &store, request).evaluated
    }

    /// The current policy set (plain Cedar form) and entities, e.g. for benchmarks.
    pub fn snapshot(&self) -> (PolicySet, Entities) {
        let state = self.shared.policies.load();
        let store = self.shared.entities.load();
        (state.engine.full().clone(), store.entities.clone())
    }

    /// `(id, text)` of every policy in force.
    pub fn policies(&self) -> Vec<(String, String)> {
        self.shared.policies.load().texts.clone()
    }

    /// An annotation (e.g. `clause`) of a policy in force.
    pub fn policy_annotation(&self, id: &str, key: &str) -> Option<String> {
        let state = self.shared.policies.load();
        state
            .engine
            .full()
            .annotation(&PolicyId::new(id), key)
            .map(str::to_string)
    }

    /// Number of policies in force.
    pub fn policy_count(&self) -> usize {
        self.shared.policies.load().engine.len()
    }

    /// Adds policies (each with a new `@id`); the whole set is validated against the schema
    /// first, and on success the next request uses it. Returns the ids added.
    pub fn add_policy(&self, text: &str) -> Result<Vec<String>, AuthzError> {
        let added = parse_policies(text)?;
        let _w = self
            .shared
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.shared.policies.load();
        let mut all: Vec<Policy> = current.engine.full().policies().cloned().collect();
        // Keep the established order: current texts' order, then the new ones.
        let order: HashMap<&str, usize> = current
            .texts
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.as_str(), i))
            .collect();
        all.sort_by_key(|p| order.get(p.id().to_string().as_str()).copied());
        for p in &added {
            if order.contains_key(p.id().to_string().as_str()) {
                return Err(AuthzError::DuplicateId(p.id().to_string()));
            }
        }
        let ids = added.iter().map(|p| p.id().to_string()).collect();
        all.extend(added);
        let state = compile(&self.shared.schema, all)?;
        self.shared.policies.store(Arc::new(state));
        Ok(ids)
    }

    /// Replaces the whole policy set (validated first); the next request uses it.
    pub fn replace_policies(&self, text: &str) -> Result<(), AuthzError> {
        let policies = parse_policies(text)?;
        let state = compile(&self.shared.schema, policies)?;
        let _w = self
            .shared
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.shared.policies.store(Arc::new(state));
        Ok(())
    }
}

fn decide_with(engine: &Engine, store: &EntityStore, request: &Request) -> Outcome {
    decide_in(engine, &store.mirror, &store.entities, request)
}

fn decide_in(
    engine: &Engine,
    mirror: &EntityMirror,
    entities: &Entities,
    request: &Request,
) -> Outcome {
    let env = Env {
        p_attrs: mirror.get(&request.principal),
        r_attrs: mirror.get(&request.resource),
        principal: &request.principal,
        action: &request.action,
        resource: &request.resource,
        ctx: &request.ctx,
        ctx_keys: context_keys(),
        mirror,
        entities,
    };
    engine.decide(&request.cedar, &env)
}

/// The built-in schema.
pub fn builtin_schema() -> Result<Schema, AuthzError> {
    Schema::from_str(SCHEMA).map_err(|e| AuthzError::Schema(format!("{e:?}")))
}

/// Validates (strict) and compiles a policy list.
fn compile(schema: &Schema, policies: Vec<Policy>) -> Result<PolicyState, AuthzError> {
    let full = PolicySet::from_policies(policies.iter().cloned())
        .map_err(|e| AuthzError::DuplicateId(e.to_string()))?;
    let result = Validator::new(schema.clone()).validate(&full, ValidationMode::Strict);
    if !result.validation_passed() {
        let msgs: Vec<String> = result
            .validation_errors()
            .map(|e| format!("{}: {e}", e.policy_id()))
            .collect();
        return Err(AuthzError::Validation(msgs.join("; ")));
    }
    let texts = policies
        .iter()
        .map(|p| (p.id().to_string(), policy_text(p)))
        .collect();
    Ok(PolicyState {
        engine: Engine::new(policies, full, schema),
        texts,
    })
}
