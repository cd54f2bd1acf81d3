#!/usr/bin/env bash
# Bulwark benchmarks. Usage: bench/run.sh MODE   (MODE: proxy)
#
# proxy: Bulwark vs HAProxy vs nginx as HTTP/1.1 keep-alive reverse proxies in front of one fixed-response
#        nginx origin; CPU µs per request, requests/s, and RSS per idle keep-alive connection.
#        Method and caveats: docs/benchmarks.md.
#
# Environment:
#   BENCH_DURATION    seconds of measured load per proxy (default 10)
#   BENCH_WARMUP      seconds of unmeasured warm-up load per proxy (default 2)
#   BENCH_CONNS       wrk connections (default 50)
#   BENCH_IDLE_CONNS  idle keep-alive connections for the RSS test (default 10000; 0 skips it)
#   BENCH_PROXY_CPU   CPU for the proxy under test (default 0)
#   BENCH_LOAD_CPU    CPU for wrk, the origin and the idle-connection helper (default 1)
#   BENCH_PROXIES     which proxies to run (default "bulwark haproxy nginx")
#   BENCH_PORT_BASE   origin port; proxies on +1..+3, bulwark admin on +9 (default: first free of 18080,
#                     18180, ..., 18980)
#   BULWARK_BIN       bulwark binary (default build/bulwark; built in Release if missing)
#   BENCH_KEEP_TMP=1  keep the temp dir (configs, logs, wrk output) for inspection
#
# The last line printed is machine-readable (see each mode's function). Exit status is non-zero when any
# proxy failed to start, answered wrongly or had more than 1% errors; its numbers are printed as nan.
set -uo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BENCH_DURATION=${BENCH_DURATION:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_CONNS=${BENCH_CONNS:-50}
BENCH_IDLE_CONNS=${BENCH_IDLE_CONNS:-10000}

ORIGIN_BODY="ok"
declare -A PROXY_PORT

# proxy_ports: origin on BASE, bulwark BASE+1, haproxy BASE+2, nginx BASE+3, bulwark admin BASE+9. BASE is
# BENCH_PORT_BASE if set, else the first of 18080, 18180, ... 18980 whose ports are all free (the machine is
# shared: another session's test server may hold 18080).
proxy_ports() {
  local base p ok
  for base in ${BENCH_PORT_BASE:-18080 18180 18280 18380 18480 18580 18680 18780 18880 18980}; do
    ok=1
    for p in 0 1 2 3 9; do bench_port_free $((base + p)) || { ok=0; break; }; done
    ((ok)) && break
    log "some of ports $base..$((base + 9)) are in use"
  done
  ((ok)) || return 1
  ORIGIN_PORT=$base
  PROXY_PORT=([bulwark]=$((base + 1)) [haproxy]=$((base + 2)) [nginx]=$((base + 3)))
  BULWARK_ADMIN_PORT=$((base + 9))
}
proxy_ports_known() { [[ $1 == bulwark || $1 == haproxy || $1 == nginx ]]; }

# ---- origin ----------------------------------------------------------------------------------------------

# nginx_common_conf NAME: the main-context lines shared by our nginx instances (own pid/log/temp paths).
nginx_common_conf() {
  local name=$1
  mkdir -p "$BENCH_TMP/$name-temp"
  cat <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $BENCH_TMP/$name.pid;
error_log $BENCH_TMP/$name-error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 20000; }
EOF
}

nginx_temp_paths() {
  local t=$BENCH_TMP/$1-temp
  cat <<EOF
  client_body_temp_path $t/body;
  proxy_temp_path $t/proxy;
  fastcgi_temp_path $t/fastcgi;
  uwsgi_temp_path $t/uwsgi;
  scgi_temp_path $t/scgi;
EOF
}

# start_origin: Debian's nginx with its own config, one worker, fixed 200 "ok\n", long keep-alive.
start_origin() {
  local conf=$BENCH_TMP/origin.conf
  {
    nginx_common_conf origin
    cat <<EOF
http {
  access_log off;
  keepalive_timeout 300s;
  keepalive_requests 10000000;
$(nginx_temp_paths origin)
  server {
    listen 127.0.0.1:$ORIGIN_PORT backlog=4096;
    location / {
      default_type text/plain;
      return 200 "$ORIGIN_BODY\n";
    }
  }
}
EOF
  } >"$conf"
  bench_start "$BENCH_LOAD_CPU" "$BENCH_TMP/origin.out" nginx -p "$BENCH_TMP" -e "$BENCH_TMP/origin-error.log" -c "$conf"
  ORIGIN_PID=$BENCH_LAST_PID
  if ! bench_wait_port "$ORIGIN_PORT" "$ORIGIN_PID" 10; then
    log "origin nginx did not start:"
    tail -n 20 "$BENCH_TMP"/origin*.log "$BENCH_TMP/origin.out" >&2 2>/dev/null
    return 1
  fi
  bench_http_check "http://127.0.0.1:$ORIGIN_PORT/" "$ORIGIN_BODY" || { log "origin nginx answers wrongly"; return 1; }
}

# ---- proxies under test ----------------------------------------------------------------------------------
# Each start_<name> writes its config into the temp dir, starts it on the proxy CPU and sets PROXY_PID.

start_bulwark() {
  local port=${PROXY_PORT[bulwark]} conf=$BENCH_TMP/bulwark.yaml
  cat >"$conf" <<EOF
workers: 1
listeners:
  - address: 127.0.0.1:$port
routes:
  - match: { prefix: / }
    pool: origin
pools:
  origin:
    origins:
      - address: 127.0.0.1:$ORIGIN_PORT
admin:
  address: 127.0.0.1:$BULWARK_ADMIN_PORT
access_log: { path: off }
EOF
  [[ -x $BULWARK_BIN ]] || { log "bulwark: $BULWARK_BIN is missing"; return 1; }
  bench_start "$BENCH_PROXY_CPU" "$BENCH_TMP/bulwark.out" "$BULWARK_BIN" serve -c "$conf"
  PROXY_PID=$BENCH_LAST_PID
}

start_haproxy() {
  local port=${PROXY_PORT[haproxy]} conf=$BENCH_TMP/haproxy.cfg nofile maxconn
  # HAProxy wants 2 fds per maxconn; without CAP_SYS_RESOURCE we cannot go past the hard fd limit (20000 here),
  # so give it the limit we have and a maxconn just above what the idle test needs (with "no strict-limits" it then only warns).
  nofile=$(ulimit -n)
  maxconn=$(( BENCH_IDLE_CONNS + 1000 ))
  (( maxconn < 4000 )) && maxconn=4000
  cat >"$conf" <<EOF
global
  nbthread 1
  ulimit-n $nofile
  no strict-limits
  maxconn $maxconn
  pidfile $BENCH_TMP/haproxy.pid

defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s
  maxconn $maxconn

frontend fe
  bind 127.0.0.1:$port
  default_backend origin

backend origin
  http-reuse always
  server origin1 127.0.0.1:$ORIGIN_PORT
EOF
  haproxy -c -q -f "$conf" >"$BENCH_TMP/haproxy-check.out" 2>&1 \
    || { log "haproxy config check failed: $(cat "$BENCH_TMP/haproxy-check.out")"; return 1; }
  bench_start "$BENCH_PROXY_CPU" "$BENCH_TMP/haproxy.out" haproxy -db -f "$conf"
  PROXY_PID=$BENCH_LAST_PID
}

start_nginx() {
  local port=${PROXY_PORT[nginx]} conf=$BENCH_TMP/nginx-proxy.conf
  {
    nginx_common_conf nginx-proxy
    cat <<EOF
http {
  access_log off;
  keepalive_timeout 300s;
  keepalive_requests 10000000;
$(nginx_temp_paths nginx-proxy)
  upstream origin {
    server 127.0.0.1:$ORIGIN_PORT;
    keepalive 64;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:$port backlog=4096;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
  } >"$conf"
  bench_start "$BENCH_PROXY_CPU" "$BENCH_TMP/nginx-proxy.out" nginx -p "$BENCH_TMP" -e "$BENCH_TMP/nginx-proxy-error.log" -c "$conf"
  PROXY_PID=$BENCH_LAST_PID
}

# ---- proxy mode ------------------------------------------------------------------------------------------

declare -A R_OTHER R_LOAD R_STATUS R_RPS R_US R_CPU R_P50 R_P99 R_REQS R_ERRS R_RSS R_NOTE

# result_init NAME: a failed result (nan numbers), to be filled in by a successful measurement.
result_init() {
  local name=$1
  R_STATUS[$name]=FAIL R_RPS[$name]=nan R_US[$name]=nan R_CPU[$name]=- R_P50[$name]=- R_P99[$name]=-
  R_REQS[$name]=- R_ERRS[$name]=- R_RSS[$name]=nan R_NOTE[$name]="" R_OTHER[$name]=- R_LOAD[$name]=-
}

# measure_proxy NAME IDLE(0|1): start NAME, check it, idle-RSS test (if IDLE), warm up, measure, stop it.
measure_proxy() {
  local name=$1 idle=$2 port=${PROXY_PORT[$1]} url out t0 t1 secs
  url="http://127.0.0.1:$port/"
  result_init "$name"
  log "== $name on 127.0.0.1:$port"
  if ! bench_port_free "$port"; then
    R_NOTE[$name]="port $port already in use"; log "$name: ${R_NOTE[$name]}"; return 1
  fi
  PROXY_PID=""
  if ! "start_$name" || ! bench_wait_port "$port" "$PROXY_PID" 10; then
    R_NOTE[$name]="did not start"
    log "$name did not start; its output:"
    tail -n 20 "$BENCH_TMP/$name"*.out "$BENCH_TMP/$name"*error.log >&2 2>/dev/null
    [[ -n $PROXY_PID ]] && bench_stop "$PROXY_PID"
    return 1
  fi
  if ! bench_http_check "$url" "$ORIGIN_BODY"; then
    R_NOTE[$name]="wrong answer: ${BENCH_CHECK_ERR#GET * }"
    bench_stop "$PROXY_PID"
    return 1
  fi

  if ((idle && BENCH_IDLE_CONNS > 0)); then
    if bench_idle_conns "$port" "$BENCH_IDLE_CONNS" "$PROXY_PID"; then
      R_RSS[$name]=$IDLE_PER_CONN
    else
      R_NOTE[$name]="$IDLE_NOTE; "
      log "$name: $IDLE_NOTE"
    fi
    bench_alive "$PROXY_PID" || { R_NOTE[$name]+="died during idle test"; return 1; }
  fi

  if ((BENCH_WARMUP > 0)); then
    bench_wrk "$BENCH_TMP/wrk-$name-warmup.out" "$BENCH_WARMUP" "$BENCH_CONNS" "$url" >/dev/null
  fi
  out=$BENCH_TMP/wrk-$name.out
  local s0 s1 o0 o1 c0 c1
  s0=$(bench_sys_busy_ticks) o0=$(bench_cpu_ticks "$ORIGIN_PID") c0=$(bench_reaped_ticks)
  t0=$(bench_cpu_ticks "$PROXY_PID")
  bench_wrk "$out" "$BENCH_DURATION" "$BENCH_CONNS" "$url"
  t1=$(bench_cpu_ticks "$PROXY_PID")
  s1=$(bench_sys_busy_ticks) o1=$(bench_cpu_ticks "$ORIGIN_PID") c1=$(bench_reaped_ticks)
  # CPU used on the machine by anything but the proxy, the origin and wrk while we measured: other tenants
  # (a compiler, ...) make the numbers noisy, so say so.
  R_OTHER[$name]=$(awk -v t=$(( (s1 - s0) - (t1 - t0) - (o1 - o0) - (c1 - c0) )) -v hz="$CLK_TCK" -v d="$BENCH_DURATION" \
    'BEGIN {v = 100 * t / hz / d; if (v < 0) v = 0; printf "%.0f%%", v}')
  R_LOAD[$name]=$(awk -v t=$(( (o1 - o0) + (c1 - c0) )) -v hz="$CLK_TCK" -v d="$BENCH_DURATION" 'BEGIN {printf "%.0f%%", 100 * t / hz / d}')
  if (( ${R_OTHER[$name]%\%} > 15 )); then
    log "warning: other processes used ${R_OTHER[$name]} of a CPU during the $name run: its numbers are noisy"
  fi
  local alive=1
  bench_alive "$PROXY_PID" || alive=0
  bench_stop "$PROXY_PID"
  sed 's/^/    /' "$out" >&2

  if ! bench_parse_wrk "$out"; then
    R_NOTE[$name]+="wrk produced no result"; return 1
  fi
  ((alive)) || { R_NOTE[$name]+="died under load"; return 1; }
  R_REQS[$name]=$WRK_REQS R_ERRS[$name]=$WRK_ERRORS R_P50[$name]=$WRK_P50 R_P99[$name]=$WRK_P99
  secs=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}')
  R_CPU[$name]=$(awk -v s="$secs" -v d="$BENCH_DURATION" 'BEGIN {printf "%.0f%%", 100 * s / d}')
  if ((WRK_REQS == 0 || WRK_ERRORS * 100 > WRK_REQS)); then
    R_NOTE[$name]+="errors: $WRK_ERRORS of $WRK_REQS requests (>1%)"
    log "$name: ${R_NOTE[$name]}"
    return 1
  fi
  R_RPS[$name]=$(awk -v r="$WRK_RPS" 'BEGIN {printf "%.0f", r}')
  R_US[$name]=$(awk -v s="$secs" -v n="$WRK_REQS" 'BEGIN {printf "%.1f", s * 1e6 / n}')
  R_STATUS[$name]=ok
  log "$name: ${R_RPS[$name]} req/s, ${R_US[$name]} µs CPU/req (${secs}s CPU for $WRK_REQS requests)"
}

mode_proxy() {
  local proxies name failed=0 direct_rps=- origin_ok=1
  read -r -a proxies <<<"${BENCH_PROXIES:-bulwark haproxy nginx}"
  for name in "${proxies[@]}"; do
    proxy_ports_known "$name" || die "unknown proxy '$name' (known: bulwark haproxy nginx)"
  done
  bench_need_pkgs nginx haproxy wrk curl python3 procps util-linux
  bench_need_bulwark
  bench_init
  if ! proxy_ports; then
    log "no free set of ports found (set BENCH_PORT_BASE)"
    ORIGIN_PORT=-
    origin_ok=0
  elif ! start_origin; then
    origin_ok=0
  else
    log "origin nginx pid $ORIGIN_PID on 127.0.0.1:$ORIGIN_PORT; proxies: bulwark ${PROXY_PORT[bulwark]}, haproxy ${PROXY_PORT[haproxy]}, nginx ${PROXY_PORT[nginx]}"
  fi

  # Baseline: wrk straight at the origin. Load and origin share one CPU in every run, so this is the ceiling
  # for any proxy's req/s in this layout.
  local bdur=$((BENCH_DURATION < 5 ? BENCH_DURATION : 5))
  if ((origin_ok)) && bench_wrk "$BENCH_TMP/wrk-direct.out" "$bdur" "$BENCH_CONNS" "http://127.0.0.1:$ORIGIN_PORT/" \
    && bench_parse_wrk "$BENCH_TMP/wrk-direct.out"; then
    direct_rps=$(awk -v r="$WRK_RPS" 'BEGIN {printf "%.0f", r}')
  fi
  log "direct to origin: $direct_rps req/s"

  for name in "${proxies[@]}"; do
    local idle=0
    [[ $name == bulwark || $name == haproxy ]] && idle=1
    if ((origin_ok)); then
      measure_proxy "$name" "$idle" || failed=1
    else
      result_init "$name"
      R_NOTE[$name]="origin unavailable"
      failed=1
    fi
  done
  ((origin_ok)) && bench_stop "$ORIGIN_PID"

  echo
  printf 'proxy benchmark: wrk -t1 -c%s -d%ss keep-alive GET / (origin: nginx, 200 "ok\\n")\n' "$BENCH_CONNS" "$BENCH_DURATION"
  echo "proxy pinned to CPU ${BENCH_PROXY_CPU:-any}; wrk + origin on CPU ${BENCH_LOAD_CPU:-any}; direct-to-origin ceiling: $direct_rps req/s"
  printf '%-8s %-6s %9s %11s %6s %9s %6s %9s %9s %9s %6s %13s  %s\n' \
    proxy status req/s "cpu_us/req" cpu load_cpu other p50 p99 requests errors rss/idle_conn note
  for name in "${proxies[@]}"; do
    local rss=${R_RSS[$name]}
    [[ $name == bulwark || $name == haproxy ]] || rss=-
    [[ $rss == nan || $rss == - ]] || rss="${rss} B"
    printf '%-8s %-6s %9s %11s %6s %9s %6s %9s %9s %9s %6s %13s  %s\n' "$name" "${R_STATUS[$name]}" "${R_RPS[$name]}" \
      "${R_US[$name]}" "${R_CPU[$name]}" "${R_LOAD[$name]}" "${R_OTHER[$name]}" "${R_P50[$name]}" "${R_P99[$name]}" "${R_REQS[$name]}" "${R_ERRS[$name]}" \
      "$rss" "${R_NOTE[$name]}"
  done
  echo
  for name in bulwark haproxy nginx; do
    : "${R_US[$name]:=nan}" "${R_RPS[$name]:=nan}" "${R_RSS[$name]:=nan}"
  done
  echo "bench proxy idle: bulwark_rss_per_conn_bytes=${R_RSS[bulwark]} haproxy_rss_per_conn_bytes=${R_RSS[haproxy]}"
  echo "bench proxy: bulwark_us_per_req=${R_US[bulwark]} haproxy_us_per_req=${R_US[haproxy]} nginx_us_per_req=${R_US[nginx]} bulwark_rps=${R_RPS[bulwark]} haproxy_rps=${R_RPS[haproxy]} nginx_rps=${R_RPS[nginx]}"
  return "$failed"
}

# Future modes (waf, dns) go here as mode_<name>, reusing lib.sh.

usage() {
  sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

main() {
  local mode=${1:-}
  [[ -n $mode ]] || usage
  declare -F "mode_$mode" >/dev/null || { log "unknown mode '$mode'"; usage; }
  "mode_$mode"
}

main "$@"
