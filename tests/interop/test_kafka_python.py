"""kafka-python (pure-Python client) producer, consumer and admin against Runnel."""
from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from helpers import consume, create_topic, produce_and_wait, producer, topic_name

COMMON = {"request_timeout_ms": 15000, "api_version_auto_timeout_ms": 10000}


def _producer(bootstrap, **kw):
    return KafkaProducer(bootstrap_servers=bootstrap, **COMMON, **kw)


def _consumer(bootstrap, topic, partitions=(0,)):
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", consumer_timeout_ms=10000, **COMMON)
    c.assign([TopicPartition(topic, p) for p in partitions])
    c.seek_to_beginning()
    return c


def _read(c, n, timeout=20.0):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        for recs in c.poll(timeout_ms=500).values():
            out.extend(recs)
    assert len(out) == n, f"read {len(out)} of {n} records"
    return sorted(out, key=lambda r: (r.partition, r.offset))


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_kafka_python_round_trip_with_keys_headers_and_compression(broker, codec):
    topic = create_topic(broker.bootstrap)
    p = _producer(broker.bootstrap, compression_type=codec, linger_ms=20)
    futs = [p.send(topic, key=f"k{i}".encode(), value=(f"val {i} " * 20).encode(),
                   headers=[("h", str(i).encode()), ("h", b"dup")], partition=0) for i in range(100)]
    p.flush(30)
    metas = [f.get(timeout=30) for f in futs]
    assert [m.offset for m in metas] == list(range(100))
    p.close()
    c = _consumer(broker.bootstrap, topic)
    try:
        got = _read(c, 100)
    finally:
        c.close()
    assert [(r.key, r.value, list(r.headers)) for r in got] == [
        (f"k{i}".encode(), (f"val {i} " * 20).encode(), [("h", str(i).encode()), ("h", b"dup")])
        for i in range(100)]


def test_kafka_python_admin_creates_and_deletes_topics(broker):
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, **COMMON)
    try:
        name = topic_name("kp")
        a.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)], timeout_ms=15000)
        deadline = time.monotonic() + 10
        while name not in a.list_topics() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert name in a.list_topics()
        (desc,) = a.describe_topics([name])
        assert len(desc["partitions"]) == 3
        a.delete_topics([name], timeout_ms=15000)
        deadline = time.monotonic() + 10
        while name in a.list_topics() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert name not in a.list_topics()
    finally:
        a.close()


def test_kafka_python_offset_queries_match_produced_data(broker):
    topic = create_topic(broker.bootstrap, partitions=2)
    base = 1_650_000_000_000
    p = _producer(broker.bootstrap)
    for i in range(10):
        p.send(topic, value=b"x", partition=0, timestamp_ms=base + i * 1000)
    for i in range(4):
        p.send(topic, value=b"y", partition=1, timestamp_ms=base + i * 1000)
    p.flush(30)
    p.close()
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False, **COMMON)
    try:
        tp0, tp1 = TopicPartition(topic, 0), TopicPartition(topic, 1)
        assert c.beginning_offsets([tp0, tp1]) == {tp0: 0, tp1: 0}
        assert c.end_offsets([tp0, tp1]) == {tp0: 10, tp1: 4}
        found = c.offsets_for_times({tp0: base + 2500, tp1: base + 3000})
        assert (found[tp0].offset, found[tp0].timestamp) == (3, base + 3000)
        assert (found[tp1].offset, found[tp1].timestamp) == (3, base + 3000)
        assert c.offsets_for_times({tp1: base + 10_000})[tp1] is None
    finally:
        c.close()


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_batches_compressed_by_one_client_are_read_by_the_other(broker, codec):
    """librdkafka compresses -> kafka-python decompresses, and kafka-python compresses ->
    librdkafka decompresses, through the broker's stored batches."""
    t1 = create_topic(broker.bootstrap)
    recs = [{"key": f"k{i}".encode(), "value": (f"rd {i} " * 25).encode()} for i in range(120)]
    produce_and_wait(producer(broker.bootstrap, **{"compression.codec": codec, "linger.ms": 50}), t1, recs)
    c = _consumer(broker.bootstrap, t1)
    try:
        got = _read(c, 120)
    finally:
        c.close()
    assert [(r.key, r.value) for r in got] == [(r["key"], r["value"]) for r in recs]

    t2 = create_topic(broker.bootstrap)
    p = _producer(broker.bootstrap, compression_type=None if codec == "none" else codec, linger_ms=50)
    for r in recs:
        p.send(t2, key=r["key"], value=r["value"], partition=0)
    p.flush(30)
    p.close()
    got2 = consume(broker.bootstrap, t2, 120)
    assert [(m.key(), m.value()) for m in got2] == [(r["key"], r["value"]) for r in recs]
