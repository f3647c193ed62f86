#!/usr/bin/env bash
# `pip install . --no-build-isolation` of the Python package into a scratch
# folder, reusing a build tree (default build), then an import and a forward
# pass from there: what a user's pip install does, without a second full build.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
target=$(mktemp -d)
trap 'rm -rf "$target"' EXIT
MOEKIT_BUILD_DIR=$build /usr/bin/python3 -m pip install . --no-build-isolation --no-deps \
  --quiet --disable-pip-version-check --root-user-action=ignore --target "$target"
cd "$target"
PYTHONPATH=$target /usr/bin/python3 - <<'PY'
import torch, moekit
assert moekit.__file__.startswith(__import__("os").getcwd()), moekit.__file__
layer = moekit.MoELayer(8, 16, 4, gate="comet", k=2, local_search=True)
y, aux = layer(torch.randn(5, 8))
assert y.shape == (5, 8)
print(f"pip install: moekit {moekit.__version__} from {moekit.__file__}, {len(moekit.gates.list())} gates")
PY
