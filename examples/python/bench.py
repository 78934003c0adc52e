"""Cost of one GD iteration through Python against the command line, at the default instance
(n = 100, r = 3, m = 3000, r' = 10, as three_phases). Each side runs T = 200 and T = 1400
iterations (logging only the first and last step) and the per-iteration cost is the difference
over 1200, so fixed costs (building the instance, writing files) cancel. Best of 5 rounds each.
Then the same for a batch of 32 runs on the instance (32 values of α; T = 100 and 400, best of 3),
per run-iteration: `Problem.run_batch` against a spec whose α sweep is one batch of 32.

    .venv/bin/python examples/python/bench.py [path/to/experiments]
"""
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lowrank

ROOT = Path(__file__).resolve().parents[2]
CLI = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "release" / "experiments")
SPEC = (ROOT / "experiments" / "three_phases.toml").read_text().split("[quick]")[0]


def python_seconds(p, t):
    start = time.perf_counter()
    p.run(alpha=1e-6, r_prime=10, iterations=t, log_every=t)
    return time.perf_counter() - start


ALPHAS = [10 ** (-2 - 6 * i / 31) for i in range(32)]


def python_batch_seconds(p, t):
    start = time.perf_counter()
    p.run_batch([dict(alpha=a, r_prime=10, iterations=t, log_every=t) for a in ALPHAS])
    return time.perf_counter() - start


def cli_seconds(t, batch=False):
    with tempfile.TemporaryDirectory() as d:
        spec = Path(d) / "bench.toml"
        text = (SPEC.replace("iterations = 800", f"iterations = {t}")
                .replace("log_every = 2", f"log_every = {t}"))
        if batch:
            text += "\n[sweep]\nalpha = [" + ", ".join(f"{a:.17e}" for a in ALPHAS) + "]\n"
        spec.write_text(text)
        start = time.perf_counter()
        subprocess.run([CLI, "--results", f"{d}/r", "--figures", f"{d}/f", "run", str(spec)],
                       check=True, capture_output=True)
        return time.perf_counter() - start


p = lowrank.Problem.gaussian(n=100, r=3, m=3000, kappa=2.0, seed=1)
py = min(python_seconds(p, 1400) - python_seconds(p, 200) for _ in range(5)) / 1200
cli = min(cli_seconds(1400) - cli_seconds(200) for _ in range(5)) / 1200
print(f"one GD iteration (n=100, m=3000, r'=10): Python {py * 1e3:.3f} ms, command line "
      f"{cli * 1e3:.3f} ms, ratio {py / cli:.3f}")
k = len(ALPHAS)
pyb = min(python_batch_seconds(p, 400) - python_batch_seconds(p, 100) for _ in range(3)) / (300 * k)
clib = min(cli_seconds(400, True) - cli_seconds(100, True) for _ in range(3)) / (300 * k)
print(f"batch of {k} runs, per run-iteration: Python {pyb * 1e3:.3f} ms, command line "
      f"{clib * 1e3:.3f} ms, ratio {pyb / clib:.3f}; {py / pyb:.1f}x faster than single runs")
