//! Geography of the synthetic population: GB/T 2260 counties (MCA 2021, via
//! `medspace_validators::reference`) weighted by province population (7th national census,
//! 2020, 万人), prefecture neighbourhoods, and the fixed pool of designated medical institutions
//! (定点医疗机构, code `H` + 6-digit county + 5 digits, NHSA 医保信息业务编码) of each county.

use std::sync::OnceLock;

use medspace_validators::reference::{counties, Division};

use crate::util::{mix64, Weighted};

/// Resident population by province, 7th national census (2020), in 10 000s.
const PROVINCE_POPULATION: [(&str, u64); 31] = [
    ("11", 2189),
    ("12", 1387),
    ("13", 7461),
    ("14", 3492),
    ("15", 2405),
    ("21", 4259),
    ("22", 2407),
    ("23", 3185),
    ("31", 2487),
    ("32", 8475),
    ("33", 6457),
    ("34", 6103),
    ("35", 4154),
    ("36", 4519),
    ("37", 10153),
    ("41", 9937),
    ("42", 5775),
    ("43", 6644),
    ("44", 12601),
    ("45", 5013),
    ("46", 1008),
    ("50", 3205),
    ("51", 8367),
    ("52", 3856),
    ("53", 4721),
    ("54", 365),
    ("61", 3953),
    ("62", 2502),
    ("63", 592),
    ("64", 720),
    ("65", 2585),
];

/// A county with the strings the generators need, computed once.
#[derive(Debug)]
pub(crate) struct County {
    /// The reference row.
    pub division: &'static Division,
    /// 浙江省杭州市西湖区.
    pub full_name: String,
    /// The city a person would name: prefecture (杭州市), municipality (北京市), or the county
    /// itself when directly under the province (仙桃市).
    pub city: String,
    /// 杭州, 北京, 恩施.
    pub city_short: String,
    /// 浙江, 广西, 北京.
    pub province_short: String,
    /// A 县 or 旗 (rural addresses, 新农合 more likely).
    pub rural: bool,
    /// Index range of the counties of the same prefecture (a county's "nearby" counties).
    pub prefecture: (usize, usize),
    /// Number of designated institutions in the county (2–8).
    pub institutions: u32,
    /// Base of the institutions' 5-digit numbers.
    inst_base: u32,
}

impl County {
    /// The 5-digit number of the county's institution `k` (distinct for distinct `k` < 8).
    pub fn institution_number(&self, k: u32) -> u32 {
        self.inst_base + (k % 8) * 11 + 1
    }
}

/// All counties and the province weights.
#[derive(Debug)]
pub(crate) struct Geo {
    /// Counties in code order (same order as `reference::counties()`).
    pub counties: Vec<County>,
    /// Index ranges of each weighted province in `counties`.
    pub province_ranges: Vec<(usize, usize)>,
    /// Population weights over `province_ranges`.
    pub province_weights: Weighted,
}

impl Geo {
    /// The shared instance (built on first use).
    pub fn get() -> &'static Geo {
        static GEO: OnceLock<Geo> = OnceLock::new();
        GEO.get_or_init(build)
    }
}

fn strip_any<'a>(s: &'a str, suffixes: &[&str]) -> &'a str {
    suffixes
        .iter()
        .find_map(|suf| s.strip_suffix(suf))
        .filter(|r| !r.is_empty())
        .unwrap_or(s)
}

fn first_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

fn province_short(name: &str) -> String {
    for (long, short) in [
        ("内蒙古自治区", "内蒙古"),
        ("广西壮族自治区", "广西"),
        ("西藏自治区", "西藏"),
        ("宁夏回族自治区", "宁夏"),
        ("新疆维吾尔自治区", "新疆"),
    ] {
        if name == long {
            return short.to_string();
        }
    }
    strip_any(name, &["省", "市"]).to_string()
}

fn city_short(city: &str) -> String {
    if city.ends_with("自治州") {
        return first_chars(city, 2).to_string();
    }
    strip_any(city, &["林区", "地区", "市", "盟", "县"]).to_string()
}

fn build() -> Geo {
    let all = counties();
    let mut out: Vec<County> = Vec::with_capacity(all.len());
    let mut start = 0usize;
    for (i, d) in all.iter().enumerate() {
        if i > 0 && all.get(i - 1).map(Division::prefecture_code) != Some(d.prefecture_code()) {
            start = i;
        }
        let city = if !d.prefecture_name.is_empty() {
            d.prefecture_name.clone()
        } else if matches!(d.province_code(), "11" | "12" | "31" | "50") {
            d.province_name.clone()
        } else {
            d.name.clone()
        };
        let code_num: u64 = d.code.parse().unwrap_or(0);
        let h = mix64(code_num);
        out.push(County {
            division: d,
            full_name: d.full_name(),
            city_short: city_short(&city),
            city,
            province_short: province_short(&d.province_name),
            rural: d.name.ends_with('县') || d.name.ends_with('旗'),
            prefecture: (start, i + 1),
            institutions: 2 + (h % 7) as u32,
            inst_base: ((h >> 8) % 900) as u32 * 100,
        });
    }
    // Second pass: every county gets the full range of its prefecture.
    let mut i = 0;
    while i < out.len() {
        let (s, _) = out.get(i).map_or((i, i + 1), |c| c.prefecture);
        let mut e = i + 1;
        while out.get(e).is_some_and(|c| c.prefecture.0 == s) {
            e += 1;
        }
        for c in out.get_mut(s..e).into_iter().flatten() {
            c.prefecture = (s, e);
        }
        i = e.max(i + 1);
    }
    let mut province_ranges = Vec::new();
    let mut weights = Vec::new();
    for (code, pop) in PROVINCE_POPULATION {
        let s = out.partition_point(|c| c.division.province_code() < code);
        let e = out.partition_point(|c| c.division.province_code() <= code);
        if e > s {
            province_ranges.push((s, e));
            weights.push(pop);
        }
    }
    Geo {
        counties: out,
        province_ranges,
        province_weights: Weighted::new(weights),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geography_is_complete() {
        let g = Geo::get();
        assert_eq!(g.counties.len(), counties().len());
        assert_eq!(g.province_ranges.len(), 31);
        let xihu = g
            .counties
            .iter()
            .find(|c| c.division.code == "330106")
            .unwrap();
        assert_eq!(xihu.city, "杭州市");
        assert_eq!(xihu.city_short, "杭州");
        assert_eq!(xihu.province_short, "浙江");
        assert!(!xihu.rural);
        let (s, e) = xihu.prefecture;
        assert!(g.counties[s..e]
            .iter()
            .all(|c| c.division.prefecture_code() == "3301"));
        assert!(
            g.counties[s..e].len() >= 10,
            "杭州 has 13 county-level units"
        );
        let chaoyang = g
            .counties
            .iter()
            .find(|c| c.division.code == "110105")
            .unwrap();
        assert_eq!(chaoyang.city, "北京市");
        let enshi = g
            .counties
            .iter()
            .find(|c| c.division.code.starts_with("4228"))
            .unwrap();
        assert_eq!(enshi.city_short, "恩施");
        let guangxi = g
            .counties
            .iter()
            .find(|c| c.division.code.starts_with("45"))
            .unwrap();
        assert_eq!(guangxi.province_short, "广西");
        for c in &g.counties {
            assert!((2..=8).contains(&c.institutions));
            let nums: std::collections::HashSet<u32> = (0..c.institutions)
                .map(|k| c.institution_number(k))
                .collect();
            assert_eq!(nums.len() as u32, c.institutions);
            assert!(nums.iter().all(|n| *n >= 1 && *n <= 99_999));
            let (s, e) = c.prefecture;
            assert!(s < e && e <= g.counties.len());
            assert_eq!(
                g.counties[s].division.prefecture_code(),
                c.division.prefecture_code()
            );
        }
    }
}
