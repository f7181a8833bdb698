"""Fixtures that run a real `runnel` broker subprocess for each test.

`broker` gives a broker with default settings; `broker_factory(settings)` starts
one with extra `--set key=value` options. Each handle exposes `bootstrap`,
`port`, `data_dir`, `kill9()`, `terminate()`, `start()` and `restart()` (same
data dir and port). On teardown the fixture asserts the broker did not exit on
its own, then stops it with SIGTERM. Broker stderr is attached to the report of
any failing test.
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


class Broker:
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
def broker_factory(request, tmp_path):
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
    path = runnel_bin()
    assert os.path.isfile(path) and os.access(path, os.X_OK), (
        f"runnel binary not found at {path}: build it (cargo build --release) or set RUNNEL_BIN")
