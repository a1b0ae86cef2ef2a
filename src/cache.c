/* SPDX-License-Identifier: MIT */
/*
 * cache: LMDB environment, key schema, value frames, reads, and the
 * read-only seed. It keeps bytes and knows nothing of HTTP, TIFF or FUSE;
 * compression and checksums go through the codec module, the owner of
 * zstd. The byte limit, LRU eviction, the access batch and every write
 * transaction are in cache_lru.c.
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
 * The seed. A second cache directory, made by idrfs like any other (a
 * site mounts once with cache_dir=/shared/seed and reads what its users
 * need), can sit under the local one: a read that the local environment
 * cannot serve looks there before it is a miss. The seed's environment is
 * opened MDB_RDONLY (its map is mapped read-only) and MDB_NOLOCK, so that
 * it works on read-only and cluster filesystems where no lock file can be
 * made or locked; in exchange nothing may write it while it is used as a
 * seed. Nothing here ever does: no put, no access time, no deletion of a
 * damaged entry, which is only skipped (a miss, logged once). Its values
 * carry the same frames and checks as local ones. A seed hit is served
 * straight from the seed and not copied into the local environment: the
 * seed is there so that many nodes need not each hold (and first write)
 * their own copy of the same data, a copy would cost a compression and a
 * write transaction per read and could evict local data the seed lacks,
 * and the kernel's page cache keeps what is read often anyway. The seed
 * has no limit, index or total of ours; cache_stat() and cache_check()
 * see the local environment only.
 *
 * Threads. Read transactions are short (one get, decode straight out of
 * the map, reset) and are reused from a small pool (MDB_NOTLS); the write
 * side is LMDB's own writer lock. c->env_lock is held for reading around
 * every transaction and for writing only to remap (another process grew
 * the file past our map: MDB_MAP_RESIZED) or to reopen after MDB_PANIC,
 * which LMDB allows only with no transaction active in the process.
 * Compression happens before any transaction. Lock order: env_lock, then
 * pool.lock; batch_lock is never held with another lock or in a
 * transaction, and no thread takes env_lock twice. The seed is never
 * remapped or reopened, so it needs no env_lock: its pool.lock and
 * logged_lock are each taken alone.
 */
#include "config.h"

#include "idrfs/cache.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "idrfs/codec.h"
#include "idrfs/log.h"

#include "cache_int.h"

#define CACHE_ZSTD_LEVEL 3 /* metadata: JSON compresses well at 3 */
/* pixel chunks: byte-shuffled, level 1 is as small as 3 and faster */
#define CACHE_ZSTD_LEVEL_CHUNK 1
#define CACHE_SHUFFLE_MAX      16 /* largest element size shuffled */
/* fetched_at and URL length at the head of a metadata frame's raw bytes */
#define CACHE_META_FIXED 12
/* the largest API answer kept */
#define CACHE_META_MAX	 (256u << 20)
#define CACHE_MAXREADERS 512
#define CACHE_MAP_SLACK	 (8u << 20)
#define CACHE_MAP_ROUND	 (1u << 20)
/* damaged seed entries remembered, so that each is logged once */
#define CACHE_SEED_LOGGED 64

/* The seed: another cache directory's environment, read-only. */
struct cache_seed {
	MDB_env *env;
	MDB_dbi chunks;
	MDB_dbi meta;
	char *path; /* its environment directory */
	struct cache_pool pool;
	bool locks_made;
	pthread_mutex_t logged_lock;
	uint64_t logged[CACHE_SEED_LOGGED]; /* key hashes; logged_lock */
	unsigned nlogged;		    /* protected by logged_lock */
};

/* One read: the entry, where its value goes, what was found. */
struct lookup {
	struct ixkey ik;
	void *dst; /* chunks: the caller's buffer of len bytes */
	size_t len;
	const char *url; /* metadata: the whole URL */
	size_t ulen;
	uint8_t *buf; /* metadata, on success: the raw bytes (heap) */
	uint64_t raw;
	size_t vsize; /* -EBADMSG: size and CRC-32C of the stored value */
	uint32_t fp;
};

/* @unittest test_cache */
int cache_mdb_to_errno(int rc, const char *what, const char *path)
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

/* ---- keys ------------------------------------------------------------- */

uint64_t cache_ident_add(uint64_t h, const void *data, size_t len)
{
	const uint8_t *p = data;

	/* 64-bit FNV-1a, continued from h (CACHE_IDENT_INIT starts it) */
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

void cache_key_chunk(struct cache_key *k, const char *source, uint64_t ident,
		     int64_t image, const uint64_t *idx, unsigned n)
{
	size_t sl = strlen(source);

	/* "k" | source | NUL | ident | image | n | idx[n], little-endian;
	 * the version 1 keys began with "c" and never match these */
	if (sl > CACHE_KEY_SOURCE_MAX)
		sl = CACHE_KEY_SOURCE_MAX;
	if (n > CACHE_KEY_DIMS)
		n = CACHE_KEY_DIMS;
	k->len = 0;
	k->b[k->len++] = CACHE_KEY_CHUNK_TAG;
	memcpy(k->b + k->len, source, sl);
	k->len += sl;
	k->b[k->len++] = 0;
	cache_put_u64(k->b + k->len, ident);
	k->len += 8;
	cache_put_u64(k->b + k->len, (uint64_t)image);
	k->len += 8;
	k->b[k->len++] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		cache_put_u64(k->b + k->len, idx[i]);
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
	cache_put_u64(ik->b + ik->len, cache_fnv1a64(url, ulen));
	ik->len += 8;
	cache_put_u32(ik->b + ik->len, codec_crc32c(url, ulen));
	ik->len += 4;
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

/* ---- read transaction pools ------------------------------------------ */

/* A read txn of @p env from the pool, renewed, or a new one. */
static int pool_take(struct cache_pool *p, MDB_env *env, MDB_txn **out)
{
	MDB_txn *txn = NULL;
	int rc;

	pthread_mutex_lock(&p->lock);
	if (p->n > 0)
		txn = p->txn[--p->n];
	pthread_mutex_unlock(&p->lock);
	if (txn) {
		rc = mdb_txn_renew(txn);
		if (rc != 0) {
			mdb_txn_abort(txn);
			return rc;
		}
		*out = txn;
		return 0;
	}
	return mdb_txn_begin(env, NULL, MDB_RDONLY, out);
}

/* Reset a read txn and keep it, or abort it when the pool is full. */
static void pool_give(struct cache_pool *p, MDB_txn *txn)
{
	mdb_txn_reset(txn);
	pthread_mutex_lock(&p->lock);
	if (p->n < CACHE_RTXN_POOL) {
		p->txn[p->n++] = txn;
		txn = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (txn)
		mdb_txn_abort(txn);
}

/* Abort the pooled read txns (for the local env: with env_lock exclusive). */
static void pool_drain(struct cache_pool *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->n > 0)
		mdb_txn_abort(p->txn[--p->n]);
	pthread_mutex_unlock(&p->lock);
}

/* ---- the local environment -------------------------------------------- */

/* Open c->env (and the dbis) on c->path. Called with env_lock exclusive. */
static int env_setup(struct cache *c)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
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
	if (rc == 0)
		rc = cache_lru_setup(c, txn);
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
	pool_drain(&c->pool);
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

/* Holds env_lock for reading from a success until the txn ends. */
int cache_txn_begin(struct cache *c, unsigned flags, MDB_txn **out)
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
			rc = pool_take(&c->pool, c->env, &txn);
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

void cache_rtxn_done(struct cache *c, MDB_txn *txn)
{
	pool_give(&c->pool, txn);
	pthread_rwlock_unlock(&c->env_lock);
}

void cache_wtxn_abort(struct cache *c, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&c->env_lock);
}

int cache_wtxn_commit(struct cache *c, MDB_txn *txn)
{
	int rc = mdb_txn_commit(txn);

	pthread_rwlock_unlock(&c->env_lock);
	return rc;
}

/* ---- frames ----------------------------------------------------------- */

/*
 * A frame of @p raw: header (version, shuffle element size, CRC-32C of the
 * raw bytes, raw length) and the zstd frame of the raw bytes, byte-shuffled
 * first when @p elem > 1 (pixels: the smooth high bytes compress, the noisy
 * low bytes are stored raw, and decoding is twice as fast).
 */
static int frame_make(struct frame *f, const void *raw, size_t len,
		      unsigned elem, int level, void **z)
{
	uint8_t *sh = NULL;
	size_t zlen = 0;
	int rc;

	if (elem > CACHE_SHUFFLE_MAX || elem < 2 || len % elem != 0)
		elem = 0;
	if (elem) {
		sh = malloc(len);
		if (!sh)
			return -ENOMEM;
		codec_shuffle(raw, len, elem, sh);
	}
	rc = codec_zstd_compress(sh ? sh : raw, len, level, z, &zlen);
	free(sh);
	if (rc < 0)
		return rc;
	memset(f->hdr, 0, CACHE_HDR);
	f->hdr[0] = CACHE_VERSION;
	f->hdr[1] = (uint8_t)elem;
	cache_put_u32(f->hdr + 4, codec_crc32c(raw, len));
	cache_put_u64(f->hdr + 8, len);
	f->z = *z;
	f->zlen = zlen;
	f->size = CACHE_HDR + zlen;
	return 0;
}

/*
 * Check a stored value's frame: version, shuffle byte, reserved bytes, and
 * one whole zstd frame whose recorded content size is the header's raw
 * length.
 * @return 0 and *raw_len, or -EBADMSG
 */
static int frame_check(const MDB_val *v, uint64_t *raw_len)
{
	const uint8_t *p = v->mv_data;
	uint64_t fs = 0;
	int rc;

	if (v->mv_size <= CACHE_HDR)
		return -EBADMSG;
	if (p[0] != CACHE_VERSION || p[1] == 1 || p[1] > CACHE_SHUFFLE_MAX ||
	    p[2] != 0 || p[3] != 0)
		return -EBADMSG;
	rc = codec_zstd_frame_size(p + CACHE_HDR, v->mv_size - CACHE_HDR, &fs);
	if (rc < 0 || fs != cache_get_u64(p + 8) || (p[1] && fs % p[1] != 0))
		return -EBADMSG;
	*raw_len = fs;
	return 0;
}

/* ---- writes (their transactions are in cache_lru.c) -------------------- */

int cache_put(struct cache *c, const struct cache_key *k, const void *data,
	      size_t len)
{
	return cache_put_elems(c, k, data, len, 1);
}

int cache_put_elems(struct cache *c, const struct cache_key *k,
		    const void *data, size_t len, unsigned elem)
{
	struct ixkey ik;
	struct frame f;
	void *z = NULL;
	int rc;

	rc = chunk_ixkey(&ik, k);
	if (rc < 0)
		return rc;
	rc = frame_make(&f, data, len, elem, CACHE_ZSTD_LEVEL_CHUNK, &z);
	if (rc < 0)
		return rc;
	rc = cache_lru_put(c, &ik, &f);
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
	cache_put_u64(raw, (uint64_t)fetched_at);
	cache_put_u32(raw + 8, (uint32_t)ulen);
	memcpy(raw + CACHE_META_FIXED, url, ulen);
	if (len > 0)
		memcpy(raw + CACHE_META_FIXED + ulen, body, len);
	meta_ixkey(&ik, url, ulen);
	rc = frame_make(&f, raw, CACHE_META_FIXED + ulen + len, 0,
			CACHE_ZSTD_LEVEL, &z);
	if (rc == 0)
		rc = cache_lru_put(c, &ik, &f);
	free(z);
	free(raw);
	return rc;
}

/* ---- reads ------------------------------------------------------------ */

/*
 * Decode a chunk value into @p dst, which holds exactly its raw length.
 * @return 0, -EFBIG (another length), -EBADMSG
 */
static int chunk_decode(const MDB_val *val, void *dst, size_t len)
{
	const uint8_t *v = val->mv_data;
	uint64_t raw = 0;
	uint32_t crc = 0;
	int rc;

	uint8_t *sh = NULL;

	rc = frame_check(val, &raw);
	if (rc == 0 && raw != len)
		rc = -EFBIG;
	if (rc == 0 && v[1]) {
		sh = malloc(len ? len : 1);
		if (!sh)
			rc = -ENOMEM;
	}
	if (rc == 0)
		rc = codec_decode(CODEC_ZSTD, v + CACHE_HDR,
				  val->mv_size - CACHE_HDR, sh ? sh : dst, len);
	if (rc == 0 && sh)
		codec_unshuffle(sh, len, v[1], dst);
	free(sh);
	if (rc == 0)
		crc = codec_crc32c(dst, len);
	if (rc == 0 && crc != cache_get_u32(v + 4))
		rc = -EBADMSG;
	return rc;
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
	/* metadata is never shuffled */
	if (rc == 0 && (v[1] || raw < CACHE_META_FIXED || raw > CACHE_META_MAX))
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
		n = cache_get_u32(buf + 8);
	}
	if (rc == 0 &&
	    (crc != cache_get_u32(v + 4) || n > raw - CACHE_META_FIXED))
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

/*
 * An entry for a log line: the URL of metadata; the source, image,
 * identity and chunk index of a chunk key made by cache_key_chunk(); else
 * the key in hex. @return @p out
 */
static const char *lookup_name(const struct lookup *l, char *out, size_t n)
{
	const uint8_t *k = l->ik.b + 1, *end = l->ik.b + l->ik.len;
	const uint8_t *nul = memchr(k, 0, (size_t)(end - k));
	unsigned nidx = 0;
	size_t o = 0;
	int w;

	if (l->url)
		return log_escape(l->url, out, n);
	if (nul && end - nul >= 18)
		nidx = nul[17];
	if (k[0] != CACHE_KEY_CHUNK_TAG || !nul ||
	    end - nul != 18 + 8 * (ptrdiff_t)nidx) {
		for (const uint8_t *p = k; p < end && o + 3 <= n; p++)
			o += (size_t)snprintf(out + o, n - o, "%02x", *p);
		out[o < n ? o : n - 1] = '\0';
		return out;
	}
	w = snprintf(out, n,
		     "%.*s image %" PRId64 " array %016" PRIx64 " chunk",
		     (int)(nul - k - 1), (const char *)k + 1,
		     (int64_t)cache_get_u64(nul + 9), cache_get_u64(nul + 1));
	o = w > 0 ? (size_t)w : 0;
	for (unsigned i = 0; i < nidx && o < n; i++) {
		w = snprintf(out + o, n - o, "%s%" PRIu64, i ? "," : " ",
			     cache_get_u64(nul + 18 + 8 * i));
		o += w > 0 ? (size_t)w : 0;
	}
	return out;
}

/*
 * A value is decoded out of the map: its pages need not stay mapped (the
 * map is read-only, so dropping a page loses nothing, even the partly
 * used first and last ones). Left mapped, every value ever read counts in the
 * daemon's resident set (file pages, yet what a job's memory limit and VmHWM
 * see) until the kernel wants them back: 8 readers of a 4 GiB image reached 1.7
 * GiB. The pages stay in the page cache; the next read of them maps them again.
 */
static void unmap_value(const MDB_val *v)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a, b;

	/* a small value shares its page with others, touched anyway */
	if (v->mv_size < 16 * pg)
		return;
	a = (uintptr_t)v->mv_data & ~(pg - 1);
	b = ((uintptr_t)v->mv_data + v->mv_size + pg - 1) & ~(pg - 1);
	madvise((void *)a, b - a, MADV_DONTNEED);
}

/*
 * Look @p l up in @p dbi of an open read txn and decode what is there,
 * inside the txn: the value is borrowed from the map.
 * @return 0, -ENOENT, a decoding error, or -errno (logged with @p path)
 */
static int lookup_in(MDB_txn *txn, MDB_dbi dbi, struct lookup *l,
		     const char *path)
{
	MDB_val key = cache_data_key(&l->ik);
	MDB_val val;
	int rc;

	rc = mdb_get(txn, dbi, &key, &val);
	if (rc != 0)
		return cache_mdb_to_errno(rc, "cannot read cache", path);
	if (l->ik.b[0] == CACHE_TAG_META)
		rc = meta_decode(&val, l->url, l->ulen, &l->buf, &l->raw);
	else
		rc = chunk_decode(&val, l->dst, l->len);
	if (rc == -EBADMSG) {
		l->vsize = val.mv_size;
		l->fp = codec_crc32c(val.mv_data, val.mv_size);
	}
	unmap_value(&val);
	return rc;
}

static int local_read(struct cache *c, struct lookup *l)
{
	MDB_txn *txn = NULL;
	int rc;

	rc = cache_txn_begin(c, MDB_RDONLY, &txn);
	if (rc != 0)
		return cache_mdb_to_errno(rc, "cannot read cache", c->path);
	rc = lookup_in(txn, cache_data_dbi(c, &l->ik), l, c->path);
	cache_rtxn_done(c, txn);
	return rc;
}

static int seed_read(struct cache_seed *s, struct lookup *l)
{
	MDB_txn *txn = NULL;
	MDB_dbi dbi = l->ik.b[0] == CACHE_TAG_META ? s->meta : s->chunks;
	int rc;

	rc = pool_take(&s->pool, s->env, &txn);
	if (rc != 0)
		return cache_mdb_to_errno(rc, "cannot read seed cache",
					  s->path);
	rc = lookup_in(txn, dbi, l, s->path);
	pool_give(&s->pool, txn);
	return rc;
}

/*
 * A damaged seed entry: it stays (the seed is never written) and is a
 * miss. Logged and counted once while its key is among the last
 * CACHE_SEED_LOGGED remembered, not at every read of it.
 */
static void seed_damaged(struct cache *c, const struct lookup *l)
{
	struct cache_seed *s = c->seed;
	uint64_t h = cache_fnv1a64(l->ik.b, l->ik.len) | 1;
	bool seen = false;
	char name[512];

	pthread_mutex_lock(&s->logged_lock);
	for (unsigned i = 0; i < CACHE_SEED_LOGGED && !seen; i++)
		seen = s->logged[i] == h;
	if (!seen)
		s->logged[s->nlogged++ % CACHE_SEED_LOGGED] = h;
	pthread_mutex_unlock(&s->logged_lock);
	if (seen)
		return;
	atomic_fetch_add(&c->damaged, 1);
	log_warn(LOG_C_CACHE,
		 "damaged entry (%s) in seed cache '%s' is not used; it will "
		 "be fetched again",
		 lookup_name(l, name, sizeof(name)), s->path);
}

/*
 * Read an entry: from the local environment, else from the seed. Counts
 * the outcome, notes a local hit for the LRU index, drops a damaged local
 * entry. A seed hit is served as it is (see the file comment).
 * @return 0, or the local environment's error
 */
static int lookup(struct cache *c, struct lookup *l)
{
	char name[512];
	int rc, seed_rc;

	rc = local_read(c, l);
	if (rc == -EBADMSG) {
		atomic_fetch_add(&c->damaged, 1);
		log_warn(LOG_C_CACHE,
			 "damaged entry (%s) in '%s' dropped; it will be "
			 "fetched again",
			 lookup_name(l, name, sizeof(name)), c->path);
		cache_lru_drop(c, &l->ik, l->vsize, l->fp);
	}
	if (rc != 0 && c->seed) {
		seed_rc = seed_read(c->seed, l);
		if (seed_rc == 0) {
			atomic_fetch_add(&c->hits, 1);
			atomic_fetch_add(&c->seed_hits, 1);
			return 0;
		}
		if (seed_rc == -EBADMSG)
			seed_damaged(c, l);
	}
	if (rc != 0) {
		atomic_fetch_add(&c->misses, 1);
		return rc;
	}
	atomic_fetch_add(&c->hits, 1);
	cache_lru_note(c, &l->ik);
	return 0;
}

int cache_get(struct cache *c, const struct cache_key *k, void *dst, size_t len)
{
	struct lookup l = {.dst = dst, .len = len};
	int rc;

	rc = chunk_ixkey(&l.ik, k);
	if (rc < 0)
		return rc;
	return lookup(c, &l);
}

int cache_meta_get(struct cache *c, const char *url, char **body, size_t *len,
		   int64_t *fetched_at)
{
	struct lookup l = {.url = url};
	size_t blen;
	int rc;

	if (!url || !*url)
		return -EINVAL;
	l.ulen = strlen(url);
	meta_ixkey(&l.ik, url, l.ulen);
	rc = lookup(c, &l);
	if (rc != 0)
		return rc;
	blen = (size_t)l.raw - CACHE_META_FIXED - l.ulen;
	*fetched_at = (int64_t)cache_get_u64(l.buf);
	memmove(l.buf, l.buf + CACHE_META_FIXED + l.ulen, blen);
	l.buf[blen] = '\0';
	*body = (char *)l.buf;
	*len = blen;
	return 0;
}

/* ---- the seed ---------------------------------------------------------- */

static void seed_close(struct cache_seed *s)
{
	if (!s)
		return;
	if (s->locks_made)
		pool_drain(&s->pool);
	/* read-only: there is nothing to sync */
	if (s->env)
		mdb_env_close(s->env);
	if (s->locks_made) {
		pthread_mutex_destroy(&s->logged_lock);
		pthread_mutex_destroy(&s->pool.lock);
	}
	free(s->path);
	free(s);
}

/*
 * Find the environment of the seed directory @p dir for the remote @p url
 * (directory @p host in it), refuse the local one, open it (MDB_RDONLY,
 * MDB_NOLOCK) and its databases.
 * @return 0, or -errno after a log line that names the path
 */
static int seed_setup(struct cache_seed *s, const char *dir, const char *url,
		      const char *host, const char *local)
{
	struct stat st, lst;
	MDB_txn *txn = NULL;
	char *data = NULL;
	const char *db = "chunks";
	int rc;

	rc = stat(dir, &st) < 0 ? -errno : 0;
	if (rc == 0 && !S_ISDIR(st.st_mode))
		rc = -ENOTDIR;
	if (rc < 0) {
		log_error(LOG_C_CACHE, "cannot use seed cache '%s': %s", dir,
			  strerror(-rc));
		return rc;
	}
	if (asprintf(&s->path, "%s/%s", dir, host) < 0) {
		s->path = NULL;
		return -ENOMEM;
	}
	if (asprintf(&data, "%s/data.mdb", s->path) < 0)
		return -ENOMEM;
	rc = stat(data, &st) < 0 ? -errno : 0;
	if (rc < 0)
		log_error(LOG_C_CACHE,
			  "seed cache '%s' holds no cache of %s (no '%s': %s)",
			  dir, url, data, strerror(-rc));
	free(data);
	if (rc < 0)
		return rc;
	if (stat(s->path, &st) == 0 && stat(local, &lst) == 0 &&
	    st.st_dev == lst.st_dev && st.st_ino == lst.st_ino) {
		log_error(LOG_C_CACHE,
			  "seed cache '%s' is the cache directory itself", dir);
		return -EINVAL;
	}
	rc = mdb_env_create(&s->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(s->env, 8);
	/* no lock file: the seed may sit on a read-only filesystem */
	if (rc == 0)
		rc = mdb_env_open(s->env, s->path,
				  MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0);
	if (rc == 0)
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, db, 0, &s->chunks);
	if (rc == 0) {
		db = "meta";
		rc = mdb_dbi_open(txn, db, 0, &s->meta);
	}
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		log_error(LOG_C_CACHE,
			  "seed cache '%s' is not a cache of idrfs (no "
			  "database '%s')",
			  s->path, db);
		return -ENOENT;
	}
	/* a read-only txn's commit keeps its dbi handles for all */
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (txn)
		mdb_txn_abort(txn);
	if (rc != 0)
		return cache_mdb_to_errno(rc, "cannot open seed cache",
					  s->path);
	log_info(LOG_C_CACHE, "seed cache '%s' opened read-only", s->path);
	return 0;
}

/* Open c->seed; NULL if it cannot be. @return as seed_setup() */
static int seed_open(struct cache *c, const char *dir, const char *url,
		     const char *host)
{
	struct cache_seed *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	rc = pthread_mutex_init(&s->pool.lock, NULL);
	if (rc != 0) {
		free(s);
		return -rc;
	}
	rc = pthread_mutex_init(&s->logged_lock, NULL);
	if (rc != 0) {
		pthread_mutex_destroy(&s->pool.lock);
		free(s);
		return -rc;
	}
	s->locks_made = true;
	rc = seed_setup(s, dir, url, host, c->path);
	if (rc < 0) {
		seed_close(s);
		return rc;
	}
	c->seed = s;
	return 0;
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
	rc = pthread_mutex_init(&c->pool.lock, NULL);
	if (rc != 0) {
		pthread_rwlock_destroy(&c->env_lock);
		return -rc;
	}
	rc = pthread_mutex_init(&c->batch_lock, NULL);
	if (rc != 0) {
		pthread_mutex_destroy(&c->pool.lock);
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
	if (cfg->seed && *cfg->seed) {
		rc = seed_open(c, cfg->seed, cfg->remote, host);
		if (rc < 0)
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
		pool_drain(&c->pool);
		/* MDB_NOSYNC: make a clean shutdown durable */
		mdb_env_sync(c->env, 1);
		mdb_env_close(c->env);
	}
	if (c->locks_made) {
		pthread_mutex_destroy(&c->batch_lock);
		pthread_mutex_destroy(&c->pool.lock);
		pthread_rwlock_destroy(&c->env_lock);
	}
	seed_close(c->seed);
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

	rc = cache_txn_begin(c, MDB_RDONLY, &txn);
	if (rc == 0) {
		rc = mdb_stat(txn, c->chunks, &st[0]);
		if (rc == 0)
			rc = mdb_stat(txn, c->meta, &st[1]);
		cache_rtxn_done(c, txn);
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

	rc = cache_txn_begin(c, MDB_RDONLY, &txn);
	if (rc == 0) {
		rc = cache_lru_total(c, txn, &bytes);
		cache_rtxn_done(c, txn);
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
	out->seed_hits = atomic_load(&c->seed_hits);
	out->bytes_stored = atomic_load(&c->bytes_seen);
	out->limit = c->max_bytes;
}
