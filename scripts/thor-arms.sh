# The arms and corpora of the THOR studies (issue 18), sourced by
# scripts/study-thor-run.sh and scripts/study-thor-speed.sh; CONFIG names the
# study config (configs/study-thor.yaml) and DATA where the corpora are.
#   thor_arm_settings ARM     sets arm_set: the --set words by which ARM
#                             differs from CONFIG (equal active parameters per
#                             token unless the arm says otherwise)
#   thor_study_data STUDY     sets data_set: the --set words of STUDY's corpus
#   thor_study_arms STUDY     prints the arms of STUDY in the order they run
thor_arm_settings() {
  case $1 in
    thor) arm_set=() ;;                                             # α = 5, two passes
    thor-a1) arm_set=(--set train.consistency_alpha=1) ;;
    thor-a0) arm_set=(--set train.consistency=false) ;;             # random routing, one pass
    dense) arm_set=(--set model.moe_layers=none --set train.consistency=false) ;;
    switch) arm_set=(--set gate.name=switch --set train.consistency=false) ;;
    hash) arm_set=(--set gate.name=hash --set train.consistency=false) ;;
    switch8) arm_set=(--set gate.name=switch --set model.n_experts=8 --set train.consistency=false) ;;
    hash8) arm_set=(--set gate.name=hash --set model.n_experts=8 --set train.consistency=false) ;;
    dense4x)  # four times the config's FFN width
      local ffn
      ffn=$(/usr/bin/python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["model"]["ffn_hidden"])' "$CONFIG")
      arm_set=(--set model.moe_layers=none --set model.ffn_hidden=$((4 * ffn)) --set train.consistency=false) ;;
    *) echo "unknown arm '$1'" >&2; return 2 ;;
  esac
}
thor_study_data() {
  case $1 in
    c3 | c4) data_set=(--set data.dir="$DATA/bible-multi") ;;
    esen) data_set=(--set data.dir="$DATA/bible" --set data.directions=es-en,en-es) ;;
    *) echo "unknown study '$1'" >&2; return 2 ;;
  esac
}
thor_study_arms() {  # prints the arms of STUDY in the order they run
  case $1 in
    c3) echo "thor switch dense hash thor-a1 thor-a0" ;;
    c4) echo "switch8 hash8 dense4x" ;;
    esen) echo "thor thor-a1 switch dense hash" ;;  # α = 1 too: the best THOR of C3
    *) echo "unknown study '$1'" >&2; return 2 ;;
  esac
}
