#!/bin/bash
# SPDX-License-Identifier: MIT
# idrfs-warmup fills the cache a mount uses, with no mount of its own: a
# mount on that cache then reads every image byte for byte as a cold mount
# does, with no chunk request; a second run fetches nothing and says so; a
# dry run fetches nothing and tells the bytes; a seed it builds serves
# another mount; --rows warms exactly its rows; a failed image makes a
# non-zero exit that names it; --levels warms every pyramid level (the
# .ome.tif) where a plain run leaves them out; and it works while a mount
# has the same cache open. Counts are the fake server's.
. "$(dirname "$0")/lib.sh"
need_fuse

WU="$top_builddir/src/idrfs-warmup"
start_fake || exit 1
P="projects/idr0802-synth-pixels_experimentB"
D="$P/pixel types"
chunk_requests() {
	fake_get /__fake/stats | "$PYTHON3" -c '
import json, sys
s = json.load(sys.stdin)
print(sum(n for p, n in s["endpoints"].items() if p.endswith("{chunk}")))'
}
# image ids whose chunks were asked for since the last reset
chunk_ids() {
	fake_get /__fake/stats | "$PYTHON3" -c '
import json, re, sys
s = json.load(sys.stdin)
ids = set()
for p in s["paths"]:
    m = re.search(r"/([0-9]+)\.zarr/0/[0-9]", p)
    if m:
        ids.add(int(m.group(1)))
print(" ".join(str(i) for i in sorted(ids)))'
}
# name and checksum of every image of the dataset under a mount
sums() {
	(cd "$1/$D" && find . -maxdepth 1 -name '*.tif' ! -name '*.ome.tif' \
		-printf '%f\0' | sort -z | xargs -0 md5sum)
}
# warm [options...] TARGET...: runs the warm-up on $FAKE_URL, output in
# $WORK/out and $WORK/err, status in $RC
warm() {
	local opts=$1
	shift
	timeout 120 "$WU" -o "s3_scheme=http,timeout=10${opts:+,$opts}" "$FAKE_URL" "$@" \
		>"$WORK/out" 2>"$WORK/err"
	RC=$?
}

# A cold mount: the reference pixels, sizes and the manifest.
C="$WORK/cold"
check "a cold mount" mount_idrfs "$FAKE_URL" "$C" "s3_scheme=http,cache_dir=$WORK/cc"
sums "$C" >"$WORK/sums.cold"
size=$(cd "$C/$D" && find . -maxdepth 1 -name '*.tif' ! -name '*.ome.tif' \
	-print0 | xargs -0 cat | wc -c)
cp "$C/$D/images.tsv" "$WORK/images.tsv"
check "it read the 8 images of '$D' ($size bytes)" test "$(wc -l <"$WORK/sums.cold")" -eq 8
umount_idrfs "$C"

# (3) A dry run on an empty cache: no pixel request, the bytes told.
fake_reset
warm "cache_dir=$WORK/wc" --dry-run "$D"
check "a dry run exits 0 (rc $RC)" test "$RC" -eq 0
check "and makes no chunk request ($(chunk_requests))" test "$(chunk_requests)" -eq 0
human=$("$PYTHON3" -c 'import sys; print("%.1f KiB" % (int(sys.argv[1]) / 1024))' "$size")
check "it tells the 8 images, $human, none cached" \
	grep -q "dry run: 8 images ($human): 0 already cached (0 bytes), 8 to fetch ($human)" "$WORK/out"

# (1) A warm-up of the dataset, then a mount on its cache.
fake_reset
warm "cache_dir=$WORK/wc" "$D"
n1=$(chunk_requests)
check "a warm-up of the dataset exits 0 (rc $RC)" test "$RC" -eq 0
check "and fetched its chunks ($n1 requests)" test "$n1" -gt 0
check "its summary says 8 warmed" grep -q "^idrfs-warmup: 8 images .*: 0 already cached, 8 warmed, 0 failed" "$WORK/out"
M="$WORK/m"
check "a mount on the warmed cache" mount_idrfs "$FAKE_URL" "$M" "s3_scheme=http,cache_dir=$WORK/wc"
fake_reset
sums "$M" >"$WORK/sums.warm"
check "it reads every image as the cold mount did" cmp -s "$WORK/sums.cold" "$WORK/sums.warm"
check "with no chunk request ($(chunk_requests))" test "$(chunk_requests)" -eq 0
umount_idrfs "$M"

# (2) Again: everything is there.
fake_reset
warm "cache_dir=$WORK/wc" "$D"
check "a second warm-up exits 0 (rc $RC)" test "$RC" -eq 0
check "and makes no chunk request ($(chunk_requests))" test "$(chunk_requests)" -eq 0
check "and says so: 8 already cached, 0 bytes fetched" \
	grep -q "8 images .*: 8 already cached, 0 warmed, 0 failed; 0 bytes fetched" "$WORK/out"
warm "cache_dir=$WORK/wc" --dry-run "$D"
check "a dry run on the warm cache tells all 8 cached" \
	grep -q "dry run: 8 images ($human): 8 already cached ($human), 0 to fetch" "$WORK/out"
check "and made no chunk request ($(chunk_requests))" test "$(chunk_requests)" -eq 0

# An image id warms the keys a mount reads under the image's path.
fake_reset
warm "cache_dir=$WORK/ic" 2003
check "a warm-up of image id 2003 exits 0 (rc $RC)" test "$RC" -eq 0
M2="$WORK/m2"
mount_idrfs "$FAKE_URL" "$M2" "s3_scheme=http,cache_dir=$WORK/ic"
name=$(awk -F'\t' '$2 == 2003 { print $1 }' "$WORK/images.tsv")
fake_reset
sum=$(md5sum <"$M2/$name" | cut -d' ' -f1)
check "a mount then reads '$name' as the cold mount did" \
	grep -q "^$sum  $(basename "$name")\$" "$WORK/sums.cold"
check "with no chunk request ($(chunk_requests))" test "$(chunk_requests)" -eq 0
umount_idrfs "$M2"

# (4) A seed, then a mount with an empty cache of its own over it.
fake_reset
warm "" --seed "$WORK/seed" "$D"
check "a warm-up with --seed exits 0 (rc $RC)" test "$RC" -eq 0
S="$WORK/s"
check "a mount with an empty cache_dir and seed_cache=" \
	mount_idrfs "$FAKE_URL" "$S" "s3_scheme=http,cache_dir=$WORK/empty,seed_cache=$WORK/seed"
fake_reset
sums "$S" >"$WORK/sums.seed"
check "it reads every image as the cold mount did" cmp -s "$WORK/sums.cold" "$WORK/sums.seed"
check "with no chunk request ($(chunk_requests))" test "$(chunk_requests)" -eq 0
umount_idrfs "$S"

# (5) Progress lines when stdout is not a terminal.
fake_get "/__fake/config?latency_ms=100" >/dev/null
warm "cache_dir=$WORK/pc" --progress=0.2 "$D"
fake_get "/__fake/config?latency_ms=0" >/dev/null
lines=$(grep -c "^idrfs-warmup: [0-9]*/8 images, .* fetched, .*/s, ETA" "$WORK/out")
check "progress lines appear on a pipe ($lines)" test "$lines" -ge 1 -a "$RC" -eq 0
check "then a summary line" bash -c "tail -n 1 '$WORK/out' | grep -q '8 warmed, 0 failed'"
warm "cache_dir=$WORK/qc" -q "$D"
check "-q prints nothing (rc $RC)" test "$RC" -eq 0 -a ! -s "$WORK/out" -a ! -s "$WORK/err"

# (6) --rows of an images.tsv: exactly those images.
want=$(awk -F'\t' 'NR == 3 || NR == 4 || NR == 6 { print $2 }' "$WORK/images.tsv" | sort -n | tr '\n' ' ')
fake_reset
warm "cache_dir=$WORK/rc" --rows 2-3,5 "$D/images.tsv"
got=$(chunk_ids)
check "--rows 2-3,5 exits 0 (rc $RC)" test "$RC" -eq 0
check "and fetched the chunks of exactly rows 2, 3 and 5 (ids $got)" test "$got " = "$want"
check "it says 3 images" grep -q "^idrfs-warmup: 3 images .*3 warmed" "$WORK/out"

# (7) One image's chunks fail: a non-zero exit that names it.
bad=$(awk -F'\t' 'NR == 2 { print $2 }' "$WORK/images.tsv")
badpath=$(awk -F'\t' 'NR == 2 { print $1 }' "$WORK/images.tsv")
fake_get "/__fake/fault?kind=500&pattern=/$bad\\.zarr/0/[0-9]" >/dev/null
warm "cache_dir=$WORK/fc,timeout=5" "$D"
fake_get "/__fake/fault?clear=1" >/dev/null
check "a failed image gives exit 1 (rc $RC)" test "$RC" -eq 1
check "and names it with the error" grep -q "^idrfs-warmup: '$badpath': Input/output error" "$WORK/err"
check "the others were warmed" grep -q "8 images .*7 warmed, 1 failed" "$WORK/out"
warm "cache_dir=$WORK/fc" "$D"
check "a second run after the fault warms the one left (rc $RC)" \
	grep -q "8 images .*: 7 already cached, 1 warmed, 0 failed" "$WORK/out"

# Usage errors: exit 2 with one line.
"$WU" -o no_such_option "$FAKE_URL" "$D" >/dev/null 2>"$WORK/err"
RC=$?
check "an unknown -o option is a usage error (rc $RC)" test "$RC" -eq 2 -a "$(wc -l <"$WORK/err")" -eq 1
"$WU" --rows=x "$FAKE_URL" "$D/images.tsv" >/dev/null 2>"$WORK/err"
RC=$?
check "a bad --rows is a usage error (rc $RC)" test "$RC" -eq 2 -a "$(wc -l <"$WORK/err")" -eq 1
"$WU" "$FAKE_URL" >/dev/null 2>"$WORK/err"
RC=$?
check "no target is a usage error (rc $RC)" test "$RC" -eq 2 -a "$(wc -l <"$WORK/err")" -eq 1

# (9) --levels: every pyramid level, through the .ome.tif. Image 2113 has
# three levels in 512x512 chunks; a .tif warm-up leaves levels 1 and 2 out.
PYR="$P/zarr variants/v2 pyramid 2500x1800"
# chunk requests of image 2113 since the last reset: "level0 level1+"
pyr_chunks() {
	fake_get /__fake/stats | "$PYTHON3" -c '
import json, re, sys
s = json.load(sys.stdin)
n = [0, 0]
for p, k in s["paths"].items():
    m = re.search(r"/2113\.zarr/([0-9]+)/[0-9]+/", p)
    if m:
        n[m.group(1) != "0"] += k
print(n[0], n[1])'
}
# read every level of the .ome.tif and the .tif of 2113 under a mount
read_pyr() {
	"$PYTHON3" -c '
import sys, tifffile
with tifffile.TiffFile(sys.argv[1] + ".ome.tif") as t:
    lv = t.series[0].levels
    assert len(lv) == 3, len(lv)
    for l in lv:
        l.asarray()
open(sys.argv[1] + ".tif", "rb").read()' "$1/$PYR"
}
pyr_after() { # cache: mount on it, read 2113's views, print the counts
	local m="$WORK/pm"
	mount_idrfs "$FAKE_URL" "$m" "s3_scheme=http,cache_dir=$1" || return 1
	ls "$m/$P/zarr variants" >/dev/null
	fake_reset
	read_pyr "$m" || echo "read failed"
	pyr_chunks
	umount_idrfs "$m"
}
warm "cache_dir=$WORK/l0" "$PYR.tif"
got=$(pyr_after "$WORK/l0")
check "without --levels, a warmed .tif leaves the pyramid cold (level 0, 1+: $got)" \
	bash -c "[ '${got% *}' = 0 ] && [ '${got#* }' -gt 0 ]"
fake_reset
warm "cache_dir=$WORK/l1" --levels "$PYR.tif"
check "--levels on the image's .tif exits 0 (rc $RC)" test "$RC" -eq 0
read -r l0 l1 <<<"$(pyr_chunks)"
check "and fetched every level's chunks ($l0 of level 0, $l1 above)" \
	test "$l0" -gt 0 -a "$l1" -gt 0
got=$(pyr_after "$WORK/l1")
check "a mount then reads every level and the .tif with no chunk request ($got)" \
	test "$got" = "0 0"
warm "cache_dir=$WORK/l2" --levels 2113
got=$(pyr_after "$WORK/l2")
check "--levels on image id 2113 warms every level too ($got, rc $RC)" \
	test "$got" = "0 0" -a "$RC" -eq 0
fake_reset
warm "cache_dir=$WORK/l3" --levels "$D"
check "--levels on a dataset of 8 images (no pyramid) warms 8 (rc $RC)" \
	grep -q "8 images .*8 warmed, 0 failed" "$WORK/out"
M3="$WORK/m3"
mount_idrfs "$FAKE_URL" "$M3" "s3_scheme=http,cache_dir=$WORK/l3"
fake_reset
sums "$M3" >"$WORK/sums.levels"
check "a mount on it reads every .tif as the cold mount did" cmp -s "$WORK/sums.cold" "$WORK/sums.levels"
check "with no chunk request ($(chunk_requests))" test "$(chunk_requests)" -eq 0
umount_idrfs "$M3"

# (8) While a mount has the same cache open.
L="$WORK/live"
check "a mount on a fresh cache" mount_idrfs "$FAKE_URL" "$L" "s3_scheme=http,cache_dir=$WORK/lc"
ls "$L/$D" >/dev/null
warm "cache_dir=$WORK/lc" "$D"
check "a warm-up of the same cache while it is mounted exits 0 (rc $RC)" \
	grep -q "8 warmed, 0 failed" "$WORK/out"
fake_reset
sums "$L" >"$WORK/sums.live"
check "the mount then reads every image as the cold mount did" cmp -s "$WORK/sums.cold" "$WORK/sums.live"
check "with no chunk request ($(chunk_requests))" test "$(chunk_requests)" -eq 0
umount_idrfs "$L"

# (10) An image id in today's archive, where images have no ExternalInfo:
# one in a project's dataset is warmed as the mount shows it (found by
# the locator: 2501's fileset is a converted Zarr, read on the download
# root), so a mount on the cache reads its raw .tif with no request. A
# warm-up of the id alone (ExternalInfo) would have warmed nothing raw.
stop_fake
start_fake --as-idr-today || exit 1
ORIG="originals_root=${FAKE_URL}pub/databases/IDR"
CONV="$P/converted filesets"
warm "cache_dir=$WORK/t1,$ORIG" 2501
check "today's archive: a warm-up of image id 2501 exits 0 (rc $RC)" test "$RC" -eq 0
check "and warmed one image" grep -q "^idrfs-warmup: 1 images .*1 warmed, 0 failed" "$WORK/out"
T="$WORK/today"
mount_idrfs "$FAKE_URL" "$T" "s3_scheme=http,cache_dir=$WORK/t1,$ORIG"
f=$(awk -F'\t' '$2 == 2501 { print $1 }' "$T/$CONV/images.tsv")
check "2501 is a raw .tif under '$CONV' ($f)" \
	bash -c "[[ '$f' == *.tif && '$f' != *rendered* ]]"
fake_reset
sum=$(md5sum <"$T/$f" | cut -d' ' -f1)
n=$(fake_get /__fake/stats | "$PYTHON3" -c 'import json, sys; print(json.load(sys.stdin)["total"])')
check "a mount on that cache reads it with no request ($n)" test "$n" -eq 0
umount_idrfs "$T"
T2="$WORK/today-cold"
mount_idrfs "$FAKE_URL" "$T2" "s3_scheme=http,cache_dir=$WORK/t2,$ORIG"
check "and as a cold mount reads it" test "$(md5sum <"$T2/$f" | cut -d' ' -f1)" = "$sum"
umount_idrfs "$T2"
finish
