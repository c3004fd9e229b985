//! Policy parsing never panics; an accepted policy has k >= 2 and its hash is stable.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(p) = medspace_deid::DeidPolicy::parse(s) {
            assert!(p.k() >= 2);
            assert_eq!(p.sha256_hex(), medspace_deid::DeidPolicy::parse(s).unwrap().sha256_hex());
        }
    }
});
