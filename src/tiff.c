/* SPDX-License-Identifier: MIT */
/*
 * tiff: virtual TIFF layout and bytes. The picture (FORMATS.md 2.2-2.4):
 *
 *   0      header (8) | IFD0 | IFD0 values | descriptions (reserved)
 *   D0     plane 0 | plane 1 | ... | plane N-1        (CZT order, no gaps)
 *   T0     XRes, YRes [, StripByteCounts[S]]          (shared by the tail)
 *   I0     IFD1 | IFD2 | ... each S1 bytes [+ its StripOffsets[S]]
 *
 * The head is reserved from the geometry alone (a base budget plus one per
 * channel for the OME-XML and ImageJ descriptions and IJ metadata), so the
 * size never depends on names or annotations fetched later. It does not
 * write BigTIFF, tiles or compressed strips.
 */
#include "config.h"

#include "idrfs/tiff.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idrfs/arith.h"
#include "idrfs/log.h"
#include "tiff_int.h"

#define TIFF_IFD0_ENTRIES     18u /* 14 base + 2 descriptions + 2 IJ tags */
#define TIFF_TAIL_ENTRIES     14u
#define TIFF_DESC_BASE	      16384u
#define TIFF_DESC_PER_CHANNEL 2048u /* text + 768-byte LUT + range */

/*
 * Every size below comes from the remote (Pixels sizes): each sum and
 * product is checked, and a geometry whose numbers do not fit the file is
 * -EFBIG, never a wrapped value. Two rules beyond the byte budget:
 * StripByteCounts are LONGs (a strip holds at most 4 GiB - 1), and above
 * 4 GiB IFD0 still lists plane 0's strips as LONG offsets, so they must
 * all start below 4 GiB (FORMATS.md 2.7).
 */
int tiff_layout_compute(const struct tiff_geom *g, struct tiff_layout *out)
{
	struct tiff_layout l = {0};
	const uint64_t planes_of[3] = {g->z, g->t, g->samples == 3 ? 1 : g->c};
	const uint64_t row_of[3] = {g->x, g->bps, g->samples};
	uint64_t row, strip, data, head, arrays = 0, tail_arrays = 0, v = 0;
	int rc;

	if (!g->x || !g->y || !g->c || !g->z || !g->t)
		return -EINVAL;
	if ((g->bps != 1 && g->bps != 2 && g->bps != 4) ||
	    (g->samples != 1 && g->samples != 3))
		return -EINVAL;
	if (g->c > TIFF_MAX_CHANNELS)
		return -EFBIG;
	rc = arith_prod_u64(planes_of, 3, &l.planes);
	if (rc < 0 || l.planes > TIFF_MAX_PLANES)
		return -EFBIG;
	rc = arith_prod_u64(row_of, 3, &row);
	if (rc == 0 && row > TIFF_MAX_ROW_BYTES)
		rc = -EFBIG;
	if (rc == 0)
		rc = arith_mul_u64(row, g->y, &l.plane_size);
	if (rc == 0)
		rc = arith_mul_u64(l.plane_size, l.planes, &data);
	if (rc < 0 || data > TIFF_MAX_BYTES)
		return -EFBIG;
	l.rows_per_strip = g->y < TIFF_STRIP_ROWS ? g->y : TIFF_STRIP_ROWS;
	/* fits a uint32_t: y < 2^32 and at least one row per strip */
	l.strips = (uint32_t)arith_div_ceil_u64(g->y, l.rows_per_strip);
	/* no overflow: strip <= plane_size, checked above */
	strip = row * l.rows_per_strip;
	if (strip > TIFF_CLASSIC_MAX)
		return -EFBIG;
	l.n0 = TIFF_IFD0_ENTRIES;
	l.n1 = TIFF_TAIL_ENTRIES;
	if (l.strips > 1) {
		arrays = 8ull * l.strips;
		tail_arrays = 4ull * l.strips;
	}

	/*
	 * The head is bounded (strips < 2^32, c <= TIFF_MAX_CHANNELS), so
	 * its sum cannot wrap; the data and the tail can.
	 */
	head = 8 + 2 + 12ull * l.n0 + 4 + 16 + arrays + TIFF_DESC_BASE +
	       (uint64_t)TIFF_DESC_PER_CHANNEL * g->c;
	rc = tiff_align_up(head, TIFF_HEAD_ALIGN, &l.d0);
	if (rc == 0)
		rc = arith_add_u64(l.d0, data, &v);
	if (rc < 0)
		return -EFBIG;
	if (l.planes == 1) {
		l.size = v;
	} else {
		rc = tiff_align_up(v, 8, &l.t0);
		if (rc == 0)
			rc = arith_add_u64(l.t0, 16 + tail_arrays, &l.i0);
		if (rc == 0)
			rc = tiff_align_up(2 + 12ull * l.n1 + 4 + tail_arrays,
					   8, &l.s1);
		if (rc == 0)
			rc = arith_mul_u64(l.planes - 1, l.s1, &l.size);
		if (rc == 0)
			rc = arith_add_u64(l.size, l.i0, &l.size);
		/* no tail fits: size is then D0 + N*P, known to fit */
		if (rc < 0)
			l.size = UINT64_MAX;
	}
	if (l.size > TIFF_CLASSIC_MAX) {
		/* every offset must fit in 32 bits: ImageJ's own form */
		l.single_ifd = true;
		l.t0 = l.i0 = l.s1 = 0;
		l.size = v;
		/* IFD0's StripOffsets of plane 0: D0 + (S-1)*L, as LONGs */
		rc = arith_mul_u64(l.strips - 1, strip, &head);
		if (rc == 0)
			rc = arith_add_u64(head, l.d0, &head);
		if (rc < 0 || head > TIFF_CLASSIC_MAX)
			return -EFBIG;
	}
	if (l.size > TIFF_MAX_BYTES)
		return -EFBIG;
	*out = l;
	return 0;
}

void tiff_geom_log(const struct tiff_geom *g, int64_t image_id, const char *url,
		   int rc)
{
	char esc[512];

	log_error(LOG_C_TIFF,
		  "image %" PRId64 "%s%s%s: %" PRIu32 "x%" PRIu32 ", C=%" PRIu32
		  " Z=%" PRIu32 " T=%" PRIu32 ", %u byte(s) x %u sample(s)"
		  " cannot be a TIFF: %s",
		  image_id, url ? " (\"" : "",
		  url ? log_escape(url, esc, sizeof(esc)) : "",
		  url ? "\")" : "", g->x, g->y, g->c, g->z, g->t, g->bps,
		  g->samples,
		  rc == -EFBIG ? "too large for the file"
			       : "a zero size or an unknown sample size");
}

/*
 * The bytes.
 *
 * Head: [0, pre_len) is the header, IFD0 and the fixed-size values (the
 * rationals and, for RGB, the BitsPerSample array), kept in pre[]. The two
 * strip arrays of plane 0 follow when S > 1; they are arithmetic (offset
 * D0 + s*L, count L or the short last strip) and are computed on read, so a
 * tall, narrow image does not cost 8*S bytes of memory per open file. Then
 * txt[]: OME-XML, the ImageJ description, the IJ metadata; then zeros to D0.
 *
 * Tail: every tail IFD is the IFD1 template with two words changed (its
 * StripOffsets value or pointer, and its next pointer), followed by its
 * own arithmetic StripOffsets array. So any tail byte costs O(1) per IFD
 * touched and the tail is never materialised.
 *
 * Values are word-aligned (TIFF 6.0: "the Value Offset must be an even
 * number"); strings are padded with a NUL to an even length.
 */

enum {
	TT_BYTE = 1,
	TT_ASCII = 2,
	TT_SHORT = 3,
	TT_LONG = 4,
	TT_RATIONAL = 5,
};

enum {
	TAG_NEW_SUBFILE_TYPE = 254,
	TAG_IMAGE_WIDTH = 256,
	TAG_IMAGE_LENGTH = 257,
	TAG_BITS_PER_SAMPLE = 258,
	TAG_COMPRESSION = 259,
	TAG_PHOTOMETRIC = 262,
	TAG_IMAGE_DESCRIPTION = 270,
	TAG_STRIP_OFFSETS = 273,
	TAG_SAMPLES_PER_PIXEL = 277,
	TAG_ROWS_PER_STRIP = 278,
	TAG_STRIP_BYTE_COUNTS = 279,
	TAG_X_RESOLUTION = 282,
	TAG_Y_RESOLUTION = 283,
	TAG_PLANAR_CONFIG = 284,
	TAG_RESOLUTION_UNIT = 296,
	TAG_SAMPLE_FORMAT = 339,
	TAG_IJ_BYTE_COUNTS = 50838,
	TAG_IJ_DATA = 50839,
};

#define IFD0_OFF     8u
#define IFD0_VALUES  (IFD0_OFF + 2u + 12u * TIFF_IFD0_ENTRIES + 4u) /* A0 */
#define PRE_MAX	     (IFD0_VALUES + 16u + 6u)
#define TAIL_IFD_LEN (2u + 12u * TIFF_TAIL_ENTRIES + 4u)
#define IJ_VERSION   "1.53t"
#define IJ_LUT_BYTES 768u

/* pre[] must leave the descriptions their base budget (layout above) */
_Static_assert(PRE_MAX - (IFD0_VALUES + 16u) < TIFF_DESC_BASE / 2,
	       "the RGB BitsPerSample array eats the description budget");

/* ImageJ's IJMetadata type codes: ASCII read as a big-endian u32. */
#define IJ_MAGIC  0x494a494au /* "IJIJ" */
#define IJ_INFO	  0x696e666fu /* "info" */
#define IJ_RANGE  0x72616e67u /* "rang" */
#define IJ_LUTS	  0x6c757473u /* "luts" */
#define IJ_LABELS 0x6c61626cu /* "labl" */

struct tiff_file {
	struct tiff_layout l;
	uint32_t x, y;
	uint64_t row_bytes;
	uint64_t strip_bytes;	   /* L, a full strip */
	uint64_t last_strip_bytes; /* the last strip of a plane */

	uint8_t pre[PRE_MAX]; /* [0, pre_len) of the file */
	size_t pre_len;
	uint64_t so_off, sbc_off; /* plane 0's strip arrays (S > 1) */
	uint64_t txt_off;	  /* txt[] starts here, ends before D0 */
	uint8_t *txt;
	size_t txt_len;

	uint8_t ifd[TAIL_IFD_LEN]; /* IFD1; IFD k patches two words */
	size_t ifd_so_field;	   /* StripOffsets value field */
};

/* ---- what the file says ---------------------------------------------- */

static bool is_rgb(const struct tiff_meta *m)
{
	return m->g.samples == 3;
}

/* The OME type of the bytes in the file (not of the source). */
static const char *file_type(const struct tiff_meta *m)
{
	static const char *const names[3][3] = {
		{"uint8", "uint16", "uint32"},
		{"int8", "int16", "int32"},
		{"float", "float", "float"},
	};
	unsigned i = m->g.bps == 1 ? 0 : m->g.bps == 2 ? 1 : 2;

	return names[m->format - TIFF_SF_UINT][i];
}

static const char *source_type(const struct tiff_meta *m)
{
	return m->source_type ? m->source_type : file_type(m);
}

static bool is_double_source(const struct tiff_meta *m)
{
	return m->source_type && !strcmp(m->source_type, "double");
}

/* One sentence on what the pixel values are, for both descriptions. */
static void sb_pixels_note(struct tiff_sbuf *b, const struct tiff_meta *m,
			   enum tiff_enc e)
{
	if (m->rendered) {
		tiff_sb_lit(b, "RENDERED 8-bit RGB, not raw pixel values", e);
	} else if (m->int8_shifted) {
		tiff_sb_lit(b, "int8 converted: stored as uint8 value+128", e);
	} else if (strcmp(source_type(m), file_type(m))) {
		/* the source type is remote text: cut and escaped */
		tiff_sb_text(b, source_type(m), 16, e);
		tiff_sb_lit(b, " converted to ", e);
		tiff_sb_lit(b, file_type(m), e);
	} else {
		tiff_sb_lit(b, "raw ", e);
		tiff_sb_lit(b, file_type(m), e);
		tiff_sb_lit(b, " pixel values", e);
	}
}

/* What ImageJ will make of the type, where it is not the obvious. */
static void sb_imagej_note(struct tiff_sbuf *b, const struct tiff_meta *m)
{
	const char *note = NULL;
	const char *t = file_type(m);

	if (m->rendered)
		return;
	if (m->int8_shifted)
		note = "ImageJ shows the signed value through the calibration "
		       "c0=-128; the raw value is v+128";
	else if (is_double_source(m))
		note = "ImageJ cannot open 64-bit samples, so the values are "
		       "rounded to float32";
	else if (!strcmp(t, "uint32"))
		note = "ImageJ reads 32-bit integers as signed and converts "
		       "them to float: values from 2^31 up show negative, "
		       "above 2^24 they lose precision";
	else if (!strcmp(t, "int32"))
		note = "ImageJ converts 32-bit integers to float: exact up "
		       "to 2^24";
	if (!note)
		return;
	tiff_sb_lit(b, "\nnote: ", TIFF_ENC_UTF16);
	tiff_sb_lit(b, note, TIFF_ENC_UTF16);
}

/*
 * ImageJ's description (FileSaver.getDescriptionString, FORMATS.md 2.9). It
 * is a java.util.Properties text, hence TIFF_ENC_PROP for the values.
 */
static void sb_imagej_desc(struct tiff_sbuf *b, const struct tiff_file *f,
			   const struct tiff_meta *m)
{
	const struct tiff_geom *g = &m->g;
	const bool rgb = is_rgb(m);

	tiff_sb_puts(b, "ImageJ=" IJ_VERSION "\n");
	tiff_sb_printf(b, "images=%" PRIu64 "\n", f->l.planes);
	/* RGB: ImageJ reads one colour plane per z and t, no channels */
	if (!rgb)
		tiff_sb_printf(b, "channels=%" PRIu32 "\n", g->c);
	tiff_sb_printf(b, "slices=%" PRIu32 "\nframes=%" PRIu32 "\n", g->z,
		       g->t);
	if (f->l.planes > 1)
		tiff_sb_puts(b, "hyperstack=true\n");
	if (!rgb)
		tiff_sb_puts(b, g->c > 1 ? "mode=composite\n"
					 : "mode=grayscale\n");
	/* without an XY size, "micron" would claim 1 um pixels */
	if (tiff_known(m->about.phys_x)) {
		tiff_sb_puts(b, "unit=");
		tiff_sb_lit(b, "micron", TIFF_ENC_PROP);
		tiff_sb_putc(b, '\n');
		if (tiff_known(m->about.phys_z)) {
			tiff_sb_puts(b, "spacing=");
			tiff_sb_double(b, m->about.phys_z);
			tiff_sb_putc(b, '\n');
		}
	}
	if (tiff_known(m->about.time_increment)) {
		tiff_sb_puts(b, "finterval=");
		tiff_sb_double(b, m->about.time_increment);
		tiff_sb_putc(b, '\n');
	}
	tiff_sb_puts(b, "loop=false\n");
	if (!rgb && m->about.nchannels) {
		tiff_sb_puts(b, "min=");
		tiff_sb_double(b, m->about.channels[0].window_start);
		tiff_sb_puts(b, "\nmax=");
		tiff_sb_double(b, m->about.channels[0].window_end);
		tiff_sb_putc(b, '\n');
	}
	if (m->int8_shifted) {
		/* ImageJ's straight-line calibration, as Bio-Formats sets it */
		tiff_sb_puts(b, "cf=0\nc0=-128.0\nc1=1.0\nvunit=");
		tiff_sb_lit(b, "gray value", TIFF_ENC_PROP);
		tiff_sb_putc(b, '\n');
	}
}

/* The 'info' text of the IJ metadata, UTF-16LE without a NUL. */
static void sb_ij_info(struct tiff_sbuf *b, const struct tiff_meta *m,
		       const struct tiff_shrink *lv)
{
	char num[32];

	snprintf(num, sizeof(num), "%" PRId64, m->about.image_id);
	tiff_sb_lit(b, "IDR image ", TIFF_ENC_UTF16);
	tiff_sb_lit(b, num, TIFF_ENC_UTF16);
	if (m->about.image_name && lv->image_name) {
		tiff_sb_lit(b, ": ", TIFF_ENC_UTF16);
		tiff_sb_text(b, m->about.image_name, lv->image_name,
			     TIFF_ENC_UTF16);
	}
	if (m->about.source && lv->source) {
		tiff_sb_lit(b, "\nsource: ", TIFF_ENC_UTF16);
		tiff_sb_text(b, m->about.source, lv->source, TIFF_ENC_UTF16);
	}
	tiff_sb_lit(b, "\npixels: ", TIFF_ENC_UTF16);
	sb_pixels_note(b, m, TIFF_ENC_UTF16);
	if (lv->notes)
		sb_imagej_note(b, m);
}

/* Does any channel have a name (ImageJ's labels)? */
static bool has_names(const struct tiff_meta *m)
{
	for (size_t c = 0; !is_rgb(m) && c < m->about.nchannels; c++) {
		if (m->about.channels[c].name && m->about.channels[c].name[0])
			return true;
	}
	return false;
}

/*
 * IJMetadataByteCounts and IJMetadata (TiffDecoder.getMetaData): counts
 * [header, info, (labl 0..N-1), rang, lut 0..C-1]; data = magic, (type,
 * count) pairs, then the items. The codes are u32 in file order, so they
 * read reversed here. RGB files carry only the info: LUTs and ranges are
 * for grey channels. With @p labels, every plane's label is its
 * channel's name (ImageJ shows it as the channel's name).
 */
static void sb_ij_meta(struct tiff_sbuf *b, const struct tiff_meta *m,
		       const struct tiff_shrink *lv, bool labels,
		       uint64_t *counts_at, uint32_t *ncounts,
		       uint64_t *data_at, uint32_t *data_len)
{
	const bool luts = !is_rgb(m) && m->about.nchannels;
	const uint64_t nlab = labels ? (uint64_t)m->g.c * m->g.z * m->g.t : 0;
	const uint32_t ntypes = (luts ? 3 : 1) + (nlab ? 1 : 0);
	const uint32_t hdr = 4 + 8 * ntypes;
	size_t counts, start, info_start, info_len, c;
	unsigned i;
	uint32_t col;

	/* labels for more planes than the head could hold are not asked */
	if (nlab > UINT32_MAX / 8) {
		b->overflow = true;
		return;
	}
	*ncounts = (luts ? 3 + m->g.c : 2) + (uint32_t)nlab;
	counts = b->len;
	/* the counts go first; their values are known once data is out */
	for (i = 0; i < *ncounts; i++)
		tiff_sb_u32(b, 0);
	start = b->len;
	tiff_sb_u32(b, IJ_MAGIC);
	tiff_sb_u32(b, IJ_INFO);
	tiff_sb_u32(b, 1);
	if (nlab) {
		tiff_sb_u32(b, IJ_LABELS);
		tiff_sb_u32(b, (uint32_t)nlab);
	}
	if (luts) {
		tiff_sb_u32(b, IJ_RANGE);
		tiff_sb_u32(b, 1);
		tiff_sb_u32(b, IJ_LUTS);
		tiff_sb_u32(b, m->g.c);
	}
	info_start = b->len;
	sb_ij_info(b, m, lv);
	info_len = b->len - info_start;
	/* planes in CZT order: plane p is channel p % C */
	for (uint64_t p = 0; p < nlab && !b->overflow; p++) {
		const char *name = m->about.channels[p % m->g.c].name;
		size_t at = b->len;

		tiff_sb_text(b, name ? name : "", lv->channel_name,
			     TIFF_ENC_UTF16);
		if (!b->overflow && !b->nomem)
			tiff_put32(b->p + counts + 8 + 4 * p,
				   (uint32_t)(b->len - at));
	}
	if (luts) {
		for (c = 0; c < m->g.c; c++) {
			tiff_sb_f64(b, m->about.channels[c].window_start);
			tiff_sb_f64(b, m->about.channels[c].window_end);
		}
		for (c = 0; c < m->g.c; c++) {
			col = m->about.channels[c].color_rgb;
			/* a linear ramp from black to the channel colour */
			for (i = 0; i < 3 * 256; i++) {
				unsigned v =
					(col >> (16 - 8 * (i / 256))) & 0xff;

				tiff_sb_putc(b, (char)(v * (i % 256) / 255));
			}
		}
	}
	if (b->overflow || b->nomem)
		return;
	tiff_put32(b->p + counts, hdr);
	tiff_put32(b->p + counts + 4, (uint32_t)info_len);
	if (luts) {
		size_t r = counts + 8 + 4 * (size_t)nlab;

		tiff_put32(b->p + r, 16 * m->g.c);
		for (c = 0; c < m->g.c; c++)
			tiff_put32(b->p + r + 4 + 4 * c, IJ_LUT_BYTES);
	}
	*counts_at = counts;
	*data_at = start;
	*data_len = (uint32_t)(b->len - start);
}

/* ---- IFDs ----------------------------------------------------------- */

struct entry {
	uint16_t tag, type;
	uint32_t count, value;
};

static void entry_put(uint8_t *p, const struct entry *e)
{
	tiff_put16(p, e->tag);
	tiff_put16(p + 2, e->type);
	tiff_put32(p + 4, e->count);
	if (e->type == TT_SHORT && e->count == 1) {
		tiff_put16(p + 8, (uint16_t)e->value);
		tiff_put16(p + 10, 0);
	} else {
		tiff_put32(p + 8, e->value);
	}
}

/*
 * The entries both IFD kinds share, in tag order, with the two 270 tags
 * and the IJ tags of IFD0 slotted in by the caller. RGB files swap
 * NewSubfileType (0, the default) for PlanarConfiguration (1, chunky) to
 * stay within the entry budgets the layout reserved.
 */
static unsigned base_entries(const struct tiff_file *f,
			     const struct tiff_meta *m, struct entry *e,
			     uint32_t bps_at, uint32_t so_value,
			     uint32_t sbc_value, uint32_t res_at,
			     const struct entry *desc, unsigned ndesc,
			     unsigned *so_index)
{
	const bool rgb = is_rgb(m);
	const uint32_t s = f->l.strips;
	unsigned n = 0, i;

	if (!rgb)
		e[n++] = (struct entry){TAG_NEW_SUBFILE_TYPE, TT_LONG, 1, 0};
	e[n++] = (struct entry){TAG_IMAGE_WIDTH, TT_LONG, 1, f->x};
	e[n++] = (struct entry){TAG_IMAGE_LENGTH, TT_LONG, 1, f->y};
	if (rgb)
		e[n++] = (struct entry){TAG_BITS_PER_SAMPLE, TT_SHORT, 3,
					bps_at};
	else
		e[n++] = (struct entry){TAG_BITS_PER_SAMPLE, TT_SHORT, 1,
					8 * m->g.bps};
	e[n++] = (struct entry){TAG_COMPRESSION, TT_SHORT, 1, 1};
	e[n++] = (struct entry){TAG_PHOTOMETRIC, TT_SHORT, 1, rgb ? 2 : 1};
	for (i = 0; i < ndesc; i++)
		e[n++] = desc[i];
	*so_index = n;
	e[n++] = (struct entry){TAG_STRIP_OFFSETS, TT_LONG, s, so_value};
	e[n++] = (struct entry){TAG_SAMPLES_PER_PIXEL, TT_SHORT, 1,
				m->g.samples};
	e[n++] = (struct entry){TAG_ROWS_PER_STRIP, TT_LONG, 1,
				f->l.rows_per_strip};
	e[n++] = (struct entry){TAG_STRIP_BYTE_COUNTS, TT_LONG, s, sbc_value};
	e[n++] = (struct entry){TAG_X_RESOLUTION, TT_RATIONAL, 1, res_at};
	e[n++] = (struct entry){TAG_Y_RESOLUTION, TT_RATIONAL, 1, res_at + 8};
	if (rgb)
		e[n++] = (struct entry){TAG_PLANAR_CONFIG, TT_SHORT, 1, 1};
	e[n++] = (struct entry){TAG_RESOLUTION_UNIT, TT_SHORT, 1, 1};
	e[n++] = (struct entry){TAG_SAMPLE_FORMAT, TT_SHORT, 1, m->format};
	return n;
}

/*
 * Build txt[] at one shrink level and the entries pointing into it: the
 * two descriptions (one above 4 GiB) and the IJ tags, in desc[].
 * @return 0, -EOVERFLOW (does not fit: try the next level) or -ENOMEM.
 */
static int build_text(struct tiff_file *f, const struct tiff_meta *m,
		      const struct tiff_shrink *lv, bool labels,
		      struct entry *desc, unsigned *ndesc)
{
	struct tiff_sbuf b = {0};
	uint64_t ij_at, counts_at = 0, data_at = 0;
	uint32_t ij_count, ncounts = 0, data_len = 0;
	unsigned n = 0;
	int rc;

	b.cap = f->l.d0 - f->txt_off;
	ij_at = b.len;
	sb_imagej_desc(&b, f, m);
	ij_count = (uint32_t)(b.len - ij_at + 1);
	tiff_sb_end_string(&b);
	sb_ij_meta(&b, m, lv, labels, &counts_at, &ncounts, &data_at,
		   &data_len);
	if (b.nomem) {
		rc = -ENOMEM;
		goto out;
	}
	if (b.overflow) {
		rc = -EOVERFLOW;
		goto out;
	}
	/* one description: the OME-TIFF is the .ome.tif (tiff_ome.c) */
	desc[n++] = (struct entry){TAG_IMAGE_DESCRIPTION, TT_ASCII, ij_count,
				   (uint32_t)(f->txt_off + ij_at)};
	desc[n++] = (struct entry){TAG_IJ_BYTE_COUNTS, TT_LONG, ncounts,
				   (uint32_t)(f->txt_off + counts_at)};
	desc[n++] = (struct entry){TAG_IJ_DATA, TT_BYTE, data_len,
				   (uint32_t)(f->txt_off + data_at)};
	*ndesc = n;
	f->txt = b.p;
	f->txt_len = b.len;
	b.p = NULL;
	rc = 0;
out:
	free(b.p);
	return rc;
}

static int check_meta(const struct tiff_meta *m)
{
	const struct tiff_geom *g = &m->g;

	if (m->format != TIFF_SF_UINT && m->format != TIFF_SF_INT &&
	    m->format != TIFF_SF_FLOAT)
		return -EINVAL;
	if (m->format == TIFF_SF_FLOAT && g->bps != 4)
		return -EINVAL;
	if (m->int8_shifted && (g->bps != 1 || m->format != TIFF_SF_UINT))
		return -EINVAL;
	if (m->rendered != (g->samples == 3))
		return -EINVAL;
	if (m->rendered && (g->bps != 1 || m->format != TIFF_SF_UINT))
		return -EINVAL;
	if (!tiff_about_ok(&m->about, g->c))
		return -EINVAL;
	return 0;
}

int tiff_file_new(const struct tiff_meta *m, struct tiff_file **out)
{
	struct tiff_file *f = NULL;
	struct entry e[TIFF_IFD0_ENTRIES], desc[4];
	uint32_t num, den, so_value, sbc_value, next, bps_at = 0;
	unsigned n, ndesc = 0, so_index, i;
	size_t lv;
	uint64_t at, arrays;
	int rc;

	rc = check_meta(m);
	if (rc < 0)
		return rc;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	rc = tiff_layout_compute(&m->g, &f->l);
	if (rc < 0) {
		tiff_geom_log(&m->g, m->about.image_id, m->about.source, rc);
		goto out;
	}
	f->x = m->g.x;
	f->y = m->g.y;
	f->row_bytes = (uint64_t)m->g.x * m->g.bps * m->g.samples;
	f->strip_bytes = f->row_bytes * f->l.rows_per_strip;
	f->last_strip_bytes =
		f->row_bytes *
		(m->g.y - (uint64_t)(f->l.strips - 1) * f->l.rows_per_strip);

	/* fixed values after IFD0, in the order of FORMATS.md 2.2 */
	at = IFD0_VALUES;
	tiff_rational(m->about.phys_x, &num, &den);
	tiff_put32(f->pre + at, num);
	tiff_put32(f->pre + at + 4, den);
	tiff_rational(m->about.phys_y, &num, &den);
	tiff_put32(f->pre + at + 8, num);
	tiff_put32(f->pre + at + 12, den);
	at += 16;
	if (is_rgb(m)) {
		/* tail IFDs point here too: the layout left them no room */
		bps_at = (uint32_t)at;
		for (i = 0; i < 3; i++)
			tiff_put16(f->pre + at + 2 * i, 8);
		at += 6;
	}
	f->pre_len = (size_t)at;
	arrays = f->l.strips > 1 ? 4ull * f->l.strips : 0;
	f->so_off = at;
	f->sbc_off = at + arrays;
	f->txt_off = at + 2 * arrays;

	/* the labels go first when the text does not fit (many planes),
	 * then the text shrinks level by level */
	rc = -EOVERFLOW;
	for (lv = 0; lv < TIFF_SHRINK_LEVELS && rc == -EOVERFLOW; lv++) {
		if (has_names(m))
			rc = build_text(f, m, &tiff_shrink_levels[lv], true,
					desc, &ndesc);
		if (rc == -EOVERFLOW)
			rc = build_text(f, m, &tiff_shrink_levels[lv], false,
					desc, &ndesc);
	}
	if (rc == -EOVERFLOW) {
		/* unreachable by the budget above; never exceed D0 */
		rc = -EFBIG;
	}
	if (rc < 0)
		goto out;

	/* the header and IFD0 */
	memcpy(f->pre, "II*\0", 4);
	tiff_put32(f->pre + 4, IFD0_OFF);
	if (f->l.strips > 1) {
		so_value = (uint32_t)f->so_off;
		sbc_value = (uint32_t)f->sbc_off;
	} else {
		so_value = (uint32_t)f->l.d0;
		sbc_value = (uint32_t)f->l.plane_size;
	}
	n = base_entries(f, m, e, bps_at, so_value, sbc_value, IFD0_VALUES,
			 desc, ndesc - 2, &so_index);
	e[n++] = desc[ndesc - 2];
	e[n++] = desc[ndesc - 1];
	tiff_put16(f->pre + IFD0_OFF, (uint16_t)n);
	for (i = 0; i < n; i++)
		entry_put(f->pre + IFD0_OFF + 2 + 12 * i, &e[i]);
	next = !f->l.single_ifd && f->l.planes > 1 ? (uint32_t)f->l.i0 : 0;
	/* fewer entries than reserved: next follows them, zeros to A0 */
	tiff_put32(f->pre + IFD0_OFF + 2 + 12 * n, next);

	/* IFD1, the template of the tail; its values live in the tail */
	if (f->l.planes > 1 && !f->l.single_ifd) {
		if (f->l.strips > 1) {
			so_value = (uint32_t)(f->l.i0 + TAIL_IFD_LEN);
			sbc_value = (uint32_t)(f->l.t0 + 16);
		} else {
			so_value = (uint32_t)(f->l.d0 + f->l.plane_size);
			sbc_value = (uint32_t)f->l.plane_size;
		}
		n = base_entries(f, m, e, bps_at, so_value, sbc_value,
				 (uint32_t)f->l.t0, NULL, 0, &so_index);
		tiff_put16(f->ifd, (uint16_t)n);
		for (i = 0; i < n; i++)
			entry_put(f->ifd + 2 + 12 * i, &e[i]);
		f->ifd_so_field = 2 + 12 * so_index + 8;
	}
	*out = f;
	f = NULL;
	rc = 0;
out:
	tiff_file_free(f);
	return rc;
}

void tiff_file_free(struct tiff_file *f)
{
	if (!f)
		return;
	free(f->txt);
	free(f);
}

const struct tiff_layout *tiff_file_layout(const struct tiff_file *f)
{
	return &f->l;
}

/* ---- reading -------------------------------------------------------- */

/*
 * n bytes at byte rel of a u32 array of count elements: element i is
 * first + i*step, except the last, which is last.
 */
static void put_array(uint8_t *dst, uint64_t rel, size_t n, uint64_t first,
		      uint64_t step, uint64_t last, uint64_t count)
{
	uint64_t i;
	uint32_t v;
	size_t k;

	for (k = 0; k < n; k++) {
		i = (rel + k) / 4;
		v = (uint32_t)(i + 1 == count ? last : first + i * step);
		dst[k] = (uint8_t)(v >> (8 * ((rel + k) % 4)));
	}
}

static size_t min_sz(size_t a, uint64_t b)
{
	return b < a ? (size_t)b : a;
}

/* Bytes of the head [0, D0); @return how many were produced (> 0). */
static size_t read_head(const struct tiff_file *f, uint64_t pos, size_t n,
			uint8_t *dst)
{
	const uint64_t s = f->l.strips;
	const uint64_t txt_end = f->txt_off + f->txt_len;

	if (pos < f->pre_len) {
		n = min_sz(n, f->pre_len - pos);
		memcpy(dst, f->pre + pos, n);
	} else if (pos < f->sbc_off) {
		n = min_sz(n, f->sbc_off - pos);
		put_array(dst, pos - f->so_off, n, f->l.d0, f->strip_bytes,
			  f->l.d0 + (s - 1) * f->strip_bytes, s);
	} else if (pos < f->txt_off) {
		n = min_sz(n, f->txt_off - pos);
		put_array(dst, pos - f->sbc_off, n, f->strip_bytes, 0,
			  f->last_strip_bytes, s);
	} else if (pos < txt_end) {
		n = min_sz(n, txt_end - pos);
		memcpy(dst, f->txt + (pos - f->txt_off), n);
	} else {
		n = min_sz(n, f->l.d0 - pos);
		memset(dst, 0, n);
	}
	return n;
}

/* Bytes of the tail [T0, size); @return how many were produced (> 0). */
static size_t read_tail(const struct tiff_file *f, uint64_t pos, size_t n,
			uint8_t *dst)
{
	const struct tiff_layout *l = &f->l;
	const uint64_t s = l->strips;
	uint8_t ifd[TAIL_IFD_LEN];
	uint64_t k, base, rel, so;

	if (pos < l->t0 + 16) {
		/* the rationals are IFD0's: same pixel size everywhere */
		n = min_sz(n, l->t0 + 16 - pos);
		memcpy(dst, f->pre + IFD0_VALUES + (pos - l->t0), n);
		return n;
	}
	if (pos < l->i0) {
		n = min_sz(n, l->i0 - pos);
		put_array(dst, pos - l->t0 - 16, n, f->strip_bytes, 0,
			  f->last_strip_bytes, s);
		return n;
	}
	k = 1 + (pos - l->i0) / l->s1;
	base = l->i0 + (k - 1) * l->s1;
	rel = pos - base;
	n = min_sz(n, l->s1 - rel);
	so = l->d0 + k * l->plane_size;
	if (rel < TAIL_IFD_LEN) {
		n = min_sz(n, TAIL_IFD_LEN - rel);
		memcpy(ifd, f->ifd, TAIL_IFD_LEN);
		tiff_put32(ifd + f->ifd_so_field,
			   (uint32_t)(s > 1 ? base + TAIL_IFD_LEN : so));
		tiff_put32(ifd + TAIL_IFD_LEN - 4,
			   (uint32_t)(k + 1 < l->planes ? base + l->s1 : 0));
		memcpy(dst, ifd + rel, n);
	} else if (s > 1 && rel < TAIL_IFD_LEN + 4 * s) {
		n = min_sz(n, TAIL_IFD_LEN + 4 * s - rel);
		put_array(dst, rel - TAIL_IFD_LEN, n, so, f->strip_bytes,
			  so + (s - 1) * f->strip_bytes, s);
	} else {
		memset(dst, 0, n);
	}
	return n;
}

/*
 * Pixel bytes of one plane: one callback for the rows touched, straight
 * into dst when the range covers whole rows, else through a scratch of at
 * most n + 2 rows. @return bytes produced (> 0) or -errno.
 */
static ssize_t read_pixels(const struct tiff_file *f, uint64_t pos, size_t n,
			   uint8_t *dst, tiff_rows_fn rows, void *ctx)
{
	const uint64_t rb = f->row_bytes;
	uint64_t rel = pos - f->l.d0;
	uint64_t p = rel / f->l.plane_size;
	uint64_t a = rel % f->l.plane_size, b, r0, r1, want;
	uint8_t *scratch = NULL;
	ssize_t rc;

	if (!rows)
		return -EINVAL;
	n = min_sz(n, f->l.plane_size - a);
	b = a + n;
	r0 = a / rb;
	r1 = (b + rb - 1) / rb;
	if (a % rb == 0 && b % rb == 0) {
		rc = rows(ctx, p, (uint32_t)r0, (uint32_t)(r1 - r0), 0, f->x,
			  dst);
		goto out;
	}
	want = (r1 - r0) * rb;
	if (want > SIZE_MAX) {
		rc = -ENOMEM;
		goto out;
	}
	scratch = malloc((size_t)want);
	if (!scratch) {
		rc = -ENOMEM;
		goto out;
	}
	/* inside one row: only the columns it covers */
	uint32_t c0 = 0, nc = f->x;

	if (r1 - r0 == 1) {
		uint64_t px = rb / f->x;

		c0 = (uint32_t)((a - r0 * rb) / px);
		nc = (uint32_t)((b - r0 * rb + px - 1) / px) - c0;
	}
	rc = rows(ctx, p, (uint32_t)r0, (uint32_t)(r1 - r0), c0, nc, scratch);
	if (rc == 0)
		memcpy(dst, scratch + (a - r0 * rb), n);
out:
	free(scratch);
	if (rc > 0)
		rc = -EIO; /* the callback broke its contract */
	return rc < 0 ? rc : (ssize_t)n;
}

ssize_t tiff_file_read(const struct tiff_file *f, uint64_t off, size_t len,
		       uint8_t *out, tiff_rows_fn rows, void *ctx)
{
	const struct tiff_layout *l = &f->l;
	const uint64_t data_end = l->d0 + l->planes * l->plane_size;
	size_t done = 0, n;
	uint64_t pos;
	ssize_t rc;

	if (off >= l->size)
		return 0;
	if (len > l->size - off)
		len = (size_t)(l->size - off);
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (done < len) {
		pos = off + done;
		n = len - done;
		if (pos < l->d0) {
			n = read_head(f, pos, n, out + done);
		} else if (pos < data_end) {
			rc = read_pixels(f, pos, n, out + done, rows, ctx);
			if (rc < 0)
				return rc;
			n = (size_t)rc;
		} else if (pos < l->t0) {
			/* alignment of T0 to 8 */
			n = min_sz(n, l->t0 - pos);
			memset(out + done, 0, n);
		} else {
			n = read_tail(f, pos, n, out + done);
		}
		done += n;
	}
	return (ssize_t)done;
}
