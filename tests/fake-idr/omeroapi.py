"""OMERO.web JSON for fake-idr: the JSON API (/api/...), webclient JSON
(/webclient/api/...), webgateway imgData, plate grid and original file
paths.  Shapes follow idr-api.md and the omero-web / omero-marshal code it
cites: null fields left out, absolute url: links, Django's json.dumps
defaults (", " separators, \\uXXXX escapes)."""

import json
import time
import traceback

import archive

OME = archive.OME
JSON = "application/json"
HTML = "text/html; charset=utf-8"
MAX_LIMIT = 1000
DEFAULT_LIMIT = 200
PAGE = 500          # omero.web.page_size on IDR (webclient / mapr lists)

DJANGO_404 = (b'<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n'
              b'</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found '
              b'on this server.</p>\n</body>\n</html>\n')


class Resp:
    def __init__(self, status=200, body=b"", ctype=JSON, headers=None):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")
        self.ctype = ctype
        self.headers = list(headers or [])


def dj(obj, status=200, headers=None):
    return Resp(status, json.dumps(obj).encode("ascii"), JSON, headers)


def not_found():
    return Resp(404, DJANGO_404, HTML)


class BadRequest(Exception):
    pass


class NotFound(Exception):
    pass


def _perm(perm="rwr---", annotate=False):
    return {"@type": "TBD#Permissions", "perm": perm, "canAnnotate": annotate,
            "canDelete": False, "canEdit": False, "canLink": False,
            "isWorldWrite": False, "isWorldRead": perm[4] == "r", "isGroupWrite": False,
            "isGroupRead": perm[2] == "r", "isGroupAnnotate": False,
            "isUserWrite": True, "isUserRead": True}


OWNER = {"@id": 2, "@type": OME + "Experimenter", "FirstName": "Public", "LastName": "data",
         "UserName": "public", "MiddleName": "", "Email": "",
         "omero:details": {"@type": "TBD#Details", "permissions": _perm("rwr---")}}
GROUP = {"@id": 3, "@type": OME + "ExperimenterGroup", "Name": "public",
         "Description": "Public data",
         "omero:details": {"@type": "TBD#Details", "permissions": _perm("rwr---")}}


def details(ext=None):
    d = {"@type": "TBD#Details", "owner": OWNER, "group": GROUP,
         "permissions": _perm("rwr---")}
    if ext is not None:
        d["externalInfo"] = ext
    return d


def enum_details():
    return {"@type": "TBD#Details", "permissions": _perm("r-r-r-")}


def length(v, unit="MICROMETER", sym="\u00b5m"):
    return {"@type": "TBD#LengthI", "Unit": unit, "Symbol": sym, "Value": v}


def color_int(hexcol, alpha=255):
    r, g, b = int(hexcol[0:2], 16), int(hexcol[2:4], 16), int(hexcol[4:6], 16)
    v = (r << 24) + (g << 16) + (b << 8) + alpha
    return v - (1 << 32) if v > 2 ** 31 - 1 else v


class Api:
    """State-free helpers bound to an archive and the server's base URL."""

    def __init__(self, arch, base):
        self.a = arch
        self.base = base.rstrip("/") + "/"
        a = arch
        key = lambda iid: (a.images[iid].name.lower(), iid)
        self.images_sorted = sorted(a.images, key=key)
        self.ds_sorted = {d.id: sorted(d.image_ids, key=key) for d in a.datasets.values()}

    def url(self, path):
        return self.base + path

    # ------------------------------------------------------------ encoders

    def ext_info(self, img):
        if img.zarr is None or getattr(self.a, "today", False):
            return None
        host = self.base.split("//", 1)[1].rstrip("/")
        return {"@id": 900000 + (img.id % 100000000), "@type": "TBD#ExternalInfo",
                "EntityId": 3, "EntityType": "com.glencoesoftware.ngff:multiscales",
                "Lsid": "s3://%s/%s?anonymous=true" % (host, img.zarr.url)}

    def pixels_json(self, img, channels=False):
        bits = archive.PTYPES[img.ptype][1]
        p = {"@id": 5000000 + img.id, "@type": OME + "Pixels", "omero:details": details(),
             "SizeX": img.sx, "SizeY": img.sy, "SizeZ": img.sz, "SizeC": img.sc, "SizeT": img.st,
             "SignificantBits": bits, "omero:sha1": "Pending...",
             "DimensionOrder": {"@id": 1, "@type": "TBD#DimensionOrder", "value": "XYZCT",
                                "omero:details": enum_details()},
             "Type": {"@id": archive.PTYPES[img.ptype][3], "@type": "TBD#PixelsType",
                      "value": img.ptype, "omero:details": enum_details()}}
        for k, v in zip(("PhysicalSizeX", "PhysicalSizeY", "PhysicalSizeZ"), img.phys):
            if v is not None:
                p[k] = length(v)
        if channels:
            chs = []
            for c, (name, col, em) in enumerate(img.chans):
                ch = {"@id": 6000000 + img.id * 8 + c, "@type": OME + "Channel",
                      "omero:details": details(), "Color": color_int(col),
                      "omero:LogicalChannelId": 7000000 + img.id * 8 + c,
                      "SamplesPerPixel": 1,
                      "omero:photometricInterpretation": {
                          "@id": 5, "@type": "TBD#PhotometricInterpretation",
                          "value": "Monochrome", "omero:details": enum_details()}}
                if name is not None:
                    ch["Name"] = name
                if em is not None:
                    ch["EmissionWavelength"] = length(em, "NANOMETER", "nm")
                chs.append(ch)
            p["Channels"] = chs
        return p

    def image_json(self, img, pixels=True, channels=False, stub=False):
        # stub: an image inside a plate's well listing, which OMERO loads
        # without Pixels and without details.externalInfo
        ext = None if stub else self.ext_info(img)
        d = {"@id": img.id, "@type": OME + "Image", "Name": img.name, "omero:archived": False,
             "omero:series": img.series, "omero:details": details(ext)}
        if img.acq_ms is not None:
            d["AcquisitionDate"] = img.acq_ms
        if img.desc:
            d["Description"] = img.desc
        if pixels:
            d["Pixels"] = self.pixels_json(img, channels)
        return d

    def container_json(self, kind, obj):
        typ = {"project": "Project", "dataset": "Dataset", "screen": "Screen",
               "plate": "Plate"}[kind]
        d = {"@id": obj.id, "@type": OME + typ, "Name": obj.name, "omero:details": details()}
        if getattr(obj, "desc", None):
            d["Description"] = obj.desc
        if kind == "plate":
            d.update({"Rows": obj.rows, "Columns": obj.columns,
                      "RowNamingConvention": obj.row_conv,
                      "ColumnNamingConvention": obj.col_conv,
                      "FieldIndex": 0})
        return d

    def well_json(self, w, with_pixels=False, index=None):
        a = self.a
        d = {"@id": w.id, "@type": OME + "Well", "Column": w.column, "Row": w.row,
             "omero:details": details()}
        wss = []
        for f, (wsid, iid) in enumerate(w.fields):
            if index is not None and f != index:
                continue
            img = a.images[iid]
            im = self.image_json(img, pixels=with_pixels, stub=not with_pixels)
            im["url:image"] = self.url("api/v0/m/images/%d/" % iid)
            wss.append({"@id": wsid, "@type": OME + "WellSample", "omero:details": details(),
                        "PositionX": length(100.0 * f, "REFERENCEFRAME", "reference frame"),
                        "PositionY": length(0.0, "REFERENCEFRAME", "reference frame"),
                        "Image": im})
        if wss:
            d["WellSamples"] = wss
        return d

    def add_urls(self, kind, d, single):
        oid = d["@id"]
        u = self.url
        if kind == "project":
            if not single:
                d["url:project"] = u("api/v0/m/projects/%d/" % oid)
            d["url:datasets"] = u("api/v0/m/projects/%d/datasets/" % oid)
        elif kind == "dataset":
            if not single:
                d["url:dataset"] = u("api/v0/m/datasets/%d/" % oid)
            d["url:images"] = u("api/v0/m/datasets/%d/images/" % oid)
            d["url:projects"] = u("api/v0/m/datasets/%d/projects/" % oid)
        elif kind == "image":
            if not single:
                d["url:image"] = u("api/v0/m/images/%d/" % oid)
            d["url:datasets"] = u("api/v0/m/images/%d/datasets/" % oid)
            if single:
                d["url:rois"] = u("api/v0/m/images/%d/rois/" % oid)
        elif kind == "screen":
            if not single:
                d["url:screen"] = u("api/v0/m/screens/%d/" % oid)
            d["url:plates"] = u("api/v0/m/screens/%d/plates/" % oid)
        elif kind == "plate":
            if not single:
                d["url:plate"] = u("api/v0/m/plates/%d/" % oid)
            d["url:screens"] = u("api/v0/m/plates/%d/screens/" % oid)
            d["url:wells"] = u("api/v0/m/plates/%d/wells/" % oid)
            d["url:plateacquisitions"] = u("api/v0/m/plates/%d/plateacquisitions/" % oid)
            if single:
                pl = self.a.plates[oid]
                d["omero:wellsampleIndex"] = [0, pl.nfields - 1]
                d["url:wellsampleindex_wells"] = [
                    u("api/v0/m/plates/%d/wellsampleindex/%d/wells/" % (oid, i))
                    for i in range(pl.nfields)]
        elif kind == "well":
            if not single:
                d["url:well"] = u("api/v0/m/wells/%d/" % oid)
            d["url:plates"] = u("api/v0/m/wells/%d/plates/" % oid)
        return d

    def child_count(self, kind, oid):
        a = self.a
        if kind == "project":
            return len(a.projects[oid].dataset_ids)
        if kind == "dataset":
            return len(a.datasets[oid].image_ids)
        if kind == "screen":
            return len(a.screens[oid].plate_ids)
        return None

    # ------------------------------------------------------------ JSON API

    def api(self, path, q):
        """path = part after /api/ ; returns Resp."""
        hdr = [("X-OMERO-ApiVersion", "0.2")]
        try:
            r = self._api(path, q)
        except NotFound as e:
            r = dj({"message": str(e)}, 404)
        except BadRequest as e:
            r = dj({"message": str(e)}, 400)
        except ValueError as e:
            r = dj({"message": str(e), "stacktrace": traceback.format_exc()}, 500)
        if r.ctype == JSON:
            r.headers += hdr
        return r

    def _api(self, path, q):
        if path == "":
            return dj({"data": [{"version": "0", "url:base": self.url("api/v0/")}]})
        if not path.endswith("/"):
            return not_found()
        segs = path.split("/")[:-1]
        if not segs or segs[0] != "v0":
            return not_found()
        segs = segs[1:]
        if not segs:
            u = self.url
            return dj({"url:experimenters": u("api/v0/m/experimenters/"),
                       "url:experimentergroups": u("api/v0/m/experimentergroups/"),
                       "url:projects": u("api/v0/m/projects/"),
                       "url:datasets": u("api/v0/m/datasets/"),
                       "url:images": u("api/v0/m/images/"),
                       "url:screens": u("api/v0/m/screens/"),
                       "url:plates": u("api/v0/m/plates/"),
                       "url:rois": u("api/v0/m/rois/"),
                       "url:token": u("api/v0/token/"),
                       "url:servers": u("api/v0/servers/"),
                       "url:login": u("api/v0/login/"),
                       "url:save": u("api/v0/m/save/"),
                       "url:schema": "http://www.openmicroscopy.org/Schemas/OME/2016-06"})
        if segs == ["token"]:
            return dj({"data": "fAkEcSrFtOkEn0000000000000000000"})
        if segs == ["servers"]:
            host = self.base.split("//", 1)[1].split(":")[0]
            return dj({"data": [{"id": 1, "host": host, "port": 4064, "server": "omero"}]})
        if segs[0] != "m" or len(segs) < 2:
            return not_found()
        segs = segs[1:]
        kinds = {"projects": "project", "datasets": "dataset", "images": "image",
                 "screens": "screen", "plates": "plate", "wells": "well", "rois": "roi",
                 "plateacquisitions": "plateacquisition", "experimenters": "experimenter",
                 "experimentergroups": "experimentergroup", "shapes": "shape"}
        kind = kinds.get(segs[0])
        if kind is None:
            return not_found()
        if len(segs) == 1:
            return self.list(kind, q, {})
        if not segs[1].isdigit():
            return not_found()
        oid = int(segs[1])
        if len(segs) == 2:
            return self.single(kind, oid, q)
        rel = segs[2:]
        parents = {("project", "datasets"): ("dataset", "project"),
                   ("dataset", "images"): ("image", "dataset"),
                   ("dataset", "projects"): ("project", "dataset"),
                   ("image", "datasets"): ("dataset", "image"),
                   ("image", "rois"): ("roi", "image"),
                   ("screen", "plates"): ("plate", "screen"),
                   ("plate", "screens"): ("screen", "plate"),
                   ("plate", "wells"): ("well", "plate"),
                   ("plate", "plateacquisitions"): ("plateacquisition", "plate"),
                   ("well", "plates"): ("plate", "well")}
        if len(rel) == 1 and (kind, rel[0]) in parents:
            child, filt = parents[(kind, rel[0])]
            return self.list(child, q, {filt: oid})
        if kind == "plate" and len(rel) == 3 and rel[0] == "wellsampleindex" \
                and rel[2] == "wells" and rel[1].isdigit():
            return self.list("well", q, {"plate": oid}, index=int(rel[1]))
        return not_found()

    def _int(self, q, name, default):
        v = q.get(name)
        if v is None:
            return default
        return int(v)       # ValueError text is Python's own, as in omero-web

    def list(self, kind, q, fixed, index=None):
        try:
            offset = self._int(q, "offset", 0)
            limit = self._int(q, "limit", None)
            self._int(q, "owner", None)
        except ValueError as e:
            raise BadRequest(str(e))
        child_count = q.get("childCount") == "true"
        orphaned = q.get("orphaned") == "true"
        normalize = q.get("normalize") == "true"
        self._int(q, "group", -1)              # ValueError here -> 500, as in omero-web
        filt = dict(fixed)
        names = {"project": ["dataset"], "dataset": ["project", "image"], "image": ["dataset"],
                 "screen": ["plate"], "plate": ["screen", "well"], "well": ["plate"],
                 "roi": ["image"]}
        for f in names.get(kind, []):
            if f not in filt:
                v = self._int(q, f, None)
                if v is not None:
                    filt[f] = v
        if limit is None or limit < 0:
            limit = DEFAULT_LIMIT
        limit = min(limit, MAX_LIMIT)
        if offset < 0:
            offset = 0
        ids = self._query(kind, filt, orphaned, index)
        total = len(ids)
        page = [] if limit == 0 else ids[offset:offset + limit]
        data = [self.marshal(kind, oid, child_count=child_count, index=index) for oid in page]
        out = {"data": data}
        if normalize:
            out = self._normalize(data)
        out["meta"] = {"offset": offset, "limit": limit, "maxLimit": MAX_LIMIT, "totalCount": total}
        return dj(out)

    def _normalize(self, data):
        def walk(o):
            if isinstance(o, dict):
                det = o.get("omero:details")
                if isinstance(det, dict) and "owner" in det:
                    det["owner"] = {"@id": det["owner"]["@id"]}
                    det["group"] = {"@id": det["group"]["@id"]}
                for v in o.values():
                    walk(v)
            elif isinstance(o, list):
                for v in o:
                    walk(v)
        walk(data)
        return {"data": data, "experimenters": [OWNER], "experimenterGroups": [GROUP]}

    def _query(self, kind, f, orphaned, index):
        a = self.a
        byname = lambda objs: sorted(objs, key=lambda o: (o.name.lower(), o.id))
        if kind == "project":
            objs = a.projects.values()
            if "dataset" in f:
                objs = [p for p in objs if f["dataset"] in p.dataset_ids]
            return [] if orphaned else [o.id for o in byname(objs)]
        if kind == "dataset":
            objs = a.datasets.values()
            if "project" in f:
                objs = [d for d in objs if d.project_id == f["project"]]
            if "image" in f:
                im = a.images.get(f["image"])
                objs = [d for d in objs if im is not None and d.id == im.dataset_id]
            return [] if orphaned and "project" not in f else [o.id for o in byname(objs)]
        if kind == "image":
            if "dataset" in f:
                return list(self.ds_sorted.get(f["dataset"], []))
            return [] if orphaned else self.images_sorted
        if kind == "screen":
            objs = a.screens.values()
            if "plate" in f:
                objs = [s for s in objs if f["plate"] in s.plate_ids]
            return [] if orphaned else [o.id for o in byname(objs)]
        if kind == "plate":
            objs = a.plates.values()
            if "screen" in f:
                objs = [p for p in objs if p.screen_id == f["screen"]]
            if "well" in f:
                w = a.wells.get(f["well"])
                objs = [p for p in objs if w is not None and p.id == w.plate_id]
            return [] if orphaned and "screen" not in f else [o.id for o in byname(objs)]
        if kind == "well":
            ws = a.wells.values()
            if "plate" in f:
                ws = [w for w in ws if w.plate_id == f["plate"]]
            if index is not None:
                ws = [w for w in ws if index < len(w.fields)]
            return [w.id for w in sorted(ws, key=lambda w: (w.column, w.row))]
        if kind == "experimenter":
            return [2]
        if kind == "experimentergroup":
            return [3]
        return []

    def marshal(self, kind, oid, child_count=False, single=False, index=None):
        a = self.a
        if kind == "image":
            d = self.image_json(a.images[oid], pixels=True, channels=single)
        elif kind == "well":
            d = self.well_json(a.wells[oid], with_pixels=single, index=index)
        elif kind == "experimenter":
            d = dict(OWNER)
        elif kind == "experimentergroup":
            d = dict(GROUP)
        else:
            objs = {"project": a.projects, "dataset": a.datasets, "screen": a.screens,
                    "plate": a.plates}[kind]
            d = self.container_json(kind, objs[oid])
        if child_count:
            n = self.child_count(kind, oid)
            if n is not None:
                d["omero:childCount"] = n
        return self.add_urls(kind, d, single)

    def single(self, kind, oid, q):
        a = self.a
        objs = {"project": a.projects, "dataset": a.datasets, "image": a.images,
                "screen": a.screens, "plate": a.plates, "well": a.wells,
                "experimenter": {2: 1}, "experimentergroup": {3: 1}}.get(kind, {})
        names = {"project": "Project", "dataset": "Dataset", "image": "Image",
                 "screen": "Screen", "plate": "Plate", "well": "Well", "roi": "Roi",
                 "shape": "Shape", "plateacquisition": "PlateAcquisition",
                 "experimenter": "Experimenter", "experimentergroup": "ExperimenterGroup"}
        if oid not in objs:
            raise NotFound("%s %d not found" % (names[kind], oid))
        cc = q.get("childCount") == "true"
        return dj({"data": self.marshal(kind, oid, child_count=cc, single=True)})

    # ------------------------------------------------------------ webclient JSON

    def _page(self, q, items, default_page=1):
        try:
            page = int(q.get("page", default_page))
            limit = int(q.get("limit", PAGE))
        except ValueError:
            return None
        if page and page > 0:
            return items[(page - 1) * limit:(page - 1) * limit + limit]
        return items

    def _tags(self, q, tid):
        """webclient's tags API as idr-gallery reads it (idr-api.md 6.5):
        the tag list, then one tag's projects and screens."""
        a = self.a
        if not getattr(a, "today", False):
            return dj({"tags": []} if tid is None else {"projects": [], "screens": []})
        ps, ss = archive.today_zarr_studies(a)
        if tid is None:
            return dj({"tags": [{"id": archive.TODAY_TAG_ID, "value": archive.TODAY_TAG,
                                 "description": "Studies with OME-NGFF images",
                                 "ownerId": 2, "permsCss": "", "set": False,
                                 "childCount": len(ps) + len(ss)}]})
        if tid != archive.TODAY_TAG_ID:
            return dj({"projects": [], "datasets": [], "images": [], "screens": [],
                       "plates": [], "acquisitions": [], "wells": []})
        return dj({"projects": [{"id": i, "name": a.projects[i].name, "ownerId": 2,
                                 "childCount": len(a.projects[i].dataset_ids), "permsCss": ""}
                                for i in ps],
                   "datasets": [], "images": [], "plates": [], "acquisitions": [], "wells": [],
                   "screens": [{"id": i, "name": a.screens[i].name, "ownerId": 2,
                                "childCount": len(a.screens[i].plate_ids), "permsCss": ""}
                               for i in ss]})

    def webclient_api(self, path, q):
        a = self.a
        segs = [s for s in path.split("/") if s]
        if not path.endswith("/") or len(segs) != 1:
            return not_found()
        what = segs[0]
        try:
            pid = int(q["id"]) if q.get("id") not in (None, "") else None
        except ValueError:
            return Resp(400, b"Invalid parameter value", HTML)
        if what == "tags":
            return self._tags(q, pid)
        if what == "projects":
            rows = [{"id": p.id, "name": p.name, "ownerId": 2, "childCount": len(p.dataset_ids),
                     "permsCss": ""} for p in sorted(a.projects.values(), key=lambda o: (o.name.lower(), o.id))]
            return dj({"projects": self._page(q, rows)})
        if what == "screens":
            rows = [{"id": s.id, "name": s.name, "ownerId": 2, "childCount": len(s.plate_ids),
                     "permsCss": ""} for s in sorted(a.screens.values(), key=lambda o: (o.name.lower(), o.id))]
            return dj({"screens": self._page(q, rows)})
        if what == "datasets":
            ds = [d for d in a.datasets.values() if pid is None or d.project_id == pid]
            ds.sort(key=lambda d: (d.name.lower(), d.id))
            rows = [{"id": d.id, "name": d.name, "ownerId": 2, "childCount": len(d.image_ids),
                     "permsCss": ""} for d in ds]
            return dj({"datasets": self._page(q, rows)})
        if what == "plates":
            pls = [p for p in a.plates.values() if pid is None or p.screen_id == pid]
            pls.sort(key=lambda p: (p.name.lower(), p.id))
            rows = [{"id": p.id, "name": p.name, "ownerId": 2, "childCount": 0,
                     "permsCss": ""} for p in pls]
            return dj({"plates": self._page(q, rows)})
        if what == "images":
            ids = self.ds_sorted.get(pid, []) if pid is not None else []
            ids = self._page(q, ids)
            if ids is None:
                return Resp(400, b"Invalid parameter value", HTML)
            rows = []
            for iid in ids:
                im = a.images[iid]
                d = {"id": iid, "archived": False, "name": im.name, "ownerId": 2, "permsCss": ""}
                if im.fileset_id is not None:
                    d["filesetId"] = im.fileset_id
                if q.get("sizeXYZ") == "true":
                    d.update(sizeX=im.sx, sizeY=im.sy, sizeZ=im.sz, sizeT=im.st)
                if q.get("date") == "true":
                    ms = im.acq_ms or archive.DATE0_MS
                    d["date"] = iso(archive.DATE0_MS)
                    d["acqDate"] = iso(ms)
                if q.get("thumbVersion") == "true":
                    d["thumbVersion"] = 0
                rows.append(d)
            return dj({"images": rows})
        if what == "annotations":
            return self.annotations(q)
        if what == "plate_acquisitions":
            return dj({"acquisitions": []})
        return not_found()

    def annotations(self, qall):
        """qall: dict name -> list of values (repeatable ids)."""
        a = self.a
        q = {k: v[0] for k, v in qall.items()}
        typ = q.get("type")
        ns = q.get("ns")
        anns = []
        kinds = [("project", "ProjectI", a.projects), ("dataset", "DatasetI", a.datasets),
                 ("image", "ImageI", a.images), ("screen", "ScreenI", a.screens),
                 ("plate", "PlateI", a.plates), ("well", "WellI", a.wells)]
        for kind, cls, objs in kinds:
            for sid in qall.get(kind, []):
                try:
                    oid = int(sid)
                except ValueError:
                    return Resp(400, b"Invalid parameter value", HTML)
                if oid not in objs or typ not in (None, "", "map"):
                    continue
                links = archive.links_for(a, kind, oid)
                for k, aid in sorted(enumerate(links), key=lambda x: a.anns[x[1]].ns):
                    ann = a.anns[aid]
                    if ns is not None and ann.ns != ns:
                        continue
                    parent = {"id": oid, "class": cls}
                    if kind == "well":
                        w = objs[oid]
                        parent["name"] = "%s%d" % ("ABCDEFGH"[w.row], w.column + 1)
                    else:
                        parent["name"] = objs[oid].name
                    perms = {"canDelete": False, "canAnnotate": False, "canLink": False,
                             "canEdit": False}
                    anns.append({"id": aid, "ns": ann.ns, "name": None, "description": None,
                                 "owner": {"id": 2}, "date": iso(archive.DATE0_MS),
                                 "permissions": perms,
                                 "link": {"id": (oid % 10000000) * 32 + k + 1,
                                          "owner": {"id": 2}, "parent": parent,
                                          "date": iso(archive.DATE0_MS), "permissions": dict(perms)},
                                 "class": "MapAnnotationI",
                                 "values": [list(kv) for kv in ann.values]})
        exps = [{"id": 2, "omeName": "public", "firstName": "Public", "lastName": "data"}] if anns else []
        return dj({"annotations": anns, "experimenters": exps})

    # ------------------------------------------------------------ webgateway

    def img_data(self, iid):
        a = self.a
        img = a.images[iid]
        p, d, s, pl, w = archive.image_parents(a, iid)
        ts = (img.acq_ms or archive.DATE0_MS - 86400000) / 1000.0
        rv = {"id": iid, "meta": {
            "imageName": img.name, "imageDescription": img.desc or "",
            "imageAuthor": "Public data", "imageArchived": False,
            "projectName": p.name if p else "Multiple", "projectId": p.id if p else None,
            "projectDescription": (p.desc or "") if p else "",
            "datasetName": d.name if d else "Multiple", "datasetId": d.id if d else None,
            "datasetDescription": (d.desc or "") if d else "",
            "wellSampleId": "", "wellId": w.id if w else "",
            "imageTimestamp": ts, "imageId": iid, "pixelsType": img.ptype},
            "perms": {"canAnnotate": False, "canEdit": False, "canDelete": False, "canLink": False}}
        levels = len(img.levels)
        rv["tiles"] = levels > 1
        if levels > 1:
            rv["tile_size"] = {"width": img.tile[0], "height": img.tile[1]}
            rv["levels"] = levels
            rv["resolutions"] = {str(i): {"sizeX": sx, "sizeY": sy}
                                 for i, (sx, sy) in enumerate(img.levels)}
            rv["zoomLevelScaling"] = {str(i): sx / float(img.levels[0][0])
                                      for i, (sx, sy) in enumerate(img.levels)}
        rv["interpolate"] = True
        rv["size"] = {"width": img.sx, "height": img.sy, "z": img.sz, "t": img.st, "c": img.sc}
        rv["pixel_size"] = {"x": img.phys[0], "y": img.phys[1], "z": img.phys[2]}
        rv["init_zoom"] = 0
        kind, bits, signed, _ = archive.PTYPES[img.ptype]
        pmax = 2 ** bits
        rv["pixel_range"] = [-pmax / 2, pmax / 2 - 1] if signed else [0, pmax - 1]
        win = archive.windows(a, iid)
        chans = []
        for c, (name, col, em) in enumerate(img.chans):
            mn, mx, st, en = win[c]
            label = name if name else (str(int(em)) if em else str(c))
            chans.append({"emissionWave": em, "label": label, "color": col, "inverted": False,
                          "reverseIntensity": False, "family": "linear", "coefficient": 1.0,
                          "window": {"min": mn, "max": mx, "start": st, "end": en},
                          "active": True})
        rv["channels"] = chans
        rv["split_channel"] = split_channel(img.sx, img.sy, img.sc)
        rv["rdefs"] = {"model": "color", "projection": "normal", "defaultZ": img.sz // 2,
                       "defaultT": 0, "invertAxis": False}
        return rv

    def plate_grid(self, plid, field):
        a = self.a
        if plid not in a.plates:
            tb = ("Traceback (most recent call last):\n  File \"omeroweb/webgateway/views.py\", "
                  "line 1464, in wrap\nTypeError: Object of type type is not JSON serializable\n")
            return dj({"message": "Object of type type is not JSON serializable",
                       "stacktrace": tb}, 500)
        pl = a.plates[plid]
        rowl = [archive_letter(r) for r in range(pl.rows)]
        coll = list(range(1, pl.columns + 1))
        grid = [[None] * pl.columns for _ in range(pl.rows)]
        first = None
        for wid in pl.well_ids:
            w = a.wells[wid]
            if field >= len(w.fields):
                continue
            iid = w.fields[field][1]
            im = a.images[iid]
            if first is None:
                first = im
            grid[w.row][w.column] = {"type": "Image", "id": iid, "name": im.name,
                                     "description": "", "author": "Public data",
                                     "date": (im.acq_ms or archive.DATE0_MS) // 1000,
                                     "wellId": wid, "field": field,
                                     "thumb_url": "/webgateway/render_thumbnail/%d/" % iid}
        sizes = [{"x": first.sx, "y": first.sy, "image_id": first.id}] if first else []
        return dj({"grid": grid, "collabels": coll, "rowlabels": rowl, "image_sizes": sizes})

    def original_file_paths(self, iid):
        a = self.a
        img = a.images.get(iid)
        if img is None or img.fileset_id is None:
            return dj({})
        fs = a.filesets[img.fileset_id]
        study = img.study
        repo = ["demo_2/2016-05/26/12-00-00.000/%s/%s" % (study, p) for p, _, _ in fs.files]
        client = ["uod/idr/filesets/%s/%s" % (study, p) for p, _, _ in fs.files]
        return dj({"repo": repo, "client": client, "fileset": {"id": fs.id}})


def archive_letter(i):
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def split_channel(sx, sy, c, border=2):
    import math

    def dims(n):
        x = math.sqrt(n)
        y = int(round(x))
        x = y + 1 if x > y else y
        return {"width": sx * x + border * (x + 1), "height": sy * y + border * (y + 1),
                "border": border, "gridx": x, "gridy": y}
    return {"g": dims(c), "c": dims(c + 1)}


def iso(ms):
    t = time.gmtime(ms // 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", t)
