//! Re-identification risk of a dataset, from its equivalence-class sizes.
//!
//! GB/T 39725-2020 §10.2 e) and §11.4.2.4 (no description may match fewer than k = 5 people:
//! the highest prosecutor risk must not exceed 1/5), Appendix G; T/CI 857-2024 6.5 (the risk
//! measured before and after de-identification is logged).
//!
//! Sample-only attacker models (ARX's "prosecutor", "journalist" and "marketer" without a
//! population table):
//!
//! * prosecutor: a record's risk is `1/|E|`; highest = `1/min |E|`, average = classes / n, and
//!   the share of records whose risk exceeds a threshold;
//! * journalist: equal to the prosecutor figures when the sample is its own population;
//! * marketer: expected share re-identified = classes / n;
//! * sample uniques: share of records alone in their class.
//!
//! Population uniqueness is estimated with **Zayatz's (1991) model**, as one of ARX's
//! estimators: with `fᵢ` the number of sample classes of size `i`, `n` records in the sample and
//! `N` in the population, `P(unique in population | unique in sample) =
//! (f₁/K)·h(1) / Σᵢ (fᵢ/K)·h(i)` where `h(i)` is the hypergeometric probability that a
//! population class of size `i` yields exactly one sampled record and `K` the number of classes;
//! the population-unique share is `f₁ · P / n`. This is a documented simplification of ARX's
//! decision rule (Dankar et al. 2012), which picks among Pitman, Zayatz and SNB.

/// Risk figures.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RiskReport {
    /// Records.
    pub records: usize,
    /// Classes.
    pub classes: usize,
    /// Highest prosecutor risk `1/min |E|` (0 for no records).
    pub prosecutor_highest: f64,
    /// Average prosecutor risk (classes / records).
    pub prosecutor_average: f64,
    /// Share of records whose prosecutor risk exceeds the threshold given.
    pub records_above_threshold: f64,
    /// The threshold used.
    pub threshold: f64,
    /// Journalist risk, sample-only model (equals `prosecutor_highest`).
    pub journalist_highest: f64,
    /// Marketer risk, sample-only model (classes / records).
    pub marketer: f64,
    /// Share of records in classes of size 1.
    pub sample_uniques: f64,
    /// Zayatz estimate of the share of records unique in the population, when a population
    /// size was given.
    pub population_uniques_zayatz: Option<f64>,
}

/// Computes the risk figures from class sizes. `threshold` is the prosecutor risk above which
/// a record counts as at risk (e.g. 0.2 = 1/5); `population` is the population size for the
/// Zayatz estimate (at least the number of records).
pub fn risk_from_class_sizes(
    sizes: &[usize],
    threshold: f64,
    population: Option<f64>,
) -> RiskReport {
    let n: usize = sizes.iter().sum();
    let classes = sizes.iter().filter(|&&s| s > 0).count();
    let nf = n.max(1) as f64;
    let min = sizes.iter().copied().filter(|&s| s > 0).min();
    let highest = min.map_or(0.0, |m| 1.0 / m as f64);
    let above: usize = sizes
        .iter()
        .filter(|&&s| s > 0 && 1.0 / s as f64 > threshold)
        .sum();
    let uniques = sizes.iter().filter(|&&s| s == 1).count();
    let avg = if n == 0 { 0.0 } else { classes as f64 / nf };
    RiskReport {
        records: n,
        classes,
        prosecutor_highest: highest,
        prosecutor_average: avg,
        records_above_threshold: if n == 0 { 0.0 } else { above as f64 / nf },
        threshold,
        journalist_highest: highest,
        marketer: avg,
        sample_uniques: if n == 0 { 0.0 } else { uniques as f64 / nf },
        population_uniques_zayatz: population.map(|p| zayatz(sizes, n, p)),
    }
}

/// Zayatz's estimate of the share of records that are population uniques.
fn zayatz(sizes: &[usize], n: usize, population: f64) -> f64 {
    let big_n = population.max(n as f64);
    let nf = n as f64;
    if n == 0 {
        return 0.0;
    }
    let mut freq: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    for &s in sizes.iter().filter(|&&s| s > 0) {
        *freq.entry(s).or_insert(0) += 1;
    }
    let f1 = freq.get(&1).copied().unwrap_or(0) as f64;
    if f1 == 0.0 {
        return 0.0;
    }
    // h(i) = P(X = 1), X ~ Hypergeometric(N, i, n) = (n/N) · Π_{j=1}^{i-1} (N−n−j+1)/(N−j)
    let mut num = 0.0;
    let mut den = 0.0;
    let mut h = nf / big_n;
    let mut i = 1usize;
    for (&size, &count) in &freq {
        while i < size {
            let j = i as f64;
            h *= ((big_n - nf - j + 1.0) / (big_n - j)).max(0.0);
            i += 1;
        }
        let term = count as f64 * h;
        if size == 1 {
            num = term;
        }
        den += term;
    }
    if den <= 0.0 {
        return 0.0;
    }
    f1 * (num / den) / nf
}
