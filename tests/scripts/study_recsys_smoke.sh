#!/usr/bin/env bash
# ctest StudyScripts.RecsysSmoke: scripts/study-recsys.sh c1 and c2 end to end
# on a tiny budget (2,000 rows, 1 epoch, 1 trial per arm, 1 seed): both halves of the arms
# run (one after the other, JOBS=1) and land in one table per S, COMET + LS with
# γ fixed; a rerun of c2
# adds no trial; a half that fails stops the study with a message naming it.
#   tests/scripts/study_recsys_smoke.sh MOEKIT
set -euo pipefail
MOEKIT=$(realpath "$1")
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$(dirname "$0")/../.."
export MOEKIT DATA=$scratch/data RESULTS=$scratch/results RUNS=$scratch/runs JOBS=1 TRIALS=1 SEEDS=1 TRIALS_C2=2
export SET="--set train.epochs=1 --set data.max_train=2000 --set data.max_valid=500 --set data.max_test=500"
fail() { echo "FAIL: $*" >&2; exit 1; }

scripts/study-recsys.sh c1 > "$scratch/c1.log" 2>&1 || { cat "$scratch/c1.log"; fail "c1"; }
for s in 1 4; do
  table=$RESULTS/c1-recsys-s$s/table/compare.md
  [ -f "$table" ] || fail "no $table"
  for arm in softmax topk "topk + LS" hash "hash + LS" dselectk comet "comet + LS" random "random + consistency"; do
    grep -qF -e "| $arm | 1 |" -e "| $arm (not sparse at test) | 1 |" "$table" ||
      fail "$table has no row for '$arm'"
  done
  # COMET + LS runs with γ fixed at 10 (--arm-set), in its trials and its seeds.
  for record in tune/b/trials.jsonl seeds/b/runs.jsonl; do
    f=$RESULTS/c1-recsys-s$s/$record
    grep -q '"gate":"comet","local_search":true' "$f" || fail "$f has no COMET + LS run"
    if grep '"gate":"comet","local_search":true' "$f" | grep -vq '"gate.gamma":"10"'; then
      fail "$f: a COMET + LS run without gate.gamma 10"
    fi
  done
done

scripts/study-recsys.sh c2 > "$scratch/c2.log" 2>&1 || { cat "$scratch/c2.log"; fail "c2"; }
trials() { cat "$RESULTS"/c2-budget/{a,b}/trials.jsonl | wc -l; }
[ "$(trials)" = 8 ] || fail "c2: $(trials) trials, expected 2 x 4 arms"
scripts/study-recsys.sh c2 > "$scratch/c2-again.log" 2>&1 || fail "c2 rerun"
[ "$(trials)" = 8 ] || fail "the c2 rerun added trials: $(trials)"

# A failing half (no epochs is an error) stops the study and names its log.
if SET="$SET --set train.epochs=0" RESULTS=$scratch/bad scripts/study-recsys.sh c2 > "$scratch/bad.log" 2>&1; then
  fail "a study whose trials fail exited 0"
fi
grep -q "failed: .*c2-budget/a (log: " "$scratch/bad.log" || { cat "$scratch/bad.log"; fail "no message naming the failed half"; }
echo "study-recsys.sh: c1 tables of 10 arms for S = 1 and 4, c2 resumed without new trials, a failed half reported"
