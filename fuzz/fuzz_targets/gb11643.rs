//! Citizen ID parsing never panics, and whatever parses is valid and keeps its check digit.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(id) = medspace_validators::gb11643::parse(s) {
            assert!(medspace_validators::gb11643::is_valid(s));
            assert_eq!(id.division_code.len(), 6);
        }
        let _ = medspace_validators::dates::parse_date(s);
        let _ = medspace_validators::phone::is_mobile(s);
        let _ = medspace_validators::icd10::is_code(s);
    }
});
