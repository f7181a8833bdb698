"""Idempotent producer (InitProducerId + sequence numbers) through librdkafka."""
from __future__ import annotations

from confluent_kafka import TopicPartition

from helpers import consume, consumer, create_topic, produce_and_wait, producer

PARTITIONS = 4
PER_PARTITION = 2500


def test_idempotent_producer_delivers_every_message_exactly_once_and_in_order(broker):
    topic = create_topic(broker.bootstrap, partitions=PARTITIONS)
    p = producer(broker.bootstrap, **{"enable.idempotence": True, "max.in.flight.requests.per.connection": 5,
                                      "acks": "all", "linger.ms": 2, "batch.num.messages": 200})
    recs = [{"partition": i % PARTITIONS, "key": str(i % PARTITIONS).encode(), "value": str(i).encode()}
            for i in range(PARTITIONS * PER_PARTITION)]
    reports = produce_and_wait(p, topic, recs, timeout=60)
    for i, m in enumerate(reports):
        assert (m.partition(), m.offset()) == (i % PARTITIONS, i // PARTITIONS)

    c = consumer(broker.bootstrap)
    try:
        for part in range(PARTITIONS):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, part), timeout=10)
            assert (lo, hi) == (0, PER_PARTITION), f"partition {part} watermarks"
    finally:
        c.close()

    for part in range(PARTITIONS):
        got = consume(broker.bootstrap, topic, PER_PARTITION, partitions=(part,), timeout=30)
        assert [int(m.value()) for m in got] == list(range(part, PARTITIONS * PER_PARTITION, PARTITIONS))
        assert [m.offset() for m in got] == list(range(PER_PARTITION))
