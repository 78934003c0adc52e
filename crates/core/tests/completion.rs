//! Numerical facts about the matrix-completion operator and GD on it.

use lowrank_core::descent::{run_gradient_descent_batch, BatchRun};
use lowrank_core::operator::{CompletionOperator, MeasurementOperator, PassRun};
use lowrank_core::seeds::{rng, Stream};
use lowrank_core::{
    run_gradient_descent, small_random_init, Algorithm, DiagnosticsRecorder, GroundTruth, Problem,
    RunParams, RunStatus, SingularValues,
};
use ndarray::{Array1, Array2};
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

fn frob(a: &Array2<f64>) -> f64 {
    a.iter().map(|v| v * v).sum::<f64>().sqrt()
}

fn random_symmetric(n: usize, seed: u64) -> Array2<f64> {
    let g = Array2::<f64>::random_using((n, n), StandardNormal, &mut rng(seed, Stream::Analysis));
    (&g + &g.t()) * 0.5
}

fn completion_problem(n: usize, r: usize, p: f64, seed: u64) -> Problem {
    let truth = GroundTruth::sample(n, r, &SingularValues::Condition(2.0), seed);
    let op = CompletionOperator::sample_uniform(n, p, &mut rng(seed, Stream::Operator));
    Problem::new(truth, op)
}

#[test]
fn adjoint_identity_holds() {
    let n = 11;
    let op = CompletionOperator::sample_uniform(n, 0.4, &mut rng(1, Stream::Operator));
    let z = random_symmetric(n, 2);
    let v = Array1::from_shape_fn(op.m(), |k| ((k * 7 % 13) as f64 - 6.0) / 5.0);
    let lhs = op.apply(z.view()).dot(&v);
    let rhs = (&z * &op.adjoint(v.view())).sum();
    assert!(
        (lhs - rhs).abs() <= 1e-12 * lhs.abs().max(1.0),
        "{lhs} vs {rhs}"
    );
    // 𝒜*(v) is symmetric.
    let a = op.adjoint(v.view());
    assert!(frob(&(&a - &a.t())) == 0.0);
}

#[test]
fn full_sampling_is_an_isometry_and_uniform_sampling_is_one_in_expectation() {
    let n = 12;
    let z = random_symmetric(n, 3);
    let zz = frob(&z).powi(2);
    // p = 1: Ω is every pair i ≤ j and 𝒜 = svec, an exact isometry.
    let full = CompletionOperator::sample_uniform(n, 1.0, &mut rng(4, Stream::Operator));
    assert_eq!(full.m(), n * (n + 1) / 2);
    let a = full.apply(z.view());
    assert!((a.dot(&a) - zz).abs() <= 1e-12 * zz);
    // p = 0.3: E_Ω‖𝒜(Z)‖² = ‖Z‖_F²; the mean over 400 draws of Ω is within 5% (its standard
    // error here is about 1%).
    let draws = 400;
    let mean: f64 = (0..draws)
        .map(|s| {
            let op =
                CompletionOperator::sample_uniform(n, 0.3, &mut rng(100 + s, Stream::Operator));
            let a = op.apply(z.view());
            a.dot(&a)
        })
        .sum::<f64>()
        / draws as f64;
    assert!(
        (mean / zz - 1.0).abs() <= 0.05,
        "E‖A(Z)‖²/‖Z‖² ≈ {}",
        mean / zz
    );
}

#[test]
fn the_batch_pass_gives_residuals_and_gradients_without_reading_uut() {
    let problem = completion_problem(15, 2, 0.35, 5);
    assert!(!problem.operator.reads_uut());
    let us: Vec<Array2<f64>> = [2usize, 6, 1]
        .iter()
        .enumerate()
        .map(|(i, &rp)| small_random_init(15, rp, 0.7, 6 + i as u64))
        .collect();
    let stale = Array2::<f64>::zeros((15, 15)); // the pass must not read UUᵀ
    let mut pass = problem
        .operator
        .batch_pass(3, lowrank_core::PassKernel::Batch);
    for k in [1usize, 3] {
        let mut grads: Vec<Array2<f64>> = us[..k].iter().map(|u| Array2::zeros(u.dim())).collect();
        let mut runs: Vec<PassRun<'_>> = us[..k]
            .iter()
            .zip(grads.iter_mut())
            .map(|(u, g)| PassRun {
                y: problem.y.view(),
                u: u.view(),
                uut: stale.view(),
                gradient: g.view_mut(),
            })
            .collect();
        pass.compute(&mut runs);
        drop(runs);
        for i in 0..k {
            let res = problem.operator.apply(us[i].dot(&us[i].t()).view()) - &problem.y;
            let d = &pass.residual(i) - &res;
            assert!(
                d.dot(&d).sqrt() <= 1e-12 * res.dot(&res).sqrt(),
                "k = {k}, run {i}"
            );
            let g = problem.operator.adjoint(res.view()).dot(&us[i]);
            assert!(
                frob(&(&grads[i] - &g)) <= 1e-12 * frob(&g),
                "k = {k}, run {i}"
            );
        }
    }
}

#[test]
fn small_init_gd_completes_a_low_rank_matrix_and_batches_match_single_runs() {
    // n = 40, r = 2, half the entries observed: from α = 1e-4, GD at r' = r and r' = 3r and
    // ScaledGD(λ) at r' = r reach test error ≤ 1e-4 in 1500 iterations; the observer's test error
    // (computed from the UUᵀ the loop forms at logged iterations) equals the returned U's.
    let problem = completion_problem(40, 2, 0.5, 7);
    let y_norm = problem.y.dot(&problem.y).sqrt();
    let cases = [
        (2usize, Algorithm::Gd),
        (6, Algorithm::Gd),
        (2, Algorithm::ScaledGd { lambda: 1e-2 }),
    ];
    let inits: Vec<Array2<f64>> = cases
        .iter()
        .enumerate()
        .map(|(i, &(rp, _))| small_random_init(40, rp, 1e-4, 8 + i as u64))
        .collect();
    let params: Vec<RunParams> = cases
        .iter()
        .map(|&(_, a)| RunParams::new(0.25, 1500, 100).with_algorithm(a))
        .collect();
    let mut alone = Vec::new();
    for (u0, p) in inits.iter().zip(&params) {
        let mut rec = DiagnosticsRecorder::new(&problem.truth, y_norm, 2);
        let out = run_gradient_descent(&problem, p, u0.clone(), &mut rec);
        assert_eq!(out.status, RunStatus::Completed);
        let err = frob(&(&out.u.dot(&out.u.t()) - &problem.truth.xxt)) / frob(&problem.truth.xxt);
        let logged = rec.records.last().unwrap().test_error;
        assert!(
            (err - logged).abs() <= 1e-12 * err.max(1e-300),
            "{err} vs {logged}"
        );
        assert!(err <= 1e-4, "{:?}: test error {err:e}", p.algorithm);
        alone.push(out.u);
    }
    let mut recs: Vec<DiagnosticsRecorder<'_>> = (0..cases.len())
        .map(|_| DiagnosticsRecorder::new(&problem.truth, y_norm, 2))
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
    for (a, b) in alone
        .iter()
        .zip(run_gradient_descent_batch(&problem, batch))
    {
        let rel = frob(&(a - &b.u)) / frob(a);
        assert!(rel <= 1e-10, "batched vs alone: {rel:e}");
    }
}

#[test]
fn completion_equals_its_dense_definition_and_the_gradient_its_finite_differences() {
    // Dense definition: measurement k is ⟨A_k, Z⟩ with A_k = (w_k/√p)·E_k, E_k = e_ie_iᵀ or
    // (e_ie_jᵀ + e_je_iᵀ)/2: a packed operator with one non-zero per row.
    let n = 9;
    let op = CompletionOperator::sample_uniform(n, 0.45, &mut rng(21, Stream::Operator));
    let m = op.m();
    let mats: Vec<Array2<f64>> = op
        .entries()
        .iter()
        .map(|&(i, j)| {
            let w = if i == j {
                1.0
            } else {
                std::f64::consts::SQRT_2
            };
            let mut a = Array2::zeros((n, n));
            let v = (m as f64).sqrt() * w / op.p().sqrt(); // from_symmetric_matrices divides by √m
            if i == j {
                a[[i, i]] = v;
            } else {
                a[[i, j]] = v / 2.0;
                a[[j, i]] = v / 2.0;
            }
            a
        })
        .collect();
    let dense = lowrank_core::PackedOperator::from_symmetric_matrices(&mats);
    let z = random_symmetric(n, 22);
    let (a, b) = (op.apply(z.view()), dense.apply(z.view()));
    assert!((&a - &b)
        .iter()
        .all(|d| d.abs() <= 1e-12 * a.iter().fold(1.0f64, |s, v| s.max(v.abs()))));
    let v = Array1::from_shape_fn(m, |k| (k as f64 * 0.37).cos());
    let (ga, gb) = (op.adjoint(v.view()), dense.adjoint(v.view()));
    assert!(frob(&(&ga - &gb)) <= 1e-12 * frob(&gb));
    // ∇f(U) = 𝒜*(𝒜(UUᵀ) − y)·U against central differences of f(U) = ¼‖𝒜(UUᵀ) − y‖².
    let truth = GroundTruth::sample(n, 2, &SingularValues::Condition(2.0), 23);
    let problem = Problem::new(truth, op);
    let u = small_random_init(n, 3, 0.8, 24);
    let g = lowrank_core::descent::gradient(&problem, u.view());
    let h = 1e-6;
    let mut max_err: f64 = 0.0;
    for i in 0..n {
        for j in 0..3 {
            let mut up = u.clone();
            up[[i, j]] += h;
            let mut dn = u.clone();
            dn[[i, j]] -= h;
            let fd = (lowrank_core::descent::loss(&problem, up.view())
                - lowrank_core::descent::loss(&problem, dn.view()))
                / (2.0 * h);
            max_err = max_err.max((fd - g[[i, j]]).abs());
        }
    }
    assert!(
        max_err <= 1e-6 * frob(&g).max(1.0),
        "max |fd − ∇f| = {max_err:e}"
    );
}

#[test]
fn relu_sampling_observes_exactly_the_entries_above_the_threshold() {
    let truth = GroundTruth::sample(14, 2, &SingularValues::Condition(2.0), 31);
    for threshold in [0.0, 0.05] {
        let op = CompletionOperator::above_threshold(truth.xxt.view(), threshold);
        let want: Vec<(usize, usize)> = (0..14)
            .flat_map(|i| (i..14).map(move |j| (i, j)))
            .filter(|&(i, j)| truth.xxt[[i, j]] > threshold)
            .collect();
        assert_eq!(op.entries(), &want[..]);
        assert!((op.p() - want.len() as f64 / 105.0).abs() < 1e-15);
    }
}

#[test]
fn count_sampling_observes_exactly_that_many_distinct_pairs_uniformly() {
    let n = 9;
    let pairs = n * (n + 1) / 2;
    // Every pair is listed once, in row-major order, with i ≤ j < n, and the weights are scaled
    // for p = count/N.
    let all = CompletionOperator::sample_count(n, pairs, &mut rng(1, Stream::Operator));
    let row_major: Vec<(usize, usize)> = (0..n).flat_map(|i| (i..n).map(move |j| (i, j))).collect();
    assert_eq!(all.entries(), &row_major[..]);
    assert_eq!(all.p(), 1.0);
    let op = CompletionOperator::sample_count(n, 17, &mut rng(2, Stream::Operator));
    assert_eq!(op.m(), 17);
    assert!((op.p() - 17.0 / pairs as f64).abs() < 1e-15);
    assert!(op.entries().windows(2).all(|w| w[0] < w[1]));
    // Each pair is chosen with probability count/N: over 3000 draws of 9 of 45 pairs, every pair's
    // frequency is within 0.2 ± 0.04 (six standard errors).
    let draws = 3000;
    let mut hits = vec![0usize; pairs];
    for s in 0..draws {
        let op = CompletionOperator::sample_count(n, 9, &mut rng(100 + s, Stream::Operator));
        for &(i, j) in op.entries() {
            hits[row_major.iter().position(|&q| q == (i, j)).unwrap()] += 1;
        }
    }
    for (k, &h) in hits.iter().enumerate() {
        let f = h as f64 / draws as f64;
        assert!(
            (f - 0.2).abs() < 0.04,
            "pair {:?}: frequency {f}",
            row_major[k]
        );
    }
}

#[test]
fn gaussian_factor_truth_is_a_rescaled_gaussian_matrix_with_its_svd() {
    let (n, r) = (30, 4);
    let t = GroundTruth::sample_gaussian_factor(n, r, 5).unwrap();
    // X = G/σ_1(G) for the Gaussian G of the ground-truth stream.
    let g = Array2::<f64>::random_using((n, r), StandardNormal, &mut rng(5, Stream::GroundTruth));
    let ratio = &g / &t.x;
    let c = ratio[[0, 0]];
    assert!(ratio.iter().all(|v| (v - c).abs() <= 1e-12 * c.abs()));
    // ‖X‖ = 1, s descending, V_X orthonormal, XXᵀ = V_X diag(s²) V_Xᵀ.
    assert!((t.singular_values[0] - 1.0).abs() < 1e-14);
    assert!(t.singular_values.windows(2).all(|w| w[0] >= w[1]));
    let vtv = t.v_x.t().dot(&t.v_x);
    assert!(frob(&(&vtv - &Array2::<f64>::eye(r))) < 1e-12);
    let s2 = Array1::from(t.singular_values.iter().map(|s| s * s).collect::<Vec<_>>());
    let rebuilt = (&t.v_x * &s2).dot(&t.v_x.t());
    assert!(frob(&(&rebuilt - &t.xxt)) < 1e-12 * frob(&t.xxt));
    assert!(t.kappa() > 1.0);
}

#[test]
fn spectral_regime_is_exact_when_every_entry_is_observed_and_measures_the_gap_otherwise() {
    use lowrank_core::spectral_regime;
    // p = 1: 𝒜 = svec is an isometry, 𝒜*𝒜 = I, so M = XXᵀ and L = col(X).
    let (n, r) = (15, 3);
    let truth = GroundTruth::sample(n, r, &SingularValues::Condition(2.0), 8);
    let full = CompletionOperator::sample_uniform(n, 1.0, &mut rng(8, Stream::Operator));
    let exact = spectral_regime(&Problem::new(truth.clone(), full)).unwrap();
    assert!(exact.deviation < 1e-13 && exact.sin_l_x < 1e-7, "{exact:?}");
    // p < 1: M = P_Ω(XXᵀ)/p (the observed entries of XXᵀ, both triangles, divided by p), built
    // here from Ω alone; the deviation is ‖M − XXᵀ‖/σ_r², and Davis–Kahan bounds the angle once it
    // is below 1 (κ = 1, n = 60, p = 0.9 here; n = 15, κ = 2, p = 0.3 gives 4.4).
    let wide = GroundTruth::sample(60, r, &SingularValues::Condition(1.0), 8);
    for (truth, p, seed, below_one) in [(&truth, 0.3, 9, false), (&wide, 0.9, 10, true)] {
        let n = truth.n();
        let op = CompletionOperator::sample_uniform(n, p, &mut rng(seed, Stream::Operator));
        let mut dense = Array2::<f64>::zeros((n, n));
        for &(i, j) in op.entries() {
            dense[[i, j]] = truth.xxt[[i, j]] / op.p();
            dense[[j, i]] = truth.xxt[[j, i]] / op.p();
        }
        let problem = Problem::new(truth.clone(), op);
        let m = problem.spectral_matrix();
        assert!(
            frob(&(&m - &dense)) <= 1e-13 * frob(&dense),
            "M ≠ P_Ω(XXᵀ)/p"
        );
        let g = spectral_regime(&problem).unwrap();
        let dense_dev = lowrank_core::linalg::spectral_norm((&dense - &truth.xxt).view()).unwrap()
            / truth.sigma_min().powi(2);
        assert!((g.deviation - dense_dev).abs() <= 1e-12 * dense_dev);
        assert_eq!(g.deviation < 1.0, below_one, "p = {p}: {g:?}");
        if below_one {
            assert!(
                g.sin_l_x <= g.deviation / (1.0 - g.deviation) + 1e-12,
                "{g:?}"
            );
        }
        assert!((0.0..=1.0 + 1e-12).contains(&g.sin_l_x));
    }
}
