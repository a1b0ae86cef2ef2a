/* SPDX-License-Identifier: MIT */
/*
 * pixsrc: where an image's pixels come from, and the read path of its
 * virtual TIFF. A Zarr source (ExternalInfo Lsid or -o zarr_url=) gives
 * raw pixels: chunks are fetched only where a read needs them, decoded,
 * kept in a bounded memory LRU and in the persistent cache. An image with
 * no raw source is rendered (8-bit RGB, clearly marked) band by band.
 *
 * A reader that reads on where it stopped gets the next prefetch_bytes of
 * the file fetched ahead by two worker threads; random readers do not.
 *
 * Limits: level 0 only; one request per missing chunk (identical misses
 * of concurrent readers share one request); the memory LRU holds at most
 * mem_budget bytes of decoded chunks that no reader is using.
 */
#ifndef IDRFS_PIXSRC_H
#define IDRFS_PIXSRC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "idrfs/api.h"
#include "idrfs/cache.h"

enum pixsrc_kind {
	PIXSRC_ZARR,
	PIXSRC_RENDERED,
};

struct pixsrc_config {
	struct api *api;	 /* borrowed */
	struct api_transport tr; /* fetches of Zarr chunks and renders */
	struct cache *cache;	 /* borrowed; NULL: no persistent cache */
	const char *zarr_url;	 /* template with {id}, or NULL (copied) */
	const char *s3_scheme;	 /* "https" (default) or "http" (copied) */
	size_t mem_budget;	 /* bytes of decoded chunks kept */
	uint64_t prefetch_bytes; /* read ahead of sequential readers; 0 off */
	uint64_t job_timeout_ms; /* deadline of a prefetch job */
};

struct pixsrc;
struct pixsrc_image;

int pixsrc_new(const struct pixsrc_config *cfg, struct pixsrc **out);
void pixsrc_free(struct pixsrc *ps);

/** Which source an image has, from list data alone (no request). */
enum pixsrc_kind pixsrc_kind_of(const struct pixsrc *ps,
				const struct api_image *img);

/**
 * Open an image's pixel source and build its TIFF: a few metadata
 * requests (imgData, the Zarr group and level-0 array).
 * @param[out] out written only on success; free with pixsrc_image_free()
 * @return 0, -EBADMSG (metadata does not decode or does not match the
 *         image), -EINVAL (unsupported Zarr), -ENOENT, -EACCES,
 *         -ETIMEDOUT, -EIO, -ENOMEM
 */
int pixsrc_open(struct pixsrc *ps, const struct api_image *img,
		uint64_t deadline, struct pixsrc_image **out);
/** Drop the opener's reference (prefetch jobs may hold it a little
 * longer). NULL is a no-op. */
void pixsrc_image_free(struct pixsrc_image *im);

/** Size of the image's file (equals the layout computed from Pixels). */
uint64_t pixsrc_size(const struct pixsrc_image *im);

/** "zarr" or "rendered". */
const char *pixsrc_source_name(const struct pixsrc_image *im);

/** URL of the Zarr array or of the render endpoint. @note owned. */
const char *pixsrc_source_url(const struct pixsrc_image *im);

/**
 * Read the image's TIFF bytes.
 * @return bytes read (short only at end of file), -EIO (a chunk failed;
 *         logged with its URL), -ETIMEDOUT, -ENOMEM
 * @note Thread-safe.
 */
ssize_t pixsrc_read(struct pixsrc_image *im, uint64_t off, size_t len,
		    uint8_t *out, uint64_t deadline);

/**
 * Read an original file on the download root: 1 MiB blocks, each fetched
 * once with a Range request, shared and cached like pixel chunks.
 * @param[in] size the file's size (from its HEAD)
 * @return bytes read (short only at end of file), -EIO, -ETIMEDOUT,
 *         -ENOMEM
 */
ssize_t pixsrc_orig_read(struct pixsrc *ps, const char *url, uint64_t size,
			 uint64_t off, size_t len, uint8_t *out,
			 uint64_t deadline);

/** Shared tiff geometry rule: bytes per file sample of an OMERO type. */
unsigned pixsrc_file_bps(enum api_pixel_type t);

#endif
