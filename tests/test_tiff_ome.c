/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the tiled pyramidal OME-TIFF: the layout rules (tiles,
 * levels, hostile geometries), reads against a synthetic source, and whole
 * files written to $TMPDIR and checked by tests/check_tiff_ome.py with
 * tifffile, libtiff's tools and the OME schema.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "idrfs/tiff.h"

#ifndef TESTS_SRCDIR
#define TESTS_SRCDIR TESTS_DATA "/.."
#endif
#define OME_XSD "/work/shared/schemas/ome-2016-06/ome.xsd"

/* ---- the synthetic source ------------------------------------------- */

struct src {
	const struct tiff_ome_layout *l;
	struct tiff_ome_geom g;
	unsigned calls;
	int fail; /* returned from the callback when set */
};

/* f(level, plane, x, y), the value check_tiff_ome.py expects */
static uint64_t fval(unsigned level, uint64_t plane, uint64_t x, uint64_t y)
{
	return level * 1000003ull + plane * 10007ull + y * 131ull + x * 7ull;
}

static void store(const struct tiff_ome_geom *g, uint8_t *p, uint64_t h)
{
	float f;
	double d;
	uint64_t u = h;

	if (g->format == TIFF_SF_FLOAT && g->bps == 4) {
		f = (float)((double)(h % 100000) / 4);
		memcpy(&u, &f, 4);
	} else if (g->format == TIFF_SF_FLOAT) {
		d = (double)h * 0.5;
		memcpy(&u, &d, 8);
	}
	for (unsigned i = 0; i < g->bps; i++)
		p[i] = (uint8_t)(u >> (8 * i));
}

static int tile_fn(void *ctx, unsigned level, uint64_t plane, uint32_t tx,
		   uint32_t ty, uint8_t *dst)
{
	struct src *s = ctx;
	const struct tiff_ome_layout *l = s->l;
	uint64_t x, y;
	uint32_t i, j;

	s->calls++;
	if (s->fail)
		return s->fail;
	assert_true(level < l->nlevels);
	assert_true(plane < l->planes);
	assert_true(tx < l->ntx[level] && ty < l->nty[level]);
	for (j = 0; j < l->tile_h; j++) {
		for (i = 0; i < l->tile_w; i++) {
			uint8_t *p =
				dst + ((uint64_t)j * l->tile_w + i) * s->g.bps;

			x = (uint64_t)tx * l->tile_w + i;
			y = (uint64_t)ty * l->tile_h + j;
			if (x < l->lx[level] && y < l->ly[level])
				store(&s->g, p, fval(level, plane, x, y));
			else
				memset(p, 0, s->g.bps);
		}
	}
	return 0;
}

static struct tiff_ome_file *new_file(uint32_t x, uint32_t y, uint32_t c,
				      uint32_t z, uint32_t t, unsigned bps,
				      enum tiff_sample_format fmt,
				      unsigned nlevels)
{
	struct tiff_channel ch[2] = {
		{"GFP <&> \xc2\xb5", 0x00ff00, 0, 255},
		{"DAPI", 0x0000ff, 0, 255},
	};
	struct tiff_ome_meta m = {
		.g = {x, y, c, z, t, bps, fmt},
		.nlevels = nlevels,
		.about.image_id = 42,
		.about.image_name = "plate \"A1\"",
		.about.source = "https://idr.example/zarr/42.zarr",
		.about.phys_x = 0.25,
		.about.phys_y = 0.3,
		.about.phys_z = 1.5,
		.about.time_increment = 2.0,
		.about.nchannels = c <= 2 ? c : 0,
		.about.channels = c <= 2 ? ch : NULL,
	};
	struct tiff_ome_file *f = NULL;

	assert_int_equal(tiff_ome_file_new(&m, &f), 0);
	return f;
}

/* ---- layout --------------------------------------------------------- */

static void test_ome_tiles_and_levels(void **state)
{
	struct tiff_ome_geom g = {40000, 30000, 1, 1, 1, 2, TIFF_SF_UINT};
	struct tiff_ome_layout l;
	static const uint32_t wx[] = {40000, 20000, 10000, 5000,
				      2500,  1250,  625};
	static const uint32_t wy[] = {30000, 15000, 7500, 3750, 1875, 937, 468};

	(void)state;
	assert_int_equal(tiff_ome_layout_compute(&g, &l), 0);
	assert_int_equal(l.tile_w, 1024);
	assert_int_equal(l.tile_h, 1024);
	assert_int_equal(l.nlevels, 7);
	for (unsigned k = 0; k < 7; k++) {
		assert_int_equal(l.lx[k], wx[k]);
		assert_int_equal(l.ly[k], wy[k]);
	}
	assert_int_equal(l.ntx[0], 40);
	assert_int_equal(l.nty[0], 30);
	assert_int_equal(l.ntx[6], 1);

	/* tiles: a multiple of 16 covering a small side, else 1024 */
	g = (struct tiff_ome_geom){67, 45, 2, 3, 4, 1, TIFF_SF_INT};
	assert_int_equal(tiff_ome_layout_compute(&g, &l), 0);
	assert_int_equal(l.tile_w, 80);
	assert_int_equal(l.tile_h, 48);
	assert_int_equal(l.nlevels, 1);
	assert_int_equal(l.planes, 24);
	assert_int_equal(l.tile_bytes, 80 * 48);
	assert_int_equal(l.d0 % 4096, 0);
	assert_int_equal(l.size, l.d0 + 24 * 80 * 48);

	/* one side over a tile: both halve, floor, never below 1 */
	g = (struct tiff_ome_geom){1025, 1, 1, 1, 1, 4, TIFF_SF_FLOAT};
	assert_int_equal(tiff_ome_layout_compute(&g, &l), 0);
	assert_int_equal(l.tile_w, 1024);
	assert_int_equal(l.tile_h, 16);
	assert_int_equal(l.nlevels, 2);
	assert_int_equal(l.lx[1], 512);
	assert_int_equal(l.ly[1], 1);
	assert_int_equal(l.ntx[0], 2);
}

/* The remote's sizes: refused, never wrapped; out untouched. */
static void test_ome_hostile_geometry(void **state)
{
	static const struct {
		struct tiff_ome_geom g;
		int rc;
	} cases[] = {
		{{UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX, 8,
		  TIFF_SF_FLOAT},
		 -EFBIG},
		{{UINT32_MAX, UINT32_MAX, 1, 1, 1, 8, TIFF_SF_FLOAT}, -EFBIG},
		{{1, 1, UINT32_MAX, UINT32_MAX, UINT32_MAX, 1, TIFF_SF_UINT},
		 -EFBIG},
		{{1, 1, 1, 65536, 65536, 1, TIFF_SF_UINT}, -EFBIG},
		{{1, 1, TIFF_MAX_CHANNELS + 1, 1, 1, 1, TIFF_SF_UINT}, -EFBIG},
		/* 2^31 x 2^31 x 2 bytes is 2^63: past TIFF_MAX_BYTES */
		{{1u << 31, 1u << 31, 1, 1, 1, 2, TIFF_SF_UINT}, -EFBIG},
		{{1, 1, 1, 1, 1, 3, TIFF_SF_UINT}, -EINVAL},
		{{1, 1, 1, 1, 1, 0, TIFF_SF_UINT}, -EINVAL},
		{{1, 1, 1, 1, 1, 16, TIFF_SF_FLOAT}, -EINVAL},
		{{1, 1, 1, 1, 1, 2, TIFF_SF_FLOAT}, -EINVAL},
		{{1, 1, 1, 1, 1, 8, TIFF_SF_INT}, -EINVAL},
		{{1, 1, 1, 1, 1, 1, (enum tiff_sample_format)7}, -EINVAL},
		{{0, 1, 1, 1, 1, 1, TIFF_SF_UINT}, -EINVAL},
		{{1, 1, 1, 1, 0, 1, TIFF_SF_UINT}, -EINVAL},
	};
	struct tiff_ome_layout l;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&l, 0xa5, sizeof(l));
		assert_int_equal(tiff_ome_layout_compute(&cases[i].g, &l),
				 cases[i].rc);
		assert_int_equal(l.size, 0xa5a5a5a5a5a5a5a5ull);
	}
}

/* The largest side still fits: 22 halvings, sizes checked. */
static void test_ome_huge_side(void **state)
{
	struct tiff_ome_geom g = {UINT32_MAX, 1, 1, 1, 1, 1, TIFF_SF_UINT};
	struct tiff_ome_layout l;

	(void)state;
	assert_int_equal(tiff_ome_layout_compute(&g, &l), 0);
	assert_int_equal(l.nlevels, 23);
	assert_int_equal(l.lx[22], 1023);
	assert_true(l.size > (uint64_t)UINT32_MAX * 16);
}

static void test_ome_bad_meta(void **state)
{
	struct tiff_ome_meta m = {.g = {67, 45, 2, 1, 1, 2, TIFF_SF_UINT}};
	struct tiff_ome_file *f = (void *)&m;

	(void)state;
	m.nlevels = 0;
	assert_int_equal(tiff_ome_file_new(&m, &f), -EINVAL);
	m.nlevels = 2; /* the layout has 1 */
	assert_int_equal(tiff_ome_file_new(&m, &f), -EINVAL);
	m.nlevels = 1;
	m.about.nchannels = 1; /* neither 0 nor C */
	assert_int_equal(tiff_ome_file_new(&m, &f), -EINVAL);
	m.g.bps = 3;
	m.about.nchannels = 0;
	assert_int_equal(tiff_ome_file_new(&m, &f), -EINVAL);
	assert_ptr_equal(f, &m);
}

/* ---- reads ---------------------------------------------------------- */

static uint8_t *read_all(const struct tiff_ome_file *f, struct src *s,
			 size_t step)
{
	const struct tiff_ome_layout *l = tiff_ome_file_layout(f);
	uint8_t *buf = malloc(l->size);
	uint64_t off;
	ssize_t n;

	assert_non_null(buf);
	for (off = 0; off < l->size; off += (uint64_t)n) {
		n = tiff_ome_file_read(f, off, step, buf + off, tile_fn, s);
		assert_true(n > 0);
	}
	assert_int_equal(tiff_ome_file_read(f, l->size, 10, buf, tile_fn, s),
			 0);
	return buf;
}

/* Random ranges equal the whole file; one call per tile touched. */
static void test_ome_random_reads(void **state)
{
	struct tiff_ome_file *f =
		new_file(2100, 1100, 2, 1, 1, 2, TIFF_SF_UINT, 2);
	const struct tiff_ome_layout *l = tiff_ome_file_layout(f);
	struct src s = {l, {2100, 1100, 2, 1, 1, 2, TIFF_SF_UINT}, 0, 0};
	uint8_t *whole = read_all(f, &s, 1u << 20), *buf;
	uint64_t off;
	size_t len;
	ssize_t n;

	(void)state;
	buf = malloc(8u << 20);
	assert_non_null(buf);
	srand(7);
	for (int i = 0; i < 300; i++) {
		off = ((uint64_t)rand() * 4099u) % l->size;
		len = (size_t)rand() % (3u << 20);
		n = tiff_ome_file_read(f, off, len, buf, tile_fn, &s);
		assert_true(n >= 0);
		assert_true((uint64_t)n ==
			    (len < l->size - off ? len : l->size - off));
		assert_memory_equal(buf, whole + off, (size_t)n);
	}

	/* a part of a tile: one call; three whole tiles: three */
	s.calls = 0;
	n = tiff_ome_file_read(f, l->d0 + 5, 100, buf, tile_fn, &s);
	assert_int_equal(n, 100);
	assert_int_equal(s.calls, 1);
	s.calls = 0;
	n = tiff_ome_file_read(f, l->d0 + l->tile_bytes, 3 * l->tile_bytes, buf,
			       tile_fn, &s);
	assert_int_equal((size_t)n, 3 * l->tile_bytes);
	assert_int_equal(s.calls, 3);
	/* header and IFDs: no callback at all */
	s.calls = 0;
	n = tiff_ome_file_read(f, 0, l->d0, buf, tile_fn, &s);
	assert_int_equal(s.calls, 0);
	assert_memory_equal(buf, "II\x2b\0\x08\0\0\0\x10\0\0\0\0\0\0\0", 16);

	/* the callback's error is the read's */
	s.fail = -ETIMEDOUT;
	n = tiff_ome_file_read(f, l->d0 + 7, 10, buf, tile_fn, &s);
	assert_int_equal(n, -ETIMEDOUT);
	free(buf);
	free(whole);
	tiff_ome_file_free(f);
}

/*
 * A million planes: the size is arithmetic, the last plane's IFD is read
 * from a file that holds only its OME-XML.
 */
static void test_ome_many_planes(void **state)
{
	struct tiff_ome_file *f =
		new_file(64, 64, 1, 1000, 1000, 2, TIFF_SF_UINT, 1);
	const struct tiff_ome_layout *l = tiff_ome_file_layout(f);
	uint64_t at = 16 + 999999 * l->ifd_stride;
	uint8_t b[8 + 20 * 18 + 8];
	uint64_t cnt = 0, next = 0;

	(void)state;
	assert_int_equal(l->planes, 1000000);
	assert_int_equal(tiff_ome_file_read(f, at, sizeof(b), b, NULL, NULL),
			 (ssize_t)sizeof(b));
	memcpy(&cnt, b, 8); /* little-endian host */
	assert_int_equal(cnt, 16);
	memcpy(&next, b + 8 + 20 * cnt, 8);
	assert_int_equal(next, 0);
	/* TileOffsets (324), one tile: inline, the last plane's */
	assert_int_equal(b[8 + 20 * 13] | b[8 + 20 * 13 + 1] << 8, 324);
	memcpy(&next, b + 8 + 20 * 13 + 12, 8);
	assert_int_equal(next, l->d0 + 999999 * l->plane_bytes);
	tiff_ome_file_free(f);
}

/* ---- whole files through tifffile and libtiff ------------------------ */

static void write_and_check(uint32_t x, uint32_t y, uint32_t c, uint32_t z,
			    uint32_t t, unsigned bps,
			    enum tiff_sample_format fmt, const char *dtype,
			    unsigned nlevels)
{
	struct tiff_ome_file *f = new_file(x, y, c, z, t, bps, fmt, nlevels);
	const struct tiff_ome_layout *l = tiff_ome_file_layout(f);
	struct src s = {l, {x, y, c, z, t, bps, fmt}, 0, 0};
	const char *tmp = getenv("TMPDIR");
	char path[512], cmd[1400];
	uint8_t *buf = read_all(f, &s, (1u << 20) + 3);
	FILE *fp;
	int rc;

	snprintf(path, sizeof(path), "%s/test_tiff_ome.%ld.%s.ome.tif",
		 tmp && *tmp ? tmp : "/tmp", (long)getpid(), dtype);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, l->size, fp), l->size);
	assert_int_equal(fclose(fp), 0);
	snprintf(cmd, sizeof(cmd),
		 "/usr/bin/python3 %s/check_tiff_ome.py '%s' %s %u %u %u %u "
		 "%u %u %s",
		 TESTS_SRCDIR, path, dtype, x, y, c, z, t, nlevels, OME_XSD);
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "failed: %s\n", cmd);
	else
		unlink(path);
	assert_int_equal(rc, 0);
	free(buf);
	tiff_ome_file_free(f);
}

static const struct {
	unsigned bps;
	enum tiff_sample_format fmt;
	const char *dtype;
} types[] = {
	{1, TIFF_SF_INT, "int8"},      {1, TIFF_SF_UINT, "uint8"},
	{2, TIFF_SF_INT, "int16"},     {2, TIFF_SF_UINT, "uint16"},
	{4, TIFF_SF_INT, "int32"},     {4, TIFF_SF_UINT, "uint32"},
	{4, TIFF_SF_FLOAT, "float32"}, {8, TIFF_SF_FLOAT, "float64"},
};

/* Every type in small geometries: 1x1, 67x45 C2Z3T4, 1025 wide. */
static void test_ome_types(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		write_and_check(1, 1, 1, 1, 1, types[i].bps, types[i].fmt,
				types[i].dtype, 1);
		write_and_check(67, 45, 2, 3, 4, types[i].bps, types[i].fmt,
				types[i].dtype, 1);
		write_and_check(1025, 40, 1, 2, 1, types[i].bps, types[i].fmt,
				types[i].dtype, 2);
	}
}

/* Pyramids: 3 levels, and a source that has only 2 of them. */
static void test_ome_pyramid(void **state)
{
	(void)state;
	write_and_check(2500, 1800, 1, 1, 1, 2, TIFF_SF_UINT, "uint16", 3);
	write_and_check(2500, 1800, 2, 1, 1, 1, TIFF_SF_INT, "int8", 2);
	write_and_check(3000, 900, 1, 1, 2, 4, TIFF_SF_FLOAT, "float32", 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ome_tiles_and_levels),
		cmocka_unit_test(test_ome_hostile_geometry),
		cmocka_unit_test(test_ome_huge_side),
		cmocka_unit_test(test_ome_bad_meta),
		cmocka_unit_test(test_ome_random_reads),
		cmocka_unit_test(test_ome_many_planes),
		cmocka_unit_test(test_ome_types),
		cmocka_unit_test(test_ome_pyramid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
