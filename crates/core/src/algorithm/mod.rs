//! Step rules: how U moves given ∇f(U), one small module per algorithm.
//!
//! The batched lockstep loop ([`crate::descent`]) computes, for every run of a batch, the gradient
//! ```text
//!   ∇f(U) = 𝒜*(𝒜(UUᵀ) − y)·U        (f(U) = ¼‖𝒜(UUᵀ) − y‖²)
//! ```
//! from one shared operator pass, then hands it to the run's [`StepRule`], which replaces U by
//! ```text
//!   GD            U ← U − μ·∇f(U)                                      [gd]
//!   ScaledGD(λ)   U ← U − μ·∇f(U)·(UᵀU + λI)⁻¹,   λ ≥ 0 fixed           [scaled_gd]
//!   PrecGD        U ← U − μ·∇f(U)·(UᵀU + λ_tI)⁻¹, λ_t = c·‖𝒜(UUᵀ) − y‖  [precgd]
//! ```
//! ScaledGD(λ) is Xu, Shen, Ma & Chi (ICML 2023); λ = 0 is Tong, Ma & Chi's original ScaledGD,
//! defined only while UᵀU is invertible. PrecGD is Zhang, Fattahi & Zhang (NeurIPS 2021), whose
//! damping λ_t tracks ‖UUᵀ − XXᵀ‖_F through the computable residual norm. The r'×r' systems are
//! solved with a Cholesky factorization (faer), never an explicit inverse: O(nr'² + r'³) per run
//! and iteration, next to the O(m·n²) operator pass.
//!
//! A new algorithm is a variant of [`Algorithm`] (its checked parameters) and a module with a
//! type implementing [`StepRule`] (its workspace). A step rule must be a function of U_t, ∇f(U_t)
//! and the [`StepContext`] only: a checkpoint ([`crate::descent::BatchState`]) saves U_t and the
//! last observed iterate, nothing of the rule, so a rule that carried state from one iteration to
//! the next (momentum's U_{t−1}, say) would resume with other numbers. Such a rule needs that
//! state added to the checkpoint first (README "Extending" lists the other places).

mod gd;
mod precgd;
mod scaled_gd;

pub use gd::GradientStep;
pub use scaled_gd::{preconditioned_step, Damping, PreconditionedStep, PreconditionedWorkspace};

use ndarray::Array2;

/// An algorithm and its parameters, checked: every value is in its allowed range.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "snake_case"))]
pub enum Algorithm {
    /// Plain gradient descent.
    #[default]
    Gd,
    /// ScaledGD(λ) with fixed damping `lambda` = λ ≥ 0.
    ScaledGd {
        /// λ ≥ 0.
        lambda: f64,
    },
    /// PrecGD with damping λ_t = c·‖𝒜(U_tU_tᵀ) − y‖, c > 0.
    #[cfg_attr(feature = "serde", serde(rename = "precgd"))]
    PrecGd {
        /// c > 0.
        c: f64,
    },
}

/// A parameter of an [`Algorithm`] outside its allowed range.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlgorithmError {
    /// λ of ScaledGD(λ) is negative or not finite.
    #[error(
        "lambda = {0} is out of range; allowed: a finite λ ≥ 0 (λ = 0 is the original ScaledGD)"
    )]
    Lambda(f64),
    /// c of PrecGD is not positive or not finite.
    #[error("c = {0} is out of range; allowed: a finite c > 0")]
    C(f64),
}

impl Algorithm {
    /// Every algorithm's name, as [`Algorithm::label`] gives it.
    pub const LABELS: [&'static str; 3] = ["gd", "scaled_gd", "precgd"];

    /// ScaledGD(λ), if λ is finite and ≥ 0.
    pub fn scaled_gd(lambda: f64) -> Result<Self, AlgorithmError> {
        if lambda.is_finite() && lambda >= 0.0 {
            Ok(Self::ScaledGd { lambda })
        } else {
            Err(AlgorithmError::Lambda(lambda))
        }
    }

    /// PrecGD with damping constant c, if c is finite and > 0.
    pub fn precgd(c: f64) -> Result<Self, AlgorithmError> {
        if c.is_finite() && c > 0.0 {
            Ok(Self::PrecGd { c })
        } else {
            Err(AlgorithmError::C(c))
        }
    }

    /// Whether this is plain GD.
    pub fn is_gd(&self) -> bool {
        *self == Self::Gd
    }

    /// "gd", "scaled_gd" or "precgd".
    pub fn label(&self) -> &'static str {
        match self {
            Self::Gd => "gd",
            Self::ScaledGd { .. } => "scaled_gd",
            Self::PrecGd { .. } => "precgd",
        }
    }

    /// The algorithm with its parameter, e.g. "ScaledGD(λ=0.01)" (for legends).
    pub fn display_name(&self) -> String {
        match self {
            Self::Gd => "GD".into(),
            Self::ScaledGd { lambda } => format!("ScaledGD(λ={lambda})"),
            Self::PrecGd { c } => format!("PrecGD(c={c})"),
        }
    }

    /// The step rule of this algorithm for iterates of width `r_prime`, with its workspace.
    pub fn rule(&self, r_prime: usize) -> Box<dyn StepRule> {
        match *self {
            Self::Gd => Box::new(GradientStep),
            Self::ScaledGd { lambda } => Box::new(PreconditionedStep::scaled_gd(lambda, r_prime)),
            Self::PrecGd { c } => Box::new(PreconditionedStep::precgd(c, r_prime)),
        }
    }

    /// Bytes of the workspace [`Algorithm::rule`] allocates for width r': none for GD, the r'×r'
    /// matrix UᵀU + λI for the preconditioned methods (8·r'², in u128). The memory checks count
    /// the largest of these, 8·r'², for every run ([`crate::descent::run_buffer_bytes`]; tested).
    pub fn workspace_bytes(&self, r_prime: usize) -> u128 {
        match self {
            Self::Gd => 0,
            Self::ScaledGd { .. } | Self::PrecGd { .. } => {
                8 * (r_prime as u128) * (r_prime as u128)
            }
        }
    }
}

/// What a step rule may use besides U and ∇f(U).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepContext {
    /// Iteration t of the iterate being updated.
    pub t: usize,
    /// Step size μ.
    pub step_size: f64,
    /// ‖𝒜(U_tU_tᵀ) − y‖.
    pub residual_norm: f64,
}

/// Why a step could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StepFailure {
    /// UᵀU + λI was not numerically positive definite (λ = 0 and UᵀU singular).
    #[error("UᵀU + λI is not positive definite (Cholesky failed)")]
    SingularPreconditioner,
}

impl StepFailure {
    /// The status name of a run that ended with this failure.
    pub fn label(&self) -> &'static str {
        match self {
            Self::SingularPreconditioner => "singular_preconditioner",
        }
    }
}

/// How U moves given ∇f(U): the part of an algorithm the loop does not own. Stateless across
/// iterations (see the module docs): only its workspace persists.
pub trait StepRule: Send {
    /// Replaces `u` by its update. `gradient` holds ∇f(U) on entry (n×r', same shape as `u`)
    /// and may be overwritten.
    fn step(
        &mut self,
        context: &StepContext,
        u: &mut Array2<f64>,
        gradient: &mut Array2<f64>,
    ) -> Result<(), StepFailure>;
}
