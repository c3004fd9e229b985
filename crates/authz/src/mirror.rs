//! A read-only mirror of entity and context attribute values, used by the slicer to refute
//! policies before Cedar evaluates the rest (GB/T 39725-2020 §11.1.2.3 c): matching a doctor's
//! department, title and treatment group against record labels, done fast).
//!
//! The mirror holds exactly the values Cedar holds (it is built from `Entity::attrs` and
//! `Context::get`), so an attribute comparison computed here has the value Cedar would compute.
//! Anything the mirror cannot represent (extension values) is [`Val::Opaque`] and never used to
//! refute a policy.

use cedar_policy::{Context, Entities, EntityUid, EvalResult};

/// A Cedar value as far as the slicer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    Bool(bool),
    Long(i64),
    Str(String),
    Entity(EntityUid),
    Set(Vec<Val>),
    Record(Attrs),
    /// An extension value (decimal, ipaddr, datetime): never compared here.
    Opaque,
}

impl Val {
    pub(crate) fn from_eval(v: &EvalResult) -> Val {
        match v {
            EvalResult::Bool(b) => Val::Bool(*b),
            EvalResult::Long(l) => Val::Long(*l),
            EvalResult::String(s) => Val::Str(s.clone()),
            EvalResult::EntityUid(u) => Val::Entity(u.clone()),
            EvalResult::Set(s) => Val::Set(s.iter().map(Val::from_eval).collect()),
            EvalResult::Record(r) => Val::Record(Attrs::new(
                r.iter()
                    .map(|(k, v)| (k.clone(), Val::from_eval(v)))
                    .collect(),
            )),
            EvalResult::ExtensionValue(_) => Val::Opaque,
        }
    }

    /// A primitive value, for which Cedar's `==` is plain equality.
    pub(crate) fn is_scalar(&self) -> bool {
        matches!(
            self,
            Val::Bool(_) | Val::Long(_) | Val::Str(_) | Val::Entity(_)
        )
    }

    /// The hash key of a scalar.
    pub(crate) fn key(&self) -> Option<Key> {
        Some(match self {
            Val::Bool(b) => Key::Bool(*b),
            Val::Long(l) => Key::Long(*l),
            Val::Str(s) => Key::Str(s.clone()),
            Val::Entity(u) => Key::Entity(u.clone()),
            _ => return None,
        })
    }
}

/// A hashable scalar.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Bool(bool),
    Long(i64),
    Str(String),
    Entity(EntityUid),
}

/// The attributes of one entity or record: few, so a sorted vector scanned linearly is faster
/// than hashing the name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Attrs(Vec<(String, Val)>);

impl Attrs {
    pub(crate) fn new(mut v: Vec<(String, Val)>) -> Self {
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Self(v)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Val> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub(crate) fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Attribute values of every entity, keyed by uid.
#[derive(Debug, Default)]
pub(crate) struct EntityMirror {
    attrs: foldhash::HashMap<EntityUid, Attrs>,
}

impl EntityMirror {
    pub(crate) fn build(entities: &Entities) -> Self {
        let attrs = entities
            .iter()
            .map(|e| {
                let map = e
                    .attrs()
                    .map(|(k, v)| {
                        let val = match v {
                            Ok(v) => Val::from_eval(&v),
                            Err(_) => Val::Opaque,
                        };
                        (k.to_string(), val)
                    })
                    .collect();
                (e.uid(), Attrs::new(map))
            })
            .collect();
        Self { attrs }
    }

    /// The attributes of an entity; `None` if the entity is not known.
    pub(crate) fn get(&self, uid: &EntityUid) -> Option<&Attrs> {
        self.attrs.get(uid)
    }
}

/// Mirrors the named context attributes (those the schema declares).
pub(crate) fn mirror_context(ctx: &Context, keys: &[String]) -> Attrs {
    Attrs::new(
        keys.iter()
            .filter_map(|k| ctx.get(k).map(|v| (k.clone(), Val::from_eval(&v))))
            .collect(),
    )
}
