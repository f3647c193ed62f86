#!/usr/bin/env bash
# One run of the THOR study (scripts/study-thor.sh starts these, two at a time):
#   scripts/study-thor-run.sh STUDY ARM SEED
# trains (or resumes) runs/thor-STUDY/ARM-sSEED, decodes the test split of
# every direction and records what the tables need under
# docs/results/thor-STUDY/ARM-sSEED/: results.json (the run's), metrics.jsonl
# (train and validation curve), scores.json (BLEU and chrF2 per direction) and
# test.hyp.xz (the hypotheses, directions one after the other, for the paired
# bootstrap). A run whose scores.json exists is done and skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
MOEKIT=${MOEKIT:-build/moekit}
PY=/usr/bin/python3
study=$1 arm=$2 seed=$3
CONFIG=configs/study-thor.yaml
RECORD=${RESULTS:-docs/results}/thor-$study/$arm-s$seed
RUN=${RUNS:-runs}/thor-$study/$arm-s$seed
BEAM=${BEAM:-1}
# TEST_LINES=N decodes the first N verses of each direction only (smoke tests).
TEST_LINES=${TEST_LINES:-}
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
  dense4x) arm_set=(--set model.moe_layers=none --set model.ffn_hidden=512
                    --set train.consistency=false) ;;
  *) echo "unknown arm '$arm'" >&2; exit 2 ;;
esac
case $study in
  c3 | c4) data_set=() ;;
  esen) data_set=(--set data.dir=data/bible --set data.directions=es-en,en-es) ;;
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

# Test: every direction of the run's own config, decoded with the best weights.
data_dir=$($PY -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["data"]["dir"])' "$RUN/config.yaml")
directions=$($PY -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["data"]["directions"])' "$RUN/config.yaml")
test_file() {  # test_file SPLIT SRC TGT LANG: the file of LANG in direction SRC-TGT
  local pair file=$data_dir/$1.$4
  for pair in "$2-$3" "$3-$2"; do
    [ -f "$data_dir/$1.$pair.$4" ] && { file=$data_dir/$1.$pair.$4; break; }
  done
  if [ -n "$TEST_LINES" ]; then
    head -n "$TEST_LINES" "$file" > "$RUN/head.$2-$3.$4"
    file=$RUN/head.$2-$3.$4
  fi
  echo "$file"
}
scores="{"
for direction in ${directions//,/ }; do
  src=${direction%-*} tgt=${direction#*-}
  hyp=$RUN/test.$direction.hyp
  if [ ! -f "$hyp" ]; then
    "$MOEKIT" --threads 1 translate "$RUN" --to "$tgt" --beam "$BEAM" --max-len 160 \
      < "$(test_file test "$src" "$tgt" "$src")" > "$hyp.tmp"
    mv "$hyp.tmp" "$hyp"
  fi
  ref=$(test_file test "$src" "$tgt" "$tgt")
  read -r bleu chrf <<< "$("$MOEKIT" bleu "$ref" "$hyp" --chrf -b | tr '\n' ' ')"
  scores+="\"$direction\": {\"bleu\": $bleu, \"chrf\": $chrf, \"sentences\": $(wc -l < "$ref")}, "
done
scores="${scores%, }}"

cp "$RUN/results.json" "$RUN/metrics.jsonl" "$RUN/config.yaml" "$RECORD/"
for direction in ${directions//,/ }; do cat "$RUN/test.$direction.hyp"; done | xz -9 > "$RECORD/test.hyp.xz.tmp"
mv "$RECORD/test.hyp.xz.tmp" "$RECORD/test.hyp.xz"
echo "$scores" | $PY -m json.tool > "$RECORD/scores.json.tmp"
mv "$RECORD/scores.json.tmp" "$RECORD/scores.json"
echo "$study $arm seed $seed: $(tr -d '\n ' < "$RECORD/scores.json" | head -c 200)"
