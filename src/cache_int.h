/* SPDX-License-Identifier: MIT */
/*
 * cache_int: what cache.c (environment, transactions, keys, frames, reads
 * and the seed) and cache_lru.c (the byte limit, the LRU index, eviction,
 * the access batch and every write transaction) share: struct cache, the
 * index key and frame types, byte helpers and the transaction calls.
 * Private to the cache module; the only other place <lmdb.h> is seen.
 */
#ifndef IDRFS_CACHE_INT_H
#define IDRFS_CACHE_INT_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "idrfs/cache.h"

#define CACHE_HDR 16
/* URLs up to this length are their own key; longer ones are cut + hash */
#define CACHE_URL_KEY_MAX 256
#define CACHE_URL_KEY_CUT 200
/* an entry key, chunk or metadata, without its tag */
#define CACHE_EKEY_MAX	  CACHE_URL_KEY_MAX
#define CACHE_IX_MAX	  (1 + CACHE_EKEY_MAX)
#define CACHE_TAG_CHUNK	  'C'
#define CACHE_TAG_META	  'M'
#define CACHE_BATCH_MAX	  256
#define CACHE_BATCH_SLOTS 512 /* power of two, > CACHE_BATCH_MAX */
#define CACHE_RTXN_POOL	  16

static_assert(CACHE_EKEY_MAX >= CACHE_KEY_MAX, "chunk keys fit");
static_assert(1 + CACHE_KEY_SOURCE_MAX + 1 + 8 + 8 + 1 + 8 * CACHE_KEY_DIMS <=
		      CACHE_KEY_MAX,
	      "cache_key_chunk() fits a cache_key");
static_assert(CACHE_URL_KEY_CUT + 1 + 12 <= CACHE_EKEY_MAX, "hashed URLs fit");
/* LMDB's default largest key (MDB_MAXKEYSIZE) is 511 bytes */
static_assert(8 + CACHE_IX_MAX <= 511, "lru keys fit in LMDB");
static_assert(CACHE_BATCH_SLOTS > CACHE_BATCH_MAX &&
		      (CACHE_BATCH_SLOTS & (CACHE_BATCH_SLOTS - 1)) == 0,
	      "batch hash table");

/* An index key: a tag naming the database, then the entry key. */
struct ixkey {
	size_t len;
	uint8_t b[CACHE_IX_MAX];
};

/* One access waiting to be written. */
struct touch {
	uint64_t t;
	struct ixkey k;
};

/* A value to store: header, then the zstd frame. */
struct frame {
	uint8_t hdr[CACHE_HDR];
	const void *z;
	size_t zlen;
	size_t size;
};

/* Reset read transactions of one environment, kept for reuse. */
struct cache_pool {
	pthread_mutex_t lock;
	MDB_txn *txn[CACHE_RTXN_POOL]; /* protected by lock */
	unsigned n;		       /* protected by lock */
};

struct cache_seed; /* cache.c */

struct cache {
	/* lock order: env_lock, then pool.lock; batch_lock alone; the
	 * seed's locks alone */
	pthread_rwlock_t env_lock;
	MDB_env *env;	/* protected by env_lock (replaced for writing) */
	MDB_dbi chunks; /* the dbis and gen: as env */
	MDB_dbi meta;
	MDB_dbi atime;
	MDB_dbi lru;
	MDB_dbi stats;
	uint64_t gen;	/* +1 per remap or reopen */
	size_t mapsize; /* the map we ask for; protected by env_lock */

	struct cache_pool pool; /* of env; used with env_lock held */

	pthread_mutex_t batch_lock;
	struct touch *touched;		 /* protected by batch_lock */
	size_t ntouched;		 /* protected by batch_lock */
	int16_t slot[CACHE_BATCH_SLOTS]; /* protected by batch_lock */
	uint64_t batch_since;		 /* protected by batch_lock */

	struct cache_seed *seed; /* NULL: none; read-only, set at open */

	char *path;
	uint64_t max_bytes;
	bool locks_made;
	atomic_bool full_logged;
	atomic_uint_fast64_t clock; /* last access time handed out (ns) */
	atomic_uint_fast64_t hits, misses, puts, evictions, skipped, damaged;
	atomic_uint_fast64_t seed_hits;
	atomic_uint_fast64_t bytes_seen; /* "bytes" at the last commit/read */
};

/* ---- bytes ------------------------------------------------------------ */

static inline void cache_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void cache_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void cache_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline uint32_t cache_get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t cache_get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t cache_fnv1a64(const void *data, size_t len)
{
	return cache_ident_add(CACHE_IDENT_INIT, data, len);
}

/* ---- keys ------------------------------------------------------------- */

/* The database of an entry: chunks or meta, by its tag. */
static inline MDB_dbi cache_data_dbi(const struct cache *c,
				     const struct ixkey *ik)
{
	return ik->b[0] == CACHE_TAG_META ? c->meta : c->chunks;
}

/* The key of an entry in its database: the index key without its tag. */
static inline MDB_val cache_data_key(const struct ixkey *ik)
{
	MDB_val v = {.mv_size = ik->len - 1, .mv_data = (void *)(ik->b + 1)};

	return v;
}

/* ---- cache.c: errors and transactions --------------------------------- */

/**
 * The one translation of LMDB errors: MDB_NOTFOUND is -ENOENT (not
 * logged); anything else is logged as "WHAT 'PATH': reason".
 * @return 0 or -errno
 */
int cache_mdb_to_errno(int rc, const char *what, const char *path);

/**
 * Begin a transaction of the local environment (MDB_RDONLY or 0) with
 * env_lock held for reading, until cache_rtxn_done(), cache_wtxn_abort()
 * or cache_wtxn_commit(). Remaps or reopens once if LMDB asks.
 * @return 0 (*out) or an LMDB/errno code
 */
int cache_txn_begin(struct cache *c, unsigned flags, MDB_txn **out);

/** Return a read txn to the pool and leave env_lock. */
void cache_rtxn_done(struct cache *c, MDB_txn *txn);

/** Abort a write txn and leave env_lock. */
void cache_wtxn_abort(struct cache *c, MDB_txn *txn);

/** Commit a write txn and leave env_lock. @return an LMDB/errno code */
int cache_wtxn_commit(struct cache *c, MDB_txn *txn);

/* ---- cache_lru.c: accounting, eviction, the access batch, writes ------ */

/**
 * At open, in the first write txn: rebuild the total and the index of an
 * environment that has no total (new, or written by a version without
 * accounting). @return an LMDB code
 */
int cache_lru_setup(struct cache *c, MDB_txn *txn);

/** The sum of the stored values, in @p txn. @return an LMDB code */
int cache_lru_total(struct cache *c, MDB_txn *txn, uint64_t *bytes);

/** A hit: note the access of @p ik, written in a later batch. */
void cache_lru_note(struct cache *c, const struct ixkey *ik);

/**
 * Store a frame under @p ik, evicting to stay under the limit.
 * @return 0, -ENOSPC (skipped), -errno (logged)
 */
int cache_lru_put(struct cache *c, const struct ixkey *ik,
		  const struct frame *f);

/**
 * Delete a damaged entry of the local environment, if it is still the
 * value that was read: @p vsize bytes whose CRC-32C is @p fp.
 */
void cache_lru_drop(struct cache *c, const struct ixkey *ik, size_t vsize,
		    uint32_t fp);

#endif
