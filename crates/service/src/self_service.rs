//! Patient self-service — GB/T 39725-2020 §7 d) (the subject reads own data), §7 e) (obtains a
//! copy), §7 f) (asks for correction), §7 g) (the history of uses and disclosures over six
//! years), §7 h) (asks for a restriction), §11.2.2.1 (login by mobile number and a one-time code;
//! guardians act for children), §11.2.2.2 (own records of the last three months by default; HIV,
//! hepatitis and syphilis results are not shown online), §11.2.2.3 (a download carries a security
//! notice).
//!
//! A security officer creates a patient's account from the patient id and a mobile number; both
//! are kept only as keyed pseudonyms. The patient asks for a code (sent through the configured
//! [`SmsGateway`]; the demo's gateway writes it to the node's log) and logs in with it; the code is
//! stored as a hash, expires, and allows a limited number of attempts. Reads go through the same
//! Cedar decision as doctors' (`subject-own-records`), with the caller's `patient` attribute.

use std::fmt::Debug;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use medspace_core::{new_id, AuditEvent, EntityKind, EntityRef, Outcome, Role, User};
use medspace_store::{PatientAccountRow, SmsCodeRow, SubjectRequestRow};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access::{Action, Caller};
use crate::accounts::LoginOutcome;
use crate::error::{Result, ServiceError};
use crate::patients::{PatientRecords, RecordQuery};
use crate::Node;

/// Sends text messages. Implementations must not log the number in clear.
pub trait SmsGateway: Send + Sync + Debug {
    /// Sends `message` to the mainland mobile number `mobile`; the error names no number.
    fn send(&self, mobile: &str, message: &str) -> std::result::Result<(), String>;
}

/// The demo gateway: writes the message to the node's log with the number masked.
#[derive(Debug, Default)]
pub struct LogSmsGateway;

impl SmsGateway for LogSmsGateway {
    fn send(&self, mobile: &str, message: &str) -> std::result::Result<(), String> {
        tracing::info!(
            to = %crate::patients::mask_for_display(mobile),
            "SMS (log gateway): {message}"
        );
        Ok(())
    }
}

/// `[patients]` in medspace.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PatientSettings {
    /// Seconds a login code stays valid.
    pub code_seconds: i64,
    /// Wrong codes allowed before the code is void.
    pub max_code_attempts: i64,
    /// Months of records a patient sees by default (§11.2.2.2: 3).
    pub self_query_months: i64,
}

impl Default for PatientSettings {
    fn default() -> Self {
        PatientSettings {
            code_seconds: 300,
            max_code_attempts: 5,
            self_query_months: 3,
        }
    }
}

impl PatientSettings {
    /// Whether these are the defaults.
    pub fn is_default(&self) -> bool {
        *self == PatientSettings::default()
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        if !(60..=3600).contains(&self.code_seconds)
            || !(1..=10).contains(&self.max_code_attempts)
            || !(1..=120).contains(&self.self_query_months)
        {
            return Err(ServiceError::Config(
                "[patients] code_seconds must be 60-3600, max_code_attempts 1-10, \
                 self_query_months 1-120"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// The security notice shown with every download (§11.2.2.3).
pub const DOWNLOAD_NOTICE: &str = "本文件含有您的个人健康医疗信息，请妥善保管，切勿转发或公开；\
     因您保管不当造成的信息泄露由您自行负责。This file holds your personal health information: keep \
     it safe and do not forward or publish it.";

/// A patient's download: the records and the notice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordDownload {
    /// The security notice (§11.2.2.3).
    pub notice: String,
    /// When the copy was made.
    pub generated_at: DateTime<Utc>,
    /// The records.
    pub records: PatientRecords,
}

/// A correction or restriction request as the officer sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubjectRequestView {
    /// Id.
    pub id: String,
    /// Filing account.
    pub user_id: String,
    /// Patient pseudonym.
    pub patient: String,
    /// `correction` or `restriction`.
    pub kind: String,
    /// The request text.
    pub text: String,
    /// `open`, `accepted` or `declined`.
    pub status: String,
    /// Filed.
    pub created_at: DateTime<Utc>,
    /// Resolution.
    pub resolution: Option<String>,
}

fn normalized_mobile(mobile: &str) -> Result<String> {
    medspace_validators::phone::normalize_mobile(mobile).ok_or_else(|| {
        ServiceError::BadRequest("mobile: expected a mainland mobile number (11 digits)".into())
    })
}

fn code_hash(mobile_key: &str, code: &str) -> String {
    medspace_crypto::sha256_hex(format!("medspace/sms-code/v1\0{mobile_key}\0{code}").as_bytes())
}

impl Node {
    /// Uses `gateway` for login codes (a real SMS provider, or a test double).
    pub fn set_sms_gateway(&mut self, gateway: Arc<dyn SmsGateway>) {
        self.sms = gateway;
    }

    async fn mobile_key(&self, mobile: &str) -> Result<String> {
        let m = normalized_mobile(mobile)?;
        self.subject_pseudonymizer()
            .await?
            .pseudonym(&format!("tel:{m}"))
            .ok_or_else(|| ServiceError::BadRequest("mobile: empty".into()))
    }

    /// Creates a patient's self-service account (security officers). Returns the account id.
    pub async fn create_patient_account(
        &self,
        caller: &Caller,
        patient_id: &str,
        mobile: &str,
    ) -> Result<String> {
        self.require(caller, Action::ManagePatientAccounts).await?;
        let mobile_key = self.mobile_key(mobile).await?;
        let patient_key = self.patient_key(patient_id).await?;
        let id = new_id("u");
        // Patients log in only with SMS codes: the password is random and never shown.
        let user = User {
            id: id.clone(),
            username: format!("patient-{}", &id[2..14.min(id.len())]),
            role: Role::Patient,
            password_hash: crate::accounts::hash_password(&medspace_crypto::random_token())?,
            must_change_password: false,
            failed_logins: 0,
            locked: false,
            disabled: false,
            created_at: Utc::now(),
        };
        let mut event = caller
            .event("patient.account.create", &id, Outcome::Success)
            .with_detail(json!({"mobile": mobile_key}));
        event
            .context_mut()
            .entities
            .push(EntityRef::new(EntityKind::Subject, patient_key.clone()));
        self.store
            .insert_patient_account(
                &user,
                &PatientAccountRow {
                    user_id: id.clone(),
                    mobile_key,
                    patient_key,
                    created_by: caller.id().to_string(),
                    created_at: user.created_at,
                },
                &event,
            )
            .await?;
        Ok(id)
    }

    /// Links a guardian's patient account to a child's (or ward's) records (security officers).
    pub async fn link_guardian(
        &self,
        caller: &Caller,
        guardian_user_id: &str,
        patient_id: &str,
    ) -> Result<()> {
        self.require(caller, Action::ManagePatientAccounts).await?;
        if self
            .store
            .patient_account(guardian_user_id)
            .await?
            .is_none()
        {
            return Err(ServiceError::NotFound(format!(
                "patient account `{guardian_user_id}`"
            )));
        }
        let patient_key = self.patient_key(patient_id).await?;
        let mut event = caller
            .event("patient.guardian.link", guardian_user_id, Outcome::Success)
            .with_detail(json!({}));
        event
            .context_mut()
            .entities
            .push(EntityRef::new(EntityKind::Subject, patient_key.clone()));
        self.store
            .insert_guardian(
                guardian_user_id,
                &patient_key,
                caller.id(),
                Utc::now(),
                &event,
            )
            .await?;
        Ok(())
    }

    /// Sends a login code to a registered mobile number. The answer is the same whether or not
    /// the number is registered (no account discovery); both cases are audited by pseudonym.
    pub async fn send_login_code(&self, mobile: &str) -> Result<()> {
        let mobile_key = self.mobile_key(mobile).await?;
        let Some(account) = self.store.patient_account_by_mobile(&mobile_key).await? else {
            self.audit(
                AuditEvent::new(
                    "anonymous",
                    "patient.login.code",
                    "patient-login",
                    Outcome::Denied,
                )
                .with_detail(json!({"mobile": mobile_key, "reason": "no account"})),
            )
            .await?;
            return Ok(());
        };
        let code = format!("{:06}", rand::random::<u32>() % 1_000_000);
        let settings = &self.config.patients;
        let row = SmsCodeRow {
            mobile_key: mobile_key.clone(),
            code_hash: code_hash(&mobile_key, &code),
            expires_at: Utc::now() + Duration::seconds(settings.code_seconds),
            attempts: 0,
        };
        let event = AuditEvent::new(
            &account.user_id,
            "patient.login.code",
            &account.user_id,
            Outcome::Success,
        )
        .with_detail(json!({"mobile": mobile_key, "expires_at": row.expires_at}));
        self.store.put_sms_code(&row, &event).await?;
        let m = normalized_mobile(mobile)?;
        self.sms
            .send(
                &m,
                &format!(
                    "【medspace】您的登录验证码为 {code}，{} 分钟内有效，请勿告诉他人。",
                    settings.code_seconds / 60
                ),
            )
            .map_err(|e| ServiceError::Internal(format!("SMS gateway: {e}")))?;
        Ok(())
    }

    /// Logs a patient in with the code sent to their mobile number.
    pub async fn login_with_sms_code(
        &self,
        mobile: &str,
        code: &str,
        address: Option<std::net::IpAddr>,
    ) -> Result<LoginOutcome> {
        let refused = || ServiceError::Unauthenticated("wrong or expired code".into());
        let mobile_key = self.mobile_key(mobile).await?;
        let account = self.store.patient_account_by_mobile(&mobile_key).await?;
        let pending = self.store.sms_code(&mobile_key).await?;
        let (Some(account), Some(pending)) = (account, pending) else {
            self.audit(
                AuditEvent::new(
                    "anonymous",
                    "patient.login",
                    "patient-login",
                    Outcome::Denied,
                )
                .with_detail(json!({"mobile": mobile_key, "reason": "no pending code"})),
            )
            .await?;
            return Err(refused());
        };
        let settings = &self.config.patients;
        let expired = Utc::now() >= pending.expires_at;
        let exhausted = pending.attempts >= settings.max_code_attempts;
        // Hashes are compared, not codes: timing reveals nothing about the code itself.
        let matches = pending.code_hash == code_hash(&mobile_key, code.trim());
        if expired || exhausted || !matches {
            if expired || exhausted {
                self.store.delete_sms_code(&mobile_key).await?;
            } else {
                self.store.bump_sms_attempts(&mobile_key).await?;
            }
            self.audit(
                AuditEvent::new(
                    &account.user_id,
                    "patient.login",
                    &account.user_id,
                    Outcome::Denied,
                )
                .with_detail(json!({"reason": if expired { "expired" } else if exhausted { "too many attempts" } else { "wrong code" }})),
            )
            .await?;
            return Err(refused());
        }
        self.store.delete_sms_code(&mobile_key).await?;
        let user = self
            .store
            .user_by_id(&account.user_id)
            .await?
            .ok_or_else(|| ServiceError::Internal("patient account without user".into()))?;
        if user.locked || user.disabled {
            // A refused login is on record like any other (GB/T 39725-2020 §11.1.2.4).
            self.audit(
                AuditEvent::new(
                    &account.user_id,
                    "patient.login",
                    &account.user_id,
                    Outcome::Denied,
                )
                .with_detail(json!({"reason": if user.locked { "locked" } else { "disabled" }})),
            )
            .await?;
            return Err(ServiceError::Unauthenticated(
                "account is locked or disabled".into(),
            ));
        }
        self.start_session(user, address, true, false).await
    }

    async fn own_patient_key(&self, caller: &Caller, for_patient: Option<&str>) -> Result<String> {
        let account = self
            .store
            .patient_account(caller.id())
            .await?
            .ok_or_else(|| ServiceError::Forbidden("not a patient account".into()))?;
        match for_patient {
            None => Ok(account.patient_key),
            Some(other) => {
                let key = self.patient_key(other).await?;
                if key == account.patient_key
                    || self.store.wards_of(caller.id()).await?.contains(&key)
                {
                    Ok(key)
                } else {
                    Err(ServiceError::Forbidden(
                        "this account does not act for that patient".into(),
                    ))
                }
            }
        }
    }

    /// A patient's own records (or a ward's, for a linked guardian): the last
    /// `self_query_months` by default, without HIV, hepatitis and syphilis results (§11.2.2.2).
    pub async fn my_records(
        &self,
        caller: &Caller,
        for_patient: Option<&str>,
        since: Option<DateTime<Utc>>,
    ) -> Result<PatientRecords> {
        Ok(self.own_records(caller, for_patient, since).await?.0)
    }

    /// The records of [`Node::my_records`] and the patient's pseudonym.
    async fn own_records(
        &self,
        caller: &Caller,
        for_patient: Option<&str>,
        since: Option<DateTime<Utc>>,
    ) -> Result<(PatientRecords, String)> {
        self.require(caller, Action::SelfService).await?;
        let patient_key = self.own_patient_key(caller, for_patient).await?;
        let since = since.unwrap_or_else(|| {
            Utc::now() - Duration::days(30 * self.config.patients.self_query_months)
        });
        let records = self
            .records_of_key(
                caller,
                &patient_key,
                &RecordQuery {
                    purpose: Some("self_service".into()),
                    emergency: false,
                    reason: None,
                },
                Some(since),
                true,
            )
            .await?;
        Ok((records, patient_key))
    }

    /// A copy of the patient's own records with the security notice (§7 e), §11.2.2.3); audited
    /// as a download.
    pub async fn download_my_records(
        &self,
        caller: &Caller,
        for_patient: Option<&str>,
        since: Option<DateTime<Utc>>,
    ) -> Result<RecordDownload> {
        let (records, patient_key) = self.own_records(caller, for_patient, since).await?;
        let mut event = caller
            .event("patient.records.download", &patient_key, Outcome::Success)
            .with_detail(json!({
                "records": records.records.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
                "notice_shown": true,
            }));
        event
            .context_mut()
            .entities
            .push(EntityRef::new(EntityKind::Subject, patient_key));
        self.audit(event).await?;
        Ok(RecordDownload {
            notice: DOWNLOAD_NOTICE.to_string(),
            generated_at: Utc::now(),
            records,
        })
    }

    /// Every use or disclosure of the patient's data over six years, with inclusion proofs
    /// (§7 g)), for the patient or a linked guardian.
    pub async fn my_disclosures(
        &self,
        caller: &Caller,
        for_patient: Option<&str>,
    ) -> Result<crate::audit_query::SubjectHistory> {
        self.require(caller, Action::SelfService).await?;
        let patient_key = self.own_patient_key(caller, for_patient).await?;
        self.subject_history_of(caller, vec![patient_key]).await
    }

    /// The patient chooses an account name and a password (§11.2.2.1): afterwards they may also
    /// log in with them at `/api/v1/auth/login`, under the same complexity, history and maximum-age
    /// rules as staff (§11.2.2.1: periodic change). The SMS login keeps working.
    pub async fn set_patient_credentials(
        &self,
        caller: &Caller,
        username: Option<&str>,
        password: &str,
    ) -> Result<()> {
        self.require(caller, Action::SelfService).await?;
        if let Some(name) = username {
            let ok = (3..=64).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
            if !ok {
                return Err(ServiceError::BadRequest(
                    "username: 3 to 64 characters of a-z, A-Z, 0-9, '.', '_' or '-'".into(),
                ));
            }
        }
        if let Err(e) = self.check_new_password(caller, password).await {
            self.audit(
                caller
                    .event("account.password.change", caller.id(), Outcome::Denied)
                    .with_detail(json!({"reason": e.to_string()})),
            )
            .await?;
            return Err(e);
        }
        if let Some(name) = username {
            self.store
                .set_username(
                    caller.id(),
                    name,
                    &caller.event("account.username.change", caller.id(), Outcome::Success),
                )
                .await?;
        }
        let p = password.to_string();
        let hash =
            tokio::task::spawn_blocking(move || crate::accounts::hash_password(&p)).await??;
        self.store
            .change_password_hash(
                caller.id(),
                &hash,
                false,
                Utc::now(),
                &caller.event("account.password.change", caller.id(), Outcome::Success),
            )
            .await?;
        Ok(())
    }

    /// Files a correction (§7 f)) or restriction (§7 h)) request into the officers' queue.
    pub async fn file_subject_request(
        &self,
        caller: &Caller,
        kind: &str,
        text: &str,
    ) -> Result<String> {
        self.require(caller, Action::SelfService).await?;
        if !["correction", "restriction"].contains(&kind) {
            return Err(ServiceError::BadRequest(
                "kind: expected correction or restriction".into(),
            ));
        }
        if text.trim().is_empty() || text.len() > 4000 {
            return Err(ServiceError::BadRequest(
                "text: say what should change (at most 4,000 bytes)".into(),
            ));
        }
        let patient_key = self.own_patient_key(caller, None).await?;
        let id = new_id("sr");
        let sealed = medspace_crypto::encrypt_bytes_with(
            self.profile,
            &self.project_key("node", "subject-requests").await?,
            id.as_bytes(),
            text.trim().as_bytes(),
        )?;
        let mut event = caller
            .event("patient.request.create", &id, Outcome::Success)
            .with_detail(json!({"kind": kind}));
        event
            .context_mut()
            .entities
            .push(EntityRef::new(EntityKind::Subject, patient_key.clone()));
        self.store
            .insert_subject_request(
                &SubjectRequestRow {
                    id: id.clone(),
                    user_id: caller.id().to_string(),
                    patient_key,
                    kind: kind.to_string(),
                    sealed,
                    status: "open".into(),
                    created_at: Utc::now(),
                    resolved_by: None,
                    resolved_at: None,
                    resolution: None,
                },
                &event,
            )
            .await?;
        Ok(id)
    }

    /// The work queue of correction and restriction requests (security officers).
    pub async fn subject_requests(
        &self,
        caller: &Caller,
        open_only: bool,
    ) -> Result<Vec<SubjectRequestView>> {
        self.require(caller, Action::ManagePatientAccounts).await?;
        let key = self.project_key("node", "subject-requests").await?;
        let rows = self.store.subject_requests(open_only).await?;
        self.audit(
            caller
                .event("patient.request.list", "subject-requests", Outcome::Success)
                .with_detail(json!({"returned": rows.len()})),
        )
        .await?;
        rows.into_iter()
            .map(|r| {
                let text = medspace_crypto::decrypt_bytes(&key, r.id.as_bytes(), &r.sealed)?;
                Ok(SubjectRequestView {
                    text: String::from_utf8_lossy(&text).into_owned(),
                    id: r.id,
                    user_id: r.user_id,
                    patient: r.patient_key,
                    kind: r.kind,
                    status: r.status,
                    created_at: r.created_at,
                    resolution: r.resolution,
                })
            })
            .collect()
    }

    /// Accepts or declines a request with what was done (security officers).
    pub async fn resolve_subject_request(
        &self,
        caller: &Caller,
        id: &str,
        accept: bool,
        resolution: &str,
    ) -> Result<()> {
        self.require(caller, Action::ManagePatientAccounts).await?;
        if resolution.trim().is_empty() {
            return Err(ServiceError::BadRequest(
                "resolution: say what was done".into(),
            ));
        }
        let status = if accept { "accepted" } else { "declined" };
        let event = caller
            .event("patient.request.resolve", id, Outcome::Success)
            // The resolution may quote the record; it stays in the queue, not in the log.
            .with_detail(json!({"status": status, "resolution_bytes": resolution.trim().len()}));
        self.store
            .resolve_subject_request(
                id,
                status,
                caller.id(),
                Utc::now(),
                resolution.trim(),
                &event,
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_bound_to_the_number() {
        assert_ne!(code_hash("sp:a", "123456"), code_hash("sp:b", "123456"));
        assert_eq!(code_hash("sp:a", "123456"), code_hash("sp:a", "123456"));
        assert!(normalized_mobile("12").is_err());
        assert_eq!(normalized_mobile("138 1234 5678").unwrap(), "13812345678");
    }

    #[test]
    fn settings_are_checked() {
        PatientSettings::default().validate().unwrap();
        let s = PatientSettings {
            code_seconds: 5,
            ..PatientSettings::default()
        };
        assert!(s.validate().is_err());
    }
}
