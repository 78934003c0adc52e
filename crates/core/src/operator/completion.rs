//! Matrix completion: 𝒜 observes entries of a symmetric matrix on a random set Ω.
//!
//! # Convention
//! ```text
//!   Ω = {(i_k, j_k)}_{k=1..m},  i_k ≤ j_k, each pair (i, j), i ≤ j, in Ω independently with prob. p
//!   𝒜(Z)_k = w_k · Z_{i_k j_k} / √p,   w_k = 1 if i_k = j_k, √2 if i_k < j_k
//!   𝒜*(v)  = Σ_k v_k · (w_k/√p) · E_k,  E_k = e_ie_iᵀ (i = j), (e_ie_jᵀ + e_je_iᵀ)/2 (i < j)
//! ```
//! The weights are those of svec ([`crate::packing`]), so E_Ω‖𝒜(Z)‖² = Σ_{i≤j} w_ij² Z_ij² =
//! ‖Z‖_F² for every symmetric Z: the same normalisation as Gaussian sensing, and step sizes mean
//! the same for both. The number of measurements m = |Ω| is random, with mean p·n(n+1)/2.
//!
//! # Cost
//! Storage O(|Ω|) (the pairs, their weights, and the symmetric pattern of 𝒜*(v) as a sparse
//! matrix from faer's sparse module); one iteration of a run costs O(|Ω|·r'): the residual entries
//! w_k⟨U_{i_k}, U_{j_k}⟩/√p − y_k are dot products of rows of U, and ∇f(U) = 𝒜*(residual)·U is a
//! sparse–dense product. No n×n matrix is formed in the pass ([`MeasurementOperator::reads_uut`]
//! is false).

use faer::sparse::linalg::matmul::sparse_dense_matmul;
use faer::sparse::{Pair, SparseColMat, SparseColMatRef, SymbolicSparseColMat};
use faer::{Accum, Par};
use faer_ext::IntoFaer;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis, ShapeBuilder};
use ndarray_rand::rand::Rng;
use rayon::prelude::*;

use super::{BatchPass, MeasurementOperator, PassKernel, PassRun};
use crate::packing::SQRT2;

/// 𝒜 of matrix completion on a set Ω of pairs i ≤ j (see the module docs for the convention).
#[derive(Debug, Clone)]
pub struct CompletionOperator {
    n: usize,
    /// The sampling probability p the weights are scaled by.
    p: f64,
    /// (i_k, j_k), i_k ≤ j_k, in row-major order.
    entries: Vec<(usize, usize)>,
    /// w_k/√p.
    weight: Vec<f64>,
    /// The symmetric pattern of 𝒜*(v): (i, j) and (j, i) for each pair (i once if i = j).
    pattern: SymbolicSparseColMat<usize>,
    /// For each stored value of `pattern` (in its column-major order): the observation k it
    /// belongs to, and the factor its value gets, 𝒜*(v) value = v_k·factor.
    value_source: Vec<(usize, f64)>,
}

impl CompletionOperator {
    /// Ω with each pair (i, j), i ≤ j, drawn independently with probability p ∈ (0, 1], in
    /// row-major order of the pairs (one uniform draw per pair from `rng`).
    pub fn sample_uniform<R: Rng + ?Sized>(n: usize, p: f64, rng: &mut R) -> Self {
        let mut entries = Vec::new();
        for i in 0..n {
            for j in i..n {
                if rng.random::<f64>() < p {
                    entries.push((i, j));
                }
            }
        }
        Self::from_entries(n, entries, p)
    }

    /// Ω a uniformly random set of exactly `count` of the N = n(n+1)/2 pairs i ≤ j (1 ≤ count ≤ N;
    /// all subsets of that size equally likely), scaled with p = count/N; listed in row-major
    /// order. Uniform sampling matched in size to another Ω (e.g. a ReLU sample of the same X).
    pub fn sample_count<R: Rng + ?Sized>(n: usize, count: usize, rng: &mut R) -> Self {
        let pairs = n * (n + 1) / 2;
        assert!(
            count >= 1 && count <= pairs,
            "count must be in 1..=n(n+1)/2"
        );
        let mut chosen = ndarray_rand::rand::seq::index::sample(rng, pairs, count).into_vec();
        chosen.sort_unstable();
        // Pair index l in row-major order of i ≤ j: row i starts at i·n − i(i−1)/2.
        let mut entries = Vec::with_capacity(count);
        let mut i = 0;
        let mut row_start = 0;
        for l in chosen {
            while l >= row_start + (n - i) {
                row_start += n - i;
                i += 1;
            }
            entries.push((i, i + (l - row_start)));
        }
        Self::from_entries(n, entries, count as f64 / pairs as f64)
    }

    /// ReLU sampling: Ω = the pairs i ≤ j with z_ij > threshold (for z = XXᵀ: its positive
    /// entries at threshold 0), scaled with p = |Ω| / (n(n+1)/2), the fraction observed, so that
    /// the normalisation matches uniform sampling with the same number of observations.
    pub fn above_threshold(z: ArrayView2<'_, f64>, threshold: f64) -> Self {
        let n = z.nrows();
        let entries: Vec<(usize, usize)> = Self::pairs_above(z, threshold).collect();
        let p = entries.len().max(1) as f64 / (n * (n + 1) / 2).max(1) as f64;
        Self::from_entries(n, entries, p)
    }

    /// The number of pairs i ≤ j with z_ij > threshold (the |Ω| of [`Self::above_threshold`]).
    pub fn count_above_threshold(z: ArrayView2<'_, f64>, threshold: f64) -> usize {
        Self::pairs_above(z, threshold).count()
    }

    fn pairs_above(
        z: ArrayView2<'_, f64>,
        threshold: f64,
    ) -> impl Iterator<Item = (usize, usize)> + '_ {
        let n = z.nrows();
        (0..n)
            .flat_map(move |i| (i..n).map(move |j| (i, j)))
            .filter(move |&(i, j)| z[[i, j]] > threshold)
    }

    /// The operator observing the given distinct pairs (i ≤ j < n), scaled for sampling rate p.
    pub fn from_entries(n: usize, entries: Vec<(usize, usize)>, p: f64) -> Self {
        assert!(
            p > 0.0 && p <= 1.0,
            "sampling probability p must be in (0, 1]"
        );
        let scale = 1.0 / p.sqrt();
        let weight: Vec<f64> = entries
            .iter()
            .map(|&(i, j)| {
                assert!(i <= j && j < n, "pairs must satisfy i ≤ j < n");
                if i == j {
                    scale
                } else {
                    SQRT2 * scale
                }
            })
            .collect();
        // The symmetric pattern; sources[s] = (k, factor) of the s-th pair given to faer.
        let mut pairs = Vec::with_capacity(2 * entries.len());
        let mut sources = Vec::with_capacity(2 * entries.len());
        for (k, &(i, j)) in entries.iter().enumerate() {
            if i == j {
                pairs.push(Pair { row: i, col: i });
                sources.push((k, weight[k]));
            } else {
                pairs.push(Pair { row: i, col: j });
                pairs.push(Pair { row: j, col: i });
                sources.push((k, weight[k] / 2.0));
                sources.push((k, weight[k] / 2.0));
            }
        }
        let (pattern, argsort) = SymbolicSparseColMat::try_new_from_indices(n, n, &pairs)
            .expect("distinct pairs inside an n×n matrix");
        assert_eq!(
            pattern.compute_nnz(),
            pairs.len(),
            "the observed pairs must be distinct"
        );
        // Where each given pair lands in the pattern's value order: build the matrix with each
        // pair's own index as its value (exact in f64 for any feasible |Ω|).
        let tags: Vec<f64> = (0..pairs.len()).map(|s| s as f64).collect();
        let tagged = SparseColMat::new_from_argsort(pattern.clone(), &argsort, &tags)
            .expect("one value per pair");
        let value_source = tagged.val().iter().map(|&s| sources[s as usize]).collect();
        Self {
            n,
            p,
            entries,
            weight,
            pattern,
            value_source,
        }
    }

    /// The observed pairs (i, j), i ≤ j.
    pub fn entries(&self) -> &[(usize, usize)] {
        &self.entries
    }

    /// The weights w_k/√p of the observations, in the order of [`Self::entries`]:
    /// 𝒜(Z)_k = weights_k·Z_{i_k j_k}.
    pub fn weights(&self) -> &[f64] {
        &self.weight
    }

    /// The sampling probability p.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// 𝒜*(v) as a sparse matrix with the symmetric pattern of Ω, written into `out`'s values.
    fn adjoint_values(&self, v: ArrayView1<'_, f64>, out: &mut [f64]) {
        for (o, &(k, factor)) in out.iter_mut().zip(&self.value_source) {
            *o = v[k] * factor;
        }
    }

    /// Bytes of the storage for n and m = |Ω|: the pairs and weights (3·8·m), the pattern's
    /// column pointers and row indices ((n + 1)·8 + 2m·8) and the value sources (2m·16).
    pub fn storage_bytes(n: usize, m: usize) -> u128 {
        let (n, m) = (n as u128, m as u128);
        24 * m + 8 * (n + 1) + 16 * m + 32 * m
    }

    /// Peak bytes while [`Self::from_entries`] builds the operator for n and m = |Ω|: its
    /// [storage](Self::storage_bytes) plus the temporaries freed once it is built (the 2m pattern
    /// pairs and their sources, 64·m; faer's argsort, 16·m; the tagged copy of the pattern with its
    /// values, (n + 1)·8 + 32·m).
    pub fn build_bytes(n: usize, m: usize) -> u128 {
        let (n128, m128) = (n as u128, m as u128);
        Self::storage_bytes(n, m) + 64 * m128 + 16 * m128 + 8 * (n128 + 1) + 32 * m128
    }

    /// Bytes of the batched pass for k runs: the residuals (8·m·k) and one value array of the
    /// sparse 𝒜*(residual) per run (8·2m·k).
    pub fn pass_bytes_for(m: usize, k: usize) -> u128 {
        let (m, k) = (m as u128, k as u128);
        8 * m * k + 16 * m * k
    }
}

impl MeasurementOperator for CompletionOperator {
    fn n(&self) -> usize {
        self.n
    }

    fn as_completion(&self) -> Option<&CompletionOperator> {
        Some(self)
    }

    fn m(&self) -> usize {
        self.entries.len()
    }

    fn apply(&self, z: ArrayView2<'_, f64>) -> Array1<f64> {
        self.entries
            .iter()
            .zip(&self.weight)
            .map(|(&(i, j), &w)| w * z[[i, j]])
            .collect()
    }

    fn adjoint(&self, v: ArrayView1<'_, f64>) -> Array2<f64> {
        let mut out = Array2::zeros((self.n, self.n));
        for ((&(i, j), &w), &vk) in self.entries.iter().zip(&self.weight).zip(&v) {
            if i == j {
                out[[i, i]] += vk * w;
            } else {
                out[[i, j]] += vk * w / 2.0;
                out[[j, i]] += vk * w / 2.0;
            }
        }
        out
    }

    /// [`CompletionOperator::storage_bytes`].
    fn bytes(&self) -> u128 {
        Self::storage_bytes(self.n, self.m())
    }

    /// [`CompletionOperator::pass_bytes_for`].
    fn pass_bytes(&self, k: usize) -> u128 {
        Self::pass_bytes_for(self.m(), k)
    }

    /// Each run is computed on its own, so `kernel` changes nothing.
    fn batch_pass(&self, k_max: usize, _kernel: PassKernel) -> Box<dyn BatchPass + '_> {
        let nnz = self.value_source.len();
        Box::new(CompletionPass {
            op: self,
            residual: Array2::zeros((self.m(), k_max).f()),
            values: (0..k_max).map(|_| vec![0.0; nnz]).collect(),
        })
    }

    fn reads_uut(&self) -> bool {
        false
    }
}

/// The batched pass of a [`CompletionOperator`]: per run (in parallel), the residual entries from
/// dot products of rows of U, then ∇f(U) = 𝒜*(residual)·U as a sparse–dense product.
#[derive(Debug)]
pub struct CompletionPass<'o> {
    op: &'o CompletionOperator,
    /// Residuals (m×k), column-major: one contiguous column per run.
    residual: Array2<f64>,
    /// The values of 𝒜*(residual) per run, in the pattern's order.
    values: Vec<Vec<f64>>,
}

impl BatchPass for CompletionPass<'_> {
    fn compute(&mut self, runs: &mut [PassRun<'_>]) {
        let op = self.op;
        let a = runs.len();
        runs.par_iter_mut()
            .zip(self.residual.axis_iter_mut(Axis(1)).into_par_iter().take(a))
            .zip(self.values.par_iter_mut())
            .for_each(|((run, mut r), values)| {
                let (u, y) = (run.u, run.y);
                for (k, (&(i, j), &w)) in op.entries.iter().zip(&op.weight).enumerate() {
                    r[k] = w * u.row(i).dot(&u.row(j)) - y[k];
                }
                op.adjoint_values(r.view(), values);
                let s = SparseColMatRef::new(op.pattern.as_ref(), values);
                sparse_dense_matmul(
                    run.gradient.view_mut().into_faer(),
                    Accum::Replace,
                    s,
                    u.into_faer(),
                    1.0,
                    Par::Seq,
                );
            });
    }

    fn residual(&self, i: usize) -> ArrayView1<'_, f64> {
        self.residual.column(i)
    }
}
