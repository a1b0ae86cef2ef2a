/* SPDX-License-Identifier: MIT */
/* Unit tests of pixsrc with a fake transport: bit-exact rows through the
 * TIFF, one request for concurrent misses of one chunk, read-ahead only
 * for sequential readers, and failures that are not cached. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "idrfs/pixsrc.h"
#include "idrfs/tiff.h"

#define W 96 /* 3 x 2 chunks of 32 x 32, 4 planes (z) */
#define H 64
#define Z 4

struct fake {
	pthread_mutex_t lock;
	unsigned chunk_requests;
	unsigned per_chunk[Z][2][3];
	unsigned delay_ms;
	int fail; /* chunk answers fail with this */
};

static uint8_t truth(unsigned z, unsigned y, unsigned x)
{
	return (uint8_t)(x * 7 + y * 13 + z * 61);
}

static char *dup_str(const char *s)
{
	return strdup(s);
}

static int fake_fetch(void *ctx, struct http_req *reqs, size_t n,
		      uint64_t deadline)
{
	struct fake *f = ctx;

	(void)deadline;
	for (size_t i = 0; i < n; i++) {
		const char *u = reqs[i].url;
		unsigned z, cy, cx;

		reqs[i].rc = 0;
		reqs[i].content_type[0] = '\0';
		reqs[i].body = NULL;
		if (strstr(u, "/imgData/")) {
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
		} else if (strstr(u, "/.zattrs")) {
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
			reqs[i].body = dup_str(
				"{\"zarr_format\": 2, \"shape\": [4, 64, 96], "
				"\"chunks\": [1, 32, 32], \"dtype\": \"|u1\", "
				"\"compressor\": null, \"fill_value\": 0, "
				"\"order\": \"C\", \"filters\": null, "
				"\"dimension_separator\": \"/\"}");
		} else if (sscanf(strstr(u, "/0/") ? strstr(u, "/0/") : "",
				  "/0/%u/%u/%u", &z, &cy, &cx) == 3 &&
			   z < Z && cy < 2 && cx < 3) {
			pthread_mutex_lock(&f->lock);
			f->chunk_requests++;
			f->per_chunk[z][cy][cx]++;
			pthread_mutex_unlock(&f->lock);
			if (f->delay_ms)
				usleep(f->delay_ms * 1000);
			if (f->fail) {
				reqs[i].rc = f->fail;
				continue;
			}
			uint8_t *b = malloc(32 * 32);

			for (unsigned y = 0; y < 32; y++) {
				for (unsigned x = 0; x < 32; x++)
					b[y * 32 + x] = truth(z, cy * 32 + y,
							      cx * 32 + x);
			}
			reqs[i].body = (char *)b;
			reqs[i].len = 32 * 32;
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
};

static int setup_pf(void **state, uint64_t prefetch)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct api_transport tr = {.fetch = fake_fetch};
	struct pixsrc_config pc = {.mem_budget = 1 << 20,
				   .prefetch_bytes = prefetch,
				   .job_timeout_ms = 5000};
	struct api_image img = {
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
	struct tiff_geom g = {
		.x = W, .y = H, .c = 1, .z = Z, .t = 1, .bps = 1, .samples = 1};
	struct tiff_layout l;

	pthread_mutex_init(&f->fake.lock, NULL);
	tr.ctx = &f->fake;
	pc.tr = tr;
	assert_int_equal(api_new("http://fake", &tr, &f->api), 0);
	pc.api = f->api;
	assert_int_equal(pixsrc_new(&pc, &f->ps), 0);
	assert_int_equal(pixsrc_open(f->ps, &img, UINT64_MAX / 2, &f->im), 0);
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_int_equal(pixsrc_size(f->im), l.size);
	f->d0 = l.d0;
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
	/* ... and is tried again next time, not remembered */
	f->fake.fail = 0;
	assert_int_equal(
		pixsrc_read(f->im, f->d0, sizeof(buf), buf, UINT64_MAX / 2),
		(ssize_t)sizeof(buf));
	assert_int_equal(f->fake.per_chunk[0][0][0], 2);
	assert_int_equal(buf[10], truth(0, 0, 10));
}

static unsigned settle(struct fx *f)
{
	unsigned n, last = ~0u;

	/* wait until the prefetch workers are quiet */
	for (int i = 0; i < 100; i++) {
		pthread_mutex_lock(&f->fake.lock);
		n = f->fake.chunk_requests;
		pthread_mutex_unlock(&f->fake.lock);
		if (n == last)
			break;
		last = n;
		usleep(20000);
	}
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
	/* only the first rows of plane 0 were read, yet the read-ahead
	 * fetched further: all 24 chunks fit the 1 MiB window */
	assert_int_equal(settle(f), 6 * Z);
	assert_int_equal(f->fake.per_chunk[Z - 1][1][2], 1);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pixsrc_rows_exact, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_coalesce, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_failure_not_cached,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_prefetch_sequential,
						setup_prefetch, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_prefetch_random,
						setup_prefetch, teardown),
		cmocka_unit_test_setup_teardown(test_pixsrc_tile_reader,
						setup_prefetch, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
