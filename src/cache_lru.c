/* SPDX-License-Identifier: MIT */
/*
 * cache_lru: the write side of the cache. Every write transaction is
 * here: puts with the byte limit and LRU eviction, the access index, the
 * batched access times, and the deletion of damaged entries. The
 * environment, transactions, keys, frames and reads are in cache.c; the
 * databases are described there.
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
 * and reads order exactly; a put counts as an access. Hits served by the
 * seed are not noted: the seed is never written.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lmdb.h>

#include "idrfs/codec.h"
#include "idrfs/log.h"

#include "cache_int.h"

#define CACHE_BATCH_SECS 5

/* Errors after which a put is skipped rather than failed. */
static bool is_full(int rc)
{
	return rc == MDB_MAP_FULL || rc == MDB_TXN_FULL || rc == ENOSPC ||
	       rc == EDQUOT || rc == EFBIG;
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

/* ---- the total and the index ------------------------------------------ */

int cache_lru_total(struct cache *c, MDB_txn *txn, uint64_t *bytes)
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
	*bytes = cache_get_u64(val.mv_data);
	return 0;
}

static int stats_set(struct cache *c, MDB_txn *txn, uint64_t bytes)
{
	MDB_val key = {.mv_size = 5, .mv_data = (void *)"bytes"};
	uint8_t b[8];
	MDB_val val = {.mv_size = 8, .mv_data = b};

	cache_put_u64(b, bytes);
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

	cache_put_u64(tb, t);
	cache_put_be64(lk, t);
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
	t = aval.mv_size == 8 ? cache_get_u64(aval.mv_data) : 0;
	cache_put_be64(lk, t);
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
	MDB_val key = cache_data_key(ik);
	MDB_val val;
	int rc;

	rc = mdb_get(txn, cache_data_dbi(c, ik), &key, &val);
	if (rc == 0) {
		*bytes -= val.mv_size < *bytes ? val.mv_size : *bytes;
		rc = mdb_del(txn, cache_data_dbi(c, ik), &key, NULL);
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

int cache_lru_setup(struct cache *c, MDB_txn *txn)
{
	MDB_val key = {.mv_size = 5, .mv_data = (void *)"bytes"};
	MDB_val val;
	int rc;

	rc = mdb_get(txn, c->stats, &key, &val);
	/* new, or written by a version without accounting */
	if (rc == MDB_NOTFOUND)
		rc = index_rebuild(c, txn);
	return rc;
}

/* ---- the access batch ------------------------------------------------- */

static size_t batch_slot(const struct ixkey *ik)
{
	return (size_t)cache_fnv1a64(ik->b, ik->len) & (CACHE_BATCH_SLOTS - 1);
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
void cache_lru_note(struct cache *c, const struct ixkey *ik)
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
		if (aval.mv_size == 8 && v[i].t <= cache_get_u64(aval.mv_data))
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
	rc = cache_txn_begin(c, 0, &txn);
	if (rc == 0) {
		rc = batch_apply(c, txn, v, n);
		if (rc == 0)
			rc = cache_wtxn_commit(c, txn);
		else
			cache_wtxn_abort(c, txn);
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

/* ---- writes ----------------------------------------------------------- */

/*
 * End a write transaction that leaves @p bytes stored: record the total
 * and commit, or abort when @p rc (its work so far) failed.
 * @return 0 or an LMDB/errno code; nothing written then
 */
static int total_commit(struct cache *c, MDB_txn *txn, int rc, uint64_t bytes)
{
	if (rc == 0)
		rc = stats_set(c, txn, bytes);
	if (rc != 0) {
		cache_wtxn_abort(c, txn);
		return rc;
	}
	rc = cache_wtxn_commit(c, txn);
	if (rc == 0)
		atomic_store(&c->bytes_seen, bytes);
	return rc;
}

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
	MDB_val key = cache_data_key(ik);
	MDB_val val;
	uint64_t bytes = 0;
	unsigned n = 0;
	int rc;

	rc = cache_txn_begin(c, 0, &txn);
	if (rc != 0)
		return rc;
	rc = batch_apply(c, txn, tv, tn);
	if (rc == 0)
		rc = cache_lru_total(c, txn, &bytes);
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
		rc = mdb_put(txn, cache_data_dbi(c, ik), &key, &val,
			     MDB_RESERVE);
	}
	if (rc == 0) {
		/* filled at once: a later write may move a reserved node */
		memcpy(val.mv_data, f->hdr, CACHE_HDR);
		memcpy((uint8_t *)val.mv_data + CACHE_HDR, f->z, f->zlen);
		rc = index_set(c, txn, ik, access_clock(c));
	}
	rc = total_commit(c, txn, rc, bytes + f->size);
	if (rc == 0)
		*evicted = n;
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

	rc = cache_txn_begin(c, 0, &txn);
	if (rc != 0)
		return rc;
	mdb_reader_check(c->env, &dead);
	rc = cache_lru_total(c, txn, &bytes);
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
	rc = total_commit(c, txn, rc, bytes);
	if (rc == 0)
		*evicted = n;
	return rc;
}

int cache_lru_put(struct cache *c, const struct ixkey *ik,
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

/*
 * Delete a damaged entry, if it is still the value that was read (same
 * size and CRC-32C of the stored bytes): another process may have stored
 * a good one since.
 */
void cache_lru_drop(struct cache *c, const struct ixkey *ik, size_t vsize,
		    uint32_t fp)
{
	MDB_txn *txn = NULL;
	MDB_val key = cache_data_key(ik);
	MDB_val val;
	uint64_t bytes = 0;
	uint32_t now = 0;
	int rc;

	rc = cache_txn_begin(c, 0, &txn);
	if (rc != 0)
		return;
	rc = mdb_get(txn, cache_data_dbi(c, ik), &key, &val);
	if (rc == 0 && val.mv_size == vsize)
		now = codec_crc32c(val.mv_data, val.mv_size);
	if (rc == 0 && (val.mv_size != vsize || now != fp))
		rc = MDB_NOTFOUND;
	if (rc == 0)
		rc = cache_lru_total(c, txn, &bytes);
	if (rc == 0)
		rc = entry_del(c, txn, ik, &bytes);
	total_commit(c, txn, rc, bytes);
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

	rc = cache_txn_begin(c, MDB_RDONLY, &txn);
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
				cache_put_be64(lk, cache_get_u64(aval.mv_data));
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
		rc = cache_lru_total(c, txn, &total);
	cache_rtxn_done(c, txn);
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
