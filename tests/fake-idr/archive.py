"""Synthetic IDR archive for fake-idr: the model and the ground truth.

Everything the fake server answers derives from this module: the object
tree (projects, datasets, images, screens, plates, wells), the map
annotations, the original files, and the raw pixel values of every image
at every resolution level.

Tests import it directly:

    import archive
    a = archive.build(seed=1)
    p = archive.plane(a, 2004, level=0, t=0, c=1, z=2)   # numpy (Y, X) uint16
    v = archive.pixel(a, 2004, 0, 0, 1, 2, y=10, x=20)
    rgb = archive.render_region(a, 2201, z=0, t=0, x=0, y=0, w=32, h=16,
                                channels_spec="1|0:4000$FF0000", model="c")

The archive is a pure function of the seed: build(seed) gives the same
ids, names and pixels every time.
"""

import math

import numpy as np

OME = "http://www.openmicroscopy.org/Schemas/OME/2016-06#"

# OMERO pixel type -> (numpy kind+size, bits, signed, PixelsType @id)
PTYPES = {
    "int8": ("i1", 8, True, 2),
    "uint8": ("u1", 8, False, 5),
    "int16": ("i2", 16, True, 3),
    "uint16": ("u2", 16, False, 6),
    "int32": ("i4", 32, True, 4),
    "uint32": ("u4", 32, False, 7),
    "float": ("f4", 32, True, 8),
    "double": ("f8", 64, True, 9),
}

NS_STUDY = "idr.openmicroscopy.org/study/info"
NS_GENE = "openmicroscopy.org/mapr/gene"
NS_ORGANISM = "openmicroscopy.org/mapr/organism"
NS_CELL_LINE = "openmicroscopy.org/mapr/cell_line"
NS_PHENOTYPE = "openmicroscopy.org/mapr/phenotype"
NS_SIRNA = "openmicroscopy.org/mapr/sirna"
NS_ANTIBODY = "openmicroscopy.org/mapr/antibody"
NS_COMPOUND = "openmicroscopy.org/mapr/compound"
NS_PROTEIN = "openmicroscopy.org/mapr/protein"

BIG_FIRST = 1000001
BIG_COUNT = 10000
BIG_NAME_FORMAT = "cell_%05d"

PALETTE = [("DAPI", "0000FF", 461.0), ("GFP", "00FF00", 510.0),
           ("mCherry", "FF0000", 610.0), ("Cy5", "FF00FF", 670.0)]

# epoch milliseconds used for dates (deterministic, 2016-05-26 and later)
DATE0_MS = 1464220800000


def np_dtype(ptype, endian="<"):
    kind = PTYPES[ptype][0]
    if kind[1] == "1":
        return np.dtype("|" + kind)
    return np.dtype(endian + kind)


def type_range(ptype):
    """(min, max) of an integer type, or None for floating types."""
    kind, bits, signed, _ = PTYPES[ptype]
    if kind[0] == "f":
        return None
    if signed:
        return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    return (0, (1 << bits) - 1)


class ZarrSpec:
    """How an image is stored as OME-Zarr on the fake S3 bucket."""

    def __init__(self, fmt, store, group, ngff, axes, dtype, chunk_yx,
                 compressor=None, sep="/", fill_value=0, lazy=False,
                 drop_dimsep=False, write_empty=True, codecs=None,
                 shard_yx=None, index_codecs=None, b2r=False):
        self.fmt = fmt              # 2 or 3
        self.store = store          # URL path of the store root (no slashes at ends)
        self.group = group          # group path of the image inside the store ("" or "A/1/0")
        self.ngff = ngff            # "0.1", "0.4", "0.5"
        self.axes = axes            # e.g. "tczyx", "czyx", "yx"
        self.dtype = dtype          # numpy dtype string with byte order, e.g. ">u2"
        self.chunk_yx = chunk_yx    # (cy, cx); every other axis has chunk 1
        self.compressor = compressor  # numcodecs config dict (v2) or None
        self.sep = sep
        self.fill_value = fill_value
        self.lazy = lazy
        self.drop_dimsep = drop_dimsep
        self.write_empty = write_empty
        self.codecs = codecs        # v3 codec list (outer, or inner when sharded)
        self.shard_yx = shard_yx    # v3 shard (sy, sx) or None
        self.index_codecs = index_codecs
        self.b2r = b2r              # bioformats2raw layout: group is the series

    @property
    def url(self):
        return self.store + ("/" + self.group if self.group else "")


class Image:
    __slots__ = ("id", "name", "desc", "acq_ms", "ptype", "sx", "sy", "sz",
                 "sc", "st", "phys", "chans", "levels", "dataset_id",
                 "well_id", "field", "wellsample_id", "zarr", "fileset_id",
                 "series", "tile", "fill", "off", "mult", "_windows",
                 "study", "noise")

    def __init__(self, **kw):
        self.desc = None
        self.acq_ms = None
        self.phys = (None, None, None)
        self.dataset_id = None
        self.well_id = None
        self.field = None
        self.wellsample_id = None
        self.zarr = None
        self.fileset_id = None
        self.series = 0
        self.fill = None
        self._windows = None
        self.study = None
        self.levels = None
        self.tile = None
        self.noise = 0
        for k, v in kw.items():
            setattr(self, k, v)
        if self.levels is None:
            self.levels = [(self.sx, self.sy)]
        if self.tile is None:
            if self.zarr is not None:
                self.tile = (self.zarr.chunk_yx[1], self.zarr.chunk_yx[0])
            else:
                self.tile = (min(self.sx, 256), min(self.sy, 256))

    @property
    def source(self):
        return "zarr" if self.zarr is not None else "rendered"

    @property
    def dtype(self):
        return np_dtype(self.ptype)

    def level_size(self, level):
        return self.levels[level]


class Obj:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class MapAnn:
    def __init__(self, aid, ns, values):
        self.id = aid
        self.ns = ns
        self.values = values  # list of [key, value]


class Fileset:
    def __init__(self, fid, files, image_ids, zarr_root=None):
        self.id = fid
        self.files = files          # list of (relative path under the study dir, kind, args)
        self.image_ids = image_ids
        # a converted ("mkngff") fileset: the Zarr store of its images,
        # relative to the study dir; files are filled in from the store
        self.zarr_root = zarr_root


# ---------------------------------------------------------------- ground truth

def _mix(a, b):
    """Small deterministic integer hash (no Python hash())."""
    x = (a * 0x9E3779B1 + b * 0x85EBCA77 + 0x165667B1) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0xFFFFFFFF
    x ^= x >> 12
    return x


def _setup_values(img, seed):
    kind, bits, signed, _ = PTYPES[img.ptype]
    if kind[0] == "f":
        img.off = _mix(seed, img.id) % 1000
        img.mult = None
        return
    span = 1 << bits
    sx, sy = img.sx, img.sy
    img.off = _mix(seed, img.id) % span
    img.mult = ((span // (2 * sx)) | 1, (span // (2 * sy)) | 1,
                span // 7 + 11, span // 3 + 5, span // 5 + 17, span // 11 + 29)


def region(arch, image_id, level, t, c, z, y0, y1, x0, x1):
    """True raw pixels of rows y0..y1-1, columns x0..x1-1 at a level."""
    img = arch.images[image_id] if not isinstance(image_id, Image) else image_id
    lsx, lsy = img.levels[level]
    if not (0 <= t < img.st and 0 <= c < img.sc and 0 <= z < img.sz):
        raise IndexError("t/c/z out of range")
    y0, x0 = max(0, y0), max(0, x0)
    y1, x1 = min(lsy, y1), min(lsx, x1)
    s = 1 << level
    yi = np.arange(y0, y1, dtype=np.int64)[:, None]
    xi = np.arange(x0, x1, dtype=np.int64)[None, :]
    ys, xs = yi * s, xi * s
    dt = img.dtype
    if img.mult is None:
        v = ((xs - img.sx / 2.0) * 0.37 + (ys - img.sy / 2.0) * 1.13
             + z * 10.25 + c * 100.5 + t * 1000.125 + level * 0.5
             + img.off * 0.01 + 0.1)
        if img.ptype == "double":
            v = v * 1000.0 + 1.0 / 3.0
        out = v.astype(dt)
    else:
        bits, signed = PTYPES[img.ptype][1], PTYPES[img.ptype][2]
        span = 1 << bits
        ax, ay, az, ac, at, al = img.mult
        k = (z * az + c * ac + t * at + level * al + img.off) % span
        v = xs * ax + ys * ay + k
        if img.noise:
            # deterministic low-bit "camera noise" so that chunks compress
            # about as well as real microscopy data (large images only)
            h = (xs * 0x9E3779B1 + ys * 0x85EBCA77 + (k * 0x27D4EB2F + 0x165667B1)) & 0xFFFFFFFF
            h ^= h >> 15
            h = (h * 0x2C1B3C6D) & 0xFFFFFFFF
            h ^= h >> 12
            v = v + (h & ((1 << img.noise) - 1))
        v = v % span
        if signed:
            v = v - span // 2
        out = v.astype(dt)
    if img.fill is not None:
        fn, fill_value = img.fill
        mask = fn(level, t, c, z, yi, xi)
        if mask is not None and np.any(mask):
            out = np.where(mask, np.array(fill_value, dtype=dt), out).astype(dt)
    return out


def plane(arch, image_id, level, t, c, z):
    """The true raw plane (Y, X) of an image at a resolution level (0 = full)."""
    img = arch.images[image_id]
    lsx, lsy = img.levels[level]
    return region(arch, image_id, level, t, c, z, 0, lsy, 0, lsx)


def pixel(arch, image_id, level, t, c, z, y, x):
    """One true raw value."""
    return region(arch, image_id, level, t, c, z, y, y + 1, x, x + 1)[0, 0]


def windows(arch, image_id):
    """Per channel (min, max, start, end) as floats: channel statistics for
    small images (from level 0, t=0, z=0), the type range for large ones."""
    img = arch.images[image_id]
    if img._windows is not None:
        return img._windows
    out = []
    for c in range(img.sc):
        if img.sx * img.sy <= 1 << 20:
            p = region(arch, img, 0, 0, c, 0, 0, img.sy, 0, img.sx).astype(np.float64)
            mn, mx = float(p.min()), float(p.max())
        else:
            mn, mx = [float(v) for v in type_range(img.ptype)]
        span = mx - mn
        if img.mult is None:
            start, end = mn + span * 0.05, mn + span * 0.95
        else:
            start, end = float(math.floor(mn + span * 0.05)), float(math.ceil(mn + span * 0.95))
        out.append((mn, mx, start, end))
    img._windows = out
    return out


# ---------------------------------------------------------------- rendering

def parse_channels(c, size_c=None):
    """Parse an omero-ms-image-region `c` parameter.

    Returns a list of dicts {index (0-based), active, start, end, rgb}.
    Raises ValueError with the microservice's own 400 text on bad input.
    """
    if c is None:
        raise ValueError("Must provide channels in parameter 'c'")
    out = []
    for chan in c.split(","):
        try:
            parts = chan.split("|", 1)
            active = parts[0]
            color = None
            if "$" in active:
                active, color = active.split("$", 1)
            idx = int(active)
        except ValueError:
            raise ValueError("Failed to parse channel '%s'" % chan)
        if len(parts) > 1 and ":" in parts[1] and "$" in parts[1]:
            try:
                window, color = parts[1].split("$")[0], parts[1].split("$")[1]
                lo, hi = window.split(":")[0], window.split(":")[1]
                start, end = float(lo), float(hi)
            except (ValueError, IndexError):
                raise ValueError("Failed to parse channel '%s'" % chan)
        else:
            raise ValueError("Must include window and color in each channel. "
                             "Missing in channel %d" % idx)
        rgb = parse_color(color)
        out.append({"index": abs(idx) - 1, "active": idx > 0,
                    "start": start, "end": end, "rgb": rgb})
    return out


def parse_color(color):
    if len(color) in (3, 4):
        color = "".join(ch + ch for ch in color)
    if len(color) == 6:
        color += "FF"
    try:
        if len(color) == 8:
            return (int(color[0:2], 16), int(color[2:4], 16), int(color[4:6], 16))
    except ValueError:
        pass
    raise ValueError("Invalid color " + color)


def quantize(raw, start, end):
    """Linear window start..end -> 0..255 (rounded half up, clipped)."""
    raw = raw.astype(np.float64)
    if end <= start:
        return np.where(raw > start, 255, 0).astype(np.int64)
    q = np.floor((raw - start) * 255.0 / (end - start) + 0.5)
    return np.clip(q, 0, 255).astype(np.int64)


def render_region(arch, image_id, z, t, x, y, w, h, channels_spec, model,
                  level=0, inverted=None, projection=None, flip=""):
    """8-bit RGB (h, w, 3) exactly as the fake's render endpoints return it.

    x, y, w, h are in pixels of the given resolution level and are cut to
    the image edge.  Channel rule: q = clip(round((v-start)*255/(end-start)))
    per active channel ("inverted" -> 255-q); model "c" adds
    (q*colour+127)//255 per RGB component over active channels and clips at
    255; model "g" shows the first active channel as grey (q, q, q).
    projection: None or (kind, zstart, zend) with kind intmax/intmean/intsum.
    """
    img = arch.images[image_id]
    chans = channels_spec
    if isinstance(chans, str):
        chans = parse_channels(chans)
    lsx, lsy = img.levels[level]
    x1, y1 = min(lsx, x + w), min(lsy, y + h)
    w, h = max(0, x1 - x), max(0, y1 - y)
    if "h" in flip:
        x = lsx - w - x
    if "v" in flip:
        y = lsy - h - y
    active = [ch for ch in chans if ch["active"]]
    if inverted is None:
        inverted = [False] * len(chans)
    inv = {id(ch): inverted[i] for i, ch in enumerate(chans)}
    if model in ("g", "greyscale"):
        active = active[:1]
    rgb = np.zeros((h, w, 3), dtype=np.int64)
    for ch in active:
        if not 0 <= ch["index"] < img.sc:
            raise IndexError("channel out of range")
        if projection:
            kind, zs, ze = projection
            zs = 0 if zs is None else zs
            ze = img.sz - 1 if ze is None else ze
            stack = np.stack([region(arch, img, level, t, ch["index"], zz, y, y + h, x, x + w)
                              .astype(np.float64) for zz in range(zs, ze + 1)])
            if kind == "intmax":
                raw = stack.max(axis=0)
            elif kind == "intmean":
                raw = stack.mean(axis=0)
            else:
                raw = stack.sum(axis=0)
        else:
            raw = region(arch, img, level, t, ch["index"], z, y, y + h, x, x + w)
        q = quantize(raw, ch["start"], ch["end"])
        if inv[id(ch)]:
            q = 255 - q
        if model in ("g", "greyscale"):
            for k in range(3):
                rgb[:, :, k] = q
        else:
            for k in range(3):
                rgb[:, :, k] += (q * ch["rgb"][k] + 127) // 255
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    if "h" in flip:
        rgb = rgb[:, ::-1]
    if "v" in flip:
        rgb = rgb[::-1, :]
    return np.ascontiguousarray(rgb)


# ---------------------------------------------------------------- building

def _chans(n, named=True):
    out = []
    for i in range(n):
        name, color, em = PALETTE[i % len(PALETTE)]
        out.append((name if named else None, color, em if named else None))
    return out


def _pyramid(sx, sy, n):
    return [(max(1, sx >> k), max(1, sy >> k)) for k in range(n)]


def _fill_missing_chunks(level, t, c, z, yi, xi):
    # image 2109: chunk (cy, cx) of 32x32 is absent when (cy + 2cx + c + z) % 3 == 1
    return ((yi // 32) + 2 * (xi // 32) + c + z) % 3 == 1


def _fill_sharded(level, t, c, z, yi, xi):
    # image 2112: some inner 32x32 chunks are all fill; for c=1, z=0 the
    # whole shard (1, 1) (64x64) is fill, so that shard object is absent.
    iy, ix = yi // 32, xi // 32
    m = (iy * 3 + ix + c + z) % 5 == 2
    if c == 1 and z == 0:
        m = m | (((yi // 64) == 1) & ((xi // 64) == 1))
    return m


BLOSC_LZ4 = {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}
V3_ZSTD = [{"name": "bytes", "configuration": {"endian": "little"}},
           {"name": "zstd", "configuration": {"level": 0, "checksum": False}}]


# "as IDR is today" (idr-api.md 5.8, 6.1, 6.4, 6.5): no ExternalInfo, Zarr
# under per-study prefixes named after the project (idr0802-.../experimentB
# -> idr0802B), an OME-NGFF tag on the Zarr studies, a catalogue file
TODAY_TAG_ID = 9001
TODAY_TAG = "OME-NGFF"
TODAY_CATALOGUE = "catalogue/table.csv"


def build(seed=1, today=False):
    """Build the whole archive model for a seed (today: as IDR is today,
    see TODAY_TAG)."""
    a = Obj(seed=seed, projects={}, datasets={}, screens={}, plates={},
            wells={}, images={}, filesets={}, anns={}, links={})
    a.zarr_images = []     # ids of images with a ZarrSpec, in order
    img = a.images

    def add(im):
        _setup_values(im, seed)
        img[im.id] = im
        if im.zarr is not None:
            a.zarr_images.append(im.id)
        return im

    # ---- project 101: listing
    a.projects[101] = Obj(id=101, name="idr0801-synth-listing/experimentA",
                          desc="Synthetic study: listing scale and hostile names.",
                          dataset_ids=[1001, 1002], study="idr0801-synth-listing",
                          zstudy="idr0801A")
    a.projects[102] = Obj(id=102, name="idr0802-synth-pixels/experimentB",
                          desc="Synthetic study: every pixel type and Zarr flavour.",
                          dataset_ids=[1003, 1004, 1005, 1006, 1007],
                          study="idr0802-synth-pixels", zstudy="idr0802A")
    a.datasets[1001] = Obj(id=1001, name="big dataset", desc="10 000 small images",
                           project_id=101,
                           image_ids=range(BIG_FIRST, BIG_FIRST + BIG_COUNT))
    for i in range(BIG_COUNT):
        iid = BIG_FIRST + i
        add(Image(id=iid, name=BIG_NAME_FORMAT % (i + 1), ptype="uint8", sx=64, sy=48,
                  sz=1, sc=1, st=1, phys=(0.1, 0.1, None), chans=[("Cy3", "FFFFFF", None)],
                  dataset_id=1001, acq_ms=DATE0_MS + i * 1000, study="idr0801-synth-listing",
                  zarr=ZarrSpec(2, "idr/zarr/v0.4/idr0801A/%d.zarr" % iid, "", "0.4", "tczyx",
                                "|u1", (48, 64), BLOSC_LZ4, lazy=True)))

    long_name = "long-name-" + "\u00e9" * 145           # 300 bytes of UTF-8
    hostile = ["a/b", "with space", "\u00fcn\u00efc\u00f8d\u00e9 \U0001F9EB", "dup", "dup", "dup",
               ".", "..", "ctl\x01\x7fchar", "tab\there", long_name, "Case", "case"]
    ids = []
    for k, name in enumerate(hostile):
        iid = 1201 + k
        ids.append(iid)
        add(Image(id=iid, name=name, ptype="uint8", sx=32, sy=24, sz=1, sc=1, st=1,
                  chans=_chans(1, named=False), dataset_id=1002, study="idr0801-synth-listing",
                  zarr=ZarrSpec(2, "idr/zarr/v0.4/idr0801A/%d.zarr" % iid, "", "0.4", "tczyx",
                                "|u1", (24, 32), BLOSC_LZ4)))
    a.datasets[1002] = Obj(id=1002, name="names", desc="hostile image names",
                           project_id=101, image_ids=ids)

    # ---- project 102: pixels
    st2 = "idr0802-synth-pixels"
    ids = []
    for k, pt in enumerate(["int8", "uint8", "int16", "uint16", "int32", "uint32", "float", "double"]):
        iid = 2001 + k
        ids.append(iid)
        dt = np_dtype(pt, "<").str
        add(Image(id=iid, name="type-" + pt, ptype=pt, sx=70, sy=50, sz=3, sc=2, st=1,
                  phys=(0.325, 0.325, 1.0), chans=_chans(2), dataset_id=1003, study=st2,
                  acq_ms=DATE0_MS + 86400000 * k,
                  zarr=ZarrSpec(2, "idr/zarr/v0.4/idr0802A/%d.zarr" % iid, "", "0.4", "tczyx",
                                dt, (32, 32), BLOSC_LZ4)))
    a.datasets[1003] = Obj(id=1003, name="pixel types", desc=None, project_id=102, image_ids=ids)

    v = []
    z4 = "idr/zarr/v0.4/idr0802A/%d.zarr"
    v.append(dict(id=2101, name="v2 flat zlib big-endian uint16", ptype="uint16", sx=65, sy=47,
                  sz=3, sc=2, st=1,
                  zarr=ZarrSpec(2, "idr/zarr/v0.1/2101.zarr", "", "0.1", "tczyx", ">u2", (32, 32),
                                {"id": "zlib", "level": 6}, sep=".", drop_dimsep=True)))
    v.append(dict(id=2102, name="v2 blosc zstd bitshuffle int16", ptype="int16", sx=70, sy=50,
                  sz=2, sc=2, st=1,
                  zarr=ZarrSpec(2, z4 % 2102, "", "0.4", "tczyx", "<i2", (32, 32),
                                {"id": "blosc", "cname": "zstd", "clevel": 5, "shuffle": 2,
                                 "blocksize": 0})))
    v.append(dict(id=2103, name="v2 gzip big-endian float", ptype="float", sx=60, sy=45,
                  sz=2, sc=1, st=1,
                  zarr=ZarrSpec(2, z4 % 2103, "", "0.4", "tczyx", ">f4", (32, 32),
                                {"id": "gzip", "level": 5})))
    v.append(dict(id=2104, name="v2 uncompressed uint16", ptype="uint16", sx=50, sy=40,
                  sz=1, sc=2, st=1,
                  zarr=ZarrSpec(2, z4 % 2104, "", "0.4", "tczyx", "<u2", (32, 32), None)))
    v.append(dict(id=2105, name="v2 pyramid 3 levels", ptype="uint16", sx=300, sy=200,
                  sz=1, sc=2, st=1, levels=_pyramid(300, 200, 3), tile=(64, 64),
                  zarr=ZarrSpec(2, z4 % 2105, "", "0.4", "tczyx", "<u2", (64, 64), BLOSC_LZ4)))
    v.append(dict(id=2106, name="v2 yx only", ptype="uint8", sx=75, sy=45, sz=1, sc=1, st=1,
                  chans=_chans(1),
                  zarr=ZarrSpec(2, z4 % 2106, "", "0.4", "yx", "|u1", (32, 32), BLOSC_LZ4)))
    v.append(dict(id=2107, name="v2 czyx", ptype="uint16", sx=67, sy=53, sz=5, sc=2, st=1,
                  zarr=ZarrSpec(2, z4 % 2107, "", "0.4", "czyx", "<u2", (32, 32), BLOSC_LZ4)))
    v.append(dict(id=2108, name="v2 tczyx T=3", ptype="uint16", sx=41, sy=37, sz=2, sc=2, st=3,
                  zarr=ZarrSpec(2, z4 % 2108, "", "0.4", "tczyx", "<u2", (32, 32), BLOSC_LZ4)))
    v.append(dict(id=2109, name="v2 missing chunks", ptype="uint16", sx=90, sy=70, sz=2, sc=2,
                  st=1, fill=(_fill_missing_chunks, 1234),
                  zarr=ZarrSpec(2, z4 % 2109, "", "0.4", "tczyx", "<u2", (32, 32), BLOSC_LZ4,
                                fill_value=1234, write_empty=False)))
    z5 = "idr/zarr/v0.5/idr0802A/%d.ome.zarr"
    v.append(dict(id=2110, name="v3 zstd little-endian", ptype="uint16", sx=70, sy=50, sz=2,
                  sc=2, st=1,
                  zarr=ZarrSpec(3, z5 % 2110, "", "0.5", "tczyx", "<u2", (32, 32),
                                codecs=V3_ZSTD)))
    v.append(dict(id=2111, name="v3 bytes big-endian gzip", ptype="int32", sx=45, sy=35, sz=2,
                  sc=2, st=1,
                  zarr=ZarrSpec(3, z5 % 2111, "", "0.5", "czyx", ">i4", (32, 32),
                                codecs=[{"name": "bytes", "configuration": {"endian": "big"}},
                                        {"name": "gzip", "configuration": {"level": 5}}])))
    v.append(dict(id=2112, name="v3 sharded", ptype="uint16", sx=130, sy=100, sz=2, sc=2, st=1,
                  fill=(_fill_sharded, 0),
                  zarr=ZarrSpec(3, z5 % 2112, "", "0.5", "tczyx", "<u2", (32, 32),
                                codecs=V3_ZSTD, shard_yx=(64, 64),
                                index_codecs=[{"name": "bytes", "configuration": {"endian": "little"}},
                                              {"name": "crc32c"}])))
    # pyramids as bioformats2raw writes them (halve while the level is
    # wider or taller than 1024), with chunks that are not the .ome.tif's
    # tiles: 512x512 chunks under 1024x1024 tiles; one big-endian
    v.append(dict(id=2113, name="v2 pyramid 2500x1800", ptype="uint16", sx=2500, sy=1800,
                  sz=1, sc=2, st=1, levels=_pyramid(2500, 1800, 3),
                  zarr=ZarrSpec(2, z4 % 2113, "", "0.4", "tczyx", "<u2", (512, 512), BLOSC_LZ4,
                                lazy=True)))
    v.append(dict(id=2114, name="v2 pyramid big-endian int16", ptype="int16", sx=1100, sy=1030,
                  sz=2, sc=2, st=1, levels=_pyramid(1100, 1030, 2),
                  zarr=ZarrSpec(2, z4 % 2114, "", "0.4", "tczyx", ">i2", (256, 256),
                                {"id": "zlib", "level": 1}, lazy=True)))
    ids = []
    for k, d in enumerate(v):
        d.setdefault("chans", _chans(d["sc"]))
        d.setdefault("phys", (0.36, 0.36, 0.5 if d["sz"] > 1 else None))
        add(Image(dataset_id=1004, study=st2, acq_ms=DATE0_MS + 3600000 * k, **d))
        ids.append(d["id"])
    a.datasets[1004] = Obj(id=1004, name="zarr variants", desc=None, project_id=102, image_ids=ids)

    # rendered only: no ExternalInfo, no fileset
    ids = []
    for k, (sx, sy, sz, st) in enumerate([(96, 80, 1, 1), (128, 64, 2, 2), (50, 40, 1, 1)]):
        iid = 2201 + k
        ids.append(iid)
        add(Image(id=iid, name="rendered-%d" % (k + 1), ptype="uint16", sx=sx, sy=sy, sz=sz,
                  sc=3, st=st, chans=_chans(3), dataset_id=1005, study=st2,
                  phys=(None, None, None) if k == 0 else (0.5, 0.5, None)))
    a.datasets[1005] = Obj(id=1005, name="rendered only", desc=None, project_id=102, image_ids=ids)

    # originals
    add(Image(id=2301, name="sample_2301.ome.tif", ptype="uint16", sx=512, sy=384, sz=4, sc=2,
              st=1, phys=(0.2, 0.2, 0.8), chans=_chans(2), dataset_id=1006, study=st2,
              fileset_id=5001,
              zarr=ZarrSpec(2, z4 % 2301, "", "0.4", "tczyx", "<u2", (384, 512), BLOSC_LZ4,
                            lazy=True)))
    for k in range(2):
        add(Image(id=2302 + k, name="run1.companion.ome [series %d]" % k, ptype="uint16",
                  sx=160, sy=120, sz=2, sc=2, st=1, phys=(0.4, 0.4, 2.0), chans=_chans(2),
                  dataset_id=1006, study=st2, fileset_id=5002, series=k))
    a.datasets[1006] = Obj(id=1006, name="originals", desc=None, project_id=102,
                           image_ids=[2301, 2302, 2303])
    a.filesets[5001] = Fileset(5001, [("sample_2301.ome.tif", "ometiff", (2301,))], [2301])
    a.filesets[5002] = Fileset(5002, [
        ("multi/run1.companion.ome", "companion", (2302, 2303)),
        ("multi/data/run1_s0.ome.tif", "binaryonly", (2302, "run1.companion.ome")),
        ("multi/data/run1_s1.ome.tif", "binaryonly", (2303, "run1.companion.ome")),
    ], [2302, 2303])

    # large (lazy)
    add(Image(id=2401, name="large 1 GiB", ptype="uint16", sx=2048, sy=2048, sz=64, sc=2, st=1,
              phys=(0.1, 0.1, 0.3), chans=_chans(2), dataset_id=1007, study=st2,
              tile=(1024, 1024), noise=7,
              zarr=ZarrSpec(2, z4 % 2401, "", "0.4", "tczyx", "<u2", (1024, 1024), BLOSC_LZ4,
                            lazy=True)))
    add(Image(id=2402, name="large 4 GiB", ptype="uint16", sx=4096, sy=4096, sz=44, sc=3, st=1,
              phys=(0.1, 0.1, 0.3), chans=_chans(3), dataset_id=1007, study=st2,
              levels=_pyramid(4096, 4096, 3), tile=(1024, 1024), noise=7,
              zarr=ZarrSpec(2, z4 % 2402, "", "0.4", "tczyx", "<u2", (1024, 1024), BLOSC_LZ4,
                            lazy=True)))
    a.datasets[1007] = Obj(id=1007, name="large", desc=None, project_id=102, image_ids=[2401, 2402])

    # ---- screen 201, plate 3001
    a.screens[201] = Obj(id=201, name="idr0803-synth-screen/screenA",
                         desc="Synthetic RNAi screen.", plate_ids=[3001],
                         study="idr0803-synth-screen", zstudy="idr0803A")
    wells = []
    for r in range(8):
        for col in range(12):
            wid = 40001 + r * 12 + col
            wells.append(wid)
            fields = []
            for f in range(2):
                n = (r * 12 + col) * 2 + f
                iid, wsid = 500001 + n, 700001 + n
                fields.append((wsid, iid))
                add(Image(id=iid, name="plate1 [Well %s%d, Field %d]" % ("ABCDEFGH"[r], col + 1, f + 1),
                          ptype="uint16", sx=64, sy=64, sz=1, sc=2, st=1, phys=(0.65, 0.65, None),
                          chans=_chans(2), well_id=wid, field=f, wellsample_id=wsid,
                          study="idr0803-synth-screen", acq_ms=DATE0_MS + n * 60000,
                          zarr=ZarrSpec(2, "idr/zarr/v0.4/idr0803A/3001.zarr",
                                        "%s/%d/%d" % ("ABCDEFGH"[r], col + 1, f), "0.4", "tczyx",
                                        "<u2", (64, 64), BLOSC_LZ4, lazy=True)))
            a.wells[wid] = Obj(id=wid, plate_id=3001, row=r, column=col, fields=fields)
    a.plates[3001] = Obj(id=3001, name="plate1", rows=8, columns=12, well_ids=wells,
                         screen_id=201, nfields=2, row_conv="letter", col_conv="number",
                         zstore="idr/zarr/v0.4/idr0803A/3001.zarr")

    _annotations(a)
    a.today = today
    if today:
        # project 102 is experimentB: its study prefix says B
        for iid in a.zarr_images:
            z = img[iid].zarr
            z.store = z.store.replace("/idr0802A/", "/idr0802B/")
        a.projects[102].zstudy = "idr0802B"
        _today_mkngff(a, add)
    return a


# converted ("mkngff") filesets of today's archive (idr-api.md 5.8, 6.1):
# their files are a bioformats2raw .zarr, found only through the images'
# original_file_paths on the download root
MKNGFF_DATASET = 1008
MKNGFF_UUID = "5c0ffee0-7e57-4b1d-9a4e-0d15ea5e0001"


def _today_mkngff(a, add):
    st2 = "idr0802-synth-pixels"
    pub = "pub/databases/IDR/%s/" % st2
    runs = [(5003, MKNGFF_UUID + "/" + MKNGFF_UUID + ".zarr", [(2501, "mkngff single")]),
            (5004, "converted/run2.ome.zarr",
             [(2502, "run2.ome.tiff [series 0]"), (2503, "run2.ome.tiff [series 1]")])]
    ids = []
    for fid, root, imgs in runs:
        for k, (iid, name) in enumerate(imgs):
            add(Image(id=iid, name=name, ptype="uint16", sx=200, sy=150, sz=2, sc=2, st=1,
                      phys=(0.3, 0.3, 1.0), chans=_chans(2), dataset_id=MKNGFF_DATASET,
                      study=st2, fileset_id=fid, series=k,
                      zarr=ZarrSpec(2, pub + root, str(k), "0.4", "tczyx", "<u2", (128, 128),
                                    BLOSC_LZ4, lazy=True, b2r=True)))
            ids.append(iid)
        a.filesets[fid] = Fileset(fid, [], [i for i, _ in imgs], zarr_root=root)
    a.datasets[MKNGFF_DATASET] = Obj(id=MKNGFF_DATASET, name="converted filesets", desc=None,
                                     project_id=102, image_ids=ids)
    a.projects[102].dataset_ids.append(MKNGFF_DATASET)


def today_zarr_studies(a):
    """Projects and screens with a Zarr image (those IDR tags OME-NGFF)."""
    ps = [p.id for p in a.projects.values()
          if any(a.images[i].zarr is not None
                 for d in p.dataset_ids for i in a.datasets[d].image_ids)]
    ss = [s.id for s in a.screens.values()
          if any(a.images[iid].zarr is not None for pl in s.plate_ids
                 for w in a.plates[pl].well_ids for _, iid in a.wells[w].fields)]
    return ps, ss


def today_catalogue(a, base):
    """A catalogue in the shape of IDR's ome-ngff-samples table.csv: the
    images whose Zarr no per-study template finds (v0.1 and v0.5 names),
    a plate row (which names no image), and a row without an id."""
    rows = ["OME-NGFF version,File Path,SizeX,SizeY,SizeZ,SizeC,SizeT,Axes,Wells,Fields,"
            "Keywords,License,Study,DOI,Date added,Representative Image ID,Thumbnail"]
    for iid in a.zarr_images:
        im = a.images[iid]
        z = im.zarr
        if z.group or "/v0.4/" in z.store:
            continue
        rows.append('%s,%s%s,%d,%d,%d,%d,%d,XYZCT,,,"synthetic, %s",CC BY 4.0,%s,,2024-01-15,%d,'
                    % (z.ngff, base, z.url, im.sx, im.sy, im.sz, im.sc, im.st, z.fmt,
                       im.study.split("-")[0], iid))
    pl = a.plates[3001]
    rows.append("0.4,%s%s,64,64,1,2,1,XYC,96,2,,CC BY 4.0,idr0803,,2024-03-25,500001,%s%s/A/1/0"
                % (base, pl.zstore, base, pl.zstore))
    rows.append("0.1,%sidr/outreach/1.zarr,1,1,1,1,1,XYZCT,,,,CC BY 4.0,idr0000,,2026,?," % base)
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------- annotations

YEAST = [("ADE8", "YDR408C"), ("CDC28", "YBR160W"), ("ACT1", "YFL039C"), ("TUB1", "YML085C"),
         ("NUP49", "YGL172W"), ("SPC42", "YKL042W"), ("HTA1", "YDR225W"), ("Ecm33", "YBR078W")]
HUMAN = [("CDK5", "1020"), ("CDC20", "991"), ("ECT2", "1894"), ("PLK1", "5347"),
         ("AURKB", "9212"), ("KIF11", "3832"), ("TPX2", "22974"), ("INCENP", "3619"),
         ("BUB1", "699"), ("MAD2L1", "4085"), ("NDC80", "10403"), ("CENPE", "1062")]
PHENOTYPES = [("increased actin over nucleus", "increased actin localised to the nucleus", "CMPO_0000294"),
              ("increased cell size", "increased cell size phenotype", "CMPO_0000128"),
              ("decreased cell number", "decreased cell numbers", "CMPO_0000052"),
              ("misshapen DNA", "misshapen DNA", "CMPO_0000177"),
              ("microtubules disorganised", "disorganized microtubules phenotype", "CMPO_0000147")]


def _study(title, stype, pub, authors, pmid, doi, date, extra=()):
    vals = [["Study Title", title], ["Study Type", stype]]
    vals += [list(e) for e in extra]
    vals += [["Imaging Method", "fluorescence microscopy"],
             ["Publication Title", pub], ["Publication Authors", authors],
             ["PubMed ID", "%s https://www.ncbi.nlm.nih.gov/pubmed/%s" % (pmid, pmid)],
             ["Publication DOI", "%s https://doi.org/%s" % (doi, doi)],
             ["Release Date", date],
             ["License", "CC BY 4.0 https://creativecommons.org/licenses/by/4.0/"],
             ["Copyright", "Synthetic et al"]]
    return vals


def _annotations(a):
    anns, links = a.anns, a.links

    def ann(aid, ns, values):
        anns[aid] = MapAnn(aid, ns, values)
        return aid

    def link(kind, oid, aid):
        links.setdefault((kind, oid), []).append(aid)

    link("project", 101, ann(101, NS_STUDY, _study(
        "Synthetic listing study for idrfs", "synthetic benchmark",
        "A synthetic archive: 10 000 images / hostile names", "H\u00e9rich\u00e9 JK, Doe J",
        "24943848", "10.5555/idrfs.0801", "2024-01-15")))
    link("project", 102, ann(102, NS_STUDY, _study(
        "Synthetic pixel study for idrfs", "synthetic benchmark",
        "Every pixel type and Zarr flavour", "Roe R, Doe J",
        "31000001", "10.5555/idrfs.0802", "2024-02-20")))
    link("screen", 201, ann(201, NS_STUDY, _study(
        "Synthetic RNAi screen for idrfs", "high content screen",
        "A focused mitotic screen in HeLa cells", "Smith A, Jones B",
        "31000002", "10.5555/idrfs.0803", "2024-03-25",
        extra=[("Screen Type", "primary screen"), ("Screen Technology Type", "RNAi screen")])))

    # big dataset: shared annotations (as IDR's de-duplicated bulk annotations)
    org_yeast = ann(1000, NS_ORGANISM, [["Organism", "Saccharomyces cerevisiae"]])
    gene_ids = []
    for k, (sym, gid) in enumerate(YEAST):
        gene_ids.append(ann(1010 + k, NS_GENE, [
            ["Gene Identifier", gid],
            ["Gene Identifier URL", "https://www.yeastgenome.org/locus/%s" % gid],
            ["Gene Symbol", sym]]))
    a.big_anns = (org_yeast, gene_ids)

    # project 102 images
    mouse = ann(1100, NS_ORGANISM, [["Organism", "Mus musculus"]])
    cl = ann(1101, NS_CELL_LINE, [["Cell Line", "NIH/3T3"]])
    ab = ann(1102, NS_ANTIBODY, [["Antibody Name", "anti-alpha-Tubulin"],
                                 ["Antibody Identifier", "AB_2533740"]])
    cpd = ann(1103, NS_COMPOUND, [["Compound Name", "Nocodazole"],
                                  ["InChIKey", "KYRVNWMVYQXFEU-UHFFFAOYSA-N"]])
    prot = ann(1104, NS_PROTEIN, [["Protein", "Tubulin alpha-1A chain"]])
    actb = ann(1105, NS_GENE, [["Gene Identifier", "ENSMUSG00000029580"],
                               ["Gene Identifier URL", "http://www.ensembl.org/id/ENSMUSG00000029580"],
                               ["Gene Symbol", "Actb"]])
    for iid in range(2001, 2009):
        link("image", iid, mouse)
        link("image", iid, cl)
        link("image", iid, ab if iid <= 2004 else cpd)
        if iid % 2 == 0:
            link("image", iid, prot)
    link("image", 2001, actb)
    for iid in (2101, 2102, 2110, 2301):
        link("image", iid, mouse)

    # screen: on wells and on their images
    human = ann(1200, NS_ORGANISM, [["Organism", "Homo sapiens"]])
    hela = ann(1201, NS_CELL_LINE, [["Cell Line", "HeLa"]])
    hg = [ann(1210 + k, NS_GENE, [["Gene Identifier", gid],
                                  ["Gene Identifier URL", "http://www.ncbi.nlm.nih.gov/gene/%s" % gid],
                                  ["Gene Symbol", sym]]) for k, (sym, gid) in enumerate(HUMAN)]
    si = {}
    ph = [ann(1240 + k, NS_PHENOTYPE, [["Phenotype", p], ["Phenotype Term Name", n],
                                       ["Phenotype Term Accession", acc],
                                       ["Phenotype Term Accession URL",
                                        "http://www.ebi.ac.uk/cmpo/%s" % acc]])
          for k, (p, n, acc) in enumerate(PHENOTYPES)]
    for wid, w in a.wells.items():
        n = w.row * 12 + w.column
        g = (w.row + w.column * 3) % len(HUMAN)
        key = (g, w.row % 3)
        if key not in si:
            si[key] = ann(1300 + g * 3 + w.row % 3, NS_SIRNA,
                          [["siRNA Identifier", "%s-0%d" % (HUMAN[g][0], w.row % 3 + 1)]])
        mine = [human, hela, hg[g], si[key]]
        if n % 3 == 0:
            mine.append(ph[(n // 3) % len(ph)])
        if n % 7 == 0:
            mine.append(ph[(n // 7 + 2) % len(ph)])
        for aid in mine:
            link("well", wid, aid)
            for _, iid in w.fields:
                link("image", iid, aid)


def links_for(a, kind, oid):
    """Map annotation ids linked to an object (kind: project, dataset,
    image, screen, plate, well)."""
    if kind == "image" and BIG_FIRST <= oid < BIG_FIRST + BIG_COUNT:
        org, genes = a.big_anns
        return [org, genes[(oid - BIG_FIRST) % len(genes)]]
    return a.links.get((kind, oid), [])


def key_values(a, kind, oid):
    """Flattened [(key, value, index-in-its-annotation)] of an object."""
    out = []
    for aid in links_for(a, kind, oid):
        for k, (key, val) in enumerate(a.anns[aid].values):
            out.append((key, val, k))
    return out


# ---------------------------------------------------------------- navigation helpers

def image_parents(a, iid):
    """(project, dataset, screen, plate, well) objects or None for an image."""
    im = a.images[iid]
    if im.dataset_id is not None:
        ds = a.datasets[im.dataset_id]
        return a.projects[ds.project_id], ds, None, None, None
    w = a.wells[im.well_id]
    pl = a.plates[w.plate_id]
    return None, None, a.screens[pl.screen_id], pl, w


def image_study(a, iid):
    p, d, s, pl, w = image_parents(a, iid)
    return (p or s).study


def describe(a, base=""):
    """A compact JSON-able description of the whole archive (for tests).
    base: the server's base URL, prefixed to Zarr paths."""
    def img_desc(im):
        return {"id": im.id, "name": im.name, "sizeX": im.sx, "sizeY": im.sy, "sizeZ": im.sz,
                "sizeC": im.sc, "sizeT": im.st, "pixelType": im.ptype,
                "physicalSizeX": im.phys[0], "physicalSizeY": im.phys[1],
                "physicalSizeZ": im.phys[2], "source": im.source,
                "zarr": base + im.zarr.url if im.zarr else None,
                "zarrFormat": im.zarr.fmt if im.zarr else None,
                "levels": [list(l) for l in im.levels], "has_originals": im.fileset_id is not None,
                "channels": [{"name": c[0], "color": c[1]} for c in im.chans]}

    projects = []
    for p in a.projects.values():
        dss = []
        for did in p.dataset_ids:
            d = a.datasets[did]
            if did == 1001:
                first = a.images[BIG_FIRST]
                dss.append({"id": d.id, "name": d.name, "count": BIG_COUNT,
                            "image_ids": [BIG_FIRST, BIG_FIRST + BIG_COUNT - 1],
                            "name_format": BIG_NAME_FORMAT, "name_index_base": 1,
                            "image_template": dict(img_desc(first), id=None, name=None,
                                                   zarr=base + "idr/zarr/v0.4/idr0801A/{id}.zarr")})
            else:
                dss.append({"id": d.id, "name": d.name,
                            "images": [img_desc(a.images[i]) for i in d.image_ids]})
        projects.append({"id": p.id, "name": p.name, "datasets": dss})
    screens = []
    for s in a.screens.values():
        pls = []
        for plid in s.plate_ids:
            pl = a.plates[plid]
            first = a.images[a.wells[pl.well_ids[0]].fields[0][1]]
            pls.append({"id": pl.id, "name": pl.name, "rows": pl.rows, "columns": pl.columns,
                        "fields": pl.nfields, "zarr": base + pl.zstore,
                        "image_name_format": "plate1 [Well {row_letter}{column_number}, Field {field_number}]",
                        "image_zarr_format": base + pl.zstore + "/{row_letter}/{column_number}/{field_index}",
                        "image_template": dict(img_desc(first), id=None, name=None, zarr=None),
                        "wells": [{"id": w.id, "row": w.row, "column": w.column,
                                   "fields": [iid for _, iid in w.fields],
                                   "wellsamples": [ws for ws, _ in w.fields]}
                                  for w in (a.wells[i] for i in pl.well_ids)]})
        screens.append({"id": s.id, "name": s.name, "plates": pls})
    links = {}
    for (kind, oid), aids in sorted(a.links.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        links.setdefault(kind, {})[str(oid)] = aids
    org, genes = a.big_anns
    return {"seed": a.seed, "today": bool(getattr(a, "today", False)),
            "projects": projects, "screens": screens,
            "filesets": [{"id": f.id, "images": f.image_ids,
                          "files": [p for p, _, _ in f.files]} for f in a.filesets.values()],
            "map_annotations": {str(x.id): {"ns": x.ns, "values": x.values} for x in a.anns.values()},
            "annotation_links": links,
            "big_dataset_annotation_rule":
                "image i of dataset 1001 links annotation %d (organism) and annotation "
                "%d + (i - %d) %% %d (gene)" % (org, genes[0], BIG_FIRST, len(genes))}
