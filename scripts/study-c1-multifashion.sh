#!/usr/bin/env bash
# COMET's claim C1 on MultiFashionMNIST (issue 17): eight arms tuned by paired
# random search, then each arm's best trial rerun with seeds 0..SEEDS-1.
# Two processes, one thread each (JOBS=1: the two halves one after the other,
# leaving a core to another study). Resumable: running it again continues from
# the committed records under docs/results/c1-multifashion/ (trials.jsonl,
# runs.jsonl); run folders (checkpoints) stay under runs/c1-multifashion/.
#   TRIALS=8 SEEDS=3 scripts/study-c1-multifashion.sh
# RESULTS, RUNS and SET (extra "--set key=value" words) redirect it, e.g. for a
# smoke test: RESULTS=/tmp/r RUNS=/tmp/runs SET="--set train.epochs=1" TRIALS=1 SEEDS=1
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/study-halves.sh
MOEKIT=${MOEKIT:-build/moekit}
TRIALS=${TRIALS:-8}
SEEDS=${SEEDS:-3}
CONFIG=configs/study-c1-multifashion.yaml
RECORD=${RESULTS:-docs/results}/c1-multifashion
RUNS=${RUNS:-runs}/c1-multifashion
read -r -a SET <<< "${SET:-}"
# COMET+ as the reference runs it (mazumder-lab/COMET, movielens2M/comet_perm.json,
# its only COMET+ config): γ fixed at 10 where plain COMET tunes it.
FIXED=(--arm-set comet+ls:gate.gamma=10)
ARMS_A=softmax,topk,topk+ls,dselectk
ARMS_B=comet,comet+ls,random,random+consistency
mkdir -p "$RUNS"
# Written once, before two processes could race to write it.
[ -d data/multifashion ] ||
  "$MOEKIT" data multifashion --out data/multifashion

# 1. Tune: the arms in two halves (paired: trial t draws the same values and
#    seed in every arm, whichever process runs it).
run_halves $ARMS_A $ARMS_B "$RUNS/tune-" "$RECORD/tune-" \
  "$MOEKIT" --threads 1 tune "$CONFIG" "${SET[@]}" --trials "$TRIALS" "${FIXED[@]}"

# 2. Seeds: each half's best trials, then one table over every arm (no training).
TUNED=$RECORD/tune-a,$RECORD/tune-b
run_halves $ARMS_A $ARMS_B "$RUNS/compare-" "$RECORD/compare-" \
  "$MOEKIT" --threads 1 compare "$CONFIG" "${SET[@]}" --from-tune "$TUNED" --seeds "$SEEDS" "${FIXED[@]}"
"$MOEKIT" --threads 1 compare "$CONFIG" "${SET[@]}" --from-tune "$TUNED" --seeds "$SEEDS" "${FIXED[@]}" \
  --continue-from "$RECORD/compare-a/runs.jsonl,$RECORD/compare-b/runs.jsonl" \
  --out "$RUNS/compare" --record "$RECORD/compare"
