/* SPDX-License-Identifier: MIT */
/*
 * pixsrc: pixel sources and the read path.
 *
 * A read of the virtual TIFF asks tiff for bytes; tiff asks us for whole
 * rows of one plane (rows_zarr / rows_render). We map the rows to chunks
 * (Zarr chunks, or bands of TIFF_STRIP_ROWS rendered rows), take each
 * from the memory LRU, else the persistent cache, else the network, in one
 * parallel batch per read, and convert samples to the file's type.
 *
 * Chunk table. Entries are keyed by their cache key and refcounted while
 * a reader copies out of them. The first reader to miss creates the entry
 * in the loading state and fetches it without holding ps->lock; readers
 * that want the same chunk meanwhile wait on ps->cond, so N concurrent
 * readers cause one request. Idle entries sit on an LRU list and are
 * dropped when more than mem_budget bytes are idle. A failed load is not
 * kept: the next read tries again. Lock order: ps->lock only.
 */
#include "config.h"

#include "idrfs/pixsrc.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idrfs/codec.h"
#include "idrfs/log.h"
#include "idrfs/tiff.h"
#include "idrfs/zarr.h"

#define PIXSRC_URL_MAX	  2048
#define PIXSRC_META_MAX	  (4u << 20)
#define PIXSRC_PNG_MAX	  (64u << 20)
#define PIXSRC_HBUCKETS	  4096
#define PIXSRC_ORIG_BLOCK (1u << 20)
#define PIXSRC_PF_THREADS 16
#define PIXSRC_PF_QUEUE	  256
/* how far out of order a sequential reader's requests may come: the
 * kernel's read-ahead (4 MiB by default) sends several at once */
#define PIXSRC_SEQ_SLACK (16u << 20)
/* requests below this size, or below two rows, are not streams */
#define PIXSRC_SEQ_MIN (32u << 10)

struct pixsrc_image;

/* Fetch (into the chunk table and cache) the chunks behind some rows. */
struct pf_job {
	struct pixsrc_image *im; /* holds a reference */
	uint64_t plane;
	uint32_t row0, nrows;
};

struct chunk {
	struct cache_key key;
	uint8_t *data;
	size_t len;
	unsigned refs;
	bool loading;
	int err;
	struct chunk *hnext;
	struct chunk *prev, *next; /* idle LRU, when refs == 0 */
};

struct pixsrc {
	struct api *api;
	struct api_transport tr;
	struct cache *cache;
	char *zarr_tmpl;
	char *s3_scheme;
	size_t budget;
	atomic_bool have_session;
	uint64_t prefetch_bytes;
	uint64_t job_timeout_ms;

	/* pf_lock protects the prefetch queue and pf_stop */
	pthread_mutex_t pf_lock;
	pthread_cond_t pf_cond;
	struct pf_job *pf_q; /* ring of PIXSRC_PF_QUEUE jobs */
	size_t pf_head, pf_len;
	bool pf_stop;
	pthread_t pf_threads[PIXSRC_PF_THREADS];
	size_t pf_nthreads;

	/* lock protects the chunk table, the LRU and idle_bytes */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a load finished */
	struct chunk *buckets[PIXSRC_HBUCKETS];
	struct chunk *lru_head, *lru_tail;
	size_t idle_bytes;
};

struct pixsrc_image {
	struct pixsrc *ps;
	enum pixsrc_kind kind;
	int64_t id;
	struct api_pixels px;
	char *url; /* Zarr array (level 0) or the remote base for renders */
	struct zarr_array arr;
	struct zarr_multiscale ms;
	struct api_imgdata idata;
	bool have_idata;
	struct tiff_channel *chans;
	enum tiff_sample_format fmt;
	unsigned bps;
	struct tiff_file *tf;

	atomic_uint refs; /* the opener's, and queued prefetch jobs' */
	atomic_uint_fast64_t next_off; /* where a sequential read goes on */
	atomic_uint streak; /* reads in a row that continued the last */
	atomic_uint_fast64_t seq_start; /* where that run of reads began */
	atomic_uint_fast64_t seq_bytes; /* bytes read in that run */
	atomic_uint_fast64_t pf_until;	/* file offset prefetched up to */
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

/* ---- chunk table ---- */

static size_t key_hash(const struct cache_key *k)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < k->len; i++)
		h = (h ^ k->b[i]) * 1099511628211ull;
	return (size_t)(h % PIXSRC_HBUCKETS);
}

static struct chunk *table_find(struct pixsrc *ps, const struct cache_key *k)
{
	struct chunk *c = ps->buckets[key_hash(k)];

	while (c && (c->key.len != k->len || memcmp(c->key.b, k->b, k->len)))
		c = c->hnext;
	return c;
}

static void lru_unlink(struct pixsrc *ps, struct chunk *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (ps->lru_head == c)
		ps->lru_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else if (ps->lru_tail == c)
		ps->lru_tail = c->prev;
	c->prev = c->next = NULL;
}

static void table_remove(struct pixsrc *ps, struct chunk *c)
{
	struct chunk **pp = &ps->buckets[key_hash(&c->key)];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
}

/* Drop a reference (ps->lock held); idle entries go on the LRU. */
static void chunk_put_locked(struct pixsrc *ps, struct chunk *c)
{
	if (--c->refs > 0)
		return;
	if (c->err || !c->data) {
		table_remove(ps, c);
		free(c->data);
		free(c);
		return;
	}
	c->prev = ps->lru_tail;
	c->next = NULL;
	if (ps->lru_tail)
		ps->lru_tail->next = c;
	else
		ps->lru_head = c;
	ps->lru_tail = c;
	ps->idle_bytes += c->len;
	while (ps->idle_bytes > ps->budget && ps->lru_head) {
		struct chunk *old = ps->lru_head;

		lru_unlink(ps, old);
		ps->idle_bytes -= old->len;
		table_remove(ps, old);
		free(old->data);
		free(old);
	}
}

/*
 * Take references to n chunks. Entries found are shared; entries created
 * here are marked loading and reported in mine[] for the caller to load.
 */
static int chunks_take(struct pixsrc *ps, const struct cache_key *keys,
		       size_t n, struct chunk **out, bool *mine)
{
	int rc = 0;

	pthread_mutex_lock(&ps->lock);
	for (size_t i = 0; i < n; i++) {
		struct chunk *c = table_find(ps, &keys[i]);

		mine[i] = false;
		if (!c) {
			c = calloc(1, sizeof(*c));
			if (!c) {
				out[i] = NULL;
				rc = -ENOMEM;
				continue;
			}
			c->key = keys[i];
			c->loading = true;
			c->hnext = ps->buckets[key_hash(&keys[i])];
			ps->buckets[key_hash(&keys[i])] = c;
			mine[i] = true;
		} else if (c->refs == 0 && !c->loading) {
			lru_unlink(ps, c);
			ps->idle_bytes -= c->len;
		}
		c->refs++;
		out[i] = c;
	}
	pthread_mutex_unlock(&ps->lock);
	return rc;
}

static void chunks_release(struct pixsrc *ps, struct chunk **cs, size_t n)
{
	pthread_mutex_lock(&ps->lock);
	for (size_t i = 0; i < n; i++) {
		if (cs[i])
			chunk_put_locked(ps, cs[i]);
	}
	pthread_mutex_unlock(&ps->lock);
}

/* Publish the result of a load we own (ps->lock not held). */
static void chunk_done(struct pixsrc *ps, struct chunk *c, uint8_t *data,
		       size_t len, int err)
{
	pthread_mutex_lock(&ps->lock);
	c->data = data;
	c->len = len;
	c->err = err;
	c->loading = false;
	pthread_cond_broadcast(&ps->cond);
	pthread_mutex_unlock(&ps->lock);
}

/* Wait for loads other readers own. */
static int chunks_wait(struct pixsrc *ps, struct chunk **cs, size_t n,
		       uint64_t deadline)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline / 1000u),
		.tv_nsec = (long)(deadline % 1000u) * 1000000L,
	};
	int rc = 0;

	pthread_mutex_lock(&ps->lock);
	for (size_t i = 0; i < n && rc == 0; i++) {
		while (cs[i]->loading && rc == 0) {
			if (pthread_cond_timedwait(&ps->cond, &ps->lock, &ts) ==
			    ETIMEDOUT)
				rc = -ETIMEDOUT;
		}
		if (rc == 0 && cs[i]->err)
			rc = cs[i]->err;
	}
	pthread_mutex_unlock(&ps->lock);
	return rc;
}

/* ---- loaders ---- */

struct load_item {
	struct chunk *c;
	char url[PIXSRC_URL_MAX];
	uint64_t idx[ZARR_MAX_DIMS];
};

/* Try the persistent cache; true if the chunk was there. */
static bool load_from_cache(struct pixsrc *ps, struct chunk *c, size_t len)
{
	uint8_t *buf;

	if (!ps->cache)
		return false;
	buf = malloc(len ? len : 1);
	if (!buf)
		return false;
	if (cache_get(ps->cache, &c->key, buf, len) == 0) {
		chunk_done(ps, c, buf, len, 0);
		return true;
	}
	free(buf);
	return false;
}

/* elem: bytes per pixel value, for the cache's byte shuffle */
static void store(struct pixsrc *ps, struct chunk *c, const uint8_t *data,
		  size_t len, unsigned elem)
{
	if (ps->cache)
		cache_put_elems(ps->cache, &c->key, data, len, elem);
}

static void load_zarr(struct pixsrc_image *im, struct load_item *items,
		      size_t n, uint64_t deadline)
{
	struct pixsrc *ps = im->ps;
	size_t len = (size_t)zarr_chunk_bytes(&im->arr);
	struct http_req *reqs = calloc(n, sizeof(*reqs));

	if (!reqs) {
		for (size_t i = 0; i < n; i++)
			chunk_done(ps, items[i].c, NULL, 0, -ENOMEM);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		reqs[i].url = items[i].url;
		/* a stored chunk is at most a little larger than raw */
		reqs[i].max_body = len + len / 8 + 65536;
		reqs[i].nocache = true; /* the chunk cache keeps it, decoded */
	}
	ps->tr.fetch(ps->tr.ctx, reqs, n, deadline);
	for (size_t i = 0; i < n; i++) {
		uint8_t *buf = NULL;
		int rc = reqs[i].rc;

		if (rc == 0 || rc == -ENOENT) {
			buf = malloc(len);
			if (!buf)
				rc = -ENOMEM;
		}
		if (rc == 0) {
			rc = zarr_chunk_decode(&im->arr, reqs[i].body,
					       reqs[i].len, buf);
			if (rc < 0) {
				char esc[PIXSRC_URL_MAX];

				log_error(LOG_C_ZARR,
					  "chunk \"%s\" does not decode (%s)",
					  log_escape(items[i].url, esc,
						     sizeof(esc)),
					  strerror(-rc));
			}
		} else if (rc == -ENOENT) {
			/* an absent chunk holds the fill value */
			zarr_chunk_fill(&im->arr, buf);
			rc = 0;
		}
		if (rc == 0)
			store(ps, items[i].c, buf, len, im->arr.dtype.size);
		else {
			free(buf);
			buf = NULL;
			rc = rc == -ENOMEM || rc == -ETIMEDOUT ? rc : -EIO;
		}
		chunk_done(ps, items[i].c, buf, rc == 0 ? len : 0, rc);
		http_req_release(&reqs[i]);
	}
	free(reqs);
}

static uint32_t band_rows(const struct pixsrc_image *im, uint64_t band)
{
	uint64_t y0 = band * TIFF_STRIP_ROWS;
	uint64_t left = im->px.size_y - y0;

	return (uint32_t)(left < TIFF_STRIP_ROWS ? left : TIFF_STRIP_ROWS);
}

static void load_render(struct pixsrc_image *im, struct load_item *items,
			size_t n, uint64_t deadline)
{
	struct pixsrc *ps = im->ps;
	struct http_req *reqs = calloc(n, sizeof(*reqs));
	bool retried = false;

	if (!reqs) {
		for (size_t i = 0; i < n; i++)
			chunk_done(ps, items[i].c, NULL, 0, -ENOMEM);
		return;
	}
again:
	for (size_t i = 0; i < n; i++) {
		reqs[i].url = items[i].url;
		reqs[i].max_body = PIXSRC_PNG_MAX;
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
		if (rc == 0)
			store(ps, items[i].c, buf, len, 1);
		else {
			free(buf);
			buf = NULL;
			rc = rc == -ENOMEM || rc == -ETIMEDOUT ? rc : -EIO;
		}
		chunk_done(ps, items[i].c, buf, rc == 0 ? len : 0, rc);
		http_req_release(&reqs[i]);
	}
	free(reqs);
}

/* How a kind of chunk is loaded from the network, and its raw length. */
struct loader {
	void (*load)(void *ctx, struct load_item *items, size_t n,
		     uint64_t deadline);
	size_t (*len)(void *ctx, const struct load_item *it);
	void *ctx;
};

/*
 * Get n chunks (keys + load items prepared by the caller), loading the
 * ones nobody has, and wait for the rest. On success the caller holds a
 * reference to each in cs[].
 */
static int chunks_get(struct pixsrc *ps, const struct loader *ld,
		      struct load_item *items, const struct cache_key *keys,
		      size_t n, struct chunk **cs, uint64_t deadline)
{
	bool *mine = calloc(n, sizeof(*mine));
	struct load_item *todo = calloc(n, sizeof(*todo));
	size_t ntodo = 0;
	int rc;

	if (!mine || !todo) {
		free(mine);
		free(todo);
		return -ENOMEM;
	}
	rc = chunks_take(ps, keys, n, cs, mine);
	for (size_t i = 0; i < n; i++) {
		if (!mine[i])
			continue;
		if (load_from_cache(ps, cs[i], ld->len(ld->ctx, &items[i])))
			continue;
		todo[ntodo] = items[i];
		todo[ntodo].c = cs[i];
		ntodo++;
	}
	if (ntodo > 0)
		ld->load(ld->ctx, todo, ntodo, deadline);
	if (rc == 0)
		rc = chunks_wait(ps, cs, n, deadline);
	free(mine);
	free(todo);
	if (rc < 0) {
		chunks_release(ps, cs, n);
		memset(cs, 0, n * sizeof(*cs));
	}
	return rc;
}

static void load_zarr_cb(void *ctx, struct load_item *items, size_t n,
			 uint64_t deadline)
{
	load_zarr(ctx, items, n, deadline);
}

static size_t len_zarr(void *ctx, const struct load_item *it)
{
	struct pixsrc_image *im = ctx;

	(void)it;
	return (size_t)zarr_chunk_bytes(&im->arr);
}

static void load_render_cb(void *ctx, struct load_item *items, size_t n,
			   uint64_t deadline)
{
	load_render(ctx, items, n, deadline);
}

static size_t len_render(void *ctx, const struct load_item *it)
{
	struct pixsrc_image *im = ctx;

	return (size_t)im->px.size_x * band_rows(im, it->idx[2]) * 3;
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

	if (fmt == TIFF_SF_FLOAT) {
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

/* Copy n samples with source stride (in elements) into file samples. */
static void convert(const struct pixsrc_image *im, const uint8_t *src,
		    uint64_t stride, uint8_t *dst, size_t n)
{
	const struct zarr_dtype *dt = &im->arr.dtype;
	bool same = dt->size == im->bps &&
		    ((dt->kind == ZARR_FLOAT) == (im->fmt == TIFF_SF_FLOAT)) &&
		    ((dt->kind == ZARR_INT) == (im->fmt == TIFF_SF_INT)) &&
		    im->px.type != API_PT_INT8;

	if (same && stride == 1) {
		memcpy(dst, src, n * im->bps);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *s = src + i * stride * dt->size;

		if (im->px.type == API_PT_INT8 && dt->size == 1)
			dst[i] = (uint8_t)(s[0] ^ 0x80); /* v + 128 */
		else if (same)
			memcpy(dst + i * im->bps, s, im->bps);
		else
			store_sample(
				dst + i * im->bps,
				load_sample(s, dt) +
					(im->px.type == API_PT_INT8 ? 128 : 0),
				im->fmt, im->bps);
	}
}

/* ---- row callbacks ---- */

struct rd {
	struct pixsrc_image *im;
	uint64_t deadline;
};

/* The chunks under rows row0.. and columns col0.. of a plane, loaded (in
 * one batch) and converted into dst; dst NULL only loads (prefetch). */
static int rows_zarr(void *ctx, uint64_t plane, uint32_t row0, uint32_t nrows,
		     uint32_t col0, uint32_t ncols, uint8_t *dst)
{
	struct rd *rd = ctx;
	struct pixsrc_image *im = rd->im;
	const struct zarr_array *a = &im->arr;
	const int *ax = im->ms.axis;
	uint64_t C = im->px.size_c, Z = im->px.size_z;
	uint64_t v[5] = {plane / (C * Z), plane % C, (plane / C) % Z, 0, 0};
	uint64_t chy = a->chunks[ax[ZARR_Y]], chx = a->chunks[ax[ZARR_X]];
	uint64_t cy0 = row0 / chy, cy1 = (row0 + nrows - 1) / chy;
	uint64_t cx0 = col0 / chx;
	uint64_t gx = ncols ? (col0 + (uint64_t)ncols - 1) / chx - cx0 + 1 : 0;
	size_t n = (size_t)((cy1 - cy0 + 1) * gx);
	struct load_item *items = calloc(n, sizeof(*items));
	struct cache_key *keys = calloc(n, sizeof(*keys));
	struct chunk **cs = calloc(n, sizeof(*cs));
	uint64_t stride[ZARR_MAX_DIMS];
	size_t row_bytes = (size_t)im->px.size_x * im->bps;
	int rc = -ENOMEM;

	if (!items || !keys || !cs)
		goto out;
	stride[a->ndim - 1] = 1;
	for (unsigned d = a->ndim - 1; d > 0; d--)
		stride[d - 1] = stride[d] * a->chunks[d];
	for (size_t i = 0; i < n; i++) {
		uint64_t cy = cy0 + i / gx, cx = cx0 + i % gx;

		v[ZARR_Y] = cy * chy;
		v[ZARR_X] = cx * chx;
		for (unsigned k = 0; k < 5; k++) {
			if (ax[k] >= 0)
				items[i].idx[ax[k]] = v[k] / a->chunks[ax[k]];
		}
		cache_key_chunk(&keys[i], "zarr", im->id, 0, items[i].idx,
				a->ndim);
		memcpy(items[i].url, im->url, strlen(im->url) + 1);
		size_t ul = strlen(items[i].url);

		items[i].url[ul++] = '/';
		rc = zarr_chunk_key(a, items[i].idx, items[i].url + ul,
				    sizeof(items[i].url) - ul);
		if (rc < 0)
			goto out;
	}
	struct loader ld = {load_zarr_cb, len_zarr, im};

	rc = chunks_get(im->ps, &ld, items, keys, n, cs, rd->deadline);
	if (rc < 0)
		goto out;
	for (size_t i = 0; dst && i < n; i++) {
		uint64_t cy = cy0 + i / gx, cx = cx0 + i % gx;
		uint64_t y_lo = cy * chy > row0 ? cy * chy : row0;
		uint64_t y_hi = (cy + 1) * chy < (uint64_t)row0 + nrows
					? (cy + 1) * chy
					: (uint64_t)row0 + nrows;
		uint64_t x0 = cx * chx;
		uint64_t w =
			im->px.size_x - x0 < chx ? im->px.size_x - x0 : chx;
		uint64_t base = 0;

		for (unsigned k = 0; k < 3; k++) {
			if (ax[k] >= 0)
				base += (v[k] % a->chunks[ax[k]]) *
					stride[ax[k]];
		}
		for (uint64_t y = y_lo; y < y_hi; y++) {
			uint64_t off =
				base + (y - cy * chy) * stride[ax[ZARR_Y]];

			convert(im, cs[i]->data + off * a->dtype.size,
				stride[ax[ZARR_X]],
				dst + (y - row0) * row_bytes + x0 * im->bps,
				(size_t)w);
		}
	}
	chunks_release(im->ps, cs, n);
	rc = 0;
out:
	free(items);
	free(keys);
	free(cs);
	return rc;
}

/* Rendered bands are whole rows: the columns asked for do not matter. */
static int rows_render(void *ctx, uint64_t plane, uint32_t row0, uint32_t nrows,
		       uint32_t col0, uint32_t ncols, uint8_t *dst)
{
	struct rd *rd = ctx;

	(void)col0;
	(void)ncols;
	struct pixsrc_image *im = rd->im;
	uint32_t z = (uint32_t)(plane % im->px.size_z);
	uint32_t t = (uint32_t)(plane / im->px.size_z);
	uint64_t b0 = row0 / TIFF_STRIP_ROWS;
	uint64_t b1 = (row0 + nrows - 1) / TIFF_STRIP_ROWS;
	size_t n = (size_t)(b1 - b0 + 1);
	struct load_item *items = calloc(n, sizeof(*items));
	struct cache_key *keys = calloc(n, sizeof(*keys));
	struct chunk **cs = calloc(n, sizeof(*cs));
	size_t row_bytes = (size_t)im->px.size_x * 3;
	int rc = -ENOMEM;

	if (!items || !keys || !cs)
		goto out;
	for (size_t i = 0; i < n; i++) {
		uint64_t band = b0 + i;

		items[i].idx[0] = t;
		items[i].idx[1] = z;
		items[i].idx[2] = band;
		cache_key_chunk(&keys[i], "render", im->id, 0, items[i].idx, 3);
		rc = api_render_url(im->ps->api, &im->idata, z, t,
				    (uint32_t)(band * TIFF_STRIP_ROWS),
				    band_rows(im, band), items[i].url,
				    sizeof(items[i].url));
		if (rc < 0)
			goto out;
	}
	struct loader ld = {load_render_cb, len_render, im};

	rc = chunks_get(im->ps, &ld, items, keys, n, cs, rd->deadline);
	if (rc < 0)
		goto out;
	for (size_t i = 0; dst && i < n; i++) {
		uint64_t y_lo = (b0 + i) * TIFF_STRIP_ROWS;
		uint64_t y_hi = y_lo + band_rows(im, b0 + i);
		uint64_t from = y_lo > row0 ? y_lo : row0;
		uint64_t to = y_hi < (uint64_t)row0 + nrows
				      ? y_hi
				      : (uint64_t)row0 + nrows;

		if (to > from)
			memcpy(dst + (from - row0) * row_bytes,
			       cs[i]->data + (from - y_lo) * row_bytes,
			       (size_t)(to - from) * row_bytes);
	}
	chunks_release(im->ps, cs, n);
	rc = 0;
out:
	free(items);
	free(keys);
	free(cs);
	return rc;
}

/* ---- opening ---- */

enum pixsrc_kind pixsrc_kind_of(const struct pixsrc *ps,
				const struct api_image *img)
{
	return ps->zarr_tmpl || img->zarr_lsid ? PIXSRC_ZARR : PIXSRC_RENDERED;
}

/* The Zarr group URL of an image, without a trailing slash. */
static int zarr_group_url(const struct pixsrc *ps, const struct api_image *img,
			  char *out, size_t outsz)
{
	int n;

	if (ps->zarr_tmpl) {
		const char *p = strstr(ps->zarr_tmpl, "{id}");

		if (p)
			n = snprintf(out, outsz, "%.*s%" PRId64 "%s",
				     (int)(p - ps->zarr_tmpl), ps->zarr_tmpl,
				     img->id, p + 4);
		else
			n = snprintf(out, outsz, "%s", ps->zarr_tmpl);
	} else if (strncmp(img->zarr_lsid, "s3://", 5) == 0) {
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
	if (!im->url)
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

/* Channel names, colours and windows for the TIFF descriptions. */
static int make_channels(struct pixsrc_image *im)
{
	static const uint32_t dflt[] = {0xff0000, 0x00ff00, 0x0000ff,
					0xff00ff, 0x00ffff, 0xffff00};
	size_t n = im->px.size_c;
	double shift = im->px.type == API_PT_INT8 ? 128 : 0;

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

int pixsrc_open(struct pixsrc *ps, const struct api_image *img,
		uint64_t deadline, struct pixsrc_image **out)
{
	struct pixsrc_image *im = calloc(1, sizeof(*im));
	struct tiff_meta m = {0};
	int rc;

	if (!im)
		return -ENOMEM;
	im->ps = ps;
	atomic_init(&im->refs, 1);
	atomic_init(&im->next_off, 0);
	atomic_init(&im->streak, 0);
	atomic_init(&im->seq_start, 0);
	atomic_init(&im->seq_bytes, 0);
	atomic_init(&im->pf_until, 0);
	im->id = img->id;
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
	rc = api_get_imgdata(ps->api, img->id, deadline, &im->idata);
	if (rc == 0) {
		im->have_idata = true;
	} else if (im->kind == PIXSRC_RENDERED) {
		goto fail; /* rendering needs the channel windows */
	} else {
		log_warn(LOG_C_ZARR,
			 "image %" PRId64
			 ": no imgData (%s), default channel colours",
			 img->id, strerror(-rc));
	}
	if (im->kind == PIXSRC_ZARR) {
		rc = open_zarr(ps, im, img, deadline);
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
	m.image_id = img->id;
	m.image_name = img->name;
	m.source = im->url;
	m.phys_x = img->px.phys_x;
	m.phys_y = img->px.phys_y;
	m.phys_z = img->px.phys_z;
	m.time_increment = img->px.time_increment;
	m.nchannels = img->px.size_c;
	m.channels = im->chans;
	rc = tiff_file_new(&m, &im->tf);
	if (rc < 0)
		goto fail;
	*out = im;
	return 0;
fail:
	pixsrc_image_free(im);
	return rc;
}

static void image_destroy(struct pixsrc_image *im)
{
	tiff_file_free(im->tf);
	free(im->chans);
	api_imgdata_release(&im->idata);
	zarr_multiscale_release(&im->ms);
	free(im->url);
	free(im);
}

/* The opener's reference; queued prefetch jobs hold their own. */
void pixsrc_image_free(struct pixsrc_image *im)
{
	if (im && atomic_fetch_sub(&im->refs, 1) == 1)
		image_destroy(im);
}

uint64_t pixsrc_size(const struct pixsrc_image *im)
{
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

/* Queue a prefetch job; a full queue drops it (prefetch is a hint). */
static void pf_enqueue(struct pixsrc *ps, struct pixsrc_image *im,
		       uint64_t plane, uint32_t row0, uint32_t nrows)
{
	pthread_mutex_lock(&ps->pf_lock);
	if (!ps->pf_stop && ps->pf_len < PIXSRC_PF_QUEUE) {
		struct pf_job *j =
			&ps->pf_q[(ps->pf_head + ps->pf_len) % PIXSRC_PF_QUEUE];

		atomic_fetch_add(&im->refs, 1);
		*j = (struct pf_job){im, plane, row0, nrows};
		ps->pf_len++;
		pthread_cond_signal(&ps->pf_cond);
	}
	pthread_mutex_unlock(&ps->pf_lock);
}

static void *pf_worker(void *arg)
{
	struct pixsrc *ps = arg;

	for (;;) {
		struct pf_job j;

		pthread_mutex_lock(&ps->pf_lock);
		while (ps->pf_len == 0 && !ps->pf_stop)
			pthread_cond_wait(&ps->pf_cond, &ps->pf_lock);
		if (ps->pf_len == 0) {
			pthread_mutex_unlock(&ps->pf_lock);
			return NULL;
		}
		j = ps->pf_q[ps->pf_head];
		ps->pf_head = (ps->pf_head + 1) % PIXSRC_PF_QUEUE;
		ps->pf_len--;
		pthread_mutex_unlock(&ps->pf_lock);

		struct rd rd = {.im = j.im,
				.deadline = http_now_ms() + ps->job_timeout_ms};

		if (!ps->pf_stop)
			(j.im->kind == PIXSRC_ZARR ? rows_zarr : rows_render)(
				&rd, j.plane, j.row0, j.nrows, 0,
				j.im->px.size_x, NULL);
		pixsrc_image_free(j.im);
	}
}

/* Rows of one fetch unit: a Zarr chunk row, or a rendered band. */
static uint32_t unit_rows(const struct pixsrc_image *im)
{
	if (im->kind == PIXSRC_ZARR)
		return (uint32_t)im->arr.chunks[im->ms.axis[ZARR_Y]];
	return TIFF_STRIP_ROWS;
}

/*
 * A reader that keeps reading where it stopped gets the next bytes of the
 * file fetched ahead of it, one job per fetch unit (chunk row or band).
 * The window grows with the run, as the kernel's does: twice what the run
 * has read, up to prefetch_bytes, so a reader that stops early wasted
 * little. Only requests of two rows or PIXSRC_SEQ_MIN bytes count: the
 * kernel sends a sequential reader's read-ahead in large requests, while
 * a reader of a tile (a little of every row, in order) or a reader that
 * said POSIX_FADV_RANDOM asks page by page. Random readers never
 * trigger it.
 */
static void prefetch_after(struct pixsrc_image *im, uint64_t off, size_t len)
{
	struct pixsrc *ps = im->ps;
	const struct tiff_layout *l = tiff_file_layout(im->tf);
	uint64_t end = off + len;
	uint64_t expect = atomic_load(&im->next_off);
	uint64_t row_bytes = l->plane_size / im->px.size_y;
	uint64_t data_end = l->d0 + l->planes * l->plane_size;
	uint64_t from, to, unit;

	/* the kernel's read-ahead sends neighbouring reads from several
	 * threads, slightly out of order: near the last end is "in order";
	 * a read that does not go past it (several readers of the same
	 * bytes) is no progress and no evidence either way */
	bool near = off <= expect + PIXSRC_SEQ_SLACK &&
		    off + PIXSRC_SEQ_SLACK >= expect;

	if ((len < PIXSRC_SEQ_MIN && len < 2 * row_bytes) ||
	    (near && end <= expect))
		return;
	while (end > expect &&
	       !atomic_compare_exchange_weak(&im->next_off, &expect, end))
		;
	if (!near) {
		atomic_store(&im->next_off, end);
		atomic_store(&im->streak, 0);
		atomic_store(&im->seq_start, off);
		atomic_store(&im->seq_bytes, len);
		return;
	}
	uint64_t run = atomic_fetch_add(&im->seq_bytes, len) + len;

	if (atomic_fetch_add(&im->streak, 1) < 2 || ps->prefetch_bytes == 0 ||
	    ps->pf_nthreads == 0 || end <= l->d0 || end >= data_end)
		return;
	from = atomic_load(&im->pf_until);
	if (from < end)
		from = end;
	to = end +
	     (2 * run < ps->prefetch_bytes ? 2 * run : ps->prefetch_bytes);
	if (to > data_end)
		to = data_end;
	/* a reader of one plane (tifffile, a job reading a z-slice) gets the
	 * rest of that plane; one that came from the head (cp, dd) or ran
	 * across a plane boundary gets the next planes */
	uint64_t start = atomic_load(&im->seq_start);
	uint64_t cur_plane = (end - 1 - l->d0) / l->plane_size;

	if (start >= l->d0 && (start - l->d0) / l->plane_size == cur_plane) {
		uint64_t plane_end = l->d0 + (cur_plane + 1) * l->plane_size;

		if (to > plane_end)
			to = plane_end;
	}
	if (from < l->d0)
		from = l->d0;
	if (from >= to)
		return;
	atomic_store(&im->pf_until, to);
	/* whole fetch units, from the one holding `from` */
	uint64_t rel = from - l->d0;
	uint64_t plane = rel / l->plane_size;
	uint32_t y = (uint32_t)((rel % l->plane_size) / row_bytes);

	unit = unit_rows(im);
	y -= y % (uint32_t)unit;
	while (plane < l->planes &&
	       l->d0 + plane * l->plane_size + (uint64_t)y * row_bytes < to) {
		uint32_t n = (uint32_t)unit;

		if (y + n > im->px.size_y)
			n = im->px.size_y - y;
		pf_enqueue(ps, im, plane, y, n);
		y += (uint32_t)unit;
		if (y >= im->px.size_y) {
			y = 0;
			plane++;
		}
	}
}

ssize_t pixsrc_read(struct pixsrc_image *im, uint64_t off, size_t len,
		    uint8_t *out, uint64_t deadline)
{
	struct rd rd = {.im = im, .deadline = deadline};
	ssize_t n = tiff_file_read(
		im->tf, off, len, out,
		im->kind == PIXSRC_ZARR ? rows_zarr : rows_render, &rd);

	if (n > 0)
		prefetch_after(im, off, (size_t)n);
	return n;
}

/* ---- original files ---- */

struct orig {
	struct pixsrc *ps;
	const char *url;
	uint64_t size;
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

/* Whole blocks by Range requests: the unit of caching is the block. */
static void load_orig(void *ctx, struct load_item *items, size_t n,
		      uint64_t deadline)
{
	struct orig *o = ctx;
	struct pixsrc *ps = o->ps;
	struct http_req *reqs = calloc(n, sizeof(*reqs));

	if (!reqs) {
		for (size_t i = 0; i < n; i++)
			chunk_done(ps, items[i].c, NULL, 0, -ENOMEM);
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
			store(ps, items[i].c, buf, len, 1);
		} else {
			rc = rc == -ENOMEM || rc == -ETIMEDOUT ? rc : -EIO;
		}
		chunk_done(ps, items[i].c, buf, rc == 0 ? len : 0, rc);
		http_req_release(&reqs[i]);
	}
	free(reqs);
}

ssize_t pixsrc_orig_read(struct pixsrc *ps, const char *url, uint64_t size,
			 uint64_t off, size_t len, uint8_t *out,
			 uint64_t deadline)
{
	struct orig o = {.ps = ps, .url = url, .size = size};
	struct loader ld = {load_orig, len_orig, &o};
	uint64_t b0, b1, h = 1469598103934665603ull;
	struct load_item *items = NULL;
	struct cache_key *keys = NULL;
	struct chunk **cs = NULL;
	size_t n;
	ssize_t rc = -ENOMEM;

	if (off >= size || len == 0)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	/* the URL names the file: its hash keys the blocks */
	for (const char *p = url; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	b0 = off / PIXSRC_ORIG_BLOCK;
	b1 = (off + len - 1) / PIXSRC_ORIG_BLOCK;
	n = (size_t)(b1 - b0 + 1);
	items = calloc(n, sizeof(*items));
	keys = calloc(n, sizeof(*keys));
	cs = calloc(n, sizeof(*cs));
	if (!items || !keys || !cs)
		goto out;
	for (size_t i = 0; i < n; i++) {
		uint64_t k[2] = {h, b0 + i};

		items[i].idx[0] = b0 + i;
		cache_key_chunk(&keys[i], "orig", 0, 0, k, 2);
	}
	rc = chunks_get(ps, &ld, items, keys, n, cs, deadline);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		uint64_t bstart = (b0 + i) * PIXSRC_ORIG_BLOCK;
		uint64_t from = off > bstart ? off : bstart;
		uint64_t to = bstart + cs[i]->len < off + len
				      ? bstart + cs[i]->len
				      : off + len;

		memcpy(out + (from - off), cs[i]->data + (from - bstart),
		       (size_t)(to - from));
	}
	chunks_release(ps, cs, n);
	rc = (ssize_t)len;
out:
	free(items);
	free(keys);
	free(cs);
	return rc;
}

/* ---- lifecycle ---- */

int pixsrc_new(const struct pixsrc_config *cfg, struct pixsrc **out)
{
	struct pixsrc *ps = calloc(1, sizeof(*ps));
	pthread_condattr_t ca;

	if (!ps)
		return -ENOMEM;
	ps->api = cfg->api;
	ps->tr = cfg->tr;
	ps->cache = cfg->cache;
	ps->budget = cfg->mem_budget;
	ps->s3_scheme = strdup(cfg->s3_scheme ? cfg->s3_scheme : "https");
	ps->zarr_tmpl = cfg->zarr_url ? strdup(cfg->zarr_url) : NULL;
	if (!ps->s3_scheme || (cfg->zarr_url && !ps->zarr_tmpl)) {
		pixsrc_free(ps);
		return -ENOMEM;
	}
	pthread_mutex_init(&ps->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ps->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&ps->pf_lock, NULL);
	pthread_cond_init(&ps->pf_cond, NULL);
	ps->prefetch_bytes = cfg->prefetch_bytes;
	ps->job_timeout_ms = cfg->job_timeout_ms ? cfg->job_timeout_ms : 30000;
	ps->pf_q = calloc(PIXSRC_PF_QUEUE, sizeof(*ps->pf_q));
	if (!ps->pf_q) {
		pixsrc_free(ps);
		return -ENOMEM;
	}
	/* without prefetch threads, reads still work; prefetch is off */
	for (size_t i = 0; cfg->prefetch_bytes && i < PIXSRC_PF_THREADS; i++) {
		if (pthread_create(&ps->pf_threads[i], NULL, pf_worker, ps) !=
		    0)
			break;
		ps->pf_nthreads++;
	}
	*out = ps;
	return 0;
}

void pixsrc_free(struct pixsrc *ps)
{
	if (!ps)
		return;
	/* stop the prefetchers: queued jobs are dropped (their images put) */
	pthread_mutex_lock(&ps->pf_lock);
	ps->pf_stop = true;
	while (ps->pf_len > 0) {
		pixsrc_image_free(ps->pf_q[ps->pf_head].im);
		ps->pf_head = (ps->pf_head + 1) % PIXSRC_PF_QUEUE;
		ps->pf_len--;
	}
	pthread_cond_broadcast(&ps->pf_cond);
	pthread_mutex_unlock(&ps->pf_lock);
	for (size_t i = 0; i < ps->pf_nthreads; i++)
		pthread_join(ps->pf_threads[i], NULL);
	free(ps->pf_q);
	pthread_mutex_destroy(&ps->pf_lock);
	pthread_cond_destroy(&ps->pf_cond);
	for (size_t i = 0; i < PIXSRC_HBUCKETS; i++) {
		struct chunk *c = ps->buckets[i];

		while (c) {
			struct chunk *next = c->hnext;

			free(c->data);
			free(c);
			c = next;
		}
	}
	pthread_mutex_destroy(&ps->lock);
	pthread_cond_destroy(&ps->cond);
	free(ps->s3_scheme);
	free(ps->zarr_tmpl);
	free(ps);
}
