//! The report: checks with rows (case, quantity, theory, measured, tolerance, verdict), rendered
//! as Markdown (theory/REPORT.md) and JSON (theory/report.json).

use std::fmt::Write as _;

use serde::Serialize;

use crate::Scale;

/// The verdict of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// Every comparison holds by more than [`BORDERLINE_MARGIN`].
    Pass,
    /// A comparison fails by more than [`BORDERLINE_MARGIN`] (or a value could not be measured).
    Fail,
    /// No comparison fails clearly, but one sits within [`BORDERLINE_MARGIN`] of its threshold: the
    /// verdict would be decided by the last bits of the arithmetic, so it is neither PASS nor FAIL.
    Borderline,
    /// Context, not a prediction under test.
    Info,
}

impl Verdict {
    /// "PASS", "FAIL", "BORDERLINE", "INFO".
    pub fn label(&self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Borderline => "BORDERLINE",
            Self::Info => "INFO",
        }
    }
}

/// Relative distance to a threshold within which a verdict is [`Verdict::Borderline`]: 1e-6, far
/// above differences in the last bits of a double (2.2e-16 relative each, accumulated over a run) and
/// far below any tolerance a row states.
pub const BORDERLINE_MARGIN: f64 = 1e-6;

/// Which side of the threshold a measured value must be on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Relation {
    /// value ≤ threshold.
    AtMost,
    /// value ≥ threshold.
    AtLeast,
}

/// One comparison a verdict rests on: `value ≤ threshold` or `value ≥ threshold`.
///
/// Its margin is relative and signed, positive when the comparison holds:
/// ```text
///   margin = (threshold − value)/|threshold|   for ≤,     (value − threshold)/|threshold|   for ≥
/// ```
/// (with |threshold| replaced by 1 when the threshold is 0). A comparison of counts or yes/no facts
/// is `exact`: its value cannot move by rounding, so it is never borderline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    /// What it compares, e.g. "R²" or "max/min" (shown in the report).
    pub name: &'static str,
    /// The measured value.
    pub value: f64,
    /// ≤ or ≥.
    pub relation: Relation,
    /// The threshold.
    pub threshold: f64,
    /// Counts and yes/no facts (1 = yes): no rounding, never borderline.
    pub exact: bool,
}

impl Comparison {
    /// `value ≤ threshold`.
    pub fn at_most(name: &'static str, value: f64, threshold: f64) -> Self {
        Self {
            name,
            value,
            relation: Relation::AtMost,
            threshold,
            exact: false,
        }
    }

    /// `value ≥ threshold`.
    pub fn at_least(name: &'static str, value: f64, threshold: f64) -> Self {
        Self {
            name,
            value,
            relation: Relation::AtLeast,
            threshold,
            exact: false,
        }
    }

    /// `count ≤ limit`, exact.
    pub fn count_at_most(name: &'static str, count: usize, limit: usize) -> Self {
        Self {
            exact: true,
            ..Self::at_most(name, count as f64, limit as f64)
        }
    }

    /// `count ≤ limit` for ratios of counts over one sample size, exact (a tie is not rounding).
    pub fn exact_at_most(name: &'static str, value: f64, threshold: f64) -> Self {
        Self {
            exact: true,
            ..Self::at_most(name, value, threshold)
        }
    }

    /// A yes/no fact that must hold (value 1 = yes, threshold 1), exact.
    pub fn holds(name: &'static str, fact: bool) -> Self {
        Self {
            exact: true,
            ..Self::at_least(name, if fact { 1.0 } else { 0.0 }, 1.0)
        }
    }

    /// The signed relative margin (see the type's docs); NaN if the value is not a number.
    pub fn margin(&self) -> f64 {
        if self.threshold.is_infinite() && !self.value.is_nan() {
            // Relative distance to an infinite threshold: ±∞ by which side the value is on.
            let holds = match self.relation {
                Relation::AtMost => self.value <= self.threshold,
                Relation::AtLeast => self.value >= self.threshold,
            };
            return if holds {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            };
        }
        let scale = if self.threshold == 0.0 {
            1.0
        } else {
            self.threshold.abs()
        };
        match self.relation {
            Relation::AtMost => (self.threshold - self.value) / scale,
            Relation::AtLeast => (self.value - self.threshold) / scale,
        }
    }

    /// PASS, FAIL or BORDERLINE for this comparison alone.
    pub fn verdict(&self) -> Verdict {
        let m = self.margin();
        if m.is_nan() {
            Verdict::Fail
        } else if self.exact {
            if m >= 0.0 {
                Verdict::Pass
            } else {
                Verdict::Fail
            }
        } else if m < -BORDERLINE_MARGIN {
            Verdict::Fail
        } else if m <= BORDERLINE_MARGIN {
            Verdict::Borderline
        } else {
            Verdict::Pass
        }
    }

    /// "name = value ≤ threshold (margin +x)", the value with as many digits as it takes to tell it
    /// from the threshold (up to 17).
    pub fn describe(&self) -> String {
        let (v, t) = distinguishing_digits(self.value, self.threshold);
        let rel = match self.relation {
            Relation::AtMost => "≤",
            Relation::AtLeast => "≥",
        };
        let yes_no = self.exact && self.relation == Relation::AtLeast && self.threshold == 1.0;
        if yes_no && (self.value == 0.0 || self.value == 1.0) {
            let answer = if self.value == 1.0 { "yes" } else { "no" };
            format!("{}: {answer}", self.name)
        } else if self.exact {
            format!("{} = {v} {rel} {t}", self.name)
        } else {
            format!(
                "{} = {v} {rel} {t} (margin {:+.1e})",
                self.name,
                self.margin()
            )
        }
    }
}

/// `value` and `threshold` printed with the fewest significant digits (3 to 17) at which they differ.
fn distinguishing_digits(value: f64, threshold: f64) -> (String, String) {
    let show = |x: f64, digits: usize| -> String {
        if !x.is_finite() {
            return format!("{x}");
        }
        if x == x.trunc() && x.abs() < 1e15 {
            return format!("{x}");
        }
        let e = format!("{x:.*e}", digits - 1);
        // Plain notation for moderate magnitudes.
        if (1e-3..1e5).contains(&x.abs()) {
            let decimals = (digits as i32 - 1 - x.abs().log10().floor() as i32).max(0) as usize;
            format!("{x:.decimals$}")
        } else {
            e
        }
    };
    for digits in 3..=17 {
        let (v, t) = (show(value, digits), show(threshold, digits));
        let differ = v.parse::<f64>().ok() != t.parse::<f64>().ok();
        if differ || value == threshold {
            return (v, t);
        }
    }
    (show(value, 17), show(threshold, 17))
}

/// The verdict of a row from its comparisons: FAIL if any fails clearly, else BORDERLINE if any is
/// within [`BORDERLINE_MARGIN`] of its threshold, else PASS; INFO when there are none.
pub fn judge(comparisons: &[Comparison]) -> Verdict {
    let verdicts: Vec<Verdict> = comparisons.iter().map(Comparison::verdict).collect();
    if verdicts.is_empty() {
        Verdict::Info
    } else if verdicts.contains(&Verdict::Fail) {
        Verdict::Fail
    } else if verdicts.contains(&Verdict::Borderline) {
        Verdict::Borderline
    } else {
        Verdict::Pass
    }
}

/// One line of a check's table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Which case (parameters).
    pub case: String,
    /// What is measured.
    pub quantity: String,
    /// What the theory says.
    pub theory: String,
    /// What was measured.
    pub measured: String,
    /// The tolerance the verdict uses.
    pub tolerance: String,
    /// The comparisons the verdict rests on (none for INFO rows).
    pub comparisons: Vec<Comparison>,
    /// The verdict ([`judge`] of the comparisons).
    pub verdict: Verdict,
}

impl Row {
    /// A row judged by `comparisons` (INFO if there are none).
    pub fn new(
        case: String,
        quantity: &str,
        theory: &str,
        measured: String,
        tolerance: &str,
        comparisons: Vec<Comparison>,
    ) -> Self {
        Self {
            case,
            quantity: quantity.into(),
            theory: theory.into(),
            measured,
            tolerance: tolerance.into(),
            verdict: judge(&comparisons),
            comparisons,
        }
    }

    /// The smallest margin of its inexact comparisons (NaN if none).
    pub fn margin(&self) -> f64 {
        self.comparisons
            .iter()
            .filter(|c| !c.exact)
            .map(Comparison::margin)
            .fold(f64::NAN, f64::min)
    }
}

/// One prediction of the paper and its measurements.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Short id ("1", "2", …).
    pub id: String,
    /// Title.
    pub title: String,
    /// The experiment: parameters, seeds, horizon.
    pub setup: String,
    /// Whether the experiment is inside the theorem's assumptions.
    pub assumptions: String,
    /// What the rows mean, and what a failure means.
    pub reading: String,
    /// The measurements.
    pub rows: Vec<Row>,
    /// Seconds spent.
    pub seconds: f64,
}

impl Check {
    /// FAIL if any row fails, BORDERLINE if any is borderline, PASS if any passes, INFO otherwise.
    pub fn verdict(&self) -> Verdict {
        if self.rows.iter().any(|r| r.verdict == Verdict::Fail) {
            Verdict::Fail
        } else if self.rows.iter().any(|r| r.verdict == Verdict::Borderline) {
            Verdict::Borderline
        } else if self.rows.iter().any(|r| r.verdict == Verdict::Pass) {
            Verdict::Pass
        } else {
            Verdict::Info
        }
    }
}

/// All checks of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The sizes used.
    pub scale: Scale,
    /// The checks.
    pub checks: Vec<Check>,
    /// Total seconds.
    pub seconds: f64,
    /// Machine description.
    pub machine: experiments::manifest::Machine,
    /// The code that measured it: `git rev-parse HEAD` (`-dirty` with changes) and crate version.
    pub git_commit: String,
    /// Version of the theory-checks crate.
    pub crate_version: &'static str,
    /// Number of rows per verdict.
    pub counts: Counts,
}

/// Number of rows per verdict.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    /// PASS rows.
    pub pass: usize,
    /// FAIL rows.
    pub fail: usize,
    /// BORDERLINE rows.
    pub borderline: usize,
    /// INFO rows.
    pub info: usize,
}

impl Report {
    /// Assembles a report.
    pub fn new(scale: Scale, checks: Vec<Check>, seconds: f64) -> Self {
        let mut counts = Counts::default();
        for r in checks.iter().flat_map(|c| &c.rows) {
            match r.verdict {
                Verdict::Pass => counts.pass += 1,
                Verdict::Fail => counts.fail += 1,
                Verdict::Borderline => counts.borderline += 1,
                Verdict::Info => counts.info += 1,
            }
        }
        Self {
            scale,
            checks,
            seconds,
            machine: experiments::manifest::Machine::current(),
            git_commit: experiments::manifest::git_commit(),
            crate_version: env!("CARGO_PKG_VERSION"),
            counts,
        }
    }

    /// True if no row failed and none is borderline.
    pub fn passed(&self) -> bool {
        self.counts.fail == 0 && self.counts.borderline == 0
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    /// Markdown.
    pub fn to_markdown(&self) -> String {
        let s = &self.scale;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Theory checks: Stöger & Soltanolkotabi (2021) against measurements\n"
        );
        let _ = writeln!(
            out,
            "Written by {} at the **{}** scale in {:.0} s on {} ({} CPUs), code of commit {}. \
             Every number below was measured by that run; seeds derive from base seed {} as in \
             `crates/experiments/src/sweep.rs`, and each check lists its experiment. \
             Verdicts: **{}** PASS, **{}** FAIL, **{}** BORDERLINE, **{}** INFO (context, not a prediction under test).\n",
            if s.name == "full" { "`make theory` (`target/release/theory`)" } else { "`target/release/theory --reduced`" },
            s.name, self.seconds, self.machine.cpu, self.machine.cpus, self.git_commit, s.seed, self.counts.pass, self.counts.fail,
            self.counts.borderline, self.counts.info
        );
        let _ = writeln!(
            out,
            "**How verdicts are decided.** Each PASS/FAIL row rests on comparisons `value ≤ threshold` or \
             `value ≥ threshold`, listed in its *decision* column with the value printed to as many digits as \
             it takes to tell it from the threshold, and the relative margin (threshold − value)/|threshold| (≤) or \
             (value − threshold)/|threshold| (≥), positive when the comparison holds. A row whose comparisons all \
             hold is PASS; one that fails by more than a relative {BORDERLINE_MARGIN:e} is FAIL; one within {BORDERLINE_MARGIN:e} of \
             a threshold (and failing nowhere else) is BORDERLINE, because its verdict would be decided by rounding. \
             Counts and yes/no facts are exact and never borderline.\n"
        );
        let _ = writeln!(
            out,
            "**What may differ between CPUs.** The operator passes and the decompositions use SIMD kernels \
             (OpenBLAS, faer and the engine's batch kernel pick theirs by CPU type, e.g. AVX2 or AVX-512), which sum in \
             different orders, so the last bits of every floating-point number here can differ between CPU types, \
             most visibly for quantities near a rounding floor (test errors near 1e-15, deviations saturating \
             at 1). On one machine, the same build gives the same numbers \
             (decompositions run sequentially). The borderline rule keeps such differences from flipping a \
             verdict: no verdict here is within {BORDERLINE_MARGIN:e} of its threshold unless it says BORDERLINE.\n"
        );
        let _ = writeln!(
            out,
            "Base instance: n = {}, r = {}, κ = 2, μ = 0.25, Gaussian measurements 𝒜(Z)_i = ⟨A_i, Z⟩/√m, \
             X = V·diag(s) with s linear from 1 to 1/κ, U_0 = α·B with B_ij ~ N(0, 1/r'). \
             Phase boundaries as in `lowrank_core::analysis`: t_* = first t with sin θ ≤ 0.3 and σ_min(UW) ≥ 2‖UW_⊥‖; \
             t_1 = first t with σ_r(V_Xᵀ U) ≥ σ_min(X)/√10; t_hat = first t with test error ≤ 2 × final.\n",
            s.n, s.r
        );
        let _ = writeln!(out, "| check | verdict | seconds |\n|---|---|---|");
        for c in &self.checks {
            let _ = writeln!(
                out,
                "| {}. {} | {} | {:.0} |",
                c.id,
                c.title,
                c.verdict().label(),
                c.seconds
            );
        }
        for c in &self.checks {
            let _ = writeln!(
                out,
                "\n## {}. {} — {}\n",
                c.id,
                c.title,
                c.verdict().label()
            );
            let _ = writeln!(out, "**Experiment.** {}\n", c.setup);
            let _ = writeln!(out, "**Assumptions.** {}\n", c.assumptions);
            let _ = writeln!(out, "| case | quantity | theory | measured | tolerance | decision | verdict |\n|---|---|---|---|---|---|---|");
            for r in &c.rows {
                let decision = if r.comparisons.is_empty() {
                    "–".to_string()
                } else {
                    r.comparisons
                        .iter()
                        .map(Comparison::describe)
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    r.case,
                    r.quantity,
                    r.theory,
                    r.measured,
                    r.tolerance,
                    decision,
                    r.verdict.label()
                );
            }
            let _ = writeln!(out, "\n**Reading.** {}", c.reading);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borderline_rule_on_constructed_comparisons() {
        let t = 0.98;
        let v = |value: f64, rel: Relation| match rel {
            Relation::AtLeast => judge(&[Comparison::at_least("x", value, t)]),
            Relation::AtMost => judge(&[Comparison::at_most("x", value, t)]),
        };
        for rel in [Relation::AtLeast, Relation::AtMost] {
            let (good, bad) = match rel {
                Relation::AtLeast => (1.0, -1.0),
                Relation::AtMost => (-1.0, 1.0),
            };
            // Within 1e-9 relative of the threshold, on either side: BORDERLINE.
            assert_eq!(v(t * (1.0 + good * 1e-9), rel), Verdict::Borderline);
            assert_eq!(v(t * (1.0 + bad * 1e-9), rel), Verdict::Borderline);
            assert_eq!(v(t, rel), Verdict::Borderline);
            // 1e-3 away: PASS or FAIL.
            assert_eq!(v(t * (1.0 + good * 1e-3), rel), Verdict::Pass);
            assert_eq!(v(t * (1.0 + bad * 1e-3), rel), Verdict::Fail);
        }
        // A clear failure elsewhere makes the row FAIL, a borderline one BORDERLINE, none: INFO.
        let border = Comparison::at_least("x", t, t);
        let fail = Comparison::at_most("y", 2.0, 1.0);
        let pass = Comparison::at_most("z", 0.5, 1.0);
        assert_eq!(judge(&[border, fail]), Verdict::Fail);
        assert_eq!(judge(&[border, pass]), Verdict::Borderline);
        assert_eq!(judge(&[pass]), Verdict::Pass);
        assert_eq!(judge(&[]), Verdict::Info);
        // Exact comparisons (counts) at their threshold hold; NaN fails.
        assert_eq!(
            judge(&[Comparison::count_at_most("n", 0, 0)]),
            Verdict::Pass
        );
        assert_eq!(judge(&[Comparison::holds("f", false)]), Verdict::Fail);
        assert_eq!(
            judge(&[Comparison::at_least("x", f64::NAN, 1.0)]),
            Verdict::Fail
        );
        // Infinite thresholds: the comparison holds or not, by a clear margin.
        assert_eq!(
            Comparison::at_most("x", 5.0, f64::INFINITY).verdict(),
            Verdict::Pass
        );
        assert_eq!(
            Comparison::at_least("x", 5.0, f64::INFINITY).verdict(),
            Verdict::Fail
        );
        // Threshold 0: the margin is absolute.
        assert_eq!(
            Comparison::at_most("x", 1e-9, 0.0).verdict(),
            Verdict::Borderline
        );
        assert_eq!(
            Comparison::at_most("x", -1e-3, 0.0).verdict(),
            Verdict::Pass
        );
    }

    #[test]
    fn decisions_print_enough_digits_to_tell_value_from_threshold() {
        let c = Comparison::at_most("max", 0.999_999_7, 1.0);
        let d = c.describe();
        assert!(d.contains("0.9999997 ≤ 1"), "{d}");
        assert!(d.contains("margin +3.0e-7"), "{d}");
        let c = Comparison::at_least("R²", 0.99123, 0.98);
        assert!(
            c.describe().starts_with("R² = 0.991 ≥ 0.980"),
            "{}",
            c.describe()
        );
    }
}
