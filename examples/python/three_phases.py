"""Redraw figures/three_phases.png from the Python API (needs matplotlib: pip install matplotlib).

    .venv/bin/python examples/python/three_phases.py     # writes three_phases_python.png
"""
import matplotlib.pyplot as plt

import lowrank

p = lowrank.Problem.gaussian(n=100, r=3, m=3000, kappa=2.0, seed=1)  # experiments/three_phases.toml
run = p.run(alpha=1e-6, r_prime=10, step_size=0.25, iterations=800, log_every=2)
q = run.quantities
fig, ax = plt.subplots(figsize=(9, 5))
for name in ["test_error", "train_error", "sin_theta", "sigma_min_signal", "noise_norm"]:
    ax.semilogy(run.t, q[name], label=name)
ax.set_xlabel("iteration t")
ax.set_title("Three phases of GD from small random initialization (n=100, r=3, κ=2, m=3000, r'=10)")
ax.legend()
fig.savefig("three_phases_python.png", dpi=120)
print(f"final test error {q['test_error'][-1]:.3e} after {run.t[-1]} iterations: three_phases_python.png")
