"""OME-Zarr stores of the fake IDR bucket (served under /idr/zarr/...).

Zarr v2 metadata is always written by the real zarr library (python3-zarr
2.13).  Small stores are written whole (metadata and chunks) into the data
directory with zarr and served from disk.  Big ones are lazy: zarr writes
their metadata into an in-memory store, and a chunk is encoded on request
from the ground truth with the array's own codec (Array._encode_chunk, the
same call zarr uses when it writes), so the bytes equal what zarr would
have written.

zarr-python 2.13 cannot write Zarr v3, so v3 stores (zarr.json, NGFF 0.5)
are written here following the Zarr v3 core spec and the sharding_indexed
codec spec; zstd and gzip come from numcodecs, crc32c is implemented below
(numcodecs 0.11 has no crc32c codec).
"""

import hashlib
import itertools
import json
import os
import re
import shutil
import threading
from collections import OrderedDict

import numpy as np
import numcodecs
import zarr
from zarr.util import json_dumps as zarr_json_dumps

import archive

AXIS_INFO = {"t": ("time", "second"), "c": ("channel", None), "z": ("space", "micrometer"),
             "y": ("space", "micrometer"), "x": ("space", "micrometer")}


# ---------------------------------------------------------------- crc32c

def _crc32c_table():
    poly = 0x82F63B78
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli), as the Zarr v3 crc32c codec uses."""
    crc = 0xFFFFFFFF
    t = _CRC32C
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# ---------------------------------------------------------------- helpers

def _shape(img, spec, level):
    sx, sy = img.levels[level]
    size = {"t": img.st, "c": img.sc, "z": img.sz, "y": sy, "x": sx}
    return tuple(size[a] for a in spec.axes)


def _chunks(spec, chunk_yx):
    return tuple(chunk_yx[0] if a == "y" else chunk_yx[1] if a == "x" else 1
                 for a in spec.axes)


def _scale(img, spec, level):
    px, py, pz = img.phys
    f = float(1 << level)
    s = {"t": 1.0, "c": 1.0, "z": pz or 1.0, "y": (py or 1.0) * f, "x": (px or 1.0) * f}
    return [s[a] for a in spec.axes]


def _axes_json(img, spec):
    out = []
    for a in spec.axes:
        typ, unit = AXIS_INFO[a]
        d = {"name": a, "type": typ}
        if a == "t":
            d["unit"] = unit
        elif a in "yx" and img.phys[0] is not None:
            d["unit"] = unit
        elif a == "z" and img.phys[2] is not None:
            d["unit"] = unit
        out.append(d)
    return out


def omero_block(arch, img, version):
    win = archive.windows(arch, img.id)
    chans = []
    for c, (name, color, _em) in enumerate(img.chans):
        mn, mx, start, end = win[c]
        chans.append({"active": True, "coefficient": 1, "color": color, "family": "linear",
                      "inverted": False, "label": name if name else str(c),
                      "window": {"end": end, "max": mx, "min": mn, "start": start}})
    return {"id": img.id, "name": img.name, "version": version, "channels": chans,
            "rdefs": {"defaultT": 0, "defaultZ": img.sz // 2, "model": "color"}}


def multiscales(arch, img, spec):
    if spec.ngff == "0.1":
        return {"multiscales": [{"version": "0.1", "name": "default",
                                 "datasets": [{"path": str(l)} for l in range(len(img.levels))]}],
                "omero": omero_block(arch, img, "0.1")}
    ms = {"name": img.name, "axes": _axes_json(img, spec),
          "datasets": [{"path": str(l), "coordinateTransformations": [
              {"type": "scale", "scale": _scale(img, spec, l)}]} for l in range(len(img.levels))]}
    if spec.ngff == "0.5":
        return {"ome": {"version": "0.5", "multiscales": [ms],
                        "omero": omero_block(arch, img, "0.5")}}
    ms["version"] = spec.ngff
    return {"multiscales": [ms], "omero": omero_block(arch, img, spec.ngff),
            "_creator": {"name": "omero-zarr", "version": "0.5.2"}}


def chunk_truth(arch, img, spec, level, coords, chunk_yx):
    """The decoded chunk (full chunk shape, edges padded with fill_value)."""
    chunks = _chunks(spec, chunk_yx)
    pos = dict(zip(spec.axes, coords))
    t, c, z = pos.get("t", 0), pos.get("c", 0), pos.get("z", 0)
    cy, cx = chunk_yx
    y0, x0 = pos["y"] * cy, pos["x"] * cx
    dt = np.dtype(spec.dtype)
    out = np.full((cy, cx), spec.fill_value, dtype=dt)
    data = archive.region(arch, img, level, t, c, z, y0, y0 + cy, x0, x0 + cx)
    out[:data.shape[0], :data.shape[1]] = data
    return out.reshape(chunks)


def _in_grid(shape, chunks, coords):
    if len(coords) != len(shape):
        return False
    for n, ch, i in zip(shape, chunks, coords):
        if i < 0 or i * ch >= n:
            return False
    return True


# ---------------------------------------------------------------- stores

class Store:
    """One .zarr store (an image, or a whole plate)."""

    def __init__(self, mgr, root, images):
        self.mgr = mgr
        self.root = root            # URL path without leading slash
        self.images = images        # list of image ids in this store
        self.lock = threading.Lock()
        self.built = False
        self.meta = {}              # key -> bytes (lazy stores)
        self.arrays = {}            # array path -> (img, level, zarr Array or None)
        self.eager = False

    @property
    def disk(self):
        return os.path.join(self.mgr.data_dir, self.root)

    def ensure(self):
        if self.built:
            return
        with self.lock:
            if not self.built:
                self.build()
                self.built = True

    def array_for(self, key):
        """(array path, chunk key) for a chunk key, or (None, None)."""
        best = None
        for ap in self.arrays:
            if key.startswith(ap + "/") and (best is None or len(ap) > len(best)):
                best = ap
        if best is None:
            return None, None
        return best, key[len(best) + 1:]

    def classify(self, key):
        """Pattern of a key for statistics."""
        base = key.rsplit("/", 1)[-1]
        if base in (".zarray", ".zattrs", ".zgroup", "zarr.json"):
            return _numeric(key)
        ap, _ = self.array_for(key)
        if ap is not None:
            return _numeric(ap) + "/{chunk}"
        return _numeric(key)


def _numeric(path):
    return "/".join("{id}" if s.isdigit() else s for s in path.split("/"))


class V2Store(Store):
    def build(self):
        arch = self.mgr.arch
        first = arch.images[self.images[0]]
        self.eager = not first.zarr.lazy
        plate = first.zarr.group != "" and not first.zarr.b2r
        if self.eager:
            shutil.rmtree(self.disk, ignore_errors=True)
            os.makedirs(self.disk, exist_ok=True)
            store = zarr.DirectoryStore(self.disk, dimension_separator=first.zarr.sep)
        else:
            store = {}
        root = zarr.group(store=store, overwrite=True)
        if plate:
            self._plate_meta(root)
        if first.zarr.b2r:
            # bioformats2raw's layout: series groups 0, 1, ... and OME/
            root.attrs.put({"bioformats2raw.layout": 3})
            ome = root.require_group("OME")
            ome.attrs.put({"series": [arch.images[i].zarr.group for i in self.images]})
            store["OME/METADATA.ome.xml"] = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<OME xmlns="http://www.openmicroscopy.org/'
                'Schemas/OME/2016-06"/>\n').encode()
        for iid in self.images:
            img = arch.images[iid]
            spec = img.zarr
            grp = root.require_group(spec.group) if spec.group else root
            grp.attrs.put(multiscales(arch, img, spec))
            comp = numcodecs.get_codec(dict(spec.compressor)) if spec.compressor else None
            for level in range(len(img.levels)):
                shape = _shape(img, spec, level)
                arr = grp.create_dataset(str(level), shape=shape, chunks=_chunks(spec, spec.chunk_yx),
                                         dtype=spec.dtype, compressor=comp,
                                         fill_value=spec.fill_value, order="C", filters=None,
                                         dimension_separator=spec.sep,
                                         write_empty_chunks=spec.write_empty)
                ap = (spec.group + "/" if spec.group else "") + str(level)
                self.arrays[ap] = (img, level, arr)
                if self.eager:
                    arr[...] = self._full(arch, img, spec, level, shape)
                    if spec.drop_dimsep:
                        self._drop_dimsep(ap)
        if not self.eager:
            self.meta = {k: bytes(v) for k, v in store.items()}

    def keys(self):
        """Every key of a lazy store: metadata, then each chunk of each
        array (a converted fileset lists them all)."""
        self.ensure()
        out = sorted(self.meta)
        for ap, (img, level, arr) in sorted(self.arrays.items()):
            grid = [range(-(-n // c)) for n, c in zip(arr.shape, arr.chunks)]
            for coords in itertools.product(*grid):
                out.append(ap + "/" + img.zarr.sep.join(str(c) for c in coords))
        return out

    def _full(self, arch, img, spec, level, shape):
        full = np.empty((img.st, img.sc, img.sz) + tuple(reversed(img.levels[level])),
                        dtype=np.dtype(spec.dtype))
        for t in range(img.st):
            for c in range(img.sc):
                for z in range(img.sz):
                    full[t, c, z] = archive.plane(arch, img.id, level, t, c, z)
        keep = tuple(slice(None) if a in spec.axes else 0 for a in "tczyx")
        return full[keep].reshape(shape)

    def _drop_dimsep(self, ap):
        # NGFF 0.1-era .zarray (zarr < 2.8) had no dimension_separator key
        p = os.path.join(self.disk, ap, ".zarray")
        with open(p) as f:
            meta = json.load(f)
        meta.pop("dimension_separator", None)
        with open(p, "wb") as f:
            f.write(zarr_json_dumps(meta))

    def _plate_meta(self, root):
        arch = self.mgr.arch
        pl = arch.plates[self.mgr.plate_of_store[self.root]]
        rows = "ABCDEFGH"[:pl.rows]
        wells = [arch.wells[w] for w in pl.well_ids]
        root.attrs.put({"plate": {
            "version": "0.4", "name": pl.name, "field_count": pl.nfields,
            "rows": [{"name": r} for r in rows],
            "columns": [{"name": str(c + 1)} for c in range(pl.columns)],
            "wells": [{"path": "%s/%d" % (rows[w.row], w.column + 1), "rowIndex": w.row,
                       "columnIndex": w.column} for w in wells],
            "acquisitions": []}})
        for w in wells:
            g = root.require_group("%s/%d" % (rows[w.row], w.column + 1))
            g.attrs.put({"well": {"version": "0.4",
                                  "images": [{"path": str(f)} for f in range(len(w.fields))]}})

    def get(self, key):
        self.ensure()
        if self.eager:
            p = os.path.join(self.disk, key)
            if ".." in key.split("/") or not os.path.isfile(p):
                return None
            with open(p, "rb") as f:
                return f.read()
        if key in self.meta:
            return self.meta[key]
        ap, ck = self.array_for(key)
        if ap is None or not ck:
            return None
        img, level, arr = self.arrays[ap]
        spec = img.zarr
        parts = ck.split(spec.sep)
        if any(not s.isdigit() for s in parts):
            return None
        coords = tuple(int(s) for s in parts)
        if not _in_grid(arr.shape, arr.chunks, coords):
            return None
        chunk = chunk_truth(self.mgr.arch, img, spec, level, coords, spec.chunk_yx)
        if not spec.write_empty and np.all(chunk == np.array(spec.fill_value, dtype=chunk.dtype)):
            return None
        return bytes(numcodecs.compat.ensure_bytes(arr._encode_chunk(chunk)))


class V3Store(Store):
    """Zarr v3 / NGFF 0.5, written by this module (always eager)."""

    def build(self):
        arch = self.mgr.arch
        img = arch.images[self.images[0]]
        spec = img.zarr
        self.eager = True
        shutil.rmtree(self.disk, ignore_errors=True)
        os.makedirs(self.disk, exist_ok=True)
        group = {"zarr_format": 3, "node_type": "group",
                 "attributes": multiscales(arch, img, spec), "consolidated_metadata": None}
        self._write("zarr.json", json.dumps(group, indent=2).encode())
        for level in range(len(img.levels)):
            shape = _shape(img, spec, level)
            ap = str(level)
            self.arrays[ap] = (img, level, None)
            dtname = {"i1": "int8", "u1": "uint8", "i2": "int16", "u2": "uint16", "i4": "int32",
                      "u4": "uint32", "f4": "float32", "f8": "float64"}[np.dtype(spec.dtype).str[1:]]
            inner = _chunks(spec, spec.chunk_yx)
            if spec.shard_yx:
                outer = _chunks(spec, spec.shard_yx)
                codecs = [{"name": "sharding_indexed", "configuration": {
                    "chunk_shape": list(inner), "codecs": spec.codecs,
                    "index_codecs": spec.index_codecs, "index_location": "end"}}]
            else:
                outer = inner
                codecs = spec.codecs
            meta = {"shape": list(shape), "data_type": dtname,
                    "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(outer)}},
                    "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
                    "fill_value": spec.fill_value, "codecs": codecs, "attributes": {},
                    "dimension_names": list(spec.axes), "zarr_format": 3, "node_type": "array",
                    "storage_transformers": []}
            self._write(ap + "/zarr.json", json.dumps(meta, indent=2).encode())
            grid = [-(-n // c) for n, c in zip(shape, outer)]
            for coords in np.ndindex(*grid):
                data = self._encode_outer(arch, img, spec, level, coords, shape)
                if data is not None:
                    self._write(ap + "/c/" + "/".join(str(i) for i in coords), data)

    def _write(self, key, data):
        p = os.path.join(self.disk, key)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)

    def _encode_chunk(self, spec, chunk, codecs):
        """Array -> bytes codec -> bytes-to-bytes codecs. None when all fill."""
        if np.all(chunk == np.array(spec.fill_value, dtype=chunk.dtype)):
            return None
        data = None
        for cod in codecs:
            name, conf = cod["name"], cod.get("configuration", {})
            if name == "bytes":
                e = conf.get("endian", "little")
                dt = chunk.dtype.newbyteorder("<" if e == "little" else ">")
                data = np.ascontiguousarray(chunk.astype(dt)).tobytes()
            elif name == "zstd":
                data = numcodecs.Zstd(level=conf.get("level", 0)).encode(data)
            elif name == "gzip":
                data = numcodecs.GZip(level=conf.get("level", 5)).encode(data)
            elif name == "crc32c":
                data = data + crc32c(data).to_bytes(4, "little")
            else:
                raise ValueError("codec %s" % name)
        return bytes(data)

    def _encode_outer(self, arch, img, spec, level, coords, shape):
        if not spec.shard_yx:
            chunk = chunk_truth(arch, img, spec, level, coords, spec.chunk_yx)
            return self._encode_chunk(spec, chunk, spec.codecs)
        # a shard: its inner chunks in C order, then the index (+crc32c)
        sy, sx = spec.shard_yx
        cy, cx = spec.chunk_yx
        ny, nx = sy // cy, sx // cx
        pos = dict(zip(spec.axes, coords))
        body, index = [], []
        offset = 0
        for iy in range(ny):
            for ix in range(nx):
                ipos = dict(pos, y=pos["y"] * ny + iy, x=pos["x"] * nx + ix)
                icoords = tuple(ipos[a] for a in spec.axes)
                enc = None
                if ipos["y"] * cy < shape[spec.axes.index("y")] and \
                        ipos["x"] * cx < shape[spec.axes.index("x")]:
                    chunk = chunk_truth(arch, img, spec, level, icoords, spec.chunk_yx)
                    enc = self._encode_chunk(spec, chunk, spec.codecs)
                if enc is None:
                    index.append((2 ** 64 - 1, 2 ** 64 - 1))
                else:
                    index.append((offset, len(enc)))
                    body.append(enc)
                    offset += len(enc)
        if not body:
            return None
        idx = np.array(index, dtype="<u8")
        return b"".join(body) + self._encode_chunk_raw(idx, spec.index_codecs)

    def _encode_chunk_raw(self, arr, codecs):
        data = None
        for cod in codecs:
            name, conf = cod["name"], cod.get("configuration", {})
            if name == "bytes":
                e = conf.get("endian", "little")
                data = np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder(
                    "<" if e == "little" else ">"))).tobytes()
            elif name == "crc32c":
                data = data + crc32c(data).to_bytes(4, "little")
            else:
                raise ValueError("index codec %s" % name)
        return data

    def get(self, key):
        self.ensure()
        p = os.path.join(self.disk, key)
        if ".." in key.split("/") or not os.path.isfile(p):
            return None
        with open(p, "rb") as f:
            return f.read()



class StoreManager:
    """All stores of the archive, addressed by URL path."""

    MAX_LAZY_STORES = 512
    CHUNK_CACHE_BYTES = 128 << 20

    def __init__(self, arch, data_dir, cache_bytes=CHUNK_CACHE_BYTES):
        self.arch = arch
        # encoded chunks of lazy stores are kept, as S3 keeps objects:
        # benchmarks make this large so that chunks are encoded once
        self.cache_limit = cache_bytes
        self.data_dir = data_dir
        self.roots = {}             # store root -> list of image ids
        self.plate_of_store = {}
        self.eager_roots = []
        for iid in arch.zarr_images:
            spec = arch.images[iid].zarr
            self.roots.setdefault(spec.store, []).append(iid)
        for pl in arch.plates.values():
            self.plate_of_store[pl.zstore] = pl.id
        for root, ids in self.roots.items():
            if not arch.images[ids[0]].zarr.lazy:
                self.eager_roots.append(root)
        self.stores = OrderedDict()
        self.lock = threading.Lock()
        self.cache = OrderedDict()
        self.cache_bytes = 0
        self.cache_lock = threading.Lock()

    def store(self, root):
        with self.lock:
            st = self.stores.get(root)
            if st is not None:
                self.stores.move_to_end(root)
                return st
            ids = self.roots.get(root)
            if ids is None:
                return None
            cls = V3Store if self.arch.images[ids[0]].zarr.fmt == 3 else V2Store
            st = cls(self, root, ids)
            self.stores[root] = st
            lazy = [r for r, s in self.stores.items() if not s.eager and s.built]
            while len(lazy) > self.MAX_LAZY_STORES:
                self.stores.pop(lazy.pop(0), None)
            return st

    def build_eager(self):
        for root in self.eager_roots:
            self.store(root).ensure()

    @staticmethod
    def split(path):
        """'idr/zarr/.../x.zarr/key' -> (store root, key)."""
        segs = path.split("/")
        for i, s in enumerate(segs):
            if s.endswith(".zarr"):
                return "/".join(segs[:i + 1]), "/".join(segs[i + 1:])
        return None, None

    def get(self, path):
        """Bytes of an object key (path without leading slash) or None."""
        return self.get_with_etag(path)[0]

    def get_with_etag(self, path):
        """(bytes, S3 ETag) of an object key, or (None, None). Encoded
        chunks of lazy stores and their MD5 are kept, up to the limit."""
        root, key = self.split(path)
        if root is None or not key:
            return None, None
        st = self.store(root)
        if st is None:
            return None, None
        ck = (root, key)
        with self.cache_lock:
            hit = self.cache.get(ck)
            if hit is not None:
                self.cache.move_to_end(ck)
                return hit
        data = st.get(key)
        if data is None:
            return None, None
        hit = (data, '"%s"' % hashlib.md5(data).hexdigest())
        if not st.eager:
            with self.cache_lock:
                if ck not in self.cache:
                    self.cache[ck] = hit
                    self.cache_bytes += len(data)
                    while self.cache_bytes > self.cache_limit and self.cache:
                        _, old = self.cache.popitem(last=False)
                        self.cache_bytes -= len(old[0])
        return hit

    def pattern(self, path):
        """Statistics pattern for a /idr/zarr/... path (no leading slash)."""
        root, key = self.split(path)
        if root is None:
            return "/" + _numeric(path)
        proot = re.sub(r"(^|/)\d+(\.(ome\.)?zarr)$", r"\1{id}\2", root)
        proot = "/".join("{id}" if s.isdigit() else s for s in proot.split("/"))
        if not key:
            return "/" + proot + "/"
        st = self.store(root)
        if st is None:
            return "/" + proot + "/" + _numeric(key)
        st.ensure()
        return "/" + proot + "/" + st.classify(key)
