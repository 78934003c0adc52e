//! Reading a trajectory the way the paper's proof does: phase boundaries, and simple fits.
//!
//! # Phase boundaries (detected from logged diagnostics)
//! ```text
//!   t_* (end of phase I)  = first t with sin θ_t ≤ τ  and  σ_min(U_tW_t) ≥ ρ·‖U_tW_{t,⊥}‖
//!   t_1 (end of phase II) = first t with σ_r(V_Xᵀ U_t) ≥ σ_min(X)/√10        (the paper's criterion)
//!   t̂  (error floor)      = first t with test error ≤ 2 × final test error
//! ```
//! τ and ρ are [`PhaseThresholds`] (defaults τ = 0.3, ρ = 2). The paper's phase I ends once the
//! signal part is aligned with col(X) (sin θ ≤ cκ⁻²) and dominates the noise part; τ plays the role
//! of cκ⁻² for the κ ≤ 4 used here. ρ is looser than the proof: its conditions at t_*
//! (σ_min(UW) ≥ αβ/4, ‖UW_⊥‖ ≤ κ⁻²αβ/8) imply σ_min(UW) ≥ 2κ²‖UW_⊥‖; a fixed ρ = 2 marks the end of
//! the alignment the same way for every κ, and `diagnostics.phase_signal_to_noise` sets another.
//! The proof's t_* is α-free because its α is small enough for GD to align with the spectral
//! subspace L before it leaves the power method (at t ≈ ln(1/α)/ln(1+μλ_1)); at larger α it leaves
//! first, and this detected t_* then falls in the proof's phase II and grows with ln(1/α). At still
//! larger α (1e-2 at n = 100, r' = 10), or from spectral initialization (t_1 = 0), the detected t_*
//! can come after t_1: σ_r(V_Xᵀ U_t) crosses its threshold before sin θ ≤ τ and the signal-to-noise
//! criterion hold together, and no phase II is seen. The two criteria are reported as measured, never reordered.

/// Thresholds of the phase-I detector (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhaseThresholds {
    /// τ: sin θ must fall to τ.
    pub sin_theta: f64,
    /// ρ: the signal σ_min(UW) must be ρ times the noise ‖UW_⊥‖.
    pub signal_to_noise: f64,
}

impl Default for PhaseThresholds {
    fn default() -> Self {
        Self {
            sin_theta: 0.3,
            signal_to_noise: 2.0,
        }
    }
}

/// The logged series a phase detection needs (all of the same length as `t`).
#[derive(Debug, Clone, Copy)]
pub struct PhaseInputs<'a> {
    /// Logged iterations.
    pub t: &'a [usize],
    /// sin θ_t.
    pub sin_theta: &'a [f64],
    /// σ_min(U_tW_t).
    pub sigma_min_signal: &'a [f64],
    /// ‖U_tW_{t,⊥}‖.
    pub noise_norm: &'a [f64],
    /// σ_r(V_Xᵀ U_t).
    pub sigma_min_vx_u: &'a [f64],
    /// Test error.
    pub test_error: &'a [f64],
    /// σ_min(X).
    pub sigma_min_x: f64,
}

/// Detected phase boundaries (None if the criterion is never met in the logged horizon).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Phases {
    /// End of phase I.
    pub t_star: Option<usize>,
    /// End of phase II.
    pub t_1: Option<usize>,
    /// First iteration within 2× of the final error.
    pub t_hat: Option<usize>,
}

/// Detects t_*, t_1, t̂ (see the module docs).
pub fn detect_phases(x: &PhaseInputs<'_>, th: PhaseThresholds) -> Phases {
    let first = |pred: &dyn Fn(usize) -> bool| (0..x.t.len()).find(|&i| pred(i)).map(|i| x.t[i]);
    let t_star = first(&|i| {
        x.sin_theta[i] <= th.sin_theta
            && x.sigma_min_signal[i] >= th.signal_to_noise * x.noise_norm[i]
    });
    let t_1 = first(&|i| x.sigma_min_vx_u[i] >= x.sigma_min_x / 10f64.sqrt());
    let t_hat = x
        .test_error
        .last()
        .filter(|e| e.is_finite())
        .and_then(|&fin| first(&|i| x.test_error[i] <= 2.0 * fin));
    Phases { t_star, t_1, t_hat }
}

/// Test errors at or below this are at the rounding floor of ‖UUᵀ − XXᵀ‖_F/‖XXᵀ‖_F in f64 (about
/// 1e-15, with rounding noise): a run there has settled whatever its last steps did.
pub const ROUNDING_FLOOR: f64 = 1e-12;

/// Fraction of a run's logged horizon over which [`end_state`] compares the test error.
pub const SETTLE_WINDOW: f64 = 0.1;

/// Factor by which the test error must fall over the last [`SETTLE_WINDOW`] of the horizon for a
/// run to be "still falling".
pub const SETTLE_FACTOR: f64 = 1.5;

/// Where a run that did all its iterations stands at its end, so that an unfinished trajectory is
/// never read as an error floor. With T the last logged t, e(t) the test error and t_w the last
/// logged t ≤ (1 − 0.1)·T:
/// ```text
///   still falling : e(T) < e(t_w)/1.5               (it fell by more than a third over the last 10%)
///   stalled       : otherwise, and t_1 not reached   (at a saddle or a non-global stationary point)
///   settled       : otherwise (phase III reached and the error no longer falling that fast),
///                   or e(T) ≤ ROUNDING_FLOOR
/// ```
/// A geometric decay at 1% per iteration falls 2.7× over 100 iterations (still falling); a
/// sublinear tail e ∝ t^(−β) with β ≤ 2 (overparameterized GD) falls at most 1.23× over the last
/// 10% (settled: the slow tail is the floor the paper's theorem describes). When the logging is
/// sparser than 10% of the horizon, t_w lies further back and the factor is 1.5 per 10% of the
/// window (1.5^((T − t_w)/(0.1·T))).
/// A longer budget changes a still-falling run's final error; it may or may not move a stalled one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndState {
    /// Phase III reached and the error no longer falling fast: the final error is a floor.
    Settled,
    /// The error fell by more than [`SETTLE_FACTOR`] over the last [`SETTLE_WINDOW`] of the run.
    StillFalling,
    /// Not falling, but phase III (t_1) never reached.
    Stalled,
}

impl EndState {
    /// "settled", "still_falling", "stalled" (the runs.csv spelling).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Settled => "settled",
            Self::StillFalling => "still_falling",
            Self::Stalled => "stalled",
        }
    }
}

/// The [`EndState`] of a completed run from its logged iterations `t`, test errors and t_1.
/// `None` if nothing finite was logged.
pub fn end_state(t: &[usize], test_error: &[f64], t_1: Option<usize>) -> Option<EndState> {
    let (&last_t, &last_e) = t.last().zip(test_error.last())?;
    if !last_e.is_finite() {
        return None;
    }
    if last_e <= ROUNDING_FLOOR {
        return Some(EndState::Settled);
    }
    let start = (1.0 - SETTLE_WINDOW) * last_t as f64;
    let (t_w, e_w) = t
        .iter()
        .zip(test_error)
        .take_while(|(&ti, _)| ti as f64 <= start)
        .last()
        .map_or((last_t, last_e), |(&ti, &e)| (ti, e));
    // With sparse logging the window is longer than 10%: the factor scales with it (1.5 per 10%).
    let window = (last_t - t_w) as f64 / (SETTLE_WINDOW * last_t as f64).max(f64::MIN_POSITIVE);
    let factor = SETTLE_FACTOR.powf(window.max(1.0));
    Some(if last_e * factor < e_w {
        EndState::StillFalling
    } else if t_1.is_none() {
        EndState::Stalled
    } else {
        EndState::Settled
    })
}

/// Least-squares line y ≈ intercept + slope·x with its coefficient of determination R².
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearFit {
    /// Slope.
    pub slope: f64,
    /// Intercept.
    pub intercept: f64,
    /// R² = 1 − SS_res/SS_tot (1 for a perfect fit; NaN when all y are equal, where the line explains
    /// nothing: a threshold on R² must not pass a flat series as "linear in x").
    pub r_squared: f64,
}

/// Ordinary least squares over the pairs with finite x and y (None if fewer than 2 distinct x).
pub fn linear_fit(x: &[f64], y: &[f64]) -> Option<LinearFit> {
    let pts: Vec<(f64, f64)> = x
        .iter()
        .zip(y)
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .map(|(&a, &b)| (a, b))
        .collect();
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return None;
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let ss_tot: f64 = pts.iter().map(|p| (p.1 - my).powi(2)).sum();
    let ss_res: f64 = pts
        .iter()
        .map(|p| (p.1 - intercept - slope * p.0).powi(2))
        .sum();
    let r_squared = if ss_tot == 0.0 {
        f64::NAN
    } else {
        1.0 - ss_res / ss_tot
    };
    Some(LinearFit {
        slope,
        intercept,
        r_squared,
    })
}

/// Fit of log10 y against log10 x (the exponent p of y ∝ x^p), over positive finite pairs.
pub fn power_law_fit(x: &[f64], y: &[f64]) -> Option<LinearFit> {
    let (lx, ly): (Vec<f64>, Vec<f64>) = x
        .iter()
        .zip(y)
        .filter(|(a, b)| **a > 0.0 && **b > 0.0)
        .map(|(a, b)| (a.log10(), b.log10()))
        .unzip();
    linear_fit(&lx, &ly)
}

/// Median of the finite values (NaN if none).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let k = v.len();
    if k % 2 == 1 {
        v[k / 2]
    } else {
        0.5 * (v[k / 2 - 1] + v[k / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_recover_exact_lines_and_powers() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let y: Vec<f64> = x.iter().map(|v| 3.0 - 2.0 * v).collect();
        let f = linear_fit(&x, &y).unwrap();
        assert!((f.slope + 2.0).abs() < 1e-12 && (f.intercept - 3.0).abs() < 1e-12);
        assert!((f.r_squared - 1.0).abs() < 1e-12);
        let a = [1e-1, 1e-3, 1e-5];
        let e: Vec<f64> = a.iter().map(|v: &f64| 5.0 * v.powf(1.3125)).collect();
        assert!((power_law_fit(&a, &e).unwrap().slope - 1.3125).abs() < 1e-12);
        assert!(linear_fit(&[1.0, 1.0], &[2.0, 3.0]).is_none());
        // A flat series has slope 0 and no R² (not 1): "R² ≥ 0.98" must not call it linear.
        let flat = linear_fit(&x, &[5.0; 4]).unwrap();
        assert_eq!(flat.slope, 0.0);
        assert!(flat.r_squared.is_nan());
        // Noise around a line: R² strictly between 0 and 1, equal to the squared correlation.
        let noisy = [1.0, 2.5, 2.0, 4.5];
        let f = linear_fit(&x, &noisy).unwrap();
        let (mx, my) = (2.5, 2.5);
        let sxy: f64 = x.iter().zip(&noisy).map(|(a, b)| (a - mx) * (b - my)).sum();
        let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
        let syy: f64 = noisy.iter().map(|b| (b - my) * (b - my)).sum();
        assert!((f.r_squared - sxy * sxy / (sxx * syy)).abs() < 1e-12);
        assert!(f.r_squared > 0.5 && f.r_squared < 1.0);
    }

    #[test]
    fn end_state_separates_floors_from_unfinished_runs() {
        let t: Vec<usize> = (0..=100).map(|i| 10 * i).collect();
        // Geometric decay still under way: 1% per iteration falls 2.7× over the last 100 iterations.
        let decay: Vec<f64> = t.iter().map(|&i| 0.99f64.powi(i as i32)).collect();
        assert_eq!(
            end_state(&t, &decay, Some(50)),
            Some(EndState::StillFalling)
        );
        // The same decay down to a flat floor reached early: settled.
        let floor: Vec<f64> = decay.iter().map(|e| e.max(1e-2)).collect();
        assert_eq!(end_state(&t, &floor, Some(50)), Some(EndState::Settled));
        // A floor reached just inside the last 20% (fell 4× over it) and flat over the last 10%.
        let late: Vec<f64> = decay.iter().map(|e| e.max(0.99f64.powi(820))).collect();
        assert_eq!(end_state(&t, &late, Some(50)), Some(EndState::Settled));
        // A sublinear tail e ∝ t^(−2) (overparameterized GD) moves by 0.9² > 1/1.5: settled.
        let tail: Vec<f64> = t.iter().map(|&i| 1.0 / (1.0 + i as f64).powi(2)).collect();
        assert_eq!(end_state(&t, &tail, Some(10)), Some(EndState::Settled));
        // A plateau without t_1 (a saddle, or a spurious stationary point): stalled.
        let flat = vec![0.5; t.len()];
        assert_eq!(end_state(&t, &flat, None), Some(EndState::Stalled));
        // At the rounding floor, rounding noise that halves the error is still settled.
        let mut noisy = vec![4e-15; t.len()];
        *noisy.last_mut().unwrap() = 1e-15;
        assert_eq!(end_state(&t, &noisy, Some(10)), Some(EndState::Settled));
        assert_eq!(end_state(&t, &[f64::NAN; 101], Some(10)), None);
        // Logged only at 0, T/2 and T: the window is half the run, the factor 1.5^5 ≈ 7.6.
        let sparse = [0, 500, 1000];
        assert_eq!(
            end_state(&sparse, &[1.0, 1e-3, 3e-4], Some(10)),
            Some(EndState::Settled)
        );
        assert_eq!(
            end_state(&sparse, &[1.0, 1e-3, 1e-4], Some(10)),
            Some(EndState::StillFalling)
        );
        assert_eq!(end_state(&[], &[], None), None);
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0, f64::NAN]), 2.5);
    }

    #[test]
    fn phases_follow_their_definitions() {
        let t = [0, 10, 20, 30, 40];
        let x = PhaseInputs {
            t: &t,
            sin_theta: &[0.9, 0.5, 0.2, 0.1, 0.01],
            sigma_min_signal: &[1e-6, 1e-5, 1e-4, 0.3, 0.5],
            noise_norm: &[1e-6, 1e-6, 1e-6, 1e-6, 1e-6],
            sigma_min_vx_u: &[1e-6, 1e-5, 1e-4, 0.3, 0.5],
            test_error: &[1.0, 1.0, 0.9, 1e-3, 4e-4],
            sigma_min_x: 0.5,
        };
        let p = detect_phases(&x, PhaseThresholds::default());
        assert_eq!(
            p,
            Phases {
                t_star: Some(20),
                t_1: Some(30),
                t_hat: Some(40)
            }
        );
    }
}
