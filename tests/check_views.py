#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check the multi-resolution views of an idrfs mount with outside readers.

usage: check_views.py [options] MOUNT FAKE_URL
       check_views.py --make DIR FAKE_URL ID...   (files made with tifffile
                                                   and zarr, to test this
                                                   checker without idrfs)

For every <stem>.ome.tif under MOUNT/projects and MOUNT/screens: tifffile
reads it as a pyramid (series[0].levels) with the levels bioformats2raw's
rule gives for the levels the source has, every level's pixels equal the
source level read from the fake server with zarr-python (Zarr v3 sources:
the archive's ground truth, which the fake's self-test holds equal to what
it serves), in the source's pixel type; a little-endian tiled BigTIFF with
one IFD per plane and the levels as SubIFDs; tiffinfo and tiffdump print no
warning (on the .tif beside it too); the OME-XML names the source's channels
and validates against the OME 2016-06 schema (--xsd, or $IDRFS_OME_XSD).
For every MOUNT/zarr/**/<stem>.zarr: zarr-python opens it from the path as
an OME-NGFF 0.4 group with every source level, uncompressed, '/' keys,
5-D, the source's chunks, and every level equal to the source.
Images over 256 MiB are sampled: a few planes, the corners of each level.
Prints one "ok"/"not ok" line per file and check; exits 1 if any failed."""
import argparse
import collections.abc
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

import numpy as np
import tifffile
import zarr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "fake-idr"))
sys.path.insert(0, HERE)
import archive  # noqa: E402
import check_pixels  # noqa: E402

SAMPLE_ABOVE = 256 << 20   # bytes of level 0 above which planes are sampled
CORNER = 256               # side of a sampled corner region
OME_TYPES = {"int8", "uint8", "int16", "uint16", "int32", "uint32", "float",
             "double"}


# ---------------------------------------------------------------- the rules

def rule_levels(sx, sy):
    """bioformats2raw's pyramid: halve (floor) while the previous level is
    wider or taller than 1024."""
    out = [(sx, sy)]
    while out[-1][0] > 1024 or out[-1][1] > 1024:
        out.append((max(1, out[-1][0] // 2), max(1, out[-1][1] // 2)))
    return out


def ome_levels(img):
    """Levels of the .ome.tif: the rule's, as far as the source has each
    at the rule's size."""
    out = []
    for k, want in enumerate(rule_levels(img.sx, img.sy)):
        if k >= len(img.levels) or tuple(img.levels[k]) != want:
            break
        out.append(want)
    return out


IJ_TAG_WARNING = re.compile(r"Unknown field with tag 5083[89] \(0xc69[67]\) encountered")


def tile_side(size):
    return min(1024, (size + 15) // 16 * 16)


def native(dt):
    """A dtype without its byte order (kind and size)."""
    return np.dtype(dt).newbyteorder("=")


# ---------------------------------------------------------------- ground truth

class HttpStore(collections.abc.MutableMapping):
    """A read-only zarr store over the fake server's S3 bucket (urllib)."""

    def __init__(self, url):
        self.url = url.rstrip("/") + "/"

    def __getitem__(self, key):
        try:
            with urllib.request.urlopen(self.url + key, timeout=60) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                raise KeyError(key) from None
            raise

    def __contains__(self, key):
        try:
            self[key]
            return True
        except KeyError:
            return False

    def __setitem__(self, key, value):
        raise PermissionError("read-only")

    def __delitem__(self, key):
        raise PermissionError("read-only")

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0


def zarr_url(desc, iid):
    """The absolute Zarr URL of an image, from /__fake/archive."""
    for p in desc["projects"]:
        for d in p["datasets"]:
            for im in d.get("images", []):
                if im["id"] == iid:
                    return im["zarr"]
            ids = d.get("image_ids")
            if ids and ids[0] <= iid <= ids[1]:
                return d["image_template"]["zarr"].replace("{id}", str(iid))
    for s in desc["screens"]:
        for pl in s["plates"]:
            for w in pl["wells"]:
                if iid in w["fields"]:
                    return pl["image_zarr_format"].format(
                        row_letter=chr(ord("A") + w["row"]),
                        column_number=w["column"] + 1,
                        field_index=w["fields"].index(iid))
    return None


class Truth:
    """The source pixels of one image, per level, as (T, C, Z, y, x)
    regions: zarr-python over HTTP for Zarr v2 sources, the archive model
    for v3 ones (zarr 2.13 reads no v3)."""

    def __init__(self, arch, desc, img):
        self.arch, self.img = arch, img
        self.how = "archive model"
        self.group = None
        spec = img.zarr
        url = zarr_url(desc, img.id)
        if spec is not None and spec.fmt == 2 and url:
            self.group = zarr.open_group(zarr.storage.KVStore(HttpStore(url)),
                                         mode="r")
            self.how = "zarr-python from the fake server"

    def region(self, level, t, c, z, y0, y1, x0, x1):
        img = self.img
        if self.group is None:
            return archive.region(self.arch, img, level, t, c, z, y0, y1, x0, x1)
        arr = self.group[str(level)]
        idx = {"t": t, "c": c, "z": z, "y": slice(y0, y1), "x": slice(x0, x1)}
        return arr[tuple(idx[a] for a in img.zarr.axes)]

    def chunks5(self, level):
        """The source level's chunk shape as (t, c, z, y, x)."""
        spec = self.img.zarr
        if self.group is not None:
            ch = dict(zip(spec.axes, self.group[str(level)].chunks))
        else:
            ch = {"y": spec.chunk_yx[0], "x": spec.chunk_yx[1]}
        return tuple(ch.get(a, 1) for a in "tczyx")


def samples(img, level, above=SAMPLE_ABOVE):
    """(t, c, z, y0, y1, x0, x1) regions to compare at a level: every plane
    whole, or for images over above bytes a few planes' corners."""
    lsx, lsy = img.levels[level]
    planes = [(t, c, z) for t in range(img.st) for c in range(img.sc)
              for z in range(img.sz)]
    if img.sx * img.sy * len(planes) * img.dtype.itemsize <= above:
        return [p + (0, lsy, 0, lsx) for p in planes]
    pick = sorted({0, len(planes) // 2, len(planes) - 1})
    w, h = min(CORNER, lsx), min(CORNER, lsy)
    out = []
    for i in pick:
        for y0, x0 in ((0, 0), (0, lsx - w), (lsy - h, 0), (lsy - h, lsx - w)):
            out.append(planes[i] + (y0, y0 + h, x0, x0 + w))
    return out


def differ(got, want):
    """None if equal (NaN equals NaN), else a short account."""
    if got.shape != want.shape:
        return "shape %s, expected %s" % (got.shape, want.shape)
    if got.dtype.kind == "f":
        bad = ~((got == want) | (np.isnan(got) & np.isnan(want)))
    else:
        bad = got != want
    if not bad.any():
        return None
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    return "%d pixels differ, first at %s: %r != %r" % (
        int(bad.sum()), idx, got[idx], want[idx])


# ---------------------------------------------------------------- finding images

def xattr(path, name):
    try:
        return os.getxattr(path, name).decode("utf-8", "replace")
    except OSError:
        return None


class Index:
    """Which image a view is: user.idr.id, else its place in the tree."""

    def __init__(self, mount, arch, desc):
        self.mount, self.arch = mount, arch
        self.by_path = {}
        for iid in arch.images:
            if arch.images[iid].zarr is None:
                continue
            try:
                tif = check_pixels.image_path(mount, arch, desc, iid)
            except KeyError:
                continue
            rel = os.path.relpath(tif, mount)[:-len(".tif")]
            self.by_path[rel] = iid

    def image_of(self, path, stem_rel):
        for p in (path, os.path.join(self.mount, stem_rel + ".tif")):
            v = xattr(p, "user.idr.id")
            if v and v.strip().isdigit():
                return int(v)
        return self.by_path.get(stem_rel)


def sample_names(names, limit):
    """At most limit names, spread evenly (first and last kept)."""
    names = sorted(names)
    if limit <= 0 or len(names) <= limit:
        return names
    step = (len(names) - 1) / float(limit - 1) if limit > 1 else 1
    return sorted({names[int(round(i * step))] for i in range(limit)})


def walk(top, suffix, limit, is_dir):
    """Paths under top ending in suffix (files, or directories not entered),
    at most limit per directory."""
    out = []
    stack = [top]
    while stack:
        d = stack.pop()
        try:
            ents = list(os.scandir(d))
        except OSError:
            continue
        hits = []
        for e in ents:
            if e.name.endswith(suffix) and e.is_dir() == is_dir:
                hits.append(e.name)
            elif e.is_dir(follow_symlinks=False) and not e.name.endswith(".zarr"):
                stack.append(e.path)
        out += [os.path.join(d, n) for n in sample_names(hits, limit)]
    return sorted(out)


# ---------------------------------------------------------------- outside tools

def tool_warnings(cmd, path):
    """What a libtiff tool prints on stderr, or its exit status."""
    try:
        r = subprocess.run([cmd, path], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=300)
    except FileNotFoundError:
        return None
    err = r.stderr.decode("utf-8", "replace").strip()
    if r.returncode != 0:
        return "%s exits %d: %s" % (cmd, r.returncode, err[:200])
    return "%s: %s" % (cmd, err.splitlines()[0][:200]) if err else ""


def xsd_path(opt):
    for p in (opt, os.environ.get("IDRFS_OME_XSD"),
              os.path.join(HERE, "..", "..", "shared", "schemas", "ome-2016-06",
                           "ome.xsd")):
        if p and os.path.isfile(p):
            return p
    return None


def validate_ome(xml, xsd):
    """None if the OME-XML validates against the schema, else why not."""
    with tempfile.NamedTemporaryFile("w", suffix=".xml", encoding="utf-8",
                                     delete=False) as f:
        f.write(xml)
    try:
        r = subprocess.run(["xmllint", "--noout", "--schema", xsd, f.name],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
    finally:
        os.unlink(f.name)
    out = r.stdout.decode("utf-8", "replace")
    # the 2016-06 schema imports ../external/xml.xsd, which it does not ship:
    # xmllint skips that import (only xml:lang needs it) and says so
    lines = [ln for ln in out.splitlines()
             if ln.strip() and "xml.xsd" not in ln and not ln.endswith(" validates")]
    if r.returncode != 0 or lines:
        return "; ".join(lines[:3]) or "xmllint exits %d" % r.returncode
    return None


# ---------------------------------------------------------------- .ome.tif

def map_axes(axes, shape, img, level):
    """Index maker for a (squeezed) tifffile series: (t, c, z, ys, xs)
    -> index tuple, after checking the axes hold T, C, Z, Y, X only."""
    size = {"T": img.st, "C": img.sc, "Z": img.sz}
    lsx, lsy = img.levels[level]
    want = dict(size, Y=lsy, X=lsx)
    for a, n in zip(axes, shape):
        if a not in want:
            raise ValueError("axis %s (size %d) in %s" % (a, n, axes))
        if want[a] != n:
            raise ValueError("%s is %d, expected %d (axes %s)" % (a, n, want[a], axes))
    for a, n in size.items():
        if n > 1 and a not in axes:
            raise ValueError("axes %s lack %s of size %d" % (axes, a, n))

    def index(t, c, z, ys, xs):
        v = {"T": t, "C": c, "Z": z, "Y": ys, "X": xs}
        return tuple(v[a] for a in axes)
    return index


def check_ome_tif(path, img, truth, base, xsd, above):
    """[(what, error or None)] for one .ome.tif."""
    out = []
    levels = ome_levels(img)
    with tifffile.TiffFile(path) as tif:
        s = tif.series[0]
        got_levels = [tuple(lv.shape[-1:-3:-1]) for lv in s.levels]
        err = None
        if not tif.is_bigtiff or tif.byteorder != "<":
            err = "not a little-endian BigTIFF (bigtiff=%s byteorder %s)" % (
                tif.is_bigtiff, tif.byteorder)
        elif not tif.is_ome:
            err = "tifffile does not read it as OME-TIFF"
        elif got_levels != levels:
            err = "levels %s, expected %s (source %s)" % (
                got_levels, levels, [tuple(x) for x in img.levels])
        elif len(tif.pages) != img.sc * img.sz * img.st:
            err = "%d IFDs in the main chain, expected C*Z*T = %d" % (
                len(tif.pages), img.sc * img.sz * img.st)
        out.append(("a %s-level pyramid, one IFD per plane" % len(levels), err))
        if err:
            return out
        # layout: tiles, SubIFDs, pixel type
        err = None
        want_dt = native(img.dtype)
        for k, lv in enumerate(s.levels):
            p = lv.pages[0]
            # one tile size in every level: level 0's
            lsx, lsy = levels[0]
            if not p.is_tiled:
                err = "level %d is not tiled" % k
            elif (p.tilewidth, p.tilelength) != (tile_side(lsx), tile_side(lsy)):
                err = "level %d tiles %dx%d, expected %dx%d" % (
                    k, p.tilewidth, p.tilelength, tile_side(lsx), tile_side(lsy))
            elif k > 0 and p.subfiletype != 1:
                err = "level %d NewSubfileType %d, expected 1" % (k, p.subfiletype)
            elif native(lv.dtype) != want_dt:
                err = "level %d dtype %s, expected %s" % (k, lv.dtype, want_dt)
            if err:
                break
        if not err and len(levels) > 1 and 330 not in tif.pages[0].tags:
            err = "IFD0 has no SubIFDs tag"
        out.append(("tiled, levels as SubIFDs, dtype %s" % want_dt, err))
        # OME-XML: what check_pixels checks, the type, the schema
        err = check_pixels.check_ome(tif, img, base)
        if not err:
            import xml.etree.ElementTree as ET
            ns = "{http://www.openmicroscopy.org/Schemas/OME/2016-06}"
            px = ET.fromstring(tif.ome_metadata).find(ns + "Image/" + ns + "Pixels")
            if px.get("Type") != img.ptype:
                err = "Pixels Type %s, expected %s" % (px.get("Type"), img.ptype)
        out.append(("OME-XML: channel names, sizes, Type %s" % img.ptype, err))
        if xsd:
            out.append(("OME-XML validates against ome.xsd",
                        validate_ome(tif.ome_metadata, xsd)))
        # pixels, level by level
        err = None
        for k, lv in enumerate(s.levels):
            index = map_axes(lv.axes, lv.shape, img, k)
            arr = zarr.open(s.aszarr(level=k), mode="r")
            for t, c, z, y0, y1, x0, x1 in samples(img, k, above):
                got = arr[index(t, c, z, slice(y0, y1), slice(x0, x1))]
                want = truth.region(k, t, c, z, y0, y1, x0, x1)
                d = differ(np.asarray(got), np.asarray(want))
                if d:
                    err = "level %d t%d c%d z%d [%d:%d, %d:%d]: %s" % (
                        k, t, c, z, y0, y1, x0, x1, d)
                    break
            if err:
                break
        out.append(("pixels of every level equal the source (%s)" % truth.how, err))
    for cmd in ("tiffinfo", "tiffdump"):
        w = tool_warnings(cmd, path)
        if w is not None:
            out.append(("%s prints no warning" % cmd, w or None))
    return out


# ---------------------------------------------------------------- zarr view

def check_zarr_view(path, img, truth, base, above):
    out = []
    err = None
    try:
        g = zarr.open_group(path, mode="r")
        attrs = g.attrs.asdict()
        ms = attrs["multiscales"][0]
    except Exception as e:  # noqa: BLE001 - report, do not crash
        return [("zarr-python opens it as a group", "%s: %s" % (type(e).__name__, e))]
    axes = [a.get("name") for a in ms.get("axes", [])]
    paths = [d["path"] for d in ms.get("datasets", [])]
    if ms.get("version") != "0.4":
        err = "multiscales version %r" % ms.get("version")
    elif axes != list("tczyx"):
        err = "axes %s" % axes
    elif len(paths) != len(img.levels):
        err = "%d datasets, the source has %d levels" % (len(paths), len(img.levels))
    else:
        with urllib.request.urlopen("%swebgateway/imgData/%d/" % (base, img.id)) as r:
            labels = [ch["label"] for ch in json.load(r)["channels"]]
        got = [ch.get("label") for ch in attrs.get("omero", {}).get("channels", [])]
        if got != labels:
            err = "omero channel labels %s, expected %s" % (got, labels)
    out.append(("OME-NGFF 0.4 group: t,c,z,y,x, %d levels, channel labels" % len(img.levels),
                err))
    if err:
        return out
    err = None
    want_dt = native(img.dtype)
    for k, p in enumerate(paths):
        a = g[p]
        lsx, lsy = img.levels[k]
        shape = (img.st, img.sc, img.sz, lsy, lsx)
        meta = json.load(open(os.path.join(path, p, ".zarray")))
        chunks = truth.chunks5(k)
        ok_chunks = [chunks]
        spec = img.zarr
        if spec.shard_yx:
            ok_chunks.append((1, 1, 1) + tuple(spec.shard_yx))
        if a.shape != shape:
            err = "level %d shape %s, expected %s" % (k, a.shape, shape)
        elif tuple(a.chunks) not in ok_chunks:
            err = "level %d chunks %s, expected %s" % (k, a.chunks, chunks)
        elif meta.get("compressor") is not None:
            err = "level %d compressor %s" % (k, meta.get("compressor"))
        elif meta.get("dimension_separator") != "/":
            err = "level %d dimension_separator %r" % (k, meta.get("dimension_separator"))
        elif native(a.dtype) != want_dt or a.dtype.byteorder == ">":
            err = "level %d dtype %s, expected %s little-endian" % (k, a.dtype.str, want_dt)
        if err:
            break
    out.append(("uncompressed, '/' keys, 5-D, the source's chunks", err))
    if err:
        return out
    err = None
    for k, p in enumerate(paths):
        a = g[p]
        for t, c, z, y0, y1, x0, x1 in samples(img, k, above):
            d = differ(a[t, c, z, y0:y1, x0:x1], np.asarray(truth.region(k, t, c, z, y0, y1, x0, x1)))
            if d:
                err = "level %d t%d c%d z%d [%d:%d, %d:%d]: %s" % (k, t, c, z, y0, y1, x0, x1, d)
                break
        if err:
            break
    out.append(("every level equals the source (%s)" % truth.how, err))
    return out


# ---------------------------------------------------------------- xattrs, tsv

def check_links(mount, stem_rel, ome, zview):
    """The .tif's user.idr.ome_tif / user.idr.zarr name its views."""
    tif = os.path.join(mount, stem_rel + ".tif")
    bad = []
    for name, want in (("user.idr.ome_tif", ome), ("user.idr.zarr", zview)):
        if want is None:
            continue
        v = xattr(tif, name)
        if v is None:
            bad.append("%s missing" % name)
            continue
        cands = [v, os.path.join(mount, v.lstrip("/")), os.path.join(os.path.dirname(tif), v)]
        if not any(os.path.realpath(c) == os.path.realpath(want) for c in cands):
            bad.append("%s=%r is not %s" % (name, v, os.path.relpath(want, mount)))
    return "; ".join(bad) or None


# ---------------------------------------------------------------- making views

def make_views(top, arch, desc, ids, base, bad=False):
    """Write .ome.tif and .zarr views as the brief specifies them, with
    tifffile and zarr, where idrfs would show them (to test this checker);
    bad: the last level of each view wrong (a pyramid's smallest level off
    by one in the .ome.tif, upside down in the Zarr view)."""
    for iid in ids:
        img = arch.images[iid]
        truth = Truth(arch, desc, img)
        tif = check_pixels.image_path(top, arch, desc, iid)
        rel = os.path.relpath(tif, top)[:-len(".tif")]
        os.makedirs(os.path.dirname(tif), exist_ok=True)
        open(tif, "wb").close()
        lv = ome_levels(img)
        with urllib.request.urlopen("%swebgateway/imgData/%d/" % (base, iid)) as r:
            labels = [ch["label"] for ch in json.load(r)["channels"]]

        def level(k, lsx, lsy):
            return np.stack([np.stack([np.stack([
                np.asarray(truth.region(k, t, c, z, 0, lsy, 0, lsx)).astype(native(img.dtype))
                for c in range(img.sc)]) for z in range(img.sz)]) for t in range(img.st)])
        meta = {"axes": "TZCYX", "Channel": {"Name": labels}}
        if img.phys[0] is not None:
            meta.update(PhysicalSizeX=img.phys[0], PhysicalSizeY=img.phys[1])
        if img.phys[2] is not None:
            meta["PhysicalSizeZ"] = img.phys[2]
        with tifffile.TiffWriter(os.path.join(top, rel + ".ome.tif"), bigtiff=True,
                                 byteorder="<", ome=True) as tw:
            sx, sy = lv[0]
            tile = (tile_side(sy), tile_side(sx))
            tw.write(level(0, sx, sy), subifds=len(lv) - 1, metadata=meta, tile=tile)
            for k in range(1, len(lv)):
                sx, sy = lv[k]
                data = level(k, sx, sy)
                if bad and k == len(lv) - 1:
                    data = data + np.array(1, dtype=data.dtype)  # off by one
                tw.write(data, subfiletype=1, tile=tile)
        zp = os.path.join(top, "zarr", rel + ".zarr")
        g = zarr.open_group(zarr.DirectoryStore(zp, dimension_separator="/"), mode="w")
        g.attrs.put({"multiscales": [{"version": "0.4", "name": img.name, "axes": [
            {"name": "t", "type": "time"}, {"name": "c", "type": "channel"},
            {"name": "z", "type": "space"}, {"name": "y", "type": "space"},
            {"name": "x", "type": "space"}], "datasets": [
                {"path": str(k), "coordinateTransformations": [
                    {"type": "scale", "scale": [1, 1, 1, 2.0 ** k, 2.0 ** k]}]}
                for k in range(len(img.levels))]}],
            "omero": {"channels": [{"label": n} for n in labels]}})
        for k, (sx, sy) in enumerate(img.levels):
            data = level(k, sx, sy).transpose(0, 2, 1, 3, 4)  # T Z C -> T C Z
            if bad and k == len(img.levels) - 1:
                data = data[:, :, :, ::-1]  # the last level upside down
            g.create_dataset(str(k), data=data.astype(native(img.dtype).newbyteorder("<")),
                             chunks=truth.chunks5(k), compressor=None,
                             dimension_separator="/")
        print("made %s(.ome.tif, .zarr)" % rel)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mount")
    ap.add_argument("fake_url")
    ap.add_argument("ids", nargs="*", type=int, help="with --make: the images")
    ap.add_argument("--make", action="store_true")
    ap.add_argument("--bad", action="store_true", help="with --make: wrong last levels")
    ap.add_argument("--max-per-dir", type=int, default=0,
                    help="check at most N views per directory (0: all)")
    ap.add_argument("--only", default="", help="comma-separated image ids to check")
    ap.add_argument("--xsd", default=None, help="the OME 2016-06 ome.xsd")
    ap.add_argument("--sample-above", type=int, default=SAMPLE_ABOVE >> 20, metavar="MIB",
                    help="sample planes of images larger than this (default %(default)s)")
    ap.add_argument("--no-tif", action="store_true",
                    help="do not run tiffinfo/tiffdump on the .tif beside each .ome.tif")
    o = ap.parse_args()
    base = o.fake_url if o.fake_url.endswith("/") else o.fake_url + "/"
    mount = os.path.abspath(o.mount)
    arch = archive.build(1)
    with urllib.request.urlopen(base + "__fake/archive") as r:
        desc = json.load(r)
    if o.make:
        make_views(mount, arch, desc, o.ids, base, o.bad)
        return
    only = {int(x) for x in o.only.split(",") if x.strip()}
    xsd = xsd_path(o.xsd)
    if xsd is None:
        print("# skip: no ome.xsd (--xsd or IDRFS_OME_XSD; it is the OME 2016-06 schema): "
              "the OME-XML is not validated")
    index = Index(mount, arch, desc)
    failed = [0]

    def report(what, err):
        if err:
            failed[0] += 1
            print("not ok - %s: %s" % (what, err))
        else:
            print("ok - %s" % what)

    def run(label, fn, *args):
        try:
            for what, err in fn(*args):
                report("%s: %s" % (label, what), err)
        except Exception as e:  # noqa: BLE001 - report, do not crash
            report(label, "%s: %s" % (type(e).__name__, e))

    seen = {"ome": 0, "zarr": 0}
    views = {}
    for top in ("projects", "screens"):
        for p in walk(os.path.join(mount, top), ".ome.tif", o.max_per_dir, False):
            rel = os.path.relpath(p, mount)[:-len(".ome.tif")]
            iid = index.image_of(p, rel)
            if iid is None or (only and iid not in only):
                if iid is None:
                    report(rel + ".ome.tif", "no image of the archive")
                continue
            img = arch.images[iid]
            if img.zarr is None:
                report(rel + ".ome.tif", "image %d is not Zarr-backed" % iid)
                continue
            seen["ome"] += 1
            views.setdefault(rel, [None, None, iid])[0] = p
            run("%s.ome.tif (%d, %s %dx%d c%d z%d t%d)" % (rel, iid, img.ptype, img.sx, img.sy,
                                                           img.sc, img.sz, img.st),
                check_ome_tif, p, img, Truth(arch, desc, img), base, xsd, o.sample_above << 20)
            if not o.no_tif and os.path.getsize(rel_tif(mount, rel)) > 0:
                for cmd in ("tiffinfo", "tiffdump"):
                    w = tool_warnings(cmd, rel_tif(mount, rel))
                    if w is not None:
                        # libtiff 4.5 knows no ImageJ tags: it names the
                        # two IJMetadata tags every ImageJ file has (LUTs,
                        # ranges, labels), and that is all it may say
                        w = "\n".join(l for l in w.splitlines()
                                      if not IJ_TAG_WARNING.search(l))
                        report("%s.tif: %s prints no other warning" % (rel, cmd),
                               w or None)
    for p in walk(os.path.join(mount, "zarr"), ".zarr", o.max_per_dir, True):
        rel = os.path.relpath(p, os.path.join(mount, "zarr"))[:-len(".zarr")]
        iid = index.image_of(p, rel)
        if iid is None or (only and iid not in only):
            if iid is None:
                report("zarr/%s.zarr" % rel, "no image of the archive")
            continue
        img = arch.images[iid]
        seen["zarr"] += 1
        views.setdefault(rel, [None, None, iid])[1] = p
        run("zarr/%s.zarr (%d)" % (rel, iid), check_zarr_view, p, img, Truth(arch, desc, img),
            base, o.sample_above << 20)
    for rel, (ome, zv, iid) in sorted(views.items()):
        if ome is None or zv is None:
            report("%s: both views" % rel, "no %s" % ("zarr view" if zv is None else ".ome.tif"))
        if os.path.exists(rel_tif(mount, rel)) and xattr(rel_tif(mount, rel), "user.idr.id"):
            report("%s.tif: xattrs name its views" % rel, check_links(mount, rel, ome, zv))
    report("found %d .ome.tif and %d zarr views" % (seen["ome"], seen["zarr"]),
           None if seen["ome"] and seen["zarr"] else "none")
    sys.exit(1 if failed[0] else 0)


def rel_tif(mount, rel):
    return os.path.join(mount, rel + ".tif")


if __name__ == "__main__":
    main()
