# Sourced by scripts/study-mt-test.sh and scripts/study-thor-inference.sh, with
# RUN set to a translation run folder:
#   config_key KEY              the run config's data.KEY
#   data_file SPLIT SRC TGT LANG  the file of LANG in direction SRC-TGT of SPLIT
#                               (the pair's own file, else the shared SPLIT.LANG)
config_key() {
  /usr/bin/python3 -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["data"][sys.argv[2]])' \
    "$RUN/config.yaml" "$1"
}
data_file() {
  local pair dir
  dir=$(config_key dir)
  for pair in "$2-$3" "$3-$2"; do
    [ -f "$dir/$1.$pair.$4" ] && { echo "$dir/$1.$pair.$4"; return; }
  done
  echo "$dir/$1.$4"
}
