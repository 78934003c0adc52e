//! Executing the runs of a sweep, with a per-run cache.
//!
//! Runs that share an instance (same X, 𝒜) are executed one after another on one [`Problem`], built
//! once. Each finished run is stored as `<cache>/<key>.json`, where the key hashes everything that
//! determines the run's numbers ([`RunPoint`] minus its grid position, plus [`CACHE_VERSION`]).
//! A later execution with the same key reads the file instead of recomputing it; an interrupted
//! sweep therefore resumes where it stopped, and changing one spec value recomputes only the runs
//! whose key changed.

use std::path::Path;

use lowrank_core::seeds::{rng, Stream};
use lowrank_core::{
    run_gradient_descent, small_random_init, spectral_init, Control, Diagnostics,
    DiagnosticsRecorder, GdParams, GroundTruth, IterationState, MeasurementOperator, Problem,
    RunStatus, SingularValues,
};
use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;
use crate::spec::{InitKind, QUANTITIES};
use crate::sweep::RunPoint;

/// Bumped whenever a change alters the numbers a run produces, so old cache entries are not reused.
pub const CACHE_VERSION: u32 = 1;

/// The trajectory and outcome of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Cache key of the run (hex).
    pub key: String,
    /// "completed" or "diverged" (or "stopped").
    pub status: String,
    /// First iteration at which the run diverged.
    pub diverged_at: Option<usize>,
    /// Quantity names, the columns of `values`.
    pub quantities: Vec<String>,
    /// Logged iterations.
    pub t: Vec<usize>,
    /// values[k][j] = quantity j at iteration t[k].
    pub values: Vec<Vec<f64>>,
}

impl RunResult {
    /// The column of quantity `name`, if recorded.
    pub fn series(&self, name: &str) -> Option<Vec<f64>> {
        let j = self.quantities.iter().position(|q| q == name)?;
        Some(self.values.iter().map(|row| row[j]).collect())
    }
}

/// Number of singular values of U recorded (σ_1(U)..σ_k(U)): the r signal ones and two more.
pub fn n_top_singular_values(point: &RunPoint) -> usize {
    point.r_prime.min(point.r + 2)
}

/// Flattens diagnostics into (names, values) in the order of [`QUANTITIES`], then sigma_u_k.
pub fn diagnostics_row(d: &Diagnostics) -> Vec<f64> {
    let mut v = vec![
        d.loss,
        d.test_error,
        d.train_error,
        d.sigma_min_vx_u,
        d.sigma_min_signal,
        d.noise_norm,
        d.sin_theta,
        d.u_norm,
    ];
    v.extend(&d.top_singular_values);
    v
}

fn quantity_names(n_top: usize) -> Vec<String> {
    QUANTITIES
        .iter()
        .map(|s| s.to_string())
        .chain((1..=n_top).map(|k| format!("sigma_u_{k}")))
        .collect()
}

/// FNV-1a 64-bit hash (stable across platforms and Rust versions, unlike `DefaultHasher`).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The cache key of a run: a hash of its determining fields (not its grid position) and [`CACHE_VERSION`].
pub fn cache_key(point: &RunPoint) -> String {
    let mut p = point.clone();
    p.index = 0;
    let text = format!(
        "v{CACHE_VERSION}:{}",
        serde_json::to_string(&p).expect("RunPoint serializes")
    );
    format!("{:016x}", fnv1a64(text.as_bytes()))
}

/// Builds the instance of a point: X from `truth_seed`, 𝒜 from `operator_seed`.
pub fn build_problem(point: &RunPoint) -> Problem {
    let truth = GroundTruth::sample(
        point.n,
        point.r,
        &SingularValues::Explicit(point.singular_values.clone()),
        point.truth_seed,
    );
    let operator = MeasurementOperator::sample_gaussian(
        point.n,
        point.m,
        &mut rng(point.operator_seed, Stream::Operator),
    );
    Problem::new(truth, operator)
}

/// U_0 of a point.
pub fn initial_iterate(point: &RunPoint, problem: &Problem) -> ndarray::Array2<f64> {
    match point.init {
        InitKind::SmallRandom => {
            small_random_init(point.n, point.r_prime, point.alpha, point.init_seed)
        }
        InitKind::Spectral => spectral_init(problem, point.r_prime, point.alpha, point.init_seed)
            .unwrap_or_else(|_| {
                small_random_init(point.n, point.r_prime, point.alpha, point.init_seed)
            }),
    }
}

/// Runs one point on its (already built) problem, calling `on_iteration(t)` at logged iterations.
pub fn run_point(
    point: &RunPoint,
    problem: &Problem,
    on_iteration: &mut dyn FnMut(usize),
) -> RunResult {
    let y_norm = problem.y.dot(&problem.y).sqrt();
    let n_top = n_top_singular_values(point);
    let recorder = DiagnosticsRecorder::new(&problem.truth, y_norm, n_top);
    let tick = |s: &IterationState<'_>| {
        on_iteration(s.t);
        Control::Continue
    };
    let params = GdParams::new(point.step_size, point.iterations, point.log_every);
    let u0 = initial_iterate(point, problem);
    let mut observers = (recorder, tick);
    let outcome = run_gradient_descent(problem, &params, u0, &mut observers);
    let recorder = observers.0;
    let (status, diverged_at) = match outcome.status {
        RunStatus::Diverged { at } => ("diverged", Some(at)),
        s => (s.label(), None),
    };
    RunResult {
        key: cache_key(point),
        status: status.to_string(),
        diverged_at,
        quantities: quantity_names(n_top),
        t: recorder.records.iter().map(|d| d.t).collect(),
        values: recorder.records.iter().map(diagnostics_row).collect(),
    }
}

/// Receives progress events of [`execute`].
pub trait Progress {
    /// A run starts computing (not called for cached runs).
    fn run_started(&self, _point: &RunPoint) {}
    /// A logged iteration of the current run.
    fn iteration(&self, _t: usize) {}
    /// A run is done (`cached`: read from the cache).
    fn run_finished(&self, _point: &RunPoint, _result: &RunResult, _cached: bool) {}
}

/// Reports nothing.
pub struct Silent;
impl Progress for Silent {}

/// How many runs were read from the cache and how many computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    /// Runs read from the cache.
    pub hits: usize,
    /// Runs computed.
    pub computed: usize,
}

/// Runs every point (reusing cached runs from `cache_dir` and storing new ones there, if given).
pub fn execute(
    points: &[RunPoint],
    cache_dir: Option<&Path>,
    progress: &dyn Progress,
) -> std::io::Result<(Vec<RunResult>, CacheStats)> {
    if let Some(dir) = cache_dir {
        std::fs::create_dir_all(dir)?;
    }
    let mut results = Vec::with_capacity(points.len());
    let mut stats = CacheStats::default();
    let mut problem: Option<(_, Problem)> = None;
    for point in points {
        let key = cache_key(point);
        let cached = cache_dir.and_then(|d| read_cached(&d.join(format!("{key}.json")), &key));
        let result = match cached {
            Some(r) => {
                stats.hits += 1;
                progress.run_finished(point, &r, true);
                r
            }
            None => {
                let ik = point.instance_key();
                if problem.as_ref().is_none_or(|(k, _)| *k != ik) {
                    drop(problem.take()); // free the previous operator before sampling the next
                    problem = Some((ik, build_problem(point)));
                }
                let (_, prob) = problem.as_ref().expect("built above");
                progress.run_started(point);
                let r = run_point(point, prob, &mut |t| progress.iteration(t));
                if let Some(dir) = cache_dir {
                    let json = serde_json::to_vec(&r).expect("RunResult serializes");
                    write_atomic(&dir.join(format!("{key}.json")), &json)?;
                }
                stats.computed += 1;
                progress.run_finished(point, &r, false);
                r
            }
        };
        results.push(result);
    }
    Ok((results, stats))
}

/// A cache entry, if it exists, parses, and carries the expected key (anything else is recomputed).
fn read_cached(path: &Path, key: &str) -> Option<RunResult> {
    let bytes = std::fs::read(path).ok()?;
    let r: RunResult = serde_json::from_slice(&bytes).ok()?;
    (r.key == key).then_some(r)
}
