#!/usr/bin/env bash
# What THOR's inference costs per expert mode (issue 18):
#   scripts/study-thor-inference.sh RUN OUT.json
# decodes the test split of every direction of RUN (greedy, one thread) with
# --expert-mode sample (the paper's: one expert per sentence and layer, only
# that expert computed), mean (every expert computed and averaged: the
# compute of the reference code, which runs every expert) and fixed:0, and
# writes per mode the sentences per second of each round, BLEU and chrF2
# averaged over the directions, and the speed relative to sample.
# The modes take turns within each of ROUNDS rounds (default 2), in reverse
# order every other round, so a machine shared with other work slows every
# mode alike. TEST_LINES decodes only the first N verses per direction.
set -euo pipefail
cd "$(dirname "$0")/.."
MOEKIT=${MOEKIT:-build/moekit}
PY=/usr/bin/python3
RUN=$1 OUT=$2
ROUNDS=${ROUNDS:-2}
TEST_LINES=${TEST_LINES:-}
MODES=(sample mean fixed:0)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

source scripts/mt-test-files.sh
directions=$(config_key directions)
for direction in ${directions//,/ }; do
  src=${direction%-*} tgt=${direction#*-}
  for side in src:"$src" ref:"$tgt"; do
    file=$(data_file test "$src" "$tgt" "${side#*:}")
    if [ -n "$TEST_LINES" ]; then head -n "$TEST_LINES" "$file"; else cat "$file"; fi > "$work/${side%%:*}.$direction"
  done
done

decode_all() {  # decode_all MODE ROUND: every direction; prints the seconds taken
  local mode=$1 round=$2 direction start
  start=$(date +%s%N)
  for direction in ${directions//,/ }; do
    "$MOEKIT" --threads 1 translate "$RUN" --to "${direction#*-}" --beam 1 --max-len 160 \
      --expert-mode "$mode" < "$work/src.$direction" > "$work/hyp.$mode.$round.$direction"
  done
  echo $(( ($(date +%s%N) - start) / 1000000 ))
}

for round in $(seq 1 "$ROUNDS"); do
  order=("${MODES[@]}")
  if [ $((round % 2)) = 0 ]; then
    order=()
    for mode in "${MODES[@]}"; do order=("$mode" "${order[@]}"); done
  fi
  for mode in "${order[@]}"; do
    echo "$mode $round $(decode_all "$mode" "$round")" >> "$work/times"
    echo "round $round, $mode: $(tail -n 1 "$work/times" | cut -d' ' -f3) ms" >&2
  done
done

sentences=$(cat "$work"/src.* | wc -l)
{
  for mode in "${MODES[@]}"; do
    for direction in ${directions//,/ }; do
      read -r bleu chrf <<< "$("$MOEKIT" bleu "$work/ref.$direction" "$work/hyp.$mode.1.$direction" --chrf -b | tr '\n' ' ')"
      echo "score $mode $direction $bleu $chrf"
    done
  done
  cat "$work/times"
} | $PY -c '
import json, statistics, sys
sentences, run, rounds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
scores, times = {}, {}
for line in sys.stdin:
    w = line.split()
    if w[0] == "score":
        scores.setdefault(w[1], {})[w[2]] = {"bleu": float(w[3]), "chrf": float(w[4])}
    else:
        times.setdefault(w[0], []).append(int(w[2]) / 1000)
out = {"run": run, "sentences": sentences, "rounds": rounds, "beam": 1, "modes": {}}
base = statistics.mean(sentences / s for s in times["sample"])
for mode, seconds in times.items():
    speeds = [sentences / s for s in seconds]
    out["modes"][mode] = {
        "sentences_per_s": [round(v, 2) for v in speeds],
        "speed_vs_sample": round(statistics.mean(speeds) / base, 3),
        "avg_bleu": round(statistics.mean(v["bleu"] for v in scores[mode].values()), 2),
        "avg_chrf": round(statistics.mean(v["chrf"] for v in scores[mode].values()), 2),
        "directions": scores[mode],
    }
print(json.dumps(out, indent=2))
' "$sentences" "$RUN" "$ROUNDS" > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
cat "$OUT"
