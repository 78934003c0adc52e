//! Sweeps split across processes: the batches a set of specs implies, their estimated cost, and a
//! deterministic assignment of the batches to N shards, balanced by cost.
//!
//! A batch is the unit of computation and of caching ([`crate::run::plan_batches`]), so shards
//! share nothing but the cache: each shard process computes its batches into the cache, and a
//! later plain `experiments run` finds every batch there and writes the CSVs and figures. Since a
//! run's numbers depend only on its point and its batch's kernel, the merged CSVs are
//! byte-identical to those of one process on machines of the same CPU type. A batch whose runs earlier batches already compute
//! (same cache keys: error_vs_alpha_m's runs at m = 3000 are error_vs_alpha's at r' = 6) is not
//! planned again; the spec finds them in the cache.
//!
//! # Cost
//! The estimated cost of a batch is the floating-point work of its runs:
//! ```text
//!   per run and iteration   4·m·n(n+1)/2 + 4·n²·r'        Gaussian sensing (forward + adjoint, UUᵀ and 𝒜*(r)·U)
//!                           4·|Ω|·r' + 4·n·r'              completion (|Ω| at its bound from p)
//!   per logged iteration    2·n²·r'                         the diagnostics' UUᵀ
//! ```
//! # Time
//! Before computing, `run` estimates the time of the batches not yet cached, per batch of k runs
//! over T iterations on an operator of m×p entries (p = n(n+1)/2), from rates measured at start-up
//! ([`MachineRate::measure`]):
//! ```text
//!   T · max( 8·m·p / B,  4·m·p·k̄ / R )  +  (flops − T·k·4·m·p) / R  +  T · c     Gaussian sensing
//!   flops / R_Ω  +  T · c                                                        completion
//! ```
//! with B the rate at which the single-input pass reads 𝐀 (bytes/s; the only term for k = 1), R
//! the batched pass's rate at full vectors (flops/s), k̄ the batch width padded to the vector
//! width (AVX2 computes 9 runs as 12), R_Ω a completion run's rate and c the loop's fixed cost
//! per iteration (thread hand-offs, small allocations). Runs that stop at a target error count at
//! their full budget, so for them the estimate is an upper bound. On a full `make figures` it is
//! within tens of percent of the time taken (bench/README.md), not more.
//!
//! # Assignment
//! Longest batch first: batches in order of decreasing cost (ties: by their first cache key), each
//! to the shard with the least cost so far (ties: the lowest shard). It depends on the specs only,
//! which is what job arrays need (`run --shard I/N`). Processes on one machine (`run --jobs`) take
//! the batches in the same order but dynamically instead ([`run_claimed`]), so a wrong estimate
//! leaves no process idle while another has several batches to go; job arrays can too
//! (`run --claims DIR` on a shared directory).

use std::path::Path;

use serde::Serialize;

use crate::run::{batch_cache_keys, execute, most_observations, plan_batches, CacheStats};
use crate::spec::{Config, OperatorModel};
use crate::sweep::{expand, RunPoint};

/// One batch of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedBatch {
    /// The spec it is computed for (the first one that has it).
    pub spec: String,
    /// That spec's position among the planned specs.
    pub spec_index: usize,
    /// Indices of its runs in that spec's sweep (the `run` column of runs.csv).
    pub runs: Vec<usize>,
    /// The runs' cache keys, in batch order.
    pub keys: Vec<String>,
    /// n, m (0 for completion), and the widest r' of the batch.
    pub n: usize,
    /// m.
    pub m: usize,
    /// Widest r'.
    pub r_prime: usize,
    /// Estimated floating-point operations (see the module docs).
    pub flops: f64,
    /// The longest horizon T of its runs (iterations of the batch loop).
    pub iterations: usize,
    /// Its runs that stop at a target error (`[gd] stop_below_test_error`), often long before T.
    pub stopping_runs: usize,
    /// The shard it goes to (0-based).
    pub shard: usize,
}

/// The batches of `configs` and their shards.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Number of shards.
    pub shards: usize,
    /// Every batch with a run that no earlier batch has, in spec order.
    pub batches: Vec<PlannedBatch>,
}

impl Plan {
    /// Estimated floating-point operations per shard.
    pub fn shard_flops(&self) -> Vec<f64> {
        let mut f = vec![0.0; self.shards];
        for b in &self.batches {
            f[b.shard] += b.flops;
        }
        f
    }
}

/// Estimated floating-point operations of one run (see the module docs).
pub fn run_flops(p: &RunPoint) -> f64 {
    let (n, rp) = (p.n as f64, p.r_prime as f64);
    let per_iteration = match p.operator {
        OperatorModel::Gaussian => 4.0 * p.m as f64 * n * (n + 1.0) / 2.0 + 4.0 * n * n * rp,
        OperatorModel::UniformCompletion { .. }
        | OperatorModel::ReluCompletion { .. }
        | OperatorModel::MatchedUniformCompletion { .. } => {
            completion_iteration_flops(most_observations(p), p.n, p.r_prime)
        }
    };
    flops_over_run(per_iteration, p.n, p.r_prime, p.iterations, p.log_every)
}

/// One completion iteration on |Ω| = `observations`: 4·|Ω|·r' + 4·n·r'.
fn completion_iteration_flops(observations: usize, n: usize, r_prime: usize) -> f64 {
    4.0 * (observations * r_prime) as f64 + 4.0 * (n * r_prime) as f64
}

/// T iterations of `per_iteration` flops plus the diagnostics' UUᵀ at each logged iteration:
/// T·per_iteration + (⌊T/log_every⌋ + 1)·2·n²·r'.
fn flops_over_run(
    per_iteration: f64,
    n: usize,
    r_prime: usize,
    iterations: usize,
    log_every: usize,
) -> f64 {
    let logged = (iterations / log_every + 1) as f64;
    iterations as f64 * per_iteration + logged * 2.0 * (n * n * r_prime) as f64
}

/// The most shards a plan may have (`--shard I/N`, `plan --shards N`): far more than any cluster
/// runs tasks of one sweep, and small enough that the assignment (one pass over the shards per
/// batch) and `plan`'s one line per shard stay instant.
pub const MAX_SHARDS: usize = 100_000;

/// The plan of `configs` over `shards` shards (≥ 1).
pub fn plan(configs: &[Config], shards: usize) -> Plan {
    let shards = shards.max(1);
    let mut batches: Vec<PlannedBatch> = Vec::new();
    let mut planned = std::collections::HashSet::new();
    for (spec_index, config) in configs.iter().enumerate() {
        let points = expand(config);
        for batch in plan_batches(&points) {
            let members: Vec<&RunPoint> = batch.iter().map(|&i| &points[i]).collect();
            let keys = batch_cache_keys(&members);
            if keys.iter().all(|k| planned.contains(k)) {
                continue;
            }
            planned.extend(keys.iter().cloned());
            batches.push(PlannedBatch {
                spec: config.name.clone(),
                spec_index,
                runs: members.iter().map(|p| p.index).collect(),
                n: members[0].n,
                m: members[0].m,
                r_prime: members.iter().map(|p| p.r_prime).max().unwrap_or(0),
                flops: members.iter().map(|p| run_flops(p)).sum(),
                iterations: members.iter().map(|p| p.iterations).max().unwrap_or(0),
                stopping_runs: members
                    .iter()
                    .filter(|p| p.stop_below_test_error.is_some())
                    .count(),
                keys,
                shard: 0,
            });
        }
    }
    let mut load = vec![0.0f64; shards];
    for i in longest_first(&batches) {
        let s = (0..shards)
            .min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b)))
            .unwrap_or(0);
        load[s] += batches[i].flops;
        batches[i].shard = s;
    }
    Plan { shards, batches }
}

/// Indices of `batches` longest first: decreasing estimated cost, ties by first cache key (the
/// order of both the static assignment and of [`run_claimed`]).
pub fn longest_first(batches: &[PlannedBatch]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..batches.len()).collect();
    order.sort_by(|&a, &b| {
        batches[b]
            .flops
            .total_cmp(&batches[a].flops)
            .then_with(|| batches[a].keys[0].cmp(&batches[b].keys[0]))
    });
    order
}

/// What one process of [`run_claimed`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Claimed {
    /// Batches it claimed.
    pub batches: usize,
    /// Their runs, read from the cache or computed.
    pub cache: CacheStats,
}

/// Computes into `cache_dir` the batches of `plan` (all shards) that this process claims, longest
/// first. Batch i of the plan (every process plans the same specs, so the same batches in the
/// same order) is claimed by creating the file `claims/batch-<i>` with `create_new` (O_CREAT |
/// O_EXCL: of the processes that try, exactly one creates it), and marked finished, once in the
/// cache, by creating `claims/batch-<i>.done` (batches can share runs, so a cache key would not
/// name one batch); so
/// processes started together with one `claims` directory share the batches dynamically: a process
/// that is free takes the next unclaimed batch, however far the estimated costs are from the real
/// ones (runs that stop at a target error end long before their budget). `run --jobs` uses it with
/// a fresh temporary directory per invocation; the split is not reproducible, but the bits are
/// (a run's numbers depend only on its point and its batch's kernel).
///
/// The directory is the one [`bind_claims`] created or found and tied to the plan: a process whose
/// specs plan other batches (other specs, another order, `--quick` or not) is refused rather than
/// skipping batches by another plan's numbers. Job arrays use it (`scripts/slurm`, `SWEEP_CLAIMS=1`)
/// with a fresh directory per sweep on the shared file system, which must make exclusive creation
/// atomic and have hard links or rename-without-replacing ([`bind_claims`]): local file systems,
/// NFSv3 and later, Lustre and GPFS do.
///
/// With an `owner` (a job array task's id), each claim holds it, and a batch claimed under the same
/// owner and not finished is taken back: a task that Slurm requeues after a node failure computes
/// again what its first attempt had claimed (resuming from its checkpoints) instead of leaving it to
/// the merge. Two live processes must never share an owner.
///
/// Before each claim it asks `go_on`, and stops claiming when that says no (`run --jobs`'
/// processes stop once their parent is gone; other claiming processes go on to the end).
pub fn run_claimed(
    configs: &[Config],
    plan: &Plan,
    claims: &BoundClaims,
    owner: Option<&str>,
    cache_dir: &Path,
    progress: &dyn crate::Progress,
    go_on: &dyn Fn() -> bool,
) -> std::io::Result<Claimed> {
    let claims = claims.0.as_path();
    let mut points: Vec<Option<Vec<RunPoint>>> = vec![None; configs.len()];
    let mut claimed = Claimed::default();
    for i in longest_first(&plan.batches) {
        if !go_on() {
            break;
        }
        let batch = &plan.batches[i];
        let claim = claims.join(claim_name(i));
        let cannot = |e: std::io::Error| {
            std::io::Error::new(
                e.kind(),
                format!("cannot claim a batch in {}: {e}", claims.display()),
            )
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&claim)
        {
            Ok(mut file) => {
                if let Some(owner) = owner {
                    std::io::Write::write_all(&mut file, owner.as_bytes()).map_err(cannot)?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let mine = owner.is_some_and(|owner| {
                    !finished(i, claims)
                        && std::fs::read_to_string(&claim).is_ok_and(|c| c == owner)
                });
                if !mine {
                    continue;
                }
            }
            Err(e) => return Err(cannot(e)),
        }
        let all =
            points[batch.spec_index].get_or_insert_with(|| expand(&configs[batch.spec_index]));
        let mine: Vec<RunPoint> = batch.runs.iter().map(|&r| all[r].clone()).collect();
        let (_, stats) = execute(&mine, Some(cache_dir), progress, crate::resources())?;
        // For the progress of the claiming processes' parent (`finished`).
        let done = done_path(claims, i);
        std::fs::File::create(&done).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot create {}: {e}", done.display()))
        })?;
        claimed.batches += 1;
        claimed.cache.hits += stats.hits;
        claimed.cache.computed += stats.computed;
        claimed.cache.rejected += stats.rejected;
    }
    Ok(claimed)
}

/// The identity of a plan's batches: [`short_hash`] of their cache keys, in plan order (a batch's
/// keys joined by `,`, batches by `;`).
///
/// [`short_hash`]: crate::run::short_hash
pub fn plan_fingerprint(plan: &Plan) -> String {
    let keys: Vec<String> = plan.batches.iter().map(|b| b.keys.join(",")).collect();
    crate::run::short_hash(keys.join(";").as_bytes())
}

/// The file of a claims directory that names its plan ([`bind_claims`]).
const PLAN_FILE: &str = "plan";

/// Ties the claims directory `claims` (created if missing) to `plan`: the first process writes
/// [`plan_fingerprint`] to `claims/plan` (into a temporary file first, then linked into place
/// without replacing, so no process reads it half-written), and every process checks that the
/// file names its own plan. Claims are named by batch index, so a directory of another plan would
/// make a process skip batches it never computed. Errors name the file, not the directory.
pub fn bind_claims(claims: &Path, plan: &Plan) -> std::io::Result<BoundClaims> {
    std::fs::create_dir_all(claims).map_err(|e| at("cannot create the claims directory", e))?;
    let mine = plan_fingerprint(plan);
    let mut tmp = tempfile::NamedTempFile::new_in(claims)
        .map_err(|e| at("cannot create a temporary file in the claims directory", e))?;
    std::io::Write::write_all(&mut tmp, format!("{mine}\n").as_bytes())
        .map_err(|e| at("cannot write a temporary file in the claims directory", e))?;
    // On NFS the file is linked into place (there is no rename without replacing), and an older
    // client may send the link before the data: flushed first, so other nodes never read it empty.
    tmp.as_file()
        .sync_all()
        .map_err(|e| at("cannot flush a temporary file in the claims directory", e))?;
    match tmp.persist_noclobber(claims.join(PLAN_FILE)) {
        Ok(_) => {}
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            check_claims(claims, plan)?
        }
        Err(e) => return Err(at(&format!("cannot create {}", plan_in_claims()), e.error)),
    }
    Ok(BoundClaims(claims.to_path_buf()))
}

/// A claims directory tied to a plan by [`bind_claims`], the only way to get one: what
/// [`run_claimed`] claims in.
#[derive(Debug)]
pub struct BoundClaims(std::path::PathBuf);

/// How errors name the plan file of a claims directory.
fn plan_in_claims() -> String {
    format!("the claims directory's file {PLAN_FILE}")
}

/// `e` with what was being done when it happened.
fn at(what: &str, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Checks, without writing, that the claims directory `claims` was bound to `plan` by
/// [`bind_claims`] (its file `plan` names the same batches).
pub fn check_claims(claims: &Path, plan: &Plan) -> std::io::Result<()> {
    let file = plan_in_claims();
    let path = claims.join(PLAN_FILE);
    // Still empty here if its writer was killed between creating and filling it (a file system
    // without hard links or rename-without-replacing), or if this node does not see the other
    // node's data yet: read again for up to 10 s.
    let mut theirs = String::new();
    for attempt in 0..100 {
        theirs =
            std::fs::read_to_string(&path).map_err(|e| at(&format!("cannot read {file}"), e))?;
        if !theirs.trim().is_empty() || attempt == 99 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let theirs = theirs.trim();
    let mine = plan_fingerprint(plan);
    if theirs == mine {
        return Ok(());
    }
    let message = if theirs.is_empty() {
        format!(
            "{file} is still empty after 10 s (its writer stopped, or this node does not see the \
             other nodes' writes); give the sweep a fresh claims directory"
        )
    } else {
        format!(
            "the claims directory belongs to another sweep: {file} names the batches {theirs}, \
             these specs plan {mine} (other specs, another order, or --quick on one side only); \
             give each sweep a fresh claims directory"
        )
    };
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        message,
    ))
}

/// The name of batch `i`'s claim in [`run_claimed`].
fn claim_name(i: usize) -> String {
    format!("batch-{i}")
}

/// The file [`run_claimed`] creates beside batch `i`'s claim once the batch is in the cache.
fn done_path(claims: &Path, i: usize) -> std::path::PathBuf {
    claims.join(format!("{}.done", claim_name(i)))
}

/// Whether [`run_claimed`] processes have finished batch `i` (an index into the plan's batches) in
/// `claims` (the progress of `run --jobs`).
pub fn finished(i: usize, claims: &Path) -> bool {
    done_path(claims, i).exists()
}

/// Batch `i`'s claim in `claims`: None if unclaimed, else the claiming process's name (empty if it
/// gave none) and whether it finished the batch.
pub fn claim_of(i: usize, claims: &Path) -> Option<(String, bool)> {
    let owner = std::fs::read_to_string(claims.join(claim_name(i))).ok()?;
    Some((owner, finished(i, claims)))
}

/// Computes shard `shard` of `plan` into `cache_dir` (no CSV, no figure): for each spec, the runs
/// of its batches in this shard, through [`execute`] (which regroups them into the same batches).
pub fn run_shard(
    configs: &[Config],
    plan: &Plan,
    shard: usize,
    cache_dir: &Path,
    progress: &dyn crate::Progress,
) -> std::io::Result<CacheStats> {
    let mut total = CacheStats::default();
    for (spec_index, config) in configs.iter().enumerate() {
        let points = expand(config);
        let mine: Vec<RunPoint> = plan
            .batches
            .iter()
            .filter(|b| b.shard == shard && b.spec_index == spec_index)
            .flat_map(|b| b.runs.iter().map(|&i| points[i].clone()))
            .collect();
        if mine.is_empty() {
            continue;
        }
        let (_, stats) = execute(&mine, Some(cache_dir), progress, crate::resources())?;
        total.hits += stats.hits;
        total.computed += stats.computed;
        total.rejected += stats.rejected;
    }
    Ok(total)
}

/// The rates behind the time estimate (see the module docs), measured on this machine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineRate {
    /// Floating-point operations per second of GD with the batched pass on 16 runs (n = 64,
    /// m = 3000, r' = 4), counting the pass only: 4·m·p·16 per iteration, p = n(n+1)/2.
    pub batch_flops_per_second: f64,
    /// Bytes of 𝐀 per second of GD with the single-input pass on the same operator: m·p·8 per
    /// iteration.
    pub operator_bytes_per_second: f64,
    /// Floating-point operations per second of a batch of 3 completion runs (n = 50, p = 0.3,
    /// r' = n), counted as in [`run_flops`].
    pub completion_flops_per_second: f64,
    /// Seconds per iteration of a tiny single run (n = 8, m = 30, r' = 2): the loop's fixed cost.
    pub seconds_per_iteration: f64,
}

impl MachineRate {
    /// Measures the four rates, each the better of two rounds (about 0.5 s).
    pub fn measure() -> Self {
        use lowrank_core::descent::{run_gradient_descent_batch, BatchRun};
        use lowrank_core::operator::CompletionOperator;
        use lowrank_core::seeds::{rng, Stream};
        use lowrank_core::{
            small_random_init, Control, GroundTruth, IterationState, Problem, RunParams,
            SingularValues,
        };
        let time = |problem: &Problem, k: usize, r_prime: usize, iterations: usize| {
            let n = problem.truth.x.nrows();
            let mut observers: Vec<_> = (0..k)
                .map(|_| |_: &IterationState<'_>| Control::Continue)
                .collect();
            let runs = observers
                .iter_mut()
                .enumerate()
                .map(|(i, o)| BatchRun {
                    params: RunParams::new(0.25, iterations, iterations),
                    u0: small_random_init(n, r_prime, 1e-3, i as u64),
                    observer: o,
                })
                .collect();
            let start = std::time::Instant::now();
            run_gradient_descent_batch(problem, runs);
            start.elapsed().as_secs_f64()
        };
        // The better of two rounds: the first also pays for page faults and thread start-up.
        let time = |problem: &Problem, k: usize, r_prime: usize, iterations: usize| {
            let first = time(problem, k, r_prime, iterations);
            first.min(time(problem, k, r_prime, iterations))
        };
        let one = SingularValues::Condition(1.0);
        let (n, m, iterations) = (64usize, 3000usize, 20usize);
        let dense = Problem::sample_gaussian(n, 1, m, &one, 1);
        let mp = (m * n * (n + 1) / 2) as f64;
        let batch_flops_per_second =
            (16 * iterations) as f64 * 4.0 * mp / time(&dense, 16, 4, iterations);
        let operator_bytes_per_second =
            iterations as f64 * 8.0 * mp / time(&dense, 1, 4, iterations);
        let (nc, pc, rc, tc) = (50usize, 0.3, 50usize, 100usize);
        let truth = GroundTruth::sample(nc, 1, &one, 1);
        let omega = CompletionOperator::sample_uniform(nc, pc, &mut rng(1, Stream::Operator));
        let completion = Problem::new(truth, omega);
        // Counted as run_flops counts it: |Ω| at its bound, not the sample's size.
        let observed = crate::run::uniform_observation_bound(nc, pc);
        let per_iteration = completion_iteration_flops(observed, nc, rc);
        let completion_flops = 3.0 * flops_over_run(per_iteration, nc, rc, tc, tc);
        let completion_flops_per_second = completion_flops / time(&completion, 3, rc, tc);
        let tiny = Problem::sample_gaussian(8, 1, 30, &one, 1);
        let t_tiny = 400;
        Self {
            batch_flops_per_second,
            operator_bytes_per_second,
            completion_flops_per_second,
            seconds_per_iteration: time(&tiny, 1, 2, t_tiny) / t_tiny as f64,
        }
    }

    /// Estimated seconds of a batch (see the module docs).
    pub fn batch_seconds(&self, b: &PlannedBatch) -> f64 {
        let t = b.iterations as f64;
        let fixed = t * self.seconds_per_iteration;
        if b.m == 0 {
            return b.flops / self.completion_flops_per_second + fixed;
        }
        let k = b.runs.len();
        let mp = (b.m * b.n * (b.n + 1) / 2) as f64;
        let read = 8.0 * mp / self.operator_bytes_per_second;
        let pass = if k == 1 {
            read
        } else {
            let padded = lowrank_core::operator::batch_kernel::padded_width(k) as f64;
            read.max(4.0 * mp * padded / self.batch_flops_per_second)
        };
        // The rest of the work (n×r' products, diagnostics) at the batched pass's rate.
        let rest = (b.flops - t * k as f64 * 4.0 * mp).max(0.0);
        t * pass + rest / self.batch_flops_per_second + fixed
    }
}

/// The estimated work of the batches of a plan that are not cached yet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Batches to compute.
    pub batches: usize,
    /// Runs in them.
    pub runs: usize,
    /// Of those, runs that stop at a target error (`[gd] stop_below_test_error`): counted at their
    /// full budget, so the estimate is an upper bound for them.
    pub stopping_runs: usize,
    /// Their estimated floating-point operations.
    pub flops: f64,
    /// Estimated seconds (see the module docs).
    pub seconds: f64,
}

/// How many of `batch`'s runs have an entry in `cache_dir` (present, not checked).
pub fn cached_runs(batch: &PlannedBatch, cache_dir: &Path) -> usize {
    batch
        .keys
        .iter()
        .filter(|k| cache_dir.join(format!("{k}.json")).is_file())
        .count()
}

/// Indices of the batches of `plan` in `shard` (all if None) whose cache entries are not all
/// present in their spec's cache directory (`cache_dir_of(spec_index)`).
pub fn uncached(
    plan: &Plan,
    shard: Option<usize>,
    cache_dir_of: impl Fn(usize) -> std::path::PathBuf,
) -> Vec<usize> {
    (0..plan.batches.len())
        .filter(|&i| {
            let b = &plan.batches[i];
            shard.is_none_or(|s| s == b.shard)
                && cached_runs(b, &cache_dir_of(b.spec_index)) < b.keys.len()
        })
        .collect()
}

/// The [`Estimate`] of `batches` at `rate`.
pub fn estimate<'p>(
    batches: impl IntoIterator<Item = &'p PlannedBatch>,
    rate: &MachineRate,
) -> Estimate {
    let mut e = Estimate {
        batches: 0,
        runs: 0,
        stopping_runs: 0,
        flops: 0.0,
        seconds: 0.0,
    };
    for b in batches {
        e.batches += 1;
        e.runs += b.runs.len();
        e.stopping_runs += b.stopping_runs;
        e.flops += b.flops;
        e.seconds += rate.batch_seconds(b);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use lowrank_core::operator::batch_kernel::padded_width;

    const RATE: MachineRate = MachineRate {
        batch_flops_per_second: 50e9,
        operator_bytes_per_second: 20e9,
        completion_flops_per_second: 2e9,
        seconds_per_iteration: 1e-5,
    };

    /// A batch of k runs on n = 100, m = 3000 over T = 1000 iterations with only the pass's
    /// flops (`extra` more), or a completion batch (m = 0) of `extra` flops.
    fn batch(k: usize, m: usize, extra: f64, stopping: usize) -> PlannedBatch {
        let (n, t) = (100usize, 1000usize);
        let mp = (m * n * (n + 1) / 2) as f64;
        PlannedBatch {
            spec: "s".into(),
            spec_index: 0,
            runs: (0..k).collect(),
            keys: (0..k).map(|i| format!("key{k}-{i}")).collect(),
            n,
            m,
            r_prime: 4,
            flops: t as f64 * k as f64 * 4.0 * mp + extra,
            iterations: t,
            shard: 0,
            stopping_runs: stopping,
        }
    }

    #[test]
    fn a_batch_costs_the_slower_of_reading_its_operator_and_its_padded_flops() {
        let mp = 3000.0 * 5050.0;
        let fixed = 1000.0 * RATE.seconds_per_iteration;
        // One run: the single-input pass reads 𝐀 once per iteration.
        let read = 1000.0 * 8.0 * mp / RATE.operator_bytes_per_second;
        assert!((RATE.batch_seconds(&batch(1, 3000, 0.0, 0)) - read - fixed).abs() < 1e-9);
        // A batch pays for its padded width: 5 runs cost what padded_width(5) runs cost, apart
        // from the rest of the work, here none.
        let k = 5;
        let kp = padded_width(k);
        assert!(kp > k);
        let compute = 1000.0 * 4.0 * mp * kp as f64 / RATE.batch_flops_per_second;
        assert!(compute > read);
        let padded = batch(kp, 3000, 0.0, 0);
        let narrow = batch(k, 3000, (kp - k) as f64 * 1000.0 * 4.0 * mp, 0);
        let both = [RATE.batch_seconds(&padded), RATE.batch_seconds(&narrow)];
        assert!((both[0] - compute - fixed).abs() < 1e-9, "{both:?}");
        // The narrow batch's flops beyond its pass count as the rest, at the pass's rate.
        let rest = (kp - k) as f64 * 1000.0 * 4.0 * mp / RATE.batch_flops_per_second;
        assert!((both[1] - compute - rest - fixed).abs() < 1e-9, "{both:?}");
        // With a slow memory every width reads 𝐀 at the same cost.
        let slow = MachineRate {
            operator_bytes_per_second: 1e9,
            ..RATE
        };
        let t = 1000.0 * 8.0 * mp / 1e9 + fixed;
        for k in [2, 9, 16] {
            assert!(
                (slow.batch_seconds(&batch(k, 3000, 0.0, 0)) - t).abs() < 1e-9,
                "{k}"
            );
        }
        // Completion: its flops at the completion rate.
        let c = batch(3, 0, 4e9, 0);
        assert!((RATE.batch_seconds(&c) - 4e9 / 2e9 - fixed).abs() < 1e-9);
    }

    #[test]
    fn the_estimate_sums_the_batches_and_skips_cached_ones() {
        let plan = Plan {
            shards: 2,
            batches: vec![
                batch(4, 3000, 0.0, 0),
                batch(8, 3000, 0.0, 8),
                PlannedBatch {
                    shard: 1,
                    ..batch(1, 0, 1e9, 1)
                },
            ],
        };
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            uncached(&plan, None, |_| dir.path().to_path_buf()),
            [0, 1, 2]
        );
        let e = estimate(&plan.batches, &RATE);
        assert_eq!((e.batches, e.runs, e.stopping_runs), (3, 13, 9));
        let sum: f64 = plan.batches.iter().map(|b| RATE.batch_seconds(b)).sum();
        assert!((e.seconds - sum).abs() < 1e-9 * sum);
        assert_eq!(uncached(&plan, Some(1), |_| dir.path().to_path_buf()), [2]);
        // The 8-run batch cached (every entry present): left out; one entry missing: kept.
        for k in &plan.batches[1].keys {
            std::fs::write(dir.path().join(format!("{k}.json")), "{}").unwrap();
        }
        std::fs::write(dir.path().join("key4-0.json"), "{}").unwrap();
        assert_eq!(uncached(&plan, None, |_| dir.path().to_path_buf()), [0, 2]);
    }
}
