//! One behavioural suite, run against the local backend and against a real S3-protocol server
//! (s3rver, started on loopback by the test; skipped with a NOTICE when node/npm are unavailable).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use medspace_objects::{
    LocalObjectStore, ObjectError, ObjectStore, S3Config, S3Credentials, S3ObjectStore, PART_SIZE,
};

/// Deterministic pseudo-random bytes (xorshift), so a misplaced part shows up as a mismatch.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn read_all(store: &dyn ObjectStore, key: &str) -> Vec<u8> {
    let mut r = store.open(key).unwrap();
    // Small, odd-sized reads cross window and chunk boundaries.
    let mut out = Vec::new();
    let mut buf = vec![0u8; 100_003];
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn write_object(store: &dyn ObjectStore, key: &str, bytes: &[u8], chunk: usize) {
    let mut w = store.create(key).unwrap();
    for c in bytes.chunks(chunk.max(1)) {
        w.write_all(c).unwrap();
    }
    w.flush().unwrap();
    assert!(!store.exists(key).unwrap(), "{key} visible before commit");
    w.commit().unwrap();
    assert!(store.exists(key).unwrap(), "{key} missing after commit");
}

/// The contract every backend must meet (mirrors `LocalObjectStore`).
fn suite(store: &dyn ObjectStore) {
    // Round trip, small and empty.
    write_object(store, "datasets/ds-1/v1.bin", b"ciphertext", 4);
    assert_eq!(read_all(store, "datasets/ds-1/v1.bin"), b"ciphertext");
    write_object(store, "empty.bin", b"", 1);
    assert_eq!(read_all(store, "empty.bin"), b"");

    // Round trip, > 10 MiB (S3: a multipart upload and several read windows).
    let big = data(12 * 1024 * 1024 + 12_345, 7);
    write_object(store, "datasets/ds-big/v1.bin", &big, 64 * 1024);
    let back = read_all(store, "datasets/ds-big/v1.bin");
    assert_eq!(back.len(), big.len());
    assert!(back == big, "large object content differs");
    // Exactly one part's worth, written in one call.
    let one_part = data(PART_SIZE, 11);
    write_object(store, "one-part.bin", &one_part, PART_SIZE);
    assert!(read_all(store, "one-part.bin") == one_part);
    // A reader dropped half-way is fine.
    let mut r = store.open("datasets/ds-big/v1.bin").unwrap();
    let mut head = vec![0u8; 1000];
    r.read_exact(&mut head).unwrap();
    assert_eq!(head, big[..1000]);
    drop(r);

    // Uncommitted objects (small, and one that already sent a part) never appear.
    for (key, len) in [
        ("uncommitted/small", 10),
        ("uncommitted/large", PART_SIZE + 5),
    ] {
        let mut w = store.create(key).unwrap();
        w.write_all(&data(len, 3)).unwrap();
        drop(w);
        assert!(!store.exists(key).unwrap(), "{key}");
        assert!(
            matches!(store.open(key), Err(ObjectError::NotFound(_))),
            "{key}"
        );
        // The key is still free.
        write_object(store, key, b"second try", 3);
        assert_eq!(read_all(store, key), b"second try");
    }

    // exists / open on a missing key.
    assert!(!store.exists("missing/x").unwrap());
    assert!(matches!(
        store.open("missing/x"),
        Err(ObjectError::NotFound(_))
    ));

    // Delete, idempotently.
    store.delete("datasets/ds-1/v1.bin").unwrap();
    assert!(!store.exists("datasets/ds-1/v1.bin").unwrap());
    assert!(matches!(
        store.open("datasets/ds-1/v1.bin"),
        Err(ObjectError::NotFound(_))
    ));
    store.delete("datasets/ds-1/v1.bin").unwrap();
    store.delete("never/existed").unwrap();
    store.delete("datasets/ds-big/v1.bin").unwrap();
    assert!(!store.exists("datasets/ds-big/v1.bin").unwrap());

    // Key validation, on every operation.
    for bad in [
        "../x",
        "/etc/passwd",
        "a//b",
        "A",
        "a/./b",
        "",
        "a/",
        "a b",
        "ü",
    ] {
        assert!(
            matches!(store.create(bad), Err(ObjectError::InvalidKey(_))),
            "create {bad}"
        );
        assert!(
            matches!(store.open(bad), Err(ObjectError::InvalidKey(_))),
            "open {bad}"
        );
        assert!(
            matches!(store.delete(bad), Err(ObjectError::InvalidKey(_))),
            "delete {bad}"
        );
        assert!(
            matches!(store.exists(bad), Err(ObjectError::InvalidKey(_))),
            "exists {bad}"
        );
    }

    // No overwrite: neither at create nor at commit of a racing writer.
    write_object(store, "x", b"first", 5);
    assert!(matches!(store.create("x"), Err(ObjectError::Exists(_))));
    for (key, len) in [("race/small", 100), ("race/large", PART_SIZE * 2 + 1)] {
        let mut a = store.create(key).unwrap();
        let mut b = store.create(key).unwrap();
        let first = data(len, 1);
        a.write_all(&first).unwrap();
        b.write_all(&data(len, 2)).unwrap();
        a.commit().unwrap();
        assert!(
            matches!(b.commit(), Err(ObjectError::Exists(_))),
            "{key}: second commit must not overwrite"
        );
        assert!(read_all(store, key) == first, "{key} overwritten");
    }
    assert_eq!(read_all(store, "x"), b"first");
}

#[test]
fn local_backend_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjectStore::new(dir.path()).unwrap();
    suite(&store);
    assert_eq!(
        std::fs::read_dir(dir.path().join(".staging"))
            .unwrap()
            .count(),
        0,
        "staging files left behind"
    );
}

// ---------------------------------------------------------------------------------------------
// s3rver on loopback

const S3RVER_VERSION: &str = "3.7.1";
const BUCKET: &str = "medspace-test";

/// A running s3rver, killed on drop.
struct S3rver {
    child: Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl Drop for S3rver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_quiet(cmd: &mut Command, timeout: Duration) -> Result<(), String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            if status.success() {
                return Ok(());
            }
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = s.read_to_string(&mut err);
            }
            return Err(format!("{cmd:?} failed ({status}): {}", err.trim()));
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{cmd:?} timed out after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The s3rver entry point, installed once per machine under `~/.cache/medspace-s3rver`.
fn s3rver_script() -> Result<PathBuf, String> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    let cache = Path::new(&home).join(".cache").join("medspace-s3rver");
    let script = |dir: &Path| dir.join("node_modules/s3rver/bin/s3rver.js");
    if script(&cache).is_file() {
        return Ok(script(&cache));
    }
    run_quiet(
        Command::new("node").arg("--version"),
        Duration::from_secs(30),
    )?;
    run_quiet(
        Command::new("npm").arg("--version"),
        Duration::from_secs(60),
    )?;
    // Install next to the cache and rename into place, so concurrent or interrupted installs
    // never leave a half-populated cache.
    std::fs::create_dir_all(cache.parent().ok_or("bad cache path")?).map_err(|e| e.to_string())?;
    let staging = cache.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let installed = run_quiet(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .arg("--prefix")
            .arg(&staging)
            .arg(format!("s3rver@{S3RVER_VERSION}")),
        Duration::from_secs(600),
    );
    if let Err(e) = installed {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(format!("npm install s3rver failed: {e}"));
    }
    if std::fs::rename(&staging, &cache).is_err() {
        // Someone else finished first.
        let _ = std::fs::remove_dir_all(&staging);
    }
    if script(&cache).is_file() {
        Ok(script(&cache))
    } else {
        Err(format!(
            "s3rver not found in {} after npm install",
            cache.display()
        ))
    }
}

fn start_s3rver() -> Result<S3rver, String> {
    let script = s3rver_script()?;
    let data = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let child = Command::new("node")
        .arg(&script)
        .arg("--directory")
        .arg(data.path())
        .args(["--address", "127.0.0.1", "--port", &port.to_string()])
        .args(["--silent", "--configure-bucket", BUCKET])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start s3rver: {e}"))?;
    let mut server = S3rver {
        child,
        port,
        _data: data,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("s3rver exited early ({status})"));
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err("s3rver did not open its port within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(server)
}

fn s3_store(port: u16, prefix: &str) -> S3ObjectStore {
    let url = format!(
        "s3://{BUCKET}/{prefix}?endpoint=http%3A%2F%2F127.0.0.1%3A{port}&region=cn-north-1"
    );
    let config = S3Config::from_url(&url, S3Credentials::new("S3RVER", "S3RVER")).unwrap();
    S3ObjectStore::new(config).unwrap()
}

#[test]
fn s3_backend_passes_the_suite() {
    let server = match start_s3rver() {
        Ok(server) => server,
        Err(why) => {
            eprintln!("NOTICE: skipping S3 tests: {why}");
            return;
        }
    };
    eprintln!(
        "s3rver {S3RVER_VERSION} listening on 127.0.0.1:{}",
        server.port
    );

    let port = server.port;
    let store = s3_store(port, "node-1/objects");
    suite(&store);

    // Keys live under the prefix.
    let root = s3_store(port, "");
    assert!(root.exists("node-1/objects/x").unwrap());
    assert!(!root.exists("x").unwrap());

    // Called the way the service calls it (spawn_blocking) and from inside async code, on both
    // runtime flavours: no deadlock, no "runtime within a runtime" panic, drop anywhere.
    let store: Arc<dyn ObjectStore> = Arc::new(store);
    for multi_thread in [false, true] {
        let rt = if multi_thread {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .build()
        } else {
            tokio::runtime::Builder::new_current_thread().build()
        }
        .unwrap();
        let key = format!("rt/{multi_thread}");
        let s = store.clone();
        let k = key.clone();
        rt.block_on(async move {
            tokio::task::spawn_blocking(move || {
                let mut w = s.create(&k).unwrap();
                w.write_all(&data(PART_SIZE + 1, 5)).unwrap();
                w.commit().unwrap();
            })
            .await
            .unwrap();
        });
        let s = store.clone();
        rt.block_on(async move {
            // Misuse (blocking inside async code) still completes.
            assert!(read_all(s.as_ref(), &key) == data(PART_SIZE + 1, 5));
            let fresh = s3_store(port, "dropped-in-async");
            assert!(!fresh.exists("y").unwrap());
            drop(fresh);
        });
    }
    drop(store);
    drop(server);
}
