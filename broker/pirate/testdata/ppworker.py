"""A Paranoid Pirate worker (guide ch. 4, spec 6/PPP) in pyzmq, for
zmqflow's interop tests: a libzmq peer in the worker role.

usage: ppworker.py BACKEND_EP INTERVAL_MS LIVENESS

Connects a DEALER with a random identity and sends READY. As the guide's
ppworker does, it takes a request only as exactly three frames (address,
empty delimiter, body) and replies with it unchanged, printing
"REPLY <body>"; any other message is rejected, as ppworker's
"E: Invalid message" ("INVALID <n> frames" here). Prints "BEAT" for each
HEARTBEAT. Heartbeats every interval; after LIVENESS silent intervals it
reconnects with a doubling back-off and READY again ("RECONNECT" on
standard output). Exits when standard input ends.
"""

import os
import sys
import time

import zmq

READY, HEARTBEAT = b"\x01", b"\x02"


def main():
    endpoint = sys.argv[1]
    interval = int(sys.argv[2]) / 1000.0
    liveness_max = int(sys.argv[3])
    ctx = zmq.Context()
    poller = zmq.Poller()
    poller.register(sys.stdin.fileno(), zmq.POLLIN)

    def connect():
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.IDENTITY, os.urandom(4).hex().encode())
        s.connect(endpoint)
        s.send(READY)
        poller.register(s, zmq.POLLIN)
        return s

    sock = connect()
    print("STARTED", flush=True)
    liveness = liveness_max
    backoff = interval
    next_beat = time.monotonic() + interval
    while True:
        events = dict(poller.poll(interval * 1000))
        if events.get(sys.stdin.fileno()):
            if not os.read(sys.stdin.fileno(), 4096):
                break
        if events.get(sock) == zmq.POLLIN:
            frames = sock.recv_multipart()
            liveness = liveness_max
            backoff = interval
            if len(frames) == 3:
                print("REPLY", frames[2].decode(errors="replace"), flush=True)
                sock.send_multipart(frames)
            elif len(frames) == 1 and frames[0] == HEARTBEAT:
                print("BEAT", flush=True)
            else:
                print("INVALID", len(frames), "frames", flush=True)
        elif not events:
            liveness -= 1
            if liveness == 0:
                print("RECONNECT", flush=True)
                time.sleep(backoff)
                backoff = min(backoff * 2, 32 * interval)
                poller.unregister(sock)
                sock.close()
                sock = connect()
                liveness = liveness_max
        if time.monotonic() >= next_beat:
            next_beat = time.monotonic() + interval
            sock.send(HEARTBEAT)
    os._exit(0)


if __name__ == "__main__":
    main()
