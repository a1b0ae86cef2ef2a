#!/usr/bin/python3
"""Write the Zarr and PNG fixtures of tests/test_zarr.c and tests/test_codec.c.

Run with Debian's interpreter (python3-zarr 2.13, python3-numcodecs 0.11,
python3-numpy) from anywhere:

    /usr/bin/python3 tests/data/zarr/make_fixtures.py

The outputs are committed; rerun only to change them. A rerun with the
same library versions rewrites the same bytes.

Every array has the same ground truth, which test_zarr.c recomputes: the
element at flat C-order index i of the whole array is

    integers of n bytes:  (i * K[n] + B[n]) mod 2**(8n), as two's complement
    float32:              i * 0.5 - 100.25
    float64:              i * 0.125 - 1234.5

and elements inside an array's "hole" box are set to the fill value (so
that whole chunks are all fill and their keys absent).

Zarr v2 arrays are written by zarr itself. zarr 2.13 cannot write v3, so v3
arrays are written here with the encoder of the fake IDR server
(tests/fake-idr/zarrstore.py: V3Store._encode_chunk and crc32c), and the
shards are assembled per the sharding_indexed spec, with the index at the
end or at the start.
"""

import json
import os
import shutil
import struct
import sys
import time
import types
import zlib

import numpy as np
import numcodecs
import zarr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in tests/fake-idr
sys.path.insert(0, os.path.join(HERE, "..", "..", "fake-idr"))
import zarrstore  # noqa: E402  (the fake server's v3 encoder)

# gzip headers record the time of writing (numcodecs' GZip leaves mtime
# unset, so Python's gzip asks time.time()); 0 means "no time" (RFC 1952)
# and makes reruns write the same bytes
time.time = lambda: 0.0

K = {1: 3, 2: 151, 4: 1000003, 8: 0x100000001}
B = {1: 100, 2: 40000, 4: 0xC0000000, 8: 0xF000000000000000}

SHAPE = (3, 11, 13)
CHUNKS = (2, 8, 8)


def truth(shape, dtype, fill, hole=None):
    """The ground truth array in the dtype (with its byte order)."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.uint64)
    if dt.kind in "iu":
        size = dt.itemsize
        with np.errstate(over="ignore"):
            raw = i * np.uint64(K[size]) + np.uint64(B[size])
        if size < 8:
            raw = raw & np.uint64((1 << (8 * size)) - 1)
        vals = raw.astype("<u%d" % size).view("<%s%d" % (dt.kind, size))
    elif dt.itemsize == 4:
        vals = (i.astype(np.float64) * 0.5 - 100.25).astype("<f4")
    else:
        vals = i.astype(np.float64) * 0.125 - 1234.5
    arr = vals.reshape(shape).astype(dt)
    if hole is not None:
        arr[tuple(slice(a, b) for a, b in hole)] = fill
    return arr


def reset(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)


# ---------------------------------------------------------------- Zarr v2

def v2(name, dtype, compressor, sep="/", fill=7, shape=SHAPE, chunks=CHUNKS,
       hole=None, write_empty=True, drop_sep=False):
    path = os.path.join(HERE, "v2", name)
    reset(path)
    store = zarr.DirectoryStore(path, dimension_separator=sep)
    arr = zarr.create(shape=shape, chunks=chunks, dtype=dtype, compressor=compressor,
                      fill_value=fill, order="C", filters=None, store=store,
                      dimension_separator=sep, write_empty_chunks=write_empty)
    arr[...] = truth(shape, dtype, fill, hole)
    if drop_sep:
        # the .zarray of zarr < 2.8 (NGFF 0.1) had no dimension_separator
        p = os.path.join(path, ".zarray")
        with open(p) as f:
            meta = json.load(f)
        meta.pop("dimension_separator", None)
        with open(p, "w") as f:
            json.dump(meta, f, indent=4, sort_keys=True)
    # zarr may write a .zattrs; the tests do not need it
    za = os.path.join(path, ".zattrs")
    if os.path.exists(za):
        os.remove(za)


def all_v2():
    shutil.rmtree(os.path.join(HERE, "v2"), ignore_errors=True)
    # blosc: every cname x shuffle, the typesize varying with the dtype
    kinds = ["<u2", ">i4", "<f4", ">f8", "<i2"]
    k = 0
    for cname in ["lz4", "lz4hc", "zstd", "zlib", "blosclz"]:
        for shuffle, sname in [(0, "noshuffle"), (1, "shuffle"), (2, "bitshuffle")]:
            dt = kinds[k % len(kinds)]
            k += 1
            v2("blosc_%s_%s" % (cname, sname), dt,
               numcodecs.Blosc(cname=cname, clevel=5, shuffle=shuffle, blocksize=0))
    # zlib: every dtype in both byte orders
    for dt in ["|i1", "|u1", "<u2", ">u2", "<i2", ">i2", "<i4", ">i4", "<u4", ">u4",
               "<f4", ">f4", "<f8", ">f8", "<i8", ">u8"]:
        name = "zlib_" + dt.replace("<", "le_").replace(">", "be_").replace("|", "")
        v2(name, dt, numcodecs.Zlib(level=6), sep="." if "be_" in name else "/")
    for dt in ["<u2", ">i4", ">f8"]:
        tag = dt.replace("<", "le_").replace(">", "be_")
        v2("gzip_" + tag, dt, numcodecs.GZip(level=5))
        v2("zstd_" + tag, dt, numcodecs.Zstd(level=3))
    v2("none_le_u2", "<u2", None)
    v2("none_be_i2", ">i2", None, sep=".")
    # NGFF 0.1 style: flat keys, no dimension_separator in .zarray
    v2("flat_nodimsep", ">u2", numcodecs.Zlib(level=1), sep=".", drop_sep=True)
    # an absent chunk: chunk (0,0,0) all fill, write_empty_chunks=False
    v2("missing", "<u2", numcodecs.Blosc(cname="lz4", clevel=5, shuffle=1), fill=1234,
       hole=((0, 2), (0, 8), (0, 8)), write_empty=False)
    # NaN fill: the edge padding is NaN
    v2("nan_fill", "<f4", numcodecs.Zlib(level=6), fill=float("nan"))
    # IDR-like 5-D tczyx, big-endian, nested keys
    v2("tczyx_be", ">u2", numcodecs.Blosc(cname="lz4", clevel=5, shuffle=1),
       shape=(1, 2, 3, 11, 13), chunks=(1, 1, 2, 8, 8))


# ---------------------------------------------------------------- Zarr v3

V3_NAMES = {"i1": "int8", "u1": "uint8", "i2": "int16", "u2": "uint16", "i4": "int32",
            "u4": "uint32", "i8": "int64", "u8": "uint64", "f4": "float32", "f8": "float64"}


def bytes_codec(dtype):
    e = "big" if np.dtype(dtype).byteorder == ">" else "little"
    return {"name": "bytes", "configuration": {"endian": e}}


def encode(chunk, codecs, fill):
    spec = types.SimpleNamespace(fill_value=fill)
    return zarrstore.V3Store._encode_chunk(None, spec, chunk, codecs)


def padded(full, corner, shape):
    """The chunk of shape `shape` at `corner`, padded (fill is set by caller)."""
    sel = tuple(slice(c, min(c + s, n)) for c, s, n in zip(corner, shape, full.shape))
    return full[sel]


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def v3(name, dtype, codecs, fill=7, chunks=CHUNKS, shard=None, inner_codecs=None,
       index_codecs=None, index_location="end", hole=None, keys="default", sep="/"):
    path = os.path.join(HERE, "v3", name)
    reset(path)
    dt = np.dtype(dtype)
    full = truth(SHAPE, dtype, fill, hole)
    outer = shard if shard else chunks
    if shard:
        conf = {"chunk_shape": list(chunks), "codecs": inner_codecs,
                "index_codecs": index_codecs}
        if index_location != "end":
            conf["index_location"] = index_location
        all_codecs = [{"name": "sharding_indexed", "configuration": conf}] + codecs
    else:
        all_codecs = codecs
    fjson = fill
    if isinstance(fill, float) and np.isnan(fill):
        fjson = "NaN"
    meta = {"zarr_format": 3, "node_type": "array", "shape": list(SHAPE),
            "data_type": V3_NAMES[dt.str[1:]],
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(outer)}},
            "chunk_key_encoding": {"name": keys, "configuration": {"separator": sep}},
            "fill_value": fjson, "codecs": all_codecs, "attributes": {},
            "dimension_names": ["z", "y", "x"], "storage_transformers": []}
    write(os.path.join(path, "zarr.json"), json.dumps(meta, indent=2).encode())

    def key(coords):
        if keys == "default":
            return "c" + sep + sep.join(str(c) for c in coords)
        return sep.join(str(c) for c in coords)

    def chunk_at(corner, shape):
        out = np.full(shape, fill, dtype=dt)
        part = padded(full, corner, shape)
        out[tuple(slice(0, s) for s in part.shape)] = part
        return out

    grid = [-(-n // c) for n, c in zip(SHAPE, outer)]
    for coords in np.ndindex(*grid):
        corner = [c * s for c, s in zip(coords, outer)]
        if not shard:
            data = encode(chunk_at(corner, chunks), codecs, fill)
            if data is not None:
                write(os.path.join(path, key(coords)), data)
            continue
        nper = [s // c for s, c in zip(shard, chunks)]
        nch = int(np.prod(nper))
        idx_size = 16 * nch + (4 if any(c["name"] == "crc32c" for c in index_codecs) else 0)
        base = idx_size if index_location == "start" else 0
        body, index = [], []
        off = base
        for q in np.ndindex(*nper):
            ic = [cn + qq * c for cn, qq, c in zip(corner, q, chunks)]
            enc = None
            if all(v < n for v, n in zip(ic, SHAPE)):
                enc = encode(chunk_at(ic, chunks), inner_codecs, fill)
            if enc is None:
                index.append((2 ** 64 - 1, 2 ** 64 - 1))
            else:
                index.append((off, len(enc)))
                body.append(enc)
                off += len(enc)
        if not body:
            continue
        idx = zarrstore.V3Store._encode_chunk_raw(None, np.array(index, dtype="<u8"),
                                                  index_codecs)
        assert len(idx) == idx_size
        data = (idx + b"".join(body)) if index_location == "start" else (b"".join(body) + idx)
        data = encode_outer(data, codecs)
        write(os.path.join(path, key(coords)), data)


def encode_outer(data, codecs):
    for cod in codecs:
        if cod["name"] == "crc32c":
            data = data + zarrstore.crc32c(data).to_bytes(4, "little")
        elif cod["name"] == "zstd":
            data = numcodecs.Zstd(level=cod["configuration"]["level"]).encode(data)
        else:
            raise ValueError(cod["name"])
    return bytes(data)


ZSTD = {"name": "zstd", "configuration": {"level": 0, "checksum": False}}
GZIP = {"name": "gzip", "configuration": {"level": 5}}
CRC = {"name": "crc32c"}
IDX = [{"name": "bytes", "configuration": {"endian": "little"}}, CRC]


def all_v3():
    shutil.rmtree(os.path.join(HERE, "v3"), ignore_errors=True)
    v3("zstd_le_u2", "<u2", [bytes_codec("<u2"), ZSTD])
    v3("gzip_be_i4", ">i4", [bytes_codec(">i4"), GZIP], hole=((0, 2), (8, 11), (8, 13)))
    v3("crc_le_f4", "<f4", [bytes_codec("<f4"), ZSTD, CRC], fill=-1.5)
    v3("raw_be_f8", ">f8", [bytes_codec(">f8")])
    v3("v2keys_u1", "|u1", [{"name": "bytes"}], keys="v2", sep=".")
    v3("shard_end", "<u2", [], chunks=(1, 8, 8), shard=(2, 16, 16),
       inner_codecs=[bytes_codec("<u2"), ZSTD], index_codecs=IDX,
       hole=((1, 2), (0, 8), (8, 13)), fill=5)
    v3("shard_start_be", ">i2", [], chunks=(1, 8, 8), shard=(2, 16, 16),
       inner_codecs=[bytes_codec(">i2"), GZIP],
       index_codecs=[{"name": "bytes", "configuration": {"endian": "little"}}],
       index_location="start")
    v3("shard_crc_inner", "<i4", [CRC], chunks=(2, 4, 8), shard=(2, 8, 16),
       inner_codecs=[bytes_codec("<i4"), ZSTD, CRC], index_codecs=IDX, fill=0)


# ---------------------------------------------------------------- PNG

def png_chunk(tag, data):
    return (struct.pack(">I", len(data)) + tag + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filt(rows, bpp, filters):
    """Apply PNG filters (type filters[y % len]) to unfiltered rows."""
    out = b""
    prev = bytes(len(rows[0]))
    for y, row in enumerate(rows):
        f = filters[y % len(filters)]
        line = bytearray()
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            # a filter type past 4 is written with no prediction (hostile)
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][f] if f <= 4 else 0
            line.append((x - pred) & 0xFF)
        out += bytes([f]) + bytes(line)
        prev = row
    return out


def png(w, h, ctype, rows, bpp, filters=(0, 1, 2, 3, 4), palette=None, split=1,
        depth=8, interlace=0, extra_raw=b"", drop_rows=0, iend=True, extra=None):
    raw = filt(rows, bpp, filters)
    if drop_rows:
        raw = raw[:len(raw) - drop_rows * (len(raw) // h)]
    raw += extra_raw
    z = zlib.compress(raw, 9)
    parts = [z[i * len(z) // split:(i + 1) * len(z) // split] for i in range(split)]
    out = b"\x89PNG\r\n\x1a\n"
    out += png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace))
    out += png_chunk(b"tEXt", b"Comment\x00idrfs fixture")
    if palette is not None:
        out += png_chunk(b"PLTE", b"".join(bytes(p) for p in palette))
    if extra is not None:
        out += extra
    for p in parts:
        out += png_chunk(b"IDAT", p)
    if iend:
        out += png_chunk(b"IEND", b"")
    return out


W, H = 13, 7


def px_rgb(x, y):
    return ((x * 37 + y * 11) & 255, (x * 5 + y * 29 + 7) & 255, (x * y * 3 + 100) & 255)


def px_grey(x, y):
    return (x * 23 + y * 41) & 255


def px_index(x, y):
    return (x + 2 * y) % 7


PALETTE = [((i * 30) & 255, (255 - i * 20) & 255, (i * i * 5) & 255) for i in range(7)]


def all_png():
    d = os.path.join(HERE, "png")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    rgb = [bytes(c for x in range(W) for c in px_rgb(x, y)) for y in range(H)]
    rgba = [bytes(c for x in range(W) for c in px_rgb(x, y) + ((x * 19) & 255,))
            for y in range(H)]
    grey = [bytes(px_grey(x, y) for x in range(W)) for y in range(H)]
    ga = [bytes(c for x in range(W) for c in (px_grey(x, y), 255 - x)) for y in range(H)]
    pal = [bytes(px_index(x, y) for x in range(W)) for y in range(H)]
    files = {
        "rgb.png": png(W, H, 2, rgb, 3),
        "rgb_split.png": png(W, H, 2, rgb, 3, filters=(4, 3, 2, 1, 0), split=3),
        "rgba.png": png(W, H, 6, rgba, 4),
        "grey.png": png(W, H, 0, grey, 1),
        "grey_alpha.png": png(W, H, 4, ga, 2),
        "palette.png": png(W, H, 3, pal, 1, palette=PALETTE),
        # hostile
        "bad_filter.png": png(W, H, 0, grey, 1, filters=(0, 5)),
        "depth16.png": png(W, H, 0, [r + r for r in grey], 2, depth=16),
        "depth4.png": png(W, H, 0, [r[:7] for r in grey], 1, depth=4),
        "interlaced.png": png(W, H, 2, rgb, 3, interlace=1),
        "short_stream.png": png(W, H, 2, rgb, 3, drop_rows=1),
        "long_stream.png": png(W, H, 2, rgb, 3, extra_raw=b"\x00" + rgb[0]),
        "palette_oob.png": png(W, H, 3, pal, 1, palette=PALETTE[:4]),
        "palette_missing.png": png(W, H, 3, pal, 1),
        "no_iend.png": png(W, H, 2, rgb, 3, iend=False),
        "critical_chunk.png": png(W, H, 2, rgb, 3, extra=png_chunk(b"ABCD", b"x")),
    }
    good = files["rgb.png"]
    bad = bytearray(good)
    bad[-13] ^= 0x01          # last byte of the IDAT CRC (before the 12-byte IEND)
    files["bad_crc.png"] = bytes(bad)
    # cut inside the IDAT data
    ihdr_end = 8 + 25
    files["truncated_idat.png"] = good[:len(good) - 12 - 4 - 20]
    files["bad_signature.png"] = b"\x89PNH" + good[4:]
    files["ihdr_not_first.png"] = (good[:8] + png_chunk(b"tEXt", b"a\x00b")
                                   + good[8:])
    assert ihdr_end < len(good)
    for name, data in files.items():
        write(os.path.join(d, name), data)


def main():
    all_v2()
    all_v3()
    all_png()


if __name__ == "__main__":
    main()
