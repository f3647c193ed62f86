#!/usr/bin/env bash
# Dense -> MoE distillation on the Es<->En Bible (issue 20): MoEBERT's recipe
# (importance-guided split, layer-wise distillation) with the router varied.
#   scripts/study-distill.sh           # teacher, split, every arm x SEEDS, tables
#   scripts/study-distill.sh tables    # the tables from the records (no training)
#   scripts/study-distill.sh speed     # decoding speed, teacher vs students (idle machine)
# 1. Teacher: the dense Es<->En model (configs/bible-dense.yaml) trained for
#    TEACHER_STEPS updates: runs/distill/teacher.
# 2. Split (`moekit moefy`): every FFN (H = 256) into 4 experts of 64 units,
#    a quarter of the FFN as MoEBERT has it, by unit importance on 2,000 pairs.
# 3. Students, from the split, STEPS updates each, distilled from the teacher
#    (beta = gamma = 5, MoEBERT's weight), with the arm's top-1 router: hash
#    (MoEBERT), comet (COMET-BERT), comet-ls (+ local search, 10% of the
#    steps), topk; and hash-nodistill (the split fine-tuned without teacher).
# Two processes at a time, one thread each. Resumable: a run whose record
# (docs/results/distill/ARM-sSEED/scores.json) exists is skipped, a run with
# a checkpoint under runs/distill/ resumes. On a fresh machine the teacher and
# the split are trained again (the same seed and data give the same model).
# Env: SEEDS (default 1 2 3), STEPS (400), TEACHER_STEPS (2000), JOBS (2),
# BEAM (1), RESULTS, RUNS, SET (extra "--set key=value" words for the students).
set -euo pipefail
cd "$(dirname "$0")/.."
MOEKIT=${MOEKIT:-build/moekit}
SEEDS=${SEEDS:-1 2 3}
export MOEKIT RESULTS=${RESULTS:-docs/results} RUNS=${RUNS:-runs} STEPS=${STEPS:-400} BEAM=${BEAM:-1}
RECORD=$RESULTS/distill
TEACHER=$RUNS/distill/teacher SPLIT=$RUNS/distill/split

train() {  # train RUN ARGS...: trains RUN, or resumes it, unless it has finished
  local run=$1
  shift
  [ -f "$run/results.json" ] && return 0
  if [ -f "$run/checkpoint.pt" ]; then
    "$MOEKIT" --threads 1 train-mt "$run/config.yaml" --out "$run" --resume
  else
    "$MOEKIT" --threads 1 train-mt "$@" --out "$run"
  fi
}

if [ "${1:-}" = run ]; then  # one student: run ARM SEED (started by the loop below)
  arm=$2 seed=$3
  [ -f "$RECORD/$arm-s$seed/scores.json" ] && exit 0
  read -r -a SET <<< "${SET:-}"
  distill=(--teacher "$TEACHER" --set distill.beta=5 --set distill.gamma=5)
  case $arm in
    hash) gate=(--set gate.name=hash) ;;
    comet) gate=(--set gate.name=comet --set gate.k=1) ;;
    comet-ls) gate=(--set gate.name=comet --set gate.k=1 --set gate.local_search=true
                    --set gate.search_steps=$((STEPS / 10))) ;;
    topk) gate=(--set gate.name=topk --set gate.k=1) ;;
    hash-nodistill) gate=(--set gate.name=hash) distill=() ;;
    *) echo "unknown arm '$arm'" >&2; exit 2 ;;
  esac
  run=$RUNS/distill/$arm-s$seed
  train "$run" "$SPLIT/config.yaml" --init "$SPLIT" "${distill[@]}" "${gate[@]}" \
    --set train.max_steps="$STEPS" --set train.eval_every=100 --set train.lr=0.001 \
    --set train.warmup_steps=100 --set train.best_metric=loss --set train.bleu_sentences=0 \
    "${SET[@]}" --set train.seed="$seed"
  scripts/study-mt-test.sh "$run" "$RECORD/$arm-s$seed"
  exit 0
fi

tables() { /usr/bin/python3 scripts/study_mt_tables.py "$RESULTS" distill "$MOEKIT"; }
if [ "${1:-}" = tables ]; then tables; exit 0; fi

# Decoding speed of the teacher and of each arm's seed-SPEED_SEED student, one
# after the other on a machine with nothing else running (the tables' test
# sentences/s come from runs that shared the cores): RECORD/speed.md.
if [ "${1:-}" = speed ]; then
  seed=${SPEED_SEED:-3}
  runs=("$TEACHER" "$RUNS"/distill/{comet,comet-ls,hash,topk,hash-nodistill}-s"$seed")
  for run in "${runs[@]}"; do
    [ -f "$run/best.pt" ] || { echo "speed: $run has no best.pt: train it first" >&2; exit 1; }
  done
  tmp=$(mktemp -d)
  mkdir -p "$RECORD"
  trap 'rm -rf "$tmp" "$RECORD/speed.md.tmp"' EXIT
  {
    echo "Test decoding (John, both directions, greedy, one thread), runs one after the"
    echo "other on an otherwise idle machine (\`scripts/study-distill.sh speed\`, seed $seed):"
    echo
    echo "| run | sentences | seconds | sentences/s | relative to the teacher |"
    echo "|---|---:|---:|---:|---:|"
    for run in "${runs[@]}"; do
      rm -f "$run"/test.*.hyp "$run"/test.*.hyp.seconds
      scripts/study-mt-test.sh "$run" "$tmp/$(basename "$run")" > /dev/null
      /usr/bin/python3 - "$tmp/$(basename "$run")/scores.json" "$(basename "$run")" "$tmp/$(basename "$TEACHER")" <<'PY'
import json, sys
def rate(path):
    d = json.load(open(path)).values()
    return sum(x["sentences"] for x in d), sum(x["decode_seconds"] for x in d)
n, s = rate(sys.argv[1])
tn, ts = rate(sys.argv[3] + "/scores.json")
print(f"| {sys.argv[2]} | {n} | {s:.1f} | {n / s:.1f} | {(n / s) / (tn / ts):.2f} |")
PY
    done
  } > "$RECORD/speed.md.tmp"
  mv "$RECORD/speed.md.tmp" "$RECORD/speed.md"
  cat "$RECORD/speed.md"
  exit 0
fi
[ $# -eq 0 ] || { echo "usage: $0 [tables|speed]" >&2; exit 2; }

[ -f data/bible/manifest.json ] || "$MOEKIT" data bible --out data/bible
mkdir -p "$RUNS/distill" "$RECORD"
train "$TEACHER" configs/bible-dense.yaml --set train.max_steps="${TEACHER_STEPS:-2000}"
[ -f "$RECORD/teacher-s1/scores.json" ] || scripts/study-mt-test.sh "$TEACHER" "$RECORD/teacher-s1"
if [ ! -f "$SPLIT/best.pt" ]; then
  "$MOEKIT" --threads 1 moefy "$TEACHER" --experts 4 --expert-hidden 64 --shared 0 \
    --samples 2000 --moe-layers all --out "$SPLIT"
fi
mkdir -p "$RECORD/split" && cp "$SPLIT/moefy.json" "$SPLIT/config.yaml" "$RECORD/split/"
for seed in $SEEDS; do
  for arm in comet hash comet-ls topk hash-nodistill; do echo "$arm $seed"; done
done | xargs -P "${JOBS:-2}" -L 1 bash -c 'scripts/study-distill.sh run "$0" "$1" > "$RUNS/distill/$0-s$1.log" 2>&1 ||
  { echo "failed: $0 seed $1 (log: $RUNS/distill/$0-s$1.log)" >&2; exit 255; }'
tables
