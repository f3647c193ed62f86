#!/usr/bin/env bash
# Fetches, from the Debian registry, what scripts/gpu-check.sh needs on a GPU
# machine that has CUDA PyTorch 2.x but no Debian -dev packages and no network,
# into .gpu-deps/ (git-ignored; carry it to that machine with the tree):
#
#   include/        header-only libraries: CLI11, nlohmann-json, spdlog (from
#                   Debian's development suite: spdlog 1.15 builds against the
#                   fmt 11 that torch 2.x wheels bundle; bookworm's 1.10 does not)
#   include-fmt/    fmt 11 headers (development suite), used header-only
#   include-gloo/   Gloo headers, used only when the torch wheel lacks them
#   zlib/           zlib.h and a static libz.a (bookworm)
#   src/googletest  GoogleTest + GoogleMock sources (bookworm `googletest`)
#   src/yaml-cpp-*  yaml-cpp 0.7 sources (bookworm source package)
#
# The compiled libraries are built there from source, with that machine's
# compiler and torch's C++ ABI flag: bookworm's binaries could need a newer
# glibc/libstdc++ than that machine has. Idempotent: does nothing when
# .gpu-deps/.complete exists. Needs root (apt) and, for the development-suite
# headers, the chroot of scripts/torch2-env.sh (created if absent).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
deps="${GPU_DEPS_DIR:-$repo/.gpu-deps}"
[ -e "$deps/.complete" ] && { echo "gpu-deps: $deps is complete ($(du -sh "$deps" | cut -f1))"; exit 0; }

rm -rf "$deps"
mkdir -p "$deps"/{debs,extract,include,include-fmt,include-gloo,zlib,src}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --- bookworm binaries: googletest sources, zlib, header-only libraries, gloo ----------
(cd "$deps/debs" && apt-get download googletest zlib1g-dev libcli11-dev nlohmann-json3-dev libgloo-dev)

# --- development suite (sid): fmt 11 and spdlog 1.15 headers ------------------------------
bash "$repo/scripts/torch2-env.sh" --setup-only
chroot_debs="$repo/build-torch2/chroot/tmp/gpu-deps-debs"
mkdir -p "$chroot_debs"
bash "$repo/scripts/torch2-env.sh" -- bash -c \
  'cd /tmp/gpu-deps-debs && apt-get -o Acquire::Check-Valid-Until=false download libfmt-dev libspdlog-dev'
mv "$chroot_debs"/*.deb "$deps/debs/"
rmdir "$chroot_debs"

for deb in "$deps"/debs/*.deb; do dpkg -x "$deb" "$deps/extract"; done
x="$deps/extract/usr"
cp -r "$x/include/CLI" "$x/include/nlohmann" "$x/include/spdlog" "$deps/include/"
cp -r "$x/include/fmt" "$deps/include-fmt/"
cp -r "$x/include/gloo" "$deps/include-gloo/"
cp "$x/include/zlib.h" "$x/include/zconf.h" "$x"/lib/x86_64-linux-gnu/libz.a "$deps/zlib/"
cp -r "$x/src/googletest" "$deps/src/googletest"

# --- bookworm source package: yaml-cpp --------------------------------------------------------
mirror="$(sed -n -E 's/^URIs:[[:space:]]*//p; s/^deb[[:space:]]+([a-z]+:\/\/[^[:space:]]+).*/\1/p' \
  /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
  tr ' ' '\n' | grep -E '/debian/?$' | head -n 1 || true)"
mirror="${mirror:-http://deb.debian.org/debian}"
mkdir -p "$work/lists/partial"
echo "deb-src $mirror bookworm main" > "$work/sources.list"
apt_src=(-o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
         -o Dir::State::Lists="$work/lists")
apt-get "${apt_src[@]}" -qq update
(cd "$work" && apt-get "${apt_src[@]}" source --download-only yaml-cpp >/dev/null)
tar -C "$deps/src" -xf "$work"/yaml-cpp_*.orig.tar.*

rm -rf "$deps/extract" "$deps/debs"
touch "$deps/.complete"
echo "gpu-deps: $deps ready ($(du -sh "$deps" | cut -f1))"
