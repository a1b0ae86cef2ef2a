"""Fault injection for fake-idr: faults switched on per URL pattern at run time.

A test asks the server, through GET /__fake/fault (never counted, delayed
or failed itself), to answer the requests whose path matches a pattern with
one kind of fault, until it clears them:

    /__fake/fault?kind=503&pattern=^/api/v0/m/datasets/   (a Python regex, searched)
    /__fake/fault?kind=stall&glob=/idr/zarr/*/.zarray     (fnmatch, '*' spans '/')
    /__fake/fault?clear=1                                  (every rule off)
    /__fake/fault                                          (the rules and their hits)

Rules are tried in the order they were added; the first that matches and
applies answers. Options: count=N (fire N times, then pass), secs=S (bound
of a stall or trickle), retry_after=S (429), rate=B (trickle bytes per
second), items=N (huge page), every=N (names: rewrite every Nth item).

Some kinds replace the answer whatever it was (status codes, resets,
stalls, redirect, empty, html); the others rewrite the real answer, and
only a 2xx one (a 404 passes through unchanged): they apply where they make
sense (JSON kinds to JSON bodies, zarr_* to .zarray and array zarr.json,
chunk_size to Zarr v2 chunks) and count a hit only then. See README.md.
"""

import copy
import fnmatch
import json
import random
import re
import select
import socket
import struct
import threading
import time
import urllib.parse

HTML = "text/html"
JSON = "application/json"

# kind -> one line for README.md and the control endpoint's answer
KINDS = {
    "500": "500 Internal Server Error (nginx page)",
    "502": "502 Bad Gateway (nginx page)",
    "503": "503 Service Temporarily Unavailable (nginx page)",
    "429": "429 Too Many Requests with Retry-After: retry_after (1 s)",
    "404": "404 (S3 NoSuchKey under /idr/, nginx page elsewhere)",
    "reset": "connection reset (RST) before any header",
    "reset_body": "headers and half the body, then a reset",
    "stall": "nothing sent until the client gives up (bounded by secs, 30 s)",
    "trickle": "headers, then the body at rate bytes/s (1) until done, "
               "the client gives up or secs (60 s) pass",
    "cut": "the body cut in half, Content-Length telling the cut length",
    "short": "the whole body, Content-Length twice its length, then close",
    "empty": "200 with an empty body",
    "html": "200 text/html: a proxy's error page",
    "badjson": "the real JSON with a syntax error in its middle",
    "string": "every JSON number or boolean sent as a string",
    "null": "every JSON scalar sent as null",
    "nested": "every JSON scalar v sent as [[v]]",
    "huge": "the longest JSON list padded with items (200 000) more entries",
    "names": "every other item's Name/name (search values' Value) made "
             "hostile: '/', '..', '.', NUL, control characters, 300 bytes",
    "zarr_huge": "Zarr array metadata with shape and chunks of 10^12",
    "zarr_negative": "Zarr array metadata with negative shape and chunks",
    "zarr_codec": "Zarr array metadata with an unknown codec",
    "garbage": "the body replaced by as many random bytes",
    "chunk_size": "a Zarr v2 chunk re-encoded with half its decoded bytes",
    "redirect": "302 to the very same URL (a redirect loop)",
}

# kinds that answer without looking at the real answer
REPLACE = {"500", "502", "503", "429", "404", "reset", "stall", "redirect",
           "empty", "html"}

# the worst first: a listing of 3 items already meets NUL, '/' and '..'
HOSTILE = ["nul\x00byte", "a/b/../c", "..", "ctl\x01\x07\x1b[31m\x7f",
           "\u00e9" * 150, ".", "tab\there\nnewline", "/"]

STATUS_TEXT = {500: "Internal Server Error", 502: "Bad Gateway",
               503: "Service Temporarily Unavailable", 429: "Too Many Requests",
               404: "Not Found", 302: "Found"}

PROXY_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Network error</title></head>\n"
              b"<body><h1>The page could not be loaded</h1>\n"
              b"<p>The proxy server could not reach the site. Please try again later "
              b"or contact your network administrator.</p></body></html>\n")

UNKNOWN_CODEC = "no-such-codec-9"

# what a padding item of a huge page keeps of the first real item
PAD_KEYS = ("@id", "@type", "id", "Name", "name", "Key", "Value", "type", "data_source")


class Resp:
    """What the fault layer sends (the same fields as omeroapi.Resp)."""

    def __init__(self, status, body, ctype, headers=None):
        self.status = status
        self.body = body
        self.ctype = ctype
        self.headers = list(headers or [])


def nginx_page(status):
    t = "%d %s" % (status, STATUS_TEXT.get(status, ""))
    return ("<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1>"
            "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            % (t, t)).encode()


class Rule:
    def __init__(self, rid, kind, q):
        self.id = rid
        self.kind = kind
        self.pattern = q.get("pattern")
        self.glob = q.get("glob")
        self.regex = re.compile(self.pattern) if self.pattern is not None else None
        self.count = int(q["count"]) if q.get("count") else None
        self.secs = float(q.get("secs", 60 if kind == "trickle" else 30))
        self.retry_after = int(q.get("retry_after", 1))
        self.rate = max(float(q.get("rate", 1)), 0.001)
        self.items = int(q.get("items", 200000))
        self.every = max(int(q.get("every", 2)), 1)
        self.hostile = HOSTILE if q.get("nul", "1") != "0" else [n for n in HOSTILE if "\x00" not in n]
        self.hits = 0

    def matches(self, path):
        if self.regex is not None and not self.regex.search(path):
            return False
        if self.glob is not None and not fnmatch.fnmatchcase(path, self.glob):
            return False
        return True

    def describe(self):
        return {"id": self.id, "kind": self.kind, "pattern": self.pattern,
                "glob": self.glob, "count": self.count, "hits": self.hits}


class Faults:
    """The rules of one server; thread-safe. lookup(key) gives the bytes of
    a Zarr object key (no leading slash) or None, for chunk_size."""

    def __init__(self, lookup):
        self.lookup = lookup
        self.lock = threading.Lock()
        self.rules = []
        self.next_id = 1
        self.memo = {}          # (rule id, entry parts) -> [lock, padding] (huge)
        self.rewritten = {}     # (rule id, path, query) -> JSON rewritten or None

    # ------------------------------------------------------------ control

    def control(self, q):
        """GET /__fake/fault: (status, JSON-able answer)."""
        with self.lock:
            if q.get("clear") not in (None, "", "0"):
                n = len(self.rules)
                hits = {str(r.id): r.hits for r in self.rules}
                self.rules = []
                self.memo = {}
                self.rewritten = {}
                return 200, {"ok": True, "cleared": n, "hits": hits}
            if "kind" not in q:
                return 200, {"ok": True, "rules": [r.describe() for r in self.rules],
                             "kinds": KINDS}
            kind = q["kind"]
            if kind not in KINDS:
                return 400, {"ok": False, "error": "unknown kind", "kinds": sorted(KINDS)}
            if q.get("pattern") is None and q.get("glob") is None:
                return 400, {"ok": False, "error": "give pattern= or glob="}
            try:
                rule = Rule(self.next_id, kind, q)
            except (re.error, ValueError) as e:
                return 400, {"ok": False, "error": str(e)}
            self.next_id += 1
            self.rules.append(rule)
            return 200, {"ok": True, "id": rule.id, "rule": rule.describe()}

    def active(self):
        return bool(self.rules)

    def _candidates(self, path):
        with self.lock:
            return [r for r in self.rules
                    if (r.count is None or r.hits < r.count) and r.matches(path)]

    def _hit(self, rule):
        with self.lock:
            if rule.count is not None and rule.hits >= rule.count:
                return False
            rule.hits += 1
            return True

    # ------------------------------------------------------------ serving

    def serve(self, h, method, path, query, real):
        """Answer one request under the first rule that applies.

        h is the BaseHTTPRequestHandler; real() gives the real answer (a
        Resp, computed at most once by the caller's memo). Returns None when
        no rule applies (the caller sends real() itself), else (status,
        body bytes sent, kind)."""
        if not self.rules:
            return None
        for rule in self._candidates(path):
            if rule.kind in REPLACE:
                if not self._hit(rule):
                    continue
                return self._replace(rule, h, method, path, query)
            resp = real()
            out = self._rewrite(rule, method, path, query, resp)
            if out is None or not self._hit(rule):
                continue
            return self._deliver(rule, h, method, out)
        return None

    def _replace(self, rule, h, method, path, query):
        k = rule.kind
        head = method == "HEAD"
        if k in ("500", "502", "503", "404"):
            st = int(k)
            if k == "404" and path.startswith("/idr/"):
                key = urllib.parse.unquote(path[len("/idr/"):])
                body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
                        '<Message>The specified key does not exist.</Message><Key>%s</Key>'
                        '<BucketName>idr</BucketName></Error>' % key).encode()
                ctype = "application/xml"
            else:
                body, ctype = nginx_page(st), HTML
            send(h, st, ctype, [], body, head)
            return st, 0 if head else len(body), k
        if k == "429":
            body = nginx_page(429)
            send(h, 429, HTML, [("Retry-After", str(rule.retry_after))], body, head)
            return 429, 0 if head else len(body), k
        if k == "redirect":
            loc = "http://%s%s%s" % (h.headers.get("Host", "127.0.0.1"), path,
                                     "?" + query if query else "")
            body = nginx_page(302)
            send(h, 302, HTML, [("Location", loc)], body, head)
            return 302, 0 if head else len(body), k
        if k == "empty":
            send(h, 200, JSON, [], b"", head)
            return 200, 0, k
        if k == "html":
            send(h, 200, HTML + "; charset=utf-8", [], PROXY_PAGE, head)
            return 200, 0 if head else len(PROXY_PAGE), k
        if k == "reset":
            reset(h)
            return 0, 0, k
        if k == "stall":
            wait_for_close(h, rule.secs)
            return 0, 0, k
        raise AssertionError(k)

    def _rewrite(self, rule, method, path, query, resp):
        """The rewritten Resp, or None where the kind does not apply."""
        if not 200 <= resp.status < 300:
            return None
        k = rule.kind
        body = resp.body
        if k in ("reset_body", "trickle", "cut", "short"):
            return resp
        if k == "garbage":
            if not body:
                return None
            return _like(resp, random.Random(path).randbytes(len(body)))
        if k == "chunk_size":
            out = self._chunk_half(path, body)
            return _like(resp, out) if out is not None else None
        key = (rule.id, path, query)
        with self.lock:
            if key in self.rewritten:
                out = self.rewritten[key]
                return _like(resp, out) if out is not None else None
        out = self._rewrite_json(rule, body)
        with self.lock:
            if len(self.rewritten) >= 64:
                self.rewritten.clear()
            self.rewritten[key] = out
        return _like(resp, out) if out is not None else None

    def _rewrite_json(self, rule, body):
        """The rewritten JSON body, or None where the kind does not apply.
        The caller keeps it per URL: a search page of 1000 hits takes
        Python 0.5 s to rewrite, and a client asks for it again."""
        k = rule.kind
        doc = as_json(body)
        if doc is None:
            return None
        if k == "badjson":
            mid = len(body) // 2
            return body[:mid] + b'",}]{:' + body[mid:]
        if k == "string":
            new = map_scalars(doc, lambda v: str(v).lower() if isinstance(v, bool)
                              else str(v) if isinstance(v, (int, float)) else v)
        elif k == "null":
            new = map_scalars(doc, lambda v: None)
        elif k == "nested":
            new = map_scalars(doc, lambda v: [[v]])
        elif k == "huge":
            return self._huge(rule, doc)
        elif k == "names":
            new = copy.deepcopy(doc)
            if not hostile_names(new, rule.every, rule.hostile):
                return None
        elif k in ("zarr_huge", "zarr_negative", "zarr_codec"):
            new = zarr_absurd(doc, k)
            if new is None:
                return None
        else:
            raise AssertionError(k)
        if new == doc:
            return None
        return dumps(new)

    def _huge(self, rule, doc):
        """doc with items padding entries after its longest list's last.
        The padding is made once per entry template (every page of one
        kind shares it) and rule; concurrent asks wait for the first."""
        marked = mark_longest(doc)
        if marked is None:
            return None
        text, parts = marked
        with self.lock:
            slot = self.memo.get((rule.id, parts))
            if slot is None:
                if len(self.memo) >= 8:
                    self.memo.clear()
                slot = self.memo[(rule.id, parts)] = [threading.Lock(), None]
        with slot[0]:
            if slot[1] is None:
                slot[1] = padding(parts, rule.items)
            pad = slot[1]
        return text.replace(b", " + dumps(PAD_MARK), pad, 1)

    def _deliver(self, rule, h, method, resp):
        k = rule.kind
        head = method == "HEAD"
        body = resp.body
        extra = [hd for hd in resp.headers if hd[0].lower() != "content-length"]
        if k == "cut":
            body = body[:len(body) // 2]
        if k == "reset_body":
            send(h, resp.status, resp.ctype, extra, body[:len(body) // 2], head,
                 clen=len(body), then="reset")
            return resp.status, 0 if head else len(body) // 2, k
        if k == "short":
            send(h, resp.status, resp.ctype, extra, body, head,
                 clen=2 * len(body) + 1, then="close")
            return resp.status, 0 if head else len(body), k
        if k == "trickle":
            sent = send(h, resp.status, resp.ctype, extra, body, head,
                        trickle=(rule.rate, rule.secs))
            return resp.status, sent, k
        send(h, resp.status, resp.ctype, extra, body, head)
        return resp.status, 0 if head else len(body), k

    def _chunk_half(self, path, body):
        """A Zarr v2 chunk decoded, cut to half its bytes and encoded again
        with the array's own compressor; None if no .zarray is found."""
        key = urllib.parse.unquote(path.lstrip("/"))
        segs = key.split("/")
        for n in range(len(segs) - 1, 0, -1):
            meta = self.lookup("/".join(segs[:n]) + "/.zarray")
            if meta is None:
                continue
            zarray = as_json(meta)
            if not isinstance(zarray, dict):
                return None
            import numcodecs
            comp = zarray.get("compressor")
            codec = numcodecs.get_codec(comp) if comp else None
            raw = bytes(codec.decode(body)) if codec else body
            half = raw[:len(raw) // 2]
            return bytes(codec.encode(half)) if codec else half
        return None


# ---------------------------------------------------------------- JSON rewriting

def as_json(body):
    s = body.lstrip()[:1]
    if s not in (b"{", b"["):
        return None
    try:
        return json.loads(body.decode("utf-8"))
    except ValueError:
        return None


def dumps(doc):
    return json.dumps(doc).encode("ascii")


def _like(resp, body):
    return Resp(resp.status, body, resp.ctype, resp.headers)


def map_scalars(doc, fn):
    """doc with every scalar leaf (not None) replaced by fn(leaf); keys kept."""
    if isinstance(doc, dict):
        return {k: map_scalars(v, fn) for k, v in doc.items()}
    if isinstance(doc, list):
        return [map_scalars(v, fn) for v in doc]
    if doc is None:
        return None
    return fn(doc)


def _lists(doc, out):
    if isinstance(doc, dict):
        for v in doc.values():
            _lists(v, out)
    elif isinstance(doc, list):
        out.append(doc)
        for v in doc:
            _lists(v, out)
    return out


PAD_MARK = "\x00fake-idr-pad\x00"


def mark_longest(doc):
    """(JSON text of doc with a mark after the last entry of its longest
    list, the parts of one padding entry): a small copy of the first entry
    (its PAD_KEYS), split where its ids and names take a number. None if
    doc has no non-empty list."""
    doc = copy.deepcopy(doc)
    lists = [x for x in _lists(doc, []) if x]
    if not lists:
        return None
    target = max(lists, key=len)
    first = target[0]
    target.append(PAD_MARK)
    if not isinstance(first, dict):
        return dumps(doc), (dumps(first),)
    item = {k: v for k, v in first.items() if k in PAD_KEYS}
    for idk in ("@id", "id"):
        if isinstance(item.get(idk), int):
            item[idk] = 987654321
    for nk in ("Name", "name", "Value"):
        if isinstance(item.get(nk), str):
            item[nk] = "pad-987654321"
    return dumps(doc), tuple(dumps(item).split(b"987654321"))


def padding(parts, n):
    """", e1, e2, ..." of n entries numbered 900000000 and up, each its
    parts joined by its number: about 100 bytes each, built as text
    (200 000 in ~0.2 s on an idle core)."""
    nums = map(str.encode, map(str, range(900000000, 900000000 + n)))
    return b", " + b", ".join([i.join(parts) for i in nums])


def hostile_names(doc, every, names=HOSTILE):
    """Rewrite in place the Name/name of every every-th item of each list
    (dicts with an id), and the Value of search-engine values, with names
    in turn; True if any name changed."""
    changed = False
    for lst in _lists(doc, []):
        n = 0
        for item in lst:
            if not isinstance(item, dict):
                continue
            keys = []
            if "@id" in item or "id" in item:
                keys = [k for k in ("Name", "name") if isinstance(item.get(k), str)]
            elif "Key" in item and isinstance(item.get("Value"), str):
                keys = ["Value"]
            if not keys:
                continue
            if n % every == 0:
                for k in keys:
                    item[k] = names[(n // every) % len(names)]
                changed = True
            n += 1
    return changed


def zarr_absurd(doc, kind):
    """.zarray (v2) or an array's zarr.json (v3) made absurd; None for any
    other JSON."""
    if not isinstance(doc, dict):
        return None
    v2 = doc.get("zarr_format") == 2 and "shape" in doc and "chunks" in doc
    v3 = doc.get("zarr_format") == 3 and doc.get("node_type") == "array"
    if not (v2 or v3):
        return None
    doc = copy.deepcopy(doc)
    if v3:
        conf = doc.setdefault("chunk_grid", {}).setdefault("configuration", {})
        chunks = conf.get("chunk_shape", [])
    else:
        chunks = doc["chunks"]
    shape = doc["shape"]
    if kind == "zarr_huge":
        shape[:] = [10 ** 12] * len(shape)
        chunks[:] = [10 ** 12] * len(chunks)
    elif kind == "zarr_negative":
        shape[:] = [-max(int(s), 1) for s in shape]
        chunks[:] = [-max(int(c), 1) for c in chunks]
    elif v3:
        codecs = doc.get("codecs") or [{}]
        codecs[-1] = {"name": UNKNOWN_CODEC, "configuration": {"level": 1}}
        doc["codecs"] = codecs
    else:
        doc["compressor"] = {"id": UNKNOWN_CODEC, "level": 1}
    return doc


# ---------------------------------------------------------------- sockets

def send(h, status, ctype, headers, body, head, clen=None, then="keep",
         trickle=None):
    """Write one response on handler h. clen: the Content-Length to claim
    (default: the body's); then: "keep" the connection, "close" it (FIN)
    or "reset" it (RST); trickle=(bytes per second, bound in seconds): the
    body slowly, then close. Returns the body bytes written."""
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body) if clen is None else clen))
    h.send_header("Access-Control-Allow-Origin", "*")
    for k, v in headers:
        h.send_header(k, v)
    h._headers_buffer.append(b"\r\n")
    out = b"" if head else body
    if trickle is None:
        h._headers_buffer.append(out)
    sent = 0
    try:
        h.flush_headers()
        h.wfile.flush()
        if trickle is None:
            sent = len(out)
        else:
            rate, bound = trickle
            end = time.monotonic() + bound
            for i in range(len(out)):
                if time.monotonic() > end:
                    break
                h.connection.sendall(out[i:i + 1])
                sent += 1
                time.sleep(1.0 / rate)
            then = "close" if sent < len(out) or then == "keep" else then
    except OSError:
        h.close_connection = True
        return sent
    if then == "reset":
        reset(h)
    elif then == "close":
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    return sent


def reset(h):
    """Close the connection with an RST (SO_LINGER 0) instead of a FIN."""
    h.close_connection = True
    try:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
        h.rfile.close()     # the makefile's reference keeps the fd open
        h.connection.close()
    except OSError:
        pass


def wait_for_close(h, bound):
    """Send nothing until the client closes the connection or bound
    seconds pass, then close it."""
    h.close_connection = True
    end = time.monotonic() + bound
    sock = h.connection
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        try:
            r, _, _ = select.select([sock], [], [], min(left, 1.0))
            if r and not sock.recv(4096):
                break
        except (OSError, ValueError):
            break
