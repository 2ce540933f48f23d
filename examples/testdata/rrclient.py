"""A libzmq request-reply client for the examples' interop tests, after the
guide's rrclient: a REQ that connects to a broker's frontend and sends
"Hello NAME i" for i in 1..N, one after the other, checking that each reply
is "World NAME i".

usage: rrclient.py ENDPOINT N NAME

stdout: "REPLY <reply>" for each reply, then "DONE"; exits 1 on a reply
that is not the one expected, or none within 10 s.
"""

import sys

import zmq


def main():
    endpoint, n, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    ctx = zmq.Context()
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.setsockopt(zmq.RCVTIMEO, 10000)
    req.connect(endpoint)
    for i in range(1, n + 1):
        req.send_string("Hello %s %d" % (name, i))
        reply = req.recv_string()
        print("REPLY " + reply, flush=True)
        if reply != "World %s %d" % (name, i):
            raise SystemExit("rrclient.py: reply %r to request %d" % (reply, i))
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
