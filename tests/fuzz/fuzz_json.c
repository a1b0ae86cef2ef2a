/* SPDX-License-Identifier: MIT */
/*
 * fuzz_json: every JSON answer of the remote API through its parser (the
 * JSON API lists and objects, imgData, map annotations, bulk tables,
 * histograms, original_file_paths, the search engine and mapr). Beyond
 * "no crash, no leak", it checks the promises of api.h: 0 or -errno,
 * out-params written only on success, counts that match the arrays.
 *
 * Input: a body. If its last byte is a control character other than
 * whitespace, that byte picks one parser and is not part of the body;
 * otherwise (every fixture of tests/data) the body goes to all of them,
 * as a body may arrive at any URL. One parser per input is ~20 times
 * more inputs per second.
 */
#include "config.h"

#include <errno.h>

#include "idrfs/api.h"

#include "fuzz.h"

/* A value no parser writes: out-params must keep it on failure. */
#define UNSET ((size_t)0x5eed)
static char unset_obj;
#define UNSET_PTR ((void *)&unset_obj)

/* A struct out-param is filled with this; failure must leave it. */
#define UNSET_BYTE 0xa5

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

/* ---- the JSON API ---- */

static void containers(const char *b, size_t len)
{
	struct api_container *v = UNSET_PTR;
	struct api_meta m;
	size_t n = UNSET;
	int rc = api_json_containers(b, len, "fuzz", &v, &n, &m);

	check_untouched(rc, v, n);
	if (rc == 0)
		api_containers_free(v, n);
}

static void images(const char *b, size_t len)
{
	struct api_image *v = UNSET_PTR;
	struct api_meta m;
	size_t n = UNSET;
	int rc = api_json_images(b, len, "fuzz", &v, &n, &m);

	check_untouched(rc, v, n);
	if (rc == 0)
		api_images_free(v, n);
}

static void wells(const char *b, size_t len)
{
	struct api_well *v = UNSET_PTR;
	struct api_meta m;
	size_t n = UNSET;
	int rc = api_json_wells(b, len, "fuzz", &v, &n, &m);

	check_untouched(rc, v, n);
	if (rc < 0)
		return;
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(v[i].nfields == 0 || v[i].fields);
	api_wells_free(v, n);
}

static void image(const char *b, size_t len)
{
	struct api_image v;
	int rc;

	unset(&v, sizeof(v));
	rc = api_json_image(b, len, "fuzz", &v);
	check_struct(rc, &v, sizeof(v));
	if (rc == 0)
		api_image_release(&v);
}

static void container(const char *b, size_t len)
{
	struct api_container v;
	int rc;

	unset(&v, sizeof(v));
	rc = api_json_container(b, len, "fuzz", &v);
	check_struct(rc, &v, sizeof(v));
	if (rc == 0)
		free(v.name);
}

static void well(const char *b, size_t len)
{
	struct api_well v;
	int rc;

	unset(&v, sizeof(v));
	rc = api_json_well(b, len, "fuzz", &v);
	check_struct(rc, &v, sizeof(v));
	if (rc == 0)
		api_well_release(&v);
}

static void envelope(const char *b, size_t len)
{
	bool is_list;
	size_t count;

	check_rc(api_json_envelope(b, len, "fuzz", &is_list, &count));
}

/* The three answers that give one string. */
static void strings(const char *b, size_t len)
{
	int (*const fn[])(const char *, size_t, char **) = {
		api_json_error_message, api_json_versions, api_json_base_urls};

	for (size_t i = 0; i < sizeof(fn) / sizeof(fn[0]); i++) {
		char *s = UNSET_PTR;
		int rc = fn[i](b, len, &s);

		check_untouched(rc, s, UNSET);
		if (rc == 0)
			free(s);
	}
}

/* ---- webclient and webgateway ---- */

static void imgdata(const char *b, size_t len)
{
	struct api_imgdata v;
	int rc;

	unset(&v, sizeof(v));
	rc = api_json_imgdata(b, len, "fuzz", &v);
	check_struct(rc, &v, sizeof(v));
	if (rc < 0)
		return;
	FUZZ_CHECK(v.nchannels == 0 || v.channels);
	api_imgdata_release(&v);
}

static void annotations(const char *b, size_t len)
{
	struct api_kv *v = UNSET_PTR;
	size_t n = UNSET;
	int rc = api_json_annotations(b, len, "fuzz", &v, &n);

	check_untouched(rc, v, n);
	if (rc == 0)
		api_kvs_free(v, n);
}

static void table(const char *b, size_t len)
{
	struct api_table v;
	int rc;

	unset(&v, sizeof(v));
	rc = api_json_table(b, len, "fuzz", &v);
	check_struct(rc, &v, sizeof(v));
	if (rc == 0)
		api_table_release(&v);
}

static void histogram(const char *b, size_t len)
{
	uint64_t *v = UNSET_PTR;
	size_t n = UNSET;
	int rc = api_json_histogram(b, len, "fuzz", &v, &n);

	check_untouched(rc, v, n);
	if (rc == 0)
		free(v);
}

static void client_paths(const char *b, size_t len)
{
	char **v = UNSET_PTR;
	size_t n = UNSET;
	int rc = api_json_client_paths(b, len, "fuzz", &v, &n);

	check_untouched(rc, v, n);
	if (rc < 0)
		return;
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(v[i] != NULL);
	api_strings_free(v, n);
}

static void map_annotations(const char *b, size_t len)
{
	struct api_annotation *v = UNSET_PTR;
	size_t n = UNSET;
	int rc = api_json_map_annotations(b, len, "fuzz", &v, &n);

	check_untouched(rc, v, n);
	if (rc == 0)
		api_annotations_free(v, n);
}

/* ---- the search engine and mapr ---- */

static void se_page(const char *b, size_t len)
{
	struct api_se_page v;
	int rc;

	unset(&v, sizeof(v));
	rc = api_json_se_page(b, len, "fuzz", &v);
	check_struct(rc, &v, sizeof(v));
	if (rc < 0)
		return;
	FUZZ_CHECK(v.n == 0 || v.hits);
	api_se_page_release(&v);
}

static void se_values(const char *b, size_t len)
{
	struct api_se_value *v = UNSET_PTR;
	size_t n = UNSET;
	int rc = api_json_se_values(b, len, "fuzz", &v, &n);

	check_untouched(rc, v, n);
	if (rc == 0)
		api_se_values_free(v, n);
}

static void se_keys(const char *b, size_t len)
{
	char **v = UNSET_PTR;
	size_t n = UNSET;
	int rc = api_json_se_keys(b, len, "fuzz", &v, &n);

	check_untouched(rc, v, n);
	if (rc == 0)
		api_strings_free(v, n);
}

static void mapr_config(const char *b, size_t len)
{
	struct api_mapr_menu *v = UNSET_PTR;
	size_t n = UNSET;
	int rc = api_json_mapr_config(b, len, "fuzz", &v, &n);

	check_untouched(rc, v, n);
	if (rc < 0)
		return;
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(v[i].name != NULL);
	api_mapr_menus_free(v, n);
}

static void mapr_maps(const char *b, size_t len)
{
	struct api_se_value *v = UNSET_PTR;
	size_t n = UNSET;
	int rc = api_json_mapr_maps(b, len, "fuzz", &v, &n);

	check_untouched(rc, v, n);
	if (rc == 0)
		api_se_values_free(v, n);
}

static void mapr_containers(const char *b, size_t len)
{
	static const char *const lists[] = {"screens", "projects", "plates",
					    "datasets"};

	for (size_t k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
		struct api_container *v = UNSET_PTR;
		size_t n = UNSET;
		int rc = api_json_mapr_containers(b, len, "fuzz", lists[k], &v,
						  &n);

		check_untouched(rc, v, n);
		if (rc == 0)
			api_containers_free(v, n);
	}
}

static void mapr_images(const char *b, size_t len)
{
	struct api_hit *v = UNSET_PTR;
	size_t n = UNSET;
	int rc = api_json_mapr_images(b, len, "fuzz", &v, &n);

	check_untouched(rc, v, n);
	if (rc == 0)
		api_hits_free(v, n);
}

static void (*const parsers[])(const char *, size_t) = {
	containers,  images,	wells,	      image,	       container,
	well,	     envelope,	strings,      imgdata,	       annotations,
	table,	     histogram, client_paths, map_annotations, se_page,
	se_values,   se_keys,	mapr_config,  mapr_maps,       mapr_containers,
	mapr_images,
};

#define NPARSERS (sizeof(parsers) / sizeof(parsers[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t last = size ? data[size - 1] : ' ';
	bool one = last < 0x20 && last != '\t' && last != '\n' && last != '\r';
	size_t len = one ? size - 1 : size;
	/* bodies are not NUL-terminated: the parsers take (body, len) */
	char *b = malloc(len ? len : 1);

	if (!b)
		abort();
	memcpy(b, data, len);
	if (one) {
		parsers[last % NPARSERS](b, len);
	} else {
		for (size_t i = 0; i < NPARSERS; i++)
			parsers[i](b, len);
	}
	free(b);
	return 0;
}
