//! GB/T 39725-2020 §10.2 c) 1): an address, division or postal code is released only at a
//! level whose area covers at least 20,000 people (work units, addresses: "覆盖的人群在2万人以上";
//! postal codes: otherwise the low-order digits are blanked until the area does).
//!
//! The coverage comes from a population table the controller supplies (`population_table` in
//! the policy): a CSV with a header line `code,population` and one row per area, the code
//! written as the area's label in the built-in hierarchy — a 12-digit code for a village or
//! community (`330106001001`), a 9-digit one for a township or street (`330106001`), a 6-digit
//! GB/T 2260 code for a county (`330106`), a prefecture (`330100`) or a province (`330000`), a
//! postal code for a delivery area (`100080`) or a masked one for a postal zone (`1000**`,
//! `100***`). A value is raised to the finest label of its hierarchy that either covers `min_area_population` people
//! (default 20,000) in the table or is a prefecture or coarser, which is always assumed to:
//! an area missing from the table is not known to cover enough people. Without a table the
//! prefecture is the finest level allowed at all (see
//! [`Builtin::finest_level_without_population_table`]).

use std::collections::HashMap;
use std::path::Path;

use crate::hierarchy::{Builtin, HierarchyError};

/// The minimum population of a released area (GB/T 39725-2020 §10.2 c) 1)).
pub const DEFAULT_MIN_AREA_POPULATION: u64 = 20_000;

/// Why a population table could not be read. Messages name the file, line and field, never
/// more than the code of the area at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PopulationError {
    /// The file could not be read.
    #[error("population table {file}: {message}")]
    Read {
        /// The file.
        file: String,
        /// What failed.
        message: String,
    },
    /// A line does not hold `code,population`.
    #[error("population table {file}, line {line}: {message}")]
    Line {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// What was expected.
        message: String,
    },
}

/// Areas and their populations.
#[derive(Debug, Clone, Default)]
pub struct PopulationTable {
    areas: HashMap<String, u64>,
    minimum: u64,
}

impl PopulationTable {
    /// Reads a table file (`code,population` header, then one row per area).
    pub fn from_csv_path(path: &Path, minimum: u64) -> Result<Self, PopulationError> {
        let file = path.display().to_string();
        let reader = std::fs::File::open(path).map_err(|e| PopulationError::Read {
            file: file.clone(),
            message: e.to_string(),
        })?;
        Self::from_reader(&file, reader, minimum)
    }

    /// Reads a table from `reader`; `file` names it in errors.
    pub fn from_reader<R: std::io::Read>(
        file: &str,
        reader: R,
        minimum: u64,
    ) -> Result<Self, PopulationError> {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let line_err = |line: u64, message: String| PopulationError::Line {
            file: file.to_string(),
            line,
            message,
        };
        let header = csv
            .headers()
            .map_err(|e| line_err(1, format!("not CSV: {e}")))?
            .clone();
        if header.len() != 2 || header.get(0) != Some("code") || header.get(1) != Some("population")
        {
            return Err(line_err(1, "expected the header `code,population`".into()));
        }
        let mut areas = HashMap::new();
        for record in csv.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                line_err(line, format!("not CSV: {e}"))
            })?;
            let line = record.position().map_or(0, |p| p.line());
            if record.len() != 2 {
                return Err(line_err(
                    line,
                    format!(
                        "expected 2 fields (code,population), found {}",
                        record.len()
                    ),
                ));
            }
            let code = record.get(0).unwrap_or("");
            let valid_code = !code.is_empty()
                && code.len() <= 12
                && code.bytes().next().is_some_and(|b| b.is_ascii_digit())
                && code.bytes().all(|b| b.is_ascii_digit() || b == b'*');
            if !valid_code {
                return Err(line_err(
                    line,
                    "field `code`: expected a division or postal code of digits, optionally ending in `*` (e.g. 330106, 1000**)".into(),
                ));
            }
            let population: u64 = record.get(1).unwrap_or("").parse().map_err(|_| {
                line_err(
                    line,
                    format!(
                        "field `population` of area `{code}`: expected a whole number of people"
                    ),
                )
            })?;
            if areas.insert(code.to_string(), population).is_some() {
                return Err(line_err(line, format!("area `{code}` is listed twice")));
            }
        }
        Ok(PopulationTable { areas, minimum })
    }

    /// Areas in the table.
    pub fn len(&self) -> usize {
        self.areas.len()
    }

    /// Whether the table lists no area.
    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }

    /// Whether `label` is known to cover the minimum population.
    fn covers(&self, label: &str) -> bool {
        self.areas.get(label).is_some_and(|&p| p >= self.minimum)
    }

    /// `value` raised along `builtin` to the finest label allowed: its own when its area covers
    /// the minimum, else that of the smallest enclosing area that does or is a prefecture (or
    /// coarser). Hierarchies that are not geographic leave the value as it is.
    pub fn covered(&self, builtin: Builtin, value: &str) -> Result<String, HierarchyError> {
        let floor = builtin.finest_level_without_population_table();
        if floor == 0 || value.is_empty() {
            return Ok(value.to_string());
        }
        // One path per value: its own label first, then each enclosing area up to the floor.
        let path = builtin.path(value)?;
        let at = path
            .iter()
            .take(floor)
            .position(|label| self.covers(label))
            .unwrap_or(floor)
            .min(path.len().saturating_sub(1));
        path.into_iter().nth(at).ok_or(HierarchyError::Empty {
            source_name: builtin.name().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    const TABLE: &str =
        "code,population\n330106,520000\n330102,8000\n1000**,35000\n100080,25000\n100081,900\n";

    fn table() -> PopulationTable {
        PopulationTable::from_reader("t.csv", TABLE.as_bytes(), DEFAULT_MIN_AREA_POPULATION)
            .unwrap()
    }

    #[test]
    fn an_area_is_kept_only_where_it_covers_twenty_thousand_people() {
        let t = table();
        let d = Builtin::DivisionCodes;
        // Covered by itself, too small, missing: the latter two become their prefecture.
        assert_eq!(t.covered(d, "330106").unwrap(), "330106");
        assert_eq!(t.covered(d, "330102").unwrap(), "330100");
        assert_eq!(t.covered(d, "110101").unwrap(), "110100");
        let p = Builtin::PostalCodes;
        assert_eq!(t.covered(p, "100080").unwrap(), "100080");
        // Too small, then its postal zone `1000**` covers 35,000.
        assert_eq!(t.covered(p, "100081").unwrap(), "1000**");
        // Unknown all the way: the three-digit postal zone.
        assert_eq!(t.covered(p, "200030").unwrap(), "200***");
        // A stricter minimum raises further.
        let strict = PopulationTable::from_reader("t.csv", TABLE.as_bytes(), 600_000).unwrap();
        assert_eq!(strict.covered(d, "330106").unwrap(), "330100");
        assert_eq!(strict.covered(p, "100080").unwrap(), "100***");
        // Township codes: the street itself, else its county, else the prefecture; a village
        // code likewise one level further down.
        let streets = PopulationTable::from_reader(
            "t.csv",
            "code,population\n330106001,45000\n330106002,3000\n330106,520000\n".as_bytes(),
            DEFAULT_MIN_AREA_POPULATION,
        )
        .unwrap();
        let t9 = Builtin::TownshipCodes;
        assert_eq!(streets.covered(t9, "330106001").unwrap(), "330106001");
        assert_eq!(streets.covered(t9, "330106002").unwrap(), "330106");
        assert_eq!(streets.covered(t9, "330102001").unwrap(), "330100");
        let t12 = Builtin::VillageCodes;
        assert_eq!(streets.covered(t12, "330106001007").unwrap(), "330106001");
        assert_eq!(streets.covered(t12, "330106002007").unwrap(), "330106");
        assert_eq!(streets.covered(t12, "110101001001").unwrap(), "110100");
        // Not geographic: unchanged.
        assert_eq!(t.covered(Builtin::Icd10, "K35.8").unwrap(), "K35.8");
        // A raised postal label can be generalised further.
        assert_eq!(p.generalize("1000**", 3).unwrap(), "100***");
    }

    #[test]
    fn a_bad_table_names_the_file_line_and_field() {
        let bad = |text: &str| {
            PopulationTable::from_reader("areas.csv", text.as_bytes(), 20_000)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            bad("area,people\n"),
            "population table areas.csv, line 1: expected the header `code,population`"
        );
        let e = bad("code,population\n330106,many\n");
        assert!(
            e.contains("line 2") && e.contains("`population`") && e.contains("330106"),
            "{e}"
        );
        let e = bad("code,population\n330106,1\n330106,2\n");
        assert!(e.contains("line 3") && e.contains("twice"), "{e}");
        let e = bad("code,population\nBeijing,1\n");
        assert!(e.contains("line 2") && e.contains("`code`"), "{e}");
        let e = PopulationTable::from_csv_path(Path::new("/nonexistent/areas.csv"), 1)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("population table /nonexistent/areas.csv"),
            "{e}"
        );
    }
}
