//! Test data shared by the integration tests (each test file is its own binary and includes this
//! module).

/// A small spec (n = 12, m = 150, one run of 120 iterations); tests derive variants by replacing
/// its lines.
pub const SMALL: &str = r#"
title = "test"
caption = "a small instance"
[problem]
n = 12
r = 2
kappa = 2.0
m = 150
[init]
alpha = 1e-3
r_prime = 5
[gd]
step_size = 0.25
iterations = 120
log_every = 10
[seeds]
seed = 7
[plot]
kind = "trajectories"
quantities = ["test_error", "sin_theta"]
"#;
