#!/usr/bin/env python3
"""Checks that crates/python/Cargo.lock pins every crate it shares with the workspace's Cargo.lock
at the same version.

The Python module is a workspace of its own (PyO3 extension), built into the same target directory.
Cargo reuses a compiled dependency only when its version (and features) match, so a drifted lock
file makes `make test` compile most of the dependency tree a second time (about 2 min on 2 cores).
Fix a drift with `cargo update --manifest-path crates/python/Cargo.toml -p NAME --precise VERSION`.
"""
import re
import sys
from pathlib import Path

try:
    import tomllib  # Python ≥ 3.11
except ImportError:
    tomllib = None

root = Path(__file__).resolve().parent.parent
main_lock = root / "Cargo.lock"
python_lock = root / "crates/python/Cargo.lock"


def versions(path):
    text = path.read_text()
    if tomllib is not None:
        pairs = [(p["name"], p["version"]) for p in tomllib.loads(text)["package"]]
    else:
        # Cargo writes each [[package]] as `name = "…"` then `version = "…"` on the next line.
        pairs = re.findall(r'^name = "([^"]+)"\nversion = "([^"]+)"$', text, re.M)
    table = {}
    for name, version in pairs:
        table.setdefault(name, set()).add(version)
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
