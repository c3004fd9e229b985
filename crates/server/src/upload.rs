//! Streaming CSV uploads into the service's blocking reader (T/CI 857-2024 6.2.2 ingest; 6.3: the
//! plaintext is never written to disk — it flows from the socket through the validator into the
//! encrypting writer).
//!
//! Design: the request body is not collected. A task pulls body frames and hands them through a
//! bounded channel (a few frames in flight, so memory stays small whatever the upload size) to
//! [`BodyReader`], a `std::io::Read` that the service reads on a blocking thread. The byte limit is
//! enforced while streaming: past it, the reader returns an error (the service then stores
//! nothing) and the shared flag tells the handler to answer 413. When the service stops reading
//! early (refused caller, taken name, malformed CSV) the reader is dropped and the task ends.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody};
use tokio::sync::mpsc;

/// Frames buffered between the socket and the reader.
const FRAMES_IN_FLIGHT: usize = 8;

/// A blocking reader over a request body. Read it from a blocking thread
/// (`tokio::task::spawn_blocking`), never from an async task.
#[derive(Debug)]
pub struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
    done: bool,
}

/// Whether the upload went over the limit.
#[derive(Debug, Clone, Default)]
pub struct LimitFlag(Arc<AtomicBool>);

impl LimitFlag {
    /// True once the body passed the limit.
    pub fn exceeded(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Starts streaming `body` (at most `limit` bytes) into a blocking reader.
pub fn bridge(body: Body, limit: u64) -> (BodyReader, LimitFlag) {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(FRAMES_IN_FLIGHT);
    let flag = LimitFlag::default();
    let exceeded = flag.clone();
    tokio::spawn(async move {
        let mut body = body;
        let mut total: u64 = 0;
        loop {
            let frame = tokio::select! {
                f = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)) => f,
                _ = tx.closed() => break,
            };
            let item = match frame {
                None => break,
                Some(Err(e)) => Err(io::Error::other(format!("upload interrupted: {e}"))),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        total = total.saturating_add(data.len() as u64);
                        if total > limit {
                            exceeded.0.store(true, Ordering::SeqCst);
                            Err(io::Error::other(format!(
                                "the upload exceeds the limit of {limit} bytes"
                            )))
                        } else {
                            Ok(data)
                        }
                    }
                    // Trailers carry no CSV content.
                    Err(_) => continue,
                },
            };
            let last = item.is_err();
            if tx.send(item).await.is_err() || last {
                break;
            }
        }
    });
    (
        BodyReader {
            rx,
            current: Bytes::new(),
            done: false,
        },
        flag,
    )
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.current.is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Ok(data)) => self.current = data,
                Some(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                None => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.current.len());
        let chunk = self.current.split_to(n);
        if let Some(dst) = buf.get_mut(..n) {
            dst.copy_from_slice(&chunk);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use std::pin::Pin;

    /// A body arriving in several frames, as from a socket; with `stall`, it then waits forever
    /// (a client that stopped sending). Dropping it sets `dropped`.
    struct Frames {
        frames: std::collections::VecDeque<Bytes>,
        stall: bool,
        dropped: Arc<AtomicBool>,
    }

    impl Drop for Frames {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::SeqCst);
        }
    }

    impl HttpBody for Frames {
        type Data = Bytes;
        type Error = io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, io::Error>>> {
            match self.frames.pop_front() {
                Some(b) => std::task::Poll::Ready(Some(Ok(http_body::Frame::data(b)))),
                None if self.stall => std::task::Poll::Pending,
                None => std::task::Poll::Ready(None),
            }
        }
    }

    fn frames(n: usize, each: &'static [u8], stall: bool) -> (Body, Arc<AtomicBool>) {
        let dropped = Arc::new(AtomicBool::new(false));
        let body = Body::new(Frames {
            frames: (0..n).map(|_| Bytes::from_static(each)).collect(),
            stall,
            dropped: dropped.clone(),
        });
        (body, dropped)
    }

    async fn read_all(reader: BodyReader) -> io::Result<Vec<u8>> {
        tokio::task::spawn_blocking(move || {
            let mut reader = reader;
            let mut out = Vec::new();
            reader.read_to_end(&mut out).map(|_| out)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_body_is_read_through_unchanged() {
        let (reader, flag) = bridge(Body::from("a,b\n1,2\n"), 100);
        assert_eq!(read_all(reader).await.unwrap(), b"a,b\n1,2\n");
        assert!(!flag.exceeded());
    }

    #[tokio::test]
    async fn many_frames_arrive_in_order() {
        // More frames than the channel holds: the reader must drain while the task refills.
        let (body, _) = frames(100, b"0123456789\n", false);
        let (reader, flag) = bridge(body, 10_000);
        let all = read_all(reader).await.unwrap();
        assert_eq!(all.len(), 1100);
        assert!(all.chunks(11).all(|c| c == b"0123456789\n"));
        assert!(!flag.exceeded());
    }

    #[tokio::test]
    async fn a_dropped_reader_releases_a_stalled_body() {
        // The client sent a little and stalled; the service refused the request and dropped the
        // reader: the body (and with it the connection's upload) must be released.
        let (body, dropped) = frames(2, b"a,b\n", true);
        let (reader, _) = bridge(body, 10_000);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!dropped.load(Ordering::SeqCst), "released too early");
        drop(reader);
        let released = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while !dropped.load(Ordering::SeqCst) {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(released.is_ok(), "the body was not released");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_fails_the_reader_and_sets_the_flag() {
        let (reader, flag) = bridge(Body::from(vec![b'x'; 1000]), 999);
        let err = read_all(reader).await.unwrap_err();
        assert!(err.to_string().contains("999 bytes"), "{err}");
        assert!(flag.exceeded());
    }

    #[tokio::test]
    async fn a_body_at_the_limit_is_accepted() {
        let (reader, flag) = bridge(Body::from(vec![b'x'; 1000]), 1000);
        assert_eq!(read_all(reader).await.unwrap().len(), 1000);
        assert!(!flag.exceeded());
    }
}
