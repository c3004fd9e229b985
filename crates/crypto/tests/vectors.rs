//! Known-answer tests for every algorithm of both crypto profiles, through the public API:
//! SM3 (GB/T 32905-2016 Annex A), SM4 (GB/T 32907-2016 Annex A), SM4-GCM (RFC 8998 A.1), HMAC-SHA-256
//! (RFC 4231), HMAC-SM3 (OpenSSL), Ed25519 (RFC 8032 §7.1), SM2 signature and encryption (answers
//! produced by OpenSSL 3.0), and golden envelope objects and wrapped keys written by an independent
//! Python implementation (`tests/data/make_golden.py`) — T/CI 857-2024 6.3, GB/T 39786-2021.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use medspace_crypto::{
    decrypt_bytes, hmac_sm3, object_algorithm, sm2_signature_from_der, sm3_hex, sm4_gcm_open,
    sm4_gcm_seal, wrapped_key_id, AeadAlgorithm, CryptoError, CryptoProfile, FileKeyProvider,
    KeyProvider, MacAlgorithm, NodeSigningKey, NodeVerifyingKey, SecretKey, SignatureScheme,
    Sm2DecryptionKey, Sm2EncryptionKey, Sm4Key,
};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

// ---------------------------------------------------------------------------------------------
// SM3

#[test]
fn sm3_gbt_32905_annex_a() {
    // Example 1: "abc".
    assert_eq!(
        sm3_hex(b"abc"),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    );
    // Example 2: "abcd" × 16 (one full 512-bit block before padding).
    assert_eq!(
        sm3_hex(&b"abcd".repeat(16)),
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    );
    assert_eq!(CryptoProfile::National.digest_hex(b"abc"), sm3_hex(b"abc"));
}

// ---------------------------------------------------------------------------------------------
// SM4 block cipher (raw, through the `cipher` traits)

#[test]
fn sm4_gbt_32907_annex_a_single_block_and_one_million_rounds() {
    use sm4::cipher::{Array, BlockCipherEncrypt, KeyInit};
    let key = h("0123456789abcdeffedcba9876543210");
    let cipher = sm4::Sm4::new_from_slice(&key).unwrap();
    let mut block = Array::try_from(&key[..]).unwrap();
    cipher.encrypt_block(&mut block);
    assert_eq!(hex::encode(block), "681edf34d206965e86b3e94f536e4246");
    // Example 2: the plaintext encrypted 1,000,000 times under the same key.
    let mut block = Array::try_from(&key[..]).unwrap();
    for _ in 0..1_000_000 {
        cipher.encrypt_block(&mut block);
    }
    assert_eq!(hex::encode(block), "595298c7c6fd271f0402f804c33d3f66");
}

// ---------------------------------------------------------------------------------------------
// SM4-GCM

#[test]
fn sm4_gcm_rfc_8998_appendix_a1() {
    // RFC 8998 A.1 (SM4-GCM); also reproduced with Python `cryptography` 48 (OpenSSL backend).
    let key = Sm4Key::from_bytes(h("0123456789ABCDEFFEDCBA9876543210").try_into().unwrap());
    let nonce: [u8; 12] = h("00001234567800000000ABCD").try_into().unwrap();
    let aad = h("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2");
    let pt = h(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD
                EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
    );
    let expected_ct = h(
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735
                         D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D",
    );
    let expected_tag = h("83DE3541E4C2B58177E065A9BF7B62EC");
    let sealed = sm4_gcm_seal(&key, &nonce, &aad, &pt).unwrap();
    assert_eq!(&sealed[..pt.len()], &expected_ct[..]);
    assert_eq!(&sealed[pt.len()..], &expected_tag[..]);
    assert_eq!(
        &*sm4_gcm_open(&key, &nonce, &aad, &sealed).unwrap(),
        &pt[..]
    );
    let mut bad = sealed.clone();
    bad[0] ^= 0x80;
    assert!(matches!(
        sm4_gcm_open(&key, &nonce, &aad, &bad),
        Err(CryptoError::Integrity)
    ));
}

// ---------------------------------------------------------------------------------------------
// HMAC

#[test]
fn hmac_sha256_rfc_4231() {
    let mac = MacAlgorithm::HmacSha256;
    // Test case 1.
    assert_eq!(
        hex::encode(mac.mac(&[0x0b; 20], b"Hi There")),
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
    );
    // Test case 2.
    assert_eq!(
        hex::encode(mac.mac(b"Jefe", b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    // Test case 6 (key longer than the block size).
    assert_eq!(
        hex::encode(mac.mac(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

#[test]
fn hmac_sm3_known_answer_from_openssl() {
    // Obtained with OpenSSL 3.0.19:
    //   printf 'Hi There' | openssl dgst -sm3 -mac HMAC \
    //     -macopt hexkey:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
    // and confirmed with Python: hmac.new(bytes(range(32)), b"Hi There", "sm3").hexdigest().
    let expected = "fe48d9b997eaf3916a0df3f23738c26529caba7f4a7841b6fb70eb8fcd5bbe1f";
    let key: [u8; 32] = std::array::from_fn(|i| i as u8);
    assert_eq!(
        hex::encode(MacAlgorithm::HmacSm3.mac(&key, b"Hi There")),
        expected
    );
    let secret = SecretKey::from_bytes(key);
    assert_eq!(hex::encode(hmac_sm3(&secret, b"Hi There")), expected);
    assert_eq!(
        hex::encode(CryptoProfile::National.mac(&secret, b"Hi There")),
        expected
    );
}

// ---------------------------------------------------------------------------------------------
// Ed25519

#[test]
fn ed25519_rfc_8032_test_1_and_2() {
    for (secret, public, msg, sig) in [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
    ] {
        let key = NodeSigningKey::from_raw(SignatureScheme::Ed25519, &h(secret)).unwrap();
        assert_eq!(hex::encode(key.public_key_bytes()), public);
        let msg = h(msg);
        let signature = key.sign(&msg).unwrap();
        assert_eq!(hex::encode(&signature), sig, "Ed25519 is deterministic");
        let verifier = NodeVerifyingKey::from_bytes(SignatureScheme::Ed25519, &h(public)).unwrap();
        verifier.verify(&msg, &h(sig)).unwrap();
        assert!(matches!(
            verifier.verify(b"other", &h(sig)),
            Err(CryptoError::Signature)
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// SM2 (recommended curve; answers produced by OpenSSL 3.0.19)
//
// The key was made with `openssl genpkey -algorithm SM2 -out k.pem`; signatures with
//   openssl pkeyutl -sign -inkey k.pem -rawin -in msg -digest sm3 -pkeyopt distid:1234567812345678
// and ciphertexts with `openssl pkeyutl -encrypt -pubin -inkey pub.pem -in msg`.

const OPENSSL_SM2_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgEMhI4jqkiD0wZCgf
MPM9MB02OBYnNX6//FUsLBWoDaOhRANCAAS5SZzgPiARJas4obk6pdLAk0l6cBKi
xYLL/tvCT5WuvRw0sZpy6IOmS5HdoxAofqfo06+/IN8he2eHZdl1O5b4
-----END PRIVATE KEY-----
";
const OPENSSL_SM2_PRIVATE: &str =
    "10c848e23aa4883d3064281f30f33d301d36381627357ebffc552c2c15a80da3";
const OPENSSL_SM2_PUBLIC: &str =
    "04b9499ce03e201125ab38a1b93aa5d2c093497a7012a2c582cbfedbc24f95aebd\
                                  1c34b19a72e883a64b91dda310287ea7e8d3afbf20df217b678765d9753b96f8";

#[test]
fn sm2_openssl_key_parses_to_the_printed_scalar_and_point() {
    let key = NodeSigningKey::from_pkcs8_pem(OPENSSL_SM2_PEM).unwrap();
    assert_eq!(key.scheme(), SignatureScheme::Sm2Sm3);
    assert_eq!(hex::encode(&*key.to_raw()), OPENSSL_SM2_PRIVATE);
    assert_eq!(hex::encode(key.public_key_bytes()), OPENSSL_SM2_PUBLIC);
    let dec = Sm2DecryptionKey::from_pkcs8_pem(OPENSSL_SM2_PEM).unwrap();
    assert_eq!(
        hex::encode(dec.encryption_key().to_sec1_bytes()),
        OPENSSL_SM2_PUBLIC
    );
}

#[test]
fn sm2_signatures_made_by_openssl_verify() {
    let verifier =
        NodeVerifyingKey::from_bytes(SignatureScheme::Sm2Sm3, &h(OPENSSL_SM2_PUBLIC)).unwrap();
    for (msg, der) in [
        (
            &b"message digest"[..],
            "3046022100e8606b660e946f1514466199c4da4c2a644f77e9ba50ed0d8f648e5971e796dd022100\
             dbbf22b78754bc22b02d3c9f1da0f8d393e09d39dc6cd4d625faf034b3e391c0",
        ),
        (
            &b"medspace audit checkpoint 42"[..],
            "3044022003d02d58d04d2965c58b0c41a2242573712a033a0bca8575f0445a19b80dc6b8022039\
             472666348ec992132fa6554f48e194e25596186dc3c5becd467ba0a37894bd",
        ),
    ] {
        let sig = sm2_signature_from_der(&h(der)).unwrap();
        assert_eq!(sig.len(), 64);
        verifier.verify(msg, &sig).unwrap();
        assert!(matches!(
            verifier.verify(b"message digesT", &sig),
            Err(CryptoError::Signature)
        ));
        // The distinguishing identifier is part of what is signed.
        let alice = verifier
            .clone()
            .with_sm2_distid("ALICE123@YAHOO.COM")
            .unwrap();
        assert!(alice.verify(msg, &sig).is_err());
    }
}

#[test]
fn sm2_ciphertexts_made_by_openssl_decrypt() {
    let key = Sm2DecryptionKey::from_raw(&h(OPENSSL_SM2_PRIVATE)).unwrap();
    for (ct, pt) in [
        (
            "3078022100e23358e52ad38658052c9bc7540062922f6851bc8acbb6ed20bcbd44fb5168db022100\
             96b2108e6f522d5637c27006814b0f90addf30784010a04d34ec8afd656d77b50420f5491809a9d8\
             41b5f5d0589ad10832130c54894c28a5d22e5e5bf372476a34e1040e98667d0ea90217466f4c8fce\
             9cd3",
            &b"message digest"[..],
        ),
        (
            "308192022100818e9ec9b177c8800d3b79f1f332e165827c7101f65a2645d2f812c6a9edd3e10220\
             4075648825efe0aca5561eb9f9d58d99c6fa746db3610d156df22aaf71fc4ff504201df5f7db85f9\
             3a9a84a28970d1d9546706d9e72b9f24ab6ce12dceb95efc7d7504299e99117a9a669dacf200b86e\
             795278d888118d995c8d3ad585ed98c7e4d8dd16432f112f44bba691a8",
            &b"data key 0123456789abcdef0123456789abcdef"[..],
        ),
    ] {
        let ct = h(ct);
        assert_eq!(&*key.decrypt(&ct).unwrap(), pt);
        let mut bad = ct.clone();
        let n = bad.len();
        bad[n - 1] ^= 0x01;
        assert!(matches!(key.decrypt(&bad), Err(CryptoError::Integrity)));
    }
    // And the reverse direction with the same key pair.
    let enc = Sm2EncryptionKey::from_sec1_bytes(&h(OPENSSL_SM2_PUBLIC)).unwrap();
    let ct = enc.encrypt(b"round trip").unwrap();
    assert_eq!(&*key.decrypt(&ct).unwrap(), b"round trip");
}

// ---------------------------------------------------------------------------------------------
// Golden envelope objects and wrapped keys (independent Python implementation)

fn golden_plaintext() -> Vec<u8> {
    (0..64 * 1024 + 10).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn golden_envelope_objects_of_both_algorithms_decrypt() {
    let dek = SecretKey::from_bytes(std::array::from_fn(|i| i as u8));
    for (file, algorithm) in [
        ("golden-aes256gcm.mse", AeadAlgorithm::Aes256Gcm),
        ("golden-sm4gcm.mse", AeadAlgorithm::Sm4Gcm),
    ] {
        let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
        let object = std::fs::read(&path).unwrap();
        assert_eq!(object_algorithm(&object).unwrap(), algorithm, "{file}");
        assert_eq!(
            decrypt_bytes(&dek, b"ds-golden", &object).unwrap(),
            golden_plaintext(),
            "{file}"
        );
        assert!(matches!(
            decrypt_bytes(&dek, b"ds-other", &object),
            Err(CryptoError::Integrity)
        ));
        // Relabelling the algorithm byte is detected (the header is authenticated).
        let mut relabelled = object.clone();
        relabelled[5] = if relabelled[5] == 1 { 2 } else { 1 };
        assert!(matches!(
            decrypt_bytes(&dek, b"ds-golden", &relabelled),
            Err(CryptoError::Integrity)
        ));
    }
}

#[test]
fn golden_wrapped_keys_of_both_algorithms_unwrap_under_either_profile() {
    let master: [u8; 32] = std::array::from_fn(|i| 0x40 + i as u8);
    let dek = SecretKey::from_bytes(std::array::from_fn(|i| i as u8));
    let aes = h("4d53574b01010f676f6c64656e3a3233346532636166b0b1b2b3b4b5b6b7b8b9babb\
                 03018286c54fed9e33e72df3e1fb42c4ae19963b5000c088ebdf7a2095adec8fcc9453fcffd471d4362d4e26a909ce5b");
    let sm4 = h("4d53574b01020f676f6c64656e3a3233346532636166b0b1b2b3b4b5b6b7b8b9babb\
                 2c8885e76991207bc5a239bcab5b5c7221c0a277949085b2aef3f9fab770d71a29196c0e004a73cde91bb293d8da6697");
    for profile in CryptoProfile::ALL {
        let provider = FileKeyProvider::from_key(SecretKey::from_bytes(master), "golden")
            .with_profile(profile);
        for wrapped in [&aes, &sm4] {
            assert_eq!(wrapped_key_id(wrapped).unwrap(), provider.key_id());
            assert_eq!(provider.unwrap(wrapped, b"ds-golden").unwrap(), dek);
            assert!(matches!(
                provider.unwrap(wrapped, b"ds-other"),
                Err(CryptoError::Integrity)
            ));
        }
    }
}
