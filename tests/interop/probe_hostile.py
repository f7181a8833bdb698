#!/usr/bin/env python3
"""Hostile and edge-case requests, sent to a broker with the raw protocol, answers recorded.

Meant to be run against real Kafka and against Runnel and the answers compared (differential):

    probe_hostile.py --bootstrap 127.0.0.1:9092 [--pid PID]     # any running broker
    probe_hostile.py --kafka                                      # starts Kafka (kafka_ref.py)
    probe_hostile.py --runnel target/release/runnel               # starts Runnel, restarts it if it dies
    probe_hostile.py --kafka --runnel target/release/runnel --markdown out.md   # both, side by side

Each case opens its own connection; after the answer (or none) the same connection is probed with
ApiVersions to see whether the broker closed it, and a fresh connection checks that the broker
is still up. Only the standard library is used. The gzip bomb (case i) runs only with --bomb, and
on Runnel only with --bomb-runnel as well.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import kafka_raw as kr  # noqa: E402

RESPONSE_TIMEOUT_S = 30.0
HOUR_MS = 3600 * 1000


# --------------------------------------------------------------------------- targets
class Target:
    name = "broker"
    pid: int | None = None

    def __init__(self, port: int):
        self.port = port

    def ensure_up(self) -> str | None:
        """None if the broker answers; else a note (a restartable target restarts and says so)."""
        return None if broker_up(self.port) else "BROKER DOWN"

    def close(self) -> None:
        pass


class RunnelTarget(Target):
    name = "runnel"

    def __init__(self, binary: str):
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="probe-runnel-"))
        self.generation = 0
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.start()

    def start(self) -> None:
        self.generation += 1
        self.port = free_port()
        data = self.root / f"data-{self.generation}"
        self.log = self.root / f"runnel-{self.generation}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [self.binary, "serve", "--set", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
                 "--set", f"log.dirs={data}"], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"runnel exited at start-up: {self.log.read_text()[-2000:]}")
            if broker_up(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError("runnel did not start")

    def ensure_up(self) -> str | None:
        if self.proc.poll() is None and broker_up(self.port):
            return None
        rc = self.proc.poll()
        if rc is None:
            self.proc.kill()
            rc = self.proc.wait()
        lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        i = next((n for n, ln in enumerate(lines) if "panicked at" in ln or "memory allocation of" in ln), None)
        why = " ".join(lines[i:i + 1]) if i is not None else " | ".join(lines[-3:])
        note = f"RUNNEL PROCESS DIED (exit {rc}: {why[:400]}); restarted on a fresh data dir"
        self.start()
        return note

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


class KafkaTarget(Target):
    name = "kafka"

    def __init__(self):
        import kafka_ref
        self.k = kafka_ref.KafkaRef().start()
        self.port = self.k.port
        self.pid = self.k.pid
        self.version = self.k.version
        print(f"kafka {self.k.version} ready in {self.k.start_seconds:.1f}s at {self.k.bootstrap}", file=sys.stderr)

    def close(self) -> None:
        self.k.stop()
        shutil.rmtree(self.k.dir, ignore_errors=True)

    _log_pos = 0

    def log_hint(self) -> str | None:
        """The exception lines Kafka logged since the last call (its reason, not in the answer)."""
        path = self.k.dir / "server.log"
        try:
            with open(path, "rb") as f:
                f.seek(self._log_pos)
                new = f.read()
                self._log_pos = f.tell()
        except OSError:
            return None
        hints = []
        for ln in new.decode("utf-8", "replace").splitlines():
            if ln.startswith("org.apache.kafka") and "Exception" in ln:
                msg = ln.split(": ", 1)[-1][:200]
                if msg not in hints:
                    hints.append(msg)
        return " / ".join(hints) or None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def broker_up(port: int) -> bool:
    try:
        with kr.connection(port, timeout=5.0) as s:
            return kr.api_versions(s, 0)["error_code"] == 0
    except (OSError, EOFError, AssertionError, ConnectionError):
        return False


def rss_kib(pid: int | None) -> int | None:
    if not pid:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


# --------------------------------------------------------------------------- request helpers
def still_open(s: socket.socket) -> bool:
    """Whether the connection still answers an ApiVersions request."""
    try:
        s.settimeout(10.0)
        kr.api_versions(s, 0)
        return True
    except (OSError, EOFError, ConnectionError, AssertionError):
        return False


def fmt_partition(p: dict) -> str:
    out = kr.error_name(p["error_code"])
    if p["error_code"] == 0:
        out += f" base_offset={p['base_offset']}"
    if p.get("error_message") is not None:
        out += f" msg={p['error_message']!r}"
    if p.get("record_errors"):
        out += " record_errors=[" + ", ".join(
            f"{e['batch_index']}:{e['message']!r}" for e in p["record_errors"]) + "]"
    return out


def produce(port: int, partitions: list[tuple[str, int, bytes | None]], acks: int = -1) -> str:
    s = kr.connect(port, timeout=RESPONSE_TIMEOUT_S)
    try:
        try:
            resp = kr.produce_v9(s, partitions, acks=acks)
        except socket.timeout:
            return f"no response within {RESPONSE_TIMEOUT_S:.0f}s"
        except (ConnectionError, OSError, EOFError) as e:
            return f"connection closed, no response ({type(e).__name__})"
        if acks == 0:
            return "acks=0 (no response); connection " + ("open" if still_open(s) else "CLOSED")
        parts = [f"{t}/{p['partition']}: {fmt_partition(p)}" for t, ps in resp["topics"].items() for p in ps]
        body = parts[0].split(": ", 1)[1] if len(parts) == 1 else "; ".join(parts)
        return body + "; connection " + ("open" if still_open(s) else "CLOSED")
    finally:
        s.close()


def with_conn(port: int, fn) -> str:
    s = kr.connect(port, timeout=RESPONSE_TIMEOUT_S)
    try:
        try:
            out = fn(s)
        except socket.timeout:
            return f"no response within {RESPONSE_TIMEOUT_S:.0f}s"
        except (ConnectionError, OSError, EOFError) as e:
            return f"connection closed, no response ({type(e).__name__})"
        return out + "; connection " + ("open" if still_open(s) else "CLOSED")
    finally:
        s.close()


def now_ms() -> int:
    return int(time.time() * 1000)


def batch(records: list[tuple[bytes | None, bytes | None]], gzip: bool = False, count: int | None = None,
          last_offset_delta: int | None = None, records_bytes: bytes | None = None,
          ts: int | None = None) -> bytes:
    body = kr.encode_records(records) if records_bytes is None else records_bytes
    n = len(records) if count is None else count
    lod = (len(records) - 1 if records else 0) if last_offset_delta is None else last_offset_delta
    attrs = kr.COMPRESSION_NONE
    if gzip:
        body = kr.gzip_bytes(body)
        attrs = kr.COMPRESSION_GZIP
    return kr.raw_batch(body, n, lod, attributes=attrs, base_timestamp=ts)


# --------------------------------------------------------------------------- cases
T, C, TS, CO = "t", "c", "ts", "__consumer_offsets"
GROUP = "probe-group"


def setup(port: int) -> str:
    notes = []
    with kr.connection(port, 30.0) as s:
        res = kr.create_topics_v4(s, [
            (T, 1, {}), (C, 1, {"cleanup.policy": "compact"}),
            (TS, 1, {"message.timestamp.before.max.ms": str(HOUR_MS), "message.timestamp.after.max.ms": str(HOUR_MS)}),
        ])
        for name, (err, msg) in res.items():
            notes.append(f"create {name}: {kr.error_name(err)}" + (f" {msg!r}" if msg else ""))
        deadline = time.monotonic() + 60
        fc = oc = None
        while time.monotonic() < deadline:
            fc = kr.find_coordinator_v1(s, GROUP)
            if fc["error_code"] == 0:
                oc = kr.offset_commit_v2(s, GROUP, T, 0, 0)
                if oc == 0:
                    break
            time.sleep(0.2)
        notes.append(f"FindCoordinator {kr.error_name(fc['error_code'])}, OffsetCommit {kr.error_name(oc if oc is not None else -1)}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # leadership of the new topics
            md = kr.metadata_v1(s, [T, C, TS, CO])
            if all(t in md["topics"] and md["topics"][t]["partitions"] and
                   all(p["leader"] >= 0 for p in md["topics"][t]["partitions"]) for t in (T, C, CO)):
                break
            time.sleep(0.2)
    return "; ".join(notes)


HEADER_ONLY = kr.raw_batch(b"", (1 << 31) - 1, (1 << 31) - 2)
assert len(HEADER_ONLY) == 61


def rec(i: int, key: bytes | None = b"k") -> tuple[bytes | None, bytes]:
    return key, f"value-{i}".encode()


def too_long_record() -> bytes:
    full = kr.encode_record(0, 0, b"k", b"v" * 20)
    r = kr.Reader(full)
    n = r.varint()
    body = full[len(kr.varint(n)):]
    return kr.varint(n + 10) + body


def gzip_bomb(records: int = 8, size: int = 64 << 20) -> bytes:
    """`records` records of `size` zero bytes each, gzip-compressed chunk by chunk."""
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = []
    zeros = bytes(1 << 20)
    for i in range(records):
        body_head = kr.i8(0) + kr.varint(0) + kr.varint(i) + kr.varint(-1) + kr.varint(size)
        body_len = len(body_head) + size + 1
        out.append(comp.compress(kr.varint(body_len) + body_head))
        for _ in range(size // len(zeros)):
            out.append(comp.compress(zeros))
        out.append(comp.compress(kr.varint(0)))
    out.append(comp.flush())
    data = b"".join(out)
    return kr.raw_batch(data, records, records - 1, attributes=kr.COMPRESSION_GZIP)


def cases(args) -> list[tuple[str, str, object]]:
    """(id, description, fn(target) -> str). Ordered so that the cases known to kill Runnel come last."""
    out = []

    def p(cid, desc, parts, acks=-1):
        out.append((cid, desc, lambda tg: produce(tg.port, parts, acks)))

    p("a1", "61-byte header-only batch, recordsCount=2^31-1, lastOffsetDelta=2^31-2, to t", [(T, 0, HEADER_ONLY)])
    for gz in (False, True):
        z = " gzip" if gz else ""
        g = "g" if gz else ""
        p(f"b1{g}", f"recordsCount=0, lastOffsetDelta=0, no records{z}", [(T, 0, batch([], gz, 0, 0, b""))])
        p(f"b2{g}", f"recordsCount=2, lastOffsetDelta=1, one record present{z}",
          [(T, 0, batch([rec(0)], gz, 2, 1))])
        p(f"b3{g}", f"recordsCount=1, two records present{z}",
          [(T, 0, batch([rec(0), rec(1)], gz, 1, 0))])
        p(f"b4{g}", f"record length varint 10 more than present{z}",
          [(T, 0, batch([rec(0)], gz, 1, 0, too_long_record()))])
    p("c1", "two batches for t/0 concatenated in one partition's records", [(T, 0, batch([rec(0)]) + batch([rec(1)]))])
    def c2(tg):
        ans = produce(tg.port, [(T, 0, batch([(b"k", b"c2-first")])), (T, 0, batch([(b"k", b"c2-second")]))])
        with kr.connection(tg.port, RESPONSE_TIMEOUT_S) as s:
            parts = kr.fetch(s, T, 0, 0)[T]
            vals = [v.decode() for b in kr.decode_batches(parts[0]["records"]) for _, _, v in b["records"] or []
                    if v and v.startswith(b"c2-")]
        return f"{ans}; t/0 then holds {vals}"
    out.append(("c2", "t/0 twice in one topic entry (values c2-first, c2-second), one batch each", c2))
    p("d1", "keyless record to compacted c", [(C, 0, batch([rec(0, None)]))])
    p("d2", "3 records to c, the second keyless", [(C, 0, batch([rec(0), rec(1, None), rec(2)]))])
    p("d3", "3 records to c, all keyed (control)", [(C, 0, batch([rec(0), rec(1), rec(2)]))])
    now = now_ms()
    p("e1", "ts (before/after.max.ms=1h): CreateTime 2h in the past", [(TS, 0, batch([rec(0)], ts=now - 2 * HOUR_MS))])
    p("e2", "ts: CreateTime 2h in the future", [(TS, 0, batch([rec(0)], ts=now + 2 * HOUR_MS))])
    p("e3", "ts: CreateTime now (control)", [(TS, 0, batch([rec(0)], ts=now))])
    p("f1", "acks=0 to unknown topic", [("no-such-topic-probe", 0, batch([rec(0)]))], acks=0)
    p("f2", "acks=0 keyless record to compacted c", [(C, 0, batch([rec(0, None)]))], acks=0)
    p("f3", "acks=0 well-formed to t (control)", [(T, 0, batch([rec(0)]))], acks=0)
    p("f4", "acks=1 to unknown topic", [("no-such-topic-probe", 0, batch([rec(0)]))], acks=1)

    def h(tg):
        ids = []
        for _ in range(2):
            with kr.connection(tg.port, RESPONSE_TIMEOUT_S) as s:
                deadline, retried = time.monotonic() + 30, set()
                while True:
                    r = kr.init_producer_id_v1(s, None)
                    if r["error_code"] not in (14, 15, 16) or time.monotonic() > deadline:
                        break
                    retried.add(kr.error_name(r["error_code"]))
                    time.sleep(0.2)
                if retried:
                    ids.append(f"(retried after {','.join(sorted(retried))})")
                ids.append(f"{kr.error_name(r['error_code'])} id={r['producer_id']} epoch={r['producer_epoch']}")
        answers = [i for i in ids if not i.startswith("(")]
        distinct = answers[0] != answers[1]
        return " / ".join(ids) + ("; distinct" if distinct else "; SAME")
    out.append(("h", "InitProducerId (no transactional id) from two connections", h))
    p("g1", "acks=1 well-formed batch to __consumer_offsets/0", [(CO, 0, batch([rec(0)]))], acks=1)

    def g2(tg):
        def fn(s):
            md = kr.metadata_v1(s, [CO])
            n = len(md["topics"][CO]["partitions"])
            err, msg = kr.create_partitions_v1(s, CO, n + 1)
            out = f"(had {n}) {kr.error_name(err)}" + (f" msg={msg!r}" if msg else "")
            deadline = time.monotonic() + 10
            while True:
                m = len(kr.metadata_v1(s, [CO])["topics"][CO]["partitions"])
                if m != n or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            return out + f"; Metadata then shows {m} partitions"
        return with_conn(tg.port, fn)
    out.append(("g2", "CreatePartitions __consumer_offsets to current+1", g2))

    def g4(tg):
        def fn(s):
            r = kr.delete_records_v1(s, CO, 0, -1)
            return f"{kr.error_name(r['error_code'])} low_watermark={r['low_watermark']}"
        return with_conn(tg.port, fn)
    out.append(("g4", "DeleteRecords __consumer_offsets/0 up to the high watermark (-1)", g4))

    if args.bomb:
        def bomb(tg):
            if tg.name == "runnel" and not args.bomb_runnel:
                return "skipped (known to bloat Runnel; --bomb-runnel runs it)"
            data = gzip_bomb()
            before = rss_kib(tg.pid)
            t0 = time.monotonic()
            ans = produce(tg.port, [(T, 0, data)], acks=1)
            dt = time.monotonic() - t0
            after = rss_kib(tg.pid)
            rss = f"; RSS {before} KiB -> {after} KiB" if before else ""
            return f"{ans}; {len(data)} bytes compressed, {dt:.1f}s{rss}"
        out.append(("i", "gzip batch of 8 valid records of 64 MiB zeros (512 MiB inflated) to t", bomb))

    p("a2", "61-byte header-only batch (as a1) to compacted c", [(C, 0, HEADER_ONLY)])
    p("a3", "61-byte header-only batch (as a1) to __consumer_offsets/0", [(CO, 0, HEADER_ONLY)])

    def g3(tg):
        def fn(s):
            r = kr.delete_topics_v3(s, [CO])
            out = ", ".join(f"{k}: {kr.error_name(v)}" for k, v in r.items())
            deadline = time.monotonic() + 10
            while True:
                t = kr.metadata_v1(s, [CO])["topics"].get(CO)
                gone = t is None or t["error_code"] == 3 or not t["partitions"]
                if gone or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            out += "; Metadata then: " + ("topic gone" if gone else f"{len(t['partitions'])} partitions")
            fc = kr.find_coordinator_v1(s, GROUP)
            return out + f"; FindCoordinator then {kr.error_name(fc['error_code'])}"
        return with_conn(tg.port, fn)
    out.append(("g3", "DeleteTopics __consumer_offsets", g3))
    return out


def run(target: Target, args) -> dict[str, str]:
    results = {"setup": setup(target.port)}
    if hasattr(target, "log_hint"):
        target.log_hint()
    print(f"[{target.name}] setup: {results['setup']}", file=sys.stderr)
    for cid, desc, fn in cases(args):
        if args.only and cid not in args.only:
            continue
        try:
            ans = fn(target)
        except Exception as e:  # a probe must record, not stop
            ans = f"probe error: {type(e).__name__}: {e}"
        hint = target.log_hint() if hasattr(target, "log_hint") else None
        if hint:
            ans += f" [kafka log: {hint}]"
        note = target.ensure_up()
        if note:
            ans += f"; {note}"
            if isinstance(target, RunnelTarget):
                results.setdefault("_restarts", "")
                results["setup"] += f" | after {cid}: {setup(target.port)}"
        results[cid] = ans
        print(f"[{target.name}] {cid}: {ans}", file=sys.stderr)
    return results


def markdown(all_results: dict[str, dict[str, str]], args) -> str:
    names = list(all_results)
    descs = {"setup": "setup: create t, c (compact), ts (timestamp bounds 1h); FindCoordinator + OffsetCommit"}
    descs.update({cid: desc for cid, desc, _ in cases(args)})
    lines = ["| case | what | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for cid in descs:
        if not any(cid in r for r in all_results.values()):
            continue
        cells = [all_results[n].get(cid, "").replace("|", "\\|") for n in names]
        lines.append(f"| {cid} | {descs[cid]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", help="a running broker host:port (127.0.0.x)")
    ap.add_argument("--pid", type=int, help="pid of the --bootstrap broker, for RSS figures")
    ap.add_argument("--kafka", action="store_true", help="start a real Kafka (tests/interop/kafka_ref.py)")
    ap.add_argument("--runnel", metavar="BIN", help="start this runnel binary (restarted if it dies)")
    ap.add_argument("--bomb", action="store_true", help="also run case i, the 512 MiB gzip batch")
    ap.add_argument("--bomb-runnel", action="store_true", help="run case i on Runnel too")
    ap.add_argument("--only", nargs="*", help="case ids to run (setup always runs)")
    ap.add_argument("--json", help="write the answers as JSON here")
    ap.add_argument("--markdown", help="write a markdown table here")
    args = ap.parse_args()
    targets: list[Target] = []
    results: dict[str, dict[str, str]] = {}
    try:
        if args.bootstrap:
            host, port = args.bootstrap.rsplit(":", 1)
            assert host.startswith("127."), "tests talk to 127.0.0.x only"
            t = Target(int(port))
            t.pid = args.pid
            targets.append(t)
        if args.kafka:
            targets.append(KafkaTarget())
        if args.runnel:
            targets.append(RunnelTarget(args.runnel))
        if not targets:
            ap.error("give --bootstrap, --kafka and/or --runnel")
        for t in targets:
            label = t.name + (f" {t.version}" if hasattr(t, "version") else "")
            results[label] = run(t, args)
    finally:
        for t in targets:
            t.close()
    md = markdown(results, args)
    print(md)
    if args.markdown:
        Path(args.markdown).write_text(md)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
