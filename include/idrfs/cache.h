/* SPDX-License-Identifier: MIT */
/*
 * cache: the persistent store of decoded pixel chunks and metadata, one
 * LMDB environment per remote under the cache directory. Values are
 * compressed with zstd and carry a checksum; an entry that fails it is
 * dropped and reported as a miss, never served.
 *
 * Value format (version 1):
 *   u8  version (1)
 *   u8  shuffle: 0, or the element size (2..16) the raw bytes were
 *       byte-shuffled by before compression (pixel chunks)
 *   u16 reserved (0)
 *   u32 CRC-32C of the raw bytes
 *   u64 raw length
 *   zstd frame of the raw bytes
 * Chunk keys (format 2) are built by cache_key_chunk():
 *   u8  'k'
 *   the source tag ("zarr", "render", "orig"; at most 16 bytes), NUL
 *   u64 identity of what the chunk belongs to (LE), see cache_ident_add()
 *   i64 image id (LE; 0 for an original file)
 *   u8  n, then n u64 chunk coordinates (LE), n <= 5
 * The identity is a 64-bit FNV-1a hash of a canonical string of every
 * field that decides a chunk's bytes, so a remount with another source or
 * a re-chunked array never meets the old chunks: for a Zarr array its URL,
 * format, shape, chunks, dtype with byte order, codec chain (and shard
 * layout), fill value and key separator; for a rendered band its render
 * URL (plane, region, channel settings); for an original file's block its
 * URL, size and ETag. Format 1 keys began with 'c' and held no identity:
 * they never match a format 2 key and leave by LRU eviction like any
 * other entry. A metadata entry is keyed by its URL; its raw bytes are the
 * fetch time (i64 LE, seconds), the URL's length (u32 LE), the URL, then the
 * body, so the checksum covers all of them and a hashed long URL is verified.
 *
 * Size limit: the sum of stored values never exceeds max_bytes. A put
 * that would pass it evicts least-recently-used entries (chunks and
 * metadata) first (access times
 * are recorded in batches, not with a write per read); MDB_MAP_FULL or a
 * full disk evicts or skips caching, and never fails the caller's read.
 * Metadata (API answers) is kept by canonical URL with its fetch time, for
 * the caller's TTL and for stale use when the remote is unreachable.
 *
 * Several processes may share one directory at once (LMDB's locking; all
 * accounting lives in the environment). Thread-safe. A kill -9 at any
 * moment leaves an environment the next open uses.
 *
 * Seed: a second cache directory made by idrfs (same layout), opened
 * read-only and without a lock file, so it can sit on a read-only or
 * cluster filesystem. Reads the local environment cannot serve are looked
 * up there; it is never written (no puts, access times or deletions) and
 * its hits are not copied into the local environment. Nothing may write
 * it while a cache uses it as a seed. The size limit, cache_stat(),
 * cache_path() and cache_flush() concern the local environment only.
 */
#ifndef IDRFS_CACHE_H
#define IDRFS_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CACHE_KEY_MAX	     128
#define CACHE_VERSION	     1
#define CACHE_DEFAULT_SIZE   (10ull << 30)
#define CACHE_IDENT_INIT     0xcbf29ce484222325ull
#define CACHE_KEY_CHUNK_TAG  'k'
#define CACHE_KEY_SOURCE_MAX 16
#define CACHE_KEY_DIMS	     5

struct cache;

struct cache_config {
	const char *dir;    /* the cache directory (per remote subdirectory
			     * is chosen from remote) */
	const char *remote; /* the remote's base URL */
	uint64_t max_bytes; /* limit on the sum of stored values; the LMDB
			     * map is made larger */
	const char *seed;   /* NULL or a cache directory to read from, as
			     * dir (its subdirectory for remote) */
};

struct cache_key {
	size_t len;
	uint8_t b[CACHE_KEY_MAX];
};

/**
 * Open (creating if needed) the cache of a remote, and its seed if
 * cfg->seed is set.
 * @param[in] cfg read during the call only
 * @param[out] out written only on success
 * @return 0, -errno from the filesystem or LMDB (logged with the path);
 *         for the seed also -ENOENT (no such directory, or it holds no
 *         cache of this remote), -ENOTDIR, -EINVAL (it is the cache
 *         directory itself), -EIO (not an LMDB environment)
 */
int cache_open(const struct cache_config *cfg, struct cache **out);

/** Close; NULL is a no-op. No other call may be in progress. */
void cache_close(struct cache *c);

/** The directory of the environment. @note owned by @p c. */
const char *cache_path(const struct cache *c);

/**
 * Fold @p len bytes into an identity hash (64-bit FNV-1a): start from
 * CACHE_IDENT_INIT and add the fields of a canonical string in a fixed
 * order, NUL between them.
 * @return the new hash
 */
uint64_t cache_ident_add(uint64_t h, const void *data, size_t len);

/**
 * Key of a pixel chunk (format 2 above): source tag (cut to
 * CACHE_KEY_SOURCE_MAX bytes), identity, image id and up to
 * CACHE_KEY_DIMS chunk coordinates (more are ignored).
 */
void cache_key_chunk(struct cache_key *k, const char *source, uint64_t ident,
		     int64_t image, const uint64_t *idx, unsigned n);

/**
 * Read an entry into @p dst, which must be exactly its raw length: from
 * the local environment, else from the seed (a damaged seed entry is
 * skipped, logged once, and is a miss).
 * @return 0 (hit), or what the local environment gave: -ENOENT (miss),
 *         -EBADMSG (the entry was damaged: it is deleted), -EFBIG (the
 *         entry has another length), -ENOMEM, -EINVAL (bad key), -EIO
 */
int cache_get(struct cache *c, const struct cache_key *k, void *dst,
	      size_t len);

/**
 * Store an entry (compressed). Failures are logged and returned but are
 * never fatal to the caller's read.
 * @return 0, -ENOSPC (larger than the limit, or the map or disk full:
 *         skipped), -ENOMEM, -EINVAL, -EIO
 */
int cache_put(struct cache *c, const struct cache_key *k, const void *data,
	      size_t len);

/**
 * cache_put() of pixels of @p elem bytes each: stored byte-shuffled
 * (smaller, and decoded twice as fast). elem 1, or a length that is not
 * a multiple of it, stores the bytes as they are.
 */
int cache_put_elems(struct cache *c, const struct cache_key *k,
		    const void *data, size_t len, unsigned elem);

/** Entries (chunks and metadata) and LMDB page bytes; the exact sum of
 * stored values is cache_counters().bytes_stored. */
int cache_stat(struct cache *c, uint64_t *entries, uint64_t *bytes);

/**
 * Store an API answer under its canonical URL, with the time it was
 * fetched (seconds since the epoch).
 * @return as cache_put()
 */
int cache_meta_put(struct cache *c, const char *url, const void *body,
		   size_t len, int64_t fetched_at);

/**
 * Look up an API answer, locally, else in the seed (as cache_get()).
 * @param[out] body heap copy, NUL-terminated (free() it), *len bytes
 * @param[out] fetched_at when it was fetched (for a seed hit: when the
 *             seed fetched it)
 * @return 0, -ENOENT, -EBADMSG (damaged: dropped), -ENOMEM, -EIO
 */
int cache_meta_get(struct cache *c, const char *url, char **body, size_t *len,
		   int64_t *fetched_at);

/** Write the batched access times now (also done on close). */
int cache_flush(struct cache *c);

/**
 * Counters since open, for .idrfs/stats. hits + misses are the reads;
 * seed_hits is the part of hits the seed served; damaged counts damaged
 * entries met (local ones are dropped, a seed's once per entry).
 */
struct cache_counters {
	uint64_t hits, misses, puts, evictions, skipped, damaged;
	uint64_t seed_hits;
	uint64_t bytes_stored; /* sum of stored values, from the env */
	uint64_t limit;
};
void cache_counters(struct cache *c, struct cache_counters *out);

#endif
