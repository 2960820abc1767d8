#!/usr/bin/env bash
# The test command: installs what the tests need (scripts/install-test-deps.sh), then runs every
# test of the workspace (unit, integration, trybuild, snapshot, doc tests).
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
exec cargo test "$@"
