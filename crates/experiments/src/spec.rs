//! Experiment specs: TOML → [`Spec`] (as written) → [`Config`] (validated, every value in range).
//!
//! A spec is rejected before any work with a [`SpecError`] that names the file, the key and what is
//! allowed. Layout (`[sweep]`, `[diagnostics]` and `[quick]` are optional):
//!
//! ```toml
//! title = "…"            # figure title
//! caption = "…"          # what the figure shows (gallery, README)
//! [problem]  n, r, m, and kappa = κ ≥ 1 or singular_values = [...];
//!            truth = "orthonormal" (default: X = V·diag(s)) | "gaussian_factor" (X = G/σ_1(G), no κ)
//! [operator] kind = "gaussian" (default) | "completion" with sampling = "uniform" (p or
//!            observations) | "relu" (threshold) | "matched_uniform" (threshold)
//! [noise]    sigma = σ ≥ 0
//! [init]     alpha = α > 0, r_prime = r' ≥ 1, kind = "small_random" | "spectral"
//! [gd]       step_size = μ > 0, iterations = T ≥ 1, log_every ≥ 1 (for every algorithm),
//!            stop_below_test_error = ε (optional: a run ends at the first logged t with test error ≤ ε)
//! [algorithm] kind = "gd" (default) | "scaled_gd" (lambda = λ ≥ 0) | "precgd" (c > 0)
//! [seeds]    seed, replicates ≥ 1, share_instance = false
//! [sweep]    lists over alpha, r_prime, m, kappa, step_size, init, algorithm, sigma, p, sampling
//!            (grid = Cartesian product; a swept algorithm takes its parameter from [algorithm])
//! [diagnostics] spectral = false, phase_sin_theta = 0.3, phase_signal_to_noise = 2
//! [plot]     kind = trajectories | error_vs_parameter | overparameterization | init_comparison
//!            | phase_lengths | iterations_to_error | trajectory_comparison | success_rate, and its
//!            options (quantities, phases, x, group, target_error, columns, …)
//! [quick]    any of the keys above, merged over the spec by `--quick`
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use lowrank_core::{Algorithm, SingularValues};

use crate::quantity;
use serde::{Deserialize, Serialize};

/// A spec file that cannot be used; the message names the file, the key and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The spec file.
    pub file: PathBuf,
    /// What is wrong (key, value, what is allowed).
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

impl std::error::Error for SpecError {}

/// `[problem]` as written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProblemSpec {
    /// Side length n of XXᵀ.
    pub n: usize,
    /// Rank r of the ground truth.
    pub r: usize,
    /// Number of measurements m (Gaussian sensing; completion observes a random |Ω| instead).
    pub m: Option<usize>,
    /// Condition number κ of X (singular values linearly spaced from 1 to 1/κ).
    pub kappa: Option<f64>,
    /// Explicit singular values of X (instead of κ).
    pub singular_values: Option<Vec<f64>>,
    /// How X is drawn (default: orthonormal factor with the given singular values).
    #[serde(default, skip_serializing_if = "TruthKind::is_orthonormal")]
    pub truth: TruthKind,
}

/// How the ground truth X is drawn (see `lowrank_core::problem`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum TruthKind {
    /// X = V·diag(s), V Haar-orthonormal, s from κ or given.
    #[default]
    Orthonormal,
    /// X = G/σ_1(G) with G_ij i.i.d. N(0, 1) (Liu et al., ReLU sampling); κ is random.
    GaussianFactor,
}

impl TruthKind {
    /// Whether this is the default orthonormal factor.
    pub fn is_orthonormal(&self) -> bool {
        *self == Self::Orthonormal
    }

    /// The name used in specs and runs.csv.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Orthonormal => "orthonormal",
            Self::GaussianFactor => "gaussian_factor",
        }
    }
}

/// The measurement models a spec can name (see `lowrank_core::operator`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum OperatorKind {
    /// Dense Gaussian sensing, 𝒜(Z)_i = ⟨A_i, Z⟩/√m with A_i = (G_i + G_iᵀ)/2 (the packed operator).
    #[default]
    Gaussian,
    /// Matrix completion: entries of XXᵀ on a set Ω of pairs i ≤ j (needs `sampling`).
    Completion,
}

/// How the observed entries of matrix completion are chosen.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// Each pair i ≤ j independently with probability `p`.
    Uniform,
    /// The pairs with (XXᵀ)_ij > `threshold` (default 0: the positive entries; Liu, Wang, Huang,
    /// Qu & Balzano, ICML 2024).
    Relu,
    /// A uniformly random set of exactly as many pairs as ReLU sampling at `threshold` observes on
    /// the same X (uniform sampling matched in size to the ReLU sample).
    MatchedUniform,
}

impl Sampling {
    /// The name used in specs and runs.csv.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Uniform => "uniform",
            Self::Relu => "relu",
            Self::MatchedUniform => "matched_uniform",
        }
    }
}

/// `[operator]` as written. Absent: Gaussian sensing.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct OperatorSpec {
    /// The measurement model.
    #[serde(default)]
    pub kind: OperatorKind,
    /// Completion: uniform or relu.
    pub sampling: Option<Sampling>,
    /// Uniform completion: the sampling probability p ∈ (0, 1].
    pub p: Option<f64>,
    /// Uniform completion, instead of p: the expected number of observed pairs,
    /// 1 ≤ observations ≤ n(n+1)/2 (p = observations / (n(n+1)/2)).
    pub observations: Option<usize>,
    /// ReLU completion: observe the entries above this (default 0).
    pub threshold: Option<f64>,
}

/// The measurement model of a run, with its parameters decided.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OperatorModel {
    /// Dense Gaussian sensing with m measurements.
    #[default]
    Gaussian,
    /// Each pair i ≤ j observed with probability p.
    UniformCompletion {
        /// p.
        p: f64,
    },
    /// The pairs with (XXᵀ)_ij > threshold observed.
    ReluCompletion {
        /// The threshold τ.
        threshold: f64,
    },
    /// As many pairs as [`OperatorModel::ReluCompletion`] at `threshold` observes, drawn uniformly.
    MatchedUniformCompletion {
        /// The threshold τ of the ReLU sample it is matched to.
        threshold: f64,
    },
}

impl OperatorModel {
    /// Whether this is Gaussian sensing.
    pub fn is_gaussian(&self) -> bool {
        *self == Self::Gaussian
    }

    /// Whether this is matrix completion. (Here and in the other matches over the models, every
    /// variant is listed, so that a new measurement model is a compile error at each place that
    /// must decide about it.)
    pub fn is_completion(&self) -> bool {
        match self {
            Self::Gaussian => false,
            Self::UniformCompletion { .. }
            | Self::ReluCompletion { .. }
            | Self::MatchedUniformCompletion { .. } => true,
        }
    }

    /// A hashable identity (for instance keys): a tag and the bits of the parameter.
    pub fn key(&self) -> (u8, u64) {
        match *self {
            Self::Gaussian => (0, 0),
            Self::UniformCompletion { p } => (1, p.to_bits()),
            Self::ReluCompletion { threshold } => (2, threshold.to_bits()),
            Self::MatchedUniformCompletion { threshold } => (3, threshold.to_bits()),
        }
    }

    /// The sampling of a completion model (None for Gaussian sensing).
    pub fn sampling(&self) -> Option<Sampling> {
        match self {
            Self::Gaussian => None,
            Self::UniformCompletion { .. } => Some(Sampling::Uniform),
            Self::ReluCompletion { .. } => Some(Sampling::Relu),
            Self::MatchedUniformCompletion { .. } => Some(Sampling::MatchedUniform),
        }
    }
}

/// How U_0 is made.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum InitKind {
    /// U_0 = α·B, B_ij ~ N(0, 1/r').
    #[default]
    SmallRandom,
    /// Top-r eigenpairs of 𝒜*(y) in the first r columns, α·B in the others.
    Spectral,
}

impl InitKind {
    /// The name used in specs and CSV files.
    pub fn label(&self) -> &'static str {
        match self {
            Self::SmallRandom => "small_random",
            Self::Spectral => "spectral",
        }
    }
}

/// `[init]` as written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InitSpec {
    /// Scale α of the random initialization.
    pub alpha: f64,
    /// Width r' of U.
    pub r_prime: usize,
    /// small_random (default) or spectral.
    #[serde(default)]
    pub kind: InitKind,
}

/// The algorithms a spec can run (see [`lowrank_core::algorithm`]); their parameters are in
/// [`AlgorithmSpec`].
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum AlgorithmKind {
    /// Plain gradient descent.
    #[default]
    Gd,
    /// ScaledGD(λ): needs `lambda`.
    ScaledGd,
    /// PrecGD: needs `c`.
    Precgd,
}

impl AlgorithmKind {
    /// The name used in specs and CSV files.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Gd => "gd",
            Self::ScaledGd => "scaled_gd",
            Self::Precgd => "precgd",
        }
    }
}

/// `[algorithm]` as written: the algorithm (or, with `sweep.algorithm`, the parameters of the
/// swept ones). Absent: plain GD.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct AlgorithmSpec {
    /// gd (default), scaled_gd or precgd.
    #[serde(default)]
    pub kind: AlgorithmKind,
    /// ScaledGD(λ)'s fixed damping λ ≥ 0 (only with scaled_gd).
    pub lambda: Option<f64>,
    /// PrecGD's damping constant c > 0, λ_t = c·‖𝒜(U_tU_tᵀ) − y‖ (only with precgd).
    pub c: Option<f64>,
}

impl AlgorithmSpec {
    /// The checked algorithm of `kind` with this table's parameters (the spec must be validated).
    pub fn resolve(&self, kind: AlgorithmKind) -> Algorithm {
        match kind {
            AlgorithmKind::Gd => Algorithm::Gd,
            AlgorithmKind::ScaledGd => Algorithm::ScaledGd {
                lambda: self.lambda.unwrap_or(f64::NAN),
            },
            AlgorithmKind::Precgd => Algorithm::PrecGd {
                c: self.c.unwrap_or(f64::NAN),
            },
        }
    }
}

/// `[gd]` as written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GdSpec {
    /// Step size μ.
    pub step_size: f64,
    /// Number of iterations T.
    pub iterations: usize,
    /// Diagnostics every this many iterations.
    pub log_every: usize,
    /// End a run at the first logged iteration with test error ≤ this ε (status
    /// `reached_target`); default: run all T iterations. Refused with the figures that draw
    /// what a run does at T (error_vs_parameter, overparameterization, phase_lengths).
    pub stop_below_test_error: Option<f64>,
}

/// `[seeds]` as written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SeedSpec {
    /// The spec seed every run's seeds derive from.
    pub seed: u64,
    /// Replicates per grid point (default 1).
    #[serde(default = "one")]
    pub replicates: usize,
    /// If true, all replicates share the instance (X, 𝒜) of replicate 0 and redraw only B.
    #[serde(default)]
    pub share_instance: bool,
}

fn one() -> usize {
    1
}

/// `[sweep]`: each list, if present, replaces the single value of the same key.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Values of α.
    pub alpha: Option<Vec<f64>>,
    /// Values of r'.
    pub r_prime: Option<Vec<usize>>,
    /// Values of m.
    pub m: Option<Vec<usize>>,
    /// Values of κ.
    pub kappa: Option<Vec<f64>>,
    /// Values of μ.
    pub step_size: Option<Vec<f64>>,
    /// Values of the initialization kind.
    pub init: Option<Vec<InitKind>>,
    /// Values of the noise level σ.
    pub sigma: Option<Vec<f64>>,
    /// Algorithms (their parameters come from `[algorithm]`).
    pub algorithm: Option<Vec<AlgorithmKind>>,
    /// Values of uniform completion's sampling probability p.
    pub p: Option<Vec<f64>>,
    /// Completion samplings (uniform takes p, relu and matched_uniform the threshold, from
    /// `[operator]` or `sweep.p`).
    pub sampling: Option<Vec<Sampling>>,
}

/// `[noise]` as written: y = 𝒜(XXᵀ) + ε with ε_i ~ N(0, σ²/m) (see `lowrank_core::problem`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct NoiseSpec {
    /// σ ≥ 0 (0: noiseless).
    #[serde(default)]
    pub sigma: f64,
}

/// `[diagnostics]`: optional extra quantities and the phase detector's thresholds.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DiagnosticsSpec {
    /// Also record GD vs the power method / spectral initialization ([`crate::quantity::SPECTRAL`]:
    /// sin_lt_l, sin_lt_x, sin_power_l, sin_lt_power, power_deviation); costs a few small SVDs per
    /// logged iteration.
    #[serde(default)]
    pub spectral: bool,
    /// τ of the phase-I detector: sin θ ≤ τ (see lowrank_core::analysis).
    #[serde(default = "default_tau")]
    pub phase_sin_theta: f64,
    /// ρ of the phase-I detector: σ_min(UW) ≥ ρ‖UW_⊥‖.
    #[serde(default = "default_rho")]
    pub phase_signal_to_noise: f64,
}

fn default_tau() -> f64 {
    lowrank_core::analysis::PhaseThresholds::default().sin_theta
}

fn default_rho() -> f64 {
    lowrank_core::analysis::PhaseThresholds::default().signal_to_noise
}

impl Default for DiagnosticsSpec {
    fn default() -> Self {
        Self {
            spectral: false,
            phase_sin_theta: default_tau(),
            phase_signal_to_noise: default_rho(),
        }
    }
}

impl DiagnosticsSpec {
    /// The detector thresholds.
    pub fn thresholds(&self) -> lowrank_core::analysis::PhaseThresholds {
        lowrank_core::analysis::PhaseThresholds {
            sin_theta: self.phase_sin_theta,
            signal_to_noise: self.phase_signal_to_noise,
        }
    }
}

/// What figure a spec draws.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PlotKind {
    /// Quantities against the iteration (median over replicates), log y; `phases = true` shades
    /// the detected phases.
    Trajectories,
    /// Final and minimum test error against `x` (a sweep key), one curve per `group`, log-log,
    /// median with min–max band over replicates, fitted slopes, reference line ∝ x^reference_exponent.
    ErrorVsParameter,
    /// Test-error trajectories per r', and the phase-I length and final error against r'.
    Overparameterization,
    /// Train and test error against t, one curve per (init kind, α).
    InitComparison,
    /// t_*, t_1 and t̂ against ln(1/α) with linear fits.
    PhaseLengths,
    /// Iterations to reach test error ≤ `target_error` against `x` (log-log), one curve per
    /// `group`, one panel per combination of the other swept parameters; median and min–max band
    /// over replicates, fitted slopes; runs that do not reach it within their budget are drawn at T.
    IterationsToError,
    /// One quantity against t (`log_t`: log-log), one curve per `group` (median over replicates,
    /// thin: each run), one panel per combination of the other swept parameters; with
    /// `target_error` ε, each panel's title counts the runs per group that end with test error ≤ ε.
    TrajectoryComparison,
    /// Fraction of runs (replicates) whose final test error is ≤ `target_error` against `x`, one
    /// curve per `group`, one panel per combination of the other swept parameters.
    SuccessRate,
}

/// A run parameter a figure can put on an axis or group by.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Parameter {
    /// α.
    Alpha,
    /// r'.
    RPrime,
    /// m.
    M,
    /// κ.
    Kappa,
    /// μ.
    StepSize,
    /// Initialization kind.
    Init,
    /// Algorithm.
    Algorithm,
    /// Noise level σ.
    Sigma,
    /// Uniform completion's sampling probability p.
    P,
    /// Completion sampling.
    Sampling,
}

impl Parameter {
    /// Every parameter.
    pub const ALL: [Self; 10] = [
        Self::Alpha,
        Self::RPrime,
        Self::M,
        Self::Kappa,
        Self::StepSize,
        Self::Init,
        Self::Algorithm,
        Self::Sigma,
        Self::P,
        Self::Sampling,
    ];

    /// Column name in runs.csv.
    pub fn column(&self) -> &'static str {
        match self {
            Self::Alpha => "alpha",
            Self::RPrime => "r_prime",
            Self::M => "m",
            Self::Kappa => "kappa",
            Self::StepSize => "step_size",
            Self::Init => "init",
            Self::Algorithm => "algorithm",
            Self::Sigma => "sigma",
            Self::P => "p",
            Self::Sampling => "sampling",
        }
    }

    /// Its column of runs.csv, for readers of the data.
    pub fn col(&self) -> crate::output::Column {
        crate::output::Column(self.column())
    }

    /// Whether the parameter is a number (it can be an axis).
    pub fn is_numeric(&self) -> bool {
        !matches!(self, Self::Init | Self::Algorithm | Self::Sampling)
    }

    /// Symbol for labels.
    pub fn symbol(&self) -> &'static str {
        match self {
            Self::Alpha => "α",
            Self::RPrime => "r'",
            Self::M => "m",
            Self::Kappa => "κ",
            Self::StepSize => "μ",
            Self::Init => "init",
            Self::Algorithm => "algorithm",
            Self::Sigma => "σ",
            Self::P => "p",
            Self::Sampling => "sampling",
        }
    }
}

/// `[plot]` as written.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlotSpec {
    /// The figure type.
    pub kind: PlotKind,
    /// Quantities to draw (names as in trajectories.csv).
    #[serde(default)]
    pub quantities: Vec<String>,
    /// Width and height in pixels (default (560·columns + 300)×(640 + 460·(rows − 1)): 860×640
    /// for one panel).
    pub size: Option<(u32, u32)>,
    /// Panels per row, 1–10 (default: every panel in one row, up to 10 a row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<u32>,
    /// Shade the detected phases (trajectories).
    #[serde(default)]
    pub phases: bool,
    /// Horizontal axis parameter (error_vs_parameter).
    pub x: Option<Parameter>,
    /// One curve per value of this parameter (error_vs_parameter).
    pub group: Option<Parameter>,
    /// Exponent p of the reference line ∝ x^p (error_vs_parameter); the theorem's is 21/16.
    pub reference_exponent: Option<f64>,
    /// Largest iteration shown (trajectories); default: all.
    pub max_t: Option<usize>,
    /// Fit slopes only over x ≤ this value (error_vs_parameter), to leave out the non-asymptotic
    /// large-α end; default: all points.
    pub fit_max_x: Option<f64>,
    /// ε of iterations_to_error: the first logged t with test error ≤ ε.
    pub target_error: Option<f64>,
    /// Logarithmic t axis (trajectory_comparison); t = 0 is then not drawn.
    #[serde(default)]
    pub log_t: bool,
}

impl PlotSpec {
    /// A trajectories figure of the test error, nothing else set: the `[plot]` of specs built as
    /// values (theory checks, the Python module), whose figure is not the point.
    pub fn test_error_trajectories() -> Self {
        Self {
            kind: PlotKind::Trajectories,
            quantities: vec![crate::quantity::TEST_ERROR.name.into()],
            size: None,
            columns: None,
            phases: false,
            x: None,
            group: None,
            reference_exponent: None,
            max_t: None,
            fit_max_x: None,
            target_error: None,
            log_t: false,
        }
    }
}

/// A spec as written in the TOML file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Figure title.
    pub title: String,
    /// What the figure shows.
    pub caption: String,
    /// The instance.
    pub problem: ProblemSpec,
    /// The measurement model (absent: Gaussian).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<OperatorSpec>,
    /// Measurement noise (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<NoiseSpec>,
    /// The initialization.
    pub init: InitSpec,
    /// The step size and schedule (of every algorithm).
    pub gd: GdSpec,
    /// The algorithm (absent: GD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<AlgorithmSpec>,
    /// Seeds and replicates.
    pub seeds: SeedSpec,
    /// Grid.
    #[serde(default)]
    pub sweep: SweepSpec,
    /// Extra diagnostics and phase thresholds.
    #[serde(default)]
    pub diagnostics: DiagnosticsSpec,
    /// Figure.
    pub plot: PlotSpec,
}

impl Spec {
    /// The measurement models of the runs, in grid order: Gaussian sensing, or for completion each
    /// sampling (`sweep.sampling` or `operator.sampling`) with, for uniform sampling, each p
    /// (`sweep.p`, `operator.p`, or `operator.observations` / (n(n+1)/2)). The spec must be
    /// validated.
    pub fn operator_models(&self) -> Vec<OperatorModel> {
        let o = self.operator.clone().unwrap_or_default();
        if o.kind == OperatorKind::Gaussian {
            return vec![OperatorModel::Gaussian];
        }
        let threshold = o.threshold.unwrap_or(0.0);
        let ps = self.sweep.p.clone().unwrap_or_else(|| {
            vec![o.p.unwrap_or_else(|| {
                let pairs = self.problem.n * (self.problem.n + 1) / 2;
                o.observations.map_or(f64::NAN, |k| k as f64 / pairs as f64)
            })]
        });
        self.samplings()
            .into_iter()
            .flat_map(|s| match s {
                Sampling::Uniform => ps
                    .iter()
                    .map(|&p| OperatorModel::UniformCompletion { p })
                    .collect(),
                Sampling::Relu => vec![OperatorModel::ReluCompletion { threshold }],
                Sampling::MatchedUniform => {
                    vec![OperatorModel::MatchedUniformCompletion { threshold }]
                }
            })
            .collect()
    }

    /// The completion samplings the spec runs (`sweep.sampling`, else `operator.sampling`; empty
    /// for Gaussian sensing or if neither is set).
    pub fn samplings(&self) -> Vec<Sampling> {
        let o = self.operator.clone().unwrap_or_default();
        match o.kind {
            OperatorKind::Gaussian => Vec::new(),
            OperatorKind::Completion => self
                .sweep
                .sampling
                .clone()
                .unwrap_or_else(|| o.sampling.into_iter().collect()),
        }
    }

    /// Whether the runs are matrix completion.
    pub fn is_completion(&self) -> bool {
        self.operator
            .as_ref()
            .is_some_and(|o| o.kind == OperatorKind::Completion)
    }

    /// Whether the spec names its noise (`[noise]` or `sweep.sigma`); then runs.csv records σ.
    pub fn names_noise(&self) -> bool {
        self.noise.is_some() || self.sweep.sigma.is_some()
    }

    /// Whether the spec names its algorithm (`[algorithm]` or `sweep.algorithm`); then runs.csv
    /// records it.
    pub fn names_algorithm(&self) -> bool {
        self.algorithm.is_some() || self.sweep.algorithm.is_some()
    }
}

/// A validated spec (every value in range), with the [`Grid`] it decided.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Config {
    /// The experiment name (file stem).
    pub name: String,
    /// The spec file it came from.
    pub file: PathBuf,
    /// Whether the `[quick]` overrides were applied.
    pub quick: bool,
    /// With `quick`, the spec's `[quick]` table as applied (None without `quick` or without the
    /// table: the spec then runs at full size).
    #[serde(skip)]
    pub quick_overrides: Option<QuickOverrides>,
    /// The spec, with `[quick]` merged in if `quick` (as written: for the manifest and the plots'
    /// options).
    pub spec: Spec,
    /// What the spec decided about its runs, every value resolved and checked.
    #[serde(skip)]
    pub grid: Grid,
}

/// What a spec's `[quick]` table changed, for quick-mode figure titles.
#[derive(Debug, Clone, PartialEq)]
pub struct QuickOverrides {
    /// One `table.key = value` per value set, sorted by key (lists of more than four values as
    /// their count), without `title` and `caption`.
    pub changes: Vec<String>,
    /// Whether it sets `title`.
    pub sets_title: bool,
    /// Whether it sets `caption`.
    pub sets_caption: bool,
}

impl Config {
    /// With `quick`, a warning if the spec has no `[quick]` table or an empty one: it then runs at
    /// full size (into the quick-mode results). Said by `run`, `plan` and `export`, and warned by
    /// the Python module's `run_spec`.
    pub fn quick_note(&self) -> Option<String> {
        let why = match &self.quick_overrides {
            _ if !self.quick => return None,
            None => "no [quick] table",
            Some(q) if q.changes.is_empty() && !q.sets_title && !q.sets_caption => {
                "an empty [quick] table"
            }
            Some(_) => return None,
        };
        Some(format!(
            "warning: {}: {why}, so --quick runs this spec at full size (into the quick-mode \
             results)",
            self.file.display()
        ))
    }
}

/// The runs a validated spec describes, with nothing left to decide: each list of the grid is
/// resolved (a parameter that is not swept is the one value of its table) and in range, each
/// algorithm carries its parameters. [`crate::sweep::expand`] reads only this.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// n.
    pub n: usize,
    /// r.
    pub r: usize,
    /// The measurement models (one, or several with `sweep.p` / `sweep.sampling`).
    pub operator: Vec<OperatorModel>,
    /// How X is drawn.
    pub truth: TruthKind,
    /// The singular values of X, descending, one list per κ (or the explicit values); one empty
    /// list for a Gaussian-factor X (its singular values are drawn with it).
    pub singular_values: Vec<Vec<f64>>,
    /// κ of each list of `singular_values`: the spec's κ as written (σ_1/σ_r in floating point
    /// can differ in the last bit, e.g. 19.999999999999982 for 20), σ_1/σ_r of explicit values,
    /// NaN for a Gaussian-factor X.
    pub kappa: Vec<f64>,
    /// Values of m.
    pub m: Vec<usize>,
    /// Noise levels σ.
    pub sigma: Vec<f64>,
    /// Values of μ.
    pub step_size: Vec<f64>,
    /// The algorithms with their parameters.
    pub algorithm: Vec<Algorithm>,
    /// Initialization kinds.
    pub init: Vec<InitKind>,
    /// Widths r'.
    pub r_prime: Vec<usize>,
    /// Values of α.
    pub alpha: Vec<f64>,
    /// T.
    pub iterations: usize,
    /// Logging period.
    pub log_every: usize,
    /// A run ends at its first logged test error ≤ this (None: runs all T iterations).
    pub stop_below_test_error: Option<f64>,
    /// The spec seed.
    pub seed: u64,
    /// Replicates per grid point.
    pub replicates: usize,
    /// Replicates share X and 𝒜.
    pub share_instance: bool,
    /// Record the spectral diagnostics.
    pub spectral: bool,
}

impl Grid {
    /// The grid of a spec that passed [`validate`].
    fn of(spec: &Spec) -> Self {
        let p = &spec.problem;
        let sw = &spec.sweep;
        let list = |swept: &Option<Vec<f64>>, single: f64| swept.clone().unwrap_or(vec![single]);
        let (singular_values, kappa): (Vec<Vec<f64>>, Vec<f64>) =
            match (&p.singular_values, &sw.kappa, p.kappa) {
                _ if p.truth == TruthKind::GaussianFactor => (vec![Vec::new()], vec![f64::NAN]),
                (Some(v), _, _) => {
                    let sv = SingularValues::Explicit(v.clone()).values(p.r);
                    let kappa = sv[0] / sv[p.r - 1];
                    (vec![sv], vec![kappa])
                }
                (None, Some(kappas), _) => kappas
                    .iter()
                    .map(|&k| (SingularValues::Condition(k).values(p.r), k))
                    .unzip(),
                // validate: without singular values, kappa or sweep.kappa is set.
                (None, None, kappa) => {
                    let k = kappa.unwrap_or(1.0);
                    (vec![SingularValues::Condition(k).values(p.r)], vec![k])
                }
            };
        let table = spec.algorithm.clone().unwrap_or_default();
        Self {
            n: p.n,
            r: p.r,
            operator: spec.operator_models(),
            truth: p.truth,
            singular_values,
            kappa,
            // Completion has no m: one grid value, 0, that its runs record (|Ω| is measured).
            m: sw.m.clone().unwrap_or(vec![p.m.unwrap_or(0)]),
            sigma: list(&sw.sigma, spec.noise.clone().unwrap_or_default().sigma),
            step_size: list(&sw.step_size, spec.gd.step_size),
            algorithm: sw
                .algorithm
                .clone()
                .unwrap_or(vec![table.kind])
                .into_iter()
                .map(|k| table.resolve(k))
                .collect(),
            init: sw.init.clone().unwrap_or(vec![spec.init.kind]),
            r_prime: sw.r_prime.clone().unwrap_or(vec![spec.init.r_prime]),
            alpha: list(&sw.alpha, spec.init.alpha),
            iterations: spec.gd.iterations,
            log_every: spec.gd.log_every,
            stop_below_test_error: spec.gd.stop_below_test_error,
            seed: spec.seeds.seed,
            replicates: spec.seeds.replicates,
            share_instance: spec.seeds.share_instance,
            spectral: spec.diagnostics.spectral,
        }
    }
}

/// Memory budget of one batch (packed operator plus the batch's buffers, see
/// [`lowrank_core::descent::batch_workspace_bytes`]): `LOWRANK_MAX_OPERATOR_BYTES` if set, else 80% of MemAvailable.
pub type MemoryBudget = Option<u128>;

/// The spec files (`*.toml`) in `dir`, sorted by name.
pub fn files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    Ok(v)
}

/// Reads and validates a spec file. `quick` merges its `[quick]` table over it first. (With the
/// memory check: [`crate::load_spec`].)
pub fn load(path: &Path, quick: bool) -> Result<Config, SpecError> {
    let err = |message: String| SpecError {
        file: path.to_path_buf(),
        message,
    };
    let text = read_text(path).map_err(err)?;
    parse(path, &text, quick)
}

/// Largest spec file read (bytes); the shipped specs are a few KiB.
pub const MAX_SPEC_BYTES: u64 = 1 << 20;

/// The text of a spec file: a regular file (a FIFO or device would block or never end) of at most
/// [`MAX_SPEC_BYTES`], in UTF-8. The error says which of these failed.
pub fn read_text(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file; a spec is a TOML file (<name>.toml)".into());
    }
    if meta.len() > MAX_SPEC_BYTES {
        return Err(format!(
            "is {} bytes; a spec is at most {MAX_SPEC_BYTES} bytes",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SPEC_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_SPEC_BYTES {
        return Err(format!(
            "is over {MAX_SPEC_BYTES} bytes; a spec is at most that"
        ));
    }
    String::from_utf8(bytes).map_err(|e| format!("is not UTF-8 text: {e}"))
}

/// Parses and validates spec text (see [`load`]); `path` names it in errors and gives the name.
/// Both the spec as written and the spec with its `[quick]` overrides merged are validated, whichever
/// is asked for, so that a mistake in either is reported in both modes; errors found with the
/// overrides merged say so.
pub fn parse(path: &Path, text: &str, quick: bool) -> Result<Config, SpecError> {
    // A syntax error keeps toml's lines: the quoted line and the caret under the mistake.
    let table: toml::Table = toml::from_str(text).map_err(|e| {
        let mut message = e.to_string().trim_end().to_string();
        // TOML's integers are 64-bit signed; say so where toml says only "too large" (up to
        // 2^64) or "as i128, expected any valid TOML value" (beyond, either sign).
        if message.ends_with("value was too large") || message.contains("as i128") {
            message.push_str(&format!(
                "; allowed: TOML integers from {} to {} (2^63 − 1)",
                i64::MIN,
                i64::MAX
            ));
        }
        SpecError {
            file: path.to_path_buf(),
            message,
        }
    })?;
    let in_quick = |e: SpecError| SpecError {
        message: format!("with its [quick] overrides merged: {}", e.message),
        ..e
    };
    let has_quick = table.contains_key("quick");
    if quick {
        if has_quick {
            // The spec as written must be valid too (a [quick] override must not hide its errors).
            parse_one(path, table.clone(), false)?;
            return parse_one(path, table, true).map_err(in_quick);
        }
        return parse_one(path, table, true);
    }
    let config = parse_one(path, table.clone(), false)?;
    if has_quick {
        parse_one(path, table, true).map_err(in_quick)?;
    }
    Ok(config)
}

/// [`parse`] of the spec's TOML table, with or without the `[quick]` overrides.
fn parse_one(path: &Path, mut value: toml::Table, quick: bool) -> Result<Config, SpecError> {
    let err = |message: String| SpecError {
        file: path.to_path_buf(),
        message,
    };
    let overrides = value.remove("quick");
    if let Some(o) = &overrides {
        if !o.is_table() {
            return Err(err(
                "key `quick` must be a table of overrides, e.g. [quick] / gd.iterations = 100"
                    .into(),
            ));
        }
    }
    let mut quick_overrides = None;
    if quick {
        if let Some(toml::Value::Table(o)) = overrides {
            quick_overrides = Some(describe_overrides(&o));
            merge(&mut value, o);
        }
    }
    // (After the merge: a [quick] override may set them too.)
    for key in ["title", "caption"] {
        if let Some(v) = value.get(key).filter(|v| !v.is_str()) {
            let found = v.type_str();
            let article = if found.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            return Err(err(format!(
                "key `{key}` must be a string (in quotes); found {article} {found}"
            )));
        }
    }
    let spec: Spec = toml::Value::Table(value)
        .try_into()
        .map_err(|e: toml::de::Error| {
            // `quick` is taken out before serde sees the spec; its list of tables says so too.
            err(spec_words(&flatten(&e.to_string()))
                .replace("`diagnostics`, `plot`", "`diagnostics`, `plot`, `quick`"))
        })?;
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| err("the file name must be <name>.toml".into()))?
        .to_string();
    let reserved = match name.as_str() {
        "cache" => Some("run cache"),
        "quick" => Some("quick-mode results"),
        "slurm-logs" => Some("Slurm job logs (scripts/slurm/submit.sh)"),
        "slurm-claims" => Some("Slurm claim files (scripts/slurm/submit.sh with SWEEP_CLAIMS=1)"),
        _ => None,
    };
    if let Some(holds) = reserved {
        return Err(err(format!(
            "the experiment name `{name}` (file stem) is reserved: results/{name} holds the {holds}; rename the file"
        )));
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(err(format!(
            "the experiment name `{name}` (file stem) may only use letters, digits, `_` and `-`"
        )));
    }
    let mut config = check(path, name, spec, quick)?;
    config.quick_overrides = quick_overrides;
    Ok(config)
}

/// What a `[quick]` table changes ([`QuickOverrides`]).
fn describe_overrides(overrides: &toml::Table) -> QuickOverrides {
    fn leaves(prefix: &str, value: &toml::Value, out: &mut Vec<String>) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    leaves(&format!("{prefix}{k}."), v, out);
                }
            }
            toml::Value::Array(a) if a.len() > 4 => out.push(format!(
                "{} = {} values",
                prefix.trim_end_matches('.'),
                a.len()
            )),
            v => out.push(format!("{} = {}", prefix.trim_end_matches('.'), short(v))),
        }
    }
    /// Numbers as specs tend to write them: 30, 0.25, 1e-2, 5e-2, 1e-6 (the shorter of the plain
    /// and the exponent form, the exponent form at a tie; whole numbers plain).
    fn short(value: &toml::Value) -> String {
        match value {
            toml::Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e6 => format!("{f:.0}"),
            toml::Value::Float(f) => {
                let (plain, exp) = (format!("{f}"), format!("{f:e}"));
                if exp.len() <= plain.len() {
                    exp
                } else {
                    plain
                }
            }
            toml::Value::Array(a) => {
                format!("[{}]", a.iter().map(short).collect::<Vec<_>>().join(", "))
            }
            v => v.to_string(),
        }
    }
    let mut changes = Vec::new();
    for (k, v) in overrides {
        if k != "title" && k != "caption" {
            leaves(&format!("{k}."), v, &mut changes);
        }
    }
    QuickOverrides {
        changes,
        sets_title: overrides.contains_key("title"),
        sets_caption: overrides.contains_key("caption"),
    }
}

/// Validates a spec given as a value (as theory-checks builds them) into a [`Config`] named
/// `name`; `path` names it in errors. The memory check is separate ([`crate::run::check_memory`]).
pub fn check(path: &Path, name: String, spec: Spec, quick: bool) -> Result<Config, SpecError> {
    validate(&spec).map_err(|message| SpecError {
        file: path.to_path_buf(),
        message,
    })?;
    Ok(Config {
        name,
        file: path.to_path_buf(),
        quick,
        quick_overrides: None,
        grid: Grid::of(&spec),
        spec,
    })
}

fn flatten(msg: &str) -> String {
    msg.trim().replace('\n', " ").replace("  ", " ")
}

/// serde's words for a spec's shapes in TOML's: "expected struct GdSpec" is "expected a table",
/// "expected a sequence" is "expected a list ([…])".
fn spec_words(msg: &str) -> String {
    let mut out = msg.to_string();
    while let Some(i) = out.find("expected struct ") {
        let rest = &out[i + "expected struct ".len()..];
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .unwrap_or(rest.len());
        out = format!("{}expected a table{}", &out[..i], &rest[end..]);
    }
    out.replace("expected a sequence", "expected a list ([…])")
        .replace("expected u64", "expected a whole number ≥ 0")
        .replace("expected usize", "expected a whole number ≥ 0")
        .replace("expected u32", "expected a whole number ≥ 0")
}

/// Recursively merges table `over` into `base`.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn check_f64(key: &str, v: f64, ok: bool, allowed: &str) -> Result<(), String> {
    if !v.is_finite() {
        return Err(format!(
            "{key} = {v} is not a finite number; allowed: {allowed}"
        ));
    }
    if !ok {
        // As written, unless that takes a long row of zeros (1e-200): then in exponent form.
        let plain = v.to_string();
        let v = if plain.len() > 16 {
            format!("{v:e}")
        } else {
            plain
        };
        return Err(format!("{key} = {v} is out of range; allowed: {allowed}"));
    }
    Ok(())
}

fn nonempty<T>(key: &str, v: &Option<Vec<T>>) -> Result<(), String> {
    match v {
        Some(list) if list.is_empty() => Err(format!(
            "{key} = [] is an empty sweep; give at least one value or remove the key"
        )),
        _ => Ok(()),
    }
}

fn validate(spec: &Spec) -> Result<(), String> {
    let p = &spec.problem;
    let sw = &spec.sweep;
    if p.n == 0 {
        return Err("problem.n = 0 is out of range; allowed: n ≥ 1".into());
    }
    if p.n > MAX_N {
        return Err(format!(
            "problem.n = {} is out of range; allowed: 1 ≤ n ≤ {MAX_N} (sizes such as n(n+1)/2 must not overflow)",
            p.n
        ));
    }
    if p.r == 0 || p.r > p.n {
        return Err(format!(
            "problem.r = {} is out of range; allowed: 1 ≤ r ≤ n = {}",
            p.r, p.n
        ));
    }
    check_operator(spec)?;
    nonempty("sweep.m", &sw.m)?;
    if !spec.is_completion() {
        if p.m.is_none() && sw.m.is_none() {
            return Err(
                "problem.m is missing; Gaussian sensing needs m ≥ 1 measurements (or sweep.m)"
                    .into(),
            );
        }
        for &m in sw.m.as_deref().unwrap_or(&[p.m.unwrap_or(0)]) {
            let key = if sw.m.is_some() {
                "sweep.m"
            } else {
                "problem.m"
            };
            if m == 0 {
                return Err(format!("{key} = 0 is out of range; allowed: m ≥ 1"));
            }
        }
    }
    if p.truth == TruthKind::GaussianFactor {
        if let Some(key) = [
            ("problem.kappa", p.kappa.is_some()),
            ("problem.singular_values", p.singular_values.is_some()),
            ("sweep.kappa", sw.kappa.is_some()),
        ]
        .iter()
        .find(|k| k.1)
        .map(|k| k.0)
        {
            return Err(format!(
                "{key} is set, but problem.truth = \"gaussian_factor\" draws X = G/σ_1(G) with a random \
                 spectrum; allowed: remove it (or use truth = \"orthonormal\")"
            ));
        }
    }
    match (&p.kappa, &p.singular_values) {
        _ if p.truth == TruthKind::GaussianFactor => {}
        (Some(_), Some(_)) => {
            return Err(
                "problem.kappa and problem.singular_values are both set; give one of them".into(),
            )
        }
        (None, None) if sw.kappa.is_none() => {
            return Err(
                "problem: give kappa = κ ≥ 1 or singular_values = [r positive numbers]".into(),
            )
        }
        (None, Some(s)) => {
            if s.len() != p.r {
                return Err(format!(
                    "problem.singular_values has {} entries; allowed: exactly r = {} positive numbers",
                    s.len(),
                    p.r
                ));
            }
            // Squares of squares (‖XXᵀ‖², the test error's scale) must neither underflow nor
            // overflow, and σ_max/σ_min is κ, bounded as problem.kappa is.
            for &v in s {
                check_f64(
                    "problem.singular_values",
                    v,
                    (1e-50..=1e50).contains(&v),
                    "numbers between 1e-50 and 1e50",
                )?;
            }
            let (lo, hi) = s.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
            if hi / lo > 1e12 {
                return Err(format!(
                    "problem.singular_values: the largest over the smallest is {:e}; allowed: at \
                     most 1e12 (as 1 ≤ κ ≤ 1e12)",
                    hi / lo
                ));
            }
            if sw.kappa.is_some() {
                return Err("sweep.kappa cannot be combined with problem.singular_values; use problem.kappa".into());
            }
        }
        _ => {}
    }
    nonempty("sweep.kappa", &sw.kappa)?;
    let kappas: Vec<f64> = sw
        .kappa
        .clone()
        .or(p.kappa.map(|k| vec![k]))
        .unwrap_or_default();
    let kkey = if sw.kappa.is_some() {
        "sweep.kappa"
    } else {
        "problem.kappa"
    };
    for &k in &kappas {
        // σ_r = 1 − (1 − 1/κ) cancels: above 1e12 it loses its digits, and at ~1e17 it is 0.
        check_f64(
            kkey,
            k,
            (1.0..=1e12).contains(&k),
            "1 ≤ κ ≤ 1e12 (the smallest singular value 1/κ is computed with cancellation)",
        )?;
        if p.r == 1 && k != 1.0 {
            return Err(format!(
                "{kkey} = {k} with r = 1; allowed: κ = 1 (a rank-one X has κ = 1)"
            ));
        }
    }

    if let (Some(_), Some(k)) = (&sw.kappa, p.kappa) {
        // Checked even when κ is swept, as init.alpha is (a value in the file must be valid).
        check_f64(
            "problem.kappa",
            k,
            (1.0..=1e12).contains(&k),
            "1 ≤ κ ≤ 1e12",
        )?;
    }

    nonempty("sweep.alpha", &sw.alpha)?;
    let akey = if sw.alpha.is_some() {
        "sweep.alpha"
    } else {
        "init.alpha"
    };
    for &a in sw.alpha.as_deref().unwrap_or(&[spec.init.alpha]) {
        check_f64(akey, a, a > 0.0, "α > 0")?;
    }
    check_f64(
        "init.alpha",
        spec.init.alpha,
        spec.init.alpha > 0.0,
        "α > 0",
    )?;
    nonempty("sweep.r_prime", &sw.r_prime)?;
    let rkey = if sw.r_prime.is_some() {
        "sweep.r_prime"
    } else {
        "init.r_prime"
    };
    for &rp in sw.r_prime.as_deref().unwrap_or(&[spec.init.r_prime]) {
        if rp == 0 {
            return Err(format!("{rkey} = 0 is out of range; allowed: r' ≥ 1 (r' < r, = r, > r and ≥ n are all allowed)"));
        }
        if rp > MAX_N {
            return Err(format!(
                "{rkey} = {rp} is out of range; allowed: 1 ≤ r' ≤ {MAX_N} (sizes such as n·r' and r'² must not overflow)"
            ));
        }
    }
    if spec.init.r_prime == 0 || spec.init.r_prime > MAX_N {
        // Checked even when r' is swept, as init.alpha is.
        return Err(format!(
            "init.r_prime = {} is out of range; allowed: 1 ≤ r' ≤ {MAX_N}",
            spec.init.r_prime
        ));
    }
    nonempty("sweep.init", &sw.init)?;

    nonempty("sweep.step_size", &sw.step_size)?;
    let skey = if sw.step_size.is_some() {
        "sweep.step_size"
    } else {
        "gd.step_size"
    };
    for &mu in sw.step_size.as_deref().unwrap_or(&[spec.gd.step_size]) {
        check_f64(skey, mu, mu > 0.0, "μ > 0")?;
    }
    check_f64(
        "gd.step_size",
        spec.gd.step_size,
        spec.gd.step_size > 0.0,
        "μ > 0",
    )?;
    if spec.gd.iterations == 0 {
        return Err("gd.iterations = 0 is out of range; allowed: T ≥ 1".into());
    }
    if spec.gd.log_every == 0 || spec.gd.log_every > spec.gd.iterations {
        return Err(format!(
            "gd.log_every = {} is out of range; allowed: 1 ≤ log_every ≤ iterations = {}",
            spec.gd.log_every, spec.gd.iterations
        ));
    }
    if spec.seeds.replicates == 0 {
        return Err("seeds.replicates = 0 is out of range; allowed: replicates ≥ 1".into());
    }
    if let Some(e) = spec.gd.stop_below_test_error {
        check_f64(
            "gd.stop_below_test_error",
            e,
            e > 0.0 && e < 1.0,
            "0 < ε < 1",
        )?;
        // Figures of quantities at the end of all T iterations leave a stopped run out.
        let needs_horizon = match spec.plot.kind {
            PlotKind::ErrorVsParameter => Some("each run's test error after all T iterations"),
            PlotKind::Overparameterization => {
                Some("each run's test error up to T and its final error")
            }
            PlotKind::PhaseLengths => Some("t_hat, which is set by each run's final error at T"),
            _ => None,
        };
        if let Some(what) = needs_horizon {
            return Err(format!(
                "gd.stop_below_test_error with plot.kind = {:?}: that figure draws {what}, so every \
                 run that stops at the target would be left out; allowed: no stop_below_test_error \
                 for this kind (it is for iterations_to_error, success_rate, trajectories, \
                 trajectory_comparison and init_comparison)",
                kind_name(spec.plot.kind)
            ));
        }
        // Only an ε in range is compared (an ε out of range gets its own message below).
        if let Some(target) = spec
            .plot
            .target_error
            .filter(|&t| t > 0.0 && t < 1.0 && t < e)
        {
            return Err(format!(
                "plot.target_error = {target:e} is below gd.stop_below_test_error = {e:e}: the runs stop \
                 before they could reach it; allowed: target_error ≥ stop_below_test_error"
            ));
        }
    }
    check_algorithms(spec)?;
    distinct("sweep.alpha", &sw.alpha)?;
    distinct("sweep.r_prime", &sw.r_prime)?;
    distinct("sweep.m", &sw.m)?;
    distinct("sweep.kappa", &sw.kappa)?;
    distinct("sweep.step_size", &sw.step_size)?;
    distinct("sweep.init", &sw.init)?;
    distinct("sweep.algorithm", &sw.algorithm)?;
    distinct("sweep.sigma", &sw.sigma)?;
    nonempty("sweep.sigma", &sw.sigma)?;
    let skey = if sw.sigma.is_some() {
        "sweep.sigma"
    } else {
        "noise.sigma"
    };
    let sigmas = sw
        .sigma
        .clone()
        .unwrap_or(vec![spec.noise.clone().unwrap_or_default().sigma]);
    for s in sigmas {
        check_f64(skey, s, s >= 0.0, "σ ≥ 0 (0: noiseless)")?;
    }
    if let Some(noise) = &spec.noise {
        check_f64(
            "noise.sigma",
            noise.sigma,
            noise.sigma >= 0.0,
            "σ ≥ 0 (0: noiseless)",
        )?;
    }
    let runs = run_count(spec);
    if runs.is_none_or(|n| n > MAX_RUNS) {
        return Err(format!(
            "seeds.replicates = {} with sweep lists of lengths {:?} make {} runs; allowed: at most {MAX_RUNS}",
            spec.seeds.replicates,
            sweep_lengths(sw),
            runs.map_or("more than 2^64".to_string(), |n| n.to_string())
        ));
    }

    let unknown: BTreeSet<&str> = spec
        .plot
        .quantities
        .iter()
        .map(String::as_str)
        .filter(|q| !quantity::is_quantity(q))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "plot.quantities: unknown {unknown:?}; allowed: {}, sigma_u_<k> (k-th singular value of U, k ≥ 1), \
             and with [diagnostics] spectral = true: {}",
            quantity::DIAGNOSTICS.map(|q| q.name).join(", "),
            quantity::SPECTRAL.map(|q| q.name).join(", ")
        ));
    }
    distinct("plot.quantities", &Some(spec.plot.quantities.clone()))?;
    // Runs record σ_1..σ_min(r', r+2, n)(U); every run of the figure must have the quantity.
    let narrowest = sw
        .r_prime
        .as_deref()
        .and_then(|v| v.iter().min().copied())
        .unwrap_or(spec.init.r_prime);
    let recorded = (p.r + 2).min(narrowest).min(p.n);
    if let Some(q) = spec.plot.quantities.iter().find(|q| {
        q.strip_prefix("sigma_u_")
            .and_then(|k| k.parse::<usize>().ok())
            .is_some_and(|k| k > recorded)
    }) {
        return Err(format!(
            "plot.quantities: {q} is not recorded for every run; allowed: sigma_u_1 … sigma_u_{recorded} \
             (runs record σ_1(U)…σ_min(r', r+2, n)(U); here n = {}, r = {} and the smallest r' is \
             {narrowest})",
            p.n, p.r
        ));
    }
    let needs_spectral: Vec<&str> = spec
        .plot
        .quantities
        .iter()
        .map(String::as_str)
        .filter(|q| quantity::is_spectral(q))
        .collect();
    if !needs_spectral.is_empty() && !spec.diagnostics.spectral {
        return Err(format!(
            "plot.quantities: {needs_spectral:?} are recorded only with diagnostics.spectral = true"
        ));
    }
    let d = &spec.diagnostics;
    check_f64(
        "diagnostics.phase_sin_theta",
        d.phase_sin_theta,
        d.phase_sin_theta > 0.0 && d.phase_sin_theta <= 1.0,
        "0 < τ ≤ 1",
    )?;
    check_f64(
        "diagnostics.phase_signal_to_noise",
        d.phase_signal_to_noise,
        d.phase_signal_to_noise > 0.0,
        "ρ > 0",
    )?;
    match spec.plot.kind {
        PlotKind::Trajectories if spec.plot.quantities.is_empty() => {
            return Err("plot.quantities is missing or empty; the trajectories figure needs at least one quantity, e.g. quantities = [\"test_error\"]".into())
        }
        PlotKind::ErrorVsParameter => match spec.plot.x {
            None => return Err("plot.x is missing; error_vs_parameter needs x = \"alpha\" | \"r_prime\" | \"m\" | \"kappa\" | \"step_size\" | \"sigma\" | \"p\"".into()),
            Some(x) => {
                check_error_vs_parameter(spec, x)?;
                check_log_x(spec)?;
            }
        },
        PlotKind::IterationsToError | PlotKind::SuccessRate => {
            if spec.plot.target_error.is_none() {
                return Err(format!(
                    "plot.target_error is missing; {} needs target_error = ε with 0 < ε < 1",
                    if spec.plot.kind == PlotKind::SuccessRate {
                        "success_rate"
                    } else {
                        "iterations_to_error"
                    }
                ));
            }
            check_x_and_group(spec, false)?;
            check_log_x(spec)?;
        }
        PlotKind::TrajectoryComparison => {
            if spec.plot.quantities.len() != 1 {
                return Err(format!(
                    "plot.quantities has {} entries; trajectory_comparison draws exactly one quantity (e.g. [\"test_error\"])",
                    spec.plot.quantities.len()
                ));
            }
            if spec.plot.x.is_some() {
                return Err("plot.x is set, but trajectory_comparison's x axis is the iteration t; remove it".into());
            }
            check_x_and_group(spec, true)?;
        }
        _ => {}
    }
    if let Some(c) = spec.plot.columns.filter(|c| !(1..=10).contains(c)) {
        return Err(format!(
            "plot.columns = {c} is out of range; allowed: 1 ≤ columns ≤ 10 (panels per row)"
        ));
    }
    {
        use PlotKind::*;
        let plot = &spec.plot;
        // Options each kind draws with; one set for a kind that ignores it is a mistake to report
        // (the other kinds draw the final test error or phase lengths, not plot.quantities).
        let options: [(&str, bool, &[PlotKind]); 8] = [
            (
                "quantities",
                !plot.quantities.is_empty(),
                &[Trajectories, TrajectoryComparison],
            ),
            (
                "x",
                plot.x.is_some(),
                &[ErrorVsParameter, IterationsToError, SuccessRate],
            ),
            (
                "group",
                plot.group.is_some(),
                &[
                    ErrorVsParameter,
                    IterationsToError,
                    SuccessRate,
                    TrajectoryComparison,
                ],
            ),
            ("fit_max_x", plot.fit_max_x.is_some(), &[ErrorVsParameter]),
            (
                "reference_exponent",
                plot.reference_exponent.is_some(),
                &[ErrorVsParameter],
            ),
            ("max_t", plot.max_t.is_some(), &[Trajectories]),
            ("log_t", plot.log_t, &[TrajectoryComparison]),
            ("phases", plot.phases, &[Trajectories]),
        ];
        if let Some((key, _, kinds)) = options
            .iter()
            .find(|(_, set, kinds)| *set && !kinds.contains(&plot.kind))
        {
            let names: Vec<String> = kinds
                .iter()
                .map(|k| format!("{:?}", kind_name(*k)))
                .collect();
            return Err(format!(
                "plot.{key} is set, but kind = {:?} does not use it; allowed with kind = {}",
                kind_name(plot.kind),
                names.join(", ")
            ));
        }
    }
    if spec.plot.target_error.is_some()
        && !matches!(
            spec.plot.kind,
            PlotKind::IterationsToError | PlotKind::SuccessRate | PlotKind::TrajectoryComparison
        )
    {
        return Err(
            "plot.target_error is set, but this plot kind does not use it; allowed with \
                    kind = \"iterations_to_error\", \"success_rate\" or \"trajectory_comparison\""
                .into(),
        );
    }
    if let Some(e) = spec.plot.target_error {
        check_f64("plot.target_error", e, e > 0.0 && e < 1.0, "0 < ε < 1")?;
    }
    if let Some(x) = spec.plot.fit_max_x {
        check_f64("plot.fit_max_x", x, x > 0.0, "a positive number")?;
    }
    if let Some(p) = spec.plot.reference_exponent {
        check_f64("plot.reference_exponent", p, true, "a finite number")?;
    }
    if let Some((w, h)) = spec.plot.size {
        if !(200..=6000).contains(&w) || !(150..=6000).contains(&h) {
            return Err(format!(
                "plot.size = [{w}, {h}] is out of range; allowed: width 200..=6000, height 150..=6000 pixels"
            ));
        }
    }

    Ok(())
}

/// `[operator]` and `sweep.p` / `sweep.sampling`: completion needs its samplings and each
/// sampling's parameter, takes no m; a key no sampling of the spec uses is refused; Gaussian sensing
/// takes none of the completion keys.
fn check_operator(spec: &Spec) -> Result<(), String> {
    let o = spec.operator.clone().unwrap_or_default();
    let sw = &spec.sweep;
    let completion_keys = [
        ("operator.sampling", o.sampling.is_some()),
        ("operator.p", o.p.is_some()),
        ("operator.observations", o.observations.is_some()),
        ("operator.threshold", o.threshold.is_some()),
        ("sweep.p", sw.p.is_some()),
        ("sweep.sampling", sw.sampling.is_some()),
    ];
    if o.kind == OperatorKind::Gaussian {
        if let Some((key, _)) = completion_keys.iter().find(|(_, set)| *set) {
            return Err(format!(
                "{key} is a parameter of matrix completion; allowed with operator.kind = \"completion\" only"
            ));
        }
        return Ok(());
    }
    if spec.problem.m.is_some() || sw.m.is_some() {
        return Err(format!(
            "{} is set, but matrix completion observes a random number of entries |Ω|; allowed: \
             remove it (uniform sampling: set operator.p)",
            if spec.problem.m.is_some() {
                "problem.m"
            } else {
                "sweep.m"
            }
        ));
    }
    nonempty("sweep.sampling", &sw.sampling)?;
    distinct("sweep.sampling", &sw.sampling)?;
    for (list, single) in [
        (
            "sweep.sampling",
            sw.sampling.is_some() && o.sampling.is_some(),
        ),
        ("sweep.p", sw.p.is_some() && o.p.is_some()),
    ] {
        if single {
            let key = list.replace("sweep.", "operator.");
            return Err(format!(
                "{list} and {key} are both set, and {list} replaces {key}; give one of them"
            ));
        }
    }
    let samplings = spec.samplings();
    if samplings.is_empty() {
        return Err("operator.sampling is missing; completion needs sampling = \"uniform\" (with p), \
                    \"relu\" or \"matched_uniform\" (with an optional threshold), or sweep.sampling"
            .into());
    }
    let which = if sw.sampling.is_some() {
        format!(
            "sweep.sampling = [{}]",
            samplings
                .iter()
                .map(|s| format!("\"{}\"", s.label()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        format!("sampling = \"{}\"", samplings[0].label())
    };
    let uniform = samplings.contains(&Sampling::Uniform);
    let thresholded = samplings
        .iter()
        .any(|s| matches!(s, Sampling::Relu | Sampling::MatchedUniform));
    if !thresholded && o.threshold.is_some() {
        return Err(format!(
            "operator.threshold is a parameter of sampling = \"relu\" and \"matched_uniform\", which this \
             spec does not run ({which}); allowed with uniform sampling: p, observations or sweep.p"
        ));
    }
    if let Some(t) = o.threshold {
        check_f64("operator.threshold", t, true, "a finite number")?;
    }
    let p_keys = [
        ("operator.p", o.p.is_some()),
        ("operator.observations", o.observations.is_some()),
        ("sweep.p", sw.p.is_some()),
    ];
    let given: Vec<&str> = p_keys.iter().filter(|k| k.1).map(|k| k.0).collect();
    if !uniform {
        if let Some(key) = given.first() {
            return Err(format!(
                "{key} is a parameter of sampling = \"uniform\", which this spec does not run ({which}); \
                 ReLU sampling observes the entries of XXᵀ above operator.threshold"
            ));
        }
        return Ok(());
    }
    if sw.p.is_some() && thresholded {
        return Err(format!(
            "sweep.p varies uniform sampling's p, but {which} also runs ReLU-type sampling, whose p is the \
             fraction it observes (its runs would be split by a p they do not have); allowed: sweep.p with \
             uniform sampling only (compare samplings in a spec of their own, with operator.p)"
        ));
    }
    if sw.p.is_none() && given.len() > 1 {
        return Err("operator.p and operator.observations are both set; give one of them".into());
    }
    if sw.p.is_some() && o.observations.is_some() {
        return Err(
            "sweep.p and operator.observations are both set; give the sampling rates as sweep.p only"
                .into(),
        );
    }
    nonempty("sweep.p", &sw.p)?;
    distinct("sweep.p", &sw.p)?;
    let pairs = spec.problem.n * (spec.problem.n + 1) / 2;
    match (&sw.p, o.p, o.observations) {
        (Some(ps), _, _) => {
            for &p in ps {
                check_f64("sweep.p", p, p > 0.0 && p <= 1.0, "0 < p ≤ 1")?;
            }
        }
        (None, None, None) => return Err(format!("operator.p is missing; uniform sampling ({which}) needs p with 0 < p ≤ 1 (or observations, the expected number of observed pairs, or sweep.p)")),
        (None, Some(p), _) => check_f64("operator.p", p, p > 0.0 && p <= 1.0, "0 < p ≤ 1")?,
        (None, None, Some(k)) if k == 0 || k > pairs => {
            return Err(format!(
                "operator.observations = {k} is out of range; allowed: 1 ≤ observations ≤ n(n+1)/2 = {pairs}"
            ))
        }
        (None, None, Some(_)) => {}
    }
    if let Some(p) = o.p {
        check_f64("operator.p", p, p > 0.0 && p <= 1.0, "0 < p ≤ 1")?;
    }
    Ok(())
}

/// The algorithms the spec runs, and their parameters: λ only with scaled_gd, c only with precgd,
/// each required by its algorithm and in its range.
fn check_algorithms(spec: &Spec) -> Result<(), String> {
    nonempty("sweep.algorithm", &spec.sweep.algorithm)?;
    let table = spec.algorithm.clone().unwrap_or_default();
    let kinds: Vec<AlgorithmKind> = spec
        .sweep
        .algorithm
        .clone()
        .unwrap_or_else(|| vec![table.kind]);
    let runs = |k: AlgorithmKind| kinds.contains(&k);
    let which = if spec.sweep.algorithm.is_some() {
        format!(
            "sweep.algorithm = [{}]",
            kinds
                .iter()
                .map(|k| format!("\"{}\"", k.label()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        format!("algorithm.kind = \"{}\"", table.kind.label())
    };
    let params = [
        ("lambda", table.lambda, AlgorithmKind::ScaledGd, "λ ≥ 0"),
        ("c", table.c, AlgorithmKind::Precgd, "c > 0"),
    ];
    for (key, value, owner, range) in params {
        match value {
            Some(v) if !runs(owner) => {
                return Err(format!(
                    "algorithm.{key} = {v} is a parameter of {}, which this spec does not run ({which}); \
                     allowed: remove it, or run {} (algorithm.kind or sweep.algorithm)",
                    owner.label(),
                    owner.label()
                ))
            }
            None if runs(owner) => {
                return Err(format!(
                    "algorithm.{key} is missing; {} ({which}) needs {key} = {range}{}",
                    owner.label(),
                    if owner == AlgorithmKind::ScaledGd {
                        " (Xu et al. take λ of the order of σ_min(XXᵀ) = σ_r(X)²; λ = 0 is the original \
                         ScaledGD, valid while UᵀU stays invertible)"
                    } else {
                        " (λ_t = c·‖𝒜(U_tU_tᵀ) − y‖)"
                    }
                ))
            }
            _ => {}
        }
    }
    if let Some(lambda) = table.lambda {
        Algorithm::scaled_gd(lambda).map_err(|e| format!("algorithm.{e}"))?;
    }
    if let Some(c) = table.c {
        Algorithm::precgd(c).map_err(|e| format!("algorithm.{e}"))?;
    }
    Ok(())
}

/// Largest n a spec may ask for: n(n+1)/2 and n² then fit in 64 bits with room to spare (the
/// memory check refuses far smaller n on any real machine).
pub const MAX_N: usize = 1 << 30;

/// Most runs a spec may describe (replicates × the product of the sweep lists' lengths).
pub const MAX_RUNS: usize = 100_000;

/// Refuses a sweep list that repeats a value (its runs would be counted twice in every median).
fn distinct<T: PartialEq + Serialize>(key: &str, v: &Option<Vec<T>>) -> Result<(), String> {
    // As a spec writes them: "small_random", 0.1.
    let written = |x: &T| serde_json::to_string(x).unwrap_or_default();
    for (i, a) in v.iter().flatten().enumerate() {
        if let Some(b) = v.iter().flatten().take(i).find(|b| *b == a) {
            let (a, b) = (written(a), written(b));
            return Err(if a == b {
                format!("{key} lists {a} twice; allowed: distinct values")
            } else {
                format!("{key} lists {b} and {a}, which are equal; allowed: distinct values")
            });
        }
    }
    Ok(())
}

/// The name of a plot kind as a spec writes it (`kind = "…"`).
fn kind_name(kind: PlotKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Lengths of the sweep lists that are set, as (key, length).
fn sweep_lengths(sw: &SweepSpec) -> Vec<(&'static str, usize)> {
    [
        ("alpha", sw.alpha.as_ref().map(Vec::len)),
        ("r_prime", sw.r_prime.as_ref().map(Vec::len)),
        ("m", sw.m.as_ref().map(Vec::len)),
        ("kappa", sw.kappa.as_ref().map(Vec::len)),
        ("step_size", sw.step_size.as_ref().map(Vec::len)),
        ("init", sw.init.as_ref().map(Vec::len)),
        ("algorithm", sw.algorithm.as_ref().map(Vec::len)),
        ("sigma", sw.sigma.as_ref().map(Vec::len)),
        ("p", sw.p.as_ref().map(Vec::len)),
        ("sampling", sw.sampling.as_ref().map(Vec::len)),
    ]
    .into_iter()
    .filter_map(|(k, n)| Some((k, n?)))
    .collect()
}

/// The number of runs of a spec, computed without expanding the sweep (`None` on overflow).
fn run_count(spec: &Spec) -> Option<usize> {
    sweep_lengths(&spec.sweep)
        .iter()
        .try_fold(spec.seeds.replicates, |acc, &(_, n)| acc.checked_mul(n))
}

/// error_vs_parameter draws the final error of each run against `x`, one curve per `group`
/// value, as medians over the other runs: x must be a numeric swept parameter, group another
/// swept one, and no other parameter may vary (its runs would be pooled into one median).
fn check_error_vs_parameter(spec: &Spec, x: Parameter) -> Result<(), String> {
    let plot = &spec.plot;
    let swept: Vec<&str> = sweep_lengths(&spec.sweep)
        .into_iter()
        .filter(|&(_, n)| n >= 2)
        .map(|(k, _)| k)
        .collect();
    let allowed = if swept.is_empty() {
        "none: sweep a parameter first".to_string()
    } else {
        swept.join(", ")
    };
    if !x.is_numeric() {
        let numeric: Vec<&str> = swept
            .iter()
            .copied()
            .filter(|&k| k != "init" && k != "algorithm" && k != "sampling")
            .collect();
        return Err(format!(
            "plot.x = \"{}\" is not a number; allowed: a swept numeric parameter ({})",
            x.column(),
            if numeric.is_empty() {
                "none is swept".to_string()
            } else {
                numeric.join(", ")
            }
        ));
    }
    if !swept.contains(&x.column()) {
        return Err(format!(
            "plot.x = \"{}\" is not swept (needs sweep.{} with at least two values); allowed: {allowed}",
            x.column(),
            x.column()
        ));
    }
    if let Some(g) = plot.group {
        if g == x {
            return Err(format!(
                "plot.group = \"{}\" is also plot.x; allowed: another swept parameter ({allowed})",
                g.column()
            ));
        }
        if !swept.contains(&g.column()) {
            return Err(format!(
                "plot.group = \"{}\" is not swept (needs sweep.{} with at least two values); allowed: {allowed}",
                g.column(),
                g.column()
            ));
        }
    }
    if let Some(other) = swept
        .iter()
        .find(|&&k| k != x.column() && plot.group.is_none_or(|g| g.column() != k))
    {
        return Err(format!(
            "sweep.{other} varies but is neither plot.x nor plot.group: its runs would be pooled into \
             one median; set plot.group = \"{other}\" or sweep one value"
        ));
    }
    Ok(())
}

/// The parameters a spec sweeps over at least two values.
pub fn swept_parameters(spec: &Spec) -> Vec<Parameter> {
    sweep_lengths(&spec.sweep)
        .into_iter()
        .filter(|&(_, n)| n >= 2)
        .filter_map(|(k, _)| Parameter::ALL.into_iter().find(|p| p.column() == k))
        .collect()
}

/// The figures with a parameter on x draw it on a log axis, where σ = 0 (the only swept value
/// that can be ≤ 0) would be left out without a word.
fn check_log_x(spec: &Spec) -> Result<(), String> {
    if spec.plot.x == Some(Parameter::Sigma) {
        if let Some(zero) = spec.sweep.sigma.iter().flatten().find(|&&s| s <= 0.0) {
            return Err(format!(
                "sweep.sigma has {zero}, but plot.x = \"sigma\" is drawn on a log axis, where it \
                 cannot be; allowed: σ > 0 in the sweep (the noiseless runs can be a group, e.g. \
                 group = \"sigma\" with x another parameter, or a spec of their own)"
            ));
        }
    }
    Ok(())
}

/// For the figures with one panel per combination of the other swept parameters: `x` (unless
/// `no_x`) is a numeric swept parameter, `group` (optional) another swept one.
fn check_x_and_group(spec: &Spec, no_x: bool) -> Result<(), String> {
    let plot = &spec.plot;
    let swept = swept_parameters(spec);
    let names = |ps: &[Parameter]| {
        if ps.is_empty() {
            "none is swept".to_string()
        } else {
            ps.iter().map(|p| p.column()).collect::<Vec<_>>().join(", ")
        }
    };
    let kind = match plot.kind {
        PlotKind::SuccessRate => "success_rate",
        _ if no_x => "trajectory_comparison",
        _ => "iterations_to_error",
    };
    if !no_x {
        let numeric: Vec<Parameter> = swept.iter().copied().filter(|p| p.is_numeric()).collect();
        match plot.x {
            None => {
                return Err(format!(
                    "plot.x is missing; {kind} needs x = a swept numeric parameter ({})",
                    names(&numeric)
                ))
            }
            Some(x) if !numeric.contains(&x) => {
                return Err(format!(
                    "plot.x = \"{}\" is not a swept numeric parameter (needs sweep.{} with at least two numbers); allowed: {}",
                    x.column(),
                    x.column(),
                    names(&numeric)
                ))
            }
            _ => {}
        }
    }
    if let Some(g) = plot.group {
        if Some(g) == plot.x || !swept.contains(&g) {
            return Err(format!(
                "plot.group = \"{}\" is not another swept parameter (needs sweep.{} with at least two values); allowed: {}",
                g.column(),
                g.column(),
                names(&swept.iter().copied().filter(|&p| Some(p) != plot.x).collect::<Vec<_>>())
            ));
        }
    }
    Ok(())
}

/// Bytes one logged value costs until the CSVs are written: 8 in the run's result and up to ~48
/// as a `run,t,quantity,value` line of trajectories.csv, built in memory.
pub const TRAJECTORY_VALUE_BYTES: u128 = 56;

/// Memory for the logged trajectories of `runs` runs: (bytes, logged iterations per run,
/// quantities per run), with iterations/log_every + 2 rows (t = 0, every log_every, the last)
/// and at most 8 + (r + 2) + 5 quantities (the diagnostics, σ_1..σ_{r+2}(U), spectral ones).
pub fn trajectory_bytes(spec: &Spec, runs: usize) -> (u128, usize, usize) {
    let rows = spec.gd.iterations / spec.gd.log_every + 2;
    let quantities = quantity::max_per_run(spec.problem.r, spec.diagnostics.spectral);
    let bytes = (runs as u128)
        .saturating_mul(rows as u128)
        .saturating_mul(quantities as u128)
        .saturating_mul(TRAJECTORY_VALUE_BYTES);
    (bytes, rows, quantities)
}

/// "1.50 GiB"-style size.
pub fn human_bytes(b: u128) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.2} {}", units[u])
}
