//! End-to-end tests of `Pkcs11KeyProvider` against a real SoftHSM2 token.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` once, at `C_Initialize`, and PKCS#11 is initialised once per
//! process; so everything runs in one test function over one temporary token directory. A second
//! test, run only as a child process of the first, reopens the token in a fresh process (new
//! `C_Initialize`) to show the key persists. Without the SoftHSM2 module the tests print a NOTICE
//! and return.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use medspace_crypto::{wrapped_key_id, CryptoError, FileKeyProvider, KeyProvider, SecretKey};
use medspace_hsm::cryptoki::error::{Error as Pkcs11Error, RvError};
use medspace_hsm::cryptoki::mechanism::Mechanism;
use medspace_hsm::cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use medspace_hsm::cryptoki::session::UserType;
use medspace_hsm::cryptoki::types::AuthPin;
use medspace_hsm::{
    find_token_slot, pkcs11_context, HsmError, PinSource, Pkcs11Config, Pkcs11KeyProvider,
    SOFTHSM2_MODULE,
};

const TOKEN: &str = "medspace-test";
const OTHER_TOKEN: &str = "medspace-other";
const SO_PIN: &str = "1234";
const PIN: &str = "5678";
const PIN_ENV: &str = "MEDSPACE_TEST_HSM_PIN";
const WRONG_PIN_ENV: &str = "MEDSPACE_TEST_HSM_WRONG_PIN";
const CHILD_ENV: &str = "MEDSPACE_TEST_HSM_CHILD_DIR";
const CHILD_TEST: &str = "child_process_reopens_persistent_token";

fn module() -> PathBuf {
    std::env::var_os("MEDSPACE_TEST_PKCS11_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SOFTHSM2_MODULE))
}

fn softhsm_missing(test: &str) -> bool {
    let util = Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if module().exists() && util {
        return false;
    }
    // Written to stderr directly: libtest captures `eprintln!` of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "NOTICE: skipping {test}: SoftHSM2 not found ({} and softhsm2-util) (install softhsm2)",
        module().display()
    );
    true
}

fn config(token: &str, key: &str) -> Pkcs11Config {
    Pkcs11Config::new(module(), token, PinSource::Env(PIN_ENV.into()), key)
}

fn init_token(conf: &Path, label: &str) {
    let out = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", conf)
        .args(["--init-token", "--free", "--label", label])
        .args(["--so-pin", SO_PIN, "--pin", PIN])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "softhsm2-util --init-token {label}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_no_pin(text: &str) {
    assert!(!text.contains(PIN), "PIN leaked into: {text}");
    assert!(!text.contains("0000"), "wrong PIN leaked into: {text}");
}

#[test]
fn softhsm_provider_end_to_end() {
    if softhsm_missing("softhsm_provider_end_to_end") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
             slots.removable = false\n",
            tokens.display()
        ),
    )
    .unwrap();
    init_token(&conf, TOKEN);
    init_token(&conf, OTHER_TOKEN);
    // Before the first C_Initialize of this process (which reads it).
    std::env::set_var("SOFTHSM2_CONF", &conf);
    std::env::set_var(PIN_ENV, PIN);
    std::env::set_var(WRONG_PIN_ENV, "0000");

    // --- Configuration and login failures, before any successful login (login state is shared
    // by all sessions of the process, so a wrong PIN is only detectable while logged out).
    let mut wrong = config(TOKEN, "kek-a");
    wrong.pin = PinSource::Env(WRONG_PIN_ENV.into());
    let err = Pkcs11KeyProvider::open(&wrong).unwrap_err();
    assert!(matches!(err, HsmError::Login { .. }), "{err}");
    assert_eq!(err.return_code(), Some(RvError::PinIncorrect));
    assert_no_pin(&err.to_string());

    let mut unset = config(TOKEN, "kek-a");
    unset.pin = PinSource::Env("MEDSPACE_TEST_HSM_PIN_UNSET".into());
    let err = Pkcs11KeyProvider::open(&unset).unwrap_err();
    assert!(
        matches!(&err, HsmError::Pin { problem, .. } if problem == "not set"),
        "{err}"
    );

    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut from_file = config(TOKEN, "kek-a");
    from_file.pin = PinSource::File(pin_file.clone());
    let err = Pkcs11KeyProvider::open(&from_file).unwrap_err();
    assert!(matches!(err, HsmError::Pin { .. }), "{err}");
    assert!(err.to_string().contains("chmod 600"), "{err}");
    assert_no_pin(&err.to_string());
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    let err = Pkcs11KeyProvider::open(&config("no-such-token", "kek-a")).unwrap_err();
    assert!(matches!(err, HsmError::TokenNotFound { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(TOKEN) && text.contains(OTHER_TOKEN), "{text}");

    let err = Pkcs11KeyProvider::open(&config(TOKEN, "kek-a")).unwrap_err();
    assert!(
        matches!(&err, HsmError::KeyNotFound { label, .. } if label == "kek-a"),
        "{err}"
    );
    assert!(err.to_string().contains("generate_key"), "{err}");

    let err = Pkcs11KeyProvider::open(&config(&"t".repeat(33), "kek-a")).unwrap_err();
    assert!(matches!(err, HsmError::Config(_)), "{err}");

    // --- Generation: idempotent, key id names token, label and CKA_ID.
    let p = Pkcs11KeyProvider::generate_key(&config(TOKEN, "kek-a")).unwrap();
    let prefix = format!("hsm:{TOKEN}:kek-a:v1:");
    assert!(p.key_id().starts_with(&prefix), "{}", p.key_id());
    let fingerprint = &p.key_id()[prefix.len()..];
    assert_eq!(fingerprint.len(), 16);
    assert!(fingerprint.bytes().all(|b| b.is_ascii_hexdigit()));
    let again = Pkcs11KeyProvider::generate_key(&config(TOKEN, "kek-a")).unwrap();
    assert_eq!(again.key_id(), p.key_id(), "existing keys are kept");
    drop(again);
    let shown = format!("{p:?}");
    assert!(
        shown.contains(p.key_id()) && !shown.contains(PIN),
        "{shown}"
    );

    // --- Wrap / unwrap.
    let dek = SecretKey::generate();
    let w = p.wrap(&dek, b"ds-1").unwrap();
    assert_eq!(p.unwrap(&w, b"ds-1").unwrap(), dek);
    let id = p.key_id().as_bytes();
    assert_eq!(&w[..4], b"MSWK");
    assert_eq!(w[4], 1, "version");
    assert_eq!(w[5], 1, "algorithm 1 = AES-256-GCM");
    assert_eq!(usize::from(w[6]), id.len());
    assert_eq!(&w[7..7 + id.len()], id);
    assert_eq!(w.len(), 7 + id.len() + 12 + 32 + 16);
    assert_eq!(wrapped_key_id(&w).unwrap(), p.key_id());
    assert!(!w.windows(8).any(|x| x == &dek.expose()[..8]));
    let w2 = p.wrap(&dek, b"ds-1").unwrap();
    assert_ne!(w, w2, "fresh IV per wrap");
    assert_eq!(p.unwrap(&w2, b"ds-1").unwrap(), dek);

    // Wrong context, modified bytes, truncation.
    let e = p.unwrap(&w, b"ds-2");
    assert!(matches!(e, Err(CryptoError::Integrity)), "{e:?}");
    assert!(matches!(p.unwrap(&w, b""), Err(CryptoError::Integrity)));
    for pos in (7 + id.len())..w.len() {
        let mut bad = w.clone();
        bad[pos] ^= 0x01;
        assert!(
            matches!(p.unwrap(&bad, b"ds-1"), Err(CryptoError::Integrity)),
            "flip at {pos}"
        );
    }
    for (pos, what) in [(0, "magic"), (4, "version"), (5, "algorithm")] {
        let mut bad = w.clone();
        bad[pos] = 7;
        let err = p.unwrap(&bad, b"ds-1").unwrap_err();
        assert!(matches!(err, CryptoError::Format(_)), "{what}: {err}");
        assert!(err.to_string().contains(what), "{err}");
    }
    let mut bad = w.clone();
    bad[7 + id.len() - 1] ^= 0x01;
    assert!(matches!(
        p.unwrap(&bad, b"ds-1"),
        Err(CryptoError::UnknownKey { .. })
    ));
    for cut in 0..w.len() {
        assert!(p.unwrap(&w[..cut], b"ds-1").is_err(), "cut at {cut}");
    }

    // --- Another key in the same token, and the same label in another token.
    let b = Pkcs11KeyProvider::generate_key(&config(TOKEN, "kek-b")).unwrap();
    let other = Pkcs11KeyProvider::generate_key(&config(OTHER_TOKEN, "kek-a")).unwrap();
    assert_ne!(b.key_id(), p.key_id());
    assert_ne!(other.key_id(), p.key_id());
    assert!(other
        .key_id()
        .starts_with(&format!("hsm:{OTHER_TOKEN}:kek-a:v1:")));
    for q in [&b, &other] {
        let err = q.unwrap(&w, b"ds-1").unwrap_err();
        assert!(
            matches!(&err, CryptoError::UnknownKey { found, available }
                if found == p.key_id() && available == q.key_id()),
            "{err}"
        );
        let wq = q.wrap(&dek, b"ds-1").unwrap();
        assert!(matches!(
            p.unwrap(&wq, b"ds-1"),
            Err(CryptoError::UnknownKey { .. })
        ));
        // A forged header naming p's key: the token's GCM check refuses it (another KEK).
        let body = &wq[7 + q.key_id().len()..];
        let mut forged = w[..7 + id.len()].to_vec();
        forged.extend_from_slice(body);
        assert!(matches!(
            p.unwrap(&forged, b"ds-1"),
            Err(CryptoError::Integrity)
        ));
    }
    let file = FileKeyProvider::from_key(SecretKey::generate(), "file:v1");
    assert!(matches!(
        file.unwrap(&w, b"ds-1"),
        Err(CryptoError::UnknownKey { .. })
    ));

    // --- Derivation inside the token.
    let k = p.derive("pseudonym", b"p1").unwrap();
    assert_eq!(k, p.derive("pseudonym", b"p1").unwrap());
    assert_ne!(k, p.derive("pseudonym", b"p2").unwrap());
    assert_ne!(k, p.derive("date-shift", b"p1").unwrap());
    assert_ne!(k, b.derive("pseudonym", b"p1").unwrap());
    assert_ne!(k, other.derive("pseudonym", b"p1").unwrap());
    assert!(matches!(
        p.derive("pseudonym\0p", b"1"),
        Err(CryptoError::Format(_))
    ));
    assert!(matches!(p.derive("", b"p1"), Err(CryptoError::Format(_))));

    // --- The key objects are sensitive and never extractable.
    let ctx = pkcs11_context(&module()).unwrap();
    let slot = find_token_slot(&ctx, TOKEN).unwrap();
    let session = ctx.open_rw_session(slot).unwrap();
    match session.login(UserType::User, Some(&AuthPin::from(PIN))) {
        Ok(()) | Err(Pkcs11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("login: {e}"),
    }
    let wrapper = session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(false),
                Attribute::ValueLen(32.into()),
                Attribute::Wrap(true),
            ],
        )
        .unwrap();
    for label in ["kek-a", "kek-a/derive"] {
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .unwrap();
        assert_eq!(found.len(), 1, "{label}");
        let attrs = session
            .get_attributes(
                found[0],
                &[
                    AttributeType::Value,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                    AttributeType::Token,
                    AttributeType::Private,
                ],
            )
            .unwrap();
        assert!(
            !attrs.iter().any(|a| matches!(a, Attribute::Value(_))),
            "{label}: CKA_VALUE must not be readable"
        );
        for expected in [
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::AlwaysSensitive(true),
            Attribute::NeverExtractable(true),
            Attribute::Token(true),
            Attribute::Private(true),
        ] {
            assert!(
                attrs.contains(&expected),
                "{label}: {expected:?} in {attrs:?}"
            );
        }
        let err = session
            .wrap_key(&Mechanism::AesKeyWrap, wrapper, found[0])
            .unwrap_err();
        assert!(
            matches!(err, Pkcs11Error::Pkcs11(RvError::KeyUnextractable, _)),
            "{label}: C_WrapKey must refuse: {err}"
        );
    }

    // --- An extractable or non-sensitive key is refused by the provider.
    for (label, key_type) in [
        ("weak", KeyType::AES),
        ("weak/derive", KeyType::GENERIC_SECRET),
    ] {
        let mechanism = if key_type == KeyType::AES {
            Mechanism::AesKeyGen
        } else {
            Mechanism::GenericSecretKeyGen
        };
        session
            .generate_key(
                &mechanism,
                &[
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(false),
                    Attribute::Extractable(true),
                    Attribute::KeyType(key_type),
                    Attribute::ValueLen(32.into()),
                    Attribute::Encrypt(true),
                    Attribute::Decrypt(true),
                    Attribute::Sign(true),
                    Attribute::Label(label.as_bytes().to_vec()),
                ],
            )
            .unwrap();
    }
    for result in [
        Pkcs11KeyProvider::open(&config(TOKEN, "weak")),
        Pkcs11KeyProvider::generate_key(&config(TOKEN, "weak")),
    ] {
        let err = result.unwrap_err();
        assert!(
            matches!(&err, HsmError::KeyPolicy { label, problem, .. }
                if label == "weak" && problem.contains("CKA_SENSITIVE")),
            "{err}"
        );
    }
    drop(session);

    // --- Concurrent use of one provider.
    let shared = Arc::new(p);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let p = Arc::clone(&shared);
            std::thread::spawn(move || {
                for i in 0..25 {
                    let ctx = format!("obj-{t}-{i}");
                    let dek = SecretKey::generate();
                    let w = p.wrap(&dek, ctx.as_bytes()).unwrap();
                    assert_eq!(p.unwrap(&w, ctx.as_bytes()).unwrap(), dek);
                    assert_eq!(
                        p.derive("pseudonym", b"p1").unwrap(),
                        p.derive("pseudonym", b"p1").unwrap()
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let p = Arc::into_inner(shared).unwrap();

    // --- A lost login (another session logs out: login state is per process and token) is
    // recovered by logging in again, with the PIN re-read from its source.
    let session = ctx.open_ro_session(slot).unwrap();
    session.logout().unwrap();
    drop(session);
    assert_eq!(p.unwrap(&w, b"ds-1").unwrap(), dek);
    assert_eq!(p.derive("pseudonym", b"p1").unwrap(), k);

    // --- Reopen (PIN from a 0600 file this time): same key id, old wraps still open.
    let key_id = p.key_id().to_string();
    drop(p);
    drop((b, other));
    let reopened = Pkcs11KeyProvider::open(&from_file).unwrap();
    assert_eq!(reopened.key_id(), key_id);
    assert_eq!(reopened.unwrap(&w, b"ds-1").unwrap(), dek);
    assert_eq!(reopened.derive("pseudonym", b"p1").unwrap(), k);

    // --- A HSM error that is not about the ciphertext reaches callers as CryptoError::Io.
    let err = CryptoError::from(HsmError::Config("x".into()));
    let CryptoError::Io(io) = err else {
        panic!("expected Io")
    };
    assert!(io.get_ref().unwrap().downcast_ref::<HsmError>().is_some());

    // --- A fresh process (new C_Initialize) finds the same key in the persistent token.
    let child_dir = dir.path().join("child");
    std::fs::create_dir(&child_dir).unwrap();
    std::fs::write(child_dir.join("key_id"), &key_id).unwrap();
    std::fs::write(child_dir.join("wrapped"), &w).unwrap();
    std::fs::write(child_dir.join("dek"), dek.expose()).unwrap();
    std::fs::write(child_dir.join("derived"), k.expose()).unwrap();
    drop(reopened);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            CHILD_TEST,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &child_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed") && stdout.contains("child ok"),
        "child process failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "run by `softhsm_provider_end_to_end` in a fresh process"]
fn child_process_reopens_persistent_token() {
    let Some(dir) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        eprintln!("NOTICE: {CHILD_TEST} only runs as a child of softhsm_provider_end_to_end");
        return;
    };
    if softhsm_missing(CHILD_TEST) {
        return;
    }
    let p = Pkcs11KeyProvider::open(&config(TOKEN, "kek-a")).unwrap();
    assert_eq!(
        p.key_id(),
        std::fs::read_to_string(dir.join("key_id")).unwrap()
    );
    let wrapped = std::fs::read(dir.join("wrapped")).unwrap();
    let dek: [u8; 32] = std::fs::read(dir.join("dek")).unwrap().try_into().unwrap();
    let derived: [u8; 32] = std::fs::read(dir.join("derived"))
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(
        p.unwrap(&wrapped, b"ds-1").unwrap(),
        SecretKey::from_bytes(dek)
    );
    assert_eq!(
        p.derive("pseudonym", b"p1").unwrap(),
        SecretKey::from_bytes(derived)
    );
    println!("child ok");
}
