"""A load-balancing broker's client (guide ch. 3, lbbroker's client task)
in pyzmq, for zmqflow's interop tests: a libzmq peer in the REQ client role.

usage: lbclient.py FRONTEND_EP NAME COUNT

Connects a REQ socket with the identity "Client-NAME" and, COUNT times, as
the guide's client does once, sends one frame, "HELLO-NAME-i", and waits
for the one-frame reply, printing "REPLY <reply>" ("INVALID <n> frames"
for a reply of another shape). Prints "STARTED" once connected and "DONE"
after the last reply; exits when standard input ends.
"""

import os
import sys

import zmq


def main():
    endpoint, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.IDENTITY, ("Client-" + name).encode())
    sock.connect(endpoint)
    print("STARTED", flush=True)

    stdin = sys.stdin.fileno()
    poller = zmq.Poller()
    poller.register(stdin, zmq.POLLIN)
    poller.register(sock, zmq.POLLIN)
    sent = 0
    if count > 0:
        sock.send(("HELLO-%s-%d" % (name, sent)).encode())
        sent = 1
    while True:
        events = dict(poller.poll())
        if events.get(stdin):
            if not os.read(stdin, 4096):
                break
        if events.get(sock) == zmq.POLLIN:
            frames = sock.recv_multipart()
            if len(frames) == 1:
                print("REPLY", frames[0].decode(errors="replace"), flush=True)
            else:
                print("INVALID", len(frames), "frames", flush=True)
            if sent < count:
                sock.send(("HELLO-%s-%d" % (name, sent)).encode())
                sent += 1
            else:
                print("DONE", flush=True)
                poller.unregister(sock)
    os._exit(0)


if __name__ == "__main__":
    main()
