#!/usr/bin/env bash
# test.sh -- set up, build, and run every test tier; the README's test command.
#
# Tiers (all run by default, in this order; .ci/run runs them all):
#   unit      C unit tests (ctest) in build/
#   asan      the same C unit tests built with ASan+UBSan in build-asan/
#   fuzz      every parser's libFuzzer harness (tests/fuzz, build-fuzz/): replay
#             its seeds and corpus, then fuzz it ~5 s (tools/fuzz.sh short)
#   pytest    golden, BPF (real kernel), agent outputs, end-to-end (real Ray),
#             and Kubernetes (real kube-apiserver, KubeRay operator, kwok) tests
#   matrix    every Ray release of tools/ray-versions in its own venv
#             (tools/setup.sh --matrix installs them): tests/matrix/ once per
#             release, then the support table from the results, compared
#             with README's (RAYSENSE_MATRIX_WRITE_README=1 writes it);
#             tools/test.sh --matrix runs this tier alone
# Select tiers with RAYSENSE_TEST_TIERS="unit pytest"; pass pytest arguments
# after --, e.g. tools/test.sh -- -k seed.
# Ends with one summary line: "raysense: N passed, N failed, N skipped".
# RAYSENSE_FAIL_ON_SKIP=1 (set by .ci/run) makes any skip a failure: the only
# skips are BPF tests without root or BTF, a missing prerequisite in CI.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TIERS="${RAYSENSE_TEST_TIERS:-unit asan fuzz pytest matrix}"
export RAYSENSE_BUILD_DIR="${RAYSENSE_BUILD_DIR:-$REPO/build}"
ASAN_DIR="${RAYSENSE_ASAN_BUILD_DIR:-$REPO/build-asan}"
OUT="$(mktemp -d /tmp/raysense-test.XXXXXX)"
PYTEST_ARGS=()
if [ "${1:-}" = "--matrix" ]; then shift; TIERS=matrix; fi
if [ "${1:-}" = "--" ]; then shift; PYTEST_ARGS=("$@"); fi

log() { printf '[test %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
passed=0; failed=0; skipped=0
start=$(date +%s)

# The Task-era venv and the Kubernetes test environment serve pytest; the
# matrix venvs the matrix tier.
SETUP_PARTS=()
case " $TIERS " in *" pytest "*) SETUP_PARTS+=(--tests) ;; esac
case " $TIERS " in *" matrix "*) SETUP_PARTS+=(--matrix) ;; esac
"$REPO/tools/setup.sh" "${SETUP_PARTS[@]}" || { log "setup failed"; echo "raysense: 0 passed, 1 failed"; exit 1; }

run_ctest() { # dir label
  local dir="$1" label="$2" out="$OUT/ctest-$2.txt"
  (cd "$dir" && ctest --output-on-failure --timeout 300 -j 2) 2>&1 | tee "$out"
  local total fail
  total=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2/p' "$out" | tail -1)
  fail=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1/p' "$out" | tail -1)
  if [ -z "$total" ]; then log "ctest ($label) printed no summary"; failed=$((failed + 1)); return; fi
  passed=$((passed + total - fail)); failed=$((failed + fail))
  log "ctest ($label): $((total - fail)) passed, $fail failed"
}

count_junit() { # junit.xml pytest-exit-code: add its counts to the totals
  local xml="$1" rc="$2" t f e s
  if [ ! -f "$xml" ]; then
    log "pytest produced no report (rc=$rc)"; failed=$((failed + 1)); return
  fi
  read -r t f e s < <("$REPO/.venv/bin/python" - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
suites = [r] if r.tag == "testsuite" else list(r)
g = lambda k: sum(int(s.get(k, 0)) for s in suites)
print(g("tests"), g("failures"), g("errors"), g("skipped"))
PY
)
  passed=$((passed + t - f - e - s)); failed=$((failed + f + e)); skipped=$((skipped + s))
  if [ "$rc" -ne 0 ] && [ $((f + e)) -eq 0 ]; then failed=$((failed + 1)); fi
}

for tier in $TIERS; do
  case "$tier" in
  unit)
    log "building ($RAYSENSE_BUILD_DIR)"
    if "$REPO/tools/build.sh"; then run_ctest "$RAYSENSE_BUILD_DIR" unit
    else log "build failed"; failed=$((failed + 1)); fi ;;
  asan)
    log "building with ASan+UBSan ($ASAN_DIR)"
    if RAYSENSE_ASAN_BUILD_DIR="$ASAN_DIR" "$REPO/tools/build.sh" --sanitize; then
      ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest "$ASAN_DIR" asan
    else log "sanitizer build failed"; failed=$((failed + 1)); fi ;;
  fuzz)
    log "fuzzing each parser (tools/fuzz.sh short, build-fuzz/)"
    "$REPO/tools/fuzz.sh" short "${RAYSENSE_FUZZ_SECONDS:-5}" 2>&1 | tee "$OUT/fuzz.txt"
    p=$(grep -c '^fuzz [a-z_0-9]*: PASS' "$OUT/fuzz.txt"); f=$(grep -c '^fuzz [a-z_0-9]*: FAIL' "$OUT/fuzz.txt")
    if ! grep -q '^fuzz: [0-9]* passed' "$OUT/fuzz.txt"; then log "fuzz tier printed no summary"; f=$((f + 1)); fi
    passed=$((passed + p)); failed=$((failed + f))
    log "fuzz: $p passed, $f failed" ;;
  pytest)
    [ -x "$RAYSENSE_BUILD_DIR/raysensectl" ] || "$REPO/tools/build.sh" || { failed=$((failed + 1)); continue; }
    log "pytest (real kernel, real Ray, real Kubernetes control plane)"
    "$REPO/.venv/bin/python" -m pytest "$REPO/tests" --ignore="$REPO/tests/matrix" -rsfE -v \
      -p no:cacheprovider --timeout=900 --durations=20 --junitxml="$OUT/pytest.xml" "${PYTEST_ARGS[@]}"
    rc=$?
    count_junit "$OUT/pytest.xml" "$rc" ;;
  matrix)
    [ -x "$RAYSENSE_BUILD_DIR/raysensectl" ] || "$REPO/tools/build.sh" || { failed=$((failed + 1)); continue; }
    results=()
    while read -r version venv <&3; do
      case "$version" in ''|'#'*) continue ;; esac
      log "matrix: Ray $version ($venv)"
      RAYSENSE_VENV="$REPO/$venv" RAYSENSE_MATRIX_VERSION="$version" \
        RAYSENSE_MATRIX_RESULTS="$OUT/matrix-$version.json" \
        "$REPO/.venv/bin/python" -m pytest "$REPO/tests/matrix" -rsfE -v -p no:cacheprovider \
        --timeout=900 --durations=5 --junitxml="$OUT/matrix-$version.xml" "${PYTEST_ARGS[@]}" </dev/null
      count_junit "$OUT/matrix-$version.xml" "$?"
      [ -f "$OUT/matrix-$version.json" ] && results+=("$OUT/matrix-$version.json")
    done 3< "$REPO/tools/ray-versions"
    table_mode=--check
    [ "${RAYSENSE_MATRIX_WRITE_README:-0}" = 1 ] && table_mode=--write
    "$REPO/.venv/bin/python" "$REPO/tests/matrix/support_table.py" "${results[@]}" | tee "$OUT/ray-support.md"
    if "$REPO/.venv/bin/python" "$REPO/tests/matrix/support_table.py" "$table_mode" "$REPO/README.md" "${results[@]}"; then
      passed=$((passed + 1))
    else
      log "matrix: README's Ray support table is not this run's ($OUT/ray-support.md)"; failed=$((failed + 1))
    fi ;;
  *) log "unknown tier '$tier'"; failed=$((failed + 1)) ;;
  esac
done

if [ "${RAYSENSE_FAIL_ON_SKIP:-0}" = 1 ] && [ "$skipped" -gt 0 ]; then
  log "$skipped test(s) skipped and RAYSENSE_FAIL_ON_SKIP=1: counted as one failure"
  failed=$((failed + 1))
fi
log "all tiers done in $(( $(date +%s) - start ))s; logs in $OUT"
echo "raysense: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
