#!/bin/bash
# Proves: sox alone can synthesise in-band DTMF (ITU-T Q.23 dual tones) as 8 kHz/16-bit/mono WAV,
# multimon-ng (independent decoder) recognises the digits, and mkrtp.py turns the WAV into a
# PCMU (PT 0) RTP pcap for SIPp's play_pcap_audio (in-band DTMF test, no telephone-event).
# Usage: ./make_inband.sh '*365#' [outprefix]   -> <prefix>.wav, <prefix>_pcmu.pcap, <prefix>_pcma.pcap
# A ',' in the digits is a pause of PAUSE seconds (default 1.0).
# Copied from ../shared/peers/dtmf/make_inband.sh for tests/ivr_e2e.rs; added: ',' pauses.
set -euo pipefail
DIGITS=${1:-'*365'}; OUT=${2:-$(dirname "$0")/inband}
TONE=${TONE:-0.12}; GAP=${GAP:-0.10}; LEAD=${LEAD:-0.3}; PAUSE=${PAUSE:-1.0}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
row() { case $1 in 1|2|3|A) echo 697;; 4|5|6|B) echo 770;; 7|8|9|C) echo 852;; '*'|0|'#'|D) echo 941;; esac; }
col() { case $1 in 1|4|7|'*') echo 1209;; 2|5|8|0) echo 1336;; 3|6|9|'#') echo 1477;; A|B|C|D) echo 1633;; esac; }
S="-r 8000 -b 16 -c 1 -e signed-integer"
parts=("$tmp/lead.wav"); sox -n $S "$tmp/lead.wav" trim 0 $LEAD
i=0
for ((k=0; k<${#DIGITS}; k++)); do
  d=${DIGITS:$k:1}; i=$((i+1))
  if [ "$d" = "," ]; then
    sox -n $S "$tmp/p$i.wav" trim 0 $PAUSE; parts+=("$tmp/p$i.wav"); continue
  fi
  # two sines into two channels, summed to mono (remix 1,2), each tone ~ -9 dBFS
  sox -n -r 8000 -b 16 -c 2 "$tmp/t2_$i.wav" synth $TONE sine $(row "$d") sine $(col "$d") vol 0.35
  sox "$tmp/t2_$i.wav" $S "$tmp/t$i.wav" remix 1,2
  sox -n $S "$tmp/g$i.wav" trim 0 $GAP
  parts+=("$tmp/t$i.wav" "$tmp/g$i.wav")
done
sox "${parts[@]}" $S "$OUT.wav"
echo "wrote $OUT.wav ($(soxi -D "$OUT.wav") s) for digits '$DIGITS'"
python3 "$(dirname "$0")/mkrtp.py" wav "$OUT.wav" "${OUT}_pcmu.pcap" --pt 0
python3 "$(dirname "$0")/mkrtp.py" wav "$OUT.wav" "${OUT}_pcma.pcap" --pt 8
if command -v multimon-ng >/dev/null; then
  echo -n "multimon-ng decode of WAV: "
  sox "$OUT.wav" -t raw -r 22050 -e signed-integer -b 16 -c 1 - | multimon-ng -q -c -a DTMF -t raw - 2>/dev/null | awk '{printf "%s", $2} END{print ""}'
fi
