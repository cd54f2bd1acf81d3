#!/usr/bin/env bash
# Bulwark benchmarks. Usage: bench/run.sh MODE   (MODE: proxy, waf, shield, dns)
#
# proxy: Bulwark vs HAProxy vs nginx as HTTP/1.1 keep-alive reverse proxies in front of one fixed-response
#        nginx origin; CPU µs per request, requests/s, and RSS per idle keep-alive connection.
# waf:   the WAF's CPU cost per request, Bulwark vs nginx + libmodsecurity 3, both with the Debian CRS 3.3.4
#        (paranoia level 1, blocking), on a mix of browser GETs, form and JSON POSTs and 10% attacks
#        (bench/waf_mix.tsv, sent by bench/waf_mix.lua); each proxy with and without its WAF. Also the time
#        `bulwark check` takes to load and compile the CRS.
#        Method and caveats: docs/benchmarks.md.
# dns:   authoritative DNS, Bulwark vs NSD vs Knot (one worker each, same generated zone), driven by dnsperf
#        at a fixed 50,000 queries/s (server CPU µs per query from /proc) and flat out (queries/s); its own
#        settings (BENCH_DNS_*) are listed in bench/dns/dns.sh.
#
# Environment:
#   BENCH_DURATION    seconds of measured load per proxy (default 10)
#   BENCH_WARMUP      seconds of unmeasured warm-up load per proxy (default 2)
#   BENCH_CONNS       wrk connections (default 50; waf mode: 20)
#   BENCH_IDLE_CONNS  idle keep-alive connections for the RSS test (default 10000; 0 skips it)
#   BENCH_PROXY_CPU   CPU for the proxy under test (default 0)
#   BENCH_LOAD_CPU    CPU for wrk, the origin and the idle-connection helper (default 1)
#   BENCH_PROXIES     which proxies to run (default "bulwark haproxy nginx")
#   BENCH_PORT_BASE   origin port; proxies on +1..+3, bulwark admin on +9 (default: first free of 18080,
#                     18180, ..., 18980)
#   BULWARK_BIN       bulwark binary (default build/bulwark; built in Release if missing)
#   BENCH_KEEP_TMP=1  keep the temp dir (configs, logs, wrk output) for inspection
# waf mode only:
#   BENCH_WAF_VARIANTS  which runs (default "bulwark_proxy bulwark_waf nginx_proxy modsec_waf")
#   BENCH_WAF_MIX       request mix file (default bench/waf_mix.tsv)
#   BENCH_PERF=1        after the measured run, perf-record BENCH_PERF_VARIANTS (default bulwark_waf) under
#                       another BENCH_DURATION of load and print its top symbols
#
# The last line printed is machine-readable (see each mode's function). Exit status is non-zero when any
# proxy failed to start, answered wrongly or had more than 1% errors; its numbers are printed as nan.
set -uo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BENCH_DURATION=${BENCH_DURATION:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_CONNS_USER=${BENCH_CONNS:-}
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

# bulwark_config: the proxy's configuration (one worker, one route named `all` to the origin, no access log).
bulwark_config() {
  cat <<EOF
workers: 1
listeners:
  - address: 127.0.0.1:${PROXY_PORT[bulwark]}
routes:
  - name: all
    match: { prefix: / }
    pool: origin
pools:
  origin:
    origins:
      - address: 127.0.0.1:$ORIGIN_PORT
admin:
  address: 127.0.0.1:$BULWARK_ADMIN_PORT
access_log: { path: off }
EOF
}

start_bulwark() {
  local conf=$BENCH_TMP/bulwark.yaml
  bulwark_config >"$conf"
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

declare -A R_OTHER R_LOAD R_STATUS R_RPS R_US R_UUS R_CPU R_P50 R_P99 R_REQS R_ERRS R_RSS R_NOTE

# result_init NAME: a failed result (nan numbers), to be filled in by a successful measurement.
result_init() {
  local name=$1
  R_STATUS[$name]=FAIL R_RPS[$name]=nan R_US[$name]=nan R_UUS[$name]=nan R_CPU[$name]=- R_P50[$name]=- R_P99[$name]=-
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
  local s0 s1 o0 o1 c0 c1 u0 u1
  s0=$(bench_sys_busy_ticks) o0=$(bench_cpu_ticks "$ORIGIN_PID") c0=$(bench_reaped_ticks)
  t0=$(bench_cpu_ticks "$PROXY_PID") u0=$(bench_user_ticks "$PROXY_PID")
  bench_wrk "$out" "$BENCH_DURATION" "$BENCH_CONNS" "$url" ${BENCH_WRK_SCRIPT:+"$BENCH_WRK_SCRIPT"}
  t1=$(bench_cpu_ticks "$PROXY_PID") u1=$(bench_user_ticks "$PROXY_PID")
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
  R_UUS[$name]=$(awk -v t=$((u1 - u0)) -v hz="$CLK_TCK" -v n="$WRK_REQS" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
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

# ---- waf mode --------------------------------------------------------------------------------------------
# The same request mix through nginx + libmodsecurity 3 and through Bulwark, both running the Debian CRS 3.3.4
# at the same paranoia level, blocking, one worker each; and through both without a WAF. The WAF cost of an
# engine is its CPU per request with the WAF minus without. Method and caveats: docs/benchmarks.md.

WAF_MIX_FILE=${BENCH_WAF_MIX:-$BENCH_DIR/waf_mix.tsv}
WAF_LUA=$BENCH_DIR/waf_mix.lua
WAF_HOST=shop.example.com
# The rule files both engines load, in this order (Debian's nginx, libmodsecurity and modsecurity-crs packages).
WAF_RULE_FILES=(/etc/nginx/modsecurity.conf /etc/modsecurity/crs/crs-setup.conf '/usr/share/modsecurity-crs/rules/*.conf')
# Measured in this order: each engine without, then with its WAF.
WAF_VARIANTS_ALL=(bulwark_proxy bulwark_waf nginx_proxy modsec_waf)
declare -A W_STATUS W_RPS W_US W_CPU W_LOAD W_OTHER W_P50 W_P99 W_REQS W_2XX W_403 W_BAD W_SOCK W_NOTE

waf_result_init() {
  local v=$1
  W_STATUS[$v]=FAIL W_RPS[$v]=nan W_US[$v]=nan W_CPU[$v]=- W_LOAD[$v]=- W_OTHER[$v]=- W_P50[$v]=- W_P99[$v]=-
  W_REQS[$v]=- W_2XX[$v]=- W_403[$v]=- W_BAD[$v]=- W_SOCK[$v]=- W_NOTE[$v]=""
}

waf_port() { if [[ $1 == bulwark_* ]]; then echo "${PROXY_PORT[bulwark]}"; else echo "${PROXY_PORT[nginx]}"; fi; }
waf_has_waf() { [[ $1 == *_waf ]]; }
# waf_match_log VARIANT: the file the engine writes its rule matches to.
waf_match_log() { if [[ $1 == bulwark_* ]]; then echo "$BENCH_TMP/bulwark-waf-error.log"; else echo "$BENCH_TMP/$1-error.log"; fi; }

# modsec_module: the ModSecurity-nginx connector (libnginx-mod-http-modsecurity).
modsec_module() {
  local f
  for f in /usr/lib/nginx/modules/ngx_http_modsecurity_module.so /usr/share/nginx/modules/ngx_http_modsecurity_module.so; do
    [[ -f $f ]] && { echo "$f"; return 0; }
  done
  return 1
}

# waf_write_configs: every config of the mode, into the temp dir.
waf_write_configs() {
  local v r
  for v in bulwark_proxy bulwark_waf; do
    {
      cat <<EOF
workers: 1
listeners:
  - address: 127.0.0.1:${PROXY_PORT[bulwark]}
routes:
  - match: { prefix: / }
    pool: origin
pools:
  origin:
    origins:
      - address: 127.0.0.1:$ORIGIN_PORT
access_log: { path: "off" }
EOF
      # No audit_log: like SecAuditEngine Off on the libmodsecurity side.
      if [[ $v == bulwark_waf ]]; then
        echo "waf:"
        echo "  mode: block"
        echo "  rules:"
        for r in "${WAF_RULE_FILES[@]}"; do echo "    - $r"; done
        echo "  error_log: $(waf_match_log bulwark_waf)"
      fi
    } >"$BENCH_TMP/$v.yaml"
  done

  # libmodsecurity: Debian's recommended base config, then blocking and no audit log (Bulwark's `mode: block`
  # overrides SecRuleEngine the same way), then the CRS with crs-setup.conf's defaults (paranoia level 1).
  {
    echo "# generated by bench/run.sh waf"
    echo "Include ${WAF_RULE_FILES[0]}"
    echo "SecRuleEngine On"
    echo "SecAuditEngine Off"
    for r in "${WAF_RULE_FILES[@]:1}"; do echo "Include $r"; done
  } >"$BENCH_TMP/modsec-main.conf"

  # nginx as in proxy mode (one worker, keep-alive upstream), with the ModSecurity connector loaded in both
  # variants and switched on only in modsec_waf. Request-level error_log at info: libmodsecurity logs each
  # matched rule at info (Bulwark's error_log gets the same one line per matched rule).
  for v in nginx_proxy modsec_waf; do
    local on=""
    [[ $v == modsec_waf ]] && on="    modsecurity on;
    modsecurity_rules_file $BENCH_TMP/modsec-main.conf;"
    {
      echo "load_module $MODSEC_MODULE;"
      nginx_common_conf "$v"
      cat <<EOF
http {
  access_log off;
  error_log $BENCH_TMP/$v-error.log info;
  keepalive_timeout 300s;
  keepalive_requests 10000000;
$(nginx_temp_paths "$v")
  upstream origin {
    server 127.0.0.1:$ORIGIN_PORT;
    keepalive 64;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:${PROXY_PORT[nginx]} backlog=4096;
$on
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
    } >"$BENCH_TMP/$v.conf"
  done
}

# waf_start VARIANT: start it on the proxy CPU; sets PROXY_PID.
waf_start() {
  local v=$1
  PROXY_PID=""
  if [[ $v == bulwark_* ]]; then
    [[ -x $BULWARK_BIN ]] || { log "bulwark: $BULWARK_BIN is missing"; return 1; }
    bench_start "$BENCH_PROXY_CPU" "$BENCH_TMP/$v.out" "$BULWARK_BIN" serve -c "$BENCH_TMP/$v.yaml"
  else
    bench_start "$BENCH_PROXY_CPU" "$BENCH_TMP/$v.out" nginx -p "$BENCH_TMP" -e "$BENCH_TMP/$v-error.log" -c "$BENCH_TMP/$v.conf"
  fi
  PROXY_PID=$BENCH_LAST_PID
}

# waf_mix_attack_share: the fraction of the mix that WAFs must block (sum of attack weights / sum of weights).
waf_mix_attack_share() {
  awk -F'\t' '!/^#/ && NF == 7 {t += $2; if ($3 == "403") a += $2} END {if (t) printf "%.4f", a / t; else print "nan"}' "$WAF_MIX_FILE"
}

# waf_rules_since LOG OFFSET: the rule ids and messages logged in LOG after byte OFFSET (one line each).
waf_rules_since() {
  [[ -f $1 ]] || return 0
  tail -c +"$(($2 + 1))" "$1" | grep -o '\[id "[0-9]*"\]\( \[[a-z]* "[^"]*"\]\)*' \
    | sed -n 's/^\[id "\([0-9]*\)"\].*\[msg "\([^"]*\)"\].*/\1 \2/p; t; s/^\[id "\([0-9]*\)"\].*/\1/p' | sort -u
}

# waf_check_mix VARIANT: each request of the mix once with curl. Legitimate requests must get 2xx and the
# origin's body; attacks 403 with a WAF, 2xx without. A legitimate request blocked by a WAF is a false
# positive that would make the comparison meaningless: it fails the variant loudly, with the matched rules.
waf_check_mix() {
  local v=$1 port url name expect method path headers body want code h off hs args bad=0
  port=$(waf_port "$v")
  local mlog
  mlog=$(waf_match_log "$v")
  while IFS=$'\t' read -r name _ expect method path headers body; do
    [[ -z $name || $name == \#* ]] && continue
    want=2xx
    waf_has_waf "$v" && want=$expect
    args=(-sS --max-time 10 -o "$BENCH_TMP/check.body" -w '%{http_code}' -X "$method" -H "Host: $WAF_HOST")
    IFS='|' read -r -a hs <<<"$headers"
    for h in "${hs[@]}"; do args+=(-H "$h"); done
    [[ $body != - ]] && args+=(--data-binary "$body")
    url="http://127.0.0.1:$port$path"
    off=$(stat -c %s "$mlog" 2>/dev/null || echo 0)
    if ! code=$(curl "${args[@]}" "$url" 2>"$BENCH_TMP/check.err" </dev/null); then
      log "$v: $name ($method $path) failed: $(head -c 200 "$BENCH_TMP/check.err")"
      W_NOTE[$v]+="$name: curl failed; "
      bad=1
      continue
    fi
    if [[ $want == 2xx && $code == 2?? && $(<"$BENCH_TMP/check.body") == "$ORIGIN_BODY" ]] || [[ $want == 403 && $code == 403 ]]; then
      log "$v: $name -> $code (expected $want)"
      continue
    fi
    bad=1
    sleep 0.3  # let the engine's log reach the file
    if [[ $want == 2xx && $code == 403 ]]; then
      log "FALSE POSITIVE: $v blocked the legitimate request $name ($method $path) with 403; rules matched:"
      waf_rules_since "$mlog" "$off" | sed 's/^/    /' >&2
      W_NOTE[$v]+="false positive on $name; "
    elif [[ $want == 403 ]]; then
      log "$v: attack $name ($method $path) was NOT blocked: status $code"
      W_NOTE[$v]+="$name not blocked ($code); "
    else
      log "$v: $name ($method $path): status $code, body '$(head -c 100 "$BENCH_TMP/check.body")' (expected $want)"
      W_NOTE[$v]+="$name: $code; "
    fi
  done <"$WAF_MIX_FILE"
  return "$bad"
}

# waf_perf VARIANT: with BENCH_PERF=1, perf-record the running VARIANT (call graphs) under another
# BENCH_DURATION of load, after the measured run so that perf's overhead is not in the figures; the top
# symbols go to stderr and TMP/perf-VARIANT.txt.
waf_perf() {
  local v=$1 url=$2 data=$BENCH_TMP/perf-$1.data rep=$BENCH_TMP/perf-$1.txt pid
  command -v perf >/dev/null || { log "BENCH_PERF: perf is not installed"; return 0; }
  bench_start "$BENCH_LOAD_CPU" "$BENCH_TMP/perf-$v.out" perf record -g -F 999 -p "$(bench_tree "$PROXY_PID" | paste -sd,)" -o "$data" -- sleep "$BENCH_DURATION"
  pid=$BENCH_LAST_PID
  bench_wrk "$BENCH_TMP/wrk-$v-perf.out" "$BENCH_DURATION" "$W_CONNS" "$url" "$WAF_LUA" "$WAF_MIX_FILE"
  wait "$pid" 2>/dev/null
  bench_stop "$pid"
  perf report -i "$data" --stdio --no-children --percent-limit 0.5 --sort dso,symbol -g none 2>&1 \
    | grep -v '^#' | grep -v '^$' | cut -c1-160 | sed 's/ *$//' | head -n 40 >"$rep"
  log "perf, $v, top symbols (self time):"
  sed 's/^/    /' "$rep" >&2
}

# measure_waf VARIANT: start it, check the mix, warm up, measure, stop it.
measure_waf() {
  local v=$1 port url out mix
  port=$(waf_port "$v")
  url="http://127.0.0.1:$port/"
  waf_result_init "$v"
  log "== $v on 127.0.0.1:$port"
  if ! bench_port_free "$port"; then
    W_NOTE[$v]="port $port already in use"; log "$v: ${W_NOTE[$v]}"; return 1
  fi
  if ! waf_start "$v" || ! bench_wait_port "$port" "$PROXY_PID" 30; then
    W_NOTE[$v]="did not start"
    log "$v did not start; its output:"
    tail -n 20 "$BENCH_TMP/$v.out" "$BENCH_TMP/$v-error.log" >&2 2>/dev/null
    [[ -n $PROXY_PID ]] && bench_stop "$PROXY_PID"
    return 1
  fi
  if ! waf_check_mix "$v"; then
    bench_stop "$PROXY_PID"
    return 1
  fi
  if ((BENCH_WARMUP > 0)); then
    bench_wrk "$BENCH_TMP/wrk-$v-warmup.out" "$BENCH_WARMUP" "$W_CONNS" "$url" "$WAF_LUA" "$WAF_MIX_FILE" >/dev/null
  fi
  out=$BENCH_TMP/wrk-$v.out
  local s0 s1 o0 o1 c0 c1 t0 t1 secs
  s0=$(bench_sys_busy_ticks) o0=$(bench_cpu_ticks "$ORIGIN_PID") c0=$(bench_reaped_ticks)
  t0=$(bench_cpu_ticks "$PROXY_PID")
  bench_wrk "$out" "$BENCH_DURATION" "$W_CONNS" "$url" "$WAF_LUA" "$WAF_MIX_FILE"
  t1=$(bench_cpu_ticks "$PROXY_PID")
  s1=$(bench_sys_busy_ticks) o1=$(bench_cpu_ticks "$ORIGIN_PID") c1=$(bench_reaped_ticks)
  W_OTHER[$v]=$(awk -v t=$(( (s1 - s0) - (t1 - t0) - (o1 - o0) - (c1 - c0) )) -v hz="$CLK_TCK" -v d="$BENCH_DURATION" \
    'BEGIN {v = 100 * t / hz / d; if (v < 0) v = 0; printf "%.0f%%", v}')
  W_LOAD[$v]=$(awk -v t=$(( (o1 - o0) + (c1 - c0) )) -v hz="$CLK_TCK" -v d="$BENCH_DURATION" 'BEGIN {printf "%.0f%%", 100 * t / hz / d}')
  if (( ${W_OTHER[$v]%\%} > 15 )); then
    log "warning: other processes used ${W_OTHER[$v]} of a CPU during the $v run: its numbers are noisy"
  fi
  local alive=1
  bench_alive "$PROXY_PID" || alive=0
  if ((alive)) && [[ ${BENCH_PERF:-0} == 1 && " ${BENCH_PERF_VARIANTS:-bulwark_waf} " == *" $v "* ]]; then
    waf_perf "$v" "$url"
  fi
  bench_stop "$PROXY_PID"
  sed 's/^/    /' "$out" >&2

  if ! bench_parse_wrk "$out"; then
    W_NOTE[$v]+="wrk produced no result"; return 1
  fi
  ((alive)) || { W_NOTE[$v]+="died under load"; return 1; }
  mix=$(sed -n 's/^mix: 2xx=\([0-9]*\) 403=\([0-9]*\) other=\([0-9]*\)$/\1 \2 \3/p' "$out")
  [[ -n $mix ]] || { W_NOTE[$v]+="no status counts from $WAF_LUA"; return 1; }
  local n2 n4 nb
  read -r n2 n4 nb <<<"$mix"
  W_2XX[$v]=$n2 W_403[$v]=$n4 W_BAD[$v]=$nb
  W_REQS[$v]=$WRK_REQS W_SOCK[$v]=$WRK_SOCK_ERRORS W_P50[$v]=$WRK_P50 W_P99[$v]=$WRK_P99
  secs=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", t / hz}')
  W_CPU[$v]=$(awk -v s="$secs" -v d="$BENCH_DURATION" 'BEGIN {printf "%.0f%%", 100 * s / d}')
  # Errors: anything but 2xx and 403, and socket errors, on more than 1% of the requests. 403s: with a WAF
  # the attack share of the mix (within 1 point: wrk stops mid-cycle), without one none at all.
  if ((WRK_REQS == 0 || (W_BAD[$v] + WRK_SOCK_ERRORS) * 100 > WRK_REQS)); then
    W_NOTE[$v]+="errors: ${W_BAD[$v]} non-2xx/403 + $WRK_SOCK_ERRORS socket errors of $WRK_REQS requests (>1%)"
    log "$v: ${W_NOTE[$v]}"
    return 1
  fi
  local share want
  share=$(awk -v a="${W_403[$v]}" -v n="$WRK_REQS" 'BEGIN {printf "%.4f", a / n}')
  want=0
  waf_has_waf "$v" && want=$(waf_mix_attack_share)
  if ! awk -v s="$share" -v w="$want" 'BEGIN {d = s - w; if (d < 0) d = -d; exit !(d <= (w > 0 ? 0.01 : 0))}'; then
    W_NOTE[$v]+="403 share $share of requests, expected $want (false positives or missed attacks under load)"
    log "$v: ${W_NOTE[$v]}"
    return 1
  fi
  W_RPS[$v]=$(awk -v r="$WRK_RPS" 'BEGIN {printf "%.0f", r}')
  W_US[$v]=$(awk -v s="$secs" -v n="$WRK_REQS" 'BEGIN {printf "%.1f", s * 1e6 / n}')
  W_STATUS[$v]=ok
  log "$v: ${W_RPS[$v]} req/s, ${W_US[$v]} µs CPU/req (${secs}s CPU for $WRK_REQS requests, ${W_403[$v]} blocked)"
}

# waf_time CMD...: run CMD pinned to the proxy CPU; sets WAF_TIME (wall seconds, 3 decimals; nan if CMD
# failed) and WAF_TIME_OUT (its output).
waf_time() {
  local a b rc pin=()
  [[ -n $BENCH_PROXY_CPU ]] && pin=(taskset -c "$BENCH_PROXY_CPU")
  a=$(date +%s%N)
  WAF_TIME_OUT=$("${pin[@]}" "$@" 2>&1)
  rc=$?
  b=$(date +%s%N)
  if ((rc != 0)); then
    log "failed (exit $rc): $* -> $WAF_TIME_OUT"
    WAF_TIME=nan
    return 1
  fi
  WAF_TIME=$(awk -v ns=$((b - a)) 'BEGIN {printf "%.3f", ns / 1e9}')
}

# waf_evict FILE...: drop FILEs' pages from the page cache (posix_fadvise DONTNEED: only these files, and
# only pages no process has mapped), so that the next read comes from disk. Sets WAF_EVICTED (0 or 1).
waf_evict() {
  WAF_EVICTED=0
  python3 - "$@" <<'PY' 2>/dev/null && WAF_EVICTED=1
import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
PY
}

# waf_load_times: Bulwark's CRS load time is the wall time of `bulwark check -c bulwark_waf.yaml`, which
# loads the config and builds the runtime as `serve` does (parses and compiles every rule: regexes with JIT,
# data files, ...) without opening sockets. The first run is the cold one: a fresh process (Bulwark keeps no
# rule cache), with the binary, the rule files and their data files evicted from the page cache first. For
# context: warm runs, the same check without the waf section, and `nginx -t` with and without
# libmodsecurity + CRS (warm).
waf_load_times() {
  local i runs=() files=() r
  CRS_LOAD=nan CRS_LOAD_WARM=nan CRS_RULES=- CHECK_NOWAF=nan MODSEC_LOAD=nan NGINX_T=nan WAF_EVICTED=0
  if [[ -x $BULWARK_BIN ]]; then
    for r in "${WAF_RULE_FILES[@]}"; do
      # shellcheck disable=SC2206  # the glob in the CRS entry is meant to expand
      files+=($r)
    done
    files+=("$BULWARK_BIN" /usr/share/modsecurity-crs/rules/*.data)
    [[ -f /etc/nginx/unicode.mapping ]] && files+=(/etc/nginx/unicode.mapping)
    waf_evict "${files[@]}"
    ((WAF_EVICTED)) || log "could not evict the rule files from the page cache: the 'cold' CRS load is warm"
    if waf_time "$BULWARK_BIN" check -c "$BENCH_TMP/bulwark_waf.yaml"; then
      CRS_LOAD=$WAF_TIME
      CRS_RULES=$(sed -n 's/.*ok (\([0-9]*\) WAF rules).*/\1/p' <<<"$WAF_TIME_OUT")
      log "bulwark check with the CRS (cold$( ((WAF_EVICTED)) || echo ', page cache warm')): ${CRS_LOAD}s, ${CRS_RULES:-?} WAF rules"
      for i in 1 2 3 4 5; do waf_time "$BULWARK_BIN" check -c "$BENCH_TMP/bulwark_waf.yaml" && runs+=("$WAF_TIME"); done
      ((${#runs[@]})) && CRS_LOAD_WARM=$(printf '%s\n' "${runs[@]}" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
    fi
    waf_time "$BULWARK_BIN" check -c "$BENCH_TMP/bulwark_proxy.yaml"
    CHECK_NOWAF=$WAF_TIME
  fi
  waf_time nginx -t -q -p "$BENCH_TMP" -e "$BENCH_TMP/nginx-t.log" -c "$BENCH_TMP/modsec_waf.conf"
  MODSEC_LOAD=$WAF_TIME
  waf_time nginx -t -q -p "$BENCH_TMP" -e "$BENCH_TMP/nginx-t.log" -c "$BENCH_TMP/nginx_proxy.conf"
  NGINX_T=$WAF_TIME
}

# waf_diff A B: A - B with 1 decimal, nan if either is nan.
waf_diff() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "nan" || b == "nan") print "nan"; else printf "%.1f", a - b}'; }

mode_waf() {
  local v failed=0 origin_ok=1
  W_CONNS=${BENCH_CONNS_USER:-20}
  read -r -a WAF_VARIANTS <<<"${BENCH_WAF_VARIANTS:-${WAF_VARIANTS_ALL[*]}}"
  for v in "${WAF_VARIANTS[@]}"; do
    [[ " ${WAF_VARIANTS_ALL[*]} " == *" $v "* ]] || die "unknown variant '$v' (known: ${WAF_VARIANTS_ALL[*]})"
  done
  for v in "${WAF_VARIANTS_ALL[@]}"; do waf_result_init "$v"; W_STATUS[$v]=-; done
  bench_need_pkgs nginx libnginx-mod-http-modsecurity modsecurity-crs wrk curl python3 procps util-linux
  bench_need_bulwark
  MODSEC_MODULE=$(modsec_module) || die "ngx_http_modsecurity_module.so not found under /usr/lib/nginx/modules or /usr/share/nginx/modules"
  [[ -f $WAF_MIX_FILE && -f $WAF_LUA ]] || die "missing $WAF_MIX_FILE or $WAF_LUA"
  bench_init
  if ! proxy_ports; then
    log "no free set of ports found (set BENCH_PORT_BASE)"
    origin_ok=0
  else
    waf_write_configs
    waf_load_times
    start_origin || origin_ok=0
  fi
  ((origin_ok)) && log "origin nginx pid $ORIGIN_PID on 127.0.0.1:$ORIGIN_PORT; bulwark on ${PROXY_PORT[bulwark]}, nginx on ${PROXY_PORT[nginx]}"
  [[ -n ${CRS_LOAD:-} ]] || CRS_LOAD=nan CRS_LOAD_WARM=nan CRS_RULES=- CHECK_NOWAF=nan MODSEC_LOAD=nan NGINX_T=nan
  [[ $CRS_LOAD == nan ]] && failed=1

  for v in "${WAF_VARIANTS[@]}"; do
    if ((origin_ok)); then
      measure_waf "$v" || failed=1
    else
      waf_result_init "$v"
      W_NOTE[$v]="origin unavailable"
      failed=1
    fi
  done
  ((origin_ok)) && bench_stop "$ORIGIN_PID"

  local bw mw ratio share
  bw=$(waf_diff "${W_US[bulwark_waf]}" "${W_US[bulwark_proxy]}")
  mw=$(waf_diff "${W_US[modsec_waf]}" "${W_US[nginx_proxy]}")
  ratio=$(awk -v a="$bw" -v b="$mw" 'BEGIN {if (a == "nan" || b == "nan" || b <= 0) print "nan"; else printf "%.3f", a / b}')
  share=$(waf_mix_attack_share)

  echo
  printf 'waf benchmark: wrk -t1 -c%s -d%ss keep-alive, request mix %s (%s%% attacks), CRS 3.3.4 paranoia level 1, blocking\n' \
    "$W_CONNS" "$BENCH_DURATION" "${WAF_MIX_FILE#"$REPO_DIR"/}" "$(awk -v s="$share" 'BEGIN {printf "%.0f", 100 * s}')"
  echo "proxy pinned to CPU ${BENCH_PROXY_CPU:-any}; wrk + origin on CPU ${BENCH_LOAD_CPU:-any}; one worker each; no access or audit log"
  printf '%-14s %-6s %7s %11s %5s %8s %6s %9s %9s %8s %8s %6s %6s %5s  %s\n' \
    variant status req/s "cpu_us/req" cpu load_cpu other p50 p99 requests 2xx 403 bad sockerr note
  for v in "${WAF_VARIANTS[@]}"; do
    printf '%-14s %-6s %7s %11s %5s %8s %6s %9s %9s %8s %8s %6s %6s %5s  %s\n' "$v" "${W_STATUS[$v]}" "${W_RPS[$v]}" \
      "${W_US[$v]}" "${W_CPU[$v]}" "${W_LOAD[$v]}" "${W_OTHER[$v]}" "${W_P50[$v]}" "${W_P99[$v]}" "${W_REQS[$v]}" \
      "${W_2XX[$v]}" "${W_403[$v]}" "${W_BAD[$v]}" "${W_SOCK[$v]}" "${W_NOTE[$v]%; }"
  done
  echo
  echo "WAF cost, CPU µs per request (with WAF - without): bulwark $bw, libmodsecurity $mw; bulwark/modsec = $ratio (target <= 0.10)"
  echo "CRS load: bulwark check ${CRS_LOAD}s cold$( ((WAF_EVICTED)) || echo ' (page cache warm)'), ${CRS_LOAD_WARM}s warm median (${CRS_RULES} WAF rules; check without waf: ${CHECK_NOWAF}s); nginx -t with libmodsecurity + CRS ${MODSEC_LOAD}s, without ${NGINX_T}s"
  echo
  local load
  load=$(awk -v s="$CRS_LOAD" 'BEGIN {if (s == "nan") print "nan"; else printf "%.2f", s}')
  echo "bench waf: bulwark_waf_us_per_req=$bw modsec_waf_us_per_req=$mw bulwark_proxy_us_per_req=${W_US[bulwark_proxy]} nginx_proxy_us_per_req=${W_US[nginx_proxy]} bulwark_crs_load_s=$load"
  return "$failed"
}

# ---- shield mode -----------------------------------------------------------------------------------------
# Bulwark with and without a typical shield in front of the same nginx origin (wrk as in proxy mode). Every
# request passes all five rate-limit rules (rates far above the load, so each is evaluated and admits) and
# the connection checks at accept (deny list, penalty box, per-client count); the difference in CPU per
# request is what the shield costs.

# shield_deny_list FILE COUNT: COUNT random IPv4 (90%) and IPv6 prefixes, none covering 127.0.0.0/8.
shield_deny_list() {
  python3 - "$1" "$2" <<'PY'
import random, sys
path, count = sys.argv[1], int(sys.argv[2])
rnd = random.Random(4)
with open(path, "w") as f:
    f.write("# bench deny list\n")
    for i in range(count):
        if i % 10:
            n = rnd.choice((16, 20, 24, 28, 32, 32, 32))
            a = rnd.getrandbits(32)
            if a >> 24 == 127:
                a ^= 1 << 31
            a &= (0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF
            f.write("%d.%d.%d.%d/%d\n" % (a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255, n))
        else:
            h = rnd.getrandbits(64) | (0x2 << 60)
            f.write("%x:%x:%x:%x::/64\n" % (h >> 48, h >> 32 & 0xFFFF, h >> 16 & 0xFFFF, h & 0xFFFF))
PY
}

# shield_config: the proxy's configuration plus a typical shield.
shield_config() {
  bulwark_config
  cat <<YAML
shield:
  rate_limits:
    - { name: per-ip, key: client_ip, rate: 10000000/s, burst: 1000000 }
    - { name: per-prefix, key: client_prefix, rate: 10000000/s, burst: 1000000 }
    - { name: route, key: client_ip, rate: 10000000/s, burst: 1000000, match: { route: all } }
    - { name: gets, key: [client_ip, client_prefix], rate: 10000000/s, burst: 1000000, match: { method: GET } }
    - { name: root, key: client_ip, rate: 10000000/s, burst: 1000000, match: { prefix: / } }
  lists:
    deny: [$BENCH_TMP/deny.txt]
  penalty_box: { threshold: 10, window: 60s }
  connections: { max_per_ip: 10000 }
YAML
}

start_bulwark_shield() {
  [[ -x $BULWARK_BIN ]] || { log "bulwark: $BULWARK_BIN is missing"; return 1; }
  bench_start "$BENCH_PROXY_CPU" "$BENCH_TMP/bulwark_shield.out" "$BULWARK_BIN" serve -c "$BENCH_TMP/bulwark-shield.yaml"
  PROXY_PID=$BENCH_LAST_PID
}

mode_shield() {
  local failed=0 rounds=${BENCH_SHIELD_ROUNDS:-6} i name load=nan a b
  local diffs=() udiffs=() withs=() withouts=()
  bench_need_pkgs nginx wrk curl python3 procps util-linux
  bench_need_bulwark
  bench_init
  proxy_ports || die "no free set of ports found (set BENCH_PORT_BASE)"
  PROXY_PORT[bulwark_shield]=${PROXY_PORT[bulwark]}
  start_origin || die "origin did not start"
  log "writing a 1,000,000-entry deny list"
  shield_deny_list "$BENCH_TMP/deny.txt" 1000000
  shield_config >"$BENCH_TMP/bulwark-shield.yaml"
  # How long the shield's config (the 1M-entry list above all) takes to load: `bulwark check` builds it all.
  a=$(date +%s%N)
  if "$BULWARK_BIN" check -c "$BENCH_TMP/bulwark-shield.yaml" >"$BENCH_TMP/check-shield.out" 2>&1; then
    b=$(date +%s%N)
    load=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", (b - a) / 1e9}')
  else
    log "bulwark check failed on the shield config:"; tail -n 5 "$BENCH_TMP/check-shield.out" >&2; failed=1
  fi
  log "shield config with the 1M-entry deny list: check took ${load}s"
  # Both proxies run at once, on the same CPU, each driven by its own wrk with the same paced load: each of
  # BENCH_SHIELD_CONNS connections waits BENCH_SHIELD_DELAY_MS between its requests (wrk's delay() hook),
  # so neither saturates. Measured side by side, both see the same moment of this shared VM (its kernel time
  # moves by ±10 % from one run to the next, several µs per request, more than the shield costs); measured
  # at saturation, a slower run batches fewer requests per wake-up and the difference measures batching.
  # The figure is the median over the rounds of (with - without).
  local conns=${BENCH_SHIELD_CONNS:-20} delay_ms=${BENCH_SHIELD_DELAY_MS:-2}
  local pport=${PROXY_PORT[bulwark]} sport=${PROXY_PORT[haproxy]} sadmin=$((ORIGIN_PORT + 4))
  bench_port_free "$sadmin" || die "port $sadmin is in use"
  printf 'function delay()\n  return %s\nend\n' "$delay_ms" >"$BENCH_TMP/paced.lua"
  bulwark_config >"$BENCH_TMP/bulwark-plain.yaml"
  sed -e "s/127.0.0.1:$pport\$/127.0.0.1:$sport/" -e "s/127.0.0.1:$BULWARK_ADMIN_PORT\$/127.0.0.1:$sadmin/" \
    "$BENCH_TMP/bulwark-shield.yaml" >"$BENCH_TMP/bulwark-shield-side.yaml"
  local pp sp t0 t1 u0 u1 st0 st1 su0 su1 preqs sreqs pus sus
  for ((i = 1; i <= rounds; i++)); do
    bench_start "$BENCH_PROXY_CPU" "$BENCH_TMP/plain-$i.out" "$BULWARK_BIN" serve -c "$BENCH_TMP/bulwark-plain.yaml"
    pp=$BENCH_LAST_PID
    bench_start "$BENCH_PROXY_CPU" "$BENCH_TMP/shield-$i.out" "$BULWARK_BIN" serve -c "$BENCH_TMP/bulwark-shield-side.yaml"
    sp=$BENCH_LAST_PID
    if ! bench_wait_port "$pport" "$pp" 10 || ! bench_wait_port "$sport" "$sp" 30 ||
       ! bench_http_check "http://127.0.0.1:$pport/" "$ORIGIN_BODY" ||
       ! bench_http_check "http://127.0.0.1:$sport/" "$ORIGIN_BODY"; then
      log "round $i: a proxy did not start or answer"; failed=1
      bench_stop "$pp"; bench_stop "$sp"; continue
    fi
    local w1 w2
    bench_wrk "$BENCH_TMP/warm-p.out" "$BENCH_WARMUP" "$conns" "http://127.0.0.1:$pport/" & w1=$!
    bench_wrk "$BENCH_TMP/warm-s.out" "$BENCH_WARMUP" "$conns" "http://127.0.0.1:$sport/" & w2=$!
    wait "$w1" "$w2"
    t0=$(bench_cpu_ticks "$pp") u0=$(bench_user_ticks "$pp") st0=$(bench_cpu_ticks "$sp") su0=$(bench_user_ticks "$sp")
    bench_wrk "$BENCH_TMP/wrk-p-$i.out" "$BENCH_DURATION" "$conns" "http://127.0.0.1:$pport/" "$BENCH_TMP/paced.lua" &
    w1=$!
    bench_wrk "$BENCH_TMP/wrk-s-$i.out" "$BENCH_DURATION" "$conns" "http://127.0.0.1:$sport/" "$BENCH_TMP/paced.lua" &
    w2=$!
    wait "$w1" "$w2"
    t1=$(bench_cpu_ticks "$pp") u1=$(bench_user_ticks "$pp") st1=$(bench_cpu_ticks "$sp") su1=$(bench_user_ticks "$sp")
    bench_stop "$pp"; bench_stop "$sp"
    bench_parse_wrk "$BENCH_TMP/wrk-p-$i.out" && preqs=$WRK_REQS || preqs=0
    bench_parse_wrk "$BENCH_TMP/wrk-s-$i.out" && sreqs=$WRK_REQS || sreqs=0
    if ((preqs == 0 || sreqs == 0 || WRK_ERRORS * 100 > sreqs)); then
      log "round $i: wrk produced no result or errors"; failed=1; continue
    fi
    pus=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$preqs" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
    sus=$(awk -v t=$((st1 - st0)) -v hz="$CLK_TCK" -v n="$sreqs" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
    withouts+=("$pus") withs+=("$sus")
    diffs+=("$(awk -v a="$sus" -v b="$pus" 'BEGIN {printf "%.2f", a - b}')")
    udiffs+=("$(awk -v a=$((su1 - su0)) -v na="$sreqs" -v b=$((u1 - u0)) -v nb="$preqs" -v hz="$CLK_TCK" \
      'BEGIN {printf "%.2f", (a / na - b / nb) / hz * 1e6}')")
    log "round $i: without $pus µs/req ($preqs requests), with $sus ($sreqs): difference ${diffs[-1]} (user mode ${udiffs[-1]})"
  done
  bench_stop "$ORIGIN_PID"
  median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
  local cost without ucost
  cost=$(median "${diffs[@]}") without=$(median "${withouts[@]}") ucost=$(median "${udiffs[@]}")
  echo
  printf 'shield benchmark: Bulwark (1 worker) with and without the shield side by side on one CPU, each under wrk -t1 -c%s -d%ss keep-alive GET / paced (%s ms between requests per connection), %s rounds\n' \
    "$conns" "$BENCH_DURATION" "$delay_ms" "$rounds"
  echo "shield: 5 rate-limit rules (all evaluated, all admit), 1,000,000-entry deny list (config check ${load}s), penalty box, max_per_ip"
  echo "cpu_us/req without shield, per round: ${withouts[*]}; with shield: ${withs[*]}"
  echo "paired differences: ${diffs[*]} (median $cost); user mode only: ${udiffs[*]} (median $ucost)"
  echo
  echo "bench shield: shield_us_per_req=$cost proxy_us_per_req=$without"
  return "$failed"
}

# ---- dns mode: bench/dns/dns.sh -------------------------------------------------------------------------
# shellcheck source=bench/dns/dns.sh
source "$BENCH_DIR/dns/dns.sh"

# Future modes go here as mode_<name>, reusing lib.sh.

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
