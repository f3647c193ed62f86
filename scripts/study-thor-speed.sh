#!/usr/bin/env bash
# Train and translate speed of every arm of a THOR study, measured in one run
# so that the arms can be compared (issue 18; a study's own runs are timed
# under whatever else shared the machine):
#   scripts/study-thor-speed.sh STUDY OUT.json
# Training: each arm trains STEPS updates (default 40) from scratch on the
# study's corpus with one thread; its speed is the median tokens/s of the
# logged windows after the first (THOR's two passes count the batch once).
# Translation: each arm's seed-1 run of the study under RUNS, where it exists,
# decodes the first TEST_LINES verses (default 100) of the test split of every
# direction, greedy, with its config's expert mode (THOR: sample).
# The arms take turns within each of ROUNDS rounds (default 2), in reverse
# order every other round, so that a steady process on the other core slows
# every arm alike; OUT gives each round's figure and the mean relative to
# dense. ARMS (default: the study's arms, THOR and dense), DATA, RUNS and SET
# (extra "--set key=value" words) redirect it.
set -euo pipefail
cd "$(dirname "$0")/.."
MOEKIT=${MOEKIT:-build/moekit}
PY=/usr/bin/python3
CONFIG=configs/study-thor.yaml
DATA=${DATA:-data} RUNS=${RUNS:-runs}
ROUNDS=${ROUNDS:-2} STEPS=${STEPS:-40} TEST_LINES=${TEST_LINES:-100}
STUDY=$1 OUT=$2
read -r -a SET <<< "${SET:-}"
source scripts/thor-arms.sh
source scripts/mt-test-files.sh
thor_study_data "$STUDY" || exit 2
if [ -z "${ARMS:-}" ]; then
  ARMS=$(thor_study_arms "$STUDY")
  for arm in thor dense; do [[ " $ARMS " == *" $arm "* ]] || ARMS="$ARMS $arm"; done
fi
read -r -a arms <<< "$ARMS"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

train_speed() {  # train_speed ARM: trains STEPS updates, prints the median tokens/s
  local dir=$work/train.$1
  thor_arm_settings "$1"
  rm -rf "$dir"
  "$MOEKIT" --threads 1 train-mt "$CONFIG" "${data_set[@]}" "${arm_set[@]}" "${SET[@]}" \
    --set train.max_steps="$STEPS" --set train.eval_every="$STEPS" --set train.seed=1 \
    --out "$dir" > "$dir.log" 2>&1 || { cat "$dir.log" >&2; echo "training $1 failed" >&2; return 1; }
  "$PY" - "$dir/metrics.jsonl" <<'PY'
import json, statistics, sys
speeds = [j["tokens_per_s"] for j in map(json.loads, open(sys.argv[1])) if "tokens_per_s" in j]
if len(speeds) < 2:
    sys.exit(f"{sys.argv[1]}: {len(speeds)} logged windows; STEPS must cover two train.log_every windows")
print(f"{statistics.median(speeds[1:]):.1f}")
PY
}

# The test verses every arm decodes (the directions and files of the study's
# corpus, read through the first run found).
RUN=
for arm in "${arms[@]}"; do
  [ -f "$RUNS/thor-$STUDY/$arm-s1/results.json" ] && { RUN=$RUNS/thor-$STUDY/$arm-s1; break; }
done
directions=
if [ -n "$RUN" ]; then
  directions=$(config_key directions)
  for direction in ${directions//,/ }; do
    head -n "$TEST_LINES" "$(data_file test "${direction%-*}" "${direction#*-}" "${direction%-*}")" > "$work/src.$direction"
  done
fi

translate_speed() {  # translate_speed ARM: prints sentences/s, or null without a run
  local run=$RUNS/thor-$STUDY/$1-s1 direction start sentences=0
  [ -n "$directions" ] && [ -f "$run/results.json" ] || { echo null; return; }
  start=$(date +%s%N)
  for direction in ${directions//,/ }; do
    "$MOEKIT" --threads 1 translate "$run" --to "${direction#*-}" --beam 1 --max-len 160 \
      < "$work/src.$direction" > /dev/null
    sentences=$((sentences + $(wc -l < "$work/src.$direction")))
  done
  "$PY" -c 'import sys; print(f"{int(sys.argv[1]) / (int(sys.argv[2]) / 1e9):.2f}")' \
    "$sentences" $(($(date +%s%N) - start))
}

for round in $(seq 1 "$ROUNDS"); do
  order=("${arms[@]}")
  if [ $((round % 2)) = 0 ]; then
    order=()
    for arm in "${arms[@]}"; do order=("$arm" "${order[@]}"); done
  fi
  for arm in "${order[@]}"; do
    train=$(train_speed "$arm")
    translate=$(translate_speed "$arm")
    echo "$arm $round $train $translate" >> "$work/speeds"
    echo "round $round, $arm: train $train tokens/s, translate $translate sentences/s" >&2
  done
done

"$PY" - "$work/speeds" "$OUT" "$STUDY" "$STEPS" "$ROUNDS" "$TEST_LINES" <<'PY'
import json, os, statistics, sys
speeds, out, study, steps, rounds, test_lines = sys.argv[1:]
arms = {}
for line in open(speeds):
    arm, _, train, translate = line.split()
    a = arms.setdefault(arm, {"train_tokens_per_s": [], "translate_sentences_per_s": []})
    a["train_tokens_per_s"].append(float(train))
    if translate != "null":
        a["translate_sentences_per_s"].append(float(translate))

def mean(arm, key):
    values = arms.get(arm, {}).get(key) or []
    return statistics.mean(values) if values else None

for arm, a in arms.items():
    for key, ratio in (("train_tokens_per_s", "train_vs_dense"), ("translate_sentences_per_s", "translate_vs_dense")):
        mine, dense = mean(arm, key), mean("dense", key)
        a[ratio] = round(mine / dense, 3) if mine and dense else None
        if not a[key]:
            a[key] = None
with open(out + ".tmp", "w") as f:  # never a half-written OUT
    json.dump({"study": study, "steps": int(steps), "rounds": int(rounds), "test_lines": int(test_lines),
               "arms": arms}, f, indent=2)
os.replace(out + ".tmp", out)
PY
echo "wrote $OUT" >&2
