"""Admin API through confluent_kafka.admin.AdminClient."""
from __future__ import annotations

import time

import pytest
from confluent_kafka import IsolationLevel, KafkaError, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, NewPartitions,
                                   NewTopic, OffsetSpec)

from helpers import admin, consumer, create_topic, produce_and_wait, producer, topic_name, wait_for_partitions

DYNAMIC_TOPIC = ConfigSource.DYNAMIC_TOPIC_CONFIG


def _src(entry) -> ConfigSource:
    s = entry.source
    return s if isinstance(s, ConfigSource) else ConfigSource(int(s))


def _err_code(excinfo) -> int:
    return excinfo.value.args[0].code()


def _describe_topic_config(a, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return a.describe_configs([res], request_timeout=15)[res].result(timeout=20)


def test_create_topic_with_configs_applies_partitions_and_overrides(broker):
    a = admin(broker.bootstrap)
    name = topic_name()
    fut = a.create_topics([NewTopic(name, num_partitions=3, replication_factor=1,
                                    config={"retention.ms": "3600000", "cleanup.policy": "delete"})])[name]
    assert fut.result(timeout=20) is None
    wait_for_partitions(a, name, 3)
    cfg = _describe_topic_config(a, name)
    assert cfg["retention.ms"].value == "3600000"


def test_validate_only_create_leaves_no_topic(broker):
    a = admin(broker.bootstrap)
    name = topic_name()
    a.create_topics([NewTopic(name, 2, 1)], validate_only=True)[name].result(timeout=20)
    # A topic created after the validate-only one is visible: had the first been created, it
    # would be by now too.
    after = f"{name}-after"
    a.create_topics([NewTopic(after, 1, 1)])[after].result(timeout=20)
    wait_for_partitions(a, after, 1)
    md = a.list_topics(timeout=10)
    assert name not in md.topics


@pytest.mark.parametrize("bad", ["bad name with spaces", "..", "x" * 250, "bad/slash"])
def test_invalid_topic_name_is_rejected_with_invalid_topic_exception(broker, bad):
    a = admin(broker.bootstrap)
    with pytest.raises(KafkaException) as ei:
        a.create_topics([NewTopic(bad, 1, 1)])[bad].result(timeout=20)
    assert _err_code(ei) == KafkaError.TOPIC_EXCEPTION


def test_creating_an_existing_topic_fails_with_topic_already_exists(broker):
    name = create_topic(broker.bootstrap)
    a = admin(broker.bootstrap)
    with pytest.raises(KafkaException) as ei:
        a.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=20)
    assert _err_code(ei) == KafkaError.TOPIC_ALREADY_EXISTS


def test_list_and_describe_topics_show_created_topics(broker):
    t1 = create_topic(broker.bootstrap, partitions=1)
    t2 = create_topic(broker.bootstrap, partitions=4)
    a = admin(broker.bootstrap)
    md = a.list_topics(timeout=10)
    assert {t1, t2} <= set(md.topics)
    assert len(md.topics[t2].partitions) == 4
    assert [b.id for b in md.brokers.values()] == [1]
    descs = a.describe_topics(TopicCollection([t1, t2]), request_timeout=15)
    d2 = descs[t2].result(timeout=20)
    assert d2.name == t2
    assert sorted(p.id for p in d2.partitions) == [0, 1, 2, 3]
    assert all(p.leader.id == 1 for p in d2.partitions)
    assert descs[t1].result(timeout=20).name == t1


def test_create_partitions_increases_count(broker):
    name = create_topic(broker.bootstrap, partitions=2)
    a = admin(broker.bootstrap)
    a.create_partitions([NewPartitions(name, 5)])[name].result(timeout=20)
    wait_for_partitions(a, name, 5)
    # new partitions are usable
    reports = produce_and_wait(producer(broker.bootstrap), name, [{"value": b"x", "partition": 4}])
    assert (reports[0].partition(), reports[0].offset()) == (4, 0)


def test_create_partitions_decrease_is_refused_with_invalid_partitions(broker):
    name = create_topic(broker.bootstrap, partitions=3)
    a = admin(broker.bootstrap)
    with pytest.raises(KafkaException) as ei:
        a.create_partitions([NewPartitions(name, 2)])[name].result(timeout=20)
    assert _err_code(ei) == KafkaError.INVALID_PARTITIONS
    wait_for_partitions(a, name, 3)


def test_deleted_topic_is_unknown_on_describe(broker):
    name = create_topic(broker.bootstrap)
    a = admin(broker.bootstrap)
    a.delete_topics([name])[name].result(timeout=20)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and name in a.list_topics(timeout=10).topics:
        time.sleep(0.2)
    assert name not in a.list_topics(timeout=10).topics
    with pytest.raises(KafkaException) as ei:
        a.describe_topics(TopicCollection([name]))[name].result(timeout=20)
    assert _err_code(ei) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_describe_broker_configs_returns_entries(broker):
    a = admin(broker.bootstrap)
    res = ConfigResource(ConfigResource.Type.BROKER, "1")
    cfg = a.describe_configs([res])[res].result(timeout=20)
    assert "log.dirs" in cfg or "log.dir" in cfg
    assert "num.partitions" in cfg
    assert cfg["num.partitions"].value == "1"


def test_describe_topic_configs_shows_override_source_and_defaults(broker):
    name = create_topic(broker.bootstrap, config={"segment.bytes": "1048576"})
    cfg = _describe_topic_config(admin(broker.bootstrap), name)
    assert cfg["segment.bytes"].value == "1048576"
    assert _src(cfg["segment.bytes"]) == DYNAMIC_TOPIC
    assert cfg["retention.ms"].value == "604800000"
    assert _src(cfg["retention.ms"]) != DYNAMIC_TOPIC
    assert "cleanup.policy" in cfg


@pytest.mark.filterwarnings("ignore:alter_configs has been deprecated:DeprecationWarning")
def test_alter_configs_then_describe_shows_new_value(broker):
    name = create_topic(broker.bootstrap)
    a = admin(broker.bootstrap)
    res = ConfigResource(ConfigResource.Type.TOPIC, name, set_config={"retention.ms": "7200000"})
    a.alter_configs([res])[res].result(timeout=20)
    cfg = _describe_topic_config(a, name)
    assert cfg["retention.ms"].value == "7200000"
    assert _src(cfg["retention.ms"]) == DYNAMIC_TOPIC


def test_incremental_alter_configs_sets_and_deletes_overrides(broker):
    name = create_topic(broker.bootstrap, config={"retention.bytes": "1000000"})
    a = admin(broker.bootstrap)
    res = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.bytes", None, incremental_operation=AlterConfigOpType.DELETE),
    ])
    a.incremental_alter_configs([res])[res].result(timeout=20)
    cfg = _describe_topic_config(a, name)
    assert cfg["retention.ms"].value == "86400000"
    assert _src(cfg["retention.ms"]) == DYNAMIC_TOPIC
    assert cfg["retention.bytes"].value == "-1"
    assert _src(cfg["retention.bytes"]) != DYNAMIC_TOPIC


def test_delete_records_moves_the_low_watermark(broker):
    name = create_topic(broker.bootstrap)
    produce_and_wait(producer(broker.bootstrap), name, [{"value": str(i).encode()} for i in range(20)])
    a = admin(broker.bootstrap)
    tp = TopicPartition(name, 0, 12)
    res = a.delete_records([tp])[tp].result(timeout=20)
    assert res.low_watermark == 12
    c = consumer(broker.bootstrap)
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(name, 0), timeout=10)
    finally:
        c.close()
    assert (lo, hi) == (12, 20)


def test_describe_cluster_reports_node_1_and_a_cluster_id(broker):
    a = admin(broker.bootstrap)  # keep the client referenced while its future is pending
    d = a.describe_cluster(request_timeout=15).result(timeout=20)
    assert [n.id for n in d.nodes] == [1]
    assert d.controller is not None and d.controller.id == 1
    assert d.cluster_id


@pytest.mark.runnel_only("restart of the broker process")
def test_cluster_id_is_stable_across_restart(broker):
    a = admin(broker.bootstrap)  # keep the client referenced while its future is pending
    d = a.describe_cluster(request_timeout=15).result(timeout=20)
    broker.restart()
    a2 = admin(broker.bootstrap)
    d2 = a2.describe_cluster(request_timeout=15).result(timeout=20)
    assert d2.cluster_id == d.cluster_id


def test_list_offsets_earliest_latest_by_timestamp_and_max_timestamp(broker):
    name = create_topic(broker.bootstrap)
    base = 1_700_000_000_000
    # timestamps: 0..9 increasing by 1s, except offset 5 carries the maximum
    ts = [base + i * 1000 for i in range(10)]
    ts[5] = base + 100_000
    produce_and_wait(producer(broker.bootstrap), name,
                     [{"value": b"v", "timestamp": t} for t in ts])
    a = admin(broker.bootstrap)
    tp = TopicPartition(name, 0)

    def one(spec):
        r = a.list_offsets({tp: spec}, isolation_level=IsolationLevel.READ_UNCOMMITTED, request_timeout=15)
        return r[tp].result(timeout=20)

    assert one(OffsetSpec.earliest()).offset == 0
    assert one(OffsetSpec.latest()).offset == 10
    assert one(OffsetSpec.for_timestamp(base + 3000)).offset == 3
    assert one(OffsetSpec.for_timestamp(base + 3500)).offset == 4
    assert one(OffsetSpec.for_timestamp(base + 200_000)).offset == -1
    mx = one(OffsetSpec.max_timestamp())
    assert (mx.offset, mx.timestamp) == (5, base + 100_000)
