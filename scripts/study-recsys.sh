#!/usr/bin/env bash
# COMET's claims on the recommender data (issue 17), synthetic MovieLens-format
# data with one user population (S = 1) and four (S = 4):
#   scripts/study-recsys.sh c1   # ten arms tuned, then each best trial with SEEDS seeds, per S
#   scripts/study-recsys.sh c2   # Top-k and Hash with and without local search, TRIALS_C2 paired trials (S = 4)
# Two processes, one thread each (JOBS=1: the two halves one after the other,
# leaving a core to another study). Resumable: running it again continues from
# the committed records under docs/results/; run folders stay under runs/.
# DATA (where the data sets are made, default data), RESULTS, RUNS and SET
# (extra "--set key=value" words) redirect it, e.g. for a smoke test
# (tests/scripts/study_recsys_smoke.sh):
#   DATA=/tmp/d RESULTS=/tmp/r RUNS=/tmp/runs SET="--set train.epochs=1" TRIALS=1 SEEDS=1
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/study-halves.sh
MOEKIT=${MOEKIT:-build/moekit}
CONFIG=configs/study-recsys.yaml
TRIALS=${TRIALS:-5}
SEEDS=${SEEDS:-3}
TRIALS_C2=${TRIALS_C2:-30}
RESULTS=${RESULTS:-docs/results}
RUNS=${RUNS:-runs}
DATA=${DATA:-data}
read -r -a SET <<< "${SET:-}"
# COMET+ as the reference runs it (mazumder-lab/COMET, movielens2M/comet_perm.json):
# γ fixed at 10 where plain COMET tunes it.
FIXED=(--arm-set comet+ls:gate.gamma=10)
for s in 1 4; do
  [ -d "$DATA/synth-ml-s$s" ] ||
    "$MOEKIT" data synth-movielens --users 1000 --items 500 --segments $s --out "$DATA/synth-ml-s$s"
done

case "${1:-}" in
  c1)
    ARMS_A=softmax,topk,topk+ls,hash,hash+ls
    ARMS_B=dselectk,comet,comet+ls,random,random+consistency
    for s in 1 4; do
      study=c1-recsys-s$s
      run_halves $ARMS_A $ARMS_B "$RUNS/$study/tune/" "$RESULTS/$study/tune/" \
        "$MOEKIT" --threads 1 tune $CONFIG "${SET[@]}" --set data.dir="$DATA"/synth-ml-s$s --trials "$TRIALS" "${FIXED[@]}"
      tuned=$RESULTS/$study/tune/a,$RESULTS/$study/tune/b
      run_halves $ARMS_A $ARMS_B "$RUNS/$study/seeds/" "$RESULTS/$study/seeds/" \
        "$MOEKIT" --threads 1 compare $CONFIG "${SET[@]}" --set data.dir="$DATA"/synth-ml-s$s --from-tune "$tuned" --seeds "$SEEDS" "${FIXED[@]}"
      # One table over every arm from the two halves' records (nothing trains).
      "$MOEKIT" --threads 1 compare $CONFIG "${SET[@]}" --set data.dir="$DATA"/synth-ml-s$s --from-tune "$tuned" --seeds "$SEEDS" "${FIXED[@]}" \
        --continue-from "$RESULTS/$study/seeds/a/runs.jsonl,$RESULTS/$study/seeds/b/runs.jsonl" \
        --out "$RUNS/$study/table" --record "$RESULTS/$study/table"
    done
    ;;
  c2)
    run_halves topk,topk+ls hash,hash+ls "$RUNS/c2-budget/" "$RESULTS/c2-budget/" \
      "$MOEKIT" --threads 1 tune $CONFIG "${SET[@]}" --set data.dir="$DATA"/synth-ml-s4 --trials "$TRIALS_C2"
    ;;
  *)
    echo "usage: $0 c1|c2" >&2
    exit 2
    ;;
esac
