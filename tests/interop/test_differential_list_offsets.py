"""Differential: ListOffsets, with Kafka's own answers as the expectation.

Every expectation was measured on Apache Kafka 4.4.0 with the raw requests below (run this file
with `--broker kafka` to check that it still holds); Runnel must give the same answer field by
field: error code, timestamp, offset and (v4+) leader epoch. Kafka 4.4 advertises ListOffsets
v1-v11 (v0, the old offsets-array form, is gone since Kafka 4.0, KIP-896).

Kafka orders the topics and partitions of an answer by hash, so answers naming several
partitions are compared sorted. Timestamps are shown relative to BASE, the first record's.
Where Runnel answers differently on purpose the test says so and docs/kafka-differences.md
says why.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

import kafka_raw as kr
from helpers import create_topic
from kafka_raw import array, compact_array, compact_string, i8, i32, i64, string, uvarint

API_LIST_OFFSETS = 2
LATEST, EARLIEST, MAX_TIMESTAMP, EARLIEST_LOCAL, LATEST_TIERED, EARLIEST_PENDING_UPLOAD = -1, -2, -3, -4, -5, -6
NONE, UNKNOWN_SERVER_ERROR, UNKNOWN_TOPIC, UNSUPPORTED_VERSION, INVALID_REQUEST = 0, -1, 3, 35, 42
FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH = 74, 75
BOTH_VERSIONS = range(1, 11)  # what Kafka 4.4 and Runnel both serve
DOC = (Path(__file__).resolve().parents[2] / "docs" / "kafka-differences.md").read_text()


def list_offsets(s, version: int, topics, replica_id: int = -1, isolation: int = 0) -> list:
    """ListOffsets at `version` of [(topic, [(partition, timestamp, current_leader_epoch)])];
    returns [(topic, [(partition, error, timestamp, offset, leader_epoch or None)])]."""
    flex = version >= 6
    arr, st, tag = (compact_array, compact_string, uvarint(0)) if flex else (array, string, b"")

    def part(index, ts, epoch):
        return i32(index) + (i32(epoch) if version >= 4 else b"") + i64(ts) + tag
    body = i32(replica_id) + (i8(isolation) if version >= 2 else b"")
    body += arr([st(t) + arr([part(*p) for p in ps]) + tag for t, ps in topics])
    body += (i32(30000) if version >= 10 else b"") + tag
    header = (kr.request_header_v2 if flex else kr.request_header_v1)(API_LIST_OFFSETS, version, next(kr._corr))
    r = kr.roundtrip(s, header, body, flexible_response_header=flex)
    if version >= 2:
        r.i32()  # throttle_time_ms
    rarr, rst = (r.compact_array, r.compact_string) if flex else (r.array, r.string)

    def part_answer(rr):
        out = (rr.i32(), rr.i16(), rr.i64(), rr.i64(), rr.i32() if version >= 4 else None)
        if flex:
            rr.tagged_fields()
        return out

    def topic_answer(rr):
        name, parts = rst(), rarr(part_answer)
        if flex:
            rr.tagged_fields()
        return name, parts
    out = rarr(topic_answer)
    if flex:
        r.tagged_fields()
    assert r.remaining() == 0, f"{r.remaining()} bytes after the answer"
    return out


class Partition:
    """One partition to ask about, its answers with timestamps relative to `base`."""

    def __init__(self, port: int, topic: str, base: int):
        self.port, self.topic, self.base = port, topic, base

    def ask(self, version: int, ts: int, partition: int = 0, epoch: int = -1, **kw) -> tuple:
        with kr.connection(self.port) as s:
            (name, ((index, err, t, off, ep),)), = list_offsets(s, version, [(self.topic, [(partition, ts, epoch)])], **kw)
        assert (name, index) == (self.topic, partition)
        return err, (f"BASE{t - self.base:+d}" if t >= 0 else t), off, ep


def records_at(port: int, topic: str, timestamps: list[int]) -> None:
    with kr.connection(port) as s:
        for i, ts in enumerate(timestamps):
            r = kr.produce_v3(s, topic, 0, kr.record_batch([(b"k", b"v%d" % i)], base_timestamp=ts))
            assert r["error_code"] == 0, r


@pytest.fixture
def three(broker) -> Partition:
    """Partition 0: offsets 0, 1, 2 at BASE, BASE+2000, BASE+1000 (one record a batch);
    partition 1: empty."""
    topic = create_topic(broker.bootstrap, partitions=2)
    base = int(time.time() * 1000) - 600_000
    records_at(broker.port, topic, [base, base + 2000, base + 1000])
    return Partition(broker.port, topic, base)


def epoch(version: int, e: int):
    return e if version >= 4 else None


# --------------------------------------------------------------------------- versions
def test_kafka_serves_list_offsets_from_v1_so_the_old_offsets_array_form_is_gone(broker):
    with kr.connection(broker.port) as s:
        lo, _ = kr.api_versions(s, 3)["api_keys"][API_LIST_OFFSETS]
    assert lo == 1


@pytest.mark.runnel_diverges("the vendored kafka-protocol crate encodes ListOffsets up to v10")
def test_list_offsets_is_served_up_to_v11(broker):
    with kr.connection(broker.port) as s:
        assert kr.api_versions(s, 3)["api_keys"][API_LIST_OFFSETS] == (1, 11)
        (_, parts), = list_offsets(s, 11, [("no-such-topic-v11", [(0, EARLIEST_PENDING_UPLOAD, -1)])])
    assert parts == [(0, UNKNOWN_TOPIC, -1, -1, -1)]


# --------------------------------------------------------------------------- special timestamps
@pytest.mark.parametrize("version", BOTH_VERSIONS)
def test_latest_and_earliest_at_every_version(three, version):
    e = epoch(version, 0)
    assert three.ask(version, LATEST) == (NONE, -1, 3, e)
    assert three.ask(version, EARLIEST) == (NONE, -1, 0, e)
    assert three.ask(version, LATEST, partition=1) == (NONE, -1, 0, e)
    assert three.ask(version, EARLIEST, partition=1) == (NONE, -1, 0, e)


@pytest.mark.parametrize("version", BOTH_VERSIONS)
def test_special_timestamps_newer_than_the_version_are_unsupported_version(three, version):
    unsupported = (UNSUPPORTED_VERSION, -1, -1, epoch(version, -1))
    e = epoch(version, 0)
    assert three.ask(version, MAX_TIMESTAMP) == ((NONE, "BASE+2000", 1, e) if version >= 7 else unsupported)
    assert three.ask(version, EARLIEST_LOCAL) == ((NONE, -1, 0, e) if version >= 8 else unsupported)
    # No tiered storage on either broker: no offset is tiered.
    assert three.ask(version, LATEST_TIERED) == ((NONE, -1, -1, epoch(version, -1)) if version >= 9 else unsupported)
    assert three.ask(version, EARLIEST_PENDING_UPLOAD) == unsupported  # v11 only
    assert three.ask(version, -7) == unsupported
    assert three.ask(version, -1000) == unsupported


@pytest.mark.parametrize("version", BOTH_VERSIONS)
def test_timestamps_before_between_and_after_the_records(three, version):
    b, e, none = three.base, epoch(version, 0), (NONE, -1, -1, epoch(version, -1))
    # The first offset whose timestamp is >= the one asked for, with that record's timestamp.
    assert three.ask(version, 0) == (NONE, "BASE+0", 0, e)
    assert three.ask(version, b - 1) == (NONE, "BASE+0", 0, e)
    assert three.ask(version, b) == (NONE, "BASE+0", 0, e)
    assert three.ask(version, b + 500) == (NONE, "BASE+2000", 1, e)
    assert three.ask(version, b + 1000) == (NONE, "BASE+2000", 1, e)
    assert three.ask(version, b + 2000) == (NONE, "BASE+2000", 1, e)
    assert three.ask(version, b + 2001) == none


@pytest.mark.parametrize("version", [1, 7, 10])
def test_an_empty_partition(three, version):
    e, none = epoch(version, 0), (NONE, -1, -1, epoch(version, -1))
    assert three.ask(version, three.base, partition=1) == none
    if version >= 7:
        assert three.ask(version, MAX_TIMESTAMP, partition=1) == none
    if version >= 8:
        assert three.ask(version, EARLIEST_LOCAL, partition=1) == (NONE, -1, 0, e)


def test_timestamps_inside_one_batch_find_the_first_record_at_or_after_them(broker):
    topic = create_topic(broker.bootstrap)
    base = int(time.time() * 1000) - 600_000
    records = kr.encode_records([(b"a", b"1"), (b"b", b"2"), (b"c", b"3")], ts_deltas=[0, 3000, 1000])
    with kr.connection(broker.port) as s:
        r = kr.produce_v3(s, topic, 0, kr.raw_batch(records, 3, 2, base_timestamp=base, max_timestamp=base + 3000))
    assert r["error_code"] == 0, r
    p = Partition(broker.port, topic, base)
    assert p.ask(9, MAX_TIMESTAMP) == (NONE, "BASE+3000", 1, 0)
    assert p.ask(9, base) == (NONE, "BASE+0", 0, 0)
    assert p.ask(9, base + 1) == (NONE, "BASE+3000", 1, 0)
    assert p.ask(9, base + 1001) == (NONE, "BASE+3000", 1, 0)
    assert p.ask(9, base + 3000) == (NONE, "BASE+3000", 1, 0)


# --------------------------------------------------------------------------- log start moved
def test_after_delete_records_earliest_and_timestamps_start_at_the_new_log_start(broker):
    topic = create_topic(broker.bootstrap)
    base = int(time.time() * 1000) - 600_000
    records_at(broker.port, topic, [base, base + 2000, base + 1000, base + 500])
    with kr.connection(broker.port) as s:
        assert kr.delete_records_v1(s, topic, 0, 2)["low_watermark"] == 2
    p = Partition(broker.port, topic, base)
    assert p.ask(9, LATEST) == (NONE, -1, 4, 0)
    assert p.ask(9, EARLIEST) == (NONE, -1, 2, 0)
    assert p.ask(9, EARLIEST_LOCAL) == (NONE, -1, 2, 0)
    assert p.ask(9, LATEST_TIERED) == (NONE, -1, -1, -1)
    for ts in (base - 1, base, base + 500, base + 1000):
        assert p.ask(9, ts) == (NONE, "BASE+1000", 2, 0), ts
    assert p.ask(9, base + 1500) == (NONE, -1, -1, -1)
    with kr.connection(broker.port) as s:
        assert kr.delete_records_v1(s, topic, 0, -1)["low_watermark"] == 4  # -1: up to the end
    assert p.ask(9, EARLIEST) == (NONE, -1, 4, 0)
    assert p.ask(9, LATEST) == (NONE, -1, 4, 0)
    assert p.ask(9, base) == (NONE, -1, -1, -1)


def test_max_timestamp_after_delete_records(broker):
    """Kafka takes the max timestamp from the segment, deleted records included (here offset 1,
    below the log start offset 2); Runnel only from records still readable."""
    assert "MAX_TIMESTAMP (-3) after DeleteRecords" in DOC
    topic = create_topic(broker.bootstrap)
    base = int(time.time() * 1000) - 600_000
    records_at(broker.port, topic, [base, base + 2000, base + 1000, base + 500])
    with kr.connection(broker.port) as s:
        assert kr.delete_records_v1(s, topic, 0, 2)["low_watermark"] == 2
    p = Partition(broker.port, topic, base)
    if broker.kind == "kafka":
        assert p.ask(9, MAX_TIMESTAMP) == (NONE, "BASE+2000", 1, 0)
    else:
        assert p.ask(9, MAX_TIMESTAMP) == (NONE, "BASE+1000", 2, 0)
    with kr.connection(broker.port) as s:
        kr.delete_records_v1(s, topic, 0, -1)
    if broker.kind == "kafka":
        assert p.ask(9, MAX_TIMESTAMP) == (NONE, "BASE+2000", 1, 0)
    else:
        assert p.ask(9, MAX_TIMESTAMP) == (NONE, -1, -1, -1)


# --------------------------------------------------------------------------- bad requests
@pytest.mark.parametrize("version", [1, 4, 6, 10])
def test_unknown_topic_unknown_partition_and_negative_partition(three, version):
    unknown = (UNKNOWN_TOPIC, -1, -1, epoch(version, -1))
    assert three.ask(version, LATEST, partition=5) == unknown
    assert three.ask(version, LATEST, partition=-1) == unknown
    assert three.ask(version, EARLIEST, partition=2) == unknown
    with kr.connection(three.port) as s:
        (name, parts), = list_offsets(s, version, [("no-such-" + three.topic, [(0, LATEST, -1)])])
    assert parts == [(0, *unknown)]


@pytest.mark.parametrize("version", [4, 9, 10])
def test_current_leader_epoch_newer_is_unknown_and_older_is_fenced(three, version):
    assert three.ask(version, LATEST, epoch=0) == (NONE, -1, 3, 0)
    assert three.ask(version, LATEST, epoch=-1) == (NONE, -1, 3, 0)  # -1: no epoch given
    assert three.ask(version, LATEST, epoch=5) == (UNKNOWN_LEADER_EPOCH, -1, -1, -1)
    assert three.ask(version, LATEST, epoch=-2) == (FENCED_LEADER_EPOCH, -1, -1, -1)


def test_below_v4_there_is_no_leader_epoch_to_check(three):
    assert three.ask(3, LATEST, epoch=5) == (NONE, -1, 3, None)


@pytest.mark.parametrize("version", [2, 9])
def test_read_committed_without_transactions_answers_as_read_uncommitted(three, version):
    for ts in (LATEST, EARLIEST, three.base + 500):
        assert three.ask(version, ts, isolation=1) == three.ask(version, ts, isolation=0), ts


@pytest.mark.parametrize("isolation", [2, -1])
def test_an_unknown_isolation_level_is_unknown_server_error(three, isolation):
    # Kafka's IsolationLevel.forId throws IllegalArgumentException for each partition.
    assert three.ask(9, LATEST, isolation=isolation) == (UNKNOWN_SERVER_ERROR, -1, -1, -1)


@pytest.mark.parametrize("replica_id", [-2, 0, 1, 5])
def test_replica_id_does_not_change_a_single_brokers_answer(three, replica_id):
    # -2 is a debugging consumer, 1 the broker itself; one broker: its high watermark is its end.
    assert three.ask(9, LATEST, replica_id=replica_id) == (NONE, -1, 3, 0)
    assert three.ask(9, EARLIEST, replica_id=replica_id) == (NONE, -1, 0, 0)


def sorted_answer(answer) -> list:
    return sorted((name, sorted(parts)) for name, parts in answer)


@pytest.mark.parametrize("version", [1, 9])
def test_a_partition_named_twice_gets_one_invalid_request_answer(three, version):
    t, e = three.topic, epoch(version, -1)
    with kr.connection(three.port) as s:
        twice_in_one_entry = list_offsets(s, version, [(t, [(0, LATEST, -1), (0, EARLIEST, -1), (1, LATEST, -1)])])
        in_two_entries = list_offsets(s, version, [(t, [(0, LATEST, -1)]), (t, [(0, EARLIEST, -1)]),
                                                   ("no-" + t, [(0, LATEST, -1), (0, LATEST, -1)])])
    assert sorted_answer(twice_in_one_entry) == [
        (t, [(0, INVALID_REQUEST, -1, -1, e), (1, NONE, -1, 0, epoch(version, 0))])]
    # Duplicates are found before the topic is looked up: INVALID_REQUEST, not UNKNOWN_TOPIC.
    assert sorted_answer(in_two_entries) == [
        ("no-" + t, [(0, INVALID_REQUEST, -1, -1, e)]), (t, [(0, INVALID_REQUEST, -1, -1, e)])]


@pytest.mark.parametrize("version", [1, 9])
def test_two_entries_for_one_topic_are_answered_in_one_topic_entry(three, version):
    t, e = three.topic, epoch(version, 0)
    with kr.connection(three.port) as s:
        answer = list_offsets(s, version, [(t, [(0, LATEST, -1)]), (t, [(1, LATEST, -1)])])
    assert sorted_answer(answer) == [(t, [(0, NONE, -1, 3, e), (1, NONE, -1, 0, e)])]
