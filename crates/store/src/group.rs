//! Group commit of audit appends (T/CI 857-2024 7.2.6; DMS 7.2.3.4: logs protected against loss).
//!
//! Each append is durable before its caller hears "done", but one fsync per event would cap a node
//! at a few hundred events a second. The committer runs one task that takes every event waiting
//! when the previous commit finishes and appends them together with
//! [`Store::append_audit_batch`]: one transaction, one fsync, and each caller is answered only
//! after that commit. Under load, batches grow by themselves; when idle, an event is committed
//! alone at once, so there is no timer and no added latency.

use std::sync::Arc;

use medspace_core::AuditEvent;
use tokio::sync::{mpsc, oneshot};

use crate::{AuditReceipt, Result, Store, StoreError};

/// Most events in one transaction.
pub const MAX_GROUP: usize = 4096;
/// Events that may wait for the committer before callers are held back.
const QUEUE: usize = 65_536;

struct Pending {
    event: AuditEvent,
    done: oneshot::Sender<Result<AuditReceipt>>,
}

/// Hands audit events to the committer task. Cheap to clone; the task stops when the last clone
/// is dropped, after committing what it already took.
#[derive(Debug, Clone)]
pub struct AuditCommitter {
    queue: mpsc::Sender<Pending>,
}

impl AuditCommitter {
    /// Starts the committer task on the current Tokio runtime.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, rx));
        AuditCommitter { queue }
    }

    /// Appends `event`; returns once it is committed (durable), or the error that prevented it —
    /// the caller's operation must then fail.
    pub async fn append(&self, event: AuditEvent) -> Result<AuditReceipt> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send(Pending { event, done })
            .await
            .map_err(|_| StoreError::Audit("the audit committer has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Audit("the audit committer stopped before committing the entry".into())
        })?
    }
}

async fn run(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Pending>) {
    let mut batch: Vec<Pending> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let (events, waiters): (Vec<AuditEvent>, Vec<_>) =
            batch.drain(..).map(|p| (p.event, p.done)).unzip();
        match store.append_audit_batch(&events).await {
            Ok(receipts) if receipts.len() == waiters.len() => {
                for (done, receipt) in waiters.into_iter().zip(receipts) {
                    // A caller that gave up still has its entry stored; nothing to undo.
                    let _ = done.send(Ok(receipt));
                }
            }
            Ok(receipts) => {
                let msg = format!(
                    "the store returned {} receipts for {} events",
                    receipts.len(),
                    waiters.len()
                );
                for done in waiters {
                    let _ = done.send(Err(StoreError::Audit(msg.clone())));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for done in waiters {
                    let _ = done.send(Err(StoreError::Audit(msg.clone())));
                }
            }
        }
    }
}
