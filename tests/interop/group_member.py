"""A consumer-group member run as a subprocess by test_consumer_groups.py, so a test can kill it
with SIGKILL (no LeaveGroup, no commit) exactly as a crashed process would die.

Usage: python group_member.py CONFIG_JSON TOPIC MODE [DELAY_MS]
  MODE "idle":    poll, report assignments, do not read message contents.
  MODE "process": for every message: wait DELAY_MS (the "work"), commit its offset+1
                  synchronously, then report it.
Reports are JSON lines on stdout:
  {"assigned": [partitions...]}       after every assignment change (full current set)
  {"revoked": [partitions...]}        partitions taken away
  {"processed": [partition, offset, value]}
  {"stalled": true}                   once polling has stopped for a "stall"
  {"closed": true}                    after a "close", before exiting
stdin commands: "stall" stops polling (to exceed max.poll.interval.ms), "close" closes
cleanly and exits.
"""
from __future__ import annotations

import json
import sys
import threading
import time

from confluent_kafka import Consumer, TopicPartition


def main() -> None:
    conf = json.loads(sys.argv[1])
    topic, mode = sys.argv[2], sys.argv[3]
    delay_s = float(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0.0
    owned: set[int] = set()
    out_lock = threading.Lock()

    def emit(obj) -> None:
        with out_lock:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()

    incremental = conf.get("partition.assignment.strategy") == "cooperative-sticky"

    def on_assign(c, parts):
        if incremental:
            c.incremental_assign(parts)
        owned.update(p.partition for p in parts)
        emit({"assigned": sorted(owned)})

    def on_revoke(c, parts):
        if incremental:
            c.incremental_unassign(parts)
        gone = {p.partition for p in parts}
        owned.difference_update(gone)
        emit({"revoked": sorted(gone)})
        emit({"assigned": sorted(owned)})

    def on_lost(c, parts):
        on_revoke(c, parts)

    c = Consumer(conf)
    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    commands: list[str] = []

    def read_stdin():
        for line in sys.stdin:
            commands.append(line.strip())

    threading.Thread(target=read_stdin, daemon=True).start()
    emit({"started": True})
    while True:
        if "stall" in commands:
            emit({"stalled": True})
            threading.Event().wait()
        if "close" in commands:
            c.close()
            emit({"closed": True})
            return
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        if mode == "process":
            time.sleep(delay_s)
            c.commit(offsets=[TopicPartition(m.topic(), m.partition(), m.offset() + 1)],
                     asynchronous=False)
            emit({"processed": [m.partition(), m.offset(), m.value().decode()]})


if __name__ == "__main__":
    main()
