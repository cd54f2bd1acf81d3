#!/usr/bin/env bash
# Reference CRS conformance run: nginx + libmodsecurity 3 (Debian's libnginx-mod-http-modsecurity) +
# Debian's CRS 3.3.4, loading the same SecLang files as examples/crs-regression.yaml, in front of
# tests/crs/origin.py. Everything listens on free loopback ports and is stopped on exit.
#
#   tests/crs/run_reference.sh [run_crs.py options: --only 942100 --list-failures F --jobs N ...]
#
# Needs the Debian packages nginx, libnginx-mod-http-modsecurity, modsecurity-crs, python3-yaml.
# CRS_KEEP=1 keeps the work folder (server config, error log, audit log) for inspection.
#
# CRS_ENGINE=apache runs CRS's own reference engine instead: Apache httpd 2.4 + ModSecurity 2.9
# (packages apache2, libapache2-mod-security2) as a reverse proxy (mod_proxy_http), with the same
# SecLang files, in front of the same origin.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
ENGINE=${CRS_ENGINE:-nginx}

die() { echo "run_reference: $*" >&2; exit 2; }

CRS_SETUP=/etc/modsecurity/crs/crs-setup.conf
CRS_RULES=/usr/share/modsecurity-crs/rules
BASE_CONF=/etc/nginx/modsecurity.conf
[[ -f $CRS_SETUP && -d $CRS_RULES ]] || die "Debian's CRS is not installed (apt-get install modsecurity-crs)"
[[ -f $BASE_CONF ]] || die "$BASE_CONF missing (apt-get install libnginx-mod-http-modsecurity)"
$PY -c 'import yaml' 2>/dev/null || die "$PY lacks PyYAML (apt-get install python3-yaml)"

case $ENGINE in
  nginx)
    NGINX=$(command -v nginx || true)
    [[ -n $NGINX ]] || { [[ -x /usr/sbin/nginx ]] && NGINX=/usr/sbin/nginx; }
    [[ -n $NGINX ]] || die "nginx is not installed (apt-get install nginx libnginx-mod-http-modsecurity)"
    MODULE=""
    for m in /usr/lib/nginx/modules/ngx_http_modsecurity_module.so /usr/share/nginx/modules/ngx_http_modsecurity_module.so; do
      [[ -f $m ]] && { MODULE=$m; break; }
    done
    [[ -n $MODULE ]] || die "ngx_http_modsecurity_module.so not found (apt-get install libnginx-mod-http-modsecurity)"
    ;;
  apache)
    APACHE=$(command -v apache2 || true)
    [[ -n $APACHE ]] || { [[ -x /usr/sbin/apache2 ]] && APACHE=/usr/sbin/apache2; }
    AMOD=/usr/lib/apache2/modules
    [[ -n $APACHE && -f $AMOD/mod_security2.so ]] \
      || die "Apache + ModSecurity 2 not installed (apt-get install apache2 libapache2-mod-security2)"
    ;;
  *) die "CRS_ENGINE must be nginx or apache" ;;
esac

WORK=$(mktemp -d /tmp/crs-reference.XXXXXX)
ORIGIN_PID=""
SERVER_PIDFILE=""
cleanup() {
  if [[ -n $SERVER_PIDFILE && -f $SERVER_PIDFILE ]]; then
    local pid
    pid=$(cat "$SERVER_PIDFILE" 2>/dev/null || true)
    if [[ -n $pid ]]; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
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
wait_port() {
  for _ in $(seq 600); do
    $PY -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$1)))" && return 0
    sleep 0.05
  done
  return 1
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

# --- the WAF --------------------------------------------------------------------------------------------
WAF_PORT=$(free_port)
mkdir -p "$WORK/tmp"
# The same SecLang files, in the same order, as examples/crs-regression.yaml; only the audit log
# location and the status engine (which would try DNS) are overridden for this scratch instance.
cat >"$WORK/main.conf" <<EOF
Include $BASE_CONF
SecAuditLog $WORK/audit.log
SecStatusEngine Off
Include $ROOT/examples/crs-regression/test-mode.conf
Include $CRS_SETUP
Include $CRS_RULES/*.conf
EOF
touch "$WORK/error.log" "$WORK/audit.log"

# One server worker keeps the log strictly ordered; with --jobs N the runner tells the jobs apart by
# their client address, so the server gets N workers.
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

if [[ $ENGINE == nginx ]]; then
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
  SERVER_PIDFILE=$WORK/nginx.pid
  "$NGINX" -p "$WORK" -e "$WORK/error.log" -c "$WORK/nginx.conf" || die "nginx did not start: $(tail -5 "$WORK/error.log")"
  wait_port "$WAF_PORT" || die "nginx did not listen: $(tail -5 "$WORK/error.log")"
  NAME="nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') + libmodsecurity 3"
else
  # Apache started as root serves as www-data: let it use its scratch folders.
  chmod 755 "$WORK"
  chown www-data "$WORK/tmp" "$WORK/audit.log" 2>/dev/null || true
  cat >"$WORK/httpd.conf" <<EOF
ServerRoot $WORK
LoadModule mpm_event_module $AMOD/mod_mpm_event.so
LoadModule authz_core_module $AMOD/mod_authz_core.so
LoadModule unique_id_module $AMOD/mod_unique_id.so
LoadModule security2_module $AMOD/mod_security2.so
LoadModule proxy_module $AMOD/mod_proxy.so
LoadModule proxy_http_module $AMOD/mod_proxy_http.so
Listen 127.0.0.1:$WAF_PORT
ServerName localhost
PidFile $WORK/httpd.pid
ErrorLog $WORK/error.log
LogLevel warn
User www-data
Group www-data
StartServers $WORKERS
ServerLimit $WORKERS
ThreadsPerChild 25
MaxRequestWorkers $((WORKERS * 25))
Include $WORK/main.conf
ProxyPass / http://127.0.0.1:$ORIGIN_PORT/
EOF
  SERVER_PIDFILE=$WORK/httpd.pid
  "$APACHE" -f "$WORK/httpd.conf" -k start || die "apache did not start: $(tail -5 "$WORK/error.log")"
  wait_port "$WAF_PORT" || die "apache did not listen: $(tail -5 "$WORK/error.log")"
  NAME="Apache $("$APACHE" -v | sed -n 's/^Server version: Apache\/\([^ ]*\).*/\1/p') + ModSecurity 2"
fi

echo "run_reference: $NAME on 127.0.0.1:$WAF_PORT, origin on 127.0.0.1:$ORIGIN_PORT, log $WORK/error.log" >&2
set +e
$PY "$ROOT/tests/crs/run_crs.py" --host 127.0.0.1 --port "$WAF_PORT" --log "$WORK/error.log" "$@"
rc=$?
set -e
exit $rc
