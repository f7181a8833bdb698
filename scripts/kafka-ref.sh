#!/usr/bin/env bash
# A real single-node Apache Kafka 4.x (KRaft) from Maven Central jars, as the reference broker.
#   scripts/kafka-ref.sh install                       resolve jars into .cache/kafka-ref (once)
#   scripts/kafka-ref.sh start [--dir D] [--set k=v]   start in background; prints the bootstrap
#   scripts/kafka-ref.sh stop --dir D
#   scripts/kafka-ref.sh run [--set k=v]               foreground until Ctrl-C
#   scripts/kafka-ref.sh classpath                     for `java -cp "$(...)" org.apache.kafka.tools.X`
# See tests/interop/kafka_ref.py for the details (versions, config, readiness).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
exec "$PY" "$ROOT/tests/interop/kafka_ref.py" "$@"
