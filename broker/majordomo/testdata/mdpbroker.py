"""A minimal Majordomo broker (spec 7/MDP 0.1 with spec 8/MMI) in pyzmq,
for zmqflow's interop tests: a libzmq broker for our client and worker,
written from the specs.

usage: mdpbroker.py ENDPOINT INTERVAL_MS LIVENESS

Binds one ROUTER for clients and workers and prints "READY <endpoint>"
(resolved). Each service has a request queue and a list of idle workers,
least recently used first. Workers are sent HEARTBEAT every interval and
dropped after LIVENESS silent intervals; a worker's invalid or unexpected
command (HEARTBEAT or REPLY before READY, READY twice, an "mmi." service)
is answered with DISCONNECT. mmi.service replies "200" or "404", other
"mmi." services "501". Prints "WORKERS n" whenever the number of
registered workers changes. Exits when standard input ends, after sending
DISCONNECT to every worker; "crash" on standard input makes it exit at
once, without a word to anyone (a broker that crashed).
"""

import os
import sys
import time

import zmq

MDPC, MDPW = b"MDPC01", b"MDPW01"
READY, REQUEST, REPLY, HEARTBEAT, DISCONNECT = b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"


def main():
    interval = int(sys.argv[2]) / 1000.0
    liveness = int(sys.argv[3])
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 100)
    sock.bind(sys.argv[1])
    print("READY", sock.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)

    workers = {}   # identity -> {"service", "expiry", "busy"}
    services = {}  # name -> {"requests": [(client, body)], "waiting": [identity]}
    reported = 0

    def service(name):
        return services.setdefault(name, {"requests": [], "waiting": []})

    def to_worker(ident, cmd, *rest):
        sock.send_multipart([ident, b"", MDPW, cmd] + list(rest))

    def dispatch(svc):
        while svc["requests"] and svc["waiting"]:
            client, body = svc["requests"].pop(0)
            ident = svc["waiting"].pop(0)
            workers[ident]["busy"] = True
            to_worker(ident, REQUEST, client, b"", *body)

    def delete(ident, disconnect):
        if disconnect:
            to_worker(ident, DISCONNECT)
        w = workers.pop(ident, None)
        if w is not None:
            waiting = services[w["service"]]["waiting"]
            if ident in waiting:
                waiting.remove(ident)

    stdin = sys.stdin.fileno()
    poller = zmq.Poller()
    poller.register(stdin, zmq.POLLIN)
    poller.register(sock, zmq.POLLIN)
    next_beat = time.monotonic() + interval
    while True:
        events = dict(poller.poll(interval * 1000))
        if events.get(stdin):
            data = os.read(stdin, 4096)
            if not data:
                break
            if b"crash" in data:
                os._exit(1)
        if events.get(sock) == zmq.POLLIN:
            frames = sock.recv_multipart()
            sender = frames[0]
            if len(frames) >= 4 and frames[1] == b"" and frames[2] == MDPC:
                name, body = frames[3], frames[4:]
                if name.startswith(b"mmi."):
                    code = b"501"
                    if name == b"mmi.service":
                        found = any(w["service"] == (body[0] if body else b"") for w in workers.values())
                        code = b"200" if found else b"404"
                    sock.send_multipart([sender, b"", MDPC, name, code])
                else:
                    svc = service(name)
                    svc["requests"].append((sender, body))
                    dispatch(svc)
            elif len(frames) >= 4 and frames[1] == b"" and frames[2] == MDPW:
                cmd, rest = frames[3], frames[4:]
                w = workers.get(sender)
                if w is not None:
                    w["expiry"] = time.monotonic() + interval * liveness
                if cmd == READY and w is None and len(rest) == 1 and not rest[0].startswith(b"mmi."):
                    workers[sender] = {"service": rest[0], "busy": False,
                                       "expiry": time.monotonic() + interval * liveness}
                    svc = service(rest[0])
                    svc["waiting"].append(sender)
                    dispatch(svc)
                elif cmd == REPLY and w is not None and w["busy"] and len(rest) >= 2 and rest[1] == b"":
                    sock.send_multipart([rest[0], b"", MDPC, w["service"]] + rest[2:])
                    w["busy"] = False
                    svc = service(w["service"])
                    svc["waiting"].append(sender)
                    dispatch(svc)
                elif cmd == HEARTBEAT and w is not None:
                    pass
                elif cmd == DISCONNECT:
                    delete(sender, False)
                else:
                    delete(sender, True)
            else:
                print("E: invalid message", frames, flush=True)
        now = time.monotonic()
        if now >= next_beat:
            next_beat = now + interval
            for ident, w in list(workers.items()):
                if now > w["expiry"]:
                    delete(ident, False)
                else:
                    to_worker(ident, HEARTBEAT)
        if len(workers) != reported:
            reported = len(workers)
            print("WORKERS", reported, flush=True)
    for ident in list(workers):
        to_worker(ident, DISCONNECT)
    sock.close()
    os._exit(0)


if __name__ == "__main__":
    main()
