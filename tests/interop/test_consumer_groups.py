"""Consumer groups against Runnel with real clients: librdkafka (confluent-kafka) members in
subprocesses (so a member can be SIGKILLed), kafka-python consumers, Runnel's own client
(crates/client/examples/group_member.rs) in one group with librdkafka members, and the admin
APIs.

Brokers here run with group.initial.rebalance.delay.ms=0 so groups form at once.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from conftest import runnel_bin
from helpers import create_topic, produce_and_wait, producer

HERE = Path(__file__).parent
FAST = {"group.initial.rebalance.delay.ms": "0"}
STRATEGIES = ["range", "roundrobin", "cooperative-sticky"]


class Member:
    """A librdkafka group member in its own process (see group_member.py)."""

    def __init__(self, bootstrap: str, topic: str, group: str, strategy: str = "range",
                 mode: str = "idle", delay_ms: int = 0, **extra):
        conf = {
            "bootstrap.servers": bootstrap,
            "broker.address.family": "v4",
            "group.id": group,
            "partition.assignment.strategy": strategy,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "topic.metadata.refresh.interval.ms": 2000,
        }
        conf.update({k.replace("_", "."): v for k, v in extra.items()})
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "group_member.py"), json.dumps(conf), topic, mode,
             str(delay_ms)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.events: queue.Queue = queue.Queue()
        self.assigned: set[int] = set()
        self.history: list[dict] = []
        self.processed: list[tuple[int, int, str]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            ev = json.loads(line)
            with self._lock:
                self.history.append(ev)
                if "assigned" in ev:
                    self.assigned = set(ev["assigned"])
                if "processed" in ev:
                    self.processed.append(tuple(ev["processed"]))

    def owned(self) -> set[int]:
        with self._lock:
            return set(self.assigned)

    def reported(self, event: dict) -> bool:
        with self._lock:
            return event in self.history

    def revocations(self) -> list[list[int]]:
        with self._lock:
            return [e["revoked"] for e in self.history if "revoked" in e]

    def send(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("close")
                self.proc.wait(timeout=20)
            except Exception:
                self.proc.kill()
                self.proc.wait()


class RunnelMember:
    """A native Rust client member (crates/client/examples/group_member.rs, built beside the
    `runnel` binary), reporting its assignment as (topic, partition) pairs."""

    def __init__(self, bootstrap: str, group: str, strategy: str, topics: list[str]):
        exe = Path(runnel_bin()).parent / "examples" / "group_member"
        self.proc = subprocess.Popen([str(exe), bootstrap, group, strategy, ",".join(topics)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.assigned: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            ev = json.loads(line)
            if "assigned" in ev:
                with self._lock:
                    self.assigned = {(t, p) for t, p in ev["assigned"]}

    def owned(self) -> set[tuple[str, int]]:
        with self._lock:
            return set(self.assigned)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("close\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=20)
            except Exception:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def members():
    started: list[Member] = []
    yield started
    for m in started:
        if m.proc.poll() is None:
            m.proc.kill()
            m.proc.wait()


def wait_until(cond, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def partition_split(ms: list[Member]) -> list[set[int]]:
    return [m.owned() for m in ms]


def assert_disjoint_cover(ms: list[Member], partitions: int) -> bool:
    sets = partition_split(ms)
    union = set().union(*sets)
    return union == set(range(partitions)) and sum(len(s) for s in sets) == partitions


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_three_members_on_six_partitions_get_two_partitions_each(broker_factory, members, strategy):
    b = broker_factory(FAST)
    topic = create_topic(b.bootstrap, partitions=6)
    group = f"g-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        members.append(Member(b.bootstrap, topic, group, strategy))
    wait_until(lambda: assert_disjoint_cover(members, 6)
               and all(len(m.owned()) == 2 for m in members), 45,
               f"2 partitions each, got {partition_split(members)}")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_fourth_member_on_three_partitions_gets_no_partition(broker_factory, members, strategy):
    b = broker_factory(FAST)
    topic = create_topic(b.bootstrap, partitions=3)
    group = f"g-{uuid.uuid4().hex[:8]}"
    for _ in range(4):
        members.append(Member(b.bootstrap, topic, group, strategy))
    wait_until(lambda: assert_disjoint_cover(members, 3)
               and sorted(len(m.owned()) for m in members) == [0, 1, 1, 1], 45,
               f"one partition each for three members and none for the fourth, got {partition_split(members)}")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_survivors_own_every_partition_within_the_session_timeout_after_a_member_is_killed(
        broker_factory, members, strategy):
    b = broker_factory(FAST)
    topic = create_topic(b.bootstrap, partitions=6)
    group = f"g-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        members.append(Member(b.bootstrap, topic, group, strategy))
    wait_until(lambda: assert_disjoint_cover(members, 6)
               and all(m.owned() for m in members), 45, "initial assignment")
    victim = members.pop(0)
    victim.kill9()
    killed_at = time.monotonic()
    # session.timeout.ms is 6 s; the survivors must rejoin and split all six partitions.
    wait_until(lambda: assert_disjoint_cover(members, 6), 6 + 10,
               f"survivors owning all partitions, got {partition_split(members)}")
    assert time.monotonic() - killed_at < 16


def test_a_member_that_stops_polling_past_max_poll_interval_loses_its_partitions(
        broker_factory, members):
    b = broker_factory(FAST)
    topic = create_topic(b.bootstrap, partitions=4)
    group = f"g-{uuid.uuid4().hex[:8]}"
    for _ in range(2):
        members.append(Member(b.bootstrap, topic, group, "range", max_poll_interval_ms=7000))
    wait_until(lambda: assert_disjoint_cover(members, 4)
               and all(m.owned() for m in members), 45, "initial assignment")
    staller, survivor = members
    staller.send("stall")
    wait_until(lambda: survivor.owned() == {0, 1, 2, 3}, 7 + 15,
               f"the polling member owning all partitions, got {survivor.owned()}")


def test_manual_commits_lose_no_record_and_process_none_twice_across_a_crash_handover(
        broker_factory, members):
    b = broker_factory(FAST)
    topic = create_topic(b.bootstrap, partitions=4)
    group = f"g-{uuid.uuid4().hex[:8]}"
    n = 400
    p = producer(b.bootstrap)
    produce_and_wait(p, topic, [{"value": f"v{i}".encode(), "partition": i % 4} for i in range(n)])
    first = Member(b.bootstrap, topic, group, "range", mode="process", delay_ms=10)
    members.append(first)
    wait_until(lambda: len(first.processed) >= n // 4, 60, "the first member processing records")
    # The crash lands between two records (the member stops before its next poll, then gets
    # SIGKILL: no LeaveGroup, no final commit). A crash in the middle of a record would see that
    # one record again: commit-after-processing is at-least-once.
    first.send("stall")
    wait_until(lambda: first.reported({"stalled": True}), 10, "the first member to stop polling")
    first.kill9()
    second = Member(b.bootstrap, topic, group, "range", mode="process")
    members.append(second)
    wait_until(lambda: len(first.processed) + len(second.processed) >= n, 60,
               "all records processed")
    # Once the group's commits reach the end of every partition nothing is left to redeliver;
    # the second member then closes, and its report stream is complete.
    ends = {p: n // 4 for p in range(4)}
    watcher = group_consumer(b.bootstrap, group)
    try:
        wait_until(lambda: {tp.partition: tp.offset for tp in watcher.committed(
            [TopicPartition(topic, p) for p in range(4)], timeout=10)} == ends, 30,
            f"commits at the partition ends {ends}")
    finally:
        watcher.close()
    second.send("close")
    wait_until(lambda: second.reported({"closed": True}), 30, "the second member to close")
    processed = [v for (_p, _o, v) in first.processed + second.processed]
    assert sorted(processed) == sorted(f"v{i}" for i in range(n)), "lost or repeated records"
    assert len(processed) == len(set(processed)) == n


def test_kafka_python_consumer_in_a_group_commits_and_a_new_consumer_resumes_after_the_commit(broker_factory):
    from kafka import KafkaConsumer, TopicPartition as KTP
    from kafka.structs import OffsetAndMetadata

    b = broker_factory(FAST)
    topic = create_topic(b.bootstrap, partitions=2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    produce_and_wait(producer(b.bootstrap), topic,
                     [{"value": f"v{i}".encode(), "partition": i % 2} for i in range(20)])

    def make():
        return KafkaConsumer(topic, bootstrap_servers=b.bootstrap, group_id=group,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             consumer_timeout_ms=3000, session_timeout_ms=10000,
                             api_version_auto_timeout_ms=10000)

    c = make()
    seen = []
    deadline = time.monotonic() + 30
    while len(seen) < 10 and time.monotonic() < deadline:
        for tp, msgs in c.poll(timeout_ms=500, max_records=10 - len(seen)).items():
            seen.extend(msgs)
    assert len(seen) == 10
    positions = {}
    for m in seen:
        positions[m.partition] = max(positions.get(m.partition, -1), m.offset + 1)
    c.commit({KTP(topic, p): OffsetAndMetadata(o, "", -1) for p, o in positions.items()})
    assert c.committed(KTP(topic, 0)) == positions.get(0)
    c.close()

    c2 = make()
    rest = []
    deadline = time.monotonic() + 30
    while len(rest) < 10 and time.monotonic() < deadline:
        for tp, msgs in c2.poll(timeout_ms=500).items():
            rest.extend(msgs)
    c2.close()
    values = sorted(m.value.decode() for m in seen + rest)
    assert values == sorted(f"v{i}" for i in range(20)), "the second consumer did not resume"


def group_consumer(bootstrap, group, **extra):
    conf = {"bootstrap.servers": bootstrap, "broker.address.family": "v4", "group.id": group,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000}
    conf.update(extra)
    return Consumer(conf)


@pytest.mark.runnel_only("kill -9 and restart of the broker process")
def test_committed_offsets_with_metadata_survive_a_kill_9_of_the_broker(broker_factory):
    b = broker_factory(FAST)
    topic = create_topic(b.bootstrap, partitions=3)
    group = f"g-{uuid.uuid4().hex[:8]}"
    c = group_consumer(b.bootstrap, group)
    c.commit(offsets=[TopicPartition(topic, 0, 5, metadata="checkpoint-a"),
                      TopicPartition(topic, 2, 9, metadata="checkpoint-b")], asynchronous=False)
    c.close()
    b.kill9()
    b.start()
    c = group_consumer(b.bootstrap, group)
    got = c.committed([TopicPartition(topic, p) for p in range(3)], timeout=30)
    c.close()
    by_p = {tp.partition: tp for tp in got}
    assert (by_p[0].offset, by_p[0].metadata) == (5, "checkpoint-a")
    assert (by_p[2].offset, by_p[2].metadata) == (9, "checkpoint-b")
    assert by_p[1].offset < 0


@pytest.mark.runnel_only("kill -9 and restart of the broker process")
def test_group_generation_and_offsets_come_back_after_a_broker_restart(broker_factory, members):
    b = broker_factory(FAST)
    topic = create_topic(b.bootstrap, partitions=2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    produce_and_wait(producer(b.bootstrap), topic, [{"value": b"x", "partition": 0}])
    m = Member(b.bootstrap, topic, group, "range", mode="process")
    members.append(m)
    wait_until(lambda: len(m.processed) == 1, 45, "the record processed and committed")
    m.close()
    a = AdminClient({"bootstrap.servers": b.bootstrap, "broker.address.family": "v4"})
    before = a.describe_consumer_groups([group])[group].result(timeout=20)
    b.kill9()
    b.start()
    a = AdminClient({"bootstrap.servers": b.bootstrap, "broker.address.family": "v4"})
    after = a.describe_consumer_groups([group])[group].result(timeout=20)
    assert str(before.state).endswith("EMPTY") and str(after.state).endswith("EMPTY")
    c = group_consumer(b.bootstrap, group)
    got = c.committed([TopicPartition(topic, 0)], timeout=30)
    c.close()
    assert got[0].offset == 1


def test_a_new_group_starts_from_auto_offset_reset(broker_factory):
    b = broker_factory(FAST)
    topic = create_topic(b.bootstrap, partitions=1)
    p = producer(b.bootstrap)
    produce_and_wait(p, topic, [{"value": b"old"}])

    def first_value(reset):
        # Partition EOF tells when the consumer's position is at the end of the partition.
        c = group_consumer(b.bootstrap, f"g-{uuid.uuid4().hex[:8]}",
                           **{"auto.offset.reset": reset, "enable.partition.eof": True})
        c.subscribe([topic])
        deadline = time.monotonic() + 30
        produced_new = False
        try:
            while time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is None:
                    continue
                if m.error():
                    if (m.error().code() == KafkaError._PARTITION_EOF and not produced_new
                            and reset == "latest"):
                        produce_and_wait(p, topic, [{"value": b"new"}])
                        produced_new = True
                    continue
                return m.value()
        finally:
            c.close()
        return None

    assert first_value("earliest") == b"old"
    assert first_value("latest") == b"new"


def test_delete_groups_removes_an_empty_group_and_refuses_one_with_members(broker_factory, members):
    b = broker_factory(FAST)
    topic = create_topic(b.bootstrap, partitions=1)
    a = AdminClient({"bootstrap.servers": b.bootstrap, "broker.address.family": "v4"})
    empty = f"g-{uuid.uuid4().hex[:8]}"
    c = group_consumer(b.bootstrap, empty)
    c.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    c.close()
    busy = f"g-{uuid.uuid4().hex[:8]}"
    m = Member(b.bootstrap, topic, busy)
    members.append(m)
    wait_until(lambda: m.owned() == {0}, 45, "the member owning the partition")
    futs = a.delete_consumer_groups([empty, busy], request_timeout=15)
    futs[empty].result(timeout=20)
    with pytest.raises(KafkaException) as e:
        futs[busy].result(timeout=20)
    assert e.value.args[0].name() == "NON_EMPTY_GROUP"
    listed = {g.group_id for g in a.list_consumer_groups().result(timeout=20).valid}
    assert empty not in listed and busy in listed
    c = group_consumer(b.bootstrap, empty)
    assert c.committed([TopicPartition(topic, 0)], timeout=20)[0].offset < 0
    c.close()


def test_a_restarted_static_member_gets_its_partitions_back_without_a_rebalance(broker_factory, members):
    b = broker_factory(FAST)
    topic = create_topic(b.bootstrap, partitions=4)
    group = f"g-{uuid.uuid4().hex[:8]}"
    statics = dict(session_timeout_ms=30000)
    a = Member(b.bootstrap, topic, group, "range", group_instance_id="inst-a", **statics)
    members.append(a)
    other = Member(b.bootstrap, topic, group, "range", group_instance_id="inst-b", **statics)
    members.append(other)
    wait_until(lambda: assert_disjoint_cover([a, other], 4) and a.owned() and other.owned(), 45,
               "initial assignment")
    a_before, other_before = a.owned(), other.owned()
    other_history = len(other.history)
    a.kill9()
    a2 = Member(b.bootstrap, topic, group, "range", group_instance_id="inst-a", **statics)
    members.append(a2)
    wait_until(lambda: a2.owned() == a_before, 30, f"the restarted member owning {a_before}")
    # What is checked is that nothing happens: no event marks "a rebalance would have shown by
    # now", so this waits out six heartbeat intervals of the other member.
    time.sleep(3)
    assert other.owned() == other_before
    assert not any("revoked" in e for e in other.history[other_history:]), \
        "the other member saw a rebalance"


def test_cooperative_sticky_moves_only_the_partitions_a_new_member_takes(broker_factory, members):
    b = broker_factory(FAST)
    topic = create_topic(b.bootstrap, partitions=6)
    group = f"g-{uuid.uuid4().hex[:8]}"
    first = [Member(b.bootstrap, topic, group, "cooperative-sticky") for _ in range(2)]
    members.extend(first)
    wait_until(lambda: assert_disjoint_cover(first, 6) and all(len(m.owned()) == 3 for m in first),
               45, "3 partitions each")
    before = [m.owned() for m in first]
    seen = [len(m.revocations()) for m in first]
    third = Member(b.bootstrap, topic, group, "cooperative-sticky")
    members.append(third)
    wait_until(lambda: assert_disjoint_cover(members, 6)
               and all(len(m.owned()) == 2 for m in members), 45,
               f"2 partitions each, got {partition_split(members)}")
    for m, had, skip in zip(first, before, seen):
        assert m.owned() <= had, "a member gained a partition it did not have"
        revoked = [p for r in m.revocations()[skip:] for p in r]
        assert len(revoked) == 1, f"expected exactly one partition moved away, got {revoked}"


def test_three_kafka_python_consumers_on_six_partitions_get_two_partitions_each(broker_factory):
    from kafka import KafkaConsumer

    b = broker_factory(FAST)
    topic = create_topic(b.bootstrap, partitions=6)
    group = f"g-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    owned: dict[int, set[int]] = {}
    errors: list[BaseException] = []

    def run(i: int):
        try:
            c = KafkaConsumer(topic, bootstrap_servers=b.bootstrap, group_id=group,
                              enable_auto_commit=False, session_timeout_ms=10000,
                              heartbeat_interval_ms=500, api_version_auto_timeout_ms=10000)
            while not stop.is_set():
                c.poll(timeout_ms=200)
                owned[i] = {tp.partition for tp in c.assignment()}
            c.close()
        except BaseException as e:  # reported by the test thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    try:
        def balanced():
            sets = [owned.get(i, set()) for i in range(3)]
            return (all(len(s) == 2 for s in sets)
                    and set().union(*sets) == set(range(6)))
        wait_until(lambda: balanced() or errors, 60, f"2 partitions each, got {owned}")
        assert not errors, errors
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=20)


def test_an_auto_committing_consumer_commits_what_it_consumed_and_a_successor_resumes_there(
        broker_factory):
    b = broker_factory(FAST)
    topic = create_topic(b.bootstrap, partitions=1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    p = producer(b.bootstrap)
    produce_and_wait(p, topic, [{"value": f"v{i}".encode()} for i in range(10)])
    c = group_consumer(b.bootstrap, group, **{"enable.auto.commit": True,
                                               "auto.commit.interval.ms": 200})
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 10 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m.value())
    assert len(got) == 10
    c.close()  # commits the consumed position
    produce_and_wait(p, topic, [{"value": b"after"}])
    c = group_consumer(b.bootstrap, group)
    c.subscribe([topic])
    first = None
    deadline = time.monotonic() + 30
    while first is None and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            first = m.value()
    committed = c.committed([TopicPartition(topic, 0)], timeout=20)[0].offset
    c.close()
    assert first == b"after"
    assert committed == 10


def test_list_and_describe_consumer_groups_show_the_group_and_its_members(broker_factory, members):
    b = broker_factory(FAST)
    topic = create_topic(b.bootstrap, partitions=2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    for _ in range(2):
        members.append(Member(b.bootstrap, topic, group, "roundrobin"))
    wait_until(lambda: assert_disjoint_cover(members, 2) and all(m.owned() for m in members),
               45, "assignment")
    a = AdminClient({"bootstrap.servers": b.bootstrap, "broker.address.family": "v4"})
    listed = a.list_consumer_groups().result(timeout=20).valid
    assert group in {g.group_id for g in listed}
    d = a.describe_consumer_groups([group])[group].result(timeout=20)
    assert str(d.state).endswith("STABLE")
    assert d.partition_assignor == "roundrobin"
    assert len(d.members) == 2
    assigned = sorted(tp.partition for m in d.members for tp in m.assignment.topic_partitions)
    assert assigned == [0, 1]


def offset_delete_v0(port: int, group: str, topic: str, partitions: list[int]):
    """OffsetDelete v0 (key 47) by hand: returns (group error, {partition: error})."""
    import kafka_raw as kr

    body = kr.string(group) + kr.array([kr.string(topic) + kr.array([kr.i32(p) for p in partitions])])
    with kr.connection(port) as s:
        r = kr.roundtrip(s, kr.request_header_v1(47, 0, 1), body)
        group_error = r.i16()
        r.i32()  # throttle
        topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16()))))
    return group_error, {p: e for (_t, parts) in topics for (p, e) in parts}


def test_offset_delete_removes_offsets_of_an_empty_group_and_refuses_subscribed_topics_of_a_live_one(
        broker_factory, members):
    b = broker_factory(FAST)
    topic = create_topic(b.bootstrap, partitions=2)
    idle = f"g-{uuid.uuid4().hex[:8]}"
    c = group_consumer(b.bootstrap, idle)
    c.commit(offsets=[TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 4)], asynchronous=False)
    c.close()
    assert offset_delete_v0(b.port, idle, topic, [0]) == (0, {0: 0})
    c = group_consumer(b.bootstrap, idle)
    got = {tp.partition: tp.offset for tp in c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=20)}
    c.close()
    assert got[0] < 0 and got[1] == 4

    live = f"g-{uuid.uuid4().hex[:8]}"
    m = Member(b.bootstrap, topic, live)
    members.append(m)
    wait_until(lambda: m.owned() == {0, 1}, 45, "the member owning both partitions")
    assert offset_delete_v0(b.port, live, topic, [0, 1]) == (0, {0: 86, 1: 86})
    assert offset_delete_v0(b.port, "no-such-group", topic, [0])[0] == 69


@pytest.mark.parametrize("runnel_leads", [True, False])
def test_runnel_and_librdkafka_members_with_different_topics_share_a_cooperative_sticky_group(
        broker_factory, members, runnel_leads):
    """One Runnel member on topics a and b, librdkafka members on a only: whoever leads (the
    first to join), every partition has one owner, and members only give partitions up when
    a third joins or take them when it leaves."""
    b = broker_factory(FAST)
    a_topic = create_topic(b.bootstrap, partitions=4)
    b_topic = create_topic(b.bootstrap, partitions=2)
    group = f"g-{uuid.uuid4().hex[:8]}"
    everything = {(a_topic, p) for p in range(4)} | {(b_topic, p) for p in range(2)}
    rust = None
    try:
        if runnel_leads:
            rust = RunnelMember(b.bootstrap, group, "cooperative-sticky", [a_topic, b_topic])
            wait_until(lambda: rust.owned() == everything, 45,
                       "the Runnel member owning every partition before librdkafka joins")
        rdk = Member(b.bootstrap, a_topic, group, "cooperative-sticky")
        members.append(rdk)
        if not runnel_leads:
            wait_until(lambda: len(rdk.owned()) == 4, 45, "the librdkafka member owning topic a")
            rust = RunnelMember(b.bootstrap, group, "cooperative-sticky", [a_topic, b_topic])

        def sets(ms):
            return [rust.owned()] + [{(a_topic, p) for p in m.owned()} for m in ms]

        def settled(ms, sizes):
            got = sets(ms)
            union = set().union(*got)
            return (union == everything and sum(len(s) for s in got) == len(everything)
                    and sorted(len(s) for s in got) == sizes)

        wait_until(lambda: settled([rdk], [3, 3]), 45, f"3 partitions each, got {sets([rdk])}")
        assert {(b_topic, 0), (b_topic, 1)} <= rust.owned(), "only the Runnel member takes b"
        before = sets([rdk])

        third = Member(b.bootstrap, a_topic, group, "cooperative-sticky")
        members.append(third)
        wait_until(lambda: settled([rdk, third], [2, 2, 2]), 45,
                   f"2 partitions each, got {sets([rdk, third])}")
        after = sets([rdk, third])
        assert after[0] <= before[0] and after[1] <= before[1], (before, after)

        third.close()
        wait_until(lambda: settled([rdk], [3, 3]), 45, f"3 partitions each, got {sets([rdk])}")
        last = sets([rdk])
        assert after[0] <= last[0] and after[1] <= last[1], (after, last)
    finally:
        if rust is not None:
            rust.close()
