/* SPDX-License-Identifier: MIT */
/*
 * codec: zlib, gzip, zstd and blosc decoding of untrusted bytes into
 * buffers of a size fixed in advance, zstd frames for the cache, CRC-32C,
 * and a small PNG reader for rendered planes. The only file that includes
 * zlib, zstd and blosc; each library's errors are turned into -errno here
 * and logged here with the library's own words.
 *
 * What it deliberately does not do: guess formats (the caller names the
 * codec), decode PNGs other than 8-bit non-interlaced ones (the renderer
 * sends those), or allocate anything whose size comes from the input
 * without a cap: decoders write into the caller's exact-size buffer, or
 * grow a buffer up to the caller's maximum.
 */
#include "config.h"

#include "idrfs/codec.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <blosc.h>
#define ZLIB_CONST
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "idrfs/log.h"

/*
 * The streaming zstd decoder allocates a window buffer of the size a frame
 * header declares when the frame does not record its content size. This
 * caps it: at most zstd's own default limit (128 MiB), and no more than
 * the output may hold, but never under 8 MiB, the window of zstd's levels
 * up to 19 for input of unknown size (a frame with a larger window than
 * its output is legal but only a streaming writer at a high level makes
 * one). So a 20-byte frame cannot make a 64 KiB chunk cost 128 MiB.
 */
#define CODEC_ZSTD_WINDOWLOG_MAX 27
#define CODEC_ZSTD_WINDOWLOG_MIN 23

/* First buffer size of codec_decode_alloc() when it has to grow. */
#define CODEC_GROW_MIN	4096u
#define CODEC_FIRST_MAX (16u << 20)

/* Cap on a PNG's inflated rows (height * (1 + stride)): a 16k x 16k RGBA. */
#define CODEC_PNG_MAX_RAW (1024u << 20)

/* ---- output sinks ------------------------------------------------------ */

/*
 * Where a decoder writes: either the caller's buffer of exactly the size
 * the output must have (fixed), or a heap buffer grown up to max.
 */
struct sink {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t max;
	bool fixed;
};

/*
 * Make room for more output.
 * @return 0; -EBADMSG when a fixed sink is full (the stream is longer than
 *         the caller said), -EFBIG when a growing sink reached max, -ENOMEM
 */
static int sink_grow(struct sink *s)
{
	size_t ncap;
	uint8_t *nb;

	if (s->fixed)
		return -EBADMSG;
	if (s->cap >= s->max)
		return -EFBIG;
	if (s->cap < CODEC_GROW_MIN / 2)
		ncap = CODEC_GROW_MIN;
	else if (s->cap > s->max / 2)
		ncap = s->max;
	else
		ncap = s->cap * 2;
	if (ncap > s->max)
		ncap = s->max;
	nb = realloc(s->buf, ncap);
	if (!nb)
		return -ENOMEM;
	s->buf = nb;
	s->cap = ncap;
	return 0;
}

static int sink_init_alloc(struct sink *s, size_t first, size_t max)
{
	memset(s, 0, sizeof(*s));
	s->max = max;
	s->cap = first < max ? first : max;
	/* malloc(0) may return NULL; keep one byte so that NULL means ENOMEM */
	s->buf = malloc(s->cap ? s->cap : 1);
	if (!s->buf)
		return -ENOMEM;
	return 0;
}

static void sink_init_fixed(struct sink *s, void *dst, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->buf = dst;
	s->cap = len;
	s->max = len;
	s->fixed = true;
}

/* ---- zlib and gzip ----------------------------------------------------- */

#define CODEC_WBITS_ZLIB MAX_WBITS
#define CODEC_WBITS_GZIP (MAX_WBITS + 16)

/*
 * Inflate all of src into s. A zlib stream must be followed by nothing; a
 * gzip file may hold several members (RFC 1952 2.2), nothing else.
 *
 * When the sink is full and cannot grow, inflate gets one scratch byte: if
 * it produces it the stream is too long, if it ends the stream instead the
 * size was exact (zlib needs no output room to read the end-of-block code
 * and the trailer).
 */
static int inflate_all(int wbits, const uint8_t *src, size_t len,
		       struct sink *s)
{
	z_stream zs;
	const uint8_t *in = src;
	size_t in_left = len;
	uint8_t scratch;
	int zrc;
	int rc = 0;
	int full = 0;

	memset(&zs, 0, sizeof(zs));
	zrc = inflateInit2(&zs, wbits);
	if (zrc != Z_OK) {
		log_error(LOG_C_ZARR, "cannot start zlib: %s",
			  zs.msg ? zs.msg : zError(zrc));
		return zrc == Z_MEM_ERROR ? -ENOMEM : -EIO;
	}
	for (;;) {
		uInt room, had_in, had_out;

		if (zs.avail_in == 0 && in_left > 0) {
			uInt n = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;

			zs.next_in = in;
			zs.avail_in = n;
			in += n;
			in_left -= n;
		}
		full = 0;
		if (s->len == s->cap) {
			full = sink_grow(s);
			if (full == -ENOMEM) {
				rc = full;
				goto out;
			}
		}
		if (full < 0) {
			zs.next_out = &scratch;
			zs.avail_out = 1;
		} else {
			size_t r = s->cap - s->len;

			zs.next_out = s->buf + s->len;
			zs.avail_out = r > UINT_MAX ? UINT_MAX : (uInt)r;
		}
		room = zs.avail_out;
		had_in = zs.avail_in;
		zrc = inflate(&zs, Z_NO_FLUSH);
		had_out = room - zs.avail_out;
		if (full < 0 && had_out > 0) {
			log_warn(LOG_C_ZARR,
				 "zlib stream decodes to more than %zu bytes",
				 s->cap);
			rc = full;
			goto out;
		}
		if (full == 0)
			s->len += had_out;
		if (zrc == Z_STREAM_END) {
			if (zs.avail_in == 0 && in_left == 0)
				break;
			if (wbits == CODEC_WBITS_GZIP) {
				/* another gzip member follows */
				zrc = inflateReset(&zs);
				if (zrc != Z_OK) {
					rc = -EBADMSG;
					goto out;
				}
				continue;
			}
			log_warn(LOG_C_ZARR,
				 "zlib stream followed by %zu bytes",
				 (size_t)zs.avail_in + in_left);
			rc = -EBADMSG;
			goto out;
		}
		if (zrc == Z_MEM_ERROR) {
			rc = -ENOMEM;
			goto out;
		}
		if (zrc == Z_BUF_ERROR || zrc == Z_OK) {
			if (zs.avail_in == 0 && in_left == 0 && had_out == 0 &&
			    zrc == Z_BUF_ERROR) {
				log_warn(LOG_C_ZARR,
					 "zlib stream is truncated");
				rc = -EBADMSG;
				goto out;
			}
			/* no progress with input and room left: give up */
			if (had_out == 0 && had_in == zs.avail_in &&
			    zs.avail_out > 0 && zs.avail_in > 0) {
				rc = -EBADMSG;
				goto out;
			}
			continue;
		}
		log_warn(LOG_C_ZARR, "corrupt zlib stream: %s",
			 zs.msg ? zs.msg : zError(zrc));
		rc = -EBADMSG;
		goto out;
	}
out:
	inflateEnd(&zs);
	return rc;
}

/* ---- zstd -------------------------------------------------------------- */

static int zstd_error(size_t r, const char *what)
{
	if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
		return -ENOMEM;
	log_warn(LOG_C_ZARR, "%s: %s", what, ZSTD_getErrorName(r));
	return -EBADMSG;
}

/*
 * Sum the content sizes of all frames. *known is false if a frame does not
 * record its size. -EBADMSG if the frames do not tile src exactly.
 */
static int zstd_total(const uint8_t *src, size_t len, uint64_t *total,
		      bool *known)
{
	uint64_t sum = 0;
	bool all = true;

	if (len == 0)
		return -EBADMSG;
	while (len > 0) {
		size_t fsz = ZSTD_findFrameCompressedSize(src, len);
		unsigned long long cs;

		if (ZSTD_isError(fsz))
			return zstd_error(fsz, "corrupt zstd frame");
		cs = ZSTD_getFrameContentSize(src, len);
		if (cs == ZSTD_CONTENTSIZE_ERROR) {
			log_warn(LOG_C_ZARR, "corrupt zstd frame header");
			return -EBADMSG;
		}
		if (cs == ZSTD_CONTENTSIZE_UNKNOWN)
			all = false;
		else if (cs > UINT64_MAX - sum)
			sum = UINT64_MAX;
		else
			sum += cs;
		src += fsz;
		len -= fsz;
	}
	*total = sum;
	*known = all;
	return 0;
}

/* The window log cap for output of at most max bytes (see above). */
static int zstd_window_log(size_t max)
{
	int log = CODEC_ZSTD_WINDOWLOG_MIN;

	while (log < CODEC_ZSTD_WINDOWLOG_MAX && ((size_t)1 << log) < max)
		log++;
	return log;
}

/*
 * A frame that says its content size must have that many bytes. libzstd
 * checks it only when it decodes straight into the caller's buffer (one
 * with room for the whole frame), not through its own window buffer, so
 * whether a lying frame is refused would depend on the room given:
 * fuzz_codec found a frame that said 4864 bytes and held none, which a
 * growing sink took and a fixed one refused.
 */
static int zstd_frame_done(const uint8_t *frame, size_t len, size_t decoded)
{
	unsigned long long cs = ZSTD_getFrameContentSize(frame, len);

	if (cs == ZSTD_CONTENTSIZE_UNKNOWN || cs == decoded)
		return 0;
	if (cs == ZSTD_CONTENTSIZE_ERROR)
		log_warn(LOG_C_ZARR, "corrupt zstd frame header");
	else
		log_warn(LOG_C_ZARR, "zstd frame says %llu bytes and holds %zu",
			 cs, decoded);
	return -EBADMSG;
}

/*
 * Stream every frame into s, growing or fixed. Both codec_decode() and
 * codec_decode_alloc() come here, so what one accepts the other does:
 * libzstd's one-shot decoder refuses some frames its streaming decoder
 * takes (fuzz_codec found one), and a chunk must not decode in one call
 * and fail in the other.
 */
static int zstd_stream(const uint8_t *src, size_t len, struct sink *s)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_inBuffer in = {src, len, 0};
	uint8_t scratch;
	size_t r;
	size_t frame_in = 0, frame_out = s->len; /* where this frame began */
	int rc = 0;

	if (!d)
		return -ENOMEM;
	r = ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax,
				   zstd_window_log(s->max));
	if (ZSTD_isError(r)) {
		rc = zstd_error(r, "cannot set up zstd");
		goto out;
	}
	for (;;) {
		ZSTD_outBuffer o;
		int full = 0;

		if (s->len == s->cap) {
			full = sink_grow(s);
			if (full == -ENOMEM) {
				rc = full;
				goto out;
			}
		}
		if (full < 0) {
			o.dst = &scratch;
			o.size = 1;
		} else {
			o.dst = s->buf + s->len;
			o.size = s->cap - s->len;
		}
		o.pos = 0;
		r = ZSTD_decompressStream(d, &o, &in);
		if (ZSTD_isError(r)) {
			rc = zstd_error(r, "corrupt zstd data");
			goto out;
		}
		if (full < 0 && o.pos > 0) {
			rc = full;
			goto out;
		}
		if (full == 0)
			s->len += o.pos;
		if (r == 0) {
			rc = zstd_frame_done(src + frame_in, in.pos - frame_in,
					     s->len - frame_out);
			if (rc < 0)
				goto out;
			frame_in = in.pos;
			frame_out = s->len;
		}
		if (r == 0 && in.pos == in.size)
			break;
		/* room left and all input read, yet the frame is not done */
		if (in.pos == in.size && o.pos < o.size) {
			log_warn(LOG_C_ZARR, "zstd data is truncated");
			rc = -EBADMSG;
			goto out;
		}
	}
out:
	ZSTD_freeDCtx(d);
	return rc;
}

/* ---- blosc ------------------------------------------------------------- */

/*
 * The header's decoded size, checked before anything is decompressed:
 * blosc_cbuffer_validate() also checks that the header's compressed size
 * is exactly len, so blosc never reads past src.
 */
static int blosc_size(const uint8_t *src, size_t len, size_t *nbytes)
{
	size_t n = 0;
	int brc = -1;

	if (len >= BLOSC_MIN_HEADER_LENGTH)
		brc = blosc_cbuffer_validate(src, len, &n);
	if (brc < 0) {
		log_warn(LOG_C_ZARR, "bad blosc header (%zu bytes)", len);
		return -EBADMSG;
	}
	*nbytes = n;
	return 0;
}

static int blosc_exact(const uint8_t *src, size_t len, uint8_t *dst,
		       size_t dst_len)
{
	size_t nbytes;
	int n;
	int rc;

	rc = blosc_size(src, len, &nbytes);
	if (rc < 0)
		return rc;
	if (nbytes != dst_len) {
		log_warn(LOG_C_ZARR, "blosc header says %zu bytes, not %zu",
			 nbytes, dst_len);
		return -EBADMSG;
	}
	/* one thread: the daemon's workers already decode in parallel */
	n = blosc_decompress_ctx(src, dst, dst_len, 1);
	if (n < 0 || (size_t)n != dst_len) {
		log_warn(LOG_C_ZARR, "corrupt blosc data (%d)", n);
		return -EBADMSG;
	}
	return 0;
}

/* ---- public decoding --------------------------------------------------- */

int codec_decode(enum codec_id id, const void *src, size_t src_len, void *dst,
		 size_t dst_len)
{
	struct sink s;
	int rc;

	switch (id) {
	case CODEC_NONE:
		if (src_len != dst_len) {
			log_warn(LOG_C_ZARR, "raw data has %zu bytes, not %zu",
				 src_len, dst_len);
			return -EBADMSG;
		}
		if (dst_len > 0)
			memcpy(dst, src, dst_len);
		return 0;
	case CODEC_ZLIB:
	case CODEC_GZIP:
	case CODEC_ZSTD:
		/* the streams codec_decode_alloc() grows a sink for, into
		 * exactly dst_len */
		sink_init_fixed(&s, dst, dst_len);
		if (id == CODEC_ZSTD)
			rc = zstd_stream(src, src_len, &s);
		else
			rc = inflate_all(id == CODEC_ZLIB ? CODEC_WBITS_ZLIB
							  : CODEC_WBITS_GZIP,
					 src, src_len, &s);
		if (rc == 0 && s.len != dst_len) {
			log_warn(LOG_C_ZARR, "%s decodes to %zu bytes, not %zu",
				 id == CODEC_ZSTD ? "zstd data" : "zlib stream",
				 s.len, dst_len);
			rc = -EBADMSG;
		}
		return rc;
	case CODEC_BLOSC:
		return blosc_exact(src, src_len, dst, dst_len);
	}
	log_error(LOG_C_ZARR, "internal error: unknown codec %d", (int)id);
	return -EINVAL;
}

int codec_decode_alloc(enum codec_id id, const void *src, size_t src_len,
		       size_t max, void **out, size_t *out_len)
{
	struct sink s = {0};
	uint64_t total = 0;
	size_t nbytes = 0;
	bool known = false;
	int rc;

	switch (id) {
	case CODEC_NONE:
		if (src_len > max)
			return -EFBIG;
		nbytes = src_len;
		break;
	case CODEC_ZLIB:
	case CODEC_GZIP:
		/*
		 * zlib's ratio rarely exceeds 4:1 on image data; past 16 MiB
		 * the buffer doubles as needed rather than betting on it
		 */
		rc = sink_init_alloc(&s,
				     src_len > CODEC_FIRST_MAX / 4
					     ? CODEC_FIRST_MAX
					     : src_len * 4,
				     max);
		if (rc < 0)
			return rc;
		rc = inflate_all(id == CODEC_ZLIB ? CODEC_WBITS_ZLIB
						  : CODEC_WBITS_GZIP,
				 src, src_len, &s);
		goto done;
	case CODEC_ZSTD:
		rc = zstd_total(src, src_len, &total, &known);
		if (rc < 0)
			return rc;
		if (!known) {
			rc = sink_init_alloc(&s, CODEC_GROW_MIN, max);
			if (rc < 0)
				return rc;
			rc = zstd_stream(src, src_len, &s);
			goto done;
		}
		if (total > max)
			return -EFBIG;
		nbytes = (size_t)total;
		break;
	case CODEC_BLOSC:
		rc = blosc_size(src, src_len, &nbytes);
		if (rc < 0)
			return rc;
		if (nbytes > max)
			return -EFBIG;
		break;
	default:
		log_error(LOG_C_ZARR, "internal error: unknown codec %d",
			  (int)id);
		return -EINVAL;
	}
	/* the decoded size is known and within max: decode exactly */
	s.buf = malloc(nbytes ? nbytes : 1);
	if (!s.buf)
		return -ENOMEM;
	s.len = nbytes;
	rc = codec_decode(id, src, src_len, s.buf, nbytes);
done:
	if (rc < 0) {
		free(s.buf);
		return rc;
	}
	*out = s.buf;
	*out_len = s.len;
	return 0;
}

/* ---- zstd frames for the cache ----------------------------------------- */

int codec_zstd_compress(const void *src, size_t len, int level, void **out,
			size_t *out_len)
{
	ZSTD_CCtx *c = NULL;
	void *buf = NULL;
	size_t bound, r;
	int rc = 0;

	bound = ZSTD_compressBound(len);
	if (ZSTD_isError(bound) || bound == 0) {
		log_error(LOG_C_CACHE, "cannot zstd-compress %zu bytes", len);
		return -EIO;
	}
	c = ZSTD_createCCtx();
	buf = malloc(bound);
	if (!c || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	r = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
	if (!ZSTD_isError(r))
		r = ZSTD_compress2(c, buf, bound, src, len);
	if (ZSTD_isError(r)) {
		rc = ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation
			     ? -ENOMEM
			     : -EIO;
		log_error(LOG_C_CACHE, "zstd compression failed: %s",
			  ZSTD_getErrorName(r));
		goto out;
	}
	*out = buf;
	*out_len = r;
	buf = NULL;
out:
	free(buf);
	ZSTD_freeCCtx(c);
	return rc;
}

int codec_zstd_frame_size(const void *src, size_t len, uint64_t *size)
{
	unsigned long long cs;
	size_t fsz;

	if (len == 0)
		return -EBADMSG;
	cs = ZSTD_getFrameContentSize(src, len);
	if (cs == ZSTD_CONTENTSIZE_ERROR || cs == ZSTD_CONTENTSIZE_UNKNOWN)
		return -EBADMSG;
	/* walks the block headers: catches a frame cut short */
	fsz = ZSTD_findFrameCompressedSize(src, len);
	if (ZSTD_isError(fsz))
		return -EBADMSG;
	*size = cs;
	return 0;
}

/* ---- byte shuffle ------------------------------------------------------ */

void codec_shuffle(const void *src, size_t len, unsigned elem, void *dst)
{
	const uint8_t *s = src;
	uint8_t *d = dst;
	size_t n = elem ? len / elem : 0;

	if (elem <= 1) {
		memcpy(dst, src, len);
		return;
	}
	if (elem == 2) {
		for (size_t i = 0; i < n; i++) {
			d[i] = s[2 * i];
			d[n + i] = s[2 * i + 1];
		}
		return;
	}
	for (unsigned b = 0; b < elem; b++)
		for (size_t i = 0; i < n; i++)
			d[b * n + i] = s[i * elem + b];
}

void codec_unshuffle(const void *src, size_t len, unsigned elem, void *dst)
{
	const uint8_t *s = src;
	uint8_t *d = dst;
	size_t n = elem ? len / elem : 0;

	if (elem <= 1) {
		memcpy(dst, src, len);
		return;
	}
	if (elem == 2) {
		size_t i = 0;

#if defined(__SSE2__)
		/* every read from the cache goes through here: interleave 16
		 * low and 16 high bytes at a time (4x the byte loop) */
		for (; i + 16 <= n; i += 16) {
			__m128i lo = _mm_loadu_si128((const __m128i *)(s + i));
			__m128i hi =
				_mm_loadu_si128((const __m128i *)(s + n + i));

			_mm_storeu_si128((__m128i *)(d + 2 * i),
					 _mm_unpacklo_epi8(lo, hi));
			_mm_storeu_si128((__m128i *)(d + 2 * i + 16),
					 _mm_unpackhi_epi8(lo, hi));
		}
#endif
		for (; i < n; i++) {
			d[2 * i] = s[i];
			d[2 * i + 1] = s[n + i];
		}
		return;
	}
	for (unsigned b = 0; b < elem; b++)
		for (size_t i = 0; i < n; i++)
			d[i * elem + b] = s[b * n + i];
}

/* ---- CRC-32C ----------------------------------------------------------- */

/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), one table entry
 * per byte value: crc_table[i] is the CRC register after shifting byte i
 * through it. Generated once; a const table needs no lazy initialisation
 * and so no lock.
 */
static const uint32_t crc32c_table[256] = {
	0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu,
	0x35f1141cu, 0x26a1e7e8u, 0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu,
	0x6be22838u, 0x9989ab3bu, 0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u,
	0x5e133c24u, 0x105ec76fu, 0xe235446cu, 0xf165b798u, 0x030e349bu,
	0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u, 0x9a879fa0u,
	0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u, 0x5d1d08bfu, 0xaf768bbcu,
	0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u,
	0x33ed7d2au, 0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u,
	0xaa64d611u, 0x580f5512u, 0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu,
	0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau, 0x30e349b1u, 0xc288cab2u,
	0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu, 0x1642ae59u,
	0xe4292d5au, 0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
	0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u, 0x417b1dbcu,
	0xb3109ebfu, 0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u,
	0x67dafa54u, 0x95b17957u, 0xcba24573u, 0x39c9c670u, 0x2a993584u,
	0xd8f2b687u, 0x0c38d26cu, 0xfe53516fu, 0xed03a29bu, 0x1f682198u,
	0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u, 0x96bf4dccu,
	0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu,
	0x3ac7f2ebu, 0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u,
	0x0f36e6f7u, 0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u,
	0xa65c047du, 0x5437877eu, 0x4767748au, 0xb50cf789u, 0xeb1fcbadu,
	0x197448aeu, 0x0a24bb5au, 0xf84f3859u, 0x2c855cb2u, 0xdeeedfb1u,
	0xcdbe2c45u, 0x3fd5af46u, 0x7198540du, 0x83f3d70eu, 0x90a324fau,
	0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
	0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu,
	0xceb018deu, 0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu,
	0x63cd4b8fu, 0x91a6c88cu, 0x456cac67u, 0xb7072f64u, 0xa457dc90u,
	0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u, 0xe9141340u, 0x1b7f9043u,
	0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu, 0x92a8fc17u,
	0x60c37f14u, 0x73938ce0u, 0x81f80fe3u, 0x55326b08u, 0xa759e80bu,
	0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu,
	0x0b21572cu, 0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u,
	0xa24bb5a6u, 0x502036a5u, 0x4370c551u, 0xb11b4652u, 0x65d122b9u,
	0x97baa1bau, 0x84ea524eu, 0x7681d14du, 0x2892ed69u, 0xdaf96e6au,
	0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u, 0x0e330a81u,
	0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
	0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u, 0x38cc2a06u,
	0xcaa7a905u, 0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u, 0x0d3d3e1au,
	0x1e6dcdeeu, 0xec064eedu, 0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u,
	0xd0ddd530u, 0x0417b1dbu, 0xf67c32d8u, 0xe52cc12cu, 0x1747422fu,
	0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu, 0x8ecee914u,
	0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
	0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u,
	0x07198540u, 0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u,
	0x9e902e7bu, 0x6cfbad78u, 0x7fab5e8cu, 0x8dc0dd8fu, 0xe330a81au,
	0x115b2b19u, 0x020bd8edu, 0xf0605beeu, 0x24aa3f05u, 0xd6c1bc06u,
	0xc5914ff2u, 0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u, 0x88d28022u,
	0x7ab90321u, 0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
	0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au,
	0xc69f7b69u, 0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u,
	0x988c474du, 0x6ae7c44eu, 0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u,
	0xad7d5351u,
};

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		crc = crc32c_table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/*
 * SSE4.2 has the CRC-32C instruction: 8 bytes per instruction instead of
 * one table lookup per byte, about 15x faster. Every chunk read from the
 * cache is checked, so this is on the path of every warm read.
 */
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	for (; len && ((uintptr_t)p & 7u); len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	for (; len >= 8; len -= 8, p += 8) {
		uint64_t w;

		memcpy(&w, p, sizeof(w));
		c = __builtin_ia32_crc32di(c, w);
	}
	for (; len; len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}

static bool crc32c_have_hw(void)
{
	return __builtin_cpu_supports("sse4.2");
}
#else
static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	return crc32c_sw(crc, p, len);
}

static bool crc32c_have_hw(void)
{
	return false;
}
#endif

uint32_t codec_crc32c(const void *data, size_t len)
{
	uint32_t crc = 0xFFFFFFFFu;

	if (crc32c_have_hw())
		crc = crc32c_hw(crc, data, len);
	else
		crc = crc32c_sw(crc, data, len);
	return crc ^ 0xFFFFFFFFu;
}

#ifdef IDRFS_UNITTEST
uint32_t codec_crc32c_portable(const void *data, size_t len)
{
	return crc32c_sw(0xFFFFFFFFu, data, len) ^ 0xFFFFFFFFu;
}
#endif

/* ---- PNG --------------------------------------------------------------- */

/*
 * PNG (ISO/IEC 15948, W3C PNG 2nd ed.): signature, then chunks of
 * length (u32 BE, < 2^31), type, data, CRC-32 of type+data. IHDR comes
 * first; PLTE before the IDATs; the IDATs' data concatenated are one zlib
 * stream holding height rows of (filter byte, stride bytes); IEND ends.
 * Unknown ancillary chunks (lowercase first letter) are skipped, unknown
 * critical ones refused.
 */

#define PNG_SIG_LEN   8
#define PNG_CHUNK_MAX 0x7FFFFFFFu

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

struct png_state {
	uint32_t width, height;
	unsigned channels; /* bytes per pixel at 8 bits */
	unsigned ctype;
	uint8_t palette[256][3];
	unsigned npalette;
	bool have_plte;
	bool have_idat;
	bool stream_done;
	uint8_t *raw; /* height * (1 + stride) */
	size_t raw_len;
	size_t raw_got;
	z_stream zs;
	bool zs_live;
};

static int png_bad(const char *why)
{
	log_warn(LOG_C_ZARR, "bad PNG: %s", why);
	return -EBADMSG;
}

static int png_ihdr(struct png_state *st, const uint8_t *d, uint32_t n,
		    uint32_t width, uint32_t height)
{
	static const unsigned channels_of[7] = {1, 0, 3, 1, 2, 0, 4};
	size_t stride;

	if (n != 13)
		return png_bad("IHDR is not 13 bytes");
	st->width = be32(d);
	st->height = be32(d + 4);
	if (st->width != width || st->height != height)
		return png_bad("not the size asked for");
	if (d[8] != 8)
		return png_bad("not 8 bits per sample");
	if (d[9] > 6 || channels_of[d[9]] == 0)
		return png_bad("unknown colour type");
	if (d[10] != 0 || d[11] != 0)
		return png_bad("unknown compression or filter method");
	if (d[12] != 0)
		return png_bad("interlaced");
	st->ctype = d[9];
	st->channels = channels_of[d[9]];
	if (width == 0 || height == 0)
		return png_bad("empty image");
	/* width and height are the caller's; still, no overflow */
	if (width > (SIZE_MAX - 1) / st->channels)
		return png_bad("too wide");
	stride = (size_t)width * st->channels;
	if (stride + 1 > CODEC_PNG_MAX_RAW / height)
		return png_bad("too large");
	st->raw_len = (stride + 1) * height;
	st->raw = malloc(st->raw_len);
	if (!st->raw)
		return -ENOMEM;
	if (inflateInit(&st->zs) != Z_OK)
		return -ENOMEM;
	st->zs_live = true;
	return 0;
}

static int png_plte(struct png_state *st, const uint8_t *d, uint32_t n)
{
	if (st->have_plte || st->have_idat)
		return png_bad("PLTE repeated or after IDAT");
	if (n == 0 || n % 3 != 0 || n / 3 > 256)
		return png_bad("bad PLTE length");
	st->npalette = n / 3;
	memcpy(st->palette, d, n);
	st->have_plte = true;
	return 0;
}

/* Feed one IDAT's bytes to the zlib stream of the rows. */
static int png_idat(struct png_state *st, const uint8_t *d, uint32_t n)
{
	if (st->ctype == 3 && !st->have_plte)
		return png_bad("palette image without PLTE");
	st->have_idat = true;
	if (st->stream_done)
		return 0; /* bytes after the stream's end: ignored, as libpng */
	st->zs.next_in = d;
	st->zs.avail_in = n;
	while (st->zs.avail_in > 0) {
		uint8_t scratch;
		bool full = st->raw_got == st->raw_len;
		uInt room, in_before = st->zs.avail_in;
		int zrc;

		if (full) {
			st->zs.next_out = &scratch;
			st->zs.avail_out = 1;
		} else {
			size_t r = st->raw_len - st->raw_got;

			st->zs.next_out = st->raw + st->raw_got;
			st->zs.avail_out = r > UINT_MAX ? UINT_MAX : (uInt)r;
		}
		room = st->zs.avail_out;
		zrc = inflate(&st->zs, Z_NO_FLUSH);
		if (full && st->zs.avail_out == 0)
			return png_bad("more image data than rows");
		if (!full)
			st->raw_got += room - st->zs.avail_out;
		if (zrc == Z_STREAM_END) {
			st->stream_done = true;
			break;
		}
		if (zrc == Z_MEM_ERROR)
			return -ENOMEM;
		if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
			log_warn(LOG_C_ZARR, "bad PNG: corrupt IDAT: %s",
				 st->zs.msg ? st->zs.msg : zError(zrc));
			return -EBADMSG;
		}
		if (st->zs.avail_in == in_before && st->zs.avail_out == room)
			return png_bad("IDAT makes no progress");
	}
	return 0;
}

static uint8_t paeth(uint8_t a, uint8_t b, uint8_t c)
{
	int p = (int)a + b - c;
	int pa = abs(p - a);
	int pb = abs(p - b);
	int pc = abs(p - c);

	if (pa <= pb && pa <= pc)
		return a;
	return pb <= pc ? b : c;
}

/* Undo the per-row filters in place (PNG 2nd ed. section 9). */
static int png_unfilter(struct png_state *st)
{
	size_t bpp = st->channels;
	size_t stride = (size_t)st->width * bpp;
	uint8_t *prev = NULL;

	for (uint32_t y = 0; y < st->height; y++) {
		uint8_t *row = st->raw + (size_t)y * (stride + 1);
		uint8_t f = row[0];
		uint8_t *cur = row + 1;

		for (size_t i = 0; i < stride; i++) {
			uint8_t a = i >= bpp ? cur[i - bpp] : 0;
			uint8_t b = prev ? prev[i] : 0;
			uint8_t c = prev && i >= bpp ? prev[i - bpp] : 0;

			switch (f) {
			case 0:
				break;
			case 1:
				cur[i] = (uint8_t)(cur[i] + a);
				break;
			case 2:
				cur[i] = (uint8_t)(cur[i] + b);
				break;
			case 3:
				cur[i] = (uint8_t)(cur[i] + ((a + b) >> 1));
				break;
			case 4:
				cur[i] = (uint8_t)(cur[i] + paeth(a, b, c));
				break;
			default:
				return png_bad("unknown row filter");
			}
		}
		prev = cur;
	}
	return 0;
}

/*
 * Expand to RGB. Palette indices are checked first, so that a bad one
 * leaves rgb unwritten.
 */
static int png_to_rgb(const struct png_state *st, uint8_t *rgb)
{
	size_t stride = (size_t)st->width * st->channels;

	for (uint32_t y = 0; y < st->height && st->ctype == 3; y++) {
		const uint8_t *p = st->raw + (size_t)y * (stride + 1) + 1;

		for (uint32_t x = 0; x < st->width; x++) {
			if (p[x] >= st->npalette)
				return png_bad("index past palette");
		}
	}
	for (uint32_t y = 0; y < st->height; y++) {
		const uint8_t *p = st->raw + (size_t)y * (stride + 1) + 1;

		for (uint32_t x = 0; x < st->width; x++, p += st->channels) {
			uint8_t r, g, b;

			switch (st->ctype) {
			case 0: /* grey */
			case 4: /* grey + alpha: alpha dropped */
				r = g = b = p[0];
				break;
			case 3:
				r = st->palette[p[0]][0];
				g = st->palette[p[0]][1];
				b = st->palette[p[0]][2];
				break;
			default: /* 2 RGB, 6 RGBA: alpha dropped */
				r = p[0];
				g = p[1];
				b = p[2];
				break;
			}
			*rgb++ = r;
			*rgb++ = g;
			*rgb++ = b;
		}
	}
	return 0;
}

static bool png_type_ok(const uint8_t *t)
{
	for (int i = 0; i < 4; i++) {
		uint8_t c = t[i] & 0xDF; /* upper case */

		if (c < 'A' || c > 'Z')
			return false;
	}
	return true;
}

int codec_png_rgb(const void *png, size_t len, uint32_t width, uint32_t height,
		  uint8_t *rgb)
{
	static const uint8_t sig[PNG_SIG_LEN] = {0x89, 'P',  'N',  'G',
						 '\r', '\n', 0x1A, '\n'};
	struct png_state st;
	const uint8_t *p = png;
	size_t pos = PNG_SIG_LEN;
	bool first = true;
	bool ended = false;
	int rc = 0;

	memset(&st, 0, sizeof(st));
	if (len < PNG_SIG_LEN || memcmp(p, sig, PNG_SIG_LEN) != 0)
		return png_bad("no PNG signature");
	while (!ended) {
		const uint8_t *type, *data;
		uint32_t n, crc;
		uLong want;
		bool is_ihdr;

		if (len - pos < 12) {
			rc = png_bad("truncated (no IEND)");
			goto out;
		}
		n = be32(p + pos);
		if (n > PNG_CHUNK_MAX || n > len - pos - 12) {
			rc = png_bad("chunk runs past the end");
			goto out;
		}
		type = p + pos + 4;
		data = type + 4;
		crc = be32(data + n);
		want = crc32(0L, type, 4);
		want = crc32(want, data, n);
		if ((uint32_t)want != crc) {
			rc = png_bad("chunk CRC mismatch");
			goto out;
		}
		if (!png_type_ok(type)) {
			rc = png_bad("bad chunk type");
			goto out;
		}
		pos += 12 + (size_t)n;
		is_ihdr = memcmp(type, "IHDR", 4) == 0;
		if (first != is_ihdr) {
			rc = png_bad("IHDR not first, or repeated");
			goto out;
		}
		if (first) {
			rc = png_ihdr(&st, data, n, width, height);
			first = false;
		} else if (memcmp(type, "PLTE", 4) == 0) {
			/* a suggested palette of an RGB image is not needed */
			if (st.ctype == 3)
				rc = png_plte(&st, data, n);
		} else if (memcmp(type, "IDAT", 4) == 0) {
			rc = png_idat(&st, data, n);
		} else if (memcmp(type, "IEND", 4) == 0) {
			ended = true;
		} else if (!(type[0] & 0x20)) {
			rc = png_bad("unknown critical chunk");
		}
		if (rc < 0)
			goto out;
	}
	if (!st.stream_done || st.raw_got != st.raw_len) {
		rc = png_bad("image data ends early");
		goto out;
	}
	rc = png_unfilter(&st);
	if (rc == 0)
		rc = png_to_rgb(&st, rgb);
out:
	if (st.zs_live)
		inflateEnd(&st.zs);
	free(st.raw);
	return rc;
}
