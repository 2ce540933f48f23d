"""A Majordomo worker (spec 7/MDP 0.1, MDP/Worker) in pyzmq, for zmqflow's
interop tests: a libzmq peer in the worker role, written from the spec.

usage: mdpworker.py BROKER_EP SERVICE INTERVAL_MS LIVENESS

Connects a DEALER, sends READY for SERVICE, and replies to each REQUEST
with the tag "py" followed by the request body, printing "REQUEST <last
body frame>". Prints "BEAT" for each HEARTBEAT from the broker and sends
its own every interval. On DISCONNECT ("DISCONNECT"), or after LIVENESS
silent intervals ("RECONNECT"), it closes the socket and opens a new one
with READY, as the spec says. Exits when standard input ends.
"""

import os
import sys
import time

import zmq

MDPW = b"MDPW01"
READY, REQUEST, REPLY, HEARTBEAT, DISCONNECT = b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"


def main():
    endpoint, service = sys.argv[1], sys.argv[2].encode()
    interval = int(sys.argv[3]) / 1000.0
    liveness_max = int(sys.argv[4])
    ctx = zmq.Context()
    poller = zmq.Poller()
    stdin = sys.stdin.fileno()
    poller.register(stdin, zmq.POLLIN)

    def connect():
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        s.send_multipart([b"", MDPW, READY, service])
        poller.register(s, zmq.POLLIN)
        return s

    def reconnect(s):
        poller.unregister(s)
        s.close()
        return connect()

    sock = connect()
    print("STARTED", flush=True)
    liveness = liveness_max
    next_beat = time.monotonic() + interval
    while True:
        events = dict(poller.poll(interval * 1000))
        if events.get(stdin):
            if not os.read(stdin, 4096):
                break
        if events.get(sock) == zmq.POLLIN:
            frames = sock.recv_multipart()
            liveness = liveness_max
            if len(frames) < 3 or frames[0] != b"" or frames[1] != MDPW:
                print("E: invalid message", frames, flush=True)
                continue
            cmd = frames[2]
            if cmd == REQUEST and len(frames) >= 5 and frames[4] == b"":
                client, body = frames[3], frames[5:]
                print("REQUEST", (body[-1] if body else b"").decode(errors="replace"), flush=True)
                sock.send_multipart([b"", MDPW, REPLY, client, b"", b"py"] + body)
            elif cmd == HEARTBEAT:
                print("BEAT", flush=True)
            elif cmd == DISCONNECT:
                print("DISCONNECT", flush=True)
                sock = reconnect(sock)
            else:
                print("E: invalid command", frames, flush=True)
        elif not events:
            liveness -= 1
            if liveness == 0:
                print("RECONNECT", flush=True)
                time.sleep(interval)
                sock = reconnect(sock)
                liveness = liveness_max
        if time.monotonic() >= next_beat:
            next_beat = time.monotonic() + interval
            sock.send_multipart([b"", MDPW, HEARTBEAT])
    sock.send_multipart([b"", MDPW, DISCONNECT])
    os._exit(0)


if __name__ == "__main__":
    main()
