"""Shared client-side helpers (confluent-kafka) for the interop tests."""
from __future__ import annotations

import itertools
import os
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

_counter = itertools.count()


def topic_name(prefix: str = "t") -> str:
    return f"{prefix}-{os.getpid()}-{next(_counter)}-{uuid.uuid4().hex[:6]}"


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})


def create_topic(bootstrap: str, name: str | None = None, partitions: int = 1,
                 config: dict[str, str] | None = None) -> str:
    """Create a topic via CreateTopics and wait until metadata shows all partitions."""
    name = name or topic_name()
    a = admin(bootstrap)
    futs = a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                     config=config or {})], request_timeout=15)
    futs[name].result(timeout=20)
    wait_for_partitions(a, name, partitions)
    wait_until_served(bootstrap, name, partitions)
    return name


def wait_until_served(bootstrap: str, name: str, partitions: int, timeout: float = 10.0) -> None:
    """Until a Fetch of every partition answers without error. Kafka's Metadata can show the new
    leader a moment before that leader serves the partition (NOT_LEADER_OR_FOLLOWER meanwhile)."""
    import kafka_raw as kr
    port = int(bootstrap.rsplit(":", 1)[1])
    deadline = time.monotonic() + timeout
    with kr.connection(port) as s:
        for p in range(partitions):
            while True:
                (part,) = kr.fetch(s, name, p, 0, max_wait_ms=0)[name]
                if part["error_code"] == 0:
                    break
                assert part["error_code"] in (3, 5, 6), f"{name}/{p}: fetch error {part['error_code']}"
                assert time.monotonic() < deadline, f"{name}/{p} not served within {timeout}s"
                time.sleep(0.05)


def wait_for_partitions(a: AdminClient, name: str, partitions: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        md = a.list_topics(topic=name, timeout=5)
        t = md.topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions and all(
                p.leader == 1 for p in t.partitions.values()):
            return
        last = t
        time.sleep(0.1)
    raise AssertionError(f"topic {name} not visible with {partitions} partitions led by node 1: {last}")


def producer(bootstrap: str, **conf) -> Producer:
    c = {"bootstrap.servers": bootstrap, "broker.address.family": "v4", "linger.ms": 5}
    c.update({k.replace("_", "."): v for k, v in conf.items()})
    return Producer(c)


def produce_and_wait(p: Producer, topic: str, records, timeout: float = 30.0):
    """Produce records (dicts of produce() kwargs); return delivery-report messages in send order."""
    reports: list = [None] * len(records)

    def cb_for(i):
        def cb(err, msg):
            reports[i] = (err, msg)
        return cb

    for i, r in enumerate(records):
        while True:
            try:
                p.produce(topic, on_delivery=cb_for(i), **r)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    remaining = p.flush(timeout)
    assert remaining == 0, f"{remaining} messages still undelivered after {timeout}s"
    errors = [(i, e) for i, (e, _m) in enumerate(reports) if e is not None]
    assert not errors, f"delivery errors: {errors[:5]}"
    return [m for (_e, m) in reports]


def consumer(bootstrap: str, **conf) -> Consumer:
    c = {
        "bootstrap.servers": bootstrap,
        "broker.address.family": "v4",
        "group.id": f"g-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
    }
    c.update(conf)
    return Consumer(c)


def consume(bootstrap: str, topic: str, n: int, partitions=(0,), timeout: float = 20.0,
            offset: int = OFFSET_BEGINNING, **conf):
    """Assign the partitions from `offset` and return the first n messages (fails on timeout)."""
    c = consumer(bootstrap, **conf)
    try:
        c.assign([TopicPartition(topic, p, offset) for p in partitions])
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise KafkaException(m.error())
            out.append(m)
        assert len(out) == n, f"consumed {len(out)} of {n} messages from {topic} within {timeout}s"
        return out
    finally:
        c.close()
