//! `results/<name>/manifest.json`: what made the data — the resolved spec, every run's seeds, the
//! code version (git commit, crate version), the machine and the wall time.

use serde::Serialize;

use crate::run::{CacheStats, CACHE_VERSION};
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

/// The manifest (see the module docs).
#[derive(Debug, Clone, Serialize)]
pub struct Manifest<'a> {
    /// Experiment name.
    pub name: &'a str,
    /// The spec file.
    pub spec_file: String,
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
}

fn git_commit() -> String {
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
            let dirty = out(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
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
    ) -> Self {
        Self {
            name: &config.name,
            spec_file: config.file.display().to_string(),
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
        }
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("manifest serializes")
    }
}
