#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ on the stable toolchain (RUSTC_BOOTSTRAP=1 unlocks the
# sanitizer flags cargo-fuzz passes). See docs/fuzzing.md.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   each target (default: all) for SECONDS (default 60)
#
# Every target runs from its committed seeds (fuzz/corpus/<target>, read only) plus a scratch
# corpus under fuzz/target/scratch-corpus, so the committed corpora never grow. A crash, a
# panic, an allocation over MALLOC_LIMIT_MB or RSS over RSS_LIMIT_MB fails the run; the input
# is left in fuzz/artifacts/<target>/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_EACH="${1:-60}"
shift || true
ALL_TARGETS=(request_decode offsets_records segment_recovery record_batch)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")
RSS_LIMIT_MB="${RSS_LIMIT_MB:-512}"
MALLOC_LIMIT_MB="${MALLOC_LIMIT_MB:-512}"
export RUSTC_BOOTSTRAP=1
# AddressSanitizer keeps 256 MiB of freed memory in quarantine by default, which would count
# against -rss_limit_mb; a small quarantine leaves the limit measuring the target's own memory.
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=16}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> cargo install --locked cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

max_len() {
    case "$1" in
        segment_recovery) echo 65536 ;;
        request_decode | record_batch) echo 16384 ;;
        *) echo 4096 ;;
    esac
}

echo "==> cargo fuzz build"
(cd fuzz && cargo fuzz build)
status=0
for t in "${TARGETS[@]}"; do
    scratch="fuzz/target/scratch-corpus/$t"
    log="fuzz/target/fuzz-$t.log"
    mkdir -p "$scratch" "fuzz/artifacts/$t"
    echo "==> fuzz $t for ${SECONDS_EACH}s (log: $log)"
    # Inputs that once failed (fuzz/regressions/<target>) are replayed on every run.
    regressions=()
    [ -d "fuzz/regressions/$t" ] && regressions=("regressions/$t")
    if (cd fuzz && cargo fuzz run "$t" "../$scratch" "corpus/$t" "${regressions[@]}" -- \
            -max_total_time="$SECONDS_EACH" -rss_limit_mb="$RSS_LIMIT_MB" \
            -malloc_limit_mb="$MALLOC_LIMIT_MB" -max_len="$(max_len "$t")" \
            -timeout=10 -print_final_stats=1) >"$log" 2>&1; then
        grep -E "^#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb" "$log" || true
    else
        echo "FUZZ FAILURE in $t; the input is in fuzz/artifacts/$t/" >&2
        tail -n 80 "$log" >&2
        status=1
    fi
done
exit $status
