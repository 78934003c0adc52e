//! Reduced versions of the theory checks, with assertions on what must hold at any size.

use theory_checks::{checks, Scale, Verdict};

fn rows_of(c: &theory_checks::Check, quantity_prefix: &str) -> Vec<theory_checks::Row> {
    c.rows
        .iter()
        .filter(|r| r.quantity.starts_with(quantity_prefix))
        .cloned()
        .collect()
}

/// No judged comparison sits within the borderline margin of its threshold, so rounding differences
/// between CPU types cannot flip a verdict of this check.
fn no_borderline(c: &theory_checks::Check) {
    for row in &c.rows {
        assert_ne!(row.verdict, Verdict::Borderline, "{row:#?}");
        for cmp in row.comparisons.iter().filter(|c| !c.exact) {
            assert!(
                cmp.margin().abs() > theory_checks::BORDERLINE_MARGIN,
                "{cmp:?} in {row:#?}"
            );
        }
    }
}

#[test]
fn iteration_counts_grow_linearly_in_log_inverse_alpha() {
    let c = checks::iteration_counts(&Scale::reduced());
    no_borderline(&c);
    let r2 = rows_of(&c, "R²");
    assert_eq!(r2.len(), 3, "{c:#?}");
    for row in r2 {
        assert_eq!(row.verdict, Verdict::Pass, "{row:#?}");
    }
    // Phase I as the power method: t_D's slope in ln(1/α) is 1/ln(1+μλ_1) of each replicate's M,
    // and the alignment with L at t_D improves at least like α^q.
    for prefix in ["t_D = first t", "fitted exponent of tan∠(L_t, L)"] {
        let rows = rows_of(&c, prefix);
        assert_eq!(rows.len(), 1, "{prefix}: {c:#?}");
        assert_eq!(rows[0].verdict, Verdict::Pass, "{:#?}", rows[0]);
    }
}

#[test]
fn gd_follows_the_power_method_in_phase_one() {
    let c = checks::alignment(&Scale::reduced());
    no_borderline(&c);
    // The measured departures are at or after Lemma D.1/D.2's bound, with the bound positive.
    let lemma = rows_of(&c, "Lemma D.1/D.2");
    let half = rows_of(&c, "first t with ‖U_t − Ũ_t‖ ≥ ‖Ũ_t‖/2");
    assert_eq!(lemma.len(), Scale::reduced().kappas.len(), "{c:#?}");
    assert_eq!(half.len(), lemma.len(), "{c:#?}");
    for row in lemma.iter().chain(&half) {
        assert_eq!(row.verdict, Verdict::Pass, "{row:#?}");
    }
    let angle = rows_of(&c, "max_{t < t_D(1/2)} sin∠");
    assert!(
        angle.iter().all(|r| r.verdict == Verdict::Pass),
        "{angle:#?}"
    );
    // The κ trend of c = sin θ·κ² is reported, not judged (at a fixed m the larger κ leave the
    // regime); that phase II ends near the regime is judged.
    let trend = rows_of(&c, "trend of c = sin θ(t_1)·κ²");
    assert_eq!(trend.len(), 2, "{c:#?}");
    assert!(
        trend.iter().all(|r| r.verdict == Verdict::Info),
        "{trend:#?}"
    );
    let ends = rows_of(&c, "every run reaches t_1");
    assert_eq!(ends.len(), 1, "{c:#?}");
    assert_eq!(ends[0].verdict, Verdict::Pass, "{:#?}", ends[0]);
    // The report carries a verdict for the width trend.
    assert!(c
        .rows
        .iter()
        .any(|r| r.quantity.starts_with("median sin θ(t_1) against r'")));
}

#[test]
fn overparameterization_keeps_the_error_bounded() {
    let c = checks::overparameterization(&Scale::reduced());
    no_borderline(&c);
    let first = &c.rows[0];
    assert_eq!(first.verdict, Verdict::Pass, "{first:#?}");
}

#[test]
fn operator_estimates_are_finite_and_shrink_with_m() {
    let c = checks::operator(&Scale::reduced());
    no_borderline(&c);
    let deltas: Vec<f64> = rows_of(&c, "δ_")
        .iter()
        .map(|r| {
            r.measured
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<f64>()
                .unwrap()
        })
        .collect();
    // One estimate per m of the sweep, then the in-regime instance of check 2(c).
    let k = Scale::reduced().m_list.len();
    assert_eq!(deltas.len(), k + 1);
    assert!(
        deltas.iter().all(|d| d.is_finite() && *d > 0.0),
        "{deltas:?}"
    );
    assert!(
        deltas[0] > deltas[k - 1],
        "δ should shrink with m: {deltas:?}"
    );
    assert!(
        deltas[k] < deltas[..k].iter().copied().fold(f64::INFINITY, f64::min),
        "the in-regime operator should have the smallest δ: {deltas:?}"
    );
}

#[test]
fn error_exponent_check_reports_every_case() {
    let s = Scale::reduced();
    let c = checks::error_exponent(&s);
    no_borderline(&c);
    // Two rows per (m, r') plus one trend row per r'; two rows per (κ ≠ 2, r'); two rows per r'
    // of the in-regime instance.
    let kappas = s.kappas.iter().filter(|&&k| k != 2.0).count();
    assert_eq!(
        c.rows.len(),
        s.m_list.len() * 2 * 2 + 2 + kappas * 2 * 2 + 2 * 2,
        "{c:#?}"
    );
    // Near the RIP regime the theorem's exponent is judged: the error falls at least like
    // α^(21/16).
    let inside: Vec<_> = c
        .rows
        .iter()
        .filter(|r| r.case.starts_with("near the regime") && r.quantity.starts_with("fitted p"))
        .collect();
    assert_eq!(inside.len(), 2, "{c:#?}");
    for row in inside {
        assert_eq!(row.verdict, Verdict::Pass, "{row:#?}");
    }
    let exponents: Vec<f64> = rows_of(&c, "fitted p")
        .iter()
        // "p (R² = …; smallest k α: …)": p is the first word.
        .map(|r| {
            r.measured
                .split_whitespace()
                .next()
                .and_then(|p| p.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        })
        .collect();
    assert!(
        exponents.iter().all(|p| p.is_finite() && *p > 0.2),
        "error must fall with α: {exponents:?}"
    );
}

#[test]
fn a_bad_out_directory_fails_before_the_checks_run() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a_file");
    std::fs::write(&file, b"").unwrap();
    let stderr = refused_before_any_check(&file);
    assert!(stderr.contains("not a directory"), "{stderr}");
}

/// `theory --reduced --out out`'s stderr, after checking that it exited with status 2 (no report
/// written) before any check ran.
fn refused_before_any_check(out: &std::path::Path) -> String {
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_theory"))
        .args(["--reduced", "--out"])
        .arg(out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("check "), "checks ran: {stderr}");
    stderr
}

#[test]
fn preconditioned_methods_are_kappa_free_and_linear_where_gd_is_not() {
    let c = checks::preconditioned(&Scale::reduced());
    no_borderline(&c);
    // One κ-slope row per (algorithm, r'), then one tail row per (algorithm, r', α).
    let slopes = rows_of(&c, "fitted slope of log(iterations");
    assert_eq!(slopes.len(), 6, "{c:#?}");
    let tails = c.rows.len() - slopes.len();
    assert_eq!(tails, 12, "{c:#?}");
    for row in &c.rows {
        assert_ne!(row.verdict, Verdict::Fail, "{row:#?}");
    }
    let judged = c.rows.iter().filter(|r| r.verdict == Verdict::Pass).count();
    // κ slopes (6), linear rates at r' = r (3 algorithms × 2 α) and PrecGD at r' = 2r (2 α),
    // GD's sublinear tail from the moderate α (1).
    assert_eq!(judged, 6 + 6 + 2 + 1, "{c:#?}");
}

#[test]
fn noise_sets_the_best_error_and_overparameterized_gd_then_fits_it() {
    let c = checks::noise(&Scale::reduced());
    no_borderline(&c);
    let slopes = rows_of(&c, "fitted slope of log(best test error");
    assert_eq!(slopes.len(), 2, "{c:#?}");
    let ratios = rows_of(&c, "test error at t = T over the best");
    // One row per σ and width; every r' = r row and the largest σ's r' = n row are judged.
    assert_eq!(
        ratios.len(),
        2 * Scale::reduced().noise.sigmas.len(),
        "{c:#?}"
    );
    let judged: Vec<_> = ratios
        .iter()
        .filter(|r| r.verdict != Verdict::Info)
        .collect();
    assert_eq!(
        judged.len(),
        Scale::reduced().noise.sigmas.len() + 1,
        "{c:#?}"
    );
    for row in slopes.iter().chain(judged) {
        assert_eq!(row.verdict, Verdict::Pass, "{row:#?}");
    }
}

#[test]
fn departure_rows_pass_for_small_alpha_and_fail_when_alpha_is_too_large() {
    let scale = Scale::reduced();
    let verdicts_of = |alpha: f64, spectral: bool| {
        let mut e = theory_checks::Experiment::new("departure", &scale);
        e.spectral = spectral;
        e.alpha = alpha;
        e.iterations = 400;
        e.replicates = 1;
        let runs = e.run();
        let group: Vec<_> = runs.iter().collect();
        checks::departure_rows("test", &group, scale.r)
            .into_iter()
            .filter(|r| r.quantity.contains("against"))
            .map(|r| r.verdict)
            .collect::<Vec<_>>()
    };
    let verdicts = |alpha: f64| verdicts_of(alpha, true);
    assert_eq!(verdicts(1e-6), vec![Verdict::Pass, Verdict::Pass]);
    // At α = 0.5 the bound is negative: the lemma says nothing, and the rows fail.
    assert_eq!(verdicts(0.5), vec![Verdict::Fail, Verdict::Fail]);
    // Without the spectral diagnostics there is no deviation to judge: not a PASS (before, the
    // missing series read as "no departure within the budget" and passed).
    assert_eq!(verdicts_of(1e-6, false), vec![Verdict::Fail, Verdict::Fail]);
}

#[test]
fn a_reduced_run_does_not_replace_a_full_report() {
    let tmp = tempfile::tempdir().unwrap();
    let full = r#"{"scale": {"name": "full"}}"#;
    std::fs::write(tmp.path().join("report.json"), full).unwrap();
    let stderr = refused_before_any_check(tmp.path());
    assert!(stderr.contains("holds a full-scale report"), "{stderr}");
    let kept = std::fs::read_to_string(tmp.path().join("report.json")).unwrap();
    assert_eq!(kept, full);
}
