//! Abnormal access: rules, alerts, channels and automatic lock — GB/T 39725-2020 §11.1.2.4
//! (access outside working hours or from outside the hospital network is abnormal), §11.1.2.5
//! (continuous monitoring; alerts carry the user's IP, time, account and what was accessed; above
//! a threshold the account is locked automatically), Table 5 online-query rows (frequency and
//! volume of queries), §7 h) and issue 7 item 7 (break-glass access raises an alert and is queued
//! for review afterwards).
//!
//! Every rule's threshold is configuration (`[anomaly]` in medspace.toml), not code. Alerts are
//! stored (audited) before they are sent to the configured channels: `log` (the node's log, for the
//! demo), `webhook` (HTTPS POST of the alert as JSON; plain HTTP only to a loopback address), `sms`
//! (through the node's SMS gateway) and `email` (SMTP with implicit TLS or STARTTLS; no TLS only to
//! a loopback relay).
//! A channel failure is audited and never loses the alert: it stays in the store, open, for the
//! security officer's review queue. Alerts name the patient by keyed pseudonym only.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use medspace_core::{new_id, Outcome};
use medspace_store::AlertRow;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::access::{Action, Caller};
use crate::error::{Result, ServiceError};
use crate::Node;

/// How serious an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Review soon.
    Medium,
    /// Review now.
    High,
    /// Stop it now.
    Critical,
}

impl Severity {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Where alerts go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelSettings {
    /// The node's log (warning level), without personal data.
    Log,
    /// HTTPS POST of the alert as JSON (plain HTTP only to a loopback address).
    Webhook {
        /// Receiver URL.
        url: String,
    },
    /// A text message to the on-call security staff through the node's SMS gateway: rule,
    /// severity, account, address and time only (§11.1.2.5: SMS alerts).
    Sms {
        /// Mainland mobile numbers.
        to: Vec<String>,
    },
    /// An e-mail to the security team through an SMTP relay (§11.1.2.5: e-mail alerts): implicit
    /// TLS or STARTTLS with TLS 1.2 or later; without TLS only to a relay on a loopback address.
    Email(EmailChannel),
}

/// How the e-mail channel reaches its SMTP relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// TLS from the first byte (port 465 by default).
    #[default]
    Tls,
    /// Plain connection upgraded with STARTTLS, which is required (port 587 by default).
    Starttls,
    /// No TLS: only a relay on a loopback address (a local MTA that relays onward with TLS).
    None,
}

/// `kind = "email"` channel settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChannel {
    /// SMTP relay host name or address.
    pub smtp_host: String,
    /// Port; 465 (`tls`), 587 (`starttls`) or 25 (`none`) when absent.
    #[serde(default)]
    pub port: Option<u16>,
    /// Transport security.
    #[serde(default)]
    pub security: SmtpSecurity,
    /// Sender address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// SMTP user name, if the relay needs authentication.
    #[serde(default)]
    pub username: Option<String>,
    /// Environment variable holding the SMTP password (never the password itself in the file).
    #[serde(default)]
    pub password_env: Option<String>,
}

impl EmailChannel {
    fn validate(&self) -> std::result::Result<(), String> {
        if self.smtp_host.trim().is_empty() {
            return Err("an email channel needs `smtp_host`".into());
        }
        self.from.parse::<lettre::message::Mailbox>().map_err(|e| {
            format!(
                "email channel `from` = `{}` is not an address ({e})",
                self.from
            )
        })?;
        if self.to.is_empty() {
            return Err("an email channel needs `to`: one or more addresses".into());
        }
        for t in &self.to {
            t.parse::<lettre::message::Mailbox>()
                .map_err(|e| format!("email channel `to` = `{t}` is not an address ({e})"))?;
        }
        if self.security == SmtpSecurity::None && !is_loopback_host(&self.smtp_host) {
            return Err(format!(
                "email channel to `{}` must use security = \"tls\" or \"starttls\" (no TLS only to a loopback relay)",
                self.smtp_host
            ));
        }
        if self.username.is_some() != self.password_env.is_some() {
            return Err(
                "an email channel needs both `username` and `password_env`, or neither".into(),
            );
        }
        Ok(())
    }
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Sends one alert by e-mail; the error text names no personal data.
async fn send_email(
    c: &EmailChannel,
    alert: &AlertView,
    text: &str,
) -> std::result::Result<(), String> {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    // `c` was validated with the configuration (no TLS only to a loopback relay).
    let builder = match c.security {
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&c.smtp_host)
            .map_err(|e| format!("email relay: {e}"))?,
        SmtpSecurity::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.smtp_host)
                .map_err(|e| format!("email relay: {e}"))?
        }
        SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.smtp_host),
    };
    let port = c.port.unwrap_or(match c.security {
        SmtpSecurity::Tls => 465,
        SmtpSecurity::Starttls => 587,
        SmtpSecurity::None => 25,
    });
    let mut builder = builder.port(port).timeout(Some(Duration::from_secs(10)));
    if let (Some(user), Some(var)) = (&c.username, &c.password_env) {
        let password = std::env::var(var)
            .map_err(|_| format!("email channel: environment variable `{var}` is not set"))?;
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    let mut message = Message::builder()
        .from(c.from.parse().map_err(|e| format!("email from: {e}"))?)
        .subject(format!(
            "[medspace] abnormal access: {} {} ({})",
            alert.severity, alert.rule, alert.id
        ));
    for t in &c.to {
        message = message.to(t.parse().map_err(|e| format!("email to: {e}"))?);
    }
    let body = format!(
        "{text}\n\n{}\n",
        serde_json::to_string_pretty(alert).map_err(|e| format!("alert body: {e}"))?
    );
    let message = message
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| format!("email message: {e}"))?;
    builder
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("email: {e}"))
}

/// `[anomaly]` in medspace.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalySettings {
    /// First local hour of normal working time (0–23).
    pub work_hours_start: u8,
    /// Local hour at which normal working time ends (1–24).
    pub work_hours_end: u8,
    /// Severity of an access outside working hours.
    pub off_hours_severity: Severity,
    /// Severity of an access from outside the internal networks.
    pub outside_network_severity: Severity,
    /// More record reads than this by one account within a minute is high-frequency access.
    pub max_reads_per_minute: usize,
    /// Severity of high-frequency access.
    pub high_frequency_severity: Severity,
    /// More distinct patients than this read by one account within an hour is bulk access.
    pub max_patients_per_hour: usize,
    /// More records than this returned by one call is bulk access.
    pub max_records_per_call: usize,
    /// Severity of bulk access.
    pub bulk_severity: Severity,
    /// Severity of a break-glass (emergency) access.
    pub break_glass_severity: Severity,
    /// At or above this severity the account is locked at once (default `high`).
    pub lock_at: Option<Severity>,
    /// Channels alerts are sent to.
    pub channels: Vec<ChannelSettings>,
}

impl Default for AnomalySettings {
    fn default() -> Self {
        AnomalySettings {
            work_hours_start: 7,
            work_hours_end: 20,
            off_hours_severity: Severity::Medium,
            outside_network_severity: Severity::Medium,
            max_reads_per_minute: 30,
            high_frequency_severity: Severity::High,
            max_patients_per_hour: 60,
            max_records_per_call: 500,
            bulk_severity: Severity::High,
            break_glass_severity: Severity::Medium,
            lock_at: Some(Severity::High),
            channels: vec![ChannelSettings::Log],
        }
    }
}

impl AnomalySettings {
    /// Whether these are the defaults (the section is then left out of a written config).
    pub fn is_default(&self) -> bool {
        *self == AnomalySettings::default()
    }

    /// Checks ranges and channel addresses.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ServiceError::Config(format!("[anomaly] {m}")));
        if self.work_hours_start > 23
            || self.work_hours_end == 0
            || self.work_hours_end > 24
            || self.work_hours_start >= self.work_hours_end
        {
            return bad(format!(
                "work_hours_start ({}) must be below work_hours_end ({}), within 0-24",
                self.work_hours_start, self.work_hours_end
            ));
        }
        if self.max_reads_per_minute == 0
            || self.max_patients_per_hour == 0
            || self.max_records_per_call == 0
        {
            return bad("max_reads_per_minute, max_patients_per_hour and max_records_per_call must be at least 1".into());
        }
        for c in &self.channels {
            match c {
                ChannelSettings::Webhook { url } => {
                    webhook_url(url).map_err(|m| ServiceError::Config(format!("[anomaly] {m}")))?;
                }
                ChannelSettings::Sms { to } => {
                    if to.is_empty()
                        || to
                            .iter()
                            .any(|m| medspace_validators::phone::normalize_mobile(m).is_none())
                    {
                        return bad(
                            "an sms channel needs `to`: one or more mainland mobile numbers".into(),
                        );
                    }
                }
                ChannelSettings::Email(e) => {
                    e.validate()
                        .map_err(|m| ServiceError::Config(format!("[anomaly] {m}")))?;
                }
                ChannelSettings::Log => {}
            }
        }
        Ok(())
    }
}

/// Checks a webhook URL: HTTPS, or HTTP to a loopback address.
fn webhook_url(url: &str) -> std::result::Result<reqwest::Url, String> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| format!("webhook url `{url}` is not a URL ({e})"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(format!(
            "webhook url `{url}` must use https (plain http only to a loopback address)"
        )),
    }
}

/// One access as the rules see it.
#[derive(Debug, Clone)]
pub struct Observation<'a> {
    /// The caller.
    pub caller: &'a Caller,
    /// When.
    pub at: DateTime<Utc>,
    /// Local hour of the access.
    pub local_hour: u8,
    /// From inside the internal networks.
    pub internal: bool,
    /// Patient pseudonym.
    pub patient_key: &'a str,
    /// Records returned.
    pub records: usize,
    /// A break-glass access.
    pub emergency: bool,
    /// The stated purpose.
    pub purpose: &'a str,
}

/// A rule that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Rule name.
    pub rule: &'static str,
    /// Severity.
    pub severity: Severity,
    /// What exactly (non-personal).
    pub detail: Value,
}

/// An account's recent reads: when, and which patient (pseudonym).
type ReadLog = VecDeque<(DateTime<Utc>, String)>;

/// Per-account history the frequency and volume rules need (one node process).
#[derive(Debug, Default)]
pub(crate) struct AccessWindow {
    reads: Mutex<HashMap<String, ReadLog>>,
}

impl AccessWindow {
    /// Records a read and returns (reads within the last minute, distinct patients within the
    /// last hour), this one included.
    fn note(&self, user: &str, at: DateTime<Utc>, patient: &str) -> (usize, usize) {
        let mut all = self
            .reads
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let q = all.entry(user.to_string()).or_default();
        q.push_back((at, patient.to_string()));
        let hour_ago = at - chrono::Duration::hours(1);
        while q.front().is_some_and(|(t, _)| *t < hour_ago) {
            q.pop_front();
        }
        let minute_ago = at - chrono::Duration::minutes(1);
        let per_minute = q.iter().filter(|(t, _)| *t >= minute_ago).count();
        let patients: HashSet<&str> = q.iter().map(|(_, p)| p.as_str()).collect();
        (per_minute, patients.len())
    }
}

/// The rules: which fired for this access, given the counts of the window.
pub fn evaluate(
    s: &AnomalySettings,
    o: &Observation<'_>,
    reads_last_minute: usize,
    patients_last_hour: usize,
) -> Vec<Finding> {
    let mut out = Vec::new();
    if o.local_hour < s.work_hours_start || o.local_hour >= s.work_hours_end {
        out.push(Finding {
            rule: "off_hours",
            severity: s.off_hours_severity,
            detail: json!({"local_hour": o.local_hour,
                           "work_hours": [s.work_hours_start, s.work_hours_end]}),
        });
    }
    if !o.internal {
        out.push(Finding {
            rule: "outside_network",
            severity: s.outside_network_severity,
            detail: json!({}),
        });
    }
    if reads_last_minute > s.max_reads_per_minute {
        out.push(Finding {
            rule: "high_frequency",
            severity: s.high_frequency_severity,
            detail: json!({"reads_last_minute": reads_last_minute,
                           "threshold": s.max_reads_per_minute}),
        });
    }
    if patients_last_hour > s.max_patients_per_hour || o.records > s.max_records_per_call {
        out.push(Finding {
            rule: "bulk",
            severity: s.bulk_severity,
            detail: json!({"patients_last_hour": patients_last_hour,
                           "records_this_call": o.records,
                           "thresholds": {"patients_per_hour": s.max_patients_per_hour,
                                          "records_per_call": s.max_records_per_call}}),
        });
    }
    if o.emergency {
        out.push(Finding {
            rule: "break_glass",
            severity: s.break_glass_severity,
            detail: json!({"queued_for_review": true}),
        });
    }
    out
}

/// An alert as shown to the security officer and sent to channels.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertView {
    /// Id.
    pub id: String,
    /// Account.
    pub user_id: String,
    /// Rule.
    pub rule: String,
    /// Severity.
    pub severity: String,
    /// Network address.
    pub address: Option<String>,
    /// What was accessed and why the rule fired.
    pub detail: Value,
    /// When.
    pub raised_at: DateTime<Utc>,
    /// `open` or `reviewed`.
    pub status: String,
    /// Reviewer.
    pub reviewed_by: Option<String>,
    /// Review time.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Review note.
    pub review_note: Option<String>,
}

impl From<AlertRow> for AlertView {
    fn from(a: AlertRow) -> Self {
        AlertView {
            detail: serde_json::from_str(&a.detail).unwrap_or(Value::Null),
            id: a.id,
            user_id: a.user_id,
            rule: a.rule,
            severity: a.severity,
            address: a.address,
            raised_at: a.raised_at,
            status: a.status,
            reviewed_by: a.reviewed_by,
            reviewed_at: a.reviewed_at,
            review_note: a.review_note,
        }
    }
}

/// What the watch decided for one access.
#[derive(Debug, Clone, Default)]
pub struct WatchOutcome {
    /// Alerts raised.
    pub alerts: Vec<AlertView>,
    /// The account was locked.
    pub locked: bool,
}

impl Node {
    /// Applies the abnormal-access rules to one access: stores and sends an alert per rule that
    /// fired and locks the account when one reaches `lock_at` (its sessions end).
    pub(crate) async fn watch_access(&self, o: &Observation<'_>) -> Result<WatchOutcome> {
        let s = &self.config.anomaly;
        let (per_minute, patients) = self.access_window.note(o.caller.id(), o.at, o.patient_key);
        let findings = evaluate(s, o, per_minute, patients);
        let mut outcome = WatchOutcome::default();
        for f in &findings {
            let detail = json!({
                "rule": f.detail,
                "patient": o.patient_key,
                "records": o.records,
                "purpose": o.purpose,
                "action": "patient.records.read",
            });
            let row = AlertRow {
                id: new_id("alr"),
                user_id: o.caller.id().to_string(),
                rule: f.rule.to_string(),
                severity: f.severity.as_str().to_string(),
                address: o.caller.address.map(|a| a.to_string()),
                detail: detail.to_string(),
                raised_at: o.at,
                status: "open".into(),
                reviewed_by: None,
                reviewed_at: None,
                review_note: None,
            };
            let event = crate::node::system_event("alert.raise", &row.id).with_detail(json!({
                "user": row.user_id, "rule": row.rule, "severity": row.severity,
                "address": row.address, "detail": detail,
            }));
            self.store.insert_alert(&row, &event).await?;
            let view = AlertView::from(row);
            self.send_alert(&view).await?;
            outcome.alerts.push(view);
        }
        let worst = findings.iter().map(|f| f.severity).max();
        if let (Some(worst), Some(lock_at)) = (worst, s.lock_at) {
            if worst >= lock_at {
                let event = crate::node::system_event("account.lock", o.caller.id())
                    .with_detail(json!({
                        "reason": "abnormal access",
                        "rules": findings.iter().filter(|f| f.severity >= lock_at).map(|f| f.rule).collect::<Vec<_>>(),
                        "alerts": outcome.alerts.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
                    }));
                self.store.lock_account(o.caller.id(), o.at, &event).await?;
                outcome.locked = true;
            }
        }
        Ok(outcome)
    }

    async fn send_alert(&self, alert: &AlertView) -> Result<()> {
        for channel in &self.config.anomaly.channels {
            let (name, sent) = match channel {
                ChannelSettings::Log => {
                    tracing::warn!(
                        alert = %alert.id, user = %alert.user_id, rule = %alert.rule,
                        severity = %alert.severity,
                        address = alert.address.as_deref().unwrap_or("-"),
                        "abnormal access"
                    );
                    ("log", Ok(()))
                }
                ChannelSettings::Webhook { url } => ("webhook", post_webhook(url, alert).await),
                ChannelSettings::Sms { to } => {
                    let text = alert_text(alert);
                    let sent = to.iter().try_for_each(|m| self.sms.send(m, &text));
                    ("sms", sent)
                }
                ChannelSettings::Email(e) => {
                    ("email", send_email(e, alert, &alert_text(alert)).await)
                }
            };
            if let Err(e) = sent {
                // The alert is stored and stays open; the failed delivery is on record.
                self.audit(
                    crate::node::system_event("alert.send", &alert.id)
                        .with_detail(json!({"channel": name, "error": e})),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Alerts, newest first (security officers and auditors).
    pub async fn alerts(&self, caller: &Caller, open_only: bool) -> Result<Vec<AlertView>> {
        self.require(caller, Action::ViewAlerts).await?;
        let rows = self.store.alerts(open_only, 1000).await?;
        self.audit(
            caller
                .event("alert.list", "alerts", Outcome::Success)
                .with_detail(json!({"open_only": open_only, "returned": rows.len()})),
        )
        .await?;
        Ok(rows.into_iter().map(AlertView::from).collect())
    }

    /// Closes an alert with a review note (security officers).
    pub async fn review_alert(&self, caller: &Caller, id: &str, note: &str) -> Result<()> {
        self.require(caller, Action::ReviewAlerts).await?;
        if note.trim().is_empty() {
            return Err(ServiceError::BadRequest(
                "note: a review states what was found".into(),
            ));
        }
        let event = caller
            .event("alert.review", id, Outcome::Success)
            .with_detail(json!({"note": note}));
        self.store
            .review_alert(id, caller.id(), Utc::now(), note, &event)
            .await?;
        Ok(())
    }
}

/// The short text of an alert (SMS, e-mail): rule, severity, account, address and time.
fn alert_text(alert: &AlertView) -> String {
    format!(
        "【medspace】异常访问告警 {} {}: 账号 {}，地址 {}，时间 {}，告警 {}",
        alert.severity,
        alert.rule,
        alert.user_id,
        alert.address.as_deref().unwrap_or("-"),
        alert.raised_at.format("%Y-%m-%d %H:%M:%S UTC"),
        alert.id
    )
}

/// Sends one alert to a webhook (TLS 1.2 or later); the error text names no personal data.
async fn post_webhook(url: &str, alert: &AlertView) -> std::result::Result<(), String> {
    let url = webhook_url(url)?;
    let client = reqwest::Client::builder()
        .min_tls_version(reqwest::tls::Version::TLS_1_2)
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("webhook client: {e}"))?;
    let body = serde_json::to_vec(alert).map_err(|e| format!("alert body: {e}"))?;
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("webhook: {e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("webhook answered {}", resp.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medspace_core::{Role, User};

    fn caller() -> Caller {
        Caller {
            user: User {
                id: "u-1".into(),
                username: "doc".into(),
                role: Role::Clinician,
                password_hash: String::new(),
                must_change_password: false,
                failed_logins: 0,
                locked: false,
                disabled: false,
                created_at: Utc::now(),
            },
            token_hash: String::new(),
            address: None,
            must_enrol_second_factor: false,
        }
    }

    #[test]
    fn each_rule_fires_on_its_threshold_only() {
        let s = AnomalySettings::default();
        let c = caller();
        let mut o = Observation {
            caller: &c,
            at: Utc::now(),
            local_hour: 10,
            internal: true,
            patient_key: "sp:1",
            records: 3,
            emergency: false,
            purpose: "treatment",
        };
        assert!(evaluate(&s, &o, 30, 60).is_empty());
        let rules = |f: Vec<Finding>| f.iter().map(|f| f.rule).collect::<Vec<_>>();
        assert_eq!(rules(evaluate(&s, &o, 31, 1)), ["high_frequency"]);
        assert_eq!(rules(evaluate(&s, &o, 1, 61)), ["bulk"]);
        o.records = 501;
        assert_eq!(rules(evaluate(&s, &o, 1, 1)), ["bulk"]);
        o.records = 1;
        o.local_hour = 6;
        assert_eq!(rules(evaluate(&s, &o, 1, 1)), ["off_hours"]);
        o.local_hour = 20;
        assert_eq!(rules(evaluate(&s, &o, 1, 1)), ["off_hours"]);
        o.local_hour = 19;
        o.internal = false;
        o.emergency = true;
        assert_eq!(
            rules(evaluate(&s, &o, 1, 1)),
            ["outside_network", "break_glass"]
        );
    }

    #[test]
    fn the_window_counts_reads_per_minute_and_patients_per_hour() {
        let w = AccessWindow::default();
        let t0 = Utc::now();
        assert_eq!(w.note("u", t0, "a"), (1, 1));
        assert_eq!(w.note("u", t0, "a"), (2, 1));
        assert_eq!(w.note("u", t0 + chrono::Duration::seconds(61), "b"), (1, 2));
        assert_eq!(w.note("u", t0 + chrono::Duration::minutes(61), "c"), (1, 2));
        assert_eq!(w.note("other", t0, "a"), (1, 1));
    }

    #[test]
    fn settings_are_checked() {
        let mut s = AnomalySettings::default();
        s.validate().unwrap();
        s.work_hours_start = 20;
        assert!(s.validate().is_err());
        s = AnomalySettings::default();
        s.channels = vec![ChannelSettings::Webhook {
            url: "http://alerts.example/hook".into(),
        }];
        assert!(s.validate().unwrap_err().to_string().contains("https"));
        s.channels = vec![ChannelSettings::Webhook {
            url: "http://127.0.0.1:9/hook".into(),
        }];
        s.validate().unwrap();
        let email = |host: &str, security: SmtpSecurity| {
            ChannelSettings::Email(EmailChannel {
                smtp_host: host.into(),
                port: None,
                security,
                from: "medspace@hospital.example".into(),
                to: vec!["secops@hospital.example".into()],
                username: None,
                password_env: None,
            })
        };
        s.channels = vec![email("smtp.hospital.example", SmtpSecurity::None)];
        assert!(s.validate().unwrap_err().to_string().contains("loopback"));
        s.channels = vec![email("127.0.0.1", SmtpSecurity::None)];
        s.validate().unwrap();
        s.channels = vec![email("smtp.hospital.example", SmtpSecurity::Starttls)];
        s.validate().unwrap();
        let ChannelSettings::Email(mut e) = email("smtp.hospital.example", SmtpSecurity::Tls)
        else {
            unreachable!()
        };
        e.to = vec!["not an address".into()];
        s.channels = vec![ChannelSettings::Email(e.clone())];
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("not an address"));
        e.to = vec!["secops@hospital.example".into()];
        e.username = Some("medspace".into());
        s.channels = vec![ChannelSettings::Email(e)];
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("password_env"));
        // The TOML form.
        let parsed: AnomalySettings = toml::from_str(
            "[[channels]]\nkind = \"email\"\nsmtp_host = \"127.0.0.1\"\nport = 2525\nsecurity = \"none\"\n\
             from = \"medspace@hospital.example\"\nto = [\"secops@hospital.example\"]\n",
        )
        .unwrap();
        parsed.validate().unwrap();
        assert!(matches!(&parsed.channels[0], ChannelSettings::Email(e) if e.port == Some(2525)));
    }
}
