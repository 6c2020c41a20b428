#!/usr/bin/env bash
# 20,000 TCP connections against a SIP endpoint with the default caps (issue 11):
# prints RSS before / with the connections open / after they closed, and OPTIONS
# latency over UDP and TCP meanwhile. Figures go to BENCHMARKS.md.
# Usage: scripts/sip-connections-bench.sh [N]   (default 20000)
# PROFILE=release for a release build (the figures in BENCHMARKS.md say which was used).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20000}"
ulimit -n "$(( n + 4096 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "ulimit -n: $(ulimit -n)"
profile=()
[ "${PROFILE:-debug}" = release ] && profile=(--release)
KENKOCALL_CONN_BENCH="$n" cargo test "${profile[@]}" --test sip_torture -- \
  --ignored --exact tcp_connection_flood_bench --nocapture 2>&1 | grep -E '^BENCH|test result'
