"""IDR search engine (/searchengine/api/v1/resources/...) and mapr
(/mapr/api/...) for fake-idr, following idr-searchengine.md and
idr-api.md section 7.

Handlers return (status, content_type, body_bytes)."""

import json
import math
import time

import archive

JSON = "application/json"
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
PAGE_SIZE = 1000
RESOURCES = ("image", "project", "screen", "well", "plate")

FLASK_500 = (b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n'
             b"<title>500 Internal Server Error</title>\n"
             b"<h1>Internal Server Error</h1>\n"
             b"<p>The server encountered an internal error and was unable to complete your "
             b"request. Either the server is overloaded or there is an error in the "
             b"application.</p>\n")
NOT_FOUND_TEXT = ("404 Not Found: The requested URL was not found on the server. If you entered "
                  "the URL manually please check your spelling and try again., You may use "
                  "'/searchengine/api/v1/resources/' to test        the deployment and "
                  "'/searchengine/apidocs/' for the Swagger documents.")
RESTRICTED = {
    "image": ["Cell Line", "Gene Identifier", "Gene Symbol", "Compound Name", "PubChem CID",
              "InChIKey", "Antibody", "Antibody Identifier", "Protein", "Pathology",
              "Pathology Identifier", "Phenotype", "Phenotype Term Accession",
              "siRNA Identifier", "siRNA Pool Identifier"],
    "project": ["name", "Imaging Method", "Publication Title", "Publication Authors",
                "Study Type", "License", "Organism"],
    "screen": ["Screen Technology Type", "Screen Type"],
}

# IDR's omero.web.mapr.config (idr-api.md 7.3), as /mapr/api/config/ returns it
MAPR_CONFIG = {
    "gene": {"default": ["Gene Symbol"], "all": ["Gene Symbol", "Gene Identifier"],
             "ns": ["openmicroscopy.org/mapr/gene"], "label": "Gene", "case_sensitive": True},
    "genesupplementary": {"default": [], "all": [],
                          "ns": ["openmicroscopy.org/mapr/gene/supplementary"],
                          "label": "Gene supplementary"},
    "sirna": {"default": ["siRNA Identifier"], "all": ["siRNA Identifier", "siRNA Pool Identifier"],
              "ns": ["openmicroscopy.org/mapr/sirna"], "label": "siRNA"},
    "omap": {"default": ["OMAP Number"], "all": ["OMAP Number"],
             "ns": ["openmicroscopy.org/mapr/OMAP"], "label": "OMAP"},
    "sirnasupplementary": {"default": [], "all": [],
                           "ns": ["openmicroscopy.org/mapr/sirna/supplementary"],
                           "label": "siRNA supplementary"},
    "phenotype": {"default": ["Phenotype"], "all": ["Phenotype", "Phenotype Term Accession"],
                  "ns": ["openmicroscopy.org/mapr/phenotype"], "label": "Phenotype",
                  "case_sensitive": True, "wildcard": {"enabled": True}},
    "compound": {"default": ["Compound Name"], "all": ["Compound Name"],
                 "ns": ["openmicroscopy.org/mapr/compound"], "label": "Compound",
                 "case_sensitive": True},
    "compoundsupplementary": {"default": [], "all": [],
                              "ns": ["openmicroscopy.org/mapr/compound/supplementary"],
                              "label": "Compound supplementary"},
    "organism": {"default": ["Organism"], "all": ["Organism"],
                 "ns": ["openmicroscopy.org/mapr/organism"], "label": "Organism",
                 "wildcard": {"enabled": True}},
    "antibody": {"default": ["Antibody Identifier"], "all": ["Antibody Name", "Antibody Identifier"],
                 "ns": ["openmicroscopy.org/mapr/antibody"], "label": "Antibody",
                 "case_sensitive": True},
    "antibodysupplementary": {"default": [], "all": [],
                              "ns": ["openmicroscopy.org/mapr/antibody/supplementary"],
                              "label": "Antibody supplementary"},
    "orf": {"default": ["ORF Identifier"], "all": ["ORF Identifier"],
            "ns": ["openmicroscopy.org/mapr/orf"], "label": "ORF"},
    "orfsupplementary": {"default": [], "all": [],
                         "ns": ["openmicroscopy.org/mapr/orf/supplementary"],
                         "label": "ORF supplementary"},
    "cellline": {"default": ["Cell Line"], "all": ["Cell Line"],
                 "ns": ["openmicroscopy.org/mapr/cell_line"], "label": "Cell Lines",
                 "wildcard": {"enabled": True}},
    "celllinesupplementary": {"default": [], "all": [],
                              "ns": ["openmicroscopy.org/mapr/cell_line/supplementary"],
                              "label": "Cell Lines supplementary"},
    "protein": {"default": ["Protein"], "all": ["Protein"],
                "ns": ["openmicroscopy.org/mapr/protein"], "label": "Protein"},
    "proteinsupplementary": {"default": [], "all": [],
                             "ns": ["openmicroscopy.org/mapr/protein/supplementary"],
                             "label": "Protein supplementary"},
    "others": {"default": ["Others"], "all": ["Others"],
               "ns": ["openmicroscopy.org/omero/bulk_annotations"], "label": "Others"},
    "notebook": {"default": ["Study Notebook"], "all": ["Study Notebook"],
                 "ns": ["openmicroscopy.org/idr/analysis/notebook"], "label": "Analysis Notebook"},
}


def flask_json(obj):
    """Flask 1.1 jsonify: compact, sorted keys, \\uXXXX escapes, trailing newline."""
    return (json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
            + "\n").encode("ascii")


def django_json(obj):
    return json.dumps(obj).encode("ascii")


def _fl(x, as_float):
    return None if x is None else (float(x) if as_float else x)


class SearchIndex:
    def __init__(self, arch):
        self.a = arch
        a = arch
        # (key, value) -> sorted image ids; per image kv list is computed on demand
        self.pairs = {}
        self.key_counts = {}
        self.no_kv_chunks = set()
        self.all_ids = sorted(a.images)
        for iid in self.all_ids:
            kvs = archive.key_values(a, "image", iid)
            if not kvs:
                self.no_kv_chunks.add(iid // 100000)
            for k, v, _ in kvs:
                self.pairs.setdefault((k, v), []).append(iid)
                self.key_counts[k] = self.key_counts.get(k, 0) + 1
        self.containers = []
        for p in a.projects.values():
            n = sum(len(a.datasets[d].image_ids) for d in p.dataset_ids)
            self.containers.append(("project", p, n))
        for s in a.screens.values():
            n = sum(len(a.wells[w].fields) for pl in s.plate_ids for w in a.plates[pl].well_ids)
            self.containers.append(("screen", s, n))

    # ------------------------------------------------------------ documents

    def image_doc(self, iid):
        a = self.a
        im = a.images[iid]
        p, d, s, pl, w = archive.image_parents(a, iid)
        kvs = archive.key_values(a, "image", iid)
        fidx = (iid // 100000) in self.no_kv_chunks
        # Emulates the indexer's pandas chunks: ids of the other container
        # type are null; screen images' container ids are indexed as floats.
        fids = s is not None
        if kvs:
            kv = [{"index": _fl(k, fidx), "name": n, "value": v} for n, v, k in kvs]
        else:
            kv = [{"index": None, "name": None, "value": None}]
        return {"data_source": "idr",
                "dataset_id": d.id if d else None, "dataset_name": d.name if d else None,
                "description": im.desc or "", "doc_type": "image_keyvalue_pair_metadata",
                "experiment": None, "group_id": 3, "id": iid, "image_size": None,
                "key_values": kv, "name": im.name, "owner_id": 2,
                "plate_id": _fl(pl.id, fids) if pl else None, "plate_name": pl.name if pl else None,
                "project_id": p.id if p else None, "project_name": p.name if p else None,
                "screen_id": _fl(s.id, fids) if s else None, "screen_name": s.name if s else None,
                "well_id": _fl(w.id, fids) if w else None,
                "wellsample_id": _fl(im.wellsample_id, fids) if w else None}

    def container_kvs(self, kind, oid):
        return archive.key_values(self.a, kind, oid)

    def resource_objects(self, resource):
        a = self.a
        if resource == "image":
            return self.all_ids
        if resource == "project":
            return sorted(a.projects)
        if resource == "screen":
            return sorted(a.screens)
        if resource == "plate":
            return sorted(a.plates)
        if resource == "well":
            return sorted(a.wells)
        return []

    def kvs_of(self, resource, oid):
        return archive.key_values(self.a, resource, oid)

    # ------------------------------------------------------------ endpoints

    def handle(self, path, q):
        """path after /searchengine/api/v1/resources/ ; q = dict of first values."""
        segs = [s for s in path.split("/") if s != ""]
        if not path:
            return 200, HTML, b"OMERO search engine (API V1)"
        ops = ("keys", "searchvaluesusingkey", "search", "searchvalues", "getannotationvalueskey")
        known = segs in (["container_images"], ["data_sources"]) or (len(segs) == 2 and segs[1] in ops)
        if not path.endswith("/"):
            if known:
                return 308, None, "/searchengine/api/v1/resources/" + path + "/"
            return 404, TEXT, NOT_FOUND_TEXT.encode()
        if segs == ["container_images"]:
            return self.container_images()
        if len(segs) == 2:
            res, op = segs
            if op == "keys":
                return self.keys(res, q)
            if op == "searchvaluesusingkey":
                return self.values_using_key(res, q)
            if op == "search":
                return self.search(res, q)
            if op == "searchvalues":
                return self.search_values(res, q)
            if op == "getannotationvalueskey":
                if not q.get("key"):
                    return 200, JSON, flask_json({"Error": "No key is provided"})
                if q.get("key") == "name":
                    return 200, JSON, flask_json(self.names())
                return 200, JSON, flask_json([])
        if segs == ["data_sources"]:
            return 200, JSON, flask_json(["idr"])
        return 404, TEXT, NOT_FOUND_TEXT.encode()

    def names(self):
        out = {}
        for kind, obj, n in self.containers:
            out.setdefault(kind, []).append({"id": obj.id, "name": obj.name})
        return out

    def _keys_of(self, resource):
        if resource == "image":
            return [k for k, _ in sorted(self.key_counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        counts = {}
        for oid in self.resource_objects(resource):
            for k, _, _ in self.kvs_of(resource, oid):
                counts[k] = counts.get(k, 0) + 1
        return [k for k, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]

    def keys(self, res, q):
        mode = q.get("mode")
        if res not in RESOURCES + ("all",):
            return 200, JSON, flask_json([{"data_source": "idr"}])
        ress = RESOURCES if res == "all" else (res,)
        if mode is not None:
            if mode != "searchterms":
                return 200, JSON, flask_json({"Error": "The mode parameter supports only "
                                                       "'searchterms' to return what can be used "
                                                       "for building a search query."})
            out = {}
            for r in ress:
                allowed = RESTRICTED.get(r)
                if allowed:
                    have = set(self._keys_of(r)) | ({"name"} if r == "project" else set())
                    out[r] = [k for k in allowed if k in have]
            return 200, JSON, flask_json(out)
        item = {"data_source": "idr"}
        for r in ress:
            ks = self._keys_of(r)
            if ks:
                item[r] = ks
        return 200, JSON, flask_json([item])

    def values_using_key(self, res, q):
        key = q.get("key")
        if not key:
            return 200, JSON, flask_json({"Error": "No key is provided "})
        kl = key.lower()
        buckets = {}
        for oid in self.resource_objects(res) if res != "image" else []:
            for k, v, _ in self.kvs_of(res, oid):
                if k.lower() == kl:
                    buckets[(k, v.lower())] = buckets.get((k, v.lower()), 0) + 1
        if res == "image":
            for (k, v), ids in self.pairs.items():
                if k.lower() == kl:
                    buckets[(k, v.lower())] = buckets.get((k, v.lower()), 0) + len(ids)
        if not buckets:
            return 200, JSON, flask_json({"data": [], "total_number_of_None": 0,
                                          "total_number_of_buckets": 0})
        rows = sorted(buckets.items(), key=lambda kv: (len(kv[0][1]), -kv[1], kv[0][1], kv[0][0]))
        data = [{"Key": k, "Number of %ss" % res: n, "Value": v, "data_source": "idr"}
                for (k, v), n in rows]
        return 200, JSON, flask_json({"data": data, "total_number_of_buckets": len(data),
                                      "total_number_of_%s" % res: sum(n for _, n in rows)})

    def search_values(self, res, q):
        value = q.get("value")
        if not value:
            return 200, JSON, flask_json({"Error": "No value is provided "})
        part = value.strip().lower()
        key = q.get("key")
        buckets = {}
        for (k, v), ids in self.pairs.items():
            if res == "image" and k == "Organism" and not key:
                continue
            if key and k.lower() != key.lower():
                continue
            if part in v.lower():
                buckets[(k, v.lower())] = buckets.get((k, v.lower()), 0) + len(ids)
        rows = sorted(buckets.items(), key=lambda kv: (len(kv[0][1]), -kv[1], kv[0][1]))
        data = [{"Key": k, "Number of %ss" % res: n, "Value": v, "data_source": "idr"}
                for (k, v), n in rows]
        out = {"data": data, "total_number_of_buckets": len(data),
               "total_number_of_%s" % res: sum(n for _, n in rows)}
        if not key:
            out["total_number_of_all_buckets"] = len(data)
        return 200, JSON, flask_json(out)

    def _match(self, res, key, value, operator, cs):
        """Sorted ids of `res` objects with an entry matching key/value."""
        ops = ("equals", "not_equals", "contains", "not_contains", "in", "not_in",
               "lt", "lte", "gt", "gte")
        if operator not in ops:
            return list(self.resource_objects(res))      # unknown operator: everything
        val = value.strip()
        items = [s.strip() for s in val.split(",")] if operator in ("in", "not_in") else None

        def norm(s):
            return s if cs else s.lower()

        def key_ok(k):
            if key is None:
                return True
            return k == key if cs else k.lower() == key.lower()

        def val_ok(v):
            if operator == "equals":
                return norm(v) == norm(val)
            if operator == "not_equals":
                return norm(v) != norm(val)
            if operator == "contains":
                return val.lower() in norm(v)
            if operator == "not_contains":
                return val.lower() not in norm(v)
            if operator == "in":
                return norm(v) in [norm(i) for i in items]
            if operator == "not_in":
                return norm(v) not in [norm(i) for i in items]
            nv, nq = norm(v), norm(val)
            return {"lt": nv < nq, "lte": nv <= nq, "gt": nv > nq, "gte": nv >= nq}[operator]

        hits = set()
        if res == "image":
            for (k, v), ids in self.pairs.items():
                if key_ok(k) and val_ok(v):
                    hits.update(ids)
        else:
            for oid in self.resource_objects(res):
                if any(key_ok(k) and val_ok(v) for k, v, _ in self.kvs_of(res, oid)):
                    hits.add(oid)
        return sorted(hits)

    def _raw_query(self, key, value, operator, cs):
        vf = "key_values.value.keyvalue" if cs else "key_values.value.keyvaluenormalize"
        nf = "key_values.name.keyword" if cs else "key_values.name.keynamenormalize"
        if operator in ("contains", "not_contains"):
            vq = {"wildcard": {vf: "*%s*" % value.strip().lower()}}
        elif operator in ("in", "not_in"):
            vq = {"terms": {vf: [s.strip() for s in value.split(",")]}}
        else:
            vq = {"match": {vf: value.strip()}}
        must = [vq] + ([{"match": {nf: key}}] if key else [])
        nested = {"nested": {"path": "key_values", "query": {"bool": {"must": must}}}}
        ds = {"bool": {"must": {"terms": {"data_source.keyvalue": ["idr"]}}}}
        clause = "must_not" if operator.startswith("not_") else "must"
        q = {"query": {"bool": {"must": [ds]}}}
        q["query"]["bool"].setdefault(clause, []).append(nested)
        return q

    def search(self, res, q):
        t0 = time.time()
        key, value = q.get("key"), q.get("value")
        operator = q.get("operator") or "equals"
        cs = q.get("case_sensitive")
        bookmark = q.get("bookmark")
        study = q.get("study")
        rc = q.get("return_containers")
        if rc is not None:
            if rc.lower() not in ("true", "false"):
                return 500, HTML, FLASK_500
            rc = rc.lower() == "true"
        if q.get("random_results") is not None:
            try:
                int(q.get("random_results"))
            except ValueError:
                return 200, JSON, flask_json({"Error": "random_results parameter should have an "
                                                       "integer value"})
        if value is None:
            return 200, JSON, flask_json({"Error": "Each Filter needs to have, name,"
                                                   "                    value and operator keywords."})
        if res not in RESOURCES:
            return 200, JSON, flask_json({"Error": "%s is not a valid resource" % res})
        if (key and '"' in key) or ('"' in value and operator not in ("contains", "not_contains")):
            return 500, HTML, FLASK_500
        if operator == "not_in" and not key:
            return 500, HTML, FLASK_500
        if study and rc:
            return 500, HTML, FLASK_500
        if bookmark is not None:
            try:
                bm = int(bookmark)
            except ValueError:
                return 500, HTML, FLASK_500
        filt = {"operator": operator, "resource": res, "value": value}
        if key:
            filt["name"] = key
        qd = {"and_filters": [filt], "bookmark": [[bookmark] if bookmark else None],
              "case_sensitive": cs}
        if operator == "in" and not key:
            key = "None"
        ids = self._match(res, key, value, operator, bool(cs))
        if study:
            ids = [i for i in ids if self._in_project_like(i, study)]
        if rc:
            return self._containers_result(ids, qd, key, value, operator, cs, t0)
        raw = self._raw_query(key, value, operator, bool(cs))
        size = len(ids)
        pages = int(math.ceil(size / float(PAGE_SIZE))) if size else 0
        if bookmark is not None:
            start = 0
            while start < len(ids) and ids[start] <= bm:
                start += 1
        else:
            start = 0
        page = ids[start:start + PAGE_SIZE]
        if not page:
            results = []
        else:
            docs = [self.image_doc(i) if res == "image" else self.container_doc(res, i)
                    for i in page]
            results = {"results": docs, "total_pages": pages, "bookmark": [page[-1]], "size": size}
            if bookmark is None:
                results["pagination"] = {"current_page": 1, "next_page": 2 if pages > 1 else None,
                                         "page_records": [{"bookmark": [page[-1]], "page": 2}],
                                         "total_pages": pages}
        out = {"notice": "", "query_details": qd, "raw_elasticsearch_query": raw,
               "resource": res, "results": results,
               "server_query_time": "%.2f" % (time.time() - t0)}
        if study:
            out["Error"] = "none"
        return 200, JSON, flask_json(out)

    def _in_project_like(self, iid, study):
        p = archive.image_parents(self.a, iid)[0]
        return p is not None and study.lower() in p.name.lower()

    def container_doc(self, res, oid):
        a = self.a
        obj = {"project": a.projects, "screen": a.screens, "plate": a.plates,
               "well": a.wells}[res][oid]
        kv = [{"index": i, "name": n, "value": v} for n, v, i in self.kvs_of(res, oid)]
        return {"data_source": "idr", "description": getattr(obj, "desc", None) or "",
                "doc_type": "%s_keyvalue_pair_metadata" % res, "group_id": 3, "id": oid,
                "key_values": kv, "name": getattr(obj, "name", None), "owner_id": 2}

    def _containers_result(self, ids, qd, key, value, operator, cs, t0):
        a = self.a
        counts = {}
        for iid in ids:
            p, d, s, pl, w = archive.image_parents(a, iid)
            c = ("project", p.id) if p else ("screen", s.id)
            counts[c] = counts.get(c, 0) + 1
        rows = []
        for kind in ("project", "screen"):
            mine = sorted([(n, oid) for (k, oid), n in counts.items() if k == kind],
                          key=lambda x: -x[0])
            for n, oid in mine:
                obj = a.projects[oid] if kind == "project" else a.screens[oid]
                rows.append({"data_source": "idr", "id": oid, "image count": n,
                             "key_values": [{"index": i, "key": k, "value": v}
                                            for k, v, i in archive.key_values(a, kind, oid)],
                             "name": obj.name, "type": kind})
        filt = dict(qd["and_filters"][0], data_source=["idr"], org_type=None,
                    query_type="keyvalue")
        filt.setdefault("name", None)
        out = {"Error": "none", "notice": "",
               "query_details": {"and_filters": [filt], "case_sensitive": qd["case_sensitive"],
                                 "or_filters": []},
               "raw_elasticsearch_query": self._raw_query(key, value, operator, bool(cs)),
               "resource": "image", "results": {"results": rows},
               "server_query_time": "%.2f" % (time.time() - t0)}
        return 200, JSON, flask_json(out)

    def container_images(self):
        rows = [{"data_source": "idr", "id": obj.id, "image count": n, "name": obj.name,
                 "type": kind} for kind, obj, n in self.containers]
        return 200, JSON, flask_json({"Error": None, "results": {"results": rows}})


# ---------------------------------------------------------------- mapr

class Mapr:
    """omero-mapr JSON API (only served with --mapr)."""

    def __init__(self, arch):
        self.a = arch

    def _entries(self, menu):
        """[(image id, value)] for every image map value in the menu's ns/keys."""
        cfg = MAPR_CONFIG[menu]
        ns, keys = cfg["ns"], cfg["all"]
        out = []
        a = self.a
        for iid in sorted(a.images):
            for aid in archive.links_for(a, "image", iid):
                ann = a.anns[aid]
                if ann.ns not in ns:
                    continue
                for k, v in ann.values:
                    if (not keys or k in keys) and v != "":
                        out.append((iid, v))
        return out

    def handle(self, path, q):
        """path after /mapr/api/ (with trailing slash)."""
        segs = [s for s in path.split("/") if s]
        if segs == ["config"]:
            return 200, JSON, django_json(MAPR_CONFIG)
        if len(segs) == 2 and segs[0] == "autocomplete" and segs[1] in MAPR_CONFIG:
            return self.autocomplete(segs[1], q)
        if not segs or segs[0] not in MAPR_CONFIG or not path.endswith("/"):
            return None
        menu = segs[0]
        if len(segs) == 1:
            return self.mapannotations(menu, q)
        op = segs[1] if len(segs) == 2 else None
        if op == "count":
            return self.count(menu, q)
        if op == "plates":
            return self.children(menu, q, "plate")
        if op == "datasets":
            return self.children(menu, q, "dataset")
        if op == "images":
            return self.images(menu, q)
        if op == "annotations":
            return self.annotations(menu, q)
        return None

    @staticmethod
    def _bool(q, name, default=False):
        v = q.get(name)
        if v is None:
            return default
        return v.lower() in ("true", "1", "on", "yes")

    def _filter(self, menu, q, value, case_sensitive=True, query=False):
        ents = self._entries(menu)
        if not value:
            return ents
        val = value if case_sensitive else value.lower()

        def ok(v):
            vv = v if case_sensitive else v.lower()
            return val in vv if query else vv == val
        return [(i, v) for i, v in ents if ok(v)]

    def _cs(self, menu, q):
        if MAPR_CONFIG[menu].get("case_sensitive"):
            return self._bool(q, "case_sensitive")
        return False

    def _wild(self, menu):
        return MAPR_CONFIG[menu].get("wildcard", {}).get("enabled", False)

    def _page(self, q, items):
        try:
            page = max(1, int(q.get("page", 1)))
            limit = int(q.get("limit", 500))
        except ValueError:
            return None
        return items[(page - 1) * limit: page * limit]

    def mapannotations(self, menu, q):
        value = q.get("id") or q.get("value")
        query = self._bool(q, "query")
        cs = self._cs(menu, q)
        orphaned = self._bool(q, "orphaned")
        maps, screens, projects = [], [], []
        a = self.a
        if self._wild(menu) or value:
            if orphaned:
                ents = self._filter(menu, q, value, cs, query)
                groups = {}
                for iid, v in ents:
                    groups.setdefault(v, set()).add(iid)
                rows = []
                for v, ids in groups.items():
                    conts = set()
                    for iid in ids:
                        p, d, s, pl, w = archive.image_parents(a, iid)
                        conts.add(("p", p.id) if p else ("s", s.id))
                    rows.append({"id": v, "name": "%s (%d)" % (v, len(ids)), "ownerId": -1,
                                 "permsCss": "", "childCount": len(conts),
                                 "extra": {"counter": len(ids)}})
                rows.sort(key=lambda r: -r["extra"]["counter"])
                maps = self._page(q, rows)
            else:
                ents = self._filter(menu, q, value, True, query)
                sc, pr = {}, {}
                for iid, v in ents:
                    p, d, s, pl, w = archive.image_parents(a, iid)
                    if s is not None:
                        e = sc.setdefault((s.id, v), [set(), set()])
                        e[0].add(pl.id)
                        e[1].add(a.images[iid].wellsample_id)
                    else:
                        e = pr.setdefault((p.id, v), [set(), set()])
                        e[0].add(d.id)
                        e[1].add(iid)
                for store, objs, out in ((sc, a.screens, screens), (pr, a.projects, projects)):
                    keys = sorted(store, key=lambda k: (objs[k[0]].name.lower(), k[0]))
                    for oid, v in keys:
                        kids, imgs = store[(oid, v)]
                        row = {"id": oid, "name": "%s (%d)" % (objs[oid].name, len(imgs)),
                               "ownerId": 2, "childCount": len(kids), "permsCss": ""}
                        if value is not None:
                            row["extra"] = {"counter": len(imgs), "value": v}
                        out.append(row)
        return 200, JSON, django_json({"maps": maps, "screens": screens, "projects": projects})

    def count(self, menu, q):
        value = q.get("value") or q.get("id")
        query = self._bool(q, "query")
        cs = self._cs(menu, q)
        cfg = MAPR_CONFIG[menu]
        exp = {"id": -1, "omeName": cfg["label"], "firstName": cfg["label"], "lastName": ""}
        if self._wild(menu) or value:
            exp["extra"] = {"case_sensitive": cs}
            if query:
                exp["extra"]["query"] = True
            ents = self._filter(menu, q, value, cs, query)
            exp["childCount"] = len(set(v for _, v in ents))
            if exp["childCount"] > 0 and value:
                exp["extra"]["value"] = value
        return 200, JSON, django_json({"experimenter": exp})

    def children(self, menu, q, node):
        value = q.get("value")
        query = self._bool(q, "query")
        try:
            pid = int(q["id"]) if q.get("id") is not None else None
        except ValueError:
            return 400, HTML, b"Invalid parameter value"
        a = self.a
        rows = []
        if (self._wild(menu) or value) and pid is not None:
            groups = {}
            for iid, v in self._filter(menu, q, value, True, query):
                p, d, s, pl, w = archive.image_parents(a, iid)
                if node == "plate" and s is not None and s.id == pid:
                    groups.setdefault((pl.id, v), set()).add(a.images[iid].wellsample_id)
                if node == "dataset" and p is not None and p.id == pid:
                    groups.setdefault((d.id, v), set()).add(iid)
            objs = a.plates if node == "plate" else a.datasets
            for oid, v in sorted(groups, key=lambda k: (objs[k[0]].name.lower(), k[0], k[1])):
                row = {"id": oid, "name": objs[oid].name, "ownerId": 2,
                       "childCount": len(groups[(oid, v)]), "permsCss": "",
                       "extra": {"node": node}}
                if value is not None:
                    row["extra"]["value"] = v
                rows.append(row)
        return 200, JSON, django_json({node + "s": rows})

    def images(self, menu, q):
        value = q.get("value")
        query = self._bool(q, "query")
        node = q.get("node")
        try:
            pid = int(q["id"]) if q.get("id") is not None else None
        except ValueError:
            return 400, HTML, b"Invalid parameter value"
        a = self.a
        out = []
        if (self._wild(menu) or value) and pid is not None and node in ("plate", "dataset"):
            ids = set()
            for iid, v in self._filter(menu, q, value, True, query):
                im = a.images[iid]
                if node == "dataset" and im.dataset_id == pid:
                    ids.add(iid)
                if node == "plate" and im.well_id is not None and a.wells[im.well_id].plate_id == pid:
                    ids.add(iid)
            ims = sorted((a.images[i] for i in ids), key=lambda im: im.name.lower())
            for im in self._page(q, ims) or []:
                d = {"id": im.id, "archived": False, "name": im.name, "ownerId": 2,
                     "permsCss": ""}
                if im.fileset_id is not None:
                    d["filesetId"] = im.fileset_id
                if self._bool(q, "sizeXYZ"):
                    d.update(sizeX=im.sx, sizeY=im.sy, sizeZ=im.sz, sizeT=im.st)
                out.append(d)
        return 200, JSON, django_json({"images": out})

    def annotations(self, menu, q):
        value = q.get("map")
        cfg = MAPR_CONFIG[menu]
        a = self.a
        anns = []
        if value:
            for aid in sorted(a.anns, key=lambda x: (a.anns[x].ns, x)):
                ann = a.anns[aid]
                if ann.ns in cfg["ns"] and any((not cfg["all"] or k in cfg["all"]) and v == value
                                               for k, v in ann.values):
                    anns.append({"id": aid, "ns": ann.ns, "name": None, "description": None,
                                 "owner": {"id": 2}, "date": "2016-05-26T00:00:00+00:00",
                                 "permissions": {"canDelete": False, "canAnnotate": False,
                                                 "canLink": False, "canEdit": False},
                                 "class": "MapAnnotationI", "values": [list(kv) for kv in ann.values]})
        exps = [{"id": 2, "omeName": "public", "firstName": "Public", "lastName": "data"}] if anns else []
        return 200, JSON, django_json({"annotations": anns, "experimenters": exps})

    def autocomplete(self, menu, q):
        value = q.get("value")
        if not value:
            return 200, JSON, django_json([])
        query = self._bool(q, "query", True)
        cs = self._cs(menu, q)
        vals = sorted(set(v for _, v in self._entries(menu)))
        needle = value if cs else value.lower()

        def n(v):
            return v if cs else v.lower()
        first = sorted([v for v in vals if n(v).startswith(needle)],
                       key=lambda v: (len(v), v.lower()))
        second = []
        if query:
            second = sorted([v for v in vals if needle in n(v) and not n(v).startswith(needle)],
                            key=lambda v: v.lower())
        return 200, JSON, django_json([{"value": v} for v in first + second])
