/* SPDX-License-Identifier: MIT */
/*
 * fuzz_codec: the byte codecs on their own (codec.h), for the promises
 * a chain relies on: a decoder fills exactly the size it is given or
 * fails, codec_decode_alloc() never goes past its maximum, and what it
 * returns decodes again at that exact size (and at no other). Also the
 * PNG reader for rendered planes, zstd frames of the cache, the shuffle
 * filter and CRC-32C (hardware against the table).
 *
 * Input: one byte picks the operation (codec id 0-4, 5 PNG, 6 the rest),
 * four bytes give the size (little-endian, capped at FUZZ_CODEC_MAX), the
 * rest is the stream.
 */
#include "config.h"

#include <errno.h>

#include "idrfs/codec.h"

#include "fuzz.h"

#define FUZZ_CODEC_MAX (256u << 10)
#define FUZZ_PNG_MAX   (1u << 20) /* pixels */

static uint8_t *copy(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	if (!c)
		abort();
	memcpy(c, p, n);
	return c;
}

static void decoders(enum codec_id id, const uint8_t *src, size_t len,
		     size_t size)
{
	void *out = NULL;
	size_t out_len = 0;
	uint8_t *dst;
	int rc;

	/* straight into a buffer of the size the metadata claims */
	dst = malloc(size ? size : 1);
	if (!dst)
		abort();
	rc = codec_decode(id, src, len, dst, size);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ENOMEM);
	free(dst);

	rc = codec_decode_alloc(id, src, len, size, &out, &out_len);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -EFBIG || rc == -ENOMEM);
	if (rc < 0)
		return;
	FUZZ_CHECK(out != NULL && out_len <= size);
	/* what decodes to n bytes decodes at exactly n, and not at n +- 1 */
	dst = malloc(out_len + 1);
	if (!dst)
		abort();
	rc = codec_decode(id, src, len, dst, out_len);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(memcmp(dst, out, out_len) == 0);
	FUZZ_CHECK(codec_decode(id, src, len, dst, out_len + 1) < 0);
	if (out_len > 0)
		FUZZ_CHECK(codec_decode(id, src, len, dst, out_len - 1) < 0);
	free(dst);
	free(out);
}

/* IHDR's width and height (bytes 16-23 of a PNG), 0 if too short */
static uint32_t be32(const uint8_t *p, size_t len, size_t at)
{
	if (len < at + 4)
		return 0;
	return (uint32_t)p[at] << 24 | (uint32_t)p[at + 1] << 16 |
	       (uint32_t)p[at + 2] << 8 | p[at + 3];
}

static void png(const uint8_t *src, size_t len)
{
	uint32_t w = be32(src, len, 16), h = be32(src, len, 20);
	uint8_t *rgb;
	int rc;

	if (w == 0 || h == 0 || (uint64_t)w * h > FUZZ_PNG_MAX)
		return;
	rgb = malloc((size_t)w * h * 3);
	if (!rgb)
		abort();
	rc = codec_png_rgb(src, len, w, h, rgb);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ENOMEM);
	/* another size than the header's is refused */
	FUZZ_CHECK(codec_png_rgb(src, len, w, h - 1 ? h - 1 : 1, rgb) < 0 ||
		   h == 1);
	free(rgb);
}

static void others(const uint8_t *src, size_t len, unsigned elem)
{
	void *z = NULL;
	size_t zlen = 0;
	uint64_t fsize = 0;
	uint8_t *a, *b;
	int rc;

	FUZZ_CHECK(codec_crc32c(src, len) == codec_crc32c_portable(src, len));
	rc = codec_zstd_frame_size(src, len, &fsize);
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG);

	/* the cache's frames: compress, the frame says the size, decode */
	rc = codec_zstd_compress(src, len, 1, &z, &zlen);
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(codec_zstd_frame_size(z, zlen, &fsize) == 0);
	FUZZ_CHECK(fsize == len);
	a = malloc(len ? len : 1);
	b = malloc(len ? len : 1);
	if (!a || !b)
		abort();
	FUZZ_CHECK(codec_decode(CODEC_ZSTD, z, zlen, a, len) == 0);
	FUZZ_CHECK(memcmp(a, src, len) == 0);
	free(z);

	/* unshuffle undoes shuffle, for whole elements */
	elem = elem % 16 + 1;
	len -= len % elem;
	codec_shuffle(src, len, elem, a);
	codec_unshuffle(a, len, elem, b);
	FUZZ_CHECK(memcmp(b, src, len) == 0);
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	unsigned op = (unsigned)fuzz_take(&in, 1) % 7;
	size_t n = (size_t)(fuzz_take(&in, 4) % (FUZZ_CODEC_MAX + 1));
	uint8_t *src = copy(in.p, in.n);

	if (op <= CODEC_BLOSC)
		decoders((enum codec_id)op, src, in.n, n);
	else if (op == 5)
		png(src, in.n);
	else
		others(src, in.n, (unsigned)n);
	free(src);
	return 0;
}
