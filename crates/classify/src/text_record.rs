//! CSV records as UTF-8 text, checked once per record.
//!
//! GB/T 39725-2020 §6 classification reads every cell of a full scan as text. The `csv` crate's
//! `StringRecord` checks each field apart (`str::from_utf8` per field once a record holds a
//! non-ASCII byte), which on Chinese settlement data cost as much CPU as the rest of parsing. A
//! [`TextRecord`] checks the whole record at once with `simdutf8`, keeps the text, and hands out
//! each field as a slice of it: a field is valid UTF-8 exactly when the record is and both of the
//! field's ends fall on character boundaries.

use std::ops::Range;

/// One CSV record's fields as checked UTF-8 text.
#[derive(Debug, Clone, Default)]
pub struct TextRecord {
    text: String,
    /// Byte range of each field in `text`.
    fields: Vec<Range<usize>>,
    /// 1-based line where the record starts, if the reader knew it.
    line: Option<u64>,
}

impl TextRecord {
    /// An empty record.
    pub fn new() -> TextRecord {
        TextRecord::default()
    }

    /// Takes `record`'s fields as text, or `Err(i)` with the 0-based index of the first field
    /// that is not valid UTF-8 (the field `csv`'s `StringRecord` would name); the record is then
    /// left empty.
    pub fn fill(&mut self, record: &csv::ByteRecord) -> Result<(), usize> {
        self.text.clear();
        self.fields.clear();
        self.line = record.position().map(csv::Position::line);
        let Ok(text) = simdutf8::basic::from_utf8(record.as_slice()) else {
            return Err(first_invalid_field(record));
        };
        for i in 0..record.len() {
            match record.range(i) {
                Some(range)
                    if text.is_char_boundary(range.start) && text.is_char_boundary(range.end) =>
                {
                    self.fields.push(range);
                }
                _ => {
                    self.fields.clear();
                    return Err(first_invalid_field(record));
                }
            }
        }
        self.text.push_str(text);
        Ok(())
    }

    /// Field `i`, if the record has it.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.text.get(self.fields.get(i)?.clone())
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the record has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }

    /// 1-based line where the record starts, if known.
    pub fn line(&self) -> Option<u64> {
        self.line
    }
}

/// The first field of `record` that is not valid UTF-8 on its own (0 if, against expectation,
/// every field is).
fn first_invalid_field(record: &csv::ByteRecord) -> usize {
    record
        .iter()
        .position(|f| std::str::from_utf8(f).is_err())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;

    fn byte_record(fields: &[Vec<u8>]) -> csv::ByteRecord {
        let mut r = csv::ByteRecord::new();
        for f in fields {
            r.push_field(f);
        }
        r
    }

    #[test]
    fn fields_are_the_record_s_text() {
        let r = byte_record(&[
            "S01".into(),
            "四川省眉山市彭山区".into(),
            Vec::new(),
            "男".into(),
        ]);
        let mut t = TextRecord::new();
        t.fill(&r).unwrap();
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            ["S01", "四川省眉山市彭山区", "", "男"]
        );
        assert_eq!(t.get(4), None);
    }

    #[test]
    fn a_character_split_between_two_fields_is_refused_in_the_first() {
        // 眉 is E7 9C 89: its lead byte ends field 1 and its tail starts field 2, so the
        // record's bytes are valid UTF-8 but neither field is.
        let r = byte_record(&[b"ok".to_vec(), vec![b'a', 0xE7], vec![0x9C, 0x89, b'b']]);
        assert!(std::str::from_utf8(r.as_slice()).is_ok());
        let mut t = TextRecord::new();
        assert_eq!(t.fill(&r), Err(1));
        assert!(t.is_empty());
    }

    proptest! {
        /// A record is taken exactly when `csv`'s `StringRecord` takes it, with the same fields,
        /// and refused with the field `StringRecord` names.
        #[test]
        fn agrees_with_string_record(
            fields in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![
                        Just(b'a'), Just(b','), Just(0xE7), Just(0x9C), Just(0x89), Just(0xFF),
                        Just(0xC3), Just(0xA9), any::<u8>()
                    ],
                    0..8,
                ),
                1..6,
            )
        ) {
            let r = byte_record(&fields);
            let mut t = TextRecord::new();
            match csv::StringRecord::from_byte_record(r.clone()) {
                Ok(s) => {
                    prop_assert_eq!(t.fill(&r), Ok(()));
                    prop_assert_eq!(t.iter().collect::<Vec<_>>(), s.iter().collect::<Vec<_>>());
                }
                Err(e) => prop_assert_eq!(t.fill(&r), Err(e.utf8_error().field())),
            }
        }
    }
}
