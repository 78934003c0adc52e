#!/usr/bin/env bash
# Installs what building and running this workspace needs on a fresh Debian machine; skips what is there.
#   - libopenblas-dev, pkg-config: the BLAS behind the operator products (openblas-src, feature `system`)
#   - rustfmt, clippy: for `make lint`
#   - any Debian packages named as arguments (e.g. scripts/python-setup.sh: python3-dev python3-venv)
# and checks that cargo is at least the workspace's rust-version.
set -euo pipefail
need=()
for pkg in libopenblas-dev pkg-config "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }
# rust-version in Cargo.toml (read from there): the oldest cargo that builds the locked dependencies.
min_minor=$(sed -n 's/^rust-version = "1\.\([0-9]*\).*/\1/p' "$(dirname "$0")/../Cargo.toml")
minor=$(cargo --version | sed -n 's/^cargo 1\.\([0-9]*\).*/\1/p')
if [ -n "$minor" ] && [ -n "$min_minor" ] && [ "$minor" -lt "$min_minor" ]; then
  echo "setup: $(cargo --version) is too old; this workspace needs cargo >= 1.$min_minor (rustup update stable)" >&2
  exit 1
fi
if command -v rustup >/dev/null; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c" >/dev/null 2>&1 || true
  done
fi
