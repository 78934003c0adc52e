"""Cost of one GD iteration through Python against the command line, at the default instance
(n = 100, r = 3, m = 3000, r' = 10, as three_phases). Each side runs T = 200 and T = 1400
iterations (logging only the first and last step) and the per-iteration cost is the difference
over 1200, so fixed costs (building the instance, writing files) cancel. Then the same for a batch of
32 runs on the instance (32 values of α; T = 100 and 700), per run-iteration: `Problem.run_batch`
against a spec whose α sweep is one batch of 32.

The two sides take turns, round after round (5 rounds for single runs, 3 for the batch), and the
ratio is taken within each round and reported as the median over the rounds: this 2-core machine's
speed drifts by several percent within minutes, which a best-of over separate windows mistakes for a
difference between the two sides.

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


def paired(python, cli, rounds):
    """Per-round (Python, CLI) times and the median of the per-round ratios."""
    pairs = [(python(), cli()) for _ in range(rounds)]
    ratios = sorted(a / b for a, b in pairs)
    return min(a for a, _ in pairs), min(b for _, b in pairs), ratios[len(ratios) // 2], ratios


p = lowrank.Problem.gaussian(n=100, r=3, m=3000, kappa=2.0, seed=1)
py, cli, ratio, ratios = paired(
    lambda: (python_seconds(p, 1400) - python_seconds(p, 200)) / 1200,
    lambda: (cli_seconds(1400) - cli_seconds(200)) / 1200,
    5,
)
print(f"one GD iteration (n=100, m=3000, r'=10): Python {py * 1e3:.3f} ms, command line "
      f"{cli * 1e3:.3f} ms (fastest rounds); ratio {ratio:.3f} (median of per-round ratios "
      f"{', '.join(f'{x:.3f}' for x in ratios)})")
k = len(ALPHAS)
pyb, clib, ratio_b, ratios_b = paired(
    lambda: (python_batch_seconds(p, 700) - python_batch_seconds(p, 100)) / (600 * k),
    lambda: (cli_seconds(700, True) - cli_seconds(100, True)) / (600 * k),
    3,
)
print(f"batch of {k} runs, per run-iteration: Python {pyb * 1e3:.3f} ms, command line "
      f"{clib * 1e3:.3f} ms (fastest rounds); ratio {ratio_b:.3f} (median of "
      f"{', '.join(f'{x:.3f}' for x in ratios_b)}); {py / pyb:.1f}x cheaper than single runs")
