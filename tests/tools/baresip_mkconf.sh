#!/bin/bash
# Copied from ../shared/peers/baresip/mkconf.sh for tests/baresip_health_call.rs.
# Writes a headless baresip 1.0.0 config dir (no sound card needed):
#   audio_source aufile,<wav>  -> plays a WAV (8k or 16k mono s16) into the call
#   audio_player aubridge,nil  -> swallows far-end audio (no ALSA device needed)
#   sndfile module             -> records both directions of every call to <dir>/rec/dump-*-{enc,dec}.wav
#   ctrl_tcp                   -> JSON-over-netstring control + events on 127.0.0.1:<ctrlport>
# Usage: mkconf.sh <dir> <user> <sip_port> <ctrl_port> <rtp_lo-rtp_hi> <wav> [answermode=auto|manual]
set -e
DIR=$1 USER=$2 SIPP=$3 CTRL=$4 RTP=$5 WAV=$6 AM=${7:-manual}
mkdir -p "$DIR/rec"
cat > "$DIR/config" <<CFG
poll_method		epoll
net_interface		127.0.0.1
sip_listen		127.0.0.1:$SIPP
call_local_timeout	120
call_max_calls		4
audio_player		aubridge,nil
audio_source		aufile,$WAV
audio_alert		aubridge,nil
audio_level		no
ausrc_format		s16
auplay_format		s16
rtp_ports		$RTP
rtp_timeout		0
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			aubridge.so
module			sndfile.so
module_app		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:$CTRL
snd_path		$DIR/rec
CFG
# regint=0: no REGISTER; audio_codecs=PCMU,PCMA (telephone-event/8000 is always added by baresip)
echo "<sip:$USER@127.0.0.1:$SIPP>;regint=0;answermode=$AM;audio_codecs=PCMU,PCMA" > "$DIR/accounts"
: > "$DIR/contacts"
echo "config written to $DIR"
