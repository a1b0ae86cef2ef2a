/* SPDX-License-Identifier: MIT */
/*
 * fetch: the transport the daemon hands to api and pixsrc. API answers go
 * through the metadata cache: an answer younger than the TTL is served
 * without a request, a fresh one is stored, and an old one is served when
 * the remote cannot be reached. With offline set, nothing touches the
 * network: cached answers of any age are served and everything else fails
 * at once.
 *
 * What is kept: the 2xx answers of GETs without a range, not marked
 * nocache, that carry an accept (http.h), and only once accept took them;
 * a copy read back is handed to accept again before it is served (one it
 * refuses is not served). A request without accept passes through and
 * nothing of it is kept. Refused answers, errors and busy answers are
 * never kept: the next operation asks again.
 *
 * 404s are kept for the TTL only where the request says keep_404: the
 * Zarr v3 probe (zarr.json of a group that is Zarr v2), whose 404 is the
 * documented answer and is asked by every open. Every other 404 is asked
 * again.
 *
 * Limits: HEAD requests and ranges pass through; the cache's own size
 * limit applies.
 */
#ifndef IDRFS_FETCH_H
#define IDRFS_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idrfs/cache.h"
#include "idrfs/http.h"

struct fetch_config {
	struct http_client *http; /* borrowed */
	struct cache *cache;	  /* borrowed; NULL: no metadata cache */
	unsigned ttl_s;		  /* how long an answer is fresh */
	bool offline;
	/* the network; NULL: http_fetch() on http (tests put a fake here) */
	int (*send)(void *ctx, struct http_req *reqs, size_t n,
		    uint64_t deadline);
	void *send_ctx;
};

struct fetch_counters {
	uint64_t requests;   /* sent to the network */
	uint64_t meta_hits;  /* answered from the cache, fresh */
	uint64_t meta_stale; /* answered from the cache, remote unreachable */
	uint64_t offline_misses;
	uint64_t refused; /* answers accept refused, fresh or cached */
};

struct fetch;

/** @param[out] out written only on success. @return 0 or -ENOMEM */
int fetch_new(const struct fetch_config *cfg, struct fetch **out);
void fetch_free(struct fetch *f);

/**
 * The api_transport fetch function (ctx is the struct fetch). Runs the
 * accept of every request that succeeds (accepted is then set).
 * @return as http_fetch(), or the error accept gave; offline misses are
 *         -ENETDOWN
 * @note Thread-safe.
 */
int fetch_do(void *ctx, struct http_req *reqs, size_t n, uint64_t deadline);

void fetch_get_counters(struct fetch *f, struct fetch_counters *out);

#endif
