"""Fixtures that run the broker under test: a `runnel` subprocess per test, or real Kafka.

`broker` gives a broker with default settings; `broker_factory(settings)` starts
one with extra `--set key=value` options. Each handle exposes `kind` ("runnel" or
"kafka"), `bootstrap`, `port`, `data_dir`, `kill9()`, `terminate()`, `start()` and
`restart()` (same data dir and port). On teardown the fixture asserts the broker
did not exit on its own, then stops it with SIGTERM. Broker stderr is attached to
the report of any failing test.

`--broker kafka` (or RUNNEL_TEST_BROKER=kafka) runs the same tests against a real
Apache Kafka 4.x (tests/interop/kafka_ref.py), to show that each test is right:

- ONE Kafka per session, shared by every test (so tests use unique topic and group names).
- `broker_factory(settings)` compares each setting with the shared Kafka's current broker
  config. A dynamic one (e.g. message.max.bytes) is set on broker 1 with
  IncrementalAlterConfigs for the test and deleted again afterwards. A static one
  (read-only in DescribeConfigs, e.g. auto.create.topics.enable=false) is served by one
  more Kafka started with it, once per distinct set of static settings per session.
- Tests marked `@pytest.mark.runnel_only(reason)` (a Runnel process's start-up flags,
  kill -9/restart of the broker, Runnel's own config handling) are skipped with the reason.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


def runnel_bin() -> str:
    path = os.environ.get("RUNNEL_BIN") or str(REPO_ROOT / "target" / "release" / "runnel")
    if not os.path.isabs(path):
        path = str(REPO_ROOT / path)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def pytest_addoption(parser):
    parser.addoption("--broker", choices=["runnel", "kafka"],
                     default=os.environ.get("RUNNEL_TEST_BROKER") or "runnel",
                     help="broker under test: a runnel process per test (default) or one real Kafka "
                          "per session (env RUNNEL_TEST_BROKER)")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "runnel_only(reason): needs a Runnel process (start-up flags, kill -9 or restart of "
                   "the broker, Runnel's own behaviour); skipped with --broker kafka")
    config.addinivalue_line(
        "markers", "runnel_diverges(reason, crashes=False): the test expects Kafka's answer, which Runnel "
                   "does not give yet: a strict xfail on Runnel (skipped if crashes=True), must pass on Kafka")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--broker") != "kafka":
        for item in items:
            m = item.get_closest_marker("runnel_diverges")
            if m is None:
                continue
            why = m.args[0] if m.args else m.kwargs.get("reason", "Runnel answers differently from Kafka")
            if m.kwargs.get("crashes"):
                item.add_marker(pytest.mark.skip(reason=f"aborts the Runnel process today: {why}"))
            else:
                item.add_marker(pytest.mark.xfail(strict=True, reason=f"Runnel diverges from Kafka: {why}"))
        return
    for item in items:
        m = item.get_closest_marker("runnel_only")
        if m is not None:
            why = m.args[0] if m.args else m.kwargs.get("reason", "needs a Runnel process")
            item.add_marker(pytest.mark.skip(reason=f"runnel only: {why}"))


def pytest_report_header(config):
    kind = config.getoption("--broker")
    return f"broker under test: {kind}" + (f" (RUNNEL_BIN={runnel_bin()})" if kind == "runnel" else "")


@pytest.fixture(scope="session")
def broker_kind(pytestconfig) -> str:
    return pytestconfig.getoption("--broker")


class Broker:
    kind = "runnel"

    def __init__(self, data_dir: Path, settings: dict[str, str] | None = None, via_config_file: bool = False):
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.settings = dict(settings or {})
        self.proc: subprocess.Popen | None = None
        self.generation = 0
        self.log_paths: list[Path] = []
        self.stopped_by_test = False
        self.via_config_file = via_config_file

    # -- lifecycle -----------------------------------------------------------
    def command(self) -> list[str]:
        if self.via_config_file:
            path = self.data_dir.parent / f"server-{self.port}.properties"
            lines = ["# written by the interop tests", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
                     f"log.dirs={self.data_dir}"] + [f"{k}={v}" for k, v in self.settings.items()]
            path.write_text("\n".join(lines) + "\n")
            return [runnel_bin(), "serve", "--config", str(path)]
        cmd = [
            runnel_bin(), "serve",
            "--set", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "--set", f"log.dirs={self.data_dir}",
        ]
        for k, v in self.settings.items():
            cmd += ["--set", f"{k}={v}"]
        return cmd

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self.generation += 1
        log_path = self.data_dir.parent / f"broker-{self.port}-{self.generation}.stderr"
        self.log_paths.append(log_path)
        self._log = open(log_path, "wb")
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        self.proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, env=env,
        )
        self.stopped_by_test = False
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise AssertionError(
                    f"broker exited during startup with code {rc}\n{self.logs()}")
            if port_open(self.port):
                return
            time.sleep(0.05)
        self.kill9()
        raise AssertionError(f"broker did not accept connections within {START_TIMEOUT_S}s\n{self.logs()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL the broker and wait until it is gone."""
        assert self.proc is not None
        self.stopped_by_test = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT_S)
        self._log.close()

    def terminate(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM the broker and return its exit code (kill -9 and fail if it hangs)."""
        assert self.proc is not None
        self.stopped_by_test = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._log.close()
            raise AssertionError(f"broker did not exit within {timeout}s of SIGTERM\n{self.logs()}")
        self._log.close()
        return rc

    def restart(self, hard: bool = False) -> None:
        """Stop (SIGTERM, or SIGKILL when hard=True) and start on the same dir and port."""
        if self.alive():
            if hard:
                self.kill9()
            else:
                self.terminate()
        self.start()

    def logs(self, tail_bytes: int = 20000) -> str:
        out = []
        for p in self.log_paths:
            try:
                data = p.read_bytes()
            except OSError:
                continue
            if len(data) > tail_bytes:
                data = b"...(truncated)...\n" + data[-tail_bytes:]
            out.append(f"--- {p.name} ---\n{data.decode('utf-8', 'replace')}")
        return "\n".join(out)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for b in getattr(item, "_runnel_brokers", []):
            rep.sections.append((f"runnel broker {b.bootstrap} stderr", b.logs()))


@pytest.fixture
def broker_factory(request, tmp_path, broker_kind):
    if broker_kind == "kafka":
        yield from _kafka_broker_factory(request)
        return
    started: list[Broker] = []
    request.node._runnel_brokers = started

    def make(settings: dict[str, str] | None = None, via_config_file: bool = False) -> Broker:
        b = Broker(tmp_path / f"data-{len(started)}", settings, via_config_file)
        started.append(b)
        b.start()
        return b

    yield make

    problems = []
    for b in started:
        if b.proc is None:
            continue
        rc = b.proc.poll()
        if rc is not None and not b.stopped_by_test:
            problems.append(f"broker {b.bootstrap} exited on its own with code {rc}")
            continue
        if rc is None:
            try:
                b.terminate()
            except AssertionError as e:
                problems.append(str(e).splitlines()[0])
    if problems:
        pytest.fail("; ".join(problems) + "\n" + "\n".join(b.logs() for b in started), pytrace=False)


@pytest.fixture
def broker(broker_factory) -> Broker:
    return broker_factory()


@pytest.fixture(scope="session", autouse=True)
def _binary_exists():
    # Against Kafka too: several tests use Runnel's own client (the `runnel` tool, group_member).
    path = runnel_bin()
    assert os.path.isfile(path) and os.access(path, os.X_OK), (
        f"runnel binary not found at {path}: build it (cargo build --release) or set RUNNEL_BIN")


# --------------------------------------------------------------------------- real Kafka
class KafkaBroker:
    """A test's handle on a shared Kafka (kafka_ref.KafkaRef): same attributes as Broker, but the
    process belongs to the session, so the tests cannot stop or restart it."""
    kind = "kafka"

    def __init__(self, ref):
        self.ref = ref
        self.port = ref.port
        self.bootstrap = ref.bootstrap
        self.data_dir = ref.dir / "data"
        self.settings: dict[str, str] = {}

    def alive(self) -> bool:
        return self.ref.alive()

    def logs(self, tail_bytes: int = 20000) -> str:
        return self.ref.logs(tail_bytes)

    def _shared(self, *_a, **_k):
        raise AssertionError("the Kafka broker is shared by the session and cannot be stopped or "
                             "restarted by a test: mark the test @pytest.mark.runnel_only(reason)")

    kill9 = terminate = start = restart = _shared


class _KafkaPool:
    """The session's Kafka brokers: the shared one, plus one per distinct set of static settings."""

    def __init__(self, root: Path):
        self.root = root
        self.refs: dict[tuple, object] = {}
        self.start_seconds: dict[tuple, float] = {}

    def get(self, static: dict[str, str]):
        key = tuple(sorted(static.items()))
        ref = self.refs.get(key)
        if ref is None:
            import kafka_ref
            # the extra brokers serve a test or two each: a smaller heap than the shared one
            ref = kafka_ref.KafkaRef(self.root / f"kafka-{len(self.refs)}", settings=static,
                                     heap_opts="-Xmx512M -Xms256M" if static else None)
            ref.start()
            self.refs[key] = ref
            self.start_seconds[key] = ref.start_seconds
        assert ref.alive(), f"the session's Kafka {ref.bootstrap} died\n{ref.logs()}"
        return ref

    def stop(self) -> None:
        for ref in self.refs.values():  # SIGTERM all first: each takes seconds to shut down
            ref.signal_stop()
        for ref in self.refs.values():
            ref.stop()


_POOLS: list[_KafkaPool] = []


@pytest.fixture(scope="session")
def kafka_pool(tmp_path_factory, broker_kind):
    assert broker_kind == "kafka"
    pool = _KafkaPool(tmp_path_factory.mktemp("kafka"))
    _POOLS.append(pool)
    pool.get({})  # the shared broker starts with the session, not inside the first test's timeout
    yield pool
    pool.stop()


def pytest_terminal_summary(terminalreporter):
    for pool in _POOLS:
        for key, secs in pool.start_seconds.items():
            ref = pool.refs[key]
            what = ", ".join(f"{k}={v}" for k, v in key) or "shared"
            terminalreporter.write_line(f"Kafka {ref.version} ({what}) was ready in {secs:.1f}s")


def _describe_broker(bootstrap: str) -> dict:
    from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
    a = AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})
    r = ConfigResource(ResourceType.BROKER, "1")
    return a.describe_configs([r], request_timeout=15)[r].result(timeout=20)


def _alter_broker(bootstrap: str, key: str, value: str | None) -> None:
    """SET (value) or DELETE (None) a dynamic config of broker 1 and wait until it is in force."""
    from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource,
                                       ConfigSource, ResourceType)
    a = AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})
    op = AlterConfigOpType.SET if value is not None else AlterConfigOpType.DELETE
    r = ConfigResource(ResourceType.BROKER, "1",
                       incremental_configs=[ConfigEntry(key, value or "", incremental_operation=op)])
    a.incremental_alter_configs([r], request_timeout=15)[r].result(timeout=20)
    deadline = time.monotonic() + 15
    while True:
        e = _describe_broker(bootstrap).get(key)
        dynamic = e is not None and ConfigSource(e.source) == ConfigSource.DYNAMIC_BROKER_CONFIG
        if (value is not None and dynamic and e.value == value) or (value is None and not dynamic):
            return
        assert time.monotonic() < deadline, f"broker config {key} not in force: {e}"
        time.sleep(0.1)


def _kafka_broker_factory(request):
    pool = request.getfixturevalue("kafka_pool")
    handles: list[KafkaBroker] = []
    altered: list[tuple[str, str]] = []  # (bootstrap, key) to delete afterwards
    request.node._runnel_brokers = handles

    def make(settings: dict[str, str] | None = None, via_config_file: bool = False) -> KafkaBroker:
        settings = dict(settings or {})
        shared = pool.get({})
        current = _describe_broker(shared.bootstrap) if settings else {}
        static, dynamic = {}, {}
        for k, v in settings.items():
            e = current.get(k)
            if e is not None and e.value == v:
                continue
            if e is None or e.is_read_only:
                static[k] = v
            else:
                dynamic[k] = v
        ref = pool.get(static) if static else shared
        for k, v in dynamic.items():
            _alter_broker(ref.bootstrap, k, v)
            altered.append((ref.bootstrap, k))
        h = KafkaBroker(ref)
        h.settings = settings
        handles.append(h)
        return h

    yield make

    problems = [f"Kafka {h.bootstrap} died" for h in handles if not h.alive()]
    for bootstrap, k in reversed(altered):
        try:
            _alter_broker(bootstrap, k, None)
        except Exception as e:  # noqa: BLE001 - report, do not hide the test's own outcome
            problems.append(f"could not restore broker config {k} on {bootstrap}: {e}")
    if problems:
        pytest.fail("; ".join(problems) + "\n" + "\n".join(h.logs() for h in handles), pytrace=False)
