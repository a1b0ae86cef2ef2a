/* SPDX-License-Identifier: MIT */
/*
 * zarr: OME-Zarr arrays as idrfs reads them. Types for the metadata of
 * Zarr v2 (.zarray/.zattrs) and v3 (zarr.json), the OME-NGFF multiscales
 * that map array axes to TCZYX, chunk keys, and chunk decoding through the
 * codec module into little-endian, C-order samples of the full chunk
 * shape. JSON parsing of the metadata lives in the api module
 * (api_json_zarr.c); this module does no I/O.
 *
 * Limits: 2 to 5 dimensions; C order only; dtypes int8..uint64, float32,
 * float64 (and bool as uint8); at most ZARR_MAX_CODECS bytes-to-bytes
 * codecs; shards are decoded from a whole shard in memory. Every size is
 * bounds-checked against ZARR_MAX_CHUNK_BYTES before any allocation.
 */
#ifndef IDRFS_ZARR_H
#define IDRFS_ZARR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idrfs/codec.h"

#define ZARR_MAX_DIMS	     5
#define ZARR_MAX_CODECS	     4
#define ZARR_MAX_LEVELS	     32
#define ZARR_MAX_CHUNK_BYTES (256u << 20)
#define ZARR_KEY_MAX	     512

enum zarr_kind {
	ZARR_INT,
	ZARR_UINT,
	ZARR_FLOAT,
};

struct zarr_dtype {
	enum zarr_kind kind;
	unsigned size;	 /* bytes per element: 1, 2, 4 or 8 */
	bool big_endian; /* as stored; decoded chunks are little-endian */
};

struct zarr_codec {
	enum codec_id id;
};

struct zarr_array {
	int format; /* 2 or 3 */
	unsigned ndim;
	uint64_t shape[ZARR_MAX_DIMS];
	uint64_t chunks[ZARR_MAX_DIMS]; /* the stored unit: a shard in v3 */
	struct zarr_dtype dtype;
	uint8_t fill[8]; /* fill value, little-endian */
	/* chunk keys: v2 "<i>.<j>" or "<i>/<j>"; v3 default "c/<i>/<j>" */
	char separator;
	bool v3_default_keys;
	/* bytes-to-bytes codecs in encode order (decode runs backwards);
	 * v2: at most the compressor (filters are refused) */
	size_t ncodecs;
	struct zarr_codec codecs[ZARR_MAX_CODECS];
	bool crc32c; /* v3: a crc32c codec ends the chain (4-byte trailer) */
	/* v3 sharding_indexed: shards of inner chunks */
	bool sharded;
	uint64_t inner[ZARR_MAX_DIMS];
	size_t ninner_codecs;
	struct zarr_codec inner_codecs[ZARR_MAX_CODECS];
	bool inner_big_endian;
	bool inner_crc32c;
	bool index_crc32c; /* index followed by a CRC-32C */
	bool index_at_start;
};

/** OME-NGFF multiscales: levels and where t, c, z, y, x are. */
struct zarr_multiscale {
	unsigned ndim;
	int axis[5]; /* index of t, c, z, y, x in the array, or -1 */
	size_t nlevels;
	char *paths[ZARR_MAX_LEVELS]; /* "0", "1", ... heap strings */
	double scale[ZARR_MAX_LEVELS][ZARR_MAX_DIMS];
};

enum { ZARR_T = 0, ZARR_C, ZARR_Z, ZARR_Y, ZARR_X };

void zarr_multiscale_release(struct zarr_multiscale *m);

/**
 * Check an array's metadata for what this module can decode and for sane
 * sizes (dimensions, chunk bytes <= ZARR_MAX_CHUNK_BYTES, inner chunks
 * dividing the shard).
 * @return 0, -EINVAL (unsupported), -EFBIG (absurd sizes)
 */
int zarr_array_check(const struct zarr_array *a);

/** Bytes of one decoded chunk (product of chunks[] times dtype.size). */
uint64_t zarr_chunk_bytes(const struct zarr_array *a);

/** Number of chunks along dimension d. */
uint64_t zarr_grid(const struct zarr_array *a, unsigned d);

/**
 * The key of the chunk at grid coordinates @p idx, relative to the
 * array's directory (e.g. "0/1/0/3/2", "0.1.0.3.2", "c/0/1/0/3/2").
 * @return 0 or -ENAMETOOLONG
 */
int zarr_chunk_key(const struct zarr_array *a, const uint64_t *idx, char *out,
		   size_t outsz);

/**
 * Decode a stored chunk (or, for a sharded array, a whole shard) into
 * @p dst: zarr_chunk_bytes() bytes, little-endian, C order. Inner chunks
 * a shard lacks are filled with the fill value.
 * @return 0, -EBADMSG (does not decode, wrong size, bad shard index or
 *         checksum), -ENOMEM
 * @note On error the content of dst is undefined.
 */
int zarr_chunk_decode(const struct zarr_array *a, const void *src, size_t len,
		      void *dst);

/** Fill @p dst (zarr_chunk_bytes() bytes) with the fill value. */
void zarr_chunk_fill(const struct zarr_array *a, void *dst);

/**
 * Map NGFF axes to TCZYX. @p names are the axis names in array order
 * ("t","c","z","y","x"); v0.1/0.2 arrays without axes are 5-D tczyx.
 * @return 0 or -EINVAL (unknown, repeated, or no y/x)
 */
int zarr_axes(struct zarr_multiscale *m, unsigned ndim,
	      const char *const *names);

#endif
