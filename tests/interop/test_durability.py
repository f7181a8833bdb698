"""Acknowledged data survives broker process death (kill -9) and restarts."""
from __future__ import annotations

import pytest
from confluent_kafka import TopicPartition

from helpers import consume, consumer, create_topic, produce_and_wait, producer

pytestmark = pytest.mark.runnel_only("kill -9, SIGTERM and restart of the broker process and its data dir")

PARTITIONS = 3


def _produce_keyed(bootstrap, topic, n, flush_each=False):
    p = producer(bootstrap, acks="all", **{"linger.ms": 1})
    recs = [{"key": f"key-{i % 7}".encode(), "value": f"rec-{i}".encode(), "partition": i % PARTITIONS}
            for i in range(n)]
    reports = []
    if flush_each:
        for r in recs:
            reports += produce_and_wait(p, topic, [r])
    else:
        reports = produce_and_wait(p, topic, recs)
    return recs, reports


def _assert_all_acknowledged_present(bootstrap, topic, recs, reports):
    acked: dict[int, list[tuple[int, bytes]]] = {}
    for r, m in zip(recs, reports):
        acked.setdefault(m.partition(), []).append((m.offset(), r["value"]))
    c = consumer(bootstrap)
    try:
        for part, items in acked.items():
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, part), timeout=10)
            assert (lo, hi) == (0, len(items)), f"partition {part}: watermarks {(lo, hi)}, acked {len(items)}"
    finally:
        c.close()
    for part, items in acked.items():
        got = consume(bootstrap, topic, len(items), partitions=(part,), timeout=30)
        assert [(m.offset(), m.value()) for m in got] == items, f"partition {part} differs after restart"


def test_acknowledged_records_survive_kill9_with_flush_every_message(broker_factory):
    b = broker_factory({"log.flush.interval.messages": "1"})
    topic = create_topic(b.bootstrap, partitions=PARTITIONS)
    recs, reports = _produce_keyed(b.bootstrap, topic, 300, flush_each=True)
    recs2, reports2 = _produce_keyed(b.bootstrap, topic, 600)
    b.kill9()
    b.start()
    _assert_all_acknowledged_present(b.bootstrap, topic, recs + recs2, reports + reports2)


def test_acknowledged_records_survive_kill9_with_default_flush_settings(broker):
    """With default settings the broker does not fsync per message; data written to the
    page cache survives the death of the broker process (kill -9). Only an OS crash or
    power loss could lose the unflushed tail, which this test does not (and cannot) cover."""
    topic = create_topic(broker.bootstrap, partitions=PARTITIONS)
    recs, reports = _produce_keyed(broker.bootstrap, topic, 2000)
    broker.kill9()
    broker.start()
    _assert_all_acknowledged_present(broker.bootstrap, topic, recs, reports)
    # and the log is still writable at the right offsets after recovery
    more = produce_and_wait(producer(broker.bootstrap), topic, [{"value": b"after", "partition": 0}])
    assert more[0].offset() == sum(1 for m in reports if m.partition() == 0)


def test_sigterm_exits_cleanly_and_data_persists_across_graceful_restart(broker):
    topic = create_topic(broker.bootstrap)
    produce_and_wait(producer(broker.bootstrap), topic, [{"value": f"g{i}".encode()} for i in range(50)])
    rc = broker.terminate()
    assert rc == 0, f"broker exit code after SIGTERM: {rc}"
    broker.start()
    got = consume(broker.bootstrap, topic, 50)
    assert [m.value() for m in got] == [f"g{i}".encode() for i in range(50)]


def test_topic_configs_and_partition_counts_survive_restart(broker):
    topic = create_topic(broker.bootstrap, partitions=4, config={"retention.ms": "1234567"})
    broker.kill9()
    broker.start()
    from confluent_kafka.admin import ConfigResource
    from helpers import admin, wait_for_partitions
    a = admin(broker.bootstrap)
    wait_for_partitions(a, topic, 4)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    cfg = a.describe_configs([res])[res].result(timeout=20)
    assert cfg["retention.ms"].value == "1234567"


def test_records_spanning_many_small_segments_survive_kill9_and_read_from_any_offset(broker_factory):
    b = broker_factory({"log.segment.bytes": "16384"})
    topic = create_topic(b.bootstrap)
    recs = [{"key": f"k{i}".encode(), "value": (f"seg-{i}-" + "x" * 200).encode()} for i in range(1500)]
    reports = produce_and_wait(producer(b.bootstrap, **{"batch.num.messages": 20}), topic, recs)
    assert [m.offset() for m in reports] == list(range(1500))
    files = [p for p in b.data_dir.rglob("*") if p.is_file()]
    assert len(files) > 10, f"expected many segment files with log.segment.bytes=16384, found {len(files)}"
    b.kill9()
    b.start()
    got = consume(b.bootstrap, topic, 1500, timeout=30)
    assert [m.value() for m in got] == [r["value"] for r in recs]
    for start in (1, 733, 1499):
        (first,) = consume(b.bootstrap, topic, 1, offset=start)
        assert (first.offset(), first.value()) == (start, recs[start]["value"])
