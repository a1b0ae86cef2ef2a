#!/usr/bin/python3
"""Self-test of fake-idr: starts the server(s) on port 0, exercises every
endpoint family, reads every Zarr image back (zarr-python for v2, a small
decoder here for v3) and compares it with archive.plane().

Exit status 0 on success; the last line is "N passed, N failed".
Options: --full reads all 10 000 images of the big dataset (default: 100).
"""

import collections.abc
import http.client
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import numpy as np        # noqa: E402
import numcodecs          # noqa: E402
import zarr               # noqa: E402

import archive            # noqa: E402

PASSED = 0
FAILED = 0
DEADLINE = time.time() + 600


def check(name, cond, detail=""):
    global PASSED, FAILED
    if cond:
        PASSED += 1
    else:
        FAILED += 1
        print("FAIL: %s %s" % (name, detail))
    return cond


def section(name):
    print("-- %s" % name)
    if time.time() > DEADLINE:
        raise TimeoutError("self-test deadline passed")


class Server:
    def __init__(self, *args):
        self.tmp = tempfile.mkdtemp(prefix="fake-idr-selftest-")
        env = dict(os.environ, TMPDIR=self.tmp)
        t0 = time.time()
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_idr.py")] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        line = [None]

        def read():
            line[0] = self.proc.stdout.readline().decode()
        th = threading.Thread(target=read, daemon=True)
        th.start()
        th.join(15)
        self.startup = time.time() - t0
        if not line[0] or not line[0].startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError("server did not start: %r" % line[0])
        self.base = line[0].strip()
        self.line = line[0]
        u = urllib.parse.urlsplit(self.base)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def request(self, path, headers=None, method="GET"):
        """(status, headers dict (lower-case keys, lists joined), body)."""
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.conn.request(method, path, headers=headers or {})
                r = self.conn.getresponse()
                body = r.read()
                hdrs = {}
                for k, v in r.getheaders():
                    k = k.lower()
                    hdrs[k] = hdrs[k] + "\n" + v if k in hdrs else v
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, hdrs, body
            except (http.client.HTTPException, OSError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def get_json(self, path, headers=None):
        st, h, b = self.request(path, headers)
        return st, json.loads(b.decode()) if b else None, h

    def stop(self):
        if self.conn is not None:
            self.conn.close()
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        leftover = os.listdir(self.tmp) if os.path.isdir(self.tmp) else []
        shutil.rmtree(self.tmp, ignore_errors=True)
        return leftover


# ---------------------------------------------------------------- decoders

def png_decode(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, tag = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if tag == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype == 2
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * 3
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int64)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int64)
        cur = np.zeros(stride, dtype=np.int64)
        for i in range(stride):
            a = cur[i - 3] if i >= 3 else 0
            b = prev[i]
            c = prev[i - 3] if i >= 3 else 0
            if f == 0:
                p = 0
            elif f == 1:
                p = a
            elif f == 2:
                p = b
            elif f == 3:
                p = (a + b) // 2
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[i] = (line[i] + p) & 0xFF
            if f == 0:
                cur = line.copy()
                break
        out[y] = cur
        prev = cur
    return out.reshape(h, w, 3)


def tiff_rgb_decode(data):
    assert data[:4] == b"II*\x00"
    off = struct.unpack("<I", data[4:8])[0]
    n = struct.unpack("<H", data[off:off + 2])[0]
    tags = {}
    for i in range(n):
        tag, typ, cnt, val = struct.unpack("<HHII", data[off + 2 + 12 * i:off + 14 + 12 * i])
        if typ == 3 and cnt == 1:
            val &= 0xFFFF
        tags[tag] = val
    w, h = tags[256], tags[257]
    assert tags[262] == 2 and tags[277] == 3 and tags[259] == 1
    so = tags[273]
    return np.frombuffer(data, np.uint8, w * h * 3, so).reshape(h, w, 3)


class HttpMap(collections.abc.MutableMapping):
    """Read-only zarr store over the fake S3 bucket."""

    def __init__(self, srv, root):
        self.srv, self.root = srv, root.strip("/")
        self.missing = 0

    def __getitem__(self, key):
        st, h, body = self.srv.request("/" + self.root + "/" + key)
        if st == 404:
            self.missing += 1
            if b"<Code>NoSuchKey</Code>" not in body:
                raise RuntimeError("404 without NoSuchKey")
            raise KeyError(key)
        if st != 200:
            raise RuntimeError("HTTP %d for %s" % (st, key))
        return body

    def __contains__(self, key):
        try:
            self[key]
            return True
        except KeyError:
            return False

    def __setitem__(self, k, v):
        raise PermissionError

    def __delitem__(self, k):
        raise PermissionError

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def v3_decode_chunk(data, codecs, shape, dtname):
    for cod in reversed(codecs):
        name, conf = cod["name"], cod.get("configuration", {})
        if name == "zstd":
            data = numcodecs.Zstd().decode(data)
        elif name == "gzip":
            data = numcodecs.GZip().decode(data)
        elif name == "crc32c":
            body, crc = data[:-4], struct.unpack("<I", data[-4:])[0]
            if crc32c(body) != crc:
                raise ValueError("crc32c mismatch")
            data = body
        elif name == "bytes":
            end = "<" if conf.get("endian", "little") == "little" else ">"
            return np.frombuffer(bytes(data), np.dtype(dtname).newbyteorder(end)).reshape(shape)
        else:
            raise ValueError(name)
    raise ValueError("no bytes codec")


def v3_read_array(srv, root, meta):
    """Whole array from a Zarr v3 array (sharded or not), own decoder."""
    shape = meta["shape"]
    dt = {"uint16": "u2", "int32": "i4", "uint8": "u1", "int16": "i2", "float32": "f4"}[meta["data_type"]]
    outer = meta["chunk_grid"]["configuration"]["chunk_shape"]
    sep = meta["chunk_key_encoding"]["configuration"]["separator"]
    fill = meta["fill_value"]
    out = np.full(shape, fill, dtype=dt)
    codecs = meta["codecs"]
    grid = [-(-n // c) for n, c in zip(shape, outer)]
    stats = {"absent_shards": 0, "absent_inner": 0, "range_index_ok": 0}
    for coords in np.ndindex(*grid):
        key = "c" + sep + sep.join(str(i) for i in coords)
        st, h, body = srv.request("/%s/%s" % (root, key))
        if st == 404:
            stats["absent_shards"] += 1
            continue
        sl = tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(coords, outer, shape))
        if codecs[0]["name"] == "sharding_indexed":
            conf = codecs[0]["configuration"]
            inner = conf["chunk_shape"]
            per = [o // i for o, i in zip(outer, inner)]
            nin = int(np.prod(per))
            idx_len = nin * 16 + 4
            # the index, fetched again with a suffix Range like real readers do
            st2, h2, tail = srv.request("/%s/%s" % (root, key), {"Range": "bytes=-%d" % idx_len})
            if st2 == 206 and tail == body[-idx_len:]:
                stats["range_index_ok"] += 1
            index = v3_decode_chunk(tail, conf["index_codecs"], (nin, 2), "u8")
            shard = np.full(outer, fill, dtype=dt)
            for k, icoords in enumerate(np.ndindex(*per)):
                o, n = int(index[k, 0]), int(index[k, 1])
                if o == 2 ** 64 - 1 and n == 2 ** 64 - 1:
                    stats["absent_inner"] += 1
                    continue
                ch = v3_decode_chunk(body[o:o + n], conf["codecs"], inner, dt)
                isl = tuple(slice(i * c, (i + 1) * c) for i, c in zip(icoords, inner))
                shard[isl] = ch
            out[sl] = shard[tuple(slice(0, s.stop - s.start) for s in sl)]
        else:
            ch = v3_decode_chunk(body, codecs, outer, dt)
            out[sl] = ch[tuple(slice(0, s.stop - s.start) for s in sl)]
    return out, stats


def axis_index(axes, t, c, z):
    return tuple({"t": t, "c": c, "z": z}.get(a, slice(None)) for a in axes)


# ---------------------------------------------------------------- tests

def test_ground_truth(arch):
    section("ground truth")
    p = archive.plane(arch, 2001, 0, 0, 0, 0)
    check("int8 has negatives", p.dtype == np.int8 and p.min() < 0)
    p = archive.plane(arch, 2006, 0, 0, 1, 2)
    check("uint32 above 2^31", p.dtype == np.uint32 and int(p.max()) > 2 ** 31)
    p = archive.plane(arch, 2005, 0, 0, 0, 0)
    check("int32 negatives", p.min() < 0)
    p = archive.plane(arch, 2007, 0, 0, 0, 1)
    check("float non-integer and negative", p.dtype == np.float32 and np.any(p != np.round(p))
          and p.min() < 0)
    p = archive.plane(arch, 2008, 0, 0, 1, 0)
    check("double non-float32", p.dtype == np.float64 and np.any(p.astype(np.float32) != p))
    check("uint16 above 32767", int(archive.plane(arch, 2004, 0, 0, 0, 0).max()) > 32767)
    check("int16 negatives", archive.plane(arch, 2003, 0, 0, 0, 0).min() < 0)
    base = archive.plane(arch, 2108, 0, 0, 0, 0)
    for name, other in [("t", archive.plane(arch, 2108, 0, 1, 0, 0)),
                        ("c", archive.plane(arch, 2108, 0, 0, 1, 0)),
                        ("z", archive.plane(arch, 2108, 0, 0, 0, 1))]:
        check("planes differ in " + name, not np.array_equal(base, other))
    l1 = archive.plane(arch, 2105, 1, 0, 0, 0)
    l0 = archive.plane(arch, 2105, 0, 0, 0, 0)
    check("level 1 shape", l1.shape == (100, 150))
    check("levels differ", not np.array_equal(l0[::2, ::2], l1))
    check("pixel()", archive.pixel(arch, 2004, 0, 0, 1, 2, 10, 20) == archive.plane(arch, 2004, 0, 0, 1, 2)[10, 20])
    a2 = archive.build(1)
    check("deterministic", np.array_equal(archive.plane(a2, 2003, 0, 0, 1, 1),
                                          archive.plane(arch, 2003, 0, 0, 1, 1)))
    a3 = archive.build(2)
    check("seed changes pixels", not np.array_equal(archive.plane(a3, 2003, 0, 0, 1, 1),
                                                    archive.plane(arch, 2003, 0, 0, 1, 1)))
    long_name = arch.images[1211].name
    check("300-byte name", len(long_name.encode()) == 300)


def test_json_api(srv, arch):
    section("JSON API")
    B = srv.base
    st, d, h = srv.get_json("/api/")
    check("/api/ versions", st == 200 and d["data"][0]["url:base"] == B + "api/v0/")
    check("X-OMERO-ApiVersion", h.get("x-omero-apiversion") == "0.2")
    st, d, h = srv.get_json("/api/v0/")
    check("/api/v0/ base", d["url:projects"] == B + "api/v0/m/projects/"
          and "url:experimenters" in d and d["url:schema"].endswith("2016-06"))
    st, d, h = srv.get_json("/api/v0/m/projects/?childCount=true")
    names = [p["Name"] for p in d["data"]]
    check("projects", names == ["idr0801-synth-listing/experimentA", "idr0802-synth-pixels/experimentB"])
    check("project childCount", [p["omero:childCount"] for p in d["data"]] == [2, 5])
    check("project url", d["data"][0]["url:project"] == B + "api/v0/m/projects/101/")
    check("meta", d["meta"] == {"offset": 0, "limit": 200, "maxLimit": 1000, "totalCount": 2})
    st, d, h = srv.get_json("/api/v0/m/projects/101/")
    check("single project object", isinstance(d["data"], dict) and d["data"]["@id"] == 101
          and "url:datasets" in d["data"] and "url:project" not in d["data"])
    st, d, h = srv.get_json("/api/v0/m/images/123/")
    check("404 message", st == 404 and d == {"message": "Image 123 not found"})
    st, d, h = srv.get_json("/api/v0/m/datasets/?limit=foo")
    check("400 limit=foo", st == 400 and d == {"message": "invalid literal for int() with base 10: 'foo'"})
    st, d, h = srv.get_json("/api/v0/m/datasets/?project=foo")
    check("500 project=foo", st == 500 and "stacktrace" in d)
    st, d, h = srv.get_json("/api/v0/m/projects/102/datasets/")
    check("project datasets", [x["@id"] for x in d["data"]] == [1007, 1006, 1003, 1005, 1004]
          and d["data"][0]["url:images"] == B + "api/v0/m/datasets/1007/images/")
    st, d, h = srv.get_json("/api/v0/m/datasets/?project=101&childCount=true")
    check("datasets ?project", [(x["Name"], x["omero:childCount"]) for x in d["data"]]
          == [("big dataset", 10000), ("names", 13)])
    # paging and clamping
    u = "/api/v0/m/datasets/1001/images/"
    st, d, h = srv.get_json(u)
    check("default limit 200", len(d["data"]) == 200 and d["meta"]["limit"] == 200
          and d["meta"]["totalCount"] == 10000)
    st, d, h = srv.get_json(u + "?limit=5000")
    check("limit clamped", len(d["data"]) == 1000 and d["meta"]["limit"] == 1000)
    st, d, h = srv.get_json(u + "?limit=-3")
    check("negative limit", d["meta"]["limit"] == 200 and len(d["data"]) == 200)
    st, d, h = srv.get_json(u + "?limit=0")
    check("limit=0 count only", d["data"] == [] and d["meta"]["totalCount"] == 10000)
    st, d, h = srv.get_json(u + "?offset=9990&limit=50")
    check("last page", len(d["data"]) == 10 and d["data"][-1]["Name"] == "cell_10000")
    st, d, h = srv.get_json(u + "?offset=-4&limit=1")
    check("negative offset", d["meta"]["offset"] == 0 and d["data"][0]["Name"] == "cell_00001")
    seen = []
    off = 0
    while True:
        st, d, h = srv.get_json(u + "?limit=1000&offset=%d" % off)
        seen += [x["@id"] for x in d["data"]]
        off += 1000
        if off >= d["meta"]["totalCount"]:
            break
    check("walk 10000", seen == list(range(1000001, 1010001)))
    img = d["data"][0]
    px = img["Pixels"]
    check("list image has Pixels, no Channels", px["SizeX"] == 64 and px["SizeY"] == 48
          and px["Type"]["value"] == "uint8" and "Channels" not in px)
    check("list image externalInfo", img["omero:details"]["externalInfo"]["Lsid"]
          == "s3://%s:%d/idr/zarr/v0.4/idr0801A/%d.zarr?anonymous=true" % (srv.host, srv.port, img["@id"]))
    check("list image urls", img["url:image"] == B + "api/v0/m/images/%d/" % img["@id"])
    st, d, h = srv.get_json("/api/v0/m/datasets/1002/images/")
    names = [x["Name"] for x in d["data"]]
    exp = sorted([arch.images[i] for i in arch.datasets[1002].image_ids],
                 key=lambda im: (im.name.lower(), im.id))
    check("hostile names order", names == [im.name for im in exp], repr(names))
    check("hostile names exact", set(names) >= {"a/b", ".", "..", "ctl\x01\x7fchar", "tab\there",
                                                "\u00fcn\u00efc\u00f8d\u00e9 \U0001F9EB"})
    st, raw_h, raw = srv.request("/api/v0/m/datasets/1002/images/")
    check("\\u escapes", b"\\u00fc" in raw and b"\\ud83e\\uddeb" in raw)
    st, d, h = srv.get_json("/api/v0/m/images/2004/")
    ch = d["data"]["Pixels"]["Channels"]
    check("single image channels", [c["Name"] for c in ch] == ["DAPI", "GFP"]
          and [c["Color"] for c in ch] == [65535, 16711935])
    check("single image urls", "url:rois" in d["data"] and "url:image" not in d["data"])
    check("physical size", d["data"]["Pixels"]["PhysicalSizeX"]["Value"] == 0.325
          and d["data"]["Pixels"]["PhysicalSizeX"]["Symbol"] == "\u00b5m")
    st, d, h = srv.get_json("/api/v0/m/images/2201/")
    det = d["data"]["omero:details"]
    check("rendered image: no externalInfo, no physical sizes",
          "externalInfo" not in det and "PhysicalSizeX" not in d["data"]["Pixels"])
    st, d, h = srv.get_json("/api/v0/m/images/1203/")
    check("unnamed channel has no Name", "Name" not in d["data"]["Pixels"]["Channels"][0])
    st, d, h = srv.get_json("/api/v0/m/screens/")
    check("screens", [s["@id"] for s in d["data"]] == [201] and "url:plates" in d["data"][0])
    st, d, h = srv.get_json("/api/v0/m/screens/201/plates/")
    check("screen plates", d["data"][0]["Name"] == "plate1" and d["data"][0]["Rows"] == 8)
    st, d, h = srv.get_json("/api/v0/m/plates/3001/")
    p = d["data"]
    check("plate single", p["omero:wellsampleIndex"] == [0, 1] and p["Columns"] == 12
          and p["RowNamingConvention"] == "letter" and p["ColumnNamingConvention"] == "number"
          and p["url:wellsampleindex_wells"] == [B + "api/v0/m/plates/3001/wellsampleindex/%d/wells/" % i
                                                 for i in (0, 1)])
    st, d, h = srv.get_json("/api/v0/m/plates/3001/wells/?limit=1000")
    ws = d["data"]
    check("wells count", d["meta"]["totalCount"] == 96 and len(ws) == 96)
    check("wells ordered by column,row", [(w["Column"], w["Row"]) for w in ws[:3]] == [(0, 0), (0, 1), (0, 2)]
          and ws[1]["@id"] == 40013)
    check("well samples, images without pixels", len(ws[0]["WellSamples"]) == 2
          and ws[0]["WellSamples"][1]["Image"]["@id"] == 500002
          and "Pixels" not in ws[0]["WellSamples"][0]["Image"]
          and "externalInfo" not in ws[0]["WellSamples"][0]["Image"]["omero:details"]
          and ws[0]["WellSamples"][0]["Image"]["url:image"] == B + "api/v0/m/images/500001/")
    st, d, h = srv.get_json("/api/v0/m/plates/3001/wellsampleindex/1/wells/?limit=1000")
    check("wellsampleindex", all(len(w["WellSamples"]) == 1 for w in d["data"])
          and d["data"][0]["WellSamples"][0]["Image"]["Name"] == "plate1 [Well A1, Field 2]")
    st, d, h = srv.get_json("/api/v0/m/wells/40001/")
    check("single well with pixels", d["data"]["WellSamples"][0]["Image"]["Pixels"]["SizeC"] == 2)
    st, d, h = srv.get_json("/api/v0/m/images/500001/datasets/")
    check("HCS image has no datasets", d["data"] == [] and d["meta"]["totalCount"] == 0)
    st, d, h = srv.get_json("/api/v0/m/projects/?normalize=true")
    check("normalize", "experimenters" in d and d["data"][0]["omero:details"]["owner"] == {"@id": 2})


def test_webclient(srv, arch):
    section("webclient / webgateway JSON")
    st, d, h = srv.get_json("/webclient/api/datasets/?id=102")
    check("webclient datasets", [x["id"] for x in d["datasets"]] == [1007, 1006, 1003, 1005, 1004]
          and d["datasets"][1]["childCount"] == 3)
    st, d, h = srv.get_json("/webclient/api/images/?id=1002&sizeXYZ=true")
    check("webclient images", len(d["images"]) == 13 and d["images"][0]["sizeX"] == 32)
    st, d, h = srv.get_json("/webclient/api/images/?id=1001&page=3&limit=100")
    check("webclient images paging", len(d["images"]) == 100 and d["images"][0]["name"] == "cell_00201")
    st, d, h = srv.get_json("/webclient/api/plates/?id=201")
    check("webclient plates", d["plates"][0]["id"] == 3001 and d["plates"][0]["childCount"] == 0)
    st, d, h = srv.get_json("/webclient/api/annotations/?type=map&image=500001")
    vals = [kv for a in d["annotations"] for kv in a["values"]]
    check("image annotations", ["Gene Symbol", "CDK5"] in vals and ["Organism", "Homo sapiens"] in vals
          and ["Phenotype Term Accession", "CMPO_0000294"] in vals and d["experimenters"])
    a0 = d["annotations"][0]
    check("annotation shape", a0["class"] == "MapAnnotationI" and a0["link"]["parent"]["class"] == "ImageI"
          and a0["name"] is None)
    st, d, h = srv.get_json("/webclient/api/annotations/?type=map&project=101")
    sv = dict(d["annotations"][0]["values"])
    check("study annotations", d["annotations"][0]["ns"] == archive.NS_STUDY
          and sv["License"] == "CC BY 4.0 https://creativecommons.org/licenses/by/4.0/"
          and sv["Publication DOI"].startswith("10.5555/idrfs.0801 https://doi.org/"))
    st, d, h = srv.get_json("/webclient/api/annotations/?type=map&image=2001&image=2002&well=40001")
    parents = set((a["link"]["parent"]["class"], a["link"]["parent"]["id"]) for a in d["annotations"])
    check("repeatable ids", parents == {("ImageI", 2001), ("ImageI", 2002), ("WellI", 40001)})
    check("well parent name", any(a["link"]["parent"].get("name") == "A1" for a in d["annotations"]))
    st, d, h = srv.get_json("/webclient/api/annotations/?type=map&screen=201&ns=" + archive.NS_STUDY)
    check("screen study", len(d["annotations"]) == 1 and ["Screen Type", "primary screen"] in d["annotations"][0]["values"])
    st, d, h = srv.get_json("/webgateway/plate/3001/1/")
    g = d["grid"]
    check("plate grid", len(g) == 8 and len(g[0]) == 12 and g[0][0]["id"] == 500002
          and g[7][11]["wellId"] == 40096 and d["collabels"] == list(range(1, 13))
          and d["rowlabels"] == list("ABCDEFGH") and g[0][0]["field"] == 1)
    check("plate grid image_sizes", d["image_sizes"] == [{"x": 64, "y": 64, "image_id": 500002}])
    st, d, h = srv.get_json("/webgateway/plate/3001/")
    check("plate grid field 0", d["grid"][0][1]["id"] == 500003)
    st, d, h = srv.get_json("/webgateway/original_file_paths/2301/")
    check("original_file_paths", d == {"repo": d["repo"], "fileset": {"id": 5001},
                                       "client": ["uod/idr/filesets/idr0802-synth-pixels/sample_2301.ome.tif"]})
    st, d, h = srv.get_json("/webgateway/original_file_paths/2303/")
    check("multi-file fileset", len(d["client"]) == 3 and any("/data/" in c for c in d["client"]))
    st, d, h = srv.get_json("/webgateway/original_file_paths/2201/")
    check("no fileset -> {}", d == {})
    # imgData
    st, d, h = srv.get_json("/webgateway/imgData/2102/")
    check("ConcurrencyException first", d == {"ConcurrencyException": {"backOff": 50}})
    st, d, h = srv.get_json("/webgateway/imgData/2102/")
    check("then imgData", d.get("id") == 2102 and d["size"]["c"] == 2)
    st, d, h = srv.get_json("/webclient/imgData/2102/")
    check("only once", d.get("id") == 2102)
    st, h, b = srv.request("/webgateway/imgData/424242/")
    check("imgData 403 empty", st == 403 and b == b"")
    st, d, h = srv.get_json("/webgateway/imgData/2004/")
    check("imgData shape", d["meta"]["datasetId"] == 1003 and d["meta"]["wellId"] == ""
          and d["tiles"] is False and d["pixel_range"] == [0, 65535]
          and d["channels"][1]["color"] == "00FF00" and d["rdefs"]["model"] == "color"
          and set(d["channels"][0]["window"]) == {"min", "max", "start", "end"})
    st, d, h = srv.get_json("/webgateway/imgData/2003/")
    check("signed pixel_range floats", d["pixel_range"] == [-32768.0, 32767.0])
    st, d, h = srv.get_json("/webgateway/imgData/500001/")
    check("HCS imgData meta", d["meta"]["projectName"] == "Multiple" and d["meta"]["wellId"] == 40001
          and d["meta"]["datasetId"] is None)
    st, d, h = srv.get_json("/webgateway/imgData/2402/")
    check("pyramid imgData", d["tiles"] and d["levels"] == 3 and d["tile_size"] == {"width": 1024, "height": 1024}
          and d["zoomLevelScaling"] == {"0": 1.0, "1": 0.5, "2": 0.25}
          and d["resolutions"]["2"] == {"sizeX": 1024, "sizeY": 1024})
    st, d, h = srv.get_json("/webgateway/imgData/2004/meta/")
    check("imgData key", d["imageId"] == 2004)
    st, d, h = srv.get_json("/__fake/imgdata_busy?on=1")
    st, d1, h = srv.get_json("/webgateway/imgData/2005/")
    st, d2, h = srv.get_json("/webgateway/imgData/2005/")
    srv.get_json("/__fake/imgdata_busy?on=0")
    check("busy state", "ConcurrencyException" in d1 and d2.get("id") == 2005)


def test_render(srv, arch):
    section("rendering")
    url = "/webgateway/render_image_region/2201/0/0/?region=5,7,40,30&c=1|100:60000$FF0000,2|0:65535$00FF00,-3|0:1$0000FF&m=c&format=png"
    st, h, b = srv.request(url)
    check("403 without cookie", st == 403 and b == b"")
    st, h, b = srv.request("/webclient/?experimenter=-1")
    cookies = h.get("set-cookie", "")
    m = re.search(r"sessionid_fake=([0-9a-f]+)", cookies)
    check("cookie issued", st == 200 and m is not None and "HttpOnly" in cookies and "Path=/" in cookies
          and "csrftoken=" in cookies)
    jar = {"Cookie": "sessionid_fake=%s; csrftoken=x" % m.group(1)}
    st, h, b = srv.request(url, {"Cookie": "sessionid_idr=%s" % m.group(1)})
    check("wrong cookie name refused", st == 403)
    st, h, b = srv.request(url, {"Cookie": "sessionid_fake=deadbeef"})
    check("unknown session refused", st == 403)
    st, h, b = srv.request(url, jar)
    check("png", st == 200 and h["content-type"] == "image/png")
    exp = archive.render_region(arch, 2201, 0, 0, 5, 7, 40, 30,
                                "1|100:60000$FF0000,2|0:65535$00FF00,-3|0:1$0000FF", "c")
    check("png equals render_region", st == 200 and np.array_equal(png_decode(b), exp))
    u2 = "/webclient/render_image_region/2105/0/0/?tile=1,1,0&c=2|0:65535$FFFFFF&m=g&format=tif"
    st, h, b = srv.request(u2, jar)
    exp = archive.render_region(arch, 2105, 0, 0, 64, 0, 64, 64, "2|0:65535$FFFFFF", "g", level=1)
    check("tif tile at level 1", st == 200 and h["content-type"] == "image/tiff"
          and np.array_equal(tiff_rgb_decode(b), exp))
    st, h, b = srv.request("/webgateway/render_image/2202/1/1/?c=1|0:65535$00FFFF,3|1000:30000$FF00FF&m=c&format=png", jar)
    exp = archive.render_region(arch, 2202, 1, 1, 0, 0, 128, 64, "1|0:65535$00FFFF,3|1000:30000$FF00FF", "c")
    check("render_image whole plane", st == 200 and np.array_equal(png_decode(b), exp))
    st, h, b = srv.request("/webgateway/render_image_region/2004/2/0/?region=60,40,100,100&c=1|0:65535$FF0000&m=c&format=png&flip=h", jar)
    exp = archive.render_region(arch, 2004, 2, 0, 60, 40, 100, 100, "1|0:65535$FF0000", "c", flip="h")
    check("region cut at edge + flip", st == 200 and png_decode(b).shape == (10, 10, 3)
          and np.array_equal(png_decode(b), exp))
    errs = [("c=&m=c", "Failed to parse channel ''"),
            ("m=c", "Must provide channels in parameter 'c'"),
            ("c=1|0:10&m=c", "Must include window and color in each channel. Missing in channel 1"),
            ("c=1|0:10$FF0000", "Must provide rendering model parameter 'm' with value either 'g' or 'c'"),
            ("c=1|0:10$FF0000&m=c&format=gif", "Unsupported format request.Supported formats are jpeg, png, and tif"),
            ("c=1|0:10$FF0000&m=c&tile=1,2", "Failed to parse 'tile' parameter. Format is resolution,x,y or resolution,x,y,w,h")]
    for qs, text in errs:
        st, h, b = srv.request("/webgateway/render_image_region/2201/0/0/?" + qs, jar)
        check("400 " + text[:30], st == 400 and b.decode() == text, "%d %r" % (st, b))
    many = ",".join("%d|0:1$FF0000" % (i + 1) for i in range(11))
    st, h, b = srv.request("/webgateway/render_image_region/2201/0/0/?m=c&c=" + many, jar)
    check("too many channels", st == 400 and b.startswith(b"Too many active channels"))
    st, h, b = srv.request("/webgateway/render_image_region/2201/0/0/?c=1|0:1$FF0000&m=c", jar)
    check("jpeg 501", st == 501 and b"format=png" in b)
    st, h, b = srv.request("/webgateway/render_image_region/999999/0/0/?c=1|0:1$FF0000&m=c&format=png", jar)
    check("missing image 404", st == 404 and b == b"Cannot find Image:999999")
    st, h, b = srv.request("/webgateway/render_image_region/2201/5/0/?c=1|0:1$FF0000&m=c&format=png", jar)
    check("z out of range 404", st == 404)
    st, h, b = srv.request("/webgateway/histogram_json/2004/channel/0/?theZ=1&bins=16", jar)
    check("histogram", st == 200 and len(json.loads(b)["data"]) == 16
          and sum(json.loads(b)["data"]) == 70 * 50)
    srv.get_json("/__fake/expire_sessions")
    st, h, b = srv.request(url, jar)
    check("expired session 403", st == 403 and b == b"")


def test_search(srv, arch):
    section("search engine")
    R = "/searchengine/api/v1/resources/"
    st, h, b = srv.request(R)
    check("index text", st == 200 and b == b"OMERO search engine (API V1)")
    st, h, b = srv.request(R + "image/keys/")
    d = json.loads(b)
    check("keys", d[0]["data_source"] == "idr" and "Gene Symbol" in d[0]["image"]
          and b.endswith(b"\n") and b": " not in b)
    st, h, b = srv.request(R + "all/keys/?mode=searchterms")
    d = json.loads(b)
    check("searchterms", "Gene Symbol" in d["image"] and "Study Type" in d["project"])
    st, h, b = srv.request(R + "image/searchvaluesusingkey/?key=gene%20symbol")
    d = json.loads(b)
    vals = [r["Value"] for r in d["data"]]
    check("values lower-cased", "cdk5" in vals and "ecm33" in vals and "CDK5" not in vals
          and list(d["data"][0]) == ["Key", "Number of images", "Value", "data_source"])
    check("values sorted by length", [len(v) for v in vals] == sorted(len(v) for v in vals))
    check("totals", d["total_number_of_buckets"] == len(vals)
          and d["total_number_of_image"] == sum(r["Number of images"] for r in d["data"]))
    st, h, b = srv.request(R + "image/searchvaluesusingkey/")
    check("no key error", json.loads(b) == {"Error": "No key is provided "})
    st, h, b = srv.request(R + "image/searchvaluesusingkey/?key=nope")
    check("no buckets", json.loads(b) == {"data": [], "total_number_of_None": 0, "total_number_of_buckets": 0})
    st, h, b = srv.request(R + "image/search/?key=Gene%20Symbol&value=cdk5")
    d = json.loads(b)
    res = d["results"]
    check("search", res["size"] == 18 and len(res["results"]) == 18 and res["total_pages"] == 1
          and "pagination" in res and "Error" not in d and d["resource"] == "image")
    doc = res["results"][0]
    check("search doc", doc["screen_name"] == "idr0803-synth-screen/screenA" and doc["project_id"] is None
          and isinstance(doc["plate_id"], float) and doc["plate_id"] == 3001.0
          and {"name", "value", "index"} == set(doc["key_values"][0]))
    st, h, b = srv.request(R + "project/search/?key=Publication%20Authors&value=H%C3%A9rich%C3%A9%20JK,%20Doe%20J")
    check("\\uXXXX escapes (project search)", b"H\\u00e9rich\\u00e9" in b and json.loads(b)["results"]["size"] == 1)
    ids = []
    bm = None
    pages = 0
    while pages < 20:
        u = R + "image/search/?key=Organism&value=SACCHAROMYCES%20cerevisiae" + ("&bookmark=%d" % bm if bm else "")
        d = json.loads(srv.request(u)[2])
        r = d["results"]
        if not r:
            break
        check("pagination only without bookmark", ("pagination" in r) == (bm is None))
        ids += [x["id"] for x in r["results"]]
        bm = r["bookmark"][0]
        pages += 1
        if len(ids) >= r["size"]:
            break
    check("bookmark paging", pages == 10 and ids == list(range(1000001, 1010001)))
    d = json.loads(srv.request(R + "image/search/?key=Organism&value=saccharomyces%20cerevisiae&bookmark=1010000")[2])
    check("past last page -> []", d["results"] == [])
    d = json.loads(srv.request(R + "image/search/?key=Gene%20Symbol&value=nosuch")[2])
    check("no hits -> []", d["results"] == [])
    d = json.loads(srv.request(R + "image/search/?key=Gene%20Symbol&value=cdk5&return_containers=true")[2])
    r0 = d["results"]["results"][0]
    check("return_containers", d["Error"] == "none" and r0["type"] == "screen" and r0["image count"] == 18
          and {"key", "value", "index"} == set(r0["key_values"][0]))
    d = json.loads(srv.request(R + "image/search/?key=Organism")[2])
    check("missing value error", d["Error"].startswith("Each Filter needs to have, name,"))
    d = json.loads(srv.request(R + "image/search/?key=Cell%20Line&value=nih&operator=contains")[2])
    check("contains", d["results"]["size"] == 8)
    st, h, b = srv.request(R + "image/search/?key=Organism&value=x&return_containers=yes")
    check("500 html", st == 500 and b"Internal Server Error" in b)
    d = json.loads(srv.request(R + "container_images/")[2])
    check("container_images", d["Error"] is None and len(d["results"]["results"]) == 3)
    st, h, b = srv.request("/searchengine/api/v1/nope/")
    check("404 text", st == 404 and b"/searchengine/apidocs/" in b)
    d = json.loads(srv.request(R + "project/searchvaluesusingkey/?key=Study%20Type")[2])
    check("project values", d["data"][0]["Key"] == "Study Type" and "total_number_of_project" in d)


def test_mapr_redirect(srv):
    section("mapr switched off")
    st, h, b = srv.request("/mapr/api/gene/?value=CDK5")
    check("mapr 302", st == 302 and h.get("location") == srv.base + "searchengine/apidocs/")
    st, h, b = srv.request("/mapr/api/autocomplete/gene/?value=c")
    check("mapr autocomplete 302", st == 302)
    st, d, h = srv.get_json("/mapr/api/config/")
    check("mapr config", st == 200 and d["gene"]["label"] == "Gene" and d["gene"]["case_sensitive"] is True)
    st, h, b = srv.request("/searchengine/apidocs/")
    check("apidocs html", st == 200 and h["content-type"].startswith("text/html"))


def test_mapr(srv):
    section("mapr (--mapr)")
    st, d, h = srv.get_json("/mapr/api/gene/?value=CDK5")
    check("mapr screens", st == 200 and d["screens"][0]["name"] == "idr0803-synth-screen/screenA (18)"
          and d["screens"][0]["extra"] == {"counter": 18, "value": "CDK5"})
    st, d, h = srv.get_json("/mapr/api/gene/?value=cdk5")
    check("mapr exact case", d["screens"] == [])
    st, d, h = srv.get_json("/mapr/api/gene/count/?value=cdk5")
    check("mapr count ignores case", d["experimenter"]["childCount"] == 1)
    st, d, h = srv.get_json("/mapr/api/gene/plates/?value=CDK5&id=201")
    check("mapr plates", d["plates"][0]["id"] == 3001 and d["plates"][0]["childCount"] == 18)
    st, d, h = srv.get_json("/mapr/api/gene/images/?value=CDK5&node=plate&id=3001")
    check("mapr images", len(d["images"]) == 18)
    st, d, h = srv.get_json("/mapr/api/gene/datasets/?value=Actb&id=102")
    check("mapr datasets", d["datasets"][0]["id"] == 1003)
    st, d, h = srv.get_json("/mapr/api/organism/?orphaned=true")
    check("mapr orphaned", [m["name"] for m in d["maps"]][0] == "Saccharomyces cerevisiae (10000)")
    st, d, h = srv.get_json("/mapr/api/gene/annotations/?map=CDK5")
    check("mapr annotations", len(d["annotations"]) == 1
          and ["Gene Symbol", "CDK5"] in d["annotations"][0]["values"])
    st, d, h = srv.get_json("/mapr/api/autocomplete/gene/?value=cd")
    check("mapr autocomplete", [x["value"] for x in d][:3] == ["CDK5", "CDC20", "CDC28"])


def test_originals(srv, arch):
    section("original files")
    root = "/pub/databases/IDR/idr0802-synth-pixels/"
    st, h, b = srv.request(root)
    check("autoindex", st == 200 and b'<a href="multi/">multi/</a>' in b and b"sample_2301.ome.tif" in b)
    st, h, b = srv.request(root + "multi")
    check("dir redirect", st == 301 and h["location"].endswith(root + "multi/"))
    st, h, b = srv.request(root + "multi/data/")
    check("subdirectory", st == 200 and b"run1_s0.ome.tif" in b)
    f = root + "sample_2301.ome.tif"
    st, h, full = srv.request(f)
    check("file", st == 200 and len(full) > 3000000 and full[:4] == b"II*\x00")
    st, h, b = srv.request(f, method="HEAD")
    check("HEAD", st == 200 and int(h["content-length"]) == len(full) and b == b""
          and h.get("accept-ranges") == "bytes")
    st, h, b = srv.request(f, {"Range": "bytes=100-199"})
    check("206", st == 206 and b == full[100:200] and h["content-range"] == "bytes 100-199/%d" % len(full))
    st, h, b = srv.request(f, {"Range": "bytes=-10"})
    check("suffix range", st == 206 and b == full[-10:])
    st, h, b = srv.request(f, {"Range": "bytes=%d-" % (len(full) - 5)})
    check("open range", st == 206 and b == full[-5:])
    st, h, b = srv.request(f, {"Range": "bytes=%d-" % len(full)})
    check("416", st == 416 and h["content-range"] == "bytes */%d" % len(full))
    st, h, b = srv.request(root + "nope.tif")
    check("nginx 404", st == 404 and b"nginx" in b)
    try:
        import tifffile
        import io
        with tifffile.TiffFile(io.BytesIO(full)) as tf:
            data = tf.series[0].asarray()
        exp = np.stack([np.stack([archive.plane(arch, 2301, 0, 0, c, z) for z in range(4)]) for c in range(2)])
        check("OME-TIFF pixels (tifffile)", tf.is_ome and np.array_equal(data.reshape(exp.shape), exp))
        st, h, b = srv.request(root + "multi/data/run1_s1.ome.tif")
        with tifffile.TiffFile(io.BytesIO(b)) as tf:
            data = tf.pages[3].asarray()
        check("binary-only TIFF pixels", np.array_equal(data, archive.plane(arch, 2303, 0, 0, 1, 1)))
    except ImportError:
        print("   (tifffile not installed: TIFF content not checked)")


def read_v2_image(srv, arch, iid):
    img = arch.images[iid]
    spec = img.zarr
    store = HttpMap(srv, spec.url)
    g = zarr.open_group(zarr.storage.KVStore(store), mode="r")
    attrs = g.attrs.asdict()
    ok = True
    ms = attrs["multiscales"][0]
    if spec.ngff == "0.1":
        ok &= "axes" not in ms
    else:
        ok &= "".join(a["name"] for a in ms["axes"]) == spec.axes
    ok &= attrs["omero"]["id"] == iid and len(attrs["omero"]["channels"]) == img.sc
    for lvl, ds in enumerate(ms["datasets"]):
        arr = g[ds["path"]]
        full = arr[...]
        for t in range(img.st):
            for c in range(img.sc):
                for z in range(img.sz):
                    got = full[axis_index(spec.axes, t, c, z)]
                    exp = archive.plane(arch, iid, lvl, t, c, z)
                    if got.dtype.str != spec.dtype or not np.array_equal(got, exp):
                        return False, store.missing
    return ok and len(ms["datasets"]) == len(img.levels), store.missing


def test_zarr(srv, arch, full):
    section("zarr v2 (zarr-python)")
    big = list(range(archive.BIG_FIRST, archive.BIG_FIRST + archive.BIG_COUNT))
    if not full:
        big = big[:3] + big[-3:] + big[::107]
    ids = [i for i in arch.zarr_images if arch.images[i].zarr.fmt == 2
           and i not in (2401, 2402) and not (archive.BIG_FIRST <= i < archive.BIG_FIRST + archive.BIG_COUNT)]
    ids += big
    bad = []
    missing = {}
    for iid in ids:
        ok, miss = read_v2_image(srv, arch, iid)
        missing[iid] = miss
        if not ok:
            bad.append(iid)
    check("all v2 images equal plane() (%d images)" % len(ids), not bad, repr(bad[:10]))
    check("absent chunks read as fill_value", missing.get(2109, 0) > 0)
    st, h, b = srv.request("/idr/zarr/v0.4/idr0802A/2109.zarr/0/0/0/0/0/2")
    check("absent chunk is NoSuchKey", st == 404 and b"<Code>NoSuchKey</Code>" in b
          and h["content-type"] == "application/xml")
    st, h, b = srv.request("/idr/zarr/v0.1/2101.zarr/0/.zarray")
    z = json.loads(b)
    check("v0.1 flat: no dimension_separator", "dimension_separator" not in z and z["dtype"] == ">u2"
          and z["compressor"]["id"] == "zlib")
    st, h, b = srv.request("/idr/zarr/v0.1/2101.zarr/0/0.1.2.1.0")
    check("flat chunk key", st == 200)
    for iid, want in [(2102, ("blosc", "zstd", 2)), (2103, ("gzip",)), (2104, None)]:
        z = json.loads(srv.request(arch.images[iid].zarr.url.join(["/", "/0/.zarray"]))[2])
        c = z["compressor"]
        got = None if c is None else ((c["id"], c["cname"], c["shuffle"]) if c["id"] == "blosc" else (c["id"],))
        check("compressor of %d" % iid, got == want, repr(c))
    # lazy chunk bytes are exactly what zarr writes
    img = arch.images[2301]
    meta = json.loads(srv.request("/" + img.zarr.url + "/0/.zarray")[2])
    mem = {}
    arr = zarr.open_array(zarr.storage.KVStore(mem), mode="w", shape=meta["shape"], chunks=meta["chunks"],
                          dtype=meta["dtype"], compressor=numcodecs.get_codec(meta["compressor"]),
                          fill_value=meta["fill_value"], dimension_separator="/")
    arr[0, 1, 2] = archive.plane(arch, 2301, 0, 0, 1, 2)
    st, h, served = srv.request("/" + img.zarr.url + "/0/0/1/2/0/0")
    check("lazy chunk bytes == zarr-written bytes", served == mem["0/1/2/0/0"])
    # HCS plate zarr
    st, h, b = srv.request("/idr/zarr/v0.4/idr0803A/3001.zarr/.zattrs")
    pa = json.loads(b)["plate"]
    check("plate .zattrs", len(pa["wells"]) == 96 and pa["rows"][7]["name"] == "H" and pa["field_count"] == 2)
    st, h, b = srv.request("/idr/zarr/v0.4/idr0803A/3001.zarr/H/12/.zattrs")
    check("well .zattrs", json.loads(b)["well"]["images"] == [{"path": "0"}, {"path": "1"}])
    pbad = [i for w in arch.plates[3001].well_ids for _, i in arch.wells[w].fields
            if not read_v2_image(srv, arch, i)[0]]
    check("all 192 plate images equal plane()", not pbad, repr(pbad[:5]))
    # large lazy images: sample chunks
    section("large images (sampled chunks)")
    for iid in (2401, 2402):
        img = arch.images[iid]
        store = zarr.storage.KVStore(HttpMap(srv, img.zarr.url))
        g = zarr.open_group(store, mode="r")
        ok = True
        for lvl in range(len(img.levels)):
            arr = g[str(lvl)]
            sx, sy = img.levels[lvl]
            for (t, c, z, y0, x0) in [(0, 0, 0, 0, 0), (0, img.sc - 1, img.sz - 1, sy - 100, sx - 100),
                                      (0, 1, img.sz // 2, sy // 2 - 50, sx // 2 - 50)]:
                got = arr[t, c, z, y0:y0 + 100, x0:x0 + 100]
                exp = archive.region(arch, iid, lvl, t, c, z, y0, y0 + 100, x0, x0 + 100)
                ok &= np.array_equal(got, exp)
        check("large image %d sampled chunks" % iid, ok)
    st, h, b = srv.request("/idr/zarr/v0.4/idr0802A/2402.zarr/0/.zarray")
    check("4 GiB shape", json.loads(b)["shape"] == [1, 3, 44, 4096, 4096])
    st, h, b = srv.request("/idr/zarr/v0.4/idr0802A/2402.zarr/0/0/0/0/9/0")
    check("out-of-grid chunk 404", st == 404)

    section("zarr v3 (own decoder)")
    for iid in (2110, 2111, 2112):
        img = arch.images[iid]
        root = img.zarr.url
        st, h, b = srv.request("/" + root + "/zarr.json")
        gm = json.loads(b)
        check("v3 group %d" % iid, gm["zarr_format"] == 3 and gm["node_type"] == "group"
              and gm["attributes"]["ome"]["version"] == "0.5"
              and [a["name"] for a in gm["attributes"]["ome"]["multiscales"][0]["axes"]] == list(img.zarr.axes))
        am = json.loads(srv.request("/" + root + "/0/zarr.json")[2])
        data, stats = v3_read_array(srv, root + "/0", am)
        ok = True
        for t in range(img.st):
            for c in range(img.sc):
                for z in range(img.sz):
                    ok &= np.array_equal(data[axis_index(img.zarr.axes, t, c, z)],
                                         archive.plane(arch, iid, 0, t, c, z))
        check("v3 %d equals plane()" % iid, ok)
        if iid == 2111:
            check("v3 big-endian bytes codec", am["codecs"][0]["configuration"]["endian"] == "big")
        if iid == 2112:
            conf = am["codecs"][0]["configuration"]
            check("sharding_indexed", am["codecs"][0]["name"] == "sharding_indexed"
                  and conf["index_codecs"][1] == {"name": "crc32c"} and conf["index_location"] == "end")
            check("absent inner chunks and shard", stats["absent_inner"] > 0 and stats["absent_shards"] > 0,
                  repr(stats))
            check("shard index via suffix Range", stats["range_index_ok"] > 0)


def test_misc(srv):
    section("misc, stats")
    st, h, b = srv.request("/api/v0/m/projects?limit=1")
    check("APPEND_SLASH 301", st == 301 and h["location"] == srv.base + "api/v0/m/projects/?limit=1")
    st, h, b = srv.request("/no/such/thing/")
    check("django 404", st == 404 and b"Not Found" in b)
    st, d, h = srv.get_json("/__fake/archive")
    check("archive json", st == 200 and d["projects"][0]["datasets"][0]["count"] == 10000
          and len(json.dumps(d)) < 300000)
    srv.get_json("/__fake/reset")
    srv.request("/api/v0/m/datasets/1001/images/?limit=1")
    srv.request("/idr/zarr/v0.4/idr0802A/2004.zarr/0/0/1/2/0/1")
    srv.request("/idr/zarr/v0.4/idr0802A/2004.zarr/0/.zarray")
    srv.request("/idr/zarr/v0.4/idr0803A/3001.zarr/B/3/1/0/0/1/0/0/0")
    st, d, h = srv.get_json("/__fake/stats")
    ep = d["endpoints"]
    check("stats shape", d["total"] == 4 and d["bytes"] > 0 and set(d) >= {"total", "bytes", "endpoints", "paths"})
    check("stats patterns", ep.get("/api/v0/m/datasets/{id}/images/") == 1
          and ep.get("/idr/zarr/v0.4/idr0802A/{id}.zarr/{id}/{chunk}") == 1
          and ep.get("/idr/zarr/v0.4/idr0802A/{id}.zarr/{id}/.zarray") == 1
          and ep.get("/idr/zarr/v0.4/idr0803A/{id}.zarr/B/{id}/{id}/{id}/{chunk}") == 1, repr(ep))
    check("stats paths", d["paths"].get("/api/v0/m/datasets/1001/images/") == 1)
    # keep-alive: several requests on one connection
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    n = 0
    for _ in range(5):
        c.request("GET", "/api/")
        r = c.getresponse()
        r.read()
        n += r.status == 200
    c.close()
    check("keep-alive", n == 5)


def raw_get(srv, path, timeout=10, conn=None):
    """(status, headers, body, error name) of one GET on a new connection
    (or conn); error is the exception a client meets, body what it read."""
    c = conn or http.client.HTTPConnection(srv.host, srv.port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        try:
            return r.status, hdrs, r.read(), None
        except (http.client.IncompleteRead, OSError) as e:
            return r.status, hdrs, getattr(e, "partial", b""), type(e).__name__
    except (http.client.HTTPException, OSError) as e:
        return None, {}, b"", type(e).__name__
    finally:
        if conn is None:
            c.close()


def fault(srv, kind, path_re, **opt):
    q = "&".join("%s=%s" % (k, urllib.parse.quote(str(v), safe=""))
                 for k, v in dict(opt, kind=kind, pattern=path_re).items())
    st, d, h = srv.get_json("/__fake/fault?clear=1")
    st, d, h = srv.get_json("/__fake/fault?" + q)
    return st == 200 and d["ok"]


def test_fault_layer(srv, arch):
    section("fault injection layer (/__fake/fault)")
    P = "/api/v0/m/projects/"
    K = "/searchengine/api/v1/resources/image/keys/"
    Z = "/idr/zarr/v0.4/idr0802A/2004.zarr/0/.zarray"
    C = "/idr/zarr/v0.4/idr0802A/2004.zarr/0/0/0/0/0/0"
    real = {p: srv.request(p)[2] for p in (P, K, Z, C, "/api/v0/m/datasets/1003/images/")}
    srv.get_json("/__fake/reset")
    for code in (500, 502, 503, 404):
        fault(srv, str(code), "^/api/")
        st, h, b, e = raw_get(srv, P)
        check("fault %d" % code, st == code and b"nginx" in b, repr((st, b[:60])))
    fault(srv, "404", "^/idr/zarr/")
    st, h, b, e = raw_get(srv, C)
    check("fault 404 on a Zarr key is S3's NoSuchKey", st == 404 and b"<Code>NoSuchKey" in b)
    fault(srv, "429", "^/api/", retry_after=7)
    st, h, b, e = raw_get(srv, P)
    check("fault 429 with Retry-After", st == 429 and h.get("retry-after") == "7")
    fault(srv, "reset", "^/api/")
    st, h, b, e = raw_get(srv, P)
    check("fault reset: no status, a reset", st is None and e in ("ConnectionResetError",
                                                                    "RemoteDisconnected"), repr(e))
    fault(srv, "reset_body", "^/api/")
    st, h, b, e = raw_get(srv, P)
    check("fault reset_body: 200, then a reset mid-body", st == 200 and e is not None
          and int(h["content-length"]) == len(real[P]), repr((st, e)))
    fault(srv, "stall", "^/api/", secs=1)
    t0 = time.time()
    st, h, b, e = raw_get(srv, P, timeout=0.4)
    check("fault stall: the client times out", st is None and e in ("timeout", "TimeoutError"),
          repr(e))
    st, h, b, e = raw_get(srv, P, timeout=5)
    dt = time.time() - t0
    check("fault stall: bounded by secs, then closed", st is None and 1.0 <= dt < 4, "%.2f %r" % (dt, e))
    fault(srv, "trickle", "^/searchengine/", rate=2000)
    t0 = time.time()
    st, h, b, e = raw_get(srv, K)
    dt = time.time() - t0
    check("fault trickle: the whole body, slowly", st == 200 and b == real[K]
          and dt >= 0.8 * len(b) / 2000, "%.2f s for %d bytes" % (dt, len(b)))
    fault(srv, "cut", "^/api/")
    c = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
    st, h, b, e = raw_get(srv, P, conn=c)
    st2, h2, b2, e2 = raw_get(srv, P, conn=c)
    c.close()
    check("fault cut: half the body, its own Content-Length, connection kept",
          st == 200 and b == real[P][:len(real[P]) // 2] and int(h["content-length"]) == len(b)
          and e is None and b2 == b, repr((len(b), e, e2)))
    fault(srv, "short", "^/api/")
    st, h, b, e = raw_get(srv, P)
    check("fault short: Content-Length larger than the body", st == 200 and e == "IncompleteRead"
          and b == real[P] and int(h["content-length"]) > len(b), repr((e, h.get("content-length"))))
    fault(srv, "empty", "^/api/")
    st, h, b, e = raw_get(srv, P)
    check("fault empty: 200, no body", st == 200 and b == b"" and h["content-length"] == "0")
    fault(srv, "html", "^/api/")
    st, h, b, e = raw_get(srv, P)
    check("fault html: 200 text/html", st == 200 and h["content-type"].startswith("text/html")
          and b.startswith(b"<!DOCTYPE html>"))
    fault(srv, "badjson", "^/api/")
    st, h, b, e = raw_get(srv, P)
    try:
        json.loads(b)
        bad = False
    except ValueError:
        bad = True
    check("fault badjson: the body no longer parses", st == 200 and bad and len(b) > len(real[P]))
    fault(srv, "string", "^/api/")
    d = json.loads(raw_get(srv, P)[2])
    check("fault string: ints as strings", d["data"][0]["@id"] == "101"
          and d["meta"]["totalCount"] == "2", repr(d["meta"]))
    fault(srv, "null", "^/api/")
    d = json.loads(raw_get(srv, P)[2])
    check("fault null: every scalar null", d["data"][0]["@id"] is None and d["data"][0]["Name"] is None
          and len(d["data"]) == 2)
    fault(srv, "nested", "^/api/")
    d = json.loads(raw_get(srv, P)[2])
    check("fault nested: [[v]] for every scalar", d["data"][0]["@id"] == [[101]]
          and d["meta"]["limit"] == [[200]])
    L = "/api/v0/m/datasets/1003/images/"
    fault(srv, "huge", "^/api/", items=1000)
    d = json.loads(raw_get(srv, L)[2])
    ids = [i["@id"] for i in d["data"]]
    check("fault huge: the page padded, ids unique, totalCount as before",
          len(ids) == 1008 and len(set(ids)) == 1008 and d["meta"]["totalCount"] == 8
          and d["data"][:8] == json.loads(real[L])["data"], repr(len(ids)))
    fault(srv, "names", "^/api/")
    st, h, b, e = raw_get(srv, L)
    names = [i["Name"] for i in json.loads(b)["data"]]
    orig = [i["Name"] for i in json.loads(real[L])["data"]]
    import faults
    check("fault names: every other name hostile, NUL escaped", b"\\u0000" in b
          and names[1::2] == orig[1::2] and names[0::2] == faults.HOSTILE[:4], repr(names))
    fault(srv, "names", "^/api/", nul=0, every=1)
    b = raw_get(srv, L)[2]
    check("fault names nul=0: no NUL, every name hostile", b"\\u0000" not in b
          and [i["Name"] for i in json.loads(b)["data"]] == faults.HOSTILE[1:] + faults.HOSTILE[1:2])
    fault(srv, "zarr_huge", r"\.zarray$")
    z = json.loads(raw_get(srv, Z)[2])
    check("fault zarr_huge", z["shape"] == [10 ** 12] * 5 and z["chunks"] == [10 ** 12] * 5)
    fault(srv, "zarr_negative", r"\.zarray$")
    z = json.loads(raw_get(srv, Z)[2])
    check("fault zarr_negative", all(v < 0 for v in z["shape"] + z["chunks"]))
    fault(srv, "zarr_codec", r"\.zarray$")
    z = json.loads(raw_get(srv, Z)[2])
    check("fault zarr_codec", z["compressor"]["id"] == faults.UNKNOWN_CODEC
          and z["shape"] == json.loads(real[Z])["shape"])
    fault(srv, "garbage", "[0-9]$")
    b = raw_get(srv, C)[2]
    check("fault garbage: as many other bytes", len(b) == len(real[C]) and b != real[C])
    fault(srv, "chunk_size", "[0-9]$")
    b = raw_get(srv, C)[2]
    blosc = numcodecs.Blosc()
    check("fault chunk_size: half the decoded bytes",
          len(blosc.decode(b)) * 2 == len(blosc.decode(real[C])))
    fault(srv, "redirect", "^/api/")
    st, h, b, e = raw_get(srv, P + "?limit=1")
    check("fault redirect: 302 to the same URL", st == 302
          and h["location"] == srv.base + P[1:] + "?limit=1", repr(h.get("location")))
    # rewrites touch only 2xx answers; count; glob; the control endpoints
    fault(srv, "garbage", "^/idr/")
    st, h, b, e = raw_get(srv, "/idr/zarr/v0.4/idr0802A/2109.zarr/0/0/0/0/0/2")
    check("rewriting faults pass a 404 through", st == 404 and b"NoSuchKey" in b)
    fault(srv, "503", ".", count=1)
    st1 = raw_get(srv, P)[0]
    st2 = raw_get(srv, P)[0]
    st, d, h = srv.get_json("/__fake/stats")
    check("count=1 fires once; control endpoints are never faulted",
          (st1, st2, st) == (503, 200, 200), repr((st1, st2, st)))
    srv.get_json("/__fake/fault?clear=1")
    st, d, h = srv.get_json("/__fake/fault?kind=500&glob=/api/v0/m/pro*")
    st1 = raw_get(srv, P)[0]
    st2 = raw_get(srv, "/api/v0/m/screens/")[0]
    check("glob patterns", st == 200 and (st1, st2) == (500, 200), repr((st1, st2)))
    st, d, h = srv.get_json("/__fake/fault")
    check("the rules are listed with their hits", d["rules"][0]["hits"] == 1 and "stall" in d["kinds"])
    st, d, h = srv.get_json("/__fake/fault?kind=nosuch&pattern=.")
    check("an unknown kind is refused", st == 400 and not d["ok"])
    st, d, h = srv.get_json("/__fake/fault?kind=503")
    check("a rule needs a pattern", st == 400)
    st, d, h = srv.get_json("/__fake/fault?clear=1")
    check("clear answers the hits", st == 200 and d["cleared"] == 1 and list(d["hits"].values()) == [1])
    st, d, h = srv.get_json("/__fake/stats")
    check("faulted requests are counted as injected", d["injected"]["fault"] >= 30, repr(d["injected"]))
    check("and the server answers normally again", raw_get(srv, P)[2] == real[P])


def test_faults():
    section("latency / failure / truncation knobs")
    srv = Server("--fail-rate", "0.3", "--truncate-rate", "0.3", "--latency-ms", "20", "--seed", "7")
    try:
        fails = truncs = ok = 0
        t0 = time.time()
        for i in range(40):
            c = http.client.HTTPConnection(srv.host, srv.port, timeout=10)
            try:
                c.request("GET", "/api/v0/m/projects/")
                r = c.getresponse()
                if r.status == 503:
                    fails += 1
                    r.read()
                else:
                    try:
                        r.read()
                        ok += 1
                    except http.client.IncompleteRead:
                        truncs += 1
            finally:
                c.close()
        dt = time.time() - t0
        check("injected 503s", 4 <= fails <= 24, "fails=%d" % fails)
        check("injected truncations", 2 <= truncs <= 24, "truncs=%d" % truncs)
        check("latency applied", dt >= 40 * 0.02)
        st, d, h = srv.get_json("/__fake/stats")
        check("control endpoints not failed", st == 200 and d["injected"]["fail"] == fails)
    finally:
        srv.stop()


def test_today(srv):
    """--as-idr-today: what the live IDR offers a client (idr-api.md 5.8,
    6.1, 6.4, 6.5), and nothing of it in the default mode."""
    section("as IDR is today (--as-idr-today)")
    arch = archive.build(1, today=True)
    st, j, _ = srv.get_json("/api/v0/m/images/2001/")
    check("today: no ExternalInfo on an image", st == 200 and
          "externalInfo" not in j["data"]["omero:details"])
    st, j, _ = srv.get_json("/api/v0/m/datasets/1003/images/?limit=10")
    check("today: none in list items either", st == 200 and j["data"] and
          all("externalInfo" not in d["omero:details"] for d in j["data"]))
    st, _, _ = srv.request("/idr/zarr/v0.4/idr0802B/2001.zarr/.zattrs")
    st2, _, _ = srv.request("/idr/zarr/v0.4/idr0802A/2001.zarr/.zattrs")
    check("today: Zarr under the study prefix of experimentB", st == 200 and st2 == 404,
          "%d %d" % (st, st2))
    ok, missing = read_v2_image(srv, arch, 2004)
    check("today: image 2004 reads back from idr0802B", ok, repr(missing))
    st, _, _ = srv.request("/idr/zarr/v0.4/idr0801A/1000001.zarr/.zattrs")
    check("today: the big dataset stays at idr0801A (experimentA)", st == 200)
    st, j, _ = srv.get_json("/webclient/api/tags/?orphaned=true&experimenter_id=-1&page=0")
    tags = [t for t in j.get("tags", []) if "OME-NGFF" in t.get("value", "")]
    check("today: an OME-NGFF tag", st == 200 and len(tags) == 1)
    st, j, _ = srv.get_json("/webclient/api/tags/?id=%d" % tags[0]["id"] if tags else "/")
    check("today: it tags the Zarr projects and screens",
          st == 200 and sorted(p["id"] for p in j["projects"]) == [101, 102]
          and [x["id"] for x in j["screens"]] == [201], repr(j)[:200])
    st, h, b = srv.request("/" + archive.TODAY_CATALOGUE)
    lines = b.decode().splitlines() if st == 200 else []
    check("today: a catalogue in table.csv's shape",
          st == 200 and lines[0].startswith("OME-NGFF version,File Path,")
          and "Representative Image ID" in lines[0], lines[:1])
    ids = [ln.split(",")[-2] for ln in lines[1:]]
    check("today: it lists the v0.1 and v0.5 images (no template finds them)",
          {"2101", "2110", "2111", "2112"} <= set(ids), repr(ids))
    url = [ln for ln in lines if ln.endswith(",2110,")]
    st, _, _ = srv.request(url[0].split(",")[1][len(srv.base) - 1:] + "/zarr.json"
                           if url else "/")
    check("today: its URLs answer", st == 200, str(st))


def main():
    full = "--full" in sys.argv
    arch = archive.build(1)
    servers = []

    def watchdog():
        # hard bound: kill our servers and give up
        print("FAIL: self-test watchdog expired")
        for s in list(servers):
            try:
                os.kill(s.proc.pid, signal.SIGKILL)
            except OSError:
                pass
        print("%d passed, %d failed" % (PASSED, FAILED + 1))
        sys.stdout.flush()
        os._exit(1)
    dog = threading.Timer(DEADLINE - time.time() + 120, watchdog)
    dog.daemon = True
    dog.start()
    try:
        test_ground_truth(arch)
        srv = Server()
        servers.append(srv)
        print("   started in %.2f s at %s" % (srv.startup, srv.base))
        check("startup < 3 s", srv.startup < 3.0, "%.2f s" % srv.startup)
        check("one stdout line", srv.line == srv.base + "\n" and srv.base.endswith("/"))
        test_json_api(srv, arch)
        test_webclient(srv, arch)
        test_render(srv, arch)
        test_search(srv, arch)
        test_mapr_redirect(srv)
        test_originals(srv, arch)
        test_zarr(srv, arch, full)
        test_misc(srv)
        test_fault_layer(srv, arch)
        left = srv.stop()
        servers.remove(srv)
        check("SIGTERM exits cleanly", srv.proc.returncode == 0, repr(srv.proc.returncode))
        check("temp data dir removed", left == [], repr(left))
        srv2 = Server("--mapr", "--cookie-name", "sessionid_other")
        servers.append(srv2)
        test_mapr(srv2)
        st, h, b = srv2.request("/webclient/?experimenter=-1")
        check("--cookie-name", "sessionid_other=" in h.get("set-cookie", ""))
        st, j, _ = srv2.get_json("/api/v0/m/images/2001/")
        check("default mode: ExternalInfo, no catalogue",
              "externalInfo" in j["data"]["omero:details"]
              and srv2.request("/" + archive.TODAY_CATALOGUE)[0] == 404)
        srv3 = Server("--as-idr-today")
        servers.append(srv3)
        test_today(srv3)
        test_faults()
    except Exception as e:
        import traceback
        traceback.print_exc()
        check("no exception", False, repr(e))
    finally:
        for s in servers:
            s.stop()
    dog.cancel()
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 0 if FAILED == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
