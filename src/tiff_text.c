/* SPDX-License-Identifier: MIT */
/*
 * tiff_text: the helpers both TIFF writers share (tiff_int.h): byte
 * stores, a capped text buffer, number and UTF-8 encodings. No I/O, no
 * state.
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idrfs/arith.h"
#include "tiff_int.h"

/*
 * v rounded up to a multiple of a (a power of two, from this file).
 * @return 0 or -EOVERFLOW (*out untouched)
 */
int tiff_align_up(uint64_t v, uint64_t a, uint64_t *out)
{
	uint64_t r;
	int rc = arith_add_u64(v, a - 1, &r);

	if (rc == 0)
		*out = r / a * a;
	return rc;
}

void tiff_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

void tiff_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

void tiff_put64(uint8_t *p, uint64_t v)
{
	tiff_put32(p, (uint32_t)v);
	tiff_put32(p + 4, (uint32_t)(v >> 32));
}

/* ---- a capped text buffer ------------------------------------------- */

static bool sb_reserve(struct tiff_sbuf *b, size_t n)
{
	size_t want;
	uint8_t *np;

	if (b->overflow || b->nomem)
		return false;
	if (n > b->cap - b->len) {
		b->overflow = true;
		return false;
	}
	if (n <= b->alloc - b->len)
		return true;
	want = b->alloc ? b->alloc : 4096;
	while (want - b->len < n)
		want = want > SIZE_MAX / 2 ? SIZE_MAX : want * 2;
	if (want > b->cap)
		want = b->cap;
	np = realloc(b->p, want);
	if (!np) {
		b->nomem = true;
		return false;
	}
	b->p = np;
	b->alloc = want;
	return true;
}

void tiff_sb_putn(struct tiff_sbuf *b, const void *s, size_t n)
{
	if (!sb_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

void tiff_sb_puts(struct tiff_sbuf *b, const char *s)
{
	tiff_sb_putn(b, s, strlen(s));
}

void tiff_sb_putc(struct tiff_sbuf *b, char c)
{
	tiff_sb_putn(b, &c, 1);
}

void tiff_sb_printf(struct tiff_sbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	/* only short numeric fields go through here */
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->overflow = true;
		return;
	}
	tiff_sb_putn(b, tmp, (size_t)n);
}

void tiff_sb_u16(struct tiff_sbuf *b, uint16_t v)
{
	uint8_t t[2];

	tiff_put16(t, v);
	tiff_sb_putn(b, t, 2);
}

void tiff_sb_u32(struct tiff_sbuf *b, uint32_t v)
{
	uint8_t t[4];

	tiff_put32(t, v);
	tiff_sb_putn(b, t, 4);
}

void tiff_sb_f64(struct tiff_sbuf *b, double v)
{
	uint64_t u;
	uint8_t t[8];

	memcpy(&u, &v, 8);
	tiff_put32(t, (uint32_t)u);
	tiff_put32(t + 4, (uint32_t)(u >> 32));
	tiff_sb_putn(b, t, 8);
}

/* NUL-terminate and pad to a word boundary (values are word-aligned). */
void tiff_sb_end_string(struct tiff_sbuf *b)
{
	tiff_sb_putc(b, '\0');
	if (b->len % 2)
		tiff_sb_putc(b, '\0');
}

/* ---- numbers and UTF-8 ---------------------------------------------- */

/*
 * The shortest decimal that reads back as the same double, with a ".0" for
 * integers, like Java's Double.toString: ImageJ and OME readers parse it,
 * and 0.25 stays "0.25" rather than "0.25000000000000000".
 */
void tiff_fmt_double(char *buf, size_t cap, double v)
{
	int prec;
	char *p;
	size_t n;

	if (!isfinite(v))
		v = 0.0;
	if (v == trunc(v) && fabs(v) < 1e15) {
		/* %g would say 1e+02 for 100 */
		snprintf(buf, cap, "%.0f", v);
	} else {
		for (prec = 1; prec <= 17; prec++) {
			snprintf(buf, cap, "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
	}
	/* a numeric locale must not leak a decimal comma into the file */
	for (p = buf; *p; p++) {
		if (*p == ',')
			*p = '.';
	}
	n = strlen(buf);
	if (!strpbrk(buf, ".e") && n + 2 < cap)
		memcpy(buf + n, ".0", 3);
}

void tiff_sb_double(struct tiff_sbuf *b, double v)
{
	char t[40];

	tiff_fmt_double(t, sizeof(t), v);
	tiff_sb_puts(b, t);
}

/*
 * Decode one code point at s[i] (n bytes in all); invalid or truncated
 * sequences, overlongs and surrogates give U+FFFD and consume one byte, so
 * remote names cannot make the XML or UTF-16 text invalid.
 */
static size_t utf8_next(const char *s, size_t n, size_t i, uint32_t *cp)
{
	const uint8_t *u = (const uint8_t *)s + i;
	size_t left = n - i, k, need;
	uint32_t c, min;

	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	if ((u[0] & 0xe0) == 0xc0) {
		need = 2, c = u[0] & 0x1f, min = 0x80;
	} else if ((u[0] & 0xf0) == 0xe0) {
		need = 3, c = u[0] & 0x0f, min = 0x800;
	} else if ((u[0] & 0xf8) == 0xf0) {
		need = 4, c = u[0] & 0x07, min = 0x10000;
	} else {
		*cp = 0xfffd;
		return 1;
	}
	if (left < need)
		goto bad;
	for (k = 1; k < need; k++) {
		if ((u[k] & 0xc0) != 0x80)
			goto bad;
		c = (c << 6) | (u[k] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		goto bad;
	*cp = c;
	return need;
bad:
	*cp = 0xfffd;
	return 1;
}

static void sb_utf8(struct tiff_sbuf *b, uint32_t c)
{
	char t[4];

	if (c < 0x80) {
		t[0] = (char)c;
		tiff_sb_putn(b, t, 1);
	} else if (c < 0x800) {
		t[0] = (char)(0xc0 | (c >> 6));
		t[1] = (char)(0x80 | (c & 0x3f));
		tiff_sb_putn(b, t, 2);
	} else if (c < 0x10000) {
		t[0] = (char)(0xe0 | (c >> 12));
		t[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		t[2] = (char)(0x80 | (c & 0x3f));
		tiff_sb_putn(b, t, 3);
	} else {
		t[0] = (char)(0xf0 | (c >> 18));
		t[1] = (char)(0x80 | ((c >> 12) & 0x3f));
		t[2] = (char)(0x80 | ((c >> 6) & 0x3f));
		t[3] = (char)(0x80 | (c & 0x3f));
		tiff_sb_putn(b, t, 4);
	}
}

/*
 * The code points of s, cut to at most max source bytes at a code point
 * boundary, with "..." when cut. One walker serves the three encodings
 * below (XML, UTF-16LE, Java properties).
 */

static void sb_put_cp(struct tiff_sbuf *b, uint32_t c, enum tiff_enc e)
{
	switch (e) {
	case TIFF_ENC_XML:
		/* XML 1.0 forbids most controls even as references */
		if (c < 0x20)
			tiff_sb_putc(b, ' ');
		else if (c == '&')
			tiff_sb_puts(b, "&amp;");
		else if (c == '<')
			tiff_sb_puts(b, "&lt;");
		else if (c == '>')
			tiff_sb_puts(b, "&gt;");
		else if (c == '"')
			tiff_sb_puts(b, "&quot;");
		else if (c == '\'')
			tiff_sb_puts(b, "&apos;");
		else
			sb_utf8(b, c);
		break;
	case TIFF_ENC_UTF16:
		if (c >= 0x10000) {
			c -= 0x10000;
			tiff_sb_u16(b, (uint16_t)(0xd800 | (c >> 10)));
			tiff_sb_u16(b, (uint16_t)(0xdc00 | (c & 0x3ff)));
		} else {
			tiff_sb_u16(b, (uint16_t)c);
		}
		break;
	case TIFF_ENC_PROP:
		/* java.util.Properties: Latin-1 file, \uXXXX for the rest */
		if (c == '\\') {
			tiff_sb_puts(b, "\\\\");
		} else if (c >= 0x20 && c < 0x7f) {
			tiff_sb_putc(b, (char)c);
		} else if (c >= 0x10000) {
			c -= 0x10000;
			tiff_sb_printf(b, "\\u%04X\\u%04X", 0xd800 | (c >> 10),
				       0xdc00 | (c & 0x3ff));
		} else {
			tiff_sb_printf(b, "\\u%04X", c);
		}
		break;
	}
}

void tiff_sb_text(struct tiff_sbuf *b, const char *s, size_t max,
		  enum tiff_enc e)
{
	size_t n = s ? strlen(s) : 0, i = 0, k;
	uint32_t c;

	while (i < n) {
		k = utf8_next(s, n, i, &c);
		if (k > max - i && n > max)
			break;
		sb_put_cp(b, c, e);
		i += k;
	}
	if (i < n) {
		for (k = 0; k < sizeof(TIFF_NAME_ELLIPSIS) - 1; k++)
			sb_put_cp(b, (uint8_t)TIFF_NAME_ELLIPSIS[k], e);
	}
}

/* An ASCII literal in any of the encodings. */
void tiff_sb_lit(struct tiff_sbuf *b, const char *s, enum tiff_enc e)
{
	tiff_sb_text(b, s, SIZE_MAX, e);
}

bool tiff_known(double v)
{
	return isfinite(v) && v > 0;
}

bool tiff_about_ok(const struct tiff_about *a, uint32_t c)
{
	return a->nchannels == 0 || (a->nchannels == c && a->channels);
}

/*
 * XResolution as pixels per unit: 1e6 / round(px * 1e6), so that 1/XRes is
 * the decimal size ImageJ shows (0.3, not 0.30000003; FORMATS.md 2.2).
 */
void tiff_rational(double px, uint32_t *num, uint32_t *den)
{
	double d;

	*num = 1;
	*den = 1;
	if (!tiff_known(px))
		return;
	d = round(px * 1e6);
	if (d < 1) {
		*num = 1000000;
		*den = 1;
	} else if (d <= UINT32_MAX) {
		*num = 1000000;
		*den = (uint32_t)d;
	} else {
		d = round(px);
		*den = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	}
}

/* ---- what fits -------------------------------------------------------- */

/*
 * Per channel the IJ LUT, range and counts take 788 bytes and a bare OME
 * Channel element under 100, against 2048 (tiff.c) and 1024 (tiff_ome.c)
 * reserved per channel.
 */
const struct tiff_shrink tiff_shrink_levels[TIFF_SHRINK_LEVELS] = {
	{SIZE_MAX, SIZE_MAX, SIZE_MAX, true},
	{256, 1024, 256, true},
	{64, 256, 64, true},
	{16, 64, 0, true},
	{0, 0, 0, false},
};