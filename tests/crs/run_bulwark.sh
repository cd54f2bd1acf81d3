#!/usr/bin/env bash
# Bulwark CRS conformance run: build/bulwark with examples/crs-regression.yaml (ports, log paths and the
# test-mode.conf path rewritten for a scratch folder) in front of tests/crs/origin.py, on free loopback
# ports; runs tests/crs/run_crs.py and stops everything on exit.
#
#   tests/crs/run_bulwark.sh [run_crs.py options: --only 942100 --list-failures F --jobs N ...]
#
# BULWARK=path/to/bulwark selects the binary (default build/bulwark). CRS_KEEP=1 keeps the scratch
# folder (config, WAF error log, audit log, gateway output). Exit status: the runner's (0 whatever the
# pass rate), 2 on setup errors (no binary, configuration refused, gateway did not start).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
BULWARK=${BULWARK:-$ROOT/build/bulwark}
EXAMPLE=$ROOT/examples/crs-regression.yaml

die() { echo "run_bulwark: $*" >&2; exit 2; }
[[ -x $BULWARK ]] || die "no gateway binary at $BULWARK (build it, or set BULWARK=...)"
$PY -c 'import yaml' 2>/dev/null || die "$PY lacks PyYAML (apt-get install python3-yaml)"

WORK=$(mktemp -d /tmp/crs-bulwark.XXXXXX)
ORIGIN_PID=""
GW_PID=""
cleanup() {
  [[ -n $GW_PID ]] && kill "$GW_PID" 2>/dev/null || true
  [[ -n $ORIGIN_PID ]] && kill "$ORIGIN_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  if [[ ${CRS_KEEP:-0} == 1 ]]; then
    echo "run_bulwark: kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

$PY "$ROOT/tests/crs/origin.py" --host 127.0.0.1 --port 0 >"$WORK/origin.out" 2>&1 &
ORIGIN_PID=$!
ORIGIN_PORT=""
for _ in $(seq 100); do
  ORIGIN_PORT=$(sed -n 's/^origin listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/origin.out")
  [[ -n $ORIGIN_PORT ]] && break
  kill -0 "$ORIGIN_PID" 2>/dev/null || die "origin did not start: $(cat "$WORK/origin.out")"
  sleep 0.05
done
[[ -n $ORIGIN_PORT ]] || die "origin did not start"
GW_PORT=$(free_port)

# The example config, with this run's ports and files. /etc/nginx/modsecurity.conf is listed "only if
# present": without the libnginx-mod-http-modsecurity package the line is dropped (and the figure is
# then not comparable with the reference run).
sed -e "s|127\.0\.0\.1:8080|127.0.0.1:$GW_PORT|" \
    -e "s|127\.0\.0\.1:18080|127.0.0.1:$ORIGIN_PORT|" \
    -e "s|- crs-regression/test-mode.conf|- $ROOT/examples/crs-regression/test-mode.conf|" \
    -e "s|/tmp/bulwark-waf/error.log|$WORK/error.log|" \
    -e "s|/tmp/bulwark-waf/audit.json|$WORK/audit.json|" \
    "$EXAMPLE" >"$WORK/bulwark.yaml"
if [[ ! -f /etc/nginx/modsecurity.conf ]]; then
  echo "run_bulwark: /etc/nginx/modsecurity.conf missing (libnginx-mod-http-modsecurity): not loaded" >&2
  sed -i '\|^ *- /etc/nginx/modsecurity.conf|d' "$WORK/bulwark.yaml"
fi

if ! "$BULWARK" check -c "$WORK/bulwark.yaml" >"$WORK/check.out" 2>&1; then
  cat "$WORK/check.out" >&2
  die "the gateway refused the configuration (is the waf: section implemented in $BULWARK?)"
fi
"$BULWARK" serve -c "$WORK/bulwark.yaml" >"$WORK/bulwark.out" 2>&1 &
GW_PID=$!
up=0
for _ in $(seq 1200); do  # up to 60 s: loading the CRS takes a while
  kill -0 "$GW_PID" 2>/dev/null || die "gateway exited: $(tail -5 "$WORK/bulwark.out")"
  if $PY -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$GW_PORT)))"; then
    up=1; break
  fi
  sleep 0.05
done
((up)) || die "gateway did not listen on 127.0.0.1:$GW_PORT within 60s: $(tail -5 "$WORK/bulwark.out")"

echo "run_bulwark: $BULWARK on 127.0.0.1:$GW_PORT, origin on 127.0.0.1:$ORIGIN_PORT, log $WORK/error.log" >&2
set +e
$PY "$ROOT/tests/crs/run_crs.py" --host 127.0.0.1 --port "$GW_PORT" --log "$WORK/error.log" "$@"
rc=$?
set -e
exit $rc
