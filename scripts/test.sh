#!/usr/bin/env bash
# The project's one test command: builds the workspace, runs the Rust tests,
# then the Python interop suite (tests/interop) against the release binary.
# Extra arguments are passed through to pytest, e.g. scripts/test.sh -k kcat -x
# RUNNEL_INTEROP_KAFKA=1 also runs the interop suite against a real Kafka (scripts/test-kafka.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

echo "==> cargo build --release --workspace"
cargo build --release --workspace
# The Runnel group member the interop tests put in groups with librdkafka members.
cargo build --release -p runnel-client --example group_member

echo "==> cargo test --release --workspace"
cargo test --release --workspace

# Coverage-guided fuzzing (fuzz/, its own workspace): every target for a bounded time from its
# committed seeds; a crash, panic or over-allocation fails the run. See docs/fuzzing.md.
echo "==> scripts/fuzz.sh ${FUZZ_SECONDS_EACH:-60}"
scripts/fuzz.sh "${FUZZ_SECONDS_EACH:-60}"

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

export RUNNEL_BIN="${RUNNEL_BIN:-$ROOT/target/release/runnel}"
echo "==> pytest tests/interop (RUNNEL_BIN=$RUNNEL_BIN)"
if [ "${RUNNEL_INTEROP_KAFKA:-0}" = "1" ]; then
    # Opt-in: the same suite against a real Kafka afterwards (scripts/test-kafka.sh).
    rc=0
    "$VENV/bin/python" -m pytest -q tests/interop "$@" || rc=$?
    RUNNEL_SKIP_BUILD=1 "$ROOT/scripts/test-kafka.sh" "$@" || rc=$((rc ? rc : $?))
    exit "$rc"
fi
exec "$VENV/bin/python" -m pytest -q tests/interop "$@"
