#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Read images through an idrfs mount with tifffile and compare every pixel
with the fake IDR server's ground truth (tests/fake-idr/archive.py).

usage: check_pixels.py MOUNT FAKE_URL IMAGE_ID...
Prints one "ok"/"not ok" line per image; exits 1 if any differs."""
import json
import os
import sys
import urllib.request

import numpy as np
import tifffile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "fake-idr"))
import archive  # noqa: E402


def safe(name):
    out = []
    for ch in name:
        o = ord(ch)
        out.append("_" if ch == "/" or o < 0x20 or o == 0x7f or
                   0x80 <= o < 0xa0 else ch)
    s = "".join(out)
    return s if s not in (".", "..") else s


def image_stem(name):
    """An image's name as idrfs shows it, before .tif (README.txt)."""
    s = safe(name)
    for ext in (".ome.tiff", ".ome.tif", ".tiff", ".tif"):
        if len(s) > len(ext) and s.lower().endswith(ext):
            s = s[:-len(ext)]
            break
    n = len(s) - len(s.lstrip("."))
    return "_" * n + s[n:]


def image_path(mount, arch, desc, iid):
    """Where idrfs shows an image of a project dataset or a plate well."""
    img = arch.images[iid]
    ext = ".tif" if img.source == "zarr" else ".rendered.tif"
    for p in desc["projects"]:
        for d in p["datasets"]:
            for im in d.get("images", []):
                if im["id"] == iid:
                    return os.path.join(mount, "projects", safe(p["name"]),
                                        safe(d["name"]), image_stem(im["name"]) + ext)
            ids = d.get("image_ids")
            if ids and ids[0] <= iid <= ids[1]:
                name = d["name_format"] % (iid - ids[0] + d["name_index_base"])
                return os.path.join(mount, "projects", safe(p["name"]),
                                    safe(d["name"]), name + ext)
    for s in desc["screens"]:
        for pl in s["plates"]:
            for w in pl["wells"]:
                if iid in w["fields"]:
                    well = "%s%02d" % (chr(ord("A") + w["row"]), w["column"] + 1)
                    return os.path.join(mount, "screens", safe(s["name"]),
                                        safe(pl["name"]), well,
                                        "field-%d%s" % (w["fields"].index(iid) + 1, ext))
    raise KeyError(iid)


def expected_raw(arch, img):
    """Ground truth as the .tif stores it: (T, C, Z, Y, X) in file type."""
    truth = np.stack([np.stack([np.stack([archive.plane(arch, img.id, 0, t, c, z)
                                          for z in range(img.sz)])
                                for c in range(img.sc)])
                      for t in range(img.st)])
    if img.ptype == "int8":
        return (truth.astype(np.int16) + 128).astype(np.uint8)
    if img.ptype == "double":
        return truth.astype(np.float32)
    return truth


def expected_rendered(arch, img, base):
    with urllib.request.urlopen("%swebgateway/imgData/%d/" % (base, img.id)) as r:
        idata = json.load(r)
    spec = ",".join("%s%d|%.17g:%.17g$%s" % ("" if ch["active"] else "-", i + 1,
                                          ch["window"]["start"], ch["window"]["end"],
                                          ch["color"])
                    for i, ch in enumerate(idata["channels"]))
    planes = [archive.render_region(arch, img.id, z, t, 0, 0, img.sx, img.sy,
                                    spec, "c")
              for t in range(img.st) for z in range(img.sz)]
    return np.stack(planes)  # (T*Z, Y, X, 3)


def check_ome(tif, img, base):
    """Channel names and physical sizes in the OME-XML, as the archive has
    them (names as imgData labels them)."""
    import xml.etree.ElementTree as ET
    if not tif.is_ome:
        return "not read as OME-TIFF"
    ns = "{http://www.openmicroscopy.org/Schemas/OME/2016-06}"
    px = ET.fromstring(tif.ome_metadata).find(ns + "Image/" + ns + "Pixels")
    for i, axis in enumerate("XYZ"):
        want = img.phys[i]
        got = px.get("PhysicalSize" + axis)
        if want is None and got is not None and axis != "Z":
            return "PhysicalSize%s %s, the archive has none" % (axis, got)
        if want is not None and (got is None or abs(float(got) - want) > 1e-9):
            return "PhysicalSize%s %s, expected %s" % (axis, got, want)
    with urllib.request.urlopen("%swebgateway/imgData/%d/" % (base, img.id)) as r:
        labels = [ch["label"] for ch in json.load(r)["channels"]]
    names = [c.get("Name") for c in px.findall(ns + "Channel")]
    if names != labels:
        return "channel names %s, expected %s" % (names, labels)
    return None


def check_imagej(tif, img, base):
    """The .tif is an ImageJ hyperstack (the OME-TIFF is the .ome.tif):
    its labels name the channels as imgData labels them, plane by plane,
    and it has one ImageDescription."""
    if not tif.is_imagej or tif.is_ome:
        return "not read as a pure ImageJ hyperstack (ome %s)" % tif.is_ome
    with urllib.request.urlopen("%swebgateway/imgData/%d/" % (base, img.id)) as r:
        labels = [ch["label"] for ch in json.load(r)["channels"]]
    got = (tif.imagej_metadata or {}).get("Labels", [])
    got = [got] if isinstance(got, str) else list(got)  # tifffile: one label is a str
    if any(labels):
        want = [labels[p % len(labels)] for p in range(img.sc * img.sz * img.st)]
        if got != want:
            return "labels %s, expected %s" % (got[:4], want[:4])
    return None


def compare(path, arch, img, base):
    with tifffile.TiffFile(path) as tif:
        s = tif.series[0]
        got = s.asarray()
        axes = s.axes
        kind = "ome" if tif.is_ome else "imagej" if tif.is_imagej else "tiff"
        meta_err = check_imagej(tif, img, base) if img.source == "zarr" else None
    if meta_err:
        return meta_err
    if img.source != "zarr":
        want = expected_rendered(arch, img, base).reshape(got.shape)
    else:
        want5 = expected_raw(arch, img)  # T C Z Y X
        order = [a for a in "TZCYX"]
        want = want5.transpose(0, 2, 1, 3, 4)  # T Z C Y X
        sizes = dict(zip(order, want.shape))
        keep = [a for a in order if a in axes]
        drop = [i for i, a in enumerate(order) if a not in axes]
        for i in drop:
            if want.shape[i] != 1:
                return "axes %s lack %s of size %d" % (axes, order[i], want.shape[i])
        want = want.reshape([sizes[a] for a in keep])
        if "".join(keep) != axes.replace("S", ""):
            return "axes %s, expected %s" % (axes, "".join(keep))
    if got.dtype != want.dtype:
        return "dtype %s, expected %s (%s)" % (got.dtype, want.dtype, kind)
    if got.shape != want.shape:
        return "shape %s, expected %s (%s)" % (got.shape, want.shape, kind)
    if img.ptype in ("float", "double"):
        bad = ~((got == want) | (np.isnan(got) & np.isnan(want)))
    else:
        bad = got != want
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        return "%d pixels differ, first at %s: %r != %r" % (
            int(bad.sum()), idx, got[idx], want[idx])
    return None


def main():
    mount, base = sys.argv[1], sys.argv[2]
    if not base.endswith("/"):
        base += "/"
    with urllib.request.urlopen(base + "__fake/archive") as r:
        desc = json.load(r)
    arch = archive.build(1, today=desc.get("today", False))
    failed = 0
    for iid in (int(a) for a in sys.argv[3:]):
        img = arch.images[iid]
        path = image_path(mount, arch, desc, iid)
        try:
            err = compare(path, arch, img, base)
        except Exception as e:  # noqa: BLE001 - report, do not crash
            err = "%s: %s" % (type(e).__name__, e)
        what = "image %d (%s %s, %dx%d c%d z%d t%d)" % (
            iid, img.ptype, img.source, img.sx, img.sy, img.sc, img.sz, img.st)
        if err:
            failed += 1
            print("not ok - %s: %s" % (what, err))
        else:
            print("ok - %s: every pixel equals the archive's" % what)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
