/* SPDX-License-Identifier: MIT */
/*
 * pixsrc: where an image's pixels come from, and the read path of its
 * virtual TIFF. A Zarr source (the image's zarr_lsid: its ExternalInfo,
 * or the URL the locator found, locate.h) gives
 * raw pixels: chunks are fetched only where a read needs them, decoded,
 * kept in a bounded memory LRU and in the persistent cache. An image with
 * no raw source is rendered (8-bit RGB, clearly marked) band by band.
 *
 * A reader that reads on where it stopped gets the next prefetch_bytes of
 * the file fetched ahead by two worker threads; random readers do not.
 *
 * Memory: one budget, mem_budget, bounds every byte of chunks in memory:
 * decoded chunks in use and idle, and, while a chunk loads, the most its
 * load can hold at once (the fetched body, the decoder's buffers, the
 * cache's compressed copy). A read takes its chunks in batches that fit,
 * uses them and lets them go before the next batch (idle chunks are
 * dropped, least recently used first, to make room); with no room it
 * waits, until its deadline, for other reads to let go. A chunk whose
 * load needs more than the whole budget is refused (-EFBIG, logged with
 * the array's URL and the sizes): loading it would break the bound, and
 * one such chunk at a time under an exclusive budget would still need
 * more memory than the user allowed. Prefetch uses at most half the
 * budget and never waits: without room its job is dropped. The chunks it
 * brought in and no read has used yet keep at most prefetch_keep (by
 * default the smaller of prefetch_bytes and half the budget); past that,
 * prefetched chunks go to the persistent cache only (compressed, as chunks are
 * stored there) and their memory is given back at once: a reader far behind the
 * read-ahead gets them from the cache, not the network.
 *
 * A chunk the remote does not have (404: the fill value) is never stored
 * in the persistent cache: it is kept in memory as a marker for
 * absent_ttl_ms, then asked for again. A chunk that does not decode, or
 * decodes to the wrong size, fails the read with -EIO (logged with the
 * chunk's URL) and is not kept anywhere.
 *
 * Limits: the .tif reads level 0, the .ome.tif the levels of its
 * layout (pixsrc_open_ome()), the zarr/ view every level; prefetch
 * follows streams of the .tif and the .ome.tif (not the zarr/ view's
 * chunk files); one request per missing chunk (identical
 * misses of concurrent readers share one request); at most
 * PIXSRC_BATCH_MAX chunks per batch of a read.
 */
#ifndef IDRFS_PIXSRC_H
#define IDRFS_PIXSRC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "idrfs/api.h"
#include "idrfs/cache.h"
#include "idrfs/tiff.h"
#include "idrfs/zarr.h"

enum pixsrc_kind {
	PIXSRC_ZARR,
	PIXSRC_RENDERED,
};

struct pixsrc_config {
	struct api *api;	 /* borrowed */
	struct api_transport tr; /* fetches of Zarr chunks and renders */
	struct cache *cache;	 /* borrowed; NULL: no persistent cache */
	const char *s3_scheme;	 /* "https" (default) or "http" (copied) */
	size_t mem_budget;	 /* bytes of chunks in memory, all counted
				  * (above); 0: PIXSRC_DEFAULT_BUDGET */
	uint64_t prefetch_bytes; /* read ahead of sequential readers; 0 off */
	uint64_t prefetch_keep;	 /* the most prefetched chunks not read yet
				  * keep in memory; 0: the smaller of
				  * prefetch_bytes and half the budget (never
				  * more than half) */
	uint64_t job_timeout_ms; /* deadline of a prefetch job */
	uint64_t absent_ttl_ms;	 /* how long a 404 chunk is taken as fill
				  * before it is asked again; 0: 60 s */
};

#define PIXSRC_DEFAULT_BUDGET (256u << 20)
#define PIXSRC_BATCH_MAX      128
/** How long a failed chunk load is the answer before the chunk is asked
 * for again (the kernel retries a failed read-ahead at once, page by
 * page: each retry fails at once instead of costing a deadline). */
#define PIXSRC_FAIL_HOLD_MS 1000u

/** Memory of the chunk table (bytes and events since pixsrc_new()). */
struct pixsrc_mem {
	uint64_t budget;
	uint64_t held;	    /* now: chunks in use, loading and idle */
	uint64_t idle;	    /* the part of held no read uses */
	uint64_t peak;	    /* most held at once: never above budget */
	uint64_t waits;	    /* times a read waited for room */
	uint64_t timeouts;  /* reads that gave up waiting (-ETIMEDOUT) */
	uint64_t too_big;   /* reads refused a chunk larger than the
			     * budget (-EFBIG) */
	uint64_t pf_yields; /* prefetch jobs dropped for want of room */
	uint64_t pf_share;  /* the most prefetched chunks not read yet keep */
	uint64_t pf_held;   /* the part of held they keep now */
	uint64_t pf_spills; /* prefetched chunks only stored in the cache */
};

struct pixsrc;
struct pixsrc_image;

/** Counters of @p ps's memory. @note Thread-safe. */
void pixsrc_mem_stats(struct pixsrc *ps, struct pixsrc_mem *out);

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
/**
 * The geometry of an image's .ome.tif, from list data alone (its size is
 * known at stat time): native samples (int8 is int8, double is double).
 * Only an image with a raw (Zarr) source has one: the caller knows.
 * @return 0, or -ENOENT (no usable Pixels: no .ome.tif)
 */
int pixsrc_ome_geom(const struct api_image *img, struct tiff_ome_geom *g);

/**
 * Open an image's .ome.tif (a Zarr source only): what pixsrc_open() asks,
 * and each pyramid level's array that the layout has room for, at once.
 * A level whose size is not the layout's ends the pyramid there (logged);
 * the file keeps its size. Reads go through pixsrc_read(); tiles fetch
 * only the chunks under them.
 * @return as pixsrc_open(); -ENOENT for an image with no raw source
 */
int pixsrc_open_ome(struct pixsrc *ps, const struct api_image *img,
		    uint64_t deadline, struct pixsrc_image **out);

/**
 * Open an image's OME-Zarr view (zarr/, a Zarr source only): what
 * pixsrc_open() asks and every level's array, at once. A level whose t,
 * c, z or type differ from level 0's ends the pyramid (logged). The 8
 * newest view sources stay open (a reference each) for 60 s after they
 * were opened: an open of the same image with the same Zarr URL in that
 * time gets the same source, asking nothing (zarr-python opens every
 * chunk file on its own).
 * @return as pixsrc_open(); -ENOENT for an image with no raw source or
 *         with axes out of t, c, z, y, x order
 */
int pixsrc_open_zview(struct pixsrc *ps, const struct api_image *img,
		      uint64_t deadline, struct pixsrc_image **out);

/** What the view holds (for its JSON). @note Strings owned by @p im. */
void pixsrc_zview(const struct pixsrc_image *im, struct zarr_view *v);

/**
 * Read a chunk file of the view: chunk @p idx (t, c, z, y, x grid
 * coordinates) of level @p lvl, its decoded bytes (the fill value for a
 * chunk the remote does not have), through the chunk table and cache.
 * @return bytes read (short only at the chunk's end), -ENOENT (no such
 *         chunk), or as pixsrc_read()
 */
ssize_t pixsrc_zview_read(struct pixsrc_image *im, unsigned lvl,
			  const uint64_t idx[5], uint64_t off, size_t len,
			  uint8_t *out, uint64_t deadline);

/** Drop the opener's reference (prefetch jobs may hold it a little
 * longer). NULL is a no-op. */
void pixsrc_image_free(struct pixsrc_image *im);

/** Prefetch jobs queued or running for the image (0: its read-ahead is
 * done, so counts of what it fetched are final). */
unsigned pixsrc_image_jobs(const struct pixsrc_image *im);

/** Size of the image's file (equals the layout computed from Pixels). */
uint64_t pixsrc_size(const struct pixsrc_image *im);

/** "zarr" or "rendered". */
const char *pixsrc_source_name(const struct pixsrc_image *im);

/** URL of the Zarr array or of the render endpoint. @note owned. */
const char *pixsrc_source_url(const struct pixsrc_image *im);

/**
 * Read the image's TIFF bytes.
 * @return bytes read (short only at end of file), -EIO (a chunk failed;
 *         logged with its URL), -ETIMEDOUT (the deadline passed, also
 *         while waiting for another reader's load of a chunk or for room
 *         in the memory budget), -EFBIG (one chunk needs more memory than
 *         the whole budget; logged), -ENOMEM
 * @note Thread-safe. Every wait is bounded by @p deadline.
 */
ssize_t pixsrc_read(struct pixsrc_image *im, uint64_t off, size_t len,
		    uint8_t *out, uint64_t deadline);

/**
 * Read an original file on the download root: 1 MiB blocks, each fetched
 * once with a Range request, shared and cached like pixel chunks. Blocks
 * are keyed by the URL and @p size: a file that changed size is fetched
 * again.
 * @param[in] size the file's size (from its HEAD)
 * @return bytes read (short only at end of file), -EIO, -ETIMEDOUT,
 *         -EFBIG (a block is larger than the memory budget), -ENOMEM
 */
ssize_t pixsrc_orig_read(struct pixsrc *ps, const char *url, uint64_t size,
			 uint64_t off, size_t len, uint8_t *out,
			 uint64_t deadline);

/** Shared tiff geometry rule: bytes per file sample of an OMERO type. */
unsigned pixsrc_file_bps(enum api_pixel_type t);

#endif
