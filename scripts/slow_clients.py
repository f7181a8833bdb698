#!/usr/bin/env python3
"""Load for scripts/bench-slow-clients.sh: holds idle connections and parked long-poll Fetches
open against a broker until killed.

    slow_clients.py PORT TOPIC IDLE_CONNECTIONS LONG_POLLS [MAX_WAIT_MS]

Each long poll is a Fetch v4 of partition 0 of TOPIC at its end (offset 0 of an empty topic)
waiting up to MAX_WAIT_MS for one byte; when one is answered it is sent again. Prints "ready"
once every connection is open and every poll sent, and on SIGTERM how many polls were
answered (on an idle topic: only by their max wait).
"""
import selectors
import signal
import socket
import struct
import sys


def fetch_frame(topic: str, correlation_id: int, max_wait_ms: int) -> bytes:
    name = topic.encode()
    body = (struct.pack(">iiiib", -1, max_wait_ms, 1, 1 << 20, 0)
            + struct.pack(">ih", 1, len(name)) + name
            + struct.pack(">iiqi", 1, 0, 0, 1 << 20))
    header = struct.pack(">hhih", 1, 4, correlation_id, 3) + b"raw"
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def main() -> None:
    port, topic = int(sys.argv[1]), sys.argv[2]
    idle, polls = int(sys.argv[3]), int(sys.argv[4])
    max_wait_ms = int(sys.argv[5]) if len(sys.argv) > 5 else 30_000
    answered = 0

    def report(*_):
        print(f"long polls answered: {answered}", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, report)
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(idle)]
    sel = selectors.DefaultSelector()
    for i in range(polls):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(fetch_frame(topic, i, max_wait_ms))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, bytearray())
    print(f"ready: {len(held)} idle connections, {polls} long polls", flush=True)
    while True:
        for key, _ in sel.select():
            s, buf = key.fileobj, key.data
            data = s.recv(1 << 16)
            if not data:
                sys.exit("the broker closed a long-poll connection")
            buf += data
            while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">i", buf[:4])[0]:
                del buf[:4 + struct.unpack(">i", buf[:4])[0]]
                answered += 1
                s.setblocking(True)
                s.sendall(fetch_frame(topic, answered, max_wait_ms))
                s.setblocking(False)


if __name__ == "__main__":
    main()
