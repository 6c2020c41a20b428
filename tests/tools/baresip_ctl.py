#!/usr/bin/env python3
"""
baresip_ctl.py (copied from ../shared/peers/baresip/ctl.py for tests/baresip_health_call.rs) - tiny client for baresip's ctrl_tcp module (JSON in netstrings, "len:{json},").
Each step is executed in order; events from baresip are printed as they arrive.
  cmd:<command> <params>   send a command (same names as the /commands: dial, sndcode, hangup, quit, answermode, accept)
  wait:<EVENT_TYPE>[:sec]  block until an event of that type arrives (e.g. CALL_ESTABLISHED, CALL_CLOSED)
  sleep:<sec>
Example:
  ctl.py 127.0.0.1:14444 'cmd:dial sip:ivr@127.0.0.1:15070' wait:CALL_ESTABLISHED sleep:1 \
         'cmd:sndcode *365#' sleep:2 cmd:hangup wait:CALL_CLOSED
Exit code 0 if every wait: was satisfied.
"""
import json, socket, sys, time

host, port = sys.argv[1].rsplit(':', 1)
s = socket.create_connection((host, int(port)), timeout=10)
buf = b''
seen = []   # event types not yet consumed by a wait:

def recv_msgs(timeout):
    global buf
    s.settimeout(timeout)
    try:
        data = s.recv(65536)
        if not data: raise SystemExit('baresip closed the control connection')
        buf += data
    except socket.timeout:
        pass
    out = []
    while b':' in buf:
        n, rest = buf.split(b':', 1)
        if not n.isdigit() or len(rest) < int(n) + 1: break
        out.append(json.loads(rest[:int(n)])); buf = rest[int(n) + 1:]
    for m in out:
        if m.get('event'): seen.append(m.get('type'))
        print(time.strftime('%H:%M:%S'), 'EVT' if m.get('event') else 'RSP', json.dumps(m, ensure_ascii=False), flush=True)
    return out

def send(cmd):
    c, _, p = cmd.partition(' ')
    body = json.dumps({'command': c, 'params': p, 'token': c}).encode()
    s.sendall(str(len(body)).encode() + b':' + body + b',')

ok = True
for step in sys.argv[2:]:
    kind, _, arg = step.partition(':')
    if kind == 'cmd':
        print(time.strftime('%H:%M:%S'), 'CMD', arg, flush=True); send(arg); recv_msgs(0.3)
    elif kind == 'sleep':
        end = time.time() + float(arg)
        while time.time() < end: recv_msgs(max(0.01, end - time.time()))
    elif kind == 'wait':
        typ, _, to = arg.partition(':'); end = time.time() + float(to or 15)
        while typ not in seen:
            recv_msgs(max(0.01, min(0.5, end - time.time())))
            if time.time() > end: print('TIMEOUT waiting for', typ); ok = False; break
        if typ in seen: del seen[:seen.index(typ) + 1]
sys.exit(0 if ok else 1)
