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

# The arms: what each changes in the THOR config (equal active parameters per
# token unless the arm says otherwise).
case $arm in
  thor) arm_set=() ;;                                             # α = 5, two passes
  thor-a1) arm_set=(--set train.consistency_alpha=1) ;;
  thor-a0) arm_set=(--set train.consistency=false) ;;             # random routing, one pass
  dense) arm_set=(--set model.moe_layers=none --set train.consistency=false) ;;
  switch) arm_set=(--set gate.name=switch --set train.consistency=false) ;;
  hash) arm_set=(--set gate.name=hash --set train.consistency=false) ;;
  switch8) arm_set=(--set gate.name=switch --set model.n_experts=8 --set train.consistency=false) ;;
  hash8) arm_set=(--set gate.name=hash --set model.n_experts=8 --set train.consistency=false) ;;
  dense4x)  # four times the config's FFN width
    ffn=$(/usr/bin/python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["model"]["ffn_hidden"])' "$CONFIG")
    arm_set=(--set model.moe_layers=none --set model.ffn_hidden=$((4 * ffn)) --set train.consistency=false) ;;
  *) echo "unknown arm '$arm'" >&2; exit 2 ;;
esac
DATA=${DATA:-data}  # where scripts/study-thor.sh made the corpora
case $study in
  c3 | c4) data_set=(--set data.dir="$DATA/bible-multi") ;;
  esen) data_set=(--set data.dir="$DATA/bible" --set data.directions=es-en,en-es) ;;
  *) echo "unknown study '$study'" >&2; exit 2 ;;
esac

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
