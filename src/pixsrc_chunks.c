/* SPDX-License-Identifier: MIT */
/*
 * pixsrc_chunks: the chunk table of the pixel sources and the one memory
 * budget every chunk in memory counts against.
 *
 * Entries are keyed by their cache key and refcounted while a reader
 * copies out of them. The first reader to miss creates the entry in the
 * loading state and loads it without holding t->lock; readers that want
 * the same chunk meanwhile wait on t->cond (until their deadline), so N
 * concurrent readers cause one request. A failed load stays in the table
 * for PIXSRC_FAIL_HOLD_MS, then leaves it: a read in that window fails at
 * once with the same error (the kernel retries a failed read-ahead page
 * by page at once, and each retry would otherwise cost a whole deadline),
 * the next one after it asks again.
 *
 * Memory. An entry's cost is, while it loads, the most its load can hold
 * at once (body, decoder buffers, the cache's copies: reserved before the
 * request), then its decoded bytes (an absent chunk: the entry alone).
 * held, the sum, never exceeds the budget. A read goes through its chunks
 * in batches (pixsrc_chunks_each()): take as many as fit, dropping idle
 * entries least recently used first; load the missing ones in one
 * parallel request; copy out; let go; next batch. A read that holds
 * nothing and finds no room waits on t->room until its deadline; one
 * that holds a batch never waits for room, so no two reads wait on each
 * other. Prefetch takes room only while reads use less than half the
 * budget, and never waits. The chunks it brings in for a reader still to
 * come keep at most pf_share bytes (a reader's eviction may drop them,
 * another prefetch's does not); past that a prefetched chunk is a spill:
 * loaded, stored in the persistent cache (compressed) and freed, so a
 * read ahead farther than memory allows costs the reader a cache hit,
 * not a request. Does no I/O itself: loads are the caller's.
 */
#include "config.h"

#include "pixsrc_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "idrfs/http.h"
#include "idrfs/log.h"

static size_t key_hash(const struct cache_key *k)
{
	return (size_t)(cache_ident_add(CACHE_IDENT_INIT, k->b, k->len) %
			PIXSRC_HBUCKETS);
}

static struct chunk *table_find(struct pixsrc_chunks *t,
				const struct cache_key *k)
{
	struct chunk *c = t->buckets[key_hash(k)];

	while (c && (c->key.len != k->len || memcmp(c->key.b, k->b, k->len)))
		c = c->hnext;
	return c;
}

/* Take an idle entry off the LRU: its bytes are in use again. */
static void lru_unlink(struct pixsrc_chunks *t, struct chunk *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (t->lru_head == c)
		t->lru_head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else if (t->lru_tail == c)
		t->lru_tail = c->prev;
	c->prev = c->next = NULL;
	t->idle_bytes -= c->cost;
}

static void lru_push(struct pixsrc_chunks *t, struct chunk *c)
{
	c->prev = t->lru_tail;
	c->next = NULL;
	if (t->lru_tail)
		t->lru_tail->next = c;
	else
		t->lru_head = c;
	t->lru_tail = c;
	t->idle_bytes += c->cost;
}

/* Unlink from the table (a failed entry leaves it before it is freed). */
static void table_remove(struct pixsrc_chunks *t, struct chunk *c)
{
	struct chunk **pp = &t->buckets[key_hash(&c->key)];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
}

/* Free an entry nobody holds (t->lock held); its bytes go back. */
static void entry_free_locked(struct pixsrc_chunks *t, struct chunk *c)
{
	table_remove(t, c);
	t->held -= c->cost;
	if (c->pf)
		t->pf_held -= c->keep;
	free(c->data);
	free(c);
}

/* Drop idle entries, oldest first, until @p need more bytes fit. For
 * prefetch (@p pf), not those a prefetch brought in for a reader still
 * to come: dropping them to fetch further ahead would only fetch them
 * again. */
static void evict_locked(struct pixsrc_chunks *t, size_t need, bool pf)
{
	struct chunk *c = t->lru_head;

	while (c && need > t->budget - t->held) {
		struct chunk *next = c->next;

		if (!pf || !c->pf) {
			lru_unlink(t, c);
			entry_free_locked(t, c);
		}
		c = next;
	}
}

/* Drop a reference (t->lock held): an idle entry goes on the LRU, where
 * it is room for others (a failure too, while it is held); one whose
 * failure hold is over is freed, and so is a prefetch's spill (it is in
 * the persistent cache now). */
static void chunk_put_locked(struct pixsrc_chunks *t, struct chunk *c)
{
	if (--c->refs > 0)
		return;
	if (c->spill && c->data)
		atomic_fetch_add(&t->pf_spills, 1);
	if ((c->err && http_now_ms() >= c->expires) ||
	    (!c->err && !c->data && !c->absent) || (c->spill && c->data))
		entry_free_locked(t, c);
	else
		lru_push(t, c);
	pthread_cond_broadcast(&t->room);
}

static struct timespec deadline_ts(uint64_t deadline)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline / 1000u),
		.tv_nsec = (long)(deadline % 1000u) * 1000000L,
	};

	return ts;
}

/*
 * Take references to the chunks of keys[0..m), in order, as many as there
 * is room for (at least one). Entries found are shared (an idle one leaves
 * the LRU); an entry made here is loading, reserves items[i].cost and is
 * the caller's to load (mine[i]). A reader that has taken nothing and
 * finds no room waits for it until @p deadline; prefetch (@p pf) may use
 * only half the budget, never waits, and makes spills past pf_share.
 * @return how many were taken (> 0), -ETIMEDOUT, -EAGAIN (pf: no room),
 *         -ENOMEM
 */
static ssize_t batch_take(struct pixsrc_chunks *t,
			  const struct load_item *items,
			  const struct cache_key *keys, size_t m, bool pf,
			  uint64_t deadline, struct chunk **out, bool *mine)
{
	struct timespec ts = deadline_ts(deadline);
	size_t limit = pf ? t->budget / 2 : t->budget;
	uint64_t now = http_now_ms();
	size_t i = 0;
	bool spill;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	while (i < m) {
		struct chunk *c = table_find(t, &keys[i]);
		size_t busy = t->held - t->idle_bytes;
		size_t need = items[i].cost;

		if (c && (c->absent || c->err) && !c->loading && c->refs == 0 &&
		    now >= c->expires) {
			/* a 404 is believed for absent_ttl_ms only, a
			 * failure for PIXSRC_FAIL_HOLD_MS */
			lru_unlink(t, c);
			entry_free_locked(t, c);
			c = NULL;
		}
		mine[i] = false;
		if (c) {
			if (c->refs == 0)
				lru_unlink(t, c);
			if (!pf && c->pf) /* read: a chunk like any other */
				t->pf_held -= c->keep;
			if (!pf)
				c->pf = c->spill = false;
			c->refs++;
			out[i++] = c;
			continue;
		}
		if (busy > limit || need > limit - busy) {
			if (i > 0)
				break;
			if (pf) {
				atomic_fetch_add(&t->pf_yields, 1);
				rc = -EAGAIN;
				break;
			}
			/* holding nothing: whoever holds the room lets go
			 * without waiting for us */
			atomic_fetch_add(&t->waits, 1);
			if (pthread_cond_timedwait(&t->room, &t->lock, &ts) ==
			    ETIMEDOUT) {
				atomic_fetch_add(&t->timeouts, 1);
				rc = -ETIMEDOUT;
				break;
			}
			continue;
		}
		evict_locked(t, need, pf);
		/* past its share, prefetch only fills the persistent cache:
		 * the load's bytes are given back once it is stored */
		spill = pf && (t->pf_held > t->pf_share ||
			       items[i].keep > t->pf_share - t->pf_held);
		if (pf &&
		    (need > t->budget - t->held || (spill && !t->cache))) {
			if (i == 0) {
				atomic_fetch_add(&t->pf_yields, 1);
				rc = -EAGAIN;
			}
			break;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			rc = -ENOMEM;
			break;
		}
		c->key = keys[i];
		c->loading = true;
		c->refs = 1;
		c->cost = need;
		c->pf = pf && !spill;
		c->spill = spill;
		c->keep = items[i].keep;
		if (c->pf)
			t->pf_held += c->keep;
		c->hnext = t->buckets[key_hash(&keys[i])];
		t->buckets[key_hash(&keys[i])] = c;
		t->held += need;
		if (t->held > t->peak)
			t->peak = t->held;
		mine[i] = true;
		out[i++] = c;
	}
	pthread_mutex_unlock(&t->lock);
	return i > 0 ? (ssize_t)i : rc;
}

static void chunks_release(struct pixsrc_chunks *t, struct chunk **cs, size_t n)
{
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < n; i++)
		chunk_put_locked(t, cs[i]);
	pthread_mutex_unlock(&t->lock);
}

/*
 * Publish the result of a load we own (t->lock not held): @p data (len
 * bytes, taken over), absent (the fill value) or err. What the load
 * reserved beyond what the entry keeps goes back.
 */
void pixsrc_chunks_done(struct pixsrc_chunks *t, struct chunk *c, uint8_t *data,
			size_t len, int err, bool absent)
{
	size_t cost = sizeof(*c) + (data ? len : 0);

	pthread_mutex_lock(&t->lock);
	c->data = data;
	c->len = data ? len : 0;
	c->err = err;
	c->absent = absent;
	c->loading = false;
	if (absent)
		c->expires = http_now_ms() + t->absent_ttl_ms;
	if (err)
		c->expires = http_now_ms() + PIXSRC_FAIL_HOLD_MS;
	if (cost < c->cost) {
		t->held -= c->cost - cost;
		c->cost = cost;
		pthread_cond_broadcast(&t->room);
	}
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

/* Wait for loads other readers own. */
static int chunks_wait(struct pixsrc_chunks *t, struct chunk **cs, size_t n,
		       uint64_t deadline)
{
	struct timespec ts = deadline_ts(deadline);
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < n && rc == 0; i++) {
		while (cs[i]->loading && rc == 0) {
			if (pthread_cond_timedwait(&t->cond, &t->lock, &ts) ==
			    ETIMEDOUT)
				rc = -ETIMEDOUT;
		}
		if (rc == 0 && cs[i]->err)
			rc = cs[i]->err;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void pixsrc_chunks_stats(struct pixsrc_chunks *t, struct pixsrc_mem *out)
{
	pthread_mutex_lock(&t->lock);
	out->budget = t->budget;
	out->held = t->held;
	out->idle = t->idle_bytes;
	out->peak = t->peak;
	out->pf_share = t->pf_share;
	out->pf_held = t->pf_held;
	pthread_mutex_unlock(&t->lock);
	out->pf_spills = atomic_load(&t->pf_spills);
	out->waits = atomic_load(&t->waits);
	out->timeouts = atomic_load(&t->timeouts);
	out->too_big = atomic_load(&t->too_big);
	out->pf_yields = atomic_load(&t->pf_yields);
}

/* Try the persistent cache; true if the chunk was there. */
static bool load_from_cache(struct pixsrc_chunks *t, struct chunk *c,
			    size_t len)
{
	uint8_t *buf;

	if (!t->cache)
		return false;
	buf = malloc(len ? len : 1);
	if (!buf)
		return false;
	if (cache_get(t->cache, &c->key, buf, len) == 0) {
		pixsrc_chunks_done(t, c, buf, len, 0, false);
		return true;
	}
	free(buf);
	return false;
}

/* elem: bytes per pixel value, for the cache's byte shuffle */
void pixsrc_chunks_store(struct pixsrc_chunks *t, struct chunk *c,
			 const uint8_t *data, size_t len, unsigned elem)
{
	if (t->cache)
		cache_put_elems(t->cache, &c->key, data, len, elem);
}

/* A chunk whose load alone needs more than the whole budget. */
static int too_big(struct pixsrc_chunks *t, const struct loader *ld,
		   const struct load_item *it)
{
	char esc[PIXSRC_URL_MAX];

	atomic_fetch_add(&t->too_big, 1);
	if (ld->logged && atomic_exchange(ld->logged, true))
		return -EFBIG;
	log_error(LOG_C_ZARR,
		  "\"%s\": a chunk of %zu bytes needs %zu bytes in memory to "
		  "load, more than the whole memory budget of %zu bytes: its "
		  "reads fail",
		  log_escape(ld->what, esc, sizeof(esc)), ld->len(ld->ctx, it),
		  it->cost, t->budget);
	return -EFBIG;
}

static void no_room(struct pixsrc_chunks *t, const struct loader *ld,
		    const struct load_item *it)
{
	struct pixsrc_mem m;
	char esc[PIXSRC_URL_MAX];

	pixsrc_chunks_stats(t, &m);
	log_warn(LOG_C_ZARR,
		 "\"%s\": no room for a chunk (%zu bytes to load) before the "
		 "deadline: %" PRIu64 " of the %" PRIu64
		 " bytes of the memory budget are in use",
		 log_escape(ld->what, esc, sizeof(esc)), it->cost,
		 m.held - m.idle, m.budget);
}

/* Load the chunks taken (mine[]) from the persistent cache or, in one
 * batch, from the network. Moves the items loaded to the front. */
static void batch_load(struct pixsrc_chunks *t, const struct loader *ld,
		       struct load_item *items, struct chunk **cs,
		       const bool *mine, size_t k, uint64_t deadline)
{
	size_t todo = 0;

	for (size_t j = 0; j < k; j++) {
		if (!mine[j] ||
		    load_from_cache(t, cs[j], ld->len(ld->ctx, &items[j])))
			continue;
		if (todo != j)
			items[todo] = items[j];
		items[todo++].c = cs[j];
	}
	if (todo > 0)
		ld->load(ld->ctx, items, todo, deadline);
}

/* See pixsrc_int.h. */
int pixsrc_chunks_each(struct pixsrc_chunks *t, const struct loader *ld,
		       size_t n, bool pf, uint64_t deadline)
{
	size_t bmax = n < PIXSRC_BATCH_MAX ? n : PIXSRC_BATCH_MAX;
	struct load_item *items = calloc(bmax, sizeof(*items));
	struct cache_key *keys = calloc(bmax, sizeof(*keys));
	struct chunk **cs = calloc(bmax, sizeof(*cs));
	bool *mine = calloc(bmax, sizeof(*mine));
	size_t from = 0;
	int rc = 0;

	if (!items || !keys || !cs || !mine)
		rc = -ENOMEM;
	while (rc == 0 && from < n) {
		size_t m = n - from < bmax ? n - from : bmax;
		ssize_t k;

		for (size_t j = 0; j < m && rc == 0; j++) {
			rc = ld->prep(ld->ctx, from + j, &items[j], &keys[j]);
			items[j].cost += sizeof(struct chunk);
			items[j].keep =
				rc == 0 ? sizeof(struct chunk) +
						  ld->len(ld->ctx, &items[j])
					: 0;
			if (rc == 0 && items[j].cost > t->budget)
				rc = too_big(t, ld, &items[j]);
		}
		if (rc < 0)
			break;
		k = batch_take(t, items, keys, m, pf, deadline, cs, mine);
		if (k < 0) {
			rc = (int)k;
			if (rc == -ETIMEDOUT)
				no_room(t, ld, &items[0]);
			break;
		}
		batch_load(t, ld, items, cs, mine, (size_t)k, deadline);
		/* prefetch has no use for the loads of others */
		if (!pf)
			rc = chunks_wait(t, cs, (size_t)k, deadline);
		for (size_t j = 0; rc == 0 && ld->use && j < (size_t)k; j++)
			rc = ld->use(ld->ctx, from + j, cs[j]);
		chunks_release(t, cs, (size_t)k);
		from += (size_t)k;
	}
	free(items);
	free(keys);
	free(cs);
	free(mine);
	return rc;
}

void pixsrc_chunks_init(struct pixsrc_chunks *t, struct cache *cache,
			size_t budget, size_t pf_share, uint64_t absent_ttl_ms)
{
	pthread_condattr_t ca;

	memset(t, 0, sizeof(*t));
	t->cache = cache;
	t->budget = budget ? budget : PIXSRC_DEFAULT_BUDGET;
	t->pf_share = pf_share < t->budget / 2 ? pf_share : t->budget / 2;
	t->absent_ttl_ms = absent_ttl_ms ? absent_ttl_ms : PIXSRC_ABSENT_TTL;
	pthread_mutex_init(&t->lock, NULL);
	/* deadlines are CLOCK_MONOTONIC milliseconds (http_now_ms()) */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_cond_init(&t->room, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&t->waits, 0);
	atomic_init(&t->timeouts, 0);
	atomic_init(&t->too_big, 0);
	atomic_init(&t->pf_yields, 0);
	atomic_init(&t->pf_spills, 0);
}

void pixsrc_chunks_release(struct pixsrc_chunks *t)
{
	for (size_t i = 0; i < PIXSRC_HBUCKETS; i++) {
		struct chunk *c = t->buckets[i];

		while (c) {
			struct chunk *next = c->hnext;

			free(c->data);
			free(c);
			c = next;
		}
	}
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	pthread_cond_destroy(&t->room);
}
