//! Streaming generator of realistic synthetic Chinese medical-insurance settlement data.
//!
//! The output imitates the data GB/T 39725-2020 is about (Table 1: personal attributes, health
//! status, medical application and medical payment data) with the direct and quasi-identifiers
//! of Appendix G (name, citizen ID number, mobile, address, birth date, county, employer) and the
//! special diseases of §11.1.2.3 a) 2) at low frequencies, so that classification,
//! de-identification and the sandbox can be exercised without real personal information.
//!
//! Properties:
//! - **Deterministic**: the same [`GenOptions`] give the same bytes. Every person, visit and
//!   visit's lab results is drawn from its own ChaCha20 stream keyed by the seed
//!   (`ChaCha20Rng::seed_from_u64`) and numbered by its index, so any table reproduces person
//!   `i` or visit `j` without storing anything, and a longer run starts with the rows of a
//!   shorter one.
//! - **Joinable**: with the same seed and person pool, `settlements` row `j` is `visits` row `j`
//!   joined with its person, `persons` row `i` is person `i`, and `labs` rows belong to `visits`
//!   rows in order (`S…`/`V…` ids share their number).
//! - **Constant memory**: rows are generated and written one at a time into reused buffers.

#![deny(missing_docs)]

mod catalog;
mod geo;
mod labs;
mod person;
mod util;
mod visit;

use std::fmt;
use std::io::Write;
use std::str::FromStr;

pub use medspace_validators::icd10::special_disease_category;

use crate::geo::Geo;
use crate::person::{draw_profile, fill_text, push_person_id, PersonText};
use crate::util::{push_cents, push_datetime, push_padded};
use crate::visit::{draw_visit, Streams, Visit};

/// Progress is reported after every this many rows.
pub const PROGRESS_EVERY: u64 = 10_000;

/// Which table to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// One row per visit settlement, with the person's identifying columns (21 columns).
    Settlements,
    /// One row per insured person.
    Persons,
    /// One row per visit, without personal columns beyond `person_id`.
    Visits,
    /// One row per laboratory result.
    Labs,
}

impl Table {
    /// All tables.
    pub const ALL: [Table; 4] = [
        Table::Settlements,
        Table::Persons,
        Table::Visits,
        Table::Labs,
    ];

    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Table::Settlements => "settlements",
            Table::Persons => "persons",
            Table::Visits => "visits",
            Table::Labs => "labs",
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text named no table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown table `{0}`; expected one of settlements, persons, visits, labs")]
pub struct UnknownTable(pub String);

impl FromStr for Table {
    type Err = UnknownTable;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Table::ALL
            .into_iter()
            .find(|x| x.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| UnknownTable(t.chars().take(40).collect()))
    }
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenOptions {
    /// Number of data rows.
    pub rows: u64,
    /// Seed; the same options give the same output.
    pub seed: u64,
    /// Table.
    pub table: Table,
    /// Size of the person pool that visits, labs and settlements draw from; default
    /// `max(1, rows / 3)`. Ignored for [`Table::Persons`], whose rows are persons `0..rows`.
    /// Use the same value for every table that should join.
    pub persons: Option<u64>,
}

impl GenOptions {
    /// The person pool the options imply.
    pub fn person_pool(&self) -> Result<u64, GenError> {
        match (self.table, self.persons) {
            (Table::Persons, _) => Ok(self.rows.max(1)),
            (_, Some(0)) => Err(GenError::InvalidOptions(
                "persons must be at least 1".into(),
            )),
            (_, Some(n)) => Ok(n),
            (_, None) => Ok((self.rows / 3).max(1)),
        }
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// Writing a CSV record failed.
    #[error("writing CSV output failed: {0}")]
    Csv(#[from] csv::Error),
    /// Flushing the output failed.
    #[error("writing output failed: {0}")]
    Io(#[from] std::io::Error),
    /// The options are unusable.
    #[error("invalid generator options: {0}")]
    InvalidOptions(String),
    /// The embedded reference data did not load.
    #[error("reference data unavailable: {0}")]
    ReferenceData(&'static str),
    /// An internal invariant failed (a bug).
    #[error("internal generator error: {0}")]
    Internal(&'static str),
}

const SETTLEMENTS: [&str; 21] = [
    "settlement_id",
    "person_id",
    "person_name",
    "id_number",
    "sex",
    "birth_date",
    "mobile",
    "address",
    "county_code",
    "employer",
    "insurance_type",
    "visit_type",
    "institution_code",
    "department",
    "diagnosis_code",
    "diagnosis_name",
    "admission_time",
    "discharge_time",
    "total_fee",
    "fund_payment",
    "personal_payment",
];

const PERSONS: [&str; 10] = [
    "person_id",
    "person_name",
    "id_number",
    "sex",
    "birth_date",
    "mobile",
    "address",
    "county_code",
    "employer",
    "insurance_type",
];

const VISITS: [&str; 12] = [
    "visit_id",
    "person_id",
    "institution_code",
    "department",
    "visit_type",
    "diagnosis_code",
    "diagnosis_name",
    "admission_time",
    "discharge_time",
    "total_fee",
    "fund_payment",
    "personal_payment",
];

const LABS: [&str; 9] = [
    "lab_id",
    "visit_id",
    "person_id",
    "test_code",
    "test_name",
    "result_value",
    "unit",
    "reference_range",
    "sample_time",
];

/// The header row of a table.
pub fn header(table: Table) -> &'static [&'static str] {
    match table {
        Table::Settlements => &SETTLEMENTS,
        Table::Persons => &PERSONS,
        Table::Visits => &VISITS,
        Table::Labs => &LABS,
    }
}

/// Writes a header row and `opts.rows` data rows of `opts.table` as UTF-8 CSV with `\n` line
/// ends to `out`, calling `progress` with the number of rows written every
/// [`PROGRESS_EVERY`] rows and once at the end. Returns the number of data rows written.
pub fn generate<W: Write>(
    opts: &GenOptions,
    out: W,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, GenError> {
    let pool = opts.person_pool()?;
    let geo = Geo::get();
    if geo.counties.is_empty() || geo.province_ranges.is_empty() {
        return Err(GenError::ReferenceData("no county-level divisions loaded"));
    }
    let streams = Streams::new(opts.seed);
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(out);
    w.write_record(header(opts.table))?;
    let mut g = Gen {
        w: &mut w,
        geo,
        streams: &streams,
        pool,
        rows: opts.rows,
        progress: &mut *progress,
    };
    let written = match opts.table {
        Table::Settlements => g.settlements()?,
        Table::Persons => g.persons()?,
        Table::Visits => g.visits()?,
        Table::Labs => g.labs()?,
    };
    w.flush()?;
    progress(written);
    Ok(written)
}

/// Reused text of a visit's own columns.
#[derive(Debug, Default)]
struct VisitText {
    id: String,
    person_id: String,
    institution: String,
    admission: String,
    discharge: String,
    total: String,
    fund: String,
    personal: String,
}

impl VisitText {
    fn fill(&mut self, v: &Visit, geo: &Geo, id_prefix: char) -> Result<(), GenError> {
        self.id.clear();
        self.id.push(id_prefix);
        push_padded(&mut self.id, v.index + 1, 12);
        self.person_id.clear();
        push_person_id(&mut self.person_id, v.profile.index);
        let county = geo
            .counties
            .get(v.institution_county)
            .ok_or(GenError::Internal("institution county out of range"))?;
        self.institution.clear();
        self.institution.push('H');
        self.institution.push_str(&county.division.code);
        push_padded(&mut self.institution, u64::from(v.institution_number), 5);
        self.admission.clear();
        push_datetime(&mut self.admission, v.admission);
        self.discharge.clear();
        push_datetime(&mut self.discharge, v.discharge);
        self.total.clear();
        push_cents(&mut self.total, v.total_cents);
        self.fund.clear();
        push_cents(&mut self.fund, v.fund_cents);
        self.personal.clear();
        push_cents(
            &mut self.personal,
            v.total_cents - v.fund_cents.min(v.total_cents),
        );
        Ok(())
    }
}

/// True every [`PROGRESS_EVERY`] rows.
fn is_progress_point(written: u64) -> bool {
    written > 0 && written / PROGRESS_EVERY * PROGRESS_EVERY == written
}

struct Gen<'a, W: Write> {
    w: &'a mut csv::Writer<W>,
    geo: &'static Geo,
    streams: &'a Streams,
    pool: u64,
    rows: u64,
    progress: &'a mut dyn FnMut(u64),
}

impl<W: Write> Gen<'_, W> {
    fn tick(&mut self, written: u64) {
        if is_progress_point(written) {
            (self.progress)(written);
        }
    }

    fn settlements(&mut self) -> Result<u64, GenError> {
        let mut pt = PersonText::default();
        let mut vt = VisitText::default();
        for j in 0..self.rows {
            let mut v = draw_visit(j, self.pool, self.streams, self.geo)?;
            fill_text(&v.profile, &mut v.person_rng, self.geo, &mut pt)?;
            vt.fill(&v, self.geo, 'S')?;
            let county = self
                .geo
                .counties
                .get(v.profile.county)
                .ok_or(GenError::Internal("county out of range"))?;
            self.w.write_record([
                vt.id.as_str(),
                pt.person_id.as_str(),
                pt.name.as_str(),
                pt.id_number.as_str(),
                v.profile.sex.name_zh(),
                pt.birth_date.as_str(),
                pt.mobile.as_str(),
                pt.address.as_str(),
                county.division.code.as_str(),
                pt.employer.as_str(),
                v.profile.insurance.name(),
                v.visit_type.name(),
                vt.institution.as_str(),
                v.department,
                v.diagnosis.code,
                v.diagnosis.name,
                vt.admission.as_str(),
                vt.discharge.as_str(),
                vt.total.as_str(),
                vt.fund.as_str(),
                vt.personal.as_str(),
            ])?;
            self.tick(j + 1);
        }
        Ok(self.rows)
    }

    fn persons(&mut self) -> Result<u64, GenError> {
        let mut pt = PersonText::default();
        for i in 0..self.rows {
            let mut rng = self.streams.person(i);
            let p = draw_profile(i, &mut rng, self.geo);
            fill_text(&p, &mut rng, self.geo, &mut pt)?;
            let county = self
                .geo
                .counties
                .get(p.county)
                .ok_or(GenError::Internal("county out of range"))?;
            self.w.write_record([
                pt.person_id.as_str(),
                pt.name.as_str(),
                pt.id_number.as_str(),
                p.sex.name_zh(),
                pt.birth_date.as_str(),
                pt.mobile.as_str(),
                pt.address.as_str(),
                county.division.code.as_str(),
                pt.employer.as_str(),
                p.insurance.name(),
            ])?;
            self.tick(i + 1);
        }
        Ok(self.rows)
    }

    fn visits(&mut self) -> Result<u64, GenError> {
        let mut vt = VisitText::default();
        for j in 0..self.rows {
            let v = draw_visit(j, self.pool, self.streams, self.geo)?;
            vt.fill(&v, self.geo, 'V')?;
            self.w.write_record([
                vt.id.as_str(),
                vt.person_id.as_str(),
                vt.institution.as_str(),
                v.department,
                v.visit_type.name(),
                v.diagnosis.code,
                v.diagnosis.name,
                vt.admission.as_str(),
                vt.discharge.as_str(),
                vt.total.as_str(),
                vt.fund.as_str(),
                vt.personal.as_str(),
            ])?;
            self.tick(j + 1);
        }
        Ok(self.rows)
    }

    fn labs(&mut self) -> Result<u64, GenError> {
        let mut vt = VisitText::default();
        let mut value = String::new();
        let mut lab_id = String::new();
        let mut sample = String::new();
        let mut written = 0u64;
        let mut j = 0u64;
        while written < self.rows {
            let v = draw_visit(j, self.pool, self.streams, self.geo)?;
            vt.fill(&v, self.geo, 'V')?;
            let rows = self.rows;
            let w = &mut *self.w;
            let progress = &mut *self.progress;
            let mut emit = |r: &labs::LabResult<'_>| -> Result<bool, GenError> {
                if written >= rows {
                    return Ok(false);
                }
                lab_id.clear();
                lab_id.push('L');
                push_padded(&mut lab_id, written + 1, 12);
                sample.clear();
                push_datetime(&mut sample, r.sample_time);
                w.write_record([
                    lab_id.as_str(),
                    vt.id.as_str(),
                    vt.person_id.as_str(),
                    r.test.code,
                    r.test.name,
                    r.value,
                    r.test.unit,
                    r.reference,
                    sample.as_str(),
                ])?;
                written += 1;
                if is_progress_point(written) {
                    progress(written);
                }
                Ok(written < rows)
            };
            labs::for_each_result(&v, self.streams, &mut value, &mut emit)?;
            j += 1;
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_round_trip() {
        for t in Table::ALL {
            assert_eq!(t.as_str().parse::<Table>().unwrap(), t);
            assert_eq!(t.to_string(), t.as_str());
        }
        assert_eq!("Labs".parse::<Table>().unwrap(), Table::Labs);
        let err = "claims".parse::<Table>().unwrap_err();
        assert!(err
            .to_string()
            .contains("settlements, persons, visits, labs"));
    }

    #[test]
    fn person_pool_defaults_and_rejects_zero() {
        let mut o = GenOptions {
            rows: 30,
            seed: 1,
            table: Table::Visits,
            persons: None,
        };
        assert_eq!(o.person_pool().unwrap(), 10);
        o.rows = 2;
        assert_eq!(o.person_pool().unwrap(), 1);
        o.persons = Some(0);
        assert!(matches!(o.person_pool(), Err(GenError::InvalidOptions(_))));
        o.table = Table::Persons;
        assert_eq!(o.person_pool().unwrap(), 2);
    }

    #[test]
    fn headers_have_the_agreed_columns() {
        assert_eq!(header(Table::Settlements).len(), 21);
        assert_eq!(header(Table::Persons).len(), 10);
        assert_eq!(header(Table::Visits).len(), 12);
        assert_eq!(header(Table::Labs).len(), 9);
        assert_eq!(header(Table::Settlements)[3], "id_number");
        assert_eq!(header(Table::Labs)[5], "result_value");
    }
}
