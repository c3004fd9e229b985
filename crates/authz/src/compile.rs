//! Static analysis of a Cedar policy for slicing (see the crate documentation for the
//! correctness argument): its scope constraints, and its conditions in a small expression
//! language that can be *refuted* without Cedar. Built from the policy's JSON form (Cedar's
//! documented EST), never from policy text.
//!
//! Clause: T/CI 857-2024 7.2.4 (role-based access control that is changed dynamically and takes
//! effect at once) needs decisions that stay fast as the policy set grows.

use cedar_policy::{EntityTypeName, EntityUid, Policy};
use serde_json::Value as Json;

use crate::mirror::Val;

/// The request variable an operand starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Var {
    Principal,
    Action,
    Resource,
    Context,
}

/// An operand whose value the slicer may know.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    /// A literal primitive.
    Lit(Val),
    /// A set literal of primitives.
    LitSet(Vec<Val>),
    /// `var.a.b…` (possibly no attributes).
    Path(Var, Vec<String>),
}

/// A condition in the analysable subset; everything else is `Opaque`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Eq(Operand, Operand),
    Ne(Operand, Operand),
    Lt(Operand, Operand),
    Le(Operand, Operand),
    Contains(Operand, Operand),
    ContainsAll(Operand, Operand),
    ContainsAny(Operand, Operand),
    IsEmpty(Operand),
    Has(Operand, String),
    /// A bare boolean operand, e.g. `context.emergency` or `true`.
    Truth(Operand),
    Opaque,
}

/// A principal or resource scope constraint.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scope {
    Any,
    Eq(EntityUid),
    In(EntityUid),
    Is(EntityTypeName),
    IsIn(EntityTypeName, EntityUid),
    /// A slot or an unknown form: never refuted.
    Opaque,
}

/// An action scope constraint.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ActionScope {
    Any,
    Eq(EntityUid),
    In(Vec<EntityUid>),
    Opaque,
}

/// What the slicer knows about one policy.
#[derive(Debug, Clone)]
pub(crate) struct PolicyShape {
    pub principal: Scope,
    pub action: ActionScope,
    pub resource: Scope,
    /// `when` bodies (must be true) and `unless` bodies (must be false).
    pub when: Vec<Cond>,
    pub unless: Vec<Cond>,
}

impl PolicyShape {
    /// Analyses a policy; a policy that cannot be converted gets an all-opaque shape, which the
    /// slicer always keeps.
    pub(crate) fn of(policy: &Policy) -> Self {
        match policy.to_json() {
            Ok(json) => Self::from_est(&json),
            Err(_) => Self::opaque(),
        }
    }

    fn opaque() -> Self {
        Self {
            principal: Scope::Opaque,
            action: ActionScope::Opaque,
            resource: Scope::Opaque,
            when: Vec::new(),
            unless: Vec::new(),
        }
    }

    pub(crate) fn from_est(json: &Json) -> Self {
        let mut when = Vec::new();
        let mut unless = Vec::new();
        if let Some(conds) = json.get("conditions").and_then(Json::as_array) {
            for c in conds {
                let body = c.get("body").map(cond).unwrap_or(Cond::Opaque);
                match c.get("kind").and_then(Json::as_str) {
                    Some("when") => when.push(body),
                    Some("unless") => unless.push(body),
                    _ => return Self::opaque(),
                }
            }
        }
        Self {
            principal: json.get("principal").map(scope).unwrap_or(Scope::Opaque),
            action: json
                .get("action")
                .map(action_scope)
                .unwrap_or(ActionScope::Opaque),
            resource: json.get("resource").map(scope).unwrap_or(Scope::Opaque),
            when,
            unless,
        }
    }

    /// The top-level conjuncts of the `when` bodies: each must be true for the policy to hold.
    pub(crate) fn necessary_conjuncts(&self) -> Vec<&Cond> {
        fn flatten<'a>(c: &'a Cond, out: &mut Vec<&'a Cond>) {
            if let Cond::And(a, b) = c {
                flatten(a, out);
                flatten(b, out);
            } else {
                out.push(c);
            }
        }
        let mut out = Vec::new();
        for c in &self.when {
            flatten(c, &mut out);
        }
        out
    }
}

fn entity_uid(j: &Json) -> Option<EntityUid> {
    // EST entity references are `{"type": …, "id": …}`, or wrapped in `__entity`.
    let j = j.get("__entity").unwrap_or(j);
    EntityUid::from_json(j.clone()).ok()
}

fn scope(j: &Json) -> Scope {
    let op = j.get("op").and_then(Json::as_str);
    let entity = || j.get("entity").and_then(entity_uid);
    match op {
        Some("All") => Scope::Any,
        Some("==") => entity().map(Scope::Eq).unwrap_or(Scope::Opaque),
        Some("in") => entity().map(Scope::In).unwrap_or(Scope::Opaque),
        Some("is") => {
            let Some(ty) = j
                .get("entity_type")
                .and_then(Json::as_str)
                .and_then(|t| t.parse::<EntityTypeName>().ok())
            else {
                return Scope::Opaque;
            };
            match j.get("in") {
                None => Scope::Is(ty),
                Some(inner) => match inner.get("entity").and_then(entity_uid) {
                    Some(u) => Scope::IsIn(ty, u),
                    None => Scope::Opaque,
                },
            }
        }
        _ => Scope::Opaque,
    }
}

fn action_scope(j: &Json) -> ActionScope {
    match j.get("op").and_then(Json::as_str) {
        Some("All") => ActionScope::Any,
        Some("==") => j
            .get("entity")
            .and_then(entity_uid)
            .map(ActionScope::Eq)
            .unwrap_or(ActionScope::Opaque),
        Some("in") => {
            if let Some(e) = j.get("entity").and_then(entity_uid) {
                ActionScope::In(vec![e])
            } else if let Some(list) = j.get("entities").and_then(Json::as_array) {
                let uids: Option<Vec<EntityUid>> = list.iter().map(entity_uid).collect();
                uids.map(ActionScope::In).unwrap_or(ActionScope::Opaque)
            } else {
                ActionScope::Opaque
            }
        }
        _ => ActionScope::Opaque,
    }
}

fn literal(j: &Json) -> Option<Val> {
    match j {
        Json::Bool(b) => Some(Val::Bool(*b)),
        Json::Number(n) => n.as_i64().map(Val::Long),
        Json::String(s) => Some(Val::Str(s.clone())),
        Json::Object(o) if o.contains_key("__entity") => entity_uid(j).map(Val::Entity),
        _ => None,
    }
}

fn operand(j: &Json) -> Option<Operand> {
    let (k, v) = single(j)?;
    match k {
        "Value" => literal(v).map(Operand::Lit),
        "Var" => var(v).map(|x| Operand::Path(x, Vec::new())),
        "." => {
            let left = operand(v.get("left")?)?;
            let attr = v.get("attr")?.as_str()?.to_string();
            match left {
                Operand::Path(x, mut p) => {
                    p.push(attr);
                    Some(Operand::Path(x, p))
                }
                _ => None,
            }
        }
        "Set" => {
            let items = v.as_array()?;
            let vals: Option<Vec<Val>> = items
                .iter()
                .map(|i| match single(i) {
                    Some(("Value", lit)) => literal(lit),
                    _ => None,
                })
                .collect();
            vals.map(Operand::LitSet)
        }
        _ => None,
    }
}

fn var(v: &Json) -> Option<Var> {
    Some(match v.as_str()? {
        "principal" => Var::Principal,
        "action" => Var::Action,
        "resource" => Var::Resource,
        "context" => Var::Context,
        _ => return None,
    })
}

fn single(j: &Json) -> Option<(&str, &Json)> {
    let o = j.as_object()?;
    if o.len() != 1 {
        return None;
    }
    o.iter().next().map(|(k, v)| (k.as_str(), v))
}

fn binary(v: &Json) -> Option<(Operand, Operand)> {
    Some((operand(v.get("left")?)?, operand(v.get("right")?)?))
}

pub(crate) fn cond(j: &Json) -> Cond {
    let Some((k, v)) = single(j) else {
        return Cond::Opaque;
    };
    let bin = |f: fn(Operand, Operand) -> Cond| binary(v).map(|(a, b)| f(a, b));
    let out = match k {
        "&&" => Some(Cond::And(
            Box::new(v.get("left").map(cond).unwrap_or(Cond::Opaque)),
            Box::new(v.get("right").map(cond).unwrap_or(Cond::Opaque)),
        )),
        "||" => Some(Cond::Or(
            Box::new(v.get("left").map(cond).unwrap_or(Cond::Opaque)),
            Box::new(v.get("right").map(cond).unwrap_or(Cond::Opaque)),
        )),
        "!" => Some(Cond::Not(Box::new(
            v.get("arg").map(cond).unwrap_or(Cond::Opaque),
        ))),
        "==" => bin(Cond::Eq),
        "!=" => bin(Cond::Ne),
        "<" => bin(Cond::Lt),
        "<=" => bin(Cond::Le),
        ">" => bin(|a, b| Cond::Lt(b, a)),
        ">=" => bin(|a, b| Cond::Le(b, a)),
        "contains" => bin(Cond::Contains),
        "containsAll" => bin(Cond::ContainsAll),
        "containsAny" => bin(Cond::ContainsAny),
        "isEmpty" => v.get("arg").and_then(operand).map(Cond::IsEmpty),
        "has" => {
            let left = v.get("left").and_then(operand);
            let attr = v.get("attr").and_then(Json::as_str);
            match (left, attr) {
                (Some(l), Some(a)) => Some(Cond::Has(l, a.to_string())),
                _ => None,
            }
        }
        "Value" | "Var" | "." => operand(j).map(Cond::Truth),
        _ => None,
    };
    out.unwrap_or(Cond::Opaque)
}
