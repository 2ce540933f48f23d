"""A libzmq task worker for the examples' interop tests: the guide's
taskwork2 (with the kill signal), sending its name as the result and saying
when it is connected.

usage: taskwork.py --vent EP --sink EP --kill EP [--name NAME]

stdout: "Worker NAME ready" once its three sockets have connected, a "." a
task, then "Worker NAME: KILL received after N tasks".
"""

import argparse
import sys
import time

import zmq
from zmq.utils.monitor import recv_monitor_message


def out(text):
    sys.stdout.write(text)
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vent", required=True)
    ap.add_argument("--sink", required=True)
    ap.add_argument("--kill", required=True)
    ap.add_argument("--name", default="python")
    args = ap.parse_args()

    ctx = zmq.Context()
    receiver = ctx.socket(zmq.PULL)
    sender = ctx.socket(zmq.PUSH)
    sender.setsockopt(zmq.LINGER, 5000)
    sender.setsockopt(zmq.SNDTIMEO, 10000)
    controller = ctx.socket(zmq.SUB)
    controller.setsockopt(zmq.SUBSCRIBE, b"KILL")
    monitors = [s.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
                for s in (receiver, sender, controller)]
    receiver.connect(args.vent)
    sender.connect(args.sink)
    controller.connect(args.kill)
    for m in monitors:
        if not m.poll(10000):
            sys.exit("taskwork.py: not connected within 10 s")
        recv_monitor_message(m)
    out("Worker %s ready\n" % args.name)

    poller = zmq.Poller()
    poller.register(receiver, zmq.POLLIN)
    poller.register(controller, zmq.POLLIN)
    done = 0
    while True:
        ready = dict(poller.poll(30000))
        if not ready:
            sys.exit("taskwork.py: no task and no KILL within 30 s")
        if receiver in ready:
            workload = int(receiver.recv())
            time.sleep(workload / 1000)
            sender.send_string(args.name)
            done += 1
            out(".")
        if controller in ready:
            controller.recv()
            break
    out("\nWorker %s: KILL received after %d tasks\n" % (args.name, done))
    for s, m in zip((receiver, sender, controller), monitors):
        s.disable_monitor()
        m.close()
    receiver.close()
    sender.close()
    controller.close()
    ctx.term()


if __name__ == "__main__":
    main()
