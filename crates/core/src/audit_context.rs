//! Who, what, which entities and why of an audit entry — T/CI 857-2024 7.2.6 a)–c) (audit records
//! of access and use inside the data space), GB/T 39725-2020 §7 g) (an account of each use or
//! disclosure of a subject's data), DMS 7.2.3.4 (logs record user, time, object and result).
//!
//! The shape follows FHIR R4 `AuditEvent` so the log can be exported as such: an action kind from
//! the FHIR `audit-event-action` code system (C/R/U/D/E), the agent (role, department,
//! organisation, network address), the entities (dataset, columns, application, data subject by
//! keyed pseudonym, with security labels) and the purpose and approval. Nothing here is personal
//! data: accounts are ids, data subjects are keyed pseudonyms.

use serde::{Deserialize, Serialize};

/// FHIR R4 `AuditEventAction`: what kind of operation the entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ActionKind {
    /// Create.
    C,
    /// Read, view, print, download.
    R,
    /// Update.
    U,
    /// Delete.
    D,
    /// Execute: a query, a transformation, a log-in.
    E,
}

impl ActionKind {
    /// The kind of a dotted action name, by its last segment.
    pub fn of_action(action: &str) -> ActionKind {
        let verb = action.rsplit('.').next().unwrap_or(action);
        match verb {
            "create" | "ingest" | "request" | "register" | "issue" | "add" | "propose"
            | "enrol" => ActionKind::C,
            "read" | "get" | "list" | "download" | "view" | "history" | "export" => ActionKind::R,
            "destroy" | "delete" | "revoke" | "logout" => ActionKind::D,
            "query" | "deidentify" | "login" | "verify" | "execute" | "run" | "cosign"
            | "refuse" => ActionKind::E,
            _ => ActionKind::U,
        }
    }

    /// The FHIR display name.
    pub fn display(self) -> &'static str {
        match self {
            ActionKind::C => "Create",
            ActionKind::R => "Read/View/Print",
            ActionKind::U => "Update",
            ActionKind::D => "Delete",
            ActionKind::E => "Execute",
        }
    }
}

/// What an entity reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// A catalogued dataset (`ds-…`).
    Dataset,
    /// A data-use application (`app-…`), also the approval of sandbox work.
    Application,
    /// An export request (`exp-…`).
    Export,
    /// A sandbox query (`q-…`).
    Query,
    /// An account (`u-…`).
    Account,
    /// A data subject, by keyed pseudonym (never the identifier itself).
    Subject,
    /// A record of a subject (by pseudonymous reference).
    Record,
    /// Anything else the node manages (keys, checkpoints, certificates, the node).
    Object,
}

impl EntityKind {
    /// The kind an id names, by its prefix.
    pub fn of_id(id: &str) -> EntityKind {
        match id.split_once('-').map(|(p, _)| p) {
            Some("ds") => EntityKind::Dataset,
            Some("app") => EntityKind::Application,
            Some("exp") => EntityKind::Export,
            Some("q") => EntityKind::Query,
            Some("u") => EntityKind::Account,
            _ => EntityKind::Object,
        }
    }

    /// Stable name, as used in index keys and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Dataset => "dataset",
            EntityKind::Application => "application",
            EntityKind::Export => "export",
            EntityKind::Query => "query",
            EntityKind::Account => "account",
            EntityKind::Subject => "subject",
            EntityKind::Record => "record",
            EntityKind::Object => "object",
        }
    }
}

/// One entity an entry is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityRef {
    /// What the id names.
    pub kind: EntityKind,
    /// The id (a pseudonym for subjects and records).
    pub id: String,
    /// Columns touched, for datasets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// Security labels: `level:N`, `category:…`, `dms:C2` …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
}

impl EntityRef {
    /// A reference with neither columns nor labels.
    pub fn new(kind: EntityKind, id: impl Into<String>) -> Self {
        EntityRef {
            kind,
            id: id.into(),
            columns: Vec::new(),
            labels: Vec::new(),
        }
    }
}

/// The context of an audit entry beyond actor, action, target and outcome.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuditContext {
    /// The actor's role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The actor's department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// The actor's organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    /// Network address the request came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Kind of operation; derived from the action name when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ActionKind>,
    /// Entities acted on; the target is always among them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<EntityRef>,
    /// Why: the stated purpose of use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The approval (application or export id) the operation rests on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
}

impl AuditContext {
    /// Fills what can be derived from the entry itself: the action kind, and the target (and
    /// any `dataset`, `application`, `query`, `export` ids in `detail`) as entities.
    pub fn complete(&mut self, action: &str, target: &str, detail: &serde_json::Value) {
        if self.kind.is_none() {
            self.kind = Some(ActionKind::of_action(action));
        }
        let mut add = |kind: EntityKind, id: &str| {
            if !id.is_empty() && !self.entities.iter().any(|e| e.kind == kind && e.id == id) {
                self.entities.push(EntityRef::new(kind, id));
            }
        };
        if !target.is_empty() {
            add(EntityKind::of_id(target), target);
        }
        for (field, kind) in [
            ("dataset", EntityKind::Dataset),
            ("dataset_id", EntityKind::Dataset),
            ("source", EntityKind::Dataset),
            ("application", EntityKind::Application),
            ("application_id", EntityKind::Application),
            ("query_id", EntityKind::Query),
            ("export_id", EntityKind::Export),
        ] {
            if let Some(id) = detail.get(field).and_then(|v| v.as_str()) {
                if EntityKind::of_id(id) == kind {
                    add(kind, id);
                }
            }
        }
        if let Some(ids) = detail.get("datasets").and_then(|v| v.as_array()) {
            for id in ids.iter().filter_map(|v| v.as_str()) {
                add(EntityKind::Dataset, id);
            }
        }
        if self.approval.is_none() {
            self.approval = self
                .entities
                .iter()
                .find(|e| e.kind == EntityKind::Application)
                .map(|e| e.id.clone());
        }
    }

    /// Ids of the entities of one kind.
    pub fn ids(&self, kind: EntityKind) -> impl Iterator<Item = &str> {
        self.entities
            .iter()
            .filter(move |e| e.kind == kind)
            .map(|e| e.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_follow_the_last_segment_of_the_action() {
        assert_eq!(ActionKind::of_action("dataset.ingest"), ActionKind::C);
        assert_eq!(ActionKind::of_action("export.download"), ActionKind::R);
        assert_eq!(ActionKind::of_action("sandbox.query"), ActionKind::E);
        assert_eq!(ActionKind::of_action("dataset.destroy"), ActionKind::D);
        assert_eq!(ActionKind::of_action("application.decide"), ActionKind::U);
    }

    #[test]
    fn completion_adds_the_target_and_detail_ids_once_and_takes_the_application_as_approval() {
        let mut ctx = AuditContext::default();
        ctx.complete(
            "sandbox.query",
            "q-1",
            &json!({"application_id": "app-7", "datasets": ["ds-1", "ds-2", "ds-1"], "dataset": "x"}),
        );
        assert_eq!(ctx.kind, Some(ActionKind::E));
        let got: Vec<_> = ctx
            .entities
            .iter()
            .map(|e| (e.kind.as_str(), e.id.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("query", "q-1"),
                ("application", "app-7"),
                ("dataset", "ds-1"),
                ("dataset", "ds-2")
            ]
        );
        assert_eq!(ctx.approval.as_deref(), Some("app-7"));
    }

    #[test]
    fn an_empty_context_serializes_to_an_empty_object() {
        assert_eq!(
            serde_json::to_string(&AuditContext::default()).unwrap(),
            "{}"
        );
    }
}
