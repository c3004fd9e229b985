//! Append-only, hash-chained audit log entries and their verification.
//!
//! T/CI 857-2024 7.2.6 (audit management), 6.5.3 (de-identification logs); DMS 7.2.3.4 (logs kept and
//! protected). Every entry carries the hash of the previous one, so editing, reordering or removing
//! an entry breaks the chain at that entry, and `verify_chain` names it.
//!
//! The entry text is canonical JSON (struct fields in declaration order, object keys of `detail`
//! sorted), and the entry hash is SHA-256 over exactly the stored text, so verification never has
//! to re-serialize and a one-byte change of the stored text is always detected.
#![deny(missing_docs)]

use chrono::{DateTime, Utc};
use medspace_core::{AuditContext, AuditEvent, Outcome};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry as hashed and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 1, without gaps.
    pub seq: i64,
    /// When the entry was appended (UTC).
    pub timestamp: DateTime<Utc>,
    /// Account id, `system` or `anonymous`.
    pub actor: String,
    /// Dotted action name.
    pub action: String,
    /// Object acted on.
    pub target: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Non-personal structured detail.
    pub detail: serde_json::Value,
    /// Agent, action kind, entities, purpose and approval (absent in entries written before the
    /// event model existed, which keeps their stored text and hashes unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<AuditContext>,
    /// Hash (hex) of the previous entry, [`GENESIS_HASH`] for the first.
    pub prev_hash: String,
}

impl AuditEntry {
    /// Builds the entry that follows `prev` (or the first entry when `prev` is `None`).
    pub fn next(prev: Option<(i64, &str)>, event: &AuditEvent, timestamp: DateTime<Utc>) -> Self {
        let (seq, prev_hash) = match prev {
            Some((seq, hash)) => (seq + 1, hash.to_string()),
            None => (1, GENESIS_HASH.to_string()),
        };
        let mut context = event.context.clone().unwrap_or_default();
        context.complete(&event.action, &event.target, &event.detail);
        AuditEntry {
            seq,
            timestamp,
            actor: event.actor.clone(),
            action: event.action.clone(),
            target: event.target.clone(),
            outcome: event.outcome,
            detail: event.detail.clone(),
            context: Some(context),
            prev_hash,
        }
    }

    /// Canonical text of the entry: what is stored and hashed.
    pub fn canonical_text(&self) -> Result<String, AuditError> {
        serde_json::to_string(self).map_err(|e| AuditError::Encode(e.to_string()))
    }
}

/// Keys under which an entry is indexed for filtering and for the subject disclosure history:
/// `actor:<id>`, `action:<name>`, and `dataset:`, `application:`, `subject:` for each such entity
/// of its context. Order is stable, with no duplicates.
pub fn index_keys(entry: &AuditEntry) -> Vec<String> {
    use medspace_core::EntityKind;
    let mut keys = vec![
        format!("actor:{}", entry.actor),
        format!("action:{}", entry.action),
    ];
    if let Some(ctx) = &entry.context {
        for e in &ctx.entities {
            if matches!(
                e.kind,
                EntityKind::Dataset | EntityKind::Application | EntityKind::Subject
            ) {
                let key = format!("{}:{}", e.kind.as_str(), e.id);
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
        }
    }
    keys
}

/// The time column of the index: RFC 3339 UTC with microseconds, so text order is time order.
pub fn index_time(timestamp: &DateTime<Utc>) -> String {
    timestamp.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// An entry as read back from storage: the stored text and the stored hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEntry {
    /// Sequence number column.
    pub seq: i64,
    /// Stored canonical text.
    pub entry: String,
    /// Stored hash (hex).
    pub hash: String,
}

/// SHA-256 (hex) of an entry's canonical text.
pub fn entry_hash(canonical_text: &str) -> String {
    hex::encode(Sha256::digest(canonical_text.as_bytes()))
}

/// Seals an entry: returns its canonical text and hash, ready to store.
pub fn seal(entry: &AuditEntry) -> Result<StoredEntry, AuditError> {
    let text = entry.canonical_text()?;
    let hash = entry_hash(&text);
    Ok(StoredEntry {
        seq: entry.seq,
        entry: text,
        hash,
    })
}

/// Errors building entries.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The entry could not be serialized.
    #[error("audit entry could not be encoded: {0}")]
    Encode(String),
}

/// Why verification failed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// The stored text does not hash to the stored hash: the entry (or its hash) was edited.
    #[error("audit entry {seq}: stored hash does not match the entry's content (entry modified)")]
    HashMismatch {
        /// Entry sequence number.
        seq: i64,
    },
    /// The stored text is not a valid entry.
    #[error("audit entry {seq}: content is not a valid audit entry ({reason})")]
    Malformed {
        /// Entry sequence number.
        seq: i64,
        /// Parser message (never entry values).
        reason: String,
    },
    /// The entry does not point at its predecessor.
    #[error("audit entry {seq}: previous-hash link is broken (entry inserted, removed or reordered before it)")]
    BrokenLink {
        /// Entry sequence number.
        seq: i64,
    },
    /// Sequence numbers skip or repeat.
    #[error("audit entry {seq}: expected sequence number {expected}")]
    Sequence {
        /// Stored sequence number.
        seq: i64,
        /// Expected number.
        expected: i64,
    },
    /// The log ends before the recorded head: entries were removed from the end.
    #[error("audit log truncated: head records {head_seq} entries but only {found} are present")]
    Truncated {
        /// Head's sequence number.
        head_seq: i64,
        /// Entries found.
        found: i64,
    },
    /// The recorded head does not match the last entry.
    #[error("audit head does not match entry {seq}")]
    HeadMismatch {
        /// Last entry's sequence number.
        seq: i64,
    },
}

impl ChainBreak {
    /// The sequence number of the first bad entry.
    pub fn seq(&self) -> i64 {
        match self {
            ChainBreak::HashMismatch { seq }
            | ChainBreak::Malformed { seq, .. }
            | ChainBreak::BrokenLink { seq }
            | ChainBreak::Sequence { seq, .. }
            | ChainBreak::HeadMismatch { seq } => *seq,
            ChainBreak::Truncated { found, .. } => *found + 1,
        }
    }
}

/// Incremental verifier: feed entries in order, then call [`ChainVerifier::finish`].
#[derive(Debug, Default)]
pub struct ChainVerifier {
    last_seq: i64,
    last_hash: Option<String>,
}

/// The order-independent checks of one stored entry: its text hashes to its stored hash, and it
/// parses as an entry (its `seq` and `prev_hash` are kept for the link check). Independent per
/// entry, so a verifier computes these in parallel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Precheck {
    /// SHA-256 of the text equals the stored hash.
    pub hash_matches: bool,
    /// `(seq, prev_hash)` of the parsed entry, or why it does not parse (position only, never
    /// entry values).
    pub link: Result<(i64, String), String>,
}

impl Precheck {
    /// Checks one stored entry.
    pub fn of(stored: &StoredEntry) -> Self {
        let digest = Sha256::digest(stored.entry.as_bytes());
        // Compared in the canonical form `entry_hash` writes (lower-case hex): encoding is a
        // table lookup per byte, decoding the stored text cost a tenth of verifying the log.
        let mut hexed = [0u8; 64];
        let hash_matches = hex::encode_to_slice(digest, &mut hexed).is_ok()
            && stored.hash.as_bytes() == hexed.as_slice();
        let link = serde_json::from_str::<EntryShape>(&stored.entry)
            .map(|e| (e.seq, e.prev_hash.into_owned()))
            .map_err(|e| format!("line {} column {}", e.line(), e.column()));
        Precheck { hash_matches, link }
    }
}

/// What verification needs of an entry's text: a JSON object with every required field of an
/// [`AuditEntry`], of which only `seq` and `prev_hash` are kept. The other values are checked for
/// JSON syntax and skipped instead of being built — a full parse (timestamps, `detail` maps, the
/// context's entity lists) was most of the CPU time of verifying a million entries, and the
/// content itself is already covered by the entry hash and the Merkle leaf.
#[derive(Deserialize)]
struct EntryShape<'a> {
    seq: i64,
    #[serde(borrow)]
    prev_hash: std::borrow::Cow<'a, str>,
    #[serde(rename = "timestamp")]
    _timestamp: serde::de::IgnoredAny,
    #[serde(rename = "actor")]
    _actor: serde::de::IgnoredAny,
    #[serde(rename = "action")]
    _action: serde::de::IgnoredAny,
    #[serde(rename = "target")]
    _target: serde::de::IgnoredAny,
    #[serde(rename = "outcome")]
    _outcome: serde::de::IgnoredAny,
    #[serde(rename = "detail")]
    _detail: serde::de::IgnoredAny,
}

/// Summary of a successful verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: i64,
    /// Hash of the last entry.
    pub head_hash: String,
}

impl ChainVerifier {
    /// A verifier expecting entry 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the next stored entry.
    pub fn push(&mut self, stored: &StoredEntry) -> Result<(), ChainBreak> {
        let pre = Precheck::of(stored);
        self.push_prechecked(stored, &pre)
    }

    /// Checks the next stored entry given its [`Precheck`] (computed beforehand, possibly on
    /// another thread): what is left is the order-dependent part, sequence and link.
    pub fn push_prechecked(
        &mut self,
        stored: &StoredEntry,
        pre: &Precheck,
    ) -> Result<(), ChainBreak> {
        let expected = self.last_seq + 1;
        if stored.seq != expected {
            return Err(ChainBreak::Sequence {
                seq: stored.seq,
                expected,
            });
        }
        if !pre.hash_matches {
            return Err(ChainBreak::HashMismatch { seq: stored.seq });
        }
        let (seq, prev_hash) = match &pre.link {
            Ok(link) => link,
            Err(reason) => {
                return Err(ChainBreak::Malformed {
                    seq: stored.seq,
                    reason: reason.clone(),
                })
            }
        };
        if *seq != stored.seq {
            return Err(ChainBreak::Sequence {
                seq: stored.seq,
                expected,
            });
        }
        let prev = self.last_hash.as_deref().unwrap_or(GENESIS_HASH);
        if prev_hash != prev {
            return Err(ChainBreak::BrokenLink { seq: stored.seq });
        }
        self.last_seq = stored.seq;
        // Reuses the buffer: a million entries would otherwise be a million small allocations.
        match &mut self.last_hash {
            Some(last) => {
                last.clear();
                last.push_str(&stored.hash);
            }
            None => self.last_hash = Some(stored.hash.clone()),
        }
        Ok(())
    }

    /// Compares the end of the chain with the recorded head `(seq, hash)`.
    pub fn finish(self, head: Option<(i64, String)>) -> Result<VerifyReport, ChainBreak> {
        if let Some((head_seq, head_hash)) = head {
            if head_seq > self.last_seq {
                return Err(ChainBreak::Truncated {
                    head_seq,
                    found: self.last_seq,
                });
            }
            if head_seq != self.last_seq || self.last_hash.as_deref() != Some(head_hash.as_str()) {
                return Err(ChainBreak::HeadMismatch { seq: self.last_seq });
            }
        }
        Ok(VerifyReport {
            entries: self.last_seq,
            head_hash: self.last_hash.unwrap_or_else(|| GENESIS_HASH.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<StoredEntry> {
        let mut out: Vec<StoredEntry> = Vec::new();
        for i in 0..n {
            let ev = AuditEvent::new("u-1", "dataset.read", format!("ds-{i}"), Outcome::Success)
                .with_detail(serde_json::json!({"rows": i, "b": 1, "a": 2}));
            let prev = out.last().map(|s| (s.seq, s.hash.as_str()));
            let entry = AuditEntry::next(prev, &ev, Utc::now());
            out.push(seal(&entry).unwrap());
        }
        out
    }

    fn verify(
        entries: &[StoredEntry],
        head: Option<(i64, String)>,
    ) -> Result<VerifyReport, ChainBreak> {
        let mut v = ChainVerifier::new();
        for e in entries {
            v.push(e)?;
        }
        v.finish(head)
    }

    #[test]
    fn intact_chain_verifies() {
        let c = chain(5);
        let head = Some((5, c[4].hash.clone()));
        let r = verify(&c, head).unwrap();
        assert_eq!(r.entries, 5);
        assert_eq!(c[0].seq, 1);
    }

    #[test]
    fn every_single_byte_edit_is_detected_at_that_entry() {
        let c = chain(4);
        for (i, target) in c.iter().enumerate() {
            for pos in 0..target.entry.len() {
                let mut edited = c.clone();
                let mut bytes = edited[i].entry.clone().into_bytes();
                bytes[pos] ^= 0x01;
                let Ok(text) = String::from_utf8(bytes) else {
                    continue;
                };
                edited[i].entry = text;
                let err = verify(&edited, Some((4, c[3].hash.clone()))).unwrap_err();
                assert_eq!(
                    err.seq(),
                    target.seq,
                    "edit at byte {pos} of entry {}",
                    target.seq
                );
            }
        }
    }

    #[test]
    fn rewritten_entry_with_recomputed_hash_breaks_the_next_link() {
        let mut c = chain(3);
        let mut e: AuditEntry = serde_json::from_str(&c[1].entry).unwrap();
        e.actor = "u-evil".into();
        c[1] = seal(&e).unwrap();
        let err = verify(&c, None).unwrap_err();
        assert_eq!(err, ChainBreak::BrokenLink { seq: 3 });
    }

    #[test]
    fn removal_and_truncation_are_detected() {
        let c = chain(4);
        let mut gap = c.clone();
        gap.remove(1);
        assert_eq!(verify(&gap, None).unwrap_err().seq(), 3);
        let truncated = &c[..3];
        let err = verify(truncated, Some((4, c[3].hash.clone()))).unwrap_err();
        assert!(matches!(
            err,
            ChainBreak::Truncated {
                head_seq: 4,
                found: 3
            }
        ));
    }

    #[test]
    fn a_stored_hash_is_checked_in_its_canonical_form() {
        let c = chain(2);
        assert!(Precheck::of(&c[1]).hash_matches);
        // The same digest written another way is not what `entry_hash` stores.
        let mut upper = c.clone();
        upper[1].hash = upper[1].hash.to_uppercase();
        assert_ne!(upper[1].hash, c[1].hash, "the digest has hex letters");
        assert!(!Precheck::of(&upper[1]).hash_matches);
        assert_eq!(
            verify(&upper, None).unwrap_err(),
            ChainBreak::HashMismatch { seq: 2 }
        );
        let mut short = c.clone();
        short[1].hash.pop();
        assert!(!Precheck::of(&short[1]).hash_matches);
    }

    #[test]
    fn text_that_is_not_an_entry_is_named_malformed_even_with_a_matching_hash() {
        let c = chain(3);
        let reseal = |text: String| StoredEntry {
            seq: 2,
            hash: entry_hash(&text),
            entry: text,
        };
        let without_actor = c[1].entry.replacen("\"actor\"", "\"agent\"", 1);
        let broken_json = c[1].entry.replacen(',', ";", 1);
        for text in [without_actor, broken_json, "[2]".to_string()] {
            let mut edited = c.clone();
            edited[1] = reseal(text);
            let err = verify(&edited, None).unwrap_err();
            assert!(
                matches!(err, ChainBreak::Malformed { seq: 2, .. }),
                "{err:?}"
            );
        }
        // A well-formed entry whose detail holds escapes and nesting still parses.
        let ev = AuditEvent::new("u-1", "a.b", "t", Outcome::Success).with_detail(
            serde_json::json!({"note": "quote \" and \\ and é", "n": [1, {"x": null}]}),
        );
        let entry = seal(&AuditEntry::next(None, &ev, Utc::now())).unwrap();
        assert!(verify(&[entry], None).is_ok());
    }
}
