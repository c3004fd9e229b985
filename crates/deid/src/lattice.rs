//! Optimal global recoding over the generalisation lattice.
//!
//! GB/T 39725-2020 §10.2 e) and §11.4.2.4 (find the least generalisation under which every
//! class has at least k records), Appendix G (the generalisation hierarchies); T/CI 857-2024 6.5
//! (the chosen node is reported with its loss and suppressed count).
//!
//! The lattice has one node per combination of levels (`Π heightᵢ` nodes). A node's loss
//! without suppression depends only on its levels and is a lower bound of its loss with
//! suppression (a suppressed cell costs 1, the most any generalisation costs). The search visits
//! nodes in increasing lower-bound order and stops once the lower bound reaches the best exact
//! loss found, so the result is the exhaustive optimum. When acceptance is monotonic (always with
//! 0 % suppression; with suppression for k-anonymity and distinct-l-diversity), a rejected node
//! marks all its predecessors rejected and an accepted node all its successors accepted, as in
//! Flash (Kohlmayer et al. 2012), so most nodes are never grouped. Batches of candidates are
//! evaluated in parallel with rayon. For k-anonymity, a node's classes are rolled up from the
//! classes of an already grouped node below it (as in Flash and ARX) rather than regrouped from
//! all distinct tuples; the groupings kept for this are bounded in number and in total classes.
//!
//! Ties in loss are broken by the smaller sum of levels, then by lexicographic order of levels.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::anon::{AnonConfig, AnonData, AnonError, Grouping, NodeEval};

/// The generalisation lattice: mixed-radix node indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lattice {
    heights: Vec<usize>,
    strides: Vec<usize>,
    size: usize,
}

impl Lattice {
    /// A lattice with the given heights (levels per dimension).
    pub fn new(heights: &[usize]) -> Lattice {
        let mut strides = Vec::with_capacity(heights.len());
        let mut size = 1usize;
        for &h in heights {
            strides.push(size);
            size = size.saturating_mul(h.max(1));
        }
        Lattice {
            heights: heights.to_vec(),
            strides,
            size,
        }
    }

    /// Number of nodes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Levels of node `index`.
    pub fn levels(&self, index: usize) -> Vec<usize> {
        self.heights
            .iter()
            .zip(&self.strides)
            .map(|(&h, &s)| (index / s) % h.max(1))
            .collect()
    }

    /// Index of a node given by its levels.
    pub fn index(&self, levels: &[usize]) -> usize {
        levels.iter().zip(&self.strides).map(|(l, s)| l * s).sum()
    }

    /// Direct successors (one level higher in one dimension).
    pub fn successors(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.heights.len())
            .filter(move |&j| self.level(index, j) + 1 < self.heights[j])
            .map(move |j| index + self.strides[j])
    }

    /// Direct predecessors.
    pub fn predecessors(&self, index: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.heights.len())
            .filter(move |&j| self.level(index, j) > 0)
            .map(move |j| index - self.strides[j])
    }

    /// Level of node `index` in dimension `j`, without building the whole level vector.
    fn level(&self, index: usize, j: usize) -> usize {
        (index / self.strides[j]) % self.heights[j].max(1)
    }

    /// Sum of the levels of node `index`.
    fn level_sum(&self, index: usize) -> usize {
        (0..self.heights.len()).map(|j| self.level(index, j)).sum()
    }

    /// A rank whose order is the lexicographic order of the levels (dimension 0 first), for
    /// tie-breaking without building level vectors.
    fn lex_rank(&self, index: usize) -> usize {
        (0..self.heights.len()).fold(0usize, |acc, j| {
            acc.saturating_mul(self.heights[j].max(1))
                .saturating_add(self.level(index, j))
        })
    }
}

/// The result of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    /// The optimal node with its evaluation, or `None` when no node is acceptable.
    pub optimum: Option<NodeEval>,
    /// Nodes in the lattice.
    pub lattice_size: usize,
    /// Nodes actually grouped (the rest were pruned or inferred).
    pub evaluated: usize,
}

const UNKNOWN: u8 = 0;
const ACCEPTED: u8 = 1;
const REJECTED: u8 = 2;

fn better(a: &NodeEval, b: &NodeEval) -> bool {
    let key = |e: &NodeEval| (e.node.iter().sum::<usize>(), e.node.clone());
    a.loss < b.loss - 1e-12 || ((a.loss - b.loss).abs() <= 1e-12 && key(a) < key(b))
}

fn lower_bounds(data: &AnonData, config: &AnonConfig, lattice: &Lattice) -> Vec<f64> {
    let heights = data.heights();
    let q = heights.len();
    // Each level's term of the aggregate, computed once (a `powf` per attribute and node was
    // most of the bounds' cost); a node's bound combines its levels' terms in attribute order,
    // which is `Aggregate::apply` of its levels' losses to the bit.
    let terms: Vec<Vec<f64>> = heights
        .iter()
        .enumerate()
        .map(|(j, &h)| {
            (0..h)
                .map(|l| config.aggregate.term(data.level_loss(j, l), q))
                .collect()
        })
        .collect();
    (0..lattice.size())
        .into_par_iter()
        .map(|i| {
            config.aggregate.combine(
                terms
                    .iter()
                    .enumerate()
                    .map(|(j, t)| t.get(lattice.level(i, j)).copied().unwrap_or(0.0)),
                q,
            )
        })
        .collect()
}

fn mark(lattice: &Lattice, status: &mut [u8], start: usize, value: u8, up: bool) {
    let mut stack = vec![start];
    let mut next = Vec::with_capacity(lattice.heights.len());
    while let Some(i) = stack.pop() {
        next.clear();
        if up {
            next.extend(lattice.successors(i));
        } else {
            next.extend(lattice.predecessors(i));
        }
        for &nb in &next {
            if status[nb] == UNKNOWN {
                status[nb] = value;
                stack.push(nb);
            }
        }
    }
}

/// Optimal global recoding: the acceptable node of least loss (see the module docs).
pub fn search_optimal(data: &AnonData, config: &AnonConfig) -> Result<SearchResult, AnonError> {
    let lattice = Lattice::new(&data.heights());
    // validate the configuration once
    data.evaluate(&vec![0; data.dimensions()], config)?;
    let bounds = lower_bounds(data, config, &lattice);
    // Sort keys computed once per node (the comparison runs n·log n times).
    // Nodes below a dimension's lowest allowed level are never candidates.
    let mut order: Vec<(f64, usize, usize, usize)> = (0..lattice.size())
        .filter(|&i| allowed(&lattice, config, i))
        .map(|i| (bounds[i], lattice.level_sum(i), lattice.lex_rank(i), i))
        .collect();
    order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let order: Vec<usize> = order.into_iter().map(|(_, _, _, i)| i).collect();
    let mut search = Search {
        data,
        config,
        lattice: &lattice,
        status: vec![UNKNOWN; lattice.size()],
        cache: FxHashMap::default(),
        groupings: Vec::new(),
        kept_classes: 0,
        evaluated: 0,
        monotone: config.is_monotone(),
    };
    let no_suppression = data.max_suppressed(config) == 0;
    let mut best: Option<NodeEval> = None;
    if search.monotone {
        let batch = rayon::current_num_threads().max(1) * 2;
        for (pos, &i) in order.iter().enumerate() {
            if let Some(b) = &best {
                if bounds[i] > b.loss + 1e-12 {
                    break;
                }
            }
            // Accepted without suppression and not evaluated: a successor of an accepted
            // node, whose loss is at least that node's.
            if no_suppression && search.status[i] == ACCEPTED && !search.cache.contains_key(&i) {
                continue;
            }
            if search.status[i] == UNKNOWN {
                search.resolve(i);
            }
            if search.status[i] != ACCEPTED {
                continue;
            }
            if !search.cache.contains_key(&i) {
                // Evaluate this accepted node and the next few known-accepted candidates in
                // parallel (at worst some work is wasted if the search stops before them).
                let limit = best.as_ref().map_or(f64::INFINITY, |b| b.loss + 1e-12);
                let mut todo = vec![i];
                for &j in &order[pos + 1..] {
                    if todo.len() >= batch || bounds[j] > limit {
                        break;
                    }
                    if search.status[j] == ACCEPTED && !search.cache.contains_key(&j) {
                        todo.push(j);
                    }
                }
                let evals = search.evaluate_batch(&todo);
                for (j, e) in evals {
                    search.cache.insert(j, e);
                }
            }
            let e = match search.cache.remove(&i) {
                Some(e) => e,
                None => match search.evaluate_batch(&[i]).pop() {
                    Some((_, e)) => e,
                    None => continue,
                },
            };
            if e.anonymous && best.as_ref().is_none_or(|b| better(&e, b)) {
                best = Some(e);
            }
        }
    } else {
        let batch = rayon::current_num_threads().max(1) * 2;
        let mut pos = 0;
        while pos < order.len() {
            let mut candidates = Vec::with_capacity(batch);
            while pos < order.len() && candidates.len() < batch {
                let i = order[pos];
                if best.as_ref().is_some_and(|b| bounds[i] > b.loss + 1e-12) {
                    pos = order.len();
                    break;
                }
                pos += 1;
                candidates.push(i);
            }
            for (_, e) in search.evaluate_batch(&candidates) {
                if e.anonymous && best.as_ref().is_none_or(|b| better(&e, b)) {
                    best = Some(e);
                }
            }
        }
    }
    crate::anon::release_grouping_tables();
    Ok(SearchResult {
        optimum: best,
        lattice_size: lattice.size(),
        evaluated: search.evaluated,
    })
}

/// State of a monotone search: node status, evaluations not yet consumed.
struct Search<'a> {
    data: &'a AnonData,
    config: &'a AnonConfig,
    lattice: &'a Lattice,
    status: Vec<u8>,
    cache: FxHashMap<usize, NodeEval>,
    /// Groupings of evaluated nodes to roll later nodes up from.
    groupings: Vec<Grouping>,
    /// Classes in `groupings`.
    kept_classes: usize,
    evaluated: usize,
    monotone: bool,
}

/// Groupings a search keeps for roll-ups (each holds two `u32` per class of its node).
const KEPT_GROUPINGS: usize = 64;

/// Classes kept in all per distinct tuple: 8 × 8 bytes = 64 bytes per tuple at most.
const KEPT_CLASSES_PER_TUPLE: usize = 8;

impl Search<'_> {
    /// Determines the status of `start` Flash-style: builds a chain from `start` to the top
    /// (raising the relatively lowest dimension first) and binary-searches the lowest accepted
    /// node on it, probing several points per step in parallel. Every probe's outcome is
    /// propagated (rejected → all predecessors, accepted → all successors), and the node just
    /// below the lowest accepted one is rejected, which rejects `start` if it is below.
    fn resolve(&mut self, start: usize) {
        let heights = self.data.heights();
        let mut chain = vec![start];
        let mut levels = self.lattice.levels(start);
        loop {
            let next = (0..heights.len())
                .filter(|&j| levels[j] + 1 < heights[j])
                .min_by(|&a, &b| {
                    let ra = levels[a] as f64 / (heights[a] - 1) as f64;
                    let rb = levels[b] as f64 / (heights[b] - 1) as f64;
                    ra.total_cmp(&rb).then(a.cmp(&b))
                });
            let Some(j) = next else { break };
            levels[j] += 1;
            chain.push(self.lattice.index(&levels));
        }
        let probes = rayon::current_num_threads().clamp(1, 4);
        // invariant: chain[..lo] rejected, chain[hi..] accepted (hi = len: unknown/none)
        let (mut lo, mut hi) = (0usize, chain.len());
        while lo < hi {
            // first use what is already known
            let mut moved = false;
            while lo < hi && self.status[chain[lo]] == REJECTED {
                lo += 1;
                moved = true;
            }
            while lo < hi && self.status[chain[hi - 1]] == ACCEPTED {
                hi -= 1;
                moved = true;
            }
            if moved {
                continue;
            }
            let span = hi - lo;
            let mut points: Vec<usize> = (1..=probes)
                .map(|p| lo + (span * p) / (probes + 1))
                .filter(|&m| m < hi)
                .collect();
            points.dedup();
            let points: Vec<usize> = points
                .into_iter()
                .filter(|&m| self.status[chain[m]] == UNKNOWN)
                .collect();
            if points.is_empty() {
                break;
            }
            let nodes: Vec<usize> = points.iter().map(|&m| chain[m]).collect();
            for (i, e) in self.evaluate_batch(&nodes) {
                self.record(i, e);
            }
        }
        if self.status[start] == UNKNOWN {
            // defensive: evaluate directly
            for (i, e) in self.evaluate_batch(&[start]) {
                self.record(i, e);
            }
        }
    }

    /// Evaluates nodes in parallel, each rolled up from the kept grouping of fewest classes
    /// below it (or from the distinct tuples), and keeps their groupings for later roll-ups.
    fn evaluate_batch(&mut self, nodes: &[usize]) -> Vec<(usize, NodeEval)> {
        let kept = &self.groupings;
        let (data, config, lattice) = (self.data, self.config, self.lattice);
        let results: Vec<(usize, NodeEval, Option<Grouping>)> = nodes
            .par_iter()
            .map(|&i| {
                let levels = lattice.levels(i);
                let source = kept
                    .iter()
                    .filter(|g| g.node.iter().zip(&levels).all(|(a, b)| a <= b))
                    .min_by_key(|g| g.sizes.len());
                let (e, g) = data.evaluate_from(&levels, config, source);
                (i, e, g)
            })
            .collect();
        self.evaluated += results.len();
        let mut out = Vec::with_capacity(results.len());
        for (i, e, g) in results {
            if let Some(g) = g {
                self.keep(g);
            }
            out.push((i, e));
        }
        out
    }

    /// Keeps a grouping for roll-ups. At most [`KEPT_GROUPINGS`] are kept, holding at most
    /// [`KEPT_CLASSES_PER_TUPLE`] classes per distinct tuple in all (memory stays bounded by
    /// the distinct tuples on large data); the one with the most classes goes first, since it
    /// saves the least when rolled up from.
    fn keep(&mut self, g: Grouping) {
        let tuples = self.data.distinct_tuples();
        if g.sizes.len() >= tuples {
            return; // no fewer items than the tuples themselves
        }
        let limit = KEPT_CLASSES_PER_TUPLE.saturating_mul(tuples.max(1 << 12));
        if g.sizes.len() > limit {
            return;
        }
        while !self.groupings.is_empty()
            && (self.groupings.len() >= KEPT_GROUPINGS || self.kept_classes + g.sizes.len() > limit)
        {
            let Some((worst, size)) = self
                .groupings
                .iter()
                .enumerate()
                .map(|(n, k)| (n, k.sizes.len()))
                .max_by_key(|&(_, len)| len)
            else {
                break;
            };
            let gone = if size <= g.sizes.len() {
                // Still useful as a source for nodes the kept ones are not below: replace the
                // oldest instead, so that the kept set follows the search.
                self.groupings.remove(0)
            } else {
                self.groupings.swap_remove(worst)
            };
            self.kept_classes -= gone.sizes.len();
        }
        self.kept_classes += g.sizes.len();
        self.groupings.push(g);
    }

    fn record(&mut self, i: usize, e: NodeEval) {
        let v = if e.anonymous { ACCEPTED } else { REJECTED };
        self.status[i] = v;
        if self.monotone {
            mark(self.lattice, &mut self.status, i, v, e.anonymous);
        }
        if e.anonymous {
            self.cache.insert(i, e);
        }
    }
}

/// Evaluates every node (in parallel) and returns the acceptable node of least loss. Used to
/// prove [`search_optimal`] right; costs one grouping per node.
pub fn search_exhaustive(data: &AnonData, config: &AnonConfig) -> Result<SearchResult, AnonError> {
    let lattice = Lattice::new(&data.heights());
    data.evaluate(&vec![0; data.dimensions()], config)?;
    let best = (0..lattice.size())
        .into_par_iter()
        .filter(|&i| allowed(&lattice, config, i))
        .map(|i| data.evaluate_unchecked(&lattice.levels(i), config))
        .filter(|e| e.anonymous)
        .reduce_with(|a, b| if better(&b, &a) { b } else { a });
    crate::anon::release_grouping_tables();
    Ok(SearchResult {
        optimum: best,
        lattice_size: lattice.size(),
        evaluated: lattice.size(),
    })
}

/// Whether node `i` is at or above every dimension's lowest allowed level.
fn allowed(lattice: &Lattice, config: &AnonConfig, i: usize) -> bool {
    config
        .min_levels
        .iter()
        .enumerate()
        .all(|(j, &min)| lattice.level(i, j) >= min)
}

/// Evaluates every node and returns all evaluations in lattice-index order (for analysis and
/// tests on small lattices).
pub fn evaluate_all(data: &AnonData, config: &AnonConfig) -> Result<Vec<NodeEval>, AnonError> {
    let lattice = Lattice::new(&data.heights());
    data.evaluate(&vec![0; data.dimensions()], config)?;
    Ok((0..lattice.size())
        .into_par_iter()
        .map(|i| data.evaluate_unchecked(&lattice.levels(i), config))
        .collect())
}
