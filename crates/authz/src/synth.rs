//! A deterministic synthetic hospital for tests and benchmarks of the decision engine
//! (issue 7 item 5: ≥ 200 policies, ≥ 10,000 entities): departments with treatment groups,
//! doctors of every title (GB/T 39725-2020 §11.1.2.2), patients and labelled records
//! (§11.1.2.3), datasets and columns with levels (§6.2) and DMS classes, applications, and a
//! policy set of the default policies plus generated per-department, per-user, per-role,
//! per-resource and context-dependent policies.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

use crate::vocab::SPECIAL_DISEASES;
use crate::{AccessContext, ConsentState, Network, DEFAULT_POLICIES};

/// Row groups (distinct label sets) per dataset.
const ROW_GROUPS: usize = 8;

/// Sizes of the synthetic hospital.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Departments (each with 3 treatment groups).
    pub departments: usize,
    /// Users.
    pub users: usize,
    /// Patients (each with 3 records).
    pub patients: usize,
    /// Datasets (each with 20 columns).
    pub datasets: usize,
    /// Applications.
    pub applications: usize,
}

impl Default for Sizes {
    fn default() -> Self {
        Self {
            departments: 20,
            users: 1_000,
            patients: 2_000,
            datasets: 50,
            applications: 200,
        }
    }
}

/// A generated workload.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Entities in Cedar's JSON entity format.
    pub entities: Value,
    /// Number of entities.
    pub entity_count: usize,
    /// Policy text (default policies first).
    pub policies: String,
    /// Requests: (principal, action, resource, context), entity uids as `Type::"id"`.
    pub requests: Vec<(String, String, String, AccessContext)>,
}

const PURPOSES: [&str; 6] = [
    "treatment",
    "research",
    "payment",
    "marketing",
    "emergency_treatment",
    "audit",
];

fn uid(t: &str, id: &str) -> Value {
    json!({"type": t, "id": id})
}

fn dept(i: usize) -> String {
    format!("dept{i:02}")
}

fn group(d: usize, g: usize) -> String {
    format!("dept{d:02}-g{g}")
}

/// Generates the workload for `sizes` with `seed`, and `requests` random requests.
pub fn generate(seed: u64, sizes: Sizes, requests: usize) -> Workload {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ents: Vec<Value> = Vec::new();
    let org = "hospital-a";
    ents.push(json!({"uid": uid("Organisation", org), "attrs": {}, "parents": []}));
    for d in 0..sizes.departments {
        ents.push(json!({"uid": uid("Department", &dept(d)), "attrs": {},
            "parents": [uid("Organisation", org)]}));
    }
    for r in 0..10 {
        ents.push(json!({"uid": uid("Role", &format!("role-{r}")), "attrs": {}, "parents": []}));
    }
    // Users: mostly doctors and nurses, some data users and staff roles.
    let mut user_dept = Vec::new();
    for u in 0..sizes.users {
        let d = rng.gen_range(0..sizes.departments);
        user_dept.push(d);
        let roll: f64 = rng.gen();
        let roles: Vec<&str> = if roll < 0.55 {
            if rng.gen_bool(0.1) {
                vec!["doctor", "researcher"]
            } else {
                vec!["doctor"]
            }
        } else if roll < 0.75 {
            vec!["nurse"]
        } else if roll < 0.85 {
            vec!["researcher"]
        } else if roll < 0.88 {
            vec!["insurer"]
        } else if roll < 0.92 {
            vec!["officer"]
        } else if roll < 0.95 {
            vec!["committee"]
        } else if roll < 0.97 {
            vec!["auditor"]
        } else if roll < 0.985 {
            vec!["sysadmin"]
        } else {
            vec!["patient"]
        };
        let title = if roles.contains(&"doctor") {
            crate::vocab::TITLES[rng.gen_range(0..4)]
        } else {
            "none"
        };
        let groups: Vec<String> = (0..3)
            .filter(|_| rng.gen_bool(0.4))
            .map(|g| group(d, g))
            .collect();
        let supervises: Vec<Value> = if title == "chief" || title == "associate_chief" {
            (0..3)
                .map(|_| uid("User", &format!("u{}", rng.gen_range(0..sizes.users))))
                .collect()
        } else {
            Vec::new()
        };
        let status = if rng.gen_bool(0.03) { "left" } else { "active" };
        let mut attrs = json!({
            "organisation": org, "department": dept(d), "title": title,
            "treatment_groups": groups, "supervises": supervises, "roles": roles,
            "employment_status": status,
        });
        if roles == ["patient"] {
            attrs["patient"] = uid("Patient", &format!("p{}", rng.gen_range(0..sizes.patients)));
        }
        let mut parents = vec![uid("Department", &dept(d))];
        if rng.gen_bool(0.3) {
            parents.push(uid("Role", &format!("role-{}", rng.gen_range(0..10))));
        }
        ents.push(
            json!({"uid": uid("User", &format!("u{u}")), "attrs": attrs, "parents": parents}),
        );
    }
    // Attending doctors per department.
    let doctors_in =
        |d: usize| -> Vec<usize> { (0..sizes.users).filter(|&u| user_dept[u] == d).collect() };
    let by_dept: Vec<Vec<usize>> = (0..sizes.departments).map(doctors_in).collect();
    let mut patients_in: Vec<Vec<usize>> = vec![Vec::new(); sizes.departments];
    for p in 0..sizes.patients {
        let d = rng.gen_range(0..sizes.departments);
        patients_in[d].push(p);
        let g = group(d, rng.gen_range(0..3));
        let att = by_dept[d]
            .choose(&mut rng)
            .copied()
            .unwrap_or_else(|| rng.gen_range(0..sizes.users));
        let attending = uid("User", &format!("u{att}"));
        ents.push(json!({"uid": uid("Patient", &format!("p{p}")), "attrs": {
            "organisation": org, "department": dept(d), "treatment_group": g,
            "attending": attending}, "parents": []}));
        for r in 0..3 {
            let special: Vec<&str> = if rng.gen_bool(0.35) {
                vec![SPECIAL_DISEASES[rng.gen_range(0..8)]]
            } else {
                Vec::new()
            };
            let gran = crate::vocab::GRANULARITIES[rng.gen_range(0..3)];
            let level = match (gran, special.is_empty()) {
                ("detail", false) => 5,
                ("summary", _) => rng.gen_range(2..=3),
                _ => 4,
            };
            ents.push(
                json!({"uid": uid("PatientRecord", &format!("p{p}-r{r}")), "attrs": {
                "patient": uid("Patient", &format!("p{p}")), "organisation": org,
                "department": dept(d), "treatment_group": g, "attending": attending,
                "special_diseases": special, "granularity": gran, "level": level},
                "parents": [uid("Patient", &format!("p{p}"))]}),
            );
        }
    }
    for ds in 0..sizes.datasets {
        let level = rng.gen_range(1..=4);
        let class = ["C1", "C2", "C3"][rng.gen_range(0..3)];
        let users: Vec<Value> = (0..5)
            .map(|_| uid("User", &format!("u{}", rng.gen_range(0..sizes.users))))
            .collect();
        let owner = uid("User", &format!("u{}", rng.gen_range(0..sizes.users)));
        ents.push(json!({"uid": uid("Dataset", &format!("ds{ds}")), "attrs": {
            "owner": owner, "category": "clinical", "level": level, "dms_class": class,
            "authorised_users": users}, "parents": []}));
        for c in 0..20 {
            ents.push(
                json!({"uid": uid("Column", &format!("ds{ds}-c{c}")), "attrs": {
                "dataset": uid("Dataset", &format!("ds{ds}")), "category": "clinical",
                "level": rng.gen_range(1..=5), "dms_class": class},
                "parents": [uid("Dataset", &format!("ds{ds}"))]}),
            );
        }
        // Row groups for the sandbox's row filter: most without a special disease.
        for g in 0..ROW_GROUPS {
            let classes: Vec<&str> = if rng.gen_bool(0.6) {
                Vec::new()
            } else {
                SPECIAL_DISEASES
                    .iter()
                    .copied()
                    .filter(|_| rng.gen_bool(0.25))
                    .collect()
            };
            let level = if classes.is_empty() { level } else { 5 };
            ents.push(
                json!({"uid": uid("Row", &format!("ds{ds}-g{g}")), "attrs": {
                "dataset": uid("Dataset", &format!("ds{ds}")), "special_diseases": classes,
                "department": format!("dept{}", rng.gen_range(0..sizes.departments)),
                "level": level},
                "parents": [uid("Dataset", &format!("ds{ds}"))]}),
            );
        }
    }
    for a in 0..sizes.applications {
        let status = ["submitted", "approved", "rejected"][rng.gen_range(0..3)];
        ents.push(
            json!({"uid": uid("Application", &format!("app{a}")), "attrs": {
            "applicant": uid("User", &format!("u{}", rng.gen_range(0..sizes.users))),
            "dataset": uid("Dataset", &format!("ds{}", rng.gen_range(0..sizes.datasets))),
            "status": status}, "parents": []}),
        );
    }
    ents.push(json!({"uid": uid("AuditLog", "log"), "attrs": {}, "parents": []}));

    let policies = generated_policies(&mut rng, sizes);
    let entity_count = ents.len();
    let requests = (0..requests)
        .map(|_| random_request(&mut rng, sizes, &user_dept, &patients_in))
        .collect();
    Workload {
        entities: Value::Array(ents),
        entity_count,
        policies,
        requests,
    }
}

fn generated_policies(rng: &mut ChaCha8Rng, sizes: Sizes) -> String {
    let mut out = String::from(DEFAULT_POLICIES);
    let nd = sizes.departments;
    let mut n = 0usize;
    let mut id = |kind: &str| {
        n += 1;
        format!("@id(\"gen-{kind}-{n}\")\n")
    };
    for d in 0..nd {
        out += &format!(
            "{}permit (principal, action == Action::\"read\", resource is PatientRecord) when {{ principal.department == \"{dd}\" && resource.department == \"{dd}\" && principal.roles.contains(\"nurse\") && resource.level <= 3 }};\n",
            id("dept-nurse"), dd = dept(d));
        out += &format!(
            "{}forbid (principal, action in [Action::\"export\", Action::\"download\"], resource is PatientRecord) when {{ resource.department == \"{dd}\" && context.hour < 7 }};\n",
            id("dept-night"), dd = dept(d));
        out += &format!(
            "{}permit (principal, action == Action::\"read\", resource is Patient) when {{ principal.treatment_groups.contains(\"{g}\") && resource.treatment_group == \"{g}\" }};\n",
            id("group-patient"), g = group(d, rng.gen_range(0..3)));
    }
    for _ in 0..40 {
        out += &format!(
            "{}permit (principal == User::\"u{}\", action == Action::\"query\", resource in Dataset::\"ds{}\") when {{ context has approval_id }};\n",
            id("user-grant"), rng.gen_range(0..sizes.users), rng.gen_range(0..sizes.datasets));
    }
    for r in 0..10 {
        out += &format!(
            "{}permit (principal in Role::\"role-{r}\", action == Action::\"read\", resource is Dataset) when {{ resource.level <= {} }};\n",
            id("role"), 2 + r % 2);
    }
    for _ in 0..30 {
        out += &format!(
            "{}permit (principal, action == Action::\"read\", resource == PatientRecord::\"p{}-r{}\") when {{ principal.department == resource.department && principal.roles.contains(\"doctor\") }};\n",
            id("record"), rng.gen_range(0..sizes.patients), rng.gen_range(0..3));
    }
    for _ in 0..20 {
        out += &format!(
            "{}forbid (principal, action == Action::\"export\", resource in Dataset::\"ds{}\") unless {{ context has approval_id && principal.roles.contains(\"officer\") }};\n",
            id("dataset-export"), rng.gen_range(0..sizes.datasets));
    }
    for k in 0..20 {
        let purpose = format!("study-{k}");
        out += &format!(
            "{}permit (principal, action == Action::\"read\", resource is PatientRecord) when {{ context has purpose && context.purpose == \"{purpose}\" && principal.department == resource.department && resource.special_diseases.isEmpty() }};\n",
            id("purpose"));
    }
    for k in 0..5 {
        out += &format!(
            "{}permit (principal, action == Action::\"read\", resource is Application) when {{ resource.status like \"appr*\" && principal.roles.contains(\"committee\") && context.hour >= {k} }};\n",
            id("opaque"));
    }
    out
}

fn random_request(
    rng: &mut ChaCha8Rng,
    sizes: Sizes,
    user_dept: &[usize],
    patients_in: &[Vec<usize>],
) -> (String, String, String, AccessContext) {
    let user = rng.gen_range(0..sizes.users);
    let principal = format!("User::\"u{user}\"");
    // Half the patient requests stay in the principal's department, where most permits apply.
    let patient = if rng.gen_bool(0.5) {
        patients_in[user_dept[user]]
            .choose(rng)
            .copied()
            .unwrap_or_else(|| rng.gen_range(0..sizes.patients))
    } else {
        rng.gen_range(0..sizes.patients)
    };
    let actions: [(&str, &[&str]); 8] = [
        (
            "read",
            &[
                "PatientRecord",
                "PatientRecord",
                "PatientRecord",
                "Patient",
                "Dataset",
                "Column",
                "Application",
                "AuditLog",
            ],
        ),
        ("query", &["Dataset", "Column", "Row", "Row"]),
        ("export", &["PatientRecord", "Dataset", "Column"]),
        ("download", &["PatientRecord", "Dataset", "Column"]),
        ("approve", &["Application"]),
        ("reidentify", &["Dataset", "Column"]),
        ("grant", &["Dataset", "Column", "Application"]),
        ("modify_bulk", &["PatientRecord", "Dataset", "AuditLog"]),
    ];
    let (action, types) = if rng.gen_bool(0.6) {
        actions[0]
    } else {
        actions[rng.gen_range(0..8)]
    };
    let ty = types[rng.gen_range(0..types.len())];
    let id = match ty {
        "PatientRecord" => format!("p{patient}-r{}", rng.gen_range(0..3)),
        "Patient" => format!("p{patient}"),
        "Dataset" => format!("ds{}", rng.gen_range(0..sizes.datasets)),
        "Column" => format!(
            "ds{}-c{}",
            rng.gen_range(0..sizes.datasets),
            rng.gen_range(0..20)
        ),
        "Application" => format!("app{}", rng.gen_range(0..sizes.applications)),
        "Row" => format!(
            "ds{}-g{}",
            rng.gen_range(0..sizes.datasets),
            rng.gen_range(0..ROW_GROUPS)
        ),
        _ => "log".to_string(),
    };
    let purpose = if rng.gen_bool(0.05) {
        None
    } else if rng.gen_bool(0.2) {
        Some(format!("study-{}", rng.gen_range(0..20)))
    } else {
        Some(PURPOSES[rng.gen_range(0..PURPOSES.len())].to_string())
    };
    let consent = [
        ConsentState::Granted,
        ConsentState::NotRequired,
        ConsentState::NotRequired,
        ConsentState::NotRequired,
        ConsentState::None,
        ConsentState::Restricted,
        ConsentState::Revoked,
    ][rng.gen_range(0..7)];
    let ctx = AccessContext {
        purpose,
        hour: rng.gen_range(0..24),
        network: Network {
            internal: rng.gen_bool(0.8),
            address: "10.1.2.3".to_string(),
        },
        consent,
        emergency: rng.gen_bool(0.05),
        legal_basis: rng.gen_bool(0.1).then(|| "law".to_string()),
        approval_id: rng
            .gen_bool(0.3)
            .then(|| format!("APR-{}", rng.gen_range(0..1000))),
        approved_special_diseases: rng.gen_bool(0.2).then(|| {
            SPECIAL_DISEASES
                .iter()
                .filter(|_| rng.gen_bool(0.3))
                .map(|d| d.to_string())
                .collect()
        }),
    };
    (
        principal,
        format!("Action::\"{action}\""),
        format!("{ty}::\"{id}\""),
        ctx,
    )
}
