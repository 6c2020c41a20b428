#!/usr/bin/env python3
"""
mkrtp.py - craft RTP pcaps for SIPp <exec play_pcap_audio="..."/> (pure stdlib, no scapy).

Proves/provides:
  * rfc4733 : a single, well-formed RFC 4733 telephone-event stream for a digit string
              (one SSRC, monotonically increasing seq, one RTP timestamp per event,
              marker on first packet of each event, growing duration, 3x end packet),
              optionally interleaved with PCMU silence in the same SSRC like a real phone.
  * wav     : packetise an 8 kHz/16-bit/mono WAV into G.711 (PT 0 PCMU or PT 8 PCMA) RTP,
              20 ms / 160 samples per packet  (use for prompts AND in-band DTMF tones).
SIPp only rewrites the UDP ports when replaying (src=[media_port], dst=remote SDP port);
the RTP header (PT, seq, ts, SSRC) is sent verbatim, so it must be right in the pcap.

Usage:
  mkrtp.py rfc4733 '*365' out.pcap [--pt 101] [--tone-ms 100] [--gap-ms 100] [--audio] [--lead-ms 200]
           [--pause-ms 1000]   (a ',' in the digits is a pause of --pause-ms, like a phone's dial pause)
  mkrtp.py wav in.wav out.pcap [--pt 0|8]

Copied from ../shared/peers/dtmf/mkrtp.py for tests/ivr_e2e.rs; added: ',' pauses.
"""
import argparse, struct, sys, wave, random

import warnings; warnings.filterwarnings('ignore', category=DeprecationWarning)
try:
    import audioop  # stdlib up to Python 3.12 (Debian 12 ships 3.11)
except ImportError:  # pragma: no cover
    audioop = None

EVENTS = {**{str(d): d for d in range(10)}, '*': 10, '#': 11, 'A': 12, 'B': 13, 'C': 14, 'D': 15}

def ip_csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

class PcapWriter:
    def __init__(self, path, src='127.0.0.1', dst='127.0.0.1', sport=6000, dport=6000):
        self.f = open(path, 'wb')
        self.f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))  # DLT_EN10MB
        self.src = bytes(map(int, src.split('.'))); self.dst = bytes(map(int, dst.split('.')))
        self.sport, self.dport, self.ipid = sport, dport, 1
    def udp(self, t, payload):
        ulen = 8 + len(payload)
        pseudo = self.src + self.dst + struct.pack('!BBH', 0, 17, ulen)
        udph = struct.pack('!HHHH', self.sport, self.dport, ulen, 0)
        csum = ip_csum(pseudo + udph + payload) or 0xffff
        udph = struct.pack('!HHHH', self.sport, self.dport, ulen, csum)
        iph = struct.pack('!BBHHHBBH4s4s', 0x45, 0xb8, 20 + ulen, self.ipid, 0, 64, 17, 0, self.src, self.dst)
        iph = iph[:10] + struct.pack('!H', ip_csum(iph)) + iph[12:]
        self.ipid += 1
        frame = b'\0\0\0\0\0\x02' + b'\0\0\0\0\0\x01' + b'\x08\x00' + iph + udph + payload
        sec, usec = int(t), int(round((t - int(t)) * 1e6))
        self.f.write(struct.pack('<IIII', sec, usec, len(frame), len(frame)) + frame)
    def close(self): self.f.close()

def rtp(pt, seq, ts, ssrc, marker, payload):
    return struct.pack('!BBHII', 0x80, (0x80 if marker else 0) | pt, seq & 0xffff, ts & 0xffffffff, ssrc) + payload

def cmd_rfc4733(a):
    w = PcapWriter(a.out)
    ssrc = random.getrandbits(32); seq = random.getrandbits(15); ts = random.getrandbits(31)
    t = 0.0; pkt_ms = 20; spp = 160               # 20 ms, 8 kHz clock
    SIL = b'\xff' * 160                              # PCMU silence
    def silence(ms):
        nonlocal t, seq, ts
        for _ in range(ms // pkt_ms):
            if a.audio:
                w.udp(t, rtp(0, seq, ts, ssrc, False, SIL)); seq += 1
            ts += spp; t += pkt_ms / 1000
    silence(a.lead_ms)
    for ch in a.digits:
        if ch == ',':
            silence(a.pause_ms)
            continue
        ev = EVENTS[ch.upper()]
        ev_ts = ts; n = max(1, a.tone_ms // pkt_ms)
        for i in range(n):                           # ongoing event packets
            dur = (i + 1) * spp
            w.udp(t, rtp(a.pt, seq, ev_ts, ssrc, i == 0, struct.pack('!BBH', ev, a.volume, dur)))
            seq += 1; t += pkt_ms / 1000
        for _ in range(3):                           # end-of-event, sent 3 times (RFC 4733 2.5.1.4)
            w.udp(t, rtp(a.pt, seq, ev_ts, ssrc, False, struct.pack('!BBH', ev, 0x80 | a.volume, n * spp)))
            seq += 1
        ts += n * spp
        silence(a.gap_ms)
    w.close()
    print(f'{a.out}: digits={a.digits!r} pt={a.pt} ssrc=0x{ssrc:08x} audio={a.audio}')

def cmd_wav(a):
    wf = wave.open(a.wav, 'rb')
    if (wf.getframerate(), wf.getsampwidth(), wf.getnchannels()) != (8000, 2, 1):
        sys.exit('need 8000 Hz, 16-bit, mono WAV (use: sox in.wav -r 8000 -b 16 -c 1 out.wav)')
    pcm = wf.readframes(wf.getnframes())
    enc = audioop.lin2ulaw(pcm, 2) if a.pt == 0 else audioop.lin2alaw(pcm, 2)
    fill = b'\xff' if a.pt == 0 else b'\xd5'
    w = PcapWriter(a.out)
    ssrc = random.getrandbits(32); seq = random.getrandbits(15); ts = random.getrandbits(31)
    for i in range(0, len(enc), 160):
        chunk = enc[i:i + 160].ljust(160, fill)
        w.udp(i / 8000, rtp(a.pt, seq, ts, ssrc, i == 0, chunk)); seq += 1; ts += 160
    w.close()
    print(f'{a.out}: {len(enc)/8000:.2f}s pt={a.pt} packets={(len(enc)+159)//160}')

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
sp = p.add_subparsers(dest='cmd', required=True)
r = sp.add_parser('rfc4733'); r.add_argument('digits'); r.add_argument('out')
r.add_argument('--pt', type=int, default=101); r.add_argument('--tone-ms', type=int, default=100)
r.add_argument('--gap-ms', type=int, default=100); r.add_argument('--lead-ms', type=int, default=200)
r.add_argument('--volume', type=int, default=10); r.add_argument('--audio', action='store_true')
r.add_argument('--pause-ms', type=int, default=1000)
r.set_defaults(fn=cmd_rfc4733)
v = sp.add_parser('wav'); v.add_argument('wav'); v.add_argument('out'); v.add_argument('--pt', type=int, default=0, choices=[0, 8])
v.set_defaults(fn=cmd_wav)
a = p.parse_args(); a.fn(a)
