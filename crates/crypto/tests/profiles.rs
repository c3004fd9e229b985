//! Both crypto profiles through the public API: envelope objects and wrapped keys under the
//! international (AES-256-GCM) and national (SM4-GCM) profiles, automatic algorithm detection on
//! decryption, and property tests for round trips and tamper detection — T/CI 857-2024 6.3,
//! GB/T 39786-2021, GB/T 39725-2020 §10.1 g)–i).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::io::{Read, Write};

use medspace_crypto::{
    decrypt_bytes, decrypt_reader, encrypt_bytes, encrypt_bytes_with, encrypt_writer_with,
    object_algorithm, AeadAlgorithm, CryptoError, CryptoProfile, FileKeyProvider, KeyProvider,
    SecretKey, SEGMENT_LEN,
};
use proptest::prelude::*;

const TAG: usize = 16;
const HEADER: usize = 13;

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn each_profile_writes_its_algorithm_id_and_decryption_detects_it() {
    let k = SecretKey::generate();
    for (profile, id) in [
        (CryptoProfile::International, 1),
        (CryptoProfile::National, 2),
    ] {
        let c = encrypt_bytes_with(profile, &k, b"obj", b"hello").unwrap();
        assert_eq!(&c[..4], b"MSE1");
        assert_eq!(c[4], 1, "format version");
        assert_eq!(c[5], id, "{profile}");
        assert_eq!(object_algorithm(&c).unwrap(), profile.content_cipher());
        assert_eq!(c.len(), HEADER + 5 + TAG);
        assert_eq!(decrypt_bytes(&k, b"obj", &c).unwrap(), b"hello");
        let r = decrypt_reader(&k, b"obj", &c[..]).unwrap();
        assert_eq!(r.algorithm(), profile.content_cipher());
    }
    // The default API is the international profile, byte for byte in layout.
    let c = encrypt_bytes(&k, b"obj", b"x").unwrap();
    assert_eq!(object_algorithm(&c).unwrap(), AeadAlgorithm::Aes256Gcm);
    assert!(matches!(
        object_algorithm(b"MSE1\x01\x07"),
        Err(CryptoError::Format(_))
    ));
    assert!(matches!(
        object_algorithm(b"MSE"),
        Err(CryptoError::Format(_))
    ));
}

#[test]
fn national_objects_stream_through_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("obj");
    let k = SecretKey::generate();
    let plain = data(3 * SEGMENT_LEN + 17);
    let mut w = encrypt_writer_with(
        CryptoProfile::National,
        &k,
        b"ds-1",
        std::fs::File::create(&path).unwrap(),
    )
    .unwrap();
    assert_eq!(w.algorithm(), AeadAlgorithm::Sm4Gcm);
    for chunk in plain.chunks(10_000) {
        w.write_all(chunk).unwrap();
    }
    w.finish().unwrap().sync_all().unwrap();
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(on_disk.len(), HEADER + plain.len() + 4 * TAG);
    assert!(!on_disk.windows(64).any(|w| w == &plain[..64]));
    let mut out = Vec::new();
    decrypt_reader(&k, b"ds-1", std::fs::File::open(&path).unwrap())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, plain);
}

#[test]
fn national_truncation_and_segment_reordering_fail() {
    let k = SecretKey::generate();
    let c = encrypt_bytes_with(CryptoProfile::National, &k, b"o", &data(3 * SEGMENT_LEN)).unwrap();
    let seg = SEGMENT_LEN + TAG;
    for n in 0..3 {
        assert!(matches!(
            decrypt_bytes(&k, b"o", &c[..HEADER + n * seg]),
            Err(CryptoError::Integrity)
        ));
    }
    let s = |i: usize| &c[HEADER + i * seg..HEADER + (i + 1) * seg];
    let swapped = [&c[..HEADER], s(1), s(0), s(2)].concat();
    assert!(matches!(
        decrypt_bytes(&k, b"o", &swapped),
        Err(CryptoError::Integrity)
    ));
}

#[test]
fn same_data_key_under_both_profiles_gives_unrelated_ciphertexts() {
    // SM4 uses a key derived from the data key, so the two ciphers never share key bytes, and an
    // object relabelled from one algorithm to the other does not verify.
    let k = SecretKey::generate();
    let aes = encrypt_bytes_with(CryptoProfile::International, &k, b"o", b"same").unwrap();
    let sm4 = encrypt_bytes_with(CryptoProfile::National, &k, b"o", b"same").unwrap();
    for (c, other) in [(&aes, 2u8), (&sm4, 1u8)] {
        let mut relabelled = c.clone();
        relabelled[5] = other;
        assert!(matches!(
            decrypt_bytes(&k, b"o", &relabelled),
            Err(CryptoError::Integrity)
        ));
    }
}

#[test]
fn key_provider_profiles_wrap_with_their_cipher_and_unwrap_both() {
    let master = SecretKey::generate();
    let intl = FileKeyProvider::from_key(master.clone(), "t");
    let nat = FileKeyProvider::from_key(master, "t").with_profile(CryptoProfile::National);
    assert_eq!(intl.profile(), CryptoProfile::International);
    assert_eq!(nat.profile(), CryptoProfile::National);
    assert_eq!(
        intl.key_id(),
        nat.key_id(),
        "key id is independent of the profile"
    );
    let dek = SecretKey::generate();
    let w_intl = intl.wrap(&dek, b"ds").unwrap();
    let w_nat = nat.wrap(&dek, b"ds").unwrap();
    assert_eq!(w_intl[5], 1);
    assert_eq!(w_nat[5], 2);
    assert_eq!(w_intl.len(), w_nat.len());
    for p in [&intl, &nat] {
        assert_eq!(p.unwrap(&w_intl, b"ds").unwrap(), dek);
        assert_eq!(p.unwrap(&w_nat, b"ds").unwrap(), dek);
    }
    for pos in 0..w_nat.len() {
        let mut bad = w_nat.clone();
        bad[pos] ^= 0x01;
        assert!(nat.unwrap(&bad, b"ds").is_err(), "flip at {pos}");
    }
    assert!(matches!(
        nat.unwrap(&w_nat, b"other"),
        Err(CryptoError::Integrity)
    ));
    // Derivation follows the profile's keyed hash.
    let a = intl.derive("pseudonym", b"p1").unwrap();
    let b = nat.derive("pseudonym", b"p1").unwrap();
    assert_ne!(a, b);
    assert_eq!(b, nat.derive("pseudonym", b"p1").unwrap());
    let master_bytes = *FileKeyProvider::from_key(SecretKey::from_bytes([1; 32]), "t")
        .with_profile(CryptoProfile::National)
        .derive("pseudonym", b"project-7")
        .unwrap()
        .expose();
    assert_eq!(
        master_bytes,
        medspace_crypto::hmac_sm3(
            &SecretKey::from_bytes([1; 32]),
            b"medspace/v1/pseudonym\x00project-7"
        )
    );
}

fn profile() -> impl Strategy<Value = CryptoProfile> {
    prop_oneof![
        Just(CryptoProfile::International),
        Just(CryptoProfile::National)
    ]
}

/// Any length up to a few segments, with lengths 0 and exact multiples of the segment size (the
/// edge cases of the last-segment rule) drawn often.
fn length() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        (1usize..=3).prop_map(|k| k * SEGMENT_LEN),
        (1usize..=3, -2isize..=2).prop_map(|(k, d)| (k * SEGMENT_LEN).saturating_add_signed(d)),
        0usize..3 * SEGMENT_LEN + 100,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn both_profiles_round_trip_any_length(profile in profile(), len in length(), aad in proptest::collection::vec(any::<u8>(), 0..40)) {
        let k = SecretKey::generate();
        let p = data(len);
        let c = encrypt_bytes_with(profile, &k, &aad, &p).unwrap();
        let segments = if len == 0 { 1 } else { len.div_ceil(SEGMENT_LEN) };
        prop_assert_eq!(c.len(), HEADER + len + TAG * segments);
        prop_assert_eq!(object_algorithm(&c).unwrap(), profile.content_cipher());
        prop_assert_eq!(decrypt_bytes(&k, &aad, &c).unwrap(), p);
    }

    #[test]
    fn both_profiles_detect_any_flipped_byte(
        profile in profile(),
        len in length(),
        at in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let k = SecretKey::generate();
        let c = encrypt_bytes_with(profile, &k, b"ctx", &data(len)).unwrap();
        let mut bad = c.clone();
        let pos = at.index(bad.len());
        bad[pos] ^= mask;
        prop_assert!(decrypt_bytes(&k, b"ctx", &bad).is_err(), "flip {mask:#x} at {pos} of {}", c.len());
    }

    #[test]
    fn both_profiles_detect_any_truncation(profile in profile(), len in length(), at in any::<prop::sample::Index>()) {
        let k = SecretKey::generate();
        let c = encrypt_bytes_with(profile, &k, b"ctx", &data(len)).unwrap();
        let cut = at.index(c.len());
        prop_assert!(decrypt_bytes(&k, b"ctx", &c[..cut]).is_err());
    }
}
