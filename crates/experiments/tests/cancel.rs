//! Cancelling a run through `Progress::cancelled` (what Ctrl-C does in Python): nothing of the
//! batch under way is cached or written, its checkpoint is kept, and the rerun gives the bytes of
//! an uninterrupted run. Its own test binary, because it sets the checkpoint interval through the
//! environment (read by every batch of the process).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use experiments::spec::parse;
use experiments::{run_experiment, Layout, Progress, RunPoint, Silent};

mod common;

/// Two runs in one batch (SMALL with α swept), long enough for several checkpoints at the
/// interval set below.
fn two_run_spec() -> String {
    common::SMALL
        .replace("iterations = 120", "iterations = 3000")
        .replace("[plot]", "[sweep]\nalpha = [1e-2, 1e-3]\n[plot]")
}

/// Cancels once `after` logged iterations were seen, each slowed down so that checkpoints fall
/// before the cancellation; records where a batch resumed.
struct CancelAfter {
    after: usize,
    seen: AtomicUsize,
    cancel: AtomicBool,
    resumed_at: AtomicUsize,
}

impl CancelAfter {
    fn new(after: usize) -> Self {
        Self {
            after,
            seen: AtomicUsize::new(0),
            cancel: AtomicBool::new(false),
            resumed_at: AtomicUsize::new(0),
        }
    }
}

impl Progress for CancelAfter {
    fn iteration(&self, _t: usize) {
        std::thread::sleep(std::time::Duration::from_micros(300));
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 >= self.after {
            self.cancel.store(true, Ordering::SeqCst);
        }
    }
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
    fn resumed(&self, _points: &[&RunPoint], t: usize) {
        self.resumed_at.store(t, Ordering::SeqCst);
    }
}

fn files_with(dir: &Path, suffix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(suffix))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_cancelled_run_writes_nothing_keeps_its_checkpoint_and_resumes_to_the_same_bytes() {
    // The only test of this binary: no other thread reads the environment.
    std::env::set_var("LOWRANK_CHECKPOINT_SECONDS", "0.002");
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("cancel.toml");
    let text = two_run_spec();
    std::fs::write(&spec, &text).unwrap();
    let config = parse(&spec, &text, false).unwrap();
    let layout = |name: &str| Layout {
        results: tmp.path().join(name).join("results"),
        figures: tmp.path().join(name).join("figures"),
    };

    // Uninterrupted, for reference.
    let reference = layout("reference");
    run_experiment(&config, &reference, &Silent).unwrap();

    // Cancelled half-way (300 logged steps of two runs of 301 each): an Interrupted error, no
    // CSV, manifest or figure, no cache entry, and a checkpoint of the batch.
    let cancelled = layout("cancelled");
    let progress = CancelAfter::new(300);
    let err = run_experiment(&config, &cancelled, &progress).unwrap_err();
    assert!(err.to_string().contains("interrupted"), "{err}");
    // The runs stopped at once, not at their end (602 logged steps in all).
    let seen = progress.seen.load(Ordering::SeqCst);
    assert!(
        seen <= 300 + 2,
        "{seen} logged steps after a cancellation at 300"
    );
    assert!(!cancelled.results_dir(&config).join("runs.csv").exists());
    assert!(!cancelled
        .results_dir(&config)
        .join("manifest.json")
        .exists());
    assert!(files_with(&cancelled.figures_dir(&config), ".png").is_empty());
    let cache = cancelled.cache_dir(&config);
    let entries: Vec<String> = files_with(&cache, ".json")
        .into_iter()
        .filter(|n| !n.contains("checkpoint"))
        .collect();
    assert!(
        entries.is_empty(),
        "cache entries of a cancelled batch: {entries:?}"
    );
    let checkpoints = files_with(&cache, ".checkpoint.json");
    assert_eq!(
        checkpoints.len(),
        1,
        "the batch's checkpoint: {checkpoints:?}"
    );

    // The rerun continues from the checkpoint (before the cancellation) and writes the bytes of
    // the uninterrupted run.
    let rerun = CancelAfter::new(usize::MAX);
    run_experiment(&config, &cancelled, &rerun).unwrap();
    let resumed = rerun.resumed_at.load(Ordering::SeqCst);
    assert!(resumed > 0 && resumed < 3000, "resumed at t = {resumed}");
    for csv in ["runs.csv", "trajectories.csv"] {
        let a = std::fs::read(reference.results_dir(&config).join(csv)).unwrap();
        let b = std::fs::read(cancelled.results_dir(&config).join(csv)).unwrap();
        assert!(a == b, "{csv} differs from the uninterrupted run");
    }
}
