//! Codes of the National Healthcare Security Administration (国家医疗保障局, NHSA) 医疗保障信息
//! 业务编码标准 ("15 项业务编码", 医保发〔2019〕39号 医疗保障标准化工作指导意见). GB/T 39725-2020
//! Appendix G and T/CI 857-2024 treat institution and practitioner codes as identifiers of the
//! care setting and of staff; drug, consumable and service-item codes are not personal.
//!
//! NHSA publishes the code structures in its coding rules; none of these codes carries a check
//! character, so every test here is structural. Rules and sources:
//!
//! | code | accepted structure | source |
//! |---|---|---|
//! | 西药 (western drug), [`NhsaKind::WesternDrug`] | 23 characters: `X` + 5-character class (ATC level 4: letter, 2 digits, 2 letters, e.g. `A01AB`) + 17 upper-case letters or digits (name/dosage form, specification/package and manufacturer parts) — e.g. `XA01ABD075A002010100483` | 医保药品分类与代码 (医保办发〔2019〕… 西药编码规则, 23 位, 5 部分) |
//! | 中成药 (Chinese patent medicine), [`NhsaKind::PatentMedicine`] | 20 characters: `Z` + a class letter (中成药 classification, `A` 内科用药 …) + 18 upper-case letters or digits | 医保药品分类与代码, 中成药编码规则 (20 位) |
//! | 医用耗材 (medical consumable), [`NhsaKind::Consumable`] | `C` + 19 digits (20: 3-level class 6 + generic name 3 + material 2 + feature 3 + manufacturer 5) or `C` + 26 digits (27: plus a 7-digit product/specification serial) — e.g. `C0344051070500007551`, `C15011121200000107660000016` | 医保医用耗材分类与代码 (27 位); part widths as inferred from published codes |
//! | 医疗服务项目 (medical service item), [`NhsaKind::ServiceItem`] | 15 digits: 2-digit prefix `00`–`99` (`00` for national items), the 9-digit item code of 全国医疗服务价格项目规范 whose first digit is a chapter `1`–`4` (综合, 医技, 临床, 中医), then a 4-digit extension — e.g. `001101000010000` | 医疗服务项目分类与代码 (15 位); only the chapter digit is checked beyond the length |
//! | 定点医疗机构 (designated medical institution), [`NhsaKind::MedicalInstitution`] | `H` + 6-digit GB/T 2260 division code + 5-digit sequence (12) | 定点医疗机构代码编码规则 |
//! | 定点零售药店 (designated retail pharmacy), [`NhsaKind::RetailPharmacy`] | `P` + 6-digit division code + 5-digit sequence (12) | 定点零售药店代码编码规则 |
//! | 医保医师 / 医保护士 (doctor / nurse), [`NhsaKind::Doctor`], [`NhsaKind::Nurse`] | `D` or `N` + 6-digit division code + 6-digit sequence (13) | 医保医师代码 / 医保护士代码编码规则 |
//! | 药学 / 技术人员 (pharmacist / technician in designated institutions), [`NhsaKind::Pharmacist`], [`NhsaKind::Technician`] | `HY` or `HJ` + 6-digit division code + 6-digit sequence (14) | 医保办函〔2022〕39号 附件 (3 parts, 14 characters) |
//!
//! For institution and staff codes the division part must be 6 digits whose first two are a
//! GB/T 2260 province-level code (see [`crate::reference::is_province_code`]); the county is
//! not looked up (codes are assigned per statistical region and may use retired counties).

use crate::pattern::{all_digits, matches};
use crate::reference;

/// Kind of an NHSA code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NhsaKind {
    /// 西药代码, `X` + 22.
    WesternDrug,
    /// 中成药代码, `Z` + 19.
    PatentMedicine,
    /// 医用耗材代码, `C` + 19 or `C` + 26.
    Consumable,
    /// 医疗服务项目代码, 15 digits.
    ServiceItem,
    /// 定点医疗机构代码, `H` + 11.
    MedicalInstitution,
    /// 定点零售药店代码, `P` + 11.
    RetailPharmacy,
    /// 医保医师代码, `D` + 12.
    Doctor,
    /// 医保护士代码, `N` + 12.
    Nurse,
    /// 药学人员代码, `HY` + 12.
    Pharmacist,
    /// 技术人员代码, `HJ` + 12.
    Technician,
}

impl NhsaKind {
    /// True for the codes that identify a care setting or a person working there
    /// (institution, pharmacy and staff codes) as opposed to catalogue items.
    pub fn identifies_party(self) -> bool {
        !matches!(
            self,
            NhsaKind::WesternDrug
                | NhsaKind::PatentMedicine
                | NhsaKind::Consumable
                | NhsaKind::ServiceItem
        )
    }
}

fn division_ok(code: &str) -> bool {
    code.len() == 6 && all_digits(code) && code.get(..2).is_some_and(reference::is_province_code)
}

/// True if `s` is a western-drug code (`X` + ATC level-4 class + 17 characters).
pub fn is_western_drug(s: &str) -> bool {
    matches(s, "Xa99aaxxxxxxxxxxxxxxxxx")
}

/// True if `s` is a Chinese patent medicine code (`Z` + class letter + 18 characters).
pub fn is_patent_medicine(s: &str) -> bool {
    matches(s, "Zaxxxxxxxxxxxxxxxxxx")
}

/// True if `s` is a medical consumable code (`C` + 19 or 26 digits).
pub fn is_consumable(s: &str) -> bool {
    let n = s.len();
    (n == 20 || n == 27) && s.starts_with('C') && s.get(1..).is_some_and(all_digits)
}

/// True if `s` is a 15-digit medical service item code whose item part (digits 3–11) starts
/// with a chapter digit 1–4.
pub fn is_service_item(s: &str) -> bool {
    s.len() == 15 && all_digits(s) && matches!(s.as_bytes().get(2), Some(b'1'..=b'4'))
}

/// The kind of an institution or staff code with the given prefix, sequence length.
fn party(s: &str, prefix: &str, seq: usize) -> bool {
    let Some(rest) = s.strip_prefix(prefix) else {
        return false;
    };
    rest.len() == 6 + seq && all_digits(rest) && rest.get(..6).is_some_and(division_ok)
}

/// The kind of an NHSA code, or `None` if `s` matches none of the structures.
pub fn kind(s: &str) -> Option<NhsaKind> {
    let k = match s.as_bytes().first()? {
        b'X' if is_western_drug(s) => NhsaKind::WesternDrug,
        b'Z' if is_patent_medicine(s) => NhsaKind::PatentMedicine,
        b'C' if is_consumable(s) => NhsaKind::Consumable,
        b'0'..=b'9' if is_service_item(s) => NhsaKind::ServiceItem,
        b'H' if party(s, "HY", 6) => NhsaKind::Pharmacist,
        b'H' if party(s, "HJ", 6) => NhsaKind::Technician,
        b'H' if party(s, "H", 5) => NhsaKind::MedicalInstitution,
        b'P' if party(s, "P", 5) => NhsaKind::RetailPharmacy,
        b'D' if party(s, "D", 6) => NhsaKind::Doctor,
        b'N' if party(s, "N", 6) => NhsaKind::Nurse,
        _ => return None,
    };
    Some(k)
}

/// The 6-digit division code inside an institution, pharmacy or staff code.
pub fn division_code(s: &str) -> Option<&str> {
    match kind(s)? {
        NhsaKind::MedicalInstitution
        | NhsaKind::RetailPharmacy
        | NhsaKind::Doctor
        | NhsaKind::Nurse => s.get(1..7),
        NhsaKind::Pharmacist | NhsaKind::Technician => s.get(2..8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(kind("XA01ABD075A002010100483"), Some(NhsaKind::WesternDrug));
        assert!(!is_western_drug("YA01ABD075A002010100483"));
        assert!(!is_patent_medicine("YA04BAY0089010104223"));
        assert_eq!(kind("C0344051070500007551"), Some(NhsaKind::Consumable));
        assert_eq!(kind("H33010600123"), Some(NhsaKind::MedicalInstitution));
        assert_eq!(division_code("HY330106000001"), Some("330106"));
        assert_eq!(division_code("D330106000001"), Some("330106"));
        assert_eq!(division_code("XA01ABD075A002010100483"), None);
        assert!(NhsaKind::Doctor.identifies_party());
        assert!(!NhsaKind::Consumable.identifies_party());
    }

    proptest! {
        #[test]
        fn party_codes_need_their_exact_length(seq in 0u32..1_000_000, extra in 0usize..3) {
            let d = format!("D110105{seq:06}");
            prop_assert_eq!(kind(&d), Some(NhsaKind::Doctor));
            let longer = format!("{d}{}", "0".repeat(extra + 1));
            prop_assert_eq!(kind(&longer), None);
            let h = format!("H110105{:05}", seq % 100_000);
            prop_assert_eq!(kind(&h), Some(NhsaKind::MedicalInstitution));
            prop_assert_eq!(kind(&h[..11]), None);
        }
    }
}
