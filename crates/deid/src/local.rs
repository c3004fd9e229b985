//! Local recoding by iterated global recoding (ARX's `optimizeIterative` approach).
//!
//! GB/T 39725-2020 §10.2 e) and §11.4.2.4 (every class at least k records), Appendix G;
//! T/CI 857-2024 6.5 (each round's node is reported).
//!
//! Round 1 finds the optimal global recoding of all records with a (high) per-round suppression
//! limit; the records it would suppress are not suppressed but anonymised again, on their own,
//! in the next round, and so on until the remainder fits in the overall suppression allowance
//! (then it is suppressed) or the last round, which may only suppress what the allowance still
//! permits. Every round's classes
//! satisfy the criteria on their own, and classes of different rounds with the same generalised
//! values only merge into larger classes, so the union satisfies k-anonymity and
//! distinct-l-diversity (the monotone criteria), and at most `⌊limit · n⌋` records end up
//! suppressed.

use crate::anon::{AnonConfig, AnonData, AnonError, NodeEval};
use crate::lattice::search_optimal;
use crate::metrics::Recoding;

/// The result of local recoding.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalResult {
    /// Per record its node, or suppressed.
    pub recoding: Recoding,
    /// Each round's node and its evaluation on that round's records.
    pub rounds: Vec<NodeEval>,
}

/// Iterated global recoding (see the module docs). Each round searches the optimal global
/// recoding of the records left over with suppression limit `round_limit` (ARX sets a high
/// limit here so that each round generalises little); the records that round would suppress go
/// on to the next round. Once the left-over records fit in the overall allowance
/// `⌊config.suppression_limit · n⌋` they are suppressed; the last round (`max_rounds`) uses
/// whatever share of the allowance the left-over records may still take.
pub fn local_recoding(
    data: &AnonData,
    config: &AnonConfig,
    round_limit: f64,
    max_rounds: usize,
) -> Result<LocalResult, AnonError> {
    if !(0.0..=1.0).contains(&round_limit) || max_rounds == 0 {
        return Err(AnonError::InvalidParameter(
            "round_limit must be in [0, 1] and max_rounds at least 1",
        ));
    }
    let allowance = data.max_suppressed(config);
    // Units are records, or weighted distinct rows (AnonData::new_weighted); the allowance
    // and the limits are in records.
    let mut record_node: Vec<Option<u32>> = vec![None; data.units()];
    let mut nodes: Vec<Vec<usize>> = Vec::new();
    let mut rounds = Vec::new();
    let mut remaining: Vec<usize> = (0..data.units()).collect();
    let records = |units: &[usize]| {
        units
            .iter()
            .map(|&r| data.weight(r) as usize)
            .sum::<usize>()
    };
    while records(&remaining) > allowance {
        let sub = data.subset(&remaining);
        let last_limit = (allowance as f64 / sub.len() as f64).min(1.0);
        let mut round_config = config.clone();
        let last = rounds.len() + 1 >= max_rounds;
        round_config.suppression_limit = if last { last_limit } else { round_limit };
        let mut found = search_optimal(&sub, &round_config)?
            .optimum
            .filter(|b| b.suppressed < sub.len());
        if found.is_none() && !last {
            // no progress possible at this limit: finish within the allowance
            round_config.suppression_limit = last_limit;
            found = search_optimal(&sub, &round_config)?.optimum;
        }
        let Some(best) = found else {
            return Err(AnonError::NoSolution);
        };
        let suppressed = sub.suppressed_records(&best.node, &round_config)?;
        let kept = suppressed.iter().filter(|s| !**s).count();
        if kept == 0 {
            // nothing generalised: the whole remainder is suppressed, which must fit
            return Err(AnonError::NoSolution);
        }
        let idx = nodes.len() as u32;
        nodes.push(best.node.clone());
        let mut next = Vec::with_capacity(remaining.len() - kept);
        for (&r, &s) in remaining.iter().zip(&suppressed) {
            if s {
                next.push(r);
            } else {
                record_node[r] = Some(idx);
            }
        }
        rounds.push(best);
        remaining = next;
    }
    Ok(LocalResult {
        recoding: Recoding { nodes, record_node },
        rounds,
    })
}
