//! # theory-checks
//!
//! Puts numbers next to the predictions of Stöger & Soltanolkotabi (2021): runs its own small,
//! seeded experiments through the same core solver (`lowrank-core`) and sweep machinery
//! (`experiments::sweep`, `experiments::run`) as the figures, and reports for each prediction the
//! quantity, what the theory says, what was measured, the tolerance and PASS/FAIL.
//!
//! Status: the checks themselves are tracked by the theory-checks issue; this crate currently
//! provides the shared vocabulary of a check result.

use serde::Serialize;

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// The measured value is within the tolerance of the prediction.
    Pass,
    /// It is not.
    Fail,
}

/// One prediction held against a measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// What is measured, in the paper's terms.
    pub quantity: String,
    /// What the theory says.
    pub prediction: String,
    /// The measured value.
    pub measured: f64,
    /// The tolerance the verdict uses, in words.
    pub tolerance: String,
    /// PASS or FAIL.
    pub verdict: Verdict,
}
