//! Table-driven known-good and known-bad examples for every validator of the crate.
//!
//! Each row of [`TABLE`] names a validator, the function under test, and values it must accept
//! and reject. Check characters in the good examples were computed independently (by hand or
//! with a separate script) from the standards cited in each module.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use medspace_validators::detect::{detect, Kind};
use medspace_validators::gb11643::{self, IdError, IdForm, IdValidation, IdWarning};
use medspace_validators::nhsa::{self, NhsaKind};
use medspace_validators::reference::DivisionStatus;
use medspace_validators::{
    bank_card, dates, icd10, icd9cm3, internet, permits, phone, plate, postal, uscc,
};

struct Case {
    name: &'static str,
    check: fn(&str) -> bool,
    good: &'static [&'static str],
    bad: &'static [&'static str],
}

fn citizen_id_any_form(s: &str) -> bool {
    gb11643::validate(s).is_valid()
}
fn nhsa_is(s: &str, k: NhsaKind) -> bool {
    nhsa::kind(s) == Some(k)
}
fn date_ok(s: &str) -> bool {
    dates::normalize_iso8601(s).is_some()
}

const TABLE: &[Case] = &[
    Case {
        name: "GB 11643 citizen ID (18)",
        check: gb11643::is_valid,
        good: &[
            "11010519491231002X", // GB 11643-1999 Appendix A
            "11010519491231002x",
            "440301198001010018",
            "330106199003071236",
            "44030120000229004X", // leap day
            "510107197512310056",
            "110103198001010013", // retired division 崇文区
        ],
        bad: &[
            "110105194912310021", // wrong check character
            "11010519491231002",  // 17
            "11010519491231002X1",
            "1101051949A231002X",
            "11010519491231002Y",
            "110105194902300020", // 1949-02-30
            "110105300001010020", // future
            "１１０１０５１９４９１２３１００２X",
            "",
        ],
    },
    Case {
        name: "GB 11643 citizen ID (15 legacy or 18, with divisions)",
        check: citizen_id_any_form,
        good: &[
            "110105491231002",
            "330106900307123",
            "11010519491231002X",
            "99019919800101001X", // unknown province: warning only
        ],
        bad: &[
            "110105490230002", // 1949-02-30
            "110105491331002", // month 13
            "11010549123100X",
            "1101054912310021", // 16
            "110105194912310021",
        ],
    },
    Case {
        name: "HK/Macao/Taiwan residence permit",
        check: permits::is_residence_permit,
        good: &[
            "810000199001010019",
            "820000198506150022",
            "830000200002290031",
        ],
        bad: &[
            "810000199001010018", // check character
            "11010519491231002X", // a citizen ID, not a permit
            "840000199001010019",
            "81000019900101001",
        ],
    },
    Case {
        name: "HK/Macao mainland travel permit",
        check: permits::is_hk_macao_travel_permit,
        good: &["H12345678", "M87654321", "H1234567801"],
        bad: &[
            "h12345678",
            "H1234567",
            "H123456789",
            "K12345678",
            "H1234567A",
        ],
    },
    Case {
        name: "Taiwan compatriot permit",
        check: permits::is_taiwan_compatriot_permit,
        good: &["12345678", "00000001"],
        bad: &["1234567", "123456789", "T1234567", "1234567A"],
    },
    Case {
        name: "PRC passport",
        check: permits::is_passport,
        good: &[
            "E12345678",
            "EA1234567",
            "G12345678",
            "P1234567",
            "S12345678",
            "SE1234567",
            "D1234567",
            "DE1234567",
        ],
        bad: &[
            "E1234567",
            "EI1234567",
            "e12345678",
            "G1234567A",
            "X12345678",
            "E123456789",
        ],
    },
    Case {
        name: "Exit-entry permit (mainland residents)",
        check: permits::is_exit_entry_permit,
        good: &[
            "C12345678",
            "CA1234567",
            "W12345678",
            "L12345678",
            "T12345678",
        ],
        bad: &[
            "CI1234567",
            "C1234567",
            "W1234567A",
            "Q12345678",
            "c12345678",
        ],
    },
    Case {
        name: "GB 32100 unified social credit code",
        check: uscc::is_valid,
        good: &[
            "91350100M000100Y43",
            "91110108MA01ABC17L",
            "12100000400001109M",
            "52330106MA01ABC17E",
            "92440300MA01ABC17Q",
            "Y1320000MA01ABC17P",
            "N2410100MA01ABC17L",
        ],
        bad: &[
            "91350100M000100Y44", // check character
            "91350100M000100Y4",  // 17
            "91350100M000100I43", // I not in the alphabet
            "91350100M000100O43",
            "B1350100M000100Y43", // B is no registration authority
            "9035010OM000100Y43",
            "91350100m000100y43",
        ],
    },
    Case {
        name: "Bank card (Luhn, 16-19)",
        check: bank_card::is_valid,
        good: &[
            "6222021234567890128",
            "6222 0212 3456 7890 128",
            "6217000000000006",
            "621483012345678902",
            "4111111111111111",
            "5555555555554444",
            "6011000990139424",
            "9558800000000000",
        ],
        bad: &[
            "6222021234567890127",  // check digit
            "353011133330001",      // 15 digits (Luhn ok)
            "79927398713",          // 11 digits
            "62220212345678901280", // 20
            "6222-0212-3456-7890-12a",
            "6222  0212345678901 28",
            "",
        ],
    },
    Case {
        name: "Mobile",
        check: phone::is_mobile,
        good: &[
            "13912345678",
            "+86 139-1234-5678",
            "008613912345678",
            "8613912345678",
            "(+86)13912345678",
            "139.1234.5678",
            "19912345678",
            "16612345678",
        ],
        bad: &[
            "12912345678",
            "1391234567",
            "139123456789",
            "+85213912345678",
            "010-12345678",
            "139--1234-5678",
            "１３９１２３４５６７８",
        ],
    },
    Case {
        name: "Landline",
        check: phone::is_landline,
        good: &[
            "010-62345678",
            "(0571)8888-8888",
            "（0571）88888888",
            "0571 8888 8888",
            "057188888888",
            "0755-8765432",
            "+86 10 6234 5678",
            "+86-571-88888888",
            "010-62345678-8001",
            "0571-88888888转123",
            "021-61234567 ext 12",
        ],
        bad: &[
            "62345678",     // no area code
            "010-12345678", // subscriber numbers start with 2-9
            "010-1234567",  // 3-digit area codes take 8 digits
            "0571-888888",  // 6 digits
            "0571-088888888",
            "13912345678", // mobile
            "000-12345678",
            "010-62345678转",
            "010-62345678-1234567",
            "400-810-8888",
        ],
    },
    Case {
        name: "E-mail",
        check: internet::is_email,
        good: &[
            "zhangsan@example.com",
            "zhang.san+ward3@hospital.example.cn",
            "a_b-c@sub.domain.org.cn",
            "x@例子.中国",
            "o'brien@example.ie",
        ],
        bad: &[
            "zhangsan",
            "zhangsan@",
            "@example.com",
            "a@@example.com",
            "a@b@example.com",
            "a@localhost",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "a b@example.com",
            "a@exa mple.com",
            "a@-example.com",
            "a@example.c",
            "a@[10.0.0.1]",
        ],
    },
    Case {
        name: "IPv4",
        check: internet::is_ipv4,
        good: &["192.168.1.1", "10.0.0.255", "0.0.0.0", "255.255.255.255"],
        bad: &[
            "256.1.1.1",
            "192.168.1",
            "192.168.01.1",
            "1.2.3.4.5",
            "::1",
            " 1.2.3.4",
        ],
    },
    Case {
        name: "IPv6",
        check: internet::is_ipv6,
        good: &[
            "::1",
            "2001:db8::8a2e:370:7334",
            "fe80::1",
            "::ffff:192.168.1.1",
        ],
        bad: &[
            "2001:db8:::1",
            "12345::",
            "fe80::1%eth0",
            "[::1]",
            "192.168.1.1",
            "g::1",
        ],
    },
    Case {
        name: "Postal code",
        check: postal::is_postal_code,
        good: &["100000", "310000", "010010", "518000", "850000"],
        bad: &["000000", "999077", "870000", "10000", "1000000", "10000a"],
    },
    Case {
        name: "Licence plate",
        check: plate::is_plate,
        good: &[
            "京A12345",
            "粤B·12345",
            "沪AD12345",
            "浙AFA1234",
            "粤B12345D",
            "川A1234学",
            "京a12345",
        ],
        bad: &[
            "京A1234",
            "京A123456",
            "京I12345",
            "京AO1234",
            "港A12345",
            "AA12345",
            "粤B12345X",
            "京AD123456",
            "浙AF1234A",
        ],
    },
    Case {
        // NHSA codes carry no check character. XA01ABD075A002010100483, C0344051070500007551
        // and C15011121200000107660000016 were seen in published hospital systems; the other
        // good examples only follow the documented structures.
        name: "NHSA western drug (X)",
        check: |s| nhsa_is(s, NhsaKind::WesternDrug),
        good: &["XA01ABD075A002010100483", "XJ01CAA040A001010101445"],
        bad: &[
            "XA01ABD075A00201010048",   // 22
            "XA01ABD075A0020101004831", // 24
            "X101ABD075A002010100483",  // class must start with a letter
            "xA01ABD075A002010100483",
            "ZA01ABD075A002010100483",
        ],
    },
    Case {
        name: "NHSA Chinese patent medicine (Z)",
        check: |s| nhsa_is(s, NhsaKind::PatentMedicine),
        good: &["ZA04BAY0089010104223", "ZA01AAX0238010103556"],
        bad: &[
            "ZA04BAY008901010422",
            "Z104BAY0089010104223",
            "ZA04BAY00890101042231",
        ],
    },
    Case {
        name: "NHSA medical consumable (C)",
        check: |s| nhsa_is(s, NhsaKind::Consumable),
        good: &["C0344051070500007551", "C15011121200000107660000016"],
        bad: &[
            "C034405107050000755",
            "C03440510705000075510",
            "C150111212000001076600000A",
            "D0344051070500007551",
        ],
    },
    Case {
        name: "NHSA medical service item (15 digits)",
        check: |s| nhsa_is(s, NhsaKind::ServiceItem),
        good: &["001101000010000", "002202000010000", "331202000010001"],
        bad: &[
            "00110100001000",
            "0011010000100000",
            "005101000010000",
            "00110100001000A",
        ],
    },
    Case {
        name: "NHSA designated medical institution (H)",
        check: |s| nhsa_is(s, NhsaKind::MedicalInstitution),
        good: &["H33010600123", "H11010500001"],
        bad: &[
            "H3301060012",
            "H330106001234",
            "H99010600123",
            "h33010600123",
        ],
    },
    Case {
        name: "NHSA designated retail pharmacy (P)",
        check: |s| nhsa_is(s, NhsaKind::RetailPharmacy),
        good: &["P44030500012", "P51010700001"],
        bad: &["P4403050001", "P00030500012", "Q44030500012"],
    },
    Case {
        name: "NHSA doctor (D)",
        check: |s| nhsa_is(s, NhsaKind::Doctor),
        good: &["D330106000001", "D110105123456"],
        bad: &["D33010600000", "D3301060000011", "D990106000001"],
    },
    Case {
        name: "NHSA nurse (N)",
        check: |s| nhsa_is(s, NhsaKind::Nurse),
        good: &["N330106000001"],
        bad: &["N33010600000A", "N3301060000012"],
    },
    Case {
        name: "NHSA pharmacist (HY)",
        check: |s| nhsa_is(s, NhsaKind::Pharmacist),
        good: &["HY330106000001"],
        bad: &["HY33010600000", "HX330106000001", "HY990106000001"],
    },
    Case {
        name: "NHSA technician (HJ)",
        check: |s| nhsa_is(s, NhsaKind::Technician),
        good: &["HJ440305000123"],
        bad: &["HJ4403050001234", "HJ44030500012"],
    },
    Case {
        name: "ICD-10",
        check: icd10::is_code,
        good: &[
            "A00",
            "A00.0",
            "A00.09",
            "E11.9",
            "S72.001",
            "I10.x00x002",
            "C34.900x001",
            "E11.900x001",
            "U07.1",
        ],
        bad: &[
            "a00",
            "A0",
            "A000",
            "A00.",
            "A00.12345",
            "I10.x00x00",
            "I10.x00y002",
            "C34.900x0011",
            "高血压",
        ],
    },
    Case {
        name: "ICD-9-CM-3",
        check: icd9cm3::is_code,
        good: &[
            "36",
            "36.1",
            "36.10",
            "81.5100",
            "81.51001",
            "47.09x001",
            "81.5100x001",
        ],
        bad: &[
            "3",
            "361",
            "36.",
            "36.123456",
            "36.1x001",
            "36.10x01",
            "A6.10",
            "36,10",
        ],
    },
    Case {
        name: "GB/T 7408 and Chinese dates/times",
        check: date_ok,
        good: &[
            "20240315",
            "2024-03-15",
            "2024-03-15T13:45:30",
            "2024-03-15T13:45:30Z",
            "2024-03-15T13:45:30+08:00",
            "2024/3/15",
            "2024.3.15",
            "2024年3月15日",
            "2024年3月15日 13时45分",
            "2024-03-15 13:45:30",
            "1710510330000",
            "2024-02-29",
        ],
        bad: &[
            "2023-02-29",
            "2024-13-01",
            "2024-03-32",
            "2024-03-15 25:00",
            "2024年2月30日",
            "1710510330", // epoch seconds only on request
            "9999999999999",
            "15/03/2024",
            "2024-03",
            "三月十五日",
        ],
    },
];

#[test]
fn every_validator_accepts_its_good_and_rejects_its_bad_examples() {
    let mut failures = Vec::new();
    for case in TABLE {
        for g in case.good {
            if !(case.check)(g) {
                failures.push(format!("{}: should accept {g:?}", case.name));
            }
        }
        for b in case.bad {
            if (case.check)(b) {
                failures.push(format!("{}: should reject {b:?}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_validator_has_good_and_bad_examples() {
    for case in TABLE {
        assert!(
            !case.good.is_empty() && !case.bad.is_empty(),
            "{}",
            case.name
        );
    }
}

#[test]
fn citizen_id_structured_results() {
    match gb11643::validate("110103198001010013") {
        IdValidation::Valid {
            division,
            warnings,
            form,
            ..
        } => {
            assert_eq!(division, DivisionStatus::Retired);
            assert!(warnings.is_empty());
            assert_eq!(form, IdForm::Eighteen);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        gb11643::validate("110199198001010016").warnings(),
        [IdWarning::UnknownDivision]
    );
    assert_eq!(
        gb11643::validate("99019919800101001X").warnings(),
        [IdWarning::UnknownDivision, IdWarning::UnknownProvince]
    );
    assert!(gb11643::validate("810000199001010019")
        .warnings()
        .is_empty());
    match gb11643::validate("110105491231002") {
        IdValidation::Valid { form, division, .. } => {
            assert_eq!(form, IdForm::Fifteen);
            assert_eq!(division, DivisionStatus::Current);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        gb11643::validate("110105194912310021"),
        IdValidation::Invalid {
            reason: IdError::Checksum
        }
    );
    assert_eq!(
        gb11643::validate("110105490230002"),
        IdValidation::Invalid {
            reason: IdError::BadDate
        }
    );
    assert_eq!(
        gb11643::upgrade_15_to_18("110105491231002").as_deref(),
        Some("11010519491231002X")
    );
}

#[test]
fn normalisations() {
    let iso = [
        ("20240315", "2024-03-15"),
        ("2024/3/15", "2024-03-15"),
        ("2024.3.15", "2024-03-15"),
        ("2024年3月15日", "2024-03-15"),
        ("2024年3月15日 13时45分", "2024-03-15T13:45:00"),
        ("2024-03-15 13:45:30", "2024-03-15T13:45:30"),
        ("2024-03-15T13:45:30Z", "2024-03-15T13:45:30Z"),
        ("2024-03-15T13:45:30+08:00", "2024-03-15T13:45:30+08:00"),
        ("1710510330000", "2024-03-15T13:45:30Z"),
    ];
    for (input, want) in iso {
        assert_eq!(
            dates::normalize_iso8601(input).as_deref(),
            Some(want),
            "{input}"
        );
    }
    assert_eq!(
        dates::normalize_iso8601_with(
            "1710510330",
            dates::DateOptions {
                epoch_seconds: true,
                ..Default::default()
            }
        )
        .as_deref(),
        Some("2024-03-15T13:45:30Z")
    );
    assert_eq!(
        phone::normalize_mobile("+86 139-1234-5678").as_deref(),
        Some("13912345678")
    );
    assert_eq!(
        phone::parse_landline("（0571）8888-8888 转 123")
            .map(|l| l.normalized())
            .as_deref(),
        Some("0571-88888888-123")
    );
    assert_eq!(
        bank_card::parse("6222 0212 3456 7890 128").map(|c| c.network),
        Some(Some(bank_card::CardNetwork::UnionPay))
    );
    assert_eq!(
        plate::parse("粤b·12345d").map(|p| p.normalized).as_deref(),
        Some("粤B12345D")
    );
    assert_eq!(
        icd10::normalize("c34.900X001").as_deref(),
        Some("C34.900x001")
    );
}

#[test]
fn detect_prefers_checksummed_kinds() {
    let first = |v: &str| detect(v).first().map(|d| d.kind);
    let rows: &[(&str, Kind)] = &[
        ("11010519491231002X", Kind::CitizenId),
        ("440301198001010018", Kind::CitizenId),
        ("810000199001010019", Kind::ResidencePermit),
        ("91350100M000100Y43", Kind::SocialCreditCode),
        ("6222021234567890128", Kind::BankCard),
        ("13912345678", Kind::Mobile),
        ("010-62345678", Kind::Landline),
        ("zhangsan@example.com", Kind::Email),
        ("192.168.1.1", Kind::Ipv4),
        ("2001:db8::1", Kind::Ipv6),
        ("京A12345", Kind::LicensePlate),
        ("XA01ABD075A002010100483", Kind::Nhsa(NhsaKind::WesternDrug)),
        ("H33010600123", Kind::Nhsa(NhsaKind::MedicalInstitution)),
        ("C34.900x001", Kind::Icd10),
        ("81.5100x001", Kind::Icd9Cm3),
        ("2024-03-15", Kind::Date),
        ("2024-03-15T13:45:30+08:00", Kind::DateTime),
        ("H12345678", Kind::HkMacaoTravelPermit),
        ("E12345678", Kind::Passport),
        ("110105491231002", Kind::CitizenIdLegacy),
    ];
    for (v, kind) in rows {
        assert_eq!(first(v), Some(*kind), "{v}: {:?}", detect(v));
    }
    // An 18-digit number failing the check digit is never a citizen ID or permit.
    for v in [
        "110105194912310021",
        "810000199001010018",
        "123456789012345678",
    ] {
        let kinds: Vec<Kind> = detect(v).iter().map(|d| d.kind).collect();
        assert!(!kinds.contains(&Kind::CitizenId), "{v}");
        assert!(!kinds.contains(&Kind::ResidencePermit), "{v}");
    }
    // Ambiguous digit strings list several kinds, the stronger first.
    let d = detect("20240315");
    assert_eq!(d.first().map(|d| d.kind), Some(Kind::Date));
    assert!(d.iter().any(|d| d.kind == Kind::TaiwanCompatriotPermit));
    // Citizen IDs that also pass Luhn keep the ID first.
    let d = detect("330106199003071236");
    assert_eq!(d.first().map(|d| d.kind), Some(Kind::CitizenId));
    assert!(detect("   ").is_empty());
    assert!(detect("hello world").is_empty());
    // Confidences are sorted.
    for v in ["20240315", "100000", "36.10", "330106199003071236"] {
        let d = detect(v);
        assert!(
            d.windows(2).all(|w| w[0].confidence >= w[1].confidence),
            "{v}"
        );
    }
}
