"""One consumer group, four client implementations: the Java client, librdkafka
(confluent-kafka), franz-go and Runnel's own client (`runnel consume --group`). Whoever leads
computes an assignment the others must accept: every partition is assigned exactly once (as
the coordinator's DescribeGroups shows it, and as each member itself reports), and each member
then consumes the records of its partitions, every record exactly once.
"""
from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from conftest import runnel_bin
from helpers import create_topic, produce_and_wait, producer
from jvm import franz_member, java_member, wait_until
from test_consumer_groups import Member

FAST = {"group.initial.rebalance.delay.ms": "0"}
PARTITIONS = 8


class RunnelConsumer:
    """`runnel consume --group --json`: a Runnel client member printing the records it reads."""

    def __init__(self, bootstrap: str, topic: str, group: str, strategy: str):
        self.proc = subprocess.Popen(
            [runnel_bin(), "consume", topic, "--group", group, "--json", "--from-beginning",
             "--property", f"partition.assignment.strategy={strategy}", "--property", "heartbeat.interval.ms=500",
             "--property", "session.timeout.ms=10000", "--property", "client.id=runnel-member",
             "--bootstrap-server", bootstrap],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.records: list[dict] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self._lock:
                self.records.append(json.loads(line))

    def consumed(self) -> list[dict]:
        with self._lock:
            return list(self.records)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGINT/SIGTERM: the tool leaves the group on its way out
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def described(bootstrap: str, group: str) -> dict[str, set[tuple[str, int]]] | None:
    """client id -> assigned partitions, from DescribeGroups, once the group is Stable."""
    a = AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})
    try:
        d = a.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
    except KafkaException:  # e.g. NOT_COORDINATOR from Kafka while the group's partition loads
        return None
    if d.state.name != "STABLE":
        return None
    return {m.client_id: {(tp.topic, tp.partition) for tp in m.assignment.topic_partitions} for m in d.members}


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_java_librdkafka_franz_go_and_runnel_members_share_one_group(broker_factory, strategy):
    b = broker_factory(FAST)
    t = create_topic(b.bootstrap, partitions=PARTITIONS)
    group = f"mixed-{strategy}-{uuid.uuid4().hex[:6]}"
    everything = {(t, p) for p in range(PARTITIONS)}
    java = java_member(b.bootstrap, group, t, strategy, **{"client.id": "java-member"})
    franz = franz_member(b.bootstrap, group, t, strategy)
    rdk = Member(b.bootstrap, t, group, strategy, mode="process", client_id="rdkafka-member")
    runnel = RunnelConsumer(b.bootstrap, t, group, strategy)
    try:
        last: dict = {}

        def settled() -> bool:
            nonlocal last
            last = described(b.bootstrap, group) or {}
            if sorted(last) != ["java-member", "kgo", "rdkafka-member", "runnel-member"]:
                return False
            owned = list(last.values())
            if sum(len(o) for o in owned) != PARTITIONS or set().union(*owned) != everything:
                return False
            # Each member's own view agrees with the coordinator's.
            return (java.owned() == last["java-member"] and franz.owned() == last["kgo"]
                    and {(t, p) for p in rdk.owned()} == last["rdkafka-member"])

        wait_until(settled, 90, lambda: f"every partition assigned exactly once to 4 members, last {last}; "
                                        f"java {java.errors()[-300:]} runnel {runnel.proc.poll()}")
        assert all(len(o) == 2 for o in last.values()), last  # both strategies balance 8 over 4

        produce_and_wait(producer(b.bootstrap), t, [{"value": b"%d" % i, "partition": i % PARTITIONS}
                                                    for i in range(80)])

        def consumed():
            return {
                "java-member": [(r["partition"], r["value"]) for r in java.consumed()],
                "kgo": [(r["partition"], r["value"]) for r in franz.consumed()],
                "rdkafka-member": [(p, v) for p, _o, v in rdk.processed],
                "runnel-member": [(r["partition"], r["value"]) for r in runnel.consumed()],
            }

        wait_until(lambda: sum(len(v) for v in consumed().values()) >= 80, 60,
                   lambda: {k: len(v) for k, v in consumed().items()})
        got = consumed()
        values = sorted(v for recs in got.values() for _p, v in recs)
        assert values == sorted(str(i) for i in range(80)), "every record exactly once"
        for member, recs in got.items():
            parts = {(t, p) for p, _v in recs}
            assert parts == last[member], (member, parts, last[member])  # its own partitions, all of them
    finally:
        runnel.close()
        rdk.close()
        for m in (java, franz):
            m.close()
