#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Check an .ome.tif written by test_tiff_ome against the synthetic source.

usage: check_tiff_ome.py FILE DTYPE X Y C Z T NLEVELS XSD

Asserts: tifffile reads it as an OME pyramid of NLEVELS levels with
the floor-halved shapes, every level's pixels equal the test's f(level,
plane, x, y) bit for bit, tiffinfo, tiffinfo -D, tiffdump and tiffcp print
nothing on stderr, and the OME-XML validates against XSD (when present).
Exits 0 or prints what failed and exits 1.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import tifffile

TILE = 1024


def expected(dtype, level, c, z, t, lx, ly):
    """f(level, plane, x, y) of tests/test_tiff_ome.c, as (T, Z, C, Y, X)."""
    tt, zz, cc, yy, xx = np.meshgrid(np.arange(t, dtype=np.uint64),
                                     np.arange(z, dtype=np.uint64),
                                     np.arange(c, dtype=np.uint64),
                                     np.arange(ly, dtype=np.uint64),
                                     np.arange(lx, dtype=np.uint64),
                                     indexing="ij")
    plane = cc + np.uint64(c) * (zz + np.uint64(z) * tt)
    h = (np.uint64(level) * np.uint64(1000003) + plane * np.uint64(10007) +
         yy * np.uint64(131) + xx * np.uint64(7))
    if dtype == "float32":
        return ((h % np.uint64(100000)).astype(np.float64) / 4).astype(
            np.float32)
    if dtype == "float64":
        return h.astype(np.float64) * 0.5
    return h.astype(dtype)


def run_quiet(argv, errors):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       check=False)
    if p.returncode != 0 or p.stderr:
        errors.append("%s: rc=%d stderr=%r" %
                      (" ".join(argv), p.returncode, p.stderr[:500]))
    return p


def main():
    path, dtype = sys.argv[1], sys.argv[2]
    x, y, c, z, t, nlevels = (int(v) for v in sys.argv[3:9])
    xsd = sys.argv[9]
    errors = []

    with tifffile.TiffFile(path) as tif:
        if not tif.is_ome or not tif.is_bigtiff:
            errors.append("not an OME BigTIFF")
        s = tif.series[0]
        if len(s.levels) != nlevels:
            errors.append("levels %d, want %d" % (len(s.levels), nlevels))
        lx, ly = x, y
        for k, lev in enumerate(s.levels):
            if k:
                lx, ly = max(1, lx // 2), max(1, ly // 2)
            if lev.dtype != np.dtype(dtype):
                errors.append("level %d dtype %s" % (k, lev.dtype))
            if lev.shape[-2:] != (ly, lx):
                errors.append("level %d shape %s, want %dx%d" %
                              (k, lev.shape, ly, lx))
                continue
            got = lev.asarray().reshape(t, z, c, ly, lx)
            want = expected(dtype, k, c, z, t, lx, ly)
            if got.tobytes() != want.tobytes():
                bad = np.argwhere(got.view(np.uint8).reshape(-1) !=
                                  want.view(np.uint8).reshape(-1))
                errors.append("level %d pixels differ (%d bytes, first %s)"
                              % (k, len(bad), bad[:1].tolist()))
        xml = tif.pages[0].description
        if not xml.endswith("</OME>"):
            errors.append("description is not OME-XML")

    run_quiet(["tiffinfo", path], errors)
    run_quiet(["tiffinfo", "-D", path], errors)
    run_quiet(["tiffdump", path], errors)
    with tempfile.TemporaryDirectory() as d:
        run_quiet(["tiffcp", path, os.path.join(d, "copy.tif")], errors)
        if os.path.exists(xsd):
            xf = os.path.join(d, "ome.xml")
            with open(xf, "w", encoding="utf-8") as fh:
                fh.write(xml)
            p = subprocess.run(["xmllint", "--noout", "--schema", xsd, xf],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, check=False)
            if p.returncode != 0:
                errors.append("xmllint: %r" % p.stderr[-800:])
        else:
            print("note: no schema at %s, OME-XML not validated" % xsd)

    for e in errors:
        print("%s: %s" % (path, e))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
