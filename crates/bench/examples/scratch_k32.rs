use lowrank_core::descent::{run_gradient_descent_batch, BatchRun};
use lowrank_core::{
    small_random_init, Control, IterationState, Observer, Problem, RunParams, SingularValues,
};
use std::time::Instant;
struct Nothing;
impl Observer for Nothing {
    fn observe(&mut self, _: &IterationState<'_>) -> Control {
        Control::Continue
    }
}
fn main() {
    experiments::set_blas_threads(1);
    let n: usize = std::env::var("N")
        .map(|s| s.parse().unwrap())
        .unwrap_or(100);
    let m: usize = std::env::var("M")
        .map(|s| s.parse().unwrap())
        .unwrap_or(3000);
    let k: usize = std::env::var("K").map(|s| s.parse().unwrap()).unwrap_or(32);
    let iters: usize = std::env::var("IT")
        .map(|s| s.parse().unwrap())
        .unwrap_or(100);
    let problem = Problem::sample_gaussian(n, 3, m, &SingularValues::Condition(2.0), 1);
    let p = n * (n + 1) / 2;
    for _ in 0..3 {
        let mut obs: Vec<Nothing> = (0..k).map(|_| Nothing).collect();
        let runs = obs
            .iter_mut()
            .enumerate()
            .map(|(i, o)| BatchRun {
                params: RunParams::new(0.25, iters, iters),
                u0: small_random_init(n, 10, 1e-3, 100 + i as u64),
                observer: o,
            })
            .collect();
        let t = Instant::now();
        std::hint::black_box(run_gradient_descent_batch(&problem, runs));
        let s = t.elapsed().as_secs_f64();
        let flops = 4.0 * m as f64 * p as f64 * k as f64 * (iters + 1) as f64;
        println!(
            "n={n} m={m} k={k}: {:.3} s, {:.1} GFLOP/s",
            s,
            flops / s / 1e9
        );
    }
}
