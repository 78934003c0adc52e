//! Executing the runs of a sweep, with a per-run cache.
//!
//! Runs that share a measurement operator 𝒜 are executed in lockstep batches on it, built once:
//! for Gaussian sensing every run with the same (n, m, operator seed), whatever its X or σ (each
//! instance with its own y on the shared 𝒜); for matrix completion the runs of one instance (Ω
//! may depend on X). Operators are processed by the workers of [`Parallelism`] (one, today).
//!
//! The batches are fixed by the points alone ([`plan_batches`]): the runs of one operator, in the
//! order of the points, cut into pieces of at most [`MAX_BATCH`]. A run's bits depend on its batch
//! in one way only: a batch of one run uses the single-run kernel, a batch of two or more the batch
//! kernel throughout (`lowrank_core::operator::batch_kernel`, each run's entries one chain of
//! fused multiply-adds of its own), and the two round differently. Which other runs share the
//! batch, on which instances, and when they stop does not change a bit (tested in the core). So
//! each finished run is stored as one `<cache>/<key>.json`, where the key ([`batch_cache_keys`])
//! hashes its [`RunPoint`] minus its grid position, that kernel class, and [`CACHE_VERSION`]: the
//! same run in another batch of two or more, of this spec or another one, is the same entry, and
//! is computed once (error_vs_alpha_m's runs at m = 3000 are error_vs_alpha's at r' = 6). The runs
//! of a batch found in the cache are read and the others computed, with the batch's kernel, so the
//! numbers of a spec never depend on what the cache held before. An interrupted sweep resumes at
//! the first unfinished batch, and changing a spec value recomputes the runs it touches.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lowrank_core::descent::run_buffer_bytes;
use lowrank_core::operator::CompletionOperator;
use lowrank_core::operator::DensePass;
use lowrank_core::operator_bytes;
use lowrank_core::seeds::{rng, Stream};
use lowrank_core::{
    run_gradient_descent_shared_operator_from, small_random_init, spectral_init, BatchRun,
    BatchState, Checkpointer, Control, DiagnosticsCalculator, GroundTruth, IterationState,
    Observer, PackedOperator, PassKernel, Problem, RunParams, RunStatus, SingularValues,
    SpectralComparison,
};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, SharedRecorded, TimedCheckpointer};
use crate::fsutil::write_atomic;
use crate::quantity::{self, Named};
use crate::spec::{
    human_bytes, trajectory_bytes, Config, InitKind, OperatorModel, TruthKind,
    TRAJECTORY_VALUE_BYTES,
};
use crate::sweep::{OperatorKey, RunPoint};

/// Bumped whenever a change alters the numbers a run produces, so old cache entries are not reused.
///
/// 11 (2026-12-06, eighth session): the loss ¼‖r‖², the train error ‖r‖/‖y‖ and ‖y‖ are summed
/// by `linalg::sum_of_squares` in a fixed order, not by BLAS's ddot, whose order depends on
/// OpenBLAS's thread count above 10000 entries. The command line and the Python module run BLAS
/// on one thread ([`Parallelism::POLICY`]), so their numbers did not move with it; a caller of the
/// core that leaves OpenBLAS at its default did see them move for m > 10000. Every run's loss and
/// train error move in their last bits, and PrecGD's whole trajectory (its damping is ∝ ‖r‖).
///
/// 10 (2026-12-06): a cache key is per run (its point and kernel class), no longer over its whole
/// batch, and a batch of two or more keeps the batch kernel when one run is left (it switched to
/// the single-run kernel before, which moved that run's last bits).
///
/// 9 (2026-12-05): batches of two or more runs use the hand-written batch kernel (every entry one
/// chain of fused multiply-adds in index order) instead of faer's products: every batched run's
/// last bits move (single runs are unchanged).
///
/// 8 (2026-12-04): batches whose p×a adjoint exceeds 2 MiB (n = 100 with more than 51 runs, n = 200
/// with more than 13) use 32-row blocks instead of 256, which moves their last bits; no spec in
/// experiments/ has such a batch (its CSVs were byte-identical apart from the key column).
pub const CACHE_VERSION: u32 = 11;

/// Bumped whenever the spectral diagnostics change; only runs with `spectral = true` are recomputed.
///
/// 4 (2026-12-06): the power iterate is rescaled by powers of two, so its quantities (and the angles
/// of U_t) no longer turn NaN once it passes ~1e154; every value that was finite is bit-identical.
pub const SPECTRAL_VERSION: u32 = 4;

/// Status of a run that ended at its first logged t with test error ≤ `gd.stop_below_test_error`.
pub const REACHED_TARGET: &str = "reached_target";

/// The trajectory and outcome of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Cache key of the run (hex).
    pub key: String,
    /// "completed", "diverged", "stopped", "singular_preconditioner" or [`REACHED_TARGET`].
    pub status: String,
    /// First iteration at which the run diverged.
    pub diverged_at: Option<usize>,
    /// Quantity names, the columns of `values`.
    pub quantities: Vec<String>,
    /// Logged iterations.
    pub t: Vec<usize>,
    /// `values[k][j]` = quantity j at iteration `t[k]` (NaN where undefined; stored exactly, see
    /// [`crate::exact`]).
    #[serde(with = "crate::exact::rows")]
    pub values: Vec<Vec<f64>>,
    /// Wall time spent computing this run (its batch's time divided by the batch size), seconds.
    /// Not part of the CSVs (which stay bit-identical); summed into the manifest.
    #[serde(default)]
    pub seconds: f64,
    /// Matrix completion only: the instance's number of observed entries |Ω| and the incoherence
    /// μ(X) = (n/r)·max_i ‖V_Xᵀe_i‖² of its X (absent for Gaussian sensing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<CompletionInstance>,
    /// With spectral diagnostics: the instance's ‖𝒜*(y) − XXᵀ‖/σ_r(X)² and sin∠(L, col X) (see
    /// `lowrank_core::diagnostics::SpectralRegime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spectral_regime: Option<SpectralRegimeRecord>,
    /// A Gaussian-factor X only: its singular values as drawn, descending (the point has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth_singular_values: Option<Vec<f64>>,
    /// The machine that computed the run: "hostname (CPU model)" ([`crate::manifest::Machine`]).
    /// Machines of different CPU types may differ in the last bits (SIMD kernels); manifests list
    /// which runs each machine computed. Empty in entries written before it was recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub computed_on: String,
    /// Threads of the rayon pool that computed the run's batch: `seconds` is time on that many
    /// cores (`run --jobs J` gives each of its processes 1/J of them). 0 in entries written before it
    /// was recorded.
    #[serde(default, skip_serializing_if = "no_threads")]
    pub threads: usize,
    /// In a cache entry: SHA-256 (hex) of the entry's JSON with this field empty ([`seal`]);
    /// empty in memory.
    #[serde(default)]
    pub checksum: String,
}

fn no_threads(threads: &usize) -> bool {
    *threads == 0
}

/// SHA-256 (hex) of `r`'s JSON with its checksum field empty. serde_json writes every f64 in its
/// shortest round-trip form, so an entry read back and written again has the same JSON.
fn content_checksum(r: &RunResult) -> String {
    use sha2::{Digest, Sha256};
    let mut unsealed = r.clone();
    unsealed.checksum.clear();
    let json = serde_json::to_vec(&unsealed).expect("RunResult serializes");
    Sha256::digest(&json)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `r` with its checksum set, as written to the cache.
pub fn seal(mut r: RunResult) -> RunResult {
    r.checksum = content_checksum(&r);
    r
}

/// What a run with spectral diagnostics records of its instance (NaN if the decomposition failed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpectralRegimeRecord {
    /// ‖𝒜*(y) − XXᵀ‖/σ_r(X)².
    #[serde(with = "crate::exact::scalar")]
    pub deviation: f64,
    /// sin∠(L, col X), L the top-r eigenspace of 𝒜*(y).
    #[serde(with = "crate::exact::scalar")]
    pub sin_l_x: f64,
}

/// What a completion run records of its instance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CompletionInstance {
    /// |Ω|.
    pub observations: usize,
    /// μ(X) = (n/r)·max_i ‖V_Xᵀe_i‖² (1 ≤ μ ≤ n/r).
    #[serde(with = "crate::exact::scalar")]
    pub incoherence: f64,
}

/// μ(X) = (n/r)·max_i ‖V_Xᵀe_i‖², the incoherence of col(X) (from the rows of V_X).
pub fn incoherence(truth: &lowrank_core::GroundTruth) -> f64 {
    let (n, r) = (truth.n() as f64, truth.r() as f64);
    let max_row = truth
        .v_x
        .rows()
        .into_iter()
        .map(|row| row.dot(&row))
        .fold(0.0, f64::max);
    n / r * max_row
}

impl RunResult {
    /// The singular values of the run's X, descending: the point's, or for a Gaussian-factor X
    /// those measured when it was drawn (empty if neither is known).
    pub fn truth_spectrum<'a>(&'a self, point: &'a RunPoint) -> &'a [f64] {
        if point.singular_values.is_empty() {
            self.truth_singular_values.as_deref().unwrap_or(&[])
        } else {
            &point.singular_values
        }
    }

    /// (κ(X), σ_min(X)) of the run's X (NaN if unknown): κ as the spec gives it
    /// ([`RunPoint::kappa`]), else σ_1/σ_r of the spectrum drawn.
    pub fn truth_kappa_and_sigma_min(&self, point: &RunPoint) -> (f64, f64) {
        match self.truth_spectrum(point) {
            [] => (f64::NAN, f64::NAN),
            s if point.kappa.is_finite() => (point.kappa, s[s.len() - 1]),
            s => (s[0] / s[s.len() - 1], s[s.len() - 1]),
        }
    }

    /// The column of quantity `name`, if recorded.
    pub fn series(&self, quantity: &(impl Named + ?Sized)) -> Option<Vec<f64>> {
        let j = self.quantities.iter().position(|q| q == quantity.name())?;
        Some(self.values.iter().map(|row| row[j]).collect())
    }
}

/// Number of singular values of U recorded (σ_1(U)..σ_k(U)): the r signal ones and two more.
pub fn n_top_singular_values(point: &RunPoint) -> usize {
    // U (n×r') has min(n, r') singular values.
    point.r_prime.min(point.r + 2).min(point.n)
}

/// The first 64 bits of the SHA-256 of `bytes` as 16 hex digits (the `sha2` crate; stable across
/// platforms and Rust versions, unlike `DefaultHasher`): cache keys and manifest stamps.
pub fn short_hash(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The determining fields of a run as text: the point without its grid position, tagged with
/// [`SPECTRAL_VERSION`] when it records the spectral diagnostics.
fn run_fingerprint(point: &RunPoint) -> String {
    let mut p = point.clone();
    p.index = 0;
    let spectral = if p.spectral {
        format!(":spectral{SPECTRAL_VERSION}")
    } else {
        String::new()
    };
    format!(
        "{spectral}:{}",
        serde_json::to_string(&p).expect("RunPoint serializes")
    )
}

/// The cache key of a run computed with `kernel`: [`short_hash`] of
/// `v{CACHE_VERSION}:{kernel}{fingerprint}`, kernel `single` or `batch` (see the module docs for
/// why nothing else of its batch enters).
pub fn run_cache_key(point: &RunPoint, kernel: PassKernel) -> String {
    let kernel = match kernel {
        PassKernel::SingleInput => "single",
        PassKernel::Batch => "batch",
    };
    short_hash(format!("v{CACHE_VERSION}:{kernel}{}", run_fingerprint(point)).as_bytes())
}

/// The cache keys of the runs of a batch of [`plan_batches`], in order: [`run_cache_key`] with the
/// kernel of a batch of its size ([`PassKernel::for_batch_of`]).
pub fn batch_cache_keys(batch: &[&RunPoint]) -> Vec<String> {
    let kernel = PassKernel::for_batch_of(batch.len());
    batch.iter().map(|p| run_cache_key(p, kernel)).collect()
}

/// The batches in which `points` are computed, as indices into `points`: the runs of each
/// operator ([`RunPoint::operator_key`], in order of first appearance, each in the order of
/// `points`) cut into pieces of at most [`MAX_BATCH`], the batches of one operator listed one
/// after another. Depends on the points only, never on the cache.
pub fn plan_batches(points: &[RunPoint]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: HashMap<OperatorKey, usize> = HashMap::new();
    for (i, point) in points.iter().enumerate() {
        let g = *group_of.entry(point.operator_key()).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    groups
        .into_iter()
        .flat_map(|members| {
            members
                .chunks(MAX_BATCH)
                .map(<[usize]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// An upper bound on |Ω| for a completion point: uniform sampling of the N = n(n+1)/2 pairs at
/// rate p observes at most p·N + 6·√(p(1−p)N) + 1 of them except with probability below 1e-9
/// (a binomial's tail), and never more than N; ReLU sampling is bounded by N.
pub fn most_observations(point: &RunPoint) -> usize {
    match point.operator {
        OperatorModel::UniformCompletion { p } => uniform_observation_bound(point.n, p),
        // (Gaussian sensing observes no pairs; the bound N is what this returned for it before
        // the models were listed, and no caller asks.)
        OperatorModel::ReluCompletion { .. }
        | OperatorModel::MatchedUniformCompletion { .. }
        | OperatorModel::Gaussian => point.n * (point.n + 1) / 2,
    }
}

/// The bound of [`most_observations`] for uniform sampling of the N = n(n+1)/2 pairs at rate p:
/// min(N, ⌈p·N + 6·√(p(1−p)N) + 1⌉).
pub fn uniform_observation_bound(n: usize, p: f64) -> usize {
    let pairs = n * (n + 1) / 2;
    let count = pairs as f64;
    let bound = p * count + 6.0 * (p * (1.0 - p) * count).sqrt() + 1.0;
    (bound.ceil() as usize).min(pairs)
}

/// Bytes of the operator of `point`, from the operator's own formula (completion: its peak while
/// it is built, for [`most_observations`] pairs, plus the n×n XXᵀ that sampling reads).
pub fn operator_storage_bytes(point: &RunPoint) -> u128 {
    match point.operator {
        OperatorModel::Gaussian => operator_bytes(point.n, point.m),
        OperatorModel::UniformCompletion { .. }
        | OperatorModel::ReluCompletion { .. }
        | OperatorModel::MatchedUniformCompletion { .. } => {
            let n = point.n as u128;
            CompletionOperator::build_bytes(point.n, most_observations(point)) + 8 * n * n
        }
    }
}

/// Bytes of the batched pass of `point`'s operator for k runs (the operator's own formula).
pub fn operator_pass_bytes(point: &RunPoint, k: usize) -> u128 {
    match point.operator {
        OperatorModel::Gaussian => DensePass::bytes(point.n, point.m, k),
        OperatorModel::UniformCompletion { .. }
        | OperatorModel::ReluCompletion { .. }
        | OperatorModel::MatchedUniformCompletion { .. } => {
            CompletionOperator::pass_bytes_for(most_observations(point), k)
        }
    }
}

/// Refuses a config whose largest batch would not fit in `limit` bytes. The batches are those
/// the executor will run ([`plan_batches`]), and a batch needs its operator
/// ([`operator_storage_bytes`]), its operator's pass ([`operator_pass_bytes`]), the loop's
/// per-run buffers ([`run_buffer_bytes`]) for its runs at the widest r' among them, and its
/// instances (X, V_X, XXᵀ and y: 8·(2·n·r + n² + m) bytes each).
pub fn check_memory(config: &Config, limit: u128) -> Result<(), String> {
    // Before anything is allocated: the instance of one run and the list of run points, from the
    // grid's numbers alone (a spec may ask for sizes whose expansion would not fit).
    let g = &config.grid;
    let (n, r) = (g.n as u128, g.r as u128);
    let instance = 8 * (n * n + 3 * n * r);
    let runs = crate::sweep::run_count(g) as u128;
    let point_list = runs * (std::mem::size_of::<RunPoint>() as u128 + 8 * r);
    if instance.saturating_add(point_list) > limit {
        return Err(format!(
            "problem.n = {}, r = {}: the instance needs {} (X, V_X and a Gaussian draw: 3·n·r·8, XXᵀ: n²·8) and \
             the list of {runs} runs {} (each with r singular values), but only {} may be used; reduce n, r or \
             the number of runs (or raise LOWRANK_MAX_OPERATOR_BYTES)",
            g.n,
            g.r,
            human_bytes(instance),
            human_bytes(point_list),
            human_bytes(limit)
        ));
    }
    let points = crate::sweep::expand(config);
    let need = |batch: &Vec<usize>| {
        let p = &points[batch[0]];
        let (k, rp) = (
            batch.len(),
            batch.iter().map(|&i| points[i].r_prime).max().unwrap_or(0),
        );
        let operator = operator_storage_bytes(p);
        // Each instance of the batch, and the operator group's first (it holds the operator): X,
        // V_X (n×r each), XXᵀ and y.
        let instances: std::collections::HashSet<_> =
            batch.iter().map(|&i| points[i].instance_key()).collect();
        let per_instance = 8 * (2 * n * r + n * n + p.m as u128);
        // With spectral diagnostics, each run's SpectralComparison.
        let spectral: u128 = batch
            .iter()
            .filter(|&&i| points[i].spectral)
            .map(|&i| SpectralComparison::bytes(p.n, p.r, points[i].r_prime))
            .sum();
        (
            operator
                + operator_pass_bytes(p, k)
                + run_buffer_bytes(p.n, k, rp)
                + (instances.len() as u128 + 1) * per_instance
                + spectral,
            operator,
            p.n,
            p.m,
            k,
            rp,
            p.operator.is_gaussian(),
        )
    };
    let Some((batch, operator, n, m, k, rp, gaussian)) =
        plan_batches(&points).iter().map(need).max()
    else {
        return Ok(());
    };
    let runs = points.len();
    let (trajectories, rows, quantities) = trajectory_bytes(&config.spec, runs);
    if batch.saturating_add(trajectories) > limit {
        let what = if gaussian {
            "packed operator m·n(n+1)/2·8"
        } else {
            "completion operator at its peak while built (≈ 184 bytes per observed pair, for at most its bound on |Ω|) plus the n×n XXᵀ"
        };
        return Err(format!(
            "problem.n = {n}, m = {m}: a batch needs {} ({what} = {}, plus {} of \
             buffers for {k} runs in lockstep of width up to r' = {rp}), and the logged trajectories {} \
             ({runs} runs × {rows} logged iterations × {quantities} quantities × {TRAJECTORY_VALUE_BYTES} \
             bytes, held in memory and written to trajectories.csv), but only {} may be used; reduce m \
             or n (or r' if the buffers dominate), or raise gd.log_every (or raise LOWRANK_MAX_OPERATOR_BYTES)",
            human_bytes(batch),
            human_bytes(operator),
            human_bytes(batch - operator),
            human_bytes(trajectories),
            human_bytes(limit)
        ));
    }
    Ok(())
}

/// Builds the instance of a point: X from `truth_seed`, 𝒜 (of the point's measurement model) from
/// `operator_seed`, and with σ > 0 the noise ε from the Noise stream of `operator_seed`.
pub fn build_problem(point: &RunPoint) -> Problem {
    let truth = build_truth(point);
    let mut g = rng(point.operator_seed, Stream::Operator);
    let problem = match point.operator {
        OperatorModel::Gaussian => {
            let operator = PackedOperator::sample_gaussian(point.n, point.m, &mut g);
            Problem::new(truth, operator)
        }
        OperatorModel::UniformCompletion { p } => {
            let operator = CompletionOperator::sample_uniform(point.n, p, &mut g);
            Problem::new(truth, operator)
        }
        OperatorModel::ReluCompletion { threshold } => {
            let operator = CompletionOperator::above_threshold(truth.xxt.view(), threshold);
            Problem::new(truth, operator)
        }
        OperatorModel::MatchedUniformCompletion { threshold } => {
            let count = CompletionOperator::count_above_threshold(truth.xxt.view(), threshold);
            // An empty ReLU sample is matched by an empty one (scaled as above_threshold scales it).
            let operator = match count {
                0 => CompletionOperator::from_entries(point.n, Vec::new(), 1.0 / pairs(point.n)),
                _ => CompletionOperator::sample_count(point.n, count, &mut g),
            };
            Problem::new(truth, operator)
        }
    };
    problem.with_noise(point.sigma, point.operator_seed)
}

/// The target X of a point, from `truth_seed`.
fn build_truth(point: &RunPoint) -> GroundTruth {
    match point.truth {
        TruthKind::Orthonormal => GroundTruth::sample(
            point.n,
            point.r,
            &SingularValues::Explicit(point.singular_values.clone()),
            point.truth_seed,
        ),
        // The thin SVD of a finite n×r Gaussian matrix converges; a failure would be a faer bug.
        TruthKind::GaussianFactor => {
            GroundTruth::sample_gaussian_factor(point.n, point.r, point.truth_seed)
                .expect("the SVD of a finite Gaussian matrix")
        }
    }
}

/// The instance of `point` on the operator of `base` (shared, not copied), with the numbers of
/// [`build_problem`] of `point` when `base`'s operator is that of `point`
/// ([`RunPoint::operator_key`]): X from `truth_seed`, y = 𝒜(XXᵀ) + ε with ε from `operator_seed`.
pub fn build_problem_on(base: &Problem, point: &RunPoint) -> Problem {
    base.with_truth(build_truth(point))
        .with_noise(point.sigma, point.operator_seed)
}

/// The instances of points that share one operator ([`RunPoint::operator_key`]), in order, on
/// `base` (the instance of `base_point`, which holds that operator, reused for the points of its
/// instance): each distinct instance built once on it, with the same numbers as [`build_problem`]
/// of its point. Only these points' instances are held (run_group calls it per batch).
///
/// # Panics
/// If a point's operator is not `base_point`'s.
pub fn build_instances(
    base: &Arc<Problem>,
    base_point: &RunPoint,
    points: &[&RunPoint],
) -> Vec<Arc<Problem>> {
    let mut built = HashMap::from([(base_point.instance_key(), Arc::clone(base))]);
    points
        .iter()
        .map(|p| {
            assert!(
                p.operator_key() == base_point.operator_key(),
                "one operator"
            );
            let instance = built
                .entry(p.instance_key())
                .or_insert_with(|| Arc::new(build_problem_on(base, p)));
            Arc::clone(instance)
        })
        .collect()
}

/// N = n(n+1)/2, the number of pairs i ≤ j, as a float.
fn pairs(n: usize) -> f64 {
    (n * (n + 1) / 2) as f64
}

/// U_0 of a point.
pub fn initial_iterate(point: &RunPoint, problem: &Problem) -> Array2<f64> {
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

/// Records one run's trajectory rows (diagnostics, optionally the spectral comparison) and ticks progress.
struct RowRecorder<'a> {
    calculator: DiagnosticsCalculator<'a>,
    /// With spectral diagnostics: the comparison (None if it could not be set up: its columns are
    /// then NaN, so every row has the columns of `quantity::names`).
    spectral: Option<Option<SpectralComparison>>,
    /// The rows so far (shared with the batch's checkpointer).
    recorded: SharedRecorded,
    progress: &'a dyn Progress,
    /// The point's `stop_below_test_error`.
    stop_below: Option<f64>,
}

impl Observer for RowRecorder<'_> {
    fn observe(&mut self, state: &IterationState<'_>) -> Control {
        // Cancelled: stop here; run_group then discards the batch instead of caching it.
        if self.progress.cancelled() {
            return Control::Stop;
        }
        self.progress.iteration(state.t);
        let Ok(d) = self.calculator.compute(state) else {
            return Control::Stop;
        };
        let spectral = self
            .spectral
            .as_mut()
            .map(|sc| sc.as_mut().and_then(|sc| sc.compute(state.t, state.u).ok()));
        let row = quantity::row(&d, spectral.as_ref().map(Option::as_ref));
        let mut rec = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
        rec.t.push(state.t);
        rec.values.push(row);
        if self.stop_below.is_some_and(|eps| d.test_error <= eps) {
            rec.reached_target = true;
            return Control::Stop;
        }
        Control::Continue
    }

    /// Cancelled: the batch is discarded (run_group), so its runs end at once.
    fn cancelled(&self) -> bool {
        self.progress.cancelled()
    }
}

/// Runs points that share one operator in lockstep with `kernel`, point i on `instances[i]` (see
/// [`lowrank_core::run_gradient_descent_shared_operator_from`]; [`build_instances`] builds them);
/// results in input order, keyed by [`run_cache_key`]. `points` should be a batch of
/// [`plan_batches`] with its kernel ([`PassKernel::for_batch_of`] its size), or part of one with
/// the kernel of the whole: the numbers are the same.
///
/// With a `cache_dir`, a batch that runs long writes checkpoints there and continues from one if it
/// finds it ([`crate::checkpoint`]); the results are the same bit for bit.
pub fn run_batch(
    points: &[&RunPoint],
    instances: &[&Problem],
    kernel: PassKernel,
    progress: &dyn Progress,
    cache_dir: Option<&Path>,
) -> Vec<RunResult> {
    assert_eq!(points.len(), instances.len(), "one instance per point");
    let inits: Vec<Array2<f64>> = points
        .iter()
        .zip(instances)
        .map(|(p, problem)| initial_iterate(p, problem))
        .collect();
    let keys: Vec<String> = points.iter().map(|p| run_cache_key(p, kernel)).collect();
    let columns: Vec<usize> = points
        .iter()
        .map(|p| quantity::names(n_top_singular_values(p), p.spectral).len())
        .collect();
    let resume = cache_dir.and_then(|d| checkpoint::load(d, &keys, points, &columns));
    let (resume, shared): (Option<BatchState>, Vec<SharedRecorded>) = match resume {
        Some((state, rows)) => {
            progress.resumed(points, state.t);
            (
                Some(state),
                rows.into_iter().map(|r| Arc::new(Mutex::new(r))).collect(),
            )
        }
        None => (
            None,
            points.iter().map(|_| SharedRecorded::default()).collect(),
        ),
    };
    let mut recorders: Vec<RowRecorder<'_>> = points
        .iter()
        .zip(instances)
        .zip(&inits)
        .zip(&shared)
        .map(|(((p, problem), u0), recorded)| RowRecorder {
            calculator: DiagnosticsCalculator::new(
                &problem.truth,
                lowrank_core::linalg::sum_of_squares(problem.y.view()).sqrt(),
                n_top_singular_values(p),
            ),
            spectral: p
                .spectral
                .then(|| SpectralComparison::new(problem, p.step_size, u0.view()).ok()),
            recorded: Arc::clone(recorded),
            progress,
            stop_below: p.stop_below_test_error,
        })
        .collect();
    let runs: Vec<BatchRun<'_>> = recorders
        .iter_mut()
        .zip(points.iter().zip(inits))
        .map(|(rec, (p, u0))| BatchRun {
            params: RunParams::new(p.step_size, p.iterations, p.log_every)
                .with_algorithm(p.algorithm),
            u0,
            observer: rec,
        })
        .collect();
    let regime = |problem: &Problem| {
        lowrank_core::spectral_regime(problem).map_or(
            SpectralRegimeRecord {
                deviation: f64::NAN,
                sin_l_x: f64::NAN,
            },
            |s| SpectralRegimeRecord {
                deviation: s.deviation,
                sin_l_x: s.sin_l_x,
            },
        )
    };
    // Once per instance (an eigendecomposition of 𝒜*(y)), for the runs that record it.
    let mut regimes: HashMap<crate::sweep::InstanceKey, SpectralRegimeRecord> = HashMap::new();
    let regime_of: Vec<Option<SpectralRegimeRecord>> = points
        .iter()
        .zip(instances)
        .map(|(p, problem)| {
            p.spectral.then(|| {
                *regimes
                    .entry(p.instance_key())
                    .or_insert_with(|| regime(problem))
            })
        })
        .collect();
    let report_failure = |path: &Path, error: &std::io::Error| {
        progress.checkpoint_failed(points, path, error);
    };
    let mut checkpointer = match (cache_dir, checkpoint::interval()) {
        (Some(d), Ok(every)) => Some(TimedCheckpointer::new(
            d,
            keys.clone(),
            shared.clone(),
            every,
            Some(Box::new(report_failure)),
        )),
        _ => None,
    };
    let mut checkpointer = checkpointer
        .as_mut()
        .map(|inner| UnlessCancelled { inner, progress });
    let outcomes = run_gradient_descent_shared_operator_from(
        instances,
        runs,
        kernel,
        resume,
        checkpointer.as_mut().map(|c| c as &mut dyn Checkpointer),
    );
    drop(recorders);
    points
        .iter()
        .zip(instances)
        .zip(keys)
        .zip(outcomes)
        .zip(shared)
        .zip(regime_of)
        .map(|(((((p, problem), key), out), shared), regime)| {
            let rec = std::mem::take(&mut *shared.lock().unwrap_or_else(|p| p.into_inner()));
            let (status, diverged_at) = match out.status {
                RunStatus::Diverged { at } => ("diverged", Some(at)),
                RunStatus::Stopped { .. } if rec.reached_target => (REACHED_TARGET, None),
                s => (s.label(), None),
            };
            RunResult {
                key,
                status: status.to_string(),
                diverged_at,
                quantities: quantity::names(n_top_singular_values(p), p.spectral),
                t: rec.t,
                values: rec.values,
                seconds: 0.0,
                completion: p.operator.is_completion().then(|| CompletionInstance {
                    observations: problem.operator.m(),
                    incoherence: incoherence(&problem.truth),
                }),
                spectral_regime: regime,
                truth_singular_values: (!p.truth.is_orthonormal())
                    .then(|| problem.truth.singular_values.clone()),
                computed_on: crate::manifest::Machine::current().label(),
                threads: 0,
                checksum: String::new(),
            }
        })
        .collect()
}

/// A checkpointer that takes no state once the work is cancelled: runs stopped by the
/// cancellation would otherwise be saved as finished and resumed as such.
struct UnlessCancelled<'a, 'b> {
    inner: &'a mut TimedCheckpointer<'b>,
    progress: &'a dyn Progress,
}

impl Checkpointer for UnlessCancelled<'_, '_> {
    fn due(&mut self, t: usize) -> bool {
        !self.progress.cancelled() && self.inner.due(t)
    }

    fn save(&mut self, state: &BatchState) {
        self.inner.save(state);
    }
}

/// Receives progress events of [`execute`] (from several worker threads).
pub trait Progress: Sync {
    /// True once the caller wants the work to stop (e.g. Ctrl-C in Python); must stay true once
    /// it is. Running batches then stop before their next iteration without writing cache entries
    /// (a checkpoint written before stays, so a rerun continues from it), no new batch starts, and
    /// [`execute`] returns an error of kind [`std::io::ErrorKind::Interrupted`].
    fn cancelled(&self) -> bool {
        false
    }
    /// A batch of runs sharing one operator starts computing (not called for cached runs).
    fn batch_started(&self, _points: &[&RunPoint]) {}
    /// A logged iteration of a running batch.
    fn iteration(&self, _t: usize) {}
    /// A run is done (`cached`: read from the cache).
    fn run_finished(&self, _point: &RunPoint, _result: &RunResult, _cached: bool) {}
    /// A batch continues from its checkpoint at iteration `t`.
    fn resumed(&self, _points: &[&RunPoint], _t: usize) {}
    /// A batch's checkpoint could not be written at `path`: the batch goes on without checkpoints.
    fn checkpoint_failed(&self, _points: &[&RunPoint], _path: &Path, _error: &std::io::Error) {}
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
    /// Cache entries found but rejected (checksum or consistency, see [`lookup_cached`]) and
    /// recomputed.
    #[serde(default)]
    pub rejected: usize,
}

/// Largest number of runs advanced in lockstep on one operator.
pub const MAX_BATCH: usize = 64;

/// How the cores are shared.
///
/// Policy: everything runs on rayon's global pool, one thread per core: the operator passes (all
/// but O(n²r') of the work) in [`ROW_CHUNKS`](lowrank_core::operator::ROW_CHUNKS) = 4 row chunks
/// (so up to four cores are used), and between passes the per-run work of a batch (UUᵀ, the
/// observer's diagnostics, the update), one task per run. OpenBLAS, which only does the small
/// dense products (UUᵀ, smat(G)·U) inside those tasks, runs single-threaded so that its idle
/// threads do not spin against rayon's; one worker thread processes the operators one after
/// another. The policy was chosen by measurement (bench/README.md): OpenBLAS threads were slow on
/// the skinny batch products, a second worker gave no gain, and running the per-run work in
/// parallel was faster despite OpenBLAS's allocation lock; results are bitwise the same.
///
/// faer's decompositions (the diagnostics' SVDs, spectral initialization's eigendecomposition, the
/// QR of the ground truth) run sequentially ([`deterministic_decompositions`]): with faer's default
/// global parallelism their last bits depended on the number of threads, so two processes with
/// different core counts (shards, `--jobs`) disagreed in the CSVs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parallelism {
    /// Worker threads, each processing one operator (its batches) at a time.
    pub workers: usize,
    /// OpenBLAS threads.
    pub blas_threads: usize,
}

impl Parallelism {
    /// The policy (see the type docs); rayon's pool sizes itself to the cores.
    pub const POLICY: Self = Self {
        workers: 1,
        blas_threads: 1,
    };
}

/// Makes faer's decompositions sequential (faer's global parallelism), so that every number a run
/// produces is independent of the number of threads (see [`Parallelism`]).
pub fn deterministic_decompositions() {
    faer::set_global_parallelism(faer::Par::Seq);
}

/// What [`execute`] may use.
#[derive(Debug, Clone, Copy)]
pub struct Resources {
    /// Sets the number of BLAS threads (called once before any work).
    pub set_blas_threads: fn(usize),
}

/// Runs every point (reusing cached runs from `cache_dir` and storing new ones there, if given).
/// The points are computed in the batches of [`plan_batches`]: the runs of a batch found in the
/// cache are read, the others computed together with the kernel of the whole batch and written
/// to the cache as soon as they are done. Operators are distributed over worker threads
/// ([`Parallelism::POLICY`]); the results are returned in the order of `points` whatever the order
/// in which they finish, and each run's numbers depend only on its point and its batch's kernel,
/// not on the cache, the other runs or the other threads.
pub fn execute(
    points: &[RunPoint],
    cache_dir: Option<&Path>,
    progress: &dyn Progress,
    resources: Resources,
) -> std::io::Result<(Vec<RunResult>, CacheStats)> {
    deterministic_decompositions();
    if let Some(dir) = cache_dir {
        std::fs::create_dir_all(dir)?;
        // An entry path taken by a directory would fail only after its batch was computed.
        for batch in plan_batches(points) {
            let members: Vec<&RunPoint> = batch.iter().map(|&i| &points[i]).collect();
            for key in batch_cache_keys(&members) {
                let entry = cache_entry(dir, &key);
                if std::fs::symlink_metadata(&entry).is_ok_and(|m| !m.is_file()) {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!(
                            "{} is a directory where a cache entry goes (or a link or device, \
                             not a regular file); remove it",
                            entry.display()
                        ),
                    ));
                }
            }
        }
    }
    let mut results: Vec<Option<RunResult>> = vec![None; points.len()];
    let mut hits = 0;
    let mut rejected = 0;
    // The batches to compute, grouped by operator so that each operator is built once
    // (plan_batches lists the batches of an operator one after another, so comparing with the
    // last group suffices).
    let mut groups: Vec<(OperatorKey, Vec<Pending>)> = Vec::new();
    for batch in plan_batches(points) {
        let members: Vec<&RunPoint> = batch.iter().map(|&i| &points[i]).collect();
        let keys = batch_cache_keys(&members);
        let mut missing = Vec::new();
        for ((&i, key), point) in batch.iter().zip(&keys).zip(&members) {
            let found = match cache_dir {
                Some(d) => lookup_cached(d, key, point),
                None => CacheLookup::Missing,
            };
            match found {
                CacheLookup::Valid(r) => {
                    hits += 1;
                    progress.run_finished(point, &r, true);
                    results[i] = Some(*r);
                }
                CacheLookup::Rejected => {
                    rejected += 1;
                    missing.push(i);
                }
                CacheLookup::Missing => missing.push(i),
            }
        }
        if missing.is_empty() {
            continue;
        }
        // The runs not cached, with the kernel of their whole batch: the same numbers.
        let pending = Pending {
            runs: missing,
            kernel: PassKernel::for_batch_of(batch.len()),
        };
        let ok = points[batch[0]].operator_key();
        match groups.last_mut() {
            Some((k, batches)) if *k == ok => batches.push(pending),
            _ => groups.push((ok, vec![pending])),
        }
    }
    let stats = CacheStats {
        hits,
        computed: groups.iter().flat_map(|g| &g.1).map(|b| b.runs.len()).sum(),
        rejected,
    };
    if groups.is_empty() {
        return Ok((results.into_iter().flatten().collect(), stats));
    }
    let parallelism = Parallelism::POLICY;
    (resources.set_blas_threads)(parallelism.blas_threads);
    let queue = Mutex::new(groups.into_iter().map(|g| g.1).collect::<VecDeque<_>>());
    let done = Mutex::new(results);
    let failure: Mutex<Option<std::io::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..parallelism.workers {
            scope.spawn(|| {
                while let Some(batches) = lock(&queue).pop_front() {
                    if lock(&failure).is_some() || progress.cancelled() {
                        return;
                    }
                    if let Err(e) = run_group(points, &batches, cache_dir, progress, &done) {
                        *lock(&failure) = Some(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    if progress.cancelled() {
        return Err(interrupted());
    }
    let results = done
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.expect("every point is cached or computed"))
        .collect();
    Ok((results, stats))
}

/// The error of a cancelled [`execute`].
fn interrupted() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Interrupted,
        "interrupted: the runs computed so far are in the cache (a batch under way is not, but its last checkpoint is)",
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs of a planned batch still to compute, and the kernel of that batch.
struct Pending {
    runs: Vec<usize>,
    kernel: PassKernel,
}

/// Builds one operator and its instances, and runs its batches, caching each batch when done.
fn run_group(
    points: &[RunPoint],
    batches: &[Pending],
    cache_dir: Option<&Path>,
    progress: &dyn Progress,
    done: &Mutex<Vec<Option<RunResult>>>,
) -> std::io::Result<()> {
    // The operator is built once per group, from its first run; each batch's instances are built
    // when it starts and dropped when it ends (check_memory counts one batch's, plus this one).
    let Some(&first) = batches.first().and_then(|b| b.runs.first()) else {
        return Ok(());
    };
    let base_point = &points[first];
    let base = Arc::new(build_problem(base_point));
    for pending in batches {
        let chunk = &pending.runs;
        let batch: Vec<&RunPoint> = chunk.iter().map(|&i| &points[i]).collect();
        let problems = build_instances(&base, base_point, &batch);
        let problems: Vec<&Problem> = problems.iter().map(|p| &**p).collect();
        progress.batch_started(&batch);
        let start = std::time::Instant::now();
        let mut computed = run_batch(&batch, &problems, pending.kernel, progress, cache_dir);
        if progress.cancelled() {
            // Some runs may have stopped early for it: nothing of this batch is kept.
            return Err(interrupted());
        }
        let share = start.elapsed().as_secs_f64() / computed.len() as f64;
        let keys: Vec<String> = computed.iter().map(|r| r.key.clone()).collect();
        for (&i, mut r) in chunk.iter().zip(computed.drain(..)) {
            r.seconds = share;
            r.threads = rayon::current_num_threads();
            if let Some(dir) = cache_dir {
                let json = serde_json::to_vec(&seal(r.clone())).expect("RunResult serializes");
                write_atomic(&cache_entry(dir, &r.key), &json)?;
            }
            progress.run_finished(&points[i], &r, false);
            lock(done)[i] = Some(r);
        }
        if let Some(dir) = cache_dir {
            checkpoint::remove(dir, &keys);
        }
    }
    Ok(())
}

/// The file of the run with cache key `key` in `cache_dir`.
fn cache_entry(cache_dir: &Path, key: &str) -> PathBuf {
    cache_dir.join(format!("{key}.json"))
}

/// What the cache holds for a run.
#[derive(Debug, Clone, PartialEq)]
pub enum CacheLookup {
    /// No entry.
    Missing,
    /// An entry that fails its checksum or is inconsistent with the run (recomputed).
    Rejected,
    /// A valid entry (its checksum cleared: it is the in-memory result).
    Valid(Box<RunResult>),
}

/// The cached run with key `key`, if its entry exists, parses, carries that key and its checksum
/// ([`seal`]), and is consistent with `point`; anything else is recomputed by [`execute`].
pub fn read_cached(cache_dir: &Path, key: &str, point: &RunPoint) -> Option<RunResult> {
    match lookup_cached(cache_dir, key, point) {
        CacheLookup::Valid(r) => Some(*r),
        _ => None,
    }
}

/// [`read_cached`], telling a missing entry from a rejected one. An entry is consistent with its
/// point when it has the point's quantities, one row of them per logged iteration, a known status,
/// and the logging schedule of the loop: t = 0, log_every, 2·log_every, …, the last logged t being
/// T for a completed run, at most the recorded divergence for a diverged one (and only a diverged
/// run records one), and a logged test error ≤ ε for a run that stopped at its target ε.
pub fn lookup_cached(cache_dir: &Path, key: &str, point: &RunPoint) -> CacheLookup {
    if !cache_entry(cache_dir, key).exists() {
        return CacheLookup::Missing;
    }
    match read_entry(cache_dir, key) {
        Some(mut r) if r.checksum == content_checksum(&r) && consistent(&r, key, point) => {
            r.checksum.clear();
            CacheLookup::Valid(Box::new(r))
        }
        _ => CacheLookup::Rejected,
    }
}

fn consistent(r: &RunResult, key: &str, point: &RunPoint) -> bool {
    let names = quantity::names(n_top_singular_values(point), point.spectral);
    r.key == key
        && r.quantities == names
        && r.t.len() == r.values.len()
        && r.values.iter().all(|row| row.len() == names.len())
        && r.t.windows(2).all(|w| w[0] < w[1])
        && r.t.last().is_none_or(|&t| t <= point.iterations)
        && on_schedule(&r.t, point)
        && ends_as_its_status_says(r, point)
        && (RunStatus::LABELS.contains(&r.status.as_str()) || r.status == REACHED_TARGET)
        && r.spectral_regime.is_some() == point.spectral
        && (point.truth.is_orthonormal()
            || r.truth_singular_values
                .as_ref()
                .is_some_and(|s| s.len() == point.r && s.iter().all(|v| v.is_finite() && *v > 0.0)))
}

/// Whether logged iterations follow the loop's schedule: t_k = k·log_every, except that the last
/// may be T (a completed run whose T is not a multiple of log_every).
fn on_schedule(t: &[usize], point: &RunPoint) -> bool {
    let last = t.len().saturating_sub(1);
    t.iter()
        .enumerate()
        .all(|(k, &tk)| tk == k * point.log_every || (k == last && k > 0 && tk == point.iterations))
}

/// Whether the last logged iteration agrees with the recorded status.
fn ends_as_its_status_says(r: &RunResult, point: &RunPoint) -> bool {
    let last = r.t.last().copied();
    let last_test = r
        .series(&quantity::TEST_ERROR)
        .and_then(|s| s.last().copied());
    match r.status.as_str() {
        "completed" => r.diverged_at.is_none() && last == Some(point.iterations),
        "diverged" => r
            .diverged_at
            .is_some_and(|d| d <= point.iterations && last.is_none_or(|t| t <= d)),
        s if s == REACHED_TARGET => {
            r.diverged_at.is_none()
                && point
                    .stop_below_test_error
                    .is_some_and(|eps| last_test.is_some_and(|e| e <= eps))
        }
        _ => r.diverged_at.is_none(),
    }
}

/// The cache entry with key `key`, if it exists, parses and carries that key (its shape is not
/// checked: see [`read_cached`]).
pub fn read_entry(cache_dir: &Path, key: &str) -> Option<RunResult> {
    let bytes = std::fs::read(cache_entry(cache_dir, key)).ok()?;
    let r: RunResult = serde_json::from_slice(&bytes).ok()?;
    (r.key == key).then_some(r)
}
