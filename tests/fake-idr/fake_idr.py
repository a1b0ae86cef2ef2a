#!/usr/bin/python3
"""fake-idr: a loopback stand-in for the Image Data Resource (IDR).

Usage:
  /usr/bin/python3 tests/fake-idr/fake_idr.py [--port N] [--latency-ms MS]
      [--fail-rate F] [--truncate-rate F] [--seed S] [--mapr]
      [--data-dir DIR] [--cookie-name NAME] [-v]

Prints exactly one line, http://127.0.0.1:PORT/, once it listens; logs go
to stderr.  See README.md beside this file for the endpoints, the archive
and the deviations from the real IDR.
"""

import argparse
from collections import OrderedDict
import hashlib
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import archive      # noqa: E402
import faults       # noqa: E402
import filefmt      # noqa: E402
import omeroapi     # noqa: E402
import searchapi    # noqa: E402
import zarrstore    # noqa: E402
from omeroapi import Resp, dj, not_found, HTML, JSON   # noqa: E402

TEXT = "text/plain; charset=utf-8"
SESSION_AGE = 3600
MAX_ACTIVE_CHANNELS = 10
MAX_TILE_LENGTH = 2048
PUB_ROOT = "pub/databases/IDR"
NGINX_404 = (b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
             b"<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n"
             b"</body>\r\n</html>\r\n")
NGINX_416 = (b"<html>\r\n<head><title>416 Requested Range Not Satisfiable</title></head>\r\n"
             b"<body>\r\n<center><h1>416 Requested Range Not Satisfiable</h1></center>\r\n"
             b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
NGINX_302 = (b"<html>\r\n<head><title>302 Found</title></head>\r\n<body>\r\n"
             b"<center><h1>302 Found</h1></center>\r\n<hr><center>nginx</center>\r\n"
             b"</body>\r\n</html>\r\n")
VERTX_404 = b"<html><body><h1>Resource not found</h1></body></html>"


def _u64(seed, n, salt):
    """splitmix64 of (seed, counter, salt) -> float in [0, 1)."""
    x = (seed * 0x9E3779B97F4A7C15 + n * 0xBF58476D1CE4E5B9 + salt) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 31
    return x / 2.0 ** 64


class State:
    def __init__(self, args, data_dir):
        self.args = args
        self.data_dir = data_dir
        self.arch = archive.build(args.seed, today=args.as_idr_today)
        self.base = None
        self.api = None
        self.search = searchapi.SearchIndex(self.arch)
        self.mapr = searchapi.Mapr(self.arch)
        self.stores = zarrstore.StoreManager(self.arch, data_dir,
                                             args.chunk_cache_mb << 20)
        self.faults = faults.Faults(self.stores.get)
        self.lock = threading.Lock()
        self.proxy = OrderedDict()  # the front proxy's cache
        self.proxy_bytes = 0
        self.proxy_lock = threading.Lock()
        self.counter = 0
        self.latency_ms = args.latency_ms
        self.fail_rate = args.fail_rate
        self.truncate_rate = args.truncate_rate
        self.sessions = {}
        self.imgdata_first = {2102}       # images whose first imgData answers ConcurrencyException
        self.imgdata_busy = False
        self.busy_seen = set()
        self.pub_files = {}               # url path (no leading slash) -> (kind, args)
        self.pub_cache = {}
        self.pub_lock = threading.Lock()
        for fs in self.arch.filesets.values():
            study = self.arch.images[fs.image_ids[0]].study
            if fs.zarr_root is not None:
                # a converted fileset: every key of its store is a file
                root = "%s/%s/%s" % (PUB_ROOT, study, fs.zarr_root)
                fs.files = [("%s/%s" % (fs.zarr_root, k), "zarr", None)
                            for k in self.stores.store(root).keys()]
            for rel, kind, fargs in fs.files:
                self.pub_files["%s/%s/%s" % (PUB_ROOT, study, rel)] = (kind, fargs)
        self.reset_stats()

    def reset_stats(self):
        with self.lock:
            self.stats = {"total": 0, "bytes": 0, "endpoints": {}, "paths": {},
                          "status": {}, "injected": {"fail": 0, "truncate": 0, "fault": 0},
                          "static": {"total": 0, "bytes": 0}}

    def next_request(self):
        with self.lock:
            self.counter += 1
            return self.counter

    def record(self, pattern, path, status, nbytes, injected=None):
        with self.lock:
            s = self.stats
            s["total"] += 1
            s["bytes"] += nbytes
            if path == "/static" or path.startswith("/static/"):
                # --static's files apart: a benchmark tells its peers'
                # requests from idrfs's
                s["static"]["total"] += 1
                s["static"]["bytes"] += nbytes
            s["endpoints"][pattern] = s["endpoints"].get(pattern, 0) + 1
            s["paths"][path] = s["paths"].get(path, 0) + 1
            k = str(status)
            s["status"][k] = s["status"].get(k, 0) + 1
            if injected:
                s["injected"][injected] += 1

    # ------------------------------------------------------------ sessions

    def new_session(self):
        key = secrets.token_hex(16)
        with self.lock:
            self.sessions[key] = time.time()
        return key

    def valid_session(self, key):
        with self.lock:
            t = self.sessions.get(key)
            if t is None:
                return False
            if time.time() - t > SESSION_AGE:
                del self.sessions[key]
                return False
            return True

    # ------------------------------------------------------------ originals

    def pub_bytes(self, rel):
        with self.pub_lock:
            data = self.pub_cache.get(rel)
            if data is None:
                kind, fargs = self.pub_files[rel]
                if kind == "zarr":
                    return self.stores.get(rel)
                data = filefmt.original_file(self.arch, kind, fargs)
                self.pub_cache[rel] = data
            return data


# ---------------------------------------------------------------- helpers

def pattern_of(st, path):
    if path.startswith("/idr/zarr/"):
        return st.stores.pattern(urllib.parse.unquote(path[1:]))
    if path.startswith("/" + PUB_ROOT + "/") or path.startswith("/searchengine/"):
        return path
    return "/".join("{id}" if s.isdigit() else s for s in path.split("/"))


def pattern_or_path(st, path):
    try:
        return pattern_of(st, path)
    except Exception:
        return path


def parse_range(header, size):
    """None (no/ignored range), 'bad' (416) or (start, end) inclusive."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    spec = header[6:].strip()
    m = re.match(r"^(\d*)-(\d*)$", spec)
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None
    if m.group(1) == "":
        n = int(m.group(2))
        if n == 0:
            return "bad"
        return (max(0, size - n), size - 1)
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or (m.group(2) and end < start):
        return "bad"
    return (start, min(end, size - 1))


def ranged(data, headers, ctype, extra, bad_body=NGINX_416, bad_ctype=HTML):
    size = len(data)
    r = parse_range(headers.get("Range"), size)
    hdr = [("Accept-Ranges", "bytes")] + extra
    if r is None:
        return Resp(200, data, ctype, hdr)
    if r == "bad":
        return Resp(416, bad_body, bad_ctype, hdr + [("Content-Range", "bytes */%d" % size)])
    s, e = r
    return Resp(206, data[s:e + 1], ctype, hdr + [("Content-Range", "bytes %d-%d/%d" % (s, e, size))])


def s3_error(code, message, key, status):
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
            '<Key>%s</Key><BucketName>idr</BucketName><Resource>/idr/%s</Resource>'
            '<RequestId>tx000000000000000000000-fake</RequestId><HostId>fake-idr</HostId></Error>'
            % (code, message, key, key))
    return Resp(status, body.encode("utf-8"), "application/xml")


def page_html(title, text):
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>"
            "<body><h1>%s</h1><p>%s</p></body></html>\n" % (title, title, text)).encode("utf-8")


# ---------------------------------------------------------------- routes

# IDR's front proxy keeps 200 answers of these locations for a day, keyed
# by the request URI without "_=<digits>" (idr-api.md, front proxy). The
# JSON APIs are kept here too: the archive never changes, and a listing
# page then costs what a stored object costs, not a Python rendering.
# The search engine is not behind IDR's cache, but its answers are kept
# the same way: a client can tell only by the time (a page of 1000 hits
# costs 0.25 s of Python, and `ls by-gene` asks 21 of them).
PROXY_CACHED = ("/api/", "/webclient/api/", "/searchengine/api/")
PROXY_CACHE_BYTES = 512 << 20


def proxied(st, method, path, qall, headers, query):
    if method != "GET" or not path.startswith(PROXY_CACHED):
        return route(st, method, path, qall, headers, query)
    key = path + "?" + "&".join(p for p in query.split("&") if not re.match(r"_=\d+$", p))
    with st.proxy_lock:
        hit = st.proxy.get(key)
        if hit is not None:
            st.proxy.move_to_end(key)
            return hit
    resp = route(st, method, path, qall, headers, query)
    if resp.status == 200:
        with st.proxy_lock:
            if key not in st.proxy:
                st.proxy[key] = resp
                st.proxy_bytes += len(resp.body)
                while st.proxy_bytes > PROXY_CACHE_BYTES and st.proxy:
                    _, old = st.proxy.popitem(last=False)
                    st.proxy_bytes -= len(old.body)
    return resp


def route(st, method, path, qall, headers, query=""):
    r = route1(st, method, path, qall, headers)
    if (r.status == 404 and r.body == omeroapi.DJANGO_404 and not path.endswith("/")
            and path.startswith(("/api/", "/webclient/", "/webgateway/", "/mapr/"))):
        # Django CommonMiddleware (APPEND_SLASH): 301 to the slashed URL if that resolves
        p2 = path + "/"
        if path.startswith(("/api/", "/webclient/api/", "/mapr/")):
            # these handlers have no side effects: just try the slashed form
            r2 = route1(st, method, p2, qall, headers)
            ok = not (r2.status == 404 and r2.body == omeroapi.DJANGO_404)
        else:
            ok = re.match(r"^/(webgateway|webclient)/imgData/\d+/([^/]+/)?$|"
                          r"^/webgateway/plate/\d+/(\d+/(\d+/)?)?$|"
                          r"^/webgateway/original_file_paths/\d+/$", p2) is not None
        if ok:
            loc = st.base + path[1:] + "/" + ("?" + query if query else "")
            return Resp(301, b"", HTML, [("Location", loc)])
    return r


def route1(st, method, path, qall, headers):
    q = {k: v[0] for k, v in qall.items()}
    if method not in ("GET", "HEAD"):
        if path.startswith("/api/"):
            return dj({"message": "Not logged in"}, 403)
        return Resp(405, b"Method Not Allowed", TEXT)
    if path == "/":
        return Resp(200, page_html("IDR: Image Data Resource (fake)", "fake-idr archive"), HTML)
    if path.startswith("/api/"):
        return st.api.api(path[5:], q)
    if path.startswith("/idr/zarr/"):
        return zarr_get(st, path, headers)
    if path in ("/idr", "/idr/"):
        return s3_error("AccessDenied", "Access Denied", "", 403)
    if path.startswith("/pub/"):
        return pub_get(st, path, headers)
    if path == "/" + archive.TODAY_CATALOGUE and st.arch.today:
        return Resp(200, archive.today_catalogue(st.arch, st.base).encode(),
                    "text/csv; charset=utf-8")
    if (path == "/static" or path.startswith("/static/")) and st.args.static:
        return static_get(st, path, headers)
    if path.startswith("/mapr/api/"):
        rest = path[len("/mapr/api/"):]
        if rest == "config/":
            return dj(searchapi.MAPR_CONFIG)
        if rest.startswith("config"):
            return not_found()
        if not st.args.mapr:
            return Resp(302, NGINX_302, HTML,
                        [("Location", st.base + "searchengine/apidocs/")])
        r = st.mapr.handle(rest, q)
        return Resp(r[0], r[2], r[1]) if r else not_found()
    if path.startswith("/searchengine/"):
        if path == "/searchengine/apidocs/":
            return Resp(200, page_html("IDR search engine API (Swagger UI)",
                                       "Swagger documents for /searchengine/api/v1/resources/"), HTML)
        pre = "/searchengine/api/v1/resources/"
        if path + "/" == pre:
            return Resp(308, b"", HTML, [("Location", st.base + pre[1:])])
        if path.startswith(pre):
            status, ctype, body = st.search.handle(path[len(pre):], q)
            if status == 308:
                return Resp(308, b"", HTML, [("Location", st.base + body.lstrip("/"))])
            return Resp(status, body, ctype)
        return Resp(404, searchapi.NOT_FOUND_TEXT.encode(), TEXT)
    m = re.match(r"^/(webgateway|webclient)/(render_image_region|render_image)/(\d+)/(-?\d+)/(-?\d+)/?$", path)
    if m:
        return render(st, int(m.group(3)), int(m.group(4)), int(m.group(5)), q, headers)
    if re.match(r"^/(webgateway|webclient)/(render_image_region|render_image|render_image_region_rdef|"
                r"render_image_rdef|histogram_json|render_shape_mask|render_thumbnail_ngff|"
                r"get_thumbnails_ngff)/", path):
        m = re.match(r"^/(webgateway|webclient)/histogram_json/(\d+)/channel/(\d+)/?$", path)
        if m:
            return histogram(st, int(m.group(2)), int(m.group(3)), q, headers)
        if not session_ok(st, headers):
            return Resp(403, b"", TEXT)
        return Resp(404, VERTX_404, HTML)
    if path.startswith("/webclient/"):
        return webclient(st, path, qall, q, headers)
    if path.startswith("/webgateway/"):
        return webgateway(st, path, q)
    return not_found()


def cookies_of(headers):
    """Cookie header(s) -> dict (tolerant: odd cookies never hide the others)."""
    out = {}
    for h in headers.get_all("Cookie") or []:
        for part in h.split(";"):
            if "=" in part:
                k, v = part.split("=", 1)
                k, v = k.strip(), v.strip()
                if len(v) >= 2 and v[0] == v[-1] == '"':
                    v = v[1:-1]
                out.setdefault(k, v)
    return out


def session_ok(st, headers):
    key = cookies_of(headers).get(st.args.cookie_name)
    return key is not None and st.valid_session(key)


def webclient(st, path, qall, q, headers):
    if path == "/webclient/":
        extra = []
        if not session_ok(st, headers):
            key = st.new_session()
            exp = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + SESSION_AGE))
            extra.append(("Set-Cookie", "%s=%s; expires=%s; HttpOnly; Max-Age=%d; Path=/; SameSite=Lax"
                          % (st.args.cookie_name, key, exp, SESSION_AGE)))
        if "csrftoken" not in cookies_of(headers):
            exp = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 31449600))
            extra.append(("Set-Cookie", "csrftoken=%s; expires=%s; Max-Age=31449600; Path=/; SameSite=Lax"
                          % (secrets.token_hex(32), exp)))
        return Resp(200, page_html("OMERO webclient", "Public data (fake-idr)"), HTML, extra)
    if path in ("/webclient/login/", "/webclient/login"):
        return Resp(302, b"", HTML, [("Location", st.base + "webclient/?experimenter=-1")])
    if path.startswith("/webclient/api/"):
        if path == "/webclient/api/annotations/":
            return st.api.annotations(qall)
        return st.api.webclient_api(path[len("/webclient/api/"):], q)
    m = re.match(r"^/webclient/imgData/(\d+)/(?:([^/]+)/)?$", path)
    if m:
        return img_data(st, int(m.group(1)), m.group(2), q)
    if re.match(r"^/webclient/(render_thumbnail|get_thumbnail)", path):
        return Resp(501, b"fake-idr: jpeg is not implemented, use format=png", TEXT)
    return not_found()


def webgateway(st, path, q):
    m = re.match(r"^/webgateway/imgData/(\d+)/(?:([^/]+)/)?$", path)
    if m:
        return img_data(st, int(m.group(1)), m.group(2), q)
    m = re.match(r"^/webgateway/plate/(\d+)/(?:(\d+)/(?:(\d+)/)?)?$", path)
    if m:
        return st.api.plate_grid(int(m.group(1)), int(m.group(2) or 0))
    m = re.match(r"^/webgateway/original_file_paths/(\d+)/$", path)
    if m:
        return st.api.original_file_paths(int(m.group(1)))
    if re.match(r"^/webgateway/(render_thumbnail|get_thumbnail|render_birds_eye_view)", path):
        return Resp(501, b"fake-idr: jpeg is not implemented, use format=png", TEXT)
    if re.match(r"^/webgateway/(archived_files|download_as)", path):
        return Resp(302, b"", HTML, [("Location", st.base + "webclient/login/")])
    return not_found()


def img_data(st, iid, key, q):
    if iid not in st.arch.images:
        return Resp(403, b"", HTML)
    with st.lock:
        busy = False
        if iid in st.imgdata_first:
            st.imgdata_first.discard(iid)
            busy = True
        elif st.imgdata_busy and iid not in st.busy_seen:
            st.busy_seen.add(iid)
            busy = True
    if busy:
        rv = {"ConcurrencyException": {"backOff": 50}}
    else:
        rv = st.api.img_data(iid)
        if key is not None:
            for k in key.split("."):
                rv = rv.get(k, {}) if isinstance(rv, dict) else {}
            if rv == {}:
                rv = None
    cb = q.get("callback")
    if cb is not None:
        if not re.match(r"^[a-zA-Z_$][0-9a-zA-Z_$]*$", cb):
            return Resp(400, b"Invalid callback", HTML)
        return Resp(200, "%s(%s)" % (cb, json.dumps(rv)), "application/javascript")
    return Resp(200, json.dumps(rv).encode("ascii"), JSON)


# ---------------------------------------------------------------- rendering

def render(st, iid, z, t, q, headers):
    if not session_ok(st, headers):
        return Resp(403, b"", TEXT)
    a = st.arch
    try:
        tile = region = res = None
        if q.get("tile") is not None:
            try:
                parts = q["tile"].split(",")
                if len(parts) not in (3, 5):
                    raise ValueError
                nums = [int(p) for p in parts]
                res, tile = nums[0], (nums[1], nums[2], nums[3] if len(nums) == 5 else 0,
                                      nums[4] if len(nums) == 5 else 0)
            except ValueError:
                raise ValueError("Failed to parse 'tile' parameter. Format is resolution,x,y or "
                                 "resolution,x,y,w,h")
        if q.get("region") is not None:
            parts = q["region"].split(",")
            if len(parts) != 4:
                raise ValueError("Region string format incorrect. Should be 'x,y,w,h'")
            try:
                region = tuple(int(p) for p in parts)
            except ValueError:
                raise ValueError("Improper number formatting in region string " + q["region"])
        chans = archive.parse_channels(q.get("c"))
        if q.get("m") not in ("g", "c"):
            raise ValueError("Must provide rendering model parameter 'm' with value either "
                             "'g' or 'c'")
        if q.get("q") is not None:
            try:
                float(q["q"])
            except ValueError:
                raise ValueError("Failed to parse compression quality")
        projection = None
        if q.get("p"):
            parts = q["p"].split("|")
            if parts[0] in ("intmax", "intmean", "intsum"):
                zs = ze = None
                if len(parts) == 2:
                    try:
                        zs, ze = [int(v) for v in parts[1].split(":")[:2]]
                    except ValueError:
                        zs = ze = None
                projection = (parts[0], zs, ze)
        inverted = None
        if q.get("maps") is not None:
            try:
                maps = json.loads(q["maps"])
            except ValueError:
                raise ValueError("Failed to decode maps")
            if not isinstance(maps, list) or len(maps) != len(chans):
                raise ValueError("Must provide codomain map for all provided channels or none")
            inverted = [bool((m or {}).get("inverted", (m or {}).get("reverse", {})).get("enabled"))
                        if isinstance(m, dict) else False for m in maps]
        flip = q.get("flip", "").lower()
        fmt = q.get("format") or "jpeg"
        if fmt not in ("jpeg", "png", "tif"):
            raise ValueError("Unsupported format request.Supported formats are jpeg, png, and tif")
    except ValueError as e:
        return Resp(400, str(e).encode("utf-8"), TEXT)
    if sum(1 for c in chans if c["active"]) > MAX_ACTIVE_CHANNELS:
        return Resp(400, ("Too many active channels. Cannot process more than %d per request"
                          % MAX_ACTIVE_CHANNELS).encode(), TEXT)
    missing = Resp(404, ("Cannot find Image:%d" % iid).encode(), TEXT)
    img = a.images.get(iid)
    if img is None:
        return missing
    level = 0
    if res is not None:
        if not 0 <= res < len(img.levels):
            return missing
        level = res
    lsx, lsy = img.levels[level]
    if tile is not None:
        tw = tile[2] or img.tile[0]
        th = tile[3] or img.tile[1]
        tw, th = min(tw, MAX_TILE_LENGTH), min(th, MAX_TILE_LENGTH)
        x, y, w, h = tile[0] * tw, tile[1] * th, tw, th
    elif region is not None:
        x, y, w, h = region
    else:
        x, y, w, h = 0, 0, lsx, lsy
    if x > lsx or y > lsy or x < 0 or y < 0:
        return missing
    w, h = min(w, lsx - x), min(h, lsy - y)
    if w <= 0 or h <= 0 or not (0 <= z < img.sz and 0 <= t < img.st):
        return missing
    if any(not 0 <= c["index"] < img.sc for c in chans):
        return missing
    if fmt == "jpeg":
        return Resp(501, b"fake-idr: jpeg is not implemented, use format=png", TEXT)
    rgb = archive.render_region(a, iid, z, t, x, y, w, h, chans, q["m"], level=level,
                                inverted=inverted, projection=projection, flip=flip)
    if fmt == "png":
        return Resp(200, filefmt.png_rgb(rgb), "image/png")
    return Resp(200, filefmt.tiff_rgb(rgb), "image/tiff")


def histogram(st, iid, c, q, headers):
    if not session_ok(st, headers):
        return Resp(403, b"", TEXT)
    img = st.arch.images.get(iid)
    try:
        z = int(q.get("theZ", 0))
        t = int(q.get("theT", 0))
        bins = int(q.get("bins", 256))
    except ValueError:
        return Resp(400, b"", TEXT)
    if img is None or not (0 <= c < img.sc and 0 <= z < img.sz and 0 <= t < img.st) or bins < 1:
        return Resp(404, b"Cannot find the Image", TEXT)
    import numpy as np
    mn, mx, _, _ = archive.windows(st.arch, iid)[c]
    hi = mx if mx > mn else mn + 1
    p = np.clip(archive.plane(st.arch, iid, 0, t, c, z).astype(np.float64), mn, hi)
    counts, _ = np.histogram(p, bins=bins, range=(mn, hi))
    return Resp(200, json.dumps({"data": [int(v) for v in counts]}, indent=2).encode(), JSON)


# ---------------------------------------------------------------- zarr and originals

def zarr_get(st, path, headers):
    key = urllib.parse.unquote(path[1:])
    data, etag = st.stores.get_with_etag(key)
    if data is None:
        return s3_error("NoSuchKey", "The specified key does not exist.", key[len("idr/"):], 404)
    ctype = "application/json" if key.endswith("zarr.json") else "binary/octet-stream"
    extra = [("ETag", etag), ("Last-Modified", filefmt.http_date(archive.DATE0_MS // 1000))]
    bad = s3_error("InvalidRange", "The requested range is not satisfiable", key[4:], 416)
    return ranged(data, headers, ctype, extra, bad.body, bad.ctype)


def pub_get(st, path, headers):
    rel = urllib.parse.unquote(path[1:])
    mtime = archive.DATE0_MS // 1000
    if rel in st.pub_files:
        data = st.pub_bytes(rel)
        ctype = "image/tiff" if rel.endswith((".tif", ".tiff")) else "application/octet-stream"
        extra = [("Last-Modified", filefmt.http_date(mtime)),
                 ("ETag", '"%x-%x"' % (mtime, len(data)))]
        return ranged(data, headers, ctype, extra)
    d = rel.rstrip("/")
    prefix = d + "/"
    children = {}
    for f in st.pub_files:
        if f.startswith(prefix):
            rest = f[len(prefix):]
            name = rest.split("/", 1)[0]
            children[name] = "/" in rest
    if not children:
        return Resp(404, NGINX_404, HTML)
    if not rel.endswith("/"):
        return Resp(301, b"", HTML, [("Location", st.base + urllib.parse.quote(prefix))])
    entries = []
    for name, is_dir in children.items():
        size = 0 if is_dir else len(st.pub_bytes(prefix + name))
        entries.append((name, is_dir, size, mtime))
    return Resp(200, filefmt.autoindex("/" + prefix, entries), HTML)


def static_get(st, path, headers):
    """--static DIR served under /static/ like nginx: files with Range,
    directories as an autoindex page. Benchmarks use it to serve the same
    bytes to other tools through the same server and latency."""
    root = os.path.realpath(st.args.static)
    rel = urllib.parse.unquote(path[len("/static/"):])  # "" for /static
    full = os.path.realpath(os.path.join(root, rel))
    if full != root and not full.startswith(root + os.sep):
        return Resp(404, NGINX_404, HTML)
    if os.path.isdir(full):
        # served without the 301 nginx would send: httpdirfs asks for
        # directories without the slash and does not follow redirects
        entries = []
        with os.scandir(full) as it:
            for e in it:
                stt = e.stat()
                entries.append((e.name, e.is_dir(), stt.st_size, int(stt.st_mtime)))
        return Resp(200, filefmt.autoindex(path, entries), HTML)
    if not os.path.isfile(full):
        return Resp(404, NGINX_404, HTML)
    size = os.path.getsize(full)
    mtime = int(os.path.getmtime(full))
    extra = [("Accept-Ranges", "bytes"), ("Last-Modified", filefmt.http_date(mtime)),
             ("ETag", '"%x-%x"' % (mtime, size))]
    r = parse_range(headers.get("Range"), size)
    if r == "bad":
        return Resp(416, NGINX_416, HTML, extra + [("Content-Range", "bytes */%d" % size)])
    s, e = (0, size - 1) if r is None else r
    with open(full, "rb") as f:
        f.seek(s)
        data = f.read(e - s + 1)
    if r is None:
        return Resp(200, data, "application/octet-stream", extra)
    return Resp(206, data, "application/octet-stream",
                extra + [("Content-Range", "bytes %d-%d/%d" % (s, e, size))])


# ---------------------------------------------------------------- control

def control(st, path, q):
    if path == "/__fake/stats":
        with st.lock:
            return dj(json.loads(json.dumps(st.stats)))
    if path == "/__fake/reset":
        st.reset_stats()
        return dj({"ok": True})
    if path == "/__fake/archive":
        return dj(archive.describe(st.arch, st.base))
    if path == "/__fake/imgdata_busy":
        with st.lock:
            st.imgdata_busy = q.get("on", "1") not in ("0", "false")
            st.busy_seen = set()
            return dj({"ok": True, "imgdata_busy": st.imgdata_busy})
    if path == "/__fake/expire_sessions":
        with st.lock:
            n = len(st.sessions)
            st.sessions.clear()
        return dj({"ok": True, "expired": n})
    if path == "/__fake/fault":
        status, answer = st.faults.control(q)
        return dj(answer, status)
    if path == "/__fake/config":
        try:
            if "latency_ms" in q:
                st.latency_ms = float(q["latency_ms"])
            if "fail_rate" in q:
                st.fail_rate = float(q["fail_rate"])
            if "truncate_rate" in q:
                st.truncate_rate = float(q["truncate_rate"])
        except ValueError:
            return dj({"ok": False}, 400)
        return dj({"ok": True, "latency_ms": st.latency_ms, "fail_rate": st.fail_rate,
                   "truncate_rate": st.truncate_rate})
    return dj({"ok": False, "error": "unknown control endpoint"}, 404)


# ---------------------------------------------------------------- HTTP plumbing

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"

    def version_string(self):
        return self.server_version

    def setup(self):
        http.server.BaseHTTPRequestHandler.setup(self)
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        if self.server.state.args.verbose:
            sys.stderr.write("fake-idr: %s\n" % (fmt % args))

    def do_GET(self):
        self.serve("GET")

    def do_HEAD(self):
        self.serve("HEAD")

    def do_POST(self):
        self.serve("POST")

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST

    def serve(self, method):
        st = self.server.state
        n = int(self.headers.get("Content-Length") or 0)
        if n > 0:
            self.rfile.read(n)
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path or "/"
        qall = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        if path.startswith("/__fake/"):
            resp = control(st, path, {k: v[0] for k, v in qall.items()})
            self.send(resp, method == "HEAD")
            return
        counter = st.next_request()
        if st.latency_ms > 0:
            time.sleep(st.latency_ms / 1000.0)
        memo = []

        def real():
            if not memo:
                try:
                    memo.append(proxied(st, method, path, qall, self.headers, parsed.query))
                except Exception:
                    sys.stderr.write("fake-idr: error on %s\n%s" % (self.path, traceback.format_exc()))
                    memo.append(Resp(500, b"fake-idr internal error\n", TEXT))
            return memo[0]
        try:
            faulted = st.faults.serve(self, method, path, parsed.query, real)
        except Exception:
            sys.stderr.write("fake-idr: fault layer error on %s\n%s" % (self.path, traceback.format_exc()))
            faulted = None
        if faulted is not None:
            st.record(pattern_or_path(st, path), path, faulted[0], faulted[1], "fault")
            return
        injected = None
        if st.fail_rate > 0 and _u64(st.args.seed, counter, 1) < st.fail_rate:
            resp = Resp(503, b"fake-idr: injected failure (503 Service Unavailable)\n", TEXT)
            injected = "fail"
        else:
            resp = real()
        truncate = (injected is None and st.truncate_rate > 0 and method != "HEAD"
                    and _u64(st.args.seed, counter, 2) < st.truncate_rate)
        if truncate:
            injected = "truncate"
        sent = 0
        try:
            sent = self.send(resp, method == "HEAD", truncate)
        finally:
            st.record(pattern_or_path(st, path), path, resp.status, sent, injected)

    def send(self, resp, head=False, truncate=False):
        body = resp.body
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Access-Control-Allow-Origin", "*")
        for k, v in resp.headers:
            self.send_header(k, v)
        out = b"" if head else (body[:len(body) // 2] if truncate else body)
        # headers and body in one write (no Nagle / delayed-ACK stall)
        self._headers_buffer.append(b"\r\n")
        self._headers_buffer.append(out)
        try:
            self.flush_headers()
            self.wfile.flush()
        except OSError:
            self.close_connection = True
            return 0
        if head:
            return 0
        if truncate:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        return len(out)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main(argv=None):
    ap = argparse.ArgumentParser(description="fake IDR server for idrfs tests")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--fail-rate", type=float, default=0.0)
    ap.add_argument("--truncate-rate", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mapr", action="store_true")
    ap.add_argument("--as-idr-today", action="store_true",
                    help="no ExternalInfo, Zarr under per-study prefixes, an OME-NGFF tag, "
                         "a catalogue at /" + archive.TODAY_CATALOGUE)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--cookie-name", default="sessionid_fake")
    ap.add_argument("--static", default=None, metavar="DIR",
                    help="serve DIR under /static/ (benchmarks)")
    ap.add_argument("--chunk-cache-mb", type=int, default=128, metavar="MB",
                    help="memory for encoded lazy Zarr chunks (benchmarks: "
                    "large, so every chunk is encoded once)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)

    tmp = None
    if args.data_dir:
        data_dir = os.path.abspath(args.data_dir)
        os.makedirs(data_dir, exist_ok=True)
    else:
        tmp = data_dir = tempfile.mkdtemp(prefix="fake-idr-")
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    try:
        st = State(args, data_dir)
        srv = Server(("127.0.0.1", args.port), Handler)
        srv.state = st
        port = srv.server_address[1]
        st.base = "http://127.0.0.1:%d/" % port
        st.api = omeroapi.Api(st.arch, st.base)
        th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        th.start()
        sys.stdout.write(st.base + "\n")
        sys.stdout.flush()

        def warm():
            try:
                st.stores.build_eager()
            except Exception:
                if not stop.is_set():
                    sys.stderr.write("fake-idr: building zarr stores failed\n%s"
                                     % traceback.format_exc())
        warmer = threading.Thread(target=warm, daemon=True)
        warmer.start()
        while not stop.wait(0.5):
            pass
        srv.shutdown()
        srv.server_close()
        warmer.join(30)       # do not remove the data dir under a writer
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
