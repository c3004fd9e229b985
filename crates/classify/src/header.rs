//! Header-name evidence: what a column's name says it holds.
//!
//! GB/T 39725-2020 Table 1 (data items of each category) and Appendix G Table G.1 (data element
//! names of WS 363 / WS 371 and their identifier type) give the Chinese names; the English
//! snake_case names, the pinyin initials used in Chinese hospital and insurance systems
//! (`sfzh` 身份证号, `xm` 姓名, `zdbm` 诊断编码 …) and the NHSA 医保信息业务编码 field names
//! (`psn_no`, `setl_id`, `fixmedins_code` …) are this crate's lexicon.
//!
//! A name is matched in three passes, first hit wins:
//!
//! 1. the whole name, compared without case, separators or camelCase humps
//!    (`IdNumber` = `id_number` = `idnumber`), against [`EXACT`];
//! 2. Chinese names by substring, in the order of [`ZH`] (specific before general:
//!    诊断编码 before 诊断);
//! 3. English names by word (`patient_name` → `patient`, `name`) against [`TOKENS`].
//!
//! Names ending in a date or time word are dates whatever else they say (`diagnosis_date` is a
//! date, not a diagnosis); names ending in a type word (`payment_type`, 费用类别) name a coded
//! category, so only demographic codes (sex, marital status …) are recognised in them.

use medspace_core::{Category, SemanticType as S};

use crate::mapping::Kind;

const fn k(s: S) -> Kind {
    Kind::Sem(s)
}

/// Whole names, compared after [`compact`]. `(names, kind, confidence)`.
const EXACT: &[(&[&str], Kind, f64)] = &[
    // WS 363 data-element identifiers (DE…) as printed in GB/T 39725-2020 Appendix G Table G.1,
    // and a few more of WS 363-2011 used as column names in regional health platforms.
    (&["DE02.01.039.00"], k(S::PersonName), 0.95),
    (&["DE02.01.030.00"], k(S::IdNumber), 0.95),
    (
        &["DE02.01.010.00", "DE02.01.008.00"],
        k(S::MobilePhone),
        0.9,
    ),
    (&["DE02.01.012.00"], k(S::Email), 0.95),
    (
        &["DE02.01.009.04", "DE02.01.009.05", "DE02.01.009.06"],
        k(S::Address),
        0.9,
    ),
    (
        &["DE02.01.009.03", "DE02.01.003.00"],
        Kind::CountyCode,
        0.85,
    ),
    (&["DE02.01.047.00"], k(S::PostalCode), 0.9),
    (&["DE08.10.007.00"], k(S::Employer), 0.9),
    (
        &["DB02.01.005.01", "DE02.01.005.01", "DB02.01.005.02"],
        k(S::BirthDate),
        0.9,
    ),
    (&["DE02.01.040.00"], k(S::Sex), 0.9),
    (
        &[
            "DE01.00.007.00",
            "DE01.00.009.00",
            "DE01.00.014.00",
            "DE01.00.021.00",
        ],
        k(S::PatientId),
        0.9,
    ),
    (&["DE01.00.022.00"], k(S::SocialSecurityCard), 0.9),
    (&["DE01.00.001.00", "DE01.00.010.00"], k(S::RecordId), 0.85),
    (
        &[
            "DE02.01.035.00",
            "DE02.01.001.00",
            "DE05.01.034.00",
            "DE06.00.050.00",
            "DE09.00.060.00",
        ],
        k(S::Date),
        0.85,
    ),
    (&["DE02.10.067.00", "DE06.00.095.03"], k(S::Datetime), 0.85),
    (&["DE05.01.024.00"], k(S::DiagnosisCode), 0.9),
    (&["DE04.01.119.00"], k(S::FreeText), 0.85),
    // Report, specimen and order numbers: internal numbers (Table G.1 quasi-identifiers).
    (
        &[
            "lab_id",
            "test_id",
            "report_id",
            "report_no",
            "specimen_id",
            "specimen_no",
            "sample_id",
            "sample_no",
            "exam_id",
            "order_id",
            "order_no",
            "bgdh",
            "报告单号",
            "检验报告单号",
            "检查报告单号",
            "标本号",
            "医嘱号",
            "订单号",
        ],
        k(S::RecordId),
        0.85,
    ),
    (
        &["certno", "psn_certno", "cert_no_psn"],
        k(S::IdNumber),
        0.9,
    ),
    (
        &[
            "person_name",
            "patient_name",
            "full_name",
            "psn_name",
            "insured_name",
            "contact_name",
            "real_name",
            "xm",
            "xingming",
            "hzxm",
            "brxm",
            "cbrxm",
            "lxrxm",
            "姓名",
            "患者姓名",
            "病人姓名",
            "参保人姓名",
        ],
        k(S::PersonName),
        0.9,
    ),
    (&["name"], k(S::PersonName), 0.65),
    (
        &[
            "id_number",
            "id_no",
            "idno",
            "id_card",
            "id_card_no",
            "id_card_number",
            "citizen_id",
            "national_id",
            "cert_no",
            "certificate_no",
            "sfzh",
            "sfzhm",
            "sfz",
            "sfzjhm",
            "zjhm",
            "gmsfhm",
            "身份证号",
            "身份证号码",
            "公民身份号码",
            "证件号码",
            "身份证件号码",
        ],
        k(S::IdNumber),
        0.9,
    ),
    (
        &["passport", "passport_no", "hzhm", "护照号", "护照号码"],
        k(S::Passport),
        0.9,
    ),
    (
        &["travel_permit", "txzh", "通行证号"],
        k(S::TravelPermit),
        0.9,
    ),
    (
        &[
            "mobile",
            "mobile_phone",
            "mobile_no",
            "cellphone",
            "cell_phone",
            "phone",
            "phone_number",
            "phone_no",
            "telephone",
            "tel",
            "tel_no",
            "contact_phone",
            "sjh",
            "sjhm",
            "shouji",
            "lxdh",
            "dhhm",
            "手机",
            "手机号",
            "手机号码",
            "联系电话",
            "电话",
            "电话号码",
        ],
        k(S::MobilePhone),
        0.9,
    ),
    (&["dh"], k(S::MobilePhone), 0.75),
    (
        &["landline", "gddh", "固定电话", "座机"],
        k(S::LandlinePhone),
        0.9,
    ),
    (
        &[
            "email",
            "e_mail",
            "mail",
            "email_address",
            "dzyx",
            "邮箱",
            "电子邮箱",
        ],
        k(S::Email),
        0.9,
    ),
    (
        &[
            "address",
            "addr",
            "home_address",
            "contact_address",
            "zz",
            "xzz",
            "hjdz",
            "jtzz",
            "jzdz",
            "xxdz",
            "lxdz",
            "住址",
            "地址",
            "现住址",
            "户籍地址",
            "家庭住址",
            "居住地址",
            "详细地址",
        ],
        k(S::Address),
        0.9,
    ),
    (&["dz"], k(S::Address), 0.75),
    (
        &[
            "postal_code",
            "postcode",
            "zip",
            "zip_code",
            "yb",
            "yzbm",
            "邮编",
            "邮政编码",
        ],
        k(S::PostalCode),
        0.9,
    ),
    (
        &[
            "county_code",
            "county",
            "district_code",
            "division_code",
            "region_code",
            "adcode",
            "admdvs",
            "insuplc_admdvs",
            "xzqh",
            "xzqhdm",
            "xzqh_code",
            "qxdm",
            "qxbm",
            "tcq",
            "tcqdm",
            "tcqbm",
            "行政区划",
            "行政区划代码",
            "区县代码",
            "统筹区",
            "统筹区编码",
        ],
        Kind::CountyCode,
        0.9,
    ),
    (
        &["ip", "ip_address", "ip_addr", "ipdz"],
        k(S::IpAddress),
        0.9,
    ),
    (
        &[
            "license_plate",
            "plate_no",
            "plate_number",
            "cph",
            "车牌号",
            "车牌号码",
        ],
        k(S::LicensePlate),
        0.9,
    ),
    (
        &[
            "bank_card",
            "bank_card_no",
            "bank_account",
            "yhkh",
            "yhzh",
            "银行卡号",
            "银行账号",
        ],
        k(S::BankCard),
        0.9,
    ),
    (
        &[
            "social_security_no",
            "social_security_card",
            "insurance_card_no",
            "medical_card_no",
            "ssn",
            "sbkh",
            "ybkh",
            "shbzh",
            "社保卡号",
            "医保卡号",
            "社会保障号码",
            "社会保障卡号",
        ],
        k(S::SocialSecurityCard),
        0.9,
    ),
    (
        &["uscc", "credit_code", "tyshxydm", "统一社会信用代码"],
        k(S::Uscc),
        0.9,
    ),
    (
        &[
            "birth_date",
            "birthdate",
            "birthday",
            "dob",
            "date_of_birth",
            "csrq",
            "csny",
            "brdy",
            "出生日期",
            "出生年月",
        ],
        k(S::BirthDate),
        0.9,
    ),
    (
        &[
            "ryrq",
            "cyrq",
            "jzrq",
            "jsrq",
            "swrq",
            "zdrq",
            "ghrq",
            "visit_date",
            "settle_date",
        ],
        k(S::Date),
        0.85,
    ),
    (
        &[
            "admission_time",
            "discharge_time",
            "adm_time",
            "dscg_time",
            "setl_time",
            "begntime",
            "endtime",
            "rysj",
            "cysj",
            "jzsj",
            "jssj",
            "ghsj",
            "入院时间",
            "出院时间",
        ],
        k(S::Datetime),
        0.9,
    ),
    (&["age", "nl", "nianling", "年龄"], k(S::Age), 0.9),
    (
        &[
            "sex", "gender", "gend", "xb", "xbdm", "xingbie", "sex_code", "性别",
        ],
        k(S::Sex),
        0.9,
    ),
    (
        &[
            "ethnicity",
            "ethnic",
            "nation",
            "naty",
            "mz",
            "minzu",
            "民族",
        ],
        k(S::Ethnicity),
        0.85,
    ),
    (
        &["marital_status", "marriage", "mrg_stas", "hyzk", "婚姻状况"],
        k(S::MaritalStatus),
        0.9,
    ),
    (
        &["occupation", "job", "profession", "zhiye", "职业"],
        k(S::Occupation),
        0.9,
    ),
    (
        &[
            "employer",
            "employer_name",
            "work_unit",
            "company",
            "emp_name",
            "gzdw",
            "gzdwmc",
            "dwmc",
            "工作单位",
        ],
        k(S::Employer),
        0.9,
    ),
    (
        &[
            "department",
            "dept",
            "dept_name",
            "dept_code",
            "adm_dept",
            "dscg_dept",
            "caty",
            "ks",
            "ksmc",
            "ksdm",
            "ksbm",
            "科室",
            "科别",
        ],
        k(S::Department),
        0.9,
    ),
    (
        &[
            "institution_code",
            "hospital_code",
            "org_code",
            "provider_code",
            "fixmedins_code",
            "medins_code",
            "yljgdm",
            "yljgbm",
            "jgdm",
            "jgbm",
            "yydm",
            "yybm",
        ],
        k(S::InstitutionCode),
        0.9,
    ),
    (
        &[
            "institution_name",
            "hospital_name",
            "hospital",
            "org_name",
            "fixmedins_name",
            "medins_name",
            "yljgmc",
            "jgmc",
            "yymc",
        ],
        k(S::InstitutionName),
        0.9,
    ),
    (
        &[
            "person_id",
            "patient_id",
            "psn_no",
            "member_id",
            "insured_id",
            "mrn",
            "hzid",
            "brid",
            "grbh",
            "rybh",
            "cbrbh",
            "zyh",
            "jkkh",
            "jkdabh",
            "住院号",
        ],
        k(S::PatientId),
        0.9,
    ),
    (&["pid"], k(S::PatientId), 0.7),
    (
        &[
            "record_id",
            "settlement_id",
            "setl_id",
            "visit_id",
            "encounter_id",
            "claim_id",
            "claim_no",
            "case_id",
            "mdtrt_id",
            "jsid",
            "jsbh",
            "jslsh",
            "jzid",
            "jzlsh",
            "mzh",
            "bah",
            "djh",
            "fph",
            "门诊号",
            "病案号",
        ],
        k(S::RecordId),
        0.9,
    ),
    (&["id", "lsh"], k(S::RecordId), 0.6),
    (
        &[
            "diagnosis_code",
            "diag_code",
            "dx_code",
            "icd",
            "icd10",
            "icd_code",
            "icd10_code",
            "dise_codg",
            "diag_codg",
            "zdbm",
            "zddm",
            "jbbm",
            "jbdm",
            "zyzdbm",
            "cyzdbm",
        ],
        k(S::DiagnosisCode),
        0.9,
    ),
    (
        &[
            "diagnosis",
            "diagnosis_name",
            "diag_name",
            "dx",
            "dx_name",
            "disease",
            "disease_name",
            "dise_name",
            "zdmc",
            "jbmc",
            "zd",
            "zyzd",
            "cyzd",
            "ryzd",
        ],
        k(S::DiagnosisName),
        0.9,
    ),
    (
        &[
            "operation_code",
            "surgery_code",
            "procedure_code",
            "oprn_oprt_code",
            "icd9",
            "ssbm",
            "ssdm",
            "ssczbm",
        ],
        k(S::OperationCode),
        0.9,
    ),
    (
        &["drug_code", "drug_name", "ypbm", "ypdm", "ypmc"],
        k(S::DrugCode),
        0.9,
    ),
    (&["consumable_code", "hcbm"], k(S::ConsumableCode), 0.9),
    (
        &[
            "item_code",
            "service_code",
            "hilist_code",
            "med_list_codg",
            "xmbm",
            "xmdm",
            "sfxmbm",
        ],
        k(S::ServiceItemCode),
        0.9,
    ),
    (
        &["lab_result", "test_result", "jyjg", "jcjg"],
        k(S::LabResult),
        0.9,
    ),
    (&["result"], k(S::LabResult), 0.6),
    (
        &[
            "fingerprint",
            "fingerprint_template",
            "finger_print",
            "iris",
            "iris_code",
            "iris_template",
            "face_template",
            "face_feature",
            "face_features",
            "face_embedding",
            "facial_features",
            "voiceprint",
            "voice_print",
            "palmprint",
            "palm_print",
            "vein_pattern",
            "biometric",
            "biometrics",
            "biometric_template",
            "指纹",
            "指纹特征",
            "指纹模板",
            "虹膜",
            "虹膜特征",
            "人脸特征",
            "人脸模板",
            "面部特征",
            "声纹",
            "声纹特征",
            "掌纹",
            "指静脉",
            "掌静脉",
            "生物特征",
            "生物识别信息",
        ],
        k(S::Biometric),
        0.95,
    ),
    (
        &[
            "amount",
            "fee",
            "total_fee",
            "cost",
            "price",
            "payment",
            "medfee_sumamt",
            "fund_pay_sumamt",
            "psn_pay",
            "hifp_pay",
            "zfy",
            "zje",
            "jjzf",
            "grzf",
            "grzfje",
            "tczf",
            "zfje",
            "ybzf",
            "ybje",
        ],
        k(S::Amount),
        0.9,
    ),
    (&["fy", "je"], k(S::Amount), 0.8),
    (
        &[
            "note",
            "notes",
            "remark",
            "remarks",
            "comment",
            "comments",
            "memo",
            "description",
            "chief_complaint",
            "bz",
            "beizhu",
            "zs",
            "xbs",
            "jws",
            "备注",
            "主诉",
            "现病史",
            "既往史",
        ],
        k(S::FreeText),
        0.85,
    ),
];

/// Chinese name fragments, in order (specific before general). `(fragments, kind, confidence)`.
const ZH: &[(&[&str], Kind, f64)] = &[
    (&["邮箱", "电子邮件", "邮件"], k(S::Email), 0.9),
    (&["ip地址"], k(S::IpAddress), 0.9),
    (
        &["身份证", "身份号码", "公民身份", "证件号"],
        k(S::IdNumber),
        0.9,
    ),
    (&["护照"], k(S::Passport), 0.9),
    (&["通行证"], k(S::TravelPermit), 0.85),
    (
        &["银行卡", "银行账号", "银行帐号", "开户账号"],
        k(S::BankCard),
        0.9,
    ),
    (
        &["社保卡", "医保卡", "社会保障卡", "社会保障号"],
        k(S::SocialSecurityCard),
        0.9,
    ),
    (
        &[
            "健康卡",
            "健康档案",
            "住院号",
            "患者编号",
            "病人编号",
            "个人编号",
            "人员编号",
            "患者id",
            "病人id",
            "参保人编号",
            "就诊卡号",
        ],
        k(S::PatientId),
        0.85,
    ),
    (&["车牌"], k(S::LicensePlate), 0.9),
    (&["信用代码"], k(S::Uscc), 0.9),
    (&["手机", "移动电话"], k(S::MobilePhone), 0.9),
    (&["电话", "联系方式", "传真"], k(S::MobilePhone), 0.75),
    (&["邮编", "邮政编码"], k(S::PostalCode), 0.9),
    (
        &[
            "行政区划",
            "区划代码",
            "区县",
            "县区",
            "县(区)",
            "统筹区",
            "参保地",
            "地区代码",
            "区域代码",
            // Place names are areas too, released or generalised like their codes.
            "city",
            "province",
            "城市",
            "所在城市",
            "省份",
            "所在省份",
            "所在地区",
            "籍贯",
        ],
        Kind::CountyCode,
        0.85,
    ),
    (
        &["地址", "住址", "住所", "居住地", "户籍地", "出生地"],
        k(S::Address),
        0.85,
    ),
    (
        &[
            "诊断编码",
            "诊断代码",
            "疾病编码",
            "疾病代码",
            "病种编码",
            "病种代码",
            "icd",
        ],
        k(S::DiagnosisCode),
        0.9,
    ),
    (&["诊断", "疾病", "病种", "病名"], k(S::DiagnosisName), 0.85),
    (&["手术", "操作编码"], k(S::OperationCode), 0.85),
    (&["药品", "药物", "用药"], k(S::DrugCode), 0.85),
    (&["耗材"], k(S::ConsumableCode), 0.85),
    (
        &["项目编码", "项目代码", "收费项目", "诊疗项目", "服务项目"],
        k(S::ServiceItemCode),
        0.85,
    ),
    (
        &["检验结果", "检查结果", "化验", "检验值", "结果"],
        k(S::LabResult),
        0.8,
    ),
    (
        &[
            "机构编码",
            "机构代码",
            "机构编号",
            "医院编码",
            "医院代码",
            "医院编号",
        ],
        k(S::InstitutionCode),
        0.9,
    ),
    (
        &["医疗机构", "机构名称", "医院名称", "卫生院", "医院"],
        k(S::InstitutionName),
        0.85,
    ),
    (&["科室", "科别", "病区"], k(S::Department), 0.9),
    (
        &["工作单位", "单位名称", "所在单位", "就职单位", "雇主"],
        k(S::Employer),
        0.9,
    ),
    (&["职业", "工种"], k(S::Occupation), 0.9),
    (&["民族"], k(S::Ethnicity), 0.9),
    (&["婚姻"], k(S::MaritalStatus), 0.9),
    (&["性别"], k(S::Sex), 0.9),
    (&["年龄"], k(S::Age), 0.9),
    (
        &[
            "金额", "费用", "支付", "报销", "自付", "自费", "价格", "单价", "余额", "总额", "合计",
            "基金",
        ],
        k(S::Amount),
        0.85,
    ),
    (
        &[
            "备注",
            "说明",
            "描述",
            "主诉",
            "病史",
            "病程",
            "记录内容",
            "意见",
            "小结",
        ],
        k(S::FreeText),
        0.8,
    ),
    (
        &[
            "结算编号",
            "结算id",
            "结算流水",
            "流水号",
            "就诊编号",
            "就诊id",
            "门诊号",
            "病案号",
            "病历号",
            "单据号",
            "发票号",
            "记录号",
        ],
        k(S::RecordId),
        0.85,
    ),
    (&["姓名", "名字", "联系人"], k(S::PersonName), 0.9),
];

/// English words; a rule matches when all its words occur in the name. In order.
const TOKENS: &[(&[&[&str]], Kind, f64)] = &[
    (&[&["email"], &["mail"]], k(S::Email), 0.85),
    (&[&["ip"]], k(S::IpAddress), 0.8),
    (
        &[
            &["id", "number"],
            &["id", "no"],
            &["id", "card"],
            &["idcard"],
            &["citizen", "id"],
            &["national", "id"],
            &["identity"],
            &["cert", "no"],
            &["certificate"],
        ],
        k(S::IdNumber),
        0.85,
    ),
    (&[&["passport"]], k(S::Passport), 0.85),
    (&[&["bank"], &["iban"]], k(S::BankCard), 0.8),
    (
        &[
            &["social", "security"],
            &["insurance", "card"],
            &["medical", "card"],
            &["health", "card"],
            &["ssn"],
        ],
        k(S::SocialSecurityCard),
        0.8,
    ),
    (&[&["plate"]], k(S::LicensePlate), 0.8),
    (&[&["credit", "code"], &["uscc"]], k(S::Uscc), 0.85),
    (
        &[
            &["mobile"],
            &["cellphone"],
            &["phone"],
            &["tel"],
            &["telephone"],
        ],
        k(S::MobilePhone),
        0.85,
    ),
    (
        &[&["postal"], &["postcode"], &["zip"], &["zipcode"]],
        k(S::PostalCode),
        0.85,
    ),
    (
        &[
            &["county"],
            &["district"],
            &["division", "code"],
            &["region", "code"],
            &["adcode"],
            &["admdvs"],
            &["area", "code"],
            &["city"],
            &["province"],
            &["prefecture"],
        ],
        Kind::CountyCode,
        0.75,
    ),
    (
        &[
            &["address"],
            &["addr"],
            &["street"],
            &["residence"],
            &["birth", "place"],
            &["birthplace"],
        ],
        k(S::Address),
        0.85,
    ),
    (
        &[
            &["birth"],
            &["birthday"],
            &["birthdate"],
            &["dob"],
            &["brdy"],
        ],
        k(S::BirthDate),
        0.85,
    ),
    (
        &[
            &["diagnosis", "code"],
            &["diag", "code"],
            &["dx", "code"],
            &["icd"],
            &["icd10"],
            &["disease", "code"],
            &["dise", "codg"],
            &["diag", "codg"],
        ],
        k(S::DiagnosisCode),
        0.85,
    ),
    (
        &[&["diagnosis"], &["diag"], &["dx"], &["disease"], &["dise"]],
        k(S::DiagnosisName),
        0.8,
    ),
    (
        &[&["operation"], &["surgery"], &["procedure"], &["oprn"]],
        k(S::OperationCode),
        0.8,
    ),
    (
        &[&["drug"], &["medicine"], &["medication"], &["med", "code"]],
        k(S::DrugCode),
        0.8,
    ),
    (&[&["consumable"], &["mcs"]], k(S::ConsumableCode), 0.8),
    (
        &[
            &["item", "code"],
            &["service", "code"],
            &["service", "item"],
            &["hilist"],
        ],
        k(S::ServiceItemCode),
        0.8,
    ),
    (&[&["lab"], &["result"], &["assay"]], k(S::LabResult), 0.7),
    (
        &[
            &["institution", "code"],
            &["institution", "id"],
            &["hospital", "code"],
            &["hospital", "id"],
            &["org", "code"],
            &["provider", "code"],
            &["facility", "code"],
            &["fixmedins", "code"],
            &["medins", "code"],
        ],
        k(S::InstitutionCode),
        0.85,
    ),
    (
        &[
            &["institution"],
            &["hospital"],
            &["provider"],
            &["facility"],
            &["fixmedins"],
            &["medins"],
            &["org", "name"],
        ],
        k(S::InstitutionName),
        0.75,
    ),
    (
        &[&["department"], &["dept"], &["ward"]],
        k(S::Department),
        0.85,
    ),
    (
        &[
            &["employer"],
            &["company"],
            &["workplace"],
            &["work", "unit"],
            &["emp", "name"],
        ],
        k(S::Employer),
        0.85,
    ),
    (
        &[&["occupation"], &["job"], &["profession"], &["career"]],
        k(S::Occupation),
        0.85,
    ),
    (
        &[
            &["ethnicity"],
            &["ethnic"],
            &["nation"],
            &["naty"],
            &["race"],
        ],
        k(S::Ethnicity),
        0.8,
    ),
    (
        &[&["marital"], &["marriage"], &["mrg"]],
        k(S::MaritalStatus),
        0.85,
    ),
    (&[&["sex"], &["gender"], &["gend"]], k(S::Sex), 0.85),
    (&[&["age"]], k(S::Age), 0.8),
    (
        &[
            &["fee"],
            &["fees"],
            &["amount"],
            &["amt"],
            &["sumamt"],
            &["cost"],
            &["price"],
            &["payment"],
            &["pay"],
            &["paid"],
            &["charge"],
            &["charges"],
            &["balance"],
            &["reimbursement"],
            &["expense"],
        ],
        k(S::Amount),
        0.8,
    ),
    (
        &[
            &["patient", "id"],
            &["person", "id"],
            &["psn", "no"],
            &["member", "id"],
            &["insured", "id"],
            &["mrn"],
            &["patient", "no"],
            &["person", "no"],
            &["beneficiary", "id"],
            &["inpatient", "no"],
        ],
        k(S::PatientId),
        0.85,
    ),
    (
        &[
            &["record", "id"],
            &["settlement", "id"],
            &["setl", "id"],
            &["visit", "id"],
            &["encounter", "id"],
            &["claim", "id"],
            &["claim", "no"],
            &["case", "id"],
            &["order", "id"],
            &["admission", "id"],
            &["mdtrt", "id"],
            &["transaction", "id"],
            &["serial", "no"],
            &["invoice", "no"],
            &["bill", "no"],
            &["outpatient", "no"],
        ],
        k(S::RecordId),
        0.85,
    ),
    (
        &[
            &["note"],
            &["notes"],
            &["remark"],
            &["remarks"],
            &["comment"],
            &["comments"],
            &["description"],
            &["memo"],
            &["text"],
            &["complaint"],
            &["history"],
            &["narrative"],
        ],
        k(S::FreeText),
        0.75,
    ),
    (
        &[&["surname"], &["firstname"], &["lastname"], &["fullname"]],
        k(S::PersonName),
        0.85,
    ),
];

/// Words that, beside `name`, make a column a person's name (`doctor_name`, `contact_name`).
const PERSON_QUALIFIERS: &[&str] = &[
    "patient",
    "person",
    "full",
    "insured",
    "contact",
    "first",
    "last",
    "given",
    "family",
    "real",
    "client",
    "member",
    "psn",
    "applicant",
    "user",
    "customer",
    "guardian",
    "emergency",
    "mother",
    "father",
    "spouse",
    "doctor",
    "nurse",
    "physician",
    "staff",
    "operator",
    "chfpdr",
    "emp",
    "employee",
    "holder",
];

/// Last words that make a name a date (`visit_date`) or a date-time (`admission_time`).
const DATE_WORDS: &[&str] = &["date", "dt", "day"];
const TIME_WORDS: &[&str] = &["time", "datetime", "timestamp", "ts"];
/// Last words naming a coded category rather than a value (`payment_type`).
const TYPE_WORDS: &[&str] = &[
    "type", "types", "kind", "category", "class", "flag", "status", "stas", "mode", "method",
    "level", "grade", "rank", "group", "band",
];
const ZH_TYPE_SUFFIXES: &[&str] = &[
    "类型", "类别", "方式", "标志", "标识", "等级", "级别", "状态", "分类", "分组",
];

/// Kinds that a name ending in a type word may still be (`marital_status`, `age_group`).
fn allowed_with_type_word(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Sem(S::Sex | S::MaritalStatus | S::Ethnicity | S::Occupation | S::Age)
    )
}

/// Header evidence: the kind a column's name suggests and how strongly, or `None` when the name
/// says nothing (`c7`, `value`).
pub(crate) fn evidence(name: &str) -> Option<(Kind, f64)> {
    let norm = normalize(name);
    if norm.is_empty() {
        return None;
    }
    let compacted = compact(&norm);
    for (names, kind, conf) in EXACT {
        if names.iter().any(|n| compact(n) == compacted) {
            return Some((*kind, *conf));
        }
    }
    let tokens: Vec<&str> = norm.split('_').filter(|t| !t.is_empty()).collect();
    let last = tokens.last().copied().unwrap_or_default();
    let typeish = TYPE_WORDS.contains(&last) || ZH_TYPE_SUFFIXES.iter().any(|s| norm.ends_with(s));
    let accept = |kind: Kind| !typeish || allowed_with_type_word(kind);

    // Dates first: `diagnosis_date`, 诊断日期, 入院时间.
    if !typeish {
        let birth = norm.contains("出生")
            || norm.contains("生日")
            || tokens
                .iter()
                .any(|t| matches!(*t, "birth" | "birthday" | "dob" | "brdy"));
        if DATE_WORDS.contains(&last)
            || ["日期", "年月", "年月日"].iter().any(|s| norm.ends_with(s))
        {
            return Some((if birth { k(S::BirthDate) } else { k(S::Date) }, 0.85));
        }
        if TIME_WORDS.contains(&last) || norm.ends_with("时间") {
            return Some((
                if birth {
                    k(S::BirthDate)
                } else {
                    k(S::Datetime)
                },
                0.85,
            ));
        }
    }

    if norm.chars().any(is_cjk) {
        for (fragments, kind, conf) in ZH {
            if fragments.iter().any(|f| norm.contains(f)) && accept(*kind) {
                return Some((*kind, *conf));
            }
        }
    }

    for (alternatives, kind, conf) in TOKENS {
        if alternatives
            .iter()
            .any(|words| words.iter().all(|w| tokens.contains(w)))
            && accept(*kind)
        {
            return Some((*kind, *conf));
        }
    }
    if tokens.contains(&"name")
        && !typeish
        && tokens
            .iter()
            .all(|t| *t == "name" || PERSON_QUALIFIERS.contains(t))
    {
        return Some((k(S::PersonName), 0.85));
    }
    if !typeish && matches!(last, "id" | "no" | "num" | "number") && tokens.len() > 1 {
        return Some((k(S::RecordId), 0.55));
    }
    None
}

/// A category for a column the classifier could not type, from words in its name: insurance
/// and payment codes are 医疗支付数据, visit codes 医疗应用数据 … (GB/T 39725 Table 1).
pub(crate) fn category_hint(name: &str) -> Option<Category> {
    let norm = normalize(name);
    let tokens: Vec<&str> = norm.split('_').filter(|t| !t.is_empty()).collect();
    let has = |words: &[&str]| words.iter().any(|w| tokens.contains(w));
    let zh = |frags: &[&str]| frags.iter().any(|f| norm.contains(f));
    if has(&[
        "insurance",
        "insutype",
        "insured",
        "payment",
        "pay",
        "fund",
        "reimbursement",
        "claim",
        "settlement",
        "setl",
        "fee",
        "clr",
    ]) || zh(&[
        "医保", "险种", "参保", "保险", "支付", "结算", "报销", "费用", "统筹",
    ]) {
        Some(Category::MedicalPayment)
    } else if has(&[
        "epidemic",
        "vaccine",
        "vaccination",
        "outbreak",
        "surveillance",
        "death",
        "notifiable",
    ]) || zh(&[
        "疫情",
        "疫苗",
        "接种",
        "传染病报告",
        "监测",
        "死亡",
        "出生证",
    ]) {
        Some(Category::PublicHealth)
    } else if has(&[
        "bed",
        "beds",
        "staff",
        "physicians",
        "nurses",
        "capacity",
        "equipment",
    ]) || zh(&["床位", "人员数", "医师数", "设备", "编制"])
    {
        Some(Category::HealthResources)
    } else if has(&[
        "symptom",
        "allergy",
        "allergen",
        "blood",
        "bmi",
        "height",
        "weight",
        "pressure",
        "smoking",
        "lifestyle",
        "gene",
        "genotype",
    ]) || zh(&[
        "症状", "过敏", "血型", "身高", "体重", "血压", "吸烟", "饮酒", "基因", "体检", "体征",
    ]) {
        Some(Category::HealthStatus)
    } else if has(&[
        "visit",
        "mdtrt",
        "admission",
        "discharge",
        "med",
        "treatment",
        "encounter",
        "outpatient",
        "inpatient",
    ]) || zh(&[
        "就诊",
        "门诊",
        "住院",
        "入院",
        "出院",
        "医疗类别",
        "治疗",
        "转诊",
    ]) {
        Some(Category::MedicalApplication)
    } else {
        None
    }
}

/// Lower-case snake_case form of a header: BOM and surrounding space removed, camelCase humps
/// and separators (space, `-`, `.`, `/`, brackets) turned into `_`.
pub(crate) fn normalize(name: &str) -> String {
    let name = name.trim().trim_start_matches('\u{feff}').trim();
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        let prev = if i > 0 {
            chars.get(i - 1).copied()
        } else {
            None
        };
        let next = chars.get(i + 1).copied();
        if c.is_ascii_uppercase() {
            let hump = prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(|p| p.is_ascii_uppercase())
                    && next.is_some_and(|n| n.is_ascii_lowercase()));
            if hump {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if c == '(' || c == ')' {
            // Kept for names such as 县(区); full-width brackets are folded to these.
            out.push(c);
        } else if c == '（' {
            out.push('(');
        } else if c == '）' {
            out.push(')');
        } else {
            out.push('_');
        }
    }
    let mut collapsed = String::with_capacity(out.len());
    for c in out.chars() {
        if c == '_' && (collapsed.is_empty() || collapsed.ends_with('_')) {
            continue;
        }
        collapsed.push(c);
    }
    while collapsed.ends_with('_') {
        collapsed.pop();
    }
    collapsed
}

/// [`normalize`]d name without `_`, so `idcard`, `id_card` and `IdCard` compare equal.
fn compact(name: &str) -> String {
    normalize(name).chars().filter(|c| *c != '_').collect()
}

/// True for CJK unified ideographs (basic block, extension A, compatibility, extension B+).
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF | 0x20000..=0x3134F | 0x3007)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(name: &str) -> Option<Kind> {
        evidence(name).map(|(k, _)| k)
    }

    #[test]
    fn normalizes_case_humps_and_separators() {
        assert_eq!(normalize("IdNumber"), "id_number");
        assert_eq!(normalize("IDNumber"), "id_number");
        assert_eq!(normalize(" Patient Name "), "patient_name");
        assert_eq!(normalize("\u{feff}total-fee"), "total_fee");
        assert_eq!(normalize("fund.pay__sumamt"), "fund_pay_sumamt");
        assert_eq!(normalize("地址-县（区）"), "地址_县(区)");
        assert_eq!(compact("ID_Card"), "idcard");
    }

    #[test]
    fn english_pinyin_and_chinese_names_of_the_brief() {
        let cases: &[(&[&str], Kind)] = &[
            (
                &[
                    "id_number",
                    "sfzh",
                    "身份证号",
                    "证件号码",
                    "idcard",
                    "IdCardNo",
                    "患者身份证号",
                ],
                k(S::IdNumber),
            ),
            (
                &[
                    "person_name",
                    "xm",
                    "姓名",
                    "name",
                    "patient_name",
                    "患者姓名",
                    "doctor_name",
                ],
                k(S::PersonName),
            ),
            (
                &[
                    "mobile",
                    "sjh",
                    "手机号",
                    "phone",
                    "联系电话",
                    "contact_phone",
                ],
                k(S::MobilePhone),
            ),
            (
                &["address", "zz", "住址", "地址", "现住址", "home_address"],
                k(S::Address),
            ),
            (
                &["birth_date", "csrq", "出生日期", "dob", "BirthDate"],
                k(S::BirthDate),
            ),
            (&["sex", "xb", "性别", "gender"], k(S::Sex)),
            (
                &["admission_time", "入院时间", "discharge_time"],
                k(S::Datetime),
            ),
            (
                &["ryrq", "visit_date", "诊断日期", "diagnosis_date"],
                k(S::Date),
            ),
            (
                &[
                    "diagnosis_code",
                    "zdbm",
                    "诊断编码",
                    "icd",
                    "主要诊断编码",
                    "icd10_code",
                ],
                k(S::DiagnosisCode),
            ),
            (
                &[
                    "diagnosis_name",
                    "zdmc",
                    "诊断名称",
                    "出院诊断",
                    "diagnosis",
                ],
                k(S::DiagnosisName),
            ),
            (
                &[
                    "total_fee",
                    "fy",
                    "费用",
                    "金额",
                    "amount",
                    "payment",
                    "fund_payment",
                    "personal_payment",
                    "统筹基金支付",
                ],
                k(S::Amount),
            ),
            (
                &[
                    "institution_code",
                    "yljgdm",
                    "医疗机构代码",
                    "fixmedins_code",
                ],
                k(S::InstitutionCode),
            ),
            (
                &["department", "ks", "科室", "入院科室", "dept_name"],
                k(S::Department),
            ),
            (&["employer", "gzdw", "工作单位"], k(S::Employer)),
            (
                &["county_code", "xzqh", "行政区划代码", "所属区县"],
                Kind::CountyCode,
            ),
            (
                &["person_id", "patient_id", "psn_no", "住院号"],
                k(S::PatientId),
            ),
            (
                &[
                    "settlement_id",
                    "record_id",
                    "visit_id",
                    "setl_id",
                    "门诊号",
                    "结算编号",
                ],
                k(S::RecordId),
            ),
            (&["email", "电子邮箱", "email_address"], k(S::Email)),
            (&["remark", "备注", "主诉", "现病史"], k(S::FreeText)),
            (&["marital_status", "婚姻状况"], k(S::MaritalStatus)),
        ];
        for (names, want) in cases {
            for n in *names {
                assert_eq!(kind(n), Some(*want), "{n}");
            }
        }
    }

    #[test]
    fn uninformative_and_type_names_give_nothing() {
        for n in [
            "c7",
            "value",
            "",
            "  ",
            "col_3",
            "insurance_type",
            "visit_type",
            "payment_type",
            "费用类别",
            "支付方式",
            "x",
        ] {
            assert_eq!(kind(n), None, "{n}");
        }
        assert_eq!(kind("item_name"), None);
        assert_eq!(kind("age_group"), Some(k(S::Age)));
    }

    #[test]
    fn specific_before_general() {
        // 诊断编码 is a code, 诊断 a name; 联系人电话 a phone, 联系人 a name; 计量单位 is no employer.
        assert_eq!(kind("主要诊断编码"), Some(k(S::DiagnosisCode)));
        assert_eq!(kind("联系人电话"), Some(k(S::MobilePhone)));
        assert_eq!(kind("联系人"), Some(k(S::PersonName)));
        assert_eq!(kind("计量单位"), None);
        assert_eq!(kind("birth_place"), Some(k(S::Address)));
        for place in ["city", "home_city", "province", "所在城市", "籍贯"] {
            assert_eq!(kind(place), Some(Kind::CountyCode), "{place}");
        }
        assert_eq!(kind("ip_address"), Some(k(S::IpAddress)));
        assert_eq!(kind("统筹区"), Some(Kind::CountyCode));
    }

    #[test]
    fn category_hints_for_untyped_columns() {
        assert_eq!(
            category_hint("insurance_type"),
            Some(Category::MedicalPayment)
        );
        assert_eq!(category_hint("险种类型"), Some(Category::MedicalPayment));
        assert_eq!(
            category_hint("visit_type"),
            Some(Category::MedicalApplication)
        );
        assert_eq!(category_hint("血型"), Some(Category::HealthStatus));
        assert_eq!(category_hint("c7"), None);
    }
}
