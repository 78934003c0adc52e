//! Numerical facts about the operator, the gradient and gradient descent.

use lowrank_core::descent::{gradient, loss};
use lowrank_core::packing::svec;
use lowrank_core::seeds::{rng, Stream};
use lowrank_core::{
    run_gradient_descent, small_random_init, DiagnosticsRecorder, PackedOperator, Problem,
    RunParams, SingularValues,
};
use ndarray::{Array1, Array2, ShapeBuilder};
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

fn random_symmetric(n: usize, seed: u64) -> Array2<f64> {
    let g = Array2::<f64>::random_using((n, n), StandardNormal, &mut rng(seed, Stream::Operator));
    (&g + &g.t()) * 0.5
}

/// `f` run on a rayon pool of `threads` threads.
fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool")
        .install(f)
}

fn frob(a: &Array2<f64>) -> f64 {
    a.iter().map(|v| v * v).sum::<f64>().sqrt()
}

#[test]
fn adjoint_identity_holds() {
    let (n, m) = (17, 90);
    let op = PackedOperator::sample_gaussian(n, m, &mut rng(1, Stream::Operator));
    for seed in 0..5 {
        let z = random_symmetric(n, 100 + seed);
        let v =
            Array1::<f64>::random_using(m, StandardNormal, &mut rng(200 + seed, Stream::Operator));
        let lhs = op.apply(z.view()).dot(&v);
        let rhs = (&z * &op.adjoint(v.view())).sum();
        assert!(
            (lhs - rhs).abs() <= 1e-12 * lhs.abs().max(1.0),
            "<A(Z), v> = {lhs} but <Z, A*(v)> = {rhs}"
        );
    }
}

#[test]
fn non_symmetric_measurement_matrices_measure_with_their_symmetric_part() {
    // ⟨A, Z⟩ = ⟨(A + Aᵀ)/2, Z⟩ for symmetric Z: the operator stores the symmetric part, and its
    // measurements of a symmetric Z are ⟨A_i, Z⟩/√m of the matrices as given.
    let (n, m) = (6, 15);
    let mut g = rng(5, Stream::Operator);
    let given: Vec<Array2<f64>> = (0..m)
        .map(|_| Array2::<f64>::random_using((n, n), StandardNormal, &mut g))
        .collect();
    let symmetric: Vec<Array2<f64>> = given.iter().map(|a| (a + &a.t()) / 2.0).collect();
    let op = PackedOperator::from_symmetric_matrices(&given);
    assert_eq!(
        op.packed(),
        PackedOperator::from_symmetric_matrices(&symmetric).packed()
    );
    let z = random_symmetric(n, 6);
    let measured = op.apply(z.view());
    for (i, a) in given.iter().enumerate() {
        let want = (a * &z).sum() / (m as f64).sqrt();
        assert!(
            (measured[i] - want).abs() <= 1e-12 * (1.0 + want.abs()),
            "{i}"
        );
    }
}

#[test]
fn packed_operator_equals_dense_definition() {
    // Dense definition: A_i = (G_i + G_iᵀ)/2, 𝒜(Z)_i = Σ_jk (A_i)_jk Z_jk / √m, 𝒜*(v) = Σ_i v_i A_i / √m.
    let (n, m) = (9, 40);
    let mut g = rng(3, Stream::Operator);
    let dense: Vec<Array2<f64>> = (0..m)
        .map(|_| {
            let gi = Array2::<f64>::random_using((n, n), StandardNormal, &mut g);
            (&gi + &gi.t()) * 0.5
        })
        .collect();
    let op = PackedOperator::from_symmetric_matrices(&dense);
    let z = random_symmetric(n, 4);
    let v = Array1::<f64>::random_using(m, StandardNormal, &mut g);
    let packed = op.apply(z.view());
    let mut dense_adjoint = Array2::<f64>::zeros((n, n));
    for (i, a) in dense.iter().enumerate() {
        let mut s = 0.0;
        for j in 0..n {
            for k in 0..n {
                s += a[[j, k]] * z[[j, k]];
            }
        }
        let want = s / (m as f64).sqrt();
        assert!(
            (packed[i] - want).abs() < 1e-12,
            "measurement {i}: {} vs {want}",
            packed[i]
        );
        dense_adjoint.scaled_add(v[i] / (m as f64).sqrt(), a);
        // The stored matrix is the one we gave.
        assert!((&op.measurement_matrix(i) - a)
            .iter()
            .all(|d| d.abs() < 1e-12));
    }
    let adj = op.adjoint(v.view());
    assert!((&adj - &dense_adjoint).iter().all(|d| d.abs() < 1e-12));
}

#[test]
fn sampled_operator_is_near_isotropic() {
    // E‖𝒜(Z)‖² = ‖Z‖_F²; for Gaussian 𝒜, ‖𝒜(Z)‖²/‖Z‖_F² ~ χ²_m/m, standard deviation √(2/m).
    let (n, m) = (20, 4000);
    let op = PackedOperator::sample_gaussian(n, m, &mut rng(5, Stream::Operator));
    let tol = 6.0 * (2.0 / m as f64).sqrt();
    for seed in 0..10 {
        let z = random_symmetric(n, 300 + seed);
        let ratio = op.apply(z.view()).mapv(|a| a * a).sum() / frob(&z).powi(2);
        assert!(
            (ratio - 1.0).abs() < tol,
            "‖𝒜(Z)‖²/‖Z‖² = {ratio}, tolerance {tol}"
        );
    }
    // The entries of the measurement matrices follow the definition: diagonal N(0, 1), off-diagonal N(0, 1/2).
    let (mut diag, mut off, mut nd, mut no) = (0.0, 0.0, 0.0, 0.0);
    for i in 0..200 {
        let a = op.measurement_matrix(i);
        for j in 0..n {
            for k in j..n {
                if j == k {
                    diag += a[[j, k]].powi(2);
                    nd += 1.0;
                } else {
                    off += a[[j, k]].powi(2);
                    no += 1.0;
                }
            }
        }
    }
    assert!(
        (diag / nd - 1.0).abs() < 0.05,
        "diagonal variance {}",
        diag / nd
    );
    assert!(
        (off / no - 0.5).abs() < 0.025,
        "off-diagonal variance {}",
        off / no
    );
}

#[test]
fn gradient_matches_finite_differences() {
    let problem = Problem::sample_gaussian(12, 2, 150, &SingularValues::Condition(2.0), 11);
    let u = small_random_init(12, 5, 0.7, 12);
    let grad = gradient(&problem, u.view());
    let direction = small_random_init(12, 5, 1.0, 13);
    let h = 1e-5;
    let fd = (loss(&problem, (&u + &(&direction * h)).view())
        - loss(&problem, (&u - &(&direction * h)).view()))
        / (2.0 * h);
    let analytic = (&grad * &direction).sum();
    assert!(
        (fd - analytic).abs() <= 1e-6 * analytic.abs().max(1e-3),
        "finite difference {fd} vs analytic {analytic}"
    );
    // And entrywise, a few coordinates.
    for &(i, j) in &[(0, 0), (3, 2), (11, 4)] {
        let mut e = Array2::<f64>::zeros(u.dim());
        e[[i, j]] = h;
        let fd = (loss(&problem, (&u + &e).view()) - loss(&problem, (&u - &e).view())) / (2.0 * h);
        assert!((fd - grad[[i, j]]).abs() <= 1e-6 * grad[[i, j]].abs().max(1e-3));
    }
}

#[test]
fn svec_of_measurement_rows_is_consistent() {
    let op = PackedOperator::sample_gaussian(6, 10, &mut rng(8, Stream::Operator));
    for i in 0..10 {
        let a = op.measurement_matrix(i);
        let row = svec(a.view()) / (10f64).sqrt();
        assert!((&row - &op.packed().row(i)).iter().all(|d| d.abs() < 1e-14));
    }
}

fn final_test_error(problem: &Problem, params: &RunParams, u0: Array2<f64>) -> f64 {
    let y_norm = problem.y.dot(&problem.y).sqrt();
    let mut rec = DiagnosticsRecorder::new(&problem.truth, y_norm, 3);
    let out = run_gradient_descent(problem, params, u0, &mut rec);
    assert_eq!(out.status.label(), "completed");
    rec.records.last().unwrap().test_error
}

#[test]
fn exact_parameterization_recovers_ground_truth() {
    // r' = r: the global minimizers are exactly UUᵀ = XXᵀ (𝒜 injective on rank-2r matrices here).
    let (n, r, m) = (20, 2, 400);
    let problem = Problem::sample_gaussian(n, r, m, &SingularValues::Condition(2.0), 21);
    let params = RunParams::new(0.25, 600, 50);
    let err = final_test_error(&problem, &params, small_random_init(n, r, 1e-3, 22));
    assert!(err <= 1e-8, "test error {err}");
}

#[test]
fn overparameterized_small_init_generalizes_at_three_phases_sizes() {
    // The sizes of experiments/three_phases.toml (n=100, r=3, κ=2, m=3000, r'=10, α=1e-6, μ=0.25), with
    // seeds of its own (the spec's runs derive theirs from its `seed`, see experiments' sweep.rs).
    let problem = Problem::sample_gaussian(100, 3, 3000, &SingularValues::Condition(2.0), 1);
    let params = RunParams::new(0.25, 500, 100);
    let err = final_test_error(&problem, &params, small_random_init(100, 10, 1e-6, 2));
    assert!(err <= 1e-5, "test error {err}");
}

#[test]
fn same_seed_same_trajectory_bitwise() {
    let run = || {
        let problem = Problem::sample_gaussian(15, 2, 200, &SingularValues::Condition(3.0), 9);
        let mut rec = DiagnosticsRecorder::new(&problem.truth, problem.y.dot(&problem.y).sqrt(), 4);
        run_gradient_descent(
            &problem,
            &RunParams::new(0.2, 50, 5),
            small_random_init(15, 6, 1e-3, 10),
            &mut rec,
        );
        rec.records
    };
    assert_eq!(run(), run());
}

#[test]
fn divergence_is_detected_and_reported() {
    let problem = Problem::sample_gaussian(10, 2, 100, &SingularValues::Condition(2.0), 31);
    let params = RunParams::new(50.0, 100, 1);
    let mut seen = 0usize;
    let out = run_gradient_descent(
        &problem,
        &params,
        small_random_init(10, 4, 1.0, 32),
        &mut |_: &lowrank_core::IterationState<'_>| {
            seen += 1;
            lowrank_core::Control::Continue
        },
    );
    match out.status {
        lowrank_core::RunStatus::Diverged { at } => assert!(at < 100 && seen == at),
        s => panic!("expected divergence, got {s:?}"),
    }
    assert!(out.u.iter().all(|v| v.is_finite()));
}

#[test]
fn batched_runs_match_one_at_a_time_runs() {
    use lowrank_core::descent::{run_gradient_descent_batch, BatchRun};
    let problem = Problem::sample_gaussian(30, 2, 500, &SingularValues::Condition(2.0), 41);
    // Different widths, scales, step sizes and horizons; one run diverges and leaves the batch early.
    let specs = [
        (2, 1e-4, 0.25, 300),
        (6, 1e-6, 0.25, 400),
        (30, 1e-3, 0.2, 250),
        (8, 1.0, 40.0, 300),
        (4, 1e-2, 0.3, 100),
    ];
    let inits: Vec<Array2<f64>> = specs
        .iter()
        .enumerate()
        .map(|(i, &(rp, a, _, _))| small_random_init(30, rp, a, 50 + i as u64))
        .collect();
    let params: Vec<RunParams> = specs
        .iter()
        .map(|&(_, _, mu, t)| RunParams::new(mu, t, 7))
        .collect();
    let y_norm = problem.y.dot(&problem.y).sqrt();
    let mut alone = Vec::new();
    for (u0, p) in inits.iter().zip(&params) {
        let mut rec = DiagnosticsRecorder::new(&problem.truth, y_norm, 3);
        let out = run_gradient_descent(&problem, p, u0.clone(), &mut rec);
        alone.push((out, rec.records));
    }
    let mut recs: Vec<DiagnosticsRecorder<'_>> = (0..specs.len())
        .map(|_| DiagnosticsRecorder::new(&problem.truth, y_norm, 3))
        .collect();
    let runs = recs
        .iter_mut()
        .zip(inits.iter().zip(&params))
        .map(|(rec, (u0, p))| BatchRun {
            params: p.clone(),
            u0: u0.clone(),
            observer: rec,
        })
        .collect();
    let batched = run_gradient_descent_batch(&problem, runs);
    assert_eq!(alone[3].0.status.label(), "diverged");
    for (k, ((a, ra), (b, rb))) in alone.iter().zip(batched.iter().zip(&recs)).enumerate() {
        assert_eq!(a.status, b.status, "run {k}");
        assert_eq!(ra.len(), rb.records.len(), "run {k}");
        let scale = frob(&a.u);
        let diff = frob(&(&a.u - &b.u));
        assert!(
            diff <= 1e-10 * scale,
            "run {k}: ‖U_batch − U_alone‖/‖U‖ = {}",
            diff / scale
        );
        for (x, y) in ra.iter().zip(&rb.records) {
            assert!(
                (x.test_error - y.test_error).abs() <= 1e-10 * x.test_error.max(1e-300),
                "run {k} t {}",
                x.t
            );
        }
    }
}

#[test]
fn fused_pass_equals_two_passes() {
    // Several blocks per row chunk plus a ragged end (single-input kernel and batched path), and m
    // smaller than the number of chunks (empty chunks). One workspace is reused across batch sizes
    // and adjoint layouts, as the GD loop does. Both layouts of the adjoint give the same bits.
    use lowrank_core::operator::{FusedWorkspace, FUSED_BLOCK_ROWS, ROW_CHUNKS};
    let mut workspace = FusedWorkspace::new();
    let cases: [(usize, usize, &[usize]); 3] = [
        (14, ROW_CHUNKS * 3 * FUSED_BLOCK_ROWS + 17, &[1, 5, 2, 40]),
        (5, 3, &[1, 5, 2, 40]),
        (64, 1100, &[130]),
    ];
    for (n, m, sizes) in cases {
        let p = n * (n + 1) / 2;
        let op = PackedOperator::sample_gaussian(n, m, &mut rng(61, Stream::Operator));
        let y = Array1::<f64>::random_using(m, StandardNormal, &mut rng(62, Stream::Operator));
        for &a in sizes {
            let w =
                Array2::<f64>::random_using((p, a), StandardNormal, &mut rng(63, Stream::Operator));
            let mut res = Array2::<f64>::from_elem((m, a), f64::NAN);
            let mut adj = Array2::<f64>::from_elem((p, a).f(), f64::NAN);
            op.residual_and_adjoint(
                lowrank_core::PassKernel::for_batch_of(a),
                w.view(),
                y.broadcast((a, m)).unwrap().reversed_axes(),
                res.view_mut(),
                adj.view_mut(),
                &mut workspace,
            );
            let mut res_row = Array2::<f64>::from_elem((m, a), f64::NAN);
            let mut adj_row = Array2::<f64>::from_elem((p, a), f64::NAN);
            op.residual_and_adjoint(
                lowrank_core::PassKernel::for_batch_of(a),
                w.view(),
                y.broadcast((a, m)).unwrap().reversed_axes(),
                res_row.view_mut(),
                adj_row.view_mut(),
                &mut workspace,
            );
            let bits = |x: &Array2<f64>| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&res),
                bits(&res_row),
                "m = {m}, a = {a}: residual by layout"
            );
            assert_eq!(
                bits(&adj),
                bits(&adj_row),
                "m = {m}, a = {a}: adjoint by layout"
            );
            for k in 0..a {
                let r = op.apply_packed(w.column(k)) - &y;
                let mut g = Array1::<f64>::zeros(p);
                op.adjoint_packed_into(r.view(), g.view_mut());
                let scale = g.iter().map(|v| v.abs()).fold(0.0, f64::max);
                assert!(
                    (&res.column(k) - &r).iter().all(|d| d.abs() < 1e-12),
                    "m = {m}, a = {a}, residual {k}"
                );
                assert!(
                    (&adj.column(k) - &g)
                        .iter()
                        .all(|d| d.abs() < 1e-12 * scale),
                    "m = {m}, a = {a}, adjoint {k}"
                );
            }
        }
    }
}

#[test]
fn fused_pass_is_bitwise_independent_of_thread_count() {
    use lowrank_core::operator::FusedWorkspace;
    let (n, m) = (12, 1001);
    let p = n * (n + 1) / 2;
    let op = PackedOperator::sample_gaussian(n, m, &mut rng(71, Stream::Operator));
    let y = Array1::<f64>::random_using(m, StandardNormal, &mut rng(72, Stream::Operator));
    for a in [1usize, 3] {
        let w = Array2::<f64>::random_using((p, a), StandardNormal, &mut rng(73, Stream::Operator));
        let run = |threads: usize| {
            on_threads(threads, || {
                let mut res = Array2::<f64>::zeros((m, a));
                let mut adj = Array2::<f64>::zeros((p, a));
                op.residual_and_adjoint(
                    lowrank_core::PassKernel::for_batch_of(a),
                    w.view(),
                    y.broadcast((a, m)).unwrap().reversed_axes(),
                    res.view_mut(),
                    adj.view_mut(),
                    &mut FusedWorkspace::new(),
                );
                (res, adj)
            })
        };
        let (r1, g1) = run(1);
        let (r3, g3) = run(3);
        assert!(
            r1.iter().zip(&r3).all(|(u, v)| u.to_bits() == v.to_bits()),
            "a = {a}: residual"
        );
        assert!(
            g1.iter().zip(&g3).all(|(u, v)| u.to_bits() == v.to_bits()),
            "a = {a}: adjoint"
        );
    }
}

#[test]
fn batched_runs_are_bitwise_independent_of_thread_count() {
    // The per-run work of a batch (UUᵀ, observation, update) runs in parallel over the runs: the
    // iterates and every recorded diagnostic must not depend on the number of threads.
    use lowrank_core::descent::{run_gradient_descent_batch, BatchRun};
    let problem = Problem::sample_gaussian(20, 2, 400, &SingularValues::Condition(2.0), 43);
    let y_norm = problem.y.dot(&problem.y).sqrt();
    let specs = [
        (2, 1e-4, 120),
        (5, 1e-6, 150),
        (20, 1e-3, 90),
        (3, 1e-2, 150),
    ];
    let run = |threads: usize| {
        on_threads(threads, || {
            let mut recs: Vec<DiagnosticsRecorder<'_>> = (0..specs.len())
                .map(|_| DiagnosticsRecorder::new(&problem.truth, y_norm, 2))
                .collect();
            let runs = recs
                .iter_mut()
                .zip(specs.iter().enumerate())
                .map(|(rec, (i, &(rp, alpha, t)))| BatchRun {
                    params: RunParams::new(0.25, t, 5),
                    u0: small_random_init(20, rp, alpha, 90 + i as u64),
                    observer: rec,
                })
                .collect();
            let out = run_gradient_descent_batch(&problem, runs);
            let records: Vec<Vec<(usize, u64, u64, u64)>> = recs
                .iter()
                .map(|r| {
                    r.records
                        .iter()
                        .map(|d| {
                            let bits = (d.test_error.to_bits(), d.loss.to_bits());
                            (d.t, bits.0, bits.1, d.sin_theta.to_bits())
                        })
                        .collect()
                })
                .collect();
            (out, records)
        })
    };
    let (out1, rec1) = run(1);
    let (out3, rec3) = run(3);
    assert_eq!(rec1, rec3, "recorded diagnostics differ");
    for (k, (a, b)) in out1.iter().zip(&out3).enumerate() {
        assert_eq!(a.status, b.status, "run {k}");
        assert!(
            a.u.iter()
                .zip(&b.u)
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "run {k}: final iterates differ"
        );
    }
    assert!(rec1.iter().all(|r| r.len() > 10), "every run was observed");
}

#[test]
fn fused_pass_accepts_strided_data() {
    // y and w may be views with any strides (e.g. a column of a wider buffer).
    use lowrank_core::operator::FusedWorkspace;
    let (n, m) = (6, 37);
    let p = n * (n + 1) / 2;
    let op = PackedOperator::sample_gaussian(n, m, &mut rng(81, Stream::Operator));
    let y2 = Array2::<f64>::random_using((m, 2), StandardNormal, &mut rng(82, Stream::Operator));
    let w2 = Array2::<f64>::random_using((p, 2), StandardNormal, &mut rng(83, Stream::Operator));
    let (y, w) = (y2.column(1), w2.column(0));
    let mut res = Array2::<f64>::zeros((m, 1));
    let mut adj = Array2::<f64>::zeros((p, 1));
    let w_view = w.insert_axis(ndarray::Axis(1));
    op.residual_and_adjoint(
        lowrank_core::PassKernel::SingleInput,
        w_view,
        y.insert_axis(ndarray::Axis(1)),
        res.view_mut(),
        adj.view_mut(),
        &mut FusedWorkspace::new(),
    );
    let r = op.apply_packed(w) - y;
    let mut g = Array1::<f64>::zeros(p);
    op.adjoint_packed_into(r.view(), g.view_mut());
    assert!((&res.column(0) - &r).iter().all(|d| d.abs() < 1e-12));
    assert!((&adj.column(0) - &g).iter().all(|d| d.abs() < 1e-12));
}

#[test]
fn the_operators_batch_pass_gives_each_runs_residual_and_gradient() {
    // Through the trait object, with either kernel, for one run and for three of different widths,
    // each run on its own instance of the operator (its own y): residual = 𝒜(UUᵀ) − y and
    // gradient = ∇f(U), against the direct computations of `loss` / `gradient`.
    use lowrank_core::{GroundTruth, PassKernel};
    let problem = Problem::sample_gaussian(14, 2, 230, &SingularValues::Condition(2.0), 91);
    let other_truth = GroundTruth::sample(14, 2, &SingularValues::Condition(4.0), 97);
    let instances = [
        problem.clone().with_noise(0.3, 98),
        problem.clone(),
        problem.with_truth(other_truth),
    ];
    let widths = [3usize, 1, 7];
    let us: Vec<Array2<f64>> = widths
        .iter()
        .enumerate()
        .map(|(i, &rp)| small_random_init(14, rp, 0.5, 92 + i as u64))
        .collect();
    let uuts: Vec<Array2<f64>> = us.iter().map(|u| u.dot(&u.t())).collect();
    for kernel in [PassKernel::SingleInput, PassKernel::Batch] {
        let mut pass = problem.operator.batch_pass(3, kernel);
        for k in [1usize, 3] {
            let mut grads: Vec<Array2<f64>> =
                us[..k].iter().map(|u| Array2::zeros(u.dim())).collect();
            let mut runs: Vec<lowrank_core::operator::PassRun<'_>> = us[..k]
                .iter()
                .zip(&uuts)
                .zip(&instances)
                .zip(grads.iter_mut())
                .map(|(((u, uut), inst), g)| lowrank_core::operator::PassRun {
                    y: inst.y.view(),
                    u: u.view(),
                    uut: uut.view(),
                    gradient: g.view_mut(),
                })
                .collect();
            pass.compute(&mut runs);
            drop(runs);
            for i in 0..k {
                let inst = &instances[i];
                let want_r = inst.operator.apply(uuts[i].view()) - &inst.y;
                let r = pass.residual(i).to_owned();
                assert!(
                    frob(&(r - &want_r).insert_axis(ndarray::Axis(0)))
                        <= 1e-12 * want_r.dot(&want_r).sqrt(),
                    "{kernel:?}, k = {k}, run {i}"
                );
                let want_g = gradient(inst, us[i].view());
                assert!(
                    frob(&(&grads[i] - &want_g)) <= 1e-12 * frob(&want_g),
                    "{kernel:?}, k = {k}, run {i}"
                );
                assert!((loss(inst, us[i].view()) - 0.25 * want_r.dot(&want_r)).abs() <= 1e-12);
            }
        }
    }
    // The memory formula the loop and the memory check use is the operator's plus the runs'.
    let (n, m) = (14, 230);
    assert_eq!(
        problem.operator.bytes() + problem.operator.pass_bytes(5),
        lowrank_core::operator_bytes(n, m) + lowrank_core::operator::DensePass::bytes(n, m, 5)
    );
}

#[test]
fn noise_has_the_stated_scale_and_zero_noise_changes_nothing() {
    let clean = Problem::sample_gaussian(12, 2, 4000, &SingularValues::Condition(2.0), 95);
    let same = clean.clone().with_noise(0.0, 96);
    assert!(same
        .y
        .iter()
        .zip(&clean.y)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    let noisy = clean.clone().with_noise(0.1, 96);
    let eps = &noisy.y - &clean.y;
    // E‖ε‖² = σ² = 0.01; with m = 4000 draws, ‖ε‖²/σ² is within 10% of 1 (its sd is √(2/m) ≈ 2%).
    let ratio = eps.dot(&eps) / 0.01;
    assert!((ratio - 1.0).abs() < 0.1, "‖ε‖²/σ² = {ratio}");
    // Reproducible, and the scale is linear in σ (the same draw).
    let twice = clean.clone().with_noise(0.2, 96);
    let eps2 = &twice.y - &clean.y;
    assert!((&eps2 - &(&eps * 2.0)).iter().all(|d| d.abs() < 1e-15));
}

#[test]
fn power_method_departure_bound_matches_a_dense_evaluation() {
    use lowrank_core::{GroundTruth, PowerMethodDeparture};
    // Dense: M = Σ_i y_i A_i/√m with y_i = ⟨A_i, XXᵀ⟩/√m; ‖M‖, v_1 by power iteration on M + cI (c
    // shifts the spectrum positive so the top eigenvalue dominates); ‖B‖ by power iteration on BᵀB.
    let (n, r, m, r_prime, alpha, mu) = (8, 2, 120, 5, 1e-4, 0.25);
    let mut g = rng(11, Stream::Operator);
    let dense: Vec<Array2<f64>> = (0..m)
        .map(|_| {
            let gi = Array2::<f64>::random_using((n, n), StandardNormal, &mut g);
            (&gi + &gi.t()) * 0.5
        })
        .collect();
    let q = {
        let a = Array2::<f64>::random_using((n, r), StandardNormal, &mut g);
        lowrank_core::linalg::thin_svd(a.view()).unwrap().u
    };
    let truth = GroundTruth::from_basis(q.slice(ndarray::s![.., ..r]).to_owned(), vec![1.0, 0.5]);
    let xxt = truth.xxt.clone();
    let problem = Problem::new(truth, PackedOperator::from_symmetric_matrices(&dense));
    let u0 = small_random_init(n, r_prime, alpha, 12);
    let got = PowerMethodDeparture::new(&problem, mu, u0.view(), alpha).unwrap();

    let mut m_dense = Array2::<f64>::zeros((n, n));
    for a in &dense {
        m_dense.scaled_add((a * &xxt).sum() / m as f64, a);
    }
    let shift = frob(&m_dense);
    let shifted = &m_dense + &(Array2::<f64>::eye(n) * shift);
    let mut v = Array1::<f64>::ones(n);
    for _ in 0..5000 {
        v = shifted.dot(&v);
        v /= v.dot(&v).sqrt();
    }
    let lambda = v.dot(&m_dense.dot(&v));
    let b = &u0 / alpha;
    let btb = b.t().dot(&b);
    let mut w = Array1::<f64>::ones(r_prime);
    for _ in 0..5000 {
        w = btb.dot(&w);
        w /= w.dot(&w).sqrt();
    }
    let b_norm = w.dot(&btb.dot(&w)).sqrt();
    let u0_v1 = u0.t().dot(&v).dot(&u0.t().dot(&v)).sqrt();
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    assert!(
        rel(got.m_norm, lambda) < 1e-10,
        "{} vs {lambda}",
        got.m_norm
    );
    assert!(
        rel(got.b_norm, b_norm) < 1e-10,
        "{} vs {b_norm}",
        got.b_norm
    );
    assert!(rel(got.u0_v1, u0_v1) < 1e-8, "{} vs {u0_v1}", got.u0_v1);
    assert_eq!(got.min_dim, r_prime.min(n));
    for (delta, level) in [(0.0, 1.0), (0.3, 1.0), (1.0, 0.5)] {
        let c = 8.0 * (1.0 + delta) * (r_prime as f64).sqrt() * alpha.powi(3) * b_norm.powi(3)
            / (lambda * u0_v1);
        let want = (level / c).ln() / (2.0 * (1.0 + mu * lambda).ln());
        let have = got.bound(delta, level);
        assert!(
            rel(have, want) < 1e-8,
            "δ = {delta}, ε = {level}: {have} vs {want}"
        );
        assert!(
            want > 0.0,
            "α = {alpha} is small enough for a positive bound"
        );
    }
    // A larger α gives a shorter bound; α = 1 a negative one (the lemma then says nothing).
    let u0_big = small_random_init(n, r_prime, 1.0, 12);
    let big = PowerMethodDeparture::new(&problem, mu, u0_big.view(), 1.0).unwrap();
    assert!(big.bound(0.0, 1.0) < 0.0, "{}", big.bound(0.0, 1.0));
    // Here λ_1 = ‖M‖. Where the most negative eigenvalue is larger in size, Ũ_t grows along v_1
    // only like (1 + μλ_1)^t: ratio ≤ c(1 + μ‖M‖)^{3t}/(1 + μλ_1)^t ≤ ε until
    // t = ln(ε/c)/(3 ln(1 + μ‖M‖) − ln(1 + μλ_1)).
    assert_eq!(got.lambda_1, got.m_norm);
    let negative = PowerMethodDeparture {
        m_norm: 2.0 * got.m_norm,
        ..got
    };
    let c =
        8.0 * (r_prime as f64).sqrt() * alpha.powi(3) * b_norm.powi(3) / (negative.m_norm * u0_v1);
    let want = (1.0 / c).ln()
        / (3.0 * (1.0 + mu * negative.m_norm).ln() - (1.0 + mu * negative.lambda_1).ln());
    let have = negative.bound(0.0, 1.0);
    assert!(rel(have, want) < 1e-8, "{have} vs {want}");
    // U_0 = sα·B scales ‖U_0ᵀv_1‖ by s too, so c by s² and t_D shifts by −2 ln s/(2 ln(1 + μ‖M‖)),
    // also where α³ is subnormal while c is not (s = 1e-102: α³ ≈ 1e-318), where α³ underflows
    // (s = 1e-120: α³ ≈ 1e-372) and where c overflows (s = 1e110).
    let den = 2.0 * (1.0 + mu * got.m_norm).ln();
    for s in [1e-30, 1e-102, 1e-103, 1e-120, 1e-250, 1e110] {
        let scaled = PowerMethodDeparture {
            alpha: alpha * s,
            u0_v1: got.u0_v1 * s,
            ..got
        };
        let have = scaled.bound(0.3, 1.0);
        let want = got.bound(0.3, 1.0) - 2.0 * f64::ln(s) / den;
        assert!(rel(have, want) < 1e-12, "s = {s:e}: {have} vs {want}");
    }
}

#[test]
fn a_batch_continued_from_its_saved_state_equals_an_uninterrupted_one_bit_for_bit() {
    use lowrank_core::descent::{
        run_gradient_descent_batch, run_gradient_descent_batch_from, BatchRun, BatchState,
        Checkpointer,
    };
    use lowrank_core::Algorithm;
    let problem = Problem::sample_gaussian(25, 2, 400, &SingularValues::Condition(2.0), 43);
    // One run diverges early, one ends early (shorter horizon): the saved state has left runs.
    // Every algorithm resumes to the same bits: their step rules keep no state across iterations,
    // which is what makes the saved U_t enough (a new algorithm must be added to the last rows).
    let gd = Algorithm::Gd;
    let specs = [
        (2, 1e-4, 0.25, 300, gd),
        (6, 1e-6, 0.25, 260, gd),
        (8, 1.0, 40.0, 300, gd),
        (4, 1e-2, 0.3, 80, gd),
        (3, 1e-4, 0.25, 300, Algorithm::scaled_gd(1e-3).unwrap()),
        (3, 1e-4, 0.25, 300, Algorithm::precgd(0.5).unwrap()),
    ];
    for s in &specs {
        // A new variant does not compile here until a run of it is added to `specs`.
        match s.4 {
            Algorithm::Gd | Algorithm::ScaledGd { .. } | Algorithm::PrecGd { .. } => {}
        }
    }
    let mut labels: Vec<&str> = specs.iter().map(|s| s.4.label()).collect();
    labels.sort_unstable();
    labels.dedup();
    let mut all = Algorithm::LABELS.to_vec();
    all.sort_unstable();
    assert_eq!(labels, all, "every algorithm is resumed here");
    let inits: Vec<Array2<f64>> = specs
        .iter()
        .enumerate()
        .map(|(i, &(rp, a, _, _, _))| small_random_init(25, rp, a, 60 + i as u64))
        .collect();
    let params: Vec<RunParams> = specs
        .iter()
        .map(|&(_, _, mu, t, algorithm)| RunParams::new(mu, t, 7).with_algorithm(algorithm))
        .collect();
    type Rows = Vec<(usize, u64, Vec<u64>)>;
    let recorder = |rows: &mut Rows, s: &lowrank_core::IterationState<'_>| {
        rows.push((
            s.t,
            s.loss.to_bits(),
            s.u.iter().map(|v| v.to_bits()).collect(),
        ));
        lowrank_core::Control::Continue
    };
    // `plain`: through run_gradient_descent_batch; else through _from with `resume` and `cp`.
    let batch = |rows: &mut Vec<Rows>,
                 plain: bool,
                 resume: Option<BatchState>,
                 cp: Option<&mut dyn Checkpointer>| {
        let mut observers: Vec<_> = rows
            .iter_mut()
            .map(|r| move |s: &lowrank_core::IterationState<'_>| recorder(r, s))
            .collect();
        let runs = observers
            .iter_mut()
            .zip(inits.iter().zip(&params))
            .map(|(o, (u0, p))| BatchRun {
                params: p.clone(),
                u0: u0.clone(),
                observer: o,
            })
            .collect();
        if plain {
            run_gradient_descent_batch(&problem, runs)
        } else {
            run_gradient_descent_batch_from(&problem, runs, resume, cp)
        }
    };
    struct SaveAt(usize, Option<BatchState>);
    impl Checkpointer for SaveAt {
        fn due(&mut self, t: usize) -> bool {
            t == self.0
        }
        fn save(&mut self, state: &BatchState) {
            self.1 = Some(state.clone());
        }
    }
    let mut whole: Vec<Rows> = vec![Vec::new(); specs.len()];
    let mut cp = SaveAt(120, None);
    let uninterrupted = batch(&mut whole, false, None, Some(&mut cp));
    let state = cp.1.expect("saved at t = 120");
    assert_eq!(state.t, 120);
    assert!(state.runs[2].status.is_some() && state.runs[3].status.is_some());
    // The preconditioned runs are still running there, so their resume is what is tested.
    assert!(state.runs[4].status.is_none() && state.runs[5].status.is_none());
    // Observers that had seen everything before t = 120, then the rest of the batch.
    let mut resumed: Vec<Rows> = whole
        .iter()
        .map(|r| r.iter().filter(|x| x.0 < 120).cloned().collect())
        .collect();
    let continued = batch(&mut resumed, false, Some(state), None);
    assert_eq!(whole, resumed);
    for (a, b) in uninterrupted.iter().zip(&continued) {
        assert_eq!(a.status, b.status);
        assert_eq!(
            a.u.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.u.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }
    // And the plain entry point is the same loop.
    let mut plain: Vec<Rows> = vec![Vec::new(); specs.len()];
    batch(&mut plain, true, None, None);
    assert_eq!(whole, plain);
}

/// Stops its run at the first logged t ≥ `at` (after recording), else records like a
/// [`DiagnosticsRecorder`].
struct StopAt<'a> {
    rec: DiagnosticsRecorder<'a>,
    at: usize,
}

impl lowrank_core::Observer for StopAt<'_> {
    fn observe(&mut self, state: &lowrank_core::IterationState<'_>) -> lowrank_core::Control {
        self.rec.observe(state);
        if state.t >= self.at {
            lowrank_core::Control::Stop
        } else {
            lowrank_core::Control::Continue
        }
    }
}

#[test]
fn a_batched_runs_bits_do_not_depend_on_its_companions_or_their_instances() {
    // Run A (r' = 3) alone, in a batch with one companion on its own instance, and in a batch
    // whose companions are on other instances of the same operator (noisy data; another X), stop
    // early or run past it: with the same kernel, every recorded diagnostic and U_T are the same
    // bits. So is each companion's run against a batch on its own instance. The batch kernel stays
    // when one run is left, so A, alone after t = 200 or t = 300, still matches.
    use lowrank_core::descent::{run_gradient_descent_shared_operator_from, BatchRun, RunOutcome};
    use lowrank_core::{GroundTruth, PassKernel};
    let base = Problem::sample_gaussian(16, 2, 300, &SingularValues::Condition(2.0), 51);
    let noisy = base.clone().with_noise(0.1, 52);
    let other = base.with_truth(GroundTruth::sample(
        16,
        2,
        &SingularValues::Condition(5.0),
        53,
    ));
    assert!(std::sync::Arc::ptr_eq(&noisy.operator, &other.operator));
    // (instance, r', α, T, stop at)
    type Member<'p> = (&'p Problem, usize, f64, usize, usize);
    let a: Member<'_> = (&base, 3, 1e-4, 400, usize::MAX);
    let run_with = |kernel: PassKernel,
                    members: &[Member<'_>]|
     -> Vec<(RunOutcome, Vec<[u64; 4]>)> {
        let mut observers: Vec<StopAt<'_>> = members
            .iter()
            .map(|&(p, _, _, _, at)| StopAt {
                rec: DiagnosticsRecorder::new(&p.truth, p.y.dot(&p.y).sqrt(), 2),
                at,
            })
            .collect();
        let runs = observers
            .iter_mut()
            .zip(members)
            .map(|(obs, &(_, rp, alpha, t, _))| BatchRun {
                params: RunParams::new(0.25, t, 5),
                u0: small_random_init(16, rp, alpha, 60 + rp as u64),
                observer: obs,
            })
            .collect();
        let instances: Vec<&Problem> = members.iter().map(|m| m.0).collect();
        let out = run_gradient_descent_shared_operator_from(&instances, runs, kernel, None, None);
        out.into_iter()
            .zip(observers)
            .map(|(o, obs)| {
                let rec = obs.rec.records.iter().map(|d| {
                    [
                        d.t as u64,
                        d.test_error.to_bits(),
                        d.loss.to_bits(),
                        d.sin_theta.to_bits(),
                    ]
                });
                (o, rec.collect())
            })
            .collect()
    };
    let bits = |o: &RunOutcome| o.u.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let same = |x: &(RunOutcome, Vec<[u64; 4]>), y: &(RunOutcome, Vec<[u64; 4]>)| {
        x.0.status == y.0.status && bits(&x.0) == bits(&y.0) && x.1 == y.1
    };
    let run = |members: &[Member<'_>]| run_with(PassKernel::Batch, members);
    let alone_ish = run(&[a, (&base, 5, 1e-3, 200, usize::MAX)]);
    assert!(same(&alone_ish[0], &run(&[a])[0]), "A alone moved");
    let c: Member<'_> = (&noisy, 4, 1e-3, 200, 20);
    let d: Member<'_> = (&other, 2, 1e-2, 300, usize::MAX);
    let shared = run(&[c, a, d]);
    assert!(same(&alone_ish[0], &shared[1]), "A's bits moved");
    assert!(shared[0].1.len() == 5 && shared[0].1.last().unwrap()[0] == 20);
    let c_own = run(&[c, (&noisy, 2, 1e-4, 200, usize::MAX)]);
    assert!(
        same(&c_own[0], &shared[0]),
        "the noisy companion's bits moved"
    );
    let d_own = run(&[(&other, 3, 1e-4, 10, usize::MAX), d]);
    assert!(same(&d_own[1], &shared[2]), "the other X's bits moved");
    // The single-input kernel: each run as if alone, whatever the others.
    let single = run_with(PassKernel::SingleInput, &[c, a, d]);
    assert!(same(
        &single[1],
        &run_with(PassKernel::SingleInput, &[a])[0]
    ));
    assert!(same(
        &single[0],
        &run_with(PassKernel::SingleInput, &[c])[0]
    ));
    // The batch did what it says: A converged on its instance, D on its own X.
    let err =
        |p: &Problem, u: &Array2<f64>| frob(&(u.dot(&u.t()) - &p.truth.xxt)) / frob(&p.truth.xxt);
    let (ea, ed) = (err(&base, &shared[1].0.u), err(&other, &shared[2].0.u));
    assert!(ea < 1e-3, "{ea}");
    assert!(ed < 1e-1, "{ed}");
}

#[test]
fn spectral_comparison_follows_the_power_iterate_past_the_range_of_f64() {
    use lowrank_core::linalg::{sin_largest_principal_angle, spectral_norm, thin_svd};
    use lowrank_core::SpectralComparison;
    // Ũ_t = (I + μM)^t U_0 grows like (1 + μλ_1)^t ≈ 1.27^t here: past 1e308 by t ≈ 3000. The
    // reference follows it normalised at every step (P_t = Ũ_t/‖Ũ_t‖_F, with ln ‖Ũ_t‖_F kept apart).
    let (n, r, m, r_prime, alpha, mu) = (12, 2, 300, 4, 1e-3, 0.25);
    let problem = Problem::sample_gaussian(n, r, m, &SingularValues::Condition(2.0), 5);
    let u0 = small_random_init(n, r_prime, alpha, 6);
    let step = Array2::<f64>::eye(n) + &(problem.spectral_matrix() * mu);
    let l = {
        let (_, vectors) =
            lowrank_core::linalg::symmetric_eigen(problem.spectral_matrix().view()).unwrap();
        vectors.slice(ndarray::s![.., ..r]).to_owned()
    };
    let mut comparison = SpectralComparison::new(&problem, mu, u0.view()).unwrap();
    // Early on (no rescaling yet) the deviation is the direct ‖U − Ũ_t‖/‖Ũ_t‖, to the bit.
    let u_early = &u0 * 3.0;
    let mut power = u0.clone();
    for _ in 0..10 {
        power = step.dot(&power);
    }
    let early = comparison.compute(10, u_early.view()).unwrap();
    let direct =
        spectral_norm((&u_early - &power).view()).unwrap() / thin_svd(power.view()).unwrap().s[0];
    assert_eq!(early.power_deviation, direct);

    let mut p = u0.clone();
    let mut t_p = 0;
    let mut resolved = 0;
    for t in [20, 40, 1500, 3000, 4000] {
        while t_p < t {
            p = step.dot(&p);
            p /= frob(&p);
            t_p += 1;
        }
        let d = comparison.compute(t, u0.view()).unwrap();
        let svd = thin_svd(p.view()).unwrap();
        if svd.s[r - 1] > lowrank_core::diagnostics::RANK_LOSS * svd.s[0] {
            resolved += 1;
            let lp = svd.u.slice(ndarray::s![.., ..r]).to_owned();
            let want = sin_largest_principal_angle(lp.view(), l.view()).unwrap();
            assert!(
                (d.sin_power_l - want).abs() < 1e-9,
                "t = {t}: sin∠(Ũ_t, L) = {} against {want}",
                d.sin_power_l
            );
        } else {
            // Ũ_t has lost its r-th direction to rounding (λ_1 outgrows λ_r): no angle.
            assert!(d.sin_power_l.is_nan(), "t = {t}: {}", d.sin_power_l);
        }
        // ‖U_0‖ ≪ ‖Ũ_t‖ late: the deviation is 1 up to ‖U_0‖/‖Ũ_t‖.
        assert!(
            t < 1500 || (d.power_deviation - 1.0).abs() < 1e-12,
            "t = {t}: deviation {}",
            d.power_deviation
        );
        assert!(d.sin_lt_l.is_finite() && d.sin_lt_x.is_finite());
    }
    assert!(
        resolved >= 2,
        "the angle was compared at {resolved} times only"
    );
}

#[test]
fn run_parameters_are_checked_before_any_iteration() {
    use lowrank_core::{Algorithm, RunParamsError};
    assert_eq!(RunParams::new(0.25, 10, 1).check(), Ok(()));
    let bad = [
        (RunParams::new(0.0, 10, 1), "step_size = 0"),
        (RunParams::new(f64::NAN, 10, 1), "step_size = NaN"),
        (RunParams::new(0.25, 10, 0), "log_every = 0"),
        (
            RunParams {
                divergence_factor: f64::NAN,
                ..RunParams::new(0.25, 10, 1)
            },
            "divergence_factor = NaN",
        ),
        (
            RunParams {
                divergence_factor: 0.5,
                ..RunParams::new(0.25, 10, 1)
            },
            "divergence_factor = 0.5 is out of range; allowed: a factor ≥ 1",
        ),
        (
            RunParams::new(0.25, 10, 1).with_algorithm(Algorithm::ScaledGd { lambda: -1.0 }),
            "lambda = -1",
        ),
        (
            RunParams::new(0.25, 10, 1).with_algorithm(Algorithm::PrecGd { c: 0.0 }),
            "c = 0",
        ),
    ];
    for (params, message) in bad {
        let e: RunParamsError = params.check().unwrap_err();
        assert!(e.to_string().starts_with(message), "{e}");
    }
    // +inf: divergence only by non-finite values.
    let never = RunParams {
        divergence_factor: f64::INFINITY,
        ..RunParams::new(0.25, 10, 1)
    };
    assert_eq!(never.check(), Ok(()));
    // The loop refuses them (before, it ran with them).
    let problem = Problem::sample_gaussian(6, 1, 40, &SingularValues::Condition(1.0), 1);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_gradient_descent(
            &problem,
            &RunParams::new(f64::NAN, 5, 1),
            small_random_init(6, 2, 1e-3, 2),
            &mut DiagnosticsRecorder::new(&problem.truth, 1.0, 1),
        )
    }));
    let panic = result.unwrap_err();
    let text = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("step_size = NaN"), "{text}");
}
