#!/bin/bash
# SPDX-License-Identifier: MIT
# The memory budget (-o mem=, default 128M) through real mounts: 8
# concurrent readers of the 4 GiB image never make the daemon hold more
# chunk bytes than the budget (as it counts them, in stats.json) nor grow
# past the budget + 32 MiB (VmHWM, when not built with ASan), and no chunk
# is fetched twice; with a tight budget, the read-ahead goes to the cache
# (compressed) instead of memory, and the bytes read are the same.
. "$(dirname "$0")/lib.sh"
need_fuse

start_fake || exit 1
P="projects/idr0802-synth-pixels_experimentB/large"
H4="$P/large 4 GiB.tif"
G1="$P/large 1 GiB.tif"
# chunk requests since the last reset, and how many of them asked again
# for a chunk already fetched
chunk_counts() {
	fake_get /__fake/stats | "$PYTHON3" -c '
import json, re, sys
s = json.load(sys.stdin)
n = [c for p, c in s["paths"].items() if re.search(r"\.zarr/0/[0-9/.]+$", p)]
print(sum(n), sum(c - 1 for c in n))'
}
ASAN=0
ldd "$IDRFS" 2>/dev/null | grep -q libasan && ASAN=1

# 8 readers at once, each 64 MiB of its own part of the 4 GiB image.
M="$WORK/m"
check "mount with the default budget" mount_idrfs "$FAKE_URL" "$M" "s3_scheme=http"
DPID=${IDRFS_PIDS##* }
fake_reset
readers=
for i in 0 1 2 3 4 5 6 7; do
	timeout 900 dd if="$M/$H4" of=/dev/null bs=1M skip=$((i * 500)) count=64 \
		status=none &
	readers="$readers $!"
done
failed=0
for r in $readers; do
	wait "$r" || failed=$((failed + 1))
done
check "8 concurrent readers of the 4 GiB image all read ($failed failed)" test "$failed" -eq 0
S="$M/.idrfs/stats.json"
budget=$(json_field "$S" memory.budget)
cbudget=$(json_field "$S" memory.chunks_budget)
peak=$(json_field "$S" memory.peak)
check "the budget is 128 MiB by default ($budget)" test "$budget" -eq $((128 << 20))
check "chunks held at most $cbudget bytes of it (peak $peak)" \
	test "$peak" -gt 0 -a "$peak" -le "$cbudget" -a "$cbudget" -le "$budget"
check "no read gave up waiting for memory" test "$(json_field "$S" memory.timeouts)" -eq 0
hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$DPID/status")
if [ "$ASAN" = 1 ]; then
	echo "# ASan build: VmHWM ($((hwm / 1024)) MiB) not asserted, ASan's shadow" \
		"memory and quarantine are not the daemon's; the accounting above is"
else
	check "the daemon's peak RSS (VmHWM) is $((hwm / 1024)) MiB: at most the budget + 32 MiB" \
		test "$hwm" -gt 0 -a "$hwm" -le $(((budget >> 10) + 32768))
fi
read -r n dup <<<"$(chunk_counts)"
check "$n chunk requests, $dup of them for a chunk fetched already (at most 2)" \
	test "$n" -ge 256 -a "$dup" -le 2
grep -q '^memory held .* of [0-9]* bytes (peak' "$M/.idrfs/stats"
check ".idrfs/stats shows the memory held, its budget and peak" test $? -eq 0

# A tight budget: the read-ahead (256 MiB by default) cannot stay in
# memory; it is stored in the cache and read from there.
dd if="$M/$G1" bs=1M count=160 status=none | md5sum >"$WORK/want.md5"
umount_idrfs "$M"
# its read-ahead may still be fetching while the daemon ends
wait "$DPID" 2>/dev/null
T="$WORK/t"
fake_reset
check "mount with mem=32M" mount_idrfs "$FAKE_URL" "$T" \
	"s3_scheme=http,mem=32M,cache_dir=$WORK/tcache"
dd if="$T/$G1" bs=1M count=160 status=none | md5sum >"$WORK/got.md5"
check "mem=32M reads the same bytes" cmp -s "$WORK/want.md5" "$WORK/got.md5"
S="$T/.idrfs/stats.json"
check "budget 32 MiB, held at most its chunk part (peak $(json_field "$S" memory.peak))" \
	test "$(json_field "$S" memory.budget)" -eq $((32 << 20)) -a \
	"$(json_field "$S" memory.peak)" -le "$(json_field "$S" memory.chunks_budget)"
# (whether read-ahead outruns its share, and so goes to the cache only,
# depends on the network's speed; test_pixsrc makes it happen)
echo "# read-ahead stored in the cache only: $(json_field "$S" memory.prefetch_to_cache) chunks," \
	"dropped for want of room: $(json_field "$S" memory.prefetch_dropped) jobs"
check "prefetch kept at most its share ($(json_field "$S" memory.prefetch_held) of $(json_field "$S" memory.prefetch_share))" \
	test "$(json_field "$S" memory.prefetch_held)" -le "$(json_field "$S" memory.prefetch_share)"
read -r n dup <<<"$(chunk_counts)"
check "$n chunk requests, none for a chunk fetched already ($dup)" test "$n" -ge 80 -a "$dup" -eq 0
umount_idrfs "$T"
finish
