#!/usr/bin/env bash
# The CUDA checks of issue #16, for a GPU machine with CUDA PyTorch 2.x in
# `python3`, a C++ compiler and CMake, but no Debian -dev packages and no
# network. Builds moekit with -DMOEKIT_WITH_CUDA=ON against the LibTorch inside
# that torch, using what scripts/gpu-deps.sh put in .gpu-deps/ (carry it along),
# then runs the CUDA test cases (names end in CUDA), the MoE CPU cases under that
# torch, `moekit bench moe-layer --device cuda` and the PyTorch peer.
#
#   scripts/gpu-check.sh [all|build|run]   # logs and results under $OUT (else ./gpu-check-out)
#
# `build` (dependencies, configure, build: a few minutes on 16 cores) and `run`
# (tests and benchmarks) can be two calls, each under a per-command time limit;
# the build tree is build-gpu/ in the source tree (git-ignored), so a second
# call on the same machine reuses it. Every step logs to $OUT/<step>.log and
# appends a line to $OUT/summary.txt. A failing step does not stop the later
# ones that do not need it.
# GPU_CHECK_CUDA=OFF and GPU_CHECK_JOBS=N exist to rehearse the build on a
# machine without CUDA (e.g. inside scripts/torch2-env.sh).
set -uo pipefail

main() {
phase="${1:-all}"
case "$phase" in all|build|run) ;; *) echo "usage: $0 [all|build|run]" >&2; return 2 ;; esac
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${OUT:-$repo/gpu-check-out}"
deps="${GPU_DEPS_DIR:-$repo/.gpu-deps}"
work="${GPU_CHECK_WORK:-$repo/build-gpu}"
jobs="${GPU_CHECK_JOBS:-$(nproc)}"
with_cuda="${GPU_CHECK_CUDA:-ON}"
mkdir -p "$out" "$work"
summary="$out/summary.txt"
note() { echo "$*" | tee -a "$summary"; }
note "== gpu-check.sh $phase, $(date -u +%FT%TZ)"
# step NAME COMMAND...: runs it with its output in $OUT/NAME.log, notes the result.
step() {
  local name="$1"; shift
  local start=$SECONDS
  if "$@" > "$out/$name.log" 2>&1; then
    note "ok    $name ($((SECONDS - start)) s)"
    return 0
  fi
  note "FAIL  $name ($((SECONDS - start)) s): see $name.log; last lines:"
  tail -n 15 "$out/$name.log" | sed 's/^/      /' | tee -a "$summary"
  return 1
}

# --- the machine -------------------------------------------------------------------------
python3 - > "$out/torch.env" 2> "$out/torch-info.log" <<'EOF'
import os, torch
print(f"TORCH_VERSION={torch.__version__}")
print(f"TORCH_ROOT={os.path.dirname(torch.__file__)}")
print(f"TORCH_CMAKE={torch.utils.cmake_prefix_path}")
print(f"TORCH_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}")
print(f"TORCH_CUDA={torch.version.cuda}")
print(f"CUDA_AVAILABLE={int(torch.cuda.is_available())}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"GPU='{p.name} sm{p.major}{p.minor}'")
print(f"HAS_GROUPED_MM={int(hasattr(torch, '_grouped_mm'))}")
try:
    import nvidia
    print(f"NVIDIA_PIP={list(nvidia.__path__)[0]}")
except Exception:
    print("NVIDIA_PIP=")
EOF
if [ ! -s "$out/torch.env" ]; then note "FAIL  python3 cannot import torch: see torch-info.log"; return 1; fi
# shellcheck disable=SC1091
. "$out/torch.env"
note "torch $TORCH_VERSION (CUDA $TORCH_CUDA, C++11 ABI $TORCH_ABI) on ${GPU:-no GPU}; $jobs cores"
[ "$CUDA_AVAILABLE" = 1 ] || note "WARNING: torch.cuda.is_available() is false: CUDA cases will skip"
[ "$HAS_GROUPED_MM" = 1 ] || note "WARNING: this torch has no _grouped_mm (needs >= 2.8)"
[ "$TORCH_ABI" = 1 ] || note "WARNING: this torch uses the pre-C++11 ABI; the libraries below are built to match"
for tool in cmake c++; do
  command -v "$tool" > /dev/null || { note "FAIL  no '$tool' on this machine"; return 1; }
done
[ -e "$deps/.complete" ] || { note "FAIL  $deps missing: run scripts/gpu-deps.sh where there is network and carry .gpu-deps"; return 1; }
generator=(-G "Unix Makefiles")
command -v ninja > /dev/null && generator=(-G Ninja)
abi_flag="-D_GLIBCXX_USE_CXX11_ABI=$TORCH_ABI"
cxx_std=17
grep -q "C++20 or later" "$TORCH_ROOT/include/ATen/ATen.h" 2>/dev/null && cxx_std=20

# --- dependencies, built here with this compiler and torch's ABI -----------------------
prefix="$work/prefix"
# NOTE: no `set -e` in these functions: `step` runs them where bash ignores it,
# so every command that can fail ends in `|| return 1`.
build_deps() {
  # NOTE: CMAKE_POLICY_VERSION_MINIMUM lets CMake >= 4 configure yaml-cpp 0.7
  # (it asks for 3.4); older CMake ignores it. yaml-cpp 0.7 uses uint32_t
  # without <cstdint>, which GCC >= 13's headers no longer bring in.
  cmake -S "$deps/src/googletest" -B "$work/gtest" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_CXX_FLAGS="$abi_flag" -DCMAKE_POSITION_INDEPENDENT_CODE=ON || return 1
  cmake --build "$work/gtest" -j "$jobs" --target install || return 1
  cmake -S "$(echo "$deps"/src/yaml-cpp-*)" -B "$work/yaml-cpp" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DCMAKE_CXX_FLAGS="$abi_flag -include cstdint" -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DYAML_CPP_BUILD_TESTS=OFF -DYAML_CPP_BUILD_TOOLS=OFF \
    -DYAML_BUILD_SHARED_LIBS=OFF || return 1
  cmake --build "$work/yaml-cpp" -j "$jobs" --target install || return 1
  # Header-only libraries as imported targets. NOTE: fmt comes in through
  # CMAKE_CXX_FLAGS below (-I, searched before every -isystem), so that every
  # <fmt/...> include, torch's own included, resolves to the one carried copy.
  local cm="$prefix/lib/cmake"
  mkdir -p "$cm/fmt" "$cm/spdlog" "$cm/nlohmann_json" "$cm/CLI11" || return 1
  cat > "$cm/fmt/fmt-config.cmake" <<EOT
if(NOT TARGET fmt::fmt)
  add_library(fmt::fmt INTERFACE IMPORTED)
  set_target_properties(fmt::fmt PROPERTIES INTERFACE_COMPILE_DEFINITIONS FMT_HEADER_ONLY=1)
endif()
EOT
  cat > "$cm/spdlog/spdlog-config.cmake" <<EOT
if(NOT TARGET spdlog::spdlog)
  add_library(spdlog::spdlog INTERFACE IMPORTED)
  set_target_properties(spdlog::spdlog PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "$deps/include"
    INTERFACE_COMPILE_DEFINITIONS "SPDLOG_FMT_EXTERNAL;FMT_HEADER_ONLY=1")
endif()
EOT
  for pkg in nlohmann_json:nlohmann_json::nlohmann_json CLI11:CLI11::CLI11; do
    cat > "$cm/${pkg%%:*}/${pkg%%:*}-config.cmake" <<EOT
if(NOT TARGET ${pkg#*:})
  add_library(${pkg#*:} INTERFACE IMPORTED)
  set_target_properties(${pkg#*:} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "$deps/include")
endif()
EOT
  done
}
build="$work/build"
if [ "$phase" != run ]; then
if [ -e "$prefix/.done" ]; then
  note "ok    deps (built before, $prefix)"
else
  step deps build_deps || return 1
  touch "$prefix/.done"
fi

# --- moekit against torch's LibTorch: its own TorchConfig (needs the CUDA toolkit),
# else a plain imported target over the wheel's libraries and headers ---------------------
torch_shim() {
  # NOTE: outside $prefix, so that CMAKE_PREFIX_PATH cannot find it by itself.
  local dir="$work/torch-shim" lib="$TORCH_ROOT/lib" inc="$TORCH_ROOT/include"
  local cuda_inc="" cuda_libs="" d
  # CUDA headers (c10/cuda includes cuda_runtime_api.h): the toolkit's, else
  # those of the wheel's nvidia-* packages.
  local dirs=(/usr/local/cuda/include)
  [ -n "$NVIDIA_PIP" ] && dirs+=("$NVIDIA_PIP"/*/include)
  for d in "${dirs[@]}"; do
    [ -d "$d" ] && cuda_inc="$cuda_inc;$d"
  done
  # NOTE: --no-as-needed: nothing references libtorch_cuda directly, but only
  # loading it registers the CUDA backend.
  [ -e "$lib/libtorch_cuda.so" ] &&
    cuda_libs="-Wl,--no-as-needed;$lib/libtorch_cuda.so;$lib/libc10_cuda.so;-Wl,--as-needed;"
  mkdir -p "$dir" || return 1
  cat > "$dir/TorchConfig.cmake" <<EOT
# Written by scripts/gpu-check.sh: the wheel's LibTorch without its CMake logic.
if(NOT TARGET torch)
  add_library(torch UNKNOWN IMPORTED)
  set_target_properties(torch PROPERTIES
    IMPORTED_LOCATION "$lib/libtorch.so"
    INTERFACE_INCLUDE_DIRECTORIES "$inc;$inc/torch/csrc/api/include$cuda_inc"
    INTERFACE_COMPILE_OPTIONS "$abi_flag"
    INTERFACE_LINK_LIBRARIES "$cuda_libs$lib/libtorch_cpu.so;$lib/libc10.so"
    CXX_STANDARD $cxx_std)
endif()
set(TORCH_LIBRARIES torch)
set(TORCH_CXX_FLAGS "$abi_flag")
set(Torch_FOUND TRUE)
EOT
}
step torch-shim torch_shim
gloo_flags=""
[ -d "$TORCH_ROOT/include/gloo" ] || gloo_flags="-idirafter $deps/include-gloo"
configure() {
  local torch_dir="$1" build="$2"
  cmake -S "$repo" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -Wno-dev \
    -DMOEKIT_WITH_CUDA="$with_cuda" -DMOEKIT_BUILD_BENCH=OFF \
    -DCMAKE_PREFIX_PATH="$prefix" -DTorch_DIR="$torch_dir" \
    -DCMAKE_CXX_FLAGS="-I$deps/include-fmt $gloo_flags $abi_flag" \
    -DZLIB_INCLUDE_DIR="$deps/zlib" -DZLIB_LIBRARY="$deps/zlib/libz.a"
}
# Configure once (a build tree left by an earlier call is reused): torch's own
# TorchConfig.cmake, else, when that fails (typically: no CUDA toolkit for its
# find_package(CUDAToolkit)), the imported target written above.
if [ ! -e "$build/.configured" ]; then
  rm -rf "$build"
  if step configure-torchconfig configure "$TORCH_CMAKE/Torch" "$build"; then
    echo "torch's own TorchConfig.cmake" > "$build/.configured"
  else
    rm -rf "$build"
    step configure-shim configure "$work/torch-shim" "$build" || return 1
    echo "the imported-target TorchConfig.cmake of gpu-check.sh" > "$build/.configured"
  fi
fi
note "      configured with $(cat "$build/.configured")"
step build cmake --build "$build" -j "$jobs" --target moekit moekit_cli moekit_tests || return 1
grep -q "MOEKIT_WITH_CUDA:BOOL=$with_cuda" "$build/CMakeCache.txt" ||
  note "WARNING: MOEKIT_WITH_CUDA is not $with_cuda in $build"
fi
[ "$phase" = build ] && { note "build done in $SECONDS s"; return 0; }
[ -x "$build/tests/moekit_tests" ] || { note "FAIL  no build in $build: run the build phase first"; return 1; }

# --- checks ------------------------------------------------------------------------------
tests="$build/tests/moekit_tests"
step list-cuda-tests "$tests" --gtest_list_tests --gtest_filter='*CUDA*'
step cuda-tests "$tests" --gtest_filter='*CUDA*' --gtest_output="xml:$out/cuda-tests.xml"
skipped="$(grep '^\[  SKIPPED \] .*CUDA' "$out/cuda-tests.log" | sed 's/ (.*//' | sort -u | wc -l)"
[ "$skipped" = 0 ] || note "      $skipped CUDA cases skipped (see cuda-tests.log for why)"
step moe-cpu-tests "$tests" --gtest_filter='Moe*:*/Moe*' --gtest_output="xml:$out/moe-cpu-tests.xml"
cli="$build/moekit"
for dtype in bf16 f32; do
  step "bench-cuda-$dtype" "$cli" bench moe-layer --device cuda --dtype "$dtype" --skip-naive \
    --repeats 5 --warmup 2 --json
  step "peer-cuda-$dtype" python3 "$repo/bench/grouped_moe_peer.py" --device cuda \
    --dtype "$dtype" --repeats 5 --warmup 2
done
step peer-check-cuda-bf16 python3 "$repo/bench/grouped_moe_peer.py" --device cuda --dtype bf16 --check
note "done in $SECONDS s; logs in $out"
}

main "$@"; exit $?
