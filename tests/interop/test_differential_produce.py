"""Differential: hostile Produce v9 requests, with Kafka's own answers as the expectation.

Each expectation here was measured on Apache Kafka 4.4.0 (probe_hostile.py; run this file with
`--broker kafka` to check it still holds). Where Runnel answers differently the test is marked
`runnel_diverges` (a strict xfail on Runnel, skipped if the request aborts Runnel), so fixing
Runnel turns it into an XPASS failure that asks for the mark to go.

Requests are raw (kafka_raw): Produce v9 (flexible, with KIP-467 record_errors in the answer).
After each answer the same connection is checked with ApiVersions (open or closed).
"""
from __future__ import annotations

import re
import socket
import time

import pytest

import kafka_raw as kr
from helpers import create_topic, topic_name

INVALID_RECORD, INVALID_TIMESTAMP, INVALID_TOPIC, UNKNOWN_TOPIC = 87, 32, 17, 3
HOUR_MS = 3600 * 1000


def produce(port: int, parts, acks: int = -1) -> tuple[dict | None, bool]:
    """(the single partition answer or None for acks=0, whether the connection is still open)."""
    s = kr.connect(port, timeout=30)
    try:
        resp = kr.produce_v9(s, parts, acks=acks)
        answer = None
        if acks != 0:
            answer = [p for ps in resp["topics"].values() for p in ps]
        try:
            kr.api_versions(s, 0)
            open_ = True
        except (OSError, EOFError, ConnectionError):
            open_ = False
        return answer, open_
    finally:
        s.close()


def one(answer) -> dict:
    assert answer is not None and len(answer) == 1, answer
    return answer[0]


def batch(records, gzip=False, count=None, last_offset_delta=None, records_bytes=None, ts=None) -> bytes:
    body = kr.encode_records(records) if records_bytes is None else records_bytes
    n = len(records) if count is None else count
    lod = (len(records) - 1 if records else 0) if last_offset_delta is None else last_offset_delta
    if gzip:
        body = kr.gzip_bytes(body)
    return kr.raw_batch(body, n, lod, attributes=kr.COMPRESSION_GZIP if gzip else kr.COMPRESSION_NONE,
                        base_timestamp=ts)


def log_end(port: int, topic: str) -> int:
    with kr.connection(port) as s:
        return kr.fetch(s, topic, 0, 0, max_wait_ms=0)[topic][0]["high_watermark"]


HEADER_ONLY = kr.raw_batch(b"", (1 << 31) - 1, (1 << 31) - 2)  # 61 bytes, claims 2^31-1 records


def too_long_record() -> bytes:
    full = kr.encode_record(0, 0, b"k", b"v" * 20)
    n = kr.Reader(full).varint()
    return kr.varint(n + 10) + full[len(kr.varint(n)):]


@pytest.fixture
def topic(broker):
    return create_topic(broker.bootstrap)


@pytest.fixture
def compacted(broker):
    return create_topic(broker.bootstrap, name=topic_name("compact"), config={"cleanup.policy": "compact"})


@pytest.fixture
def consumer_offsets(broker):
    """Make sure __consumer_offsets exists (FindCoordinator creates it on Kafka) and is led."""
    with kr.connection(broker.port, 30) as s:
        deadline = time.monotonic() + 60
        while kr.find_coordinator_v1(s, f"g-{topic_name()}")["error_code"] != 0:
            assert time.monotonic() < deadline, "no group coordinator"
            time.sleep(0.2)
        while True:
            t = kr.metadata_v1(s, ["__consumer_offsets"])["topics"].get("__consumer_offsets")
            if t and t["error_code"] == 0 and t["partitions"] and all(p["leader"] == 1 for p in t["partitions"]):
                return "__consumer_offsets"
            assert time.monotonic() < deadline, t
            time.sleep(0.2)


# --------------------------------------------------------------------------- batch structure
def test_header_only_batch_claiming_2_31_records_is_invalid_record(broker, topic):
    ans, open_ = produce(broker.port, [(topic, 0, HEADER_ONLY)])
    assert (one(ans)["error_code"], open_) == (INVALID_RECORD, True)
    assert log_end(broker.port, topic) == 0


def test_header_only_batch_to_a_compacted_topic_is_invalid_record(broker, compacted):
    ans, open_ = produce(broker.port, [(compacted, 0, HEADER_ONLY)])
    assert (one(ans)["error_code"], open_) == (INVALID_RECORD, True)


def test_header_only_batch_to_consumer_offsets_is_invalid_topic(broker, consumer_offsets):
    ans, open_ = produce(broker.port, [(consumer_offsets, 0, HEADER_ONLY)])
    assert (one(ans)["error_code"], open_) == (INVALID_TOPIC, True)


@pytest.mark.parametrize("gzip", [False, True], ids=["none", "gzip"])
def test_a_batch_with_zero_records_is_invalid_record(broker, topic, gzip):
    # Kafka logs "Invalid reported count for record batch: 0"; its answer has no error_message.
    ans, open_ = produce(broker.port, [(topic, 0, batch([], gzip, 0, 0, b""))])
    assert (one(ans)["error_code"], open_) == (INVALID_RECORD, True)


@pytest.mark.parametrize("gzip", [False, True], ids=["none", "gzip"])
def test_a_batch_declaring_more_records_than_it_holds_is_invalid_record(broker, topic, gzip):
    # Kafka: "Incorrect declared batch size, premature EOF reached" (in its log only)
    ans, open_ = produce(broker.port, [(topic, 0, batch([(b"k", b"v0")], gzip, 2, 1))])
    assert (one(ans)["error_code"], open_) == (INVALID_RECORD, True)
    assert log_end(broker.port, topic) == 0


@pytest.mark.parametrize("gzip", [False, True], ids=["none", "gzip"])
def test_a_batch_holding_more_records_than_it_declares_is_invalid_record(broker, topic, gzip):
    # Kafka: "Incorrect declared batch size, records still remaining in file"
    ans, open_ = produce(broker.port, [(topic, 0, batch([(b"k", b"v0"), (b"k", b"v1")], gzip, 1, 0))])
    assert (one(ans)["error_code"], open_) == (INVALID_RECORD, True)
    assert log_end(broker.port, topic) == 0


def test_a_record_longer_than_the_batch_is_invalid_record(broker, topic):
    # Kafka: "Invalid record size: expected 37 bytes in record payload, but instead the buffer has
    # only 27 remaining bytes." Not for gzip: there Kafka 4.4 skips over values and accepts it.
    ans, open_ = produce(broker.port, [(topic, 0, batch([(b"k", b"v")], records_bytes=too_long_record()))])
    assert (one(ans)["error_code"], open_) == (INVALID_RECORD, True)


def test_two_batches_for_one_partition_are_invalid_record(broker, topic):
    # Since Produce v3 a partition's records hold exactly one batch.
    ans, open_ = produce(broker.port, [(topic, 0, batch([(b"k", b"a")]) + batch([(b"k", b"b")]))])
    assert (one(ans)["error_code"], open_) == (INVALID_RECORD, True)
    assert log_end(broker.port, topic) == 0


def test_the_same_partition_twice_in_one_request_keeps_only_the_last_entry(broker, topic):
    ans, open_ = produce(broker.port, [(topic, 0, batch([(b"k", b"first")])), (topic, 0, batch([(b"k", b"second")]))])
    assert (one(ans)["error_code"], one(ans)["base_offset"], open_) == (0, 0, True)
    with kr.connection(broker.port) as s:
        part = kr.fetch(s, topic, 0, 0)[topic][0]
    values = [v for b in kr.decode_batches(part["records"]) for _, _, v in b["records"]]
    assert values == [b"second"]


# --------------------------------------------------------------------------- record errors (KIP-467)
def _keyless_message(tp: str, index: int) -> tuple[str, str]:
    rec = f"Compacted topic cannot accept message without key in topic partition {tp}"
    msg = ("One or more records have been rejected due to 1 record errors in total, and only showing "
           f"the first three errors at most: [RecordError(batchIndex={index}, message='{rec}')]")
    return rec, msg


@pytest.mark.parametrize("keys,bad", [([None], 0), ([b"a", None, b"c"], 1)], ids=["one-keyless", "second-of-three"])
def test_keyless_record_to_a_compacted_topic_is_invalid_record_with_record_errors(broker, compacted, keys, bad):
    ans, open_ = produce(broker.port, [(compacted, 0, batch([(k, b"v") for k in keys]))])
    p = one(ans)
    rec, msg = _keyless_message(f"{compacted}-0", bad)
    assert (p["error_code"], open_) == (INVALID_RECORD, True)
    assert p["record_errors"] == [{"batch_index": bad, "message": rec}]
    assert p["error_message"] == msg
    assert log_end(broker.port, compacted) == 0


def test_keyed_records_to_a_compacted_topic_are_accepted(broker, compacted):
    ans, open_ = produce(broker.port, [(compacted, 0, batch([(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]))])
    p = one(ans)
    assert (p["error_code"], p["base_offset"], p["record_errors"], open_) == (0, 0, [], True)


@pytest.mark.parametrize("shift_h", [-2, 2], ids=["2h-past", "2h-future"])
def test_a_create_time_outside_the_topic_bounds_is_invalid_timestamp(broker, shift_h):
    t = create_topic(broker.bootstrap, name=topic_name("ts"), config={
        "message.timestamp.before.max.ms": str(HOUR_MS), "message.timestamp.after.max.ms": str(HOUR_MS)})
    ts = int(time.time() * 1000) + shift_h * HOUR_MS
    ans, open_ = produce(broker.port, [(t, 0, batch([(b"k", b"v")], ts=ts))])
    p = one(ans)
    assert (p["error_code"], open_) == (INVALID_TIMESTAMP, True)
    assert p["error_message"] == "One or more records have been rejected due to invalid timestamp"
    (e,) = p["record_errors"]
    m = re.fullmatch(rf"Timestamp {ts} of message with offset 0 is out of range\. "
                     r"The timestamp should be within \[(\d+), (\d+)\]", e["message"])
    assert e["batch_index"] == 0 and m, e
    lo, hi = int(m[1]), int(m[2])
    assert hi - lo == 2 * HOUR_MS and lo <= int(time.time() * 1000) - HOUR_MS
    ans, _ = produce(broker.port, [(t, 0, batch([(b"k", b"now")]))])
    assert one(ans)["error_code"] == 0


# --------------------------------------------------------------------------- acks=0
def test_a_failed_acks_0_produce_to_an_unknown_topic_closes_the_connection(broker):
    _, open_ = produce(broker.port, [(topic_name("no-such"), 0, batch([(b"k", b"v")]))], acks=0)
    assert not open_


def test_a_failed_acks_0_produce_of_a_keyless_record_to_a_compacted_topic_closes_the_connection(broker, compacted):
    _, open_ = produce(broker.port, [(compacted, 0, batch([(None, b"v")]))], acks=0)
    assert not open_


def test_a_successful_acks_0_produce_keeps_the_connection_open(broker, topic):
    _, open_ = produce(broker.port, [(topic, 0, batch([(b"k", b"v")]))], acks=0)
    assert open_


def test_an_acks_1_produce_to_an_unknown_topic_is_unknown_topic_or_partition(broker):
    ans, open_ = produce(broker.port, [(topic_name("no-such"), 0, batch([(b"k", b"v")]))], acks=1)
    assert (one(ans)["error_code"], open_) == (UNKNOWN_TOPIC, True)


# --------------------------------------------------------------------------- internal topics
def test_clients_cannot_produce_to_consumer_offsets(broker, consumer_offsets):
    ans, open_ = produce(broker.port, [(consumer_offsets, 0, batch([(b"k", b"v")]))], acks=1)
    assert (one(ans)["error_code"], open_) == (INVALID_TOPIC, True)


def test_delete_records_on_consumer_offsets_is_invalid_topic(broker, consumer_offsets):
    with kr.connection(broker.port) as s:
        r = kr.delete_records_v1(s, consumer_offsets, 0, -1)
    assert (r["error_code"], r["low_watermark"]) == (INVALID_TOPIC, -1)


def test_init_producer_id_gives_distinct_ids_to_two_connections(broker):
    got = []
    for _ in range(2):
        with kr.connection(broker.port, 30) as s:
            deadline = time.monotonic() + 30
            while True:  # Kafka: COORDINATOR_LOAD_IN_PROGRESS for a moment after start-up
                r = kr.init_producer_id_v1(s, None)
                if r["error_code"] not in (14, 15) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        assert r["error_code"] == 0, r
        got.append((r["producer_id"], r["producer_epoch"]))
    assert got[0][0] != got[1][0] and got[0][0] >= 0 and got[1][0] >= 0
    assert got[0][1] == got[1][1] == 0
