//! Measurement operators 𝒜 : S^n → R^m, and the batched pass the descent loop asks of them.
//!
//! The loop ([`crate::descent`]) needs, at every iteration and for every active run i of a batch,
//! ```text
//!   residual_i = 𝒜(U_iU_iᵀ) − y_i   (length m; y_i the run's data)
//!   gradient_i = 𝒜*(residual_i)·U_i = ∇f(U_i)   (n×r'_i)
//! ```
//! and nothing else from the operator. A [`MeasurementOperator`] provides that as a
//! [`BatchPass`] (its buffers allocated once per batch, with their size stated by
//! [`MeasurementOperator::pass_bytes`] next to it), plus the plain forward map and adjoint for
//! everything that is not the hot loop (data, spectral initialization, diagnostics, tests).
//! Each run hands the pass its U and UUᵀ: the dense operator reads svec(UUᵀ); a sparse one may
//! read only entries of UUᵀ, or rows of U.
//!
//! Implementations: [`PackedOperator`] (dense, one m×n(n+1)/2 matrix; Gaussian sensing), in
//! [`dense`]; [`CompletionOperator`] (entries of XXᵀ on a sparse Ω; matrix completion), in
//! [`completion`].

pub mod batch_kernel;
pub mod completion;
pub mod dense;
pub mod huge_pages;

pub use completion::{CompletionOperator, CompletionPass};
pub use dense::{
    operator_bytes, DensePass, FusedWorkspace, LineAligned, PackedOperator, Prefetch,
    FUSED_BLOCK_ROWS, PREFETCH_AHEAD, ROW_CHUNKS,
};

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2};

/// A linear map 𝒜 : S^n → R^m with its adjoint and the loop's batched pass.
pub trait MeasurementOperator: Send + Sync + std::fmt::Debug {
    /// Side length n of the matrices measured.
    fn n(&self) -> usize;

    /// Number of measurements m.
    fn m(&self) -> usize;

    /// 𝒜(Z) for a symmetric n×n Z.
    fn apply(&self, z: ArrayView2<'_, f64>) -> Array1<f64>;

    /// 𝒜*(v) as a symmetric n×n matrix.
    fn adjoint(&self, v: ArrayView1<'_, f64>) -> Array2<f64>;

    /// Bytes of the operator's own storage.
    fn bytes(&self) -> u128;

    /// Bytes of the buffers of a [`BatchPass`] for up to `k` runs (see [`Self::batch_pass`]).
    fn pass_bytes(&self, k: usize) -> u128;

    /// The batched pass for up to `k_max` runs with `kernel`, its buffers allocated once.
    fn batch_pass(&self, k_max: usize, kernel: PassKernel) -> Box<dyn BatchPass + '_>;

    /// Whether the pass reads UUᵀ ([`PassRun::uut`]). If not, the loop forms the n×n UUᵀ only at
    /// the iterations its observer sees (O(n²r') per run, more than a sparse operator's pass).
    fn reads_uut(&self) -> bool {
        true
    }

    /// The dense packed form, if this operator is one (for the `.npy` export and benchmarks).
    fn as_packed(&self) -> Option<&PackedOperator> {
        None
    }

    /// The completion operator, if this is one (for the `.npy` export).
    fn as_completion(&self) -> Option<&CompletionOperator> {
        None
    }
}

/// How a [`BatchPass`] computes: a run's last bits depend on this choice and on nothing else of
/// its batch (which other runs, on which data, for how long). Operators whose pass treats each run
/// on its own (completion) compute the same either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PassKernel {
    /// Each run on its own: the dense operator's single-input kernel, one memory-bound read of 𝐀
    /// per run. What a batch of one run uses.
    SingleInput,
    /// All runs at once: the dense operator's batch kernel ([`batch_kernel`]), also when one run
    /// is left. What a batch of two or more runs uses.
    Batch,
}

impl PassKernel {
    /// The kernel of a batch that starts with `k` runs: [`Self::SingleInput`] for one, else
    /// [`Self::Batch`].
    pub fn for_batch_of(k: usize) -> Self {
        if k == 1 {
            Self::SingleInput
        } else {
            Self::Batch
        }
    }
}

/// One run's part of a [`BatchPass`]: its data y, its iterate U, its UUᵀ, and where its gradient
/// goes. The runs of a pass share the operator, not necessarily the data.
#[derive(Debug)]
pub struct PassRun<'a> {
    /// y (length m).
    pub y: ArrayView1<'a, f64>,
    /// U (n×r').
    pub u: ArrayView2<'a, f64>,
    /// UUᵀ (n×n), current if the operator [reads it](MeasurementOperator::reads_uut) (else it
    /// may be stale).
    pub uut: ArrayView2<'a, f64>,
    /// Receives ∇f(U) = 𝒜*(𝒜(UUᵀ) − y)·U (n×r').
    pub gradient: ArrayViewMut2<'a, f64>,
}

/// The residuals and gradients of a batch of runs on one operator, one call per iteration.
pub trait BatchPass: Send + Sync {
    /// For each run i of `runs` (at most the k_max of [`MeasurementOperator::batch_pass`]):
    /// residual_i = 𝒜(U_iU_iᵀ) − y_i, kept for [`BatchPass::residual`], and
    /// gradient_i = 𝒜*(residual_i)·U_i, written to `runs[i].gradient`.
    fn compute(&mut self, runs: &mut [PassRun<'_>]);

    /// residual_i of the last [`BatchPass::compute`] (length m).
    fn residual(&self, i: usize) -> ArrayView1<'_, f64>;
}
