/* SPDX-License-Identifier: MIT */
/*
 * tiff_int: what the two TIFF writers of the tiff module share (tiff.c,
 * the ImageJ hyperstack; tiff_ome.c, the tiled pyramidal OME-TIFF): the
 * little-endian stores, the capped text buffer and its encodings (XML,
 * UTF-16LE, Java properties), numbers as Java prints them, the pixel size
 * as a rational and how far remote strings are cut to fit a reserved head.
 * Implemented in tiff_text.c. Not a public interface.
 */
#ifndef IDRFS_TIFF_INT_H
#define IDRFS_TIFF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idrfs/tiff.h"

#define TIFF_NAME_ELLIPSIS "..."

/*
 * v rounded up to a multiple of a (a power of two, from this module).
 * @return 0 or -EOVERFLOW (*out untouched)
 */
int tiff_align_up(uint64_t v, uint64_t a, uint64_t *out);

void tiff_put16(uint8_t *p, uint16_t v);
void tiff_put32(uint8_t *p, uint32_t v);
void tiff_put64(uint8_t *p, uint64_t v);

/* ---- a capped text buffer ------------------------------------------- */

/*
 * Appends past the cap set the overflow flag and are dropped: the caller
 * then retries with shorter names (see struct tiff_shrink), never a larger
 * head. Memory grows with the content only, not with the cap.
 */
struct tiff_sbuf {
	uint8_t *p;
	size_t len, alloc, cap;
	bool overflow, nomem;
};

void tiff_sb_putn(struct tiff_sbuf *b, const void *s, size_t n);
void tiff_sb_puts(struct tiff_sbuf *b, const char *s);
void tiff_sb_putc(struct tiff_sbuf *b, char c);
/* Only short numeric fields: a longer result sets the overflow flag. */
__attribute__((format(printf, 2, 3))) void tiff_sb_printf(struct tiff_sbuf *b,
							  const char *fmt, ...);
void tiff_sb_u16(struct tiff_sbuf *b, uint16_t v);
void tiff_sb_u32(struct tiff_sbuf *b, uint32_t v);
void tiff_sb_f64(struct tiff_sbuf *b, double v);
/* NUL-terminate and pad to a word boundary (values are word-aligned). */
void tiff_sb_end_string(struct tiff_sbuf *b);

/* ---- numbers and text ----------------------------------------------- */

/* The shortest decimal that reads back as v, Java style ("2.0", "0.25"). */
void tiff_fmt_double(char *buf, size_t cap, double v);
void tiff_sb_double(struct tiff_sbuf *b, double v);

/* One walker of code points serves the three encodings of text. */
enum tiff_enc {
	TIFF_ENC_XML,	/* escaped, controls as spaces */
	TIFF_ENC_UTF16, /* UTF-16LE, ImageJ's metadata strings */
	TIFF_ENC_PROP,	/* java.util.Properties: \uXXXX beyond ASCII */
};

/*
 * The code points of remote text s (invalid UTF-8 becomes U+FFFD), cut to
 * at most max bytes of s at a code point boundary, with "..." when cut.
 */
void tiff_sb_text(struct tiff_sbuf *b, const char *s, size_t max,
		  enum tiff_enc e);
/* An ASCII literal in any of the encodings. */
void tiff_sb_lit(struct tiff_sbuf *b, const char *s, enum tiff_enc e);

/* A physical size or interval the remote knows: finite and > 0. */
bool tiff_known(double v);
/* Channels an image's description may carry: none, or one per channel
 * of the geometry's @p c. */
bool tiff_about_ok(const struct tiff_about *a, uint32_t c);
/* XResolution: 1e6 / round(px * 1e6) pixels per unit (FORMATS.md 2.2). */
void tiff_rational(double px, uint32_t *num, uint32_t *den);

/* ---- what fits -------------------------------------------------------- */

/*
 * How much of the remote strings to keep. Level 0 keeps them whole; each
 * later level cuts harder, until only numbers are left, which always fit
 * the budget each writer reserves per channel.
 */
struct tiff_shrink {
	size_t channel_name, image_name, source;
	bool notes;
};

#define TIFF_SHRINK_LEVELS 5u
extern const struct tiff_shrink tiff_shrink_levels[TIFF_SHRINK_LEVELS];

#endif
