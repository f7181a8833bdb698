"""Differential: DescribeTopicPartitions (API 75, KIP-966), with Kafka's own answers as the
expectation (measured on Kafka 4.4.0; run with `--broker kafka` to check that they still hold).

Kafka 4.x's `kafka-topics --describe` reads partitions with this API. Every field is compared:
topic error, name, whether a topic id is set, is_internal, authorized operations, and per
partition error, index, leader, leader epoch, replicas, ISR, ELR, last known ELR and offline
replicas; and the next cursor.
"""
from __future__ import annotations

import time
import uuid

import pytest

import kafka_raw as kr
from helpers import create_topic
from kafka_raw import compact_array, compact_string, i8, i32, uvarint

API_DESCRIBE_TOPIC_PARTITIONS = 75
UNKNOWN_SERVER_ERROR, UNKNOWN_TOPIC, INVALID_TOPIC, INVALID_REQUEST = -1, 3, 17, 42
TOPIC_OPERATIONS = 3576  # READ WRITE CREATE DELETE ALTER DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS
NO_OPERATIONS = -(1 << 31)
PARTITION = (0, 1, 0, [1], [1], [], [], [])  # error, leader, epoch, replicas, isr, elr, last elr, offline


def describe(s, topics: list[str], limit: int = 2000, cursor: tuple[str, int] | None = None):
    """([(error, name, has id, internal, operations, [(index, *PARTITION fields)])], cursor)."""
    body = compact_array([compact_string(t) + uvarint(0) for t in topics]) + i32(limit)
    body += i8(-1) if cursor is None else i8(1) + compact_string(cursor[0]) + i32(cursor[1]) + uvarint(0)
    body += uvarint(0)
    header = kr.request_header_v2(API_DESCRIBE_TOPIC_PARTITIONS, 0, next(kr._corr))
    r = kr.roundtrip(s, header, body, flexible_response_header=True)
    r.i32()  # throttle_time_ms

    def ints(rr):
        return rr.compact_array(lambda x: x.i32())

    def partition(rr):
        err, index, leader, epoch = rr.i16(), rr.i32(), rr.i32(), rr.i32()
        out = (index, err, leader, epoch, ints(rr), ints(rr), ints(rr), ints(rr), ints(rr))
        rr.tagged_fields()
        return out

    def topic(rr):
        err, name, topic_id, internal = rr.i16(), rr.compact_string(), rr.take(16), rr.bool()
        parts, ops = rr.compact_array(partition) or [], rr.i32()
        rr.tagged_fields()
        return err, name, topic_id != bytes(16), internal, ops, parts
    topics_out = r.compact_array(topic) or []
    next_cursor = None
    if r.i8() >= 0:
        next_cursor = (r.compact_string(), r.i32())
        r.tagged_fields()
    r.tagged_fields()
    assert r.remaining() == 0
    return topics_out, next_cursor


def ok(name: str, partitions, internal: bool = False) -> tuple:
    return 0, name, True, internal, TOPIC_OPERATIONS, [(p, *PARTITION) for p in partitions]


def failed(name: str, error: int, operations: int = TOPIC_OPERATIONS) -> tuple:
    return error, name, False, False, operations, []


@pytest.fixture
def ab(broker):
    """Topics A (3 partitions) and B (2), A sorting first; and a connection."""
    stem = f"dtp-{uuid.uuid4().hex[:8]}"
    a = create_topic(broker.bootstrap, name=f"{stem}-a", partitions=3)
    b = create_topic(broker.bootstrap, name=f"{stem}-b", partitions=2)
    with kr.connection(broker.port) as s:
        yield s, a, b


def test_topics_are_answered_in_name_order_with_every_partition(ab):
    s, a, b = ab
    assert describe(s, [b, a]) == ([ok(a, [0, 1, 2]), ok(b, [0, 1])], None)
    assert describe(s, [a, a]) == ([ok(a, [0, 1, 2])], None)


def test_the_partition_limit_and_the_cursor_page_through_partitions(ab):
    s, a, b = ab
    assert describe(s, [a, b], 2) == ([ok(a, [0, 1])], (a, 2))
    assert describe(s, [a, b], 2, (a, 2)) == ([ok(a, [2]), ok(b, [0])], (b, 1))
    assert describe(s, [a, b], 1, (b, 1)) == ([ok(b, [1])], None)
    assert describe(s, [a, b], 5, (b, 0)) == ([ok(b, [0, 1])], None)
    assert describe(s, [a, b], 3) == ([ok(a, [0, 1, 2])], (b, 0))
    assert describe(s, [a, b], 2, (a, 7)) == ([ok(a, []), ok(b, [0, 1])], None)
    assert describe(s, [a], 0) == ([ok(a, [0])], (a, 1))  # a limit below 1 is 1
    assert describe(s, [a], -1) == ([ok(a, [0])], (a, 1))


def test_unknown_and_invalid_topics_are_answered_with_their_errors(ab):
    s, a, b = ab
    assert describe(s, ["nope-" + a, a], 10) == ([ok(a, [0, 1, 2]), failed("nope-" + a, UNKNOWN_TOPIC)], None)
    assert describe(s, [a, "bad name!"], 10) == ([failed("bad name!", INVALID_TOPIC), ok(a, [0, 1, 2])], None)
    # not reached within the limit: the cursor points at the unknown topic
    assert describe(s, [a, a + "a"], 3) == ([ok(a, [0, 1, 2])], (a + "a", 0))
    assert describe(s, [a, a + "a"], 3, (a + "a", 0)) == ([failed(a + "a", UNKNOWN_TOPIC)], None)


def test_a_bad_cursor_or_an_empty_name_fails_every_topic(ab):
    s, a, b = ab
    for cursor in [("zzz", 0), (a, -1)]:
        assert describe(s, [a, b], 2, cursor) == (
            [failed(a, INVALID_REQUEST, NO_OPERATIONS), failed(b, INVALID_REQUEST, NO_OPERATIONS)], None), cursor
    assert describe(s, ["bad name!", ""], 10) == (
        [failed("bad name!", UNKNOWN_SERVER_ERROR, NO_OPERATIONS), failed("", UNKNOWN_SERVER_ERROR, NO_OPERATIONS)], None)


def test_no_topics_means_every_topic_internal_ones_included(ab):
    s, a, b = ab
    names = [t[1] for t in describe(s, [], 100000)[0]]
    assert names == sorted(names) and {a, b} <= set(names), names
    assert describe(s, [], 3, (b, 1))[0][0] == ok(b, [1])


def test_consumer_offsets_is_internal(broker):
    with kr.connection(broker.port, 30) as s:
        # creates the topic on Kafka; 14, 15: still loading or creating
        assert kr.find_coordinator_v1(s, "g-dtp")["error_code"] in (0, 14, 15)
        deadline = time.monotonic() + 60
        while (got := describe(s, ["__consumer_offsets"], 1))[0][0][0] != 0:
            assert time.monotonic() < deadline, got
            time.sleep(0.2)
    assert got == ([ok("__consumer_offsets", [0], internal=True)], ("__consumer_offsets", 1))
