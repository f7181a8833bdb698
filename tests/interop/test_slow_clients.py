"""Slow and waiting clients do not stall a fresh one (issue 8, reproduction 4).

600 connections that each sent a frame's 4-byte size and 3 bytes of its body, or 600 long-poll
Fetches parked on an idle topic, are more than the default `queued.max.requests` (500). A
kafka-python producer on a fresh connection must still deliver within its request timeout:
Kafka counts only whole requests against the queue and parks waiting fetches in a purgatory
that holds no slot.

Only the wire protocol and the `broker` fixture are used, so the test runs against Kafka too.
"""
from __future__ import annotations

import socket

from kafka import KafkaProducer

import kafka_raw
from helpers import create_topic

SLOW_CONNECTIONS = 600
# Longer than the producer needs, shorter than the test's patience.
LONG_POLL_MS = 30_000


def _fresh_producer_delivers(bootstrap: str, topic: str) -> None:
    p = KafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=10_000,
                      api_version_auto_timeout_ms=10_000, max_block_ms=20_000, linger_ms=0)
    try:
        md = p.send(topic, b"from a fresh connection").get(timeout=30)
        assert md.offset == 0, f"delivered at offset {md.offset}"
    finally:
        p.close(timeout=5)


def _open(port: int, first_bytes) -> list[socket.socket]:
    socks = []
    try:
        for i in range(SLOW_CONNECTIONS):
            s = kafka_raw.connect(port)
            s.sendall(first_bytes(i))
            socks.append(s)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def _fetch_frame(topic: str, correlation_id: int) -> bytes:
    """A Fetch v4 for partition 0 from offset 0 that waits up to LONG_POLL_MS for 1 byte."""
    body = (kafka_raw.i32(-1) + kafka_raw.i32(LONG_POLL_MS) + kafka_raw.i32(1)
            + kafka_raw.i32(1 << 20) + kafka_raw.i8(0)
            + kafka_raw.array([kafka_raw.string(topic) + kafka_raw.array(
                [kafka_raw.i32(0) + kafka_raw.i64(0) + kafka_raw.i32(1 << 20)])]))
    return kafka_raw.frame(kafka_raw.request_header_v1(kafka_raw.API_FETCH, 4, correlation_id) + body)


def test_a_kafka_python_producer_delivers_while_600_connections_have_sent_half_a_frame(broker):
    topic = create_topic(broker.bootstrap)
    slow = _open(broker.port, lambda i: kafka_raw.i32(100) + b"\x01\x02\x03")
    try:
        _fresh_producer_delivers(broker.bootstrap, topic)
    finally:
        for s in slow:
            s.close()


def test_a_kafka_python_producer_delivers_while_600_long_polls_wait_on_an_idle_topic(broker):
    idle = create_topic(broker.bootstrap)
    topic = create_topic(broker.bootstrap)
    polls = _open(broker.port, lambda i: _fetch_frame(idle, i + 1))
    try:
        _fresh_producer_delivers(broker.bootstrap, topic)
        # The long polls were parked, not answered: nothing arrived on the idle topic.
        for s in polls[:10]:
            s.settimeout(0.05)
            try:
                data = s.recv(1)
            except socket.timeout:
                data = None
            assert data is None, "a long poll on an idle topic was answered early"
    finally:
        for s in polls:
            s.close()
