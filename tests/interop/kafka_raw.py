"""A tiny hand-written Kafka wire-protocol client for hostile-input and edge tests.

Encodings follow the Kafka protocol guide (kafka.apache.org/protocol) and the
message JSON schemas in clients/src/main/resources/common/message:

  frame            := int32 size, payload
  request header v1:= api_key int16, api_version int16, correlation_id int32, client_id nullable string
  request header v2:= header v1 + tagged fields (uvarint count, here 0)
  response header v0 := correlation_id int32      (v1 adds tagged fields; ApiVersions always uses v0)

Implemented bodies: ApiVersions v0/v3, Metadata v1, Produce v3 (non-flexible) and v9
(flexible, with KIP-467 record_errors), Fetch v4 (non-flexible), CreateTopics v4,
DeleteTopics v3, CreatePartitions v1, DeleteRecords v1, InitProducerId v1, FindCoordinator v1,
OffsetCommit v2, DescribeConfigs v4, AlterConfigs v1, IncrementalAlterConfigs v1, and record batch v2 (any header field, optionally gzip) with a pure-Python
CRC-32C. Every version used here is one that Kafka 4.x still accepts (KIP-896).
"""
from __future__ import annotations

import contextlib
import io
import socket
import struct
import time

# --------------------------------------------------------------------------- CRC-32C
_CRC32C_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C_TABLE.append(_c)


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as used by record batch v2. crc32c(b"123456789") == 0xE3069283."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC32C_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# --------------------------------------------------------------------------- primitives
def i8(v): return struct.pack(">b", v)
def i16(v): return struct.pack(">h", v)
def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)
def u32(v): return struct.pack(">I", v)


def string(s: str | None) -> bytes:
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def nbytes(b: bytes | None) -> bytes:
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def array(items: list[bytes] | None) -> bytes:
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(items)


def uvarint(v: int) -> bytes:
    assert v >= 0
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(v: int) -> bytes:
    """Zig-zag signed varint (also used for varlong)."""
    return uvarint((v << 1) ^ (v >> 63))


def compact_string(s: str | None) -> bytes:
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


class Reader:
    def __init__(self, data: bytes):
        self.buf = io.BytesIO(data)
        self.size = len(data)

    def take(self, n: int) -> bytes:
        b = self.buf.read(n)
        if len(b) != n:
            raise EOFError(f"wanted {n} bytes, got {len(b)}")
        return b

    def i8(self): return struct.unpack(">b", self.take(1))[0]
    def i16(self): return struct.unpack(">h", self.take(2))[0]
    def i32(self): return struct.unpack(">i", self.take(4))[0]
    def i64(self): return struct.unpack(">q", self.take(8))[0]
    def bool(self): return self.take(1) != b"\x00"

    def uvarint(self) -> int:
        shift = result = 0
        while True:
            b = self.take(1)[0]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def varint(self) -> int:
        v = self.uvarint()
        return (v >> 1) ^ -(v & 1)

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def nbytes(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def array(self, elem):
        n = self.i32()
        return None if n < 0 else [elem(self) for _ in range(n)]

    def compact_array(self, elem):
        n = self.uvarint()
        return None if n == 0 else [elem(self) for _ in range(n - 1)]

    def compact_string(self):
        n = self.uvarint()
        return None if n == 0 else self.take(n - 1).decode("utf-8", "replace")

    def tagged_fields(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def remaining(self) -> int:
        return self.size - self.buf.tell()


# --------------------------------------------------------------------------- framing
API_PRODUCE, API_FETCH, API_METADATA, API_VERSIONS = 0, 1, 3, 18
API_OFFSET_COMMIT, API_FIND_COORDINATOR = 8, 10
API_CREATE_TOPICS, API_DELETE_TOPICS, API_DELETE_RECORDS, API_INIT_PRODUCER_ID = 19, 20, 21, 22
API_CREATE_PARTITIONS = 37
API_DESCRIBE_CONFIGS, API_ALTER_CONFIGS, API_INCREMENTAL_ALTER_CONFIGS = 32, 33, 44

# Kafka error codes that the tests name (org.apache.kafka.common.protocol.Errors).
ERROR_NAMES = {
    -1: "UNKNOWN_SERVER_ERROR", 0: "NONE", 1: "OFFSET_OUT_OF_RANGE", 2: "CORRUPT_MESSAGE",
    3: "UNKNOWN_TOPIC_OR_PARTITION", 4: "INVALID_FETCH_SIZE", 5: "LEADER_NOT_AVAILABLE",
    6: "NOT_LEADER_OR_FOLLOWER", 7: "REQUEST_TIMED_OUT", 10: "MESSAGE_TOO_LARGE",
    14: "COORDINATOR_LOAD_IN_PROGRESS", 15: "COORDINATOR_NOT_AVAILABLE", 16: "NOT_COORDINATOR",
    17: "INVALID_TOPIC_EXCEPTION", 18: "RECORD_LIST_TOO_LARGE", 19: "NOT_ENOUGH_REPLICAS",
    20: "NOT_ENOUGH_REPLICAS_AFTER_APPEND", 21: "INVALID_REQUIRED_ACKS", 22: "ILLEGAL_GENERATION",
    25: "UNKNOWN_MEMBER_ID", 32: "INVALID_TIMESTAMP", 35: "UNSUPPORTED_VERSION",
    36: "TOPIC_ALREADY_EXISTS", 37: "INVALID_PARTITIONS", 38: "INVALID_REPLICATION_FACTOR",
    40: "INVALID_CONFIG", 41: "NOT_CONTROLLER", 42: "INVALID_REQUEST",
    43: "UNSUPPORTED_FOR_MESSAGE_FORMAT", 44: "POLICY_VIOLATION", 45: "OUT_OF_ORDER_SEQUENCE_NUMBER",
    46: "DUPLICATE_SEQUENCE_NUMBER", 47: "INVALID_PRODUCER_EPOCH", 53: "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
    59: "UNKNOWN_PRODUCER_ID", 73: "TOPIC_DELETION_DISABLED", 76: "UNSUPPORTED_COMPRESSION_TYPE",
    87: "INVALID_RECORD", 89: "THROTTLING_QUOTA_EXCEEDED",
}


def error_name(code: int) -> str:
    return f"{ERROR_NAMES.get(code, 'UNKNOWN')}({code})"


def request_header_v1(api_key: int, version: int, correlation_id: int, client_id: str | None = "raw") -> bytes:
    return i16(api_key) + i16(version) + i32(correlation_id) + string(client_id)


def request_header_v2(api_key: int, version: int, correlation_id: int, client_id: str | None = "raw") -> bytes:
    return request_header_v1(api_key, version, correlation_id, client_id) + uvarint(0)


def frame(payload: bytes) -> bytes:
    return i32(len(payload)) + payload


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(out)} of {n} bytes")
        out += chunk
    return bytes(out)


def recv_frame(s: socket.socket) -> bytes:
    (size,) = struct.unpack(">i", recv_exact(s, 4))
    return recv_exact(s, size)


_corr = iter(range(1, 1 << 30))


def roundtrip(s: socket.socket, header: bytes, body: bytes, flexible_response_header: bool = False) -> Reader:
    """Send one request whose header carries correlation id `corr` (bytes 4..8 of header)."""
    (corr,) = struct.unpack(">i", header[4:8])
    s.sendall(frame(header + body))
    r = Reader(recv_frame(s))
    got = r.i32()
    assert got == corr, f"correlation id {got} != {corr}"
    if flexible_response_header:
        r.tagged_fields()
    return r


def wait_closed(s: socket.socket, timeout: float = 10.0) -> bool:
    """True if the peer closes (EOF or reset) within timeout; any data received is discarded."""
    s.settimeout(0.5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not data:
            return True
    return False


# --------------------------------------------------------------------------- APIs
def api_versions(s: socket.socket, version: int = 0) -> dict:
    corr = next(_corr)
    if version >= 3:
        hdr = request_header_v2(API_VERSIONS, version, corr)
        body = compact_string("runnel-interop") + compact_string("1.0") + uvarint(0)
        r = roundtrip(s, hdr, body)  # ApiVersions responses always use header v0
        err = r.i16()

        def elem(rr):
            k, lo, hi = rr.i16(), rr.i16(), rr.i16()
            rr.tagged_fields()
            return k, lo, hi
        keys = r.compact_array(elem)
        throttle = r.i32()
        r.tagged_fields()
    else:
        hdr = request_header_v1(API_VERSIONS, version, corr)
        r = roundtrip(s, hdr, b"")
        err = r.i16()
        keys = r.array(lambda rr: (rr.i16(), rr.i16(), rr.i16()))
        throttle = r.i32() if version >= 1 else 0
    return {"error_code": err, "api_keys": {k: (lo, hi) for k, lo, hi in keys or []}, "throttle_time_ms": throttle}


def metadata_v1(s: socket.socket, topics: list[str] | None) -> dict:
    """Metadata v1. topics=None asks for all topics."""
    corr = next(_corr)
    body = array(None if topics is None else [string(t) for t in topics])
    r = roundtrip(s, request_header_v1(API_METADATA, 1, corr), body)
    brokers = r.array(lambda rr: {"node_id": rr.i32(), "host": rr.string(), "port": rr.i32(), "rack": rr.string()})
    controller_id = r.i32()

    def partition(rr):
        return {"error_code": rr.i16(), "partition": rr.i32(), "leader": rr.i32(),
                "replicas": rr.array(lambda x: x.i32()), "isr": rr.array(lambda x: x.i32())}

    def topic(rr):
        return {"error_code": rr.i16(), "name": rr.string(), "is_internal": rr.bool(),
                "partitions": rr.array(partition)}
    topics_out = r.array(topic)
    return {"brokers": brokers, "controller_id": controller_id, "topics": {t["name"]: t for t in topics_out}}


def produce_v3(s: socket.socket, topic: str, partition: int, records: bytes | None, acks: int = -1,
               timeout_ms: int = 10000) -> dict:
    """Produce v3 with one partition; returns {"error_code", "base_offset", "log_append_time"}."""
    corr = next(_corr)
    body = (string(None) + i16(acks) + i32(timeout_ms)
            + array([string(topic) + array([i32(partition) + nbytes(records)])]))
    r = roundtrip(s, request_header_v1(API_PRODUCE, 3, corr), body)

    def part(rr):
        return {"partition": rr.i32(), "error_code": rr.i16(), "base_offset": rr.i64(), "log_append_time": rr.i64()}
    resp = r.array(lambda rr: (rr.string(), rr.array(part)))
    r.i32()  # throttle_time_ms
    (name, parts), = resp
    assert name == topic
    (p,) = parts
    assert p["partition"] == partition
    return p


def fetch(s: socket.socket, topic: str, partition: int, offset: int, max_wait_ms: int = 500,
          min_bytes: int = 1, max_bytes: int = 1 << 20) -> dict:
    """Fetch v4 for one partition; returns {topic: [partition dicts]}."""
    corr = next(_corr)
    body = (i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(0)
            + array([string(topic) + array([i32(partition) + i64(offset) + i32(max_bytes)])]))
    r = roundtrip(s, request_header_v1(API_FETCH, 4, corr), body)
    r.i32()  # throttle_time_ms

    def part(rr):
        return {"partition": rr.i32(), "error_code": rr.i16(), "high_watermark": rr.i64(),
                "last_stable_offset": rr.i64(),
                "aborted": rr.array(lambda x: (x.i64(), x.i64())), "records": rr.nbytes()}
    resp = r.array(lambda rr: (rr.string(), rr.array(part)))
    return {name: parts for name, parts in resp}


# Config resource types and IncrementalAlterConfigs operations (org.apache.kafka.common.config).
RESOURCE_TOPIC, RESOURCE_BROKER = 2, 4
OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT = 0, 1, 2, 3


def describe_configs_v4(s: socket.socket, resources: list[tuple[int, str, list[str] | None]],
                        include_synonyms: bool = True, include_documentation: bool = True) -> list[dict]:
    """DescribeConfigs v4 of (resource_type, name, keys or None); one dict per resource with
    error_code, error_message and configs {name: {value, read_only, source, sensitive, synonyms,
    type, documentation}}, synonyms a list of (name, value, source)."""
    corr = next(_corr)
    body = compact_array([i8(t) + compact_string(n)
                          + (uvarint(0) if keys is None else compact_array([compact_string(k) for k in keys]))
                          + uvarint(0) for t, n, keys in resources])
    body += i8(1 if include_synonyms else 0) + i8(1 if include_documentation else 0) + uvarint(0)
    r = roundtrip(s, request_header_v2(API_DESCRIBE_CONFIGS, 4, corr), body, flexible_response_header=True)
    r.i32()

    def synonym(rr):
        out = (rr.compact_string(), rr.compact_string(), rr.i8())
        rr.tagged_fields()
        return out

    def config(rr):
        name = rr.compact_string()
        c = {"value": rr.compact_string(), "read_only": rr.bool(), "source": rr.i8(),
             "sensitive": rr.bool(), "synonyms": rr.compact_array(synonym) or [],
             "type": rr.i8(), "documentation": rr.compact_string()}
        rr.tagged_fields()
        return name, c

    def result(rr):
        out = {"error_code": rr.i16(), "error_message": rr.compact_string(), "resource_type": rr.i8(),
               "resource_name": rr.compact_string(), "configs": dict(rr.compact_array(config) or [])}
        rr.tagged_fields()
        return out
    results = r.compact_array(result) or []
    r.tagged_fields()
    return results


def alter_configs_v1(s: socket.socket, resources: list[tuple[int, str, dict[str, str | None]]],
                     validate_only: bool = False) -> list[tuple[int, str | None]]:
    """AlterConfigs v1 (replace the whole set); returns (error_code, error_message) per resource."""
    corr = next(_corr)
    body = array([i8(t) + string(n) + array([string(k) + string(v) for k, v in cfg.items()])
                  for t, n, cfg in resources]) + i8(1 if validate_only else 0)
    r = roundtrip(s, request_header_v1(API_ALTER_CONFIGS, 1, corr), body)
    r.i32()
    return [(e, m) for e, m, _, _ in r.array(lambda rr: (rr.i16(), rr.string(), rr.i8(), rr.string()))]


def incremental_alter_configs_v1(s: socket.socket,
                                 resources: list[tuple[int, str, list[tuple[str, int, str | None]]]],
                                 validate_only: bool = False) -> list[tuple[int, str | None]]:
    """IncrementalAlterConfigs v1 of (resource_type, name, [(key, op, value)]); returns
    (error_code, error_message) per resource."""
    corr = next(_corr)
    body = compact_array([i8(t) + compact_string(n)
                          + compact_array([compact_string(k) + i8(op) + compact_string(v) + uvarint(0)
                                           for k, op, v in ops]) + uvarint(0)
                          for t, n, ops in resources])
    body += i8(1 if validate_only else 0) + uvarint(0)
    r = roundtrip(s, request_header_v2(API_INCREMENTAL_ALTER_CONFIGS, 1, corr), body,
                  flexible_response_header=True)
    r.i32()

    def resp(rr):
        out = (rr.i16(), rr.compact_string())
        rr.i8()
        rr.compact_string()
        rr.tagged_fields()
        return out
    out = r.compact_array(resp) or []
    r.tagged_fields()
    return out


# --------------------------------------------------------------------------- record batch v2
def encode_record(offset_delta: int, ts_delta: int, key: bytes | None, value: bytes | None,
                  headers: list[tuple[str, bytes | None]] = ()) -> bytes:
    body = i8(0) + varint(ts_delta) + varint(offset_delta)
    body += varint(-1) if key is None else varint(len(key)) + key
    body += varint(-1) if value is None else varint(len(value)) + value
    body += varint(len(headers))
    for hk, hv in headers:
        kb = hk.encode()
        body += varint(len(kb)) + kb
        body += varint(-1) if hv is None else varint(len(hv)) + hv
    return varint(len(body)) + body


def record_batch(records: list[tuple[bytes | None, bytes | None]], base_timestamp: int | None = None,
                 producer_id: int = -1, producer_epoch: int = -1, base_sequence: int = -1) -> bytes:
    """An uncompressed magic-2 batch at base offset 0 with a correct CRC-32C."""
    ts = int(time.time() * 1000) if base_timestamp is None else base_timestamp
    recs = b"".join(encode_record(i, 0, k, v) for i, (k, v) in enumerate(records))
    after_crc = (i16(0)                      # attributes: no compression, create time
                 + i32(len(records) - 1)     # lastOffsetDelta
                 + i64(ts) + i64(ts)         # baseTimestamp, maxTimestamp
                 + i64(producer_id) + i16(producer_epoch) + i32(base_sequence)
                 + i32(len(records)) + recs)
    crc = crc32c(after_crc)
    after_length = i32(0) + i8(2) + u32(crc) + after_crc  # partitionLeaderEpoch, magic, crc
    return i64(0) + i32(len(after_length)) + after_length


BATCH_CRC_OFFSET = 8 + 4 + 4 + 1  # baseOffset, batchLength, partitionLeaderEpoch, magic
BATCH_ATTRIBUTES_OFFSET = BATCH_CRC_OFFSET + 4


def corrupt(batch: bytes, at: int | None = None) -> bytes:
    """Flip one byte covered by the CRC (by default the last byte of the last record)."""
    b = bytearray(batch)
    at = len(b) - 1 if at is None else at
    assert at >= BATCH_ATTRIBUTES_OFFSET, "only bytes after the CRC field are covered by it"
    b[at] ^= 0xFF
    return bytes(b)


@contextlib.contextmanager
def connection(port: int, timeout: float = 10.0):
    s = connect(port, timeout)
    try:
        yield s
    finally:
        s.close()


# --------------------------------------------------------------------------- more APIs
def compact_bytes(b: bytes | None) -> bytes:
    if b is None:
        return uvarint(0)
    return uvarint(len(b) + 1) + b


def compact_array(items: list[bytes] | None) -> bytes:
    if items is None:
        return uvarint(0)
    return uvarint(len(items) + 1) + b"".join(items)


def produce_v9_request(partitions: list[tuple[str, int, bytes | None]], acks: int = -1,
                       timeout_ms: int = 10000, transactional_id: str | None = None) -> bytes:
    """Produce v9 body. `partitions` lists (topic, partition, records) in order; consecutive entries
    for one topic share a topic entry (so the same partition may appear twice)."""
    topics: list[tuple[str, list[bytes]]] = []
    for topic, part, records in partitions:
        pd = i32(part) + compact_bytes(records) + uvarint(0)
        if topics and topics[-1][0] == topic:
            topics[-1][1].append(pd)
        else:
            topics.append((topic, [pd]))
    return (compact_string(transactional_id) + i16(acks) + i32(timeout_ms)
            + compact_array([compact_string(t) + compact_array(pds) + uvarint(0) for t, pds in topics])
            + uvarint(0))


def parse_produce_v9(r: Reader) -> dict:
    """{"topics": {name: [partition dicts]}, "throttle_time_ms"} with record_errors per partition."""
    def rec_err(rr):
        idx, msg = rr.i32(), rr.compact_string()
        rr.tagged_fields()
        return {"batch_index": idx, "message": msg}

    def part(rr):
        p = {"partition": rr.i32(), "error_code": rr.i16(), "base_offset": rr.i64(),
             "log_append_time_ms": rr.i64(), "log_start_offset": rr.i64(),
             "record_errors": rr.compact_array(rec_err) or [], "error_message": rr.compact_string()}
        rr.tagged_fields()
        return p

    def topic(rr):
        name = rr.compact_string()
        parts = rr.compact_array(part) or []
        rr.tagged_fields()
        return name, parts
    topics = r.compact_array(topic) or []
    throttle = r.i32()
    r.tagged_fields()
    out: dict[str, list[dict]] = {}
    for name, parts in topics:
        out.setdefault(name, []).extend(parts)
    return {"topics": out, "throttle_time_ms": throttle}


def produce_v9(s: socket.socket, partitions: list[tuple[str, int, bytes | None]], acks: int = -1,
               timeout_ms: int = 10000) -> dict:
    corr = next(_corr)
    body = produce_v9_request(partitions, acks, timeout_ms)
    if acks == 0:
        s.sendall(frame(request_header_v2(API_PRODUCE, 9, corr) + body))
        return {}
    return parse_produce_v9(roundtrip(s, request_header_v2(API_PRODUCE, 9, corr), body,
                                      flexible_response_header=True))


def create_topics_v4(s: socket.socket, topics: list[tuple[str, int, dict[str, str]]],
                     timeout_ms: int = 30000, validate_only: bool = False) -> dict:
    """CreateTopics v4 of (name, partitions, configs); returns {name: (error_code, error_message)}."""
    corr = next(_corr)
    body = array([string(n) + i32(p) + i16(-1) + array([])
                  + array([string(k) + string(v) for k, v in cfg.items()]) for n, p, cfg in topics])
    body += i32(timeout_ms) + i8(1 if validate_only else 0)
    r = roundtrip(s, request_header_v1(API_CREATE_TOPICS, 4, corr), body)
    r.i32()
    res = r.array(lambda rr: (rr.string(), rr.i16(), rr.string()))
    return {n: (e, m) for n, e, m in res}


def delete_topics_v3(s: socket.socket, names: list[str], timeout_ms: int = 30000) -> dict:
    corr = next(_corr)
    body = array([string(n) for n in names]) + i32(timeout_ms)
    r = roundtrip(s, request_header_v1(API_DELETE_TOPICS, 3, corr), body)
    r.i32()
    return dict(r.array(lambda rr: (rr.string(), rr.i16())))


def create_partitions_v1(s: socket.socket, topic: str, count: int, timeout_ms: int = 30000,
                         validate_only: bool = False) -> tuple[int, str | None]:
    corr = next(_corr)
    body = array([string(topic) + i32(count) + array(None)]) + i32(timeout_ms) + i8(1 if validate_only else 0)
    r = roundtrip(s, request_header_v1(API_CREATE_PARTITIONS, 1, corr), body)
    r.i32()
    (res,) = r.array(lambda rr: (rr.string(), rr.i16(), rr.string()))
    return res[1], res[2]


def delete_records_v1(s: socket.socket, topic: str, partition: int, offset: int,
                      timeout_ms: int = 30000) -> dict:
    corr = next(_corr)
    body = array([string(topic) + array([i32(partition) + i64(offset)])]) + i32(timeout_ms)
    r = roundtrip(s, request_header_v1(API_DELETE_RECORDS, 1, corr), body)
    r.i32()
    (res,) = r.array(lambda rr: (rr.string(), rr.array(
        lambda x: {"partition": x.i32(), "low_watermark": x.i64(), "error_code": x.i16()})))
    return res[1][0]


def init_producer_id_v1(s: socket.socket, transactional_id: str | None = None,
                        transaction_timeout_ms: int = 60000) -> dict:
    corr = next(_corr)
    body = string(transactional_id) + i32(transaction_timeout_ms)
    r = roundtrip(s, request_header_v1(API_INIT_PRODUCER_ID, 1, corr), body)
    return {"throttle_time_ms": r.i32(), "error_code": r.i16(), "producer_id": r.i64(), "producer_epoch": r.i16()}


def find_coordinator_v1(s: socket.socket, key: str, key_type: int = 0) -> dict:
    corr = next(_corr)
    r = roundtrip(s, request_header_v1(API_FIND_COORDINATOR, 1, corr), string(key) + i8(key_type))
    return {"throttle_time_ms": r.i32(), "error_code": r.i16(), "error_message": r.string(),
            "node_id": r.i32(), "host": r.string(), "port": r.i32()}


def offset_commit_v2(s: socket.socket, group: str, topic: str, partition: int, offset: int) -> int:
    """A simple (generation -1, no member) commit of one offset; returns the partition error code."""
    corr = next(_corr)
    body = (string(group) + i32(-1) + string("") + i64(-1)
            + array([string(topic) + array([i32(partition) + i64(offset) + string(None)])]))
    r = roundtrip(s, request_header_v1(API_OFFSET_COMMIT, 2, corr), body)
    (res,) = r.array(lambda rr: (rr.string(), rr.array(lambda x: (x.i32(), x.i16()))))
    return res[1][0][1]


# --------------------------------------------------------------------------- record batch v2, any field
COMPRESSION_NONE, COMPRESSION_GZIP = 0, 1


def gzip_bytes(data: bytes) -> bytes:
    import gzip
    return gzip.compress(data, compresslevel=6, mtime=0)


def raw_batch(records: bytes, records_count: int, last_offset_delta: int, attributes: int = 0,
              base_timestamp: int | None = None, max_timestamp: int | None = None,
              producer_id: int = -1, producer_epoch: int = -1, base_sequence: int = -1,
              base_offset: int = 0, partition_leader_epoch: int = 0, magic: int = 2) -> bytes:
    """A record batch with every header field given and a correct CRC-32C over whatever follows.
    `records` is the (already compressed, if attributes say so) records section."""
    ts = int(time.time() * 1000) if base_timestamp is None else base_timestamp
    mts = ts if max_timestamp is None else max_timestamp
    after_crc = (i16(attributes) + i32(last_offset_delta) + i64(ts) + i64(mts)
                 + i64(producer_id) + i16(producer_epoch) + i32(base_sequence)
                 + i32(records_count) + records)
    after_length = i32(partition_leader_epoch) + i8(magic) + u32(crc32c(after_crc)) + after_crc
    return i64(base_offset) + i32(len(after_length)) + after_length


def encode_records(records: list[tuple[bytes | None, bytes | None]], ts_deltas: list[int] | None = None) -> bytes:
    return b"".join(encode_record(i, (ts_deltas or [0] * len(records))[i], k, v)
                    for i, (k, v) in enumerate(records))


def decode_batches(data: bytes | None) -> list[dict]:
    """Batches in a Fetch answer: [{"base_offset", "records": [(offset, key, value)]}] (none or gzip)."""
    import gzip
    out = []
    pos = 0
    data = data or b""
    while pos + 61 <= len(data):
        base_offset, length = struct.unpack(">qi", data[pos:pos + 12])
        end = pos + 12 + length
        if end > len(data):
            break
        attrs = struct.unpack(">h", data[pos + 21:pos + 23])[0]
        (count,) = struct.unpack(">i", data[pos + 57:pos + 61])
        body = data[pos + 61:end]
        if attrs & 7 == COMPRESSION_GZIP:
            body = gzip.decompress(body)
        elif attrs & 7:
            out.append({"base_offset": base_offset, "records": None, "compression": attrs & 7})
            pos = end
            continue
        r = Reader(body)
        recs: list = []
        try:
            _decode_records(r, base_offset, count, recs)
        except EOFError:  # a batch whose header claims more records than its bytes hold
            pass
        out.append({"base_offset": base_offset, "records": recs})
        pos = end
    return out


def _decode_records(r: Reader, base_offset: int, count: int, recs: list) -> None:
    for _ in range(count):
        r.varint()  # length
        r.i8()      # attributes
        r.varint()  # timestamp delta
        od = r.varint()
        kl = r.varint()
        k = None if kl < 0 else r.take(kl)
        vl = r.varint()
        v = None if vl < 0 else r.take(vl)
        for _ in range(r.varint()):
            r.take(r.varint())
            hl = r.varint()
            if hl > 0:
                r.take(hl)
        recs.append((base_offset + od, k, v))
