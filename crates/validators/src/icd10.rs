//! ICD-10 diagnosis codes (GB/T 14396-2016 疾病分类与代码, NHSA 医保版 and 国家临床版 2.0
//! extensions) and the special diseases of GB/T 39725-2020 §11.1.2.3 a) 2).
//!
//! §11.1.2.3 a) 2) names eight classes of special disease (特殊病种) whose records are graded
//! level 5 (§6.2 e): 性生殖相关疾病, 传染性疾病, 心理疾病, 恶性肿瘤, 遗传性疾病, 肛门疾病, 罕见病
//! and 其他不治之症. The standard gives no code list; [`special_disease_category`] maps ICD-10
//! ranges to them as documented on [`SPECIAL_DISEASE_RULES`]. §11.1.2.3 a) 3) special identities
//! (孕产妇, 婴幼儿, 恶性肿瘤患者) are given by [`special_identity`].

/// 性生殖相关疾病: sexual and reproductive health.
pub const SEXUAL_REPRODUCTIVE: &str = "性生殖相关疾病";
/// 传染性疾病: communicable diseases.
pub const INFECTIOUS: &str = "传染性疾病";
/// 心理疾病: mental and behavioural disorders.
pub const MENTAL: &str = "心理疾病";
/// 恶性肿瘤: malignant neoplasms.
pub const MALIGNANT_NEOPLASM: &str = "恶性肿瘤";
/// 遗传性疾病: hereditary and congenital disorders.
pub const HEREDITARY: &str = "遗传性疾病";
/// 肛门疾病: diseases of the anus and rectum.
pub const ANAL: &str = "肛门疾病";
/// 罕见病: rare diseases (国家卫生健康委《第一批罕见病目录》2018).
pub const RARE: &str = "罕见病";
/// 其他不治之症: other incurable diseases.
pub const INCURABLE: &str = "其他不治之症";

/// The eight special-disease categories of GB/T 39725-2020 §11.1.2.3 a) 2), in the order the
/// standard lists them.
pub const SPECIAL_DISEASE_CATEGORIES: [&str; 8] = [
    SEXUAL_REPRODUCTIVE,
    INFECTIOUS,
    MENTAL,
    MALIGNANT_NEOPLASM,
    HEREDITARY,
    ANAL,
    RARE,
    INCURABLE,
];

/// ICD-10 ranges of each special-disease category, checked in this order (the first match wins,
/// so a code that fits two classes gets the stricter or more specific one: 恶性肿瘤 before the
/// others, sexually transmitted infections under 性生殖 rather than 传染, rare diseases before
/// hereditary ones).
///
/// Each rule is `(from, to, category)` over the code with its dot removed, compared on the
/// first `from.len()` characters: `("A50", "A64", …)` covers A50–A64 and all their subcodes,
/// `("D680", "D680", …)` covers D68.0 only.
///
/// - 恶性肿瘤: C00–C97 malignant neoplasms, D00–D09 carcinoma in situ, Z51.0/Z51.1 radio- and
///   chemotherapy sessions, Z85 personal history of malignant neoplasm.
/// - 性生殖相关疾病: A50–A64 infections with a predominantly sexual mode of transmission
///   (syphilis, gonorrhoea, chlamydia, herpes, anogenital warts); N46 male infertility, N48.4
///   impotence; N70–N77 inflammatory diseases of the female pelvis and genitals; N96–N98
///   habitual abortion, female infertility, complications of assisted reproduction;
///   O00–O99 pregnancy, childbirth and the puerperium; Z30–Z39 contraception, procreation,
///   pregnancy and delivery encounters.
/// - 传染性疾病: the rest of chapter I (A00–B99) including HIV disease B20–B24, viral hepatitis
///   B15–B19 and tuberculosis A15–A19; J09–J11 influenza (丙类法定传染病); U07.1/U07.2
///   COVID-19; Z21 asymptomatic HIV infection; R75 laboratory evidence of HIV.
/// - 心理疾病: F00–F99 (including F10–F19 substance use) and X60–X84 intentional self-harm.
/// - 罕见病: codes of diseases on the 2018 national rare-disease list: D59.3 (aHUS), D61.0
///   (Fanconi anaemia), D66–D67 (haemophilia), D84.1 (hereditary angio-oedema), E70.0 (PKU),
///   E71.0–E71.1 (MSUD, methylmalonic acidaemia), E72.1–E72.2 (homocystinuria, urea cycle),
///   E74.0 (glycogen storage), E75.2 (Gaucher, Fabry, Niemann-Pick), E76 (MPS), E80.2
///   (porphyria), E83.0 (Wilson), E84 (cystic fibrosis), G10 (Huntington), G11.4 (hereditary
///   spastic paraplegia), G12.0–G12.2 (SMA, ALS), G35 (multiple sclerosis), G36.0 (NMO), G60.0
///   (Charcot-Marie-Tooth), G70.0 (myasthenia gravis), G71.0 (muscular dystrophy), I27.0
///   (idiopathic pulmonary arterial hypertension), I78.0 (HHT), M06.1 (adult-onset Still),
///   M34 (systemic sclerosis), Q78.0 (osteogenesis imperfecta), Q87.1 (Prader-Willi), Q87.4
///   (Marfan).
/// - 遗传性疾病: D55–D58 hereditary haemolytic anaemias (thalassaemia D56, sickle cell D57),
///   D68.0 von Willebrand, E70–E72 and E74–E77 inborn errors of metabolism, E83.1
///   haemochromatosis, G11 hereditary ataxia, G71.1 myotonic disorders, Q00–Q99 congenital
///   malformations and chromosomal abnormalities.
/// - 肛门疾病: I84 and K64 haemorrhoids, K60 fissure and fistula, K61 abscess, K62 other
///   diseases of anus and rectum.
/// - 其他不治之症: G30 Alzheimer disease, N18.0/N18.5 end-stage renal disease, Z51.5
///   palliative care.
pub const SPECIAL_DISEASE_RULES: &[(&str, &str, &str)] = &[
    // 恶性肿瘤
    ("C00", "C97", MALIGNANT_NEOPLASM),
    ("D00", "D09", MALIGNANT_NEOPLASM),
    ("Z510", "Z511", MALIGNANT_NEOPLASM),
    ("Z85", "Z85", MALIGNANT_NEOPLASM),
    // 性生殖相关疾病
    ("A50", "A64", SEXUAL_REPRODUCTIVE),
    ("N46", "N46", SEXUAL_REPRODUCTIVE),
    ("N484", "N484", SEXUAL_REPRODUCTIVE),
    ("N70", "N77", SEXUAL_REPRODUCTIVE),
    ("N96", "N98", SEXUAL_REPRODUCTIVE),
    ("O00", "O99", SEXUAL_REPRODUCTIVE),
    ("Z30", "Z39", SEXUAL_REPRODUCTIVE),
    // 传染性疾病
    ("A00", "B99", INFECTIOUS),
    ("J09", "J11", INFECTIOUS),
    ("U071", "U072", INFECTIOUS),
    ("Z21", "Z21", INFECTIOUS),
    ("R75", "R75", INFECTIOUS),
    // 心理疾病
    ("F00", "F99", MENTAL),
    ("X60", "X84", MENTAL),
    // 罕见病
    ("D593", "D593", RARE),
    ("D610", "D610", RARE),
    ("D66", "D67", RARE),
    ("D841", "D841", RARE),
    ("E700", "E700", RARE),
    ("E710", "E711", RARE),
    ("E721", "E722", RARE),
    ("E740", "E740", RARE),
    ("E752", "E752", RARE),
    ("E76", "E76", RARE),
    ("E802", "E802", RARE),
    ("E830", "E830", RARE),
    ("E84", "E84", RARE),
    ("G10", "G10", RARE),
    ("G114", "G114", RARE),
    ("G120", "G122", RARE),
    ("G35", "G35", RARE),
    ("G360", "G360", RARE),
    ("G600", "G600", RARE),
    ("G700", "G700", RARE),
    ("G710", "G710", RARE),
    ("I270", "I270", RARE),
    ("I780", "I780", RARE),
    ("M061", "M061", RARE),
    ("M34", "M34", RARE),
    ("Q780", "Q780", RARE),
    ("Q871", "Q871", RARE),
    ("Q874", "Q874", RARE),
    // 遗传性疾病
    ("D55", "D58", HEREDITARY),
    ("D680", "D680", HEREDITARY),
    ("E70", "E72", HEREDITARY),
    ("E74", "E77", HEREDITARY),
    ("E831", "E831", HEREDITARY),
    ("G11", "G11", HEREDITARY),
    ("G711", "G711", HEREDITARY),
    ("Q00", "Q99", HEREDITARY),
    // 肛门疾病
    ("I84", "I84", ANAL),
    ("K60", "K62", ANAL),
    ("K64", "K64", ANAL),
    // 其他不治之症
    ("G30", "G30", INCURABLE),
    ("N180", "N180", INCURABLE),
    ("N185", "N185", INCURABLE),
    ("Z515", "Z515", INCURABLE),
];

/// True if `s` is an ICD-10 code: a capital letter and two digits (`A00`–`Z99`), optionally
/// followed by `.` and 1–4 digits or letters (`E11.9`, `S72.001`, `I10.x`), or the NHSA / 国家临床版
/// extension form `.` + 3 characters + `x` + 3 digits (`I10.x00x002`, `E11.900x001`). The
/// NHSA short form `E11.900` is covered by the first pattern.
pub fn is_code(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(letter), Some(d1), Some(d2)) = (b.first(), b.get(1), b.get(2)) else {
        return false;
    };
    if !letter.is_ascii_uppercase() || !d1.is_ascii_digit() || !d2.is_ascii_digit() {
        return false;
    }
    match b.get(3) {
        None => true,
        Some(b'.') => {
            let rest = b.get(4..).unwrap_or_default();
            let short = (1..=4).contains(&rest.len()) && rest.iter().all(u8::is_ascii_alphanumeric);
            let extended = rest.len() == 7
                && rest
                    .iter()
                    .take(3)
                    .all(|c| c.is_ascii_digit() || *c == b'x' || *c == b'X')
                && matches!(rest.get(3), Some(b'x' | b'X'))
                && rest.iter().skip(4).all(u8::is_ascii_digit);
            short || extended
        }
        Some(_) => false,
    }
}

/// A code split into its parts: `C34.900x001` → category `C34`, subcode `900`, extension
/// `001`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icd10Code<'a> {
    /// Letter and two digits (`C34`).
    pub category: &'a str,
    /// The characters after the dot, up to the extension marker (`9`, `900`, `x00`).
    pub subcode: Option<&'a str>,
    /// The 3 digits after the second `x` of the NHSA / 国家临床版 extension form.
    pub extension: Option<&'a str>,
}

impl Icd10Code<'_> {
    /// True for codes with the NHSA / national clinical extension (`…x001`).
    pub fn is_extended(&self) -> bool {
        self.extension.is_some()
    }
}

/// Splits a code (see [`is_code`] for the accepted forms) into category, subcode and extension.
pub fn parse_code(s: &str) -> Option<Icd10Code<'_>> {
    if !is_code(s) {
        return None;
    }
    let category = s.get(..3)?;
    let Some(rest) = s.get(4..) else {
        return Some(Icd10Code {
            category,
            subcode: None,
            extension: None,
        });
    };
    let (subcode, extension) = if rest.len() == 7 {
        (rest.get(..3)?, Some(rest.get(4..)?))
    } else {
        (rest, None)
    };
    Some(Icd10Code {
        category,
        subcode: Some(subcode),
        extension,
    })
}

/// The canonical spelling of a code written with surrounding spaces or a lower-case chapter
/// letter: trimmed, first letter upper-cased, the NHSA `x` markers lower-cased (`c34.900X001` →
/// `C34.900x001`). `None` if the result is not a code.
pub fn normalize(s: &str) -> Option<String> {
    let t = s.trim();
    let mut out = String::with_capacity(t.len());
    for (i, c) in t.chars().enumerate() {
        out.push(if i == 0 {
            c.to_ascii_uppercase()
        } else if c == 'X' {
            'x'
        } else {
            c
        });
    }
    is_code(&out).then_some(out)
}

/// The 3-character category of a code (`E11.900x001` → `E11`), if it is a code.
pub fn category(s: &str) -> Option<&str> {
    if is_code(s) {
        s.get(..3)
    } else {
        None
    }
}

/// The GB/T 39725-2020 §11.1.2.3 a) 2) special-disease category of an ICD-10 code (one of
/// [`SPECIAL_DISEASE_CATEGORIES`]), or `None` for ordinary diseases and for strings that are not
/// codes. Surrounding spaces and lower-case letters are tolerated.
pub fn special_disease_category(icd10_code: &str) -> Option<&'static str> {
    let key = compact(icd10_code)?;
    SPECIAL_DISEASE_RULES
        .iter()
        .find(|(from, to, _)| in_range(&key, from, to))
        .map(|(_, _, c)| *c)
}

/// The GB/T 39725-2020 §11.1.2.3 a) 3) special identity a diagnosis implies: 孕产妇 (O00–O99,
/// Z32–Z37, Z39), 婴幼儿 (P00–P96 perinatal conditions) or 恶性肿瘤患者 (C00–C97).
pub fn special_identity(icd10_code: &str) -> Option<&'static str> {
    const RULES: [(&str, &str, &str); 5] = [
        ("O00", "O99", "孕产妇"),
        ("Z32", "Z37", "孕产妇"),
        ("Z39", "Z39", "孕产妇"),
        ("P00", "P96", "婴幼儿"),
        ("C00", "C97", "恶性肿瘤患者"),
    ];
    let key = compact(icd10_code)?;
    RULES
        .iter()
        .find(|(from, to, _)| in_range(&key, from, to))
        .map(|(_, _, c)| *c)
}

/// Upper-cased code without its dot, if `s` (trimmed, upper-cased) is a code.
fn compact(s: &str) -> Option<String> {
    let upper = s.trim().to_ascii_uppercase();
    // Upper-casing turns the NHSA `x` into `X`, which `is_code` accepts in both places.
    if !is_code(&upper) {
        return None;
    }
    Some(upper.chars().filter(|c| *c != '.').collect())
}

fn in_range(key: &str, from: &str, to: &str) -> bool {
    match key.get(..from.len()) {
        Some(prefix) => prefix >= from && prefix <= to,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_forms() {
        for ok in [
            "A00",
            "Z99",
            "I10",
            "E11.9",
            "J06.9",
            "S72.001",
            "E11.900",
            "I10.x00x002",
            "E11.900x001",
            "C34.900x001",
            "K29.700x003",
            "I10.x",
            "B20.7",
        ] {
            assert!(is_code(ok), "{ok}");
        }
        for bad in [
            "",
            "I",
            "I1",
            "i10",
            "110",
            "I10.",
            "I10.12345",
            "I10x",
            "I10 .9",
            "E11.9 ",
            "I10.x00x00",
            "I10.x00y002",
            "高血压",
            "I1O",
        ] {
            assert!(!is_code(bad), "{bad}");
        }
        assert_eq!(category("E11.900x001"), Some("E11"));
        let c = parse_code("C34.900x001").unwrap();
        assert_eq!(
            (c.category, c.subcode, c.extension),
            ("C34", Some("900"), Some("001"))
        );
        assert!(c.is_extended());
        let c = parse_code("A00.09").unwrap();
        assert_eq!(
            (c.category, c.subcode, c.extension),
            ("A00", Some("09"), None)
        );
        assert_eq!(parse_code("I10").unwrap().subcode, None);
        assert_eq!(normalize(" c34.900X001 ").as_deref(), Some("C34.900x001"));
        assert_eq!(normalize("i10.X00X002").as_deref(), Some("I10.x00x002"));
        assert_eq!(normalize("高血压"), None);
        assert_eq!(category("e11"), None);
    }

    #[test]
    fn special_diseases_of_the_brief() {
        let cases = [
            ("B20", INFECTIOUS),
            ("B24", INFECTIOUS),
            ("B16.9", INFECTIOUS),
            ("B18.1", INFECTIOUS),
            ("B18.2", INFECTIOUS),
            ("A15.0", INFECTIOUS),
            ("U07.1", INFECTIOUS),
            ("Z21", INFECTIOUS),
            ("A51.9", SEXUAL_REPRODUCTIVE),
            ("A53.9", SEXUAL_REPRODUCTIVE),
            ("A54.9", SEXUAL_REPRODUCTIVE),
            ("C16.9", MALIGNANT_NEOPLASM),
            ("C22.0", MALIGNANT_NEOPLASM),
            ("C34.900x001", MALIGNANT_NEOPLASM),
            ("C50.9", MALIGNANT_NEOPLASM),
            ("C18.9", MALIGNANT_NEOPLASM),
            ("Z51.1", MALIGNANT_NEOPLASM),
            ("F20.9", MENTAL),
            ("F32.9", MENTAL),
            ("F31.9", MENTAL),
            ("F10.2", MENTAL),
            ("F11.2", MENTAL),
            ("O80.0", SEXUAL_REPRODUCTIVE),
            ("N97.9", SEXUAL_REPRODUCTIVE),
            ("Q90.9", HEREDITARY),
            ("D56.1", HEREDITARY),
            ("K64.9", ANAL),
            ("K60.3", ANAL),
            ("G12.2", RARE),
            ("D66", RARE),
            ("G70.0", RARE),
            ("G30.9", INCURABLE),
            ("N18.5", INCURABLE),
        ];
        for (code, cat) in cases {
            assert_eq!(special_disease_category(code), Some(cat), "{code}");
        }
        for code in SPECIAL_DISEASE_CATEGORIES {
            assert!(
                SPECIAL_DISEASE_RULES.iter().any(|(_, _, c)| *c == code),
                "{code} has no rule"
            );
        }
    }

    #[test]
    fn ordinary_diseases_are_not_special() {
        for code in [
            "I10",
            "I10.x00x002",
            "E11.9",
            "J06.9",
            "K29.7",
            "I25.1",
            "J18.9",
            "E78.5",
            "N18.9",
            "N40",
            "G70.1",
            "D68.4",
            "G71.2",
            "Z51.2",
            "K63.5",
            "E78",
            "M54.5",
        ] {
            assert_eq!(special_disease_category(code), None, "{code}");
        }
        assert_eq!(special_disease_category("not a code"), None);
        assert_eq!(special_disease_category(""), None);
    }

    #[test]
    fn tolerates_case_and_spaces() {
        assert_eq!(special_disease_category(" b20.0 "), Some(INFECTIOUS));
        assert_eq!(
            special_disease_category("c34.900X001"),
            Some(MALIGNANT_NEOPLASM)
        );
    }

    #[test]
    fn special_identities() {
        assert_eq!(special_identity("O80.0"), Some("孕产妇"));
        assert_eq!(special_identity("Z34.9"), Some("孕产妇"));
        assert_eq!(special_identity("P07.3"), Some("婴幼儿"));
        assert_eq!(special_identity("C50.9"), Some("恶性肿瘤患者"));
        assert_eq!(special_identity("I10"), None);
    }
}
