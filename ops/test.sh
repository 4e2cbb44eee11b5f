#!/usr/bin/env bash
# The test command: installs dependencies, checks the project's own rules and formatting, builds,
# runs every test (unit, contract and integration against real RocksDB, real Kafka brokers and
# real QEMU microVMs, the crash test), then the ASan+UBSan and TSan builds' tests.
#   ops/test.sh                 everything (what CI runs)
#   ops/test.sh --fast          the release build's tests only
# Each phase prints its wall time, so a slow CI run shows where the time went.
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
[ "${1:-}" = "--fast" ] && fast=1

started=$SECONDS
phase_started=$SECONDS
phase() {
  echo "== [$((SECONDS - started)) s, previous phase $((SECONDS - phase_started)) s] $*"
  phase_started=$SECONDS
}

phase "dependencies"
ops/install-deps.sh
phase "Apache Kafka for the real-broker tests (cached outside the repository)"
ops/kafka/kafka.sh fetch
phase "the test microVM image (cached outside the repository; rebuilt when an input changes)"
ops/guest/build.sh
# Jobs that run beside the phases (each in its own process group); a phase that fails ends them.
background=()
# (|| true: under set -e a job that has already ended would otherwise turn the exit status into 1.)
trap 'status=$?; for g in "${background[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done; exit $status' EXIT
phase "the production OpenClaw image, in the background (cached outside the repository)"
# Minutes of downloads, npm and one gateway start, none of it needing the build: it runs beside
# the release build, and only the OpenClaw test needs it.
mkdir -p build
setsid ops/guest/build-openclaw.sh > build/openclaw-image.log 2>&1 &
image_pid=$!
background+=("$image_pid")
phase "the project's rules (ops/lint.py) and format check"
python3 ops/lint.py
files=$(git ls-files '*.h' '*.cc' 2>/dev/null || find engine events projections adapters tests ops -name '*.h' -o -name '*.cc')
clang-format --dry-run --Werror $files

phase "release build"
BUILD_DIR=build ops/build.sh -DCMAKE_BUILD_TYPE=RelWithDebInfo
phase "the production OpenClaw image (built since the dependencies)"
rc=0
wait "$image_pid" || rc=$?
cat build/openclaw-image.log
[ $rc -eq 0 ] || { echo "ops/test.sh: building the OpenClaw image failed" >&2; exit $rc; }
openclaw_test='^OpenClawE2eTest\.'
phase "release tests"
ctest --test-dir build --output-on-failure -j2 -E "$openclaw_test"

# The real OpenClaw's test boots its gateway twice under TCG (many minutes each, mostly one
# vCPU's worth of work). It runs beside the sanitizer phases (compiles, and tests without real
# brokers or VMs), not beside the release tests, whose real Kafka and microVM tests it would
# slow; it is waited for last.
openclaw_log=build/openclaw-e2e.log
setsid ctest --test-dir build --output-on-failure -R "$openclaw_test" > "$openclaw_log" 2>&1 &
openclaw_pid=$!
background+=("$openclaw_pid")
openclaw_wait() {
  phase "the real OpenClaw's test (running since the release tests)"
  local rc=0
  wait "$openclaw_pid" || rc=$?
  cat "$openclaw_log"
  [ $rc -eq 0 ] || { echo "ops/test.sh: the OpenClaw test failed" >&2; exit $rc; }
}

if [ $fast -eq 1 ]; then
  openclaw_wait
  phase "done"
  exit 0
fi

# The sanitizer trees build what they run: no benches, no `slow` tests (real brokers, microVMs
# and the crash test run in the release tree), no libFuzzer targets (built with their own
# ASan+UBSan in the release tree).
sanitizer_tree=(-DCLAWVISOR_BUILD_BENCH=OFF -DCLAWVISOR_BUILD_SLOW_TESTS=OFF
  -DCLAWVISOR_BUILD_FUZZERS=OFF -DCMAKE_BUILD_TYPE=Debug)

phase "ASan+UBSan build"
BUILD_DIR=build-asan ops/build.sh -DCLAWVISOR_SANITIZE=ON "${sanitizer_tree[@]}"
phase "ASan+UBSan tests"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j2 -LE slow

phase "TSan build"
BUILD_DIR=build-tsan ops/build.sh -DCLAWVISOR_TSAN=ON "${sanitizer_tree[@]}"
phase "TSan tests"
# Not under TSan (it runs in the release and ASan+UBSan builds):
# - KafkaMockFaultsTest: Debian's librdkafka is not built for TSan, and TSan's interceptors
#   crash inside its mock cluster's threads (SEGV in librdkafka, not in our code).
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/ops/tsan.supp" \
  ctest --test-dir build-tsan --output-on-failure -j2 -LE slow -E '^KafkaMockFaultsTest\.'
openclaw_wait
phase "done"
