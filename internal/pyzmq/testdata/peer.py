"""A libzmq socket driven over stdin/stdout, for zmqflow's interop tests.

usage: peer.py TYPE [--bind EP]... [--connect EP]... [options]

options:
  --identity ID            ZMQ_ROUTING_ID
  --subscribe PREFIX       SUB: subscribe (repeatable; "" subscribes to all)
  --heartbeat IVL,TIMEOUT[,TTL]
                           ZMQ_HEARTBEAT_IVL, ZMQ_HEARTBEAT_TIMEOUT and
                           ZMQ_HEARTBEAT_TTL, in ms
  --plain-client USER:PASS PLAIN client credentials
  --plain-server USER:PASS PLAIN server accepting only these credentials (ZAP)
  --curve-server SECRET    CURVE server with this secret key (Z85); without
                           --curve-allow any client is admitted (no ZAP)
  --curve-allow DIR        CURVE server: admit only the public keys of the
                           certificates (*.key) in DIR (ZAP)
  --curve-client SERVERPUB:PUB:SECRET
                           CURVE client: the server's public key, then our
                           key pair, each 40 characters of Z85 (which may
                           itself hold ':', so the keys are split by length)
  --echo                   send every received message straight back
                           (instead of reporting it)
  --sockopt NAME=VALUE     any zmq_setsockopt option, by its name without
                           ZMQ_ (XPUB_VERBOSE=1, PROBE_ROUTER=1, ...), set
                           before the binds and connects (repeatable); an
                           integer VALUE is set as an int, anything else as
                           bytes

stdout, one line each:
  READY EP...              after the binds (resolved) and connects
  MSG FRAMES               a message received (unless echoing)
  EVENT NAME EP            a socket monitor event (CONNECTED, DISCONNECTED, ...)
  ERR TEXT                 a command failed
  SYNCED                   the reply to sync

stdin, one command a line (FRAMES is a JSON list of base64 strings):
  send FRAMES              send one message
  repeat MS FRAMES         send it every MS milliseconds until the next command
  sub PREFIX | unsub PREFIX
  echo on|off
  sync                     reply SYNCED: every command before it has run
  quit                     (end of input quits too)
"""

import argparse
import base64
import json
import os
import sys
import time

import zmq
from zmq.utils.monitor import recv_monitor_message


def out(*words):
    sys.stdout.write(" ".join(words) + "\n")
    sys.stdout.flush()


def encode(frames):
    return json.dumps([base64.b64encode(f).decode() for f in frames])


def decode(text):
    return [base64.b64decode(f) for f in json.loads(text)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("type")
    ap.add_argument("--bind", action="append", default=[])
    ap.add_argument("--connect", action="append", default=[])
    ap.add_argument("--identity")
    ap.add_argument("--subscribe", action="append", default=[])
    ap.add_argument("--heartbeat")
    ap.add_argument("--plain-client")
    ap.add_argument("--plain-server")
    ap.add_argument("--curve-server")
    ap.add_argument("--curve-allow")
    ap.add_argument("--curve-client")
    ap.add_argument("--echo", action="store_true")
    ap.add_argument("--sockopt", action="append", default=[])
    args = ap.parse_args()

    ctx = zmq.Context()
    sock = ctx.socket(getattr(zmq, args.type.upper()))
    sock.setsockopt(zmq.SNDTIMEO, 5000)
    sock.setsockopt(zmq.LINGER, 1000)
    if args.identity:
        sock.setsockopt(zmq.ROUTING_ID, args.identity.encode())
    if args.heartbeat:
        hb = [int(v) for v in args.heartbeat.split(",")]
        sock.setsockopt(zmq.HEARTBEAT_IVL, hb[0])
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, hb[1])
        if len(hb) > 2:
            sock.setsockopt(zmq.HEARTBEAT_TTL, hb[2])
    auth = None
    if args.plain_server:
        from zmq.auth.thread import ThreadAuthenticator

        user, password = args.plain_server.split(":", 1)
        auth = ThreadAuthenticator(ctx)
        auth.start()
        auth.configure_plain(domain="*", passwords={user: password})
        sock.setsockopt(zmq.PLAIN_SERVER, 1)
    if args.curve_server:
        if args.curve_allow:
            from zmq.auth.thread import ThreadAuthenticator

            auth = ThreadAuthenticator(ctx)
            auth.start()
            auth.configure_curve(domain="*", location=args.curve_allow)
        sock.setsockopt(zmq.CURVE_SERVER, 1)
        sock.setsockopt(zmq.CURVE_SECRETKEY, args.curve_server.encode())
    if args.curve_client:
        keys = args.curve_client
        if len(keys) != 122 or keys[40] != ":" or keys[81] != ":":
            raise SystemExit("--curve-client wants SERVERPUB:PUB:SECRET, 40 characters each")
        sock.setsockopt(zmq.CURVE_SERVERKEY, keys[:40].encode())
        sock.setsockopt(zmq.CURVE_PUBLICKEY, keys[41:81].encode())
        sock.setsockopt(zmq.CURVE_SECRETKEY, keys[82:].encode())
    if args.plain_client:
        user, password = args.plain_client.split(":", 1)
        sock.setsockopt(zmq.PLAIN_USERNAME, user.encode())
        sock.setsockopt(zmq.PLAIN_PASSWORD, password.encode())
    for opt in args.sockopt:
        name, _, value = opt.partition("=")
        try:
            value = int(value)
        except ValueError:
            value = value.encode()
        sock.setsockopt(getattr(zmq, name.upper()), value)
    for prefix in args.subscribe:
        sock.setsockopt(zmq.SUBSCRIBE, prefix.encode())
    monitor = sock.get_monitor_socket()

    endpoints = []
    for ep in args.bind:
        sock.bind(ep)
        endpoints.append(sock.getsockopt(zmq.LAST_ENDPOINT).decode())
    for ep in args.connect:
        sock.connect(ep)
        endpoints.append(ep)
    out("READY", *endpoints)

    stdin = sys.stdin.fileno()
    poller = zmq.Poller()
    poller.register(stdin, zmq.POLLIN)
    poller.register(monitor, zmq.POLLIN)
    if args.type.upper() not in ("PUSH", "PUB"):
        poller.register(sock, zmq.POLLIN)

    echo = args.echo
    repeat = None  # (interval in seconds, frames, time of the next send)
    pending = b""
    running = True
    while running:
        timeout = None
        if repeat:
            timeout = max(0, repeat[2] - time.monotonic()) * 1000
        events = dict(poller.poll(timeout))
        if repeat and time.monotonic() >= repeat[2]:
            send(sock, repeat[1])
            repeat = (repeat[0], repeat[1], time.monotonic() + repeat[0])
        if monitor in events:
            ev = recv_monitor_message(monitor)
            out("EVENT", zmq.Event(ev["event"]).name, ev["endpoint"].decode())
        if sock in events:
            while sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                frames = sock.recv_multipart()
                if echo:
                    send(sock, frames)
                else:
                    out("MSG", encode(frames))
        if stdin in events:
            data = os.read(stdin, 1 << 20)
            if not data:
                break
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                cmd, _, rest = line.decode().partition(" ")
                repeat = None
                if cmd == "send":
                    send(sock, decode(rest))
                elif cmd == "repeat":
                    ms, _, frames = rest.partition(" ")
                    repeat = (int(ms) / 1000, decode(frames), time.monotonic())
                elif cmd == "sub":
                    sock.setsockopt(zmq.SUBSCRIBE, rest.encode())
                elif cmd == "unsub":
                    sock.setsockopt(zmq.UNSUBSCRIBE, rest.encode())
                elif cmd == "echo":
                    echo = rest == "on"
                elif cmd == "sync":
                    out("SYNCED")
                elif cmd == "quit":
                    running = False
                    break
                else:
                    out("ERR", "unknown command", repr(cmd))

    sock.disable_monitor()
    monitor.close(linger=0)
    sock.close()
    if auth:
        auth.stop()
    ctx.term()


def send(sock, frames):
    try:
        sock.send_multipart(frames)
    except zmq.ZMQError as e:
        out("ERR", "send:", str(e))


if __name__ == "__main__":
    main()
