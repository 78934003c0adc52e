"""lowrank: gradient descent from small random initialization for low-rank matrix recovery
(Stöger & Soltanolkotabi, NeurIPS 2021) and its neighbours, on the workspace's Rust engine.

Conventions (scalings, packing, seeds) are those of the Rust crates, stated once in the
repository's README ("Conventions"): Gaussian sensing 𝒜(Z)_i = ⟨A_i, Z⟩/√m, loss
f(U) = ¼‖𝒜(UUᵀ) − y‖², small random initialization U_0 = α·B with B_ij ~ N(0, 1/r').

    import lowrank
    p = lowrank.Problem.gaussian(n=100, r=3, m=3000, kappa=2.0, seed=1)
    run = p.run(alpha=1e-6, r_prime=10, iterations=500)       # a Run: run.t, run.quantities
    res = lowrank.run_spec("experiments/three_phases.toml")    # res.runs, res.trajectories

Invalid specs raise ValueError with the command line's message, invalid parameters with that
message in the call's argument names.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd

from ._lowrank import Problem, Run, run_spec_files

__all__ = ["Problem", "Run", "SpecResult", "run_spec"]


class SpecResult:
    """What `run_spec` returns: the spec's `runs` (runs.csv) and `trajectories` (trajectories.csv,
    long format run, t, quantity, value) as pandas DataFrames with the CSVs' numbers, the
    `manifest` (dict), the spec's `name`, the `files` written and the `notes` the command line
    prints besides (runs that all diverged, ended still falling or stalled, ...)."""

    def __init__(self, paths: dict):
        self.name: str = paths["name"]
        self.files: list = [Path(f) for f in paths["files"]]
        self.notes: list = list(paths["notes"])
        self.runs: pd.DataFrame = pd.read_csv(paths["runs_csv"])
        self.trajectories: pd.DataFrame = pd.read_csv(paths["trajectories_csv"])
        with open(paths["manifest"], encoding="utf-8") as f:
            self.manifest: dict = json.load(f)

    def to_polars(self):
        """(runs, trajectories) as polars DataFrames (needs polars installed)."""
        import polars as pl

        return pl.from_pandas(self.runs), pl.from_pandas(self.trajectories)

    def __repr__(self) -> str:
        return f"SpecResult({self.name!r}: {len(self.runs)} runs, {len(self.trajectories)} trajectory rows)"


def _path(name: str, value) -> str:
    """`value` as a path string: str or os.PathLike of str (None or bytes raise TypeError, where
    str() would have written into a directory named "None" or "b'…'")."""
    import os

    value = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(value, str):
        raise TypeError(f"{name} = {value!r} is not a path; allowed: a str or pathlib.Path")
    return value


def run_spec(path, quick: bool = False, results="results", figures="figures") -> SpecResult:
    """Run a TOML spec through exactly the pipeline of `experiments run` (validation, sweep,
    cache, batches; CSVs, manifest and figure written under `results` and `figures`) and return
    a SpecResult whose DataFrames hold the same numbers as the CSVs. `quick=True` applies the
    spec's [quick] overrides. A bad spec raises ValueError with the command line's message.
    Ctrl-C stops the runs within an iteration and raises KeyboardInterrupt without
    writing the batch under way or any CSV; running the spec again reuses what was cached.
    What the command line prints besides the numbers (every run diverged, runs still falling,
    ...) is warned with `warnings.warn` and kept in `SpecResult.notes`."""
    result = SpecResult(run_spec_files(_path("path", path), quick, _path("results", results),
                                       _path("figures", figures)))
    for note in result.notes:
        warnings.warn(note, stacklevel=2)
    return result
