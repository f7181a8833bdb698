"""Go clients against the broker: franz-go (kgo, kadm) and IBM/sarama, through the drivers in
tests/interop/go (built once into .cache/go by jvm.go_bin): round trips with every codec read
back by librdkafka too, consumer groups (franz-go's cooperative-sticky balancer, sarama's range),
and each library's admin client.
"""
from __future__ import annotations

import uuid

import pytest
from confluent_kafka import TopicPartition

from helpers import consume, consumer, create_topic, produce_and_wait, producer, topic_name
from jvm import franz_member, go_bin, run_json, sarama_member, wait_until
from test_java_client import CODECS, batch_headers

FAST = {"group.initial.rebalance.delay.ms": "0"}


def go(program: str, *args: str, timeout: float = 90.0) -> list[dict]:
    rc, lines, err = run_json([str(go_bin(program)), *args], timeout)
    assert rc == 0, f"{program} {args[0]} exited {rc}: {lines[-3:]}\n{err[-3000:]}"
    return lines


@pytest.mark.parametrize("codec", list(CODECS))
def test_franz_go_round_trips_keys_and_headers_with_each_codec(broker, codec):
    t = create_topic(broker.bootstrap, partitions=2)
    acks = go("franz", "produce", broker.bootstrap, t, "50", codec)
    assert len(acks) == 50 and all(a["error"] is None for a in acks), acks[:3]
    per_partition: dict[int, list[int]] = {}
    for a in acks:
        per_partition.setdefault(a["partition"], []).append(a["offset"])
    assert all(sorted(o) == list(range(len(o))) for o in per_partition.values()), per_partition
    for p in per_partition:
        assert {b["codec"] for b in batch_headers(broker.bootstrap, t, p)} == {CODECS[codec]}
        assert all(b["producer_id"] >= 0 for b in batch_headers(broker.bootstrap, t, p))  # idempotent

    got = go("franz", "consume", broker.bootstrap, t, "50")
    assert sorted(r["value"] for r in got) == sorted(f"franz-{i}" for i in range(50))
    for r in got:
        i = r["value"].split("-")[1]
        assert r["key"] == f"k-{i}" and r["headers"] == [["i", i], ["from", "franz-go"]], r
    by_librdkafka = consume(broker.bootstrap, t, 50, partitions=(0, 1))
    assert sorted(m.value() for m in by_librdkafka) == sorted(b"franz-%d" % i for i in range(50))


@pytest.mark.parametrize("codec", list(CODECS))
def test_sarama_round_trips_keys_and_headers_with_each_codec(broker, codec):
    t = create_topic(broker.bootstrap, partitions=2)
    lines = go("sarama", "roundtrip", broker.bootstrap, t, "20", codec)
    produced = [l["produced"] for l in lines if "produced" in l]
    consumed = [l["consumed"] for l in lines if "consumed" in l]
    assert [(p["partition"], p["offset"]) for p in produced] == [(i % 2, i // 2) for i in range(20)], produced
    assert len(consumed) == 20
    for r in consumed:
        i = int(r["value"].split("-")[1])
        assert (r["partition"], r["offset"], r["key"], r["headers"]) == (i % 2, i // 2, f"k-{i}", [["i", str(i)]]), r
    assert {b["codec"] for b in batch_headers(broker.bootstrap, t, 0)} == {CODECS[codec]}
    by_librdkafka = consume(broker.bootstrap, t, 20, partitions=(0, 1))
    assert sorted(m.value() for m in by_librdkafka) == sorted(b"sarama-%d" % i for i in range(20))


def test_franz_go_cooperative_sticky_group_moves_only_the_partitions_that_change_owner(broker_factory):
    b = broker_factory(FAST)
    t = create_topic(b.bootstrap, partitions=6)
    group = f"franz-coop-{uuid.uuid4().hex[:6]}"
    everything = {(t, p) for p in range(6)}
    members = [franz_member(b.bootstrap, group, t) for _ in range(2)]

    def balanced(ms, size):
        owned = [m.owned() for m in ms]
        return all(len(o) == size for o in owned) and set().union(*owned) == everything

    try:
        wait_until(lambda: balanced(members, 3), 60, lambda: [m.owned() for m in members])
        before = [m.owned() for m in members]
        members.append(franz_member(b.bootstrap, group, t))
        wait_until(lambda: balanced(members, 2), 60, lambda: [m.owned() for m in members])
        after = [m.owned() for m in members]
        assert after[0] <= before[0] and after[1] <= before[1], (before, after)  # sticky: kept what stayed
        produce_and_wait(producer(b.bootstrap), t, [{"value": b"%d" % i, "partition": i % 6} for i in range(60)])
        wait_until(lambda: sum(len(m.consumed()) for m in members) >= 60, 30,
                   lambda: [len(m.consumed()) for m in members])
        values = sorted(r["value"] for m in members for r in m.consumed())
        assert values == sorted(str(i) for i in range(60)), "every record exactly once"
        for m in members:
            assert {(r["topic"], r["partition"]) for r in m.consumed()} == m.owned()
    finally:
        codes = [m.close() for m in members]
    assert codes == [0, 0, 0], [m.errors() for m in members]


def test_sarama_consumer_group_splits_the_partitions_and_commits(broker_factory):
    b = broker_factory(FAST)
    t = create_topic(b.bootstrap, partitions=4)
    group = f"sarama-{uuid.uuid4().hex[:6]}"
    members = [sarama_member(b.bootstrap, group, t) for _ in range(2)]
    try:
        everything = {(t, p) for p in range(4)}
        wait_until(lambda: all(len(m.owned()) == 2 for m in members)
                   and set().union(*[m.owned() for m in members]) == everything, 60,
                   lambda: [m.owned() for m in members])
        produce_and_wait(producer(b.bootstrap), t, [{"value": b"%d" % i, "partition": i % 4} for i in range(40)])
        wait_until(lambda: sum(len(m.consumed()) for m in members) >= 40, 30,
                   lambda: [len(m.consumed()) for m in members])
        for m in members:
            assert {(r["topic"], r["partition"]) for r in m.consumed()} == m.owned()
    finally:
        codes = [m.close() for m in members]
    assert codes == [0, 0], [m.errors() for m in members]
    # sarama commits what it marked (auto-commit) when the session ends.
    c = consumer(b.bootstrap, **{"group.id": group})
    try:
        committed = c.committed([TopicPartition(t, p) for p in range(4)], timeout=10)
    finally:
        c.close()
    assert [tp.offset for tp in committed] == [10, 10, 10, 10], committed


def test_franz_go_kadm_admin_operations(broker):
    t, group = topic_name("kadm"), f"kadm-{uuid.uuid4().hex[:6]}"
    steps = {s.pop("step"): s for s in go("franz", "admin", broker.bootstrap, t, group)}
    assert steps["metadata"]["brokers"] == [1] and steps["metadata"]["cluster"], steps["metadata"]
    assert steps["create"] == {"error": None, "topic_error": None, "partitions": 3}
    assert steps["create_again"]["topic_error"].startswith("TOPIC_ALREADY_EXISTS"), steps["create_again"]
    assert steps["list"]["topic"] == {"error": None, "leaders": {"0": 1, "1": 1, "2": 1}, "partitions": 3}
    assert steps["describe_configs"]["retention.ms"] == {"error": None, "source": "DYNAMIC_TOPIC_CONFIG",
                                                        "value": "3600000"}
    assert steps["alter_configs"]["retention.ms"]["value"] == "7200000" and steps["alter_configs"]["resource_error"] is None
    assert steps["create_partitions"]["topic"]["partitions"] == 5 and steps["create_partitions"]["topic_error"] is None
    offsets = steps["list_offsets"]
    assert offsets["produce_error"] is None and offsets["end"]["0"] == {"error": None, "offset": 10}, offsets
    assert all(v == {"error": None, "offset": 0} for v in offsets["start"].values()), offsets
    deleted = steps["delete_records"]
    assert deleted["low_watermark"] == 4 and deleted["start"]["0"]["offset"] == 4, deleted
    commit = steps["commit_offsets"]
    assert (commit["error"], commit["offset"], commit["metadata"], commit["offset_error"]) == (None, 7, "franz", None)
    assert steps["lag"] == {"error": None, "lag": 3}
    assert steps["groups"] == {"error": None, "describe_error": None, "listed": True, "state": "Empty",
                               "group_error": None}
    assert steps["delete_group"] == {"error": None, "group_error": None, "listed": False}
    assert steps["delete_topic"] == {"error": None, "topic_error": None}
    assert steps["delete_topic_again"]["topic_error"].startswith("UNKNOWN_TOPIC_OR_PARTITION")


def test_sarama_cluster_admin_operations(broker):
    t, group = topic_name("sarama-admin"), f"sarama-admin-{uuid.uuid4().hex[:6]}"
    # A group with committed offsets for sarama to find.
    src = create_topic(broker.bootstrap, partitions=1)
    produce_and_wait(producer(broker.bootstrap), src, [{"value": b"x", "partition": 0}] * 3)
    c = consumer(broker.bootstrap, **{"group.id": group})
    try:
        c.commit(offsets=[TopicPartition(src, 0, 3)], asynchronous=False)
    finally:
        c.close()
    steps = {s.pop("step"): s for s in go("sarama", "admin", broker.bootstrap, t, group)}
    assert steps["cluster"] == {"brokers": [1], "controller": 1, "error": None}
    assert steps["create"] == {"error": None}
    assert "Topic with this name already exists" in steps["create_again"]["error"]
    assert steps["describe"] == {"error": None, "partitions": 2}
    assert steps["describe_config"] == {"error": None, "cleanup.policy": "compact"}
    assert steps["incremental_alter"] == {"error": None, "retention.ms": "5000000"}
    assert steps["create_partitions"] == {"error": None, "partitions": 4}
    assert "Number of partitions is invalid" in steps["shrink_partitions"]["error"]
    assert steps["list_groups"] == {"error": None, "listed": True}
    assert steps["describe_group"] == {"error": None, "state": "Empty", "members": 0}
    assert steps["group_offsets"] == {"error": None, "sum": 3}
    assert steps["delete_group"] == {"error": None}
    assert steps["delete"] == {"error": None}
    assert "does not exist" in steps["delete_again"]["error"]
