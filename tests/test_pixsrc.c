/* SPDX-License-Identifier: MIT */
/* Unit tests of pixsrc with a fake transport: bit-exact rows through the
 * TIFF, one request for concurrent misses of one chunk, read-ahead only
 * for sequential readers, failures that are not cached, a memory budget
 * that hostile chunk shapes cannot break, waits bounded by the deadline,
 * and chunk keys that carry the array's identity. */
#include "config.h"

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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "idrfs/cache.h"
#include "idrfs/http.h"
#include "idrfs/log.h"
#include "idrfs/pixsrc.h"
#include "idrfs/tiff.h"

#define W 96 /* 3 x 2 chunks of 32 x 32, 4 planes (z) */
#define H 64
#define Z 4

/* A v2 .zarray of uint8 in "/"-separated chunk keys. */
#define ZARRAY(shape, chunks, compressor, fill)                                \
	"{\"zarr_format\": 2, \"shape\": [" shape "], \"chunks\": [" chunks    \
	"], \"dtype\": \"|u1\", \"compressor\": " compressor                   \
	", \"fill_value\": " fill ", \"order\": \"C\", \"filters\": null, "    \
	"\"dimension_separator\": \"/\"}"
#define ZARRAY_DEFAULT ZARRAY("4, 64, 96", "1, 32, 32", "null", "0")

struct fake {
	pthread_mutex_t lock;
	unsigned chunk_requests;
	unsigned per_chunk[Z][2][4];
	unsigned orig_requests;
	unsigned zattrs_requests;
	unsigned delay_ms;
	int fail;	    /* chunk answers fail with this */
	int idata_fail;	    /* imgData answers fail with this */
	bool absent;	    /* every chunk answers 404 */
	int body_delta;	    /* bytes added to (or cut from) chunk bodies */
	bool garbage;	    /* chunk bodies are noise */
	unsigned gen;	    /* added to every pixel value (another source) */
	unsigned ch_y;	    /* chunk shape of the served array (default */
	unsigned ch_x;	    /* 32 x 32) */
	const char *zarray; /* NULL: ZARRAY_DEFAULT */
	size_t chunk_len;   /* > 0: any chunk is this many bytes of 7 */
};

static uint8_t truth(unsigned z, unsigned y, unsigned x)
{
	return (uint8_t)(x * 7 + y * 13 + z * 61);
}

static char *dup_str(const char *s)
{
	return strdup(s);
}

/* A chunk body of the served array, as the fake's settings make it. */
static void chunk_body(struct fake *f, struct http_req *r, unsigned z,
		       unsigned cy, unsigned cx)
{
	unsigned chy = f->ch_y ? f->ch_y : 32, chx = f->ch_x ? f->ch_x : 32;
	size_t len = (size_t)chy * chx;
	uint8_t *b;

	if ((int)len + f->body_delta <= 0)
		len = 1;
	else
		len = (size_t)((int)len + f->body_delta);
	b = malloc(len);
	for (size_t i = 0; i < len; i++) {
		unsigned y = cy * chy + (unsigned)(i / chx);
		unsigned x = cx * chx + (unsigned)(i % chx);

		b[i] = f->garbage ? (uint8_t)(i * 2654435761u >> 13)
				  : (uint8_t)(truth(z, y, x) + f->gen);
	}
	r->body = (char *)b;
	r->len = len;
}

/* Range reads of an original file: byte i is (i / 7 + gen). */
static void orig_body(struct fake *f, struct http_req *r)
{
	uint8_t *b = malloc(r->range_len);

	for (uint64_t i = 0; i < r->range_len; i++)
		b[i] = (uint8_t)((r->range_off + i) / 7 + f->gen);
	r->body = (char *)b;
	r->len = (size_t)r->range_len;
	f->orig_requests++;
}

static int fake_fetch(void *ctx, struct http_req *reqs, size_t n,
		      uint64_t deadline)
{
	struct fake *f = ctx;

	(void)deadline;
	for (size_t i = 0; i < n; i++) {
		const char *u = reqs[i].url;
		const char *c0 = strstr(u, "/0/");
		unsigned z, cy, cx;

		reqs[i].rc = 0;
		reqs[i].content_type[0] = '\0';
		reqs[i].body = NULL;
		if (strstr(u, "/imgData/") && f->idata_fail) {
			reqs[i].rc = f->idata_fail;
		} else if (strstr(u, "/imgData/")) {
			reqs[i].body = dup_str(
				"{\"id\": 1, \"meta\": {\"imageName\": \"x\", "
				"\"pixelsType\": \"uint8\"}, \"size\": "
				"{\"width\": "
				"96, \"height\": 64, \"z\": 4, \"t\": 1, "
				"\"c\": 1}, "
				"\"channels\": [{\"label\": \"DAPI\", "
				"\"color\": "
				"\"0000FF\", \"window\": {\"min\": 0, \"max\": "
				"255, "
				"\"start\": 0, \"end\": 255}, \"active\": "
				"true}]}");
		} else if (strstr(u, "/orig/")) {
			pthread_mutex_lock(&f->lock);
			orig_body(f, &reqs[i]);
			pthread_mutex_unlock(&f->lock);
			continue;
		} else if (strstr(u, "/.zattrs")) {
			pthread_mutex_lock(&f->lock);
			f->zattrs_requests++;
			pthread_mutex_unlock(&f->lock);
			reqs[i].body = dup_str(
				"{\"multiscales\": [{\"version\": \"0.4\", "
				"\"axes\": [{\"name\": \"z\"}, {\"name\": "
				"\"y\"}, "
				"{\"name\": \"x\"}], \"datasets\": [{\"path\": "
				"\"0\", \"coordinateTransformations\": "
				"[{\"type\": "
				"\"scale\", \"scale\": [1, 1, 1]}]}]}]}");
		} else if (strstr(u, "/zarr.json")) {
			reqs[i].rc = -ENOENT;
		} else if (strstr(u, "/0/.zarray")) {
			reqs[i].body =
				dup_str(f->zarray ? f->zarray : ZARRAY_DEFAULT);
		} else if (c0 && sscanf(c0, "/0/%u/%u/%u", &z, &cy, &cx) == 3) {
			pthread_mutex_lock(&f->lock);
			f->chunk_requests++;
			if (z < Z && cy < 2 && cx < 4)
				f->per_chunk[z][cy][cx]++;
			pthread_mutex_unlock(&f->lock);
			if (f->delay_ms)
				usleep(f->delay_ms * 1000);
			if (f->fail) {
				reqs[i].rc = f->fail;
			} else if (f->absent) {
				reqs[i].rc = -ENOENT;
			} else if (f->chunk_len) {
				reqs[i].body = malloc(f->chunk_len);
				memset(reqs[i].body, 7, f->chunk_len);
				reqs[i].len = f->chunk_len;
			} else {
				chunk_body(f, &reqs[i], z, cy, cx);
			}
			continue;
		} else {
			reqs[i].rc = -ENOENT;
		}
		if (reqs[i].body)
			reqs[i].len = strlen(reqs[i].body);
	}
	return 0;
}

struct fx {
	struct fake fake;
	struct api *api;
	struct pixsrc *ps;
	struct pixsrc_image *im;
	uint64_t d0;
	/* what remake() builds from */
	struct pixsrc_config pc;
	struct api_image img;
	struct cache *cache;
	char dir[64]; /* the cache's directory, or "" */
};

/* (Re)make the pixel source and open the image: a new daemon. */
static void remake(struct fx *f)
{
	struct tiff_geom g = {.x = f->img.px.size_x,
			      .y = f->img.px.size_y,
			      .c = 1,
			      .z = f->img.px.size_z,
			      .t = 1,
			      .bps = 1,
			      .samples = 1};
	struct tiff_layout l;

	pixsrc_image_free(f->im);
	pixsrc_free(f->ps);
	f->im = NULL;
	assert_int_equal(pixsrc_new(&f->pc, &f->ps), 0);
	assert_int_equal(pixsrc_open(f->ps, &f->img, UINT64_MAX / 2, &f->im),
			 0);
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_int_equal(pixsrc_size(f->im), l.size);
	f->d0 = l.d0;
}

/* A persistent cache under f->dir for the next remake(). */
static void use_cache(struct fx *f)
{
	struct cache_config cc = {.remote = "http://fake/",
				  .max_bytes = 64u << 20};

	snprintf(f->dir, sizeof(f->dir), "/tmp/idrfs-test-pixsrc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	cc.dir = f->dir;
	assert_int_equal(cache_open(&cc, &f->cache), 0);
	f->pc.cache = f->cache;
}

static int setup_pf(void **state, uint64_t prefetch)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct api_transport tr = {.fetch = fake_fetch};

	pthread_mutex_init(&f->fake.lock, NULL);
	tr.ctx = &f->fake;
	assert_int_equal(api_new("http://fake", &tr, &f->api), 0);
	f->pc = (struct pixsrc_config){.api = f->api,
				       .tr = tr,
				       .mem_budget = 1 << 20,
				       .prefetch_bytes = prefetch,
				       .job_timeout_ms = 5000};
	f->img = (struct api_image){
		.id = 1,
		.name = (char *)"x",
		.has_pixels = true,
		.px = {.size_x = W,
		       .size_y = H,
		       .size_z = Z,
		       .size_c = 1,
		       .size_t_ = 1,
		       .type = API_PT_UINT8},
		.zarr_lsid = (char *)"s3://h/b/x.zarr?anonymous=true",
	};
	remake(f);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_pf(state, 0);
}

static int setup_prefetch(void **state)
{
	return setup_pf(state, 1 << 20);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	pixsrc_image_free(f->im);
	pixsrc_free(f->ps);
	api_free(f->api);
	cache_close(f->cache);
	if (f->dir[0]) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
		assert_int_equal(system(cmd), 0);
	}
	pthread_mutex_destroy(&f->fake.lock);
	free(f);
	return 0;
}

static void test_pixsrc_rows_exact(void **state)
{
	struct fx *f = *state;
	uint8_t buf[W * H * Z];

	/* every pixel of every plane, as the source has it */
	assert_int_equal(
		pixsrc_read(f->im, f->d0, sizeof(buf), buf, UINT64_MAX / 2),
		(ssize_t)sizeof(buf));
	for (unsigned z = 0; z < Z; z++)
		for (unsigned y = 0; y < H; y++)
			for (unsigned x = 0; x < W; x++)
				assert_int_equal(buf[(z * H + y) * W + x],
						 truth(z, y, x));
	/* 6 chunks per plane, each once */
	assert_int_equal(f->fake.chunk_requests, 6 * Z);
	/* read again: no request */
	assert_int_equal(
		pixsrc_read(f->im, f->d0 + 5, 100, buf, UINT64_MAX / 2), 100);
	assert_int_equal(f->fake.chunk_requests, 6 * Z);
}

struct reader {
	struct fx *f;
	uint8_t buf[40];
	ssize_t n;
};

static void *read_one(void *arg)
{
	struct reader *r = arg;

	r->n = pixsrc_read(r->f->im, r->f->d0 + W * 2 + 3, sizeof(r->buf),
			   r->buf, UINT64_MAX / 2);
	return NULL;
}

static void test_pixsrc_coalesce(void **state)
{
	struct fx *f = *state;
	pthread_t th[8];
	struct reader r[8];

	/* 8 readers of the same 40 bytes of row 2 (columns 3..42) while the
	 * server is slow: the 2 chunks under them, one request each */
	f->fake.delay_ms = 200;
	for (int i = 0; i < 8; i++) {
		r[i].f = f;
		pthread_create(&th[i], NULL, read_one, &r[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].n, 40);
		for (unsigned k = 0; k < 40; k++)
			assert_int_equal(r[i].buf[k], truth(0, 2, 3 + k));
	}
	assert_int_equal(f->fake.per_chunk[0][0][0], 1);
	assert_int_equal(f->fake.per_chunk[0][0][1], 1);
	assert_int_equal(f->fake.per_chunk[0][0][2], 0);
	assert_int_equal(f->fake.chunk_requests, 2);
}

static void test_pixsrc_failure_not_cached(void **state)
{
	struct fx *f = *state;
	uint8_t buf[64];

	/* a chunk that cannot be fetched: the read fails with EIO ... */
	f->fake.fail = -EBADMSG;
	assert_int_equal(
		pixsrc_read(f->im, f->d0, sizeof(buf), buf, UINT64_MAX / 2),
		-EIO);
	/* ... a read right after it (the kernel retrying its read-ahead
	 * page by page) fails at once, without a request ... */
	f->fake.fail = 0;
	assert_int_equal(
		pixsrc_read(f->im, f->d0, sizeof(buf), buf, UINT64_MAX / 2),
		-EIO);
	assert_int_equal(f->fake.per_chunk[0][0][0], 1);
	/* ... and once the hold is over it is tried again, not remembered */
	usleep((PIXSRC_FAIL_HOLD_MS + 20) * 1000);
	assert_int_equal(
		pixsrc_read(f->im, f->d0, sizeof(buf), buf, UINT64_MAX / 2),
		(ssize_t)sizeof(buf));
	assert_int_equal(f->fake.per_chunk[0][0][0], 2);
	assert_int_equal(buf[10], truth(0, 0, 10));
}

/* A transient imgData failure fails the open (its header would carry
 * default colours into the page cache); the server saying there is no
 * imgData gives the defaults. */
static void test_pixsrc_imgdata_failure(void **state)
{
	struct fx *f = *state;
	struct pixsrc_image *im = NULL;
	size_t n = (size_t)f->d0; /* the header: all before pixels */
	uint8_t *with = malloc(n), *dflt = malloc(n);

	assert_int_equal(pixsrc_read(f->im, 0, n, with, UINT64_MAX / 2),
			 (ssize_t)n);
	f->fake.idata_fail = -EIO;
	assert_int_equal(pixsrc_open(f->ps, &f->img, UINT64_MAX / 2, &im),
			 -EIO);
	assert_null(im);
	f->fake.idata_fail = -EPROTO;
	assert_int_equal(pixsrc_open(f->ps, &f->img, UINT64_MAX / 2, &im),
			 -EPROTO);
	f->fake.idata_fail = -ENOENT;
	assert_int_equal(pixsrc_open(f->ps, &f->img, UINT64_MAX / 2, &im), 0);
	assert_int_equal(pixsrc_read(im, 0, n, dflt, UINT64_MAX / 2),
			 (ssize_t)n);
	pixsrc_image_free(im);
	im = NULL;
	/* the defaults are another header: white, not DAPI's blue */
	assert_memory_not_equal(with, dflt, n);
	f->fake.idata_fail = 0;
	assert_int_equal(pixsrc_open(f->ps, &f->img, UINT64_MAX / 2, &im), 0);
	assert_int_equal(pixsrc_read(im, 0, n, dflt, UINT64_MAX / 2),
			 (ssize_t)n);
	assert_memory_equal(with, dflt, n);
	pixsrc_image_free(im);
	free(with);
	free(dflt);
}

/* Wait until the image's read-ahead is done (no prefetch job queued or
 * running: counts are final, however slow the machine), at most 30 s. */
static unsigned settle(struct fx *f)
{
	unsigned n;

	for (int i = 0; i < 3000 && pixsrc_image_jobs(f->im) > 0; i++)
		usleep(10000);
	assert_int_equal(pixsrc_image_jobs(f->im), 0);
	pthread_mutex_lock(&f->fake.lock);
	n = f->fake.chunk_requests;
	pthread_mutex_unlock(&f->fake.lock);
	return n;
}

static void test_pixsrc_prefetch_sequential(void **state)
{
	struct fx *f = *state;
	uint8_t buf[4096];
	uint64_t off = 0;

	/* a reader from the head on, in order (cp, dd): once it reaches the
	 * pixels, the next planes are fetched before it asks */
	for (int i = 0; i < (int)(f->d0 / sizeof(buf)) + 2; i++) {
		assert_int_equal(pixsrc_read(f->im, off, sizeof(buf), buf,
					     UINT64_MAX / 2),
				 (ssize_t)sizeof(buf));
		off += sizeof(buf);
	}
	/* only the first rows of plane 0 were read (its first chunk row,
	 * 3 chunks), yet the read-ahead fetched further, each chunk once.
	 * All 24 fit the 1 MiB window, but prefetch is a hint: a job past
	 * its deadline on a loaded machine is dropped, so not all 24 are
	 * asserted */
	unsigned n = settle(f);

	assert_true(n > 3 && n <= 6 * Z);
	for (unsigned z = 0; z < Z; z++) {
		for (unsigned y = 0; y < 2; y++) {
			for (unsigned x = 0; x < 3; x++)
				assert_true(f->fake.per_chunk[z][y][x] <= 1);
		}
	}
}

static void test_pixsrc_prefetch_random(void **state)
{
	struct fx *f = *state;
	uint8_t buf[16];
	static const unsigned at[][2] = {{3, 40}, {0, 5},  {2, 63}, {1, 20},
					 {3, 1},  {0, 50}, {2, 0}};

	/* reads jumping between planes: exactly the chunks they touch (16
	 * bytes of a row: the one chunk under them) */
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		uint64_t o = f->d0 + ((uint64_t)at[i][0] * H + at[i][1]) * W;

		assert_int_equal(
			pixsrc_read(f->im, o, sizeof(buf), buf, UINT64_MAX / 2),
			(ssize_t)sizeof(buf));
	}
	assert_int_equal(settle(f), 7);
	assert_int_equal(f->fake.per_chunk[3][1][0], 1);
	assert_int_equal(f->fake.per_chunk[3][1][1], 0);
}

static void test_pixsrc_tile_reader(void **state)
{
	struct fx *f = *state;
	uint8_t buf[16];

	/* a reader of a tile: 16 bytes of each of rows 10..49 of plane 1, in
	 * order, as tifffile reads a region of a strip TIFF. It moves
	 * forward but is no stream: exactly the 2 chunks under the tile,
	 * nothing fetched ahead */
	for (unsigned y = 10; y < 50; y++) {
		uint64_t o = f->d0 + ((uint64_t)1 * H + y) * W + 40;

		assert_int_equal(
			pixsrc_read(f->im, o, sizeof(buf), buf, UINT64_MAX / 2),
			(ssize_t)sizeof(buf));
		assert_int_equal(buf[0], truth(1, y, 40));
	}
	assert_int_equal(settle(f), 2);
	assert_int_equal(f->fake.per_chunk[1][0][1], 1);
	assert_int_equal(f->fake.per_chunk[1][1][1], 1);
}

/* ---- the .ome.tif's read-ahead ---- */

/* Z planes of 2048 x 64 in chunks of 32 x 512: the .ome.tif has tiles of
 * 1024 x 64, two per plane (each over 2 x 2 chunks), and a level 1 the
 * source lacks (zeros). */
#define OME_W 2048
static int setup_ome(void **state)
{
	struct fx *f;

	setup_prefetch(state);
	f = *state;
	f->fake.ch_x = 512;
	f->fake.zarray = ZARRAY("4, 64, 2048", "1, 32, 512", "null", "0");
	f->img.px.size_x = OME_W;
	pixsrc_image_free(f->im);
	f->im = NULL;
	assert_int_equal(
		pixsrc_open_ome(f->ps, &f->img, UINT64_MAX / 2, &f->im), 0);
	pthread_mutex_lock(&f->fake.lock);
	f->fake.chunk_requests = 0;
	memset(f->fake.per_chunk, 0, sizeof(f->fake.per_chunk));
	pthread_mutex_unlock(&f->fake.lock);
	return 0;
}

static void ome_layout(const struct fx *f, struct tiff_ome_layout *l)
{
	struct tiff_ome_geom g = {.x = OME_W,
				  .y = H,
				  .c = 1,
				  .z = Z,
				  .t = 1,
				  .bps = 1,
				  .format = TIFF_SF_UINT};

	assert_int_equal(tiff_ome_layout_compute(&g, l), 0);
	assert_int_equal(pixsrc_size(f->im), l->size);
	assert_int_equal(l->ntx[0], 2);
	assert_int_equal(l->nty[0], 1);
}

/* Read the tile (plane z, tile column tx) of level 0 in pieces of @p step,
 * in order, and check its pixels. */
static void read_ome_tile(struct fx *f, const struct tiff_ome_layout *l,
			  unsigned z, unsigned tx, size_t step)
{
	uint64_t at = l->d0 + z * l->plane_bytes + tx * l->tile_bytes;
	uint8_t *buf = malloc(l->tile_bytes);

	for (uint64_t o = 0; o < l->tile_bytes; o += step)
		assert_int_equal(pixsrc_read(f->im, at + o, step, buf + o,
					     UINT64_MAX / 2),
				 (ssize_t)step);
	for (unsigned y = 0; y < H; y += 7) {
		for (unsigned x = 0; x < l->tile_w; x += 97)
			assert_int_equal(buf[y * l->tile_w + x],
					 truth(z, y, tx * l->tile_w + x));
	}
	free(buf);
}

static void test_pixsrc_ome_prefetch_stream(void **state)
{
	struct fx *f = *state;
	struct tiff_ome_layout l;
	uint8_t buf[64 << 10];
	uint64_t off = 0;

	/* a reader from the head on, in order (cp, rsync): planes 0 and 1
	 * read (16 chunks), and once the run is longer than two tile rows
	 * the next planes are fetched ahead of it, each chunk once (not
	 * all: a job past its deadline on a loaded machine is dropped) */
	ome_layout(f, &l);
	while (off < l.d0 + 2 * l.plane_bytes) {
		size_t len = l.d0 + 2 * l.plane_bytes - off < sizeof(buf)
				     ? (size_t)(l.d0 + 2 * l.plane_bytes - off)
				     : sizeof(buf);

		assert_int_equal(
			pixsrc_read(f->im, off, len, buf, UINT64_MAX / 2),
			(ssize_t)len);
		off += len;
	}
	unsigned n = settle(f);

	assert_true(n > 16 && n <= 8 * Z);
	for (unsigned z = 0; z < Z; z++) {
		for (unsigned y = 0; y < 2; y++) {
			for (unsigned x = 0; x < 4; x++)
				assert_true(f->fake.per_chunk[z][y][x] <=
					    (z < 2 ? 1 : n > 16));
		}
	}
	for (unsigned y = 0; y < 2; y++) {
		for (unsigned x = 0; x < 4; x++) {
			assert_int_equal(f->fake.per_chunk[0][y][x], 1);
			assert_int_equal(f->fake.per_chunk[1][y][x], 1);
		}
	}
}

static void test_pixsrc_ome_tile_reader(void **state)
{
	struct fx *f = *state;
	struct tiff_ome_layout l;

	/* a tile reader (tifffile's zarr store, napari): both tiles of plane
	 * 2, then the first of plane 3, each whole and in order, in 16 KiB
	 * pieces: nearly a run, but of no more than two tile rows. Exactly
	 * the 12 chunks under the three tiles, nothing fetched ahead */
	ome_layout(f, &l);
	read_ome_tile(f, &l, 2, 0, 16 << 10);
	read_ome_tile(f, &l, 2, 1, 16 << 10);
	read_ome_tile(f, &l, 3, 0, 16 << 10);
	assert_int_equal(settle(f), 12);
	assert_int_equal(f->fake.per_chunk[3][1][1], 1);
	assert_int_equal(f->fake.per_chunk[3][0][2], 0);
	assert_int_equal(f->fake.per_chunk[0][0][0], 0);
}

static void test_pixsrc_ome_names_source(void **state)
{
	struct fx *f = *state;
	struct tiff_ome_layout l;
	char *head;

	/* the OME-XML's Description names the Zarr array, as the .tif's
	 * Info does */
	ome_layout(f, &l);
	head = calloc(1, l.d0 + 1);
	assert_int_equal(
		pixsrc_read(f->im, 0, l.d0, (uint8_t *)head, UINT64_MAX / 2),
		(ssize_t)l.d0);
	assert_non_null(memmem(head, l.d0, "; source: https://h/b/x.zarr/0<",
			       strlen("; source: https://h/b/x.zarr/0<")));
	free(head);
}

/* ---- the zarr/ view's leased sources ---- */

static unsigned zattrs_requests(struct fx *f)
{
	unsigned n;

	pthread_mutex_lock(&f->fake.lock);
	n = f->fake.zattrs_requests;
	pthread_mutex_unlock(&f->fake.lock);
	return n;
}

static void test_pixsrc_zview_lease(void **state)
{
	struct fx *f = *state;
	struct pixsrc_image *a = NULL, *b = NULL, *c = NULL;
	uint64_t idx[5] = {0, 0, 1, 1, 2};
	uint8_t buf[32 * 32];
	unsigned n0 = zattrs_requests(f);

	/* zarr-python opens, reads and closes each chunk file: the source,
	 * let go by its last file, is opened again from its lease, with no
	 * request (no metadata cache here: an open would ask again) */
	assert_int_equal(pixsrc_open_zview(f->ps, &f->img, UINT64_MAX / 2, &a),
			 0);
	assert_int_equal(zattrs_requests(f), n0 + 1);
	pixsrc_image_free(a);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(
			pixsrc_open_zview(f->ps, &f->img, UINT64_MAX / 2, &b),
			0);
		assert_int_equal(pixsrc_zview_read(b, 0, idx, 0, sizeof(buf),
						   buf, UINT64_MAX / 2),
				 (ssize_t)sizeof(buf));
		assert_int_equal(buf[5 * 32 + 7], truth(1, 32 + 5, 64 + 7));
		pixsrc_image_free(b);
	}
	assert_int_equal(zattrs_requests(f), n0 + 1);
	/* another Zarr URL for the image is another source */
	f->img.zarr_lsid = (char *)"s3://h/b/other.zarr?anonymous=true";
	assert_int_equal(pixsrc_open_zview(f->ps, &f->img, UINT64_MAX / 2, &c),
			 0);
	assert_int_equal(zattrs_requests(f), n0 + 2);
	pixsrc_image_free(c);
}

/* ---- memory budget ---- */

/* 1 x 16384 x 8192 uint8 in chunks of 16384 x 16 (256 KiB): one row
 * needs all 512 chunks of the plane. */
#define TALL_X	    8192
#define TALL_Y	    16384
#define TALL_ZARRAY ZARRAY("1, 16384, 8192", "1, 16384, 16", "null", "5")

/* The peak resident size of this process (VmHWM), in bytes; 0 if the
 * kernel does not say. */
static size_t peak_rss(void)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long kb = 0;

	while (fp && fgets(line, sizeof(line), fp)) {
		if (sscanf(line, "VmHWM: %lu kB", &kb) == 1)
			break;
	}
	if (fp)
		fclose(fp);
	return (size_t)kb * 1024;
}

/* Start the peak over from the resident size now (Linux clear_refs 5),
 * so earlier tests' peaks do not hide this one's. */
static void reset_peak(void)
{
	FILE *fp = fopen("/proc/self/clear_refs", "w");

	if (fp) {
		fputs("5", fp);
		fclose(fp);
	}
}

/* Under a sanitizer or valgrind (own allocator, quarantine, shadow
 * memory) the resident size says nothing about ours. */
static bool rss_meaningful(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return false;
#else
	const char *p = getenv("LD_PRELOAD");

	return !(p && strstr(p, "vgpreload"));
#endif
}

static void tall(struct fx *f, size_t chunk_len)
{
	f->fake.zarray = TALL_ZARRAY;
	f->fake.absent = chunk_len == 0;
	f->fake.chunk_len = chunk_len;
	f->img.px.size_x = TALL_X;
	f->img.px.size_y = TALL_Y;
	f->img.px.size_z = 1;
	f->pc.mem_budget = 16u << 20;
	remake(f);
}

/* One 128 KiB read of the tall array: 16 whole rows, all 512 chunks. */
static void read_tall(struct fx *f, uint8_t want)
{
	size_t len = 128u << 10;
	uint8_t *buf = malloc(len);
	struct pixsrc_mem m;
	size_t rss0;

	assert_non_null(buf);
	memset(buf, 0, len);
	reset_peak();
	rss0 = peak_rss();
	assert_int_equal(pixsrc_read(f->im, f->d0, len, buf, UINT64_MAX / 2),
			 (ssize_t)len);
	for (size_t i = 0; i < len; i += 4099)
		assert_int_equal(buf[i], want);
	assert_int_equal(f->fake.chunk_requests, 512);
	/* never more chunk bytes in memory than the budget (counted: every
	 * load's body, decoded chunk and cache copies, reserved first) ... */
	pixsrc_mem_stats(f->ps, &m);
	assert_true(m.peak <= m.budget);
	assert_true(m.held <= m.budget);
	/* ... and measured: the process grew by less than the budget plus a
	 * little (the old code grew by 128 MiB of chunks, and as much of
	 * bodies when the server had them) */
	print_message("peak held %" PRIu64 " of %" PRIu64
		      " bytes; peak RSS grew by %zu KiB\n",
		      m.peak, m.budget, (peak_rss() - rss0) >> 10);
	if (rss_meaningful())
		assert_true(peak_rss() - rss0 < m.budget + (8u << 20));
	free(buf);
}

static void test_pixsrc_tall_chunks_absent(void **state)
{
	struct fx *f = *state;
	struct pixsrc_mem m;

	/* the server has none of them (404: the fill value, 5) */
	tall(f, 0);
	read_tall(f, 5);
	/* absent chunks hold nothing but their entries */
	pixsrc_mem_stats(f->ps, &m);
	assert_true(m.held < 512 * 1024);
}

static void test_pixsrc_tall_chunks_data(void **state)
{
	struct fx *f = *state;
	struct pixsrc_mem m;

	/* the server has them all (bytes of 7): read in batches that fit */
	tall(f, 256u << 10);
	read_tall(f, 7);
	pixsrc_mem_stats(f->ps, &m);
	assert_int_equal(m.too_big, 0);
	assert_int_equal(m.timeouts, 0);
}

/* The log of the daemon, to a file a test reads back. */
static void log_to(const char *path)
{
	unlink(path);
	assert_int_equal(log_open(LOG_SINK_FILE, path), 0);
}

static bool log_has(const char *path, const char *a, const char *b)
{
	FILE *fp = fopen(path, "r");
	char line[4096];
	bool found = false;

	while (fp && !found && fgets(line, sizeof(line), fp))
		found = strstr(line, a) && strstr(line, b);
	if (fp)
		fclose(fp);
	return found;
}

/* Read @p len bytes at @p off, all of them. */
static void read_ok(struct fx *f, uint64_t off, uint8_t *buf, size_t len)
{
	assert_int_equal(pixsrc_read(f->im, off, len, buf, UINT64_MAX / 2),
			 (ssize_t)len);
}

/* Read the first 16 bytes of pixels twice: both answer @p rc. */
static void read_twice(struct fx *f, ssize_t rc)
{
	uint8_t buf[16];

	for (int i = 0; i < 2; i++) {
		assert_int_equal(pixsrc_read(f->im, f->d0, sizeof(buf), buf,
					     UINT64_MAX / 2),
				 rc);
		if (rc < 0) /* past the failure hold: asked again */
			usleep((PIXSRC_FAIL_HOLD_MS + 20) * 1000);
	}
}

static void test_pixsrc_chunk_over_budget(void **state)
{
	struct fx *f = *state;
	const char *logf = "test_pixsrc_over_budget.log";
	struct pixsrc_mem m;

	/* one chunk of 1 MiB where the whole budget is 1 MiB: loading it
	 * would break the bound, so the read fails at once, asks nothing,
	 * and says why (the array, the sizes) */
	f->fake.zarray = ZARRAY("1, 1024, 1024", "1, 1024, 1024", "null", "0");
	f->img.px.size_x = 1024;
	f->img.px.size_y = 1024;
	f->img.px.size_z = 1;
	remake(f);
	log_to(logf);
	read_twice(f, -EFBIG);
	log_close();
	assert_int_equal(f->fake.chunk_requests, 0);
	pixsrc_mem_stats(f->ps, &m);
	assert_int_equal(m.too_big, 2);
	assert_int_equal(m.held, 0);
	assert_true(log_has(logf, "x.zarr/0\"", "memory budget of 1048576"));
	unlink(logf);
}

struct reader2 {
	struct fx *f;
	uint64_t off;
	uint64_t timeout_ms;
	uint8_t buf[16];
	ssize_t n;
	uint64_t took_ms;
};

static void *read_at(void *arg)
{
	struct reader2 *r = arg;
	uint64_t t0 = http_now_ms();

	r->n = pixsrc_read(r->f->im, r->off, sizeof(r->buf), r->buf,
			   t0 + r->timeout_ms);
	r->took_ms = http_now_ms() - t0;
	return NULL;
}

/* Offset of 16 bytes at row y, column x of plane z of the 96 x 64 image. */
static uint64_t at(const struct fx *f, unsigned z, unsigned y, unsigned x)
{
	return f->d0 + ((uint64_t)z * H + y) * W + x;
}

/* A reads, and 50 ms later (A's chunk on its way) B reads; both done. */
static void a_then_b(struct reader2 *a, struct reader2 *b)
{
	pthread_t ta, tb;

	pthread_create(&ta, NULL, read_at, a);
	usleep(50000);
	pthread_create(&tb, NULL, read_at, b);
	pthread_join(tb, NULL);
	pthread_join(ta, NULL);
}

static void test_pixsrc_budget_wait(void **state)
{
	struct fx *f = *state;
	struct reader2 a = {.f = f, .timeout_ms = 10000};
	struct reader2 b = {.f = f, .timeout_ms = 10000};
	struct pixsrc_mem m;

	/* room for one chunk's load (about 68 KiB) at a time */
	f->pc.mem_budget = 100u << 10;
	remake(f);
	f->fake.delay_ms = 300;
	/* A holds the room while its chunk comes slowly; B, wanting another
	 * chunk, waits for it, then reads right */
	a.off = at(f, 0, 2, 3);
	b.off = at(f, 0, 2, 40);
	a_then_b(&a, &b);
	assert_int_equal(a.n, 16);
	assert_int_equal(b.n, 16);
	for (unsigned k = 0; k < 16; k++) {
		assert_int_equal(a.buf[k], truth(0, 2, 3 + k));
		assert_int_equal(b.buf[k], truth(0, 2, 40 + k));
	}
	pixsrc_mem_stats(f->ps, &m);
	assert_true(m.waits >= 1);
	assert_true(m.peak <= m.budget);
	assert_true(b.took_ms >= 400);
	/* B's deadline comes first: it gives up when it passes, with
	 * -ETIMEDOUT, and A is not disturbed */
	a.off = at(f, 1, 2, 3);
	b.off = at(f, 1, 2, 40);
	b.timeout_ms = 100;
	f->fake.delay_ms = 500;
	a_then_b(&a, &b);
	assert_int_equal(b.n, -ETIMEDOUT);
	assert_true(b.took_ms >= 90 && b.took_ms < 400);
	assert_int_equal(a.n, 16);
	pixsrc_mem_stats(f->ps, &m);
	assert_int_equal(m.timeouts, 1);
	/* B asked for nothing: 2 chunks for A, 1 for B the first time */
	assert_int_equal(f->fake.chunk_requests, 3);
}

static void test_pixsrc_inflight_deadline(void **state)
{
	struct fx *f = *state;
	struct reader2 a = {.f = f, .timeout_ms = 10000};
	struct reader2 b = {.f = f, .timeout_ms = 100};

	/* B wants the chunk A is loading (slowly): it waits for A's load
	 * no longer than its own deadline */
	f->fake.delay_ms = 600;
	a.off = b.off = at(f, 0, 5, 5);
	a_then_b(&a, &b);
	assert_int_equal(b.n, -ETIMEDOUT);
	assert_true(b.took_ms >= 90 && b.took_ms < 400);
	assert_int_equal(a.n, 16);
	assert_int_equal(f->fake.chunk_requests, 1);
}

static int setup_prefetch_tight(void **state)
{
	struct fx *f;

	setup_pf(state, 1 << 20);
	f = *state;
	/* room for two chunk loads: prefetch may take one */
	f->pc.mem_budget = 150u << 10;
	remake(f);
	return 0;
}

/* Read the whole image, in order, 4 KiB at a time, checking the bytes;
 * a @p slow reader lets the read-ahead finish before each read. */
static void read_in_order(struct fx *f, bool slow)
{
	uint8_t buf[4096];
	uint64_t off = 0;

	while (off + sizeof(buf) <= f->d0 + (uint64_t)W * H * Z) {
		if (slow)
			settle(f);
		assert_int_equal(pixsrc_read(f->im, off, sizeof(buf), buf,
					     http_now_ms() + 10000),
				 (ssize_t)sizeof(buf));
		for (unsigned k = 0; off >= f->d0 && k < sizeof(buf); k += 97) {
			uint64_t p = off + k - f->d0;

			assert_int_equal(buf[k], truth((unsigned)(p / (W * H)),
						       (unsigned)(p / W % H),
						       (unsigned)(p % W)));
		}
		off += sizeof(buf);
	}
}

static void test_pixsrc_prefetch_budget(void **state)
{
	struct fx *f = *state;
	struct pixsrc_mem m;

	/* a sequential reader with read-ahead on, in a tight budget: every
	 * read is right, and prefetch never pushes memory past the budget */
	read_in_order(f, false);
	settle(f);
	pixsrc_mem_stats(f->ps, &m);
	assert_true(m.peak <= m.budget);
	assert_int_equal(m.timeouts, 0);
}

static int setup_prefetch_spill(void **state)
{
	struct fx *f;

	setup_pf(state, 1 << 20);
	f = *state;
	/* the read-ahead covers the whole image; what it brings in may keep
	 * two chunks' worth of memory: the rest goes to the cache only */
	f->pc.prefetch_keep = 2 * (1024 + 128);
	use_cache(f);
	remake(f);
	return 0;
}

static void test_pixsrc_prefetch_spill(void **state)
{
	struct fx *f = *state;
	struct pixsrc_mem m;

	/* prefetch past its share of memory stores chunks in the cache and
	 * gives their memory back; the reader gets them from there: right
	 * bytes, and every chunk was asked for once */
	read_in_order(f, true);
	settle(f);
	pixsrc_mem_stats(f->ps, &m);
	assert_true(m.pf_spills >= 8);
	assert_true(m.pf_share == 2 * (1024 + 128));
	assert_true(m.peak <= m.budget);
	assert_int_equal(f->fake.chunk_requests, 6 * Z);
	for (unsigned z = 0; z < Z; z++) {
		for (unsigned y = 0; y < 2; y++) {
			for (unsigned x = 0; x < 3; x++)
				assert_int_equal(f->fake.per_chunk[z][y][x], 1);
		}
	}
}

static void test_pixsrc_prefetch_keep_no_cache(void **state)
{
	struct fx *f = *state;
	struct pixsrc_mem m;

	/* the same without a persistent cache: nowhere to spill, so the
	 * read-ahead past its share is dropped, not fetched for nothing */
	f->pc.prefetch_keep = 2 * (1024 + 128);
	remake(f);
	read_in_order(f, true);
	settle(f);
	pixsrc_mem_stats(f->ps, &m);
	assert_int_equal(m.pf_spills, 0);
	assert_true(m.pf_held <= m.pf_share);
	assert_int_equal(f->fake.chunk_requests, 6 * Z);
}

/* ---- what is cached ---- */

static void test_pixsrc_absent_not_cached(void **state)
{
	struct fx *f = *state;
	struct cache_counters cn;
	uint8_t buf[64];

	use_cache(f);
	remake(f);
	/* a chunk the server does not have (yet): the fill value ... */
	f->fake.absent = true;
	read_ok(f, f->d0, buf, sizeof(buf));
	assert_int_equal(buf[10], 0);
	/* ... is not stored as pixels: after a remount the chunk, there
	 * now, is asked for and read */
	cache_counters(f->cache, &cn);
	assert_int_equal(cn.puts, 0);
	f->fake.absent = false;
	remake(f);
	read_ok(f, f->d0, buf, sizeof(buf));
	assert_int_equal(buf[10], truth(0, 0, 10));
	assert_int_equal(f->fake.per_chunk[0][0][0], 2);
	/* in memory, a 404 is believed for absent_ttl_ms only */
	f->pc.absent_ttl_ms = 1;
	remake(f);
	f->fake.absent = true;
	read_ok(f, at(f, 3, 0, 0), buf, sizeof(buf));
	assert_int_equal(buf[10], 0);
	f->fake.absent = false;
	usleep(5000);
	read_ok(f, at(f, 3, 0, 0), buf, sizeof(buf));
	assert_int_equal(buf[10], truth(3, 0, 10));
	assert_int_equal(f->fake.per_chunk[3][0][0], 2);
}

static void test_pixsrc_bad_chunk_not_cached(void **state)
{
	struct fx *f = *state;
	const char *logf = "test_pixsrc_bad_chunk.log";
	const int deltas[] = {-1, 1, -1000};
	struct cache_counters cn;
	uint8_t buf[16]; /* under one chunk */
	unsigned asked = 0;

	use_cache(f);
	remake(f);
	log_to(logf);
	/* a body one byte short, one byte long, cut to 24 bytes: EIO for the
	 * read, a log line naming the chunk, nothing cached, and the next
	 * read asks again */
	for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
		f->fake.body_delta = deltas[i];
		for (int k = 0; k < 2; k++) {
			assert_int_equal(pixsrc_read(f->im, f->d0, sizeof(buf),
						     buf, UINT64_MAX / 2),
					 -EIO);
			assert_int_equal(f->fake.per_chunk[0][0][0], ++asked);
			usleep((PIXSRC_FAIL_HOLD_MS + 20) * 1000);
		}
	}
	/* a transfer that failed (truncated: the transport's -EBADMSG) */
	f->fake.body_delta = 0;
	f->fake.fail = -EBADMSG;
	assert_int_equal(
		pixsrc_read(f->im, f->d0, sizeof(buf), buf, UINT64_MAX / 2),
		-EIO);
	f->fake.fail = 0;
	log_close();
	assert_true(log_has(logf, "chunk \"https://h/b/x.zarr/0/0/0/0\"",
			    "does not decode"));
	cache_counters(f->cache, &cn);
	assert_int_equal(cn.puts, 0);
	/* garbage where a zlib stream should be: the same */
	f->fake.zarray = ZARRAY("4, 64, 96", "1, 32, 32",
				"{\"id\": \"zlib\", \"level\": 1}", "0");
	f->fake.garbage = true;
	remake(f);
	asked = f->fake.chunk_requests;
	read_twice(f, -EIO);
	assert_int_equal(f->fake.chunk_requests, asked + 2);
	cache_counters(f->cache, &cn);
	assert_int_equal(cn.puts, 0);
	/* once the server answers right, the chunk reads right */
	f->fake.garbage = false;
	f->fake.zarray = NULL;
	remake(f);
	read_ok(f, f->d0, buf, sizeof(buf));
	assert_int_equal(buf[10], truth(0, 0, 10));
	unlink(logf);
}

static void test_pixsrc_key_identity(void **state)
{
	struct fx *f = *state;
	uint8_t buf[64];

	use_cache(f);
	remake(f);
	read_ok(f, f->d0, buf, sizeof(buf));
	assert_int_equal(buf[10], truth(0, 0, 10));
	/* a remount where the image's Zarr is found elsewhere (another
	 * locator answer), whose array has other pixels in chunks of the
	 * same shape: they are fetched, not taken from the cache of the
	 * first */
	f->img.zarr_lsid = (char *)"http://other/y.zarr";
	f->fake.gen = 100;
	remake(f);
	read_ok(f, f->d0, buf, sizeof(buf));
	assert_int_equal(buf[10], (uint8_t)(truth(0, 0, 10) + 100));
	/* the first array, re-chunked (16 x 64: the same bytes per chunk,
	 * other pixels in each): fetched again too */
	f->img.zarr_lsid = (char *)"s3://h/b/x.zarr?anonymous=true";
	f->fake.gen = 50;
	f->fake.ch_y = 16;
	f->fake.ch_x = 64;
	f->fake.zarray = ZARRAY("4, 64, 96", "1, 16, 64", "null", "0");
	remake(f);
	read_ok(f, at(f, 0, 20, 0), buf, sizeof(buf));
	assert_int_equal(buf[10], (uint8_t)(truth(0, 20, 10) + 50));
	/* 2 chunks under each of the first reads, 1 under the last */
	assert_int_equal(f->fake.chunk_requests, 5);
}

static void test_pixsrc_orig_key_size(void **state)
{
	struct fx *f = *state;
	const char *url = "http://fake/orig/a.tif";
	uint8_t buf[4096];

	f->pc.mem_budget = 8u << 20;
	use_cache(f);
	remake(f);
	assert_int_equal(pixsrc_orig_read(f->ps, url, 2u << 20, 100,
					  sizeof(buf), buf, UINT64_MAX / 2),
			 (ssize_t)sizeof(buf));
	assert_int_equal(buf[0], (uint8_t)(100 / 7));
	/* read again: from memory */
	assert_int_equal(pixsrc_orig_read(f->ps, url, 2u << 20, 100,
					  sizeof(buf), buf, UINT64_MAX / 2),
			 (ssize_t)sizeof(buf));
	assert_int_equal(f->fake.orig_requests, 1);
	/* the file changed (now 3 MiB): its first block is fetched again,
	 * in this mount and after a remount */
	f->fake.gen = 9;
	assert_int_equal(pixsrc_orig_read(f->ps, url, 3u << 20, 100,
					  sizeof(buf), buf, UINT64_MAX / 2),
			 (ssize_t)sizeof(buf));
	assert_int_equal(buf[0], (uint8_t)(100 / 7 + 9));
	assert_int_equal(f->fake.orig_requests, 2);
	remake(f);
	assert_int_equal(pixsrc_orig_read(f->ps, url, 3u << 20, 100,
					  sizeof(buf), buf, UINT64_MAX / 2),
			 (ssize_t)sizeof(buf));
	assert_int_equal(buf[0], (uint8_t)(100 / 7 + 9));
	assert_int_equal(f->fake.orig_requests, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pixsrc_rows_exact, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_coalesce, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_imgdata_failure,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_failure_not_cached,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_prefetch_sequential,
						setup_prefetch, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_prefetch_random,
						setup_prefetch, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_ome_prefetch_stream,
						setup_ome, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_ome_tile_reader,
						setup_ome, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_ome_names_source,
						setup_ome, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_zview_lease, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_tile_reader,
						setup_prefetch, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_tall_chunks_absent,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_tall_chunks_data,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_chunk_over_budget,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_budget_wait, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_inflight_deadline,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_prefetch_budget,
						setup_prefetch_tight, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_prefetch_spill,
						setup_prefetch_spill, teardown),
		cmocka_unit_test_setup_teardown(
			test_pixsrc_prefetch_keep_no_cache, setup_prefetch,
			teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_absent_not_cached,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_pixsrc_bad_chunk_not_cached, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_key_identity, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_orig_key_size,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
