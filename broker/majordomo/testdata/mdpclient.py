"""A Majordomo client (spec 7/MDP 0.1, MDP/Client) in pyzmq, for zmqflow's
interop tests: a libzmq peer in the client role, written from the spec.

usage: mdpclient.py BROKER_EP TIMEOUT_MS RETRIES

Reads requests from standard input, one a line: a service name and body
frames, separated by spaces. Sends each on a REQ socket (frame 0 is the
REQ socket's), and prints "REPLY <service> <body frames...>", or "TIMEOUT"
when no reply came after RETRIES resends, each on a new socket after
TIMEOUT_MS, as the spec recommends. Prints "STARTED" first. Exits when
standard input ends.
"""

import sys

import zmq

MDPC = b"MDPC01"


def main():
    endpoint = sys.argv[1]
    timeout = int(sys.argv[2])
    retries = int(sys.argv[3])
    ctx = zmq.Context()

    def connect():
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        return s

    sock = connect()
    print("STARTED", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        service, body = words[0].encode(), [w.encode() for w in words[1:]]
        reply = None
        for _ in range(retries + 1):
            sock.send_multipart([MDPC, service] + body)
            if sock.poll(timeout, zmq.POLLIN):
                frames = sock.recv_multipart()
                if len(frames) >= 2 and frames[0] == MDPC and frames[1] == service:
                    reply = frames[1:]
                    break
                print("E: invalid reply", frames, flush=True)
            sock.close()
            sock = connect()
        if reply is None:
            print("TIMEOUT", flush=True)
        else:
            print("REPLY", b" ".join(reply).decode(errors="replace"), flush=True)


if __name__ == "__main__":
    main()
