//! The per-column result of `medspace scan --format json` and `--format table`.
//!
//! Each column gets exactly the keys `name, semantic_type, identifier_kind, category, level,
//! dms_class, special_disease, hidden_from_self_query, confidence, findings, suggested_action`:
//!
//! - `semantic_type`: one of [`SEMANTIC_TYPES`];
//! - `identifier_kind`: GB/T 39725-2020 Appendix G Table G.1 直接标识符 (`direct`) / 准标识符
//!   (`quasi`), health content `sensitive`, else `other`;
//! - `category`: GB/T 39725-2020 §6.1 Table 1 ([`ReportCategory`]);
//! - `level`: §6.2 levels 1–5; `dms_class`: DMS 4.2.1 C1/C2/C3;
//! - `special_disease`: the eight classes of §11.1.2.3 a) 2) ([`SpecialDiseaseClass`]) found in
//!   the values, from the ICD-10 ranges of `medspace_validators::icd10::SPECIAL_DISEASE_RULES`
//!   and the disease-name keywords of this crate (one table each, documented there);
//! - `hidden_from_self_query`: the column holds HIV, viral hepatitis or syphilis diagnoses or
//!   test results, which §11.2.2.2 keeps out of a data subject's self-service query;
//! - `confidence` 0–1; `findings`: identifiers found inside free text (spans and counts, never
//!   values) and notes on header/value disagreements;
//! - `suggested_action`: the Appendix G Table G.1 / Table 6 treatment, named as the action of a
//!   `medspace deid` policy ([`SuggestedAction`]).

use std::collections::BTreeMap;

use medspace_core::classification::DmsClass;
use medspace_core::{Category, ColumnClassification, IdentifierKind, SemanticType};
use serde::{Deserialize, Serialize};

use crate::freetext::{Finding, SpanKind};
use crate::mapping::Kind;

/// The `semantic_type` vocabulary of `medspace scan --format json`, in documentation order.
pub const SEMANTIC_TYPES: [&str; 38] = [
    "person_name",
    "id_number",
    "passport",
    "travel_permit",
    "mobile_phone",
    "landline_phone",
    "email",
    "address",
    "postal_code",
    "ip_address",
    "license_plate",
    "bank_card",
    "social_security_card",
    "uscc",
    "birth_date",
    "date",
    "datetime",
    "age",
    "sex",
    "ethnicity",
    "marital_status",
    "occupation",
    "employer",
    "department",
    "institution_code",
    "institution_name",
    "patient_id",
    "record_id",
    "diagnosis_code",
    "diagnosis_name",
    "operation_code",
    "drug_code",
    "consumable_code",
    "service_item_code",
    "lab_result",
    "amount",
    "free_text",
    "other",
];

/// The semantic type reported for a core type. The `semantic_type` vocabulary of the scan report
/// is fixed ([`SEMANTIC_TYPES`], the list of issue 5) and has no biometric type, so biometric
/// columns are reported as `other` — graded as the direct identifiers they are (level 4, C1,
/// `drop`) and named as biometric in the column's `findings.notes`; the catalog's
/// `ColumnClassification` keeps [`SemanticType::Biometric`].
pub fn report_semantic_type(s: SemanticType) -> SemanticType {
    match s {
        SemanticType::Biometric => SemanticType::Other,
        other => other,
    }
}

/// GB/T 39725-2020 §6.1 Table 1 category, with the names of the scan report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportCategory {
    /// 个人属性数据.
    PersonalAttribute,
    /// 健康状况数据.
    HealthStatus,
    /// 医疗应用数据.
    MedicalApplication,
    /// 医疗支付数据.
    MedicalPayment,
    /// 卫生资源数据.
    HealthResource,
    /// 公共卫生数据.
    PublicHealth,
}

impl From<Category> for ReportCategory {
    fn from(c: Category) -> Self {
        match c {
            Category::PersonalAttributes => ReportCategory::PersonalAttribute,
            Category::HealthStatus => ReportCategory::HealthStatus,
            Category::MedicalApplication => ReportCategory::MedicalApplication,
            Category::MedicalPayment => ReportCategory::MedicalPayment,
            Category::HealthResources => ReportCategory::HealthResource,
            Category::PublicHealth => ReportCategory::PublicHealth,
        }
    }
}

impl ReportCategory {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            ReportCategory::PersonalAttribute => "personal_attribute",
            ReportCategory::HealthStatus => "health_status",
            ReportCategory::MedicalApplication => "medical_application",
            ReportCategory::MedicalPayment => "medical_payment",
            ReportCategory::HealthResource => "health_resource",
            ReportCategory::PublicHealth => "public_health",
        }
    }
}

/// The eight special-disease classes of GB/T 39725-2020 §11.1.2.3 a) 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialDiseaseClass {
    /// 性生殖相关疾病.
    SexualReproductive,
    /// 传染性疾病.
    Infectious,
    /// 心理疾病.
    Mental,
    /// 恶性肿瘤.
    MalignantTumour,
    /// 遗传性疾病.
    Hereditary,
    /// 肛门疾病.
    Anal,
    /// 罕见病.
    Rare,
    /// 其他不治之症.
    OtherIncurable,
}

impl SpecialDiseaseClass {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            SpecialDiseaseClass::SexualReproductive => "sexual_reproductive",
            SpecialDiseaseClass::Infectious => "infectious",
            SpecialDiseaseClass::Mental => "mental",
            SpecialDiseaseClass::MalignantTumour => "malignant_tumour",
            SpecialDiseaseClass::Hereditary => "hereditary",
            SpecialDiseaseClass::Anal => "anal",
            SpecialDiseaseClass::Rare => "rare",
            SpecialDiseaseClass::OtherIncurable => "other_incurable",
        }
    }

    /// The class of one of the finer categories of [`crate::SPECIAL_DISEASE_NAMES`] (the
    /// mapping of the table in `special`'s documentation). Sexually transmitted infections are
    /// reported under both classes they belong to by the caller.
    pub fn of_fine(name: &str) -> Option<SpecialDiseaseClass> {
        use SpecialDiseaseClass::*;
        Some(match name {
            "hiv" | "viral_hepatitis" | "tuberculosis" | "infectious" => Infectious,
            "sexually_transmitted" | "reproductive" => SexualReproductive,
            "cancer" => MalignantTumour,
            "mental_disorder" | "substance_use" => Mental,
            "hereditary" => Hereditary,
            "anal" => Anal,
            "rare_disease" => Rare,
            "incurable" => OtherIncurable,
            _ => return None,
        })
    }
}

/// The classes of a list of fine categories, sorted, without duplicates.
pub fn special_classes(fine: &[&str]) -> Vec<SpecialDiseaseClass> {
    let mut out: Vec<SpecialDiseaseClass> = fine
        .iter()
        .filter_map(|f| SpecialDiseaseClass::of_fine(f))
        .collect();
    if fine.contains(&"sexually_transmitted") {
        // STIs are communicable diseases too (传染病防治法 lists syphilis, gonorrhoea, HIV).
        out.push(SpecialDiseaseClass::Infectious);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The Appendix G Table G.1 / Table 6 treatment of a column, named as a `medspace deid` action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestedAction {
    /// Delete the column (G.1 删除或置空: names, phones, e-mail, addresses, work unit …).
    Drop,
    /// Replace by a keyed pseudonym where records must stay linkable (Table 6: ID-type and
    /// internal numbers replaced by random unique surrogates).
    Pseudonymize,
    /// Birth date → five-year age band (Table 6: birth date replaced by age, age generalised).
    AgeBand,
    /// Per-subject date shift keeping intervals (G.1 时间偏移方法).
    DateShift,
    /// Keep the first characters: county code → prefecture (`3301`), postal code → `310***`
    /// (G.1 建议泛化; Table 6 100080 → 100***).
    Truncate,
    /// Replace identifiers inside free text by type tags, keep the rest.
    RedactSpans,
    /// Keep: not identifying, or a quasi-identifier kept for the k-anonymity check.
    Keep,
}

impl SuggestedAction {
    /// The action name in a policy.
    pub fn name(self) -> &'static str {
        match self {
            SuggestedAction::Drop => "drop",
            SuggestedAction::Pseudonymize => "pseudonymize",
            SuggestedAction::AgeBand => "age_band",
            SuggestedAction::DateShift => "date_shift",
            SuggestedAction::Truncate => "truncate",
            SuggestedAction::RedactSpans => "redact_spans",
            SuggestedAction::Keep => "keep",
        }
    }

    /// `(length, pad)` for [`SuggestedAction::Truncate`] of a semantic type.
    pub fn truncation(semantic_type: SemanticType) -> (usize, char) {
        match semantic_type {
            SemanticType::PostalCode => (3, '*'),
            _ => (4, '0'),
        }
    }

    /// The clause the suggestion follows, for reviewers.
    pub fn basis(self, semantic_type: SemanticType) -> &'static str {
        use SemanticType as S;
        match (self, semantic_type) {
            (SuggestedAction::Drop, S::PersonName) => "Table G.1 本人姓名: 删除或置空",
            (SuggestedAction::Drop, S::MobilePhone | S::LandlinePhone) => {
                "Table G.1 本人电话号码: 删除或置空"
            }
            (SuggestedAction::Drop, S::Email) => "Table G.1 电子邮箱地址: 删除或置空",
            (SuggestedAction::Drop, S::Address) => "Table G.1 地址-门牌号码: 删除或置空",
            (SuggestedAction::Drop, S::Employer) => "Table G.1 工作单位名称: 删除或置空",
            (SuggestedAction::Drop, _) => "Table 6 / Table G.1: direct identifier deleted",
            (SuggestedAction::Pseudonymize, _) => {
                "Table 6: numbers needed for linkage replaced by unique surrogates"
            }
            (SuggestedAction::AgeBand, _) => "Table 6: birth date replaced by an age band",
            (SuggestedAction::DateShift, _) => "Table G.1: 时间偏移方法 (per-subject date shift)",
            (SuggestedAction::Truncate, S::PostalCode) => "Table 6: postcode 100080 -> 100***",
            (SuggestedAction::Truncate, _) => "Table G.1 地址-县（区）: 建议泛化",
            (SuggestedAction::RedactSpans, _) => {
                "§10.2 / Table G.1: identifiers inside free text redacted"
            }
            (SuggestedAction::Keep, _) => {
                "not identifying, or a quasi-identifier kept for k-anonymity"
            }
        }
    }
}

/// The suggestion for a decided kind.
pub(crate) fn suggest(kind: Kind) -> SuggestedAction {
    use SemanticType as S;
    let s = match kind {
        Kind::Masked(_) => return SuggestedAction::Drop,
        Kind::CountyCode => return SuggestedAction::Truncate,
        Kind::Sem(s) => s,
    };
    match s {
        S::PersonName
        | S::MobilePhone
        | S::LandlinePhone
        | S::Email
        | S::Address
        | S::IpAddress
        | S::LicensePlate
        | S::Passport
        | S::TravelPermit
        | S::BankCard
        | S::SocialSecurityCard
        | S::Employer
        | S::Biometric => SuggestedAction::Drop,
        S::IdNumber | S::PatientId | S::RecordId => SuggestedAction::Pseudonymize,
        S::BirthDate => SuggestedAction::AgeBand,
        S::Date | S::Datetime => SuggestedAction::DateShift,
        S::PostalCode => SuggestedAction::Truncate,
        S::FreeText => SuggestedAction::RedactSpans,
        S::Age
        | S::Sex
        | S::Ethnicity
        | S::MaritalStatus
        | S::Occupation
        | S::Department
        | S::InstitutionCode
        | S::InstitutionName
        | S::Uscc
        | S::DiagnosisCode
        | S::DiagnosisName
        | S::OperationCode
        | S::DrugCode
        | S::ConsumableCode
        | S::ServiceItemCode
        | S::LabResult
        | S::Amount
        | S::Other => SuggestedAction::Keep,
    }
}

/// One identifier found in a cell: data row (1-based), byte span in the cell, type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanRecord {
    /// Data row, from 1 (the header is row 0).
    pub row: u64,
    /// Byte offset of the span in the cell.
    pub start: usize,
    /// Byte offset one past the span.
    pub end: usize,
    /// What the span is.
    #[serde(rename = "type")]
    pub kind: SpanKind,
}

/// What the scan found in a column besides its type: identifiers inside free text and notes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Findings {
    /// Cells searched for embedded identifiers (free-text and untyped columns).
    pub cells_scanned: u64,
    /// Cells with at least one embedded identifier.
    pub cells_with_identifiers: u64,
    /// Embedded identifiers per type.
    pub counts: BTreeMap<String, u64>,
    /// The first spans found (at most the scan's span limit).
    pub spans: Vec<SpanRecord>,
    /// Header/value disagreements and failed checks, in words (no values).
    pub notes: Vec<String>,
}

impl Findings {
    /// Adds the findings of one cell.
    pub(crate) fn add_cell(&mut self, row: u64, found: &[Finding], max_spans: usize) {
        self.cells_scanned += 1;
        if found.is_empty() {
            return;
        }
        self.cells_with_identifiers += 1;
        for f in found {
            *self.counts.entry(f.kind.name().to_string()).or_insert(0) += 1;
            if self.spans.len() < max_spans {
                self.spans.push(SpanRecord {
                    row,
                    start: f.start,
                    end: f.end,
                    kind: f.kind,
                });
            }
        }
    }

    /// Total identifiers found.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// One column of a scan report, with exactly the keys of the `medspace scan` JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnReport {
    /// Header name.
    pub name: String,
    /// One of [`SEMANTIC_TYPES`].
    pub semantic_type: SemanticType,
    /// Appendix G identifier kind.
    pub identifier_kind: IdentifierKind,
    /// Table 1 category.
    pub category: ReportCategory,
    /// §6.2 level, 1–5.
    pub level: u8,
    /// DMS 4.2.1 class.
    pub dms_class: DmsClass,
    /// §11.1.2.3 special-disease classes present in the values.
    pub special_disease: Vec<SpecialDiseaseClass>,
    /// §11.2.2.2: HIV, hepatitis or syphilis content, hidden from self-service queries.
    pub hidden_from_self_query: bool,
    /// Confidence 0–1 of the semantic type.
    pub confidence: f64,
    /// Embedded identifiers and notes.
    pub findings: Findings,
    /// Appendix G / Table 6 treatment, as a `medspace deid` action name.
    pub suggested_action: SuggestedAction,
}

impl ColumnReport {
    /// Builds the report of a column from its classification and what the scan found.
    pub(crate) fn new(
        c: &ColumnClassification,
        kind: Kind,
        fine_special: &[&str],
        hidden: bool,
        findings: Findings,
    ) -> ColumnReport {
        ColumnReport {
            name: c.name.clone(),
            semantic_type: report_semantic_type(c.semantic_type),
            identifier_kind: c.identifier_kind,
            category: c.category.into(),
            level: c.level.get(),
            dms_class: c.dms_class,
            special_disease: special_classes(fine_special),
            hidden_from_self_query: hidden,
            confidence: c.confidence,
            findings,
            suggested_action: suggest(kind),
        }
    }
}

/// How a scan read the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanMode {
    /// A seeded uniform sample of the rows (see `ScanConfig` and `sample::Reservoir`).
    Sampled,
    /// Every row.
    Full,
}

/// The result of `medspace scan`: one [`ColumnReport`] per header column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanResult {
    /// Sampled or full.
    pub mode: ScanMode,
    /// Data rows classified (the sample of a sampled scan).
    pub rows_scanned: u64,
    /// Data rows in the input (a sampled scan draws its sample from all of them).
    pub rows_total: u64,
    /// Highest column level: the level of the dataset.
    pub max_level: u8,
    /// One entry per column, in header order.
    pub columns: Vec<ColumnReport>,
}

/// Keywords of §11.2.2.2 content (HIV, hepatitis, syphilis diagnoses and tests), lower case.
const HIDDEN_KEYWORDS: &[&str] = &[
    "hiv",
    "艾滋",
    "人类免疫缺陷",
    "肝炎",
    "乙肝",
    "丙肝",
    "甲肝",
    "戊肝",
    "hbsag",
    "hbeag",
    "抗-hbc",
    "hbv",
    "hcv",
    "表面抗原",
    "hepatitis",
    "梅毒",
    "syphil",
    "tppa",
    "rpr",
    "trust",
    "螺旋体",
];

/// Whether a value names or codes HIV, viral hepatitis or syphilis (GB/T 39725-2020 §11.2.2.2).
pub fn is_hidden_from_self_query(value: &str) -> bool {
    static SET: std::sync::OnceLock<crate::special::KeywordSet> = std::sync::OnceLock::new();
    let set = SET
        .get_or_init(|| crate::special::KeywordSet::new(HIDDEN_KEYWORDS.iter().map(|k| (*k, 0))));
    if set.any(&value.to_lowercase()) {
        return true;
    }
    // ICD-10: B20–B24, Z21, R75 (HIV), B15–B19 (viral hepatitis), A50–A53 (syphilis).
    value
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .filter(|t| t.len() >= 3)
        .any(|t| {
            let up = t.to_ascii_uppercase();
            if !medspace_validators::icd10::is_code(up.trim_end_matches('.')) {
                return false;
            }
            let head = up.get(..3).unwrap_or_default();
            ("B20"..="B24").contains(&head)
                || ("B15"..="B19").contains(&head)
                || ("A50"..="A53").contains(&head)
                || head == "Z21"
                || head == "R75"
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_covers_every_reported_type() {
        use SemanticType as S;
        for s in S::ALL {
            let reported = report_semantic_type(s).name();
            assert!(SEMANTIC_TYPES.contains(&reported.as_str()), "{reported}");
        }
        assert_eq!(report_semantic_type(S::Biometric), S::Other);
    }

    #[test]
    fn special_classes_follow_the_eight_of_the_standard() {
        let all: Vec<&str> = crate::SPECIAL_DISEASE_NAMES.to_vec();
        let classes = special_classes(&all);
        assert_eq!(classes.len(), 8);
        assert_eq!(
            special_classes(&["sexually_transmitted"]),
            [
                SpecialDiseaseClass::SexualReproductive,
                SpecialDiseaseClass::Infectious
            ]
        );
        assert_eq!(
            special_classes(&["substance_use", "cancer"]),
            [
                SpecialDiseaseClass::Mental,
                SpecialDiseaseClass::MalignantTumour
            ]
        );
        let json = serde_json::to_string(&classes).unwrap_or_default();
        for name in [
            "sexual_reproductive",
            "infectious",
            "mental",
            "malignant_tumour",
            "hereditary",
            "anal",
            "rare",
            "other_incurable",
        ] {
            assert!(json.contains(name), "{json}");
        }
    }

    #[test]
    fn hidden_content() {
        for v in [
            "B20.1",
            "b18.1",
            "A51.9",
            "慢性乙型病毒性肝炎",
            "HIV抗体",
            "梅毒螺旋体抗体(TPPA)",
            "乙肝表面抗原",
            "Z21",
        ] {
            assert!(is_hidden_from_self_query(v), "{v}");
        }
        for v in ["I10", "A15.0", "C34.9", "血常规", "白细胞计数", "archive"] {
            assert!(!is_hidden_from_self_query(v), "{v}");
        }
    }

    #[test]
    fn suggestions_follow_appendix_g() {
        use SemanticType as S;
        assert_eq!(suggest(Kind::Sem(S::PersonName)), SuggestedAction::Drop);
        assert_eq!(
            suggest(Kind::Sem(S::IdNumber)),
            SuggestedAction::Pseudonymize
        );
        assert_eq!(suggest(Kind::Sem(S::BirthDate)), SuggestedAction::AgeBand);
        assert_eq!(suggest(Kind::Sem(S::Datetime)), SuggestedAction::DateShift);
        assert_eq!(suggest(Kind::CountyCode), SuggestedAction::Truncate);
        assert_eq!(
            suggest(Kind::Sem(S::FreeText)),
            SuggestedAction::RedactSpans
        );
        assert_eq!(suggest(Kind::Masked(S::MobilePhone)), SuggestedAction::Drop);
        assert_eq!(suggest(Kind::Sem(S::Amount)), SuggestedAction::Keep);
        assert_eq!(SuggestedAction::truncation(S::PostalCode), (3, '*'));
        assert!(SuggestedAction::Drop
            .basis(S::PersonName)
            .contains("本人姓名"));
    }
}
