//! Generalisation hierarchies for dataset-level anonymisation.
//!
//! GB/T 39725-2020 §10.2 c) (generalise ages to bands, dates to the year, places by setting the
//! lower digits to `0`), Appendix G (methods per data element), §10.2 e) and §11.4.2.4 (the
//! hierarchies are what k-anonymity generalises along); T/CI 857-2024 6.5 (the rules are written
//! down, so a hierarchy is a file or a documented built-in).
//!
//! A hierarchy is *materialised* as in ARX: one row per original value, column 0 the value,
//! column `i` its generalisation at level `i`. Every row has the same number of levels, the
//! level-0 values are unique and the generalisation is consistent: two rows with the same value
//! at level `i` have the same value at every level above `i` (so the levels form a tree).
//!
//! Files use ARX's format: `;`- or `,`-separated (detected from the first line: `;` wins when
//! present), no header, no quoting needed. Errors name the file and the 1-based line.
//!
//! Built-ins (all materialised over the values passed in, normally the column's distinct values):
//!
//! | built-in | levels |
//! | --- | --- |
//! | [`Hierarchy::suppress`] | value → `*` |
//! | [`Hierarchy::age_decades`] | age → decade (`0-9`, `10-19` … `80-89`, `>89`) → `*` |
//! | [`Hierarchy::age_bands`] | age → 5-year band (`<25`, `25-29` … `85-89`, `>89`, as [`crate::transform::age_band`]) → 10-year band (`<30`, `30-39` … `80-89`, `>89`) → `*` |
//! | [`Hierarchy::dates`] | `YYYY-MM-DD` → `YYYY-MM` → `YYYY` → `*` |
//! | [`Hierarchy::division_codes`] | 6-digit GB/T 2260 code → prefecture (`4 digits + 00`) → province (`2 digits + 0000`) → `*` |
//! | [`Hierarchy::township_codes`] | 9-digit township or street code (GB/T 10114: county code + 3 digits) → county (6 digits) → prefecture → province → `*` |
//! | [`Hierarchy::village_codes`] | 12-digit village or community code (statistical division code) → township → county → prefecture → province → `*` |
//! | [`Hierarchy::postal_codes`] | `100080` → `10008*` → `1000**` → … → `1*****` → `*` |
//! | [`Hierarchy::icd10`] | ICD-10 code → 3-character category → block → chapter (Roman numeral) → `*` |

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;

/// A built-in hierarchy, by the name a policy uses (`hierarchy = "age_bands"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// [`Hierarchy::age_bands`] (`age_bands`, alias `age`).
    AgeBands,
    /// [`Hierarchy::age_decades`] (`age_decades`, alias `decades`).
    AgeDecades,
    /// [`Hierarchy::dates`] (`dates`, alias `date`).
    Dates,
    /// [`Hierarchy::division_codes`] (`division_codes`, alias `division`).
    DivisionCodes,
    /// [`Hierarchy::township_codes`] (`township_codes`, aliases `township`, `street_codes`).
    TownshipCodes,
    /// [`Hierarchy::village_codes`] (`village_codes`, alias `village`).
    VillageCodes,
    /// [`Hierarchy::postal_codes`] (`postal_codes`, alias `postal`).
    PostalCodes,
    /// [`Hierarchy::icd10`] (`icd10`, alias `icd-10`).
    Icd10,
    /// [`Hierarchy::suppress`] (`suppress`).
    Suppress,
}

impl Builtin {
    /// The built-in of a policy name or alias.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Some(match name {
            "age_bands" | "age" => Builtin::AgeBands,
            "age_decades" | "decades" => Builtin::AgeDecades,
            "dates" | "date" => Builtin::Dates,
            "division_codes" | "division" => Builtin::DivisionCodes,
            "township_codes" | "township" | "street_codes" => Builtin::TownshipCodes,
            "village_codes" | "village" => Builtin::VillageCodes,
            "postal_codes" | "postal" => Builtin::PostalCodes,
            "icd10" | "icd-10" => Builtin::Icd10,
            "suppress" => Builtin::Suppress,
            _ => return None,
        })
    }

    /// The canonical name.
    pub fn name(&self) -> &'static str {
        match self {
            Builtin::AgeBands => "age_bands",
            Builtin::AgeDecades => "age_decades",
            Builtin::Dates => "dates",
            Builtin::DivisionCodes => "division_codes",
            Builtin::TownshipCodes => "township_codes",
            Builtin::VillageCodes => "village_codes",
            Builtin::PostalCodes => "postal_codes",
            Builtin::Icd10 => "icd10",
            Builtin::Suppress => "suppress",
        }
    }

    /// The finest level a released value may keep without a population table: GB/T 39725-2020
    /// §10.2 c) 1) keeps an area only if it covers at least 20,000 people, and a county or a
    /// postal delivery area may not, so until a table shows the coverage the finest level
    /// allowed is the prefecture — `4 digits + 00` of a division code (level 1), the three-digit
    /// postal zone `100***` of a postal code (level 3); a township code's prefecture is its level
    /// 2 and a village code's its level 3. Other hierarchies are not geographic: 0.
    pub fn finest_level_without_population_table(&self) -> usize {
        match self {
            Builtin::DivisionCodes => 1,
            Builtin::TownshipCodes => 2,
            Builtin::VillageCodes => 3,
            Builtin::PostalCodes => 3,
            _ => 0,
        }
    }

    /// Levels including level 0, when fixed (postal codes: one per digit, plus `*`).
    pub fn height(&self) -> Option<usize> {
        match self {
            Builtin::AgeBands | Builtin::Dates | Builtin::DivisionCodes => Some(4),
            Builtin::AgeDecades => Some(3),
            Builtin::Icd10 | Builtin::TownshipCodes => Some(5),
            Builtin::VillageCodes => Some(6),
            Builtin::Suppress => Some(2),
            Builtin::PostalCodes => None,
        }
    }

    /// Materialises the hierarchy over `values` (normally a column's distinct values).
    pub fn materialize<I>(&self, name: &str, values: I) -> Result<Hierarchy, HierarchyError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        match self {
            Builtin::AgeBands => Hierarchy::age_bands(name, values),
            Builtin::AgeDecades => Hierarchy::age_decades(name, values),
            Builtin::Dates => Hierarchy::dates(name, values),
            Builtin::DivisionCodes => Hierarchy::division_codes(name, values),
            Builtin::TownshipCodes => Hierarchy::township_codes(name, values),
            Builtin::VillageCodes => Hierarchy::village_codes(name, values),
            Builtin::PostalCodes => Hierarchy::postal_codes(name, values),
            Builtin::Icd10 => Hierarchy::icd10(name, values),
            Builtin::Suppress => Hierarchy::suppress(name, values),
        }
    }

    /// The labels of one value from level 0 to the top, or the reason it has none.
    pub fn path(&self, value: &str) -> Result<Vec<String>, HierarchyError> {
        let h = self.materialize(self.name(), [value])?;
        h.rows().first().cloned().ok_or(HierarchyError::Empty {
            source_name: self.name().to_string(),
        })
    }

    /// The generalisation of one value at `level` (the top beyond it), or the reason it has
    /// none.
    pub fn generalize(&self, value: &str, level: usize) -> Result<String, HierarchyError> {
        let path = self.path(value)?;
        let at = level.min(path.len().saturating_sub(1));
        path.into_iter().nth(at).ok_or(HierarchyError::Empty {
            source_name: self.name().to_string(),
        })
    }
}

/// Why a hierarchy could not be loaded or built.
#[derive(Debug, thiserror::Error)]
pub enum HierarchyError {
    /// The file could not be read.
    #[error("{source_name}: cannot read the hierarchy file: {error}")]
    Io {
        /// File path.
        source_name: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The hierarchy has no rows.
    #[error("{source_name}: the hierarchy is empty")]
    Empty {
        /// File path or hierarchy name.
        source_name: String,
    },
    /// A row has a different number of levels than the first row.
    #[error(
        "{source_name}, line {line}: {found} levels, expected {expected} as on the first line"
    )]
    Ragged {
        /// File path or hierarchy name.
        source_name: String,
        /// 1-based line.
        line: usize,
        /// Levels on the first row.
        expected: usize,
        /// Levels on this row.
        found: usize,
    },
    /// A cell is empty.
    #[error("{source_name}, line {line}: level {level} is empty")]
    EmptyCell {
        /// File path or hierarchy name.
        source_name: String,
        /// 1-based line.
        line: usize,
        /// 0-based level.
        level: usize,
    },
    /// A level-0 value appears twice.
    #[error("{source_name}, line {line}: value `{value}` already defined on line {first_line}")]
    DuplicateValue {
        /// File path or hierarchy name.
        source_name: String,
        /// 1-based line of the repeat.
        line: usize,
        /// 1-based line of the first definition.
        first_line: usize,
        /// The repeated value.
        value: String,
    },
    /// The same value at level `level` generalises differently at level `level + 1`.
    #[error(
        "{source_name}, line {line}: `{value}` at level {level} generalises to `{found}` at level {}, but to `{expected}` on line {first_line}",
        level + 1
    )]
    Inconsistent {
        /// File path or hierarchy name.
        source_name: String,
        /// 1-based line.
        line: usize,
        /// 1-based line where the value was first seen at this level.
        first_line: usize,
        /// 0-based level of `value`.
        level: usize,
        /// The value.
        value: String,
        /// Its generalisation on the first line.
        expected: String,
        /// Its generalisation on this line.
        found: String,
    },
    /// A built-in hierarchy was given a value of the wrong shape.
    #[error("{builtin}: value `{value}` is not {expected}")]
    BadValue {
        /// Built-in name.
        builtin: &'static str,
        /// The value.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// A materialised generalisation hierarchy: `rows[r][level]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    name: String,
    rows: Vec<Vec<String>>,
}

impl Hierarchy {
    /// Builds and validates a hierarchy from rows (row = value's generalisation path).
    /// `name` is used in error messages (line numbers are 1-based row indices).
    pub fn from_rows(name: &str, rows: Vec<Vec<String>>) -> Result<Self, HierarchyError> {
        let h = Hierarchy {
            name: name.to_string(),
            rows,
        };
        h.validate()?;
        Ok(h)
    }

    /// Parses ARX CSV text (`;` or `,` separated, detected from the first non-empty line).
    /// Blank lines are skipped; line numbers in errors are those of the text.
    pub fn from_csv_str(name: &str, text: &str) -> Result<Self, HierarchyError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let sep = if first.contains(';') { ';' } else { ',' };
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            rows.push(line.split(sep).map(|c| c.trim().to_string()).collect());
            lines.push(i + 1);
        }
        let h = Hierarchy {
            name: name.to_string(),
            rows,
        };
        h.validate_with_lines(&lines)?;
        Ok(h)
    }

    /// Loads an ARX hierarchy file.
    pub fn from_csv_path(path: &Path) -> Result<Self, HierarchyError> {
        let source_name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| HierarchyError::Io {
            source_name: source_name.clone(),
            error,
        })?;
        Self::from_csv_str(&source_name, &text)
    }

    fn validate(&self) -> Result<(), HierarchyError> {
        let lines: Vec<usize> = (1..=self.rows.len()).collect();
        self.validate_with_lines(&lines)
    }

    fn validate_with_lines(&self, lines: &[usize]) -> Result<(), HierarchyError> {
        let source_name = || self.name.clone();
        let Some(first) = self.rows.first() else {
            return Err(HierarchyError::Empty {
                source_name: source_name(),
            });
        };
        let depth = first.len();
        if depth == 0 {
            return Err(HierarchyError::Empty {
                source_name: source_name(),
            });
        }
        let line_of = |r: usize| lines.get(r).copied().unwrap_or(r + 1);
        let mut seen0: HashMap<&str, usize> = HashMap::new();
        // per level: value → (its parent, first row)
        let mut parents: Vec<HashMap<&str, (&str, usize)>> = vec![HashMap::new(); depth];
        for (r, row) in self.rows.iter().enumerate() {
            if row.len() != depth {
                return Err(HierarchyError::Ragged {
                    source_name: source_name(),
                    line: line_of(r),
                    expected: depth,
                    found: row.len(),
                });
            }
            if let Some(level) = row.iter().position(|c| c.is_empty()) {
                return Err(HierarchyError::EmptyCell {
                    source_name: source_name(),
                    line: line_of(r),
                    level,
                });
            }
            if let Some(&f) = seen0.get(row[0].as_str()) {
                return Err(HierarchyError::DuplicateValue {
                    source_name: source_name(),
                    line: line_of(r),
                    first_line: line_of(f),
                    value: row[0].clone(),
                });
            }
            seen0.insert(row[0].as_str(), r);
            for level in 1..depth.saturating_sub(1) {
                let (v, p) = (row[level].as_str(), row[level + 1].as_str());
                match parents[level].get(v) {
                    Some(&(q, f)) if q != p => {
                        return Err(HierarchyError::Inconsistent {
                            source_name: source_name(),
                            line: line_of(r),
                            first_line: line_of(f),
                            level,
                            value: v.to_string(),
                            expected: q.to_string(),
                            found: p.to_string(),
                        })
                    }
                    Some(_) => {}
                    None => {
                        parents[level].insert(v, (p, r));
                    }
                }
            }
        }
        Ok(())
    }

    /// Name (file path for loaded files).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of levels including level 0 (ARX's "height"; a lattice dimension has this many
    /// nodes).
    pub fn height(&self) -> usize {
        self.rows.first().map_or(0, Vec::len)
    }

    /// Number of original values (ARX's domain size for the loss metric).
    pub fn domain_size(&self) -> usize {
        self.rows.len()
    }

    /// The rows, `rows()[r][level]`.
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// The generalisation of `value` at `level`, if the value is in the hierarchy.
    pub fn generalize(&self, value: &str, level: usize) -> Option<&str> {
        self.rows
            .iter()
            .find(|r| r.first().map(String::as_str) == Some(value))
            .and_then(|r| r.get(level))
            .map(String::as_str)
    }

    fn build<I, F>(
        name: &str,
        builtin: &'static str,
        values: I,
        f: F,
    ) -> Result<Self, HierarchyError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
        F: Fn(&str) -> Option<Vec<String>>,
    {
        let _ = builtin;
        let mut seen = std::collections::HashSet::new();
        let mut rows = Vec::new();
        for v in values {
            let v = v.as_ref();
            if !seen.insert(v.to_string()) {
                continue;
            }
            let path = f(v).ok_or_else(|| HierarchyError::BadValue {
                builtin,
                value: v.to_string(),
                expected: builtin_expectation(builtin),
            })?;
            rows.push(path);
        }
        Self::from_rows(name, rows)
    }

    /// value → `*` (suppression as a one-step hierarchy).
    pub fn suppress<I>(name: &str, values: I) -> Result<Self, HierarchyError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self::build(name, "suppress", values, |v| {
            Some(vec![v.to_string(), "*".to_string()])
        })
    }

    /// Ages in whole years → 5-year band → 10-year band → `*` (see the module table).
    pub fn age_bands<I>(name: &str, values: I) -> Result<Self, HierarchyError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self::build(name, "age_bands", values, |v| {
            let age: u32 = v.trim().parse().ok()?;
            let five = match age {
                0..=24 => "<25".to_string(),
                90.. => ">89".to_string(),
                a => {
                    let lo = a / 5 * 5;
                    format!("{lo}-{}", lo + 4)
                }
            };
            let ten = match age {
                0..=29 => "<30".to_string(),
                90.. => ">89".to_string(),
                a => {
                    let lo = a / 10 * 10;
                    format!("{lo}-{}", lo + 9)
                }
            };
            Some(vec![v.to_string(), five, ten, "*".to_string()])
        })
    }

    /// Ages in whole years → decade (`0-9` … `80-89`, `>89`) → `*`.
    pub fn age_decades<I>(name: &str, values: I) -> Result<Self, HierarchyError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self::build(name, "age_decades", values, |v| {
            let age: u32 = v.trim().parse().ok()?;
            let ten = match age {
                90.. => ">89".to_string(),
                a => {
                    let lo = a / 10 * 10;
                    format!("{lo}-{}", lo + 9)
                }
            };
            Some(vec![v.to_string(), ten, "*".to_string()])
        })
    }

    /// ISO dates `YYYY-MM-DD` → `YYYY-MM` → `YYYY` → `*`.
    pub fn dates<I>(name: &str, values: I) -> Result<Self, HierarchyError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self::build(name, "dates", values, |v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?;
            Some(vec![
                v.to_string(),
                v.get(..7)?.to_string(),
                v.get(..4)?.to_string(),
                "*".to_string(),
            ])
        })
    }

    /// 6-digit administrative division codes (GB/T 2260) → prefecture → province → `*`.
    pub fn division_codes<I>(name: &str, values: I) -> Result<Self, HierarchyError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self::build(name, "division_codes", values, |v| {
            if v.len() != 6 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(vec![
                v.to_string(),
                format!("{}00", v.get(..4)?),
                format!("{}0000", v.get(..2)?),
                "*".to_string(),
            ])
        })
    }

    /// 9-digit township-level codes (GB/T 10114: the county's GB/T 2260 code and 3 digits for
    /// the township, town or street, e.g. `110101001` 东华门街道) → county (`110101`) →
    /// prefecture (`110100`) → province (`110000`) → `*`.
    pub fn township_codes<I>(name: &str, values: I) -> Result<Self, HierarchyError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self::build(name, "township_codes", values, |v| sub_county_path(v, 9))
    }

    /// 12-digit village-level codes (the statistical division code: township code and 3 digits
    /// for the village or residents' community) → township (9 digits) → county → prefecture →
    /// province → `*`.
    pub fn village_codes<I>(name: &str, values: I) -> Result<Self, HierarchyError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self::build(name, "village_codes", values, |v| sub_county_path(v, 12))
    }

    /// Postal codes of one length: mask one more trailing digit per level, then `*`.
    /// All values must be ASCII digits of the same length (that of the first value); a value
    /// may already end in `*` (an area raised to a coarser postal zone because its own did
    /// not cover enough people, see [`crate::population`]).
    pub fn postal_codes<I>(name: &str, values: I) -> Result<Self, HierarchyError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let values: Vec<String> = values.into_iter().map(|v| v.as_ref().to_string()).collect();
        let len = values.first().map_or(0, String::len);
        Self::build(name, "postal_codes", values.iter(), |v| {
            let digits = v.bytes().take_while(u8::is_ascii_digit).count();
            if v.len() != len || digits == 0 || !v.bytes().skip(digits).all(|b| b == b'*') {
                return None;
            }
            let mut path = vec![v.to_string()];
            for masked in 1..len {
                let mut s = v.get(..len - masked)?.to_string();
                s.extend(std::iter::repeat_n('*', masked));
                path.push(s);
            }
            path.push("*".to_string());
            Some(path)
        })
    }

    /// ICD-10 codes (`K35.8`, `K358`, `K35`) → category (`K35`) → block (`K35-K38`) → chapter
    /// (`XI`) → `*`, from the compact WHO ICD-10 (2019) chapter and block table in this module.
    pub fn icd10<I>(name: &str, values: I) -> Result<Self, HierarchyError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self::build(name, "icd10", values, |v| {
            let cat = icd10_category(v)?;
            let (block, chapter) = icd10_block(&cat)?;
            Some(vec![
                v.to_string(),
                cat,
                block.to_string(),
                chapter.to_string(),
                "*".to_string(),
            ])
        })
    }
}

/// The path of a code finer than a county (`digits` = 9 or 12) up to `*`: every enclosing area
/// whose code is a prefix of it, county and coarser written as 6-digit GB/T 2260 codes. A
/// coarser code (a county's 6 digits, or a township's 9 in a village column) is an area already
/// raised because its own did not cover enough people ([`crate::population`]), or recorded only
/// that finely: it stays itself up to its own level.
fn sub_county_path(v: &str, digits: usize) -> Option<Vec<String>> {
    let fine: &[usize] = if digits == 12 { &[12, 9, 6] } else { &[9, 6] };
    if !fine.contains(&v.len()) || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut path: Vec<String> = fine
        .iter()
        .map(|&len| v.get(..len.min(v.len())).map(str::to_string))
        .collect::<Option<_>>()?;
    path.push(format!("{}00", v.get(..4)?));
    path.push(format!("{}0000", v.get(..2)?));
    path.push("*".to_string());
    Some(path)
}

fn builtin_expectation(builtin: &str) -> &'static str {
    match builtin {
        "age_bands" | "age_decades" => "an age in whole years",
        "dates" => "a date YYYY-MM-DD",
        "division_codes" => "a 6-digit division code",
        "township_codes" => "a 9-digit township or street code (or its county's 6 digits)",
        "village_codes" => {
            "a 12-digit village or community code (or its township's 9 or county's 6 digits)"
        }
        "postal_codes" => "a postal code of digits, as long as the first value",
        "icd10" => "an ICD-10 code in a known block (e.g. K35.8)",
        _ => "a value",
    }
}

/// The 3-character category of an ICD-10 code (letter + two digits), upper-cased.
fn icd10_category(code: &str) -> Option<String> {
    let c: Vec<char> = code.trim().chars().take(3).collect();
    match c.as_slice() {
        [l, d1, d2] if l.is_ascii_alphabetic() && d1.is_ascii_digit() && d2.is_ascii_digit() => {
            Some(format!("{}{}{}", l.to_ascii_uppercase(), d1, d2))
        }
        _ => None,
    }
}

/// ICD-10 chapters: (first category, last category, Roman numeral).
const ICD10_CHAPTERS: &[(&str, &str, &str)] = &[
    ("A00", "B99", "I"),
    ("C00", "D48", "II"),
    ("D50", "D89", "III"),
    ("E00", "E90", "IV"),
    ("F00", "F99", "V"),
    ("G00", "G99", "VI"),
    ("H00", "H59", "VII"),
    ("H60", "H95", "VIII"),
    ("I00", "I99", "IX"),
    ("J00", "J99", "X"),
    ("K00", "K93", "XI"),
    ("L00", "L99", "XII"),
    ("M00", "M99", "XIII"),
    ("N00", "N99", "XIV"),
    ("O00", "O99", "XV"),
    ("P00", "P96", "XVI"),
    ("Q00", "Q99", "XVII"),
    ("R00", "R99", "XVIII"),
    ("S00", "T98", "XIX"),
    ("V01", "Y98", "XX"),
    ("Z00", "Z99", "XXI"),
    ("U00", "U99", "XXII"),
];

/// ICD-10 blocks, `first-last` ranges in code order within each chapter (WHO 2019, compact).
const ICD10_BLOCKS: &str = "A00-A09 A15-A19 A20-A28 A30-A49 A50-A64 A65-A69 A70-A74 A75-A79 \
A80-A89 A90-A99 B00-B09 B15-B19 B20-B24 B25-B34 B35-B49 B50-B64 B65-B83 B85-B89 B90-B94 \
B95-B98 B99-B99 C00-C14 C15-C26 C30-C39 C40-C41 C43-C44 C45-C49 C50-C50 C51-C58 C60-C63 \
C64-C68 C69-C72 C73-C75 C76-C80 C81-C96 C97-C97 D00-D09 D10-D36 D37-D48 D50-D53 D55-D59 \
D60-D64 D65-D69 D70-D77 D80-D89 E00-E07 E10-E14 E15-E16 E20-E35 E40-E46 E50-E64 E65-E68 \
E70-E90 F00-F09 F10-F19 F20-F29 F30-F39 F40-F48 F50-F59 F60-F69 F70-F79 F80-F89 F90-F98 \
F99-F99 G00-G09 G10-G14 G20-G26 G30-G32 G35-G37 G40-G47 G50-G59 G60-G64 G70-G73 G80-G83 \
G90-G99 H00-H06 H10-H13 H15-H22 H25-H28 H30-H36 H40-H42 H43-H45 H46-H48 H49-H52 H53-H54 \
H55-H59 H60-H62 H65-H75 H80-H83 H90-H95 I00-I02 I05-I09 I10-I15 I20-I25 I26-I28 I30-I52 \
I60-I69 I70-I79 I80-I89 I95-I99 J00-J06 J09-J18 J20-J22 J30-J39 J40-J47 J60-J70 J80-J84 \
J85-J86 J90-J94 J95-J99 K00-K14 K20-K31 K35-K38 K40-K46 K50-K52 K55-K64 K65-K67 K70-K77 \
K80-K87 K90-K93 L00-L08 L10-L14 L20-L30 L40-L45 L50-L54 L55-L59 L60-L75 L80-L99 M00-M25 \
M30-M36 M40-M54 M60-M79 M80-M94 M95-M99 N00-N08 N10-N16 N17-N19 N20-N23 N25-N29 N30-N39 \
N40-N51 N60-N64 N70-N77 N80-N98 N99-N99 O00-O08 O10-O16 O20-O29 O30-O48 O60-O75 O80-O84 \
O85-O92 O94-O99 P00-P04 P05-P08 P10-P15 P20-P29 P35-P39 P50-P61 P70-P74 P75-P78 P80-P83 \
P90-P96 Q00-Q07 Q10-Q18 Q20-Q28 Q30-Q34 Q35-Q37 Q38-Q45 Q50-Q56 Q60-Q64 Q65-Q79 Q80-Q89 \
Q90-Q99 R00-R09 R10-R19 R20-R23 R25-R29 R30-R39 R40-R46 R47-R49 R50-R69 R70-R79 R80-R82 \
R83-R89 R90-R94 R95-R99 S00-S09 S10-S19 S20-S29 S30-S39 S40-S49 S50-S59 S60-S69 S70-S79 \
S80-S89 S90-S99 T00-T07 T08-T14 T15-T19 T20-T32 T33-T35 T36-T50 T51-T65 T66-T78 T79-T79 \
T80-T88 T90-T98 V01-X59 X60-X84 X85-Y09 Y10-Y34 Y35-Y36 Y40-Y84 Y85-Y89 Y90-Y98 Z00-Z13 \
Z20-Z29 Z30-Z39 Z40-Z54 Z55-Z65 Z70-Z76 Z80-Z99 U00-U49 U82-U85";

/// The block and chapter of a 3-character category.
fn icd10_block(cat: &str) -> Option<(&'static str, &'static str)> {
    let block = ICD10_BLOCKS
        .split_whitespace()
        .find(|b| matches!(b.split_once('-'), Some((lo, hi)) if lo <= cat && cat <= hi))?;
    let chapter = ICD10_CHAPTERS
        .iter()
        .find(|(lo, hi, _)| *lo <= cat && cat <= *hi)
        .map(|c| c.2)?;
    Some((block, chapter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icd10_blocks_are_ordered_and_inside_chapters() {
        let blocks: Vec<(&str, &str)> = ICD10_BLOCKS
            .split_whitespace()
            .filter_map(|b| b.split_once('-'))
            .collect();
        for (lo, hi) in &blocks {
            assert!(lo <= hi, "{lo}-{hi}");
            let c1 = ICD10_CHAPTERS.iter().find(|c| c.0 <= *lo && *lo <= c.1);
            let c2 = ICD10_CHAPTERS.iter().find(|c| c.0 <= *hi && *hi <= c.1);
            assert!(c1.is_some() && c1 == c2, "{lo}-{hi}");
        }
        for w in blocks.windows(2) {
            let same_chapter_letter_order = w[0].1 < w[1].0 || w[1].0.starts_with('U');
            assert!(same_chapter_letter_order, "{:?}", w);
        }
    }

    #[test]
    fn builtins() {
        let h = Hierarchy::icd10("dx", ["K35.8", "I21.0", "J18"]).unwrap();
        assert_eq!(h.rows()[0], ["K35.8", "K35", "K35-K38", "XI", "*"]);
        assert_eq!(h.rows()[1], ["I21.0", "I21", "I20-I25", "IX", "*"]);
        let h = Hierarchy::postal_codes("zip", ["100080", "100081"]).unwrap();
        assert_eq!(
            h.rows()[0],
            ["100080", "10008*", "1000**", "100***", "10****", "1*****", "*"]
        );
        let h = Hierarchy::division_codes("div", ["330106"]).unwrap();
        assert_eq!(h.rows()[0], ["330106", "330100", "330000", "*"]);
        let h = Hierarchy::township_codes("street", ["110101001"]).unwrap();
        assert_eq!(
            h.rows()[0],
            ["110101001", "110101", "110100", "110000", "*"]
        );
        let h = Hierarchy::village_codes("village", ["110101001001"]).unwrap();
        assert_eq!(
            h.rows()[0],
            [
                "110101001001",
                "110101001",
                "110101",
                "110100",
                "110000",
                "*"
            ]
        );
        // Areas already raised to a coarser level stay themselves up to it.
        let h = Hierarchy::township_codes("street", ["330106", "330100"]).unwrap();
        assert_eq!(h.rows()[0], ["330106", "330106", "330100", "330000", "*"]);
        assert_eq!(h.rows()[1], ["330100", "330100", "330100", "330000", "*"]);
        let h = Hierarchy::village_codes("village", ["110101001", "330106"]).unwrap();
        assert_eq!(
            h.rows()[0],
            ["110101001", "110101001", "110101", "110100", "110000", "*"]
        );
        assert_eq!(
            h.rows()[1],
            ["330106", "330106", "330106", "330100", "330000", "*"]
        );
        for (bad, builtin) in [
            ("1101010", Builtin::TownshipCodes),
            ("11010100A", Builtin::TownshipCodes),
            ("110101001001", Builtin::TownshipCodes),
            ("1101010010", Builtin::VillageCodes),
        ] {
            let e = builtin.materialize("c", [bad]).unwrap_err().to_string();
            assert!(e.contains(builtin.name()) && e.contains("digit"), "{e}");
        }
        let h = Hierarchy::age_bands("age", ["17", "27", "33", "95"]).unwrap();
        assert_eq!(h.rows()[1], ["27", "25-29", "<30", "*"]);
        assert_eq!(h.rows()[2], ["33", "30-34", "30-39", "*"]);
        assert_eq!(h.rows()[3], ["95", ">89", ">89", "*"]);
        let h = Hierarchy::age_decades("age", ["7", "33", "90"]).unwrap();
        assert_eq!(h.rows()[0], ["7", "0-9", "*"]);
        assert_eq!(h.rows()[1], ["33", "30-39", "*"]);
        assert_eq!(h.rows()[2], ["90", ">89", "*"]);
        for b in [
            Builtin::AgeBands,
            Builtin::AgeDecades,
            Builtin::Dates,
            Builtin::DivisionCodes,
            Builtin::TownshipCodes,
            Builtin::VillageCodes,
            Builtin::Icd10,
            Builtin::Suppress,
        ] {
            assert_eq!(Builtin::from_name(b.name()), Some(b));
            let v = match b {
                Builtin::AgeBands | Builtin::AgeDecades => "47",
                Builtin::Dates => "2024-02-29",
                Builtin::DivisionCodes => "330106",
                Builtin::TownshipCodes => "330106001",
                Builtin::VillageCodes => "330106001001",
                Builtin::Icd10 => "K35.8",
                _ => "x",
            };
            let h = b.materialize("c", [v]).unwrap();
            assert_eq!(Some(h.height()), b.height(), "{b:?}");
        }
        assert_eq!(
            Builtin::PostalCodes.generalize("100080", 2).unwrap(),
            "1000**"
        );
        assert_eq!(
            Builtin::PostalCodes.generalize("100080", 3).unwrap(),
            "100***"
        );
        assert_eq!(
            Builtin::DivisionCodes.generalize("330106", 1).unwrap(),
            "330100"
        );
        assert_eq!(
            Builtin::DivisionCodes.generalize("330106", 2).unwrap(),
            "330000"
        );
        assert_eq!(Builtin::Icd10.generalize("K35.8", 2).unwrap(), "K35-K38");
        assert_eq!(Builtin::AgeBands.generalize("95", 1).unwrap(), ">89");
        assert!(Builtin::AgeBands.generalize("x", 1).is_err());
        assert_eq!(Builtin::from_name("zip"), None);
        let h = Hierarchy::dates("d", ["2024-02-29"]).unwrap();
        assert_eq!(h.rows()[0], ["2024-02-29", "2024-02", "2024", "*"]);
        assert!(Hierarchy::dates("d", ["2023-02-29"]).is_err());
        let h = Hierarchy::suppress("s", ["a", "b", "a"]).unwrap();
        assert_eq!(h.domain_size(), 2);
        assert_eq!(h.generalize("b", 1), Some("*"));
    }

    #[test]
    fn validation_names_lines() {
        let e = Hierarchy::from_csv_str("h.csv", "a;x;*\n\nb;x\n").unwrap_err();
        assert!(e.to_string().contains("h.csv, line 3"), "{e}");
        let e = Hierarchy::from_csv_str("h.csv", "a,x,*\nb,x,*\na,y,*\n").unwrap_err();
        assert!(
            e.to_string().contains("line 3") && e.to_string().contains("line 1"),
            "{e}"
        );
        let e = Hierarchy::from_csv_str("h.csv", "a;x;p\nb;x;q\n").unwrap_err();
        assert!(
            matches!(e, HierarchyError::Inconsistent { line: 2, .. }),
            "{e}"
        );
        assert!(Hierarchy::from_csv_str("h.csv", "").is_err());
        let h = Hierarchy::from_csv_str("h.csv", "a,x,*\r\nb,x,*").unwrap();
        assert_eq!(h.height(), 3);
    }
}
