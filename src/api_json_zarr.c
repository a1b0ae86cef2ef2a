/* SPDX-License-Identifier: MIT */
/*
 * api_json_zarr: Zarr metadata documents -> struct zarr_array and struct
 * zarr_multiscale. Part of the api module, so it may use jansson; it
 * decodes nothing (zarr.c does) and fetches nothing (api.c does).
 *
 * Sources: Zarr v2 spec ("Metadata", "Data type encoding", "Fill value
 * encoding"), Zarr v3 core spec ("Array metadata", "Extension definition",
 * data types and permitted fill values), the bytes, zstd, gzip, blosc,
 * crc32c and sharding_indexed codec specs, and OME-NGFF 0.1 to 0.5
 * "multiscales". Every field read is checked, and every refusal is
 * -EBADMSG with a log line naming the document's URL and the field: a
 * missing or mistyped field ("bad"), a valid one idrfs cannot decode or
 * absurd sizes ("unsupported"). To the caller both are a bad answer: one
 * not to use nor to keep. Nothing is allocated from a size read here: the
 * parsers fill fixed-size structs and zarr_array_check() vets the sizes
 * before anyone allocates a chunk.
 */
#include "config.h"

#include "idrfs/api.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "idrfs/log.h"
#include "idrfs/zarr.h"

#define WHAT_MAX 256

static int complain(const char *kind, const char *what, const char *field,
		    const char *why)
{
	char esc[WHAT_MAX];

	log_error(LOG_C_API, "%s zarr metadata from \"%s\": field '%s' %s",
		  kind, log_escape(what ? what : "?", esc, sizeof(esc)), field,
		  why);
	return -EBADMSG;
}

/* Malformed: a missing or mistyped field. */
static int bad(const char *what, const char *field, const char *why)
{
	return complain("bad", what, field, why);
}

/* Well-formed, but not something idrfs decodes (or absurdly large). */
static int unsupported(const char *what, const char *field, const char *why)
{
	return complain("unsupported", what, field, why);
}

static int load(const char *body, size_t len, const char *what, json_t **out)
{
	json_error_t err;
	json_t *root;
	char esc[WHAT_MAX];

	if (!body)
		return bad(what, "(body)", "is missing");
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (!root) {
		char etext[sizeof(err.text) * 2];

		log_error(LOG_C_API,
			  "bad zarr metadata from \"%s\": not JSON at line %d "
			  "column %d: %s",
			  log_escape(what ? what : "?", esc, sizeof(esc)),
			  err.line, err.column,
			  log_escape(err.text, etext, sizeof(etext)));
		return -EBADMSG;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		return bad(what, "(document)", "is not an object");
	}
	*out = root;
	return 0;
}

static bool str_is(const json_t *v, const char *s)
{
	return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* An optional integer member in [lo, hi]. */
static int opt_int(const json_t *obj, const char *key, json_int_t lo,
		   json_int_t hi, const char *what, const char *field)
{
	const json_t *v = obj ? json_object_get(obj, key) : NULL;

	if (!v)
		return 0;
	if (!json_is_integer(v))
		return bad(what, field, "is not an integer");
	if (json_integer_value(v) < lo || json_integer_value(v) > hi)
		return bad(what, field, "is out of range");
	return 0;
}

static int opt_bool(const json_t *obj, const char *key, const char *what,
		    const char *field)
{
	const json_t *v = obj ? json_object_get(obj, key) : NULL;

	if (v && !json_is_boolean(v))
		return bad(what, field, "is not a boolean");
	return 0;
}

static int get_format(const json_t *root, int want, const char *what)
{
	const json_t *v = json_object_get(root, "zarr_format");

	if (!v)
		return bad(what, "zarr_format", "is missing");
	if (!json_is_integer(v))
		return bad(what, "zarr_format", "is not an integer");
	if (json_integer_value(v) != want)
		return unsupported(what, "zarr_format",
				   "is not the expected version");
	return 0;
}

/*
 * A list of 2 to ZARR_MAX_DIMS non-negative integers (a shape). The length
 * is checked before any element is read.
 */
static int get_shape(const json_t *obj, const char *key, const char *what,
		     unsigned *ndim, uint64_t *vals)
{
	const json_t *v = json_object_get(obj, key);
	size_t n;

	if (!v)
		return bad(what, key, "is missing");
	if (!json_is_array(v))
		return bad(what, key, "is not a list");
	n = json_array_size(v);
	if (n > ZARR_MAX_DIMS)
		return unsupported(what, key, "has more than 5 dimensions");
	if (n < 2)
		return unsupported(what, key, "has fewer than 2 dimensions");
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(v, i);

		if (!json_is_integer(e))
			return bad(what, key,
				   "has an element that is not an integer");
		if (json_integer_value(e) < 0)
			return bad(what, key, "has a negative element");
		vals[i] = (uint64_t)json_integer_value(e);
	}
	*ndim = (unsigned)n;
	return 0;
}

/* A list of exactly ndim positive integers (a chunk shape). */
static int get_chunk_shape(const json_t *v, const char *field, unsigned ndim,
			   const char *what, uint64_t *vals)
{
	if (!v)
		return bad(what, field, "is missing");
	if (!json_is_array(v))
		return bad(what, field, "is not a list");
	if (json_array_size(v) != ndim)
		return bad(what, field,
			   "does not match the shape's dimensions");
	for (size_t i = 0; i < ndim; i++) {
		const json_t *e = json_array_get(v, i);

		if (!json_is_integer(e))
			return bad(what, field,
				   "has an element that is not an integer");
		if (json_integer_value(e) <= 0)
			return bad(what, field,
				   "has an element that is not positive");
		vals[i] = (uint64_t)json_integer_value(e);
	}
	return 0;
}

/* ---- data types and fill values ---------------------------------------- */

/* NumPy typestr of Zarr v2: byte order, kind, size ("<u2", "|b1"). */
static int v2_dtype(const json_t *v, const char *what, struct zarr_dtype *dt)
{
	const char *s;
	char order, kind;
	unsigned size;

	if (!v)
		return bad(what, "dtype", "is missing");
	if (json_is_array(v))
		return unsupported(what, "dtype", "is a structured type");
	if (!json_is_string(v))
		return bad(what, "dtype", "is not a string");
	s = json_string_value(v);
	if (strlen(s) < 3)
		return bad(what, "dtype", "is not a type string");
	order = s[0];
	kind = s[1];
	if (order != '<' && order != '>' && order != '|')
		return bad(what, "dtype", "has no byte order");
	if (strlen(s) != 3 || s[2] < '1' || s[2] > '8')
		return unsupported(what, "dtype", "is not a numeric type");
	size = (unsigned)(s[2] - '0');
	switch (kind) {
	case 'b':
		if (size != 1)
			return unsupported(what, "dtype", "is not |b1");
		dt->kind = ZARR_UINT; /* bool as uint8, 0 or 1 */
		break;
	case 'i':
		dt->kind = ZARR_INT;
		break;
	case 'u':
		dt->kind = ZARR_UINT;
		break;
	case 'f':
		if (size != 4 && size != 8)
			return unsupported(what, "dtype",
					   "is not float32 or float64");
		dt->kind = ZARR_FLOAT;
		break;
	default:
		return unsupported(what, "dtype", "is not a numeric type");
	}
	if (size != 1 && size != 2 && size != 4 && size != 8)
		return unsupported(what, "dtype", "has an odd size");
	if (order == '|' && size > 1)
		return bad(what, "dtype",
			   "has no byte order for a multi-byte type");
	dt->size = size;
	dt->big_endian = order == '>' && size > 1;
	return 0;
}

static const struct {
	const char *name;
	enum zarr_kind kind;
	unsigned size;
} v3_types[] = {
	{"bool", ZARR_UINT, 1},	    {"int8", ZARR_INT, 1},
	{"int16", ZARR_INT, 2},	    {"int32", ZARR_INT, 4},
	{"int64", ZARR_INT, 8},	    {"uint8", ZARR_UINT, 1},
	{"uint16", ZARR_UINT, 2},   {"uint32", ZARR_UINT, 4},
	{"uint64", ZARR_UINT, 8},   {"float32", ZARR_FLOAT, 4},
	{"float64", ZARR_FLOAT, 8},
};

static int v3_dtype(const json_t *v, const char *what, struct zarr_dtype *dt)
{
	if (!v)
		return bad(what, "data_type", "is missing");
	if (json_is_object(v))
		return unsupported(what, "data_type", "is an extension type");
	if (!json_is_string(v))
		return bad(what, "data_type", "is not a string");
	for (size_t i = 0; i < sizeof(v3_types) / sizeof(v3_types[0]); i++) {
		if (strcmp(json_string_value(v), v3_types[i].name) == 0) {
			dt->kind = v3_types[i].kind;
			dt->size = v3_types[i].size;
			dt->big_endian = false; /* the bytes codec says */
			return 0;
		}
	}
	return unsupported(what, "data_type", "is not a supported type");
}

static void put_le(uint8_t *out, uint64_t v, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

/* "0x7fc00000": the raw bits of a float (v3), exactly 2*size hex digits. */
static bool hex_bits(const char *s, unsigned size, uint64_t *bits)
{
	uint64_t v = 0;
	size_t n;

	if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return false;
	s += 2;
	n = strlen(s);
	if (n != 2 * size)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		unsigned d;

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return false;
		v = v << 4 | d;
	}
	*bits = v;
	return true;
}

static int float_fill(const json_t *v, unsigned size, const char *what,
		      uint8_t *fill)
{
	double d;
	uint64_t bits;

	if (json_is_number(v)) {
		d = json_number_value(v);
	} else if (json_is_string(v)) {
		const char *s = json_string_value(v);

		if (strcmp(s, "NaN") == 0) {
			/* the spec's NaN: sign 0, mantissa MSB 1, rest 0 */
			put_le(fill,
			       size == 4 ? UINT64_C(0x7fc00000)
					 : UINT64_C(0x7ff8000000000000),
			       size);
			return 0;
		}
		if (hex_bits(s, size, &bits)) {
			put_le(fill, bits, size);
			return 0;
		}
		if (strcmp(s, "Infinity") == 0)
			d = INFINITY;
		else if (strcmp(s, "-Infinity") == 0)
			d = -INFINITY;
		else
			return bad(what, "fill_value", "is not a number");
	} else {
		return bad(what, "fill_value", "is not a number");
	}
	if (size == 4) {
		float f = (float)d;
		uint32_t b32;

		memcpy(&b32, &f, sizeof(b32));
		bits = b32;
	} else {
		memcpy(&bits, &d, sizeof(bits));
	}
	put_le(fill, bits, size);
	return 0;
}

/*
 * The fill value as little-endian bytes of the type. null (v2: "no fill
 * value", the content is undefined) is taken as zero.
 */
static int parse_fill(const json_t *v, const struct zarr_dtype *dt,
		      const char *what, uint8_t *fill)
{
	json_int_t iv;
	unsigned bits = 8 * dt->size;

	memset(fill, 0, 8);
	if (!v)
		return bad(what, "fill_value", "is missing");
	if (json_is_null(v))
		return 0;
	if (dt->kind == ZARR_FLOAT)
		return float_fill(v, dt->size, what, fill);
	if (json_is_boolean(v)) {
		if (dt->size != 1 || dt->kind != ZARR_UINT)
			return bad(what, "fill_value", "is a boolean");
		fill[0] = json_is_true(v) ? 1 : 0;
		return 0;
	}
	if (json_is_integer(v)) {
		iv = json_integer_value(v);
	} else if (json_is_real(v) &&
		   json_real_value(v) == floor(json_real_value(v)) &&
		   fabs(json_real_value(v)) < 9.2e18) {
		/* some writers send 0.0 for an integer array */
		iv = (json_int_t)json_real_value(v);
	} else {
		return bad(what, "fill_value", "is not an integer");
	}
	if (dt->kind == ZARR_INT && bits < 64 &&
	    (iv < -((json_int_t)1 << (bits - 1)) ||
	     iv > ((json_int_t)1 << (bits - 1)) - 1))
		return bad(what, "fill_value", "is out of range");
	if (dt->kind == ZARR_UINT &&
	    (iv < 0 || (bits < 64 && iv > ((json_int_t)1 << bits) - 1)))
		return bad(what, "fill_value", "is out of range");
	put_le(fill, (uint64_t)iv, dt->size);
	return 0;
}

/* ---- final check ------------------------------------------------------- */

static int checked(const struct zarr_array *a, const char *what)
{
	/* zarr_array_check() speaks v2; v3 names some fields otherwise */
	static const char *const v3_name[][2] = {
		{"chunks", "chunk_grid.configuration.chunk_shape"},
		{"dtype", "data_type"},
		{"dimension_separator", "chunk_key_encoding"},
	};
	const char *field = "?", *why = "?";
	int rc = zarr_array_check(a, &field, &why);

	if (rc == 0)
		return 0;
	for (size_t i = 0; a->format == 3 && i < 3; i++) {
		if (strcmp(field, v3_name[i][0]) == 0)
			field = v3_name[i][1];
	}
	return unsupported(what, field, why);
}

/* ---- Zarr v2 ----------------------------------------------------------- */

static int blosc_cname(const json_t *conf, const char *what, const char *field)
{
	static const char *const names[] = {"lz4",  "lz4hc", "blosclz",
					    "zstd", "zlib",  "snappy"};
	const json_t *v = json_object_get(conf, "cname");

	if (!v)
		return 0;
	if (!json_is_string(v))
		return bad(what, field, "is not a string");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(json_string_value(v), names[i]) == 0)
			return 0;
	}
	return unsupported(what, field, "is not a blosc compressor");
}

static int v2_compressor(const json_t *root, const char *what,
			 struct zarr_array *a)
{
	const json_t *c = json_object_get(root, "compressor");
	const json_t *id;
	const char *s;
	int rc = 0;

	if (!c)
		return bad(what, "compressor", "is missing");
	if (json_is_null(c)) {
		a->ncodecs = 0;
		return 0;
	}
	if (!json_is_object(c))
		return bad(what, "compressor", "is not an object");
	id = json_object_get(c, "id");
	if (!json_is_string(id))
		return bad(what, "compressor.id", "is not a string");
	s = json_string_value(id);
	if (strcmp(s, "blosc") == 0) {
		a->codecs[0].id = CODEC_BLOSC;
		rc = blosc_cname(c, what, "compressor.cname");
		if (rc == 0)
			rc = opt_int(c, "clevel", 0, 9, what,
				     "compressor.clevel");
		if (rc == 0)
			rc = opt_int(c, "shuffle", -1, 2, what,
				     "compressor.shuffle");
		if (rc == 0)
			rc = opt_int(c, "blocksize", 0, INT32_MAX, what,
				     "compressor.blocksize");
	} else if (strcmp(s, "zlib") == 0 || strcmp(s, "gzip") == 0) {
		a->codecs[0].id = s[0] == 'z' ? CODEC_ZLIB : CODEC_GZIP;
		rc = opt_int(c, "level", -1, 9, what, "compressor.level");
	} else if (strcmp(s, "zstd") == 0) {
		a->codecs[0].id = CODEC_ZSTD;
		rc = opt_int(c, "level", -131072, 22, what, "compressor.level");
		if (rc == 0)
			rc = opt_bool(c, "checksum", what,
				      "compressor.checksum");
	} else {
		return unsupported(what, "compressor.id",
				   "is not blosc, zlib, gzip or zstd");
	}
	a->ncodecs = 1;
	return rc;
}

static int v2_rest(const json_t *root, const char *what, struct zarr_array *a)
{
	const json_t *v;

	v = json_object_get(root, "order");
	if (!v)
		return bad(what, "order", "is missing");
	if (str_is(v, "F"))
		return unsupported(what, "order", "is F (column-major)");
	if (!str_is(v, "C"))
		return bad(what, "order", "is not \"C\" or \"F\"");

	v = json_object_get(root, "filters");
	if (!v)
		return bad(what, "filters", "is missing");
	if (json_is_array(v) && json_array_size(v) > 0)
		return unsupported(what, "filters", "are not supported");
	if (!json_is_null(v) && !json_is_array(v))
		return bad(what, "filters", "is not a list");

	v = json_object_get(root, "dimension_separator");
	if (!v || json_is_null(v))
		a->separator = '.'; /* the v2 spec's default */
	else if (str_is(v, ".") || str_is(v, "/"))
		a->separator = json_string_value(v)[0];
	else
		return bad(what, "dimension_separator",
			   "is not \".\" or \"/\"");
	return 0;
}

int api_json_zarray(const char *body, size_t len, const char *what,
		    struct zarr_array *out)
{
	struct zarr_array a;
	json_t *root = NULL;
	int rc;

	memset(&a, 0, sizeof(a));
	a.format = 2;
	rc = load(body, len, what, &root);
	if (rc < 0)
		return rc;
	rc = get_format(root, 2, what);
	if (rc == 0)
		rc = get_shape(root, "shape", what, &a.ndim, a.shape);
	if (rc == 0)
		rc = get_chunk_shape(json_object_get(root, "chunks"), "chunks",
				     a.ndim, what, a.chunks);
	if (rc == 0)
		rc = v2_dtype(json_object_get(root, "dtype"), what, &a.dtype);
	if (rc == 0)
		rc = v2_compressor(root, what, &a);
	if (rc == 0)
		rc = parse_fill(json_object_get(root, "fill_value"), &a.dtype,
				what, a.fill);
	if (rc == 0)
		rc = v2_rest(root, what, &a);
	if (rc == 0)
		rc = checked(&a, what);
	if (rc == 0)
		*out = a;
	json_decref(root);
	return rc;
}

/* ---- Zarr v3 ----------------------------------------------------------- */

/*
 * An extension point (v3 core "Extension definition"): {"name": ...,
 * "configuration": {...}} or the short-hand name string.
 */
static int extension(const json_t *e, const char *field, const char *what,
		     const char **name, const json_t **conf)
{
	const json_t *n, *c;

	if (json_is_string(e)) {
		*name = json_string_value(e);
		*conf = NULL;
		return 0;
	}
	if (!json_is_object(e))
		return bad(what, field, "is not an object");
	n = json_object_get(e, "name");
	if (!json_is_string(n))
		return bad(what, field, "has no name");
	c = json_object_get(e, "configuration");
	if (c && !json_is_object(c))
		return bad(what, field,
			   "has a configuration that is not an object");
	*name = json_string_value(n);
	*conf = c;
	return 0;
}

/* The bytes codec's endian; optional for 1-byte types only. */
static int bytes_endian(const json_t *conf, unsigned size, const char *what,
			bool *big)
{
	const json_t *e = conf ? json_object_get(conf, "endian") : NULL;

	if (!e) {
		if (size != 1)
			return bad(what, "codecs[bytes].endian", "is missing");
		*big = false;
		return 0;
	}
	if (str_is(e, "little") || str_is(e, "big")) {
		*big = size > 1 && str_is(e, "big");
		return 0;
	}
	return bad(what, "codecs[bytes].endian", "is not little or big");
}

/* transpose is accepted only as the identity (C order). */
static int transpose(const json_t *conf, unsigned ndim, const char *what)
{
	const json_t *o = conf ? json_object_get(conf, "order") : NULL;

	if (str_is(o, "C"))
		return 0;
	if (!json_is_array(o) || json_array_size(o) != ndim)
		return bad(what, "codecs[transpose].order",
			   "is not a permutation");
	for (size_t i = 0; i < ndim; i++) {
		const json_t *e = json_array_get(o, i);

		if (!json_is_integer(e))
			return bad(what, "codecs[transpose].order",
				   "is not a permutation");
		if (json_integer_value(e) != (json_int_t)i)
			return unsupported(what, "codecs[transpose].order",
					   "is not the identity");
	}
	return 0;
}

static int v3_blosc(const json_t *conf, const char *what)
{
	const json_t *sh = conf ? json_object_get(conf, "shuffle") : NULL;
	int rc;

	if (!conf)
		return 0;
	rc = blosc_cname(conf, what, "codecs[blosc].cname");
	if (rc == 0)
		rc = opt_int(conf, "clevel", 0, 9, what,
			     "codecs[blosc].clevel");
	if (rc == 0)
		rc = opt_int(conf, "typesize", 0, 255, what,
			     "codecs[blosc].typesize");
	if (rc == 0)
		rc = opt_int(conf, "blocksize", 0, INT32_MAX, what,
			     "codecs[blosc].blocksize");
	if (rc == 0 && sh && !str_is(sh, "noshuffle") &&
	    !str_is(sh, "shuffle") && !str_is(sh, "bitshuffle"))
		rc = bad(what, "codecs[blosc].shuffle", "is not a shuffle");
	return rc;
}

/* One codec chain: where it ends up in struct zarr_array. */
struct chain {
	bool big_endian;
	bool crc32c; /* ends in the crc32c codec */
	size_t n;
	struct zarr_codec *codecs; /* ZARR_MAX_CODECS */
	bool allow_sharding;
	const json_t *sharding; /* configuration, if sharding_indexed */
};

/*
 * A v3 codec list: array-to-array codecs (identity transpose only), then
 * exactly one array-to-bytes codec (bytes, or sharding_indexed at the top
 * level), then bytes-to-bytes codecs (zstd, gzip, blosc; crc32c only as
 * the last one: zarr.c checks and strips it).
 */
static int parse_chain(const json_t *list, const char *field, unsigned ndim,
		       unsigned size, const char *what, struct chain *ch)
{
	bool have_a2b = false;
	size_t n;
	int rc = 0;

	if (!list)
		return bad(what, field, "is missing");
	if (!json_is_array(list))
		return bad(what, field, "is not a list");
	n = json_array_size(list);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *name;
		const json_t *conf;
		enum codec_id id;

		rc = extension(json_array_get(list, i), field, what, &name,
			       &conf);
		if (rc < 0)
			break;
		if (strcmp(name, "transpose") == 0) {
			if (have_a2b)
				return bad(what, field,
					   "has transpose after bytes");
			rc = transpose(conf, ndim, what);
			continue;
		}
		if (strcmp(name, "bytes") == 0 ||
		    strcmp(name, "sharding_indexed") == 0) {
			if (have_a2b)
				return bad(what, field,
					   "has two array-to-bytes codecs");
			have_a2b = true;
			if (name[0] == 'b') {
				rc = bytes_endian(conf, size, what,
						  &ch->big_endian);
			} else if (!ch->allow_sharding) {
				rc = unsupported(what, field,
						 "nests sharding_indexed");
			} else if (!conf) {
				rc = bad(what, "codecs[sharding_indexed]",
					 "has no configuration");
			} else {
				ch->sharding = conf;
			}
			continue;
		}
		if (strcmp(name, "crc32c") == 0) {
			if (!have_a2b)
				return bad(what, field,
					   "has crc32c before bytes");
			if (i + 1 != n)
				return unsupported(
					what, field,
					"has crc32c before the last codec");
			ch->crc32c = true;
			continue;
		}
		if (strcmp(name, "zstd") == 0) {
			id = CODEC_ZSTD;
			rc = opt_int(conf, "level", -131072, 22, what,
				     "codecs[zstd].level");
			if (rc == 0)
				rc = opt_bool(conf, "checksum", what,
					      "codecs[zstd].checksum");
		} else if (strcmp(name, "gzip") == 0) {
			id = CODEC_GZIP;
			rc = opt_int(conf, "level", 0, 9, what,
				     "codecs[gzip].level");
		} else if (strcmp(name, "blosc") == 0) {
			id = CODEC_BLOSC;
			rc = v3_blosc(conf, what);
		} else {
			return unsupported(what, field, "has an unknown codec");
		}
		if (rc < 0)
			break;
		if (!have_a2b)
			return bad(what, field,
				   "has a compressor before bytes");
		if (ch->n == ZARR_MAX_CODECS)
			return unsupported(what, field, "has too many codecs");
		ch->codecs[ch->n++].id = id;
	}
	if (rc == 0 && !have_a2b)
		return bad(what, field, "has no array-to-bytes codec");
	return rc;
}

/* index_codecs: bytes (little-endian) and optionally crc32c, nothing else */
static int index_codecs(const json_t *list, const char *what,
			struct zarr_array *a)
{
	const char *field = "codecs[sharding_indexed].index_codecs";
	size_t n;

	if (!list)
		return bad(what, field, "is missing");
	if (!json_is_array(list))
		return bad(what, field, "is not a list");
	n = json_array_size(list);
	if (n == 0)
		return bad(what, field, "is empty");
	for (size_t i = 0; i < n; i++) {
		const char *name;
		const json_t *conf;
		bool big = false;
		int rc;

		rc = extension(json_array_get(list, i), field, what, &name,
			       &conf);
		if (rc < 0)
			return rc;
		if (i == 0 && strcmp(name, "bytes") == 0) {
			rc = bytes_endian(conf, 8, what, &big);
			if (rc < 0)
				return rc;
			if (big)
				return unsupported(what, field,
						   "is big-endian");
		} else if (i == 1 && i + 1 == n &&
			   strcmp(name, "crc32c") == 0) {
			a->index_crc32c = true;
		} else {
			return unsupported(what, field,
					   "is not bytes and crc32c");
		}
	}
	return 0;
}

static int sharding(const json_t *conf, const char *what, struct zarr_array *a)
{
	struct chain inner = {.codecs = a->inner_codecs};
	const json_t *loc = json_object_get(conf, "index_location");
	int rc;

	rc = get_chunk_shape(json_object_get(conf, "chunk_shape"),
			     "codecs[sharding_indexed].chunk_shape", a->ndim,
			     what, a->inner);
	if (rc == 0)
		rc = parse_chain(json_object_get(conf, "codecs"),
				 "codecs[sharding_indexed].codecs", a->ndim,
				 a->dtype.size, what, &inner);
	if (rc == 0)
		rc = index_codecs(json_object_get(conf, "index_codecs"), what,
				  a);
	if (rc < 0)
		return rc;
	if (!loc || str_is(loc, "end"))
		a->index_at_start = false;
	else if (str_is(loc, "start"))
		a->index_at_start = true;
	else
		return bad(what, "codecs[sharding_indexed].index_location",
			   "is not start or end");
	a->sharded = true;
	a->ninner_codecs = inner.n;
	a->inner_big_endian = inner.big_endian;
	a->inner_crc32c = inner.crc32c;
	/* the samples' byte order is the inner chunks' */
	a->dtype.big_endian = inner.big_endian;
	return 0;
}

static int chunk_grid(const json_t *root, const char *what,
		      struct zarr_array *a)
{
	const json_t *g = json_object_get(root, "chunk_grid");
	const char *name;
	const json_t *conf;
	int rc;

	if (!g)
		return bad(what, "chunk_grid", "is missing");
	rc = extension(g, "chunk_grid", what, &name, &conf);
	if (rc < 0)
		return rc;
	if (strcmp(name, "regular") != 0)
		return unsupported(what, "chunk_grid", "is not regular");
	return get_chunk_shape(conf ? json_object_get(conf, "chunk_shape")
				    : NULL,
			       "chunk_grid.configuration.chunk_shape", a->ndim,
			       what, a->chunks);
}

static int key_encoding(const json_t *root, const char *what,
			struct zarr_array *a)
{
	const json_t *k = json_object_get(root, "chunk_key_encoding");
	const json_t *conf, *sep;
	const char *name;
	int rc;

	if (!k)
		return bad(what, "chunk_key_encoding", "is missing");
	rc = extension(k, "chunk_key_encoding", what, &name, &conf);
	if (rc < 0)
		return rc;
	if (strcmp(name, "default") == 0) {
		a->v3_default_keys = true;
		a->separator = '/';
	} else if (strcmp(name, "v2") == 0) {
		a->v3_default_keys = false;
		a->separator = '.';
	} else {
		return unsupported(what, "chunk_key_encoding",
				   "is not default or v2");
	}
	sep = conf ? json_object_get(conf, "separator") : NULL;
	if (!sep)
		return 0;
	if (!str_is(sep, "/") && !str_is(sep, "."))
		return bad(what, "chunk_key_encoding.configuration.separator",
			   "is not \"/\" or \".\"");
	a->separator = json_string_value(sep)[0];
	return 0;
}

/* Optional members, and no unknown member that must be understood. */
static int v3_others(const json_t *root, const char *what, unsigned ndim)
{
	static const char *const known[] = {
		"zarr_format",
		"node_type",
		"shape",
		"data_type",
		"chunk_grid",
		"chunk_key_encoding",
		"fill_value",
		"codecs",
		"attributes",
		"dimension_names",
		"storage_transformers",
	};
	const json_t *v;
	const char *key;
	json_t *val;

	v = json_object_get(root, "storage_transformers");
	if (v && !json_is_array(v))
		return bad(what, "storage_transformers", "is not a list");
	if (v && json_array_size(v) > 0)
		return unsupported(what, "storage_transformers",
				   "are not supported");
	v = json_object_get(root, "attributes");
	if (v && !json_is_object(v))
		return bad(what, "attributes", "is not an object");
	v = json_object_get(root, "dimension_names");
	if (v && !json_is_null(v)) {
		if (!json_is_array(v) || json_array_size(v) != ndim)
			return bad(what, "dimension_names",
				   "does not match the shape");
		for (size_t i = 0; i < ndim; i++) {
			const json_t *e = json_array_get(v, i);

			if (!json_is_string(e) && !json_is_null(e))
				return bad(
					what, "dimension_names",
					"has an element that is not a string");
		}
	}
	json_object_foreach((json_t *)root, key, val)
	{
		bool ok = false;
		const json_t *mu;

		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok = ok || strcmp(key, known[i]) == 0;
		if (ok)
			continue;
		/* v3 core "must_understand": only false may be ignored */
		mu = json_is_object(val)
			     ? json_object_get(val, "must_understand")
			     : NULL;
		if (!json_is_false(mu))
			return unsupported(
				what, "(document)",
				"has a field that must be understood");
	}
	return 0;
}

int api_json_zarr3_array(const char *body, size_t len, const char *what,
			 struct zarr_array *out)
{
	struct zarr_array a;
	struct chain top = {.codecs = a.codecs, .allow_sharding = true};
	json_t *root = NULL;
	const json_t *nt;
	int rc;

	memset(&a, 0, sizeof(a));
	a.format = 3;
	rc = load(body, len, what, &root);
	if (rc < 0)
		return rc;
	rc = get_format(root, 3, what);
	if (rc < 0)
		goto out;
	nt = json_object_get(root, "node_type");
	if (!nt) {
		rc = bad(what, "node_type", "is missing");
		goto out;
	}
	if (str_is(nt, "group")) {
		rc = unsupported(what, "node_type", "is group, not array");
		goto out;
	}
	if (!str_is(nt, "array")) {
		rc = bad(what, "node_type", "is not array or group");
		goto out;
	}
	rc = get_shape(root, "shape", what, &a.ndim, a.shape);
	if (rc == 0)
		rc = v3_dtype(json_object_get(root, "data_type"), what,
			      &a.dtype);
	if (rc == 0)
		rc = chunk_grid(root, what, &a);
	if (rc == 0)
		rc = key_encoding(root, what, &a);
	if (rc == 0)
		rc = parse_fill(json_object_get(root, "fill_value"), &a.dtype,
				what, a.fill);
	if (rc == 0)
		rc = parse_chain(json_object_get(root, "codecs"), "codecs",
				 a.ndim, a.dtype.size, what, &top);
	if (rc == 0)
		rc = v3_others(root, what, a.ndim);
	if (rc < 0)
		goto out;
	a.ncodecs = top.n;
	a.crc32c = top.crc32c;
	a.dtype.big_endian = top.big_endian;
	if (top.sharding) {
		rc = sharding(top.sharding, what, &a);
		if (rc < 0)
			goto out;
	}
	rc = checked(&a, what);
	if (rc == 0)
		*out = a;
out:
	json_decref(root);
	return rc;
}

/* ---- OME-NGFF multiscales ---------------------------------------------- */

/*
 * A dataset path becomes part of URLs: names of [A-Za-z0-9._-] joined by
 * single slashes (NGFF 0.1 to 0.3 show "path/to/0"), no "." or ".."
 * name, no leading or trailing slash. So it can neither leave the image
 * nor change the URL ('?', '#', '%', spaces, backslashes are refused).
 * Zarr v2 "Logical storage paths" forbids "." and ".." segments too.
 */
static bool path_ok(const char *p)
{
	size_t n = strlen(p);
	const char *seg = p;

	if (n == 0 || n > ZARR_PATH_MAX)
		return false;
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)p[i];
		size_t len = (size_t)(p + i - seg);

		if (c == '/' || c == '\0') {
			if (len == 0 || (len == 1 && seg[0] == '.') ||
			    (len == 2 && seg[0] == '.' && seg[1] == '.'))
				return false;
			seg = p + i + 1;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

/*
 * The scale of a coordinateTransformations list (NGFF 0.4+: exactly one
 * "scale", maybe a "translation" after it). A scale given by "path" (a
 * binary file) is not read: the scale stays 1.
 */
static int parse_scale(const json_t *list, unsigned ndim, const char *field,
		       const char *what, double *scale)
{
	bool seen = false;

	if (!json_is_array(list))
		return bad(what, field, "is not a list");
	for (size_t i = 0; i < json_array_size(list); i++) {
		const json_t *t = json_array_get(list, i);
		const json_t *type = json_object_get(t, "type");
		const json_t *s;

		if (!json_is_object(t) || !json_is_string(type))
			return bad(what, field, "has an entry without a type");
		if (!str_is(type, "scale"))
			continue; /* translation, identity: not needed */
		if (seen)
			return bad(what, field, "has more than one scale");
		seen = true;
		s = json_object_get(t, "scale");
		if (!s && json_is_string(json_object_get(t, "path")))
			continue;
		if (!json_is_array(s) || json_array_size(s) != ndim)
			return bad(what, field,
				   "has a scale that does not match the axes");
		for (size_t d = 0; d < ndim; d++) {
			const json_t *e = json_array_get(s, d);
			double v = json_number_value(e);

			if (!json_is_number(e) || !isfinite(v) || !(v > 0))
				return bad(what, field,
					   "has a scale that is not positive");
			scale[d] = v;
		}
	}
	return 0;
}

/* The multiscales list and the NGFF version, wherever the version puts it */
static const json_t *find_multiscales(const json_t *root, const char **ver)
{
	const json_t *ome = json_object_get(root, "ome");
	const json_t *attrs = json_object_get(root, "attributes");
	const json_t *ms = json_object_get(root, "multiscales");
	const json_t *v;

	*ver = NULL;
	if (ms)
		return ms; /* v2 .zattrs (NGFF 0.1 to 0.4) */
	if (json_is_object(attrs))
		ome = json_object_get(attrs, "ome"); /* v3 group (0.5) */
	if (!json_is_object(ome))
		return NULL;
	v = json_object_get(ome, "version");
	if (json_is_string(v))
		*ver = json_string_value(v);
	return json_object_get(ome, "multiscales");
}

static int ms_axes(const json_t *m0, const char *ver, const char *what,
		   struct zarr_multiscale *m)
{
	const json_t *axes = json_object_get(m0, "axes");
	const char *names[ZARR_MAX_DIMS];
	size_t n;
	int rc;

	if (!axes) {
		if (ver && strcmp(ver, "0.1") != 0 && strcmp(ver, "0.2") != 0)
			return bad(what, "multiscales[0].axes", "is missing");
		rc = zarr_axes(m, 5, NULL);
		return rc < 0 ? unsupported(what, "multiscales[0].axes",
					    "cannot be mapped")
			      : 0;
	}
	if (!json_is_array(axes))
		return bad(what, "multiscales[0].axes", "is not a list");
	n = json_array_size(axes);
	if (n < 2 || n > ZARR_MAX_DIMS)
		return unsupported(what, "multiscales[0].axes",
				   "has not 2 to 5 axes");
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(axes, i);

		if (json_is_object(e)) /* 0.4+: {"name", "type", "unit"} */
			e = json_object_get(e, "name");
		if (!json_is_string(e))
			return bad(what, "multiscales[0].axes",
				   "has an axis without a name");
		names[i] = json_string_value(e);
	}
	rc = zarr_axes(m, (unsigned)n, names);
	if (rc < 0)
		return unsupported(what, "multiscales[0].axes",
				   "are not t, c, z, y, x with y and x");
	return 0;
}

int api_json_multiscales(const char *body, size_t len, const char *what,
			 struct zarr_multiscale *out)
{
	struct zarr_multiscale m;
	double global[ZARR_MAX_DIMS];
	json_t *root = NULL;
	const json_t *ms, *m0, *ds, *ct, *v;
	const char *ver = NULL;
	size_t nds;
	int rc;

	memset(&m, 0, sizeof(m));
	rc = load(body, len, what, &root);
	if (rc < 0)
		return rc;
	ms = find_multiscales(root, &ver);
	if (!ms) {
		rc = unsupported(what, "multiscales", "is missing");
		goto out;
	}
	if (!json_is_array(ms)) {
		rc = bad(what, "multiscales", "is not a list");
		goto out;
	}
	if (json_array_size(ms) == 0) {
		rc = unsupported(what, "multiscales", "is empty");
		goto out;
	}
	/* the first multiscale is the one to use (NGFF "multiscales") */
	m0 = json_array_get(ms, 0);
	if (!json_is_object(m0)) {
		rc = bad(what, "multiscales[0]", "is not an object");
		goto out;
	}
	v = json_object_get(m0, "version");
	if (v && !json_is_string(v)) {
		rc = bad(what, "multiscales[0].version", "is not a string");
		goto out;
	}
	if (v)
		ver = json_string_value(v);
	rc = ms_axes(m0, ver, what, &m);
	if (rc < 0)
		goto out;
	for (unsigned d = 0; d < ZARR_MAX_DIMS; d++)
		global[d] = 1.0;
	ct = json_object_get(m0, "coordinateTransformations");
	if (ct) {
		rc = parse_scale(ct, m.ndim,
				 "multiscales[0].coordinateTransformations",
				 what, global);
		if (rc < 0)
			goto out;
	}
	ds = json_object_get(m0, "datasets");
	if (!json_is_array(ds) || json_array_size(ds) == 0) {
		rc = bad(what, "multiscales[0].datasets",
			 "is not a non-empty list");
		goto out;
	}
	nds = json_array_size(ds);
	if (nds > ZARR_MAX_LEVELS) {
		rc = unsupported(what, "multiscales[0].datasets",
				 "has more levels than ZARR_MAX_LEVELS (32)");
		goto out;
	}
	for (size_t i = 0; i < nds; i++) {
		const json_t *d = json_array_get(ds, i);
		const json_t *path = json_object_get(d, "path");
		const json_t *dct =
			json_object_get(d, "coordinateTransformations");

		if (!json_is_object(d) || !json_is_string(path)) {
			rc = bad(what, "multiscales[0].datasets[].path",
				 "is missing");
			goto out;
		}
		if (!path_ok(json_string_value(path))) {
			rc = bad(what, "multiscales[0].datasets[].path",
				 "is not a path of [A-Za-z0-9._-] names");
			goto out;
		}
		for (unsigned k = 0; k < ZARR_MAX_DIMS; k++)
			m.scale[i][k] = 1.0;
		if (dct) {
			rc = parse_scale(dct, m.ndim,
					 "multiscales[0].datasets[]."
					 "coordinateTransformations",
					 what, m.scale[i]);
			if (rc < 0)
				goto out;
		}
		for (unsigned k = 0; k < m.ndim; k++)
			m.scale[i][k] *= global[k];
		m.paths[i] = strdup(json_string_value(path));
		if (!m.paths[i]) {
			rc = -ENOMEM;
			goto out;
		}
		m.nlevels = i + 1;
	}
out:
	json_decref(root);
	if (rc < 0) {
		zarr_multiscale_release(&m);
		return rc;
	}
	*out = m;
	return 0;
}
