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
 * the remote's and is checked against the caps below (with checked
 * arithmetic) before anything is allocated from it; metadata outside them
 * is refused as a bad answer (-EBADMSG), never decoded.
 */
#ifndef IDRFS_ZARR_H
#define IDRFS_ZARR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idrfs/codec.h"

/* NGFF images have at most 5 axes (t, c, z, y, x). */
#define ZARR_MAX_DIMS 5
/* A chain of bytes-to-bytes codecs: real data has one compressor. */
#define ZARR_MAX_CODECS 4
/* Pyramid levels: halving from 2^32 pixels reaches 1 in 32 steps. */
#define ZARR_MAX_LEVELS 32
/* One level's path: names of [A-Za-z0-9._-] (not "." or "..") and '/'. */
#define ZARR_PATH_MAX 128
/*
 * One axis of the array or of a chunk: each maps to a 32-bit Pixels size
 * (SizeX..SizeT), so a longer one matches no image.
 */
#define ZARR_MAX_EXTENT UINT32_MAX
/*
 * Decoded bytes of one stored chunk (a whole shard in v3), which is held
 * in memory whole. IDR's OME-Zarr (bioformats2raw, ome-zarr-py) uses
 * chunks of 1 to 64 MiB (1024x1024 planes up to 3-D blocks); 256 MiB
 * leaves room for larger shards while a hostile .zarray cannot make one
 * chunk cost more.
 */
#define ZARR_MAX_CHUNK_BYTES (256u << 20)
/*
 * Whole-array bytes (8 PiB): above every image, and low enough that
 * callers can add and multiply offsets within an array without overflow.
 */
#define ZARR_MAX_ARRAY_BYTES (UINT64_C(1) << 53)
/* Chunks in the grid: 1-element chunks of a large array are no answer. */
#define ZARR_MAX_GRID_CHUNKS (UINT64_C(1) << 40)
/* Inner chunks per shard; the index is 16 bytes each (16 MiB at most). */
#define ZARR_MAX_INNER_CHUNKS (UINT64_C(1) << 20)
#define ZARR_KEY_MAX	      512

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

/*
 * The OME-Zarr view idrfs serves of an image (its zarr/ tree): an
 * OME-NGFF 0.4 group of Zarr v2 arrays, 5-D t,c,z,y,x, uncompressed,
 * little-endian, one chunk file per chunk of the source (the source's
 * stored unit, mapped to 5-D). What its JSON files say (api.h writes
 * them).
 */
struct zarr_view_level {
	uint64_t shape[5];  /* t, c, z, y, x */
	uint64_t chunks[5]; /* the same order */
	double scale[5];
};

struct zarr_view_channel {
	const char *label; /* NULL: none */
	uint32_t color_rgb;
	double min, max, start, end;
};

struct zarr_view {
	const char *name;	 /* the image's */
	struct zarr_dtype dtype; /* as served: little-endian */
	uint8_t fill[8];	 /* little-endian */
	size_t nlevels;
	struct zarr_view_level lv[ZARR_MAX_LEVELS];
	bool space_um; /* the scales of z, y, x are micrometres */
	size_t nchannels;
	const struct zarr_view_channel *channels;
};

/** Bytes of one chunk file of level @p lvl (checked: below 2^53). */
uint64_t zarr_view_chunk_bytes(const struct zarr_view *v, unsigned lvl);

/**
 * Check an array's metadata for what this module can decode and for sane
 * sizes (the caps above, inner chunks dividing the shard), with checked
 * products throughout.
 * @param[out] field, why which metadata field is wrong and how (static
 *             strings, for the caller's log line, which knows the URL);
 *             either may be NULL; written only on failure
 * @return 0, or -EBADMSG (unsupported or absurd: the array is refused)
 * @note Pure and thread-safe; logs nothing.
 */
int zarr_array_check(const struct zarr_array *a, const char **field,
		     const char **why);

/**
 * Bytes of one decoded chunk (product of chunks[] times dtype.size);
 * UINT64_MAX if that overflows (never for a checked array).
 */
uint64_t zarr_chunk_bytes(const struct zarr_array *a);

/** Number of chunks along dimension d (0 past ndim or for no chunks). */
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
