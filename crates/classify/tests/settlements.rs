//! A settlements table shaped like the generator's (`medspace gen`), with hand-written rows:
//! every column must get the semantic type and GB/T 39725 Appendix G identifier kind a reviewer
//! would give it, under English, Chinese, pinyin and uninformative headers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use medspace_classify::{render_table, scan_csv, ScanOptions, ScanReport};
use medspace_core::{Category, IdentifierKind, Level, SemanticType};

const ENGLISH: &str = "settlement_id,person_id,person_name,id_number,sex,birth_date,mobile,address,county_code,employer,insurance_type,visit_type,institution_code,department,diagnosis_code,diagnosis_name,admission_time,discharge_time,total_fee,fund_payment,personal_payment";
const CHINESE: &str = "结算编号,人员编号,姓名,身份证号,性别,出生日期,手机号,住址,行政区划代码,工作单位,险种类型,就诊类型,医疗机构代码,科室,诊断编码,诊断名称,入院时间,出院时间,总费用,基金支付,个人支付";
const PINYIN: &str = "jsbh,grbh,xm,sfzh,xb,csrq,sjh,zz,xzqh,gzdw,xzlx,jzlx,yljgdm,ks,zdbm,zdmc,rysj,cysj,zfy,jjzf,grzf";

const ROWS: &str = "\
JS20240315000001,P000012345,张伟,330106198506120015,男,1985-06-12,13957112345,浙江省杭州市西湖区文三路100号3幢2单元501室,330106,杭州某某科技有限公司,职工基本医疗保险,门诊,H33010600012,心血管内科,I10,原发性高血压,2024-03-15 09:30:00,,186.50,130.55,55.95
JS20240315000002,P000023456,王秀英,11010519620304002X,女,1962-03-04,13801012345,北京市朝阳区建国路88号,110105,,城乡居民基本医疗保险,住院,H11010500003,感染科,B20.1,人类免疫缺陷病毒病,2024-03-15 10:12:00,2024-03-29 09:00:00,23456.78,16419.75,7037.03
JS20240316000003,P000034567,李强,440304199001011233,男,1990-01-01,18688812345,广东省深圳市福田区福华路1号,440304,深圳市福田区教育局,职工基本医疗保险,门诊,H44030400021,呼吸内科,J06.9,急性上呼吸道感染,2024-03-16 08:05:00,,98.00,68.60,29.40
JS20240316000004,P000045678,刘娜,510107197811204560,女,1978-11-20,13550012345,四川省成都市武侯区人民南路四段9号,510107,成都某某餐饮管理有限公司,职工基本医疗保险,门诊,H51010700007,内分泌科,E11.9,2型糖尿病,2024-03-16 09:45:00,,312.40,218.68,93.72
JS20240317000005,P000056789,陈杰,320102200002297899,男,2000-02-29,15905112345,江苏省南京市玄武区中山路18号,320102,南京某某大学,城乡居民基本医疗保险,住院,H32010200015,结核病科,A15.0,肺结核,2024-03-17 14:20:00,2024-03-31 10:00:00,18765.20,12135.64,6629.56
JS20240318000006,P000067890,杨洋,370202196607153455,男,1966-07-15,13708912345,山东省青岛市市南区香港中路36号,370202,青岛某某港务集团,职工基本医疗保险,住院,H37020200009,肿瘤科,C34.900x001,支气管和肺恶性肿瘤,2024-03-18 11:00:00,2024-04-02 09:30:00,56789.10,39752.37,17036.73
JS20240318000007,P000078901,赵磊,420106199310085672,男,1993-10-08,17612345678,湖北省武汉市武昌区中南路7号,420106,武汉某某物流有限公司,职工基本医疗保险,门诊,H42010600011,精神科,F32.9,抑郁发作,2024-03-18 15:30:00,,420.00,294.00,126.00
JS20240319000008,P000089012,黄敏,610113197203032348,女,1972-03-03,13991912345,陕西省西安市雁塔区小寨东路1号,610113,西安市雁塔区某某小学,城乡居民基本医疗保险,门诊,H61011300004,妇产科,N76.0,急性阴道炎,2024-03-19 10:10:00,,156.30,93.78,62.52
";

const SPECIAL: [&str; 5] = [
    "hiv",
    "tuberculosis",
    "cancer",
    "mental_disorder",
    "reproductive",
];

fn scan(header: &str) -> ScanReport {
    let csv = format!("{header}\n{ROWS}");
    scan_csv(csv.as_bytes(), &ScanOptions::default()).expect("the table is well-formed")
}

/// (semantic type, identifier kind) expected for each column when the header is informative.
fn expected() -> Vec<(SemanticType, IdentifierKind)> {
    use IdentifierKind::{Direct, Other as None_, Quasi, Sensitive};
    use SemanticType as S;
    vec![
        (S::RecordId, Quasi),
        (S::PatientId, Direct),
        (S::PersonName, Direct),
        (S::IdNumber, Direct),
        (S::Sex, Quasi),
        (S::BirthDate, Quasi),
        (S::MobilePhone, Direct),
        (S::Address, Direct),
        (S::Address, Quasi), // county code: 地址-县（区）, a quasi identifier in Table G.1
        (S::Employer, Quasi),
        (S::Other, None_),
        (S::Other, None_),
        (S::InstitutionCode, None_),
        (S::Department, None_),
        (S::DiagnosisCode, Sensitive),
        (S::DiagnosisName, Sensitive),
        (S::Datetime, Quasi),
        (S::Datetime, Quasi),
        (S::Amount, None_),
        (S::Amount, None_),
        (S::Amount, None_),
    ]
}

fn check(report: &ScanReport, header: &str) {
    let names: Vec<&str> = header.split(',').collect();
    assert_eq!(report.rows_sampled, 8);
    assert_eq!(report.columns.len(), names.len());
    for ((col, name), (semantic, kind)) in report.columns.iter().zip(&names).zip(expected()) {
        assert_eq!(col.name, *name);
        assert_eq!(
            (col.semantic_type, col.identifier_kind),
            (semantic, kind),
            "{name}: {col:?}"
        );
        assert!(
            col.confidence >= 0.5 || semantic == SemanticType::Other,
            "{name}: {col:?}"
        );
        match kind {
            IdentifierKind::Direct => assert_eq!(col.level, Level::L4, "{name}"),
            IdentifierKind::Quasi => assert_eq!(col.level, Level::L3, "{name}"),
            IdentifierKind::Sensitive => {
                assert_eq!(col.level, Level::L5, "{name}");
                assert_eq!(col.special_diseases, SPECIAL, "{name}");
                assert_eq!(col.category, Category::HealthStatus);
            }
            IdentifierKind::Other => assert_eq!(col.level, Level::L2, "{name}"),
        }
    }
    let by_index = |i: usize| report.columns.get(i).expect("column");
    assert_eq!(
        by_index(10).category,
        Category::MedicalPayment,
        "insurance type is 保险信息"
    );
    assert_eq!(
        by_index(11).category,
        Category::MedicalApplication,
        "visit type"
    );
    assert_eq!(by_index(12).category, Category::HealthResources);
    assert_eq!(by_index(18).category, Category::MedicalPayment);
    assert_eq!(report.max_level(), Level::L5);
}

#[test]
fn english_headers() {
    check(&scan(ENGLISH), ENGLISH);
}

#[test]
fn chinese_headers() {
    check(&scan(CHINESE), CHINESE);
}

#[test]
fn pinyin_headers() {
    let report = scan(PINYIN);
    // xzlx (险种类型) and jzlx (就诊类型) are not in the lexicon: only their categories differ.
    let names: Vec<&str> = PINYIN.split(',').collect();
    for ((col, name), (semantic, kind)) in report.columns.iter().zip(&names).zip(expected()) {
        assert_eq!(
            (col.semantic_type, col.identifier_kind),
            (semantic, kind),
            "{name}: {col:?}"
        );
    }
}

/// Without informative headers the values alone still find every direct identifier, the
/// quasi identifiers with a recognisable shape, and the special diseases.
#[test]
fn uninformative_headers() {
    let header: Vec<String> = (1..=21).map(|i| format!("c{i}")).collect();
    let report = scan(&header.join(","));
    use SemanticType as S;
    let want = [
        (0, S::RecordId),
        (2, S::PersonName),
        (3, S::IdNumber),
        (4, S::Sex),
        (5, S::Date),
        (6, S::MobilePhone),
        (7, S::Address),
        (9, S::Employer),
        (10, S::Other),
        (11, S::Other),
        (12, S::InstitutionCode),
        (13, S::Department),
        (14, S::DiagnosisCode),
        (15, S::DiagnosisName),
        (16, S::Datetime),
        (17, S::Datetime),
        (18, S::Amount),
    ];
    for (i, semantic) in want {
        let col = report.columns.get(i).expect("column");
        assert_eq!(col.semantic_type, semantic, "{}: {col:?}", col.name);
    }
    let county = report.columns.get(8).expect("column");
    assert_eq!(
        (county.semantic_type, county.identifier_kind),
        (S::Address, IdentifierKind::Quasi)
    );
    for i in [14, 15] {
        assert_eq!(
            report.columns.get(i).expect("column").special_diseases,
            SPECIAL
        );
    }
    // The direct identifiers are all found.
    let direct: Vec<usize> = report
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.identifier_kind == IdentifierKind::Direct)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(direct, [2, 3, 6, 7]);
}

#[test]
fn table_lists_every_column() {
    let report = scan(ENGLISH);
    let table = render_table(&report);
    assert!(
        table.starts_with("8 rows sampled, 21 columns, highest level 5\n"),
        "{table}"
    );
    for name in ENGLISH.split(',') {
        assert!(
            table.lines().any(|l| l.starts_with(name)),
            "{name}\n{table}"
        );
    }
    // No cell value reaches the table.
    for value in ["张伟", "330106198506120015", "13957112345", "文三路"] {
        assert!(!table.contains(value), "{value}");
    }
}
