//! From what a column holds to how it is governed: GB/T 39725-2020 §6.1 Table 1 (category),
//! §6.2 (level), Appendix G Table G.1 (direct / quasi identifier) and DMS 4.2 (C1/C2/C3 class).
//!
//! One row per semantic type; this table is the single place to change a grading.
//!
//! | semantic type | category (Table 1) | level (§6.2) | identifier (App. G) | DMS |
//! |---|---|---|---|---|
//! | `id_number`, `passport`, `travel_permit`, `social_security_card`, `bank_card` | 个人属性 | 4 | direct | C1 |
//! | `person_name`, `mobile_phone`, `landline_phone`, `email`, `address`, `ip_address`, `license_plate`, `patient_id` | 个人属性 | 4 | direct | C1 |
//! | biometric templates (reported as `other`) | 个人属性 | 4 | direct | C1 |
//! | `address` holding county codes (GB/T 2260) | 个人属性 | 3 | quasi | C1 |
//! | a direct identifier with partly masked values (`139****5678`, `张*`) | 个人属性 | 3 | quasi | C1 |
//! | `birth_date`, `age`, `sex`, `ethnicity`, `marital_status`, `occupation`, `employer`, `postal_code` | 个人属性 | 3 | quasi | C1 |
//! | `date`, `datetime`, `record_id` | 医疗应用 | 3 | quasi | C1 |
//! | `diagnosis_code`, `diagnosis_name`, `lab_result`, `free_text` | 健康状况 | 3 (5 with special diseases) | sensitive | C1 |
//! | `operation_code`, `drug_code` | 医疗应用 | 3 | sensitive | C1 |
//! | `service_item_code`, `consumable_code`, `department` | 医疗应用 | 2 | other | C1 |
//! | `amount` | 医疗支付 | 2 | other | C1 |
//! | `institution_code`, `institution_name`, `uscc` | 卫生资源 | 2 | other | C2 |
//! | `other` | by header hint, default 医疗应用 | 2 | other | by category |
//!
//! **DMS classes.** DMS 4.2.1 classes data by its subject (主体类别): C1 个人健康数据 (personal
//! health data), C2 重要医疗数据 (important medical data), C3 公共健康数据 (public health data);
//! 4.3 attaches the measures (C1: anonymised before it is shared across institutions, AES-256 at
//! rest; C2: two-person access, provincial assessment before it crosses the border; C3: only
//! authorised bodies such as the CDC, never leaves the country). The class follows from the
//! Table 1 category ([`dms_class`]): a column of a record about a person — personal attributes,
//! health status, medical application, medical payment — is personal health data (C1), whether
//! or not it identifies anyone by itself (a fee in a settlement record is still that person's);
//! health-resource data (institutions, their codes and credit codes) is the institution's
//! important medical data (C2); public-health data (surveillance, epidemics) is C3. The
//! sensitivity of a column within a class is its §6.2 level.
//!
//! Choices made where the standards leave room:
//!
//! - **Direct identifiers** are level 4 (§6.2 d: "可以直接标识个人身份的数据").
//!   `patient_id` covers 住院号, 健康档案编号 and 居民健康卡号, which Table G.1 lists as direct.
//! - **Masked identifiers**: a partly masked mobile number or name is "经过部分去标识化处理，但仍
//!   可能重标识的数据" (§6.2 c), level 3, and what is left of it (prefix, last digits,
//!   surname) is quasi-identifying.
//! - **Record ids** (settlement, visit, 门诊号, 病案号) are level 3 quasi identifiers: Table G.1
//!   lists 门诊号, 病案号 and 记录表单编号 as quasi, and they link a person's records.
//! - **County codes**: there is no county semantic type in `medspace-core`; a GB/T 2260 county
//!   code is reported as `address` but graded as the quasi identifier Table G.1 makes of
//!   "地址-县（区）" (level 3), not as a full address (level 4).
//! - **Health content** (diagnoses, results, free clinical text) identifies nobody by itself
//!   but is sensitive personal information (PIPL art. 28): level 3, `sensitive`. Special
//!   diseases of §11.1.2.3 a) 2) raise the column to level 5 (§6.2 e).
//! - **Amounts** are graded level 2, `other`: fees do not identify a person nor name a
//!   condition (§6.2 b: "不能标识个人身份的数据"), and the level of a settlement dataset is set by
//!   its identifying columns anyway (the dataset level is the maximum over its columns).
//! - **Institutions and departments** are level 2 rather than 1: a hospital's name is public
//!   (§6.2 a), but in a patient-level table it is where that patient was treated.

use medspace_core::classification::DmsClass;
use medspace_core::{Category, IdentifierKind, Level, SemanticType};

/// What the classifier decided a column holds. Richer than [`SemanticType`] where the grading
/// differs for one semantic type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A semantic type of `medspace-core`.
    Sem(SemanticType),
    /// GB/T 2260 county-level division code (reported as `address`, graded quasi).
    CountyCode,
    /// A direct identifier whose values are partly masked (`139****5678`): reported as its
    /// semantic type, graded quasi.
    Masked(SemanticType),
}

impl Kind {
    /// The semantic type reported for this kind.
    pub(crate) fn semantic_type(self) -> SemanticType {
        match self {
            Kind::Sem(s) => s,
            Kind::CountyCode => SemanticType::Address,
            Kind::Masked(s) => s,
        }
    }
}

/// Governance attributes of one kind of column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grading {
    pub(crate) category: Category,
    pub(crate) level: Level,
    pub(crate) identifier_kind: IdentifierKind,
    pub(crate) dms_class: DmsClass,
}

/// The DMS 4.2.1 subject class of a Table 1 category (see the module documentation): personal
/// health data C1, important medical data C2, public health data C3.
pub const fn dms_class(category: Category) -> DmsClass {
    match category {
        Category::PersonalAttributes
        | Category::HealthStatus
        | Category::MedicalApplication
        | Category::MedicalPayment => DmsClass::C1,
        Category::HealthResources => DmsClass::C2,
        Category::PublicHealth => DmsClass::C3,
    }
}

const fn g(category: Category, level: Level, identifier_kind: IdentifierKind) -> Grading {
    Grading {
        category,
        level,
        identifier_kind,
        dms_class: dms_class(category),
    }
}

/// The grading of a kind of column (see the module table). `other_category` is used for
/// [`SemanticType::Other`] only.
pub(crate) fn grading(kind: Kind, other_category: Option<Category>) -> Grading {
    use Category::*;
    use IdentifierKind::{Direct, Other as NotIdentifying, Quasi, Sensitive};
    use SemanticType as S;
    let s = match kind {
        Kind::CountyCode | Kind::Masked(_) => return g(PersonalAttributes, Level::L3, Quasi),
        Kind::Sem(s) => s,
    };
    match s {
        S::IdNumber
        | S::Passport
        | S::TravelPermit
        | S::SocialSecurityCard
        | S::BankCard
        | S::Biometric
        | S::PersonName
        | S::MobilePhone
        | S::LandlinePhone
        | S::Email
        | S::Address
        | S::IpAddress
        | S::LicensePlate
        | S::PatientId => g(PersonalAttributes, Level::L4, Direct),
        S::BirthDate
        | S::Age
        | S::Sex
        | S::Ethnicity
        | S::MaritalStatus
        | S::Occupation
        | S::Employer
        | S::PostalCode => g(PersonalAttributes, Level::L3, Quasi),
        S::Date | S::Datetime | S::RecordId => g(MedicalApplication, Level::L3, Quasi),
        S::DiagnosisCode | S::DiagnosisName | S::LabResult | S::FreeText => {
            g(HealthStatus, Level::L3, Sensitive)
        }
        S::OperationCode | S::DrugCode => g(MedicalApplication, Level::L3, Sensitive),
        S::ServiceItemCode | S::ConsumableCode | S::Department => {
            g(MedicalApplication, Level::L2, NotIdentifying)
        }
        S::InstitutionCode | S::InstitutionName | S::Uscc => {
            g(HealthResources, Level::L2, NotIdentifying)
        }
        S::Amount => g(MedicalPayment, Level::L2, NotIdentifying),
        S::Other => g(
            other_category.unwrap_or(MedicalApplication),
            Level::L2,
            NotIdentifying,
        ),
    }
}

/// Semantic types whose values can carry special-disease information (§11.1.2.3 a) 2)).
pub(crate) fn may_hold_special_diseases(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Sem(
            SemanticType::DiagnosisCode | SemanticType::DiagnosisName | SemanticType::FreeText
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every semantic type of the core vocabulary has a grading consistent with Appendix G:
    /// direct identifiers are level 4, quasi identifiers level 3, nothing is level 5 without
    /// special diseases, and C1 is never given to non-identifying, non-sensitive data.
    #[test]
    fn every_semantic_type_is_graded_consistently() {
        use SemanticType as S;
        for s in S::ALL {
            let gr = grading(Kind::Sem(s), None);
            match gr.identifier_kind {
                IdentifierKind::Direct => assert_eq!(gr.level, Level::L4, "{s:?}"),
                IdentifierKind::Quasi | IdentifierKind::Sensitive => {
                    assert_eq!(gr.level, Level::L3, "{s:?}")
                }
                IdentifierKind::Other => assert_eq!(gr.level, Level::L2, "{s:?}"),
            }
            // DMS 4.2.1: anything about a person is C1; C2 and C3 only for health-resource and
            // public-health data, which never identify.
            assert_eq!(gr.dms_class, dms_class(gr.category), "{s:?}");
            if gr.identifier_kind != IdentifierKind::Other {
                assert_eq!(gr.dms_class, DmsClass::C1, "{s:?}");
            }
        }
        assert_eq!(
            grading(Kind::Sem(S::InstitutionCode), None).dms_class,
            DmsClass::C2
        );
        assert_eq!(
            grading(Kind::Sem(S::Other), Some(Category::PublicHealth)).dms_class,
            DmsClass::C3
        );
        assert_eq!(grading(Kind::Sem(S::Amount), None).dms_class, DmsClass::C1);
        let masked = grading(Kind::Masked(S::MobilePhone), None);
        assert_eq!(
            (masked.level, masked.identifier_kind),
            (Level::L3, IdentifierKind::Quasi)
        );
        assert_eq!(Kind::Masked(S::MobilePhone).semantic_type(), S::MobilePhone);
        let county = grading(Kind::CountyCode, None);
        assert_eq!(
            (county.level, county.identifier_kind),
            (Level::L3, IdentifierKind::Quasi)
        );
        assert_eq!(Kind::CountyCode.semantic_type(), SemanticType::Address);
        assert_eq!(
            grading(Kind::Sem(S::IdNumber), None).dms_class,
            DmsClass::C1
        );
        assert_eq!(
            grading(Kind::Sem(S::Amount), None).category,
            Category::MedicalPayment
        );
        assert_eq!(
            grading(Kind::Sem(S::Other), Some(Category::MedicalPayment)).category,
            Category::MedicalPayment
        );
    }
}
