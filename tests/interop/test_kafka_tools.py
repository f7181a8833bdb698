"""Kafka's own command-line tools (the kafka-tools jar, run as its bin/ scripts run them) against
the broker: exit codes and the meaningful parts of their output, as Kafka 4.4 gives them.

Each test creates its own topics and groups (the Kafka broker is shared by the session), and
prepares data with confluent-kafka where the tool under test is not the one producing it.
"""
from __future__ import annotations

import base64
import json
import re
import struct
import time
import uuid
from datetime import datetime, timezone

from confluent_kafka import TopicPartition

from helpers import admin, consumer, create_topic, produce_and_wait, producer, topic_name, wait_for_partitions
from jvm import run_tool

FAST = {"group.initial.rebalance.delay.ms": "0"}
TOOLS = "org.apache.kafka.tools."
CLASSES = {
    "kafka-topics": "TopicCommand",
    "kafka-configs": "ConfigCommand",
    "kafka-console-producer": "ConsoleProducer",
    "kafka-console-consumer": "consumer.ConsoleConsumer",
    "kafka-consumer-groups": "consumer.group.ConsumerGroupCommand",
    "kafka-get-offsets": "GetOffsetShell",
    "kafka-delete-records": "DeleteRecordsCommand",
    "kafka-log-dirs": "LogDirsCommand",
    "kafka-producer-perf-test": "ProducerPerformance",
    "kafka-consumer-perf-test": "ConsumerPerformance",
    "kafka-verifiable-producer": "VerifiableProducer",
    "kafka-verifiable-consumer": "VerifiableConsumer",
    "kafka-broker-api-versions": "BrokerApiVersionsCommand",
    "kafka-features": "FeatureCommand",
}


def tool(broker, name: str, *args: str, input: str | None = None, rc: int | None = 0, timeout: float = 90.0):
    """Runs bin/<name> with --bootstrap-server; asserts its exit code unless rc is None."""
    r = run_tool(TOOLS + CLASSES[name], "--bootstrap-server", broker.bootstrap, *args, input=input,
                 timeout=timeout)
    if rc is not None:
        assert r.returncode == rc, (f"{name} {' '.join(args)} exited {r.returncode}, wanted {rc}\n"
                                    f"stdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}")
    return r


def rows(out: str) -> list[list[str]]:
    """The data rows of a kafka-consumer-groups table (whitespace-separated, header dropped)."""
    lines = [l.split() for l in out.splitlines() if l.strip()]
    return [l for l in lines if l[0] != "GROUP"]


def wait_topic_config(bootstrap: str, topic: str, key: str, value: str | None, timeout: float = 15.0) -> None:
    """Until the broker shows `key` as set to `value` (None: back at its default). Kafka applies
    config changes through its metadata log, a moment after the admin call returns."""
    from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType
    a = admin(bootstrap)
    r = ConfigResource(ResourceType.TOPIC, topic)
    deadline = time.monotonic() + timeout
    while True:
        e = a.describe_configs([r], request_timeout=10)[r].result(timeout=15)[key]
        dynamic = ConfigSource(e.source) == ConfigSource.DYNAMIC_TOPIC_CONFIG
        if (value is None and not dynamic) or (dynamic and e.value == value):
            return
        assert time.monotonic() < deadline, f"{topic} {key}={e.value} ({e.source}), wanted {value}"
        time.sleep(0.1)


def wait_gone(bootstrap: str, topic: str, timeout: float = 15.0) -> None:
    a = admin(bootstrap)
    deadline = time.monotonic() + timeout
    while topic in a.list_topics(timeout=5).topics:
        assert time.monotonic() < deadline, f"{topic} still listed {timeout}s after its deletion"
        time.sleep(0.1)


# --------------------------------------------------------------------------- kafka-topics
def test_kafka_topics_creates_lists_alters_describes_and_deletes_a_topic(broker):
    t = topic_name("topics")
    r = tool(broker, "kafka-topics", "--create", "--topic", t, "--partitions", "3", "--replication-factor", "1",
             "--config", "retention.ms=12345")
    assert r.stdout.strip() == f"Created topic {t}."
    r = tool(broker, "kafka-topics", "--create", "--topic", t, "--partitions", "3", rc=1)
    assert f"Error while executing topic command : Topic '{t}' already exists." in r.stdout
    assert t in tool(broker, "kafka-topics", "--list").stdout.split()
    tool(broker, "kafka-topics", "--alter", "--topic", t, "--partitions", "5")
    wait_for_partitions(admin(broker.bootstrap), t, 5)

    out = tool(broker, "kafka-topics", "--describe", "--topic", t).stdout.splitlines()
    head = re.fullmatch(rf"Topic: {t}\tTopicId: (\S{{22}})\tPartitionCount: 5\tReplicationFactor: 1\tConfigs: (\S*)",
                        out[0])
    assert head, out[0]
    assert "retention.ms=12345" in head.group(2).split(","), head.group(2)
    for p, line in enumerate(out[1:]):
        assert line.startswith(f"\tTopic: {t}\tPartition: {p}\tLeader: 1\tReplicas: 1\tIsr: 1\t"), line
    assert len(out) == 6, out

    tool(broker, "kafka-topics", "--delete", "--topic", t)
    wait_gone(broker.bootstrap, t)
    r = tool(broker, "kafka-topics", "--describe", "--topic", t, rc=1)
    assert f"Topic '{t}' does not exist as expected" in r.stdout


def test_kafka_topics_describe_shows_empty_eligible_leader_replicas(broker):
    t = create_topic(broker.bootstrap, partitions=1)
    out = tool(broker, "kafka-topics", "--describe", "--topic", t).stdout.splitlines()
    assert out[1] == f"\tTopic: {t}\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr: ", out


# --------------------------------------------------------------------------- kafka-configs
def test_kafka_configs_describes_and_alters_topic_configs(broker):
    t = create_topic(broker.bootstrap, config={"retention.ms": "12345"})
    args = ("--entity-type", "topics", "--entity-name", t)
    out = tool(broker, "kafka-configs", *args, "--describe").stdout.splitlines()
    assert out == [f"Dynamic configs for topic {t} are:",
                   "  retention.ms=12345 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=12345}"]

    r = tool(broker, "kafka-configs", *args, "--alter", "--add-config", "cleanup.policy=[compact,delete],max.message.bytes=2000000")
    assert r.stdout.strip() == f"Completed updating config for topic {t}."
    tool(broker, "kafka-configs", *args, "--alter", "--delete-config", "retention.ms")
    wait_topic_config(broker.bootstrap, t, "max.message.bytes", "2000000")
    wait_topic_config(broker.bootstrap, t, "retention.ms", None)
    out = tool(broker, "kafka-configs", *args, "--describe").stdout.splitlines()
    assert out == [
        f"Dynamic configs for topic {t} are:",
        "  cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete, "
        "DEFAULT_CONFIG:log.cleanup.policy=delete}",
        "  max.message.bytes=2000000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:max.message.bytes=2000000, "
        "DEFAULT_CONFIG:message.max.bytes=1048588}",
    ], out

    r = tool(broker, "kafka-configs", *args, "--alter", "--add-config", "no.such.config=1", rc=1)
    assert "InvalidConfigurationException: Unknown topic config name: no.such.config" in r.stdout + r.stderr
    every = tool(broker, "kafka-configs", *args, "--describe", "--all").stdout.splitlines()
    assert every[0] == f"All configs for topic {t} are:"
    for line in ("  segment.bytes=1073741824 sensitive=false synonyms={DEFAULT_CONFIG:log.segment.bytes=1073741824}",
                 "  min.insync.replicas=1 ",
                 "  cleanup.policy=compact,delete sensitive=false "):
        assert any(l.startswith(line) for l in every), (line, every)


def test_kafka_configs_describes_broker_configs(broker):
    args = ("--entity-type", "brokers", "--entity-name", "1")
    out = tool(broker, "kafka-configs", *args, "--describe").stdout.splitlines()
    assert out == ["Dynamic configs for broker 1 are:"], out
    every = tool(broker, "kafka-configs", *args, "--describe", "--all").stdout.splitlines()
    assert every[0] == "All configs for broker 1 are:"
    for line in ("  log.retention.hours=168 sensitive=false synonyms={DEFAULT_CONFIG:log.retention.hours=168}",
                 "  message.max.bytes=1048588 sensitive=false synonyms={DEFAULT_CONFIG:message.max.bytes=1048588}",
                 "  node.id=1 sensitive=false ",
                 f"  log.dirs={broker.data_dir} sensitive=false synonyms={{STATIC_BROKER_CONFIG:log.dirs={broker.data_dir}"):
        assert any(l.startswith(line) for l in every), (line, [l for l in every if l.split("=")[0] == line.split("=")[0]])


def test_kafka_configs_shows_broker_id_equal_to_node_id(broker):
    every = tool(broker, "kafka-configs", "--entity-type", "brokers", "--entity-name", "1", "--describe",
                 "--all").stdout.splitlines()
    assert any(l.startswith("  broker.id=1 sensitive=false") for l in every), [l for l in every if "broker.id" in l]


def test_kafka_configs_alters_broker_configs_per_broker_and_as_cluster_default(broker):
    one = ("--entity-type", "brokers", "--entity-name", "1")
    default = ("--entity-type", "brokers", "--entity-default")
    try:
        r = tool(broker, "kafka-configs", *one, "--alter", "--add-config", "log.cleaner.threads=2")
        assert r.stdout.strip() == "Completed updating config for broker 1."
        r = tool(broker, "kafka-configs", *default, "--alter", "--add-config", "log.retention.ms=86400000")
        assert r.stdout.strip() == "Completed updating default config for brokers in the cluster."
        from conftest import _describe_broker
        deadline = time.monotonic() + 15  # Kafka applies them through its metadata log
        while not (_describe_broker(broker.bootstrap)["log.cleaner.threads"].value == "2"
                   and _describe_broker(broker.bootstrap)["log.retention.ms"].value == "86400000"):
            assert time.monotonic() < deadline, "broker configs not in force after 15 s"
            time.sleep(0.1)
        out = tool(broker, "kafka-configs", *one, "--describe").stdout.splitlines()
        assert ("  log.cleaner.threads=2 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:log.cleaner.threads=2, "
                "DEFAULT_CONFIG:log.cleaner.threads=1}") in out, out
        out = tool(broker, "kafka-configs", *default, "--describe").stdout.splitlines()
        assert ("  log.retention.ms=86400000 sensitive=false "
                "synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=86400000}") in out, out
        r = tool(broker, "kafka-configs", *one, "--alter", "--add-config", "num.partitions=3", rc=1)
        assert "Cannot update these configs dynamically: [num.partitions]" in r.stdout + r.stderr
    finally:  # the Kafka broker is shared: put its configs back
        tool(broker, "kafka-configs", *one, "--alter", "--delete-config", "log.cleaner.threads", rc=None)
        tool(broker, "kafka-configs", *default, "--alter", "--delete-config", "log.retention.ms", rc=None)


# --------------------------------------------------------------------------- console producer / consumer
def test_console_producer_and_consumer_carry_keys_headers_and_commit_for_the_group(broker_factory):
    b = broker_factory(FAST)
    t = create_topic(b.bootstrap, partitions=3)
    group = f"console-{uuid.uuid4().hex[:8]}"
    lines = [f"h1:v{i},h2:x{i}\tkey-{i}\tvalue {i}" for i in range(6)] + ["h3:\tkey-6\tno header value"]
    tool(b, "kafka-console-producer", "--topic", t, "--reader-property", "parse.key=true",
         "--reader-property", "parse.headers=true", input="\n".join(lines) + "\n")
    r = tool(b, "kafka-console-consumer", "--topic", t, "--from-beginning", "--group", group, "--max-messages", "7",
             "--formatter-property", "print.key=true", "--formatter-property", "print.headers=true",
             "--formatter-property", "print.partition=true", "--formatter-property", "print.offset=true",
             "--formatter-property", "key.separator=|")
    got = r.stdout.splitlines()
    assert "Processed a total of 7 messages" in r.stderr
    # key.separator separates every printed field
    parsed = [re.fullmatch(r"Partition:(\d)\|Offset:(\d+)\|(.*)", l) for l in got]
    assert all(parsed), got
    assert sorted(m.group(3) for m in parsed) == sorted([f"h1:v{i},h2:x{i}|key-{i}|value {i}" for i in range(6)]
                                                        + ["h3:|key-6|no header value"])
    # The keys chose the partitions (murmur2, client side): the same record lands in the same
    # partition on any broker; offsets per partition run from 0.
    per_partition: dict[int, list[int]] = {}
    for m in parsed:
        per_partition.setdefault(int(m.group(1)), []).append(int(m.group(2)))
    assert all(sorted(o) == list(range(len(o))) for o in per_partition.values()), per_partition

    # The console consumer committed what it printed: the group has no lag.
    out = tool(b, "kafka-consumer-groups", "--describe", "--group", group).stdout
    table = {int(r[2]): r for r in rows(out)}
    for p, offsets in per_partition.items():
        assert table[p][3] == table[p][4] == str(len(offsets)) and table[p][5] == "0", (p, table[p])


# --------------------------------------------------------------------------- kafka-consumer-groups
def _timestamped_topic(bootstrap: str, now_ms: int) -> str:
    """One partition, offsets 0-4 two hours old (a second apart), offsets 5-9 ten minutes old."""
    t = create_topic(bootstrap, partitions=1)
    stamps = [now_ms - 7_200_000 + i * 1000 for i in range(5)] + [now_ms - 600_000 + i * 1000 for i in range(5)]
    produce_and_wait(producer(bootstrap), t, [{"value": b"v%d" % i, "partition": 0, "timestamp": ts}
                                              for i, ts in enumerate(stamps)])
    return t


def _reset(b, group: str, t: str, *mode: str, execute: bool = True) -> str:
    r = tool(b, "kafka-consumer-groups", "--group", group, "--reset-offsets", "--topic", t, *mode,
             "--execute" if execute else "--dry-run")
    (row,) = rows(r.stdout)
    assert row[:3] == [group, t, "0"], row
    return row[3]


def test_kafka_consumer_groups_resets_offsets_in_every_mode(broker_factory):
    b = broker_factory(FAST)
    now_ms = int(time.time() * 1000)
    t = _timestamped_topic(b.bootstrap, now_ms)
    group = f"reset-{uuid.uuid4().hex[:8]}"
    assert _reset(b, group, t, "--to-offset", "7") == "7"
    assert group in tool(b, "kafka-consumer-groups", "--list").stdout.split()
    out = tool(b, "kafka-consumer-groups", "--describe", "--group", group).stdout
    assert rows(out) == [[group, t, "0", "7", "10", "3", "-", "-", "-"]], out

    assert _reset(b, group, t, "--shift-by", "-2") == "5"
    assert _reset(b, group, t, "--shift-by", "100") == "10"  # clamped to the log end
    assert _reset(b, group, t, "--to-earliest") == "0"
    assert _reset(b, group, t, "--to-latest", execute=False) == "10"  # a dry run changes nothing
    assert _reset(b, group, t, "--to-current") == "0"
    assert _reset(b, group, t, "--to-latest") == "10"
    third = datetime.fromtimestamp((now_ms - 7_200_000 + 2500) / 1000, timezone.utc)
    assert _reset(b, group, t, "--to-datetime", third.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z") == "3"
    assert _reset(b, group, t, "--by-duration", "PT1H") == "5"
    out = tool(b, "kafka-consumer-groups", "--describe", "--group", group).stdout
    assert rows(out) == [[group, t, "0", "5", "10", "5", "-", "-", "-"]], out


def test_kafka_consumer_groups_describes_members_refuses_a_reset_while_active_and_deletes(broker_factory):
    b = broker_factory(FAST)
    t = create_topic(b.bootstrap, partitions=2)
    produce_and_wait(producer(b.bootstrap), t, [{"value": b"x", "partition": i % 2} for i in range(6)])
    group = f"active-{uuid.uuid4().hex[:8]}"
    c = consumer(b.bootstrap, **{"group.id": group, "client.id": "interop-member", "session.timeout.ms": 10000})
    try:
        c.subscribe([t])
        deadline = time.monotonic() + 30
        seen = 0
        while (seen < 6 or len(c.assignment()) < 2) and time.monotonic() < deadline:
            m = c.poll(0.2)
            seen += m is not None and not m.error()
        assert seen == 6, f"consumed {seen} of 6"
        c.commit(offsets=[TopicPartition(t, 0, 2), TopicPartition(t, 1, 3)], asynchronous=False)

        out = tool(b, "kafka-consumer-groups", "--describe", "--group", group).stdout
        lag = sorted(rows(out))
        assert [r[:6] for r in lag] == [[group, t, "0", "2", "3", "1"], [group, t, "1", "3", "3", "0"]], out
        assert all(r[8] == "interop-member" and r[7] == "/127.0.0.1" and r[6] != "-" for r in lag), out
        out = tool(b, "kafka-consumer-groups", "--describe", "--group", group, "--members").stdout
        (member,) = rows(out)
        assert member[0] == group and member[2:] == ["/127.0.0.1", "interop-member", "2"], out
        out = tool(b, "kafka-consumer-groups", "--describe", "--group", group, "--state").stdout
        (state,) = rows(out)
        assert state[0] == group and state[-3:] == ["range", "Stable", "1"], out
        r = tool(b, "kafka-consumer-groups", "--group", group, "--reset-offsets", "--to-earliest", "--topic", t,
                 "--execute", rc=None)
        assert (f"Assignments can only be reset if the group '{group}' is inactive, but the current state is "
                f"Stable.") in r.stdout + r.stderr
        r = tool(b, "kafka-consumer-groups", "--delete", "--group", group, rc=None)
        assert "The group is not empty" in r.stdout + r.stderr
    finally:
        c.close()

    r = tool(b, "kafka-consumer-groups", "--delete-offsets", "--group", group, "--topic", t)
    assert r.stdout.splitlines()[0] == f"Request succeeded for deleting offsets from group {group}."
    statuses = sorted(l.split() for l in r.stdout.splitlines() if l.endswith("Successful") or t in l)
    assert statuses == [[t, "0", "Successful"], [t, "1", "Successful"]], r.stdout
    r = tool(b, "kafka-consumer-groups", "--delete", "--group", group)
    assert r.stdout.strip() == f"Deletion of requested consumer groups ('{group}') was successful."
    assert group not in tool(b, "kafka-consumer-groups", "--list").stdout.split()


# --------------------------------------------------------------------------- offsets and records
def test_kafka_get_offsets_and_delete_records(broker):
    now_ms = int(time.time() * 1000)
    t = _timestamped_topic(broker.bootstrap, now_ms)
    latest = tool(broker, "kafka-get-offsets", "--topic", t).stdout.split()
    assert latest == [f"{t}:0:10"]
    by_time = tool(broker, "kafka-get-offsets", "--topic-partitions", f"{t}:0", "--time",
                   str(now_ms - 7_200_000 + 1500)).stdout.split()
    assert by_time == [f"{t}:0:2"]
    max_ts = tool(broker, "kafka-get-offsets", "--topic", t, "--time", "-3").stdout.split()
    assert max_ts == [f"{t}:0:9"]

    spec = broker.data_dir.parent / f"delete-{t}.json"
    spec.write_text(json.dumps({"version": 1, "partitions": [{"topic": t, "partition": 0, "offset": 4}]}))
    r = tool(broker, "kafka-delete-records", "--offset-json-file", str(spec))
    assert r.stdout.splitlines() == ["Executing records delete operation", "Records delete operation completed:",
                                     f"partition: {t}-0\tlow_watermark: 4"], r.stdout
    earliest = tool(broker, "kafka-get-offsets", "--topic", t, "--time", "-2").stdout.split()
    assert earliest == [f"{t}:0:4"]


def test_kafka_log_dirs_describes_the_partitions_of_a_topic(broker):
    t = create_topic(broker.bootstrap, partitions=2)
    produce_and_wait(producer(broker.bootstrap), t, [{"value": b"x" * 100, "partition": 0} for _ in range(20)])
    r = tool(broker, "kafka-log-dirs", "--describe", "--topic-list", t)
    lines = r.stdout.splitlines()
    assert lines[:2] == ["Querying brokers for log directories information",
                         "Received log directory information from brokers 1"], lines
    doc = json.loads(lines[2])
    assert doc["version"] == 1 and [b["broker"] for b in doc["brokers"]] == [1], doc
    (d,) = doc["brokers"][0]["logDirs"]
    assert d["error"] is None and d["logDir"] == str(broker.data_dir), d
    parts = {p["partition"]: p for p in d["partitions"]}
    assert sorted(parts) == [f"{t}-0", f"{t}-1"], parts
    assert parts[f"{t}-0"]["size"] > 20 * 100 and parts[f"{t}-1"]["size"] == 0, parts
    assert all(p["offsetLag"] == 0 and p["isFuture"] is False for p in parts.values()), parts


# --------------------------------------------------------------------------- load tools
def test_producer_and_consumer_perf_tests_move_every_record(broker_factory):
    b = broker_factory(FAST)
    t = create_topic(b.bootstrap, partitions=2)
    r = tool(b, "kafka-producer-perf-test", "--topic", t, "--num-records", "20000", "--record-size", "100",
             "--throughput", "-1", "--command-property", "acks=all")
    summary = r.stdout.strip().splitlines()[-1]
    assert re.match(r"20000 records sent, [\d.]+ records/sec \([\d.]+ MB/sec\), [\d.]+ ms avg latency", summary), summary
    r = tool(b, "kafka-consumer-perf-test", "--topic", t, "--num-records", "20000", "--timeout", "30000")
    header, data = r.stdout.strip().splitlines()[-2:]
    cols = dict(zip([c.strip() for c in header.split(",")], [c.strip() for c in data.split(",")]))
    assert cols["data.consumed.in.nMsg"] == "20000", cols
    assert abs(float(cols["data.consumed.in.MB"]) - 20000 * 100 / 1024 / 1024) < 0.01, cols


def test_verifiable_producer_and_consumer_agree_on_every_record(broker_factory):
    b = broker_factory(FAST)
    t = create_topic(b.bootstrap, partitions=2)
    r = tool(b, "kafka-verifiable-producer", "--topic", t, "--max-messages", "200", "--acks", "-1")
    events = [json.loads(l) for l in r.stdout.splitlines()]
    sent = [e for e in events if e["name"] == "producer_send_success"]
    assert len(sent) == 200 and events[-1]["name"] == "tool_data", events[-3:]
    assert events[-1]["sent"] == events[-1]["acked"] == 200, events[-1]
    acked = {(e["partition"], e["offset"]): e["value"] for e in sent}
    assert len(acked) == 200, "two records acknowledged at the same offset"

    group = f"verifiable-{uuid.uuid4().hex[:8]}"
    r = tool(b, "kafka-verifiable-consumer", "--topic", t, "--group-id", group, "--max-messages", "200",
             "--reset-policy", "earliest")
    events = [json.loads(l) for l in r.stdout.splitlines()]
    consumed = [p for e in events if e["name"] == "records_consumed" for p in e["partitions"]]
    per_partition = {}
    for c in consumed:
        per_partition.setdefault(c["partition"], []).append((c["minOffset"], c["maxOffset"], c["count"]))
    total = sum(c["count"] for c in consumed)
    assert total == 200, per_partition
    ends = {p: max(o for (pp, o) in acked if pp == p) for p, _ in acked}
    for p, spans in per_partition.items():
        assert spans[0][0] == 0 and spans[-1][1] == ends[p], (p, spans, ends)
    commits = [e for e in events if e["name"] == "offsets_committed"]
    assert commits and all(e["success"] for e in commits), commits
    last = {o["partition"]: o["offset"] for e in commits for o in e["offsets"]}
    assert last == {p: ends[p] + 1 for p in ends}, (last, ends)


# --------------------------------------------------------------------------- cluster tools
# The APIs the tools in this file need, each with a usable version for the 4.4 tools.
NEEDED_APIS = ["Produce", "Fetch", "ListOffsets", "Metadata", "OffsetCommit", "OffsetFetch", "FindCoordinator",
               "JoinGroup", "Heartbeat", "LeaveGroup", "SyncGroup", "DescribeGroups", "ListGroups", "ApiVersions",
               "CreateTopics", "DeleteTopics", "DeleteRecords", "InitProducerId", "DescribeConfigs", "AlterConfigs",
               "DescribeLogDirs", "CreatePartitions", "DeleteGroups", "IncrementalAlterConfigs", "OffsetDelete",
               "DescribeCluster"]


def test_kafka_broker_api_versions_lists_a_usable_version_of_every_api_the_tools_use(broker):
    out = tool(broker, "kafka-broker-api-versions").stdout.splitlines()
    assert out[0] == f"{broker.bootstrap} (id: 1 rack: null isFenced: false) -> (", out[0]
    assert out[-1] == ")"
    usable = {}
    for line in out[1:-1]:
        m = re.fullmatch(r"\t(\w+)\((\d+)\): (?:(\d+)(?: to (\d+))? \[usable: (\d+)\]|UNSUPPORTED),?", line)
        assert m, line
        usable[m.group(1)] = m.group(5)
    missing = [a for a in NEEDED_APIS if usable.get(a) is None]
    assert not missing, f"no usable version of {missing}"


def test_kafka_features_describes_finalized_feature_levels(broker):
    out = tool(broker, "kafka-features", "describe").stdout.splitlines()
    features = {}
    for line in out:
        m = re.fullmatch(r"Feature: (\S+)\s+SupportedMinVersion: (\S+)\s+SupportedMaxVersion: (\S+)\s+"
                         r"FinalizedVersionLevel: (\S+)\s+Epoch: (\S+)", line.strip())
        assert m, line
        features[m.group(1)] = m.groups()[1:]
    for name in ("group.version", "transaction.version"):
        lo, hi, level, epoch = features[name]
        assert int(lo) <= int(level) <= int(hi) and int(epoch) >= 0, (name, features[name])


# --------------------------------------------------------------------------- __consumer_offsets
def _offsets_partition(group: str, partitions: int = 50) -> int:
    """Kafka's partitionFor: abs(String.hashCode) % offsets.topic.num.partitions."""
    h = 0
    for ch in group:  # ASCII names: one UTF-16 unit per character, as Java hashes them
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    h = h - (1 << 32) if h >= 1 << 31 else h
    return (abs(h) if h != -(1 << 31) else 0) % partitions


def _json_objects(text: str) -> list[dict]:
    """The formatters print one JSON document per record with no separator."""
    dec, out, pos = json.JSONDecoder(), [], 0
    text = text.strip()
    while pos < len(text):
        obj, pos = dec.raw_decode(text, pos)
        out.append(obj)
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def test_console_consumer_formatters_decode_our_consumer_offsets_records(broker_factory):
    b = broker_factory(FAST)
    t = create_topic(b.bootstrap, partitions=2)
    produce_and_wait(producer(b.bootstrap), t, [{"value": b"x", "partition": i % 2} for i in range(4)])
    group = f"formatter-{uuid.uuid4().hex[:8]}"
    c = consumer(b.bootstrap, **{"group.id": group, "client.id": "formatter-client"})
    try:
        c.subscribe([t])
        deadline = time.monotonic() + 30
        while len(c.assignment()) < 2 and time.monotonic() < deadline:
            c.poll(0.2)
        assert len(c.assignment()) == 2
        c.commit(offsets=[TopicPartition(t, 0, 2, metadata="m0"), TopicPartition(t, 1, 1, metadata="m1")],
                 asynchronous=False)
    finally:
        c.close()
    p = str(_offsets_partition(group))
    common = ("--topic", "__consumer_offsets", "--partition", p, "--offset", "earliest", "--timeout-ms", "4000")
    r = tool(b, "kafka-console-consumer", *common, "--formatter",
             "org.apache.kafka.tools.consumer.OffsetsMessageFormatter", rc=None)
    ours = [o for o in _json_objects(r.stdout) if o["key"]["data"].get("group") == group]
    commits = {(o["key"]["data"]["topic"], o["key"]["data"]["partition"]): o["value"] for o in ours}
    assert all(o["key"]["type"] == 1 for o in ours), ours
    assert set(commits) == {(t, 0), (t, 1)}, (r.stdout[-2000:], r.stderr[-2000:])
    for part, offset, meta in ((0, 2, "m0"), (1, 1, "m1")):
        v = commits[(t, part)]
        # confluent-kafka sends the metadata string with its C terminator
        assert 1 <= v["version"] <= 4 and v["data"]["offset"] == offset, v
        assert v["data"]["metadata"] in (meta, meta + "\x00"), v
        assert abs(v["data"]["commitTimestamp"] - time.time() * 1000) < 120_000, v

    r = tool(b, "kafka-console-consumer", *common, "--formatter",
             "org.apache.kafka.tools.consumer.GroupMetadataMessageFormatter", rc=None)
    ours = [o for o in _json_objects(r.stdout) if o["key"]["data"].get("group") == group]
    assert ours and all(o["key"]["type"] == 2 for o in ours), (r.stdout[-2000:], r.stderr[-2000:])
    stable = [o["value"]["data"] for o in ours if o["value"] and o["value"]["data"]["members"]]
    assert stable, ours
    g = stable[-1]
    assert g["protocolType"] == "consumer" and g["protocol"] == "range" and g["generation"] >= 1, g
    (m,) = g["members"]
    assert m["clientId"] == "formatter-client" and m["memberId"] == g["leader"], m
    assert m["clientHost"] == "/127.0.0.1" and m["groupInstanceId"] is None, m
    # The subscription is ConsumerProtocolSubscription bytes naming the topic.
    sub = base64.b64decode(m["subscription"])
    (n_topics,) = struct.unpack(">i", sub[2:6])
    (name_len,) = struct.unpack(">h", sub[6:8])
    assert n_topics == 1 and sub[8:8 + name_len].decode() == t, sub
    # The last record for the group after the member left is the empty group.
    assert ours[-1]["value"]["data"]["members"] == [], ours[-1]
