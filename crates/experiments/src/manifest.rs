//! `results/<name>/manifest.json`: what made the data — the resolved spec, every run's seeds, the
//! code version (git commit, crate version), the machine and the wall time, and a [`Stamp`] that
//! ties it to the runs it describes and to the bytes of the two CSVs written with it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::output::DataError;
use crate::run::{short_hash, CacheStats, CACHE_VERSION};
use crate::spec::Config;
use crate::sweep::RunPoint;

/// The machine a run happened on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Host name.
    pub hostname: String,
    /// CPU model.
    pub cpu: String,
    /// Logical CPUs available.
    pub cpus: usize,
    /// Operating system.
    pub os: String,
}

/// Hashes ([`short_hash`]: 64 bits of SHA-256, 16 hex digits) that tie a manifest to its data, checked before a figure is
/// drawn: `runs` of the JSON of the resolved runs (so results of another version of the spec
/// are refused), `runs_csv` and `trajectories_csv` of the files' bytes (so a set mixed by an
/// interrupted write is refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Hash of the resolved runs ([`runs_hash`]).
    pub runs: String,
    /// Hash of runs.csv.
    pub runs_csv: String,
    /// Hash of trajectories.csv.
    pub trajectories_csv: String,
}

fn hex(bytes: &[u8]) -> String {
    short_hash(bytes)
}

/// Hash of what determines the results of a spec, as in [`Stamp::runs`]: the JSON of its resolved
/// runs and its phase thresholds (which enter runs.csv's t_*, t_1, t_hat).
pub fn runs_hash(config: &Config, points: &[RunPoint]) -> String {
    let th = config.spec.diagnostics.thresholds();
    let text = format!(
        "{}|tau={:e}|rho={:e}",
        serde_json::to_string(points).expect("RunPoint serializes"),
        th.sin_theta,
        th.signal_to_noise
    );
    hex(text.as_bytes())
}

impl Stamp {
    /// The stamp of the runs `points` of `config` written as `runs_csv` and `trajectories_csv`.
    pub fn new(
        config: &Config,
        points: &[RunPoint],
        runs_csv: &[u8],
        trajectories_csv: &[u8],
    ) -> Self {
        Self {
            runs: runs_hash(config, points),
            runs_csv: hex(runs_csv),
            trajectories_csv: hex(trajectories_csv),
        }
    }

    /// Checks the results in `dir` (manifest.json, runs.csv, trajectories.csv) against
    /// `runs_hash` ([`runs_hash`] of the spec now): an error names the file and says what to do,
    /// with `rerun`, the command that recomputes them.
    pub fn verify(dir: &Path, runs_hash: &str, rerun: &str) -> Result<(), DataError> {
        let path = dir.join("manifest.json");
        let rerun = format!("run `{rerun}`");
        let err = |file: &Path, message: String| DataError {
            file: file.display().to_string(),
            message,
        };
        let text = std::fs::read(&path)
            .map_err(|e| err(&path, format!("cannot read ({e}); {rerun} first")))?;
        let stamp: Stamp = serde_json::from_slice::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| serde_json::from_value(v.get("stamp")?.clone()).ok())
            .ok_or_else(|| {
                err(
                    &path,
                    format!(
                        "not a manifest with a data stamp (written by an older version?); {rerun}"
                    ),
                )
            })?;
        if stamp.runs != runs_hash {
            return Err(err(
                &path,
                format!(
                    "these results were computed for other runs or phase thresholds than the spec \
                     now describes ([plot], title and caption may change, nothing else); {rerun} to \
                     recompute"
                ),
            ));
        }
        for (name, want) in [
            ("runs.csv", &stamp.runs_csv),
            ("trajectories.csv", &stamp.trajectories_csv),
        ] {
            let file = dir.join(name);
            let bytes = std::fs::read(&file)
                .map_err(|e| err(&file, format!("cannot read ({e}); {rerun}")))?;
            if &hex(&bytes) != want {
                return Err(err(
                    &file,
                    format!(
                        "does not match manifest.json (an interrupted or concurrent write?); {rerun}"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The manifest (see the module docs).
#[derive(Debug, Clone, Serialize)]
pub struct Manifest<'a> {
    /// Experiment name.
    pub name: &'a str,
    /// Ties the manifest to its runs and CSVs.
    pub stamp: Stamp,
    /// The spec file, as given on the command line.
    pub spec_file: String,
    /// The spec file as an absolute path with symbolic links resolved (as given if that fails):
    /// what `run` compares to tell another spec file of the same name from this one.
    pub spec_path: String,
    /// Whether `[quick]` overrides were applied.
    pub quick: bool,
    /// The resolved spec.
    pub spec: &'a crate::spec::Spec,
    /// Every run with its parameters and seeds (same order as runs.csv).
    pub runs: &'a [RunPoint],
    /// `git rev-parse HEAD` of the working tree (with `-dirty` if it has changes), or "unknown".
    pub git_commit: String,
    /// Version of the experiments crate.
    pub crate_version: &'static str,
    /// Version tag of cached run results.
    pub cache_version: u32,
    /// Cache hits and computed runs.
    pub cache: CacheStats,
    /// The machine.
    pub machine: Machine,
    /// Seconds since the Unix epoch when the manifest was written.
    pub written_at_unix: u64,
    /// Wall time of this invocation (seconds), excluding drawing; small when runs were cached.
    pub wall_seconds: f64,
    /// Time it took to compute all runs, cached ones included (seconds): the cost of a full run.
    pub compute_seconds: f64,
    /// Which machine computed which runs ("hostname (CPU model)" → indices of runs.csv's `run`
    /// column): with shards on several machines of different CPU types, the runs whose last bits
    /// may differ from a single-machine run. "unrecorded" for entries cached before this was kept.
    pub computed_on: std::collections::BTreeMap<String, Vec<usize>>,
}

/// The manifest in `dir` as JSON, or None if it is missing or not JSON (what the gallery and
/// `run`'s same-name check read; [`Stamp::verify`] reads it with its own error messages).
pub fn read_json(dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read(dir.join("manifest.json")).ok()?;
    serde_json::from_slice(&text).ok()
}

/// `git rev-parse HEAD` of the working directory's repository, with `-dirty` if tracked files
/// other than the generated outputs (figures/, theory/, bench/) changed, or "unknown" outside a
/// repository. Outputs are left out because regenerating them changes them: `make figures` after
/// a change of numbers would otherwise mark every later manifest and the theory report dirty.
pub fn git_commit() -> String {
    let out = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match out(&["rev-parse", "HEAD"]) {
        Some(c) if !c.is_empty() => {
            // A status that fails (e.g. a git without exclude pathspecs) counts as dirty.
            let dirty = out(&[
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ":(top,exclude)figures",
                ":(top,exclude)theory",
                ":(top,exclude)bench",
            ])
            .is_none_or(|s| !s.is_empty());
            if dirty {
                format!("{c}-dirty")
            } else {
                c
            }
        }
        _ => "unknown".into(),
    }
}

impl Machine {
    /// Reads the current machine's description (Linux; "unknown" where unavailable).
    /// "hostname (CPU model)".
    pub fn label(&self) -> String {
        format!("{} ({})", self.hostname, self.cpu)
    }

    /// The machine this process runs on.
    pub fn current() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map_or("unknown".into(), |s| s.trim().to_string());
        let os = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map_or("unknown".into(), |s| s.trim_matches('"').to_string());
        Self {
            hostname: read("/etc/hostname").trim().to_string(),
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os,
        }
    }
}

impl<'a> Manifest<'a> {
    /// The manifest of an experiment that just ran.
    pub fn new(
        config: &'a Config,
        runs: &'a [RunPoint],
        cache: CacheStats,
        wall_seconds: f64,
        compute_seconds: f64,
        stamp: Stamp,
        computed_on: std::collections::BTreeMap<String, Vec<usize>>,
    ) -> Self {
        Self {
            name: &config.name,
            stamp,
            spec_file: config.file.display().to_string(),
            spec_path: config
                .file
                .canonicalize()
                .unwrap_or_else(|_| config.file.clone())
                .display()
                .to_string(),
            quick: config.quick,
            spec: &config.spec,
            runs,
            git_commit: git_commit(),
            crate_version: env!("CARGO_PKG_VERSION"),
            cache_version: CACHE_VERSION,
            cache,
            machine: Machine::current(),
            written_at_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            wall_seconds,
            compute_seconds,
            computed_on,
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("manifest serializes")
    }
}
