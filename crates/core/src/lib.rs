//! Shared model of medspace: identifiers, roles, catalog entries, column classifications,
//! applications, exports and audit events.
//!
//! Every other crate depends on this one and on nothing above it, so the types here are plain data
//! with validation at construction; behaviour lives in the domain crates.
#![deny(missing_docs)]

pub mod audit_context;
pub mod classification;
pub mod model;
pub mod role;

pub use audit_context::{ActionKind, AuditContext, EntityKind, EntityRef};
pub use classification::{Category, ColumnClassification, IdentifierKind, Level, SemanticType};
pub use model::*;
pub use role::Role;

/// Generates a new random identifier with a readable prefix (`ds-…`, `app-…`).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}
