//! Gradient descent on the factorized loss, with per-iteration state reported to an [`Observer`].
//!
//! ```text
//!   f(U)   = ¼‖𝒜(UUᵀ) − y‖²
//!   ∇f(U)  = 𝒜*(𝒜(UUᵀ) − y)·U
//!   U_{t+1} = U_t − μ·∇f(U_t)
//! ```
//! One iteration costs one forward pass 𝐀·svec(UUᵀ) and one adjoint pass 𝐀ᵀ·r over the packed
//! operator (O(m·n²) each) plus O(n²r') dense work; all buffers live in a [`Workspace`] allocated
//! once per run, so the loop itself does not allocate.
//!
//! At t = 0, log_every, 2·log_every, … and at the last iteration the observer sees U_t together with
//! its residual 𝒜(U_tU_tᵀ) − y (so train error and loss at t refer to U_t, before the update).

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2};

use crate::packing::{packed_dim, smat_into, svec_into};
use crate::problem::Problem;

/// Parameters of plain gradient descent.
#[derive(Debug, Clone, PartialEq)]
pub struct GdParams {
    /// Step size μ > 0.
    pub step_size: f64,
    /// Number of updates T; the last state observed is U_T.
    pub iterations: usize,
    /// The observer sees every `log_every`-th iterate (and the last one). ≥ 1.
    pub log_every: usize,
    /// A run is declared diverged when ‖U_t‖_F > divergence_factor · max(‖X‖_F, ‖U_0‖_F), or when
    /// anything becomes non-finite.
    pub divergence_factor: f64,
}

impl GdParams {
    /// μ, T, log_every with the default divergence factor 1e3.
    pub fn new(step_size: f64, iterations: usize, log_every: usize) -> Self {
        Self {
            step_size,
            iterations,
            log_every,
            divergence_factor: 1e3,
        }
    }
}

/// What the observer sees at a logged iteration.
#[derive(Debug, Clone, Copy)]
pub struct IterationState<'a> {
    /// Iteration t (U_t has had t updates).
    pub t: usize,
    /// U_t (n×r').
    pub u: ArrayView2<'a, f64>,
    /// U_tU_tᵀ (n×n).
    pub uut: ArrayView2<'a, f64>,
    /// 𝒜(U_tU_tᵀ) − y (length m).
    pub residual: ArrayView1<'a, f64>,
    /// f(U_t) = ¼‖residual‖².
    pub loss: f64,
}

/// Whether the run goes on after an observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Keep iterating.
    Continue,
    /// Stop now (the run ends with [`RunStatus::Stopped`]).
    Stop,
}

/// Receives the state at logged iterations (argmin-style solver/observer split).
pub trait Observer {
    /// Called at logged iterations, with finite state only.
    fn observe(&mut self, state: &IterationState<'_>) -> Control;
}

impl<F: FnMut(&IterationState<'_>) -> Control> Observer for F {
    fn observe(&mut self, state: &IterationState<'_>) -> Control {
        self(state)
    }
}

/// Two observers in sequence; stops when either asks to.
impl<A: Observer, B: Observer> Observer for (A, B) {
    fn observe(&mut self, state: &IterationState<'_>) -> Control {
        let a = self.0.observe(state);
        let b = self.1.observe(state);
        if a == Control::Stop || b == Control::Stop {
            Control::Stop
        } else {
            Control::Continue
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// All T iterations were done.
    Completed,
    /// The iterate became non-finite or exploded at iteration `at` (see [`GdParams::divergence_factor`]).
    Diverged {
        /// First iteration whose state was non-finite or too large.
        at: usize,
    },
    /// The observer asked to stop at iteration `at`.
    Stopped {
        /// Iteration of the observation that asked to stop.
        at: usize,
    },
}

impl RunStatus {
    /// "completed", "diverged" or "stopped".
    pub fn label(&self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Diverged { .. } => "diverged",
            Self::Stopped { .. } => "stopped",
        }
    }
}

/// The end of a run: the last iterate and how the run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The last finite iterate (U_T if completed).
    pub u: Array2<f64>,
    /// How the run ended.
    pub status: RunStatus,
}

/// Buffers of one run (sizes n×n, p = n(n+1)/2, m, n×r').
#[derive(Debug, Clone)]
pub struct Workspace {
    uut: Array2<f64>,
    packed: Array1<f64>,
    residual: Array1<f64>,
    gradient_packed: Array1<f64>,
    adjoint: Array2<f64>,
    step: Array2<f64>,
}

impl Workspace {
    /// Buffers for side length n, m measurements, width r'.
    pub fn new(n: usize, m: usize, r_prime: usize) -> Self {
        Self {
            uut: Array2::zeros((n, n)),
            packed: Array1::zeros(packed_dim(n)),
            residual: Array1::zeros(m),
            gradient_packed: Array1::zeros(packed_dim(n)),
            adjoint: Array2::zeros((n, n)),
            step: Array2::zeros((n, r_prime)),
        }
    }

    /// Sets uut = UUᵀ and residual = 𝒜(UUᵀ) − y; returns f(U) = ¼‖residual‖².
    pub fn evaluate(&mut self, problem: &Problem, u: ArrayView2<'_, f64>) -> f64 {
        general_mat_mul(1.0, &u, &u.t(), 0.0, &mut self.uut);
        svec_into(self.uut.view(), self.packed.view_mut());
        problem
            .operator
            .apply_packed_into(self.packed.view(), self.residual.view_mut());
        self.residual -= &problem.y;
        0.25 * self.residual.dot(&self.residual)
    }

    /// ∇f(U) = 𝒜*(residual)·U, using the residual of the last [`Workspace::evaluate`] at the same U.
    pub fn gradient(&mut self, problem: &Problem, u: ArrayView2<'_, f64>) -> ArrayView2<'_, f64> {
        problem
            .operator
            .adjoint_packed_into(self.residual.view(), self.gradient_packed.view_mut());
        smat_into(self.gradient_packed.view(), self.adjoint.view_mut());
        general_mat_mul(1.0, &self.adjoint, &u, 0.0, &mut self.step);
        self.step.view()
    }

    /// The state of the last evaluation at U.
    fn state<'a>(&'a self, t: usize, u: ArrayView2<'a, f64>, loss: f64) -> IterationState<'a> {
        IterationState {
            t,
            u,
            uut: self.uut.view(),
            residual: self.residual.view(),
            loss,
        }
    }
}

/// f(U) = ¼‖𝒜(UUᵀ) − y‖² (allocates; for tests and one-off evaluations).
pub fn loss(problem: &Problem, u: ArrayView2<'_, f64>) -> f64 {
    Workspace::new(problem.truth.n(), problem.operator.m(), u.ncols()).evaluate(problem, u)
}

/// ∇f(U) (allocates; for tests and one-off evaluations).
pub fn gradient(problem: &Problem, u: ArrayView2<'_, f64>) -> Array2<f64> {
    let mut ws = Workspace::new(problem.truth.n(), problem.operator.m(), u.ncols());
    ws.evaluate(problem, u);
    ws.gradient(problem, u).to_owned()
}

/// Runs T iterations of U ← U − μ∇f(U) from `u0`, reporting logged states to `observer`.
pub fn run_gradient_descent<O: Observer + ?Sized>(
    problem: &Problem,
    params: &GdParams,
    u0: Array2<f64>,
    observer: &mut O,
) -> RunOutcome {
    let (n, r_prime) = u0.dim();
    let mut ws = Workspace::new(n, problem.operator.m(), r_prime);
    let norm = |a: &Array2<f64>| a.iter().map(|v| v * v).sum::<f64>().sqrt();
    let x_norm = norm(&problem.truth.x);
    let limit = params.divergence_factor * x_norm.max(norm(&u0));
    let mut u = u0;
    let mut last_good = u.clone();
    for t in 0..=params.iterations {
        let loss = ws.evaluate(problem, u.view());
        let u_norm = norm(&u);
        if !loss.is_finite() || !u_norm.is_finite() || u_norm > limit {
            return RunOutcome {
                u: last_good,
                status: RunStatus::Diverged { at: t },
            };
        }
        let logged = t % params.log_every == 0 || t == params.iterations;
        if logged {
            if observer.observe(&ws.state(t, u.view(), loss)) == Control::Stop {
                return RunOutcome {
                    u,
                    status: RunStatus::Stopped { at: t },
                };
            }
            last_good.assign(&u);
        }
        if t == params.iterations {
            break;
        }
        let step = ws.gradient(problem, u.view());
        u.scaled_add(-params.step_size, &step);
    }
    RunOutcome {
        u,
        status: RunStatus::Completed,
    }
}
