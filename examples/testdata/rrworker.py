"""A libzmq request-reply worker for the examples' interop tests, after the
guide's rrworker: a REP that connects to a broker's backend and answers
each "Hello..." request with "World" followed by whatever came after
"Hello", so that a client can check the reply is its own.

usage: rrworker.py ENDPOINT

stdout: "READY" once connected, then "REQUEST <request>" for each request.
"""

import os
import sys
import threading

import zmq


def main():
    # Exit when the test closes our input: nothing else ends the loop.
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    ctx = zmq.Context()
    rep = ctx.socket(zmq.REP)
    rep.setsockopt(zmq.LINGER, 0)
    up = rep.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    rep.connect(sys.argv[1])
    if not up.poll(30000):
        raise SystemExit("rrworker.py: no broker within 30 s")
    print("READY", flush=True)
    while True:
        request = rep.recv_string()
        print("REQUEST " + request, flush=True)
        rest = request[len("Hello"):] if request.startswith("Hello") else ""
        rep.send_string("World" + rest)


if __name__ == "__main__":
    main()
