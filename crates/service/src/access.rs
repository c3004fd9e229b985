//! Role checks: default deny, least privilege, separation of duties.
//!
//! GB/T 39725-2020 §11.6.2.2 and Appendix F (identity and permission rows); T/CI 857-2024 6.4
//! (least privilege); DMS 4.3.2. The table below is the whole policy of this release: an action not
//! listed for a role is denied. The system administrator manages accounts but reads no data; the
//! auditor reads the audit log and changes nothing.

use medspace_core::{AuditContext, AuditEvent, Outcome, Role, User};

/// An authenticated account making a call.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The account.
    pub user: User,
    /// SHA-256 of the session token (empty for in-process system calls).
    pub token_hash: String,
    /// Network address the request came from (`None` for in-process and command-line calls).
    pub address: Option<std::net::IpAddr>,
    /// The role needs a second factor and none is enrolled yet: only enrolment (and the password
    /// change) is allowed (GB/T 39725-2020 Appendix F, two factors for administrators).
    pub must_enrol_second_factor: bool,
}

impl Caller {
    /// Account id.
    pub fn id(&self) -> &str {
        &self.user.id
    }
    /// Account role.
    pub fn role(&self) -> Role {
        self.user.role
    }

    /// An audit event by this caller, carrying its role and network address (T/CI 857-2024
    /// 7.2.6: who did it, from where).
    pub fn event(
        &self,
        action: impl Into<String>,
        target: impl Into<String>,
        outcome: Outcome,
    ) -> AuditEvent {
        AuditEvent::new(self.id(), action, target, outcome).with_context(AuditContext {
            role: Some(self.role().as_str().to_string()),
            address: self.address.map(|a| a.to_string()),
            ..AuditContext::default()
        })
    }
}

/// Everything a caller can ask the node to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create accounts, list accounts.
    ManageAccounts,
    /// Ingest a dataset.
    IngestDataset,
    /// Produce a de-identified dataset.
    Deidentify,
    /// See the whole catalog including raw datasets and their classification.
    ViewFullCatalog,
    /// See de-identified (published) catalog entries.
    ViewPublishedCatalog,
    /// File a data-use application.
    Apply,
    /// Decide applications.
    DecideApplication,
    /// See all applications (reviewers, auditors).
    ViewAllApplications,
    /// Run sandbox queries.
    Query,
    /// Request an export of a result.
    RequestExport,
    /// Decide export requests.
    DecideExport,
    /// Read the audit log.
    ReadAudit,
    /// Destroy a dataset (crypto-shredding, GB/T 39725-2020 §11.4.2.6).
    DestroyDataset,
    /// Approve the destruction of a dataset before the security officer carries it out
    /// (T/CI 857-2024 6.4.3: bulk modification through an internal approval).
    ApproveDestruction,
    /// See master-key versions and their use (no key material).
    ViewKeyStatus,
    /// Unlock a locked account, reset a second factor (security administrator).
    UnlockAccount,
    /// Create and revoke API tokens, map client certificates, set account validity.
    ManageCredentials,
    /// Edit and confirm a dataset's grading (GB/T 39725-2020 §6; T/CI 857-2024 6.2).
    GradeDataset,
    /// Approve or reject a confirmed grading (GB/T 39725-2020 §9.2 a) 8)).
    DecideGrading,
    /// Read patient records; what may be seen is decided by the access policies
    /// (GB/T 39725-2020 §11.1, Table 7).
    ReadPatientRecords,
    /// Register patient records (a hospital system or the security officer).
    RegisterPatientRecords,
    /// Record, list and revoke consents (GB/T 39725-2020 §7).
    ManageConsents,
    /// Add and remove access policies (T/CI 857-2024 7.2.4 b)).
    ManageAccessPolicies,
    /// List the access policies in force.
    ViewAccessPolicies,
    /// Read and set the attributes the access policies read (department, title, groups …).
    ManageUserAttributes,
    /// Review (close) abnormal-access alerts (GB/T 39725-2020 §11.1.2.5).
    ReviewAlerts,
    /// See abnormal-access alerts (security officers, auditors).
    ViewAlerts,
    /// See every over-scope access request, not only one's own (approvers, auditors).
    ViewAllAccessRequests,
    /// Ask for access beyond the normal scope (T/CI 857-2024 6.4.2).
    RequestAccess,
    /// Approve or reject such a request (one of two distinct approvers, DMS 4.3.2).
    DecideAccessRequest,
    /// A patient's own records, disclosure history and requests (GB/T 39725-2020 §7, §11.2).
    SelfService,
    /// Create patient accounts, link guardians, work the correction/restriction queue.
    ManagePatientAccounts,
    /// Ask to resolve a pseudonym through the patient code index, and resolve it once approved
    /// (GB/T 39725-2020 §10.2 h)).
    RequestReidentification,
    /// Approve or reject a re-identification request (the second person).
    DecideReidentification,
    /// List re-identification requests.
    ViewReidentifications,
}

impl Action {
    /// Stable name for audit entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ManageAccounts => "manage_accounts",
            Action::IngestDataset => "ingest_dataset",
            Action::Deidentify => "deidentify",
            Action::ViewFullCatalog => "view_full_catalog",
            Action::ViewPublishedCatalog => "view_published_catalog",
            Action::Apply => "apply",
            Action::DecideApplication => "decide_application",
            Action::ViewAllApplications => "view_all_applications",
            Action::Query => "query",
            Action::RequestExport => "request_export",
            Action::DecideExport => "decide_export",
            Action::ReadAudit => "read_audit",
            Action::DestroyDataset => "destroy_dataset",
            Action::ApproveDestruction => "approve_destruction",
            Action::ViewKeyStatus => "view_key_status",
            Action::UnlockAccount => "unlock_account",
            Action::ManageCredentials => "manage_credentials",
            Action::GradeDataset => "grade_dataset",
            Action::DecideGrading => "decide_grading",
            Action::ReadPatientRecords => "read_patient_records",
            Action::RegisterPatientRecords => "register_patient_records",
            Action::ManageConsents => "manage_consents",
            Action::ManageAccessPolicies => "manage_access_policies",
            Action::ViewAccessPolicies => "view_access_policies",
            Action::ManageUserAttributes => "manage_user_attributes",
            Action::ReviewAlerts => "review_alerts",
            Action::ViewAlerts => "view_alerts",
            Action::ViewAllAccessRequests => "view_all_access_requests",
            Action::RequestAccess => "request_access",
            Action::DecideAccessRequest => "decide_access_request",
            Action::SelfService => "self_service",
            Action::ManagePatientAccounts => "manage_patient_accounts",
            Action::RequestReidentification => "request_reidentification",
            Action::DecideReidentification => "decide_reidentification",
            Action::ViewReidentifications => "view_reidentifications",
        }
    }
}

/// Whether `role` may perform `action`. Anything not listed is denied.
pub fn permits(role: Role, action: Action) -> bool {
    use Action::*;
    use Role::*;
    matches!(
        (role, action),
        (Administrator, ManageAccounts)
            | (Administrator, ManageCredentials)
            | (SecurityOfficer, UnlockAccount)
            | (SecurityOfficer, IngestDataset)
            | (SecurityOfficer, Deidentify)
            | (SecurityOfficer, ViewFullCatalog)
            | (SecurityOfficer, ViewPublishedCatalog)
            | (SecurityOfficer, ViewAllApplications)
            | (SecurityOfficer, DestroyDataset)
            | (SecurityOfficer, ViewKeyStatus)
            | (SecurityOfficer, GradeDataset)
            | (CommitteeMember, DecideGrading)
            | (Auditor, ViewKeyStatus)
            | (CommitteeMember, ViewFullCatalog)
            | (CommitteeMember, ViewPublishedCatalog)
            | (CommitteeMember, DecideApplication)
            | (CommitteeMember, ViewAllApplications)
            | (CommitteeMember, DecideExport)
            | (CommitteeMember, ApproveDestruction)
            | (DataUser, ViewPublishedCatalog)
            | (DataUser, Apply)
            | (DataUser, Query)
            | (DataUser, RequestExport)
            | (Auditor, ReadAudit)
            | (Auditor, ViewFullCatalog)
            | (Auditor, ViewPublishedCatalog)
            | (Auditor, ViewAllApplications)
            | (Auditor, ViewAccessPolicies)
            | (SecurityOfficer, ViewAccessPolicies)
            | (SecurityOfficer, ManageAccessPolicies)
            | (SecurityOfficer, ManageUserAttributes)
            | (SecurityOfficer, RegisterPatientRecords)
            | (SecurityOfficer, ManageConsents)
            | (SecurityOfficer, ReviewAlerts)
            | (SecurityOfficer, ViewAlerts)
            | (Auditor, ViewAlerts)
            | (SecurityOfficer, ViewAllAccessRequests)
            | (CommitteeMember, ViewAllAccessRequests)
            | (Auditor, ViewAllAccessRequests)
            | (SecurityOfficer, DecideAccessRequest)
            | (CommitteeMember, DecideAccessRequest)
            | (Clinician, RequestAccess)
            | (Patient, SelfService)
            | (SecurityOfficer, ManagePatientAccounts)
            | (Clinician, ReadPatientRecords)
            | (DataUser, ReadPatientRecords)
            | (ReidentificationOfficer, RequestReidentification)
            | (ReidentificationOfficer, ViewReidentifications)
            | (CommitteeMember, DecideReidentification)
            | (CommitteeMember, ViewReidentifications)
            | (Auditor, ViewReidentifications)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn administrator_reads_no_data_and_auditor_changes_nothing() {
        for a in [
            Action::Query,
            Action::ViewFullCatalog,
            Action::IngestDataset,
            Action::Deidentify,
        ] {
            assert!(!permits(Role::Administrator, a), "{a:?}");
        }
        for a in [
            Action::ManageAccounts,
            Action::IngestDataset,
            Action::Deidentify,
            Action::Apply,
            Action::DecideApplication,
            Action::DecideExport,
            Action::Query,
            Action::DestroyDataset,
        ] {
            assert!(!permits(Role::Auditor, a), "{a:?}");
        }
        assert!(permits(Role::Auditor, Action::ReadAudit));
    }

    #[test]
    fn only_data_users_query_and_only_committee_decides() {
        for r in Role::ALL {
            assert_eq!(permits(r, Action::Query), r == Role::DataUser);
            assert_eq!(
                permits(r, Action::DecideApplication),
                r == Role::CommitteeMember
            );
            assert_eq!(permits(r, Action::DecideExport), r == Role::CommitteeMember);
            assert_eq!(
                permits(r, Action::ApproveDestruction),
                r == Role::CommitteeMember
            );
            assert_eq!(
                permits(r, Action::DecideGrading),
                r == Role::CommitteeMember
            );
            assert_eq!(permits(r, Action::GradeDataset), r == Role::SecurityOfficer);
            // §10.2 i) / DMS 5.2.1: de-identification is the security officer's work; data users
            // (the requesting side) never run or configure it.
            assert_eq!(permits(r, Action::Deidentify), r == Role::SecurityOfficer);
            // §10.2 h) and i): only the designated officer re-identifies, only with a second
            // person (a committee member), and the designated officer does nothing else.
            assert_eq!(
                permits(r, Action::RequestReidentification),
                r == Role::ReidentificationOfficer
            );
            assert_eq!(
                permits(r, Action::DecideReidentification),
                r == Role::CommitteeMember
            );
        }
        let officer_may: Vec<Action> = [
            Action::Query,
            Action::Deidentify,
            Action::ViewFullCatalog,
            Action::ReadAudit,
            Action::ReadPatientRecords,
            Action::ManageAccounts,
            Action::RequestReidentification,
            Action::ViewReidentifications,
        ]
        .into_iter()
        .filter(|a| permits(Role::ReidentificationOfficer, *a))
        .collect();
        assert_eq!(
            officer_may,
            [
                Action::RequestReidentification,
                Action::ViewReidentifications
            ]
        );
    }
}
