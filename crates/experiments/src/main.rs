//! The `experiments` command line: run specs, redraw figures, list and validate specs, export runs.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use experiments::spec::{self, Config};
use experiments::{counted, memory_budget, Layout, Progress, RunPoint, RunResult};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// `println!` that ignores a closed standard output (`… | head -1`): what it prints is
/// informational (the results are files), so a closed pipe must neither panic nor stop the work.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that ignores a closed standard error (a closed terminal, `2>&1 | head -1`): the
/// messages report on work whose results are files, so a failed write must not panic and lose them.
macro_rules! tell {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Small random initialization is akin to spectral learning: experiments from TOML specs.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Root directory of raw results.
    #[arg(long, global = true, default_value = "results")]
    results: PathBuf,
    /// Directory of figures.
    #[arg(long, global = true, default_value = "figures")]
    figures: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run specs: compute (or reuse cached) runs, write CSV + manifest under results/<name>/, draw figures/<name>.{png,svg}.
    Run {
        /// Spec files (experiments/<name>.toml).
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// Apply each spec's [quick] overrides (small sizes; output under results/quick, figures/quick).
        #[arg(long)]
        quick: bool,
        /// Compute only shard I of N of the specs' batches into the cache (`experiments plan`
        /// shows the split), writing no CSV or figure; a later plain `run` of the same specs
        /// finds every batch cached and writes them.
        #[arg(long, value_name = "I/N", conflicts_with = "jobs")]
        shard: Option<String>,
        /// Run J processes on this machine (each with 1/J of the cores) that share the batches
        /// dynamically, then write the CSVs and figures (J = 1: one process).
        #[arg(
            long,
            value_name = "J",
            default_value_t = 1,
            allow_negative_numbers = true
        )]
        jobs: usize,
        /// Compute into the cache, writing no CSV or figure, the batches this process claims in
        /// DIR: every process given the same DIR and specs takes the next batch no other has
        /// taken (longest first), so processes on several machines balance themselves (Slurm:
        /// SWEEP_CLAIMS=1). DIR is created if missing and must be fresh for each sweep, on a
        /// file system all processes share; a later plain `run` writes the CSVs and figures.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["jobs", "shard"])]
        claims: Option<PathBuf>,
        /// With --claims: this process's name in its claims (a job array task's id). Started
        /// again under the same name (a requeued task), it takes back the batches it had claimed
        /// and not finished. Never give two live processes the same name.
        #[arg(long, value_name = "ID", requires = "claims")]
        claim_as: Option<String>,
        /// Refuse to start when the estimated time of the work not yet cached exceeds this many
        /// hours (the estimate is printed when it exceeds a minute; see `experiments plan`). Not
        /// with --claims: claiming processes leave it to whoever started them.
        #[arg(
            long,
            value_name = "H",
            default_value_t = 24.0,
            conflicts_with = "claims",
            allow_negative_numbers = true
        )]
        max_hours: f64,
    },
    /// Print the batches the specs imply, their estimated cost and their shard.
    Plan {
        /// Spec files.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// Number of shards.
        #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
        shards: usize,
        /// Also write the plan as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Plan the specs with their [quick] overrides.
        #[arg(long)]
        quick: bool,
        /// Also show each batch's claim in this claims directory (of `run --claims`, e.g. a
        /// Slurm sweep's `results/slurm-claims/<random>`): the claiming task and whether it
        /// finished the batch.
        #[arg(long, value_name = "DIR")]
        claims: Option<PathBuf>,
    },
    /// Redraw figures from existing CSV data without recomputing (style changes in [plot] apply).
    Plot {
        /// Experiment names or spec files.
        #[arg(required = true)]
        names: Vec<String>,
        /// Use the quick-mode results.
        #[arg(long)]
        quick: bool,
        /// Directory of the specs.
        #[arg(long, default_value = "experiments")]
        specs_dir: PathBuf,
    },
    /// List the specs in a directory with their titles and sizes.
    List {
        /// Directory of the specs.
        #[arg(default_value = "experiments")]
        dir: PathBuf,
    },
    /// Validate specs without running anything: every file is checked; exit code 1 if any was refused.
    Validate {
        /// Spec files.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
        /// Validate with the [quick] overrides merged in.
        #[arg(long)]
        quick: bool,
    },
    /// Write figures/README.md: every figure with its caption, spec, remake command and run time.
    Gallery {
        /// Directory of the specs.
        #[arg(default_value = "experiments")]
        dir: PathBuf,
    },
    /// Export one run (instance, operator, trajectory) as .npy files for cross-checking in numpy.
    Export {
        /// Spec file.
        spec: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Which run of the sweep (runs.csv's `run` column).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        run: usize,
        /// Apply the spec's [quick] overrides.
        #[arg(long)]
        quick: bool,
    },
}

/// Progress: indicatif bars on a terminal, one plain line per run otherwise.
struct Reporter {
    tty: bool,
    _multi: MultiProgress,
    runs: ProgressBar,
    iters: ProgressBar,
    started: std::sync::Mutex<Option<Instant>>,
    total: usize,
    done: std::sync::atomic::AtomicUsize,
    /// The spec's name (for messages).
    spec: String,
    /// Whether the work is to stop (a signal noted by [`interrupt::Watch`]).
    cancel: Box<dyn Fn() -> bool + Send + Sync>,
}

impl Reporter {
    fn new(total: usize, name: &str, cancel: Box<dyn Fn() -> bool + Send + Sync>) -> Self {
        let tty = std::io::stderr().is_terminal();
        let multi = MultiProgress::new();
        let runs = multi.add(ProgressBar::new(total as u64));
        runs.set_style(
            ProgressStyle::with_template("{prefix} runs [{bar:30}] {pos}/{len} eta {eta} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        runs.set_prefix(name.to_string());
        let iters = multi.add(ProgressBar::new(0));
        iters.set_style(
            ProgressStyle::with_template("  iterations [{bar:30}] {pos}/{len} {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        if !tty {
            runs.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            iters.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        runs.enable_steady_tick(Duration::from_millis(200));
        Self {
            tty,
            _multi: multi,
            runs,
            iters,
            started: std::sync::Mutex::new(None),
            total,
            done: std::sync::atomic::AtomicUsize::new(0),
            spec: name.to_string(),
            cancel,
        }
    }
}

fn describe(p: &RunPoint) -> String {
    use experiments::spec::OperatorModel;
    use lowrank_core::Algorithm;
    // The axes a spec may sweep, each shown when it is not its default, so that two runs of a
    // sweep never read the same.
    let operator = match p.operator {
        OperatorModel::Gaussian => format!("m={}", p.m),
        OperatorModel::UniformCompletion { p } => format!("completion p={p}"),
        OperatorModel::ReluCompletion { threshold } => format!("ReLU completion τ={threshold}"),
        OperatorModel::MatchedUniformCompletion { threshold } => {
            format!("uniform completion matched to τ={threshold}")
        }
    };
    let algorithm = match p.algorithm {
        Algorithm::Gd => String::new(),
        Algorithm::ScaledGd { lambda } => format!(", ScaledGD(λ={lambda})"),
        Algorithm::PrecGd { c } => format!(", PrecGD(c={c})"),
    };
    let noise = if p.sigma > 0.0 {
        format!(", σ={}", p.sigma)
    } else {
        String::new()
    };
    let kappa = if p.truth.is_orthonormal() {
        format!("κ={}", p.kappa)
    } else {
        format!("X {}", p.truth.label())
    };
    format!(
        "run {} (n={}, r={}, {operator}, {kappa}, r'={}, α={:e}, μ={}{algorithm}{noise}, {}, replicate {})",
        p.index,
        p.n,
        p.r,
        p.r_prime,
        p.alpha,
        p.step_size,
        p.init.label(),
        p.replicate
    )
}

impl Progress for Reporter {
    fn cancelled(&self) -> bool {
        (self.cancel)()
    }
    fn batch_started(&self, points: &[&RunPoint]) {
        if let Ok(mut s) = self.started.lock() {
            s.get_or_insert_with(Instant::now);
        }
        let t_max = points.iter().map(|p| p.iterations).max().unwrap_or(0);
        self.iters.set_length(t_max as u64);
        self.iters.set_position(0);
        self.iters
            .set_message(format!("batch of {} runs", points.len()));
    }
    fn resumed(&self, points: &[&RunPoint], t: usize) {
        self.iters.suspend(|| {
            tell!(
                "{}: a batch of {} continues from its checkpoint at t = {t}",
                self.spec,
                counted(points.len(), "run", "runs"),
            )
        });
    }
    fn checkpoint_failed(&self, points: &[&RunPoint], path: &Path, error: &std::io::Error) {
        self.iters.suspend(|| {
            tell!(
                "{}: warning: could not write the checkpoint of a batch of {} ({}: {error}); \
                 the batch goes on without checkpoints, so an interruption restarts it from t = 0",
                self.spec,
                counted(points.len(), "run", "runs"),
                path.display()
            )
        });
    }
    fn iteration(&self, t: usize) {
        self.iters.set_position(t as u64);
    }
    fn run_finished(&self, point: &RunPoint, result: &RunResult, cached: bool) {
        let done = self.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        self.runs.inc(1);
        if !self.tty {
            let err = result
                .series(&experiments::quantity::TEST_ERROR)
                .and_then(|s| s.last().copied())
                .map_or("n/a".into(), |e| format!("{e:.3e}"));
            let how = if cached {
                "cached".to_string()
            } else {
                let secs = self
                    .started
                    .lock()
                    .ok()
                    .and_then(|s| *s)
                    .map_or(0.0, |s| s.elapsed().as_secs_f64());
                format!("{secs:.1} s since the first batch started")
            };
            tell!(
                "[{}/{}] {}: {}, final test error {err} ({how})",
                done,
                self.total,
                describe(point),
                result.status
            );
        }
    }
}

fn load(path: &Path, quick: bool) -> Result<Config, experiments::Error> {
    Ok(experiments::load_spec(path, quick, memory_budget())?)
}

/// Prints the estimated time of the uncached work when it exceeds a minute (and a warning above an
/// hour), and refuses it above `max_hours` (see `experiments::shard::estimate`). Returns the rates
/// it measured (none when everything is cached).
fn check_estimated_time(
    configs: &[spec::Config],
    shard: Option<(usize, usize)>,
    max_hours: f64,
    layout: &Layout,
) -> Result<Option<experiments::shard::MachineRate>, experiments::Error> {
    if !(max_hours.is_finite() && max_hours > 0.0) {
        return Err(experiments::Error::Spec(spec::SpecError {
            file: PathBuf::from("--max-hours"),
            message: format!("{max_hours} is out of range; allowed: a positive number of hours"),
        }));
    }
    let plan = experiments::shard::plan(configs, shard.map_or(1, |s| s.1));
    let todo =
        experiments::shard::uncached(&plan, shard.map(|s| s.0), |i| layout.cache_dir(&configs[i]));
    if todo.is_empty() {
        return Ok(None);
    }
    let rate = experiments::shard::MachineRate::measure();
    let est = experiments::shard::estimate(todo.iter().map(|&i| &plan.batches[i]), &rate);
    let hours = est.seconds / 3600.0;
    let human = human_duration(est.seconds);
    if est.seconds > 60.0 {
        let stopping = match est.stopping_runs {
            0 => String::new(),
            s => format!(
                "; {s} of the runs stop at a target error and count at their full budget, so \
                 expect less"
            ),
        };
        tell!(
            "estimated time: {human} for {} in {} not yet cached ({:.2e} flops; \
             here just now the batched pass did {:.1} GFLOP/s and the single-run pass read 𝐀 at \
             {:.1} GB/s{stopping})",
            counted(est.runs, "run", "runs"),
            counted(est.batches, "batch", "batches"),
            est.flops,
            rate.batch_flops_per_second / 1e9,
            rate.operator_bytes_per_second / 1e9,
        );
    }
    if hours > max_hours {
        return Err(experiments::Error::Spec(spec::SpecError {
            file: PathBuf::from("--max-hours"),
            message: format!(
                "the estimated time, {human}, exceeds {max_hours} h; raise --max-hours to \
                 run it, or shorten the specs' [gd] iterations or sweeps"
            ),
        }));
    }
    if hours > 1.0 {
        tell!(
            "warning: this will take hours; long batches write checkpoints to the cache every \
             {} s after their first minute, so an interrupted run resumes where it was",
            experiments::checkpoint::interval()
                .unwrap_or(experiments::checkpoint::DEFAULT_INTERVAL)
                .as_secs_f64()
        );
    }
    Ok(Some(rate))
}

/// Results are named after the spec file: two specs of one name would overwrite each other's
/// results and figures, and one file given twice (overlapping globs) would be run twice.
fn check_distinct_names(configs: &[Config], layout: &Layout) -> Result<(), experiments::Error> {
    for (i, a) in configs.iter().enumerate() {
        if let Some(b) = configs[..i].iter().find(|b| b.name == a.name) {
            let same_file = matches!(
                (a.file.canonicalize(), b.file.canonicalize()),
                (Ok(x), Ok(y)) if x == y
            );
            let message = if same_file {
                format!(
                    "is given twice ({} and {}); give each spec file once",
                    b.file.display(),
                    a.file.display()
                )
            } else {
                format!(
                    "has the same name `{}` as {}: their results ({}) and figures would overwrite \
                     each other; rename one of the files",
                    a.name,
                    b.file.display(),
                    layout.results_dir(a).display()
                )
            };
            return Err(experiments::Error::Spec(spec::SpecError {
                file: a.file.clone(),
                message,
            }));
        }
    }
    Ok(())
}

/// "I/N" with 0 ≤ I < N ≤ MAX_SHARDS.
fn parse_shard(s: &str) -> Result<(usize, usize), experiments::Error> {
    let bad = || {
        experiments::Error::Spec(spec::SpecError {
            file: PathBuf::from("--shard"),
            message: format!(
                "`{s}` is not a shard; allowed: I/N with 0 ≤ I < N ≤ {}, e.g. 0/3",
                experiments::shard::MAX_SHARDS
            ),
        })
    };
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n || n > experiments::shard::MAX_SHARDS {
        return Err(bad());
    }
    Ok((i, n))
}

/// The part of a plan one process computes into the cache.
enum Part<'a> {
    /// `run --shard I/N`: shard I of N.
    Shard(usize, usize),
    /// `run --claims DIR [--claim-as ID]`: the batches it claims in DIR, under that name.
    Claimed(&'a Path, Option<&'a str>),
}

/// `run --shard I/N` or `run --claims DIR`: computes that part of the specs' batches into the
/// cache and prints what it did.
fn run_part(configs: &[Config], part: Part<'_>, layout: &Layout) -> Result<(), experiments::Error> {
    let Some(first) = configs.first() else {
        return Ok(());
    };
    let cache = layout.cache_dir(first);
    experiments::fsutil::ensure_writable_dir(&cache).map_err(experiments::io_at(&cache))?;
    let start = Instant::now();
    let (what, stats) = match part {
        Part::Shard(i, n) => {
            let plan = experiments::shard::plan(configs, n);
            let batches = plan.batches.iter().filter(|b| b.shard == i).count();
            let stats =
                experiments::shard::run_shard(configs, &plan, i, &cache, &experiments::Silent)
                    .map_err(experiments::io_at(&cache))?;
            (
                format!("shard {i}/{n}: {}", counted(batches, "batch", "batches")),
                stats,
            )
        }
        Part::Claimed(claims, owner) => {
            let plan = experiments::shard::plan(configs, 1);
            let bound = experiments::shard::bind_claims(claims, &plan)
                .map_err(experiments::io_at(claims))?;
            // A process of `run --jobs` claims no more batches once its parent is gone (killed);
            // other claiming processes (job arrays, processes started by hand) go on to the end.
            let jobs_parent: Option<u32> = std::env::var(JOBS_PARENT)
                .ok()
                .and_then(|pid| pid.parse().ok());
            #[cfg(unix)]
            let go_on =
                move || jobs_parent.is_none_or(|pid| std::os::unix::process::parent_id() == pid);
            #[cfg(not(unix))]
            let go_on = move || {
                let _ = jobs_parent;
                true
            };
            let done = experiments::shard::run_claimed(
                configs,
                &plan,
                &bound,
                owner,
                &cache,
                &experiments::Silent,
                &go_on,
            )
            .map_err(experiments::io_at(&cache))?;
            let total = plan.batches.len();
            // Under `--jobs` the claims directory is the parent's temporary one, gone by the end.
            let place = if jobs_parent.is_some() {
                String::new()
            } else {
                format!(" in {}", claims.display())
            };
            (
                format!("{} of {total} batches claimed{place}", done.batches),
                done.cache,
            )
        }
    };
    tell!(
        "{what}, {} ({} cached, {} computed, {} cache entries rejected) in {:.1} s on {}",
        counted(stats.hits + stats.computed, "run", "runs"),
        stats.hits,
        stats.computed,
        stats.rejected,
        start.elapsed().as_secs_f64(),
        experiments::manifest::Machine::current().hostname
    );
    Ok(())
}

/// `run --jobs J`: J processes of this binary, each with 1/J of the cores, that claim the batches
/// one at a time from a fresh temporary directory (`experiments::shard::run_claimed`), then back
/// to the caller, which writes the CSVs and figures from the cache.
fn run_jobs(
    configs: &[Config],
    specs: &[PathBuf],
    quick: bool,
    jobs: usize,
    layout: &Layout,
    rate: Option<&experiments::shard::MachineRate>,
) -> Result<(), experiments::Error> {
    // The J processes share the memory: each gets 1/J of the budget, and every spec must fit in it.
    let share = memory_budget().map(|b| b / jobs as u128);
    for path in specs {
        experiments::load_spec(path, quick, share).map_err(|e| {
            experiments::Error::Spec(spec::SpecError {
                message: format!(
                    "with --jobs {jobs} (each process gets 1/{jobs} of the memory): {}",
                    e.message
                ),
                ..e
            })
        })?;
    }
    // A signal's default action would end this process without dropping `children` and `claims`:
    // the claims directory would stay behind, and after a SIGTERM to this process alone the
    // children would finish their batches. So while they run, a signal is only noted; the loop
    // sees it and returns, which kills and reaps them and removes the directory, and then the
    // process ends by that signal as by default (its exit status says which).
    let watch = interrupt::Watch::start(false);
    let result = claim_in_processes(
        configs,
        specs,
        quick,
        layout,
        Jobs {
            count: jobs,
            share,
            rate,
            interrupted: &|| watch.caught().is_some(),
        },
    );
    if let Some(signal) = watch.caught() {
        tell!(
            "--jobs: interrupted by signal {signal}: the processes were stopped and their claims \
             removed; the batches they finished are in the cache, and the same command continues \
             from them"
        );
    }
    watch.finish();
    result
}

/// The environment variable that tells a claiming process it is one of `run --jobs`' (its value:
/// the parent's process id).
const JOBS_PARENT: &str = "EXPERIMENTS_JOBS_PARENT";

/// Signals noted instead of acted on: while `run --jobs`' processes run, and while one `run`
/// process computes (its batches then stop before their next iteration).
mod interrupt {
    #[cfg(unix)]
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    #[cfg(unix)]
    use std::sync::Arc;

    /// SIGINT, SIGTERM and SIGHUP noted instead of acted on, from [`Watch::start`] to
    /// [`Watch::finish`] (the `signal-hook` crate). Signals this process ignores stay ignored
    /// (`nohup`'s SIGHUP, a background job's SIGINT): they are read from /proc/self/status, so on
    /// a Unix without /proc, and off Unix, no signal is watched and each acts as by default.
    pub struct Watch {
        #[cfg(unix)]
        caught: Arc<AtomicUsize>,
        #[cfg(unix)]
        finished: Arc<AtomicBool>,
    }

    impl Watch {
        /// With `second_ends`, a second signal while watched acts as by default at once.
        pub fn start(second_ends: bool) -> Self {
            #[cfg(unix)]
            {
                use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
                let watch = Self {
                    caught: Arc::new(AtomicUsize::new(0)),
                    finished: Arc::new(AtomicBool::new(false)),
                };
                // Set by the first signal, after the check that makes a second one act.
                let seen = Arc::new(AtomicBool::new(false));
                let ignored = ignored_signals();
                for signal in [SIGINT, SIGTERM, SIGHUP] {
                    if ignored.is_none_or(|mask| mask >> (signal - 1) & 1 == 1) {
                        continue;
                    }
                    // Noted while the processes run; once finished, the default action.
                    let noted = signal_hook::flag::register_usize(
                        signal,
                        Arc::clone(&watch.caught),
                        signal as usize,
                    );
                    let later = signal_hook::flag::register_conditional_default(
                        signal,
                        Arc::clone(&watch.finished),
                    );
                    // signal-hook runs a signal's actions in the order they were registered.
                    let second = if second_ends {
                        signal_hook::flag::register_conditional_default(signal, Arc::clone(&seen))
                            .and(signal_hook::flag::register(signal, Arc::clone(&seen)))
                            .map(|_| ())
                    } else {
                        Ok(())
                    };
                    if let Err(e) = noted.and(later).map(|_| ()).and(second) {
                        tell!("warning: cannot watch signal {signal} ({e}); it acts as by default");
                    }
                }
                watch
            }
            #[cfg(not(unix))]
            Self {}
        }

        /// Whether a signal was noted, as a function another thread can call.
        pub fn flag(&self) -> Box<dyn Fn() -> bool + Send + Sync> {
            #[cfg(unix)]
            {
                let caught = Arc::clone(&self.caught);
                Box::new(move || caught.load(Ordering::SeqCst) != 0)
            }
            #[cfg(not(unix))]
            Box::new(|| false)
        }

        /// The last signal noted since [`Self::start`].
        pub fn caught(&self) -> Option<i32> {
            #[cfg(unix)]
            {
                match self.caught.load(Ordering::SeqCst) {
                    0 => None,
                    s => Some(s as i32),
                }
            }
            #[cfg(not(unix))]
            None
        }

        /// From now on the watched signals act as by default; if one was noted, this process
        /// ends by it now.
        pub fn finish(self) {
            #[cfg(unix)]
            {
                self.finished.store(true, Ordering::SeqCst);
                if let Some(signal) = self.caught() {
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                }
            }
        }
    }

    /// The mask of the signals this process ignores (bit s − 1 for signal s), from the SigIgn line
    /// of /proc/self/status (Linux); None where it cannot be read.
    #[cfg(unix)]
    fn ignored_signals() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?;
        u64::from_str_radix(line.trim(), 16).ok()
    }
}

/// How `run --jobs` runs its processes ([`claim_in_processes`]).
struct Jobs<'a> {
    /// Number of processes.
    count: usize,
    /// Each one's memory budget (bytes).
    share: Option<u128>,
    /// Rates measured at start-up, for the progress (none when everything was cached).
    rate: Option<&'a experiments::shard::MachineRate>,
    /// Whether a signal came (then the processes are stopped).
    interrupted: &'a dyn Fn() -> bool,
}

/// The body of [`run_jobs`]: starts the processes on a fresh claims directory, prints their
/// lines and the progress (weighted by the batches' estimated seconds at the measured rates, else
/// by their flops), and returns once they have all ended or a signal came.
fn claim_in_processes(
    configs: &[Config],
    specs: &[PathBuf],
    quick: bool,
    layout: &Layout,
    jobs: Jobs<'_>,
) -> Result<(), experiments::Error> {
    let Jobs {
        count: jobs,
        share,
        rate,
        interrupted,
    } = jobs;
    let exe = &std::env::current_exe().map_err(|source| experiments::Error::Io {
        path: PathBuf::from("experiments"),
        source,
    })?;
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let threads = (cores / jobs).max(1);
    let claims = tempfile::Builder::new()
        .prefix("experiments-claims-")
        .tempdir()
        .map_err(experiments::io_at(&std::env::temp_dir()))?;
    // Progress over the batches not cached now: cached ones are claimed and done at once.
    let plan = experiments::shard::plan(configs, 1);
    let todo = experiments::shard::uncached(&plan, None, |i| layout.cache_dir(&configs[i]));
    let mut children = Children(Vec::with_capacity(jobs));
    for _ in 0..jobs {
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("--results")
            .arg(&layout.results)
            .arg("--figures")
            .arg(&layout.figures)
            .arg("run")
            .arg("--claims")
            .arg(claims.path())
            .args(specs)
            .env("RAYON_NUM_THREADS", threads.to_string())
            .env(JOBS_PARENT, std::process::id().to_string())
            .envs(share.map(|b| ("LOWRANK_MAX_OPERATOR_BYTES", b.to_string())))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        if quick {
            cmd.arg("--quick");
        }
        // On an error `children` is dropped, which kills and reaps the ones started.
        let child = cmd.spawn().map_err(experiments::io_at(exe))?;
        children.0.push(child);
    }
    // Each child's stderr is read on its own thread (a full pipe would stop the child) and its
    // lines printed here as they come, prefixed, above the bar of the estimated work finished.
    let (lines, received) = std::sync::mpsc::channel::<(usize, String)>();
    for (i, child) in children.0.iter_mut().enumerate() {
        let pipe = child.stderr.take().expect("stderr is piped");
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(pipe)) {
                let Ok(line) = line else { break };
                if lines.send((i, line)).is_err() {
                    break;
                }
            }
        });
    }
    drop(lines);
    let weight =
        |i: usize| rate.map_or(plan.batches[i].flops, |r| r.batch_seconds(&plan.batches[i]));
    let total: f64 = todo.iter().map(|&i| weight(i)).sum();
    let bar = ProgressBar::new(1000);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{jobs} processes [{{bar:30}}] {{percent}}% of the estimated work, eta {{eta}}"
        ))
        .expect("valid template")
        .progress_chars("=> "),
    );
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    // Whether each process wrote anything (for the message of a failure).
    let mut said = vec![false; jobs];
    let mut say_line = |(i, line): (usize, String)| {
        bar.suspend(|| tell!("process {i}/{jobs}: {line}"));
        said[i] = true;
    };
    let mut statuses: Vec<Option<std::process::ExitStatus>> = vec![None; jobs];
    let mut failed = None;
    loop {
        received.try_iter().for_each(&mut say_line);
        if statuses.iter().all(Option::is_some) {
            break;
        }
        if interrupted() {
            bar.finish_and_clear();
            // Returning drops `children` (killed and reaped) and `claims` (removed).
            return Err(experiments::Error::Spec(spec::SpecError {
                file: PathBuf::from("--jobs"),
                message: "interrupted by a signal".into(),
            }));
        }
        for (i, (child, status)) in children.0.iter_mut().zip(&mut statuses).enumerate() {
            if status.is_some() {
                continue;
            }
            *status = child.try_wait().map_err(experiments::io_at(exe))?;
            if let Some(s) = status.filter(|s| !s.success()) {
                // Said now, not when the others end; they finish their batches into the cache,
                // which a rerun reuses.
                bar.suspend(|| tell!("process {i}/{jobs} failed ({s})"));
                failed.get_or_insert((i, s));
            }
        }
        let done: f64 = todo
            .iter()
            .filter(|&&i| experiments::shard::finished(i, claims.path()))
            .map(|&i| weight(i))
            .sum();
        let share_done = if total > 0.0 { done / total } else { 1.0 };
        bar.set_position((1000.0 * share_done) as u64);
        std::thread::sleep(Duration::from_millis(250));
    }
    // The readers end with their pipes: take the last lines.
    received.iter().for_each(&mut say_line);
    bar.finish_and_clear();
    match failed {
        Some((i, status)) => Err(experiments::Error::Spec(spec::SpecError {
            file: PathBuf::from("--jobs"),
            message: if said[i] {
                format!("process {i}/{jobs} failed ({status}); its messages are above")
            } else {
                format!("process {i}/{jobs} failed ({status}) without a message")
            },
        })),
        None => Ok(()),
    }
}

/// The processes of `run --jobs`: dropped (on an error or a panic of the parent), those still
/// running are killed and reaped.
struct Children(Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn spec_path(name: &str, dir: &Path) -> PathBuf {
    let p = PathBuf::from(name);
    // A directory of that name (results/<name>/ when run from results/) is not a spec.
    if p.extension().is_some_and(|e| e == "toml") || p.is_file() {
        p
    } else {
        dir.join(format!("{name}.toml"))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = experiments::check_memory_budget_variable() {
        tell!("error: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = experiments::checkpoint::interval() {
        tell!("error: {e}");
        return ExitCode::FAILURE;
    }
    let layout = Layout {
        results: cli.results.clone(),
        figures: cli.figures.clone(),
    };
    match real_main(cli.command, &layout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tell!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn real_main(command: Command, layout: &Layout) -> Result<(), experiments::Error> {
    match command {
        Command::Run {
            specs,
            quick,
            shard,
            jobs,
            claims,
            claim_as,
            max_hours,
        } => {
            // Validate every spec before running any, so a typo in the last one costs nothing.
            let configs = specs
                .iter()
                .map(|p| load(p, quick))
                .collect::<Result<Vec<_>, _>>()?;
            // Said once, by the process the user started (not by --jobs' or a job array's).
            if quick
                && shard.is_none()
                && claims.is_none()
                && std::env::var_os(JOBS_PARENT).is_none()
            {
                for note in configs.iter().filter_map(Config::quick_note) {
                    tell!("{note}");
                }
            }
            check_distinct_names(&configs, layout)?;
            if jobs == 0 {
                return Err(experiments::Error::Spec(spec::SpecError {
                    file: PathBuf::from("--jobs"),
                    message: "0 is out of range; allowed: jobs ≥ 1".into(),
                }));
            }
            if claim_as.as_deref().is_some_and(|id| id.trim().is_empty()) {
                return Err(experiments::Error::Spec(spec::SpecError {
                    file: PathBuf::from("--claim-as"),
                    message: "an empty name; allowed: any non-empty text, e.g. a job array \
                              task's id"
                        .into(),
                }));
            }
            // The estimated time is checked before anything is created.
            let parsed_shard = shard.as_deref().map(parse_shard).transpose()?;
            // Claiming processes (of --jobs or a job array) leave it to whoever started them.
            let rate = match claims {
                None => check_estimated_time(&configs, parsed_shard, max_hours, layout)?,
                Some(_) => None,
            };
            // Output paths and directories fail now, before any shard computes (a shard or a
            // claiming process writes only to the cache).
            for config in &configs {
                if parsed_shard.is_some() || claims.is_some() {
                    experiments::check_cache_dir(config, layout)?;
                } else {
                    experiments::check_outputs(config, layout)?;
                }
            }
            if let Some((i, n)) = parsed_shard {
                return run_part(&configs, Part::Shard(i, n), layout);
            }
            if let Some(dir) = claims {
                return run_part(&configs, Part::Claimed(&dir, claim_as.as_deref()), layout);
            }
            // No more processes than batches to compute: the others would find nothing to claim
            // (one batch, or none, is computed here).
            let mut ran_jobs = false;
            if jobs > 1 {
                let to_compute = {
                    let plan = experiments::shard::plan(&configs, 1);
                    experiments::shard::uncached(&plan, None, |i| layout.cache_dir(&configs[i]))
                        .len()
                };
                let processes = jobs.min(to_compute);
                let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
                if processes < jobs {
                    tell!(
                        "--jobs {jobs}: {} to compute, so {}",
                        counted(to_compute, "batch", "batches"),
                        match processes {
                            0 | 1 => "computed in this process".to_string(),
                            p => format!("{p} processes"),
                        }
                    );
                }
                if processes > cores {
                    tell!("--jobs {jobs}: more processes than this machine's {cores} cores; they share them");
                }
                if processes > 1 {
                    run_jobs(&configs, &specs, quick, processes, layout, rate.as_ref())?;
                    ran_jobs = true;
                }
            }
            // Ctrl-C, SIGTERM or SIGHUP: the running batches stop before their next iteration,
            // nothing of the spec under way is written, and this process ends by the signal; a
            // second one ends it at once. (After `--jobs`, whose watch acts as by default once
            // finished, a signal ends the merge at once: its files are written atomically.)
            let watch = (!ran_jobs).then(|| interrupt::Watch::start(true));
            let flag = || {
                watch
                    .as_ref()
                    .map_or_else(|| Box::new(|| false) as _, |w| w.flag())
            };
            let stop_here =
                |watch: Option<interrupt::Watch>, name: &str, signal: i32, what: &str| {
                    tell!(
                    "{name}: interrupted by signal {signal}: {what}; finished batches are in the \
                     cache and long ones left checkpoints, so the same command continues from them"
                );
                    if let Some(w) = watch {
                        w.finish();
                    }
                };
            for config in &configs {
                if let Some(signal) = watch.as_ref().and_then(|w| w.caught()) {
                    stop_here(
                        watch,
                        &config.name,
                        signal,
                        "it and the specs after it were not run",
                    );
                    return Ok(());
                }
                let total = experiments::sweep::expand(config).len();
                let reporter = Reporter::new(total, &config.name, flag());
                let out = match experiments::run_experiment(config, layout, &reporter) {
                    Err(e) => {
                        reporter.iters.finish_and_clear();
                        reporter.runs.finish_and_clear();
                        let interrupted = matches!(
                            &e,
                            experiments::Error::Io { source, .. }
                                if source.kind() == std::io::ErrorKind::Interrupted
                        );
                        if let Some(signal) = watch.as_ref().and_then(|w| w.caught()) {
                            if interrupted {
                                stop_here(watch, &config.name, signal, "nothing of it was written");
                            }
                        }
                        // Another error: reported as such (a signal noted meanwhile is dropped).
                        return Err(e);
                    }
                    Ok(out) => out,
                };
                reporter.iters.finish_and_clear();
                reporter.runs.finish_and_clear();
                tell!(
                    "{}: {} ({} cached, {} computed, {} diverged) in {:.1} s",
                    config.name,
                    counted(out.runs, "run", "runs"),
                    out.cache.hits,
                    out.cache.computed,
                    out.diverged,
                    out.seconds
                );
                for note in out.notes(&config.name) {
                    tell!("{note}");
                }
                for f in &out.files {
                    say!("{}", f.display());
                }
            }
            if let Some(w) = watch {
                w.finish();
            }
        }
        Command::Plot {
            names,
            quick,
            specs_dir,
        } => {
            for name in names {
                let path = spec_path(&name, &specs_dir);
                let config = load(&path, quick)?;
                let drawn = experiments::plot_experiment(&config, layout);
                if drawn.is_err() && !quick {
                    // Results of --quick only: say so beside the error.
                    let quick_config = load(&path, true)?;
                    if layout
                        .results_dir(&quick_config)
                        .join("manifest.json")
                        .exists()
                        && !layout.results_dir(&config).join("manifest.json").exists()
                    {
                        tell!(
                            "note: {} has quick-mode results only; `plot --quick {name}` draws them",
                            config.name
                        );
                    }
                }
                for f in drawn? {
                    say!("{}", f.display());
                }
            }
        }
        Command::List { dir } => {
            let files = spec::files_in(&dir).map_err(experiments::io_at(&dir))?;
            if files.is_empty() {
                tell!("no specs (*.toml) in {}", dir.display());
            }
            // Per spec its name and (runs, sizes, title) or the refusal; names and sizes padded to
            // their widest.
            type Listed = Result<(usize, String, String), String>;
            let mut rows: Vec<(String, Listed)> = Vec::new();
            for path in files {
                match load(&path, false) {
                    Ok(c) => {
                        let runs = experiments::sweep::expand(&c).len();
                        let p = &c.spec.problem;
                        // A swept m replaces [problem].m: list the values actually run.
                        let m = match &c.spec.sweep.m {
                            Some(values) => format!(
                                "m∈{{{}}}",
                                values
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>()
                                    .join(",")
                            ),
                            None => {
                                p.m.map_or("m = |Ω| (completion)".into(), |m| format!("m={m}"))
                            }
                        };
                        let sizes = format!("n={} r={} {m}", p.n, p.r);
                        rows.push((c.name.clone(), Ok((runs, sizes, c.spec.title.clone()))));
                    }
                    Err(e) => rows.push((path.display().to_string(), Err(e.to_string()))),
                }
            }
            let width = rows
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok().map(|(_, sizes, _)| sizes.chars().count()))
                .max()
                .unwrap_or(0);
            let name_width = rows
                .iter()
                .map(|(name, _)| name.chars().count())
                .max()
                .unwrap_or(0);
            for (name, row) in rows {
                match row {
                    Ok((runs, sizes, title)) => say!(
                        "{name:<name_width$} {:>5} run{}  {sizes:<width$}  {title}",
                        runs,
                        if runs == 1 { " " } else { "s" },
                    ),
                    Err(e) => say!("{name:<name_width$} INVALID: {e}"),
                }
            }
        }
        Command::Gallery { dir } => {
            let files = spec::files_in(&dir).map_err(experiments::io_at(&dir))?;
            let configs = files
                .iter()
                .map(|p| load(p, false))
                .collect::<Result<Vec<_>, _>>()?;
            let path = experiments::gallery::write_gallery(&configs, layout).map_err(|source| {
                experiments::Error::Io {
                    path: layout.figures.join("README.md"),
                    source,
                }
            })?;
            say!("{}", path.display());
        }
        Command::Plan {
            specs,
            shards,
            json,
            quick,
            claims,
        } => {
            let configs = specs
                .iter()
                .map(|p| load(p, quick))
                .collect::<Result<Vec<_>, _>>()?;
            // Before a sweep is submitted (scripts/slurm/submit.sh plans first).
            for note in configs.iter().filter_map(Config::quick_note) {
                tell!("{note}");
            }
            if shards == 0 || shards > experiments::shard::MAX_SHARDS {
                return Err(experiments::Error::Spec(spec::SpecError {
                    file: PathBuf::from("--shards"),
                    message: format!(
                        "{shards} is out of range; allowed: 1 ≤ shards ≤ {}",
                        experiments::shard::MAX_SHARDS
                    ),
                }));
            }
            // What `run` would refuse, refused here too, before a sweep is submitted: specs of
            // one name, output paths that cannot be written, another spec's results of the name.
            check_distinct_names(&configs, layout)?;
            for config in &configs {
                experiments::check_output_paths(config, layout)?;
            }
            // The JSON's path before any work (a directory there failed after the table); it
            // replaces only a plan written before.
            if let Some(path) = &json {
                let refuse = |message: String| {
                    experiments::Error::Spec(spec::SpecError {
                        file: PathBuf::from("--json"),
                        message,
                    })
                };
                experiments::fsutil::check_output_file(path).map_err(|e| refuse(e.to_string()))?;
                if path.exists() && !is_plan_json(path) {
                    return Err(refuse(format!(
                        "{} exists and is not a plan written by `plan --json` (a JSON object with \
                         `shards` and `batches` only); give another path or remove it",
                        path.display()
                    )));
                }
            }
            let plan = experiments::shard::plan(&configs, shards);
            // Seconds at the rates of this machine, measured now (not in the JSON, which
            // depends on the specs only).
            let rate = experiments::shard::MachineRate::measure();
            // Runs already in the cache, per batch (a sweep's progress, e.g. on Slurm).
            let cached: Vec<usize> = plan
                .batches
                .iter()
                .map(|b| {
                    experiments::shard::cached_runs(b, &layout.cache_dir(&configs[b.spec_index]))
                })
                .collect();
            // A claims directory of these specs only (its plan file names the same batches).
            if let Some(dir) = &claims {
                if !dir.is_dir() {
                    return Err(experiments::Error::Spec(spec::SpecError {
                        file: PathBuf::from("--claims"),
                        message: format!(
                            "{} is not a directory; allowed: the claims directory of a running or \
                             finished sweep (`run --claims DIR`, or SWEEP_CLAIMS_DIR of a Slurm sweep)",
                            dir.display()
                        ),
                    }));
                }
                experiments::shard::check_claims(dir, &plan).map_err(experiments::io_at(dir))?;
            }
            let claim_header = if claims.is_some() { "  claim" } else { "" };
            say!(
                "One row per batch (runs on one operator, computed together), by shard. runs.csv rows: \
                 its runs' `run` column in the spec's runs.csv; r': the widest; est.: estimated \
                 work, and time at this machine's rates measured now; cached: its runs already in \
                 the cache."
            );
            say!("shard  spec                            runs  runs.csv rows         n      m       r'    est. GFLOP  est. s here  cached{claim_header}");
            // By shard, each shard's batches in plan order (the claims name batches by plan order).
            let mut rows: Vec<usize> = (0..plan.batches.len()).collect();
            rows.sort_by_key(|&i| plan.batches[i].shard);
            for i in rows {
                let (b, c) = (&plan.batches[i], cached[i]);
                let claim = match claims
                    .as_deref()
                    .map(|dir| experiments::shard::claim_of(i, dir))
                {
                    None => String::new(),
                    Some(None) => "  -".into(),
                    Some(Some((owner, done))) => {
                        let who = if owner.is_empty() {
                            "a process"
                        } else {
                            &owner
                        };
                        format!(
                            "  {who}, {}",
                            if done { "finished" } else { "not finished" }
                        )
                    }
                };
                say!(
                    "{:>5}  {:<30}  {:>4}  {:<20}  {:<5}  {:<6}  {:<4}  {:>10.1}  {:>11.1}  {:<6}{claim}",
                    b.shard,
                    b.spec,
                    b.runs.len(),
                    index_ranges(&b.runs, 20),
                    b.n,
                    // Completion records no m (|Ω| is drawn with the instance).
                    if b.m == 0 { "|Ω|".to_string() } else { b.m.to_string() },
                    b.r_prime,
                    b.flops / 1e9,
                    rate.batch_seconds(b),
                    format!("{c}/{}", b.runs.len())
                );
            }
            for i in 0..shards {
                let mine = || {
                    plan.batches
                        .iter()
                        .zip(&cached)
                        .filter(|(b, _)| b.shard == i)
                };
                let est = experiments::shard::estimate(mine().map(|(b, _)| b), &rate);
                let to_go = experiments::shard::estimate(
                    mine().filter(|(b, &c)| c < b.runs.len()).map(|(b, _)| b),
                    &rate,
                );
                let stopping = match est.stopping_runs {
                    0 => String::new(),
                    s => format!(" ({s} runs stop at a target error: at most that)"),
                };
                say!(
                    "shard {i}/{shards}: {}, {:.1} GFLOP, {} on this machine{stopping}; \
                     {} cached, {} to go",
                    counted(est.batches, "batch", "batches"),
                    est.flops / 1e9,
                    human_duration(est.seconds),
                    est.batches - to_go.batches,
                    human_duration(to_go.seconds)
                );
            }
            if let Some(path) = json {
                let text = serde_json::to_vec_pretty(&plan).expect("the plan serializes");
                experiments::fsutil::write_atomic(&path, &text)
                    .map_err(experiments::io_at(&path))?;
                say!("{}", path.display());
            }
        }
        Command::Validate { specs, quick } => {
            // Every file, each refusal as it comes; then an error if any was refused.
            let mut refused = 0;
            for path in &specs {
                match load(path, quick) {
                    Ok(c) => {
                        let runs = experiments::sweep::expand(&c).len();
                        say!("{}: ok ({})", path.display(), counted(runs, "run", "runs"));
                    }
                    Err(e) if specs.len() > 1 => {
                        tell!("error: {e}");
                        refused += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
            if refused > 0 {
                return Err(experiments::Error::Spec(spec::SpecError {
                    file: PathBuf::from("validate"),
                    message: format!("{refused} of {} spec files refused (above)", specs.len()),
                }));
            }
        }
        Command::Export {
            spec,
            out,
            run,
            quick,
        } => {
            let config = load(&spec, quick)?;
            if let Some(note) = config.quick_note() {
                tell!("{note}");
            }
            let points = experiments::sweep::expand(&config);
            let point = points.get(run).ok_or_else(|| {
                experiments::Error::Spec(spec::SpecError {
                    file: spec.clone(),
                    message: format!(
                        "--run {run} is out of range; allowed: 0 to {} (runs.csv's `run` column)",
                        points.len() - 1
                    ),
                })
            })?;
            let need = experiments::export::export_bytes(point);
            if let Some(limit) = experiments::memory_budget().filter(|&l| need > l) {
                return Err(experiments::Error::Spec(spec::SpecError {
                    file: spec.clone(),
                    message: format!(
                        "exporting run {run} needs {} (the operator twice: the instance and its \
                         exported copy, and U_t at every logged step twice) but only {} \
                         may be used; raise gd.log_every or export a smaller instance (or raise \
                         LOWRANK_MAX_OPERATOR_BYTES)",
                        spec::human_bytes(need),
                        spec::human_bytes(limit)
                    ),
                }));
            }
            let files =
                experiments::export::export(point, &out).map_err(experiments::io_at(&out))?;
            for f in files {
                say!("{}", f.display());
            }
        }
    }
    Ok(())
}

/// Whether `path` holds a plan as `plan --json` writes it, which a new plan may replace.
fn is_plan_json(path: &Path) -> bool {
    let Ok(text) = std::fs::read(path) else {
        return false;
    };
    match serde_json::from_slice::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(map)) => {
            map.len() == 2 && map.contains_key("shards") && map.contains_key("batches")
        }
        _ => false,
    }
}

/// An estimated duration for people: "under 1 s", then "about" seconds below 2 minutes, minutes
/// below 2 hours, then hours (each unit chosen after rounding, so never "about 120 s").
fn human_duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        "an unknown time".into()
    } else if seconds < 0.5 {
        "under 1 s".into()
    } else if seconds.round() < 120.0 {
        format!("about {:.0} s", seconds.round())
    } else if (seconds / 60.0).round() < 120.0 {
        format!("about {:.0} min", (seconds / 60.0).round())
    } else {
        format!("about {:.1} h", seconds / 3600.0)
    }
}

/// Sorted indices as ranges, "0-17" or "0-8,18-26", cut after `max` characters with "…".
fn index_ranges(indices: &[usize], max: usize) -> String {
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        parts.push(if j == i {
            sorted[i].to_string()
        } else {
            format!("{}-{}", sorted[i], sorted[j])
        });
        i = j + 1;
    }
    // Whole ranges only, then "…" (a cut inside a number would read as another run).
    let mut text = String::new();
    for (k, part) in parts.iter().enumerate() {
        let sep = if k == 0 { "" } else { "," };
        let rest = if k + 1 < parts.len() { 1 } else { 0 };
        if text.chars().count() + sep.len() + part.chars().count() + rest > max {
            text.push('…');
            return text;
        }
        text.push_str(sep);
        text.push_str(part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_ranges_compress_runs_of_consecutive_indices() {
        assert_eq!(index_ranges(&[3, 0, 1, 2, 7, 9, 10], 20), "0-3,7,9-10");
        assert_eq!(index_ranges(&[5], 20), "5");
        assert_eq!(index_ranges(&[0, 2, 4, 6, 8, 10, 12], 10), "0,2,4,6,8…");
        assert_eq!(index_ranges(&[0, 2, 4, 6, 8, 10, 12], 13), "0,2,4,6,8,10…");
        assert_eq!(index_ranges(&[0, 1, 2, 30, 31, 35, 36], 10), "0-2,30-31…");
    }

    #[test]
    fn durations_read_in_the_unit_that_suits_them() {
        assert_eq!(human_duration(0.2), "under 1 s");
        assert_eq!(human_duration(61.0), "about 61 s");
        assert_eq!(human_duration(600.0), "about 10 min");
        assert_eq!(human_duration(9000.0), "about 2.5 h");
        assert_eq!(human_duration(119.7), "about 2 min");
        assert_eq!(human_duration(7190.0), "about 2.0 h");
        assert_eq!(human_duration(f64::NAN), "an unknown time");
        assert_eq!(counted(1, "batch", "batches"), "1 batch");
        assert_eq!(counted(3, "batch", "batches"), "3 batches");
    }
}
