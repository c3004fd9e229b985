//! Identifiers embedded in free text (主诉, 现病史, 备注, complaint notes): GB/T 39725-2020
//! Appendix G Table G.1 direct identifiers (本人电话号码, 联系人电话号码, 身份证件号码, 电子邮箱
//! 地址, 本人姓名, 联系人姓名, 地址-门牌号码 …) and Table 6 (names, contact data and ID-type
//! numbers are deleted), found as byte spans so de-identification (§10.2; T/CI 857-2024 6.5.4)
//! can redact the span instead of the whole cell.
//!
//! [`find_spans`] returns non-overlapping [`Finding`]s, ordered by position. Numbers are only
//! reported when a validator accepts them: an 18-character number must pass the GB 11643
//! MOD 11-2 check to be an `id_number`, a 16–19 digit number must pass Luhn and carry a known
//! card-network prefix to be a `bank_card`, an 11-digit number must be in a mobile segment.
//! Digit groups written with single spaces or dashes (`139 1234 5678`, `6222-0212-…`) and a
//! `+86` prefix are joined before testing. Names are only found after a cue (姓名, 患者,
//! 联系人, 家属 …) and with a known surname; addresses start at a province name or an address
//! cue (住址, 家住 …) and end at the last address marker (号, 室, 村 …).
//!
//! Nothing here copies the text: findings are offsets and kinds.

use medspace_validators::{bank_card, gb11643, internet, permits, phone, plate, reference, uscc};
use serde::{Deserialize, Serialize};

/// What an embedded identifier is. Names are those of the `semantic_type` vocabulary of
/// `medspace scan --format json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// GB 11643 citizen ID (18 characters with a valid check character, or 15-digit legacy).
    IdNumber,
    /// PRC passport number.
    Passport,
    /// 港澳居民来往内地通行证 or exit-entry permit number.
    TravelPermit,
    /// Mainland mobile number (optionally `+86`).
    MobilePhone,
    /// Fixed-line number with area code.
    LandlinePhone,
    /// E-mail address.
    Email,
    /// IPv4 or IPv6 address.
    IpAddress,
    /// Bank card number (Luhn, known network prefix).
    BankCard,
    /// Vehicle licence plate (GA 36-2018).
    LicensePlate,
    /// GB 32100 unified social credit code.
    Uscc,
    /// Chinese personal name after a cue word.
    PersonName,
    /// Chinese postal address down to a road, house number or room.
    Address,
    /// Postal code after a cue (邮编).
    PostalCode,
}

impl SpanKind {
    /// Every kind, in report order.
    pub const ALL: [SpanKind; 13] = [
        SpanKind::IdNumber,
        SpanKind::Passport,
        SpanKind::TravelPermit,
        SpanKind::MobilePhone,
        SpanKind::LandlinePhone,
        SpanKind::Email,
        SpanKind::IpAddress,
        SpanKind::BankCard,
        SpanKind::LicensePlate,
        SpanKind::Uscc,
        SpanKind::PersonName,
        SpanKind::Address,
        SpanKind::PostalCode,
    ];

    /// The snake_case name (as in the `semantic_type` vocabulary).
    pub fn name(self) -> &'static str {
        match self {
            SpanKind::IdNumber => "id_number",
            SpanKind::Passport => "passport",
            SpanKind::TravelPermit => "travel_permit",
            SpanKind::MobilePhone => "mobile_phone",
            SpanKind::LandlinePhone => "landline_phone",
            SpanKind::Email => "email",
            SpanKind::IpAddress => "ip_address",
            SpanKind::BankCard => "bank_card",
            SpanKind::LicensePlate => "license_plate",
            SpanKind::Uscc => "uscc",
            SpanKind::PersonName => "person_name",
            SpanKind::Address => "address",
            SpanKind::PostalCode => "postal_code",
        }
    }

    /// The kind with this snake_case name.
    pub fn from_name(name: &str) -> Option<SpanKind> {
        SpanKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One identifier found in a text: `text[start..end]` (byte offsets, on `char` boundaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Finding {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
    /// What was found.
    pub kind: SpanKind,
}

/// Finds the identifiers embedded in `text`: non-overlapping, ordered by `start`.
pub fn find_spans(text: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    emails(text, &mut found);
    ip_addresses(text, &mut found);
    number_runs(text, &mut found);
    alnum_tokens(text, &mut found);
    plates(text, &mut found);
    let cues = cue_matches(text);
    names(text, &cues, &mut found);
    addresses(text, &cues, &mut found);
    postal_codes(text, &cues, &mut found);
    resolve_overlaps(found)
}

/// What a cue word announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum CueKind {
    /// A personal name follows ([`NAME_CUES`]).
    Name,
    /// An address follows ([`ADDRESS_CUES`]).
    Address,
    /// A province (full name, or its short name + 市) starts an address.
    Province,
    /// A postal code follows.
    Postal,
}

/// Postal-code cue words.
const POSTAL_CUES: [&str; 2] = ["邮编", "邮政编码"];

/// One occurrence of a cue word in a text.
#[derive(Debug, Clone, Copy)]
struct CueMatch {
    /// Byte offset of the cue.
    at: usize,
    /// The cue word.
    cue: &'static str,
    kind: CueKind,
    /// Position of the cue in its list, so names are tried in [`NAME_CUES`] order.
    rank: usize,
}

/// Every cue word with its kind and rank: name, address and postal cues, and each province's
/// full name and (for 2+ character short names) short name + 市.
fn cue_words() -> &'static [(String, CueKind, usize)] {
    static WORDS: std::sync::OnceLock<Vec<(String, CueKind, usize)>> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        let mut out: Vec<(String, CueKind, usize)> = Vec::new();
        out.extend(
            NAME_CUES
                .iter()
                .enumerate()
                .map(|(i, c)| (c.to_string(), CueKind::Name, i)),
        );
        out.extend(
            ADDRESS_CUES
                .iter()
                .enumerate()
                .map(|(i, c)| (c.to_string(), CueKind::Address, i)),
        );
        out.extend(
            POSTAL_CUES
                .iter()
                .enumerate()
                .map(|(i, c)| (c.to_string(), CueKind::Postal, i)),
        );
        for (i, (_, name)) in reference::provinces().iter().enumerate() {
            let short = name
                .trim_end_matches("省")
                .trim_end_matches("市")
                .trim_end_matches("壮族自治区")
                .trim_end_matches("回族自治区")
                .trim_end_matches("维吾尔自治区")
                .trim_end_matches("自治区")
                .trim_end_matches("特别行政区");
            out.push((name.clone(), CueKind::Province, i));
            if short.chars().count() >= 2 && short != name {
                out.push((format!("{short}市"), CueKind::Province, i));
            }
        }
        out.sort();
        out.dedup();
        out
    })
}

/// The cue words of [`cue_words`] in one automaton: a cell is read once for all of them rather
/// than once per word (the per-word scans made free-text detection the slowest part of a full
/// scan). `None` only if the automaton could not be built; then the words are searched one by one.
fn cue_automaton() -> Option<&'static aho_corasick::AhoCorasick> {
    static AUTOMATON: std::sync::OnceLock<Option<aho_corasick::AhoCorasick>> =
        std::sync::OnceLock::new();
    AUTOMATON
        .get_or_init(|| {
            aho_corasick::AhoCorasick::new(cue_words().iter().map(|(w, _, _)| w.as_str())).ok()
        })
        .as_ref()
}

/// Every occurrence of every cue word (occurrences of different words may overlap, as when each
/// word was searched on its own), ordered by kind, rank and position.
fn cue_matches(text: &str) -> Vec<CueMatch> {
    let words = cue_words();
    let mut out = Vec::new();
    let mut add = |at: usize, index: usize| {
        if let Some((word, kind, rank)) = words.get(index) {
            out.push(CueMatch {
                at,
                cue: word.as_str(),
                kind: *kind,
                rank: *rank,
            });
        }
    };
    match cue_automaton() {
        Some(ac) => {
            for m in ac.find_overlapping_iter(text) {
                add(m.start(), m.pattern().as_usize());
            }
        }
        None => {
            for (i, (word, _, _)) in words.iter().enumerate() {
                for (at, _) in text.match_indices(word.as_str()) {
                    add(at, i);
                }
            }
        }
    }
    out.sort_by_key(|m| (m.kind as u8, m.rank, m.at));
    out
}

/// `text` with every finding replaced by `[kind]` (e.g. `[mobile_phone]`).
pub fn redact(text: &str, findings: &[Finding]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        if f.start < at || f.end > text.len() {
            continue;
        }
        if let Some(before) = text.get(at..f.start) {
            out.push_str(before);
            out.push('[');
            out.push_str(f.kind.name());
            out.push(']');
            at = f.end;
        }
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}

/// Keeps the earliest, then the longest, of overlapping findings.
fn resolve_overlaps(mut found: Vec<Finding>) -> Vec<Finding> {
    found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out: Vec<Finding> = Vec::with_capacity(found.len());
    for f in found {
        match out.last_mut() {
            Some(last) if f.start < last.end => {
                // Prefer the longer span; an e-mail containing a mobile number stays an e-mail.
                if f.end - f.start > last.end - last.start {
                    *last = f;
                }
            }
            _ => out.push(f),
        }
    }
    out
}

fn push(found: &mut Vec<Finding>, start: usize, end: usize, kind: SpanKind) {
    if start < end {
        found.push(Finding { start, end, kind });
    }
}

fn is_email_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_email_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

fn emails(text: &str, found: &mut Vec<Finding>) {
    let bytes = text.as_bytes();
    for (at, _) in text.match_indices('@') {
        let mut start = at;
        while start > 0 && bytes.get(start - 1).copied().is_some_and(is_email_local) {
            start -= 1;
        }
        let mut end = at + 1;
        while bytes.get(end).copied().is_some_and(is_email_domain) {
            end += 1;
        }
        while end > at + 1 && matches!(bytes.get(end - 1), Some(b'.' | b'-')) {
            end -= 1;
        }
        while start < at && matches!(bytes.get(start), Some(b'.')) {
            start += 1;
        }
        if let Some(candidate) = text.get(start..end) {
            if internet::is_email(candidate) {
                push(found, start, end, SpanKind::Email);
            }
        }
    }
}

/// Maximal runs of bytes satisfying `f`, as `(start, end)`.
fn runs(bytes: &[u8], f: impl Fn(u8) -> bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes.get(i).copied().is_some_and(&f) {
            let start = i;
            while bytes.get(i).copied().is_some_and(&f) {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

fn ip_addresses(text: &str, found: &mut Vec<Finding>) {
    let bytes = text.as_bytes();
    for (start, mut end) in runs(bytes, |b| b.is_ascii_digit() || b == b'.') {
        while end > start && bytes.get(end - 1) == Some(&b'.') {
            end -= 1;
        }
        let Some(tok) = text.get(start..end) else {
            continue;
        };
        let letter_next = bytes.get(end).is_some_and(|b| b.is_ascii_alphabetic());
        let letter_before = start > 0 && bytes.get(start - 1).is_some_and(u8::is_ascii_alphabetic);
        if tok.matches('.').count() == 3 && !letter_next && !letter_before && internet::is_ipv4(tok)
        {
            push(found, start, end, SpanKind::IpAddress);
        }
    }
    for (start, end) in runs(bytes, |b| b.is_ascii_hexdigit() || b == b':') {
        let Some(tok) = text.get(start..end) else {
            continue;
        };
        let colons = tok.matches(':').count();
        if (tok.contains("::") || colons == 7) && colons >= 2 && internet::is_ipv6(tok) {
            push(found, start, end, SpanKind::IpAddress);
        }
    }
}

/// Letters that may stand right before a number as its label (`Tel13912345678`, `ID:`).
const ASCII_CUES: [&str; 9] = [
    "tel", "id", "no", "mobile", "phone", "cell", "mob", "card", "sfz",
];

/// One digit group of a number run: `start..end` in the text, digits (an `X` check character
/// may end a group).
#[derive(Debug, Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
}

/// Digit groups joined by single spaces, dashes or a closing bracket after an area code.
fn number_runs(text: &str, found: &mut Vec<Finding>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
            continue;
        }
        // A run of groups starting at i.
        let mut groups: Vec<Group> = Vec::new();
        let mut j = i;
        loop {
            let start = j;
            while bytes.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            if matches!(bytes.get(j), Some(b'X' | b'x'))
                && !bytes.get(j + 1).is_some_and(u8::is_ascii_alphanumeric)
            {
                j += 1;
            }
            groups.push(Group { start, end: j });
            // A separator followed by a digit continues the run.
            let sep_len = match bytes.get(j) {
                Some(b' ' | b'-') => 1,
                Some(b')') => 1,
                _ if text.get(j..).is_some_and(|r| r.starts_with('）')) => '）'.len_utf8(),
                _ => 0,
            };
            if sep_len > 0 && bytes.get(j + sep_len).is_some_and(u8::is_ascii_digit) {
                j += sep_len;
            } else {
                break;
            }
        }
        let run_end = j;
        let before_ok = label_ok(text, i);
        let after_ok = !bytes.get(run_end).is_some_and(u8::is_ascii_alphabetic);
        if before_ok {
            match_groups(text, &groups, after_ok, found);
        }
        i = run_end.max(i + 1);
    }
}

/// Whether the bytes before a number at `at` allow it to start a number: not a letter or code
/// (`H33010600012`, `E11.9`), unless the letters are a label such as `Tel`.
fn label_ok(text: &str, at: usize) -> bool {
    let bytes = text.as_bytes();
    let mut s = at;
    while s > 0 && bytes.get(s - 1).is_some_and(u8::is_ascii_alphabetic) {
        s -= 1;
    }
    if s == at {
        // A decimal point or another digit before: part of a bigger number.
        return !(at > 0 && matches!(bytes.get(at - 1), Some(b'.' | b'_' | b'/')));
    }
    text.get(s..at)
        .map(str::to_ascii_lowercase)
        .is_some_and(|w| ASCII_CUES.contains(&w.as_str()))
}

/// Greedy, longest first: the widest concatenation of consecutive groups a validator accepts.
fn match_groups(text: &str, groups: &[Group], last_may_end: bool, found: &mut Vec<Finding>) {
    let mut i = 0;
    while i < groups.len() {
        let mut matched = None;
        let max = (i + 6).min(groups.len());
        for j in (i..max).rev() {
            if j + 1 == groups.len() && !last_may_end {
                continue;
            }
            let (Some(first), Some(last)) = (groups.get(i), groups.get(j)) else {
                continue;
            };
            let digits: String = groups
                .get(i..=j)
                .unwrap_or_default()
                .iter()
                .filter_map(|g| text.get(g.start..g.end))
                .collect();
            let Some(span_text) = text.get(first.start..last.end) else {
                continue;
            };
            if let Some(kind) = classify_number(&digits, span_text) {
                let mut start = first.start;
                // Include a leading `+` or an opening bracket of an area code.
                if let Some(prev) = text.get(..start).and_then(|p| p.chars().last()) {
                    if matches!(prev, '+' | '(' | '（') {
                        start -= prev.len_utf8();
                    }
                }
                matched = Some((j, start, last.end, kind));
                break;
            }
        }
        match matched {
            Some((j, start, end, kind)) => {
                push(found, start, end, kind);
                i = j + 1;
            }
            None => i += 1,
        }
    }
}

/// What a joined digit string is, if a validator accepts it. `span_text` keeps separators.
fn classify_number(digits: &str, span_text: &str) -> Option<SpanKind> {
    let n = digits.len();
    if n == 18 && gb11643::is_valid(digits) {
        return Some(SpanKind::IdNumber);
    }
    let all_digits = digits.bytes().all(|b| b.is_ascii_digit());
    if !all_digits {
        return None;
    }
    if n == 15 && gb11643::parse_legacy15(digits).is_ok() {
        return Some(SpanKind::IdNumber);
    }
    if matches!(n, 11 | 13 | 15) && phone::normalize_mobile(digits).is_some() {
        return Some(SpanKind::MobilePhone);
    }
    if (16..=19).contains(&n)
        && bank_card::luhn_valid(digits)
        && bank_card::card_network(digits).is_some()
    {
        return Some(SpanKind::BankCard);
    }
    if digits.starts_with('0')
        && (10..=12).contains(&n)
        && phone::is_landline(&span_text.replace(['）', ')'], "-"))
    {
        return Some(SpanKind::LandlinePhone);
    }
    None
}

/// ASCII letter-and-digit tokens: passports, travel permits, USCC codes.
fn alnum_tokens(text: &str, found: &mut Vec<Finding>) {
    let bytes = text.as_bytes();
    for (start, end) in runs(bytes, |b| b.is_ascii_alphanumeric()) {
        let Some(tok) = text.get(start..end) else {
            continue;
        };
        if !tok.bytes().any(|b| b.is_ascii_alphabetic()) || !tok.bytes().any(|b| b.is_ascii_digit())
        {
            continue;
        }
        // Labels glued to the number (`Tel13912345678`) are handled by the number pass.
        let upper = tok.to_ascii_uppercase();
        let kind = if permits::is_passport(&upper) {
            Some(SpanKind::Passport)
        } else if permits::is_hk_macao_travel_permit(&upper)
            || permits::is_exit_entry_permit(&upper)
        {
            Some(SpanKind::TravelPermit)
        } else if upper.len() == 18 && !gb11643::is_valid(&upper) && uscc::is_valid(&upper) {
            Some(SpanKind::Uscc)
        } else {
            None
        };
        if let Some(kind) = kind {
            push(found, start, end, kind);
        }
    }
}

fn plates(text: &str, found: &mut Vec<Finding>) {
    for (i, c) in text.char_indices() {
        // Plates start with a CJK province abbreviation; skip ASCII without searching the list.
        if c.is_ascii() || !plate::PROVINCES.contains(c) {
            continue;
        }
        let rest = text.get(i..).unwrap_or_default();
        for len in [8usize, 7] {
            let end = rest.char_indices().nth(len).map_or(rest.len(), |(e, _)| e);
            if rest.chars().count() < len {
                continue;
            }
            let Some(candidate) = rest.get(..end) else {
                continue;
            };
            let body_ok = candidate
                .chars()
                .skip(1)
                .all(|c| c.is_ascii_alphanumeric() || "挂学警港澳领使试超".contains(c));
            if !body_ok {
                continue;
            }
            let next_alnum = rest
                .get(end..)
                .and_then(|r| r.chars().next())
                .is_some_and(|n| n.is_ascii_alphanumeric());
            if !next_alnum && plate::is_plate(candidate) {
                push(found, i, i + end, SpanKind::LicensePlate);
                break;
            }
        }
    }
}

/// Words after which a personal name follows.
const NAME_CUES: [&str; 22] = [
    "姓名",
    "患者",
    "病人",
    "患儿",
    "联系人",
    "家属",
    "配偶",
    "丈夫",
    "妻子",
    "儿子",
    "女儿",
    "之子",
    "之女",
    "其父",
    "其母",
    "父亲",
    "母亲",
    "监护人",
    "陪同人",
    "代诉人",
    "经办人",
    "委托人",
];

/// Characters that cannot be part of a given name right after a cue: function words and the
/// usual next words of a clinical sentence (患者于…, 患者因…, 患者男性…).
const NOT_GIVEN: &str = "于因在诉自今入来无有既主发出近反伴及和与的了是为等男女岁住院门诊病史某氏先生女士述称约复突感昨前后";
/// Characters of symptoms and body parts, which given names do not contain (患者关节疼痛 is no
/// patient called 关节疼).
const MEDICAL: &str =
    "疼痛热烧咳喘闷胀肿晕吐泻痒麻酸胸腹腰背颈肩膝节头眼耳鼻喉牙皮血压糖脂尿便龄度温";

fn is_cjk(c: char) -> bool {
    crate::header::is_cjk(c)
}

fn names(text: &str, cues: &[CueMatch], found: &mut Vec<Finding>) {
    for &CueMatch { at, cue, .. } in cues.iter().filter(|m| m.kind == CueKind::Name) {
        {
            let mut start = at + cue.len();
            let rest = text.get(start..).unwrap_or_default();
            let skipped: usize = rest
                .chars()
                .take_while(|c| matches!(c, ':' | '：' | ' ' | '为' | '是'))
                .take(2)
                .map(char::len_utf8)
                .sum();
            start += skipped;
            let rest = text.get(start..).unwrap_or_default();
            let Some(surname) = reference::surname_of(rest) else {
                continue;
            };
            let after = rest.get(surname.len()..).unwrap_or_default();
            let given: Vec<char> = after
                .chars()
                .take_while(|c| is_cjk(*c) && !NOT_GIVEN.contains(*c))
                .take(2)
                .collect();
            if given.is_empty() || given.iter().any(|c| MEDICAL.contains(*c)) {
                continue;
            }
            let given_str: String = given.iter().collect();
            let next = after.get(given_str.len()..).and_then(|r| r.chars().next());
            let known_given = reference::given_names()
                .iter()
                .any(|(g, _)| *g == given_str || given.first().is_some_and(|f| g.chars().eq([*f])));
            let strong_cue = matches!(cue, "姓名" | "联系人" | "监护人" | "经办人" | "委托人");
            let boundary = next.is_none_or(|c| !is_cjk(c) || NOT_GIVEN.contains(c));
            if known_given || strong_cue || boundary {
                push(
                    found,
                    start,
                    start + surname.len() + given_str.len(),
                    SpanKind::PersonName,
                );
            }
        }
    }
}

/// Words after which an address follows.
const ADDRESS_CUES: [&str; 8] = [
    "住址",
    "地址",
    "家住",
    "现住",
    "居住于",
    "住在",
    "户籍地",
    "籍贯",
];
/// Characters an address may end with.
const ADDRESS_ENDS: [char; 12] = [
    '号', '室', '栋', '幢', '村', '组', '弄', '巷', '路', '街', '楼', '座',
];
/// Parts an address is made of.
const ADDRESS_MARKERS: [&str; 16] = [
    "省", "市", "区", "县", "镇", "乡", "街道", "路", "街", "村", "号", "室", "栋", "幢", "单元",
    "弄",
];

fn addresses(text: &str, cues: &[CueMatch], found: &mut Vec<Finding>) {
    let mut starts: Vec<usize> = Vec::new();
    for m in cues {
        match m.kind {
            CueKind::Address => {
                let end = m.at + m.cue.len();
                let rest = text.get(end..).unwrap_or_default();
                let skip: usize = rest
                    .chars()
                    .take_while(|c| matches!(c, ':' | '：' | ' '))
                    .map(char::len_utf8)
                    .sum();
                starts.push(end + skip);
            }
            CueKind::Province => starts.push(m.at),
            CueKind::Name | CueKind::Postal => {}
        }
    }
    starts.sort_unstable();
    starts.dedup();
    for start in starts {
        let rest = text.get(start..).unwrap_or_default();
        let mut end = 0;
        for (i, c) in rest.char_indices() {
            if is_cjk(c) || c.is_ascii_alphanumeric() || matches!(c, '-' | '#' | '－') {
                end = i + c.len_utf8();
            } else {
                break;
            }
        }
        let candidate = rest.get(..end).unwrap_or_default();
        // Cut back to the last character an address ends with.
        let Some((last, c)) = candidate
            .char_indices()
            .rfind(|(_, c)| ADDRESS_ENDS.contains(c))
        else {
            continue;
        };
        let cut = last + c.len_utf8();
        let span = candidate.get(..cut).unwrap_or_default();
        let markers = ADDRESS_MARKERS.iter().filter(|m| span.contains(*m)).count();
        if markers >= 2 && span.chars().count() >= 5 {
            push(found, start, start + cut, SpanKind::Address);
        }
    }
}

fn postal_codes(text: &str, cues: &[CueMatch], found: &mut Vec<Finding>) {
    for &CueMatch { at, cue, .. } in cues.iter().filter(|m| m.kind == CueKind::Postal) {
        {
            let rest = text.get(at + cue.len()..).unwrap_or_default();
            let skip: usize = rest
                .chars()
                .take_while(|c| matches!(c, ':' | '：' | ' '))
                .map(char::len_utf8)
                .sum();
            let start = at + cue.len() + skip;
            let digits = text
                .get(start..)
                .unwrap_or_default()
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            if digits == 6 {
                push(found, start, start + 6, SpanKind::PostalCode);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kinds(text: &str) -> Vec<(&str, &'static str)> {
        find_spans(text)
            .iter()
            .map(|f| (text.get(f.start..f.end).unwrap_or("?"), f.kind.name()))
            .collect()
    }

    #[test]
    fn phones_in_complaints() {
        assert_eq!(
            kinds("患者自述咳嗽3天，联系电话13912345678，家属电话 139-1234-5679。"),
            [
                ("13912345678", "mobile_phone"),
                ("139-1234-5679", "mobile_phone")
            ]
        );
        assert_eq!(
            kinds("请回电+86 139 1234 5678或0571-87654321"),
            [
                ("+86 139 1234 5678", "mobile_phone"),
                ("0571-87654321", "landline_phone")
            ]
        );
        assert_eq!(kinds("Tel13912345678"), [("13912345678", "mobile_phone")]);
        assert_eq!(
            kinds("座机(010)62345678"),
            [("(010)62345678", "landline_phone")]
        );
    }

    #[test]
    fn ids_need_the_check_character() {
        let good = "身份证号330106198506120015，";
        assert_eq!(kinds(good), [("330106198506120015", "id_number")]);
        assert_eq!(
            kinds("证件11010519620304002X。"),
            [("11010519620304002X", "id_number")]
        );
        // Same digits with a wrong check character: nothing.
        assert!(kinds("身份证号330106198506120016，").is_empty());
        // Legacy 15-digit number.
        assert_eq!(
            kinds("旧证号330106850612001"),
            [("330106850612001", "id_number")]
        );
    }

    #[test]
    fn look_alikes_are_not_identifiers() {
        for text in [
            "体温38.5℃，血压140/90mmHg，心率88次/分",
            "2024-03-15 09:30:00 入院",
            "诊断 I10, E11.9, C34.900x001",
            "医院编码H33010600012，科室A01",
            "订单号20240315123456789012",
            "金额 12345678901 元",
            "随访于20240315、20240415",
        ] {
            assert!(kinds(text).is_empty(), "{text}: {:?}", kinds(text));
        }
    }

    #[test]
    fn emails_cards_ips_plates_documents() {
        assert_eq!(
            kinds("邮箱zhang.wei@example.com."),
            [("zhang.wei@example.com", "email")]
        );
        let payload = "622202020000000000";
        let check = bank_card::luhn_check_digit(payload).unwrap_or('0');
        let card = format!("6222 0202 0000 0000 00{check}");
        let text = format!("银行卡{card}已绑定");
        assert_eq!(kinds(&text), [(card.as_str(), "bank_card")]);
        assert_eq!(
            kinds("登录IP 192.168.10.23"),
            [("192.168.10.23", "ip_address")]
        );
        assert_eq!(kinds("车牌浙A12345停在"), [("浙A12345", "license_plate")]);
        assert_eq!(kinds("车牌浙A12345 门诊"), [("浙A12345", "license_plate")]);
        assert_eq!(kinds("护照E12345678"), [("E12345678", "passport")]);
        assert_eq!(kinds("通行证H12345678"), [("H12345678", "travel_permit")]);
        assert_eq!(kinds("邮编310012"), [("310012", "postal_code")]);
    }

    #[test]
    fn names_and_addresses_after_cues() {
        assert_eq!(
            kinds("联系人：王秀英，住址：浙江省杭州市西湖区文三路100号3幢附近"),
            [
                ("王秀英", "person_name"),
                ("浙江省杭州市西湖区文三路100号3幢", "address")
            ]
        );
        assert_eq!(kinds("患者张伟因发热就诊"), [("张伟", "person_name")]);
        for text in [
            "患者于3天前发热",
            "患者诉头痛",
            "患者男性，65岁",
            "患者王某",
            "患者关节疼痛5天",
            "患者高热3天",
        ] {
            assert!(kinds(text).is_empty(), "{text}: {:?}", kinds(text));
        }
    }

    #[test]
    fn redaction_replaces_spans() {
        let text = "电话13912345678，邮箱a@b.cn";
        let spans = find_spans(text);
        assert_eq!(redact(text, &spans), "电话[mobile_phone]，邮箱[email]");
        assert_eq!(SpanKind::from_name("bank_card"), Some(SpanKind::BankCard));
        for k in SpanKind::ALL {
            assert_eq!(SpanKind::from_name(k.name()), Some(k));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

        /// Spans are on char boundaries, inside the text, ordered and disjoint.
        #[test]
        fn spans_are_well_formed(text in "[0-9Xx@.+\\- ()（）a-zA-Z姓名患者张王电话住址省市区路号浙京：:，]{0,60}") {
            let spans = find_spans(&text);
            let mut last = 0;
            for f in &spans {
                prop_assert!(f.start >= last && f.start < f.end && f.end <= text.len());
                prop_assert!(text.get(f.start..f.end).is_some());
                last = f.end;
            }
            let _ = redact(&text, &spans);
        }

        /// A valid mobile number is found wherever it is embedded between CJK words.
        #[test]
        fn embedded_mobiles_are_found(prefix in "[患者诉电话联系]{0,6}", seg in 3u8..=9, rest in 0u64..100_000_000, suffix in "[，。请回电]{0,4}") {
            let number = format!("1{seg}{rest:09}");
            let text = format!("{prefix}{number}{suffix}");
            let spans = find_spans(&text);
            prop_assert_eq!(spans.len(), 1);
            let f = spans[0];
            prop_assert_eq!(f.kind, SpanKind::MobilePhone);
            prop_assert_eq!(text.get(f.start..f.end), Some(number.as_str()));
        }
    }
}
