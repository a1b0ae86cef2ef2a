/* SPDX-License-Identifier: MIT */
/*
 * codec: the byte codecs idrfs decodes or encodes, behind one interface:
 * zlib, gzip, zstd and blosc (every cname and shuffle libblosc knows) for
 * Zarr chunks, zstd frames for the cache, CRC-32C for shard indexes and
 * cache checksums, and 8-bit PNG for rendered planes. The only module that
 * includes zlib, zstd and blosc.
 *
 * Limits: every decoder is given the exact size its output must have and
 * never writes past it; a stream that decodes to any other size is
 * -EBADMSG. Stateless and thread-safe.
 */
#ifndef IDRFS_CODEC_H
#define IDRFS_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum codec_id {
	CODEC_NONE = 0,
	CODEC_ZLIB,
	CODEC_GZIP,
	CODEC_ZSTD,
	CODEC_BLOSC,
};

/**
 * Decode @p src into exactly @p dst_len bytes at @p dst.
 * @return 0, -EBADMSG (corrupt, truncated, or another decoded size),
 *         -ENOMEM
 * @note dst is written only up to dst_len; on error its content is
 *       undefined.
 */
int codec_decode(enum codec_id id, const void *src, size_t src_len, void *dst,
		 size_t dst_len);

/**
 * Decode a stream whose decoded size is not known exactly (an inner stage
 * of a Zarr v3 codec chain), into at most @p max bytes.
 * @param[out] out heap buffer, *out_len bytes (free() it); only on success
 * @return 0, -EBADMSG, -EFBIG (more than max), -ENOMEM
 */
int codec_decode_alloc(enum codec_id id, const void *src, size_t src_len,
		       size_t max, void **out, size_t *out_len);

/**
 * Compress with zstd into one frame that records its content size.
 * @param[out] out heap buffer (free() it), written only on success
 * @return 0, -ENOMEM, -EIO
 */
int codec_zstd_compress(const void *src, size_t len, int level, void **out,
			size_t *out_len);

/** Content size recorded in a zstd frame; -EBADMSG if none or corrupt. */
int codec_zstd_frame_size(const void *src, size_t len, uint64_t *size);

/**
 * Byte shuffle (as blosc's and HDF5's shuffle filter): the first bytes of
 * every element, then the second bytes, and so on. Pixel values compress
 * better and decompress twice as fast this way (the high bytes are
 * smooth, the noisy low bytes are stored raw). len must be a multiple of
 * elem; dst must not overlap src. elem 1 is a copy.
 */
void codec_shuffle(const void *src, size_t len, unsigned elem, void *dst);

/** The inverse of codec_shuffle(). */
void codec_unshuffle(const void *src, size_t len, unsigned elem, void *dst);

/** CRC-32C (Castagnoli), as Zarr v3's crc32c codec computes it. */
uint32_t codec_crc32c(const void *data, size_t len);
#ifdef IDRFS_UNITTEST
/* the table-driven form, to check the hardware one against */
uint32_t codec_crc32c_portable(const void *data, size_t len);
#endif

/**
 * Decode a PNG (8-bit grey, grey+alpha, RGB, RGBA or palette; no
 * interlace) of exactly @p width x @p height into packed RGB.
 * @param[out] rgb width*height*3 bytes
 * @return 0, -EBADMSG (not a PNG, another size, 16-bit, interlaced,
 *         corrupt), -ENOMEM
 */
int codec_png_rgb(const void *png, size_t len, uint32_t width, uint32_t height,
		  uint8_t *rgb);

#endif
