/* SPDX-License-Identifier: MIT */
/* Unit tests of the tree: names, inode numbers, listings, TTL, failures. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cmocka.h>

#include "idrfs/api.h"
#include "idrfs/cache.h"
#include "idrfs/http.h"
#include "idrfs/log.h"
#include "idrfs/search.h"
#include "idrfs/tiff.h"
#include "idrfs/tree.h"

#include "../src/tree_int.h"

/* A fake remote: answers JSON API URLs from a small in-memory archive. */
struct fake {
	pthread_mutex_t lock;
	unsigned requests;
	int fail;	   /* when set, every request fails with this */
	unsigned delay_ms; /* per request */
	unsigned dataset_images;
	bool dup_names;
	/* search engine and annotations (the ontology views) */
	const char *fail_on;   /* URLs with this in them fail ... */
	int fail_on_rc;	       /* ... with this error, or */
	const char *fail_body; /* ... answer this (with fail_ctype) */
	const char *fail_ctype;
	unsigned se_requests; /* of the search engine */
	unsigned kv_requests; /* of /webclient/api/annotations/ */
	/* hostile answers */
	const char *const *ds_names; /* more datasets of project 11 (22..) */
	size_t nds;
	const char *const *img_names; /* names of dataset 21's images */
	bool reverse;		      /* send listings backwards */
	unsigned kv_flood;	      /* image 1000: that many more pairs */
	const char *orig_json;	      /* original_file_paths of 1003 */
};

static char *json_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* quoted: name is a JSON string already */
static char *image_json(int64_t id, const char *name, bool zarr, bool quoted)
{
	return json_printf(
		"{\"@id\": %" PRId64 ", \"Name\": %s%s%s, "
		"\"omero:details\": {%s}, "
		"\"Pixels\": {\"SizeX\": 64, \"SizeY\": 48, \"SizeZ\": 3, "
		"\"SizeC\": 2, \"SizeT\": 1, \"Type\": {\"value\": "
		"\"uint16\"}, "
		"\"PhysicalSizeX\": {\"Value\": 0.5, \"Unit\": "
		"\"MICROMETER\"}}%s}",
		id, quoted ? "" : "\"", name, quoted ? "" : "\"",
		zarr ? "\"externalInfo\": {\"Lsid\": "
		       "\"s3://h/b/x.zarr?anonymous=true\"}"
		     : "",
		id == 1003 ? ", \"AcquisitionDate\": 1500000000000" : "");
}

static char *page(char **items, size_t n, size_t total, size_t offset)
{
	size_t len = 64;
	char *s, *p;

	for (size_t i = 0; i < n; i++)
		len += strlen(items[i]) + 2;
	len += 200;
	s = malloc(len);
	assert_non_null(s);
	p = s;
	p += snprintf(p, len - (size_t)(p - s), "{\"data\": [");
	for (size_t i = 0; i < n; i++) {
		p += snprintf(p, len - (size_t)(p - s), "%s%s", i ? ", " : "",
			      items[i]);
		free(items[i]);
	}
	snprintf(p, len - (size_t)(p - s),
		 "], \"meta\": {\"offset\": %zu, \"limit\": 1000, "
		 "\"maxLimit\": 1000, \"totalCount\": %zu}}",
		 offset, total);
	return s;
}

/* A page, backwards when the fake says so (servers shuffle). */
static char *page_order(const struct fake *f, char **items, size_t n,
			size_t total, size_t offset)
{
	for (size_t i = 0; f->reverse && i < n / 2; i++) {
		char *x = items[i];

		items[i] = items[n - 1 - i];
		items[n - 1 - i] = x;
	}
	return page(items, n, total, offset);
}

/* ---- the search engine and annotations of the fake ---- */

/* Key/values of images; entries with the same ann form one map
 * annotation. "HUGE" stands for a 300-byte value. */
static const struct vkv {
	int64_t image;
	const char *key;
	const char *value;
	int ann;
} vkvs[] = {
	{1000, "Gene Symbol", "ABC1", 1},
	{1000, "Phenotype Term Name",
	 "increased actin localised to the nucleus", 2},
	{1000, "Phenotype Term Accession", "CMPO_0000294", 2},
	{1000, "Organism", "bad\001name", 3},
	{1001, "Gene Symbol", "ABC1", 1},
	{1002, "Organism", "HUGE", 4},
	{7001, "Gene Symbol", "w/x", 5},
	{7001, "Organism", "Homo sapiens", 6},
	{7002, "Organism", "Homo sapiens", 6},
	{7002, "Phenotype Term Name",
	 "increased actin localised to the nucleus", 2},
	{7002, "Phenotype Term Accession", "CMPO_0000294", 2},
};

#define NVKVS (sizeof(vkvs) / sizeof(vkvs[0]))

static const char *vkv_value(const struct vkv *e)
{
	static char huge[301];

	if (strcmp(e->value, "HUGE") != 0)
		return e->value;
	memset(huge, 'o', 300);
	return huge;
}

struct jb {
	char *p;
	size_t len, cap;
};

static void jb_add(struct jb *b, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	assert_non_null(s);
	/* doubling: the flood answers are large */
	while (b->len + strlen(s) + 1 > b->cap) {
		b->cap = b->cap ? 2 * b->cap : 256;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, s, strlen(s) + 1);
	b->len += strlen(s);
	free(s);
}

/* A JSON string. */
static void jb_str(struct jb *b, const char *s)
{
	jb_add(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			jb_add(b, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			jb_add(b, "\\u%04x", *s);
		else
			jb_add(b, "%c", *s);
	}
	jb_add(b, "\"");
}

/* A decoded query parameter (the n-th of that name), or NULL. */
static char *qparam(const char *url, const char *name, int nth)
{
	size_t nl = strlen(name);

	for (const char *q = strchr(url, '?'); q; q = strchr(q + 1, '&')) {
		const char *v = q + 1;

		if (strncmp(v, name, nl) != 0 || v[nl] != '=' || nth-- > 0)
			continue;
		char *out = calloc(strlen(v) + 1, 1);
		size_t o = 0;

		for (v += nl + 1; *v && *v != '&'; v++) {
			if (*v == '%' && v[1] && v[2]) {
				char hex[3] = {v[1], v[2], 0};

				out[o++] = (char)strtol(hex, NULL, 16);
				v += 2;
			} else {
				out[o++] = *v;
			}
		}
		return out;
	}
	return NULL;
}

static bool image_has(int64_t image, const char *key, const char *value)
{
	for (size_t i = 0; i < NVKVS; i++) {
		if (vkvs[i].image == image &&
		    strcasecmp(vkvs[i].key, key) == 0 &&
		    strcasecmp(vkv_value(&vkvs[i]), value) == 0)
			return true;
	}
	return false;
}

static void image_doc(struct jb *b, int64_t id)
{
	bool screen = id >= 7000;

	jb_add(b, "{\"id\": %" PRId64 ", \"name\": ", id);
	if (screen)
		jb_str(b, id == 7001 ? "w1" : "w2");
	else
		jb_add(b, "\"img%05" PRId64 "\"", id - 1000);
	if (screen)
		jb_add(b, ", \"project_id\": null, \"screen_id\": 31.0, "
			  "\"plate_id\": 41.0, \"well_id\": 51.0");
	else
		jb_add(b, ", \"project_id\": 11, \"dataset_id\": 21, "
			  "\"screen_id\": null");
	jb_add(b, ", \"key_values\": [");
	for (size_t i = 0, n = 0; i < NVKVS; i++) {
		if (vkvs[i].image != id)
			continue;
		jb_add(b, "%s{\"index\": 0, \"name\": ", n++ ? ", " : "");
		jb_str(b, vkvs[i].key);
		jb_add(b, ", \"value\": ");
		jb_str(b, vkv_value(&vkvs[i]));
		jb_add(b, "}");
	}
	jb_add(b, "]}");
}

static char *view_answer(struct fake *f, const char *url)
{
	struct jb b = {0};

	if (strstr(url, "/searchengine/"))
		f->se_requests++;
	else
		f->kv_requests++;
	if (strstr(url, "/image/keys/")) {
		jb_add(&b, "[{\"data_source\": \"idr\", \"image\": [\"Gene "
			   "Symbol\", \"Organism\", \"Phenotype Term "
			   "Accession\", \"Phenotype Term Name\"]}]");
	} else if (strstr(url, "/searchvaluesusingkey/")) {
		char *key = qparam(url, "key", 0);
		const char *seen[NVKVS];
		size_t ns = 0;

		jb_add(&b, "{\"data\": [");
		for (size_t i = 0; i < NVKVS; i++) {
			char low[400];
			bool dup = false;

			if (strcasecmp(vkvs[i].key, key) != 0)
				continue;
			for (size_t j = 0; j < ns && !dup; j++)
				dup = strcasecmp(seen[j],
						 vkv_value(&vkvs[i])) == 0;
			if (dup)
				continue;
			seen[ns] = vkv_value(&vkvs[i]);
			snprintf(low, sizeof(low), "%s", seen[ns]);
			for (char *c = low; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			jb_add(&b, "%s{\"Key\": ", ns++ ? ", " : "");
			jb_str(&b, vkvs[i].key);
			jb_add(&b, ", \"Number of images\": 1, \"Value\": ");
			jb_str(&b, low);
			jb_add(&b, "}");
		}
		jb_add(&b, "], \"total_number_of_buckets\": %zu}", ns);
		free(key);
	} else if (strstr(url, "/image/search/")) {
		char *key = qparam(url, "key", 0);
		char *value = qparam(url, "value", 0);
		char *bm = qparam(url, "bookmark", 0);
		int64_t last = -1, after = bm ? strtoll(bm, NULL, 10) : -1;
		size_t n = 0;

		jb_add(&b, "{\"results\": ");
		for (int64_t id = 1000; id <= 7002; id++) {
			if (id <= after || !image_has(id, key, value))
				continue;
			jb_add(&b, n++ ? ", " : "{\"results\": [");
			image_doc(&b, id);
			last = id;
		}
		if (n)
			jb_add(&b,
			       "], \"bookmark\": [%" PRId64
			       "], \"size\": %zu}}",
			       last, n);
		else
			jb_add(&b, "[]}");
		free(key);
		free(value);
		free(bm);
	} else if (strstr(url, "/webclient/api/annotations/")) {
		char *project = qparam(url, "project", 0);

		jb_add(&b, "{\"annotations\": [");
		if (project && strcmp(project, "11") == 0)
			jb_add(&b,
			       "{\"class\": \"MapAnnotationI\", \"ns\": "
			       "\"idr.openmicroscopy.org/study/info\", "
			       "\"values\": [[\"Study Title\", \"A test "
			       "study\"], [\"Publication Title\", \"On "
			       "tests\"], [\"Publication Authors\", \"Doe "
			       "J\"], "
			       "[\"Publication DOI\", \"10.1/x "
			       "https://doi.org/10.1/x\"], [\"License\", \"CC "
			       "BY 4.0\"], [\"Release Date\", "
			       "\"2016-05-26\"]]}");
		for (int k = 0; !project; k++) {
			char *img = qparam(url, "image", k);
			int64_t id = img ? strtoll(img, NULL, 10) : -1;

			free(img);
			if (id < 0)
				break;
			for (int ann = 1; ann <= 6; ann++) {
				size_t nv = 0;

				for (size_t i = 0; i < NVKVS; i++) {
					if (vkvs[i].image != id ||
					    vkvs[i].ann != ann)
						continue;
					if (nv++ == 0)
						jb_add(&b,
						       "%s{\"class\": "
						       "\"MapAnnotationI\", "
						       "\"ns\": \"x\", "
						       "\"link\": "
						       "{\"parent\": "
						       "{\"class\": "
						       "\"ImageI\", \"id\": "
						       "%" PRId64
						       "}}, \"values\": [",
						       b.p[b.len - 1] == '['
							       ? ""
							       : ", ",
						       id);
					else
						jb_add(&b, ", ");
					jb_add(&b, "[");
					jb_str(&b, vkvs[i].key);
					jb_add(&b, ", ");
					jb_str(&b, vkv_value(&vkvs[i]));
					jb_add(&b, "]");
				}
				if (nv)
					jb_add(&b, "]}");
			}
			for (unsigned q = 0; id == 1000 && q < f->kv_flood; q++)
				jb_add(&b,
				       "%s{\"class\": \"MapAnnotationI\", "
				       "\"ns\": \"x\", \"link\": {\"parent\": "
				       "{\"class\": \"ImageI\", \"id\": "
				       "1000}}, "
				       "\"values\": [[\"flood key %05u\", "
				       "\"v%u\"]]}",
				       b.p[b.len - 1] == '[' ? "" : ", ", q, q);
		}
		jb_add(&b, "]}");
		free(project);
	}
	return b.p;
}

static char *answer(struct fake *f, const char *url)
{
	char *items[1000];
	size_t n = 0;
	long off = 0;
	const char *o = strstr(url, "offset=");

	if (o)
		off = strtol(o + 7, NULL, 10);
	if (strstr(url, "/api/v0/m/projects/?")) {
		items[n++] = json_printf("{\"@id\": 11, \"Name\": \"idr0001/"
					 "experimentA\"}");
		items[n++] = json_printf("{\"@id\": 12, \"Name\": \"same\"}");
		items[n++] = json_printf("{\"@id\": 13, \"Name\": \"same\"}");
		return page(items, n, n, 0);
	}
	if (strstr(url, "/api/v0/m/projects/11/datasets/")) {
		items[n++] = json_printf("{\"@id\": 21, \"Name\": \"ds\"}");
		for (size_t i = 0; i < f->nds; i++) {
			struct jb b = {0};

			jb_add(&b, "{\"@id\": %zu, \"Name\": ", 22 + i);
			jb_str(&b, f->ds_names[i]);
			jb_add(&b, "}");
			items[n++] = b.p;
		}
		return page_order(f, items, n, n, 0);
	}
	if (strstr(url, "/api/v0/m/datasets/21/images/")) {
		size_t total = f->dataset_images;

		for (size_t i = (size_t)off; i < total && n < 1000; i++) {
			char name[32];
			struct jb b = {0};

			snprintf(name, sizeof(name), "%s%05zu",
				 f->dup_names && i < 3 ? "dup" : "img",
				 f->dup_names && i < 3 ? (size_t)0 : i);
			if (f->img_names)
				jb_str(&b, f->img_names[i]);
			items[n++] =
				image_json(1000 + (int64_t)i, b.p ? b.p : name,
					   i != 1, b.p != NULL);
			free(b.p);
		}
		return page_order(f, items, n, total, (size_t)off);
	}
	if (strstr(url, "/api/v0/m/screens/?"))
		return json_printf("{\"data\": [{\"@id\": 31, \"Name\": "
				   "\"scr\"}], \"meta\": {\"offset\": 0, "
				   "\"limit\": 1000, \"maxLimit\": 1000, "
				   "\"totalCount\": 1}}");
	if (strstr(url, "/api/v0/m/screens/31/plates/"))
		return json_printf("{\"data\": [{\"@id\": 41, \"Name\": "
				   "\"plate\", \"RowNamingConvention\": "
				   "\"letter\", \"ColumnNamingConvention\": "
				   "\"number\"}], \"meta\": {\"offset\": 0, "
				   "\"limit\": 1000, \"maxLimit\": 1000, "
				   "\"totalCount\": 1}}");
	if (strstr(url, "/api/v0/m/plates/41/wells/"))
		return json_printf(
			"{\"data\": [{\"@id\": 51, \"Row\": 0, \"Column\": 0, "
			"\"WellSamples\": [{\"Image\": {\"@id\": 7001, "
			"\"Name\": \"w1\"}}, {\"Image\": "
			"{\"@id\": 7002, \"Name\": \"w2\"}}]}, {\"@id\": 52, "
			"\"Row\": 7, \"Column\": 11}], \"meta\": {\"offset\": "
			"0, "
			"\"limit\": 1000, \"maxLimit\": 1000, "
			"\"totalCount\": 2}}");
	if (strstr(url, "/searchengine/") || strstr(url, "/annotations/"))
		return view_answer(f, url);
	if (strstr(url, "/webgateway/original_file_paths/1000/"))
		return json_printf(
			"{\"repo\": [], \"fileset\": {\"id\": 9}, \"client\": "
			"[\"uod/idr/filesets/s/run/a.ome\", "
			"\"uod/idr/filesets/s/run/data/b.tif\"]}");
	if (f->orig_json &&
	    strstr(url, "/webgateway/original_file_paths/1003/"))
		return strdup(f->orig_json);
	if (strstr(url, "/webgateway/original_file_paths/1001/"))
		return json_printf("{\"client\": [\"uod/idr/filesets/s/../"
				   "../etc/passwd\"]}");
	if (strstr(url, "/webgateway/original_file_paths/"))
		return json_printf("{}");
	if (strstr(url, "http://root/"))
		return json_printf("");
	if (strstr(url, "/api/v0/m/wells/52/"))
		return json_printf("{\"data\": {\"@id\": 52, \"Row\": 7, "
				   "\"Column\": 11}}");
	if (strstr(url, "/api/v0/m/wells/51/")) {
		char *a = image_json(7001, "w1", true, false);
		char *b = image_json(7002, "w2", false, false);
		char *s = json_printf(
			"{\"data\": {\"@id\": 51, \"Row\": 0, \"Column\": 0, "
			"\"WellSamples\": [{\"Image\": %s}, {\"Image\": %s}]}}",
			a, b);

		free(a);
		free(b);
		return s;
	}
	return NULL;
}

static int fake_fetch(void *ctx, struct http_req *reqs, size_t n,
		      uint64_t deadline)
{
	struct fake *f = ctx;
	int rc = 0;

	(void)deadline;
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&f->lock);
		f->requests++;
		int fail = f->fail;
		pthread_mutex_unlock(&f->lock);
		if (f->delay_ms)
			usleep(f->delay_ms * 1000);
		reqs[i].content_type[0] = '\0';
		if (!fail && f->fail_on && strstr(reqs[i].url, f->fail_on)) {
			fail = f->fail_on_rc;
			if (!fail) {
				reqs[i].body = strdup(f->fail_body);
				snprintf(reqs[i].content_type,
					 sizeof(reqs[i].content_type), "%s",
					 f->fail_ctype ? f->fail_ctype : "");
				reqs[i].rc = 0;
				reqs[i].len = strlen(reqs[i].body);
				reqs[i].content_length = -1;
				continue;
			}
		}
		reqs[i].body = fail ? NULL : answer(f, reqs[i].url);
		reqs[i].rc = fail ? fail : reqs[i].body ? 0 : -ENOENT;
		reqs[i].len = reqs[i].body ? strlen(reqs[i].body) : 0;
		/* HEAD of an original file: its size from its URL */
		reqs[i].content_length =
			reqs[i].head ? (int64_t)strlen(reqs[i].url) : -1;
		if (reqs[i].rc < 0 && rc == 0)
			rc = reqs[i].rc;
	}
	return rc;
}

struct fixture {
	struct fake fake;
	struct api *api;
	struct search *search;
	struct tree *tree;
};

static int setup_ttl(void **state, unsigned ttl)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct api_transport tr = {.fetch = fake_fetch};
	struct tree_config tc = {.remote_url = "http://fake",
				 .ttl_s = ttl,
				 .originals_root = "http://root"};

	pthread_mutex_init(&fx->fake.lock, NULL);
	fx->fake.dataset_images = 5;
	tr.ctx = &fx->fake;
	assert_int_equal(api_new("http://fake/", &tr, &fx->api), 0);
	assert_int_equal(tree_new(fx->api, &tc, &fx->tree), 0);
	*state = fx;
	return 0;
}

static int setup(void **state)
{
	return setup_ttl(state, 3600);
}

/* A tree with by-* menus over the fake's search engine. */
static int setup_view(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct api_transport tr = {.fetch = fake_fetch};
	struct search_config sc = {.backend = SEARCH_AUTO, .retry_ms = 50};
	struct tree_config tc = {.remote_url = "http://fake",
				 .ttl_s = 3600,
				 .originals_root = "http://root"};

	pthread_mutex_init(&fx->fake.lock, NULL);
	fx->fake.dataset_images = 5;
	tr.ctx = &fx->fake;
	assert_int_equal(api_new("http://fake/", &tr, &fx->api), 0);
	assert_int_equal(search_new(fx->api, &sc, &fx->search), 0);
	tc.search = fx->search;
	assert_int_equal(tree_new(fx->api, &tc, &fx->tree), 0);
	*state = fx;
	return 0;
}

static int setup_ttl0(void **state)
{
	return setup_ttl(state, 0);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	tree_free(fx->tree);
	search_free(fx->search);
	api_free(fx->api);
	pthread_mutex_destroy(&fx->fake.lock);
	free(fx);
	return 0;
}

/* Resolve a path from the root; returns the lookup rc. */
static int walk(struct tree *t, const char *path, struct tree_attr *a)
{
	char buf[1024];
	uint64_t ino = TREE_ROOT_INO;
	char *save = NULL;
	int rc = 0;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *c = strtok_r(buf, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		rc = tree_lookup(t, ino, c, UINT64_MAX, a);
		if (rc < 0)
			return rc;
		ino = a->ino;
	}
	return rc;
}

static void test_tree_sanitize(void **state)
{
	char out[TREE_NAME_MAX + 1];

	(void)state;
	/* '/', control characters and DEL become '_' */
	tree_sanitize_name("a/b\tc\x01\x7f", out, TREE_NAME_MAX);
	assert_string_equal(out, "a_b_c__");
	/* "." and ".." cannot be names */
	tree_sanitize_name(".", out, TREE_NAME_MAX);
	assert_string_equal(out, "_");
	tree_sanitize_name("..", out, TREE_NAME_MAX);
	assert_string_equal(out, "__");
	/* other dot names are kept */
	tree_sanitize_name("...", out, TREE_NAME_MAX);
	assert_string_equal(out, "...");
	/* empty becomes a word */
	tree_sanitize_name("", out, TREE_NAME_MAX);
	assert_string_equal(out, "unnamed");
	/* invalid UTF-8 and C1 controls become '_', valid UTF-8 is kept */
	tree_sanitize_name("\xff\xc2\x85x\xc3\xbc", out, TREE_NAME_MAX);
	assert_string_equal(out, "__x\xc3\xbc");
	/* cut at a UTF-8 boundary: 3 bytes allowed, "ü" would be split */
	tree_sanitize_name("ab\xc3\xbc", out, 3);
	assert_string_equal(out, "ab");
	/* long names are cut to max */
	char longname[600];

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(tree_sanitize_name(longname, out, TREE_NAME_MAX),
			 TREE_NAME_MAX);
}

/* fuzz_name found it: ".hidden" cut to 1 byte was "." */
static void test_tree_sanitize_cut_dots(void **state)
{
	char out[TREE_NAME_MAX + 1];

	(void)state;
	/* a cut never leaves "." or ".." */
	assert_int_equal(tree_sanitize_name(".hidden", out, 1), 1);
	assert_string_equal(out, "_");
	assert_int_equal(tree_sanitize_name("..x", out, 2), 2);
	assert_string_equal(out, "_.");
	/* dot names longer than the cut are kept as they are */
	tree_sanitize_name(".x", out, 2);
	assert_string_equal(out, ".x");
}

static void test_tree_well_names(void **state)
{
	char out[32];

	(void)state;
	/* letter rows, number columns: A01 .. H12, AA after Z */
	tree_well_name(0, 0, true, false, out, sizeof(out));
	assert_string_equal(out, "A01");
	tree_well_name(7, 11, true, false, out, sizeof(out));
	assert_string_equal(out, "H12");
	tree_well_name(26, 0, true, false, out, sizeof(out));
	assert_string_equal(out, "AA01");
	/* both numbers need a separator */
	tree_well_name(2, 3, false, false, out, sizeof(out));
	assert_string_equal(out, "03-04");
}

static void test_tree_root(void **state)
{
	struct fixture *fx = *state;
	struct tree_dir *d = NULL;
	char buf[64];

	/* the root is fixed and costs no request */
	assert_int_equal(tree_opendir(fx->tree, TREE_ROOT_INO, UINT64_MAX, &d),
			 0);
	assert_int_equal(d->n, 5);
	assert_string_equal(d->ents[0].name, "README.txt");
	assert_string_equal(d->ents[1].name, "originals");
	assert_string_equal(d->ents[2].name, "projects");
	assert_string_equal(d->ents[3].name, "screens");
	assert_string_equal(d->ents[4].name, "zarr");
	assert_false(d->ents[0].attr.is_dir);
	assert_true(d->ents[1].attr.is_dir);
	tree_dir_free(d);
	assert_int_equal(fx->fake.requests, 0);
	/* README.txt names the remote and is readable at any offset */
	assert_true(tree_read(fx->tree, 2, 0, 0, sizeof(buf), buf, UINT64_MAX) >
		    0);
	assert_memory_equal(buf, "idrfs: http://fake,", 19);
	assert_int_equal(
		tree_read(fx->tree, 2, 0, 1u << 20, 10, buf, UINT64_MAX), 0);
}

static void test_tree_names_unique(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;

	/* a '/' in a project name becomes '_'; equal names all get (id) */
	assert_int_equal(walk(fx->tree, "projects", &a), 0);
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	assert_int_equal(d->n, 3);
	assert_string_equal(d->ents[0].name, "idr0001_experimentA");
	assert_string_equal(d->ents[1].name, "same (12)");
	assert_string_equal(d->ents[2].name, "same (13)");
	tree_dir_free(d);
	assert_int_equal(walk(fx->tree, "projects/same (13)", &a), 0);
	assert_int_equal(walk(fx->tree, "projects/same", &a), -ENOENT);
}

static void test_tree_images(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a, b;
	struct tiff_layout l;
	struct tiff_geom g = {.x = 64,
			      .y = 48,
			      .c = 2,
			      .z = 3,
			      .t = 1,
			      .bps = 2,
			      .samples = 1};
	struct tiff_geom rg = {.x = 64,
			       .y = 48,
			       .c = 2,
			       .z = 3,
			       .t = 1,
			       .bps = 1,
			       .samples = 3};
	char buf[16];

	/* an image with a Zarr source is <name>.tif, sized from metadata */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img00000.tif",
			      &a),
			 0);
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_false(a.is_dir);
	assert_int_equal(a.size, l.size);
	/* the inode is the object's identity */
	assert_int_equal(a.ino & ((1ull << 56) - 1), 1000);
	/* one without is only rendered: .rendered.tif, 8-bit RGB size */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img00001.rendered.tif",
			      &b),
			 0);
	assert_int_equal(tiff_layout_compute(&rg, &l), 0);
	assert_int_equal(b.size, l.size);
	/* pixel reads are not served yet: EIO, not garbage */
	assert_int_equal(
		tree_read(fx->tree, a.ino, 0, 0, sizeof(buf), buf, UINT64_MAX),
		-EIO);
	/* getattr agrees with lookup */
	assert_int_equal(tree_getattr(fx->tree, a.ino, &b), 0);
	assert_int_equal(b.size, a.size);
}

static void test_tree_duplicate_images(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;

	fx->fake.dup_names = true;
	/* three images named "dup" get their ids, the rest keep names */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "dup00000 (1000).tif",
			      &a),
			 0);
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "dup00000 (1002).tif",
			      &a),
			 0);
	/* stems are compared too (originals/ shows an image by its stem):
	 * a .rendered.tif with the same stem gets its id as well */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "dup00000 (1001).rendered.tif",
			      &a),
			 0);
	assert_int_equal(walk(fx->tree,
			      "originals/projects/idr0001_experimentA/ds/"
			      "dup00000 (1001)",
			      &a),
			 0);
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img00004.tif",
			      &a),
			 0);
}

static void test_tree_inodes_stable(void **state)
{
	struct fixture *fx = *state;
	struct tree_config tc = {.remote_url = "x", .ttl_s = 60};
	struct tree *t2 = NULL;
	struct tree_attr a, b;

	/* a second tree (a remount) gives every object the same inode */
	assert_int_equal(tree_new(fx->api, &tc, &t2), 0);
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img00003.tif",
			      &a),
			 0);
	assert_int_equal(walk(t2,
			      "projects/idr0001_experimentA/ds/"
			      "img00003.tif",
			      &b),
			 0);
	assert_int_equal(a.ino, b.ino);
	assert_int_equal(walk(fx->tree, "projects/idr0001_experimentA", &a), 0);
	assert_int_equal(walk(t2, "projects/idr0001_experimentA", &b), 0);
	assert_int_equal(a.ino, b.ino);
	tree_free(t2);
}

static void test_tree_listing_cost(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;

	/* 2 500 images: projects, datasets, then 3 pages of 1000 */
	fx->fake.dataset_images = 2500;
	assert_int_equal(walk(fx->tree, "projects/idr0001_experimentA/ds", &a),
			 0);
	fx->fake.requests = 0;
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	/* each image's .tif, the .ome.tif of the raw ones (all but one),
	 * and images.tsv: no per-image directory */
	assert_int_equal(d->n, 5000);
	assert_int_equal(fx->fake.requests, 3);
	tree_dir_free(d);
	/* within the TTL, listing and lookups cost nothing */
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	tree_dir_free(d);
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img02499.tif",
			      &a),
			 0);
	assert_int_equal(fx->fake.requests, 3);
}

static void test_tree_ttl_and_stale(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;

	/* TTL 0: every listing refetches */
	assert_int_equal(walk(fx->tree, "projects", &a), 0);
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	tree_dir_free(d);
	unsigned before = fx->fake.requests;

	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	tree_dir_free(d);
	assert_int_equal(fx->fake.requests, before + 1);
	/* the remote fails: the listing from before is served */
	fx->fake.fail = -EIO;
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	assert_int_equal(d->n, 3);
	tree_dir_free(d);
	/* a directory never listed fails with the remote's error */
	assert_int_equal(walk(fx->tree, "screens/scr", &a), -EIO);
	fx->fake.fail = -ETIMEDOUT;
	assert_int_equal(walk(fx->tree, "screens/scr", &a), -ETIMEDOUT);
	/* and recovers when the remote does */
	fx->fake.fail = 0;
	assert_int_equal(walk(fx->tree, "screens/scr", &a), 0);
}

static void test_tree_wells(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;

	/* wells are named from row/column and the plate's conventions */
	assert_int_equal(walk(fx->tree, "screens/scr/plate", &a), 0);
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	assert_int_equal(d->n, 3);
	assert_string_equal(d->ents[0].name, "A01");
	assert_string_equal(d->ents[1].name, "H12");
	assert_string_equal(d->ents[2].name, "images.tsv");
	tree_dir_free(d);
	/* fields come from one request for the well, with Pixels */
	unsigned before = fx->fake.requests;

	assert_int_equal(walk(fx->tree, "screens/scr/plate/A01", &a), 0);
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	assert_int_equal(fx->fake.requests, before + 1);
	assert_int_equal(d->n, 3);
	assert_string_equal(d->ents[0].name, "field-1.ome.tif");
	assert_string_equal(d->ents[1].name, "field-1.tif");
	assert_false(d->ents[0].attr.is_dir);
	assert_string_equal(d->ents[2].name, "field-2.rendered.tif");
	assert_true(d->ents[0].attr.size > 64 * 48 * 2 * 6);
	tree_dir_free(d);
}

struct racer {
	struct tree *t;
	uint64_t ino;
	int rc;
	size_t n;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct tree_dir *d = NULL;

	r->rc = tree_opendir(r->t, r->ino, UINT64_MAX, &d);
	if (r->rc == 0)
		r->n = d->n;
	tree_dir_free(d);
	return NULL;
}

static void test_tree_single_flight(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	pthread_t th[8];
	struct racer r[8];

	/* eight readers of one unlisted directory cause one fetch */
	assert_int_equal(walk(fx->tree, "screens", &a), 0);
	unsigned before = fx->fake.requests;

	fx->fake.delay_ms = 100;
	for (int i = 0; i < 8; i++) {
		r[i] = (struct racer){.t = fx->tree, .ino = a.ino};
		pthread_create(&th[i], NULL, race, &r[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].rc, 0);
		assert_int_equal(r[i].n, 1);
	}
	assert_int_equal(fx->fake.requests, before + 1);
}

static void test_tree_originals(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;

	/* in the parallel tree, each image's directory (its stem): the
	 * fileset's files below their common directory, subdirectories
	 * kept, sizes from HEAD */
	assert_int_equal(walk(fx->tree,
			      "originals/projects/idr0001_experimentA/ds/"
			      "img00000",
			      &a),
			 0);
	assert_true(a.is_dir);
	unsigned before = fx->fake.requests;

	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	/* one request for the paths, one HEAD per file */
	assert_int_equal(fx->fake.requests, before + 3);
	assert_int_equal(d->n, 2);
	assert_string_equal(d->ents[0].name, "a.ome");
	assert_false(d->ents[0].attr.is_dir);
	assert_int_equal(d->ents[0].attr.size,
			 strlen("http://root/s/run/a.ome"));
	assert_string_equal(d->ents[1].name, "data");
	assert_true(d->ents[1].attr.is_dir);
	tree_dir_free(d);
	assert_int_equal(walk(fx->tree,
			      "originals/projects/idr0001_experimentA/ds/"
			      "img00000/data/b.tif",
			      &a),
			 0);
	assert_int_equal(a.size, strlen("http://root/s/run/data/b.tif"));
	/* subdirectories come with their parent: no request */
	assert_int_equal(fx->fake.requests, before + 3);
	/* a path that climbs out of the fileset is left out */
	assert_int_equal(walk(fx->tree,
			      "originals/projects/idr0001_experimentA/ds/"
			      "img00001/x",
			      &a),
			 -ENOENT);
	/* no fileset: empty */
	assert_int_equal(walk(fx->tree,
			      "originals/projects/idr0001_experimentA/ds/"
			      "img00002",
			      &a),
			 0);
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	assert_int_equal(d->n, 0);
	tree_dir_free(d);
}

static void test_tree_errors(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;
	char name[300];

	/* a file is not a directory */
	assert_int_equal(walk(fx->tree, "README.txt", &a), 0);
	assert_int_equal(tree_lookup(fx->tree, 2, "x", UINT64_MAX, &a),
			 -ENOTDIR);
	assert_int_equal(tree_opendir(fx->tree, 2, UINT64_MAX, &d), -ENOTDIR);
	/* unknown inodes and over-long names */
	assert_int_equal(tree_getattr(fx->tree, 999999, &a), -ENOENT);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(
		tree_lookup(fx->tree, TREE_ROOT_INO, name, UINT64_MAX, &a),
		-ENAMETOOLONG);
	/* reading a directory */
	assert_int_equal(
		tree_read(fx->tree, TREE_ROOT_INO, 0, 0, 1, name, UINT64_MAX),
		-EISDIR);
}

/* A log file the tests read back. */
static char log_path[64];

static void log_capture(void)
{
	snprintf(log_path, sizeof(log_path), "/tmp/test_tree.%d.log",
		 (int)getpid());
	unlink(log_path);
	assert_int_equal(log_open(LOG_SINK_FILE, log_path), 0);
}

/* Stop capturing; the log's text (free it). */
static char *log_release(void)
{
	FILE *f;
	char *s = calloc(1, 1 << 20);
	size_t n;

	log_close();
	f = fopen(log_path, "r");
	assert_non_null(f);
	n = fread(s, 1, (1 << 20) - 1, f);
	s[n] = '\0';
	fclose(f);
	unlink(log_path);
	return s;
}

/* ---- the ontology views ---- */

/* Entry names of a directory, joined with '|'. */
static char *names_of(struct tree *t, const char *path)
{
	struct tree_attr a = {.ino = TREE_ROOT_INO};
	struct tree_dir *d = NULL;
	struct jb b = {0};

	if (*path)
		assert_int_equal(walk(t, path, &a), 0);
	assert_int_equal(tree_opendir(t, a.ino, UINT64_MAX, &d), 0);
	jb_add(&b, "");
	for (size_t i = 0; i < d->n; i++)
		jb_add(&b, "%s%s", i ? "|" : "", d->ents[i].name);
	tree_dir_free(d);
	return b.p;
}

/* The path a symlink at path leads to, from the root. */
static void follow(struct tree *t, const char *path, char *out, size_t outsz)
{
	char *segs[64], buf[1024], *save = NULL, *target = NULL;
	struct tree_attr a;
	size_t n = 0;

	assert_int_equal(walk(t, path, &a), 0);
	assert_true(a.is_link);
	assert_int_equal(tree_readlink(t, a.ino, &target), 0);
	assert_int_equal(a.size, strlen(target));
	snprintf(buf, sizeof(buf), "%s", path);
	*strrchr(buf, '/') = '\0';
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "/%s", target);
	free(target);
	for (char *c = strtok_r(buf, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, "..") == 0) {
			assert_true(n > 0);
			n--;
		} else {
			segs[n++] = c;
		}
	}
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		snprintf(out + strlen(out), outsz - strlen(out), "%s%s",
			 i ? "/" : "", segs[i]);
}

static char *read_all(struct tree *t, const char *path, size_t *len)
{
	struct tree_attr a;
	char *buf;
	ssize_t got;
	uint64_t fh = 0;

	assert_int_equal(walk(t, path, &a), 0);
	assert_false(a.lazy);
	assert_int_equal(tree_open(t, a.ino, UINT64_MAX, &fh), 0);
	buf = calloc(a.size + 2, 1);
	got = tree_read(t, a.ino, fh, 0, a.size + 1, buf, UINT64_MAX);
	tree_release(t, a.ino, fh);
	assert_int_equal(got, (ssize_t)a.size);
	*len = (size_t)got;
	return buf;
}

static void test_tree_view_root(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	char *names;

	/* the fixed entries need no detection */
	assert_int_equal(walk(fx->tree, "README.txt", &a), 0);
	assert_int_equal(walk(fx->tree, "projects", &a), 0);
	assert_int_equal(fx->fake.requests, 0);
	/* listing the root detects the backend once: 1 request */
	names = names_of(fx->tree, "");
	assert_string_equal(names,
			    "README.txt|by-gene|by-organism|"
			    "by-phenotype|originals|projects|screens|zarr");
	free(names);
	assert_int_equal(fx->fake.requests, 1);
	names = names_of(fx->tree, "");
	free(names);
	assert_int_equal(fx->fake.requests, 1);
	/* menus the remote lacks are absent */
	assert_int_equal(walk(fx->tree, "by-compound", &a), -ENOENT);
}

static void test_tree_view_lookup_first(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;

	/* a by-* name looked up before any root listing detects too */
	assert_int_equal(walk(fx->tree, "by-gene", &a), 0);
	assert_true(a.is_dir);
	assert_int_equal(fx->fake.requests, 1);
}

static void test_tree_view_menus(void **state)
{
	struct fixture *fx = *state;
	char *names;
	struct tree_dir *d = NULL;
	struct tree_attr a;

	/* phenotypes: "<label> (<accession>)", spelled and labelled from
	 * a page of images (the engine lists "cmpo_0000294") */
	names = names_of(fx->tree, "by-phenotype");
	assert_string_equal(names, "increased actin localised to the nucleus "
				   "(CMPO_0000294)");
	free(names);
	/* 1 detection, 1 value list, 1 page per term */
	assert_int_equal(fx->fake.se_requests, 3);
	/* a '/' in a value is made safe */
	names = names_of(fx->tree, "by-gene");
	assert_string_equal(names, "ABC1|w_x");
	free(names);
	/* control characters and a 300-byte value: safe, <= 255 bytes */
	assert_int_equal(walk(fx->tree, "by-organism", &a), 0);
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	assert_int_equal(d->n, 3);
	for (size_t i = 0; i < d->n; i++) {
		assert_true(strlen(d->ents[i].name) <= TREE_NAME_MAX);
		for (const char *c = d->ents[i].name; *c; c++)
			assert_true((unsigned char)*c >= 0x20);
		assert_true(d->ents[i].attr.is_dir);
	}
	assert_string_equal(d->ents[0].name, "Homo sapiens");
	assert_string_equal(d->ents[1].name, "bad_name");
	assert_true(strlen(d->ents[2].name) >= 190);
	assert_int_equal(d->ents[2].name[0], 'o');
	tree_dir_free(d);
}

static void test_tree_view_term(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a, b;
	char *names, path[1024];
	unsigned before;
	char *target = NULL;

	assert_int_equal(walk(fx->tree, "by-gene", &a), 0);
	names = names_of(fx->tree, "by-gene");
	free(names);
	/* a term: its studies, named as projects/ shows them, and
	 * images.tsv; one page of results and the projects' listing */
	before = fx->fake.requests;
	names = names_of(fx->tree, "by-gene/ABC1");
	assert_string_equal(names, "idr0001_experimentA|images.tsv");
	free(names);
	assert_int_equal(fx->fake.requests, before + 2);
	/* a study: relative symlinks to the canonical paths; the costs are
	 * the project's listing (its datasets and its study annotation)
	 * and the dataset's, not one per image */
	before = fx->fake.requests;
	names = names_of(fx->tree, "by-gene/ABC1/idr0001_experimentA");
	assert_string_equal(names, "img00000.tif|img00001.rendered.tif");
	free(names);
	assert_int_equal(fx->fake.requests, before + 3);
	assert_int_equal(walk(fx->tree,
			      "by-gene/ABC1/idr0001_experimentA/img00000.tif",
			      &a),
			 0);
	assert_int_equal(tree_readlink(fx->tree, a.ino, &target), 0);
	assert_string_equal(
		target,
		"../../../projects/idr0001_experimentA/ds/img00000.tif");
	free(target);
	/* the target is the canonical image, same inode */
	follow(fx->tree, "by-gene/ABC1/idr0001_experimentA/img00000.tif", path,
	       sizeof(path));
	assert_string_equal(path,
			    "projects/idr0001_experimentA/ds/img00000.tif");
	assert_int_equal(walk(fx->tree, path, &a), 0);
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/img00000.tif",
			      &b),
			 0);
	assert_int_equal(a.ino, b.ino);
	follow(fx->tree,
	       "by-gene/ABC1/idr0001_experimentA/img00001.rendered.tif", path,
	       sizeof(path));
	assert_int_equal(walk(fx->tree, path, &a), 0);
	assert_int_equal(a.ino & ((1ull << 56) - 1), 1001);
	/* only symlinks have targets */
	assert_int_equal(tree_readlink(fx->tree, b.ino, &target), -EINVAL);
	/* within the TTL, all of it again costs nothing */
	before = fx->fake.requests;
	names = names_of(fx->tree, "by-gene/ABC1/idr0001_experimentA");
	free(names);
	assert_int_equal(fx->fake.requests, before);
}

static void test_tree_view_screen_links(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a, b;
	char *names, path[1024];
	unsigned before;

	names = names_of(fx->tree, "by-organism/Homo sapiens");
	assert_string_equal(names, "images.tsv|scr");
	free(names);
	/* screen images: the screen's (plates and study annotation), the
	 * plate's and the well's listings: the plate's well listing has
	 * image stubs only (no Pixels, no ExternalInfo), so the name comes
	 * from the well's own answer, as the tree shows it */
	before = fx->fake.requests;
	names = names_of(fx->tree, "by-organism/Homo sapiens/scr");
	assert_string_equal(names, "w1.tif|w2.rendered.tif");
	free(names);
	assert_int_equal(fx->fake.requests, before + 4);
	follow(fx->tree, "by-organism/Homo sapiens/scr/w1.tif", path,
	       sizeof(path));
	assert_string_equal(path, "screens/scr/plate/A01/field-1.tif");
	assert_int_equal(walk(fx->tree, path, &a), 0);
	assert_int_equal(a.ino & ((1ull << 56) - 1), 7001);
	follow(fx->tree, "by-organism/Homo sapiens/scr/w2.rendered.tif", path,
	       sizeof(path));
	assert_string_equal(path, "screens/scr/plate/A01/field-2.rendered.tif");
	assert_int_equal(walk(fx->tree, path, &b), 0);
	assert_int_equal(b.ino & ((1ull << 56) - 1), 7002);
}

static void test_tree_view_lookup(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a, b;
	char *names;
	unsigned before;

	names = names_of(fx->tree, "by-gene");
	free(names);
	/* a name the listing lacks is looked up (the engine ignores case):
	 * one request; its own directory, its own inode */
	before = fx->fake.requests;
	assert_int_equal(walk(fx->tree, "by-gene/abc1", &a), 0);
	assert_true(a.is_dir);
	assert_int_equal(fx->fake.requests, before + 1);
	assert_int_equal(walk(fx->tree, "by-gene/ABC1", &b), 0);
	assert_int_not_equal(a.ino, b.ino);
	assert_int_equal(fx->fake.requests, before + 1);
	names = names_of(fx->tree, "by-gene/abc1");
	assert_string_equal(names, "idr0001_experimentA|images.tsv");
	free(names);
	/* found once, then known */
	before = fx->fake.requests;
	assert_int_equal(walk(fx->tree, "by-gene/abc1", &a), 0);
	assert_int_equal(fx->fake.requests, before);
	/* looked-up names are not listed */
	names = names_of(fx->tree, "by-gene");
	assert_string_equal(names, "ABC1|w_x");
	free(names);
	/* no image has it */
	assert_int_equal(walk(fx->tree, "by-gene/NOPE", &a), -ENOENT);
	/* phenotypes by accession, or label and accession (the label must
	 * be the term's) */
	assert_int_equal(walk(fx->tree, "by-phenotype/CMPO_0000294", &a), 0);
	assert_int_equal(walk(fx->tree,
			      "by-phenotype/increased actin localised to the "
			      "nucleus (cmpo_0000294)",
			      &a),
			 0);
	assert_int_equal(
		walk(fx->tree, "by-phenotype/wrong label (CMPO_0000294)", &a),
		-ENOENT);
}

static void test_tree_view_tsv(void **state)
{
	struct fixture *fx = *state;
	struct tree_dir *d = NULL;
	struct tree_attr a;
	char *text, *line;
	size_t len;
	unsigned before;

	/* listed, images.tsv has no attributes yet (no size) */
	assert_int_equal(walk(fx->tree, "projects/idr0001_experimentA/ds", &a),
			 0);
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	size_t tsv = 0;

	while (tsv < d->n && strcmp(d->ents[tsv].name, "images.tsv") != 0)
		tsv++;
	assert_true(tsv < d->n);
	assert_true(d->ents[tsv].attr.lazy);
	tree_dir_free(d);
	/* a lookup builds it: one request for the key/values of the 5
	 * images; the size is the content's */
	before = fx->fake.requests;
	unsigned kv_before = fx->fake.kv_requests;

	text = read_all(fx->tree, "projects/idr0001_experimentA/ds/images.tsv",
			&len);
	assert_int_equal(fx->fake.requests, before + 1);
	assert_int_equal(fx->fake.kv_requests, kv_before + 1);
	assert_int_equal(strlen(text), len);
	static const char header[] =
		"path\tid\tname\tSizeX\tSizeY\tSizeZ\tSizeC\tSizeT\t"
		"PixelType\tPhysicalSizeX\tPhysicalSizeY\tPhysicalSizeZ\t"
		"source\tsource_why\tome_tif\tzarr\tGene Symbol\tOrganism\t"
		"Phenotype Term Accession\t"
		"Phenotype Term Name\n";

	assert_memory_equal(text, header, strlen(header));
	line = strstr(text, "\nprojects/idr0001_experimentA/ds/img00000.tif\t");
	assert_non_null(line);
	assert_true(
		strncmp(line + 1,
			"projects/idr0001_experimentA/ds/img00000.tif\t1000\t"
			"img00000\t64\t48\t3\t2\t1\tuint16\t0.5\t\t\tzarr\t"
			"externalinfo\t"
			"projects/idr0001_experimentA/ds/img00000.ome.tif\t"
			"zarr/projects/idr0001_experimentA/ds/img00000.zarr\t"
			"ABC1\tbad name\tCMPO_0000294\tincreased "
			"actin "
			"localised to the nucleus\n",
			strlen("projects/idr0001_experimentA/ds/"
			       "img00000.tif\t1000\timg00000\t64\t48\t3\t2\t1\t"
			       "uint16\t0.5\t\t\tzarr\texternalinfo\t"
			       "projects/idr0001_experimentA/ds/"
			       "img00000.ome.tif\t"
			       "zarr/projects/idr0001_experimentA/ds/"
			       "img00000.zarr\t"
			       "ABC1\t"
			       "bad name\t"
			       "CMPO_0000294\tincreased actin localised to "
			       "the nucleus\n")) == 0);
	/* a rendered file is 8-bit RGB, and its row says so */
	assert_non_null(strstr(text, "img00001.rendered.tif\t1001\timg00001\t"
				     "64\t48\t3\t3\t1\tuint8\t0.5\t\t\t"
				     "rendered\tno zarr: set -o zarr_url= or "
				     "-o zarr_catalog=\t\t\tABC1\t\t\t\n"));
	/* 5 images and the header */
	size_t lines = 0;

	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	assert_int_equal(lines, 6);
	free(text);
	/* now listed with its size; stat within the TTL: no request */
	before = fx->fake.requests;
	assert_int_equal(walk(fx->tree, "projects/idr0001_experimentA/ds", &a),
			 0);
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	assert_false(d->ents[tsv].attr.lazy);
	assert_int_equal(
		tree_stat(fx->tree, d->ents[tsv].attr.ino, UINT64_MAX, &a), 0);
	assert_int_equal(a.size, d->ents[tsv].attr.size);
	tree_dir_free(d);
	assert_int_equal(fx->fake.requests, before);

	/* a term's: the engine's key/values, no annotation request */
	before = fx->fake.kv_requests;
	text = read_all(fx->tree, "by-gene/ABC1/images.tsv", &len);
	assert_int_equal(fx->fake.kv_requests, before);
	assert_non_null(strstr(text, "\nprojects/idr0001_experimentA/ds/"
				     "img00001.rendered.tif\t1001\t"));
	free(text);
	/* a term of screen images: their wells are listed for sizes */
	text = read_all(fx->tree, "by-organism/Homo sapiens/images.tsv", &len);
	assert_non_null(strstr(text, "\nscreens/scr/plate/A01/field-1.tif\t7001"
				     "\tw1\t64\t48\t3\t2\t1\tuint16\t0.5\t\t\t"
				     "zarr\t"));
	free(text);
	/* a plate's: its wells not listed yet (H12; the term listed A01)
	 * in one round, plus one batch of key/values */
	before = fx->fake.requests;
	text = read_all(fx->tree, "screens/scr/plate/images.tsv", &len);
	assert_int_equal(fx->fake.requests, before + 1 + 1);
	assert_non_null(strstr(text, "\nscreens/scr/plate/A01/"
				     "field-2.rendered.tif\t7002\t"));
	free(text);
	/* a project's and a screen's: all their images */
	text = read_all(fx->tree, "projects/idr0001_experimentA/images.tsv",
			&len);
	assert_non_null(strstr(text, "img00004.tif\t1004\t"));
	free(text);
	text = read_all(fx->tree, "screens/scr/images.tsv", &len);
	assert_non_null(strstr(text, "field-1.tif\t7001\t"));
	free(text);
}

static void test_tree_view_study_txt(void **state)
{
	struct fixture *fx = *state;
	char *text, *names;
	size_t len;
	unsigned before = fx->fake.requests;

	names = names_of(fx->tree, "projects/idr0001_experimentA");
	assert_string_equal(names, "ds|images.tsv|study.txt");
	free(names);
	before = fx->fake.requests;
	text = read_all(fx->tree, "projects/idr0001_experimentA/study.txt",
			&len);
	assert_int_equal(fx->fake.requests, before + 1);
	/* the archive's own name */
	assert_non_null(strstr(text, "Study:       idr0001/experimentA\n"));
	assert_non_null(strstr(text, "Title:       A test study\n"));
	assert_non_null(
		strstr(text, "DOI:         10.1/x https://doi.org/10.1/x\n"));
	assert_non_null(strstr(text, "Licence:     CC BY 4.0\n"));
	assert_non_null(strstr(text, "Doe J. On tests doi:10.1/x\n"));
	assert_non_null(strstr(text, "Image Data Resource"));
	free(text);
	/* a study without study annotations still has one */
	text = read_all(fx->tree, "screens/scr/study.txt", &len);
	assert_non_null(strstr(text, "show=screen-31"));
	assert_non_null(strstr(text, "no study information"));
	free(text);
}

static bool in_list(const char *list, size_t len, const char *name)
{
	for (size_t o = 0; o < len; o += strlen(list + o) + 1) {
		if (strcmp(list + o, name) == 0)
			return true;
	}
	return false;
}

static void test_tree_view_xattrs(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	char *v = NULL;
	size_t len = 0;
	unsigned before;

	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/img00000.tif",
			      &a),
			 0);
	/* the list: fixed names and one per key (one request) */
	before = fx->fake.requests;
	assert_int_equal(tree_listxattr(fx->tree, a.ino, UINT64_MAX, &v, &len),
			 0);
	assert_int_equal(fx->fake.requests, before + 1);
	assert_true(in_list(v, len, "user.idr.id"));
	assert_true(in_list(v, len, "user.idr.url"));
	assert_true(in_list(v, len, "user.idr.source"));
	assert_true(in_list(v, len, "user.idr.dims"));
	assert_true(in_list(v, len, "user.idr.pixel_type"));
	assert_true(in_list(v, len, "user.idr.kv.Gene_Symbol"));
	assert_true(in_list(v, len, "user.idr.kv.Phenotype_Term_Accession"));
	free(v);
#define GET(name, want)                                                        \
	do {                                                                   \
		assert_int_equal(tree_getxattr(fx->tree, a.ino, name,          \
					       UINT64_MAX, &v, &len),          \
				 0);                                           \
		assert_int_equal(len, strlen(want));                           \
		assert_memory_equal(v, want, len);                             \
		free(v);                                                       \
	} while (0)
	GET("user.idr.id", "1000");
	GET("user.idr.url", "http://fake/webclient/?show=image-1000");
	GET("user.idr.source", "zarr");
	GET("user.idr.source_why", "externalinfo");
	GET("user.idr.dims", "X=64 Y=48 Z=3 C=2 T=1");
	GET("user.idr.pixel_type", "uint16");
	GET("user.idr.kv.Gene_Symbol", "ABC1");
	GET("user.idr.kv.Organism", "bad\001name");
	/* known key/values: no more requests */
	assert_int_equal(fx->fake.requests, before + 1);
	/* unknown names: ENODATA; other namespaces cost nothing */
	assert_int_equal(tree_getxattr(fx->tree, a.ino, "user.idr.nope",
				       UINT64_MAX, &v, &len),
			 -ENODATA);
	assert_int_equal(tree_getxattr(fx->tree, a.ino, "user.idr.kv.Nope",
				       UINT64_MAX, &v, &len),
			 -ENODATA);
	assert_int_equal(tree_getxattr(fx->tree, a.ino, "security.selinux",
				       UINT64_MAX, &v, &len),
			 -ENODATA);
	assert_int_equal(fx->fake.requests, before + 1);
	/* the rendered one says so */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img00001.rendered.tif",
			      &a),
			 0);
	GET("user.idr.source", "rendered");
	/* and says which option would give raw pixels */
	GET("user.idr.source_why",
	    "no zarr: set -o zarr_url= or -o zarr_catalog=");
#undef GET
	/* projects/ is no archive object: it has none */
	assert_int_equal(walk(fx->tree, "projects", &a), 0);
	assert_int_equal(tree_listxattr(fx->tree, a.ino, UINT64_MAX, &v, &len),
			 0);
	assert_int_equal(len, 0);
	free(v);
	assert_int_equal(tree_getxattr(fx->tree, a.ino, "user.idr.id",
				       UINT64_MAX, &v, &len),
			 -ENODATA);
	assert_int_equal(tree_listxattr(fx->tree, 999999, UINT64_MAX, &v, &len),
			 -ENOENT);
}

/*
 * Detection fails with rc (no conclusion): the root lists without menus,
 * a menu is EIO, never ENOENT (which the kernel would keep for a
 * minute), a name that is no menu is ENOENT; healthy again, the next use
 * after the backoff (50 ms) asks, and the menus are there.
 */
static void detect_fails_then_recovers(struct fixture *fx, int rc)
{
	struct tree_attr a;
	char *names;

	fx->fake.fail_on = "/searchengine/";
	fx->fake.fail_on_rc = rc;
	names = names_of(fx->tree, "");
	assert_string_equal(names,
			    "README.txt|originals|projects|screens|zarr");
	free(names);
	assert_int_equal(walk(fx->tree, "by-gene", &a), -EIO);
	assert_int_equal(walk(fx->tree, "by-nothing", &a), -ENOENT);
	fx->fake.fail_on = NULL;
	usleep(80 * 1000);
	assert_int_equal(walk(fx->tree, "by-gene", &a), 0);
	assert_true(a.is_dir);
	names = names_of(fx->tree, "");
	assert_string_equal(names,
			    "README.txt|by-gene|by-organism|"
			    "by-phenotype|originals|projects|screens|zarr");
	free(names);
}

static void test_tree_view_detect_fault(void **state)
{
	/* a 302 from the search engine (a redirect loop, a captive
	 * portal) is a failure, not "no engine" */
	detect_fails_then_recovers(*state, -EPROTO);
}

static void test_tree_view_errors(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;
	char *names, *log;

	/* detection fails: tried again later */
	detect_fails_then_recovers(fx, -ETIMEDOUT);
	names = names_of(fx->tree, "by-gene");
	free(names);
	/* a term whose search fails: the error, for that directory */
	assert_int_equal(walk(fx->tree, "by-gene/ABC1", &a), 0);
	fx->fake.fail_on = "/image/search/";
	fx->fake.fail_on_rc = 0;
	fx->fake.fail_body = "{\"Error\": \"Something went wrong\"}";
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), -EIO);
	fx->fake.fail_body = "<html>apidocs</html>";
	fx->fake.fail_ctype = "text/html";
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d),
			 -EBADMSG);
	fx->fake.fail_ctype = NULL;
	fx->fake.fail_body = "{\"results\": {\"results\": [{\"id";
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d),
			 -EBADMSG);
	fx->fake.fail_on_rc = -ETIMEDOUT;
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d),
			 -ETIMEDOUT);
	/* on-demand lookups fail with the error too, not ENOENT */
	assert_int_equal(walk(fx->tree, "by-gene/xyz", &a), -ETIMEDOUT);
	/* and the rest keeps working */
	assert_int_equal(walk(fx->tree, "projects/idr0001_experimentA", &a), 0);
	fx->fake.fail_on = NULL;
	names = names_of(fx->tree, "by-gene/ABC1");
	assert_string_equal(names, "idr0001_experimentA|images.tsv");
	free(names);
	/* images.tsv whose key/values fail: EIO, logged with its path
	 * (not an inode number), then built when they come back (the
	 * project is listed before: its study annotation is one too) */
	assert_int_equal(walk(fx->tree, "projects/idr0001_experimentA/ds", &a),
			 0);
	fx->fake.fail_on = "/webclient/api/annotations/";
	fx->fake.fail_on_rc = -EIO;
	log_capture();
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/images.tsv", &a),
			 -EIO);
	log = log_release();
	assert_non_null(strstr(log, "cannot build "
				    "'projects/idr0001_experimentA/ds/"
				    "images.tsv': Input/output error"));
	free(log);
	fx->fake.fail_on = NULL;
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/images.tsv", &a),
			 0);
	assert_true(a.size > 0);
}

static void test_tree_view_inodes_stable(void **state)
{
	struct fixture *fx = *state;
	static const char *const paths[] = {
		"by-gene",
		"by-gene/ABC1",
		"by-gene/abc1",
		"by-gene/ABC1/idr0001_experimentA",
		"by-gene/ABC1/idr0001_experimentA/img00000.tif",
		"by-gene/ABC1/images.tsv",
		"projects/idr0001_experimentA/images.tsv",
		"projects/idr0001_experimentA/study.txt",
	};
	struct search_config sc = {.backend = SEARCH_ENGINE};
	struct tree_config tc = {.remote_url = "x", .ttl_s = 60};
	struct search *s2 = NULL;
	struct tree *t2 = NULL;

	/* a remount: the same inode for every view node */
	assert_int_equal(search_new(fx->api, &sc, &s2), 0);
	tc.search = s2;
	assert_int_equal(tree_new(fx->api, &tc, &t2), 0);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct tree_attr a, b;

		assert_int_equal(walk(fx->tree, paths[i], &a), 0);
		assert_int_equal(walk(t2, paths[i], &b), 0);
		assert_int_equal(a.ino, b.ino);
	}
	tree_free(t2);
	search_free(s2);
}

/* ---- the one naming ---- */

static void name_set(struct tree_name *n, const char *stem, const char *ext,
		     int64_t id)
{
	memset(n, 0, sizeof(*n));
	snprintf(n->stem, sizeof(n->stem), "%s", stem);
	n->ext = ext;
	n->id = id;
}

static void test_tree_names_rules(void **state)
{
	static const char *const reserved[] = {"images.tsv", "study.txt", NULL};
	struct tree_name v[8];
	char out[TREE_NAME_MAX + 1];
	char longname[301];

	(void)state;
	/* "a", "a", "a (5)": the suffix never takes the real name; every
	 * name ends up unique, whatever the order */
	name_set(&v[0], "a", ".tif", 5);
	name_set(&v[1], "a (5)", ".tif", 7);
	name_set(&v[2], "a", ".tif", 6);
	tree_names_unique(v, 3, NULL);
	assert_string_equal(v[0].stem, "a (5) (5)");
	assert_string_equal(v[1].stem, "a (5) (7)");
	assert_string_equal(v[2].stem, "a (6)");
	/* nothing idrfs adds is a glob character */
	for (int i = 0; i < 3; i++)
		assert_null(strpbrk(v[i].stem, "[]*?"));
	/* a dataset named like a generated file gets its id; the file
	 * keeps its name */
	name_set(&v[0], "images.tsv", "", 9);
	name_set(&v[1], "study.txt", "", 10);
	name_set(&v[2], "other", "", 11);
	tree_names_unique(v, 3, reserved);
	assert_string_equal(v[0].stem, "images.tsv (9)");
	assert_string_equal(v[1].stem, "study.txt (10)");
	assert_string_equal(v[2].stem, "other");
	/* stems are unique too (originals/ shows the stem), and whole names
	 * that meet from different stems and extensions */
	name_set(&v[0], "x", ".tif", 1);
	name_set(&v[1], "x", ".rendered.tif", 2);
	name_set(&v[2], "a.rendered", ".tif", 3);
	name_set(&v[3], "a", ".rendered.tif", 4);
	tree_names_unique(v, 4, NULL);
	assert_string_equal(v[0].stem, "x (1)");
	assert_string_equal(v[1].stem, "x (2)");
	assert_string_equal(v[2].stem, "a.rendered (3)");
	assert_string_equal(v[3].stem, "a (4)");

	/* an image's stem: the archive's .tif/.ome.tif is not doubled */
	tree_object_stem("sample.ome.tif", true, out);
	assert_string_equal(out, "sample");
	tree_object_stem("LOUD.OME.TIFF", true, out);
	assert_string_equal(out, "LOUD");
	tree_object_stem("plain.tiff", true, out);
	assert_string_equal(out, "plain");
	tree_object_stem("notes.tif", false, out);
	assert_string_equal(out, "notes.tif");
	/* nothing is hidden */
	tree_object_stem(".", true, out);
	assert_string_equal(out, "_");
	tree_object_stem("..", true, out);
	assert_string_equal(out, "__");
	tree_object_stem(".hidden", true, out);
	assert_string_equal(out, "_hidden");
	tree_object_stem(".tif", true, out);
	assert_string_equal(out, "_tif");
	/* one cut, at a character boundary, leaving room for the longest
	 * extension and two suffixes */
	for (int i = 0; i < 150; i++)
		memcpy(longname + 2 * i, "\xc3\xa9", 2);
	longname[300] = '\0';
	assert_true(tree_object_stem(longname, true, out) <= TREE_STEM_MAX);
	assert_int_equal(strlen(out) % 2, 0);
	assert_true(strlen(out) + strlen(".rendered.tif") + 2 * 22 <=
		    TREE_NAME_MAX);
}

/* ---- attributes ---- */

static void test_tree_times(void **state)
{
	struct fixture *fx = *state;
	struct tree_config tc = {.remote_url = "x", .ttl_s = 60};
	struct tree *t2 = NULL;
	struct tree_attr a, b;
	/* first: images.tsv found before its directory is listed (t2) has
	 * the time the listing gives it (fx->tree) */
	static const char *const paths[] = {
		"projects/idr0001_experimentA/ds/images.tsv",
		"projects/idr0001_experimentA",
		"projects/idr0001_experimentA/ds",
		"projects/idr0001_experimentA/ds/img00000.tif",
		"projects/idr0001_experimentA/ds/img00003.tif",
		"originals/projects/idr0001_experimentA/ds/img00000",
	};

	/* an image's acquisition date */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/img00003.tif",
			      &a),
			 0);
	assert_int_equal(a.mtime, 1500000000);
	/* without one: its study's release date (2016-05-26), as for the
	 * study's directories and generated files */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/img00000.tif",
			      &a),
			 0);
	assert_int_equal(a.mtime, 1464220800);
	assert_int_equal(walk(fx->tree, "projects/idr0001_experimentA/ds", &a),
			 0);
	assert_int_equal(a.mtime, 1464220800);
	/* above the studies, and in a study without a date: the epoch */
	assert_int_equal(walk(fx->tree, "projects", &a), 0);
	assert_int_equal(a.mtime, 946684800);
	assert_int_equal(
		walk(fx->tree, "screens/scr/plate/A01/field-1.tif", &a), 0);
	assert_int_equal(a.mtime, 946684800);
	/* a remount: the same times, never the mount time */
	assert_int_equal(tree_new(fx->api, &tc, &t2), 0);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		assert_int_equal(walk(fx->tree, paths[i], &a), 0);
		assert_int_equal(walk(t2, paths[i], &b), 0);
		assert_int_equal(a.mtime, b.mtime);
		assert_true(a.mtime < 1600000000);
	}
	tree_free(t2);
}

static void test_tree_dir_xattrs(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	char *v = NULL;
	size_t len = 0;

	/* a dataset: its id, page and type */
	assert_int_equal(walk(fx->tree, "projects/idr0001_experimentA/ds", &a),
			 0);
	assert_int_equal(tree_getxattr(fx->tree, a.ino, "user.idr.id",
				       UINT64_MAX, &v, &len),
			 0);
	assert_memory_equal(v, "21", 2);
	free(v);
	assert_int_equal(tree_getxattr(fx->tree, a.ino, "user.idr.type",
				       UINT64_MAX, &v, &len),
			 0);
	assert_memory_equal(v, "dataset", 7);
	free(v);
	/* a project: also its study annotation */
	assert_int_equal(walk(fx->tree, "projects/idr0001_experimentA", &a), 0);
	assert_int_equal(tree_getxattr(fx->tree, a.ino,
				       "user.idr.kv.Study_Title", UINT64_MAX,
				       &v, &len),
			 0);
	assert_memory_equal(v, "A test study", len);
	free(v);
	/* an image says where its originals are */
	assert_int_equal(
		walk(fx->tree,
		     "projects/idr0001_experimentA/ds/img00001.rendered.tif",
		     &a),
		0);
	assert_int_equal(tree_getxattr(fx->tree, a.ino, "user.idr.originals",
				       UINT64_MAX, &v, &len),
			 0);
	assert_memory_equal(
		v, "originals/projects/idr0001_experimentA/ds/img00001", len);
	free(v);
}

static void test_tree_orig_mirror(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;

	/* the mirror lists the dataset's images by stem, and nothing else
	 * (no images.tsv), at no request beyond the dataset's listing */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/img00000.tif",
			      &a),
			 0);
	unsigned before = fx->fake.requests;

	assert_int_equal(
		walk(fx->tree, "originals/projects/idr0001_experimentA/ds", &a),
		0);
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	assert_int_equal(fx->fake.requests, before);
	assert_int_equal(d->n, 5);
	for (size_t i = 0; i < d->n; i++)
		assert_true(d->ents[i].attr.is_dir);
	assert_string_equal(d->ents[1].name, "img00001");
	tree_dir_free(d);
}

/* ---- generated files: kept across remounts, built in the background ---- */

static void test_tree_gen_cached(void **state)
{
	struct fixture *fx = *state;
	struct cache_config cc = {.remote = "http://fake",
				  .max_bytes = 1u << 26};
	struct tree_config tc = {.remote_url = "x", .ttl_s = 3600};
	char dir[] = "/tmp/idrfs-test-tree-XXXXXX";
	struct cache *c = NULL;
	struct tree *t1 = NULL, *t2 = NULL;
	struct tree_attr a, b;
	unsigned before;

	assert_non_null(mkdtemp(dir));
	cc.dir = dir;
	assert_int_equal(cache_open(&cc, &c), 0);
	tc.cache = c;
	assert_int_equal(tree_new(fx->api, &tc, &t1), 0);
	assert_int_equal(
		walk(t1, "projects/idr0001_experimentA/ds/images.tsv", &a), 0);
	tree_free(t1);
	/* a remount on the same cache: the way there is listed again (no
	 * metadata cache in this fixture), images.tsv costs nothing */
	assert_int_equal(tree_new(fx->api, &tc, &t2), 0);
	assert_int_equal(walk(t2, "projects/idr0001_experimentA/ds", &b), 0);
	before = fx->fake.requests;
	assert_int_equal(
		walk(t2, "projects/idr0001_experimentA/ds/images.tsv", &b), 0);
	assert_int_equal(fx->fake.requests, before);
	assert_int_equal(a.size, b.size);
	assert_int_equal(a.ino, b.ino);
	/* and its time, before its directory is listed */
	assert_int_equal(a.mtime, b.mtime);
	assert_int_equal(b.mtime, 1464220800);
	tree_free(t2);
	cache_close(c);
	/* the cache directory: LMDB's files in the remote's subdirectory */
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_tree_gen_background(void **state)
{
	struct fixture *fx = *state;
	char logf[] = "/tmp/idrfs-test-tree-log-XXXXXX";
	struct tree_attr a;
	char line[512];
	bool named = false;
	FILE *f;
	int fd = mkstemp(logf);

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(walk(fx->tree, "projects/idr0001_experimentA/ds", &a),
			 0);
	/* a slow server: the key/values take longer than the operation's
	 * deadline; the build goes on, the operation says EAGAIN */
	fx->fake.delay_ms = 400;
	assert_int_equal(log_open(LOG_SINK_FILE, logf), 0);
	assert_int_equal(tree_lookup(fx->tree, a.ino, "images.tsv",
				     http_now_ms() + 100, &a),
			 -EAGAIN);
	log_open(LOG_SINK_STDERR, NULL);
	/* the log names the file by its path, not an inode */
	f = fopen(logf, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		named |= strstr(line, "'projects/idr0001_experimentA/ds/"
				      "images.tsv' is not built yet") != NULL;
	fclose(f);
	unlink(logf);
	assert_true(named);
	/* the next try has it (built by then, or waits for the build) */
	fx->fake.delay_ms = 0;
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/images.tsv", &a),
			 0);
	assert_false(a.lazy);
	assert_true(a.size > 100);
}

/* ---- .idrfs/stats ---- */

static size_t fake_stats(void *ctx, bool json, char *buf, size_t size)
{
	unsigned *calls = ctx;

	(*calls)++;
	return (size_t)snprintf(buf, size, json ? "{\"n\": %u}\n" : "n %u\n",
				*calls);
}

static void test_tree_stats(void **state)
{
	struct fixture *fx = *state;
	unsigned calls = 0;
	struct tree_config tc = {.remote_url = "x",
				 .ttl_s = 60,
				 .stats = fake_stats,
				 .stats_ctx = &calls};
	struct tree *t = NULL;
	struct tree_attr a;
	char buf[64];
	uint64_t fh = 0;
	ssize_t n;

	assert_int_equal(tree_new(fx->api, &tc, &t), 0);
	/* its true size at stat, no padding; live: read with direct I/O */
	assert_int_equal(walk(t, ".idrfs/stats", &a), 0);
	assert_true(a.live);
	assert_int_equal(a.size, strlen("n 1\n"));
	/* an open reads one snapshot, whole, however small the reads */
	assert_int_equal(tree_open(t, a.ino, UINT64_MAX, &fh), 0);
	n = tree_read(t, a.ino, fh, 0, 2, buf, UINT64_MAX);
	assert_int_equal(n, 2);
	n = tree_read(t, a.ino, fh, 2, sizeof(buf) - 2, buf + 2, UINT64_MAX);
	assert_int_equal(n, 2);
	assert_memory_equal(buf, "n 3\n", 4);
	assert_int_equal(tree_read(t, a.ino, fh, 4, 10, buf, UINT64_MAX), 0);
	tree_release(t, a.ino, fh);
	assert_int_equal(walk(t, ".idrfs/stats.json", &a), 0);
	assert_int_equal(a.size, strlen("{\"n\": 3}\n"));
	tree_free(t);
}

/* ---- hostile answers (issue 9) ---- */

static void jb_json_path(struct jb *b, const char *prefix, const char *seg,
			 size_t times, const char *last)
{
	jb_add(b, "\"uod/idr/filesets/s/%s", prefix);
	for (size_t i = 0; i < times; i++)
		jb_add(b, "%s/", seg);
	jb_add(b, "%s\"", last);
}

static void test_tree_originals_deep(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;
	struct jb b = {0};
	char *log, path[4096], seg[201];
	uint64_t t0;

	/* one path of 60 000 nested directories (it crashed the daemon),
	 * one of 3 200 bytes, one file of the top directory, and one at
	 * the depth cap */
	memset(seg, 'b', 200);
	seg[200] = '\0';
	jb_add(&b, "{\"client\": [");
	jb_json_path(&b, "x/", "a", 60000, "f");
	jb_add(&b, ", ");
	jb_json_path(&b, "y/", seg, 16, "f");
	jb_add(&b, ", \"uod/idr/filesets/s/g\", ");
	jb_json_path(&b, "ok/", "d", TREE_ORIG_DEPTH_MAX - 2, "h");
	jb_add(&b, "]}");
	fx->fake.orig_json = b.p;
	log_capture();
	assert_int_equal(walk(fx->tree,
			      "originals/projects/idr0001_experimentA/ds/"
			      "img00003",
			      &a),
			 0);
	t0 = http_now_ms();
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	/* no recursion (it overflowed the stack), no quadratic work */
	assert_true(http_now_ms() - t0 < 5000);
	assert_int_equal(d->n, 2);
	assert_string_equal(d->ents[0].name, "g");
	assert_string_equal(d->ents[1].name, "ok");
	tree_dir_free(d);
	/* the deepest path allowed is there, file and all */
	snprintf(path, sizeof(path),
		 "originals/projects/idr0001_experimentA/ds/img00003/ok");
	for (unsigned i = 0; i < TREE_ORIG_DEPTH_MAX - 2; i++)
		snprintf(path + strlen(path), sizeof(path) - strlen(path),
			 "/d");
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "/h");
	assert_int_equal(walk(fx->tree, path, &a), 0);
	assert_false(a.is_dir);
	/* the two left out are logged with the URL of the first */
	log = log_release();
	assert_non_null(strstr(log, "2 original file path(s) left out"));
	assert_non_null(
		strstr(log, "the first is \"uod/idr/filesets/s/x/a/a/a"));
	free(log);
	free(b.p);
	fx->fake.orig_json = NULL;
}

struct poller {
	struct tree *t;
	volatile bool stop;
	uint64_t worst; /* ms, the longest getattr */
};

static void *poll_getattr(void *arg)
{
	struct poller *p = arg;

	while (!p->stop) {
		struct tree_attr a;
		uint64_t t0 = http_now_ms();

		tree_getattr(p->t, TREE_ROOT_INO, &a);
		if (http_now_ms() - t0 > p->worst)
			p->worst = http_now_ms() - t0;
		usleep(1000);
	}
	return NULL;
}

static void test_tree_originals_wide(void **state)
{
	struct fixture *fx = *state;
	struct poller p = {.t = fx->tree};
	struct tree_attr a;
	struct tree_dir *d = NULL;
	struct jb b = {0};
	uint64_t t0, took;
	pthread_t th;

	/* 20 000 subdirectories of one file each: the duplicate checks
	 * were quadratic, with the tree lock held, stalling every
	 * operation */
	jb_add(&b, "{\"client\": [\"uod/idr/filesets/s/top\"");
	for (unsigned i = 0; i < 20000; i++)
		jb_add(&b, ", \"uod/idr/filesets/s/d/s%05u/f\"", i);
	jb_add(&b, "]}");
	fx->fake.orig_json = b.p;
	t0 = http_now_ms();
	pthread_create(&th, NULL, poll_getattr, &p);
	assert_int_equal(walk(fx->tree,
			      "originals/projects/idr0001_experimentA/ds/"
			      "img00003/d",
			      &a),
			 0);
	p.stop = true;
	pthread_join(th, NULL);
	took = http_now_ms() - t0;
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	assert_int_equal(d->n, 20000);
	assert_string_equal(d->ents[19999].name, "s19999");
	assert_true(d->ents[19999].attr.is_dir);
	tree_dir_free(d);
	assert_int_equal(walk(fx->tree,
			      "originals/projects/idr0001_experimentA/ds/"
			      "img00003/d/s12345/f",
			      &a),
			 0);
	/* the lock was never held long: no getattr waited a second, or
	 * (on a loaded machine) half of the listing's time; it waited
	 * 10 s of the listing's 10 */
	assert_true(p.worst < 1000 || p.worst < took / 2);
	free(b.p);
	fx->fake.orig_json = NULL;
}

static void test_tree_names_total(void **state)
{
	static const char *const ds[] = {
		"images.tsv", "study.txt", "images.tsv [22]",
		"x",	      "x",	   "x [25]",
	};
	static const char *const img[] = {"a", "b", "a", "a [1000]"};
	struct fixture *fx = *state;
	char *names;

	/* a dataset named images.tsv, another named like the first's
	 * suffixed name, and two "x" beside an "x [25]": every name is
	 * taken once, the generated files keep theirs */
	fx->fake.ds_names = ds;
	fx->fake.nds = sizeof(ds) / sizeof(ds[0]);
	fx->fake.img_names = img;
	fx->fake.dataset_images = 4;
	names = names_of(fx->tree, "projects/idr0001_experimentA");
	assert_string_equal(names, "ds|images.tsv|images.tsv (22)|"
				   "images.tsv [22]|study.txt|study.txt (23)|"
				   "x (25)|x (26)|x [25]");
	free(names);
	/* the "a", "a", "a [5]": no two of a name */
	names = names_of(fx->tree, "projects/idr0001_experimentA/ds");
	assert_string_equal(names, "a (1000).ome.tif|a (1000).tif|"
				   "a (1002).ome.tif|a (1002).tif|"
				   "a [1000].ome.tif|a [1000].tif|"
				   "b.rendered.tif|images.tsv");
	free(names);
	/* images.tsv is the generated file, not the dataset */
	struct tree_attr a;
	struct tree_dir *d = NULL;

	assert_int_equal(walk(fx->tree, "projects/idr0001_experimentA", &a), 0);
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	assert_string_equal(d->ents[1].name, "images.tsv");
	assert_false(d->ents[1].attr.is_dir);
	assert_true(d->ents[1].attr.lazy);
	assert_string_equal(d->ents[2].name, "images.tsv (22)");
	assert_true(d->ents[2].attr.is_dir);
	tree_dir_free(d);
}

/* Whether s is valid UTF-8 (no sequence cut short). */
static bool utf8_ok(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		size_t n = *p < 0x80		 ? 1
			   : (*p & 0xe0) == 0xc0 ? 2
			   : (*p & 0xf0) == 0xe0 ? 3
			   : (*p & 0xf8) == 0xf0 ? 4
						 : 0;

		if (n == 0)
			return false;
		for (size_t i = 1; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
		}
		p += n;
	}
	return true;
}

static char *hostile_listing(const char *const *names, size_t n, bool reverse)
{
	struct fixture *fx;
	char *got;

	assert_int_equal(setup((void **)&fx), 0);
	fx->fake.img_names = names;
	fx->fake.dataset_images = n;
	fx->fake.reverse = reverse;
	got = names_of(fx->tree, "projects/idr0001_experimentA/ds");
	teardown((void **)&fx);
	return got;
}

static void test_tree_names_hostile(void **state)
{
	char x300[301], y300[301], e300[301];
	const char *names[] = {
		"ctl\001x",
		"ctl\002x",
		"a/b",
		"a_b",
		".",
		"..",
		"_.",
		"/",
		x300,
		y300,
		e300,
		"",
		"unnamed",
		"\177",
		"\x1b[2J",
		/* what "a/b" (id 1002) becomes when suffixed */
		"a_b [1002]",
	};
	size_t n = sizeof(names) / sizeof(names[0]), count = 1;
	char *got, *again, *copy, *save = NULL;
	const char *prev = "";

	(void)state;
	memset(x300, 'x', 300);
	x300[300] = '\0';
	memcpy(y300, x300, sizeof(y300));
	y300[299] = 'y'; /* differs past the cut */
	for (size_t i = 0; i < 300; i += 2)
		memcpy(e300 + i, "\xc3\xa9", 2);
	e300[300] = '\0';
	/* control characters, '/', dot names, 300 bytes (also of 2-byte
	 * characters), empty names and what they all become when made
	 * safe: every entry safe and unique */
	got = hostile_listing(names, n, false);
	for (const char *c = got; *c; c++)
		count += *c == '|';
	/* each image's .tif and .ome.tif, and images.tsv */
	assert_int_equal(count, 2 * n);
	copy = strdup(got);

	for (char *e = strtok_r(copy, "|", &save); e;
	     e = strtok_r(NULL, "|", &save)) {
		assert_true(strlen(e) <= TREE_NAME_MAX);
		assert_true(utf8_ok(e));
		assert_null(strchr(e, '/'));
		assert_true(strcmp(e, ".") != 0 && strcmp(e, "..") != 0);
		for (const char *c = e; *c; c++)
			assert_true((unsigned char)*c >= 0x20 && *c != 0x7f);
		/* the listing is sorted: unique if each follows the last */
		assert_true(strcmp(prev, e) < 0);
		prev = e;
	}
	free(copy);
	/* the same names whatever order the server sends them in */
	again = hostile_listing(names, n, true);
	assert_string_equal(got, again);
	free(again);
	free(got);
}

static void test_tree_listing_404(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;

	/* a 404 for the listing of a directory its parent lists is a
	 * fault: EIO, not a "no such file" the kernel would keep */
	assert_int_equal(walk(fx->tree, "projects/idr0001_experimentA/ds", &a),
			 0);
	fx->fake.fail_on = "/datasets/21/images/";
	fx->fake.fail_on_rc = -ENOENT;
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/img00000.tif",
			      &a),
			 -EIO);
	/* and nothing is left behind: healthy, it lists */
	fx->fake.fail_on = NULL;
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/img00000.tif",
			      &a),
			 0);
	(void)d;
}

static void test_tree_view_study_404(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;
	char *names;

	/* a term's study whose dataset cannot be listed: EIO, not an
	 * empty directory kept for the TTL */
	assert_int_equal(walk(fx->tree, "by-gene/ABC1/idr0001_experimentA", &a),
			 0);
	fx->fake.fail_on = "/datasets/21/images/";
	fx->fake.fail_on_rc = -ENOENT;
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), -EIO);
	fx->fake.fail_on = NULL;
	names = names_of(fx->tree, "by-gene/ABC1/idr0001_experimentA");
	assert_string_equal(names, "img00000.tif|img00001.rendered.tif");
	free(names);
}

static void test_tree_xattr_flood(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	char *v = NULL;
	size_t len = 0, n = 0;
	uint64_t t0;

	/* 5 000 key/value pairs: listxattr was quadratic with the lock
	 * held, and listed more than the kernel takes */
	fx->fake.kv_flood = 5000;
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/img00000.tif",
			      &a),
			 0);
	log_capture();
	assert_int_equal(tree_listxattr(fx->tree, a.ino, UINT64_MAX, &v, &len),
			 0);
	free(v);
	/* the pairs are fetched: what is left is the tree's own work */
	t0 = http_now_ms();
	assert_int_equal(tree_listxattr(fx->tree, a.ino, UINT64_MAX, &v, &len),
			 0);
	assert_true(http_now_ms() - t0 < 500);
	/* within XATTR_LIST_MAX, unique, at most TREE_KV_MAX pairs */
	assert_true(len <= 65536);
	for (size_t o = 0; o < len; o += strlen(v + o) + 1) {
		n++;
		for (size_t p = o + strlen(v + o) + 1; p < len;
		     p += strlen(v + p) + 1)
			assert_string_not_equal(v + o, v + p);
	}
	/* the pairs, and the 9 attributes of every raw image */
	assert_true(n > 100 && n <= TREE_KV_MAX + 9);
	free(v);
	/* the first pairs read back */
	assert_int_equal(tree_getxattr(fx->tree, a.ino,
				       "user.idr.kv.flood_key_00000",
				       UINT64_MAX, &v, &len),
			 0);
	assert_memory_equal(v, "v0", 2);
	free(v);
	char *log = log_release();

	assert_non_null(strstr(log, "/ds/img00000.tif': 5004 key/value pairs; "
				    "only the first 1024 are shown"));
	free(log);
}

struct looker {
	struct tree *t;
	uint64_t ino;
	int rc;
};

static void *look_up(void *arg)
{
	struct looker *l = arg;
	struct tree_attr a;

	l->rc = tree_lookup(l->t, l->ino, "scr", UINT64_MAX, &a);
	return NULL;
}

static void test_tree_wait_deadline(void **state)
{
	struct fixture *fx = *state;
	struct looker l = {.t = fx->tree};
	struct tree_attr a;
	pthread_t th;
	uint64_t t0;
	int rc;

	/* a thread waiting for another's listing gives up at its own
	 * deadline with ETIMEDOUT; the listing goes on */
	assert_int_equal(walk(fx->tree, "screens", &a), 0);
	l.ino = a.ino;
	fx->fake.delay_ms = 500;
	pthread_create(&th, NULL, look_up, &l);
	usleep(100 * 1000);
	t0 = http_now_ms();
	rc = tree_lookup(fx->tree, a.ino, "scr", t0 + 100, &a);
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(http_now_ms() - t0 < 300);
	pthread_join(th, NULL);
	assert_int_equal(l.rc, 0);
	fx->fake.delay_ms = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tree_originals_deep, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_originals_wide, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_names_total, setup,
						teardown),
		cmocka_unit_test(test_tree_names_hostile),
		cmocka_unit_test_setup_teardown(test_tree_view_detect_fault,
						setup_view, teardown),
		cmocka_unit_test_setup_teardown(test_tree_listing_404, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_view_study_404,
						setup_view, teardown),
		cmocka_unit_test_setup_teardown(test_tree_xattr_flood, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_wait_deadline, setup,
						teardown),
		cmocka_unit_test(test_tree_sanitize),
		cmocka_unit_test(test_tree_sanitize_cut_dots),
		cmocka_unit_test(test_tree_well_names),
		cmocka_unit_test_setup_teardown(test_tree_root, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_names_unique, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_images, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_duplicate_images,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_inodes_stable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_listing_cost, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_ttl_and_stale,
						setup_ttl0, teardown),
		cmocka_unit_test_setup_teardown(test_tree_wells, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_single_flight, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_originals, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_view_root, setup_view,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_view_lookup_first,
						setup_view, teardown),
		cmocka_unit_test_setup_teardown(test_tree_view_menus,
						setup_view, teardown),
		cmocka_unit_test_setup_teardown(test_tree_view_term, setup_view,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_view_screen_links,
						setup_view, teardown),
		cmocka_unit_test_setup_teardown(test_tree_view_lookup,
						setup_view, teardown),
		cmocka_unit_test_setup_teardown(test_tree_view_tsv, setup_view,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_view_study_txt,
						setup_view, teardown),
		cmocka_unit_test_setup_teardown(test_tree_view_xattrs,
						setup_view, teardown),
		cmocka_unit_test_setup_teardown(test_tree_view_errors,
						setup_view, teardown),
		cmocka_unit_test_setup_teardown(test_tree_view_inodes_stable,
						setup_view, teardown),
		cmocka_unit_test(test_tree_names_rules),
		cmocka_unit_test_setup_teardown(test_tree_times, setup_view,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_dir_xattrs,
						setup_view, teardown),
		cmocka_unit_test_setup_teardown(test_tree_orig_mirror, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_gen_cached, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_gen_background, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_stats, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
