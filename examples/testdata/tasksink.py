"""A libzmq task sink for the examples' interop tests: the guide's tasksink2
(with the kill signal), reading the batch size from the start of the batch
("0" is the guide's, then --tasks), and counting results by their content
(our workers send their name).

usage: tasksink.py [--bind EP] [--kill EP] [--tasks N]

stdout: "Collecting results on EP, kill signal on EP", "Start of batch: N
results to collect", "Total elapsed time: N msec", "Results by worker: ...",
"KILL sent".
"""

import argparse
import sys
import time

import zmq


def out(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="tcp://127.0.0.1:*")
    ap.add_argument("--kill", default="tcp://127.0.0.1:*")
    ap.add_argument("--tasks", type=int, default=100)
    args = ap.parse_args()

    ctx = zmq.Context()
    receiver = ctx.socket(zmq.PULL)
    receiver.setsockopt(zmq.RCVTIMEO, 30000)  # a test must not hang
    receiver.bind(args.bind)
    controller = ctx.socket(zmq.PUB)
    controller.setsockopt(zmq.LINGER, 5000)
    controller.bind(args.kill)
    out("Collecting results on %s, kill signal on %s" % (
        receiver.getsockopt(zmq.LAST_ENDPOINT).decode(),
        controller.getsockopt(zmq.LAST_ENDPOINT).decode()))

    expect = int(receiver.recv()) or args.tasks
    start = time.monotonic()
    out("Start of batch: %d results to collect" % expect)
    by_worker = {}
    for _ in range(expect):
        name = receiver.recv().decode() or "(unnamed)"
        by_worker[name] = by_worker.get(name, 0) + 1
    out("Total elapsed time: %d msec" % ((time.monotonic() - start) * 1000))
    out("Results by worker: " + ", ".join(
        "%s %d" % (w, n) for w, n in sorted(by_worker.items())))

    controller.send(b"KILL")
    out("KILL sent")
    receiver.close()
    controller.close()
    ctx.term()


if __name__ == "__main__":
    main()
