/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the search module and of the JSON mapping of search-engine,
 * mapr and annotation answers (api_json_search.c): the real samples of
 * tests/data/idr-samples, fixtures in the documented shapes with their
 * quirks (tests/data/search), and a fake remote that answers like the IDR
 * search engine or mapr from a small in-memory archive.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
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
#include "idrfs/search.h"

#include "testutil.h"

/* ---- the JSON mapping, from files ---- */

static char *load(const char *name, size_t *len)
{
	char *s = testutil_read(name, len);

	assert_non_null(s);
	return s;
}

static int page_of(const char *name, struct api_se_page *p)
{
	size_t len;
	char *s = load(name, &len);
	int rc = api_json_se_page(s, len, name, p);

	free(s);
	return rc;
}

static int values_of(const char *name, struct api_se_value **v, size_t *n)
{
	size_t len;
	char *s = load(name, &len);
	int rc = api_json_se_values(s, len, name, v, n);

	free(s);
	return rc;
}

static void test_search_json_samples_printed(void **state)
{
	static const char *const printed[] = {
		"idr-samples/idr_searchengine_image_search_GeneSymbol_ade8."
		"printed.txt",
		"idr-samples/idr_mapr_api_gene_CDC20_screens.printed.txt",
		"idr-samples/idr_mapr_api_gene_CDC20_plates_screen1204.printed."
		"txt",
		"idr-samples/idr_webclient_api_annotations_map_image_122770."
		"printed.txt",
		"idr-samples/idr_webclient_api_annotations_map_screen_102."
		"printed.txt",
	};
	struct api_se_page p;
	struct api_container *c;
	struct api_annotation *a;
	size_t n, len;

	(void)state;
	/* printed Python output is not JSON: every parser says -EBADMSG */
	for (size_t i = 0; i < sizeof(printed) / sizeof(printed[0]); i++) {
		char *s = load(printed[i], &len);

		assert_int_equal(api_json_se_page(s, len, printed[i], &p),
				 -EBADMSG);
		assert_int_equal(api_json_mapr_containers(s, len, printed[i],
							  "screens", &c, &n),
				 -EBADMSG);
		assert_int_equal(
			api_json_map_annotations(s, len, printed[i], &a, &n),
			-EBADMSG);
		free(s);
	}
}

static void test_search_json_samples_partial(void **state)
{
	const char *name = "idr-samples/"
			   "idr_webclient_api_annotations_map_values_mapr_"
			   "CDC20_images.partial.json";
	struct api_annotation *a;
	struct api_kv *kvs = NULL;
	size_t n = 0, len;
	char *s = load(name, &len);
	bool cdc20 = false;

	(void)state;
	/* the partial sample is JSON: the flattening parser maps its
	 * values; it is not an annotations answer for the grouped one */
	assert_int_equal(api_json_annotations(s, len, name, &kvs, &n), 0);
	assert_true(n > 20);
	for (size_t i = 0; i < n; i++)
		cdc20 = cdc20 || (strcmp(kvs[i].key, "Gene Symbol") == 0 &&
				  strcmp(kvs[i].value, "CDC20") == 0);
	assert_true(cdc20);
	api_kvs_free(kvs, n);
	assert_int_equal(api_json_map_annotations(s, len, name, &a, &n),
			 -EBADMSG);
	free(s);
}

static void test_search_json_annotations(void **state)
{
	struct api_annotation *a = NULL;
	size_t n = 0, len;
	char *s = load("search/annotations_image_122770.json", &len);

	(void)state;
	/* grouped as sent, with the object each is linked to; the file
	 * annotation is skipped */
	assert_int_equal(api_json_map_annotations(s, len, "x", &a, &n), 0);
	free(s);
	assert_int_equal(n, 4);
	assert_string_equal(a[1].ns, "openmicroscopy.org/mapr/gene");
	assert_string_equal(a[1].parent_class, "ImageI");
	assert_int_equal(a[1].parent_id, 122770);
	assert_string_equal(a[1].parent_name,
			    "Plate8_Actinome1 [Well O02 Field #1]");
	assert_int_equal(a[2].nvalues, 4);
	assert_string_equal(a[2].values[1].value,
			    "increased actin localised to the nucleus");
	assert_string_equal(a[3].values[2].value, "CMPO_0000300");
	api_annotations_free(a, n);

	/* the study annotation of screen 102, real values */
	s = load("search/annotations_screen_102.json", &len);
	assert_int_equal(api_json_map_annotations(s, len, "x", &a, &n), 0);
	free(s);
	assert_int_equal(n, 1);
	assert_int_equal(a[0].nvalues, 16);
	assert_string_equal(a[0].values[11].key, "Publication DOI");
	assert_true(strncmp(a[0].values[8].value, "H\xc3\xa9rich\xc3\xa9", 8) ==
		    0);
	api_annotations_free(a, n);

	/* wrong types */
	s = load("search/annotations_pair_number.json", &len);
	assert_int_equal(api_json_map_annotations(s, len, "x", &a, &n),
			 -EBADMSG);
	free(s);
	s = load("search/annotations_parent_id_string.json", &len);
	assert_int_equal(api_json_map_annotations(s, len, "x", &a, &n),
			 -EBADMSG);
	free(s);
}

static void test_search_json_keys(void **state)
{
	char **keys = NULL;
	size_t n = 0, len;
	char *s = load("search/se_keys.json", &len);

	(void)state;
	assert_int_equal(api_json_se_keys(s, len, "x", &keys, &n), 0);
	free(s);
	assert_int_equal(n, 8);
	assert_string_equal(keys[3], "Gene Symbol");
	api_strings_free(keys, n);
	/* a data source with no cached keys has no "image" */
	s = load("search/se_keys_no_cache.json", &len);
	assert_int_equal(api_json_se_keys(s, len, "x", &keys, &n), 0);
	assert_int_equal(n, 0);
	api_strings_free(keys, n);
	free(s);
	/* HTTP 200 {"Error": ...}: -EIO */
	s = load("search/se_keys_mode_error.json", &len);
	assert_int_equal(api_json_se_keys(s, len, "x", &keys, &n), -EIO);
	free(s);
	s = load("search/se_keys_not_string.json", &len);
	assert_int_equal(api_json_se_keys(s, len, "x", &keys, &n), -EBADMSG);
	free(s);
}

static void test_search_json_values(void **state)
{
	struct api_se_value *v = NULL;
	size_t n = 0;

	(void)state;
	/* lower-cased values kept as sent (a leading space too), empty
	 * values left out, counts that arrive as 12.0 accepted */
	assert_int_equal(values_of("search/se_values_gene.json", &v, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].value, " ciz1");
	assert_string_equal(v[1].value, "ade8");
	assert_int_equal(v[1].count, 12);
	assert_string_equal(v[2].key, "gene symbol");
	api_se_values_free(v, n);
	/* no bucket: the "total_number_of_None" body */
	assert_int_equal(values_of("search/se_values_none.json", &v, &n), 0);
	assert_int_equal(n, 0);
	api_se_values_free(v, n);
	/* the user guide's verbatim searchvalues answer */
	assert_int_equal(
		values_of("search/se_searchvalues_userguide.json", &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].value, "normal tissue, nos");
	assert_int_equal(v[0].count, 1654117);
	api_se_values_free(v, n);
	/* errors and wrong types */
	assert_int_equal(values_of("search/se_values_no_key.json", &v, &n),
			 -EIO);
	assert_int_equal(
		values_of("search/se_values_value_number.json", &v, &n),
		-EBADMSG);
}

/* A page's parse ends at its request's deadline (parse_until): a body of
 * many hits is read in slices, and a passed deadline stops it. */
static void test_search_json_page_deadline(void **state)
{
	struct api_se_page p = {0};
	struct http_req r = {.url = "big-page"};
	size_t n = 20000, len = 0, cap = 64 + n * 96;
	char *b = malloc(cap);

	(void)state;
	len += (size_t)snprintf(b + len, cap - len,
				"{\"results\": {\"results\": [");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(b + len, cap - len,
					"%s{\"id\": %zu, \"name\": \"i%zu\"}",
					i ? ", " : "", i + 1, i);
	len += (size_t)snprintf(b + len, cap - len,
				"], \"size\": %zu, \"bookmark\": [%zu]}}", n,
				n);
	r.body = b;
	r.len = len;
	/* the deadline has passed: no parse */
	r.parse_until = 1;
	assert_int_equal(api_accept_se_page(&r, &p), -ETIMEDOUT);
	/* far ahead: parsed, and refused for its 20 000 hits (more than a
	 * page may hold), not for time */
	r.parse_until = http_now_ms() + 600000;
	assert_int_equal(api_accept_se_page(&r, &p), -EBADMSG);
	free(b);
}

static void test_search_json_page(void **state)
{
	struct api_se_page p = {0};

	(void)state;
	/* the documented image object: float container ids, key/values */
	assert_int_equal(page_of("search/se_search_ade8.json", &p), 0);
	assert_int_equal(p.n, 2);
	assert_int_equal(p.size, 2);
	assert_int_equal(p.bookmark, 15574);
	assert_int_equal(p.hits[0].id, 15573);
	assert_int_equal(p.hits[0].screen_id, 3);
	assert_int_equal(p.hits[0].plate_id, 7);
	assert_int_equal(p.hits[0].well_id, 1234);
	assert_int_equal(p.hits[0].project_id, 0);
	assert_true(p.hits[0].has_kvs);
	assert_int_equal(p.hits[0].nkvs, 8);
	assert_string_equal(p.hits[0].kvs[5].key, "Gene Symbol");
	assert_string_equal(p.hits[0].kvs[5].value, "ADE8");
	assert_string_equal(p.hits[1].name, "img \xc3\xa9");
	assert_int_equal(p.hits[1].project_id, 101);
	assert_int_equal(p.hits[1].dataset_id, 51);
	api_se_page_release(&p);
	/* "results": [] is an empty page, not an error */
	assert_int_equal(page_of("search/se_search_empty.json", &p), 0);
	assert_int_equal(p.n, 0);
	api_se_page_release(&p);
	/* an image without key/values: the null placeholder is left out */
	assert_int_equal(page_of("search/se_search_no_kv.json", &p), 0);
	assert_int_equal(p.n, 1);
	assert_true(p.hits[0].has_kvs);
	assert_int_equal(p.hits[0].nkvs, 0);
	api_se_page_release(&p);
	/* "Error": "none" (study= answers) is not an error */
	assert_int_equal(page_of("search/se_search_study_error_none.json", &p),
			 0);
	assert_int_equal(p.n, 1);
	api_se_page_release(&p);
	/* random_results: the bookmark is a random float, not an id */
	assert_int_equal(page_of("search/se_search_random.json", &p), 0);
	assert_int_equal(p.bookmark, -1);
	api_se_page_release(&p);
	/* the engine's error forms: -EIO */
	assert_int_equal(page_of("search/se_search_filter_error.json", &p),
			 -EIO);
	assert_int_equal(page_of("search/se_search_data_source.json", &p),
			 -EIO);
	/* HTML, text, truncated JSON, wrong types: -EBADMSG */
	assert_int_equal(page_of("search/flask_500.html", &p), -EBADMSG);
	assert_int_equal(page_of("search/se_not_found.txt", &p), -EBADMSG);
	assert_int_equal(page_of("search/se_search_truncated.json", &p),
			 -EBADMSG);
	assert_int_equal(page_of("search/se_search_error_number.json", &p),
			 -EBADMSG);
	assert_int_equal(page_of("search/se_search_name_number.json", &p),
			 -EBADMSG);
	assert_int_equal(page_of("search/se_search_id_fraction.json", &p),
			 -EBADMSG);
	assert_int_equal(page_of("search/se_search_plate_id_string.json", &p),
			 -EBADMSG);
	assert_int_equal(page_of("search/se_search_kv_value_number.json", &p),
			 -EBADMSG);
	assert_int_equal(page_of("search/se_search_results_list.json", &p),
			 -EBADMSG);
	/* a return_containers answer has no images to map */
	assert_int_equal(page_of("search/se_containers.json", &p), 0);
	assert_int_equal(p.n, 1);
	api_se_page_release(&p);
}

static void test_search_json_mapr(void **state)
{
	struct api_mapr_menu *m = NULL;
	struct api_container *c = NULL;
	struct api_se_value *v = NULL;
	struct api_hit *h = NULL;
	size_t n = 0, len;
	char *s;

	(void)state;
	s = load("search/mapr_config.json", &len);
	assert_int_equal(api_json_mapr_config(s, len, "x", &m, &n), 0);
	free(s);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(m[i].name, "phenotype") == 0)
			assert_true(m[i].wildcard);
		if (strcmp(m[i].name, "gene") == 0)
			assert_false(m[i].wildcard);
	}
	api_mapr_menus_free(m, n);
	/* the real CDC20 screens: names keep mapr's " (N)" counters */
	s = load("search/mapr_gene_CDC20.json", &len);
	assert_int_equal(
		api_json_mapr_containers(s, len, "x", "screens", &c, &n), 0);
	assert_int_equal(n, 12);
	assert_int_equal(c[11].id, 1204);
	assert_string_equal(c[11].name, "idr0020-barr-chtog/screenA (120)");
	api_containers_free(c, n);
	assert_int_equal(
		api_json_mapr_containers(s, len, "x", "projects", &c, &n), 0);
	assert_int_equal(n, 0);
	api_containers_free(c, n);
	assert_int_equal(api_json_mapr_maps(s, len, "x", &v, &n), 0);
	assert_int_equal(n, 0);
	api_se_values_free(v, n);
	/* a list the answer does not have */
	assert_int_equal(
		api_json_mapr_containers(s, len, "x", "plates", &c, &n),
		-EBADMSG);
	free(s);
	s = load("search/mapr_gene_CDC20_plates_1204.json", &len);
	assert_int_equal(
		api_json_mapr_containers(s, len, "x", "plates", &c, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(c[2].name, "200972431 NS[2667]");
	api_containers_free(c, n);
	free(s);
	s = load("search/mapr_maps_organism.json", &len);
	assert_int_equal(api_json_mapr_maps(s, len, "x", &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].value, "Homo sapiens");
	assert_int_equal(v[0].count, 192);
	api_se_values_free(v, n);
	free(s);
	s = load("search/mapr_images.json", &len);
	assert_int_equal(api_json_mapr_images(s, len, "x", &h, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(h[0].id, 1915895);
	assert_null(h[1].name);
	assert_false(h[0].has_kvs);
	api_hits_free(h, n);
	free(s);
	s = load("search/mapr_images_id_string.json", &len);
	assert_int_equal(api_json_mapr_images(s, len, "x", &h, &n), -EBADMSG);
	free(s);
	/* mapr's redirect target is a page */
	s = load("search/flask_500.html", &len);
	assert_int_equal(api_json_mapr_config(s, len, "x", &m, &n), -EBADMSG);
	free(s);
}

/* ---- a fake remote with a search engine (and mapr) ---- */

/* Map annotations of the fake archive (grouped, as OMERO has them). */
static const char *const fanns[][4][2] = {
	{{"Gene Symbol", "ADE8"}, {"Gene Identifier", "YDR408C"}},
	{{"Organism", "Saccharomyces cerevisiae"}},
	{{"Gene Symbol", "CDK5"}},
	{{"Phenotype", "increased actin over nucleus"},
	 {"Phenotype Term Name", "increased actin localised to the nucleus"},
	 {"Phenotype Term Accession", "CMPO_0000294"}},
	{{"Phenotype", "increased number of multinucleate cells"},
	 {"Phenotype Term Name", "more multinucleate cells"},
	 {"Phenotype Term Accession", "CMPO_0000300"}},
	{{"Gene Symbol", "Ade8"}},
	{{"Organism", "Homo sapiens"}},
	{{"Gene Symbol", "BIG1"}},
	{{"Gene Symbol", "say \"hi\""}},
};

struct fimg {
	int64_t id;
	const char *name;
	int64_t project, dataset, screen, plate, well;
	int anns[5]; /* -1 ends */
};

static const struct fimg fimgs[] = {
	{1, "a1", 11, 21, 0, 0, 0, {0, 1, -1}},
	{2, "a2", 11, 21, 0, 0, 0, {0, 1, -1}},
	{3, "a3", 11, 22, 0, 0, 0, {5, 1, -1}},
	{4, "s1", 0, 0, 31, 41, 51, {2, 3, 4, 6, -1}},
	{5, "s2", 0, 0, 31, 41, 52, {2, 3, 4, 6, -1}},
	{6, "s3", 0, 0, 31, 41, 52, {3, 6, -1}},
	{7, "q", 11, 21, 0, 0, 0, {8, -1}},
};

#define NFIMGS (sizeof(fimgs) / sizeof(fimgs[0]))
#define BIG0   100000

struct fake {
	unsigned requests;
	unsigned big;	       /* images BIG0.. with Gene Symbol BIG1 */
	bool engine;	       /* serve the search engine */
	bool mapr;	       /* serve mapr's JSON (else redirect, as IDR) */
	const char *fail_on;   /* URLs containing this fail ... */
	int fail_rc;	       /* ... with this transport error, or */
	const char *fail_body; /* ... answer this body */
	const char *fail_ctype;
	const char *fail_location; /* with fail_rc -EPROTO: a 302 there */
	char last_url[4096];
};

struct sb {
	char *p;
	size_t len, cap;
};

static void sbf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (b->len + (size_t)n + 1 > b->cap) {
		b->cap = (b->len + (size_t)n + 1) * 2;
		b->p = realloc(b->p, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* A JSON string literal (our values need only quotes escaped). */
static void sbq(struct sb *b, const char *s)
{
	sbf(b, "\"");
	for (; *s; s++)
		sbf(b, *s == '"' ? "\\\"" : "%c", *s);
	sbf(b, "\"");
}

/* A decoded query parameter of url, or NULL. */
static char *param(const char *url, const char *name)
{
	const char *q = strchr(url, '?');
	size_t nl = strlen(name);

	while (q) {
		q++;
		if (strncmp(q, name, nl) == 0 && q[nl] == '=') {
			const char *v = q + nl + 1;
			char *out = calloc(strlen(v) + 1, 1);
			size_t o = 0;

			for (; *v && *v != '&'; v++) {
				if (*v == '%' && v[1] && v[2]) {
					char hex[3] = {v[1], v[2], 0};

					out[o++] = (char)strtol(hex, NULL, 16);
					v += 2;
				} else {
					out[o++] = *v == '+' ? ' ' : *v;
				}
			}
			return out;
		}
		q = strchr(q, '&');
	}
	return NULL;
}

/* Image i of the archive: the model's, then the big ones. */
static bool fimg_at(const struct fake *f, size_t i, struct fimg *out)
{
	if (i < NFIMGS) {
		*out = fimgs[i];
		return true;
	}
	if (i - NFIMGS >= f->big)
		return false;
	*out = (struct fimg){
		(int64_t)(BIG0 + i - NFIMGS), "big", 12, 23, 0, 0, 0, {7, -1}};
	return true;
}

static bool has_kv(const struct fimg *im, const char *key, const char *value,
		   bool contains, bool exact)
{
	for (int a = 0; im->anns[a] >= 0; a++) {
		for (int k = 0; k < 4 && fanns[im->anns[a]][k][0]; k++) {
			const char *kk = fanns[im->anns[a]][k][0];
			const char *vv = fanns[im->anns[a]][k][1];

			if (exact ? strcmp(kk, key) : strcasecmp(kk, key))
				continue;
			if (exact && strcmp(vv, value) == 0)
				return true;
			if (!exact && !contains && strcasecmp(vv, value) == 0)
				return true;
			if (contains && strcasestr(vv, value))
				return true;
		}
	}
	return false;
}

/* An image document: key/values flattened by index, as IDR orders them
 * (so entries of one annotation are not next to each other). */
static void image_doc(struct sb *b, const struct fimg *im)
{
	bool first = true;

	sbf(b, "{\"data_source\":\"idr\",\"id\":%" PRId64 ",\"key_values\":[",
	    im->id);
	for (int k = 0; k < 4; k++) {
		for (int a = 0; im->anns[a] >= 0; a++) {
			const char *const(*kv)[2] = fanns[im->anns[a]];

			if (!kv[k][0])
				continue;
			sbf(b, "%s{\"index\":%d,\"name\":", first ? "" : ",",
			    k);
			sbq(b, kv[k][0]);
			sbf(b, ",\"value\":");
			sbq(b, kv[k][1]);
			sbf(b, "}");
			first = false;
		}
	}
	sbf(b, "],\"name\":\"%s\"", im->name);
	if (im->screen)
		sbf(b,
		    ",\"plate_id\":%" PRId64 ".0,\"project_id\":null,"
		    "\"screen_id\":%" PRId64 ".0,\"well_id\":%" PRId64 ".0,"
		    "\"dataset_id\":null",
		    im->plate, im->screen, im->well);
	else
		sbf(b,
		    ",\"dataset_id\":%" PRId64 ",\"project_id\":%" PRId64
		    ",\"plate_id\":null,\"screen_id\":null,\"well_id\":null",
		    im->dataset, im->project);
	sbf(b, "}");
}

static char *engine(struct fake *f, const char *url)
{
	struct sb b = {0};

	if (strstr(url, "/image/keys/")) {
		sbf(&b, "[{\"data_source\":\"idr\",\"image\":[\"Gene Symbol\","
			"\"Organism\",\"Phenotype Term Accession\","
			"\"Phenotype Term Name\",\"Phenotype\"]}]");
		return b.p;
	}
	if (strstr(url, "/image/searchvaluesusingkey/")) {
		char *key = param(url, "key");
		char seen[64][128];
		int counts[64], ns = 0;
		struct fimg im;

		for (size_t i = 0; fimg_at(f, i, &im); i++) {
			for (int a = 0; im.anns[a] >= 0; a++) {
				for (int k = 0;
				     k < 4 && fanns[im.anns[a]][k][0]; k++) {
					char low[128];
					int j;

					if (strcasecmp(fanns[im.anns[a]][k][0],
						       key))
						continue;
					snprintf(low, sizeof(low), "%s",
						 fanns[im.anns[a]][k][1]);
					for (char *p = low; *p; p++)
						*p = (char)tolower(*p);
					for (j = 0; j < ns; j++) {
						if (!strcmp(seen[j], low))
							break;
					}
					if (j == ns) {
						snprintf(seen[ns], 128, "%s",
							 low);
						counts[ns++] = 0;
					}
					counts[j]++;
				}
			}
		}
		sbf(&b, "{\"data\":[");
		for (int j = 0; j < ns; j++) {
			sbf(&b,
			    "%s{\"Key\":\"%s\",\"Number of images\":%d,"
			    "\"Value\":",
			    j ? "," : "", key, counts[j]);
			sbq(&b, seen[j]);
			sbf(&b, ",\"data_source\":\"idr\"}");
		}
		sbf(&b, "],\"total_number_of_buckets\":%d}", ns);
		free(key);
		return b.p;
	}
	if (strstr(url, "/image/search/")) {
		char *key = param(url, "key"), *value = param(url, "value");
		char *bm = param(url, "bookmark"), *op = param(url, "operator");
		int64_t after = bm ? strtoll(bm, NULL, 10) : -1;
		bool contains = op && strcmp(op, "contains") == 0;
		size_t size = 0, n = 0;
		int64_t last = -1;
		struct fimg im;

		if (strchr(value, '"') && !contains) {
			/* the engine's literal_eval chokes: Flask's 500 */
			free(key);
			free(value);
			free(bm);
			free(op);
			return NULL;
		}
		for (size_t i = 0; fimg_at(f, i, &im); i++)
			size += has_kv(&im, key, value, contains, false);
		sbf(&b, "{\"notice\":\"\",\"resource\":\"image\",\"results\":");
		for (size_t i = 0; fimg_at(f, i, &im) && n < 1000; i++) {
			if (im.id <= after ||
			    !has_kv(&im, key, value, contains, false))
				continue;
			sbf(&b, n ? "," : "{\"results\":[");
			image_doc(&b, &im);
			last = im.id;
			n++;
		}
		if (n == 0)
			sbf(&b, "[]");
		else
			sbf(&b,
			    "],\"bookmark\":[%" PRId64 "],\"size\":%zu,"
			    "\"total_pages\":%zu}",
			    last, size, (size + 999) / 1000);
		sbf(&b, ",\"server_query_time\":\"0.01\"}\n");
		free(key);
		free(value);
		free(bm);
		free(op);
		return b.p;
	}
	return NULL;
}

static const char *const mapr_keys[][3] = {
	{"gene", "Gene Symbol", "Gene Identifier"},
	{"phenotype", "Phenotype", "Phenotype Term Accession"},
	{"organism", "Organism", NULL},
};

static bool mapr_match(const struct fimg *im, const char *menu,
		       const char *value)
{
	for (size_t m = 0; m < 3; m++) {
		if (strcmp(mapr_keys[m][0], menu) != 0)
			continue;
		return has_kv(im, mapr_keys[m][1], value, false, true) ||
		       (mapr_keys[m][2] &&
			has_kv(im, mapr_keys[m][2], value, false, true));
	}
	return false;
}

static void annotation_json(struct sb *b, int a, int64_t parent)
{
	sbf(b, "{\"class\":\"MapAnnotationI\",\"id\":%d,\"ns\":\"x\",", a);
	if (parent > 0)
		sbf(b,
		    "\"link\":{\"parent\":{\"class\":\"ImageI\",\"id\":%" PRId64
		    "}},",
		    parent);
	sbf(b, "\"values\":[");
	for (int k = 0; k < 4 && fanns[a][k][0]; k++) {
		sbf(b, "%s[", k ? "," : "");
		sbq(b, fanns[a][k][0]);
		sbf(b, ",");
		sbq(b, fanns[a][k][1]);
		sbf(b, "]");
	}
	sbf(b, "]}");
}

static char *mapr(struct fake *f, const char *url)
{
	struct sb b = {0};
	const char *p = strstr(url, "/mapr/api/") + 10;
	char menu[32] = "";
	char *value = param(url, "value"), *id = param(url, "id");
	struct fimg im;

	sscanf(p, "%31[a-z]", menu);
	if (strncmp(p, "config/", 7) == 0) {
		sbf(&b, "{\"gene\": {\"all\": [\"Gene Symbol\"]}, "
			"\"phenotype\": {\"wildcard\": {\"enabled\": true}}, "
			"\"organism\": {\"wildcard\": {\"enabled\": true}}, "
			"\"others\": {}}");
	} else if (!f->mapr) {
		b.p = NULL; /* IDR: a 302 to an HTML page */
	} else if (strstr(p, "/count/")) {
		sbf(&b, "{\"experimenter\": {\"id\": -1}}");
	} else if (strstr(p, "/annotations/")) {
		char *map = param(url, "map");

		sbf(&b, "{\"annotations\": [");
		for (int a = 0, n = 0;
		     a < (int)(sizeof(fanns) / sizeof(fanns[0])); a++) {
			bool hit = false;

			for (int k = 0; k < 4 && fanns[a][k][0]; k++)
				hit = hit || strcmp(fanns[a][k][1], map) == 0;
			if (!hit)
				continue;
			sbf(&b, n++ ? ", " : "");
			annotation_json(&b, a, -1);
		}
		sbf(&b, "], \"experimenters\": []}");
		free(map);
	} else if (strstr(p, "/plates/") || strstr(p, "/datasets/")) {
		bool plates = strstr(p, "/plates/") != NULL;
		int64_t seen[16];
		int ns = 0;

		sbf(&b, "{\"%s\": [", plates ? "plates" : "datasets");
		for (size_t i = 0; fimg_at(f, i, &im); i++) {
			int64_t study = plates ? im.screen : im.project;
			int64_t c = plates ? im.plate : im.dataset;
			bool dup = false;

			if (study != strtoll(id, NULL, 10) || study == 0 ||
			    !mapr_match(&im, menu, value))
				continue;
			for (int j = 0; j < ns; j++)
				dup = dup || seen[j] == c;
			if (dup)
				continue;
			seen[ns++] = c;
			sbf(&b,
			    "%s{\"id\": %" PRId64 ", \"name\": \"c%" PRId64
			    "\"}",
			    ns > 1 ? ", " : "", c, c);
		}
		sbf(&b, "]}");
	} else if (strstr(p, "/images/")) {
		char *node = param(url, "node"), *pg = param(url, "page"),
		     *lim = param(url, "limit");
		long page = pg ? strtol(pg, NULL, 10) : 1;
		long limit = lim ? strtol(lim, NULL, 10) : 500;
		long k = 0, n = 0;

		sbf(&b, "{\"images\": [");
		for (size_t i = 0; fimg_at(f, i, &im); i++) {
			int64_t c = strcmp(node, "plate") == 0 ? im.plate
							       : im.dataset;

			if (c != strtoll(id, NULL, 10) || c == 0 ||
			    !mapr_match(&im, menu, value))
				continue;
			if (k++ < (page - 1) * limit || n >= limit)
				continue;
			sbf(&b, "%s{\"id\": %" PRId64 ", \"name\": \"%s\"}",
			    n++ ? ", " : "", im.id, im.name);
		}
		sbf(&b, "]}");
		free(node);
		free(pg);
		free(lim);
	} else {
		char *orphaned = param(url, "orphaned");

		sbf(&b, "{\"maps\": [");
		if (orphaned && strcmp(menu, "gene") != 0) {
			/* wildcard menus list their values */
			const char *vals[32];
			int nv = 0;

			for (size_t i = 0; fimg_at(f, i, &im); i++) {
				for (int a = 0; im.anns[a] >= 0; a++) {
					for (int k = 0; k < 4; k++) {
						const char *kk =
							fanns[im.anns[a]][k][0];
						const char *vv =
							fanns[im.anns[a]][k][1];
						bool dup = false;

						if (!kk)
							continue;
						for (size_t m = 0; m < 3; m++) {
							if (strcmp(mapr_keys[m]
									    [0],
								   menu) ||
							    (strcmp(kk,
								    mapr_keys
									    [m]
									    [1]) &&
							     (!mapr_keys[m]
									[2] ||
							      strcmp(kk,
								     mapr_keys
									     [m]
									     [2]))))
								continue;
							for (int j = 0; j < nv;
							     j++)
								dup = dup ||
								      !strcmp(vals[j],
									      vv);
							if (!dup)
								vals[nv++] = vv;
						}
					}
				}
			}
			for (int j = 0; j < nv; j++) {
				sbf(&b, "%s{\"id\": ", j ? ", " : "");
				sbq(&b, vals[j]);
				sbf(&b, ", \"extra\": {\"counter\": 1}}");
			}
		}
		sbf(&b, "], \"screens\": [");
		for (int pass = 0; pass < 2; pass++) {
			int64_t seen[16];
			int ns = 0;

			for (size_t i = 0; value && fimg_at(f, i, &im); i++) {
				int64_t s = pass ? im.project : im.screen;
				bool dup = false;

				if (s == 0 || !mapr_match(&im, menu, value))
					continue;
				for (int j = 0; j < ns; j++)
					dup = dup || seen[j] == s;
				if (dup)
					continue;
				seen[ns++] = s;
				sbf(&b,
				    "%s{\"id\": %" PRId64
				    ", \"name\": \"s (1)\"}",
				    ns > 1 ? ", " : "", s);
			}
			sbf(&b, pass ? "]}" : "], \"projects\": [");
		}
		free(orphaned);
	}
	free(value);
	free(id);
	return b.p;
}

static char *webclient(const char *url)
{
	struct sb b = {0};
	char *image = param(url, "image");
	int64_t id = image ? strtoll(image, NULL, 10) : -1;

	sbf(&b, "{\"annotations\": [");
	for (size_t i = 0; i < NFIMGS; i++) {
		if (fimgs[i].id != id)
			continue;
		for (int a = 0; fimgs[i].anns[a] >= 0; a++) {
			sbf(&b, a ? ", " : "");
			annotation_json(&b, fimgs[i].anns[a], id);
		}
	}
	sbf(&b, "], \"experimenters\": []}");
	free(image);
	return b.p;
}

static int fake_fetch(void *ctx, struct http_req *reqs, size_t n,
		      uint64_t deadline)
{
	struct fake *f = ctx;
	int rc = 0;

	(void)deadline;
	for (size_t i = 0; i < n; i++) {
		struct http_req *r = &reqs[i];
		const char *u = r->url;

		f->requests++;
		snprintf(f->last_url, sizeof(f->last_url), "%s", u);
		snprintf(r->content_type, sizeof(r->content_type),
			 "application/json");
		r->body = NULL;
		r->rc = 0;
		r->status = 200;
		r->location[0] = '\0';
		if (f->fail_on && strstr(u, f->fail_on)) {
			if (f->fail_rc) {
				r->rc = f->fail_rc;
				r->status = f->fail_rc == -EPROTO ? 302 : 0;
				snprintf(r->location, sizeof(r->location), "%s",
					 f->fail_location ? f->fail_location
							  : "");
			} else {
				r->body = strdup(f->fail_body);
				snprintf(r->content_type,
					 sizeof(r->content_type), "%s",
					 f->fail_ctype ? f->fail_ctype
						       : "application/json");
			}
		} else if (strstr(u, "/searchengine/")) {
			if (f->engine)
				r->body = engine(f, u);
			if (!r->body)
				r->rc = f->engine ? -EIO : -ENOENT;
		} else if (strstr(u, "/mapr/api/")) {
			r->body = mapr(f, u);
			if (!r->body) {
				/* IDR: 302 to the engine's API page */
				r->rc = -EPROTO;
				r->status = 302;
				snprintf(r->location, sizeof(r->location),
					 "http://fake/searchengine/apidocs/");
			}
		} else if (strstr(u, "/webclient/api/annotations/")) {
			r->body = webclient(u);
		} else {
			r->rc = -ENOENT;
		}
		r->len = r->body ? strlen(r->body) : 0;
		if (r->rc < 0 && rc == 0)
			rc = r->rc;
	}
	return rc;
}

struct fixture {
	struct fake fake;
	struct api *api;
	struct search *s;
};

static struct fixture *fixture_new(enum search_backend b, bool engine,
				   bool maprs)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct api_transport tr = {.fetch = fake_fetch, .ctx = &fx->fake};
	struct search_config sc = {
		.backend = b, .retry_ms = 50, .retry_max_ms = 200};

	fx->fake.engine = engine;
	fx->fake.mapr = maprs;
	assert_int_equal(api_new("http://fake", &tr, &fx->api), 0);
	assert_int_equal(search_new(fx->api, &sc, &fx->s), 0);
	return fx;
}

static int setup_engine(void **state)
{
	*state = fixture_new(SEARCH_AUTO, true, false);
	return 0;
}

static int setup_mapr(void **state)
{
	*state = fixture_new(SEARCH_AUTO, false, true);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	search_free(fx->s);
	api_free(fx->api);
	free(fx);
	return 0;
}

static unsigned menu_of(const char *dir)
{
	for (unsigned m = 0; m < SEARCH_NMENUS; m++) {
		if (strcmp(search_menu_dir(m), dir) == 0)
			return m;
	}
	fail();
	return 0;
}

static const struct search_term *term_named(const struct search_term *v,
					    size_t n, const char *value)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].value, value) == 0)
			return &v[i];
	}
	return NULL;
}

static void test_search_detect(void **state)
{
	struct fixture *fx;
	unsigned mask = 0;

	(void)state;
	/* the engine answers: its image keys tell which menus exist, with
	 * one request, once */
	fx = fixture_new(SEARCH_AUTO, true, false);
	assert_int_equal(search_backend_of(fx->s), SEARCH_AUTO);
	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), 0);
	assert_int_equal(search_backend_of(fx->s), SEARCH_ENGINE);
	assert_int_equal(mask, (1u << menu_of("by-gene")) |
				       (1u << menu_of("by-organism")) |
				       (1u << menu_of("by-phenotype")));
	assert_int_equal(fx->fake.requests, 1);
	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), 0);
	assert_int_equal(fx->fake.requests, 1);
	teardown((void **)&fx);

	/* no engine (404): mapr's config, then one mapr URL */
	fx = fixture_new(SEARCH_AUTO, false, true);
	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), 0);
	assert_int_equal(search_backend_of(fx->s), SEARCH_MAPR);
	assert_int_equal(mask, (1u << menu_of("by-gene")) |
				       (1u << menu_of("by-organism")) |
				       (1u << menu_of("by-phenotype")));
	assert_int_equal(fx->fake.requests, 3);
	teardown((void **)&fx);

	/* IDR without an engine: mapr's config is there, its API
	 * redirects to a page: none, and no menus */
	fx = fixture_new(SEARCH_AUTO, false, false);
	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), 0);
	assert_int_equal(search_backend_of(fx->s), SEARCH_NONE);
	assert_int_equal(mask, 0);
	teardown((void **)&fx);

	/* -o ontology=none: no request at all */
	fx = fixture_new(SEARCH_NONE, true, true);
	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), 0);
	assert_int_equal(mask, 0);
	assert_int_equal(fx->fake.requests, 0);
	teardown((void **)&fx);

	/* -o ontology=mapr on a server that has both */
	fx = fixture_new(SEARCH_MAPR, true, true);
	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), 0);
	assert_int_equal(search_backend_of(fx->s), SEARCH_MAPR);
	assert_null(strstr(fx->fake.last_url, "searchengine"));
	teardown((void **)&fx);

	/* -o ontology=searchengine where there is none: an error, not
	 * "none" */
	fx = fixture_new(SEARCH_ENGINE, false, true);
	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), -ENOENT);
	teardown((void **)&fx);
}

static void test_search_detect_retry(void **state)
{
	struct fixture *fx = *state;
	unsigned mask = 0, before;

	(void)state;
	search_free(fx->s);
	struct search_config sc = {
		.backend = SEARCH_AUTO, .retry_ms = 200, .retry_max_ms = 800};

	assert_int_equal(search_new(fx->api, &sc, &fx->s), 0);
	/* the network fails: an error, and no conclusion */
	fx->fake.fail_on = "/searchengine/";
	fx->fake.fail_rc = -ETIMEDOUT;
	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), -ETIMEDOUT);
	assert_int_equal(search_backend_of(fx->s), SEARCH_AUTO);
	/* within the backoff (200 ms): not asked again */
	before = fx->fake.requests;
	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), -EAGAIN);
	assert_int_equal(fx->fake.requests, before);
	/* after it, asked again at the next use; a broken engine (HTTP 200
	 * {"Error"}) is not "no engine" either */
	usleep(250 * 1000);
	fx->fake.fail_rc = 0;
	fx->fake.fail_body = "{\"Error\": \"Something went wrong\"}";
	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), -EIO);
	assert_int_equal(search_backend_of(fx->s), SEARCH_AUTO);
	assert_int_equal(fx->fake.requests, before + 1);
	/* a second failure in a row: the backoff doubled (400 ms) */
	usleep(250 * 1000);
	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), -EAGAIN);
	assert_int_equal(fx->fake.requests, before + 1);
	/* after it, the healthy server is asked and decides */
	usleep(250 * 1000);
	fx->fake.fail_on = NULL;
	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), 0);
	assert_int_equal(search_backend_of(fx->s), SEARCH_ENGINE);
	assert_int_not_equal(mask, 0);
}

/* Detect through one fault, then with the fault gone. */
static void detect_through(struct fixture *fx, const char *on, int rc,
			   const char *body, const char *ctype,
			   const char *location, enum search_backend healthy)
{
	unsigned mask = 0;
	int got;

	fx->fake.fail_on = on;
	fx->fake.fail_rc = rc;
	fx->fake.fail_body = body;
	fx->fake.fail_ctype = ctype;
	fx->fake.fail_location = location;
	got = search_detect(fx->s, UINT64_MAX, &mask);
	/* a failure, never a conclusion */
	assert_true(got < 0 && got != -ENOENT);
	assert_int_equal(search_backend_of(fx->s), SEARCH_AUTO);
	assert_int_equal(mask, 0);
	usleep(80 * 1000); /* the backoff of one failure: 50 ms */
	fx->fake.fail_on = NULL;
	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), 0);
	assert_int_equal(search_backend_of(fx->s), healthy);
}

static void test_search_detect_faults(void **state)
{
	static const struct {
		const char *on;
		int rc;
		const char *body, *ctype, *location;
	} faults[] = {
		/* 5xx, 429, resets (-EIO), stalls, a dead server */
		{"/searchengine/", -EIO, NULL, NULL, NULL},
		{"/searchengine/", -ETIMEDOUT, NULL, NULL, NULL},
		{"/searchengine/", -ECONNREFUSED, NULL, NULL, NULL},
		/* a truncated body */
		{"/searchengine/", -EBADMSG, NULL, NULL, NULL},
		/* a proxy's error page, malformed JSON */
		{"/searchengine/", 0, "<html>502</html>", "text/html", NULL},
		{"/searchengine/", 0, "{\"data\": [", NULL, NULL},
		/* a redirect from the engine: a loop, a captive portal */
		{"/searchengine/", -EPROTO, NULL, NULL,
		 "http://fake/searchengine/api/v1/resources/image/keys/"},
		{"/searchengine/", -EPROTO, NULL, NULL,
		 "http://portal.example/login"},
	};
	struct fixture *fx;

	(void)state;
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		fx = fixture_new(SEARCH_AUTO, true, false);
		detect_through(fx, faults[i].on, faults[i].rc, faults[i].body,
			       faults[i].ctype, faults[i].location,
			       SEARCH_ENGINE);
		teardown((void **)&fx);
	}
	/* no engine (404), mapr's config, then mapr's URL redirected
	 * elsewhere than IDR's page: a failure; with IDR's own 302 to
	 * /searchengine/apidocs/, "no mapr": none */
	fx = fixture_new(SEARCH_AUTO, false, false);
	detect_through(fx, "/count/", -EPROTO, NULL, NULL,
		       "http://portal.example/login", SEARCH_NONE);
	teardown((void **)&fx);
	fx = fixture_new(SEARCH_AUTO, false, false);
	detect_through(fx, "/mapr/api/config/", -EPROTO, NULL, NULL,
		       "http://fake/searchengine/apidocs/", SEARCH_NONE);
	teardown((void **)&fx);
	fx = fixture_new(SEARCH_AUTO, false, true);
	detect_through(fx, "/mapr/api/config/", -EIO, NULL, NULL, NULL,
		       SEARCH_MAPR);
	teardown((void **)&fx);
}

/* After detection a 404 from the backend is a failure, not "no term". */
static void test_search_404_is_a_fault(void **state)
{
	struct fixture *fx = *state;
	struct search_term term = {0};
	struct search_term *terms = NULL;
	struct api_hit *hits = NULL;
	unsigned mask = 0;
	size_t n = 0;

	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), 0);
	fx->fake.fail_on = "/searchengine/";
	fx->fake.fail_rc = -ENOENT;
	assert_int_equal(search_term_find(fx->s, menu_of("by-gene"), "CDC20",
					  UINT64_MAX, &term),
			 -EIO);
	assert_int_equal(
		search_terms(fx->s, menu_of("by-gene"), UINT64_MAX, &terms, &n),
		-EIO);
	assert_int_equal(search_images(fx->s, menu_of("by-gene"), "CDC20",
				       UINT64_MAX, &hits, &n),
			 -EIO);
	fx->fake.fail_on = NULL;
	/* a term no image has: that answer is ENOENT */
	assert_int_equal(search_term_find(fx->s, menu_of("by-gene"),
					  "NOSUCHGENE", UINT64_MAX, &term),
			 -ENOENT);
}

static void test_search_engine_terms(void **state)
{
	struct fixture *fx = *state;
	struct search_term *t = NULL;
	const struct search_term *x;
	unsigned mask;
	size_t n = 0;

	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), 0);
	fx->fake.requests = 0;
	/* the engine lists lower-cased values; one page of each term's
	 * images spells it as most images do */
	assert_int_equal(
		search_terms(fx->s, menu_of("by-gene"), UINT64_MAX, &t, &n), 0);
	assert_int_equal(n, 3);
	assert_non_null(term_named(t, n, "ADE8"));
	assert_non_null(term_named(t, n, "CDK5"));
	assert_non_null(term_named(t, n, "say \"hi\""));
	x = term_named(t, n, "ADE8");
	assert_int_equal(x->count, 3);
	assert_null(x->label);
	/* 1 list + 1 page per term */
	assert_int_equal(fx->fake.requests, 1 + 3);
	search_terms_free(t, n);

	/* phenotypes: accessions labelled by their term names, even with
	 * two phenotypes on every image of one of them (a tie the grouped
	 * annotations of one image settle: one more request) */
	fx->fake.requests = 0;
	assert_int_equal(search_terms(fx->s, menu_of("by-phenotype"),
				      UINT64_MAX, &t, &n),
			 0);
	assert_int_equal(n, 2);
	x = term_named(t, n, "CMPO_0000294");
	assert_non_null(x);
	assert_string_equal(x->label,
			    "increased actin localised to the nucleus");
	x = term_named(t, n, "CMPO_0000300");
	assert_non_null(x);
	assert_string_equal(x->label, "more multinucleate cells");
	assert_int_equal(fx->fake.requests, 1 + 2 + 1);
	search_terms_free(t, n);
}

/* Spellings and labels found are kept in the metadata cache: a listing
 * cut short goes on where it stopped, and a new daemon probes nothing. */
static void test_search_spellings_kept(void **state)
{
	struct fixture *fx = *state;
	char dir[] = "/tmp/idrfs-test-search-XXXXXX", cmd[64];
	struct cache_config cc = {.remote = "http://fake/",
				  .max_bytes = 16u << 20};
	struct search_config sc = {.backend = SEARCH_ENGINE, .ttl_s = 3600};
	struct cache *c = NULL;
	struct search *s1 = NULL, *s2 = NULL;
	struct search_term *t = NULL;
	const struct search_term *x;
	unsigned mask, menu = menu_of("by-phenotype");
	size_t n = 0;

	assert_non_null(mkdtemp(dir));
	cc.dir = dir;
	assert_int_equal(cache_open(&cc, &c), 0);
	sc.cache = c;
	assert_int_equal(search_new(fx->api, &sc, &s1), 0);
	assert_int_equal(search_detect(s1, UINT64_MAX, &mask), 0);
	/* one term's page fails: the listing fails, the other is kept */
	fx->fake.fail_on = "value=cmpo_0000300";
	fx->fake.fail_rc = -EIO;
	assert_int_equal(search_terms(s1, menu, UINT64_MAX, &t, &n), -EIO);
	fx->fake.fail_on = NULL;
	fx->fake.requests = 0;
	assert_int_equal(search_terms(s1, menu, UINT64_MAX, &t, &n), 0);
	/* the list, and the page of the term that failed with the grouped
	 * annotations its label's tie needs; CMPO_0000294's was kept */
	assert_int_equal(fx->fake.requests, 1 + 1 + 1);
	x = term_named(t, n, "CMPO_0000294");
	assert_non_null(x);
	assert_string_equal(x->label,
			    "increased actin localised to the nucleus");
	x = term_named(t, n, "CMPO_0000300");
	assert_non_null(x);
	assert_string_equal(x->label, "more multinucleate cells");
	search_terms_free(t, n);

	/* a new daemon on the same cache: the list only */
	assert_int_equal(search_new(fx->api, &sc, &s2), 0);
	assert_int_equal(search_detect(s2, UINT64_MAX, &mask), 0);
	fx->fake.requests = 0;
	assert_int_equal(search_terms(s2, menu, UINT64_MAX, &t, &n), 0);
	assert_int_equal(fx->fake.requests, 1);
	assert_int_equal(n, 2);
	x = term_named(t, n, "CMPO_0000294");
	assert_non_null(x);
	assert_string_equal(x->label,
			    "increased actin localised to the nucleus");
	search_terms_free(t, n);
	/* kept for the TTL only */
	search_free(s2);
	sc.ttl_s = 0;
	assert_int_equal(search_new(fx->api, &sc, &s2), 0);
	assert_int_equal(search_detect(s2, UINT64_MAX, &mask), 0);
	fx->fake.requests = 0;
	assert_int_equal(search_terms(s2, menu, UINT64_MAX, &t, &n), 0);
	assert_int_equal(fx->fake.requests, 1 + 2 + 1);
	search_terms_free(t, n);

	search_free(s1);
	search_free(s2);
	cache_close(c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_search_engine_terms_large(void **state)
{
	struct fixture *fx = *state;
	struct search_config sc = {.backend = SEARCH_ENGINE, .probe_max = 2};
	struct search *s2 = NULL;
	struct search_term *t = NULL;
	unsigned mask;
	size_t n = 0;

	/* a menu above probe_max keeps the engine's values: 1 request */
	assert_int_equal(search_new(fx->api, &sc, &s2), 0);
	assert_int_equal(search_detect(s2, UINT64_MAX, &mask), 0);
	fx->fake.requests = 0;
	assert_int_equal(
		search_terms(s2, menu_of("by-gene"), UINT64_MAX, &t, &n), 0);
	assert_int_equal(n, 3);
	assert_non_null(term_named(t, n, "ade8"));
	assert_int_equal(fx->fake.requests, 1);
	search_terms_free(t, n);
	/* a menu the remote lacks */
	assert_int_equal(
		search_terms(s2, menu_of("by-compound"), UINT64_MAX, &t, &n),
		-ENOENT);
	search_free(s2);
}

static void test_search_engine_find(void **state)
{
	struct fixture *fx = *state;
	struct search_term t = {0};
	unsigned mask;

	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), 0);
	/* any case: the engine ignores it; one request */
	fx->fake.requests = 0;
	assert_int_equal(search_term_find(fx->s, menu_of("by-gene"), "cdk5",
					  UINT64_MAX, &t),
			 0);
	assert_string_equal(t.value, "cdk5");
	assert_int_equal(t.count, 2);
	assert_int_equal(fx->fake.requests, 1);
	search_term_release(&t);
	assert_int_equal(search_term_find(fx->s, menu_of("by-phenotype"),
					  "cmpo_0000294", UINT64_MAX, &t),
			 0);
	assert_string_equal(t.label,
			    "increased actin localised to the nucleus");
	search_term_release(&t);
	/* nothing has it */
	assert_int_equal(search_term_find(fx->s, menu_of("by-gene"), "NOPE",
					  UINT64_MAX, &t),
			 -ENOENT);
	assert_int_equal(
		search_term_find(fx->s, menu_of("by-gene"), "", UINT64_MAX, &t),
		-ENOENT);
}

static void test_search_engine_images(void **state)
{
	struct fixture *fx = *state;
	struct api_hit *h = NULL;
	unsigned mask;
	size_t n = 0;

	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), 0);
	/* 2500 images: pages of 1000 chained by bookmark: 3 requests */
	fx->fake.big = 2500;
	fx->fake.requests = 0;
	assert_int_equal(search_images(fx->s, menu_of("by-gene"), "big1",
				       UINT64_MAX, &h, &n),
			 0);
	assert_int_equal(n, 2500);
	assert_int_equal(fx->fake.requests, 3);
	assert_int_equal(h[0].id, BIG0);
	assert_int_equal(h[2499].id, BIG0 + 2499);
	assert_int_equal(h[1000].project_id, 12);
	assert_true(h[7].has_kvs);
	api_hits_free(h, n);
	/* screen images: container ids sent as 41.0 */
	assert_int_equal(search_images(fx->s, menu_of("by-gene"), "CDK5",
				       UINT64_MAX, &h, &n),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(h[0].screen_id, 31);
	assert_int_equal(h[0].plate_id, 41);
	assert_int_equal(h[1].well_id, 52);
	api_hits_free(h, n);
	/* no image: results: [] */
	assert_int_equal(search_images(fx->s, menu_of("by-gene"), "none",
				       UINT64_MAX, &h, &n),
			 0);
	assert_int_equal(n, 0);
	api_hits_free(h, n);
	/* a value with a quote: asked with "contains" (the engine's
	 * "equals" answers 500 for it), filtered to the exact value */
	assert_int_equal(search_images(fx->s, menu_of("by-gene"), "say \"hi\"",
				       UINT64_MAX, &h, &n),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(h[0].id, 7);
	assert_non_null(strstr(fx->fake.last_url, "operator=contains"));
	api_hits_free(h, n);
}

static void test_search_engine_errors(void **state)
{
	struct fixture *fx = *state;
	struct api_hit *h = NULL;
	struct search_term *t = NULL;
	unsigned mask;
	size_t n = 0;
	unsigned gene = menu_of("by-gene");

	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), 0);
	fx->fake.fail_on = "/image/search/";
	/* HTTP 200 {"Error": ...}: -EIO */
	fx->fake.fail_body = "{\"Error\": \"Something went wrong, please try "
			     "later.\"}";
	assert_int_equal(search_images(fx->s, gene, "ADE8", UINT64_MAX, &h, &n),
			 -EIO);
	/* a bare JSON string: -EIO */
	fx->fake.fail_body = "\"'x' is not a data source\"";
	assert_int_equal(search_images(fx->s, gene, "ADE8", UINT64_MAX, &h, &n),
			 -EIO);
	/* an HTML page where JSON was expected: -EBADMSG */
	fx->fake.fail_body = "<html><body>apidocs</body></html>";
	fx->fake.fail_ctype = "text/html; charset=utf-8";
	assert_int_equal(search_images(fx->s, gene, "ADE8", UINT64_MAX, &h, &n),
			 -EBADMSG);
	/* a body cut short: -EBADMSG */
	fx->fake.fail_ctype = NULL;
	fx->fake.fail_body = "{\"results\": {\"results\": [{\"id\": 1";
	assert_int_equal(search_images(fx->s, gene, "ADE8", UINT64_MAX, &h, &n),
			 -EBADMSG);
	/* a timeout: -ETIMEDOUT; the probes of a term listing too */
	fx->fake.fail_rc = -ETIMEDOUT;
	assert_int_equal(search_images(fx->s, gene, "ADE8", UINT64_MAX, &h, &n),
			 -ETIMEDOUT);
	assert_int_equal(search_terms(fx->s, gene, UINT64_MAX, &t, &n),
			 -ETIMEDOUT);
	/* the value list itself fails */
	fx->fake.fail_on = "/searchvaluesusingkey/";
	fx->fake.fail_rc = 0;
	fx->fake.fail_body = "{\"Error\": \"No key is provided \"}";
	assert_int_equal(search_terms(fx->s, gene, UINT64_MAX, &t, &n), -EIO);
}

static void test_search_mapr(void **state)
{
	struct fixture *fx = *state;
	struct search_term *t = NULL, one = {0};
	struct api_hit *h = NULL;
	unsigned mask;
	size_t n = 0;

	assert_int_equal(search_detect(fx->s, UINT64_MAX, &mask), 0);
	assert_int_equal(search_backend_of(fx->s), SEARCH_MAPR);
	/* a wildcard menu lists its values as spelled */
	fx->fake.requests = 0;
	assert_int_equal(
		search_terms(fx->s, menu_of("by-organism"), UINT64_MAX, &t, &n),
		0);
	assert_int_equal(n, 2);
	assert_non_null(term_named(t, n, "Saccharomyces cerevisiae"));
	assert_int_equal(fx->fake.requests, 1);
	search_terms_free(t, n);
	/* phenotypes mix two keys: only accessions, labelled by their
	 * annotation (1 + one per value) */
	fx->fake.requests = 0;
	assert_int_equal(search_terms(fx->s, menu_of("by-phenotype"),
				      UINT64_MAX, &t, &n),
			 0);
	assert_int_equal(n, 2);
	assert_string_equal(term_named(t, n, "CMPO_0000300")->label,
			    "more multinucleate cells");
	assert_int_equal(fx->fake.requests, 1 + 4);
	search_terms_free(t, n);
	/* genes cannot be listed: nothing, no request; but found */
	fx->fake.requests = 0;
	assert_int_equal(
		search_terms(fx->s, menu_of("by-gene"), UINT64_MAX, &t, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(fx->fake.requests, 0);
	search_terms_free(t, n);
	assert_int_equal(search_term_find(fx->s, menu_of("by-gene"), "ADE8",
					  UINT64_MAX, &one),
			 0);
	search_term_release(&one);
	/* mapr is case-sensitive */
	assert_int_equal(search_term_find(fx->s, menu_of("by-gene"), "ade8",
					  UINT64_MAX, &one),
			 -ENOENT);
	/* a phenotype's free text is not a term of the menu */
	assert_int_equal(search_term_find(fx->s, menu_of("by-phenotype"),
					  "increased actin over nucleus",
					  UINT64_MAX, &one),
			 -ENOENT);
	/* images: studies, then datasets/plates, then pages of images */
	fx->fake.requests = 0;
	assert_int_equal(search_images(fx->s, menu_of("by-organism"),
				       "Homo sapiens", UINT64_MAX, &h, &n),
			 0);
	assert_int_equal(n, 3);
	assert_int_equal(h[0].id, 4);
	assert_int_equal(h[0].screen_id, 31);
	assert_int_equal(h[0].plate_id, 41);
	assert_false(h[0].has_kvs);
	assert_int_equal(fx->fake.requests, 3);
	api_hits_free(h, n);
	/* 1200 images of one dataset: pages of 500 */
	fx->fake.big = 1200;
	fx->fake.requests = 0;
	assert_int_equal(search_images(fx->s, menu_of("by-gene"), "BIG1",
				       UINT64_MAX, &h, &n),
			 0);
	assert_int_equal(n, 1200);
	assert_int_equal(h[0].project_id, 12);
	assert_int_equal(h[0].dataset_id, 23);
	assert_int_equal(fx->fake.requests, 1 + 1 + 3);
	api_hits_free(h, n);
	/* an HTML page (mapr switched off since detection): -EBADMSG */
	fx->fake.fail_on = "/mapr/api/gene/";
	fx->fake.fail_body = "<html></html>";
	fx->fake.fail_ctype = "text/html";
	assert_int_equal(search_images(fx->s, menu_of("by-gene"), "ADE8",
				       UINT64_MAX, &h, &n),
			 -EBADMSG);
}

static void test_search_backend_words(void **state)
{
	enum search_backend b;

	(void)state;
	assert_int_equal(search_backend_parse("auto", &b), 0);
	assert_int_equal(b, SEARCH_AUTO);
	assert_int_equal(search_backend_parse("searchengine", &b), 0);
	assert_int_equal(b, SEARCH_ENGINE);
	assert_int_equal(search_backend_parse("mapr", &b), 0);
	assert_int_equal(b, SEARCH_MAPR);
	assert_int_equal(search_backend_parse("none", &b), 0);
	assert_int_equal(b, SEARCH_NONE);
	assert_int_equal(search_backend_parse("MAPR", &b), -EINVAL);
	assert_string_equal(search_menu_dir(menu_of("by-cell-line")),
			    "by-cell-line");
	assert_true(search_menu_labelled(menu_of("by-phenotype")));
	assert_false(search_menu_labelled(menu_of("by-gene")));
	assert_string_equal(search_menu_key(menu_of("by-sirna")),
			    "siRNA Identifier");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_search_json_samples_printed),
		cmocka_unit_test(test_search_json_samples_partial),
		cmocka_unit_test(test_search_json_annotations),
		cmocka_unit_test(test_search_json_page_deadline),
		cmocka_unit_test(test_search_json_keys),
		cmocka_unit_test(test_search_json_values),
		cmocka_unit_test(test_search_json_page),
		cmocka_unit_test(test_search_json_mapr),
		cmocka_unit_test(test_search_backend_words),
		cmocka_unit_test(test_search_detect),
		cmocka_unit_test(test_search_detect_faults),
		cmocka_unit_test_setup_teardown(test_search_404_is_a_fault,
						setup_engine, teardown),
		cmocka_unit_test_setup_teardown(test_search_detect_retry,
						setup_engine, teardown),
		cmocka_unit_test_setup_teardown(test_search_engine_terms,
						setup_engine, teardown),
		cmocka_unit_test_setup_teardown(test_search_spellings_kept,
						setup_engine, teardown),
		cmocka_unit_test_setup_teardown(test_search_engine_terms_large,
						setup_engine, teardown),
		cmocka_unit_test_setup_teardown(test_search_engine_find,
						setup_engine, teardown),
		cmocka_unit_test_setup_teardown(test_search_engine_images,
						setup_engine, teardown),
		cmocka_unit_test_setup_teardown(test_search_engine_errors,
						setup_engine, teardown),
		cmocka_unit_test_setup_teardown(test_search_mapr, setup_mapr,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
