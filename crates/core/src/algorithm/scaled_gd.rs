//! ScaledGD(λ) (Xu, Shen, Ma & Chi, ICML 2023): U ← U − μ·∇f(U)·(UᵀU + λI)⁻¹ with fixed λ ≥ 0.
//!
//! The direction D = ∇f(U)·P⁻¹, P = UᵀU + λI (r'×r', symmetric), solves P·Dᵀ = ∇f(U)ᵀ; it is
//! computed with the Cholesky factorization P = LLᵀ and two triangular solves, in place.

use faer::linalg::solvers::SolveCore;
use faer::{Conj, Side};
use faer_ext::IntoFaer;
use ndarray::linalg::general_mat_mul;
use ndarray::Array2;

use super::{StepContext, StepFailure, StepRule};

/// The r'×r' matrix P = UᵀU + λI of a preconditioned step, reused across iterations.
#[derive(Debug, Clone)]
pub struct PreconditionedWorkspace {
    gram: Array2<f64>,
}

impl PreconditionedWorkspace {
    /// For iterates of width r'.
    pub fn new(r_prime: usize) -> Self {
        Self {
            gram: Array2::zeros((r_prime, r_prime)),
        }
    }
}

/// U ← U − μ·∇f(U)·(UᵀU + λI)⁻¹; `gradient` (∇f(U) on entry) is overwritten with the direction.
pub fn preconditioned_step(
    workspace: &mut PreconditionedWorkspace,
    lambda: f64,
    step_size: f64,
    u: &mut Array2<f64>,
    gradient: &mut Array2<f64>,
) -> Result<(), StepFailure> {
    let gram = &mut workspace.gram;
    general_mat_mul(1.0, &u.t(), &*u, 0.0, gram);
    for i in 0..gram.nrows() {
        gram[[i, i]] += lambda;
    }
    let llt = gram
        .view()
        .into_faer()
        .llt(Side::Lower)
        .map_err(|_| StepFailure::SingularPreconditioner)?;
    // P·Dᵀ = ∇f(U)ᵀ, solved in place on the transposed view of the gradient (r'×n).
    llt.solve_in_place_with_conj(Conj::No, gradient.view_mut().reversed_axes().into_faer());
    if gradient.iter().any(|v| !v.is_finite()) {
        return Err(StepFailure::SingularPreconditioner);
    }
    u.scaled_add(-step_size, gradient);
    Ok(())
}

/// How the damping λ_t of a preconditioned step is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Damping {
    /// ScaledGD(λ): λ_t = λ.
    Fixed(f64),
    /// PrecGD: λ_t = c·‖𝒜(U_tU_tᵀ) − y‖.
    ResidualTimes(f64),
}

impl Damping {
    /// λ_t at the state described by `context`.
    pub fn at(&self, context: &StepContext) -> f64 {
        match *self {
            Self::Fixed(lambda) => lambda,
            Self::ResidualTimes(c) => c * context.residual_norm,
        }
    }
}

/// The step rule of ScaledGD(λ) and PrecGD: U ← U − μ·∇f(U)·(UᵀU + λ_tI)⁻¹, with its workspace.
#[derive(Debug, Clone)]
pub struct PreconditionedStep {
    damping: Damping,
    workspace: PreconditionedWorkspace,
}

impl PreconditionedStep {
    /// ScaledGD(λ) with fixed damping λ ≥ 0, for iterates of width r'.
    pub fn scaled_gd(lambda: f64, r_prime: usize) -> Self {
        Self::new(Damping::Fixed(lambda), r_prime)
    }

    /// The step with `damping` for iterates of width r'.
    pub fn new(damping: Damping, r_prime: usize) -> Self {
        Self {
            damping,
            workspace: PreconditionedWorkspace::new(r_prime),
        }
    }
}

impl StepRule for PreconditionedStep {
    fn step(
        &mut self,
        context: &StepContext,
        u: &mut Array2<f64>,
        gradient: &mut Array2<f64>,
    ) -> Result<(), StepFailure> {
        let lambda = self.damping.at(context);
        preconditioned_step(&mut self.workspace, lambda, context.step_size, u, gradient)
    }
}
