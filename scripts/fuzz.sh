#!/usr/bin/env bash
# Runs one cargo-fuzz target of fuzz/ for a bounded number of executions or seconds.
#
#   scripts/fuzz.sh TARGET [RUNS] [SECONDS]
#
#   TARGET   schema_parse | topology_parse | netlink_parse | solicit_decode | rx_parse
#            (`scripts/fuzz.sh --list` lists them)
#   RUNS     executions to stop after (libFuzzer -runs; -1 for no limit)     default 100000
#   SECONDS  wall-clock limit of the fuzzing loop (-max_total_time)          default 600
#
# The fuzzer starts from the committed seeds in fuzz/seeds/TARGET (read only) plus whatever a
# previous run left in fuzz/corpus/TARGET (scratch, git-ignored; FUZZ_FRESH=1 empties it
# first), and writes the inputs it finds interesting to that scratch directory. The schema and
# topology targets get the dictionary fuzz/dict/toml.dict.
#
# Prints libFuzzer's closing "#N DONE" line and the wall time. On a crash, a leak, a timeout or
# an out-of-memory it exits non-zero, prints the end of the log and the input that did it
# (fuzz/artifacts/TARGET/...), and how to minimize it; minimized inputs are kept under
# fuzz/regressions/TARGET/ (replay them with `scripts/fuzz.sh --replay TARGET`).
#
# Environment:
#   FUZZ_FRESH=1          start from the seeds only
#   FUZZ_TIMEOUT=N        seconds one input may take before it counts as a hang (default 10)
#   FUZZ_SANITIZER=NAME   address (default) | none | leak | memory | thread
#   FUZZ_ARGS="-flag=v …" more libFuzzer flags (e.g. -only_ascii=1, -max_len=65536)
#   FUZZ_LOG=PATH         where libFuzzer's full output goes (default fuzz/artifacts/TARGET/fuzz.log)
#   CARGO_BUILD_JOBS=N    parallel rustc processes for the build (the fuzzing itself is one process)
#
# Needs cargo-fuzz (installed from crates.io on first use) and a nightly toolchain; where there
# is none (`rustup toolchain list`), the default toolchain is used with RUSTC_BOOTSTRAP=1, which
# lets it accept the -Z flags of the sanitizers.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit "${1:-2}"
}

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

targets() {
    sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^netbase-fuzz$'
}

replay=false
case "${1:-}" in
    -h | --help) usage 0 ;;
    --list)
        targets
        exit 0
        ;;
    --replay)
        replay=true
        shift
        ;;
    "") usage ;;
esac

target=$1
runs=${2:-100000}
max_time=${3:-600}
if ! targets | grep -qx -- "$target"; then
    echo "fuzz.sh: unknown target '$target'; targets: $(targets | tr '\n' ' ')" >&2
    exit 2
fi
[[ $runs =~ ^-?[0-9]+$ && $max_time =~ ^[0-9]+$ ]] || usage

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz from crates.io (once)" >&2
    cargo install --locked cargo-fuzz >&2
fi

toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    echo "fuzz.sh: no nightly toolchain; using the default one with RUSTC_BOOTSTRAP=1" >&2
    export RUSTC_BOOTSTRAP=1
fi

build_args=(--sanitizer "${FUZZ_SANITIZER:-address}" --debug-assertions)

# The harness cargo-fuzz built (run directly, so that no rebuild lands inside the timed part).
binary() {
    local host
    host=$(rustc "${toolchain[@]}" -vV | sed -n 's/^host: //p')
    # cargo honours CARGO_TARGET_DIR (relative to the fuzz crate, where cargo-fuzz runs it).
    local dir=${CARGO_TARGET_DIR:-fuzz/target}
    case $dir in
        /*) ;;
        fuzz/target) ;;
        *) dir="fuzz/$dir" ;;
    esac
    echo "$dir/$host/release/$target"
}

if $replay; then
    dir=fuzz/regressions/$target
    shopt -s nullglob
    inputs=("$dir"/*)
    if ((${#inputs[@]} == 0)); then
        echo "fuzz.sh: no regressions for $target in $dir"
        exit 0
    fi
    cargo "${toolchain[@]}" fuzz build "${build_args[@]}" "$target"
    # Each input once; fails (non-zero) if any of them still crashes.
    exec "$(binary)" -runs=1 "${inputs[@]}"
fi

corpus=fuzz/corpus/$target
seeds=fuzz/seeds/$target
artifacts=fuzz/artifacts/$target
if [[ ${FUZZ_FRESH:-0} == 1 ]]; then
    rm -rf "$corpus"
fi
mkdir -p "$corpus" "$artifacts"
log=${FUZZ_LOG:-$artifacts/fuzz.log}

fuzz_args=(
    -runs="$runs"
    -max_total_time="$max_time"
    -timeout="${FUZZ_TIMEOUT:-10}"
    -print_final_stats=1
    -artifact_prefix="$artifacts/"
)
case $target in
    schema_parse | topology_parse) fuzz_args+=(-dict=fuzz/dict/toml.dict) ;;
esac
# shellcheck disable=SC2206 # word splitting of FUZZ_ARGS is the point
fuzz_args+=(${FUZZ_ARGS:-})

# Build (its output is worth seeing), then fuzz with the output to the log only.
cargo "${toolchain[@]}" fuzz build "${build_args[@]}" "$target"

echo "fuzz.sh: $target: runs=$runs max_total_time=${max_time}s corpus=$corpus (+ $seeds) log=$log"
bin=$(binary)
start=$EPOCHREALTIME
status=0
"$bin" "${fuzz_args[@]}" "$corpus" "$seeds" >"$log" 2>&1 || status=$?
wall=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

if ((status != 0)); then
    echo "fuzz.sh: $target FAILED (exit $status) after ${wall}s; end of $log:" >&2
    tail -n 60 "$log" >&2
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    if [[ -n $crash ]]; then
        echo >&2
        echo "fuzz.sh: input: $crash" >&2
        echo "fuzz.sh: minimize: cargo ${toolchain[*]} fuzz tmin ${build_args[*]} $target $crash" >&2
        echo "fuzz.sh: then keep the minimized input under fuzz/regressions/$target/" >&2
    fi
    exit "$status"
fi

grep -E '^Done [0-9]+ runs' "$log" || true
done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
if [[ -z $done_line ]]; then
    echo "fuzz.sh: $target: no DONE line in $log" >&2
    tail -n 20 "$log" >&2
    exit 1
fi
echo "$done_line"
printf 'fuzz.sh: %s: %s executions in %s s (wall, fuzzing only); corpus now %s inputs\n' \
    "$target" "$(sed -E 's/^#([0-9]+).*/\1/' <<<"$done_line")" "$wall" "$(find "$corpus" -type f | wc -l)"
