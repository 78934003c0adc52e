//! Raw results as CSV, and reading them back for figures.
//!
//! `results/<name>/runs.csv`: one row per run: its parameters, all three seeds, the cache key, how it
//! ended (`status` = completed | diverged, `diverged_at`), summary errors, σ_min(X) and the detected
//! phase boundaries t_star, t_1, t_hat (empty when not reached; see `lowrank_core::analysis`).
//! A spec that names its algorithm (`[algorithm]` or `sweep.algorithm`) also gets the columns
//! [`ALGORITHM_COLUMNS`] after `step_size`: `algorithm` (gd | scaled_gd | precgd), `lambda`
//! (ScaledGD(λ)'s λ, else empty) and `c` (PrecGD's c, else empty). A spec without them runs GD and
//! its runs.csv has the columns it had before algorithms could be chosen.
//!
//! `results/<name>/trajectories.csv`: long format, one row per (run, logged iteration, quantity):
//! `run,t,quantity,value`. The quantities are those of [`crate::quantity`].
//!
//! Numbers are written with Rust's shortest round-trip formatting (`{:e}`), so the files are exact
//! and identical for identical specs.

use std::collections::BTreeMap;
use std::path::Path;

use lowrank_core::analysis::{
    detect_phases, end_state, EndState, PhaseInputs, PhaseThresholds, Phases,
};
use lowrank_core::Algorithm;

use crate::spec::OperatorModel;

use crate::quantity::{
    Named, Quantity, NOISE_NORM, SIGMA_MIN_SIGNAL, SIGMA_MIN_VX_U, SIN_THETA, TEST_ERROR,
    TRAIN_ERROR,
};
use crate::run::RunResult;
use crate::sweep::RunPoint;

/// A column of runs.csv, named by a constant of [`col`] (a misspelt column does not compile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column(pub &'static str);

/// The columns of runs.csv ([`RUN_COLUMNS`], then the optional [`ALGORITHM_COLUMNS`],
/// [`COMPLETION_COLUMNS`], `sigma`, `truth`, `spectral_deviation` and `sin_l_x`).
pub mod col {
    use super::Column;
    pub const RUN: Column = Column("run");
    pub const REPLICATE: Column = Column("replicate");
    pub const N: Column = Column("n");
    pub const R: Column = Column("r");
    pub const M: Column = Column("m");
    pub const KAPPA: Column = Column("kappa");
    pub const R_PRIME: Column = Column("r_prime");
    pub const ALPHA: Column = Column("alpha");
    pub const INIT: Column = Column("init");
    pub const STEP_SIZE: Column = Column("step_size");
    pub const ITERATIONS: Column = Column("iterations");
    pub const LOG_EVERY: Column = Column("log_every");
    pub const TRUTH_SEED: Column = Column("truth_seed");
    pub const OPERATOR_SEED: Column = Column("operator_seed");
    pub const INIT_SEED: Column = Column("init_seed");
    pub const KEY: Column = Column("key");
    pub const STATUS: Column = Column("status");
    pub const DIVERGED_AT: Column = Column("diverged_at");
    pub const END_STATE: Column = Column("end_state");
    pub const FINAL_TEST_ERROR: Column = Column("final_test_error");
    pub const MIN_TEST_ERROR: Column = Column("min_test_error");
    pub const MIN_TEST_ERROR_T: Column = Column("min_test_error_t");
    pub const FINAL_TRAIN_ERROR: Column = Column("final_train_error");
    pub const SIGMA_MIN_X: Column = Column("sigma_min_x");
    pub const T_STAR: Column = Column("t_star");
    pub const T_1: Column = Column("t_1");
    pub const T_HAT: Column = Column("t_hat");
    pub const ALGORITHM: Column = Column("algorithm");
    pub const LAMBDA: Column = Column("lambda");
    pub const C: Column = Column("c");
    pub const SAMPLING: Column = Column("sampling");
    pub const P: Column = Column("p");
    pub const THRESHOLD: Column = Column("threshold");
    pub const OBSERVATIONS: Column = Column("observations");
    pub const INCOHERENCE: Column = Column("incoherence");
    pub const SIGMA: Column = Column("sigma");
    pub const TRUTH: Column = Column("truth");
    pub const SPECTRAL_DEVIATION: Column = Column("spectral_deviation");
    pub const SIN_L_X: Column = Column("sin_l_x");
}

/// Column names of runs.csv (always present, in order).
pub const RUN_COLUMNS: &[&str] = &[
    col::RUN.0,
    col::REPLICATE.0,
    col::N.0,
    col::R.0,
    col::M.0,
    col::KAPPA.0,
    col::R_PRIME.0,
    col::ALPHA.0,
    col::INIT.0,
    col::STEP_SIZE.0,
    col::ITERATIONS.0,
    col::LOG_EVERY.0,
    col::TRUTH_SEED.0,
    col::OPERATOR_SEED.0,
    col::INIT_SEED.0,
    col::KEY.0,
    col::STATUS.0,
    col::END_STATE.0,
    col::DIVERGED_AT.0,
    col::FINAL_TEST_ERROR.0,
    col::MIN_TEST_ERROR.0,
    col::MIN_TEST_ERROR_T.0,
    col::FINAL_TRAIN_ERROR.0,
    col::SIGMA_MIN_X.0,
    col::T_STAR.0,
    col::T_1.0,
    col::T_HAT.0,
];

/// Columns of runs.csv that describe the algorithm, written after `step_size` when the spec names
/// its algorithm.
pub const ALGORITHM_COLUMNS: &[&str] = &[col::ALGORITHM.0, col::LAMBDA.0, col::C.0];

/// Columns of runs.csv that describe matrix completion, appended when the spec's operator is
/// completion: `sampling` (uniform | relu | matched_uniform), `p` (uniform: the sampling
/// probability; relu and matched_uniform: the fraction observed), `threshold` (relu and
/// matched_uniform), `observations` (|Ω|, the instance's m) and
/// `incoherence` (μ(X) = (n/r)·max_i ‖V_Xᵀe_i‖²). Their `m` column is 0 (m is not a parameter).
pub const COMPLETION_COLUMNS: &[&str] =
    &["sampling", "p", "threshold", "observations", "incoherence"];

/// Which optional columns runs.csv has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunColumns {
    /// [`ALGORITHM_COLUMNS`] after `step_size`.
    pub algorithm: bool,
    /// [`COMPLETION_COLUMNS`] after the base columns.
    pub completion: bool,
    /// `sigma` (the noise level) after those.
    pub noise: bool,
    /// `truth` (how X was drawn) after those.
    pub truth: bool,
    /// `spectral_deviation` (‖𝒜*(y) − XXᵀ‖/σ_r(X)²) and `sin_l_x` (sin∠(L, col X)) of the
    /// instance, at the very end (runs with spectral diagnostics).
    pub spectral: bool,
}

/// The columns of runs.csv, with the optional ones `which` asks for.
pub fn run_columns(which: RunColumns) -> Vec<&'static str> {
    let mut columns = RUN_COLUMNS.to_vec();
    if which.algorithm {
        let at = columns
            .iter()
            .position(|&c| c == "step_size")
            .expect("a column")
            + 1;
        columns.splice(at..at, ALGORITHM_COLUMNS.iter().copied());
    }
    if which.completion {
        columns.extend(COMPLETION_COLUMNS);
    }
    if which.noise {
        columns.push(col::SIGMA.0);
    }
    if which.truth {
        columns.push(col::TRUTH.0);
    }
    if which.spectral {
        columns.extend([col::SPECTRAL_DEVIATION.0, col::SIN_L_X.0]);
    }
    columns
}

/// The smallest finite value of `v` and its iteration; (NaN, None) if there is none (a run that
/// diverged at its first step).
fn min_with_t(t: &[usize], v: &[f64]) -> (f64, Option<usize>) {
    t.iter()
        .zip(v)
        .filter(|(_, v)| v.is_finite())
        .fold((f64::NAN, None), |(bv, bt), (&t, &v)| {
            if bt.is_none() || v < bv {
                (v, Some(t))
            } else {
                (bv, bt)
            }
        })
}

/// Phase boundaries of one run's trajectory (see [`lowrank_core::analysis`]).
pub fn run_phases(point: &RunPoint, r: &RunResult, th: PhaseThresholds) -> Phases {
    let get = |q: &Quantity<_>| r.series(q).unwrap_or_default();
    let (sin, sig, noise, vxu, test) = (
        get(&SIN_THETA),
        get(&SIGMA_MIN_SIGNAL),
        get(&NOISE_NORM),
        get(&SIGMA_MIN_VX_U),
        get(&TEST_ERROR),
    );
    detect_phases(
        &PhaseInputs {
            t: &r.t,
            sin_theta: &sin,
            sigma_min_signal: &sig,
            noise_norm: &noise,
            sigma_min_vx_u: &vxu,
            test_error: &test,
            sigma_min_x: r.truth_kappa_and_sigma_min(point).1,
        },
        th,
    )
}

/// The `end_state` of a run: for a completed run its [`EndState`] (settled, still_falling, stalled;
/// "" if nothing finite was logged), otherwise its status (diverged, stopped, …).
pub fn end_state_label(point: &RunPoint, r: &RunResult, th: PhaseThresholds) -> String {
    if r.status != "completed" {
        return r.status.clone();
    }
    let t_1 = run_phases(point, r, th).t_1;
    let test = r.series(&TEST_ERROR).unwrap_or_default();
    end_state(&r.t, &test, t_1).map_or(String::new(), |s| s.name().to_string())
}

/// True if a run's final error can be read as its floor: it completed and settled.
pub fn is_settled(end_state: &str) -> bool {
    end_state == EndState::Settled.name()
}

/// The cells of one runs.csv row, in the order of [`run_columns`] with `which`.
fn run_row(p: &RunPoint, r: &RunResult, th: PhaseThresholds, which: RunColumns) -> Vec<String> {
    let e = |x: f64| format!("{x:e}");
    let opt = |t: Option<usize>| t.map_or(String::new(), |t| t.to_string());
    let test = r.series(&TEST_ERROR).unwrap_or_default();
    let train = r.series(&TRAIN_ERROR).unwrap_or_default();
    let (min_err, min_t) = min_with_t(&r.t, &test);
    let last = |v: &[f64]| v.last().map_or(String::from("NaN"), |&x| e(x));
    let ph = run_phases(p, r, th);
    let (kappa, sigma_min_x) = r.truth_kappa_and_sigma_min(p);
    let mut row = vec![
        p.index.to_string(),
        p.replicate.to_string(),
        p.n.to_string(),
        p.r.to_string(),
        p.m.to_string(),
        e(kappa),
        p.r_prime.to_string(),
        e(p.alpha),
        p.init.label().to_string(),
        e(p.step_size),
    ];
    if which.algorithm {
        let (lambda, c) = match p.algorithm {
            Algorithm::Gd => (String::new(), String::new()),
            Algorithm::ScaledGd { lambda } => (e(lambda), String::new()),
            Algorithm::PrecGd { c } => (String::new(), e(c)),
        };
        row.extend([p.algorithm.label().to_string(), lambda, c]);
    }
    row.extend([
        p.iterations.to_string(),
        p.log_every.to_string(),
        p.truth_seed.to_string(),
        p.operator_seed.to_string(),
        p.init_seed.to_string(),
        r.key.clone(),
        r.status.clone(),
        end_state_label(p, r, th),
        opt(r.diverged_at),
        last(&test),
        e(min_err),
        opt(min_t),
        last(&train),
        e(sigma_min_x),
        opt(ph.t_star),
        opt(ph.t_1),
        opt(ph.t_hat),
    ]);
    if which.completion {
        let sampling = p.operator.sampling().map_or("", |s| s.label());
        let threshold = match p.operator {
            OperatorModel::ReluCompletion { threshold }
            | OperatorModel::MatchedUniformCompletion { threshold } => e(threshold),
            OperatorModel::Gaussian | OperatorModel::UniformCompletion { .. } => String::new(),
        };
        let (observations, incoherence) =
            r.completion.map_or((String::new(), String::new()), |c| {
                (c.observations.to_string(), e(c.incoherence))
            });
        let pairs = (p.n * (p.n + 1) / 2) as f64;
        let fraction = match p.operator {
            OperatorModel::UniformCompletion { p } => e(p),
            OperatorModel::Gaussian
            | OperatorModel::ReluCompletion { .. }
            | OperatorModel::MatchedUniformCompletion { .. } => r
                .completion
                .map_or(String::new(), |c| e(c.observations as f64 / pairs)),
        };
        row.extend([
            sampling.to_string(),
            fraction,
            threshold,
            observations,
            incoherence,
        ]);
    }
    if which.noise {
        row.push(e(p.sigma));
    }
    if which.truth {
        row.push(p.truth.label().to_string());
    }
    if which.spectral {
        let (d, sin) = r
            .spectral_regime
            .map_or((f64::NAN, f64::NAN), |g| (g.deviation, g.sin_l_x));
        row.extend([e(d), e(sin)]);
    }
    row
}

/// A CSV writer into memory (the `csv` crate: records end in `\n`, a cell is quoted only if it
/// holds a comma, a quote or a line break, which none of ours do).
fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new())
}

fn into_text(w: csv::Writer<Vec<u8>>) -> String {
    let bytes = w.into_inner().expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("every cell is UTF-8")
}

/// The text of runs.csv (phase boundaries detected with thresholds `th`; the optional columns of
/// `which`).
pub fn runs_csv(
    points: &[RunPoint],
    results: &[RunResult],
    th: PhaseThresholds,
    which: RunColumns,
) -> String {
    let mut w = csv_writer();
    w.write_record(run_columns(which))
        .expect("writing to memory cannot fail");
    for (p, r) in points.iter().zip(results) {
        let row = run_row(p, r, th, which);
        debug_assert_eq!(row.len(), run_columns(which).len());
        w.write_record(&row).expect("writing to memory cannot fail");
    }
    into_text(w)
}

/// The runs.csv rows of `points` before they run, as [`RunData`] without trajectories: the
/// parameter and seed columns as the run will write them, the outcome columns empty or NaN. What a
/// figure's layout (its panels) depends on, known before anything is computed; a κ column that
/// only the run knows (an X drawn at random) is NaN.
pub fn planned_runs(points: &[RunPoint], which: RunColumns) -> Vec<RunData> {
    let columns = run_columns(which);
    points
        .iter()
        .map(|p| {
            let row = run_row(p, &RunResult::default(), PhaseThresholds::default(), which);
            RunData {
                fields: columns.iter().map(|c| c.to_string()).zip(row).collect(),
                t: Vec::new(),
                series: BTreeMap::new(),
            }
        })
        .collect()
}

/// One line of trajectories.csv.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct TrajectoryRecord<Q, V> {
    run: usize,
    t: usize,
    quantity: Q,
    value: V,
}

/// The text of trajectories.csv (long format `run,t,quantity,value`).
pub fn trajectories_csv(points: &[RunPoint], results: &[RunResult]) -> String {
    let mut w = csv_writer();
    for (p, r) in points.iter().zip(results) {
        for (&t, row) in r.t.iter().zip(&r.values) {
            for (q, v) in r.quantities.iter().zip(row) {
                let record = TrajectoryRecord {
                    run: p.index,
                    t,
                    quantity: q.as_str(),
                    value: format!("{v:e}"),
                };
                w.serialize(record).expect("writing to memory cannot fail");
            }
        }
    }
    if no_logged_values(results) {
        w.write_record(["run", "t", "quantity", "value"])
            .expect("writing to memory cannot fail");
    }
    into_text(w)
}

/// Whether no run logged anything (the header is then written by hand: serialize writes it with
/// the first record).
fn no_logged_values(results: &[RunResult]) -> bool {
    results
        .iter()
        .all(|r| r.t.is_empty() || r.quantities.is_empty())
}

/// One run as read back from the CSV files.
#[derive(Debug, Clone, Default)]
pub struct RunData {
    /// The runs.csv row, by column name.
    pub fields: BTreeMap<String, String>,
    /// Logged iterations.
    pub t: Vec<usize>,
    /// Each quantity's values at `t` (NaN where missing).
    pub series: BTreeMap<String, Vec<f64>>,
}

impl RunData {
    /// A numeric field of runs.csv (NaN if missing or empty).
    pub fn num(&self, column: Column) -> f64 {
        self.fields
            .get(column.0)
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    }

    /// A text field of runs.csv ("" if missing).
    pub fn text(&self, column: Column) -> &str {
        self.fields.get(column.0).map_or("", String::as_str)
    }

    /// The series of `quantity` (a [`crate::quantity`] constant or a name), or an empty slice.
    pub fn get(&self, quantity: &(impl Named + ?Sized)) -> &[f64] {
        self.series.get(quantity.name()).map_or(&[], Vec::as_slice)
    }
}

/// A CSV file that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct DataError {
    /// The file.
    pub file: String,
    /// What is wrong with it.
    pub message: String,
}

/// `name` in `dir`, or an error that says to run the spec first.
fn read_csv(dir: &Path, name: &str) -> Result<String, DataError> {
    let path = dir.join(name);
    std::fs::read_to_string(&path).map_err(|e| DataError {
        file: path.display().to_string(),
        message: format!("cannot read ({e}); run `experiments run` for this spec first"),
    })
}

fn bad_line(dir: &Path, name: &str, line: usize, what: String) -> DataError {
    DataError {
        file: dir.join(name).display().to_string(),
        message: format!("line {line}: {what}"),
    }
}

/// A CSV reader of `text` with a header row; every record must have the header's number of cells.
fn csv_reader(text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes())
}

/// The line of a csv record (1-based, the header being line 1), for messages.
fn line_of(e: &csv::Error) -> usize {
    e.position().map_or(0, |p| p.line() as usize)
}

/// Reads runs.csv from `dir` (one [`RunData`] per row, without trajectories).
pub fn read_runs(dir: &Path) -> Result<Vec<RunData>, DataError> {
    let runs_text = read_csv(dir, "runs.csv")?;
    let bad = |line: usize, what: String| bad_line(dir, "runs.csv", line, what);
    let mut reader = csv_reader(&runs_text);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| bad(1, e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut runs: Vec<RunData> = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = line_of(&e);
            match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    len, expected_len, ..
                } => bad(line, format!("{len} cells, header has {expected_len}")),
                _ => bad(line, e.to_string()),
            }
        })?;
        let fields: BTreeMap<String, String> = header
            .iter()
            .zip(record.iter())
            .map(|(h, c)| (h.clone(), c.to_string()))
            .collect();
        runs.push(RunData {
            fields,
            ..Default::default()
        });
    }
    Ok(runs)
}

/// Reads runs.csv and trajectories.csv from `dir`.
pub fn read_results(dir: &Path) -> Result<Vec<RunData>, DataError> {
    let bad = |line: usize, what: String| bad_line(dir, "trajectories.csv", line, what);
    let mut runs = read_runs(dir)?;
    let index_of: BTreeMap<String, usize> = runs
        .iter()
        .enumerate()
        .map(|(k, r)| (r.text(col::RUN).to_string(), k))
        .collect();
    let traj = read_csv(dir, "trajectories.csv")?;
    let mut reader = csv_reader(&traj);
    let header = reader.headers().map_err(|e| bad(1, e.to_string()))?;
    if header.iter().collect::<Vec<_>>() != ["run", "t", "quantity", "value"] {
        return Err(bad(1, "header must be run,t,quantity,value".into()));
    }
    let header = header.clone();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = line_of(&e);
            match e.kind() {
                csv::ErrorKind::UnequalLengths { .. } => bad(line, "expected 4 cells".into()),
                _ => bad(line, e.to_string()),
            }
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let rec: TrajectoryRecord<String, f64> = record
            .deserialize(Some(&header))
            .map_err(|e| bad(line, format!("bad cell: {e}")))?;
        let k = *index_of
            .get(&rec.run.to_string())
            .ok_or_else(|| bad(line, format!("run {} is not in runs.csv", rec.run)))?;
        let data = &mut runs[k];
        let j = match data.t.last() {
            Some(&last) if last == rec.t => data.t.len() - 1,
            _ => {
                data.t.push(rec.t);
                data.t.len() - 1
            }
        };
        let s = data.series.entry(rec.quantity).or_default();
        s.resize(j, f64::NAN);
        s.push(rec.value);
    }
    for run in &mut runs {
        let len = run.t.len();
        for s in run.series.values_mut() {
            s.resize(len, f64::NAN);
        }
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::min_with_t;
    use super::{col, run_columns, RunColumns};

    /// Every column constant names a column the writer writes (with all optional columns on), and
    /// each column is written once.
    #[test]
    fn column_constants_name_written_columns() {
        let all = run_columns(RunColumns {
            algorithm: true,
            completion: true,
            noise: true,
            truth: true,
            spectral: true,
        });
        for c in [
            col::RUN,
            col::STATUS,
            col::FINAL_TEST_ERROR,
            col::MIN_TEST_ERROR,
            col::T_STAR,
            col::T_1,
            col::T_HAT,
            col::ALPHA,
            col::SIGMA_MIN_X,
            col::ALGORITHM,
            col::LAMBDA,
            col::C,
            col::SAMPLING,
            col::TRUTH,
            col::SPECTRAL_DEVIATION,
            col::SIN_L_X,
            col::P,
            col::THRESHOLD,
            col::OBSERVATIONS,
            col::INCOHERENCE,
            col::SIGMA,
            col::KEY,
            col::N,
            col::M,
            col::ITERATIONS,
            col::DIVERGED_AT,
        ] {
            assert_eq!(all.iter().filter(|&&x| x == c.0).count(), 1, "{c:?}");
        }
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len());
    }

    #[test]
    fn minimum_skips_undefined_values_and_is_undefined_without_any() {
        let t = [0, 10, 20, 30];
        assert_eq!(min_with_t(&t, &[0.5, f64::NAN, 0.1, 0.1]), (0.1, Some(20)));
        let (v, at) = min_with_t(&t, &[f64::NAN, f64::INFINITY, f64::NAN, f64::NAN]);
        assert!(v.is_nan() && at.is_none());
    }
}
