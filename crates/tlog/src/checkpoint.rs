//! Checkpoints: the signed tree head of a log, as the text of a signed note.
//!
//! C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint, commit 5ba5ee8): at least three non-empty lines,
//! each ending in a newline:
//!
//! 1. the origin, a non-empty unique identifier of the log;
//! 2. the tree size in ASCII decimal, without leading zeroes (`0` for the empty tree);
//! 3. the root hash (RFC 9162 §2.1.1 `MTH`), standard padded base64;
//! 4. optional, opaque, non-empty extension lines.
//!
//! Parsing is strict and every error names the offending line. Formatting produces exactly the text
//! parsing accepts, so `parse(format(c)) == c`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::hash::Hash;
use crate::note::{Note, NoteError, NoteSigner};

/// Which line of a checkpoint was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointLine {
    /// Line 1.
    Origin,
    /// Line 2.
    TreeSize,
    /// Line 3.
    RootHash,
    /// Line `n` (4 or more).
    Extension(usize),
}

impl CheckpointLine {
    /// 1-based line number.
    pub fn number(self) -> usize {
        match self {
            CheckpointLine::Origin => 1,
            CheckpointLine::TreeSize => 2,
            CheckpointLine::RootHash => 3,
            CheckpointLine::Extension(n) => n,
        }
    }
}

impl std::fmt::Display for CheckpointLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self {
            CheckpointLine::Origin => "origin",
            CheckpointLine::TreeSize => "tree size",
            CheckpointLine::RootHash => "root hash",
            CheckpointLine::Extension(_) => "extension",
        };
        write!(f, "line {} ({what})", self.number())
    }
}

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The text does not end with a newline.
    #[error("checkpoint does not end with a newline")]
    NotTerminated,
    /// A line is missing, empty or malformed.
    #[error("checkpoint {line}: {reason}")]
    Malformed {
        /// Which line.
        line: CheckpointLine,
        /// What is wrong.
        reason: &'static str,
    },
    /// The signed note around the checkpoint is invalid.
    #[error(transparent)]
    Note(#[from] NoteError),
}

/// A parsed checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Log origin.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// Extension lines (without newlines).
    pub extensions: Vec<String>,
}

fn malformed(line: CheckpointLine, reason: &'static str) -> CheckpointError {
    CheckpointError::Malformed { line, reason }
}

fn check_line(line: CheckpointLine, text: &str) -> Result<(), CheckpointError> {
    if text.is_empty() {
        return Err(malformed(line, "empty line"));
    }
    if text.chars().any(|c| c.is_control()) {
        return Err(malformed(line, "contains a control character"));
    }
    Ok(())
}

/// Parses a tree size: ASCII decimal, no sign, no leading zero except `0` itself.
pub(crate) fn parse_decimal(s: &str) -> Result<u64, &'static str> {
    if s.is_empty() {
        return Err("empty number");
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a decimal number");
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err("leading zero");
    }
    s.parse::<u64>().map_err(|_| "number too large")
}

/// Decodes a standard padded base64 hash of exactly 32 bytes (canonical encoding only).
pub(crate) fn parse_b64_hash(s: &str) -> Result<Hash, &'static str> {
    let bytes = STANDARD.decode(s).map_err(|_| "not valid base64")?;
    Hash::try_from(bytes.as_slice()).map_err(|_| "hash is not 32 bytes")
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        let c = Checkpoint {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        };
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<(), CheckpointError> {
        check_line(CheckpointLine::Origin, &self.origin)?;
        for (i, e) in self.extensions.iter().enumerate() {
            check_line(CheckpointLine::Extension(i + 4), e)?;
        }
        Ok(())
    }

    /// Parses a checkpoint body (a note text).
    pub fn parse(body: &str) -> Result<Self, CheckpointError> {
        let body = body
            .strip_suffix('\n')
            .ok_or(CheckpointError::NotTerminated)?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .ok_or(malformed(CheckpointLine::Origin, "missing"))?;
        check_line(CheckpointLine::Origin, origin)?;
        let size = lines
            .next()
            .ok_or(malformed(CheckpointLine::TreeSize, "missing"))?;
        check_line(CheckpointLine::TreeSize, size)?;
        let size = parse_decimal(size).map_err(|r| malformed(CheckpointLine::TreeSize, r))?;
        let root = lines
            .next()
            .ok_or(malformed(CheckpointLine::RootHash, "missing"))?;
        check_line(CheckpointLine::RootHash, root)?;
        let root = parse_b64_hash(root).map_err(|r| malformed(CheckpointLine::RootHash, r))?;
        let mut extensions = Vec::new();
        for (i, e) in lines.enumerate() {
            check_line(CheckpointLine::Extension(i + 4), e)?;
            extensions.push(e.to_string());
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// Parses the checkpoint carried by a signed note (signatures are not checked here).
    pub fn from_note(note: &Note) -> Result<Self, CheckpointError> {
        Checkpoint::parse(note.text())
    }

    /// The checkpoint body: origin, size, base64 root, extensions, each ending in a newline.
    pub fn to_body(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// The checkpoint as a note signed by `signers` (the log key first, by convention).
    pub fn sign(&self, signers: &[&dyn NoteSigner]) -> Result<Note, CheckpointError> {
        self.validate()?;
        let mut note = Note::new(self.to_body())?;
        for s in signers {
            note.sign(*s)?;
        }
        Ok(note)
    }
}

impl std::fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{Ed25519Signer, Verifiers};

    const SPEC: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn the_spec_example_parses_and_round_trips() {
        let c = Checkpoint::parse(SPEC).unwrap();
        assert_eq!(c.origin, "example.com/behind-the-sofa");
        assert_eq!(c.size, 20852163);
        assert!(c.extensions.is_empty());
        assert_eq!(c.to_body(), SPEC);
        let with_ext = format!("{SPEC}ext one\next two\n");
        let c = Checkpoint::parse(&with_ext).unwrap();
        assert_eq!(c.extensions, ["ext one", "ext two"]);
        assert_eq!(c.to_string(), with_ext);
    }

    #[test]
    fn malformed_checkpoints_name_the_line() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let cases: Vec<(String, CheckpointError)> = vec![
            ("o\n1\nx".into(), CheckpointError::NotTerminated),
            (
                format!("\n1\n{root}\n"),
                malformed(CheckpointLine::Origin, "empty line"),
            ),
            ("o\n".into(), malformed(CheckpointLine::TreeSize, "missing")),
            (
                "o\n1\n".into(),
                malformed(CheckpointLine::RootHash, "missing"),
            ),
            (
                format!("o\n01\n{root}\n"),
                malformed(CheckpointLine::TreeSize, "leading zero"),
            ),
            (
                format!("o\n+1\n{root}\n"),
                malformed(CheckpointLine::TreeSize, "not a decimal number"),
            ),
            (
                format!("o\n 1\n{root}\n"),
                malformed(CheckpointLine::TreeSize, "not a decimal number"),
            ),
            (
                format!("o\n18446744073709551616\n{root}\n"),
                malformed(CheckpointLine::TreeSize, "number too large"),
            ),
            (
                "o\n1\nAAAA\n".into(),
                malformed(CheckpointLine::RootHash, "hash is not 32 bytes"),
            ),
            (
                "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".into(),
                malformed(CheckpointLine::RootHash, "not valid base64"),
            ),
            (
                "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n".into(),
                malformed(CheckpointLine::RootHash, "not valid base64"),
            ),
            (
                format!("o\n1\n{root}\n\n"),
                malformed(CheckpointLine::Extension(4), "empty line"),
            ),
            (
                format!("o\n1\n{root}\na\n\n"),
                malformed(CheckpointLine::Extension(5), "empty line"),
            ),
            (
                format!("o\r\n1\n{root}\n"),
                malformed(CheckpointLine::Origin, "contains a control character"),
            ),
        ];
        for (input, want) in cases {
            let got = Checkpoint::parse(&input);
            assert_eq!(got, Err(want.clone()), "{input:?}");
            assert!(want.to_string().starts_with("checkpoint"));
        }
        assert_eq!(
            Checkpoint::parse("o\n01\nx\n").unwrap_err().to_string(),
            "checkpoint line 2 (tree size): leading zero"
        );
        assert_eq!(
            Checkpoint::parse("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n")
                .unwrap()
                .size,
            0
        );
    }

    #[test]
    fn signed_checkpoints_verify() {
        let log = Ed25519Signer::from_seed("medspace.example/audit", &[1; 32]).unwrap();
        let c = Checkpoint::new("medspace.example/audit", 3, [9; 32]).unwrap();
        let note = c.sign(&[&log]).unwrap();
        let parsed = Note::parse(&note.to_string()).unwrap();
        let v = Verifiers::new().with(Box::new(log.verifier())).unwrap();
        parsed.verify(&v).unwrap();
        assert_eq!(Checkpoint::from_note(&parsed).unwrap(), c);
        assert!(Checkpoint::new("", 0, [0; 32]).is_err());
    }
}
