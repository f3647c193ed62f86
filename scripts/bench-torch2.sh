#!/usr/bin/env bash
# The MoE layer benchmark side by side, in one run (issue #16): moekit against
# LibTorch 1.13 (the host build), moekit against LibTorch 2.x and the same layer
# in plain PyTorch 2.x (bench/grouped_moe_peer.py), both in the chroot of
# scripts/torch2-env.sh; for each thread count, all three back to back.
#
#   scripts/bench-torch2.sh [THREADS...]        # default: 1 2
#
# Needs both builds (`make build` and `make test-torch2`). Env: BUILD (host build
# dir, default build), TORCH2_BUILD (default build-torch2/build), REPEATS
# (default 3), BENCH_ARGS (extra `moekit bench moe-layer` options, e.g. --dtype
# bf16; shape options must then be given to the peer too, via PEER_ARGS).
# Writes build-torch2/bench-<time>.jsonl and prints a Markdown table.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
build="${BUILD:-build}"
torch2_build="${TORCH2_BUILD:-build-torch2/build}"
repeats="${REPEATS:-3}"
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 2)
for f in "$build/moekit" "$torch2_build/moekit"; do
  [ -x "$f" ] || { echo "bench-torch2: $f missing: run make build and make test-torch2" >&2; exit 1; }
done
log="build-torch2/bench-$(date +%Y%m%d-%H%M%S).jsonl"
mkdir -p build-torch2
# shellcheck disable=SC2086
for n in "${threads[@]}"; do
  echo "bench-torch2: $n thread(s)" >&2
  "$build/moekit" --threads "$n" bench moe-layer --skip-naive --repeats "$repeats" --json \
    ${BENCH_ARGS:-} | sed 's/^{/{"impl": "moekit",/' >> "$log"
  bash scripts/torch2-env.sh -- bash -c "
    $torch2_build/moekit --threads $n bench moe-layer --skip-naive --repeats $repeats --json \
      ${BENCH_ARGS:-} | sed 's/^{/{\"impl\": \"moekit\",/'
    python3 bench/grouped_moe_peer.py --threads $n --repeats $repeats ${PEER_ARGS:-}" >> "$log"
done
/usr/bin/python3 - "$log" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
def fmt(r, key):
    return f"{r[key]:.2f}" if key in r else "–"
print(f"\nfrom {sys.argv[1]}; ratios to the dense FFN of the same run (lower is better)\n")
print("| threads | pass | implementation | LibTorch | dense ms | MoE/dense (default path) "
      "| _grouped_mm/dense | slice loop/dense |")
print("|---|---|---|---|---:|---:|---:|---:|")
for r in sorted(rows, key=lambda r: (r["threads"], r["pass"] != "forward_backward")):
    if r["impl"] == "moekit":
        default = f"{r['moe/dense']:.2f} ({r.get('moe_path', 'slice_loop')})"
        grouped, loop = fmt(r, "moe_grouped_mm/dense"), fmt(r, "moe_slice_loop/dense")
        name = "moekit"
    else:
        default, name = "–", "PyTorch (plain, bench/grouped_moe_peer.py)"
        grouped, loop = fmt(r, "torch_grouped_mm/dense"), fmt(r, "torch_slice_loop/dense")
    print(f"| {r['threads']} | {r['pass']} | {name} | {r['torch']} | {r['dense_ms']:.2f} "
          f"| {default} | {grouped} | {loop} |")
EOF
