#!/usr/bin/env bash
# Configures and builds clawvisor into build/ (or $BUILD_DIR). Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
# Room for the release, ASan and TSan objects of a whole tree (ccache's 5 GB default evicts one
# configuration while the next builds, so every CI run recompiled all three).
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-12G}
# With -g, ccache hashes the working directory by default, so a fresh clone never hit the cache;
# debug info may then name another checkout's build directory (sources stay relative).
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
# The tests' precompiled header (tests/CMakeLists.txt): ccache caches compilations that use it
# only with these (the header's own timestamps and __DATE__ do not change what is compiled).
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
cmake -S . -B "$BUILD_DIR" -G Ninja "$@" >/dev/null
ninja -C "$BUILD_DIR"
