#!/bin/bash
# Synthesises every prompt of prompts/<lang>/prompts.toml into prompts/<lang>/<id>.wav:
# espeak-ng, then sox to 8 kHz / 16-bit / mono PCM (what the media side plays as G.711),
# normalised and with leading/trailing silence trimmed to keep calls and files short;
# no dither (-D), so running it again gives the same bytes and no spurious diffs.
# Real deployments replace these with studio recordings of the same texts.
#
# Needs: espeak-ng, sox (Debian: apt-get install -y espeak-ng sox libsox-fmt-all), python3 >= 3.11.
# Usage: scripts/make_prompts.sh [lang...]     (default: all eight)
set -euo pipefail
cd "$(dirname "$0")/.."

LANGS=("$@")
[ ${#LANGS[@]} -eq 0 ] && LANGS=(ja en zh ko vi pt es ne)

voice_for() {
  case "$1" in
    zh) echo cmn-latn-pinyin ;;  # the cmn dictionary here lacks hanzi; prompts give pinyin
    pt) echo pt-br ;;
    *) echo "$1" ;;
  esac
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for lang in "${LANGS[@]}"; do
  dir="prompts/$lang"
  voice=$(voice_for "$lang")
  [ -f "$dir/prompts.toml" ] || { echo "missing $dir/prompts.toml" >&2; exit 1; }
  # One line per prompt: id<TAB>text to speak (the `say` reading when given).
  python3 - "$dir/prompts.toml" >"$tmp/list" <<'PY'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    prompts = tomllib.load(f)
for pid, v in prompts.items():
    text = v["say"] if isinstance(v, dict) else v
    print(f"{pid}\t{text}")
PY
  n=0
  while IFS=$'\t' read -r id text; do
    out="$dir/$id.wav"
    # A prompt that is only punctuation is a short pause (e.g. zh unit after 百分之...).
    if [ -z "$(printf '%s' "$text" | tr -d '[:punct:][:space:]。、，？！')" ]; then
      sox -D -n -r 8000 -b 16 -c 1 -e signed-integer "$out" trim 0 0.2
    else
      espeak-ng -v "$voice" -s 150 -w "$tmp/raw.wav" "$text"
      sox -D "$tmp/raw.wav" -r 8000 -b 16 -c 1 -e signed-integer "$out" \
        silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse pad 0.05 0.1 norm -3
    fi
    n=$((n + 1))
  done <"$tmp/list"
  printf '%-3s %-6s %3d prompts  %s\n' "$lang" "$voice" "$n" "$(du -sh "$dir" | cut -f1)"
done
echo "total: $(du -ch prompts/*/*.wav | tail -1 | cut -f1)"
