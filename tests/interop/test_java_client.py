"""The Java client (kafka-clients 4.4, the one most applications use) against the broker, through
the small driver in tests/interop/java (jvm.py compiles it once): its default idempotent
producer, batching and every codec, consumers with each classic assignor and static membership,
the admin client, and the exception types of its error paths, as Kafka gives them.

What the broker stored is checked on the wire (record batch headers from a raw Fetch), not only
through the client that wrote it.
"""
from __future__ import annotations

import struct
import time
import uuid

import pytest

import kafka_raw as kr
from helpers import consume, create_topic, produce_and_wait, producer, topic_name
from jvm import java_member, run_driver, wait_until

FAST = {"group.initial.rebalance.delay.ms": "0"}
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def batch_headers(bootstrap: str, topic: str, partition: int = 0) -> list[dict]:
    """Every record batch header of a partition, read with raw Fetch v4 requests."""
    port = int(bootstrap.rsplit(":", 1)[1])
    out, offset = [], 0
    with kr.connection(port) as s:
        while True:
            (p,) = kr.fetch(s, topic, partition, offset, max_wait_ms=0, max_bytes=8 << 20)[topic]
            assert p["error_code"] == 0, p
            data, pos = p["records"] or b"", 0
            while pos + 61 <= len(data):
                base, length = struct.unpack(">qi", data[pos:pos + 12])
                if pos + 12 + length > len(data):
                    break
                attrs, last_delta = struct.unpack(">hi", data[pos + 21:pos + 27])
                pid, epoch, seq, count = struct.unpack(">qhii", data[pos + 43:pos + 61])
                out.append({"base_offset": base, "codec": attrs & 7, "last_offset_delta": last_delta,
                            "producer_id": pid, "producer_epoch": epoch, "base_sequence": seq, "count": count})
                pos += 12 + length
            if not out or out[-1]["base_offset"] + out[-1]["last_offset_delta"] + 1 >= p["high_watermark"]:
                return out
            offset = out[-1]["base_offset"] + out[-1]["last_offset_delta"] + 1


# --------------------------------------------------------------------------- producer
def test_java_default_producer_is_idempotent_with_acks_all_and_writes_every_record_once_in_order(broker):
    t = create_topic(broker.bootstrap, partitions=1)
    config, summary = run_driver("produce", broker.bootstrap, t, "3000", "100", "driver.partition=0")
    assert config == {"enable.idempotence": True, "acks": "-1", "compression.type": "none", "batch.size": 16384,
                      "linger.ms": 5, "max.in.flight.requests.per.connection": 5}, config
    assert summary["acked"] == 3000 and summary["errors"] == [], summary
    assert summary["partitions"]["0"] == {"first": 0, "last": 2999, "count": 3000, "contiguous": True}, summary
    batches = batch_headers(broker.bootstrap, t)
    assert sum(b["count"] for b in batches) == 3000
    # On the wire: one producer id and epoch, sequences that continue batch after batch.
    assert len({(b["producer_id"], b["producer_epoch"]) for b in batches}) == 1 and batches[0]["producer_id"] >= 0
    expected_seq = 0
    for b in batches:
        assert b["base_sequence"] == expected_seq == b["base_offset"], b
        expected_seq += b["count"]
    got = consume(broker.bootstrap, t, 3000)
    assert [m.key() for m in got] == [b"k-%d" % i for i in range(3000)]


def test_java_producer_batches_by_linger_and_batch_size(broker):
    t = create_topic(broker.bootstrap, partitions=2)
    _, summary = run_driver("produce", broker.bootstrap, t, "500", "50", "driver.partition=0",
                            "linger.ms=200", "batch.size=1048576")
    assert summary["acked"] == 500
    _, summary = run_driver("produce", broker.bootstrap, t, "40", "50", "driver.partition=1",
                            "linger.ms=0", "batch.size=1")
    assert summary["acked"] == 40
    lingered = batch_headers(broker.bootstrap, t, 0)
    assert sum(b["count"] for b in lingered) == 500 and len(lingered) <= 5, [b["count"] for b in lingered]
    single = batch_headers(broker.bootstrap, t, 1)
    assert [b["count"] for b in single] == [1] * 40  # batch.size=1: every record alone


@pytest.mark.parametrize("codec", list(CODECS))
def test_java_producer_compresses_with_each_codec_and_librdkafka_reads_it_back(broker, codec):
    t = create_topic(broker.bootstrap, partitions=1)
    _, summary = run_driver("produce", broker.bootstrap, t, "200", "300", "driver.partition=0",
                            f"compression.type={codec}", "linger.ms=50")
    assert summary["acked"] == 200 and summary["errors"] == [], summary
    batches = batch_headers(broker.bootstrap, t)
    assert {b["codec"] for b in batches} == {CODECS[codec]}, batches  # the topic keeps the producer's codec
    got = consume(broker.bootstrap, t, 200)
    assert [m.value()[:9] for m in got[:2]] == [b"java-0...", b"java-1..."]
    assert all(len(m.value()) == 300 and m.headers() == [("i", b"%d" % i)] for i, m in enumerate(got))


# --------------------------------------------------------------------------- consumer groups
@pytest.mark.parametrize("assignor", ["range", "roundrobin", "sticky", "cooperative-sticky"])
def test_java_consumers_split_the_partitions_with_each_classic_assignor(broker_factory, assignor):
    b = broker_factory(FAST)
    t = create_topic(b.bootstrap, partitions=4)
    group = f"java-{assignor}-{uuid.uuid4().hex[:6]}"
    members = [java_member(b.bootstrap, group, t, assignor) for _ in range(2)]
    try:
        everything = {(t, p) for p in range(4)}

        def split():
            owned = [m.owned() for m in members]
            return owned if all(len(o) == 2 for o in owned) and set().union(*owned) == everything else None

        wait_until(split, 60, lambda: f"2 partitions each, got {[m.owned() for m in members]} "
                                      f"{[m.errors()[-500:] for m in members]}")
        produce_and_wait(producer(b.bootstrap), t, [{"value": b"%d" % i, "partition": i % 4} for i in range(40)])
        wait_until(lambda: sum(len(m.consumed()) for m in members) >= 40, 30,
                   lambda: f"40 records, got {[len(m.consumed()) for m in members]}")
        for m in members:
            parts = {(r["topic"], r["partition"]) for r in m.consumed()}
            assert parts == m.owned() and len(m.consumed()) == 20, (m.owned(), parts)
        if assignor == "cooperative-sticky":
            # A cooperative rebalance revokes only what moves: nothing was taken from a member
            # that kept it.
            for m in members:
                revoked = [set(map(tuple, e["revoked_now"])) for e in m.history() if e.get("revoked_now")]
                assert all(r.isdisjoint(m.owned()) for r in revoked), (revoked, m.owned())
    finally:
        for m in members:
            m.close()
    assert all(m.proc.returncode == 0 for m in members), [m.errors() for m in members]


def test_java_static_member_rejoins_with_its_partitions_and_no_rebalance(broker_factory):
    b = broker_factory(FAST)
    t = create_topic(b.bootstrap, partitions=4)
    group = f"java-static-{uuid.uuid4().hex[:6]}"
    a = java_member(b.bootstrap, group, t, "range", **{"group.instance.id": "a"})
    other = java_member(b.bootstrap, group, t, "range", **{"group.instance.id": "b"})
    members = [a, other]
    try:
        wait_until(lambda: len(a.owned()) == 2 and len(other.owned()) == 2, 60,
                   lambda: f"2 partitions each, got {a.owned()} {other.owned()}")
        generation = a.history()[-1]["generation"]
        mine, events_before = a.owned(), len(other.history())
        assert a.close() == 0  # a static member does not leave the group when it closes
        again = java_member(b.bootstrap, group, t, "range", **{"group.instance.id": "a"})
        members.append(again)
        wait_until(lambda: again.owned(), 30, "the restarted static member's assignment")
        last = again.history()[-1]
        assert again.owned() == mine and last["generation"] == generation, (mine, last, generation)
        assert len(other.history()) == events_before, other.history()[events_before:]
    finally:
        for m in members:
            m.close()


# --------------------------------------------------------------------------- admin client
def test_java_admin_client_operations(broker_factory):
    b = broker_factory(FAST)
    t, group = topic_name("java-admin"), f"java-admin-{uuid.uuid4().hex[:6]}"
    steps = {s.pop("step"): s for s in run_driver("admin", b.bootstrap, t, group)}
    cluster = steps["describe_cluster"]
    assert cluster["controller"] == 1 and [n["id"] for n in cluster["nodes"]] == [1] and cluster["cluster_id"], cluster
    assert f"127.0.0.1:{cluster['nodes'][0]['port']}" == b.bootstrap
    assert steps["create_topic"] == {"ok": True}
    assert steps["create_topic_again"]["exception"] == "TopicExistsException"
    assert steps["create_validate_only"] == {"ok": True, "listed": False}
    assert steps["list_topics"] == {"found": True}
    leaders = {"leader": 1, "isr": [1]}
    assert steps["describe_topic"] == {"partitions": {str(p): leaders for p in range(3)}, "internal": False,
                                       "has_topic_id": True}
    dyn = {"source": "DYNAMIC_TOPIC_CONFIG", "read_only": False, "sensitive": False}
    assert steps["describe_topic_config"] == {
        "retention.ms": {"value": "3600000", **dyn},
        "cleanup.policy": {"value": "delete", "source": "DEFAULT_CONFIG", "read_only": False, "sensitive": False}}
    broker_cfg = steps["describe_broker_config"]
    assert broker_cfg["message.max.bytes"]["value"] == "1048588", broker_cfg
    assert broker_cfg["message.max.bytes"]["source"] == "DEFAULT_CONFIG", broker_cfg
    assert steps["incremental_alter_topic_config"] == {"retention.ms": {"value": "7200000", **dyn},
                                                       "cleanup.policy": {"value": "delete,compact", **dyn}}
    assert steps["create_partitions"]["partitions"] == {str(p): leaders for p in range(5)}
    assert steps["produce"] == {"ok": True}
    offsets = steps["list_offsets"]
    assert offsets["earliest"]["offset"] == 0 and offsets["latest"]["offset"] == 10, offsets
    assert offsets["max_timestamp"]["offset"] == 9 and offsets["for_timestamp"]["offset"] == 4, offsets
    assert offsets["for_timestamp"]["timestamp"] - offsets["max_timestamp"]["timestamp"] == -5000, offsets
    assert offsets["after_last"] == {"offset": -1, "timestamp": -1}, offsets
    assert steps["delete_records"] == {"low_watermark": 2, "earliest": {"offset": 2, "timestamp": -1}}
    assert steps["alter_group_offsets"] == {"offset": 6, "metadata": "java-meta"}
    assert steps["list_groups"] == {"found": True, "protocol": "", "state": "EMPTY", "type": "CLASSIC"}
    assert steps["describe_group"] == {"state": "EMPTY", "members": 0, "coordinator": 1, "simple": True}
    assert steps["delete_group_offsets"] == {"left": 0}
    assert steps["delete_group"] == {"ok": True}
    assert steps["delete_group_again"]["exception"] == "GroupIdNotFoundException"
    assert steps["delete_topic"] == {"ok": True}
    assert steps["describe_deleted_topic"]["exception"] == "UnknownTopicOrPartitionException"


def test_broker_describe_configs_lists_every_kafka_broker_config_with_dynamic_ones_writable(broker):
    from conftest import _describe_broker
    entries = _describe_broker(broker.bootstrap)
    assert len(entries) >= 300, len(entries)
    assert not entries["message.max.bytes"].is_read_only and not entries["log.retention.ms"].is_read_only


# --------------------------------------------------------------------------- error paths
EXPECTED_FAILURES = {
    "describe_unknown_topic": "UnknownTopicOrPartitionException",
    "delete_unknown_topic": "UnknownTopicOrPartitionException",
    "create_invalid_name": "InvalidTopicException",
    "create_existing": "TopicExistsException",
    "create_zero_partitions": "InvalidPartitionsException",
    "create_replication_factor_3": "InvalidReplicationFactorException",
    "create_bad_config_value": "InvalidConfigurationException",
    "create_unknown_config": "InvalidConfigurationException",
    "shrink_partitions": "InvalidPartitionsException",
    "describe_configs_unknown_topic": "UnknownTopicOrPartitionException",
    "alter_config_bad_value": "InvalidConfigurationException",
    "delete_unknown_group": "GroupIdNotFoundException",
    "delete_nonempty_group": "GroupNotEmptyException",
    "record_too_large_for_client": "RecordTooLargeException",
    "record_too_large_for_broker": "RecordTooLargeException",
    "offset_out_of_range": "OffsetOutOfRangeException",
    "no_committed_offset": "NoOffsetForPartitionException",
}


def test_java_client_error_paths_raise_the_exception_types_kafka_gives(broker_factory):
    b = broker_factory(FAST)
    got = {c.pop("case"): c for c in run_driver("failures", b.bootstrap, topic_name("java-fail"))}
    assert {k: v.get("exception") for k, v in got.items()} == EXPECTED_FAILURES, got
    assert "max.request.size" in got["record_too_large_for_client"]["message"]
    assert "offset=100" in got["offset_out_of_range"]["message"]


def test_java_client_on_an_unknown_topic_without_auto_creation(broker_factory):
    b = broker_factory({"auto.create.topics.enable": "false"})
    missing = topic_name("java-missing")
    got = {c.pop("case"): c for c in run_driver("unknown-topic", b.bootstrap, missing)}
    assert got["produce_unknown_topic"]["exception"] == "TimeoutException", got
    assert got["produce_unknown_topic"]["message"] == f"Topic {missing} not present in metadata after 3000 ms."
    assert got["partitions_for_unknown_topic"] == {"ok": True, "result": 0}, got
    assert got["end_offsets_unknown_topic"]["exception"] == "TimeoutException", got
