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
//! Before computing, `run` estimates the time of the batches not yet cached as
//! ```text
//!   Σ_batches  flops / R  +  T_batch · c
//! ```
//! with R the engine's floating-point rate on a mid-size batch and c the cost of one iteration of a
//! tiny single run (the loop's fixed cost: thread hand-offs, small allocations), both measured at
//! start-up ([`MachineRate::measure`]). Larger batches run faster than the mid-size one and single
//! wide runs slower (bench/README.md), so the estimate is good to a small factor, not more.
//!
//! # Assignment
//! Longest batch first: batches in order of decreasing cost (ties: by their first cache key), each
//! to the shard with the least cost so far (ties: the lowest shard). It depends on the specs only,
//! which is what job arrays need (`run --shard I/N`). Processes on one machine (`run --jobs`) take
//! the batches in the same order but dynamically instead ([`run_claimed`]), so a wrong estimate
//! leaves no process idle while another has several batches to go.

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
    let (n, rp, t) = (p.n as f64, p.r_prime as f64, p.iterations as f64);
    let per_iteration = match p.operator {
        OperatorModel::Gaussian => 4.0 * p.m as f64 * n * (n + 1.0) / 2.0 + 4.0 * n * n * rp,
        _ => 4.0 * most_observations(p) as f64 * rp + 4.0 * n * rp,
    };
    let logged = (p.iterations / p.log_every + 1) as f64;
    t * per_iteration + logged * 2.0 * n * n * rp
}

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
/// first. A batch is claimed by creating the file `claims/<its first cache key>` with
/// `create_new` (O_CREAT | O_EXCL: of the processes that try, exactly one creates it), so
/// processes started together with one `claims` directory share the batches dynamically: a process
/// that is free takes the next unclaimed batch, however far the estimated costs are from the real
/// ones (runs that stop at a target error end long before their budget). `run --jobs` uses it with
/// a fresh temporary directory per invocation; the split is not reproducible, but the bits are
/// (a run's numbers depend only on its point and its batch's kernel).
pub fn run_claimed(
    configs: &[Config],
    plan: &Plan,
    claims: &Path,
    cache_dir: &Path,
    progress: &dyn crate::Progress,
) -> std::io::Result<Claimed> {
    let mut points: Vec<Option<Vec<RunPoint>>> = vec![None; configs.len()];
    let mut claimed = Claimed::default();
    for i in longest_first(&plan.batches) {
        let batch = &plan.batches[i];
        let claim = claims.join(&batch.keys[0]);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&claim)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("cannot claim a batch in {}: {e}", claims.display()),
                ))
            }
        }
        let all =
            points[batch.spec_index].get_or_insert_with(|| expand(&configs[batch.spec_index]));
        let mine: Vec<RunPoint> = batch.runs.iter().map(|&r| all[r].clone()).collect();
        let (_, stats) = execute(&mine, Some(cache_dir), progress, crate::resources())?;
        claimed.batches += 1;
        claimed.cache.hits += stats.hits;
        claimed.cache.computed += stats.computed;
        claimed.cache.rejected += stats.rejected;
    }
    Ok(claimed)
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
    /// Floating-point operations per second of the engine on a mid-size batch (4 runs, n = 48,
    /// m = 1200, r' = 4), counted as in [`run_flops`].
    pub flops_per_second: f64,
    /// Seconds per iteration of a tiny single run (n = 8, m = 30, r' = 2).
    pub seconds_per_iteration: f64,
}

impl MachineRate {
    /// Measures both rates (about 0.1 s).
    pub fn measure() -> Self {
        use lowrank_core::descent::{run_gradient_descent_batch, BatchRun};
        use lowrank_core::{small_random_init, Control, IterationState, Problem, RunParams};
        let time = |n: usize, m: usize, k: usize, r_prime: usize, iterations: usize| {
            let problem =
                Problem::sample_gaussian(n, 1, m, &lowrank_core::SingularValues::Condition(1.0), 1);
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
            run_gradient_descent_batch(&problem, runs);
            start.elapsed().as_secs_f64()
        };
        let (n, m, k, r_prime, iterations) = (48usize, 1200usize, 4usize, 4usize, 40usize);
        let (nf, rp) = (n as f64, r_prime as f64);
        let flops =
            (k * iterations) as f64 * (4.0 * m as f64 * nf * (nf + 1.0) / 2.0 + 4.0 * nf * nf * rp);
        let flops_per_second = flops / time(n, m, k, r_prime, iterations);
        let tiny = 400;
        Self {
            flops_per_second,
            seconds_per_iteration: time(8, 30, 1, 2, tiny) / tiny as f64,
        }
    }
}

/// The estimated work of the batches of a plan that are not cached yet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Batches to compute.
    pub batches: usize,
    /// Runs in them.
    pub runs: usize,
    /// Their estimated floating-point operations.
    pub flops: f64,
    /// Estimated seconds (see the module docs).
    pub seconds: f64,
}

/// The [`Estimate`] of the batches of `plan` in `shard` (all if None) whose cache entries are not
/// all present in their spec's cache directory (`cache_dir_of(spec_index)`).
pub fn estimate(
    plan: &Plan,
    shard: Option<usize>,
    cache_dir_of: impl Fn(usize) -> std::path::PathBuf,
    rate: &MachineRate,
) -> Estimate {
    let mut e = Estimate {
        batches: 0,
        runs: 0,
        flops: 0.0,
        seconds: 0.0,
    };
    for b in &plan.batches {
        if shard.is_some_and(|s| s != b.shard) {
            continue;
        }
        let dir = cache_dir_of(b.spec_index);
        if b.keys
            .iter()
            .all(|k| dir.join(format!("{k}.json")).is_file())
        {
            continue;
        }
        e.batches += 1;
        e.runs += b.runs.len();
        e.flops += b.flops;
        e.seconds +=
            b.flops / rate.flops_per_second + b.iterations as f64 * rate.seconds_per_iteration;
    }
    e
}
