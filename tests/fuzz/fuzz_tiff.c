/* SPDX-License-Identifier: MIT */
/*
 * fuzz_tiff: the virtual TIFF for any geometry and metadata the remote
 * can claim (tiff.h). The input gives sizes, type, channels, physical
 * sizes, names and a list of reads. Checked: the layout is refused or is
 * consistent; a read returns every byte up to the end of file; a range
 * read in two pieces equals the range read at once; pixel bytes are the
 * rows callback's, at the place the layout gives them; the callback is
 * only asked for rows and columns that exist. Files up to FUZZ_TIFF_WHOLE
 * bytes are read whole and opened with libtiff, which must find every
 * plane with its geometry and its pixels.
 */
#include "config.h"

#include <errno.h>
#include <math.h>

#include <tiffio.h>

#include "idrfs/tiff.h"

#include "fuzz.h"

#define FUZZ_TIFF_READ	(64u << 10)
#define FUZZ_TIFF_WHOLE (256u << 10)
#define FUZZ_TIFF_CH	64u

struct src {
	const struct tiff_layout *l;
	uint32_t x, y;
	uint64_t row_bytes;
};

/*
 * The harness's own byte loops are not worth coverage feedback (which
 * would make them the slowest part of an execution).
 */
#define FUZZ_HOT __attribute__((no_sanitize("coverage")))

/* The byte at (plane, row, byte of row) of the pretend source. */
FUZZ_HOT static uint8_t pattern(uint64_t plane, uint64_t row, uint64_t col)
{
	uint32_t v = (uint32_t)(plane * 0x9e3779b1u ^ row * 0x85ebca77u) +
		     (uint32_t)col;

	return (uint8_t)(v ^ v >> 8 ^ v >> 16 ^ v >> 24);
}

FUZZ_HOT static int rows_cb(void *ctx, uint64_t plane, uint32_t row0,
			    uint32_t nrows, uint32_t col0, uint32_t ncols,
			    uint8_t *dst)
{
	const struct src *s = ctx;
	uint64_t px = s->row_bytes / s->x;

	/* tiff.h: whole rows and columns of the image, at least one */
	FUZZ_CHECK(plane < s->l->planes);
	FUZZ_CHECK(nrows >= 1 && row0 < s->y && nrows <= s->y - row0);
	FUZZ_CHECK(ncols >= 1 && col0 < s->x && ncols <= s->x - col0);
	/* only the columns asked for are read back: fill just those */
	for (uint32_t r = 0; r < nrows; r++) {
		uint8_t *row = dst + (uint64_t)r * s->row_bytes;

		for (uint64_t b = col0 * px; b < (col0 + (uint64_t)ncols) * px;
		     b++)
			row[b] = pattern(plane, row0 + r, b);
	}
	return 0;
}

/* Pixel bytes among out[0..n) (file offset off) are the source's. */
FUZZ_HOT static void check_pixels(const struct src *s, uint64_t off,
				  const uint8_t *out, size_t n)
{
	const struct tiff_layout *l = s->l;
	const uint64_t end = l->d0 + l->planes * l->plane_size;

	for (size_t i = 0; i < n; i++) {
		uint64_t pos = off + i, rel, in;

		if (pos < l->d0 || pos >= end)
			continue;
		rel = pos - l->d0;
		in = rel % l->plane_size;
		FUZZ_CHECK(out[i] == pattern(rel / l->plane_size,
					     in / s->row_bytes,
					     in % s->row_bytes));
	}
}

static void check_layout(const struct tiff_geom *g, const struct tiff_layout *l)
{
	uint64_t planes = (uint64_t)g->z * g->t * (g->samples == 3 ? 1 : g->c);

	FUZZ_CHECK(l->planes == planes && planes >= 1);
	FUZZ_CHECK(planes <= TIFF_MAX_PLANES);
	FUZZ_CHECK(l->plane_size ==
		   (uint64_t)g->x * g->y * g->bps * g->samples);
	FUZZ_CHECK(l->d0 % TIFF_HEAD_ALIGN == 0 && l->d0 > 0);
	FUZZ_CHECK(l->size >= l->d0 + planes * l->plane_size);
	FUZZ_CHECK(l->size <= (1ull << 62) + l->d0 + (1ull << 32));
	FUZZ_CHECK(l->strips >= 1 && l->rows_per_strip >= 1);
	FUZZ_CHECK((uint64_t)l->strips * l->rows_per_strip >= g->y);
	if (!l->single_ifd) {
		FUZZ_CHECK(l->size <= TIFF_CLASSIC_MAX);
		FUZZ_CHECK(planes == 1 ||
			   l->t0 >= l->d0 + planes * l->plane_size);
	}
}

/* ---- libtiff over a memory buffer ---- */

struct mem {
	const uint8_t *p;
	uint64_t n, pos;
};

static tsize_t mem_read(thandle_t h, tdata_t buf, tsize_t n)
{
	struct mem *m = (struct mem *)h;
	uint64_t k = (uint64_t)n;

	if (m->pos >= m->n)
		return 0;
	if (k > m->n - m->pos)
		k = m->n - m->pos;
	memcpy(buf, m->p + m->pos, (size_t)k);
	m->pos += k;
	return (tsize_t)k;
}

static tsize_t mem_write(thandle_t h, tdata_t buf, tsize_t n)
{
	(void)h;
	(void)buf;
	(void)n;
	return -1;
}

static toff_t mem_seek(thandle_t h, toff_t off, int whence)
{
	struct mem *m = (struct mem *)h;

	if (whence == SEEK_CUR)
		off += m->pos;
	else if (whence == SEEK_END)
		off += m->n;
	m->pos = off;
	return off;
}

static int mem_close(thandle_t h)
{
	(void)h;
	return 0;
}

static toff_t mem_size(thandle_t h)
{
	return ((struct mem *)h)->n;
}

static int mem_map(thandle_t h, tdata_t *base, toff_t *size)
{
	(void)h;
	(void)base;
	(void)size;
	return 0;
}

static void mem_unmap(thandle_t h, tdata_t base, toff_t size)
{
	(void)h;
	(void)base;
	(void)size;
}

/* libtiff must read back every plane: geometry and pixel bytes. */
static void check_libtiff(const struct src *s, const struct tiff_geom *g,
			  const uint8_t *file, uint64_t n)
{
	struct mem m = {file, n, 0};
	TIFF *t;
	uint64_t plane = 0;
	uint8_t *strip;

	TIFFSetWarningHandler(NULL);
	TIFFSetErrorHandler(NULL);
	/* "c": no strip chopping, the strips are the file's */
	t = TIFFClientOpen("fuzz", "rmc", (thandle_t)&m, mem_read, mem_write,
			   mem_seek, mem_close, mem_size, mem_map, mem_unmap);

	FUZZ_CHECK(t != NULL);
	strip = malloc((size_t)s->row_bytes * TIFF_STRIP_ROWS);
	if (!strip)
		abort();
	do {
		uint32_t w = 0, h = 0;
		uint16_t spp = 0, bps = 0;
		uint32_t nstrips = TIFFNumberOfStrips(t);

		FUZZ_CHECK(plane < s->l->planes);
		TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
		TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
		TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
		TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps);
		FUZZ_CHECK(w == g->x && h == g->y);
		FUZZ_CHECK(spp == g->samples && bps == 8 * g->bps);
		FUZZ_CHECK(nstrips == s->l->strips);
		for (uint32_t k = 0; k < nstrips; k++) {
			tsize_t got = TIFFReadRawStrip(
				t, k, strip,
				(tsize_t)(s->row_bytes * TIFF_STRIP_ROWS));
			uint64_t r0 = (uint64_t)k * s->l->rows_per_strip;

			FUZZ_CHECK(got > 0);
			for (tsize_t i = 0; i < got; i++) {
				uint64_t b = (uint64_t)i;

				FUZZ_CHECK(strip[i] ==
					   pattern(plane, r0 + b / s->row_bytes,
						   b % s->row_bytes));
			}
		}
		plane++;
	} while (TIFFReadDirectory(t));
	FUZZ_CHECK(plane == s->l->planes);
	free(strip);
	TIFFClose(t);
}

/* FUZZ_TIFF_DUMP=path: write the file there, to look at a finding */
static void dump(const uint8_t *file, size_t n)
{
	const char *path = getenv("FUZZ_TIFF_DUMP");
	FILE *f = path ? fopen(path, "wb") : NULL;

	if (!f)
		return;
	fwrite(file, 1, n, f);
	fclose(f);
}

/* ---- the input ---- */

static double take_double(struct fuzz_in *in)
{
	uint64_t v = fuzz_take(in, 8);
	double d;

	memcpy(&d, &v, sizeof(d));
	return d;
}

/* The next NUL-terminated string of the input (NULL when used up). */
static const char *take_str(struct fuzz_in *in, char *buf, size_t cap)
{
	size_t k = 0;

	if (in->n == 0)
		return NULL;
	while (in->n > 0 && *in->p != '\0' && k + 1 < cap) {
		buf[k++] = (char)*in->p++;
		in->n--;
	}
	if (in->n > 0) {
		in->p++;
		in->n--;
	}
	buf[k] = '\0';
	return buf;
}

/* Where a read starts: somewhere in the head, the pixels, the tail, ... */
static uint64_t read_at(const struct tiff_layout *l, unsigned where, uint64_t r)
{
	const uint64_t data = l->planes * l->plane_size;

	switch (where % 6) {
	case 0:
		return r % l->d0;
	case 1:
		return l->d0 + r % data;
	case 2: /* a plane or strip boundary, give or take */
		return l->d0 + (r >> 8) % l->planes * l->plane_size +
		       (r & 0xff) - 128;
	case 3:
		return l->size > l->d0 + data
			       ? l->d0 + data + r % (l->size - l->d0 - data)
			       : l->size;
	case 4:
		return l->size - r % 70000;
	default:
		return r;
	}
}

static void reads(const struct tiff_file *f, const struct src *s,
		  struct fuzz_in *in, unsigned nreads)
{
	const struct tiff_layout *l = s->l;
	uint8_t *a = malloc(FUZZ_TIFF_READ), *b = malloc(FUZZ_TIFF_READ);

	if (!a || !b)
		abort();
	for (unsigned i = 0; i < nreads; i++) {
		unsigned where = (unsigned)fuzz_take(in, 1);
		uint64_t off = read_at(l, where, fuzz_take(in, 8));
		size_t len = (size_t)(fuzz_take(in, 4) % (FUZZ_TIFF_READ + 1));
		size_t cut = len ? (size_t)fuzz_take(in, 4) % len : 0;
		size_t want = off >= l->size	    ? 0
			      : len < l->size - off ? len
						    : (size_t)(l->size - off);
		ssize_t n, n1, n2;

		n = tiff_file_read(f, off, len, a, rows_cb, (void *)s);
		if (n == -ENOMEM)
			continue;
		/* no short read before the end of file */
		FUZZ_CHECK(n >= 0 && (size_t)n == want);
		check_pixels(s, off, a, (size_t)n);
		/* the same bytes when read in two pieces */
		n1 = tiff_file_read(f, off, cut, b, rows_cb, (void *)s);
		n2 = tiff_file_read(f, off + (size_t)(n1 > 0 ? n1 : 0),
				    len - cut, b + (n1 > 0 ? n1 : 0), rows_cb,
				    (void *)s);
		if (n1 == -ENOMEM || n2 == -ENOMEM)
			continue;
		FUZZ_CHECK(n1 >= 0 && n2 >= 0 && (size_t)(n1 + n2) == want);
		FUZZ_CHECK(memcmp(a, b, want) == 0);
	}
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned bps[] = {1, 2, 4, 0, 3};
	struct fuzz_in in = {data, size};
	struct tiff_meta m = {0};
	struct tiff_channel ch[FUZZ_TIFF_CH];
	char names[FUZZ_TIFF_CH][32], name[256], source[256], stype[16];
	struct tiff_layout l;
	struct tiff_file *f = NULL;
	struct src s;
	unsigned flags, nreads;
	int rc;

	m.g.x = (uint32_t)fuzz_take(&in, 4);
	m.g.y = (uint32_t)fuzz_take(&in, 4);
	m.g.c = (uint32_t)fuzz_take(&in, 4);
	m.g.z = (uint32_t)fuzz_take(&in, 4);
	m.g.t = (uint32_t)fuzz_take(&in, 4);
	m.g.bps = bps[fuzz_take(&in, 1) % 5];
	flags = (unsigned)fuzz_take(&in, 1);
	m.g.samples = flags & 1 ? 3 : 1;
	m.format = (enum tiff_sample_format)(1 + ((flags >> 1) & 3) % 3);
	m.int8_shifted = flags & 8;
	m.rendered = flags & 16;
	nreads = (unsigned)fuzz_take(&in, 1) % 8;
	m.about.phys_x = take_double(&in);
	m.about.phys_y = take_double(&in);
	m.about.phys_z = take_double(&in);
	m.about.time_increment = take_double(&in);
	m.about.image_id = (int64_t)fuzz_take(&in, 8);

	rc = tiff_layout_compute(&m.g, &l);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EFBIG);
	if (rc < 0)
		return 0;
	check_layout(&m.g, &l);

	if (flags & 32 && m.g.c <= FUZZ_TIFF_CH) {
		for (uint32_t c = 0; c < m.g.c; c++) {
			ch[c].name = take_str(&in, names[c], sizeof(names[c]));
			ch[c].color_rgb = (uint32_t)fuzz_take(&in, 3);
			ch[c].window_start = take_double(&in);
			ch[c].window_end = take_double(&in);
		}
		m.about.nchannels = m.g.c;
		m.about.channels = ch;
	}
	if (flags & 64)
		m.source_type = take_str(&in, stype, sizeof(stype));
	m.about.image_name = take_str(&in, name, sizeof(name));
	m.about.source = take_str(&in, source, sizeof(source));

	rc = tiff_file_new(&m, &f);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (rc < 0)
		return 0;
	/* the file's layout is the geometry's */
	s.l = tiff_file_layout(f);
	FUZZ_CHECK(s.l->size == l.size && s.l->d0 == l.d0 &&
		   s.l->planes == l.planes && s.l->single_ifd == l.single_ifd);
	s.x = m.g.x;
	s.y = m.g.y;
	s.row_bytes = (uint64_t)m.g.x * m.g.bps * m.g.samples;
	reads(f, &s, &in, nreads);
	if (l.size <= FUZZ_TIFF_WHOLE) {
		uint8_t *file = malloc((size_t)l.size);
		ssize_t n;

		if (!file)
			abort();
		n = tiff_file_read(f, 0, (size_t)l.size, file, rows_cb, &s);
		FUZZ_CHECK(n >= 0 && (uint64_t)n == l.size);
		dump(file, (size_t)n);
		check_pixels(&s, 0, file, (size_t)n);
		check_libtiff(&s, &m.g, file, l.size);
		free(file);
	}
	tiff_file_free(f);
	return 0;
}
