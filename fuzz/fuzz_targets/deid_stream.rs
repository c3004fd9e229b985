//! De-identifying arbitrary CSV under a fixed policy never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;

const POLICY: &str = r#"
name = "fuzz"
quasi_identifiers = ["b"]
subject_column = "a"
default_action = "keep"
[columns.a]
action = "pseudonymize"
[columns.b]
action = "mask"
keep_first = 1
[columns.c]
action = "date_shift"
"#;

fuzz_target!(|data: &[u8]| {
    let policy = medspace_deid::DeidPolicy::parse(POLICY).expect("fixed policy parses");
    let keys = medspace_deid::DeidKeys { pseudonym_key: [1; 32], date_shift_key: [2; 32] };
    let mut out = Vec::new();
    let _ = medspace_deid::deidentify(&policy, &keys, data, &mut out);
});
