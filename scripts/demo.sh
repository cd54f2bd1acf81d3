#!/usr/bin/env bash
# Bulwark demo (`make demo`, after the build): two origins ("cloud A" and "cloud B") behind the gateway.
#   cloud A  http://127.0.0.1:18081   priority 0 (preferred)
#   cloud B  http://127.0.0.1:18082   priority 1 (failover)
#   gateway  http://127.0.0.1:8080    config examples/demo.yaml; admin API on http://127.0.0.1:9901
# Runs in the foreground until Ctrl-C, then stops everything it started.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BULWARK="${BULWARK:-$ROOT/build/bulwark}"
CONFIG="$ROOT/examples/demo.yaml"
PYTHON="${PYTHON:-python3}"
DEMO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-demo.XXXXXX")
FAIL_A="$DEMO_DIR/cloud-a.unhealthy"

pids=()
stopped=0
stop_all() {
  ((stopped)) && return
  stopped=1
  echo
  echo "demo: stopping..."
  # Gateway first (SIGTERM: drains in-flight requests), then the origins; only the PIDs started here.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$DEMO_DIR"
  echo "demo: stopped"
}
trap 'stop_all; exit 130' INT TERM
trap stop_all EXIT

die() { echo "demo: $*" >&2; exit 1; }

[[ -x "$BULWARK" ]] || die "$BULWARK not found; build it first: make build (or cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build bulwark)"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found (apt-get install python3)"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 8080 9901 18081 18082; do
  port_busy "$port" && die "127.0.0.1:$port is already in use; stop whatever listens there and retry"
done

"$BULWARK" check -c "$CONFIG" >/dev/null || die "$CONFIG is invalid"

wait_port() {  # wait_port PORT PID NAME
  for _ in $(seq 100); do
    port_busy "$1" && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited during startup"
    sleep 0.1
  done
  die "$3 did not start listening on 127.0.0.1:$1"
}

"$PYTHON" examples/origin.py --port 18081 --name cloud-A --fail-health-file "$FAIL_A" &
PID_A=$!
pids+=("$PID_A")
"$PYTHON" examples/origin.py --port 18082 --name cloud-B &
PID_B=$!
pids+=("$PID_B")
wait_port 18081 "$PID_A" "cloud A"
wait_port 18082 "$PID_B" "cloud B"

"$BULWARK" serve -c "$CONFIG" &
PID_GW=$!
pids+=("$PID_GW")
wait_port 8080 "$PID_GW" "bulwark"
wait_port 9901 "$PID_GW" "bulwark admin"

cat <<EOF

==========================================================================================
 Bulwark demo is running (gateway pid $PID_GW, cloud A pid $PID_A, cloud B pid $PID_B)

 Try, in another terminal:
   curl -i http://127.0.0.1:8080/anything          # proxied: X-Origin: cloud-A answers
   curl -i http://127.0.0.1:8080/hello             # answered by the gateway itself
   curl -s -X POST --data-binary @README.md http://127.0.0.1:8080/echo | head
   curl -s http://127.0.0.1:9901/status            # pools, origins, health (JSON)
   curl -s http://127.0.0.1:9901/metrics | grep ^bulwark_
   curl -s -X POST http://127.0.0.1:9901/reload    # reload $CONFIG (or: kill -HUP $PID_GW)

 Failover to cloud B (priority 1), then back to cloud A:
   touch $FAIL_A     # cloud A fails its health checks (~2 s)
   rm $FAIL_A        # cloud A is healthy again (~2 s)
   kill $PID_A       # or stop cloud A outright; requests keep succeeding via cloud B
   while sleep 0.5; do curl -s http://127.0.0.1:8080/ | grep -o '"origin": "[^"]*"'; done

 Access log lines (JSON) and gateway logs appear below. Ctrl-C stops everything.
==========================================================================================

EOF

# Foreground until Ctrl-C, or until the gateway exits by itself.
wait "$PID_GW"
rc=$?
echo "demo: bulwark exited (status $rc)"
exit "$rc"
