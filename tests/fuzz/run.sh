#!/bin/sh
# SPDX-License-Identifier: MIT
# Run libFuzzer targets for a bounded time each, seeded from tests/data, and
# print one TAP line per target: "ok N - fuzz_x (E execs)" or "not ok".
#
# usage: run.sh SRCDIR OUTDIR TARGET...   (TARGET: path of a built target)
# env:   FUZZ_TIME  seconds per target (default 60; 0: the seeds once)
#        FUZZ_JOBS  targets run at once (default 2)
#        PYTHON3    the interpreter for seed.py (default python3)
#
# OUTDIR gets seed/<target> (built from tests/data), corpus/<target> (what
# the run found; kept between runs), out/<target>.log and out/<target>-*
# (a crashing input, as libFuzzer writes it). A finding is a failed line,
# followed by the tail of the log and the input in base64 as TAP comments.
set -u
src=$1
out=$2
shift 2
time=${FUZZ_TIME:-60}
jobs=${FUZZ_JOBS:-2}
# libFuzzer's -max_total_time=0 is "no limit"
bound=-max_total_time=$time
[ "$time" -eq 0 ] && bound=-runs=0
data=$src/tests/data

rm -rf "$out/seed" "$out/out"
mkdir -p "$out/seed" "$out/out" "$out/corpus" || exit 1
if ! "${PYTHON3:-python3}" "$src/tests/fuzz/seed.py" "$src" "$out/seed"; then
	echo "1..1"
	echo "not ok 1 - fuzz seed corpus"
	exit 1
fi

# The read-only seed directories of a target (libFuzzer reads them after
# the corpus directory it writes to).
seeds() {
	case $1 in
	fuzz_json) echo "$data/api $data/search $data/idr-samples" ;;
	fuzz_zarr_meta) echo "$out/seed/fuzz_zarr_meta $data/zarr/spec" ;;
	*) echo "$out/seed/$1" ;;
	esac
}

# One target, its log in out/<name>.log, its exit status in out/<name>.rc.
# An input that takes 25 s is a hang (the slowest seen take milliseconds;
# the margin is for a loaded CI machine).
run_one() {
	t=$1
	name=$(basename "$t")
	mkdir -p "$out/corpus/$name"
	# shellcheck disable=SC2046
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
		UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
		"$t" "$bound" -timeout=25 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 \
		-artifact_prefix="$out/out/$name-" \
		"$out/corpus/$name" $(seeds "$name") \
		>"$out/out/$name.log" 2>&1
	echo $? >"$out/out/$name.rc"
}

# FUZZ_JOBS queues, each running its share of the targets in turn.
i=0
for q in $(seq 1 "$jobs"); do
	(
		k=0
		for t in "$@"; do
			[ $((k % jobs + 1)) -eq "$q" ] && run_one "$t"
			k=$((k + 1))
		done
	) &
done
wait

echo "1..$#"
fail=0
for t in "$@"; do
	i=$((i + 1))
	name=$(basename "$t")
	log=$out/out/$name.log
	rc=$(cat "$out/out/$name.rc" 2>/dev/null || echo 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		echo "ok $i - $name (${execs:-0} execs in ${time} s)"
		continue
	fi
	fail=$((fail + 1))
	echo "not ok $i - $name (exit $rc after ${execs:-?} execs)"
	tail -n 40 "$log" | sed 's/^/# /'
	for a in "$out/out/$name"-*; do
		[ -f "$a" ] || continue
		echo "# input $(basename "$a") (base64):"
		base64 "$a" | head -n 20 | sed 's/^/#   /'
	done
done
[ "$fail" -eq 0 ]
