#!/usr/bin/env bash
# Runs a command against LibTorch 2.x: inside a chroot of Debian's development
# suite (sid), which carries LibTorch 2.x and python3-torch, with the source
# tree bind-mounted at its own path (issue #16; DESIGN.md "Known pitfalls").
#
#   scripts/torch2-env.sh [--dir DIR] [--setup-only] [--] COMMAND [ARG...]
#
# DIR (default: build-torch2 in the source tree, git-ignored; or $TORCH2_DIR)
# holds the chroot in DIR/chroot. The first call creates it with debootstrap
# (minbase, about 2.5 GB) and installs the project's build dependencies from
# the same suite; later calls reuse it and install only what a changed package
# list adds. COMMAND runs as root in the source tree, inside the chroot.
#
# NOTE: everything runs in a private mount namespace (unshare): /proc, /dev,
# /sys and the source tree are mounted there only, and the kernel drops those
# mounts when the command ends, even when it fails or is killed. Nothing is
# left mounted on the host, so the chroot can be deleted with rm -rf at any time
# no command is running in it.
#
# Environment: TORCH2_DIR (as --dir), TORCH2_MIRROR (Debian mirror; default:
# the first Debian mirror in /etc/apt/sources.list*, else deb.debian.org),
# TORCH2_SUITE (default sid). Variables named MOEKIT_*, CTEST_*, GTEST_*, OMP_*
# and JOBS pass into the chroot; nothing else of the caller's environment does.
set -euo pipefail

# NOTE: all in one function, so bash parses the whole script before running
# any of it: editing this file while a long command runs cannot corrupt that run.
main() {

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${TORCH2_DIR:-$repo/build-torch2}"
setup_only=0
args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) dir="$2"; shift 2 ;;
    --dir=*) dir="${1#--dir=}"; shift ;;
    --setup-only) setup_only=1; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,24p' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "torch2-env: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ $setup_only -eq 0 ] && [ $# -eq 0 ]; then
  echo "torch2-env: no command given (see --help)" >&2
  exit 2
fi

# The project's build dependencies (scripts/setup.sh's list) plus the Python
# torch for the benchmark peer, all from the development suite. NOTE:
# sentencepiece 0.2's header includes Abseil, which its -dev package does not
# pull in.
packages=(
  g++ cmake ninja-build make pkg-config zlib1g-dev
  libtorch-dev libopenblas0-openmp libgloo-dev python3-torch
  libsentencepiece-dev libabsl-dev sentencepiece libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist diatheke sword-text-sparv sword-text-web gnuplot-nox
)

# --- root, once, in a private mount namespace ---------------------------------------
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "torch2-env: needs root (mount, chroot)" >&2; exit 1; }
  exec sudo --preserve-env=TORCH2_DIR,TORCH2_MIRROR,TORCH2_SUITE "$0" "${args[@]}"
fi
if [ -z "${MOEKIT_TORCH2_NS:-}" ]; then
  export MOEKIT_TORCH2_NS=1
  exec unshare --mount --propagation private -- "$0" "${args[@]}"
fi

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
root="$dir/chroot"
suite="${TORCH2_SUITE:-sid}"

debian_mirror() {
  if [ -n "${TORCH2_MIRROR:-}" ]; then echo "$TORCH2_MIRROR"; return; fi
  local uri
  # One-line (deb URI SUITE ...) and deb822 (URIs: ...) sources; the archive
  # proper, not debian-security or a third-party repository.
  uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
      /etc/apt/sources.list.d/*.sources 2>/dev/null |
    sed -n -E 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([a-z]+:\/\/[^[:space:]]+).*/\2/p;
               s/^URIs:[[:space:]]*//p' |
    tr ' ' '\n' | grep -E '^[a-z]+://[^[:space:]]*/debian/?$' | head -n 1 || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

# apt inside the chroot: the suite's Release file can be past its Valid-Until
# date (DESIGN.md), and recommends would add gigabytes.
apt_in_chroot() {
  chroot "$root" /usr/bin/env -i DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    apt-get -o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false \
    -o APT::Install-Suggests=false "$@"
}

mount_all() {
  mount -t proc proc "$root/proc"
  mount --rbind /dev "$root/dev"
  mount --rbind /sys "$root/sys"
  mkdir -p "$root$repo"
  mount --bind "$repo" "$root$repo"
  cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  chmod 1777 "$root/tmp"
}

# NOTE: the namespace drops these mounts anyway when we exit; unmounting here
# keeps the chroot usable by a later step of this same run and is best effort.
unmount_all() {
  local m
  for m in "$root$repo" "$root/sys" "$root/dev" "$root/proc"; do
    if findmnt -n "$m" >/dev/null 2>&1; then umount -R "$m" 2>/dev/null || umount -R -l "$m" || true; fi
  done
}

# --- create or reuse the chroot ---------------------------------------------------------
# One setup at a time per DIR; commands run concurrently (their mounts are private).
exec 9>"$dir/.lock"
flock 9
if [ ! -e "$root/.moekit-debootstrap-done" ]; then
  if [ -e "$root" ]; then
    # A debootstrap that was interrupted: nothing can be mounted in it from
    # another namespace that still runs (those hold the lock), so start over.
    if findmnt -l -n -o TARGET | grep -q -F "$root/"; then
      echo "torch2-env: something is mounted under $root; unmount it first" >&2
      exit 1
    fi
    echo "torch2-env: removing the incomplete chroot $root"
    rm -rf --one-file-system "$root"
  fi
  mirror="$(debian_mirror)"
  echo "torch2-env: debootstrap $suite from $mirror into $root (a few minutes)"
  command -v debootstrap >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap; }
  debootstrap --variant=minbase "$suite" "$root" "$mirror"
  cat > "$root/etc/apt/apt.conf.d/99moekit" <<'EOF'
Acquire::Check-Valid-Until "false";
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  touch "$root/.moekit-debootstrap-done"
fi
if [ "$(cat "$root/.moekit-packages" 2>/dev/null)" != "${packages[*]}" ]; then
  trap unmount_all EXIT
  mount_all
  echo "torch2-env: installing ${#packages[@]} packages in the chroot"
  apt_in_chroot -qq update
  apt_in_chroot install -y -qq "${packages[@]}"
  apt_in_chroot clean
  echo "${packages[*]}" > "$root/.moekit-packages"
  unmount_all
  trap - EXIT
fi
flock -u 9
echo "torch2-env: $(chroot "$root" dpkg-query -W -f='LibTorch ${Version}' libtorch-dev) in $root"
[ $setup_only -eq 1 ] && exit 0

# --- run the command ------------------------------------------------------------------------
trap unmount_all EXIT
mount_all
pass=()
for name in $(compgen -e); do
  case "$name" in
    MOEKIT_TORCH2_NS) ;;
    MOEKIT_*|CTEST_*|GTEST_*|OMP_*|JOBS) pass+=("$name=${!name}") ;;
  esac
done
set +e
chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${pass[@]}" \
  /bin/bash -c 'cd "$1" && shift && exec "$@"' torch2-env "$repo" "$@"
status=$?
set -e
exit $status
}

main "$@"; exit $?
