"""Cross-client: the `runnel` tool's produce/consume (the native Rust client) against
librdkafka (confluent-kafka) and kafka-python, byte for byte, and keyed partitioning against
librdkafka's murmur2_random partitioner."""
from __future__ import annotations

import json
import subprocess

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition as KTopicPartition

from conftest import runnel_bin
from helpers import consume, create_topic, produce_and_wait, producer, topic_name

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def runnel(broker, *args: str, stdin: bytes = b"", timeout: float = 60.0) -> bytes:
    proc = subprocess.run([runnel_bin(), *args, "--bootstrap-server", broker.bootstrap],
                          input=stdin, capture_output=True, timeout=timeout)
    assert proc.returncode == 0, f"runnel {args} failed: {proc.stderr.decode(errors='replace')}"
    return proc.stdout


# Values with bytes other than newline: UTF-8 beyond ASCII, invalid UTF-8, NUL, tabs, CR-free.
VALUES = [b"plain", "h\u00e9llo w\u00f6rld \u2603".encode(), b"\x00\x01\xfe\xff", b"tab\there", b""]


@pytest.mark.parametrize("codec", CODECS)
def test_runnel_produced_records_are_read_byte_exact_by_librdkafka(broker, codec):
    topic = create_topic(broker.bootstrap, partitions=1)
    lines = b"".join(b"key-%d|" % i + v + b"\n" for i, v in enumerate(VALUES))
    runnel(broker, "produce", topic, "--key-separator", "|", "--compression", codec,
           "--header", "h=1", "--header", "h=2", "--header", "x=\u00fc", stdin=lines)
    got = consume(broker.bootstrap, topic, len(VALUES))
    assert [m.key() for m in got] == [b"key-%d" % i for i in range(len(VALUES))]
    assert [m.value() for m in got] == VALUES
    for m in got:
        assert m.headers() == [("h", b"1"), ("h", b"2"), ("x", "\u00fc".encode())]


def test_runnel_produced_records_are_read_by_kafka_python(broker):
    topic = create_topic(broker.bootstrap, partitions=1)
    runnel(broker, "produce", topic, "--key-separator", ":", "--compression", "lz4",
           "--header", "a=1", "--header", "a=2", stdin=b"k1:v1\nk2:v2\nk3:v3\n")
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False,
                      consumer_timeout_ms=10000, api_version_auto_timeout_ms=10000)
    try:
        c.assign([KTopicPartition(topic, 0)])
        c.seek_to_beginning()
        got = []
        for m in c:
            got.append(m)
            if len(got) == 3:
                break
    finally:
        c.close()
    assert [(m.key, m.value) for m in got] == [(b"k1", b"v1"), (b"k2", b"v2"), (b"k3", b"v3")]
    assert got[0].headers == [("a", b"1"), ("a", b"2")]


# (partition or None for kafka-python's murmur2 partitioner, key, value, headers): duplicate
# header keys, empty and null values, a null key, non-ASCII UTF-8, and bytes that are not UTF-8.
KP_RECORDS = [
    (0, b"k0", b"plain", [("h", b"1"), ("h", b"2")]),
    (1, b"k1", "h\u00e9llo \u2603".encode(), [("a", b""), ("b", b"x"), ("a", b"y")]),
    (2, None, b"no key", []),
    (0, b"tombstone", None, [("h", b"dup"), ("h", b"dup")]),
    (None, "\u03ba\u03bb\u03b5\u03b9\u03b4\u03af".encode(), b"", [("\u00fc", "\u00e9".encode())]),
    (None, b"user-7", b"keyed " * 50, [("trace", b"abc"), ("trace", b"def"), ("trace", b"abc")]),
    (None, b"\xfe\xff-key", b"\x00\x01\xfe\xff\t", [("bin", b"\x00\xff")]),
]


def _utf8(b: bytes | None) -> bool:
    try:
        b is None or b.decode()
        return True
    except UnicodeDecodeError:
        return False


def _enc(s: str | None) -> bytes | None:
    return None if s is None else s.encode()


@pytest.mark.parametrize("codec", [None, "gzip", "snappy", "lz4", "zstd"])
def test_kafka_python_produced_records_are_read_byte_exact_by_runnel_consume(broker, codec):
    topic = create_topic(broker.bootstrap, partitions=3)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, compression_type=codec, linger_ms=20,
                      request_timeout_ms=15000, api_version_auto_timeout_ms=10000)
    ts0 = 1_700_000_000_000
    futs = [p.send(topic, key=k, value=v, headers=h, partition=part, timestamp_ms=ts0 + i)
            for i, (part, k, v, h) in enumerate(KP_RECORDS)]
    p.flush(30)
    metas = [f.get(timeout=30) for f in futs]
    p.close()
    # What kafka-python says it wrote, keyed by where it landed.
    sent = {(m.partition, m.offset): (i, rec) for i, (m, rec) in enumerate(zip(metas, KP_RECORDS))}
    assert len(sent) == len(KP_RECORDS)
    n = str(len(KP_RECORDS))

    js = [json.loads(l) for l in runnel(broker, "consume", topic, "--from-beginning", "--count", n,
                                        "--json").splitlines()]
    assert sorted((r["partition"], r["offset"]) for r in js) == sorted(sent)
    for r in js:
        i, (_part, key, value, headers) = sent[(r["partition"], r["offset"])]
        assert (r["topic"], r["timestamp"], r["timestamp_type"]) == (topic, ts0 + i, "CreateTime")
        if not all(_utf8(b) for b in [key, value, *(v for _k, v in headers)]):
            continue  # --json shows text; the raw output below is checked byte for byte
        assert (_enc(r["key"]), _enc(r["value"])) == (key, value), r
        assert [(h["key"], h["value"].encode()) for h in r["headers"]] == headers, r
    assert sum(1 for r in js if r["value"] is None) == 1

    raw = runnel(broker, "consume", topic, "--from-beginning", "--count", n, "--print-partition",
                 "--print-offset", "--print-headers", "--print-key", "--separator", "|")
    rows = raw.split(b"\n")[:-1]
    want = []
    for (part, off), (_i, (_p, key, value, headers)) in sent.items():
        hs = b",".join(k.encode() + b":" + v for k, v in headers) or b"NO_HEADERS"
        want.append(b"Partition:%d|Offset:%d|%s|%s|%s" % (
            part, off, hs, b"null" if key is None else key, b"null" if value is None else value))
    assert sorted(rows) == sorted(want)


@pytest.mark.parametrize("codec", CODECS)
def test_librdkafka_produced_records_are_printed_byte_exact_by_runnel_consume(broker, codec):
    topic = create_topic(broker.bootstrap, partitions=1)
    headers = [("a", b"1"), ("b", b""), ("a", b"2")]
    recs = [{"key": b"k%d" % i, "value": v, "headers": headers} for i, v in enumerate(VALUES)]
    produce_and_wait(producer(broker.bootstrap, compression_type=codec), topic, recs)
    out = runnel(broker, "consume", topic, "--from-beginning", "--count", str(len(VALUES)),
                 "--print-key", "--print-offset", "--separator", "|")
    rows = out.split(b"\n")[:-1]
    assert rows == [b"Offset:%d|k%d|" % (i, i) + v for i, v in enumerate(VALUES)]
    js = [json.loads(l) for l in runnel(broker, "consume", topic, "--from-beginning", "--count", "1",
                                        "--json").splitlines()]
    assert js[0]["headers"] == [{"key": "a", "value": "1"}, {"key": "b", "value": ""},
                                {"key": "a", "value": "2"}]
    assert (js[0]["key"], js[0]["value"], js[0]["offset"]) == ("k0", "plain", 0)


def test_runnel_puts_keys_on_the_same_partitions_as_librdkafka_murmur2_random(broker):
    keys = [f"user-{i}" for i in range(200)] + ["", "a", "\u00e9t\u00e9", "0123456789abcdef"]
    ours = create_topic(broker.bootstrap, partitions=7)
    theirs = create_topic(broker.bootstrap, partitions=7)
    runnel(broker, "produce", ours, "--key-separator", "\t",
           stdin="".join(f"{k}\tv\n" for k in keys).encode())
    reports = produce_and_wait(producer(broker.bootstrap, partitioner="murmur2_random"), theirs,
                               [{"key": k.encode(), "value": b"v"} for k in keys])
    librdkafka = {m.key(): m.partition() for m in reports}
    out = runnel(broker, "consume", ours, "--from-beginning", "--count", str(len(keys)), "--json")
    runnel_parts = {json.loads(l)["key"].encode(): json.loads(l)["partition"] for l in out.splitlines()}
    assert runnel_parts == librdkafka
    assert len(set(librdkafka.values())) == 7


def test_runnel_consume_of_an_unknown_topic_fails_clearly(broker):
    missing = topic_name("missing")
    proc = subprocess.run([runnel_bin(), "consume", missing, "--count", "1",
                           "--bootstrap-server", broker.bootstrap], capture_output=True, timeout=30)
    assert proc.returncode != 0
    assert b"UnknownTopicOrPartition" in proc.stderr and missing.encode() in proc.stderr


@pytest.mark.parametrize("strategy", ["range", "roundrobin", "cooperative-sticky"])
def test_runnel_and_librdkafka_members_share_one_group(broker, strategy):
    import time
    from helpers import consumer
    topic = create_topic(broker.bootstrap, partitions=4)
    group = f"mixed-{strategy}"
    c = consumer(broker.bootstrap, **{"group.id": group, "partition.assignment.strategy": strategy,
                                      "session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
    c.subscribe([topic])
    deadline = time.monotonic() + 30
    while len(c.assignment()) != 4 and time.monotonic() < deadline:
        c.poll(0.2)
    assert len(c.assignment()) == 4
    proc = subprocess.Popen([runnel_bin(), "consume", topic, "--group", group, "--json", "--from-beginning",
                             "--property", f"partition.assignment.strategy={strategy}",
                             "--property", "heartbeat.interval.ms=500",
                             "--timeout-ms", "6000", "--bootstrap-server", broker.bootstrap],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while len(c.assignment()) != 2 and time.monotonic() < deadline:
            c.poll(0.2)
        mine = sorted(tp.partition for tp in c.assignment())
        assert len(mine) == 2, f"librdkafka member kept {mine}"
        produce_and_wait(producer(broker.bootstrap), topic,
                         [{"value": b"%d" % i, "partition": i % 4} for i in range(40)])
        got = []
        deadline = time.monotonic() + 20
        while len(got) < 20 and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append(m)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        c.close()
    assert proc.returncode == 0, err.decode(errors="replace")
    theirs = [json.loads(l) for l in out.splitlines()]
    runnel_parts = sorted({r["partition"] for r in theirs})
    assert sorted(mine + runnel_parts) == [0, 1, 2, 3], (mine, runnel_parts)
    values = sorted([m.value() for m in got] + [r["value"].encode() for r in theirs])
    assert values == sorted(b"%d" % i for i in range(40))
