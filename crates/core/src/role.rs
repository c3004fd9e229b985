//! Roles of GB/T 39725-2020 §6.3 and DMS 4.3.2 as used by the node's default-deny checks.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A role held by an account. Access is granted per role; anything not granted is denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// System administrator: installs and runs the node, manages accounts; never reads personal data.
    Administrator,
    /// Data security officer: registers datasets, confirms classification, writes de-identification policies.
    SecurityOfficer,
    /// Member of the data security committee: approves applications and exports.
    CommitteeMember,
    /// Researcher, insurer or other institution analysing approved data in the sandbox.
    DataUser,
    /// Auditor or regulator: reads and verifies the audit log, changes nothing.
    Auditor,
    /// Doctor or nurse (GB/T 39725-2020 §11.1): reads patient records only as the access policies
    /// allow for their department, title and treatment groups.
    Clinician,
    /// A patient (or guardian) using self-service: own records, disclosure history, requests
    /// (GB/T 39725-2020 §7 d)–h), §11.2). Logs in with a one-time SMS code only.
    Patient,
    /// The designated person who may turn a pseudonym of a de-identified dataset back into the
    /// identity behind it, each time with a second person's approval (GB/T 39725-2020 §10.2 g),
    /// h): re-identification only by designated controller staff).
    ReidentificationOfficer,
}

impl Role {
    /// All roles, in a stable order.
    pub const ALL: [Role; 8] = [
        Role::Administrator,
        Role::SecurityOfficer,
        Role::CommitteeMember,
        Role::DataUser,
        Role::Auditor,
        Role::Clinician,
        Role::Patient,
        Role::ReidentificationOfficer,
    ];

    /// The role's stable name, as stored and as used on the command line and API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::SecurityOfficer => "security_officer",
            Role::CommitteeMember => "committee_member",
            Role::DataUser => "data_user",
            Role::Auditor => "auditor",
            Role::Clinician => "clinician",
            Role::Patient => "patient",
            Role::ReidentificationOfficer => "reidentification_officer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text named no known role.
#[derive(Debug, thiserror::Error)]
#[error("unknown role `{0}`; expected one of administrator, security_officer, committee_member, data_user, auditor, clinician, patient, reidentification_officer")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
