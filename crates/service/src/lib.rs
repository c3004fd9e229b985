//! The node service layer: one API used by the command line and by the HTTP server.
//!
//! Every operation checks the caller's role (default deny), writes its audit entry before it returns
//! success, and fails when the audit write fails (T/CI 857-2024 7.2.6; DMS 7.2.3.4; GB/T 39725-2020
//! Appendix F). Personal data is only ever plaintext in memory: content is encrypted at rest with a
//! per-object data key wrapped by the node master key (T/CI 857-2024 6.3; DMS 4.3.1).
#![deny(missing_docs)]

pub mod access;
pub mod access_requests;
pub mod account_admin;
pub mod accounts;
pub mod anomaly;
pub mod audit_query;
pub mod backup;
pub mod config;
pub mod consent;
pub mod csvio;
pub mod datasets;
pub mod destruction;
pub mod dual_control;
pub mod error;
pub mod grading;
pub mod identity;
pub mod keys;
pub mod node;
pub mod patients;
pub mod reidentification;
pub mod row_filter;
pub mod sandbox;
pub mod self_service;
pub mod transparency;
pub mod witness;
pub mod workflow;

pub use access::{Action, Caller};
pub use config::{ConfigOverrides, NodeConfig};
pub use error::ServiceError;
pub use node::{InitOptions, InitOutcome, Node};

/// Re-exports the domain crates the callers need, so the binary and the server depend on one crate.
pub mod reexports {
    pub use medspace_audit as audit;
    pub use medspace_classify as classify;
    pub use medspace_columnar as columnar;
    pub use medspace_core as core;
    pub use medspace_crypto as crypto;
    pub use medspace_deid as deid;
    pub use medspace_gen as gen;
    pub use medspace_sandbox as sandbox;
    pub use medspace_store as store;
}
