//! `lowrank._lowrank`: the Python face of the workspace's engine (PyO3). The pure-Python package
//! `lowrank` (python/lowrank/__init__.py) re-exports it and adds the pandas side.
//!
//! Conventions are those of the Rust crates, stated once in `lowrank_core` (README "Conventions"):
//! 𝒜(Z)_i = ⟨A_i, Z⟩/√m for Gaussian sensing, f(U) = ¼‖𝒜(UUᵀ) − y‖², U_0 = α·B with
//! B_ij ~ N(0, 1/r'), seeds as in `experiments::sweep` (a problem built here with seed s is the
//! instance of a spec with `[seeds] seed = s`, replicate 0). Arrays cross the boundary as copies
//! (float64, C order); runs release the GIL.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use experiments::spec::{
    check, AlgorithmKind, AlgorithmSpec, Config, DiagnosticsSpec, GdSpec, InitKind, InitSpec,
    NoiseSpec, OperatorKind, OperatorSpec, PlotSpec, ProblemSpec, Sampling, SeedSpec, Spec,
    SweepSpec, TruthKind,
};
use experiments::Layout;
use lowrank_core::descent::{run_gradient_descent_shared_operator, BatchRun};
use lowrank_core::{
    Control, DiagnosticsCalculator, IterationState, Observer, Problem, RunParams, RunStatus,
};
use ndarray::{Array1, Array2};
use numpy::{
    AllowTypeChange, PyArray1, PyArray2, PyArrayLike1, PyArrayLike2, PyArrayMethods,
    PyReadonlyArray1, PyReadonlyArray2,
};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The message of a refused spec or parameter, as the command line prints it (without "error: ").
fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// A `run_batch` entry that could not be read as its type: a negative or oversized whole number
/// is a ValueError (as every value out of range), anything else keeps its exception type; both
/// name the key.
fn arg_error(key: &str, value: &Bound<'_, PyAny>, e: PyErr) -> PyErr {
    let py = value.py();
    let shown = shown(value);
    if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(py) {
        value_error(format!(
            "run_batch: {key} = {shown} is out of range (negative, or too large for its type)"
        ))
    } else {
        PyErr::from_type(
            e.get_type(py),
            format!("run_batch: {key} = {shown}: {}", e.value(py)),
        )
    }
}

/// `value` as Python prints it, shortened to 40 characters (10**400 has 401 digits).
fn shown(value: &Bound<'_, PyAny>) -> String {
    let text = value
        .repr()
        .map_or_else(|_| "?".to_string(), |r| r.to_string());
    if text.chars().count() > 40 {
        text.chars().take(37).collect::<String>() + "..."
    } else {
        text
    }
}

/// A whole-number argument (a size, a count or a seed): an int that is negative or too large for
/// its type is a ValueError naming the argument ([`Whole::named`]), as every value out of range,
/// where PyO3's own conversion raises OverflowError.
#[derive(Clone, Debug)]
struct Whole<T>(Result<T, String>);

impl<T> Whole<T> {
    /// The number, or a ValueError naming the argument: "seed = -1 is negative; …".
    fn named(self, name: &str) -> PyResult<T> {
        self.0.map_err(|why| value_error(format!("{name} = {why}")))
    }
}

impl Whole<u64> {
    /// An instance's seed (a spec's `seeds.seed`): at most 2^63 − 1, the largest integer a TOML
    /// spec holds, so that every problem built here has a spec with the same seed.
    fn spec_seed(self) -> PyResult<u64> {
        let seed = self.named("seed")?;
        if seed > i64::MAX as u64 {
            return Err(value_error(format!(
                "seed = {seed} is too large; allowed: a whole number up to {} (the largest a TOML \
                 spec holds, so that the same instance can be written as a spec)",
                i64::MAX
            )));
        }
        Ok(seed)
    }
}

macro_rules! whole_from_python {
    ($t:ty) => {
        impl<'a, 'py> FromPyObject<'a, 'py> for Whole<$t> {
            type Error = PyErr;

            /// An integer out of range is kept as its message (for [`Whole::named`]); anything
            /// else that is not an integer raises pyo3's TypeError.
            fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
                let py = obj.py();
                match obj.extract::<$t>() {
                    Ok(v) => Ok(Whole(Ok(v))),
                    Err(e) if e.is_instance_of::<pyo3::exceptions::PyOverflowError>(py) => {
                        let shown = shown(&obj);
                        // The sign from Python (numpy's repr of -1 is "np.int64(-1)").
                        Ok(Whole(Err(if obj.lt(0).unwrap_or(false) {
                            format!("{shown} is negative; allowed: a whole number ≥ 0")
                        } else {
                            format!(
                                "{shown} is too large; allowed: a whole number up to {}",
                                <$t>::MAX
                            )
                        })))
                    }
                    Err(e) => Err(e),
                }
            }
        }
    };
}
whole_from_python!(usize);
whole_from_python!(u64);

/// Refuses an array argument whose values are not real numbers (complex, strings, booleans,
/// objects): the conversion to float64 would drop or invent values without an error, and one with
/// other than `ndim` dimensions (numpy's own error names no argument).
fn check_real(name: &str, value: &Bound<'_, PyAny>, ndim: usize) -> PyResult<()> {
    let array = value
        .py()
        .import("numpy")?
        .call_method1("asarray", (value,))?;
    let dtype = array.getattr("dtype")?;
    let kind: String = dtype.getattr("kind")?.extract()?;
    if !matches!(kind.as_str(), "i" | "u" | "f") {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "{name} has dtype {dtype}; allowed: real numbers (floats or integers)"
        )));
    }
    let dims: usize = array.getattr("ndim")?.extract()?;
    if dims != ndim {
        let what = if ndim == 1 {
            "vector (1-D array)"
        } else {
            "matrix (2-D array)"
        };
        let shape = array.getattr("shape")?;
        return Err(value_error(format!(
            "{name} has shape {shape}; allowed: a {what}"
        )));
    }
    Ok(())
}

/// A real matrix argument as float64 ([`check_real`], then numpy's conversion).
fn real_matrix(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Array2<f64>> {
    check_real(name, value, 2)?;
    let a: PyArrayLike2<'_, f64, AllowTypeChange> = value.extract()?;
    Ok(from_numpy2(&a))
}

/// Refuses `need` bytes above the memory budget (80% of the memory available, or
/// `LOWRANK_MAX_OPERATOR_BYTES`), as the command line refuses a spec: a failed allocation would
/// abort the interpreter.
fn check_fits(what: impl FnOnce() -> String, need: u128) -> PyResult<()> {
    experiments::check_memory_budget_variable().map_err(value_error)?;
    match experiments::memory_budget() {
        Some(limit) if need > limit => Err(value_error(format!(
            "{} needs {}, but only {} may be used (80% of the memory available, or \
             LOWRANK_MAX_OPERATOR_BYTES)",
            what(),
            experiments::spec::human_bytes(need),
            experiments::spec::human_bytes(limit)
        ))),
        _ => Ok(()),
    }
}

fn from_numpy2(a: &PyReadonlyArray2<'_, f64>) -> Array2<f64> {
    let v = a.as_array();
    Array2::from_shape_fn(v.dim(), |(i, j)| v[[i, j]])
}

fn from_numpy1(a: &PyReadonlyArray1<'_, f64>) -> Array1<f64> {
    let v = a.as_array();
    Array1::from_shape_fn(v.len(), |i| v[i])
}

fn to_numpy2<'py>(py: Python<'py>, a: &Array2<f64>) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (r, c) = a.dim();
    PyArray1::from_vec(py, a.iter().copied().collect()).reshape([r, c])
}

fn to_numpy1<'py>(py: Python<'py>, a: &Array1<f64>) -> Bound<'py, PyArray1<f64>> {
    PyArray1::from_vec(py, a.to_vec())
}

/// What determines an instance (a spec's `[problem]`, `[operator]`, `[noise]` and seed).
#[derive(Clone, Debug)]
struct Instance {
    n: usize,
    r: usize,
    /// Gaussian sensing's m (None for completion).
    m: Option<usize>,
    kappa: Option<f64>,
    singular_values: Option<Vec<f64>>,
    truth: TruthKind,
    operator: Option<OperatorSpec>,
    noise: Option<f64>,
    seed: u64,
}

/// A spec as a value: the instance and the run parameters (replicate 0; no sweep).
fn spec_value(inst: &Instance, run: &RunArgs) -> Spec {
    let default_kappa = inst.singular_values.is_none() && inst.truth == TruthKind::Orthonormal;
    Spec {
        title: "python".into(),
        caption: "built by lowrank (Python)".into(),
        problem: ProblemSpec {
            n: inst.n,
            r: inst.r,
            m: inst.m,
            kappa: inst.kappa.or(default_kappa.then_some(1.0)),
            singular_values: inst.singular_values.clone(),
            truth: inst.truth,
        },
        operator: inst.operator.clone(),
        noise: inst.noise.map(|sigma| NoiseSpec { sigma }),
        init: InitSpec {
            alpha: run.alpha,
            r_prime: run.r_prime.unwrap_or(inst.r),
            kind: InitKind::SmallRandom,
        },
        gd: GdSpec {
            step_size: run.step_size,
            iterations: run.iterations,
            log_every: run.log_every_or_default(),
            stop_below_test_error: None,
        },
        algorithm: Some(AlgorithmSpec {
            kind: run.algorithm,
            lambda: run.lam,
            c: run.c,
        }),
        seeds: SeedSpec {
            seed: inst.seed,
            replicates: 1,
            share_instance: false,
        },
        sweep: SweepSpec::default(),
        diagnostics: DiagnosticsSpec::default(),
        plot: PlotSpec::test_error_trajectories(),
    }
}

/// The spec keys of the values a Python call sets, and the argument that sets each (longest
/// first, so that no key is replaced inside a longer one).
const ARGUMENT_OF_KEY: [(&str, &str); 20] = [
    ("problem.singular_values", "singular_values"),
    ("operator.observations", "observations"),
    ("operator.threshold", "threshold"),
    ("operator.sampling", "sampling"),
    ("algorithm.lambda", "lam"),
    ("algorithm.kind", "algorithm"),
    ("gd.step_size", "step_size"),
    ("gd.iterations", "iterations"),
    ("gd.log_every", "log_every"),
    ("problem.kappa", "kappa"),
    ("init.r_prime", "r_prime"),
    ("problem.truth", "truth"),
    ("algorithm.c", "c"),
    ("noise.sigma", "noise"),
    ("init.alpha", "alpha"),
    ("operator.p", "p"),
    ("problem.m", "m"),
    ("problem.n", "n"),
    ("problem.r", "r"),
    ("seeds.seed", "seed"),
];

/// A spec's message about values a Python call set, in the call's words: its argument names
/// for the spec's keys, without the spec-only ways out (sweeps).
fn in_python_words(message: &str) -> String {
    let mut out = message
        .replace(" (algorithm.kind or sweep.algorithm)", "")
        .replace(", or sweep.p)", ")")
        .replace("this spec does not run", "this run does not use");
    for (key, arg) in ARGUMENT_OF_KEY {
        let mut done = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(i) = rest.find(key) {
            let after = &rest[i + key.len()..];
            let whole = !after.starts_with(|c: char| c.is_alphanumeric() || c == '_');
            done.push_str(&rest[..i]);
            done.push_str(if whole { arg } else { key });
            rest = after;
        }
        done.push_str(rest);
        out = done;
    }
    out
}

/// Validates the spec built from `instance` and `run`, returning the checked config; a refusal
/// names the call's arguments ([`in_python_words`]).
fn config_of(instance: &Instance, run: &RunArgs) -> PyResult<Config> {
    check(
        Path::new("lowrank.Problem"),
        "python".into(),
        spec_value(instance, run),
        false,
    )
    .map_err(|e| value_error(in_python_words(&e.to_string())))
}

/// The run point (replicate 0) of a checked spec: its instance and seeds.
fn first_point(config: &Config) -> PyResult<experiments::sweep::RunPoint> {
    experiments::sweep::expand(config)
        .into_iter()
        .next()
        .ok_or_else(|| PyRuntimeError::new_err("the spec expanded to no run"))
}

/// The run parameters of one run (validated through the spec checks).
#[derive(Clone)]
struct RunArgs {
    alpha: f64,
    /// Whether α was given (with `u0` it is not used, and giving it is refused).
    alpha_given: bool,
    r_prime: Option<usize>,
    init_seed: Option<u64>,
    step_size: f64,
    iterations: usize,
    /// None: 10, or `iterations` if fewer.
    log_every: Option<usize>,
    algorithm: AlgorithmKind,
    lam: Option<f64>,
    c: Option<f64>,
}

impl RunArgs {
    /// `log_every`, or by default 10 (every iteration of a run of fewer than 10).
    fn log_every_or_default(&self) -> usize {
        self.log_every.unwrap_or(10.min(self.iterations.max(1)))
    }
}

impl Default for RunArgs {
    fn default() -> Self {
        Self {
            alpha: 1e-6,
            alpha_given: false,
            r_prime: None,
            init_seed: None,
            step_size: 0.25,
            iterations: 1000,
            log_every: None,
            algorithm: AlgorithmKind::Gd,
            lam: None,
            c: None,
        }
    }
}

fn algorithm_kind(name: &str) -> PyResult<AlgorithmKind> {
    match name {
        "gd" => Ok(AlgorithmKind::Gd),
        "scaled_gd" => Ok(AlgorithmKind::ScaledGd),
        "precgd" => Ok(AlgorithmKind::Precgd),
        other => Err(value_error(format!(
            "algorithm = {other:?} is unknown; allowed: \"gd\", \"scaled_gd\", \"precgd\""
        ))),
    }
}

/// A recovery instance: the ground truth X (n×r), a measurement operator 𝒜 and data y = 𝒜(XXᵀ)
/// (+ noise).
///
/// Build it with `Problem.gaussian(...)` (Gaussian sensing) or `Problem.completion(...)` (matrix
/// completion). The same values and seed give the instance of a spec with those values and
/// `[seeds] seed = seed` (replicate 0), bit for bit.
#[pyclass(name = "Problem", module = "lowrank", frozen)]
struct PyProblem {
    problem: Arc<Problem>,
    instance: Instance,
}

impl PyProblem {
    /// The run point of the spec built from the instance and `run` (its seeds are the spec's).
    fn point(&self, run: &RunArgs) -> PyResult<experiments::sweep::RunPoint> {
        first_point(&config_of(&self.instance, run)?)
    }

    /// Validates `instance` (with default run parameters) and builds it.
    fn build(py: Python<'_>, instance: Instance) -> PyResult<Self> {
        let spec = spec_value(&instance, &RunArgs::default());
        let config = check(Path::new("lowrank.Problem"), "python".into(), spec, false)
            .map_err(|e| value_error(in_python_words(&e.to_string())))?;
        // The instance and its operator, before anything is allocated (a run's buffers are
        // checked when it is asked for).
        let point = first_point(&config)?;
        let (n, r, m) = (point.n as u128, point.r as u128, point.m as u128);
        let operator = experiments::run::operator_storage_bytes(&point);
        check_fits(
            || {
                let (m, smaller) = if point.operator.is_gaussian() {
                    (format!(", m = {}", point.m), "n or m")
                } else {
                    (
                        String::new(),
                        "n (or p, observations under uniform sampling)",
                    )
                };
                format!(
                    "the instance (n = {}, r = {}{m}: its operator {}, X, V_X, XXᵀ and y; give a \
                     smaller {smaller})",
                    point.n,
                    point.r,
                    experiments::spec::human_bytes(operator)
                )
            },
            // X, V_X and the Gaussian draw behind them (n×r each), XXᵀ (n×n), y (m).
            operator.saturating_add(8 * (3 * n * r + n * n + m)),
        )?;
        let problem = py.detach(|| on_engine(|| experiments::run::build_problem(&point)));
        // As the command line notes it: a completion sample with no entry has no data.
        if problem.operator.m() == 0 {
            let category = py.get_type::<pyo3::exceptions::PyUserWarning>();
            PyErr::warn(
                py,
                &category,
                c"this problem observes no entry of XXᵀ (|Ω| = 0): its runs have no data (train \
                  error NaN, U_t = U_0 throughout)",
                1,
            )?;
        }
        Ok(Self {
            problem: Arc::new(problem),
            instance,
        })
    }

    fn n_(&self) -> usize {
        self.instance.n
    }

    fn m_(&self) -> usize {
        self.problem.operator.m()
    }
}

#[pymethods]
impl PyProblem {
    /// Gaussian sensing: `Problem.gaussian(n, r, m, kappa=None, singular_values=None, noise=None, seed=0)`.
    ///
    /// X = V·diag(s) with V a random orthonormal n×r basis and s linear from 1 to 1/κ (κ = 1 if
    /// neither κ nor singular values are given); 𝒜(Z)_i = ⟨A_i, Z⟩/√m with A_i symmetric Gaussian;
    /// `noise` = σ adds ε_i ~ N(0, σ²/m). Invalid values raise ValueError with the command line's
    /// message.
    #[staticmethod]
    #[pyo3(signature = (n, r, m, kappa=None, singular_values=None, noise=None, seed=Whole(Ok(0))),
           text_signature = "(n, r, m, kappa=None, singular_values=None, noise=None, seed=0)")]
    #[allow(clippy::too_many_arguments)]
    fn gaussian(
        py: Python<'_>,
        n: Whole<usize>,
        r: Whole<usize>,
        m: Whole<usize>,
        kappa: Option<f64>,
        singular_values: Option<Vec<f64>>,
        noise: Option<f64>,
        seed: Whole<u64>,
    ) -> PyResult<Self> {
        let (n, r, m, seed) = (
            n.named("n")?,
            r.named("r")?,
            m.named("m")?,
            seed.spec_seed()?,
        );
        Self::build(
            py,
            Instance {
                n,
                r,
                m: Some(m),
                kappa,
                singular_values,
                truth: TruthKind::Orthonormal,
                operator: None,
                noise,
                seed,
            },
        )
    }

    /// Symmetric matrix completion: `Problem.completion(n, r, p=None, observations=None,
    /// sampling="uniform", threshold=None, kappa=None, singular_values=None, truth="orthonormal",
    /// noise=None, seed=0)`.
    ///
    /// Observes entries (i ≤ j) of XXᵀ on Ω: `sampling` "uniform" (each pair with probability `p`,
    /// or `observations` expected pairs), "relu" (the pairs with (XXᵀ)_ij > `threshold`, default 0)
    /// or "matched_uniform" (a uniform set of as many pairs as relu would observe), weighted so
    /// that E‖𝒜(Z)‖² = ‖Z‖_F² under uniform sampling (README "Conventions"). `truth` is
    /// "orthonormal" (X = V·diag(s)) or "gaussian_factor" (X = G/σ_1(G)). m is |Ω|.
    #[staticmethod]
    #[pyo3(signature = (n, r, p=None, observations=None, sampling="uniform", threshold=None,
                        kappa=None, singular_values=None, truth="orthonormal", noise=None, seed=Whole(Ok(0))),
           text_signature = "(n, r, p=None, observations=None, sampling=\"uniform\", threshold=None, \
                             kappa=None, singular_values=None, truth=\"orthonormal\", noise=None, seed=0)")]
    #[allow(clippy::too_many_arguments)]
    fn completion(
        py: Python<'_>,
        n: Whole<usize>,
        r: Whole<usize>,
        p: Option<f64>,
        observations: Option<Whole<usize>>,
        sampling: &str,
        threshold: Option<f64>,
        kappa: Option<f64>,
        singular_values: Option<Vec<f64>>,
        truth: &str,
        noise: Option<f64>,
        seed: Whole<u64>,
    ) -> PyResult<Self> {
        let (n, r, seed) = (n.named("n")?, r.named("r")?, seed.spec_seed()?);
        let observations = observations.map(|o| o.named("observations")).transpose()?;
        let sampling = match sampling {
            "uniform" => Sampling::Uniform,
            "relu" => Sampling::Relu,
            "matched_uniform" => Sampling::MatchedUniform,
            other => {
                return Err(value_error(format!(
                    "sampling = {other:?} is unknown; allowed: \"uniform\", \"relu\", \"matched_uniform\""
                )))
            }
        };
        let truth = match truth {
            "orthonormal" => TruthKind::Orthonormal,
            "gaussian_factor" => TruthKind::GaussianFactor,
            other => {
                return Err(value_error(format!(
                    "truth = {other:?} is unknown; allowed: \"orthonormal\", \"gaussian_factor\""
                )))
            }
        };
        Self::build(
            py,
            Instance {
                n,
                r,
                m: None,
                kappa,
                singular_values,
                truth,
                operator: Some(OperatorSpec {
                    kind: OperatorKind::Completion,
                    sampling: Some(sampling),
                    p,
                    observations,
                    threshold,
                }),
                noise,
                seed,
            },
        )
    }

    /// Another Gaussian instance on this one's operator (shared, not copied):
    /// `p.variant(kappa=None, singular_values=None, noise=None)`, each argument left out keeping
    /// this instance's value (kappa replaces singular_values and the other way round; noise=0
    /// removes the noise). It is, bit for bit, the instance `Problem.gaussian` builds with those
    /// values and this seed, and runs on it can join this problem's `run_batch` (key `problem`):
    /// one pass of 𝒜 per iteration for a σ or κ sweep. Completion problems raise ValueError (Ω
    /// may depend on X: build another `Problem.completion`).
    #[pyo3(signature = (kappa=None, singular_values=None, noise=None))]
    fn variant(
        &self,
        py: Python<'_>,
        kappa: Option<f64>,
        singular_values: Option<Vec<f64>>,
        noise: Option<f64>,
    ) -> PyResult<Self> {
        if self.instance.operator.is_some() {
            return Err(value_error(
                "variant: a completion problem's Ω may depend on X, so it cannot be shared; \
                 allowed: Gaussian problems (Problem.gaussian)",
            ));
        }
        let mut instance = self.instance.clone();
        if kappa.is_some() || singular_values.is_some() {
            instance.kappa = kappa;
            instance.singular_values = singular_values;
        }
        if let Some(sigma) = noise {
            instance.noise = (sigma != 0.0).then_some(sigma);
        }
        let config = config_of(&instance, &RunArgs::default())?;
        let point = first_point(&config)?;
        // The new instance on the shared operator: X and V_X (n×r), XXᵀ (n×n), y (m).
        let (n, r, m) = (instance.n as u128, instance.r as u128, self.m_() as u128);
        check_fits(
            || "variant: the new instance".to_string(),
            8 * (2 * n * r + n * n + m),
        )?;
        let base = Arc::clone(&self.problem);
        let problem = py.detach(|| on_engine(|| experiments::run::build_problem_on(&base, &point)));
        Ok(Self {
            problem: Arc::new(problem),
            instance,
        })
    }

    /// n.
    #[getter]
    fn n(&self) -> usize {
        self.instance.n
    }

    /// r.
    #[getter]
    fn r(&self) -> usize {
        self.instance.r
    }

    /// m, the number of measurements (for completion |Ω|).
    #[getter]
    fn m(&self) -> usize {
        self.m_()
    }

    /// The ground-truth factor X (n×r), a copy.
    #[getter(X)]
    fn x<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        to_numpy2(py, &self.problem.truth.x)
    }

    /// The data y (length m), a copy.
    #[getter]
    fn y<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        to_numpy1(py, &self.problem.y)
    }

    /// 𝒜(Z) for an n×n matrix Z (length m). The A_i are symmetric, so 𝒜(Z) = 𝒜((Z + Zᵀ)/2); a
    /// non-symmetric Z is symmetrized first (a symmetric Z is used as it is).
    fn apply<'py>(
        &self,
        py: Python<'py>,
        z: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let z = real_matrix("Z", &z)?;
        if z.dim() != (self.n_(), self.n_()) {
            return Err(value_error(format!(
                "Z has shape {:?}; allowed: ({n}, {n}) (n×n, symmetric)",
                z.dim(),
                n = self.n_()
            )));
        }
        // The operators read only the upper triangle: symmetrize unless Z is symmetric already.
        let z = if z == z.t() { z } else { (&z + &z.t()) * 0.5 };
        let out = py.detach(|| on_engine(|| self.problem.operator.apply(z.view())));
        Ok(to_numpy1(py, &out))
    }

    /// 𝒜*(v) = Σ_i v_i A_i for a vector v of length m (n×n, symmetric), the adjoint of `apply`:
    /// A_i = G_i/√m for Gaussian sensing, the weighted indicator of pair i of Ω for completion
    /// (README "Conventions").
    fn adjoint<'py>(
        &self,
        py: Python<'py>,
        v: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        check_real("v", &v, 1)?;
        let v: PyArrayLike1<'_, f64, AllowTypeChange> = v.extract()?;
        let v = from_numpy1(&v);
        if v.len() != self.m_() {
            return Err(value_error(format!(
                "v has length {}; allowed: m = {}",
                v.len(),
                self.m_()
            )));
        }
        let out = py.detach(|| on_engine(|| self.problem.operator.adjoint(v.view())));
        to_numpy2(py, &out)
    }

    /// U_0 = α·B, B_ij ~ N(0, 1/r'), from `seed` (default: the init seed a spec with this
    /// instance's seed, α and r' gives replicate 0).
    #[pyo3(signature = (alpha, r_prime, seed=None))]
    fn initial_iterate<'py>(
        &self,
        py: Python<'py>,
        alpha: f64,
        r_prime: Whole<usize>,
        seed: Option<Whole<u64>>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let (r_prime, seed) = (
            r_prime.named("r_prime")?,
            seed.map(|s| s.named("seed")).transpose()?,
        );
        let run = RunArgs {
            alpha,
            r_prime: Some(r_prime),
            ..RunArgs::default()
        };
        let point = self.point(&run)?;
        check_fits(
            || format!("initial_iterate: U_0 ({} × {r_prime})", self.n_()),
            // U_0 and its numpy copy.
            2 * 8 * self.n_() as u128 * r_prime as u128,
        )?;
        to_numpy2(
            py,
            &lowrank_core::small_random_init(
                self.n_(),
                r_prime,
                alpha,
                seed.unwrap_or(point.init_seed),
            ),
        )
    }

    /// One run: `run(u0=None, alpha=None, r_prime=None, seed=None, step_size=0.25, iterations=1000,
    /// log_every=None, algorithm="gd", lam=None, c=None, callback=None, keep_iterates=False)`.
    /// `log_every` defaults to 10, or to `iterations` if that is fewer.
    ///
    /// From `u0` (any n×r' array) if given, else U_0 = α·B drawn with `seed` (α = 1e-6 and the
    /// spec's init seed unless given; r' = r unless given); `alpha` and `seed` with `u0` raise
    /// ValueError (they would not be used). `algorithm` is "gd", "scaled_gd" (needs `lam` = λ ≥ 0) or
    /// "precgd" (needs `c` > 0). `callback(t, U, loss)` is called at every logged step with a
    /// read-only copy of U_t; returning a falsy value other than None (False, numpy.False_, 0)
    /// stops the run there, and an exception it raises is raised by `run`. Ctrl-C
    /// (KeyboardInterrupt) stops the run within an iteration and is raised. Returns a `Run`.
    #[pyo3(signature = (u0=None, alpha=None, r_prime=None, seed=None, step_size=0.25, iterations=Whole(Ok(1000)),
                        log_every=None, algorithm="gd", lam=None, c=None, callback=None, keep_iterates=false),
           text_signature = "($self, u0=None, alpha=None, r_prime=None, seed=None, step_size=0.25, \
                             iterations=1000, log_every=None, algorithm=\"gd\", lam=None, c=None, \
                             callback=None, keep_iterates=False)")]
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        py: Python<'_>,
        u0: Option<Bound<'_, PyAny>>,
        alpha: Option<f64>,
        r_prime: Option<Whole<usize>>,
        seed: Option<Whole<u64>>,
        step_size: f64,
        iterations: Whole<usize>,
        log_every: Option<Whole<usize>>,
        algorithm: &str,
        lam: Option<f64>,
        c: Option<f64>,
        callback: Option<Py<PyAny>>,
        keep_iterates: bool,
    ) -> PyResult<PyRun> {
        let r_prime = r_prime.map(|w| w.named("r_prime")).transpose()?;
        let seed = seed.map(|w| w.named("seed")).transpose()?;
        let iterations = iterations.named("iterations")?;
        let log_every = log_every.map(|w| w.named("log_every")).transpose()?;
        let u0 = u0.map(|u| real_matrix("u0", &u)).transpose()?;
        let args = RunArgs {
            alpha: alpha.unwrap_or(RunArgs::default().alpha),
            alpha_given: alpha.is_some(),
            r_prime: r_prime.or(u0.as_ref().map(|u: &Array2<f64>| u.ncols())),
            init_seed: seed,
            step_size,
            iterations,
            log_every,
            algorithm: algorithm_kind(algorithm)?,
            lam,
            c,
        };
        let mut out = self.run_many(py, vec![(args, u0, callback, keep_iterates, None)])?;
        Ok(out.remove(0))
    }

    /// Several runs on this instance in one lockstep batch (one pass of 𝒜 per iteration for all):
    /// `run_batch([dict(alpha=…, r_prime=…, …), …])`, each dict with the keyword arguments of
    /// `run`, and optionally `problem`: this problem or one made from it with `variant(...)`
    /// (another X or noise on the same 𝒜), which that run is on. Returns a list of `Run`, in
    /// order. Equal to the runs one at a time up to rounding
    /// (the batched kernel sums in another order). An exception in one run's callback, or Ctrl-C,
    /// stops every run of the batch within an iteration and is raised.
    fn run_batch(&self, py: Python<'_>, runs: Bound<'_, PyAny>) -> PyResult<Vec<PyRun>> {
        // Any iterable of dicts (a list, a generator).
        let mut dicts = Vec::new();
        for item in runs.try_iter()? {
            let item = item?;
            let d = item.cast_into::<PyDict>().map_err(|e| {
                pyo3::exceptions::PyTypeError::new_err(format!(
                    "run_batch: an entry is {}, not a dict of run's arguments",
                    e.into_inner().get_type()
                ))
            })?;
            dicts.push(d);
        }
        let mut specs = Vec::with_capacity(dicts.len());
        for d in &dicts {
            let mut a = RunArgs::default();
            let mut u0 = None;
            let mut callback = None;
            let mut keep = false;
            let mut on = None;
            for (k, v) in d.iter() {
                let k: String = k.extract()?;
                match k.as_str() {
                    "u0" => {
                        u0 = Some(real_matrix("run_batch: u0", &v)?);
                    }
                    "alpha" => {
                        a.alpha = v.extract().map_err(|e| arg_error(&k, &v, e))?;
                        a.alpha_given = true;
                    }
                    "r_prime" => a.r_prime = Some(v.extract().map_err(|e| arg_error(&k, &v, e))?),
                    "seed" => a.init_seed = Some(v.extract().map_err(|e| arg_error(&k, &v, e))?),
                    "step_size" => a.step_size = v.extract().map_err(|e| arg_error(&k, &v, e))?,
                    "iterations" => a.iterations = v.extract().map_err(|e| arg_error(&k, &v, e))?,
                    "log_every" => {
                        a.log_every = Some(v.extract().map_err(|e| arg_error(&k, &v, e))?)
                    }
                    "algorithm" => {
                        let name: String = v.extract().map_err(|e| arg_error(&k, &v, e))?;
                        a.algorithm = algorithm_kind(&name)?;
                    }
                    "lam" => a.lam = Some(v.extract().map_err(|e| arg_error(&k, &v, e))?),
                    "c" => a.c = Some(v.extract().map_err(|e| arg_error(&k, &v, e))?),
                    "callback" => callback = Some(v.unbind()),
                    "keep_iterates" => keep = v.extract().map_err(|e| arg_error(&k, &v, e))?,
                    "problem" => {
                        let other: PyRef<'_, PyProblem> = v.extract().map_err(
                            |e: pyo3::pyclass::PyClassGuardError<'_, '_>| {
                                arg_error(&k, &v, e.into())
                            },
                        )?;
                        if !Arc::ptr_eq(&other.problem.operator, &self.problem.operator) {
                            return Err(value_error(
                                "run_batch: a run's problem does not share this problem's \
                                 operator; allowed: this problem or one made from it with \
                                 variant(...)",
                            ));
                        }
                        on = Some((other.instance.clone(), Arc::clone(&other.problem)));
                    }
                    other => {
                        return Err(value_error(format!(
                            "run_batch: unknown key {other:?}; allowed: u0, alpha, r_prime, seed, \
                             step_size, iterations, log_every, algorithm, lam, c, callback, \
                             keep_iterates, problem"
                        )))
                    }
                }
            }
            if a.r_prime.is_none() {
                a.r_prime = u0.as_ref().map(|u: &Array2<f64>| u.ncols());
            }
            specs.push((a, u0, callback, keep, on));
        }
        self.run_many(py, specs)
    }

    /// Pickling (e.g. for `multiprocessing`): the call that builds it, run again where it is
    /// unpickled. The draw is seeded, so the copy is the same instance bit for bit (a variant's
    /// too, built on an operator of its own).
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, pyo3::types::PyTuple>)> {
        let i = &self.instance;
        let class = py.get_type::<PyProblem>();
        match &i.operator {
            None => Ok((
                class.getattr("gaussian")?,
                (
                    i.n,
                    i.r,
                    i.m,
                    i.kappa,
                    i.singular_values.clone(),
                    i.noise,
                    i.seed,
                )
                    .into_pyobject(py)?,
            )),
            Some(o) => Ok((
                class.getattr("completion")?,
                (
                    i.n,
                    i.r,
                    o.p,
                    o.observations,
                    o.sampling.unwrap_or(Sampling::Uniform).label(),
                    o.threshold,
                    i.kappa,
                    i.singular_values.clone(),
                    i.truth.label(),
                    i.noise,
                    i.seed,
                )
                    .into_pyobject(py)?,
            )),
        }
    }

    fn __repr__(&self) -> String {
        let i = &self.instance;
        let truth = match (&i.singular_values, i.kappa) {
            (Some(s), _) => format!(", singular_values={s:?}"),
            (None, Some(k)) => format!(", kappa={k}"),
            (None, None) => String::new(),
        };
        let noise = i.noise.map_or(String::new(), |s| format!(", noise={s}"));
        let x = if i.truth == TruthKind::GaussianFactor {
            ", truth=\"gaussian_factor\""
        } else {
            ""
        };
        // The call that builds it (completion's m is |Ω|, drawn: shown after it).
        match &i.operator {
            None => format!(
                "Problem.gaussian(n={}, r={}, m={}{truth}{x}{noise}, seed={})",
                i.n,
                i.r,
                self.m_(),
                i.seed
            ),
            Some(o) => {
                let mut sampling = format!(
                    ", sampling=\"{}\"",
                    o.sampling.map_or("uniform", |s| s.label())
                );
                if let Some(p) = o.p {
                    sampling += &format!(", p={p}");
                }
                if let Some(k) = o.observations {
                    sampling += &format!(", observations={k}");
                }
                if let Some(t) = o.threshold {
                    sampling += &format!(", threshold={t}");
                }
                format!(
                    "Problem.completion(n={}, r={}{sampling}{truth}{x}{noise}, seed={}) with |Ω| = {}",
                    i.n, i.r, i.seed, self.m_()
                )
            }
        }
    }
}

/// One run of a batch as asked for: its parameters, its U_0 if given, its callback, whether to
/// keep its iterates, and the instance it is on if not the batch's problem (sharing its operator).
type RunRequest = (
    RunArgs,
    Option<Array2<f64>>,
    Option<Py<PyAny>>,
    bool,
    Option<(Instance, Arc<Problem>)>,
);

/// One run's observer: diagnostics at logged steps, the Python callback, optionally U_t.
struct PyObserver<'a> {
    calculator: DiagnosticsCalculator<'a>,
    callback: Option<Py<PyAny>>,
    keep_iterates: bool,
    record: Record,
    error: Option<PyErr>,
    /// Set when the batch is to end (Ctrl-C, or a callback of another run raised): every run
    /// stops before its next iteration ([`Observer::cancelled`]).
    abort: &'a AtomicBool,
}

#[derive(Default)]
struct Record {
    t: Vec<usize>,
    rows: Vec<[f64; 8]>,
    iterates: Vec<Array2<f64>>,
}

/// The columns a `Run` records at each logged step (see `lowrank_core::diagnostics`).
const COLUMNS: [&str; 8] = [
    "loss",
    "test_error",
    "train_error",
    "sin_theta",
    "sigma_min_vx_u",
    "sigma_min_signal",
    "noise_norm",
    "u_norm",
];

impl Observer for PyObserver<'_> {
    fn observe(&mut self, state: &IterationState<'_>) -> Control {
        if self.abort.load(Ordering::Relaxed) {
            return Control::Stop;
        }
        let Ok(d) = self.calculator.compute(state) else {
            self.error = Some(PyRuntimeError::new_err(
                "a decomposition failed while computing the diagnostics",
            ));
            return Control::Stop;
        };
        self.record.t.push(state.t);
        self.record.rows.push([
            d.loss,
            d.test_error,
            d.train_error,
            d.sin_theta,
            d.sigma_min_vx_u,
            d.sigma_min_signal,
            d.noise_norm,
            d.u_norm,
        ]);
        if self.keep_iterates {
            self.record.iterates.push(state.u.to_owned());
        }
        let Some(cb) = &self.callback else {
            return Control::Continue;
        };
        let u = state.u.to_owned();
        Python::attach(|py| {
            let call = || -> PyResult<bool> {
                let arr = to_numpy2(py, &u)?;
                arr.readwrite().make_nonwriteable();
                let out = cb.call1(py, (state.t, arr, state.loss))?;
                let out = out.bind(py);
                // None (no return) goes on; any other falsy value (False, numpy.False_, 0) stops.
                Ok(out.is_none() || out.is_truthy()?)
            };
            match call() {
                Ok(true) => Control::Continue,
                Ok(false) => Control::Stop,
                Err(e) => {
                    self.error = Some(e);
                    self.abort.store(true, Ordering::Relaxed);
                    Control::Stop
                }
            }
        })
    }

    /// Ctrl-C, or a callback's exception: the batch is discarded, so its runs end at once.
    fn cancelled(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }
}

/// Runs `work` on the engine's thread pool of this process.
///
/// Rayon's global pool does not survive `fork()`: in a child forked after the parent ran
/// anything (multiprocessing's default start method on Linux), its worker threads are gone and
/// the first parallel step waits for them forever. So every call into the engine runs on a pool
/// that belongs to the process that made it, made again in a forked child. Its size is rayon's
/// default (RAYON_NUM_THREADS, else the cores), and results do not depend on it.
fn on_engine<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    static POOL: Mutex<Option<(u32, Arc<rayon::ThreadPool>)>> = Mutex::new(None);
    let pool = {
        let mut slot = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let pid = std::process::id();
        match &*slot {
            Some((owner, pool)) if *owner == pid => Arc::clone(pool),
            _ => {
                // The parent's pool: its threads do not exist here, so nothing may wait on them.
                std::mem::forget(slot.take());
                let pool = Arc::new(
                    rayon::ThreadPoolBuilder::new()
                        .thread_name(|i| format!("lowrank-{i}"))
                        .build()
                        .expect("the engine's threads start"),
                );
                *slot = Some((pid, Arc::clone(&pool)));
                pool
            }
        }
    };
    pool.install(work)
}

/// Runs `work` (a batch whose observers watch `abort`) on a helper thread without the GIL, while
/// this thread checks for signals every 50 ms: on Ctrl-C (KeyboardInterrupt, or whatever a Python
/// signal handler raises) it sets `abort`, so the runs stop before their next iteration, waits for
/// them and returns the exception beside the outcomes.
fn run_interruptibly<T: Send>(
    py: Python<'_>,
    abort: &AtomicBool,
    work: impl FnOnce() -> T + Send,
) -> (T, Option<PyErr>) {
    if rayon::current_thread_index().is_some() {
        // Called from a callback of a batch, on one of the engine's worker threads: a helper
        // thread would wait for workers that are all waiting on callbacks (a deadlock). The work
        // runs here (rayon nests it); the outer call watches for signals.
        return (py.detach(|| on_engine(work)), None);
    }
    let waiter = std::thread::current();
    std::thread::scope(|scope| {
        let handle = scope.spawn(move || {
            let out = on_engine(work);
            waiter.unpark();
            out
        });
        let mut interrupted = None;
        while !handle.is_finished() {
            py.detach(|| std::thread::park_timeout(std::time::Duration::from_millis(50)));
            if interrupted.is_none() {
                if let Err(e) = py.check_signals() {
                    abort.store(true, Ordering::Relaxed);
                    interrupted = Some(e);
                }
            }
        }
        let out = match handle.join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (out, interrupted)
    })
}

impl PyProblem {
    fn run_many(&self, py: Python<'_>, runs: Vec<RunRequest>) -> PyResult<Vec<PyRun>> {
        // Before anything runs (it was found at the first logged step).
        for (a, u0, callback, _, _) in &runs {
            if u0.is_some() && (a.alpha_given || a.init_seed.is_some()) {
                return Err(value_error(
                    "alpha and seed draw U_0 = α·B, which u0 replaces; allowed: u0, or alpha and \
                     seed, not both",
                ));
            }
            if let Some(cb) = callback.as_ref().filter(|cb| !cb.bind(py).is_callable()) {
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "callback = {} is not callable; allowed: a function callback(t, U, loss)",
                    cb.bind(py)
                )));
            }
        }
        let mut params = Vec::with_capacity(runs.len());
        let mut inits = Vec::with_capacity(runs.len());
        let mut problems = Vec::with_capacity(runs.len());
        // What the batch allocates, counted before each run's share is allocated: the operator's
        // pass for all runs, each run's buffers (U, its last good copy, ∇f, UUᵀ, UᵀU), U_0 and its
        // logged rows (8 quantities, and U_t itself with keep_iterates).
        let mut need: u128 = 0;
        for (i, (a, u0, _, keep_iterates, on)) in runs.iter().enumerate() {
            let (instance, problem) = on
                .clone()
                .unwrap_or_else(|| (self.instance.clone(), Arc::clone(&self.problem)));
            let config = config_of(&instance, a)?;
            problems.push(problem);
            let init_seed = first_point(&config)?.init_seed;
            let algorithm = config
                .spec
                .algorithm
                .as_ref()
                .map_or(lowrank_core::Algorithm::Gd, |s| s.resolve(a.algorithm));
            let r_prime = a.r_prime.unwrap_or(self.instance.r);
            if i == 0 {
                need = experiments::run::operator_pass_bytes(&first_point(&config)?, runs.len());
            }
            let (n, rp) = (self.n_() as u128, r_prime as u128);
            let rows = (a.iterations / a.log_every_or_default()) as u128 + 2;
            // A logged row: t and 8 quantities (72 bytes), and U_t with keep_iterates; twice that,
            // as a growing Vec may hold up to twice its length.
            let per_row = 2 * (8 + 8 * 8 + if *keep_iterates { 8 * n * rp } else { 0 });
            need = need
                .saturating_add(lowrank_core::descent::run_buffer_bytes(
                    self.n_(),
                    1,
                    r_prime,
                ))
                .saturating_add(8 * n * rp)
                .saturating_add(rows.saturating_mul(per_row));
            check_fits(
                || {
                    format!(
                        "a batch of {} run(s) (this one r' = {r_prime}, {rows} logged steps)",
                        runs.len()
                    )
                },
                need,
            )?;
            let u0 = match u0 {
                Some(u) => {
                    if u.nrows() != self.n_() || u.ncols() == 0 {
                        return Err(value_error(format!(
                            "u0 has shape {:?}; allowed: shape ({}, r') with r' ≥ 1",
                            u.dim(),
                            self.n_()
                        )));
                    }
                    if u.ncols() != r_prime {
                        return Err(value_error(format!(
                            "u0 has {} columns and r_prime = {r_prime}; allowed: r_prime equal to \
                             u0's number of columns, or left out",
                            u.ncols()
                        )));
                    }
                    if let Some(((i, j), v)) = u.indexed_iter().find(|(_, v)| !v.is_finite()) {
                        return Err(value_error(format!(
                            "u0[{i}, {j}] = {v}; allowed: finite values"
                        )));
                    }
                    u.clone()
                }
                None => lowrank_core::small_random_init(
                    self.n_(),
                    r_prime,
                    a.alpha,
                    a.init_seed.unwrap_or(init_seed),
                ),
            };
            params.push(
                RunParams::new(a.step_size, a.iterations, a.log_every_or_default())
                    .with_algorithm(algorithm),
            );
            inits.push(u0);
        }
        let abort = AtomicBool::new(false);
        let mut observers: Vec<PyObserver<'_>> = runs
            .into_iter()
            .zip(&problems)
            .map(|((_, _, callback, keep_iterates, _), problem)| PyObserver {
                calculator: DiagnosticsCalculator::new(
                    &problem.truth,
                    lowrank_core::linalg::sum_of_squares(problem.y.view()).sqrt(),
                    1,
                ),
                callback,
                keep_iterates,
                record: Record::default(),
                error: None,
                abort: &abort,
            })
            .collect();
        let (outcomes, interrupted) = run_interruptibly(py, &abort, || {
            let batch = observers
                .iter_mut()
                .zip(params.iter().zip(inits))
                .map(|(o, (p, u0))| BatchRun {
                    params: p.clone(),
                    u0,
                    observer: o,
                })
                .collect();
            let instances: Vec<&Problem> = problems.iter().map(|p| &**p).collect();
            run_gradient_descent_shared_operator(&instances, batch)
        });
        if let Some(e) = interrupted {
            return Err(e);
        }
        let mut out = Vec::with_capacity(outcomes.len());
        for (o, outcome) in observers.into_iter().zip(outcomes) {
            if let Some(e) = o.error {
                return Err(e);
            }
            let (status, stopped_at) = match outcome.status {
                RunStatus::Stopped { at } => ("stopped".to_string(), Some(at)),
                RunStatus::Diverged { at } => ("diverged".to_string(), Some(at)),
                s @ RunStatus::StepFailed { at, .. } => (s.label().to_string(), Some(at)),
                s => (s.label().to_string(), None),
            };
            out.push(PyRun {
                t: o.record.t,
                rows: o.record.rows,
                iterates: o.record.iterates,
                u: outcome.u,
                status,
                stopped_at,
            });
        }
        Ok(out)
    }
}

/// The result of one run: logged steps `t`, the diagnostics at them (`quantities`, a dict of
/// arrays; `as_dict()` adds `t`, ready for `pandas.DataFrame`), the final iterate `u`, `status`
/// ("completed", "stopped" by the callback, "diverged", or a step failure) and, if asked for,
/// `iterates` (U_t at each logged t).
#[pyclass(name = "Run", module = "lowrank", frozen)]
struct PyRun {
    t: Vec<usize>,
    rows: Vec<[f64; 8]>,
    iterates: Vec<Array2<f64>>,
    u: Array2<f64>,
    status: String,
    stopped_at: Option<usize>,
}

#[pymethods]
impl PyRun {
    /// Logged iterations.
    #[getter]
    fn t<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        PyArray1::from_vec(py, self.t.iter().map(|&t| t as i64).collect())
    }

    /// {quantity: array over `t`}: loss f(U_t), test_error ‖UUᵀ − XXᵀ‖_F/‖XXᵀ‖_F, train_error
    /// ‖𝒜(UUᵀ) − y‖/‖y‖, sin_theta, sigma_min_vx_u, sigma_min_signal, noise_norm, u_norm.
    #[getter]
    fn quantities<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (j, name) in COLUMNS.iter().enumerate() {
            let col: Vec<f64> = self.rows.iter().map(|r| r[j]).collect();
            d.set_item(name, PyArray1::from_vec(py, col))?;
        }
        Ok(d)
    }

    /// `quantities` with `t` first (pandas.DataFrame(run.as_dict()) is the run's table).
    fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("t", self.t(py))?;
        for (k, v) in self.quantities(py)?.iter() {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// U_t at each logged t (empty unless the run was asked to keep them).
    #[getter]
    fn iterates<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyArray2<f64>>>> {
        self.iterates.iter().map(|u| to_numpy2(py, u)).collect()
    }

    /// The last iterate (for a diverged run, the last observed one).
    #[getter]
    fn u<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        to_numpy2(py, &self.u)
    }

    /// "completed", "stopped", "diverged", or a step failure such as "singular_preconditioner".
    #[getter]
    fn status(&self) -> &str {
        &self.status
    }

    /// The iteration at which a stopped or diverged run ended, or whose step failed (e.g.
    /// "singular_preconditioner"); None for a run that completed.
    #[getter]
    fn stopped_at(&self) -> Option<usize> {
        self.stopped_at
    }

    /// Pickling (e.g. for `multiprocessing`): [`run_from_state`] with the run's data, so the copy
    /// holds the same numbers bit for bit.
    fn __reduce__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, pyo3::types::PyTuple>)> {
        let rows =
            Array2::from_shape_fn((self.rows.len(), COLUMNS.len()), |(i, j)| self.rows[i][j]);
        let iterates = self
            .iterates
            .iter()
            .map(|u| to_numpy2(py, u))
            .collect::<PyResult<Vec<_>>>()?;
        Ok((
            py.import("lowrank._lowrank")?.getattr("_run_from_state")?,
            (
                self.t.clone(),
                to_numpy2(py, &rows)?,
                iterates,
                to_numpy2(py, &self.u)?,
                self.status.clone(),
                self.stopped_at,
            )
                .into_pyobject(py)?,
        ))
    }

    fn __repr__(&self) -> String {
        let last = self.rows.last().map_or(f64::NAN, |r| r[1]);
        format!(
            "Run(status={:?}, logged={}, final test_error={last:e})",
            self.status,
            self.t.len()
        )
    }
}

/// A [`PyRun`] from what its `__reduce__` gives (unpickling): logged steps, their rows of
/// `COLUMNS` (one row per step), the kept iterates, the last iterate, status and stop.
#[pyfunction]
#[pyo3(name = "_run_from_state")]
fn run_from_state(
    t: Vec<usize>,
    rows: PyReadonlyArray2<'_, f64>,
    iterates: Vec<PyReadonlyArray2<'_, f64>>,
    u: PyReadonlyArray2<'_, f64>,
    status: String,
    stopped_at: Option<usize>,
) -> PyResult<PyRun> {
    let table = rows.as_array();
    if table.dim() != (t.len(), COLUMNS.len()) {
        return Err(PyValueError::new_err(format!(
            "_run_from_state: rows has shape {:?}; it must be (len(t), {}) = ({}, {})",
            table.dim(),
            COLUMNS.len(),
            t.len(),
            COLUMNS.len()
        )));
    }
    let u = from_numpy2(&u);
    let iterates: Vec<Array2<f64>> = iterates.iter().map(from_numpy2).collect();
    if let Some(bad) = iterates.iter().find(|x| x.dim() != u.dim()) {
        return Err(PyValueError::new_err(format!(
            "_run_from_state: an iterate has shape {:?}; it must be u's, {:?}",
            bad.dim(),
            u.dim()
        )));
    }
    Ok(PyRun {
        rows: table
            .rows()
            .into_iter()
            .map(|r| std::array::from_fn(|j| r[j]))
            .collect(),
        t,
        iterates,
        u,
        status,
        stopped_at,
    })
}

/// Reports nothing and asks the engine to stop once `abort` is set ([`run_interruptibly`] sets it
/// on Ctrl-C).
struct CancelOn<'a>(&'a AtomicBool);

impl experiments::Progress for CancelOn<'_> {
    fn cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs a TOML spec through exactly the pipeline of `experiments run` (validation, sweep, cache,
/// batches, CSVs, manifest, figure) and returns the paths it wrote and what the command line
/// would tell besides: {"name", "runs_csv", "trajectories_csv", "manifest", "files", "notes"}. `lowrank.run_spec` wraps it and
/// reads the CSVs into DataFrames.
#[pyfunction]
#[pyo3(signature = (path, quick=false, results="results".to_string(), figures="figures".to_string()))]
fn run_spec_files<'py>(
    py: Python<'py>,
    path: PathBuf,
    quick: bool,
    results: String,
    figures: String,
) -> PyResult<Bound<'py, PyDict>> {
    experiments::check_memory_budget_variable().map_err(value_error)?;
    experiments::checkpoint::interval().map_err(value_error)?;
    // With the memory check of the command line (spec::load alone skips it, and a spec the
    // command line refuses aborted the interpreter on its allocation).
    let config =
        experiments::load_spec(&path, quick, experiments::memory_budget()).map_err(value_error)?;
    // Before the run, as the command line says it (a spec without [quick] runs at full size).
    if let Some(note) = config.quick_note() {
        let category = py.get_type::<pyo3::exceptions::PyUserWarning>();
        PyErr::warn(py, &category, &std::ffi::CString::new(note)?, 1)?;
    }
    let layout = Layout {
        results: PathBuf::from(results),
        figures: PathBuf::from(figures),
    };
    // Ctrl-C stops the runs before their next iteration and raises KeyboardInterrupt; nothing of
    // the batch under way is written (the runs finished before it are cached, and a long batch's
    // checkpoint is kept, so running the spec again continues).
    let abort = AtomicBool::new(false);
    let (outcome, interrupted) = run_interruptibly(py, &abort, || {
        experiments::run_experiment(&config, &layout, &CancelOn(&abort))
    });
    if let Some(e) = interrupted {
        return Err(e);
    }
    let outcome = outcome.map_err(value_error)?;
    let dir = layout.results_dir(&config);
    let d = PyDict::new(py);
    d.set_item("name", &config.name)?;
    d.set_item("runs_csv", dir.join("runs.csv"))?;
    d.set_item("trajectories_csv", dir.join("trajectories.csv"))?;
    d.set_item("manifest", dir.join("manifest.json"))?;
    d.set_item("notes", outcome.notes(&config.name))?;
    d.set_item("files", outcome.files)?;
    Ok(d)
}

/// The compiled part of `lowrank`.
#[pymodule]
fn _lowrank(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // The engine's threading policy, as in `experiments run`: sequential decompositions and one
    // BLAS thread (the operator passes use rayon), so numbers and speed match the command line.
    experiments::run::deterministic_decompositions();
    (experiments::resources().set_blas_threads)(experiments::run::Parallelism::POLICY.blas_threads);
    m.add_class::<PyProblem>()?;
    m.add_class::<PyRun>()?;
    m.add_function(wrap_pyfunction!(run_spec_files, m)?)?;
    m.add_function(wrap_pyfunction!(run_from_state, m)?)?;
    Ok(())
}
