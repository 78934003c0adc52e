//! # experiments
//!
//! The pipeline from a TOML spec to data and figures, and the only crate that touches files and
//! terminals:
//!
//! ```text
//!   experiments/<name>.toml ──spec::load──▶ Config ──sweep::expand──▶ [RunPoint]
//!     ──run::execute (cache: results/cache/<key>.json, shared by all specs)──▶ [RunResult]
//!     ──output──▶ results/<name>/{runs.csv, trajectories.csv, manifest.json}
//!     ──output::read_results──▶ plot::render ──▶ figures/<name>.{png,svg}
//! ```
//! Quick mode (`--quick`, the spec's `[quick]` overrides) writes to `results/quick/<name>` and
//! `figures/quick/` so it never replaces full-size results.

pub mod checkpoint;
pub mod exact;
pub mod export;
pub mod fsutil;
pub mod gallery;
pub mod manifest;
pub mod output;
pub mod plot;
pub mod quantity;
pub mod run;
pub mod shard;
pub mod spec;
pub mod sweep;

use lowrank_core::analysis::EndState;
use std::path::{Path, PathBuf};

pub use run::{CacheStats, Progress, RunResult, Silent};
pub use spec::{Config, SpecError};
pub use sweep::RunPoint;

/// Any failure of the pipeline, with the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec is invalid.
    #[error("{0}")]
    Spec(#[from] SpecError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A results CSV cannot be read back.
    #[error("{0}")]
    Data(#[from] output::DataError),
    /// Drawing a figure failed.
    #[error("drawing {path}: {message}")]
    Plot {
        /// The figure.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

/// Wraps an I/O error with the path it concerns.
pub fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where results and figures go.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Root of the raw results (`results/`).
    pub results: PathBuf,
    /// Directory of the figures (`figures/`).
    pub figures: PathBuf,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            results: PathBuf::from("results"),
            figures: PathBuf::from("figures"),
        }
    }
}

impl Layout {
    /// `results/<name>` (or `results/quick/<name>`).
    pub fn results_dir(&self, config: &Config) -> PathBuf {
        self.quick_aware(&self.results, config).join(&config.name)
    }

    /// `results/cache` (or `results/quick/cache`): finished runs of every spec, by cache key, so a
    /// run that two specs share is computed once.
    pub fn cache_dir(&self, config: &Config) -> PathBuf {
        self.quick_aware(&self.results, config).join("cache")
    }

    /// `figures` (or `figures/quick`).
    pub fn figures_dir(&self, config: &Config) -> PathBuf {
        self.quick_aware(&self.figures, config)
    }

    fn quick_aware(&self, base: &Path, config: &Config) -> PathBuf {
        if config.quick {
            base.join("quick")
        } else {
            base.to_path_buf()
        }
    }
}

/// The most memory one batch may use (packed operator plus batch buffers, see
/// [`spec::MemoryBudget`]): `LOWRANK_MAX_OPERATOR_BYTES` if set (the name is historical), else 80%
/// of the machine's available memory (`MemAvailable` in /proc/meminfo), else no limit.
pub fn memory_budget() -> spec::MemoryBudget {
    if let Ok(Some(v)) = budget_variable() {
        return Some(v);
    }
    Some(proc_kib("/proc/meminfo", "MemAvailable:")? * 1024 * 8 / 10)
}

/// `LOWRANK_MAX_OPERATOR_BYTES`: `None` if unset or empty, an error if it is not a whole number.
fn budget_variable() -> Result<Option<u128>, String> {
    match std::env::var("LOWRANK_MAX_OPERATOR_BYTES") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse::<u128>().map(Some).map_err(|_| {
            format!(
                "LOWRANK_MAX_OPERATOR_BYTES = `{v}` is not a number of bytes; allowed: a whole number, e.g. 4000000000"
            )
        }),
        _ => Ok(None),
    }
}

/// An error if `LOWRANK_MAX_OPERATOR_BYTES` is set but is not a whole number of bytes (which
/// [`memory_budget`] would otherwise ignore).
pub fn check_memory_budget_variable() -> Result<(), String> {
    budget_variable().map(|_| ())
}

/// The value of a `Key:   <n> kB` line of a Linux /proc file (e.g. /proc/meminfo, /proc/self/status).
pub fn proc_kib(path: &str, key: &str) -> Option<u128> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// What the executor may use: BLAS threads set through [`set_blas_threads`] (see `run::Parallelism`).
pub fn resources() -> run::Resources {
    run::Resources { set_blas_threads }
}

#[allow(unsafe_code)]
mod openblas {
    use std::ffi::c_int;
    extern "C" {
        /// OpenBLAS's run-time thread count setter (libopenblas, linked through blas-src).
        pub fn openblas_set_num_threads(n: c_int);
        /// The thread count OpenBLAS's next calls may use.
        pub fn openblas_get_num_threads() -> c_int;
    }
}

/// Sets the number of OpenBLAS threads for subsequent BLAS calls.
pub fn set_blas_threads(n: usize) {
    let n = n.clamp(1, 256) as std::ffi::c_int;
    // SAFETY: a plain C function of the linked OpenBLAS taking an int; it only stores the thread
    // count used by later calls. It is called between, never during, BLAS calls.
    #[allow(unsafe_code)]
    unsafe {
        openblas::openblas_set_num_threads(n)
    }
}

/// The number of threads OpenBLAS's next calls may use (at most the machine's cores).
pub fn blas_threads() -> usize {
    // SAFETY: a plain C getter of the linked OpenBLAS; it reads the stored thread count.
    #[allow(unsafe_code)]
    let n = unsafe { openblas::openblas_get_num_threads() };
    n.max(1) as usize
}

/// Reads and validates a spec file ([`spec::load`]) and refuses it if its largest batch would
/// not fit in `budget` bytes ([`run::check_memory`]; `None` skips that check).
pub fn load_spec(
    path: &Path,
    quick: bool,
    budget: spec::MemoryBudget,
) -> Result<Config, SpecError> {
    let err = |message: String| SpecError {
        file: path.to_path_buf(),
        message,
    };
    let text = spec::read_text(path).map_err(err)?;
    parse_spec(path, &text, quick, budget)
}

/// [`load_spec`] of spec text; `path` names it in errors and gives the name.
pub fn parse_spec(
    path: &Path,
    text: &str,
    quick: bool,
    budget: spec::MemoryBudget,
) -> Result<Config, SpecError> {
    let config = spec::parse(path, text, quick)?;
    if let (Some(limit), false) = (budget, quick) {
        // The sizes of [quick] are checked without --quick too (spec::parse validated them).
        let has_quick = toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("quick"));
        if has_quick {
            let quick_config = spec::parse(path, text, true)?;
            run::check_memory(&quick_config, limit).map_err(|message| SpecError {
                file: path.to_path_buf(),
                message: format!("with its [quick] overrides merged: {message}"),
            })?;
        }
    }
    if let Some(limit) = budget {
        run::check_memory(&config, limit).map_err(|message| {
            // As every refusal of a spec run with its [quick] overrides, say so.
            let has_quick =
                toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("quick"));
            SpecError {
                file: path.to_path_buf(),
                message: if quick && has_quick {
                    format!("with its [quick] overrides merged: {message}")
                } else {
                    message
                },
            }
        })?;
    }
    // After the memory check: laying out the figure expands the sweep.
    check_panels(path, &config)?;
    Ok(config)
}

/// The optional runs.csv columns of `config`'s runs.
pub fn run_columns_of(config: &Config) -> output::RunColumns {
    output::RunColumns {
        algorithm: config.spec.names_algorithm(),
        completion: config.spec.is_completion(),
        truth: config.spec.problem.truth != crate::spec::TruthKind::Orthonormal,
        spectral: config.spec.diagnostics.spectral,
        noise: config.spec.names_noise(),
    }
}

/// Refuses a spec whose figure would have more panels than [`plot::MAX_PANELS`] before anything
/// runs (the figure is laid out from the runs' planned runs.csv rows: its panels depend on the
/// swept values only).
fn check_panels(path: &Path, config: &Config) -> Result<(), SpecError> {
    let planned = output::planned_runs(&sweep::expand(config), run_columns_of(config));
    match plot::panel_count(config, &planned) {
        Ok(panels) if panels > plot::MAX_PANELS => Err(SpecError {
            file: path.to_path_buf(),
            message: format!(
                "[sweep] with [plot] kind = {:?}: the figure would have {panels} panels (one per \
                 combination of the swept values it does not draw on one panel); allowed: at most \
                 {}: sweep fewer values, or choose a [plot] kind that draws them on one panel",
                serde_plain_kind(config.spec.plot.kind),
                plot::MAX_PANELS
            ),
        }),
        // A layout that needs the runs' outcomes is checked again when drawn.
        _ => Ok(()),
    }
}

/// The spec spelling of a plot kind (`error_vs_parameter`, …).
fn serde_plain_kind(kind: spec::PlotKind) -> String {
    toml::Value::try_from(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{kind:?}"))
}

/// What [`run_experiment`] did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Number of runs.
    pub runs: usize,
    /// Cache hits and computed runs.
    pub cache: CacheStats,
    /// Runs that diverged.
    pub diverged: usize,
    /// Completed runs that ended still falling.
    pub still_falling: usize,
    /// Completed runs that ended stalled (phase III never reached, error not falling).
    pub stalled: usize,
    /// Completion runs whose Ω was empty (|Ω| = 0: no data, train error NaN).
    pub unobserved: usize,
    /// Files written (CSV, manifest, figures).
    pub files: Vec<PathBuf>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Checks, before any work, the outputs of `config`: output paths the file system would refuse
/// (too long), output files that are links or directories, and output directories that cannot be
/// written; temporary files left by killed runs are removed.
pub fn check_outputs(config: &Config, layout: &Layout) -> Result<(), Error> {
    let dir = layout.results_dir(config);
    let cache = layout.cache_dir(config);
    let figures_dir = layout.figures_dir(config);
    check_output_paths(config, layout)?;
    // The figures directory first: a refusal there leaves no results directory behind. The
    // spec's own results directory is checked and left as it was (created when written); the
    // figures directory and the cache, which every spec shares, are created.
    fsutil::ensure_writable_dir(&figures_dir).map_err(io_at(&figures_dir))?;
    fsutil::check_writable_dir(&dir).map_err(io_at(&dir))?;
    fsutil::ensure_writable_dir(&cache).map_err(io_at(&cache))?;
    for d in [&figures_dir, &dir, &cache] {
        fsutil::remove_stale_temps(d);
    }
    Ok(())
}

/// The part of [`check_outputs`] that creates nothing: the output files' paths fit and are
/// neither links nor directories, and no results of another spec of the same name would be
/// replaced. A shard, which writes only cache entries, and `plan` check this too, so that a sweep
/// whose merge would be refused is refused before any shard computes.
pub fn check_output_paths(config: &Config, layout: &Layout) -> Result<(), Error> {
    let dir = layout.results_dir(config);
    let [png, svg] = plot::figure_paths(&layout.figures_dir(config), &config.name);
    check_entry_path_length(&layout.cache_dir(config))?;
    let outputs = ["runs.csv", "trajectories.csv", "manifest.json"].map(|f| dir.join(f));
    for p in outputs.iter().chain([&png, &svg]) {
        fsutil::check_output_file(p).map_err(io_at(p))?;
    }
    check_same_spec_file(config, &dir)
}

/// Refuses to replace results (and the figure) that another spec file of the same name wrote:
/// `results/<name>/manifest.json` records its spec file (`spec_path`, absolute; older manifests
/// only `spec_file`, as typed), and if that file still exists, is not `config.file` and the
/// recorded spec differs from this one, a run would silently replace the other spec's data. A
/// copy of the same spec (or the same file by another path) writes the same results: allowed.
fn check_same_spec_file(config: &Config, dir: &Path) -> Result<(), Error> {
    let Some(manifest) = manifest::read_json(dir) else {
        return Ok(());
    };
    let Some(recorded) = manifest["spec_path"]
        .as_str()
        .or_else(|| manifest["spec_file"].as_str())
    else {
        return Ok(());
    };
    let same_spec = serde_json::to_value(&config.spec).is_ok_and(|v| v == manifest["spec"]);
    match (Path::new(recorded).canonicalize(), config.file.canonicalize()) {
        (Ok(other), Ok(this)) if other != this && !same_spec => Err(Error::Spec(SpecError {
            file: config.file.clone(),
            message: format!(
                "{} holds the results of another spec with the same name, {recorded} \
                 (as its manifest.json records); running this one would replace them and its figure. \
                 Rename one of the two files, give this one other directories (--results, --figures), \
                 or remove {} if its results are no longer wanted",
                dir.display(),
                dir.display()
            ),
        })),
        _ => Ok(()),
    }
}

/// What a shard checks, which writes only cache entries: [`check_output_paths`] (for the merge
/// after it), and the cache directory is (made) writable.
pub fn check_cache_dir(config: &Config, layout: &Layout) -> Result<(), Error> {
    let cache = layout.cache_dir(config);
    check_output_paths(config, layout)?;
    fsutil::ensure_writable_dir(&cache).map_err(io_at(&cache))?;
    fsutil::remove_stale_temps(&cache);
    Ok(())
}

/// Whether a cache entry's path (16 hex digits of key) fits the file system's limits in `cache`.
fn check_entry_path_length(cache: &Path) -> Result<(), Error> {
    let entry = cache.join(format!("{}.json", "0".repeat(16)));
    fsutil::check_path_length(&entry).map_err(io_at(&entry))
}

/// Runs every point of `config` (reusing the cache), writes the CSVs and the manifest, then draws
/// the figure from the CSVs. Every file is written atomically.
pub fn run_experiment(
    config: &Config,
    layout: &Layout,
    progress: &dyn Progress,
) -> Result<Outcome, Error> {
    let start = std::time::Instant::now();
    let dir = layout.results_dir(config);
    let cache = layout.cache_dir(config);
    check_outputs(config, layout)?;
    let points = sweep::expand(config);
    let (results, stats) =
        run::execute(&points, Some(&cache), progress, resources()).map_err(io_at(&cache))?;
    let runs_path = dir.join("runs.csv");
    let traj_path = dir.join("trajectories.csv");
    let manifest_path = dir.join("manifest.json");
    let runs_csv = output::runs_csv(
        &points,
        &results,
        config.spec.diagnostics.thresholds(),
        run_columns_of(config),
    );
    let traj_csv = output::trajectories_csv(&points, &results);
    let stamp = manifest::Stamp::new(config, &points, runs_csv.as_bytes(), traj_csv.as_bytes());
    let seconds = start.elapsed().as_secs_f64();
    let compute: f64 = results.iter().map(|r| r.seconds).sum();
    let mut computed_on = std::collections::BTreeMap::<String, Vec<usize>>::new();
    for (p, r) in points.iter().zip(&results) {
        let host = if r.computed_on.is_empty() {
            "unrecorded".to_string()
        } else {
            r.computed_on.clone()
        };
        computed_on.entry(host).or_default().push(p.index);
    }
    let manifest =
        manifest::Manifest::new(config, &points, stats, seconds, compute, stamp, computed_on);
    let manifest_json = manifest.to_json();
    // The manifest goes last; its stamp lets readers detect a set mixed by an interruption.
    fsutil::write_set_atomic(&[
        (&runs_path, runs_csv.as_bytes()),
        (&traj_path, traj_csv.as_bytes()),
        (&manifest_path, &manifest_json),
    ])
    .map_err(io_at(&dir))?;
    let figures = plot_experiment(config, layout)?;
    let th = config.spec.diagnostics.thresholds();
    let count_state = |state: EndState| {
        points
            .iter()
            .zip(&results)
            .filter(|(p, r)| output::end_state_label(p, r, th) == state.name())
            .count()
    };
    let mut files = vec![runs_path, traj_path, manifest_path];
    files.extend(figures);
    Ok(Outcome {
        runs: points.len(),
        cache: stats,
        diverged: results.iter().filter(|r| r.status == "diverged").count(),
        still_falling: count_state(EndState::StillFalling),
        stalled: count_state(EndState::Stalled),
        unobserved: results
            .iter()
            .filter(|r| r.completion.as_ref().is_some_and(|c| c.observations == 0))
            .count(),
        files,
        seconds: start.elapsed().as_secs_f64(),
    })
}

impl Outcome {
    /// What a reader of the results of spec `name` should know beyond the numbers (runs that all
    /// diverged, ended still falling or stalled, saw no entry; cache entries recomputed), one
    /// message each: the command line prints them, the Python module warns with them.
    pub fn notes(&self, name: &str) -> Vec<String> {
        let runs = |n: usize| counted(n, "run", "runs");
        let one = |n: usize, a: &'static str, b: &'static str| if n == 1 { a } else { b };
        let mut notes = Vec::new();
        if self.runs > 0 && self.diverged == self.runs {
            notes.push(format!(
                "warning: {name}: every run diverged (runs.csv: status, diverged_at), so its \
                 figure has no final errors to draw; a smaller step size (gd.step_size) or \
                 initialization scale (init.alpha or sweep.alpha) is needed"
            ));
        }
        let n = self.still_falling;
        if n > 0 {
            notes.push(format!(
                "{name}: {} ended still falling (runs.csv: end_state): {} final error{}; a longer \
                 budget ([gd] iterations) is needed to read {} as such (error-against-parameter \
                 figures draw them hollow)",
                runs(n),
                one(n, "its", "their"),
                one(n, " is not a floor", "s are not floors"),
                one(n, "it", "them"),
            ));
        }
        if self.stalled > 0 {
            notes.push(format!(
                "{name}: {} ended stalled (runs.csv: end_state): not falling, and phase III (t_1) \
                 never reached: a saddle or a non-global stationary point, which a longer budget \
                 may or may not leave (error-against-parameter figures draw them hollow)",
                runs(self.stalled),
            ));
        }
        if self.unobserved > 0 {
            notes.push(format!(
                "{name}: {} observed no entry of XXᵀ (|Ω| = 0: runs.csv observations = 0, train \
                 error NaN, U_t = U_0 throughout)",
                runs(self.unobserved),
            ));
        }
        let n = self.cache.rejected;
        if n > 0 {
            notes.push(format!(
                "{name}: {n} cache entr{} could not be used (unreadable, e.g. written by an earlier \
                 version, a failed checksum, or not matching {} run) and {} recomputed",
                one(n, "y", "ies"),
                one(n, "its", "their"),
                one(n, "was", "were"),
            ));
        }
        notes
    }
}

/// "1 run", "3 runs": `count` with the word `one` or `many`.
pub fn counted(count: usize, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// The `experiments` command that computes the results of `config` into `layout`.
fn rerun_command(config: &Config, layout: &Layout) -> String {
    let mut cmd = String::from("experiments");
    let defaults = Layout::default();
    if layout.results != defaults.results {
        cmd += &format!(" --results {}", layout.results.display());
    }
    if layout.figures != defaults.figures {
        cmd += &format!(" --figures {}", layout.figures.display());
    }
    cmd += " run";
    if config.quick {
        cmd += " --quick";
    }
    cmd + &format!(" {}", config.file.display())
}

/// Redraws the figure of `config` from its existing CSVs (no computation), after checking with the
/// manifest's [`manifest::Stamp`] that they hold the runs `config` describes and were written
/// together.
pub fn plot_experiment(config: &Config, layout: &Layout) -> Result<[PathBuf; 2], Error> {
    let results = layout.results_dir(config);
    let hash = manifest::runs_hash(config, &sweep::expand(config));
    manifest::Stamp::verify(&results, &hash, &rerun_command(config, layout))?;
    let data = output::read_results(&results)?;
    let dir = layout.figures_dir(config);
    plot::render(config, &data, &dir).map_err(|e| Error::Plot {
        path: dir.join(&config.name),
        message: e.0,
    })
}
