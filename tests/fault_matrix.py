#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The fault matrix: every fault of tests/fake-idr/faults.py (and the server
gone) against the operations users do on an idrfs mount.

usage: fault_matrix.py --idrfs PATH --work DIR [--timeout S] [--lanes N]
                       [--only ROW,...]

For each fault (a row) every operation (a column) gets its own mount on a
fresh cache directory. A cell first walks, with the server healthy, to the
directory above what its operation needs (so the fault meets the
operation's own requests, not a parent's), then the fault is switched on
and the operation runs; the cells of a row run in parallel, and --lanes
rows run at once, each lane with a fake server of its own (faults are
per server). A cell is right ("ok" or "F") when:
  - during the fault the operation returns within timeout + 2 s, with the
    baseline's answer (taken first, from a healthy mount) or with EIO or
    ETIMEDOUT: never ENOENT, never another answer (the root may lack its
    by-* menus then, and a chunk's 404 reads as its fill value: F);
  - the daemon is alive and still serves README.txt;
  - once the fault is off, the same operation on the same mount gives the
    baseline's answer within timeout s (at the second try at the latest;
    by-gene, many requests, at the fourth),
    and again after a remount on the same cache directory (nothing wrong
    was kept);
  - every name listed is safe: no '/', no control character, <= 255 bytes.
Hostile names are valid answers: there a listing must succeed with safe
names, and after the fault the cached renamed copy is as right as the
baseline. TAP lines go to stdout, with the matrix and the log lines of the
broken cells (X) as comments; exit status 1 if any cell is broken.
"""

import argparse
import hashlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake-idr", "fake_idr.py")
RUNNER = os.path.join(HERE, "fault_op.py")

P = "projects/idr0802-synth-pixels_experimentB"
D = P + "/pixel types"
PLANE_IMAGE, PLANE_TZC = 2005, (0, 1, 1)   # type-int32, fault_op.py's page 3

# column: (operation kind, path in the mount, the walk done before the fault)
OPS = [
    ("ls-root", "ls", "", []),
    ("ls-project", "ls", P, [("ls", "projects")]),
    ("ls-dataset", "ls", D, [("ls", P)]),
    ("stat", "stat", D + "/type-uint16.tif", [("ls", P)]),
    ("tif-64k", "head", D + "/type-uint16.tif", [("ls", D)]),
    ("plane", "plane", D + "/type-int32.tif", [("ls", D)]),
    ("images.tsv", "cat", D + "/images.tsv", [("ls", D)]),
    # (listing the project builds its study.txt at the lookup: walk to
    # its parent only, so that the build meets the fault)
    ("study.txt", "cat", P + "/study.txt", [("ls", "projects")]),
    ("ls-by-gene", "ls", "by-gene", [("ls", "")]),
    # the same from a fresh mount: its lookup meets the fault in the
    # search-backend detection (a failure there is EIO, not "no by-gene")
    ("by-gene-cold", "ls", "by-gene", []),
]
OP_NAMES = [o[0] for o in OPS]
# cells that meet the fault last, so that it ends right after their first
# failure: the root's by-* menus must come back at the next ls, and a
# daemon that waits some seconds before it asks again must not pass
# because the other cells took long
LATE = ["ls-root"]
READS = ["tif-64k", "plane"]
# listings made of many requests (by-gene: the terms, then a page of 1000
# images per term to spell each): on a loaded machine one deadline may not
# hold them all, and the daemon keeps what it got (spellings in the
# metadata cache) and goes on from there at the next try. They must come
# right within MANY_TRIES tries; a daemon that starts over each time, or
# remembers the failure, does not.
MANY = ["ls-by-gene", "by-gene-cold"]
MANY_TRIES = 4
# generated files: a build past the deadline goes on in the background and
# the operation says EAGAIN (issue 10), a failure like EIO
GENERATED = ["images.tsv", "study.txt"]

ALL = "."
ZMETA = r"/(\.zarray|\.zattrs|\.zgroup|zarr\.json)$"
CHUNK = r"^/idr/zarr/.*[0-9]$"
IMGDATA = r"^/webgateway/imgData/"
PAGED = (r"^/api/v0/m/(?:[a-z]+/\d+/)?(?:projects|datasets|images|screens|plates|wells)/$"
         r"|^/searchengine/api/v1/resources/[^/]+/search/$")
LISTINGS = ["ls-project", "ls-dataset", "stat", "ls-by-gene", "by-gene-cold"]
# where the listed names come from (the search pages' image names only
# name the symlinks below a term)
NAMED = r"^/api/|/searchvaluesusingkey/$"
# one page of each kind, asked once the fault is on: the fake server then
# has its padding ready and answers the mounts at once (a 3 s deadline on
# a busy machine leaves no time for Python building 20 MB)
HUGE_PRIME = ["/api/v0/m/projects/102/datasets/", "/api/v0/m/datasets/1003/images/",
              "/searchengine/api/v1/resources/image/search/?key=Gene%20Symbol&value=act1"]

# row: (name, fault kind or "gone", query of /__fake/fault, columns)
ROWS = [
    # the instrument itself: a rule that matches nothing, every cell "ok"
    ("no fault", "503", {"pattern": "^/no/such/path$"}, OP_NAMES),
    ("500", "500", {"pattern": ALL}, OP_NAMES),
    ("502", "502", {"pattern": ALL}, OP_NAMES),
    ("503", "503", {"pattern": ALL}, OP_NAMES),
    ("429 Retry-After", "429", {"pattern": ALL, "retry_after": "1"}, OP_NAMES),
    ("reset", "reset", {"pattern": ALL}, OP_NAMES),
    ("reset mid-body", "reset_body", {"pattern": ALL}, OP_NAMES),
    ("stall", "stall", {"pattern": ALL, "secs": "20"}, OP_NAMES),
    ("trickle 1 B/s", "trickle", {"pattern": ALL, "secs": "20"}, OP_NAMES),
    ("cut, right C-L", "cut", {"pattern": ALL}, OP_NAMES),
    ("C-L > body", "short", {"pattern": ALL}, OP_NAMES),
    ("server gone", "gone", None, OP_NAMES),
    ("empty 200", "empty", {"pattern": ALL}, OP_NAMES),
    ("HTML 200", "html", {"pattern": ALL}, OP_NAMES),
    ("bad JSON", "badjson", {"pattern": ALL}, OP_NAMES),
    ("int as string", "string", {"pattern": ALL}, OP_NAMES),
    ("nulls", "null", {"pattern": ALL}, OP_NAMES),
    ("nested arrays", "nested", {"pattern": ALL}, OP_NAMES),
    ("200000 items", "huge", {"pattern": PAGED, "_prime": HUGE_PRIME}, LISTINGS),
    ("hostile names", "names", {"pattern": NAMED}, LISTINGS),
    ("hostile, no NUL", "names", {"pattern": NAMED, "nul": "0"}, LISTINGS),
    ("redirect loop", "redirect", {"pattern": ALL}, OP_NAMES),
    ("zarr 1e12 sizes", "zarr_huge", {"pattern": ZMETA}, READS),
    ("zarr negative", "zarr_negative", {"pattern": ZMETA}, READS),
    ("zarr codec", "zarr_codec", {"pattern": ZMETA}, READS),
    ("zarr meta 503", "503", {"pattern": ZMETA}, READS),
    ("zarr meta HTML", "html", {"pattern": ZMETA}, READS),
    ("zarr meta empty", "empty", {"pattern": ZMETA}, READS),
    ("zarr meta cut", "cut", {"pattern": ZMETA}, READS),
    # the channel colours of the file's header: a header built without
    # them must not be what the mount keeps
    ("imgData 503", "503", {"pattern": IMGDATA}, READS),
    ("imgData bad JSON", "badjson", {"pattern": IMGDATA}, READS),
    ("chunk garbage", "garbage", {"pattern": CHUNK}, READS),
    ("chunk half size", "chunk_size", {"pattern": CHUNK}, READS),
    ("chunk 404", "404", {"pattern": CHUNK}, READS),
    ("chunk 503", "503", {"pattern": CHUNK}, READS),
    ("chunk reset", "reset_body", {"pattern": CHUNK}, READS),
]

MARGIN = 2.0          # an operation may outlive the timeout by this much
# ...and by-gene over 13 MB pages of 200 000 hits by this much: eight such
# pages are in flight when the deadline passes, and each worker stops its
# parse and frees what it had parsed before the readdir answers. Under
# ASan, with the rest of the suite beside the matrix, that took the cell
# to 10.0 s once (deadline 8 s); alone it stays within the deadline.
MARGIN_HUGE_MANY = 4.0


# ---------------------------------------------------------------- processes

class Procs:
    """Everything started, to be stopped by PID whatever happens."""

    def __init__(self):
        self.lock = threading.Lock()
        self.procs = set()
        self.mounts = set()

    def add(self, p):
        with self.lock:
            self.procs.add(p)

    def drop(self, p):
        with self.lock:
            self.procs.discard(p)

    def cleanup(self):
        for m in list(self.mounts):
            subprocess.call(["fusermount3", "-uz", m], stderr=subprocess.DEVNULL)
        for p in list(self.procs):
            if p.poll() is None:
                p.kill()
                p.wait(10)


PROCS = Procs()


def reap(p):
    """Wait for a process that was asked to end; kill it after 15 s."""
    try:
        p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(5)
    PROCS.drop(p)


def op(mnt, kind, rel, hard):
    """Run one operation in a child (a hung FUSE call can be killed)."""
    path = os.path.join(mnt, rel) if rel else mnt
    t0 = time.monotonic()
    p = subprocess.Popen([sys.executable, RUNNER, kind, path],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    PROCS.add(p)
    try:
        out, err = p.communicate(timeout=hard)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return {"ok": False, "hang": True, "secs": round(time.monotonic() - t0, 2)}
    finally:
        PROCS.drop(p)
    try:
        return json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": False, "bad": "runner: %s" % err.decode(errors="replace")[-200:],
                "secs": round(time.monotonic() - t0, 2)}


class Fake:
    def __init__(self, d):
        os.makedirs(d, exist_ok=True)
        self.data = os.path.join(d, "fakedata")
        self.err = open(os.path.join(d, "fake.err"), "ab")
        self.port = 0
        self.proc = None
        self.url = None

    def start(self):
        p = subprocess.Popen([sys.executable, FAKE, "--port", str(self.port),
                              "--data-dir", self.data],
                             stdout=subprocess.PIPE, stderr=self.err)
        PROCS.add(p)
        r, _, _ = select.select([p.stdout], [], [], 30)
        line = p.stdout.readline().decode().strip() if r else ""
        if not line.startswith("http://127.0.0.1:"):
            raise RuntimeError("the fake server did not start")
        self.proc, self.url = p, line
        self.port = int(line.rsplit(":", 1)[1].strip("/"))

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            reap(self.proc)
            self.proc = None

    def get(self, path):
        with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=10) as r:
            return json.load(r)

    def fetch(self, path):
        with urllib.request.urlopen(self.url + path.lstrip("/"), timeout=60) as r:
            return r.read()


class Mount:
    def __init__(self, args, url, d, timeout=None):
        self.args = args
        self.timeout = timeout or args.timeout
        self.url = url
        self.dir = d
        self.mnt = os.path.join(d, "mnt")
        self.cache = os.path.join(d, "cache")
        self.log = os.path.join(d, "idrfs.log")
        self.proc = None
        os.makedirs(self.mnt, exist_ok=True)

    def mount(self):
        fifo = os.path.join(self.dir, "notify")
        if not os.path.exists(fifo):
            os.mkfifo(fifo)
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
        opts = "notify_pipe=%s,log_file=%s,cache_dir=%s,timeout=%d,s3_scheme=http" % (
            fifo, self.log, self.cache, self.timeout)
        with open(os.path.join(self.dir, "idrfs.err"), "ab") as err:
            self.proc = subprocess.Popen([self.args.idrfs, "-f", "-o", opts, self.url, self.mnt],
                                         stderr=err, stdout=subprocess.DEVNULL)
        PROCS.add(self.proc)
        PROCS.mounts.add(self.mnt)
        try:
            r, _, _ = select.select([fd], [], [], 20)
            ok = bool(r) and os.read(fd, 16).startswith(b"ok")
        finally:
            os.close(fd)
        return ok

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def umount(self):
        for _ in range(20):
            if subprocess.call(["fusermount3", "-u", self.mnt], stderr=subprocess.DEVNULL) == 0:
                break
            if not os.path.ismount(self.mnt):
                break
            time.sleep(0.3)
        else:
            subprocess.call(["fusermount3", "-uz", self.mnt], stderr=subprocess.DEVNULL)
        PROCS.mounts.discard(self.mnt)
        if self.proc is not None:
            reap(self.proc)
            self.proc = None

    def requests(self):
        try:
            with open(os.path.join(self.mnt, ".idrfs", "stats.json")) as f:
                return json.load(f)["requests"]
        except (OSError, ValueError, KeyError):
            return None

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def log_lines(self, start, end=None):
        """The notable lines the daemon logged between two offsets."""
        try:
            with open(self.log, "rb") as f:
                f.seek(start)
                text = f.read((end - start) if end is not None else -1)
        except OSError:
            return []
        out = []
        for line in text.decode("utf-8", "replace").splitlines():
            if " notice: " in line or " info: " in line or " debug: " in line:
                continue
            line = line.split(" idrfs: ", 1)[-1]
            if line not in out:
                out.append(line)
        return out


def each(cells, fn):
    """fn(cell) for every cell at once; their results in order (False for
    a cell where the test itself failed, which marks the cell broken)."""
    out = [False] * len(cells)

    def run(i, c):
        try:
            out[i] = fn(c)
        except Exception as e:      # a broken cell, not a broken matrix
            c.fail("the test failed: %r" % e)
    ths = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(cells)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return out


# ---------------------------------------------------------------- judging

def describe(r):
    if r.get("hang"):
        return "hung (killed after %.0f s)" % r["secs"]
    if r.get("bad"):
        return "unusable data (%s)" % r["bad"]
    if not r["ok"]:
        return r["errno"]
    return "an answer"


def degraded_root(base, value):
    """The root without (some of) its by-* menus: the search backend could
    not be asked, the rest is right."""
    return (set(value) <= set(base) and
            all(n.startswith("by-") for n in set(base) - set(value)))


def names_ok(base, value):
    """A listing under the hostile-names fault: every entry of the baseline
    that was not renamed is still there, and no more entries than before."""
    return len(value) <= len(base) and len(set(value) & set(base)) * 2 >= len(base) - 1


def judge_fault(name, kind, base, r, timeout):
    """(symbol, reason) of the operation during the fault."""
    margin = MARGIN_HUGE_MANY if kind == "huge" and name in MANY else MARGIN
    if r.get("hang") or r["secs"] > timeout + margin:
        return "X", "took %.1f s during the fault (deadline %d s + %.0f s)" % (
            r["secs"], timeout, margin)
    if r.get("unsafe"):
        return "X", "unsafe names: %s" % ", ".join(r["unsafe"][:3])
    if r.get("bad"):
        return "X", "unusable data during the fault (%s)" % r["bad"]
    if not r["ok"]:
        if kind == "names":
            return "X", ("%s for an answer with hostile names (a bad name is made safe "
                         "or dropped, the rest listed)" % r["errno"])
        if r["errno"] in ("EIO", "ETIMEDOUT"):
            return "F", None
        if r["errno"] == "EAGAIN" and name in GENERATED:
            return "F", None  # built in the background: try again
        return "X", "%s during the fault (EIO or ETIMEDOUT is the promise)" % r["errno"]
    if r["value"] == base["value"]:
        return "ok", None
    if name == "ls-root" and degraded_root(base["value"], r["value"]):
        return "F", None
    if kind == "names":
        if OPS[OP_NAMES.index(name)][1] != "ls" or names_ok(base["value"], r["value"]):
            return "ok", None
        return "X", "hostile names: %d entries listed of %d, renamed ones lost: %s" % (
            len(r["value"]), len(base["value"]), ", ".join(r["value"][:4]))
    if kind == "404":
        return "F", None     # a missing chunk is the fill value: an answer
    return "X", "a wrong answer during the fault (%s)" % short_diff(base["value"], r["value"])


def short_diff(a, b):
    if isinstance(a, list) and isinstance(b, list) and all(isinstance(x, str) for x in a + b):
        gone = [x for x in a if x not in b][:3]
        new = [x for x in b if x not in a][:3]
        return "%d entries instead of %d; missing %s; extra %s" % (len(b), len(a), gone, new)
    return "%s instead of %s" % (json.dumps(b)[:80], json.dumps(a)[:80])


def right_after(name, kind, base, during, r):
    """After the fault: the baseline's answer; after hostile names also
    the copy kept of them (what was listed, or a listing like it)."""
    if not r["ok"] or r.get("unsafe"):
        return False
    if r["value"] == base["value"]:
        return True
    if kind != "names":
        return False
    if during["ok"] and r["value"] == during["value"]:
        return True
    return OPS[OP_NAMES.index(name)][1] == "ls" and names_ok(base["value"], r["value"])


# ---------------------------------------------------------------- the matrix

class Cell:
    def __init__(self, row, col, work):
        self.row = row
        self.col = col
        self.name, self.kind, self.path, self.walk = OPS[OP_NAMES.index(col)]
        self.dir = os.path.join(work, "%02d" % row, col)
        self.m = None
        self.symbol = "X"
        self.reasons = []
        self.logs = []
        self.during = {"ok": False}
        self.requests = None

    def fail(self, reason, lines=()):
        self.symbol = "X"
        self.reasons.append(reason)
        for line in lines:
            if line not in self.logs:
                self.logs.append(line)


def run_row(args, fake, base, ri, row):
    name, kind, query, cols = row
    T = args.timeout
    hard = T + MARGIN + 12
    cells = [Cell(ri, c, args.work) for c in cols]
    for c in cells:
        os.makedirs(c.dir, exist_ok=True)
        c.m = Mount(args, fake.url, c.dir)

    # a fresh mount and cache each, walked down to the operation, healthy
    def prepare(c):
        if not c.m.mount():
            c.fail("mount failed")
            return False
        for kind_, rel in c.walk:
            r = op(c.m.mnt, kind_, rel, hard)
            if not r["ok"]:
                c.fail("the healthy walk to %r failed: %s" % (rel, describe(r)))
                return False
        c.requests = c.m.requests()
        return True
    tp = [time.monotonic()]
    ready = each(cells, prepare)
    tp.append(time.monotonic())
    live = [c for c, ok in zip(cells, ready) if ok is True]

    hits = None
    if kind == "gone":
        fake.stop()
    else:
        q = "&".join("%s=%s" % (k, urllib.request.quote(v, safe=""))
                     for k, v in dict(query, kind=kind).items() if k[0] != "_")
        fake.get("/__fake/fault?" + q)
        for path in query.get("_prime", []):
            fake.fetch(path)
    marks = {c.col: c.m.log_size() for c in live}

    late = [c for c in live if c.col in LATE]
    pending = [len(live), len(live) - len(late)]
    pending_lock = threading.Lock()
    first_done = threading.Event()
    others_done = threading.Event()
    if not pending[1]:
        others_done.set()

    def during(c):
        if c in late:
            others_done.wait(3 * T + MARGIN)
        r = op(c.m.mnt, c.kind, c.path, hard)
        c.during = r
        sym, why = judge_fault(c.col, kind, base[c.col], r, T)
        c.symbol = sym
        if why:
            c.fail(why, c.m.log_lines(marks[c.col]))
        with pending_lock:
            pending[0] -= 1
            pending[1] -= c not in late
            if pending[1] <= 0:
                others_done.set()
            if pending[0] <= 0:
                first_done.set()
        # a user who met a failure tries again while the others wait: the
        # failure the fault ends on is as fresh as can be (a daemon that
        # remembers it, rather than asking again, is then caught)
        while not r["ok"] and c.symbol != "X" and not first_done.wait(0.5):
            r = op(c.m.mnt, c.kind, c.path, hard)
            sym, why = judge_fault(c.col, kind, base[c.col], r, T)
            if sym == "X":
                c.fail("on a second try: " + why, c.m.log_lines(marks[c.col]))
        # the daemon is alive and serves what needs no server
        r = op(c.m.mnt, "cat", "README.txt", T + MARGIN + 3)
        if not c.m.alive():
            c.fail("the daemon died (exit %s)" % c.m.proc.poll(), c.m.log_lines(marks[c.col]))
        elif not r["ok"] or r["secs"] > MARGIN:
            c.fail("README.txt unreadable after the fault: %s" % describe(r))
        n = c.m.requests()
        if c.requests is not None and n is not None and n == c.requests and \
                c.symbol == "ok":
            c.fail("the fault never reached the daemon (no request during it)")
    each(live, during)
    tp.append(time.monotonic())

    if kind == "gone":
        fake.start()
    else:
        hits = sum(fake.get("/__fake/fault?clear=1")["hits"].values())

    def after(c, when, grace):
        """Right again within grace seconds, or at the second try (one
        healthy operation may miss its deadline on a busy machine)."""
        start = c.m.log_size()
        end = time.monotonic() + grace
        tries = 0

        def right(r):
            # a chunk's 404 is Zarr's "fill value": an answer, which the
            # mount that saw it may keep (the kernel's page cache does),
            # but which is never stored: a remount asks again
            return right_after(c.col, kind, base[c.col], c.during, r) or (
                kind == "404" and grace > 0 and c.during["ok"] and
                r["ok"] and r["value"] == c.during["value"])
        least = MANY_TRIES if c.col in MANY else 2
        while True:
            r = op(c.m.mnt, c.kind, c.path, hard)
            tries += 1
            if right(r) or (tries >= least and time.monotonic() > end):
                break
            time.sleep(0.75)
        if right(r):
            return
        what = describe(r) if not r["ok"] else (
            "unsafe names %s" % r["unsafe"][:3] if r.get("unsafe")
            else "a wrong answer (%s)" % short_diff(base[c.col]["value"], r["value"]))
        c.fail("%s %s" % (what, when), c.m.log_lines(start) or c.m.log_lines(marks[c.col]))

    each(live, lambda c: after(c, "after the fault was cleared", T))
    tp.append(time.monotonic())
    each(live, lambda c: c.m.umount())
    tp.append(time.monotonic())

    def remount(c):
        if not c.m.mount():
            c.fail("remount on the same cache failed")
            return
        after(c, "after a remount on the same cache", 0)
        c.m.umount()
    each(live, remount)
    tp.append(time.monotonic())
    if os.environ.get("FAULTS_PHASES"):
        print("# phases %s: %s" % (name, " ".join("%.1f" % (b - a) for a, b in zip(tp, tp[1:]))))
    for c in cells:
        if c.m.proc is not None:
            c.m.umount()
    return cells, hits


def baseline(args, fake, d):
    """Every operation on a healthy fresh mount, checked against the
    archive where that is cheap."""
    sys.path.insert(0, os.path.join(HERE, "fake-idr"))
    import archive
    import numpy as np
    # a long deadline: the truth, not the timing (the fake server's first
    # search pages are slow, and it keeps them for the cells)
    m = Mount(args, fake.url, d, timeout=60)
    if not m.mount():
        raise RuntimeError("baseline mount failed")
    try:
        base = {}
        for name, kind, path, _ in OPS:
            r = op(m.mnt, kind, path, 90)
            if not r["ok"] or r.get("unsafe"):
                raise RuntimeError("baseline %s failed: %s %s" % (name, describe(r), r))
            base[name] = r
    finally:
        m.umount()
    a = archive.build(1)
    t, z, c = PLANE_TZC
    truth = archive.plane(a, PLANE_IMAGE, 0, t, c, z)
    want = [list(truth.shape), str(truth.dtype),
            hashlib.sha256(np.ascontiguousarray(truth).tobytes()).hexdigest()]
    if base["plane"]["value"] != want:
        raise RuntimeError("baseline plane is not the archive's: %s" % base["plane"])
    tifs = sorted(i.name + ".tif" for i in a.images.values() if i.dataset_id == 1003)
    if [n for n in base["ls-dataset"]["value"]
            if n.endswith(".tif") and not n.endswith(".ome.tif")] != tifs:
        raise RuntimeError("baseline dataset listing: %s" % base["ls-dataset"]["value"])
    if "by-gene" not in base["ls-root"]["value"] or not base["ls-by-gene"]["value"] or \
            base["by-gene-cold"]["value"] != base["ls-by-gene"]["value"]:
        raise RuntimeError("baseline root has no by-gene: %s" % base["ls-root"]["value"])
    return base


def lane(args, k, rows, queue, results, out):
    """One fake server and the rows it takes from the queue in turn."""
    fake = Fake(os.path.join(args.work, "lane%d" % k))
    try:
        fake.start()
        base = baseline(args, fake, os.path.join(args.work, "lane%d" % k, "baseline"))
        out.tap(True, "baseline on server %d: every operation on a healthy mount "
                "(plane = the archive's): %s" % (k + 1, ", ".join(
                    "%s %.1f s" % (n, base[n]["secs"]) for n in OP_NAMES)))
        while True:
            with out.lock:
                if not queue:
                    return
                ri = queue.pop(0)
            r0 = time.monotonic()
            cells, hits = run_row(args, fake, base, ri, rows[ri])
            results[ri] = (cells, hits, time.monotonic() - r0)
            for c in cells:
                out.tap(c.symbol != "X", "%s / %s%s" % (
                    rows[ri][0], c.col, ": " + "; ".join(c.reasons) if c.symbol == "X"
                    else " (%s)" % c.symbol))
    except Exception as e:
        out.tap(False, "server %d: the matrix could not run: %s" % (k + 1, e))
    finally:
        fake.stop()


class Tap:
    def __init__(self):
        self.lock = threading.Lock()
        self.n = 0
        self.bad = 0

    def tap(self, ok, what):
        with self.lock:
            self.n += 1
            self.bad += not ok
            print("%s %d - %s" % ("ok" if ok else "not ok", self.n, what))
            sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--idrfs", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--timeout", type=int, default=3)
    ap.add_argument("--lanes", type=int, default=2,
                    help="rows run at once, each with its own fake server")
    ap.add_argument("--only", default="", help="rows whose name contains one of these, comma-separated")
    args = ap.parse_args()
    args.work = tempfile.mkdtemp(prefix="faults.", dir=args.work)
    rows = [r for r in ROWS if not args.only or any(s in r[0] for s in args.only.split(","))]

    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    t0 = time.monotonic()
    out = Tap()
    results = [None] * len(rows)
    queue = list(range(len(rows)))
    lanes = [threading.Thread(target=lane, args=(args, k, rows, queue, results, out), daemon=True)
             for k in range(max(1, min(args.lanes, len(rows))))]
    try:
        for t in lanes:
            t.start()
        for t in lanes:
            t.join()
    except KeyboardInterrupt:
        out.tap(False, "interrupted")
    finally:
        PROCS.cleanup()
    total = time.monotonic() - t0
    print("# fault matrix, timeout=%d s: ok = the right answer, F = failed (EIO/ETIMEDOUT) "
          "during the fault as allowed," % args.timeout)
    print("# X = broken (explained below), . = not applicable; hits = requests the fault "
          "answered; s = seconds per row")
    w = max([len(r[0]) for r in rows] + [5])
    print("# %-*s %s %6s %5s" % (w, "fault", " ".join("%-12s" % c for c in OP_NAMES), "hits", "s"))
    for row, res in zip(rows, results):
        if res is None:
            print("# %-*s (not run)" % (w, row[0]))
            continue
        cells, hits, secs = res
        by = {c.col: c.symbol for c in cells}
        print("# %-*s %s %6s %5.1f" % (w, row[0], " ".join("%-12s" % by.get(c, ".") for c in OP_NAMES),
                                        "-" if hits is None else hits, secs))
    for row, res in zip(rows, results):
        for c in (res[0] if res else []):
            if c.symbol != "X":
                continue
            print("# X %s / %s: %s" % (row[0], c.col, "; ".join(c.reasons)))
            for line in c.logs[:4]:
                print("#     log: %s" % line[:300])
    print("# the matrix took %.0f s (%d rows on %d servers, %d results, %d broken)" % (
        total, len(rows), len(lanes), out.n, out.bad))
    print("1..%d" % out.n)
    return 1 if out.bad or None in results else 0


if __name__ == "__main__":
    sys.exit(main())
