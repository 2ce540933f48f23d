"""A libzmq task source for the examples' interop tests: a PUSH that waits
for one worker to connect and then sends it "task 0" ... "task N-1" (the
guide's taskvent without the sink and the Enter key).

usage: tasksource.py [--bind EP] [--tasks N]

stdout: "Tasks on EP" once bound, "Sent N tasks" when done.
"""

import argparse

import zmq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="tcp://127.0.0.1:*")
    ap.add_argument("--tasks", type=int, default=100)
    args = ap.parse_args()

    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 10000)
    push.setsockopt(zmq.SNDTIMEO, 10000)
    joins = push.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    push.bind(args.bind)
    print("Tasks on " + push.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
    if not joins.poll(30000):
        raise SystemExit("tasksource.py: no worker within 30 s")
    for i in range(args.tasks):
        push.send_string("task %d" % i)
    print("Sent %d tasks" % args.tasks, flush=True)
    push.disable_monitor()
    joins.close()
    push.close()  # lingers until the tasks are out
    ctx.term()


if __name__ == "__main__":
    main()
