#!/usr/bin/env bash
# Reference CRS conformance run: nginx + libmodsecurity 3 (Debian's libnginx-mod-http-modsecurity) +
# Debian's CRS 3.3.4, loading the same SecLang files as examples/crs-regression.yaml, in front of
# tests/crs/origin.py. Everything listens on free loopback ports and is stopped on exit.
#
#   tests/crs/run_reference.sh [run_crs.py options: --only 942100 --list-failures F --jobs N ...]
#
# Needs the Debian packages nginx, libnginx-mod-http-modsecurity, modsecurity-crs, python3-yaml.
# Set CRS_KEEP=1 to keep the work folder (nginx config, error log, audit log) for inspection.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

die() { echo "run_reference: $*" >&2; exit 2; }

NGINX=$(command -v nginx || true)
[[ -n $NGINX ]] || { [[ -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx; }
[[ -n $NGINX ]] || die "nginx is not installed (apt-get install nginx libnginx-mod-http-modsecurity)"
MODULE=""
for m in /usr/lib/nginx/modules/ngx_http_modsecurity_module.so /usr/share/nginx/modules/ngx_http_modsecurity_module.so; do
  [[ -f $m ]] && { MODULE=$m; break; }
done
[[ -n $MODULE ]] || die "ngx_http_modsecurity_module.so not found (apt-get install libnginx-mod-http-modsecurity)"
CRS_SETUP=/etc/modsecurity/crs/crs-setup.conf
CRS_RULES=/usr/share/modsecurity-crs/rules
[[ -f $CRS_SETUP && -d $CRS_RULES ]] || die "Debian's CRS is not installed (apt-get install modsecurity-crs)"
$PY -c 'import yaml' 2>/dev/null || die "$PY lacks PyYAML (apt-get install python3-yaml)"

WORK=$(mktemp -d /tmp/crs-reference.XXXXXX)
ORIGIN_PID=""
cleanup() {
  if [[ -f $WORK/nginx.pid ]]; then
    kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  fi
  if [[ -n $ORIGIN_PID ]]; then
    kill "$ORIGIN_PID" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  if [[ ${CRS_KEEP:-0} == 1 ]]; then
    echo "run_reference: kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# --- origin -------------------------------------------------------------------------------------------
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

# --- nginx + libmodsecurity ------------------------------------------------------------------------------
WAF_PORT=$(free_port)
# One nginx worker keeps the log strictly ordered; with --jobs N the runner separates the jobs by their
# client address, so nginx gets N workers.
WORKERS=1
prev=""
for a in "$@"; do
  case $a in
    --jobs=*) WORKERS=${a#--jobs=} ;;
    *) [[ $prev == --jobs ]] && WORKERS=$a ;;
  esac
  prev=$a
done
[[ $WORKERS =~ ^[0-9]+$ && $WORKERS -ge 1 ]] || WORKERS=1
mkdir -p "$WORK/tmp"
# The same SecLang files, in the same order, as examples/crs-regression.yaml; only the audit log
# location and the status engine (which would try DNS) are overridden for this scratch instance.
cat >"$WORK/main.conf" <<EOF
Include /etc/nginx/modsecurity.conf
SecAuditLog $WORK/audit.log
SecStatusEngine Off
Include $ROOT/examples/crs-regression/test-mode.conf
Include $CRS_SETUP
Include $CRS_RULES/*.conf
EOF
cat >"$WORK/nginx.conf" <<EOF
load_module $MODULE;
worker_processes $WORKERS;
pid $WORK/nginx.pid;
error_log $WORK/error.log info;
events { worker_connections 256; }
http {
  access_log $WORK/access.log;
  client_body_temp_path $WORK/tmp/body;
  proxy_temp_path $WORK/tmp/proxy;
  fastcgi_temp_path $WORK/tmp/fastcgi;
  uwsgi_temp_path $WORK/tmp/uwsgi;
  scgi_temp_path $WORK/tmp/scgi;
  # Apache (the CRS reference server) has no body size limit by default.
  client_max_body_size 0;
  server {
    listen 127.0.0.1:$WAF_PORT;
    server_name localhost;
    modsecurity on;
    modsecurity_rules_file $WORK/main.conf;
    location / {
      proxy_pass http://127.0.0.1:$ORIGIN_PORT;
      proxy_set_header Host \$host;
    }
  }
}
EOF
touch "$WORK/error.log"

"$NGINX" -p "$WORK" -e "$WORK/error.log" -c "$WORK/nginx.conf" || die "nginx did not start: $(tail -5 "$WORK/error.log")"
for _ in $(seq 200); do
  $PY -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$WAF_PORT)))" && break
  sleep 0.05
done

echo "run_reference: nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') + libmodsecurity on 127.0.0.1:$WAF_PORT, origin on 127.0.0.1:$ORIGIN_PORT, log $WORK/error.log" >&2
set +e
$PY "$ROOT/tests/crs/run_crs.py" --host 127.0.0.1 --port "$WAF_PORT" --log "$WORK/error.log" "$@"
rc=$?
set -e
exit $rc
