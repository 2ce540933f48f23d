"""A libzmq subscriber for the examples' interop tests, after the guide's
pathological subscriber (pathosub): a SUB that connects to the cache,
subscribes to one topic and prints every message it gets.

usage: pathosub.py ENDPOINT TOPIC

stdout: "MSG TOPIC VALUE" for each message.
"""

import os
import sys
import threading

import zmq


def main():
    # Exit when the test closes our input: nothing else ends the loop.
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    endpoint, topic = sys.argv[1], sys.argv[2]
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt_string(zmq.SUBSCRIBE, topic)
    sub.connect(endpoint)
    while True:
        frames = sub.recv_multipart()
        print("MSG " + " ".join(f.decode() for f in frames), flush=True)


if __name__ == "__main__":
    main()
