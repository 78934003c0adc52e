//! The checks. Each builds its experiments with [`Experiment`], runs them through the shared
//! sweep/run code, and turns the trajectories into report rows.

use std::time::Instant;

use experiments::output::{end_state_label, is_settled, run_phases};
use experiments::quantity::{Named, SIN_THETA, TEST_ERROR};
use experiments::run::{build_problem, initial_iterate, RunResult};
use experiments::spec::{AlgorithmKind, AlgorithmSpec, SweepSpec};
use experiments::sweep::RunPoint;
use lowrank_core::analysis::{linear_fit, median, power_law_fit, PhaseThresholds, Phases};
use lowrank_core::linalg::{spectral_norm, symmetric_eigen};
use lowrank_core::rip::rip_lower_estimate;
use lowrank_core::PowerMethodDeparture;

use crate::report::{Check, Comparison, Row};
use crate::{Experiment, Scale};

fn phases(p: &RunPoint, r: &RunResult) -> Phases {
    run_phases(p, r, PhaseThresholds::default())
}

/// Value of quantity `q` at logged iteration `t`.
fn at(r: &RunResult, q: &(impl Named + ?Sized), t: usize) -> f64 {
    let s = r.series(q).unwrap_or_default();
    r.t.iter()
        .position(|&x| x == t)
        .and_then(|i| s.get(i).copied())
        .unwrap_or(f64::NAN)
}

fn last(r: &RunResult, q: &(impl Named + ?Sized)) -> f64 {
    r.series(q)
        .and_then(|s| s.last().copied())
        .unwrap_or(f64::NAN)
}

fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v != 0.0 && (v.abs() < 1e-2 || v.abs() >= 1e4) {
        format!("{v:.2e}")
    } else {
        format!("{v:.3}")
    }
}

fn list<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Numbers in scientific notation, e.g. "1e-2, 1e-3".
fn list_e(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:e}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Groups runs by `key`, in order of first appearance.
fn by<'a, K: PartialEq + Copy>(
    runs: impl IntoIterator<Item = &'a (RunPoint, RunResult)>,
    key: impl Fn(&RunPoint) -> K,
) -> Vec<(K, Vec<&'a (RunPoint, RunResult)>)> {
    let mut out: Vec<(K, Vec<&(RunPoint, RunResult)>)> = Vec::new();
    for pr in runs {
        let k = key(&pr.0);
        match out.iter_mut().find(|(x, _)| *x == k) {
            Some((_, v)) => v.push(pr),
            None => out.push((k, vec![pr])),
        }
    }
    out
}

/// Level ε of the measured departure "first t with ‖U_t − Ũ_t‖ ≥ ε‖Ũ_t‖" set against t_D(ε).
const DEPARTURE_LEVEL: f64 = 0.5;

/// The rows that set GD's measured departure from the power method against Lemma D.1/D.2's lower
/// bound t_D(ε) ([`PowerMethodDeparture`]), per replicate of `group` (runs with spectral diagnostics,
/// one κ): the lemma's own departure (first t with ‖U_t − Ũ_t‖ > ‖Ũ_t‖) against t_D(1), the first t
/// with deviation ≥ 1/2 against t_D(1/2), the ingredients (INFO), and the subspace angle between GD
/// and the power method before the departure. δ is the RIP lower estimate of check 5 per replicate;
/// since the true δ is at least that, the bound used is at least the lemma's (stricter).
///
/// A logged departure t_d (log period k) means the deviation crossed in (t_d − k, t_d]; the earliest
/// possible crossing t_d − k + 1 is what must be ≥ the bound, so a PASS says the crossing is certainly
/// not before it.
pub fn departure_rows(case: &str, group: &[&(RunPoint, RunResult)], r: usize) -> Vec<Row> {
    let mut lemma = Vec::new();
    let mut half = Vec::new();
    let mut shown_lemma = Vec::new();
    let mut shown_half = Vec::new();
    let mut ingredients = Vec::new();
    let mut angle = 0f64;
    let mut angle_measured = true;
    for (p, res) in group {
        let problem = build_problem(p);
        let u0 = initial_iterate(p, &problem);
        let Ok(d) = PowerMethodDeparture::new(&problem, p.step_size, u0.view(), p.alpha) else {
            lemma.push(Comparison::holds("bound computed", false));
            half.push(Comparison::holds("bound computed", false));
            continue;
        };
        let delta = rip_delta(p, r);
        let (b1, b_half) = (d.bound(delta, 1.0), d.bound(delta, DEPARTURE_LEVEL));
        ingredients.push(format!(
            "‖M‖ = {}, ‖U_0ᵀv_1‖ = {}, ‖B‖ = {}, δ̂ = {}: t_D(1) = {} (δ = 0: {}, δ = 1: {})",
            fmt(d.m_norm),
            fmt(d.u0_v1),
            fmt(d.b_norm),
            fmt(delta),
            fmt(b1),
            fmt(d.bound(0.0, 1.0)),
            fmt(d.bound(1.0, 1.0))
        ));
        let dev = res.series("power_deviation").unwrap_or_default();
        let k = p.log_every.max(1);
        let crossing = |pred: &dyn Fn(f64) -> bool| {
            res.t
                .iter()
                .zip(&dev)
                .find(|(_, v)| pred(**v))
                .map(|(t, _)| *t)
        };
        let budget = res.t.last().copied().unwrap_or(0);
        // The deviation is NaN where it cannot be measured (the comparison could not be set up,
        // or Ũ_t's decomposition failed; its norm no longer overflows, see SpectralComparison). A crossing counts if it comes
        // before the first NaN; with none, the departure is after the last measured t (the
        // measurable horizon, at least one log step in); a crossing after a NaN gap is FAIL.
        let first_nan = res
            .t
            .iter()
            .zip(&dev)
            .find(|(_, v)| !v.is_finite())
            .map(|(t, _)| *t);
        let horizon = first_nan.map_or(budget, |t| t.saturating_sub(k));
        // A missing series (no spectral diagnostics) has no NaN and no crossing: without this it
        // would read as "no departure within the budget".
        let measured = dev.iter().any(|v| v.is_finite());
        let judge_departure = |pred: &dyn Fn(f64) -> bool,
                               bound: f64,
                               out: &mut Vec<Comparison>,
                               shown: &mut Vec<String>| {
            match crossing(pred) {
                Some(t) if first_nan.is_none_or(|tn| t < tn) => {
                    shown.push(format!("{t} vs {}", fmt(bound)));
                    let earliest = (t + 1).saturating_sub(k);
                    out.push(Comparison::at_least("departure", earliest as f64, bound));
                }
                Some(t) => {
                    shown.push(format!("{t} after unmeasured steps vs {}", fmt(bound)));
                    out.push(Comparison::holds(
                        "deviation measured before the departure",
                        false,
                    ));
                }
                None => {
                    let tail = if first_nan.is_some() {
                        " (measurable to there)"
                    } else {
                        ""
                    };
                    shown.push(format!("> {horizon}{tail} vs {}", fmt(bound)));
                    out.push(Comparison::holds(
                        "deviation measured",
                        measured && horizon > 0,
                    ));
                    out.push(Comparison::at_least("departure", horizon as f64, bound));
                }
            }
        };
        judge_departure(&|v| v > 1.0, b1, &mut lemma, &mut shown_lemma);
        lemma.push(Comparison::holds("t_D(1) > 0", b1 > 0.0));
        judge_departure(
            &|v| v >= DEPARTURE_LEVEL,
            b_half,
            &mut half,
            &mut shown_half,
        );
        half.push(Comparison::holds("t_D(1/2) > 0", b_half > 0.0));
        let t_half = departure(res);
        let before: Vec<f64> = res
            .t
            .iter()
            .zip(res.series("sin_lt_power").unwrap_or_default())
            .filter(|(t, _)| t_half.is_none_or(|th| **t < th))
            .map(|(_, v)| v)
            .collect();
        // NaN once Ũ_t has lost its r-th direction to rounding; at least one angle must be measured.
        angle_measured &= before.iter().any(|v| v.is_finite());
        angle = before.into_iter().fold(angle, f64::max);
    }
    vec![
        Row::new(
            case.to_string(),
            "Lemma D.1/D.2: first t with ‖U_t − Ũ_t‖ > ‖Ũ_t‖, against its lower bound t_D(1) (per replicate)",
            "≥ t_D(1) = ln(‖M‖‖U_0ᵀv_1‖/(8(1+δ)√min(n,r')α³‖B‖³))/(2 ln(1+μ‖M‖)) > 0",
            shown_lemma.join("; "),
            "departure ≥ t_D(1) (earliest crossing within the log period), t_D(1) > 0",
            lemma,
        ),
        Row::new(
            case.to_string(),
            "first t with ‖U_t − Ũ_t‖ ≥ ‖Ũ_t‖/2, against t_D(1/2) (same bound at level 1/2; per replicate)",
            "≥ t_D(1/2) = t_D(1) − ln 2/(2 ln(1+μ‖M‖)) > 0",
            shown_half.join("; "),
            "departure ≥ t_D(1/2) (earliest crossing within the log period), t_D(1/2) > 0",
            half,
        ),
        Row::new(
            case.to_string(),
            "ingredients of the bound, per replicate (δ̂: RIP lower estimate of rank 2r+1)",
            "t_D(1) grows like ln(1/α)/ln(1+μ‖M‖)",
            ingredients.join("; "),
            "reported, not judged",
            vec![],
        ),
        Row::new(
            case.to_string(),
            "max sin∠(L_t, top-r subspace of Ũ_t) over t before the measured first t with deviation ≥ 1/2",
            "small: before the departure GD and the power method span the same subspace",
            fmt(angle),
            "≤ 0.5",
            vec![
                Comparison::holds("angles measured", angle_measured),
                Comparison::at_most("max angle", angle, 0.5),
            ],
        ),
    ]
}

/// Check 1: alignment at the end of phase I, and GD ≈ power method before it.
pub fn alignment(scale: &Scale) -> Check {
    let start = Instant::now();
    experiments::run::deterministic_decompositions();
    let mut e = Experiment::new("alignment_kappa", scale);
    e.spectral = true;
    e.iterations = scale.kappa_iterations;
    e.sweep.kappa = Some(scale.kappas.clone());
    let runs = e.run();
    let mut rows = Vec::new();
    let mut cs = Vec::new();
    for (kappa, group) in by(&runs, |p| p.kappa.to_bits()) {
        let kappa = f64::from_bits(kappa);
        let mut c_vals = Vec::new();
        let mut dev = Vec::new();
        let mut stars = Vec::new();
        let mut missing = 0;
        for (p, r) in &group {
            let ph = phases(p, r);
            let (Some(t_star), Some(t_1)) = (ph.t_star, ph.t_1) else {
                missing += 1;
                continue;
            };
            c_vals.push(at(r, &SIN_THETA, t_1) * kappa * kappa);
            // NaN-propagating: an unmeasured deviation is shown as NaN, not as 0.
            dev.push(
                r.t.iter()
                    .zip(r.series("power_deviation").unwrap_or_default())
                    .filter(|(t, _)| **t <= t_star)
                    .map(|(_, v)| v)
                    .fold(0f64, |m, v| {
                        if v.is_nan() || m.is_nan() {
                            f64::NAN
                        } else {
                            m.max(v)
                        }
                    }),
            );
            stars.push(t_star as f64);
        }
        let case = format!(
            "κ = {kappa}, r' = {}, {} replicates",
            e.r_prime,
            group.len()
        );
        rows.extend(departure_rows(&case, &group, scale.r));
        if missing > 0 {
            rows.push(Row::new(
                case.clone(),
                "phases detected",
                "t_* and t_1 are reached",
                format!(
                    "{missing} of {} runs never reached t_* or t_1 in {} iterations",
                    group.len(),
                    e.iterations
                ),
                "all runs",
                vec![Comparison::count_at_most(
                    "runs without t_* or t_1",
                    missing,
                    0,
                )],
            ));
            cs.push(f64::NAN);
            continue;
        }
        let c = c_vals.iter().copied().fold(0f64, f64::max);
        cs.push(c);
        rows.push(Row::new(
            case.clone(),
            "c = sin θ(t_1)·κ² (max over replicates)",
            "sin θ ≤ c·κ⁻² with c an absolute constant",
            fmt(c),
            "see the κ-trend row",
            vec![],
        ));
        let d = dev.iter().copied().fold(0f64, f64::max);
        rows.push(Row::new(
            case.clone(),
            "max_{t ≤ t_*} ‖U_t − Ũ_t‖/‖Ũ_t‖ (t_* of the phase detector)",
            "saturates at 1 once the signal reaches the scale of X: GD stops growing, Ũ_t does not",
            format!("{d} (median t_* = {})", fmt(median(&stars))),
            "not judged: its distance to 1 is set by rounding (the departure rows above judge the lemma)",
            vec![],
        ));
    }
    if cs.len() > 1 {
        rows.push(Row::new(
            format!("κ ∈ {{{}}}", list(&scale.kappas)),
            "trend of c = sin θ(t_1)·κ² in κ",
            KAPPA_TREND_THEORY,
            list(&cs.iter().map(|c| fmt(*c)).collect::<Vec<_>>()),
            KAPPA_TREND_NOT_JUDGED,
            vec![],
        ));
    }
    // The same κ trend on a small instance near the theorem's RIP regime (check 2(c)'s n and m;
    // r = 2, since a rank-one X has κ = 1).
    let ir = &scale.in_regime;
    let mut g = Experiment::new("alignment_kappa_in_regime", scale);
    (g.n, g.r, g.m) = (ir.n, 2, ir.m);
    g.r_prime = (10 * g.r).div_ceil(3);
    g.iterations = scale.kappa_iterations;
    g.sweep.kappa = Some(scale.kappas.clone());
    let runs_g = g.run();
    let mut cs_g = Vec::new();
    let mut sines = Vec::new();
    let mut deltas = Vec::new();
    for (_, group) in by(&runs_g, |p| p.kappa.to_bits()) {
        sines.push(median(
            &group
                .iter()
                .filter_map(|(p, r)| phases(p, r).t_1.map(|t| at(r, &SIN_THETA, t)))
                .collect::<Vec<_>>(),
        ));
        let c = group
            .iter()
            .map(|(p, r)| {
                phases(p, r)
                    .t_1
                    .map_or(f64::NAN, |t| at(r, &SIN_THETA, t) * p.kappa * p.kappa)
            })
            .fold(0f64, |a, b| {
                if b.is_nan() || a.is_nan() {
                    f64::NAN
                } else {
                    a.max(b)
                }
            });
        cs_g.push(c);
        deltas.push(rip_delta(&group[0].0, g.r));
    }
    let in_case = format!(
        "near the RIP regime: n = {}, r = 2, m = {}, r' = {}, κ ∈ {{{}}}, {} replicates",
        g.n,
        g.m,
        g.r_prime,
        list(&scale.kappas),
        g.replicates
    );
    rows.push(Row::new(
        in_case.clone(),
        "RIP constant δ_{2r+1} (lower estimate, replicate 0, per κ)",
        "the theorem asks δ ≤ cκ⁻⁴r^(−1/2): at a fixed m, met for small κ only (δ falls with m)",
        list(&deltas.iter().map(|d| fmt(*d)).collect::<Vec<_>>()),
        "reported, not judged",
        vec![],
    ));
    rows.push(Row::new(
        in_case.clone(),
        "median sin θ(t_1) per κ",
        "≤ cκ⁻²; at fixed m it cannot fall below the angle between L and col(X), which δ (i.e. m) sets",
        list(&sines.iter().map(|v| fmt(*v)).collect::<Vec<_>>()),
        "reported, not judged (reads the trend row below)",
        vec![],
    ));
    let all_found = cs_g.iter().all(|c| c.is_finite());
    rows.push(Row::new(
        in_case.clone(),
        "every run reaches t_1 (the end of phase II)",
        "phase II ends within the budget: σ_r(V_Xᵀ U_t) reaches σ_min(X)/√10",
        (if all_found { "yes" } else { "no" }).to_string(),
        "every run reaches t_1",
        vec![Comparison::holds("every run reaches t_1", all_found)],
    ));
    rows.push(Row::new(
        in_case,
        "trend of c = sin θ(t_1)·κ² in κ (max over replicates)",
        KAPPA_TREND_THEORY,
        list(&cs_g.iter().map(|c| fmt(*c)).collect::<Vec<_>>()),
        KAPPA_TREND_NOT_JUDGED,
        vec![],
    ));
    let deltas_read = list(&deltas.iter().map(|d| fmt(*d)).collect::<Vec<_>>());
    // Alignment against the width r'.
    let mut w = Experiment::new("alignment_width", scale);
    let widths = [scale.r, 2 * scale.r, 5 * scale.r, scale.n];
    w.sweep.r_prime = Some(widths.to_vec());
    let runs_w = w.run();
    let mut med = Vec::new();
    for (rp, group) in by(&runs_w, |p| p.r_prime) {
        let s: Vec<f64> = group
            .iter()
            .filter_map(|(p, r)| phases(p, r).t_1.map(|t| at(r, &SIN_THETA, t)))
            .collect();
        med.push((rp, median(&s)));
    }
    let first = med.first().map_or(f64::NAN, |m| m.1);
    let lastv = med.last().map_or(f64::NAN, |m| m.1);
    rows.push(Row::new(
        format!("κ = 2, r' ∈ {{{}}}", list(&widths)),
        "median sin θ(t_1) against r'",
        "alignment improves or does not degrade as r' grows",
        med.iter()
            .map(|(rp, v)| format!("r'={rp}: {}", fmt(*v)))
            .collect::<Vec<_>>()
            .join("; "),
        "value at r' = n ≤ 1.25 × value at r' = r",
        vec![Comparison::at_most("value at r' = n", lastv, 1.25 * first)],
    ));
    Check {
        id: "1".into(),
        title: "Alignment after phase I; GD follows the power method".into(),
        setup: format!(
            "n = {}, r = {}, m = {}, α = 1e-6, r' = {}, κ ∈ {{{}}}, {} replicates, {} iterations, logged every 2; \
             the same κ sweep near the RIP regime (n = {}, r = 2, m = {}); then κ = 2 with r' ∈ {{{}}}. Seeds: base {} (kappa \
             sweeps), {} (width sweep).",
            scale.n, scale.r, scale.m, e.r_prime, list(&scale.kappas), scale.replicates, e.iterations, ir.n, ir.m,
            list(&widths), e.seed, w.seed
        ),
        assumptions: "Outside: the theorem needs δ_{2r+1} ≤ cκ⁻⁴r^(−1/2); check 5 measures δ for this m.".into(),
        reading: format!(
            "t_* is detected with a sin θ threshold (0.3), so sin θ(t_*) is bounded by construction; the alignment \
                  is therefore measured at t_1, the end of phase II, which the proof also keeps below cκ⁻². The κ-trend \
                  rows are not judged: sin θ ≤ cκ⁻² is an upper bound with an unknown constant, proved under \
                  δ ≤ cκ⁻⁴r^(−1/2), so at a fixed m it predicts no trend in κ (the larger κ leave the regime first), \
                  and a test of the κ⁻² factor needs m growing like κ⁸. Until 2026-12-06 they were judged (each c ≤ 2 × \
                  the previous) and failed. At the base m sin θ(t_1) does not shrink like κ⁻²: c = sin θ·κ² grows \
                  about like κ². This m is far outside the theorem's regime (check 5); what sets sin θ(t_1) here is \
                  not established by these rows (it is not the angle between L and col X, which an independent review \
                  measured larger: about 0.24, 0.62 and 0.99 for κ = 1, 2, 4). The power-method rows test Lemma D.1/D.2 (in the form `lowrank_core::PowerMethodDeparture` \
                  states, from the restatement by Karnik et al.; its constants are not in the shared notes): GD stays within a \
                  relative deviation ε of the power iterate Ũ_t = (I + μM)^t U_0 at least until t_D(ε) = \
                  ln(ε‖M‖‖U_0ᵀv_1‖/(8(1+δ)√min(n,r')α³‖B‖³))/(2 ln(1+μ‖M‖)); each replicate's measured departure is set \
                  against that bound with its own instance, U_0 and δ̂ (a lower estimate of δ, so the bound used is the \
                  strictest the lemma allows). The lemma's own departure (deviation > 1) is an edge event: the deviation tends to \
                  1 from below once GD saturates at the scale of X while Ũ_t keeps growing, so whether and when it \
                  exceeds 1 is decided by rounding (on some CPUs never within the budget); the level-1/2 departure is \
                  the informative one. A FAIL of a departure row would mean GD left the power method earlier than the \
                  lemma allows; a negative bound means α is too large for the lemma to say anything (also FAIL). The \
                  subspace-angle row is measured before the measured level-1/2 departure (later than the bound \
                  t_D(1/2)). The maximum deviation up to the phase detector's t_* is shown (INFO): where t_* comes after \
                  the departure it is near its saturation value 1; where t_* comes before it the deviation is \
                  still small. \
                  Near the RIP regime (n = {}, m = {}, δ̂ = {} per κ) sin θ(t_1) is small for every κ but, at the full \
                  scale, does not fall with κ (per replicate it is nearly the same at κ = 2 and 4; measured with α \
                  down to 1e-10 while developing the check: sin θ(t_1) did not move). The theorem's assumption \
                  δ ≤ cκ⁻⁴r^(−1/2) ties m to κ⁸, so at a fixed m the κ⁻² factor need not show.",
            ir.n, ir.m, deltas_read
        ),
        rows,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// What the theorem says of c = sin θ(t_1)·κ² across κ, and why the trend rows are not judged.
const KAPPA_TREND_THEORY: &str =
    "sin θ ≤ cκ⁻² with c an absolute constant, under δ ≤ cκ⁻⁴r^(−1/2): no trend at a fixed m";
const KAPPA_TREND_NOT_JUDGED: &str =
    "reported, not judged: at a fixed m the larger κ leave the theorem's regime first";

/// Eigenvalues λ_1 ≥ … of M = 𝒜*𝒜(XXᵀ) for the instance of `p`.
fn spectral_eigenvalues(p: &RunPoint) -> Vec<f64> {
    let problem = build_problem(p);
    symmetric_eigen(problem.spectral_matrix().view()).map_or_else(|_| vec![], |(l, _)| l.to_vec())
}

/// The prediction interval [2(1−ρ_r), 2(1−ρ_1)] of each replicate's instance (median over
/// replicates), ρ_j = ln(1 + μλ_{r+1}) / ln(1 + μλ_j) with λ the eigenvalues of 𝒜*𝒜(XXᵀ).
fn rho_interval(runs: &[(RunPoint, RunResult)], r: usize, mu: f64) -> (f64, f64) {
    let mut lo = Vec::new();
    let mut hi = Vec::new();
    for (_, group) in by(runs, |p| p.replicate) {
        let l = spectral_eigenvalues(&group[0].0);
        if l.len() > r {
            let rho = |j: usize| (1.0 + mu * l[r]).ln() / (1.0 + mu * l[j]).ln();
            lo.push(2.0 * (1.0 - rho(r - 1)));
            hi.push(2.0 * (1.0 - rho(0)));
        }
    }
    (median(&lo), median(&hi))
}

/// Errors below this are at the rounding floor of ‖UUᵀ − XXᵀ‖_F/‖XXᵀ‖_F (about 1e-15 in f64) and
/// are left out of exponent fits, which would otherwise flatten at the smallest α.
const ROUNDING_FLOOR: f64 = 1e-12;

/// The fitted exponent p of final error ∝ α^p for one width, with what a reader needs to weigh it.
#[derive(Debug, Clone, Copy)]
struct AlphaExponent {
    /// Least-squares slope of log(median final test error) on log α over the α used.
    p: f64,
    /// R² of that fit.
    r_squared: f64,
    /// The same slope over the smaller half of the α used (at least 2): the end where the
    /// theorem's small-α bound applies.
    p_small: f64,
    /// Number of α in the fit.
    used: usize,
    /// Runs left out because they had not settled.
    unsettled: usize,
}

impl AlphaExponent {
    /// "p (R² = …; smallest k α: …)".
    fn shown(&self) -> String {
        format!(
            "{} (R² = {}; smallest {} α: {})",
            fmt(self.p),
            fmt(self.r_squared),
            self.used.div_ceil(2).max(2).min(self.used),
            fmt(self.p_small)
        )
    }
}

/// [`AlphaExponent`] of the completed runs of width r', over the α whose median error is above
/// [`ROUNDING_FLOOR`] and whose runs all settled.
fn alpha_exponent(runs: &[(RunPoint, RunResult)], r_prime: usize) -> AlphaExponent {
    let sel: Vec<&(RunPoint, RunResult)> = runs
        .iter()
        .filter(|(p, r)| p.r_prime == r_prime && r.status == "completed")
        .collect();
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    let mut unsettled = 0;
    for (a, group) in by(sel.iter().copied(), |p| p.alpha.to_bits()) {
        // A final error is a floor only if the run settled; an α with an unsettled run is left out.
        let open = group
            .iter()
            .filter(|(p, r)| !is_settled(&end_state_label(p, r, PhaseThresholds::default())))
            .count();
        unsettled += open;
        let err = median(
            &group
                .iter()
                .map(|(_, r)| last(r, &TEST_ERROR))
                .collect::<Vec<_>>(),
        );
        if open == 0 && err > ROUNDING_FLOOR {
            xs.push(f64::from_bits(a));
            ys.push(err);
        }
    }
    let (p, r_squared) =
        power_law_fit(&xs, &ys).map_or((f64::NAN, f64::NAN), |f| (f.slope, f.r_squared));
    // The α arrive in the sweep's order; the smaller half is the one with the smallest values.
    let mut pairs: Vec<(f64, f64)> = xs.iter().copied().zip(ys.iter().copied()).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let k = xs.len().div_ceil(2).max(2).min(xs.len());
    let (sx, sy): (Vec<f64>, Vec<f64>) = pairs[..k].iter().copied().unzip();
    let p_small = power_law_fit(&sx, &sy).map_or(f64::NAN, |f| f.slope);
    AlphaExponent {
        p,
        r_squared,
        p_small,
        used: xs.len(),
        unsettled,
    }
}

/// The rows of one (instance family, width) case: p next to 21/16, and p against the interval.
fn exponent_rows(
    case: String,
    fit: AlphaExponent,
    (lo, hi): (f64, f64),
    inside: Option<f64>,
) -> [Row; 2] {
    let AlphaExponent {
        p, used, unsettled, ..
    } = fit;
    let case = if unsettled > 0 {
        format!(
            "{case} [{used} α in the fit; {unsettled} unsettled run{} left out with {} α]",
            if unsettled == 1 { "" } else { "s" },
            if unsettled == 1 { "its" } else { "their" }
        )
    } else {
        format!("{case} [{used} α in the fit]")
    };
    let first = match inside {
        Some(delta) => Row::new(
            case.clone(),
            "fitted p in final error ∝ α^p",
            "p ≥ 21/16 = 1.3125 inside the theorem's regime",
            fit.shown(),
            &format!(
                "≥ 1.3125 (near the regime: δ̂ = {}, see the assumptions)",
                fmt(delta)
            ),
            vec![Comparison::at_least("p", p, 21.0 / 16.0)],
        ),
        None => Row::new(
            case.clone(),
            "fitted p in final error ∝ α^p",
            "p ≥ 21/16 = 1.3125 inside the theorem's regime",
            fit.shown(),
            "not applicable: outside the RIP regime (check 5)",
            vec![],
        ),
    };
    [
        first,
        Row::new(
            case,
            "p against [2(1−ρ_r), 2(1−ρ_1)]",
            "p ∈ [2(1−ρ_r), 2(1−ρ_1)] (our conjecture, not in the paper)",
            format!("{} ∈ [{}, {}]?", fmt(p), fmt(lo), fmt(hi)),
            "± 0.1",
            vec![
                Comparison::at_least("p", p, lo - 0.1),
                Comparison::at_most("p", p, hi + 0.1),
            ],
        ),
    ]
}

/// Lower estimate of δ_{2r+1} of the instance of `p`: 20 random rank-(2r+1) matrices and 8
/// projected power steps toward each sign, seeded by the instance's operator seed.
fn rip_delta(p: &RunPoint, r: usize) -> f64 {
    let problem = build_problem(p);
    rip_lower_estimate(problem.operator.as_ref(), 2 * r + 1, 20, 8, p.operator_seed)
        .unwrap_or(f64::NAN)
}

/// Check 2: the exponent of the error floor in α.
pub fn error_exponent(scale: &Scale) -> Check {
    let start = Instant::now();
    experiments::run::deterministic_decompositions();
    let mu = 0.25;
    let r = scale.r;
    let widths = [2 * r, scale.n];
    let mut rows = Vec::new();
    let mut seeds = Vec::new();
    let mut per_width: Vec<Vec<(usize, f64)>> = vec![Vec::new(); widths.len()];
    let sweep = |widths: &[usize]| SweepSpec {
        alpha: Some(scale.alphas.clone()),
        r_prime: Some(widths.to_vec()),
        ..SweepSpec::default()
    };
    // m sweep at κ = 2.
    for &m in &scale.m_list {
        let mut e = Experiment::new(&format!("exponent_m{m}"), scale);
        e.m = m;
        e.log_every = 10;
        e.sweep = sweep(&widths);
        seeds.push(e.seed);
        let runs = e.run();
        let interval = rho_interval(&runs, r, mu);
        for (wi, &rp) in widths.iter().enumerate() {
            let fit = alpha_exponent(&runs, rp);
            per_width[wi].push((m, fit.p));
            let case = format!(
                "κ = 2, m = {m} ({:.1}·nr), r' = {rp}",
                m as f64 / (scale.n * r) as f64
            );
            rows.extend(exponent_rows(case, fit, interval, None));
        }
    }
    for (wi, &rp) in widths.iter().enumerate() {
        let ps: Vec<f64> = per_width[wi].iter().map(|x| x.1).collect();
        let comparisons = ps
            .windows(2)
            .map(|w| Comparison::at_least("next p", w[1], w[0] - 0.1))
            .collect();
        rows.push(Row::new(
            format!("κ = 2, r' = {rp}, m ∈ {{{}}}", list(&scale.m_list)),
            "p against m",
            "p increases with m towards 2 (conjecture)",
            list(&ps.iter().map(|p| fmt(*p)).collect::<Vec<_>>()),
            "non-decreasing within 0.1",
            comparisons,
        ));
    }
    // κ sweep at the base m (κ = 2 is in the m sweep). The time scale is 1/(μσ_min²) = κ²/μ, so
    // the iteration budget grows with κ² to reach the floor at the smallest α.
    for &kappa in scale.kappas.iter().filter(|&&k| k != 2.0) {
        let mut e = Experiment::new(&format!("exponent_kappa{kappa}"), scale);
        e.kappa = kappa;
        e.log_every = 10;
        e.iterations = (scale.iterations as f64 * (3.0 * kappa * kappa / 16.0).max(1.0)) as usize;
        e.sweep = sweep(&widths);
        seeds.push(e.seed);
        let runs = e.run();
        let interval = rho_interval(&runs, r, mu);
        for &rp in &widths {
            let fit = alpha_exponent(&runs, rp);
            let case = format!(
                "κ = {kappa}, m = {} ({:.1}·nr), r' = {rp}, {} iterations",
                scale.m,
                scale.m as f64 / (scale.n * r) as f64,
                e.iterations
            );
            rows.extend(exponent_rows(case, fit, interval, None));
        }
    }
    // A small instance inside the theorem's regime: δ_{2r+1} small, so 21/16 is a prediction.
    let tiny = &scale.in_regime;
    let mut e = Experiment::new("exponent_in_regime", scale);
    (e.n, e.r, e.m, e.kappa) = (tiny.n, tiny.r, tiny.m, 1.0);
    e.r_prime = 2 * tiny.r;
    e.log_every = 10;
    let tiny_widths = [2 * tiny.r, tiny.n];
    e.sweep = sweep(&tiny_widths);
    seeds.push(e.seed);
    let runs = e.run();
    // The largest δ estimate over the replicates' instances (p is fitted over all of them).
    let delta = by(&runs, |p| p.replicate)
        .iter()
        .map(|(_, group)| rip_delta(&group[0].0, tiny.r))
        .fold(f64::NAN, f64::max);
    let interval = rho_interval(&runs, tiny.r, mu);
    for &rp in &tiny_widths {
        let fit = alpha_exponent(&runs, rp);
        let case = format!(
            "near the regime: n = {}, r = {}, κ = 1, m = {} (largest δ_{{2r+1}} estimate over replicates {}), r' = {rp}",
            tiny.n,
            tiny.r,
            tiny.m,
            fmt(delta)
        );
        rows.extend(exponent_rows(case, fit, interval, Some(delta)));
    }
    Check {
        id: "2".into(),
        title: "Error floor against α: exponent 21/16 and the spectral-gap prediction".into(),
        setup: format!(
            "n = {}, r = {}, μ = 0.25, α ∈ {{{}}}, {} replicates (each redraws X, 𝒜, B), log every 10 iterations. \
             (a) κ = 2, m ∈ {{{}}} (the last above n(n+1)/2 = {}), r' ∈ {{{}}}, {} iterations; \
             (b) κ ∈ {{{}}} at m = {}, same widths, iterations scaled with κ² (stated per row); \
             (c) near the regime: n = {}, r = {}, κ = 1, m = {}, r' ∈ {{{}}}, {} iterations. \
             p is the least-squares slope of log(median final test error) on log α, over the α whose median error is above \
             1e-12 (below that the error is at the rounding floor of f64; the number of α used is in each case), shown with the fit's R² \
             and the slope over the smaller half of those α (the end where the theorem's small-α bound applies; not judged). \
             λ_j are eigenvalues of M = 𝒜*𝒜(XXᵀ) of each replicate's instance, ρ_j = ln(1 + μλ_{{r+1}})/ln(1 + μλ_j) (median over replicates). \
             Seeds: base {}.",
            scale.n, r, list_e(&scale.alphas), scale.replicates,
            list(&scale.m_list), scale.n * (scale.n + 1) / 2, list(&widths), scale.iterations,
            list(&scale.kappas), scale.m,
            tiny.n, tiny.r, tiny.m, list(&tiny_widths), scale.iterations,
            seeds.first().copied().unwrap_or(0)
        ),
        assumptions: "(a), (b) outside: the theorem's δ_{2r+1} ≤ cκ⁻⁴r^(−1/2) would need m ≳ κ⁸r²n; check 5 reports the measured δ. \
                      (c) near the regime: the lower estimate of δ_{2r+1} is small (stated in the row), so the operator is not \
                      shown to be outside, but a lower estimate cannot show it inside (the true δ may be larger; the paper does \
                      not give c); and the α used are far above the theorem's requirement α ≲ (Cκ²√n/√min(n,r'))^(−16κ²). \
                      Its PASS says the error falls at least as fast as α^(21/16) on an instance this close to the regime, \
                      not that the theorem's conditions were verified."
            .into(),
        reading: "The theorem's 21/16 bounds the error's exponent inside its regime, so outside it the measured p is reported, \
                  not judged; in (c) it is judged (PASS means the error falls at least as fast as α^(21/16)). The interval \
                  prediction says the floor is set by how much the noise directions grow during the power-method phase \
                  relative to the signal: noise ∝ α·(1+μλ_{r+1})^t while the signal needs t ≈ ln(1/α)/ln(1+μλ_j) to grow, giving \
                  error ∝ α^(2(1−ρ_j)). A FAIL there means that picture is incomplete for that case (e.g. at m above n(n+1)/2, \
                  where 𝒜 is injective and the floor is no longer set by the noise growth)."
            .into(),
        rows,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// The first logged t with ‖U_t − Ũ_t‖ ≥ [`DEPARTURE_LEVEL`]·‖Ũ_t‖ (GD leaves the power method), if
/// it comes before the deviation is first unmeasurable (NaN).
fn departure(res: &RunResult) -> Option<usize> {
    let dev = res.series("power_deviation")?;
    let i = dev
        .iter()
        .position(|v| !v.is_finite() || *v >= DEPARTURE_LEVEL)
        .filter(|&i| dev[i].is_finite())?;
    Some(res.t[i])
}

/// [`departure`] and tan∠(L_t, L) there.
fn departure_alignment(res: &RunResult) -> Option<(usize, f64)> {
    let t = departure(res)?;
    let s = at(res, "sin_lt_l", t);
    Some((t, s / (1.0 - s * s).sqrt()))
}

/// Check 3: GD leaves the power method at t_D ≈ ln(1/α)/ln(1+μλ_1), aligned with L to within
/// tan ∝ α^q; t_*, t_1 and t_hat grow linearly in ln(1/α).
pub fn iteration_counts(scale: &Scale) -> Check {
    let start = Instant::now();
    experiments::run::deterministic_decompositions();
    let mut e = Experiment::new("iteration_counts", scale);
    let mut alphas = scale.alphas.clone();
    alphas.push(alphas.last().map_or(1e-10, |a| a / 10.0));
    e.iterations = scale.iterations + 200;
    e.spectral = true;
    e.sweep.alpha = Some(alphas.clone());
    let runs = e.run();
    let mu = 0.25;
    let sigma = 1.0 / e.kappa;
    let theory_scale = 1.0 / (mu * sigma * sigma);
    let mut rows = Vec::new();

    // Phase I as the power method, per replicate (its X, 𝒜 and B are shared by every α).
    let mut slope_shown = Vec::new();
    let mut slope_cmp = Vec::new();
    let mut q_shown = Vec::new();
    let mut q_cmp = Vec::new();
    for (rep, group) in by(&runs, |p| p.replicate) {
        let l = spectral_eigenvalues(&group[0].0);
        let r = e.r;
        if l.len() <= r {
            slope_cmp.push(Comparison::holds("eigenvalues of M computed", false));
            q_cmp.push(Comparison::holds("eigenvalues of M computed", false));
            continue;
        }
        let growth = (1.0 + mu * l[0]).ln();
        let gap = ((1.0 + mu * l[r - 1]) / (1.0 + mu * l[r])).ln();
        let (slope_pred, q_pred) = (1.0 / growth, gap / growth);
        let mut xs = Vec::new();
        let mut ts = Vec::new();
        let mut tans = Vec::new();
        let mut missing = 0;
        for (p, res) in &group {
            match departure_alignment(res) {
                Some((t, tan)) => {
                    xs.push(p.alpha);
                    ts.push(t as f64);
                    tans.push(tan);
                }
                None => missing += 1,
            }
        }
        let ln_inv: Vec<f64> = xs.iter().map(|a| (1.0 / a).ln()).collect();
        let (slope, r2) =
            linear_fit(&ln_inv, &ts).map_or((f64::NAN, f64::NAN), |f| (f.slope, f.r_squared));
        let (q, q_r2) =
            power_law_fit(&xs, &tans).map_or((f64::NAN, f64::NAN), |f| (f.slope, f.r_squared));
        slope_shown.push(format!(
            "replicate {rep}: {} / {} = {} (R² = {}; t_D = {}…{})",
            fmt(slope),
            fmt(slope_pred),
            fmt(slope / slope_pred),
            fmt(r2),
            ts.first().map_or("n/a".into(), |t| format!("{t}")),
            ts.last().map_or("n/a".into(), |t| format!("{t}")),
        ));
        slope_cmp.push(Comparison::count_at_most(
            "runs without a departure",
            missing,
            0,
        ));
        slope_cmp.push(Comparison::at_least("R²", r2, 0.98));
        slope_cmp.push(Comparison::at_least("ratio", slope / slope_pred, 0.9));
        slope_cmp.push(Comparison::at_most("ratio", slope / slope_pred, 1.1));
        let sin_l_x = group[0].1.spectral_regime.map_or(f64::NAN, |g| g.sin_l_x);
        q_shown.push(format!(
            "replicate {rep}: {} / {} = {} (R² = {}; tan = {}…{}; λ_1, λ_r, λ_(r+1) = {}, {}, {}; sin∠(L, col X) = {})",
            fmt(q),
            fmt(q_pred),
            fmt(q / q_pred),
            fmt(q_r2),
            tans.first().map_or("n/a".into(), |v| fmt(*v)),
            tans.last().map_or("n/a".into(), |v| fmt(*v)),
            fmt(l[0]),
            fmt(l[r - 1]),
            fmt(l[r]),
            fmt(sin_l_x),
        ));
        q_cmp.push(Comparison::count_at_most(
            "runs without a departure",
            missing,
            0,
        ));
        q_cmp.push(Comparison::at_least("exponent / q", q / q_pred, 1.0));
    }
    rows.push(Row::new(
        format!("{} α values × {} replicates", alphas.len(), scale.replicates),
        "t_D = first t with ‖U_t − Ũ_t‖ ≥ ‖Ũ_t‖/2: slope in ln(1/α), against 1/ln(1+μλ_1)",
        "t_D = ln(1/α)/ln(1+μλ_1) + O(1): the power iterate grows like α(1+μλ_1)^t until it reaches the scale of X",
        slope_shown.join("; "),
        "ratio in [0.9, 1.1] and R² ≥ 0.98 per replicate, every run departs",
        slope_cmp,
    ));
    rows.push(Row::new(
        format!("{} α values × {} replicates", alphas.len(), scale.replicates),
        "fitted exponent of tan∠(L_t, L) at t_D in α, against q = ln((1+μλ_r)/(1+μλ_(r+1)))/ln(1+μλ_1)",
        "the power method's bound tan∠(L_t, L) ≤ C((1+μλ_(r+1))/(1+μλ_r))^t at t = t_D gives tan ≤ C'α^q: the smaller α, the longer \
         the power method runs and the closer GD is to spectral initialization when it leaves it",
        q_shown.join("; "),
        "exponent ≥ q per replicate (the bound's rate; faster is allowed), every run departs",
        q_cmp,
    ));

    for (name, pick) in [
        ("t_*", (|p: Phases| p.t_star) as fn(Phases) -> Option<usize>),
        ("t_1", |p: Phases| p.t_1),
        ("t_hat", |p: Phases| p.t_hat),
    ] {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        let mut missing = 0;
        let mut alphas_seen = Vec::new();
        for (a, group) in by(&runs, |p| p.alpha.to_bits()) {
            alphas_seen.push(f64::from_bits(a));
            let v: Vec<f64> = group
                .iter()
                .filter_map(|(p, r)| pick(phases(p, r)).map(|t| t as f64))
                .collect();
            missing += group.len() - v.len();
            xs.push((1.0 / f64::from_bits(a)).ln());
            ys.push(median(&v));
        }
        let fit = linear_fit(&xs, &ys);
        let (slope, r2) = fit.map_or((f64::NAN, f64::NAN), |f| (f.slope, f.r_squared));
        // The medians the fit is over, largest α first, so a reader can see which α bends it.
        let mut per_alpha: Vec<(f64, f64)> = alphas_seen
            .iter()
            .copied()
            .zip(ys.iter().copied())
            .collect();
        per_alpha.sort_by(|a, b| b.0.total_cmp(&a.0));
        let per_alpha: Vec<String> = per_alpha
            .iter()
            .map(|(a, y)| format!("α = {a:e}: {}", fmt(*y)))
            .collect();
        rows.push(Row::new(
            format!(
                "{name}, {} α values × {} replicates{}",
                xs.len(),
                scale.replicates,
                if missing > 0 {
                    format!(" ({missing} runs without {name})")
                } else {
                    String::new()
                }
            ),
            "R² of median iteration vs ln(1/α), and its slope",
            "linear in ln(1/α), growing",
            format!("R² = {}, slope = {}", fmt(r2), fmt(slope)),
            "R² ≥ 0.98, slope > 0, every run has it",
            vec![
                Comparison::at_least("R²", r2, 0.98),
                Comparison::holds("slope > 0", slope > 0.0),
                Comparison::count_at_most("runs without it", missing, 0),
            ],
        ));
        rows.push(Row::new(
            name.to_string(),
            "median per α (the points of the fit above)",
            "grows like ln(1/α)",
            per_alpha.join("; "),
            "reported, not judged (the fit above judges them)",
            vec![],
        ));
        rows.push(Row::new(
            name.to_string(),
            "slope / (1/(μσ_min(X)²))",
            "O(1): lengths scale like ln(1/α)/(μσ_min(X)²)",
            format!(
                "{} / {} = {}",
                fmt(slope),
                fmt(theory_scale),
                fmt(slope / theory_scale)
            ),
            "reported, not judged (constants unspecified)",
            vec![],
        ));
    }
    Check {
        id: "3".into(),
        title: "Iteration counts grow like ln(1/α)".into(),
        setup: format!(
            "n = {}, r = {}, m = {}, κ = 2, μ = 0.25, r' = {}, α ∈ {{{}}}, {} replicates (each redraws X, 𝒜, B; the α share them), {} iterations logged every 2, \
             with the power-method comparison (Ũ_t = (I + μM)^t U_0, M = 𝒜*𝒜(XXᵀ) with eigenvalues λ_1 ≥ λ_2 ≥ …, L its top-r eigenspace, \
             L_t the top-r left singular subspace of U_t). Seed: base {}.",
            scale.n, scale.r, scale.m, e.r_prime, list_e(&alphas), scale.replicates, e.iterations, e.seed
        ),
        assumptions: "Outside the RIP regime (check 5), and α far above the theorem's requirement \
                      α ≲ (Cκ²√n/√min(n,r'))^(−16κ²) (below 1e-70 here for C = 1); the ln(1/α) scaling is expected to hold more generally."
            .into(),
        reading: "Phase I read as the power method (first two rows). GD leaves the power iterate Ũ_t when Ũ_t, growing like \
                  α(1+μλ_1)^t, reaches the scale of X, so t_D grows like ln(1/α) with slope 1/ln(1+μλ_1) and no free constant. \
                  Until then L_t turns towards L as the power method does, at least at the rate of the gap (1+μλ_r)/(1+μλ_(r+1)) \
                  (q is the asymptotic rate; over a finite range of α the power method itself shows larger exponents: Ũ_t \
                  simulated alone on spectra like these gave 1.8–6 × q between α = 1e-2 and 1e-10), so the alignment reached \
                  at t_D improves like α^q or faster. The proof's t_* ≍ ln(κ²√n/√min(n,r'))/(μσ_min²) is α-free because its α is \
                  small enough for this alignment to be complete before t_D; at these α it is not (tan∠(L_t, L) at t_D is \
                  listed), and L itself is far from col X (sin∠(L, col X) listed). The detector's t_* (sin θ against col X ≤ 0.3 \
                  and signal ≥ 2× noise) therefore comes after t_D, once GD turns from L towards col X, i.e. in what the proof calls \
                  phase II, and it grows with ln(1/α) as t_D does: its row tests the detector's t_*, not the proof's α-free one. \
                  The theorem bounds t_hat by C/(μσ_min(X)²)·ln(C'/α) and phase II by 16/(μσ_min²)·ln(1/γ). A FAIL of R² means \
                  a length does not follow ln(1/α); a length that does not grow fails on its slope (a flat series has no R²). \
                  For t_hat (first t within 2× of the final error) a FAIL typically comes from the largest α: the floor is \
                  high and the error still drifts slowly at the horizon, so the criterion fires late."
            .into(),
        rows,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// Check 4: error and phase-I length against the width r'; near-exact parameterization.
pub fn overparameterization(scale: &Scale) -> Check {
    let start = Instant::now();
    experiments::run::deterministic_decompositions();
    let (n, r) = (scale.n, scale.r);
    let kappa: f64 = 2.0;
    let mut e = Experiment::new("width", scale);
    e.sweep.r_prime = Some(scale.widths.clone());
    let runs = e.run();
    let mut errs = Vec::new();
    let mut tstars = Vec::new();
    for (rp, group) in by(&runs, |p| p.r_prime) {
        errs.push((
            rp,
            median(
                &group
                    .iter()
                    .map(|(_, r)| last(r, &TEST_ERROR))
                    .collect::<Vec<_>>(),
            ),
        ));
        tstars.push((
            rp,
            median(
                &group
                    .iter()
                    .filter_map(|(p, r)| phases(p, r).t_star.map(|t| t as f64))
                    .collect::<Vec<_>>(),
            ),
        ));
    }
    let factor = |rp: usize| {
        let k = n.min(rp) as f64;
        (k - r as f64).powf(3.0 / 8.0) * ((n as f64).sqrt() / k.sqrt()).powf(21.0 * kappa * kappa)
    };
    let ev: Vec<f64> = errs.iter().map(|x| x.1).collect();
    let emax = ev.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let emin = ev.iter().copied().fold(f64::INFINITY, f64::min);
    let fv: Vec<f64> = scale.widths.iter().map(|&w| factor(w)).collect();
    let fratio = fv.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        / fv.iter().copied().fold(f64::INFINITY, f64::min);
    let mut rows = vec![
        Row::new(
            format!("α = 1e-6, r' ∈ {{{}}}", list(&scale.widths)),
            "median final test error per r'; max/min",
            "bounded in r'; the theorem allows a factor (min(n,r')−r)^(3/8)(√n/√min(n,r'))^(21κ²) (constants 1)",
            format!("{}; max/min = {}; theorem factor max/min = {}", errs.iter().map(|(w, v)| format!("r'={w}: {}", fmt(*v))).collect::<Vec<_>>().join(", "), fmt(emax / emin), fmt(fratio)),
            "max/min ≤ 10 (the theorem's factor ratio, listed, allows far more and is not a test)",
            vec![Comparison::at_most("max/min", emax / emin, 10.0)],
        ),
    ];
    let t0 = tstars.first().map_or(f64::NAN, |t| t.1);
    let comparisons = tstars
        .iter()
        .map(|t| Comparison::at_most("t_*", t.1, 1.1 * t0 + 2.0))
        .collect();
    rows.push(Row::new(
        format!("α = 1e-6, r' ∈ {{{}}}", list(&scale.widths)),
        "median t_* per r'",
        "phase I does not get longer as r' grows",
        tstars
            .iter()
            .map(|(w, v)| format!("r'={w}: {}", fmt(*v)))
            .collect::<Vec<_>>()
            .join(", "),
        "every t_* ≤ 1.1 × t_*(2r) + one log step",
        comparisons,
    ));
    // Near exact parameterization: r' = r, r + 1, many draws of B on one instance.
    let mut x = Experiment::new("near_exact", scale);
    x.replicates = scale.near_exact_replicates;
    x.share_instance = true;
    x.sweep.r_prime = Some(vec![r, r + 1, 2 * r]);
    let runs_x = x.run();
    let reference = median(
        &runs_x
            .iter()
            .filter(|(p, _)| p.r_prime == 2 * r)
            .filter_map(|(p, res)| phases(p, res).t_star.map(|t| t as f64))
            .collect::<Vec<_>>(),
    );
    let mut fracs = Vec::new();
    for rp in [r, r + 1] {
        let sel: Vec<_> = runs_x.iter().filter(|(p, _)| p.r_prime == rp).collect();
        let slow = sel
            .iter()
            .filter(|(p, res)| {
                phases(p, res)
                    .t_star
                    .is_none_or(|t| t as f64 > 1.5 * reference)
            })
            .count();
        fracs.push(slow as f64 / sel.len() as f64);
        rows.push(Row::new(
            format!("r' = {rp}, {} draws of B on one instance", sel.len()),
            "fraction with t_* > 1.5 × median t_* at r' = 2r",
            "≤ (Cε)^(r'−r+1) + Ce^(−cr'): rare, rarer for r' = r + 1",
            format!(
                "{} (reference t_* = {})",
                fmt(slow as f64 / sel.len() as f64),
                fmt(reference)
            ),
            "see the next row",
            vec![],
        ));
    }
    rows.push(Row::new(
        "r' = r vs r + 1".into(),
        "fraction of slow phase I",
        "does not increase from r' = r to r' = r + 1",
        format!("{} → {}", fmt(fracs[0]), fmt(fracs[1])),
        format!(
            "reported, not judged: with {} draws each, fractions this small differ by a draw or two, \
             which no comparison can read as a trend",
            scale.near_exact_replicates
        )
        .as_str(),
        vec![],
    ));
    Check {
        id: "4".into(),
        title: "Error and phase I against the width r'".into(),
        setup: format!(
            "n = {n}, r = {r}, m = {}, κ = 2, μ = 0.25, α = 1e-6, r' ∈ {{{}}}, {} replicates, {} iterations; near-exact: \
             r' ∈ {{{r}, {}, {}}} with {} draws of B sharing one instance. Seeds: base {}.",
            scale.m, list(&scale.widths), scale.replicates, scale.iterations, r + 1, 2 * r, scale.near_exact_replicates, e.seed
        ),
        assumptions: "Outside the RIP regime (check 5). The theorem's r' ≥ 3r statement covers r' ≥ 3r; r ≤ r' < 2r is its variant with the probability term.".into(),
        reading: "Overparameterization should not hurt: the error floor stays bounded (the theorem's factor even allows growth) and \
                  phase I does not lengthen (its bound shrinks with min(n, r')). Near r' = r, σ_min of the nearly square r×r' matrix \
                  V_Xᵀ B can be small, which delays the alignment; the theorem's failure probability (Cε)^(r'−r+1) drops with r' − r."
            .into(),
        rows,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// Check 5: the operator's conditioning on low-rank matrices.
pub fn operator(scale: &Scale) -> Check {
    let start = Instant::now();
    experiments::run::deterministic_decompositions();
    let (n, r) = (scale.n, scale.r);
    let kappa: f64 = 2.0;
    let mut rows = Vec::new();
    let tiny = &scale.in_regime;
    let cases = scale
        .m_list
        .iter()
        .map(|&m| (n, r, kappa, m, false))
        .chain(std::iter::once((tiny.n, tiny.r, 1.0, tiny.m, true)));
    for (n, r, kappa, m, in_regime) in cases {
        let threshold = kappa.powi(-4) / (r as f64).sqrt();
        let mut e = Experiment::new(&format!("operator_m{m}"), scale);
        (e.n, e.r, e.m, e.kappa) = (n, r, m, kappa);
        e.r_prime = 2 * r;
        e.replicates = 1;
        let points = e.points();
        let p = &points[0];
        let problem = build_problem(p);
        let delta = rip_delta(p, r);
        let dev = problem.spectral_matrix() - &problem.truth.xxt;
        let lam_r = problem.truth.singular_values[r - 1].powi(2);
        let ratio = spectral_norm(dev.view()).unwrap_or(f64::NAN) / lam_r;
        let case = format!(
            "{}n = {n}, r = {r}, κ = {kappa}, m = {m}{}",
            if in_regime { "check 2(c): " } else { "" },
            if m > n * (n + 1) / 2 {
                " (> n(n+1)/2: 𝒜 injective)"
            } else {
                ""
            }
        );
        rows.push(Row::new(
            case.clone(),
            "δ_{2r+1} lower estimate",
            "theorem assumes δ ≤ cκ⁻⁴r^(−1/2) (c unspecified; = 1 here)",
            format!("{} vs κ⁻⁴r^(−1/2) = {}", fmt(delta), fmt(threshold)),
            "outside if δ̂ > c·threshold; a lower estimate below it proves nothing",
            vec![],
        ));
        rows.push(Row::new(
            case,
            "‖𝒜*𝒜(XXᵀ) − XXᵀ‖ / λ_r(XXᵀ)",
            "small (phase I needs the spectral perturbation below the signal)",
            fmt(ratio),
            "< 1 lets the top-r eigenspace of M see all r directions",
            vec![],
        ));
    }
    Check {
        id: "5".into(),
        title: "The operator: RIP constant and spectral perturbation".into(),
        setup: format!(
            "n = {n}, r = {r}, κ = 2, one instance per m ∈ {{{}}}, and the in-regime instance of check 2(c); δ_{{2r+1}} estimated from 20 random rank-{} matrices and 8 projected \
             power steps toward each sign (lowrank_core::rip), seeded by each instance's operator seed.",
            list(&scale.m_list),
            2 * r + 1
        ),
        assumptions: format!(
            "This check says which experiments are outside the theorem's assumptions: at n = {n} all are (the lower \
             estimate of δ is far above κ⁻⁴r^(−1/2) for every m used, so checks 1–4 probe the predictions outside the \
             proven regime). The small instance of check 2(c) has a small lower estimate of δ: it is not shown to be \
             outside, but a lower estimate cannot show it inside either (the true δ may be larger), so \
             \"near the regime\" is the most these rows say of it."
        ),
        reading: "A lower estimate of δ above the threshold proves the operator is outside the regime; one below it \
                  proves nothing. The ratio ‖𝒜*𝒜(XXᵀ) − XXᵀ‖/λ_r measures how far the spectral-initialization subspace \
                  L can be from col(X)."
            .into(),
        rows,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// The first logged t with test error ≤ ε.
fn first_below(r: &RunResult, eps: f64) -> Option<usize> {
    let e = r.series(&TEST_ERROR).unwrap_or_default();
    r.t.iter().zip(&e).find(|(_, &v)| v <= eps).map(|(&t, _)| t)
}

/// Log-linear fit of the test error over the window from the first t with error ≤ `from` to the
/// first t with error ≤ `to` (or the end): (rate per iteration = −slope of ln error, R², whether
/// the error reached `to`).
fn linear_rate(r: &RunResult, from: f64, to: f64) -> (f64, f64, bool) {
    let e = r.series(&TEST_ERROR).unwrap_or_default();
    let start = e.iter().position(|&v| v <= from);
    let end = e.iter().position(|&v| v <= to);
    let Some(start) = start else {
        return (f64::NAN, f64::NAN, false);
    };
    let stop = end.map_or(e.len(), |i| i + 1);
    let (xs, ys): (Vec<f64>, Vec<f64>) = (start..stop)
        .filter(|&i| e[i] > 0.0)
        .map(|i| (r.t[i] as f64, e[i].ln()))
        .unzip();
    let fit = linear_fit(&xs, &ys);
    fit.map_or((f64::NAN, f64::NAN, end.is_some()), |f| {
        (-f.slope, f.r_squared, end.is_some())
    })
}

/// Fitted β of error ∝ t^(−β) over t ∈ [T/10, T], with its R².
fn tail_exponent(r: &RunResult) -> (f64, f64) {
    let e = r.series(&TEST_ERROR).unwrap_or_default();
    let t_end = r.t.last().copied().unwrap_or(0) as f64;
    let (xs, ys): (Vec<f64>, Vec<f64>) =
        r.t.iter()
            .zip(&e)
            .filter(|(&t, &v)| t as f64 >= t_end / 10.0 && t > 0 && v > 0.0)
            .map(|(&t, &v)| (t as f64, v))
            .unzip();
    power_law_fit(&xs, &ys).map_or((f64::NAN, f64::NAN), |f| (-f.slope, f.r_squared))
}

/// Check 6: ScaledGD(λ) and PrecGD beside GD: iteration counts against κ, and the convergence
/// rate with exact and with over-parameterization.
pub fn preconditioned(scale: &Scale) -> Check {
    let start = Instant::now();
    experiments::run::deterministic_decompositions();
    let pc = &scale.preconditioned;
    let (lambda, c, eps, alpha) = (1e-3, 1.0, 1e-4, 1e-7);
    let algorithm = Some(AlgorithmSpec {
        kind: AlgorithmKind::Gd,
        lambda: Some(lambda),
        c: Some(c),
    });
    let algorithms = Some(vec![
        AlgorithmKind::Gd,
        AlgorithmKind::ScaledGd,
        AlgorithmKind::Precgd,
    ]);
    let mut e = Experiment::new("preconditioned_kappa", scale);
    (e.n, e.r, e.m, e.alpha) = (pc.n, pc.r, pc.m, alpha);
    e.iterations = pc.kappa_iterations;
    e.log_every = 20;
    e.stop_below_test_error = Some(eps);
    e.algorithm = algorithm.clone();
    e.sweep = SweepSpec {
        kappa: Some(pc.kappas.clone()),
        r_prime: Some(vec![pc.r, 2 * pc.r]),
        algorithm: algorithms.clone(),
        ..SweepSpec::default()
    };
    let runs = e.run();
    let mut rows = Vec::new();
    for ((label, rp), group) in by(&runs, |p| (p.algorithm.label(), p.r_prime)) {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        let mut missed = 0;
        for (kappa, at) in by(group.iter().copied(), |p| p.kappa.to_bits()) {
            let reached: Vec<f64> = at
                .iter()
                .filter_map(|(_, r)| first_below(r, eps).map(|t| t as f64))
                .collect();
            missed += at.len() - reached.len();
            if reached.len() == at.len() {
                xs.push(f64::from_bits(kappa));
                ys.push(median(&reached));
            }
        }
        let slope = power_law_fit(&xs, &ys).map_or(f64::NAN, |f| f.slope);
        let counts = ys.iter().map(|&y| fmt(y)).collect::<Vec<_>>().join(", ");
        let (theory, tolerance, (lo, hi)) = if label == "gd" {
            (
                "≈ 2: GD's time scale is 1/(μσ_min(X)²) ∝ κ²",
                "1.2 ≤ slope ≤ 2.5 (phase I does not depend on κ and lowers it at small κ)",
                (1.2, 2.5),
            )
        } else {
            (
                "≈ 0: iteration counts nearly independent of κ",
                "|slope| ≤ 0.3",
                (-0.3, 0.3),
            )
        };
        let comparisons = vec![
            Comparison::count_at_most("runs that missed ε", missed, 0),
            Comparison::at_least("slope", slope, lo),
            Comparison::at_most("slope", slope, hi),
        ];
        rows.push(Row::new(
            format!("{label}, r' = {rp} (median iterations: {counts})"),
            "fitted slope of log(iterations to ε) vs log κ",
            theory,
            if missed > 0 {
                format!("{} ({missed} runs did not reach ε)", fmt(slope))
            } else {
                fmt(slope)
            },
            tolerance,
            comparisons,
        ));
    }

    let mut t = Experiment::new("preconditioned_tail", scale);
    (t.n, t.r, t.m, t.kappa) = (pc.n, pc.r, pc.m, 2.0);
    t.iterations = pc.tail_iterations;
    t.log_every = 10;
    t.algorithm = algorithm;
    t.sweep = SweepSpec {
        r_prime: Some(vec![pc.r, 2 * pc.r]),
        alpha: Some(vec![1e-7, 1e-2]),
        algorithm: algorithms,
        ..SweepSpec::default()
    };
    let tails = t.run();
    for ((label, rp, a), group) in by(&tails, |p| {
        (p.algorithm.label(), p.r_prime, p.alpha.to_bits())
    }) {
        let a = f64::from_bits(a);
        let case = format!("{label}, r' = {rp}, α = {a:e}");
        let exact = rp == pc.r;
        let linear_claim = exact || label == "precgd";
        if linear_claim {
            let fits: Vec<(f64, f64, bool)> = group
                .iter()
                .map(|(_, r)| linear_rate(r, 1e-3, 1e-12))
                .collect();
            let rate = median(&fits.iter().map(|f| f.0).collect::<Vec<_>>());
            // The smallest R², NaN if any fit is undefined (so it cannot pass).
            let r2 = fits.iter().map(|f| f.1).fold(f64::INFINITY, |a, b| {
                if a.is_nan() || b.is_nan() {
                    f64::NAN
                } else {
                    a.min(b)
                }
            });
            let reached = fits.iter().all(|f| f.2);
            rows.push(Row::new(
                case,
                "ln(test error) linear in t from 1e-3 down to 1e-12: rate per iteration, min R² over replicates",
                if exact {
                    "linear convergence (exact parameterization)"
                } else {
                    "linear convergence for any r' ≥ r (PrecGD's damping vanishes with the residual)"
                },
                format!("rate {}, R² {}, reached 1e-12: {}", fmt(rate), fmt(r2), if reached { "yes" } else { "no" }),
                "R² ≥ 0.98 and 1e-12 reached within T",
                vec![
                    Comparison::at_least("min R²", r2, 0.98),
                    Comparison::holds("1e-12 reached", reached),
                ],
            ));
        } else {
            let fits: Vec<(f64, f64)> = group.iter().map(|(_, r)| tail_exponent(r)).collect();
            let beta = median(&fits.iter().map(|f| f.0).collect::<Vec<_>>());
            let fin = median(
                &group
                    .iter()
                    .map(|(_, r)| last(r, &TEST_ERROR))
                    .collect::<Vec<_>>(),
            );
            let measured = format!("β = {}, final error {}", fmt(beta), fmt(fin));
            if label == "gd" && a >= 1e-3 {
                rows.push(Row::new(
                    case,
                    "fitted β of error ∝ t^(−β) over t ∈ [T/10, T] (median over replicates)",
                    "sublinear: a power law with β ≤ 2 (Xiong, Ding & Du: Ω(1/T²) lower bound), no linear rate",
                    measured,
                    "0.3 ≤ β ≤ 2.2 and final error > 1e-10",
                    vec![
                        Comparison::at_least("β", beta, 0.3),
                        Comparison::at_most("β", beta, 2.2),
                        Comparison::at_least("final error", fin, 1e-10),
                    ],
                ));
            } else {
                let reading = if label == "gd" {
                    "small α: GD sits on its error floor (the noise part grown in phases I–II), which it leaves only sublinearly"
                } else {
                    "ScaledGD(λ) with fixed λ at r' > r: its guarantee asks α small in terms of the target accuracy; measured, not judged"
                };
                rows.push(Row::new(
                    case,
                    "fitted β of error ∝ t^(−β) over t ∈ [T/10, T] (median over replicates)",
                    reading,
                    measured,
                    "reported, not judged",
                    vec![],
                ));
            }
        }
    }
    Check {
        id: "6".into(),
        title: "ScaledGD(λ) and PrecGD beside GD: κ-dependence and rates under overparameterization".into(),
        setup: format!(
            "n = {}, r = {}, m = {}, μ = 0.25, ScaledGD(λ = {lambda:e}), PrecGD(c = {c:e}: λ_t = c‖A(UUᵀ) − y‖), {} replicates. \
             κ sweep: κ ∈ {{{}}}, r' ∈ {{{}, {}}}, α = {alpha:e}, each run stops at test error ≤ {eps:e} (budget {} iterations, \
             logged every 20). Tails: κ = 2, r' ∈ {{{}, {}}}, α ∈ {{1e-7, 1e-2}}, {} iterations logged every 10. All algorithms of a \
             replicate share X, A and U_0. Seed: base {}.",
            pc.n, pc.r, pc.m, scale.replicates, list(&pc.kappas), pc.r, 2 * pc.r, pc.kappa_iterations,
            pc.r, 2 * pc.r, pc.tail_iterations, scale.seed
        ),
        assumptions: "Outside the RIP regime of the papers' theorems (m = 5nr, see check 5); the claims tested are their \
                      qualitative predictions: κ² for GD, κ-free counts for the preconditioned methods (Xu, Shen, Ma & Chi 2023; \
                      Zhang, Fattahi & Zhang 2021), linear vs sublinear convergence (Xiong, Ding & Du 2024)."
            .into(),
        reading: "A GD slope below 2 at these κ comes from phase I, whose length ln(1/α)/(μσ_1²) does not depend on κ. \
                  The iterations to ε are read at the logging period, so small counts are rounded up to it."
            .into(),
        rows,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// The best test error along the path of a run, and for each budget b the ratio of the error at
/// t = b to the best one over t ≤ b.
fn best_and_overshoot(r: &RunResult, budgets: &[usize]) -> (f64, Vec<f64>) {
    let errors = r.series(&TEST_ERROR).unwrap_or_default();
    let best_until = |b: usize| {
        r.t.iter()
            .zip(&errors)
            .filter(|(&t, e)| t <= b && e.is_finite())
            .map(|(_, &e)| e)
            .fold(f64::INFINITY, f64::min)
    };
    let ratios = budgets
        .iter()
        .map(|&b| at(r, &TEST_ERROR, b) / best_until(b))
        .collect();
    (best_until(usize::MAX), ratios)
}

/// Check 7: noisy sensing. The best error along the path scales like σ; at r' = n GD then fits
/// the noise (the final error exceeds the best by a factor growing with the budget), at r' = r not.
pub fn noise(scale: &Scale) -> Check {
    let start = Instant::now();
    experiments::run::deterministic_decompositions();
    let nz = &scale.noise;
    let mut e = Experiment::new("noise", scale);
    (e.n, e.r, e.m, e.kappa, e.alpha) = (nz.n, nz.r, nz.m, 2.0, 1e-6);
    e.iterations = nz.iterations;
    e.log_every = 50;
    e.sweep = SweepSpec {
        sigma: Some(nz.sigmas.clone()),
        r_prime: Some(vec![nz.r, nz.n]),
        ..SweepSpec::default()
    };
    let runs = e.run();
    let budgets = [nz.iterations / 4, nz.iterations / 2, nz.iterations];
    let minimax = |sigma: f64| sigma * ((nz.n * nz.r) as f64 / nz.m as f64).sqrt();
    let mut rows = Vec::new();
    for (rp, group) in by(&runs, |p| p.r_prime) {
        let mut sigmas = Vec::new();
        let mut best = Vec::new();
        let mut per_sigma = Vec::new();
        for (sigma, at_sigma) in by(group.iter().copied(), |p| p.sigma.to_bits()) {
            let sigma = f64::from_bits(sigma);
            let fits: Vec<(f64, Vec<f64>)> = at_sigma
                .iter()
                .map(|(_, r)| best_and_overshoot(r, &budgets))
                .collect();
            let b = median(&fits.iter().map(|f| f.0).collect::<Vec<_>>());
            let ratios: Vec<f64> = (0..budgets.len())
                .map(|k| median(&fits.iter().map(|f| f.1[k]).collect::<Vec<_>>()))
                .collect();
            sigmas.push(sigma);
            best.push(b);
            per_sigma.push((sigma, b, ratios));
        }
        let slope = power_law_fit(&sigmas, &best).map_or(f64::NAN, |f| f.slope);
        let width = if rp == nz.r { "r' = r" } else { "r' = n" };
        rows.push(Row::new(
            format!("{width} = {rp}, σ ∈ {{{}}}", list_e(&sigmas)),
            "fitted slope of log(best test error along the path) vs log σ (medians over replicates)",
            "≈ 1: the error of the best iterate scales like the noise level",
            fmt(slope),
            "0.9 ≤ slope ≤ 1.1",
            vec![
                Comparison::at_least("slope", slope, 0.9),
                Comparison::at_most("slope", slope, 1.1),
            ],
        ));
        rows.push(Row::new(
            format!("{width} = {rp}"),
            "best test error / (σ·√(nr/m)) per σ",
            "bounded: the minimax rate σ·√(nr/m) up to a constant (the test error is relative to ‖XXᵀ‖_F)",
            per_sigma
                .iter()
                .map(|(s, b, _)| format!("σ = {s:e}: {}", fmt(b / minimax(*s))))
                .collect::<Vec<_>>()
                .join("; "),
            "reported, not judged",
            vec![],
        ));
        let largest = sigmas.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        for (sigma, _, ratios) in &per_sigma {
            let shown = budgets
                .iter()
                .zip(ratios)
                .map(|(b, q)| format!("T = {b}: {}", fmt(*q)))
                .collect::<Vec<_>>()
                .join(", ");
            let (theory, tolerance, verdict) = if rp == nz.r {
                (
                    "r' = r: no overfitting; the final error stays at the best one for every budget",
                    "ratio ≤ 1.05 at every budget",
                    ratios
                        .iter()
                        .map(|&q| Comparison::at_most("ratio", q, 1.05))
                        .collect::<Vec<_>>(),
                )
            } else if *sigma == largest {
                (
                    "r' = n: GD fits the noise after its best iterate; the ratio grows with the budget",
                    "ratio at T ≥ 1.5 and ≥ 1.2 × the ratio at T/4",
                    vec![
                        Comparison::at_least("ratio at T", ratios[2], 1.5),
                        Comparison::at_least("ratio at T", ratios[2], 1.2 * ratios[0]),
                    ],
                )
            } else {
                (
                    "r' = n: the same, later for smaller σ (the spurious directions grow at a rate ∝ σ)",
                    "reported, not judged (judged at the largest σ)",
                    vec![],
                )
            };
            rows.push(Row::new(
                format!("{width} = {rp}, σ = {sigma:e}"),
                "test error at t = T over the best test error for t ≤ T, per budget T (median over replicates)",
                theory,
                shown,
                tolerance,
                verdict,
            ));
        }
    }
    Check {
        id: "7".into(),
        title: "Noisy sensing: the best iterate's error scales like σ; overparameterized GD then fits the noise".into(),
        setup: format!(
            "n = {}, r = {}, κ = 2, m = {}, y = A(XXᵀ) + ε with ε_i ~ N(0, σ²/m), σ ∈ {{{}}}, r' ∈ {{{}, {}}}, α = 1e-6, μ = 0.25, \
             {} iterations logged every 50, {} replicates (within a replicate every run shares X and A, the runs of one σ share ε, \
             and the runs of one width share B). \
             Seed: base {}.",
            nz.n, nz.r, nz.m, list_e(&nz.sigmas), nz.r, nz.n, nz.iterations, scale.replicates, scale.seed
        ),
        assumptions: "Outside the noiseless theorem; the rate σ·√(nr/m) is the minimax rate of low-rank recovery from m \
                      Gaussian measurements with noise of variance σ²/m each (up to constants and log factors)."
            .into(),
        reading: "The overfitting at r' = n starts later for smaller σ (the spurious directions grow at a rate ∝ μ‖A*(ε)‖ ∝ σ), \
                  so within one budget it is judged at the largest σ only; the figures noise_overfitting and error_vs_noise show the same \
                  runs at full size."
            .into(),
        rows,
        seconds: start.elapsed().as_secs_f64(),
    }
}
