//! S3-compatible object storage (AWS S3, MinIO, Ceph RGW, cloud vendors' S3 APIs).
//!
//! Storage of the encrypted dataset objects on S3-compatible object storage, so that the node's
//! storage can live off the host — the storage and off-site backup requirements of T/CI 857-2024
//! 7.2.5 c) and DMS 7.2.4. Objects are ciphertext written by the service (T/CI 857-2024 6.3), so
//! nothing here handles plaintext; the transport is HTTPS (plain HTTP is accepted only for a
//! loopback endpoint, e.g. a test server, see [`S3Config::new`]).
//!
//! The semantics are those of [`crate::LocalObjectStore`]:
//!
//! * keys are checked with the same rules (`check_key`) and mapped to `<prefix>/<key>`;
//! * [`ObjectStore::create`] fails with [`ObjectError::Exists`] for an existing key, and so does
//!   [`PendingObject::commit`] if the key appeared meanwhile;
//! * written bytes are invisible until `commit`; small objects (below [`PART_SIZE`]) are buffered
//!   and sent with one `PUT` carrying `If-None-Match: *` (so a concurrent writer cannot be
//!   overwritten on stores that honour it); larger objects are streamed as a multipart upload in
//!   [`PART_SIZE`] parts (at most [`PARTS_IN_FLIGHT`] uploading at once, so memory stays bounded)
//!   which becomes visible only when it is completed by `commit`. Dropping the pending object
//!   aborts the upload (best effort: configure an `AbortIncompleteMultipartUpload` lifecycle rule
//!   on the bucket for uploads orphaned by a crash);
//! * [`ObjectStore::open`] streams: the body is fetched in [`READ_WINDOW`]-sized ranged requests
//!   (the next one prefetched while the current one is read), all pinned to the object's ETag, so a
//!   multi-GB object never sits in memory and a slow reader never holds an HTTP request open;
//! * [`ObjectStore::delete`] of a missing object succeeds; [`ObjectStore::exists`] is a `HEAD`.
//!
//! One difference remains: local keys are files in directories, so there a key cannot be both an
//! object and the "directory" of another (`a` and `a/b`); S3 has no such restriction.
//!
//! # Runtime
//!
//! The [`ObjectStore`] trait is synchronous; the service calls it from `spawn_blocking`, and tests
//! and tools call it from plain threads. Each [`S3ObjectStore`] therefore owns a small private
//! multi-thread tokio runtime (two worker threads). A synchronous call *spawns* its future on that
//! runtime and waits for the result on a `std::sync::mpsc` channel. This cannot deadlock: the work
//! never runs on the calling thread, so it does not matter whether the caller is a plain thread,
//! a `spawn_blocking` thread or (mis)used from inside some other runtime's worker (which would
//! only be blocked, not deadlocked, and no tokio "runtime within a runtime" panic can happen — we
//! never call `block_on`). Only code running on the private runtime itself could deadlock by
//! waiting for it, and none does. The runtime is shut down with `shutdown_background` when the
//! last store, pending object or reader using it is dropped, which is allowed in any context.
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use bytes::Bytes;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, GetOptions, GetRange, MultipartUpload, ObjectStore as _, ObjectStoreExt as _,
    PutMode, PutMultipartOptions, PutOptions, PutPayload,
};
use tokio::task::JoinHandle;

use crate::{check_key, ObjectError, ObjectStore, PendingObject};

/// Size of one multipart-upload part and the threshold above which `create` switches from a
/// single `PUT` to a multipart upload (S3 requires parts of at least 5 MiB except the last; with
/// at most 10 000 parts this allows objects up to 80 GB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one object uploading concurrently (bounds a writer's memory to about
/// `(PARTS_IN_FLIGHT + 1) * PART_SIZE`).
pub const PARTS_IN_FLIGHT: usize = 4;
/// Bytes fetched per ranged `GET` when reading (a reader holds at most two windows).
pub const READ_WINDOW: u64 = 8 * 1024 * 1024;
/// Timeout of one HTTP request (a part upload or a window download).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Region used when none is configured (S3-compatible servers mostly ignore it).
pub const DEFAULT_REGION: &str = "us-east-1";

/// Credentials for an S3-compatible service.
#[derive(Clone)]
pub struct S3Credentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (never printed by `Debug`).
    pub secret_access_key: String,
    /// Optional session token (temporary credentials).
    pub session_token: Option<String>,
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl S3Credentials {
    /// Static credentials.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        S3Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }

    /// Reads `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, if set, `AWS_SESSION_TOKEN`.
    pub fn from_env() -> Result<Self, ObjectError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    pub(crate) fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ObjectError> {
        let get = |name: &str| {
            env(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                ObjectError::Config(format!(
                    "S3 object store: environment variable {name} is not set \
                     (credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                ))
            })
        };
        Ok(S3Credentials {
            access_key_id: get("AWS_ACCESS_KEY_ID")?,
            secret_access_key: get("AWS_SECRET_ACCESS_KEY")?,
            session_token: env("AWS_SESSION_TOKEN").filter(|v| !v.is_empty()),
        })
    }
}

/// Where and how to reach an S3-compatible bucket.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket (no leading or trailing `/`; empty for the bucket root).
    pub prefix: String,
    /// Endpoint URL (`https://…`; `http://` only for a loopback host). Required: without one the
    /// client would default to AWS's global regions, abroad, and [`S3ObjectStore::new`] refuses
    /// it (GB/T 39725-2020 7 q)).
    pub endpoint: Option<String>,
    /// Signing region.
    pub region: String,
    /// Credentials.
    pub credentials: S3Credentials,
}

impl S3Config {
    /// A configuration for `bucket` signed for [`DEFAULT_REGION`], without prefix or endpoint; set
    /// the other fields directly (an endpoint is required). Checked by [`S3ObjectStore::new`].
    pub fn new(bucket: impl Into<String>, credentials: S3Credentials) -> Self {
        S3Config {
            bucket: bucket.into(),
            prefix: String::new(),
            endpoint: None,
            region: DEFAULT_REGION.to_string(),
            credentials,
        }
    }

    /// Parses `s3://<bucket>[/<prefix>][?endpoint=<url>][&region=<region>]`.
    ///
    /// The endpoint may be percent-encoded; credentials must not appear in the URL (the URL ends
    /// up in configuration files and logs).
    pub fn from_url(location: &str, credentials: S3Credentials) -> Result<Self, ObjectError> {
        let bad =
            |why: &str| ObjectError::Config(format!("invalid S3 location `{location}`: {why}"));
        let url = url::Url::parse(location).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "s3" {
            return Err(bad("expected the s3:// scheme"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "credentials must not be part of the URL; set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
            ));
        }
        if url.port().is_some() {
            return Err(bad(
                "a port belongs to the endpoint (`?endpoint=…`), not the bucket",
            ));
        }
        let bucket = url
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| bad("missing bucket name"))?
            .to_string();
        let mut config = S3Config::new(bucket, credentials);
        config.prefix = url.path().trim_matches('/').to_string();
        for (name, value) in url.query_pairs() {
            match name.as_ref() {
                "endpoint" => config.endpoint = Some(value.into_owned()),
                "region" => config.region = value.into_owned(),
                other => {
                    return Err(bad(&format!(
                        "unknown parameter `{other}` (expected `endpoint` or `region`)"
                    )))
                }
            }
        }
        if url.fragment().is_some() {
            return Err(bad("unexpected `#` fragment"));
        }
        Ok(config)
    }
}

/// Whether `endpoint` is acceptable, and whether it needs plain HTTP to be allowed.
fn check_endpoint(endpoint: &str) -> Result<bool, ObjectError> {
    let url = url::Url::parse(endpoint)
        .map_err(|e| ObjectError::Config(format!("invalid S3 endpoint `{endpoint}`: {e}")))?;
    match url.scheme() {
        "https" => Ok(false),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
                Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            if loopback {
                Ok(true)
            } else {
                Err(ObjectError::Config(format!(
                    "S3 endpoint `{endpoint}` uses plain http on a non-loopback host; \
                     object storage must be reached over https (http is accepted only for 127.0.0.1, ::1 or localhost)"
                )))
            }
        }
        other => Err(ObjectError::Config(format!(
            "S3 endpoint `{endpoint}`: unsupported scheme `{other}` (expected https)"
        ))),
    }
}

/// The private runtime; shut down without blocking when the last user drops it.
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            // `Runtime::drop` would block, which panics inside an async context.
            rt.shutdown_background();
        }
    }
}

/// State shared by a store and its pending objects and readers.
struct Shared {
    runtime: Runtime,
    s3: Arc<AmazonS3>,
    bucket: String,
    prefix: String,
    endpoint: String,
    region: String,
}

impl Shared {
    fn handle(&self, key: &str) -> Result<&tokio::runtime::Handle, ObjectError> {
        self.runtime
            .0
            .as_ref()
            .map(|rt| rt.handle())
            .ok_or_else(|| runtime_gone(key))
    }

    /// Runs `fut` on the private runtime and waits for it (see the module docs on deadlocks).
    fn run<F>(&self, key: &str, fut: F) -> Result<F::Output, ObjectError>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        self.handle(key)?.spawn(async move {
            let _ = tx.send(fut.await);
        });
        // The sender is dropped without sending only if the task panicked or was cancelled.
        rx.recv().map_err(|_| runtime_gone(key))
    }

    fn path(&self, key: &str) -> Result<ObjectPath, ObjectError> {
        check_key(key)?;
        let full = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        };
        ObjectPath::parse(full).map_err(|_| ObjectError::InvalidKey(key.to_string()))
    }

    fn exists_at(&self, key: &str, path: &ObjectPath) -> Result<bool, ObjectError> {
        let s3 = self.s3.clone();
        let path = path.clone();
        match self.run(key, async move { s3.head(&path).await })? {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(backend(key, e)),
        }
    }
}

fn runtime_gone(key: &str) -> ObjectError {
    ObjectError::Io {
        key: key.to_string(),
        source: io::Error::other("S3 client task failed or its runtime has stopped"),
    }
}

fn backend(key: &str, source: object_store::Error) -> ObjectError {
    match source {
        object_store::Error::NotFound { .. } => ObjectError::NotFound(key.to_string()),
        object_store::Error::AlreadyExists { .. } => ObjectError::Exists(key.to_string()),
        source => ObjectError::Backend {
            key: key.to_string(),
            source,
        },
    }
}

fn to_io(e: ObjectError) -> io::Error {
    match e {
        ObjectError::Io { source, .. } => source,
        other => io::Error::other(other),
    }
}

/// Objects in a bucket of an S3-compatible service (see the module docs for the semantics).
#[derive(Clone)]
pub struct S3ObjectStore {
    shared: Arc<Shared>,
}

impl fmt::Debug for S3ObjectStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Deliberately not the client's own Debug, which could show credentials.
        f.debug_struct("S3ObjectStore")
            .field("bucket", &self.shared.bucket)
            .field("prefix", &self.shared.prefix)
            .field("endpoint", &self.shared.endpoint)
            .field("region", &self.shared.region)
            .finish()
    }
}

impl S3ObjectStore {
    /// Builds the client (no request is made). Fails with [`ObjectError::Config`] for an
    /// unusable configuration, notably an `http://` endpoint that is not loopback.
    pub fn new(config: S3Config) -> Result<Self, ObjectError> {
        let S3Config {
            bucket,
            prefix,
            endpoint,
            region,
            credentials,
        } = config;
        if bucket.is_empty() {
            return Err(ObjectError::Config("S3 bucket name is empty".into()));
        }
        // GB/T 39725-2020 7 q): health data is never stored on servers abroad. Without an endpoint
        // the client would pick AWS's global endpoints (outside China), so one must be named: an
        // in-country cloud's S3 API or the institution's own MinIO or Ceph.
        let Some(endpoint) = endpoint else {
            return Err(ObjectError::Config(
                "no S3 endpoint: health data must be stored on servers in China (GB/T 39725-2020 \
                 7 q)), so name the in-country object store with `?endpoint=https://…` (for \
                 example https://oss-cn-beijing.aliyuncs.com or the institution's MinIO server)"
                    .into(),
            ));
        };
        let prefix = prefix.trim_matches('/').to_string();
        if !prefix.is_empty() && ObjectPath::parse(&prefix).is_err() {
            return Err(ObjectError::Config(format!(
                "invalid S3 key prefix `{prefix}`: expected `/`-separated names without `.`, `..` or empty parts"
            )));
        }
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&bucket)
            .with_region(&region)
            .with_access_key_id(&credentials.access_key_id)
            .with_secret_access_key(&credentials.secret_access_key)
            .with_client_options(ClientOptions::new().with_timeout(REQUEST_TIMEOUT));
        if let Some(token) = &credentials.session_token {
            builder = builder.with_token(token);
        }
        let http = check_endpoint(&endpoint)?;
        builder = builder.with_endpoint(&endpoint).with_allow_http(http);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("medspace-s3")
            .enable_all()
            .build()
            .map_err(|source| ObjectError::Io {
                key: String::new(),
                source,
            })?;
        let s3 = {
            let _context = runtime.enter();
            builder
                .build()
                .map_err(|e| ObjectError::Config(format!("S3 object store: {e}")))?
        };
        Ok(S3ObjectStore {
            shared: Arc::new(Shared {
                runtime: Runtime(Some(runtime)),
                s3: Arc::new(s3),
                bucket,
                prefix,
                endpoint,
                region,
            }),
        })
    }
}

impl ObjectStore for S3ObjectStore {
    fn create(&self, key: &str) -> Result<Box<dyn PendingObject>, ObjectError> {
        let path = self.shared.path(key)?;
        if self.shared.exists_at(key, &path)? {
            return Err(ObjectError::Exists(key.to_string()));
        }
        Ok(Box::new(S3Pending {
            shared: self.shared.clone(),
            key: key.to_string(),
            path,
            buf: Vec::new(),
            upload: None,
        }))
    }

    fn open(&self, key: &str) -> Result<Box<dyn Read + Send>, ObjectError> {
        let path = self.shared.path(key)?;
        let s3 = self.shared.s3.clone();
        let head_path = path.clone();
        let meta = self
            .shared
            .run(key, async move { s3.head(&head_path).await })?
            .map_err(|e| backend(key, e))?;
        let mut reader = S3Reader {
            shared: self.shared.clone(),
            key: key.to_string(),
            path,
            e_tag: meta.e_tag,
            size: meta.size,
            next_offset: 0,
            next: None,
            chunk: Bytes::new(),
            delivered: 0,
        };
        reader.prefetch()?;
        Ok(Box::new(reader))
    }

    fn delete(&self, key: &str) -> Result<(), ObjectError> {
        let path = self.shared.path(key)?;
        let s3 = self.shared.s3.clone();
        match self
            .shared
            .run(key, async move { s3.delete(&path).await })?
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(key, e)),
        }
    }

    fn exists(&self, key: &str) -> Result<bool, ObjectError> {
        let path = self.shared.path(key)?;
        self.shared.exists_at(key, &path)
    }
}

/// A multipart upload in progress.
struct Upload {
    upload: Box<dyn MultipartUpload>,
    in_flight: VecDeque<JoinHandle<object_store::Result<()>>>,
}

struct S3Pending {
    shared: Arc<Shared>,
    key: String,
    path: ObjectPath,
    /// Bytes not yet sent (less than one part).
    buf: Vec<u8>,
    /// Started once the object outgrows one part.
    upload: Option<Upload>,
}

impl S3Pending {
    /// Waits for the oldest part upload.
    fn wait_oldest(&mut self) -> Result<(), ObjectError> {
        let Some(handle) = self.upload.as_mut().and_then(|u| u.in_flight.pop_front()) else {
            return Ok(());
        };
        match self.shared.run(&self.key, handle)? {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(backend(&self.key, e)),
            Err(_) => Err(runtime_gone(&self.key)),
        }
    }

    /// Sends the buffered bytes as the next part, starting the upload if needed.
    fn send_part(&mut self) -> Result<(), ObjectError> {
        if self.upload.is_none() {
            let s3 = self.shared.s3.clone();
            let path = self.path.clone();
            let upload = self
                .shared
                .run(&self.key, async move {
                    s3.put_multipart_opts(&path, PutMultipartOptions::default())
                        .await
                })?
                .map_err(|e| backend(&self.key, e))?;
            self.upload = Some(Upload {
                upload,
                in_flight: VecDeque::new(),
            });
        }
        while self
            .upload
            .as_ref()
            .is_some_and(|u| u.in_flight.len() >= PARTS_IN_FLIGHT)
        {
            self.wait_oldest()?;
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(PART_SIZE));
        let handle = self.shared.handle(&self.key)?.clone();
        if let Some(u) = self.upload.as_mut() {
            let part = u.upload.put_part(PutPayload::from(data));
            u.in_flight.push_back(handle.spawn(part));
        }
        Ok(())
    }

    /// Aborts the multipart upload, if any (best effort).
    fn abort(&mut self) {
        if let Some(mut u) = self.upload.take() {
            let parts: Vec<_> = u.in_flight.drain(..).collect();
            for part in &parts {
                part.abort();
            }
            let _ = self.shared.run(&self.key, async move {
                // S3 may keep a part that finishes after the abort: let cancellation settle first.
                for part in parts {
                    let _ = part.await;
                }
                u.upload.abort().await
            });
        }
    }

    fn finish(&mut self) -> Result<(), ObjectError> {
        let key = self.key.clone();
        if self.upload.is_none() {
            // Small object: one conditional PUT.
            if self.shared.exists_at(&key, &self.path)? {
                return Err(ObjectError::Exists(key));
            }
            let s3 = self.shared.s3.clone();
            let path = self.path.clone();
            let payload = PutPayload::from(std::mem::take(&mut self.buf));
            let opts = PutOptions::from(PutMode::Create);
            return self
                .shared
                .run(&key, async move { s3.put_opts(&path, payload, opts).await })?
                .map(|_| ())
                .map_err(|e| backend(&key, e));
        }
        if !self.buf.is_empty() {
            self.send_part()?;
        }
        while self
            .upload
            .as_ref()
            .is_some_and(|u| !u.in_flight.is_empty())
        {
            self.wait_oldest()?;
        }
        // Same check as the local store before its rename.
        if self.shared.exists_at(&key, &self.path)? {
            return Err(ObjectError::Exists(key));
        }
        let Some(mut u) = self.upload.take() else {
            return Err(runtime_gone(&key));
        };
        let (upload, result) = self.shared.run(&key, async move {
            let result = u.upload.complete().await;
            (u, result)
        })?;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                self.upload = Some(upload);
                Err(backend(&key, e))
            }
        }
    }
}

impl Write for S3Pending {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(PART_SIZE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= PART_SIZE {
            self.send_part().map_err(to_io)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Bytes are durable only once committed; there is nothing meaningful to flush earlier.
        Ok(())
    }
}

impl PendingObject for S3Pending {
    fn commit(mut self: Box<Self>) -> Result<(), ObjectError> {
        // On failure, Drop aborts whatever upload is left.
        self.finish()
    }
}

impl Drop for S3Pending {
    fn drop(&mut self) {
        // Not committed (or commit failed): nothing may become visible.
        self.abort();
    }
}

type Window = JoinHandle<object_store::Result<Bytes>>;

struct S3Reader {
    shared: Arc<Shared>,
    key: String,
    path: ObjectPath,
    e_tag: Option<String>,
    size: u64,
    /// Start of the next window to request.
    next_offset: u64,
    /// The window being downloaded, with its expected length.
    next: Option<(Window, u64)>,
    /// Unread bytes of the current window.
    chunk: Bytes,
    delivered: u64,
}

impl S3Reader {
    /// Starts downloading the next window, if any remains.
    fn prefetch(&mut self) -> Result<(), ObjectError> {
        if self.next.is_some() || self.next_offset >= self.size {
            return Ok(());
        }
        let start = self.next_offset;
        let end = self.size.min(start.saturating_add(READ_WINDOW));
        let s3 = self.shared.s3.clone();
        let path = self.path.clone();
        let options = GetOptions {
            // Every window must come from the same object version.
            if_match: self.e_tag.clone(),
            range: Some(GetRange::Bounded(start..end)),
            ..GetOptions::default()
        };
        let handle = self
            .shared
            .handle(&self.key)?
            .spawn(async move { s3.get_opts(&path, options).await?.bytes().await });
        self.next = Some((handle, end - start));
        self.next_offset = end;
        Ok(())
    }

    fn next_window(&mut self) -> Result<bool, ObjectError> {
        let Some((handle, expected)) = self.next.take() else {
            return Ok(false);
        };
        let bytes = match self.shared.run(&self.key, handle)? {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => return Err(backend(&self.key, e)),
            Err(_) => return Err(runtime_gone(&self.key)),
        };
        if bytes.len() as u64 != expected {
            return Err(ObjectError::Io {
                key: self.key.clone(),
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "S3 returned {} bytes for a range of {expected}",
                        bytes.len()
                    ),
                ),
            });
        }
        self.chunk = bytes;
        self.prefetch()?;
        Ok(true)
    }
}

impl Read for S3Reader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.chunk.is_empty() {
            if !self.next_window().map_err(to_io)? {
                if self.delivered != self.size {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("object `{}` ended early", self.key),
                    ));
                }
                return Ok(0);
            }
        }
        let n = out.len().min(self.chunk.len());
        out[..n].copy_from_slice(&self.chunk.split_to(n));
        self.delivered += n as u64;
        Ok(n)
    }
}

impl Drop for S3Reader {
    fn drop(&mut self) {
        if let Some((handle, _)) = self.next.take() {
            handle.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> S3Credentials {
        S3Credentials::new("id", "s3cr3t-value")
    }

    #[test]
    fn urls_parse_and_reject_mistakes() {
        let c = S3Config::from_url(
            "s3://med-bucket/node-1/objects/?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=cn-north-1",
            creds(),
        )
        .unwrap();
        assert_eq!(c.bucket, "med-bucket");
        assert_eq!(c.prefix, "node-1/objects");
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(c.region, "cn-north-1");

        let c = S3Config::from_url("s3://b?endpoint=https://s3.example.cn", creds()).unwrap();
        assert_eq!((c.prefix.as_str(), c.region.as_str()), ("", DEFAULT_REGION));
        assert_eq!(c.endpoint.as_deref(), Some("https://s3.example.cn"));

        for bad in [
            "s3://",
            "s3://b?bucket=x",
            "s3://key:secret@b",
            "s3://b:9000/x",
            "https://b/x",
        ] {
            assert!(
                matches!(
                    S3Config::from_url(bad, creds()),
                    Err(ObjectError::Config(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(!check_endpoint("https://s3.example.cn").unwrap());
        for ok in [
            "http://127.0.0.1:9000",
            "http://[::1]:9000",
            "http://localhost:9000",
        ] {
            assert!(check_endpoint(ok).unwrap(), "{ok}");
        }
        for bad in ["http://10.0.0.5:9000", "http://s3.example.cn", "ftp://x"] {
            assert!(
                matches!(check_endpoint(bad), Err(ObjectError::Config(_))),
                "{bad}"
            );
        }
        let mut config = S3Config::new("b", creds());
        config.endpoint = Some("http://minio.internal:9000".into());
        let err = S3ObjectStore::new(config).unwrap_err();
        assert!(err.to_string().contains("https"), "{err}");
    }

    /// GB/T 39725-2020 7 q): no endpoint would mean AWS's global regions, abroad; refused with a
    /// message that says what to give instead.
    #[test]
    fn a_store_without_an_endpoint_is_refused() {
        for region in [DEFAULT_REGION, "eu-west-1", "cn-north-1"] {
            let mut config = S3Config::new("b", creds());
            config.region = region.into();
            let err = S3ObjectStore::new(config).unwrap_err();
            assert!(
                matches!(&err, ObjectError::Config(m) if m.contains("endpoint") && m.contains("7 q)")),
                "{region}: {err}"
            );
        }
        let err = S3Config::from_url("s3://b/p", creds())
            .and_then(S3ObjectStore::new)
            .unwrap_err();
        assert!(err.to_string().contains("in China"), "{err}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let mut config = S3Config::new("b", creds());
        config.endpoint = Some("https://s3.example.cn".into());
        config.credentials.session_token = Some("token-value".into());
        let shown = format!("{config:?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("s3cr3t-value") && !shown.contains("token-value"));
        let store = S3ObjectStore::new(config).unwrap();
        let shown = format!("{store:?}");
        assert!(!shown.contains("s3cr3t-value") && !shown.contains("token-value"));
    }

    #[test]
    fn credentials_come_from_the_environment() {
        let env = |name: &str| match name {
            "AWS_ACCESS_KEY_ID" => Some("id".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".to_string()),
            _ => None,
        };
        let c = S3Credentials::from_lookup(&env).unwrap();
        assert_eq!((c.access_key_id.as_str(), c.session_token), ("id", None));
        let err = S3Credentials::from_lookup(&|_| None).unwrap_err();
        assert!(err.to_string().contains("AWS_ACCESS_KEY_ID"), "{err}");
    }

    #[test]
    fn dropping_the_store_inside_an_async_context_does_not_panic() {
        let mut config = S3Config::new("b", creds());
        config.endpoint = Some("https://s3.example.cn".into());
        let store = S3ObjectStore::new(config).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async move { drop(store) });
    }
}
