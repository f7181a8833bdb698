"""Differential: DescribeConfigs, CreateTopics configs and dynamic broker configs, with Kafka's
own answers as the expectation.

The expectation for DescribeConfigs is Kafka 4.4's answer for broker "1" and for a fresh topic,
as scripts/gen-kafka-configs.py stored it in scripts/gen-kafka-configs/kafka-configs.json (the
snapshot Runnel's key table is generated from). Every key both brokers report is compared field
by field: name, type, read-only flag, sensitivity, documentation and, where both report the
key at its default, the value, source and synonyms. Differences that remain are listed in
KNOWN_DIFFERENCES, each one explained in docs/kafka-differences.md. The other expectations here
were measured on Kafka 4.4 with kafka_raw.py. Run with `--broker kafka` to check that they
still hold.

Kafka applies a dynamic broker config a moment after answering the change, so reads after a
change poll until the change shows.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import kafka_raw as kr
from helpers import create_topic

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = json.loads((ROOT / "scripts" / "gen-kafka-configs" / "kafka-configs.json").read_text())
DIFFERENCES_DOC = (ROOT / "docs" / "kafka-differences.md").read_text()
TYPE_CODES = {"BOOLEAN": 1, "STRING": 2, "INT": 3, "SHORT": 4, "LONG": 5, "DOUBLE": 6, "LIST": 7,
              "CLASS": 8, "PASSWORD": 9}
TOPIC, BROKER = kr.RESOURCE_TOPIC, kr.RESOURCE_BROKER
SET, DELETE, APPEND, SUBTRACT = kr.OP_SET, kr.OP_DELETE, kr.OP_APPEND, kr.OP_SUBTRACT
STATIC, DEFAULT = 4, 5
DYNAMIC_BROKER, DYNAMIC_DEFAULT = 2, 3
INVALID_CONFIG, INVALID_REQUEST = 40, 42

# Where Runnel reports a key differently from Kafka, and which field: each is explained in
# docs/kafka-differences.md (checked below).
KNOWN_DIFFERENCES = {
    # Kafka 4.4's storage format writes min.insync.replicas=1 as a cluster-wide dynamic config.
    ("broker", "min.insync.replicas"): {"source", "synonyms"},
    ("topic", "min.insync.replicas"): {"source", "synonyms"},
    # Runnel's own default data directory.
    ("broker", "log.dir"): {"value", "synonyms"},
}
RUNNEL_ONLY_PREFIX = "runnel."


def describe(port: int, resource_type: int, name: str) -> dict:
    with kr.connection(port) as s:
        r, = kr.describe_configs_v4(s, [(resource_type, name, None)])
    assert r["error_code"] == 0, r
    return r["configs"]


def alter(port: int, name: str, ops, resource_type: int = BROKER, validate_only: bool = False):
    with kr.connection(port) as s:
        r, = kr.incremental_alter_configs_v1(s, [(resource_type, name, ops)], validate_only=validate_only)
    return r


def wait_until(what: str, probe, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while True:
        got = probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def shown(port: int, resource_type: int, name: str, key: str):
    """(value, source, synonyms) of `key`, or None when it is not listed."""
    c = describe(port, resource_type, name).get(key)
    if c is None:
        return None
    return c["value"], c["source"], [tuple(s) for s in c["synonyms"]]


def wait_shown(port: int, resource_type: int, name: str, key: str, value, source):
    return wait_until(f"{name or 'cluster default'} {key}={value} (source {source})",
                      lambda: (lambda g: g if g and g[0] == value and g[1] == source else None)(
                          shown(port, resource_type, name, key)))


def compare(section: str, name: str, got: dict, want: dict) -> list[str]:
    """Field-by-field differences of one key, known differences left out."""
    skip = KNOWN_DIFFERENCES.get((section, name), set())
    described = want["described"]
    problems = []

    def check(field, g, w):
        if field not in skip and g != w:
            problems.append(f"{section} {name}: {field} is {g!r}, Kafka says {w!r}")
    check("type", got["type"], TYPE_CODES[want["type"]])
    check("documentation", got["documentation"] or "", want["documentation"])
    if section == "broker":
        check("read_only", got["read_only"], want["mode"] == "read-only")
        check("sensitive", got["sensitive"], want["sensitive"])
    else:
        check("read_only", got["read_only"], False)
    # Values only where neither broker's own set-up (listeners, log dirs, ...) decided them.
    if got["source"] == DEFAULT and described["source"] == DEFAULT:
        check("value", got["value"], described["value"])
        check("synonyms", [list(s) for s in got["synonyms"]], described["synonyms"])
    elif got["source"] != STATIC and described["source"] != STATIC:
        check("source", got["source"], described["source"])
        check("synonyms", [list(s) for s in got["synonyms"]], described["synonyms"])
    return problems


def test_every_known_difference_is_explained_in_the_docs():
    for (_, key), fields in KNOWN_DIFFERENCES.items():
        assert f"`{key}`" in DIFFERENCES_DOC, f"docs/kafka-differences.md does not explain {key} ({fields})"


def test_a_fresh_topic_is_described_as_kafka_describes_it(broker):
    topic = create_topic(broker.bootstrap)
    got = describe(broker.port, TOPIC, topic)
    want = {k: v for k, v in SNAPSHOT["topic"].items() if not v["internal"]}
    assert set(got) == set(want), f"only here: {set(got) - set(want)}; only on Kafka: {set(want) - set(got)}"
    problems = [p for name in sorted(want) for p in compare("topic", name, got[name], want[name])]
    assert not problems, "\n".join(problems)


def test_the_broker_is_described_as_kafka_describes_it(broker):
    got = describe(broker.port, BROKER, "1")
    want = {k: v for k, v in SNAPSHOT["broker"].items() if not v["internal"]}
    ours = {k for k in got if not k.startswith(RUNNEL_ONLY_PREFIX)}
    assert ours == set(want), f"only here: {ours - set(want)}; only on Kafka: {set(want) - ours}"
    problems = [p for name in sorted(want) for p in compare("broker", name, got[name], want[name])]
    assert not problems, "\n".join(problems)


# (key, value, Kafka 4.4's answer to CreateTopics validate_only)
CREATE_CASES = [
    ("file.delete.delay.ms", "0", (0, None)),
    ("min.compaction.lag.ms", "0", (0, None)),
    ("compression.type", "lz4", (0, None)),
    ("max.compaction.lag.ms", "3600000", (0, None)),
    ("preallocate", "TRUE", (0, None)),
    ("cleanup.policy", "", (0, None)),
    ("local.retention.ms", "5", (0, None)),
    ("no.such.config", "1", (INVALID_CONFIG, "Unknown topic config name: no.such.config")),
    ("retention.ms", "soon", (INVALID_CONFIG, "Invalid value soon for configuration retention.ms: Not a number of type LONG")),
    ("compression.gzip.level", "10", (INVALID_CONFIG, "Invalid value 10 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1")),
    ("max.compaction.lag.ms", "0", (INVALID_CONFIG, "Invalid value 0 for configuration max.compaction.lag.ms: Value must be at least 1")),
    ("min.cleanable.dirty.ratio", "2", (INVALID_CONFIG, "Invalid value 2.0 for configuration min.cleanable.dirty.ratio: Value must be no more than 1")),
    ("remote.storage.enable", "true", (INVALID_CONFIG, "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage.")),
]


@pytest.mark.parametrize("key,value,answer", CREATE_CASES, ids=[f"{k}={v}" for k, v, _ in CREATE_CASES])
def test_create_topics_answers_a_config_as_kafka_does(broker, key, value, answer):
    name = f"cfg-{abs(hash((key, value))) % 10**8}"
    with kr.connection(broker.port) as s:
        got = kr.create_topics_v4(s, [(name, 1, {key: value})], validate_only=True)[name]
    assert got == answer


@pytest.mark.runnel_diverges("Runnel accepts segments down to 14 bytes (docs/kafka-differences.md)")
def test_segment_bytes_below_one_mebibyte_is_refused(broker):
    with kr.connection(broker.port) as s:
        got = kr.create_topics_v4(s, [("cfg-small-segments", 1, {"segment.bytes": "100"})], validate_only=True)
    assert got["cfg-small-segments"] == (
        INVALID_CONFIG, "Invalid value 100 for configuration segment.bytes: Value must be at least 1048576")


def test_a_dynamic_broker_config_is_shown_per_broker_and_as_the_cluster_default(broker):
    key, topic_key = "log.cleaner.min.compaction.lag.ms", "min.compaction.lag.ms"
    topic = create_topic(broker.bootstrap)
    try:
        assert alter(broker.port, "1", [(key, SET, "1000")]) == (0, None)
        assert alter(broker.port, "", [(key, SET, "2000")]) == (0, None)
        wait_shown(broker.port, BROKER, "", key, "2000", DYNAMIC_DEFAULT)
        got = wait_until("both levels on broker 1", lambda: (lambda g: g if len(g[2]) == 3 else None)(
            wait_shown(broker.port, BROKER, "1", key, "1000", DYNAMIC_BROKER)))
        assert got[2] == [(key, "1000", DYNAMIC_BROKER), (key, "2000", DYNAMIC_DEFAULT), (key, "0", DEFAULT)]
        assert shown(broker.port, BROKER, "", key) == ("2000", DYNAMIC_DEFAULT, [(key, "2000", DYNAMIC_DEFAULT)])
        got = wait_shown(broker.port, TOPIC, topic, topic_key, "1000", DYNAMIC_BROKER)
        assert got[2] == [(key, "1000", DYNAMIC_BROKER), (key, "2000", DYNAMIC_DEFAULT), (key, "0", DEFAULT)]
        assert alter(broker.port, "1", [(key, DELETE, None)]) == (0, None)
        wait_shown(broker.port, BROKER, "1", key, "2000", DYNAMIC_DEFAULT)
    finally:
        alter(broker.port, "1", [(key, DELETE, None)])
        alter(broker.port, "", [(key, DELETE, None)])
    got = wait_shown(broker.port, BROKER, "1", key, "0", DEFAULT)
    assert got[2] == [(key, "0", DEFAULT)]
    assert shown(broker.port, BROKER, "", key) is None


def test_append_and_subtract_change_a_broker_list_config_as_in_kafka(broker):
    key = "log.cleanup.policy"
    try:
        assert alter(broker.port, "1", [(key, APPEND, "compact")]) == (0, None)
        got = wait_shown(broker.port, BROKER, "1", key, "delete,compact", DYNAMIC_BROKER)
        assert got[2] == [(key, "delete,compact", DYNAMIC_BROKER), (key, "delete", DEFAULT)]
        assert alter(broker.port, "1", [(key, SUBTRACT, "delete")]) == (0, None)
        wait_shown(broker.port, BROKER, "1", key, "compact", DYNAMIC_BROKER)
        assert alter(broker.port, "1", [("background.threads", APPEND, "3")]) == (
            INVALID_CONFIG, "Config value append is not allowed for config key: background.threads")
    finally:
        assert alter(broker.port, "1", [(key, DELETE, None)]) == (0, None)
    wait_shown(broker.port, BROKER, "1", key, "delete", DEFAULT)


# (resource name, ops, Kafka 4.4's answer)
REFUSED_CHANGES = [
    ("1", [("num.partitions", SET, "4")], (INVALID_REQUEST, "Cannot update these configs dynamically: [num.partitions]")),
    ("", [("listeners", SET, "PLAINTEXT://:1")], (INVALID_REQUEST, "Cannot update these configs at default cluster level, broker id must be specified: [listeners]")),
    ("1", [("ssl.key.password", SET, "x")], (INVALID_REQUEST, "These security configs can be dynamically updated only per-listener using the listener prefix: [ssl.key.password]")),
    ("1", [("background.threads", SET, "0")], (INVALID_REQUEST, "Invalid value 0 for configuration background.threads: Value must be at least 1")),
    ("1", [("background.threads", SET, "x")], (INVALID_REQUEST, "Invalid value x for configuration background.threads: Not a number of type INT")),
    ("1", [("num.io.threads", SET, "100")], (INVALID_REQUEST, "Invalid value org.apache.kafka.common.config.ConfigException: Dynamic thread count update validation failed for num.io.threads=100, value should not be greater than double the current value 8 for configuration Invalid dynamic configuration")),
    ("2", [("background.threads", SET, "5")], (INVALID_REQUEST, "Unexpected broker id, expected 1, but received 2")),
    ("x", [("background.threads", SET, "5")], (INVALID_REQUEST, "Node id must be an integer, but it is: x")),
    ("1", [("log.cleaner.threads", SET, "2"), ("log.cleaner.threads", SET, "3")], (INVALID_REQUEST, "Error due to duplicate config keys")),
    ("1", [("num.partitions", DELETE, None)], (0, None)),
]


@pytest.mark.parametrize("name,ops,answer", REFUSED_CHANGES, ids=[f"{n or 'default'}:{o[0][0]}" for n, o, _ in REFUSED_CHANGES])
def test_a_broker_config_change_is_answered_as_kafka_answers_it(broker, name, ops, answer):
    assert alter(broker.port, name, ops, validate_only=True) == answer


def test_a_topic_list_config_subtract_on_a_non_list_key_is_refused_as_in_kafka(broker):
    topic = create_topic(broker.bootstrap)
    assert alter(broker.port, topic, [("retention.ms", SUBTRACT, "1")], resource_type=TOPIC, validate_only=True) == (
        INVALID_CONFIG, "Can't SUBTRACT to key retention.ms because its type is not LIST.")
    assert alter(broker.port, topic, [("no.such", DELETE, None)], resource_type=TOPIC, validate_only=True) == (0, None)
