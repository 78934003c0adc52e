//! # lowrank-core
//!
//! Gradient descent for overparameterized low-rank matrix sensing from small random initialization,
//! as analysed by Stöger & Soltanolkotabi, "Small random initialization is akin to spectral learning"
//! (NeurIPS 2021, arXiv 2106.15013).
//!
//! Recover the PSD rank-r matrix XXᵀ (X ∈ R^{n×r}) from y = 𝒜(XXᵀ) ∈ R^m by gradient descent on
//! U ∈ R^{n×r'} for f(U) = ¼‖𝒜(UUᵀ) − y‖², started at U_0 = α·B.
//!
//! Each convention is documented once, with its formula, where it is defined:
//! - packing of symmetric matrices (svec, √2 off-diagonal): [`packing`];
//! - what the loop needs of a measurement operator (its batched pass, its memory): [`operator`];
//! - the dense Gaussian operator 𝒜(Z)_i = ⟨A_i, Z⟩/√m, A_i = (G_i + G_iᵀ)/2, its packed storage and
//!   sampling: [`operator::dense`];
//! - the ground truth X = V·diag(s), s from 1 down to 1/κ, and U_0 = α·B, B_ij ~ N(0, 1/r'): [`problem`];
//! - the algorithms (GD, ScaledGD(λ), PrecGD) as step rules: [`algorithm`];
//! - the batched lockstep loop and the observer protocol: [`descent`];
//! - the diagnostics (signal/noise split, alignment sin θ): [`diagnostics`];
//! - seeds and random streams (ChaCha8, SplitMix64 derivation): [`seeds`];
//! - phase boundaries t_*, t_1, t̂ and fits: [`analysis`].
//!
//! This crate performs no I/O: it reports per-iteration state through [`descent::Observer`].
//!
//! # Example: GD and ScaledGD(λ) in one batch
//! Both runs start from the same U_0 on the same instance and share each iteration's operator pass.
//! ```
//! use lowrank_core::descent::{run_gradient_descent_batch, BatchRun};
//! use lowrank_core::{small_random_init, Algorithm, DiagnosticsRecorder, Problem, RunParams, SingularValues};
//!
//! let problem = Problem::sample_gaussian(20, 2, 400, &SingularValues::Condition(4.0), 1);
//! let y_norm = lowrank_core::linalg::sum_of_squares(problem.y.view()).sqrt();
//! let u0 = small_random_init(20, 4, 1e-4, 2); // U_0 = αB with α = 1e-4, r' = 4
//! let gd = RunParams::new(0.25, 400, 50); // μ = 0.25, T = 400, log every 50
//! let scaled = gd.clone().with_algorithm(Algorithm::scaled_gd(1e-2).unwrap());
//! let mut rec_gd = DiagnosticsRecorder::new(&problem.truth, y_norm, 2);
//! let mut rec_scaled = DiagnosticsRecorder::new(&problem.truth, y_norm, 2);
//! run_gradient_descent_batch(&problem, vec![
//!     BatchRun { params: gd, u0: u0.clone(), observer: &mut rec_gd },
//!     BatchRun { params: scaled, u0, observer: &mut rec_scaled },
//! ]);
//! let final_error = |r: &DiagnosticsRecorder| r.records.last().unwrap().test_error;
//! // κ = 4: after 400 iterations GD is still at ~6e-2, ScaledGD(λ) at ~1e-4.
//! assert!(final_error(&rec_scaled) < 1e-2 * final_error(&rec_gd));
//! ```

#![warn(missing_docs)]

// Links the BLAS provider (OpenBLAS) used by ndarray's `dot` and `general_mat_*`.
extern crate blas_src;

pub mod algorithm;
pub mod analysis;
pub mod descent;
pub mod diagnostics;
pub mod linalg;
pub mod operator;
pub mod packing;
pub mod problem;
pub mod rip;
pub mod seeds;

pub use algorithm::{Algorithm, AlgorithmError, StepFailure};
pub use descent::{
    run_gradient_descent, run_gradient_descent_batch, run_gradient_descent_batch_from,
    run_gradient_descent_shared_operator, run_gradient_descent_shared_operator_from, BatchRun,
    BatchState, Checkpointer, Control, IterationState, Observer, RunOutcome, RunParams,
    RunParamsError, RunState, RunStatus,
};
pub use diagnostics::{
    spectral_regime, Diagnostics, DiagnosticsCalculator, DiagnosticsRecorder, PowerMethodDeparture,
    SpectralComparison, SpectralDiagnostics, SpectralRegime,
};
pub use operator::{operator_bytes, BatchPass, MeasurementOperator, PackedOperator, PassKernel};
pub use problem::{small_random_init, spectral_init, GroundTruth, Problem, SingularValues};
