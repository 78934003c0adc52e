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

/// ScaledGD(λ)'s step rule.
#[derive(Debug, Clone)]
pub struct ScaledGdStep {
    lambda: f64,
    workspace: PreconditionedWorkspace,
}

impl ScaledGdStep {
    /// Damping λ ≥ 0 for iterates of width r'.
    pub fn new(lambda: f64, r_prime: usize) -> Self {
        Self {
            lambda,
            workspace: PreconditionedWorkspace::new(r_prime),
        }
    }
}

impl StepRule for ScaledGdStep {
    fn step(
        &mut self,
        context: &StepContext,
        u: &mut Array2<f64>,
        gradient: &mut Array2<f64>,
    ) -> Result<(), StepFailure> {
        preconditioned_step(
            &mut self.workspace,
            self.lambda,
            context.step_size,
            u,
            gradient,
        )
    }
}
