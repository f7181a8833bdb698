"""Hostile and invalid input: the broker rejects it precisely and keeps serving others."""
from __future__ import annotations

import contextlib
import os
import threading
import time

import pytest
from confluent_kafka import KafkaError

import kafka_raw as kr
from helpers import consume, create_topic, produce_and_wait, producer, topic_name


@contextlib.contextmanager
def live_traffic(broker):
    """A librdkafka producer sends a message every 20 ms while the body runs; afterwards
    every message must have been delivered and be consumable, and the broker alive."""
    topic = create_topic(broker.bootstrap)
    p = producer(broker.bootstrap, **{"linger.ms": 0, "message.timeout.ms": 20000})
    errors: list = []
    delivered: list[int] = []
    stop = threading.Event()

    def cb(err, msg):
        (errors if err else delivered).append(err or msg.offset())

    def run():
        i = 0
        while not stop.is_set():
            p.produce(topic, value=f"m{i}".encode(), on_delivery=cb)
            p.poll(0)
            i += 1
            time.sleep(0.02)
        p.flush(25)

    def wait_for_deliveries(count: int, what: str) -> None:
        deadline = time.monotonic() + 20
        while len(delivered) < count:
            assert not errors, f"background producer saw delivery errors: {errors[:5]}"
            assert time.monotonic() < deadline, f"{len(delivered)} deliveries, not {count}, {what}"
            time.sleep(0.02)

    def more_deliveries(extra: int = 3) -> None:
        """Waits until `extra` more messages are delivered: traffic flows at this point."""
        wait_for_deliveries(len(delivered) + extra, "while the bad input was in place")

    t = threading.Thread(target=run, daemon=True)
    t.start()
    wait_for_deliveries(3, "before the bad input")
    try:
        yield more_deliveries
        # Traffic goes on after the bad input, and enough of it to check below.
        wait_for_deliveries(max(len(delivered) + 3, 11), "after the bad input")
    finally:
        stop.set()
        t.join(30)
    assert not t.is_alive(), "background producer did not finish"
    assert not errors, f"background producer saw delivery errors: {errors[:5]}"
    n = len(delivered)
    assert n > 10
    assert sorted(delivered) == list(range(n))
    got = consume(broker.bootstrap, topic, n)
    assert len(got) == n
    # and a brand-new client still works afterwards
    reports = produce_and_wait(producer(broker.bootstrap), topic, [{"value": b"after"}])
    assert reports[0].offset() == n
    assert broker.alive(), "broker process died"


def _send_and_expect_close(port: int, data: bytes, close_after_send: bool = False) -> None:
    s = kr.connect(port)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return  # already closed by the broker
        if close_after_send:
            return
        assert kr.wait_closed(s, timeout=10), "broker kept the connection open after invalid input"
    finally:
        s.close()


def test_garbage_bytes_close_the_connection_and_others_keep_working(broker):
    with live_traffic(broker):
        _send_and_expect_close(broker.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        # a small frame whose content is random garbage
        rnd = os.urandom(64)
        _send_and_expect_close(broker.port, kr.i32(len(rnd)) + b"\x7f\x7f" + rnd[2:])
        # negative frame size
        _send_and_expect_close(broker.port, kr.i32(-5) + b"abcde")
    assert broker.alive()


def test_truncated_frame_then_close_does_not_disturb_the_broker(broker):
    with live_traffic(broker) as more_deliveries:
        for _ in range(20):
            _send_and_expect_close(broker.port, kr.i32(100) + b"\x00\x12\x00\x00" + b"x" * 10, close_after_send=True)
        # a connection that half-sends then stays idle must not block others either
        idle = kr.connect(broker.port)
        idle.sendall(kr.i32(1000) + b"\x00\x00")
        more_deliveries()
        idle.close()
    assert broker.alive()


def test_unknown_api_key_closes_the_connection(broker):
    with live_traffic(broker):
        _send_and_expect_close(broker.port, kr.frame(kr.request_header_v1(32000, 0, 7) + b"\x00" * 8))
        # and a fresh connection still answers ApiVersions
        with kr.connection(broker.port) as s:
            assert kr.api_versions(s)["error_code"] == 0
    assert broker.alive()


def test_frame_larger_than_socket_request_max_bytes_closes_the_connection(broker_factory):
    b = broker_factory({"socket.request.max.bytes": "1048576"})
    with live_traffic(b):
        _send_and_expect_close(b.port, kr.i32(1048576 + 1) + b"\x00" * 64)
        _send_and_expect_close(b.port, kr.i32(0x7FFFFFFF) + b"\x00" * 64)
    assert b.alive()


def test_produce_declaring_2_31_topics_in_a_12_byte_body_closes_connection_without_allocating(broker):
    # Produce v9 is flexible: header v2, body = compact nullable transactional_id (null),
    # acks int16, timeout_ms int32, topic_data compact array length N+1 as uvarint.
    body = kr.uvarint(0) + kr.i16(-1) + kr.i32(1000) + kr.uvarint(2**31)
    assert len(body) == 12
    with live_traffic(broker):
        _send_and_expect_close(broker.port, kr.frame(kr.request_header_v2(kr.API_PRODUCE, 9, 11) + body))
    assert broker.alive()


def test_message_larger_than_message_max_bytes_is_rejected_with_msg_size_too_large(broker_factory):
    b = broker_factory({"message.max.bytes": "10000"})
    topic = create_topic(b.bootstrap)
    p = producer(b.bootstrap, **{"message.max.bytes": 1_000_000, "compression.codec": "none",
                                 "linger.ms": 0, "message.send.max.retries": 0})
    result = {}

    def cb(err, msg):
        result["err"] = err
    p.produce(topic, value=os.urandom(50_000), on_delivery=cb)
    assert p.flush(20) == 0
    assert result["err"] is not None, "oversized message was accepted"
    assert result["err"].code() == KafkaError.MSG_SIZE_TOO_LARGE
    # a small message is still fine
    reports = produce_and_wait(p, topic, [{"value": b"small"}])
    assert reports[0].offset() == 0
    assert b.alive()


def test_record_batch_with_bad_crc_is_rejected_with_corrupt_message(broker):
    topic = create_topic(broker.bootstrap)
    good = kr.record_batch([(b"k", b"good")])
    with kr.connection(broker.port) as s:
        bad = kr.produce_v3(s, topic, 0, kr.corrupt(good))
        assert bad["error_code"] == 2, f"expected CORRUPT_MESSAGE (2), got {bad}"
        ok = kr.produce_v3(s, topic, 0, good)
        assert ok["error_code"] == 0, ok
        assert ok["base_offset"] == 0
    (m,) = consume(broker.bootstrap, topic, 1)
    assert (m.key(), m.value()) == (b"k", b"good")


def test_hand_built_batch_is_accepted_and_readable_by_librdkafka(broker):
    topic = create_topic(broker.bootstrap)
    with kr.connection(broker.port) as s:
        r = kr.produce_v3(s, topic, 0, kr.record_batch([(b"a", b"1"), (None, b"2"), (b"c", None)]))
        assert (r["error_code"], r["base_offset"]) == (0, 0)
        r = kr.produce_v3(s, topic, 0, kr.record_batch([(b"d", b"4")]))
        assert (r["error_code"], r["base_offset"]) == (0, 3)
        f = kr.fetch(s, topic, 0, offset=0, max_wait_ms=100)
        (part,) = f[topic]
        assert part["error_code"] == 0 and part["high_watermark"] == 4 and part["records"]
    got = consume(broker.bootstrap, topic, 4)
    assert [(m.offset(), m.key(), m.value()) for m in got] == [
        (0, b"a", b"1"), (1, None, b"2"), (2, b"c", None), (3, b"d", b"4")]


def test_unknown_topic_without_auto_create_is_unknown_topic_or_partition(broker_factory):
    b = broker_factory({"auto.create.topics.enable": "false"})
    missing, missing2 = topic_name("no-such-topic"), topic_name("no-such-topic")
    with kr.connection(b.port) as s:
        md = kr.metadata_v1(s, [missing])
        assert md["topics"][missing]["error_code"] == 3
        r = kr.produce_v3(s, missing, 0, kr.record_batch([(None, b"x")]))
        assert r["error_code"] == 3
        md = kr.metadata_v1(s, None)
        assert missing not in md["topics"]
    p = producer(b.bootstrap, **{"message.timeout.ms": 10000, "topic.metadata.propagation.max.ms": 1000})
    result = {}
    p.produce(missing2, value=b"x", on_delivery=lambda err, msg: result.setdefault("err", err))
    p.flush(15)
    assert result.get("err") is not None
    assert result["err"].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC), result["err"]


def test_metadata_auto_creates_topic_when_enabled(broker_factory):
    b = broker_factory({"auto.create.topics.enable": "true", "num.partitions": "3"})
    auto = topic_name("auto-created")
    with kr.connection(b.port) as s:
        deadline = time.monotonic() + 10
        while True:
            t = kr.metadata_v1(s, [auto])["topics"][auto]
            if t["error_code"] == 0 and len(t["partitions"]) == 3:
                break
            # While it creates the topic, Kafka 4.x answers UNKNOWN_TOPIC_OR_PARTITION (as in
            # KRaft's auto-creation) and older brokers LEADER_NOT_AVAILABLE; Runnel answers at once.
            assert t["error_code"] in (0, 3, 5), t
            assert time.monotonic() < deadline, t
            time.sleep(0.1)
        md = kr.metadata_v1(s, None)
        assert md["brokers"] == [{"node_id": 1, "host": "127.0.0.1", "port": b.port, "rack": None}]
        assert md["controller_id"] == 1
        assert all(p["leader"] == 1 and p["replicas"] == [1] and p["isr"] == [1]
                   for p in md["topics"][auto]["partitions"])


@pytest.mark.parametrize("bad", ["bad name", "..", "a" * 250, "bad$char"])
def test_invalid_topic_name_is_invalid_topic_exception(broker_factory, bad):
    broker = broker_factory({"auto.create.topics.enable": "true"})
    with kr.connection(broker.port) as s:
        md = kr.metadata_v1(s, [bad])
        assert md["topics"][bad]["error_code"] == 17
        r = kr.produce_v3(s, bad, 0, kr.record_batch([(None, b"x")]))
        assert r["error_code"] in (17, 3), r
    assert broker.alive()


def test_api_versions_advertises_core_apis(broker):
    with kr.connection(broker.port) as s:
        v0 = kr.api_versions(s, 0)
        v3 = kr.api_versions(s, 3)
    assert v0["error_code"] == 0 and v3["error_code"] == 0
    for key in (kr.API_PRODUCE, kr.API_FETCH, kr.API_METADATA, kr.API_VERSIONS):
        assert key in v0["api_keys"] and key in v3["api_keys"]
    assert v0["api_keys"] == v3["api_keys"]
    assert v0["api_keys"][kr.API_PRODUCE][0] <= 3 <= v0["api_keys"][kr.API_PRODUCE][1]
