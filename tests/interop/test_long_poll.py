"""Fetch long-polling: fetch.wait.max.ms / fetch.min.bytes are honoured."""
from __future__ import annotations

import time

from confluent_kafka import OFFSET_END, TopicPartition

import kafka_raw
from helpers import consumer, create_topic, produce_and_wait, producer


def _long_poll_consumer(bootstrap, topic, **conf):
    c = consumer(bootstrap, **{"fetch.wait.max.ms": 500, "fetch.min.bytes": 1_000_000,
                               "fetch.error.backoff.ms": 50, **conf})
    c.assign([TopicPartition(topic, 0, OFFSET_END)])
    return c


def test_fetch_on_empty_topic_waits_about_max_wait_and_returns_nothing(broker):
    """A raw Fetch (max_wait 500 ms, min_bytes 1 MB) on an empty partition is parked
    for roughly max_wait: not answered at once, and not held much longer."""
    topic = create_topic(broker.bootstrap)
    with kafka_raw.connect(broker.port) as s:
        for _ in range(3):
            t0 = time.monotonic()
            resp = kafka_raw.fetch(s, topic, 0, offset=0, max_wait_ms=500, min_bytes=1_000_000)
            elapsed = time.monotonic() - t0
            (part,) = resp[topic]
            assert part["error_code"] == 0
            assert part["high_watermark"] == 0
            assert part["records"] in (b"", None)
            assert 0.3 <= elapsed <= 3.0, f"empty fetch took {elapsed:.3f}s, expected about 0.5s"


def test_librdkafka_consumer_poll_on_empty_topic_returns_no_message(broker):
    topic = create_topic(broker.bootstrap)
    c = _long_poll_consumer(broker.bootstrap, topic)
    try:
        t0 = time.monotonic()
        msgs = []
        while time.monotonic() - t0 < 2.0:
            m = c.poll(0.5)
            if m is not None:
                msgs.append(m)
        assert msgs == [] or all(m.error() is not None and m.error().code() < 0 for m in msgs), \
            f"got messages from an empty topic: {[(m.error(), m.value()) for m in msgs]}"
    finally:
        c.close()


def test_message_produced_to_a_waiting_consumer_arrives_promptly(broker):
    topic = create_topic(broker.bootstrap)
    # min.bytes 1 + long max wait: the parked fetch must be completed by the new data
    c = _long_poll_consumer(broker.bootstrap, topic, **{"fetch.wait.max.ms": 5000, "fetch.min.bytes": 1})
    try:
        # let the consumer resolve the end offset and park a fetch on the broker
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:
            assert c.poll(0.2) is None
        p = producer(broker.bootstrap, **{"linger.ms": 0})
        p.list_topics(topic, timeout=10)  # connect before starting the clock
        t0 = time.monotonic()
        produce_and_wait(p, topic, [{"value": b"wake up"}])
        got = None
        while time.monotonic() - t0 < 5:
            m = c.poll(0.05)
            if m is not None and m.error() is None:
                got = m
                break
        elapsed = time.monotonic() - t0
        assert got is not None and got.value() == b"wake up"
        assert elapsed < 2.0, f"message took {elapsed:.2f}s to reach the long-polling consumer"
    finally:
        c.close()
