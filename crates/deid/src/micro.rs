//! Microaggregation of a numeric column.
//!
//! GB/T 37964-2019 (statistical techniques among the de-identification methods) and
//! GB/T 39725-2020 §10.2 (statistical techniques: values replaced by a statistic of a group of
//! records): the records are ordered by their `group_by` class and then by value, cut into
//! consecutive groups of at least `group_size`, and every value is replaced by its group's mean
//! or median. No group is smaller than `group_size`: a class too small for a group of its own
//! is carried into the next one, and what is left at the end of a class (or of the column)
//! joins the group before it.
//!
//! Memory: the transform needs every value of the column before the first output row, so the
//! engine reads the input once more for it and keeps, per microaggregated column and record,
//! only the value as an `f64` (8 bytes, replaced in place by the result), a class id (4 bytes)
//! and, while grouping, one index (8 bytes). No cell text is held: the `group_by` classes are
//! numbered through digests of their values.

use std::ops::Range;

use crate::policy::GroupStatistic;

/// Why a column cannot be microaggregated. Never carries values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MicroError {
    /// Fewer non-empty values than one group needs.
    #[error("the column has {values} non-empty values, fewer than group_size {group_size}, so no group of at least {group_size} records can be formed")]
    TooFewValues {
        /// Non-empty values in the column.
        values: usize,
        /// The group size asked for.
        group_size: usize,
    },
}

/// The grouping: record indexes in group order and the groups as ranges over them.
/// `values[i]` is NaN for an empty cell (left out of every group); `classes[i]` is the record's
/// `group_by` class (all equal without `group_by`).
pub fn groups(
    values: &[f64],
    classes: &[u32],
    group_size: usize,
) -> Result<(Vec<usize>, Vec<Range<usize>>), MicroError> {
    let g = group_size.max(1);
    let mut order: Vec<usize> = (0..values.len())
        .filter(|&i| values.get(i).is_some_and(|v| !v.is_nan()))
        .collect();
    let n = order.len();
    if n == 0 {
        return Ok((order, Vec::new()));
    }
    if n < g {
        return Err(MicroError::TooFewValues {
            values: n,
            group_size: g,
        });
    }
    let class = |i: usize| classes.get(i).copied().unwrap_or(0);
    let value = |i: usize| values.get(i).copied().unwrap_or(f64::NAN);
    // Ties broken by record index so the grouping does not depend on the sort's stability.
    order.sort_unstable_by(|&a, &b| {
        class(a)
            .cmp(&class(b))
            .then(value(a).total_cmp(&value(b)))
            .then(a.cmp(&b))
    });
    let mut bounds: Vec<Range<usize>> = Vec::with_capacity(n / g + 1);
    let mut start = 0; // first record not yet in a group (carried over from smaller classes)
    let mut pos = 0;
    while pos < n {
        let c = order.get(pos).map_or(0, |&i| class(i));
        let mut end = pos;
        while end < n && order.get(end).is_some_and(|&i| class(i) == c) {
            end += 1;
        }
        // Cut [start, end) into groups of g, the last taking up to 2g - 1; a remainder below g
        // is carried into the next class.
        while end - start >= g {
            let cut = if end - start < 2 * g { end } else { start + g };
            bounds.push(start..cut);
            start = cut;
        }
        pos = end;
    }
    if start < n {
        match bounds.last_mut() {
            Some(last) => last.end = n,
            None => bounds.push(start..n), // unreachable: n >= g
        }
    }
    Ok((order, bounds))
}

/// Replaces every non-empty (non-NaN) value by its group's statistic, in place.
pub fn microaggregate(
    values: &mut [f64],
    classes: &[u32],
    group_size: usize,
    statistic: GroupStatistic,
) -> Result<(), MicroError> {
    let (order, bounds) = groups(values, classes, group_size)?;
    let mut members: Vec<f64> = Vec::new();
    for range in bounds {
        let Some(idx) = order.get(range) else {
            continue;
        };
        members.clear();
        members.extend(idx.iter().filter_map(|&i| values.get(i).copied()));
        let stat = match statistic {
            GroupStatistic::Mean => members.iter().sum::<f64>() / members.len() as f64,
            GroupStatistic::Median => {
                members.sort_unstable_by(f64::total_cmp);
                let m = members.len();
                let hi = members.get(m / 2).copied().unwrap_or(f64::NAN);
                if m % 2 == 1 {
                    hi
                } else {
                    let lo = members.get(m / 2 - 1).copied().unwrap_or(f64::NAN);
                    lo / 2.0 + hi / 2.0
                }
            }
        };
        for &i in idx {
            if let Some(v) = values.get_mut(i) {
                *v = stat;
            }
        }
    }
    Ok(())
}

/// The output text of a microaggregated value (`decimals` after the point).
pub fn format_value(value: f64, decimals: u32) -> String {
    format!("{:.*}", decimals as usize, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn groups_of_three_with_the_remainder_in_the_last() {
        let mut v = vec![10.0, 1.0, 4.0, 2.0, 8.0, 3.0, 100.0];
        microaggregate(&mut v, &[0; 7], 3, GroupStatistic::Mean).unwrap();
        // Sorted: 1 2 3 | 4 8 10 100 → means 2 and 30.5.
        assert_eq!(v, [30.5, 2.0, 30.5, 2.0, 30.5, 2.0, 30.5]);
        let mut m = vec![10.0, 1.0, 4.0, 2.0, 8.0, 3.0, 100.0];
        microaggregate(&mut m, &[0; 7], 3, GroupStatistic::Median).unwrap();
        assert_eq!(m, [9.0, 2.0, 9.0, 2.0, 9.0, 2.0, 9.0]);
    }

    #[test]
    fn empty_cells_stay_out_and_too_few_values_are_refused() {
        let mut v = vec![f64::NAN, 5.0, 7.0, f64::NAN];
        microaggregate(&mut v, &[0; 4], 2, GroupStatistic::Mean).unwrap();
        assert!(v[0].is_nan() && v[3].is_nan());
        assert_eq!((v[1], v[2]), (6.0, 6.0));
        let mut few = vec![1.0, f64::NAN, 2.0];
        assert_eq!(
            microaggregate(&mut few, &[0; 3], 5, GroupStatistic::Mean),
            Err(MicroError::TooFewValues {
                values: 2,
                group_size: 5
            })
        );
        let mut none: Vec<f64> = vec![f64::NAN; 3];
        assert!(microaggregate(&mut none, &[0; 3], 5, GroupStatistic::Mean).is_ok());
    }

    #[test]
    fn classes_are_grouped_apart_when_large_enough_and_merged_when_not() {
        // Class 0: four values, class 1: one value, class 2: two values; groups of 2.
        let v = [1.0, 2.0, 3.0, 4.0, 50.0, 60.0, 70.0];
        let c = [0, 0, 0, 0, 1, 2, 2];
        let (order, bounds) = groups(&v, &c, 2).unwrap();
        let grouped: Vec<Vec<usize>> = bounds.iter().map(|r| order[r.clone()].to_vec()).collect();
        assert_eq!(grouped, [vec![0, 1], vec![2, 3], vec![4, 5, 6]]);
    }

    #[test]
    fn rounding() {
        assert_eq!(format_value(2.0 / 3.0, 2), "0.67");
        assert_eq!(format_value(12.5, 0), "12");
        assert_eq!(format_value(3.0, 1), "3.0");
    }

    proptest! {
        #[test]
        fn every_group_is_large_enough_and_the_mean_is_kept(
            raw in proptest::collection::vec((proptest::option::weighted(0.9, -1e6f64..1e6), 0u32..4), 0..200),
            g in 2usize..12,
            decimals in 0u32..4,
        ) {
            let values: Vec<f64> = raw.iter().map(|(v, _)| v.unwrap_or(f64::NAN)).collect();
            let classes: Vec<u32> = raw.iter().map(|(_, c)| *c).collect();
            let present = values.iter().filter(|v| !v.is_nan()).count();
            match groups(&values, &classes, g) {
                Err(MicroError::TooFewValues { values: n, .. }) => {
                    prop_assert!(n < g && n == present && n > 0);
                    return Ok(());
                }
                Ok((order, bounds)) => {
                    prop_assert_eq!(order.len(), present);
                    let mut covered = 0;
                    for r in &bounds {
                        prop_assert!(r.len() >= g, "group of {} < {}", r.len(), g);
                        prop_assert_eq!(r.start, covered);
                        covered = r.end;
                    }
                    prop_assert_eq!(covered, present);
                }
            }
            let mut out = values.clone();
            microaggregate(&mut out, &classes, g, GroupStatistic::Mean).unwrap();
            if present > 0 {
                let mean_in: f64 = values.iter().filter(|v| !v.is_nan()).sum::<f64>() / present as f64;
                let printed: Vec<f64> = out
                    .iter()
                    .filter(|v| !v.is_nan())
                    .map(|v| format_value(*v, decimals).parse::<f64>().unwrap())
                    .collect();
                let mean_out = printed.iter().sum::<f64>() / present as f64;
                let tolerance = 0.5 * 10f64.powi(-(decimals as i32)) + 1e-6;
                prop_assert!((mean_in - mean_out).abs() <= tolerance, "{} vs {}", mean_in, mean_out);
            }
            for (a, b) in values.iter().zip(&out) {
                prop_assert_eq!(a.is_nan(), b.is_nan());
            }
        }
    }
}
