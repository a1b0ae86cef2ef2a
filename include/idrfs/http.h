/* SPDX-License-Identifier: MIT */
/*
 * http: the HTTP client of idrfs, over libcurl. One shared connection pool
 * and cookie jar per client, keep-alive, a cap on connections per host, a
 * deadline per operation, bounded retries with jittered backoff for 5xx,
 * 429, resets and timeouts only, and response bodies read into buffers with
 * a hard cap. Every failure is mapped to an errno in one place and logged
 * with its URL. curl's own trace (verbose) reaches the log with the values
 * of cookies and credentials replaced by "<redacted>".
 *
 * Proxies (-o proxy=URL;URL;DIRECT, CVMFS's model): requests go through the
 * first entry that is not backing off. A proxy that cannot be reached, or
 * that answers with an error page of its own, backs off and the request
 * moves to the next entry at once, without spending a retry. The design
 * note before http_proxy_check() in http.c has the details.
 *
 * Limits: GET and HEAD only; no request body; redirects are not followed
 * (a 3xx is an error: IDR answers 302 to HTML where it switched JSON off);
 * at most HTTP_MAX_HOSTS distinct hosts are capped separately, the rest
 * share one slot pool; at most HTTP_PROXY_MAX proxy entries.
 */
#ifndef IDRFS_HTTP_H
#define IDRFS_HTTP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_client;
struct http_req;

/**
 * Check and map a 2xx answer before anyone keeps it: the caller's real
 * parse, writing its result into @p arg (see struct http_req).
 * @return 0 (accepted), or -errno (refused: the body is not kept, not
 *         stored, and the request fails with that errno)
 */
typedef int (*http_accept_fn)(const struct http_req *r, void *arg);

struct http_config {
	unsigned max_conns;   /* per host, >= 1 */
	unsigned max_retries; /* retries after the first attempt */
	const char *user_agent;
	bool verbose;	   /* route curl's own trace to the log */
	unsigned stall_s;  /* a transfer slower than HTTP_STALL_BPS for this
			    * long is dropped and retried (a stalled or
			    * trickling connection cannot hold a long
			    * deadline); 0: never */
	const char *proxy; /* NULL: curl's defaults (the http_proxy,
			    * https_proxy, all_proxy and no_proxy
			    * variables); else a list checked by
			    * http_proxy_check(), which replaces them;
			    * copied */
	unsigned proxy_backoff_ms;     /* a failed proxy's first backoff;
					* 0: HTTP_PROXY_BACKOFF_MS */
	unsigned proxy_backoff_max_ms; /* the backoff doubles up to this;
					* 0: HTTP_PROXY_BACKOFF_MAX_MS */
	unsigned startup_jitter_ms;    /* the first request waits a random
					* time below this (0: none) */
	bool proxy_forward_https;      /* https:// goes to a proxy in plain
					* HTTP, in absolute form, for it to
					* fetch over TLS and cache (see
					* http.c); else a CONNECT tunnel */
};

/** Entries of a proxy list, DIRECT included. */
#define HTTP_PROXY_MAX 8
/** Backoff of a failed proxy: 30 s, doubling on each failure in a row up
 * to 10 minutes; one answer through it resets it. */
#define HTTP_PROXY_BACKOFF_MS	  30000u
#define HTTP_PROXY_BACKOFF_MAX_MS 600000u

/** Bytes per second under which a transfer counts as stalled. */
#define HTTP_STALL_BPS 100

/**
 * One request of a batch. The caller fills the inputs; http_fetch() fills
 * the outputs.
 *
 * accept: a transport that keeps answers (fetch.h) runs it on every body
 * it would store or hand back, fresh or from its cache, and keeps only
 * what it accepted; http_fetch() itself does not run it. Whoever receives
 * the request back runs it, once, with http_req_accept() if the transport
 * did not (accepted tells). On success accept has written its result
 * into accept_arg, so the body is parsed once; it may be run more than
 * once on different candidates (a fresh body refused, then an old copy),
 * so it must write accept_arg only on success.
 * @note body is heap memory owned by the request after http_fetch(); free
 *       it with http_req_release().
 */
struct http_req {
	/* inputs */
	const char *url;       /* borrowed for the call */
	uint64_t range_off;    /* with range_len > 0: bytes=off-(off+len-1) */
	uint64_t range_len;    /* 0: no Range header */
	size_t max_body;       /* hard cap on the body; larger is -EFBIG */
	bool head;	       /* HEAD instead of GET */
	bool nocache;	       /* not an API answer to keep (pixel data, a
				* session): see fetch.h */
	bool refresh;	       /* skip a cached answer, but store the new one */
	bool keep_404;	       /* a 404 is the real answer, to keep (fetch.h) */
	bool absent_ok;	       /* a 404 is an answer not to keep: a chunk
				* the Zarr array does not store (its fill
				* value); counted with the probes */
	uint64_t parse_until;  /* http_now_ms(): an accept may give up its
				* parse there, -ETIMEDOUT (0: no limit; the
				* transport sets its deadline) */
	http_accept_fn accept; /* NULL: nothing checks the body, and nothing
				* keeps it */
	void *accept_arg;      /* handed to accept */
	/* outputs */
	int rc;	     /* 0 or -errno */
	long status; /* HTTP status, 0 if none was received */
	char *body;  /* NUL-terminated, len bytes before the NUL */
	size_t len;
	char content_type[64];
	char location[256];	/* a redirect's Location (cut), "" if none */
	int64_t content_length; /* from the header, -1 if absent */
	unsigned attempts;
	bool accepted; /* accept ran on body and took it */
};

/**
 * Check a proxy list: entries separated by ';', each "DIRECT" (no proxy)
 * or an http:// URL of a proxy, at most HTTP_PROXY_MAX of them.
 * @param[out] bad,badlen the first entry at fault (inside @p list), on
 *             failure only
 * @return 0, or -EINVAL
 */
int http_proxy_check(const char *list, const char **bad, size_t *badlen);

/** Current CLOCK_MONOTONIC time in milliseconds (deadlines use it). */
uint64_t http_now_ms(void);

/** Init a condition variable whose timed waits run on that clock. */
void http_cond_init(pthread_cond_t *c);

/**
 * Wait on @p c (made by http_cond_init()) with @p m held, until a signal
 * or an http_now_ms() deadline (a wakeup may come early: callers loop).
 * @return 0, or -ETIMEDOUT when the deadline has passed (no wait)
 */
int http_cond_wait(pthread_cond_t *c, pthread_mutex_t *m, uint64_t deadline);

/**
 * Initialise libcurl. Call once, before any thread starts (curl rule).
 * @return 0 or -EIO
 */
int http_global_init(void);
void http_global_cleanup(void);

/**
 * Create a client.
 * @param[out] out the client, written only on success
 * @return 0, -ENOMEM or -EIO
 * @note Thread-safe once created: any number of threads may call
 *       http_fetch() at once.
 */
int http_client_new(const struct http_config *cfg, struct http_client **out);

/** Free a client; NULL is a no-op. No http_fetch() may be in progress. */
void http_client_free(struct http_client *c);

/**
 * Perform @p n requests in parallel (at most max_conns per host at once),
 * retrying transient failures, until all are done or @p deadline_ms
 * (http_now_ms() clock) passes.
 * @param[in,out] reqs requests; each gets rc/status/body
 * @return 0 if every request succeeded, else the first failing request's
 *         rc: -ENOENT (404, 410), -EACCES (401, 403), -ETIMEDOUT (deadline,
 *         408, 504), -EPROTO (3xx, other 4xx), -EIO (5xx, 429 after the
 *         retries), -EBADMSG (truncated body; a 206 whose Content-Range
 *         or length is not the range asked), -EFBIG (body over the cap),
 *         -ECONNREFUSED, -EHOSTUNREACH, -ENOMEM
 * @note Never holds a lock while waiting for the network.
 */
int http_fetch(struct http_client *c, struct http_req *reqs, size_t n,
	       uint64_t deadline_ms);

/** Free the outputs of a request (body); keeps the inputs. */
void http_req_release(struct http_req *r);

/**
 * Run a request's accept on its body if it succeeded, has one and no one
 * ran it yet. A refusal becomes the request's rc and frees the body.
 * @return r->rc afterwards
 */
int http_req_accept(struct http_req *r);

/** Requests made and bytes received since the client was created;
 * errors counts failures only (not the 404s of probes). */
void http_client_stats(struct http_client *c, uint64_t *requests,
		       uint64_t *bytes, uint64_t *errors);

/** 404s answered to requests that expected them (keep_404: a probe such
 * as the zarr.json of a Zarr v2 image; absent_ok: an absent Zarr chunk),
 * counted apart from errors. */
uint64_t http_client_probes(struct http_client *c);

/**
 * The proxy requests go through now (the first entry not backing off),
 * and how many times a request was sent on to the next entry since the
 * client was created.
 * @param[out] buf the proxy's URL without credentials, "DIRECT", or ""
 *             when no list was given (curl's defaults apply)
 */
void http_client_proxy(struct http_client *c, char *buf, size_t size,
		       uint64_t *failovers);

#define HTTP_LAT_BUCKETS 24

/**
 * Transfers running now, and the latency histogram of finished ones:
 * bucket i counts transfers that took less than 2^i ms (the last: more).
 */
void http_client_latency(struct http_client *c, unsigned *inflight,
			 uint64_t hist[HTTP_LAT_BUCKETS]);

/** The p-th percentile (0..100) of a histogram, as an upper bound in ms. */
uint64_t http_percentile(const uint64_t hist[HTTP_LAT_BUCKETS], double p);

#endif
