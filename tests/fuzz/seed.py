#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Assemble the seed corpora of the fuzz targets from tests/data.

usage: seed.py SRCDIR OUTDIR

Writes OUTDIR/<target>/ for the targets whose inputs are not plain files of
tests/data (fuzz_json reads tests/data/{api,search,idr-samples} as they are):

  fuzz_zarr_meta  every .zarray, .zattrs and zarr.json of tests/data/zarr
  fuzz_chunk      metadata + NUL + stored chunk, for each array's chunks
  fuzz_codec      codec id, decoded size (u32 LE), stream; PNGs with op 5
  fuzz_tiff       geometries in the input format of fuzz_tiff.c
  fuzz_name       limit byte + name
"""
import json
import os
import struct
import sys

CHUNKS_PER_ARRAY = 4
CODEC_IDS = {None: 0, "zlib": 1, "gzip": 2, "zstd": 3, "blosc": 4}
V3_SIZES = {"bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2,
            "int32": 4, "uint32": 4, "int64": 8, "uint64": 8,
            "float32": 4, "float64": 8}
META = (".zarray", ".zattrs", "zarr.json")


def write(outdir, target, name, data):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def arrays(zarr_root):
    """(directory, metadata file) of every array under zarr_root."""
    for d, _, files in sorted(os.walk(zarr_root)):
        for m in (".zarray", "zarr.json"):
            if m in files:
                yield d, os.path.join(d, m)


def chunks(d):
    """Stored chunks of the array in d (not those of arrays inside it)."""
    found = []
    for sub, dirs, files in os.walk(d):
        if sub != d and any(m in files for m in (".zarray", "zarr.json")):
            dirs[:] = []
            continue
        dirs.sort()
        for f in sorted(files):
            if f not in META:
                found.append(os.path.join(sub, f))
    return found[:CHUNKS_PER_ARRAY]


def codec_of(meta):
    """(codec id, decoded chunk bytes) when one plain codec encodes the
    chunks, else None."""
    try:
        m = json.loads(meta)
    except ValueError:
        return None
    n = 1
    if m.get("zarr_format") == 2:
        for c in m["chunks"]:
            n *= c
        dt = m["dtype"]
        n *= 1 if dt[1] == "b" else int(dt[2:])
        comp = m.get("compressor")
        cid = CODEC_IDS.get(comp["id"] if comp else None)
    else:
        for c in m["chunk_grid"]["configuration"]["chunk_shape"]:
            n *= c
        n *= V3_SIZES.get(m.get("data_type"), 1)
        names = [c["name"] for c in m["codecs"] if c["name"] != "bytes"]
        if len(names) > 1:
            return None
        cid = CODEC_IDS.get(names[0] if names else None)
    return None if cid is None else (cid, n)


def zarr_seeds(src, out):
    root = os.path.join(src, "tests", "data", "zarr")
    k = 0
    for d, _, files in os.walk(root):
        for f in files:
            if f in META:
                write(out, "fuzz_zarr_meta", "meta%03d" % k,
                      read(os.path.join(d, f)))
                k += 1
    k = 0
    for d, mfile in arrays(root):
        meta = read(mfile)
        codec = codec_of(meta)
        for c in chunks(d):
            body = read(c)
            write(out, "fuzz_chunk", "chunk%03d" % k, meta + b"\0" + body)
            if codec:
                write(out, "fuzz_codec", "codec%03d" % k,
                      struct.pack("<BI", codec[0], codec[1]) + body)
            k += 1
    png = os.path.join(root, "png")
    for i, f in enumerate(sorted(os.listdir(png))):
        write(out, "fuzz_codec", "png%02d" % i,
              struct.pack("<BI", 5, 0) + read(os.path.join(png, f)))
    write(out, "fuzz_codec", "other0", struct.pack("<BI", 6, 2) + b"x" * 64)


# x, y, c, z, t, bps index (1, 2, 4), flags (1 RGB, 2-4 format, 8 int8
# shifted, 16 rendered, 32 channels, 64 source type)
TIFF_GEOMS = [
    (64, 64, 1, 1, 1, 0, 0),
    (100, 70, 3, 2, 2, 1, 32 | 64),
    (513, 65, 2, 1, 3, 2, 4 | 32),      # float
    (33, 129, 3, 1, 1, 0, 1 | 16),      # rendered RGB
    (7, 200, 1, 1, 1, 0, 8),            # int8 shifted
    (1, 1, 1, 1, 16, 1, 2),             # int16 time series
    (70000, 70000, 1, 1, 1, 1, 0),      # one plane above 4 GiB
    (4294967295, 1, 1, 1, 1, 2, 0),     # widest row
    (16, 16, 16, 1 << 30, 1 << 30, 0, 0),  # z * t * c wraps 64 bits
    (1024, 1024, 4, 8, 8, 1, 32),
]


def tiff_seeds(out):
    for i, (x, y, c, z, t, bps, flags) in enumerate(TIFF_GEOMS):
        b = struct.pack("<5IBBB4dq", x, y, c, z, t, bps, flags, 4,
                        0.325, 0.325, 1.5, 0.0, 1000 + i)
        if flags & 32:
            for k in range(c):
                b += b"ch%d\0" % k + struct.pack("<3s2d", b"\xff\x00\x80",
                                                 0.0, 255.0)
        if flags & 64:
            b += b"double\0"
        b += "image \u00b5 <&> \"%d\"\0source\0".encode() % i
        # reads: head, pixels, a plane boundary, the end of the file
        for where in (0, 1, 2, 4):
            b += struct.pack("<BQII", where, 12345 * (i + 1), 70000, 999)
        write(out, "fuzz_tiff", "geom%02d" % i, b)


NAMES = [b"", b".", b"..", b"a/b", b"\x01\x1f\x7fctl", b"caf\xc3\xa9",
         b"\xc2\x9bc1", b"\xed\xa0\x80surrogate", b"\xc0\xafoverlong",
         b"\xf4\x90\x80\x80", b"x" * 300, b"\xe2\x82\xac" * 100, b".hidden",
         b"a\\b\"c", b"image [5].tif", b"images.tsv", b"\xff\xfe"]


def name_seeds(out):
    for i, n in enumerate(NAMES):
        for pick in (0, 1, 4, 130, 200, 255):
            write(out, "fuzz_name", "name%02d_%d" % (i, pick),
                  bytes([pick]) + n)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: seed.py SRCDIR OUTDIR")
    src, out = sys.argv[1], sys.argv[2]
    zarr_seeds(src, out)
    tiff_seeds(out)
    name_seeds(out)


if __name__ == "__main__":
    main()
