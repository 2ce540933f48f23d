"""A load-balancing broker's worker (guide ch. 3, lbbroker's worker task)
in pyzmq, for zmqflow's interop tests: a libzmq peer in the REQ worker role.

usage: lbworker.py BACKEND_EP NAME

Connects a REQ socket with the identity "Worker-NAME" and announces itself
with "READY". Then, as the guide's worker, it takes each request as exactly
three frames (client address, empty delimiter, request), prints
"WORK <request>", and replies [address, "", "OK <request>"] (the guide
replies a bare "OK"; the request is added so that the test can tell whose
reply is whose). Any other message is reported as "INVALID <n> frames"
where the guide's unpacking would fail. It never sends or expects
heartbeats. Prints "STARTED" once connected; exits when standard input ends.
"""

import os
import sys

import zmq


def main():
    endpoint, name = sys.argv[1], sys.argv[2]
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.IDENTITY, ("Worker-" + name).encode())
    sock.connect(endpoint)
    sock.send(b"READY")
    print("STARTED", flush=True)

    stdin = sys.stdin.fileno()
    poller = zmq.Poller()
    poller.register(stdin, zmq.POLLIN)
    poller.register(sock, zmq.POLLIN)
    while True:
        events = dict(poller.poll())
        if events.get(stdin):
            if not os.read(stdin, 4096):
                break
        if events.get(sock) == zmq.POLLIN:
            frames = sock.recv_multipart()
            if len(frames) != 3 or frames[1] != b"":
                # A REQ socket must send before it receives again: the
                # guide's worker would have died here; this one says so
                # and stops serving.
                print("INVALID", len(frames), "frames", flush=True)
                poller.unregister(sock)
                continue
            address, _, request = frames
            print("WORK", request.decode(errors="replace"), flush=True)
            sock.send_multipart([address, b"", b"OK " + request])
    os._exit(0)


if __name__ == "__main__":
    main()
