//! `make bench`: measures this machine's limits and the GD engine against them, prints a table and
//! writes bench/results.json.
//!
//! Per GD iteration (U ← U − μ𝒜*(𝒜(UUᵀ) − y)U, including the O(n²r') dense work) for:
//! - baseline: the operator unpacked as an m×n² matrix (numpy style), forward and adjoint as two GEMVs;
//! - packed two-pass: the m×n(n+1)/2 packed operator, two GEMVs;
//! - packed fused: one pass over the packed operator (blocked forward + adjoint), the engine's single-run path;
//! - batched k: k runs in lockstep (the engine's batch path), reported per run-iteration;
//!
//! and the time of a full `make figures` (every spec, nothing cached) against the time its
//! operator products would take at the measured GEMM rate.

use std::hint::black_box;
use std::time::Instant;

use clap::Parser;
use lowrank_core::gd::{run_gradient_descent_batch, BatchRun};
use lowrank_core::packing::{packed_dim, smat_into, svec_into};
use lowrank_core::{
    small_random_init, Control, GdParams, IterationState, Observer, Problem, SingularValues,
};
use ndarray::linalg::{general_mat_mul, general_mat_vec_mul};
use ndarray::{Array1, Array2};
use serde::Serialize;

/// Benchmark of the GD engine against the machine's measured limits.
#[derive(Parser)]
#[command(about)]
struct Cli {
    /// Output JSON file.
    #[arg(long, default_value = "bench/results.json")]
    out: std::path::PathBuf,
    /// Skip the large instance (n=200, m=10000: 1.6 GB packed, 3.2 GB unpacked).
    #[arg(long)]
    small_only: bool,
    /// Do not time a full `make figures` (5–8 minutes); report the computing time recorded in
    /// results/ by the last one instead.
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
    let buffers = lowrank_core::gd::batch_workspace_bytes(n, m, k, r_prime);
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

#[derive(Serialize)]
struct Row {
    instance: String,
    method: String,
    ms_per_run_iteration: f64,
    speedup_vs_baseline: f64,
    achieved: f64,
    unit: &'static str,
    fraction_of_limit: f64,
}

#[derive(Serialize)]
struct Results {
    machine: experiments::manifest::Machine,
    read_bandwidth_gb_s_1_thread: f64,
    read_bandwidth_gb_s_all_threads: f64,
    gemv_read_bandwidth_gb_s: f64,
    bandwidth_limit_gb_s: f64,
    last_level_cache_bytes: f64,
    gemm_gflop_s: f64,
    rows: Vec<Row>,
    figures: Option<Figures>,
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
    /// Computing time of the distinct runs (s), each counted once.
    runs_seconds: f64,
    distinct_runs: usize,
    /// Flops of the runs' operator products (4·m·n(n+1)/2 per run-iteration).
    operator_flops: f64,
    /// operator_flops at the measured GEMM rate (s): what the runs would take at 100% of it.
    gemm_bound_seconds: f64,
}

/// The fastest of repeated calls of `f` (at least 3, for at least `min_seconds` in all): on a
/// shared machine the minimum is the time the code needs, the rest is interference.
fn seconds_per<F: FnMut()>(mut f: F, min_seconds: f64) -> f64 {
    f(); // warm-up
    let start = Instant::now();
    let mut reps = 0usize;
    let mut best = f64::INFINITY;
    while start.elapsed().as_secs_f64() < min_seconds || reps < 3 {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        reps += 1;
    }
    best
}

/// Sum with eight independent accumulators, so the loop vectorizes and is bound by memory reads.
fn sum_lanes(c: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    for ch in c.chunks_exact(8) {
        for k in 0..8 {
            acc[k] += ch[k];
        }
    }
    acc.iter().sum::<f64>() + c.chunks_exact(8).remainder().iter().sum::<f64>()
}

/// Main-memory read bandwidth (GB/s): summing a 1 GiB array split over `threads` threads.
fn read_bandwidth(threads: usize) -> f64 {
    let len = 128 * 1024 * 1024; // 1 GiB of f64
    let data = vec![1.0f64; len];
    let chunk = len.div_ceil(threads);
    let t = seconds_per(
        || {
            let total: f64 = std::thread::scope(|s| {
                let hs: Vec<_> = data
                    .chunks(chunk)
                    .map(|c| s.spawn(move || sum_lanes(c)))
                    .collect();
                hs.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
            });
            black_box(total);
        },
        1.0,
    );
    (len * 8) as f64 / t / 1e9
}

/// Read bandwidth seen by a BLAS GEMV streaming a 400 MB matrix (GB/s): the practical limit of a
/// memory-bound pass over the operator.
fn gemv_bandwidth() -> f64 {
    let (rows, cols) = (5000, 10000);
    let a = Array2::<f64>::from_elem((rows, cols), 1.0);
    let x = Array1::<f64>::from_elem(cols, 0.5);
    let mut y = Array1::<f64>::zeros(rows);
    let t = seconds_per(|| general_mat_vec_mul(1.0, &a, &x, 0.0, &mut y), 1.0);
    (rows * cols * 8) as f64 / t / 1e9
}

fn gemm_throughput() -> f64 {
    let n = 2000;
    let a = Array2::<f64>::from_elem((n, n), 1.0);
    let b = Array2::<f64>::from_elem((n, n), 0.5);
    let mut c = Array2::<f64>::zeros((n, n));
    let t = seconds_per(|| general_mat_mul(1.0, &a, &b, 0.0, &mut c), 1.0);
    2.0 * (n * n * n) as f64 / t / 1e9
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
    problem.operator.apply_packed_into(w.view(), r.view_mut());
    *r -= &problem.y;
    problem.operator.adjoint_packed_into(r.view(), g.view_mut());
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

/// Seconds per run-iteration of the engine with `k` runs in lockstep (best of three batches).
fn engine(problem: &Problem, k: usize, r_prime: usize, iterations: usize) -> f64 {
    (0..3)
        .map(|_| engine_once(problem, k, r_prime, iterations))
        .fold(f64::INFINITY, f64::min)
}

fn engine_once(problem: &Problem, k: usize, r_prime: usize, iterations: usize) -> f64 {
    let n = problem.truth.n();
    let mut obs: Vec<Nothing> = (0..k).map(|_| Nothing).collect();
    let runs = obs
        .iter_mut()
        .enumerate()
        .map(|(i, o)| BatchRun {
            params: GdParams::new(0.25, iterations, iterations),
            u0: small_random_init(n, r_prime, 1e-3, 100 + i as u64),
            observer: o,
        })
        .collect();
    let start = Instant::now();
    black_box(run_gradient_descent_batch(problem, runs));
    // T iterations make T + 1 operator passes (the last computes U_T's residual).
    start.elapsed().as_secs_f64() / ((iterations + 1) * k) as f64
}

/// An instance to measure.
struct Instance {
    name: &'static str,
    n: usize,
    r: usize,
    r_prime: usize,
    m: usize,
}

/// The machine's measured limits.
struct Limits {
    bandwidth_gb_s: f64,
    gemm_gflop_s: f64,
    /// Size of the largest CPU cache (bytes).
    last_level_cache_bytes: f64,
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

fn bench_instance(inst: &Instance, limits: &mut Limits, rows: &mut Vec<Row>) {
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
    let budget = if m * n * n > 100_000_000 { 4.0 } else { 2.0 };

    // Baseline: unpacked m×n².
    let mut dense = Array2::<f64>::zeros((m, n * n));
    for (i, mut row) in dense.rows_mut().into_iter().enumerate() {
        let a = problem.operator.measurement_matrix(i) / (m as f64).sqrt();
        row.assign(&ndarray::ArrayView1::from(
            a.as_slice().expect("contiguous"),
        ));
    }
    // The BLAS baselines get OpenBLAS on every core; the engine uses rayon (see `Parallelism`).
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    experiments::set_blas_threads(cores);
    let mut u = u0.clone();
    let mut ws = Buffers::new(n, r_prime, m, n * n);
    let t_base = seconds_per(
        || baseline_iteration(&dense, &problem.y, &mut u, &mut ws, mu),
        budget,
    );
    drop(dense);

    let mut u = u0.clone();
    let mut ws2 = Buffers::new(n, r_prime, m, p);
    let t_two = seconds_per(
        || two_pass_iteration(&problem, &mut u, &mut ws2, mu),
        budget,
    );
    // The GEMV passes of the baseline and the packed two-pass are memory-bound reads too: if they
    // read faster than the probes, their rate is the limit. Only passes over a matrix of at least
    // MAIN_MEMORY_FACTOR × the last-level cache count: on a smaller one the second pass of an
    // iteration partly reads from cache (n=100: 121 MB packed vs 32 MB of L3 here read at up to
    // 38.6 GB/s, above every main-memory probe), which is not a main-memory rate.
    let bytes_dense = (2 * m * n * n * 8) as f64;
    let bytes_packed = (m * p * 8) as f64;
    let from_memory = |bytes: f64| bytes >= MAIN_MEMORY_FACTOR * limits.last_level_cache_bytes;
    if from_memory(bytes_dense / 2.0) {
        limits.bandwidth_gb_s = limits.bandwidth_gb_s.max(bytes_dense / t_base / 1e9);
    }
    if from_memory(bytes_packed) {
        limits.bandwidth_gb_s = limits.bandwidth_gb_s.max(2.0 * bytes_packed / t_two / 1e9);
    }
    experiments::set_blas_threads(1);
    let iters = ((budget / 3.0 / t_two.max(1e-4)) as usize).clamp(10, 400);
    let t_fused = engine(&problem, 1, r_prime, iters);
    // Fractions of the limits are filled in by `main` once all limits are known.
    let mut push = |method: String, t: f64, achieved: f64, unit: &'static str| {
        rows.push(Row {
            instance: name.to_string(),
            method,
            ms_per_run_iteration: t * 1e3,
            speedup_vs_baseline: t_base / t,
            achieved,
            unit,
            fraction_of_limit: f64::NAN,
        })
    };
    push(
        "baseline: unpacked m×n², two GEMV passes".into(),
        t_base,
        bytes_dense / t_base / 1e9,
        "GB/s",
    );
    push(
        "packed, two GEMV passes".into(),
        t_two,
        2.0 * bytes_packed / t_two / 1e9,
        "GB/s",
    );
    push(
        "packed, fused one pass (engine, k = 1)".into(),
        t_fused,
        bytes_packed / t_fused / 1e9,
        "GB/s",
    );
    for k in [4usize, 16, 32, 64] {
        let iters = ((budget / 3.0 / (t_two * k as f64 / 4.0)).max(5.0) as usize).min(200);
        let t = engine(&problem, k, r_prime, iters);
        let flops = 4.0 * (m * p) as f64; // forward + adjoint, per run
        push(
            format!("batched k = {k} (engine, per run-iteration)"),
            t,
            flops / t / 1e9,
            "GFLOP/s",
        );
    }
}

/// A full `make figures`: with `measure`, runs the `experiments` binary next to this one over every
/// spec in experiments/ into an empty temporary results directory (removed afterwards) and times
/// it; otherwise reads the computing times recorded in results/ by the last full run.
fn figures(measure: bool, gemm_gflop_s: f64) -> Option<Figures> {
    let configs: Vec<_> = experiments::spec::files_in(std::path::Path::new("experiments"))
        .unwrap_or_default()
        .iter()
        .filter_map(|p| experiments::spec::load(p, false, None).ok())
        .collect();
    if configs.is_empty() {
        eprintln!("no specs in experiments/: run the benchmark from the workspace root");
        return None;
    }
    let summary = |layout: &experiments::Layout, wall_seconds: Option<f64>| {
        let distinct = experiments::gallery::distinct_runs(&configs, layout)?;
        Some(Figures {
            source: if measure {
                "measured in this run"
            } else {
                "from results/"
            },
            wall_seconds,
            runs_seconds: distinct.seconds,
            distinct_runs: distinct.runs,
            operator_flops: distinct.operator_flops,
            gemm_bound_seconds: distinct.operator_flops / (gemm_gflop_s * 1e9),
        })
    };
    if !measure {
        return summary(&experiments::Layout::default(), None);
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
    let start = Instant::now();
    let status = std::process::Command::new(&exe)
        .arg("--results")
        .arg(&layout.results)
        .arg("--figures")
        .arg(&layout.figures)
        .arg("run")
        .args(configs.iter().map(|c| &c.file))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    let wall = start.elapsed().as_secs_f64();
    let out = match status {
        Ok(s) if s.success() => summary(&layout, Some(wall)),
        _ => {
            eprintln!(
                "error: {} run failed ({status:?}); figures not timed",
                exe.display()
            );
            None
        }
    };
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
    experiments::set_blas_threads(cores);
    eprintln!("measuring memory bandwidth and GEMM throughput …");
    let bw1 = read_bandwidth(1);
    let bw_sum = read_bandwidth(cores);
    let bw_gemv = gemv_bandwidth();
    // The limit is the best main-memory read rate observed on this machine: by either probe, or
    // by the GEMV passes of the baselines over matrices much larger than the caches (see
    // `bench_instance`).
    let bw = bw_sum.max(bw_gemv);
    let gemm = gemm_throughput();
    let mut rows = Vec::new();
    let mut limits = Limits {
        bandwidth_gb_s: bw,
        gemm_gflop_s: gemm,
        last_level_cache_bytes: last_level_cache_bytes(),
    };
    let default = Instance {
        name: "default n=100 r=3 r'=10 m=3000",
        n: 100,
        r: 3,
        r_prime: 10,
        m: 3000,
    };
    bench_instance(&default, &mut limits, &mut rows);
    if !cli.small_only {
        let large = Instance {
            name: "large n=200 r=5 r'=20 m=10000",
            n: 200,
            r: 5,
            r_prime: 20,
            m: 10000,
        };
        bench_instance(&large, &mut limits, &mut rows);
    }
    let (bw, gemm, llc) = (
        limits.bandwidth_gb_s,
        limits.gemm_gflop_s,
        limits.last_level_cache_bytes,
    );
    for row in &mut rows {
        let limit = if row.unit == "GB/s" { bw } else { gemm };
        row.fraction_of_limit = row.achieved / limit;
    }
    let results = Results {
        machine: experiments::manifest::Machine::current(),
        read_bandwidth_gb_s_1_thread: bw1,
        read_bandwidth_gb_s_all_threads: bw_sum,
        gemv_read_bandwidth_gb_s: bw_gemv,
        bandwidth_limit_gb_s: bw,
        last_level_cache_bytes: llc,
        gemm_gflop_s: gemm,
        rows,
        figures: figures(!cli.skip_figures, gemm),
        memory: memory_cases(cli.small_only)
            .into_iter()
            .filter_map(|(n, m, k, rp)| measure_memory(n, m, k, rp))
            .collect(),
    };
    println!(
        "machine: {} ({} cores)",
        results.machine.cpu, results.machine.cpus
    );
    println!(
        "read bandwidth: {bw1:.1} GB/s (sum, 1 thread), {bw_sum:.1} GB/s (sum, {cores} threads), \
         {bw_gemv:.1} GB/s (BLAS GEMV over 400 MB); limit used (best main-memory read rate \
         seen, baselines over ≥ {MAIN_MEMORY_FACTOR}× the {} last-level cache included): \
         {bw:.1} GB/s; GEMM 2000³: {gemm:.1} GFLOP/s\n",
        experiments::spec::human_bytes(llc as u128),
    );
    println!("| instance | method | ms / run-iteration | × baseline | achieved | of limit |");
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
            100.0 * r.fraction_of_limit
        );
    }
    match &results.figures {
        Some(f) => {
            let wall = f.wall_seconds.map_or(String::new(), |w| {
                format!("{:.1} min wall ({w:.0} s), ", w / 60.0)
            });
            println!(
                "\nfull `make figures` ({}): {wall}{:.1} min of runs ({} distinct runs, {:.1} TFLOP \
                 of operator products: {:.1} min at the measured GEMM rate, {:.0}% of it achieved)",
                f.source,
                f.runs_seconds / 60.0,
                f.distinct_runs,
                f.operator_flops / 1e12,
                f.gemm_bound_seconds / 60.0,
                100.0 * f.gemm_bound_seconds / f.runs_seconds,
            );
        }
        None if cli.skip_figures => {
            println!("\nfull `make figures`: no results/ yet (run make figures first)")
        }
        None => println!("\nfull `make figures`: not timed (see the error above)"),
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
    let json = serde_json::to_vec_pretty(&results).expect("serializes");
    if let Err(e) = experiments::fsutil::write_atomic(&cli.out, &json) {
        eprintln!("error: writing {}: {e}", cli.out.display());
        std::process::exit(2);
    }
    println!("{}", cli.out.display());
}

/// (n, m, k, r') of the memory measurements: the two benchmark instances at k = 32.
fn memory_cases(small_only: bool) -> Vec<(usize, usize, usize, usize)> {
    let mut cases = vec![(100, 3000, 32, 10)];
    if !small_only {
        cases.push((200, 10000, 32, 20));
    }
    cases
}
