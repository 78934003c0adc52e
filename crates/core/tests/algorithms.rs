//! Numerical facts about the step rules (GD, ScaledGD(λ), PrecGD) and the loop that runs them.

use faer::linalg::solvers::DenseSolveCore;
use faer_ext::{IntoFaer, IntoNdarray};
use lowrank_core::descent::{gradient, run_gradient_descent_batch, BatchRun};
use lowrank_core::operator::FusedWorkspace;
use lowrank_core::packing::{packed_dim, smat_into, svec_into};
use lowrank_core::{
    run_gradient_descent, small_random_init, Algorithm, Control, DiagnosticsRecorder,
    IterationState, Problem, RunParams, RunStatus, SingularValues, StepFailure,
};
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, Axis};

fn frob(a: &Array2<f64>) -> f64 {
    a.iter().map(|v| v * v).sum::<f64>().sqrt()
}

fn instance() -> Problem {
    Problem::sample_gaussian(12, 2, 300, &SingularValues::Condition(3.0), 71)
}

/// U after `iterations` steps of `params` from `u0` (the outcome of a completed run).
fn run_to_end(problem: &Problem, params: &RunParams, u0: Array2<f64>) -> Array2<f64> {
    let out = run_gradient_descent(problem, params, u0, &mut |_: &IterationState<'_>| {
        Control::Continue
    });
    assert_eq!(out.status, RunStatus::Completed, "{params:?}");
    out.u
}

/// (UᵀU + λI)⁻¹ by an explicit inverse (a dense reference; the solver never forms it).
fn damped_gram_inverse(u: &Array2<f64>, lambda: f64) -> Array2<f64> {
    let mut p = u.t().dot(u);
    for i in 0..p.nrows() {
        p[[i, i]] += lambda;
    }
    let inv = p.view().into_faer().partial_piv_lu().inverse();
    inv.as_ref().into_ndarray().to_owned()
}

#[test]
fn each_step_matches_a_direct_dense_computation() {
    let problem = instance();
    let u0 = small_random_init(12, 4, 0.3, 72);
    let (mu, lambda, c) = (0.2, 0.05, 0.7);
    let grad = gradient(&problem, u0.view());
    let residual = problem.operator.apply(u0.dot(&u0.t()).view()) - &problem.y;
    let residual_norm = residual.dot(&residual).sqrt();
    let cases = [
        (Algorithm::Gd, &u0 - &(&grad * mu)),
        (
            Algorithm::scaled_gd(lambda).unwrap(),
            &u0 - &(grad.dot(&damped_gram_inverse(&u0, lambda)) * mu),
        ),
        (
            Algorithm::precgd(c).unwrap(),
            &u0 - &(grad.dot(&damped_gram_inverse(&u0, c * residual_norm)) * mu),
        ),
    ];
    for (algorithm, expected) in cases {
        let params = RunParams::new(mu, 1, 1).with_algorithm(algorithm);
        let u1 = run_to_end(&problem, &params, u0.clone());
        let rel = frob(&(&u1 - &expected)) / frob(&expected);
        assert!(
            rel <= 1e-12,
            "{}: relative difference {rel:e}",
            algorithm.label()
        );
        assert!(frob(&(&u1 - &u0)) > 1e-3 * frob(&u0), "the step moved U");
    }
}

#[test]
fn gd_through_the_step_rule_is_bitwise_the_plain_gd_loop() {
    // The update GD had before step rules existed, written out with the same kernels: U_{t+1} =
    // U_t − μ·smat(𝐀ᵀ(𝐀 svec(U_tU_tᵀ) − y))·U_t. The loop with Algorithm::Gd gives the same bits.
    let problem = instance();
    let (n, mu, steps) = (12, 0.25, 40);
    let u0 = small_random_init(n, 5, 1e-2, 73);
    let op = problem.operator.as_packed().expect("a Gaussian instance");
    let p = packed_dim(n);
    let mut u = u0.clone();
    let (mut uut, mut adj) = (Array2::zeros((n, n)), Array2::zeros((n, n)));
    let mut step = Array2::zeros(u.dim());
    let (mut w, mut res, mut g) = (
        Array2::zeros((p, 1)),
        Array2::zeros((op.m(), 1)),
        Array2::zeros((p, 1)),
    );
    let mut ws = FusedWorkspace::new();
    for _ in 0..steps {
        general_mat_mul(1.0, &u, &u.t(), 0.0, &mut uut);
        svec_into(uut.view(), w.column_mut(0));
        op.residual_and_adjoint(
            lowrank_core::PassKernel::SingleInput,
            w.view(),
            problem.y.view().insert_axis(Axis(1)),
            res.view_mut(),
            g.view_mut(),
            &mut ws,
        );
        smat_into(g.column(0), adj.view_mut());
        general_mat_mul(1.0, &adj, &u, 0.0, &mut step);
        u.scaled_add(-mu, &step);
    }
    let looped = run_to_end(&problem, &RunParams::new(mu, steps, 7), u0);
    assert!(u
        .iter()
        .zip(&looped)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn scaled_gd_with_step_mu_lambda_approaches_gd_with_step_mu_as_lambda_grows() {
    // μλ·∇f·(UᵀU + λI)⁻¹ = μ·∇f·(I + UᵀU/λ)⁻¹ = μ∇f + O(‖U‖²/λ): after 60 steps the difference
    // to GD shrinks in proportion to 1/λ, and is below 1e-5 relative at λ = 1e6.
    let problem = instance();
    let (mu, steps) = (0.2, 60);
    let u0 = small_random_init(12, 4, 1e-2, 74);
    let gd = run_to_end(&problem, &RunParams::new(mu, steps, steps), u0.clone());
    let diff = |lambda: f64| {
        let params = RunParams::new(mu * lambda, steps, steps)
            .with_algorithm(Algorithm::ScaledGd { lambda });
        frob(&(&run_to_end(&problem, &params, u0.clone()) - &gd)) / frob(&gd)
    };
    let (d4, d6) = (diff(1e4), diff(1e6));
    assert!(d6 <= 1e-5, "λ = 1e6: relative difference {d6:e}");
    assert!(
        d6 <= 0.05 * d4,
        "λ = 1e4: {d4:e}, λ = 1e6: {d6:e}: not ∝ 1/λ"
    );
}

#[test]
fn batches_mixing_algorithms_equal_one_at_a_time_runs() {
    let problem = Problem::sample_gaussian(25, 2, 500, &SingularValues::Condition(4.0), 75);
    let runs: Vec<(Algorithm, usize, f64, usize)> = vec![
        (Algorithm::Gd, 4, 1e-4, 200),
        (Algorithm::ScaledGd { lambda: 0.02 }, 4, 1e-4, 200),
        (Algorithm::PrecGd { c: 1.0 }, 6, 1e-3, 150),
        (Algorithm::ScaledGd { lambda: 0.0 }, 2, 0.5, 120),
        (Algorithm::Gd, 25, 1e-3, 180),
    ];
    let inits: Vec<Array2<f64>> = runs
        .iter()
        .enumerate()
        .map(|(i, &(_, rp, a, _))| small_random_init(25, rp, a, 80 + i as u64))
        .collect();
    let params: Vec<RunParams> = runs
        .iter()
        .map(|&(alg, _, _, t)| RunParams::new(0.25, t, 9).with_algorithm(alg))
        .collect();
    let y_norm = problem.y.dot(&problem.y).sqrt();
    let alone: Vec<_> = inits
        .iter()
        .zip(&params)
        .map(|(u0, p)| {
            let mut rec = DiagnosticsRecorder::new(&problem.truth, y_norm, 3);
            let out = run_gradient_descent(&problem, p, u0.clone(), &mut rec);
            (out, rec.records)
        })
        .collect();
    let mut recs: Vec<DiagnosticsRecorder<'_>> = (0..runs.len())
        .map(|_| DiagnosticsRecorder::new(&problem.truth, y_norm, 3))
        .collect();
    let batch = recs
        .iter_mut()
        .zip(inits.iter().zip(&params))
        .map(|(rec, (u0, p))| BatchRun {
            params: p.clone(),
            u0: u0.clone(),
            observer: rec,
        })
        .collect();
    let batched = run_gradient_descent_batch(&problem, batch);
    for (k, ((a, ra), (b, rb))) in alone.iter().zip(batched.iter().zip(&recs)).enumerate() {
        assert_eq!(a.status, b.status, "run {k}");
        assert_eq!(ra.len(), rb.records.len(), "run {k}");
        let rel = frob(&(&a.u - &b.u)) / frob(&a.u);
        assert!(rel <= 1e-10, "run {k}: ‖U_batch − U_alone‖/‖U‖ = {rel:e}");
        for (x, y) in ra.iter().zip(&rb.records) {
            // Relative 1e-10, down to the rounding level of a converged run (test error ~1e-15).
            let tol = 1e-10 * x.test_error + 1e-14;
            let d = (x.test_error - y.test_error).abs();
            assert!(
                d <= tol,
                "run {k} t {}: {:e} vs {:e}",
                x.t,
                x.test_error,
                y.test_error
            );
        }
    }
}

#[test]
fn original_scaled_gd_stops_with_a_status_when_the_preconditioner_is_singular() {
    // λ = 0 and r' = 14 > n = 12: UᵀU (14×14) has rank ≤ 12, so its Cholesky factorization fails
    // (or, with rounding, gives a non-finite direction) at the first step.
    let problem = instance();
    let params = RunParams::new(0.2, 50, 1).with_algorithm(Algorithm::scaled_gd(0.0).unwrap());
    let u0 = small_random_init(12, 14, 1e-2, 76);
    let mut seen = Vec::new();
    let out = run_gradient_descent(&problem, &params, u0.clone(), &mut |s: &IterationState<
        '_,
    >| {
        seen.push(s.t);
        Control::Continue
    });
    assert_eq!(
        out.status,
        RunStatus::StepFailed {
            at: 0,
            reason: StepFailure::SingularPreconditioner
        }
    );
    assert_eq!(out.status.label(), "singular_preconditioner");
    assert_eq!(seen, vec![0]);
    assert!(
        out.u.iter().zip(&u0).all(|(a, b)| a == b),
        "U_0 is returned unchanged"
    );
    // From spectral-like initialization with r' = r, λ = 0 is well defined and converges.
    let u0 = small_random_init(12, 2, 0.5, 77);
    let params = RunParams::new(0.3, 200, 200).with_algorithm(Algorithm::scaled_gd(0.0).unwrap());
    let u = run_to_end(&problem, &params, u0);
    let err = frob(&(&u.dot(&u.t()) - &problem.truth.xxt)) / frob(&problem.truth.xxt);
    assert!(err <= 1e-8, "test error {err:e}");
}

#[test]
fn invalid_parameters_are_refused() {
    assert!(Algorithm::scaled_gd(-1e-3).is_err());
    assert!(Algorithm::scaled_gd(f64::NAN).is_err());
    assert!(Algorithm::scaled_gd(f64::INFINITY).is_err());
    assert!(Algorithm::precgd(0.0).is_err());
    assert!(Algorithm::precgd(-1.0).is_err());
    assert!(Algorithm::precgd(f64::NAN).is_err());
    assert_eq!(
        Algorithm::precgd(2.0).unwrap(),
        Algorithm::PrecGd { c: 2.0 }
    );
}

#[test]
fn precgd_converges_linearly_where_overparameterized_gd_is_slow() {
    // r' = r + 3 on a well-sampled instance: after 400 iterations from α = 1e-3, PrecGD's error is
    // at the level of rounding while GD's is still far above it (its tail is sublinear for r' > r).
    let problem = Problem::sample_gaussian(20, 2, 600, &SingularValues::Condition(2.0), 78);
    let u0 = small_random_init(20, 5, 1e-3, 79);
    let err = |alg: Algorithm| {
        let u = run_to_end(
            &problem,
            &RunParams::new(0.25, 400, 400).with_algorithm(alg),
            u0.clone(),
        );
        frob(&(&u.dot(&u.t()) - &problem.truth.xxt)) / frob(&problem.truth.xxt)
    };
    let (gd, prec) = (err(Algorithm::Gd), err(Algorithm::PrecGd { c: 1.0 }));
    assert!(prec <= 1e-9, "PrecGD test error {prec:e}");
    assert!(gd >= 1e3 * prec, "GD {gd:e} vs PrecGD {prec:e}");
}

#[test]
#[should_panic(expected = "run 0: U_0 is 7×3; it must be n×r' with n = 8")]
fn an_initial_iterate_of_another_n_is_refused_by_name() {
    let problem = Problem::sample_gaussian(8, 2, 60, &SingularValues::Condition(2.0), 1);
    let mut observer = |_: &IterationState<'_>| Control::Continue;
    run_gradient_descent(
        &problem,
        &RunParams::new(0.1, 5, 5),
        small_random_init(7, 3, 1e-3, 2),
        &mut observer,
    );
}

#[test]
fn a_run_of_width_zero_stays_at_zero() {
    let problem = Problem::sample_gaussian(8, 2, 60, &SingularValues::Condition(2.0), 1);
    let mut observer = |_: &IterationState<'_>| Control::Continue;
    let out = run_gradient_descent(
        &problem,
        &RunParams::new(0.1, 5, 5),
        Array2::zeros((8, 0)),
        &mut observer,
    );
    assert_eq!((out.status, out.u.dim()), (RunStatus::Completed, (8, 0)));
}

#[test]
fn the_memory_checks_count_every_algorithms_workspace() {
    // run_buffer_bytes counts 8·r'² per run for the step rule's workspace: enough for each.
    let all = [
        Algorithm::Gd,
        Algorithm::scaled_gd(0.1).unwrap(),
        Algorithm::precgd(0.5).unwrap(),
    ];
    for a in &all {
        // A new variant does not compile here until it is added to `all` (and to LABELS).
        match a {
            Algorithm::Gd | Algorithm::ScaledGd { .. } | Algorithm::PrecGd { .. } => {}
        }
    }
    let mut labels: Vec<&str> = all.iter().map(|a| a.label()).collect();
    labels.sort_unstable();
    let mut known = Algorithm::LABELS.to_vec();
    known.sort_unstable();
    assert_eq!(labels, known, "every algorithm is checked here");
    let (n, rp) = (30usize, 7usize);
    let loop_buffers = 8 * (3 * n * rp + n * n) as u128;
    for a in all {
        let counted = lowrank_core::descent::run_buffer_bytes(n, 1, rp) - loop_buffers;
        assert!(a.workspace_bytes(rp) <= counted, "{a:?}");
    }
}

/// An observer whose caller cancels it after `after` checks, and which counts its logged steps.
struct CancelledAfter {
    checks: std::cell::Cell<usize>,
    after: usize,
    logged: usize,
}

impl lowrank_core::Observer for CancelledAfter {
    fn observe(&mut self, _: &IterationState<'_>) -> Control {
        self.logged += 1;
        Control::Continue
    }

    fn cancelled(&self) -> bool {
        self.checks.set(self.checks.get() + 1);
        self.checks.get() > self.after
    }
}

#[test]
fn a_cancelled_run_ends_at_once_not_at_its_next_logged_step() {
    // Logged only at t = 0 and t = T: before, cancellation waited for t = T.
    let problem = instance();
    let params = RunParams::new(0.25, 1000, 1000);
    let run = |after: usize| {
        let mut obs = CancelledAfter {
            checks: std::cell::Cell::new(0),
            after,
            logged: 0,
        };
        let u0 = small_random_init(12, 4, 1e-3, 5);
        let out = run_gradient_descent_batch(
            &problem,
            vec![BatchRun {
                params: params.clone(),
                u0,
                observer: &mut obs,
            }],
        )
        .pop()
        .unwrap();
        (out.status, obs.logged)
    };
    assert_eq!(run(7), (RunStatus::Stopped { at: 7 }, 1));
    assert_eq!(run(usize::MAX), (RunStatus::Completed, 2));
}
