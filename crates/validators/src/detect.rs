//! Which validators accept a value, with a confidence, for the column classifier
//! (GB/T 39725-2020 §5 identification of personal information; T/CI 857-2024 identifier
//! discovery).
//!
//! [`detect`] runs every validator of this crate on the trimmed value and returns the kinds that
//! accept it, best first. Confidences are fixed per rule (not learned): a check character that
//! matches (GB 11643 MOD 11-2, GB 32100 MOD 31, Luhn) earns the highest scores, strong
//! structures (prefix letters plus a fixed length, e-mail syntax, IP addresses) come next, and
//! bare digit strings that many things could be (8-digit Taiwan permits, 6-digit postal codes,
//! two-digit ICD-9-CM-3 categories) score low. An 18-character value whose check character does
//! not match is never reported as a citizen ID or residence permit.

use crate::nhsa::NhsaKind;
use crate::reference::DivisionStatus;
use crate::{
    bank_card, dates, gb11643, icd10, icd9cm3, internet, nhsa, permits, phone, plate, postal,
    reference, uscc,
};

/// A kind of value recognised by [`detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// GB 11643-1999 18-character citizen ID number (check character verified).
    CitizenId,
    /// GB 11643-1989 15-digit legacy citizen ID number (no check character).
    CitizenIdLegacy,
    /// Residence permit for Hong Kong, Macao or Taiwan residents (check character verified).
    ResidencePermit,
    /// 港澳居民来往内地通行证.
    HkMacaoTravelPermit,
    /// 台湾居民来往大陆通行证 (8 digits; weak on its own).
    TaiwanCompatriotPermit,
    /// PRC passport.
    Passport,
    /// Exit-entry document of a mainland resident.
    ExitEntryPermit,
    /// GB 32100-2015 unified social credit code (check character verified).
    SocialCreditCode,
    /// Bank card number (Luhn verified).
    BankCard,
    /// Mainland mobile number.
    Mobile,
    /// Fixed-line number with area code.
    Landline,
    /// E-mail address.
    Email,
    /// IPv4 address.
    Ipv4,
    /// IPv6 address.
    Ipv6,
    /// Postal code (weak).
    PostalCode,
    /// GB/T 2260 division code found in the current or retired lists.
    DivisionCode,
    /// Motor-vehicle plate.
    LicensePlate,
    /// An NHSA code of the given kind.
    Nhsa(NhsaKind),
    /// ICD-10 diagnosis code.
    Icd10,
    /// ICD-9-CM-3 operation code.
    Icd9Cm3,
    /// Calendar date.
    Date,
    /// Date-time (with or without zone).
    DateTime,
    /// Epoch milliseconds.
    EpochMillis,
}

/// One accepting validator.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// What the value is taken to be.
    pub kind: Kind,
    /// 0.0–1.0; see the module documentation.
    pub confidence: f32,
    /// Canonical spelling where there is one (18-character ID for a legacy number, 11-digit
    /// mobile, ISO 8601 date …).
    pub normalized: Option<String>,
    /// Warnings from the validator (e.g. an unknown division code), empty if none.
    pub warnings: Vec<String>,
}

impl Detection {
    fn new(kind: Kind, confidence: f32, normalized: Option<String>) -> Self {
        Detection {
            kind,
            confidence,
            normalized,
            warnings: Vec::new(),
        }
    }
}

/// True for kinds whose acceptance verified a check character.
pub fn is_checksummed(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::CitizenId | Kind::ResidencePermit | Kind::SocialCreditCode | Kind::BankCard
    )
}

/// The kinds that accept `value` (trimmed), highest confidence first; ties keep checksummed
/// kinds first.
pub fn detect(value: &str) -> Vec<Detection> {
    let v = value.trim();
    let mut out = Vec::new();
    if v.is_empty() {
        return out;
    }
    identity_documents(v, &mut out);
    organisation_and_finance(v, &mut out);
    contact(v, &mut out);
    medical(v, &mut out);
    temporal(v, &mut out);
    out.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then_with(|| is_checksummed(b.kind).cmp(&is_checksummed(a.kind)))
    });
    out
}

fn identity_documents(v: &str, out: &mut Vec<Detection>) {
    let n = v.chars().count();
    if n == 18 || n == 15 {
        if let gb11643::IdValidation::Valid { form, warnings, .. } = gb11643::validate(v) {
            let residence = permits::is_residence_permit(v);
            let (kind, base, normalized) = match form {
                gb11643::IdForm::Eighteen if residence => {
                    (Kind::ResidencePermit, 0.99, v.to_ascii_uppercase())
                }
                gb11643::IdForm::Eighteen => (Kind::CitizenId, 0.99, v.to_ascii_uppercase()),
                gb11643::IdForm::Fifteen => (
                    Kind::CitizenIdLegacy,
                    0.6,
                    gb11643::upgrade_15_to_18(v).unwrap_or_else(|| v.to_string()),
                ),
            };
            let penalty = if warnings.is_empty() { 0.0 } else { 0.15 };
            let mut d = Detection::new(kind, base - penalty, Some(normalized));
            d.warnings = warnings.iter().map(ToString::to_string).collect();
            out.push(d);
        }
    }
    if permits::is_hk_macao_travel_permit(v) {
        out.push(Detection::new(Kind::HkMacaoTravelPermit, 0.75, None));
    }
    if permits::is_taiwan_compatriot_permit(v) {
        out.push(Detection::new(Kind::TaiwanCompatriotPermit, 0.15, None));
    }
    if permits::is_passport(v) {
        out.push(Detection::new(Kind::Passport, 0.7, None));
    }
    if permits::is_exit_entry_permit(v) {
        out.push(Detection::new(Kind::ExitEntryPermit, 0.65, None));
    }
}

fn organisation_and_finance(v: &str, out: &mut Vec<Detection>) {
    if let Ok(c) = uscc::parse(v) {
        let mut d = Detection::new(Kind::SocialCreditCode, 0.97, None);
        if !c.organization_code_check_ok {
            d.confidence = 0.9;
            d.warnings
                .push("organisation code part fails its GB 11714 check".to_string());
        }
        out.push(d);
    }
    if let Some(card) = bank_card::parse(v) {
        let c = if card.network.is_some() { 0.85 } else { 0.6 };
        out.push(Detection::new(Kind::BankCard, c, Some(card.number)));
    }
}

fn contact(v: &str, out: &mut Vec<Detection>) {
    if let Some(m) = phone::normalize_mobile(v) {
        let c = if phone::mobile_operator(&m).is_some() {
            0.9
        } else {
            0.75
        };
        out.push(Detection::new(Kind::Mobile, c, Some(m)));
    }
    if let Some(l) = phone::parse_landline(v) {
        out.push(Detection::new(Kind::Landline, 0.8, Some(l.normalized())));
    }
    if internet::is_email(v) {
        out.push(Detection::new(Kind::Email, 0.95, Some(v.to_string())));
    }
    if let Some(ip) = internet::parse_ipv4(v) {
        out.push(Detection::new(Kind::Ipv4, 0.9, Some(ip.to_string())));
    }
    if let Some(ip) = internet::parse_ipv6(v) {
        out.push(Detection::new(Kind::Ipv6, 0.9, Some(ip.to_string())));
    }
    if postal::is_postal_code(v) {
        out.push(Detection::new(Kind::PostalCode, 0.3, None));
    }
    match reference::division_status(v) {
        Some(DivisionStatus::Current) => {
            out.push(Detection::new(Kind::DivisionCode, 0.45, None));
        }
        Some(DivisionStatus::Retired) => {
            out.push(Detection::new(Kind::DivisionCode, 0.35, None));
        }
        _ => {}
    }
    if let Some(p) = plate::parse(v) {
        out.push(Detection::new(Kind::LicensePlate, 0.9, Some(p.normalized)));
    }
}

fn medical(v: &str, out: &mut Vec<Detection>) {
    if let Some(k) = nhsa::kind(v) {
        let c = if k == NhsaKind::ServiceItem {
            0.4
        } else {
            0.85
        };
        out.push(Detection::new(Kind::Nhsa(k), c, None));
    }
    if let Some(code) = icd10::normalize(v) {
        // Only take lower-case input when it is otherwise a full code.
        let exact = code == v;
        let extended = icd10::parse_code(&code).is_some_and(|c| c.is_extended());
        let c = match (extended, exact) {
            (true, _) => 0.9,
            (false, true) => 0.7,
            (false, false) => 0.5,
        };
        out.push(Detection::new(Kind::Icd10, c, Some(code)));
    }
    if icd9cm3::is_code(v) {
        let c = if icd9cm3::is_extended(v) {
            0.8
        } else if v.len() == 5 {
            0.3
        } else {
            0.1
        };
        out.push(Detection::new(Kind::Icd9Cm3, c, Some(v.to_string())));
    }
}

fn temporal(v: &str, out: &mut Vec<Detection>) {
    let Some(t) = dates::parse_temporal(v, dates::DateOptions::default()) else {
        return;
    };
    let digits_only = v.bytes().all(|b| b.is_ascii_digit());
    let (kind, c) = match t {
        dates::Temporal::Date(_) if digits_only => (Kind::Date, 0.6),
        dates::Temporal::Date(_) => (Kind::Date, 0.85),
        dates::Temporal::DateTime(_) if digits_only => (Kind::DateTime, 0.6),
        dates::Temporal::DateTime(_) | dates::Temporal::Zoned(_) => (Kind::DateTime, 0.9),
        dates::Temporal::Epoch(_) => (Kind::EpochMillis, 0.4),
    };
    out.push(Detection::new(kind, c, Some(t.to_iso8601())));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(v: &str) -> Vec<Kind> {
        detect(v).into_iter().map(|d| d.kind).collect()
    }

    #[test]
    fn citizen_id_comes_first_and_bad_checks_never_match() {
        let k = kinds("11010519491231002X");
        assert_eq!(k.first(), Some(&Kind::CitizenId));
        let k = kinds("110105194912310021");
        assert!(!k.contains(&Kind::CitizenId));
        assert!(!k.contains(&Kind::ResidencePermit));
        assert!(detect("").is_empty());
        assert_eq!(kinds("13912345678").first(), Some(&Kind::Mobile));
    }
}
