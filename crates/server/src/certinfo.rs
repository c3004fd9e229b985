//! What the node shows about an X.509 certificate: subject, issuer, serial, validity and the
//! SHA-256 fingerprints of the certificate and of its public key (SPKI). A small DER reader of the
//! TBSCertificate header (RFC 5280 §4.1); signatures and chains are checked by rustls/webpki, not
//! here. Used for reload logs and audit entries and for the identity of mutual-TLS peers
//! (T/CI 857-2024 7.2: every node at the boundary is identified by its certificate).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// A certificate that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed X.509 certificate: {0}")]
pub struct CertInfoError(pub &'static str);

/// Identity and validity of one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CertInfo {
    /// Subject distinguished name (`C=CN, O=…, CN=…`, in certificate order).
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Serial number (hex).
    pub serial: String,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// SHA-256 of the whole certificate (hex), as `openssl x509 -fingerprint -sha256` shows it
    /// without colons.
    pub sha256: String,
    /// SHA-256 of the SubjectPublicKeyInfo (hex): stays the same when a certificate is renewed
    /// with the same key.
    pub spki_sha256: String,
}

impl CertInfo {
    /// Reads a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<CertInfo, CertInfoError> {
        let (cert, rest) = tlv(der)?;
        if cert.tag != SEQUENCE || !rest.is_empty() {
            return Err(CertInfoError("not a single SEQUENCE"));
        }
        let (tbs, _) = tlv(cert.content)?;
        if tbs.tag != SEQUENCE {
            return Err(CertInfoError("TBSCertificate is not a SEQUENCE"));
        }
        let mut r = tbs.content;
        let mut next = || -> Result<Tlv<'_>, CertInfoError> {
            let (t, rest) = tlv(r)?;
            r = rest;
            Ok(t)
        };
        let mut field = next()?;
        if field.tag == 0xA0 {
            field = next()?; // [0] version
        }
        if field.tag != INTEGER {
            return Err(CertInfoError("serial number is not an INTEGER"));
        }
        let serial = field.content;
        let _signature_alg = next()?;
        let issuer = next()?;
        let validity = next()?;
        let subject = next()?;
        let spki = next()?;
        if issuer.tag != SEQUENCE || subject.tag != SEQUENCE || spki.tag != SEQUENCE {
            return Err(CertInfoError("issuer, subject or key is not a SEQUENCE"));
        }
        if validity.tag != SEQUENCE {
            return Err(CertInfoError("validity is not a SEQUENCE"));
        }
        let (nb, rest) = tlv(validity.content)?;
        let (na, _) = tlv(rest)?;
        Ok(CertInfo {
            subject: name(subject.content)?,
            issuer: name(issuer.content)?,
            serial: hex(strip_leading_zero(serial)),
            not_before: time(&nb)?,
            not_after: time(&na)?,
            sha256: hex(&Sha256::digest(der)),
            spki_sha256: hex(&Sha256::digest(spki.whole)),
        })
    }

    /// True when `now` lies inside the validity period.
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// A short description for logs and audit detail (no key material).
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "subject": self.subject,
            "serial": self.serial,
            "not_after": self.not_after.to_rfc3339(),
            "sha256": self.sha256,
        })
    }
}

const INTEGER: u8 = 0x02;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;

struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    whole: &'a [u8],
}

fn tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), CertInfoError> {
    let short = CertInfoError("truncated");
    let tag = *input.first().ok_or(short.clone())?;
    if tag & 0x1F == 0x1F {
        return Err(CertInfoError(
            "multi-byte tags are not used in certificates",
        ));
    }
    let first = *input.get(1).ok_or(short.clone())?;
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7F) as usize;
        if n == 0 || n > 4 {
            return Err(CertInfoError("unsupported length encoding"));
        }
        let bytes = input.get(2..2 + n).ok_or(short.clone())?;
        let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, 2 + n)
    };
    let end = header.checked_add(len).ok_or(short.clone())?;
    let whole = input.get(..end).ok_or(short)?;
    Ok((
        Tlv {
            tag,
            content: &whole[header..],
            whole,
        },
        &input[end..],
    ))
}

fn strip_leading_zero(b: &[u8]) -> &[u8] {
    match b {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => b,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn time(t: &Tlv<'_>) -> Result<DateTime<Utc>, CertInfoError> {
    let s = std::str::from_utf8(t.content).map_err(|_| CertInfoError("time is not ASCII"))?;
    let full = match t.tag {
        // UTCTime YYMMDDHHMMSSZ: 50–99 are 19YY, 00–49 are 20YY (RFC 5280 §4.1.2.5.1).
        0x17 if s.len() == 13 => {
            let yy: u32 = s[..2].parse().map_err(|_| CertInfoError("bad UTCTime"))?;
            format!("{}{s}", if yy >= 50 { "19" } else { "20" })
        }
        0x18 if s.len() == 15 => s.to_string(),
        _ => {
            return Err(CertInfoError(
                "validity time is not UTCTime or GeneralizedTime",
            ))
        }
    };
    let naive = NaiveDateTime::parse_from_str(&full, "%Y%m%d%H%M%SZ")
        .map_err(|_| CertInfoError("bad validity time"))?;
    Ok(naive.and_utc())
}

fn oid(b: &[u8]) -> String {
    let mut parts: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for byte in b {
        acc = (acc << 7) | u64::from(byte & 0x7F);
        if byte & 0x80 == 0 {
            if parts.is_empty() {
                let first = acc;
                let (a, b) = if first < 40 {
                    (0, first)
                } else if first < 80 {
                    (1, first - 40)
                } else {
                    (2, first - 80)
                };
                parts.push(a);
                parts.push(b);
            } else {
                parts.push(acc);
            }
            acc = 0;
        }
    }
    parts
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

fn attribute_name(oid: &str) -> String {
    match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.5" => "serialNumber",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "0.9.2342.19200300.100.1.25" => "DC",
        other => return other.to_string(),
    }
    .to_string()
}

fn string_value(t: &Tlv<'_>) -> String {
    let text = match t.tag {
        // UTF8String, PrintableString, IA5String, VisibleString, NumericString
        0x0C | 0x13 | 0x16 | 0x1A | 0x12 => String::from_utf8_lossy(t.content).into_owned(),
        // TeletexString: treated as Latin-1
        0x14 => t.content.iter().map(|&b| char::from(b)).collect(),
        // BMPString: UTF-16BE
        0x1E => {
            let units: Vec<u16> = t
                .content
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => return format!("#{}", hex(t.whole)),
    };
    // RFC 4514 escaping of the characters that would make the string ambiguous.
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') {
            out.push('\\');
        }
        if ch.is_control() {
            out.push('?');
        } else {
            out.push(ch);
        }
    }
    out
}

fn name(mut rdns: &[u8]) -> Result<String, CertInfoError> {
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let (set, rest) = tlv(rdns)?;
        rdns = rest;
        if set.tag != SET {
            return Err(CertInfoError("name component is not a SET"));
        }
        let mut atvs = set.content;
        let mut inner = Vec::new();
        while !atvs.is_empty() {
            let (atv, rest) = tlv(atvs)?;
            atvs = rest;
            let (ty, rest) = tlv(atv.content)?;
            let (value, _) = tlv(rest)?;
            if ty.tag != OID {
                return Err(CertInfoError("attribute type is not an OID"));
            }
            inner.push(format!(
                "{}={}",
                attribute_name(&oid(ty.content)),
                string_value(&value)
            ));
        }
        parts.push(inner.join("+"));
    }
    Ok(parts.join(", "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn reads_what_rcgen_wrote() {
        let mut params = rcgen::CertificateParams::new(vec!["node-a.example".into()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CountryName, "CN");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "医院, 信息科");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "node-a");
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0x9a, 0x01]));
        params.not_before = rcgen::date_time_ymd(2024, 1, 2);
        params.not_after = rcgen::date_time_ymd(2055, 3, 4);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let info = CertInfo::from_der(cert.der()).unwrap();
        assert_eq!(info.subject, "C=CN, O=医院\\, 信息科, CN=node-a");
        assert_eq!(info.issuer, info.subject);
        assert_eq!(info.serial, "9a01");
        assert_eq!(info.not_before.to_rfc3339(), "2024-01-02T00:00:00+00:00");
        // 2055 is past 2049: GeneralizedTime.
        assert_eq!(info.not_after.to_rfc3339(), "2055-03-04T00:00:00+00:00");
        assert_eq!(info.sha256, hex(&Sha256::digest(cert.der())));
        assert_eq!(info.spki_sha256, hex(&Sha256::digest(key.public_key_der())));
        assert!(info.valid_at(Utc::now()));
    }

    #[test]
    fn decodes_oids_and_refuses_garbage() {
        assert_eq!(oid(&[0x55, 0x04, 0x03]), "2.5.4.3");
        assert_eq!(
            oid(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01]),
            "1.2.840.113549.1.9.1"
        );
        assert!(CertInfo::from_der(b"").is_err());
        assert!(CertInfo::from_der(&[0x30, 0x05, 0x02]).is_err());
        assert!(CertInfo::from_der(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(CertInfo::from_der(b"-----BEGIN CERTIFICATE-----").is_err());
    }
}
