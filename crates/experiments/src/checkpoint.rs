//! Checkpoints of long batches, so that an interrupted run (Ctrl-C, kill -9, a lost node) resumes
//! where it was and ends with the same bytes as an uninterrupted one.
//!
//! A batch that has computed for [`FIRST_AFTER`] × the interval (by default 60 s) writes its state
//! every interval (default 10 s; `LOWRANK_CHECKPOINT_SECONDS` sets the interval, e.g. 0.1 in tests),
//! or less often once a write takes longer than [`MAX_OVERHEAD`] of the interval (the logged rows
//! grow with t, so a fixed interval would make the writes of a long batch cost O(T²)),
//! to `<cache>/<first key of the batch>.checkpoint.json`, atomically (a private temporary file
//! renamed over the previous checkpoint). The state is the core's [`BatchState`] (every run's U_t,
//! last observed iterate and end, if any) and each run's logged rows so far, all floats stored as
//! their IEEE-754 bit patterns, so resuming is exact. When the batch is done and cached the
//! checkpoint is removed. A checkpoint that does not match its batch (other keys, shapes, or rows)
//! is ignored and the batch starts from t = 0. A write that fails (disk full, permissions) stops the
//! batch's checkpoints, not the batch, and is reported once through the caller's callback.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lowrank_core::descent::{BatchState, Checkpointer, RunState, RunStatus};
use lowrank_core::StepFailure;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::fsutil::write_atomic;
use crate::sweep::RunPoint;

/// The environment variable that sets the checkpoint interval in seconds (default 10).
pub const INTERVAL_ENV: &str = "LOWRANK_CHECKPOINT_SECONDS";

/// Default checkpoint interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// A batch writes its first checkpoint after this many intervals (60 s by default).
pub const FIRST_AFTER: u32 = 6;

/// The largest share of a batch's time that writing its checkpoints may take: after a write that
/// took d, the next one is due after max(interval, d / MAX_OVERHEAD) ([`next_delay`]).
pub const MAX_OVERHEAD: f64 = 0.1;

/// The wait before the next checkpoint after one whose write took `write`: max(interval,
/// write / [`MAX_OVERHEAD`]).
pub fn next_delay(interval: Duration, write: Duration) -> Duration {
    interval.max(write.mul_f64(1.0 / MAX_OVERHEAD))
}

/// Called once with the checkpoint's path and the error when a checkpoint cannot be written.
pub type OnFailure<'a> = Box<dyn FnMut(&Path, &std::io::Error) + Send + 'a>;

/// Version of the checkpoint format.
const FORMAT: u32 = 1;

/// The checkpoint interval: `LOWRANK_CHECKPOINT_SECONDS` if set to a positive number of seconds,
/// else [`DEFAULT_INTERVAL`].
pub fn interval() -> Result<Duration, String> {
    match std::env::var(INTERVAL_ENV) {
        Err(_) => Ok(DEFAULT_INTERVAL),
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                format!("{INTERVAL_ENV} = {v:?}: allowed: a positive number of seconds, e.g. 10")
            }),
    }
}

/// What a run's observer has recorded so far (shared with the checkpointer).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recorded {
    /// Logged iterations.
    pub t: Vec<usize>,
    /// One row of quantities per logged iteration.
    pub values: Vec<Vec<f64>>,
    /// The run stopped because it reached its target error.
    pub reached_target: bool,
}

/// A recorder's rows, shared between its observer and the checkpointer.
pub type SharedRecorded = Arc<Mutex<Recorded>>;

fn lock(r: &SharedRecorded) -> std::sync::MutexGuard<'_, Recorded> {
    r.lock().unwrap_or_else(|p| p.into_inner())
}

/// The file of the checkpoint of the batch whose cache keys are `keys`.
pub fn path(cache_dir: &Path, keys: &[String]) -> PathBuf {
    cache_dir.join(format!("{}.checkpoint.json", keys[0]))
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    format: u32,
    keys: Vec<String>,
    t: usize,
    runs: Vec<FileRun>,
}

#[derive(Debug, Serialize, Deserialize)]
struct FileRun {
    rows: usize,
    cols: usize,
    u: Vec<u64>,
    last_good: Vec<u64>,
    /// None: still running; else (status label, iteration).
    status: Option<(String, usize)>,
    logged_t: Vec<usize>,
    values: Vec<Vec<u64>>,
    reached_target: bool,
}

fn bits(a: &Array2<f64>) -> Vec<u64> {
    a.iter().map(|v| v.to_bits()).collect()
}

fn from_bits(rows: usize, cols: usize, v: &[u64]) -> Option<Array2<f64>> {
    Array2::from_shape_vec((rows, cols), v.iter().map(|&b| f64::from_bits(b)).collect()).ok()
}

fn encode_status(s: &RunStatus) -> (String, usize) {
    match *s {
        RunStatus::Completed => ("completed".into(), 0),
        RunStatus::Diverged { at } => ("diverged".into(), at),
        RunStatus::Stopped { at } => ("stopped".into(), at),
        RunStatus::StepFailed { at, reason } => (reason.label().into(), at),
    }
}

fn decode_status((label, at): &(String, usize)) -> Option<RunStatus> {
    let at = *at;
    Some(match label.as_str() {
        "completed" => RunStatus::Completed,
        "diverged" => RunStatus::Diverged { at },
        "stopped" => RunStatus::Stopped { at },
        l if l == StepFailure::SingularPreconditioner.label() => RunStatus::StepFailed {
            at,
            reason: StepFailure::SingularPreconditioner,
        },
        _ => return None,
    })
}

/// Reads the checkpoint of a batch (`keys`, `points` in batch order, `columns` quantities per
/// row): the state to continue from and each run's rows so far. None if there is none, or if it
/// does not match the batch.
pub fn load(
    cache_dir: &Path,
    keys: &[String],
    points: &[&RunPoint],
    columns: &[usize],
) -> Option<(BatchState, Vec<Recorded>)> {
    let text = std::fs::read(path(cache_dir, keys)).ok()?;
    let file: File = serde_json::from_slice(&text).ok()?;
    if file.format != FORMAT || file.keys != keys || file.runs.len() != points.len() {
        return None;
    }
    let mut runs = Vec::with_capacity(points.len());
    let mut recorded = Vec::with_capacity(points.len());
    for ((r, p), &width) in file.runs.iter().zip(points).zip(columns) {
        let on_schedule = r
            .logged_t
            .iter()
            .all(|&t| t < file.t && (t % p.log_every == 0 || t == p.iterations));
        let sane = (r.rows, r.cols) == (p.n, p.r_prime)
            && r.logged_t.len() == r.values.len()
            && r.values.iter().all(|v| v.len() == width)
            && file.t <= p.iterations
            && on_schedule;
        if !sane {
            return None;
        }
        let status = match &r.status {
            Some(s) => Some(decode_status(s)?),
            None => None,
        };
        runs.push(RunState {
            u: from_bits(r.rows, r.cols, &r.u)?,
            last_good: from_bits(r.rows, r.cols, &r.last_good)?,
            status,
        });
        recorded.push(Recorded {
            t: r.logged_t.clone(),
            values: r
                .values
                .iter()
                .map(|v| v.iter().map(|&b| f64::from_bits(b)).collect())
                .collect(),
            reached_target: r.reached_target,
        });
    }
    Some((BatchState { t: file.t, runs }, recorded))
}

/// Writes a batch's state every interval once the batch has run for [`FIRST_AFTER`] intervals (less
/// often when writes are slow, see [`next_delay`]).
pub struct TimedCheckpointer<'a> {
    path: PathBuf,
    keys: Vec<String>,
    recorded: Vec<SharedRecorded>,
    interval: Duration,
    next: Instant,
    /// Checkpoints written.
    pub written: usize,
    /// The first write that failed (checkpoints are then no longer attempted; the run goes on).
    pub failed: Option<std::io::Error>,
    on_failure: Option<OnFailure<'a>>,
}

impl<'a> TimedCheckpointer<'a> {
    /// For the batch with cache keys `keys` and its runs' shared rows; `on_failure` hears of the
    /// first write that fails.
    pub fn new(
        cache_dir: &Path,
        keys: Vec<String>,
        recorded: Vec<SharedRecorded>,
        interval: Duration,
        on_failure: Option<OnFailure<'a>>,
    ) -> Self {
        Self {
            path: path(cache_dir, &keys),
            keys,
            recorded,
            interval,
            next: Instant::now() + interval * FIRST_AFTER,
            written: 0,
            failed: None,
            on_failure,
        }
    }
}

impl Checkpointer for TimedCheckpointer<'_> {
    fn due(&mut self, _t: usize) -> bool {
        self.failed.is_none() && Instant::now() >= self.next
    }

    fn save(&mut self, state: &BatchState) {
        let start = Instant::now();
        let runs = state
            .runs
            .iter()
            .zip(&self.recorded)
            .map(|(s, rec)| {
                let rec = lock(rec);
                FileRun {
                    rows: s.u.nrows(),
                    cols: s.u.ncols(),
                    u: bits(&s.u),
                    last_good: bits(&s.last_good),
                    status: s.status.as_ref().map(encode_status),
                    logged_t: rec.t.clone(),
                    values: rec
                        .values
                        .iter()
                        .map(|v| v.iter().map(|x| x.to_bits()).collect())
                        .collect(),
                    reached_target: rec.reached_target,
                }
            })
            .collect();
        let file = File {
            format: FORMAT,
            keys: self.keys.clone(),
            t: state.t,
            runs,
        };
        let json = serde_json::to_vec(&file).expect("a checkpoint serializes");
        match write_atomic(&self.path, &json) {
            Ok(()) => self.written += 1,
            Err(e) => {
                if let Some(report) = self.on_failure.as_mut() {
                    report(&self.path, &e);
                }
                self.failed = Some(e);
            }
        }
        self.next = Instant::now() + next_delay(self.interval, start.elapsed());
    }
}

/// Removes a batch's checkpoint (after its results are cached), and any checkpoint named by
/// another of its runs: one left by an earlier attempt whose first pending run was another (the
/// cache held other runs then), which no batch would ever read again. A missing file is fine.
pub fn remove(cache_dir: &Path, keys: &[String]) {
    for k in 0..keys.len() {
        let _ = std::fs::remove_file(path(cache_dir, &keys[k..]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_writes_space_the_checkpoints_out() {
        let interval = Duration::from_secs(10);
        assert_eq!(next_delay(interval, Duration::from_millis(50)), interval);
        assert_eq!(next_delay(interval, Duration::from_secs(1)), interval);
        assert_eq!(
            next_delay(interval, Duration::from_secs(3)),
            Duration::from_secs(30)
        );
    }

    /// A write that fails is reported once, stops the checkpoints and leaves nothing behind.
    #[test]
    fn a_failed_write_is_reported_once_and_stops_the_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let keys = vec!["00c0ffee00c0ffee".to_string()];
        // A directory where the checkpoint file should go: renaming onto it fails.
        std::fs::create_dir(path(dir.path(), &keys)).unwrap();
        let reports = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&reports);
        let mut c = TimedCheckpointer::new(
            dir.path(),
            keys.clone(),
            vec![SharedRecorded::default()],
            Duration::ZERO,
            Some(Box::new(move |p: &Path, e: &std::io::Error| {
                sink.lock().unwrap().push((p.to_path_buf(), e.to_string()));
            })),
        );
        let state = BatchState {
            t: 7,
            runs: vec![RunState {
                u: Array2::zeros((3, 2)),
                last_good: Array2::zeros((3, 2)),
                status: None,
            }],
        };
        assert!(c.due(7));
        c.save(&state);
        assert!(c.failed.is_some());
        assert_eq!(c.written, 0);
        assert!(!c.due(8), "no checkpoint is attempted after a failure");
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].0, path(dir.path(), &keys));
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(
            left.len(),
            1,
            "only the directory in the way: no temporary file left"
        );
    }
}
