/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the virtual TIFF: the layout (sizes known before any pixel),
 * golden bytes, a re-read with libtiff, reads at odd offsets against the
 * whole-file buffer, every pixel type, the >4 GiB single-IFD head, errors
 * from the rows callback and the head's overflow protection.
 */
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
#include <unistd.h>

#include <cmocka.h>
#include <tiffio.h>

#include "idrfs/log.h"
#include "idrfs/tiff.h"

#include "testutil.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void test_tiff_single_plane(void **state)
{
	struct tiff_geom g = {.x = 67,
			      .y = 45,
			      .c = 1,
			      .z = 1,
			      .t = 1,
			      .bps = 2,
			      .samples = 1};
	struct tiff_layout l;

	(void)state;
	/* one plane: head padded to 4 KiB, then the pixels, no tail */
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_int_equal(l.planes, 1);
	assert_int_equal(l.plane_size, 67 * 45 * 2);
	assert_int_equal(l.d0 % TIFF_HEAD_ALIGN, 0);
	assert_int_equal(l.size, l.d0 + l.plane_size);
	assert_int_equal(l.rows_per_strip, 45);
	assert_int_equal(l.strips, 1);
	assert_false(l.single_ifd);
}

static void test_tiff_tail(void **state)
{
	struct tiff_geom g = {.x = 100,
			      .y = 200,
			      .c = 2,
			      .z = 3,
			      .t = 4,
			      .bps = 2,
			      .samples = 1};
	struct tiff_layout l;

	(void)state;
	/* 24 planes in CZT order, 4 strips of 64 rows, tail at a stride */
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_int_equal(l.planes, 24);
	assert_int_equal(l.strips, 4);
	assert_int_equal(l.rows_per_strip, 64);
	assert_int_equal(l.t0 % 8, 0);
	assert_true(l.t0 >= l.d0 + 24 * l.plane_size);
	assert_int_equal(l.i0, l.t0 + 16 + 4 * 4);
	assert_int_equal(l.s1 % 8, 0);
	assert_true(l.s1 >= 2 + 12 * l.n1 + 4 + 4 * 4);
	assert_int_equal(l.size, l.i0 + 23 * l.s1);
}

static void test_tiff_rgb(void **state)
{
	struct tiff_geom g = {.x = 10,
			      .y = 10,
			      .c = 3,
			      .z = 2,
			      .t = 1,
			      .bps = 1,
			      .samples = 3};
	struct tiff_layout l;

	(void)state;
	/* rendered RGB: channels merge into one plane per z and t */
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_int_equal(l.planes, 2);
	assert_int_equal(l.plane_size, 300);
}

static void test_tiff_big(void **state)
{
	struct tiff_geom g = {.x = 2048,
			      .y = 2048,
			      .c = 2,
			      .z = 300,
			      .t = 1,
			      .bps = 2,
			      .samples = 1};
	struct tiff_layout l;

	(void)state;
	/* above 4 GiB: ImageJ's single-IFD form, size = D0 + N*P */
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_true(l.single_ifd);
	assert_int_equal(l.size, l.d0 + 600ull * 2048 * 2048 * 2);
	/* just below: classic with a tail, all offsets under 2^32 */
	g.z = 200;
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_false(l.single_ifd);
	assert_true(l.size <= TIFF_CLASSIC_MAX);
}

static void test_tiff_bad_geometry(void **state)
{
	struct tiff_geom g = {
		.x = 0, .y = 1, .c = 1, .z = 1, .t = 1, .bps = 1, .samples = 1};
	struct tiff_layout l = {.size = 42};

	(void)state;
	/* zero sizes and odd sample sizes are refused, out untouched */
	assert_int_equal(tiff_layout_compute(&g, &l), -EINVAL);
	g.x = 1;
	g.bps = 8;
	assert_int_equal(tiff_layout_compute(&g, &l), -EINVAL);
	g.bps = 1;
	g.samples = 2;
	assert_int_equal(tiff_layout_compute(&g, &l), -EINVAL);
	assert_int_equal(l.size, 42);
	/* hostile sizes cannot overflow: too many planes, too many bytes */
	g.samples = 1;
	g.z = 1u << 20;
	g.t = 1u << 20;
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	g = (struct tiff_geom){.x = 0x7fffffff,
			       .y = 0x7fffffff,
			       .c = 4,
			       .z = 1000,
			       .t = 1,
			       .bps = 4,
			       .samples = 1};
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
}

/*
 * fuzz_tiff found them: products of remote sizes that wrap 64 bits (the
 * first is issue 9's SIGFPE on ls of a dataset).
 */
static void test_tiff_product_wraps(void **state)
{
	/* z * t * c = 2^64: the plane count wrapped to 0 and was divided by */
	struct tiff_geom g = {.x = 16,
			      .y = 16,
			      .c = 16,
			      .z = 1u << 30,
			      .t = 1u << 30,
			      .bps = 1,
			      .samples = 1};
	struct tiff_layout l = {.size = 42};

	(void)state;
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	/* x * y * bps = 2^64: the plane size wrapped to 0 */
	g = (struct tiff_geom){.x = 1u << 31,
			       .y = 1u << 31,
			       .c = 1,
			       .z = 1,
			       .t = 1,
			       .bps = 4,
			       .samples = 1};
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	assert_int_equal(l.size, 42);
}

/*
 * fuzz_tiff found it: a read inside one row buffers whole rows, so SizeX
 * 2^32-1 of float made a 1-byte read allocate (and fill) 16 GiB.
 */
static void test_tiff_row_cap(void **state)
{
	struct tiff_geom g = {.x = 0xffffffff,
			      .y = 1,
			      .c = 1,
			      .z = 1,
			      .t = 1,
			      .bps = 4,
			      .samples = 1};
	struct tiff_meta m = {.g = g, .format = TIFF_SF_FLOAT};
	struct tiff_layout l = {.size = 42};
	struct tiff_file *f = NULL;

	(void)state;
	/* a row over TIFF_MAX_ROW_BYTES is refused before any read */
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	assert_int_equal(l.size, 42);
	assert_int_equal(tiff_file_new(&m, &f), -EFBIG);
	assert_null(f);
	/* a row of exactly the cap is a file */
	g.x = TIFF_MAX_ROW_BYTES / 4;
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	g.x++;
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	/* RGB counts its three samples */
	g = (struct tiff_geom){.x = TIFF_MAX_ROW_BYTES / 3 + 1,
			       .y = 1,
			       .c = 3,
			       .z = 1,
			       .t = 1,
			       .bps = 1,
			       .samples = 3};
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
}

/*
 * fuzz_tiff found it: SizeC 1000000 (1x1 pixels) made every open build
 * 60 MB of OME-XML, 3 s under ASan, for a head the layout reserved as 2 GB.
 */
static void test_tiff_channel_cap(void **state)
{
	struct tiff_geom g = {.x = 1,
			      .y = 1,
			      .c = 1000000,
			      .z = 1,
			      .t = 1,
			      .bps = 1,
			      .samples = 1};
	struct tiff_meta m = {.format = TIFF_SF_UINT};
	struct tiff_layout l = {.size = 42};
	struct tiff_file *f = NULL;

	(void)state;
	/* more than TIFF_MAX_CHANNELS is refused before any head is built */
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	assert_int_equal(l.size, 42);
	m.g = g;
	assert_int_equal(tiff_file_new(&m, &f), -EFBIG);
	assert_null(f);
	g.c = TIFF_MAX_CHANNELS + 1;
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	/* the cap itself is a file, head and all */
	g.c = TIFF_MAX_CHANNELS;
	m.g = g;
	assert_int_equal(tiff_file_new(&m, &f), 0);
	tiff_file_free(f);
}

/* ---- the bytes: a deterministic pixel source -------------------------- */

struct src {
	const struct tiff_meta *m;
	uint64_t fail_plane; /* UINT64_MAX: never */
	int fail_rc;
	bool forbid; /* the test reads no pixel: any call fails it */
	unsigned calls;
	uint64_t plane[8];
	uint32_t row0[8], nrows[8], col0[8], ncols[8];
	uint8_t *dst[8];
};

/* The sample value of every pixel: distinct per plane, row, column. */
static uint32_t pattern(uint64_t plane, uint32_t row, uint32_t x, unsigned s)
{
	return (uint32_t)(plane * 7919u + row * 131u + x * 17u + s * 5u + 3u);
}

static void fill_rows(const struct tiff_meta *m, uint64_t plane, uint32_t row0,
		      uint32_t nrows, uint8_t *dst)
{
	const struct tiff_geom *g = &m->g;
	uint32_t x, y, v;
	unsigned s, b;
	uint8_t *p = dst;
	float fv;

	for (y = row0; y < row0 + nrows; y++) {
		for (x = 0; x < g->x; x++) {
			for (s = 0; s < g->samples; s++) {
				v = pattern(plane, y, x, s);
				if (m->format == TIFF_SF_FLOAT) {
					fv = (float)(v % 100000u) + 0.25f;
					memcpy(&v, &fv, 4);
				}
				for (b = 0; b < g->bps; b++)
					*p++ = (uint8_t)(v >> (8 * b));
			}
		}
	}
}

static int src_rows(void *ctx, uint64_t plane, uint32_t row0, uint32_t nrows,
		    uint32_t col0, uint32_t ncols, uint8_t *dst)
{
	struct src *s = ctx;

	assert_false(s->forbid);
	/* the columns asked for are inside the row, whole rows for more
	 * than one row */
	assert_true(ncols > 0 && col0 + (uint64_t)ncols <= s->m->g.x);
	assert_true(nrows == 1 || (col0 == 0 && ncols == s->m->g.x));
	/* whole rows of a real plane, never beyond */
	assert_true(plane < (uint64_t)s->m->g.z * s->m->g.t *
				    (s->m->rendered ? 1 : s->m->g.c));
	assert_true(nrows > 0);
	assert_true(row0 + (uint64_t)nrows <= s->m->g.y);
	if (s->calls < ARRAY_LEN(s->plane)) {
		s->col0[s->calls] = col0;
		s->ncols[s->calls] = ncols;
		s->plane[s->calls] = plane;
		s->row0[s->calls] = row0;
		s->nrows[s->calls] = nrows;
		s->dst[s->calls] = dst;
	}
	s->calls++;
	if (plane == s->fail_plane)
		return s->fail_rc;
	fill_rows(s->m, plane, row0, nrows, dst);
	/* the columns not asked for hold garbage: a read that used them
	 * would not match the expected bytes */
	size_t px = (size_t)s->m->g.bps * s->m->g.samples;
	size_t rb = px * s->m->g.x;

	for (uint32_t r = 0; r < nrows; r++) {
		memset(dst + r * rb, 0xA5, col0 * px);
		memset(dst + r * rb + (col0 + (size_t)ncols) * px, 0x5A,
		       rb - (col0 + (size_t)ncols) * px);
	}
	return 0;
}

static void src_init(struct src *s, const struct tiff_meta *m)
{
	memset(s, 0, sizeof(*s));
	s->m = m;
	s->fail_plane = UINT64_MAX;
}

static const struct tiff_channel two_channels[] = {
	{"DAPI", 0x0000ff, 100.0, 3000.5},
	{"GFP <&> \xc2\xb5", 0x00ff00, 0.0, 65535.0},
};

/* A uint16 meta with names, colours and sizes; callers adjust it. */
static struct tiff_meta meta_u16(uint32_t x, uint32_t y, uint32_t c, uint32_t z,
				 uint32_t t)
{
	return (struct tiff_meta){
		.g = {.x = x,
		      .y = y,
		      .c = c,
		      .z = z,
		      .t = t,
		      .bps = 2,
		      .samples = 1},
		.format = TIFF_SF_UINT,
		.source_type = "uint16",
		.about.image_id = 1234,
		.about.image_name = "tiny \"test\" image",
		.about.source = "zarr",
		.about.phys_x = 0.25,
		.about.phys_y = 0.3,
		.about.phys_z = 1.5,
		.about.time_increment = 2.0,
		.about.nchannels = c == 2 ? 2 : 0,
		.about.channels = c == 2 ? two_channels : NULL,
	};
}

/* The whole file in one read; owned by the caller. */
static uint8_t *read_whole(const struct tiff_file *f, const struct tiff_meta *m)
{
	const struct tiff_layout *l = tiff_file_layout(f);
	struct src s;
	uint8_t *buf;

	src_init(&s, m);
	buf = malloc(l->size);
	assert_non_null(buf);
	assert_int_equal(tiff_file_read(f, 0, l->size, buf, src_rows, &s),
			 l->size);
	return buf;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

struct ent {
	uint16_t tag, type;
	uint32_t count, value;
};

/* The entries of the IFD at off in buf; @return their number. */
static unsigned parse_ifd(const uint8_t *buf, uint64_t off, struct ent *e,
			  unsigned max, uint32_t *next)
{
	unsigned n = get16(buf + off), i;
	const uint8_t *p;

	assert_true(n <= max);
	for (i = 0; i < n; i++) {
		p = buf + off + 2 + 12 * i;
		e[i].tag = get16(p);
		e[i].type = get16(p + 2);
		e[i].count = get32(p + 4);
		e[i].value = e[i].type == 3 && e[i].count == 1 ? get16(p + 8)
							       : get32(p + 8);
	}
	*next = get32(buf + off + 2 + 12 * n);
	return n;
}

/* The k-th (0-based) entry with this tag, or NULL. */
static const struct ent *find_ent(const struct ent *e, unsigned n, uint16_t tag,
				  unsigned k)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (e[i].tag == tag && k-- == 0)
			return &e[i];
	}
	return NULL;
}

/* ---- libtiff over memory or over tiff_file_read ----------------------- */

struct vfile {
	const uint8_t *mem;	   /* whole file, or NULL: read through f */
	const struct tiff_file *f; /* with src */
	struct src *src;
	uint64_t size, pos;
	unsigned errors;
};

static tmsize_t vf_read(thandle_t h, void *buf, tmsize_t n)
{
	struct vfile *v = (struct vfile *)h;
	ssize_t got;

	if (v->pos >= v->size)
		return 0;
	if ((uint64_t)n > v->size - v->pos)
		n = (tmsize_t)(v->size - v->pos);
	if (v->mem) {
		memcpy(buf, v->mem + v->pos, (size_t)n);
		got = n;
	} else {
		got = tiff_file_read(v->f, v->pos, (size_t)n, buf, src_rows,
				     v->src);
		if (got < 0)
			return -1;
	}
	v->pos += (uint64_t)got;
	return got;
}

static tmsize_t vf_write(thandle_t h, void *buf, tmsize_t n)
{
	(void)h;
	(void)buf;
	(void)n;
	return -1;
}

static toff_t vf_seek(thandle_t h, toff_t off, int whence)
{
	struct vfile *v = (struct vfile *)h;

	if (whence == SEEK_SET)
		v->pos = off;
	else if (whence == SEEK_CUR)
		v->pos += off;
	else
		v->pos = v->size + off;
	return v->pos;
}

static int vf_close(thandle_t h)
{
	(void)h;
	return 0;
}

static toff_t vf_size(thandle_t h)
{
	return ((struct vfile *)h)->size;
}

static int vf_map(thandle_t h, void **base, toff_t *size)
{
	(void)h;
	(void)base;
	(void)size;
	return 0;
}

static void vf_unmap(thandle_t h, void *base, toff_t size)
{
	(void)h;
	(void)base;
	(void)size;
}

static int vf_error(TIFF *tif, void *user, const char *module, const char *fmt,
		    va_list ap)
{
	struct vfile *v = user;

	(void)tif;
	fprintf(stderr, "libtiff error: %s: ", module ? module : "");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	v->errors++;
	return 1;
}

/*
 * Warnings are expected: the two 270 tags "are not sorted", and 50838/
 * 50839 are unknown to libtiff (FORMATS.md 4, libtiff row).
 */
static int vf_warning(TIFF *tif, void *user, const char *module,
		      const char *fmt, va_list ap)
{
	(void)tif;
	(void)user;
	(void)module;
	(void)fmt;
	(void)ap;
	return 1;
}

static TIFF *vf_open(struct vfile *v)
{
	TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
	TIFF *tif;

	assert_non_null(o);
	TIFFOpenOptionsSetErrorHandlerExtR(o, vf_error, v);
	TIFFOpenOptionsSetWarningHandlerExtR(o, vf_warning, v);
	/* "m": no memory mapping, every byte goes through vf_read */
	tif = TIFFClientOpenExt("virtual.tif", "rm", (thandle_t)v, vf_read,
				vf_write, vf_seek, vf_close, vf_size, vf_map,
				vf_unmap, o);
	TIFFOpenOptionsFree(o);
	assert_non_null(tif);
	return tif;
}

/*
 * Every directory of a whole file through libtiff: the geometry and
 * sample tags, and every strip's bytes equal to the pattern.
 */
static void check_with_libtiff(const uint8_t *buf, const struct tiff_file *f,
			       const struct tiff_meta *m)
{
	const struct tiff_layout *l = tiff_file_layout(f);
	const uint64_t row_bytes = (uint64_t)m->g.x * m->g.bps * m->g.samples;
	struct vfile v = {.mem = buf, .size = l->size};
	uint32_t w, h, rps, r0, nr;
	uint16_t bps, sf, spp, photo, planar;
	uint64_t k = 0, *so, *sbc;
	uint8_t *got, *want;
	tmsize_t n;
	TIFF *tif;
	tstrip_t s;

	tif = vf_open(&v);
	got = malloc(l->plane_size);
	want = malloc(l->plane_size);
	assert_non_null(got);
	assert_non_null(want);
	do {
		/* the same geometry and sample tags in every IFD */
		assert_int_equal(TIFFCurrentDirOffset(tif),
				 k == 0 ? 8 : l->i0 + (k - 1) * l->s1);
		assert_int_equal(TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w), 1);
		assert_int_equal(TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h), 1);
		assert_int_equal(w, m->g.x);
		assert_int_equal(h, m->g.y);
		assert_int_equal(
			TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps),
			1);
		assert_int_equal(bps, 8 * m->g.bps);
		assert_int_equal(
			TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &sf),
			1);
		assert_int_equal(sf, m->format);
		assert_int_equal(TIFFGetFieldDefaulted(
					 tif, TIFFTAG_SAMPLESPERPIXEL, &spp),
				 1);
		assert_int_equal(spp, m->g.samples);
		assert_int_equal(TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photo),
				 1);
		assert_int_equal(photo, m->rendered ? PHOTOMETRIC_RGB
						    : PHOTOMETRIC_MINISBLACK);
		assert_int_equal(TIFFGetFieldDefaulted(
					 tif, TIFFTAG_PLANARCONFIG, &planar),
				 1);
		assert_int_equal(planar, PLANARCONFIG_CONTIG);
		assert_int_equal(TIFFGetField(tif, TIFFTAG_ROWSPERSTRIP, &rps),
				 1);
		assert_int_equal(rps, l->rows_per_strip);
		assert_false(TIFFIsTiled(tif));
		assert_int_equal(TIFFNumberOfStrips(tif), l->strips);
		assert_int_equal(TIFFGetField(tif, TIFFTAG_STRIPOFFSETS, &so),
				 1);
		assert_int_equal(
			TIFFGetField(tif, TIFFTAG_STRIPBYTECOUNTS, &sbc), 1);
		/* every strip holds exactly the callback's rows */
		for (s = 0; s < l->strips; s++) {
			r0 = s * rps;
			nr = m->g.y - r0 < rps ? m->g.y - r0 : rps;
			assert_int_equal(so[s], l->d0 + k * l->plane_size +
							r0 * row_bytes);
			assert_int_equal(sbc[s], nr * row_bytes);
			n = TIFFReadRawStrip(tif, s, got, (tmsize_t)sbc[s]);
			assert_int_equal(n, nr * row_bytes);
			fill_rows(m, k, r0, nr, want);
			assert_memory_equal(got, want, (size_t)n);
		}
		k++;
	} while (TIFFReadDirectory(tif));
	/* one IFD per plane, or IFD0 alone above 4 GiB */
	assert_int_equal(k, l->single_ifd ? 1 : l->planes);
	assert_int_equal(v.errors, 0);
	TIFFClose(tif);
	free(got);
	free(want);
}

/* The text of the k-th ImageDescription of IFD0 (0: OME, 1: ImageJ). */
static const char *description(const uint8_t *buf, unsigned k)
{
	struct ent e[32];
	const struct ent *d;
	uint32_t next;
	unsigned n = parse_ifd(buf, 8, e, 32, &next);

	d = find_ent(e, n, 270, k);
	if (!d)
		return NULL;
	/* the count is the bytes with the NUL */
	assert_int_equal(buf[d->value + d->count - 1], 0);
	assert_int_equal(strlen((const char *)buf + d->value), d->count - 1);
	return (const char *)buf + d->value;
}

/*
 * The IJ metadata's info text (UTF-16LE) as ASCII ('?' for the rest), and
 * the number of byte counts (items): heap, free().
 */
static char *ij_info(const uint8_t *buf, unsigned *nitems)
{
	struct ent e[32];
	const struct ent *counts, *data;
	uint32_t next, hdr, len;
	unsigned n = parse_ifd(buf, 8, e, 32, &next);
	char *out;

	counts = find_ent(e, n, 50838, 0);
	data = find_ent(e, n, 50839, 0);
	assert_non_null(counts);
	assert_non_null(data);
	if (nitems)
		*nitems = counts->count;
	hdr = get32(buf + counts->value);
	len = get32(buf + counts->value + 4);
	out = malloc(len / 2 + 1);
	assert_non_null(out);
	for (uint32_t i = 0; i < len / 2; i++) {
		unsigned c = buf[data->value + hdr + 2 * i] |
			     buf[data->value + hdr + 2 * i + 1] << 8;

		out[i] = c < 128 ? (char)c : '?';
	}
	out[len / 2] = '\0';
	return out;
}

/* ---- golden bytes ----------------------------------------------------- */

/*
 * tests/data/tiff/golden_small.tif was written by this test with
 * IDRFS_TIFF_GOLDEN_OUT set (tests/data/tiff/regen.sh) and then checked by
 * hand before it was frozen: tiffinfo and tiffdump list 4 directories of
 * 5x3 uint16 with one ImageJ description (tiffinfo warns only of the
 * two IJMetadata tags, which libtiff does not know); Debian's tifffile
 * 2023.2.3 reads it as ImageJ (2, 2, 3, 5) ZCYX with the IJ ranges, LUTs
 * and the channel names as labels. Any change
 * of a byte must be deliberate: regenerate and re-check the same way.
 */
static void test_tiff_golden(void **state)
{
	struct tiff_meta m = meta_u16(5, 3, 2, 2, 1);
	const char *out = getenv("IDRFS_TIFF_GOLDEN_OUT");
	const struct tiff_layout *l;
	struct tiff_file *f = NULL;
	uint8_t *buf;
	char *gold;
	size_t glen = 0;
	FILE *fp;

	(void)state;
	/* a tiny image with names, colours and sizes builds */
	assert_int_equal(tiff_file_new(&m, &f), 0);
	l = tiff_file_layout(f);
	assert_int_equal(l->size, 25240);
	buf = read_whole(f, &m);
	if (out) {
		/* regeneration: write the bytes, compare nothing */
		fp = fopen(out, "wb");
		assert_non_null(fp);
		assert_int_equal(fwrite(buf, 1, l->size, fp), l->size);
		assert_int_equal(fclose(fp), 0);
	} else {
		/* the bytes equal the frozen file, every one of them */
		gold = testutil_read("tiff/golden_small.tif", &glen);
		assert_non_null(gold);
		assert_int_equal(glen, l->size);
		assert_memory_equal(buf, gold, glen);
		free(gold);
	}
	free(buf);
	tiff_file_free(f);
}

/* ---- the structure, re-read by libtiff -------------------------------- */

static void test_tiff_libtiff_reopen(void **state)
{
	/* 37 columns (odd row bytes), 150 rows: 3 strips, the last short */
	struct tiff_meta m = meta_u16(37, 150, 2, 3, 2);
	const struct tiff_layout *l;
	struct tiff_file *f = NULL;
	struct ent e[32];
	const char *ome, *ij;
	uint32_t next, k, n;
	uint8_t *buf;

	(void)state;
	assert_int_equal(tiff_file_new(&m, &f), 0);
	l = tiff_file_layout(f);
	assert_int_equal(l->strips, 3);
	buf = read_whole(f, &m);

	/* header: little-endian classic TIFF, IFD0 at 8 */
	assert_memory_equal(buf, "II*\0\x08\0\0\0", 8);
	/* IFD0: 17 entries sorted by tag, one 270 (libtiff: no warning
	 * that tags are not sorted) */
	n = parse_ifd(buf, 8, e, 32, &next);
	assert_int_equal(n, 17);
	for (k = 1; k < n; k++)
		assert_true(e[k].tag > e[k - 1].tag);
	assert_null(find_ent(e, n, 274, 0));
	assert_int_equal(next, l->i0);
	/* out-of-line values word-aligned and inside the head */
	for (k = 0; k < n; k++) {
		if (e[k].type == 5 || e[k].count > (e[k].type == 3 ? 2 : 4) ||
		    (e[k].type <= 2 && e[k].count > 4)) {
			assert_int_equal(e[k].value % 2, 0);
			assert_true(e[k].value >= 230 && e[k].value < l->d0);
		}
	}
	/* XResolution 1e6 / round(0.25e6): 1/XRes is exactly 0.25 um */
	assert_int_equal(get32(buf + find_ent(e, n, 282, 0)->value), 1000000);
	assert_int_equal(get32(buf + find_ent(e, n, 282, 0)->value + 4),
			 250000);
	assert_int_equal(get32(buf + find_ent(e, n, 283, 0)->value + 4),
			 300000);
	assert_int_equal(find_ent(e, n, 296, 0)->value, 1);

	/* one description, ImageJ's (the OME-TIFF is the .ome.tif) */
	ij = description(buf, 0);
	assert_null(description(buf, 1));
	/* IJ items: header, info, a label per plane, ranges, 2 LUTs */
	ome = ij_info(buf, &k);
	assert_int_equal(k, 2 + 12 + 1 + 2);
	assert_non_null(strstr(ome, "raw uint16 pixel values"));
	free((char *)ome);
	assert_string_equal(ij, "ImageJ=1.53t\nimages=12\nchannels=2\n"
				"slices=3\nframes=2\nhyperstack=true\n"
				"mode=composite\nunit=micron\nspacing=1.5\n"
				"finterval=2.0\nloop=false\nmin=100.0\n"
				"max=3000.5\n");

	/* IFD k: 14 entries, no private tags, chained, last next = 0 */
	for (k = 1; k < l->planes; k++) {
		n = parse_ifd(buf, l->i0 + (k - 1) * l->s1, e, 32, &next);
		assert_int_equal(n, 14);
		assert_null(find_ent(e, n, 270, 0));
		assert_true(e[n - 1].tag < 10000);
		assert_int_equal(next,
				 k + 1 < l->planes ? l->i0 + k * l->s1 : 0);
		/* the tail's values live in the tail */
		assert_int_equal(find_ent(e, n, 282, 0)->value, l->t0);
		assert_int_equal(find_ent(e, n, 279, 0)->value, l->t0 + 16);
	}
	/* libtiff: every directory and every strip */
	check_with_libtiff(buf, f, &m);
	free(buf);
	tiff_file_free(f);
}

/* ---- reads at any offset ---------------------------------------------- */

static uint64_t rnd_next(uint64_t *x)
{
	/* xorshift64*: a fixed sequence, so failures reproduce */
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 2685821657736338717ull;
}

/* One read of [off, off+len) equals the slice of the whole buffer. */
static void check_slice(const struct tiff_file *f, const struct tiff_meta *m,
			const uint8_t *whole, uint64_t off, size_t len,
			uint8_t *tmp)
{
	const uint64_t size = tiff_file_layout(f)->size;
	size_t want = off >= size ? 0 : len < size - off ? len : size - off;
	struct src s;

	src_init(&s, m);
	assert_int_equal(tiff_file_read(f, off, len, tmp, src_rows, &s), want);
	assert_memory_equal(tmp, whole + (off < size ? off : 0), want);
}

static void random_reads(const struct tiff_file *f, const struct tiff_meta *m,
			 const uint8_t *whole, uint64_t seed, unsigned count)
{
	const struct tiff_layout *l = tiff_file_layout(f);
	uint8_t *tmp = malloc(l->size + 1);
	uint64_t off, x = seed;
	size_t len;
	unsigned i;

	assert_non_null(tmp);
	for (i = 0; i < count; i++) {
		switch (i % 4) {
		case 0:
			/* ImageJ reads the head a byte at a time */
			off = rnd_next(&x) % l->d0;
			len = 1;
			break;
		case 1:
			/* small reads anywhere, tail and EOF included */
			off = rnd_next(&x) % (l->size + 16);
			len = 1 + rnd_next(&x) % 64;
			break;
		case 2:
			off = rnd_next(&x) % l->size;
			len = 1 + rnd_next(&x) % 5000;
			break;
		default:
			/* long reads across planes and regions */
			off = rnd_next(&x) % l->size;
			len = 1 + rnd_next(&x) % l->size;
			break;
		}
		check_slice(f, m, whole, off, len, tmp);
	}
	free(tmp);
}

static void test_tiff_random_reads(void **state)
{
	/* odd row bytes, 3 strips, a tail: every region and boundary */
	struct tiff_meta m = meta_u16(37, 150, 2, 3, 2);
	const struct tiff_layout *l;
	struct tiff_file *f = NULL;
	uint8_t *buf, *tmp;
	uint64_t off;
	struct src s;

	(void)state;
	assert_int_equal(tiff_file_new(&m, &f), 0);
	l = tiff_file_layout(f);
	buf = read_whole(f, &m);
	tmp = malloc(l->size);
	assert_non_null(tmp);
	/* the first 512 bytes one by one, as ImageJ's decoder reads them */
	for (off = 0; off < 512; off++)
		check_slice(f, &m, buf, off, 1, tmp);
	/* 2000 random (offset, length) pairs */
	random_reads(f, &m, buf, 0x9e3779b97f4a7c15ull, 2000);
	/* the edges: each region boundary +-1, reads at and past EOF */
	check_slice(f, &m, buf, l->d0 - 1, 2, tmp);
	check_slice(f, &m, buf, l->t0 - 1, 20, tmp);
	check_slice(f, &m, buf, l->i0 - 1, l->s1 + 2, tmp);
	check_slice(f, &m, buf, l->size - 1, 100, tmp);
	check_slice(f, &m, buf, l->size, 100, tmp);
	check_slice(f, &m, buf, l->size + 12345, 1, tmp);
	/* a zero-length read reads nothing */
	src_init(&s, &m);
	assert_int_equal(tiff_file_read(f, 0, 0, tmp, src_rows, &s), 0);
	assert_int_equal(s.calls, 0);
	free(tmp);
	free(buf);
	tiff_file_free(f);
}

/* ---- the rows callback ------------------------------------------------ */

static void test_tiff_rows_calls(void **state)
{
	/* 10 x 100 uint16 (20-byte rows), 3 planes of 2000 bytes */
	struct tiff_meta m = meta_u16(10, 100, 1, 3, 1);
	const struct tiff_layout *l;
	struct tiff_file *f = NULL;
	uint8_t *buf, *whole;
	uint64_t off;
	size_t len;
	struct src s;

	(void)state;
	assert_int_equal(tiff_file_new(&m, &f), 0);
	l = tiff_file_layout(f);
	whole = read_whole(f, &m);
	buf = malloc(l->size);
	assert_non_null(buf);

	/* mid-row in plane 0 to mid-row in plane 2: one call per plane */
	off = l->d0 + 5 * 20 + 3;
	len = (size_t)(l->d0 + 2 * 2000 + 10 * 20 + 7 - off);
	src_init(&s, &m);
	assert_int_equal(tiff_file_read(f, off, len, buf, src_rows, &s), len);
	assert_memory_equal(buf, whole + off, len);
	assert_int_equal(s.calls, 3);
	assert_int_equal(s.plane[0], 0);
	assert_int_equal(s.row0[0], 5);
	assert_int_equal(s.nrows[0], 95);
	assert_int_equal(s.plane[1], 1);
	assert_int_equal(s.row0[1], 0);
	assert_int_equal(s.nrows[1], 100);
	assert_int_equal(s.plane[2], 2);
	assert_int_equal(s.row0[2], 0);
	assert_int_equal(s.nrows[2], 11);
	/* the whole plane in the middle went straight into the output */
	assert_ptr_equal(s.dst[1], buf + (2000 - 5 * 20 - 3));

	/* whole rows: one call, no scratch copy */
	src_init(&s, &m);
	off = l->d0 + 2000 + 10 * 20;
	assert_int_equal(tiff_file_read(f, off, 10 * 20, buf, src_rows, &s),
			 200);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.row0[0], 10);
	assert_int_equal(s.nrows[0], 10);
	assert_ptr_equal(s.dst[0], buf);
	assert_memory_equal(buf, whole + off, 200);

	/* one byte inside a row: one row fetched, one column of it */
	src_init(&s, &m);
	off = l->d0 + 2 * 2000 + 99 * 20 + 19;
	assert_int_equal(tiff_file_read(f, off, 1, buf, src_rows, &s), 1);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.row0[0], 99);
	assert_int_equal(s.nrows[0], 1);
	assert_int_equal(s.col0[0], 9);
	assert_int_equal(s.ncols[0], 1);
	assert_int_equal(buf[0], whole[off]);

	/* bytes 3..12 of a row: columns 1..6 (half pixels count whole) */
	src_init(&s, &m);
	off = l->d0 + 2000 + 7 * 20 + 3;
	assert_int_equal(tiff_file_read(f, off, 10, buf, src_rows, &s), 10);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.col0[0], 1);
	assert_int_equal(s.ncols[0], 6);
	assert_memory_equal(buf, whole + off, 10);
	/* across a row boundary: whole rows */
	src_init(&s, &m);
	off = l->d0 + 7 * 20 + 15;
	assert_int_equal(tiff_file_read(f, off, 10, buf, src_rows, &s), 10);
	assert_int_equal(s.nrows[0], 2);
	assert_int_equal(s.col0[0], 0);
	assert_int_equal(s.ncols[0], 10);
	assert_memory_equal(buf, whole + off, 10);

	/* head and tail reads never call back */
	src_init(&s, &m);
	s.forbid = true;
	assert_int_equal(tiff_file_read(f, 0, l->d0, buf, src_rows, &s), l->d0);
	assert_int_equal(
		tiff_file_read(f, l->t0, l->size - l->t0, buf, src_rows, &s),
		l->size - l->t0);
	free(buf);
	free(whole);
	tiff_file_free(f);
}

static void test_tiff_callback_error(void **state)
{
	struct tiff_meta m = meta_u16(10, 100, 1, 3, 1);
	const struct tiff_layout *l;
	struct tiff_file *f = NULL;
	uint8_t *buf;
	struct src s;

	(void)state;
	assert_int_equal(tiff_file_new(&m, &f), 0);
	l = tiff_file_layout(f);
	buf = malloc(l->size);
	assert_non_null(buf);
	/* a failing plane fails a read that touches it, with its errno */
	src_init(&s, &m);
	s.fail_plane = 1;
	s.fail_rc = -EIO;
	assert_int_equal(tiff_file_read(f, 0, l->size, buf, src_rows, &s),
			 -EIO);
	src_init(&s, &m);
	s.fail_plane = 1;
	s.fail_rc = -ETIMEDOUT;
	assert_int_equal(
		tiff_file_read(f, l->d0 + 2000 + 7, 3, buf, src_rows, &s),
		-ETIMEDOUT);
	/* reads that do not touch it still succeed */
	src_init(&s, &m);
	s.fail_plane = 1;
	s.fail_rc = -EIO;
	assert_int_equal(tiff_file_read(f, 0, l->d0 + 2000, buf, src_rows, &s),
			 l->d0 + 2000);
	assert_int_equal(
		tiff_file_read(f, l->d0 + 4000, 2000, buf, src_rows, &s), 2000);
	/* a read of pixels without a callback is refused */
	assert_int_equal(tiff_file_read(f, l->d0, 10, buf, NULL, NULL),
			 -EINVAL);
	free(buf);
	tiff_file_free(f);
}

/* ---- pixel types ------------------------------------------------------ */

struct type_case {
	const char *name;
	unsigned bps, samples;
	enum tiff_sample_format format;
	const char *source_type;
	bool int8_shifted, rendered;
	const char *ome_type;
};

static const struct type_case type_cases[] = {
	{"uint8", 1, 1, TIFF_SF_UINT, "uint8", false, false, "uint8"},
	{"int8", 1, 1, TIFF_SF_UINT, "int8", true, false, "uint8"},
	{"int16", 2, 1, TIFF_SF_INT, "int16", false, false, "int16"},
	{"uint16", 2, 1, TIFF_SF_UINT, "uint16", false, false, "uint16"},
	{"int32", 4, 1, TIFF_SF_INT, "int32", false, false, "int32"},
	{"uint32", 4, 1, TIFF_SF_UINT, "uint32", false, false, "uint32"},
	{"float", 4, 1, TIFF_SF_FLOAT, "float", false, false, "float"},
	{"double", 4, 1, TIFF_SF_FLOAT, "double", false, false, "float"},
	{"rgb", 1, 3, TIFF_SF_UINT, "uint16", false, true, "uint8"},
};

static void test_tiff_pixel_types(void **state)
{
	const struct type_case *tc;
	const struct tiff_layout *l;
	struct tiff_file *f;
	struct tiff_meta m;
	const char *ome, *ij;
	char want[64];
	uint8_t *buf;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_LEN(type_cases); i++) {
		tc = &type_cases[i];
		/* 70 rows: 2 strips; C=2 Z=2 T=2 */
		m = meta_u16(13, 70, 2, 2, 2);
		m.g.bps = tc->bps;
		m.g.samples = tc->samples;
		m.format = tc->format;
		m.source_type = tc->source_type;
		m.int8_shifted = tc->int8_shifted;
		m.rendered = tc->rendered;
		f = NULL;
		assert_int_equal(tiff_file_new(&m, &f), 0);
		l = tiff_file_layout(f);
		buf = read_whole(f, &m);
		/* libtiff sees the file's type in every IFD and strip */
		check_with_libtiff(buf, f, &m);
		/* and reads at odd offsets agree with the whole file */
		random_reads(f, &m, buf, 77 + i, 200);
		/* the info says what the bytes are */
		ome = ij_info(buf, NULL);
		snprintf(want, sizeof(want), "%s", tc->ome_type);
		assert_true(tc->rendered || strstr(ome, want));
		ij = description(buf, 0);
		assert_null(description(buf, 1));
		assert_int_equal(strncmp(ij, "ImageJ=1.53t\n", 13), 0);
		if (tc->int8_shifted) {
			/* ImageJ shows v, not v+128 */
			assert_non_null(strstr(ij, "\ncf=0\nc0=-128.0\nc1=1.0\n"
						   "vunit=gray value\n"));
			assert_non_null(strstr(ome, "int8 converted"));
		} else {
			assert_null(strstr(ij, "cf="));
		}
		if (!strcmp(tc->name, "double"))
			assert_non_null(strstr(ome, "double converted to "
						    "float"));
		if (tc->rendered) {
			/* one RGB plane per z and t, said to be rendered */
			assert_int_equal(l->planes, 4);
			assert_non_null(strstr(ij, "images=4\nslices=2\n"
						   "frames=2\n"));
			assert_null(strstr(ij, "channels="));
			assert_null(strstr(ij, "mode="));
			assert_non_null(strstr(ome, "RENDERED 8-bit RGB"));
		} else {
			assert_int_equal(l->planes, 8);
			assert_non_null(strstr(ij, "images=8\nchannels=2\n"));
			assert_non_null(strstr(ome, "raw ") ||
					strstr(ome, "converted"));
		}
		free((char *)ome);
		free(buf);
		tiff_file_free(f);
	}
}

/* ---- above 4 GiB: the head only --------------------------------------- */

static void test_tiff_single_ifd_head(void **state)
{
	/* 2048^2 uint16, C=2, Z=300: 5 GB, ImageJ's single-IFD form */
	struct tiff_meta m = meta_u16(2048, 2048, 2, 300, 1);
	const char *ij_want = "ImageJ=1.53t\nimages=600\nchannels=2\n"
			      "slices=300\nframes=1\n";
	const struct tiff_layout *l;
	struct tiff_file *f = NULL;
	struct vfile v = {0};
	struct ent e[32];
	struct src s;
	uint32_t next, w, n;
	uint8_t *head;
	char *desc;
	TIFF *tif;

	(void)state;
	assert_int_equal(tiff_file_new(&m, &f), 0);
	l = tiff_file_layout(f);
	assert_true(l->single_ifd);
	assert_true(l->size > TIFF_CLASSIC_MAX);
	head = malloc(l->d0);
	assert_non_null(head);
	src_init(&s, &m);
	s.forbid = true;
	assert_int_equal(tiff_file_read(f, 0, l->d0, head, src_rows, &s),
			 l->d0);
	/* IFD0 only: one description, next = 0 */
	n = parse_ifd(head, 8, e, 32, &next);
	assert_int_equal(n, 17);
	assert_int_equal(next, 0);
	assert_non_null(find_ent(e, n, 270, 0));
	assert_null(find_ent(e, n, 270, 1));
	/* no OME-XML anywhere: Bio-Formats would want an IFD per plane */
	assert_null(memmem(head, l->d0, "<OME", 4));
	assert_int_equal(
		strncmp(description(head, 0), ij_want, strlen(ij_want)), 0);
	/* StripOffsets of IFD0 point at D0: 32 strips of 64 rows */
	assert_int_equal(find_ent(e, n, 273, 0)->count, 32);
	assert_int_equal(get32(head + find_ent(e, n, 273, 0)->value), l->d0);
	/* the last bytes of the file are pixels, reached without a tail */
	src_init(&s, &m);
	assert_int_equal(tiff_file_read(f, l->size - 3, 10, head, src_rows, &s),
			 3);
	assert_int_equal(s.plane[0], 599);
	free(head);

	/* libtiff reads the directory through tiff_file_read, no pixel */
	src_init(&s, &m);
	s.forbid = true;
	v.f = f;
	v.src = &s;
	v.size = l->size;
	tif = vf_open(&v);
	assert_int_equal(TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w), 1);
	assert_int_equal(w, 2048);
	assert_int_equal(TIFFGetField(tif, TIFFTAG_IMAGEDESCRIPTION, &desc), 1);
	assert_int_equal(strncmp(desc, "ImageJ=1.53t\nimages=600\n", 24), 0);
	assert_false(TIFFReadDirectory(tif));
	assert_int_equal(v.errors, 0);
	TIFFClose(tif);
	tiff_file_free(f);
}

/* ---- the head never outgrows D0 --------------------------------------- */

/* Valid UTF-8 throughout: a cut name must not split a character. */
static bool utf8_valid(const char *s)
{
	const uint8_t *u = (const uint8_t *)s;
	unsigned k, need;

	while (*u) {
		need = *u < 0x80	     ? 0
		       : (*u & 0xe0) == 0xc0 ? 1
		       : (*u & 0xf0) == 0xe0 ? 2
		       : (*u & 0xf8) == 0xf0 ? 3
					     : 9;
		if (need == 9)
			return false;
		for (k = 1; k <= need; k++) {
			if ((u[k] & 0xc0) != 0x80)
				return false;
		}
		u += need + 1;
	}
	return true;
}

/* The head of f: every value inside [0, D0), the OME-XML intact. */
static void check_head_fits(const struct tiff_file *f,
			    const struct tiff_meta *m, size_t nchannels)
{
	const struct tiff_layout *l = tiff_file_layout(f);
	static const unsigned type_size[] = {0, 1, 1, 2, 4, 8};
	uint8_t *head = malloc(l->d0);
	const char *ome, *p;
	struct ent e[32];
	uint32_t next, sum = 0;
	unsigned n, k, channels = 0;
	const struct ent *counts, *data;
	struct src s;

	assert_non_null(head);
	src_init(&s, m);
	s.forbid = true;
	assert_int_equal(tiff_file_read(f, 0, l->d0, head, src_rows, &s),
			 l->d0);
	n = parse_ifd(head, 8, e, 32, &next);
	for (k = 0; k < n; k++) {
		if ((uint64_t)e[k].count * type_size[e[k].type] > 4)
			assert_true(e[k].value + (uint64_t)e[k].count *
							 type_size[e[k].type] <=
				    l->d0);
	}
	ome = description(head, 0);
	assert_true(utf8_valid(ome));
	assert_int_equal(strncmp(ome, "ImageJ=", 7), 0);
	(void)p;
	(void)channels;
	(void)nchannels;
	/* the IJ byte counts add up to the IJ data */
	counts = find_ent(e, n, 50838, 0);
	data = find_ent(e, n, 50839, 0);
	assert_non_null(counts);
	assert_non_null(data);
	for (k = 0; k < counts->count; k++)
		sum += get32(head + counts->value + 4 * k);
	assert_int_equal(sum, data->count);
	free(head);
}

static void test_tiff_head_overflow(void **state)
{
	struct tiff_channel *ch = calloc(1000, sizeof(*ch));
	char *names = malloc(1000 * 1001), *big = malloc(100001);
	struct tiff_meta m = meta_u16(64, 64, 1000, 1, 1);
	struct tiff_file *f = NULL;
	uint8_t *head;
	size_t i, j;

	(void)state;
	assert_non_null(ch);
	assert_non_null(names);
	assert_non_null(big);
	/* 1000 channels, 1000-byte names that escape to 3-5x in XML */
	for (i = 0; i < 1000; i++) {
		char *nm = names + i * 1001;

		for (j = 0; j + 4 <= 1000; j += 4)
			memcpy(nm + j, "&<\xc3\xa9", 4);
		nm[j] = '\0';
		ch[i] = (struct tiff_channel){nm, (uint32_t)i * 0x10101u, 0, i};
	}
	m.about.nchannels = 1000;
	m.about.channels = ch;
	/* it builds, cut to fit: never a head larger than D0 */
	assert_int_equal(tiff_file_new(&m, &f), 0);
	check_head_fits(f, &m, 1000);
	head = malloc(tiff_file_layout(f)->d0);
	assert_non_null(head);
	assert_int_equal(
		tiff_file_read(f, 0, tiff_file_layout(f)->d0, head, NULL, NULL),
		tiff_file_layout(f)->d0);
	/* the description is whole; labels that did not fit are left out */
	assert_int_equal(strncmp(description(head, 0), "ImageJ=", 7), 0);
	free(head);
	tiff_file_free(f);

	/* a 100 kB image name, every byte invalid UTF-8 or a quote */
	for (i = 0; i < 100000; i++)
		big[i] = i % 2 ? '"' : (char)0xff;
	big[100000] = '\0';
	m = meta_u16(64, 64, 1, 1, 1);
	m.about.image_name = big;
	m.about.source = big;
	f = NULL;
	assert_int_equal(tiff_file_new(&m, &f), 0);
	check_head_fits(f, &m, 1);
	tiff_file_free(f);
	free(big);
	free(names);
	free(ch);
}

/* ---- metadata that does not describe the bytes ------------------------ */

static void test_tiff_bad_meta(void **state)
{
	struct tiff_meta m;
	struct tiff_file *f = (struct tiff_file *)&m;

	(void)state;
	/* float needs 4 bytes per sample */
	m = meta_u16(4, 4, 1, 1, 1);
	m.format = TIFF_SF_FLOAT;
	assert_int_equal(tiff_file_new(&m, &f), -EINVAL);
	/* rendered files are 8-bit RGB, and only they have 3 samples */
	m = meta_u16(4, 4, 1, 1, 1);
	m.rendered = true;
	assert_int_equal(tiff_file_new(&m, &f), -EINVAL);
	m = meta_u16(4, 4, 1, 1, 1);
	m.g.samples = 3;
	m.g.bps = 1;
	assert_int_equal(tiff_file_new(&m, &f), -EINVAL);
	/* shifted int8 is one unsigned byte */
	m = meta_u16(4, 4, 1, 1, 1);
	m.int8_shifted = true;
	assert_int_equal(tiff_file_new(&m, &f), -EINVAL);
	/* channel metadata is for every channel or none */
	m = meta_u16(4, 4, 3, 1, 1);
	m.about.nchannels = 2;
	m.about.channels = two_channels;
	assert_int_equal(tiff_file_new(&m, &f), -EINVAL);
	/* a bad geometry is the layout's error; out is untouched */
	m = meta_u16(0, 4, 1, 1, 1);
	assert_int_equal(tiff_file_new(&m, &f), -EINVAL);
	assert_ptr_equal(f, (struct tiff_file *)&m);
	/* freeing nothing is fine */
	tiff_file_free(NULL);
}

/* ---- any geometry: issue 9 ------------------------------------------ */

/* A geometry, in the order x, y, c, z, t, bytes per sample, samples. */
static struct tiff_geom geom(uint32_t x, uint32_t y, uint32_t c, uint32_t z,
			     uint32_t t, unsigned bps, unsigned samples)
{
	return (struct tiff_geom){.x = x,
				  .y = y,
				  .c = c,
				  .z = z,
				  .t = t,
				  .bps = bps,
				  .samples = samples};
}

/*
 * Issue 9, defect 1: Pixels of SizeZ = SizeT = 2^30 and SizeC = 16 made
 * the plane count wrap to 0 (2^64) and the layout divide by it (SIGFPE on
 * ls of the dataset). Now -EFBIG, and the out-param untouched.
 */
static void test_tiff_plane_count_wraps(void **state)
{
	struct tiff_geom g = geom(512, 512, 16, 1u << 30, 1u << 30, 1, 1);
	struct tiff_layout l = {.size = 42};

	(void)state;
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	assert_int_equal(l.size, 42);
	/* products just under and over 2^64 */
	g.c = 15;
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	g.c = 17;
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	g.z = g.t = UINT32_MAX;
	g.c = UINT32_MAX;
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	/* 2^32 planes: a 32-bit product would wrap to 0 */
	g = geom(1, 1, 1, 1u << 16, 1u << 16, 1, 1);
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	/* TIFF_MAX_PLANES exactly is fine, one more is not */
	g.z = TIFF_MAX_PLANES;
	g.t = 1;
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_int_equal(l.planes, TIFF_MAX_PLANES);
	g.z++;
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	/* RGB files do not count C as planes, but C still costs head */
	g = geom(1, 1, UINT32_MAX, 1, 1, 1, 3);
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	g.c = TIFF_MAX_CHANNELS;
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	g.c++;
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
}

/* Plane sizes around 2^32 and 2^64 bytes, strips around 4 GiB. */
static void test_tiff_plane_size_limits(void **state)
{
	struct tiff_geom g = geom(65536, 65535, 1, 1, 1, 1, 1);
	struct tiff_layout l;

	(void)state;
	/* one plane just under 4 GiB: classic, one IFD */
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_false(l.single_ifd);
	assert_true(l.size <= TIFF_CLASSIC_MAX);
	assert_int_equal(l.size, l.d0 + 65536ull * 65535);
	/* just over: plane 0's last strips would start past 4 GiB, where
	 * IFD0's 32-bit StripOffsets cannot point */
	g.y = 65537;
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	/* x * y * bps * samples past 2^64 */
	g = geom(UINT32_MAX, UINT32_MAX, 1, 1, 1, 4, 3);
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	/* a row over TIFF_MAX_ROW_BYTES (a read inside a row buffers whole
	 * rows) is refused; one at the cap is not */
	g = geom(TIFF_MAX_ROW_BYTES + 1, 64, 1, 1, 1, 1, 1);
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	g.x--;
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_int_equal(l.strips, 1);
	/* a tall image: y near 2^32 does not wrap the strip count (it
	 * did, in 32 bits, to 0 strips); its 2^26 strips need 512 MiB of
	 * arrays in the head, so plane 0 cannot start low enough */
	g = geom(1, UINT32_MAX, 1, 1, 1, 1, 1);
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	g.y = 1u << 31;
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_int_equal(l.strips, 1u << 25);
	assert_false(l.single_ifd);
	assert_true(l.d0 > 8ull << 25);
	assert_int_equal(l.size, l.d0 + (1ull << 31));
	/* three such planes: past 4 GiB, plane 0's strips still start
	 * below it */
	g.z = 3;
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_true(l.single_ifd);
	assert_int_equal(l.size, l.d0 + (3ull << 31));
}

/*
 * Every geometry of sizes drawn from edge values, in every sample size:
 * a success is exactly right (checked in 128 bits), a refusal is -EFBIG
 * and only for a file that cannot be.
 */
static void test_tiff_geometry_sweep(void **state)
{
	static const uint32_t v[] = {1,
				     2,
				     63,
				     64,
				     65,
				     65536,
				     TIFF_MAX_CHANNELS + 1,
				     1u << 24,
				     (1u << 24) + 1,
				     0x7fffffffu,
				     UINT32_MAX};
	static const unsigned bps[] = {1, 2, 4};
	const size_t nv = ARRAY_LEN(v);
	size_t ok = 0, big = 0;

	(void)state;
	for (size_t i = 0; i < nv * nv * nv * nv * nv; i++) {
		size_t k = i;
		struct tiff_geom g = {0};

		g.x = v[k % nv];
		k /= nv;
		g.y = v[k % nv];
		k /= nv;
		g.c = v[k % nv];
		k /= nv;
		g.z = v[k % nv];
		k /= nv;
		g.t = v[k % nv];
		for (size_t b = 0; b < 6; b++) {
			struct tiff_layout l = {.size = 7};
			unsigned __int128 planes, plane, strip;
			uint64_t rps;
			int rc;

			g.bps = bps[b % 3];
			g.samples = b < 3 ? 1 : 3;
			planes = (unsigned __int128)g.z * g.t *
				 (g.samples == 3 ? 1 : g.c);
			plane = (unsigned __int128)g.x * g.y * g.bps *
				g.samples;
			rps = g.y < 64 ? g.y : 64;
			strip = (unsigned __int128)g.x * g.bps * g.samples *
				rps;
			rc = tiff_layout_compute(&g, &l);
			if (rc == 0) {
				ok++;
				assert_true(l.planes == planes);
				assert_true(l.plane_size == plane);
				assert_int_equal(l.rows_per_strip, rps);
				assert_int_equal(l.strips,
						 (g.y + rps - 1) / rps);
				assert_true(l.d0 % TIFF_HEAD_ALIGN == 0);
				assert_true((unsigned __int128)l.d0 +
						    planes * plane <=
					    l.size);
				assert_true(l.size <= TIFF_MAX_BYTES);
				assert_true(strip <= TIFF_CLASSIC_MAX);
				assert_true(strip / rps <= TIFF_MAX_ROW_BYTES);
				assert_true(l.single_ifd ||
					    l.size <= TIFF_CLASSIC_MAX);
				assert_true(!l.single_ifd ||
					    l.d0 + (l.strips - 1) * strip <=
						    TIFF_CLASSIC_MAX);
				continue;
			}
			big++;
			assert_int_equal(rc, -EFBIG);
			assert_int_equal(l.size, 7);
			/* refused only for a file that cannot be: the head
			 * is under 64 KiB + 8 bytes a strip + 2 KiB a channel
			 */
			assert_true(planes > TIFF_MAX_PLANES ||
				    g.c > TIFF_MAX_CHANNELS ||
				    strip / rps > TIFF_MAX_ROW_BYTES ||
				    strip > TIFF_CLASSIC_MAX ||
				    planes * plane + 65536 + 8ull * g.y / rps +
						    2048ull * g.c >
					    TIFF_CLASSIC_MAX);
		}
	}
	/* both outcomes were exercised */
	assert_true(ok > 1000);
	assert_true(big > 1000);
}

/* Zero sizes and unknown sample sizes: -EINVAL, whatever the rest. */
static void test_tiff_geometry_invalid(void **state)
{
	static const unsigned bad_bps[] = {0, 3, 8, UINT32_MAX};
	static const unsigned bad_samples[] = {0, 2, 4, UINT32_MAX};
	struct tiff_layout l = {.size = 9};

	(void)state;
	for (unsigned d = 0; d < 5; d++) {
		struct tiff_geom g = geom(UINT32_MAX, UINT32_MAX, UINT32_MAX,
					  UINT32_MAX, UINT32_MAX, 4, 3);
		uint32_t *dim[5] = {&g.x, &g.y, &g.c, &g.z, &g.t};

		*dim[d] = 0;
		assert_int_equal(tiff_layout_compute(&g, &l), -EINVAL);
	}
	for (size_t i = 0; i < ARRAY_LEN(bad_bps); i++) {
		struct tiff_geom g = geom(1, 1, 1, 1, 1, bad_bps[i], 1);

		assert_int_equal(tiff_layout_compute(&g, &l), -EINVAL);
		g.bps = 1;
		g.samples = bad_samples[i];
		assert_int_equal(tiff_layout_compute(&g, &l), -EINVAL);
	}
	assert_int_equal(l.size, 9);
}

/* The file of a refused geometry: -EFBIG, logged with image and URL. */
static void test_tiff_file_refused_logged(void **state)
{
	char path[] = "/tmp/idrfs-test-tiff-XXXXXX";
	struct tiff_meta m = meta_u16(512, 512, 16, 1u << 30, 1u << 30);
	struct tiff_file *f = (struct tiff_file *)&m;
	char buf[4096] = {0};
	FILE *fp;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(log_open(LOG_SINK_FILE, path), 0);
	m.g.bps = 1;
	m.source_type = "uint8";
	m.about.image_id = 987654;
	m.about.source = "http://127.0.0.1:1/zarr/987654.zarr/0";
	/* -EFBIG, out untouched */
	assert_int_equal(tiff_file_new(&m, &f), -EFBIG);
	assert_ptr_equal(f, (struct tiff_file *)&m);
	/* the layout alone logs nothing; its callers log for it */
	tiff_geom_log(&m.g, 42, NULL, -EFBIG);
	log_close();
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_true(fread(buf, 1, sizeof(buf) - 1, fp) > 0);
	fclose(fp);
	unlink(path);
	assert_non_null(strstr(buf, "image 987654 (\"http://127.0.0.1:1/"
				    "zarr/987654.zarr/0\"): 512x512, C=16 "
				    "Z=1073741824 T=1073741824"));
	assert_non_null(strstr(buf, "too large"));
	assert_non_null(strstr(buf, "image 42: 512x512"));
}

/* ---- unknown sizes, one plane ----------------------------------------- */

static void test_tiff_unknown_sizes(void **state)
{
	struct tiff_meta m = meta_u16(9, 7, 1, 1, 1);
	struct tiff_file *f = NULL;
	struct ent e[32];
	const char *ij, *ome;
	uint32_t next, n;
	uint8_t *buf;

	(void)state;
	m.about.phys_x = m.about.phys_y = m.about.phys_z =
		m.about.time_increment = 0;
	m.about.image_name = NULL;
	m.about.source = NULL;
	assert_int_equal(tiff_file_new(&m, &f), 0);
	buf = read_whole(f, &m);
	n = parse_ifd(buf, 8, e, 32, &next);
	/* one plane: no tail, next = 0, the strip inline */
	assert_int_equal(next, 0);
	assert_int_equal(find_ent(e, n, 273, 0)->value,
			 tiff_file_layout(f)->d0);
	assert_int_equal(find_ent(e, n, 279, 0)->value, 9 * 7 * 2);
	/* sizes unknown: resolution 1/1, no unit, no spacing */
	assert_int_equal(get32(buf + find_ent(e, n, 282, 0)->value), 1);
	assert_int_equal(get32(buf + find_ent(e, n, 282, 0)->value + 4), 1);
	ij = description(buf, 0);
	assert_string_equal(ij, "ImageJ=1.53t\nimages=1\nchannels=1\n"
				"slices=1\nframes=1\nmode=grayscale\n"
				"loop=false\n");
	(void)ome;
	/* and libtiff reads the one plane */
	check_with_libtiff(buf, f, &m);
	free(buf);
	tiff_file_free(f);
}

/* ---- concurrent reads of one file ------------------------------------- */

struct reader {
	const struct tiff_file *f;
	const struct tiff_meta *m;
	const uint8_t *whole;
	uint64_t seed;
	unsigned bad;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	const struct tiff_layout *l = tiff_file_layout(r->f);
	uint8_t *tmp = malloc(l->size);
	uint64_t off, x = r->seed;
	size_t len;
	unsigned i;
	struct src s;

	if (!tmp) {
		r->bad++;
		return NULL;
	}
	/* no cmocka asserts off the main thread: count mismatches */
	for (i = 0; i < 500; i++) {
		off = rnd_next(&x) % l->size;
		len = 1 + rnd_next(&x) % 20000;
		if (len > l->size - off)
			len = (size_t)(l->size - off);
		src_init(&s, r->m);
		if (tiff_file_read(r->f, off, len, tmp, src_rows, &s) !=
			    (ssize_t)len ||
		    memcmp(tmp, r->whole + off, len))
			r->bad++;
	}
	free(tmp);
	return NULL;
}

static void test_tiff_concurrent_reads(void **state)
{
	struct tiff_meta m = meta_u16(37, 150, 2, 3, 2);
	struct tiff_file *f = NULL;
	struct reader r[4];
	pthread_t th[4];
	uint8_t *whole;
	unsigned i;

	(void)state;
	assert_int_equal(tiff_file_new(&m, &f), 0);
	whole = read_whole(f, &m);
	/* four threads read one file at once; every read is exact */
	for (i = 0; i < 4; i++) {
		r[i] = (struct reader){f, &m, whole, 1000 + i, 0};
		assert_int_equal(
			pthread_create(&th[i], NULL, reader_main, &r[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(r[i].bad, 0);
	}
	free(whole);
	tiff_file_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tiff_single_plane),
		cmocka_unit_test(test_tiff_tail),
		cmocka_unit_test(test_tiff_rgb),
		cmocka_unit_test(test_tiff_big),
		cmocka_unit_test(test_tiff_bad_geometry),
		cmocka_unit_test(test_tiff_product_wraps),
		cmocka_unit_test(test_tiff_row_cap),
		cmocka_unit_test(test_tiff_channel_cap),
		cmocka_unit_test(test_tiff_golden),
		cmocka_unit_test(test_tiff_libtiff_reopen),
		cmocka_unit_test(test_tiff_random_reads),
		cmocka_unit_test(test_tiff_rows_calls),
		cmocka_unit_test(test_tiff_callback_error),
		cmocka_unit_test(test_tiff_pixel_types),
		cmocka_unit_test(test_tiff_single_ifd_head),
		cmocka_unit_test(test_tiff_head_overflow),
		cmocka_unit_test(test_tiff_bad_meta),
		cmocka_unit_test(test_tiff_unknown_sizes),
		cmocka_unit_test(test_tiff_plane_count_wraps),
		cmocka_unit_test(test_tiff_plane_size_limits),
		cmocka_unit_test(test_tiff_geometry_sweep),
		cmocka_unit_test(test_tiff_geometry_invalid),
		cmocka_unit_test(test_tiff_file_refused_logged),
		cmocka_unit_test(test_tiff_concurrent_reads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
