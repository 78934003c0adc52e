//! `figures/README.md`: every figure with its caption, the spec that made it, the command that
//! remakes it and the time its runs took (from `results/<name>/manifest.json`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::output::col;
use crate::spec::Config;
use crate::Layout;

/// Compute time (s), run count and git commit of an experiment, from its manifest (None if it
/// has not run).
pub fn run_cost(layout: &Layout, config: &Config) -> Option<(f64, usize, String)> {
    let v = crate::manifest::read_json(&layout.results_dir(config))?;
    Some((
        v.get("compute_seconds")?.as_f64()?,
        v.get("runs")?.as_array()?.len(),
        v.get("git_commit")
            .and_then(|c| c.as_str())
            .unwrap_or("unknown")
            .to_string(),
    ))
}

/// The distinct runs behind a set of specs (see [`distinct_runs`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DistinctRuns {
    /// Number of distinct runs.
    pub runs: usize,
    /// Their computing time (s), each run's from its cache entry.
    pub seconds: f64,
    /// Flops of their operator products: 4·m·p per run-iteration (forward 𝐀·w and adjoint 𝐀ᵀ·r,
    /// 2·m·p each, p = n(n+1)/2), over the iterations each run did: T, or up to its divergence, or
    /// up to the logged step at which it stopped (its observer, or `gd.stop_below_test_error`).
    pub operator_flops: f64,
}

/// The distinct runs behind `configs`: the cache keys from each `results/<name>/runs.csv`, each
/// run's time from its cache entry, so a run that several specs share (specs whose batches are
/// identical, see `run`) counts once, as it is computed once. `None` if no run has results.
pub fn distinct_runs(configs: &[Config], layout: &Layout) -> Option<DistinctRuns> {
    // cache key → (cache directory, operator flops per iteration, iterations unless it stopped)
    let mut runs: BTreeMap<String, (PathBuf, f64, f64)> = BTreeMap::new();
    for c in configs {
        let Ok(rows) = crate::output::read_runs(&layout.results_dir(c)) else {
            continue;
        };
        for row in rows {
            let (n, m) = (row.num(col::N), row.num(col::M));
            let iterations = match row.num(col::DIVERGED_AT) {
                t if t.is_nan() => row.num(col::ITERATIONS),
                t => t,
            };
            let per_iteration = 4.0 * m * (n * (n + 1.0) / 2.0);
            runs.entry(row.text(col::KEY).to_string())
                .or_insert_with(|| (layout.cache_dir(c), per_iteration, iterations));
        }
    }
    let timed: Vec<(f64, f64)> = runs
        .iter()
        .filter_map(|(key, (dir, per_iteration, iterations))| {
            let entry = crate::run::read_entry(dir, key)?;
            Some((
                entry.seconds,
                per_iteration * iterations_done(&entry, *iterations),
            ))
        })
        .collect();
    (!timed.is_empty()).then(|| DistinctRuns {
        runs: timed.len(),
        seconds: timed.iter().map(|(s, _)| s).sum(),
        operator_flops: timed.iter().map(|(_, f)| f).sum(),
    })
}

/// The iterations a run did, given the `planned` count (T, or its divergence time): up to the
/// logged step at which it stopped if it was stopped (its observer, or `gd.stop_below_test_error`).
fn iterations_done(entry: &crate::run::RunResult, planned: f64) -> f64 {
    let stopped = entry.status == "stopped" || entry.status == crate::run::REACHED_TARGET;
    match entry.t.last() {
        Some(&t) if stopped => t as f64,
        _ => planned,
    }
}

/// One batch of the plan of a set of specs ([`crate::shard::plan`]), with what the cache says
/// it cost (see [`batches_done`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchDone {
    /// The spec it was computed for.
    pub spec: String,
    /// n and m of its instance (m = 0 for matrix completion).
    pub n: usize,
    /// m.
    pub m: usize,
    /// Its computing time (s): the sum of its runs' times in their cache entries.
    pub seconds: f64,
    /// Threads it was computed on (0: not recorded, in entries written before 2026-12-05).
    pub threads: usize,
    /// The iterations each of its runs did: T, or up to its divergence, or up to the logged step
    /// at which it stopped.
    pub iterations: Vec<f64>,
}

/// The batches of `configs` as `run` forms them, each with its time and its runs' iterations
/// from the cache; batches with a run that is not in the cache are left out. A run two batches
/// share (planned under both when each has runs of its own) counts in the first only, and a batch
/// left with none of its own is left out, so every cached run counts once.
pub fn batches_done(configs: &[Config], layout: &Layout) -> Vec<BatchDone> {
    let plan = crate::shard::plan(configs, 1);
    let mut counted = std::collections::HashSet::new();
    plan.batches
        .iter()
        .filter_map(|b| {
            let dir = layout.cache_dir(&configs[b.spec_index]);
            let entries = b
                .keys
                .iter()
                .map(|key| crate::run::read_entry(&dir, key).map(|e| (key, e)))
                .collect::<Option<Vec<_>>>()?;
            let (mut seconds, mut threads) = (0.0, 0);
            let mut iterations = Vec::with_capacity(b.keys.len());
            for (key, entry) in entries {
                if !counted.insert(key.clone()) {
                    continue;
                }
                seconds += entry.seconds;
                threads = threads.max(entry.threads);
                let planned = entry.diverged_at.unwrap_or(b.iterations) as f64;
                iterations.push(iterations_done(&entry, planned));
            }
            if iterations.is_empty() {
                return None;
            }
            Some(BatchDone {
                spec: b.spec.clone(),
                n: b.n,
                m: b.m,
                seconds,
                threads,
                iterations,
            })
        })
        .collect()
}

/// The gallery text for `configs` (figure paths relative to the figures directory). Links to the
/// specs are relative to the figures directory and the commands name `layout`'s directories when
/// they are not the defaults, so they work as printed from the directory `gallery` ran in.
pub fn gallery(configs: &[Config], layout: &Layout) -> String {
    let default = Layout::default();
    let mut global = String::new();
    if layout.results != default.results {
        let _ = write!(global, " --results {}", layout.results.display());
    }
    if layout.figures != default.figures {
        let _ = write!(global, " --figures {}", layout.figures.display());
    }
    let spec_dirs: std::collections::BTreeSet<String> = configs
        .iter()
        .map(|c| spec_dir(&c.file).display().to_string())
        .collect();
    // One directory (gallery reads one), named; else the default's name.
    let specs = match (spec_dirs.len(), spec_dirs.first()) {
        (1, Some(dir)) => dir.as_str(),
        _ => "experiments",
    };
    let mut s = format!(
        "# Figures\n\nGenerated by `experiments gallery` (run by `make figures`) from the specs in \
         `{specs}/` and the manifests in `{results}/`. Every figure is drawn only from \
         `{results}/<name>/runs.csv` and `trajectories.csv`; `experiments plot <name>` redraws it \
         without recomputing.\n\n",
        results = layout.results.display(),
    );
    for c in configs {
        let cost = run_cost(layout, c);
        let when = match &cost {
            Some((secs, runs, commit)) => {
                format!(
                    "{runs} run{}, {secs:.0} s of computing on the machine that made it (commit {commit})",
                    if *runs == 1 { "" } else { "s" }
                )
            }
            None => "not run yet".into(),
        };
        let name = &c.name;
        // Only a figure that was drawn is shown (a spec not run yet has none).
        let image = if layout.figures.join(format!("{name}.png")).is_file() {
            format!("![{name}]({name}.png)\n\n")
        } else {
            String::new()
        };
        let file = c.file.display();
        let link = link_from(&layout.figures, &c.file);
        let dir = spec_dir(&c.file);
        let specs_dir = if dir == Path::new("experiments") {
            String::new()
        } else {
            format!(" --specs-dir {}", dir.display())
        };
        let _ = write!(
            s,
            "## {name}\n\n{image}**{title}**\n\n{caption}\n\n\
             - spec: [`{file}`]({link})\n- remake: `target/release/experiments{global} run {file}`{make}; \
             restyle only: `target/release/experiments{global} plot {name}{specs_dir}`\n\
             - data: `{results}/{name}/` — {when}\n\n",
            title = c.spec.title,
            results = layout.results.display(),
            // `make figures` remakes the default layout only.
            make = if global.is_empty() && specs_dir.is_empty() {
                " (or `make figures`)"
            } else {
                ""
            },
            caption = c
                .spec
                .caption
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    if let Some(d) = distinct_runs(configs, layout) {
        let _ = writeln!(
            s,
            "Total computing time of all figures: {:.1} minutes ({} distinct runs; a run \
             that several specs share is computed once and counted once; summed over the processes \
             that computed them, each on its share of the cores, so with `make figures`' one \
             process per core it is about that many times the wall time).",
            d.seconds / 60.0,
            d.runs
        );
    }
    s
}

/// The directory of a spec file ("." for a bare file name).
fn spec_dir(file: &Path) -> &Path {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `target` as a link from a page in `dir`: relative when both resolve against the working
/// directory (`../experiments/x.toml` from `figures/`), else `target` made absolute.
fn link_from(dir: &Path, target: &Path) -> String {
    let (Ok(dir), Ok(target)) = (std::path::absolute(dir), std::path::absolute(target)) else {
        return target.display().to_string();
    };
    pathdiff::diff_paths(&target, &dir)
        .unwrap_or(target)
        .display()
        .to_string()
}

/// Writes `<figures>/README.md` atomically.
pub fn write_gallery(configs: &[Config], layout: &Layout) -> std::io::Result<std::path::PathBuf> {
    let path = Path::new(&layout.figures).join("README.md");
    crate::fsutil::write_atomic(&path, gallery(configs, layout).as_bytes())?;
    Ok(path)
}
