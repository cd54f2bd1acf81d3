#!/usr/bin/env bash
# Runs Bulwark's test suites and prints one closing line: "total: N passed, M failed".
#   scripts/run-tests.sh            all suites: unit (ASan+UBSan), integration, CRS conformance, fuzz smoke
#   scripts/run-tests.sh unit|integration|crs|fuzz
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
  # Each test binary runs once; its gtest summary gives the case counts.
  local bin out p f total_p=0 total_f=0
  for bin in build-asan/*_tests; do
    [[ -x "$bin" ]] || continue
    out=$(ASAN_OPTIONS=detect_leaks=1 "$bin" --gtest_brief=1 2>&1)
    p=$(echo "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(echo "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    p=${p:-0}; f=${f:-0}
    if [[ $p -eq 0 && $f -eq 0 ]]; then f=1; fi  # crashed or printed no summary
    if [[ $f -ne 0 ]]; then echo "$out" | grep -E 'FAILED|Failure|ERROR|Sanitizer' | head -40; fi
    echo "  $(basename "$bin"): $p passed, $f failed"
    total_p=$((total_p + p)); total_f=$((total_f + f))
  done
  count unit "$total_p" "$total_f"
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

run_crs() {
  echo "== CRS 3.3.4 conformance (tests/crs/run_crs.py through build/bulwark) =="
  local out line p f
  if ! { cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null && ninja -C build -j "$JOBS" bulwark; } \
      > build.log 2>&1; then
    tail -50 build.log
    count crs-build 0 1
    return
  fi
  out=$(bash tests/crs/run_bulwark.sh --jobs 2 --list-failures build/crs-failures.txt 2>&1)
  echo "$out" | grep -E '^(FAIL|crs:)' | tail -40
  line=$(echo "$out" | grep -E '^crs: [0-9]+ passed, [0-9]+ failed' | tail -1)
  if [[ -z "$line" ]]; then
    echo "$out" | tail -20
    count crs-conformance 0 1
    return
  fi
  p=$(echo "$line" | sed -E 's/^crs: ([0-9]+) passed.*/\1/')
  f=$(echo "$line" | sed -E 's/^crs: [0-9]+ passed, ([0-9]+) failed.*/\1/')
  if [[ $((p + f)) -eq 0 ]]; then
    echo "crs: tests folder missing; conformance gate skipped"
    count crs-conformance 0 0 1
    return
  fi
  # The gate is the pass rate the issue sets (>= 99%); each remaining failure is listed with its reason
  # in docs/crs-conformance.md.
  if [[ $((p * 1000 / (p + f))) -ge 990 ]]; then
    echo "crs gate: $p/$((p + f)) passed (>= 99%)"
    count crs-conformance 1 0
  else
    echo "crs gate: $p/$((p + f)) passed (< 99%)"
    count crs-conformance 0 1
  fi
}

run_fuzz() {
  echo "== fuzz smoke (libFuzzer, ASan+UBSan) =="
  local out
  out=$(bash fuzz/run.sh "${FUZZ_SECONDS:-15}" 2>&1)
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
  crs) run_crs ;;
  fuzz) run_fuzz ;;
  all) run_unit; run_integration; run_crs; run_fuzz ;;
  *) echo "usage: $0 [unit|integration|crs|fuzz]"; exit 64 ;;
esac

echo "total: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
