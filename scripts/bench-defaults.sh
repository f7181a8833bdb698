#!/usr/bin/env bash
# Producers with their default configurations, and tuned, on one fresh Runnel broker per round:
#   runnel/default     `runnel perf produce` with no producer settings: acks=all, idempotence
#                      on, 5 in flight, batch.size=16384, linger.ms=5 (the Java client's defaults)
#   runnel/no-idem     the same with enable.idempotence=false
#   runnel/tuned       batch.size=1000000, max.request.size=10485760, buffer.memory=1 GiB
#                      (acks=all, idempotence on)
#   librdkafka/default tools/loadgen --acks all: librdkafka's defaults (acks=all, idempotence
#                      off, batch.size=1000000, linger.ms=5); loadgen raises the queue to 1 GiB
#   java/default       Kafka's ProducerPerformance with no producer settings (the same defaults
#                      as runnel/default)
#   java/tuned         ProducerPerformance with runnel/tuned's settings
# Each round starts a fresh broker and data directory, runs every client once on its own
# topic, rotating which goes first, and deletes each topic after its run. Prints one line per
# run with the 1-minute load average (other builds on the machine skew the figures).
#   [SIZES="100 1024"] [PARTS="1 6"] [CLIENTS="..."] scripts/bench-defaults.sh [parent] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
PARENT=${1:-/dev/shm}
ROUNDS=${2:-2}
R=target/release/runnel
L=tools/loadgen/target/release/loadgen
[ -x $R ] || cargo build --release -p runnel >/dev/null
[ -x $L ] || (cd tools/loadgen && cargo build --release >/dev/null)
KLIBS=.cache/kafka-ref/4.4.0/libs
LOG4J=.cache/interop-tools-log4j2.xml
PORT=${BENCH_PORT:-19097}
B=127.0.0.1:$PORT
CLIENTS=${CLIENTS:-"runnel/default runnel/no-idem runnel/tuned librdkafka/default java/default java/tuned"}
TUNED=(batch.size=1000000 max.request.size=10485760 buffer.memory=1073741824)

# run CLIENT TOPIC N SIZE: prints MiB/s (as ProducerPerformance counts MB: 2^20 bytes).
run() {
  local client=$1 topic=$2 n=$3 size=$4 out
  case $client in
    runnel/*)
      local props=()
      case $client in
        runnel/no-idem) props=(--producer-property enable.idempotence=false) ;;
        runnel/tuned) for kv in "${TUNED[@]}"; do props+=(--producer-property "$kv"); done ;;
      esac
      out=$($R --bootstrap-server $B perf produce --topic "$topic" --num-records "$n" \
        --record-size "$size" --json ${props[@]+"${props[@]}"})
      python3 -c "import json,sys; print(round(json.loads(sys.argv[1])['mb_per_sec'], 1))" "$out" ;;
    librdkafka/default)
      out=$($L produce --bootstrap $B --topic "$topic" --records "$n" --size "$size" --acks all \
        --partitions "$parts")
      echo "$out" | grep -o '= [0-9]* records/s' | awk -v s="$size" '{printf "%.1f\n", $2 * s / 1048576}' ;;
    java/*)
      local props=(bootstrap.servers=$B)
      [ $client = java/tuned ] && props+=("${TUNED[@]}")
      out=$(java -Dlog4j2.configurationFile=$LOG4J -cp "$KLIBS/*" \
        org.apache.kafka.tools.ProducerPerformance --topic "$topic" --num-records "$n" \
        --record-size "$size" --throughput -1 --producer-props "${props[@]}" | tail -1)
      echo "$out" | grep -o '(\([0-9.]*\) MB/sec)' | tr -d '(' | awk '{print $1}' ;;
  esac
}

read -ra ALL <<<"$CLIENTS"
echo "build $(git rev-parse --short HEAD)$(git diff --quiet || echo -dirty), $(nproc) cores"
for size in ${SIZES:-100 1024}; do
  if [ "$size" = 100 ]; then n=1000000; else n=200000; fi
  for parts in ${PARTS:-1 6}; do
    for round in $(seq "$ROUNDS"); do
      DATA=$(mktemp -d "$PARENT/runnel-bench.XXXXXX")
      $R serve --set listeners=PLAINTEXT://$B --set log.dirs="$DATA/data" 2>"$DATA/broker.log" &
      BROKER=$!
      trap 'kill $BROKER 2>/dev/null; wait $BROKER 2>/dev/null; rm -rf "$DATA"' EXIT
      until $R --bootstrap-server $B cluster describe >/dev/null 2>&1; do sleep 0.2; done
      k=${#ALL[@]}
      for i in $(seq 0 $((k - 1))); do
        client=${ALL[$(((i + round - 1) % k))]}
        topic="b-${client//\//-}-$size-$parts-$round"
        $R --bootstrap-server $B topic create "$topic" --partitions "$parts" >/dev/null
        mb=$(run "$client" "$topic" "$n" "$size" || echo failed)
        echo "size=$size partitions=$parts round=$round order=$((i + 1)) $client: $mb MiB/s (load $(cut -d' ' -f1 /proc/loadavg))"
        $R --bootstrap-server $B topic delete "$topic" >/dev/null
      done
      kill $BROKER; wait $BROKER 2>/dev/null || true
      rm -rf "$DATA"
      trap - EXIT
    done
  done
done
