"""An asynchronous Majordomo client and one held-up worker (spec 7/MDP 0.1)
in pyzmq, for the examples' interop tests: a libzmq peer that sends a burst
of requests before reading any reply, as the guide's mdclient2 does, while
the service's only worker sits on the first one, so that the rest wait in
the broker's queue.

usage: mdpburst.py ENDPOINT N

A worker (DEALER) offers "echo". A client (DEALER) sends request "0",
which the worker takes and holds; then requests "1" to "N-1". Prints
"HELD" once the worker has the first, "SENT N" after the burst, then
waits for a line on standard input (heartbeating the broker meanwhile;
it exits if the input ends instead).
Then the worker echoes the held request and every one after it, and the
client reads replies until it has N distinct ones or none came for 10 s:
"GOT <distinct> DUP <duplicates>".
"""

import sys
import time

import zmq

MDPC, MDPW = b"MDPC01", b"MDPW01"
READY, REQUEST, REPLY, HEARTBEAT = b"\x01", b"\x02", b"\x03", b"\x04"


def main():
    endpoint, n = sys.argv[1], int(sys.argv[2])
    ctx = zmq.Context()
    worker = ctx.socket(zmq.DEALER)
    client = ctx.socket(zmq.DEALER)
    for s in (worker, client):
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SNDHWM, 0)
        s.setsockopt(zmq.RCVHWM, 0)
        s.connect(endpoint)
    worker.send_multipart([b"", MDPW, READY, b"echo"])

    def request(i):
        client.send_multipart([b"", MDPC, b"echo", str(i).encode()])

    def next_request(timeout_ms):
        # The worker's next REQUEST as [client address, body...]; None
        # when none came in time. The broker's heartbeats are skipped.
        deadline = time.monotonic() + timeout_ms / 1000.0
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not worker.poll(left * 1000):
                return None
            f = worker.recv_multipart()
            if f[2] == REQUEST:
                return [f[3]] + f[5:]

    def reply(req):
        worker.send_multipart([b"", MDPW, REPLY, req[0], b""] + req[1:])

    request(0)
    held = next_request(10000)
    if held is None:
        raise SystemExit("mdpburst.py: the worker got no request in 10 s")
    print("HELD", flush=True)
    for i in range(1, n):
        request(i)
    print("SENT", n, flush=True)

    # Hold until told, heartbeating so that the broker keeps the worker.
    poller = zmq.Poller()
    poller.register(sys.stdin.fileno(), zmq.POLLIN)
    while not poller.poll(1000):
        worker.send_multipart([b"", MDPW, HEARTBEAT])
    if not sys.stdin.readline():
        return  # the test is over

    reply(held)
    got, dup = set(), 0
    poller = zmq.Poller()
    poller.register(worker, zmq.POLLIN)
    poller.register(client, zmq.POLLIN)
    beat = time.monotonic() + 1
    while len(got) < n:
        events = dict(poller.poll(10000))
        if not events:
            break
        if worker in events:
            f = worker.recv_multipart()
            if f[2] == REQUEST:
                reply([f[3]] + f[5:])
        if client in events:
            f = client.recv_multipart()
            body = f[3]
            if body in got:
                dup += 1
            got.add(body)
        if time.monotonic() >= beat:
            beat = time.monotonic() + 1
            worker.send_multipart([b"", MDPW, HEARTBEAT])
    print("GOT", len(got), "DUP", dup, flush=True)


if __name__ == "__main__":
    main()
