"""Produce/consume round trips through librdkafka (confluent-kafka)."""
from __future__ import annotations

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME

from helpers import consume, create_topic, produce_and_wait, producer

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def test_keys_and_values_round_trip_unchanged(broker):
    topic = create_topic(broker.bootstrap)
    recs = [{"key": f"k{i}".encode(), "value": f"value-{i}".encode() * (i + 1)} for i in range(50)]
    produce_and_wait(producer(broker.bootstrap), topic, recs)
    got = consume(broker.bootstrap, topic, 50)
    assert [(m.key(), m.value()) for m in got] == [(r["key"], r["value"]) for r in recs]
    assert [m.offset() for m in got] == list(range(50))


def test_headers_including_duplicate_keys_round_trip_in_order(broker):
    topic = create_topic(broker.bootstrap)
    headers = [("a", b"1"), ("b", b""), ("a", b"2"), ("nullh", None), ("a", b"3")]
    produce_and_wait(producer(broker.bootstrap), topic, [{"key": b"k", "value": b"v", "headers": headers}])
    (m,) = consume(broker.bootstrap, topic, 1)
    assert m.headers() == headers


def test_null_value_and_empty_value_are_distinguished(broker):
    topic = create_topic(broker.bootstrap)
    produce_and_wait(producer(broker.bootstrap), topic, [
        {"key": b"tombstone", "value": None},
        {"key": b"empty", "value": b""},
        {"key": None, "value": b"nokey"},
    ])
    got = consume(broker.bootstrap, topic, 3)
    assert (got[0].key(), got[0].value()) == (b"tombstone", None)
    assert (got[1].key(), got[1].value()) == (b"empty", b"")
    assert (got[2].key(), got[2].value()) == (None, b"nokey")


def test_explicit_create_timestamps_are_preserved(broker):
    topic = create_topic(broker.bootstrap)
    ts = [1_600_000_000_000 + i * 1000 for i in range(5)] + [1_500_000_000_123]
    produce_and_wait(producer(broker.bootstrap), topic,
                     [{"value": f"v{i}".encode(), "timestamp": t} for i, t in enumerate(ts)])
    got = consume(broker.bootstrap, topic, len(ts))
    assert [m.timestamp() for m in got] == [(TIMESTAMP_CREATE_TIME, t) for t in ts]


@pytest.mark.parametrize("codec", CODECS)
def test_producer_compressed_batches_are_consumed_intact(broker, codec):
    topic = create_topic(broker.bootstrap)
    recs = [{"key": f"k{i}".encode(), "value": (f"payload {i} " * 40).encode(),
             "headers": [("h", str(i).encode())]} for i in range(200)]
    p = producer(broker.bootstrap, **{"compression.codec": codec, "linger.ms": 50, "batch.num.messages": 100})
    reports = produce_and_wait(p, topic, recs)
    assert sorted(m.offset() for m in reports) == list(range(200))
    got = consume(broker.bootstrap, topic, 200)
    assert [(m.key(), m.value(), m.headers()) for m in got] == [
        (r["key"], r["value"], r["headers"]) for r in recs]


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_each_acks_setting_delivers_all_messages(broker, acks):
    topic = create_topic(broker.bootstrap)
    recs = [{"value": f"acks-{acks}-{i}".encode()} for i in range(100)]
    reports = produce_and_wait(producer(broker.bootstrap, acks=acks), topic, recs)
    if acks != "0":
        assert [m.offset() for m in reports] == list(range(100))
    got = consume(broker.bootstrap, topic, 100)
    assert [m.value() for m in got] == [r["value"] for r in recs]


def test_keyed_messages_keep_per_partition_order_over_six_partitions(broker):
    topic = create_topic(broker.bootstrap, partitions=6)
    keys = [f"key-{k}".encode() for k in range(12)]
    recs = [{"key": keys[i % 12], "value": f"{i % 12}:{i // 12}".encode()} for i in range(1200)]
    reports = produce_and_wait(producer(broker.bootstrap), topic, recs)
    # same key -> same partition, and all 6 partitions used
    part_of_key = {}
    for r, m in zip(recs, reports):
        assert part_of_key.setdefault(r["key"], m.partition()) == m.partition()
    assert len(set(part_of_key.values())) > 1
    got = consume(broker.bootstrap, topic, 1200, partitions=range(6))
    seqs: dict[bytes, list[int]] = {}
    for m in got:
        assert part_of_key[m.key()] == m.partition()
        seqs.setdefault(m.key(), []).append(int(m.value().split(b":")[1]))
    assert all(s == list(range(100)) for s in seqs.values()), "per-key order broken"
    by_part: dict[int, list[int]] = {}
    for m in got:
        by_part.setdefault(m.partition(), []).append(m.offset())
    for p, offs in by_part.items():
        assert offs == list(range(len(offs))), f"partition {p} offsets not contiguous"


def test_delivery_reports_carry_the_assigned_offsets(broker):
    topic = create_topic(broker.bootstrap, partitions=2)
    recs = [{"value": f"v{i}".encode(), "partition": i % 2} for i in range(40)]
    reports = produce_and_wait(producer(broker.bootstrap), topic, recs)
    for i, m in enumerate(reports):
        assert (m.partition(), m.offset()) == (i % 2, i // 2)
    for part in (0, 1):
        got = consume(broker.bootstrap, topic, 20, partitions=(part,))
        by_offset = {m.offset(): m.value() for m in got}
        for i, m in enumerate(reports):
            if m.partition() == part:
                assert by_offset[m.offset()] == recs[i]["value"]
