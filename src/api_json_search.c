/* SPDX-License-Identifier: MIT */
/*
 * api_json_search: answers of the IDR search engine and of mapr, and the
 * map annotations they lead to, -> plain structs. Part of the api module,
 * so it may use jansson; it fetches nothing.
 *
 * The search engine's real shapes (idr-searchengine.md): errors come as
 * HTTP 200 with {"Error": "..."} (or as a bare JSON string), values of
 * searchvaluesusingkey are lower-cased, ids may be integral floats (7.0)
 * because the indexer went through pandas, "results" is [] rather than an
 * object when a page is empty, and an image without key/values carries one
 * {"name": null, "value": null, "index": null} entry. Every field used is
 * checked: a mistyped one is -EBADMSG with a log line naming it.
 */
#include "config.h"

#include "idrfs/api.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "idrfs/log.h"

#include "api_json_int.h"

#define WHAT_MAX 256

/*
 * The search engine's error forms: {"Error": "<message>"} with HTTP 200
 * ("none" and null mean no error) and a bare JSON string such as
 * "'x' is not a data source".
 */
static int engine_error(const json_t *root, const char *what)
{
	char esc[WHAT_MAX], msg[512];
	const json_t *e;

	if (json_is_string(root)) {
		log_error(
			LOG_C_SEARCH, "\"%s\" answered an error: %s",
			log_escape(what ? what : "?", esc, sizeof(esc)),
			log_escape(json_string_value(root), msg, sizeof(msg)));
		return -EIO;
	}
	e = json_is_object(root) ? json_object_get(root, "Error") : NULL;
	if (!e || json_is_null(e))
		return 0;
	if (!json_is_string(e))
		return api_json_bad(what, "Error", "is not a string");
	if (strcasecmp(json_string_value(e), "none") == 0)
		return 0;
	log_error(LOG_C_SEARCH, "\"%s\" answered an error: %s",
		  log_escape(what ? what : "?", esc, sizeof(esc)),
		  log_escape(json_string_value(e), msg, sizeof(msg)));
	return -EIO;
}

/* An optional id: absent or null -> 0; must be a positive integer. */
static int opt_id(const json_t *o, const char *key, const char *what,
		  int64_t *out)
{
	const json_t *v = json_object_get(o, key);

	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!api_json_as_int(v, out) || *out < 0)
		return api_json_bad(what, key, "is not an id");
	return 0;
}

/* An optional string: absent or null -> NULL. */
static int opt_str(const json_t *o, const char *key, const char *what,
		   char **out)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return api_json_bad(what, key, "is not a string");
	*out = api_json_strdup(v, what, key);
	return *out ? 0 : -ENOMEM;
}

void api_strings_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- map annotations ---- */

void api_annotations_free(struct api_annotation *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].ns);
		free(v[i].parent_class);
		free(v[i].parent_name);
		api_kvs_free(v[i].values, v[i].nvalues);
	}
	free(v);
}

static int parse_annotation(const json_t *a, const char *what,
			    struct api_annotation *out)
{
	struct api_annotation an = {.parent_id = -1};
	const json_t *link = json_object_get(a, "link");
	const json_t *parent = json_object_get(link, "parent");
	const json_t *values = json_object_get(a, "values");
	int rc;

	rc = opt_str(a, "ns", what, &an.ns);
	if (rc == 0 && json_is_object(parent)) {
		rc = opt_str(parent, "class", what, &an.parent_class);
		if (rc == 0)
			rc = opt_str(parent, "name", what, &an.parent_name);
		if (rc == 0 && json_object_get(parent, "id") &&
		    !api_json_as_int(json_object_get(parent, "id"),
				     &an.parent_id))
			rc = api_json_bad(what, "link.parent.id",
					  "is not an id");
	}
	if (rc == 0 && !json_is_array(values))
		rc = api_json_bad(what, "values", "is not a list");
	if (rc == 0 && json_array_size(values) > 0) {
		an.values = calloc(json_array_size(values), sizeof(*an.values));
		if (!an.values)
			rc = -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < json_array_size(values); i++) {
		const json_t *pair = json_array_get(values, i);
		const json_t *k = json_array_get(pair, 0);
		const json_t *v = json_array_get(pair, 1);
		struct api_kv *kv = &an.values[an.nvalues];

		if (!json_is_array(pair) || json_array_size(pair) != 2 ||
		    !json_is_string(k) || !json_is_string(v)) {
			rc = api_json_bad(what, "values[]",
					  "is not a [key, value] pair");
			break;
		}
		kv->key = api_json_strdup(k, what, "values[][0]");
		kv->value = api_json_strdup(v, what, "values[][1]");
		kv->ns = an.ns ? strdup(an.ns) : NULL;
		an.nvalues++;
		if (!kv->key || !kv->value || (an.ns && !kv->ns))
			rc = -ENOMEM;
	}
	if (rc < 0) {
		free(an.ns);
		free(an.parent_class);
		free(an.parent_name);
		api_kvs_free(an.values, an.nvalues);
		return rc;
	}
	*out = an;
	return 0;
}

/* annotations[]: map annotations kept, other classes skipped */
static int annotation_item(const json_t *a, const char *what, void *slot)
{
	const json_t *cls = json_object_get(a, "class");

	if (!json_is_object(a))
		return api_json_bad(what, "annotations[]", "is not an object");
	if (cls && !json_is_string(cls))
		return api_json_bad(what, "annotations[].class",
				    "is not a string");
	if (cls && strcmp(json_string_value(cls), "MapAnnotationI"))
		return 1;
	return parse_annotation(a, what, slot);
}

static void free_annotations(void *v, size_t n)
{
	api_annotations_free(v, n);
}

int api_json_map_annotations(const char *body, size_t len, const char *what,
			     struct api_annotation **out, size_t *n)
{
	return api_json_list(body, len, what, JSON_DECODE_ANY, "annotations",
			     sizeof(**out), annotation_item, free_annotations,
			     (void **)out, n);
}

/* ---- search engine ---- */

void api_hit_release(struct api_hit *h)
{
	if (!h)
		return;
	free(h->name);
	api_kvs_free(h->kvs, h->nkvs);
	memset(h, 0, sizeof(*h));
}

void api_hits_free(struct api_hit *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		api_hit_release(&v[i]);
	free(v);
}

void api_se_page_release(struct api_se_page *p)
{
	if (!p)
		return;
	api_hits_free(p->hits, p->n);
	memset(p, 0, sizeof(*p));
}

/* key_values: [{"index", "name", "value"}]; null names are left out. */
static int parse_key_values(const json_t *kvs, const char *what,
			    struct api_hit *h)
{
	if (!json_is_array(kvs))
		return api_json_bad(what, "key_values", "is not a list");
	h->has_kvs = true;
	if (json_array_size(kvs) == 0)
		return 0;
	h->kvs = calloc(json_array_size(kvs), sizeof(*h->kvs));
	if (!h->kvs)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(kvs); i++) {
		const json_t *e = json_array_get(kvs, i);
		const json_t *idx = json_object_get(e, "index");
		struct api_kv kv = {0};
		int64_t ignored;
		int rc;

		if (!json_is_object(e))
			return api_json_bad(what, "key_values[]",
					    "is not an object");
		if (idx && !json_is_null(idx) &&
		    !api_json_as_int(idx, &ignored))
			return api_json_bad(what, "key_values[].index",
					    "is not an integer");
		rc = opt_str(e, "name", what, &kv.key);
		if (rc == 0)
			rc = opt_str(e, "value", what, &kv.value);
		if (rc < 0 || !kv.key || !kv.value) {
			/* the placeholder of an image without key/values */
			free(kv.key);
			free(kv.value);
			if (rc < 0)
				return rc;
			continue;
		}
		h->kvs[h->nkvs++] = kv;
	}
	return 0;
}

static int parse_hit(const json_t *o, const char *what, struct api_hit *out)
{
	struct api_hit h = {0};
	const json_t *kvs;
	int rc;

	if (!json_is_object(o))
		return api_json_bad(what, "results[]", "is not an object");
	if (!api_json_as_int(json_object_get(o, "id"), &h.id) || h.id < 0)
		return api_json_bad(what, "results[].id", "is not an id");
	rc = opt_str(o, "name", what, &h.name);
	if (rc == 0)
		rc = opt_id(o, "project_id", what, &h.project_id);
	if (rc == 0)
		rc = opt_id(o, "dataset_id", what, &h.dataset_id);
	if (rc == 0)
		rc = opt_id(o, "screen_id", what, &h.screen_id);
	if (rc == 0)
		rc = opt_id(o, "plate_id", what, &h.plate_id);
	if (rc == 0)
		rc = opt_id(o, "well_id", what, &h.well_id);
	kvs = json_object_get(o, "key_values");
	if (rc == 0 && kvs && !json_is_null(kvs))
		rc = parse_key_values(kvs, what, &h);
	if (rc < 0) {
		api_hit_release(&h);
		return rc;
	}
	*out = h;
	return 0;
}

/* api_json_se_page(), giving up at @p until (api_json_load_until()). */
static int se_page(const char *body, size_t len, const char *what,
		   uint64_t until, struct api_se_page *out)
{
	struct api_se_page p = {.size = -1, .bookmark = -1};
	json_t *root = NULL;
	const json_t *res, *list, *bm, *size;
	int rc;

	rc = api_json_load_until(body, len, what, JSON_DECODE_ANY, until,
				 &root);
	if (rc < 0)
		return rc;
	rc = engine_error(root, what);
	if (rc < 0)
		goto out;
	if (!json_is_object(root)) {
		rc = api_json_bad(what, "(answer)", "is not an object");
		goto out;
	}
	res = json_object_get(root, "results");
	if (json_is_array(res)) {
		/* no hits, or past the last page: a list, not an object */
		if (json_array_size(res) != 0)
			rc = api_json_bad(what, "results",
					  "is a non-empty list");
		goto done;
	}
	if (!json_is_object(res)) {
		rc = api_json_bad(what, "results", "is missing");
		goto out;
	}
	list = json_object_get(res, "results");
	if (!json_is_array(list)) {
		rc = api_json_bad(what, "results.results", "is not a list");
		goto out;
	}
	if (json_array_size(list) > API_SE_PAGE_MAX) {
		rc = api_json_bad(what, "results.results",
				  "holds more hits than a page may");
		goto out;
	}
	size = json_object_get(res, "size");
	if (size && !api_json_as_int(size, &p.size)) {
		rc = api_json_bad(what, "results.size", "is not an integer");
		goto out;
	}
	bm = json_object_get(res, "bookmark");
	if (json_is_array(bm) && json_array_size(bm) > 0 &&
	    !api_json_as_int(json_array_get(bm, 0), &p.bookmark))
		p.bookmark = -1; /* random_results: a float; not a bookmark */
	p.hits = calloc(json_array_size(list) + 1, sizeof(*p.hits));
	if (!p.hits) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		rc = parse_hit(json_array_get(list, i), what, &p.hits[p.n]);
		if (rc < 0)
			goto out;
		p.n++;
	}
done:
	if (rc == 0) {
		*out = p;
		memset(&p, 0, sizeof(p));
	}
out:
	api_se_page_release(&p);
	json_decref(root);
	return rc;
}

void api_se_values_free(struct api_se_value *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].key);
		free(v[i].value);
	}
	free(v);
}

int api_json_se_values(const char *body, size_t len, const char *what,
		       struct api_se_value **out, size_t *n)
{
	struct api_se_value *v = NULL;
	json_t *root = NULL;
	const json_t *data;
	size_t count = 0;
	int rc;

	rc = api_json_load(body, len, what, JSON_DECODE_ANY, &root);
	if (rc < 0)
		return rc;
	rc = engine_error(root, what);
	if (rc < 0)
		goto out;
	data = json_object_get(root, "data");
	if (!json_is_array(data)) {
		rc = api_json_bad(what, "data", "is not a list");
		goto out;
	}
	v = calloc(json_array_size(data) + 1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(data); i++) {
		const json_t *e = json_array_get(data, i);
		const json_t *val = json_object_get(e, "Value");
		const json_t *cnt = json_object_get(e, "Number of images");
		struct api_se_value sv = {.count = -1};

		if (!json_is_object(e)) {
			rc = api_json_bad(what, "data[]", "is not an object");
			goto out;
		}
		if (!json_is_string(val)) {
			rc = api_json_bad(what, "data[].Value",
					  "is not a string");
			goto out;
		}
		if (cnt && !api_json_as_int(cnt, &sv.count)) {
			rc = api_json_bad(what, "data[].Number of images",
					  "is not an integer");
			goto out;
		}
		if (json_string_length(val) == 0)
			continue;
		rc = opt_str(e, "Key", what, &sv.key);
		if (rc < 0)
			goto out;
		sv.value = api_json_strdup(val, what, "data[].Value");
		v[count++] = sv;
		if (!sv.value) {
			rc = -ENOMEM;
			goto out;
		}
	}
	*out = v;
	*n = count;
	v = NULL;
	count = 0;
out:
	api_se_values_free(v, count);
	json_decref(root);
	return rc;
}

int api_json_se_keys(const char *body, size_t len, const char *what,
		     char ***keys, size_t *n)
{
	char **v = NULL;
	size_t count = 0, total = 0;
	json_t *root = NULL;
	int rc;

	rc = api_json_load(body, len, what, JSON_DECODE_ANY, &root);
	if (rc < 0)
		return rc;
	rc = engine_error(root, what);
	if (rc < 0)
		goto out;
	if (!json_is_array(root)) {
		rc = api_json_bad(what, "(answer)", "is not a list");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(root); i++) {
		const json_t *img =
			json_object_get(json_array_get(root, i), "image");

		if (!json_is_object(json_array_get(root, i))) {
			rc = api_json_bad(what, "[]", "is not an object");
			goto out;
		}
		if (img && !json_is_array(img)) {
			rc = api_json_bad(what, "[].image", "is not a list");
			goto out;
		}
		total += img ? json_array_size(img) : 0;
	}
	v = calloc(total + 1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(root); i++) {
		const json_t *img =
			json_object_get(json_array_get(root, i), "image");

		for (size_t j = 0; img && j < json_array_size(img); j++) {
			const json_t *k = json_array_get(img, j);

			if (!json_is_string(k)) {
				rc = api_json_bad(what, "[].image[]",
						  "is not a string");
				goto out;
			}
			v[count] = api_json_strdup(k, what, "[].image[]");
			if (!v[count]) {
				rc = -ENOMEM;
				goto out;
			}
			count++;
		}
	}
	*keys = v;
	*n = count;
	v = NULL;
	count = 0;
out:
	api_strings_free(v, count);
	json_decref(root);
	return rc;
}

/* ---- mapr ---- */

void api_mapr_menus_free(struct api_mapr_menu *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].name);
	free(v);
}

int api_json_mapr_config(const char *body, size_t len, const char *what,
			 struct api_mapr_menu **out, size_t *n)
{
	struct api_mapr_menu *v = NULL;
	json_t *root = NULL;
	const char *name;
	json_t *cfg;
	size_t count = 0;
	int rc;

	rc = api_json_load(body, len, what, JSON_DECODE_ANY, &root);
	if (rc < 0)
		return rc;
	if (!json_is_object(root)) {
		rc = api_json_bad(what, "(answer)", "is not an object");
		goto out;
	}
	v = calloc(json_object_size(root) + 1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	json_object_foreach(root, name, cfg)
	{
		const json_t *wild = json_object_get(cfg, "wildcard");

		if (!json_is_object(cfg)) {
			rc = api_json_bad(what, name, "is not an object");
			goto out;
		}
		v[count].name = strdup(name);
		if (!v[count].name) {
			rc = -ENOMEM;
			goto out;
		}
		v[count].wildcard =
			json_is_true(json_object_get(wild, "enabled"));
		count++;
	}
	*out = v;
	*n = count;
	v = NULL;
	count = 0;
out:
	api_mapr_menus_free(v, count);
	json_decref(root);
	return rc;
}

/* maps[]: {"id": value, "extra": {"counter": N}}; an empty value is
 * skipped */
static int map_item(const json_t *m, const char *what, void *slot)
{
	const json_t *id = json_object_get(m, "id");
	const json_t *cnt =
		json_object_get(json_object_get(m, "extra"), "counter");
	struct api_se_value sv = {.count = -1};

	if (!json_is_object(m) || !json_is_string(id))
		return api_json_bad(what, "maps[].id", "is not a string");
	if (cnt && !api_json_as_int(cnt, &sv.count))
		return api_json_bad(what, "maps[].extra.counter",
				    "is not an integer");
	if (json_string_length(id) == 0)
		return 1;
	sv.value = api_json_strdup(id, what, "maps[].id");
	if (!sv.value)
		return -ENOMEM;
	*(struct api_se_value *)slot = sv;
	return 0;
}

static void free_values(void *v, size_t n)
{
	api_se_values_free(v, n);
}

int api_json_mapr_maps(const char *body, size_t len, const char *what,
		       struct api_se_value **out, size_t *n)
{
	return api_json_list(body, len, what, JSON_DECODE_ANY, "maps",
			     sizeof(**out), map_item, free_values, (void **)out,
			     n);
}

/* {"id": N, "name": "..."}, as mapr's containers and images are */
static int id_and_name(const json_t *c, const char *what, const char *field,
		       int64_t *id, char **name)
{
	if (!json_is_object(c) ||
	    !api_json_as_int(json_object_get(c, "id"), id) || *id < 0)
		return api_json_bad(what, field, "is not an id");
	return opt_str(c, "name", what, name);
}

/* projects[], screens[], plates[] */
static int container_item(const json_t *c, const char *what, void *slot)
{
	struct api_container ct = {.child_count = -1};
	int rc = id_and_name(c, what, "[].id", &ct.id, &ct.name);

	if (rc == 0)
		*(struct api_container *)slot = ct;
	return rc;
}

static void free_containers(void *v, size_t n)
{
	api_containers_free(v, n);
}

int api_json_mapr_containers(const char *body, size_t len, const char *what,
			     const char *list, struct api_container **out,
			     size_t *n)
{
	return api_json_list(body, len, what, JSON_DECODE_ANY, list,
			     sizeof(**out), container_item, free_containers,
			     (void **)out, n);
}

/* images[] */
static int image_item(const json_t *c, const char *what, void *slot)
{
	struct api_hit h = {0};
	int rc = id_and_name(c, what, "images[].id", &h.id, &h.name);

	if (rc == 0)
		*(struct api_hit *)slot = h;
	return rc;
}

static void free_hits(void *v, size_t n)
{
	api_hits_free(v, n);
}

int api_json_mapr_images(const char *body, size_t len, const char *what,
			 struct api_hit **out, size_t *n)
{
	return api_json_list(body, len, what, JSON_DECODE_ANY, "images",
			     sizeof(**out), image_item, free_hits, (void **)out,
			     n);
}

/* ---- accepts (http.h) for the search module's requests ---- */

/* Keep a list a parser made, only on success. */
static int list_taken(int rc, void *v, size_t n, struct api_answer_list *out)
{
	if (rc == 0) {
		out->v = v;
		out->n = n;
	}
	return rc;
}

int api_accept_json(const struct http_req *r, void *unused)
{
	json_t *root = NULL;
	int rc = api_json_load(r->body, r->len, r->url, JSON_DECODE_ANY, &root);

	(void)unused;
	json_decref(root);
	return rc;
}

int api_accept_se_keys(const struct http_req *r, void *list)
{
	char **v = NULL;
	size_t n = 0;

	int rc = api_json_se_keys(r->body, r->len, r->url, &v, &n);

	return list_taken(rc, v, n, list);
}

int api_accept_se_values(const struct http_req *r, void *list)
{
	struct api_se_value *v = NULL;
	size_t n = 0;

	int rc = api_json_se_values(r->body, r->len, r->url, &v, &n);

	return list_taken(rc, v, n, list);
}

int api_json_se_page(const char *body, size_t len, const char *what,
		     struct api_se_page *out)
{
	return se_page(body, len, what, 0, out);
}

int api_accept_se_page(const struct http_req *r, void *page)
{
	/* pages of 1000 hits and more: the biggest answers parsed */
	return se_page(r->body, r->len, r->url, r->parse_until, page);
}

int api_accept_map_annotations(const struct http_req *r, void *list)
{
	struct api_annotation *v = NULL;
	size_t n = 0;

	int rc = api_json_map_annotations(r->body, r->len, r->url, &v, &n);

	return list_taken(rc, v, n, list);
}

int api_accept_mapr_config(const struct http_req *r, void *list)
{
	struct api_mapr_menu *v = NULL;
	size_t n = 0;

	int rc = api_json_mapr_config(r->body, r->len, r->url, &v, &n);

	return list_taken(rc, v, n, list);
}

int api_accept_mapr_maps(const struct http_req *r, void *list)
{
	struct api_se_value *v = NULL;
	size_t n = 0;

	int rc = api_json_mapr_maps(r->body, r->len, r->url, &v, &n);

	return list_taken(rc, v, n, list);
}

int api_accept_mapr_containers(const struct http_req *r, void *list)
{
	struct api_answer_list *l = list;
	struct api_container *v = NULL;
	size_t n = 0;

	int rc = api_json_mapr_containers(r->body, r->len, r->url, l->list, &v,
					  &n);

	return list_taken(rc, v, n, list);
}

int api_accept_mapr_studies(const struct http_req *r, void *studies)
{
	struct api_mapr_studies *out = studies;
	struct api_container *sc = NULL, *pr = NULL;
	size_t nsc = 0, npr = 0;
	int rc;

	rc = api_json_mapr_containers(r->body, r->len, r->url, "screens", &sc,
				      &nsc);
	if (rc < 0)
		return rc;
	rc = api_json_mapr_containers(r->body, r->len, r->url, "projects", &pr,
				      &npr);
	if (rc < 0) {
		api_containers_free(sc, nsc);
		return rc;
	}
	*out = (struct api_mapr_studies){sc, nsc, pr, npr};
	return 0;
}

int api_accept_mapr_images(const struct http_req *r, void *list)
{
	struct api_hit *v = NULL;
	size_t n = 0;

	int rc = api_json_mapr_images(r->body, r->len, r->url, &v, &n);

	return list_taken(rc, v, n, list);
}
