//! Synthetic insured persons (参保人), reproducible from `(seed, person index)` alone.
//!
//! Identifying attributes follow the standards they imitate: GB 11643-1999 citizen ID numbers
//! (real GB/T 2260 county, birth date, sequence parity by sex, ISO 7064 check character), GB/T
//! 2261.1 sex, mainland mobile prefixes, addresses of province + prefecture + county + road.
//! These are the direct and quasi-identifiers of GB/T 39725-2020 Appendix G that the
//! de-identification pipeline must handle.

use std::sync::OnceLock;

use chrono::NaiveDate;
use medspace_validators::{gb11643, reference, Sex};
use rand::Rng;
use rand_chacha::ChaCha20Rng;

use crate::catalog::{fits, DIAGNOSES};
use crate::geo::{County, Geo};
use crate::util::{
    chinese_numeral, choose, permille, push_date, push_date_compact, push_padded, Weighted,
};
use crate::GenError;

/// Ages are completed years on this day (the end of the simulated period).
pub(crate) const REFERENCE_YEAR: i32 = 2025;

/// Population by 5-year age band 0–4 … 85–89 and 90–95 (7th census 2020, millions, rounded).
const AGE_BANDS: [u64; 19] = [
    77, 90, 85, 72, 75, 92, 124, 99, 93, 115, 121, 101, 74, 74, 50, 31, 21, 11, 4,
];

/// How a person is occupied; drives employer and insurance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Occupation {
    /// Under school age.
    Child,
    /// Pupil or student.
    Student,
    /// In employment.
    Employed(Employer),
    /// Farmer, self-employed or not working.
    NotEmployed,
    /// Retired from employment (keeps 职工 insurance).
    Retired,
    /// Elderly without an employee pension.
    Elder,
}

/// Kind of employer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Employer {
    /// A company.
    Company,
    /// A hospital.
    Hospital,
    /// A government office.
    Government,
    /// A school.
    School,
}

/// Basic medical insurance scheme (险种).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Insurance {
    /// 职工基本医疗保险.
    Employee,
    /// 城乡居民基本医疗保险.
    Resident,
    /// 新型农村合作医疗 (legacy records).
    RuralCooperative,
    /// 公费医疗.
    PublicFunded,
}

impl Insurance {
    /// Name as written in settlement records.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Insurance::Employee => "职工基本医疗保险",
            Insurance::Resident => "城乡居民基本医疗保险",
            Insurance::RuralCooperative => "新型农村合作医疗",
            Insurance::PublicFunded => "公费医疗",
        }
    }
}

/// The attributes other tables need, drawn first from the person's RNG.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    /// Person index (0-based).
    pub index: u64,
    /// Sex.
    pub sex: Sex,
    /// Birth date.
    pub birth: NaiveDate,
    /// Completed years on 2025-12-31.
    pub age: u32,
    /// Index into `Geo::counties`.
    pub county: usize,
    /// Long-term condition, as an index into `DIAGNOSES`.
    pub chronic: Option<usize>,
    /// Occupation.
    pub occupation: Occupation,
    /// Insurance scheme.
    pub insurance: Insurance,
}

/// Draws a person's profile. `rng` must be the person's own stream; the caller may continue to
/// draw the person's text attributes from it with [`fill_text`].
pub(crate) fn draw_profile(index: u64, rng: &mut ChaCha20Rng, geo: &Geo) -> Profile {
    let sex = if permille(rng) < 512 {
        Sex::Male
    } else {
        Sex::Female
    };
    let band = tables().age_bands.pick(rng) as u32;
    let age = if band >= 18 {
        90 + rng.gen_range(0..6)
    } else {
        band * 5 + rng.gen_range(0..5)
    };
    let year = REFERENCE_YEAR - age as i32;
    let days = if NaiveDate::from_ymd_opt(year, 2, 29).is_some() {
        366
    } else {
        365
    };
    let birth = NaiveDate::from_yo_opt(year, rng.gen_range(1..=days)).unwrap_or_default();
    let p = geo.province_weights.pick(rng);
    let (s, e) = geo
        .province_ranges
        .get(p)
        .copied()
        .unwrap_or((0, geo.counties.len()));
    let county = rng.gen_range(s..e.max(s + 1));

    let chronic_pm = match age {
        0..=13 => 20,
        14..=29 => 40,
        30..=44 => 120,
        45..=59 => 300,
        60..=74 => 500,
        _ => 600,
    };
    let mut chronic = None;
    if permille(rng) < chronic_pm {
        for _ in 0..6 {
            let i = tables().chronic.pick(rng);
            if DIAGNOSES.get(i).is_some_and(|d| fits(d, sex, age)) {
                chronic = Some(i);
                break;
            }
        }
    }

    let retire_age = if sex == Sex::Male { 60 } else { 55 };
    let occupation = match age {
        0..=5 => Occupation::Child,
        6..=18 => Occupation::Student,
        19..=22 if permille(rng) < 600 => Occupation::Student,
        a if a < retire_age => {
            if permille(rng) < 620 {
                let k = permille(rng);
                Occupation::Employed(match k {
                    0..=749 => Employer::Company,
                    750..=809 => Employer::Hospital,
                    810..=909 => Employer::Government,
                    _ => Employer::School,
                })
            } else {
                Occupation::NotEmployed
            }
        }
        _ => {
            if permille(rng) < 450 {
                Occupation::Retired
            } else {
                Occupation::Elder
            }
        }
    };
    let rural = geo.counties.get(county).is_some_and(|c| c.rural);
    let draw = permille(rng);
    let insurance = match occupation {
        Occupation::Employed(Employer::Government) if draw < 200 => Insurance::PublicFunded,
        Occupation::Employed(_) | Occupation::Retired => Insurance::Employee,
        _ if rural && draw < 80 => Insurance::RuralCooperative,
        _ => Insurance::Resident,
    };
    Profile {
        index,
        sex,
        birth,
        age,
        county,
        chronic,
        occupation,
        insurance,
    }
}

/// Reusable text buffers of a person's identifying columns.
#[derive(Debug, Default)]
pub(crate) struct PersonText {
    /// `P` + 10 digits.
    pub person_id: String,
    /// Full name.
    pub name: String,
    /// 18-character citizen ID number.
    pub id_number: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// 11-digit mobile number.
    pub mobile: String,
    /// Street address.
    pub address: String,
    /// Employer or school, `无` if none.
    pub employer: String,
}

/// Appends the person id of a person index.
pub(crate) fn push_person_id(buf: &mut String, index: u64) {
    buf.push('P');
    push_padded(buf, index + 1, 10);
}

/// Draws the person's identifying text, continuing the person's RNG after [`draw_profile`].
pub(crate) fn fill_text(
    p: &Profile,
    rng: &mut ChaCha20Rng,
    geo: &Geo,
    out: &mut PersonText,
) -> Result<(), GenError> {
    let tables = tables();
    let county = geo
        .counties
        .get(p.county)
        .ok_or(GenError::Internal("county index out of range"))?;

    out.person_id.clear();
    push_person_id(&mut out.person_id, p.index);

    // GB 11643: division + birth date + 3-digit sequence (odd last digit for men) + check.
    out.id_number.clear();
    out.id_number.push_str(&county.division.code);
    push_date_compact(&mut out.id_number, p.birth);
    push_padded(&mut out.id_number, rng.gen_range(0..100), 2);
    let parity = u64::from(p.sex == Sex::Male);
    push_padded(&mut out.id_number, rng.gen_range(0..5u64) * 2 + parity, 1);
    let check = gb11643::check_digit(&out.id_number)
        .ok_or(GenError::Internal("citizen ID prefix is not 17 digits"))?;
    out.id_number.push(check);

    out.birth_date.clear();
    push_date(&mut out.birth_date, p.birth);

    // Name: surname by weight, then one listed given name or two single characters.
    out.name.clear();
    out.name.push_str(
        tables
            .surnames
            .get(tables.surname_weights.pick(rng))
            .copied()
            .unwrap_or("王"),
    );
    let (all, single) = match p.sex {
        Sex::Male => (&tables.male_names, &tables.male_single),
        Sex::Female => (&tables.female_names, &tables.female_single),
    };
    if permille(rng) < 300 && single.len() >= 2 {
        let a = rng.gen_range(0..single.len());
        let b = (a + rng.gen_range(1..single.len())) % single.len();
        out.name.push_str(single.get(a).copied().unwrap_or(""));
        out.name.push_str(single.get(b).copied().unwrap_or(""));
    } else {
        out.name.push_str(choose(rng, all));
    }

    out.mobile.clear();
    out.mobile.push_str(
        MOBILE_PREFIXES
            .get(tables.mobile_weights.pick(rng))
            .map_or("139", |(p, _)| p),
    );
    push_padded(&mut out.mobile, rng.gen_range(0..100_000_000), 8);

    fill_address(county, rng, &mut out.address);
    fill_employer(p, county, rng, &mut out.employer);
    Ok(())
}

fn fill_address(c: &County, rng: &mut ChaCha20Rng, out: &mut String) {
    out.clear();
    out.push_str(&c.full_name);
    if c.rural && permille(rng) < 550 {
        // 某某镇某某村3组12号
        out.push_str(choose(rng, TOWN_WORDS));
        out.push('镇');
        out.push_str(choose(rng, VILLAGE_WORDS));
        out.push('村');
        push_padded(out, rng.gen_range(1..=12), 1);
        out.push('组');
        push_padded(out, rng.gen_range(1..=120), 1);
        out.push('号');
        return;
    }
    out.push_str(choose(rng, ROAD_WORDS));
    out.push_str(choose(rng, ROAD_SUFFIXES));
    push_padded(out, rng.gen_range(1..=999), 1);
    out.push('号');
    let style = permille(rng);
    if style < 550 {
        // 5栋201室
        push_padded(out, rng.gen_range(1..=30), 1);
        out.push('栋');
        push_padded(out, rng.gen_range(1..=28), 1);
        push_padded(out, rng.gen_range(1..=4), 2);
        out.push('室');
    } else if style < 800 {
        // 阳光花园3号楼2单元502室
        out.push_str(choose(rng, COMMUNITY_WORDS));
        out.push_str(choose(rng, COMMUNITY_SUFFIXES));
        push_padded(out, rng.gen_range(1..=20), 1);
        out.push_str("号楼");
        push_padded(out, rng.gen_range(1..=6), 1);
        out.push_str("单元");
        push_padded(out, rng.gen_range(1..=18), 1);
        push_padded(out, rng.gen_range(1..=4), 2);
        out.push('室');
    }
}

fn fill_employer(p: &Profile, c: &County, rng: &mut ChaCha20Rng, out: &mut String) {
    out.clear();
    match p.occupation {
        Occupation::Child | Occupation::Retired | Occupation::Elder => out.push('无'),
        Occupation::NotEmployed => {
            if permille(rng) < 150 {
                out.push_str("个体工商户");
            } else {
                out.push('无');
            }
        }
        Occupation::Student => school(p.age, c, rng, out),
        Occupation::Employed(Employer::School) => {
            let age = [8, 14, 20].get(rng.gen_range(0..3)).copied().unwrap_or(8);
            school(age, c, rng, out)
        }
        Occupation::Employed(Employer::Company) => {
            out.push_str(&c.city_short);
            out.push_str(choose(rng, BRAND_WORDS));
            out.push_str(choose(rng, INDUSTRY_WORDS));
            let k = permille(rng);
            out.push_str(if k < 700 {
                "有限公司"
            } else if k < 850 {
                "股份有限公司"
            } else {
                "有限责任公司"
            });
        }
        Occupation::Employed(Employer::Hospital) => match rng.gen_range(0..4) {
            0 => {
                out.push_str(&c.city);
                out.push('第');
                out.push_str(chinese_numeral(rng.gen_range(1..=6)));
                out.push_str("人民医院");
            }
            1 => {
                out.push_str(&c.division.name);
                out.push_str("人民医院");
            }
            2 => {
                out.push_str(&c.division.name);
                out.push_str("中医医院");
            }
            _ => {
                out.push_str(&c.city);
                out.push_str("妇幼保健院");
            }
        },
        Occupation::Employed(Employer::Government) => {
            if permille(rng) < 600 {
                out.push_str(&c.division.name);
            } else {
                out.push_str(&c.city);
            }
            out.push_str(choose(rng, BUREAUS));
        }
    }
}

fn school(age: u32, c: &County, rng: &mut ChaCha20Rng, out: &mut String) {
    match age {
        0..=11 => {
            out.push_str(&c.division.name);
            if permille(rng) < 400 {
                out.push_str("实验小学");
            } else {
                out.push('第');
                out.push_str(chinese_numeral(rng.gen_range(1..=10)));
                out.push_str("小学");
            }
        }
        12..=18 => {
            out.push_str(if permille(rng) < 500 {
                &c.division.name
            } else {
                &c.city
            });
            out.push('第');
            out.push_str(chinese_numeral(rng.gen_range(1..=10)));
            out.push_str("中学");
        }
        _ => {
            if permille(rng) < 300 {
                out.push_str(&c.city_short);
                out.push_str("职业技术学院");
            } else {
                out.push_str(&c.province_short);
                out.push_str(choose(rng, UNIVERSITY_KINDS));
            }
        }
    }
}

/// Weighted tables built once from the reference data.
#[derive(Debug)]
struct Tables {
    age_bands: Weighted,
    chronic: Weighted,
    surnames: Vec<&'static str>,
    surname_weights: Weighted,
    male_names: Vec<&'static str>,
    male_single: Vec<&'static str>,
    female_names: Vec<&'static str>,
    female_single: Vec<&'static str>,
    mobile_weights: Weighted,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let sur = reference::surnames();
        let names_of = |sex: Sex, single_only: bool| -> Vec<&'static str> {
            reference::given_names()
                .iter()
                .filter(|(n, s)| *s == sex && (!single_only || n.chars().count() == 1))
                .map(|(n, _)| n.as_str())
                .collect()
        };
        Tables {
            age_bands: Weighted::new(AGE_BANDS),
            chronic: Weighted::new(DIAGNOSES.iter().map(|d| d.chronic)),
            surnames: sur.iter().map(|(s, _)| s.as_str()).collect(),
            // Percent weights to integers (1/10 000 of a percent).
            surname_weights: Weighted::new(
                sur.iter()
                    .map(|(_, w)| (w * 10_000.0).round().max(1.0) as u64),
            ),
            male_names: names_of(Sex::Male, false),
            male_single: names_of(Sex::Male, true),
            female_names: names_of(Sex::Female, false),
            female_single: names_of(Sex::Female, true),
            mobile_weights: Weighted::new(MOBILE_PREFIXES.iter().map(|(_, w)| *w)),
        }
    })
}

/// Mobile prefixes of China Mobile, China Unicom and China Telecom with rough market weights.
const MOBILE_PREFIXES: [(&str, u64); 46] = [
    ("134", 2),
    ("135", 5),
    ("136", 5),
    ("137", 5),
    ("138", 7),
    ("139", 8),
    ("147", 1),
    ("150", 4),
    ("151", 4),
    ("152", 3),
    ("157", 2),
    ("158", 4),
    ("159", 4),
    ("178", 2),
    ("182", 3),
    ("183", 2),
    ("184", 1),
    ("187", 3),
    ("188", 3),
    ("195", 1),
    ("198", 2),
    ("130", 4),
    ("131", 3),
    ("132", 3),
    ("155", 2),
    ("156", 3),
    ("166", 2),
    ("175", 1),
    ("176", 2),
    ("185", 3),
    ("186", 4),
    ("133", 3),
    ("149", 1),
    ("153", 2),
    ("173", 2),
    ("177", 2),
    ("180", 2),
    ("181", 2),
    ("189", 3),
    ("191", 1),
    ("199", 2),
    ("172", 1),
    ("190", 1),
    ("193", 1),
    ("196", 1),
    ("197", 1),
];

const ROAD_WORDS: &[&str] = &[
    "人民",
    "解放",
    "中山",
    "建设",
    "和平",
    "新华",
    "文化",
    "胜利",
    "朝阳",
    "光明",
    "青年",
    "东风",
    "长江",
    "黄河",
    "延安",
    "北京",
    "南京",
    "上海",
    "沿江",
    "滨河",
    "迎宾",
    "工业",
    "学府",
    "科技",
    "花园",
    "幸福",
    "团结",
    "友谊",
    "红旗",
    "复兴",
    "振兴",
    "繁荣",
    "育才",
    "体育",
    "府前",
    "环城",
    "金桥",
    "龙华",
    "翠湖",
    "望江",
    "文三",
    "天目山",
    "庆春",
    "凤凰",
    "健康",
    "新民",
    "兴业",
    "民主",
];
const ROAD_SUFFIXES: &[&str] = &[
    "路", "路", "路", "街", "大道", "东路", "西路", "南路", "北路", "中路",
];
const COMMUNITY_WORDS: &[&str] = &[
    "阳光", "翠苑", "锦绣", "金色", "幸福", "碧水", "绿城", "华府", "滨江", "紫荆", "丽景", "怡和",
    "康乐", "嘉园",
];
const COMMUNITY_SUFFIXES: &[&str] = &["花园", "小区", "家园", "新村", "公寓", "苑"];
const TOWN_WORDS: &[&str] = &[
    "城关", "新安", "龙泉", "清河", "石桥", "白沙", "太平", "永安", "长乐", "东风", "兴隆", "高桥",
    "黄土", "马头", "安乐", "大河", "柳林", "杨庄", "李家", "王家",
];
const VILLAGE_WORDS: &[&str] = &[
    "前进", "红星", "新华", "杨柳", "东湾", "西沟", "南岗", "北坡", "张家", "刘庄", "上河", "下河",
    "河口", "桥头", "马家", "赵庄", "中心", "民主", "团结", "胜利",
];
const BRAND_WORDS: &[&str] = &[
    "恒信",
    "华盛",
    "中泰",
    "宏达",
    "金鼎",
    "联创",
    "新世纪",
    "东方",
    "瑞丰",
    "鸿运",
    "天成",
    "永盛",
    "嘉华",
    "汇通",
    "博远",
    "鑫源",
    "正泰",
    "安达",
    "盛世",
    "海纳",
    "远航",
    "德润",
    "百川",
    "晨光",
    "启明",
    "中科",
    "万达",
    "华兴",
    "长城",
    "九州",
];
const INDUSTRY_WORDS: &[&str] = &[
    "科技",
    "贸易",
    "建设工程",
    "机械制造",
    "食品",
    "物流",
    "电子",
    "医药",
    "网络科技",
    "置业",
    "纺织",
    "化工",
    "环保科技",
    "文化传媒",
    "汽车销售",
    "餐饮管理",
    "物业管理",
    "信息技术",
    "服装",
    "建材",
    "电力设备",
    "农业开发",
];
const BUREAUS: &[&str] = &[
    "人民政府",
    "教育局",
    "财政局",
    "卫生健康委员会",
    "公安局",
    "自然资源局",
    "市场监督管理局",
    "人力资源和社会保障局",
    "交通运输局",
    "医疗保障局",
    "住房和城乡建设局",
    "民政局",
];
const UNIVERSITY_KINDS: &[&str] = &[
    "大学",
    "师范大学",
    "医科大学",
    "理工大学",
    "财经大学",
    "工业大学",
    "农业大学",
    "中医药大学",
];

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;
    use rand::SeedableRng;

    fn person(i: u64) -> (Profile, PersonText) {
        let geo = Geo::get();
        let mut rng = ChaCha20Rng::seed_from_u64(42);
        rng.set_stream(i);
        let p = draw_profile(i, &mut rng, geo);
        let mut t = PersonText::default();
        fill_text(&p, &mut rng, geo, &mut t).unwrap();
        (p, t)
    }

    #[test]
    fn persons_are_consistent() {
        let geo = Geo::get();
        for i in 0..2000 {
            let (p, t) = person(i);
            let id = gb11643::parse(&t.id_number).unwrap();
            assert_eq!(id.sex, p.sex);
            assert_eq!(id.birth_date, p.birth);
            let county = &geo.counties[p.county];
            assert_eq!(id.division_code, county.division.code);
            assert!(t.address.starts_with(&county.full_name), "{}", t.address);
            assert!(
                t.address.ends_with('号') || t.address.ends_with('室'),
                "{}",
                t.address
            );
            assert!(medspace_validators::phone::is_mobile(&t.mobile));
            assert!(reference::is_surname_prefix(&t.name));
            let nchars = t.name.chars().count();
            assert!((2..=4).contains(&nchars), "{}", t.name);
            assert!(p.age <= 95 && p.birth.year() == REFERENCE_YEAR - p.age as i32);
            assert_eq!(t.person_id.len(), 11);
            assert!(!t.employer.is_empty());
            if matches!(
                p.occupation,
                Occupation::Child | Occupation::Retired | Occupation::Elder
            ) {
                assert_eq!(t.employer, "无");
            }
            if let Some(c) = p.chronic {
                assert!(fits(&DIAGNOSES[c], p.sex, p.age));
            }
            if p.insurance == Insurance::PublicFunded {
                assert_eq!(p.occupation, Occupation::Employed(Employer::Government));
            }
        }
    }

    #[test]
    fn given_names_match_sex() {
        let tables = tables();
        for i in 0..500 {
            let (p, t) = person(i);
            let surname = reference::surname_of(&t.name).unwrap();
            let given = &t.name[surname.len()..];
            if given.is_empty() {
                // 欧 + 阳 reads as the compound surname 欧阳; nothing to check.
                continue;
            }
            let (all, single) = match p.sex {
                Sex::Male => (&tables.male_names, &tables.male_single),
                Sex::Female => (&tables.female_names, &tables.female_single),
            };
            let listed = all.contains(&given);
            let combined = given
                .chars()
                .all(|c| single.contains(&c.to_string().as_str()));
            assert!(listed || combined, "{given} not a {:?} name", p.sex);
        }
    }

    #[test]
    fn the_same_index_gives_the_same_person() {
        let (a, ta) = person(77);
        let (b, tb) = person(77);
        assert_eq!(
            (a.birth, a.county, ta.name.clone(), ta.id_number.clone()),
            (b.birth, b.county, tb.name, tb.id_number)
        );
        let (_, tc) = person(78);
        assert_ne!(ta.id_number, tc.id_number);
    }
}
