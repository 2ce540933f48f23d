"""A libzmq XSUB/XPUB proxy (zmq.proxy), for zmqflow's interop tests.

usage: proxy.py bind|connect XSUB_EP bind|connect XPUB_EP

Prints "READY XSUB_EP XPUB_EP" (binds resolved), then forwards until its
standard input ends.
"""

import os
import sys
import threading

import zmq


def main():
    xsub_how, xsub_ep, xpub_how, xpub_ep = sys.argv[1:5]
    ctx = zmq.Context()
    endpoints = []
    sockets = []
    for typ, how, ep in ((zmq.XSUB, xsub_how, xsub_ep), (zmq.XPUB, xpub_how, xpub_ep)):
        s = ctx.socket(typ)
        s.setsockopt(zmq.LINGER, 0)
        if how == "bind":
            s.bind(ep)
            ep = s.getsockopt(zmq.LAST_ENDPOINT).decode()
        else:
            s.connect(ep)
        endpoints.append(ep)
        sockets.append(s)
    threading.Thread(target=zmq.proxy, args=sockets, daemon=True).start()
    print("READY", *endpoints, flush=True)
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
