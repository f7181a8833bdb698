"""Starting the broker: --config server.properties files and --set overrides."""
from __future__ import annotations

import time

import pytest

import kafka_raw as kr

pytestmark = pytest.mark.runnel_only("`runnel serve` start-up: its --config file and --set flags")


def _auto_created_partitions(port: int, topic: str) -> int:
    with kr.connection(port) as s:
        deadline = time.monotonic() + 10
        while True:
            t = kr.metadata_v1(s, [topic])["topics"][topic]
            if t["error_code"] == 0 and t["partitions"]:
                return len(t["partitions"])
            assert t["error_code"] in (0, 5), t
            assert time.monotonic() < deadline, t
            time.sleep(0.1)


def test_broker_started_from_a_server_properties_file_applies_its_settings(broker_factory):
    b = broker_factory({"num.partitions": "3", "auto.create.topics.enable": "true"}, via_config_file=True)
    assert _auto_created_partitions(b.port, "from-config-file") == 3
    assert any(b.data_dir.iterdir()), "nothing was written under log.dirs from the config file"


def test_set_options_override_defaults(broker_factory):
    b = broker_factory({"num.partitions": "5"})
    assert _auto_created_partitions(b.port, "from-set") == 5
