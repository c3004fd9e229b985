#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]
//! C2SP signed-note conformance: the spec's example note verifies with the spec's vkey, any change
//! to its text or signature is refused, and signatures from unknown keys are ignored.
//!
//! Data: `/work/shared/data/merkle-vectors/c2sp-signed-note` (see SOURCE.md there).

use std::path::{Path, PathBuf};

use medspace_tlog::note::{
    verifier_from_vkey, Ed25519Signer, Note, NoteError, NoteSignature, NoteSigner as _, Verifiers,
};

fn data(name: &str) -> String {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/merkle-vectors/c2sp-signed-note");
    assert!(
        dir.is_dir(),
        "C2SP signed-note example not found at {} (expected the shared data checkout next to the \
         workspace: <root>/shared/data/merkle-vectors, see its SOURCE.md)",
        dir.display()
    );
    std::fs::read_to_string(dir.join(name)).unwrap()
}

fn example() -> (Note, Verifiers) {
    let note = Note::parse(&data("example.note")).unwrap();
    let vkey = data("example.vkey");
    let verifiers = Verifiers::new()
        .with(verifier_from_vkey(vkey.trim_end()).unwrap())
        .unwrap();
    (note, verifiers)
}

#[test]
fn the_example_note_verifies_with_the_example_vkey() {
    let (note, verifiers) = example();
    assert_eq!(note.text(), "This is an example message.\n");
    let ok = note.verify(&verifiers).unwrap();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].name, "example.com/foo");
    assert_eq!(ok[0].key_id, 0x530d903a);
    assert_eq!(note.to_string(), data("example.note"));
}

#[test]
fn a_modified_text_or_signature_is_refused() {
    let (note, verifiers) = example();
    let original = note.to_string();
    let edited = original.replacen("example message", "example massage", 1);
    assert_eq!(
        Note::parse(&edited).unwrap().verify(&verifiers),
        Err(NoteError::InvalidSignature {
            name: "example.com/foo".into(),
            key_id: 0x530d903a
        })
    );
    // Flip each bit of the signature (after the key ID): always refused.
    let sig = &note.signatures()[0];
    for byte in 0..sig.signature.len() {
        for bit in 0..8 {
            let mut bad = sig.clone();
            bad.signature[byte] ^= 1 << bit;
            let mut n = Note::new(note.text()).unwrap();
            n.add_signature(bad).unwrap();
            let reparsed = Note::parse(&n.to_string()).unwrap();
            assert!(
                reparsed.verify(&verifiers).is_err(),
                "byte {byte} bit {bit}"
            );
        }
    }
    // A truncated signature is refused too.
    let mut short = sig.clone();
    short.signature.pop();
    let mut n = Note::new(note.text()).unwrap();
    n.add_signature(short).unwrap();
    assert!(n.verify(&verifiers).is_err());
}

#[test]
fn unknown_keys_are_ignored() {
    let (note, verifiers) = example();
    let stranger = Ed25519Signer::from_seed("someone.example/else", &[5; 32]).unwrap();
    // Same name, other key ID; and same key ID, other name: both unknown.
    let same_name = NoteSignature {
        name: "example.com/foo".into(),
        key_id: 0x530d903b,
        signature: vec![0; 64],
    };
    let same_id = NoteSignature {
        name: "example.com/bar".into(),
        key_id: 0x530d903a,
        signature: vec![0; 64],
    };
    let mut n = note.clone();
    n.sign(&stranger).unwrap();
    n.add_signature(same_name.clone()).unwrap();
    n.add_signature(same_id.clone()).unwrap();
    let reparsed = Note::parse(&n.to_string()).unwrap();
    let ok = reparsed.verify(&verifiers).unwrap();
    assert_eq!(ok.len(), 1, "only the known key's signature counts");
    assert_eq!(ok[0].name, "example.com/foo");
    assert_eq!(ok[0].key_id, 0x530d903a);
    // Only unknown signatures: rejected, as the spec requires.
    let mut only_unknown = Note::new(note.text()).unwrap();
    only_unknown.sign(&stranger).unwrap();
    only_unknown.add_signature(same_name).unwrap();
    only_unknown.add_signature(same_id).unwrap();
    assert_eq!(
        only_unknown.verify(&verifiers),
        Err(NoteError::NoVerifiedSignature)
    );
    assert_eq!(stranger.name(), "someone.example/else");
}
