#!/usr/bin/env bash
# Builds every libFuzzer target (fuzz/fuzz_<name>.cc) into build-fuzz/ with ASan and UBSan, runs each
# for SECONDS_PER_TARGET seconds on a scratch copy of its seed corpus fuzz/corpus/<name>/ (the checked-in
# seeds are never modified), and prints one line per target:
#   fuzz <name>: ok (<runs> runs)      or      fuzz <name>: FAILED
# Exits 1 if any target fails to build or finds a crash; the reproducer is kept as
# build-fuzz/<name>-crash-<sha1> (replay: build-fuzz/<name> <file>), the log as build-fuzz/<name>.log.
#
# Usage: fuzz/run.sh [SECONDS_PER_TARGET]        (default 20)
set -euo pipefail

# One line per target: its name, then the library sources it links besides fuzz/fuzz_<name>.cc.
# Add a line here when adding a fuzz target; the script refuses to run if a fuzz_*.cc has no line.
readonly TARGETS='
h1_request   src/http/h1/parser.cc src/http/h1/chunked.cc
h1_response  src/http/h1/parser.cc
h1_chunked   src/http/h1/chunked.cc
seclang      src/waf/seclang/lexer.cc src/waf/seclang/parser.cc src/waf/seclang/rule_parts.cc
waf_transforms  src/waf/transforms/*.cc -lcrypto
waf_sqli     src/waf/detect/sqli.cc src/waf/detect/sql_lexer.cc
waf_xss      src/waf/detect/xss.cc
waf_multipart  src/waf/body/multipart.cc
waf_json     src/waf/body/json.cc -DSIMDJSON_THREADS_ENABLED=1 -lsimdjson
waf_xml      src/waf/body/xml.cc -I/usr/include/libxml2 -lxml2
shield_proxy_protocol  src/shield/proxy_protocol.cc src/shield/ip_address.cc
shield_ip_list  src/shield/ip_list.cc src/shield/ip_address.cc
dns_packet   src/dns/wire.cc src/dns/zone.cc src/dns/answer.cc src/dns/answer_cache.cc -lzscanner
dns_zone     src/dns/wire.cc src/dns/zone.cc src/dns/answer.cc -lzscanner
'

readonly seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "usage: $0 [SECONDS_PER_TARGET]" >&2
  exit 2
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
readonly root
readonly out="$root/build-fuzz"
readonly cxx="${FUZZ_CXX:-clang++-14}"
readonly sanitizers="fuzzer,address,undefined"
readonly flags=(-std=c++20 -g -O1 "-fsanitize=$sanitizers" -fno-sanitize-recover=undefined
  -Wall -Wextra -Werror -I"$root/src")
mkdir -p "$out"

for file in "$root"/fuzz/fuzz_*.cc; do
  name="$(basename "$file" .cc)"
  name="${name#fuzz_}"
  if ! grep -qE "^${name}([[:space:]]|$)" <<<"$TARGETS"; then
    echo "fuzz/run.sh: fuzz/fuzz_${name}.cc has no line in TARGETS" >&2
    exit 2
  fi
done

failed=0
while read -r name sources; do
  [ -z "$name" ] && continue
  log="$out/$name.log"
  # shellcheck disable=SC2086  # `sources` is a space-separated list by design
  if ! (cd "$root" && "$cxx" "${flags[@]}" -o "$out/$name" "fuzz/fuzz_$name.cc" $sources) </dev/null >"$log" 2>&1; then
    echo "fuzz $name: FAILED"
    echo "  build failed, see $log" >&2
    failed=1
    continue
  fi

  work="$(mktemp -d)"
  if [ -d "$root/fuzz/corpus/$name" ]; then
    cp -R "$root/fuzz/corpus/$name/." "$work/"
  fi
  rc=0
  # libFuzzer stops itself after -max_total_time; the outer timeout only guards against a hung process.
  timeout "$((seconds + 300))" "$out/$name" -max_total_time="$seconds" -max_len=65536 -timeout=25 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/$name-" "$work" </dev/null >>"$log" 2>&1 || rc=$?
  rm -rf "$work"

  runs="$(grep -oE 'Done [0-9]+ runs' "$log" | tail -n 1 | awk '{print $2}' || true)"
  if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
    echo "fuzz $name: ok ($runs runs)"
  else
    echo "fuzz $name: FAILED"
    echo "  exit code $rc, see $log; last lines:" >&2
    tail -n 20 "$log" | sed 's/^/  /' >&2
    failed=1
  fi
done <<<"$TARGETS"

exit "$failed"
