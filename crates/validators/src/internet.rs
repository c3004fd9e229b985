//! E-mail addresses and IP addresses (GB/T 39725-2020 Appendix G: e-mail addresses are direct
//! identifiers; IP addresses of personal devices are quasi-identifiers; T/CI 857-2024 treats
//! network identifiers alike).
//!
//! **E-mail**: a practical subset of RFC 5321 §4.5.3.1 / RFC 5322 §3.4.1 `addr-spec`, the forms
//! found in records rather than everything the grammar allows:
//! - exactly one `@`; at most 254 characters in total (RFC 5321 path limit minus the brackets);
//! - local part 1–64 bytes of `dot-atom` text: ASCII letters, digits and
//!   `` !#$%&'*+/=?^_`{|}~- ``, dots only between other characters (no leading, trailing or
//!   doubled dot). Quoted local parts (`"a b"@x.cn`) are not accepted;
//! - domain: at least two labels separated by dots, each 1–63 characters of letters, digits and
//!   hyphens (not at either end); non-ASCII letters are allowed for internationalised domain
//!   names (`用户@例子.中国` is rejected by the local-part rule, `a@例子.中国` is accepted); the
//!   last label (TLD) has at least two characters and is all letters or an `xn--` A-label.
//!   Address literals (`a@[10.0.0.1]`) are not accepted.
//!
//! **IP addresses**: parsed by `std::net` (RFC 791 dotted quad without leading zeros;
//! RFC 4291 §2.2 text forms for IPv6). Zone indices (`fe80::1%eth0`) and brackets are not
//! accepted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const LOCAL_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";

/// True if `s` is an e-mail address in the practical syntax of the module documentation.
pub fn is_email(s: &str) -> bool {
    if s.chars().count() > 254 {
        return false;
    }
    let mut parts = s.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    is_local_part(local) && is_domain(domain)
}

fn is_local_part(local: &str) -> bool {
    (1..=64).contains(&local.len())
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(c))
        })
}

/// True if `s` is a host name of at least two labels with a plausible TLD.
pub fn is_domain(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = s.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let label_ok = |l: &str| {
        let n = l.chars().count();
        (1..=63).contains(&n)
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if !labels.iter().all(|l| label_ok(l)) {
        return false;
    }
    let tld = labels.last().copied().unwrap_or_default();
    tld.chars().count() >= 2
        && (tld.chars().all(char::is_alphabetic)
            || (tld.len() > 4 && tld.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--"))))
}

/// The IPv4 address `s` spells, if any.
pub fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    s.parse().ok()
}

/// The IPv6 address `s` spells, if any.
pub fn parse_ipv6(s: &str) -> Option<Ipv6Addr> {
    s.parse().ok()
}

/// The IP address `s` spells, if any.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

/// True if `s` is an IPv4 address.
pub fn is_ipv4(s: &str) -> bool {
    parse_ipv4(s).is_some()
}

/// True if `s` is an IPv6 address.
pub fn is_ipv6(s: &str) -> bool {
    parse_ipv6(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn email_edges() {
        assert!(is_email("zhang.san+tag@hospital.example.cn"));
        assert!(is_email("a@例子.中国"));
        assert!(is_email("a@xn--fiqs8s.xn--fiqz9s"));
        assert!(!is_email("a@b.c"));
        assert!(!is_email(".a@b.cn"));
        assert!(!is_email("a..b@b.cn"));
        assert!(!is_email("a@-b.cn"));
        assert!(!is_email("a@b.123"));
        assert!(!is_email(&format!("{}@b.cn", "a".repeat(65))));
    }

    proptest! {
        #[test]
        fn every_ipv4_and_ipv6_round_trips(a: u32, b: u128) {
            let v4 = Ipv4Addr::from(a);
            prop_assert_eq!(parse_ipv4(&v4.to_string()), Some(v4));
            let v6 = Ipv6Addr::from(b);
            prop_assert_eq!(parse_ipv6(&v6.to_string()), Some(v6));
            prop_assert!(!is_email(&v4.to_string()));
        }

        #[test]
        fn simple_addresses_are_emails(local in "[a-z][a-z0-9._-]{0,20}[a-z0-9]", host in "[a-z][a-z0-9-]{0,10}[a-z0-9]", tld in "[a-z]{2,6}") {
            prop_assume!(!local.contains(".."));
            let addr = format!("{local}@{host}.{tld}");
            prop_assert!(is_email(&addr));
            let doubled_at = format!("{local}@@{host}.{tld}");
            prop_assert!(!is_email(&doubled_at));
        }
    }
}
