#!/bin/bash
# SPDX-License-Identifier: MIT
# A seed cache (-o seed_cache=): a mount fills a cache directory, which is
# then made read-only and serves other mounts with empty caches of their
# own: identical pixels with no chunk request, listings with no request,
# offline mounts, and a clear refusal of a seed that is not there. The
# seed is never written.
. "$(dirname "$0")/lib.sh"
need_fuse

start_fake || exit 1
P="projects/idr0802-synth-pixels_experimentB"
T="$P/pixel types/type-uint16.tif"
D="$P/pixel types"
A="$WORK/seed"
RO=
chunk_requests() {
	fake_get /__fake/stats | "$PYTHON3" -c '
import json, sys
s = json.load(sys.stdin)
print(sum(n for p, n in s["endpoints"].items() if p.endswith("{chunk}")))'
}
seed_cleanup() {
	if [ -n "$RO" ] && mountpoint -q "$RO"; then
		umount "$RO" 2>/dev/null || umount -l "$RO" 2>/dev/null
	fi
	cleanup
}
trap seed_cleanup EXIT

# Mount 1 fills the seed: an image and a directory listing.
M1="$WORK/m1"
check "mount 1 with cache_dir=seed" mount_idrfs "$FAKE_URL" "$M1" "s3_scheme=http,cache_dir=$A"
PID1=${IDRFS_PIDS##* }
cp "$M1/$T" "$WORK/uint16.tif"
ls "$M1/$D" >"$WORK/listing1"
check "mount 1 read the image and listed the dataset" test -s "$WORK/uint16.tif" -a -s "$WORK/listing1"
umount_idrfs "$M1"
# its cache is closed (and synced) when the process has exited
wait "$PID1" 2>/dev/null

# The seed read-only: a read-only bind mount where this is allowed (as on a
# cluster filesystem), else the same directory.
SEED="$A"
if [ "$(id -u)" = 0 ]; then
	RO="$WORK/seed-ro"
	mkdir -p "$RO"
	if mount --bind "$A" "$RO" 2>/dev/null && mount -o remount,ro,bind "$RO" 2>/dev/null &&
		! touch "$RO/probe" 2>/dev/null; then
		SEED="$RO"
	else
		mountpoint -q "$RO" && umount "$RO"
		RO=
	fi
fi
if [ "$SEED" = "$RO" ]; then
	ok "the seed is on a read-only bind mount"
else
	echo "# no read-only bind mount here (not root?): the seed is used in place"
fi
stamp() {
	find "$A" -type f -printf '%p %s %T@\n' | sort
}
stamp >"$WORK/stamp0"

# Mount 2: an empty cache of its own over the seed.
M2="$WORK/m2"
check "mount 2 with an empty cache_dir and seed_cache" \
	mount_idrfs "$FAKE_URL" "$M2" "s3_scheme=http,cache_dir=$WORK/b,seed_cache=$SEED"
fake_reset
check "mount 2 lists the dataset as mount 1 did" \
	bash -c "ls '$M2/$D' | cmp -s - '$WORK/listing1'"
check "the listing came from the seed: no request ($(fake_total))" test "$(fake_total)" -eq 0
check "mount 2 reads the image byte for byte" cmp -s "$M2/$T" "$WORK/uint16.tif"
check "and the read made no chunk request ($(chunk_requests))" test "$(chunk_requests)" -eq 0
# (a 404, as of a Zarr v3 probe, is an answer never cached, here or in a
# local cache)
ok200=$(fake_get /__fake/stats | "$PYTHON3" -c \
	'import json, sys; print(json.load(sys.stdin)["status"].get("200", 0))')
check "every answer the read used came from the seed ($ok200 fetched)" test "$ok200" -eq 0
sh=$(json_field "$M2/.idrfs/stats.json" cache.seed_hits)
check ".idrfs/stats.json counts seed hits ($sh)" test "$sh" -gt 0
check ".idrfs/stats shows them" grep -q "^cache hits .*[1-9][0-9]* from the seed" "$M2/.idrfs/stats"
out=$(timeout 30 cat "$M2/$P/zarr variants/v2 czyx.tif" 2>&1 >/dev/null)
check "what the seed lacks is fetched ($(chunk_requests) chunk requests)" test "$(chunk_requests)" -gt 0 -a -z "$out"
puts=$(json_field "$M2/.idrfs/stats.json" cache.puts)
check "and stored in mount 2's own cache ($puts puts)" test "$puts" -gt 0
umount_idrfs "$M2"

# Offline, with an empty cache: the seed serves the listing and the image.
stop_fake
O="$WORK/o"
check "an offline mount with an empty cache and the seed" \
	mount_idrfs "$FAKE_URL" "$O" "s3_scheme=http,cache_dir=$WORK/c,seed_cache=$SEED,offline"
check "offline: the listing is served from the seed" \
	bash -c "ls '$O/$D' | cmp -s - '$WORK/listing1'"
check "offline: the image reads byte for byte" cmp -s "$O/$T" "$WORK/uint16.tif"
out=$(timeout 30 cat "$O/$P/zarr variants/v2 tczyx T=3.tif" 2>&1 >/dev/null)
check "offline: what neither cache holds fails with EIO" grep -q "Input/output error" <<<"$out"
umount_idrfs "$O"

# The seed was never written: no file of it changed, none was added.
stamp >"$WORK/stamp1"
check "no file of the seed was written or added" cmp -s "$WORK/stamp0" "$WORK/stamp1"

# A seed that is not there, or holds no cache of this remote: the mount
# is refused, before it is made, with a message that names it.
expect_refused() {
	local what=$1 seed=$2 pattern=$3 out rc
	out=$(timeout 20 "$IDRFS" -f -o "s3_scheme=http,cache_dir=$WORK/d,seed_cache=$seed" \
		"$FAKE_URL" "$WORK/m3" 2>&1)
	rc=$?
	if [ $rc -eq 1 ] && grep -q -- "$pattern" <<<"$out" && ! mountpoint -q "$WORK/m3"; then
		ok "$what"
	else
		not_ok "$what (rc $rc: $out)"
		umount_idrfs "$WORK/m3"
	fi
}
mkdir -p "$WORK/m3" "$WORK/empty"
expect_refused "a seed_cache that does not exist is refused" \
	"$WORK/nonexistent" "cannot use seed_cache=$WORK/nonexistent: No such file"
expect_refused "a seed_cache without a cache of this remote is refused" \
	"$WORK/empty" "cannot use seed_cache=$WORK/empty"
expect_refused "the cache directory as its own seed is refused" \
	"$WORK/d" "cannot use seed_cache=$WORK/d"
finish
