#!/usr/bin/env bash
# Native producer (`runnel perf produce`) against librdkafka (tools/loadgen), back to back on
# one fresh broker, same record size, acks, batch.size, linger.ms, no compression, idempotence
# off on both (librdkafka's default), one partition. Prints each run and the ratios.
#   [SIZES="100 1024"] scripts/bench-producer.sh [data_dir_parent] [rounds]
# data_dir_parent defaults to a temporary directory on disk; /dev/shm takes the disk (and the
# kernel's dirty-page throttling) out, so that the clients are what is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
PARENT=${1:-${TMPDIR:-/tmp}}
ROUNDS=${2:-3}
cargo build --release -p runnel >/dev/null
(cd tools/loadgen && cargo build --release >/dev/null)
R=target/release/runnel
L=tools/loadgen/target/release/loadgen
DATA=$(mktemp -d "$PARENT/runnel-bench.XXXXXX")
PORT=${BENCH_PORT:-19098}
B=127.0.0.1:$PORT
$R serve --set listeners=PLAINTEXT://$B --set log.dirs="$DATA/data" --set num.partitions=1 \
  2>"$DATA/broker.log" &
BROKER=$!
trap 'kill $BROKER 2>/dev/null; wait $BROKER 2>/dev/null; rm -rf "$DATA"' EXIT
sleep 1

# cpu_s COMMAND...: runs it, prints its last output line, and leaves user+sys seconds in $CPU.
cpu_s() {
  local out
  out=$( { /usr/bin/time -f "CPU %U %S" "$@" 2>&1 1>&3 | grep '^CPU'; } 3>&1 )
  echo "$out" | grep -v '^CPU' | tail -1
  CPU=$(echo "$out" | awk '/^CPU/ {print $2 + $3}')
}

run_runnel() {
  cpu_s $R --bootstrap-server $B perf produce --topic "r$size-$round" --num-records $n --record-size $size \
    --acks 1 --batch-size 1000000 --linger-ms 5 --json \
    --producer-property enable.idempotence=false --producer-property buffer.memory=1073741824 \
    --producer-property max.request.size=10485760 >"$DATA/r.json"
  RCPU=$CPU
  RRPS=$(python3 -c "import json;print(round(json.load(open('$DATA/r.json'))['records_per_sec']))")
}

# librdkafka with the same settings (tools/loadgen: batch.size=1000000, linger.ms=5, 1 GiB queue).
run_librdkafka() {
  cpu_s $L produce --bootstrap $B --topic "l$size-$round" --records $n --size $size --acks 1 >"$DATA/l.txt"
  LCPU=$CPU
  LRPS=$(grep -o '= [0-9]* records/s' "$DATA/l.txt" | grep -o '[0-9]*')
}

for size in ${SIZES:-100 1024}; do
  if [ "$size" = 100 ]; then n=3000000; else n=1000000; fi
  for round in $(seq "$ROUNDS"); do
    for t in "r$size-$round" "l$size-$round"; do $R --bootstrap-server $B topic create "$t" --partitions 1 >/dev/null; done
    # Odd rounds run Runnel first, even rounds librdkafka first: neither always gets the
    # fresher page cache.
    if [ $((round % 2)) = 1 ]; then run_runnel; run_librdkafka; else run_librdkafka; run_runnel; fi
    # Drop both topics so the data directory (tmpfs: memory) does not fill up run by run.
    for t in "r$size-$round" "l$size-$round"; do $R --bootstrap-server $B topic delete "$t" >/dev/null; done
    python3 - "$size" "$n" "$RRPS" "$RCPU" "$LRPS" "$LCPU" <<'EOF'
import sys
size, n, rrps, rcpu, lrps, lcpu = sys.argv[1:]
size, n, rrps, rcpu, lrps, lcpu = int(size), int(n), float(rrps), float(rcpu), float(lrps), float(lcpu)
mb = n * size / 1e6
print(f"{size:>5} B x {n}: runnel {rrps/1e6:.2f} M rec/s ({rrps*size/1e6:.0f} MB/s), {rcpu:.2f} s CPU"
      f" | librdkafka {lrps/1e6:.2f} M rec/s ({lrps*size/1e6:.0f} MB/s), {lcpu:.2f} s CPU"
      f" | throughput x{rrps/lrps:.2f}, CPU per MB x{(rcpu/mb)/(lcpu/mb):.2f}")
EOF
  done
done
