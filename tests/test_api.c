/* SPDX-License-Identifier: MIT */
/*
 * test_api: the api module without a network.
 *
 * 1. Every sample in tests/data/idr-samples/ (what the real server and the
 *    OMERO docs show) is fed to the parser that fits it, and the mapped
 *    values are checked. The .jsonc docs samples and the .printed.txt
 *    Python reprs are not JSON: the parser must say -EBADMSG; their values
 *    are then checked on a cleaned copy (comments, trailing commas and bare
 *    keys fixed by jsonc_to_json() below).
 * 2. Hostile and malformed answers (tests/data/api/) give -EBADMSG with a
 *    log line naming the field, or the documented success, and leak nothing.
 * 3. Paging goes through an injected struct api_transport that serves
 *    synthetic pages, counts requests and records the URLs asked for.
 *
 * Known bugs of src/ found by these tests are checked in test_api_bug_*
 * cases, which now guard against their return.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "idrfs/api.h"
#include "idrfs/cache.h"
#include "idrfs/fetch.h"
#include "idrfs/log.h"
#include "testutil.h"

/* src/api.c, non-static under IDRFS_UNITTEST. */
int api_parse_begin(struct api *a, size_t len, uint64_t deadline,
		    const char *url);
void api_parse_end(struct api *a, size_t len);
uint64_t api_busy_wait_ms(int64_t backoff_ms, unsigned *seed);

#define SEARCH_KEYS_PATH "/searchengine/api/v1/resources/image/keys/"

/* ---- helpers ---------------------------------------------------------- */

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Out-params are pre-set to these; a failing parser must leave them. */
static char g_sentinel_obj;
#define SENTINEL   ((void *)&g_sentinel_obj)
#define SENTINEL_N ((size_t)0x5a5a5a5a)

static char g_log_path[] = "/tmp/idrfs-test-api-XXXXXX";
static long g_log_mark;

static void check_near(double got, double want, const char *what)
{
	double tol = 1e-9 * (fabs(want) > 1 ? fabs(want) : 1);

	if (!(fabs(got - want) <= tol))
		fail_msg("%s: got %.12g, expected %.12g", what, got, want);
}

static char *read_data(const char *name, size_t *len)
{
	char *b = testutil_read(name, len);

	if (!b)
		fail_msg("cannot read test data '%s'", name);
	return b;
}

static char *read_sample(const char *file, size_t *len)
{
	char name[512];

	snprintf(name, sizeof(name), "idr-samples/%s", file);
	return read_data(name, len);
}

static char *read_hostile(const char *file, size_t *len)
{
	char name[512];

	snprintf(name, sizeof(name), "api/%s", file);
	return read_data(name, len);
}

/* Remember the end of the log file; log_since_mark() returns what follows. */
static void log_mark(void)
{
	struct stat st;

	g_log_mark = stat(g_log_path, &st) == 0 ? (long)st.st_size : 0;
}

static char *log_since_mark(void)
{
	FILE *f = fopen(g_log_path, "rb");
	char *buf;
	long end;
	size_t n = 0;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	end = ftell(f);
	assert_true(end >= g_log_mark);
	buf = calloc(1, (size_t)(end - g_log_mark) + 1);
	assert_non_null(buf);
	assert_int_equal(fseek(f, g_log_mark, SEEK_SET), 0);
	if (end > g_log_mark)
		n = fread(buf, 1, (size_t)(end - g_log_mark), f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The log since log_mark() holds both strings (b may be NULL). */
static void log_has(const char *a, const char *b)
{
	char *log = log_since_mark();

	if (!strstr(log, a) || (b && !strstr(log, b)))
		fail_msg("the log lacks '%s' or '%s': '%s'", a, b ? b : "",
			 log);
	free(log);
}

static char *str_replace_once(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	size_t head, nfrom = strlen(from), nto = strlen(to);
	char *out;

	if (!p)
		fail_msg("'%s' not found in the sample", from);
	head = (size_t)(p - s);
	out = malloc(strlen(s) - nfrom + nto + 1);
	assert_non_null(out);
	memcpy(out, s, head);
	memcpy(out + head, to, nto);
	memcpy(out + head + nto, p + nfrom, strlen(p + nfrom) + 1);
	return out;
}

/*
 * jsonc_to_json: turn the OMERO docs' relaxed JSON into JSON. Outside
 * strings it drops "# ..." comments and commas before a closing bracket,
 * quotes bare keys ({0: 1} -> {"0": 1}) and adds the comma that the docs
 * forget between two values on consecutive lines.
 */
static size_t last_sig(const char *out, size_t n)
{
	while (n > 0 && isspace((unsigned char)out[n - 1]))
		n--;
	return n; /* index + 1 of the last non-blank byte, 0 if none */
}

static void comma_if_needed(char *out, size_t *n)
{
	size_t k = last_sig(out, *n);
	char c = k ? out[k - 1] : '\0';

	if (c == '"' || c == '}' || c == ']' || isalnum((unsigned char)c) ||
	    c == '.')
		out[(*n)++] = ',';
}

static bool is_bare(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-' ||
	       c == '+';
}

static char *jsonc_to_json(const char *in, size_t len, size_t *outlen)
{
	char *out = malloc(2 * len + 16);
	size_t n = 0;
	size_t i = 0;

	assert_non_null(out);
	while (i < len) {
		char c = in[i];

		if (c == '#') {
			while (i < len && in[i] != '\n')
				i++;
		} else if (c == '}' || c == ']') {
			size_t k = last_sig(out, n);

			if (k > 0 && out[k - 1] == ',')
				n = k - 1;
			out[n++] = c;
			i++;
		} else if (c == '"') {
			comma_if_needed(out, &n);
			out[n++] = in[i++];
			while (i < len && in[i] != '"') {
				if (in[i] == '\\' && i + 1 < len)
					out[n++] = in[i++];
				out[n++] = in[i++];
			}
			if (i < len)
				out[n++] = in[i++];
		} else if (c == '{' || c == '[') {
			comma_if_needed(out, &n);
			out[n++] = c;
			i++;
		} else if (is_bare(c)) {
			size_t j = i;
			size_t k;

			while (j < len && is_bare(in[j]))
				j++;
			k = j;
			while (k < len && isspace((unsigned char)in[k]))
				k++;
			comma_if_needed(out, &n);
			if (k < len && in[k] == ':')
				out[n++] = '"';
			memcpy(out + n, in + i, j - i);
			n += j - i;
			if (k < len && in[k] == ':')
				out[n++] = '"';
			i = j;
		} else {
			out[n++] = c;
			i++;
		}
	}
	out[n] = '\0';
	*outlen = n;
	return out;
}

/* ---- one entry point per parser, with the out-param check ------------- */

enum parser {
	P_CONTAINERS,
	P_CONTAINER,
	P_IMAGES,
	P_IMAGE,
	P_WELLS,
	P_WELL,
	P_ENVELOPE,
	P_ERROR,
	P_VERSIONS,
	P_BASE_URLS,
	P_IMGDATA,
	P_ANNOTATIONS,
	P_TABLE,
	P_HISTOGRAM,
	P_COUNT,
};

static const char *const parser_names[P_COUNT] = {
	[P_CONTAINERS] = "api_json_containers",
	[P_CONTAINER] = "api_json_container",
	[P_IMAGES] = "api_json_images",
	[P_IMAGE] = "api_json_image",
	[P_WELLS] = "api_json_wells",
	[P_WELL] = "api_json_well",
	[P_ENVELOPE] = "api_json_envelope",
	[P_ERROR] = "api_json_error_message",
	[P_VERSIONS] = "api_json_versions",
	[P_BASE_URLS] = "api_json_base_urls",
	[P_IMGDATA] = "api_json_imgdata",
	[P_ANNOTATIONS] = "api_json_annotations",
	[P_TABLE] = "api_json_table",
	[P_HISTOGRAM] = "api_json_histogram",
};

struct parsed {
	int rc;
	bool out_touched; /* rc < 0 but an out-param was written */
};

/* Run one parser; free what it returned on success. */
static struct parsed run_parser(enum parser p, const char *body, size_t len,
				const char *what)
{
	struct parsed r = {0, false};
	void *v = SENTINEL;
	size_t n = SENTINEL_N;
	struct api_meta m, m0;
	union {
		struct api_container c;
		struct api_image i;
		struct api_well w;
		struct api_imgdata d;
		struct api_table t;
	} u, u0;
	char *s = SENTINEL;
	bool is_list = true;

	memset(&m, 0x5a, sizeof(m));
	m0 = m;
	memset(&u, 0x5a, sizeof(u));
	u0 = u;
	switch (p) {
	case P_CONTAINERS:
		r.rc = api_json_containers(body, len, what,
					   (struct api_container **)&v, &n, &m);
		if (r.rc == 0)
			api_containers_free(v, n);
		break;
	case P_IMAGES:
		r.rc = api_json_images(body, len, what, (struct api_image **)&v,
				       &n, &m);
		if (r.rc == 0)
			api_images_free(v, n);
		break;
	case P_WELLS:
		r.rc = api_json_wells(body, len, what, (struct api_well **)&v,
				      &n, &m);
		if (r.rc == 0)
			api_wells_free(v, n);
		break;
	case P_CONTAINER:
		r.rc = api_json_container(body, len, what, &u.c);
		if (r.rc == 0)
			free(u.c.name);
		break;
	case P_IMAGE:
		r.rc = api_json_image(body, len, what, &u.i);
		if (r.rc == 0)
			api_image_release(&u.i);
		break;
	case P_WELL:
		r.rc = api_json_well(body, len, what, &u.w);
		if (r.rc == 0)
			api_well_release(&u.w);
		break;
	case P_ENVELOPE:
		r.rc = api_json_envelope(body, len, what, &is_list, &n);
		break;
	case P_ERROR:
		r.rc = api_json_error_message(body, len, &s);
		if (r.rc == 0)
			free(s);
		break;
	case P_VERSIONS:
		r.rc = api_json_versions(body, len, &s);
		if (r.rc == 0)
			free(s);
		break;
	case P_BASE_URLS:
		r.rc = api_json_base_urls(body, len, &s);
		if (r.rc == 0)
			free(s);
		break;
	case P_IMGDATA:
		r.rc = api_json_imgdata(body, len, what, &u.d);
		if (r.rc == 0)
			api_imgdata_release(&u.d);
		break;
	case P_ANNOTATIONS:
		r.rc = api_json_annotations(body, len, what,
					    (struct api_kv **)&v, &n);
		if (r.rc == 0)
			api_kvs_free(v, n);
		break;
	case P_TABLE:
		r.rc = api_json_table(body, len, what, &u.t);
		if (r.rc == 0)
			api_table_release(&u.t);
		break;
	case P_HISTOGRAM:
		r.rc = api_json_histogram(body, len, what, (uint64_t **)&v, &n);
		if (r.rc == 0)
			free(v);
		break;
	default:
		fail_msg("internal error: parser %d", (int)p);
	}
	if (r.rc < 0)
		r.out_touched = v != SENTINEL || n != SENTINEL_N ||
				s != SENTINEL || !is_list ||
				memcmp(&m, &m0, sizeof(m)) != 0 ||
				memcmp(&u, &u0, sizeof(u)) != 0;
	return r;
}

/* Whether the parser names the answer ('what') in its log lines. */
static bool parser_takes_what(enum parser p)
{
	return p != P_ERROR && p != P_VERSIONS && p != P_BASE_URLS;
}

/* ---- value checks of the samples ------------------------------------- */

static void check_base_urls(const char *body, size_t len)
{
	char *url = NULL;

	/* url:projects of /api/v0/ is the projects list, trailing slash */
	assert_int_equal(api_json_base_urls(body, len, &url), 0);
	assert_string_equal(url, "http://<server>/api/v0/m/projects/");
	free(url);
}

static void check_error_400(const char *body, size_t len)
{
	char *msg = NULL;

	/* the message of the 400 answer is copied verbatim */
	assert_int_equal(api_json_error_message(body, len, &msg), 0);
	assert_string_equal(msg,
			    "invalid literal for int() with base 10: 'foo'");
	free(msg);
}

static void check_versions(const char *body, size_t len)
{
	char *base = NULL;

	/* /api/ gives the v0 base URL */
	assert_int_equal(api_json_versions(body, len, &base), 0);
	assert_string_equal(base, "http://<server>/api/v0/");
	free(base);
}

static void check_projects(const char *body, size_t len)
{
	struct api_container *v = NULL;
	struct api_container one;
	struct api_meta m;
	size_t n = 0;

	/* one project; no meta block, so the meta says "this page is all" */
	assert_int_equal(api_json_containers(body, len, "projects", &v, &n, &m),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].id, 11601);
	assert_string_equal(v[0].name, "New data");
	assert_int_equal(v[0].child_count, -1);
	assert_int_equal(m.total_count, 1);
	assert_int_equal(m.offset, 0);
	api_containers_free(v, n);
	/* a list is not a single object */
	assert_int_equal(api_json_container(body, len, "projects", &one),
			 -EBADMSG);
}

static void check_servers(const char *body, size_t len)
{
	bool is_list = false;
	size_t n = 0;

	/* a list of one server; not mapped, only classified */
	assert_int_equal(api_json_envelope(body, len, "servers", &is_list, &n),
			 0);
	assert_true(is_list);
	assert_int_equal(n, 1);
}

static void check_token(const char *body, size_t len)
{
	bool is_list = true;
	size_t n = 0;

	/* "data" is a string here: one object, not a list */
	assert_int_equal(api_json_envelope(body, len, "token", &is_list, &n),
			 0);
	assert_false(is_list);
	assert_int_equal(n, 1);
}

static void check_histogram(const char *body, size_t len)
{
	static const uint64_t want[] = {
		24354, 93878, 87555, 45323, 27365, 14690, 9346, 2053, 60, 7,
		19,    14,    15,    9,	    5,	   5,	  3,	0,    2,  1};
	uint64_t *c = NULL;
	size_t n = 0;

	/* 20 bins, every count as sent */
	assert_int_equal(api_json_histogram(body, len, "histogram", &c, &n), 0);
	assert_int_equal(n, ARRAY_LEN(want));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(c[i], want[i]);
	free(c);
}

static void check_channel(const struct api_channel *ch, const char *label,
			  uint32_t rgb, double start, double end, double min,
			  double max, bool active)
{
	assert_string_equal(ch->label, label);
	assert_int_equal(ch->color_rgb, rgb);
	check_near(ch->window_start, start, "window.start");
	check_near(ch->window_end, end, "window.end");
	check_near(ch->window_min, min, "window.min");
	check_near(ch->window_max, max, "window.max");
	assert_int_equal(ch->active, active);
}

static void check_imgdata_122770(const char *body, size_t len)
{
	struct api_imgdata d;

	/* the real IDR answer of image 122770 */
	assert_int_equal(api_json_imgdata(body, len, "imgData", &d), 0);
	assert_int_equal(d.id, 122770);
	assert_string_equal(d.name, "Plate8_Actinome1 [Well O02 Field #1]");
	assert_int_equal(d.type, API_PT_UINT16);
	assert_int_equal(d.size_x, 696);
	assert_int_equal(d.size_y, 520);
	assert_int_equal(d.size_z, 1);
	assert_int_equal(d.size_t_, 1);
	assert_int_equal(d.size_c, 3);
	/* pixel sizes are already micrometres; z is null: 0 */
	check_near(d.pixel_size_x, 1.25195005, "pixel_size.x");
	check_near(d.pixel_size_y, 1.25195005, "pixel_size.y");
	check_near(d.pixel_size_z, 0, "pixel_size.z");
	/* three channels: labels, colours, windows (statistics, not range) */
	assert_int_equal(d.nchannels, 3);
	check_channel(&d.channels[0], "DAPI", 0xFF0000, 250, 4095, 250, 4095,
		      true);
	check_channel(&d.channels[1], "FITC-FilterWheel", 0x00FF00, 694, 4095,
		      694, 4095, true);
	check_channel(&d.channels[2], "TRITC-FilterWheel", 0x0000FF, 237, 4095,
		      237, 4095, true);
	/* not tiled: one level, no tile size, no backoff */
	assert_false(d.tiled);
	assert_int_equal(d.levels, 1);
	assert_int_equal(d.tile_w, 0);
	assert_int_equal(d.tile_h, 0);
	assert_int_equal(d.backoff_ms, 0);
	api_imgdata_release(&d);
	assert_null(d.channels);
	assert_null(d.name);
}

static void check_imgdata_docs(const char *body, size_t len)
{
	struct api_imgdata d;
	char *p1, *p2;

	/* as is: -EBADMSG (the table's row checks that) */
	assert_int_equal(api_json_imgdata(body, len, "docs", &d), -EBADMSG);
	/* the docs example has no meta.pixelsType (older OMERO) and lists 2
	 * of its 4 channels: with the type added it still fails on c */
	p1 = str_replace_once(body, "\"meta\": {",
			      "\"meta\": {\"pixelsType\": \"int16\", ");
	assert_int_equal(api_json_imgdata(p1, strlen(p1), "docs", &d),
			 -EBADMSG);
	/* with c matching the two channels shown, it maps */
	p2 = str_replace_once(p1, "\"c\": 4", "\"c\": 2");
	assert_int_equal(api_json_imgdata(p2, strlen(p2), "docs", &d), 0);
	assert_int_equal(d.id, 12);
	assert_string_equal(d.name, "CSFV-siRNAi02_R3D_D3D.dv");
	assert_int_equal(d.type, API_PT_INT16);
	assert_int_equal(d.size_x, 480);
	assert_int_equal(d.size_y, 480);
	assert_int_equal(d.size_z, 31);
	assert_int_equal(d.size_t_, 1);
	assert_int_equal(d.size_c, 2);
	check_near(d.pixel_size_x, 0.0663, "pixel_size.x");
	check_near(d.pixel_size_y, 0.0663, "pixel_size.y");
	check_near(d.pixel_size_z, 0.2, "pixel_size.z");
	assert_int_equal(d.nchannels, 2);
	/* integer window bounds (start 70) map like reals */
	check_channel(&d.channels[0], "DAPI", 0x0000FF, 70, 314, 51, 449, true);
	check_channel(&d.channels[1], "FITC", 0x00FF00, 396, 1564, 37, 7226,
		      true);
	assert_false(d.tiled);
	api_imgdata_release(&d);
	free(p1);
	free(p2);
}

static void check_tiled_fragment(const char *body, size_t len)
{
	struct api_imgdata d;
	size_t clen = 0, ilen = 0;
	char *clean = jsonc_to_json(body, len, &clen);
	char *real = read_sample("idr_webclient_imgData_122770.json", &ilen);
	char *inner, *spliced;
	size_t k;

	/* the fragment, with its bare keys quoted, replaces "tiles": false
	 * in the real answer of 122770 */
	assert_true(clen > 2 && clean[0] == '{');
	k = last_sig(clean, clen);
	assert_true(k > 0 && clean[k - 1] == '}');
	clean[k - 1] = '\0';
	inner = clean + 1;
	spliced = str_replace_once(real, "\"tiles\": false", inner);
	assert_int_equal(
		api_json_imgdata(spliced, strlen(spliced), "tiled", &d), 0);
	/* tiled, 5 levels, 256 x 256 tiles; the rest is unchanged */
	assert_true(d.tiled);
	assert_int_equal(d.levels, 5);
	assert_int_equal(d.tile_w, 256);
	assert_int_equal(d.tile_h, 256);
	assert_int_equal(d.size_x, 696);
	assert_int_equal(d.nchannels, 3);
	api_imgdata_release(&d);
	free(spliced);
	free(real);
	free(clean);
}

static void check_table_45217(const char *body, size_t len)
{
	struct api_table t;

	/* 150 columns, one row (well 45217 of plate 340) */
	assert_int_equal(api_json_table(body, len, "table", &t), 0);
	assert_int_equal(t.ncolumns, 150);
	assert_int_equal(t.nrows, 1);
	assert_string_equal(t.columns[0], "Plate");
	assert_string_equal(t.columns[1], "Well Number");
	assert_string_equal(t.columns[2], "Well");
	assert_string_equal(t.columns[3], "Plate_Well");
	assert_string_equal(t.columns[4], "Characteristics [Organism]");
	assert_string_equal(t.columns[149], "Well Name");
	/* numbers are given as their JSON text, strings as they are */
	assert_string_equal(t.row0[0], "340");
	assert_string_equal(t.row0[1], "338");
	assert_string_equal(t.row0[2], "45217");
	assert_string_equal(t.row0[3], "Plate8_Actinome1_O2");
	assert_string_equal(t.row0[4], "Homo sapiens");
	assert_string_equal(t.row0[147], "");
	assert_string_equal(t.row0[148], "Plate8_Actinome1");
	assert_string_equal(t.row0[149], "o2");
	api_table_release(&t);
	assert_int_equal(t.ncolumns, 0);
	assert_null(t.columns);
}

static void check_annotations_partial(const char *body, size_t len)
{
	struct api_kv *kv = NULL;
	size_t n = 0;

	/* 3 images x 13 pairs, nested one list per annotation, in order */
	assert_int_equal(api_json_annotations(body, len, "partial", &kv, &n),
			 0);
	assert_int_equal(n, 39);
	for (size_t i = 0; i < n; i++)
		assert_null(kv[i].ns);
	assert_string_equal(kv[0].key, "Cell Line");
	assert_string_equal(kv[0].value, "HeLa");
	assert_string_equal(kv[1].key, "Gene Identifier");
	assert_string_equal(kv[1].value, "991");
	assert_string_equal(kv[2].key, "Gene Identifier URL");
	assert_string_equal(kv[2].value,
			    "http://www.ncbi.nlm.nih.gov/gene/991");
	assert_string_equal(kv[3].key, "Gene Symbol");
	assert_string_equal(kv[3].value, "CDC20");
	/* an empty value is kept, not dropped */
	assert_string_equal(kv[9].key, "siRNA Identifier");
	assert_string_equal(kv[9].value, "");
	assert_string_equal(kv[12].key, "Channels");
	assert_string_equal(kv[13].key, "Cell Line");
	assert_string_equal(kv[38].key, "Channels");
	api_kvs_free(kv, n);
}

/* The jsonc samples, cleaned: values of the docs examples. */
static char *cleaned(const char *body, size_t len, size_t *clen)
{
	return jsonc_to_json(body, len, clen);
}

static void check_one_container(const char *body, size_t len, bool list,
				int64_t id, const char *name)
{
	size_t clen = 0;
	char *c = cleaned(body, len, &clen);
	struct api_container *v = NULL;
	struct api_container one;
	struct api_meta m;
	size_t n = 0;

	if (list) {
		/* the cleaned docs list has one object */
		assert_int_equal(
			api_json_containers(c, clen, "docs", &v, &n, &m), 0);
		assert_int_equal(n, 1);
		one = v[0];
	} else {
		/* the cleaned docs answer is one object */
		assert_int_equal(api_json_container(c, clen, "docs", &one), 0);
	}
	assert_int_equal(one.id, id);
	if (name)
		assert_string_equal(one.name, name);
	else
		assert_null(one.name);
	assert_int_equal(one.child_count, -1);
	if (list)
		api_containers_free(v, n);
	else
		free(one.name);
	free(c);
}

static void check_datasets(const char *body, size_t len)
{
	check_one_container(body, len, true, 112, "Test data");
}

static void check_datasets_id(const char *body, size_t len)
{
	check_one_container(body, len, false, 9702, "My data");
}

static void check_projects_id(const char *body, size_t len)
{
	check_one_container(body, len, false, 3872, "RNAi experiments");
}

static void check_screens(const char *body, size_t len)
{
	check_one_container(body, len, true, 582, "Test data");
}

static void check_screens_id(const char *body, size_t len)
{
	check_one_container(body, len, false, 582, "Test data");
}

static void check_plateacquisitions(const char *body, size_t len)
{
	/* runs have no Name: NULL, not an error */
	check_one_container(body, len, true, 4217, NULL);
}

static void check_plate_naming(const char *body, size_t len, bool list)
{
	size_t clen = 0;
	char *c = cleaned(body, len, &clen);
	struct api_container *v = NULL;
	struct api_container one;
	struct api_meta m;
	size_t n = 0;

	if (list) {
		assert_int_equal(
			api_json_containers(c, clen, "docs", &v, &n, &m), 0);
		assert_int_equal(n, 1);
		one = v[0];
	} else {
		assert_int_equal(api_json_container(c, clen, "docs", &one), 0);
	}
	/* plate 5067: rows are letters, columns numbers */
	assert_int_equal(one.id, 5067);
	assert_string_equal(one.name, "Plate name");
	assert_true(one.rows_letters);
	assert_false(one.columns_letters);
	if (list)
		api_containers_free(v, n);
	else
		free(one.name);
	free(c);
}

static void check_plates(const char *body, size_t len)
{
	check_plate_naming(body, len, true);
}

static void check_plates_id(const char *body, size_t len)
{
	check_plate_naming(body, len, false);
}

static void check_envelope_one(const char *body, size_t len)
{
	size_t clen = 0;
	char *c = cleaned(body, len, &clen);
	bool is_list = false;
	size_t n = 0;

	/* objects we do not map (experimenters, groups, ROIs): a list of 1 */
	assert_int_equal(api_json_envelope(c, clen, "docs", &is_list, &n), 0);
	assert_true(is_list);
	assert_int_equal(n, 1);
	free(c);
}

static void check_docs_image(const struct api_image *img)
{
	assert_int_equal(img->id, 16783);
	assert_string_equal(img->name, "CFP_AurB_R3D.dv");
	assert_int_equal(img->acquisition_ms, 1235730332000LL);
	assert_true(img->has_pixels);
	assert_int_equal(img->px.size_x, 512);
	assert_int_equal(img->px.size_y, 512);
	assert_int_equal(img->px.size_z, 29);
	assert_int_equal(img->px.size_c, 2);
	assert_int_equal(img->px.size_t_, 1);
	assert_int_equal(img->px.type, API_PT_UINT16);
	check_near(img->px.phys_x, 0.12698, "PhysicalSizeX");
	check_near(img->px.phys_y, 0.12698, "PhysicalSizeY");
	check_near(img->px.phys_z, 0.2, "PhysicalSizeZ");
	check_near(img->px.time_increment, 0, "TimeIncrement");
	assert_null(img->zarr_lsid);
}

static void check_images(const char *body, size_t len)
{
	size_t clen = 0;
	char *c = cleaned(body, len, &clen);
	struct api_image *v = NULL;
	struct api_meta m;
	size_t n = 0;

	/* the docs' list of images: one image with its Pixels */
	assert_int_equal(api_json_images(c, clen, "docs", &v, &n, &m), 0);
	assert_int_equal(n, 1);
	check_docs_image(&v[0]);
	assert_int_equal(m.total_count, 1);
	api_images_free(v, n);
	free(c);
}

static void check_images_id(const char *body, size_t len)
{
	size_t clen = 0;
	char *c = cleaned(body, len, &clen);
	struct api_image one;

	/* the docs show a single image as "data": [...]; the server sends
	 * "data": {...} (idr-api.md 3.4), so the single parser refuses it */
	assert_int_equal(api_json_image(c, clen, "docs", &one), -EBADMSG);
	free(c);
	/* as a list it maps to the same image, Channels ignored */
	check_images(body, len);
}

static void check_wells(const char *body, size_t len)
{
	size_t clen = 0;
	char *c = cleaned(body, len, &clen);
	struct api_well *v = NULL;
	struct api_meta m;
	size_t n = 0;

	/* well 139 at A1 with one field, image 2942, no Pixels */
	assert_int_equal(api_json_wells(c, clen, "docs", &v, &n, &m), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].id, 139);
	assert_int_equal(v[0].row, 0);
	assert_int_equal(v[0].column, 0);
	assert_int_equal(v[0].nfields, 1);
	assert_int_equal(v[0].fields[0].id, 2942);
	assert_string_equal(v[0].fields[0].name,
			    "plate1.HTD [Well E02 Field #1]");
	assert_int_equal(v[0].fields[0].acquisition_ms, 1252939626000LL);
	assert_false(v[0].fields[0].has_pixels);
	api_wells_free(v, n);
	free(c);
}

static void check_meta_fragment(const char *body, size_t len)
{
	char *wrapped, *c;
	size_t wlen, clen = 0;
	struct api_container *v = SENTINEL;
	struct api_meta m;
	size_t n = SENTINEL_N;

	/* the fragment completed into an empty page: its meta block maps */
	wlen = len + 32;
	wrapped = malloc(wlen);
	assert_non_null(wrapped);
	snprintf(wrapped, wlen, "{\"data\": [],\n%.*s}", (int)len, body);
	c = jsonc_to_json(wrapped, strlen(wrapped), &clen);
	assert_int_equal(api_json_containers(c, clen, "meta", &v, &n, &m), 0);
	assert_int_equal(n, 0);
	assert_int_equal(m.total_count, 13240);
	assert_int_equal(m.max_limit, 500);
	assert_int_equal(m.limit, 200);
	assert_int_equal(m.offset, 0);
	api_containers_free(v, n);
	free(c);
	free(wrapped);
}

/* ---- the sample table ------------------------------------------------- */

struct sample {
	const char *file;
	enum parser parser; /* the one that fits its content */
	int rc;		    /* what that parser returns on the file as is */
	void (*check)(const char *body, size_t len);
};

static const struct sample samples[] = {
	{"api_v0_base.GET_api_v0.docs.json", P_BASE_URLS, 0, check_base_urls},
	{"api_v0_error_400.docs.json", P_ERROR, 0, check_error_400},
	{"api_v0_login.POST.docs.txt", P_ENVELOPE, -EBADMSG, NULL},
	{"api_v0_m_datasets.docs.jsonc", P_CONTAINERS, -EBADMSG,
	 check_datasets},
	{"api_v0_m_datasets_id.docs.jsonc", P_CONTAINER, -EBADMSG,
	 check_datasets_id},
	{"api_v0_m_experimentergroups.docs.jsonc", P_ENVELOPE, -EBADMSG,
	 check_envelope_one},
	{"api_v0_m_experimenters.docs.jsonc", P_ENVELOPE, -EBADMSG,
	 check_envelope_one},
	{"api_v0_m_images.docs.jsonc", P_IMAGES, -EBADMSG, check_images},
	{"api_v0_m_images_id.docs.jsonc", P_IMAGE, -EBADMSG, check_images_id},
	{"api_v0_m_plates.docs.jsonc", P_CONTAINERS, -EBADMSG, check_plates},
	{"api_v0_m_plates_id.docs.jsonc", P_CONTAINER, -EBADMSG,
	 check_plates_id},
	{"api_v0_m_plates_id_plateacquisitions.docs.jsonc", P_CONTAINERS,
	 -EBADMSG, check_plateacquisitions},
	{"api_v0_m_plates_id_wells.docs.jsonc", P_WELLS, -EBADMSG, check_wells},
	{"api_v0_m_projects.docs.json", P_CONTAINERS, 0, check_projects},
	{"api_v0_m_projects_id.docs.jsonc", P_CONTAINER, -EBADMSG,
	 check_projects_id},
	{"api_v0_m_rois.docs.jsonc", P_ENVELOPE, -EBADMSG, check_envelope_one},
	{"api_v0_m_screens.docs.jsonc", P_CONTAINERS, -EBADMSG, check_screens},
	{"api_v0_m_screens_id.docs.jsonc", P_CONTAINER, -EBADMSG,
	 check_screens_id},
	{"api_v0_meta_fragment.docs.jsonc", P_CONTAINERS, -EBADMSG,
	 check_meta_fragment},
	{"api_v0_servers.docs.json", P_ENVELOPE, 0, check_servers},
	{"api_v0_token.docs.json", P_ENVELOPE, 0, check_token},
	{"api_versions.GET_api.docs.json", P_VERSIONS, 0, check_versions},
	{"idr_mapr_api_gene_CDC20_plates_screen1204.printed.txt", P_CONTAINERS,
	 -EBADMSG, NULL},
	{"idr_mapr_api_gene_CDC20_screens.printed.txt", P_CONTAINERS, -EBADMSG,
	 NULL},
	{"idr_searchengine_image_search_GeneSymbol_ade8.printed.txt", P_IMAGES,
	 -EBADMSG, NULL},
	{"idr_webclient_api_annotations_map_image_122770.printed.txt",
	 P_ANNOTATIONS, -EBADMSG, NULL},
	{"idr_webclient_api_annotations_map_screen_102.printed.txt",
	 P_ANNOTATIONS, -EBADMSG, NULL},
	{"idr_webclient_api_annotations_map_values_mapr_CDC20_images.partial."
	 "json",
	 P_ANNOTATIONS, 0, check_annotations_partial},
	{"idr_webclient_api_plates_screen_102.printed.txt", P_CONTAINERS,
	 -EBADMSG, NULL},
	{"idr_webclient_imgData_122770.json", P_IMGDATA, 0,
	 check_imgdata_122770},
	{"idr_webgateway_table_Screen.plateLinks.child.wells_45217_query."
	 "2017era.json",
	 P_TABLE, 0, check_table_45217},
	{"idr_webgateway_table_Screen.plateLinks.child.wells_45217_query.json",
	 P_TABLE, 0, check_table_45217},
	{"webgateway_histogram_json.docs.json", P_HISTOGRAM, 0,
	 check_histogram},
	/* no pixelsType, 2 of 4 channels: see check_imgdata_docs */
	{"webgateway_imgData.docs.json", P_IMGDATA, -EBADMSG,
	 check_imgdata_docs},
	{"webgateway_imgData_tiled_fragment.docs.jsonc", P_IMGDATA, -EBADMSG,
	 check_tiled_fragment},
};

static const struct sample *sample_find(const char *file)
{
	for (size_t i = 0; i < ARRAY_LEN(samples); i++) {
		if (strcmp(samples[i].file, file) == 0)
			return &samples[i];
	}
	return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void test_api_samples_all_listed(void **state)
{
	char dir[1024];
	DIR *d;
	struct dirent *e;
	size_t seen = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/idr-samples", TESTS_DATA);
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char side[512];
		char *dot;
		char *body;
		size_t len;

		if (e->d_name[0] == '.' || ends_with(e->d_name, ".src.txt"))
			continue;
		/* every sample has a row in the table */
		if (!sample_find(e->d_name))
			fail_msg("sample '%s' is not in the table of "
				 "test_api.c; add a row",
				 e->d_name);
		seen++;
		/* and its .src.txt sidecar saying where it comes from */
		snprintf(side, sizeof(side), "idr-samples/%s", e->d_name);
		dot = strrchr(side, '.');
		assert_non_null(dot);
		snprintf(dot, sizeof(side) - (size_t)(dot - side), ".src.txt");
		body = testutil_read(side, &len);
		if (!body)
			fail_msg("sample '%s' has no sidecar '%s'", e->d_name,
				 side);
		free(body);
	}
	closedir(d);
	/* every row names an existing file, once */
	assert_int_equal(seen, ARRAY_LEN(samples));
	for (size_t i = 0; i < ARRAY_LEN(samples); i++) {
		for (size_t j = i + 1; j < ARRAY_LEN(samples); j++)
			assert_string_not_equal(samples[i].file,
						samples[j].file);
	}
}

static void test_api_samples_map(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(samples); i++) {
		const struct sample *s = &samples[i];
		size_t len = 0;
		char *body = read_sample(s->file, &len);
		struct parsed r;

		/* the fitting parser gives the table's rc ... */
		r = run_parser(s->parser, body, len, s->file);
		if (r.rc != s->rc)
			fail_msg("%s on '%s': %d, expected %d",
				 parser_names[s->parser], s->file, r.rc, s->rc);
		/* ... leaves its out-params alone when it fails ... */
		if (r.out_touched)
			fail_msg("%s on '%s' failed but wrote an out-param",
				 parser_names[s->parser], s->file);
		/* ... and maps the values the sample holds */
		if (s->check)
			s->check(body, len);
		free(body);
	}
}

static void test_api_samples_not_json_badmsg(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(samples); i++) {
		const char *f = samples[i].file;
		size_t len = 0;
		char *body;

		if (!ends_with(f, ".jsonc") && !ends_with(f, ".printed.txt") &&
		    !ends_with(f, ".docs.txt"))
			continue;
		body = read_sample(f, &len);
		/* not JSON: every parser says -EBADMSG, with a log line */
		for (int p = 0; p < P_COUNT; p++) {
			struct parsed r;
			char *log;

			log_mark();
			r = run_parser((enum parser)p, body, len, f);
			if (r.rc != -EBADMSG)
				fail_msg("%s on '%s': %d, expected -EBADMSG",
					 parser_names[p], f, r.rc);
			assert_false(r.out_touched);
			log = log_since_mark();
			if (!strstr(log, "not JSON"))
				fail_msg("%s on '%s' logged '%s'",
					 parser_names[p], f, log);
			free(log);
		}
		free(body);
	}
}

static void test_api_samples_every_parser(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(samples); i++) {
		size_t len = 0;
		char *body = read_sample(samples[i].file, &len);

		/* any parser on any sample: success or -EBADMSG, no crash,
		 * no leak, out-params untouched on failure */
		for (int p = 0; p < P_COUNT; p++) {
			struct parsed r = run_parser((enum parser)p, body, len,
						     samples[i].file);

			if (r.rc != 0 && r.rc != -EBADMSG)
				fail_msg("%s on '%s': %d", parser_names[p],
					 samples[i].file, r.rc);
			if (r.out_touched)
				fail_msg("%s on '%s' failed but wrote an "
					 "out-param",
					 parser_names[p], samples[i].file);
		}
		free(body);
	}
}

static void test_api_json_null_body(void **state)
{
	struct api_container *v = SENTINEL;
	size_t n = SENTINEL_N;
	struct api_meta m;

	(void)state;
	/* no body at all is a bad answer, not a crash */
	assert_int_equal(api_json_containers(NULL, 0, "null", &v, &n, &m),
			 -EBADMSG);
	assert_ptr_equal(v, SENTINEL);
	assert_int_equal(n, SENTINEL_N);
	for (int p = 0; p < P_COUNT; p++)
		assert_int_equal(run_parser((enum parser)p, NULL, 0, NULL).rc,
				 -EBADMSG);
	/* a body that does not end at len: only len bytes are read */
	assert_int_equal(
		run_parser(P_ENVELOPE, "{\"data\": []}garbage", 12, "cut").rc,
		0);
}

/* ---- hostile and malformed answers ------------------------------------ */

struct hostile {
	const char *file; /* under tests/data/api/ */
	enum parser parser;
	int rc;
	const char *log; /* the log must contain this, or NULL */
	const char *bug; /* the bug this row once found (now fixed) */
};

static const struct hostile hostiles[] = {
	{"empty.json", P_CONTAINERS, -EBADMSG, "not JSON", NULL},
	{"empty.json", P_IMGDATA, -EBADMSG, "not JSON", NULL},
	{"truncated.json", P_CONTAINERS, -EBADMSG, "not JSON", NULL},
	{"html_page.json", P_IMAGES, -EBADMSG, "not JSON", NULL},
	{"data_string.json", P_CONTAINERS, -EBADMSG, "'data' is not a list",
	 NULL},
	/* the token answer has a string "data": a real shape */
	{"data_string.json", P_ENVELOPE, 0, NULL, NULL},
	{"data_number.json", P_ENVELOPE, -EBADMSG, "'data'", NULL},
	{"data_number.json", P_HISTOGRAM, -EBADMSG, "'data' is not a list",
	 NULL},
	{"data_null.json", P_IMAGES, -EBADMSG, "'data' is not a list", NULL},
	{"data_null.json", P_WELL, -EBADMSG, "'data' is not an object", NULL},
	{"data_missing.json", P_WELLS, -EBADMSG, "'data' is not a list", NULL},
	{"data_missing.json", P_ENVELOPE, -EBADMSG, "'data'", NULL},
	{"data_object_for_list.json", P_CONTAINERS, -EBADMSG,
	 "'data' is not a list", NULL},
	{"data_object_for_list.json", P_CONTAINER, 0, NULL, NULL},
	{"data_list_for_single.json", P_CONTAINER, -EBADMSG,
	 "'data' is not an object", NULL},
	{"data_list_for_single.json", P_IMAGE, -EBADMSG,
	 "'data' is not an object", NULL},
	{"root_array.json", P_CONTAINERS, -EBADMSG, "'data'", NULL},
	{"item_not_object.json", P_CONTAINERS, -EBADMSG, "'data[]'", NULL},
	{"item_not_object.json", P_IMAGES, -EBADMSG, "'Image'", NULL},
	{"item_not_object.json", P_WELLS, -EBADMSG, "'Well'", NULL},
	{"id_string.json", P_CONTAINERS, -EBADMSG, "'@id' is not an integer",
	 NULL},
	{"id_string.json", P_IMAGES, -EBADMSG, "'@id' is not an integer", NULL},
	{"id_missing.json", P_CONTAINERS, -EBADMSG, "'@id' is missing", NULL},
	{"id_null.json", P_IMAGES, -EBADMSG, "'@id' is missing", NULL},
	{"id_bool.json", P_CONTAINERS, -EBADMSG, "'@id' is not an integer",
	 NULL},
	/* the search engine sends ids as 7.0 (idr-api.md, api_json.c) */
	{"id_float_integral.json", P_CONTAINERS, 0, NULL, NULL},
	{"id_float_integral.json", P_IMAGES, 0, NULL, NULL},
	{"id_float_fraction.json", P_CONTAINERS, -EBADMSG,
	 "'@id' is not an integer", NULL},
	{"id_float_fraction.json", P_IMAGES, -EBADMSG,
	 "'@id' is not an integer", NULL},
	{"id_float_huge.json", P_CONTAINERS, -EBADMSG,
	 "'@id' is not an integer", NULL},
	{"id_int_overflow.json", P_CONTAINERS, -EBADMSG, "not JSON", NULL},
	{"name_not_string.json", P_CONTAINERS, -EBADMSG,
	 "'Name' is not a string", NULL},
	{"name_not_string.json", P_IMAGES, -EBADMSG, "'Name' is not a string",
	 NULL},
	{"name_nul.json", P_CONTAINERS, 0, "holds a NUL byte", NULL},
	{"name_nul.json", P_IMAGES, 0, "holds a NUL byte", NULL},
	{"name_lone_surrogate.json", P_CONTAINERS, -EBADMSG, "not JSON", NULL},
	{"invalid_utf8.json", P_CONTAINERS, -EBADMSG, "not JSON", NULL},
	{"bom.json", P_ENVELOPE, -EBADMSG, "not JSON", NULL},
	{"duplicate_keys.json", P_CONTAINERS, -EBADMSG, "duplicate", NULL},
	{"duplicate_data.json", P_ENVELOPE, -EBADMSG, "duplicate", NULL},
	{"nan.json", P_CONTAINERS, -EBADMSG, "not JSON", NULL},
	{"infinity.json", P_HISTOGRAM, -EBADMSG, "not JSON", NULL},
	{"minus_infinity.json", P_IMAGES, -EBADMSG, "not JSON", NULL},
	{"real_overflow.json", P_HISTOGRAM, -EBADMSG, "not JSON", NULL},
	{"trailing_garbage.json", P_CONTAINERS, -EBADMSG, "not JSON", NULL},
	{"two_documents.json", P_ENVELOPE, -EBADMSG, "not JSON", NULL},
	{"single_quotes.json", P_ENVELOPE, -EBADMSG, "not JSON", NULL},
	{"sizex_negative.json", P_IMAGES, -EBADMSG, "'SizeX' is out of range",
	 NULL},
	{"sizex_zero.json", P_IMAGES, -EBADMSG, "'SizeX' is out of range",
	 NULL},
	{"sizex_huge.json", P_IMAGES, -EBADMSG, "'SizeX' is out of range",
	 NULL},
	{"sizex_u32_wrap.json", P_IMAGES, -EBADMSG, "'SizeX' is out of range",
	 NULL},
	{"sizex_string.json", P_IMAGES, -EBADMSG, "'SizeX' is not an integer",
	 NULL},
	{"sizex_fraction.json", P_IMAGES, -EBADMSG, "'SizeX' is not an integer",
	 NULL},
	{"sizec_missing.json", P_IMAGES, -EBADMSG, "'SizeC' is missing", NULL},
	{"pixels_type_missing.json", P_IMAGES, -EBADMSG,
	 "'Pixels.Type.value' is missing", NULL},
	{"pixels_type_string.json", P_IMAGES, -EBADMSG,
	 "'Pixels.Type.value' is missing", NULL},
	{"pixels_type_value_number.json", P_IMAGES, -EBADMSG,
	 "'Pixels.Type.value' is missing", NULL},
	{"pixels_type_unknown.json", P_IMAGES, 0, NULL, NULL},
	{"meta_negative_total.json", P_CONTAINERS, -EBADMSG,
	 "'meta' has a negative count", NULL},
	{"meta_negative_total.json", P_ENVELOPE, -EBADMSG,
	 "'meta' has a negative count", NULL},
	{"meta_negative_offset.json", P_CONTAINERS, -EBADMSG,
	 "'meta' has a negative count", NULL},
	{"meta_total_string.json", P_CONTAINERS, -EBADMSG,
	 "'totalCount' is not an integer", NULL},
	{"meta_missing_total.json", P_IMAGES, -EBADMSG,
	 "'totalCount' is missing", NULL},
	{"deep_nesting.json", P_CONTAINERS, -EBADMSG, "not JSON", NULL},
	{"deep_nesting.json", P_ANNOTATIONS, -EBADMSG, "not JSON", NULL},
	{"deep_nesting.json", P_HISTOGRAM, -EBADMSG, "not JSON", NULL},
	{"deep_nesting.json", P_ENVELOPE, -EBADMSG, "not JSON", NULL},
	{"name_1mib.json", P_CONTAINERS, 0, NULL, NULL},
	{"name_1mib.json", P_IMAGES, 0, NULL, NULL},
	{"well_row_negative.json", P_WELLS, -EBADMSG, "'Row' is out of range",
	 NULL},
	{"well_column_huge.json", P_WELLS, -EBADMSG, "'Column' is out of range",
	 NULL},
	{"well_row_missing.json", P_WELLS, -EBADMSG, "'Row' is missing", NULL},
	{"well_samples_not_list.json", P_WELLS, -EBADMSG,
	 "'WellSamples' is not a list", NULL},
	{"well_sample_without_image.json", P_WELLS, -EBADMSG,
	 "'WellSamples[].Image' is missing", NULL},
	{"well_sample_bad_image.json", P_WELLS, -EBADMSG,
	 "'@id' is not an integer", NULL},
	{"histogram_negative.json", P_HISTOGRAM, -EBADMSG,
	 "'data[]' is not a count", NULL},
	{"histogram_fraction.json", P_HISTOGRAM, -EBADMSG,
	 "'data[]' is not a count", NULL},
	{"histogram_string.json", P_HISTOGRAM, -EBADMSG,
	 "'data[]' is not a count", NULL},
	{"table_row_mismatch.json", P_TABLE, -EBADMSG, "'data.rows[0]'", NULL},
	{"table_column_not_string.json", P_TABLE, -EBADMSG,
	 "'data.columns[]' is not a string", NULL},
	{"table_missing_rows.json", P_TABLE, -EBADMSG, "'data.columns/rows'",
	 NULL},
	{"error_no_message.json", P_ERROR, -EBADMSG, "'message' is missing",
	 "failure writes the out-param"},
	{"error_message_number.json", P_ERROR, -EBADMSG,
	 "'message' is not a string", NULL},
	{"versions_empty.json", P_VERSIONS, -EBADMSG, "'data'", NULL},
	{"versions_no_base.json", P_VERSIONS, -EBADMSG, "'url:base' is missing",
	 "failure writes the out-param"},
	{"base_no_projects.json", P_BASE_URLS, -EBADMSG,
	 "'url:projects' is missing", NULL},
	{"annotations_bad_pair.json", P_ANNOTATIONS, -EBADMSG,
	 "'values[]' is not a [key, value] pair", NULL},
	{"annotations_value_number.json", P_ANNOTATIONS, -EBADMSG,
	 "'values[]' is not a [key, value] pair", NULL},
	{"annotations_not_list.json", P_ANNOTATIONS, -EBADMSG,
	 "'annotations' is not a list", NULL},
	{"annotations_item_not_object.json", P_ANNOTATIONS, -EBADMSG,
	 "'annotations[]' is not an object", NULL},
	{"annotations_real_shape.json", P_ANNOTATIONS, 0, NULL, NULL},
	{"annotations_deep_values.json", P_ANNOTATIONS, 0, NULL, NULL},
	{"imgdata_channels_mismatch.json", P_IMGDATA, -EBADMSG,
	 "'channels' does not match size.c", NULL},
	{"imgdata_channels_not_list.json", P_IMGDATA, -EBADMSG,
	 "'channels' does not match size.c", NULL},
	{"imgdata_channel_not_object.json", P_IMGDATA, -EBADMSG,
	 "'channels[]' is not an object", NULL},
	{"imgdata_channel_no_window.json", P_IMGDATA, -EBADMSG,
	 "'channels[].window' is missing", NULL},
	{"imgdata_color_word.json", P_IMGDATA, -EBADMSG,
	 "'channels[].color' is not RRGGBB", NULL},
	{"imgdata_color_not_hex.json", P_IMGDATA, -EBADMSG,
	 "'channels[].color' is not RRGGBB", NULL},
	{"imgdata_color_long.json", P_IMGDATA, -EBADMSG,
	 "'channels[].color' is not RRGGBB", NULL},
	{"imgdata_color_number.json", P_IMGDATA, -EBADMSG,
	 "'color' is not a string", NULL},
	{"imgdata_color_signed.json", P_IMGDATA, -EBADMSG,
	 "'channels[].color' is not RRGGBB", NULL},
	{"imgdata_color_space.json", P_IMGDATA, -EBADMSG,
	 "'channels[].color' is not RRGGBB", NULL},
	{"imgdata_color_hex_prefix.json", P_IMGDATA, -EBADMSG,
	 "'channels[].color' is not RRGGBB", NULL},
	{"imgdata_size_zero.json", P_IMGDATA, -EBADMSG,
	 "'width' is out of range", NULL},
	{"imgdata_size_negative.json", P_IMGDATA, -EBADMSG,
	 "'z' is out of range", NULL},
	{"imgdata_no_pixels_type.json", P_IMGDATA, -EBADMSG,
	 "'pixelsType' is missing", NULL},
	{"imgdata_no_size.json", P_IMGDATA, -EBADMSG, "'size' is missing",
	 NULL},
	{"imgdata_no_id.json", P_IMGDATA, -EBADMSG, "'id' is missing", NULL},
	/* a pyramid still being built: the real server sends this */
	{"imgdata_backoff.json", P_IMGDATA, 0, NULL, NULL},
	{"imgdata_backoff_zero.json", P_IMGDATA, 0, NULL, NULL},
	{"imgdata_backoff_string.json", P_IMGDATA, -EBADMSG,
	 "'backOff' is not an integer", NULL},
	{"imgdata_pixel_size_negative.json", P_IMGDATA, 0, NULL, NULL},
	{"imgdata_tiles_out_of_range.json", P_IMGDATA, 0, NULL, NULL},
	{"image_units.json", P_IMAGES, 0, NULL, NULL},
	{"time_nanosecond.json", P_IMAGES, 0, NULL, NULL},
};

static void test_api_hostile_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(hostiles); i++) {
		const struct hostile *h = &hostiles[i];
		size_t len = 0;
		char *body = read_hostile(h->file, &len);
		struct parsed r;
		char *log;

		log_mark();
		r = run_parser(h->parser, body, len, h->file);
		log = log_since_mark();
		/* the documented rc ... */
		if (r.rc != h->rc)
			fail_msg("%s on '%s': %d, expected %d",
				 parser_names[h->parser], h->file, r.rc, h->rc);
		/* ... no out-param written on failure ... */
		if (r.out_touched)
			fail_msg("%s on '%s' failed but wrote an out-param",
				 parser_names[h->parser], h->file);
		/* ... and a log line naming the field and the answer (the
		 * three parsers without a 'what' name their endpoint) */
		if (h->log &&
		    (!strstr(log, h->log) ||
		     (parser_takes_what(h->parser) && !strstr(log, h->file))))
			fail_msg("%s on '%s' logged '%s', expected '%s'",
				 parser_names[h->parser], h->file, log, h->log);
		if (h->rc == 0 && strstr(log, "error"))
			fail_msg("%s on '%s' succeeded but logged '%s'",
				 parser_names[h->parser], h->file, log);
		free(log);
		free(body);
	}
}

static void test_api_hostile_every_parser(void **state)
{
	char dir[1024];
	DIR *d;
	struct dirent *e;
	size_t files = 0;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/api", TESTS_DATA);
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		size_t len = 0;
		char *body;
		bool listed = false;

		if (e->d_name[0] == '.')
			continue;
		files++;
		for (size_t i = 0; i < ARRAY_LEN(hostiles); i++)
			listed = listed || !strcmp(hostiles[i].file, e->d_name);
		/* every fixture of tests/data/api has a row in hostiles[] */
		if (!listed)
			fail_msg("fixture 'api/%s' is not in hostiles[]",
				 e->d_name);
		body = read_hostile(e->d_name, &len);
		/* every parser on every hostile input: 0 or -EBADMSG, never a
		 * crash; leaks are valgrind's job */
		for (int p = 0; p < P_COUNT; p++) {
			struct parsed r = run_parser((enum parser)p, body, len,
						     e->d_name);

			if (r.rc != 0 && r.rc != -EBADMSG)
				fail_msg("%s on '%s': %d", parser_names[p],
					 e->d_name, r.rc);
			if (r.out_touched)
				fail_msg("%s on '%s' failed but wrote an "
					 "out-param",
					 parser_names[p], e->d_name);
		}
		free(body);
	}
	closedir(d);
	assert_true(files > 0);
}

static void test_api_json_float_ids(void **state)
{
	size_t len = 0;
	char *body = read_hostile("id_float_integral.json", &len);
	struct api_container *v = NULL;
	struct api_meta m;
	size_t n = 0;

	(void)state;
	/* 7.0 is the integer 7, also in meta */
	assert_int_equal(api_json_containers(body, len, "f", &v, &n, &m), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].id, 7);
	assert_string_equal(v[0].name, "seven");
	assert_int_equal(m.total_count, 1);
	assert_int_equal(m.limit, 1000);
	api_containers_free(v, n);
	free(body);
}

static void test_api_json_huge_name(void **state)
{
	size_t len = 0;
	char *body = read_hostile("name_1mib.json", &len);
	struct api_container *v = NULL;
	struct api_meta m;
	size_t n = 0;

	(void)state;
	/* a 1 MiB name is copied whole: api has no name cap (the tree
	 * shortens names), the 64 MiB body cap bounds it */
	assert_int_equal(api_json_containers(body, len, "big", &v, &n, &m), 0);
	assert_int_equal(n, 1);
	assert_int_equal(strlen(v[0].name), 1u << 20);
	assert_memory_equal(v[0].name, "0123456789abcdef", 16);
	assert_string_equal(v[0].name + (1u << 20) - 16, "0123456789abcdef");
	api_containers_free(v, n);
	free(body);
}

static void test_api_json_real_annotations(void **state)
{
	size_t len = 0;
	char *body = read_hostile("annotations_real_shape.json", &len);
	struct api_kv *kv = NULL;
	size_t n = 0;

	(void)state;
	/* map annotations only (the tag is skipped), with their ns */
	assert_int_equal(api_json_annotations(body, len, "ann", &kv, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(kv[0].ns, "openmicroscopy.org/mapr/gene");
	assert_string_equal(kv[0].key, "Gene Identifier");
	assert_string_equal(kv[0].value, "991");
	assert_string_equal(kv[2].key, "Gene Symbol");
	assert_string_equal(kv[2].value, "CDC20");
	/* no ns: NULL */
	assert_null(kv[3].ns);
	assert_string_equal(kv[3].key, "Organism");
	assert_string_equal(kv[3].value, "Homo sapiens");
	api_kvs_free(kv, n);
	free(body);

	/* pairs nested 2000 lists deep are found (and the stack holds) */
	body = read_hostile("annotations_deep_values.json", &len);
	assert_int_equal(api_json_annotations(body, len, "deep", &kv, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(kv[0].key, "Gene Symbol");
	api_kvs_free(kv, n);
	free(body);
}

static void test_api_json_imgdata_backoff(void **state)
{
	size_t len = 0;
	char *body = read_hostile("imgdata_backoff.json", &len);
	struct api_imgdata d;

	(void)state;
	/* ConcurrencyException: come back in 3 s, nothing else set */
	assert_int_equal(api_json_imgdata(body, len, "ce", &d), 0);
	assert_int_equal(d.backoff_ms, 3000);
	assert_int_equal(d.nchannels, 0);
	assert_null(d.channels);
	assert_null(d.name);
	api_imgdata_release(&d);
	free(body);
	/* a zero backOff still means "later" */
	body = read_hostile("imgdata_backoff_zero.json", &len);
	assert_int_equal(api_json_imgdata(body, len, "ce", &d), 0);
	assert_true(d.backoff_ms > 0);
	api_imgdata_release(&d);
	free(body);
	/* tiles: true with out-of-range levels and tile sizes: ignored */
	body = read_hostile("imgdata_tiles_out_of_range.json", &len);
	assert_int_equal(api_json_imgdata(body, len, "tiles", &d), 0);
	assert_true(d.tiled);
	assert_int_equal(d.levels, 1);
	assert_int_equal(d.tile_w, 0);
	assert_int_equal(d.tile_h, 0);
	api_imgdata_release(&d);
	free(body);
}

static void test_api_json_units(void **state)
{
	size_t len = 0;
	char *body = read_hostile("image_units.json", &len);
	struct api_image *v = NULL;
	struct api_meta m;
	size_t n = 0;

	(void)state;
	assert_int_equal(api_json_images(body, len, "units", &v, &n, &m), 0);
	assert_int_equal(n, 4);
	/* nm, Å and mm become µm; ms becomes s */
	check_near(v[0].px.phys_x, 0.65, "650 nm");
	check_near(v[0].px.phys_y, 0.5, "5000 Å");
	check_near(v[0].px.phys_z, 2.0, "0.002 mm");
	check_near(v[0].px.time_increment, 0.25, "250 ms");
	assert_int_equal(v[0].px.type, API_PT_UINT8);
	assert_int_equal(v[0].px.size_t_, 2);
	/* no unit: OMERO's default, µm; PIXEL is no physical size; a
	 * negative size is unknown; minutes become seconds */
	check_near(v[1].px.phys_x, 0.5, "no unit");
	check_near(v[1].px.phys_y, 0, "1 pixel");
	check_near(v[1].px.phys_z, 0, "-0.2 µm");
	check_near(v[1].px.time_increment, 120, "2 min");
	/* cm, m and pm; seconds as they are; the Zarr Lsid is copied */
	check_near(v[2].px.phys_x, 1.0, "1e-4 cm");
	check_near(v[2].px.phys_y, 1.0, "1e-6 m");
	check_near(v[2].px.phys_z, 0.2, "200000 pm");
	check_near(v[2].px.time_increment, 1.5, "1.5 s");
	assert_string_equal(v[2].zarr_lsid,
			    "s3://https://uk1s3.embassy.ebi.ac.uk/idr/zarr/"
			    "v0.4/idr0062A/6001240.zarr?anonymous=true");
	/* nothing sent: 0 everywhere, no Lsid */
	check_near(v[3].px.phys_x, 0, "absent");
	check_near(v[3].px.time_increment, 0, "absent");
	assert_null(v[3].zarr_lsid);
	assert_null(v[0].zarr_lsid);
	api_images_free(v, n);
	free(body);
}

static void test_api_json_pixel_types(void **state)
{
	static const struct {
		const char *name;
		enum api_pixel_type t;
		unsigned bytes;
	} types[] = {
		{"int8", API_PT_INT8, 1},
		{"uint8", API_PT_UINT8, 1},
		{"int16", API_PT_INT16, 2},
		{"uint16", API_PT_UINT16, 2},
		{"int32", API_PT_INT32, 4},
		{"uint32", API_PT_UINT32, 4},
		{"float", API_PT_FLOAT, 4},
		{"double", API_PT_DOUBLE, 8},
		{"bit", API_PT_BIT, 0},
		{"complex", API_PT_COMPLEX, 0},
		{"double-complex", API_PT_DOUBLE_COMPLEX, 0},
		{"int64", API_PT_UNKNOWN, 0},
		{"UINT16", API_PT_UNKNOWN, 0},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(types); i++) {
		char body[512];
		struct api_image img;

		snprintf(body, sizeof(body),
			 "{\"data\": {\"@id\": 1, \"Pixels\": {\"SizeX\": 1, "
			 "\"SizeY\": 1, \"SizeZ\": 1, \"SizeC\": 1, "
			 "\"SizeT\": 1, \"Type\": {\"value\": \"%s\"}}}}",
			 types[i].name);
		/* each OMERO type name maps to its enum; others: unknown */
		assert_int_equal(api_json_image(body, strlen(body), "pt", &img),
				 0);
		assert_true(img.has_pixels);
		assert_null(img.name);
		if (img.px.type != types[i].t)
			fail_msg("'%s' mapped to %d", types[i].name,
				 (int)img.px.type);
		/* bytes per sample and the name back */
		assert_int_equal(api_pixel_bytes(img.px.type), types[i].bytes);
		if (types[i].t != API_PT_UNKNOWN)
			assert_string_equal(api_pixel_type_name(img.px.type),
					    types[i].name);
		else
			assert_string_equal(api_pixel_type_name(img.px.type),
					    "unknown");
		api_image_release(&img);
	}
}

/* ---- regressions: bugs found and fixed ----------------------------- */

static void test_api_bug_failure_writes_out_param(void **state)
{
	static const struct {
		const char *body;
		enum parser p;
	} cases[] = {
		{"{\"stacktrace\": \"...\"}", P_ERROR},
		{"{\"data\": [{\"version\": \"0\"}]}", P_VERSIONS},
		{"{\"url:images\": \"x\"}", P_BASE_URLS},
	};
	bool buggy = false;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct parsed r = run_parser(cases[i].p, cases[i].body,
					     strlen(cases[i].body), "bug");

		/* a missing field fails ... */
		assert_int_equal(r.rc, -EBADMSG);
		/* ... and must leave the out-param alone (STYLE rule 14) */
		if (r.out_touched) {
			print_message("regression: %s writes NULL to its "
				      "out-param on failure\n",
				      parser_names[cases[i].p]);
			buggy = true;
		}
	}
	if (buggy)
		fail();
}

static void test_api_bug_colour_parse(void **state)
{
	static const char *const files[] = {
		"imgdata_color_signed.json",
		"imgdata_color_space.json",
		"imgdata_color_hex_prefix.json",
	};
	bool buggy = false;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		size_t len = 0;
		char *body = read_hostile(files[i], &len);
		struct api_imgdata d;
		int rc = api_json_imgdata(body, len, files[i], &d);

		/* a colour is exactly six hex digits, nothing else */
		if (rc == 0) {
			print_message("regression: '%s' colour accepted as "
				      "0x%08" PRIx32 "\n",
				      files[i], d.channels[1].color_rgb);
			buggy = true;
			api_imgdata_release(&d);
		} else {
			assert_int_equal(rc, -EBADMSG);
		}
		free(body);
	}
	if (buggy)
		fail();
}

static void test_api_bug_time_units(void **state)
{
	size_t len = 0;
	char *body = read_hostile("time_nanosecond.json", &len);
	struct api_image *v = NULL;
	struct api_meta m;
	size_t n = 0;
	double t;

	(void)state;
	assert_int_equal(api_json_images(body, len, "ns", &v, &n, &m), 0);
	assert_int_equal(n, 1);
	t = v[0].px.time_increment;
	api_images_free(v, n);
	free(body);
	/* 500 ns is 5e-7 s, or 0 (unknown unit); never 500 s */
	if (t > 1) {
		print_message("regression: TimeIncrement 500 NANOSECOND gave "
			      "%g s\n",
			      t);
		fail();
	}
	assert_true(t == 0 || fabs(t - 5e-7) < 1e-12);
}

static void test_api_bug_negative_pixel_size(void **state)
{
	size_t len = 0;
	char *body = read_hostile("imgdata_pixel_size_negative.json", &len);
	struct api_imgdata d;
	double x;

	(void)state;
	assert_int_equal(api_json_imgdata(body, len, "ps", &d), 0);
	x = d.pixel_size_x;
	/* 0 stays 0 (unknown) */
	check_near(d.pixel_size_y, 0, "pixel_size.y");
	api_imgdata_release(&d);
	free(body);
	/* a negative size is no size: 0, as PhysicalSize* in api_json_images
	 */
	if (x < 0) {
		print_message("regression: imgData pixel_size.x -1.25 kept as "
			      "%g\n",
			      x);
		fail();
	}
	check_near(x, 0, "pixel_size.x");
}

/* ---- api_new and small helpers ---------------------------------------- */

static int fetch_never(void *ctx, struct http_req *reqs, size_t n,
		       uint64_t deadline_ms)
{
	(void)ctx;
	(void)reqs;
	(void)n;
	(void)deadline_ms;
	fail_msg("no request expected");
	return -EIO;
}

static void test_api_new_base_url(void **state)
{
	struct api_transport tr = {fetch_never, NULL};
	struct api *a = SENTINEL;

	(void)state;
	/* only http(s) URLs; out untouched on failure */
	assert_int_equal(api_new("ftp://idr.openmicroscopy.org", &tr, &a),
			 -EINVAL);
	assert_int_equal(api_new("idr.openmicroscopy.org", &tr, &a), -EINVAL);
	assert_int_equal(api_new("", &tr, &a), -EINVAL);
	assert_ptr_equal(a, SENTINEL);
	/* trailing slashes are dropped */
	assert_int_equal(api_new("https://idr.openmicroscopy.org//", &tr, &a),
			 0);
	assert_string_equal(api_base_url(a), "https://idr.openmicroscopy.org");
	assert_int_equal(api_requests(a), 0);
	api_free(a);
	assert_int_equal(api_new("http://127.0.0.1:8080", &tr, &a), 0);
	assert_string_equal(api_base_url(a), "http://127.0.0.1:8080");
	api_free(a);
	/* freeing NULL is a no-op */
	api_free(NULL);
	api_containers_free(NULL, 3);
	api_images_free(NULL, 3);
	api_wells_free(NULL, 3);
	api_image_release(NULL);
	api_well_release(NULL);
	api_imgdata_release(NULL);
	api_table_release(NULL);
}

/* ---- paging through a fake transport ---------------------------------- */

#define FAKE_BASE      "https://idr.example.org"
#define FAKE_MAX_URLS  32
#define FAKE_MAX_CALLS 8
#define FAKE_ID0       1000000

enum fake_kind { FAKE_IMAGES, FAKE_CONTAINERS, FAKE_WELLS };

struct fake {
	enum fake_kind kind;
	int64_t total;	     /* objects in the listing */
	int64_t claim_total; /* totalCount sent, -1: total */
	int64_t clamp;	     /* the server's maxLimit */
	int64_t fail_offset; /* this page fails with fail_rc, -1: none */
	int fail_rc;
	int64_t html_offset;  /* this page is a web page, -1: none */
	int64_t bad_offset;   /* this page is not JSON, -1: none */
	int64_t extra_offset; /* this page holds extra more items than the
			       * limit asked, -1: none */
	int64_t extra;
	size_t max_body;      /* of the last request */
	const char *single;   /* answer to a single-object URL */
	uint64_t deadline;    /* the last deadline seen */
	pthread_mutex_t lock; /* the api calls from several threads */
	unsigned bad;	      /* requests that broke a rule (asserted in
			       * the main thread, at teardown) */
	unsigned calls;
	size_t batch[FAKE_MAX_CALLS];
	size_t nurls;
	char *urls[FAKE_MAX_URLS];
};

struct sbuf {
	char *p;
	size_t n, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int k;

	for (;;) {
		va_start(ap, fmt);
		k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		assert_true(k >= 0);
		if ((size_t)k < b->cap - b->n)
			break;
		b->cap = b->cap * 2 + (size_t)k + 1;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	b->n += (size_t)k;
}

static int64_t query_int(const char *url, const char *key, int64_t dflt)
{
	const char *q = strchr(url, '?');
	size_t kl = strlen(key);

	while (q) {
		q++;
		if (strncmp(q, key, kl) == 0 && q[kl] == '=')
			return strtoll(q + kl + 1, NULL, 10);
		q = strchr(q, '&');
	}
	return dflt;
}

static void fake_item(struct sbuf *b, enum fake_kind kind, int64_t i)
{
	int64_t id = FAKE_ID0 + i;

	switch (kind) {
	case FAKE_IMAGES:
		sb_printf(b,
			  "{\"@id\": %" PRId64 ", \"Name\": \"img-%05" PRId64
			  ".tif\", \"Pixels\": {\"SizeX\": 1024, \"SizeY\": "
			  "768, \"SizeZ\": 1, \"SizeC\": 3, \"SizeT\": 1, "
			  "\"Type\": {\"value\": \"uint16\"}, "
			  "\"PhysicalSizeX\": {\"Value\": 650, \"Unit\": "
			  "\"NANOMETER\"}}}",
			  id, i);
		break;
	case FAKE_CONTAINERS:
		sb_printf(b,
			  "{\"@id\": %" PRId64 ", \"Name\": \"c-%05" PRId64
			  "\", \"omero:childCount\": %" PRId64 "}",
			  id, i, i % 7);
		break;
	case FAKE_WELLS:
		sb_printf(b,
			  "{\"@id\": %" PRId64 ", \"Row\": %" PRId64
			  ", \"Column\": %" PRId64 ", \"WellSamples\": "
			  "[{\"Image\": {\"@id\": %" PRId64 "}}, {\"Image\": "
			  "{\"@id\": %" PRId64 "}}]}",
			  id, i % 16, i / 16, 2 * id, 2 * id + 1);
		break;
	}
}

/* Answer one request like the OMERO JSON API would. */
static void fake_answer(struct fake *f, struct http_req *r)
{
	struct sbuf b = {NULL, 0, 0};
	int64_t limit, offset, count, total;

	r->status = 200;
	r->attempts = 1;
	r->rc = 0;
	snprintf(r->content_type, sizeof(r->content_type), "application/json");
	if (!strchr(r->url, '?')) {
		sb_printf(&b, "%s", f->single ? f->single : "{}");
		goto done;
	}
	limit = query_int(r->url, "limit", 200);
	offset = query_int(r->url, "offset", 0);
	if (limit < 0)
		limit = 200;
	if (offset < 0)
		offset = 0;
	if (limit > f->clamp)
		limit = f->clamp;
	if (offset == f->fail_offset) {
		r->rc = f->fail_rc;
		r->status = 503;
		r->content_type[0] = '\0';
		return;
	}
	if (offset == f->html_offset) {
		snprintf(r->content_type, sizeof(r->content_type),
			 "text/html; charset=utf-8");
		sb_printf(&b, "<html><body>302 Found</body></html>");
		goto done;
	}
	if (offset == f->bad_offset) {
		sb_printf(&b, "{\"data\": [{\"@id\": 1,");
		goto done;
	}
	total = f->total;
	count = offset < total ? total - offset : 0;
	if (count > limit)
		count = limit;
	if (offset == f->extra_offset)
		count = limit + f->extra;
	sb_printf(&b, "{\"data\": [");
	for (int64_t i = 0; i < count; i++) {
		if (i)
			sb_printf(&b, ", ");
		fake_item(&b, f->kind, offset + i);
	}
	sb_printf(&b,
		  "], \"meta\": {\"offset\": %" PRId64 ", \"limit\": %" PRId64
		  ", \"maxLimit\": %" PRId64 ", \"totalCount\": %" PRId64 "}}",
		  offset, limit, f->clamp,
		  f->claim_total >= 0 ? f->claim_total : total);
done:
	r->body = b.p;
	r->len = b.n;
	r->content_length = (int64_t)b.n;
}

static int fake_fetch(void *ctx, struct http_req *reqs, size_t n,
		      uint64_t deadline_ms)
{
	struct fake *f = ctx;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	if (f->calls < FAKE_MAX_CALLS)
		f->batch[f->calls] = n;
	f->calls++;
	f->deadline = deadline_ms;
	for (size_t i = 0; i < n; i++) {
		if (f->nurls < FAKE_MAX_URLS)
			f->urls[f->nurls] = strdup(reqs[i].url);
		f->nurls++;
		/* the api asks for a capped body */
		if (reqs[i].max_body == 0 || reqs[i].max_body > API_MAX_BODY ||
		    reqs[i].range_len != 0 || reqs[i].head)
			f->bad++;
		f->max_body = reqs[i].max_body;
		fake_answer(f, &reqs[i]);
		if (reqs[i].rc < 0 && rc == 0)
			rc = reqs[i].rc;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

struct fake_env {
	struct fake f;
	struct api *a;
};

static int fake_setup(void **state)
{
	struct fake_env *env = calloc(1, sizeof(*env));
	struct api_transport tr;

	if (!env)
		return -1;
	env->f.kind = FAKE_IMAGES;
	env->f.claim_total = -1;
	env->f.clamp = 1000;
	env->f.fail_offset = -1;
	env->f.html_offset = -1;
	env->f.bad_offset = -1;
	env->f.extra_offset = -1;
	pthread_mutex_init(&env->f.lock, NULL);
	tr.fetch = fake_fetch;
	tr.ctx = &env->f;
	if (api_new(FAKE_BASE "/", &tr, &env->a) < 0) {
		free(env);
		return -1;
	}
	*state = env;
	return 0;
}

static int fake_teardown(void **state)
{
	struct fake_env *env = *state;
	unsigned bad = env->f.bad;

	for (size_t i = 0; i < env->f.nurls && i < FAKE_MAX_URLS; i++) {
		if (!env->f.urls[i])
			bad++;
		free(env->f.urls[i]);
	}
	pthread_mutex_destroy(&env->f.lock);
	api_free(env->a);
	free(env);
	return bad == 0 ? 0 : -1;
}

static int64_t url_offset(const char *u)
{
	const char *o = strstr(u, "offset=");

	return o ? strtoll(o + 7, NULL, 10) : -1;
}

/* The later pages are fetched by several threads, in any order: put the
 * URLs asked for in the order of their offsets (stable). */
static void sort_urls(struct fake *f)
{
	size_t n = f->nurls < FAKE_MAX_URLS ? f->nurls : FAKE_MAX_URLS;

	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && url_offset(f->urls[j - 1]) >
						    url_offset(f->urls[j]);
		     j--) {
			char *t = f->urls[j];

			f->urls[j] = f->urls[j - 1];
			f->urls[j - 1] = t;
		}
}

/* Forget the URLs asked for so far (a test that lists again). */
static void fake_forget_urls(struct fake *f)
{
	for (size_t i = 0; i < FAKE_MAX_URLS; i++) {
		free(f->urls[i]);
		f->urls[i] = NULL;
	}
	f->nurls = 0;
}

static void check_url(const struct fake *f, size_t i, const char *path_query)
{
	char want[512];

	snprintf(want, sizeof(want), "%s%s", FAKE_BASE, path_query);
	assert_true(i < f->nurls);
	if (strcmp(f->urls[i], want) != 0)
		fail_msg("request %zu: '%s', expected '%s'", i, f->urls[i],
			 want);
}

/* The path of every URL asked for ends with a slash (idr-api.md 3.2). */
static void check_trailing_slashes(const struct fake *f)
{
	for (size_t i = 0; i < f->nurls && i < FAKE_MAX_URLS; i++) {
		const char *q = strchr(f->urls[i], '?');
		size_t end = q ? (size_t)(q - f->urls[i]) : strlen(f->urls[i]);

		if (end == 0 || f->urls[i][end - 1] != '/')
			fail_msg("'%s' has no trailing slash", f->urls[i]);
		assert_null(strstr(f->urls[i] + 8, "//"));
	}
}

static void check_image_run(const struct api_image *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char name[32];

		if (v[i].id != FAKE_ID0 + (int64_t)i)
			fail_msg("item %zu has id %" PRId64, i, v[i].id);
		snprintf(name, sizeof(name), "img-%05zu.tif", i);
		assert_string_equal(v[i].name, name);
		assert_true(v[i].has_pixels);
		assert_int_equal(v[i].px.size_x, 1024);
		assert_int_equal(v[i].px.type, API_PT_UINT16);
	}
	check_near(v[0].px.phys_x, 0.65, "650 nm");
}

static void test_api_list_clamp_1000(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_image *v = NULL;
	size_t n = 0;

	f->total = 2500;
	/* 2 500 images, pages of 1000: all of them in 3 requests, the first
	 * page alone, then the two others at once, each fetched and parsed
	 * by its own worker */
	assert_int_equal(api_list_images(env->a, 51, 123456789, &v, &n), 0);
	assert_int_equal(n, 2500);
	check_image_run(v, n);
	assert_int_equal(f->nurls, 3);
	assert_int_equal(f->calls, 3);
	assert_int_equal(f->batch[0], 1);
	assert_int_equal(f->batch[1], 1);
	assert_int_equal(api_requests(env->a), 3);
	sort_urls(f);
	/* the deadline reaches the transport unchanged */
	assert_int_equal(f->deadline, 123456789);
	/* the URLs: dataset's images, limit and offset of each page */
	check_url(f, 0, "/api/v0/m/datasets/51/images/?limit=1000&offset=0");
	check_url(f, 1, "/api/v0/m/datasets/51/images/?limit=1000&offset=1000");
	check_url(f, 2, "/api/v0/m/datasets/51/images/?limit=1000&offset=2000");
	check_trailing_slashes(f);
	api_images_free(v, n);
}

/* A dataset expected to hold 2 500 images (its childCount): its 3 pages
 * are asked for at once; a server that clamps to 200 makes the pages
 * after the first be asked for again at its size; a stale count is
 * completed from the real total */
static void test_api_list_expect(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_image *v = NULL;
	size_t n = 0;

	f->total = 2500;
	assert_int_equal(api_list_images_expect(env->a, 51, 2500, 1000, &v, &n),
			 0);
	assert_int_equal(n, 2500);
	check_image_run(v, n);
	assert_int_equal(f->nurls, 3);
	assert_int_equal(f->calls, 3);
	sort_urls(f);
	check_url(f, 0, "/api/v0/m/datasets/51/images/?limit=1000&offset=0");
	check_url(f, 2, "/api/v0/m/datasets/51/images/?limit=1000&offset=2000");
	api_images_free(v, n);

	/* clamped to 200: 3 at once, then 12 pages of 200 from 200 */
	f->clamp = 200;
	fake_forget_urls(f);
	assert_int_equal(api_list_images_expect(env->a, 51, 2500, 1000, &v, &n),
			 0);
	assert_int_equal(n, 2500);
	check_image_run(v, n);
	assert_int_equal(f->nurls, 3 + 12);
	api_images_free(v, n);

	/* a stale count (1 500 of 2 500): 2 at once, then the third */
	f->clamp = 1000;
	fake_forget_urls(f);
	assert_int_equal(api_list_images_expect(env->a, 51, 1500, 1000, &v, &n),
			 0);
	assert_int_equal(n, 2500);
	check_image_run(v, n);
	assert_int_equal(f->nurls, 3);
	api_images_free(v, n);

	/* a page of the first batch fails: the list fails, nothing leaks */
	fake_forget_urls(f);
	f->fail_offset = 2000;
	f->fail_rc = -EIO;
	v = SENTINEL;
	n = SENTINEL_N;
	assert_int_equal(api_list_images_expect(env->a, 51, 2500, 1000, &v, &n),
			 -EIO);
	assert_ptr_equal(v, SENTINEL);
	assert_int_equal(n, SENTINEL_N);
}

static void test_api_list_clamp_200(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_image *v = NULL;
	size_t n = 0;

	f->total = 2500;
	f->clamp = 200;
	/* a server that clamps limit to 200: 1 + 12 requests */
	assert_int_equal(api_list_images(env->a, 51, 1000, &v, &n), 0);
	assert_int_equal(n, 2500);
	check_image_run(v, n);
	assert_int_equal(f->nurls, 13);
	assert_int_equal(f->calls, 13);
	assert_int_equal(api_requests(env->a), 13);
	sort_urls(f);
	/* asked for 1000 first, then for what the server really gives */
	check_url(f, 0, "/api/v0/m/datasets/51/images/?limit=1000&offset=0");
	check_url(f, 1, "/api/v0/m/datasets/51/images/?limit=200&offset=200");
	check_url(f, 12, "/api/v0/m/datasets/51/images/?limit=200&offset=2400");
	check_trailing_slashes(f);
	api_images_free(v, n);
}

static void test_api_list_empty(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_image *v = SENTINEL;
	size_t n = SENTINEL_N;

	f->total = 0;
	/* an empty dataset costs one request and gives 0 images */
	assert_int_equal(api_list_images(env->a, 7, 1000, &v, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(f->nurls, 1);
	assert_int_equal(api_requests(env->a), 1);
	api_images_free(v, n);
}

static void test_api_list_exact_page(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_container *v = NULL;
	size_t n = 0;

	f->kind = FAKE_CONTAINERS;
	f->total = 1000;
	/* exactly one full page: no second request */
	assert_int_equal(api_list_projects(env->a, 1000, &v, &n), 0);
	assert_int_equal(n, 1000);
	assert_int_equal(f->nurls, 1);
	assert_int_equal(v[999].id, FAKE_ID0 + 999);
	assert_string_equal(v[999].name, "c-00999");
	assert_int_equal(v[999].child_count, 999 % 7);
	api_containers_free(v, n);
}

static void test_api_list_urls(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_container *c = NULL;
	struct api_well *w = NULL;
	size_t n = 0;

	f->kind = FAKE_CONTAINERS;
	f->total = 0;
	/* projects and screens with their child counts */
	assert_int_equal(api_list_projects(env->a, 1000, &c, &n), 0);
	api_containers_free(c, n);
	check_url(f, 0,
		  "/api/v0/m/projects/?childCount=true&limit=1000&"
		  "offset=0");
	assert_int_equal(api_list_screens(env->a, 1000, &c, &n), 0);
	api_containers_free(c, n);
	check_url(f, 1,
		  "/api/v0/m/screens/?childCount=true&limit=1000&offset=0");
	/* datasets of a project, plates of a screen */
	assert_int_equal(api_list_datasets(env->a, 101, 1000, &c, &n), 0);
	api_containers_free(c, n);
	check_url(f, 2,
		  "/api/v0/m/projects/101/datasets/?childCount=true&"
		  "limit=1000&offset=0");
	assert_int_equal(api_list_plates(env->a, 102, 1000, &c, &n), 0);
	api_containers_free(c, n);
	check_url(f, 3, "/api/v0/m/screens/102/plates/?limit=1000&offset=0");
	/* wells of a plate */
	f->kind = FAKE_WELLS;
	assert_int_equal(api_list_wells(env->a, 4217, 1000, &w, &n), 0);
	api_wells_free(w, n);
	check_url(f, 4, "/api/v0/m/plates/4217/wells/?limit=1000&offset=0");
	assert_int_equal(api_requests(env->a), 5);
	check_trailing_slashes(f);
}

static void test_api_list_pages_keep_query(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_container *c = NULL;
	size_t n = 0;

	f->kind = FAKE_CONTAINERS;
	f->total = 1500;
	/* the second page keeps ?childCount=true and adds &limit&offset */
	assert_int_equal(api_list_projects(env->a, 1000, &c, &n), 0);
	assert_int_equal(n, 1500);
	check_url(f, 1,
		  "/api/v0/m/projects/?childCount=true&limit=1000&"
		  "offset=1000");
	api_containers_free(c, n);
}

static void test_api_list_wells_paged(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_well *w = NULL;
	size_t n = 0;

	f->kind = FAKE_WELLS;
	f->total = 384 * 3;
	f->clamp = 500;
	/* three plates' worth of wells in pages of 500, fields kept */
	assert_int_equal(api_list_wells(env->a, 9, 1000, &w, &n), 0);
	assert_int_equal(n, 1152);
	assert_int_equal(f->nurls, 3);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(w[i].id, FAKE_ID0 + (int64_t)i);
		assert_int_equal(w[i].row, (int32_t)(i % 16));
		assert_int_equal(w[i].column, (int32_t)(i / 16));
		assert_int_equal(w[i].nfields, 2);
		assert_int_equal(w[i].fields[1].id,
				 2 * (FAKE_ID0 + (int64_t)i) + 1);
		assert_false(w[i].fields[0].has_pixels);
	}
	api_wells_free(w, n);
}

static void test_api_list_page_fails(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_image *v = SENTINEL;
	size_t n = SENTINEL_N;

	f->total = 2500;
	f->fail_offset = 1000;
	f->fail_rc = -EIO;
	/* one page of the batch fails: the whole list fails with its rc,
	 * the other pages' bodies are freed (valgrind), out untouched */
	assert_int_equal(api_list_images(env->a, 51, 1000, &v, &n), -EIO);
	assert_ptr_equal(v, SENTINEL);
	assert_int_equal(n, SENTINEL_N);
	assert_int_equal(f->nurls, 3);
}

static void test_api_list_first_page_fails(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_container *v = SENTINEL;
	size_t n = SENTINEL_N;

	f->kind = FAKE_CONTAINERS;
	f->total = 2500;
	f->fail_offset = 0;
	f->fail_rc = -ENOENT;
	/* no such parent: -ENOENT after one request */
	assert_int_equal(api_list_datasets(env->a, 999, 1000, &v, &n), -ENOENT);
	assert_ptr_equal(v, SENTINEL);
	assert_int_equal(n, SENTINEL_N);
	assert_int_equal(f->nurls, 1);
	/* a timeout is passed through too */
	f->fail_rc = -ETIMEDOUT;
	assert_int_equal(api_list_datasets(env->a, 999, 1000, &v, &n),
			 -ETIMEDOUT);
	assert_ptr_equal(v, SENTINEL);
}

static void test_api_list_html(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_image *v = SENTINEL;
	size_t n = SENTINEL_N;

	f->total = 2500;
	f->html_offset = 0;
	/* a web page where JSON was expected: -EBADMSG, logged with URL */
	log_mark();
	assert_int_equal(api_list_images(env->a, 51, 1000, &v, &n), -EBADMSG);
	log_has("HTML", "/api/v0/m/datasets/51/images/");
	assert_int_equal(f->nurls, 1);
	/* also on a later page, after the whole batch */
	f->html_offset = 2000;
	assert_int_equal(api_list_images(env->a, 51, 1000, &v, &n), -EBADMSG);
	assert_ptr_equal(v, SENTINEL);
	assert_int_equal(n, SENTINEL_N);
	assert_int_equal(f->nurls, 4);
}

static void test_api_list_bad_page(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_image *v = SENTINEL;
	size_t n = SENTINEL_N;

	f->total = 2500;
	f->bad_offset = 1000;
	/* a later page that is not JSON fails the list, leaks nothing */
	assert_int_equal(api_list_images(env->a, 51, 1000, &v, &n), -EBADMSG);
	assert_ptr_equal(v, SENTINEL);
	assert_int_equal(n, SENTINEL_N);
	assert_int_equal(f->nurls, 3);
}

static void test_api_list_too_many(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_image *v = SENTINEL;
	size_t n = SENTINEL_N;

	f->total = 2500;
	f->claim_total = (int64_t)API_MAX_ITEMS + 1;
	/* more than API_MAX_ITEMS: -EFBIG, no page after the first */
	assert_int_equal(api_list_images(env->a, 51, 1000, &v, &n), -EFBIG);
	assert_ptr_equal(v, SENTINEL);
	assert_int_equal(n, SENTINEL_N);
	assert_int_equal(f->nurls, 1);
	assert_int_equal(api_requests(env->a), 1);
}

static void test_api_list_shrinking(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_image *v = NULL;
	size_t n = 0;

	f->total = 1500;
	f->claim_total = 2500;
	/* totalCount says 2500 but the list ends at 1500 (objects deleted
	 * between pages): what exists, no error */
	assert_int_equal(api_list_images(env->a, 51, 1000, &v, &n), 0);
	assert_int_equal(n, 1500);
	assert_int_equal(f->nurls, 3);
	check_image_run(v, n);
	api_images_free(v, n);
}

static void test_api_get_well(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_well w;

	f->single =
		"{\"data\": {\"@id\": 45217, \"Row\": 14, \"Column\": 1, "
		"\"WellSamples\": [{\"Image\": {\"@id\": 122770, \"Name\": "
		"\"Plate8_Actinome1 [Well O02 Field #1]\", \"Pixels\": "
		"{\"SizeX\": 696, \"SizeY\": 520, \"SizeZ\": 1, \"SizeC\": 3, "
		"\"SizeT\": 1, \"PhysicalSizeX\": {\"Value\": 1.25195005, "
		"\"Unit\": \"MICROMETER\"}, \"Type\": {\"value\": "
		"\"uint16\"}}}}]}}";
	/* one well with its field's Pixels, in one request */
	assert_int_equal(api_get_well(env->a, 45217, 1000, &w), 0);
	check_url(f, 0, "/api/v0/m/wells/45217/");
	assert_int_equal(api_requests(env->a), 1);
	assert_int_equal(w.id, 45217);
	assert_int_equal(w.row, 14);
	assert_int_equal(w.column, 1);
	assert_int_equal(w.nfields, 1);
	assert_int_equal(w.fields[0].id, 122770);
	assert_true(w.fields[0].has_pixels);
	assert_int_equal(w.fields[0].px.size_x, 696);
	assert_int_equal(w.fields[0].px.size_c, 3);
	check_near(w.fields[0].px.phys_x, 1.25195005, "PhysicalSizeX");
	api_well_release(&w);
	assert_null(w.fields);
	/* an answer without "data": -EBADMSG */
	f->single = "{}";
	assert_int_equal(api_get_well(env->a, 45217, 1000, &w), -EBADMSG);
}

/* ---- issue 9: listing caps -------------------------------------------- */

static void test_api_list_page_over_limit(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_container *v = SENTINEL;
	size_t n = SENTINEL_N;

	/* a first page of 200 000 items where 1000 were asked: a clear
	 * -EBADMSG naming the URL, not ENOENT, not the memory of all */
	f->kind = FAKE_CONTAINERS;
	f->total = 10;
	f->extra_offset = 0;
	f->extra = 200000 - API_PAGE_LIMIT;
	log_mark();
	assert_int_equal(api_list_projects(env->a, 1000, &v, &n), -EBADMSG);
	log_has("/api/v0/m/projects/", "more items than a page may");
	assert_ptr_equal(v, SENTINEL);
	assert_int_equal(n, SENTINEL_N);
	assert_int_equal(f->nurls, 1);
	/* the pages of a listing ask for a body capped to a page's size */
	assert_int_equal(f->max_body, API_PAGE_MAX_BODY);
}

static void test_api_list_later_page_over_limit(void **state)
{
	struct fake_env *env = *state;
	struct fake *f = &env->f;
	struct api_image *v = SENTINEL;
	size_t n = SENTINEL_N;

	/* the server clamps to 200; the page at 400 holds 300 items */
	f->total = 1000;
	f->clamp = 200;
	f->extra_offset = 400;
	f->extra = 100;
	log_mark();
	assert_int_equal(api_list_images(env->a, 51, 1000, &v, &n), -EBADMSG);
	log_has("offset=400", "300 items where at most 200");
	assert_ptr_equal(v, SENTINEL);
	assert_int_equal(n, SENTINEL_N);
}

struct budget_waiter {
	struct api *a;
	int rc;
	uint64_t took;
};

static void *budget_wait(void *arg)
{
	struct budget_waiter *w = arg;
	uint64_t t0 = http_now_ms();

	w->rc = api_parse_begin(w->a, 10u << 20, t0 + 5000, "w");
	w->took = http_now_ms() - t0;
	if (w->rc == 0)
		api_parse_end(w->a, 10u << 20);
	return NULL;
}

static void test_api_parse_budget(void **state)
{
	struct fake_env *env = *state;
	struct api *a = env->a;
	uint64_t t0;

	/* 10 MiB being parsed: another 10 MiB waits, until its deadline */
	assert_int_equal(
		api_parse_begin(a, 10u << 20, http_now_ms() + 1000, "u1"), 0);
	t0 = http_now_ms();
	log_mark();
	assert_int_equal(api_parse_begin(a, 10u << 20, t0 + 100, "u2"),
			 -ETIMEDOUT);
	assert_true(http_now_ms() - t0 >= 90);
	free(log_since_mark());
	/* 5 MiB still fits */
	assert_int_equal(api_parse_begin(a, 5u << 20, t0 + 100, "u3"), 0);
	api_parse_end(a, 5u << 20);
	api_parse_end(a, 10u << 20);
	/* a body over the whole budget is parsed alone ... */
	assert_int_equal(
		api_parse_begin(a, 100u << 20, http_now_ms() + 100, "u4"), 0);
	/* ... and nothing else meanwhile */
	assert_int_equal(api_parse_begin(a, 1, http_now_ms() + 50, "u5"),
			 -ETIMEDOUT);
	api_parse_end(a, 100u << 20);
	assert_int_equal(api_parse_begin(a, 1, http_now_ms() + 50, "u6"), 0);
	api_parse_end(a, 1);
	/* a waiting parse starts as soon as the room is given back */
	struct budget_waiter w = {.a = a};
	pthread_t th;
	struct timespec ts = {0, 100 * 1000000L};

	assert_int_equal(
		api_parse_begin(a, 10u << 20, http_now_ms() + 1000, "u7"), 0);
	assert_int_equal(pthread_create(&th, NULL, budget_wait, &w), 0);
	nanosleep(&ts, NULL);
	api_parse_end(a, 10u << 20);
	pthread_join(th, NULL);
	assert_int_equal(w.rc, 0);
	assert_true(w.took >= 50 && w.took < 2000);
}

/* ---- issue 9: validate, then store (through fetch.c) ------------------ */

#define NET_BASE "http://idr.test"

/* The network under the fetch layer: every GET gets the answer set
 * here (by URL substring when route is set). */
struct net {
	pthread_mutex_t lock;
	unsigned requests;
	int rc;		   /* < 0: the transfer fails so */
	long status;	   /* with rc < 0: 404, 503... */
	const char *ctype; /* NULL: application/json */
	const char *body;
	const char *route;	/* only URLs holding this get body */
	const char *other_body; /* what the others get */
};

static int net_send(void *ctx, struct http_req *reqs, size_t n,
		    uint64_t deadline)
{
	struct net *t = ctx;
	int rc = 0;

	(void)deadline;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < n; i++) {
		struct http_req *r = &reqs[i];
		const char *b = t->body;

		t->requests++;
		if (t->route && !strstr(r->url, t->route))
			b = t->other_body;
		r->rc = t->rc;
		r->status = t->rc < 0 ? t->status : 200;
		r->body = NULL;
		r->len = 0;
		r->accepted = false;
		snprintf(r->content_type, sizeof(r->content_type), "%s",
			 t->ctype ? t->ctype : "application/json");
		if (t->rc == 0) {
			r->body = strdup(b ? b : "");
			assert_non_null(r->body);
			r->len = strlen(r->body);
		}
		r->content_length = (int64_t)r->len;
		if (r->rc < 0 && rc == 0)
			rc = r->rc;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

struct fenv {
	struct net net;
	char dir[64];
	struct cache *cache;
	struct fetch *fetch;
	struct api *a;
};

static void fenv_open(struct fenv *e, bool offline)
{
	struct cache_config cc = {
		.dir = e->dir, .remote = NET_BASE, .max_bytes = 64u << 20};
	struct fetch_config fc = {.ttl_s = 3600,
				  .offline = offline,
				  .send = net_send,
				  .send_ctx = &e->net};
	struct api_transport tr = {.fetch = fetch_do};

	assert_int_equal(cache_open(&cc, &e->cache), 0);
	fc.cache = e->cache;
	assert_int_equal(fetch_new(&fc, &e->fetch), 0);
	tr.ctx = e->fetch;
	assert_int_equal(api_new(NET_BASE, &tr, &e->a), 0);
}

static void fenv_close(struct fenv *e)
{
	api_free(e->a);
	fetch_free(e->fetch);
	cache_close(e->cache);
	e->a = NULL;
	e->fetch = NULL;
	e->cache = NULL;
}

static int fenv_setup(void **state)
{
	struct fenv *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	snprintf(e->dir, sizeof(e->dir), "/tmp/idrfs-test-fetch-XXXXXX");
	if (!mkdtemp(e->dir)) {
		free(e);
		return -1;
	}
	pthread_mutex_init(&e->net.lock, NULL);
	fenv_open(e, false);
	*state = e;
	return 0;
}

static void rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)) != NULL) {
		char p[512];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(p);
		else
			unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

static int fenv_teardown(void **state)
{
	struct fenv *e = *state;

	fenv_close(e);
	rm_tree(e->dir);
	pthread_mutex_destroy(&e->net.lock);
	free(e);
	return 0;
}

static void net_set(struct net *t, int rc, long status, const char *ctype,
		    const char *body)
{
	pthread_mutex_lock(&t->lock);
	t->rc = rc;
	t->status = status;
	t->ctype = ctype;
	t->body = body;
	pthread_mutex_unlock(&t->lock);
}

#define PROJECTS_URL  NET_BASE "/api/v0/m/projects/?childCount=true"
#define PROJECTS_PAGE PROJECTS_URL "&limit=1000&offset=0"
#define PROJECTS_OK                                                            \
	"{\"data\": [{\"@id\": 101, \"Name\": \"idr0001\"}], \"meta\": "       \
	"{\"offset\": 0, \"limit\": 1000, \"maxLimit\": 1000, "                \
	"\"totalCount\": 1}}"

/* api_list_projects(): its rc, and on success that it is the good one */
static int list_projects(struct fenv *e)
{
	struct api_container *v = NULL;
	size_t n = 0;
	int rc = api_list_projects(e->a, http_now_ms() + 5000, &v, &n);

	if (rc == 0) {
		assert_int_equal(n, 1);
		assert_int_equal(v[0].id, 101);
		api_containers_free(v, n);
	}
	return rc;
}

static bool cached(struct fenv *e, const char *url)
{
	char *body = NULL;
	size_t len = 0;
	int64_t at = 0;
	int rc = cache_meta_get(e->cache, url, &body, &len, &at);

	free(body);
	return rc == 0;
}

static void test_api_fetch_bad_answers_not_kept(void **state)
{
	static const struct {
		const char *ctype, *body, *log;
	} bad[] = {
		{"text/html", "<html><body>502 Bad Gateway</body></html>",
		 "HTML"},
		{NULL, "", "not JSON"},
		{NULL, "{\"data\": [{\"@id\": 101,", "not JSON"},
		{NULL,
		 "{\"data\": [{\"@id\": \"101\"}], \"meta\": {\"offset\": 0, "
		 "\"limit\": 1000, \"totalCount\": 1}}",
		 "'@id' is not an integer"},
		{NULL, "{\"data\": null}", "'data' is not a list"},
		{NULL, "{\"data\": [[{\"@id\": 101}]]}", "not an object"},
		{NULL,
		 "{\"data\": [{\"@id\": 101}], \"meta\": {\"offset\": 0, "
		 "\"limit\": 1000, \"totalCount\": null}}",
		 "'totalCount' is missing"},
	};
	struct fenv *e = *state;

	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		unsigned before = e->net.requests;
		char *log;

		/* one bad answer: that operation fails, logged with the URL
		 * and the field ... */
		net_set(&e->net, 0, 200, bad[i].ctype, bad[i].body);
		log_mark();
		assert_int_equal(list_projects(e), -EBADMSG);
		log = log_since_mark();
		if (!strstr(log, bad[i].log) ||
		    !strstr(log, "/api/v0/m/projects/"))
			fail_msg("case %zu: log '%s'", i, log);
		free(log);
		/* ... nothing is kept ... */
		assert_false(cached(e, PROJECTS_PAGE));
		/* ... so the next operation asks again, and once the server is
		 * healthy, it is right (and kept) */
		net_set(&e->net, 0, 200, NULL, PROJECTS_OK);
		assert_int_equal(list_projects(e), 0);
		assert_int_equal(e->net.requests, before + 2);
		assert_true(cached(e, PROJECTS_PAGE));
		assert_int_equal(list_projects(e), 0);
		assert_int_equal(e->net.requests, before + 2);
		/* next case: nothing cached */
		fenv_close(e);
		rm_tree(e->dir);
		assert_int_equal(mkdir(e->dir, 0700), 0);
		fenv_open(e, false);
	}
}

static void test_api_fetch_bad_answer_remount(void **state)
{
	struct fenv *e = *state;

	/* a proxy's error page, then a remount (the cache persists) */
	net_set(&e->net, 0, 200, "text/html; charset=utf-8",
		"<html>proxy error</html>");
	assert_int_equal(list_projects(e), -EBADMSG);
	fenv_close(e);
	/* offline, the page is not "the copy from before" */
	fenv_open(e, true);
	assert_int_equal(list_projects(e), -ENETDOWN);
	fenv_close(e);
	/* online and healthy: asked, and right */
	fenv_open(e, false);
	net_set(&e->net, 0, 200, NULL, PROJECTS_OK);
	assert_int_equal(list_projects(e), 0);
	assert_int_equal(e->net.requests, 2);
}

static void test_api_fetch_poison_dropped(void **state)
{
	struct fenv *e = *state;
	struct fetch_counters fc;
	int64_t now = (int64_t)time(NULL);

	/* an older version stored an error page as the answer */
	assert_int_equal(cache_meta_put(e->cache, PROJECTS_PAGE,
					"<html>proxy error</html>", 24, now),
			 0);
	net_set(&e->net, 0, 200, NULL, PROJECTS_OK);
	log_mark();
	/* it is not served: the network is asked, and the answer replaces
	 * it */
	assert_int_equal(list_projects(e), 0);
	assert_int_equal(e->net.requests, 1);
	free(log_since_mark());
	assert_int_equal(list_projects(e), 0);
	assert_int_equal(e->net.requests, 1);
	fetch_get_counters(e->fetch, &fc);
	assert_int_equal(fc.refused, 1);
	assert_int_equal(fc.meta_hits, 1);
}

static void test_api_fetch_stale_checked(void **state)
{
	struct fenv *e = *state;
	int64_t old = (int64_t)time(NULL) - 7200;

	/* an old good copy is served when the remote is unreachable */
	assert_int_equal(cache_meta_put(e->cache, PROJECTS_PAGE, PROJECTS_OK,
					strlen(PROJECTS_OK), old),
			 0);
	net_set(&e->net, -ECONNREFUSED, 0, NULL, NULL);
	log_mark();
	assert_int_equal(list_projects(e), 0);
	free(log_since_mark());
	/* an old bad copy is not: the failure is */
	assert_int_equal(
		cache_meta_put(e->cache, PROJECTS_PAGE, "{\"data\"", 7, old),
		0);
	log_mark();
	assert_int_equal(list_projects(e), -ECONNREFUSED);
	free(log_since_mark());
	/* nor when the fresh answer is bad too */
	net_set(&e->net, 0, 200, "text/html", "<html></html>");
	log_mark();
	assert_int_equal(list_projects(e), -EBADMSG);
	free(log_since_mark());
}

static void test_api_fetch_404_not_kept(void **state)
{
	struct fenv *e = *state;
	struct zarr_multiscale ms;
	struct http_req r;

	/* a 404 of a listing (a proxy's, a deploy's) is asked again */
	net_set(&e->net, -ENOENT, 404, NULL, NULL);
	assert_int_equal(list_projects(e), -ENOENT);
	assert_int_equal(list_projects(e), -ENOENT);
	assert_int_equal(e->net.requests, 2);
	/* the zarr.json probe of a v2 group: its 404 is kept for the TTL */
	for (int i = 0; i < 2; i++) {
		memset(&r, 0, sizeof(r));
		r.url = NET_BASE "/zarr/1.zarr/zarr.json";
		r.max_body = 1 << 20;
		r.accept = api_accept_multiscales;
		r.accept_arg = &ms;
		r.keep_404 = true;
		assert_int_equal(
			fetch_do(e->fetch, &r, 1, http_now_ms() + 1000),
			-ENOENT);
		http_req_release(&r);
	}
	assert_int_equal(e->net.requests, 3);
}

#define IMGDATA_URL  NET_BASE "/webgateway/imgData/122770/"
#define IMGDATA_BUSY "{\"ConcurrencyException\": {\"backOff\": 1}}"

static void test_api_fetch_imgdata_busy(void **state)
{
	struct fenv *e = *state;
	struct api_imgdata d = {0};
	uint64_t t0 = http_now_ms();
	size_t len = 0;
	char *ok = read_sample("idr_webclient_imgData_122770.json", &len);

	/* "busy, come back in 1 ms", for ever: at most one request per
	 * 100 ms (not a tight loop), -ETIMEDOUT at the deadline, and the
	 * busy answer is never kept */
	net_set(&e->net, 0, 200, NULL, IMGDATA_BUSY);
	log_mark();
	assert_int_equal(api_get_imgdata(e->a, 122770, t0 + 1000, &d),
			 -ETIMEDOUT);
	free(log_since_mark());
	assert_true(e->net.requests >= 2);
	assert_true(e->net.requests <= 11);
	assert_false(cached(e, IMGDATA_URL));
	/* once the server answers, that answer is kept */
	net_set(&e->net, 0, 200, NULL, ok);
	assert_int_equal(
		api_get_imgdata(e->a, 122770, http_now_ms() + 1000, &d), 0);
	assert_int_equal(d.id, 122770);
	api_imgdata_release(&d);
	assert_true(cached(e, IMGDATA_URL));
	free(ok);
}

static void test_api_busy_wait(void **state)
{
	unsigned seed = 12345;

	(void)state;
	/* within [floor, ceiling], spread by +-25% */
	for (int i = 0; i < 100; i++) {
		uint64_t w = api_busy_wait_ms(1, &seed);

		assert_true(w >= API_BUSY_MIN_MS &&
			    w <= API_BUSY_MIN_MS * 5 / 4);
		assert_true(api_busy_wait_ms(-5, &seed) >= API_BUSY_MIN_MS);
		assert_true(api_busy_wait_ms(0, &seed) >= API_BUSY_MIN_MS);
		w = api_busy_wait_ms(INT64_MAX, &seed);
		assert_true(w <= API_BUSY_MAX_MS * 5 / 4);
		assert_true(w >= API_BUSY_MAX_MS * 3 / 4);
		w = api_busy_wait_ms(1000, &seed);
		assert_true(w >= 750 && w <= 1250);
	}
}

/* Zarr metadata and search answers: what their parsers refuse is not
 * kept, what they take is. */
static void test_api_fetch_other_answers(void **state)
{
	static const struct {
		const char *url;
		http_accept_fn accept;
		const char *bad, *good;
	} kinds[] = {
		{NET_BASE "/z/1.zarr/0/.zarray", api_accept_zarray,
		 "{\"zarr_format\": 2, \"shape\": \"big\"}",
		 "{\"chunks\": [8, 8], \"compressor\": null, \"dtype\": "
		 "\"|u1\", \"fill_value\": 0, \"filters\": null, \"order\": "
		 "\"C\", \"shape\": [16, 16], \"zarr_format\": 2}"},
		{NET_BASE "/z/2.zarr/0/.zarray", api_accept_zarray,
		 "{\"chunks\": [8, 8], \"compressor\": {\"id\": \"nosuch\"}, "
		 "\"dtype\": \"|u1\", \"fill_value\": 0, \"filters\": null, "
		 "\"order\": \"C\", \"shape\": [16, 16], \"zarr_format\": 2}",
		 NULL},
		{NET_BASE SEARCH_KEYS_PATH, api_accept_se_keys,
		 "[{\"data_source\": \"idr\", \"image\": [1, 2]}]",
		 "[{\"data_source\": \"idr\", \"image\": [\"Gene Symbol\"]}]"},
		{NET_BASE "/searchengine/api/v1/resources/image/search/?key=a",
		 api_accept_se_page, "{\"Error\": \"index is being rebuilt\"}",
		 NULL},
		{NET_BASE "/mapr/api/config/", api_accept_mapr_config,
		 "{\"gene\": [1]}", "{\"gene\": {\"default\": [\"Gene\"]}}"},
		{NET_BASE "/webclient/api/annotations/?type=map&image=1",
		 api_accept_map_annotations,
		 "{\"annotations\": [{\"values\": [[\"k\", 1]]}]}",
		 "{\"annotations\": [{\"values\": [[\"k\", \"v\"]]}]}"},
	};
	struct fenv *e = *state;
	union {
		struct zarr_array arr;
		struct api_answer_list list;
		struct api_se_page page;
	} out;

	for (size_t i = 0; i < ARRAY_LEN(kinds); i++) {
		struct http_req r = {.url = kinds[i].url,
				     .max_body = 1 << 20,
				     .accept = kinds[i].accept,
				     .accept_arg = &out};
		int rc;

		memset(&out, 0, sizeof(out));
		net_set(&e->net, 0, 200, NULL, kinds[i].bad);
		log_mark();
		rc = api_fetch(e->a, &r, 1, http_now_ms() + 1000);
		free(log_since_mark());
		http_req_release(&r);
		if (rc == 0 || cached(e, kinds[i].url))
			fail_msg("%s: %d, the bad answer was kept",
				 kinds[i].url, rc);
		if (!kinds[i].good)
			continue;
		net_set(&e->net, 0, 200, NULL, kinds[i].good);
		assert_int_equal(api_fetch(e->a, &r, 1, http_now_ms() + 1000),
				 0);
		assert_true(r.accepted);
		http_req_release(&r);
		assert_true(cached(e, kinds[i].url));
		if (kinds[i].accept == api_accept_se_keys)
			api_strings_free(out.list.v, out.list.n);
		else if (kinds[i].accept == api_accept_mapr_config)
			api_mapr_menus_free(out.list.v, out.list.n);
		else if (kinds[i].accept == api_accept_map_annotations)
			api_annotations_free(out.list.v, out.list.n);
	}
}

/* ---- issue 9: original files ------------------------------------------ */

#define ORIG_ROOT "https://dl.test/files"

struct origs {
	const char *paths; /* the original_file_paths answer */
	unsigned heads;
	char *urls[8];
};

static int origs_fetch(void *ctx, struct http_req *reqs, size_t n,
		       uint64_t deadline)
{
	struct origs *o = ctx;

	(void)deadline;
	for (size_t i = 0; i < n; i++) {
		struct http_req *r = &reqs[i];

		r->rc = 0;
		r->status = 200;
		r->content_type[0] = '\0';
		r->body = NULL;
		r->len = 0;
		if (r->head) {
			if (o->heads < ARRAY_LEN(o->urls))
				o->urls[o->heads] = strdup(r->url);
			o->heads++;
			r->content_length = 10;
			continue;
		}
		r->body = strdup(o->paths);
		r->len = strlen(r->body);
		r->content_length = (int64_t)r->len;
	}
	return 0;
}

static int origs_list(struct origs *o, struct api_file **files, size_t *n)
{
	struct api_transport tr = {.fetch = origs_fetch, .ctx = o};
	struct api *a = NULL;
	int rc;

	assert_int_equal(api_new(NET_BASE, &tr, &a), 0);
	log_mark();
	rc = api_original_files(a, 7, ORIG_ROOT, http_now_ms() + 1000, files,
				n);
	free(log_since_mark());
	api_free(a);
	return rc;
}

static void origs_release(struct origs *o)
{
	for (size_t i = 0; i < ARRAY_LEN(o->urls); i++)
		free(o->urls[i]);
	memset(o, 0, sizeof(*o));
}

static void test_api_original_files_escaped(void **state)
{
	struct origs o = {
		.paths = "{\"client\": [\"uod/idr/filesets/f1/a b.tif\", "
			 "\"uod/idr/filesets/f1/q?x#y.tif\", "
			 "\"uod/idr/filesets/f1/%41.tif\", "
			 "\"uod/idr/filesets/f1/\\u00e9.tif\"]}"};
	struct api_file *f = NULL;
	size_t n = 0;

	(void)state;
	/* every segment percent-encoded: '?', '#', '%', ' ', non-ASCII */
	assert_int_equal(origs_list(&o, &f, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(o.heads, 4);
	assert_string_equal(f[0].url, ORIG_ROOT "/f1/a%20b.tif");
	assert_string_equal(f[1].url, ORIG_ROOT "/f1/q%3Fx%23y.tif");
	assert_string_equal(f[2].url, ORIG_ROOT "/f1/%2541.tif");
	assert_string_equal(f[3].url, ORIG_ROOT "/f1/%C3%A9.tif");
	/* the names shown are the names */
	assert_string_equal(f[1].path, "q?x#y.tif");
	assert_string_equal(f[3].path, "\xc3\xa9.tif");
	api_files_free(f, n);
	origs_release(&o);
}

static void test_api_original_files_refused(void **state)
{
	static const char *const bad[] = {
		"{\"client\": [\"uod/idr/filesets/f1/%2e%2e/%2E%2e/etc/x\"]}",
		"{\"client\": [\"uod/idr/filesets/f1/.%2e/x\", \"f1/y\"]}",
		"{\"client\": [\"uod/idr/filesets/f1/%2e/x\"]}",
	};
	struct api_file *f = SENTINEL;
	size_t n = SENTINEL_N;
	struct origs o;
	char *many, *p;
	size_t cap;

	(void)state;
	/* ".." and "." segments, also percent-encoded: left out, no HEAD
	 * for them; the rest is listed */
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		size_t good = i == 1 ? 1 : 0;

		o = (struct origs){.paths = bad[i]};
		assert_int_equal(origs_list(&o, &f, &n), 0);
		assert_int_equal(n, good);
		assert_int_equal(o.heads, good);
		api_files_free(f, n);
		f = SENTINEL;
		n = SENTINEL_N;
		origs_release(&o);
	}
	/* more files than API_ORIG_MAX_FILES: -EFBIG before any HEAD */
	cap = (API_ORIG_MAX_FILES + 1) * 32 + 32;
	many = malloc(cap);
	assert_non_null(many);
	p = many + snprintf(many, cap, "{\"client\": [");
	for (unsigned i = 0; i <= API_ORIG_MAX_FILES; i++)
		p += snprintf(p, cap - (size_t)(p - many), "%s\"d/f%u\"",
			      i ? "," : "", i);
	snprintf(p, cap - (size_t)(p - many), "]}");
	o = (struct origs){.paths = many};
	assert_int_equal(origs_list(&o, &f, &n), -EFBIG);
	assert_int_equal(o.heads, 0);
	origs_release(&o);
	free(many);
	assert_ptr_equal(f, SENTINEL);
	assert_int_equal(n, SENTINEL_N);
	/* a path longer than API_ORIG_PATH_MAX: left out, no HEAD */
	cap = API_ORIG_PATH_MAX + 64;
	many = malloc(cap);
	assert_non_null(many);
	p = many + snprintf(many, cap, "{\"client\": [\"");
	for (unsigned i = 0; i <= API_ORIG_PATH_MAX / 4; i++)
		p += snprintf(p, cap - (size_t)(p - many), "abc/");
	snprintf(p, cap - (size_t)(p - many), "f\", \"g\"]}");
	o = (struct origs){.paths = many};
	assert_int_equal(origs_list(&o, &f, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].path, "g");
	assert_int_equal(o.heads, 1);
	api_files_free(f, n);
	origs_release(&o);
	free(many);
}

/* ---- issue 9: names and log lines ------------------------------------- */

static void test_api_json_nul_name_kept_safe(void **state)
{
	const char *body = "{\"data\": [{\"@id\": 1, \"Name\": \"a\"}, "
			   "{\"@id\": 2, \"Name\": \"evil\\u0000/../x\"}, "
			   "{\"@id\": 3, \"Name\": \"c\"}]}";
	struct api_container *v = NULL;
	struct api_meta m;
	size_t n = 0;

	(void)state;
	/* one name with a NUL: the listing stands, the name is whole with
	 * the NUL replaced (the tree makes the '/' safe), and a line says */
	log_mark();
	assert_int_equal(
		api_json_containers(body, strlen(body), "u", &v, &n, &m), 0);
	log_has("'Name' holds a NUL byte", NULL);
	assert_int_equal(n, 3);
	assert_string_equal(v[0].name, "a");
	assert_string_equal(v[1].name, "evil_/../x");
	assert_string_equal(v[2].name, "c");
	api_containers_free(v, n);
}

static void test_api_json_error_escaped(void **state)
{
	const char body[] = "{\"data\": [\x1b[31mred]}";
	struct api_container *v = NULL;
	struct api_meta m;
	size_t n = 0;
	char *log;

	(void)state;
	/* jansson's error text quotes the answer: it reaches the log
	 * escaped, never as a terminal escape sequence */
	log_mark();
	assert_int_equal(
		api_json_containers(body, sizeof(body) - 1, "u", &v, &n, &m),
		-EBADMSG);
	log = log_since_mark();
	assert_non_null(strstr(log, "not JSON"));
	assert_null(strchr(log, '\x1b'));
	assert_non_null(strstr(log, "\\x1b"));
	free(log);
}

static void test_api_check_data_url(void **state)
{
	struct api_transport tr = {fetch_never, NULL};
	struct api *a = NULL;
	char *log;

	(void)state;
	assert_int_equal(api_new(NET_BASE, &tr, &a), 0);
	/* only http(s), to a host, without user information */
	log_mark();
	assert_int_equal(api_check_data_url(a, "image 1", "ftp://h/x"),
			 -EINVAL);
	assert_int_equal(api_check_data_url(a, "image 1", "file:///etc"),
			 -EINVAL);
	assert_int_equal(api_check_data_url(a, "image 1", "http:///x"),
			 -EINVAL);
	assert_int_equal(
		api_check_data_url(a, "image 1", "https://u:pw123@h.test/x"),
		-EINVAL);
	log = log_since_mark();
	assert_non_null(strstr(log, "ftp://h/x"));
	assert_null(strstr(log, "pw123"));
	free(log);
	/* the API's host: nothing to say */
	log_mark();
	assert_int_equal(api_check_data_url(a, "image 1", NET_BASE "/z/1"), 0);
	log = log_since_mark();
	assert_string_equal(log, "");
	free(log);
	/* another host: said once */
	log_mark();
	assert_int_equal(
		api_check_data_url(a, "image 2", "https://s3.test/b/2.zarr"),
		0);
	assert_int_equal(
		api_check_data_url(a, "image 3", "https://S3.test/b/3.zarr"),
		0);
	log = log_since_mark();
	assert_non_null(strstr(log, "image 2: data on host \"s3.test\""));
	assert_null(strstr(log, "image 3"));
	free(log);
	api_free(a);
}

/* ---- main ------------------------------------------------------------- */

static int group_setup(void **state)
{
	int fd;

	(void)state;
	fd = mkstemp(g_log_path);
	if (fd < 0)
		return -1;
	close(fd);
	return log_open(LOG_SINK_FILE, g_log_path) < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	log_close();
	unlink(g_log_path);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api_samples_all_listed),
		cmocka_unit_test(test_api_samples_map),
		cmocka_unit_test(test_api_samples_not_json_badmsg),
		cmocka_unit_test(test_api_samples_every_parser),
		cmocka_unit_test(test_api_json_null_body),
		cmocka_unit_test(test_api_hostile_table),
		cmocka_unit_test(test_api_hostile_every_parser),
		cmocka_unit_test(test_api_json_float_ids),
		cmocka_unit_test(test_api_json_huge_name),
		cmocka_unit_test(test_api_json_real_annotations),
		cmocka_unit_test(test_api_json_imgdata_backoff),
		cmocka_unit_test(test_api_json_units),
		cmocka_unit_test(test_api_json_pixel_types),
		cmocka_unit_test(test_api_bug_failure_writes_out_param),
		cmocka_unit_test(test_api_bug_colour_parse),
		cmocka_unit_test(test_api_bug_time_units),
		cmocka_unit_test(test_api_bug_negative_pixel_size),
		cmocka_unit_test(test_api_new_base_url),
		cmocka_unit_test_setup_teardown(test_api_list_clamp_1000,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_api_list_clamp_200,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_api_list_expect,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_api_list_empty, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_api_list_exact_page,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_api_list_urls, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_api_list_pages_keep_query,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_api_list_wells_paged,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_api_list_page_fails,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_api_list_first_page_fails,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_api_list_html, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(test_api_list_bad_page,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_api_list_too_many,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_api_list_shrinking,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(test_api_list_page_over_limit,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(
			test_api_list_later_page_over_limit, fake_setup,
			fake_teardown),
		cmocka_unit_test_setup_teardown(test_api_parse_budget,
						fake_setup, fake_teardown),
		cmocka_unit_test_setup_teardown(
			test_api_fetch_bad_answers_not_kept, fenv_setup,
			fenv_teardown),
		cmocka_unit_test_setup_teardown(
			test_api_fetch_bad_answer_remount, fenv_setup,
			fenv_teardown),
		cmocka_unit_test_setup_teardown(test_api_fetch_poison_dropped,
						fenv_setup, fenv_teardown),
		cmocka_unit_test_setup_teardown(test_api_fetch_stale_checked,
						fenv_setup, fenv_teardown),
		cmocka_unit_test_setup_teardown(test_api_fetch_404_not_kept,
						fenv_setup, fenv_teardown),
		cmocka_unit_test_setup_teardown(test_api_fetch_imgdata_busy,
						fenv_setup, fenv_teardown),
		cmocka_unit_test(test_api_busy_wait),
		cmocka_unit_test_setup_teardown(test_api_fetch_other_answers,
						fenv_setup, fenv_teardown),
		cmocka_unit_test(test_api_original_files_escaped),
		cmocka_unit_test(test_api_original_files_refused),
		cmocka_unit_test(test_api_json_nul_name_kept_safe),
		cmocka_unit_test(test_api_json_error_escaped),
		cmocka_unit_test(test_api_check_data_url),
		cmocka_unit_test_setup_teardown(test_api_get_well, fake_setup,
						fake_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
