//! Command-line surface (see PRODUCT.md "Command-line surface").

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// medspace — a trusted data space node for healthcare and medical-insurance data.
///
/// Raw data stays in the node; researchers and insurers analyse approved, de-identified data in a
/// sandbox, and every step is written to a tamper-evident audit log (GB/T 39725-2020,
/// T/CI 857-2024, 数字医疗网络数据安全管理规范).
#[derive(Debug, Parser)]
#[command(name = "medspace", version, propagate_version = true)]
pub struct Cli {
    /// Log more (also: MEDSPACE_LOG=debug).
    #[arg(long, short, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    Table,
    /// JSON for programs.
    Json,
}

/// Which generated table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenTable {
    /// Denormalised settlement records (person + visit + fees).
    Settlements,
    /// Insured persons.
    Persons,
    /// Visits referencing persons.
    Visits,
    /// Laboratory results referencing visits.
    Labs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a node: directory, master key (outside the directory), database, TLS certificate and
    /// the first administrator, whose one-time password is printed once.
    Init(InitArgs),
    /// Serve the HTTPS JSON API (TLS 1.2/1.3 only) with its OpenAPI document at /api/v1/openapi.json.
    Serve(ServeArgs),
    /// Run the whole trusted flow on a fresh demo node: generate → ingest → classify → de-identify →
    /// apply → approve → sandbox queries → export review → audit verification; then keep serving.
    Demo(DemoArgs),
    /// Generate realistic synthetic Chinese medical-insurance records as CSV (streamed, deterministic).
    Gen(GenArgs),
    /// Ingest a CSV file into a node: validate, classify, encrypt at rest and enter it in the catalog.
    Ingest(IngestArgs),
    /// Classify the columns of a CSV file: semantic type, GB/T 39725 category and level, identifier kind.
    Scan(ScanArgs),
    /// De-identify a CSV file with a policy (TOML) and report the k-anonymity check.
    Deid(DeidArgs),
    /// Re-identification risk of a CSV file over its quasi-identifiers: prosecutor, journalist
    /// and marketer risk, sample uniques, population uniques (GB/T 39725 §11.4.2.4).
    Risk(RiskArgs),
    /// Check the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Access decisions with the Cedar policies (GB/T 39725 §11.1 defaults plus the node's own).
    Authz {
        #[command(subcommand)]
        command: AuthzCommand,
    },
    /// Review the grading the scan proposed at ingest: list, show with history, override a column,
    /// confirm (security officers), approve or reject (committee) — GB/T 39725 §9.2 a) 8).
    Grading {
        #[command(subcommand)]
        command: crate::grading_cmd::GradingCommand,
    },
    /// Destroy a dataset by crypto-shredding (its data key is erased, its objects deleted) and print
    /// the destruction certificate signed by the node identity key (GB/T 39725 §11.4.2.6).
    Destroy(DestroyArgs),
    /// Manage the master key: show versions in use, rotate (rewrap every data key under a new
    /// version, without re-encrypting data), retire an unused version.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Write an encrypted, signed backup (metadata snapshot, objects, audit log) while the node
    /// serves; the data keys go to the key vault kept apart from backups (DMS 7.2.4.3).
    Backup(BackupArgs),
    /// Verify a backup chain (signature, links, every digest) and restore it into a new directory
    /// with the key vault and the master key; refuses a modified backup.
    Restore(RestoreArgs),
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Write one backup to this new file (full, or incremental with --base).
    #[arg(short = 'o', long, conflicts_with = "to")]
    pub output: Option<PathBuf>,
    /// With -o: the backup this increment builds on.
    #[arg(long, requires = "output")]
    pub base: Option<PathBuf>,
    /// Write the next backup of a backup directory (full when due, else incremental).
    #[arg(long)]
    pub to: Option<PathBuf>,
    /// With --to: keep going, one backup every this many minutes (1-15).
    #[arg(long, requires = "to", value_parser = clap::value_parser!(u64).range(1..=15))]
    pub every: Option<u64>,
    /// With --to: hours after which the next backup is a full one.
    #[arg(long, default_value_t = 24)]
    pub full_every_hours: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// New node directory to restore into (must not exist or be empty).
    #[arg(long)]
    pub dir: PathBuf,
    /// Backup files, or directories of backups: the newest backup and its chain are restored.
    #[arg(required = true)]
    pub from: Vec<PathBuf>,
    /// The key vault written beside the node (`<dir>.keyvault`).
    #[arg(long)]
    pub key_vault: PathBuf,
    /// Master key file (default: MEDSPACE_MASTER_KEY_FILE).
    #[arg(long)]
    pub master_key_file: Option<PathBuf>,
    /// Refuse backups not signed by this node identity public key (hex).
    #[arg(long)]
    pub expect_key: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List master-key versions and how many wrapped keys each still protects.
    Status {
        #[command(flatten)]
        dir: DirArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Create a new master-key version and rewrap every data key under it (one audited transaction).
    Rotate {
        #[command(flatten)]
        dir: DirArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Remove a master-key version that no wrapped key uses any more.
    Retire {
        #[command(flatten)]
        dir: DirArg,
        /// Key id as shown by `keys status` (e.g. `file:v1:1a2b3c4d`).
        key_id: String,
    },
}

#[derive(Debug, Args)]
pub struct DirArg {
    /// Node directory.
    #[arg(long, env = "MEDSPACE_DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Node directory to create.
    #[arg(long, env = "MEDSPACE_DIR")]
    pub dir: PathBuf,
    /// PostgreSQL URL for the metadata (default: embedded SQLite in the node directory).
    #[arg(long, env = "MEDSPACE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Crypto profile, fixed for the node's lifetime: `international` (AES-256-GCM, SHA-256,
    /// Ed25519) or `national` (SM4-GCM, SM3, SM2 — GB/T 39786).
    #[arg(long, default_value = "international", value_parser = ["international", "national"])]
    pub profile: String,
    /// HTTPS listen address to record in medspace.toml.
    #[arg(long)]
    pub listen: Option<String>,
    /// Keep the master key in a PKCS#11 token (HSM, cipher machine, SoftHSM2): the module path.
    /// The key is created in the token if missing and never leaves it.
    #[arg(long, requires_all = ["hsm_token", "hsm_key_label"])]
    pub hsm_module: Option<PathBuf>,
    /// Token label of the PKCS#11 token.
    #[arg(long, requires = "hsm_module")]
    pub hsm_token: Option<String>,
    /// Label of the master key object in the token.
    #[arg(long, requires = "hsm_module")]
    pub hsm_key_label: Option<String>,
    /// Environment variable holding the token's user PIN.
    #[arg(long, requires = "hsm_module", conflicts_with = "hsm_pin_file")]
    pub hsm_pin_env: Option<String>,
    /// File (mode 0600) holding the token's user PIN.
    #[arg(long, requires = "hsm_module")]
    pub hsm_pin_file: Option<PathBuf>,
    /// Login name of the first administrator.
    #[arg(long, default_value = "admin")]
    pub admin: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Listen address (overrides medspace.toml and MEDSPACE_LISTEN).
    #[arg(long)]
    pub listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Demo node directory; replaced if it holds an earlier demo.
    #[arg(long, default_value = "medspace-demo")]
    pub dir: PathBuf,
    /// Settlement records to generate.
    #[arg(long, default_value_t = 20_000)]
    pub rows: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 2020)]
    pub seed: u64,
    /// Exit after the walk-through instead of serving.
    #[arg(long)]
    pub exit: bool,
    /// Listen address when serving.
    #[arg(long)]
    pub listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Rows to generate.
    #[arg(long)]
    pub rows: u64,
    /// Seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output CSV file (`-` for standard output).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Which table.
    #[arg(long, value_enum, default_value_t = GenTable::Settlements)]
    pub table: GenTable,
    /// Size of the person pool that visits and labs refer to.
    #[arg(long)]
    pub persons: Option<u64>,
}

#[derive(Debug, Args)]
pub struct UserArg {
    /// Account to act as (password from MEDSPACE_PASSWORD or standard input).
    #[arg(long, env = "MEDSPACE_USER")]
    pub user: String,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub dir: DirArg,
    #[command(flatten)]
    pub user: UserArg,
    /// CSV file (UTF-8, header row).
    pub file: PathBuf,
    /// Catalog name (a–z, 0–9, `_`).
    #[arg(long)]
    pub name: String,
    /// Declared update frequency.
    #[arg(long, default_value = "once")]
    pub update_frequency: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub dir: DirArg,
    #[command(flatten)]
    pub user: UserArg,
    /// Catalog name of the dataset.
    pub name: String,
    /// The agreement, approval or retention rule under which it is destroyed.
    #[arg(long)]
    pub agreement: String,
    /// Also write the certificate (JSON) to this file.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// CSV file.
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Read and test every row instead of a sample.
    #[arg(long)]
    pub full: bool,
    /// Rows a sampled scan classifies (a full scan decides provisional types from them).
    #[arg(long, default_value_t = 2000)]
    pub sample_rows: usize,
    /// Also write a de-identification policy draft (TOML, for `medspace deid`) here.
    #[arg(long, value_name = "POLICY.toml")]
    pub emit_policy: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DeidArgs {
    /// Input file: CSV (comma, semicolon, tab or pipe separated) or plain Parquet (recognised by
    /// its content).
    pub file: PathBuf,
    /// Policy (TOML).
    #[arg(long)]
    pub policy: PathBuf,
    /// Output CSV file.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Write the report (JSON) here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Key file (64 hex characters) for pseudonyms and date shifts; without it, one-off random keys
    /// are used and pseudonyms cannot be reproduced.
    #[arg(long, env = "MEDSPACE_DEID_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Project: pseudonyms and date shifts differ between projects (default: the policy's
    /// `project`, else `default`).
    #[arg(long)]
    pub project: Option<String>,
    /// Output format of the report on standard output.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Run the k-anonymity search: optimal global recoding of the policy's `generalize`
    /// quasi-identifiers under its k, suppression_limit, l_diversity and t_closeness.
    #[arg(long)]
    pub optimize: bool,
    /// With --optimize: local recoding (higher utility) instead of global recoding.
    #[arg(long, requires = "optimize")]
    pub local: bool,
    /// Field separator of CSV input: `,`, `;`, `tab` or `|` (default: detected from the header).
    #[arg(long, value_parser = crate::deid_cmd::parse_delimiter)]
    pub delimiter: Option<u8>,
    /// Population size for the population-uniqueness estimate in the risk figures.
    #[arg(long)]
    pub population: Option<f64>,
    /// Crypto profile of the keyed MAC behind pseudonyms, date shifts and noise:
    /// `international` (HMAC-SHA-256) or `national` (HMAC-SM3, as a national-profile node uses).
    #[arg(long, value_enum, default_value_t = MacProfile::International)]
    pub profile: MacProfile,
}

/// The crypto profile `medspace deid` keys its MAC for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MacProfile {
    /// HMAC-SHA-256.
    International,
    /// HMAC-SM3 (GB/T 32905).
    National,
}

impl MacProfile {
    /// The de-identification MAC of this profile.
    pub fn mac(self) -> medspace_service::reexports::deid::MacAlgorithm {
        use medspace_service::reexports::deid::MacAlgorithm;
        match self {
            MacProfile::International => MacAlgorithm::HmacSha256,
            MacProfile::National => MacAlgorithm::HmacSm3,
        }
    }
}

#[derive(Debug, Args)]
pub struct RiskArgs {
    /// Input file: CSV (comma, semicolon, tab or pipe separated) or plain Parquet (recognised by
    /// its content).
    pub file: PathBuf,
    /// Quasi-identifier columns, comma-separated.
    #[arg(long)]
    pub qi: String,
    /// A sensitive column (its l-diversity is reported).
    #[arg(long)]
    pub sensitive: Option<String>,
    /// Field separator of CSV input: `,`, `;`, `tab` or `|` (default: detected from the header).
    #[arg(long, value_parser = crate::deid_cmd::parse_delimiter)]
    pub delimiter: Option<u8>,
    /// Prosecutor risk above which a record counts as at risk (default 1/5, GB/T 39725 §11.4.2.4).
    #[arg(long, default_value_t = 0.2)]
    pub threshold: f64,
    /// Population size for the population-uniqueness estimate (Zayatz).
    #[arg(long)]
    pub population: Option<f64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain, every Merkle leaf, the root at every signed checkpoint and each
    /// checkpoint's signature; exit 1 and name the first bad entry or checkpoint.
    Verify {
        #[command(flatten)]
        dir: DirArg,
        /// A checkpoint kept outside the node (by a client or a witness): the log must still
        /// contain it, so truncation and rollback to an older copy are detected.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// The node's verifier key as pinned by the verifier (C2SP vkey text or a file holding
        /// it); default: the key of this node's identity.
        #[arg(long)]
        vkey: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Print the latest signed checkpoint (C2SP tlog-checkpoint signed note), signing a new one
    /// first if the log grew; `--vkey` prints the node's verifier key instead.
    Checkpoint {
        #[command(flatten)]
        dir: DirArg,
        /// Print the verifier key (C2SP vkey) to check checkpoints with.
        #[arg(long, conflicts_with = "witness_vkey")]
        vkey: bool,
        /// Print this node's witness cosignature key (C2SP vkey, cosignature/v1) for the logs it
        /// witnesses to configure.
        #[arg(long)]
        witness_vkey: bool,
        /// Output format (`table` prints the note itself).
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Inclusion proof of one entry: leafIdx, treeSize, leafHash, proof, root (base64).
    Proof {
        #[command(flatten)]
        dir: DirArg,
        /// Entry sequence number (from 1; the leaf index is one less).
        #[arg(long)]
        entry: i64,
        /// Tree size (default: the latest checkpoint, signing a new one if it lacks the entry).
        #[arg(long)]
        size: Option<u64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Consistency proof between two tree sizes.
    Consistency {
        #[command(flatten)]
        dir: DirArg,
        /// The older tree size.
        #[arg(long)]
        from: u64,
        /// The newer tree size (default: the latest checkpoint).
        #[arg(long)]
        to: Option<u64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Search the audit log by time, actor, action, dataset, application and outcome (auditors;
    /// the search is itself audited). `--format json` prints the entries, `--fhir` a FHIR R4
    /// Bundle of AuditEvent resources.
    Events {
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        user: UserArg,
        /// Entries at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Entries before this time (RFC 3339).
        #[arg(long)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// Account id.
        #[arg(long)]
        actor: Option<String>,
        /// Dotted action name.
        #[arg(long)]
        action: Option<String>,
        /// Dataset id.
        #[arg(long)]
        dataset: Option<String>,
        /// Application id.
        #[arg(long)]
        application: Option<String>,
        /// `success`, `denied` or `error`.
        #[arg(long)]
        outcome: Option<String>,
        /// Only entries after this sequence number.
        #[arg(long)]
        after: Option<i64>,
        /// Page size (at most 1000).
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print a FHIR R4 Bundle of AuditEvent resources.
        #[arg(long)]
        fhir: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Every use or disclosure of one data subject's data in the last six years (GB/T 39725-2020
    /// §7 g)), each entry with an inclusion proof against a signed checkpoint (auditors; audited
    /// under the subject's keyed pseudonym). Identifiers are read from a file, one per line, so
    /// they never appear in a command line or shell history.
    Subject {
        #[command(flatten)]
        dir: DirArg,
        #[command(flatten)]
        user: UserArg,
        /// File with the subject's identifiers (ID number, patient number …), one per line.
        #[arg(long)]
        identifiers_file: PathBuf,
        /// Output format (`json` includes every proof).
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Measure durable audit appends per second on this machine: concurrent writers append
    /// `audit.benchmark` entries through the group committer. Each acknowledged sequence number
    /// is printed with --print-acks (for crash tests). Writes real entries: use a test node.
    Bench {
        #[command(flatten)]
        dir: DirArg,
        /// Concurrent writers.
        #[arg(long, default_value_t = 64)]
        writers: usize,
        /// Entries in total (0: until killed).
        #[arg(long, default_value_t = 100_000)]
        entries: u64,
        /// Print `ack <seq> <writer>-<n>` for every acknowledged entry, as soon as it is durable.
        #[arg(long)]
        print_acks: bool,
        /// Spread the entries over this many dataset ids (the catalogued datasets first, then
        /// synthetic ones), for measuring dataset and subject lookups on a large log.
        #[arg(long, default_value_t = 0)]
        datasets: usize,
        /// Output format of the summary.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuthzCommand {
    /// Decide one request and print the decision and the policies that determined it. Policies:
    /// the built-in defaults, the ones added through the API when DIR is a node, then
    /// `DIR/policies/*.cedar`. Exit status 0 allowed, 3 denied.
    Check {
        #[command(flatten)]
        dir: DirArg,
        /// Request JSON: {"principal", "action", "resource", "context"}, entities as
        /// `Type::"id"` or {"type", "id"}.
        #[arg(long)]
        request: PathBuf,
        /// Entities in Cedar's JSON entity format.
        #[arg(long)]
        entities: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}
