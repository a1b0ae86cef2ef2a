#!/bin/bash
# SPDX-License-Identifier: MIT
# Listing speed: `ls -l` of the fake server's 10 000-image dataset through
# idrfs, cold and warm, against the same number of empty local files.
# Prints times, requests made and ratios. Not a pass/fail test.
#   bench/listing.sh [LATENCY_MS]     (default 20; run after ./demo.sh built)
set -u
cd "$(dirname "$0")/.."
top_srcdir=$PWD
top_builddir=${top_builddir:-$PWD/build}
[ -x "$top_builddir/src/idrfs" ] || { echo "build first: ./demo.sh stop or ./check.sh"; exit 1; }
. tests/lib.sh
need_fuse
lat=${1:-20}

now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

start_fake --latency-ms "$lat" || exit 1
M="$WORK/mnt"
mount_idrfs "$FAKE_URL" "$M" s3_scheme=http || exit 1
D="$M/projects/idr0801-synth-listing_experimentA/big dataset"
ls "$M/projects/idr0801-synth-listing_experimentA" >/dev/null
fake_reset
t0=$(now); n=$(ls -l "$D" | wc -l); t1=$(now)
cold=$(ms "$t0" "$t1"); req=$(fake_total)
t0=$(now); ls -l "$D" >/dev/null; t1=$(now)
warm=$(ms "$t0" "$t1")

L="$WORK/local"
mkdir -p "$L"
(cd "$L" && seq -f 'cell_%05g.tif' 1 10000 | xargs touch)
sync
t0=$(now); ls -l "$L" >/dev/null; t1=$(now)
local=$(ms "$t0" "$t1")

printf 'ls -l of %d entries, %d ms latency per request\n' "$((n - 1))" "$lat"
printf '  %-28s %8s ms  %5s requests\n' "idrfs cold" "$cold" "$req"
printf '  %-28s %8s ms  %5s requests\n' "idrfs warm (listing cached)" "$warm" 0
printf '  %-28s %8s ms\n' "local directory (tmpfs/disk)" "$local"
awk -v c="$cold" -v w="$warm" -v l="$local" -v lat="$lat" 'BEGIN {
	if (l < 1) l = 1
	printf "  cold / local = %.1fx   warm / local = %.1fx\n", c / l, w / l
	printf "  one request per file would cost >= %d ms of latency alone\n", 10000 * lat
}'
