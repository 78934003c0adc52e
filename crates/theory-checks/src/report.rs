//! The report: checks with rows (case, quantity, theory, measured, tolerance, verdict), rendered
//! as Markdown (theory/REPORT.md) and JSON (theory/report.json).

use std::fmt::Write as _;

use serde::Serialize;

use crate::Scale;

/// The verdict of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// The measurement is within the tolerance of the prediction.
    Pass,
    /// It is not.
    Fail,
    /// Context, not a prediction under test.
    Info,
}

impl Verdict {
    /// "PASS", "FAIL", "INFO".
    pub fn label(&self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail => "FAIL",
            Self::Info => "INFO",
        }
    }

    /// PASS if `ok`, else FAIL.
    pub fn of(ok: bool) -> Self {
        if ok {
            Self::Pass
        } else {
            Self::Fail
        }
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
    /// The verdict.
    pub verdict: Verdict,
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
    /// FAIL if any row fails, PASS if any passes, INFO otherwise.
    pub fn verdict(&self) -> Verdict {
        if self.rows.iter().any(|r| r.verdict == Verdict::Fail) {
            Verdict::Fail
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
                Verdict::Info => counts.info += 1,
            }
        }
        Self {
            scale,
            checks,
            seconds,
            machine: experiments::manifest::Machine::current(),
            counts,
        }
    }

    /// True if no row failed.
    pub fn passed(&self) -> bool {
        self.counts.fail == 0
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
            "Written by `make theory` (`target/release/theory`) at the **{}** scale in {:.0} s on {} ({} CPUs). \
             Every number below was measured by that run; seeds derive from base seed {} as in \
             `crates/experiments/src/sweep.rs`, and each check lists its experiment. \
             Verdicts: **{}** PASS, **{}** FAIL, **{}** INFO (context, not a prediction under test).\n",
            s.name, self.seconds, self.machine.cpu, self.machine.cpus, s.seed, self.counts.pass, self.counts.fail, self.counts.info
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
            let _ = writeln!(out, "| case | quantity | theory | measured | tolerance | verdict |\n|---|---|---|---|---|---|");
            for r in &c.rows {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} |",
                    r.case,
                    r.quantity,
                    r.theory,
                    r.measured,
                    r.tolerance,
                    r.verdict.label()
                );
            }
            let _ = writeln!(out, "\n**Reading.** {}", c.reading);
        }
        out
    }
}
