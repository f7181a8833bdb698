"""Raw classic-group requests (kafka_raw's framing), at versions Kafka 4.x and Runnel both serve:
JoinGroup v5 and v9, SyncGroup v3, Heartbeat v3, LeaveGroup v3, DescribeGroups v4 and v6, ListGroups v4
(states filter), OffsetCommit v7, OffsetFetch v5, DeleteGroups v1. Each returns a dict or tuple
of the answer's fields; schemas as in Kafka's clients/src/main/resources/common/message."""
from __future__ import annotations

import kafka_raw as kr
from kafka_raw import array, compact_array, compact_string, i8, i16, i32, i64, nbytes, string, uvarint

JOIN, SYNC, HEARTBEAT, LEAVE, DESCRIBE, LIST, COMMIT, FETCH, DELETE = 11, 14, 12, 13, 15, 16, 8, 9, 42


def _call(s, api: int, version: int, body: bytes, flexible: bool = False) -> kr.Reader:
    header = (kr.request_header_v2 if flexible else kr.request_header_v1)(api, version, next(kr._corr))
    return kr.roundtrip(s, header, body, flexible_response_header=flexible)


def join_group(s, group: str, member_id: str = "", instance_id: str | None = None,
               protocol_type: str = "consumer", protocols=(("range", b"m"),),
               session_timeout_ms: int = 30000, rebalance_timeout_ms: int = 30000) -> dict:
    body = (string(group) + i32(session_timeout_ms) + i32(rebalance_timeout_ms) + string(member_id)
            + string(instance_id) + string(protocol_type)
            + array([string(n) + nbytes(m) for n, m in protocols]))
    r = _call(s, JOIN, 5, body)
    out = {"throttle_time_ms": r.i32(), "error_code": r.i16(), "generation_id": r.i32(),
           "protocol_name": r.string(), "leader": r.string(), "member_id": r.string()}
    out["members"] = r.array(lambda x: (x.string(), x.string(), x.nbytes()))
    return out


def sync_group(s, group: str, generation: int, member_id: str, instance_id: str | None = None,
               assignments=()) -> tuple[int, bytes | None]:
    body = (string(group) + i32(generation) + string(member_id) + string(instance_id)
            + array([string(m) + nbytes(a) for m, a in assignments]))
    r = _call(s, SYNC, 3, body)
    r.i32()
    return r.i16(), r.nbytes()


def heartbeat(s, group: str, generation: int, member_id: str, instance_id: str | None = None) -> int:
    r = _call(s, HEARTBEAT, 3, string(group) + i32(generation) + string(member_id) + string(instance_id))
    r.i32()
    return r.i16()


def leave_group(s, group: str, members) -> tuple[int, list]:
    """members: [(member_id, instance_id)]; returns (error, [(member_id, instance_id, error)])."""
    r = _call(s, LEAVE, 3, string(group) + array([string(m) + string(i) for m, i in members]))
    r.i32()
    return r.i16(), r.array(lambda x: (x.string(), x.string(), x.i16()))


def describe_group(s, group: str) -> dict:
    r = _call(s, DESCRIBE, 4, array([string(group)]) + i8(0))
    r.i32()

    def member(x):
        return {"member_id": x.string(), "instance_id": x.string(), "client_id": x.string(),
                "client_host": x.string(), "metadata": x.nbytes(), "assignment": x.nbytes()}

    def g(x):
        return {"error_code": x.i16(), "group_id": x.string(), "state": x.string(),
                "protocol_type": x.string(), "protocol": x.string(), "members": x.array(member),
                "authorized_operations": x.i32()}
    (out,) = r.array(g)
    return out


def list_groups(s, states: list[str] | None = None) -> tuple[int, dict]:
    """ListGroups v4; returns (error, {group_id: (protocol_type, state)})."""
    body = compact_array([compact_string(x) for x in states or []]) + uvarint(0)
    r = _call(s, LIST, 4, body, flexible=True)
    r.i32()
    err = r.i16()

    def g(x):
        out = (x.compact_string(), x.compact_string(), x.compact_string())
        x.tagged_fields()
        return out
    groups = r.compact_array(g) or []
    return err, {gid: (ptype, state) for gid, ptype, state in groups}


def offset_commit(s, group: str, generation: int, member_id: str, topic: str, partition: int = 0,
                  offset: int = 1, instance_id: str | None = None) -> int:
    """OffsetCommit v7 of one offset; returns the partition's error code."""
    body = (string(group) + i32(generation) + string(member_id) + string(instance_id)
            + array([string(topic) + array([i32(partition) + i64(offset) + i32(-1) + string(None)])]))
    r = _call(s, COMMIT, 7, body)
    r.i32()
    (res,) = r.array(lambda x: (x.string(), x.array(lambda y: (y.i32(), y.i16()))))
    return res[1][0][1]


def offset_fetch(s, group: str, topics: dict[str, list[int]] | None) -> dict:
    """OffsetFetch v5 (topics None: all); returns {"error_code", "partitions": {(t, p): (offset, error)}}."""
    body = string(group) + array(None if topics is None else
                                 [string(t) + array([i32(p) for p in ps]) for t, ps in topics.items()])
    r = _call(s, FETCH, 5, body)
    r.i32()
    parts = {}
    for name, ps in r.array(lambda x: (x.string(), x.array(
            lambda y: (y.i32(), y.i64(), y.i32(), y.string(), y.i16())))):
        for p, off, _epoch, _meta, err in ps:
            parts[(name, p)] = (off, err)
    return {"partitions": parts, "error_code": r.i16()}


def delete_groups(s, groups: list[str]) -> dict[str, int]:
    r = _call(s, DELETE, 1, array([string(g) for g in groups]))
    r.i32()
    return dict(r.array(lambda x: (x.string(), x.i16())))


def join_group_v9(s, group: str, member_id: str = "", instance_id: str | None = None,
                  protocol_type: str = "consumer", protocols=(("range", b"m"),)) -> dict:
    """JoinGroup v9 (flexible, with skip_assignment, KIP-814)."""
    from kafka_raw import compact_bytes
    body = (compact_string(group) + i32(30000) + i32(30000) + compact_string(member_id)
            + compact_string(instance_id) + compact_string(protocol_type)
            + compact_array([compact_string(n) + compact_bytes(m) + uvarint(0) for n, m in protocols])
            + compact_string(None) + uvarint(0))  # reason
    r = _call(s, JOIN, 9, body, flexible=True)
    out = {"throttle_time_ms": r.i32(), "error_code": r.i16(), "generation_id": r.i32(),
           "protocol_type": r.compact_string(), "protocol_name": r.compact_string(),
           "leader": r.compact_string(), "skip_assignment": r.bool(), "member_id": r.compact_string()}

    def member(x):
        m = (x.compact_string(), x.compact_string(), x.take(x.uvarint() - 1))
        x.tagged_fields()
        return m
    out["members"] = r.compact_array(member) or []
    r.tagged_fields()
    return out


def describe_group_v6(s, group: str) -> dict:
    """DescribeGroups v6 (flexible, with error_message): the group's error, message and state."""
    body = compact_array([compact_string(group)]) + i8(0) + uvarint(0)
    r = _call(s, DESCRIBE, 6, body, flexible=True)
    r.i32()

    def g(x):
        out = {"error_code": x.i16(), "error_message": x.compact_string(), "group_id": x.compact_string(),
               "state": x.compact_string(), "protocol_type": x.compact_string(), "protocol": x.compact_string()}
        out["members"] = x.compact_array(lambda y: None) or []  # only empty groups are asked here
        out["authorized_operations"] = x.i32()
        x.tagged_fields()
        return out
    (out,) = r.compact_array(g)
    r.tagged_fields()
    return out
