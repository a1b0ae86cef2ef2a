/* SPDX-License-Identifier: MIT */
/*
 * fetch: metadata cache and offline mode in front of http_fetch(). The
 * requests of one batch that the cache cannot answer are sent together,
 * in one call, so paging and chunk batches keep their parallelism.
 *
 * Validate, then store. A 2xx body is a candidate, not an answer: the
 * request's accept (the caller's own parse) runs on it first, and only a
 * body it took is stored or handed back. A proxy's error page, an empty
 * 200 or a mistyped field therefore costs one operation an error and is
 * asked again by the next, instead of being served for the TTL, as the
 * stale copy, and after remounts. The same check runs on every copy read
 * back from the cache: an entry an older version stored without checking
 * is not served, the network is asked, and the next accepted answer
 * overwrites it.
 *
 * What is "unreachable": a refused or timed-out connection, a reset, a
 * 5xx, a body cut short or refused. Then an old copy (that accept takes)
 * is served. A 404 or 403 is an answer and is passed on, not hidden
 * behind an old copy.
 *
 * A 404 is kept, within the TTL, only for requests marked keep_404, under
 * the URL followed by "\n404" (no URL holds a newline).
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
	int (*send)(void *ctx, struct http_req *reqs, size_t n,
		    uint64_t deadline);
	void *send_ctx;
	int64_t ttl_s;
	bool offline;
	atomic_uint_fast64_t requests, meta_hits, meta_stale, offline_misses;
	atomic_uint_fast64_t refused;
};

int fetch_new(const struct fetch_config *cfg, struct fetch **out)
{
	struct fetch *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->http = cfg->http;
	f->cache = cfg->cache;
	f->send = cfg->send;
	f->send_ctx = cfg->send_ctx;
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
	out->refused = atomic_load(&f->refused);
}

/* Only what a parse checks may be kept. */
static bool cacheable(const struct fetch *f, const struct http_req *r)
{
	return f->cache && !r->head && r->range_len == 0 && !r->nocache &&
	       r->accept;
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

/*
 * Give a request a cached body (taking ownership of it) and run its
 * accept on it.
 * @return 0, or accept's error (the body is then freed)
 */
static int answer(struct http_req *r, char *body, size_t len)
{
	r->rc = 0;
	r->status = 200;
	r->body = body;
	r->len = len;
	r->content_type[0] = '\0';
	r->content_length = (int64_t)len;
	r->accepted = false;
	return http_req_accept(r);
}

/* Look a request up in the cache. @return true if it is answered. */
static bool from_cache(struct fetch *f, struct http_req *r, int64_t now,
		       char **stale, size_t *stale_len)
{
	char *body = NULL;
	size_t len = 0;
	int64_t at = 0;
	char esc[512];

	if (!cacheable(f, r) || r->refresh)
		return false;
	if (cache_meta_get(f->cache, r->url, &body, &len, &at) == 0) {
		if (!f->offline && (now < at || now - at >= f->ttl_s)) {
			/* checked only if it is needed */
			*stale = body;
			*stale_len = len;
			return false;
		}
		if (answer(r, body, len) == 0) {
			atomic_fetch_add(&f->meta_hits, 1);
			return true;
		}
		atomic_fetch_add(&f->refused, 1);
		log_warn(LOG_C_HTTP,
			 "the cached answer of \"%s\" is refused: not served",
			 log_escape(r->url, esc, sizeof(esc)));
		return false;
	}
	if (r->keep_404 && neg_hit(f, r->url, now)) {
		r->rc = -ENOENT;
		r->status = 404;
		r->content_type[0] = '\0';
		r->content_length = -1;
		atomic_fetch_add(&f->meta_hits, 1);
		return true;
	}
	return false;
}

/* A request came back from the network: check, keep, or fall back. */
static void settle(struct fetch *f, struct http_req *r, int64_t now,
		   uint64_t deadline, char **stale, size_t stale_len)
{
	char esc[512];
	int net_rc;

	if (r->rc == 0 && r->accept && !r->accepted &&
	    http_now_ms() >= deadline) {
		/* parsing is work too: none starts past the deadline (a batch
		 * of 13 MB answers took seconds more after it) */
		log_error(LOG_C_HTTP,
			  "\"%s\": the deadline passed before the answer could "
			  "be read",
			  log_escape(r->url, esc, sizeof(esc)));
		http_req_release(r);
		r->rc = -ETIMEDOUT;
	}
	if (r->rc == 0 && r->accept && http_req_accept(r) < 0)
		atomic_fetch_add(&f->refused, 1);
	if (r->rc == 0 && cacheable(f, r))
		cache_meta_put(f->cache, r->url, r->body, r->len, now);
	else if (r->rc == -ENOENT && r->status == 404 && r->keep_404 &&
		 cacheable(f, r))
		neg_put(f, r->url, now);
	if (r->rc == 0 || !*stale || !unreachable(r->rc))
		return;
	net_rc = r->rc;
	http_req_release(r);
	if (answer(r, *stale, stale_len) == 0) {
		log_warn(LOG_C_HTTP,
			 "\"%s\" unreachable: serving the copy from before",
			 log_escape(r->url, esc, sizeof(esc)));
		atomic_fetch_add(&f->meta_stale, 1);
	} else {
		atomic_fetch_add(&f->refused, 1);
		r->rc = net_rc;
	}
	*stale = NULL; /* answer() took it */
}

int fetch_do(void *ctx, struct http_req *reqs, size_t n, uint64_t deadline)
{
	/* a parse is work of the operation too: it ends at its deadline */
	for (size_t i = 0; i < n; i++)
		reqs[i].parse_until = deadline;
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

		r->body = NULL;
		r->len = 0;
		r->accepted = false;
		if (from_cache(f, r, now, &stale[i], &stale_len[i]))
			continue;
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
		if (f->send)
			f->send(f->send_ctx, sub, ntodo, deadline);
		else
			http_fetch(f->http, sub, ntodo, deadline);
		for (size_t k = 0; k < ntodo; k++) {
			size_t i = todo[k];

			reqs[i] = sub[k];
			settle(f, &reqs[i], now, deadline, &stale[i],
			       stale_len[i]);
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
