#!/usr/bin/env bash
# Installs the system packages the test suite needs and that are missing.
#
# Idempotent and quiet: when everything is present it does nothing (no
# `apt-get update`, no output). Meant for Debian 12 (also the CI machine),
# run as root (or with sudo available); works on a fresh machine on which
# `apt-get update` has never run.
#
# To add a dependency, add a `need_pkg CHECK_CMD PACKAGE` line to
# collect_missing below: CHECK_CMD is a shell command (usually a have_*
# function defined here) that succeeds when the dependency is already there;
# PACKAGE is the Debian package that provides it.
set -euo pipefail

missing=()

# need_pkg CHECK_CMD PACKAGE: queue PACKAGE for installation unless CHECK_CMD
# succeeds.
need_pkg() {
    local check=$1 package=$2
    if ! eval "$check" >/dev/null 2>&1; then
        missing+=("$package")
    fi
}

# True if libclang's shared library is known to the dynamic loader (bindgen
# loads it at run time) and clang's builtin headers (stddef.h, ...) are
# installed, which libclang needs to parse <sys/socket.h>.
have_libclang() {
    local ldconfig libs
    ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
    # Captured rather than piped into `grep -q`, which could make ldconfig die
    # of SIGPIPE and, under pipefail, fail the check although the lib exists.
    libs=$("$ldconfig" -p)
    grep -E 'libclang(-[0-9.]+)?\.so' <<<"$libs" >/dev/null || return 1
    compgen -G '/usr/lib/llvm-*/lib/clang/*/include/stddef.h' >/dev/null
}

# Fills `missing` with the packages to install. One need_pkg line per dependency.
collect_missing() {
    missing=()
    # netbase-uapi's bindings_fresh test regenerates the kernel bindings with
    # bindgen, which needs libclang.
    need_pkg have_libclang libclang-dev
    # Privileged tests build their own network namespaces with ip(8).
    need_pkg 'command -v ip' iproute2
}

collect_missing
if ((${#missing[@]} == 0)); then
    exit 0
fi

sudo=()
if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "install-test-deps: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi

# run CMD...: run quietly; show the command's output only if it fails.
run() {
    local log status=0
    log=$(mktemp)
    "$@" >"$log" 2>&1 || status=$?
    if ((status != 0)); then
        echo "install-test-deps: failed ($status): $*" >&2
        cat "$log" >&2
    fi
    rm -f "$log"
    return "$status"
}

echo "install-test-deps: installing ${missing[*]}" >&2
run "${sudo[@]}" apt-get update -qq
run "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Verify, so a broken install fails here and not later in a confusing way.
collect_missing
if ((${#missing[@]} != 0)); then
    echo "install-test-deps: still missing after install: ${missing[*]}" >&2
    exit 1
fi
