#!/usr/bin/env bash
# THOR's claims (issue 18), on configs/study-thor.yaml:
#   scripts/study-thor.sh c3     # THOR vs dense, Switch, Hash, THOR α = 1 and α = 0, multilingual
#   scripts/study-thor.sh c4     # THOR (2 experts) vs Switch and Hash with 8 experts and a 4x dense FFN
#   scripts/study-thor.sh esen   # the Es<->En corpus with the same recipe
#   scripts/study-thor.sh tables # the tables of every study from the records (no training)
# Runs go seed by seed (all arms of seed 1 first), two processes at a time with
# one thread each (scripts/study-thor-run.sh). Resumable: a run whose record
# exists under docs/results/thor-STUDY/ is skipped, a run with a checkpoint
# under runs/ resumes, and the tables are rewritten from the records.
# JOBS (processes at a time, default 2), SEEDS, BEAM, TEST_LINES, DATA (where the
# corpora are made, default data), RESULTS, RUNS and SET (extra "--set key=value"
# words) redirect it, e.g. for a smoke test (tests/scripts/study_thor_smoke.sh):
#   DATA=/tmp/d RESULTS=/tmp/r RUNS=/tmp/runs SEEDS=1 SET="--set train.max_steps=2"
set -euo pipefail
cd "$(dirname "$0")/.."
MOEKIT=${MOEKIT:-build/moekit}
SEEDS=${SEEDS:-1 2 3}
export MOEKIT DATA=${DATA:-data} RESULTS=${RESULTS:-docs/results} RUNS=${RUNS:-runs}

multilingual_corpus() {
  [ -f "$DATA/bible-multi/manifest.json" ] ||
    "$MOEKIT" data bible --ces ../shared/data/bible-corpus --vocab-size 8000 --out "$DATA/bible-multi"
}
study=${1:-}
source scripts/thor-arms.sh
case $study in
  c3 | c4) multilingual_corpus ;;
  esen) [ -f "$DATA/bible/manifest.json" ] || "$MOEKIT" data bible --out "$DATA/bible" ;;
  tables)
    for s in c3 c4 esen; do
      [ -d "$RESULTS/thor-$s" ] && /usr/bin/python3 scripts/study_mt_tables.py "$RESULTS" "thor-$s" "$MOEKIT"
    done
    exit 0
    ;;
  *) echo "usage: $0 c3|c4|esen|tables" >&2; exit 2 ;;
esac

arms=$(thor_study_arms "$study")
# Each run appends to its log, so a rerun keeps the log of a run it skips or resumes.
mkdir -p "$RUNS/thor-$study"
for seed in $SEEDS; do
  for arm in $arms; do echo "$study $arm $seed"; done
done | xargs -P "${JOBS:-2}" -L 1 bash -c 'scripts/study-thor-run.sh "$0" "$@" >> "$RUNS/thor-$0-$1-s$2.log" 2>&1 ||
  { echo "failed: $0 $1 seed $2 (log: $RUNS/thor-$0-$1-s$2.log)" >&2; exit 255; }'
/usr/bin/python3 scripts/study_mt_tables.py "$RESULTS" "thor-$study" "$MOEKIT"
