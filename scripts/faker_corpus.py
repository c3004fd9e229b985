#!/usr/bin/env python3
"""An outside corpus for `medspace scan` (issue 5, "files the team has never seen").

The values come from Faker's zh_CN providers (a third-party generator, written without knowledge of
medspace's detector): names, citizen ID numbers with their check digits, mobile numbers, addresses,
postal codes, companies, jobs, e-mail and IP addresses, bank cards, licence plates, dates and
sentences. The files mix the header styles a hospital export has (Chinese, English, pinyin initials,
opaque `field_NN` names) and date formats, and embed phone and ID numbers in free text.

Usage (Faker and, for a fifth file, mimesis installed, e.g. in a throwaway virtual environment):
    python3 scripts/faker_corpus.py OUT_DIR [ROWS] [SEED]
Writes OUT_DIR/*.csv and OUT_DIR/truth.csv (file,column,semantic_type,identifier_kind). The copy in
crates/classify/tests/faker/ was written with the defaults (300 rows, seed 2026) by Faker 40.x and is
what `crates/classify/tests/faker.rs` checks; `scripts/eval-scan-faker.sh` regenerates a fresh one
with another seed and scores `medspace scan --format json` on it.
"""
import csv
import os
import random
import sys

from faker import Faker

out_dir = sys.argv[1]
rows = int(sys.argv[2]) if len(sys.argv) > 2 else 300
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 2026
os.makedirs(out_dir, exist_ok=True)
Faker.seed(seed)
fake = Faker("zh_CN")
rng = random.Random(seed)


def birth(fmt):
    d = fake.date_of_birth(minimum_age=1, maximum_age=95)
    return {
        "iso": d.isoformat(),
        "slash": "%d/%d/%d" % (d.year, d.month, d.day),
        "cn": "%d年%d月%d日" % (d.year, d.month, d.day),
        "compact": d.strftime("%Y%m%d"),
    }[fmt]


def complaint():
    """A chief complaint, sometimes with a phone or ID number in it."""
    text = fake.sentence(nb_words=rng.randint(6, 14))
    r = rng.random()
    if r < 0.3:
        text += "联系电话" + fake.phone_number() + "。"
    elif r < 0.45:
        text += "身份证号" + fake.ssn() + "，" + fake.sentence(nb_words=4)
    return text


# (header, generator, semantic_type, identifier_kind) per column, per file.
FILES = {
    "faker_patients_cn.csv": [
        ("姓名", fake.name, "person_name", "direct"),
        ("身份证号", fake.ssn, "id_number", "direct"),
        ("性别", lambda: rng.choice(["男", "女"]), "sex", "quasi"),
        ("出生日期", lambda: birth("iso"), "birth_date", "quasi"),
        ("手机号码", fake.phone_number, "mobile_phone", "direct"),
        ("家庭住址", fake.address, "address", "direct"),
        ("邮政编码", fake.postcode, "postal_code", "quasi"),
        ("工作单位", fake.company, "employer", "quasi"),
        ("职业", fake.job, "occupation", "quasi"),
        ("民族", lambda: rng.choice(["汉族", "回族", "满族", "壮族", "苗族", "维吾尔族"]), "ethnicity", "quasi"),
        ("所在城市", fake.city, "address", "quasi"),
        ("电子邮箱", fake.email, "email", "direct"),
        ("主诉", complaint, "free_text", "sensitive"),
    ],
    "faker_members_en.csv": [
        ("full_name", fake.name, "person_name", "direct"),
        ("citizen_id", fake.ssn, "id_number", "direct"),
        ("gender", lambda: rng.choice(["M", "F"]), "sex", "quasi"),
        ("dob", lambda: birth("slash"), "birth_date", "quasi"),
        ("phone", fake.phone_number, "mobile_phone", "direct"),
        ("home_address", fake.address, "address", "direct"),
        ("zip", fake.postcode, "postal_code", "quasi"),
        ("company", fake.company, "employer", "quasi"),
        ("card_no", fake.credit_card_number, "bank_card", "direct"),
        ("plate_no", fake.license_plate, "license_plate", "direct"),
        ("login_ip", fake.ipv4, "ip_address", "direct"),
        ("contact_email", fake.free_email, "email", "direct"),
        ("city", fake.city, "address", "quasi"),
        ("job", fake.job, "occupation", "quasi"),
    ],
    "faker_pinyin.csv": [
        ("xm", fake.name, "person_name", "direct"),
        ("sfzh", fake.ssn, "id_number", "direct"),
        ("xb", lambda: rng.choice(["男", "女"]), "sex", "quasi"),
        ("csrq", lambda: birth("cn"), "birth_date", "quasi"),
        ("sjhm", fake.phone_number, "mobile_phone", "direct"),
        ("jtzz", fake.address, "address", "direct"),
        ("yzbm", fake.postcode, "postal_code", "quasi"),
        ("gzdw", fake.company, "employer", "quasi"),
        ("zs", complaint, "free_text", "sensitive"),
    ],
    # No telling header: the values alone decide.
    "faker_opaque.csv": [
        ("field_01", fake.name, "person_name", "direct"),
        ("field_02", fake.ssn, "id_number", "direct"),
        ("field_03", fake.phone_number, "mobile_phone", "direct"),
        ("field_04", fake.address, "address", "direct"),
        ("field_05", fake.email, "email", "direct"),
        ("field_06", fake.ipv4, "ip_address", "direct"),
        ("field_10", fake.ipv6, "ip_address", "direct"),
        ("field_11", lambda: fake.date_time_this_decade().strftime("%Y-%m-%d %H:%M:%S"), "datetime", "quasi"),
        ("field_12", lambda: "%.2f" % rng.uniform(10, 9999), "amount", "other"),
        ("field_07", fake.credit_card_number, "bank_card", "direct"),
        ("field_08", lambda: birth("iso"), "birth_date", "quasi"),
        ("field_09", complaint, "free_text", "sensitive"),
    ],
}

truth = []


def write(name, columns):
    with open(os.path.join(out_dir, name), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([c[0] for c in columns])
        for _ in range(rows):
            w.writerow([c[1]() for c in columns])
    truth.extend((name, c[0], c[2], c[3]) for c in columns)


for name, columns in sorted(FILES.items()):
    write(name, columns)

# A second generator, mimesis (zh locale), when it is installed: its addresses are lanes and house
# numbers without a province or city (`永定东九条373号`), its names are written given name first
# unless reversed. Its telephone numbers use prefixes no Chinese mobile has, so they are left out.
try:
    from mimesis import Address, Person
    from mimesis.locales import Locale

    person, place = Person(Locale.ZH, seed=seed), Address(Locale.ZH, seed=seed)
    chinese_name = lambda: person.full_name(reverse=True).replace(" ", "")
    write("mimesis_zh.csv", [
        ("患者姓名", chinese_name, "person_name", "direct"),
        ("通讯地址", place.address, "address", "direct"),
        ("城市", place.city, "address", "quasi"),
        ("邮编", place.postal_code, "postal_code", "quasi"),
        ("职业", person.occupation, "occupation", "quasi"),
        ("邮箱", person.email, "email", "direct"),
        ("col_a", chinese_name, "person_name", "direct"),
        ("col_b", place.address, "address", "direct"),
        ("col_c", person.email, "email", "direct"),
    ])
except ImportError:
    print("mimesis is not installed: its file is left out", file=sys.stderr)


with open(os.path.join(out_dir, "truth.csv"), "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["file", "column", "semantic_type", "identifier_kind"])
    w.writerows(truth)
files = len({t[0] for t in truth})
print("wrote %d files, %d columns, %d rows each, into %s" % (files, len(truth), rows, out_dir))
