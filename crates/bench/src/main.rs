//! `make bench`: measures this machine's limits and the GD engine against them, prints a table and
//! writes bench/results.json.
//!
//! Per GD iteration (U ← U − μ𝒜*(𝒜(UUᵀ) − y)U, including the O(n²r') dense work) for:
//! - baseline: the operator unpacked as an m×n² matrix (numpy style), forward and adjoint as two GEMVs;
//! - packed two-pass: the m×n(n+1)/2 packed operator, two GEMVs;
//! - packed fused: one pass over the packed operator (blocked forward + adjoint), the engine's single-run path;
//! - batched k: k runs in lockstep (the engine's batch path), reported per run-iteration;
//!
//! - matrix completion (uniform sampling): ms per run-iteration of the sparse operator's pass, next
//!   to the dense Gaussian pass at the same m where that fits in memory;
//!
//! and the time of a full `make figures` (every spec, nothing cached): its batches on packed
//! operators against the time their products would take at the measured GEMM rate, and against
//! a per-batch roofline (matrix completion's batches are timed, not bounded).
//!
//! The machine is shared and its speed drifts (memory bandwidth 25–45 GB/s within minutes on one
//! machine, 35–71 on another; GEMM throughput down to 0.6× for minutes), so each instance is
//! measured in one *interleaved window*:
//! the limit probes (main-memory read bandwidth, GEMM throughput) and every method take turns,
//! round after round: a probe's or BLAS method's turn keeps the fastest call of a 0.3-s slot, an
//! engine turn is one batch of several iterations (their mean, so the engine's numbers are the
//! conservative ones).
//! A method is compared with the baseline and the limits of the same round, and the median of
//! these paired ratios over the rounds is reported; the GEMM rate of the figures' run is measured
//! just before and just after it.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use clap::Parser;
use lowrank_core::descent::{run_gradient_descent_batch, BatchRun};
use lowrank_core::operator::{Prefetch, PREFETCH_AHEAD};
use lowrank_core::packing::{packed_dim, smat_into, svec_into};
use lowrank_core::PassKernel;
use lowrank_core::{
    small_random_init, Algorithm, Control, IterationState, Observer, Problem, RunParams,
    SingularValues,
};
use ndarray::linalg::{general_mat_mul, general_mat_vec_mul};
use ndarray::{Array1, Array2};
use serde::Serialize;

/// Benchmark of the GD engine against the machine's measured limits (`make bench`).
#[derive(Parser)]
#[command(
    about = "Benchmark of the GD engine against this machine's measured limits (`make bench`): \
prints a table and writes bench/results.json"
)]
struct Cli {
    /// Output JSON file.
    #[arg(long, default_value = "bench/results.json")]
    out: std::path::PathBuf,
    /// Skip the large instance (n=200, m=10000: 1.6 GB packed, 3.2 GB unpacked).
    #[arg(long)]
    small_only: bool,
    /// Do not time a full `make figures` (once in one process and once with one process per core; 7–15 minutes each here); report the computing time
    /// recorded in results/ by the last one instead.
    #[arg(long)]
    skip_figures: bool,
    /// Internal: build one instance (n, m), run k runs of width r' for a few iterations and print
    /// the process's peak resident memory. The benchmark runs itself with this flag so that the
    /// peak is that of the engine alone.
    #[arg(long, num_args = 4, value_names = ["N", "M", "K", "R_PRIME"], hide = true)]
    memory_probe: Option<Vec<usize>>,
}

/// Peak resident memory of this process (VmHWM in /proc/self/status), in bytes.
fn peak_rss_bytes() -> Option<u64> {
    Some(experiments::proc_kib("/proc/self/status", "VmHWM:")? as u64 * 1024)
}

/// Peak memory of the engine on one instance, measured in a child process.
#[derive(Serialize)]
struct Memory {
    n: usize,
    m: usize,
    k: usize,
    r_prime: usize,
    operator_bytes: u128,
    batch_buffer_bytes: u128,
    peak_rss_bytes: u64,
    peak_over_operator: f64,
    allowed_bytes: u128,
}

fn memory_probe_child(n: usize, m: usize, k: usize, r_prime: usize) {
    experiments::set_blas_threads(1); // as the experiments run (see `Parallelism`)
    let problem = Problem::sample_gaussian(n, 5.min(n), m, &SingularValues::Condition(2.0), 1);
    black_box(engine_once(&problem, k, r_prime, 3));
    match peak_rss_bytes() {
        Some(b) => println!("{b}"),
        None => std::process::exit(1),
    }
}

fn measure_memory(n: usize, m: usize, k: usize, r_prime: usize) -> Option<Memory> {
    let exe = std::env::current_exe().ok()?;
    let args = [n, m, k, r_prime].map(|v| v.to_string());
    let out = std::process::Command::new(exe)
        .arg("--memory-probe")
        .args(&args)
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let peak: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    let operator = lowrank_core::operator_bytes(n, m);
    let buffers = lowrank_core::descent::batch_workspace_bytes(n, m, k, r_prime);
    Some(Memory {
        n,
        m,
        k,
        r_prime,
        operator_bytes: operator,
        batch_buffer_bytes: buffers,
        peak_rss_bytes: peak,
        peak_over_operator: peak as f64 / operator as f64,
        allowed_bytes: operator * 13 / 10 + buffers,
    })
}

/// One method on one instance. Ratios are paired: each round's time against the baseline's time
/// and the limit measured in the same round, then the median over the rounds.
#[derive(Serialize)]
struct Row {
    instance: String,
    method: String,
    /// Runs in lockstep for the engine's methods (1: the single-run path); None for the BLAS ones.
    engine_runs: Option<usize>,
    /// Fastest round (ms per run-iteration).
    ms_per_run_iteration: f64,
    /// Every round, in order (ms per run-iteration).
    ms_per_round: Vec<f64>,
    /// Median over rounds of (baseline time / this time).
    speedup_vs_baseline: f64,
    /// Rate of the fastest round, in `unit`.
    achieved: f64,
    unit: &'static str,
    /// Median over rounds of (this round's rate / this round's limit in `unit`).
    fraction_of_limit: f64,
}

/// The limits measured in one instance's interleaved window.
#[derive(Serialize)]
struct InstanceLimits {
    instance: String,
    rounds: usize,
    /// Summing 1 GiB on all cores ([`sum_streams`]; GB/s): best and worst round.
    sum_gb_s: [f64; 2],
    /// BLAS GEMV over 400 MB on all cores (GB/s): best and worst round.
    gemv_gb_s: [f64; 2],
    /// The bandwidth limit of each round: the best main-memory read rate of the round (the
    /// probes, and the baselines' GEMV passes if their matrix is ≥ MAIN_MEMORY_FACTOR × the
    /// last-level cache).
    bandwidth_limit_gb_s: Vec<f64>,
    /// The rate at which this machine re-reads the packed operator (GB/s), each round: summing a
    /// buffer of its size on all cores (huge pages, like the operator); from main memory or, where
    /// it fits, partly from cache. The packed methods' limit in a round is
    /// the larger of this and the bandwidth limit.
    operator_size_read_gb_s: Vec<f64>,
    /// Whether the operator re-reads faster than main memory (the operator-size rate above the
    /// bandwidth limit by 10% or more in the median round): the instance is then (partly)
    /// cache-resident and its packed rows are measured against the operator-size rate.
    cache_resident: bool,
    /// GEMM 2000³ on all cores (GFLOP/s), each round: the compute limit of that round (the
    /// faster of OpenBLAS and faer).
    gemm_gflop_s: Vec<f64>,
    /// The two libraries' GEMM rates of each round (GFLOP/s): [OpenBLAS, faer].
    gemm_by_library_gflop_s: Vec<[f64; 2]>,
}

/// One of the issue's targets, checked on this run's numbers.
#[derive(Serialize)]
struct Target {
    what: String,
    required: String,
    measured: String,
    met: bool,
}

#[derive(Serialize)]
struct Results {
    machine: experiments::manifest::Machine,
    /// Summing 1 GiB on one thread (GB/s), measured once at the start (for context).
    read_bandwidth_gb_s_1_thread: f64,
    last_level_cache_bytes: f64,
    limits: Vec<InstanceLimits>,
    rows: Vec<Row>,
    /// GD vs ScaledGD(λ) vs PrecGD per run-iteration (target: ≤ 1.1× GD).
    algorithms: Vec<AlgorithmRow>,
    /// Matrix completion against dense Gaussian sensing at the same m.
    completion: Vec<CompletionRow>,
    figures: Option<Figures>,
    targets: Vec<Target>,
    memory: Vec<Memory>,
}

/// A full `make figures` at default sizes (every spec in experiments/, nothing cached).
#[derive(Serialize)]
struct Figures {
    /// "measured in this run" (all specs run from an empty results directory), or "from
    /// results/" (--skip-figures: the computing times recorded by the last full run).
    source: &'static str,
    /// Wall time of `experiments run` over every spec, runs and figures (s); None from results/.
    wall_seconds: Option<f64>,
    /// The same with J processes (`run --jobs J`, J = the number of cores), when there are
    /// at least two: (J, seconds). Each process gets 1/J of the cores.
    wall_seconds_jobs: Option<(usize, f64)>,
    /// The time `experiments run` estimates for all of it before computing, at the rates it
    /// measures at start-up just before the timed run (`experiments::shard::MachineRate`), and
    /// how many of the runs stop at a target error (counted at their full budget there).
    estimated_seconds: f64,
    estimated_stopping_runs: usize,
    /// Computing time of the distinct runs (s), each counted once.
    runs_seconds: f64,
    distinct_runs: usize,
    /// Flops of the runs' operator products (4·m·n(n+1)/2 per run-iteration).
    operator_flops: f64,
    /// GEMM 2000³ on all cores (GFLOP/s) just before and just after the figures' run (with
    /// --skip-figures, both entries are the one measurement made then).
    gemm_gflop_s_before_after: [f64; 2],
    /// operator_flops at the mean of those two GEMM rates (s), each batch at the share of the
    /// cores it ran on ([`Roofline::gemm_bound_seconds`]): what the runs would take at 100% of it.
    gemm_bound_seconds: f64,
    /// Each spec's computing time (s) and run count, from its manifest.
    per_spec: Vec<SpecTime>,
    /// The batches' roofline: per batch-iteration of a batch on a packed operator, the larger of
    /// its products' flops (4·m·p per active run) at the GEMM rate of the cores it ran on and one
    /// read of the operator (8·m·p bytes) at the rate those cores re-read a buffer of its size.
    roofline: Roofline,
}

/// The figures' batches against their roofline (see [`Figures::roofline`]).
#[derive(Serialize)]
struct Roofline {
    /// Computing time of the batches on a packed operator (s), from the cache.
    dense_seconds: f64,
    /// Their roofline time (s).
    dense_roofline_seconds: f64,
    /// Computing time of the other (matrix completion) batches (s), not in the roofline.
    other_seconds: f64,
    /// Batches whose thread count was not recorded (taken as all cores).
    threads_unknown: usize,
    /// The batches' operator flops at the GEMM rate of the cores each ran on (s): the GEMM bound
    /// with each batch's own share of the machine (J processes of `run --jobs` have 1/J of the cores each).
    gemm_bound_seconds: f64,
    /// The same with the columns the kernels compute instead of the runs: a run alone is one
    /// column, a batch's active runs are padded to this machine's vector width
    /// ([`computed_columns`]). Counted from the runs the cache credits to each batch, so a batch
    /// that also carried runs another spec owns is undercounted.
    padded_gemm_bound_seconds: f64,
    /// The batches with the most computing time, slowest first.
    slowest: Vec<BatchRoofline>,
}

impl Roofline {
    /// The batches on packed operators: their computing time over their GEMM bound (issue 20's
    /// figures target; matrix completion's batches have no bound and are not in it).
    fn over_gemm_bound(&self) -> f64 {
        self.dense_seconds / self.gemm_bound_seconds
    }

    /// The same against the bound of the columns computed, padding included.
    fn over_padded_gemm_bound(&self) -> f64 {
        self.dense_seconds / self.padded_gemm_bound_seconds
    }
}

/// Columns of the operator products for `active` runs of a batch of `runs`: 1 with the
/// single-input kernel, else the batch kernel's padded width on this machine (the kernel as
/// [`PassKernel::for_batch_of`] chooses it).
fn computed_columns(runs: usize, active: usize) -> usize {
    match PassKernel::for_batch_of(runs) {
        PassKernel::SingleInput => 1,
        PassKernel::Batch => lowrank_core::operator::batch_kernel::padded_width(active),
    }
}

/// One batch against its roofline.
#[derive(Serialize)]
struct BatchRoofline {
    spec: String,
    n: usize,
    m: usize,
    runs: usize,
    /// The most iterations one of its runs did.
    iterations: f64,
    seconds: f64,
    roofline_seconds: f64,
    /// Its operator products' flops over its computing time (GFLOP/s).
    gflop_s: f64,
}

/// The roofline of the figures' batches (see [`Figures::roofline`]), `gemm_gflop_s` being the
/// GEMM rate on all `cores`: a batch computed on t threads gets t/cores of it, and each operator
/// size is read once with a probe of that size on t threads.
fn roofline(
    batches: &[experiments::gallery::BatchDone],
    gemm_gflop_s: f64,
    cores: usize,
) -> Roofline {
    let mut read_gb_s: BTreeMap<(usize, usize), f64> = BTreeMap::new();
    let mut rows = Vec::new();
    let (mut dense_seconds, mut dense_roofline_seconds, mut other_seconds) = (0.0, 0.0, 0.0);
    let (mut threads_unknown, mut gemm_bound_seconds, mut padded_gemm_bound_seconds) =
        (0, 0.0, 0.0);
    for b in batches {
        if b.m == 0 {
            other_seconds += b.seconds;
            continue;
        }
        let threads = if b.threads == 0 {
            threads_unknown += 1;
            cores
        } else {
            b.threads.min(cores)
        };
        let gemm_gflop_s = gemm_gflop_s * threads as f64 / cores as f64;
        let per_run_flops = 4.0 * b.m as f64 * (b.n * (b.n + 1) / 2) as f64;
        let bytes = 8 * b.m * (b.n * (b.n + 1) / 2);
        let gb_s = *read_gb_s.entry((bytes, threads)).or_insert_with(|| {
            let probe = SumProbe::with_bytes(bytes);
            probe.gb_s(probe.seconds(threads))
        });
        let read_seconds = bytes as f64 / (gb_s * 1e9);
        // The runs leave the batch at their own iteration counts: between consecutive counts,
        // the runs still active share each pass.
        let mut its = b.iterations.clone();
        its.sort_by(f64::total_cmp);
        let (mut done, mut bound, mut flops, mut padded_flops) = (0.0, 0.0, 0.0, 0.0);
        for (j, &t) in its.iter().enumerate() {
            let active = (its.len() - j) as f64;
            let steps = t - done;
            bound += steps * (per_run_flops * active / (gemm_gflop_s * 1e9)).max(read_seconds);
            flops += steps * per_run_flops * active;
            padded_flops +=
                steps * per_run_flops * computed_columns(its.len(), its.len() - j) as f64;
            done = t;
        }
        dense_seconds += b.seconds;
        dense_roofline_seconds += bound;
        gemm_bound_seconds += flops / (gemm_gflop_s * 1e9);
        padded_gemm_bound_seconds += padded_flops / (gemm_gflop_s * 1e9);
        rows.push(BatchRoofline {
            spec: b.spec.clone(),
            n: b.n,
            m: b.m,
            runs: b.iterations.len(),
            iterations: done,
            seconds: b.seconds,
            roofline_seconds: bound,
            gflop_s: flops / b.seconds / 1e9,
        });
    }
    rows.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    rows.truncate(8);
    Roofline {
        dense_seconds,
        dense_roofline_seconds,
        other_seconds,
        threads_unknown,
        gemm_bound_seconds,
        padded_gemm_bound_seconds,
        slowest: rows,
    }
}

/// One spec's share of the figures' time.
#[derive(Serialize)]
struct SpecTime {
    name: String,
    runs: usize,
    seconds: f64,
}

/// The fastest of repeated calls of `f` within a slot of `seconds` (at least one call): on a shared
/// machine the minimum is the time the code needs, the rest is interference.
fn best_in_slot<F: FnMut()>(mut f: F, seconds: f64) -> f64 {
    let start = Instant::now();
    let mut best = f64::INFINITY;
    loop {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        if start.elapsed().as_secs_f64() >= seconds {
            return best;
        }
    }
}

/// Length of a probe's or BLAS method's turn in a round of [`interleaved`] (s).
const SLOT_SECONDS: f64 = 0.3;

/// One measurement of an interleaved window: each call takes one turn and returns the seconds of
/// one unit of work (the fastest call of a slot, or an engine batch's mean per run-iteration).
type Turn<'a> = Box<dyn FnMut() -> f64 + 'a>;

/// Runs the turns round-robin: one warm-up round (discarded), then rounds until at least
/// `min_rounds` rounds and `min_seconds` have passed. Returns every timed round's value of each
/// turn (`values[turn][round]`). Turns of one round are seconds apart, so a ratio of two turns of
/// the same round compares them under nearly the same machine state.
fn interleaved(turns: &mut [Turn<'_>], min_rounds: usize, min_seconds: f64) -> Vec<Vec<f64>> {
    for turn in turns.iter_mut() {
        turn();
    }
    let start = Instant::now();
    let mut values = vec![Vec::new(); turns.len()];
    while values[0].len() < min_rounds || start.elapsed().as_secs_f64() < min_seconds {
        for (turn, v) in turns.iter_mut().zip(values.iter_mut()) {
            v.push(turn());
        }
    }
    values
}

fn min_of(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max_of(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

/// Sum of `c` read as four streams, the way the single-input kernel reads its four rows: the
/// four contiguous quarters of `c` in steps of eight entries, each prefetched `PREFETCH_AHEAD`
/// entries ahead once per 64-byte line, with eight accumulators per stream. That reads faster than
/// one stream without prefetches, from main memory and more so from a buffer that partly stays in
/// cache, so a limit measured with one plain stream was not one (bench/README.md, twelfth
/// session).
fn sum_streams(c: &[f64]) -> f64 {
    let prefetch = Prefetch::new();
    let len = c.len() / 32 * 8;
    let parts: [&[f64]; 4] = std::array::from_fn(|q| &c[q * len..(q + 1) * len]);
    let mut acc = [[0.0f64; 8]; 4];
    for l in (0..len).step_by(8) {
        for q in 0..4 {
            prefetch.line(parts[q].as_ptr().wrapping_add(l + PREFETCH_AHEAD));
            let x = &parts[q][l..l + 8];
            for e in 0..8 {
                acc[q][e] += x[e];
            }
        }
    }
    acc.iter().flatten().sum::<f64>() + c[4 * len..].iter().sum::<f64>()
}

/// Read bandwidth probe: sums 1 GiB of f64 on a number of threads ([`sum_streams`] on each
/// thread's part).
struct SumProbe(Vec<f64>);

impl SumProbe {
    fn new() -> Self {
        Self::with_bytes(1 << 30)
    }

    /// A probe over a buffer of `bytes` (rounded down to whole f64s), in memory advised for
    /// transparent huge pages as the engine's operator is (`huge_pages::streamed_vec`; on
    /// ordinary pages the sum read 25-26 GB/s where the huge-page operator streams at 34-37).
    fn with_bytes(bytes: usize) -> Self {
        Self(lowrank_core::operator::huge_pages::streamed_vec(
            (bytes / 8).max(1),
            || 1.0,
        ))
    }

    /// Seconds of one sum on `threads` threads (fastest call of a slot).
    fn seconds(&self, threads: usize) -> f64 {
        let chunk = self.0.len().div_ceil(threads);
        best_in_slot(
            || {
                let total: f64 = std::thread::scope(|s| {
                    let hs: Vec<_> = self
                        .0
                        .chunks(chunk)
                        .map(|c| s.spawn(move || sum_streams(c)))
                        .collect();
                    hs.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
                });
                black_box(total);
            },
            SLOT_SECONDS,
        )
    }

    fn gb_s(&self, seconds: f64) -> f64 {
        (self.0.len() * 8) as f64 / seconds / 1e9
    }
}

/// Read bandwidth probe through BLAS: a GEMV over a 5000×10000 matrix (400 MB).
struct GemvProbe(Array2<f64>, Array1<f64>, Array1<f64>);

impl GemvProbe {
    fn new() -> Self {
        Self(
            Array2::from_elem((5000, 10000), 1.0),
            Array1::from_elem(10000, 0.5),
            Array1::zeros(5000),
        )
    }

    /// Seconds of one GEMV with BLAS on `cores` threads (fastest call of a slot).
    fn seconds(&mut self, cores: usize) -> f64 {
        experiments::set_blas_threads(cores);
        let Self(a, x, y) = self;
        best_in_slot(|| general_mat_vec_mul(1.0, &*a, &*x, 0.0, y), SLOT_SECONDS)
    }

    fn gb_s(&self, seconds: f64) -> f64 {
        (self.0.len() * 8) as f64 / seconds / 1e9
    }
}

/// GEMM throughput probe: C = A·B with 2000×2000 matrices, by OpenBLAS (through ndarray) and by
/// faer, each on all cores; the machine's GEMM rate is the faster of the two (on an AMD EPYC
/// Zen 5, Debian's OpenBLAS reached 115–120 GFLOP/s and faer's AVX-512 kernels more, so OpenBLAS
/// alone understated what the hardware does and the engine's batches, which use faer, showed
/// above 100% of it).
struct GemmProbe {
    a: Array2<f64>,
    b: Array2<f64>,
    c: Array2<f64>,
    fa: faer::Mat<f64>,
    fb: faer::Mat<f64>,
    fc: faer::Mat<f64>,
    /// Seconds of each call of [`Self::seconds`]: [OpenBLAS, faer].
    history: Vec<[f64; 2]>,
}

impl GemmProbe {
    const N: usize = 2000;

    fn new() -> Self {
        let n = Self::N;
        Self {
            a: Array2::from_elem((n, n), 1.0),
            b: Array2::from_elem((n, n), 0.5),
            c: Array2::zeros((n, n)),
            fa: faer::Mat::from_fn(n, n, |_, _| 1.0),
            fb: faer::Mat::from_fn(n, n, |_, _| 0.5),
            fc: faer::Mat::zeros(n, n),
            history: Vec::new(),
        }
    }

    /// Seconds of one GEMM on `cores` threads: the fastest call of OpenBLAS within `slot`
    /// seconds or of faer within another `slot` seconds, whichever is faster (both kept in
    /// `history`).
    fn seconds(&mut self, cores: usize, slot: f64) -> f64 {
        experiments::set_blas_threads(cores);
        let (a, b, c) = (&self.a, &self.b, &mut self.c);
        let openblas = best_in_slot(|| general_mat_mul(1.0, a, b, 0.0, c), slot);
        let (fa, fb, fc) = (&self.fa, &self.fb, &mut self.fc);
        let faer = best_in_slot(
            || {
                faer::linalg::matmul::matmul(
                    fc.as_mut(),
                    faer::Accum::Replace,
                    fa.as_ref(),
                    fb.as_ref(),
                    1.0,
                    faer::Par::rayon(cores),
                )
            },
            slot,
        );
        self.history.push([openblas, faer]);
        openblas.min(faer)
    }

    fn gflop_s(seconds: f64) -> f64 {
        2.0 * (Self::N as f64).powi(3) / seconds / 1e9
    }
}

/// The machine's limit probes, allocated once (1.5 GB) and reused in every window.
struct LimitProbes {
    cores: usize,
    sum: SumProbe,
    gemv: GemvProbe,
    gemm: GemmProbe,
}

/// Buffers of the hand-written iterations: UUᵀ, the (packed or unpacked) input, the residual, the
/// (packed or unpacked) adjoint, smat of the adjoint, and the step.
struct Buffers {
    uut: Array2<f64>,
    w: Array1<f64>,
    r: Array1<f64>,
    g: Array1<f64>,
    adj: Array2<f64>,
    step: Array2<f64>,
}

impl Buffers {
    fn new(n: usize, r_prime: usize, m: usize, input_len: usize) -> Self {
        Self {
            uut: Array2::zeros((n, n)),
            w: Array1::zeros(input_len),
            r: Array1::zeros(m),
            g: Array1::zeros(input_len),
            adj: Array2::zeros((n, n)),
            step: Array2::zeros((n, r_prime)),
        }
    }
}

/// The bench's instances are dense Gaussian ones.
fn packed_of(problem: &Problem) -> &lowrank_core::PackedOperator {
    problem
        .operator
        .as_packed()
        .expect("Problem::sample_gaussian builds a packed operator")
}

/// One GD iteration with the operator unpacked (m×n², row i = vec(A_i)/√m) and two GEMVs.
fn baseline_iteration(
    dense: &Array2<f64>,
    y: &Array1<f64>,
    u: &mut Array2<f64>,
    ws: &mut Buffers,
    mu: f64,
) {
    let Buffers {
        uut, r, g, step, ..
    } = ws;
    general_mat_mul(1.0, &*u, &u.t(), 0.0, uut);
    let z = uut.as_slice().expect("contiguous");
    let z = ndarray::ArrayView1::from(z);
    general_mat_vec_mul(1.0, dense, &z, 0.0, r);
    *r -= y;
    general_mat_vec_mul(1.0, &dense.t(), &*r, 0.0, g);
    let n = u.nrows();
    let gm = g.view().into_shape_with_order((n, n)).expect("n² entries");
    general_mat_mul(1.0, &gm, &*u, 0.0, step);
    u.scaled_add(-mu, step);
}

/// One GD iteration with the packed operator and two GEMVs.
fn two_pass_iteration(problem: &Problem, u: &mut Array2<f64>, ws: &mut Buffers, mu: f64) {
    let Buffers {
        uut,
        w,
        r,
        g,
        adj,
        step,
    } = ws;
    general_mat_mul(1.0, &*u, &u.t(), 0.0, uut);
    svec_into(uut.view(), w.view_mut());
    packed_of(problem).apply_packed_into(w.view(), r.view_mut());
    *r -= &problem.y;
    packed_of(problem).adjoint_packed_into(r.view(), g.view_mut());
    smat_into(g.view(), adj.view_mut());
    general_mat_mul(1.0, &*adj, &*u, 0.0, step);
    u.scaled_add(-mu, step);
}

struct Nothing;
impl Observer for Nothing {
    fn observe(&mut self, _: &IterationState<'_>) -> Control {
        Control::Continue
    }
}

/// Seconds per run-iteration of the engine with `k` runs of `algorithm` in lockstep over
/// `iterations` iterations.
fn engine_once_with(
    problem: &Problem,
    algorithm: Algorithm,
    k: usize,
    r_prime: usize,
    iterations: usize,
) -> f64 {
    let n = problem.truth.n();
    let mut obs: Vec<Nothing> = (0..k).map(|_| Nothing).collect();
    let runs = obs
        .iter_mut()
        .enumerate()
        .map(|(i, o)| BatchRun {
            params: RunParams::new(0.25, iterations, iterations).with_algorithm(algorithm),
            u0: small_random_init(n, r_prime, 1e-3, 100 + i as u64),
            observer: o,
        })
        .collect();
    let start = Instant::now();
    black_box(run_gradient_descent_batch(problem, runs));
    // T iterations make T + 1 operator passes (the last computes U_T's residual).
    start.elapsed().as_secs_f64() / ((iterations + 1) * k) as f64
}

/// ms per run-iteration of GD, ScaledGD(λ) and PrecGD at the default instance, single and in
/// batches of 32, rounds interleaved so that the ratios to GD compare like with like.
#[derive(Serialize)]
struct AlgorithmRow {
    algorithm: String,
    engine_runs: usize,
    /// Fastest round (ms per run-iteration).
    ms_per_run_iteration: f64,
    /// Median over rounds of (this round's time / GD's time in the same round).
    ratio_to_gd: f64,
}

fn algorithm_costs(rounds: usize) -> Vec<AlgorithmRow> {
    eprintln!("algorithms: GD vs ScaledGD(λ) vs PrecGD at n=100 r=3 r'=10 m=3000 …");
    let problem = Problem::sample_gaussian(100, 3, 3000, &SingularValues::Condition(2.0), 1);
    let algorithms = [
        Algorithm::Gd,
        Algorithm::ScaledGd { lambda: 1e-2 },
        Algorithm::PrecGd { c: 1.0 },
    ];
    let mut rows = Vec::new();
    for (k, iterations) in [(1usize, 300usize), (32, 40)] {
        let mut times = vec![Vec::new(); algorithms.len()];
        for _ in 0..rounds {
            for (j, &a) in algorithms.iter().enumerate() {
                times[j].push(engine_once_with(&problem, a, k, 10, iterations));
            }
        }
        for (j, a) in algorithms.iter().enumerate() {
            let ratios = (0..rounds).map(|i| times[j][i] / times[0][i]);
            rows.push(AlgorithmRow {
                algorithm: a.display_name(),
                engine_runs: k,
                ms_per_run_iteration: 1e3 * min_of(&times[j]),
                ratio_to_gd: median(ratios),
            });
        }
    }
    rows
}

/// GD on matrix completion (uniform sampling at rate p, r = 5, κ = 2) against dense Gaussian
/// sensing with the same number of measurements m = |Ω|.
#[derive(Serialize)]
struct CompletionRow {
    n: usize,
    r_prime: usize,
    p: f64,
    /// |Ω| of the instance (also the m of the dense comparison).
    observations: usize,
    engine_runs: usize,
    /// Fastest of the rounds (ms per run-iteration).
    completion_ms_per_run_iteration: f64,
    /// Bytes of the packed Gaussian operator at that m (m·n(n+1)/2·8).
    dense_operator_bytes: u128,
    /// The dense pass, if its operator fits in the memory budget (else None).
    dense_ms_per_run_iteration: Option<f64>,
}

fn completion_costs(rounds: usize) -> Vec<CompletionRow> {
    use lowrank_core::operator::CompletionOperator;
    use lowrank_core::seeds::{rng, Stream};
    use lowrank_core::GroundTruth;
    let budget = experiments::memory_budget().unwrap_or(0);
    let mut rows = Vec::new();
    for (n, r_prime, p) in [(1000usize, 20usize, 0.05), (200, 20, 0.05)] {
        eprintln!(
            "completion: n={n} r'={r_prime} p={p} against dense Gaussian sensing at m = |Ω| …"
        );
        let truth = GroundTruth::sample(n, 5, &SingularValues::Condition(2.0), 1);
        let op = CompletionOperator::sample_uniform(n, p, &mut rng(1, Stream::Operator));
        let problem = Problem::new(truth, op);
        let m = problem.operator.m();
        let dense_bytes = lowrank_core::operator_bytes(n, m);
        let dense = (dense_bytes < budget)
            .then(|| Problem::sample_gaussian(n, 5, m, &SingularValues::Condition(2.0), 1));
        for (k, iterations) in [(1usize, 50usize), (8, 20)] {
            let mut sparse_times = Vec::new();
            let mut dense_times = Vec::new();
            for _ in 0..rounds {
                sparse_times.push(engine_once(&problem, k, r_prime, iterations));
                if let Some(d) = &dense {
                    dense_times.push(engine_once(d, k, r_prime, iterations));
                }
            }
            rows.push(CompletionRow {
                n,
                r_prime,
                p,
                observations: m,
                engine_runs: k,
                completion_ms_per_run_iteration: 1e3 * min_of(&sparse_times),
                dense_operator_bytes: dense_bytes,
                dense_ms_per_run_iteration: dense.as_ref().map(|_| 1e3 * min_of(&dense_times)),
            });
        }
    }
    rows
}

/// Seconds per run-iteration of the engine with `k` GD runs in lockstep over `iterations` iterations.
fn engine_once(problem: &Problem, k: usize, r_prime: usize, iterations: usize) -> f64 {
    engine_once_with(problem, Algorithm::Gd, k, r_prime, iterations)
}

/// The instances measured: the default one, and the large one unless `--small-only`.
const INSTANCES: [Instance; 2] = [
    Instance {
        name: "default n=100 r=3 r'=10 m=3000",
        n: 100,
        r: 3,
        r_prime: 10,
        m: 3000,
    },
    Instance {
        name: "large n=200 r=5 r'=20 m=10000",
        n: 200,
        r: 5,
        r_prime: 20,
        m: 10000,
    },
];

/// An instance to measure.
struct Instance {
    name: &'static str,
    n: usize,
    r: usize,
    r_prime: usize,
    m: usize,
}

/// A pass reads from main memory (for the bandwidth limit) if its matrix is at least this many
/// times the last-level cache.
const MAIN_MEMORY_FACTOR: f64 = 10.0;

/// The largest cache of CPU 0 in bytes (from /sys; 64 MiB if unknown, which is larger than the
/// caches of current CPUs, so the bandwidth limit then only comes from the larger passes).
fn last_level_cache_bytes() -> f64 {
    let sizes = (0..8).filter_map(|i| {
        let path = format!("/sys/devices/system/cpu/cpu0/cache/index{i}/size");
        let text = std::fs::read_to_string(path).ok()?;
        let text = text.trim();
        let (num, mult) = match text.strip_suffix('K') {
            Some(k) => (k, 1024.0),
            None => match text.strip_suffix('M') {
                Some(mb) => (mb, 1024.0 * 1024.0),
                None => (text, 1.0),
            },
        };
        Some(num.parse::<f64>().ok()? * mult)
    });
    sizes.reduce(f64::max).unwrap_or(64.0 * 1024.0 * 1024.0)
}

/// Batch widths measured per instance.
const BATCH_WIDTHS: [usize; 4] = [4, 16, 32, 64];

/// Order of the turns in an instance's window: the three limit probes, then the methods (baseline,
/// packed two-pass, the engine's single run, then one batch per [`BATCH_WIDTHS`]) in table order.
const TURN_SUM: usize = 0;
const TURN_GEMV: usize = 1;
const TURN_GEMM: usize = 2;
const TURN_BASELINE: usize = 3;
const TURN_TWO_PASS: usize = 4;
/// After the batches: the sum over a buffer of the packed operator's size.
const TURN_OPERATOR_SIZE: usize = TURN_TWO_PASS + 2 + BATCH_WIDTHS.len();

/// Measures one instance in one interleaved window (see the module docs): the limit probes, the
/// baseline, the packed two-pass, the engine's single-run path and its batches of
/// [`BATCH_WIDTHS`] take turns.
fn bench_instance(
    inst: &Instance,
    probes: &mut LimitProbes,
    llc: f64,
) -> (InstanceLimits, Vec<Row>) {
    let Instance {
        name,
        n,
        r,
        r_prime,
        m,
    } = *inst;
    eprintln!("instance {name}: building (n={n}, r={r}, r'={r_prime}, m={m}) …");
    let problem = Problem::sample_gaussian(n, r, m, &SingularValues::Condition(2.0), 1);
    let p = packed_dim(n);
    let mu = 0.25;
    let u0 = small_random_init(n, r_prime, 1e-3, 2);
    let large = m * n * n > 100_000_000;

    // Baseline: unpacked m×n².
    let mut dense = Array2::<f64>::zeros((m, n * n));
    for (i, mut row) in dense.rows_mut().into_iter().enumerate() {
        let a = packed_of(&problem).measurement_matrix(i) / (m as f64).sqrt();
        row.assign(&ndarray::ArrayView1::from(
            a.as_slice().expect("contiguous"),
        ));
    }
    // The BLAS baselines get OpenBLAS on every core; the engine uses rayon (see `Parallelism`).
    let LimitProbes {
        cores,
        sum,
        gemv,
        gemm,
    } = probes;
    let cores = *cores;
    let (mut u_base, mut ws_base) = (u0.clone(), Buffers::new(n, r_prime, m, n * n));
    let (mut u_two, mut ws_two) = (u0.clone(), Buffers::new(n, r_prime, m, p));
    // Iteration counts of the engine's turns, from a first estimate of one packed iteration.
    experiments::set_blas_threads(cores);
    let t_two = best_in_slot(
        || two_pass_iteration(&problem, &mut u_two, &mut ws_two, mu),
        SLOT_SECONDS,
    );
    let turn_seconds = if large { 1.3 } else { 0.7 };
    let iters_single = ((turn_seconds / t_two.max(1e-4)) as usize).clamp(10, 400);
    // At least 10 iterations: a batch's first pass allocates and first touches its buffers, and
    // the turn should measure the steady state.
    let iters_batch =
        |k: usize| ((turn_seconds / (t_two * k as f64 / 4.0)).max(10.0) as usize).min(200);

    eprintln!("instance {name}: interleaved window …");
    let operator_size = SumProbe::with_bytes(m * p * 8);
    let values = {
        let (problem, dense, sum, operator_size) = (&problem, &dense, &*sum, &operator_size);
        // In the order of the TURN_* constants.
        let mut turns: Vec<Turn<'_>> = vec![
            Box::new(move || sum.seconds(cores)),
            Box::new(|| gemv.seconds(cores)),
            Box::new(|| gemm.seconds(cores, SLOT_SECONDS)),
            Box::new(|| {
                experiments::set_blas_threads(cores);
                best_in_slot(
                    || baseline_iteration(dense, &problem.y, &mut u_base, &mut ws_base, mu),
                    SLOT_SECONDS,
                )
            }),
            Box::new(|| {
                experiments::set_blas_threads(cores);
                best_in_slot(
                    || two_pass_iteration(problem, &mut u_two, &mut ws_two, mu),
                    SLOT_SECONDS,
                )
            }),
            Box::new(move || {
                experiments::set_blas_threads(1);
                // This turn follows the BLAS turns: let OpenBLAS's idle threads stop spinning
                // (untimed) so that they do not compete with rayon's (see `run::Parallelism`).
                std::thread::sleep(std::time::Duration::from_millis(200));
                engine_once(problem, 1, r_prime, iters_single)
            }),
        ];
        for k in BATCH_WIDTHS {
            let iters = iters_batch(k);
            turns.push(Box::new(move || {
                experiments::set_blas_threads(1);
                engine_once(problem, k, r_prime, iters)
            }));
        }
        debug_assert_eq!(turns.len(), TURN_OPERATOR_SIZE);
        turns.push(Box::new(|| operator_size.seconds(cores)));
        interleaved(&mut turns, 3, if large { 40.0 } else { 15.0 })
    };
    drop(dense);
    let rounds = values[TURN_SUM].len();

    // The limits of each round. The GEMV passes of the baseline and the packed two-pass are
    // memory-bound reads too: if they read faster than the probes, their rate is the limit. Only
    // passes over a matrix of at least MAIN_MEMORY_FACTOR × the last-level cache count: on a
    // smaller one the second pass of an iteration partly reads from cache (n=100: 121 MB packed
    // vs 32 MB of L3 here read at up to 38.6 GB/s, above every main-memory probe), which is not a
    // main-memory rate.
    let bytes_dense = (2 * m * n * n * 8) as f64;
    let bytes_packed = (m * p * 8) as f64;
    let from_memory = |bytes: f64| bytes >= MAIN_MEMORY_FACTOR * llc;
    let bandwidth: Vec<f64> = (0..rounds)
        .map(|i| {
            let mut bw = sum
                .gb_s(values[TURN_SUM][i])
                .max(gemv.gb_s(values[TURN_GEMV][i]));
            if from_memory(bytes_dense / 2.0) {
                bw = bw.max(bytes_dense / values[TURN_BASELINE][i] / 1e9);
            }
            if from_memory(bytes_packed) {
                bw = bw.max(2.0 * bytes_packed / values[TURN_TWO_PASS][i] / 1e9);
            }
            bw
        })
        .collect();
    // The packed operator's re-read rate in a round: the sum over a buffer of its size (on huge
    // pages, like the operator). Not the two-pass GEMVs' rate: they read the operator twice per
    // iteration, the second time partly from cache, so theirs is not a one-read rate.
    let operator_read: Vec<f64> = (0..rounds)
        .map(|i| operator_size.gb_s(values[TURN_OPERATOR_SIZE][i]))
        .collect();
    drop(operator_size);
    let cache_resident = median((0..rounds).map(|i| operator_read[i] / bandwidth[i])) >= 1.1;
    let packed_limit: Vec<f64> = (0..rounds)
        .map(|i| bandwidth[i].max(operator_read[i]))
        .collect();
    let gemm_rate: Vec<f64> = values[TURN_GEMM]
        .iter()
        .map(|&t| GemmProbe::gflop_s(t))
        .collect();
    // Rates: best (highest) and worst (lowest) round.
    let range = |v: Vec<f64>| [max_of(&v), min_of(&v)];
    let by_library = gemm.history[gemm.history.len() - rounds..]
        .iter()
        .map(|t| t.map(GemmProbe::gflop_s))
        .collect();
    let limits = InstanceLimits {
        instance: name.to_string(),
        rounds,
        sum_gb_s: range(values[TURN_SUM].iter().map(|&t| sum.gb_s(t)).collect()),
        gemv_gb_s: range(values[TURN_GEMV].iter().map(|&t| gemv.gb_s(t)).collect()),
        bandwidth_limit_gb_s: bandwidth.clone(),
        operator_size_read_gb_s: operator_read,
        cache_resident,
        gemm_gflop_s: gemm_rate.clone(),
        gemm_by_library_gflop_s: by_library,
    };

    // Each method against the baseline and the limit of the same round (paired), median over
    // the rounds; the time shown is the fastest round.
    let flops = 4.0 * (m * p) as f64; // forward + adjoint, per run
    let methods: Vec<(String, Option<usize>, f64, &'static str)> = [
        (
            "baseline: unpacked m×n², two GEMV passes".to_string(),
            None,
            bytes_dense,
            "GB/s",
        ),
        (
            "packed, two GEMV passes".to_string(),
            None,
            2.0 * bytes_packed,
            "GB/s",
        ),
        (
            "packed, fused one pass (engine, k = 1)".to_string(),
            Some(1),
            bytes_packed,
            "GB/s",
        ),
    ]
    .into_iter()
    .chain(BATCH_WIDTHS.map(|k| {
        (
            format!("batched k = {k} (engine, per run-iteration)"),
            Some(k),
            flops,
            "GFLOP/s",
        )
    }))
    .collect();
    let rows = methods
        .into_iter()
        .enumerate()
        .map(|(j, (method, engine_runs, work, unit))| {
            let times = &values[TURN_BASELINE + j];
            // The packed passes (two-pass and fused) read the packed operator: their limit is
            // the rate at which this machine re-reads that many bytes, if above main memory's.
            let packed =
                j == TURN_TWO_PASS - TURN_BASELINE || j == TURN_TWO_PASS + 1 - TURN_BASELINE;
            let limit = if unit != "GB/s" {
                &gemm_rate
            } else if packed {
                &packed_limit
            } else {
                &bandwidth
            };
            let t = min_of(times);
            Row {
                instance: name.to_string(),
                method,
                engine_runs,
                ms_per_run_iteration: t * 1e3,
                ms_per_round: times.iter().map(|t| t * 1e3).collect(),
                speedup_vs_baseline: median(
                    (0..rounds).map(|i| values[TURN_BASELINE][i] / times[i]),
                ),
                achieved: work / t / 1e9,
                unit,
                fraction_of_limit: median((0..rounds).map(|i| work / times[i] / 1e9 / limit[i])),
            }
        })
        .collect();
    (limits, rows)
}

/// The median (mean of the middle two for an even count).
fn median(v: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = v.collect();
    v.sort_by(f64::total_cmp);
    let k = v.len();
    if k == 0 {
        f64::NAN
    } else if k % 2 == 1 {
        v[k / 2]
    } else {
        0.5 * (v[k / 2 - 1] + v[k / 2])
    }
}

/// A full `make figures`: with `measure`, runs the `experiments` binary next to this one over every
/// spec in experiments/ into an empty temporary results directory (removed afterwards) and times
/// it; otherwise reads the computing times recorded in results/ by the last full run. The GEMM
/// rate is measured just before and just after (both before, without `measure`).
fn figures(measure: bool, probes: &mut LimitProbes) -> Option<Figures> {
    let configs: Vec<_> = experiments::spec::files_in(std::path::Path::new("experiments"))
        .unwrap_or_default()
        .iter()
        .filter_map(|p| experiments::spec::load(p, false).ok())
        .collect();
    if configs.is_empty() {
        eprintln!("no specs in experiments/: run the benchmark from the workspace root");
        return None;
    }
    let cores = probes.cores;
    let plan = experiments::shard::plan(&configs, 1);
    let estimate =
        experiments::shard::estimate(&plan.batches, &experiments::shard::MachineRate::measure());
    let mut gemm_rate = || GemmProbe::gflop_s(probes.gemm.seconds(cores, 1.0));
    let gemm_before = gemm_rate();
    let summary = |layout: &experiments::Layout,
                   wall_seconds: Option<f64>,
                   wall_seconds_jobs: Option<(usize, f64)>,
                   gemm_after: f64| {
        let distinct = experiments::gallery::distinct_runs(&configs, layout)?;
        let gemm_gflop_s = 0.5 * (gemm_before + gemm_after);
        let batches = experiments::gallery::batches_done(&configs, layout);
        let roofline = roofline(&batches, gemm_gflop_s, cores);
        Some(Figures {
            source: if measure {
                "measured in this run"
            } else {
                "from results/"
            },
            wall_seconds,
            wall_seconds_jobs,
            estimated_seconds: estimate.seconds,
            estimated_stopping_runs: estimate.stopping_runs,
            runs_seconds: distinct.seconds,
            distinct_runs: distinct.runs,
            operator_flops: distinct.operator_flops,
            gemm_gflop_s_before_after: [gemm_before, gemm_after],
            gemm_bound_seconds: roofline.gemm_bound_seconds,
            per_spec: configs
                .iter()
                .filter_map(|c| {
                    let (seconds, runs, _) = experiments::gallery::run_cost(layout, c)?;
                    Some(SpecTime {
                        name: c.name.clone(),
                        runs,
                        seconds,
                    })
                })
                .collect(),
            roofline,
        })
    };
    if !measure {
        return summary(&experiments::Layout::default(), None, None, gemm_before);
    }
    let exe = std::env::current_exe().ok()?.with_file_name("experiments");
    let tmp = std::env::temp_dir().join(format!("lowrank-bench-figures-{}", std::process::id()));
    let layout = experiments::Layout {
        results: tmp.join("results"),
        figures: tmp.join("figures"),
    };
    eprintln!(
        "timing a full `make figures` ({} specs, into {}) …",
        configs.len(),
        tmp.display()
    );
    let timed = |layout: &experiments::Layout, jobs: usize| {
        let start = Instant::now();
        let status = std::process::Command::new(&exe)
            .arg("--results")
            .arg(&layout.results)
            .arg("--figures")
            .arg(&layout.figures)
            .arg("run")
            .arg(format!("--jobs={jobs}"))
            .args(configs.iter().map(|c| &c.file))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => Some(start.elapsed().as_secs_f64()),
            _ => {
                eprintln!(
                    "error: {} run --jobs={jobs} failed ({status:?}); figures not timed",
                    exe.display()
                );
                None
            }
        }
    };
    let wall = timed(&layout, 1);
    let gemm_after = gemm_rate();
    let jobs_wall = (cores >= 2 && wall.is_some())
        .then(|| {
            eprintln!("timing it again with {cores} processes (run --jobs {cores}) …");
            let layout = experiments::Layout {
                results: tmp.join("results-jobs"),
                figures: tmp.join("figures-jobs"),
            };
            timed(&layout, cores).map(|s| (cores, s))
        })
        .flatten();
    let out = wall.and_then(|w| summary(&layout, Some(w), jobs_wall, gemm_after));
    let _ = std::fs::remove_dir_all(&tmp);
    out
}

fn main() {
    let cli = Cli::parse();
    if let Some(v) = cli.memory_probe.as_deref() {
        memory_probe_child(v[0], v[1], v[2], v[3]);
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!("allocating the limit probes (1.5 GB) …");
    let mut probes = LimitProbes {
        cores,
        sum: SumProbe::new(),
        gemv: GemvProbe::new(),
        gemm: GemmProbe::new(),
    };
    let bw1 = probes.sum.gb_s(probes.sum.seconds(1));
    let llc = last_level_cache_bytes();
    let instances = &INSTANCES[..if cli.small_only { 1 } else { 2 }];
    let (mut limits, mut rows) = (Vec::new(), Vec::new());
    for inst in instances {
        let (l, r) = bench_instance(inst, &mut probes, llc);
        limits.push(l);
        rows.extend(r);
    }
    let algorithms = algorithm_costs(5);
    let completion = completion_costs(3);
    let figures = figures(!cli.skip_figures, &mut probes);
    drop(probes);
    let targets = targets(&rows, figures.as_ref());
    let results = Results {
        machine: experiments::manifest::Machine::current(),
        read_bandwidth_gb_s_1_thread: bw1,
        last_level_cache_bytes: llc,
        limits,
        rows,
        algorithms,
        completion,
        figures,
        targets,
        memory: memory_cases(cli.small_only)
            .into_iter()
            .filter_map(|(n, m, k, rp)| measure_memory(n, m, k, rp))
            .collect(),
    };
    print_results(&results, &cli);
    let json = serde_json::to_vec_pretty(&results).expect("serializes");
    if let Err(e) = experiments::fsutil::write_atomic(&cli.out, &json) {
        eprintln!("error: writing {}: {e}", cli.out.display());
        std::process::exit(2);
    }
    println!("{}", cli.out.display());
}

/// Targets of the engine's rows: (issue, k, ≥ × baseline (0: none), ≥ fraction of the row's limit,
/// only at this n (None: every instance)). Issue 5: the single run ≥ 3× the baseline at ≥ 70% of the
/// bandwidth limit, k = 32 ≥ 10× at ≥ 60% of GEMM; issue 20: k = 32 at ≥ 70% of GEMM, the single run
/// at n = 200 at ≥ 90% of the bandwidth limit.
const ENGINE_TARGETS: [(u32, usize, f64, f64, Option<usize>); 4] = [
    (5, 1, 3.0, 0.70, None),
    (5, 32, 10.0, 0.60, None),
    (20, 32, 0.0, 0.70, None),
    (20, 1, 0.0, 0.90, Some(200)),
];

/// The issues' targets on this run's numbers: [`ENGINE_TARGETS`] per instance; a full
/// `make figures` whose runs take at most 1.5× their GEMM bound (issue 20) and at most 5 minutes
/// (issue 5). A target whose row is missing (not measured in this run) counts as missed.
fn targets(rows: &[Row], figures: Option<&Figures>) -> Vec<Target> {
    let mut out = Vec::new();
    for issue in [5, 20] {
        // Every instance, measured or not (`--small-only` leaves the large one out: missed).
        for inst in &INSTANCES {
            let wanted = ENGINE_TARGETS
                .iter()
                .filter(|t| t.0 == issue && t.4.is_none_or(|n| n == inst.n));
            for &(_, k, speedup, fraction, _) in wanted {
                let row = rows
                    .iter()
                    .find(|r| r.instance == inst.name && r.engine_runs == Some(k));
                let times = |r: &Row| {
                    if speedup > 0.0 {
                        format!("{:.1}×, ", r.speedup_vs_baseline)
                    } else {
                        String::new()
                    }
                };
                out.push(Target {
                    what: format!(
                        "{}: engine, k = {k}{}",
                        inst.name,
                        if issue == 5 { "" } else { " (issue 20)" }
                    ),
                    required: format!(
                        "{}≥ {:.0}% of limit",
                        if speedup > 0.0 {
                            format!("≥ {speedup}× baseline, ")
                        } else {
                            String::new()
                        },
                        100.0 * fraction
                    ),
                    measured: row.map_or("not measured in this run".into(), |r| {
                        format!("{}{:.0}%", times(r), 100.0 * r.fraction_of_limit)
                    }),
                    met: row.is_some_and(|r| {
                        r.speedup_vs_baseline >= speedup && r.fraction_of_limit >= fraction
                    }),
                });
            }
        }
    }
    let ratio = figures.map(|f| f.roofline.over_gemm_bound());
    let padded = figures.map(|f| f.roofline.over_padded_gemm_bound());
    out.push(Target {
        what: "full `make figures`: its packed-operator batches' computing time against their \
               GEMM bound (issue 20)"
            .into(),
        required: "≤ 1.5×".into(),
        measured: ratio.zip(padded).map_or("not measured".into(), |(x, y)| {
            format!("{x:.2}× ({y:.2}× against the columns computed, padding included)")
        }),
        met: ratio.is_some_and(|x| x <= 1.5),
    });
    let wall = figures.and_then(|f| f.wall_seconds);
    out.push(Target {
        what: "full `make figures` at default sizes".into(),
        required: "≤ 5 min".into(),
        measured: wall.map_or("not measured in this run".into(), |w| {
            format!("{:.2} min", w / 60.0)
        }),
        met: wall.is_some_and(|w| w <= 300.0),
    });
    out
}

fn print_results(results: &Results, cli: &Cli) {
    println!(
        "machine: {} ({} cores), last-level cache {}; read bandwidth on one thread {:.1} GB/s",
        results.machine.cpu,
        results.machine.cpus,
        experiments::spec::human_bytes(results.last_level_cache_bytes as u128),
        results.read_bandwidth_gb_s_1_thread,
    );
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "algorithms at n=100 r=3 r'=10 m=3000 (ms per run-iteration, fastest of 5 interleaved \
         rounds; ratio to GD: median over rounds; target ≤ 1.1):"
    );
    for a in &results.algorithms {
        println!(
            "  {:<18} k = {:>2}: {:.4} ms, {:.3}× GD",
            a.algorithm, a.engine_runs, a.ms_per_run_iteration, a.ratio_to_gd
        );
    }
    println!(
        "matrix completion, uniform sampling, GD (ms per run-iteration, fastest of 3 rounds), next \
         to dense Gaussian sensing with m = |Ω| where its packed operator fits in memory:"
    );
    for c in &results.completion {
        let dense = match c.dense_ms_per_run_iteration {
            Some(ms) => format!(
                "dense Gaussian {ms:.3} ms ({:.0}× the completion pass)",
                ms / c.completion_ms_per_run_iteration
            ),
            None => format!(
                "dense Gaussian does not fit (its operator needs {})",
                experiments::spec::human_bytes(c.dense_operator_bytes)
            ),
        };
        println!(
            "  n = {:>4}, r' = {}, p = {}, |Ω| = {:>6}, k = {}: completion {:.3} ms; {dense}",
            c.n, c.r_prime, c.p, c.observations, c.engine_runs, c.completion_ms_per_run_iteration
        );
    }
    println!(
        "limits, measured in each instance's interleaved window (best round, worst round in \
         brackets); a round's bandwidth limit is its best main-memory read rate (the probes, and \
         the baselines' GEMV passes over ≥ {MAIN_MEMORY_FACTOR}× the last-level cache):"
    );
    for l in &results.limits {
        println!(
            "  {} ({} rounds): sum {:.1} [{:.1}] GB/s, BLAS GEMV 400 MB {:.1} [{:.1}] GB/s; \
             bandwidth limit per round {} GB/s; re-reading the packed operator (a sum over a huge-page buffer of its size) per round {} GB/s{}; \
             GEMM 2000³ per round {} GFLOP/s (OpenBLAS, faer: {})",
            l.instance,
            l.rounds,
            l.sum_gb_s[0],
            l.sum_gb_s[1],
            l.gemv_gb_s[0],
            l.gemv_gb_s[1],
            list(&l.bandwidth_limit_gb_s),
            list(&l.operator_size_read_gb_s),
            if l.cache_resident {
                " (cache-resident: the packed rows are measured against this rate)"
            } else {
                ""
            },
            list(&l.gemm_gflop_s),
            l.gemm_by_library_gflop_s
                .iter()
                .map(|[o, f]| format!("{o:.1}/{f:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    println!(
        "\nms: fastest round; × baseline and of limit: median over the rounds of the ratio to the \
         same round's baseline and limit"
    );
    println!("\n| instance | method | ms / run-iteration | × baseline | achieved | of limit |");
    println!("|---|---|---|---|---|---|");
    for r in &results.rows {
        println!(
            "| {} | {} | {:.3} | {:.1} | {:.1} {} | {:.0}% |",
            r.instance,
            r.method,
            r.ms_per_run_iteration,
            r.speedup_vs_baseline,
            r.achieved,
            r.unit,
            100.0 * r.fraction_of_limit,
        );
    }
    match &results.figures {
        Some(f) => {
            let wall = f.wall_seconds.map_or(String::new(), |w| {
                let jobs = f.wall_seconds_jobs.map_or(String::new(), |(j, s)| {
                    format!(
                        " in one process; {:.1} min ({s:.0} s) with {j} processes",
                        s / 60.0
                    )
                });
                format!("{:.1} min wall ({w:.0} s){jobs}, ", w / 60.0)
            });
            println!(
                "\nfull `make figures` ({}): {wall}{:.1} min of runs ({} distinct runs, {:.1} TFLOP \
                 of operator products: {:.1} min at the GEMM rate measured before and after, {:.1} \
                 and {:.1} GFLOP/s; the batches on packed operators reach {:.0}% of it)",
                f.source,
                f.runs_seconds / 60.0,
                f.distinct_runs,
                f.operator_flops / 1e12,
                f.gemm_bound_seconds / 60.0,
                f.gemm_gflop_s_before_after[0],
                f.gemm_gflop_s_before_after[1],
                100.0 / f.roofline.over_gemm_bound(),
            );
            let per_spec: Vec<String> = f
                .per_spec
                .iter()
                .map(|t| {
                    let plural = if t.runs == 1 { "" } else { "s" };
                    format!("{} {:.0} s ({} run{plural})", t.name, t.seconds, t.runs)
                })
                .collect();
            println!("  per spec: {}", per_spec.join(", "));
            println!(
                "  start-up estimate (`experiments run`, rates measured just before): {:.0} s, \
                 {:.2}x the {:.0} s of runs ({} runs stop at a target error and count at their \
                 full budget there)",
                f.estimated_seconds,
                f.estimated_seconds / f.runs_seconds,
                f.runs_seconds,
                f.estimated_stopping_runs
            );
            let r = &f.roofline;
            println!(
                "  roofline (per batch-iteration the larger of its flops at the GEMM rate of the \
                 cores it ran on and one read of its operator at the rate those cores re-read that \
                 many bytes): {:.1} min \
                 for the batches on packed operators, which took {:.1} min ({:.1}x it); matrix \
                 completion batches {:.1} min, not in it. Slowest batches (time, roofline, GFLOP/s):",
                r.dense_roofline_seconds / 60.0,
                r.dense_seconds / 60.0,
                r.dense_seconds / r.dense_roofline_seconds,
                r.other_seconds / 60.0,
            );
            if r.threads_unknown > 0 {
                println!(
                    "  ({} batches from cache entries without their thread count, taken as all \
                     cores: if they ran in `run --jobs` processes, their bounds are too low)",
                    r.threads_unknown
                );
            }
            for b in &r.slowest {
                println!(
                    "    {} n={} m={} {} runs x {:.0} it: {:.1} s, roofline {:.1} s ({:.1}x), {:.1} GFLOP/s",
                    b.spec,
                    b.n,
                    b.m,
                    b.runs,
                    b.iterations,
                    b.seconds,
                    b.roofline_seconds,
                    b.seconds / b.roofline_seconds,
                    b.gflop_s
                );
            }
        }
        None if cli.skip_figures => {
            println!("\nfull `make figures`: no results/ yet (run make figures first)")
        }
        None => println!("\nfull `make figures`: not timed (see the error above)"),
    }
    println!("\ntargets (issues 5 and 20):");
    for t in &results.targets {
        println!(
            "  [{}] {}: {} (required {})",
            if t.met { "met" } else { "MISSED" },
            t.what,
            t.measured,
            t.required
        );
    }
    println!(
        "\npeak memory of the engine (child process: build the instance, 3 iterations of k runs):"
    );
    if results.memory.len() < memory_cases(cli.small_only).len() {
        println!("(some cases could not be measured: the probe needs /proc/self/status)");
    }
    for mem in &results.memory {
        println!(
            "n={} m={} k={} r'={}: peak {} = {:.2}× the packed operator ({}); allowed 1.3× + buffers = {} → {}",
            mem.n,
            mem.m,
            mem.k,
            mem.r_prime,
            experiments::spec::human_bytes(mem.peak_rss_bytes as u128),
            mem.peak_over_operator,
            experiments::spec::human_bytes(mem.operator_bytes),
            experiments::spec::human_bytes(mem.allowed_bytes),
            if (mem.peak_rss_bytes as u128) <= mem.allowed_bytes { "within" } else { "OVER" }
        );
    }
}

/// (n, m, k, r') of the memory measurements: the two benchmark instances at k = 32.
fn memory_cases(small_only: bool) -> Vec<(usize, usize, usize, usize)> {
    let mut cases = vec![(100, 3000, 32, 10)];
    if !small_only {
        cases.push((200, 10000, 32, 20));
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream probe reads every entry once: its sum equals the plain sum (integer values, so
    /// exact) for lengths with and without a remainder past the four quarters.
    #[test]
    fn stream_probe_reads_every_entry_once() {
        for len in [0, 1, 31, 32, 33, 1000, 4099] {
            let c: Vec<f64> = (0..len).map(|i| (i % 97) as f64).collect();
            assert_eq!(sum_streams(&c), c.iter().sum::<f64>(), "len {len}");
        }
    }
}
