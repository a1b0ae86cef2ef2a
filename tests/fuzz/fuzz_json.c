/* SPDX-License-Identifier: MIT */
/*
 * fuzz_json: every JSON answer of the remote API through its parser (the
 * JSON API lists and objects, imgData, map annotations, bulk tables,
 * histograms, original_file_paths, the search engine and mapr). Each input
 * goes to all of them: a body may arrive at any URL. Beyond "no crash, no
 * leak", it checks the promises of api.h: 0 or -errno, out-params written
 * only on success, counts that match what was returned.
 */
#include "config.h"

#include <errno.h>

#include "idrfs/api.h"

#include "fuzz.h"

/* A value no parser writes: out-params must keep it on failure. */
#define UNSET ((size_t)0x5eed)
static char unset_obj;
#define UNSET_PTR ((void *)&unset_obj)

static void check_rc(int rc)
{
	/* parsers report -errno, never a positive value */
	FUZZ_CHECK(rc <= 0 && rc > -4096);
}

static void check_untouched(int rc, const void *p, size_t n)
{
	check_rc(rc);
	if (rc < 0) {
		FUZZ_CHECK(p == UNSET_PTR);
		FUZZ_CHECK(n == UNSET);
	}
}

/* A struct out-param: filled with a pattern that failure must leave. */
#define UNSET_BYTE 0xa5

static void unset(void *p, size_t size)
{
	memset(p, UNSET_BYTE, size);
}

static void check_struct(int rc, const void *p, size_t size)
{
	const uint8_t *b = p;

	check_rc(rc);
	for (size_t i = 0; rc < 0 && i < size; i++)
		FUZZ_CHECK(b[i] == UNSET_BYTE);
}

static void lists(const char *b, size_t len)
{
	struct api_container *c = UNSET_PTR;
	struct api_image *im = UNSET_PTR;
	struct api_well *w = UNSET_PTR;
	struct api_meta m;
	size_t n = UNSET;
	int rc;

	rc = api_json_containers(b, len, "fuzz", &c, &n, &m);
	check_untouched(rc, c, n);
	if (rc == 0)
		api_containers_free(c, n);
	n = UNSET;
	rc = api_json_images(b, len, "fuzz", &im, &n, &m);
	check_untouched(rc, im, n);
	if (rc == 0)
		api_images_free(im, n);
	n = UNSET;
	rc = api_json_wells(b, len, "fuzz", &w, &n, &m);
	check_untouched(rc, w, n);
	if (rc == 0) {
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(w[i].nfields == 0 || w[i].fields);
		api_wells_free(w, n);
	}
}

static void singles(const char *b, size_t len)
{
	struct api_image im;
	struct api_container c;
	struct api_well w;
	bool is_list;
	size_t count;
	char *s = UNSET_PTR;
	int rc;

	unset(&im, sizeof(im));
	rc = api_json_image(b, len, "fuzz", &im);
	check_struct(rc, &im, sizeof(im));
	if (rc == 0)
		api_image_release(&im);
	unset(&c, sizeof(c));
	rc = api_json_container(b, len, "fuzz", &c);
	check_struct(rc, &c, sizeof(c));
	if (rc == 0)
		free(c.name);
	unset(&w, sizeof(w));
	rc = api_json_well(b, len, "fuzz", &w);
	check_struct(rc, &w, sizeof(w));
	if (rc == 0)
		api_well_release(&w);
	check_rc(api_json_envelope(b, len, "fuzz", &is_list, &count));
	rc = api_json_error_message(b, len, &s);
	check_untouched(rc, s, UNSET);
	if (rc == 0)
		free(s);
	s = UNSET_PTR;
	rc = api_json_versions(b, len, &s);
	check_untouched(rc, s, UNSET);
	if (rc == 0)
		free(s);
	s = UNSET_PTR;
	rc = api_json_base_urls(b, len, &s);
	check_untouched(rc, s, UNSET);
	if (rc == 0)
		free(s);
}

static void webclient(const char *b, size_t len)
{
	struct api_imgdata d;
	struct api_kv *kv = UNSET_PTR;
	struct api_table t;
	struct api_annotation *an = UNSET_PTR;
	uint64_t *counts = UNSET_PTR;
	char **paths = UNSET_PTR;
	size_t n = UNSET;
	int rc;

	unset(&d, sizeof(d));
	rc = api_json_imgdata(b, len, "fuzz", &d);
	check_struct(rc, &d, sizeof(d));
	if (rc == 0) {
		FUZZ_CHECK(d.nchannels == 0 || d.channels);
		api_imgdata_release(&d);
	}
	rc = api_json_annotations(b, len, "fuzz", &kv, &n);
	check_untouched(rc, kv, n);
	if (rc == 0)
		api_kvs_free(kv, n);
	unset(&t, sizeof(t));
	rc = api_json_table(b, len, "fuzz", &t);
	check_struct(rc, &t, sizeof(t));
	if (rc == 0)
		api_table_release(&t);
	n = UNSET;
	rc = api_json_histogram(b, len, "fuzz", &counts, &n);
	check_untouched(rc, counts, n);
	if (rc == 0)
		free(counts);
	n = UNSET;
	rc = api_json_client_paths(b, len, "fuzz", &paths, &n);
	check_untouched(rc, paths, n);
	if (rc == 0) {
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(paths[i] != NULL);
		api_strings_free(paths, n);
	}
	n = UNSET;
	rc = api_json_map_annotations(b, len, "fuzz", &an, &n);
	check_untouched(rc, an, n);
	if (rc == 0)
		api_annotations_free(an, n);
}

static void search(const char *b, size_t len)
{
	static const char *const lists[] = {"screens", "projects", "plates",
					    "datasets"};
	struct api_se_page pg;
	struct api_se_value *v = UNSET_PTR;
	struct api_mapr_menu *mm = UNSET_PTR;
	struct api_container *c = UNSET_PTR;
	struct api_hit *h = UNSET_PTR;
	char **keys = UNSET_PTR;
	size_t n = UNSET;
	int rc;

	unset(&pg, sizeof(pg));
	rc = api_json_se_page(b, len, "fuzz", &pg);
	check_struct(rc, &pg, sizeof(pg));
	if (rc == 0) {
		FUZZ_CHECK(pg.n == 0 || pg.hits);
		api_se_page_release(&pg);
	}
	rc = api_json_se_values(b, len, "fuzz", &v, &n);
	check_untouched(rc, v, n);
	if (rc == 0)
		api_se_values_free(v, n);
	n = UNSET;
	rc = api_json_se_keys(b, len, "fuzz", &keys, &n);
	check_untouched(rc, keys, n);
	if (rc == 0)
		api_strings_free(keys, n);
	n = UNSET;
	rc = api_json_mapr_config(b, len, "fuzz", &mm, &n);
	check_untouched(rc, mm, n);
	if (rc == 0) {
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK(mm[i].name != NULL);
		api_mapr_menus_free(mm, n);
	}
	n = UNSET;
	v = UNSET_PTR;
	rc = api_json_mapr_maps(b, len, "fuzz", &v, &n);
	check_untouched(rc, v, n);
	if (rc == 0)
		api_se_values_free(v, n);
	for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
		n = UNSET;
		c = UNSET_PTR;
		rc = api_json_mapr_containers(b, len, "fuzz", lists[k], &c, &n);
		check_untouched(rc, c, n);
		if (rc == 0)
			api_containers_free(c, n);
	}
	n = UNSET;
	rc = api_json_mapr_images(b, len, "fuzz", &h, &n);
	check_untouched(rc, h, n);
	if (rc == 0)
		api_hits_free(h, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* bodies are not NUL-terminated: the parsers take (body, len) */
	char *b = malloc(size ? size : 1);

	if (!b)
		return 0;
	memcpy(b, data, size);
	lists(b, size);
	singles(b, size);
	webclient(b, size);
	search(b, size);
	free(b);
	return 0;
}
