//! Problem instances: the ground truth X, the operator 𝒜, the data y = 𝒜(XXᵀ) (+ ε), and the
//! initialization.
//!
//! # Noise
//! Noisy data are y = 𝒜(XXᵀ) + ε with ε_i = σ·g_i/√m, g_i i.i.d. N(0, 1) from [`Stream::Noise`]
//! ([`Problem::with_noise`]), so E‖ε‖² = σ² while ‖𝒜(XXᵀ)‖ ≈ ‖XXᵀ‖_F: σ is the noise level
//! relative to the signal's scale. σ = 0 leaves y exactly 𝒜(XXᵀ).
//!
//! # Ground truth
//! X = V·diag(s) ∈ R^{n×r} with V Haar-orthonormal (sign-fixed QR of an n×r Gaussian matrix drawn
//! from [`Stream::GroundTruth`]) and singular values s either given, or
//! ```text
//!   s_k = 1 − (1 − 1/κ)·k/(r − 1),  k = 0..r−1     (linearly spaced from 1 to 1/κ; s = [1] if r = 1)
//! ```
//! so that ‖X‖ = σ_1(X) = 1 and κ = σ_1(X)/σ_r(X). Since the columns of V are orthonormal, V = V_X
//! is also the basis of col(X) the diagnostics use.
//!
//! The alternative ground truth of Liu, Wang, Huang, Qu & Balzano (ICML 2024, ReLU sampling) is a
//! factor with i.i.d. Gaussian entries ([`GroundTruth::sample_gaussian_factor`]):
//! ```text
//!   X = G/σ_1(G),  G_ij i.i.d. N(0, 1)  (from the same stream)
//! ```
//! rescaled so that ‖X‖ = 1 as above (the scale does not change the sign pattern of XXᵀ); its κ is
//! then random, and V_X, s are those of X's thin SVD.
//!
//! # Initialization
//! U_0 = α·B, B ∈ R^{n×r'} with i.i.d. N(0, 1/r') entries from [`Stream::Initialization`], so that
//! E‖B‖_F² = n for every width r'.

use ndarray::{Array1, Array2};
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

use crate::linalg::{orthonormal_columns, symmetric_eigen, thin_svd, DecompositionError};
use std::sync::Arc;

use crate::operator::{MeasurementOperator, PackedOperator};
use crate::seeds::{rng, Stream};

/// How the singular values of X are chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum SingularValues {
    /// Linearly spaced from 1 down to 1/κ (κ ≥ 1).
    Condition(f64),
    /// Explicit values (positive, any order; they are sorted descending).
    Explicit(Vec<f64>),
}

impl SingularValues {
    /// The r singular values, descending.
    ///
    /// # Panics
    /// If κ < 1 or is not finite, or if explicit values are not r positive finite numbers (the
    /// spec and the Python module check these before).
    pub fn values(&self, r: usize) -> Vec<f64> {
        match self {
            Self::Condition(kappa) => assert!(
                kappa.is_finite() && *kappa >= 1.0,
                "κ = {kappa}; allowed: a finite κ ≥ 1"
            ),
            Self::Explicit(s) => assert!(
                s.len() == r && s.iter().all(|v| v.is_finite() && *v > 0.0),
                "singular values {s:?} for r = {r}; allowed: r positive finite numbers"
            ),
        }
        match self {
            Self::Condition(_) if r == 1 => vec![1.0],
            Self::Condition(kappa) => (0..r)
                .map(|k| 1.0 - (1.0 - 1.0 / kappa) * k as f64 / (r - 1) as f64)
                .collect(),
            Self::Explicit(s) => {
                let mut s = s.clone();
                s.sort_by(|a, b| b.total_cmp(a));
                s
            }
        }
    }
}

/// The low-rank target: X = V_X·diag(s), n×r.
#[derive(Debug, Clone)]
pub struct GroundTruth {
    /// The factor X (n×r).
    pub x: Array2<f64>,
    /// V_X, an orthonormal basis of col(X) (n×r).
    pub v_x: Array2<f64>,
    /// The singular values s of X, descending.
    pub singular_values: Vec<f64>,
    /// XXᵀ (n×n).
    pub xxt: Array2<f64>,
}

impl GroundTruth {
    /// X = V·diag(s) with V Haar-orthonormal drawn from [`Stream::GroundTruth`] of `seed`.
    pub fn sample(n: usize, r: usize, s: &SingularValues, seed: u64) -> Self {
        let mut g = rng(seed, Stream::GroundTruth);
        let gauss = Array2::<f64>::random_using((n, r), StandardNormal, &mut g);
        Self::from_basis(orthonormal_columns(gauss.view()), s.values(r))
    }

    /// X = G/σ_1(G) with G_ij i.i.d. N(0, 1) drawn from [`Stream::GroundTruth`] of `seed` (see the
    /// module docs); V_X and s from X's thin SVD.
    pub fn sample_gaussian_factor(
        n: usize,
        r: usize,
        seed: u64,
    ) -> Result<Self, DecompositionError> {
        let mut g = rng(seed, Stream::GroundTruth);
        let gauss = Array2::<f64>::random_using((n, r), StandardNormal, &mut g);
        let svd = thin_svd(gauss.view())?;
        let top = svd.s[0];
        if top <= 0.0 || !top.is_finite() {
            return Err(DecompositionError(
                "SVD of the Gaussian factor (zero matrix)",
            ));
        }
        let x = gauss / top;
        let xxt = x.dot(&x.t());
        Ok(Self {
            x,
            v_x: svd.u,
            singular_values: svd.s.iter().map(|s| s / top).collect(),
            xxt,
        })
    }

    /// X = V·diag(s) for a given orthonormal V (n×r) and s (length r, descending).
    ///
    /// # Panics
    /// If s does not have r entries.
    pub fn from_basis(v_x: Array2<f64>, singular_values: Vec<f64>) -> Self {
        assert_eq!(
            singular_values.len(),
            v_x.ncols(),
            "one singular value per column of V_X"
        );
        let s = Array1::from(singular_values.clone());
        let x = &v_x * &s;
        let xxt = x.dot(&x.t());
        Self {
            x,
            v_x,
            singular_values,
            xxt,
        }
    }

    /// n.
    pub fn n(&self) -> usize {
        self.x.nrows()
    }

    /// r.
    pub fn r(&self) -> usize {
        self.x.ncols()
    }

    /// κ = σ_1(X)/σ_r(X).
    pub fn kappa(&self) -> f64 {
        self.singular_values[0] / self.singular_values[self.r() - 1]
    }

    /// σ_min(X) = σ_r(X).
    pub fn sigma_min(&self) -> f64 {
        self.singular_values[self.r() - 1]
    }
}

/// One instance: ground truth, operator and data y = 𝒜(XXᵀ) (+ ε, see [`Problem::with_noise`]).
#[derive(Debug, Clone)]
pub struct Problem {
    /// The target.
    pub truth: GroundTruth,
    /// The measurement operator (shared: cloning a problem does not copy it).
    pub operator: Arc<dyn MeasurementOperator>,
    /// y = 𝒜(XXᵀ).
    pub y: Array1<f64>,
}

impl Problem {
    /// Gaussian instance: X from [`Stream::GroundTruth`], 𝒜 from [`Stream::Operator`], both of `seed`.
    pub fn sample_gaussian(n: usize, r: usize, m: usize, s: &SingularValues, seed: u64) -> Self {
        let truth = GroundTruth::sample(n, r, s, seed);
        let operator = PackedOperator::sample_gaussian(n, m, &mut rng(seed, Stream::Operator));
        Self::new(truth, operator)
    }

    /// The instance with the given target and operator; y = 𝒜(XXᵀ).
    pub fn new(truth: GroundTruth, operator: impl MeasurementOperator + 'static) -> Self {
        let y = operator.apply(truth.xxt.view());
        Self {
            truth,
            operator: Arc::new(operator),
            y,
        }
    }

    /// The instance with target `truth` on this instance's operator (shared, not copied):
    /// y = 𝒜(XXᵀ). Instances that share an operator can run in one batch
    /// ([`run_gradient_descent_shared_operator_from`](crate::descent::run_gradient_descent_shared_operator_from)).
    pub fn with_truth(&self, truth: GroundTruth) -> Self {
        let y = self.operator.apply(truth.xxt.view());
        Self {
            truth,
            operator: Arc::clone(&self.operator),
            y,
        }
    }

    /// The instance with noisy data y = 𝒜(XXᵀ) + ε, ε_i = σ·g_i/√m with g from [`Stream::Noise`] of
    /// `seed` (see the module docs); σ = 0 returns the instance unchanged (no draw).
    pub fn with_noise(mut self, sigma: f64, seed: u64) -> Self {
        if sigma != 0.0 {
            let m = self.y.len();
            let scale = sigma / (m as f64).sqrt();
            let g = Array1::<f64>::random_using(m, StandardNormal, &mut rng(seed, Stream::Noise));
            self.y.scaled_add(scale, &g);
        }
        self
    }

    /// M = 𝒜*(y) (= 𝒜*𝒜(XXᵀ) without noise; with it, 𝒜*𝒜(XXᵀ) + 𝒜*(ε)): the matrix whose power method phase I of GD mimics, and whose top
    /// eigenvectors spectral initialization uses.
    pub fn spectral_matrix(&self) -> Array2<f64> {
        self.operator.adjoint(self.y.view())
    }
}

/// U_0 = α·B with B_ij i.i.d. N(0, 1/r'), drawn from [`Stream::Initialization`] of `seed`.
pub fn small_random_init(n: usize, r_prime: usize, alpha: f64, seed: u64) -> Array2<f64> {
    let mut g = rng(seed, Stream::Initialization);
    let scale = alpha / (r_prime as f64).sqrt();
    Array2::<f64>::random_using((n, r_prime), StandardNormal, &mut g).mapv_into(|b| b * scale)
}

/// Spectral initialization: the first min(r, r') columns are V_r·Λ_r^(1/2) from the top-r eigenpairs of
/// M = 𝒜*(y) (negative eigenvalues clipped to 0), the remaining r' − r columns are those of the small
/// random initialization α·B (same seed and stream as [`small_random_init`]).
pub fn spectral_init(
    problem: &Problem,
    r_prime: usize,
    alpha: f64,
    seed: u64,
) -> Result<Array2<f64>, DecompositionError> {
    let r = problem.truth.r();
    let mut u0 = small_random_init(problem.truth.n(), r_prime, alpha, seed);
    let (lambda, vectors) = symmetric_eigen(problem.spectral_matrix().view())?;
    for j in 0..r.min(r_prime) {
        let scale = lambda[j].max(0.0).sqrt();
        u0.column_mut(j)
            .assign(&vectors.column(j).mapv(|v| v * scale));
    }
    Ok(u0)
}
