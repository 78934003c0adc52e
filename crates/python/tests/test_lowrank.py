"""Tests of the Python module against numpy recomputations and the command line."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lowrank

ROOT = Path(__file__).resolve().parents[3]
CLI = Path(
    os.environ.get(
        "LOWRANK_EXPERIMENTS_BIN",
        ROOT / os.environ.get("CARGO_TARGET_DIR", "target") / "release" / "experiments",
    )
)


def small():
    return lowrank.Problem.gaussian(n=9, r=2, m=60, kappa=2.0, seed=3)


def assert_prints_ok(code):
    """Runs Python `code` in a subprocess with a timeout (so that a hang fails instead of hanging
    the suite) and asserts that it printed ok."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def rel(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def test_adjoint_identity_and_dense_construction():
    p = small()
    rng = np.random.default_rng(0)
    g = rng.standard_normal((p.n, p.n))
    z = (g + g.T) / 2
    v = rng.standard_normal(p.m)
    lhs = p.apply(z) @ v
    rhs = np.sum(z * p.adjoint(v))
    assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), 1.0)
    # Dense: A_i/√m = 𝒜*(e_i), so 𝒜(Z)_i = ⟨𝒜*(e_i), Z⟩ and 𝒜*(v) = Σ_i v_i 𝒜*(e_i).
    basis = [p.adjoint(np.eye(p.m)[i]) for i in range(p.m)]
    dense_apply = np.array([np.sum(a * z) for a in basis])
    dense_adjoint = sum(vi * a for vi, a in zip(v, basis))
    assert rel(p.apply(z), dense_apply) <= 1e-12
    assert rel(p.adjoint(v), dense_adjoint) <= 1e-12
    # y = 𝒜(XXᵀ) for the noiseless instance.
    assert rel(p.y, p.apply(p.X @ p.X.T)) <= 1e-12


@pytest.mark.parametrize("algorithm,lam,c", [("gd", None, None), ("scaled_gd", 1e-2, None),
                                              ("precgd", None, 0.5)])
def test_one_step_matches_numpy(algorithm, lam, c):
    p = small()
    u0 = p.initial_iterate(alpha=0.3, r_prime=4, seed=5)
    mu = 0.2
    run = p.run(u0=u0, step_size=mu, iterations=1, log_every=1, algorithm=algorithm, lam=lam,
                c=c, keep_iterates=True)
    u1 = run.iterates[1]
    residual = p.apply(u0 @ u0.T) - p.y
    grad = p.adjoint(residual) @ u0
    if algorithm == "scaled_gd":
        grad = grad @ np.linalg.inv(u0.T @ u0 + lam * np.eye(u0.shape[1]))
    if algorithm == "precgd":  # λ_t = c·‖𝒜(U_tU_tᵀ) − y‖
        damping = c * np.linalg.norm(residual)
        grad = grad @ np.linalg.inv(u0.T @ u0 + damping * np.eye(u0.shape[1]))
    assert rel(u1, u0 - mu * grad) <= 1e-12
    assert np.array_equal(run.t, [0, 1])
    loss0 = 0.25 * np.sum((p.apply(u0 @ u0.T) - p.y) ** 2)
    assert abs(run.quantities["loss"][0] - loss0) <= 1e-12 * loss0


def test_recovery_and_read_only_callback():
    p = lowrank.Problem.gaussian(n=20, r=2, m=300, kappa=2.0, seed=1)
    seen = []

    def cb(t, u, loss):
        seen.append(t)
        assert not u.flags.writeable
        return None  # anything but False goes on

    run = p.run(alpha=1e-6, r_prime=6, iterations=600, log_every=20, callback=cb)
    assert run.status == "completed"
    assert seen == list(run.t)
    assert run.quantities["test_error"][-1] < 1e-4


def test_callback_returning_false_stops_the_run_at_that_step():
    p = small()
    run = p.run(alpha=1e-3, r_prime=3, iterations=500, log_every=10,
                callback=lambda t, u, loss: t < 120)
    assert run.status == "stopped"
    assert run.stopped_at == 120
    assert run.t[-1] == 120
    # Any falsy value but None stops, e.g. a numpy comparison.
    run = p.run(alpha=1e-3, r_prime=3, iterations=500, log_every=10,
                callback=lambda t, u, loss: np.bool_(t < 60))
    assert (run.status, run.stopped_at) == ("stopped", 60)


def test_a_callback_that_raises_raises():
    p = small()
    def boom(t, u, loss):
        raise KeyError("from the callback")
    with pytest.raises(KeyError, match="from the callback"):
        p.run(iterations=50, callback=boom)


def test_a_raising_callback_stops_the_whole_batch_at_once():
    # Run 0's callback raises at t = 20; run 1 (no exception of its own, 20000 iterations) stops
    # at once (before its next iteration) instead of running to the end first.
    p = small()
    seen = []

    def boom(t, u, loss):
        if t == 20:
            raise KeyError("from run 0")

    def count(t, u, loss):
        seen.append(t)

    with pytest.raises(KeyError, match="from run 0"):
        p.run_batch([dict(iterations=20000, callback=boom), dict(iterations=20000, callback=count)])
    assert max(seen) <= 30, max(seen)


def interrupted_after(seconds, call):
    """Calls `call()` with SIGINT sent to this process after `seconds`, expecting
    KeyboardInterrupt; returns the seconds it took. Python's own SIGINT handler is installed
    meanwhile (a process started in the background may inherit SIGINT ignored)."""
    import signal
    import threading
    import time

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    try:
        start = time.perf_counter()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            call()
        return time.perf_counter() - start
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_a_run_and_raises_keyboard_interrupt():
    # SIGINT while a long run is inside the engine (the GIL released): the run stops at a logged
    # step soon after and KeyboardInterrupt is raised; without the interrupt the run would take
    # seconds and end normally.
    p = lowrank.Problem.gaussian(n=30, r=2, m=600, kappa=2.0, seed=4)
    seen = []
    elapsed = interrupted_after(
        0.3,
        lambda: p.run(iterations=200_000, log_every=10, callback=lambda t, u, loss: seen.append(t)),
    )
    assert 0 < max(seen) < 200_000 and elapsed < 30, (max(seen), elapsed)
    # Logged only at t = 0 and T: the run still stops at once (before, only at T, about 30 s
    # later on a 2-core Xeon).
    elapsed = interrupted_after(0.3, lambda: p.run(iterations=200_000, log_every=200_000))
    assert elapsed < 10, elapsed


def test_ctrl_c_stops_run_spec_and_writes_nothing(tmp_path):
    # The same for a spec run through the pipeline: KeyboardInterrupt soon after the signal, no
    # CSV, manifest or figure, and no cache entry of the interrupted batch (one batch of 2 runs
    # that would take far longer than the test).
    spec = tmp_path / "long.toml"
    spec.write_text(
        'title = "long"\ncaption = "c"\n[problem]\nn = 30\nr = 2\nkappa = 2.0\nm = 600\n'
        "[init]\nalpha = 1e-3\nr_prime = 4\n[gd]\nstep_size = 0.25\niterations = 2000000\n"
        "log_every = 10\n[seeds]\nseed = 3\nreplicates = 2\n[plot]\n"
        'kind = "trajectories"\nquantities = ["test_error"]\n'
    )
    elapsed = interrupted_after(
        0.5, lambda: lowrank.run_spec(spec, results=tmp_path / "r", figures=tmp_path / "f")
    )
    assert elapsed < 30, elapsed
    assert not (tmp_path / "r" / "long").exists() or not any((tmp_path / "r" / "long").iterdir())
    assert not (tmp_path / "f").exists() or not any((tmp_path / "f").iterdir())
    cache = tmp_path / "r" / "cache"
    entries = [f for f in cache.glob("*.json") if not f.name.endswith(".checkpoint.json")]
    assert entries == [], entries


def test_batch_equals_single_runs():
    p = lowrank.Problem.gaussian(n=20, r=2, m=300, kappa=2.0, seed=2)
    specs = [
        dict(alpha=1e-6, r_prime=2, iterations=300),
        dict(alpha=1e-3, r_prime=6, iterations=250, log_every=5),
        dict(alpha=1e-4, r_prime=4, iterations=120, algorithm="precgd", c=1.0),
    ]
    batch = p.run_batch(specs)
    for spec, b in zip(specs, batch):
        a = p.run(**spec)
        assert np.array_equal(a.t, b.t)
        for k, va in a.quantities.items():
            if k == "noise_norm" and spec["r_prime"] == p.r:
                continue  # 0 in exact arithmetic: rounding noise of size 1e-16·‖U‖ in both
            # 1e-10 relative, or 1e-12 of the quantity's largest value along the run (PrecGD
            # drives the errors to 1e-10, where both runs' last bits differ relatively more).
            atol = 1e-12 * np.max(np.abs(va))
            assert np.allclose(va, b.quantities[k], rtol=1e-10, atol=atol), k
        assert rel(b.u, a.u) <= 1e-10


def test_bad_parameters_raise_value_error_with_the_cli_message(tmp_path):
    with pytest.raises(ValueError, match=r"r = 20") as e:
        lowrank.Problem.gaussian(n=10, r=20, m=50)
    assert "allowed" in str(e.value)
    with pytest.raises(ValueError, match="step_size"):
        small().run(step_size=-1.0)
    with pytest.raises(ValueError, match="lam is missing"):
        small().run(algorithm="scaled_gd")
    # In the call's words: its argument names, not the spec's keys.
    with pytest.raises(ValueError, match=r"lam = 1 is a parameter of scaled_gd, which this run "
                       r"does not use \(algorithm = \"gd\"\); allowed: remove it, or run scaled_gd$"):
        small().run(lam=1.0)
    with pytest.raises(ValueError, match="log_every = 20 is out of range"):
        small().run(iterations=10, log_every=20)
    with pytest.raises(ValueError, match="shape"):
        small().run(u0=np.zeros((3, 2)))
    # A bad spec file: the same message as the command line.
    spec = tmp_path / "bad.toml"
    spec.write_text((ROOT / "experiments" / "three_phases.toml").read_text()
                    .replace("step_size = 0.25", "step_size = -1.0"))
    with pytest.raises(ValueError) as e:
        lowrank.run_spec(spec, results=tmp_path / "r", figures=tmp_path / "f")
    cli = subprocess.run([str(CLI), "--results", str(tmp_path / "r2"), "--figures",
                          str(tmp_path / "f2"), "run", str(spec)], capture_output=True, text=True)
    assert cli.returncode != 0
    assert cli.stderr.strip() == f"error: {e.value}"


def test_run_spec_dataframes_equal_the_cli_csvs(tmp_path):
    spec = ROOT / "experiments" / "three_phases.toml"
    res = lowrank.run_spec(spec, quick=True, results=tmp_path / "py", figures=tmp_path / "pyf")
    cli = subprocess.run([str(CLI), "--results", str(tmp_path / "cli"), "--figures",
                          str(tmp_path / "clif"), "run", "--quick", str(spec)], check=True,
                         capture_output=True, text=True)
    # The notes are the CLI's (here: the quick run ends still falling).
    assert res.notes and all(n in cli.stderr.splitlines() for n in res.notes), cli.stderr
    cli_runs = pd.read_csv(tmp_path / "cli" / "quick" / "three_phases" / "runs.csv",
                           engine="c")
    cli_traj = pd.read_csv(tmp_path / "cli" / "quick" / "three_phases" / "trajectories.csv",
                           engine="c")
    pd.testing.assert_frame_equal(res.runs, cli_runs, check_exact=True)
    pd.testing.assert_frame_equal(res.trajectories, cli_traj, check_exact=True)
    # And every number is the CSV's text parsed exactly (not a rounded reading).
    import csv
    with open(tmp_path / "cli" / "quick" / "three_phases" / "trajectories.csv") as f:
        exact = [float(row["value"]) for row in csv.DictReader(f)]
    assert res.trajectories["value"].tolist() == exact
    assert res.name == "three_phases"
    assert len(res.runs) == 1 and res.runs["status"][0] == "completed"
    assert set(res.trajectories["quantity"]) >= {"test_error", "train_error", "sin_theta"}


def test_run_spec_warns_what_the_cli_tells(tmp_path):
    # Before: run_spec said nothing when every run diverged (the CLI warned).
    spec = tmp_path / "diverging.toml"
    text = (ROOT / "experiments" / "three_phases.toml").read_text()
    spec.write_text(text.replace("step_size = 0.25", "step_size = 50.0")
                    .replace("alpha = 1e-6", "alpha = 1.0"))
    with pytest.warns(UserWarning, match="every run diverged") as caught:
        res = lowrank.run_spec(spec, quick=True, results=tmp_path / "r", figures=tmp_path / "f")
    assert [str(w.message) for w in caught] == res.notes
    cli = subprocess.run([str(CLI), "--results", str(tmp_path / "c"), "--figures",
                          str(tmp_path / "cf"), "run", "--quick", str(spec)],
                         capture_output=True, text=True, check=True)
    assert all(note in cli.stderr.splitlines() for note in res.notes), cli.stderr


def test_run_spec_warns_before_a_quick_run_at_full_size(tmp_path):
    spec = tmp_path / "plain.toml"
    text = (ROOT / "experiments" / "three_phases.toml").read_text()
    spec.write_text(text[:text.index("[quick]")].replace("n = 100", "n = 20")
                    .replace("m = 3000", "m = 300").replace("iterations = 800", "iterations = 40"))
    with pytest.warns(UserWarning, match="no \\[quick\\] table, so --quick runs this spec at full"):
        lowrank.run_spec(spec, quick=True, results=tmp_path / "r", figures=tmp_path / "f")


def test_problem_and_run_are_the_spec_instance_and_run(tmp_path):
    # Problem.gaussian with a spec's values and seed is that spec's instance, and a run from the
    # spec's α, r' and default init seed is its run, bit for bit (three_phases at its quick size).
    spec = ROOT / "experiments" / "three_phases.toml"
    res = lowrank.run_spec(spec, quick=True, results=tmp_path / "r", figures=tmp_path / "f")
    p = lowrank.Problem.gaussian(n=40, r=3, m=600, kappa=2.0, seed=1)
    run = p.run(alpha=1e-6, r_prime=10, step_size=0.25, iterations=300, log_every=2)
    ref = res.trajectories[res.trajectories["quantity"] == "test_error"]
    assert np.array_equal(ref["t"].to_numpy(), run.t)
    assert np.array_equal(ref["value"].to_numpy(), run.quantities["test_error"])


def test_completion_problems_are_the_spec_instances(tmp_path):
    # three_phases_completion at its quick size: uniform sampling, p = 0.5, n = 40.
    spec = ROOT / "experiments" / "three_phases_completion.toml"
    res = lowrank.run_spec(spec, quick=True, results=tmp_path / "r", figures=tmp_path / "f")
    p = lowrank.Problem.completion(n=40, r=3, p=0.5, kappa=2.0, seed=1)
    assert p.m == res.runs["observations"][0]
    run = p.run(alpha=1e-6, r_prime=10, step_size=0.25, iterations=400, log_every=2)
    ref = res.trajectories[res.trajectories["quantity"] == "test_error"]
    assert np.array_equal(ref["value"].to_numpy(), run.quantities["test_error"])
    # The operator's adjoint identity, and ReLU sampling observes only positive entries.
    rng = np.random.default_rng(1)
    g = rng.standard_normal((p.n, p.n))
    z = (g + g.T) / 2
    v = rng.standard_normal(p.m)
    lhs, rhs = p.apply(z) @ v, np.sum(z * p.adjoint(v))
    assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), 1.0)
    relu = lowrank.Problem.completion(n=30, r=2, sampling="relu", truth="gaussian_factor", seed=4)
    assert np.all(relu.y > 0) and 0 < relu.m < 30 * 31 // 2
    with pytest.raises(ValueError, match="sampling"):
        lowrank.Problem.completion(n=30, r=2, sampling="entrywise")


def test_a_sigma_sweep_on_variants_in_one_batch_is_the_spec_sweep(tmp_path):
    # The CLI batches a σ sweep on one operator (one pass of 𝒜 per iteration); variant() and
    # run_batch(problem=…) do the same from Python, with the same bits.
    sigmas = [1e-3, 1e-2, 1e-1]
    spec = tmp_path / "noise.toml"
    spec.write_text(f"""
title = "t"
caption = "c"
[problem]
n = 12
r = 2
kappa = 2.0
m = 150
[init]
alpha = 1e-3
r_prime = 4
[gd]
step_size = 0.25
iterations = 200
log_every = 10
[seeds]
seed = 5
[sweep]
sigma = {sigmas}
[plot]
kind = "error_vs_parameter"
x = "sigma"
""")
    res = lowrank.run_spec(spec, results=tmp_path / "r", figures=tmp_path / "f")
    p = lowrank.Problem.gaussian(n=12, r=2, m=150, kappa=2.0, seed=5)
    variants = [p.variant(noise=s) for s in sigmas]
    for s, v in zip(sigmas, variants):
        alone = lowrank.Problem.gaussian(n=12, r=2, m=150, kappa=2.0, noise=s, seed=5)
        assert np.array_equal(v.y, alone.y) and np.array_equal(v.X, alone.X)
        assert not np.array_equal(v.y, p.y)
    runs = p.run_batch([
        dict(problem=v, alpha=1e-3, r_prime=4, iterations=200, log_every=10,
             seed=int(res.runs["init_seed"][i]))
        for i, v in enumerate(variants)
    ])
    traj = res.trajectories
    for i, run in enumerate(runs):
        ref = traj[(traj["run"] == i) & (traj["quantity"] == "test_error")]
        assert np.array_equal(ref["t"].to_numpy(), run.t)
        assert np.array_equal(ref["value"].to_numpy(), run.quantities["test_error"]), i
    assert "noise=0.01" in repr(variants[1]) and "kappa=2" in repr(variants[1])
    # Another X on the same operator; noise=0 removes the noise.
    k4 = variants[0].variant(kappa=4.0, noise=0)
    assert np.array_equal(k4.X, lowrank.Problem.gaussian(n=12, r=2, m=150, kappa=4.0, seed=5).X)
    assert np.array_equal(k4.y, k4.apply(k4.X @ k4.X.T))
    # A problem with its own operator (even an equal one) cannot join the batch.
    twin = lowrank.Problem.gaussian(n=12, r=2, m=150, kappa=2.0, seed=5)
    with pytest.raises(ValueError, match="share"):
        p.run_batch([dict(problem=twin)])
    with pytest.raises(ValueError, match="completion"):
        lowrank.Problem.completion(n=20, r=2, p=0.5).variant(noise=0.1)


def test_apply_reads_the_symmetric_part_of_any_z():
    # The A_i are symmetric, so 𝒜(Z) = 𝒜((Z + Zᵀ)/2); before, only Z's upper triangle was read.
    p = small()
    z = np.random.default_rng(1).standard_normal((p.n, p.n))
    assert rel(p.apply(z), p.apply((z + z.T) / 2)) <= 1e-14
    # A matrix and its transpose have the same symmetric part: the lower triangle counts.
    assert rel(p.apply(np.tril(z)), p.apply(np.tril(z).T)) <= 1e-14


def test_sizes_the_command_line_refuses_raise_value_error(tmp_path):
    # Before: run_spec skipped the memory check and the interpreter aborted on the allocation;
    # κ ≈ 1e17 made σ_r = 0 and panicked.
    spec = tmp_path / "huge.toml"
    spec.write_text((ROOT / "experiments" / "three_phases.toml").read_text()
                    .replace("n = 100", "n = 3000").replace("m = 3000", "m = 1000000"))
    with pytest.raises(ValueError, match="a batch needs"):
        lowrank.run_spec(spec, results=tmp_path / "r", figures=tmp_path / "f")
    with pytest.raises(ValueError, match="κ"):
        lowrank.Problem.gaussian(n=9, r=2, m=60, kappa=1e17)


def test_sizes_beyond_memory_raise_value_error_instead_of_aborting(monkeypatch):
    # Before: only run_spec checked memory; these aborted the interpreter (SIGABRT) on the
    # allocation. A budget of 1 GB, so that no host's memory lets them through.
    monkeypatch.setenv("LOWRANK_MAX_OPERATOR_BYTES", "1000000000")
    # In the call's words (before: the spec's keys, problem.n and gd.log_every, and a
    # trajectories.csv the call does not write).
    with pytest.raises(ValueError, match=r"^the instance \(n = 3000, r = 3, m = 1000000: its "
                       r"operator 32\.75 TiB, X, V_X, XXᵀ and y; give a smaller n or m\) needs "
                       r".* may be used") as e:
        lowrank.Problem.gaussian(n=3000, r=3, m=1000000)
    assert "problem." not in str(e.value) and ".csv" not in str(e.value)
    with pytest.raises(ValueError, match=r"^the instance \(n = 200000, r = 3: its operator"):
        lowrank.Problem.completion(n=200000, r=3, p=1.0)
    p = small()
    with pytest.raises(ValueError, match="may be used"):
        p.run(r_prime=10**9, iterations=1, log_every=1)
    with pytest.raises(ValueError, match="may be used"):
        p.run(iterations=10**12, log_every=1)
    with pytest.raises(ValueError, match="may be used"):
        p.initial_iterate(1e-3, 10**8)
    with pytest.raises(ValueError, match="may be used"):
        lowrank.Problem.gaussian(n=9, r=2, m=10**8)


def test_friendly_defaults_conversions_and_messages():
    p = small()
    # log_every defaults to 10, or to the iterations if fewer (iterations=5 was refused).
    assert list(p.run(iterations=5).t) == [0, 5]
    assert list(p.run(iterations=30).t) == [0, 10, 20, 30]
    # Integer arrays and lists are converted to float64; complex, string and boolean arrays are
    # refused (the conversion would drop or invent values).
    eye = np.eye(9)
    assert np.array_equal(p.apply(eye.astype(int)), p.apply(eye))
    assert np.array_equal(p.apply(eye.tolist()), p.apply(eye))
    for bad in [eye.astype(complex), eye.astype(str), eye.astype(bool)]:
        with pytest.raises(TypeError, match="Z has dtype .*; allowed: real numbers"):
            p.apply(bad)
    with pytest.raises(TypeError, match="v has dtype complex128"):
        p.adjoint(np.zeros(60, dtype=complex))
    with pytest.raises(TypeError, match="u0 has dtype"):
        p.run(u0=np.zeros((9, 2), dtype=complex))
    u0 = np.full((9, 2), 0.125)
    a = p.run(u0=u0.astype(np.float32), iterations=20).quantities["test_error"]
    assert np.array_equal(a, p.run(u0=u0, iterations=20).quantities["test_error"])
    # u0's messages say what is wrong.
    with pytest.raises(ValueError, match=r"u0\[0, 0\] = NaN; allowed: finite values"):
        p.run(u0=np.full((9, 2), np.nan))
    with pytest.raises(ValueError, match="u0 has 2 columns and r_prime = 3"):
        p.run(u0=u0, r_prime=3)
    # run_batch names the key of a negative whole number (a ValueError) or a wrong type.
    with pytest.raises(ValueError, match="run_batch: iterations = -1 is out of range"):
        p.run_batch([dict(iterations=-1)])
    with pytest.raises(TypeError, match="run_batch: seed = 'x'"):
        p.run_batch([dict(seed="x")])
    with pytest.raises(ValueError, match=r"run_batch: alpha = 1000000000000000000000000000000000000\.\.\. "
                       r"is out of range \(negative, or too large for its type\)"):
        p.run_batch([dict(alpha=10**400)])
    with pytest.raises(TypeError, match="run_batch: algorithm = 3"):
        p.run_batch([dict(algorithm=3)])
    with pytest.raises(TypeError, match="run_batch: problem = 'x'"):
        p.run_batch([dict(problem="x")])
    # So do direct arguments: a negative or oversized whole number is a ValueError (PyO3 raised
    # OverflowError) whose message names the argument (before: only a note did).
    for call, name in [(lambda: p.run(iterations=-1), "iterations"),
                       (lambda: p.run(seed=-1), "seed"),
                       (lambda: p.initial_iterate(1e-3, r_prime=-2), "r_prime"),
                       (lambda: lowrank.Problem.gaussian(-9, 2, 60), "n"),
                       (lambda: lowrank.Problem.completion(9, 2, p=0.5, seed=-3), "seed")]:
        with pytest.raises(ValueError,
                           match=f"^{name} = -\\d+ is negative; allowed: a whole number ≥ 0$"):
            call()
    # An instance's seed is one a spec can hold (TOML integers stop at 2^63 − 1); a run's init
    # seed, which no spec key takes, may use all of u64.
    lowrank.Problem.gaussian(9, 2, 60, seed=2**63 - 1)
    for build in [lambda: lowrank.Problem.gaussian(9, 2, 60, seed=2**63),
                  lambda: lowrank.Problem.completion(9, 2, p=0.5, seed=2**64 - 1)]:
        with pytest.raises(ValueError, match=r"^seed = \d+ is too large; allowed: a whole number "
                           r"up to 9223372036854775807 \(the largest a TOML spec holds"):
            build()
    assert p.run(seed=2**64 - 1, iterations=5).status == "completed"
    with pytest.raises(ValueError,
                       match=r"^log_every = \d+ is too large; allowed: a whole number up to \d+$"):
        p.run(log_every=2**70)
    with pytest.raises(ValueError, match="is negative"):
        p.run(iterations=np.int64(-1))
    # alpha and seed draw U_0: with u0 they are refused, not ignored.
    for extra in [dict(alpha=1e-3), dict(seed=1), dict(alpha=0.0)]:
        with pytest.raises(ValueError, match="which u0 replaces"):
            p.run(u0=u0, **extra)
        with pytest.raises(ValueError, match="which u0 replaces"):
            p.run_batch([dict(u0=u0, **extra)])
    # run_batch takes any iterable of dicts, and names what is not one.
    runs = p.run_batch(dict(alpha=a, iterations=10) for a in (1e-2, 1e-3))
    assert [r.status for r in runs] == ["completed", "completed"]
    with pytest.raises(TypeError, match="run_batch: an entry is <class 'int'>"):
        p.run_batch([dict(iterations=10), 3])
    # A callback that is not callable, before the run starts.
    with pytest.raises(TypeError, match="callback = 5 is not callable"):
        p.run(callback=5)
    # A failed step says where.
    r = p.run(algorithm="scaled_gd", lam=0.0, u0=np.zeros((9, 2)), iterations=5)
    assert r.status == "singular_preconditioner" and r.stopped_at == 0


def test_repr_is_the_call_that_builds_the_problem():
    eye = np.eye(9)
    for p in [small(), lowrank.Problem.completion(n=9, r=2, p=0.5, noise=0.1, seed=4),
              lowrank.Problem.completion(n=9, r=2, sampling="relu", truth="gaussian_factor")]:
        call = repr(p).split(" with |Ω|")[0]
        q = eval(call, {"Problem": lowrank.Problem})
        assert np.array_equal(q.apply(eye), p.apply(eye)), call
        assert repr(q) == repr(p)


def test_a_pickled_problem_is_the_same_instance():
    import pickle
    eye = np.eye(9)
    base = small()
    for p in [base, base.variant(noise=0.1, kappa=3.0),
              lowrank.Problem.completion(n=9, r=2, p=0.5, noise=0.1, seed=4),
              lowrank.Problem.completion(n=9, r=2, sampling="relu", truth="gaussian_factor")]:
        q = pickle.loads(pickle.dumps(p))
        assert repr(q) == repr(p)
        assert np.array_equal(q.apply(eye), p.apply(eye))
        assert np.array_equal(q.run(iterations=20).u, p.run(iterations=20).u)


def _same_run(a, b):
    assert np.array_equal(a.t, b.t)
    qa, qb = a.quantities, b.quantities
    assert list(qa) == list(qb)
    for k in qa:  # NaN where a quantity was not computed: compared as bits
        assert qa[k].tobytes() == qb[k].tobytes(), k
    assert a.u.tobytes() == b.u.tobytes() and a.u.shape == b.u.shape
    assert len(a.iterates) == len(b.iterates)
    for x, y in zip(a.iterates, b.iterates):
        assert x.tobytes() == y.tobytes() and x.shape == y.shape
    assert (a.status, a.stopped_at, repr(a)) == (b.status, b.stopped_at, repr(b))


def test_a_pickled_run_holds_the_same_numbers():
    import pickle
    p = small()
    kept = p.run(iterations=30, log_every=10, keep_iterates=True)
    stopped = p.run(iterations=30, log_every=10, callback=lambda t, u, loss: t < 10)
    diverged = p.run(alpha=1.0, step_size=50.0, iterations=30, log_every=1)
    assert (kept.status, stopped.status, diverged.status) == ("completed", "stopped", "diverged")
    assert len(kept.iterates) == 4
    for run in [kept, stopped, diverged]:
        _same_run(pickle.loads(pickle.dumps(run)), run)
    # Rows that do not match t are refused, not read out of bounds.
    f, args = kept.__reduce__()
    with pytest.raises(ValueError, match="rows has shape"):
        f(args[0][:2], *args[1:])
    with pytest.raises(ValueError, match="an iterate has shape"):
        f(args[0], args[1], [np.zeros((2, 2))] * len(args[2]), *args[3:])


def test_a_batch_callback_may_run_the_problem_again():
    # Before: with two or more runs the callbacks run on the engine's workers, and a run started
    # there waited for a helper thread that needed those workers (a deadlock). In a subprocess
    # with a timeout, so that a regression fails instead of hanging the suite.
    code = (
        "import lowrank\n"
        "p = lowrank.Problem.gaussian(n=30, r=2, m=600, kappa=2.0, seed=4)\n"
        "inner = []\n"
        "def cb(t, u, loss):\n"
        "    if t == 100: inner.append(p.run(iterations=20, log_every=10).t[-1])\n"
        "out = p.run_batch([dict(alpha=a, iterations=400, log_every=10, callback=cb)"
        " for a in (1e-2, 1e-3)])\n"
        "assert inner == [20, 20] and [r.t[-1] for r in out] == [400, 400], (inner, out)\n"
        "print('ok')\n"
    )
    assert_prints_ok(code)


def test_arrays_of_the_wrong_rank_are_refused_naming_the_argument():
    # Before: numpy's "dimensionality mismatch: from=1, to=2", naming no argument.
    p = small()
    for call, name in [(lambda: p.run(u0=np.zeros(9)), "u0"), (lambda: p.apply(np.zeros(81)), "Z"),
                       (lambda: p.adjoint(3.0), "v"),
                       (lambda: p.run_batch([dict(u0=np.zeros(9))]), "run_batch: u0")]:
        with pytest.raises(ValueError, match=f"^{name} has shape .*; allowed: a"):
            call()


def test_a_completion_problem_without_observations_warns():
    # As the command line notes it (before: silently a run with loss 0 and train error NaN).
    with pytest.warns(UserWarning, match=r"observes no entry of XXᵀ \(\|Ω\| = 0\)"):
        q = lowrank.Problem.completion(5, 2, sampling="relu", threshold=1e10)
    assert q.m == 0


def test_run_spec_refuses_paths_that_are_not_paths(tmp_path):
    # Before: str(None) wrote into ./None, str(b"...") into a directory named "b'...'".
    spec = ROOT / "experiments" / "three_phases.toml"
    for key, value in [("results", None), ("figures", None), ("results", b"r"), ("path", 3)]:
        args = dict(path=spec, results=tmp_path / "r", figures=tmp_path / "f")
        args[key] = value
        with pytest.raises(TypeError, match=f"{key} = .* is not a path"):
            lowrank.run_spec(**args)
    assert not (tmp_path / "r").exists() and not Path("None").exists()


def test_singular_values_whose_squares_would_overflow_or_underflow_are_refused():
    # Before: [1e300, 1e300] gave y all NaN, [1e-160, 1e-160] a "completed" run with error inf.
    for sv, message in [([1e300, 1e300], "singular_values = 1e300 is out of range"),
                        ([1e-160, 1e-160], "between 1e-50 and 1e50"),
                        ([1e7, 1e-7], "the largest over the smallest is 1e14")]:
        with pytest.raises(ValueError, match=message):
            lowrank.Problem.gaussian(5, 2, 10, singular_values=sv)


def test_runs_in_children_forked_after_the_parent_ran():
    # Before: rayon's global pool does not survive fork(), so after any run in the parent a run
    # in a forked child (multiprocessing's default on Linux) waited forever for its workers. In
    # a subprocess with a timeout, so that a regression fails instead of hanging the suite.
    code = (
        "import multiprocessing as mp, os, lowrank\n"
        "p = lowrank.Problem.gaussian(n=20, r=2, m=300, kappa=2.0, seed=1)\n"
        "def final(a):\n"
        "    run = p.run_batch([dict(alpha=a, iterations=40), dict(alpha=a / 10, iterations=40)])\n"
        "    return [r.u.tobytes() for r in run]\n"
        "if __name__ == '__main__':\n"
        "    here = [final(a) for a in (1e-2, 1e-3)]\n"
        "    with mp.get_context('fork').Pool(2) as pool:\n"
        "        there = pool.map_async(final, [1e-2, 1e-3]).get(timeout=60)\n"
        "    pid = os.fork()\n"  # a plain fork: build, apply and run in the child
        "    if pid == 0:\n"
        "        q = lowrank.Problem.gaussian(n=20, r=2, m=300, kappa=2.0, seed=1)\n"
        "        u = q.run(iterations=5).u\n"
        "        os._exit(0 if q.apply(u @ u.T).shape == (300,) else 1)\n"
        "    assert os.waitpid(pid, 0)[1] == 0\n"
        "    assert here == there\n"
        "    print('ok')\n"
    )
    assert_prints_ok(code)


@pytest.mark.parametrize("spec,run", [("three_phases_completion", 0), ("kappa_dependence", 1),
                                      ("kappa_dependence", 4)])
def test_the_export_readme_snippet_reproduces_the_first_logged_step(tmp_path, spec, run):
    # The numpy snippet in an export's README.txt, run as written (Gaussian and completion
    # operators; GD, ScaledGD and PrecGD): it prints max |U − U_1| against the exported trajectory.
    out = tmp_path / "export"
    subprocess.run([str(CLI), "--results", str(tmp_path / "r"), "--figures", str(tmp_path / "f"),
                    "export", str(ROOT / "experiments" / f"{spec}.toml"), "--quick", "--out",
                    str(out), "--run", str(run)], check=True, capture_output=True)
    readme = (out / "README.txt").read_text().splitlines()
    start = next(i for i, line in enumerate(readme) if line.strip().startswith("import numpy"))
    snippet = "\n".join(line[2:] for line in readme[start:])
    done = subprocess.run([sys.executable, "-c", snippet], cwd=out, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.split()[-1]) <= 1e-10, done.stdout
