//! The ingest validator never panics on any byte string, and a file it accepts round-trips the row count.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut out = Vec::new();
    if let Ok(p) = medspace_service::csvio::profile_csv("fuzz.csv", data, Some(&mut out), 10, &mut |_| {}) {
        let again = medspace_service::csvio::profile_csv("out.csv", &out[..], None, 10, &mut |_| {}).expect("normalised output re-parses");
        assert_eq!(again.rows, p.rows);
    }
});
