//! Value evidence: what a column's sampled values look like.
//!
//! GB/T 39725-2020 Appendix G Table G.1 names the data elements to find (身份证件号码, 本人姓名,
//! 本人电话号码, 电子邮箱地址, 地址, 出生日期, 县(区), 日期 …). Checks with a checksum or a
//! reference list (GB 11643 check character, GB/T 2260 county codes, known surnames) come from
//! `medspace-validators`; the rest are shape tests defined here. Each test gives the share of
//! non-empty values that pass it.

use std::collections::{HashMap, HashSet};

use medspace_validators::{
    dates, gb11643, icd10, icd9cm3, nhsa, permits, phone, reference, uscc, Sex,
};

use crate::header::is_cjk;

/// Shares (0–1) of the non-empty sampled values passing each test, plus the sample size and
/// how many distinct values there are.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    /// Non-empty values (after trimming).
    pub(crate) n: usize,
    /// Distinct non-empty values.
    pub(crate) distinct: usize,
    /// GB 11643 citizen ID numbers with a correct check character.
    pub(crate) id_valid: f64,
    /// First-generation 15-digit ID numbers (province code, then a valid 19YYMMDD birth date).
    pub(crate) id_legacy: f64,
    /// Partly masked values (`139****5678`, `张*`): some `*` and something else.
    pub(crate) masked: f64,
    /// Mainland mobile numbers.
    pub(crate) mobile: f64,
    /// Landline numbers with an area code.
    pub(crate) landline: f64,
    /// E-mail addresses.
    pub(crate) email: f64,
    /// ICD-10 codes (one or several per cell).
    pub(crate) icd: f64,
    /// Date-times.
    pub(crate) datetime: f64,
    /// Dates or date-times.
    pub(crate) date_any: f64,
    /// 6-digit GB/T 2260 county codes in the reference list.
    pub(crate) county: f64,
    /// Any 6 digits.
    pub(crate) six_digits: f64,
    /// `H` + 11 digits: NHSA designated medical institution codes.
    pub(crate) institution_code: f64,
    /// Chinese names (known surname + 1–3 characters) or romanised names.
    pub(crate) person_name: f64,
    /// Strings shaped like a name in any script: 1–30 letters (CJK or Latin) with `·`, spaces
    /// or dots between, no digits (扎西多吉, 阿依古丽·买买提, Mary Ann), and not recognisably a
    /// disease, department, organisation or address.
    pub(crate) name_shape: f64,
    /// 男/女/M/F/male/female.
    pub(crate) sex_word: f64,
    /// Any sex spelling, including the GB/T 2261.1 codes 0/1/2/9.
    pub(crate) sex_any: f64,
    /// Numbers (at most 15 integer digits, optional fraction).
    pub(crate) number: f64,
    /// Numbers with exactly two decimals (money).
    pub(crate) money: f64,
    /// Ages: 0–150, optionally with 岁/周岁/Y.
    pub(crate) age: f64,
    /// Ages written with a unit (`45岁`).
    pub(crate) age_with_unit: f64,
    /// Chinese postal addresses.
    pub(crate) address: f64,
    /// Free text: long strings with spaces or punctuation.
    pub(crate) free_text: f64,
    /// IPv4/IPv6 addresses.
    pub(crate) ip: f64,
    /// Chinese licence plates.
    pub(crate) plate: f64,
    /// Chinese passport numbers.
    pub(crate) passport: f64,
    /// 16–19 digit numbers passing the Luhn check (bank cards).
    pub(crate) luhn: f64,
    /// Values containing a letter or CJK character.
    pub(crate) text: f64,
    /// Department names (…科, …室, …病区).
    pub(crate) department: f64,
    /// Organisation names (…公司, …厂, …局).
    pub(crate) organisation: f64,
    /// Health institution names (…医院, …卫生院).
    pub(crate) hospital: f64,
    /// Ethnic groups (…族).
    pub(crate) ethnicity: f64,
    /// Marital status words.
    pub(crate) marital: f64,
    /// Chinese or English disease names.
    pub(crate) diagnosis_name: f64,
    /// Identifier-like codes: ASCII letters/digits with `-`, `_`, `.`, at least one digit.
    pub(crate) code: f64,
    /// NHSA western-drug (`X…`, 23) or patent-medicine (`Z…`, 20) codes.
    pub(crate) drug: f64,
    /// NHSA consumable codes (`C` + 19 or 26 digits).
    pub(crate) consumable: f64,
    /// NHSA 15-digit medical service item codes.
    pub(crate) service_item: f64,
    /// GB 32100 unified social credit codes (check character verified).
    pub(crate) uscc: f64,
    /// ICD-9-CM-3 operation codes with a dot (`36.10`, `47.09x001`).
    pub(crate) operation: f64,
    /// ICD-9-CM-3 codes in an extended national form (`36.1000`, `81.5100x001`).
    pub(crate) operation_ext: f64,
    /// 港澳居民来往内地通行证 and exit-entry permit numbers.
    pub(crate) permit: f64,
    /// 18-character values shaped like a citizen ID (17 digits + digit or X) whose GB 11643
    /// check character is wrong.
    pub(crate) id_bad_check: f64,
    /// Shortest value, in characters.
    pub(crate) min_chars: usize,
}

impl Stats {
    /// Share of distinct values among the non-empty ones.
    pub(crate) fn distinct_ratio(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.distinct as f64 / self.n as f64
        }
    }

    /// Weight of the evidence from `n` values: 1/3 for one value, 0.91 for 20, 0.98 for 100.
    pub(crate) fn size_factor(&self) -> f64 {
        let n = self.n as f64;
        n / (n + 2.0)
    }

    /// Computes the shares over the trimmed non-empty values.
    pub(crate) fn of(values: &[&str]) -> Stats {
        let mut b = StatsBuilder::default();
        for v in values {
            b.add(v);
        }
        b.finish()
    }
}

/// Distinct values counted exactly up to this many; beyond it the distinct ratio of the first
/// values is extrapolated (bounded memory for full scans).
const DISTINCT_CAP: usize = 50_000;

/// Accumulates [`Stats`] one value at a time, in bounded memory: counts per test, the sample
/// size, the shortest value, and distinct values (hashes) up to [`DISTINCT_CAP`].
#[derive(Debug, Clone)]
pub(crate) struct StatsBuilder {
    counts: [usize; FIELDS],
    n: usize,
    min_chars: usize,
    seen: HashSet<u64, std::hash::BuildHasherDefault<Prehashed>>,
    /// Values seen when the distinct set reached its cap.
    n_at_cap: Option<usize>,
    memo: Memo,
}

/// Test results of distinct values already tested: columns such as sex, department, hospital
/// or diagnosis code repeat a few hundred values millions of times in a full scan, and testing a
/// value costs some forty validators. Bounded to [`MEMO_CAP`] values; switched off when a column
/// turns out to repeat too little for the lookups to pay.
#[derive(Debug, Clone, Default)]
struct Memo {
    tested: HashMap<Box<str>, [bool; FIELDS]>,
    lookups: u64,
    hits: u64,
    off: bool,
}

/// Hasher of the distinct-value set, whose keys are already 64-bit hashes of the values:
/// hashing them a second time (SipHash) cost more than any test of a numeric value.
#[derive(Debug, Clone, Copy, Default)]
struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Distinct values whose test results a column keeps.
const MEMO_CAP: usize = 4096;
/// Lookups after which a column that hits the memo for fewer than half of its values stops using it.
const MEMO_PROBATION: u64 = 20_000;

impl Memo {
    fn test(&mut self, v: &str, chars: usize) -> [bool; FIELDS] {
        if self.off {
            return test_value(v, chars);
        }
        self.lookups += 1;
        if let Some(flags) = self.tested.get(v) {
            self.hits += 1;
            return *flags;
        }
        let flags = test_value(v, chars);
        if self.tested.len() < MEMO_CAP {
            self.tested.insert(v.into(), flags);
        }
        if self.lookups >= MEMO_PROBATION && self.hits * 2 < self.lookups {
            self.off = true;
            self.tested = HashMap::new();
        }
        flags
    }
}

impl Default for StatsBuilder {
    fn default() -> Self {
        StatsBuilder {
            counts: [0; FIELDS],
            n: 0,
            min_chars: usize::MAX,
            seen: HashSet::default(),
            n_at_cap: None,
            memo: Memo::default(),
        }
    }
}

impl StatsBuilder {
    /// Adds one raw value (trimmed here; empty values are ignored).
    pub(crate) fn add(&mut self, raw: &str) {
        let v = raw.trim();
        if v.is_empty() {
            return;
        }
        self.n += 1;
        if self.n_at_cap.is_none() {
            use std::hash::{BuildHasher, BuildHasherDefault};
            let h = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
                .hash_one(v);
            self.seen.insert(h);
            if self.seen.len() >= DISTINCT_CAP {
                self.n_at_cap = Some(self.n);
            }
        }
        let chars = v.chars().count();
        self.min_chars = self.min_chars.min(chars);
        let flags = self.memo.test(v, chars);
        for (count, flag) in self.counts.iter_mut().zip(flags) {
            *count += usize::from(flag);
        }
    }

    /// The shares.
    pub(crate) fn finish(&self) -> Stats {
        let n = self.n;
        let counts = &self.counts;
        let distinct = match self.n_at_cap {
            Some(at) if at > 0 => {
                let ratio = self.seen.len() as f64 / at as f64;
                ((ratio * n as f64).round() as usize).min(n)
            }
            _ => self.seen.len(),
        };
        let min_chars = self.min_chars;
        let rate = |i: usize| -> f64 {
            if n == 0 {
                0.0
            } else {
                counts.get(i).copied().unwrap_or(0) as f64 / n as f64
            }
        };
        Stats {
            n,
            distinct,
            id_valid: rate(ID),
            id_legacy: rate(ID_LEGACY),
            masked: rate(MASKED),
            mobile: rate(MOBILE),
            landline: rate(LANDLINE),
            email: rate(EMAIL),
            icd: rate(ICD),
            datetime: rate(DATETIME),
            date_any: rate(DATE_ANY),
            county: rate(COUNTY),
            six_digits: rate(SIX),
            institution_code: rate(INSTITUTION),
            person_name: rate(NAME),
            name_shape: rate(NAME_SHAPE),
            sex_word: rate(SEX_WORD),
            sex_any: rate(SEX_ANY),
            number: rate(NUMBER),
            money: rate(MONEY),
            age: rate(AGE),
            age_with_unit: rate(AGE_UNIT),
            address: rate(ADDRESS),
            free_text: rate(FREE_TEXT),
            ip: rate(IP),
            plate: rate(PLATE),
            passport: rate(PASSPORT),
            luhn: rate(LUHN),
            text: rate(TEXT),
            department: rate(DEPARTMENT),
            organisation: rate(ORGANISATION),
            hospital: rate(HOSPITAL),
            ethnicity: rate(ETHNICITY),
            marital: rate(MARITAL),
            diagnosis_name: rate(DIAGNOSIS_NAME),
            code: rate(CODE),
            drug: rate(DRUG),
            consumable: rate(CONSUMABLE),
            service_item: rate(SERVICE_ITEM),
            uscc: rate(USCC),
            operation: rate(OPERATION),
            operation_ext: rate(OPERATION_EXT),
            permit: rate(PERMIT),
            id_bad_check: rate(ID_BAD),
            min_chars: if n == 0 { 0 } else { min_chars },
        }
    }
}

const ID: usize = 0;
const MOBILE: usize = 1;
const LANDLINE: usize = 2;
const EMAIL: usize = 3;
const ICD: usize = 4;
const DATETIME: usize = 5;
const DATE_ANY: usize = 6;
const COUNTY: usize = 7;
const SIX: usize = 8;
const INSTITUTION: usize = 9;
const NAME: usize = 10;
const SEX_WORD: usize = 11;
const SEX_ANY: usize = 12;
const NUMBER: usize = 13;
const MONEY: usize = 14;
const AGE: usize = 15;
const AGE_UNIT: usize = 16;
const ADDRESS: usize = 17;
const FREE_TEXT: usize = 18;
const IP: usize = 19;
const PLATE: usize = 20;
const PASSPORT: usize = 21;
const LUHN: usize = 22;
const TEXT: usize = 23;
const DEPARTMENT: usize = 24;
const ORGANISATION: usize = 25;
const HOSPITAL: usize = 26;
const ETHNICITY: usize = 27;
const MARITAL: usize = 28;
const DIAGNOSIS_NAME: usize = 29;
const CODE: usize = 30;
const NAME_SHAPE: usize = 31;
const ID_LEGACY: usize = 32;
const MASKED: usize = 33;
const DRUG: usize = 34;
const CONSUMABLE: usize = 35;
const SERVICE_ITEM: usize = 36;
const USCC: usize = 37;
const OPERATION: usize = 38;
const OPERATION_EXT: usize = 39;
const PERMIT: usize = 40;
const ID_BAD: usize = 41;
const FIELDS: usize = 42;

/// Runs every test on one trimmed, non-empty value of `chars` characters.
fn test_value(v: &str, chars: usize) -> [bool; FIELDS] {
    let mut f = [false; FIELDS];
    let mut set = |i: usize, b: bool| {
        if let Some(slot) = f.get_mut(i) {
            *slot = b;
        }
    };
    let digits_only = v.bytes().all(|b| b.is_ascii_digit());
    let starts_digit = v.bytes().next().is_some_and(|b| b.is_ascii_digit());
    let has_cjk = v.chars().any(is_cjk);

    let id_valid = chars == 18 && gb11643::is_valid(v);
    set(ID, id_valid);
    set(
        ID_BAD,
        chars == 18
            && !id_valid
            && v.bytes().take(17).all(|b| b.is_ascii_digit())
            && v.as_bytes()
                .get(17)
                .copied()
                .is_some_and(|b| b.is_ascii_digit() || b == b'X' || b == b'x'),
    );
    let first = v.as_bytes().first().copied().unwrap_or_default();
    set(
        DRUG,
        (first == b'X' && chars == 23 && nhsa::is_western_drug(v))
            || (first == b'Z' && chars == 20 && nhsa::is_patent_medicine(v)),
    );
    set(CONSUMABLE, first == b'C' && nhsa::is_consumable(v));
    set(SERVICE_ITEM, chars == 15 && nhsa::is_service_item(v));
    set(USCC, chars == 18 && !id_valid && uscc::is_valid(v));
    let operation = starts_digit && v.contains('.') && icd9cm3::is_code(v);
    set(OPERATION, operation);
    set(OPERATION_EXT, operation && icd9cm3::is_extended(v));
    set(
        PERMIT,
        first.is_ascii_uppercase()
            && chars <= 12
            && (permits::is_hk_macao_travel_permit(v) || permits::is_exit_entry_permit(v)),
    );
    set(ID_LEGACY, chars == 15 && digits_only && is_legacy_id(v));
    set(
        MASKED,
        v.contains(['*', '＊']) && v.chars().any(|c| c != '*' && c != '＊'),
    );
    let mobile = phone::is_mobile(v);
    set(MOBILE, mobile);
    set(LANDLINE, !mobile && is_landline(v));
    set(EMAIL, is_email(v));
    set(ICD, is_icd_list(v));
    if starts_digit {
        let dt = dates::parse_datetime(v).is_some();
        set(DATETIME, dt);
        set(DATE_ANY, dt || dates::parse_date(v).is_some());
    }
    let six = chars == 6 && digits_only;
    set(SIX, six);
    set(COUNTY, six && reference::county_by_code(v).is_some());
    set(INSTITUTION, is_institution_code(v));
    let organisation = has_cjk && ends_with_any(v, ORGANISATION_SUFFIXES) && chars >= 4;
    let hospital = has_cjk && ends_with_any(v, HOSPITAL_SUFFIXES) && chars >= 3;
    let department =
        has_cjk && (2..=10).contains(&chars) && ends_with_any(v, DEPARTMENT_SUFFIXES) && !hospital;
    let diagnosis = !department && is_diagnosis_name(v, has_cjk);
    set(ORGANISATION, organisation);
    set(HOSPITAL, hospital);
    set(DEPARTMENT, department);
    set(DIAGNOSIS_NAME, diagnosis);
    set(NAME, !diagnosis && !department && is_person_name(v));
    let address = has_cjk && !organisation && !hospital && is_address(v, chars);
    let named_thing = diagnosis || department || organisation || hospital || address;
    set(NAME_SHAPE, !named_thing && is_name_shaped(v, chars));
    set(SEX_WORD, is_sex_word(v));
    set(SEX_ANY, Sex::parse(v).is_some() || SEX_UNKNOWN.contains(&v));
    let number = is_number(v);
    set(NUMBER, number);
    set(
        MONEY,
        number && v.split_once('.').is_some_and(|(_, frac)| frac.len() == 2),
    );
    let (age, unit) = age_of(v);
    set(AGE, age);
    set(AGE_UNIT, unit);
    set(
        ADDRESS,
        has_cjk && !organisation && !hospital && is_address(v, chars),
    );
    set(FREE_TEXT, is_free_text(v, chars));
    set(
        IP,
        v.contains(['.', ':']) && v.parse::<std::net::IpAddr>().is_ok(),
    );
    set(PLATE, is_plate(v));
    set(PASSPORT, is_passport(v));
    set(LUHN, digits_only && (16..=19).contains(&chars) && luhn(v));
    set(TEXT, v.chars().any(char::is_alphabetic));
    set(
        ETHNICITY,
        has_cjk && (2..=6).contains(&chars) && v.ends_with('族'),
    );
    set(MARITAL, MARITAL_WORDS.contains(&v));
    set(CODE, is_code_like(v, chars));
    f
}

const SEX_UNKNOWN: &[&str] = &[
    "0",
    "9",
    "未知",
    "未说明",
    "未知的性别",
    "未说明的性别",
    "U",
    "u",
    "unknown",
    "Unknown",
];
const MARITAL_WORDS: &[&str] = &[
    "未婚",
    "已婚",
    "初婚",
    "再婚",
    "复婚",
    "丧偶",
    "离婚",
    "离异",
    "未说明的婚姻状况",
    "其他",
];
const ORGANISATION_SUFFIXES: &[&str] = &[
    "公司",
    "厂",
    "集团",
    "学校",
    "小学",
    "中学",
    "大学",
    "学院",
    "幼儿园",
    "局",
    "委员会",
    "银行",
    "研究所",
    "研究院",
    "事务所",
    "商店",
    "超市",
    "酒店",
    "协会",
    "合作社",
    "政府",
    "办事处",
    "工作室",
    "中心",
    "部队",
    "站",
    "所",
    "店",
];
const HOSPITAL_SUFFIXES: &[&str] = &[
    "医院",
    "卫生院",
    "诊所",
    "卫生室",
    "卫生服务中心",
    "卫生服务站",
    "保健院",
    "门诊部",
    "疾病预防控制中心",
    "医务室",
];
const DEPARTMENT_SUFFIXES: &[&str] =
    &["科", "病区", "诊室", "门诊室", "治疗室", "检验室", "手术室"];
/// Characters a disease or procedure name contains (肺炎, 糖尿病, 胃恶性肿瘤, 单胎顺产 …).
const DISEASE_WORDS: &[&str] = &[
    "病",
    "炎",
    "症",
    "癌",
    "瘤",
    "感染",
    "结核",
    "梅毒",
    "骨折",
    "损伤",
    "综合征",
    "障碍",
    "妊娠",
    "衰竭",
    "梗死",
    "出血",
    "中毒",
    "疝",
    "痛",
    "结石",
    "增生",
    "硬化",
    "近视",
    "白内障",
    "贫血",
    "高血压",
    "哮喘",
    "疱疹",
    "湿疣",
    "痔",
    "伤口",
    "震荡",
    "失眠",
    "不孕",
    "肿",
    "疹",
    "溃疡",
    "龋",
    "疏松",
    "甲状腺",
    "颤动",
    "缺损",
    "狼疮",
    "癫痫",
    "顺产",
    "剖宫产",
    "分娩",
    "流产",
    "依赖",
    "发作",
    "感冒",
    "缺陷",
    "帕金森",
    "肌无力",
    "血友",
    "肛瘘",
    "肛裂",
    "脓肿",
    "畸形",
    "功能减退",
    "功能亢进",
    "囊肿",
    "息肉",
    "粘连",
    "积液",
    "扭伤",
    "挫伤",
    "烧伤",
    "咳嗽",
    "发热",
    "腹泻",
    "呕吐",
];
const ENGLISH_DISEASE_WORDS: &[&str] = &[
    "disease",
    "disorder",
    "syndrome",
    "infection",
    "fracture",
    "cancer",
    "carcinoma",
    "neoplasm",
    "tumour",
    "tumor",
    "hypertension",
    "diabetes",
    "pneumonia",
    "bronchitis",
    "asthma",
    "hepatitis",
    "tuberculosis",
    "syphilis",
    "gastritis",
    "influenza",
    "injury",
    "failure",
    "pregnancy",
    "delivery",
    "depression",
    "schizophrenia",
];
/// Last characters that make a 2–4 character string unlikely to be a personal name.
const NON_NAME_ENDINGS: &[char] = &[
    '病', '炎', '症', '癌', '瘤', '科', '室', '院', '司', '局', '厂', '省', '市', '区', '县', '镇',
    '乡', '村', '路', '街', '号', '族', '婚', '毒', '疮', '痛', '伤', '折', '压', '核', '疹', '痔',
    '检', '费', '药', '险', '诊', '保', '型', '类', '级', '等', '所', '站', '部', '处', '会', '校',
    '店', '门', '楼', '组', '队', '性',
];
const ADDRESS_MARKERS: &[&str] = &[
    "省",
    "市",
    "区",
    "县",
    "镇",
    "乡",
    "村",
    "路",
    "街",
    "巷",
    "弄",
    "号",
    "栋",
    "幢",
    "楼",
    "单元",
    "室",
    "大道",
    "小区",
    "胡同",
    "组",
    "旗",
    "盟",
    "自治州",
];
/// Characters that can start a licence plate: the provincial abbreviations.
const PLATE_PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领";

fn ends_with_any(v: &str, suffixes: &[&str]) -> bool {
    suffixes.iter().any(|s| v.ends_with(s))
}

/// A landline: `0` + area code (2–3 more digits) + 7–8 digit subscriber number, optionally
/// with `-`, spaces or brackets, and an optional `-` extension.
fn is_landline(v: &str) -> bool {
    let main = match v.rsplit_once(['-', '转']) {
        // An extension of 1–5 digits after the full number.
        Some((head, ext))
            if (1..=5).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let head_digits = head.bytes().filter(u8::is_ascii_digit).count();
            if head_digits >= 10 {
                head
            } else {
                v
            }
        }
        _ => v,
    };
    if !main
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | ' ' | '(' | ')' | '（' | '）'))
    {
        return false;
    }
    let digits: String = main.chars().filter(char::is_ascii_digit).collect();
    let b = digits.as_bytes();
    b.first() == Some(&b'0') && b.get(1).is_some_and(|d| *d != b'0') && (10..=12).contains(&b.len())
}

/// A 15-digit first-generation ID (GB 11643-1989): a province code 11–82, four more address
/// digits, a 6-digit birth date YYMMDD of the 1900s and a 3-digit sequence. No check digit.
fn is_legacy_id(v: &str) -> bool {
    let province = v.get(..2).and_then(|p| p.parse::<u8>().ok());
    let birth = v.get(6..12).map(|d| format!("19{d}"));
    province.is_some_and(|p| (11..=82).contains(&p))
        && birth.is_some_and(|b| dates::parse_date(&b).is_some())
}

fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && v.chars().all(|c| c.is_ascii_graphic())
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// One or more ICD-10 codes separated by `,`, `;`, `|`, `、` or spaces; lower case tolerated.
fn is_icd_list(v: &str) -> bool {
    // Every ICD-10 code has a letter; most values (numbers, dates, Chinese text) stop here.
    if !v.bytes().any(|b| b.is_ascii_alphabetic()) {
        return false;
    }
    let mut any = false;
    for part in v
        .split([',', ';', '|', '、', '，', '；', ' '])
        .filter(|p| !p.is_empty())
    {
        if part.len() > 16 || !icd10::is_code(&part.to_ascii_uppercase()) {
            return false;
        }
        any = true;
    }
    any
}

fn is_institution_code(v: &str) -> bool {
    v.len() == 12 && v.starts_with('H') && v.bytes().skip(1).all(|b| b.is_ascii_digit())
}

fn is_person_name(v: &str) -> bool {
    // A name is all CJK (starting with a surname) or two or three romanised words.
    if !v.chars().next().is_some_and(is_cjk) && !v.contains(' ') {
        return false;
    }
    let chars: Vec<char> = v.chars().collect();
    if chars.iter().all(|c| is_cjk(*c) || *c == '·' || *c == '•') {
        let dots = chars.iter().filter(|c| !is_cjk(**c)).count();
        if dots > 0 {
            // Uyghur and other transliterated names: 阿依古丽·买买提.
            let first_last_cjk = chars.first().is_some_and(|c| is_cjk(*c))
                && chars.last().is_some_and(|c| is_cjk(*c));
            return first_last_cjk && (4..=16).contains(&chars.len());
        }
        return (2..=4).contains(&chars.len())
            && chars.last().is_some_and(|c| !NON_NAME_ENDINGS.contains(c))
            && reference::is_surname_prefix(v);
    }
    // Romanised: "Zhang San", "ZHANG Wei", "Li Xiaoming".
    let words: Vec<&str> = v.split(' ').filter(|w| !w.is_empty()).collect();
    (2..=3).contains(&words.len())
        && words.iter().all(|w| {
            let mut cs = w.chars();
            let first_upper = cs.next().is_some_and(|c| c.is_ascii_uppercase());
            first_upper && (2..=12).contains(&w.len()) && w.chars().all(|c| c.is_ascii_alphabetic())
        })
}

fn is_name_shaped(v: &str, chars: usize) -> bool {
    (1..=30).contains(&chars)
        && v.chars().any(char::is_alphabetic)
        && v.chars()
            .all(|c| c.is_alphabetic() || matches!(c, '·' | '•' | ' ' | '.' | '-'))
}

fn is_sex_word(v: &str) -> bool {
    matches!(
        v,
        "男" | "女"
            | "男性"
            | "女性"
            | "M"
            | "F"
            | "m"
            | "f"
            | "male"
            | "female"
            | "Male"
            | "Female"
            | "MALE"
            | "FEMALE"
    )
}

/// A decimal number: optional sign, 1–15 integer digits, optional `.` and 1–6 digits.
/// Thousands separators are not accepted (they would make `1,234` look like a list).
fn is_number(v: &str) -> bool {
    let body = v.strip_prefix(['-', '+']).unwrap_or(v);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let int_ok = (1..=15).contains(&int.len()) && int.bytes().all(|b| b.is_ascii_digit());
    let frac_ok =
        frac.is_none_or(|f| (1..=6).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()));
    int_ok && frac_ok
}

/// `(is an age, is written with a unit)`: 0–150, optionally followed by 岁, 周岁 or Y.
fn age_of(v: &str) -> (bool, bool) {
    let (num, unit) = match v
        .strip_suffix("周岁")
        .or_else(|| v.strip_suffix('岁'))
        .or_else(|| v.strip_suffix(['Y', 'y']))
    {
        Some(n) => (n.trim(), true),
        None => (v, false),
    };
    let ok = (1..=3).contains(&num.len())
        && num.bytes().all(|b| b.is_ascii_digit())
        && num.parse::<u16>().is_ok_and(|a| a <= 150);
    (ok, ok && unit)
}

fn is_address(v: &str, chars: usize) -> bool {
    chars >= 6 && ADDRESS_MARKERS.iter().filter(|m| v.contains(*m)).count() >= 2
}

fn is_free_text(v: &str, chars: usize) -> bool {
    if chars >= 50 {
        return true;
    }
    let spaces = v.chars().filter(|c| c.is_whitespace()).count();
    let punct = v.chars().any(|c| "，。；：！？、,;!?".contains(c));
    chars >= 15 && (spaces >= 2 || punct)
}

fn is_plate(v: &str) -> bool {
    let mut cs = v.chars().filter(|c| *c != '·' && *c != ' ');
    let (Some(p), Some(letter)) = (cs.next(), cs.next()) else {
        return false;
    };
    let rest: Vec<char> = cs.collect();
    PLATE_PROVINCES.contains(p)
        && letter.is_ascii_uppercase()
        && (5..=6).contains(&rest.len())
        && rest.iter().all(|c| {
            c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '学' | '警' | '挂')
        })
}

/// Chinese passports: E/G/D/S/P + 8 digits, or E + letter + 7 digits.
fn is_passport(v: &str) -> bool {
    let b = v.as_bytes();
    if b.len() != 9 {
        return false;
    }
    let tail_digits = |from: usize| b.iter().skip(from).all(u8::is_ascii_digit);
    match (b.first(), b.get(1)) {
        (Some(b'E' | b'G' | b'D' | b'S' | b'P'), Some(d)) if d.is_ascii_digit() => tail_digits(1),
        (Some(b'E'), Some(l)) if l.is_ascii_uppercase() => tail_digits(2),
        _ => false,
    }
}

/// Luhn (ISO/IEC 7812) check over an all-digit string.
fn luhn(v: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in v.bytes().rev().enumerate() {
        let mut d = u32::from(b.wrapping_sub(b'0'));
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    matches!(sum % 10, 0)
}

fn is_diagnosis_name(v: &str, has_cjk: bool) -> bool {
    if has_cjk {
        // One automaton over the disease words rather than a substring search per word.
        static WORDS: std::sync::OnceLock<Option<aho_corasick::AhoCorasick>> =
            std::sync::OnceLock::new();
        let automaton = WORDS.get_or_init(|| aho_corasick::AhoCorasick::new(DISEASE_WORDS).ok());
        return v.chars().count() <= 40
            && match automaton {
                Some(ac) => ac.is_match(v),
                None => DISEASE_WORDS.iter().any(|w| v.contains(w)),
            };
    }
    v.len() <= 80
        && v.split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| !w.is_empty())
            .any(|w| {
                ENGLISH_DISEASE_WORDS
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(w))
            })
}

fn is_code_like(v: &str, chars: usize) -> bool {
    (4..=40).contains(&chars)
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && v.bytes().any(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_tests() {
        assert!(is_landline("0571-87654321"));
        assert!(is_landline("(010)12345678"));
        assert!(is_landline("021-12345678-123"));
        assert!(!is_landline("13912345678"));
        assert!(!is_landline("12345678"));
        assert!(is_email("a.b@example.com.cn"));
        assert!(!is_email("a@b"));
        assert!(!is_email("张三@example.com"));
        assert!(is_icd_list("I10"));
        assert!(is_icd_list("i10;E11.9"));
        assert!(!is_icd_list("I10;高血压"));
        assert!(!is_icd_list(""));
        assert!(is_institution_code("H33010600012"));
        assert!(!is_institution_code("H3301060001"));
        assert!(
            is_number("-12.50")
                && is_number("0")
                && !is_number("1,234")
                && !is_number("12.")
                && !is_number(".")
        );
        assert_eq!(age_of("45岁"), (true, true));
        assert_eq!(age_of("45"), (true, false));
        assert_eq!(age_of("151"), (false, false));
        assert!(is_plate("浙A12345") && is_plate("京A·D12345") && !is_plate("浙12345"));
        assert!(is_passport("E12345678") && is_passport("EA1234567") && !is_passport("H12345678"));
        assert!(luhn("4111111111111111") && !luhn("4111111111111112"));
        assert!(
            is_code_like("JS202403150001", 14)
                && !is_code_like("abcd", 4)
                && !is_code_like("12 34", 5)
        );
    }

    #[test]
    fn names_versus_other_short_chinese_words() {
        for name in [
            "张伟",
            "王秀英",
            "欧阳娜",
            "李娜",
            "阿依古丽·买买提",
            "Zhang San",
            "ZHANG Wei",
        ] {
            assert!(is_person_name(name), "{name}");
        }
        for not in [
            "内科",
            "梅毒",
            "肺炎",
            "男",
            "张",
            "北京市",
            "职工基本医疗保险",
            "Acute bronchitis",
            "高血压病",
        ] {
            let diagnosis = is_diagnosis_name(not, not.chars().any(is_cjk));
            assert!(diagnosis || !is_person_name(not), "{not}");
        }
    }

    #[test]
    fn addresses_organisations_departments() {
        assert!(is_address("浙江省杭州市西湖区文三路100号", 16));
        assert!(!is_address("杭州", 2));
        let s = Stats::of(&[
            "杭州市西湖区某某科技有限公司",
            "杭州市第一人民医院",
            "心血管内科",
        ]);
        assert!((s.organisation - 1.0 / 3.0).abs() < 1e-9);
        assert!((s.hospital - 1.0 / 3.0).abs() < 1e-9);
        assert!((s.department - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.address, 0.0, "organisations are not addresses");
    }

    #[test]
    fn stats_ignore_empty_values_and_count_distinct() {
        let s = Stats::of(&["", "  ", "13912345678", "13912345678", "13812345678"]);
        assert_eq!(s.n, 3);
        assert_eq!(s.distinct, 2);
        assert_eq!(s.mobile, 1.0);
        assert_eq!(s.min_chars, 11);
        let empty = Stats::of(&[]);
        assert_eq!((empty.n, empty.mobile, empty.min_chars), (0, 0.0, 0));
    }

    #[test]
    fn dates_and_ids() {
        let s = Stats::of(&["2024-03-15 09:30:00", "2024-03-16", "20240317"]);
        assert!((s.datetime - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.date_any, 1.0);
        let ids = Stats::of(&["11010519491231002X", "110105194912310021"]);
        assert_eq!(ids.id_valid, 0.5);
        let legacy = Stats::of(&["110105491231002", "110105491331002", "990105491231002"]);
        assert!((legacy.id_legacy - 1.0 / 3.0).abs() < 1e-9);
        let masked = Stats::of(&["139****5678", "张*", "***", "13912345678"]);
        assert_eq!(masked.masked, 0.5);
        let county = Stats::of(&["330106", "999999"]);
        assert_eq!((county.county, county.six_digits), (0.5, 1.0));
    }
}
