//! Column classification never panics on arbitrary headers and values.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let mut parts = s.split('\n');
        let name = parts.next().unwrap_or("");
        let values: Vec<&str> = parts.collect();
        let c = medspace_classify::classify_column(name, &values);
        assert!((0.0..=1.0).contains(&c.confidence));
    }
});
