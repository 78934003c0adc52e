//! Sweep expansion: a [`Config`] → the list of runs ([`RunPoint`]) it implies, with their seeds.
//!
//! # Grid
//! The grid is the Cartesian product of the `[sweep]` lists (a missing list is the single value
//! from its table), in the nesting order κ, m, μ, init kind, r', α (α varies fastest), times
//! `seeds.replicates` (outermost).
//!
//! # Seeds
//! Each random object gets a seed derived (SplitMix64, [`derive_seed`]) from the spec seed, a tag
//! naming the object, the replicate and *only the parameters the object depends on*:
//! ```text
//!   truth_seed    = derive(seed, [TRUTH,    q, n, r])      X's orthonormal factor (κ only rescales it)
//!   operator_seed = derive(seed, [OPERATOR, q, n, m])      A_1..A_m
//!   init_seed     = derive(seed, [INIT,     q, n, r'])     B (α only rescales it)
//! ```
//! where q is the replicate index, or 0 for truth and operator when `share_instance = true`.
//! So changing one value in a spec changes only the runs that use it, points that differ only in α
//! share B, and the seeds of a point do not depend on its position in the grid.

use lowrank_core::seeds::derive_seed;
use lowrank_core::SingularValues;
use serde::Serialize;

use crate::spec::{Config, InitKind};

const TAG_TRUTH: u64 = 0x0074_7275_7468; // "truth"
const TAG_OPERATOR: u64 = 0x6f70_6572_6174_6f72; // "operator"
const TAG_INIT: u64 = 0x696e_6974; // "init"

/// What identifies an instance: (truth seed, operator seed, n, r, m, bits of the singular values).
pub type InstanceKey = (u64, u64, usize, usize, usize, Vec<u64>);

/// One run of a sweep: everything that determines its numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunPoint {
    /// Position in the sweep (0-based, grid order).
    pub index: usize,
    /// Replicate q.
    pub replicate: usize,
    /// n.
    pub n: usize,
    /// r.
    pub r: usize,
    /// m.
    pub m: usize,
    /// κ (from the singular values when they are explicit).
    pub kappa: f64,
    /// The singular values of X, descending.
    pub singular_values: Vec<f64>,
    /// Width r'.
    pub r_prime: usize,
    /// α.
    pub alpha: f64,
    /// Initialization kind.
    pub init: InitKind,
    /// μ.
    pub step_size: f64,
    /// T.
    pub iterations: usize,
    /// Logging period.
    pub log_every: usize,
    /// Whether GD-vs-power-method diagnostics are recorded.
    pub spectral: bool,
    /// Seed of X.
    pub truth_seed: u64,
    /// Seed of 𝒜.
    pub operator_seed: u64,
    /// Seed of B.
    pub init_seed: u64,
}

impl RunPoint {
    /// Runs with equal instance keys share X, 𝒜 and y.
    pub fn instance_key(&self) -> InstanceKey {
        (
            self.truth_seed,
            self.operator_seed,
            self.n,
            self.r,
            self.m,
            self.singular_values.iter().map(|s| s.to_bits()).collect(),
        )
    }
}

fn list<T: Clone>(sweep: &Option<Vec<T>>, single: Option<T>) -> Vec<T> {
    sweep
        .clone()
        .unwrap_or_else(|| single.into_iter().collect())
}

/// Every run of `config`, in grid order.
pub fn expand(config: &Config) -> Vec<RunPoint> {
    let s = &config.spec;
    let p = &s.problem;
    let sw = &s.sweep;
    let kappas: Vec<Option<f64>> = match &p.singular_values {
        Some(_) => vec![None],
        None => list(&sw.kappa, p.kappa).into_iter().map(Some).collect(),
    };
    let ms = list(&sw.m, Some(p.m));
    let mus = list(&sw.step_size, Some(s.gd.step_size));
    let inits = list(&sw.init, Some(s.init.kind));
    let widths = list(&sw.r_prime, Some(s.init.r_prime));
    let alphas = list(&sw.alpha, Some(s.init.alpha));
    let mut points = Vec::new();
    for q in 0..s.seeds.replicates {
        let iq = if s.seeds.share_instance { 0 } else { q as u64 };
        let truth_seed = derive_seed(s.seeds.seed, &[TAG_TRUTH, iq, p.n as u64, p.r as u64]);
        for &kappa in &kappas {
            let sv = match (kappa, &p.singular_values) {
                (Some(k), _) => SingularValues::Condition(k),
                (None, Some(v)) => SingularValues::Explicit(v.clone()),
                (None, None) => unreachable!("validated: kappa or singular_values is set"),
            }
            .values(p.r);
            for &m in &ms {
                let operator_seed =
                    derive_seed(s.seeds.seed, &[TAG_OPERATOR, iq, p.n as u64, m as u64]);
                for &mu in &mus {
                    for &init in &inits {
                        for &rp in &widths {
                            let init_seed = derive_seed(
                                s.seeds.seed,
                                &[TAG_INIT, q as u64, p.n as u64, rp as u64],
                            );
                            for &alpha in &alphas {
                                points.push(RunPoint {
                                    index: points.len(),
                                    replicate: q,
                                    n: p.n,
                                    r: p.r,
                                    m,
                                    kappa: sv[0] / sv[p.r - 1],
                                    singular_values: sv.clone(),
                                    r_prime: rp,
                                    alpha,
                                    init,
                                    step_size: mu,
                                    iterations: s.gd.iterations,
                                    log_every: s.gd.log_every,
                                    spectral: s.diagnostics.spectral,
                                    truth_seed,
                                    operator_seed,
                                    init_seed,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    points
}
