#!/bin/bash
# SPDX-License-Identifier: MIT
# Install dependencies, build in build-check/ and run every test.
# Extra arguments go to configure (CI: --enable-werror --enable-asan).
set -u
cd "$(dirname "$0")"
sh contrib/deps.sh || exit 1
autoreconf -fi >/dev/null 2>&1 || { autoreconf -fi; exit 1; }
rm -rf build-check
mkdir build-check && cd build-check || exit 1
../configure -q "$@" || exit 1
make -s -j"$(nproc)" || exit 1
make -s -j2 check >make-check.out 2>&1
rc=$?
cat make-check.out
# The bounded fuzz step: each libFuzzer target under ASan+UBSan for
# FUZZ_TIME seconds, two at a time, seeded from tests/data; TAP lines
# (tests/fuzz/README.md).
make -s -j"$(nproc)" fuzz-check FUZZ_TIME="${FUZZ_TIME:-50}" \
	>tests/fuzz.log 2>&1
frc=$?
# each test's own output (cmocka, TAP lines) for the record
for f in tests/*.log; do
	[ "$f" = tests/test-suite.log ] && continue
	echo "=== $f"
	cat "$f"
done
# Count test cases: cmocka's "[       OK ]" / "[  FAILED  ] N test(s)"
# and TAP "ok"/"not ok" lines; a program that failed without naming a
# failed case (a crash, a timeout) counts as one failure.
pass=0
fail=0
for f in tests/*.log; do
	[ "$f" = tests/test-suite.log ] && continue
	p=$(grep -c -e '^\[       OK \]' -e '^ok ' "$f")
	n=$(grep -c '^not ok ' "$f")
	c=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$f")
	n=$((n + ${c:-0}))
	res=$(sed -n 's/^:test-result: //p' "${f%.log}.trs" 2>/dev/null)
	case $res in
	FAIL | ERROR | XPASS) [ "$n" -eq 0 ] && n=1 ;;
	SKIP) echo "skipped: ${f%.log}" ;;
	esac
	pass=$((pass + p))
	fail=$((fail + n))
done
# a fuzz step that failed before any target ran (no clang) is a failure
if [ "$frc" -ne 0 ] && ! grep -q '^not ok ' tests/fuzz.log; then
	fail=$((fail + 1))
fi
echo "${pass} passed, ${fail} failed"
[ "$rc" -eq 0 ] && [ "$frc" -eq 0 ] && [ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
