/* SPDX-License-Identifier: MIT */
/*
 * pixsrc_int: what pixsrc.c (sources, loaders, the read path),
 * pixsrc_chunks.c (the chunk table and its memory budget) and
 * pixsrc_prefetch.c (read-ahead: streams, the job queue, its workers)
 * share: the table, its entries, how a read describes its chunks to it,
 * and the read-ahead's state and calls.
 * Private to the pixsrc module.
 */
#ifndef IDRFS_PIXSRC_INT_H
#define IDRFS_PIXSRC_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idrfs/cache.h"
#include "idrfs/pixsrc.h"
#include "idrfs/tiff.h"
#include "idrfs/zarr.h"

#define PIXSRC_URL_MAX	  2048
#define PIXSRC_HBUCKETS	  4096
#define PIXSRC_ABSENT_TTL (60u * 1000u)

struct chunk {
	struct cache_key key;
	uint8_t *data; /* len decoded bytes; NULL while loading, if absent */
	size_t len;
	size_t cost;	  /* this entry's part of held */
	size_t keep;	  /* what it holds once loaded (pf_held counts it) */
	uint64_t expires; /* absent, err: believed until then (ms) */
	unsigned refs;
	bool loading;
	bool absent; /* the remote has no such chunk: the fill value */
	bool pf;     /* made by prefetch and not read yet: in pf_held */
	bool spill;  /* made by prefetch with its share of memory used up:
		      * only stored in the persistent cache, freed once
		      * loaded (unless a read came for it meanwhile) */
	int err;
	struct chunk *hnext;
	struct chunk *prev, *next; /* idle LRU, when refs == 0 */
};

/*
 * The chunk table: every chunk in memory (in use, loading, idle), keyed
 * by its cache key, and the budget they all count against.
 */
struct pixsrc_chunks {
	struct cache *cache; /* borrowed; NULL: no persistent cache */
	size_t budget;
	size_t pf_share; /* the most prefetched chunks not read yet keep */
	uint64_t absent_ttl_ms;

	/* lock protects the table, the LRU, held, idle_bytes, pf_held and
	 * peak; no other lock is taken with it held */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a load finished */
	pthread_cond_t room; /* bytes were given back, or went idle */
	struct chunk *buckets[PIXSRC_HBUCKETS];
	struct chunk *lru_head, *lru_tail;
	size_t held;	   /* the cost of every entry: <= budget */
	size_t idle_bytes; /* the part of held on the LRU */
	size_t peak;	   /* the most held was */
	size_t pf_held;	   /* what entries with pf set keep once loaded */
	atomic_uint_fast64_t waits, timeouts, too_big, pf_yields, pf_spills;
};

/* What a batch needs of an item: its key, and for a load its URL. */
struct load_item {
	struct chunk *c;
	size_t cost; /* reserved while it loads, the entry included */
	size_t keep; /* held once loaded: the entry and the decoded bytes */
	char url[PIXSRC_URL_MAX];
	uint64_t idx[ZARR_MAX_DIMS];
};

/*
 * The chunks of one read (or prefetch job), and what to do with them:
 * prep() names chunk i (key; URL and coordinates for load(); cost),
 * len() is its decoded size, load() fetches items that are in neither
 * memory nor the persistent cache, and use() copies chunk i out (NULL:
 * prefetch, only load).
 */
struct loader {
	int (*prep)(void *ctx, size_t i, struct load_item *it,
		    struct cache_key *k);
	size_t (*len)(void *ctx, const struct load_item *it);
	void (*load)(void *ctx, struct load_item *items, size_t n,
		     uint64_t deadline);
	int (*use)(void *ctx, size_t i, const struct chunk *c);
	void *ctx;
	const char *what;    /* the array's or file's URL, for log lines */
	atomic_bool *logged; /* a refusal was logged, or NULL (always log) */
};

/** Set up an empty table (budget 0: PIXSRC_DEFAULT_BUDGET; pf_share is
 * cut to half the budget). */
void pixsrc_chunks_init(struct pixsrc_chunks *t, struct cache *cache,
			size_t budget, size_t pf_share, uint64_t absent_ttl_ms);

/** Free every entry and the locks. No read may be in progress. */
void pixsrc_chunks_release(struct pixsrc_chunks *t);

/**
 * Go through chunks 0..n-1 of a read in batches that fit the budget:
 * take, load what is missing (the persistent cache, else ld->load()),
 * wait for loads of others, use, let go. With @p pf (prefetch) only half
 * the budget is used, nothing waits, no chunk a prefetch brought in and
 * no read used yet is dropped, and past pf_share a chunk is only stored
 * in the persistent cache.
 * @return 0, -EFBIG (a chunk's load is larger than the budget; logged),
 *         -ETIMEDOUT (logged when it was the wait for room), -EAGAIN (pf:
 *         no room), -ENOMEM, or the error of a load (-EIO) or of use()
 */
int pixsrc_chunks_each(struct pixsrc_chunks *t, const struct loader *ld,
		       size_t n, bool pf, uint64_t deadline);

/**
 * Publish the result of a load (of an entry ld->load() was given): @p data
 * (len bytes, taken over), @p absent (the fill value)
 * or @p err. What the load reserved beyond what the entry keeps goes back to
 * the budget.
 */
void pixsrc_chunks_done(struct pixsrc_chunks *t, struct chunk *c, uint8_t *data,
			size_t len, int err, bool absent);

/** Store a loaded chunk in the persistent cache (elem: bytes per sample,
 * for its byte shuffle); a failure only costs the cache copy. */
void pixsrc_chunks_store(struct pixsrc_chunks *t, struct chunk *c,
			 const uint8_t *data, size_t len, unsigned elem);

/** What storing @p len bytes holds at once in the cache: a shuffled copy
 * and the zstd frame (at most len + len / 256 + 64 bytes). */
static inline size_t pixsrc_chunks_store_cost(size_t len)
{
	return 2 * len + len / 128 + 65536;
}

/** Counters, for pixsrc_mem_stats(). */
void pixsrc_chunks_stats(struct pixsrc_chunks *t, struct pixsrc_mem *out);

/* ---- read-ahead (pixsrc_prefetch.c) ---- */

#define PIXSRC_PF_THREADS 16
#define PIXSRC_PF_QUEUE	  256

struct pixsrc_image;

/* What a reader of one open file has done: the evidence for a stream. */
struct pixsrc_stream {
	atomic_uint_fast64_t next_off;	/* where a sequential read goes on */
	atomic_uint streak;		/* reads in a row that continued */
	atomic_uint_fast64_t seq_start; /* where that run of reads began */
	atomic_uint_fast64_t seq_bytes; /* bytes read in that run */
	atomic_uint_fast64_t pf_until;	/* file offset prefetched up to */
};

/* An open file as the read-ahead sees it: the .tif's layout (its rows
 * fetched in units of unit_rows), or the .ome.tif's (tile rows of each of
 * its levels 0..nlv; levels past nlv are zeros, never fetched). */
struct pixsrc_pf_file {
	const struct tiff_layout *tif;
	uint32_t size_y, unit_rows;
	const struct tiff_ome_layout *ome;
	unsigned nlv;
};

/* Fetch (into the chunk table and cache) the chunks behind some rows of
 * one plane of one level. */
struct pixsrc_pf_job {
	struct pixsrc_image *im; /* holds a reference */
	unsigned level;		 /* the .ome.tif's pyramid level, else 0 */
	uint64_t plane;
	uint32_t row0, nrows;
};

/*
 * The queue of jobs and the workers that run them. lock protects the
 * queue; stop is set under it and read by busy workers without it.
 */
struct pixsrc_prefetch {
	uint64_t bytes; /* the most a stream gets ahead of it; 0: off */
	uint64_t job_timeout_ms;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct pixsrc_pf_job *q; /* ring of PIXSRC_PF_QUEUE jobs */
	size_t head, len;
	atomic_bool stop;
	pthread_t threads[PIXSRC_PF_THREADS];
	size_t nthreads; /* written before init returns */
};

/* The lock first, so that stop() of a half-made one works; without
 * threads (none could start, or bytes 0) reads work and prefetch is off.
 * @return 0, -ENOMEM */
int pixsrc_prefetch_init(struct pixsrc_prefetch *pf, uint64_t bytes,
			 uint64_t job_timeout_ms);
/* Drop the queued jobs (their images put) and join the workers: a job
 * under way ends by its deadline (job_timeout_ms). */
void pixsrc_prefetch_stop(struct pixsrc_prefetch *pf);
void pixsrc_stream_init(struct pixsrc_stream *s);
/* After a read of @p len bytes at @p off of an open file: queue what a
 * stream reads next. Never blocks on the network. */
void pixsrc_prefetch_after(struct pixsrc_prefetch *pf, struct pixsrc_image *im,
			   struct pixsrc_stream *s,
			   const struct pixsrc_pf_file *f, uint64_t off,
			   size_t len);

/* pixsrc.c, for the read-ahead: a reference for a job, and the load a
 * job makes (only into the chunk table; one without room is dropped). */
struct pixsrc_image *pixsrc_image_hold(struct pixsrc_image *im);
void pixsrc_image_load(struct pixsrc_image *im, unsigned level, uint64_t plane,
		       uint32_t row0, uint32_t nrows, uint64_t deadline);

#endif
