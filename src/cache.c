/* SPDX-License-Identifier: MIT */
/*
 * cache: LMDB environment, key schema, value frames, the byte limit and LRU
 * eviction. It keeps bytes and knows nothing of HTTP, TIFF or FUSE;
 * compression and checksums go through the codec module, the owner of
 * zstd.
 *
 * Databases of one environment:
 *   chunks  chunk key (cache_key_*())    -> frame of the chunk
 *   meta    URL (see meta_ixkey())       -> frame of fetched_at|URL|body
 *   atime   tag|key                      -> u64 LE last access (ns)
 *   lru     u64 BE last access|tag|key   -> empty
 *   stats   "bytes"                      -> u64 LE sum of value sizes
 * The tag ('C' chunks, 'M' meta) names the database of an index entry, so
 * chunk and metadata keys never meet. Every entry of chunks and meta has
 * exactly one atime and one lru record with the same time, and "bytes" is
 * the sum of the sizes of their values: every write transaction that puts
 * or deletes a value changes all of these together, so several processes
 * on one directory agree and a crash cannot split them.
 *
 * Metadata frames carry, as raw bytes, i64 LE fetched_at, u32 LE URL
 * length, the URL and the body: the fetch time is covered by the CRC, and
 * a URL too long to be a key (cut and hashed, see meta_ixkey()) is compared
 * in full before anything is served.
 *
 * Size limit and eviction. A put first deletes the value it replaces, then
 * evicts from the head of lru (oldest access first) until the new value
 * fits under max_bytes, then stores value, index and total, all in one
 * write transaction. A value larger than the whole limit is skipped
 * (-ENOSPC) before anything is evicted. The LMDB map is max_bytes plus
 * half of it plus CACHE_MAP_SLACK, for branch pages, the index, the free
 * list and pages still held by readers; MDB_MAP_FULL (or a full disk, or
 * too many dirty pages) aborts the put, runs one eviction-only transaction
 * that frees twice the value's size plus 1/64 of the limit (its pages can
 * be reused by the next transaction), and retries once; if that fails
 * too the put is skipped (-ENOSPC). Nothing is left half written. (While
 * another process holds an old snapshot, freed pages cannot be reused
 * and such puts keep being skipped; the amount is kept small so that
 * they do not empty the cache meanwhile.)
 *
 * Access batching. A hit does not write: it records (key, time) in a
 * bounded table in memory (c->touched). The table is written in one write
 * transaction when it holds CACHE_BATCH_MAX keys, when its oldest record is
 * CACHE_BATCH_SECS old (checked at the next access; the thread whose
 * access triggers it writes it), on cache_flush() and cache_close(), and
 * inside every put's transaction (so that this
 * process's recent reads are known before it evicts). A batched time
 * older than the index's (another process touched or re-put the entry
 * later) or for an entry that is gone is ignored. Times are CLOCK_REALTIME
 * in nanoseconds, made strictly increasing in one process, so that puts
 * and reads order exactly; a put counts as an access.
 *
 * Durability: MDB_NOSYNC. A commit writes the new pages with pwrite() and
 * then the meta page, without fsync. A kill -9 cannot undo a write() that
 * has returned (the data sits in the kernel's page cache, which every
 * later open reads), and LMDB never overwrites a page reachable from the
 * last committed meta: a process killed before its meta page write leaves
 * the previous transaction in place, one killed after it has committed.
 * The writer mutex is a robust one (LMDB recovers it when its owner died)
 * and a dead process's reader slots are cleared by mdb_reader_check() at
 * open and on MDB_MAP_FULL. A kill loses at most the batched access
 * times. A crash of the machine can lose the commits since the last
 * writeback (cache_close() syncs); on a filesystem that keeps write order
 * LMDB stays consistent (ACI without D), on others it may not, and then
 * the per-value checks below and -EIO from LMDB keep bad data from being
 * served. Every value is checked (version, length, zstd frame, CRC-32C)
 * on every read, so a damaged entry is deleted and reported as a miss.
 *
 * Threads. Read transactions are short (one get, decode straight out of
 * the map, reset) and are reused from a small pool (MDB_NOTLS); the write
 * side is LMDB's own writer lock. c->env_lock is held for reading around
 * every transaction and for writing only to remap (another process grew
 * the file past our map: MDB_MAP_RESIZED) or to reopen after MDB_PANIC,
 * which LMDB allows only with no transaction active in the process.
 * Compression happens before any transaction. Lock order: env_lock, then
 * pool_lock; batch_lock is never held with another lock or in a
 * transaction, and no thread takes env_lock twice.
 */
#include "config.h"

#include "idrfs/cache.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lmdb.h>

#include "idrfs/codec.h"
#include "idrfs/log.h"

#define CACHE_HDR	 16
#define CACHE_ZSTD_LEVEL 3
/* fetched_at and URL length at the head of a metadata frame's raw bytes */
#define CACHE_META_FIXED 12
/* the largest API answer kept */
#define CACHE_META_MAX (256u << 20)
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
#define CACHE_BATCH_SECS  5
#define CACHE_RTXN_POOL	  16
#define CACHE_MAXREADERS  512
#define CACHE_MAP_SLACK	  (8u << 20)
#define CACHE_MAP_ROUND	  (1u << 20)

static_assert(CACHE_EKEY_MAX >= CACHE_KEY_MAX, "chunk keys fit");
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

struct cache {
	/* lock order: env_lock, then pool_lock; batch_lock alone */
	pthread_rwlock_t env_lock;
	MDB_env *env;	/* protected by env_lock (replaced for writing) */
	MDB_dbi chunks; /* the dbis and gen: as env */
	MDB_dbi meta;
	MDB_dbi atime;
	MDB_dbi lru;
	MDB_dbi stats;
	uint64_t gen;	/* +1 per remap or reopen */
	size_t mapsize; /* the map we ask for; protected by env_lock */

	pthread_mutex_t pool_lock;
	MDB_txn *pool[CACHE_RTXN_POOL]; /* reset read txns; pool_lock */
	unsigned npool;			/* protected by pool_lock */

	pthread_mutex_t batch_lock;
	struct touch *touched;		 /* protected by batch_lock */
	size_t ntouched;		 /* protected by batch_lock */
	int16_t slot[CACHE_BATCH_SLOTS]; /* protected by batch_lock */
	uint64_t batch_since;		 /* protected by batch_lock */

	char *path;
	uint64_t max_bytes;
	bool locks_made;
	atomic_bool full_logged;
	atomic_uint_fast64_t clock; /* last access time handed out (ns) */
	atomic_uint_fast64_t hits, misses, puts, evictions, skipped, damaged;
	atomic_uint_fast64_t bytes_seen; /* "bytes" at the last commit/read */
};

/*
 * The one translation of LMDB errors.
 * @unittest test_cache
 */
static int cache_mdb_to_errno(int rc, const char *what, const char *path)
{
	int e;

	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		e = -ENOSPC;
		break;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_PANIC:
	case MDB_MAP_RESIZED:
		e = -EIO;
		break;
	default:
		e = rc > 0 && rc < 4096 ? -rc : -EIO;
		break;
	}
	log_error(LOG_C_CACHE, "%s '%s': %s", what, path, mdb_strerror(rc));
	return e;
}

/* Errors after which a put is skipped rather than failed. */
static bool is_full(int rc)
{
	return rc == MDB_MAP_FULL || rc == MDB_TXN_FULL || rc == ENOSPC ||
	       rc == EDQUOT || rc == EFBIG;
}

/* A directory name for a remote: its host and port, made safe. */
static void remote_dir_name(const char *url, char *out, size_t outsz)
{
	const char *p = strstr(url, "://");
	size_t o = 0;

	p = p ? p + 3 : url;
	for (; *p && *p != '/' && o + 1 < outsz; p++) {
		char ch = *p;

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-'))
			ch = '_';
		out[o++] = ch;
	}
	if (o == 0)
		out[o++] = '_';
	out[o] = '\0';
}

/* ---- bytes ------------------------------------------------------------ */

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t fnv1a64(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* ---- keys ------------------------------------------------------------- */

void cache_key_chunk(struct cache_key *k, const char *source, int64_t image,
		     uint32_t level, const uint64_t *idx, unsigned n)
{
	size_t sl = strlen(source);

	/* "c" | source | NUL | image | level | n | idx[n], little-endian */
	if (sl > 16)
		sl = 16;
	if (n > 5)
		n = 5;
	k->len = 0;
	k->b[k->len++] = 'c';
	memcpy(k->b + k->len, source, sl);
	k->len += sl;
	k->b[k->len++] = 0;
	put_u64(k->b + k->len, (uint64_t)image);
	k->len += 8;
	put_u32(k->b + k->len, level);
	k->len += 4;
	k->b[k->len++] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		put_u64(k->b + k->len, idx[i]);
		k->len += 8;
	}
}

static int chunk_ixkey(struct ixkey *ik, const struct cache_key *k)
{
	if (k->len == 0 || k->len > CACHE_KEY_MAX)
		return -EINVAL;
	ik->b[0] = CACHE_TAG_CHUNK;
	memcpy(ik->b + 1, k->b, k->len);
	ik->len = 1 + k->len;
	return 0;
}

/*
 * The key of a URL: the URL itself, or when longer than CACHE_URL_KEY_MAX,
 * its first CACHE_URL_KEY_CUT bytes, a NUL (which no URL holds, so a cut
 * key never equals a whole one) and two hashes of the whole. The value
 * holds the whole URL, compared on every read.
 */
static void meta_ixkey(struct ixkey *ik, const char *url, size_t ulen)
{
	ik->b[0] = CACHE_TAG_META;
	if (ulen <= CACHE_URL_KEY_MAX) {
		memcpy(ik->b + 1, url, ulen);
		ik->len = 1 + ulen;
		return;
	}
	memcpy(ik->b + 1, url, CACHE_URL_KEY_CUT);
	ik->len = 1 + CACHE_URL_KEY_CUT;
	ik->b[ik->len++] = 0;
	put_u64(ik->b + ik->len, fnv1a64(url, ulen));
	ik->len += 8;
	put_u32(ik->b + ik->len, codec_crc32c(url, ulen));
	ik->len += 4;
}

static MDB_dbi data_dbi(const struct cache *c, const struct ixkey *ik)
{
	return ik->b[0] == CACHE_TAG_META ? c->meta : c->chunks;
}

static MDB_val data_key(const struct ixkey *ik)
{
	MDB_val v = {.mv_size = ik->len - 1, .mv_data = (void *)(ik->b + 1)};

	return v;
}

/* ---- time ------------------------------------------------------------- */

/* An access time: wall clock (shared by processes), strictly increasing. */
static uint64_t access_clock(struct cache *c)
{
	struct timespec ts;
	uint_fast64_t last, now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	last = atomic_load(&c->clock);
	do {
		if (now <= last)
			now = last + 1;
	} while (!atomic_compare_exchange_weak(&c->clock, &last, now));
	return now;
}

static uint64_t mono_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* ---- environment and transactions ------------------------------------- */

/* The map: max_bytes, half again for pages, index and free list, slack. */
static size_t map_size(uint64_t max_bytes)
{
	uint64_t s, cap = (uint64_t)SIZE_MAX / 4;

	if (max_bytes > cap / 2)
		max_bytes = cap / 2;
	s = max_bytes + max_bytes / 2 + CACHE_MAP_SLACK;
	s = (s + CACHE_MAP_ROUND - 1) / CACHE_MAP_ROUND * CACHE_MAP_ROUND;
	return (size_t)s;
}

static int stats_get(struct cache *c, MDB_txn *txn, uint64_t *bytes)
{
	MDB_val key = {.mv_size = 5, .mv_data = (void *)"bytes"};
	MDB_val val;
	int rc;

	rc = mdb_get(txn, c->stats, &key, &val);
	if (rc == MDB_NOTFOUND) {
		*bytes = 0;
		return 0;
	}
	if (rc != 0)
		return rc;
	if (val.mv_size != 8)
		return MDB_CORRUPTED;
	*bytes = get_u64(val.mv_data);
	return 0;
}

static int stats_set(struct cache *c, MDB_txn *txn, uint64_t bytes)
{
	MDB_val key = {.mv_size = 5, .mv_data = (void *)"bytes"};
	uint8_t b[8];
	MDB_val val = {.mv_size = 8, .mv_data = b};

	put_u64(b, bytes);
	return mdb_put(txn, c->stats, &key, &val, 0);
}

/* Record @p t as the last access of @p ik (no older record may exist). */
static int index_set(struct cache *c, MDB_txn *txn, const struct ixkey *ik,
		     uint64_t t)
{
	uint8_t lk[8 + CACHE_IX_MAX], tb[8];
	MDB_val akey = {.mv_size = ik->len, .mv_data = (void *)ik->b};
	MDB_val aval = {.mv_size = 8, .mv_data = tb};
	MDB_val lkey = {.mv_size = 8 + ik->len, .mv_data = lk};
	MDB_val empty = {.mv_size = 0, .mv_data = NULL};
	int rc;

	put_u64(tb, t);
	put_be64(lk, t);
	memcpy(lk + 8, ik->b, ik->len);
	rc = mdb_put(txn, c->atime, &akey, &aval, 0);
	if (rc == 0)
		rc = mdb_put(txn, c->lru, &lkey, &empty, 0);
	return rc;
}

/* Remove the index records of @p ik, if it has any. */
static int index_del(struct cache *c, MDB_txn *txn, const struct ixkey *ik)
{
	uint8_t lk[8 + CACHE_IX_MAX];
	MDB_val akey = {.mv_size = ik->len, .mv_data = (void *)ik->b};
	MDB_val lkey = {.mv_size = 8 + ik->len, .mv_data = lk};
	MDB_val aval;
	uint64_t t;
	int rc;

	rc = mdb_get(txn, c->atime, &akey, &aval);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	t = aval.mv_size == 8 ? get_u64(aval.mv_data) : 0;
	put_be64(lk, t);
	memcpy(lk + 8, ik->b, ik->len);
	rc = mdb_del(txn, c->lru, &lkey, NULL);
	if (rc == 0 || rc == MDB_NOTFOUND)
		rc = mdb_del(txn, c->atime, &akey, NULL);
	return rc;
}

/* Delete an entry, its index records, and its size from *bytes. */
static int entry_del(struct cache *c, MDB_txn *txn, const struct ixkey *ik,
		     uint64_t *bytes)
{
	MDB_val key = data_key(ik);
	MDB_val val;
	int rc;

	rc = mdb_get(txn, data_dbi(c, ik), &key, &val);
	if (rc == 0) {
		*bytes -= val.mv_size < *bytes ? val.mv_size : *bytes;
		rc = mdb_del(txn, data_dbi(c, ik), &key, NULL);
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0)
		rc = index_del(c, txn, ik);
	return rc;
}

/*
 * Evict the least recently used entry.
 * @return 0, MDB_NOTFOUND (nothing is left), or an LMDB error
 */
static int evict_one(struct cache *c, MDB_txn *txn, uint64_t *bytes)
{
	MDB_cursor *cur = NULL;
	MDB_val lkey, lval;
	struct ixkey ik;
	int rc;

	rc = mdb_cursor_open(txn, c->lru, &cur);
	if (rc != 0)
		return rc;
	rc = mdb_cursor_get(cur, &lkey, &lval, MDB_FIRST);
	if (rc == 0 &&
	    (lkey.mv_size <= 8 + 1 || lkey.mv_size > 8 + CACHE_IX_MAX)) {
		/* not a record this code writes: remove it, evict nothing */
		rc = mdb_cursor_del(cur, 0);
		mdb_cursor_close(cur);
		return rc;
	}
	if (rc == 0) {
		/* copied: the borrowed key is invalid after the deletes */
		ik.len = lkey.mv_size - 8;
		memcpy(ik.b, (const uint8_t *)lkey.mv_data + 8, ik.len);
		rc = mdb_cursor_del(cur, 0);
	}
	mdb_cursor_close(cur);
	if (rc == 0)
		rc = entry_del(c, txn, &ik, bytes);
	return rc;
}

/* Rebuild "bytes" and the index of entries that have none (time 0). */
static int index_rebuild(struct cache *c, MDB_txn *txn)
{
	const MDB_dbi dbis[2] = {c->chunks, c->meta};
	const uint8_t tags[2] = {CACHE_TAG_CHUNK, CACHE_TAG_META};
	uint64_t bytes = 0;
	int rc = 0;

	for (int d = 0; d < 2 && rc == 0; d++) {
		MDB_cursor *cur = NULL;
		MDB_val key, val, aval;
		struct ixkey ik;
		MDB_val akey = {.mv_data = ik.b};

		rc = mdb_cursor_open(txn, dbis[d], &cur);
		if (rc != 0)
			break;
		rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
		while (rc == 0) {
			bytes += val.mv_size;
			if (key.mv_size == 0 || key.mv_size > CACHE_EKEY_MAX) {
				rc = mdb_cursor_del(cur, 0);
				bytes -= val.mv_size;
			} else {
				ik.b[0] = tags[d];
				memcpy(ik.b + 1, key.mv_data, key.mv_size);
				ik.len = 1 + key.mv_size;
				akey.mv_size = ik.len;
				rc = mdb_get(txn, c->atime, &akey, &aval);
				if (rc == MDB_NOTFOUND)
					rc = index_set(c, txn, &ik, 0);
			}
			if (rc == 0)
				rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
		}
		mdb_cursor_close(cur);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	if (rc == 0)
		rc = stats_set(c, txn, bytes);
	return rc;
}

/* Open c->env (and the dbis) on c->path. Called with env_lock exclusive. */
static int env_setup(struct cache *c)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_val key = {.mv_size = 5, .mv_data = (void *)"bytes"};
	MDB_val val;
	int dead = 0;
	int rc;

	rc = mdb_env_create(&env);
	if (rc != 0)
		return rc;
	rc = mdb_env_set_maxdbs(env, 8);
	if (rc == 0)
		rc = mdb_env_set_mapsize(env, c->mapsize);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(env, CACHE_MAXREADERS);
	if (rc == 0)
		rc = mdb_env_open(env, c->path, MDB_NOTLS | MDB_NOSYNC, 0600);
	/* slots of readers that were killed would pin old pages forever */
	if (rc == 0)
		rc = mdb_reader_check(env, &dead);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc == MDB_MAP_RESIZED) {
		/* grown by another process since our open: adopt its size */
		rc = mdb_env_set_mapsize(env, 0);
		if (rc == 0)
			rc = mdb_txn_begin(env, NULL, 0, &txn);
	}
	if (rc == 0)
		rc = mdb_dbi_open(txn, "chunks", MDB_CREATE, &c->chunks);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &c->meta);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "atime", MDB_CREATE, &c->atime);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "lru", MDB_CREATE, &c->lru);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "stats", MDB_CREATE, &c->stats);
	if (rc == 0) {
		rc = mdb_get(txn, c->stats, &key, &val);
		/* new, or written by a version without accounting */
		if (rc == MDB_NOTFOUND)
			rc = index_rebuild(c, txn);
	}
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (rc != 0) {
		if (txn)
			mdb_txn_abort(txn);
		mdb_env_close(env);
		return rc;
	}
	if (dead > 0)
		log_info(LOG_C_CACHE, "cleared %d stale readers of '%s'", dead,
			 c->path);
	c->env = env;
	return 0;
}

/* Abort the pooled read txns. Called with env_lock exclusive. */
static void pool_drain(struct cache *c)
{
	pthread_mutex_lock(&c->pool_lock);
	while (c->npool > 0)
		mdb_txn_abort(c->pool[--c->npool]);
	pthread_mutex_unlock(&c->pool_lock);
}

/*
 * Remap after MDB_MAP_RESIZED, or reopen after MDB_PANIC (a failed meta
 * page write leaves the handle unusable), unless another thread already
 * did since generation @p gen.
 */
static void env_repair(struct cache *c, uint64_t gen, int why)
{
	MDB_envinfo info;
	MDB_stat st;
	int rc = -1;

	pthread_rwlock_wrlock(&c->env_lock);
	if (c->gen != gen || !c->env)
		goto out;
	c->gen++;
	if (why == MDB_MAP_RESIZED) {
		rc = mdb_env_info(c->env, &info);
		if (rc == 0)
			rc = mdb_env_stat(c->env, &st);
		if (rc == 0) {
			size_t used = (info.me_last_pgno + 1) * st.ms_psize;
			size_t want = used + c->mapsize / 4;

			if (want < c->mapsize)
				want = c->mapsize;
			rc = mdb_env_set_mapsize(c->env, want);
			if (rc == 0)
				c->mapsize = want;
		}
		if (rc == 0) {
			log_debug(LOG_C_CACHE, "'%s' grew: map remapped",
				  c->path);
			goto out;
		}
	}
	log_warn(LOG_C_CACHE, "reopening cache '%s' after: %s", c->path,
		 mdb_strerror(why));
	pool_drain(c);
	mdb_env_close(c->env);
	c->env = NULL;
	rc = env_setup(c);
	if (rc != 0)
		log_error(LOG_C_CACHE,
			  "cannot reopen cache '%s': %s; caching is off",
			  c->path, mdb_strerror(rc));
out:
	pthread_rwlock_unlock(&c->env_lock);
}

/* A read txn from the pool, renewed, or a new one. env_lock held. */
static int rtxn_get(struct cache *c, MDB_txn **out)
{
	MDB_txn *txn = NULL;
	int rc;

	pthread_mutex_lock(&c->pool_lock);
	if (c->npool > 0)
		txn = c->pool[--c->npool];
	pthread_mutex_unlock(&c->pool_lock);
	if (txn) {
		rc = mdb_txn_renew(txn);
		if (rc != 0) {
			mdb_txn_abort(txn);
			return rc;
		}
		*out = txn;
		return 0;
	}
	return mdb_txn_begin(c->env, NULL, MDB_RDONLY, out);
}

/*
 * Begin a transaction (MDB_RDONLY or 0) with env_lock held for reading,
 * until rtxn_done(), wtxn_abort() or wtxn_commit(). Remaps or reopens
 * once if LMDB asks.
 */
static int txn_begin(struct cache *c, unsigned flags, MDB_txn **out)
{
	MDB_txn *txn = NULL;
	uint64_t gen;
	int rc;

	for (int attempt = 0;; attempt++) {
		pthread_rwlock_rdlock(&c->env_lock);
		gen = c->gen;
		if (!c->env)
			rc = EIO;
		else if (flags & MDB_RDONLY)
			rc = rtxn_get(c, &txn);
		else
			rc = mdb_txn_begin(c->env, NULL, 0, &txn);
		if (rc == 0) {
			*out = txn;
			return 0;
		}
		pthread_rwlock_unlock(&c->env_lock);
		if (attempt > 0 || (rc != MDB_MAP_RESIZED && rc != MDB_PANIC))
			return rc;
		env_repair(c, gen, rc);
	}
}

/* Return a read txn to the pool and leave env_lock. */
static void rtxn_done(struct cache *c, MDB_txn *txn)
{
	mdb_txn_reset(txn);
	pthread_mutex_lock(&c->pool_lock);
	if (c->npool < CACHE_RTXN_POOL) {
		c->pool[c->npool++] = txn;
		txn = NULL;
	}
	pthread_mutex_unlock(&c->pool_lock);
	if (txn)
		mdb_txn_abort(txn);
	pthread_rwlock_unlock(&c->env_lock);
}

static void wtxn_abort(struct cache *c, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&c->env_lock);
}

static int wtxn_commit(struct cache *c, MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);

	pthread_rwlock_unlock(&c->env_lock);
	return rc;
}

/* ---- the access batch ------------------------------------------------- */

static size_t batch_slot(const struct ixkey *ik)
{
	return (size_t)fnv1a64(ik->b, ik->len) & (CACHE_BATCH_SLOTS - 1);
}

/* Take the batch: *out (free() it) holds *n accesses. */
static void batch_take(struct cache *c, struct touch **out, size_t *n)
{
	struct touch *v = NULL;
	size_t k;

	pthread_mutex_lock(&c->batch_lock);
	k = c->ntouched;
	if (k > 0) {
		/* without memory these access times are lost, nothing else */
		v = malloc(k * sizeof(*v));
		if (v)
			memcpy(v, c->touched, k * sizeof(*v));
		c->ntouched = 0;
		memset(c->slot, 0xff, sizeof(c->slot));
	}
	pthread_mutex_unlock(&c->batch_lock);
	*out = v;
	*n = v ? k : 0;
}

/* Record a hit; write the batch when it is full or old. */
static void batch_note(struct cache *c, const struct ixkey *ik)
{
	uint64_t t = access_clock(c);
	uint64_t now = mono_secs();
	size_t h = batch_slot(ik);
	bool flush;
	int i;

	pthread_mutex_lock(&c->batch_lock);
	for (;;) {
		i = c->slot[h];
		if (i < 0)
			break;
		if (c->touched[i].k.len == ik->len &&
		    memcmp(c->touched[i].k.b, ik->b, ik->len) == 0)
			break;
		h = (h + 1) & (CACHE_BATCH_SLOTS - 1);
	}
	if (i >= 0) {
		c->touched[i].t = t;
	} else if (c->ntouched < CACHE_BATCH_MAX) {
		/* full only while another thread is taking it: dropped */
		if (c->ntouched == 0)
			c->batch_since = now;
		i = (int)c->ntouched++;
		c->slot[h] = (int16_t)i;
		c->touched[i].t = t;
		c->touched[i].k.len = ik->len;
		memcpy(c->touched[i].k.b, ik->b, ik->len);
	}
	flush = c->ntouched >= CACHE_BATCH_MAX ||
		(c->ntouched > 0 && now - c->batch_since >= CACHE_BATCH_SECS);
	pthread_mutex_unlock(&c->batch_lock);
	if (flush)
		cache_flush(c);
}

/* Write batched accesses newer than the index's, of entries still there. */
static int batch_apply(struct cache *c, MDB_txn *txn, const struct touch *v,
		       size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		MDB_val akey = {.mv_size = v[i].k.len,
				.mv_data = (void *)v[i].k.b};
		MDB_val aval;

		rc = mdb_get(txn, c->atime, &akey, &aval);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			continue;
		}
		if (rc != 0)
			break;
		if (aval.mv_size == 8 && v[i].t <= get_u64(aval.mv_data))
			continue;
		rc = index_del(c, txn, &v[i].k);
		if (rc == 0)
			rc = index_set(c, txn, &v[i].k, v[i].t);
	}
	return rc;
}

int cache_flush(struct cache *c)
{
	struct touch *v = NULL;
	MDB_txn *txn = NULL;
	size_t n = 0;
	int rc;

	batch_take(c, &v, &n);
	if (n == 0)
		return 0;
	rc = txn_begin(c, 0, &txn);
	if (rc == 0) {
		rc = batch_apply(c, txn, v, n);
		if (rc == 0)
			rc = wtxn_commit(c, txn);
		else
			wtxn_abort(c, txn);
	}
	free(v);
	if (rc == 0)
		return 0;
	if (is_full(rc)) {
		log_debug(LOG_C_CACHE, "'%s' is full: access times dropped",
			  c->path);
		return -ENOSPC;
	}
	return cache_mdb_to_errno(rc, "cannot write access times of cache",
				  c->path);
}

/* ---- frames ----------------------------------------------------------- */

static int frame_make(struct frame *f, const void *raw, size_t len, void **z)
{
	size_t zlen = 0;
	int rc;

	rc = codec_zstd_compress(raw, len, CACHE_ZSTD_LEVEL, z, &zlen);
	if (rc < 0)
		return rc;
	memset(f->hdr, 0, CACHE_HDR);
	f->hdr[0] = CACHE_VERSION;
	put_u32(f->hdr + 4, codec_crc32c(raw, len));
	put_u64(f->hdr + 8, len);
	f->z = *z;
	f->zlen = zlen;
	f->size = CACHE_HDR + zlen;
	return 0;
}

/*
 * Check a stored value's frame: version, reserved bytes, and one whole
 * zstd frame whose recorded content size is the header's raw length.
 * @return 0 and *raw_len, or -EBADMSG
 */
static int frame_check(const MDB_val *v, uint64_t *raw_len)
{
	const uint8_t *p = v->mv_data;
	uint64_t fs = 0;
	int rc;

	if (v->mv_size <= CACHE_HDR)
		return -EBADMSG;
	if (p[0] != CACHE_VERSION || p[1] != 0 || p[2] != 0 || p[3] != 0)
		return -EBADMSG;
	rc = codec_zstd_frame_size(p + CACHE_HDR, v->mv_size - CACHE_HDR, &fs);
	if (rc < 0 || fs != get_u64(p + 8))
		return -EBADMSG;
	*raw_len = fs;
	return 0;
}

/* ---- writes ----------------------------------------------------------- */

/*
 * One attempt at a put: batched accesses, the replaced value out, LRU
 * entries out until the value fits, value, index and total in.
 * @return 0 (*evicted set) or an LMDB/errno code; nothing written then
 */
static int put_txn(struct cache *c, const struct ixkey *ik,
		   const struct frame *f, const struct touch *tv, size_t tn,
		   unsigned *evicted)
{
	MDB_txn *txn = NULL;
	MDB_val key = data_key(ik);
	MDB_val val;
	uint64_t bytes = 0;
	unsigned n = 0;
	int rc;

	rc = txn_begin(c, 0, &txn);
	if (rc != 0)
		return rc;
	rc = batch_apply(c, txn, tv, tn);
	if (rc == 0)
		rc = stats_get(c, txn, &bytes);
	if (rc == 0)
		rc = entry_del(c, txn, ik, &bytes);
	while (rc == 0 &&
	       (bytes > c->max_bytes || f->size > c->max_bytes - bytes)) {
		rc = evict_one(c, txn, &bytes);
		if (rc == 0)
			n++;
	}
	if (rc == MDB_NOTFOUND) {
		/* an empty index means nothing is stored: heal the total */
		bytes = 0;
		rc = 0;
	}
	if (rc == 0) {
		val.mv_size = f->size;
		rc = mdb_put(txn, data_dbi(c, ik), &key, &val, MDB_RESERVE);
	}
	if (rc == 0) {
		/* filled at once: a later write may move a reserved node */
		memcpy(val.mv_data, f->hdr, CACHE_HDR);
		memcpy((uint8_t *)val.mv_data + CACHE_HDR, f->z, f->zlen);
		rc = index_set(c, txn, ik, access_clock(c));
	}
	if (rc == 0)
		rc = stats_set(c, txn, bytes + f->size);
	if (rc != 0) {
		wtxn_abort(c, txn);
		return rc;
	}
	rc = wtxn_commit(c, txn);
	if (rc == 0) {
		*evicted = n;
		atomic_store(&c->bytes_seen, bytes + f->size);
	}
	return rc;
}

/*
 * After MDB_MAP_FULL: evict @p amount bytes in a transaction of its own,
 * whose freed pages the next one may reuse. Dead readers, which pin old
 * pages, are cleared first.
 */
static int evict_txn(struct cache *c, uint64_t amount, unsigned *evicted)
{
	MDB_txn *txn = NULL;
	uint64_t bytes = 0, target;
	unsigned n = 0;
	int dead = 0;
	int rc;

	rc = txn_begin(c, 0, &txn);
	if (rc != 0)
		return rc;
	mdb_reader_check(c->env, &dead);
	rc = stats_get(c, txn, &bytes);
	target = bytes > amount ? bytes - amount : 0;
	while (rc == 0 && bytes > target) {
		rc = evict_one(c, txn, &bytes);
		if (rc == 0)
			n++;
	}
	if (rc == MDB_NOTFOUND) {
		bytes = 0;
		rc = 0;
	}
	if (rc == 0)
		rc = stats_set(c, txn, bytes);
	if (rc != 0) {
		wtxn_abort(c, txn);
		return rc;
	}
	rc = wtxn_commit(c, txn);
	if (rc == 0) {
		*evicted = n;
		atomic_store(&c->bytes_seen, bytes);
	}
	return rc;
}

static int put_frame(struct cache *c, const struct ixkey *ik,
		     const struct frame *f)
{
	struct touch *tv = NULL;
	size_t tn = 0;
	unsigned ev = 0, ev_full = 0;
	bool logged;
	int rc;

	if (f->size > c->max_bytes) {
		atomic_fetch_add(&c->skipped, 1);
		log_debug(LOG_C_CACHE,
			  "%zu bytes are more than the limit of '%s': not "
			  "cached",
			  f->size, c->path);
		return -ENOSPC;
	}
	batch_take(c, &tv, &tn);
	rc = put_txn(c, ik, f, tv, tn, &ev);
	if (is_full(rc)) {
		rc = evict_txn(c, 2 * f->size + c->max_bytes / 64, &ev_full);
		if (rc == 0)
			rc = put_txn(c, ik, f, tv, tn, &ev);
	}
	free(tv);
	atomic_fetch_add(&c->evictions, ev + ev_full);
	if (rc == 0) {
		atomic_fetch_add(&c->puts, 1);
		return 0;
	}
	if (is_full(rc)) {
		atomic_fetch_add(&c->skipped, 1);
		logged = atomic_exchange(&c->full_logged, true);
		if (!logged)
			log_warn(LOG_C_CACHE,
				 "cache '%s': map or disk full (%s); some data "
				 "is not cached",
				 c->path, mdb_strerror(rc));
		return -ENOSPC;
	}
	return cache_mdb_to_errno(rc, "cannot write cache", c->path);
}

int cache_put(struct cache *c, const struct cache_key *k, const void *data,
	      size_t len)
{
	struct ixkey ik;
	struct frame f;
	void *z = NULL;
	int rc;

	rc = chunk_ixkey(&ik, k);
	if (rc < 0)
		return rc;
	rc = frame_make(&f, data, len, &z);
	if (rc < 0)
		return rc;
	rc = put_frame(c, &ik, &f);
	free(z);
	return rc;
}

int cache_meta_put(struct cache *c, const char *url, const void *body,
		   size_t len, int64_t fetched_at)
{
	struct ixkey ik;
	struct frame f;
	uint8_t *raw = NULL;
	void *z = NULL;
	size_t ulen;
	int rc;

	if (!url || !*url || (!body && len > 0))
		return -EINVAL;
	ulen = strlen(url);
	if (ulen > CACHE_META_MAX - CACHE_META_FIXED ||
	    len > CACHE_META_MAX - CACHE_META_FIXED - ulen) {
		atomic_fetch_add(&c->skipped, 1);
		return -ENOSPC;
	}
	raw = malloc(CACHE_META_FIXED + ulen + len);
	if (!raw)
		return -ENOMEM;
	put_u64(raw, (uint64_t)fetched_at);
	put_u32(raw + 8, (uint32_t)ulen);
	memcpy(raw + CACHE_META_FIXED, url, ulen);
	if (len > 0)
		memcpy(raw + CACHE_META_FIXED + ulen, body, len);
	meta_ixkey(&ik, url, ulen);
	rc = frame_make(&f, raw, CACHE_META_FIXED + ulen + len, &z);
	if (rc == 0)
		rc = put_frame(c, &ik, &f);
	free(z);
	free(raw);
	return rc;
}

/* ---- reads ------------------------------------------------------------ */

/*
 * Delete a damaged entry, if it is still the value that was read (same
 * size and CRC-32C of the stored bytes): another process may have stored
 * a good one since.
 */
static void drop_damaged(struct cache *c, const struct ixkey *ik, size_t vsize,
			 uint32_t fp)
{
	MDB_txn *txn = NULL;
	MDB_val key = data_key(ik);
	MDB_val val;
	uint64_t bytes = 0;
	uint32_t now = 0;
	int rc;

	rc = txn_begin(c, 0, &txn);
	if (rc != 0)
		return;
	rc = mdb_get(txn, data_dbi(c, ik), &key, &val);
	if (rc == 0 && val.mv_size == vsize)
		now = codec_crc32c(val.mv_data, val.mv_size);
	if (rc == 0 && (val.mv_size != vsize || now != fp))
		rc = MDB_NOTFOUND;
	if (rc == 0)
		rc = stats_get(c, txn, &bytes);
	if (rc == 0)
		rc = entry_del(c, txn, ik, &bytes);
	if (rc == 0)
		rc = stats_set(c, txn, bytes);
	if (rc != 0) {
		wtxn_abort(c, txn);
		return;
	}
	rc = wtxn_commit(c, txn);
	if (rc == 0)
		atomic_store(&c->bytes_seen, bytes);
}

/* Count a read's outcome; note a hit, drop a damaged entry. */
static int get_finish(struct cache *c, const struct ixkey *ik, int rc,
		      size_t vsize, uint32_t fp)
{
	if (rc == 0) {
		atomic_fetch_add(&c->hits, 1);
		batch_note(c, ik);
		return 0;
	}
	atomic_fetch_add(&c->misses, 1);
	if (rc == -EBADMSG) {
		atomic_fetch_add(&c->damaged, 1);
		log_warn(LOG_C_CACHE,
			 "damaged entry in '%s' dropped; it will be fetched "
			 "again",
			 c->path);
		drop_damaged(c, ik, vsize, fp);
	}
	return rc;
}

int cache_get(struct cache *c, const struct cache_key *k, void *dst, size_t len)
{
	struct ixkey ik;
	MDB_txn *txn = NULL;
	MDB_val key, val;
	const uint8_t *v;
	uint64_t raw = 0;
	size_t vsize = 0;
	uint32_t fp = 0, crc = 0;
	int rc;

	rc = chunk_ixkey(&ik, k);
	if (rc < 0)
		return rc;
	key = data_key(&ik);
	rc = txn_begin(c, MDB_RDONLY, &txn);
	if (rc != 0) {
		atomic_fetch_add(&c->misses, 1);
		return cache_mdb_to_errno(rc, "cannot read cache", c->path);
	}
	rc = mdb_get(txn, c->chunks, &key, &val);
	if (rc == 0) {
		/* the value is borrowed from the map: used inside the txn */
		v = val.mv_data;
		rc = frame_check(&val, &raw);
		if (rc == 0 && raw != len)
			rc = -EFBIG;
		if (rc == 0)
			rc = codec_decode(CODEC_ZSTD, v + CACHE_HDR,
					  val.mv_size - CACHE_HDR, dst, len);
		if (rc == 0)
			crc = codec_crc32c(dst, len);
		if (rc == 0 && crc != get_u32(v + 4))
			rc = -EBADMSG;
		if (rc == -EBADMSG) {
			vsize = val.mv_size;
			fp = codec_crc32c(v, vsize);
		}
	} else if (rc == MDB_NOTFOUND) {
		rc = -ENOENT;
	} else {
		rc = cache_mdb_to_errno(rc, "cannot read cache", c->path);
	}
	rtxn_done(c, txn);
	return get_finish(c, &ik, rc, vsize, fp);
}

/*
 * Decode a metadata value into a new buffer and check it is @p url's.
 * @return 0 (*out, *raw_len), -ENOENT (another URL), -EBADMSG, -ENOMEM
 */
static int meta_decode(const MDB_val *val, const char *url, size_t ulen,
		       uint8_t **out, uint64_t *raw_len)
{
	const uint8_t *v = val->mv_data;
	uint8_t *buf = NULL;
	uint64_t raw = 0;
	uint32_t crc = 0, n = 0;
	int rc;

	rc = frame_check(val, &raw);
	if (rc == 0 && (raw < CACHE_META_FIXED || raw > CACHE_META_MAX))
		rc = -EBADMSG;
	if (rc == 0) {
		buf = malloc((size_t)raw + 1);
		if (!buf)
			rc = -ENOMEM;
	}
	if (rc == 0)
		rc = codec_decode(CODEC_ZSTD, v + CACHE_HDR,
				  val->mv_size - CACHE_HDR, buf, (size_t)raw);
	if (rc == 0) {
		crc = codec_crc32c(buf, (size_t)raw);
		n = get_u32(buf + 8);
	}
	if (rc == 0 && (crc != get_u32(v + 4) || n > raw - CACHE_META_FIXED))
		rc = -EBADMSG;
	/* a cut URL key can be shared: the whole URL decides */
	if (rc == 0 && (n != ulen || memcmp(buf + CACHE_META_FIXED, url, n)))
		rc = -ENOENT;
	if (rc != 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*raw_len = raw;
	return 0;
}

int cache_meta_get(struct cache *c, const char *url, char **body, size_t *len,
		   int64_t *fetched_at)
{
	struct ixkey ik;
	MDB_txn *txn = NULL;
	MDB_val key, val;
	uint8_t *buf = NULL;
	uint64_t raw = 0;
	size_t ulen, blen, vsize = 0;
	uint32_t fp = 0;
	int rc;

	if (!url || !*url)
		return -EINVAL;
	ulen = strlen(url);
	meta_ixkey(&ik, url, ulen);
	key = data_key(&ik);
	rc = txn_begin(c, MDB_RDONLY, &txn);
	if (rc != 0) {
		atomic_fetch_add(&c->misses, 1);
		return cache_mdb_to_errno(rc, "cannot read cache", c->path);
	}
	rc = mdb_get(txn, c->meta, &key, &val);
	if (rc == 0) {
		rc = meta_decode(&val, url, ulen, &buf, &raw);
		if (rc == -EBADMSG) {
			vsize = val.mv_size;
			fp = codec_crc32c(val.mv_data, vsize);
		}
	} else if (rc == MDB_NOTFOUND) {
		rc = -ENOENT;
	} else {
		rc = cache_mdb_to_errno(rc, "cannot read cache", c->path);
	}
	rtxn_done(c, txn);
	if (rc == 0) {
		blen = (size_t)raw - CACHE_META_FIXED - ulen;
		*fetched_at = (int64_t)get_u64(buf);
		memmove(buf, buf + CACHE_META_FIXED + ulen, blen);
		buf[blen] = '\0';
		*body = (char *)buf;
		*len = blen;
	}
	return get_finish(c, &ik, rc, vsize, fp);
}

/* ---- open, close, statistics ------------------------------------------ */

static int locks_init(struct cache *c)
{
	pthread_rwlockattr_t a;
	int rc;

	rc = pthread_rwlockattr_init(&a);
	if (rc != 0)
		return -rc;
	/* a remap must not wait behind an endless stream of readers */
	pthread_rwlockattr_setkind_np(
		&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(&c->env_lock, &a);
	pthread_rwlockattr_destroy(&a);
	if (rc != 0)
		return -rc;
	rc = pthread_mutex_init(&c->pool_lock, NULL);
	if (rc != 0) {
		pthread_rwlock_destroy(&c->env_lock);
		return -rc;
	}
	rc = pthread_mutex_init(&c->batch_lock, NULL);
	if (rc != 0) {
		pthread_mutex_destroy(&c->pool_lock);
		pthread_rwlock_destroy(&c->env_lock);
		return -rc;
	}
	c->locks_made = true;
	return 0;
}

int cache_open(const struct cache_config *cfg, struct cache **out)
{
	struct cache *c = calloc(1, sizeof(*c));
	char host[256];
	int rc;

	if (!c)
		return -ENOMEM;
	rc = locks_init(c);
	if (rc < 0) {
		free(c);
		return rc;
	}
	c->max_bytes = cfg->max_bytes;
	c->mapsize = map_size(cfg->max_bytes);
	memset(c->slot, 0xff, sizeof(c->slot));
	c->touched = malloc(CACHE_BATCH_MAX * sizeof(*c->touched));
	if (!c->touched) {
		rc = -ENOMEM;
		goto fail;
	}
	remote_dir_name(cfg->remote, host, sizeof(host));
	if (asprintf(&c->path, "%s/%s", cfg->dir, host) < 0) {
		c->path = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	if (mkdir(c->path, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		log_error(LOG_C_CACHE, "cannot create '%s': %s", c->path,
			  strerror(errno));
		goto fail;
	}
	rc = env_setup(c);
	if (rc != 0) {
		rc = cache_mdb_to_errno(rc, "cannot open cache", c->path);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	cache_close(c);
	return rc;
}

void cache_close(struct cache *c)
{
	if (!c)
		return;
	if (c->env) {
		cache_flush(c);
		pool_drain(c);
		/* MDB_NOSYNC: make a clean shutdown durable */
		mdb_env_sync(c->env, 1);
		mdb_env_close(c->env);
	}
	if (c->locks_made) {
		pthread_mutex_destroy(&c->batch_lock);
		pthread_mutex_destroy(&c->pool_lock);
		pthread_rwlock_destroy(&c->env_lock);
	}
	free(c->touched);
	free(c->path);
	free(c);
}

const char *cache_path(const struct cache *c)
{
	return c->path;
}

int cache_stat(struct cache *c, uint64_t *entries, uint64_t *bytes)
{
	MDB_txn *txn = NULL;
	MDB_stat st[2];
	int rc;

	rc = txn_begin(c, MDB_RDONLY, &txn);
	if (rc == 0) {
		rc = mdb_stat(txn, c->chunks, &st[0]);
		if (rc == 0)
			rc = mdb_stat(txn, c->meta, &st[1]);
		rtxn_done(c, txn);
	}
	if (rc != 0)
		return cache_mdb_to_errno(rc, "cannot stat cache", c->path);
	*entries = 0;
	*bytes = 0;
	for (int i = 0; i < 2; i++) {
		*entries += st[i].ms_entries;
		*bytes += (uint64_t)st[i].ms_psize *
			  (st[i].ms_branch_pages + st[i].ms_leaf_pages +
			   st[i].ms_overflow_pages);
	}
	return 0;
}

void cache_counters(struct cache *c, struct cache_counters *out)
{
	MDB_txn *txn = NULL;
	uint64_t bytes = 0;
	int rc;

	rc = txn_begin(c, MDB_RDONLY, &txn);
	if (rc == 0) {
		rc = stats_get(c, txn, &bytes);
		rtxn_done(c, txn);
	}
	/* on error, the total seen last */
	if (rc == 0)
		atomic_store(&c->bytes_seen, bytes);
	out->hits = atomic_load(&c->hits);
	out->misses = atomic_load(&c->misses);
	out->puts = atomic_load(&c->puts);
	out->evictions = atomic_load(&c->evictions);
	out->skipped = atomic_load(&c->skipped);
	out->damaged = atomic_load(&c->damaged);
	out->bytes_stored = atomic_load(&c->bytes_seen);
	out->limit = c->max_bytes;
}

#ifdef IDRFS_UNITTEST
int cache_check(struct cache *c, uint64_t *entries, uint64_t *bytes);

/*
 * Check the invariants of the file comment in one snapshot: each entry
 * has an atime record and the lru record of that time, the index holds
 * nothing else, and "bytes" is the sum of the value sizes.
 * @return 0 (*entries, *bytes), -EUCLEAN (logged), or -errno
 */
int cache_check(struct cache *c, uint64_t *entries, uint64_t *bytes)
{
	const MDB_dbi dbis[2] = {c->chunks, c->meta};
	const uint8_t tags[2] = {CACHE_TAG_CHUNK, CACHE_TAG_META};
	MDB_txn *txn = NULL;
	MDB_stat sa, sl;
	uint64_t n = 0, sum = 0, total = 0;
	const char *bad = NULL;
	int rc;

	rc = txn_begin(c, MDB_RDONLY, &txn);
	if (rc != 0)
		return cache_mdb_to_errno(rc, "cannot check cache", c->path);
	for (int d = 0; d < 2 && rc == 0 && !bad; d++) {
		MDB_cursor *cur = NULL;
		MDB_val key, val, aval;
		uint8_t lk[8 + CACHE_IX_MAX];
		struct ixkey ik;

		rc = mdb_cursor_open(txn, dbis[d], &cur);
		if (rc == 0)
			rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
		while (rc == 0 && !bad) {
			MDB_val akey, lkey;

			if (key.mv_size == 0 || key.mv_size > CACHE_EKEY_MAX) {
				bad = "a key of an impossible size";
				break;
			}
			n++;
			sum += val.mv_size;
			ik.b[0] = tags[d];
			memcpy(ik.b + 1, key.mv_data, key.mv_size);
			ik.len = 1 + key.mv_size;
			akey.mv_size = ik.len;
			akey.mv_data = ik.b;
			rc = mdb_get(txn, c->atime, &akey, &aval);
			if (rc == 0 && aval.mv_size != 8)
				bad = "an atime record of another size";
			if (rc == MDB_NOTFOUND)
				bad = "an entry without atime";
			if (rc == 0 && !bad) {
				put_be64(lk, get_u64(aval.mv_data));
				memcpy(lk + 8, ik.b, ik.len);
				lkey.mv_size = 8 + ik.len;
				lkey.mv_data = lk;
				rc = mdb_get(txn, c->lru, &lkey, &aval);
				if (rc == MDB_NOTFOUND)
					bad = "an entry without its lru record";
			}
			if (rc == 0 && !bad)
				rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT);
		}
		if (rc == MDB_NOTFOUND)
			rc = 0;
		mdb_cursor_close(cur);
	}
	if (rc == 0)
		rc = mdb_stat(txn, c->atime, &sa);
	if (rc == 0)
		rc = mdb_stat(txn, c->lru, &sl);
	if (rc == 0)
		rc = stats_get(c, txn, &total);
	rtxn_done(c, txn);
	if (rc != 0)
		return cache_mdb_to_errno(rc, "cannot check cache", c->path);
	if (!bad && (sa.ms_entries != n || sl.ms_entries != n))
		bad = "index records without an entry";
	if (!bad && total != sum)
		bad = "a total that is not the sum of the values";
	if (bad) {
		log_error(LOG_C_CACHE,
			  "cache '%s' is inconsistent: %s (%" PRIu64
			  " entries, %" PRIu64 " bytes, total %" PRIu64 ")",
			  c->path, bad, n, sum, total);
		return -EUCLEAN;
	}
	*entries = n;
	*bytes = sum;
	return 0;
}
#endif
