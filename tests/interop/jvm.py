"""Kafka's own tools, the Java client driver (tests/interop/java) and the Go drivers
(tests/interop/go) for the interop tests: installed, compiled and run from one place.

- Kafka's jars come from kafka_ref.install() (Maven Central, cached in .cache/kafka-ref).
- The Java driver is compiled with `javac` against those jars into .cache/java-driver, once:
  a stamp holds a hash of the sources and the Kafka version, so later sessions reuse it.
- The Go drivers are built with `go build` into .cache/go/bin, modules in .cache/go/mod
  (GOMODCACHE) and the build cache in .cache/go/build, rebuilt only when a source changes.
`python jvm.py install` does all three (scripts/test.sh runs it).

Every JVM runs with C1 only and a small heap: these are short client processes, and start-up
(about 1 s each on this machine) is most of their cost. For the same reason the first tool run
of a session dumps the classes it loaded into a CDS archive (.cache/kafka-<version>.jsa) that
every later JVM maps instead of loading those classes again (about 0.5 s less CPU each); a
stale archive (another JDK) is ignored by the JVM.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import kafka_ref  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
CACHE = REPO_ROOT / ".cache"
JAVA_SRC = HERE / "java"
GO_SRC = HERE / "go"
GO_PROGRAMS = ("franz", "sarama")
# JVM log output (CDS notices) goes to stderr, errors only: tools' stdout stays theirs alone.
JVM_OPTS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xss1m", "-Xmx512M", "-Xlog:disable",
            "-Xlog:all=error:stderr"]

# Kafka's bin/ scripts run the tools with config/tools-log4j2.yaml: warnings and errors to stderr.
TOOLS_LOG4J2 = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="warn">
  <Appenders><Console name="stderr" target="SYSTEM_ERR"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console></Appenders>
  <Loggers><Root level="WARN"><AppenderRef ref="stderr"/></Root></Loggers>
</Configuration>
"""


@contextmanager
def _locked(name: str):
    """Serialise installs between concurrent test processes sharing one .cache."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _digest(paths: list[Path], extra: str = "") -> str:
    h = hashlib.sha256(extra.encode())
    for p in sorted(paths):
        h.update(str(p.relative_to(HERE)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _java_bin(name: str) -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home) / "bin" / name) if home else name


_libs: Path | None = None


def kafka_libs() -> Path:
    global _libs
    if _libs is None:
        _, _libs = kafka_ref.install(quiet=True)
    return _libs


def log4j_config() -> Path:
    path = CACHE / "interop-tools-log4j2.xml"
    if not path.exists() or path.read_text() != TOOLS_LOG4J2:
        CACHE.mkdir(parents=True, exist_ok=True)
        path.write_text(TOOLS_LOG4J2)
    return path


_archive_lock = threading.Lock()
_archive_dumping = False


def _archive() -> Path:
    """Named after the Kafka version and the driver build: the JVM refuses an archive whose
    classpath entries changed since it was dumped (and the driver's directory is on it)."""
    driver_classes()
    stamp = (CACHE / "java-driver" / ".stamp").read_text()[:12]
    return CACHE / f"kafka-{kafka_libs().parent.name}-{stamp}.jsa"


def _cds_opts(may_dump: bool) -> list[str]:
    """Map the class archive if there is one; else let this one JVM (a run_tool) write it."""
    global _archive_dumping
    path = _archive()
    if path.exists():
        return [f"-XX:SharedArchiveFile={path}"]
    with _archive_lock:
        if not may_dump or _archive_dumping:
            return []
        _archive_dumping = True
    return [f"-XX:ArchiveClassesAtExit={path}.{os.getpid()}.tmp"]


def java_cmd(main: str, *args: str, may_dump: bool = False) -> list[str]:
    # One classpath for the tools and the Java driver (its classes are in the default package,
    # beside nothing of Kafka's), so that one class archive serves both: CDS maps an archive
    # only into a JVM whose classpath starts with the one it was dumped with.
    cp = f"{kafka_libs() / '*'}{os.pathsep}{driver_classes()}"
    return [_java_bin("java"), *JVM_OPTS, *_cds_opts(may_dump), f"-Dlog4j2.configurationFile={log4j_config()}",
            "-cp", cp, main, *args]


def run_tool(cls: str, *args: str, input: str | None = None, timeout: float = 90.0) -> subprocess.CompletedProcess:
    """One of Kafka's tools (e.g. org.apache.kafka.tools.TopicCommand), as its bin/ script runs it."""
    return _run_java(java_cmd(cls, *args, may_dump=True), input, timeout)


def _run_java(cmd: list[str], input: str | None, timeout: float) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    dumped = next((Path(a.split("=", 1)[1]) for a in cmd if a.startswith("-XX:ArchiveClassesAtExit=")), None)
    if dumped is not None and dumped.exists():
        dumped.replace(_archive())  # whole, or not at all, for the JVMs that map it
        for old in CACHE.glob("kafka-*.jsa"):
            if old != _archive():
                old.unlink(missing_ok=True)
    return r


# --------------------------------------------------------------------------- Java driver
def driver_classes() -> Path:
    """The compiled Java driver as a jar, built now if its sources or Kafka's version changed.

    A jar, not a directory of classes: a JVM that loaded classes from a directory on its
    classpath cannot dump the class archive at exit (`-XX:ArchiveClassesAtExit` fails with
    "non-empty directory" and the JVM exits 1), so a driver run that happened to be the
    session's first JVM failed."""
    sources = sorted(JAVA_SRC.glob("*.java"))
    libs = kafka_libs()
    stamp_value = _digest(sources, extra=str(libs))
    out = CACHE / "java-driver"
    stamp = out / ".stamp"
    jar = out / "driver.jar"
    with _locked("java-driver"):
        if stamp.exists() and stamp.read_text() == stamp_value and jar.exists():
            return jar
        shutil.rmtree(out, ignore_errors=True)
        (out / "classes").mkdir(parents=True)
        r = subprocess.run([_java_bin("javac"), "-nowarn", "-d", str(out / "classes"), "-cp", str(libs / "*"),
                            *map(str, sources)], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"javac failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        r = subprocess.run([_java_bin("jar"), "--create", "--file", str(jar), "-C", str(out / "classes"), "."],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"jar failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        stamp.write_text(stamp_value)
    return jar


def driver_cmd(*args: str, may_dump: bool = False) -> list[str]:
    return java_cmd("Driver", *args, may_dump=may_dump)


def run_json(cmd: list[str], timeout: float = 120.0, input: str | None = None) -> tuple[int, list[dict], str]:
    """Run a driver to completion: (exit code, its JSON lines, stderr)."""
    r = _run_java(cmd, input, timeout)
    lines = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    return r.returncode, lines, r.stderr


def run_driver(*args: str, timeout: float = 120.0) -> list[dict]:
    rc, lines, err = run_json(driver_cmd(*args, may_dump=True), timeout)
    assert rc == 0, f"java driver {args[0]} exited {rc}\n{err[-4000:]}"
    return lines


# --------------------------------------------------------------------------- Go drivers
def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOMODCACHE=str(CACHE / "go" / "mod"), GOCACHE=str(CACHE / "go" / "build"),
               GOFLAGS="-mod=readonly -buildvcs=false")
    return env


def go_bin(name: str) -> Path:
    """A Go driver binary (franz, sarama), built now if any Go source changed."""
    assert name in GO_PROGRAMS, name
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None)
    assert go, "the Go toolchain (`go`) is needed for the Go client tests"
    sources = sorted([*GO_SRC.rglob("*.go"), GO_SRC / "go.mod", GO_SRC / "go.sum"])
    stamp_value = _digest(sources)
    out = CACHE / "go" / "bin"
    stamp = out / ".stamp"
    with _locked("go-bin"):
        if not (stamp.exists() and stamp.read_text() == stamp_value
                and all((out / p).exists() for p in GO_PROGRAMS)):
            out.mkdir(parents=True, exist_ok=True)
            r = subprocess.run([go, "build", "-o", str(out) + "/", *[f"./{p}" for p in GO_PROGRAMS]],
                               cwd=GO_SRC, env=go_env(), capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"go build failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
            stamp.write_text(stamp_value)
    return out / name


# --------------------------------------------------------------------------- group members
class JsonMember:
    """A group member process that prints JSON lines: {"assigned": [[topic, partition], ...]}
    (its full current set) and {"record": {...}}; stdin "close" makes it leave and exit. The Java
    driver's `member`, franz `group` and sarama `group` all speak this."""

    def __init__(self, cmd: list[str], name: str):
        self.name = name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.events: list[dict] = []
        self.assigned: set[tuple[str, int]] = set()
        self.records: list[dict] = []
        self.stderr: list[str] = []
        self._lock = threading.Lock()
        self._changed = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            if not line.startswith("{"):
                continue
            ev = json.loads(line)
            with self._lock:
                self.events.append(ev)
                if "assigned" in ev:
                    self.assigned = {(t, p) for t, p in ev["assigned"]}
                if "record" in ev:
                    self.records.append(ev["record"])

    def _read_err(self):
        for line in self.proc.stderr:
            with self._lock:
                self.stderr.append(line)
                del self.stderr[:-200]

    def owned(self) -> set[tuple[str, int]]:
        with self._lock:
            return set(self.assigned)

    def consumed(self) -> list[dict]:
        with self._lock:
            return list(self.records)

    def history(self) -> list[dict]:
        with self._lock:
            return list(self.events)

    def errors(self) -> str:
        with self._lock:
            return "".join(self.stderr[-40:])

    def close(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("close\n")
                self.proc.stdin.flush()
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def java_member(bootstrap: str, group: str, topic: str, assignor: str, **props: str) -> JsonMember:
    args = [f"{k}={v}" for k, v in props.items()]
    return JsonMember(driver_cmd("member", bootstrap, group, topic, assignor, *args), f"java-{assignor}")


def franz_member(bootstrap: str, group: str, topic: str, balancer: str = "cooperative-sticky") -> JsonMember:
    return JsonMember([str(go_bin("franz")), "group", bootstrap, group, topic, balancer], f"franz-{balancer}")


def sarama_member(bootstrap: str, group: str, topic: str, strategy: str = "range") -> JsonMember:
    return JsonMember([str(go_bin("sarama")), "group", bootstrap, group, topic, strategy], f"sarama-{strategy}")


def wait_until(cond, timeout: float, what) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")


def install() -> None:
    kafka_libs()
    log4j_config()
    print(f"java driver: {driver_classes()}")
    for p in GO_PROGRAMS:
        print(f"go driver: {go_bin(p)}")


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        sys.exit("usage: jvm.py install")
    install()
