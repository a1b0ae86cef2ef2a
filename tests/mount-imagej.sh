#!/bin/bash
# SPDX-License-Identifier: MIT
# Headless ImageJ 1.x (Debian's imagej, under Xvfb) opens a .tif from the
# mount through the real File>Open path: a hyperstack with the right
# C/Z/T, bit depth, calibration, channel LUTs and pixel values.
. "$(dirname "$0")/lib.sh"
need_fuse
if [ ! -f /usr/share/java/ij.jar ] || ! command -v xvfb-run >/dev/null ||
	! command -v java >/dev/null; then
	echo "SKIP: imagej, xvfb-run or java is missing"
	exit 77
fi

start_fake || exit 1
M="$WORK/mnt"
check "mount the fake server" mount_idrfs "$FAKE_URL" "$M" s3_scheme=http
D="$M/projects/idr0802-synth-pixels_experimentB"

cat >"$WORK/info.ijm" <<'IJM'
path = getArgument();
setBatchMode(true);
open(path);
getDimensions(w, h, c, z, t);
getPixelSize(unit, pw, ph, pd);
print("dims " + w + " " + h + " " + c + " " + z + " " + t);
print("bits " + bitDepth());
print("hyper " + Stack.isHyperstack);
print("cal " + pw + " " + ph + " " + pd + " " + unit);
Stack.getUnits(x, y, zu, tu, vu);
print("finterval " + Stack.getFrameInterval());
for (i = 1; i <= c; i++) {
	Stack.setPosition(i, z, t);
	getLut(r, g, b);
	print("chan " + i + " lut " + r[255] + " " + g[255] + " " + b[255]);
	print("px " + i + " " + getPixel(0, 0) + " " + getPixel(w - 1, h - 1) + " " + getValue(w - 1, h - 1));
}
IJM

# ImageJ's answers, and what the archive says they must be
ij() {
	timeout 120 xvfb-run -a java -Xmx1g -cp /usr/share/java/ij.jar \
		ij.ImageJ -batch "$WORK/info.ijm" "$1" 2>&1
}
expect() {
	"$PYTHON3" - "$top_srcdir" "$@" <<'PY'
import os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "tests", "fake-idr"))
import archive
a = archive.build(1)
img = a.images[int(sys.argv[2])]
bits = {"uint8": 8, "int8": 8, "uint16": 16, "int16": 16}.get(img.ptype, 32)
print("dims %d %d %d %d %d" % (img.sx, img.sy, img.sc, img.sz, img.st))
print("bits %d" % bits)
print("hyper 1")
for c in range(img.sc):
    v0 = archive.pixel(a, img.id, 0, img.st - 1, c, img.sz - 1, 0, 0)
    v1 = archive.pixel(a, img.id, 0, img.st - 1, c, img.sz - 1, img.sy - 1, img.sx - 1)
    if img.ptype == "int8":
        v0 = int(v0) + 128
        v1 = int(v1) + 128
    if img.ptype == "int16":
        v0 = int(v0) + 32768
        v1 = int(v1) + 32768
    print("px %d %d %d" % (c + 1, int(v0), int(v1)))
print("physx %s" % img.phys[0])
PY
}

for id_name in "2004:pixel types/type-uint16.tif" "2002:pixel types/type-uint8.tif" \
	"2001:pixel types/type-int8.tif" "2108:zarr variants"; do
	id=${id_name%%:*}
	f=${id_name#*:}
	if [ "$id" = 2108 ]; then
		name=$("$PYTHON3" -c "import sys; sys.path.insert(0, '$top_srcdir/tests/fake-idr'); import archive; print(archive.build(1).images[2108].name)")
		f="zarr variants/$name.tif"
	fi
	out=$(ij "$D/$f")
	want=$(expect "$id")
	got_dims=$(grep '^dims ' <<<"$out")
	check "ImageJ opens $f as $(grep '^dims ' <<<"$want" | cut -c6-) (w h c z t)" \
		test "$got_dims" = "$(grep '^dims ' <<<"$want")"
	check "ImageJ: $f bit depth $(grep '^bits' <<<"$want" | cut -c6-)" \
		test "$(grep '^bits ' <<<"$out")" = "$(grep '^bits ' <<<"$want")"
	c=$(grep '^dims ' <<<"$want" | cut -d' ' -f4)
	z=$(grep '^dims ' <<<"$want" | cut -d' ' -f5)
	t=$(grep '^dims ' <<<"$want" | cut -d' ' -f6)
	if [ $((c * z * t)) -gt 1 ]; then
		check "ImageJ: $f is a hyperstack" grep -q '^hyper 1' <<<"$out"
	fi
	while read -r line; do
		ch=$(cut -d' ' -f2 <<<"$line")
		gotpx=$(grep "^px $ch " <<<"$out" | cut -d' ' -f1-4)
		check "ImageJ: $f channel $ch corner pixels ($line)" test "$gotpx" = "$line"
	done < <(grep '^px ' <<<"$want")
	physx=$(grep '^physx ' <<<"$want" | cut -d' ' -f2)
	if [ "$physx" != None ]; then
		check "ImageJ: $f calibrated in microns, $physx per pixel" \
			grep -Eq "^cal $physx $physx .* micron" <<<"$out"
	fi
	[ "$T_FAIL" -eq 0 ] || { echo "# ImageJ said:"; sed 's/^/#   /' <<<"$out"; }
done
out=$(ij "$D/pixel types/type-uint16.tif")
want=$(fake_get /webgateway/imgData/2004/ | "$PYTHON3" -c '
import json, sys
for i, ch in enumerate(json.load(sys.stdin)["channels"]):
    c = ch["color"]
    print("chan %d lut %d %d %d" % (i + 1, int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)))')
check "ImageJ: channel LUTs are the archive's colours ($(tr '\n' ';' <<<"$want"))" \
	test "$(grep '^chan ' <<<"$out")" = "$want"
finish
