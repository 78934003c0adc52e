//! # theory-checks
//!
//! Puts numbers next to the predictions of Stöger & Soltanolkotabi (2021). Every check runs its own
//! seeded experiments through the same solver (`lowrank-core`) and sweep machinery
//! (`experiments::sweep`, `experiments::run`) as the figures — specs are built as values
//! ([`experiments::spec::Spec`]) and validated like any spec file — and reports the quantity, what the theory says, what was
//! measured, the tolerance and a verdict. Nothing is cached: every number in a report is measured
//! by the run that writes it.
//!
//! Verdicts: PASS / FAIL for predictions under test; INFO for context that is not a prediction
//! (e.g. whether an operator satisfies the theorem's RIP assumption).

pub mod checks;
pub mod report;

use std::path::Path;

use experiments::run::{execute, RunResult};
use experiments::spec::{
    check, AlgorithmSpec, DiagnosticsSpec, GdSpec, InitKind, InitSpec, PlotSpec, ProblemSpec,
    SeedSpec, Spec, SweepSpec,
};
use experiments::sweep::{expand, RunPoint};
use experiments::Silent;
use serde::Serialize;

pub use report::{judge, Check, Comparison, Relation, Report, Row, Verdict, BORDERLINE_MARGIN};

/// Sizes of the experiments behind the checks.
#[derive(Debug, Clone, Serialize)]
pub struct Scale {
    /// "full" (make theory) or "reduced" (cargo test).
    pub name: &'static str,
    /// n.
    pub n: usize,
    /// r.
    pub r: usize,
    /// Base number of measurements (10·n·r).
    pub m: usize,
    /// Numbers of measurements for the exponent check: multiples of n·r, then one above n(n+1)/2.
    pub m_list: Vec<usize>,
    /// α grid of the scaling checks.
    pub alphas: Vec<f64>,
    /// Replicates per grid point.
    pub replicates: usize,
    /// Replicates for the near-exact-parameterization check.
    pub near_exact_replicates: usize,
    /// GD iterations of the α sweeps.
    pub iterations: usize,
    /// GD iterations of the κ sweep (κ = 4 is slow: the time scale is 1/(μσ_min²) = 16/μ).
    pub kappa_iterations: usize,
    /// Condition numbers of the alignment check.
    pub kappas: Vec<f64>,
    /// Widths r' of the overparameterization check (2r … 2n).
    pub widths: Vec<usize>,
    /// The small instance of check 2 that is inside the theorem's RIP regime.
    pub in_regime: InRegime,
    /// Base seed.
    pub seed: u64,
    /// The instance and budgets of check 6 (GD vs ScaledGD(λ) vs PrecGD).
    pub preconditioned: Preconditioned,
    /// The instance, noise levels and budget of check 7 (noisy sensing).
    pub noise: Noise,
}

/// Sizes of check 7: Gaussian sensing with noise ε_i ~ N(0, σ²/m), r' ∈ {r, n}.
#[derive(Debug, Clone, Serialize)]
pub struct Noise {
    /// n.
    pub n: usize,
    /// r.
    pub r: usize,
    /// m.
    pub m: usize,
    /// Noise levels σ.
    pub sigmas: Vec<f64>,
    /// Iteration budget T (the budgets compared are T/4, T/2 and T).
    pub iterations: usize,
}

/// Sizes of check 6: the κ sweep and the tails at r' = r and r' = 2r.
#[derive(Debug, Clone, Serialize)]
pub struct Preconditioned {
    /// n.
    pub n: usize,
    /// r.
    pub r: usize,
    /// m.
    pub m: usize,
    /// Condition numbers of the κ sweep.
    pub kappas: Vec<f64>,
    /// Iteration budget of the κ sweep (GD at the largest κ must reach the target within it).
    pub kappa_iterations: usize,
    /// Iterations of the tail runs.
    pub tail_iterations: usize,
}

/// A small well-conditioned instance (κ = 1) with m ≫ n(n+1)/2, so that δ_{2r+1} is small.
#[derive(Debug, Clone, Serialize)]
pub struct InRegime {
    /// n.
    pub n: usize,
    /// r.
    pub r: usize,
    /// m.
    pub m: usize,
}

impl Scale {
    /// The sizes of `make theory` (n = 100, r = 3 as in the figures).
    pub fn full() -> Self {
        Self {
            name: "full",
            n: 100,
            r: 3,
            m: 3000,
            m_list: vec![1500, 3000, 4500, 6000],
            alphas: vec![1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9],
            replicates: 3,
            near_exact_replicates: 20,
            iterations: 1000,
            kappa_iterations: 1600,
            kappas: vec![1.0, 2.0, 4.0],
            widths: vec![6, 12, 50, 100, 200],
            in_regime: InRegime {
                n: 10,
                r: 1,
                m: 50_000,
            },
            seed: 2021,
            preconditioned: Preconditioned {
                n: 40,
                r: 3,
                m: 600,
                kappas: vec![1.0, 2.0, 5.0, 10.0, 20.0],
                kappa_iterations: 40_000,
                tail_iterations: 20_000,
            },
            noise: Noise {
                n: 50,
                r: 2,
                m: 500,
                sigmas: vec![1e-4, 1e-3, 1e-2, 1e-1],
                iterations: 20_000,
            },
        }
    }

    /// Reduced sizes for `cargo test -p theory-checks` (under a minute).
    pub fn reduced() -> Self {
        Self {
            name: "reduced",
            n: 40,
            r: 2,
            m: 800,
            m_list: vec![400, 800, 1000],
            alphas: vec![1e-2, 1e-4, 1e-6, 1e-8],
            replicates: 2,
            near_exact_replicates: 8,
            iterations: 800,
            kappa_iterations: 1200,
            kappas: vec![1.0, 2.0, 4.0],
            widths: vec![4, 8, 20, 40, 80],
            in_regime: InRegime {
                n: 8,
                r: 1,
                m: 10_000,
            },
            seed: 2021,
            preconditioned: Preconditioned {
                n: 20,
                r: 2,
                m: 200,
                kappas: vec![1.0, 3.0, 9.0],
                kappa_iterations: 12_000,
                tail_iterations: 6_000,
            },
            noise: Noise {
                n: 20,
                r: 2,
                m: 200,
                sigmas: vec![1e-3, 1e-2, 1e-1],
                iterations: 4_000,
            },
        }
    }
}

/// The parts of a spec a check varies; everything else comes from the [`Scale`].
#[derive(Debug, Clone)]
pub struct Experiment {
    /// Name (used as the spec file name in messages).
    pub name: String,
    /// n (the scale's unless a check needs another instance size).
    pub n: usize,
    /// r.
    pub r: usize,
    /// m.
    pub m: usize,
    /// κ.
    pub kappa: f64,
    /// r'.
    pub r_prime: usize,
    /// α.
    pub alpha: f64,
    /// Iterations.
    pub iterations: usize,
    /// Logging period.
    pub log_every: usize,
    /// End each run at its first logged test error ≤ this.
    pub stop_below_test_error: Option<f64>,
    /// Replicates.
    pub replicates: usize,
    /// Replicates share X and 𝒜.
    pub share_instance: bool,
    /// Record the power-method comparison.
    pub spectral: bool,
    /// The swept parameters (`[sweep]`).
    pub sweep: SweepSpec,
    /// The algorithm table (None: GD).
    pub algorithm: Option<AlgorithmSpec>,
    /// Seed.
    pub seed: u64,
}

impl Experiment {
    /// Defaults from the scale: m, κ = 2, r' = 10·r/3 rounded up, α = 1e-6, μ = 0.25.
    pub fn new(name: &str, scale: &Scale) -> Self {
        Self {
            name: name.to_string(),
            n: scale.n,
            r: scale.r,
            m: scale.m,
            kappa: 2.0,
            r_prime: (10 * scale.r).div_ceil(3),
            alpha: 1e-6,
            iterations: scale.iterations,
            log_every: 2,
            stop_below_test_error: None,
            replicates: scale.replicates,
            share_instance: false,
            spectral: false,
            sweep: SweepSpec::default(),
            algorithm: None,
            seed: scale.seed,
        }
    }

    /// The spec, as a value (validated by [`Experiment::points`] like any spec file).
    pub fn spec(&self) -> Spec {
        Spec {
            title: format!("theory check {}", self.name),
            caption: "generated by theory-checks".into(),
            problem: ProblemSpec {
                n: self.n,
                r: self.r,
                m: Some(self.m),
                kappa: Some(self.kappa),
                singular_values: None,
                truth: Default::default(),
            },
            operator: None,
            noise: None,
            init: InitSpec {
                alpha: self.alpha,
                r_prime: self.r_prime,
                kind: InitKind::SmallRandom,
            },
            gd: GdSpec {
                step_size: 0.25,
                iterations: self.iterations,
                log_every: self.log_every,
                stop_below_test_error: self.stop_below_test_error,
            },
            algorithm: self.algorithm.clone(),
            seeds: SeedSpec {
                seed: self.seed,
                replicates: self.replicates,
                share_instance: self.share_instance,
            },
            sweep: self.sweep.clone(),
            diagnostics: DiagnosticsSpec {
                spectral: self.spectral,
                ..DiagnosticsSpec::default()
            },
            plot: PlotSpec::test_error_trajectories(),
        }
    }

    /// Validates the spec and expands its sweep into run points (nothing is run).
    pub fn points(&self) -> Vec<RunPoint> {
        let path = format!("theory/{}.toml", self.name);
        let config = check(Path::new(&path), self.name.clone(), self.spec(), false)
            .unwrap_or_else(|e| panic!("theory-checks built an invalid spec: {e}"));
        expand(&config)
    }

    /// Validates the spec, expands the sweep and runs it (no cache).
    pub fn run(&self) -> Vec<(RunPoint, RunResult)> {
        let points = self.points();
        let (results, _) = execute(&points, None, &Silent, experiments::resources())
            .expect("no files are touched without a cache");
        points.into_iter().zip(results).collect()
    }
}

/// Runs every check at `scale`, calling `done` after each one (e.g. to report progress).
pub fn run_all(scale: &Scale, done: &dyn Fn(&Check)) -> Report {
    let start = std::time::Instant::now();
    let all: [fn(&Scale) -> Check; 7] = [
        checks::alignment,
        checks::error_exponent,
        checks::iteration_counts,
        checks::overparameterization,
        checks::operator,
        checks::preconditioned,
        checks::noise,
    ];
    let checks = all
        .iter()
        .map(|check| {
            let c = check(scale);
            done(&c);
            c
        })
        .collect();
    Report::new(scale.clone(), checks, start.elapsed().as_secs_f64())
}
