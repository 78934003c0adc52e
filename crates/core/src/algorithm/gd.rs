//! Gradient descent: U ← U − μ·∇f(U).

use ndarray::Array2;

use super::{StepContext, StepFailure, StepRule};

/// The plain gradient step (no state).
#[derive(Debug, Clone, Copy, Default)]
pub struct GradientStep;

impl StepRule for GradientStep {
    fn step(
        &mut self,
        context: &StepContext,
        u: &mut Array2<f64>,
        gradient: &mut Array2<f64>,
    ) -> Result<(), StepFailure> {
        u.scaled_add(-context.step_size, gradient);
        Ok(())
    }
}
