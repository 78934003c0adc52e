//! PrecGD (Zhang, Fattahi & Zhang, NeurIPS 2021): U ← U − μ·∇f(U)·(UᵀU + λ_tI)⁻¹ with the
//! adaptive damping λ_t = c·‖𝒜(U_tU_tᵀ) − y‖, the computable proxy for ‖U_tU_tᵀ − XXᵀ‖_F; the
//! damping vanishes as the residual does. The step is ScaledGD(λ)'s with this damping
//! ([`Damping::ResidualTimes`]).

use super::scaled_gd::{Damping, PreconditionedStep};

impl PreconditionedStep {
    /// PrecGD with damping constant c > 0, for iterates of width r'.
    pub fn precgd(c: f64, r_prime: usize) -> Self {
        Self::new(Damping::ResidualTimes(c), r_prime)
    }
}
