//! End-to-end envelope encryption through the public API, as the object store uses it: master key
//! file → per-object data key → wrapped key stored beside an encrypted file (T/CI 857-2024 6.3,
//! DMS 7.2.4).
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};

use medspace_crypto::{
    decrypt_reader, encrypt_writer, wrapped_key_id, CryptoError, FileKeyProvider, KeyProvider,
    SecretKey,
};

fn rows(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(
            format!(
                "{i},110105194912310020,13912345678,张三,J18.9,2024-03-0{}\n",
                i % 9 + 1
            )
            .as_bytes(),
        );
    }
    out
}

fn store(keys: &dyn KeyProvider, dir: &std::path::Path, id: &str, plain: &[u8]) -> Vec<u8> {
    let dek = SecretKey::generate();
    let wrapped = keys.wrap(&dek, id.as_bytes()).unwrap();
    let out = BufWriter::new(File::create(dir.join(id)).unwrap());
    let mut w = encrypt_writer(&dek, id.as_bytes(), out).unwrap();
    for chunk in plain.chunks(10_000) {
        w.write_all(chunk).unwrap();
    }
    w.finish()
        .unwrap()
        .into_inner()
        .unwrap()
        .sync_all()
        .unwrap();
    wrapped
}

fn load(
    keys: &dyn KeyProvider,
    dir: &std::path::Path,
    id: &str,
    wrapped: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let dek = keys.unwrap(wrapped, id.as_bytes())?;
    let input = BufReader::new(File::open(dir.join(id))?);
    let mut out = Vec::new();
    decrypt_reader(&dek, id.as_bytes(), input)?.read_to_end(&mut out)?;
    Ok(out)
}

#[test]
fn objects_round_trip_through_files_and_a_reopened_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("master.key");
    let keys = FileKeyProvider::create(&key_path).unwrap();
    let plain = rows(20_000); // ~1.2 MB, many segments
    let wrapped = store(&keys, dir.path(), "ds-1", &plain);
    assert_eq!(wrapped_key_id(&wrapped).unwrap(), keys.key_id());

    let on_disk = std::fs::read(dir.path().join("ds-1")).unwrap();
    assert!(!on_disk.windows(18).any(|w| w == b"110105194912310020"));

    let reopened = FileKeyProvider::open(&key_path).unwrap();
    assert_eq!(
        load(&reopened, dir.path(), "ds-1", &wrapped).unwrap(),
        plain
    );
}

#[test]
fn tampered_or_swapped_files_fail_with_integrity_errors() {
    let dir = tempfile::tempdir().unwrap();
    let keys = FileKeyProvider::from_key(SecretKey::generate(), "test");
    let a = store(&keys, dir.path(), "a", &rows(3000));
    let b = store(&keys, dir.path(), "b", &rows(10));

    // A file moved under another object's id: the wrapped key is bound to the id.
    std::fs::copy(dir.path().join("a"), dir.path().join("b")).unwrap();
    assert!(matches!(
        load(&keys, dir.path(), "b", &a),
        Err(CryptoError::Integrity)
    ));
    assert!(matches!(
        load(&keys, dir.path(), "b", &b),
        Err(CryptoError::Integrity)
    ));

    // One flipped byte in the middle of a stored file; `?` on the reader's io::Error gives
    // CryptoError::Integrity back.
    let path = dir.path().join("a");
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    assert!(matches!(
        load(&keys, dir.path(), "a", &a),
        Err(CryptoError::Integrity)
    ));
}

#[test]
fn another_nodes_master_key_is_named_not_tried() {
    let dir = tempfile::tempdir().unwrap();
    let ours = FileKeyProvider::from_key(SecretKey::generate(), "file:v1");
    let theirs = FileKeyProvider::from_key(SecretKey::generate(), "file:v1");
    let wrapped = store(&ours, dir.path(), "x", b"content");
    let err = load(&theirs, dir.path(), "x", &wrapped).unwrap_err();
    assert!(matches!(err, CryptoError::UnknownKey { .. }), "{err}");
    assert!(err.to_string().contains(ours.key_id()), "{err}");
}
