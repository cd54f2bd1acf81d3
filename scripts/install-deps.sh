#!/usr/bin/env bash
# Installs the Debian 12 packages Bulwark needs to build, test and benchmark.
# Idempotent: only calls apt-get when something is missing.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config clang-14 libclang-rt-14-dev clang-format
  libssl-dev libyaml-cpp-dev libnghttp2-dev libhyperscan-dev libpcre2-dev libsimdjson-dev libxml2-dev
  libhiredis-dev libmaxminddb-dev redis-server libmaxmind-db-writer-perl
  modsecurity-crs
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-pytest python3-yaml openssl curl procps
  nginx libnginx-mod-http-modsecurity
  libknot-dev nsd knot knot-dnsutils python3-dnspython
)
if [[ "${1:-}" == "--bench" ]]; then
  PKGS+=(haproxy wrk dnsperf)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
