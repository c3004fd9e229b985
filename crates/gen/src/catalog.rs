//! Clinical catalogues of the generator: diagnoses (ICD-10, GB/T 14396-2016 Chinese names) with
//! the frequencies, departments, admission rates, lengths of stay and costs used to simulate
//! visits, and laboratory tests with the Chinese adult reference intervals of WS/T 404 and
//! WS/T 405 (血细胞分析 / 临床常用生化检验项目参考区间).
//!
//! The diagnosis table includes, at low but present frequencies, the special diseases of
//! GB/T 39725-2020 §11.1.2.3 a) 2) (HIV, viral hepatitis, tuberculosis, syphilis and other STDs,
//! malignant neoplasms, mental and substance-use disorders, pregnancy and infertility, anal
//! diseases, hereditary and rare diseases, Alzheimer disease and end-stage renal disease).

use medspace_validators::Sex;

/// Lab panels, as bits of [`Diagnosis::panels`].
pub(crate) mod panel {
    /// 血常规.
    pub const CBC: u16 = 1;
    /// 肝功能.
    pub const LIVER: u16 = 1 << 1;
    /// 肾功能.
    pub const RENAL: u16 = 1 << 2;
    /// 血脂.
    pub const LIPID: u16 = 1 << 3;
    /// 血糖.
    pub const GLUCOSE: u16 = 1 << 4;
    /// 电解质.
    pub const ELECTROLYTE: u16 = 1 << 5;
    /// C 反应蛋白.
    pub const CRP: u16 = 1 << 6;
    /// 感染四项 (乙肝, 丙肝, HIV, 梅毒).
    pub const INFECTION: u16 = 1 << 7;
    /// 肿瘤标志物.
    pub const TUMOR: u16 = 1 << 8;
    /// 甲状腺功能.
    pub const THYROID: u16 = 1 << 9;
    /// CD4+ T 淋巴细胞.
    pub const CD4: u16 = 1 << 10;
    /// 前列腺特异性抗原.
    pub const PSA: u16 = 1 << 11;
}

use panel::*;

/// Index of each test in [`LAB_TESTS`].
#[allow(missing_docs)]
pub(crate) mod t {
    pub const WBC: usize = 0;
    pub const RBC: usize = 1;
    pub const HGB: usize = 2;
    pub const PLT: usize = 3;
    pub const ALT: usize = 4;
    pub const AST: usize = 5;
    pub const TBIL: usize = 6;
    pub const ALB: usize = 7;
    pub const CREA: usize = 8;
    pub const UREA: usize = 9;
    pub const UA: usize = 10;
    pub const TC: usize = 11;
    pub const TG: usize = 12;
    pub const HDL: usize = 13;
    pub const LDL: usize = 14;
    pub const GLU: usize = 15;
    pub const HBA1C: usize = 16;
    pub const K: usize = 17;
    pub const NA: usize = 18;
    pub const CRP: usize = 19;
    pub const HBSAG: usize = 20;
    pub const HCV: usize = 21;
    pub const HIV: usize = 22;
    pub const TP: usize = 23;
    pub const CEA: usize = 24;
    pub const AFP: usize = 25;
    pub const TSH: usize = 26;
    pub const FT4: usize = 27;
    pub const CD4: usize = 28;
    pub const PSA: usize = 29;
}

/// Panels in the order their tests are written, with their tests.
pub(crate) const PANELS: [(u16, &[usize]); 12] = [
    (CBC, &[t::WBC, t::RBC, t::HGB, t::PLT]),
    (LIVER, &[t::ALT, t::AST, t::TBIL, t::ALB]),
    (RENAL, &[t::CREA, t::UREA, t::UA]),
    (LIPID, &[t::TC, t::TG, t::HDL, t::LDL]),
    (GLUCOSE, &[t::GLU, t::HBA1C]),
    (ELECTROLYTE, &[t::K, t::NA]),
    (panel::CRP, &[t::CRP]),
    (INFECTION, &[t::HBSAG, t::HCV, t::HIV, t::TP]),
    (TUMOR, &[t::CEA, t::AFP]),
    (THYROID, &[t::TSH, t::FT4]),
    (panel::CD4, &[t::CD4]),
    (panel::PSA, &[t::PSA]),
];

/// Direction of an expected abnormal result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// Above the reference interval.
    High,
    /// Below it.
    Low,
    /// Qualitative test positive (阳性).
    Positive,
}

/// A reference interval and the band normal results are drawn from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Range {
    /// Lower reference limit.
    pub lo: f64,
    /// Upper reference limit.
    pub hi: f64,
    /// Normal results are drawn from `[gen_lo, gen_hi]`.
    pub gen_lo: f64,
    /// See `gen_lo`.
    pub gen_hi: f64,
    /// As printed in the `reference_range` column.
    pub text: &'static str,
}

const fn r(lo: f64, hi: f64, text: &'static str) -> Range {
    Range {
        lo,
        hi,
        gen_lo: lo,
        gen_hi: hi,
        text,
    }
}

const fn rg(lo: f64, hi: f64, gen_lo: f64, gen_hi: f64, text: &'static str) -> Range {
    Range {
        lo,
        hi,
        gen_lo,
        gen_hi,
        text,
    }
}

/// A laboratory test (LIS item code as used by Chinese hospital laboratory systems).
#[derive(Debug)]
pub(crate) struct LabTest {
    /// LIS item code.
    pub code: &'static str,
    /// Chinese name.
    pub name: &'static str,
    /// Unit (empty for qualitative tests).
    pub unit: &'static str,
    /// Decimals printed.
    pub decimals: usize,
    /// Male reference interval.
    pub male: Range,
    /// Female reference interval.
    pub female: Range,
    /// High results reach up to `hi * (1 + spread)`.
    pub spread: f64,
    /// 阴性/阳性 test.
    pub qualitative: bool,
}

const fn q(code: &'static str, name: &'static str) -> LabTest {
    LabTest {
        code,
        name,
        unit: "",
        decimals: 0,
        male: r(0.0, 0.0, "阴性"),
        female: r(0.0, 0.0, "阴性"),
        spread: 0.0,
        qualitative: true,
    }
}

const fn n(
    code: &'static str,
    name: &'static str,
    unit: &'static str,
    decimals: usize,
    male: Range,
    female: Range,
    spread: f64,
) -> LabTest {
    LabTest {
        code,
        name,
        unit,
        decimals,
        male,
        female,
        spread,
        qualitative: false,
    }
}

/// Laboratory tests, indexed by the constants of [`t`].
pub(crate) const LAB_TESTS: [LabTest; 30] = [
    n(
        "WBC",
        "白细胞计数",
        "×10^9/L",
        2,
        r(3.5, 9.5, "3.5-9.5"),
        r(3.5, 9.5, "3.5-9.5"),
        1.2,
    ),
    n(
        "RBC",
        "红细胞计数",
        "×10^12/L",
        2,
        r(4.3, 5.8, "4.3-5.8"),
        r(3.8, 5.1, "3.8-5.1"),
        0.2,
    ),
    n(
        "HGB",
        "血红蛋白",
        "g/L",
        0,
        r(130.0, 175.0, "130-175"),
        r(115.0, 150.0, "115-150"),
        0.15,
    ),
    n(
        "PLT",
        "血小板计数",
        "×10^9/L",
        0,
        r(125.0, 350.0, "125-350"),
        r(125.0, 350.0, "125-350"),
        0.8,
    ),
    n(
        "ALT",
        "丙氨酸氨基转移酶",
        "U/L",
        0,
        r(9.0, 50.0, "9-50"),
        r(7.0, 40.0, "7-40"),
        5.0,
    ),
    n(
        "AST",
        "天门冬氨酸氨基转移酶",
        "U/L",
        0,
        r(15.0, 40.0, "15-40"),
        r(13.0, 35.0, "13-35"),
        4.0,
    ),
    n(
        "TBIL",
        "总胆红素",
        "μmol/L",
        1,
        r(3.4, 20.5, "3.4-20.5"),
        r(3.4, 20.5, "3.4-20.5"),
        4.0,
    ),
    n(
        "ALB",
        "白蛋白",
        "g/L",
        1,
        r(40.0, 55.0, "40-55"),
        r(40.0, 55.0, "40-55"),
        0.1,
    ),
    n(
        "CREA",
        "肌酐",
        "μmol/L",
        0,
        r(57.0, 111.0, "57-111"),
        r(41.0, 81.0, "41-81"),
        6.0,
    ),
    n(
        "UREA",
        "尿素",
        "mmol/L",
        2,
        r(3.1, 8.0, "3.1-8.0"),
        r(2.6, 7.5, "2.6-7.5"),
        3.0,
    ),
    n(
        "UA",
        "尿酸",
        "μmol/L",
        0,
        r(208.0, 428.0, "208-428"),
        r(155.0, 357.0, "155-357"),
        0.7,
    ),
    n(
        "TC",
        "总胆固醇",
        "mmol/L",
        2,
        rg(0.0, 5.2, 3.1, 5.1, "<5.20"),
        rg(0.0, 5.2, 3.1, 5.1, "<5.20"),
        0.6,
    ),
    n(
        "TG",
        "甘油三酯",
        "mmol/L",
        2,
        rg(0.0, 1.7, 0.5, 1.65, "<1.70"),
        rg(0.0, 1.7, 0.5, 1.65, "<1.70"),
        2.5,
    ),
    n(
        "HDL-C",
        "高密度脂蛋白胆固醇",
        "mmol/L",
        2,
        rg(1.04, 9.9, 1.05, 1.9, ">1.04"),
        rg(1.04, 9.9, 1.1, 2.1, ">1.04"),
        0.0,
    ),
    n(
        "LDL-C",
        "低密度脂蛋白胆固醇",
        "mmol/L",
        2,
        rg(0.0, 3.4, 1.6, 3.35, "<3.40"),
        rg(0.0, 3.4, 1.6, 3.35, "<3.40"),
        0.8,
    ),
    n(
        "GLU",
        "空腹血糖",
        "mmol/L",
        2,
        r(3.9, 6.1, "3.9-6.1"),
        r(3.9, 6.1, "3.9-6.1"),
        1.6,
    ),
    n(
        "HbA1c",
        "糖化血红蛋白",
        "%",
        1,
        rg(4.0, 6.0, 4.3, 5.9, "4.0-6.0"),
        rg(4.0, 6.0, 4.3, 5.9, "4.0-6.0"),
        0.9,
    ),
    n(
        "K",
        "钾",
        "mmol/L",
        2,
        r(3.5, 5.3, "3.5-5.3"),
        r(3.5, 5.3, "3.5-5.3"),
        0.3,
    ),
    n(
        "Na",
        "钠",
        "mmol/L",
        1,
        r(137.0, 147.0, "137-147"),
        r(137.0, 147.0, "137-147"),
        0.05,
    ),
    n(
        "CRP",
        "C反应蛋白",
        "mg/L",
        2,
        rg(0.0, 10.0, 0.2, 6.0, "0-10"),
        rg(0.0, 10.0, 0.2, 6.0, "0-10"),
        12.0,
    ),
    q("HBsAg", "乙型肝炎病毒表面抗原"),
    q("Anti-HCV", "丙型肝炎病毒抗体"),
    q("Anti-HIV", "人类免疫缺陷病毒抗体"),
    q("TP-Ab", "梅毒螺旋体抗体"),
    n(
        "CEA",
        "癌胚抗原",
        "ng/mL",
        2,
        rg(0.0, 5.0, 0.3, 3.5, "0-5"),
        rg(0.0, 5.0, 0.3, 3.5, "0-5"),
        20.0,
    ),
    n(
        "AFP",
        "甲胎蛋白",
        "ng/mL",
        2,
        rg(0.0, 7.0, 0.8, 5.5, "0-7"),
        rg(0.0, 7.0, 0.8, 5.5, "0-7"),
        60.0,
    ),
    n(
        "TSH",
        "促甲状腺激素",
        "mIU/L",
        3,
        r(0.27, 4.2, "0.27-4.2"),
        r(0.27, 4.2, "0.27-4.2"),
        6.0,
    ),
    n(
        "FT4",
        "游离甲状腺素",
        "pmol/L",
        2,
        r(12.0, 22.0, "12-22"),
        r(12.0, 22.0, "12-22"),
        1.5,
    ),
    n(
        "CD4",
        "CD4+T淋巴细胞计数",
        "个/μL",
        0,
        rg(410.0, 1590.0, 480.0, 1300.0, "410-1590"),
        rg(410.0, 1590.0, 480.0, 1300.0, "410-1590"),
        0.2,
    ),
    n(
        "tPSA",
        "总前列腺特异性抗原",
        "ng/mL",
        3,
        rg(0.0, 4.0, 0.2, 3.2, "0-4"),
        rg(0.0, 4.0, 0.2, 3.2, "0-4"),
        25.0,
    ),
];

/// A diagnosis and how visits for it look.
#[derive(Debug)]
pub(crate) struct Diagnosis {
    /// ICD-10 code.
    pub code: &'static str,
    /// Chinese name.
    pub name: &'static str,
    /// Relative frequency among visits.
    pub weight: u64,
    /// Relative prevalence as a person's long-term condition; 0 for acute conditions. Long-term
    /// conditions recur across a person's visits and qualify for 门诊慢特病.
    pub chronic: u64,
    /// Department.
    pub dept: &'static str,
    /// Children under 14 are seen in 儿科 instead.
    pub peds: bool,
    /// Sex restriction.
    pub sex: Option<Sex>,
    /// Youngest age.
    pub min_age: u32,
    /// Oldest age.
    pub max_age: u32,
    /// Admission probability, ‰.
    pub inpatient: u32,
    /// Emergency probability of the visits that are not admissions, ‰.
    pub emergency: u32,
    /// Mean length of stay, days.
    pub los: u32,
    /// Typical outpatient cost, yuan.
    pub op_fee: u64,
    /// Inpatient cost per day, yuan.
    pub ip_day: u64,
    /// Inpatient one-off cost (surgery, delivery, devices), yuan.
    pub ip_fixed: u64,
    /// Lab panels ordered for it.
    pub panels: u16,
    /// Abnormal results it usually shows.
    pub abnormal: &'static [(usize, Dir)],
}

const BASE: Diagnosis = Diagnosis {
    code: "",
    name: "",
    weight: 0,
    chronic: 0,
    dept: "全科医学科",
    peds: false,
    sex: None,
    min_age: 0,
    max_age: 95,
    inpatient: 0,
    emergency: 20,
    los: 7,
    op_fee: 180,
    ip_day: 1000,
    ip_fixed: 0,
    panels: 0,
    abnormal: &[],
};

const M: Option<Sex> = Some(Sex::Male);
const F: Option<Sex> = Some(Sex::Female);
use Dir::{High as H, Low as L, Positive as P};

/// Index of 急性上呼吸道感染, the fallback when no other diagnosis fits a person.
pub(crate) const FALLBACK_DIAGNOSIS: usize = 2;

/// The diagnoses.
pub(crate) static DIAGNOSES: &[Diagnosis] = &[
    Diagnosis {
        code: "I10",
        name: "原发性高血压",
        weight: 900,
        chronic: 350,
        dept: "心血管内科",
        min_age: 25,
        inpatient: 30,
        emergency: 10,
        op_fee: 180,
        ip_day: 900,
        panels: LIPID | RENAL | ELECTROLYTE,
        ..BASE
    },
    Diagnosis {
        code: "E11.9",
        name: "2型糖尿病",
        weight: 650,
        chronic: 180,
        dept: "内分泌科",
        min_age: 25,
        inpatient: 40,
        emergency: 5,
        los: 9,
        op_fee: 260,
        ip_day: 900,
        panels: GLUCOSE | LIPID | RENAL,
        abnormal: &[(t::GLU, H), (t::HBA1C, H), (t::TG, H)],
        ..BASE
    },
    Diagnosis {
        code: "J06.9",
        name: "急性上呼吸道感染",
        weight: 1100,
        dept: "呼吸内科",
        peds: true,
        inpatient: 5,
        emergency: 80,
        los: 4,
        op_fee: 110,
        ip_day: 700,
        panels: CBC,
        ..BASE
    },
    Diagnosis {
        code: "J20.9",
        name: "急性支气管炎",
        weight: 380,
        dept: "呼吸内科",
        peds: true,
        inpatient: 40,
        emergency: 60,
        los: 6,
        op_fee: 160,
        ip_day: 800,
        panels: CBC | panel::CRP,
        abnormal: &[(t::WBC, H), (t::CRP, H)],
        ..BASE
    },
    Diagnosis {
        code: "J18.9",
        name: "肺炎",
        weight: 220,
        dept: "呼吸内科",
        peds: true,
        inpatient: 450,
        emergency: 200,
        los: 8,
        op_fee: 300,
        ip_day: 1300,
        panels: CBC | panel::CRP,
        abnormal: &[(t::WBC, H), (t::CRP, H)],
        ..BASE
    },
    Diagnosis {
        code: "K29.7",
        name: "胃炎",
        weight: 380,
        dept: "消化内科",
        min_age: 10,
        inpatient: 20,
        emergency: 40,
        los: 5,
        op_fee: 190,
        ip_day: 900,
        panels: CBC,
        ..BASE
    },
    Diagnosis {
        code: "K21.0",
        name: "反流性食管炎",
        weight: 90,
        dept: "消化内科",
        min_age: 18,
        inpatient: 30,
        op_fee: 220,
        ..BASE
    },
    Diagnosis {
        code: "K25.9",
        name: "胃溃疡",
        weight: 60,
        dept: "消化内科",
        min_age: 18,
        inpatient: 150,
        emergency: 80,
        op_fee: 250,
        ip_day: 1100,
        panels: CBC,
        abnormal: &[(t::HGB, L)],
        ..BASE
    },
    Diagnosis {
        code: "K52.9",
        name: "非感染性胃肠炎",
        weight: 180,
        dept: "消化内科",
        peds: true,
        inpatient: 40,
        emergency: 200,
        los: 4,
        op_fee: 150,
        ip_day: 800,
        panels: CBC,
        ..BASE
    },
    Diagnosis {
        code: "I25.1",
        name: "动脉硬化性心脏病",
        weight: 320,
        chronic: 70,
        dept: "心血管内科",
        min_age: 40,
        inpatient: 180,
        emergency: 60,
        los: 8,
        op_fee: 280,
        ip_day: 2200,
        ip_fixed: 8000,
        panels: LIPID | CBC | RENAL | ELECTROLYTE,
        abnormal: &[(t::LDL, H)],
        ..BASE
    },
    Diagnosis {
        code: "I63.9",
        name: "脑梗死",
        weight: 170,
        chronic: 35,
        dept: "神经内科",
        min_age: 40,
        inpatient: 700,
        emergency: 300,
        los: 12,
        op_fee: 300,
        ip_day: 1600,
        panels: LIPID | GLUCOSE | CBC,
        abnormal: &[(t::LDL, H)],
        ..BASE
    },
    Diagnosis {
        code: "I50.9",
        name: "心力衰竭",
        weight: 70,
        chronic: 15,
        dept: "心血管内科",
        min_age: 45,
        inpatient: 600,
        emergency: 300,
        los: 9,
        op_fee: 320,
        ip_day: 1700,
        panels: CBC | RENAL | ELECTROLYTE,
        ..BASE
    },
    Diagnosis {
        code: "I48.9",
        name: "心房颤动",
        weight: 60,
        chronic: 10,
        dept: "心血管内科",
        min_age: 40,
        inpatient: 250,
        emergency: 150,
        los: 6,
        op_fee: 260,
        ip_day: 2000,
        ip_fixed: 5000,
        panels: CBC | ELECTROLYTE,
        ..BASE
    },
    Diagnosis {
        code: "E78.5",
        name: "高脂血症",
        weight: 280,
        chronic: 90,
        dept: "心血管内科",
        min_age: 20,
        inpatient: 5,
        op_fee: 200,
        panels: LIPID | LIVER,
        abnormal: &[(t::TC, H), (t::TG, H), (t::LDL, H)],
        ..BASE
    },
    Diagnosis {
        code: "J44.9",
        name: "慢性阻塞性肺病",
        weight: 130,
        chronic: 40,
        dept: "呼吸内科",
        min_age: 40,
        inpatient: 300,
        emergency: 150,
        los: 10,
        op_fee: 260,
        ip_day: 1300,
        panels: CBC | panel::CRP,
        ..BASE
    },
    Diagnosis {
        code: "J45.9",
        name: "哮喘",
        weight: 80,
        chronic: 15,
        dept: "呼吸内科",
        peds: true,
        inpatient: 120,
        emergency: 200,
        los: 6,
        op_fee: 230,
        ip_day: 1100,
        panels: CBC,
        ..BASE
    },
    Diagnosis {
        code: "M54.5",
        name: "腰痛",
        weight: 200,
        dept: "骨科",
        min_age: 18,
        inpatient: 30,
        op_fee: 180,
        ip_day: 900,
        ..BASE
    },
    Diagnosis {
        code: "M17.9",
        name: "膝关节病",
        weight: 160,
        chronic: 40,
        dept: "骨科",
        min_age: 40,
        inpatient: 80,
        los: 10,
        op_fee: 210,
        ip_day: 1100,
        ip_fixed: 5000,
        ..BASE
    },
    Diagnosis {
        code: "M81.9",
        name: "骨质疏松",
        weight: 60,
        chronic: 30,
        dept: "内分泌科",
        min_age: 45,
        inpatient: 20,
        op_fee: 250,
        ..BASE
    },
    Diagnosis {
        code: "M10.9",
        name: "痛风",
        weight: 60,
        chronic: 15,
        dept: "风湿免疫科",
        min_age: 18,
        inpatient: 30,
        emergency: 80,
        op_fee: 200,
        panels: RENAL,
        abnormal: &[(t::UA, H)],
        ..BASE
    },
    Diagnosis {
        code: "K80.2",
        name: "胆囊结石",
        weight: 90,
        dept: "普外科",
        min_age: 18,
        inpatient: 350,
        emergency: 100,
        los: 6,
        op_fee: 230,
        ip_day: 1500,
        ip_fixed: 9000,
        panels: CBC | LIVER,
        ..BASE
    },
    Diagnosis {
        code: "K35.8",
        name: "急性阑尾炎",
        weight: 60,
        dept: "普外科",
        min_age: 5,
        inpatient: 950,
        emergency: 500,
        los: 5,
        op_fee: 300,
        ip_day: 1500,
        ip_fixed: 7000,
        panels: CBC | panel::CRP,
        abnormal: &[(t::WBC, H), (t::CRP, H)],
        ..BASE
    },
    Diagnosis {
        code: "K40.9",
        name: "腹股沟疝",
        weight: 40,
        dept: "普外科",
        inpatient: 600,
        los: 4,
        op_fee: 200,
        ip_day: 1300,
        ip_fixed: 6000,
        panels: CBC,
        ..BASE
    },
    Diagnosis {
        code: "N39.0",
        name: "泌尿道感染",
        weight: 130,
        dept: "泌尿外科",
        min_age: 5,
        inpatient: 40,
        emergency: 100,
        los: 5,
        op_fee: 180,
        ip_day: 900,
        panels: CBC | panel::CRP,
        abnormal: &[(t::WBC, H)],
        ..BASE
    },
    Diagnosis {
        code: "N20.0",
        name: "肾结石",
        weight: 80,
        dept: "泌尿外科",
        min_age: 18,
        inpatient: 200,
        emergency: 250,
        los: 5,
        op_fee: 300,
        ip_day: 1400,
        ip_fixed: 8000,
        panels: RENAL,
        ..BASE
    },
    Diagnosis {
        code: "N40",
        name: "前列腺增生",
        weight: 100,
        dept: "泌尿外科",
        sex: M,
        min_age: 50,
        inpatient: 120,
        op_fee: 250,
        ip_day: 1300,
        ip_fixed: 6000,
        panels: panel::PSA,
        ..BASE
    },
    Diagnosis {
        code: "H52.1",
        name: "近视",
        weight: 110,
        dept: "眼科",
        min_age: 6,
        max_age: 60,
        op_fee: 120,
        ..BASE
    },
    Diagnosis {
        code: "H25.9",
        name: "老年性白内障",
        weight: 80,
        dept: "眼科",
        min_age: 55,
        inpatient: 450,
        los: 3,
        op_fee: 150,
        ip_day: 1200,
        ip_fixed: 5000,
        ..BASE
    },
    Diagnosis {
        code: "H10.9",
        name: "结膜炎",
        weight: 60,
        dept: "眼科",
        op_fee: 90,
        ..BASE
    },
    Diagnosis {
        code: "K02.9",
        name: "龋病",
        weight: 160,
        dept: "口腔科",
        min_age: 3,
        emergency: 0,
        op_fee: 220,
        ..BASE
    },
    Diagnosis {
        code: "K05.1",
        name: "慢性牙龈炎",
        weight: 70,
        dept: "口腔科",
        min_age: 12,
        emergency: 0,
        op_fee: 200,
        ..BASE
    },
    Diagnosis {
        code: "L30.9",
        name: "皮炎",
        weight: 130,
        dept: "皮肤科",
        op_fee: 130,
        ..BASE
    },
    Diagnosis {
        code: "L50.9",
        name: "荨麻疹",
        weight: 70,
        dept: "皮肤科",
        peds: true,
        emergency: 60,
        op_fee: 140,
        ..BASE
    },
    Diagnosis {
        code: "R51",
        name: "头痛",
        weight: 80,
        dept: "神经内科",
        min_age: 10,
        emergency: 150,
        op_fee: 200,
        ..BASE
    },
    Diagnosis {
        code: "G47.0",
        name: "失眠",
        weight: 70,
        dept: "神经内科",
        min_age: 18,
        op_fee: 210,
        ..BASE
    },
    Diagnosis {
        code: "E03.9",
        name: "甲状腺功能减退症",
        weight: 60,
        chronic: 15,
        dept: "内分泌科",
        min_age: 10,
        op_fee: 200,
        panels: THYROID,
        abnormal: &[(t::TSH, H), (t::FT4, L)],
        ..BASE
    },
    Diagnosis {
        code: "E05.9",
        name: "甲状腺毒症",
        weight: 35,
        chronic: 5,
        dept: "内分泌科",
        min_age: 12,
        op_fee: 230,
        panels: THYROID,
        abnormal: &[(t::TSH, L), (t::FT4, H)],
        ..BASE
    },
    Diagnosis {
        code: "D64.9",
        name: "贫血",
        weight: 60,
        dept: "血液科",
        inpatient: 60,
        op_fee: 200,
        panels: CBC,
        abnormal: &[(t::HGB, L), (t::RBC, L)],
        ..BASE
    },
    Diagnosis {
        code: "N18.9",
        name: "慢性肾脏病",
        weight: 55,
        chronic: 15,
        dept: "肾内科",
        min_age: 18,
        inpatient: 200,
        los: 10,
        op_fee: 400,
        ip_day: 1300,
        panels: RENAL | CBC | ELECTROLYTE,
        abnormal: &[(t::CREA, H), (t::UREA, H), (t::HGB, L)],
        ..BASE
    },
    Diagnosis {
        code: "S52.5",
        name: "桡骨下端骨折",
        weight: 40,
        dept: "骨科",
        min_age: 3,
        inpatient: 300,
        emergency: 600,
        op_fee: 400,
        ip_day: 1300,
        ip_fixed: 9000,
        panels: CBC,
        ..BASE
    },
    Diagnosis {
        code: "S06.0",
        name: "脑震荡",
        weight: 20,
        dept: "神经外科",
        min_age: 3,
        inpatient: 300,
        emergency: 800,
        los: 5,
        op_fee: 500,
        ip_day: 1300,
        panels: CBC,
        ..BASE
    },
    Diagnosis {
        code: "T14.1",
        name: "开放性伤口",
        weight: 70,
        dept: "外科",
        inpatient: 20,
        emergency: 700,
        op_fee: 200,
        ..BASE
    },
    Diagnosis {
        code: "O80.0",
        name: "单胎顺产",
        weight: 60,
        dept: "妇产科",
        sex: F,
        min_age: 18,
        max_age: 45,
        inpatient: 1000,
        los: 3,
        ip_day: 1200,
        ip_fixed: 2500,
        panels: CBC | INFECTION,
        ..BASE
    },
    Diagnosis {
        code: "O82.9",
        name: "剖宫产",
        weight: 40,
        dept: "妇产科",
        sex: F,
        min_age: 18,
        max_age: 45,
        inpatient: 1000,
        los: 5,
        ip_day: 1500,
        ip_fixed: 6000,
        panels: CBC | INFECTION,
        ..BASE
    },
    Diagnosis {
        code: "Z34.9",
        name: "正常妊娠监督",
        weight: 90,
        dept: "妇产科",
        sex: F,
        min_age: 18,
        max_age: 45,
        emergency: 0,
        op_fee: 250,
        panels: CBC | GLUCOSE | INFECTION,
        ..BASE
    },
    Diagnosis {
        code: "N97.9",
        name: "女性不孕症",
        weight: 20,
        dept: "妇产科",
        sex: F,
        min_age: 22,
        max_age: 45,
        inpatient: 50,
        emergency: 0,
        los: 3,
        op_fee: 600,
        ip_fixed: 3000,
        ..BASE
    },
    Diagnosis {
        code: "N76.0",
        name: "急性阴道炎",
        weight: 60,
        dept: "妇产科",
        sex: F,
        min_age: 16,
        max_age: 75,
        op_fee: 150,
        ..BASE
    },
    Diagnosis {
        code: "K64.9",
        name: "痔",
        weight: 50,
        dept: "肛肠科",
        min_age: 18,
        inpatient: 300,
        los: 5,
        op_fee: 180,
        ip_fixed: 3000,
        ..BASE
    },
    Diagnosis {
        code: "K60.3",
        name: "肛瘘",
        weight: 12,
        dept: "肛肠科",
        min_age: 18,
        inpatient: 700,
        los: 6,
        ip_fixed: 4000,
        ..BASE
    },
    Diagnosis {
        code: "B24",
        name: "人类免疫缺陷病毒病",
        weight: 8,
        chronic: 3,
        dept: "感染科",
        min_age: 15,
        inpatient: 100,
        los: 14,
        op_fee: 350,
        ip_day: 1500,
        panels: CBC | LIVER | panel::CD4 | INFECTION,
        abnormal: &[(t::HIV, P), (t::CD4, L)],
        ..BASE
    },
    Diagnosis {
        code: "B18.1",
        name: "慢性乙型病毒性肝炎",
        weight: 45,
        chronic: 25,
        dept: "感染科",
        min_age: 10,
        inpatient: 80,
        los: 12,
        op_fee: 400,
        ip_day: 1200,
        panels: LIVER | INFECTION | CBC,
        abnormal: &[(t::HBSAG, P), (t::ALT, H), (t::AST, H)],
        ..BASE
    },
    Diagnosis {
        code: "B18.2",
        name: "慢性丙型病毒性肝炎",
        weight: 9,
        chronic: 4,
        dept: "感染科",
        min_age: 15,
        inpatient: 60,
        op_fee: 450,
        panels: LIVER | INFECTION,
        abnormal: &[(t::HCV, P), (t::ALT, H)],
        ..BASE
    },
    Diagnosis {
        code: "B16.9",
        name: "急性乙型病毒性肝炎",
        weight: 4,
        dept: "感染科",
        min_age: 10,
        inpatient: 500,
        los: 14,
        op_fee: 400,
        ip_day: 1200,
        panels: LIVER | INFECTION,
        abnormal: &[(t::HBSAG, P), (t::ALT, H), (t::AST, H), (t::TBIL, H)],
        ..BASE
    },
    Diagnosis {
        code: "A15.0",
        name: "肺结核",
        weight: 15,
        chronic: 3,
        dept: "结核病科",
        min_age: 10,
        inpatient: 300,
        los: 14,
        op_fee: 350,
        ip_day: 1200,
        panels: CBC | LIVER | panel::CRP,
        abnormal: &[(t::CRP, H)],
        ..BASE
    },
    Diagnosis {
        code: "A51.9",
        name: "早期梅毒",
        weight: 5,
        dept: "皮肤性病科",
        min_age: 16,
        emergency: 0,
        op_fee: 300,
        panels: INFECTION,
        abnormal: &[(t::TP, P)],
        ..BASE
    },
    Diagnosis {
        code: "A53.9",
        name: "梅毒",
        weight: 8,
        dept: "皮肤性病科",
        min_age: 16,
        emergency: 0,
        op_fee: 300,
        panels: INFECTION,
        abnormal: &[(t::TP, P)],
        ..BASE
    },
    Diagnosis {
        code: "A54.9",
        name: "淋球菌感染",
        weight: 3,
        dept: "皮肤性病科",
        min_age: 16,
        emergency: 0,
        op_fee: 260,
        panels: INFECTION,
        ..BASE
    },
    Diagnosis {
        code: "A63.0",
        name: "尖锐湿疣",
        weight: 4,
        dept: "皮肤性病科",
        min_age: 16,
        emergency: 0,
        op_fee: 350,
        panels: INFECTION,
        ..BASE
    },
    Diagnosis {
        code: "U07.1",
        name: "新型冠状病毒感染",
        weight: 15,
        dept: "感染科",
        inpatient: 150,
        emergency: 200,
        los: 8,
        op_fee: 250,
        ip_day: 1300,
        panels: CBC | panel::CRP,
        ..BASE
    },
    Diagnosis {
        code: "J11.1",
        name: "流行性感冒",
        weight: 40,
        dept: "呼吸内科",
        peds: true,
        inpatient: 30,
        emergency: 150,
        los: 5,
        op_fee: 180,
        ip_day: 900,
        panels: CBC | panel::CRP,
        ..BASE
    },
    Diagnosis {
        code: "C16.9",
        name: "胃恶性肿瘤",
        weight: 12,
        chronic: 3,
        dept: "肿瘤科",
        min_age: 35,
        inpatient: 600,
        los: 14,
        op_fee: 1500,
        ip_day: 2200,
        ip_fixed: 25000,
        panels: CBC | TUMOR | LIVER,
        abnormal: &[(t::CEA, H), (t::HGB, L)],
        ..BASE
    },
    Diagnosis {
        code: "C22.0",
        name: "肝细胞癌",
        weight: 10,
        chronic: 3,
        dept: "肿瘤科",
        min_age: 35,
        inpatient: 600,
        los: 12,
        op_fee: 1800,
        ip_day: 2500,
        ip_fixed: 20000,
        panels: LIVER | TUMOR | INFECTION,
        abnormal: &[(t::AFP, H), (t::ALT, H), (t::HBSAG, P)],
        ..BASE
    },
    Diagnosis {
        code: "C34.9",
        name: "支气管和肺恶性肿瘤",
        weight: 20,
        chronic: 5,
        dept: "肿瘤科",
        min_age: 40,
        inpatient: 600,
        los: 12,
        op_fee: 2000,
        ip_day: 2400,
        ip_fixed: 25000,
        panels: CBC | TUMOR,
        abnormal: &[(t::CEA, H)],
        ..BASE
    },
    Diagnosis {
        code: "C50.9",
        name: "乳房恶性肿瘤",
        weight: 15,
        chronic: 4,
        dept: "肿瘤科",
        sex: F,
        min_age: 25,
        inpatient: 500,
        los: 10,
        op_fee: 1800,
        ip_day: 2000,
        ip_fixed: 15000,
        panels: CBC | TUMOR,
        abnormal: &[(t::CEA, H)],
        ..BASE
    },
    Diagnosis {
        code: "C18.9",
        name: "结肠恶性肿瘤",
        weight: 10,
        chronic: 3,
        dept: "肿瘤科",
        min_age: 35,
        inpatient: 600,
        los: 14,
        op_fee: 1500,
        ip_day: 2200,
        ip_fixed: 25000,
        panels: CBC | TUMOR,
        abnormal: &[(t::CEA, H), (t::HGB, L)],
        ..BASE
    },
    Diagnosis {
        code: "C61",
        name: "前列腺恶性肿瘤",
        weight: 5,
        chronic: 2,
        dept: "泌尿外科",
        sex: M,
        min_age: 50,
        inpatient: 400,
        los: 10,
        op_fee: 1200,
        ip_day: 2000,
        ip_fixed: 15000,
        panels: panel::PSA,
        abnormal: &[(t::PSA, H)],
        ..BASE
    },
    Diagnosis {
        code: "F20.9",
        name: "精神分裂症",
        weight: 12,
        chronic: 5,
        dept: "精神科",
        min_age: 15,
        inpatient: 250,
        los: 30,
        op_fee: 400,
        ip_day: 500,
        panels: CBC | LIVER,
        ..BASE
    },
    Diagnosis {
        code: "F32.9",
        name: "抑郁发作",
        weight: 30,
        chronic: 6,
        dept: "精神科",
        min_age: 12,
        inpatient: 60,
        los: 25,
        op_fee: 350,
        ip_day: 500,
        ..BASE
    },
    Diagnosis {
        code: "F31.9",
        name: "双相情感障碍",
        weight: 8,
        chronic: 2,
        dept: "精神科",
        min_age: 15,
        inpatient: 150,
        los: 28,
        op_fee: 380,
        ip_day: 500,
        panels: CBC | LIVER,
        ..BASE
    },
    Diagnosis {
        code: "F41.9",
        name: "焦虑障碍",
        weight: 25,
        dept: "精神科",
        min_age: 12,
        op_fee: 300,
        ..BASE
    },
    Diagnosis {
        code: "F10.2",
        name: "酒精依赖综合征",
        weight: 5,
        dept: "精神科",
        min_age: 18,
        inpatient: 250,
        los: 20,
        op_fee: 300,
        ip_day: 600,
        panels: LIVER,
        abnormal: &[(t::ALT, H), (t::AST, H)],
        ..BASE
    },
    Diagnosis {
        code: "F11.2",
        name: "阿片类依赖综合征",
        weight: 2,
        dept: "精神科",
        min_age: 18,
        inpatient: 300,
        los: 25,
        op_fee: 300,
        ip_day: 600,
        ..BASE
    },
    Diagnosis {
        code: "G30.9",
        name: "阿尔茨海默病",
        weight: 8,
        chronic: 4,
        dept: "神经内科",
        min_age: 60,
        inpatient: 150,
        los: 14,
        op_fee: 350,
        ip_day: 900,
        ..BASE
    },
    Diagnosis {
        code: "G20",
        name: "帕金森病",
        weight: 10,
        chronic: 6,
        dept: "神经内科",
        min_age: 50,
        inpatient: 100,
        los: 10,
        op_fee: 400,
        ip_day: 1100,
        ..BASE
    },
    Diagnosis {
        code: "G40.9",
        name: "癫痫",
        weight: 15,
        chronic: 6,
        dept: "神经内科",
        peds: true,
        inpatient: 150,
        emergency: 300,
        op_fee: 350,
        ip_day: 1100,
        ..BASE
    },
    Diagnosis {
        code: "Q21.1",
        name: "房间隔缺损",
        weight: 3,
        dept: "心胸外科",
        max_age: 40,
        inpatient: 500,
        ip_day: 1800,
        ip_fixed: 20000,
        panels: CBC,
        ..BASE
    },
    Diagnosis {
        code: "D56.9",
        name: "地中海贫血",
        weight: 4,
        chronic: 2,
        dept: "血液科",
        peds: true,
        inpatient: 150,
        los: 5,
        op_fee: 400,
        ip_day: 1200,
        panels: CBC,
        abnormal: &[(t::HGB, L)],
        ..BASE
    },
    Diagnosis {
        code: "D66",
        name: "血友病A",
        weight: 1,
        chronic: 1,
        dept: "血液科",
        sex: M,
        inpatient: 200,
        op_fee: 3000,
        ip_day: 3000,
        panels: CBC,
        ..BASE
    },
    Diagnosis {
        code: "G12.2",
        name: "运动神经元病",
        weight: 1,
        chronic: 1,
        dept: "神经内科",
        min_age: 40,
        inpatient: 300,
        los: 12,
        op_fee: 600,
        ip_day: 1200,
        ..BASE
    },
    Diagnosis {
        code: "G70.0",
        name: "重症肌无力",
        weight: 2,
        chronic: 1,
        dept: "神经内科",
        min_age: 10,
        inpatient: 250,
        los: 12,
        op_fee: 500,
        ip_day: 1400,
        ..BASE
    },
    Diagnosis {
        code: "M32.9",
        name: "系统性红斑狼疮",
        weight: 6,
        chronic: 2,
        dept: "风湿免疫科",
        sex: F,
        min_age: 12,
        inpatient: 200,
        los: 10,
        op_fee: 450,
        ip_day: 1300,
        panels: CBC | RENAL,
        abnormal: &[(t::WBC, L), (t::PLT, L)],
        ..BASE
    },
    Diagnosis {
        code: "N18.5",
        name: "慢性肾脏病5期",
        weight: 20,
        chronic: 5,
        dept: "肾内科",
        min_age: 18,
        inpatient: 250,
        los: 12,
        op_fee: 1200,
        ip_day: 1500,
        panels: RENAL | CBC | ELECTROLYTE,
        abnormal: &[(t::CREA, H), (t::UREA, H), (t::HGB, L), (t::K, H)],
        ..BASE
    },
];

/// True if the diagnosis can be given to a person of this sex and age.
pub(crate) fn fits(d: &Diagnosis, sex: Sex, age: u32) -> bool {
    d.sex.is_none_or(|s| s == sex) && (d.min_age..=d.max_age).contains(&age)
}

#[cfg(test)]
mod tests {
    use super::*;
    use medspace_validators::icd10;

    #[test]
    fn diagnosis_codes_are_valid_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for d in DIAGNOSES {
            assert!(icd10::is_code(d.code), "{}", d.code);
            assert!(seen.insert(d.code), "duplicate {}", d.code);
            assert!(
                d.weight > 0 && !d.name.is_empty() && d.dept.ends_with('科'),
                "{}",
                d.code
            );
            assert!(d.min_age <= d.max_age && d.inpatient <= 1000 && d.emergency <= 1000);
            assert!((1..=30).contains(&d.los));
            for (test, _) in d.abnormal {
                let in_panel = PANELS
                    .iter()
                    .any(|(bit, tests)| d.panels & bit != 0 && tests.contains(test));
                assert!(
                    in_panel,
                    "{}: abnormal test {} not ordered",
                    d.code, LAB_TESTS[*test].code
                );
            }
        }
        assert_eq!(DIAGNOSES[FALLBACK_DIAGNOSIS].code, "J06.9");
        let fb = &DIAGNOSES[FALLBACK_DIAGNOSIS];
        assert!(fb.sex.is_none() && fb.min_age == 0 && fb.max_age >= 95);
        assert!(DIAGNOSES.len() >= 60);
    }

    #[test]
    fn special_disease_categories_are_all_represented() {
        let cats: std::collections::HashSet<&str> = DIAGNOSES
            .iter()
            .filter_map(|d| icd10::special_disease_category(d.code))
            .collect();
        for c in icd10::SPECIAL_DISEASE_CATEGORIES {
            assert!(cats.contains(c), "no diagnosis of category {c}");
        }
        let total: u64 = DIAGNOSES.iter().map(|d| d.weight).sum();
        let special: u64 = DIAGNOSES
            .iter()
            .filter(|d| icd10::special_disease_category(d.code).is_some())
            .map(|d| d.weight)
            .sum();
        // Low but present: a few percent of visits.
        assert!(
            special * 100 / total >= 3 && special * 100 / total <= 15,
            "{special}/{total}"
        );
    }

    #[test]
    fn lab_test_constants_match_the_table() {
        assert_eq!(LAB_TESTS[t::HGB].code, "HGB");
        assert_eq!(LAB_TESTS[t::HGB].male.text, "130-175");
        assert_eq!(LAB_TESTS[t::GLU].name, "空腹血糖");
        assert_eq!(LAB_TESTS[t::GLU].unit, "mmol/L");
        assert_eq!(LAB_TESTS[t::ALT].unit, "U/L");
        assert_eq!(LAB_TESTS[t::HIV].code, "Anti-HIV");
        assert_eq!(LAB_TESTS[t::PSA].code, "tPSA");
        assert_eq!(LAB_TESTS[t::CD4].code, "CD4");
        for lt in &LAB_TESTS {
            for rg in [lt.male, lt.female] {
                assert!(
                    rg.lo <= rg.gen_lo && rg.gen_lo <= rg.gen_hi && rg.gen_hi <= rg.hi,
                    "{}",
                    lt.code
                );
            }
        }
        let mut in_panels: Vec<usize> = PANELS
            .iter()
            .flat_map(|(_, ts)| ts.iter().copied())
            .collect();
        in_panels.sort_unstable();
        assert_eq!(
            in_panels,
            (0..LAB_TESTS.len()).collect::<Vec<_>>(),
            "each test in exactly one panel"
        );
    }
}
