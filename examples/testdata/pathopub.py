"""A libzmq publisher for the examples' interop tests, after the guide's
pathological publisher (pathopub): it sends every topic "000" ... "N-1",
each once with the value "Save Roger", and then one message for each line
"TOPIC VALUE" on its standard input, until that closes.

It connects an XPUB to the cache, and waits for the cache's subscription
before publishing, so that nothing is lost to the slow joiner.

usage: pathopub.py ENDPOINT N

stdout: "PUBLISHED N" after the topics, "PUBLISHED TOPIC" after each line.
"""

import sys

import zmq


def main():
    endpoint, n = sys.argv[1], int(sys.argv[2])
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, 5000)
    pub.connect(endpoint)
    if not pub.poll(30000):
        raise SystemExit("pathopub.py: no subscription within 30 s")
    pub.recv()  # the cache's subscription to everything
    for i in range(n):
        pub.send_multipart([b"%03d" % i, b"Save Roger"])
    print("PUBLISHED %d" % n, flush=True)
    for line in sys.stdin:
        topic, _, value = line.strip().partition(" ")
        pub.send_multipart([topic.encode(), value.encode()])
        print("PUBLISHED " + topic, flush=True)
    pub.close()
    ctx.term()


if __name__ == "__main__":
    main()
