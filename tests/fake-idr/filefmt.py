"""Small file writers for fake-idr: PNG and TIFF for rendered output, the
original files (OME-TIFF, companion OME-XML) and nginx-style directory
indexes for the download root."""

import html
import struct
import time
import urllib.parse
import zlib

import numpy as np

import archive


# ---------------------------------------------------------------- rendered output

def png_rgb(rgb):
    """8-bit RGB PNG (colour type 2, zlib, filter 0 on every row)."""
    h, w, _ = rgb.shape

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))


def _ifd(entries, next_off):
    """Classic little-endian IFD; entries = [(tag, type, count, value_or_offset)]."""
    out = struct.pack("<H", len(entries))
    for tag, typ, count, val in sorted(entries):
        if typ == 3 and count == 1:
            out += struct.pack("<HHIHH", tag, typ, count, val, 0)
        else:
            out += struct.pack("<HHII", tag, typ, count, val)
    return out + struct.pack("<I", next_off)


def tiff_rgb(rgb):
    """Uncompressed baseline RGB TIFF, one strip."""
    h, w, _ = rgb.shape
    data = rgb.tobytes()
    bps_off = 8
    data_off = 16
    ifd_off = data_off + len(data)
    ifd_off += ifd_off & 1
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 3, bps_off), (259, 3, 1, 1),
               (262, 3, 1, 2), (273, 4, 1, data_off), (277, 3, 1, 3), (278, 4, 1, h),
               (279, 4, 1, len(data)), (284, 3, 1, 1)]
    head = b"II*\x00" + struct.pack("<I", ifd_off) + struct.pack("<HHHH", 8, 8, 8, 0)
    body = data + (b"\x00" if len(data) & 1 else b"")
    return head + body + _ifd(entries, 0)


# ---------------------------------------------------------------- original files

def _uuid(seed, n):
    x = archive._mix(seed, n)
    y = archive._mix(n, seed + 7)
    z = archive._mix(x, y)
    w = archive._mix(y, z)
    h = "%08x%08x%08x%08x" % (x, y, z, w)
    return "urn:uuid:%s-%s-4%s-a%s-%s" % (h[0:8], h[8:12], h[13:16], h[17:20], h[20:32])


def _ome_image_xml(arch, img, index, tiffdata):
    px, py, pz = img.phys
    attrs = ""
    if px is not None:
        attrs += ' PhysicalSizeX="%s" PhysicalSizeXUnit="\u00b5m"' % px
        attrs += ' PhysicalSizeY="%s" PhysicalSizeYUnit="\u00b5m"' % py
    if pz is not None:
        attrs += ' PhysicalSizeZ="%s" PhysicalSizeZUnit="\u00b5m"' % pz
    chans = "".join(
        '<Channel ID="Channel:%d:%d" Name="%s" SamplesPerPixel="1"/>' % (index, c, html.escape(n or str(c)))
        for c, (n, _col, _em) in enumerate(img.chans))
    return ('<Image ID="Image:%d" Name="%s"><Pixels ID="Pixels:%d" DimensionOrder="XYZCT" '
            'Type="%s" SizeX="%d" SizeY="%d" SizeZ="%d" SizeC="%d" SizeT="%d" BigEndian="false"%s>'
            '%s%s</Pixels></Image>' % (index, html.escape(img.name), index, img.ptype, img.sx,
                                       img.sy, img.sz, img.sc, img.st, attrs, chans, tiffdata))


def _ome(body, extra=""):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" Creator="fake-idr"%s '
            'xsi:schemaLocation="http://www.openmicroscopy.org/Schemas/OME/2016-06 '
            'http://www.openmicroscopy.org/Schemas/OME/2016-06/ome.xsd">%s</OME>\n' % (extra, body))


def ome_tiff(arch, img, description):
    """Classic little-endian multi-page TIFF of an image's raw planes in XYZCT
    order, one strip per plane, `description` (OME-XML) in IFD0."""
    planes = [(t, c, z) for t in range(img.st) for c in range(img.sc) for z in range(img.sz)]
    desc = description.encode("utf-8") + b"\x00"
    bps = np.dtype(img.dtype).itemsize * 8
    fmt = 3 if img.ptype in ("float", "double") else (2 if archive.PTYPES[img.ptype][2] else 1)
    plane_bytes = img.sx * img.sy * bps // 8
    desc_off = 8
    data_off = (desc_off + len(desc) + 15) & ~15
    ifd_start = data_off + plane_bytes * len(planes)
    ifd_start += ifd_start & 1
    n_entries_0, n_entries = 13, 12
    sizes = [2 + 12 * n_entries_0 + 4] + [2 + 12 * n_entries + 4] * (len(planes) - 1)
    offs = []
    o = ifd_start
    for s in sizes:
        offs.append(o)
        o += s
    out = bytearray(b"II*\x00" + struct.pack("<I", offs[0]))
    out += desc
    out += b"\x00" * (data_off - len(out))
    le = img.dtype.newbyteorder("<")
    for (t, c, z) in planes:
        out += archive.plane(arch, img.id, 0, t, c, z).astype(le).tobytes()
    out += b"\x00" * (ifd_start - len(out))
    for i in range(len(planes)):
        e = [(254, 4, 1, 0), (256, 4, 1, img.sx), (257, 4, 1, img.sy), (258, 3, 1, bps),
             (259, 3, 1, 1), (262, 3, 1, 1), (273, 4, 1, data_off + i * plane_bytes),
             (277, 3, 1, 1), (278, 4, 1, img.sy), (279, 4, 1, plane_bytes), (284, 3, 1, 1),
             (339, 3, 1, fmt)]
        if i == 0:
            e.append((270, 2, len(desc), desc_off))
        out += _ifd(e, offs[i + 1] if i + 1 < len(planes) else 0)
    return bytes(out)


def original_file(arch, kind, args):
    """Bytes of one original file of a fileset."""
    seed = arch.seed
    if kind == "ometiff":
        img = arch.images[args[0]]
        nplanes = img.sz * img.sc * img.st
        td = '<TiffData FirstC="0" FirstT="0" FirstZ="0" IFD="0" PlaneCount="%d"/>' % nplanes
        return ome_tiff(arch, img, _ome(_ome_image_xml(arch, img, 0, td),
                                        ' UUID="%s"' % _uuid(seed, img.id)))
    if kind == "companion":
        body = ""
        for k, iid in enumerate(args):
            img = arch.images[iid]
            td = ('<TiffData FirstC="0" FirstT="0" FirstZ="0" IFD="0" PlaneCount="%d">'
                  '<UUID FileName="data/run1_s%d.ome.tif">%s</UUID></TiffData>'
                  % (img.sz * img.sc * img.st, k, _uuid(seed, iid)))
            body += _ome_image_xml(arch, img, k, td)
        return _ome(body, ' UUID="%s"' % _uuid(seed, 9000 + args[0])).encode("utf-8")
    if kind == "binaryonly":
        img = arch.images[args[0]]
        comp_uuid = _uuid(seed, 9000 + args[0] - img.series)
        xml = _ome('<BinaryOnly MetadataFile="../%s" UUID="%s"/>' % (args[1], comp_uuid),
                   ' UUID="%s"' % _uuid(seed, img.id))
        return ome_tiff(arch, img, xml)
    raise ValueError(kind)


# ---------------------------------------------------------------- nginx autoindex

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def http_date(ts):
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(ts))


def autoindex(path, entries):
    """nginx autoindex HTML; entries = [(name, is_dir, size, mtime)]."""
    title = html.escape(path)
    out = ["<html>\r\n<head><title>Index of %s</title></head>\r\n<body>\r\n"
           "<h1>Index of %s</h1><hr><pre><a href=\"../\">../</a>\r\n" % (title, title)]
    ents = sorted(entries, key=lambda e: (not e[1], e[0].encode("utf-8")))
    for name, is_dir, size, mtime in ents:
        disp = name + ("/" if is_dir else "")
        href = urllib.parse.quote(name) + ("/" if is_dir else "")
        shown = disp if len(disp) <= 50 else disp[:47] + "..>"
        tm = time.gmtime(mtime)
        date = "%02d-%s-%d %02d:%02d" % (tm.tm_mday, MONTHS[tm.tm_mon - 1], tm.tm_year,
                                         tm.tm_hour, tm.tm_min)
        sz = "-" if is_dir else str(size)
        out.append('<a href="%s">%s</a>%s %s %s\r\n' % (
            href, html.escape(shown), " " * (50 - len(shown)), date, sz.rjust(19)))
    out.append("</pre><hr></body>\r\n</html>\r\n")
    return "".join(out).encode("utf-8")
