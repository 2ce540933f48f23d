"""A libzmq task ventilator for the examples' interop tests: the guide's
taskvent, plus a report of each worker that connects, so that the test can
press Enter once every worker is there.

usage: taskvent.py --sink EP [--bind EP] [--tasks N]

stdout: "Tasks go out on EP", "Worker connected (N in all)" lines,
then, after a line on stdin, "Total expected cost: N msec".
The start of the batch is the guide's plain "0".
"""

import argparse
import random
import sys

import zmq
from zmq.utils.monitor import recv_monitor_message


def out(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="tcp://127.0.0.1:*")
    ap.add_argument("--sink", required=True)
    ap.add_argument("--tasks", type=int, default=100)
    args = ap.parse_args()

    ctx = zmq.Context()
    sender = ctx.socket(zmq.PUSH)
    sender.setsockopt(zmq.LINGER, 5000)
    sender.setsockopt(zmq.SNDTIMEO, 10000)
    joins = sender.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    sender.bind(args.bind)
    sink = ctx.socket(zmq.PUSH)
    sink.setsockopt(zmq.LINGER, 5000)
    sink.setsockopt(zmq.SNDTIMEO, 10000)
    sink_up = sink.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    sink.connect(args.sink)
    out("Tasks go out on " + sender.getsockopt(zmq.LAST_ENDPOINT).decode())

    poller = zmq.Poller()
    poller.register(joins, zmq.POLLIN)
    poller.register(sys.stdin, zmq.POLLIN)
    connected = 0
    while True:
        ready = dict(poller.poll(30000))
        if not ready:
            sys.exit("taskvent.py: no Enter within 30 s")
        if joins in ready:
            recv_monitor_message(joins)
            connected += 1
            out("Worker connected (%d in all)" % connected)
        if sys.stdin.fileno() in ready or sys.stdin in ready:
            sys.stdin.readline()
            break
    if not sink_up.poll(10000):
        sys.exit("taskvent.py: the sink did not connect within 10 s")

    sink.send(b"0")  # the guide's start of batch
    total = 0
    for _ in range(args.tasks):
        workload = random.randint(1, 100)
        total += workload
        sender.send_string(str(workload))
    out("Total expected cost: %d msec" % total)
    sender.disable_monitor()
    sink.disable_monitor()
    joins.close()
    sink_up.close()
    sender.close()
    sink.close()
    ctx.term()


if __name__ == "__main__":
    main()
