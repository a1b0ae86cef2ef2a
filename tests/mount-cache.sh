#!/bin/bash
# SPDX-License-Identifier: MIT
# The persistent cache through real mounts: two mounts share one cache,
# a kill -9 mid-read leaves a cache the next mount uses, the size limit
# holds, listings are served stale when the server is gone, and offline
# mode serves what is cached and fails the rest at once.
. "$(dirname "$0")/lib.sh"
need_fuse

start_fake || exit 1
OPTS="s3_scheme=http,cache_dir=$WORK/shared"
chunk_requests() {
	fake_get /__fake/stats | "$PYTHON3" -c '
import json, sys
s = json.load(sys.stdin)
print(sum(n for p, n in s["endpoints"].items() if p.endswith("{chunk}")))'
}
P="projects/idr0802-synth-pixels_experimentB"
T="$P/pixel types/type-uint16.tif"

# Two mounts of one remote on one cache directory, at the same time.
A="$WORK/a"
B="$WORK/b"
check "mount A" mount_idrfs "$FAKE_URL" "$A" "$OPTS"
check "mount B on the same cache at the same time" mount_idrfs "$FAKE_URL" "$B" "$OPTS"
cp "$A/$T" "$WORK/uint16.tif"
fake_reset
check "B reads what A read, byte for byte" cmp -s "$B/$T" "$WORK/uint16.tif"
check "and B's read made no chunk request ($(chunk_requests))" test "$(chunk_requests)" -eq 0

# Live counters (B's read above made no request at all: everything came
# from A's cache, the 404 of the Zarr v3 probe included; a listing does).
ls "$B/screens" >/dev/null
check ".idrfs/stats counts requests and cache hits" \
	bash -c "grep -q '^requests  *[1-9]' '$B/.idrfs/stats' && grep -q '^cache hits  *[1-9]' '$B/.idrfs/stats'"
check ".idrfs/stats.json is JSON with the same counters" \
	"$PYTHON3" -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["requests"] > 0 and d["cache"]["hits"] > 0 and "p99" in d["latency_ms"]' "$B/.idrfs/stats.json"
r1=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1]))["requests"])' "$B/.idrfs/stats.json")
ls "$B/projects/idr0801-synth-listing_experimentA" >/dev/null
r2=$("$PYTHON3" -c 'import json, sys; print(json.load(open(sys.argv[1]))["requests"])' "$B/.idrfs/stats.json")
check "the counters are live, not cached by the kernel ($r1 -> $r2)" test "$r2" -gt "$r1"

# kill -9 in the middle of a read, then a new mount on the same cache.
L="$P/large/large 1 GiB.tif"
dd if="$A/$L" of=/dev/null bs=1M count=300 status=none &
DD=$!
sleep 1
kill -9 ${IDRFS_PIDS%% *} 2>/dev/null
wait $DD 2>/dev/null
fusermount3 -uz "$A" 2>/dev/null
# (under ASan, a small quarantine keeps the memory check below about us)
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16"
check "remount A after kill -9" mount_idrfs "$FAKE_URL" "$A" "$OPTS"
check "the cache opens and serves: the earlier image still reads right" \
	cmp -s "$A/$T" "$WORK/uint16.tif"
out=$(timeout 300 "$PYTHON3" "$top_srcdir/tests/check_pixels.py" "$A" "$FAKE_URL" 2003 2>&1)
check "and new reads are right" grep -q "^ok" <<<"$out"
# Memory is a fixed budget: 8 readers of a 4 GiB image at once.
H4="$P/large/large 4 GiB.tif"
DPID=${IDRFS_PIDS##* }
peak=0
readers=
for i in 0 1 2 3 4 5 6 7; do
	dd if="$A/$H4" of=/dev/null bs=1M skip=$((i * 500)) count=100 status=none &
	readers="$readers $!"
done
for _ in $(seq 1 600); do
	rss=$(awk '/^RssAnon/ { print $2 }' "/proc/$DPID/status" 2>/dev/null)
	[ "${rss:-0}" -gt "$peak" ] && peak=$rss
	running=0
	for r in $readers; do
		kill -0 "$r" 2>/dev/null && running=1
	done
	[ $running = 0 ] && break
	sleep 0.5
done
for r in $readers; do
	wait "$r" 2>/dev/null
done
check "8 concurrent readers of a 4 GiB image: anonymous RSS peaked at $((peak / 1024)) MiB (< 768)" \
	test "$peak" -gt 0 -a "$peak" -lt 786432

umount_idrfs "$A"
umount_idrfs "$B"

# A small limit holds: a cache of 8M after reading far more.
S="$WORK/small"
check "mount with cache_size=8M" mount_idrfs "$FAKE_URL" "$S" "s3_scheme=http,cache_dir=$WORK/smallcache,cache_size=8M"
dd if="$S/$L" of=/dev/null bs=1M count=64 status=none
umount_idrfs "$S"
used=$(du -sk "$WORK/smallcache" | cut -f1)
check "the cache directory stays near its 8 MiB limit (${used} KiB on disk)" test "$used" -lt 16384

# The server goes away: listings seen before are served from the cache.
D="$WORK/d"
check "mount D" mount_idrfs "$FAKE_URL" "$D" "$OPTS"
ls "$D/$P/pixel types" >/dev/null
cp "$D/$P/zarr variants/v2 czyx.tif" "$WORK/czyx.tif"
umount_idrfs "$D"
stop_fake
check "mount D again with the server gone, ttl=0" mount_idrfs "http://${FAKE_URL#http://}" "$D" "$OPTS,timeout=5,ttl=0"
check "a listing from before is served from the cache" \
	test "$(ls "$D/$P/pixel types" | grep -v '\.ome\.tif$' | grep -c '\.tif$')" -eq 8
check "the failure to refresh is logged" grep -q "unreachable: serving the copy" "$WORK/idrfs.log"
umount_idrfs "$D"

# Offline: what is cached is served, the rest fails at once.
O="$WORK/o"
check "mount offline" mount_idrfs "http://${FAKE_URL#http://}" "$O" "$OPTS,offline"
check "offline: a cached image reads byte for byte" cmp -s "$O/$P/zarr variants/v2 czyx.tif" "$WORK/czyx.tif"
t0=$(date +%s%N)
out=$(timeout 30 cat "$O/$P/zarr variants/v2 tczyx T=3.tif" 2>&1 >/dev/null)
ms=$((($(date +%s%N) - t0) / 1000000))
check "offline: an image never read fails with EIO" grep -q "Input/output error" <<<"$out"
check "offline: and at once (${ms} ms)" test "$ms" -lt 2000
out=$(timeout 30 ls "$O/projects/idr0801-synth-listing_experimentA/names" 2>&1)
check "offline: a directory never listed fails with EIO" grep -q "Input/output error" <<<"$out"
finish
