"""A libzmq weather server for the examples' interop tests, after the
guide's wuserver: a PUB that sends "ZIPCODE TEMPERATURE HUMIDITY" updates
until its standard input closes. Its zip codes come from a small range
that holds 10001, so a subscriber to one of them gets updates often.

usage: wuserver.py [--bind EP]

stdout: "Weather on EP" once bound.
"""

import argparse
import random
import sys
import threading

import zmq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="tcp://127.0.0.1:*")
    args = ap.parse_args()

    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(args.bind)
    print("Weather on " + pub.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)

    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    while not stop.is_set():
        zipcode = random.randint(9995, 10005)
        update = "%05d %d %d" % (zipcode, random.randint(-80, 134), random.randint(10, 59))
        pub.send_string(update)
        stop.wait(0.001)  # a steady trickle, not a flood
    pub.close()
    ctx.term()


if __name__ == "__main__":
    main()
