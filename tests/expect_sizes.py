#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check image file sizes in a mounted dataset tree against an independent
implementation of the virtual TIFF layout of FORMATS.md section 2 (as
idrfs's tiff module documents it): head reserved and aligned to 4 KiB,
planes in CZT order, tail IFDs at a fixed stride, ImageJ's single-IFD form
above 4 GiB. Reads the fake server's /__fake/archive JSON on stdin and a
project directory as argv[1]; prints one line per mismatch."""
import json
import os
import sys

BPS = {"int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4,
       "uint32": 4, "float": 4, "double": 4}


def align(v, a):
    return (v + a - 1) // a * a


def tiff_size(x, y, c, z, t, bps, samples):
    planes = z * t * (1 if samples == 3 else c)
    plane = x * y * bps * samples
    rps = min(y, 64)
    strips = (y + rps - 1) // rps
    arrays = 8 * strips if strips > 1 else 0
    d0 = align(8 + 2 + 12 * 18 + 4 + 16 + arrays + 16384 + 2048 * c, 4096)
    if planes == 1:
        size = d0 + plane
    else:
        t0 = align(d0 + planes * plane, 8)
        i0 = t0 + 16 + (4 * strips if strips > 1 else 0)
        s1 = align(2 + 12 * 14 + 4 + (4 * strips if strips > 1 else 0), 8)
        size = i0 + (planes - 1) * s1
    if size > 0xffffffff:
        size = d0 + planes * plane
    return size


def image_stem(name):
    """An image's name as idrfs shows it, before .tif: '/' made safe, a
    trailing .tif/.tiff/.ome.tif/.ome.tiff/.ome dropped, no leading '.'."""
    s = name.replace("/", "_")
    for ext in (".ome.tiff", ".ome.tif", ".tiff", ".tif", ".ome"):
        if len(s) > len(ext) and s.lower().endswith(ext):
            s = s[:-len(ext)]
            break
    n = len(s) - len(s.lstrip("."))
    return "_" * n + s[n:]


def images(node):
    """Every image dict below node, with the dataset it belongs to."""
    for ds in node.get("datasets", []):
        for img in ds.get("images", []):
            yield ds, img


def main():
    archive = json.load(sys.stdin)
    root = sys.argv[1]
    proj = os.path.basename(root)
    bad = []
    found = 0
    for p in archive["projects"]:
        if p["name"].replace("/", "_") != proj:
            continue
        for ds, img in images(p):
            rendered = img.get("source") != "zarr"
            ext = ".rendered.tif" if rendered else ".tif"
            path = os.path.join(root, ds["name"].replace("/", "_"),
                                image_stem(img["name"]) + ext)
            want = tiff_size(img["sizeX"], img["sizeY"], img["sizeC"],
                             img["sizeZ"], img["sizeT"],
                             1 if rendered else BPS[img["pixelType"]],
                             3 if rendered else 1)
            try:
                got = os.stat(path).st_size
            except OSError as e:
                bad.append("%s: %s" % (path, e.strerror))
                continue
            found += 1
            if got != want:
                bad.append("%s: size %d, want %d" % (path, got, want))
    if found == 0:
        bad.append("no image of %s found in the archive" % proj)
    print("; ".join(bad))


if __name__ == "__main__":
    main()
