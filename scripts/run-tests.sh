#!/usr/bin/env bash
# Runs Bulwark's test suites and prints one closing line: "total: N passed, M failed".
#   scripts/run-tests.sh            all suites: unit (ASan+UBSan), integration, fuzz smoke
#   scripts/run-tests.sh unit|integration|fuzz
set -uo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
JOBS=$(nproc)
passed=0
failed=0
skipped=0

count() {  # count SUITE PASSED FAILED [SKIPPED]
  echo "suite $1: $2 passed, $3 failed${4:+, $4 skipped}"
  passed=$((passed + $2))
  failed=$((failed + $3))
  skipped=$((skipped + ${4:-0}))
}

run_unit() {
  echo "== unit tests (Debug, ASan+UBSan) =="
  if ! { cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBULWARK_SANITIZE=ON >/dev/null &&
         ninja -C build-asan -j "$JOBS"; } > build-asan.log 2>&1; then
    tail -50 build-asan.log
    count unit-build 0 1
    return
  fi
  local out
  out=$(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$JOBS" 2>&1)
  echo "$out" | tail -15
  local total fails
  total=$(echo "$out" | sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2/p' | tail -1)
  fails=$(echo "$out" | sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\1/p' | tail -1)
  if [[ -z "$total" ]]; then count unit 0 1; return; fi
  count unit $((total - fails)) "$fails"
}

run_integration() {
  echo "== integration tests (Release binary, real processes on loopback) =="
  if ! { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null && ninja -C build -j "$JOBS" bulwark; } \
      > build.log 2>&1; then
    tail -50 build.log
    count integration-build 0 1
    return
  fi
  local out rc
  out=$(/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration 2>&1)
  rc=$?
  echo "$out" | tail -25
  local line p f s e
  line=$(echo "$out" | grep -E '^(=+ )?[0-9]+ (passed|failed|skipped|error)' | tail -1)
  p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)
  f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || true)
  e=$(echo "$line" | grep -oE '[0-9]+ error' | grep -oE '[0-9]+' || true)
  s=$(echo "$line" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+' || true)
  p=${p:-0}; f=$(( ${f:-0} + ${e:-0} )); s=${s:-0}
  if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
  count integration "$p" "$f" "$s"
}

run_fuzz() {
  echo "== fuzz smoke (libFuzzer, ASan+UBSan) =="
  local out
  out=$(bash fuzz/run.sh "${FUZZ_SECONDS:-20}" 2>&1)
  echo "$out" | grep -E '^fuzz ' || echo "$out" | tail -20
  local p f
  p=$(echo "$out" | grep -cE '^fuzz .*: ok' || true)
  f=$(echo "$out" | grep -cE '^fuzz .*: FAILED' || true)
  if [[ $p -eq 0 && $f -eq 0 ]]; then f=1; fi
  count fuzz "$p" "$f"
}

case "$what" in
  unit) run_unit ;;
  integration) run_integration ;;
  fuzz) run_fuzz ;;
  all) run_unit; run_integration; run_fuzz ;;
  *) echo "usage: $0 [unit|integration|fuzz]"; exit 64 ;;
esac

echo "total: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
