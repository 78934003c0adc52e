//! `experiments export`: one instance and its trajectory as .npy files, for cross-checking in Python.
//!
//! Files (all float64 unless noted), for the chosen run of a spec:
//! - `X.npy` (n×r), `V_X.npy` (n×r), `singular_values.npy` (r)
//! - Gaussian sensing: `A_packed.npy` (m×p, p = n(n+1)/2): row i = svec(A_i)/√m with svec the
//!   upper triangle row by row (i ≤ j), off-diagonal entries times √2. So 𝒜(Z) = A_packed @ svec(Z)
//!   and 𝒜*(v) = smat(A_packed.T @ v).
//! - Matrix completion: `Omega.npy` (int64, m×2: the observed pairs (i_k, j_k), i_k ≤ j_k, in the
//!   order of y) and `weights.npy` (m: w_k/√p), so 𝒜(Z)_k = weights_k·Z[i_k, j_k] and
//!   𝒜*(v) = Σ_k v_k·weights_k·(e_ie_jᵀ + e_je_iᵀ)/2 (`README.txt`, written next to the files, has
//!   numpy code for either operator).
//! - `y.npy` (m), `U0.npy` (n×r'), `t.npy` (int64, logged iterations),
//!   `U_trajectory.npy` (len(t)×n×r', U_t at the logged iterations), `test_error.npy` (len(t)).
//! - `run.json`: the run's parameters and seeds, with its algorithm as `"algorithm": {"kind": "gd"}`,
//!   `{"kind": "scaled_gd", "lambda": λ}` or `{"kind": "precgd", "c": c}`.
//!
//! The run is recomputed on its own (the single-run kernel), not in its spec's batch, so its last
//! bits can differ from the batched numbers in `trajectories.csv` (≲ 1e-9 relative; see `run`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use lowrank_core::linalg::frobenius_norm;
use lowrank_core::{run_gradient_descent, Control, IterationState, RunParams};
use ndarray::{Array1, Array2, Array3, Axis};
use ndarray_npy::{WritableElement, WriteNpyExt};

use crate::fsutil::{check_output_file, write_set_atomic_with, FileWriter, WriteContent};
use crate::run::{build_problem, initial_iterate};
use crate::spec::OperatorModel;
use crate::sweep::RunPoint;

/// Everything `export` writes, in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportData {
    /// X (n×r).
    pub x: Array2<f64>,
    /// V_X (n×r).
    pub v_x: Array2<f64>,
    /// Singular values of X.
    pub singular_values: Array1<f64>,
    /// The operator's arrays.
    pub operator: ExportedOperator,
    /// y.
    pub y: Array1<f64>,
    /// U_0.
    pub u0: Array2<f64>,
    /// Logged iterations.
    pub t: Array1<i64>,
    /// U_t at the logged iterations (len(t)×n×r').
    pub u_trajectory: Array3<f64>,
    /// Test error at the logged iterations.
    pub test_error: Array1<f64>,
}

/// The operator as exported.
#[derive(Debug, Clone, PartialEq)]
pub enum ExportedOperator {
    /// Gaussian sensing: the packed operator (m×p).
    Packed(Array2<f64>),
    /// Matrix completion: Ω and the weights.
    Completion {
        /// (i_k, j_k), m×2.
        omega: Array2<i64>,
        /// w_k/√p, length m.
        weights: Array1<f64>,
    },
}

/// Peak bytes of [`export`] for `point`: the operator twice (the instance's and the exported copy)
/// and U_t at every logged step twice (as recorded and stacked).
pub fn export_bytes(point: &RunPoint) -> u128 {
    let logged = (point.iterations / point.log_every + 2) as u128;
    let trajectory = logged * (point.n * point.r_prime) as u128 * 8;
    2 * crate::run::operator_storage_bytes(point) + 2 * trajectory
}

/// Runs `point` and collects the instance and its trajectory.
pub fn collect(point: &RunPoint) -> ExportData {
    crate::run::deterministic_decompositions();
    let problem = build_problem(point);
    let u0 = initial_iterate(point, &problem);
    let xxt_norm = frobenius_norm(problem.truth.xxt.view());
    let mut ts = Vec::new();
    let mut us = Vec::new();
    let mut errs = Vec::new();
    let mut obs = |s: &IterationState<'_>| {
        ts.push(s.t as i64);
        us.push(s.u.to_owned());
        errs.push(frobenius_norm((&s.uut - &problem.truth.xxt).view()) / xxt_norm);
        Control::Continue
    };
    let params = RunParams::new(point.step_size, point.iterations, point.log_every)
        .with_algorithm(point.algorithm);
    run_gradient_descent(&problem, &params, u0.clone(), &mut obs);
    let views: Vec<_> = us.iter().map(|u| u.view()).collect();
    let u_trajectory = ndarray::stack(Axis(0), &views)
        .unwrap_or_else(|_| Array3::zeros((0, point.n, point.r_prime)));
    ExportData {
        x: problem.truth.x.clone(),
        v_x: problem.truth.v_x.clone(),
        singular_values: Array1::from(problem.truth.singular_values.clone()),
        operator: exported_operator(problem.operator.as_ref()),
        y: problem.y.clone(),
        u0,
        t: Array1::from(ts),
        u_trajectory,
        test_error: Array1::from(errs),
    }
}

/// The arrays of an operator a spec can build (dense packed or completion).
fn exported_operator(op: &dyn lowrank_core::MeasurementOperator) -> ExportedOperator {
    if let Some(c) = op.as_completion() {
        let omega = Array2::from_shape_fn((c.entries().len(), 2), |(k, side)| {
            let (i, j) = c.entries()[k];
            (if side == 0 { i } else { j }) as i64
        });
        return ExportedOperator::Completion {
            omega,
            weights: Array1::from(c.weights().to_vec()),
        };
    }
    // Every other operator a spec can name is the dense packed one.
    ExportedOperator::Packed(
        op.as_packed()
            .expect("specs build dense packed or completion operators")
            .packed()
            .to_owned(),
    )
}

/// A writer of `a` as a .npy file (for [`write_set_atomic_with`]).
fn npy<'a, A, D>(a: &'a ndarray::ArrayBase<A, D>) -> WriteContent<'a>
where
    A: ndarray::Data,
    A::Elem: WritableElement,
    D: ndarray::Dimension,
{
    Box::new(move |f: &mut File| {
        let mut w = BufWriter::new(f);
        a.write_npy(&mut w).map_err(std::io::Error::other)?;
        w.flush()
    })
}

/// The README of a completion export ({RULES} and {STEP}: see [`readme`]).
const COMPLETION_README: &str = r#"Exported by `experiments export`, a matrix-completion run. Conventions
(see crates/core/src/operator/completion.rs):

  Omega (m x 2, int64): the observed pairs (i_k, j_k), i_k <= j_k, in the order of y
  weights (m): w_k / sqrt(p), w_k = 1 (i_k = j_k) or sqrt(2) (i_k < j_k)
  A(Z)_k = weights_k * Z[i_k, j_k]
  A*(v)  = sum_k v_k * weights_k * (e_i e_j^T + e_j e_i^T) / 2
{RULES}
numpy:
  import numpy as np, json
  d = {k: np.load(k + ".npy") for k in ["X", "Omega", "weights", "y", "U0", "U_trajectory", "t"]}
  n = d["X"].shape[0]; i, j = d["Omega"][:, 0], d["Omega"][:, 1]; w = d["weights"]
  def adjoint(v):
      Z = np.zeros((n, n)); np.add.at(Z, (i, j), v * w / 2); np.add.at(Z, (j, i), v * w / 2); return Z
  run = json.load(open("run.json")); mu, alg = run["step_size"], run["algorithm"]
  U = d["U0"].copy()
  for _ in range(d["t"][1] - d["t"][0]):
      res = w * np.einsum("kr,kr->k", U[i], U[j]) - d["y"]
      G = adjoint(res) @ U
{STEP}"#;

/// The README of a Gaussian-sensing export ({RULES} and {STEP}: see [`readme`]).
const README: &str = r#"Exported by `experiments export`. Conventions (see crates/core/src/operator/dense.rs):

  A(Z)_i = <A_i, Z>_F / sqrt(m),   A_i = (G_i + G_i^T)/2,   G_i entries iid N(0,1)
  A_packed (m x p, p = n(n+1)/2): row i = svec(A_i)/sqrt(m)
  svec(Z): upper triangle row by row (i <= j), off-diagonal entries times sqrt(2)
{RULES}
numpy:
  import numpy as np, json
  d = {k: np.load(k + ".npy") for k in ["X", "A_packed", "y", "U0", "U_trajectory", "t"]}
  n = d["X"].shape[0]; iu = np.triu_indices(n)
  w = np.where(iu[0] == iu[1], 1.0, np.sqrt(2.0))
  svec = lambda Z: Z[iu] * w
  def smat(v):
      Z = np.zeros((n, n)); Z[iu] = v / w; return Z + np.triu(Z, 1).T
  run = json.load(open("run.json")); mu, alg = run["step_size"], run["algorithm"]
  U = d["U0"].copy()
  for _ in range(d["t"][1] - d["t"][0]):
      res = d["A_packed"] @ svec(U @ U.T) - d["y"]
      G = smat(d["A_packed"].T @ res) @ U
{STEP}"#;

/// The files, the loss and the step rules, shared by both READMEs.
const RULES: &str = r#"  X (n x r): the truth (target X X^T); V_X (n x r): an orthonormal basis of col X, with
  singular_values (r, descending) those of X (X = V_X diag(s) R for an orthogonal r x r R: R = I
  for an orthonormal truth, not for a gaussian_factor one); y (m); U0 (n x r'); t: the logged steps;
  U_trajectory (T x n x r'): U_t at those steps; test_error (T): ||U_t U_t^T - X X^T||_F / ||X X^T||_F;
  run.json: the run's parameters and seeds
  f(U) = 1/4 ||A(U U^T) - y||^2,  grad f(U) = A*(A(U U^T) - y) U
  gd:        U_{t+1} = U_t - mu * grad f(U_t)
  scaled_gd: U_{t+1} = U_t - mu * grad f(U_t) (U_t^T U_t + lambda I)^-1
  precgd:    the same with lambda_t = c * ||A(U_t U_t^T) - y||
"#;

/// The end of the numpy loop (the preconditioned step and the check), shared by both READMEs.
const STEP: &str = r#"      if alg["kind"] in ("scaled_gd", "precgd"):
          lam = alg["lambda"] if alg["kind"] == "scaled_gd" else alg["c"] * np.linalg.norm(res)
          G = np.linalg.solve(U.T @ U + lam * np.eye(U.shape[1]), G.T).T
      elif alg["kind"] != "gd":
          raise ValueError("no numpy step written for " + alg["kind"])
      U = U - mu * G
  print(np.abs(U - d["U_trajectory"][1]).max())   # ~1e-15
"#;

/// A README template with its shared parts filled in.
fn readme(template: &str) -> String {
    template.replace("{RULES}", RULES).replace("{STEP}", STEP)
}

/// run.json: the point's JSON with its algorithm always present (the point leaves GD out).
pub fn run_json(point: &RunPoint) -> serde_json::Value {
    let mut v = serde_json::to_value(point).expect("RunPoint serializes");
    if let Some(map) = v.as_object_mut() {
        let algorithm = serde_json::to_value(point.algorithm).expect("Algorithm serializes");
        map.insert("algorithm".into(), algorithm);
    }
    v
}

/// Whether `path` is the run.json of an export (a JSON object with a run point's seeds and sizes),
/// not a file of that common name that someone else wrote.
fn is_export_run_json(path: &Path) -> bool {
    // An export's run.json is a few KB; a larger file is not one (and is not read whole).
    let small = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() < 1 << 20);
    small
        && std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.as_object().cloned())
            .is_some_and(|o| {
                [
                    "truth_seed",
                    "operator_seed",
                    "init_seed",
                    "n",
                    "r_prime",
                    "alpha",
                ]
                .iter()
                .all(|k| o.contains_key(*k))
            })
}

/// The operator's files of a Gaussian-sensing export and of a completion export.
const GAUSSIAN_OPERATOR_FILES: &[&str] = &["A_packed.npy"];
const COMPLETION_OPERATOR_FILES: &[&str] = &["Omega.npy", "weights.npy"];

/// The files an export of `point` writes, in the order they are renamed into place (run.json last).
pub fn export_files(point: &RunPoint) -> Vec<&'static str> {
    let operator = match point.operator {
        OperatorModel::Gaussian => GAUSSIAN_OPERATOR_FILES,
        OperatorModel::UniformCompletion { .. }
        | OperatorModel::ReluCompletion { .. }
        | OperatorModel::MatchedUniformCompletion { .. } => COMPLETION_OPERATOR_FILES,
    };
    let mut files = vec!["X.npy", "V_X.npy", "singular_values.npy"];
    files.extend(operator);
    files.extend([
        "y.npy",
        "U0.npy",
        "t.npy",
        "U_trajectory.npy",
        "test_error.npy",
        "README.txt",
        "run.json",
    ]);
    files
}

/// Writes the export of `point` into `dir` as one set ([`write_set_atomic_with`]: every file is
/// written before any is renamed, so a failure leaves the previous export whole); the output
/// paths are checked before the run is computed, and in a directory that holds no earlier export
/// (no export's `run.json`) a file of an output's name is refused, not replaced. The operator files of an earlier export of the
/// other kind (Gaussian `A_packed.npy`, completion `Omega.npy` and `weights.npy`) are then
/// removed. Returns the files written.
pub fn export(point: &RunPoint, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    crate::fsutil::ensure_writable_dir(dir)?;
    let names = export_files(point);
    let paths: Vec<PathBuf> = names.iter().map(|f| dir.join(f)).collect();
    // The other operator kind's files, removed below if an earlier export left them.
    let stale: Vec<PathBuf> = GAUSSIAN_OPERATOR_FILES
        .iter()
        .chain(COMPLETION_OPERATOR_FILES)
        .filter(|f| !names.contains(f))
        .map(|f| dir.join(f))
        .collect();
    for path in paths.iter().chain(&stale) {
        check_output_file(path)?;
    }
    let earlier_export = is_export_run_json(&dir.join("run.json"));
    // Files of these names in a directory no export wrote are someone else's: refused, not
    // replaced.
    if !earlier_export {
        if let Some(taken) = paths.iter().find(|p| p.exists()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!(
                    "{} already exists and this directory holds no earlier export (no export's run.json); \
                     an export writes {} and would replace it: choose a new or empty directory",
                    taken.display(),
                    names.join(", ")
                ),
            ));
        }
    }
    let d = collect(point);
    let (operator, readme) = match &d.operator {
        ExportedOperator::Packed(a) => (vec![npy(a)], readme(README)),
        ExportedOperator::Completion { omega, weights } => {
            (vec![npy(omega), npy(weights)], readme(COMPLETION_README))
        }
    };
    let run_json = serde_json::to_vec_pretty(&run_json(point)).expect("JSON serializes");
    let mut contents = vec![npy(&d.x), npy(&d.v_x), npy(&d.singular_values)];
    contents.extend(operator);
    contents.extend([
        npy(&d.y),
        npy(&d.u0),
        npy(&d.t),
        npy(&d.u_trajectory),
        npy(&d.test_error),
        bytes(readme.as_bytes()),
        bytes(&run_json),
    ]);
    assert_eq!(contents.len(), paths.len(), "export_files lists every file");
    let mut files: Vec<FileWriter<'_>> = paths.iter().map(|p| p.as_path()).zip(contents).collect();
    write_set_atomic_with(&mut files)?;
    drop(files);
    // An earlier export (its run.json was there) of the other operator kind left its operator
    // files: remove them, so that the files present are this run's only. Files of that name in a
    // directory no export wrote are not ours to remove.
    if earlier_export {
        for path in &stale {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(paths)
}

/// A writer of `b` (for [`write_set_atomic_with`]).
fn bytes(b: &[u8]) -> WriteContent<'_> {
    Box::new(move |f: &mut File| f.write_all(b))
}
