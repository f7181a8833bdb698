#!/usr/bin/env bash
# The interop suite (tests/interop) against a real Apache Kafka 4.x instead of Runnel, to show
# that every test is right: one Kafka per pytest session, started from Maven Central jars
# (scripts/kafka-ref.sh, cached in .cache/kafka-ref). Tests marked runnel_only are skipped.
# Needs Java 17+, Maven and Go. The runnel binary is still built: several tests drive Kafka with
# Runnel's own client (`runnel` tool, examples/group_member).
# Extra arguments go to pytest, e.g. scripts/test-kafka.sh -k admin -x
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ "${RUNNEL_SKIP_BUILD:-0}" != "1" ]; then
    echo "==> cargo build --release --workspace"
    cargo build --release --workspace
    cargo build --release -p runnel-client --example group_member
fi

VENV="tests/interop/.venv"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$VENV"
    echo "==> creating $VENV"
    "$PY" -m venv "$VENV"
fi
echo "==> pip install -r tests/interop/requirements.txt"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tests/interop/requirements.txt

if ! command -v kcat >/dev/null 2>&1; then
    echo "==> installing kcat"
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    if ! $SUDO apt-get install -y -q kcat; then
        $SUDO apt-get update -q
        $SUDO apt-get install -y -q kcat
    fi
fi

echo "==> Kafka jars, Java and Go drivers (tests/interop/jvm.py install)"
"$VENV/bin/python" tests/interop/jvm.py install

export RUNNEL_BIN="${RUNNEL_BIN:-$ROOT/target/release/runnel}"
echo "==> pytest tests/interop --broker kafka"
exec "$VENV/bin/python" -m pytest -q tests/interop --broker kafka "$@"
