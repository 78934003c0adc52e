//! The quantities the paper's proof tracks, computed from one iterate U (n×r').
//!
//! With V_X the orthonormal basis of col(X) and the SVD V_Xᵀ U = V Σ Wᵀ (W ∈ R^{r'×k}, k = min(r, r')):
//!
//! | field | formula |
//! |---|---|
//! | `test_error` | ‖UUᵀ − XXᵀ‖_F / ‖XXᵀ‖_F |
//! | `train_error` | ‖𝒜(UUᵀ) − y‖ / ‖y‖ |
//! | `sigma_min_vx_u` | σ_r(V_Xᵀ U) (0 when r' < r); phase II ends when it reaches σ_min(X)/√10 |
//! | `sigma_min_signal` | σ_min(U W), the smallest singular value of the signal part |
//! | `noise_norm` | ‖U W_⊥‖ = ‖U (I − W Wᵀ)‖ (spectral), the noise part (0 when r' ≤ r) |
//! | `sin_theta` | ‖V_{X⊥}ᵀ V_{UW}‖: sine of the largest principal angle between col(UW) and col(X) |
//! | `u_norm` | ‖U‖ (spectral) |
//! | `top_singular_values` | σ_1(U) ≥ σ_2(U) ≥ … (the first `n_top`) |

use ndarray::ArrayView2;

use crate::gd::{Control, IterationState, Observer};
use crate::linalg::{sin_largest_principal_angle, singular_values, thin_svd, DecompositionError};
use crate::problem::GroundTruth;

/// Diagnostics of one iterate (see the module table for the formulas).
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostics {
    /// Iteration t.
    pub t: usize,
    /// f(U_t) = ¼‖𝒜(UUᵀ) − y‖².
    pub loss: f64,
    /// ‖UUᵀ − XXᵀ‖_F / ‖XXᵀ‖_F.
    pub test_error: f64,
    /// ‖𝒜(UUᵀ) − y‖ / ‖y‖.
    pub train_error: f64,
    /// σ_r(V_Xᵀ U).
    pub sigma_min_vx_u: f64,
    /// σ_min(U W).
    pub sigma_min_signal: f64,
    /// ‖U W_⊥‖.
    pub noise_norm: f64,
    /// sin θ = ‖V_{X⊥}ᵀ V_{UW}‖.
    pub sin_theta: f64,
    /// ‖U‖.
    pub u_norm: f64,
    /// Leading singular values of U, descending.
    pub top_singular_values: Vec<f64>,
}

/// Computes [`Diagnostics`] for one target.
#[derive(Debug, Clone)]
pub struct DiagnosticsCalculator<'a> {
    truth: &'a GroundTruth,
    xxt_norm: f64,
    y_norm: f64,
    n_top: usize,
}

fn frobenius(a: ArrayView2<'_, f64>) -> f64 {
    a.iter().map(|v| v * v).sum::<f64>().sqrt()
}

impl<'a> DiagnosticsCalculator<'a> {
    /// For target `truth`, data norm ‖y‖, recording the top `n_top` singular values of U.
    pub fn new(truth: &'a GroundTruth, y_norm: f64, n_top: usize) -> Self {
        Self {
            truth,
            xxt_norm: frobenius(truth.xxt.view()),
            y_norm,
            n_top,
        }
    }

    /// The diagnostics of the state (U_t, U_tU_tᵀ, residual).
    pub fn compute(&self, state: &IterationState<'_>) -> Result<Diagnostics, DecompositionError> {
        let u = state.u;
        let r = self.truth.r();
        let test_error = frobenius((&state.uut - &self.truth.xxt).view()) / self.xxt_norm;
        let train_error = state.residual.dot(&state.residual).sqrt() / self.y_norm;

        let vx_u = self.truth.v_x.t().dot(&u); // r×r'
        let svd = thin_svd(vx_u.view())?; // V (r×k), Σ (k), W (r'×k)
        let k = svd.s.len();
        let sigma_min_vx_u = if k < r { 0.0 } else { svd.s[k - 1] };
        let w = &svd.v;
        let signal = u.dot(w); // n×k
        let noise = &u - &signal.dot(&w.t()); // U (I − WWᵀ)
        let signal_svd = thin_svd(signal.view())?;
        let sigma_min_signal = signal_svd.s.last().copied().unwrap_or(0.0);
        let noise_norm = singular_values(noise.view())?
            .first()
            .copied()
            .unwrap_or(0.0);
        let sin_theta = sin_largest_principal_angle(signal_svd.u.view(), self.truth.v_x.view())?;
        let sv = singular_values(u)?;
        let top = sv.iter().take(self.n_top).copied().collect();
        Ok(Diagnostics {
            t: state.t,
            loss: state.loss,
            test_error,
            train_error,
            sigma_min_vx_u,
            sigma_min_signal,
            noise_norm,
            sin_theta,
            u_norm: sv.first().copied().unwrap_or(0.0),
            top_singular_values: top,
        })
    }
}

/// An observer that records [`Diagnostics`] at every logged iteration.
#[derive(Debug, Clone)]
pub struct DiagnosticsRecorder<'a> {
    calculator: DiagnosticsCalculator<'a>,
    /// The diagnostics recorded so far, in iteration order.
    pub records: Vec<Diagnostics>,
    /// Set if a decomposition failed (the run is then stopped).
    pub error: Option<DecompositionError>,
}

impl<'a> DiagnosticsRecorder<'a> {
    /// A recorder for target `truth` with data norm ‖y‖ and `n_top` singular values of U.
    pub fn new(truth: &'a GroundTruth, y_norm: f64, n_top: usize) -> Self {
        Self {
            calculator: DiagnosticsCalculator::new(truth, y_norm, n_top),
            records: Vec::new(),
            error: None,
        }
    }
}

impl Observer for DiagnosticsRecorder<'_> {
    fn observe(&mut self, state: &IterationState<'_>) -> Control {
        match self.calculator.compute(state) {
            Ok(d) => {
                self.records.push(d);
                Control::Continue
            }
            Err(e) => {
                self.error = Some(e);
                Control::Stop
            }
        }
    }
}
