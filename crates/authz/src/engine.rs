//! The sliced policy engine: for each request, the subset of policies that cannot be refuted
//! statically is evaluated by Cedar; the rest are skipped. See the crate documentation for why
//! the decision and its determining policies are exactly those of Cedar over the full set.
//!
//! Clauses: GB/T 39725-2020 §11.1.2.3 c) (matching roles against labels on every access),
//! T/CI 857-2024 7.2.4 b) (changes take effect at once: an engine is immutable and swapped whole).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use cedar_policy::{
    Authorizer as CedarAuthorizer, Entities, EntityTypeName, EntityUid, Policy, PolicySet, Request,
    Schema,
};

use crate::compile::{ActionScope, Cond, Operand, PolicyShape, Scope, Var};
use crate::mirror::{Attrs, EntityMirror, Key, Val};

type Map<K, V> = foldhash::HashMap<K, V>;

/// Cached sliced policy sets at most (beyond, a slice is built for the one request).
const CACHE_CAP: usize = 16_384;

/// What a request looks like to the slicer.
pub(crate) struct Env<'a> {
    pub principal: &'a EntityUid,
    pub action: &'a EntityUid,
    pub resource: &'a EntityUid,
    pub ctx: &'a Attrs,
    /// Attributes of the principal and the resource, looked up once per request.
    pub p_attrs: Option<&'a Attrs>,
    pub r_attrs: Option<&'a Attrs>,
    /// Context attributes the mirror is complete for: absent from `ctx` means absent.
    pub ctx_keys: &'a [String],
    pub mirror: &'a EntityMirror,
    pub entities: &'a Entities,
}

/// Outcome of one engine evaluation.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub allowed: bool,
    pub reasons: Vec<String>,
    pub errors: Vec<String>,
    /// Policies Cedar evaluated (for diagnostics and benchmarks).
    pub evaluated: usize,
}

/// An immutable compiled policy set.
#[derive(Debug)]
pub(crate) struct Engine {
    policies: Vec<Policy>,
    shapes: Vec<PolicyShape>,
    /// Per policy: is it a forbid; its id.
    forbid: Vec<bool>,
    ids: Vec<String>,
    full: PolicySet,
    buckets: Map<EntityUid, Map<EntityTypeName, Map<EntityTypeName, Arc<Bucket>>>>,
    cache: RwLock<Map<Box<[u32]>, Arc<PolicySet>>>,
    cedar: CedarAuthorizer,
}

#[derive(Debug, Default)]
struct Bucket {
    always: Vec<u32>,
    p_eq: Map<EntityUid, Vec<u32>>,
    r_eq: Map<EntityUid, Vec<u32>>,
    p_in: Map<EntityUid, Vec<u32>>,
    r_in: Map<EntityUid, Vec<u32>>,
    attrs: Vec<AttrIndex>,
}

#[derive(Debug)]
struct AttrIndex {
    var: Var,
    path: Vec<String>,
    map: Map<Key, Vec<u32>>,
}

impl Engine {
    /// Compiles `policies` (static policies only), with buckets for every request type the
    /// schema allows.
    pub(crate) fn new(policies: Vec<Policy>, full: PolicySet, schema: &Schema) -> Self {
        let shapes: Vec<PolicyShape> = policies.iter().map(PolicyShape::of).collect();
        let action_entities = schema.action_entities().ok();
        let mut buckets: Map<_, Map<_, Map<_, Arc<Bucket>>>> = Map::default();
        for env in schema.request_envs() {
            let bucket = Bucket::build(
                &shapes,
                env.action(),
                env.principal(),
                env.resource(),
                action_entities.as_ref(),
            );
            buckets
                .entry(env.action().clone())
                .or_default()
                .entry(env.principal().clone())
                .or_default()
                .insert(env.resource().clone(), Arc::new(bucket));
        }
        let forbid = policies
            .iter()
            .map(|p| p.effect() == cedar_policy::Effect::Forbid)
            .collect();
        let ids = policies.iter().map(|p| p.id().to_string()).collect();
        Self {
            forbid,
            ids,
            policies,
            shapes,
            full,
            buckets,
            cache: RwLock::new(Map::default()),
            cedar: CedarAuthorizer::new(),
        }
    }

    pub(crate) fn full(&self) -> &PolicySet {
        &self.full
    }

    pub(crate) fn len(&self) -> usize {
        self.policies.len()
    }

    /// Decides `request` (whose parts `env` mirrors) with the sliced policy set.
    pub(crate) fn decide(&self, request: &Request, env: &Env<'_>) -> Outcome {
        let (survivors, all_known) = self.survivors(env);
        if all_known {
            // Every policy is either provably unsatisfied or provably satisfied without error:
            // Cedar's answer is a function of the satisfied set (see the crate documentation).
            let forbids: Vec<String> = survivors
                .iter()
                .filter(|&&i| self.forbid[i as usize])
                .map(|&i| self.ids[i as usize].clone())
                .collect();
            let (allowed, mut reasons) = if !forbids.is_empty() {
                (false, forbids)
            } else {
                let permits: Vec<String> = survivors
                    .iter()
                    .map(|&i| self.ids[i as usize].clone())
                    .collect();
                (!permits.is_empty(), permits)
            };
            reasons.sort_unstable();
            return Outcome {
                allowed,
                reasons,
                errors: Vec::new(),
                evaluated: 0,
            };
        }
        let set = self.slice(&survivors);
        let resp = self.cedar.is_authorized(request, &set, env.entities);
        outcome(&resp, survivors.len())
    }

    /// Plain Cedar over the full set: the reference the sliced engine must agree with.
    pub(crate) fn decide_full(&self, request: &Request, entities: &Entities) -> Outcome {
        let resp = self.cedar.is_authorized(request, &self.full, entities);
        outcome(&resp, self.policies.len())
    }

    fn slice(&self, survivors: &[u32]) -> Arc<PolicySet> {
        if let Ok(cache) = self.cache.read() {
            if let Some(s) = cache.get(survivors) {
                return s.clone();
            }
        }
        let set = Arc::new(
            PolicySet::from_policies(survivors.iter().map(|&i| self.policies[i as usize].clone()))
                // Ids are unique in the full set, so a subset cannot clash; fall back anyway.
                .unwrap_or_else(|_| self.full.clone()),
        );
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() < CACHE_CAP {
                cache.insert(survivors.into(), set.clone());
            }
        }
        set
    }

    /// Indices, ascending, of the policies that cannot be refuted for this request, and whether
    /// every one of them is certainly satisfied.
    fn survivors(&self, env: &Env<'_>) -> (Vec<u32>, bool) {
        let bucket = self
            .buckets
            .get(env.action)
            .and_then(|m| m.get(env.principal.type_name()))
            .and_then(|m| m.get(env.resource.type_name()));
        let mut cands: Vec<u32> = match bucket {
            Some(b) => b.candidates(env),
            None => (0..self.policies.len() as u32).collect(),
        };
        let mut all_known = true;
        cands.retain(|&i| {
            let s = &self.shapes[i as usize];
            if refuted(s, env) {
                return false;
            }
            all_known = all_known && satisfied(s, env);
            true
        });
        (cands, all_known)
    }
}

fn outcome(resp: &cedar_policy::Response, evaluated: usize) -> Outcome {
    let mut reasons: Vec<String> = resp.diagnostics().reason().map(|p| p.to_string()).collect();
    reasons.sort_unstable();
    Outcome {
        allowed: resp.decision() == cedar_policy::Decision::Allow,
        reasons,
        errors: resp.diagnostics().errors().map(|e| e.to_string()).collect(),
        evaluated,
    }
}

impl Bucket {
    fn build(
        shapes: &[PolicyShape],
        action: &EntityUid,
        ptype: &EntityTypeName,
        rtype: &EntityTypeName,
        action_entities: Option<&Entities>,
    ) -> Self {
        let mut b = Bucket::default();
        let mut rest = Vec::new();
        for (i, s) in shapes.iter().enumerate() {
            let i = i as u32;
            if !type_compatible(&s.principal, ptype)
                || !type_compatible(&s.resource, rtype)
                || !action_compatible(&s.action, action, action_entities)
            {
                continue;
            }
            match (&s.principal, &s.resource) {
                (Scope::Eq(u), _) => b.p_eq.entry(u.clone()).or_default().push(i),
                (_, Scope::Eq(u)) => b.r_eq.entry(u.clone()).or_default().push(i),
                (Scope::In(u) | Scope::IsIn(_, u), _) => {
                    b.p_in.entry(u.clone()).or_default().push(i)
                }
                (_, Scope::In(u) | Scope::IsIn(_, u)) => {
                    b.r_in.entry(u.clone()).or_default().push(i)
                }
                _ => rest.push(i),
            }
        }
        // Index the rest by the attribute paths they test for equality with a literal, greedily:
        // the path most policies test first, then the most common among those left, and so on.
        while rest.len() >= 2 {
            let mut counts: HashMap<(Var, &[String]), usize> = HashMap::new();
            for &i in &rest {
                for (v, p) in eq_literal_paths(&shapes[i as usize]) {
                    *counts.entry((v, p)).or_default() += 1;
                }
            }
            let Some((var, path)) = counts
                .into_iter()
                .filter(|(_, n)| *n >= 2)
                .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0 .1.cmp(a.0 .1)))
                .map(|(k, _)| (k.0, k.1.to_vec()))
            else {
                break;
            };
            let mut map: Map<Key, Vec<u32>> = Map::default();
            let mut left = Vec::new();
            for i in rest {
                match eq_literal_on(&shapes[i as usize], var, &path) {
                    Some(k) => map.entry(k).or_default().push(i),
                    None => left.push(i),
                }
            }
            rest = left;
            b.attrs.push(AttrIndex { var, path, map });
        }
        b.always = rest;
        b
    }

    fn candidates(&self, env: &Env<'_>) -> Vec<u32> {
        let mut out = self.always.clone();
        if let Some(v) = self.p_eq.get(env.principal) {
            out.extend_from_slice(v);
        }
        if let Some(v) = self.r_eq.get(env.resource) {
            out.extend_from_slice(v);
        }
        in_candidates(&self.p_in, env.principal, env.entities, &mut out);
        in_candidates(&self.r_in, env.resource, env.entities, &mut out);
        for ix in &self.attrs {
            match resolve_path(env, ix.var, &ix.path).and_then(|r| r.key()) {
                Some(k) => {
                    if let Some(v) = ix.map.get(&k) {
                        out.extend_from_slice(v);
                    }
                }
                // Value unknown here: keep every indexed policy.
                None => ix.map.values().for_each(|v| out.extend_from_slice(v)),
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn in_candidates(
    map: &Map<EntityUid, Vec<u32>>,
    uid: &EntityUid,
    entities: &Entities,
    out: &mut Vec<u32>,
) {
    if map.is_empty() {
        return;
    }
    if let Some(v) = map.get(uid) {
        out.extend_from_slice(v);
    }
    if let Some(anc) = entities.ancestors(uid) {
        for a in anc {
            if let Some(v) = map.get(a) {
                out.extend_from_slice(v);
            }
        }
    }
}

/// The paths of the necessary conjuncts `var.path == literal` of a policy.
fn eq_literal_paths(s: &PolicyShape) -> Vec<(Var, &[String])> {
    let mut out: Vec<(Var, &[String])> = Vec::new();
    for c in s.necessary_conjuncts() {
        if let Cond::Eq(Operand::Path(v, p), Operand::Lit(l))
        | Cond::Eq(Operand::Lit(l), Operand::Path(v, p)) = c
        {
            if !p.is_empty() && l.key().is_some() && !out.contains(&(*v, p.as_slice())) {
                out.push((*v, p.as_slice()));
            }
        }
    }
    out
}

fn eq_literal_on(s: &PolicyShape, var: Var, path: &[String]) -> Option<Key> {
    s.necessary_conjuncts().into_iter().find_map(|c| match c {
        Cond::Eq(Operand::Path(v, p), Operand::Lit(l))
        | Cond::Eq(Operand::Lit(l), Operand::Path(v, p))
            if *v == var && p.as_slice() == path =>
        {
            l.key()
        }
        _ => None,
    })
}

fn type_compatible(s: &Scope, ty: &EntityTypeName) -> bool {
    match s {
        Scope::Eq(u) => u.type_name() == ty,
        Scope::Is(t) | Scope::IsIn(t, _) => t == ty,
        Scope::Any | Scope::In(_) | Scope::Opaque => true,
    }
}

fn action_compatible(s: &ActionScope, action: &EntityUid, acts: Option<&Entities>) -> bool {
    match s {
        ActionScope::Any | ActionScope::Opaque => true,
        ActionScope::Eq(u) => u == action,
        // Without the schema's action hierarchy, keep the policy (the request check decides).
        ActionScope::In(list) => list
            .iter()
            .any(|u| u == action || acts.is_none_or(|e| e.is_ancestor_of(u, action))),
    }
}

// ---------------------------------------------------------------------------------------------
// Refutation.
// ---------------------------------------------------------------------------------------------

/// True if the policy is certainly not satisfied by the request: its scope does not match, a
/// `when` body certainly does not evaluate to `true`, or an `unless` body certainly does not
/// evaluate to `false`.
pub(crate) fn refuted(s: &PolicyShape, env: &Env<'_>) -> bool {
    scope_refuted(&s.principal, env.principal, env.entities)
        || scope_refuted(&s.resource, env.resource, env.entities)
        || action_refuted(&s.action, env.action, env.entities)
        || s.when.iter().any(|c| not_true(c, env))
        || s.unless.iter().any(|c| not_false(c, env))
}

fn in_refuted(target: &EntityUid, uid: &EntityUid, entities: &Entities) -> bool {
    // Cedar's `uid in target`: equality, or `target` among the ancestors held in `entities`.
    uid != target && !entities.is_ancestor_of(target, uid)
}

fn scope_refuted(s: &Scope, uid: &EntityUid, entities: &Entities) -> bool {
    match s {
        Scope::Any | Scope::Opaque => false,
        Scope::Eq(u) => u != uid,
        Scope::In(u) => in_refuted(u, uid, entities),
        Scope::Is(t) => t != uid.type_name(),
        Scope::IsIn(t, u) => t != uid.type_name() || in_refuted(u, uid, entities),
    }
}

fn action_refuted(s: &ActionScope, action: &EntityUid, entities: &Entities) -> bool {
    match s {
        ActionScope::Any | ActionScope::Opaque => false,
        ActionScope::Eq(u) => u != action,
        ActionScope::In(list) => list.iter().all(|u| in_refuted(u, action, entities)),
    }
}

/// True if the policy is certainly satisfied: scope matches and every condition evaluates,
/// without error, to the required value.
pub(crate) fn satisfied(s: &PolicyShape, env: &Env<'_>) -> bool {
    scope_matches(&s.principal, env.principal, env.entities)
        && scope_matches(&s.resource, env.resource, env.entities)
        && action_matches(&s.action, env.action, env.entities)
        && s.when.iter().all(|c| exact(c, env) == Some(true))
        && s.unless.iter().all(|c| exact(c, env) == Some(false))
}

fn scope_matches(s: &Scope, uid: &EntityUid, entities: &Entities) -> bool {
    match s {
        Scope::Any => true,
        Scope::Opaque => false,
        Scope::Eq(u) => u == uid,
        Scope::In(u) => !in_refuted(u, uid, entities),
        Scope::Is(t) => t == uid.type_name(),
        Scope::IsIn(t, u) => t == uid.type_name() && !in_refuted(u, uid, entities),
    }
}

fn action_matches(s: &ActionScope, action: &EntityUid, entities: &Entities) -> bool {
    match s {
        ActionScope::Any => true,
        ActionScope::Opaque => false,
        ActionScope::Eq(u) => u == action,
        ActionScope::In(list) => list.iter().any(|u| !in_refuted(u, action, entities)),
    }
}

/// The value Cedar computes for `c`, when it certainly computes it without error (Cedar's
/// `&&` and `||` evaluate left to right and short-circuit).
fn exact(c: &Cond, env: &Env<'_>) -> Option<bool> {
    match c {
        Cond::And(a, b) => match exact(a, env)? {
            false => Some(false),
            true => exact(b, env),
        },
        Cond::Or(a, b) => match exact(a, env)? {
            true => Some(true),
            false => exact(b, env),
        },
        Cond::Not(a) => exact(a, env).map(|x| !x),
        Cond::Opaque => None,
        atom => atom_value(atom, env),
    }
}

/// `c` certainly evaluates to `false` or to an error (never to `true`).
fn not_true(c: &Cond, env: &Env<'_>) -> bool {
    match c {
        Cond::And(a, b) => not_true(a, env) || not_true(b, env),
        Cond::Or(a, b) => not_true(a, env) && not_true(b, env),
        Cond::Not(a) => not_false(a, env),
        Cond::Opaque => false,
        atom => atom_value(atom, env) == Some(false),
    }
}

/// `c` certainly evaluates to `true` or to an error (never to `false`).
fn not_false(c: &Cond, env: &Env<'_>) -> bool {
    match c {
        Cond::And(a, b) => not_false(a, env) && not_false(b, env),
        Cond::Or(a, b) => not_false(a, env) || not_false(b, env),
        Cond::Not(a) => not_true(a, env),
        Cond::Opaque => false,
        atom => atom_value(atom, env) == Some(true),
    }
}

/// A resolved operand.
#[derive(Clone, Copy)]
enum R<'a> {
    Uid(&'a EntityUid),
    V(&'a Val),
    Set(&'a [Val]),
}

impl R<'_> {
    fn key(self) -> Option<Key> {
        match self {
            R::Uid(u) => Some(Key::Entity(u.clone())),
            R::V(v) => v.key(),
            R::Set(_) => None,
        }
    }

    fn as_uid(&self) -> Option<&EntityUid> {
        match self {
            R::Uid(u) => Some(u),
            R::V(Val::Entity(u)) => Some(u),
            _ => None,
        }
    }

    fn as_set(&self) -> Option<&[Val]> {
        match self {
            R::V(Val::Set(s)) => Some(s),
            R::Set(s) => Some(s),
            _ => None,
        }
    }
}

fn var_root<'a>(env: &Env<'a>, v: Var) -> Option<R<'a>> {
    match v {
        Var::Principal => Some(R::Uid(env.principal)),
        Var::Action => Some(R::Uid(env.action)),
        Var::Resource => Some(R::Uid(env.resource)),
        Var::Context => None,
    }
}

/// The value of `var.path`, if the mirror knows it (missing attributes are "unknown": Cedar
/// would raise an error, which also makes the policy unsatisfied, but unknown is always safe).
fn resolve_path<'a>(env: &Env<'a>, var: Var, path: &[String]) -> Option<R<'a>> {
    let (first, rest) = match path.split_first() {
        None => return var_root(env, var),
        Some(x) => x,
    };
    let mut cur = match var {
        Var::Context => R::V(env.ctx.get(first)?),
        Var::Principal => R::V(env.p_attrs?.get(first)?),
        Var::Resource => R::V(env.r_attrs?.get(first)?),
        Var::Action => R::V(env.mirror.get(env.action)?.get(first)?),
    };
    for attr in rest {
        cur = match cur {
            R::V(Val::Record(m)) => R::V(m.get(attr)?),
            r => {
                let uid = r.as_uid()?;
                R::V(env.mirror.get(uid)?.get(attr)?)
            }
        };
    }
    Some(cur)
}

fn resolve<'a>(env: &Env<'a>, op: &'a Operand) -> Option<R<'a>> {
    match op {
        Operand::Lit(v) => Some(R::V(v)),
        Operand::LitSet(s) => Some(R::Set(s)),
        Operand::Path(v, p) => resolve_path(env, *v, p),
    }
}

/// Cedar `==` on two operands, when both are primitives the mirror knows.
fn scalar_eq(a: R<'_>, b: R<'_>) -> Option<bool> {
    if let (Some(x), Some(y)) = (a.as_uid(), b.as_uid()) {
        return Some(x == y);
    }
    match (a, b) {
        (R::V(x), R::V(y)) if x.is_scalar() && y.is_scalar() => Some(x == y),
        (R::Uid(_), R::V(y)) | (R::V(y), R::Uid(_)) if y.is_scalar() => Some(false),
        _ => None,
    }
}

fn val_eq(item: &Val, b: R<'_>) -> Option<bool> {
    scalar_eq(R::V(item), b)
}

fn set_contains(set: &[Val], b: R<'_>) -> Option<bool> {
    let mut found = false;
    for item in set {
        match val_eq(item, b) {
            Some(true) => found = true,
            Some(false) => {}
            None => return None,
        }
    }
    Some(found)
}

/// The exact value Cedar gives an atom, if the mirror is enough to know it.
fn atom_value(c: &Cond, env: &Env<'_>) -> Option<bool> {
    match c {
        Cond::Eq(a, b) => scalar_eq(resolve(env, a)?, resolve(env, b)?),
        Cond::Ne(a, b) => scalar_eq(resolve(env, a)?, resolve(env, b)?).map(|x| !x),
        Cond::Lt(a, b) | Cond::Le(a, b) => {
            let (R::V(Val::Long(x)), R::V(Val::Long(y))) = (resolve(env, a)?, resolve(env, b)?)
            else {
                return None;
            };
            Some(if matches!(c, Cond::Lt(..)) {
                x < y
            } else {
                x <= y
            })
        }
        Cond::Contains(a, b) => {
            let set = resolve(env, a)?;
            set_contains(set.as_set()?, resolve(env, b)?)
        }
        Cond::ContainsAll(a, b) | Cond::ContainsAny(a, b) => {
            let sa = resolve(env, a)?;
            let sb = resolve(env, b)?;
            let (sa, sb) = (sa.as_set()?, sb.as_set()?);
            let mut all = true;
            let mut any = false;
            for item in sb {
                if !item.is_scalar() {
                    return None;
                }
                let hit = set_contains(sa, R::V(item))?;
                all &= hit;
                any |= hit;
            }
            Some(if matches!(c, Cond::ContainsAll(..)) {
                all
            } else {
                any
            })
        }
        Cond::IsEmpty(a) => Some(resolve(env, a)?.as_set()?.is_empty()),
        Cond::Has(a, attr) => has(env, a, attr),
        Cond::Truth(a) => match resolve(env, a)? {
            R::V(Val::Bool(b)) => Some(*b),
            _ => None,
        },
        Cond::And(..) | Cond::Or(..) | Cond::Not(..) | Cond::Opaque => None,
    }
}

fn has(env: &Env<'_>, a: &Operand, attr: &str) -> Option<bool> {
    match a {
        Operand::Path(Var::Context, p) if p.is_empty() => {
            if env.ctx.contains_key(attr) {
                Some(true)
            } else if env.ctx_keys.iter().any(|k| k == attr) {
                Some(false)
            } else {
                None
            }
        }
        _ => match resolve(env, a)? {
            R::V(Val::Record(m)) => Some(m.contains_key(attr)),
            r => Some(env.mirror.get(r.as_uid()?)?.contains_key(attr)),
        },
    }
}
