//! A run's numbers do not depend on OpenBLAS's thread count, also for m > 10000, where OpenBLAS
//! splits a dot product across its threads (so the loss and the train error, if summed by ddot,
//! moved in their last bits for a caller of the core that leaves OpenBLAS at its default threads;
//! the command line and the Python module set one). Its own test binary: the thread count is
//! process-wide.

use lowrank_core::descent::{run_gradient_descent, run_gradient_descent_batch, BatchRun};
use lowrank_core::{
    small_random_init, Algorithm, Diagnostics, DiagnosticsRecorder, Problem, RunParams,
    SingularValues,
};

/// Every recorded quantity of a single GD run, a single PrecGD run (its damping is ∝ ‖r‖) and a
/// batch of both, with `threads` OpenBLAS threads.
fn trajectories(problem: &Problem, threads: usize) -> Vec<Vec<Diagnostics>> {
    experiments::set_blas_threads(threads);
    let y_norm = lowrank_core::linalg::sum_of_squares(problem.y.view()).sqrt();
    let gd = RunParams::new(0.25, 60, 10);
    let precgd = gd.clone().with_algorithm(Algorithm::precgd(1.0).unwrap());
    let u0 = small_random_init(6, 3, 1e-3, 7);
    let mut out = Vec::new();
    for params in [&gd, &precgd] {
        let mut rec = DiagnosticsRecorder::new(&problem.truth, y_norm, 1);
        run_gradient_descent(problem, params, u0.clone(), &mut rec);
        out.push(rec.records);
    }
    let mut rec_gd = DiagnosticsRecorder::new(&problem.truth, y_norm, 1);
    let mut rec_prec = DiagnosticsRecorder::new(&problem.truth, y_norm, 1);
    run_gradient_descent_batch(
        problem,
        vec![
            BatchRun {
                params: gd,
                u0: u0.clone(),
                observer: &mut rec_gd,
            },
            BatchRun {
                params: precgd,
                u0,
                observer: &mut rec_prec,
            },
        ],
    );
    out.push(rec_gd.records);
    out.push(rec_prec.records);
    out
}

#[test]
fn runs_with_m_above_ten_thousand_do_not_depend_on_the_blas_thread_count() {
    experiments::set_blas_threads(2);
    if experiments::blas_threads() < 2 {
        // One core (or a serial OpenBLAS): there is no split to test.
        eprintln!("skipped: OpenBLAS uses one thread on this machine");
        return;
    }
    let problem = Problem::sample_gaussian(6, 2, 40_000, &SingularValues::Condition(2.0), 3);
    let one = trajectories(&problem, 1);
    let two = trajectories(&problem, 2);
    assert_eq!(one.len(), 4);
    for (a, b) in one.iter().zip(&two) {
        assert_eq!(a.len(), 7, "t = 0, 10, …, 60 are recorded");
        for (x, y) in a.iter().zip(b) {
            for (what, p, q) in [
                ("loss", x.loss, y.loss),
                ("train error", x.train_error, y.train_error),
                ("test error", x.test_error, y.test_error),
            ] {
                assert_eq!(
                    p.to_bits(),
                    q.to_bits(),
                    "{what} at t = {}: {p:e} with 1 thread, {q:e} with 2",
                    x.t
                );
            }
        }
    }
}
