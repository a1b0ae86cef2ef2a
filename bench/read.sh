#!/bin/bash
# SPDX-License-Identifier: MIT
# Read speed: the fake server's 1 GiB image through idrfs, cold (network),
# again from idrfs's cache after dropping the kernel page cache, and again
# from the page cache; and the same bytes as a local file. Prints MB/s,
# requests and bytes fetched. Not a pass/fail test.
#   bench/read.sh [LATENCY_MS]     (default 20; needs root to drop caches)
set -u
cd "$(dirname "$0")/.."
top_srcdir=$PWD
top_builddir=$PWD/build
[ -x "$top_builddir/src/idrfs" ] || { echo "build first: ./demo.sh"; exit 1; }
. tests/lib.sh
need_fuse
lat=${1:-20}

now() { date +%s%N; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || echo "# (cannot drop the page cache: not root)"; }
stats() {
	fake_get /__fake/stats | "$PYTHON3" -c '
import json, sys
s = json.load(sys.stdin)
print(s["total"], s["bytes"])'
}
rate() { awk -v b="$1" -v ns="$2" 'BEGIN { printf "%8.1f MB/s  %6.2f s", b / 1e6 / (ns / 1e9), ns / 1e9 }'; }

start_fake --latency-ms "$lat" --chunk-cache-mb 2048 || exit 1
# the fake server encodes a chunk in Python once, then serves it as a
# stored object: one throwaway read first, as bench/run does
P="$WORK/prime"
mount_idrfs "$FAKE_URL" "$P" "s3_scheme=http,cache_dir=$WORK/primecache" || exit 1
dd if="$P/projects/idr0802-synth-pixels_experimentB/large/large 1 GiB.tif" of=/dev/null bs=1M status=none
umount_idrfs "$P"
rm -rf "$WORK/primecache"
M="$WORK/mnt"
mount_idrfs "$FAKE_URL" "$M" s3_scheme=http || exit 1
F="$M/projects/idr0802-synth-pixels_experimentB/large/large 1 GiB.tif"
size=$(stat -c %s "$F")
head -c 4096 "$F" >/dev/null
fake_reset

t0=$(now); dd if="$F" of=/dev/null bs=1M status=none; t1=$(now)
read -r req bytes <<<"$(stats)"
cold="$(rate "$size" $((t1 - t0)))  $req requests, $((bytes / 1048576)) MiB fetched"
drop
fake_reset
t0=$(now); dd if="$F" of=/dev/null bs=1M status=none; t1=$(now)
read -r req2 _ <<<"$(stats)"
cache="$(rate "$size" $((t1 - t0)))  $req2 requests"
# warm: the second read in a row (DAMON on these VMs evicts pages read once)
dd if="$F" of=/dev/null bs=1M status=none
t0=$(now); dd if="$F" of=/dev/null bs=1M status=none; t1=$(now)
warm="$(rate "$size" $((t1 - t0)))"

L="$WORK/local.tif"
cp "$F" "$L"
drop
t0=$(now); dd if="$L" of=/dev/null bs=1M status=none; t1=$(now)
ldisk="$(rate "$size" $((t1 - t0)))"
dd if="$L" of=/dev/null bs=1M status=none
t0=$(now); dd if="$L" of=/dev/null bs=1M status=none; t1=$(now)
lwarm="$(rate "$size" $((t1 - t0)))"

printf 'sequential read of a %d MiB image, %d ms latency per request\n' $((size / 1048576)) "$lat"
printf '  %-36s %s\n' "idrfs cold (network)" "$cold"
printf '  %-36s %s\n' "idrfs, page cache dropped (LMDB)" "$cache"
printf '  %-36s %s\n' "idrfs warm (page cache)" "$warm"
printf '  %-36s %s\n' "local file, page cache dropped" "$ldisk"
printf '  %-36s %s\n' "local file warm (page cache)" "$lwarm"
