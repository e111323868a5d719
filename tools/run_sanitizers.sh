#!/usr/bin/env bash
# Builds the C++ kernel test executable (src/cpp/tests/test_kernels.cpp) with AddressSanitizer
# and UndefinedBehaviorSanitizer in build/sanitize (or $FASTRNN_SANITIZE_BUILD_DIR) and runs it.
# Exit status: non-zero when the build fails, a test fails, or any sanitizer reports anything
# (ASan/UBSan abort on the first report; the log is also scanned for reports as a backstop).
# Usage: tools/run_sanitizers.sh [extra cmake -D options]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${FASTRNN_SANITIZE_BUILD_DIR:-build/sanitize}
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi

cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFASTRNN_BUILD_CPP_TESTS=ON -DFASTRNN_SANITIZE=ON -Wno-dev "$@" >/dev/null
cmake --build "$build" --target fastrnn_kernel_tests

# detect_leaks: LeakSanitizer needs ptrace, which some containers forbid; opt in with
# FASTRNN_DETECT_LEAKS=1.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:exitcode=86:detect_leaks=${FASTRNN_DETECT_LEAKS:-0}:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# Exercise every thread count the test does not already force, through OpenMP's default too.
OMP_NUM_THREADS=${OMP_NUM_THREADS:-3} "$build/fastrnn_kernel_tests" 2>&1 | tee "$log" || status=$?
if grep -qE "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|SUMMARY: UndefinedBehaviorSanitizer" "$log"; then
  echo "run_sanitizers: sanitizer report found" >&2
  [ "$status" -ne 0 ] || status=1
fi
if [ "$status" -ne 0 ]; then
  echo "run_sanitizers: FAILED (exit status $status)" >&2
else
  echo "run_sanitizers: OK (no sanitizer reports, all kernel checks passed)"
fi
exit "$status"
