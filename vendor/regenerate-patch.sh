#!/usr/bin/env bash
# Regenerates vendor/kafka-protocol.runnel.patch: the difference between the pristine crate in
# cargo's registry cache and the vendored tree. Files the vendored copy drops (upstream tests,
# CI config, lockfile) are not part of the patch; every file both trees have is compared.
set -euo pipefail
cd "$(dirname "$0")"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' kafka-protocol/Cargo.toml | head -1)
pristine=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/kafka-protocol-"$version" | head -1)
[ -d "$pristine" ] || { echo "pristine kafka-protocol-$version not in the registry cache" >&2; exit 1; }
out=kafka-protocol.runnel.patch
{
    echo "Runnel's changes to kafka-protocol $version (crates.io), applied in vendor/kafka-protocol."
    echo "Regenerate with vendor/regenerate-patch.sh; every change is marked RUNNEL PATCH."
    echo
    (cd kafka-protocol && find . -type f | LC_ALL=C sort) | while read -r f; do
        f=${f#./}
        if [ ! -f "$pristine/$f" ]; then
            diff -u --label "a/$f" --label "b/$f" /dev/null "kafka-protocol/$f" || true
        else
            diff -u --label "a/$f" --label "b/$f" "$pristine/$f" "kafka-protocol/$f" || true
        fi
    done
} >"$out"
echo "wrote $out ($(grep -c '^+++ ' "$out") files changed)"
