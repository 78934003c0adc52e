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

use ndarray::{s, Array2, ArrayView2};

use crate::descent::{Control, IterationState, Observer};
use crate::linalg::{
    frobenius_norm, sin_largest_principal_angle, singular_values, spectral_norm, sum_of_squares,
    symmetric_eigen, thin_svd, top_left_singular_subspace, DecompositionError,
};
use crate::problem::{GroundTruth, Problem};

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
    /// ‖U‖, the spectral norm σ_1(U).
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

impl<'a> DiagnosticsCalculator<'a> {
    /// For target `truth`, data norm ‖y‖, recording the top `n_top` singular values of U.
    pub fn new(truth: &'a GroundTruth, y_norm: f64, n_top: usize) -> Self {
        Self {
            truth,
            xxt_norm: frobenius_norm(truth.xxt.view()),
            y_norm,
            n_top,
        }
    }

    /// The diagnostics of the state (U_t, U_tU_tᵀ, residual).
    pub fn compute(&self, state: &IterationState<'_>) -> Result<Diagnostics, DecompositionError> {
        let u = state.u;
        let r = self.truth.r();
        let test_error = frobenius_norm((&state.uut - &self.truth.xxt).view()) / self.xxt_norm;
        let train_error = sum_of_squares(state.residual).sqrt() / self.y_norm;

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

/// GD against the power method and spectral initialization (phase I of the paper):
///
/// | field | formula |
/// |---|---|
/// | `sin_lt_l` | sin∠(L_t, L): L_t = top-r left singular subspace of U_t, L = top-r eigenspace of M = 𝒜*(y) (= 𝒜*𝒜(XXᵀ) without noise) |
/// | `sin_lt_x` | sin∠(L_t, col(X)) |
/// | `sin_power_l` | sin∠(top-r left singular subspace of Ũ_t, L), Ũ_t = (I + μM)^t U_0 |
/// | `sin_lt_power` | sin∠(L_t, top-r left singular subspace of Ũ_t) |
/// | `power_deviation` | ‖U_t − Ũ_t‖ / ‖Ũ_t‖ (spectral norms) |
///
/// sin∠ is the sine of the largest principal angle. L is the subspace spectral initialization uses.
/// The two angles of Ũ_t are NaN once Ũ_t has lost its r-th direction to rounding ([`RANK_LOSS`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectralDiagnostics {
    /// sin∠(L_t, L).
    pub sin_lt_l: f64,
    /// sin∠(L_t, col(X)).
    pub sin_lt_x: f64,
    /// sin∠(top-r subspace of Ũ_t, L).
    pub sin_power_l: f64,
    /// sin∠(L_t, top-r subspace of Ũ_t).
    pub sin_lt_power: f64,
    /// ‖U_t − Ũ_t‖/‖Ũ_t‖.
    pub power_deviation: f64,
}

/// Where an instance stands against the spectral claim's regime: with M = 𝒜*(y) and L the span of
/// its top-r eigenvectors,
/// ```text
///   deviation = ‖M − XXᵀ‖ / σ_r(X)²      (spectral norm; small: M ≈ XXᵀ, the regime of the theory)
///   sin_l_x   = sin∠(L, col(X))           (Davis–Kahan: ≤ deviation/(1 − deviation) while deviation < 1)
/// ```
/// Spectral initialization, and phase I of small-init GD, land in L; they meet the truth only where
/// sin_l_x is small.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpectralRegime {
    /// ‖𝒜*(y) − XXᵀ‖/σ_r(X)².
    pub deviation: f64,
    /// sin∠(L, col(X)).
    pub sin_l_x: f64,
}

/// The [`SpectralRegime`] of a problem (one n×n eigendecomposition and one spectral norm).
pub fn spectral_regime(problem: &Problem) -> Result<SpectralRegime, DecompositionError> {
    let m_mat = problem.spectral_matrix();
    let r = problem.truth.r();
    let (_, vectors) = symmetric_eigen(m_mat.view())?;
    let lambda_r = problem.truth.sigma_min().powi(2);
    Ok(SpectralRegime {
        deviation: spectral_norm((&m_mat - &problem.truth.xxt).view())? / lambda_r,
        sin_l_x: sin_largest_principal_angle(vectors.slice(s![.., ..r]), problem.truth.v_x.view())?,
    })
}

/// How long GD provably stays with the power method (Lemma D.1/D.2 as restated in the shared notes).
///
/// With M = 𝒜*(y) (= 𝒜*𝒜(XXᵀ) without noise), λ_1 its largest eigenvalue and v_1 its eigenvector,
/// U_0 = αB, Ũ_t = (I + μM)^t U_0 and δ the RIP constant of 𝒜, the lemma's estimates give
/// ‖U_t − Ũ_t‖ ≤ 8(1+δ)√min(n, r')·α³‖B‖³(1 + μ‖M‖)^{3t}/‖M‖, and Ũ_tᵀv_1 = (1 + μλ_1)^t U_0ᵀv_1
/// gives ‖Ũ_t‖ ≥ ‖U_0ᵀv_1‖(1 + μλ_1)^t, hence ‖U_t − Ũ_t‖/‖Ũ_t‖ ≤ ε for every t ≤ t_D(ε) with
/// ```text
///   t_D(ε) = ln( ε·‖M‖·‖U_0ᵀv_1‖ / (8(1+δ)·√min(n, r')·α³‖B‖³) )
///            / (2 ln(1 + μ‖M‖) + ln((1 + μ‖M‖)/(1 + μλ_1)))
/// ```
/// (λ_1 = ‖M‖ unless M's most negative eigenvalue is the larger in size, as it can be for a heavily
/// undersampled 𝒜; the second term of the denominator is then positive, else exactly 0).
/// With ε = 1: the lemma's departure time, the first t with ‖U_t − Ũ_t‖ > ‖Ũ_t‖, is at least t_D(1).
/// Norms are spectral (‖U_0ᵀv_1‖ is a vector norm). A t_D(ε) ≤ 0 means the bound says nothing: α is
/// too large for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerMethodDeparture {
    /// ‖M‖ = max |λ_i(M)|.
    pub m_norm: f64,
    /// λ_1(M), the largest eigenvalue.
    pub lambda_1: f64,
    /// ‖U_0ᵀ v_1‖, v_1 the eigenvector of M's largest eigenvalue.
    pub u0_v1: f64,
    /// ‖B‖ = ‖U_0‖/α.
    pub b_norm: f64,
    /// α.
    pub alpha: f64,
    /// min(n, r').
    pub min_dim: usize,
    /// μ.
    pub step_size: f64,
}

impl PowerMethodDeparture {
    /// The ingredients of the bound for `problem`, step size μ and U_0 = α·B (one n×n
    /// eigendecomposition and one spectral norm).
    pub fn new(
        problem: &Problem,
        step_size: f64,
        u0: ArrayView2<'_, f64>,
        alpha: f64,
    ) -> Result<Self, DecompositionError> {
        let m_mat = problem.spectral_matrix();
        let (values, vectors) = symmetric_eigen(m_mat.view())?;
        let largest = values.first().copied().unwrap_or(0.0);
        let smallest = values.last().copied().unwrap_or(0.0);
        let v1 = vectors.column(0);
        Ok(Self {
            m_norm: largest.abs().max(smallest.abs()),
            lambda_1: largest,
            u0_v1: u0.t().dot(&v1).mapv(|x| x * x).sum().sqrt(),
            b_norm: spectral_norm(u0)? / alpha,
            alpha,
            min_dim: u0.nrows().min(u0.ncols()),
            step_size,
        })
    }

    /// t_D(ε) for RIP constant δ and level ε (see the type's docs).
    ///
    /// The constant c = 8(1+δ)√min(n, r')·α³‖B‖³/(‖M‖‖U_0ᵀv_1‖) is a product of floats where it,
    /// the cubes α³, ‖B‖³, its numerator and its denominator are normal numbers, and the logarithm
    /// is taken as a sum of logarithms where any of them would underflow or overflow (α³ is subnormal below α ≈ 2.8e-103
    /// and loses digits there), so t_D stays finite and linear in ln α at any α > 0.
    pub fn bound(&self, delta: f64, level: f64) -> f64 {
        let (alpha3, b3) = (self.alpha.powi(3), self.b_norm.powi(3));
        let numerator = 8.0 * (1.0 + delta) * (self.min_dim as f64).sqrt() * alpha3 * b3;
        let denominator = self.m_norm * self.u0_v1;
        let c = numerator / denominator;
        let normal = [alpha3, b3, numerator, denominator, c];
        let ln_level_over_c = if normal.iter().all(|v| v.is_normal()) {
            (level / c).ln()
        } else {
            level.ln()
                - (8.0f64.ln()
                    + (1.0 + delta).ln()
                    + 0.5 * (self.min_dim as f64).ln()
                    + 3.0 * (self.alpha.ln() + self.b_norm.ln())
                    - self.m_norm.ln()
                    - self.u0_v1.ln())
        };
        let growth = 1.0 + self.step_size * self.m_norm;
        let slack = (growth / (1.0 + self.step_size * self.lambda_1)).ln();
        ln_level_over_c / (2.0 * growth.ln() + slack)
    }
}

/// Relative size σ_r(Ũ_t)/σ_1(Ũ_t) below which the power iterate's top-r subspace is not resolved
/// in double precision (its angles are then reported as NaN).
pub const RANK_LOSS: f64 = 1e-10;

/// Tracks the power-method iterate Ũ_t = (I + μM)^t U_0 alongside a GD run (see [`SpectralDiagnostics`]).
#[derive(Debug, Clone)]
pub struct SpectralComparison {
    l: Array2<f64>,
    v_x: Array2<f64>,
    step: Array2<f64>,
    /// Ũ_t·2^(−power_exponent): the power iterate, rescaled by exact powers of two so that it never
    /// overflows (it grows like (1 + μλ_1(M))^t; unscaled, its SVD failed near 1e154).
    power: Array2<f64>,
    power_exponent: i32,
    t_power: usize,
    r: usize,
}

/// The power iterate is multiplied by 2^(−POWER_RESCALE_BITS) whenever an entry exceeds
/// 2^POWER_RESCALE_BITS: exact, so angles and ratios keep their bits.
const POWER_RESCALE_BITS: i32 = 256;

impl SpectralComparison {
    /// Bytes it holds for an n×n problem of rank r and U of width r': I + μM (n×n), L and V_X
    /// (n×r each) and the power iterate (n×r'), 8 bytes each.
    pub const fn bytes(n: usize, r: usize, r_prime: usize) -> u128 {
        let (n, r, r_prime) = (n as u128, r as u128, r_prime as u128);
        8 * (n * n + 2 * n * r + n * r_prime)
    }

    /// For the problem's M = 𝒜*(y) (= 𝒜*𝒜(XXᵀ) without noise), step size μ and the run's U_0.
    pub fn new(
        problem: &Problem,
        step_size: f64,
        u0: ArrayView2<'_, f64>,
    ) -> Result<Self, DecompositionError> {
        let m_mat = problem.spectral_matrix();
        let r = problem.truth.r();
        let (_, vectors) = symmetric_eigen(m_mat.view())?;
        let n = m_mat.nrows();
        let step = Array2::eye(n) + &(m_mat * step_size);
        Ok(Self {
            l: vectors.slice(s![.., ..r]).to_owned(),
            v_x: problem.truth.v_x.clone(),
            step,
            power: u0.to_owned(),
            power_exponent: 0,
            t_power: 0,
            r,
        })
    }

    /// The diagnostics at U_t (advances Ũ to iteration t; t must not decrease between calls). The
    /// three quantities of Ũ_t are NaN where its decomposition fails; the two of U_t do not depend
    /// on it.
    pub fn compute(
        &mut self,
        t: usize,
        u: ArrayView2<'_, f64>,
    ) -> Result<SpectralDiagnostics, DecompositionError> {
        let limit = 2f64.powi(POWER_RESCALE_BITS);
        while self.t_power < t {
            self.power = self.step.dot(&self.power);
            self.t_power += 1;
            if self.power.iter().any(|x| x.abs() > limit) {
                self.power *= 2f64.powi(-POWER_RESCALE_BITS);
                self.power_exponent += POWER_RESCALE_BITS;
            }
        }
        let lt = top_left_singular_subspace(u, self.r)?;
        let (sin_power_l, sin_lt_power, power_deviation) = self
            .power_quantities(u, lt.view())
            .unwrap_or((f64::NAN, f64::NAN, f64::NAN));
        Ok(SpectralDiagnostics {
            sin_lt_l: sin_largest_principal_angle(lt.view(), self.l.view())?,
            sin_lt_x: sin_largest_principal_angle(lt.view(), self.v_x.view())?,
            sin_power_l,
            sin_lt_power,
            power_deviation,
        })
    }

    /// (sin_power_l, sin_lt_power, power_deviation) at the current Ũ_t, with P = Ũ_t·2^(−e):
    /// ‖U_t − Ũ_t‖/‖Ũ_t‖ = ‖U_t·2^(−e) − P‖/‖P‖.
    fn power_quantities(
        &self,
        u: ArrayView2<'_, f64>,
        lt: ArrayView2<'_, f64>,
    ) -> Result<(f64, f64, f64), DecompositionError> {
        let power_svd = thin_svd(self.power.view())?;
        let power_norm = power_svd.s.first().copied().unwrap_or(0.0);
        let difference = if self.power_exponent == 0 {
            &u - &self.power
        } else {
            let scale = 2f64.powi(-self.power_exponent);
            u.mapv(|x| x * scale) - &self.power
        };
        let deviation = spectral_norm(difference.view())? / power_norm;
        // Once σ_r(Ũ_t)/σ_1(Ũ_t) falls below RANK_LOSS the r-th direction of Ũ_t is lost to
        // rounding and its top-r subspace is noise: report NaN instead of a meaningless angle.
        let resolved = power_svd
            .s
            .get(self.r - 1)
            .is_some_and(|&s| s > RANK_LOSS * power_norm);
        let (sin_power_l, sin_lt_power) = if resolved {
            let lp = power_svd.u.slice(s![.., ..self.r]);
            (
                sin_largest_principal_angle(lp, self.l.view())?,
                sin_largest_principal_angle(lt, lp)?,
            )
        } else {
            (f64::NAN, f64::NAN)
        };
        Ok((sin_power_l, sin_lt_power, deviation))
    }
}
