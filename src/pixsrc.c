/* SPDX-License-Identifier: MIT */
/*
 * pixsrc: pixel sources and the read path.
 *
 * A read of the virtual TIFF asks tiff for bytes; tiff asks us for whole
 * rows of one plane (rows_zarr / rows_render). We map the rows to chunks
 * (Zarr chunks, or bands of TIFF_STRIP_ROWS rendered rows), take each
 * from the memory LRU, else the persistent cache, else the network, and
 * convert samples to the file's type.
 *
 * Chunks are kept in the chunk table (pixsrc_chunks.c), which bounds
 * all of them, loading or not, by one memory budget; this file names the
 * chunks a read needs, loads the missing ones and copies out of them.
 *
 * Read-ahead is pixsrc_prefetch.c's: it decides what a stream reads next
 * and calls pixsrc_image_load() from its workers.
 *
 * Lock order: the read-ahead's queue lock and the chunk table's lock are
 * never held together.
 */
#include "config.h"

#include "idrfs/pixsrc.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idrfs/codec.h"
#include "idrfs/log.h"
#include "idrfs/tiff.h"
#include "idrfs/zarr.h"
#include "pixsrc_int.h"

#define PIXSRC_META_MAX	  (4u << 20)
#define PIXSRC_PNG_MAX	  (64u << 20)
#define PIXSRC_ORIG_BLOCK (1u << 20)
#define PIXSRC_LEASES	  8
#define PIXSRC_LEASE_MS	  (60u * 1000u)

/* A zarr/ view's source kept open with no file open (lease_add()). */
struct pixsrc_lease {
	struct pixsrc_image *im; /* a reference; NULL: a free slot */
	int64_t id;
	char *lsid; /* the Zarr URL it was opened with (heap) */
	uint64_t at;
};

struct pixsrc {
	struct api *api;
	struct api_transport tr;
	char *s3_scheme;
	atomic_bool have_session;
	struct pixsrc_prefetch pf; /* has its own lock */

	/* lease_lock protects the zarr/ views' leased sources; taken alone */
	pthread_mutex_t lease_lock;
	struct pixsrc_lease lease[PIXSRC_LEASES];
	unsigned lease_next;

	struct pixsrc_chunks chunks; /* has its own lock */
};

/* A pyramid level past 0 (the .ome.tif's SubIFDs). */
struct pixsrc_level {
	char *url;
	struct zarr_array arr;
	uint64_t ident;
};

struct pixsrc_image {
	struct pixsrc *ps;
	enum pixsrc_kind kind;
	int64_t id;
	struct api_pixels px;
	char *url;   /* Zarr array (level 0) or the remote base for renders */
	char *group; /* the Zarr group (no trailing slash) */
	bool v3;
	struct zarr_array arr;
	struct zarr_multiscale ms;
	uint64_t ident; /* the array's identity in chunk keys (Zarr) */
	/* the .ome.tif: levels 1..nlv of the pyramid, and its file */
	struct pixsrc_level lv[TIFF_OME_MAX_LEVELS];
	unsigned nlv;
	struct tiff_ome_file *otf;
	struct zarr_view_channel *zch; /* the zarr/ view's channels */
	char *name;		       /* the image's, for the view */
	struct api_imgdata idata;
	bool have_idata;
	struct tiff_channel *chans;
	enum tiff_sample_format fmt;
	unsigned bps;
	struct tiff_file *tf;

	atomic_uint refs; /* the opener's, and queued prefetch jobs' */
	struct pixsrc_stream stream;   /* a reader's run, for read-ahead */
	struct pixsrc_pf_file pf_file; /* the file, as read-ahead sees it */
	atomic_bool big_logged;	       /* a too large chunk was logged */
};

/* ---- small helpers ---- */

unsigned pixsrc_file_bps(enum api_pixel_type t)
{
	if (t == API_PT_INT8)
		return 1; /* v+128 in uint8, with a calibration */
	if (t == API_PT_DOUBLE)
		return 4; /* float32: ImageJ cannot open 64-bit samples */
	return api_pixel_bytes(t);
}

static enum tiff_sample_format file_format(enum api_pixel_type t)
{
	switch (t) {
	case API_PT_INT16:
	case API_PT_INT32:
		return TIFF_SF_INT;
	case API_PT_FLOAT:
	case API_PT_DOUBLE:
		return TIFF_SF_FLOAT;
	default:
		return TIFF_SF_UINT;
	}
}

/* One GET whose answer accept maps into arg (and only then is kept). */
static int fetch1(struct pixsrc *ps, const char *url, size_t max,
		  uint64_t deadline, struct http_req *r, http_accept_fn accept,
		  void *arg)
{
	memset(r, 0, sizeof(*r));
	r->url = url;
	r->max_body = max;
	r->accept = accept;
	r->accept_arg = arg;
	ps->tr.fetch(ps->tr.ctx, r, 1, deadline);
	return http_req_accept(r);
}

/* ---- loaders ---- */

/* The largest body accepted for a chunk of @p len decoded bytes: a
 * stored chunk is at most a little larger than raw. */
static size_t zarr_max_body(size_t len)
{
	return len + len / 8 + 65536;
}

/*
 * The most one load of a chunk of the array holds at once, its decoded
 * bytes included: the body and the decoder's buffers (a stage per codec
 * past the first, two at most alive; for a shard its inner chunk and
 * its own stages), or, once the body is gone, the cache's copies. Chunks
 * are at most ZARR_MAX_CHUNK_BYTES: nothing here overflows.
 */
static size_t zarr_load_cost(const struct zarr_array *a)
{
	size_t len = (size_t)zarr_chunk_bytes(a);
	size_t stage = len + len / 2 + 65536;
	size_t outer = a->ncodecs > (a->sharded ? 0u : 1u) ? stage : 0;
	size_t load;

	if (a->ncodecs > (a->sharded ? 1u : 2u))
		outer *= 2;
	load = zarr_max_body(len) + outer;
	if (a->sharded) {
		size_t inner = a->dtype.size;

		for (unsigned d = 0; d < a->ndim; d++)
			inner *= (size_t)a->inner[d];
		/* the inner chunk, and its stages */
		load += inner + (a->ninner_codecs > 1 ? 2 * inner + 65536 : 0);
	}
	return len + (load > pixsrc_chunks_store_cost(len)
			      ? load
			      : pixsrc_chunks_store_cost(len));
}

/* The errno a read reports for a failed load. */
static int load_errno(int rc)
{
	return rc == -ENOMEM || rc == -ETIMEDOUT ? rc : -EIO;
}

static void load_zarr(struct pixsrc_image *im, const struct zarr_array *a,
		      struct load_item *items, size_t n, uint64_t deadline)
{
	struct pixsrc *ps = im->ps;
	size_t len = (size_t)zarr_chunk_bytes(a);
	struct http_req *reqs = calloc(n, sizeof(*reqs));

	if (!reqs) {
		for (size_t i = 0; i < n; i++)
			pixsrc_chunks_done(&ps->chunks, items[i].c, NULL, 0,
					   -ENOMEM, false);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		reqs[i].url = items[i].url;
		reqs[i].max_body = zarr_max_body(len);
		reqs[i].nocache = true; /* the chunk cache keeps it, decoded */
		reqs[i].absent_ok = true; /* a 404: the fill value */
	}
	ps->tr.fetch(ps->tr.ctx, reqs, n, deadline);
	for (size_t i = 0; i < n; i++) {
		uint8_t *buf = NULL;
		int rc = reqs[i].rc;

		if (rc == -ENOENT) {
			/* an absent chunk holds the fill value: nothing to
			 * store (fill costs nothing to make again), and the
			 * 404 is believed for absent_ttl_ms */
			http_req_release(&reqs[i]);
			pixsrc_chunks_done(&ps->chunks, items[i].c, NULL, 0, 0,
					   true);
			continue;
		}
		if (rc == 0) {
			buf = malloc(len);
			rc = buf ? zarr_chunk_decode(a, reqs[i].body,
						     reqs[i].len, buf)
				 : -ENOMEM;
		}
		if (rc < 0 && rc != -ENOMEM && reqs[i].rc == 0) {
			char esc[PIXSRC_URL_MAX];

			log_error(LOG_C_ZARR,
				  "chunk \"%s\" (%zu bytes received) does not "
				  "decode to a chunk of %zu bytes (%s)",
				  log_escape(items[i].url, esc, sizeof(esc)),
				  reqs[i].len, len, strerror(-rc));
		}
		http_req_release(&reqs[i]);
		if (rc == 0) {
			pixsrc_chunks_store(&ps->chunks, items[i].c, buf, len,
					    a->dtype.size);
		} else {
			free(buf);
			buf = NULL;
			rc = load_errno(rc);
		}
		pixsrc_chunks_done(&ps->chunks, items[i].c, buf, len, rc,
				   false);
	}
	free(reqs);
}

static uint32_t band_rows(const struct pixsrc_image *im, uint64_t band)
{
	uint64_t y0 = band * TIFF_STRIP_ROWS;
	uint64_t left = im->px.size_y - y0;

	return (uint32_t)(left < TIFF_STRIP_ROWS ? left : TIFF_STRIP_ROWS);
}

/* The largest PNG accepted for a band of @p len RGB bytes: a PNG is at
 * most a little larger than its samples, which may be RGBA or 16-bit. */
static size_t render_max_body(size_t len)
{
	size_t cap = 3 * len + 65536;

	return cap < PIXSRC_PNG_MAX ? cap : PIXSRC_PNG_MAX;
}

static void load_render(struct pixsrc_image *im, struct load_item *items,
			size_t n, uint64_t deadline)
{
	struct pixsrc *ps = im->ps;
	struct http_req *reqs = calloc(n, sizeof(*reqs));
	bool retried = false;

	if (!reqs) {
		for (size_t i = 0; i < n; i++)
			pixsrc_chunks_done(&ps->chunks, items[i].c, NULL, 0,
					   -ENOMEM, false);
		return;
	}
again:
	for (size_t i = 0; i < n; i++) {
		uint32_t h = band_rows(im, items[i].idx[2]);

		reqs[i].url = items[i].url;
		reqs[i].max_body =
			render_max_body((size_t)im->px.size_x * h * 3);
		reqs[i].nocache = true;
	}
	ps->tr.fetch(ps->tr.ctx, reqs, n, deadline);
	if (!retried) {
		bool denied = false;

		for (size_t i = 0; i < n; i++)
			denied |= reqs[i].rc == -EACCES;
		/* no session cookie (or it expired): get one, try once more */
		if (denied && api_session(ps->api, deadline) == 0) {
			for (size_t i = 0; i < n; i++)
				http_req_release(&reqs[i]);
			retried = true;
			goto again;
		}
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t h = band_rows(im, items[i].idx[2]);
		size_t len = (size_t)im->px.size_x * h * 3;
		uint8_t *buf = NULL;
		int rc = reqs[i].rc;

		if (rc == 0) {
			buf = malloc(len);
			rc = buf ? codec_png_rgb(reqs[i].body, reqs[i].len,
						 im->px.size_x, h, buf)
				 : -ENOMEM;
			if (rc == -EBADMSG) {
				char esc[PIXSRC_URL_MAX];

				log_error(LOG_C_ZARR,
					  "render \"%s\" is not a %ux%u PNG "
					  "(%s)",
					  log_escape(items[i].url, esc,
						     sizeof(esc)),
					  im->px.size_x, h,
					  reqs[i].content_type);
			}
		}
		http_req_release(&reqs[i]);
		if (rc == 0) {
			pixsrc_chunks_store(&ps->chunks, items[i].c, buf, len,
					    1);
		} else {
			free(buf);
			buf = NULL;
			rc = load_errno(rc);
		}
		pixsrc_chunks_done(&ps->chunks, items[i].c, buf, len, rc,
				   false);
	}
	free(reqs);
}

/* ---- sample conversion ---- */

static double load_sample(const uint8_t *p, const struct zarr_dtype *dt)
{
	uint64_t u = 0;

	for (unsigned i = 0; i < dt->size; i++)
		u |= (uint64_t)p[i] << (8 * i);
	switch (dt->kind) {
	case ZARR_FLOAT:
		if (dt->size == 4) {
			uint32_t w = (uint32_t)u;
			float f;

			memcpy(&f, &w, 4);
			return f;
		} else {
			double d;

			memcpy(&d, &u, 8);
			return d;
		}
	case ZARR_INT:
		if (dt->size < 8 && (u >> (8 * dt->size - 1)) & 1)
			u |= ~0ull << (8 * dt->size);
		return (double)(int64_t)u;
	default:
		return (double)u;
	}
}

static void store_sample(uint8_t *p, double v, enum tiff_sample_format fmt,
			 unsigned bps)
{
	uint64_t u;

	if (fmt == TIFF_SF_FLOAT && bps == 8) {
		memcpy(&u, &v, 8);
	} else if (fmt == TIFF_SF_FLOAT) {
		float f = (float)v;
		uint32_t w;

		memcpy(&w, &f, 4);
		u = w;
	} else if (fmt == TIFF_SF_INT) {
		double lo = -ldexp(1, (int)(8 * bps - 1));
		double hi = ldexp(1, (int)(8 * bps - 1)) - 1;

		v = isnan(v) ? 0 : v < lo ? lo : v > hi ? hi : v;
		u = (uint64_t)(int64_t)v;
	} else {
		double hi = ldexp(1, (int)(8 * bps)) - 1;

		v = isnan(v) || v < 0 ? 0 : v > hi ? hi : v;
		u = (uint64_t)v;
	}
	for (unsigned i = 0; i < bps; i++)
		p[i] = (uint8_t)(u >> (8 * i));
}

/* The samples a file holds: type, width, and int8's +128 (the .tif). */
struct sample_out {
	enum tiff_sample_format fmt;
	unsigned bps;
	bool shift; /* int8 as v+128 in uint8 */
};

/* Copy n samples with source stride (in elements) into file samples. */
static void convert(const struct zarr_dtype *dt, const struct sample_out *o,
		    const uint8_t *src, uint64_t stride, uint8_t *dst, size_t n)
{
	bool same = dt->size == o->bps &&
		    ((dt->kind == ZARR_FLOAT) == (o->fmt == TIFF_SF_FLOAT)) &&
		    ((dt->kind == ZARR_INT) == (o->fmt == TIFF_SF_INT)) &&
		    !o->shift;

	if (same && stride == 1) {
		memcpy(dst, src, n * o->bps);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *s = src + i * stride * dt->size;

		if (o->shift && dt->size == 1)
			dst[i] = (uint8_t)(s[0] ^ 0x80); /* v + 128 */
		else if (same)
			memcpy(dst + i * o->bps, s, o->bps);
		else
			store_sample(dst + i * o->bps,
				     load_sample(s, dt) + (o->shift ? 128 : 0),
				     o->fmt, o->bps);
	}
}

/* ---- row callbacks ---- */

struct rd {
	struct pixsrc_image *im;
	uint64_t deadline;
	bool pf; /* a prefetch job: yields when memory is short */
};

/*
 * The chunks under some rows and columns of one plane of a Zarr array (a
 * level of the pyramid), and where they go: dst holds rows row0.. of
 * dst_stride bytes, its first sample being column dst_x0.
 */
struct zrows {
	struct pixsrc_image *im;
	const struct zarr_array *a;
	const char *url;
	uint64_t ident;
	struct sample_out out;
	uint64_t v[5]; /* t, c, z of the plane (y, x per chunk) */
	uint64_t cy0, cx0, gx;
	uint32_t row0, nrows, col0, ncols;
	uint64_t stride[ZARR_MAX_DIMS];
	size_t cost;
	uint8_t *dst;
	size_t dst_stride;
	uint32_t dst_x0;
};

static int prep_zarr(void *ctx, size_t i, struct load_item *it,
		     struct cache_key *k)
{
	struct zrows *z = ctx;
	const struct pixsrc_image *im = z->im;
	const struct zarr_array *a = z->a;
	const int *ax = im->ms.axis;
	uint64_t v[5];
	size_t ul = strlen(z->url);

	memcpy(v, z->v, sizeof(v));
	v[ZARR_Y] = (z->cy0 + i / z->gx) * a->chunks[ax[ZARR_Y]];
	v[ZARR_X] = (z->cx0 + i % z->gx) * a->chunks[ax[ZARR_X]];
	memset(it->idx, 0, sizeof(it->idx));
	for (unsigned d = 0; d < 5; d++) {
		if (ax[d] >= 0)
			it->idx[ax[d]] = v[d] / a->chunks[ax[d]];
	}
	cache_key_chunk(k, "zarr", z->ident, im->id, it->idx, a->ndim);
	it->cost = z->cost;
	/* level URLs are shorter than PIXSRC_URL_MAX (open_zarr) */
	memcpy(it->url, z->url, ul);
	it->url[ul++] = '/';
	return zarr_chunk_key(a, it->idx, it->url + ul, sizeof(it->url) - ul);
}

/* Copy the part of chunk i under the rows and columns into dst. */
static int use_zarr(void *ctx, size_t i, const struct chunk *c)
{
	struct zrows *z = ctx;
	const struct pixsrc_image *im = z->im;
	const struct zarr_array *a = z->a;
	const int *ax = im->ms.axis;
	uint64_t chy = a->chunks[ax[ZARR_Y]], chx = a->chunks[ax[ZARR_X]];
	uint64_t cy = z->cy0 + i / z->gx, cx = z->cx0 + i % z->gx;
	uint64_t end = (uint64_t)z->row0 + z->nrows;
	uint64_t y_lo = cy * chy > z->row0 ? cy * chy : z->row0;
	uint64_t y_hi = (cy + 1) * chy < end ? (cy + 1) * chy : end;
	uint64_t cend = (uint64_t)z->col0 + z->ncols;
	uint64_t x_lo = cx * chx > z->col0 ? cx * chx : z->col0;
	uint64_t x_hi = (cx + 1) * chx < cend ? (cx + 1) * chx : cend;
	uint64_t base = 0;

	for (unsigned k = 0; k < 3; k++) {
		if (ax[k] >= 0)
			base += (z->v[k] % a->chunks[ax[k]]) * z->stride[ax[k]];
	}
	base += (x_lo - cx * chx) * z->stride[ax[ZARR_X]];
	for (uint64_t y = y_lo; y < y_hi; y++) {
		uint64_t off = base + (y - cy * chy) * z->stride[ax[ZARR_Y]];
		uint8_t *d = z->dst + (y - z->row0) * z->dst_stride +
			     (x_lo - z->dst_x0) * z->out.bps;

		/* an absent chunk: the fill value, every sample */
		if (c->absent)
			convert(&a->dtype, &z->out, a->fill, 0, d,
				(size_t)(x_hi - x_lo));
		else
			convert(&a->dtype, &z->out,
				c->data + off * a->dtype.size,
				z->stride[ax[ZARR_X]], d,
				(size_t)(x_hi - x_lo));
	}
	return 0;
}

static size_t len_zarr(void *ctx, const struct load_item *it)
{
	struct zrows *z = ctx;

	(void)it;
	return (size_t)zarr_chunk_bytes(z->a);
}

static void load_zarr_cb(void *ctx, struct load_item *items, size_t n,
			 uint64_t deadline)
{
	struct zrows *z = ctx;

	load_zarr(z->im, z->a, items, n, deadline);
}

/* What level @p lvl of an image reads: level 0 is the .tif's array. */
static void level_of(struct pixsrc_image *im, unsigned lvl, struct zrows *z)
{
	if (lvl == 0) {
		z->a = &im->arr;
		z->url = im->url;
		z->ident = im->ident;
	} else {
		z->a = &im->lv[lvl - 1].arr;
		z->url = im->lv[lvl - 1].url;
		z->ident = im->lv[lvl - 1].ident;
	}
}

/*
 * The chunks under rows row0.. and columns col0.. of a plane of level
 * z->a, loaded (in batches that fit the memory budget) and copied into
 * z->dst as z->out says; dst NULL only loads (prefetch).
 */
static int zarr_region(struct rd *rd, struct zrows *z, uint64_t plane,
		       uint32_t row0, uint32_t nrows, uint32_t col0,
		       uint32_t ncols)
{
	struct pixsrc_image *im = rd->im;
	const struct zarr_array *a = z->a;
	const int *ax = im->ms.axis;
	uint64_t C = im->px.size_c, Z = im->px.size_z;
	uint64_t chy = a->chunks[ax[ZARR_Y]], chx = a->chunks[ax[ZARR_X]];
	struct loader ld = {
		prep_zarr, len_zarr, load_zarr_cb,   z->dst ? use_zarr : NULL,
		z,	   z->url,   &im->big_logged};
	uint64_t cy1 = (row0 + (uint64_t)nrows - 1) / chy;

	if (nrows == 0 || ncols == 0)
		return 0;
	z->im = im;
	z->v[0] = plane / (C * Z);
	z->v[1] = plane % C;
	z->v[2] = (plane / C) % Z;
	z->cy0 = row0 / chy;
	z->cx0 = col0 / chx;
	z->row0 = row0;
	z->nrows = nrows;
	z->col0 = col0;
	z->ncols = ncols;
	z->cost = zarr_load_cost(a);
	/* at most 2^32 rows times 2^32 columns: no overflow */
	z->gx = (col0 + (uint64_t)ncols - 1) / chx - z->cx0 + 1;
	z->stride[a->ndim - 1] = 1;
	for (unsigned d = a->ndim - 1; d > 0; d--)
		z->stride[d - 1] = z->stride[d] * a->chunks[d];
	return pixsrc_chunks_each(&im->ps->chunks, &ld,
				  (size_t)((cy1 - z->cy0 + 1) * z->gx), rd->pf,
				  rd->deadline);
}

/* The .tif's rows: level 0, in the file's sample type. */
static int rows_zarr(void *ctx, uint64_t plane, uint32_t row0, uint32_t nrows,
		     uint32_t col0, uint32_t ncols, uint8_t *dst)
{
	struct rd *rd = ctx;
	struct pixsrc_image *im = rd->im;
	struct zrows z = {
		.out = {im->fmt, im->bps, im->px.type == API_PT_INT8},
		.dst = dst,
		.dst_stride = (size_t)im->px.size_x * im->bps,
	};

	level_of(im, 0, &z);
	return zarr_region(rd, &z, plane, row0, nrows, col0, ncols);
}

/* The OME type's samples: int8 is int8, double is double. */
static enum tiff_sample_format ome_format(enum api_pixel_type t)
{
	return t == API_PT_INT8 ? TIFF_SF_INT : file_format(t);
}

/* One tile of the .ome.tif: native samples, zero past the level's edge. */
static int tile_zarr(void *ctx, unsigned level, uint64_t plane, uint32_t tx,
		     uint32_t ty, uint8_t *dst)
{
	struct rd *rd = ctx;
	struct pixsrc_image *im = rd->im;
	const struct tiff_ome_layout *l = tiff_ome_file_layout(im->otf);
	unsigned bps = api_pixel_bytes(im->px.type);
	uint64_t x0 = (uint64_t)tx * l->tile_w, y0 = (uint64_t)ty * l->tile_h;
	struct zrows z = {
		.out = {ome_format(im->px.type), bps, false},
		.dst = dst,
		.dst_stride = (size_t)l->tile_w * bps,
		.dst_x0 = (uint32_t)x0,
	};

	memset(dst, 0, (size_t)l->tile_w * l->tile_h * bps);
	if (level > im->nlv || level >= l->nlevels || x0 >= l->lx[level] ||
	    y0 >= l->ly[level])
		return 0;
	level_of(im, level, &z);
	return zarr_region(
		rd, &z, plane, (uint32_t)y0,
		(uint32_t)(l->ly[level] - y0 < l->tile_h ? l->ly[level] - y0
							 : l->tile_h),
		(uint32_t)x0,
		(uint32_t)(l->lx[level] - x0 < l->tile_w ? l->lx[level] - x0
							 : l->tile_w));
}

/* The bands under some rows of one rendered plane. */
struct rrows {
	struct pixsrc_image *im;
	uint32_t z, t;
	uint64_t b0;
	uint32_t row0, nrows;
	uint8_t *dst;
};

static size_t len_render(void *ctx, const struct load_item *it)
{
	struct rrows *r = ctx;

	return (size_t)r->im->px.size_x * band_rows(r->im, it->idx[2]) * 3;
}

static int prep_render(void *ctx, size_t i, struct load_item *it,
		       struct cache_key *k)
{
	struct rrows *r = ctx;
	struct pixsrc_image *im = r->im;
	uint64_t band = r->b0 + i;
	size_t len;
	int rc;

	memset(it->idx, 0, sizeof(it->idx));
	it->idx[0] = r->t;
	it->idx[1] = r->z;
	it->idx[2] = band;
	rc = api_render_url(im->ps->api, &im->idata, r->z, r->t,
			    (uint32_t)(band * TIFF_STRIP_ROWS),
			    band_rows(im, band), it->url, sizeof(it->url));
	if (rc < 0)
		return rc;
	/* the render URL holds the plane, region and channel settings:
	 * other settings are other pixels */
	cache_key_chunk(
		k, "render",
		cache_ident_add(CACHE_IDENT_INIT, it->url, strlen(it->url)),
		im->id, it->idx, 3);
	/* the PNG and its decoded samples (up to 8 bytes a pixel) while
	 * it loads, then the cache's copies */
	len = len_render(ctx, it);
	it->cost = len + render_max_body(len) + 3 * len + TIFF_STRIP_ROWS;
	if (it->cost < len + pixsrc_chunks_store_cost(len))
		it->cost = len + pixsrc_chunks_store_cost(len);
	return 0;
}

static int use_render(void *ctx, size_t i, const struct chunk *c)
{
	struct rrows *r = ctx;
	size_t row_bytes = (size_t)r->im->px.size_x * 3;
	uint64_t y_lo = (r->b0 + i) * TIFF_STRIP_ROWS;
	uint64_t y_hi = y_lo + band_rows(r->im, r->b0 + i);
	uint64_t end = (uint64_t)r->row0 + r->nrows;
	uint64_t from = y_lo > r->row0 ? y_lo : r->row0;
	uint64_t to = y_hi < end ? y_hi : end;

	if (to > from)
		memcpy(r->dst + (from - r->row0) * row_bytes,
		       c->data + (from - y_lo) * row_bytes,
		       (size_t)(to - from) * row_bytes);
	return 0;
}

static void load_render_cb(void *ctx, struct load_item *items, size_t n,
			   uint64_t deadline)
{
	struct rrows *r = ctx;

	load_render(r->im, items, n, deadline);
}

/* Rendered bands are whole rows: the columns asked for do not matter. */
static int rows_render(void *ctx, uint64_t plane, uint32_t row0, uint32_t nrows,
		       uint32_t col0, uint32_t ncols, uint8_t *dst)
{
	struct rd *rd = ctx;
	struct pixsrc_image *im = rd->im;
	struct rrows r = {
		.im = im,
		.z = (uint32_t)(plane % im->px.size_z),
		.t = (uint32_t)(plane / im->px.size_z),
		.b0 = row0 / TIFF_STRIP_ROWS,
		.row0 = row0,
		.nrows = nrows,
		.dst = dst,
	};
	struct loader ld = {prep_render,
			    len_render,
			    load_render_cb,
			    dst ? use_render : NULL,
			    &r,
			    im->url,
			    &im->big_logged};
	uint64_t b1 = (row0 + nrows - 1) / TIFF_STRIP_ROWS;

	(void)col0;
	(void)ncols;
	if (nrows == 0)
		return 0;
	return pixsrc_chunks_each(&im->ps->chunks, &ld, (size_t)(b1 - r.b0 + 1),
				  rd->pf, rd->deadline);
}

/* ---- opening ---- */

enum pixsrc_kind pixsrc_kind_of(const struct pixsrc *ps,
				const struct api_image *img)
{
	(void)ps;
	return img->zarr_lsid ? PIXSRC_ZARR : PIXSRC_RENDERED;
}

/* The Zarr group URL of an image, without a trailing slash. */
static int zarr_group_url(const struct pixsrc *ps, const struct api_image *img,
			  char *out, size_t outsz)
{
	int n;

	if (strncmp(img->zarr_lsid, "s3://", 5) == 0) {
		/* s3://host/bucket/path?anonymous=true -> scheme://host/... */
		n = snprintf(out, outsz, "%s://%s", ps->s3_scheme,
			     img->zarr_lsid + 5);
	} else if (strncmp(img->zarr_lsid, "https://", 8) == 0 ||
		   strncmp(img->zarr_lsid, "http://", 7) == 0) {
		n = snprintf(out, outsz, "%s", img->zarr_lsid);
	} else {
		char esc[256];

		log_error(LOG_C_ZARR,
			  "image %" PRId64 ": ExternalInfo \"%s\" is not an "
			  "s3:// or http(s):// URL",
			  img->id,
			  log_escape(img->zarr_lsid, esc, sizeof(esc)));
		return -EINVAL;
	}
	if (n < 0 || (size_t)n >= outsz)
		return -ENAMETOOLONG;
	out[strcspn(out, "?#")] = '\0';
	n = (int)strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

/* Does the level-0 array have the image's dimensions? */
static int check_shape(const struct pixsrc_image *im, const char *url)
{
	const uint64_t want[5] = {im->px.size_t_, im->px.size_c, im->px.size_z,
				  im->px.size_y, im->px.size_x};
	char esc[PIXSRC_URL_MAX];

	if (im->ms.ndim != im->arr.ndim)
		goto bad;
	for (unsigned k = 0; k < 5; k++) {
		int d = im->ms.axis[k];
		uint64_t have = d >= 0 ? im->arr.shape[d] : 1;

		if (have != want[k])
			goto bad;
	}
	return 0;
bad:
	log_error(LOG_C_ZARR,
		  "image %" PRId64 ": the array at \"%s\" does not have the "
		  "image's dimensions",
		  im->id, log_escape(url, esc, sizeof(esc)));
	return -EBADMSG;
}

static int open_zarr(struct pixsrc *ps, struct pixsrc_image *im,
		     const struct api_image *img, uint64_t deadline)
{
	char group[PIXSRC_URL_MAX];
	char url[2][PIXSRC_URL_MAX];
	struct http_req r[2] = {0};
	struct zarr_multiscale ms[2];
	bool v3;
	int rc;

	rc = zarr_group_url(ps, img, group, sizeof(group));
	if (rc == 0) {
		char what[32];

		snprintf(what, sizeof(what), "image %" PRId64, img->id);
		rc = api_check_data_url(ps->api, what, group);
	}
	if (rc < 0)
		return rc;
	/* v2 and v3 metadata asked at once: one round trip, one 404; each
	 * answer is kept only once its parse took it (fetch.h), and the
	 * zarr.json of a v2 group is a 404 worth keeping */
	snprintf(url[0], sizeof(url[0]), "%s/.zattrs", group);
	snprintf(url[1], sizeof(url[1]), "%s/zarr.json", group);
	for (int i = 0; i < 2; i++) {
		r[i].url = url[i];
		r[i].max_body = PIXSRC_META_MAX;
		r[i].accept = api_accept_multiscales;
		r[i].accept_arg = &ms[i];
	}
	r[1].keep_404 = true;
	ps->tr.fetch(ps->tr.ctx, r, 2, deadline);
	http_req_accept(&r[0]);
	http_req_accept(&r[1]);
	v3 = r[0].rc != 0 && r[1].rc == 0;
	rc = v3 ? r[1].rc : r[0].rc;
	if (rc == 0)
		im->ms = ms[v3];
	if (r[!v3].rc == 0)
		zarr_multiscale_release(&ms[!v3]);
	http_req_release(&r[0]);
	http_req_release(&r[1]);
	if (rc < 0)
		return rc;
	if (im->ms.nlevels == 0)
		return -EBADMSG;

	rc = snprintf(url[0], sizeof(url[0]), "%s/%s", group, im->ms.paths[0]);
	if (rc < 0 || (size_t)rc >= sizeof(url[0]))
		return -ENAMETOOLONG;
	im->url = strdup(url[0]);
	im->group = strdup(group);
	im->v3 = v3;
	if (!im->url || !im->group)
		return -ENOMEM;
	snprintf(url[1], sizeof(url[1]), "%s/%s", im->url,
		 v3 ? "zarr.json" : ".zarray");
	rc = fetch1(ps, url[1], PIXSRC_META_MAX, deadline, &r[0],
		    v3 ? api_accept_zarr3_array : api_accept_zarray, &im->arr);
	http_req_release(&r[0]);
	if (rc < 0)
		return rc;
	if (im->arr.dtype.size > 8 ||
	    (im->arr.dtype.kind != ZARR_FLOAT && im->arr.dtype.size == 8 &&
	     im->px.type != API_PT_DOUBLE))
		log_warn(LOG_C_ZARR,
			 "image %" PRId64 ": 64-bit integers are converted "
			 "to %s",
			 img->id, api_pixel_type_name(img->px.type));
	return check_shape(im, url[1]);
}

/* Append to a canonical string; a field that does not fit is cut (the
 * buffer is sized for the largest array description). */
static void canon_add(char *buf, size_t size, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void canon_add(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n < size - *len ? (size_t)n : size - *len - 1;
}

/*
 * The identity of a Zarr array in chunk keys: its URL and every field
 * that decides a chunk's bytes (format, shape, chunks, dtype with byte
 * order, codec chain, shard layout, fill value, key layout), as a
 * canonical string (cache.h, key schema).
 */
static uint64_t zarr_ident(const struct zarr_array *a, const char *url)
{
	char b[1024];
	size_t n = 0;

	canon_add(b, sizeof(b), &n, "zarr%d dtype %d/%u/%s sep %c%s crc %d",
		  a->format, (int)a->dtype.kind, a->dtype.size,
		  a->dtype.big_endian ? "be" : "le", a->separator,
		  a->v3_default_keys ? " c/" : "", a->crc32c);
	for (unsigned d = 0; d < a->ndim; d++)
		canon_add(b, sizeof(b), &n, " %" PRIu64 ":%" PRIu64,
			  a->shape[d], a->chunks[d]);
	canon_add(b, sizeof(b), &n, " codecs");
	for (size_t i = 0; i < a->ncodecs; i++)
		canon_add(b, sizeof(b), &n, " %d", (int)a->codecs[i].id);
	if (a->sharded) {
		canon_add(b, sizeof(b), &n, " shard %d%d%d%d",
			  a->inner_big_endian, a->inner_crc32c, a->index_crc32c,
			  a->index_at_start);
		for (unsigned d = 0; d < a->ndim; d++)
			canon_add(b, sizeof(b), &n, " %" PRIu64, a->inner[d]);
		for (size_t i = 0; i < a->ninner_codecs; i++)
			canon_add(b, sizeof(b), &n, " %d",
				  (int)a->inner_codecs[i].id);
	}
	canon_add(b, sizeof(b), &n, " fill");
	for (unsigned i = 0; i < sizeof(a->fill); i++)
		canon_add(b, sizeof(b), &n, "%02x", a->fill[i]);
	return cache_ident_add(
		cache_ident_add(CACHE_IDENT_INIT, url, strlen(url) + 1), b, n);
}

/* Channel names, colours and windows for the TIFF descriptions. */
static int make_channels(struct pixsrc_image *im)
{
	static const uint32_t dflt[] = {0xff0000, 0x00ff00, 0x0000ff,
					0xff00ff, 0x00ffff, 0xffff00};
	size_t n = im->px.size_c;
	double shift = im->px.type == API_PT_INT8 ? 128 : 0;

	if (n > TIFF_MAX_CHANNELS)
		return -EFBIG; /* the layout refuses it too; allocate nothing */
	im->chans = calloc(n, sizeof(*im->chans));
	if (!im->chans)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct tiff_channel *c = &im->chans[i];

		if (im->have_idata && i < im->idata.nchannels) {
			const struct api_channel *ch = &im->idata.channels[i];

			c->name = ch->label;
			c->color_rgb = ch->color_rgb;
			c->window_start = ch->window_start + shift;
			c->window_end = ch->window_end + shift;
		} else {
			c->color_rgb = n == 1 ? 0xffffff
					      : dflt[i % (sizeof(dflt) /
							  sizeof(dflt[0]))];
			c->window_start = 0;
			c->window_end =
				im->fmt == TIFF_SF_FLOAT
					? 1.0
					: ldexp(1, (int)(8 * im->bps)) - 1;
		}
	}
	return 0;
}

/* What both files of an image need: imgData, the source, the channels. */
static int image_new(struct pixsrc *ps, const struct api_image *img,
		     uint64_t deadline, struct pixsrc_image **out)
{
	struct pixsrc_image *im = calloc(1, sizeof(*im));
	int rc;

	if (!im)
		return -ENOMEM;
	im->ps = ps;
	atomic_init(&im->refs, 1);
	pixsrc_stream_init(&im->stream);
	atomic_init(&im->big_logged, false);
	im->id = img->id;
	if (img->name && !(im->name = strdup(img->name))) {
		rc = -ENOMEM;
		goto fail;
	}
	im->px = img->px;
	im->kind = pixsrc_kind_of(ps, img);
	im->fmt = file_format(img->px.type);
	im->bps = pixsrc_file_bps(img->px.type);
	if (!img->has_pixels || im->bps == 0) {
		log_error(LOG_C_ZARR,
			  "image %" PRId64 ": pixel type %s is not supported",
			  img->id, api_pixel_type_name(img->px.type));
		rc = -EINVAL;
		goto fail;
	}
	/*
	 * The channel colours and windows go into the file's header. Only
	 * the server saying there is no imgData (404, 403) makes them the
	 * defaults; a failure to ask (5xx, reset, a bad body, the deadline)
	 * fails this open, so that no header built without them reaches the
	 * kernel's page cache, which keeps it for the mount's life, and the
	 * next open asks again.
	 */
	rc = api_get_imgdata(ps->api, img->id, deadline, &im->idata);
	if (rc == 0) {
		im->have_idata = true;
	} else if (im->kind == PIXSRC_RENDERED ||
		   (rc != -ENOENT && rc != -EACCES)) {
		goto fail; /* logged with the URL (api, http) */
	} else {
		log_warn(LOG_C_ZARR,
			 "image %" PRId64
			 ": no imgData (%s), default channel colours",
			 img->id, strerror(-rc));
	}
	if (im->kind == PIXSRC_ZARR) {
		rc = open_zarr(ps, im, img, deadline);
		if (rc == 0)
			im->ident = zarr_ident(&im->arr, im->url);
	} else {
		char url[PIXSRC_URL_MAX];

		/* rendering needs a session cookie: get one before the first
		 * render rather than after a 403 (load_render renews it) */
		if (!atomic_exchange(&ps->have_session, true))
			api_session(ps->api, deadline);
		snprintf(url, sizeof(url),
			 "%s/webgateway/render_image_region/%" PRId64 "/",
			 api_base_url(ps->api), img->id);
		im->url = strdup(url);
		rc = im->url ? 0 : -ENOMEM;
	}
	if (rc == 0)
		rc = make_channels(im);
	if (rc < 0)
		goto fail;
	*out = im;
	return 0;
fail:
	pixsrc_image_free(im);
	return rc;
}

/* What the .tif and the .ome.tif both say of an image. */
static struct tiff_about about_of(const struct api_image *img,
				  const struct pixsrc_image *im)
{
	return (struct tiff_about){
		.image_id = img->id,
		.image_name = img->name,
		.source = im->url,
		.phys_x = img->px.phys_x,
		.phys_y = img->px.phys_y,
		.phys_z = img->px.phys_z,
		.time_increment = img->px.time_increment,
		.nchannels = img->px.size_c,
		.channels = im->chans,
	};
}

int pixsrc_open(struct pixsrc *ps, const struct api_image *img,
		uint64_t deadline, struct pixsrc_image **out)
{
	struct pixsrc_image *im = NULL;
	struct tiff_meta m = {0};
	int rc = image_new(ps, img, deadline, &im);

	if (rc < 0)
		return rc;
	m.g = (struct tiff_geom){
		.x = img->px.size_x,
		.y = img->px.size_y,
		.c = img->px.size_c,
		.z = img->px.size_z,
		.t = img->px.size_t_,
		.bps = im->kind == PIXSRC_RENDERED ? 1 : im->bps,
		.samples = im->kind == PIXSRC_RENDERED ? 3 : 1,
	};
	m.format = im->kind == PIXSRC_RENDERED ? TIFF_SF_UINT : im->fmt;
	m.source_type = api_pixel_type_name(img->px.type);
	m.int8_shifted = img->px.type == API_PT_INT8;
	m.rendered = im->kind == PIXSRC_RENDERED;
	m.about = about_of(img, im);
	rc = tiff_file_new(&m, &im->tf);
	if (rc < 0)
		goto fail;
	im->pf_file = (struct pixsrc_pf_file){
		.tif = tiff_file_layout(im->tf),
		.size_y = img->px.size_y,
		/* a fetch unit: a Zarr chunk row, or a rendered band */
		.unit_rows =
			im->kind == PIXSRC_ZARR
				? (uint32_t)im->arr.chunks[im->ms.axis[ZARR_Y]]
				: TIFF_STRIP_ROWS,
	};
	*out = im;
	return 0;
fail:
	pixsrc_image_free(im);
	return rc;
}

int pixsrc_ome_geom(const struct api_image *img, struct tiff_ome_geom *g)
{
	unsigned bps = api_pixel_bytes(img->px.type);

	if (!img->has_pixels || bps == 0)
		return -ENOENT;
	*g = (struct tiff_ome_geom){
		.x = img->px.size_x,
		.y = img->px.size_y,
		.c = img->px.size_c,
		.z = img->px.size_z,
		.t = img->px.size_t_,
		.bps = bps,
		.format = ome_format(img->px.type),
	};
	return 0;
}

/*
 * The levels past 0 a view holds: each array asked at once, and used
 * while it has t, c, z and the type of level 0 and, for the .ome.tif
 * (@p l), the layout's size for its level. The first that does not ends
 * the pyramid (logged).
 */
static int open_levels(struct pixsrc_image *im, const struct tiff_ome_layout *l,
		       uint64_t deadline)
{
	struct pixsrc *ps = im->ps;
	unsigned cap = l ? l->nlevels : TIFF_OME_MAX_LEVELS;
	unsigned want =
		(unsigned)im->ms.nlevels < cap ? (unsigned)im->ms.nlevels : cap;
	struct http_req r[TIFF_OME_MAX_LEVELS] = {0};
	char url[TIFF_OME_MAX_LEVELS][PIXSRC_URL_MAX];
	struct zarr_array arr[TIFF_OME_MAX_LEVELS];
	const int *ax = im->ms.axis;
	char esc[PIXSRC_URL_MAX];
	unsigned k;
	int rc = 0;

	if (want <= 1)
		return 0;
	for (k = 1; k < want; k++) {
		int n = snprintf(url[k], sizeof(url[k]), "%s/%s/%s", im->group,
				 im->ms.paths[k],
				 im->v3 ? "zarr.json" : ".zarray");

		if (n < 0 || (size_t)n >= sizeof(url[k]))
			return -ENAMETOOLONG;
		r[k].url = url[k];
		r[k].max_body = PIXSRC_META_MAX;
		r[k].accept =
			im->v3 ? api_accept_zarr3_array : api_accept_zarray;
		r[k].accept_arg = &arr[k];
	}
	ps->tr.fetch(ps->tr.ctx, r + 1, want - 1, deadline);
	for (k = 1; k < want; k++) {
		bool fits;

		rc = http_req_accept(&r[k]);
		http_req_release(&r[k]);
		if (rc < 0)
			break;
		fits = arr[k].ndim == im->arr.ndim &&
		       memcmp(&arr[k].dtype, &im->arr.dtype,
			      sizeof(arr[k].dtype)) == 0;
		for (unsigned d = 0; fits && d < 5; d++) {
			uint64_t have = ax[d] >= 0 ? arr[k].shape[ax[d]] : 1;

			if (d == ZARR_Y || d == ZARR_X)
				fits = !l || have == (d == ZARR_Y ? l->ly[k]
								  : l->lx[k]);
			else
				fits = have ==
				       (ax[d] >= 0 ? im->arr.shape[ax[d]] : 1);
		}
		if (!fits) {
			/* a pyramid of another rule: fewer levels */
			log_info(LOG_C_ZARR,
				 "image %" PRId64 ": level %u at \"%s\" does "
				 "not fit the %s: it has %u levels",
				 im->id, k,
				 log_escape(url[k], esc, sizeof(esc)),
				 l ? ".ome.tif's layout" : "pyramid", k);
			break;
		}
		im->lv[k - 1].arr = arr[k];
		im->lv[k - 1].url = strndup(
			url[k], strlen(url[k]) - strlen(im->v3 ? "/zarr.json"
							       : "/.zarray"));
		if (!im->lv[k - 1].url) {
			rc = -ENOMEM;
			break;
		}
		im->lv[k - 1].ident =
			zarr_ident(&im->lv[k - 1].arr, im->lv[k - 1].url);
		im->nlv = k;
	}
	for (k++; k < want; k++)
		http_req_release(&r[k]);
	/* a level that could not be asked fails the open (the next asks
	 * again); one of another shape only ends the pyramid */
	return rc == -ENOMEM || rc == -ETIMEDOUT || rc == -EIO ? rc : 0;
}

int pixsrc_open_ome(struct pixsrc *ps, const struct api_image *img,
		    uint64_t deadline, struct pixsrc_image **out)
{
	struct pixsrc_image *im = NULL;
	struct tiff_ome_meta m = {0};
	struct tiff_ome_layout l;
	int rc = pixsrc_ome_geom(img, &m.g);

	if (rc == 0)
		rc = tiff_ome_layout_compute(&m.g, &l);
	if (rc == 0 && pixsrc_kind_of(ps, img) != PIXSRC_ZARR)
		rc = -ENOENT;
	if (rc == 0)
		rc = image_new(ps, img, deadline, &im);
	if (rc == 0)
		rc = open_levels(im, &l, deadline);
	if (rc < 0)
		goto fail;
	m.nlevels = im->nlv + 1;
	m.about = about_of(img, im);
	rc = tiff_ome_file_new(&m, &im->otf);
	if (rc < 0)
		goto fail;
	im->pf_file = (struct pixsrc_pf_file){
		.ome = tiff_ome_file_layout(im->otf),
		.nlv = im->nlv,
	};
	*out = im;
	return 0;
fail:
	pixsrc_image_free(im);
	return rc;
}

static int open_zview(struct pixsrc *ps, const struct api_image *img,
		      uint64_t deadline, struct pixsrc_image **out)
{
	struct pixsrc_image *im = NULL;
	int rc = pixsrc_kind_of(ps, img) == PIXSRC_ZARR ? 0 : -ENOENT;
	int last = -1;

	if (rc == 0)
		rc = image_new(ps, img, deadline, &im);
	/* a chunk file is a decoded chunk as it is: the source's axes must
	 * come in t, c, z, y, x order (NGFF says so) */
	for (unsigned d = 0; rc == 0 && d < 5; d++) {
		if (im->ms.axis[d] < 0)
			continue;
		if (im->ms.axis[d] <= last) {
			log_error(LOG_C_ZARR,
				  "image %" PRId64 ": the axes of \"%s\" are "
				  "not in t, c, z, y, x order: no zarr/ view",
				  img->id, im->url);
			rc = -ENOENT;
		}
		last = im->ms.axis[d];
	}
	if (rc == 0)
		rc = open_levels(im, NULL, deadline);
	if (rc == 0) {
		size_t n = im->px.size_c;
		double shift = im->px.type == API_PT_INT8 ? 128 : 0;
		unsigned bits = 8 * im->arr.dtype.size;

		im->zch = calloc(n ? n : 1, sizeof(*im->zch));
		rc = im->zch ? 0 : -ENOMEM;
		for (size_t i = 0; rc == 0 && i < n; i++) {
			struct zarr_view_channel *c = &im->zch[i];

			c->label = im->chans[i].name;
			c->color_rgb = im->chans[i].color_rgb;
			c->start = im->chans[i].window_start - shift;
			c->end = im->chans[i].window_end - shift;
			if (im->arr.dtype.kind == ZARR_FLOAT) {
				c->min = 0;
				c->max = 1;
			} else if (im->arr.dtype.kind == ZARR_INT) {
				c->min = -ldexp(1, (int)bits - 1);
				c->max = ldexp(1, (int)bits - 1) - 1;
			} else {
				c->min = 0;
				c->max = ldexp(1, (int)bits) - 1;
			}
		}
	}
	if (rc < 0) {
		pixsrc_image_free(im);
		return rc;
	}
	*out = im;
	return 0;
}

/*
 * zarr/ views' sources, leased: zarr-python opens, reads and closes each
 * chunk file, and the tree lets a source go with its last open file, so
 * without this every chunk read would open the view's source again
 * (imgData, .zattrs and every level's array, parsed from the metadata
 * cache). The PIXSRC_LEASES newest sources are kept, each for at most
 * PIXSRC_LEASE_MS, for the same image and Zarr URL.
 */
static struct pixsrc_image *lease_find(struct pixsrc *ps,
				       const struct api_image *img)
{
	struct pixsrc_image *im = NULL;
	uint64_t now = http_now_ms();

	pthread_mutex_lock(&ps->lease_lock);
	for (unsigned i = 0; i < PIXSRC_LEASES && !im; i++) {
		const struct pixsrc_lease *l = &ps->lease[i];

		if (l->im && l->id == img->id &&
		    now - l->at < PIXSRC_LEASE_MS &&
		    strcmp(l->lsid, img->zarr_lsid ? img->zarr_lsid : "") == 0)
			im = pixsrc_image_hold(l->im);
	}
	pthread_mutex_unlock(&ps->lease_lock);
	return im;
}

/* Lease @p im (taking a reference); the oldest lease goes. */
static void lease_add(struct pixsrc *ps, const struct api_image *img,
		      struct pixsrc_image *im)
{
	char *lsid = strdup(img->zarr_lsid ? img->zarr_lsid : "");
	struct pixsrc_lease gone;

	if (!lsid)
		return; /* no lease: the next open opens again */
	pthread_mutex_lock(&ps->lease_lock);
	gone = ps->lease[ps->lease_next];
	ps->lease[ps->lease_next] = (struct pixsrc_lease){
		pixsrc_image_hold(im), img->id, lsid, http_now_ms()};
	ps->lease_next = (ps->lease_next + 1) % PIXSRC_LEASES;
	pthread_mutex_unlock(&ps->lease_lock);
	pixsrc_image_free(gone.im);
	free(gone.lsid);
}

int pixsrc_open_zview(struct pixsrc *ps, const struct api_image *img,
		      uint64_t deadline, struct pixsrc_image **out)
{
	struct pixsrc_image *im = lease_find(ps, img);
	int rc = 0;

	if (!im) {
		rc = open_zview(ps, img, deadline, &im);
		if (rc == 0)
			lease_add(ps, img, im);
	}
	if (rc == 0)
		*out = im;
	return rc;
}

/* A level's array: 0 is the .tif's. */
static const struct zarr_array *level_arr(const struct pixsrc_image *im,
					  unsigned lvl)
{
	return lvl == 0 ? &im->arr : &im->lv[lvl - 1].arr;
}

void pixsrc_zview(const struct pixsrc_image *im, struct zarr_view *v)
{
	const int *ax = im->ms.axis;

	memset(v, 0, sizeof(*v));
	v->name = im->name;
	v->dtype = im->arr.dtype;
	v->dtype.big_endian = false; /* chunks are decoded little-endian */
	memcpy(v->fill, im->arr.fill, sizeof(v->fill));
	v->nlevels = im->nlv + 1;
	v->space_um = im->px.phys_x > 0;
	for (unsigned l = 0; l < v->nlevels; l++) {
		const struct zarr_array *a = level_arr(im, l);

		for (unsigned d = 0; d < 5; d++) {
			v->lv[l].shape[d] = ax[d] >= 0 ? a->shape[ax[d]] : 1;
			v->lv[l].chunks[d] = ax[d] >= 0 ? a->chunks[ax[d]] : 1;
			v->lv[l].scale[d] =
				ax[d] >= 0 ? im->ms.scale[l][ax[d]] : 1.0;
		}
	}
	v->nchannels = im->px.size_c;
	v->channels = im->zch;
}

/* One chunk of a level, copied out as it decoded (the zarr/ view). */
struct zchunk {
	struct pixsrc_image *im;
	const struct zarr_array *a;
	const char *url;
	uint64_t ident;
	uint64_t idx[ZARR_MAX_DIMS];
	uint64_t off;
	size_t len;
	uint8_t *out;
};

static int prep_zchunk(void *ctx, size_t i, struct load_item *it,
		       struct cache_key *k)
{
	struct zchunk *z = ctx;
	size_t ul = strlen(z->url);

	(void)i;
	memcpy(it->idx, z->idx, sizeof(it->idx));
	cache_key_chunk(k, "zarr", z->ident, z->im->id, it->idx, z->a->ndim);
	it->cost = zarr_load_cost(z->a);
	memcpy(it->url, z->url, ul);
	it->url[ul++] = '/';
	return zarr_chunk_key(z->a, it->idx, it->url + ul,
			      sizeof(it->url) - ul);
}

static size_t len_zchunk(void *ctx, const struct load_item *it)
{
	struct zchunk *z = ctx;

	(void)it;
	return (size_t)zarr_chunk_bytes(z->a);
}

static int use_zchunk(void *ctx, size_t i, const struct chunk *c)
{
	struct zchunk *z = ctx;
	unsigned es = z->a->dtype.size;

	(void)i;
	if (!c->absent) {
		memcpy(z->out, c->data + z->off, z->len);
		return 0;
	}
	/* the fill value, sample after sample from where the read starts */
	for (size_t k = 0; k < z->len; k++)
		z->out[k] = z->a->fill[(z->off + k) % es];
	return 0;
}

static void load_zchunk(void *ctx, struct load_item *items, size_t n,
			uint64_t deadline)
{
	struct zchunk *z = ctx;

	load_zarr(z->im, z->a, items, n, deadline);
}

ssize_t pixsrc_zview_read(struct pixsrc_image *im, unsigned lvl,
			  const uint64_t idx[5], uint64_t off, size_t len,
			  uint8_t *out, uint64_t deadline)
{
	struct zrows lz = {0};
	struct zchunk z = {.im = im, .out = out};
	struct loader ld = {prep_zchunk, len_zchunk, load_zchunk,    use_zchunk,
			    &z,		 NULL,	     &im->big_logged};
	uint64_t size;
	int rc;

	if (lvl > im->nlv)
		return -EIO;
	level_of(im, lvl, &lz);
	z.a = lz.a;
	z.url = lz.url;
	z.ident = lz.ident;
	ld.what = z.url;
	size = zarr_chunk_bytes(z.a);
	memset(z.idx, 0, sizeof(z.idx));
	for (unsigned d = 0; d < 5; d++) {
		int a = im->ms.axis[d];

		if (a >= 0 && idx[d] >= zarr_grid(z.a, (unsigned)a))
			return -ENOENT;
		if (a < 0 && idx[d] != 0)
			return -ENOENT;
		if (a >= 0)
			z.idx[a] = idx[d];
	}
	if (off >= size)
		return 0;
	z.off = off;
	z.len = size - off < len ? (size_t)(size - off) : len;
	rc = pixsrc_chunks_each(&im->ps->chunks, &ld, 1, false, deadline);
	return rc < 0 ? rc : (ssize_t)z.len;
}

static void image_destroy(struct pixsrc_image *im)
{
	for (unsigned i = 0; i < im->nlv; i++)
		free(im->lv[i].url);
	tiff_ome_file_free(im->otf);
	free(im->zch);
	free(im->name);
	free(im->group);
	tiff_file_free(im->tf);
	free(im->chans);
	api_imgdata_release(&im->idata);
	zarr_multiscale_release(&im->ms);
	free(im->url);
	free(im);
}

struct pixsrc_image *pixsrc_image_hold(struct pixsrc_image *im)
{
	atomic_fetch_add(&im->refs, 1);
	return im;
}

/* The opener's reference; queued prefetch jobs hold their own. */
void pixsrc_image_free(struct pixsrc_image *im)
{
	if (im && atomic_fetch_sub(&im->refs, 1) == 1)
		image_destroy(im);
}

unsigned pixsrc_image_jobs(const struct pixsrc_image *im)
{
	/* each job holds a reference (pixsrc_image_hold()) until done; so
	 * does a zarr/ view's lease (tests ask this of .tif sources) */
	return atomic_load(&im->refs) - 1;
}

uint64_t pixsrc_size(const struct pixsrc_image *im)
{
	if (im->otf)
		return tiff_ome_file_layout(im->otf)->size;
	return tiff_file_layout(im->tf)->size;
}

const char *pixsrc_source_name(const struct pixsrc_image *im)
{
	return im->kind == PIXSRC_ZARR ? "zarr" : "rendered";
}

const char *pixsrc_source_url(const struct pixsrc_image *im)
{
	return im->url;
}

/* Load (only) the chunks under some rows of one plane of a level, every
 * column, for the read-ahead: the .tif's rows (level 0), or a tile row of
 * a level of the .ome.tif. A load that finds no room is dropped. */
void pixsrc_image_load(struct pixsrc_image *im, unsigned level, uint64_t plane,
		       uint32_t row0, uint32_t nrows, uint64_t deadline)
{
	struct rd rd = {.im = im, .deadline = deadline, .pf = true};

	if (im->otf) {
		struct zrows z = {0};

		level_of(im, level, &z);
		zarr_region(&rd, &z, plane, row0, nrows, 0,
			    (uint32_t)z.a->shape[im->ms.axis[ZARR_X]]);
	} else {
		(im->kind == PIXSRC_ZARR ? rows_zarr : rows_render)(
			&rd, plane, row0, nrows, 0, im->px.size_x, NULL);
	}
}

ssize_t pixsrc_read(struct pixsrc_image *im, uint64_t off, size_t len,
		    uint8_t *out, uint64_t deadline)
{
	struct rd rd = {.im = im, .deadline = deadline};
	ssize_t n;

	if (im->otf) {
		n = tiff_ome_file_read(im->otf, off, len, out, tile_zarr, &rd);
	} else {
		n = tiff_file_read(
			im->tf, off, len, out,
			im->kind == PIXSRC_ZARR ? rows_zarr : rows_render, &rd);
	}
	if (n > 0)
		pixsrc_prefetch_after(&im->ps->pf, im, &im->stream,
				      &im->pf_file, off, (size_t)n);
	return n;
}

/* ---- original files ---- */

struct orig {
	struct pixsrc *ps;
	const char *url;
	uint64_t size;
	uint64_t ident; /* URL, size (and ETag, when known) */
	uint64_t b0;	/* the first block read */
	uint64_t off;	/* what is read: off.. len bytes, into out */
	size_t len;
	uint8_t *out;
};

static size_t orig_block_len(const struct orig *o, uint64_t b)
{
	uint64_t off = b * PIXSRC_ORIG_BLOCK;
	uint64_t left = o->size - off;

	return (size_t)(left < PIXSRC_ORIG_BLOCK ? left : PIXSRC_ORIG_BLOCK);
}

static size_t len_orig(void *ctx, const struct load_item *it)
{
	return orig_block_len(ctx, it->idx[0]);
}

/*
 * The identity of an original file's blocks: its URL, its size and its
 * ETag (NULL: unknown), so a file that changed is not served from old
 * blocks.
 */
static uint64_t orig_ident(const char *url, uint64_t size, const char *etag)
{
	uint8_t sz[8];
	uint64_t h = CACHE_IDENT_INIT;

	for (unsigned i = 0; i < 8; i++)
		sz[i] = (uint8_t)(size >> (8 * i));
	h = cache_ident_add(h, url, strlen(url) + 1);
	h = cache_ident_add(h, sz, sizeof(sz));
	return etag ? cache_ident_add(h, etag, strlen(etag) + 1) : h;
}

static int prep_orig(void *ctx, size_t i, struct load_item *it,
		     struct cache_key *k)
{
	struct orig *o = ctx;
	uint64_t b = o->b0 + i;
	size_t len = orig_block_len(o, b);

	memset(it->idx, 0, sizeof(it->idx));
	it->idx[0] = b;
	it->url[0] = '\0';
	cache_key_chunk(k, "orig", o->ident, 0, &b, 1);
	/* the body becomes the block; then the cache's copies */
	it->cost = len + pixsrc_chunks_store_cost(len);
	return 0;
}

static int use_orig(void *ctx, size_t i, const struct chunk *c)
{
	struct orig *o = ctx;
	uint64_t bstart = (o->b0 + i) * PIXSRC_ORIG_BLOCK;
	uint64_t end = o->off + o->len;
	uint64_t from = o->off > bstart ? o->off : bstart;
	uint64_t to = bstart + c->len < end ? bstart + c->len : end;

	memcpy(o->out + (from - o->off), c->data + (from - bstart),
	       (size_t)(to - from));
	return 0;
}

/* Whole blocks by Range requests: the unit of caching is the block. */
static void load_orig(void *ctx, struct load_item *items, size_t n,
		      uint64_t deadline)
{
	struct orig *o = ctx;
	struct pixsrc *ps = o->ps;
	struct http_req *reqs = calloc(n, sizeof(*reqs));

	if (!reqs) {
		for (size_t i = 0; i < n; i++)
			pixsrc_chunks_done(&ps->chunks, items[i].c, NULL, 0,
					   -ENOMEM, false);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		reqs[i].url = o->url;
		reqs[i].range_off = items[i].idx[0] * PIXSRC_ORIG_BLOCK;
		reqs[i].range_len = orig_block_len(o, items[i].idx[0]);
		reqs[i].max_body = (size_t)reqs[i].range_len;
	}
	ps->tr.fetch(ps->tr.ctx, reqs, n, deadline);
	for (size_t i = 0; i < n; i++) {
		int rc = reqs[i].rc;
		uint8_t *buf = NULL;
		size_t len = (size_t)reqs[i].range_len;

		if (rc == 0 && reqs[i].len != len) {
			char esc[PIXSRC_URL_MAX];

			log_error(LOG_C_ZARR,
				  "\"%s\": %zu bytes where %zu were asked",
				  log_escape(o->url, esc, sizeof(esc)),
				  reqs[i].len, len);
			rc = -EIO;
		}
		if (rc == 0) {
			/* the body buffer becomes the chunk */
			buf = (uint8_t *)reqs[i].body;
			reqs[i].body = NULL;
			pixsrc_chunks_store(&ps->chunks, items[i].c, buf, len,
					    1);
		} else {
			rc = load_errno(rc);
		}
		http_req_release(&reqs[i]);
		pixsrc_chunks_done(&ps->chunks, items[i].c, buf, len, rc,
				   false);
	}
	free(reqs);
}

ssize_t pixsrc_orig_read(struct pixsrc *ps, const char *url, uint64_t size,
			 uint64_t off, size_t len, uint8_t *out,
			 uint64_t deadline)
{
	struct orig o = {.ps = ps, .url = url, .size = size, .out = out};
	struct loader ld = {prep_orig, len_orig, load_orig, use_orig,
			    &o,	       url,	 NULL};
	int rc;

	if (off >= size || len == 0)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	o.ident = orig_ident(url, size, NULL);
	o.b0 = off / PIXSRC_ORIG_BLOCK;
	o.off = off;
	o.len = len;
	rc = pixsrc_chunks_each(
		&ps->chunks, &ld,
		(size_t)((off + len - 1) / PIXSRC_ORIG_BLOCK - o.b0 + 1), false,
		deadline);
	return rc < 0 ? rc : (ssize_t)len;
}

/* ---- lifecycle ---- */

int pixsrc_new(const struct pixsrc_config *cfg, struct pixsrc **out)
{
	struct pixsrc *ps = calloc(1, sizeof(*ps));
	uint64_t keep =
		cfg->prefetch_keep ? cfg->prefetch_keep : cfg->prefetch_bytes;
	int rc;

	if (!ps)
		return -ENOMEM;
	/* the locks first: pixsrc_free() of a half-made one needs them */
	pixsrc_chunks_init(&ps->chunks, cfg->cache, cfg->mem_budget,
			   keep < SIZE_MAX ? (size_t)keep : SIZE_MAX,
			   cfg->absent_ttl_ms);
	pthread_mutex_init(&ps->lease_lock, NULL);
	rc = pixsrc_prefetch_init(&ps->pf, cfg->prefetch_bytes,
				  cfg->job_timeout_ms ? cfg->job_timeout_ms
						      : 30000);
	atomic_init(&ps->have_session, false);
	ps->api = cfg->api;
	ps->tr = cfg->tr;
	ps->s3_scheme = strdup(cfg->s3_scheme ? cfg->s3_scheme : "https");
	if (rc < 0 || !ps->s3_scheme) {
		pixsrc_free(ps);
		return -ENOMEM;
	}
	*out = ps;
	return 0;
}

void pixsrc_free(struct pixsrc *ps)
{
	if (!ps)
		return;
	pixsrc_prefetch_stop(&ps->pf);
	for (unsigned i = 0; i < PIXSRC_LEASES; i++) {
		pixsrc_image_free(ps->lease[i].im);
		free(ps->lease[i].lsid);
	}
	pthread_mutex_destroy(&ps->lease_lock);
	pixsrc_chunks_release(&ps->chunks);
	free(ps->s3_scheme);
	free(ps);
}

void pixsrc_mem_stats(struct pixsrc *ps, struct pixsrc_mem *out)
{
	pixsrc_chunks_stats(&ps->chunks, out);
}
