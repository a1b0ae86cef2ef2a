/* SPDX-License-Identifier: MIT */
/*
 * api_json: JSON answers of the remote -> struct api_*. The only file that
 * includes jansson. Every field read is checked for presence and type; the
 * first violation is logged with the field's path and the answer's URL and
 * gives -EBADMSG. Strings are copied out before the document is freed.
 *
 * What the remote really sends (idr-api.md): null fields are left out, ids
 * are integers (the search engine may send 7.0), lists are {"data": [...],
 * "meta": {...}} and single objects {"data": {...}}.
 */
#include "config.h"

#include "idrfs/api.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "idrfs/log.h"

#include "api_json_int.h"

#define WHAT_MAX 256

int api_json_bad(const char *what, const char *field, const char *why)
{
	char esc[WHAT_MAX];

	log_error(LOG_C_API, "bad answer from \"%s\": field '%s' %s",
		  log_escape(what ? what : "?", esc, sizeof(esc)), field, why);
	return -EBADMSG;
}

/* What json_load_callback() reads: the body in slices, until a time. */
#define API_JSON_SLICE (256u << 10)
struct slices {
	const char *p;
	size_t left;
	uint64_t until;
	bool late;
};

static size_t next_slice(void *buf, size_t size, void *arg)
{
	struct slices *s = arg;
	size_t n = s->left < size ? s->left : size;

	if (n > API_JSON_SLICE)
		n = API_JSON_SLICE;
	if (n > 0 && s->until && http_now_ms() >= s->until) {
		s->late = true;
		return (size_t)-1; /* jansson: an error, the parse stops */
	}
	memcpy(buf, s->p, n);
	s->p += n;
	s->left -= n;
	return n;
}

int api_json_load_until(const char *body, size_t len, const char *what,
			size_t flags, uint64_t until, json_t **out)
{
	json_error_t err;
	json_t *root;
	char esc[WHAT_MAX];
	struct slices s = {body, len, until, false};

	if (!body)
		return api_json_bad(what, "(body)", "is missing");
	/* NUL in strings is allowed (and replaced when copied out): one
	 * name must not fail a whole listing */
	flags |= JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL;
	root = until ? json_load_callback(next_slice, &s, flags, &err)
		     : json_loadb(body, len, flags, &err);
	if (!root && s.late) {
		log_error(LOG_C_API,
			  "\"%s\": the deadline passed while its answer was "
			  "read (%zu of %zu bytes)",
			  log_escape(what ? what : "?", esc, sizeof(esc)),
			  len - s.left, len);
		return -ETIMEDOUT;
	}
	if (!root) {
		char etext[sizeof(err.text) * 4];

		/* the text quotes the answer ("near '...'"): escaped */
		log_error(LOG_C_API,
			  "bad answer from \"%s\": not JSON at line %d column "
			  "%d: %s",
			  log_escape(what ? what : "?", esc, sizeof(esc)),
			  err.line, err.column,
			  log_escape(err.text, etext, sizeof(etext)));
		return -EBADMSG;
	}
	*out = root;
	return 0;
}

int api_json_load(const char *body, size_t len, const char *what, size_t flags,
		  json_t **out)
{
	return api_json_load_until(body, len, what, flags, 0, out);
}

char *api_json_strdup(const json_t *v, const char *what, const char *field)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	char *out = s ? malloc(n + 1) : NULL;
	bool nul = false;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		out[i] = s[i];
		if (s[i] == '\0') {
			out[i] = '_';
			nul = true;
		}
	}
	out[n] = '\0';
	if (nul) {
		char esc[WHAT_MAX], eout[WHAT_MAX];

		log_warn(LOG_C_API,
			 "answer from \"%s\": field '%s' holds a NUL byte, "
			 "kept as \"%s\"",
			 log_escape(what ? what : "?", esc, sizeof(esc)), field,
			 log_escape(out, eout, sizeof(eout)));
	}
	return out;
}

/* An integer, also when sent as an integral real (7.0). */
bool api_json_as_int(const json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return true;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);

		if (d == floor(d) && d >= -9.2e18 && d <= 9.2e18) {
			*out = (int64_t)d;
			return true;
		}
	}
	return false;
}

static int get_int(const json_t *obj, const char *key, bool required,
		   const char *what, int64_t *out)
{
	json_t *v = json_object_get(obj, key);

	if (!v || json_is_null(v)) {
		if (required)
			return api_json_bad(what, key, "is missing");
		return 1;
	}
	if (!api_json_as_int(v, out))
		return api_json_bad(what, key, "is not an integer");
	return 0;
}

/*
 * Copy a string field. Absent and not required: *out = NULL, returns 1.
 * On an error *out is left as it was.
 */
static int get_str(const json_t *obj, const char *key, bool required,
		   const char *what, char **out)
{
	json_t *v = json_object_get(obj, key);
	char *s;

	if (!v || json_is_null(v)) {
		if (required)
			return api_json_bad(what, key, "is missing");
		*out = NULL;
		return 1;
	}
	if (!json_is_string(v))
		return api_json_bad(what, key, "is not a string");
	s = api_json_strdup(v, what, key);
	if (!s)
		return -ENOMEM;
	*out = s;
	return 0;
}

static const json_t *get_obj(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_object(v) ? v : NULL;
}

/* Length units (ome.model.enums.UnitsLength) to micrometres; 0 unknown. */
static double length_um(const json_t *q)
{
	static const struct {
		const char *unit;
		double um;
	} units[] = {
		{"MICROMETER", 1.0}, {"NANOMETER", 1e-3}, {"MILLIMETER", 1e3},
		{"CENTIMETER", 1e4}, {"METER", 1e6},	  {"ANGSTROM", 1e-4},
		{"PICOMETER", 1e-6},
	};
	json_t *v = json_object_get(q, "Value");
	json_t *u = json_object_get(q, "Unit");
	double val;

	if (!json_is_number(v))
		return 0;
	val = json_number_value(v);
	if (!(val > 0) || !isfinite(val))
		return 0;
	if (!json_is_string(u))
		return val; /* OMERO's default unit is the micrometre */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(json_string_value(u), units[i].unit) == 0)
			return val * units[i].um;
	}
	return 0; /* PIXEL, REFERENCEFRAME, ...: not a physical size */
}

/* Time units (ome.model.enums.UnitsTime) to seconds; 0 unknown. */
static double time_s(const json_t *q)
{
	static const struct {
		const char *unit;
		double s;
	} units[] = {
		{"SECOND", 1.0},       {"MILLISECOND", 1e-3},
		{"MICROSECOND", 1e-6}, {"NANOSECOND", 1e-9},
		{"MINUTE", 60.0},      {"HOUR", 3600.0},
		{"DAY", 86400.0},
	};
	json_t *v = json_object_get(q, "Value");
	json_t *u = json_object_get(q, "Unit");
	double val;

	if (!json_is_number(v))
		return 0;
	val = json_number_value(v);
	if (!(val > 0) || !isfinite(val))
		return 0;
	if (!json_is_string(u))
		return val; /* OMERO's default unit is the second */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(json_string_value(u), units[i].unit) == 0)
			return val * units[i].s;
	}
	return 0;
}

static const struct {
	const char *name;
	enum api_pixel_type type;
} pixel_types[] = {
	{"int8", API_PT_INT8},
	{"uint8", API_PT_UINT8},
	{"int16", API_PT_INT16},
	{"uint16", API_PT_UINT16},
	{"int32", API_PT_INT32},
	{"uint32", API_PT_UINT32},
	{"float", API_PT_FLOAT},
	{"double", API_PT_DOUBLE},
	{"bit", API_PT_BIT},
	{"complex", API_PT_COMPLEX},
	{"double-complex", API_PT_DOUBLE_COMPLEX},
};

static enum api_pixel_type pixel_type_of(const char *s)
{
	for (size_t i = 0; i < sizeof(pixel_types) / sizeof(pixel_types[0]);
	     i++) {
		if (strcmp(s, pixel_types[i].name) == 0)
			return pixel_types[i].type;
	}
	return API_PT_UNKNOWN;
}

const char *api_pixel_type_name(enum api_pixel_type t)
{
	for (size_t i = 0; i < sizeof(pixel_types) / sizeof(pixel_types[0]);
	     i++) {
		if (pixel_types[i].type == t)
			return pixel_types[i].name;
	}
	return "unknown";
}

static int get_size(const json_t *px, const char *key, const char *what,
		    uint32_t *out)
{
	int64_t v;
	int rc = get_int(px, key, true, what, &v);

	if (rc != 0)
		return rc < 0 ? rc : api_json_bad(what, key, "is missing");
	if (v < 1 || v > INT32_MAX)
		return api_json_bad(what, key, "is out of range");
	*out = (uint32_t)v;
	return 0;
}

static int parse_pixels(const json_t *px, const char *what,
			struct api_pixels *out)
{
	struct api_pixels p = {0};
	const json_t *type = get_obj(px, "Type");
	const json_t *q;
	json_t *tv;
	int rc;

	rc = get_size(px, "SizeX", what, &p.size_x);
	if (rc == 0)
		rc = get_size(px, "SizeY", what, &p.size_y);
	if (rc == 0)
		rc = get_size(px, "SizeZ", what, &p.size_z);
	if (rc == 0)
		rc = get_size(px, "SizeC", what, &p.size_c);
	if (rc == 0)
		rc = get_size(px, "SizeT", what, &p.size_t_);
	if (rc < 0)
		return rc;
	tv = type ? json_object_get(type, "value") : NULL;
	if (!json_is_string(tv))
		return api_json_bad(what, "Pixels.Type.value", "is missing");
	p.type = pixel_type_of(json_string_value(tv));
	q = get_obj(px, "PhysicalSizeX");
	p.phys_x = q ? length_um(q) : 0;
	q = get_obj(px, "PhysicalSizeY");
	p.phys_y = q ? length_um(q) : 0;
	q = get_obj(px, "PhysicalSizeZ");
	p.phys_z = q ? length_um(q) : 0;
	q = get_obj(px, "TimeIncrement");
	p.time_increment = q ? time_s(q) : 0;
	*out = p;
	return 0;
}

void api_image_release(struct api_image *img)
{
	if (!img)
		return;
	free(img->name);
	free(img->zarr_lsid);
	img->name = NULL;
	img->zarr_lsid = NULL;
}

static int parse_image(const json_t *o, const char *what, struct api_image *out)
{
	struct api_image img = {0};
	const json_t *px = get_obj(o, "Pixels");
	const json_t *det = get_obj(o, "omero:details");
	const json_t *ext = det ? get_obj(det, "externalInfo") : NULL;
	int rc;

	if (!json_is_object(o))
		return api_json_bad(what, "Image", "is not an object");
	rc = get_int(o, "@id", true, what, &img.id);
	if (rc < 0)
		return rc;
	rc = get_str(o, "Name", false, what, &img.name);
	if (rc < 0)
		goto fail;
	if (get_int(o, "AcquisitionDate", false, what, &img.acquisition_ms) < 0)
		img.acquisition_ms = 0;
	if (px) {
		rc = parse_pixels(px, what, &img.px);
		if (rc < 0)
			goto fail;
		img.has_pixels = true;
	}
	/* its series in a multi-image fileset (a bioformats2raw group's
	 * <series>/); a bad value is the first */
	int64_t series = 0;

	if (get_int(o, "omero:series", false, what, &series) == 0 &&
	    series > 0 && series <= INT32_MAX)
		img.series = (int32_t)series;
	if (ext) {
		rc = get_str(ext, "Lsid", false, what, &img.zarr_lsid);
		if (rc < 0)
			goto fail;
	}
	*out = img;
	return 0;
fail:
	api_image_release(&img);
	return rc;
}

static int parse_container(const json_t *o, const char *what,
			   struct api_container *out)
{
	struct api_container c = {.child_count = -1};
	char *conv = NULL;
	int rc;

	if (!json_is_object(o))
		return api_json_bad(what, "data[]", "is not an object");
	rc = get_int(o, "@id", true, what, &c.id);
	if (rc < 0)
		return rc;
	rc = get_str(o, "Name", false, what, &c.name);
	if (rc < 0)
		return rc;
	rc = get_int(o, "omero:childCount", false, what, &c.child_count);
	if (rc < 0)
		goto fail;
	c.rows_letters = true;
	rc = get_str(o, "RowNamingConvention", false, what, &conv);
	if (rc < 0)
		goto fail;
	if (conv)
		c.rows_letters = strcmp(conv, "number") != 0;
	free(conv);
	conv = NULL;
	rc = get_str(o, "ColumnNamingConvention", false, what, &conv);
	if (rc < 0)
		goto fail;
	if (conv)
		c.columns_letters = strcmp(conv, "letter") == 0;
	free(conv);
	*out = c;
	return 0;
fail:
	free(c.name);
	return rc;
}

void api_well_release(struct api_well *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->nfields; i++)
		api_image_release(&w->fields[i]);
	free(w->fields);
	w->fields = NULL;
	w->nfields = 0;
}

static int parse_well(const json_t *o, const char *what, struct api_well *out)
{
	struct api_well w = {0};
	json_t *samples;
	int64_t v;
	int rc;

	if (!json_is_object(o))
		return api_json_bad(what, "Well", "is not an object");
	rc = get_int(o, "@id", true, what, &w.id);
	if (rc < 0)
		return rc;
	rc = get_int(o, "Row", true, what, &v);
	if (rc < 0)
		return rc;
	if (v < 0 || v > 100000)
		return api_json_bad(what, "Row", "is out of range");
	w.row = (int32_t)v;
	rc = get_int(o, "Column", true, what, &v);
	if (rc < 0)
		return rc;
	if (v < 0 || v > 100000)
		return api_json_bad(what, "Column", "is out of range");
	w.column = (int32_t)v;
	samples = json_object_get(o, "WellSamples");
	if (samples && !json_is_array(samples))
		return api_json_bad(what, "WellSamples", "is not a list");
	if (samples && json_array_size(samples) > 0) {
		size_t ns = json_array_size(samples);

		w.fields = calloc(ns, sizeof(*w.fields));
		if (!w.fields)
			return -ENOMEM;
		for (size_t i = 0; i < ns; i++) {
			const json_t *img =
				get_obj(json_array_get(samples, i), "Image");

			if (!img) {
				rc = api_json_bad(what, "WellSamples[].Image",
						  "is missing");
				goto fail;
			}
			rc = parse_image(img, what, &w.fields[w.nfields]);
			if (rc < 0)
				goto fail;
			w.nfields++;
		}
	}
	*out = w;
	return 0;
fail:
	api_well_release(&w);
	return rc;
}

static int parse_meta(const json_t *root, size_t n, const char *what,
		      struct api_meta *meta)
{
	const json_t *m = get_obj(root, "meta");
	json_t *raw = json_object_get(root, "meta");
	int rc;

	if (raw && !json_is_null(raw) && !m)
		return api_json_bad(what, "meta", "is not an object");
	meta->offset = 0;
	meta->limit = (int64_t)n;
	meta->max_limit = (int64_t)n;
	meta->total_count = (int64_t)n;
	if (!m)
		return 0;
	rc = get_int(m, "totalCount", true, what, &meta->total_count);
	if (rc == 0)
		rc = get_int(m, "limit", true, what, &meta->limit);
	if (rc == 0)
		rc = get_int(m, "offset", true, what, &meta->offset);
	if (rc < 0)
		return rc;
	if (get_int(m, "maxLimit", false, what, &meta->max_limit) < 0)
		return -EBADMSG;
	if (meta->total_count < 0 || meta->limit < 0 || meta->offset < 0)
		return api_json_bad(what, "meta", "has a negative count");
	return 0;
}

typedef int (*parse_item_fn)(const json_t *o, const char *what, void *out);
typedef void (*release_item_fn)(void *item);

/* Shared body of the list parsers: envelope, meta, then one item each. */
static int parse_list(const char *body, size_t len, const char *what,
		      size_t item_size, parse_item_fn parse,
		      release_item_fn release, void **items, size_t *n,
		      struct api_meta *meta)
{
	json_t *root = NULL;
	json_t *data;
	char *v = NULL;
	size_t count = 0;
	struct api_meta m;
	int rc;

	rc = api_json_load(body, len, what, 0, &root);
	if (rc < 0)
		return rc;
	data = json_object_get(root, "data");
	if (!json_is_array(data)) {
		rc = api_json_bad(what, "data", "is not a list");
		goto out;
	}
	/* one page: never more than was asked for, whatever meta says */
	if (json_array_size(data) > API_PAGE_LIMIT) {
		rc = api_json_bad(what, "data",
				  "holds more items than a page may");
		goto out;
	}
	if (json_array_size(data) > 0) {
		v = calloc(json_array_size(data), item_size);
		if (!v) {
			rc = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < json_array_size(data); i++) {
		rc = parse(json_array_get(data, i), what,
			   v + count * item_size);
		if (rc < 0)
			goto out;
		count++;
	}
	rc = parse_meta(root, count, what, &m);
	if (rc < 0)
		goto out;
	*items = v;
	*n = count;
	*meta = m;
	v = NULL;
out:
	if (v) {
		for (size_t i = 0; i < count; i++)
			release(v + i * item_size);
		free(v);
	}
	json_decref(root);
	return rc;
}

static int parse_container_cb(const json_t *o, const char *what, void *out)
{
	return parse_container(o, what, out);
}

static void release_container_cb(void *item)
{
	struct api_container *c = item;

	free(c->name);
}

static int parse_image_cb(const json_t *o, const char *what, void *out)
{
	return parse_image(o, what, out);
}

static void release_image_cb(void *item)
{
	api_image_release(item);
}

static int parse_well_cb(const json_t *o, const char *what, void *out)
{
	return parse_well(o, what, out);
}

static void release_well_cb(void *item)
{
	api_well_release(item);
}

int api_json_containers(const char *body, size_t len, const char *what,
			struct api_container **items, size_t *n,
			struct api_meta *meta)
{
	return parse_list(body, len, what, sizeof(**items), parse_container_cb,
			  release_container_cb, (void **)items, n, meta);
}

int api_json_images(const char *body, size_t len, const char *what,
		    struct api_image **items, size_t *n, struct api_meta *meta)
{
	return parse_list(body, len, what, sizeof(**items), parse_image_cb,
			  release_image_cb, (void **)items, n, meta);
}

int api_json_wells(const char *body, size_t len, const char *what,
		   struct api_well **items, size_t *n, struct api_meta *meta)
{
	return parse_list(body, len, what, sizeof(**items), parse_well_cb,
			  release_well_cb, (void **)items, n, meta);
}

/* Shared body of the single-object parsers. */
static int parse_single(const char *body, size_t len, const char *what,
			parse_item_fn parse, void *out)
{
	json_t *root = NULL;
	json_t *data;
	int rc;

	rc = api_json_load(body, len, what, 0, &root);
	if (rc < 0)
		return rc;
	data = json_object_get(root, "data");
	if (!json_is_object(data))
		rc = api_json_bad(what, "data", "is not an object");
	else
		rc = parse(data, what, out);
	json_decref(root);
	return rc;
}

int api_json_image(const char *body, size_t len, const char *what,
		   struct api_image *out)
{
	return parse_single(body, len, what, parse_image_cb, out);
}

int api_json_container(const char *body, size_t len, const char *what,
		       struct api_container *out)
{
	return parse_single(body, len, what, parse_container_cb, out);
}

int api_json_well(const char *body, size_t len, const char *what,
		  struct api_well *out)
{
	return parse_single(body, len, what, parse_well_cb, out);
}

int api_json_envelope(const char *body, size_t len, const char *what,
		      bool *is_list, size_t *count)
{
	json_t *root = NULL;
	json_t *data;
	int rc;

	rc = api_json_load(body, len, what, 0, &root);
	if (rc < 0)
		return rc;
	data = json_object_get(root, "data");
	if (json_is_array(data)) {
		struct api_meta m;

		rc = parse_meta(root, json_array_size(data), what, &m);
		if (rc == 0) {
			*is_list = true;
			*count = json_array_size(data);
		}
	} else if (json_is_object(data) || json_is_string(data)) {
		*is_list = false;
		*count = 1;
	} else {
		rc = api_json_bad(what, "data", "is missing");
	}
	json_decref(root);
	return rc;
}

int api_json_error_message(const char *body, size_t len, char **msg)
{
	json_t *root = NULL;
	int rc;

	rc = api_json_load(body, len, "error answer", 0, &root);
	if (rc < 0)
		return rc;
	rc = get_str(root, "message", true, "error answer", msg);
	json_decref(root);
	return rc < 0 ? rc : 0;
}

int api_json_lookup(const char *body, size_t len, const char *path, char *out,
		    size_t outsz)
{
	json_error_t err;
	json_t *root = json_loadb(body, len, 0, &err);
	json_t *v = root;
	char key[128], num[64] = "";
	const char *text = num;
	int rc = 0;

	if (!root)
		return -EBADMSG;
	while (v && *path) {
		size_t k = strcspn(path, ".");

		if (k >= sizeof(key)) {
			v = NULL;
			break;
		}
		memcpy(key, path, k);
		key[k] = '\0';
		v = json_object_get(v, key);
		path += k + (path[k] == '.');
	}
	if (json_is_string(v))
		text = json_string_value(v);
	else if (json_is_integer(v))
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
	else if (json_is_real(v))
		snprintf(num, sizeof(num), "%.17g", json_real_value(v));
	else if (json_is_boolean(v) || json_is_null(v))
		text = json_is_null(v)	 ? "null"
		       : json_is_true(v) ? "true"
					 : "false";
	else
		rc = -ENOENT;
	if (rc == 0 && strlen(text) >= outsz)
		rc = -ENAMETOOLONG;
	if (rc == 0)
		memcpy(out, text, strlen(text) + 1);
	json_decref(root);
	return rc;
}

int api_json_versions(const char *body, size_t len, char **base)
{
	json_t *root = NULL;
	json_t *data;
	int rc;

	rc = api_json_load(body, len, "/api/", 0, &root);
	if (rc < 0)
		return rc;
	data = json_object_get(root, "data");
	if (!json_is_array(data) || json_array_size(data) == 0)
		rc = api_json_bad("/api/", "data", "is not a non-empty list");
	else
		rc = get_str(json_array_get(data, 0), "url:base", true, "/api/",
			     base);
	json_decref(root);
	return rc < 0 ? rc : 0;
}

int api_json_base_urls(const char *body, size_t len, char **projects_url)
{
	json_t *root = NULL;
	int rc;

	rc = api_json_load(body, len, "/api/v0/", 0, &root);
	if (rc < 0)
		return rc;
	rc = get_str(root, "url:projects", true, "/api/v0/", projects_url);
	json_decref(root);
	return rc < 0 ? rc : 0;
}

void api_imgdata_release(struct api_imgdata *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nchannels; i++)
		free(d->channels[i].label);
	free(d->channels);
	free(d->name);
	d->channels = NULL;
	d->nchannels = 0;
	d->name = NULL;
}

static double num_or(const json_t *o, const char *key, double dflt)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : dflt;
}

static double positive_or_0(double v)
{
	return v > 0 && isfinite(v) ? v : 0;
}

static int parse_channel(const json_t *ch, const char *what,
			 struct api_channel *out)
{
	const json_t *win = get_obj(ch, "window");
	char *color = NULL;
	char *end = NULL;
	int rc;

	if (!json_is_object(ch))
		return api_json_bad(what, "channels[]", "is not an object");
	if (!win)
		return api_json_bad(what, "channels[].window", "is missing");
	rc = get_str(ch, "color", true, what, &color);
	if (rc < 0)
		return rc;
	bool hex = strlen(color) == 6;

	for (size_t i = 0; hex && i < 6; i++)
		hex = isxdigit((unsigned char)color[i]) != 0;
	unsigned long rgb = hex ? strtoul(color, &end, 16) : 0;

	free(color);
	if (!hex)
		return api_json_bad(what, "channels[].color", "is not RRGGBB");
	out->color_rgb = (uint32_t)rgb;
	rc = get_str(ch, "label", false, what, &out->label);
	if (rc < 0)
		return rc;
	out->window_start = num_or(win, "start", 0);
	out->window_end = num_or(win, "end", 0);
	out->window_min = num_or(win, "min", 0);
	out->window_max = num_or(win, "max", 0);
	out->active = json_is_true(json_object_get(ch, "active"));
	return 0;
}

int api_json_imgdata(const char *body, size_t len, const char *what,
		     struct api_imgdata *out)
{
	struct api_imgdata d = {0};
	json_t *root = NULL;
	const json_t *meta, *size, *ps, *ce, *ts;
	json_t *chans;
	char *ptype = NULL;
	int64_t v;
	int rc;

	rc = api_json_load(body, len, what, 0, &root);
	if (rc < 0)
		return rc;
	ce = get_obj(root, "ConcurrencyException");
	if (ce) {
		rc = get_int(ce, "backOff", true, what, &v);
		if (rc == 0)
			d.backoff_ms = v > 0 ? v : 1;
		goto done;
	}
	rc = get_int(root, "id", true, what, &d.id);
	if (rc < 0)
		goto done;
	meta = get_obj(root, "meta");
	size = get_obj(root, "size");
	if (!meta || !size) {
		rc = api_json_bad(what, meta ? "size" : "meta", "is missing");
		goto done;
	}
	rc = get_str(meta, "imageName", false, what, &d.name);
	if (rc < 0)
		goto done;
	rc = get_str(meta, "pixelsType", true, what, &ptype);
	if (rc < 0)
		goto done;
	d.type = pixel_type_of(ptype);
	free(ptype);
	if ((rc = get_size(size, "width", what, &d.size_x)) < 0 ||
	    (rc = get_size(size, "height", what, &d.size_y)) < 0 ||
	    (rc = get_size(size, "z", what, &d.size_z)) < 0 ||
	    (rc = get_size(size, "t", what, &d.size_t_)) < 0 ||
	    (rc = get_size(size, "c", what, &d.size_c)) < 0)
		goto done;
	ps = get_obj(root, "pixel_size");
	if (ps) {
		d.pixel_size_x = positive_or_0(num_or(ps, "x", 0));
		d.pixel_size_y = positive_or_0(num_or(ps, "y", 0));
		d.pixel_size_z = positive_or_0(num_or(ps, "z", 0));
	}
	chans = json_object_get(root, "channels");
	if (!json_is_array(chans) || json_array_size(chans) != d.size_c) {
		rc = api_json_bad(what, "channels", "does not match size.c");
		goto done;
	}
	d.channels = calloc(d.size_c, sizeof(*d.channels));
	if (!d.channels) {
		rc = -ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < d.size_c; i++) {
		rc = parse_channel(json_array_get(chans, i), what,
				   &d.channels[i]);
		if (rc < 0)
			goto done;
		d.nchannels++;
	}
	d.tiled = json_is_true(json_object_get(root, "tiles"));
	d.levels = 1;
	if (d.tiled) {
		if (get_int(root, "levels", false, what, &v) == 0 && v >= 1 &&
		    v <= 64)
			d.levels = (uint32_t)v;
		ts = get_obj(root, "tile_size");
		if (ts && get_int(ts, "width", false, what, &v) == 0 && v > 0 &&
		    v <= 65536)
			d.tile_w = (uint32_t)v;
		if (ts && get_int(ts, "height", false, what, &v) == 0 &&
		    v > 0 && v <= 65536)
			d.tile_h = (uint32_t)v;
	}
done:
	json_decref(root);
	if (rc < 0) {
		api_imgdata_release(&d);
		return rc;
	}
	*out = d;
	return 0;
}

void api_kvs_free(struct api_kv *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kvs[i].ns);
		free(kvs[i].key);
		free(kvs[i].value);
	}
	free(kvs);
}

struct kv_vec {
	struct api_kv *v;
	size_t n, cap;
};

static int kv_push(struct kv_vec *kv, const char *ns, const json_t *pair,
		   const char *what)
{
	json_t *k = json_array_get(pair, 0);
	json_t *val = json_array_get(pair, 1);
	struct api_kv e = {0};

	if (!json_is_array(pair) || json_array_size(pair) != 2 ||
	    !json_is_string(k) || !json_is_string(val))
		return api_json_bad(what, "values[]",
				    "is not a [key, value] pair");
	if (kv->n == kv->cap) {
		size_t nc = kv->cap ? kv->cap * 2 : 16;
		struct api_kv *nv = realloc(kv->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		kv->v = nv;
		kv->cap = nc;
	}
	e.ns = ns ? strdup(ns) : NULL;
	e.key = api_json_strdup(k, what, "values[][0]");
	e.value = api_json_strdup(val, what, "values[][1]");
	if ((ns && !e.ns) || !e.key || !e.value) {
		free(e.ns);
		free(e.key);
		free(e.value);
		return -ENOMEM;
	}
	kv->v[kv->n++] = e;
	return 0;
}

static int kv_values(struct kv_vec *kv, const char *ns, const json_t *values,
		     const char *what)
{
	if (!json_is_array(values))
		return api_json_bad(what, "values", "is not a list");
	for (size_t i = 0; i < json_array_size(values); i++) {
		json_t *e = json_array_get(values, i);
		int rc;

		/* the partial sample nests one list per annotation */
		if (json_is_array(e) && json_array_size(e) > 0 &&
		    json_is_array(json_array_get(e, 0)))
			rc = kv_values(kv, ns, e, what);
		else
			rc = kv_push(kv, ns, e, what);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int api_json_annotations(const char *body, size_t len, const char *what,
			 struct api_kv **kvs, size_t *n)
{
	struct kv_vec kv = {0};
	json_t *root = NULL;
	json_t *anns;
	int rc;

	rc = api_json_load(body, len, what, 0, &root);
	if (rc < 0)
		return rc;
	anns = json_is_array(root) ? root
				   : json_object_get(root, "annotations");
	if (!json_is_array(anns)) {
		rc = api_json_bad(what, "annotations", "is not a list");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(anns) && rc == 0; i++) {
		json_t *a = json_array_get(anns, i);
		json_t *ns = json_object_get(a, "ns");
		json_t *cls = json_object_get(a, "class");

		if (!json_is_object(a)) {
			rc = api_json_bad(what, "annotations[]",
					  "is not an object");
			break;
		}
		if (json_is_string(cls) &&
		    strcmp(json_string_value(cls), "MapAnnotationI") != 0)
			continue;
		rc = kv_values(
			&kv, json_is_string(ns) ? json_string_value(ns) : NULL,
			json_object_get(a, "values"), what);
	}
out:
	json_decref(root);
	if (rc < 0) {
		api_kvs_free(kv.v, kv.n);
		return rc;
	}
	*kvs = kv.v;
	*n = kv.n;
	return 0;
}

void api_table_release(struct api_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->ncolumns; i++) {
		free(t->columns[i]);
		if (t->row0)
			free(t->row0[i]);
	}
	free(t->columns);
	free(t->row0);
	memset(t, 0, sizeof(*t));
}

int api_json_table(const char *body, size_t len, const char *what,
		   struct api_table *out)
{
	struct api_table t = {0};
	json_t *root = NULL;
	const json_t *data;
	json_t *cols, *rows, *r0;
	int rc;

	rc = api_json_load(body, len, what, 0, &root);
	if (rc < 0)
		return rc;
	data = get_obj(root, "data");
	cols = data ? json_object_get(data, "columns") : NULL;
	rows = data ? json_object_get(data, "rows") : NULL;
	if (!json_is_array(cols) || !json_is_array(rows)) {
		rc = api_json_bad(what, "data.columns/rows", "is not a list");
		goto out;
	}
	t.ncolumns = json_array_size(cols);
	t.nrows = json_array_size(rows);
	t.columns = calloc(t.ncolumns ? t.ncolumns : 1, sizeof(char *));
	t.row0 = calloc(t.ncolumns ? t.ncolumns : 1, sizeof(char *));
	if (!t.columns || !t.row0) {
		rc = -ENOMEM;
		goto out;
	}
	r0 = t.nrows ? json_array_get(rows, 0) : NULL;
	if (r0 && (!json_is_array(r0) || json_array_size(r0) != t.ncolumns)) {
		rc = api_json_bad(what, "data.rows[0]",
				  "does not match the columns");
		goto out;
	}
	for (size_t i = 0; i < t.ncolumns; i++) {
		json_t *c = json_array_get(cols, i);
		json_t *cell = r0 ? json_array_get(r0, i) : NULL;

		if (!json_is_string(c)) {
			rc = api_json_bad(what, "data.columns[]",
					  "is not a string");
			goto out;
		}
		t.columns[i] = api_json_strdup(c, what, "data.columns[]");
		if (json_is_string(cell))
			t.row0[i] =
				api_json_strdup(cell, what, "data.rows[0][]");
		else if (cell)
			t.row0[i] = json_dumps(cell, JSON_ENCODE_ANY);
		if (!t.columns[i] || (cell && !t.row0[i])) {
			rc = -ENOMEM;
			goto out;
		}
	}
out:
	json_decref(root);
	if (rc < 0) {
		api_table_release(&t);
		return rc;
	}
	*out = t;
	return 0;
}

int api_json_list(const char *body, size_t len, const char *what, size_t flags,
		  const char *key, size_t size, api_json_item_fn item,
		  void (*free_fn)(void *v, size_t n), void **out, size_t *n)
{
	char *v = NULL;
	json_t *root = NULL;
	const json_t *items;
	size_t count = 0;
	int rc;

	rc = api_json_load(body, len, what, flags, &root);
	if (rc < 0)
		return rc;
	items = json_object_get(root, key);
	if (!json_is_array(items)) {
		rc = api_json_bad(what, key, "is not a list");
		goto out;
	}
	v = calloc(json_array_size(items) + 1, size);
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(items); i++) {
		rc = item(json_array_get(items, i), what, v + count * size);
		if (rc < 0)
			goto out;
		if (rc == 0)
			count++;
	}
	rc = 0;
	*out = v;
	*n = count;
	v = NULL;
	count = 0;
out:
	if (v)
		free_fn(v, count);
	json_decref(root);
	return rc;
}

static int count_item(const json_t *c, const char *what, void *slot)
{
	int64_t v;

	if (!api_json_as_int(c, &v) || v < 0)
		return api_json_bad(what, "data[]", "is not a count");
	*(uint64_t *)slot = (uint64_t)v;
	return 0;
}

static void free_counts(void *v, size_t n)
{
	(void)n;
	free(v);
}

int api_json_histogram(const char *body, size_t len, const char *what,
		       uint64_t **counts, size_t *n)
{
	return api_json_list(body, len, what, 0, "data", sizeof(**counts),
			     count_item, free_counts, (void **)counts, n);
}

int api_json_client_paths(const char *body, size_t len, const char *what,
			  char ***paths, size_t *n)
{
	json_t *root = NULL;
	json_t *client;
	char **v = NULL;
	size_t count = 0;
	int rc;

	rc = api_json_load(body, len, what, 0, &root);
	if (rc < 0)
		return rc;
	if (!json_is_object(root)) {
		rc = api_json_bad(what, "(answer)", "is not an object");
		goto out;
	}
	client = json_object_get(root, "client");
	if (!client) /* {}: the image has no fileset */
		goto done;
	if (!json_is_array(client)) {
		rc = api_json_bad(what, "client", "is not a list");
		goto out;
	}
	v = calloc(json_array_size(client) + 1, sizeof(*v));
	if (!v) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(client); i++) {
		json_t *e = json_array_get(client, i);

		if (!json_is_string(e)) {
			rc = api_json_bad(what, "client[]", "is not a string");
			goto out;
		}
		v[count] = api_json_strdup(e, what, "client[]");
		if (!v[count]) {
			rc = -ENOMEM;
			goto out;
		}
		count++;
	}
done:
	*paths = v;
	*n = count;
	v = NULL;
	count = 0;
out:
	for (size_t i = 0; v && i < count; i++)
		free(v[i]);
	free(v);
	json_decref(root);
	return rc;
}
