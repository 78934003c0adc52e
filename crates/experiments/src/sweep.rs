//! Sweep expansion: a [`Config`] → the list of runs ([`RunPoint`]) it implies, with their seeds.
//!
//! # Grid
//! The grid is the Cartesian product of the `[sweep]` lists (a missing list is the single value
//! from its table), in the nesting order κ, m, σ, μ, algorithm, init kind, r', α (α varies fastest), times
//! `seeds.replicates` (outermost); completion's samplings and sampling rates (`sweep.sampling`,
//! `sweep.p`) vary between m and σ.
//!
//! # Seeds
//! Each random object gets a seed derived (SplitMix64, [`derive_seed`]) from the spec seed, a tag
//! naming the object, the replicate and *only the parameters the object depends on*:
//! ```text
//!   truth_seed    = derive(seed, [TRUTH,    q, n, r])      X's orthonormal factor (κ only rescales it)
//!   operator_seed = derive(seed, [OPERATOR, q, n, m])      A_1..A_m, or Ω (m = 0: the same seed for
//!                                                          every p, so the Ω of a smaller p is a
//!                                                          subset of a larger one's)
//!   init_seed     = derive(seed, [INIT,     q, n, r'])     B (α only rescales it)
//! ```
//! where q is the replicate index, or 0 for truth and operator when `share_instance = true`.
//! So changing one value in a spec changes only the runs that use it, points that differ only in α
//! share B, points that differ only in the algorithm share X, 𝒜 and B (and run in one batch), and
//! the seeds of a point do not depend on its position in the grid.

use lowrank_core::seeds::derive_seed;
use lowrank_core::Algorithm;
use serde::Serialize;

use crate::spec::{Config, Grid, InitKind, OperatorModel, TruthKind};

const TAG_TRUTH: u64 = 0x0074_7275_7468; // "truth"
const TAG_OPERATOR: u64 = 0x6f70_6572_6174_6f72; // "operator"
const TAG_INIT: u64 = 0x696e_6974; // "init"

/// What identifies an instance: (measurement model, truth kind, bits of σ, truth seed, operator
/// seed, n, r, m, bits of the singular values).
pub type InstanceKey = (
    (u8, u64),
    TruthKind,
    u64,
    u64,
    u64,
    usize,
    usize,
    usize,
    Vec<u64>,
);

/// What runs must share to be computed in one batch: the measurement operator.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OperatorKey {
    /// Gaussian sensing: 𝐀 depends on (n, m, operator seed) only, so runs on other targets X or
    /// noise levels σ share it (each with its own y).
    Gaussian {
        /// n.
        n: usize,
        /// m.
        m: usize,
        /// The operator seed.
        seed: u64,
    },
    /// Matrix completion: Ω may depend on X (ReLU sampling), so the whole instance.
    Instance(InstanceKey),
}

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
    /// The measurement model (left out of the JSON when Gaussian, so cache keys of Gaussian runs
    /// are those they had before the model could be named).
    #[serde(skip_serializing_if = "OperatorModel::is_gaussian")]
    pub operator: OperatorModel,
    /// How X is drawn (left out of the JSON when orthonormal, so cache keys are those they had
    /// before the choice existed).
    #[serde(skip_serializing_if = "TruthKind::is_orthonormal")]
    pub truth: TruthKind,
    /// κ: the spec's, or σ_1/σ_r of explicit singular values; NaN for a Gaussian-factor X, whose
    /// κ is measured when it is drawn ([`Grid::kappa`](crate::spec::Grid::kappa)).
    pub kappa: f64,
    /// The singular values of X, descending (empty for a Gaussian-factor X).
    pub singular_values: Vec<f64>,
    /// Width r'.
    pub r_prime: usize,
    /// α.
    pub alpha: f64,
    /// Initialization kind.
    pub init: InitKind,
    /// Noise level σ of y = 𝒜(XXᵀ) + ε (ε from the Noise stream of `operator_seed`); left out of the
    /// JSON when 0, so noiseless cache keys are those they had before noise existed.
    #[serde(skip_serializing_if = "is_zero")]
    pub sigma: f64,
    /// μ.
    pub step_size: f64,
    /// The algorithm and its parameters. Left out of the JSON for GD, so that the cache keys and
    /// manifests of GD runs are those they had before algorithms could be chosen.
    #[serde(skip_serializing_if = "Algorithm::is_gd")]
    pub algorithm: Algorithm,
    /// T.
    pub iterations: usize,
    /// Logging period.
    pub log_every: usize,
    /// The run ends at the first logged t with test error ≤ this (left out of the JSON when unset,
    /// so cache keys of runs without it are those they had before it existed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_below_test_error: Option<f64>,
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
    /// Runs with equal operator keys share 𝒜 and can be computed in one batch.
    pub fn operator_key(&self) -> OperatorKey {
        match self.operator {
            OperatorModel::Gaussian => OperatorKey::Gaussian {
                n: self.n,
                m: self.m,
                seed: self.operator_seed,
            },
            // Each instance samples its own Ω.
            OperatorModel::UniformCompletion { .. }
            | OperatorModel::ReluCompletion { .. }
            | OperatorModel::MatchedUniformCompletion { .. } => {
                OperatorKey::Instance(self.instance_key())
            }
        }
    }

    /// Runs with equal instance keys share X, 𝒜 and y.
    pub fn instance_key(&self) -> InstanceKey {
        (
            self.operator.key(),
            self.truth,
            self.sigma.to_bits(),
            self.truth_seed,
            self.operator_seed,
            self.n,
            self.r,
            self.m,
            self.singular_values.iter().map(|s| s.to_bits()).collect(),
        )
    }
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// The number of runs [`expand`] makes of `grid` (computed without expanding; at most
/// `spec::MAX_RUNS` for a validated spec).
pub fn run_count(g: &Grid) -> usize {
    [
        g.singular_values.len(),
        g.m.len(),
        g.operator.len(),
        g.sigma.len(),
        g.step_size.len(),
        g.algorithm.len(),
        g.init.len(),
        g.r_prime.len(),
        g.alpha.len(),
    ]
    .iter()
    .fold(g.replicates, |acc, &k| acc.saturating_mul(k))
}

/// Every run of `config`, in grid order.
pub fn expand(config: &Config) -> Vec<RunPoint> {
    let g = &config.grid;
    let mut points = Vec::new();
    for q in 0..g.replicates {
        let iq = if g.share_instance { 0 } else { q as u64 };
        let truth_seed = derive_seed(g.seed, &[TAG_TRUTH, iq, g.n as u64, g.r as u64]);
        for (sv, &kappa) in g.singular_values.iter().zip(&g.kappa) {
            for (&m, &operator) in
                g.m.iter()
                    .flat_map(|m| g.operator.iter().map(move |o| (m, o)))
            {
                let operator_seed = derive_seed(g.seed, &[TAG_OPERATOR, iq, g.n as u64, m as u64]);
                for (&sigma, &mu) in g
                    .sigma
                    .iter()
                    .flat_map(|s| g.step_size.iter().map(move |mu| (s, mu)))
                {
                    for &algorithm in &g.algorithm {
                        for &init in &g.init {
                            for &rp in &g.r_prime {
                                let init_seed = derive_seed(
                                    g.seed,
                                    &[TAG_INIT, q as u64, g.n as u64, rp as u64],
                                );
                                for &alpha in &g.alpha {
                                    points.push(RunPoint {
                                        index: points.len(),
                                        replicate: q,
                                        n: g.n,
                                        r: g.r,
                                        m,
                                        operator,
                                        truth: g.truth,
                                        kappa,
                                        singular_values: sv.clone(),
                                        r_prime: rp,
                                        alpha,
                                        init,
                                        sigma,
                                        step_size: mu,
                                        algorithm,
                                        iterations: g.iterations,
                                        log_every: g.log_every,
                                        stop_below_test_error: g.stop_below_test_error,
                                        spectral: g.spectral,
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
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse;
    use std::path::Path;

    const BASE: &str = r#"
title = "t"
caption = "c"
[problem]
n = 10
r = 2
kappa = 2.0
m = 50
[init]
alpha = 1e-3
r_prime = 4
[gd]
step_size = 0.25
iterations = 10
log_every = 1
[seeds]
seed = 11
replicates = 2
[sweep]
alpha = [1e-2, 1e-3, 1e-4]
r_prime = [2, 4]
m = [50, 60]
[plot]
kind = "trajectories"
quantities = ["test_error"]
"#;

    fn points(text: &str) -> Vec<RunPoint> {
        expand(&parse(Path::new("s.toml"), text, false).unwrap())
    }

    #[test]
    fn grid_is_the_cartesian_product_in_documented_order() {
        let p = points(BASE);
        assert_eq!(p.len(), 2 * 3 * 2 * 2);
        let config = parse(Path::new("s.toml"), BASE, false).unwrap();
        assert_eq!(run_count(&config.grid), p.len());
        assert!(p.iter().enumerate().all(|(i, q)| q.index == i));
        // α varies fastest, then r', then m; replicates outermost.
        assert_eq!((p[0].alpha, p[1].alpha, p[2].alpha), (1e-2, 1e-3, 1e-4));
        assert_eq!((p[0].r_prime, p[3].r_prime), (2, 4));
        assert_eq!((p[0].m, p[6].m), (50, 60));
        assert_eq!((p[0].replicate, p[12].replicate), (0, 1));
        let mut combos: Vec<(u64, usize, usize, usize)> = p
            .iter()
            .map(|q| (q.alpha.to_bits(), q.r_prime, q.m, q.replicate))
            .collect();
        combos.sort();
        combos.dedup();
        assert_eq!(combos.len(), p.len(), "every combination exactly once");
    }

    #[test]
    fn seeds_depend_only_on_what_each_object_depends_on() {
        let p = points(BASE);
        for a in &p {
            for b in &p {
                let same_rep = a.replicate == b.replicate;
                assert_eq!(a.truth_seed == b.truth_seed, same_rep);
                assert_eq!(a.operator_seed == b.operator_seed, same_rep && a.m == b.m);
                assert_eq!(
                    a.init_seed == b.init_seed,
                    same_rep && a.r_prime == b.r_prime
                );
            }
        }
        // Seeds do not depend on the position in the grid: dropping a value keeps the others' seeds.
        let fewer = points(&BASE.replace("alpha = [1e-2, 1e-3, 1e-4]", "alpha = [1e-4]"));
        for q in &fewer {
            let same = p
                .iter()
                .find(|x| {
                    x.alpha == q.alpha
                        && x.r_prime == q.r_prime
                        && x.m == q.m
                        && x.replicate == q.replicate
                })
                .unwrap();
            assert_eq!(
                (q.truth_seed, q.operator_seed, q.init_seed),
                (same.truth_seed, same.operator_seed, same.init_seed)
            );
        }
        // A different spec seed changes everything.
        let other = points(&BASE.replace("seed = 11", "seed = 12"));
        assert!(other
            .iter()
            .zip(&p)
            .all(|(a, b)| a.truth_seed != b.truth_seed && a.init_seed != b.init_seed));
    }

    #[test]
    fn shared_instances_redraw_only_the_initialization() {
        let p = points(&BASE.replace("replicates = 2", "replicates = 2\nshare_instance = true"));
        let (a, b) = (&p[0], &p[12]);
        assert_eq!((a.replicate, b.replicate), (0, 1));
        assert_eq!(
            (a.truth_seed, a.operator_seed),
            (b.truth_seed, b.operator_seed)
        );
        assert_ne!(a.init_seed, b.init_seed);
    }

    #[test]
    fn memory_check_sizes_batches_as_the_executor_groups_runs() {
        use lowrank_core::descent::batch_workspace_bytes;
        use lowrank_core::operator_bytes;
        // BASE: 3 α × 2 r' = 6 runs per instance (m = 60 is the larger one), each replicate its own
        // instance; with share_instance the 2 replicates share it: 12 runs in one batch.
        // Plus the logged trajectories of all runs (the same for both variants).
        let all = parse(Path::new("s.toml"), BASE, false).unwrap();
        let (trajectories, _, _) = crate::spec::trajectory_bytes(&all.spec, expand(&all).len());
        // One instance per batch here, and the operator group's first (it holds the operator; the
        // count does not look for it in the batch): X, V_X (n×r each), XXᵀ and y.
        let instance = 8 * (2 * 10 * 2 + 10 * 10 + 60);
        let need = |k: usize| {
            operator_bytes(10, 60)
                + batch_workspace_bytes(10, 60, k, 4)
                + 2 * instance
                + trajectories
        };
        let parse_with = |text: &str, limit: u128| {
            crate::parse_spec(Path::new("s.toml"), text, false, Some(limit))
        };
        let shared = BASE.replace("replicates = 2", "replicates = 2\nshare_instance = true");
        assert!(parse_with(BASE, need(6)).is_ok());
        assert!(parse_with(BASE, need(6) - 1).is_err());
        assert!(parse_with(&shared, need(12)).is_ok());
        let err = parse_with(&shared, need(6)).unwrap_err().to_string();
        assert!(
            err.contains("m = 60") && err.contains("12 runs in lockstep") && err.contains("r' = 4"),
            "{err}"
        );
        // Spectral diagnostics: each run's I + μM (n×n), L, V_X (n×r each) and Ũ_t (n×r'); the 6
        // runs of a batch are 3 with r' = 2 and 3 with r' = 4.
        let spectral = BASE.replace("[plot]", "[diagnostics]\nspectral = true\n[plot]");
        let with = parse(Path::new("s.toml"), &spectral, false).unwrap();
        let (spectral_trajectories, _, _) =
            crate::spec::trajectory_bytes(&with.spec, expand(&with).len());
        let comparisons = 3 * 8 * (100 + 40 + 20) + 3 * 8 * (100 + 40 + 40);
        let need = need(6) - trajectories + spectral_trajectories + comparisons;
        assert!(parse_with(&spectral, need).is_ok());
        assert!(parse_with(&spectral, need - 1).is_err());
    }
}
