#!/usr/bin/env python3
"""Checks that crates/python/Cargo.lock pins every crate it shares with the workspace's Cargo.lock
at the same version.

The Python module is a workspace of its own (PyO3 extension), built into the same target directory.
Cargo reuses a compiled dependency only when its version (and features) match, so a drifted lock
file makes `make test` compile most of the dependency tree a second time (about 2 min on 2 cores).
Fix a drift with `cargo update --manifest-path crates/python/Cargo.toml -p NAME --precise VERSION`.
"""
import sys
import tomllib
from pathlib import Path

root = Path(__file__).resolve().parent.parent
main_lock = root / "Cargo.lock"
python_lock = root / "crates/python/Cargo.lock"


def versions(path):
    packages = tomllib.loads(path.read_text())["package"]
    table = {}
    for p in packages:
        table.setdefault(p["name"], set()).add(p["version"])
    return table


main, python = versions(main_lock), versions(python_lock)
drift = sorted(
    (name, sorted(main[name]), sorted(python[name]))
    for name in main.keys() & python.keys()
    if main[name] != python[name]
)
if drift:
    print(f"{python_lock.relative_to(root)} differs from {main_lock.relative_to(root)}:", file=sys.stderr)
    for name, a, b in drift:
        print(f"  {name}: workspace {', '.join(a)}, python {', '.join(b)}", file=sys.stderr)
    print(
        "align it with: cargo update --manifest-path crates/python/Cargo.toml -p NAME --precise VERSION",
        file=sys.stderr,
    )
    sys.exit(1)
print(f"lock files agree on the {len(main.keys() & python.keys())} crates they share")
