//! CSV validation and profiling on ingest (T/CI 857-2024 6.2.2: schema and row count in the catalog).
//!
//! One streaming pass checks the file (UTF-8, a header of unique non-empty names, the same number of
//! fields on every line), infers each column's type, keeps a bounded sample for classification, and
//! optionally copies the normalised records into a sink (the encrypting writer). Errors give file,
//! line and column and what was expected, never the cell's content.

use std::collections::HashSet;
use std::io::{Read, Write};

use medspace_core::{ColumnSchema, DataType};
use sha2::{Digest, Sha256};

use crate::error::{Result, ServiceError};

/// What a pass over a CSV file learned.
#[derive(Debug)]
pub struct CsvProfile {
    /// Column names and inferred types.
    pub schema: Vec<ColumnSchema>,
    /// Data rows.
    pub rows: u64,
    /// A seeded uniform sample of the rows with their 1-based row numbers, in file order, for the
    /// classifier (held in memory only; `medspace_classify::Reservoir`, the sample `medspace scan`
    /// draws from the same file).
    pub samples: Vec<(u64, Vec<String>)>,
    /// SHA-256 (hex) of the normalised CSV text written to the sink.
    pub sha256: String,
}

#[derive(Debug, Clone, Copy)]
struct TypeState {
    integer: bool,
    float: bool,
    seen: bool,
}

impl TypeState {
    fn observe(&mut self, v: &str) {
        if v.is_empty() {
            return;
        }
        self.seen = true;
        if self.integer && !looks_like_integer(v) {
            self.integer = false;
        }
        if self.float && !looks_like_float(v) {
            self.float = false;
        }
    }

    fn data_type(self) -> DataType {
        if !self.seen {
            DataType::Text
        } else if self.integer {
            DataType::Integer
        } else if self.float {
            DataType::Float
        } else {
            DataType::Text
        }
    }
}

/// Integers are short numbers without leading zeros: codes such as `0571` or 18-digit ID numbers
/// are identifiers, not quantities, and stay text.
fn looks_like_integer(v: &str) -> bool {
    let digits = v.strip_prefix('-').unwrap_or(v);
    !digits.is_empty()
        && digits.len() <= 10
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !(digits.len() > 1 && digits.starts_with('0'))
}

fn looks_like_float(v: &str) -> bool {
    if looks_like_integer(v) {
        return true;
    }
    let body = v.strip_prefix('-').unwrap_or(v);
    let mut parts = body.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next().unwrap_or("");
    !int.is_empty()
        && !frac.is_empty()
        && int.len() <= 15
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && !(int.len() > 1 && int.starts_with('0'))
}

struct HashingWriter<'a> {
    inner: Option<&'a mut dyn Write>,
    hasher: Sha256,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = match self.inner.as_mut() {
            Some(w) => w.write(buf)?,
            None => buf.len(),
        };
        self.hasher.update(buf.get(..n).unwrap_or(buf));
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.inner.as_mut() {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

fn csv_error(file: &str, e: &csv::Error) -> ServiceError {
    let (line, column, message) = match e.kind() {
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => (
            pos.as_ref().map(|p| p.line()).unwrap_or(0),
            (*len).min(*expected_len) + 1,
            format!("expected {expected_len} fields as in the header row, found {len}"),
        ),
        csv::ErrorKind::Utf8 { pos, err } => (
            pos.as_ref().map(|p| p.line()).unwrap_or(0),
            err.field() as u64 + 1,
            "expected UTF-8 text; the field holds bytes that are not valid UTF-8 (convert GBK files with `iconv -f GBK -t UTF-8`)".to_string(),
        ),
        csv::ErrorKind::Io(io) => (0, 0, format!("read error: {io}")),
        _ => (
            e.position().map(|p| p.line()).unwrap_or(0),
            0,
            "malformed CSV".to_string(),
        ),
    };
    ServiceError::InvalidInput {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

/// Reads CSV from `input`, validating and profiling it; copies normalised records to `sink` if given.
pub fn profile_csv(
    file: &str,
    input: impl Read,
    sink: Option<&mut dyn Write>,
    sample_rows: usize,
    progress: &mut dyn FnMut(u64),
) -> Result<CsvProfile> {
    profile_csv_keyed(file, input, sink, sample_rows, progress, None)
}

/// The keyed digest that replaces biometric values on ingest — GB/T 39725-2020 §10.1 h) and
/// §11.6.2.4 d): a biometric template is never stored, only HMAC-SHA-256 or HMAC-SM3 (by profile)
/// of it under a node key kept apart from the data. Equal templates still match (for linkage and
/// deduplication) without the template being recoverable.
#[derive(Debug)]
pub struct BiometricDigest {
    /// The node's biometric digest key.
    pub key: medspace_crypto::SecretKey,
    /// Which keyed hash.
    pub profile: medspace_crypto::CryptoProfile,
}

impl BiometricDigest {
    /// `bio:` and the hex digest of `value`; an empty value stays empty.
    pub fn digest(&self, value: &str) -> String {
        if value.is_empty() {
            return String::new();
        }
        format!(
            "bio:{}",
            hex::encode(self.profile.mac(&self.key, value.as_bytes()))
        )
    }
}

/// [`profile_csv`], replacing the values of every biometric column (known by its name,
/// [`medspace_classify::is_biometric_column`]) with their keyed digest before anything is written
/// or sampled.
pub fn profile_csv_keyed(
    file: &str,
    input: impl Read,
    sink: Option<&mut dyn Write>,
    sample_rows: usize,
    progress: &mut dyn FnMut(u64),
    biometric: Option<&BiometricDigest>,
) -> Result<CsvProfile> {
    profile_csv_indexed(file, input, sink, sample_rows, progress, biometric, None)
}

/// Collects the keyed pseudonyms of the subject identifiers a dataset holds (columns known by
/// name, [`medspace_classify::is_subject_identifier_column`]) — GB/T 39725-2020 §7 g): the
/// disclosure history of a subject is looked up by these.
#[derive(Debug)]
pub struct SubjectCollector<'a> {
    /// The node's pseudonymizer.
    pub pseudonymizer: &'a crate::audit_query::SubjectPseudonymizer,
    /// Pseudonyms found.
    pub found: std::collections::BTreeSet<String>,
}

/// [`profile_csv_keyed`], also collecting subject pseudonyms into `subjects`.
pub fn profile_csv_indexed(
    file: &str,
    input: impl Read,
    sink: Option<&mut dyn Write>,
    sample_rows: usize,
    progress: &mut dyn FnMut(u64),
    biometric: Option<&BiometricDigest>,
    mut subjects: Option<&mut SubjectCollector<'_>>,
) -> Result<CsvProfile> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(input);
    let header = reader.headers().map_err(|e| csv_error(file, &e))?.clone();
    if header.is_empty() || (header.len() == 1 && header.get(0).is_some_and(str::is_empty)) {
        return Err(ServiceError::InvalidInput {
            file: file.into(),
            line: 1,
            column: 1,
            message: "expected a header row naming the columns; the file is empty".into(),
        });
    }
    let mut seen = HashSet::new();
    for (i, name) in header.iter().enumerate() {
        let trimmed = name.trim().trim_start_matches('\u{feff}');
        if trimmed.is_empty() {
            return Err(ServiceError::InvalidInput {
                file: file.into(),
                line: 1,
                column: i as u64 + 1,
                message: "expected a column name in the header row, found an empty one".into(),
            });
        }
        if !seen.insert(trimmed.to_string()) {
            return Err(ServiceError::InvalidInput {
                file: file.into(),
                line: 1,
                column: i as u64 + 1,
                message: format!("column name `{trimmed}` appears twice in the header row"),
            });
        }
    }
    let names: Vec<String> = header
        .iter()
        .map(|n| n.trim().trim_start_matches('\u{feff}').to_string())
        .collect();

    let biometric_columns: Vec<usize> = match biometric {
        Some(_) => names
            .iter()
            .enumerate()
            .filter(|(_, n)| medspace_classify::is_biometric_column(n))
            .map(|(i, _)| i)
            .collect(),
        None => Vec::new(),
    };
    let mut digested = csv::StringRecord::new();
    let subject_columns: Vec<usize> = match subjects {
        Some(_) => names
            .iter()
            .enumerate()
            .filter(|(_, n)| medspace_classify::is_subject_identifier_column(n))
            .map(|(i, _)| i)
            .collect(),
        None => Vec::new(),
    };

    let mut hashing = HashingWriter {
        inner: sink,
        hasher: Sha256::new(),
    };
    let mut types = vec![
        TypeState {
            integer: true,
            float: true,
            seen: false,
        };
        names.len()
    ];
    let mut samples =
        medspace_classify::Reservoir::new(sample_rows, medspace_classify::DEFAULT_SAMPLE_SEED);
    let mut rows = 0u64;
    {
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(&mut hashing);
        writer
            .write_record(&names)
            .map_err(|e| ServiceError::Io(e.to_string()))?;
        let mut record = csv::StringRecord::new();
        loop {
            match reader.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err(csv_error(file, &e)),
            }
            if let Some(collector) = subjects.as_deref_mut() {
                for &i in &subject_columns {
                    if let Some(p) = record
                        .get(i)
                        .and_then(|v| collector.pseudonymizer.pseudonym(v))
                    {
                        collector.found.insert(p);
                    }
                }
            }
            if let (Some(bio), false) = (biometric, biometric_columns.is_empty()) {
                digested.clear();
                for (i, v) in record.iter().enumerate() {
                    if biometric_columns.contains(&i) {
                        digested.push_field(&bio.digest(v));
                    } else {
                        digested.push_field(v);
                    }
                }
                std::mem::swap(&mut record, &mut digested);
            }
            for (state, v) in types.iter_mut().zip(record.iter()) {
                state.observe(v);
            }
            samples.offer_with(|| record.iter().map(str::to_string).collect());
            writer
                .write_record(&record)
                .map_err(|e| ServiceError::Io(e.to_string()))?;
            rows += 1;
            if rows.is_multiple_of(50_000) {
                progress(rows);
            }
        }
        writer.flush()?;
    }
    progress(rows);
    let schema = names
        .into_iter()
        .zip(types)
        .map(|(name, t)| ColumnSchema {
            name,
            data_type: t.data_type(),
        })
        .collect();
    Ok(CsvProfile {
        schema,
        rows,
        samples: samples.into_sorted(),
        sha256: hex::encode(hashing.hasher.finalize()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(text: &str) -> Result<CsvProfile> {
        profile_csv("in.csv", text.as_bytes(), None, 10, &mut |_| {})
    }

    #[test]
    fn biometric_columns_are_stored_as_keyed_digests_only() {
        use medspace_crypto::{CryptoProfile, SecretKey};
        let template = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let text = format!("id,fingerprint,age\n1,{template},34\n2,{template},35\n3,,36\n");
        for profile in [CryptoProfile::International, CryptoProfile::National] {
            let bio = BiometricDigest {
                key: SecretKey::generate(),
                profile,
            };
            let mut out = Vec::new();
            let p = profile_csv_keyed(
                "in.csv",
                text.as_bytes(),
                Some(&mut out),
                10,
                &mut |_| {},
                Some(&bio),
            )
            .unwrap();
            let out = String::from_utf8(out).unwrap();
            assert!(
                !out.contains(template),
                "{profile}: the template was written"
            );
            assert!(p.samples.iter().all(|(_, r)| !r[1].contains(template)));
            let expected = bio.digest(template);
            assert!(expected.starts_with("bio:") && expected.len() == 4 + 64);
            let rows: Vec<&str> = out.lines().collect();
            assert_eq!(rows[1], format!("1,{expected},34"));
            // Equal templates give equal digests; an empty value stays empty; other columns untouched.
            assert_eq!(rows[2], format!("2,{expected},35"));
            assert_eq!(rows[3], "3,,36");
            // Another key gives another digest: the digest is keyed.
            let other = BiometricDigest {
                key: SecretKey::generate(),
                profile,
            };
            assert_ne!(other.digest(template), expected);
        }
        // Without a digest key (re-reading stored data) values pass through.
        let p = profile(&text).unwrap();
        assert_eq!(p.samples[0].1[1], template);
    }

    #[test]
    fn infers_types_and_keeps_identifiers_as_text() {
        let p = profile("id_number,age,fee,code\n110105194912310020,34,12.50,0571\n11010519491231002X,35,3,0572\n").unwrap();
        let types: Vec<_> = p.schema.iter().map(|c| c.data_type).collect();
        assert_eq!(
            types,
            vec![
                DataType::Text,
                DataType::Integer,
                DataType::Float,
                DataType::Text
            ]
        );
        assert_eq!(p.rows, 2);
    }

    #[test]
    fn unequal_row_names_line_and_column() {
        let err = profile("a,b,c\n1,2,3\n4,5\n").unwrap_err();
        match err {
            ServiceError::InvalidInput {
                file,
                line,
                column,
                message,
            } => {
                assert_eq!(file, "in.csv");
                assert_eq!(line, 3);
                assert_eq!(column, 3);
                assert!(message.contains("expected 3 fields"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn invalid_utf8_names_the_field_without_echoing_it() {
        let mut bytes = b"name,x\n".to_vec();
        bytes.extend_from_slice(&[0xd5, 0xc5, b',', b'1', b'\n']);
        let err = profile_csv("gbk.csv", &bytes[..], None, 10, &mut |_| {}).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("gbk.csv:2:1:"), "{msg}");
        assert!(msg.contains("UTF-8"));
    }

    #[test]
    fn duplicate_or_empty_header_is_refused() {
        assert!(profile("a,a\n1,2\n")
            .unwrap_err()
            .to_string()
            .contains("twice"));
        assert!(profile("a,\n1,2\n")
            .unwrap_err()
            .to_string()
            .contains(":1:2:"));
        assert!(profile("").is_err());
    }
}
