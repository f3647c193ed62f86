#!/usr/bin/env bash
# ctest StudyScripts.ThorSmoke: scripts/study-thor.sh esen end to end on a tiny
# budget (a 2-layer d-32 model, 2 updates, 2 test verses per direction): every
# arm trains, is decoded and recorded, the tables name every arm, a second run
# of the same command trains nothing and writes the same tables, and
# scripts/study-thor-inference.sh times and scores THOR's three expert modes,
# scripts/study-thor-speed.sh times training and translation of three arms.
#   tests/scripts/study_thor_smoke.sh MOEKIT
set -euo pipefail
MOEKIT=$(realpath "$1")
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$(dirname "$0")/../.."
export MOEKIT DATA=$scratch/data RESULTS=$scratch/results RUNS=$scratch/runs SEEDS=1 JOBS=1 TEST_LINES=2
# One line: the scripts read SET with `read -a`.
tiny=(model.d_model=32 model.ffn_hidden=64 model.heads=2 model.encoder_layers=2 model.decoder_layers=2
      train.max_steps=2 train.eval_every=2 train.warmup_steps=1 train.max_tokens=512)
export SET="${tiny[*]/#/--set }"

fail() { echo "FAIL: $*" >&2; exit 1; }
scripts/study-thor.sh esen > "$scratch/first.log" 2>&1 || { cat "$scratch/first.log"; fail "first run"; }
study=$RESULTS/thor-esen
for arm in thor thor-a1 switch dense hash; do
  scores=$study/$arm-s1/scores.json
  [ -f "$scores" ] || fail "no $scores"
  for direction in es-en en-es; do
    grep -q "\"$direction\"" "$scores" || fail "$scores lacks $direction"
  done
  [ -f "$study/$arm-s1/test.hyp.xz" ] || fail "no hypotheses for $arm"
done
for label in "THOR (α = 5)" "THOR α = 1" "| Switch |" "| Hash |" "| dense |"; do
  grep -qF "$label" "$study/README.md" || fail "the tables lack '$label'"
done
cp "$study/table.csv" "$scratch/table.first.csv"

# Resuming a finished study: nothing is trained again, the runs' logs are
# kept as they were, the tables are the same.
cat "$RUNS"/thor-esen-*-s1.log > "$scratch/run-logs.first"
grep -q "train pairs" "$scratch/run-logs.first" || fail "the run logs lack the first run's training"
scripts/study-thor.sh esen > "$scratch/second.log" 2>&1 || { cat "$scratch/second.log"; fail "second run"; }
cat "$RUNS"/thor-esen-*-s1.log | cmp -s - "$scratch/run-logs.first" ||
  fail "the second run trained again or emptied a run's log"
cmp -s "$study/table.csv" "$scratch/table.first.csv" || fail "the second run changed table.csv"

# The inference-cost script on the THOR run: every mode decoded and scored.
ROUNDS=2 scripts/study-thor-inference.sh "$RUNS/thor-esen/thor-s1" "$scratch/inference.json" > /dev/null 2>&1 ||
  fail "study-thor-inference.sh"
/usr/bin/python3 - "$scratch/inference.json" <<'PY' || fail "inference.json: $(cat "$scratch/inference.json")"
import json, sys
out = json.load(open(sys.argv[1]))
assert out["sentences"] == 4, out["sentences"]  # 2 verses x 2 directions
assert sorted(out["modes"]) == ["fixed:0", "mean", "sample"], sorted(out["modes"])
for mode in out["modes"].values():
    assert len(mode["sentences_per_s"]) == 2 and all(v > 0 for v in mode["sentences_per_s"])
    assert sorted(mode["directions"]) == ["en-es", "es-en"]
assert out["modes"]["sample"]["speed_vs_sample"] == 1.0
PY

# The speed script: each arm trained and, from its run, decoded in each round.
STEPS=20 ROUNDS=2 ARMS="thor hash dense" scripts/study-thor-speed.sh esen "$scratch/speed.json" > /dev/null 2>&1 ||
  fail "study-thor-speed.sh"
/usr/bin/python3 - "$scratch/speed.json" <<'PY' || fail "speed.json: $(cat "$scratch/speed.json")"
import json, sys
out = json.load(open(sys.argv[1]))
assert sorted(out["arms"]) == ["dense", "hash", "thor"], sorted(out["arms"])
for arm in out["arms"].values():
    for key in ("train_tokens_per_s", "translate_sentences_per_s"):
        assert len(arm[key]) == 2 and all(v > 0 for v in arm[key]), arm
assert out["arms"]["dense"]["train_vs_dense"] == 1.0 and out["arms"]["dense"]["translate_vs_dense"] == 1.0
PY
echo "study-thor.sh esen: 5 arms trained, decoded, recorded and tabulated; the rerun trained nothing;" \
     "study-thor-inference.sh scored 3 modes; study-thor-speed.sh timed 3 arms"
