//! The attribute vocabularies of the schema (`schema/medspace.cedarschema`) that Cedar cannot
//! express as enums over strings: GB/T 39725-2020 §11.1.2.2 (titles), §11.1.2.3 a) 2) (the eight
//! special-disease categories) and b) (granularity). Whoever builds entities checks values
//! against these lists; the synthetic benchmark data draws from them.

/// `User.title`.
pub const TITLES: [&str; 5] = ["resident", "attending", "associate_chief", "chief", "none"];
/// `User.roles`: clinical and organisational roles a policy can test.
pub const ROLES: [&str; 9] = [
    "doctor",
    "nurse",
    "researcher",
    "insurer",
    "officer",
    "committee",
    "auditor",
    "sysadmin",
    "patient",
];
/// `User.employment_status`.
pub const EMPLOYMENT: [&str; 3] = ["active", "suspended", "left"];
/// `PatientRecord.special_diseases`: the eight categories of §11.1.2.3 a) 2).
pub const SPECIAL_DISEASES: [&str; 8] = [
    "sexual_reproductive",
    "infectious",
    "mental",
    "malignant_tumour",
    "hereditary",
    "anal",
    "rare",
    "incurable",
];
/// `PatientRecord.granularity` (§11.1.2.3 b)).
pub const GRANULARITIES: [&str; 3] = ["summary", "abstract", "detail"];
