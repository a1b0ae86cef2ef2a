#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""One user operation on a mount, for tests/fault_matrix.py: prints one JSON
line {"ok": bool, "value": ..., "secs": s} or {"ok": false, "errno": "EIO"}
or {"ok": false, "bad": "..."} (data a reader cannot use). Kept small: the
matrix runs it hundreds of times, in a child so a hung call can be killed.

usage: fault_op.py ls|stat|head|cat|plane PATH
"""

import errno
import hashlib
import io
import json
import os
import stat as statmod
import sys
import time
import unicodedata

PLANE_PAGE = 3      # t=0, z=1, c=1 of a C=2 Z=3 ImageJ hyperstack


class Recorder(io.FileIO):
    """A file whose first read error is kept: a reader that turns an EIO
    into its own exception still failed on an EIO, not on bad data."""

    error = None

    def readinto(self, b):
        try:
            return super().readinto(b)
        except OSError as e:
            self.error = self.error or e
            raise

    def read(self, n=-1):
        try:
            return super().read(n)
        except OSError as e:
            self.error = self.error or e
            raise


def safe_name(raw):
    """Why a listed name (bytes) is unsafe, or None."""
    if not raw or b"/" in raw or len(raw) > 255 or raw in (b".", b".."):
        return "empty, '/', '.', '..' or over 255 bytes"
    s = raw.decode("utf-8", "replace")
    if any(unicodedata.category(c) == "Cc" for c in s):
        return "a control character"
    return None


def shown(raw):
    return raw.decode("utf-8", "backslashreplace").encode("unicode_escape").decode("ascii")


def run_op(kind, path):
    """The operation, as a dict: ok, value (comparable), secs, errno or
    bad (an answer that is not a file a reader can use), unsafe names."""
    t0 = time.monotonic()
    res = {"ok": True}
    try:
        if kind == "ls":
            names = sorted(os.listdir(os.fsencode(path)))
            res["value"] = [shown(n) for n in names]
            res["unsafe"] = ["%s (%s)" % (shown(n), safe_name(n)) for n in names
                             if safe_name(n)]
        elif kind == "stat":
            s = os.stat(path)
            res["value"] = [s.st_size, statmod.S_IFMT(s.st_mode), s.st_ino]
        elif kind in ("head", "cat"):
            h = hashlib.sha256()
            n = 0
            with open(path, "rb") as f:
                while kind == "cat" or n < 65536:
                    b = f.read(65536 if kind == "cat" else 65536 - n)
                    if not b:
                        break
                    h.update(b)
                    n += len(b)
            res["value"] = [n, h.hexdigest()]
        elif kind == "plane":
            import tifffile
            t0 = time.monotonic()
            with Recorder(path) as f:
                try:
                    with tifffile.TiffFile(f) as tf:
                        a = tf.pages[PLANE_PAGE].asarray()
                except Exception:
                    if f.error is not None:     # tifffile may hide an EIO
                        raise f.error
                    raise
            res["value"] = [list(a.shape), str(a.dtype),
                            hashlib.sha256(a.tobytes()).hexdigest()]
        else:
            raise ValueError(kind)
    except OSError as e:
        res = {"ok": False, "errno": errno.errorcode.get(e.errno, str(e.errno))}
    except Exception as e:          # a reader that cannot parse what it got
        res = {"ok": False, "bad": "%s: %s" % (type(e).__name__, str(e)[:120])}
    res["secs"] = round(time.monotonic() - t0, 2)
    return res



if __name__ == "__main__":
    print(json.dumps(run_op(sys.argv[1], sys.argv[2])))
