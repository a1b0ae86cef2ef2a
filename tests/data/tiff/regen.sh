#!/bin/sh
# SPDX-License-Identifier: MIT
# Regenerate golden_small.tif from the current src/tiff.c and show what the
# readers make of it; freeze the new file only after reading this output.
# Usage: tests/data/tiff/regen.sh BUILD_DIR   (after make tests/test_tiff)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: regen.sh BUILD_DIR}
out="$here/golden_small.tif"

IDRFS_TIFF_GOLDEN_OUT="$out" "$build/tests/test_tiff" >/dev/null
tiffdump "$out"
tiffinfo "$out" 2>&1 | sed -n 1,30p
/usr/bin/python3 - "$out" <<'PY'
import sys
import tifffile
t = tifffile.TiffFile(sys.argv[1])
s = t.series[0]
print(s.kind, s.shape, s.axes, s.dtype, t.is_ome, t.is_imagej)
md = dict(t.imagej_metadata)
print({k: v for k, v in md.items() if k != "LUTs"})
print("LUT ends:", [lut[:, 255].tolist() for lut in md.get("LUTs", [])])
print(s.asarray())
PY
