#!/usr/bin/env bash
# Real-time soak of `kenkocall serve`, run as an operator runs it (issue 10 item 5).
#
#   scripts/soak.sh [SECONDS]        (default 600; CI runs 180)
#
# Builds the release binary (or uses $KENKOCALL_BIN), writes a config file in a temp dir
# (SQLite, SIP/HTTP on 127.0.0.1, ring_timeout_secs = 8, trunk = a sipp UAS), imports
# patients with `kenkocall patients import`, starts `kenkocall serve --config FILE` on the
# real clock and drives a mixed load for SECONDS (after a warm-up round of the same load):
#   inbound (sipp UACs, RFC 4733 keys from pcaps): callers completing the health-call IVR,
#     callers hanging up mid-IVR, callers keying garbage;
#   outbound: `kenkocall call-now` beside serve, with the same config file, in a loop by a
#     few workers in parallel, to a sipp UAS trunk (tests/sip/uas_soak_trunk.xml) whose
#     phones answer and key, are busy, ring forever, answer and hang up at once, never respond;
#   an OPTIONS probe every second, which must get 200 within 50 ms.
# Then checks: every call-now attempt has a final outcome (`kenkocall calls --json`), the
# ring-outs are no_answer, every completed caller has a complete report, RSS after the load
# is within 10 % of RSS after the warm-up, no RTP socket is left open, SIGTERM exits 0.
# Prints a summary block; exits 1 if any check fails. Needs sipp and root (pcap replay).
#
# Environment: KENKOCALL_BIN (binary to run), SOAK_PORT_BASE (default 52000; uses
# BASE..BASE+99), SOAK_RTP_PORTS (engine RTP range, default 53000-53999),
# SOAK_CALL_WORKERS (parallel call-now loops, 1-9, default 4), SOAK_PHONES (the trunk
# phones they dial in turn, default "1 2 3 4 5": answer, busy, ringout, hangup, silent),
# SOAK_WARMUP (seconds,
# default 60, 30 when SECONDS < 600), SOAK_KEEP=1 keeps the temp dir.
set -euo pipefail

SECS=${1:-600}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=${SOAK_PORT_BASE:-52000}
RTP_PORTS=${SOAK_RTP_PORTS:-53000-53999}
WORKERS=${SOAK_CALL_WORKERS:-4}
PHONES=${SOAK_PHONES:-1 2 3 4 5}
if [ "$SECS" -lt 600 ]; then WARMUP=${SOAK_WARMUP:-30}; else WARMUP=${SOAK_WARMUP:-60}; fi
TOOLS="$ROOT/scripts/soak_tools.py"

SIP_PORT=$BASE
HTTP_PORT=$((BASE + 1))
TRUNK_PORT=$((BASE + 10)) # sipp UAS "trunk": SIP, control +1, media +2 (and +4)
PROBE_PORT=$((BASE + 50))
INBOUND_NUMBER=05031980214
INBOUND_OK_ID=1000001   # completes the IVR
INBOUND_HANGUP_ID=1000002
INBOUND_GARBAGE_ID=1000003
MMDD=0407               # every patient is born 1952-04-07
KINDS=(_ answer busy ringout hangup silent) # the trunk's phone by the dialled number's last digit

if [ -z "${KENKOCALL_BIN:-}" ]; then
  echo "== building the release binary"
  cargo build --release --quiet --bin kenkocall --manifest-path "$ROOT/Cargo.toml"
  KENKOCALL_BIN="$ROOT/target/release/kenkocall"
fi
BIN=$(realpath "$KENKOCALL_BIN")
command -v sipp >/dev/null || { echo "soak: sipp is not installed (apt-get install sip-tester)"; exit 2; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/kenkocall-soak.XXXXXX")
CFG="$DIR/kenkocall.toml"
STARTED=()   # every background process this script started, ended by id at exit
SERVE_PID=
cleanup() {
  local p
  for p in "${STARTED[@]}" "${LOAD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "$SERVE_PID" ] && kill -KILL "$SERVE_PID" 2>/dev/null || true
  if [ "${SOAK_KEEP:-0}" = 1 ] || [ "${FAILED:-1}" != 0 ]; then
    echo "soak: files kept in $DIR"
  else
    rm -rf "$DIR"
  fi
}
trap cleanup EXIT

# --- configuration and patients ------------------------------------------------------------
cat >"$CFG" <<EOF
# Written by scripts/soak.sh
[database]
url = "sqlite://$DIR/soak.db"
[sip]
listen = "127.0.0.1:$SIP_PORT"
inbound_numbers = ["$INBOUND_NUMBER"]
rtp_ports = "$RTP_PORTS"
ring_timeout_secs = 8
[trunk]
uri = "sip:127.0.0.1:$TRUNK_PORT"
[http]
listen = "127.0.0.1:$HTTP_PORT"
[ivr]
prompts_dir = "$ROOT/prompts"
dialplans_dir = "$ROOT/dialplans"
[node]
shutdown_grace_secs = 10
[dialer]
poll_ms = 200
EOF

# The one call slot of every patient is hours away in the centre's zone (Asia/Tokyo), so
# the planner calls nobody during the soak: every outbound call is a call-now. It must lie
# within the centre's calling hours (08:00-20:00 by default; import refuses others): 19:00
# until 14:00 (at least 5 hours ahead), then 08:00 (already past today).
read -r SLOT TODAY START END < <(python3 - <<'EOF'
import datetime, zoneinfo
now = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo"))
d = datetime.timedelta
print(8 if now.hour >= 14 else 19, now.date(), now.date() - d(days=1), now.date() + d(days=7))
EOF
)
{
  echo "hersys_id,name,birth_date,phone,language,health_centre,slots,observation_start,observation_end"
  for id in $INBOUND_OK_ID $INBOUND_HANGUP_ID $INBOUND_GARBAGE_ID; do
    echo "$id,Soak Caller,1952-04-07,09011112222,ja,Minato,$SLOT,$START,$END"
  done
  for w in $(seq 1 "$WORKERS"); do
    for k in 1 2 3 4 5; do
      echo "3${w}0000${k},Soak Phone,1952-04-07,09022220${w}0${k},ja,Minato,$SLOT,$START,$END"
    done
  done
} >"$DIR/patients.csv"
(cd "$DIR" && "$BIN" --config "$CFG" patients import patients.csv) >"$DIR/import.log"

# Keys as RFC 4733 pcaps, with the timing of tests/ivr_e2e.rs.
mkpcap() {
  python3 "$ROOT/tests/tools/mkrtp.py" rfc4733 "$1" "$2" --pt 101 --audio \
    --lead-ms 1000 --tone-ms 100 --gap-ms 300 --pause-ms 1500 >/dev/null
}
mkpcap "1,$INBOUND_OK_ID#$MMDD,,*365,1,97#,1,222222222,2" "$DIR/complete.pcap"
mkpcap "1,$INBOUND_HANGUP_ID#$MMDD,,*365,1,97#,1,22" "$DIR/hangup.pcap"
mkpcap "7#*#0,,99#,,,**,,,1,0000000#9999,,,$INBOUND_GARBAGE_ID#0101,,,$INBOUND_GARBAGE_ID#1301" \
  "$DIR/garbage.pcap"

# --- the trunk, serve, the probe ----------------------------------------------------------
(cd "$DIR" && exec sipp -sf "$ROOT/tests/sip/uas_soak_trunk.xml" -i 127.0.0.1 -mi 127.0.0.1 \
  -p "$TRUNK_PORT" -mp $((TRUNK_PORT + 2)) -cp $((TRUNK_PORT + 1)) -nostdin -trace_err \
  -key pcap "$ROOT/tests/data/dtmf4733_outbound_answers.pcap" \
  >"$DIR/trunk.out" 2>&1) &
TRUNK_PID=$!
STARTED+=("$TRUNK_PID")

(cd "$DIR" && exec "$BIN" --config "$CFG" serve) >"$DIR/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 150); do
  ss -uanlp 2>/dev/null | grep -q "127.0.0.1:$SIP_PORT .*pid=$SERVE_PID," && break
  kill -0 "$SERVE_PID" 2>/dev/null || { echo "soak: serve exited at start"; tail -20 "$DIR/serve.log"; exit 1; }
  sleep 0.2
done
sleep 2 # the node's first heartbeat, so that call-now finds it

python3 "$TOOLS" probe "127.0.0.1:$SIP_PORT" "$PROBE_PORT" "$DIR/probe.json" "$DIR/probe.stop" \
  2>"$DIR/probe.log" &
PROBE_PID=$!
STARTED+=("$PROBE_PID")

# --- load -----------------------------------------------------------------------------------
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVE_PID/status"; }
rtp_sockets() {
  local lo=${RTP_PORTS%-*} hi=${RTP_PORTS#*-}
  ss -uanp 2>/dev/null | awk -v pid="pid=$SERVE_PID," -v lo="$lo" -v hi="$hi" \
    'index($0, pid) { n = split($4, a, ":"); p = a[n] + 0; if (p >= lo && p <= hi) c++ } END { print c + 0 }'
}

# One sipp UAC: $1 name, $2 pcap, $3 scenario, $4 ms between calls, $5 seconds, $6 port offset, rest extra.
inbound_callers() {
  local name=$1 pcap=$2 scenario=$3 every=$4 secs=$5 off=$6
  shift 6
  local n=$(((secs * 1000 + every - 1) / every))
  local port=$((BASE + off))
  cd "$DIR"
  exec sipp "127.0.0.1:$SIP_PORT" -sf "$ROOT/tests/ivr/$scenario" -s "$INBOUND_NUMBER" \
    -i 127.0.0.1 -mi 127.0.0.1 -p "$port" -mp $((port + 2)) -cp $((port + 1)) \
    -r 1 -rp "$every" -m "$n" -l 50 -nostdin -trace_err -error_file "$DIR/${name}_errors.log" \
    -key pcap "$DIR/$pcap" "$@" \
    >"$DIR/$name.out" 2>&1
}

call_now_worker() {
  local w=$1 until=$2 i=$1 k id rc phones
  read -r -a phones <<<"$PHONES"
  while [ "$(date +%s)" -lt "$until" ]; do
    k=${phones[$((i % ${#phones[@]}))]}
    i=$((i + 1))
    id="3${w}0000${k}"
    rc=0
    "$BIN" --config "$CFG" call-now "$id" >>"$DIR/call_now.out" 2>&1 || rc=$?
    echo "${KINDS[$k]} $id $rc" >>"$DIR/call_now.log"
  done
}

# $1 seconds, $2 phase name. Returns when every call it started has ended.
LOAD_PIDS=()
run_load() {
  local secs=$1 phase=$2 w p
  local until=$(($(date +%s) + secs))
  # The sipp callers run in place of these subshells (exec): their ids are sipp's.
  inbound_callers "${phase}_complete" complete.pcap uac_keys_wait_bye.xml 6000 "$secs" 20 &
  LOAD_PIDS+=($!)
  # Hang up while the SpO2 / symptom questions play.
  inbound_callers "${phase}_hangup" hangup.pcap uac_keys_then_bye.xml 20000 "$secs" 30 -d 14000 &
  LOAD_PIDS+=($!)
  inbound_callers "${phase}_garbage" garbage.pcap uac_keys_wait_bye.xml 20000 "$secs" 40 &
  LOAD_PIDS+=($!)
  for w in $(seq 1 "$WORKERS"); do
    call_now_worker "$w" "$until" &
    LOAD_PIDS+=($!)
  done
  for p in "${LOAD_PIDS[@]}"; do wait "$p" || true; done
  LOAD_PIDS=()
}

# After the load: wait until the engine holds no RTP socket (calls wound down), up to 60 s.
settle() {
  for _ in $(seq 1 120); do
    [ "$(rtp_sockets)" = 0 ] && break
    sleep 0.5
  done
  sleep 5
}

T0=$(date +%s)
echo "== soak: warm-up ${WARMUP}s, then ${SECS}s of mixed load; files in $DIR"
run_load "$WARMUP" warmup
settle
RSS_BEFORE=$(rss_kb)
echo "== warm-up done: RSS $RSS_BEFORE kB; load for ${SECS}s"
T_LOAD=$(date +%s)
run_load "$SECS" load
LOAD_WALL=$(($(date +%s) - T_LOAD))
settle
RSS_AFTER=$(rss_kb)
RTP_LEFT=$(rtp_sockets)

touch "$DIR/probe.stop"
wait "$PROBE_PID" || true
STARTED=("$TRUNK_PID")

# --- checks ---------------------------------------------------------------------------------
"$BIN" --config "$CFG" calls --json >"$DIR/calls.jsonl"
"$BIN" --config "$CFG" reports --json >"$DIR/reports.jsonl"
FAILS=()
declare -A OK FAILED_CALLS
for kind in complete hangup garbage; do
  OK[$kind]=0
  FAILED_CALLS[$kind]=0
  for phase in warmup load; do
    if stats=$(python3 "$TOOLS" sipp-stats "$DIR/${phase}_${kind}.out"); then
      read -r ok failed <<<"$stats"
    else
      ok=0 failed=0
      FAILS+=("no sipp statistics for the $phase $kind callers")
    fi
    OK[$kind]=$((OK[$kind] + ok))
    FAILED_CALLS[$kind]=$((FAILED_CALLS[$kind] + failed))
  done
  [ "${FAILED_CALLS[$kind]}" = 0 ] || FAILS+=("${FAILED_CALLS[$kind]} inbound $kind caller(s) failed in sipp (see *_errors.log)")
done

ACCOUNTING_RC=0
python3 "$TOOLS" accounting "$DIR/calls.jsonl" "$DIR/reports.jsonl" "$DIR/call_now.log" \
  "${OK[complete]}" "$INBOUND_OK_ID" "$DIR/accounting.json" >"$DIR/accounting.out" || ACCOUNTING_RC=$?
[ "$ACCOUNTING_RC" = 0 ] || FAILS+=("call accounting: $(tr '\n' ';' <"$DIR/accounting.out")")

read -r PROBE_N PROBE_P50 PROBE_P99 PROBE_MAX PROBE_FAIL < <(python3 -c '
import json, sys; s = json.load(open(sys.argv[1]))
f = lambda v: "-" if v is None else "%.1f" % v
print(s["count"], f(s["p50_ms"]), f(s["p99_ms"]), f(s["max_ms"]), s["failures"])' "$DIR/probe.json")
[ "$PROBE_FAIL" = 0 ] || FAILS+=("$PROBE_FAIL OPTIONS probe(s) without 200 within ${SOAK_OPTIONS_LIMIT_MS:-50} ms (probe.log)")

RSS_PCT=$(python3 -c "print('%+.1f' % (($RSS_AFTER - $RSS_BEFORE) * 100 / $RSS_BEFORE))")
python3 -c "import sys; sys.exit(0 if $RSS_AFTER <= $RSS_BEFORE * 1.10 else 1)" ||
  FAILS+=("RSS after the load $RSS_AFTER kB is more than 10 % above $RSS_BEFORE kB")
[ "$RTP_LEFT" = 0 ] || FAILS+=("$RTP_LEFT RTP socket(s) still open after the load")

# SIGTERM: the node drains (nothing is in progress now) and exits 0.
T_TERM=$(date +%s.%N)
kill -TERM "$SERVE_PID"
SERVE_RC=0
wait "$SERVE_PID" || SERVE_RC=$?
TERM_SECS=$(python3 -c "import time; print('%.1f' % (time.time() - $T_TERM))")
SERVE_PID=
[ "$SERVE_RC" = 0 ] || FAILS+=("serve exited $SERVE_RC on SIGTERM")
kill "$TRUNK_PID" 2>/dev/null || true
wait "$TRUNK_PID" 2>/dev/null || true
STARTED=()
grep -Ec 'WARN|ERROR' "$DIR/serve.log" >"$DIR/serve_log_counts" || true

# --- summary --------------------------------------------------------------------------------
FAILED=${#FAILS[@]}
python3 - "$DIR/accounting.json" <<EOF
import json, sys
a = json.load(open(sys.argv[1]))
print("================ kenkocall soak summary ================")
print("binary              $BIN")
print("load                ${SECS} s (+ ${WARMUP} s warm-up), wall ${LOAD_WALL} s, total $(( $(date +%s) - T0 )) s; $WORKERS call-now loops")
print("inbound callers     complete ${OK[complete]} ok / ${FAILED_CALLS[complete]} failed; "
      "hang up mid-IVR ${OK[hangup]} / ${FAILED_CALLS[hangup]}; garbage keys ${OK[garbage]} / ${FAILED_CALLS[garbage]}")
print("call-now            %d run (%d non-zero exit), %d call requests recorded" %
      (a["call_now_runs"], a["call_now_nonzero_exit"], a["call_requests"]))
for phone, o in sorted(a["outcomes_by_phone"].items()):
    print("  phone %-12s %s" % (phone, ", ".join("%s %d" % kv for kv in sorted(o.items()))))
print("reports             %d complete health-call (sipp: ${OK[complete]} completed), %d complete auto-call, %d in all" %
      (a["inbound_complete_reports"], a["outbound_complete_reports"], a["reports_total"]))
print("OPTIONS probe       $PROBE_N sent; p50 $PROBE_P50 ms, p99 $PROBE_P99 ms, max $PROBE_MAX ms; $PROBE_FAIL failures (>${SOAK_OPTIONS_LIMIT_MS:-50} ms or not 200)")
print("RSS                 after warm-up $RSS_BEFORE kB, after load $RSS_AFTER kB ($RSS_PCT %)")
print("RTP sockets left    $RTP_LEFT")
print("SIGTERM             exit $SERVE_RC after $TERM_SECS s")
print("serve log           $(cat "$DIR/serve_log_counts") WARN/ERROR lines")
EOF
if [ "$FAILED" != 0 ]; then
  for f in "${FAILS[@]}"; do echo "FAIL: $f"; done
  echo "soak: FAILED ($FAILED check(s))"
  exit 1
fi
echo "soak: all checks passed"
