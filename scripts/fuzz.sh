#!/usr/bin/env bash
# Coverage-guided fuzzing of kenkocall's parsers with AFL++ through the `afl` crate
# (stable Rust; see fuzz/README.md for why this and not cargo-fuzz).
#
#   scripts/fuzz.sh [SECONDS] [TARGET ...]     default: 3600 s each, every target, in parallel
#
# Each target starts from fuzz/corpus/<target>; findings go to target/fuzz-out/<target>.
# At the end it prints executions, paths (corpus entries found) and crashes per target, and
# copies new minimised corpus entries back into fuzz/corpus/<target> when --keep is given
# (review them before committing). Exits non-zero if any target found a crash or hang.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=3600
keep=0
targets=()
for a in "$@"; do
  case "$a" in
    --keep) keep=1 ;;
    ''|*[!0-9]*) targets+=("$a") ;;
    *) secs=$a ;;
  esac
done
[ "${#targets[@]}" -gt 0 ] || targets=(sip_datagram sip_stream sdp rtp inband csv_import)

command -v cargo-afl >/dev/null || cargo install --locked cargo-afl
(cd fuzz && cargo afl build --release)

# A core_pattern that pipes to a crash handler makes afl-fuzz refuse to start; we only need
# its own crash records, and the CPU governor is not ours to change.
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1
out=target/fuzz-out
mkdir -p "$out"
pids=()
for t in "${targets[@]}"; do
  rm -rf "${out:?}/$t"
  cargo afl fuzz -V "$secs" -i "fuzz/corpus/$t" -o "$out/$t" "fuzz/target/release/$t" \
    >"$out/$t.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done

status=0
printf '%-14s %12s %8s %8s %6s\n' target execs paths crashes hangs
for t in "${targets[@]}"; do
  stats="$out/$t/default/fuzzer_stats"
  if [ ! -f "$stats" ]; then echo "$t: no fuzzer_stats (see $out/$t.log)"; status=1; continue; fi
  get() { awk -F' *: *' -v k="$1" '$1==k {print $2}' "$stats"; }
  printf '%-14s %12s %8s %8s %6s\n' "$t" "$(get execs_done)" "$(get corpus_count)" \
    "$(get saved_crashes)" "$(get saved_hangs)"
  [ "$(get saved_crashes)" = 0 ] && [ "$(get saved_hangs)" = 0 ] || status=1
  if [ "$keep" = 1 ]; then
    # Keep only the entries this run found, minimised by afl-cmin, not the whole queue.
    cargo afl cmin -i "$out/$t/default/queue" -o "$out/$t/cmin" -- "fuzz/target/release/$t" >/dev/null 2>&1 || true
    cp -n "$out/$t/cmin/"* "fuzz/corpus/$t/" 2>/dev/null || true
  fi
done
exit $status
