#!/usr/bin/env bash
# Produce latency while 1,000 idle connections and 600 long polls parked on an idle topic are
# open, beside runs without them (docs/benchmarks.md, "Slow and waiting clients").
#   scripts/bench-slow-clients.sh [records] [records_per_sec] [rounds]
# RUNNEL_BIN picks the broker binary (default: build target/release/runnel); the perf client
# is always target/release/runnel.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300000}
RATE=${2:-50000}
ROUNDS=${3:-2}
CLIENT=target/release/runnel
[ -n "${RUNNEL_BIN:-}" ] || cargo build --release -p runnel >/dev/null
BROKER_BIN=${RUNNEL_BIN:-$CLIENT}
DATA=$(mktemp -d)
PORT=${BENCH_PORT:-19098}
"$BROKER_BIN" serve --set listeners=PLAINTEXT://127.0.0.1:$PORT --set log.dirs="$DATA/data" \
  2>"$DATA/broker.log" &
BROKER=$!
LOAD=
trap '[ -n "$LOAD" ] && kill $LOAD 2>/dev/null; kill $BROKER 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
"$CLIENT" --bootstrap-server 127.0.0.1:$PORT topic create idle >/dev/null
"$CLIENT" --bootstrap-server 127.0.0.1:$PORT topic create perf >/dev/null
perf() {
  "$CLIENT" perf produce --bootstrap-server 127.0.0.1:$PORT --topic perf --num-records "$N" \
    --record-size 1024 --throughput "$RATE" --acks 1 | tail -1
}
sockets() { ls -l /proc/$BROKER/fd | grep -c 'socket:'; }
BASE_SOCKETS=$(sockets)
for r in $(seq "$ROUNDS"); do
  # A parked poll notices its client is gone only when it is answered (max wait 30 s).
  until [ "$(sockets)" -le "$BASE_SOCKETS" ]; do sleep 0.5; done
  echo "round $r unloaded: $(perf)"
  python3 scripts/slow_clients.py $PORT idle 1000 600 >"$DATA/load.log" 2>&1 &
  LOAD=$!
  until grep -q ready "$DATA/load.log"; do
    kill -0 $LOAD 2>/dev/null || { cat "$DATA/load.log"; exit 1; }
    sleep 0.1
  done
  echo "round $r loaded: $(perf)"
  echo "  broker: $(sockets) sockets, $(grep -E 'VmRSS|RssAnon' /proc/$BROKER/status | tr -s ' \t\n' ' ')"
  kill $LOAD; wait $LOAD || true
  echo "  $(tail -1 "$DATA/load.log")"
  LOAD=
done
