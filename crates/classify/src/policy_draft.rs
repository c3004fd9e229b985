//! `medspace scan FILE --emit-policy POLICY.toml`: a de-identification policy draft from the
//! scan's suggestions, in the TOML format `medspace deid` reads (`medspace_deid::policy`).
//!
//! GB/T 39725-2020 §10.2 (de-identification), Table 6 and Appendix G Table G.1 (the treatment of
//! each data element), §10.2 e) and §11.4.2.4 (k ≥ 5 over the quasi-identifiers); T/CI
//! 857-2024 6.5.2 (written de-identification rules). It is a *draft*: every rule carries the
//! scan's reading of the column as a comment so the security officer can review it before the
//! committee approves it.
//!
//! - the subject column (for per-subject date shifts) is the first `id_number` column, else
//!   the first `patient_id` column; without one, dates are reduced to the year;
//! - quasi-identifiers kept or generalised (sex, county → prefecture, birth date → age band …)
//!   are listed for the k-anonymity check; date-shifted columns are not (shifted dates are
//!   unique by design);
//! - an action the `deid` build does not know (told by the caller) falls back to `drop`.

use std::fmt::Write as _;

use medspace_core::{IdentifierKind, SemanticType};

use crate::report::{ScanResult, SuggestedAction};

/// Options of [`draft_policy`].
#[derive(Debug, Clone)]
pub struct DraftOptions<'a> {
    /// Policy name.
    pub name: String,
    /// Action names the de-identification engine accepts (`medspace_deid::ACTION_NAMES`).
    pub supported_actions: &'a [&'a str],
    /// Date at which `age_band` computes ages, `YYYY-MM-DD`.
    pub reference_date: String,
    /// k of the k-anonymity check (at least 5 on a node).
    pub k: usize,
}

/// Why no draft could be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    /// The policy format needs at least one quasi-identifier kept in the output.
    #[error("no column is kept in the output for the k-anonymity check; expected at least one quasi-identifier or kept column (edit the policy by hand)")]
    NoQuasiIdentifier,
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One line of comment text: no line breaks.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The action written for a column and its options.
fn action_for(
    suggested: SuggestedAction,
    _semantic_type: SemanticType,
    has_subject: bool,
    supported: &[&str],
) -> SuggestedAction {
    match suggested {
        SuggestedAction::DateShift if !has_subject => SuggestedAction::Drop,
        a if supported.contains(&a.name()) => a,
        _ => SuggestedAction::Drop,
    }
}

/// Writes the policy draft for a scan (see the module documentation).
pub fn draft_policy(result: &ScanResult, opts: &DraftOptions<'_>) -> Result<String, DraftError> {
    let subject = result
        .columns
        .iter()
        .find(|c| c.semantic_type == SemanticType::IdNumber)
        .or_else(|| {
            result
                .columns
                .iter()
                .find(|c| c.semantic_type == SemanticType::PatientId)
        })
        .map(|c| c.name.clone());
    let year_supported = opts.supported_actions.contains(&"year");
    let mut rules = String::new();
    let mut quasi: Vec<String> = Vec::new();
    let mut kept: Vec<String> = Vec::new();
    for c in &result.columns {
        let mut action = action_for(
            c.suggested_action,
            c.semantic_type,
            subject.is_some(),
            opts.supported_actions,
        );
        let year_instead =
            c.suggested_action == SuggestedAction::DateShift && subject.is_none() && year_supported;
        let _ = writeln!(
            rules,
            "\n# {}: {}, {} identifier, level {}, {}, confidence {:.2}{}",
            comment(&c.name),
            c.semantic_type.name(),
            match c.identifier_kind {
                IdentifierKind::Direct => "direct",
                IdentifierKind::Quasi => "quasi",
                IdentifierKind::Sensitive => "sensitive",
                IdentifierKind::Other => "no",
            },
            c.level,
            c.category.name(),
            c.confidence,
            if c.special_disease.is_empty() {
                String::new()
            } else {
                format!(
                    ", special diseases: {}",
                    c.special_disease
                        .iter()
                        .map(|s| s.name())
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }
        );
        let _ = writeln!(
            rules,
            "# {}",
            comment(c.suggested_action.basis(c.semantic_type))
        );
        if action != c.suggested_action && !year_instead {
            let _ = writeln!(
                rules,
                "# suggested `{}` is not available here: `{}` instead",
                c.suggested_action.name(),
                action.name()
            );
        }
        let _ = writeln!(rules, "[columns.{}]", toml_string(&c.name));
        if year_instead {
            let _ = writeln!(
                rules,
                "# no subject column for per-subject date shifts: dates reduced to the year"
            );
            rules.push_str("action = \"year\"\n");
            action = SuggestedAction::Keep; // kept in the output, generalised
        } else {
            let _ = writeln!(rules, "action = \"{}\"", action.name());
            match action {
                SuggestedAction::Truncate => {
                    let (length, pad) = SuggestedAction::truncation(c.semantic_type);
                    let _ = writeln!(rules, "length = {length}");
                    let _ = writeln!(rules, "pad = {}", toml_string(&pad.to_string()));
                }
                SuggestedAction::AgeBand => {
                    let _ = writeln!(
                        rules,
                        "reference_date = {}",
                        toml_string(&opts.reference_date)
                    );
                }
                _ => {}
            }
        }
        let stays = matches!(
            action,
            SuggestedAction::Keep | SuggestedAction::Truncate | SuggestedAction::AgeBand
        );
        if stays {
            kept.push(c.name.clone());
            if c.identifier_kind == IdentifierKind::Quasi {
                quasi.push(c.name.clone());
            }
        }
    }
    if quasi.is_empty() {
        match kept.first() {
            Some(first) => quasi.push(first.clone()),
            None => return Err(DraftError::NoQuasiIdentifier),
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# De-identification policy DRAFT written by `medspace scan --emit-policy` from a {} scan of {} rows.",
        match result.mode {
            crate::report::ScanMode::Sampled => "sampled",
            crate::report::ScanMode::Full => "full",
        },
        result.rows_scanned
    );
    out.push_str("# Review every rule; the committee approves the policy before use (GB/T 39725-2020 §10.2, Table 6, Appendix G; T/CI 857-2024 6.5.2).\n");
    let _ = writeln!(out, "name = {}", toml_string(&opts.name));
    let _ = writeln!(out, "k = {}", opts.k);
    let _ = writeln!(
        out,
        "quasi_identifiers = [{}]",
        quasi
            .iter()
            .map(|q| toml_string(q))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(s) = &subject {
        let _ = writeln!(out, "subject_column = {}", toml_string(s));
    }
    out.push_str("date_shift_max_days = 30\n");
    out.push_str("default_action = \"drop\"\n");
    out.push_str(&rules);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_string("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(toml_string("姓名"), "\"姓名\"");
        assert_eq!(toml_string("\u{1}"), "\"\\u0001\"");
        assert_eq!(comment("a\nb"), "a b");
    }

    #[test]
    fn unsupported_actions_fall_back_to_drop() {
        let supported = ["drop", "keep"];
        assert_eq!(
            action_for(
                SuggestedAction::RedactSpans,
                SemanticType::FreeText,
                true,
                &supported
            ),
            SuggestedAction::Drop
        );
        assert_eq!(
            action_for(
                SuggestedAction::DateShift,
                SemanticType::Date,
                false,
                &supported
            ),
            SuggestedAction::Drop
        );
        assert_eq!(
            action_for(SuggestedAction::Keep, SemanticType::Sex, true, &supported),
            SuggestedAction::Keep
        );
    }
}
