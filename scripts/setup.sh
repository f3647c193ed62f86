#!/usr/bin/env bash
# Installs every Debian package moekit needs. Idempotent: installs nothing
# when all packages are present; otherwise one `apt-get update`, then install.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build make pkg-config zlib1g-dev
  # tensors, BLAS, distributed
  libtorch-dev libopenblas0-openmp libgloo-dev
  # libraries
  libsentencepiece-dev sentencepiece libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  # the Python package (python/): bindings, Debian's torch over the same LibTorch, tests
  python3-dev python3-torch pybind11-dev python3-pybind11 python3-pytest python3-setuptools python3-pip
  # data and plots
  dataset-fashion-mnist diatheke sword-text-sparv sword-text-web gnuplot-nox
  # study scripts (scripts/study-*.sh): run configs and compressed hypotheses
  python3-yaml xz-utils
)

# `setup.sh fuzz` adds what only `make fuzz` needs: clang with libFuzzer and
# the sanitizer runtimes.
if [ "${1:-}" = "fuzz" ]; then packages+=(clang libclang-rt-14-dev); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
