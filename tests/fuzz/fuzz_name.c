/* SPDX-License-Identifier: MIT */
/*
 * fuzz_name: what makes remote text safe. tree_sanitize_name() turns any
 * archive name into a directory entry: no '/', NUL or control character
 * (C0, DEL, C1), valid UTF-8, never "." or "..", never empty, at most max
 * bytes, and a safe name comes back unchanged. log_escape() turns any text
 * into a log-line argument: no raw control byte, valid UTF-8, quotes and
 * backslashes escaped, and unescaping it gives back a prefix of the input.
 *
 * Input: one byte picks the limit (the ones tree.c and tree_view.c use, or
 * any from 1 to 255), the rest is the name.
 */
#include "config.h"

#include "idrfs/log.h"
#include "idrfs/tree.h"

#include "fuzz.h"

/* Length of the valid UTF-8 sequence at s and its code point; 0 if none. */
static size_t utf8_cp(const unsigned char *s, uint32_t *cp)
{
	size_t n;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0)
		n = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4;
	else
		return 0;
	*cp = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && *cp < 0x80) || (n == 3 && *cp < 0x800) ||
	    (n == 4 && (*cp < 0x10000 || *cp > 0x10ffff)) ||
	    (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return n;
}

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0);
}

static void check_name(const char *in, size_t max)
{
	char out[TREE_NAME_MAX + 1], again[TREE_NAME_MAX + 1];
	size_t n = tree_sanitize_name(in, out, max);
	const unsigned char *s = (const unsigned char *)out;

	FUZZ_CHECK(n == strlen(out));
	FUZZ_CHECK(n >= 1 && n <= max);
	FUZZ_CHECK(strcmp(out, ".") != 0 && strcmp(out, "..") != 0);
	for (size_t i = 0; i < n;) {
		uint32_t cp = 0;
		size_t k = utf8_cp(s + i, &cp);

		FUZZ_CHECK(k > 0);
		FUZZ_CHECK(cp != '/' && !is_control(cp));
		i += k;
	}
	/* a safe name is its own sanitised form */
	FUZZ_CHECK(tree_sanitize_name(out, again, max) == n);
	FUZZ_CHECK(strcmp(again, out) == 0);
}

static int hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void check_escape(const char *in, size_t outsz)
{
	char out[1024];
	const unsigned char *s = (const unsigned char *)out;
	size_t n, k = 0;

	FUZZ_CHECK(log_escape(in, out, outsz) == out);
	n = strlen(out);
	FUZZ_CHECK(n < outsz);
	for (size_t i = 0; i < n;) {
		uint32_t cp = 0;
		size_t l = utf8_cp(s + i, &cp);
		int hi, lo;

		FUZZ_CHECK(l > 0);
		FUZZ_CHECK(!is_control(cp));
		FUZZ_CHECK(cp != '"');
		if (cp != '\\') {
			/* a plain character stands for itself */
			FUZZ_CHECK(memcmp(in + k, s + i, l) == 0);
			i += l;
			k += l;
			continue;
		}
		FUZZ_CHECK(i + 1 < n);
		if (s[i + 1] == '\\' || s[i + 1] == '"') {
			FUZZ_CHECK((unsigned char)in[k] == s[i + 1]);
			i += 2;
			k++;
			continue;
		}
		FUZZ_CHECK(s[i + 1] == 'x' && i + 3 < n);
		hi = hex(s[i + 2]);
		lo = hex(s[i + 3]);
		FUZZ_CHECK(hi >= 0 && lo >= 0);
		FUZZ_CHECK((unsigned char)in[k] == (unsigned)(hi * 16 + lo));
		i += 4;
		k++;
	}
	FUZZ_CHECK(k <= strlen(in));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the limits of tree.c's child_add (".tif", ".rendered.tif"),
	 * tree_view.c's term_name and its accession, a listing's cap */
	static const size_t limits[] = {255 - 4 - 24, 255 - 13 - 24, 255 - 12,
					100, 255};
	struct fuzz_in in = {data, size};
	unsigned pick = (unsigned)fuzz_take(&in, 1);
	char *name = fuzz_strndup(in.p, in.n);
	size_t max = pick < 128 ? limits[pick % 5] : 1 + pick % 255;

	check_name(name, max);
	check_escape(name, 1 + (size_t)pick * 4);
	free(name);
	return 0;
}
