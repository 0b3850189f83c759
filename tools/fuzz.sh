#!/usr/bin/env bash
# fuzz.sh -- build and run the libFuzzer harnesses of tests/fuzz (clang,
# ASan+UBSan) in build-fuzz/.  docs/fuzzing.md explains the targets.
#
#   tools/fuzz.sh list                 the targets
#   tools/fuzz.sh build                configure and build build-fuzz/
#   tools/fuzz.sh TARGET SECONDS       a campaign on one target (one process)
#                                      (RAYSENSE_FUZZ_RUNS=N: stop after N
#                                      executions if that comes first)
#   tools/fuzz.sh all SECONDS          a campaign on each target in turn
#   tools/fuzz.sh short [SECONDS]      test mode: replay each target's seeds and
#                                      corpus, then fuzz it SECONDS (default 5)
# Campaigns keep what they find: corpus in build-fuzz/corpus/TARGET, crashes
# in build-fuzz/artifacts/TARGET, the log in build-fuzz/logs/TARGET.log.
# Each target prints one line:
#   fuzz TARGET: PASS|FAIL execs=N cov=N ft=N corpus=N seconds=N
# and short mode ends with "fuzz: N passed, N failed".  Exit 1 on any FAIL.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${RAYSENSE_FUZZ_BUILD_DIR:-$REPO/build-fuzz}"
FUZZ_SRC="$REPO/tests/fuzz"

# The target list lives in tests/fuzz/CMakeLists.txt (set(FUZZ_TARGETS ...)).
targets() {
  sed -n '/^set(FUZZ_TARGETS/,/)/p' "$FUZZ_SRC/CMakeLists.txt" |
    sed 's/set(FUZZ_TARGETS//; s/)//' | tr -s ' \n' '\n' | sed '/^$/d'
}

dicts_of() { # target -> its dictionaries
  case "$1" in
  dash_*) echo json dashboard ;;
  rtext_*) echo raytext ;;
  kuberay_*|lease|token_review|node_pods) echo json kube ;;
  signals) echo json signals ;;
  scenario|config) echo json scenario ;;
  raylet_argv|lc_cmdline) echo cmdline ;;
  cgroup_path) echo cgroup ;;
  gcs_load) echo protobuf ;;
  *) return 1 ;;
  esac
}

build() {
  CC="${CC:-clang}" cmake -S "$REPO" -B "$DIR" -DRAYSENSE_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
    cmake --build "$DIR" -j "${JOBS:-1}" --target fuzz_all >/dev/null
}

# run TARGET SECONDS CORPUS -- fuzz, then print the target's line.
run() {
  local t="$1" secs="$2" corpus="$3" dict="$DIR/dict/$1.dict" log="$DIR/logs/$1.log"
  local start rc execs cov ft n verdict regress=""
  # Reproducers of fixed defects (tests/fuzz/regress/TARGET) are replayed too.
  [ -d "$FUZZ_SRC/regress/$t" ] && regress="$FUZZ_SRC/regress/$t"
  mkdir -p "$corpus" "$DIR/dict" "$DIR/logs" "$DIR/artifacts/$t"
  dicts_of "$t" >/dev/null || { echo "fuzz $t: FAIL (no dictionary mapping)"; return 1; }
  for d in $(dicts_of "$t"); do grep -v '^#' "$FUZZ_SRC/dict/$d.dict"; done >"$dict"
  start=$(date +%s)
  ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    "$DIR/tests/fuzz/fuzz_$t" -max_total_time="$secs" -runs="${RAYSENSE_FUZZ_RUNS:--1}" \
    -timeout=10 -rss_limit_mb=2048 \
    -dict="$dict" -print_final_stats=1 -artifact_prefix="$DIR/artifacts/$t/" \
    "$corpus" "$FUZZ_SRC/seeds/$t" ${regress:+"$regress"} >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  n=$(find "$corpus" -type f | wc -l)
  verdict=PASS
  if [ "$rc" -ne 0 ]; then verdict=FAIL; fi
  echo "fuzz $t: $verdict execs=${execs:-0} cov=${cov:-0} ft=${ft:-0} corpus=$n seconds=$(( $(date +%s) - start ))"
  if [ "$rc" -ne 0 ]; then
    grep -m1 -E 'ERROR: |runtime error|SUMMARY' "$log" | sed 's/^/  /'
    echo "  log: $log"
  fi
  return "$rc"
}

campaign() { # SECONDS TARGET...
  local secs="$1" failed=0; shift
  for t in "$@"; do run "$t" "$secs" "$DIR/corpus/$t" || failed=$((failed + 1)); done
  [ "$failed" -eq 0 ]
}

# Test mode: new inputs go to a scratch corpus; the campaign corpus (if any)
# and the seeds are replayed first.
short() {
  local secs="${1:-5}" pass=0 fail=0 tmp t
  tmp="$(mktemp -d /tmp/raysense-fuzz.XXXXXX)"
  for t in $(targets); do
    mkdir -p "$tmp/$t"
    [ -d "$DIR/corpus/$t" ] && cp -r "$DIR/corpus/$t/." "$tmp/$t/" 2>/dev/null
    if run "$t" "$secs" "$tmp/$t"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
  done
  rm -rf "$tmp"
  echo "fuzz: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}

cmd="${1:-}"
case "$cmd" in
list) targets ;;
build) build ;;
short) build || { echo "fuzz: build failed"; exit 1; }; short "${2:-5}" ;;
all)
  [ -n "${2:-}" ] || { echo "usage: $0 all SECONDS" >&2; exit 2; }
  build || { echo "fuzz: build failed"; exit 1; }
  campaign "$2" $(targets) ;;
""|-h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; [ -n "$cmd" ] ;;
*)
  targets | grep -qx "$cmd" || { echo "unknown target '$cmd' (tools/fuzz.sh list)" >&2; exit 2; }
  [ -n "${2:-}" ] || { echo "usage: $0 TARGET SECONDS" >&2; exit 2; }
  build || { echo "fuzz: build failed"; exit 1; }
  campaign "$2" "$cmd" ;;
esac
