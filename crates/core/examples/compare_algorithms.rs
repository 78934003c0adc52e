//! GD and ScaledGD(λ) in one batch on one instance, from the same small random U_0.
//!
//! Run: `cargo run -p lowrank-core --example compare_algorithms`

use lowrank_core::descent::{run_gradient_descent_batch, BatchRun};
use lowrank_core::{
    small_random_init, Algorithm, DiagnosticsRecorder, Problem, RunParams, SingularValues,
};

fn main() {
    // X (n = 20, r = 2, κ = 4), m = 400 Gaussian measurements, all from seed 1.
    let problem = Problem::sample_gaussian(20, 2, 400, &SingularValues::Condition(4.0), 1);
    let y_norm = problem.y.dot(&problem.y).sqrt();
    let u0 = small_random_init(20, 4, 1e-4, 2); // U_0 = αB, r' = 4 > r
    let gd = RunParams::new(0.25, 400, 50);
    let scaled = gd
        .clone()
        .with_algorithm(Algorithm::scaled_gd(1e-2).expect("λ ≥ 0"));
    let mut records = [
        DiagnosticsRecorder::new(&problem.truth, y_norm, 2),
        DiagnosticsRecorder::new(&problem.truth, y_norm, 2),
    ];
    let [rec_gd, rec_scaled] = &mut records;
    let runs = vec![
        BatchRun {
            params: gd,
            u0: u0.clone(),
            observer: rec_gd,
        },
        BatchRun {
            params: scaled,
            u0,
            observer: rec_scaled,
        },
    ];
    let outcomes = run_gradient_descent_batch(&problem, runs);
    println!("     t   GD test error   ScaledGD(λ=1e-2) test error");
    for (a, b) in records[0].records.iter().zip(&records[1].records) {
        println!(
            "{:>6}   {:>13.3e}   {:>13.3e}",
            a.t, a.test_error, b.test_error
        );
    }
    for (name, out) in ["GD", "ScaledGD(λ)"].iter().zip(&outcomes) {
        println!("{name}: {}", out.status.label());
    }
}
