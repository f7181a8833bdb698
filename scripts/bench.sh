#!/usr/bin/env bash
# Throughput matrix for docs/benchmarks.md: librdkafka (tools/loadgen) against a fresh Runnel
# broker on 127.0.0.1, client and broker sharing this machine's cores.
#   scripts/bench.sh [records_1k] [records_100b]
set -euo pipefail
cd "$(dirname "$0")/.."
N1K=${1:-1000000}
N100=${2:-5000000}
cargo build --release -p runnel >/dev/null
(cd tools/loadgen && cargo build --release >/dev/null)
L=tools/loadgen/target/release/loadgen
DATA=$(mktemp -d)
PORT=${BENCH_PORT:-19099}
target/release/runnel serve --set listeners=PLAINTEXT://127.0.0.1:$PORT --set log.dirs=$DATA \
  --set num.partitions=6 2>"$DATA/broker.log" &
BROKER=$!
trap 'kill $BROKER 2>/dev/null; wait $BROKER 2>/dev/null; rm -rf "$DATA"' EXIT
sleep 1
run() { echo "+ loadgen $*"; "$L" "$@" --bootstrap 127.0.0.1:$PORT; }
for acks in 1 all; do
  for parts in 1 6; do
    t="k1-a$acks-p$parts"; run produce --topic $t --records $N1K --size 1024 --acks $acks --partitions $parts
    run consume --topic $t --records $N1K --partitions $parts
    t="b100-a$acks-p$parts"; run produce --topic $t --records $N100 --size 100 --acks $acks --partitions $parts
    run consume --topic $t --records $N100 --partitions $parts
  done
done
echo "broker RSS after the run: $(grep VmRSS /proc/$BROKER/status)"
