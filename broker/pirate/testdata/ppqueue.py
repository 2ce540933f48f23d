"""A Paranoid Pirate queue (guide ch. 4, spec 6/PPP) in pyzmq, for
zmqflow's interop tests: a libzmq broker for our Worker and Client.

usage: ppqueue.py FRONTEND_EP BACKEND_EP INTERVAL_MS LIVENESS

Binds a ROUTER for clients and one for workers, prints
"READY FRONTEND BACKEND" (resolved), and then behaves as the guide's
ppqueue: any message from a worker puts it at the back of the ready list,
the frontend is polled only while the list is not empty, idle workers are
sent HEARTBEAT every interval and dropped after LIVENESS silent intervals.
Prints "WORKERS n" whenever the number of ready workers changes. Exits when
standard input ends.
"""

import os
import sys
import time
from collections import OrderedDict

import zmq

READY, HEARTBEAT = b"\x01", b"\x02"


def main():
    interval = int(sys.argv[3]) / 1000.0
    liveness = int(sys.argv[4])
    ctx = zmq.Context()
    frontend = ctx.socket(zmq.ROUTER)
    backend = ctx.socket(zmq.ROUTER)
    for s in (frontend, backend):
        s.setsockopt(zmq.LINGER, 0)
    frontend.bind(sys.argv[1])
    backend.bind(sys.argv[2])
    print("READY",
          frontend.getsockopt(zmq.LAST_ENDPOINT).decode(),
          backend.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)

    stdin = sys.stdin.fileno()
    ready = OrderedDict()  # worker identity -> expiry, least recently used first
    reported = 0
    next_beat = time.monotonic() + interval
    while True:
        poller = zmq.Poller()
        poller.register(stdin, zmq.POLLIN)
        poller.register(backend, zmq.POLLIN)
        if ready:
            poller.register(frontend, zmq.POLLIN)
        events = dict(poller.poll(interval * 1000))
        if events.get(stdin):
            if not os.read(stdin, 4096):
                break
        if events.get(backend) == zmq.POLLIN:
            frames = backend.recv_multipart()
            worker, msg = frames[0], frames[1:]
            ready.pop(worker, None)
            ready[worker] = time.monotonic() + interval * liveness
            if len(msg) == 1:
                if msg[0] not in (READY, HEARTBEAT):
                    print("E: invalid message from worker", msg, flush=True)
            else:
                frontend.send_multipart(msg)
        if events.get(frontend) == zmq.POLLIN and ready:
            frames = frontend.recv_multipart()
            worker, _ = ready.popitem(last=False)
            backend.send_multipart([worker] + frames)
        now = time.monotonic()
        if now >= next_beat:
            for worker in ready:
                backend.send_multipart([worker, HEARTBEAT])
            next_beat = now + interval
        for worker in [w for w, expiry in ready.items() if expiry <= now]:
            del ready[worker]
        if len(ready) != reported:
            reported = len(ready)
            print("WORKERS", reported, flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
