//! Column classification for `medspace scan` and ingest: what each column of a CSV holds, and
//! how GB/T 39725-2020 grades it.
//!
//! - §6.1 Table 1: the six data categories ([`Category`]);
//! - §6.2: the five levels ([`Level`]), with level 5 for special diseases (§11.1.2.3 a) 2));
//! - Appendix G Table G.1: direct and quasi identifiers ([`IdentifierKind`]);
//! - DMS 4.2.1: C1 个人健康数据 / C2 重要医疗数据 / C3 公共健康数据 ([`DmsClass`], from the
//!   category: [`dms_class`]).
//!
//! [`classify_column`] combines what a column's *name* says (English snake_case, Chinese, pinyin
//! initials, NHSA field names) with what its *values* look like (GB 11643 checksums, mobile
//! numbers, ICD-10 codes, GB/T 2260 county codes, dates …); where they disagree the lower
//! confidence wins (see `decide`'s rules in the crate source). The grading of each semantic
//! type is one table (`mapping`). [`scan_csv`] reads a header and up to
//! [`ScanOptions::sample_rows`] rows and classifies every column; [`render_table`] prints the
//! result.
//!
//! Nothing here logs or returns cell values: errors name lines, columns and what was expected.
//!
//! [`Category`]: medspace_core::Category
//! [`Level`]: medspace_core::Level
//! [`IdentifierKind`]: medspace_core::IdentifierKind
//! [`DmsClass`]: medspace_core::classification::DmsClass
#![deny(missing_docs)]

mod decide;
pub mod freetext;
mod header;
mod mapping;
mod memo;
pub mod policy_draft;
pub mod report;
pub mod sample;
mod scan;
mod special;
mod table;
mod text_record;
mod values;

// The labelled corpus of `tests/corpus` names this crate by its name; the unit tests that run
// every corpus value through the value tests include it.
#[cfg(test)]
extern crate self as medspace_classify;

use medspace_core::{ColumnClassification, Level, SemanticType};
use serde::{Deserialize, Serialize};

pub use freetext::{find_spans, redact, Finding, SpanKind};
pub use mapping::dms_class;
pub use policy_draft::{draft_policy, DraftError, DraftOptions};
pub use report::{
    is_hidden_from_self_query, ColumnReport, Findings, ReportCategory, ScanMode, ScanResult,
    SpanRecord, SpecialDiseaseClass, SuggestedAction, SEMANTIC_TYPES,
};
pub use sample::{Reservoir, DEFAULT_SAMPLE_SEED};
pub use scan::{
    scan_csv, scan_report, scan_sample, SampleScan, ScanConfig, ScanError, DEFAULT_MAX_SPANS,
    DEFAULT_SAMPLE_ROWS,
};
pub use special::{special_disease_of_code, special_diseases_in_name, SPECIAL_DISEASE_NAMES};
pub use table::{render_result_table, render_table};
pub use text_record::TextRecord;

/// Options of [`scan_csv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanOptions {
    /// Data rows to read after the header (default 1000).
    pub sample_rows: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions { sample_rows: 1000 }
    }
}

/// The result of scanning a CSV: one classification per header column, in header order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    /// Classification of each column.
    pub columns: Vec<ColumnClassification>,
    /// Data rows read (at most [`ScanOptions::sample_rows`]).
    pub rows_sampled: u64,
}

impl ScanReport {
    /// The highest column level, which is the level of the dataset (level 1 for no columns).
    pub fn max_level(&self) -> Level {
        self.columns
            .iter()
            .map(|c| c.level)
            .max()
            .unwrap_or(Level::L1)
    }
}

/// Whether a column's name says it holds biometric data (fingerprint, iris, face, voiceprint, palm
/// or vein templates). Decided from the name alone, before any value is stored: GB/T 39725-2020
/// §10.1 h) allows only a keyed digest of biometric data to be kept, so the ingest path must know
/// before it writes the first row.
pub fn is_biometric_column(name: &str) -> bool {
    matches!(
        header::evidence(name),
        Some((mapping::Kind::Sem(SemanticType::Biometric), c)) if c >= 0.7
    )
}

/// Whether a column's name says it identifies the data subject (ID number, patient number, social
/// security card, passport). Decided from the name alone so the ingest path can index the subjects
/// a dataset holds while it streams (GB/T 39725-2020 §7 g): the disclosure history is looked up by
/// the keyed pseudonyms of these values).
pub fn is_subject_identifier_column(name: &str) -> bool {
    matches!(
        header::evidence(name),
        Some((mapping::Kind::Sem(
            SemanticType::IdNumber
                | SemanticType::PatientId
                | SemanticType::SocialSecurityCard
                | SemanticType::Passport
        ), c)) if c >= 0.7
    )
}

/// Classifies one column from its header name and sampled values. Empty values are ignored; a
/// column without values is [`SemanticType::Other`].
///
/// Diagnosis and free-text columns whose values include special diseases (GB/T 39725-2020
/// §11.1.2.3 a) 2): HIV, hepatitis, tuberculosis, sexually transmitted infections, cancer,
/// mental disorders, substance use, pregnancy …) are level 5 and list the categories found in
/// `special_diseases` (names in [`SPECIAL_DISEASE_NAMES`]).
pub fn classify_column(name: &str, samples: &[&str]) -> ColumnClassification {
    let stats = values::Stats::of(samples);
    let (kind, confidence) = decide::decide_stats(name, &stats);
    let mut special = Vec::new();
    if mapping::may_hold_special_diseases(kind) {
        let negations = kind.semantic_type() == SemanticType::FreeText;
        for v in samples {
            special::scan_value(v.trim(), negations, &mut special);
        }
        special::sort_categories(&mut special);
    }
    graded(name, kind, confidence, &special)
}

/// The classification of a column whose kind, confidence and special diseases are decided.
pub(crate) fn graded(
    name: &str,
    kind: mapping::Kind,
    confidence: f64,
    special: &[&'static str],
) -> ColumnClassification {
    let semantic_type = kind.semantic_type();
    let hint = if semantic_type == SemanticType::Other {
        header::category_hint(name)
    } else {
        None
    };
    let grading = mapping::grading(kind, hint);
    let mut level = grading.level;
    if !special.is_empty() {
        level = Level::L5;
    }
    ColumnClassification {
        name: name.to_string(),
        semantic_type,
        category: grading.category,
        level,
        identifier_kind: grading.identifier_kind,
        dms_class: grading.dms_class,
        confidence,
        special_diseases: special.iter().map(|s| s.to_string()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medspace_core::classification::DmsClass;
    use medspace_core::{Category, IdentifierKind};
    use proptest::prelude::*;

    /// Valid GB 11643 numbers: 17 digits plus the computed check character.
    fn valid_ids() -> Vec<String> {
        let bodies = [
            "33010619850612001",
            "11010519491231002",
            "44030419900101123",
            "51010719781120456",
            "32010220000229789",
            "37020219660715345",
            "42010619931008567",
            "61011319720303234",
            "35020319880808111",
            "21010219551111222",
        ];
        bodies
            .iter()
            .map(|b| {
                let c = medspace_validators::gb11643::check_digit(b).unwrap();
                format!("{b}{c}")
            })
            .collect()
    }

    /// 18-digit numbers shaped like IDs whose check character is wrong.
    fn failing_ids() -> Vec<String> {
        valid_ids()
            .iter()
            .map(|id| {
                let (body, check) = id.split_at(17);
                let wrong = if check == "1" { '2' } else { '1' };
                format!("{body}{wrong}")
            })
            .collect()
    }

    fn refs(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    #[test]
    fn valid_ids_under_an_uninformative_name_are_id_numbers() {
        let ids = valid_ids();
        assert!(ids
            .iter()
            .all(|i| medspace_validators::gb11643::is_valid(i)));
        let c = classify_column("c7", &refs(&ids));
        assert_eq!(c.semantic_type, SemanticType::IdNumber);
        assert_eq!(c.identifier_kind, IdentifierKind::Direct);
        assert_eq!(c.level, Level::L4);
        assert_eq!(c.dms_class, DmsClass::C1);
        assert!(c.confidence >= 0.8, "{}", c.confidence);
    }

    #[test]
    fn failing_checksums_are_not_id_numbers_even_when_named_so() {
        let bad = failing_ids();
        for name in ["c7", "id_number", "身份证号", "sfzh"] {
            let c = classify_column(name, &refs(&bad));
            assert_ne!(c.semantic_type, SemanticType::IdNumber, "{name}: {c:?}");
            assert_ne!(c.identifier_kind, IdentifierKind::Direct, "{name}: {c:?}");
        }
        // While the same name over valid numbers is an ID number with high confidence.
        let good = classify_column("id_number", &refs(&valid_ids()));
        assert_eq!(good.semantic_type, SemanticType::IdNumber);
        assert!(good.confidence > 0.95, "{}", good.confidence);
    }

    #[test]
    fn random_18_digit_numbers_are_not_id_numbers() {
        // A fixed LCG: 18-digit numbers with no structure.
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let nums: Vec<String> = (0..200)
            .map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                format!("{:018}", x % 1_000_000_000_000_000_000)
            })
            .collect();
        let passing = nums
            .iter()
            .filter(|n| medspace_validators::gb11643::is_valid(n))
            .count();
        assert!(passing < 20, "{passing}");
        let c = classify_column("c7", &refs(&nums));
        assert_ne!(c.semantic_type, SemanticType::IdNumber);
        let named = classify_column("id_number", &refs(&nums));
        assert!(
            named.semantic_type != SemanticType::IdNumber || named.confidence < 0.3,
            "{named:?}"
        );
    }

    #[test]
    fn a_person_id_column_of_citizen_ids_is_refined_to_id_number() {
        let c = classify_column("person_id", &refs(&valid_ids()));
        assert_eq!(c.semantic_type, SemanticType::IdNumber);
        let codes = ["P0000001", "P0000002", "P0000003", "P0000004"];
        assert_eq!(
            classify_column("person_id", &codes).semantic_type,
            SemanticType::PatientId
        );
    }

    #[test]
    fn names_outside_the_surname_list_stay_names_but_codes_do_not() {
        let tibetan = ["扎西多吉", "次仁卓玛", "格桑梅朵", "阿依古丽·买买提"];
        let c = classify_column("person_name", &tibetan);
        assert_eq!(
            (c.semantic_type, c.level),
            (SemanticType::PersonName, Level::L4)
        );
        let known = classify_column("person_name", &["张伟", "王秀英", "李娜", "刘洋"]);
        assert!(
            known.confidence > c.confidence,
            "surnames confirm: {} vs {}",
            known.confidence,
            c.confidence
        );
        let codes = classify_column("person_name", &["A001", "A002", "A003", "A004"]);
        assert_ne!(codes.semantic_type, SemanticType::PersonName);
        let hospitals = classify_column(
            "name",
            &[
                "杭州市第一人民医院",
                "西湖区北山街道社区卫生服务中心",
                "浙江大学医学院附属第二医院",
            ],
        );
        assert_eq!(hospitals.semantic_type, SemanticType::InstitutionName);
    }

    #[test]
    fn masked_direct_identifiers_are_quasi() {
        let c = classify_column("mobile", &["139****5678", "138****1234", "186****0000"]);
        assert_eq!(c.semantic_type, SemanticType::MobilePhone);
        assert_eq!(
            (c.identifier_kind, c.level),
            (IdentifierKind::Quasi, Level::L3)
        );
        let n = classify_column("姓名", &["张*", "王**", "李*"]);
        assert_eq!(
            (n.semantic_type, n.identifier_kind),
            (SemanticType::PersonName, IdentifierKind::Quasi)
        );
        // Unmasked values under the same name stay direct.
        assert_eq!(
            classify_column("mobile", &["13912345678"]).identifier_kind,
            IdentifierKind::Direct
        );
    }

    #[test]
    fn first_generation_15_digit_ids() {
        let legacy = [
            "330106850612001",
            "110105620304002",
            "440304900101123",
            "510107781120456",
        ];
        let c = classify_column("身份证号", &legacy);
        assert_eq!(
            (c.semantic_type, c.level),
            (SemanticType::IdNumber, Level::L4)
        );
        let unnamed = classify_column("c2", &legacy);
        assert_eq!(unnamed.semantic_type, SemanticType::IdNumber);
    }

    #[test]
    fn empty_columns_are_other() {
        for name in ["id_number", "c1", "姓名"] {
            let c = classify_column(name, &["", "  ", ""]);
            assert_eq!(c.semantic_type, SemanticType::Other, "{name}");
            assert_eq!(c.level, Level::L2);
            assert_eq!(c.identifier_kind, IdentifierKind::Other);
        }
        assert_eq!(
            classify_column("mobile", &[]).semantic_type,
            SemanticType::Other
        );
    }

    #[test]
    fn empty_cells_are_ignored() {
        let c = classify_column("mobile", &["", "13912345678", "", "13812345678", " "]);
        assert_eq!(c.semantic_type, SemanticType::MobilePhone);
        assert!(c.confidence > 0.9);
    }

    #[test]
    fn chinese_headers() {
        let cases: &[(&str, &[&str], SemanticType, IdentifierKind)] = &[
            (
                "姓名",
                &["张伟", "王秀英", "李娜", "刘洋"],
                SemanticType::PersonName,
                IdentifierKind::Direct,
            ),
            (
                "手机号",
                &["13912345678", "18612345678", "15012345678"],
                SemanticType::MobilePhone,
                IdentifierKind::Direct,
            ),
            (
                "住址",
                &["浙江省杭州市西湖区文三路100号", "北京市朝阳区建国路88号3栋"],
                SemanticType::Address,
                IdentifierKind::Direct,
            ),
            (
                "出生日期",
                &["1985-06-12", "1990-01-01", "2001-12-31"],
                SemanticType::BirthDate,
                IdentifierKind::Quasi,
            ),
            (
                "性别",
                &["男", "女", "女", "男"],
                SemanticType::Sex,
                IdentifierKind::Quasi,
            ),
            (
                "入院时间",
                &["2024-03-15 09:30:00", "2024-03-16 14:05:00"],
                SemanticType::Datetime,
                IdentifierKind::Quasi,
            ),
            (
                "诊断编码",
                &["I10", "E11.9", "J06.9"],
                SemanticType::DiagnosisCode,
                IdentifierKind::Sensitive,
            ),
            (
                "诊断名称",
                &["原发性高血压", "2型糖尿病", "急性上呼吸道感染"],
                SemanticType::DiagnosisName,
                IdentifierKind::Sensitive,
            ),
            (
                "费用",
                &["123.50", "88.00", "1024.10"],
                SemanticType::Amount,
                IdentifierKind::Other,
            ),
            (
                "科室",
                &["心血管内科", "内分泌科", "呼吸内科"],
                SemanticType::Department,
                IdentifierKind::Other,
            ),
            (
                "工作单位",
                &["杭州某某科技有限公司", "西湖区教育局"],
                SemanticType::Employer,
                IdentifierKind::Quasi,
            ),
            (
                "行政区划代码",
                &["330106", "110105", "440304"],
                SemanticType::Address,
                IdentifierKind::Quasi,
            ),
            ("证件号码", &[], SemanticType::Other, IdentifierKind::Other),
        ];
        for (name, values, want, kind) in cases {
            let c = classify_column(name, values);
            assert_eq!(c.semantic_type, *want, "{name}");
            assert_eq!(c.identifier_kind, *kind, "{name}");
        }
        let ids = valid_ids();
        let c = classify_column("身份证号", &refs(&ids));
        assert_eq!(
            (c.semantic_type, c.level),
            (SemanticType::IdNumber, Level::L4)
        );
    }

    #[test]
    fn special_diseases_raise_the_level_to_5() {
        let ordinary = classify_column("diagnosis_code", &["I10", "E11.9", "J06.9", "K29.7"]);
        assert_eq!(ordinary.level, Level::L3);
        assert!(ordinary.special_diseases.is_empty());
        assert_eq!(ordinary.category, Category::HealthStatus);

        let special = classify_column(
            "diagnosis_code",
            &[
                "I10",
                "B20.1",
                "E11.9",
                "C34.900x001",
                "F32.9",
                "O80.0",
                "F10.2",
            ],
        );
        assert_eq!(special.level, Level::L5);
        assert_eq!(special.identifier_kind, IdentifierKind::Sensitive);
        assert_eq!(
            special.special_diseases,
            [
                "hiv",
                "cancer",
                "mental_disorder",
                "substance_use",
                "reproductive"
            ]
        );

        let names = classify_column(
            "诊断名称",
            &["原发性高血压", "慢性乙型病毒性肝炎", "肺结核", "梅毒"],
        );
        assert_eq!(names.semantic_type, SemanticType::DiagnosisName);
        assert_eq!(names.level, Level::L5);
        assert_eq!(
            names.special_diseases,
            ["viral_hepatitis", "tuberculosis", "sexually_transmitted"]
        );

        // A code in an unnamed column is found too.
        let unnamed = classify_column("c3", &["A15.0", "I10", "J18.9", "E11.9"]);
        assert_eq!(unnamed.semantic_type, SemanticType::DiagnosisCode);
        assert_eq!(unnamed.special_diseases, ["tuberculosis"]);

        // Special-disease codes in a non-diagnosis column do not make it level 5.
        let other = classify_column("department", &["B20"]);
        assert!(other.special_diseases.is_empty());
    }

    #[test]
    fn serializes_with_stable_names() {
        let c = classify_column("mobile", &["13912345678"]);
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["semantic_type"], "mobile_phone");
        assert_eq!(v["identifier_kind"], "direct");
        assert_eq!(v["category"], "personal_attributes");
        assert_eq!(v["level"], 4);
        assert!(v.get("special_diseases").is_none());
        let report = ScanReport {
            columns: vec![c],
            rows_sampled: 1,
        };
        let back: ScanReport =
            serde_json::from_value(serde_json::to_value(&report).unwrap()).unwrap();
        assert_eq!(back, report);
        assert_eq!(report.max_level(), Level::L4);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Never panics; the confidence is in 0–1; the level and identifier kind follow the
        /// mapping (level 5 only with special diseases).
        #[test]
        fn classify_column_never_panics(name in ".{0,24}", values in proptest::collection::vec(".{0,40}", 0..30)) {
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let c = classify_column(&name, &refs);
            prop_assert!((0.0..=1.0).contains(&c.confidence));
            prop_assert_eq!(c.level == Level::L5, !c.special_diseases.is_empty());
            if c.identifier_kind == IdentifierKind::Direct {
                prop_assert_eq!(c.level, Level::L4);
            }
            prop_assert_eq!(&c.name, &name);
        }

        /// Same for strings built from the characters the detectors look at.
        #[test]
        fn classify_column_never_panics_on_near_misses(
            name in "[a-z_身份证号姓名诊断]{0,12}",
            values in proptest::collection::vec("[0-9XxHABCF.\\-: 省市区路号张王李病癌艾滋@]{0,20}", 0..30),
        ) {
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            let c = classify_column(&name, &refs);
            prop_assert!((0.0..=1.0).contains(&c.confidence));
        }
    }

    #[test]
    fn biometric_columns_are_known_by_name_in_english_and_chinese() {
        for name in [
            "fingerprint",
            "Fingerprint_Template",
            "指纹",
            "人脸特征",
            "声纹",
            "iris_code",
        ] {
            assert!(is_biometric_column(name), "{name}");
            let c = classify_column(
                name,
                &["AAECAwQFBgcICQoLDA0ODw==", "EBESExQVFhcYGRobHB0eHw=="],
            );
            assert_eq!(c.semantic_type, SemanticType::Biometric, "{name}");
            assert_eq!(c.level, Level::L4, "{name}");
            assert_eq!(c.category, Category::PersonalAttributes, "{name}");
        }
        for name in ["finger_count", "face_value", "diagnosis", "姓名"] {
            assert!(!is_biometric_column(name), "{name}");
        }
    }
}
