# shellcheck shell=bash disable=SC2034  # globals here are read by run.sh
# Shared helpers for bench/run.sh and its modes. Sourced, not executed.
#
# Everything a mode starts goes through bench_start, which records the PID; bench_cleanup (installed as an
# EXIT trap by bench_init) stops every recorded process and its descendants and removes the temp dir, on
# success, failure or Ctrl-C alike. Only loopback addresses are used.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)

BENCH_TMP=""
BENCH_PIDS=()       # every process we started, in start order
BENCH_LAST_PID=""   # set by bench_start
BENCH_APT_UPDATED=0
CLK_TCK=$(getconf CLK_TCK)

# CPU placement. The machine has 2 cores: the proxy under test gets one to itself, the load generator and the
# origin share the other, so the proxy never competes with its own load for a core.
BENCH_PROXY_CPU=${BENCH_PROXY_CPU:-0}
BENCH_LOAD_CPU=${BENCH_LOAD_CPU:-1}
# Everything the benchmark starts runs at this nice level, so that other work on a shared machine (a compiler)
# disturbs the measurement less. Empty or 0: unchanged.
# With the kernel's autogroup scheduling (on by default) nice only counts within a session, so the session's
# autogroup gets the same nice for the duration of the run (restored on exit).
BENCH_NICE=${BENCH_NICE:--10}
BENCH_AUTOGROUP_ORIG=""

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---- setup / teardown ------------------------------------------------------------------------------------

bench_init() {
  BENCH_TMP=$(mktemp -d -t bulwark-bench.XXXXXXXX) || die "mktemp failed"
  chmod 755 "$BENCH_TMP"  # nginx workers drop to 'nobody' when started as root
  trap bench_cleanup EXIT
  trap 'log "interrupted"; exit 130' INT TERM HUP
  # 10k idle connections plus the proxy's origin side: raise the fd limit for us and everything we start.
  local want=${BENCH_NOFILE:-65536}
  if (( $(ulimit -n) < want )); then
    ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
  fi
  if [[ $(nproc) -lt 2 ]]; then
    log "fewer than 2 CPUs: not pinning processes"
    BENCH_PROXY_CPU=""
    BENCH_LOAD_CPU=""
  fi
  if [[ -n $BENCH_NICE && $BENCH_NICE != 0 ]] && \
    [[ $(nice -n "$BENCH_NICE" nice 2>/dev/null) != $(($(nice) + BENCH_NICE)) ]]; then
    log "cannot run at nice $BENCH_NICE: using the default priority"
    BENCH_NICE=""
  fi
  if [[ -n $BENCH_NICE && $BENCH_NICE != 0 && -w /proc/self/autogroup ]]; then
    local orig
    orig=$(sed -n 's/.* nice \(-\{0,1\}[0-9]*\).*/\1/p' /proc/self/autogroup)
    if [[ -n $orig ]] && { echo "$BENCH_NICE" >/proc/self/autogroup; } 2>/dev/null; then
      BENCH_AUTOGROUP_ORIG=$orig
    fi
  fi
  log "temp dir $BENCH_TMP, fd limit $(ulimit -n), proxy on CPU ${BENCH_PROXY_CPU:-any}, load+origin on CPU ${BENCH_LOAD_CPU:-any}, nice ${BENCH_NICE:-0}${BENCH_AUTOGROUP_ORIG:+ (session autogroup too)}"
}

bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  local i
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
    bench_stop "${BENCH_PIDS[i]}"
  done
  BENCH_PIDS=()
  if [[ -n $BENCH_AUTOGROUP_ORIG ]]; then
    { echo "$BENCH_AUTOGROUP_ORIG" >/proc/self/autogroup; } 2>/dev/null
  fi
  if [[ -n $BENCH_TMP && -d $BENCH_TMP ]]; then
    if [[ ${BENCH_KEEP_TMP:-0} == 1 ]]; then
      log "keeping $BENCH_TMP (BENCH_KEEP_TMP=1)"
    else
      rm -rf -- "$BENCH_TMP"
    fi
  fi
  exit "$rc"
}

# bench_need_pkgs PKG...: install the Debian packages that are missing (dpkg-query first, apt-get only if needed).
bench_need_pkgs() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]}"
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo=sudo
  if ((!BENCH_APT_UPDATED)); then
    $sudo apt-get update -qq || die "apt-get update failed"
    BENCH_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || die "apt-get install ${missing[*]} failed"
}

# bench_need_bulwark: build build/bulwark in Release if it is missing. Never fatal: a failed build just means
# bulwark's numbers come out as nan. Sets BULWARK_BIN.
bench_need_bulwark() {
  BULWARK_BIN=${BULWARK_BIN:-$REPO_DIR/build/bulwark}
  if [[ ! -x $BULWARK_BIN ]]; then
    log "$BULWARK_BIN missing: building it (Release)"
    bench_need_pkgs build-essential cmake ninja-build
    (cd "$REPO_DIR" && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >&2 && ninja -C build bulwark >&2) \
      || log "warning: building bulwark failed"
  fi
  local cache=$REPO_DIR/build/CMakeCache.txt bt
  if [[ $BULWARK_BIN == "$REPO_DIR/build/bulwark" && -f $cache ]]; then
    bt=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache")
    [[ $bt == Release ]] || log "warning: build/ is configured with CMAKE_BUILD_TYPE='${bt}', not Release: bulwark's numbers may be pessimistic"
  fi
}

# ---- processes -------------------------------------------------------------------------------------------

# bench_start CPU LOGFILE CMD...: run CMD in the background (pinned to CPU if set), output to LOGFILE.
# The PID is recorded for cleanup and left in BENCH_LAST_PID (taskset execs, so it is CMD's own PID).
bench_start() {
  local cpu=$1 logf=$2
  shift 2
  if [[ -n $BENCH_NICE && $BENCH_NICE != 0 ]]; then
    set -- nice -n "$BENCH_NICE" "$@"
  fi
  if [[ -n $cpu ]]; then
    taskset -c "$cpu" "$@" >"$logf" 2>&1 </dev/null &
  else
    "$@" >"$logf" 2>&1 </dev/null &
  fi
  BENCH_LAST_PID=$!
  BENCH_PIDS+=("$BENCH_LAST_PID")
}

# bench_tree PID: PID and all its descendants, one per line.
bench_tree() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2; pids[NR] = $1 }
    END {
      keep[root] = 1; print root
      changed = 1
      while (changed) {
        changed = 0
        for (i in pids) { p = pids[i]; if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; print p; changed = 1 } }
      }
    }'
}

bench_alive() { kill -0 "$1" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

# bench_stop PID: TERM the process and its descendants, KILL whatever is left after 5 s, reap it.
bench_stop() {
  local pid=$1 pids i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  mapfile -t pids < <(bench_tree "$pid")
  kill -TERM "${pids[@]}" 2>/dev/null
  for ((i = 0; i < 50; i++)); do
    local any=0 p
    for p in "${pids[@]}"; do bench_alive "$p" && any=1; done
    ((any)) || break
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null
  wait "$pid" 2>/dev/null
  local kept=() p
  for p in "${BENCH_PIDS[@]}"; do [[ $p == "$pid" ]] || kept+=("$p"); done
  BENCH_PIDS=("${kept[@]}")
  return 0
}

# bench_cpu_ticks PID: utime+stime (clock ticks) summed over PID and its descendants (all threads included).
bench_cpu_ticks() {
  local p total=0 stat f
  for p in $(bench_tree "$1"); do
    stat=$(<"/proc/$p/stat") 2>/dev/null || continue
    # after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    read -r -a f <<<"${stat##*) }"
    total=$((total + ${f[11]:-0} + ${f[12]:-0}))
  done
  echo "$total"
}

# bench_user_ticks PID: utime only (clock ticks) summed over PID and its descendants: the CPU spent in the
# process's own code, without the kernel's work for its system calls and sockets.
bench_user_ticks() {
  local p total=0 stat f
  for p in $(bench_tree "$1"); do
    stat=$(<"/proc/$p/stat") 2>/dev/null || continue
    read -r -a f <<<"${stat##*) }"
    total=$((total + ${f[11]:-0}))
  done
  echo "$total"
}

# bench_sys_busy_ticks: busy clock ticks of all CPUs together (user+nice+system+irq+softirq; not steal).
bench_sys_busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }

# bench_reaped_ticks: utime+stime of this shell's reaped children (wrk, helpers) so far.
bench_reaped_ticks() {
  local stat f
  stat=$(<"/proc/$$/stat")
  read -r -a f <<<"${stat##*) }"
  echo $((f[13] + f[14]))
}

# bench_rss_kb PID: VmRSS (kB) summed over PID and its descendants.
bench_rss_kb() {
  local p total=0 v
  for p in $(bench_tree "$1"); do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# bench_port_free PORT: true when nothing listens on 127.0.0.1:PORT.
bench_port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# bench_wait_port PORT PID [SECONDS]: wait until 127.0.0.1:PORT accepts; fail early if PID exits.
bench_wait_port() {
  local port=$1 pid=$2 secs=${3:-10} i
  for ((i = 0; i < secs * 20; i++)); do
    bench_alive "$pid" || return 1
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# bench_http_check URL EXPECTED_BODY: one GET must give 200 and exactly EXPECTED_BODY. On failure the reason is
# logged and left in BENCH_CHECK_ERR.
bench_http_check() {
  local url=$1 want=$2 code
  BENCH_CHECK_ERR=""
  if ! code=$(curl -sS --max-time 5 -o "$BENCH_TMP/check.body" -w '%{http_code}' "$url" 2>"$BENCH_TMP/check.err"); then
    BENCH_CHECK_ERR="GET $url failed: $(head -c 200 "$BENCH_TMP/check.err")"
  elif [[ $code != 200 ]]; then
    BENCH_CHECK_ERR="GET $url: status $code"
  elif [[ $(<"$BENCH_TMP/check.body") != "$want" ]]; then
    BENCH_CHECK_ERR="GET $url: unexpected body '$(head -c 100 "$BENCH_TMP/check.body")'"
  fi
  [[ -z $BENCH_CHECK_ERR ]] && return 0
  log "$BENCH_CHECK_ERR"
  return 1
}

# ---- load ------------------------------------------------------------------------------------------------

# bench_wrk OUTFILE DURATION CONNS URL [SCRIPT [SCRIPT_ARG...]]: one wrk run on the load CPU (keep-alive, 1
# thread): GETs of URL, or whatever the Lua SCRIPT sends (wrk -s SCRIPT; its arguments follow the URL).
# Runs in the background and is waited for, so Ctrl-C reaches the trap at once.
bench_wrk() {
  local out=$1 dur=$2 conns=$3 url=$4 pid script=()
  shift 4
  if (($#)); then
    script=(-s "$1")
    shift
  fi
  bench_start "$BENCH_LOAD_CPU" "$out" wrk -t1 -c"$conns" -d"${dur}s" --timeout 5s --latency "${script[@]}" "$url" "$@"
  pid=$BENCH_LAST_PID
  wait "$pid"
  local rc=$?
  bench_stop "$pid"
  return "$rc"
}

# bench_parse_wrk FILE: sets WRK_REQS WRK_RPS WRK_ERRORS (socket errors + non-2xx/3xx) WRK_P50 WRK_P99, and the
# two parts of WRK_ERRORS: WRK_SOCK_ERRORS and WRK_NON2XX.
bench_parse_wrk() {
  local file=$1
  WRK_REQS=$(awk '/ requests in / {print $1; exit}' "$file")
  WRK_RPS=$(awk '/^Requests\/sec:/ {print $2; exit}' "$file")
  local sock non2xx
  sock=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$file" \
    | awk '{print $1 + $2 + $3 + $4}')
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF; exit}' "$file")
  WRK_SOCK_ERRORS=${sock:-0}
  WRK_NON2XX=${non2xx:-0}
  WRK_ERRORS=$(( ${sock:-0} + ${non2xx:-0} ))
  WRK_P50=$(awk '$1 == "50%" {print $2; exit}' "$file")
  WRK_P99=$(awk '$1 == "99%" {print $2; exit}' "$file")
  [[ -n $WRK_REQS && -n $WRK_RPS ]]
}

# bench_idle_conns PORT COUNT PID: open COUNT used-once keep-alive connections to PORT and measure the RSS
# growth of PID's process tree. Sets IDLE_PER_CONN (bytes per connection, or nan) and IDLE_NOTE.
bench_idle_conns() {
  local port=$1 count=$2 pid=$3 out=$BENCH_TMP/idle-$1.out helper line ok before after i
  IDLE_PER_CONN=nan
  IDLE_NOTE=""
  sleep 0.5
  before=$(bench_rss_kb "$pid")
  bench_start "$BENCH_LOAD_CPU" "$out" python3 "$BENCH_DIR/idle_conns.py" --port "$port" --count "$count" --max-hold 120
  helper=$BENCH_LAST_PID
  for ((i = 0; i < 1200; i++)); do  # up to 60 s
    line=$(grep -m1 '^ready ' "$out" 2>/dev/null) && break
    bench_alive "$helper" || break
    sleep 0.05
  done
  if [[ -z $line ]]; then
    IDLE_NOTE="idle helper failed: $(tail -n 3 "$out" | tr '\n' ' ')"
    bench_stop "$helper"
    return 1
  fi
  # Idle means idle: give every proxy the same settle time (its housekeeping timers, e.g. Bulwark's 5 s
  # heap trim, run in it) before reading the RSS. BENCH_IDLE_SETTLE overrides (seconds).
  sleep "${BENCH_IDLE_SETTLE:-6}"
  bench_alive "$pid" || { IDLE_NOTE="proxy died while holding idle connections"; bench_stop "$helper"; return 1; }
  after=$(bench_rss_kb "$pid")
  bench_stop "$helper"
  ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$line")
  IDLE_NOTE="${line#ready }, rss ${before}kB -> ${after}kB"
  log "idle: $IDLE_NOTE"
  if [[ $ok != "$count" ]] || ! grep -q 'status_non200=0 ' <<<"$line"; then
    IDLE_NOTE="idle connections failed ($IDLE_NOTE)"
    return 1
  fi
  IDLE_PER_CONN=$(( (after - before) * 1024 / count ))
  sleep 0.5  # let the proxy process the 10k closes before anything else is measured
}
