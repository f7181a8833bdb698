"""A real single-node Apache Kafka 4.x broker (KRaft, broker+controller) as the reference.

The jars come from Maven Central (scripts/kafka-ref/pom.xml: kafka_2.13, kafka-tools,
kafka-clients, log4j2) and are copied once into `.cache/kafka-ref/<version>/libs` (git-ignored);
later runs reuse them. `start()` writes server.properties and a log4j2 config into a fresh
directory, formats the storage with `kafka.tools.StorageTool format --standalone`, starts
`kafka.Kafka server.properties` and waits until the broker answers ApiVersions and lists itself
in Metadata. Only the standard library is used, so the CLI runs with any python3:

    scripts/kafka-ref.sh install                  # resolve the jars (idempotent)
    scripts/kafka-ref.sh start [--dir D] [--set k=v ...]   # prints the bootstrap, runs in background
    scripts/kafka-ref.sh stop --dir D
    scripts/kafka-ref.sh run [--set k=v ...]      # foreground until Ctrl-C

Environment: KAFKA_REF_VERSION (default below), KAFKA_REF_CACHE (default <repo>/.cache/kafka-ref),
KAFKA_HEAP_OPTS (default "-Xmx1G -Xms1G", as kafka-server-start.sh).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import kafka_raw as kr  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "scripts" / "kafka-ref" / "pom.xml"
DEFAULT_VERSION = "4.4.0"
FALLBACK_VERSIONS = ("4.3.1",)
START_TIMEOUT_S = 120.0

# What kafka-run-class.sh passes besides the heap.
JVM_OPTS = ["-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true"]

LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console>
    <File name="server" fileName="{log}"><PatternLayout pattern="[%d] %p %m (%c)%n"/></File>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="server"/><AppenderRef ref="stderr" level="WARN"/></Root>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
  </Loggers>
</Configuration>
"""


def cache_root() -> Path:
    return Path(os.environ.get("KAFKA_REF_CACHE") or REPO_ROOT / ".cache" / "kafka-ref")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install(version: str | None = None, quiet: bool = False) -> tuple[str, Path]:
    """Resolve the jars for `version` (or the default, falling back to older 4.x) into the cache.

    Returns (version, libs dir). A complete libs dir is marked with `.complete` and reused."""
    versions = [version] if version else [os.environ.get("KAFKA_REF_VERSION") or DEFAULT_VERSION,
                                         *FALLBACK_VERSIONS]
    errors = []
    for v in versions:
        libs = cache_root() / v / "libs"
        if (libs / ".complete").exists():
            return v, libs
        if libs.exists():
            shutil.rmtree(libs)
        cmd = ["mvn", "-B", "-q", "-f", str(POM), f"-Dmaven.repo.local={cache_root() / 'm2'}",
               f"-Dkafka.version={v}", "dependency:copy-dependencies", f"-DoutputDirectory={libs}"]
        if not quiet:
            print(f"kafka-ref: resolving Kafka {v} jars into {libs}", file=sys.stderr)
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode == 0 and (libs / f"kafka_2.13-{v}.jar").exists():
            (libs / ".complete").write_text(v + "\n")
            return v, libs
        errors.append(f"{v}: mvn exit {r.returncode}\n{r.stdout[-3000:]}")
    raise RuntimeError("could not resolve Kafka jars:\n" + "\n".join(errors))


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / "java") if home else "java"


class KafkaRef:
    """One Kafka broker process. `bootstrap`, `port`, `pid`, `dir`, `stop()`, `logs()`."""

    def __init__(self, work_dir: Path | None = None, settings: dict[str, str] | None = None,
                 version: str | None = None, heap_opts: str | None = None):
        self.version, self.libs = install(version)
        self.dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="kafka-ref-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.settings = dict(settings or {})
        self.heap_opts = heap_opts or os.environ.get("KAFKA_HEAP_OPTS") or "-Xmx1G -Xms1G"
        self.port = _free_port()
        self.controller_port = _free_port()
        while self.controller_port == self.port:
            self.controller_port = _free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None
        self.start_seconds: float | None = None

    @property
    def classpath(self) -> str:
        return str(self.libs / "*")

    def properties(self) -> str:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.dir / "data"),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
        }
        props.update(self.settings)
        return "# written by tests/interop/kafka_ref.py\n" + "".join(f"{k}={v}\n" for k, v in props.items())

    def _java_cmd(self, main: str, *args: str, heap: str = "-Xmx512M") -> list[str]:
        return [_java(), *heap.split(), *JVM_OPTS,
                f"-Dlog4j2.configurationFile={self.dir / 'log4j2.xml'}",
                "-cp", self.classpath, main, *args]

    def start(self, timeout: float = START_TIMEOUT_S) -> "KafkaRef":
        t0 = time.monotonic()
        cfg = self.dir / "server.properties"
        cfg.write_text(self.properties())
        (self.dir / "log4j2.xml").write_text(LOG4J2_XML.format(log=self.dir / "server.log"))
        tool = "kafka.tools.StorageTool"
        cluster_id = subprocess.run(self._java_cmd(tool, "random-uuid", heap="-Xmx256M"), check=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True).stdout.strip()
        fmt = subprocess.run(self._java_cmd(tool, "format", "--standalone", "--cluster-id", cluster_id,
                                            "--config", str(cfg), heap="-Xmx256M"),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if fmt.returncode != 0:
            raise RuntimeError(f"StorageTool format failed ({fmt.returncode}):\n{fmt.stdout}")
        out = open(self.dir / "kafka.out", "wb")
        self.proc = subprocess.Popen(self._java_cmd("kafka.Kafka", str(cfg), heap=self.heap_opts),
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        out.close()
        self.pid = self.proc.pid
        (self.dir / "kafka.pid").write_text(f"{self.pid}\n")
        self.wait_ready(timeout - (time.monotonic() - t0))
        self.start_seconds = time.monotonic() - t0
        (self.dir / "bootstrap").write_text(self.bootstrap + "\n")
        return self

    def wait_ready(self, timeout: float) -> None:
        """Until ApiVersions answers and Metadata lists this broker (node 1)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"kafka exited during start-up with {self.proc.returncode}\n{self.logs()}")
            try:
                with kr.connection(self.port, timeout=2.0) as s:
                    av = kr.api_versions(s, 0)
                    if av["error_code"] == 0:
                        md = kr.metadata_v1(s, [])
                        if any(b["node_id"] == 1 for b in md["brokers"]):
                            return
            except (OSError, EOFError, AssertionError) as e:
                last = e
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"kafka did not become ready within {timeout:.0f}s (last: {last})\n{self.logs()}")

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.pid is not None and _pid_alive(self.pid)

    def rss_kib(self) -> int | None:
        return rss_kib(self.pid) if self.pid else None

    def signal_stop(self) -> None:
        """Send SIGTERM without waiting (stop() then waits)."""
        if self.pid is not None and self.alive():
            os.kill(self.pid, signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> None:
        if self.pid is None:
            return
        _stop_pid(self.pid, timeout, self.proc)

    def logs(self, tail_bytes: int = 20000) -> str:
        out = []
        for name in ("kafka.out", "server.log"):
            p = self.dir / name
            try:
                data = p.read_bytes()
            except OSError:
                continue
            if len(data) > tail_bytes:
                data = b"...(truncated)...\n" + data[-tail_bytes:]
            out.append(f"--- {p} ---\n{data.decode('utf-8', 'replace')}")
        return "\n".join(out)


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _stop_pid(pid: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return
        elif not _pid_alive(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait()


def _settings(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep:
            raise SystemExit(f"--set wants key=value, got {p!r}")
        out[k] = v
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kafka-ref", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_inst = sub.add_parser("install", help="resolve the Kafka jars into the cache")
    p_inst.add_argument("--version")
    for name, help_ in (("start", "start in the background, print the bootstrap address"),
                        ("run", "start and stay in the foreground until interrupted")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--dir", help="working dir (config, data, logs); default a new temp dir")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
        p.add_argument("--version")
    p_stop = sub.add_parser("stop", help="stop the broker started with `start --dir DIR`")
    p_stop.add_argument("--dir", required=True)
    p_cp = sub.add_parser("classpath", help="print the classpath (for running Kafka's tools)")
    p_cp.add_argument("--version")
    a = ap.parse_args(argv)

    if a.cmd == "install":
        v, libs = install(a.version)
        print(f"{v} {libs}")
        return 0
    if a.cmd == "classpath":
        _, libs = install(a.version, quiet=True)
        print(libs / "*")
        return 0
    if a.cmd == "stop":
        d = Path(a.dir)
        pid = int((d / "kafka.pid").read_text())
        _stop_pid(pid, 30.0)
        print(f"stopped kafka pid {pid}", file=sys.stderr)
        return 0
    k = KafkaRef(Path(a.dir) if a.dir else None, _settings(a.set), a.version)
    if a.cmd == "start":
        k.start()
        print(f"kafka {k.version} ready in {k.start_seconds:.1f}s, pid {k.pid}, dir {k.dir}", file=sys.stderr)
        print(k.bootstrap)
        return 0
    k.start()
    print(f"kafka {k.version} ready in {k.start_seconds:.1f}s at {k.bootstrap} (dir {k.dir}); Ctrl-C stops it",
          file=sys.stderr)
    print(k.bootstrap, flush=True)
    try:
        k.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        k.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
