#!/usr/bin/env bash
# The test command: installs what the tests need (scripts/install-test-deps.sh), then runs every
# test of the workspace (unit, integration, trybuild, snapshot, doc tests) and ends with one
# summary line over all of them.
#
# Privileged tests (network namespaces) run when the user is root; with
# NETBASE_REQUIRE_PRIVILEGED=1 (as in CI) they fail instead of skipping when they cannot run.
# Extra arguments go to `cargo test`, e.g. `scripts/test.sh -p netbase-codegen`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
if (($# == 0)); then
    set -- --workspace
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test "$@" 2>&1 | tee "$log" || status=$?
# cargo prints one "test result" line per test binary; add them up so the run ends with one
# line that says how many tests ran in all.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "\ntests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
