/* SPDX-License-Identifier: MIT */
/*
 * api_json_zview: the JSON of the OME-Zarr view idrfs serves (zarr.h,
 * struct zarr_view): .zattrs (OME-NGFF 0.4 multiscales and omero) and
 * each level's .zarray (Zarr v2). Part of the api module, so it may use
 * jansson. Keys are sorted and numbers printed the same way every time:
 * a file's bytes depend only on what it describes (the kernel keeps
 * pages of files across opens).
 *
 * Sources: Zarr v2 spec ("Metadata", "Data type encoding", "Fill value
 * encoding"), OME-NGFF 0.4 ("multiscales", "omero"), and what zarr-python
 * 2.13 requires of a .zarray (FORMATS.md 3).
 */
#include "config.h"

#include "idrfs/api.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "idrfs/zarr.h"

static const char *const axis_name[5] = {"t", "c", "z", "y", "x"};

/* Dump @p doc (taken) as text ending in a newline. */
static int dump(json_t *doc, char **out, size_t *len)
{
	char *s = doc ? json_dumps(doc, JSON_SORT_KEYS | JSON_INDENT(1) |
						JSON_ENSURE_ASCII |
						JSON_REAL_PRECISION(17))
		      : NULL;
	size_t n;

	json_decref(doc);
	if (!s)
		return -ENOMEM;
	n = strlen(s);
	*out = realloc(s, n + 2);
	if (!*out) {
		free(s);
		return -ENOMEM;
	}
	(*out)[n] = '\n';
	(*out)[n + 1] = '\0';
	*len = n + 1;
	return 0;
}

/* A u64 array of the five axes. */
static json_t *u64s(const uint64_t v[5])
{
	json_t *a = json_array();

	for (int d = 0; a && d < 5; d++)
		json_array_append_new(a, json_integer((json_int_t)v[d]));
	return a;
}

/* The fill value as Zarr v2 encodes it: a number, or "NaN"/"Infinity". */
static json_t *fill_json(const struct zarr_view *v)
{
	uint64_t u = 0;

	for (unsigned i = 0; i < v->dtype.size; i++)
		u |= (uint64_t)v->fill[i] << (8 * i);
	if (v->dtype.kind == ZARR_FLOAT) {
		double d;

		if (v->dtype.size == 4) {
			uint32_t w = (uint32_t)u;
			float f;

			memcpy(&f, &w, 4);
			d = f;
		} else {
			memcpy(&d, &u, 8);
		}
		if (isnan(d))
			return json_string("NaN");
		if (isinf(d))
			return json_string(d > 0 ? "Infinity" : "-Infinity");
		return json_real(d);
	}
	if (v->dtype.kind == ZARR_INT) {
		if (v->dtype.size < 8 && (u >> (8 * v->dtype.size - 1)) & 1)
			u |= ~0ull << (8 * v->dtype.size);
		return json_integer((json_int_t)(int64_t)u);
	}
	/* uint64 past INT64_MAX has no jansson integer: keep its bits */
	return u > INT64_MAX ? json_real((double)u)
			     : json_integer((json_int_t)u);
}

int api_zview_zarray(const struct zarr_view *v, unsigned lvl, char **out,
		     size_t *len)
{
	char dtype[8];
	json_t *doc;

	if (lvl >= v->nlevels)
		return -EINVAL;
	snprintf(dtype, sizeof(dtype), "%c%c%u", v->dtype.size == 1 ? '|' : '<',
		 v->dtype.kind == ZARR_FLOAT ? 'f'
		 : v->dtype.kind == ZARR_INT ? 'i'
					     : 'u',
		 v->dtype.size);
	doc = json_pack("{s:i, s:o, s:o, s:s, s:o, s:n, s:s, s:n, s:s}",
			"zarr_format", 2, "shape", u64s(v->lv[lvl].shape),
			"chunks", u64s(v->lv[lvl].chunks), "dtype", dtype,
			"fill_value", fill_json(v), "compressor", "order", "C",
			"filters", "dimension_separator", "/");
	return dump(doc, out, len);
}

static json_t *axes_json(const struct zarr_view *v)
{
	json_t *a = json_array();

	for (int d = 0; a && d < 5; d++) {
		json_t *ax =
			json_pack("{s:s, s:s}", "name", axis_name[d], "type",
				  d == 0   ? "time"
				  : d == 1 ? "channel"
					   : "space");

		if (ax && d >= 2 && v->space_um)
			json_object_set_new(ax, "unit",
					    json_string("micrometer"));
		json_array_append_new(a, ax);
	}
	return a;
}

static json_t *datasets_json(const struct zarr_view *v)
{
	json_t *a = json_array();

	for (size_t l = 0; a && l < v->nlevels; l++) {
		json_t *scale = json_array();
		char path[24];

		for (int d = 0; scale && d < 5; d++)
			json_array_append_new(
				scale, json_real(v->lv[l].scale[d] > 0
							 ? v->lv[l].scale[d]
							 : 1.0));
		snprintf(path, sizeof(path), "%zu", l);
		json_array_append_new(
			a, json_pack("{s:s, s:[{s:s, s:o}]}", "path", path,
				     "coordinateTransformations", "type",
				     "scale", "scale", scale));
	}
	return a;
}

static json_t *channels_json(const struct zarr_view *v)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < v->nchannels; i++) {
		const struct zarr_view_channel *c = &v->channels[i];
		char color[8];
		json_t *ch;

		snprintf(color, sizeof(color), "%06X",
			 (unsigned)(c->color_rgb & 0xffffff));
		ch = json_pack("{s:b, s:s, s:{s:f, s:f, s:f, s:f}}", "active",
			       1, "color", color, "window", "min", c->min,
			       "max", c->max, "start", c->start, "end", c->end);
		/* a label that is no valid UTF-8 is left out, not sent */
		if (ch && c->label)
			json_object_set_new(ch, "label", json_string(c->label));
		json_array_append_new(a, ch);
	}
	return a;
}

int api_zview_zattrs(const struct zarr_view *v, char **out, size_t *len)
{
	json_t *ms = json_pack("{s:s, s:o, s:o}", "version", "0.4", "axes",
			       axes_json(v), "datasets", datasets_json(v));
	json_t *doc;

	if (ms && v->name &&
	    json_object_set_new(ms, "name", json_string(v->name)) < 0)
		json_object_del(ms, "name");
	doc = json_pack("{s:[o], s:{s:o, s:{s:s}, s:s}}", "multiscales", ms,
			"omero", "channels", channels_json(v), "rdefs", "model",
			v->nchannels > 1 ? "color" : "greyscale", "version",
			"0.4");
	return dump(doc, out, len);
}
