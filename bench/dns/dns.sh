# shellcheck shell=bash disable=SC2034,SC2015
# bench/run.sh dns: authoritative DNS, Bulwark vs NSD vs Knot. Sourced by run.sh (uses lib.sh's helpers).
#
# Each server runs with one worker on one zone (bench/dns/gen_zone.py: ~5,700 records on 4,000 names of mixed
# types, delegations, a wildcard) pinned to the proxy CPU; dnsperf runs on the load CPU. Per server:
#   1. a check that it answers (kdig: an A record, an NXDOMAIN, a referral);
#   2. warm-up (BENCH_WARMUP s);
#   3. fixed rate: dnsperf -Q BENCH_DNS_RATE (50,000/s) for BENCH_DURATION s; the server's CPU time
#      (utime+stime from /proc/PID/stat, all its processes and threads) over the queries answered gives
#      µs per query;
#   4. flat out: dnsperf without -Q, BENCH_DNS_CLIENTS sockets and BENCH_DNS_OUTSTANDING queries in flight,
#      for BENCH_DURATION s: queries per second answered.
# Method and caveats: docs/benchmarks.md (DNS section).
#
# Environment (besides run.sh's BENCH_DURATION, BENCH_WARMUP, BENCH_PROXY_CPU, BENCH_LOAD_CPU, BULWARK_BIN):
#   BENCH_DNS_SERVERS      which servers (default "bulwark nsd knot")
#   BENCH_DNS_ROUNDS       rounds over the servers, alternating; figures are medians (default 1)
#   BENCH_DNS_RATE         fixed query rate (default 50000)
#   BENCH_DNS_CLIENTS      dnsperf -c for the flat-out run (default 8)
#   BENCH_DNS_OUTSTANDING  dnsperf -q for the flat-out run (default 500)
#   BENCH_DNS_PORT_BASE    ports BASE+1..+3 (default: first free of 15300, 15400, ... 15900)
#   BENCH_DNS_NAMES        owner names in the generated zone (default 4000)
#   BENCH_DNS_PERF=1       after the measured runs, perf-record BENCH_DNS_PERF_SERVERS (default bulwark) under
#                          another BENCH_DURATION at the fixed rate and print its top symbols and the
#                          kernel/user split (TMP/perf-NAME.txt)

DNS_ZONE=bench.example
declare -A DNS_PORT DNS_US DNS_QPS DNS_NOTE DNS_FIX_QPS DNS_LOST DNS_CPU DNS_OTHER DNS_FLAT_CPU DNS_LAT

dns_ports() {
  local base p ok=0
  for base in ${BENCH_DNS_PORT_BASE:-15300 15400 15500 15600 15700 15800 15900}; do
    ok=1
    for p in 1 2 3; do
      bench_port_free $((base + p)) && ! dns_udp_busy $((base + p)) || { ok=0; break; }
    done
    ((ok)) && break
    log "some of ports $((base + 1))..$((base + 3)) are in use"
  done
  ((ok)) || return 1
  DNS_PORT=([bulwark]=$((base + 1)) [nsd]=$((base + 2)) [knot]=$((base + 3)))
}

# dns_udp_busy PORT: something is bound to UDP PORT (on any address).
dns_udp_busy() { ss -Hlun "sport = :$1" 2>/dev/null | grep -q .; }

dns_write_configs() {
  local t=$BENCH_TMP
  mkdir -p "$t/zones" "$t/nsd" "$t/knot/db" "$t/knot/run"
  python3 "$BENCH_DIR/dns/gen_zone.py" "$t/zones" "${BENCH_DNS_NAMES:-4000}" || return 1
  mv "$t/zones/queries.txt" "$t/queries.txt"

  # NSD 4.6: one server process (plus its main and xfrd processes, idle), no database, no RRL (NSD's RRL
  # is on by default in Debian's build and would limit dnsperf's single source address), no control socket.
  cat >"$t/nsd.conf" <<EOF
server:
  server-count: 1
  ip-address: 127.0.0.1@${DNS_PORT[nsd]}
  port: ${DNS_PORT[nsd]}
  zonesdir: "$t/zones"
  database: ""
  zonelistfile: "$t/nsd/zone.list"
  xfrdfile: "$t/nsd/xfrd.state"
  xfrdir: "$t/nsd"
  pidfile: "$t/nsd/nsd.pid"
  logfile: "$t/nsd/nsd.log"
  username: ""
  chroot: ""
  verbosity: 1
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: $DNS_ZONE
  zonefile: $DNS_ZONE.zone
EOF

  # Knot 3.2: one UDP worker, one TCP worker, one background worker; no RRL module (off unless configured).
  cat >"$t/knot.conf" <<EOF
server:
  listen: 127.0.0.1@${DNS_PORT[knot]}
  rundir: "$t/knot/run"
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
database:
  storage: "$t/knot/db"
control:
  listen: "$t/knot/run/knot.sock"
log:
  - target: stderr
    any: warning
zone:
  - domain: $DNS_ZONE
    storage: "$t/zones"
    file: $DNS_ZONE.zone
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
EOF

  # Bulwark: the `dns:` section alone (the contract of issue #5) plus one worker.
  cat >"$t/bulwark-dns.yaml" <<EOF
workers: 1
dns:
  listen: [127.0.0.1:${DNS_PORT[bulwark]}]
  zones:
    - name: $DNS_ZONE
      file: $t/zones/$DNS_ZONE.zone
EOF
}

dns_start_nsd() {
  bench_start "$BENCH_PROXY_CPU" "$BENCH_TMP/nsd.out" nsd -d -c "$BENCH_TMP/nsd.conf"
  DNS_PID=$BENCH_LAST_PID
}

dns_start_knot() {
  bench_start "$BENCH_PROXY_CPU" "$BENCH_TMP/knot.out" knotd -c "$BENCH_TMP/knot.conf"
  DNS_PID=$BENCH_LAST_PID
}

dns_start_bulwark() {
  if [[ ! -x $BULWARK_BIN ]]; then
    DNS_NOTE[bulwark]="$BULWARK_BIN is missing"
    return 1
  fi
  if ! "$BULWARK_BIN" check -c "$BENCH_TMP/bulwark-dns.yaml" >"$BENCH_TMP/bulwark-check.out" 2>&1; then
    DNS_NOTE[bulwark]="bulwark does not accept a config with a dns: section yet ($(head -n 1 "$BENCH_TMP/bulwark-check.out"))"
    return 1
  fi
  bench_start "$BENCH_PROXY_CPU" "$BENCH_TMP/bulwark.out" "$BULWARK_BIN" serve -c "$BENCH_TMP/bulwark-dns.yaml"
  DNS_PID=$BENCH_LAST_PID
}

# dns_query PORT NAME TYPE [TCP]: the answer, one record per line (kdig +short), or the rcode line.
dns_query() {
  local port=$1 name=$2 type=$3 proto=+notcp
  [[ ${4:-} == tcp ]] && proto=+tcp
  kdig @127.0.0.1 -p "$port" "$proto" +time=2 +retry=1 +norec "$name" "$type" 2>&1
}

# dns_wait PORT PID: wait until the server answers the zone's SOA over UDP (it may listen before it has
# loaded the zone), at most 20 s.
dns_wait() {
  local port=$1 pid=$2 i
  for ((i = 0; i < 100; i++)); do
    bench_alive "$pid" || return 1
    dns_query "$port" "$DNS_ZONE" SOA | grep -q 'status: NOERROR' && return 0
    sleep 0.2
  done
  return 1
}

# dns_check NAME PORT: a few answers every server must give the same way; failure reasons in DNS_NOTE.
dns_check() {
  local name=$1 port=$2 out
  out=$(dns_query "$port" a-0.$DNS_ZONE A)
  grep -q 'status: NOERROR' <<<"$out" && grep -qi 'flags: qr aa' <<<"$out" && grep -q '10\.0\.0\.0' <<<"$out" \
    || { DNS_NOTE[$name]="wrong answer to a-0.$DNS_ZONE A"; log "$name: $out"; return 1; }
  out=$(dns_query "$port" nx-check.$DNS_ZONE A)
  grep -q 'status: NXDOMAIN' <<<"$out" || { DNS_NOTE[$name]="no NXDOMAIN for an absent name"; log "$name: $out"; return 1; }
  out=$(dns_query "$port" www.deleg-11.$DNS_ZONE A)
  grep -q 'ns.deleg-11' <<<"$out" || { DNS_NOTE[$name]="no referral under a delegation"; log "$name: $out"; return 1; }
  out=$(dns_query "$port" cname-7.$DNS_ZONE A tcp)
  grep -q 'status: NOERROR' <<<"$out" && grep -q '10\.0\.0\.1' <<<"$out" \
    || { DNS_NOTE[$name]="wrong answer over TCP to cname-7.$DNS_ZONE A"; log "$name: $out"; return 1; }
  return 0
}

# dns_perf OUT PORT SECONDS [ARGS...]: one dnsperf run on the load CPU, waited for.
dns_perf() {
  local out=$1 port=$2 secs=$3 pid
  shift 3
  bench_start "$BENCH_LOAD_CPU" "$out" dnsperf -s 127.0.0.1 -p "$port" -d "$BENCH_TMP/queries.txt" -l "$secs" -t 2 "$@"
  pid=$BENCH_LAST_PID
  wait "$pid"
  local rc=$?
  bench_stop "$pid"
  return "$rc"
}

# dns_parse FILE: sets PERF_COMPLETED PERF_LOST PERF_QPS PERF_LAT_MS from dnsperf's summary.
dns_parse() {
  PERF_LAT_MS=$(awk '/Average Latency \(s\):/ {printf "%.3f", $4 * 1000; exit}' "$1")
  PERF_COMPLETED=$(awk '/Queries completed:/ {print $3; exit}' "$1")
  PERF_LOST=$(awk '/Queries lost:/ {print $3; exit}' "$1")
  PERF_QPS=$(awk '/Queries per second:/ {print $4; exit}' "$1")
  [[ -n $PERF_COMPLETED && -n $PERF_QPS ]]
}

# dns_profile NAME PORT: with BENCH_DNS_PERF=1 and NAME in BENCH_DNS_PERF_SERVERS, perf-record the server
# under the fixed rate (after the measured runs, so perf's overhead is not in the figures).
dns_profile() {
  local name=$1 port=$2 data=$BENCH_TMP/perf-$1.data rep=$BENCH_TMP/perf-$1.txt pid
  [[ ${BENCH_DNS_PERF:-0} == 1 && " ${BENCH_DNS_PERF_SERVERS:-bulwark} " == *" $name "* ]] || return 0
  command -v perf >/dev/null || { log "BENCH_DNS_PERF: perf is not installed"; return 0; }
  bench_start "$BENCH_LOAD_CPU" "$BENCH_TMP/perf-$name.out" perf record -g -F 999 \
    -p "$(bench_tree "$DNS_PID" | paste -sd,)" -o "$data" -- sleep "$BENCH_DURATION"
  pid=$BENCH_LAST_PID
  dns_perf "$BENCH_TMP/perf-$name-profiled.out" "$port" "$BENCH_DURATION" -Q "$BENCH_DNS_RATE"
  wait "$pid" 2>/dev/null
  bench_stop "$pid"
  {
    perf report -i "$data" --stdio --no-children --sort dso -g none 2>&1 | grep -v '^#' | grep -v '^$' | head -n 5
    perf report -i "$data" --stdio --no-children --percent-limit 0.7 --sort dso,symbol -g none 2>&1 \
      | grep -v '^#' | grep -v '^$' | cut -c1-160 | sed 's/ *$//' | head -n 40
  } >"$rep"
  log "perf, $name at $BENCH_DNS_RATE q/s, by dso then top symbols (self time):"
  sed 's/^/    /' "$rep" >&2
}

# dns_measure NAME: start, check, warm up, fixed-rate run (CPU per query), flat-out run (qps), stop.
dns_measure() {
  local name=$1 port=${DNS_PORT[$1]} t0 t1 out
  DNS_US[$name]=nan DNS_QPS[$name]=nan DNS_FIX_QPS[$name]=- DNS_LOST[$name]=- DNS_CPU[$name]=- DNS_OTHER[$name]=- DNS_FLAT_CPU[$name]=-
  DNS_NOTE[$name]=${DNS_NOTE[$name]:-}
  log "== $name on 127.0.0.1:$port (udp+tcp)"
  DNS_PID=""
  if ! "dns_start_$name"; then
    log "$name: ${DNS_NOTE[$name]:-did not start}"
    return 1
  fi
  if ! dns_wait "$port" "$DNS_PID"; then
    DNS_NOTE[$name]="did not start or answer"
    log "$name did not answer; its output:"
    tail -n 20 "$BENCH_TMP/$name.out" "$BENCH_TMP/nsd/nsd.log" >&2 2>/dev/null
    bench_stop "$DNS_PID"
    return 1
  fi
  dns_check "$name" "$port" || { bench_stop "$DNS_PID"; return 1; }

  ((BENCH_WARMUP > 0)) && dns_perf "$BENCH_TMP/perf-$name-warmup.out" "$port" "$BENCH_WARMUP" -Q "$BENCH_DNS_RATE"

  out=$BENCH_TMP/perf-$name-fixed.out
  local s0 s1 c0 c1
  s0=$(bench_sys_busy_ticks) c0=$(bench_reaped_ticks) t0=$(bench_cpu_ticks "$DNS_PID")
  dns_perf "$out" "$port" "$BENCH_DURATION" -Q "$BENCH_DNS_RATE"
  t1=$(bench_cpu_ticks "$DNS_PID") s1=$(bench_sys_busy_ticks) c1=$(bench_reaped_ticks)
  # CPU used by anything but the server and dnsperf meanwhile (other tenants of a shared machine).
  DNS_OTHER[$name]=$(awk -v t=$(( (s1 - s0) - (t1 - t0) - (c1 - c0) )) -v hz="$CLK_TCK" -v d="$BENCH_DURATION" \
    'BEGIN {v = 100 * t / hz / d; if (v < 0) v = 0; printf "%.0f%%", v}')
  if (( ${DNS_OTHER[$name]%\%} > 15 )); then
    log "warning: other processes used ${DNS_OTHER[$name]} of a CPU during the $name run: its numbers are noisy"
  fi
  sed 's/^/    /' "$out" | grep -E 'Queries|Response codes|latency' >&2
  if ! bench_alive "$DNS_PID"; then DNS_NOTE[$name]="died under load"; return 1; fi
  if ! dns_parse "$out" || ((PERF_COMPLETED == 0)); then
    DNS_NOTE[$name]="dnsperf produced no result"; bench_stop "$DNS_PID"; return 1
  fi
  DNS_FIX_QPS[$name]=$(awk -v q="$PERF_QPS" 'BEGIN {printf "%.0f", q}')
  DNS_LAT[$name]=${PERF_LAT_MS:--}
  DNS_LOST[$name]=$PERF_LOST
  DNS_CPU[$name]=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v d="$BENCH_DURATION" 'BEGIN {printf "%.0f%%", 100 * t / hz / d}')
  if ((PERF_LOST * 100 > PERF_COMPLETED)); then
    DNS_NOTE[$name]+="fixed rate: $PERF_LOST of $((PERF_COMPLETED + PERF_LOST)) queries lost (>1%); "
  fi
  DNS_US[$name]=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$PERF_COMPLETED" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  log "$name: ${DNS_US[$name]} µs CPU/query at ${DNS_FIX_QPS[$name]} queries/s (CPU ${DNS_CPU[$name]})"

  out=$BENCH_TMP/perf-$name-flat.out
  t0=$(bench_cpu_ticks "$DNS_PID")
  dns_perf "$out" "$port" "$BENCH_DURATION" -c "$BENCH_DNS_CLIENTS" -q "$BENCH_DNS_OUTSTANDING"
  t1=$(bench_cpu_ticks "$DNS_PID")
  # Below ~95 % the server was not the bottleneck (dnsperf or a noisy neighbour was).
  DNS_FLAT_CPU[$name]=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v d="$BENCH_DURATION" 'BEGIN {printf "%.0f%%", 100 * t / hz / d}')
  sed 's/^/    /' "$out" | grep -E 'Queries|Response codes' >&2
  if ! bench_alive "$DNS_PID"; then DNS_NOTE[$name]+="died under flat-out load"; return 1; fi
  dns_profile "$name" "$port"
  bench_stop "$DNS_PID"
  if dns_parse "$out"; then
    DNS_QPS[$name]=$(awk -v q="$PERF_QPS" 'BEGIN {printf "%.0f", q}')
    log "$name: ${DNS_QPS[$name]} queries/s flat out (server CPU ${DNS_FLAT_CPU[$name]})"
  else
    DNS_NOTE[$name]+="flat-out dnsperf produced no result"
    return 1
  fi
  [[ -z ${DNS_NOTE[$name]} ]]
}

# dns_median FORMAT VALUE...: the median (the mean of the middle two for an even count) printed with the
# printf FORMAT, or nan for no values.
dns_median() {
  local fmt=$1
  shift
  (($#)) || { echo nan; return; }
  printf '%s\n' "$@" | sort -g | awk -v fmt="$fmt" '{v[NR] = $1} END {
    printf fmt, (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

mode_dns() {
  local servers name failed=0
  read -r -a servers <<<"${BENCH_DNS_SERVERS:-bulwark nsd knot}"
  BENCH_DNS_RATE=${BENCH_DNS_RATE:-50000}
  BENCH_DNS_CLIENTS=${BENCH_DNS_CLIENTS:-8}
  BENCH_DNS_OUTSTANDING=${BENCH_DNS_OUTSTANDING:-500}
  bench_need_pkgs nsd knot knot-dnsutils dnsperf python3 procps util-linux iproute2
  bench_need_bulwark
  bench_init
  dns_ports || die "no free set of ports found (set BENCH_DNS_PORT_BASE)"
  dns_write_configs || die "could not write the zone and configs"
  for name in "${servers[@]}"; do
    [[ -n ${DNS_PORT[$name]:-} ]] || die "unknown server '$name' (bulwark, nsd, knot)"
  done
  # Rounds alternate the servers, so a noisy neighbour's burst spreads over all of them; each figure is the
  # median over the rounds that succeeded.
  local rounds=${BENCH_DNS_ROUNDS:-1} r
  declare -A ALL_US ALL_QPS
  for ((r = 1; r <= rounds; r++)); do
    ((rounds > 1)) && log "round $r of $rounds"
    for name in "${servers[@]}"; do
      if dns_measure "$name"; then
        ALL_US[$name]+=" ${DNS_US[$name]}" ALL_QPS[$name]+=" ${DNS_QPS[$name]}"
      else
        failed=1
      fi
    done
  done
  for name in bulwark nsd knot; do
    # shellcheck disable=SC2086  # the lists are split into values on purpose
    DNS_US[$name]=$(dns_median %.2f ${ALL_US[$name]:-}) DNS_QPS[$name]=$(dns_median %.0f ${ALL_QPS[$name]:-})
  done

  echo
  printf 'dns benchmark: %s queries (bench/dns/gen_zone.py), one worker each on CPU %s, dnsperf on CPU %s\n' \
    "$(wc -l <"$BENCH_TMP/queries.txt")" "${BENCH_PROXY_CPU:-any}" "${BENCH_LOAD_CPU:-any}"
  printf 'fixed rate %s/s for %ss; flat out: -c %s -q %s for %ss; %s round(s), medians (other columns: last round)\n' \
    "$BENCH_DNS_RATE" "$BENCH_DURATION" "$BENCH_DNS_CLIENTS" "$BENCH_DNS_OUTSTANDING" "$BENCH_DURATION" "$rounds"
  printf '%-8s %9s %10s %7s %5s %6s %7s %10s %8s  %s\n' server us/query fixed_qps lost cpu other lat_ms \
    flat_qps flat_cpu note
  for name in "${servers[@]}"; do
    printf '%-8s %9s %10s %7s %5s %6s %7s %10s %8s  %s\n' "$name" "${DNS_US[$name]}" "${DNS_FIX_QPS[$name]:--}" \
      "${DNS_LOST[$name]:--}" "${DNS_CPU[$name]:--}" "${DNS_OTHER[$name]:--}" "${DNS_LAT[$name]:--}" \
      "${DNS_QPS[$name]}" "${DNS_FLAT_CPU[$name]:--}" "${DNS_NOTE[$name]%; }"
  done
  local ratio
  ratio=$(awk -v b="${DNS_US[bulwark]}" -v n="${DNS_US[nsd]}" -v k="${DNS_US[knot]}" 'BEGIN {
    if (b == "nan" || n == "nan" || k == "nan") { print "nan"; exit }
    m = n < k ? n : k; printf "%.2f", b / m }')
  echo "bulwark / min(nsd, knot) CPU per query: $ratio (target <= 0.80)"
  echo
  echo "bench dns: bulwark_us_per_query=${DNS_US[bulwark]} nsd_us_per_query=${DNS_US[nsd]} knot_us_per_query=${DNS_US[knot]} bulwark_qps=${DNS_QPS[bulwark]} nsd_qps=${DNS_QPS[nsd]} knot_qps=${DNS_QPS[knot]}"
  return "$failed"
}
