/* SPDX-License-Identifier: MIT */
/*
 * tiff_ome: the tiled pyramidal BigTIFF OME-TIFF of an image (the picture
 * is in tiff.h, struct tiff_ome_layout). Every byte is arithmetic on the
 * layout except the OME-XML: a plane's IFD group is the same at every
 * plane but for the offsets, which are D0 + p*plane_bytes + ... and
 * 16 + p*ifd_stride + ..., so a million planes or 1600 tiles per plane
 * cost no memory. It does not compress, and does not write classic TIFF.
 */
#include "config.h"

#include "idrfs/tiff.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "idrfs/arith.h"
#include "tiff_int.h"

#define OME_HEADER	    16u
#define OME_MAIN_ENTRIES    18u /* 16 common + ImageDescription + SubIFDs */
#define OME_SUB_ENTRIES	    16u
#define OME_IFD_MAX	    (8u + 20u * OME_MAIN_ENTRIES + 8u)
#define OME_XML_BASE	    16384u
#define OME_XML_PER_CHANNEL 1024u
#define OME_DATA_ALIGN	    4096u

enum {
	TT_ASCII = 2,
	TT_SHORT = 3,
	TT_LONG = 4,
	TT_RATIONAL = 5,
	TT_LONG8 = 16,
	TT_IFD8 = 18,
};

enum {
	TAG_NEW_SUBFILE_TYPE = 254,
	TAG_IMAGE_WIDTH = 256,
	TAG_IMAGE_LENGTH = 257,
	TAG_BITS_PER_SAMPLE = 258,
	TAG_COMPRESSION = 259,
	TAG_PHOTOMETRIC = 262,
	TAG_IMAGE_DESCRIPTION = 270,
	TAG_SAMPLES_PER_PIXEL = 277,
	TAG_X_RESOLUTION = 282,
	TAG_Y_RESOLUTION = 283,
	TAG_PLANAR_CONFIG = 284,
	TAG_RESOLUTION_UNIT = 296,
	TAG_TILE_WIDTH = 322,
	TAG_TILE_LENGTH = 323,
	TAG_TILE_OFFSETS = 324,
	TAG_TILE_BYTE_COUNTS = 325,
	TAG_SUB_IFDS = 330,
	TAG_SAMPLE_FORMAT = 339,
};

static int check_geom(const struct tiff_ome_geom *g)
{
	if (!g->x || !g->y || !g->c || !g->z || !g->t)
		return -EINVAL;
	if (g->bps != 1 && g->bps != 2 && g->bps != 4 && g->bps != 8)
		return -EINVAL;
	switch (g->format) {
	case TIFF_SF_UINT:
	case TIFF_SF_INT:
		/* OME 2016-06 has no 64-bit integers */
		return g->bps == 8 ? -EINVAL : 0;
	case TIFF_SF_FLOAT:
		return g->bps == 4 || g->bps == 8 ? 0 : -EINVAL;
	}
	return -EINVAL;
}

static uint32_t tile_side(uint32_t v)
{
	uint64_t r = ((uint64_t)v + 15) / 16 * 16;

	return r < TIFF_OME_TILE ? (uint32_t)r : TIFF_OME_TILE;
}

/*
 * One IFD with its out-of-line arrays: the entries, the next pointer, then
 * TileOffsets and TileByteCounts (when more than one tile: one LONG8 is
 * inline) and, for level 0, the SubIFDs (when more than one).
 */
static int ifd_len(const struct tiff_ome_layout *l, unsigned k, uint64_t *out)
{
	const unsigned n = k ? OME_SUB_ENTRIES : OME_MAIN_ENTRIES;
	uint64_t tiles = (uint64_t)l->ntx[k] * l->nty[k], v = 8 + 20ull * n + 8;
	uint64_t arrays = 0;
	int rc = 0;

	if (tiles > 1)
		rc = arith_mul_u64(tiles, 16, &arrays);
	if (rc == 0 && k == 0 && l->nlevels > 2)
		rc = arith_add_u64(arrays, 8ull * (l->nlevels - 1), &arrays);
	if (rc == 0)
		rc = arith_add_u64(v, arrays, out);
	return rc;
}

/*
 * Every size is the remote's: each sum and product is checked, and what
 * does not fit is -EFBIG, never a wrapped value. Tiles per level fit a
 * uint32_t (a side < 2^32 over tiles of at least 16).
 */
int tiff_ome_layout_compute(const struct tiff_ome_geom *g,
			    struct tiff_ome_layout *out)
{
	struct tiff_ome_layout l = {0};
	const uint64_t planes_of[3] = {g->c, g->z, g->t};
	uint64_t v, tiles, bytes, groups;
	unsigned k;
	int rc;

	rc = check_geom(g);
	if (rc < 0)
		return rc;
	if (g->c > TIFF_MAX_CHANNELS)
		return -EFBIG;
	rc = arith_prod_u64(planes_of, 3, &l.planes);
	if (rc < 0 || l.planes > TIFF_MAX_PLANES)
		return -EFBIG;
	l.tile_w = tile_side(g->x);
	l.tile_h = tile_side(g->y);
	l.tile_bytes = (uint64_t)l.tile_w * l.tile_h * g->bps;
	l.lx[0] = g->x;
	l.ly[0] = g->y;
	l.nlevels = 1;
	while (l.lx[l.nlevels - 1] > TIFF_OME_TILE ||
	       l.ly[l.nlevels - 1] > TIFF_OME_TILE) {
		k = l.nlevels;
		/* 2^32 halves to 1024 in 22 steps: never reached */
		if (k == TIFF_OME_MAX_LEVELS)
			return -EFBIG;
		l.lx[k] = l.lx[k - 1] / 2 ? l.lx[k - 1] / 2 : 1;
		l.ly[k] = l.ly[k - 1] / 2 ? l.ly[k - 1] / 2 : 1;
		l.nlevels++;
	}
	for (k = 0; k < l.nlevels; k++) {
		l.ntx[k] = (uint32_t)arith_div_ceil_u64(l.lx[k], l.tile_w);
		l.nty[k] = (uint32_t)arith_div_ceil_u64(l.ly[k], l.tile_h);
	}
	for (k = 0; k < l.nlevels; k++) {
		l.ifd_at[k] = l.ifd_stride;
		l.data_at[k] = l.plane_bytes;
		tiles = (uint64_t)l.ntx[k] * l.nty[k];
		rc = ifd_len(&l, k, &l.ifd_len[k]);
		if (rc == 0)
			rc = arith_add_u64(l.ifd_stride, l.ifd_len[k],
					   &l.ifd_stride);
		if (rc == 0)
			rc = arith_mul_u64(tiles, l.tile_bytes, &bytes);
		if (rc == 0)
			rc = arith_add_u64(l.plane_bytes, bytes,
					   &l.plane_bytes);
		if (rc < 0)
			return -EFBIG;
	}
	l.xml_cap = OME_XML_BASE + (uint64_t)OME_XML_PER_CHANNEL * g->c;
	rc = arith_mul_u64(l.planes, l.ifd_stride, &groups);
	if (rc == 0)
		rc = tiff_align_up(OME_HEADER + groups, 8, &l.xml_at);
	if (rc == 0)
		rc = arith_add_u64(l.xml_at, l.xml_cap, &v);
	if (rc == 0)
		rc = tiff_align_up(v, OME_DATA_ALIGN, &l.d0);
	if (rc == 0)
		rc = arith_mul_u64(l.planes, l.plane_bytes, &v);
	if (rc == 0)
		rc = arith_add_u64(l.d0, v, &l.size);
	if (rc < 0 || l.size > TIFF_MAX_BYTES)
		return -EFBIG;
	*out = l;
	return 0;
}

/* ---- the file -------------------------------------------------------- */

struct tiff_ome_file {
	struct tiff_ome_layout l;
	struct tiff_ome_geom g;
	unsigned nused;			      /* levels in SubIFDs + 1 */
	uint32_t res[TIFF_OME_MAX_LEVELS][4]; /* X num, den, Y num, den */
	uint8_t *xml;			      /* NUL-terminated */
	size_t xml_len;			      /* with the NUL */
};

static const char *ome_type(const struct tiff_ome_geom *g)
{
	static const char *const names[3][4] = {
		{"uint8", "uint16", "uint32", NULL},
		{"int8", "int16", "int32", NULL},
		{NULL, NULL, "float", "double"},
	};
	unsigned i = g->bps == 1 ? 0 : g->bps == 2 ? 1 : g->bps == 4 ? 2 : 3;

	return names[g->format - TIFF_SF_UINT][i];
}

static void sb_size(struct tiff_sbuf *b, const char *name, double v,
		    const char *unit)
{
	if (!tiff_known(v))
		return;
	tiff_sb_printf(b, " %s=\"", name);
	tiff_sb_double(b, v);
	tiff_sb_printf(b, "\" %sUnit=\"%s\"", name, unit);
}

/*
 * The OME-XML (FORMATS.md 2.10, OME 2016-06): one Image, its Pixels with
 * the native type, channels with names and colours, one TiffData for all
 * planes of the main chain (SubIFDs are not planes: spec, Sub-resolutions).
 */
static void sb_ome_xml(struct tiff_sbuf *b, const struct tiff_ome_file *f,
		       const struct tiff_ome_meta *m,
		       const struct tiff_shrink *lv)
{
	const struct tiff_ome_geom *g = &m->g;
	const struct tiff_channel *ch;
	uint32_t c, rgba;

	tiff_sb_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			"<OME xmlns=\"http://www.openmicroscopy.org/Schemas/"
			"OME/2016-06\" xmlns:xsi=\"http://www.w3.org/2001/"
			"XMLSchema-instance\" xsi:schemaLocation=\"http://"
			"www.openmicroscopy.org/Schemas/OME/2016-06 http://"
			"www.openmicroscopy.org/Schemas/OME/2016-06/ome.xsd\" "
			"Creator=\"idrfs\">\n <Image ID=\"Image:0\"");
	if (m->about.image_name && lv->image_name) {
		tiff_sb_puts(b, " Name=\"");
		tiff_sb_text(b, m->about.image_name, lv->image_name,
			     TIFF_ENC_XML);
		tiff_sb_putc(b, '"');
	}
	/* Image's schema order: Description comes before Pixels */
	tiff_sb_printf(b, ">\n  <Description>IDR image %" PRId64 ": raw %s",
		       m->about.image_id, ome_type(g));
	tiff_sb_printf(b, " pixel values, %u resolution level(s)", f->nused);
	if (m->about.source && lv->source) {
		tiff_sb_puts(b, "; source: ");
		tiff_sb_text(b, m->about.source, lv->source, TIFF_ENC_XML);
	}
	tiff_sb_puts(b, "</Description>\n");
	tiff_sb_printf(b,
		       "  <Pixels ID=\"Pixels:0\" DimensionOrder=\"XYCZT\" "
		       "Type=\"%s\" SizeX=\"%" PRIu32 "\" SizeY=\"%" PRIu32
		       "\" SizeC=\"%" PRIu32 "\" SizeZ=\"%" PRIu32
		       "\" SizeT=\"%" PRIu32 "\"",
		       ome_type(g), g->x, g->y, g->c, g->z, g->t);
	sb_size(b, "PhysicalSizeX", m->about.phys_x, "\xc2\xb5m");
	sb_size(b, "PhysicalSizeY", m->about.phys_y, "\xc2\xb5m");
	sb_size(b, "PhysicalSizeZ", m->about.phys_z, "\xc2\xb5m");
	sb_size(b, "TimeIncrement", m->about.time_increment, "s");
	tiff_sb_puts(b, " BigEndian=\"false\" Interleaved=\"false\">\n");
	for (c = 0; c < g->c; c++) {
		ch = m->about.nchannels ? &m->about.channels[c] : NULL;
		tiff_sb_printf(b, "   <Channel ID=\"Channel:0:%" PRIu32 "\"",
			       c);
		if (ch && ch->name && lv->channel_name) {
			tiff_sb_puts(b, " Name=\"");
			tiff_sb_text(b, ch->name, lv->channel_name,
				     TIFF_ENC_XML);
			tiff_sb_putc(b, '"');
		}
		tiff_sb_puts(b, " SamplesPerPixel=\"1\"");
		if (ch) {
			/* OME Color: signed 32-bit RRGGBBAA */
			rgba = (ch->color_rgb << 8) | 0xff;
			tiff_sb_printf(b, " Color=\"%" PRId32 "\"",
				       (int32_t)rgba);
		}
		tiff_sb_puts(b, "/>\n");
	}
	tiff_sb_printf(b,
		       "   <TiffData IFD=\"0\" PlaneCount=\"%" PRIu64 "\"/>\n",
		       f->l.planes);
	tiff_sb_puts(b, "  </Pixels>\n </Image>\n</OME>");
}

/* @return 0, -EOVERFLOW (does not fit: cut harder) or -ENOMEM */
static int build_xml(struct tiff_ome_file *f, const struct tiff_ome_meta *m,
		     const struct tiff_shrink *lv)
{
	struct tiff_sbuf b = {0};

	b.cap = (size_t)f->l.xml_cap;
	sb_ome_xml(&b, f, m, lv);
	tiff_sb_putc(&b, '\0');
	if (b.nomem || b.overflow) {
		free(b.p);
		return b.nomem ? -ENOMEM : -EOVERFLOW;
	}
	f->xml = b.p;
	f->xml_len = b.len;
	return 0;
}

int tiff_ome_file_new(const struct tiff_ome_meta *m, struct tiff_ome_file **out)
{
	struct tiff_ome_file *f = NULL;
	double sx, sy;
	unsigned k, lv;
	int rc;

	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	rc = tiff_ome_layout_compute(&m->g, &f->l);
	if (rc < 0)
		goto out;
	rc = -EINVAL;
	if (!m->nlevels || m->nlevels > f->l.nlevels)
		goto out;
	if (!tiff_about_ok(&m->about, m->g.c))
		goto out;
	f->g = m->g;
	f->nused = m->nlevels;
	for (k = 0; k < f->nused; k++) {
		/* a level's pixel is the level-0 size times the reduction */
		sx = m->about.phys_x * ((double)m->g.x / f->l.lx[k]);
		sy = m->about.phys_y * ((double)m->g.y / f->l.ly[k]);
		tiff_rational(sx, &f->res[k][0], &f->res[k][1]);
		tiff_rational(sy, &f->res[k][2], &f->res[k][3]);
	}
	rc = -EOVERFLOW;
	for (lv = 0; lv < TIFF_SHRINK_LEVELS && rc == -EOVERFLOW; lv++)
		rc = build_xml(f, m, &tiff_shrink_levels[lv]);
	if (rc == -EOVERFLOW) {
		/* unreachable by the budget: numbers alone always fit */
		rc = -EFBIG;
	}
	if (rc < 0)
		goto out;
	*out = f;
	f = NULL;
out:
	tiff_ome_file_free(f);
	return rc;
}

void tiff_ome_file_free(struct tiff_ome_file *f)
{
	if (!f)
		return;
	free(f->xml);
	free(f);
}

const struct tiff_ome_layout *
tiff_ome_file_layout(const struct tiff_ome_file *f)
{
	return &f->l;
}

/* ---- IFDs ------------------------------------------------------------ */

static uint64_t ifd_off(const struct tiff_ome_layout *l, uint64_t p, unsigned k)
{
	return OME_HEADER + p * l->ifd_stride + l->ifd_at[k];
}

static uint64_t tile_off(const struct tiff_ome_layout *l, uint64_t p,
			 unsigned k, uint64_t i)
{
	return l->d0 + p * l->plane_bytes + l->data_at[k] + i * l->tile_bytes;
}

/* Where IFD (p, k)'s arrays start (they follow its entries and next). */
static uint64_t arrays_rel(unsigned k)
{
	return 8 + 20ull * (k ? OME_SUB_ENTRIES : OME_MAIN_ENTRIES) + 8;
}

static uint8_t *entry(uint8_t *ifd, unsigned *n, uint16_t tag, uint16_t type,
		      uint64_t count)
{
	uint8_t *e = ifd + 8 + 20 * (*n)++;

	tiff_put16(e, tag);
	tiff_put16(e + 2, type);
	tiff_put64(e + 4, count);
	return e + 12;
}

static void entry_short(uint8_t *ifd, unsigned *n, uint16_t tag, uint16_t v)
{
	tiff_put16(entry(ifd, n, tag, TT_SHORT, 1), v);
}

static void entry_long(uint8_t *ifd, unsigned *n, uint16_t tag, uint32_t v)
{
	tiff_put32(entry(ifd, n, tag, TT_LONG, 1), v);
}

static void entry_rational(uint8_t *ifd, unsigned *n, uint16_t tag,
			   const uint32_t *nd)
{
	uint8_t *v = entry(ifd, n, tag, TT_RATIONAL, 1);

	tiff_put32(v, nd[0]);
	tiff_put32(v + 4, nd[1]);
}

/*
 * The entries and next pointer of IFD (p, k), sorted by tag; zero-filled
 * to the reserved entry count, so the next pointer follows the last one
 * written. @return its length (the arrays follow at arrays_rel(k)).
 */
static size_t ifd_bytes(const struct tiff_ome_file *f, uint64_t p, unsigned k,
			uint8_t *ifd)
{
	const struct tiff_ome_layout *l = &f->l;
	const uint64_t tiles = (uint64_t)l->ntx[k] * l->nty[k];
	const uint64_t base = ifd_off(l, p, k), arr = base + arrays_rel(k);
	const uint64_t nsub = k == 0 ? f->nused - 1 : 0;
	unsigned n = 0;

	memset(ifd, 0, OME_IFD_MAX);
	entry_long(ifd, &n, TAG_NEW_SUBFILE_TYPE, k ? 1 : 0);
	entry_long(ifd, &n, TAG_IMAGE_WIDTH, l->lx[k]);
	entry_long(ifd, &n, TAG_IMAGE_LENGTH, l->ly[k]);
	entry_short(ifd, &n, TAG_BITS_PER_SAMPLE, (uint16_t)(8 * f->g.bps));
	entry_short(ifd, &n, TAG_COMPRESSION, 1);
	entry_short(ifd, &n, TAG_PHOTOMETRIC, 1);
	if (p == 0 && k == 0)
		tiff_put64(entry(ifd, &n, TAG_IMAGE_DESCRIPTION, TT_ASCII,
				 f->xml_len),
			   l->xml_at);
	entry_short(ifd, &n, TAG_SAMPLES_PER_PIXEL, 1);
	entry_rational(ifd, &n, TAG_X_RESOLUTION, &f->res[k][0]);
	entry_rational(ifd, &n, TAG_Y_RESOLUTION, &f->res[k][2]);
	entry_short(ifd, &n, TAG_PLANAR_CONFIG, 1);
	entry_short(ifd, &n, TAG_RESOLUTION_UNIT, 1);
	entry_long(ifd, &n, TAG_TILE_WIDTH, l->tile_w);
	entry_long(ifd, &n, TAG_TILE_LENGTH, l->tile_h);
	tiff_put64(entry(ifd, &n, TAG_TILE_OFFSETS, TT_LONG8, tiles),
		   tiles > 1 ? arr : tile_off(l, p, k, 0));
	tiff_put64(entry(ifd, &n, TAG_TILE_BYTE_COUNTS, TT_LONG8, tiles),
		   tiles > 1 ? arr + 8 * tiles : l->tile_bytes);
	if (nsub)
		tiff_put64(entry(ifd, &n, TAG_SUB_IFDS, TT_IFD8, nsub),
			   nsub > 1 ? arr + (tiles > 1 ? 16 * tiles : 0)
				    : ifd_off(l, p, 1));
	entry_short(ifd, &n, TAG_SAMPLE_FORMAT, (uint16_t)f->g.format);
	tiff_put64(ifd, n);
	/* the main chain: level 0 of the next plane; SubIFDs end at once */
	if (k == 0 && p + 1 < l->planes)
		tiff_put64(ifd + 8 + 20 * n, ifd_off(l, p + 1, 0));
	return (size_t)arrays_rel(k);
}

static size_t min_sz(size_t a, uint64_t b)
{
	return b < a ? (size_t)b : a;
}

/*
 * The value of element i of IFD (p, k)'s arrays, laid out as
 * TileOffsets[tiles] TileByteCounts[tiles] SubIFDs[nlevels - 1], the tile
 * arrays present only when tiles > 1; 0 past what is used.
 */
static uint64_t array_value(const struct tiff_ome_file *f, uint64_t p,
			    unsigned k, uint64_t i)
{
	const struct tiff_ome_layout *l = &f->l;
	const uint64_t tiles = (uint64_t)l->ntx[k] * l->nty[k];
	const uint64_t tarr = tiles > 1 ? tiles : 0;

	if (i < tarr)
		return tile_off(l, p, k, i);
	if (i < 2 * tarr)
		return l->tile_bytes;
	i -= 2 * tarr;
	if (k == 0 && f->nused > 2 && i < f->nused - 1)
		return ifd_off(l, p, 1 + (unsigned)i);
	return 0;
}

/* Bytes of the IFD groups; @return how many were produced (> 0). */
static size_t read_ifds(const struct tiff_ome_file *f, uint64_t pos, size_t n,
			uint8_t *dst)
{
	const struct tiff_ome_layout *l = &f->l;
	uint8_t ifd[OME_IFD_MAX];
	uint64_t rel = pos - OME_HEADER, p = rel / l->ifd_stride, i, v;
	unsigned k = l->nlevels - 1;
	size_t len, j;

	rel %= l->ifd_stride;
	while (k > 0 && l->ifd_at[k] > rel)
		k--;
	rel -= l->ifd_at[k];
	n = min_sz(n, l->ifd_len[k] - rel);
	if (k >= f->nused) {
		/* a level the source lacks: reserved, unused */
		memset(dst, 0, n);
		return n;
	}
	if (rel < arrays_rel(k)) {
		len = ifd_bytes(f, p, k, ifd);
		n = min_sz(n, len - rel);
		memcpy(dst, ifd + rel, n);
		return n;
	}
	rel -= arrays_rel(k);
	for (j = 0; j < n; j++) {
		i = (rel + j) / 8;
		v = array_value(f, p, k, i);
		dst[j] = (uint8_t)(v >> (8 * ((rel + j) % 8)));
	}
	return n;
}

/* ---- reading --------------------------------------------------------- */

/*
 * Pixel bytes within one tile: straight into dst when the range covers
 * the whole tile, else through *scratch (one tile, allocated on first
 * use). @return bytes produced (> 0) or -errno.
 */
static ssize_t read_tile(const struct tiff_ome_file *f, uint64_t pos, size_t n,
			 uint8_t *dst, uint8_t **scratch, tiff_ome_tile_fn tile,
			 void *ctx)
{
	const struct tiff_ome_layout *l = &f->l;
	uint64_t rel = pos - l->d0, p = rel / l->plane_bytes, i, a;
	unsigned k = l->nlevels - 1;
	uint32_t tx, ty;
	int rc;

	rel %= l->plane_bytes;
	while (k > 0 && l->data_at[k] > rel)
		k--;
	rel -= l->data_at[k];
	i = rel / l->tile_bytes;
	a = rel % l->tile_bytes;
	n = min_sz(n, l->tile_bytes - a);
	if (k >= f->nused) {
		memset(dst, 0, n);
		return (ssize_t)n;
	}
	if (!tile)
		return -EINVAL;
	tx = (uint32_t)(i % l->ntx[k]);
	ty = (uint32_t)(i / l->ntx[k]);
	if (a == 0 && n == l->tile_bytes) {
		rc = tile(ctx, k, p, tx, ty, dst);
	} else {
		if (!*scratch) {
			/* tile_bytes <= 1024 * 1024 * 8 */
			*scratch = malloc((size_t)l->tile_bytes);
			if (!*scratch)
				return -ENOMEM;
		}
		rc = tile(ctx, k, p, tx, ty, *scratch);
		if (rc == 0)
			memcpy(dst, *scratch + a, n);
	}
	if (rc > 0)
		rc = -EIO; /* the callback broke its contract */
	return rc < 0 ? rc : (ssize_t)n;
}

ssize_t tiff_ome_file_read(const struct tiff_ome_file *f, uint64_t off,
			   size_t len, uint8_t *out, tiff_ome_tile_fn tile,
			   void *ctx)
{
	const struct tiff_ome_layout *l = &f->l;
	const uint64_t ifds_end = OME_HEADER + l->planes * l->ifd_stride;
	const uint64_t xml_end = l->xml_at + f->xml_len;
	uint8_t head[OME_HEADER], *scratch = NULL;
	size_t done = 0, n;
	uint64_t pos;
	ssize_t rc = 0;

	if (off >= l->size)
		return 0;
	if (len > l->size - off)
		len = (size_t)(l->size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (done < len) {
		pos = off + done;
		n = len - done;
		if (pos < OME_HEADER) {
			memcpy(head, "II\x2b\0\x08\0\0\0", 8);
			tiff_put64(head + 8, OME_HEADER);
			n = min_sz(n, OME_HEADER - pos);
			memcpy(out + done, head + pos, n);
		} else if (pos < ifds_end) {
			n = read_ifds(f, pos, n, out + done);
		} else if (pos >= l->xml_at && pos < xml_end) {
			n = min_sz(n, xml_end - pos);
			memcpy(out + done, f->xml + (pos - l->xml_at), n);
		} else if (pos < l->d0) {
			/* padding before the XML, the rest of its space */
			n = min_sz(n,
				   (pos < l->xml_at ? l->xml_at : l->d0) - pos);
			memset(out + done, 0, n);
		} else {
			rc = read_tile(f, pos, n, out + done, &scratch, tile,
				       ctx);
			if (rc < 0)
				break;
			n = (size_t)rc;
		}
		done += n;
	}
	free(scratch);
	return rc < 0 ? rc : (ssize_t)done;
}
