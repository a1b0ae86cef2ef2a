/* SPDX-License-Identifier: MIT */
/*
 * fetch: metadata cache and offline mode in front of http_fetch(). The
 * requests of one batch that the cache cannot answer are sent together,
 * in one http_fetch() call, so paging and chunk batches keep their
 * parallelism.
 *
 * What is "unreachable": a refused or timed-out connection, a reset, a
 * 5xx. A 404 or 403 is an answer and is passed on, not hidden behind an
 * old copy.
 *
 * A 404 is kept too, within the TTL, under the URL followed by "\n404"
 * (no URL holds a newline): opening a Zarr v2 image asks for its v3
 * zarr.json, and that answer is as durable as the listing's.
 */
#include "config.h"

#include "idrfs/fetch.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idrfs/log.h"

struct fetch {
	struct http_client *http;
	struct cache *cache;
	int64_t ttl_s;
	bool offline;
	atomic_uint_fast64_t requests, meta_hits, meta_stale, offline_misses;
};

int fetch_new(const struct fetch_config *cfg, struct fetch **out)
{
	struct fetch *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->http = cfg->http;
	f->cache = cfg->cache;
	f->ttl_s = cfg->ttl_s;
	f->offline = cfg->offline;
	*out = f;
	return 0;
}

void fetch_free(struct fetch *f)
{
	free(f);
}

void fetch_get_counters(struct fetch *f, struct fetch_counters *out)
{
	out->requests = atomic_load(&f->requests);
	out->meta_hits = atomic_load(&f->meta_hits);
	out->meta_stale = atomic_load(&f->meta_stale);
	out->offline_misses = atomic_load(&f->offline_misses);
}

static bool cacheable(const struct fetch *f, const struct http_req *r)
{
	return f->cache && !r->head && r->range_len == 0 && !r->nocache;
}

static bool unreachable(int rc)
{
	return rc == -ETIMEDOUT || rc == -ECONNREFUSED || rc == -EHOSTUNREACH ||
	       rc == -EIO || rc == -EBADMSG || rc == -ENETDOWN;
}

/* The key of a URL's remembered 404; NULL if out of memory. */
static char *neg_key(const char *url)
{
	size_t n = strlen(url);
	char *k = malloc(n + 5);

	if (k) {
		memcpy(k, url, n);
		memcpy(k + n, "\n404", 5);
	}
	return k;
}

/* Is a 404 for this URL remembered (fresh, or any age offline)? */
static bool neg_hit(struct fetch *f, const char *url, int64_t now)
{
	char *k = neg_key(url), *body = NULL;
	size_t len = 0;
	int64_t at = 0;
	bool hit = false;

	if (k && cache_meta_get(f->cache, k, &body, &len, &at) == 0)
		hit = f->offline || (now >= at && now - at < f->ttl_s);
	free(body);
	free(k);
	return hit;
}

static void neg_put(struct fetch *f, const char *url, int64_t now)
{
	char *k = neg_key(url);

	if (k)
		cache_meta_put(f->cache, k, "", 0, now);
	free(k);
}

/* Give a request the cached body (taking ownership of it). */
static void answer(struct http_req *r, char *body, size_t len)
{
	r->rc = 0;
	r->status = 200;
	r->body = body;
	r->len = len;
	r->content_type[0] = '\0';
	r->content_length = (int64_t)len;
}

int fetch_do(void *ctx, struct http_req *reqs, size_t n, uint64_t deadline)
{
	struct fetch *f = ctx;
	char **stale = calloc(n ? n : 1, sizeof(*stale));
	size_t *stale_len = calloc(n ? n : 1, sizeof(*stale_len));
	size_t *todo = calloc(n ? n : 1, sizeof(*todo));
	struct http_req *sub = NULL;
	size_t ntodo = 0;
	int64_t now = (int64_t)time(NULL);
	int rc = 0;

	if (!stale || !stale_len || !todo) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct http_req *r = &reqs[i];
		char *body = NULL;
		size_t len = 0;
		int64_t at = 0;

		r->body = NULL;
		r->len = 0;
		if (cacheable(f, r) && !r->refresh &&
		    cache_meta_get(f->cache, r->url, &body, &len, &at) == 0) {
			if (f->offline || (now >= at && now - at < f->ttl_s)) {
				answer(r, body, len);
				atomic_fetch_add(&f->meta_hits, 1);
				continue;
			}
			stale[i] = body;
			stale_len[i] = len;
		} else if (cacheable(f, r) && !r->refresh &&
			   neg_hit(f, r->url, now)) {
			r->rc = -ENOENT;
			r->status = 404;
			r->content_type[0] = '\0';
			r->content_length = -1;
			atomic_fetch_add(&f->meta_hits, 1);
			continue;
		}
		if (f->offline) {
			r->rc = -ENETDOWN;
			r->status = 0;
			atomic_fetch_add(&f->offline_misses, 1);
			continue;
		}
		todo[ntodo++] = i;
	}
	if (ntodo > 0) {
		sub = calloc(ntodo, sizeof(*sub));
		if (!sub) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t k = 0; k < ntodo; k++)
			sub[k] = reqs[todo[k]];
		atomic_fetch_add(&f->requests, ntodo);
		http_fetch(f->http, sub, ntodo, deadline);
		for (size_t k = 0; k < ntodo; k++) {
			size_t i = todo[k];
			struct http_req *r = &reqs[i];

			*r = sub[k];
			if (r->rc == 0 && cacheable(f, r))
				cache_meta_put(f->cache, r->url, r->body,
					       r->len, now);
			else if (r->rc == -ENOENT && r->status == 404 &&
				 cacheable(f, r))
				neg_put(f, r->url, now);
			if (r->rc < 0 && stale[i] && unreachable(r->rc)) {
				char esc[512];

				log_warn(LOG_C_HTTP,
					 "\"%s\" unreachable: serving the copy "
					 "from before",
					 log_escape(r->url, esc, sizeof(esc)));
				http_req_release(r);
				answer(r, stale[i], stale_len[i]);
				stale[i] = NULL;
				atomic_fetch_add(&f->meta_stale, 1);
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (reqs[i].rc < 0 && rc == 0)
			rc = reqs[i].rc;
	}
out:
	for (size_t i = 0; stale && i < n; i++)
		free(stale[i]);
	free(stale);
	free(stale_len);
	free(todo);
	free(sub);
	return rc;
}
