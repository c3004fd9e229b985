//! Special diseases (特殊病种) of GB/T 39725-2020 §11.1.2.3 a) 2), which make a column level 5
//! (§6.2 e: "特殊病种（例如艾滋病、性病）的详细资料").
//!
//! The standard names eight classes (性生殖相关疾病, 传染性疾病, 心理疾病, 恶性肿瘤, 遗传性疾病,
//! 肛门疾病, 罕见病, 其他不治之症) without codes. Reports name the finer categories below, in
//! English snake_case, so a reviewer sees *which* special disease a column holds:
//!
//! | name | ICD-10 | class of §11.1.2.3 |
//! |---|---|---|
//! | `hiv` | B20–B24, Z21, R75 | 传染性疾病 |
//! | `viral_hepatitis` | B15–B19 | 传染性疾病 |
//! | `tuberculosis` | A15–A19 | 传染性疾病 |
//! | `sexually_transmitted` | A50–A64 | 性生殖相关疾病 |
//! | `infectious` | the rest of A00–B99, J09–J11, U07.1–U07.2 | 传染性疾病 |
//! | `cancer` | C00–C97, D00–D09, Z51.0–Z51.1, Z85 | 恶性肿瘤 |
//! | `mental_disorder` | F00–F09, F20–F99, X60–X84 | 心理疾病 |
//! | `substance_use` | F10–F19 | 心理疾病 |
//! | `reproductive` | O00–O99, N46, N48.4, N70–N77, N96–N98, Z30–Z39 | 性生殖相关疾病 |
//! | `hereditary` | Q00–Q99, D55–D58 … | 遗传性疾病 |
//! | `anal` | I84, K60–K62, K64 | 肛门疾病 |
//! | `rare_disease` | codes on the 2018 national rare-disease list | 罕见病 |
//! | `incurable` | G30, N18.0, N18.5, Z51.5 | 其他不治之症 |
//!
//! The first five rows are this module's; the rest come from
//! `medspace_validators::icd10::special_disease_category`, whose documentation lists every
//! range. Disease *names* (诊断名称, free text) are matched against keywords of the same
//! categories; in free text, clauses with a negation (否认, 无, 未见, 排除 …) are skipped, so
//! "否认肝炎、结核病史" does not count.

use medspace_validators::icd10;

/// The special-disease category names, in report order.
pub const SPECIAL_DISEASE_NAMES: [&str; 13] = [
    "hiv",
    "viral_hepatitis",
    "tuberculosis",
    "sexually_transmitted",
    "infectious",
    "cancer",
    "mental_disorder",
    "substance_use",
    "reproductive",
    "hereditary",
    "anal",
    "rare_disease",
    "incurable",
];

/// ICD-10 ranges reported more finely than the validators' classes, by 3-character category.
const FINE_RANGES: [(&str, &str, &str); 7] = [
    ("B20", "B24", "hiv"),
    ("Z21", "Z21", "hiv"),
    ("R75", "R75", "hiv"),
    ("B15", "B19", "viral_hepatitis"),
    ("A15", "A19", "tuberculosis"),
    ("A50", "A64", "sexually_transmitted"),
    ("F10", "F19", "substance_use"),
];

/// Keywords of disease names, per category, checked in this order (so 乙型病毒性肝炎 is
/// `viral_hepatitis` before anything more general).
const KEYWORDS: &[(&str, &[&str])] = &[
    (
        "hiv",
        &[
            "艾滋病",
            "人类免疫缺陷病毒",
            "获得性免疫缺陷",
            "hiv",
            "aids",
        ],
    ),
    (
        "viral_hepatitis",
        &[
            "病毒性肝炎",
            "乙型肝炎",
            "丙型肝炎",
            "甲型肝炎",
            "丁型肝炎",
            "戊型肝炎",
            "乙肝",
            "丙肝",
            "hepatitis",
        ],
    ),
    ("tuberculosis", &["结核", "tubercul"]),
    (
        "sexually_transmitted",
        &[
            "梅毒",
            "淋病",
            "淋球菌",
            "尖锐湿疣",
            "生殖器疱疹",
            "衣原体",
            "性病",
            "软下疳",
            "syphil",
            "gonorrh",
            "chlamydia",
        ],
    ),
    (
        "infectious",
        &[
            "新型冠状病毒",
            "新冠",
            "流行性感冒",
            "霍乱",
            "鼠疫",
            "伤寒",
            "痢疾",
            "狂犬病",
            "麻疹",
            "手足口病",
            "猩红热",
            "布鲁氏菌",
            "血吸虫",
            "疟疾",
            "登革热",
            "传染病",
        ],
    ),
    (
        "cancer",
        &[
            "恶性肿瘤",
            "癌",
            "肉瘤",
            "白血病",
            "淋巴瘤",
            "骨髓瘤",
            "黑色素瘤",
            "malignan",
            "cancer",
            "carcinom",
            "lymphoma",
            "leukaemia",
            "leukemia",
            "sarcoma",
            "melanoma",
        ],
    ),
    (
        "substance_use",
        &[
            "酒精依赖",
            "阿片",
            "药物依赖",
            "物质依赖",
            "镇静催眠药依赖",
            "吸毒",
            "毒品",
            "戒断",
            "海洛因",
            "冰毒",
            "苯丙胺",
            "opioid",
            "heroin",
            "alcoholi",
        ],
    ),
    (
        "mental_disorder",
        &[
            "精神分裂",
            "抑郁",
            "焦虑",
            "双相情感",
            "躁狂",
            "精神障碍",
            "精神病",
            "强迫症",
            "孤独症",
            "自闭症",
            "人格障碍",
            "进食障碍",
            "schizophren",
            "depressi",
            "bipolar",
            "psychos",
        ],
    ),
    (
        "reproductive",
        &[
            "妊娠",
            "分娩",
            "流产",
            "不孕",
            "不育",
            "早产",
            "产后",
            "剖宫产",
            "顺产",
            "产褥",
            "宫外孕",
            "避孕",
            "引产",
            "阴道炎",
            "盆腔炎",
            "宫颈炎",
            "pregnan",
            "abortion",
            "infertil",
        ],
    ),
    (
        "hereditary",
        &[
            "地中海贫血",
            "先天性",
            "遗传性",
            "唐氏",
            "染色体",
            "房间隔缺损",
            "室间隔缺损",
        ],
    ),
    (
        "anal",
        &[
            "痔",
            "肛瘘",
            "肛裂",
            "肛周脓肿",
            "肛门",
            "haemorrhoid",
            "hemorrhoid",
        ],
    ),
    (
        "rare_disease",
        &[
            "罕见病",
            "血友病",
            "渐冻",
            "运动神经元病",
            "肌萎缩侧索硬化",
            "脊髓性肌萎缩",
            "戈谢病",
            "法布雷病",
            "多发性硬化",
            "重症肌无力",
            "苯丙酮尿症",
            "马凡综合征",
            "成骨不全",
            "亨廷顿",
            "肝豆状核变性",
            "视神经脊髓炎",
            "肺动脉高压",
        ],
    ),
    (
        "incurable",
        &[
            "阿尔茨海默",
            "终末期肾",
            "尿毒症",
            "慢性肾脏病5期",
            "临终关怀",
            "姑息治疗",
        ],
    ),
];

/// Words that negate the clause they are in (Chinese clinical notes: 否认肝炎、结核病史).
const NEGATIONS: &[&str] = &[
    "否认",
    "无",
    "未见",
    "排除",
    "未发现",
    "阴性",
    "denies",
    "denied",
    "no ",
    "negative",
];

/// The special-disease category of one ICD-10 code (`B20.1`, `c34.900x001`), if any.
pub fn special_disease_of_code(code: &str) -> Option<&'static str> {
    let upper = code.trim().to_ascii_uppercase();
    if !icd10::is_code(&upper) {
        return None;
    }
    let head = upper.get(..3)?;
    if let Some((_, _, name)) = FINE_RANGES
        .iter()
        .find(|(from, to, _)| head >= *from && head <= *to)
    {
        return Some(name);
    }
    let class = icd10::special_disease_category(&upper)?;
    Some(match class {
        icd10::MALIGNANT_NEOPLASM => "cancer",
        icd10::SEXUAL_REPRODUCTIVE => "reproductive",
        icd10::INFECTIOUS => "infectious",
        icd10::MENTAL => "mental_disorder",
        icd10::HEREDITARY => "hereditary",
        icd10::ANAL => "anal",
        icd10::RARE => "rare_disease",
        icd10::INCURABLE => "incurable",
        _ => "infectious",
    })
}

/// Special-disease categories named in a disease name (`慢性乙型病毒性肝炎`, `Chronic hepatitis B`).
pub fn special_diseases_in_name(name: &str) -> Vec<&'static str> {
    static SET: std::sync::OnceLock<KeywordSet> = std::sync::OnceLock::new();
    let set = SET.get_or_init(|| {
        KeywordSet::new(
            KEYWORDS
                .iter()
                .enumerate()
                .flat_map(|(i, (_, words))| words.iter().map(move |w| (*w, i))),
        )
    });
    let lower = name.to_lowercase();
    let mut hit = vec![false; KEYWORDS.len()];
    set.for_each_match(&lower, |category| {
        if let Some(h) = hit.get_mut(category) {
            *h = true;
        }
    });
    let mut found: Vec<&'static str> = Vec::new();
    for ((category, _), h) in KEYWORDS.iter().zip(hit) {
        if h && !found.contains(category) {
            found.push(*category);
        }
    }
    found
}

/// Keywords (lower case) searched in one pass over a text with the rule of
/// [`contains_keyword`]: one automaton instead of a substring search per keyword, which made
/// keyword matching the largest cost of a full scan's diagnosis and free-text columns.
pub(crate) struct KeywordSet {
    words: Vec<(&'static str, usize)>,
    automaton: Option<aho_corasick::AhoCorasick>,
}

impl KeywordSet {
    /// The keywords, each with the value it reports (a category index, or anything).
    pub(crate) fn new(words: impl IntoIterator<Item = (&'static str, usize)>) -> KeywordSet {
        let words: Vec<(&'static str, usize)> = words.into_iter().collect();
        let automaton = aho_corasick::AhoCorasick::new(words.iter().map(|(w, _)| *w)).ok();
        KeywordSet { words, automaton }
    }

    /// Calls `f` with the value of every keyword present in `lower` (an ASCII keyword only where
    /// it starts a word), possibly more than once.
    pub(crate) fn for_each_match(&self, lower: &str, mut f: impl FnMut(usize)) {
        match &self.automaton {
            Some(ac) => {
                for m in ac.find_overlapping_iter(lower) {
                    if let Some((word, value)) = self.words.get(m.pattern().as_usize()) {
                        if !word.is_ascii() || starts_word(lower, m.start()) {
                            f(*value);
                        }
                    }
                }
            }
            // Only if the automaton could not be built: the same answer, one keyword at a time.
            None => {
                for (word, value) in &self.words {
                    if contains_keyword(lower, word) {
                        f(*value);
                    }
                }
            }
        }
    }

    /// Whether any keyword is present in `lower`.
    pub(crate) fn any(&self, lower: &str) -> bool {
        let mut any = false;
        self.for_each_match(lower, |_| any = true);
        any
    }
}

/// Whether byte `i` of `lower` starts a word: at the start, or after a character that is not an
/// ASCII letter or digit.
fn starts_word(lower: &str, i: usize) -> bool {
    i == 0
        || lower
            .get(..i)
            .and_then(|p| p.chars().last())
            .is_none_or(|c| !c.is_ascii_alphanumeric())
}

/// An ASCII keyword must start a word (`hiv` in "HIV disease" but not in "archive"); a Chinese
/// one may be anywhere.
pub(crate) fn contains_keyword(lower: &str, word: &str) -> bool {
    if !word.is_ascii() {
        return lower.contains(word);
    }
    lower
        .match_indices(word)
        .any(|(i, _)| starts_word(lower, i))
}

/// Special-disease categories in one cell: ICD-10 codes anywhere in it, and disease names.
/// With `negations`, clauses of free text containing a negation are skipped.
pub(crate) fn scan_value(value: &str, negations: bool, found: &mut Vec<&'static str>) {
    let mut add = |c: &'static str| {
        if !found.contains(&c) {
            found.push(c);
        }
    };
    for clause in clauses(value) {
        let lower = clause.to_lowercase();
        if negations && NEGATIONS.iter().any(|n| lower.contains(n)) {
            continue;
        }
        for token in clause
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
            .filter(|t| t.len() >= 3)
        {
            if let Some(c) = special_disease_of_code(token.trim_end_matches('.')) {
                add(c);
            }
        }
        for c in special_diseases_in_name(clause) {
            add(c);
        }
    }
}

/// Splits text into clauses at sentence and clause punctuation (not at `.` inside codes such as
/// `B20.1`: a `.` only ends a clause when followed by a space or the end).
fn clauses(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let next = iter.peek().map(|(_, n)| *n);
        let ends = matches!(
            c,
            '，' | '。' | '；' | ';' | ',' | '\n' | '！' | '？' | '!' | '?'
        ) || (c == '.' && next.is_none_or(char::is_whitespace));
        if ends {
            if let Some(part) = text.get(start..i) {
                out.push(part);
            }
            start = i + c.len_utf8();
        }
    }
    if let Some(part) = text.get(start..) {
        out.push(part);
    }
    out.retain(|p| !p.trim().is_empty());
    out
}

/// Sorts categories into [`SPECIAL_DISEASE_NAMES`] order.
pub(crate) fn sort_categories(found: &mut [&'static str]) {
    found.sort_by_key(|c| {
        SPECIAL_DISEASE_NAMES
            .iter()
            .position(|n| n == c)
            .unwrap_or(usize::MAX)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_the_brief() {
        let cases = [
            ("B20", "hiv"),
            ("B24", "hiv"),
            ("B20.1", "hiv"),
            ("B16.9", "viral_hepatitis"),
            ("B18.1", "viral_hepatitis"),
            ("A15.0", "tuberculosis"),
            ("A19", "tuberculosis"),
            ("A51.9", "sexually_transmitted"),
            ("A63.0", "sexually_transmitted"),
            ("C00", "cancer"),
            ("C97", "cancer"),
            ("c34.900x001", "cancer"),
            ("F20.9", "mental_disorder"),
            ("F99", "mental_disorder"),
            ("F10.2", "substance_use"),
            ("F19", "substance_use"),
            ("O00", "reproductive"),
            ("O99.8", "reproductive"),
            ("U07.1", "infectious"),
            ("A00", "infectious"),
            ("Q21.1", "hereditary"),
            ("K64.9", "anal"),
            ("D66", "rare_disease"),
            ("G30.9", "incurable"),
        ];
        for (code, want) in cases {
            assert_eq!(special_disease_of_code(code), Some(want), "{code}");
        }
        for code in [
            "I10",
            "E11.9",
            "J06.9",
            "K29.7",
            "C98",
            "D10",
            "F09x",
            "",
            "高血压",
        ] {
            assert_eq!(special_disease_of_code(code), None, "{code}");
        }
        for (_, _, name) in FINE_RANGES {
            assert!(SPECIAL_DISEASE_NAMES.contains(&name));
        }
        for (name, _) in KEYWORDS {
            assert!(SPECIAL_DISEASE_NAMES.contains(name));
        }
    }

    /// Names and codes of the same disease give the same category (pairs as in the generator's
    /// catalogue).
    #[test]
    fn names_agree_with_codes() {
        let pairs = [
            ("B24", "人类免疫缺陷病毒病"),
            ("B18.1", "慢性乙型病毒性肝炎"),
            ("B18.2", "慢性丙型病毒性肝炎"),
            ("A15.0", "肺结核"),
            ("A53.9", "梅毒"),
            ("A54.9", "淋球菌感染"),
            ("A63.0", "尖锐湿疣"),
            ("C22.0", "肝细胞癌"),
            ("C50.9", "乳房恶性肿瘤"),
            ("F10.2", "酒精依赖综合征"),
            ("F11.2", "阿片类依赖综合征"),
            ("F20.9", "精神分裂症"),
            ("F32.9", "抑郁发作"),
            ("F41.9", "焦虑障碍"),
            ("O80.0", "单胎顺产"),
            ("O82.9", "剖宫产"),
            ("Z34.9", "正常妊娠监督"),
            ("N97.9", "女性不孕症"),
            ("N76.0", "急性阴道炎"),
            ("U07.1", "新型冠状病毒感染"),
            ("J11.1", "流行性感冒"),
            ("D56.9", "地中海贫血"),
            ("D66", "血友病A"),
            ("G70.0", "重症肌无力"),
            ("K64.9", "痔"),
            ("K60.3", "肛瘘"),
            ("G30.9", "阿尔茨海默病"),
            ("N18.5", "慢性肾脏病5期"),
            ("Q21.1", "房间隔缺损"),
        ];
        for (code, name) in pairs {
            let by_code = special_disease_of_code(code);
            assert!(by_code.is_some(), "{code}");
            assert_eq!(
                special_diseases_in_name(name),
                by_code.into_iter().collect::<Vec<_>>(),
                "{name}"
            );
        }
        for ordinary in [
            "原发性高血压",
            "2型糖尿病",
            "急性上呼吸道感染",
            "肺炎",
            "帕金森病",
            "慢性肾脏病",
            "胰岛素依赖型糖尿病",
            "archive",
        ] {
            assert!(special_diseases_in_name(ordinary).is_empty(), "{ordinary}");
        }
        assert_eq!(special_diseases_in_name("HIV disease"), vec!["hiv"]);
        assert_eq!(
            special_diseases_in_name("Chronic hepatitis B"),
            vec!["viral_hepatitis"]
        );
    }

    #[test]
    fn free_text_skips_negated_clauses_and_finds_codes() {
        let mut found = Vec::new();
        scan_value("否认肝炎、结核病史，否认手术史。", true, &mut found);
        assert!(found.is_empty(), "{found:?}");
        scan_value("确诊艾滋病3年，规律服药", true, &mut found);
        assert_eq!(found, vec!["hiv"]);
        let mut codes = Vec::new();
        scan_value("主要诊断 C34.9; 次要诊断 I10, F32.9.", true, &mut codes);
        sort_categories(&mut codes);
        assert_eq!(codes, vec!["cancer", "mental_disorder"]);
        let mut list = Vec::new();
        scan_value("B20.1|A51.9", false, &mut list);
        sort_categories(&mut list);
        assert_eq!(list, vec!["hiv", "sexually_transmitted"]);
    }
}
