#!/bin/bash
# SPDX-License-Identifier: MIT
# Hostile chunk shapes through the mount. A Zarr array (-o zarr_url=) of
# tall narrow chunks, 32 MiB each, 16 of them under every row of the
# 4096 x 4096 uint16 image: one 128 KiB read needs them all. Whether the
# server has none of them (404: the fill value) or all of them, the
# daemon's peak RSS stays under its memory budget (mem=, 128 MiB by
# default) plus 64 MiB,
# and the pixels are right. A chunk larger than the whole budget fails
# its reads with EIO and a log line naming the array, and the daemon goes
# on serving.
. "$(dirname "$0")/lib.sh"
need_fuse

BUDGET_KB=$((128 * 1024))
# what of mem= the chunk table may hold: all but 16 MiB (app.c)
CHUNKS_BYTES=$(((128 - 16) << 20))
# under AddressSanitizer (quarantine, shadow memory) the resident size
# says nothing about ours: the RSS checks are skipped there
rss_ok() {
	if ldd "$IDRFS" 2>/dev/null | grep -q libasan; then
		echo "# ASan build: peak RSS $1 kB not checked"
		return 0
	fi
	test "$1" -lt $((BUDGET_KB + 65536))
}
S="$WORK/static"
mkdir -p "$S"
# Two arrays of the shape of image 2402 ([t, c, z, y, x] = [1, 3, 44,
# 4096, 4096] uint16, fill 3): tall.zarr in 65536 x 256 chunks (32 MiB),
# with zlib chunks for plane z=1 only (chunk x holds 100 * (x + 1));
# huge.zarr in 131072 x 512 chunks (128 MiB: more than the budget can
# load).
"$PYTHON3" - "$S" <<'PY'
import json, os, sys, zlib
import numpy as np
root = sys.argv[1]
def array(name, cy, cx):
    d = os.path.join(root, name, "0")
    os.makedirs(d)
    with open(os.path.join(root, name, ".zattrs"), "w") as f:
        json.dump({"multiscales": [{"version": "0.4",
            "axes": [{"name": a} for a in "tczyx"],
            "datasets": [{"path": "0", "coordinateTransformations":
                          [{"type": "scale", "scale": [1, 1, 1, 1, 1]}]}]}]}, f)
    with open(os.path.join(d, ".zarray"), "w") as f:
        json.dump({"zarr_format": 2, "shape": [1, 3, 44, 4096, 4096],
                   "chunks": [1, 1, 1, cy, cx], "dtype": "<u2",
                   "compressor": {"id": "zlib", "level": 1}, "fill_value": 3,
                   "order": "C", "filters": None,
                   "dimension_separator": "/"}, f)
    return d
d = array("tall.zarr", 65536, 256)
for cx in range(16):
    p = os.path.join(d, "0", "0", "1", "0")
    os.makedirs(p, exist_ok=True)
    raw = np.full((65536, 256), 100 * (cx + 1), "<u2").tobytes()
    with open(os.path.join(p, str(cx)), "wb") as f:
        f.write(zlib.compress(raw, 1))
array("huge.zarr", 131072, 512)
PY

start_fake --static "$S" || exit 1
M="$WORK/mnt"
L="$M/projects/idr0802-synth-pixels_experimentB/large/large 4 GiB.tif"
hwm_kb() {
	sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"
}
# read_rows PLANE: 128 KiB at the start of a plane (16 rows), checked
# against what the array holds; prints "ok" or what differs
read_rows() {
	timeout 120 "$PYTHON3" - "$L" "$1" <<'PY'
import os, sys
import numpy as np, tifffile
path, plane = sys.argv[1], int(sys.argv[2])
with tifffile.TiffFile(path) as t:
    p = t.pages[0]
    d0, X, Y = p.dataoffsets[0], p.imagewidth, p.imagelength
fd = os.open(path, os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
try:
    buf = os.pread(fd, 128 << 10, d0 + plane * X * Y * 2)
except OSError as e:
    print("error", e.errno)
    sys.exit(0)
got = np.frombuffer(buf, "<u2").reshape(16, X)
if plane == 3:  # z=1, c=0: the chunks the server has
    want = np.repeat(100 * (np.arange(16) + 1), 256).astype("<u2")
else:
    want = np.full(X, 3, "<u2")
print("ok" if (got == want).all() else "differ %r" % got[0, ::256])
PY
}

# (a deadline of 90 s: one read loads 512 MiB of chunks the Python server
# makes, under a 112 MiB budget; 30 s was missed on a loaded machine)
check "mount the tall array" mount_idrfs "$FAKE_URL" "$M" \
	"zarr_url=${FAKE_URL}static/tall.zarr,timeout=90"
pid=${IDRFS_PIDS##* }
"$PYTHON3" -c 'import sys, tifffile; tifffile.TiffFile(sys.argv[1]).close()' "$L"
h0=$(hwm_kb "$pid")
r=$(read_rows 0)
h1=$(hwm_kb "$pid")
check "128 KiB over 16 absent chunks of 32 MiB: the fill value ($r)" test "$r" = ok
echo "# daemon peak RSS: $h0 kB after open, $h1 kB after the read of absent chunks"
check "peak RSS $h1 kB < budget + 64 MiB" rss_ok "$h1"
r=$(read_rows 3)
h2=$(hwm_kb "$pid")
check "128 KiB over 16 chunks of 32 MiB the server has: their pixels ($r)" test "$r" = ok
echo "# daemon peak RSS: $h2 kB after the read of 16 x 32 MiB of chunks"
check "peak RSS $h2 kB < budget + 64 MiB" rss_ok "$h2"
check "the daemon still serves README.txt" grep -q idrfs "$M/README.txt"
umount_idrfs "$M"

check "mount the array of 128 MiB chunks" mount_idrfs "$FAKE_URL" "$M" \
	"zarr_url=${FAKE_URL}static/huge.zarr"
pid=${IDRFS_PIDS##* }
r=$(read_rows 0)
check "a chunk larger than the memory budget: EIO ($r)" test "$r" = "error 5"
check "the log names the array and the budget" \
	grep -q "huge.zarr/0\".*memory budget of $CHUNKS_BYTES bytes" "$WORK/idrfs.log"
h3=$(hwm_kb "$pid")
check "peak RSS $h3 kB < budget + 64 MiB" rss_ok "$h3"
check "the daemon still serves README.txt" grep -q idrfs "$M/README.txt"
finish
