#!/usr/bin/env bash
# COMET's claims on the recommender data (issue 17), synthetic MovieLens-format
# data with one user population (S = 1) and four (S = 4):
#   scripts/study-recsys.sh c1   # ten arms tuned, then each best trial with SEEDS seeds, per S
#   scripts/study-recsys.sh c2   # Top-k and Hash with and without local search, TRIALS_C2 paired trials (S = 4)
# Two processes, one thread each. Resumable: running it again continues from
# the committed records under docs/results/; run folders stay under runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
MOEKIT=${MOEKIT:-build/moekit}
CONFIG=configs/study-recsys.yaml
TRIALS=${TRIALS:-5}
SEEDS=${SEEDS:-3}
TRIALS_C2=${TRIALS_C2:-30}
for s in 1 4; do
  [ -d data/synth-ml-s$s ] ||
    "$MOEKIT" data synth-movielens --users 1000 --items 500 --segments $s --out data/synth-ml-s$s
done

# run_pair NAME ARMS_A ARMS_B COMMAND...: the two halves of the arms, one process each.
run_pair() {
  local name=$1 arms_a=$2 arms_b=$3
  shift 3
  mkdir -p "runs/$name"
  "$@" --gates "$arms_a" --out "runs/$name/a" --record "docs/results/$name/a" > "runs/$name/a.log" 2>&1 &
  "$@" --gates "$arms_b" --out "runs/$name/b" --record "docs/results/$name/b" > "runs/$name/b.log" 2>&1 &
  wait
}

case "${1:-}" in
  c1)
    ARMS_A=softmax,topk,topk+ls,hash,hash+ls
    ARMS_B=dselectk,comet,comet+ls,random,random+consistency
    for s in 1 4; do
      study=c1-recsys-s$s
      run_pair "$study/tune" $ARMS_A $ARMS_B \
        "$MOEKIT" --threads 1 tune $CONFIG --set data.dir=data/synth-ml-s$s --trials "$TRIALS"
      tuned=docs/results/$study/tune/a,docs/results/$study/tune/b
      run_pair "$study/seeds" $ARMS_A $ARMS_B \
        "$MOEKIT" --threads 1 compare $CONFIG --set data.dir=data/synth-ml-s$s --from-tune "$tuned" --seeds "$SEEDS"
      # One table over every arm from the two halves' records (nothing trains).
      "$MOEKIT" --threads 1 compare $CONFIG --set data.dir=data/synth-ml-s$s --from-tune "$tuned" --seeds "$SEEDS" \
        --continue-from "docs/results/$study/seeds/a/runs.jsonl,docs/results/$study/seeds/b/runs.jsonl" \
        --out "runs/$study/table" --record "docs/results/$study/table"
    done
    ;;
  c2)
    run_pair c2-budget topk,topk+ls hash,hash+ls \
      "$MOEKIT" --threads 1 tune $CONFIG --set data.dir=data/synth-ml-s4 --trials "$TRIALS_C2"
    ;;
  *)
    echo "usage: $0 c1|c2" >&2
    exit 2
    ;;
esac
