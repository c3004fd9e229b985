//! Labelled evaluation corpus for `medspace scan` (issue 5 item 7; GB/T 39725-2020 §6,
//! Appendix G): every column and every identifier embedded in free text has a known truth.
//!
//! - **generated**: the four `medspace gen` tables, truth from the generator's column meaning;
//! - **unseen-style**: the same kind of data re-headed and re-formatted the way other systems
//!   write it — NHSA 医保 interface field codes, Chinese EMR (病案首页) names, pinyin initials,
//!   camelCase English, WS 363 data-element identifiers, and no usable header (`c1`…) — with
//!   value formats the generator never writes (`2024年3月15日`, `+86 139 1234 5678`, GB/T 2261
//!   sex codes, `45岁`) and extra columns (e-mail, bank card, plate, passport, permits, USCC,
//!   NHSA drug/consumable/service codes, ICD-9-CM-3, postal code, free-text complaints);
//! - **hard cases**: headers that lie (`身份证号` over mobile numbers, `id_number` over
//!   18-digit numbers failing the GB 11643 check), look-alike numbers (18-digit order numbers,
//!   Luhn-failing card-like numbers), masked values, legacy 15-digit IDs, mixed date formats.
//!
//! Free-text cases carry the exact byte span and type of every embedded identifier.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use medspace_gen::{generate, GenOptions, Table};
use medspace_validators::{bank_card, gb11643, reference, uscc};

/// splitmix64: small, deterministic, good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    pub fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Truth of one column: semantic type and identifier kind, as the JSON names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truth {
    pub semantic_type: &'static str,
    pub identifier_kind: &'static str,
}

const fn t(semantic_type: &'static str, identifier_kind: &'static str) -> Truth {
    Truth {
        semantic_type,
        identifier_kind,
    }
}

/// How a file was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Generated,
    Unseen,
    Hard,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub truth: Truth,
    pub values: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct CorpusFile {
    pub name: String,
    pub style: Style,
    pub columns: Vec<Column>,
}

impl CorpusFile {
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.values.len())
    }

    /// The file as CSV text.
    pub fn to_csv(&self) -> String {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        w.write_record(self.columns.iter().map(|c| c.name.as_str()))
            .unwrap();
        for i in 0..self.rows() {
            w.write_record(self.columns.iter().map(|c| c.values[i].as_str()))
                .unwrap();
        }
        String::from_utf8(w.into_inner().unwrap()).unwrap()
    }
}

/// One free-text cell with its embedded identifiers `(start, end, type)`.
#[derive(Debug, Clone)]
pub struct TextCase {
    pub text: String,
    pub spans: Vec<(usize, usize, &'static str)>,
}

// ---------------------------------------------------------------------------------------------
// Values.

pub fn county(rng: &mut Rng) -> &'static reference::Division {
    let all = reference::counties();
    &all[rng.below(all.len() as u64) as usize]
}

fn birth(rng: &mut Rng) -> (u32, u32, u32) {
    let y = 1940 + rng.below(70) as u32;
    let m = 1 + rng.below(12) as u32;
    let d = 1 + rng.below(28) as u32;
    (y, m, d)
}

pub fn citizen_id(rng: &mut Rng) -> String {
    let (y, m, d) = birth(rng);
    let body = format!("{}{y:04}{m:02}{d:02}{}", county(rng).code, rng.digits(3));
    let c = gb11643::check_digit(&body).unwrap();
    format!("{body}{c}")
}

/// Same shape, wrong check character.
pub fn failing_id(rng: &mut Rng) -> String {
    let id = citizen_id(rng);
    let (body, check) = id.split_at(17);
    let options = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'X'];
    loop {
        let c = *rng.pick(&options);
        if c.to_string() != check {
            return format!("{body}{c}");
        }
    }
}

pub fn legacy_id(rng: &mut Rng) -> String {
    let (y, m, d) = birth(rng);
    format!(
        "{}{:02}{m:02}{d:02}{}",
        county(rng).code,
        y % 100,
        rng.digits(3)
    )
}

pub fn mobile(rng: &mut Rng) -> String {
    let second = *rng.pick(&['3', '5', '7', '8', '9']);
    format!("1{second}{}", rng.digits(9))
}

/// A mobile number in one of the written forms, and whether it has separators.
pub fn mobile_formatted(rng: &mut Rng) -> String {
    let m = mobile(rng);
    let (a, rest) = m.split_at(3);
    let (b, c) = rest.split_at(4);
    match rng.below(4) {
        0 => m,
        1 => format!("{a}-{b}-{c}"),
        2 => format!("+86 {a} {b} {c}"),
        _ => format!("{a} {b} {c}"),
    }
}

pub fn landline(rng: &mut Rng) -> String {
    let (area, len) = *rng.pick(&[
        ("010", 8),
        ("021", 8),
        ("0571", 8),
        ("0755", 8),
        ("0931", 7),
        ("028", 8),
    ]);
    let first = *rng.pick(&['2', '5', '6', '8']);
    let local = format!("{first}{}", rng.digits(len - 1));
    match rng.below(3) {
        0 => format!("{area}-{local}"),
        1 => format!("({area}){local}"),
        _ => format!("{area}{local}"),
    }
}

const PINYIN: [&str; 12] = [
    "zhangwei",
    "wangfang",
    "li.na",
    "liuyang",
    "chenjie",
    "yangli",
    "zhaolei",
    "huangmin",
    "zhouqiang",
    "wu_xia",
    "xuhui",
    "sunlei",
];

pub fn email(rng: &mut Rng) -> String {
    let domain = *rng.pick(&[
        "163.com",
        "qq.com",
        "126.com",
        "example.cn",
        "hospital.org.cn",
    ]);
    let user = *rng.pick(&PINYIN);
    format!("{user}{}@{domain}", rng.digits(2))
}

pub fn bank_card(rng: &mut Rng) -> String {
    let len = *rng.pick(&[16usize, 19]);
    let prefix = *rng.pick(&["622202", "621700", "622848", "436742", "622588"]);
    let payload = format!("{prefix}{}", rng.digits(len - 1 - prefix.len()));
    let c = bank_card::luhn_check_digit(&payload).unwrap();
    format!("{payload}{c}")
}

/// 16–19 digits failing Luhn.
pub fn not_bank_card(rng: &mut Rng) -> String {
    let card = bank_card(rng);
    let (payload, check) = card.split_at(card.len() - 1);
    let wrong = (check.parse::<u8>().unwrap() + 1 + rng.below(8) as u8) % 10;
    format!("{payload}{wrong}")
}

pub fn plate(rng: &mut Rng) -> String {
    let prov = *rng.pick(&['浙', '京', '沪', '粤', '苏', '川', '鄂', '陕']);
    let letter = *rng.pick(&['A', 'B', 'C', 'D', 'E']);
    format!("{prov}{letter}{}", rng.digits(5))
}

pub fn passport(rng: &mut Rng) -> String {
    format!("E{}", rng.digits(8))
}

pub fn hk_permit(rng: &mut Rng) -> String {
    format!("{}{}", rng.pick(&["H", "M"]), rng.digits(8))
}

pub fn uscc_code(rng: &mut Rng) -> String {
    let alphabet = uscc::ALPHABET;
    let tail: String = (0..9)
        .map(|_| char::from(alphabet[rng.below(alphabet.len() as u64) as usize]))
        .collect();
    let body = format!("91{}{tail}", county(rng).code);
    let c = uscc::check_char(&body).unwrap();
    format!("{body}{c}")
}

pub fn drug_code(rng: &mut Rng) -> String {
    let class = *rng.pick(&["A01AB", "C09AA", "J01CA", "N02BE", "A10BA"]);
    format!("X{class}{}{}", rng.pick(&["D", "K", "P"]), rng.digits(16))
}

pub fn consumable_code(rng: &mut Rng) -> String {
    let n = if rng.chance(50) { 19 } else { 26 };
    format!("C{}", rng.digits(n))
}

pub fn service_item_code(rng: &mut Rng) -> String {
    format!("00{}{}", 1 + rng.below(4), rng.digits(12))
}

pub fn operation_code(rng: &mut Rng) -> String {
    let chapter = 10 + rng.below(80);
    match rng.below(3) {
        0 => format!("{chapter}.{}", rng.digits(2)),
        1 => format!("{chapter}.{}x{}", rng.digits(2), rng.digits(3)),
        _ => format!("{chapter}.{}00x{}", rng.digits(2), rng.digits(3)),
    }
}

pub fn postal_code(rng: &mut Rng) -> String {
    format!("{}{}", 1 + rng.below(8), rng.digits(5))
}

pub fn ipv4(rng: &mut Rng) -> String {
    format!(
        "{}.{}.{}.{}",
        *rng.pick(&[10u64, 172, 192, 61, 114]),
        rng.below(256),
        rng.below(256),
        1 + rng.below(254)
    )
}

/// A date in one of the Chinese and ISO spellings.
pub fn date_mixed(rng: &mut Rng) -> String {
    let y = 2015 + rng.below(10);
    let m = 1 + rng.below(12);
    let d = 1 + rng.below(28);
    match rng.below(5) {
        0 => format!("{y}/{m}/{d}"),
        1 => format!("{y}年{m}月{d}日"),
        2 => format!("{y}{m:02}{d:02}"),
        3 => format!("{y}-{m:02}-{d:02}"),
        _ => format!("{y}.{m:02}.{d:02}"),
    }
}

pub fn masked_mobile(rng: &mut Rng) -> String {
    let m = mobile(rng);
    format!("{}****{}", &m[..3], &m[7..])
}

pub fn order_number(rng: &mut Rng) -> String {
    // 18-digit look-alike: a date, then a serial. Checked to fail GB 11643.
    loop {
        let n = format!(
            "2024{:02}{:02}{}",
            1 + rng.below(12),
            1 + rng.below(28),
            rng.digits(10)
        );
        if !gb11643::is_valid(&n) {
            return n;
        }
    }
}

pub fn person_name(rng: &mut Rng) -> String {
    let surnames = reference::surnames();
    let given = reference::given_names();
    let s = &surnames[rng.below(60) as usize].0;
    let g = &given[rng.below(given.len() as u64) as usize].0;
    format!("{s}{g}")
}

pub fn street_address(rng: &mut Rng) -> String {
    let c = county(rng);
    let road = *rng.pick(&["文三", "人民", "解放", "建设", "中山", "和平"]);
    let tail = match rng.below(3) {
        0 => format!("{}号", 1 + rng.below(500)),
        1 => format!(
            "{}号{}幢{}室",
            1 + rng.below(500),
            1 + rng.below(30),
            101 + rng.below(1500)
        ),
        _ => format!("{}弄{}号", 1 + rng.below(200), 1 + rng.below(80)),
    };
    format!("{}{road}路{tail}", c.full_name())
}

// ---------------------------------------------------------------------------------------------
// Free text.

const SYMPTOMS: [&str; 8] = [
    "咳嗽伴发热",
    "反复头痛",
    "胸闷气短",
    "腹痛腹泻",
    "头晕乏力",
    "关节疼痛",
    "咽痛",
    "腰背部疼痛",
];

/// Clinical sentences without identifiers but full of look-alike numbers.
const NOISE: [&str; 8] = [
    "体温38.5℃，血压140/90mmHg，心率88次/分。",
    "2024-03-15 09:30入院，予头孢曲松2g ivgtt qd。",
    "诊断：I10、E11.900x001，既往C34.9病史。",
    "门诊号20240315000123，床号12。",
    "白细胞12.3×10^9/L，中性粒细胞百分比85.2%。",
    "否认肝炎、结核病史，否认外伤史。",
    "费用合计12345.67元，医保支付8641.97元。",
    "NRS评分3分，GCS 15分。",
];

/// A complaint with `k` embedded identifiers; truth spans in bytes.
pub fn complaint(rng: &mut Rng) -> TextCase {
    let mut text = String::new();
    let mut spans = Vec::new();
    let symptom = *rng.pick(&SYMPTOMS);
    let days = 1 + rng.below(14);
    text.push_str(&format!("患者{symptom}{days}天。"));
    if rng.chance(40) {
        let noise = NOISE[rng.below(NOISE.len() as u64) as usize];
        text.push_str(noise);
    }
    let k = rng.below(3);
    for _ in 0..k {
        let (cue, value, kind): (&str, String, &'static str) = match rng.below(11) {
            0 | 1 => (
                *rng.pick(&["联系电话", "家属电话", "手机", "电话："]),
                mobile_formatted(rng),
                "mobile_phone",
            ),
            2 => (
                *rng.pick(&["身份证号", "身份证：", "证件号码"]),
                citizen_id(rng),
                "id_number",
            ),
            3 => (*rng.pick(&["邮箱", "email: "]), email(rng), "email"),
            4 => (
                *rng.pick(&["座机", "单位电话"]),
                landline(rng),
                "landline_phone",
            ),
            5 => (
                *rng.pick(&["联系人", "联系人：", "家属"]),
                person_name(rng),
                "person_name",
            ),
            6 => (
                *rng.pick(&["住址：", "家住"]),
                street_address(rng),
                "address",
            ),
            7 => ("银行卡号", bank_card(rng), "bank_card"),
            8 => ("车牌", plate(rng), "license_plate"),
            9 => ("护照号", passport(rng), "passport"),
            _ => ("登录IP ", ipv4(rng), "ip_address"),
        };
        text.push_str(cue);
        let start = text.len();
        text.push_str(&value);
        spans.push((start, text.len(), kind));
        let sep = ["，", "。", "；", " ", "，请回电。"][rng.below(5) as usize];
        text.push_str(sep);
    }
    if rng.chance(30) {
        let noise = NOISE[rng.below(NOISE.len() as u64) as usize];
        text.push_str(noise);
    }
    TextCase { text, spans }
}

/// Free-text cases for the span evaluation.
pub fn text_cases(seed: u64, n: usize) -> Vec<TextCase> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| complaint(&mut rng)).collect()
}

// ---------------------------------------------------------------------------------------------
// Files.

/// Truth of the generator's columns.
pub fn generated_truth(name: &str) -> Truth {
    match name {
        "settlement_id" | "visit_id" | "lab_id" => t("record_id", "quasi"),
        "person_id" => t("patient_id", "direct"),
        "person_name" => t("person_name", "direct"),
        "id_number" => t("id_number", "direct"),
        "sex" => t("sex", "quasi"),
        "birth_date" => t("birth_date", "quasi"),
        "mobile" => t("mobile_phone", "direct"),
        "address" => t("address", "direct"),
        "county_code" => t("address", "quasi"),
        "employer" => t("employer", "quasi"),
        "institution_code" => t("institution_code", "other"),
        "department" => t("department", "other"),
        "diagnosis_code" => t("diagnosis_code", "sensitive"),
        "diagnosis_name" => t("diagnosis_name", "sensitive"),
        "admission_time" | "discharge_time" | "sample_time" => t("datetime", "quasi"),
        "total_fee" | "fund_payment" | "personal_payment" => t("amount", "other"),
        "result_value" => t("lab_result", "sensitive"),
        // insurance_type, visit_type, test_code, test_name, unit, reference_range
        _ => t("other", "other"),
    }
}

fn read_generated(table: Table, rows: u64, seed: u64) -> Vec<Column> {
    let mut out = Vec::new();
    generate(
        &GenOptions {
            rows,
            seed,
            table,
            persons: None,
        },
        &mut out,
        &mut |_| {},
    )
    .unwrap();
    let mut reader = csv::Reader::from_reader(out.as_slice());
    let names: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let mut columns: Vec<Column> = names
        .iter()
        .map(|n| Column {
            name: n.clone(),
            truth: generated_truth(n),
            values: Vec::new(),
        })
        .collect();
    for r in reader.records() {
        let r = r.unwrap();
        for (c, v) in columns.iter_mut().zip(r.iter()) {
            c.values.push(v.to_string());
        }
    }
    columns
}

pub fn generated_files(rows: u64, seed: u64) -> Vec<CorpusFile> {
    Table::ALL
        .iter()
        .map(|&table| CorpusFile {
            name: format!("gen-{table}"),
            style: Style::Generated,
            columns: read_generated(table, rows, seed),
        })
        .collect()
}

/// The header of a generator column in each unseen style, `None` to leave it out.
/// Styles: 0 NHSA interface codes, 1 EMR 病案首页 Chinese, 2 pinyin initials, 3 camelCase
/// English, 4 WS 363 identifiers where they exist (else Chinese), 5 no usable header.
fn restyle(name: &str, style: usize) -> Option<&'static str> {
    let row: [&str; 6] = match name {
        "settlement_id" => [
            "setl_id",
            "结算流水号",
            "jslsh",
            "SettlementNo",
            "结算单号",
            "",
        ],
        "person_id" => [
            "psn_no",
            "住院号",
            "zyh",
            "InpatientNo",
            "DE01.00.014.00",
            "",
        ],
        "person_name" => [
            "psn_name",
            "患者姓名",
            "hzxm",
            "PatientName",
            "DE02.01.039.00",
            "",
        ],
        "id_number" => [
            "certno",
            "身份证件号码",
            "sfzjhm",
            "IdCardNo",
            "DE02.01.030.00",
            "",
        ],
        "sex" => ["gend", "性别", "xb", "Gender", "DE02.01.040.00", ""],
        "birth_date" => [
            "brdy",
            "出生日期",
            "csrq",
            "DateOfBirth",
            "DB02.01.005.01",
            "",
        ],
        "mobile" => [
            "tel",
            "联系电话",
            "lxdh",
            "MobilePhone",
            "DE02.01.010.00",
            "",
        ],
        "address" => ["addr", "现住址", "xzz", "HomeAddress", "现住地址", ""],
        "county_code" => [
            "admdvs",
            "现住址县(区)代码",
            "xzqhdm",
            "CountyCode",
            "DE02.01.009.03",
            "",
        ],
        "employer" => [
            "emp_name",
            "工作单位名称",
            "gzdw",
            "Employer",
            "DE08.10.007.00",
            "",
        ],
        "insurance_type" => [
            "insutype",
            "医疗付费方式",
            "ylfkfs",
            "InsuranceType",
            "医保类型",
            "",
        ],
        "visit_type" => ["med_type", "就诊类型", "jzlx", "VisitType", "就诊类别", ""],
        "institution_code" => [
            "fixmedins_code",
            "医疗机构编码",
            "yljgbm",
            "HospitalCode",
            "机构代码",
            "",
        ],
        "department" => ["dept_name", "入院科别", "rykb", "DeptName", "科室名称", ""],
        "diagnosis_code" => [
            "dise_codg",
            "主要诊断编码",
            "zyzdbm",
            "DiagnosisCode",
            "DE05.01.024.00",
            "",
        ],
        "diagnosis_name" => [
            "dise_name",
            "主要诊断名称",
            "zyzdmc",
            "DiagnosisName",
            "疾病诊断名称",
            "",
        ],
        "admission_time" => [
            "begntime",
            "入院时间",
            "rysj",
            "AdmitTime",
            "入院日期时间",
            "",
        ],
        "discharge_time" => [
            "endtime",
            "出院时间",
            "cysj",
            "DischargeTime",
            "出院日期时间",
            "",
        ],
        "total_fee" => [
            "medfee_sumamt",
            "住院总费用",
            "zfy",
            "TotalCost",
            "总费用",
            "",
        ],
        "fund_payment" => [
            "hifp_pay",
            "统筹基金支付",
            "tcjjzf",
            "FundPay",
            "基金支付金额",
            "",
        ],
        "personal_payment" => [
            "psn_cash_pay",
            "个人现金支付",
            "grxjzf",
            "SelfPay",
            "个人支付金额",
            "",
        ],
        _ => return None,
    };
    let h = row[style];
    (!h.is_empty()).then_some(h)
}

/// Re-formats generator values the way the style's systems write them.
fn reformat(name: &str, value: &str, style: usize, rng: &mut Rng) -> String {
    match (name, style) {
        ("sex", 0 | 4) => match value {
            "男" => "1".into(),
            "女" => "2".into(),
            v => v.into(),
        },
        ("sex", 3) => match value {
            "男" => "M".into(),
            "女" => "F".into(),
            v => v.into(),
        },
        ("birth_date", 1) => {
            let p: Vec<&str> = value.split('-').collect();
            if p.len() == 3 {
                format!(
                    "{}年{}月{}日",
                    p[0],
                    p[1].trim_start_matches('0'),
                    p[2].trim_start_matches('0')
                )
            } else {
                value.into()
            }
        }
        ("birth_date", 2) => value.replace('-', ""),
        ("birth_date", 3) => value.replace('-', "/"),
        ("mobile", 1 | 3) => {
            if value.len() == 11 && rng.chance(50) {
                format!("{}-{}-{}", &value[..3], &value[3..7], &value[7..])
            } else {
                value.into()
            }
        }
        ("mobile", 2) => format!("+86 {value}"),
        ("admission_time" | "discharge_time", 3) => value.replacen(' ', "T", 1),
        _ => value.into(),
    }
}

/// Extra columns of an unseen-style file: `(headers per style, truth, value maker)`.
type Maker = fn(&mut Rng) -> String;

fn extra_columns() -> Vec<([&'static str; 6], Truth, Maker)> {
    vec![
        (
            [
                "email",
                "电子邮箱",
                "dzyx",
                "EmailAddress",
                "DE02.01.012.00",
                "",
            ],
            t("email", "direct"),
            email as Maker,
        ),
        (
            [
                "bank_acct",
                "银行卡号",
                "yhkh",
                "BankCardNo",
                "银行账号",
                "",
            ],
            t("bank_card", "direct"),
            bank_card,
        ),
        (
            [
                "med_list_codg",
                "药品编码",
                "ypbm",
                "DrugCode",
                "医保药品代码",
                "",
            ],
            t("drug_code", "sensitive"),
            drug_code,
        ),
        (
            [
                "oprn_oprt_code",
                "手术操作编码",
                "ssczbm",
                "ProcedureCode",
                "手术及操作编码",
                "",
            ],
            t("operation_code", "sensitive"),
            operation_code,
        ),
        (
            [
                "mcs_code",
                "耗材编码",
                "hcbm",
                "ConsumableCode",
                "医用耗材代码",
                "",
            ],
            t("consumable_code", "other"),
            consumable_code,
        ),
        (
            [
                "medins_list_codg",
                "收费项目编码",
                "sfxmbm",
                "ServiceItemCode",
                "医疗服务项目编码",
                "",
            ],
            t("service_item_code", "other"),
            service_item_code,
        ),
        (
            [
                "poscode",
                "邮政编码",
                "yzbm",
                "PostalCode",
                "DE02.01.047.00",
                "",
            ],
            t("postal_code", "quasi"),
            postal_code,
        ),
        (
            [
                "chfcomp",
                "主诉",
                "zs",
                "ChiefComplaint",
                "DE04.01.119.00",
                "",
            ],
            t("free_text", "sensitive"),
            |rng: &mut Rng| complaint(rng).text,
        ),
    ]
}

pub fn unseen_files(rows: u64, seed: u64) -> Vec<CorpusFile> {
    let base = read_generated(Table::Settlements, rows, seed);
    let names = ["nhsa", "emr", "pinyin", "camel", "ws363", "blind"];
    let mut out = Vec::new();
    for (style, label) in names.iter().enumerate() {
        let mut rng = Rng::new(seed + style as u64);
        let mut columns = Vec::new();
        for c in &base {
            let Some(h) = restyle(&c.name, style) else {
                continue;
            };
            columns.push(Column {
                name: h.to_string(),
                truth: c.truth,
                values: c
                    .values
                    .iter()
                    .map(|v| reformat(&c.name, v, style, &mut rng))
                    .collect(),
            });
        }
        for (headers, truth, make) in extra_columns() {
            let h = headers[style];
            if h.is_empty() && style != 5 {
                continue;
            }
            columns.push(Column {
                name: h.to_string(),
                truth,
                values: (0..rows).map(|_| make(&mut rng)).collect(),
            });
        }
        if style == 5 {
            // No usable header: c1, c2, … in a shuffled order.
            let n = columns.len();
            for i in (1..n).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                columns.swap(i, j);
            }
            for (i, c) in columns.iter_mut().enumerate() {
                c.name = format!("c{}", i + 1);
            }
        }
        out.push(CorpusFile {
            name: format!("unseen-{label}"),
            style: Style::Unseen,
            columns,
        });
    }
    out
}

/// Hard cases: lying headers, failing checksums, look-alikes, masked and legacy values.
pub fn hard_file(rows: u64, seed: u64) -> CorpusFile {
    let mut rng = Rng::new(seed);
    let cases: Vec<(&str, Truth, Maker)> = vec![
        // 18-digit numbers failing GB 11643 under ID headers: not citizen IDs.
        // Unidentified distinct numeric codes link records: record ids (Table G.1 internal
        // numbers, quasi), never citizen IDs.
        ("id_number", t("record_id", "quasi"), failing_id as Maker),
        ("身份证号", t("mobile_phone", "direct"), mobile),
        ("sfzh", t("record_id", "quasi"), failing_id),
        ("order_no", t("record_id", "quasi"), order_number),
        ("c_lookalike", t("record_id", "quasi"), not_bank_card),
        ("card_no", t("bank_card", "direct"), bank_card),
        ("mobile", t("mobile_phone", "direct"), mobile_formatted),
        ("联系电话", t("mobile_phone", "quasi"), masked_mobile),
        ("phone", t("landline_phone", "direct"), landline),
        ("旧身份证号", t("id_number", "direct"), legacy_id),
        ("c_ids", t("id_number", "direct"), citizen_id),
        ("就诊日期", t("date", "quasi"), date_mixed),
        ("车牌号", t("license_plate", "direct"), plate),
        ("护照号码", t("passport", "direct"), passport),
        ("通行证号", t("travel_permit", "direct"), hk_permit),
        ("统一社会信用代码", t("uscc", "other"), uscc_code),
        ("login_ip", t("ip_address", "direct"), ipv4),
        ("c_email", t("email", "direct"), email),
        ("备注", t("free_text", "sensitive"), |rng: &mut Rng| {
            complaint(rng).text
        }),
    ];
    let columns = cases
        .into_iter()
        .map(|(name, truth, make)| Column {
            name: name.to_string(),
            truth,
            values: (0..rows).map(|_| make(&mut rng)).collect(),
        })
        .collect();
    CorpusFile {
        name: "hard-cases".into(),
        style: Style::Hard,
        columns,
    }
}

/// The whole corpus.
pub fn corpus(rows: u64, seed: u64) -> Vec<CorpusFile> {
    let mut files = generated_files(rows, seed);
    files.extend(unseen_files(rows, seed + 1000));
    files.push(hard_file(rows, seed + 2000));
    files
}

// ---------------------------------------------------------------------------------------------
// Metrics.

/// Semantic types that are structured identifiers (the ≥ 0.98 F1 goal).
pub const IDENTIFIER_TYPES: [&str; 13] = [
    "person_name",
    "id_number",
    "passport",
    "travel_permit",
    "mobile_phone",
    "landline_phone",
    "email",
    "address",
    "ip_address",
    "license_plate",
    "bank_card",
    "social_security_card",
    "patient_id",
];

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
}

impl Counts {
    pub fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }
    pub fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
    pub fn add(&mut self, o: Counts) {
        self.tp += o.tp;
        self.fp += o.fp;
        self.fn_ += o.fn_;
    }
}

/// Per-type counts from `(truth, predicted)` pairs.
pub fn per_type(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, Counts> {
    let mut m: std::collections::BTreeMap<String, Counts> = Default::default();
    for (truth, pred) in pairs {
        if truth == pred {
            m.entry(truth.to_string()).or_default().tp += 1;
        } else {
            m.entry(truth.to_string()).or_default().fn_ += 1;
            m.entry(pred.to_string()).or_default().fp += 1;
        }
    }
    m
}

/// A printable per-type table.
pub fn format_table(title: &str, m: &std::collections::BTreeMap<String, Counts>) -> String {
    let mut s = format!(
        "{title}\n| type | support | TP | FP | FN | precision | recall | F1 |\n|---|---|---|---|---|---|---|---|\n"
    );
    for (k, c) in m {
        s.push_str(&format!(
            "| {k} | {} | {} | {} | {} | {:.3} | {:.3} | {:.3} |\n",
            c.tp + c.fn_,
            c.tp,
            c.fp,
            c.fn_,
            c.precision(),
            c.recall(),
            c.f1()
        ));
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

/// One classified column with its truth.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub file: String,
    pub style: Style,
    pub column: String,
    pub truth: Truth,
    pub semantic_type: String,
    pub identifier_kind: String,
    /// The column holds 18-digit numbers failing the GB 11643 check.
    pub failing_ids: bool,
}

impl Outcome {
    pub fn right(&self) -> bool {
        self.semantic_type == self.truth.semantic_type
            && self.identifier_kind == self.truth.identifier_kind
    }
}

/// Scans every file (sampled, default configuration) and pairs each column with its truth.
pub fn classify_corpus(files: &[CorpusFile]) -> Vec<Outcome> {
    let mut out = Vec::new();
    for f in files {
        let csv = f.to_csv();
        let result = medspace_classify::scan_report(
            csv.as_bytes(),
            &medspace_classify::ScanConfig::default(),
        )
        .unwrap();
        let json = serde_json::to_value(&result).unwrap();
        for (c, col) in f.columns.iter().zip(json["columns"].as_array().unwrap()) {
            let failing = c.values.iter().filter(|v| v.len() == 18).count() * 2 > c.values.len()
                && c.values.iter().all(|v| !gb11643::is_valid(v));
            out.push(Outcome {
                file: f.name.clone(),
                style: f.style,
                column: c.name.clone(),
                truth: c.truth,
                semantic_type: col["semantic_type"].as_str().unwrap().to_string(),
                identifier_kind: col["identifier_kind"].as_str().unwrap().to_string(),
                failing_ids: failing,
            });
        }
    }
    out
}

/// Span-level counts per type over free-text cases: a found span counts when its bytes and type
/// equal a truth span.
pub fn evaluate_spans(cases: &[TextCase]) -> std::collections::BTreeMap<String, Counts> {
    let mut m: std::collections::BTreeMap<String, Counts> = Default::default();
    for case in cases {
        let found: Vec<(usize, usize, &'static str)> = medspace_classify::find_spans(&case.text)
            .iter()
            .map(|f| (f.start, f.end, f.kind.name()))
            .collect();
        for s in &case.spans {
            let e = m.entry(s.2.to_string()).or_default();
            if found.contains(s) {
                e.tp += 1;
            } else {
                e.fn_ += 1;
            }
        }
        for f in &found {
            if !case.spans.contains(f) {
                m.entry(f.2.to_string()).or_default().fp += 1;
            }
        }
    }
    m
}

/// Sum of counts over some types (all when `only` is empty).
pub fn total(m: &std::collections::BTreeMap<String, Counts>, only: &[&str]) -> Counts {
    let mut c = Counts::default();
    for (k, v) in m {
        if only.is_empty() || only.contains(&k.as_str()) {
            c.add(*v);
        }
    }
    c
}
