#!/usr/bin/env bash
# The test half of a translation study run (scripts/study-thor-run.sh,
# scripts/study-distill.sh):
#   scripts/study-mt-test.sh RUN RECORD
# decodes the test split of every direction of RUN's config with its best
# weights and records under RECORD: results.json, metrics.jsonl and
# config.yaml (the run's), scores.json (BLEU and chrF2 per direction, and the
# decoding's sentences per second, one thread) and test.hyp.xz (the
# hypotheses, directions one after the other, for the paired bootstrap).
# Env: MOEKIT, BEAM (default 1), TEST_LINES (decode only the first N verses of
# each direction: smoke tests).
set -euo pipefail
cd "$(dirname "$0")/.."
MOEKIT=${MOEKIT:-build/moekit}
PY=/usr/bin/python3
RUN=$1 RECORD=$2
BEAM=${BEAM:-1}
TEST_LINES=${TEST_LINES:-}
mkdir -p "$RECORD"
source scripts/mt-test-files.sh
directions=$(config_key directions)
test_file() {  # test_file SPLIT SRC TGT LANG, cut to TEST_LINES verses where set
  local file
  file=$(data_file "$@")
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
  source_file=$(test_file test "$src" "$tgt" "$src")
  if [ ! -f "$hyp" ] || [ ! -f "$hyp.seconds" ]; then
    start=$(date +%s%N)
    "$MOEKIT" --threads 1 translate "$RUN" --to "$tgt" --beam "$BEAM" --max-len 160 \
      < "$source_file" > "$hyp.tmp"
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    printf '%d.%03d\n' $((ms / 1000)) $((ms % 1000)) > "$hyp.seconds"
    mv "$hyp.tmp" "$hyp"
  fi
  ref=$(test_file test "$src" "$tgt" "$tgt")
  read -r bleu chrf <<< "$("$MOEKIT" bleu "$ref" "$hyp" --chrf -b | tr '\n' ' ')"
  lines=$(wc -l < "$ref")
  scores+="\"$direction\": {\"bleu\": $bleu, \"chrf\": $chrf, \"sentences\": $lines, "
  scores+="\"decode_seconds\": $(cat "$hyp.seconds"), \"beam\": $BEAM}, "
done
scores="${scores%, }}"

cp "$RUN/results.json" "$RUN/metrics.jsonl" "$RUN/config.yaml" "$RECORD/"
for direction in ${directions//,/ }; do cat "$RUN/test.$direction.hyp"; done | xz -9 > "$RECORD/test.hyp.xz.tmp"
mv "$RECORD/test.hyp.xz.tmp" "$RECORD/test.hyp.xz"
echo "$scores" | $PY -m json.tool > "$RECORD/scores.json.tmp"
mv "$RECORD/scores.json.tmp" "$RECORD/scores.json"
echo "$RECORD: $(tr -d '\n ' < "$RECORD/scores.json" | head -c 200)"
