//! PrecGD (Zhang, Fattahi & Zhang, NeurIPS 2021): U ← U − μ·∇f(U)·(UᵀU + λ_tI)⁻¹ with the
//! adaptive damping λ_t = c·‖𝒜(U_tU_tᵀ) − y‖, the computable proxy for ‖U_tU_tᵀ − XXᵀ‖_F; the
//! damping vanishes as the residual does.

use ndarray::Array2;

use super::scaled_gd::{preconditioned_step, PreconditionedWorkspace};
use super::{StepContext, StepFailure, StepRule};

/// PrecGD's step rule.
#[derive(Debug, Clone)]
pub struct PrecGdStep {
    c: f64,
    workspace: PreconditionedWorkspace,
}

impl PrecGdStep {
    /// Damping constant c > 0 for iterates of width r'.
    pub fn new(c: f64, r_prime: usize) -> Self {
        Self {
            c,
            workspace: PreconditionedWorkspace::new(r_prime),
        }
    }
}

impl StepRule for PrecGdStep {
    fn step(
        &mut self,
        context: &StepContext,
        u: &mut Array2<f64>,
        gradient: &mut Array2<f64>,
    ) -> Result<(), StepFailure> {
        let lambda = self.c * context.residual_norm;
        preconditioned_step(&mut self.workspace, lambda, context.step_size, u, gradient)
    }
}
