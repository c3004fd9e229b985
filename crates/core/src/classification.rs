//! Column classification vocabulary.
//!
//! GB/T 39725-2020 §6.1 and Table 1 (six data categories), §6.2 (five levels), Appendix G
//! (direct and quasi identifiers), DMS 4.2.1 (C1/C2/C3 subject classes).

use serde::{Deserialize, Serialize};

/// What a column holds, as decided by the classifier. The names are the stable JSON values of
/// `medspace scan --format json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum SemanticType {
    PersonName,
    IdNumber,
    Passport,
    TravelPermit,
    MobilePhone,
    LandlinePhone,
    Email,
    Address,
    PostalCode,
    IpAddress,
    LicensePlate,
    BankCard,
    SocialSecurityCard,
    Uscc,
    BirthDate,
    Date,
    Datetime,
    Age,
    Sex,
    Ethnicity,
    MaritalStatus,
    Occupation,
    Employer,
    Department,
    InstitutionCode,
    InstitutionName,
    PatientId,
    RecordId,
    DiagnosisCode,
    DiagnosisName,
    OperationCode,
    DrugCode,
    ConsumableCode,
    ServiceItemCode,
    LabResult,
    Amount,
    FreeText,
    /// Biometric data (fingerprint, iris, face, voiceprint, palm or vein templates): GB/T 39725-2020
    /// Table 1 个人生物识别数据; only a keyed digest is ever stored (§10.1 h).
    Biometric,
    Other,
}

impl SemanticType {
    /// Every semantic type, in declaration order.
    pub const ALL: [SemanticType; 39] = [
        SemanticType::PersonName,
        SemanticType::IdNumber,
        SemanticType::Passport,
        SemanticType::TravelPermit,
        SemanticType::MobilePhone,
        SemanticType::LandlinePhone,
        SemanticType::Email,
        SemanticType::Address,
        SemanticType::PostalCode,
        SemanticType::IpAddress,
        SemanticType::LicensePlate,
        SemanticType::BankCard,
        SemanticType::SocialSecurityCard,
        SemanticType::Uscc,
        SemanticType::BirthDate,
        SemanticType::Date,
        SemanticType::Datetime,
        SemanticType::Age,
        SemanticType::Sex,
        SemanticType::Ethnicity,
        SemanticType::MaritalStatus,
        SemanticType::Occupation,
        SemanticType::Employer,
        SemanticType::Department,
        SemanticType::InstitutionCode,
        SemanticType::InstitutionName,
        SemanticType::PatientId,
        SemanticType::RecordId,
        SemanticType::DiagnosisCode,
        SemanticType::DiagnosisName,
        SemanticType::OperationCode,
        SemanticType::DrugCode,
        SemanticType::ConsumableCode,
        SemanticType::ServiceItemCode,
        SemanticType::LabResult,
        SemanticType::Amount,
        SemanticType::FreeText,
        SemanticType::Biometric,
        SemanticType::Other,
    ];
}

impl SemanticType {
    /// The stable snake_case name used in JSON output.
    pub fn name(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(s)) => s,
            _ => "other".to_string(),
        }
    }
}

/// GB/T 39725-2020 Table 1: the six categories of health and medical data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// 个人属性数据: identifies or, combined, can identify a natural person.
    PersonalAttributes,
    /// 健康状况数据: reflects a person's health.
    HealthStatus,
    /// 医疗应用数据: outpatient, inpatient and other medical service records.
    MedicalApplication,
    /// 医疗支付数据: fees, insurance settlement.
    MedicalPayment,
    /// 卫生资源数据: staff, institutions, capacity.
    HealthResources,
    /// 公共卫生数据: epidemics, surveillance, births and deaths.
    PublicHealth,
}

impl Category {
    /// Chinese name as printed in Table 1.
    pub fn name_zh(self) -> &'static str {
        match self {
            Category::PersonalAttributes => "个人属性数据",
            Category::HealthStatus => "健康状况数据",
            Category::MedicalApplication => "医疗应用数据",
            Category::MedicalPayment => "医疗支付数据",
            Category::HealthResources => "卫生资源数据",
            Category::PublicHealth => "公共卫生数据",
        }
    }
}

/// GB/T 39725-2020 §6.2: data level 1 (public) to 5 (special diseases, strictest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Level(u8);

impl Level {
    /// Level 1: may be fully public.
    pub const L1: Level = Level(1);
    /// Level 2: not identifying; wide internal use.
    pub const L2: Level = Level(2);
    /// Level 3: partly de-identified, re-identifiable.
    pub const L3: Level = Level(3);
    /// Level 4: directly identifying.
    pub const L4: Level = Level(4);
    /// Level 5: special diseases and other data under strict limits.
    pub const L5: Level = Level(5);

    /// Builds a level from 1..=5.
    pub fn new(n: u8) -> Result<Self, InvalidLevel> {
        if (1..=5).contains(&n) {
            Ok(Level(n))
        } else {
            Err(InvalidLevel(n))
        }
    }

    /// The number 1..=5.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl From<Level> for u8 {
    fn from(l: Level) -> u8 {
        l.0
    }
}

impl TryFrom<u8> for Level {
    type Error = InvalidLevel;
    fn try_from(n: u8) -> Result<Self, InvalidLevel> {
        Level::new(n)
    }
}

/// A level outside 1..=5.
#[derive(Debug, thiserror::Error)]
#[error("level {0} is out of range; GB/T 39725 §6.2 defines levels 1 to 5")]
pub struct InvalidLevel(pub u8);

/// GB/T 39725-2020 Appendix G: how a column identifies a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierKind {
    /// 直接标识符: identifies a person on its own (name, citizen ID, mobile …).
    Direct,
    /// 准标识符: identifies in combination (birth date, sex, county, dates …).
    Quasi,
    /// Health content that must be protected but does not identify (diagnosis, results).
    Sensitive,
    /// Neither identifying nor sensitive.
    Other,
}

/// DMS 4.2.1 subject classes (主体类别), with the measures of DMS 4.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DmsClass {
    /// 个人健康数据 (personal health data): anonymised before it is shared across institutions,
    /// AES-256 (or SM4) at rest (4.3.1).
    C1,
    /// 重要医疗数据 (important medical data): two-person access control; cross-border transfer
    /// only after a provincial security assessment (4.3.2).
    C2,
    /// 公共健康数据 (public health data): authorised bodies such as the CDC only; never leaves
    /// the country (4.3.3).
    C3,
}

/// One column's classification, as produced by the scanner and stored with the dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnClassification {
    /// Column name as in the header.
    pub name: String,
    /// What the column holds.
    pub semantic_type: SemanticType,
    /// GB/T 39725 Table 1 category.
    pub category: Category,
    /// GB/T 39725 §6.2 level.
    pub level: Level,
    /// Appendix G identifier kind.
    pub identifier_kind: IdentifierKind,
    /// DMS class.
    pub dms_class: DmsClass,
    /// Confidence 0.0–1.0 of the semantic type.
    pub confidence: f64,
    /// Special-disease categories of GB/T 39725 §11.1.2.3 found in the column's values, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub special_diseases: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_rejects_out_of_range() {
        assert!(Level::new(0).is_err());
        assert!(Level::new(6).is_err());
        assert_eq!(Level::new(3).unwrap(), Level::L3);
        assert!(serde_json::from_str::<Level>("9").is_err());
    }

    #[test]
    fn semantic_type_names_are_snake_case() {
        assert_eq!(SemanticType::IdNumber.name(), "id_number");
        assert_eq!(SemanticType::Uscc.name(), "uscc");
    }
}
