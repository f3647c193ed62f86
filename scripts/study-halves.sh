# Sourced by the COMET study scripts (study-c1-multifashion.sh, study-recsys.sh):
#   run_halves ARMS_A ARMS_B RUNS_PREFIX RECORD_PREFIX COMMAND...
# runs COMMAND (a `moekit tune` or `compare` line) on each half of the arms,
# half h into RUNS_PREFIXh (log RUNS_PREFIXh.log) and RECORD_PREFIXh, as two
# processes at once or, with JOBS=1, one after the other (leaving a core to
# another study); stops the study when either half fails.
run_halves() {
  local runs=$3 record=$4 half
  local -A arms=([a]=$1 [b]=$2) pids=()
  shift 4
  mkdir -p "$(dirname "${runs}a")"
  for half in a b; do
    "$@" --gates "${arms[$half]}" --out "$runs$half" --record "$record$half" > "$runs$half.log" 2>&1 &
    pids[$half]=$!
    [ "${JOBS:-2}" != 1 ] || wait_half "$runs$half" "${pids[$half]}"
  done
  for half in a b; do wait_half "$runs$half" "${pids[$half]}"; done
}

wait_half() {  # wait_half RUN_FOLDER PID
  wait "$2" || { echo "failed: $1 (log: $1.log)" >&2; exit 1; }
}
