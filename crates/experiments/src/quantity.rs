//! The logged quantities, defined once: name (the column of trajectories.csv), label (figures) and
//! how each is computed from the core's diagnostics. The recorder, the CSV writer, the validator,
//! the plots and the memory estimate all read this table, so a new quantity is one entry here, and
//! a quantity the code names is a constant (a misspelt one does not compile).
//!
//! Per logged iteration a run records, in this order: [`DIAGNOSTICS`], then σ_1(U)…σ_k(U)
//! ([`sigma_u`], k = min(r', r + 2)), then, with `[diagnostics] spectral = true`, [`SPECTRAL`].

use lowrank_core::{Diagnostics, SpectralDiagnostics};

/// One logged quantity computed from a value of type `S`.
#[derive(Clone, Copy)]
pub struct Quantity<S> {
    /// Column name in trajectories.csv and in specs' `plot.quantities`.
    pub name: &'static str,
    /// Axis and legend label.
    pub label: &'static str,
    /// Its value.
    pub value: fn(&S) -> f64,
}

impl<S> std::fmt::Debug for Quantity<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// A quantity name, for readers of the data (anything that names a logged column).
pub trait Named {
    /// The column name.
    fn name(&self) -> &str;
}

impl<S> Named for Quantity<S> {
    fn name(&self) -> &str {
        self.name
    }
}

impl Named for str {
    fn name(&self) -> &str {
        self
    }
}

impl Named for String {
    fn name(&self) -> &str {
        self
    }
}

type D = Quantity<Diagnostics>;

/// f(U_t) = ¼‖𝒜(U_tU_tᵀ) − y‖².
pub const LOSS: D = Quantity {
    name: "loss",
    label: "loss f(U) = ¼‖A(UUᵀ) − y‖²",
    value: |d| d.loss,
};
/// ‖UUᵀ − XXᵀ‖_F / ‖XXᵀ‖_F.
pub const TEST_ERROR: D = Quantity {
    name: "test_error",
    label: "test error ‖UUᵀ − XXᵀ‖_F / ‖XXᵀ‖_F",
    value: |d| d.test_error,
};
/// ‖𝒜(UUᵀ) − y‖ / ‖y‖.
pub const TRAIN_ERROR: D = Quantity {
    name: "train_error",
    label: "train error ‖A(UUᵀ) − y‖ / ‖y‖",
    value: |d| d.train_error,
};
/// σ_r(V_Xᵀ U).
pub const SIGMA_MIN_VX_U: D = Quantity {
    name: "sigma_min_vx_u",
    label: "σ_r(V_Xᵀ U)",
    value: |d| d.sigma_min_vx_u,
};
/// σ_min(UW), the signal part.
pub const SIGMA_MIN_SIGNAL: D = Quantity {
    name: "sigma_min_signal",
    label: "σ_min(UW) (signal)",
    value: |d| d.sigma_min_signal,
};
/// ‖UW_⊥‖, the noise part.
pub const NOISE_NORM: D = Quantity {
    name: "noise_norm",
    label: "‖UW_⊥‖ (noise)",
    value: |d| d.noise_norm,
};
/// sin θ = ‖V_{X⊥}ᵀ V_{UW}‖.
pub const SIN_THETA: D = Quantity {
    name: "sin_theta",
    label: "sin θ = ‖V_X⊥ᵀ V_UW‖ (alignment)",
    value: |d| d.sin_theta,
};
/// ‖U‖, the spectral norm (= σ_1(U), the same curve as sigma_u_1).
pub const U_NORM: D = Quantity {
    name: "u_norm",
    label: "‖U‖ (spectral norm = σ_1(U))",
    value: |d| d.u_norm,
};

/// The diagnostics every run records, in column order.
pub const DIAGNOSTICS: [D; 8] = [
    LOSS,
    TEST_ERROR,
    TRAIN_ERROR,
    SIGMA_MIN_VX_U,
    SIGMA_MIN_SIGNAL,
    NOISE_NORM,
    SIN_THETA,
    U_NORM,
];

type P = Quantity<SpectralDiagnostics>;

/// GD against the power method (recorded with `[diagnostics] spectral = true`), in column order.
pub const SPECTRAL: [P; 5] = [
    Quantity {
        name: "sin_lt_l",
        label: "GD: sin∠(L_t, L), L = top-r eigenspace of A*A(XXᵀ) (spectral init.)",
        value: |s| s.sin_lt_l,
    },
    Quantity {
        name: "sin_lt_x",
        label: "GD: sin∠(L_t, col X)",
        value: |s| s.sin_lt_x,
    },
    Quantity {
        name: "sin_power_l",
        label: "power method: sin∠(top-r subspace of Ũ_t, L)",
        value: |s| s.sin_power_l,
    },
    Quantity {
        name: "sin_lt_power",
        label: "sin∠(L_t, top-r subspace of Ũ_t)",
        value: |s| s.sin_lt_power,
    },
    Quantity {
        name: "power_deviation",
        label: "‖U_t − Ũ_t‖ / ‖Ũ_t‖, Ũ_t = (I + μA*A(XXᵀ))^t U_0",
        value: |s| s.power_deviation,
    },
];

/// The name of σ_k(U), k ≥ 1: `sigma_u_<k>`.
pub fn sigma_u(k: usize) -> String {
    format!("sigma_u_{k}")
}

/// k of a `sigma_u_<k>` name (k ≥ 1, written as [`sigma_u`] writes it: `sigma_u_01` and
/// `sigma_u_+2` name no column).
pub fn sigma_u_index(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("sigma_u_")?;
    digits
        .parse::<usize>()
        .ok()
        .filter(|&k| k >= 1 && sigma_u(k) == name)
}

/// The columns a run records: [`DIAGNOSTICS`], σ_1..σ_{n_top}(U), and [`SPECTRAL`] if `spectral`.
pub fn names(n_top: usize, spectral: bool) -> Vec<String> {
    let extra: &[P] = if spectral { &SPECTRAL } else { &[] };
    DIAGNOSTICS
        .iter()
        .map(|q| q.name.to_string())
        .chain((1..=n_top).map(sigma_u))
        .chain(extra.iter().map(|q| q.name.to_string()))
        .collect()
}

/// One logged row in the order of [`names`]; NaN for the spectral quantities if their computation
/// failed (`spectral = Some(None)`).
pub fn row(d: &Diagnostics, spectral: Option<Option<&SpectralDiagnostics>>) -> Vec<f64> {
    let mut v: Vec<f64> = DIAGNOSTICS.iter().map(|q| (q.value)(d)).collect();
    v.extend(&d.top_singular_values);
    match spectral {
        Some(Some(s)) => v.extend(SPECTRAL.iter().map(|q| (q.value)(s))),
        Some(None) => v.extend([f64::NAN; SPECTRAL.len()]),
        None => {}
    }
    v
}

/// Whether `name` is a quantity a run can record.
pub fn is_quantity(name: &str) -> bool {
    DIAGNOSTICS.iter().any(|q| q.name == name) || is_spectral(name) || sigma_u_index(name).is_some()
}

/// Whether `name` is one of [`SPECTRAL`].
pub fn is_spectral(name: &str) -> bool {
    SPECTRAL.iter().any(|q| q.name == name)
}

/// The label of quantity `name` (σ_k(U) for sigma_u_k; the name itself if unknown).
pub fn label(name: &str) -> String {
    if let Some(q) = DIAGNOSTICS.iter().find(|q| q.name == name) {
        return q.label.into();
    }
    if let Some(q) = SPECTRAL.iter().find(|q| q.name == name) {
        return q.label.into();
    }
    match sigma_u_index(name) {
        Some(k) => format!("σ_{k}(U)"),
        None => name.to_string(),
    }
}

/// Most quantities a run of rank r records (for the memory estimate).
pub fn max_per_run(r: usize, spectral: bool) -> usize {
    DIAGNOSTICS.len() + r + 2 + if spectral { SPECTRAL.len() } else { 0 }
}
