/* SPDX-License-Identifier: MIT */
/*
 * http: libcurl behind a small batch interface. Every call to http_fetch()
 * drives its own curl multi handle, so a FUSE worker thread can fetch many
 * chunks or listing pages in parallel without sharing easy handles between
 * threads; connections, DNS, TLS sessions and cookies live in one CURLSH
 * shared by all calls (curl's share interface, locked with our mutexes).
 *
 * Retries and deadlines. An operation has one absolute deadline. A request
 * is retried only for transient failures (5xx, 429, 408, resets, a body cut
 * short, curl timeouts) at most max_retries times, after a jittered
 * exponential backoff (or Retry-After) that must end before the deadline.
 * A refused connection is not retried: the server is down, and the caller
 * should learn it at once.
 *
 * Per-host cap. Each transfer holds a slot of its host while it runs; a
 * call that cannot get a slot runs the transfers it already has, or waits
 * on slot_cond (never on the network) when it has none.
 *
 * Proxies: see the note before http_proxy_check().
 */
#include "config.h"

#include "idrfs/http.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "idrfs/log.h"

#define HTTP_MAX_HOSTS		16
#define HTTP_HOST_LEN		256
#define HTTP_BACKOFF_BASE_MS	100
#define HTTP_BACKOFF_MAX_MS	2000
#define HTTP_CONNECT_TIMEOUT_MS 10000
#define HTTP_POLL_MS		100
#define HTTP_URL_LOG		512
#define HTTP_RETRY_AFTER_MAX_S	3600

struct http_host_slot {
	char host[HTTP_HOST_LEN];
	unsigned inflight;
};

struct http_proxy {
	char *url;	     /* NULL: DIRECT */
	uint64_t retry_at;   /* skipped before this http_now_ms() */
	uint64_t backoff_ms; /* the next backoff if it fails */
};

struct http_client {
	CURLSH *share;
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];

	/* lock protects pool, hosts, nhosts and the counters */
	pthread_mutex_t lock;
	pthread_cond_t slot_cond; /* signalled when a host slot frees */
	unsigned slot_gen;	  /* counts frees, so no signal is missed */
	CURL **pool;
	size_t npool;
	size_t cappool;
	struct http_host_slot hosts[HTTP_MAX_HOSTS];
	size_t nhosts;
	uint64_t n_requests;
	uint64_t n_bytes;
	uint64_t n_errors;
	uint64_t n_probes; /* 404s a keep_404 or absent_ok request expected */
	unsigned inflight;
	uint64_t lat_hist[HTTP_LAT_BUCKETS];
	/* the proxy list; retry_at and backoff_ms of each entry are
	 * protected by lock, the rest never changes */
	struct http_proxy proxies[HTTP_PROXY_MAX];
	size_t nproxies; /* 0: no list, curl's defaults */
	bool forward_https;
	uint64_t n_failovers;
	uint64_t proxy_backoff_ms, proxy_backoff_max_ms;
	uint64_t start_at; /* no request starts before (startup jitter) */

	unsigned max_conns;
	unsigned max_retries;
	unsigned stall_s;
	char *user_agent;
	bool verbose;
};

enum xfer_state { XFER_WAIT, XFER_RUN, XFER_DONE };

struct xfer {
	struct http_client *c;
	uint64_t started; /* http_now_ms() of this attempt */
	struct http_req *req;
	CURL *easy;
	enum xfer_state st;
	int slot;
	uint64_t ready_at;
	char *buf;
	size_t len;
	size_t alloc;
	bool overflow;
	long retry_after_ms;
	/* Content-Range of a 206: bytes start-end/total (total -1: "*") */
	bool have_crange;
	uint64_t cr_start, cr_end;
	int64_t cr_total;
	int proxy;	  /* entry of c->proxies used, -1: none */
	unsigned hops;	  /* failovers of this request */
	bool proxy_error; /* the answer is the proxy's own (X-Squid-Error) */
	bool forward;	  /* an https:// URL sent to the proxy in the clear */
	char range[64];
	char errbuf[CURL_ERROR_SIZE];
};

uint64_t http_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void http_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(c, &ca);
	pthread_condattr_destroy(&ca);
}

int http_cond_wait(pthread_cond_t *c, pthread_mutex_t *m, uint64_t deadline)
{
	/* http_now_ms() is CLOCK_MONOTONIC in ms: the deadline is absolute */
	struct timespec ts = {
		.tv_sec = (time_t)(deadline / 1000u),
		.tv_nsec = (long)(deadline % 1000u) * 1000000L,
	};

	if (http_now_ms() >= deadline)
		return -ETIMEDOUT;
	pthread_cond_timedwait(c, m, &ts);
	return 0;
}

int http_global_init(void)
{
	CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (cc != CURLE_OK) {
		log_error(LOG_C_HTTP, "cannot initialise libcurl: %s",
			  curl_easy_strerror(cc));
		return -EIO;
	}
	return 0;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

static void share_lock_cb(CURL *h, curl_lock_data data, curl_lock_access access,
			  void *userp)
{
	struct http_client *c = userp;

	(void)h;
	(void)access;
	pthread_mutex_lock(&c->share_lock[data]);
}

static void share_unlock_cb(CURL *h, curl_lock_data data, void *userp)
{
	struct http_client *c = userp;

	(void)h;
	pthread_mutex_unlock(&c->share_lock[data]);
}

/*
 * Proxies, in CVMFS's model. -o proxy= is an ordered list: "URL;URL;DIRECT".
 * Every attempt goes through the first entry that is not backing off.
 *
 * A proxy has failed when curl could not connect to it (refused, its name
 * unknown, or the connect timed out before any byte), when it refused a
 * CONNECT tunnel (https through it), or when it answered with an error page
 * of its own. Squid marks each page it makes itself, whatever the status,
 * with an X-Squid-Error header (ERR_CONNECT_FAIL, ERR_ACCESS_DENIED, ...);
 * an error of the origin that it passes on carries none. That header is
 * the one reliable sign: a 502, 503 or 504 alone may be the archive's own
 * (IDR's nginx answers 504 when OMERO.web is slow), and other caches
 * (Varnish, nginx) mark nothing, so with them only a failed connection
 * counts. A failed proxy is skipped for its backoff, 30 s doubling on each
 * failure in a row up to 10 minutes (HTTP_PROXY_BACKOFF_MS, reset by one
 * good answer), and the request moves on to the next entry at once,
 * without spending a retry; a request moves on at most once per entry, then
 * the ordinary retry policy decides. When every entry is backing off, the
 * one whose backoff ends first is tried: a list is never "all down" for
 * longer than it takes a proxy to come back. DIRECT means no proxy.
 *
 * The list replaces curl's defaults: with it, the http_proxy, https_proxy,
 * all_proxy and no_proxy variables are ignored (CURLOPT_PROXY and
 * CURLOPT_NOPROXY are set on every attempt). Without it, curl's defaults
 * apply as before.
 *
 * An https:// URL goes through an HTTP proxy as a CONNECT tunnel, which no
 * proxy can cache. With proxy_forward_https (-o proxy_https=forward) it is
 * sent to the proxy itself in plain HTTP instead, with the https:// URL as
 * the request target ("GET https://host/path HTTP/1.1", the absolute form
 * of RFC 9112 3.2.2): squid then fetches it over TLS and keeps it, as it
 * does for http://. curl has no proxy mode for that, so the connection is
 * to the proxy as if it were the origin (CURLOPT_URL is the proxy's URL,
 * CURLOPT_REQUEST_TARGET the real one). What it costs: the request (and
 * the archive's session cookie, kept under the proxy's name) crosses the
 * cluster's network in the clear, and a proxy URL with credentials keeps
 * the tunnel (they would go out as the origin's). Failover is the same.
 */
static bool proxy_is_direct(const char *s, size_t n)
{
	return n == 6 && strncasecmp(s, "DIRECT", 6) == 0;
}

/* One entry "  http://head:3128  " of a list: trimmed start and length. */
static const char *proxy_entry(const char *p, size_t *len, const char **next)
{
	size_t n = strcspn(p, ";");

	*next = p[n] == ';' ? p + n + 1 : NULL;
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	*len = n;
	return p;
}

int http_proxy_check(const char *list, const char **bad, size_t *badlen)
{
	const char *next = list;
	size_t count = 0;

	while (next) {
		size_t n;
		const char *e = proxy_entry(next, &n, &next);
		bool url = n > 7 && strncasecmp(e, "http://", 7) == 0 &&
			   strcspn(e + 7, "/?#;") > 0;

		/* no blank, quote or backslash: .idrfs/stats.json shows it */
		bool odd = strcspn(e, " \t\"\\") < n;

		if ((!url && !proxy_is_direct(e, n)) || odd ||
		    count == HTTP_PROXY_MAX) {
			*bad = e;
			*badlen = n;
			return -EINVAL;
		}
		count++;
	}
	return 0;
}

static int proxy_list_init(struct http_client *c, const char *list)
{
	const char *bad = NULL, *next = list;
	size_t badlen = 0;

	if (http_proxy_check(list, &bad, &badlen) < 0) {
		log_error(LOG_C_HTTP,
			  "proxy entry '%.*s' is not DIRECT or an "
			  "http:// URL",
			  (int)badlen, bad);
		return -EINVAL;
	}
	while (next) {
		size_t n;
		const char *e = proxy_entry(next, &n, &next);
		struct http_proxy *p = &c->proxies[c->nproxies++];

		p->backoff_ms = c->proxy_backoff_ms;
		if (proxy_is_direct(e, n))
			continue;
		p->url = strndup(e, n);
		if (!p->url)
			return -ENOMEM;
	}
	return 0;
}

/* The entry to use now: the first not backing off, else the one whose
 * backoff ends first. -1 without a list. */
static int proxy_pick(struct http_client *c)
{
	uint64_t now = http_now_ms();
	int best = -1;

	if (c->nproxies == 0)
		return -1;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nproxies; i++) {
		if (c->proxies[i].retry_at <= now) {
			best = (int)i;
			break;
		}
		if (best < 0 ||
		    c->proxies[i].retry_at < c->proxies[best].retry_at)
			best = (int)i;
	}
	pthread_mutex_unlock(&c->lock);
	return best;
}

/* "http://user:secret@head:3128" -> "http://head:3128" (for logs and
 * .idrfs/stats, which anyone who can read the mount reads). */
static void proxy_display(const char *url, char *buf, size_t size)
{
	const char *host = url + 7;
	size_t hl = strcspn(host, "/?#");
	const char *at = memchr(host, '@', hl);

	snprintf(buf, size, "http://%s", at ? at + 1 : host);
}

/* A request through entry idx ended: a failed proxy backs off (from now,
 * doubling), an answer makes it the proxy to use again. */
static void proxy_settle(struct http_client *c, int idx, bool failed,
			 const char *why)
{
	struct http_proxy *p;
	uint64_t now = http_now_ms();
	uint64_t wait = 0;
	bool was_up = false;

	if (idx < 0)
		return;
	p = &c->proxies[idx];
	pthread_mutex_lock(&c->lock);
	if (failed) {
		was_up = p->retry_at <= now;
		wait = p->backoff_ms;
		p->retry_at = now + wait;
		p->backoff_ms = p->backoff_ms > c->proxy_backoff_max_ms / 2
					? c->proxy_backoff_max_ms
					: p->backoff_ms * 2;
		c->n_failovers++;
	} else {
		/* it answered: up again, even if picked while backing off */
		p->retry_at = 0;
		p->backoff_ms = c->proxy_backoff_ms;
	}
	pthread_mutex_unlock(&c->lock);
	/* one line when a proxy goes down, not one per request */
	if (failed && was_up) {
		char shown[HTTP_URL_LOG];

		proxy_display(p->url, shown, sizeof(shown));
		log_warn(LOG_C_HTTP,
			 "proxy %s failed (%s); the next entry is used for "
			 "%" PRIu64 " s",
			 shown, why, wait / 1000u);
	}
}

/* @unittest test_http */
#ifdef IDRFS_UNITTEST
uint64_t http_client_start_at(struct http_client *c);
uint64_t http_client_start_at(struct http_client *c)
{
	return c->start_at;
}
#endif

void http_client_proxy(struct http_client *c, char *buf, size_t size,
		       uint64_t *failovers)
{
	int idx = proxy_pick(c);

	if (idx < 0)
		snprintf(buf, size, "%s", "");
	else if (!c->proxies[idx].url)
		snprintf(buf, size, "DIRECT");
	else
		proxy_display(c->proxies[idx].url, buf, size);
	pthread_mutex_lock(&c->lock);
	*failovers = c->n_failovers;
	pthread_mutex_unlock(&c->lock);
}

int http_client_new(const struct http_config *cfg, struct http_client **out)
{
	struct http_client *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;

	if (!c)
		return -ENOMEM;
	c->max_conns = cfg->max_conns ? cfg->max_conns : 1;
	c->max_retries = cfg->max_retries;
	c->stall_s = cfg->stall_s;
	c->verbose = cfg->verbose;
	c->user_agent = strdup(cfg->user_agent ? cfg->user_agent : "idrfs");
	if (!c->user_agent) {
		free(c);
		return -ENOMEM;
	}
	for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_lock[i], NULL);
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->slot_cond, &ca);
	pthread_condattr_destroy(&ca);

	c->proxy_backoff_ms = cfg->proxy_backoff_ms ? cfg->proxy_backoff_ms
						    : HTTP_PROXY_BACKOFF_MS;
	c->proxy_backoff_max_ms = cfg->proxy_backoff_max_ms
					  ? cfg->proxy_backoff_max_ms
					  : HTTP_PROXY_BACKOFF_MAX_MS;
	if (c->proxy_backoff_max_ms < c->proxy_backoff_ms)
		c->proxy_backoff_max_ms = c->proxy_backoff_ms;
	c->forward_https = cfg->proxy_forward_https;
	c->start_at = http_now_ms();
	if (cfg->startup_jitter_ms) {
		struct timespec ts;
		unsigned seed;

		/* differs between the nodes of a cluster started at once */
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (unsigned)ts.tv_nsec ^ (unsigned)getpid() ^
		       (unsigned)(uintptr_t)c;
		c->start_at += (uint64_t)rand_r(&seed) % cfg->startup_jitter_ms;
	}
	c->share = curl_share_init();
	if (!c->share) {
		http_client_free(c);
		return -ENOMEM;
	}
	if (cfg->proxy) {
		int rc = proxy_list_init(c, cfg->proxy);

		if (rc < 0) {
			http_client_free(c);
			return rc;
		}
	}
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock_cb);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock_cb);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE,
			  CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	*out = c;
	return 0;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->npool; i++)
		curl_easy_cleanup(c->pool[i]);
	free(c->pool);
	if (c->share)
		curl_share_cleanup(c->share);
	for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_lock[i]);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->slot_cond);
	for (size_t i = 0; i < c->nproxies; i++)
		free(c->proxies[i].url);
	free(c->user_agent);
	free(c);
}

void http_client_stats(struct http_client *c, uint64_t *requests,
		       uint64_t *bytes, uint64_t *errors)
{
	pthread_mutex_lock(&c->lock);
	*requests = c->n_requests;
	*bytes = c->n_bytes;
	*errors = c->n_errors;
	pthread_mutex_unlock(&c->lock);
}

uint64_t http_client_probes(struct http_client *c)
{
	uint64_t n;

	pthread_mutex_lock(&c->lock);
	n = c->n_probes;
	pthread_mutex_unlock(&c->lock);
	return n;
}

void http_req_release(struct http_req *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

int http_req_accept(struct http_req *r)
{
	int rc;

	if (r->rc != 0 || !r->accept || r->accepted)
		return r->rc;
	rc = r->accept(r, r->accept_arg);
	if (rc < 0) {
		http_req_release(r);
		r->rc = rc;
	} else {
		r->accepted = true;
	}
	return r->rc;
}

/* "host:port" of a URL, the unit of the connection cap. */
static void url_host(const char *url, char *host, size_t hostsz)
{
	const char *p = strstr(url, "://");
	size_t n;

	p = p ? p + 3 : url;
	n = strcspn(p, "/?#");
	if (n >= hostsz)
		n = hostsz - 1;
	memcpy(host, p, n);
	host[n] = '\0';
}

/*
 * Take a slot of the URL's host; -1 if the host is at its cap, with *gen
 * set for slot_wait(). Hosts past the table share its last entry.
 */
static int slot_try_acquire(struct http_client *c, const char *url,
			    unsigned *gen)
{
	char host[HTTP_HOST_LEN];
	int idx = -1;

	url_host(url, host, sizeof(host));
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->nhosts; i++) {
		if (strcmp(c->hosts[i].host, host) == 0) {
			idx = (int)i;
			break;
		}
	}
	if (idx < 0 && c->nhosts < HTTP_MAX_HOSTS) {
		idx = (int)c->nhosts++;
		memcpy(c->hosts[idx].host, host, sizeof(host));
	}
	if (idx < 0)
		idx = HTTP_MAX_HOSTS - 1; /* table full: one shared pool */
	if (c->hosts[idx].inflight >= c->max_conns) {
		idx = -1;
		*gen = c->slot_gen;
	} else {
		c->hosts[idx].inflight++;
	}
	pthread_mutex_unlock(&c->lock);
	return idx;
}

static void slot_release(struct http_client *c, int idx)
{
	pthread_mutex_lock(&c->lock);
	c->hosts[idx].inflight--;
	c->slot_gen++;
	pthread_cond_broadcast(&c->slot_cond);
	pthread_mutex_unlock(&c->lock);
}

/* Wait (not on the network) until a slot was freed since *gen was read,
 * or until `until`. */
static void slot_wait(struct http_client *c, uint64_t until, unsigned gen)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(until / 1000u);
	ts.tv_nsec = (long)(until % 1000u) * 1000000L;
	pthread_mutex_lock(&c->lock);
	while (c->slot_gen == gen &&
	       pthread_cond_timedwait(&c->slot_cond, &c->lock, &ts) == 0)
		;
	pthread_mutex_unlock(&c->lock);
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp);
static size_t header_cb(char *data, size_t size, size_t nmemb, void *userp);
static int debug_cb(CURL *h, curl_infotype type, char *data, size_t size,
		    void *userp);

/*
 * A pooled easy handle. The options that never change are set once, when
 * the handle is made: curl_easy_reset() in libcurl 7.88 does not free the
 * cookie file list, so resetting and setting CURLOPT_COOKIEFILE again on
 * every reuse leaked (curl issue 10694). Per-request options are all set
 * again in xfer_start(), including the ones a request may leave behind.
 */
static CURL *easy_get(struct http_client *c)
{
	CURL *e = NULL;

	pthread_mutex_lock(&c->lock);
	if (c->npool > 0)
		e = c->pool[--c->npool];
	pthread_mutex_unlock(&c->lock);
	if (e)
		return e;
	e = curl_easy_init();
	if (!e)
		return NULL;
	curl_easy_setopt(e, CURLOPT_SHARE, c->share);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
	/* turn the cookie engine on; the jar itself is in the share */
	curl_easy_setopt(e, CURLOPT_COOKIEFILE, "");
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	/* no CURLOPT_PIPEWAIT: with the connection cache shared between
	 * the multi handles of many threads, a transfer told to wait for
	 * another thread's connection to a new host is never woken (curl
	 * wakes pending transfers of the same multi handle only) and hangs
	 * until its deadline: 7 of 8 threads that first met a host at once
	 * timed out (idrfs-warmup, tests/mount-warmup.sh) */
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	if (c->verbose) {
		curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
		curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, debug_cb);
	}
	return e;
}

static void easy_put(struct http_client *c, CURL *e)
{
	pthread_mutex_lock(&c->lock);
	if (c->npool == c->cappool) {
		size_t ncap = c->cappool ? c->cappool * 2 : 8;
		CURL **np = realloc(c->pool, ncap * sizeof(*np));

		if (!np) {
			pthread_mutex_unlock(&c->lock);
			curl_easy_cleanup(e);
			return;
		}
		c->pool = np;
		c->cappool = ncap;
	}
	c->pool[c->npool++] = e;
	pthread_mutex_unlock(&c->lock);
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct xfer *x = userp;
	size_t n = size * nmemb;
	size_t cap = x->req->max_body;

	if (n > cap - x->len || (x->len > cap)) {
		x->overflow = true;
		return 0;
	}
	if (n + 1 > x->alloc - x->len) {
		size_t na = x->alloc ? x->alloc : 16384;
		char *nb;

		while (na - x->len < n + 1)
			na *= 2;
		if (na > cap + 1)
			na = cap + 1;
		nb = realloc(x->buf, na);
		if (!nb)
			return 0;
		x->buf = nb;
		x->alloc = na;
	}
	memcpy(x->buf + x->len, data, n);
	x->len += n;
	x->buf[x->len] = '\0';
	return n;
}

static bool header_is(const char *line, size_t len, const char *name,
		      const char **value, size_t *vlen)
{
	size_t nl = strlen(name);

	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return false;
	line += nl + 1;
	len -= nl + 1;
	while (len > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		len--;
	}
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n' ||
			   line[len - 1] == ' '))
		len--;
	*value = line;
	*vlen = len;
	return true;
}

/* A decimal number of at most 18 digits (it fits an int64_t); the rest
 * after it in *end. */
static int parse_dec18(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9' && n < 18) {
		v = v * 10u + (uint64_t)(s[n] - '0');
		n++;
	}
	if (n == 0 || (s[n] >= '0' && s[n] <= '9'))
		return -EINVAL;
	*out = v;
	*end = s + n;
	return 0;
}

/*
 * "bytes START-END/TOTAL" (TOTAL may be "*": *total = -1), RFC 9110
 * 14.4; the unsatisfied form "bytes * /TOTAL" is not a range.
 * @unittest test_http
 */
#ifdef IDRFS_UNITTEST
int http_parse_crange(const char *v, uint64_t *start, uint64_t *end,
		      int64_t *total);
#else
static
#endif
int http_parse_crange(const char *v, uint64_t *start, uint64_t *end,
		      int64_t *total)
{
	uint64_t a, b, t;
	const char *p;

	if (strncasecmp(v, "bytes ", 6) != 0)
		return -EINVAL;
	if (parse_dec18(v + 6, &a, &p) < 0 || *p != '-')
		return -EINVAL;
	if (parse_dec18(p + 1, &b, &p) < 0 || *p != '/' || b < a)
		return -EINVAL;
	if (strcmp(p + 1, "*") == 0) {
		t = UINT64_MAX;
	} else if (parse_dec18(p + 1, &t, &p) < 0 || *p != '\0' || b >= t) {
		return -EINVAL;
	}
	*start = a;
	*end = b;
	*total = t == UINT64_MAX ? -1 : (int64_t)t;
	return 0;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct xfer *x = userp;
	size_t n = size * nmemb;
	const char *v;
	size_t vl;
	char tmp[32];

	if (header_is(data, n, "Content-Type", &v, &vl)) {
		if (vl >= sizeof(x->req->content_type))
			vl = sizeof(x->req->content_type) - 1;
		memcpy(x->req->content_type, v, vl);
		x->req->content_type[vl] = '\0';
	} else if (header_is(data, n, "Location", &v, &vl)) {
		if (vl >= sizeof(x->req->location))
			vl = sizeof(x->req->location) - 1;
		memcpy(x->req->location, v, vl);
		x->req->location[vl] = '\0';
	} else if (header_is(data, n, "Content-Length", &v, &vl) &&
		   vl < sizeof(tmp)) {
		memcpy(tmp, v, vl);
		tmp[vl] = '\0';
		x->req->content_length = strtoll(tmp, NULL, 10);
	} else if (header_is(data, n, "Content-Range", &v, &vl) &&
		   vl < sizeof(tmp)) {
		memcpy(tmp, v, vl);
		tmp[vl] = '\0';
		x->have_crange =
			http_parse_crange(tmp, &x->cr_start, &x->cr_end,
					  &x->cr_total) == 0;
	} else if (header_is(data, n, "X-Squid-Error", &v, &vl)) {
		x->proxy_error = true;
	} else if (header_is(data, n, "Retry-After", &v, &vl) &&
		   vl < sizeof(tmp)) {
		memcpy(tmp, v, vl);
		tmp[vl] = '\0';
		/* only the delta-seconds form; an HTTP date is ignored */
		if (tmp[0] >= '0' && tmp[0] <= '9') {
			long sec = strtol(tmp, NULL, 10);

			if (sec > HTTP_RETRY_AFTER_MAX_S)
				sec = HTTP_RETRY_AFTER_MAX_S;
			x->retry_after_ms = sec * 1000L;
		}
	}
	return n;
}

/*
 * A line of curl's trace made fit for a log: the value of a header that
 * carries a secret (a session cookie is a login) and the rest of curl's
 * own cookie lines ("Added cookie sessionid=... for domain ...") become
 * "<redacted>"; the names stay, so the trace still shows what happened.
 * @unittest test_http
 */
#ifdef IDRFS_UNITTEST
void http_trace_redact(bool header, const char *line, size_t len, char *out,
		       size_t outsz);
#else
static
#endif
void http_trace_redact(bool header, const char *line, size_t len, char *out,
		       size_t outsz)
{
	static const char *const secret[] = {
		"Cookie",
		"Set-Cookie",
		"Authorization",
		"Proxy-Authorization",
	};
	size_t keep = len;

	if (header) {
		size_t colon = 0;

		while (colon < len && line[colon] != ':')
			colon++;
		for (size_t i = 0;
		     colon < len && i < sizeof(secret) / sizeof(secret[0]);
		     i++) {
			if (strlen(secret[i]) == colon &&
			    strncasecmp(line, secret[i], colon) == 0)
				keep = colon + 1;
		}
	} else {
		for (size_t i = 0; i + 6 <= len && keep == len; i++) {
			if (strncasecmp(line + i, "cookie", 6) == 0)
				keep = i + 6;
		}
	}
	bool redact = keep < len;

	if (keep > outsz - 1)
		keep = outsz - 1;
	memcpy(out, line, keep);
	out[keep] = '\0';
	if (redact)
		snprintf(out + keep, outsz - keep, " <redacted>");
}

static int debug_cb(CURL *h, curl_infotype type, char *data, size_t size,
		    void *userp)
{
	const char *dir = type == CURLINFO_HEADER_IN	? "< "
			  : type == CURLINFO_HEADER_OUT ? "> "
							: "";

	(void)h;
	(void)userp;
	if (type != CURLINFO_TEXT && type != CURLINFO_HEADER_IN &&
	    type != CURLINFO_HEADER_OUT)
		return 0;
	/* a request's headers come as one block: one log line each */
	while (size > 0) {
		char line[512];
		char esc[1024];
		size_t n = 0, next;

		while (n < size && data[n] != '\n')
			n++;
		next = n < size ? n + 1 : n;
		while (n > 0 && data[n - 1] == '\r')
			n--;
		if (n > 0) {
			http_trace_redact(type != CURLINFO_TEXT, data, n, line,
					  sizeof(line));
			log_debug(LOG_C_HTTP, "curl: %s%s", dir,
				  log_escape(line, esc, sizeof(esc)));
		}
		data += next;
		size -= next;
	}
	return 0;
}

static int xfer_start(struct xfer *x, CURLM *multi, uint64_t deadline)
{
	struct http_req *r = x->req;
	uint64_t now = http_now_ms();
	uint64_t left = deadline > now ? deadline - now : 1;
	CURL *e = easy_get(x->c);

	if (!e)
		return -ENOMEM;
	x->easy = e;
	x->len = 0;
	if (x->buf)
		x->buf[0] = '\0'; /* no body of an earlier attempt shows */
	x->overflow = false;
	x->retry_after_ms = -1;
	x->have_crange = false;
	x->proxy_error = false;
	x->errbuf[0] = '\0';
	r->content_type[0] = '\0';
	r->location[0] = '\0';
	r->content_length = -1;
	r->attempts++;

	x->proxy = proxy_pick(x->c);
	const char *purl = x->proxy >= 0 ? x->c->proxies[x->proxy].url : NULL;

	x->forward = purl && x->c->forward_https &&
		     strncasecmp(r->url, "https://", 8) == 0 &&
		     !strchr(purl, '@');
	if (x->forward) {
		/* to the proxy in the clear: it fetches over TLS */
		curl_easy_setopt(e, CURLOPT_URL, purl);
		curl_easy_setopt(e, CURLOPT_REQUEST_TARGET, r->url);
		curl_easy_setopt(e, CURLOPT_PROXY, "");
		curl_easy_setopt(e, CURLOPT_NOPROXY, "");
	} else {
		curl_easy_setopt(e, CURLOPT_URL, r->url);
		curl_easy_setopt(e, CURLOPT_REQUEST_TARGET, NULL);
	}
	if (x->proxy >= 0 && !x->forward) {
		/* "" is no proxy, and overrides the environment */
		curl_easy_setopt(e, CURLOPT_PROXY, purl ? purl : "");
		curl_easy_setopt(e, CURLOPT_NOPROXY, "");
	}
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(left < HTTP_CONNECT_TIMEOUT_MS
					? left
					: HTTP_CONNECT_TIMEOUT_MS));
	if (x->c->stall_s) {
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT,
				 (long)HTTP_STALL_BPS);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
				 (long)x->c->stall_s);
	}
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	/* a HEAD has no body to cap */
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
			 (curl_off_t)(r->head ? 0 : r->max_body));
	curl_easy_setopt(e, CURLOPT_NOBODY, r->head ? 1L : 0L);
	if (!r->head)
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	if (r->range_len > 0) {
		snprintf(x->range, sizeof(x->range), "%" PRIu64 "-%" PRIu64,
			 r->range_off, r->range_off + r->range_len - 1);
		curl_easy_setopt(e, CURLOPT_RANGE, x->range);
		curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
	} else {
		curl_easy_setopt(e, CURLOPT_RANGE, NULL);
		/* compressed transfer of JSON; never on ranges */
		curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	}
	if (curl_multi_add_handle(multi, e) != CURLM_OK) {
		easy_put(x->c, e);
		x->easy = NULL;
		return -ENOMEM;
	}
	x->st = XFER_RUN;
	x->started = http_now_ms();
	pthread_mutex_lock(&x->c->lock);
	x->c->inflight++;
	pthread_mutex_unlock(&x->c->lock);
	return 0;
}

static bool is_transient(CURLcode cc, long status)
{
	switch (cc) {
	case CURLE_OK:
		return status >= 500 || status == 429 || status == 408;
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/*
 * The one translation of curl codes and HTTP statuses to errno, and the one
 * place that logs a failed request with its URL.
 * @unittest test_http
 */
#ifdef IDRFS_UNITTEST
int http_status_to_errno(CURLcode cc, long status, bool overflow,
			 bool deadline_passed, const char *url,
			 const char *detail);
#else
static
#endif
int http_status_to_errno(CURLcode cc, long status, bool overflow,
			 bool deadline_passed, const char *url,
			 const char *detail)
{
	char esc[HTTP_URL_LOG];
	int rc;

	if (overflow)
		rc = -EFBIG;
	else if (deadline_passed)
		rc = -ETIMEDOUT;
	else if (cc == CURLE_OK) {
		if (status >= 200 && status < 300)
			return 0;
		if (status == 404 || status == 410)
			rc = -ENOENT;
		else if (status == 401 || status == 403)
			rc = -EACCES;
		else if (status == 408 || status == 504)
			rc = -ETIMEDOUT;
		else if (status >= 500 || status == 429)
			rc = -EIO;
		else
			rc = -EPROTO; /* 1xx, 3xx, other 4xx */
	} else {
		switch (cc) {
		case CURLE_OPERATION_TIMEDOUT:
			rc = -ETIMEDOUT;
			break;
		case CURLE_COULDNT_CONNECT:
			rc = -ECONNREFUSED;
			break;
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
			rc = -EHOSTUNREACH;
			break;
		case CURLE_PARTIAL_FILE:
		case CURLE_BAD_CONTENT_ENCODING:
			rc = -EBADMSG;
			break;
		case CURLE_FILESIZE_EXCEEDED:
			rc = -EFBIG;
			break;
		case CURLE_OUT_OF_MEMORY:
			rc = -ENOMEM;
			break;
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
			rc = -EINVAL;
			break;
		default:
			rc = -EIO;
			break;
		}
	}
	log_escape(url, esc, sizeof(esc));
	/* a 404 is an answer (a missing chunk is the fill value) */
	if (rc == -ENOENT)
		log_info(LOG_C_HTTP, "GET \"%s\": HTTP %ld", esc, status);
	else if (cc == CURLE_OK && !overflow && !deadline_passed)
		log_error(LOG_C_HTTP, "GET \"%s\": HTTP %ld", esc, status);
	else
		log_error(LOG_C_HTTP, "GET \"%s\": %s%s%s", esc,
			  overflow	    ? "response larger than its cap"
			  : deadline_passed ? "deadline passed"
					    : curl_easy_strerror(cc),
			  detail && *detail ? ": " : "", detail ? detail : "");
	return rc;
}

static uint64_t backoff_ms(const struct xfer *x, unsigned *seed)
{
	uint64_t b = HTTP_BACKOFF_BASE_MS;

	if (x->retry_after_ms >= 0)
		return (uint64_t)x->retry_after_ms;
	for (unsigned i = 1; i < x->req->attempts && b < HTTP_BACKOFF_MAX_MS;
	     i++)
		b *= 2;
	if (b > HTTP_BACKOFF_MAX_MS)
		b = HTTP_BACKOFF_MAX_MS;
	/* jitter in [b/2, 3b/2) so that many clients do not retry together */
	return b / 2 + (uint64_t)rand_r(seed) % (b ? b : 1);
}

/*
 * A 206 must be the range asked for: its Content-Range starts where the
 * request did and ends where it did (or, short, at the resource's end),
 * and the body is that long. Anything else would put bytes at the wrong
 * offsets of a file.
 */
static int check_partial(const struct xfer *x)
{
	const struct http_req *r = x->req;
	uint64_t last = r->range_off + r->range_len - 1;
	bool ok =
		x->have_crange && x->cr_start == r->range_off &&
		x->cr_end <= last &&
		(x->cr_end == last ||
		 (x->cr_total >= 0 && x->cr_end + 1 == (uint64_t)x->cr_total));
	char esc[HTTP_URL_LOG];

	if (ok && x->len == x->cr_end - x->cr_start + 1)
		return 0;
	log_escape(r->url, esc, sizeof(esc));
	if (!x->have_crange)
		log_error(LOG_C_HTTP,
			  "GET \"%s\": 206 without a valid Content-Range", esc);
	else
		log_error(LOG_C_HTTP,
			  "GET \"%s\": 206 of bytes %" PRIu64 "-%" PRIu64
			  " (%zu bytes) where %" PRIu64 "-%" PRIu64
			  " was asked",
			  esc, x->cr_start, x->cr_end, x->len, r->range_off,
			  last);
	return -EBADMSG;
}

/*
 * Did the proxy of this attempt fail (see the proxy note)? Only a failure
 * of the proxy itself: curl talks to nobody else when one is set.
 */
static const char *proxy_failure(const struct xfer *x, CURLcode cc, long status,
				 uint64_t deadline)
{
	long connect_code = 0;
	curl_off_t connect_us = 0;

	if (x->proxy < 0 || !x->c->proxies[x->proxy].url)
		return NULL;
	curl_easy_getinfo(x->easy, CURLINFO_HTTP_CONNECTCODE, &connect_code);
	curl_easy_getinfo(x->easy, CURLINFO_CONNECT_TIME_T, &connect_us);
	if (cc == CURLE_COULDNT_CONNECT)
		return "cannot connect";
	if (cc == CURLE_COULDNT_RESOLVE_PROXY ||
	    (x->forward && cc == CURLE_COULDNT_RESOLVE_HOST))
		return "unknown host";
	if (cc == CURLE_OPERATION_TIMEDOUT && connect_us == 0 &&
	    http_now_ms() < deadline)
		return "connect timed out";
	if (connect_code >= 300)
		return "tunnel refused";
	if (cc == CURLE_OK && status >= 400 && x->proxy_error)
		return "an error page of its own";
	return NULL;
}

/* A transfer ended: retry it later, or settle its result. */
static void xfer_done(struct xfer *x, CURLM *multi, CURLcode cc,
		      uint64_t deadline, unsigned *seed)
{
	struct http_client *c = x->c;
	struct http_req *r = x->req;
	long status = 0;
	uint64_t now;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	const char *pfail = proxy_failure(x, cc, status, deadline);

	curl_multi_remove_handle(multi, x->easy);
	easy_put(c, x->easy);
	x->easy = NULL;
	slot_release(c, x->slot);
	x->slot = -1;
	r->status = status;

	uint64_t took = http_now_ms() - x->started;
	unsigned b = 0;

	while (b + 1 < HTTP_LAT_BUCKETS && took >= (1ull << b))
		b++;
	pthread_mutex_lock(&c->lock);
	c->n_requests++;
	c->n_bytes += x->len;
	c->inflight--;
	c->lat_hist[b]++;
	pthread_mutex_unlock(&c->lock);

	proxy_settle(c, x->proxy, pfail != NULL, pfail);
	now = http_now_ms();
	if (pfail && x->hops + 1 < c->nproxies && now < deadline) {
		/* on to the next entry now; not a retry of the request */
		x->hops++;
		r->attempts--;
		x->st = XFER_WAIT;
		x->ready_at = now;
		return;
	}
	if (cc == CURLE_WRITE_ERROR && x->overflow)
		cc = CURLE_FILESIZE_EXCEEDED;
	if (!x->overflow && is_transient(cc, status) &&
	    r->attempts <= c->max_retries) {
		uint64_t wait = backoff_ms(x, seed);

		if (now + wait < deadline) {
			char esc[HTTP_URL_LOG];

			log_debug(LOG_C_HTTP,
				  "GET \"%s\": %s (HTTP %ld), retry %u in "
				  "%" PRIu64 " ms",
				  log_escape(r->url, esc, sizeof(esc)),
				  curl_easy_strerror(cc), status, r->attempts,
				  wait);
			x->st = XFER_WAIT;
			x->ready_at = now + wait;
			return;
		}
	}
	x->st = XFER_DONE;
	if (cc == CURLE_OK && status == 200 && r->range_len > 0 && !r->head) {
		char esc[HTTP_URL_LOG];

		/* the whole resource where a part was asked: not what we
		 * can use, and maybe far larger than the cap */
		log_error(LOG_C_HTTP, "GET \"%s\": the server ignored Range",
			  log_escape(r->url, esc, sizeof(esc)));
		r->rc = -EPROTO;
		pthread_mutex_lock(&c->lock);
		c->n_errors++;
		pthread_mutex_unlock(&c->lock);
		return;
	}
	r->rc = http_status_to_errno(cc, status, x->overflow,
				     cc == CURLE_OPERATION_TIMEDOUT &&
					     now >= deadline,
				     r->url, x->errbuf);
	if (r->rc == 0 && status == 206 && r->range_len > 0 && !r->head)
		r->rc = check_partial(x);
	if (r->rc == 0) {
		r->body = x->buf ? x->buf : calloc(1, 1);
		r->len = x->len;
		x->buf = NULL;
		x->alloc = 0;
		if (!r->body)
			r->rc = -ENOMEM;
	} else {
		pthread_mutex_lock(&c->lock);
		/* a 404 the request asked to learn (the Zarr v3 probe of a
		 * v2 image, an absent chunk) is an answer, not a failure */
		if (r->rc == -ENOENT && status == 404 &&
		    (r->keep_404 || r->absent_ok))
			c->n_probes++;
		else
			c->n_errors++;
		pthread_mutex_unlock(&c->lock);
	}
}

static void xfer_abandon(struct xfer *x, CURLM *multi, int rc)
{
	if (x->st == XFER_RUN) {
		pthread_mutex_lock(&x->c->lock);
		x->c->inflight--;
		pthread_mutex_unlock(&x->c->lock);
		curl_multi_remove_handle(multi, x->easy);
		easy_put(x->c, x->easy);
		x->easy = NULL;
		slot_release(x->c, x->slot);
		x->slot = -1;
	}
	x->st = XFER_DONE;
	x->req->rc = rc;
}

int http_fetch(struct http_client *c, struct http_req *reqs, size_t n,
	       uint64_t deadline_ms)
{
	struct xfer *xs = NULL;
	CURLM *multi = NULL;
	size_t left = n;
	unsigned seed = (unsigned)(http_now_ms() ^ (uintptr_t)reqs);
	int rc = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		reqs[i].rc = -EIO;
		reqs[i].status = 0;
		reqs[i].body = NULL;
		reqs[i].len = 0;
		reqs[i].attempts = 0;
		reqs[i].accepted = false;
		reqs[i].content_type[0] = '\0';
		reqs[i].content_length = -1;
	}
	xs = calloc(n, sizeof(*xs));
	multi = curl_multi_init();
	if (!xs || !multi) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		xs[i].c = c;
		xs[i].req = &reqs[i];
		xs[i].st = XFER_WAIT;
		xs[i].slot = -1;
		xs[i].proxy = -1;
		xs[i].ready_at = c->start_at; /* startup jitter */
	}

	while (left > 0) {
		uint64_t now = http_now_ms();
		uint64_t next_ready = UINT64_MAX;
		size_t running = 0;
		bool starved = false;
		bool finished = false;
		unsigned gen = 0;
		int still;
		CURLMsg *msg;
		int q;

		if (now >= deadline_ms) {
			for (size_t i = 0; i < n; i++) {
				if (xs[i].st == XFER_DONE)
					continue;
				char esc[HTTP_URL_LOG];

				log_error(LOG_C_HTTP,
					  "GET \"%s\": deadline passed",
					  log_escape(reqs[i].url, esc,
						     sizeof(esc)));
				xfer_abandon(&xs[i], multi, -ETIMEDOUT);
				left--;
			}
			break;
		}
		for (size_t i = 0; i < n; i++) {
			struct xfer *x = &xs[i];

			if (x->st == XFER_RUN)
				running++;
			if (x->st != XFER_WAIT || x->ready_at > now)
				continue;
			x->slot = slot_try_acquire(c, reqs[i].url, &gen);
			if (x->slot < 0) {
				starved = true;
				continue;
			}
			int src = xfer_start(x, multi, deadline_ms);

			if (src < 0) {
				slot_release(c, x->slot);
				x->slot = -1;
				x->st = XFER_DONE;
				reqs[i].rc = src;
				left--;
				continue;
			}
			running++;
		}

		curl_multi_perform(multi, &still);
		while ((msg = curl_multi_info_read(multi, &q)) != NULL) {
			struct xfer *x = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					  (char **)&x);
			xfer_done(x, multi, msg->data.result, deadline_ms,
				  &seed);
			if (x->st == XFER_DONE)
				left--;
			running--;
			finished = true;
		}
		if (left == 0)
			break;
		/* a transfer of ours ended: its slot or retry may be ready */
		if (finished)
			continue;

		now = http_now_ms();
		for (size_t i = 0; i < n; i++) {
			if (xs[i].st == XFER_WAIT && xs[i].ready_at > now &&
			    xs[i].ready_at < next_ready)
				next_ready = xs[i].ready_at;
		}
		uint64_t until = deadline_ms;

		if (next_ready < until)
			until = next_ready;
		if (now + HTTP_POLL_MS < until)
			until = now + HTTP_POLL_MS;
		if (running > 0) {
			curl_multi_poll(multi, NULL, 0,
					until > now ? (int)(until - now) : 0,
					NULL);
		} else if (starved) {
			slot_wait(c, until, gen);
		} else if (until > now) {
			struct timespec ts = {
				.tv_sec = (time_t)((until - now) / 1000u),
				.tv_nsec = (long)((until - now) % 1000u) *
					   1000000L,
			};
			nanosleep(&ts, NULL);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (reqs[i].rc < 0 && rc == 0)
			rc = reqs[i].rc;
	}
out:
	if (xs) {
		for (size_t i = 0; i < n; i++) {
			if (xs[i].st == XFER_RUN)
				xfer_abandon(&xs[i], multi, -EIO);
			free(xs[i].buf);
		}
	}
	if (multi)
		curl_multi_cleanup(multi);
	free(xs);
	return rc;
}

void http_client_latency(struct http_client *c, unsigned *inflight,
			 uint64_t hist[HTTP_LAT_BUCKETS])
{
	pthread_mutex_lock(&c->lock);
	*inflight = c->inflight;
	memcpy(hist, c->lat_hist, sizeof(c->lat_hist));
	pthread_mutex_unlock(&c->lock);
}

uint64_t http_percentile(const uint64_t hist[HTTP_LAT_BUCKETS], double p)
{
	uint64_t total = 0, seen = 0;

	for (unsigned i = 0; i < HTTP_LAT_BUCKETS; i++)
		total += hist[i];
	if (total == 0)
		return 0;
	for (unsigned i = 0; i < HTTP_LAT_BUCKETS; i++) {
		seen += hist[i];
		if ((double)seen >= p / 100.0 * (double)total)
			return 1ull << i;
	}
	return 1ull << (HTTP_LAT_BUCKETS - 1);
}
