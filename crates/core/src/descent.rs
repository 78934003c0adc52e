//! The descent loop on the factorized loss (the executor), with per-iteration state reported to an
//! [`Observer`] and the update delegated to each run's step rule ([`crate::algorithm`]).
//!
//! ```text
//!   f(U)   = ¼‖𝒜(UUᵀ) − y‖²
//!   ∇f(U)  = 𝒜*(𝒜(UUᵀ) − y)·U
//!   U_{t+1} = U_t − μ·D_t,   D_t = ∇f(U_t) for GD, ∇f(U_t)·(U_tᵀU_t + λ_tI)⁻¹ for ScaledGD(λ) / PrecGD
//! ```
//! One iteration costs the operator's batched pass ([`crate::operator::BatchPass`]: for the
//! dense operator the forward product 𝐀·svec(UUᵀ) and the adjoint product 𝐀ᵀ·r, O(m·n²) flops
//! each, fused into one read of 𝐀) plus O(n²r') dense work and the step rule's O(nr'² + r'³);
//! every buffer is allocated once per batch; per iteration only small lists of views are.
//!
//! At t = 0, log_every, 2·log_every, … and at the last iteration the observer sees U_t together with
//! its residual 𝒜(U_tU_tᵀ) − y (so train error and loss at t refer to U_t, before the update).

use std::sync::Arc;

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView1, ArrayView2};
use rayon::prelude::*;

use crate::algorithm::{Algorithm, AlgorithmError, StepContext, StepFailure, StepRule};
use crate::linalg::{frobenius_norm, sum_of_squares};
use crate::operator::{PassKernel, PassRun};
use crate::problem::Problem;

/// Parameters of one run of the descent loop: the algorithm, its step size and the loop's schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct RunParams {
    /// The step rule (GD, ScaledGD(λ), PrecGD).
    pub algorithm: Algorithm,
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

impl RunParams {
    /// GD with μ, T, log_every and the default divergence factor 1e3.
    pub fn new(step_size: f64, iterations: usize, log_every: usize) -> Self {
        Self {
            algorithm: Algorithm::Gd,
            step_size,
            iterations,
            log_every,
            divergence_factor: 1e3,
        }
    }

    /// Whether the observer sees iteration t: t = 0, log_every, 2·log_every, … and t = T.
    pub fn observes(&self, t: usize) -> bool {
        t.is_multiple_of(self.log_every) || t == self.iterations
    }

    /// The same parameters with another algorithm.
    pub fn with_algorithm(self, algorithm: Algorithm) -> Self {
        Self { algorithm, ..self }
    }

    /// Ok if every value is in its allowed range: μ finite and > 0, log_every ≥ 1, the divergence
    /// factor ≥ 1 (below 1 the limit is under max(‖X‖_F, ‖U_0‖_F), so U_0 itself could count as
    /// diverged; near 1 a converging run, ‖U_t‖_F → ‖X‖_F, can cross it, so keep it well above,
    /// as the default 1e3; +inf: only non-finite values count), and the algorithm's parameter
    /// as its checked constructors ([`Algorithm::scaled_gd`], [`Algorithm::precgd`]) allow.
    pub fn check(&self) -> Result<(), RunParamsError> {
        if !(self.step_size.is_finite() && self.step_size > 0.0) {
            return Err(RunParamsError::StepSize(self.step_size));
        }
        if self.log_every == 0 {
            return Err(RunParamsError::LogEvery);
        }
        if self.divergence_factor.is_nan() || self.divergence_factor < 1.0 {
            return Err(RunParamsError::DivergenceFactor(self.divergence_factor));
        }
        match self.algorithm {
            Algorithm::Gd => Ok(()),
            Algorithm::ScaledGd { lambda } => Algorithm::scaled_gd(lambda).map(|_| ()),
            Algorithm::PrecGd { c } => Algorithm::precgd(c).map(|_| ()),
        }
        .map_err(RunParamsError::Algorithm)
    }
}

/// A [`RunParams`] value outside its allowed range (see [`RunParams::check`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunParamsError {
    /// μ is not finite or not positive.
    #[error("step_size = {0} is out of range; allowed: a finite μ > 0")]
    StepSize(f64),
    /// log_every is 0.
    #[error("log_every = 0 is out of range; allowed: log_every ≥ 1")]
    LogEvery,
    /// The divergence factor is NaN or below 1.
    #[error(
        "divergence_factor = {0} is out of range; allowed: a factor ≥ 1 of max(‖X‖_F, ‖U_0‖_F) \
         (inf: only non-finite values count as divergence)"
    )]
    DivergenceFactor(f64),
    /// The algorithm's parameter.
    #[error(transparent)]
    Algorithm(AlgorithmError),
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

    /// Checked before every iteration: `true` ends the run there, with [`RunStatus::Stopped`]
    /// at that t, logged or not. For a caller that discards the run (Ctrl-C), so that a run
    /// that logs rarely stops within an iteration rather than at its next logged step.
    fn cancelled(&self) -> bool {
        false
    }
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

    fn cancelled(&self) -> bool {
        self.0.cancelled() || self.1.cancelled()
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// All T iterations were done.
    Completed,
    /// The iterate became non-finite or exploded at iteration `at` (see [`RunParams::divergence_factor`]).
    Diverged {
        /// First iteration whose state was non-finite or too large.
        at: usize,
    },
    /// The observer asked to stop at iteration `at`.
    Stopped {
        /// Iteration of the observation that asked to stop.
        at: usize,
    },
    /// The step rule could not update U_t (e.g. a singular preconditioner of ScaledGD with λ = 0).
    StepFailed {
        /// Iteration whose update failed.
        at: usize,
        /// Why.
        reason: StepFailure,
    },
}

impl RunStatus {
    /// "completed", "diverged", "stopped", or the failure's label (e.g. "singular_preconditioner").
    pub fn label(&self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Diverged { .. } => "diverged",
            Self::Stopped { .. } => "stopped",
            Self::StepFailed { reason, .. } => reason.label(),
        }
    }

    /// Every label [`RunStatus::label`] can return.
    pub const LABELS: [&'static str; 4] = [
        "completed",
        "diverged",
        "stopped",
        "singular_preconditioner",
    ];
}

/// The end of a run: the last iterate and how the run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// U_T if completed, U_t if stopped or failed at t; for a diverged run the last *observed* iterate (the
    /// latest logged t whose state was finite), which may be up to log_every − 1 steps before the
    /// divergence.
    pub u: Array2<f64>,
    /// How the run ended.
    pub status: RunStatus,
}

/// f(U) = ¼‖𝒜(UUᵀ) − y‖², computed directly (allocates; a reference for tests and one-off use).
pub fn loss(problem: &Problem, u: ArrayView2<'_, f64>) -> f64 {
    let r = problem.operator.apply(u.dot(&u.t()).view()) - &problem.y;
    0.25 * sum_of_squares(r.view())
}

/// ∇f(U) = 𝒜*(𝒜(UUᵀ) − y)·U, computed directly (allocates; a reference for tests and one-off use).
pub fn gradient(problem: &Problem, u: ArrayView2<'_, f64>) -> Array2<f64> {
    let r = problem.operator.apply(u.dot(&u.t()).view()) - &problem.y;
    problem.operator.adjoint(r.view()).dot(&u)
}

/// Runs T iterations of `params.algorithm` from `u0`, reporting logged states to `observer`.
///
/// A single run uses the single-input kernel of the fused pass (one memory-bound read of 𝐀 per
/// iteration).
pub fn run_gradient_descent<O: Observer + Send + ?Sized>(
    problem: &Problem,
    params: &RunParams,
    u0: Array2<f64>,
    observer: &mut O,
) -> RunOutcome {
    let mut obs = ObserverRef(observer);
    let run = BatchRun {
        params: params.clone(),
        u0,
        observer: &mut obs,
    };
    run_gradient_descent_batch(problem, vec![run])
        .pop()
        .expect("one run in, one outcome out")
}

struct ObserverRef<'a, O: Observer + ?Sized>(&'a mut O);

impl<O: Observer + ?Sized> Observer for ObserverRef<'_, O> {
    fn observe(&mut self, state: &IterationState<'_>) -> Control {
        self.0.observe(state)
    }

    fn cancelled(&self) -> bool {
        self.0.cancelled()
    }
}

/// One member of a batch: its own μ, T, log_every, U_0 and observer.
pub struct BatchRun<'o> {
    /// Parameters of this run.
    pub params: RunParams,
    /// U_0 (n×r'; widths may differ between runs).
    pub u0: Array2<f64>,
    /// Receives this run's logged states (`Send`: the runs of a batch are observed in parallel).
    pub observer: &'o mut (dyn Observer + Send),
}

/// Per-run state inside a batch.
struct Member<'o, 'p> {
    /// The run's instance (its X and y; the operator is the batch's).
    instance: &'p Problem,
    params: RunParams,
    u: Array2<f64>,
    last_good: Array2<f64>,
    uut: Array2<f64>,
    /// ∇f(U) from the operator's pass, then overwritten by the step rule.
    gradient: Array2<f64>,
    limit: f64,
    rule: Box<dyn StepRule>,
    observer: &'o mut (dyn Observer + Send),
    status: Option<RunStatus>,
}

/// Bytes of the per-run buffers of [`run_gradient_descent_batch`] for k runs of width at most r'
/// (the operator's pass has its own,
/// [`MeasurementOperator::pass_bytes`](crate::operator::MeasurementOperator::pass_bytes)):
/// ```text
///   8 · k·(3·n·r' + n² + r'²)     U, last good U, ∇f(U), UUᵀ, and the preconditioned methods'
///                                 UᵀU + λI (counted for every run)
/// ```
pub fn run_buffer_bytes(n: usize, k: usize, r_prime: usize) -> u128 {
    let (n, k, rp) = (n as u128, k as u128, r_prime as u128);
    8 * k * (3 * n * rp + n * n + rp * rp)
}

/// Bytes of everything [`run_gradient_descent_batch`] allocates besides a dense Gaussian operator
/// for k runs of width at most r' on an instance with n and m: the dense pass's buffers
/// ([`DensePass::bytes`](crate::operator::DensePass::bytes)) plus [`run_buffer_bytes`].
pub fn batch_workspace_bytes(n: usize, m: usize, k: usize, r_prime: usize) -> u128 {
    crate::operator::DensePass::bytes(n, m, k) + run_buffer_bytes(n, k, r_prime)
}

/// Runs several runs (each with its own algorithm) on one problem in lockstep, so that the
/// operator is used once per iteration for all active runs: its [`BatchPass`](crate::operator::BatchPass) gives every run's
/// residual 𝒜(U_kU_kᵀ) − y and gradient ∇f(U_k) (for the dense operator, matrix–matrix products
/// fused into one pass over 𝐀, see [`DensePass`](crate::operator::DensePass)); then each run is
/// observed and takes its algorithm's step. Runs that finish (t = T_k), diverge, fail a step or
/// are stopped leave the batch. A batch of one run uses the dense operator's single-input kernel,
/// a batch of two or more its batch kernel throughout, so a run's numbers do not depend on which
/// other runs share its batch or when they leave (bit for bit); they equal those of
/// [`run_gradient_descent`] up to floating-point reassociation in the products. Outcomes are
/// returned in input order.
pub fn run_gradient_descent_batch(problem: &Problem, runs: Vec<BatchRun<'_>>) -> Vec<RunOutcome> {
    run_gradient_descent_batch_from(problem, runs, None, None)
}

/// [`run_gradient_descent_batch`] with run i on `instances[i]`, instances that share one operator
/// (see [`run_gradient_descent_shared_operator_from`]), with the kernel of the batch's size.
pub fn run_gradient_descent_shared_operator(
    instances: &[&Problem],
    runs: Vec<BatchRun<'_>>,
) -> Vec<RunOutcome> {
    let kernel = PassKernel::for_batch_of(runs.len());
    run_gradient_descent_shared_operator_from(instances, runs, kernel, None, None)
}

/// A batch between two iterations: every run's U_t (not yet observed at t), its last observed
/// iterate, and for runs that have left the batch how they ended. Continuing a batch from it
/// ([`run_gradient_descent_batch_from`]) gives the same numbers, bit for bit, as never stopping.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchState {
    /// The next iteration to compute.
    pub t: usize,
    /// One per run, in input order.
    pub runs: Vec<RunState>,
}

/// One run of a [`BatchState`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    /// U_t.
    pub u: Array2<f64>,
    /// The last observed iterate (what a diverged run returns).
    pub last_good: Array2<f64>,
    /// How the run ended, if it has.
    pub status: Option<RunStatus>,
}

/// Takes the batch's state between iterations when it asks to (e.g. to save it every few seconds).
pub trait Checkpointer {
    /// Whether to hand out the state before iteration `t` (called once per iteration, t ≥ 1).
    fn due(&mut self, t: usize) -> bool;
    /// Receives the state.
    fn save(&mut self, state: &BatchState);
}

/// [`run_gradient_descent_batch`], continued from `resume` if given (a state of the same runs, as
/// a [`Checkpointer`] received it: the observers must hold what they had seen up to `resume.t`),
/// and handing its state to `checkpointer` whenever that asks.
///
/// The divergence limit of each run is computed from its `u0` as always, so `u0` must be the
/// run's true U_0 (not U_t).
///
/// # Panics
/// If `resume` does not have one state per run with U of each run's shape, or has a running run
/// past its horizon.
pub fn run_gradient_descent_batch_from(
    problem: &Problem,
    runs: Vec<BatchRun<'_>>,
    resume: Option<BatchState>,
    checkpointer: Option<&mut dyn Checkpointer>,
) -> Vec<RunOutcome> {
    let instances = vec![problem; runs.len()];
    let kernel = PassKernel::for_batch_of(runs.len());
    run_gradient_descent_shared_operator_from(&instances, runs, kernel, resume, checkpointer)
}

/// [`run_gradient_descent_batch_from`] for runs on instances that share one measurement operator
/// but not X and y (e.g. other noise levels σ, or other singular values of X, with the same 𝒜):
/// run i is on `instances[i]`, whose X sets its divergence limit and whose y its residual. The
/// operator is used once per iteration for all of them, and each run's numbers are those it has
/// in any batch with the same `kernel` (bit for bit; tested): [`run_gradient_descent_batch_from`]
/// uses [`PassKernel::for_batch_of`] its number of runs, so a caller that computes part of a
/// batch (the runs not yet cached) passes the kernel of the whole to get the same numbers.
///
/// # Panics
/// As [`run_gradient_descent_batch_from`], if `instances` does not have one instance per run or
/// the instances do not share one operator (the same `Arc`), if a run's U_0 does not have the
/// problem's n rows, and if a run's parameters fail [`RunParams::check`] (every loop of this
/// module comes here; specs and the Python module check them first).
pub fn run_gradient_descent_shared_operator_from(
    instances: &[&Problem],
    runs: Vec<BatchRun<'_>>,
    kernel: PassKernel,
    resume: Option<BatchState>,
    mut checkpointer: Option<&mut dyn Checkpointer>,
) -> Vec<RunOutcome> {
    assert_eq!(instances.len(), runs.len(), "one instance per run");
    for (i, (r, instance)) in runs.iter().zip(instances).enumerate() {
        if let Err(e) = r.params.check() {
            panic!("run parameters: {e}");
        }
        let (n, r_prime) = r.u0.dim();
        assert!(
            n == instance.truth.n(),
            "run {i}: U_0 is {n}×{r_prime}; it must be n×r' with n = {} (the problem's)",
            instance.truth.n()
        );
    }
    let Some(first) = instances.first() else {
        return Vec::new();
    };
    assert!(
        instances
            .iter()
            .all(|p| Arc::ptr_eq(&p.operator, &first.operator)),
        "the instances of a batch share one operator"
    );
    let operator = &*first.operator;
    let mut members: Vec<Member<'_, '_>> = runs
        .into_iter()
        .zip(instances)
        .map(|(r, &instance)| {
            let n = r.u0.nrows();
            let rp = r.u0.ncols();
            let x_norm = frobenius_norm(instance.truth.x.view());
            Member {
                instance,
                limit: r.params.divergence_factor * x_norm.max(frobenius_norm(r.u0.view())),
                rule: r.params.algorithm.rule(rp),
                params: r.params,
                last_good: r.u0.clone(),
                u: r.u0,
                uut: Array2::zeros((n, n)),
                gradient: Array2::zeros((n, rp)),
                observer: r.observer,
                status: None,
            }
        })
        .collect();
    let mut t = 0usize;
    if let Some(state) = resume {
        assert_eq!(state.runs.len(), members.len(), "one state per run");
        for (mb, rs) in members.iter_mut().zip(state.runs) {
            assert_eq!(rs.u.dim(), mb.u.dim(), "U_t of the run's shape");
            assert!(
                rs.status.is_some() || state.t <= mb.params.iterations,
                "a running run's t ≤ its iterations"
            );
            assert_eq!(
                rs.last_good.dim(),
                mb.u.dim(),
                "last iterate of the run's shape"
            );
            mb.u = rs.u;
            mb.last_good = rs.last_good;
            mb.status = rs.status;
        }
        t = state.t;
    }
    let mut pass = operator.batch_pass(members.len(), kernel);
    let pass_reads_uut = operator.reads_uut();
    // The per-run work (UUᵀ, observation, update) runs in parallel over the active runs, one run
    // per task: each run's arithmetic is the same as on one thread, so results do not depend on
    // the number of threads.
    while members.iter().any(|mb| mb.status.is_none()) {
        if let Some(c) = checkpointer.as_deref_mut() {
            if t > 0 && c.due(t) {
                c.save(&BatchState {
                    t,
                    runs: members
                        .iter()
                        .map(|mb| RunState {
                            u: mb.u.clone(),
                            last_good: mb.last_good.clone(),
                            status: mb.status,
                        })
                        .collect(),
                });
            }
        }
        // A run its caller will discard (Ctrl-C) ends now, not at its next logged step.
        for mb in members.iter_mut().filter(|mb| mb.status.is_none()) {
            if mb.observer.cancelled() {
                mb.status = Some(RunStatus::Stopped { at: t });
            }
        }
        let mut active: Vec<&mut Member<'_, '_>> = members
            .iter_mut()
            .filter(|mb| mb.status.is_none())
            .collect();
        if active.is_empty() {
            break;
        }
        active.par_iter_mut().for_each(|mb| {
            if pass_reads_uut || mb.params.observes(t) {
                general_mat_mul(1.0, &mb.u, &mb.u.t(), 0.0, &mut mb.uut);
            }
        });
        {
            let mut inputs: Vec<PassRun<'_>> = active
                .iter_mut()
                .map(|mb| {
                    let Member {
                        instance,
                        u,
                        uut,
                        gradient,
                        ..
                    } = &mut **mb;
                    PassRun {
                        y: instance.y.view(),
                        u: u.view(),
                        uut: uut.view(),
                        gradient: gradient.view_mut(),
                    }
                })
                .collect();
            pass.compute(&mut inputs);
        }
        // Observe, detect divergence and the end of each run; runs that go on take their update.
        let pass = &*pass;
        active.par_iter_mut().enumerate().for_each(|(row, mb)| {
            let r = pass.residual(row);
            let loss = 0.25 * sum_of_squares(r);
            let u_norm = frobenius_norm(mb.u.view());
            if !loss.is_finite() || !u_norm.is_finite() || u_norm > mb.limit {
                mb.status = Some(RunStatus::Diverged { at: t });
                return;
            }
            if mb.params.observes(t) {
                let state = IterationState {
                    t,
                    u: mb.u.view(),
                    uut: mb.uut.view(),
                    residual: r,
                    loss,
                };
                if mb.observer.observe(&state) == Control::Stop {
                    mb.status = Some(RunStatus::Stopped { at: t });
                    return;
                }
                mb.last_good.assign(&mb.u);
            }
            if t == mb.params.iterations {
                mb.status = Some(RunStatus::Completed);
                return;
            }
            let context = StepContext {
                t,
                step_size: mb.params.step_size,
                residual_norm: (4.0 * loss).sqrt(), // = ‖r‖ exactly (4·¼ is exact)
            };
            if let Err(reason) = mb.rule.step(&context, &mut mb.u, &mut mb.gradient) {
                mb.status = Some(RunStatus::StepFailed { at: t, reason });
            }
        });
        t += 1;
    }
    members
        .into_iter()
        .map(|mb| {
            let status = mb.status.unwrap_or(RunStatus::Completed);
            let u = match status {
                RunStatus::Diverged { .. } => mb.last_good,
                _ => mb.u,
            };
            RunOutcome { u, status }
        })
        .collect()
}
