"""kcat (librdkafka CLI) producing, consuming and listing metadata."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from helpers import create_topic

KCAT = shutil.which("kcat") or shutil.which("kafkacat")


def kcat(bootstrap, *args, input_=None, timeout=30):
    assert KCAT, "kcat is not installed (scripts/test.sh installs it)"
    r = subprocess.run([KCAT, "-b", bootstrap, "-X", "broker.address.family=v4", *args],
                       input=input_, capture_output=True, timeout=timeout)
    assert r.returncode == 0, f"kcat {args} failed rc={r.returncode}: {r.stderr.decode(errors='replace')}"
    return r.stdout.decode()


FMT = "%k|%s|%p|%o|%h\\n"


def _produce(bootstrap, topic, lines, *extra):
    kcat(bootstrap, "-P", "-t", topic, "-p", "0", "-K", ":", *extra, input_=("\n".join(lines) + "\n").encode())


def test_kcat_produces_keys_and_headers_and_consumes_them_formatted(broker):
    topic = create_topic(broker.bootstrap)
    _produce(broker.bootstrap, topic, ["k1:v1", "k2:v2", "k3:v3"], "-H", "hk=hv", "-H", "trace=abc")
    out = kcat(broker.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-f", FMT)
    assert out.splitlines() == [
        "k1|v1|0|0|hk=hv,trace=abc",
        "k2|v2|0|1|hk=hv,trace=abc",
        "k3|v3|0|2|hk=hv,trace=abc",
    ]


def test_kcat_metadata_lists_the_broker_and_topics(broker):
    t1 = create_topic(broker.bootstrap, partitions=3)
    out = kcat(broker.bootstrap, "-L")
    assert "1 brokers:" in out
    assert f"broker 1 at 127.0.0.1:{broker.port}" in out
    assert f'topic "{t1}" with 3 partitions:' in out
    for p in range(3):
        assert f"partition {p}, leader 1, replicas: 1, isrs: 1" in out


@pytest.mark.parametrize("offset_arg,expected", [
    ("beginning", ["v0", "v1", "v2", "v3", "v4"]),
    ("end", []),
    ("-2", ["v3", "v4"]),
    ("3", ["v3", "v4"]),
])
def test_kcat_consumes_from_the_requested_start_offset(broker, offset_arg, expected):
    topic = create_topic(broker.bootstrap)
    _produce(broker.bootstrap, topic, [f"k{i}:v{i}" for i in range(5)])
    out = kcat(broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", offset_arg, "-e", "-f", "%s\\n")
    assert out.splitlines() == expected
