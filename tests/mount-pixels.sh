#!/bin/bash
# SPDX-License-Identifier: MIT
# Pixels through the mount: every test image read with tifffile equals the
# archive's ground truth (all pixel types, both byte orders, Zarr v2 and
# v3, sharded, flat and nested keys, rendered); a read fetches only the
# chunks it needs; cached chunks survive a remount; bad chunks give EIO.
. "$(dirname "$0")/lib.sh"
need_fuse

start_fake || exit 1
M="$WORK/mnt"
OPTS="s3_scheme=http,originals_root=${FAKE_URL}pub/databases/IDR"
check "mount the fake server" mount_idrfs "$FAKE_URL" "$M" "$OPTS"

ids="2001 2002 2003 2004 2005 2006 2007 2008
2101 2102 2103 2104 2105 2106 2107 2108 2109 2110 2111 2112
2201 2202 2203 2301 1000001 1007777 1201 1209 500001 500192"
# shellcheck disable=SC2086
out=$(timeout 600 "$PYTHON3" "$top_srcdir/tests/check_pixels.py" "$M" "$FAKE_URL" $ids 2>&1)
tap "$out"

# One plane of a 128-plane image (2048x2048 uint16, 1024x1024 chunks)
# costs its 4 chunks and nothing else.
L="$M/projects/idr0802-synth-pixels_experimentB/large/large 1 GiB.tif"
plane_check() {
	"$PYTHON3" - "$L" "$top_srcdir" "$@" <<'PY'
import os, sys
import numpy as np, tifffile
path, top, plane = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, os.path.join(top, "tests", "fake-idr"))
import archive
with tifffile.TiffFile(path) as t:
    p0 = t.pages[0]
    d0 = p0.dataoffsets[0]
    X, Y = p0.imagewidth, p0.imagelength
size = X * Y * 2
fd = os.open(path, os.O_RDONLY)
# no kernel readahead: it would read into the next plane
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
buf = os.pread(fd, size, d0 + plane * size)
os.close(fd)
arch = archive.build(1)
img = arch.images[2401]
C, Z = img.sc, img.sz
c, z, t = plane % C, (plane // C) % Z, plane // (C * Z)
want = archive.plane(arch, 2401, 0, t, c, z).astype("<u2").tobytes()
print("equal" if buf == want else "differ")
PY
}
chunk_requests() {
	fake_get /__fake/stats | "$PYTHON3" -c '
import json, sys
s = json.load(sys.stdin)
print(sum(n for p, n in s["endpoints"].items() if p.endswith("{chunk}")))'
}
# open + metadata (tifffile reads the IFDs) before counting
"$PYTHON3" -c 'import sys, tifffile; tifffile.TiffFile(sys.argv[1]).close()' "$L"
sleep 0.5
fake_reset
r=$(plane_check 37)
n=$(chunk_requests)
check "plane 37 of the 1 GiB image equals the archive's" test "$r" = equal
# opening a file set the mount's read-ahead window (readahead=4096)
# (root, and a sysfs that can be written: not in every container)
bdi="/sys/class/bdi/$(mountpoint -d "$M")/read_ahead_kb"
if [ "$(id -u)" = 0 ] && [ -w "$bdi" ]; then
	ra=$(cat "$bdi")
	check "the mount's read-ahead window is 4096 KiB (was $ra)" test "$ra" = 4096
else
	echo "# $bdi cannot be written here: the window check is skipped"
fi
check "reading one plane of 128 fetched $n chunks (its 4, nothing else)" test "$n" -eq 4
fake_reset
r=$(plane_check 37)
check "reading it again fetches no chunk" test "$(chunk_requests)" -eq 0
# the open's probe for a Zarr v3 zarr.json answered 404 the first time:
# that answer is kept like a listing, so a second open asks nothing
check "opening it again makes no request ($(fake_total))" test "$(fake_total)" -eq 0

# Read-ahead: a sequential reader gets the next chunks before it asks;
# random readers get exactly the chunks they touch.
fake_reset
dd if="$L" of=/dev/null bs=1M count=12 status=none
n=0
for _ in $(seq 1 50); do
	n=$(chunk_requests)
	[ "$n" -gt 8 ] && break
	sleep 0.1
done
check "a sequential reader of 2 planes had chunks fetched ahead ($n > 8)" test "$n" -gt 8
# let the read-ahead (prefetch=256 MiB) finish before counting again
last=-1
for _ in $(seq 1 60); do
	n=$(chunk_requests)
	[ "$n" -eq "$last" ] && break
	last=$n
	sleep 0.5
done
fake_reset
want=$("$PYTHON3" - "$L" <<'PY'
import os, random, sys
import tifffile
path = sys.argv[1]
with tifffile.TiffFile(path) as t:
    p = t.pages[0]
    d0, X, Y = p.dataoffsets[0], p.imagewidth, p.imagelength
fd = os.open(path, os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
rnd = random.Random(3)
chunks = set()
for _ in range(30):
    plane, y = rnd.randrange(100, 128), rnd.randrange(Y)
    x = rnd.randrange(0, X, 2048)  # page-aligned 4 KiB pieces of a row
    os.pread(fd, 4096, d0 + (plane * Y + y) * X * 2 + x * 2)
    chunks.add((plane, y // 1024, x // 1024))
    chunks.add((plane, y // 1024, (x + 2047) // 1024))
os.close(fd)
print(len(chunks))
PY
)
sleep 1
n=$(chunk_requests)
check "30 random reads fetched $n chunks, the $want they touch: no read-ahead" test "$n" -eq "$want"

# Coalescing: 8 readers at once wanting one chunk cause one request.
H4="$M/projects/idr0802-synth-pixels_experimentB/large/large 4 GiB.tif"
"$PYTHON3" -c 'import sys, tifffile; tifffile.TiffFile(sys.argv[1]).close()' "$H4"
sleep 0.5
fake_reset
"$PYTHON3" - "$H4" <<'PY'
import os, sys, threading
import tifffile
path = sys.argv[1]
with tifffile.TiffFile(path) as t:
    p = t.pages[0]
    d0, X, Y = p.dataoffsets[0], p.imagewidth, p.imagelength
off = d0 + 10 * X * Y * 2  # plane 10, row 0, x 0: one chunk
go = threading.Barrier(8)
def reader():
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    go.wait()
    os.pread(fd, 4096, off)
    os.close(fd)
ts = [threading.Thread(target=reader) for _ in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
PY
max=$(fake_get /__fake/stats | "$PYTHON3" -c '
import json, sys
s = json.load(sys.stdin)
chunks = [n for p, n in s["paths"].items() if "/2402.zarr/0/" in p and not p.endswith("zarray")]
print(max(chunks) if chunks else 0)')
check "8 concurrent readers of the same bytes: each chunk requested once ($max)" test "$max" -eq 1

# The persistent cache: a new daemon on the same cache makes no chunk
# request for what was read before.
umount_idrfs "$M"
check "remount on the same cache" mount_idrfs "$FAKE_URL" "$M" "$OPTS"
"$PYTHON3" -c 'import sys, tifffile; tifffile.TiffFile(sys.argv[1]).close()' "$L"
sleep 0.5
fake_reset
r=$(plane_check 37)
check "after a remount plane 37 is read from the cache ($r)" test "$r" = equal
check "after a remount no chunk is fetched" test "$(chunk_requests)" -eq 0

# Bad data: every body cut short. A read of chunks not yet cached fails
# with EIO, the daemon keeps serving, and nothing bad is cached.
C="$M/projects/idr0801-synth-listing_experimentA/names/Case.tif"
stat "$C" >/dev/null
fake_get "/__fake/config?truncate_rate=1" >/dev/null
out=$(timeout 60 "$PYTHON3" -c 'import sys; open(sys.argv[1], "rb").read()' "$C" 2>&1)
check "truncated chunks: the read fails with EIO" grep -q "Errno 5" <<<"$out"
check "truncated chunks: the daemon still serves README.txt" grep -q idrfs "$M/README.txt"
fake_get "/__fake/config?truncate_rate=0" >/dev/null
out=$(timeout 120 "$PYTHON3" "$top_srcdir/tests/check_pixels.py" "$M" "$FAKE_URL" 1212 2>&1)
check "after the server recovers, the same image reads right" grep -q "^ok" <<<"$out"

# Rendering needs the session cookie: expired sessions are renewed.
fake_get /__fake/expire_sessions >/dev/null
out=$(timeout 120 "$PYTHON3" "$top_srcdir/tests/check_pixels.py" "$M" "$FAKE_URL" 2202 2>&1)
check "an expired render session is renewed" grep -q "^ok" <<<"$out"
check "rendered files say so in their ImageJ Info" \
	grep -qaP "R\\x00E\\x00N\\x00D\\x00E\\x00R\\x00E\\x00D\\x00" "$M/projects/idr0802-synth-pixels_experimentB/rendered only/rendered-1.rendered.tif"

# Original files in the parallel tree originals/: names, subdirectories,
# sizes and bytes as on the download root, read by range requests.
O="$M/originals/projects/idr0802-synth-pixels_experimentB/originals"
R="${FAKE_URL}pub/databases/IDR/idr0802-synth-pixels"
img="$M/projects/idr0802-synth-pixels_experimentB/originals/sample_2301.tif"
check "sample_2301.ome.tif is sample_2301.tif (the extension not doubled)" test -f "$img"
check "user.idr.originals gives its directory" \
	test "$(getfattr --absolute-names --only-values -n user.idr.originals "$img" 2>/dev/null)" = \
	"originals/projects/idr0802-synth-pixels_experimentB/originals/sample_2301"
one="$O/sample_2301/sample_2301.ome.tif"
check "an image's originals/ directory holds its file" test -f "$one"
check "the original's size is the download root's" \
	test "$(stat -c %s "$one")" -eq "$(curl -sI "$R/sample_2301.ome.tif" | tr -d '\r' | sed -n 's/^Content-Length: //Ip')"
fake_reset
check "the original's bytes are the download root's" \
	cmp -s "$one" <(curl -s "$R/sample_2301.ome.tif")
ranged=$(fake_get /__fake/stats | "$PYTHON3" -c '
import json, sys
print(json.load(sys.stdin)["paths"].get("/pub/databases/IDR/idr0802-synth-pixels/sample_2301.ome.tif", 0))')
check "read in 1 MiB ranges: $ranged requests for a 3.1 MB file (4 + the reference download)" \
	test "$ranged" -eq 5
multi=$(ls "$O" | grep '\[series 0\]$')
check "a multi-file fileset keeps its subdirectories" \
	test "$(cd "$O/$multi" && find . -type f | sort | tr '\n' ' ')" = \
	"./data/run1_s0.ome.tif ./data/run1_s1.ome.tif ./run1.companion.ome "
check "a file in a subdirectory has the download root's bytes" \
	cmp -s "$O/$multi/data/run1_s1.ome.tif" <(curl -s "$R/multi/data/run1_s1.ome.tif")
check "tifffile opens an original OME-TIFF from the mount" \
	"$PYTHON3" -c 'import sys, tifffile; t = tifffile.TiffFile(sys.argv[1]); assert t.is_ome' "$one"
check "an image without original files has an empty directory" \
	test -z "$(ls "$M/originals/projects/idr0802-synth-pixels_experimentB/pixel types/type-uint8")"
check "copied originals keep working: rsync -a and tar of the tree exit 0" \
	bash -c "rsync -a '$O/' '$WORK/orig-copy/' && tar cf /dev/null -C '$O' ."
finish
