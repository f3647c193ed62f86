#!/usr/bin/env bash
# One run of the THOR study (scripts/study-thor.sh starts these, two at a time):
#   scripts/study-thor-run.sh STUDY ARM SEED
# trains (or resumes) runs/thor-STUDY/ARM-sSEED, then scripts/study-mt-test.sh
# decodes the test split of every direction and records what the tables need
# under docs/results/thor-STUDY/ARM-sSEED/ (results.json, the curve, scores.json,
# test.hyp.xz). A run whose scores.json exists is done and skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
MOEKIT=${MOEKIT:-build/moekit}
study=$1 arm=$2 seed=$3
CONFIG=configs/study-thor.yaml
RECORD=${RESULTS:-docs/results}/thor-$study/$arm-s$seed
RUN=${RUNS:-runs}/thor-$study/$arm-s$seed
# BEAM and TEST_LINES (smoke tests) pass on to scripts/study-mt-test.sh.
[ -f "$RECORD/scores.json" ] && exit 0
read -r -a SET <<< "${SET:-}"

DATA=${DATA:-data}  # where scripts/study-thor.sh made the corpora
source scripts/thor-arms.sh
thor_arm_settings "$arm" || exit 2
thor_study_data "$study" || exit 2

mkdir -p "$RUN" "$RECORD"
if [ ! -f "$RUN/results.json" ]; then
  if [ -f "$RUN/checkpoint.pt" ]; then
    "$MOEKIT" --threads 1 train-mt "$CONFIG" --out "$RUN" --resume
  else
    "$MOEKIT" --threads 1 train-mt "$CONFIG" "${data_set[@]}" "${arm_set[@]}" "${SET[@]}" \
      --set train.seed="$seed" --out "$RUN"
  fi
fi

scripts/study-mt-test.sh "$RUN" "$RECORD"
