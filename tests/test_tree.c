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
#include "idrfs/search.h"
#include "idrfs/tiff.h"
#include "idrfs/tree.h"

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

static char *image_json(int64_t id, const char *name, bool zarr)
{
	return json_printf(
		"{\"@id\": %" PRId64 ", \"Name\": \"%s\", "
		"\"omero:details\": {%s}, "
		"\"Pixels\": {\"SizeX\": 64, \"SizeY\": 48, \"SizeZ\": 3, "
		"\"SizeC\": 2, \"SizeT\": 1, \"Type\": {\"value\": "
		"\"uint16\"}, "
		"\"PhysicalSizeX\": {\"Value\": 0.5, \"Unit\": "
		"\"MICROMETER\"}}}",
		id, name,
		zarr ? "\"externalInfo\": {\"Lsid\": "
		       "\"s3://h/b/x.zarr?anonymous=true\"}"
		     : "");
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
	size_t len;
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
	b->p = realloc(b->p, b->len + strlen(s) + 1);
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
			       "BY 4.0\"]]}");
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
	if (strstr(url, "/api/v0/m/projects/11/datasets/"))
		return json_printf("{\"data\": [{\"@id\": 21, \"Name\": "
				   "\"ds\"}], \"meta\": {\"offset\": 0, "
				   "\"limit\": 1000, \"maxLimit\": 1000, "
				   "\"totalCount\": 1}}");
	if (strstr(url, "/api/v0/m/datasets/21/images/")) {
		size_t total = f->dataset_images;

		for (size_t i = (size_t)off; i < total && n < 1000; i++) {
			char name[32];

			snprintf(name, sizeof(name), "%s%05zu",
				 f->dup_names && i < 3 ? "dup" : "img",
				 f->dup_names && i < 3 ? (size_t)0 : i);
			items[n++] =
				image_json(1000 + (int64_t)i, name, i != 1);
		}
		return page(items, n, total, (size_t)off);
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
			"\"Name\": \"w1\", \"omero:details\": "
			"{\"externalInfo\": "
			"{\"Lsid\": \"s3://h/b/w.zarr\"}}}}, {\"Image\": "
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
		char *a = image_json(7001, "w1", true);
		char *b = image_json(7002, "w2", false);
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
				 .mount_time = 1700000000,
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
				 .mount_time = 1700000000,
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
	assert_string_equal(out, "_.");
	tree_sanitize_name("..", out, TREE_NAME_MAX);
	assert_string_equal(out, "_..");
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
	assert_int_equal(d->n, 3);
	assert_string_equal(d->ents[0].name, "README.txt");
	assert_string_equal(d->ents[1].name, "projects");
	assert_string_equal(d->ents[2].name, "screens");
	assert_false(d->ents[0].attr.is_dir);
	assert_true(d->ents[1].attr.is_dir);
	tree_dir_free(d);
	assert_int_equal(fx->fake.requests, 0);
	/* README.txt names the remote and is readable at any offset */
	assert_true(tree_read(fx->tree, 2, 0, sizeof(buf), buf, UINT64_MAX) >
		    0);
	assert_memory_equal(buf, "idrfs: http://fake,", 19);
	assert_int_equal(tree_read(fx->tree, 2, 1u << 20, 10, buf, UINT64_MAX),
			 0);
}

static void test_tree_names_unique(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;

	/* a '/' in a project name becomes '_'; equal names all get [id] */
	assert_int_equal(walk(fx->tree, "projects", &a), 0);
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	assert_int_equal(d->n, 3);
	assert_string_equal(d->ents[0].name, "idr0001_experimentA");
	assert_string_equal(d->ents[1].name, "same [12]");
	assert_string_equal(d->ents[2].name, "same [13]");
	tree_dir_free(d);
	assert_int_equal(walk(fx->tree, "projects/same [13]", &a), 0);
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
		tree_read(fx->tree, a.ino, 0, sizeof(buf), buf, UINT64_MAX),
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
			      "dup00000 [1000].tif",
			      &a),
			 0);
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "dup00000 [1002].tif",
			      &a),
			 0);
	/* names are compared whole: a .rendered.tif does not collide */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "dup00000.rendered.tif",
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
	/* each image and its .originals directory, and images.tsv */
	assert_int_equal(d->n, 5001);
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
	assert_int_equal(d->n, 4);
	assert_string_equal(d->ents[0].name, "field-1.originals");
	assert_true(d->ents[0].attr.is_dir);
	assert_string_equal(d->ents[1].name, "field-1.tif");
	assert_string_equal(d->ents[2].name, "field-2.originals");
	assert_string_equal(d->ents[3].name, "field-2.rendered.tif");
	assert_true(d->ents[1].attr.size > 64 * 48 * 2 * 6);
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

	/* beside each image, its .originals: the fileset's files below
	 * their common directory, subdirectories kept, sizes from HEAD */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img00000.originals",
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
			      "projects/idr0001_experimentA/ds/"
			      "img00000.originals/data/b.tif",
			      &a),
			 0);
	assert_int_equal(a.size, strlen("http://root/s/run/data/b.tif"));
	/* subdirectories come with their parent: no request */
	assert_int_equal(fx->fake.requests, before + 3);
	/* a path that climbs out of the fileset is refused */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img00001.originals/x",
			      &a),
			 -EBADMSG);
	/* no fileset: empty */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img00002.originals",
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
		tree_read(fx->tree, TREE_ROOT_INO, 0, 1, name, UINT64_MAX),
		-EISDIR);
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

	assert_int_equal(walk(t, path, &a), 0);
	assert_false(a.lazy);
	assert_int_equal(tree_open(t, a.ino, UINT64_MAX), 0);
	buf = calloc(a.size + 2, 1);
	got = tree_read(t, a.ino, 0, a.size + 1, buf, UINT64_MAX);
	tree_release(t, a.ino);
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
	assert_string_equal(names, "README.txt|by-gene|by-organism|"
				   "by-phenotype|projects|screens");
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

	/* phenotypes: "<label> [<accession>]", spelled and labelled from
	 * a page of images (the engine lists "cmpo_0000294") */
	names = names_of(fx->tree, "by-phenotype");
	assert_string_equal(names, "increased actin localised to the nucleus "
				   "[CMPO_0000294]");
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
	assert_true(strlen(d->ents[2].name) >= 200);
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
	 * the project's and the dataset's listings, not one per image */
	before = fx->fake.requests;
	names = names_of(fx->tree, "by-gene/ABC1/idr0001_experimentA");
	assert_string_equal(names, "img00000.tif|img00001.rendered.tif");
	free(names);
	assert_int_equal(fx->fake.requests, before + 2);
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
	/* screen images: the screen's, the plate's listings: well and
	 * field from the plate's listing, no request per well */
	before = fx->fake.requests;
	names = names_of(fx->tree, "by-organism/Homo sapiens/scr");
	assert_string_equal(names, "w1.tif|w2.rendered.tif");
	free(names);
	assert_int_equal(fx->fake.requests, before + 2);
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
			      "nucleus [cmpo_0000294]",
			      &a),
			 0);
	assert_int_equal(
		walk(fx->tree, "by-phenotype/wrong label [CMPO_0000294]", &a),
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
	text = read_all(fx->tree, "projects/idr0001_experimentA/ds/images.tsv",
			&len);
	assert_int_equal(fx->fake.requests, before + 1);
	assert_int_equal(fx->fake.kv_requests, 1);
	assert_int_equal(strlen(text), len);
	static const char header[] =
		"path\tid\tname\tSizeX\tSizeY\tSizeZ\tSizeC\tSizeT\t"
		"PixelType\tPhysicalSizeX\tPhysicalSizeY\tPhysicalSizeZ\t"
		"source\tGene Symbol\tOrganism\tPhenotype Term Accession\t"
		"Phenotype Term Name\n";

	assert_memory_equal(text, header, strlen(header));
	line = strstr(text, "\nprojects/idr0001_experimentA/ds/img00000.tif\t");
	assert_non_null(line);
	assert_true(
		strncmp(line + 1,
			"projects/idr0001_experimentA/ds/img00000.tif\t1000\t"
			"img00000\t64\t48\t3\t2\t1\tuint16\t0.5\t\t\tzarr\t"
			"ABC1\tbad name\tCMPO_0000294\tincreased actin "
			"localised to the nucleus\n",
			strlen("projects/idr0001_experimentA/ds/"
			       "img00000.tif\t1000\timg00000\t64\t48\t3\t2\t1\t"
			       "uint16\t0.5\t\t\tzarr\tABC1\tbad name\t"
			       "CMPO_0000294\tincreased actin localised to "
			       "the nucleus\n")) == 0);
	assert_non_null(strstr(text, "img00001.rendered.tif\t1001\timg00001\t"
				     "64\t48\t3\t2\t1\tuint16\t0.5\t\t\t"
				     "rendered\tABC1\t\t\t\n"));
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
	assert_non_null(strstr(text, "Study:       idr0001_experimentA\n"));
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
#undef GET
	/* a directory has none */
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

static void test_tree_view_errors(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;
	char *names;

	/* detection fails: the root lists without menus, and detection
	 * is tried again later */
	fx->fake.fail_on = "/searchengine/";
	fx->fake.fail_on_rc = -ETIMEDOUT;
	names = names_of(fx->tree, "");
	assert_string_equal(names, "README.txt|projects|screens");
	free(names);
	assert_int_equal(walk(fx->tree, "by-gene", &a), -ENOENT);
	usleep(60 * 1000);
	fx->fake.fail_on = NULL;
	names = names_of(fx->tree, "");
	assert_string_equal(names, "README.txt|by-gene|by-organism|"
				   "by-phenotype|projects|screens");
	free(names);
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
	/* images.tsv whose key/values fail: EIO, then built when they
	 * come back */
	fx->fake.fail_on = "/webclient/api/annotations/";
	fx->fake.fail_on_rc = -EIO;
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/images.tsv", &a),
			 -EIO);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
