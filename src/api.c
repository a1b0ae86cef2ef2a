/* SPDX-License-Identifier: MIT */
/*
 * api: URLs of the OMERO JSON API and paging. A list is fetched with one
 * request for its first page, whose meta block gives the total and the
 * page size the server really used (IDR clamps limit to 1000 silently),
 * then every remaining page in one parallel batch. So a 10 000-image
 * dataset costs 10 requests and about two round trips.
 *
 * Lists are ordered by lower(name) and names are not unique, so ties may
 * shuffle between pages (idr-api.md 3.3); the tree drops duplicate ids.
 */
#include "config.h"

#include "idrfs/api.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "idrfs/arith.h"
#include "idrfs/log.h"

#define API_URL_MAX 2048
/* pages fetched in one parallel batch, and pages of one list at most */
#define API_PAGE_BATCH 32
/* threads fetching and parsing the pages of a batch: as many requests in
 * flight as the default connection cap, each page parsed as it arrives */
#define API_PAGE_THREADS 8
#define API_MAX_PAGES	 100000
/* hosts other than the API's that Zarr data was seen on (each logged
 * once; more are logged every time) */
#define API_HOSTS_MAX 64
#define API_HOST_LEN  256

/*
 * Parse budget. jansson holds a document in 6 to 25 times its text (6.5x
 * measured on a 4.5 MB page of 1000 images; small numbers and arrays cost
 * the most), and up to API_PAGE_THREADS pages of a listing, of several
 * listings, are parsed at once. So the bytes being parsed at once are
 * bounded by API_PARSE_BUDGET: a parse waits (until its operation's
 * deadline) for room; a body larger than the budget waits until it can
 * be parsed alone. 16 MiB: three pages of 1000 images at once (about
 * 100 MB of documents), 400 MB at the worst expansion.
 */
#define API_PARSE_BUDGET (16u << 20)

struct api {
	char *base; /* no trailing slash */
	struct api_transport tr;
	atomic_uint_fast64_t requests;

	/* lock protects parsing and the hosts seen; never held across a
	 * request or a parse */
	pthread_mutex_t lock;
	pthread_cond_t parse_cond; /* parsing went down */
	size_t parsing;		   /* body bytes being parsed */
	char hosts[API_HOSTS_MAX][API_HOST_LEN];
	size_t nhosts;
};

int api_new(const char *base_url, const struct api_transport *tr,
	    struct api **out)
{
	struct api *a;
	pthread_condattr_t ca;
	size_t n;

	if (strncmp(base_url, "http://", 7) != 0 &&
	    strncmp(base_url, "https://", 8) != 0)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->base = strdup(base_url);
	if (!a->base) {
		free(a);
		return -ENOMEM;
	}
	n = strlen(a->base);
	while (n > 0 && a->base[n - 1] == '/')
		a->base[--n] = '\0';
	a->tr = *tr;
	atomic_init(&a->requests, 0);
	pthread_mutex_init(&a->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->parse_cond, &ca);
	pthread_condattr_destroy(&ca);
	*out = a;
	return 0;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->parse_cond);
	free(a->base);
	free(a);
}

const char *api_base_url(const struct api *a)
{
	return a->base;
}

uint64_t api_requests(const struct api *a)
{
	return atomic_load(&((struct api *)a)->requests);
}

unsigned api_pixel_bytes(enum api_pixel_type t)
{
	switch (t) {
	case API_PT_INT8:
	case API_PT_UINT8:
		return 1;
	case API_PT_INT16:
	case API_PT_UINT16:
		return 2;
	case API_PT_INT32:
	case API_PT_UINT32:
	case API_PT_FLOAT:
		return 4;
	case API_PT_DOUBLE:
		return 8;
	default:
		return 0;
	}
}

/* An answer that should be JSON but is a web page (mapr's redirect target,
 * a login page, a proxy error). */
static int check_json(const struct http_req *r)
{
	char esc[512];

	if (strncmp(r->content_type, "text/html", 9) == 0) {
		log_error(
			LOG_C_API,
			"\"%s\" answered an HTML page where JSON was expected",
			log_escape(r->url, esc, sizeof(esc)));
		return -EBADMSG;
	}
	return 0;
}

/*
 * Wait for room to parse len bytes (see API_PARSE_BUDGET), until the
 * deadline; api_parse_end() gives the room back.
 * @return 0 or -ETIMEDOUT (logged with the URL)
 * @unittest test_api
 */
#ifdef IDRFS_UNITTEST
int api_parse_begin(struct api *a, size_t len, uint64_t deadline,
		    const char *url);
void api_parse_end(struct api *a, size_t len);
#else
static
#endif
int api_parse_begin(struct api *a, size_t len, uint64_t deadline,
		    const char *url)
{
	struct timespec ts = {.tv_sec = (time_t)(deadline / 1000u),
			      .tv_nsec = (long)(deadline % 1000u) * 1000000L};
	char esc[512];
	int rc = 0;

	pthread_mutex_lock(&a->lock);
	/* with nothing else being parsed, any body may be (alone) */
	while (rc == 0 && a->parsing > 0 &&
	       (a->parsing >= API_PARSE_BUDGET ||
		len > API_PARSE_BUDGET - a->parsing))
		rc = pthread_cond_timedwait(&a->parse_cond, &a->lock, &ts);
	if (rc == 0)
		a->parsing += len;
	pthread_mutex_unlock(&a->lock);
	if (rc == 0)
		return 0;
	log_error(LOG_C_API,
		  "\"%s\": deadline passed waiting for memory to parse %zu "
		  "bytes",
		  log_escape(url, esc, sizeof(esc)), len);
	return -ETIMEDOUT;
}

#ifndef IDRFS_UNITTEST
static
#endif
	void
	api_parse_end(struct api *a, size_t len)
{
	pthread_mutex_lock(&a->lock);
	a->parsing -= len;
	pthread_cond_broadcast(&a->parse_cond);
	pthread_mutex_unlock(&a->lock);
}

/*
 * What every accept of a request sent through the api runs first: the
 * answer is not an HTML page, and its parse fits the parse budget.
 */
struct accept_wrap {
	struct api *a;
	uint64_t deadline;
	http_accept_fn fn;
	void *arg;
};

static int accept_wrapped(const struct http_req *r, void *arg)
{
	struct accept_wrap *w = arg;
	int rc = check_json(r);

	if (rc == 0)
		rc = api_parse_begin(w->a, r->len, w->deadline, r->url);
	if (rc < 0)
		return rc;
	rc = w->fn(r, w->arg);
	api_parse_end(w->a, r->len);
	return rc;
}

/*
 * Send requests through the transport. Each request's accept runs, once,
 * on its answer (in the transport when it keeps answers, else here), so
 * what is kept and what the caller gets are what the caller's parse took.
 */
static int fetch(struct api *a, struct http_req *reqs, size_t n,
		 uint64_t deadline)
{
	struct accept_wrap *w = calloc(n ? n : 1, sizeof(*w));
	int rc;

	if (!w)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!reqs[i].accept)
			continue;
		w[i] = (struct accept_wrap){a, deadline, reqs[i].accept,
					    reqs[i].accept_arg};
		reqs[i].accept = accept_wrapped;
		reqs[i].accept_arg = &w[i];
	}
	atomic_fetch_add(&a->requests, n);
	rc = a->tr.fetch(a->tr.ctx, reqs, n, deadline);
	for (size_t i = 0; i < n; i++) {
		if (!w[i].fn)
			continue;
		if (http_req_accept(&reqs[i]) < 0 && rc == 0)
			rc = reqs[i].rc;
		reqs[i].accept = w[i].fn;
		reqs[i].accept_arg = w[i].arg;
	}
	free(w);
	return rc;
}

typedef int (*list_parse_fn)(const char *body, size_t len, const char *what,
			     void **items, size_t *n, struct api_meta *meta);
typedef void (*list_free_fn)(void *items, size_t n);

struct list_kind {
	size_t item_size;
	list_parse_fn parse;
	list_free_fn free;
	size_t max_body; /* cap on one page's body */
};

/* Append src (n items) to *dst (dn items); src's storage is freed. */
static int append(const struct list_kind *k, void **dst, size_t *dn, void *src,
		  size_t n)
{
	size_t total, bytes;
	char *nd;

	if (n == 0) {
		free(src);
		return 0;
	}
	if (*dn == 0) {
		*dst = src;
		*dn = n;
		return 0;
	}
	if (arith_add_size(*dn, n, &total) < 0 ||
	    arith_mul_size(total, k->item_size, &bytes) < 0)
		nd = NULL;
	else
		nd = realloc(*dst, bytes);
	if (!nd) {
		k->free(src, n);
		return -ENOMEM;
	}
	memcpy(nd + *dn * k->item_size, src, n * k->item_size);
	free(src);
	*dst = nd;
	*dn += n;
	return 0;
}

/*
 * Run fn(ctx, i) for every i < n on up to API_PAGE_THREADS threads (the
 * caller is one of them). Each fn touches only its own slot.
 */
struct par {
	void (*fn)(void *ctx, size_t i);
	void *ctx;
	size_t n;
	atomic_size_t next;
};

static void *par_worker(void *arg)
{
	struct par *p = arg;
	size_t i;

	while ((i = atomic_fetch_add(&p->next, 1)) < p->n)
		p->fn(p->ctx, i);
	return NULL;
}

static void run_parallel(size_t n, void (*fn)(void *ctx, size_t i), void *ctx)
{
	struct par p = {.fn = fn, .ctx = ctx, .n = n};
	pthread_t th[API_PAGE_THREADS - 1];
	size_t nth = 0;

	atomic_init(&p.next, 0);
	for (size_t i = 0; i + 1 < n && i < API_PAGE_THREADS - 1; i++)
		if (pthread_create(&th[nth], NULL, par_worker, &p) == 0)
			nth++;
	par_worker(&p);
	for (size_t i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
}

/*
 * One page of a listing: fetched, checked and parsed by one worker, so
 * that the pages are parsed while the server still computes the others
 * (a 10 000-image listing is 45 MB of JSON; parsing it after the whole
 * batch had arrived doubled the time). The body is freed once parsed.
 */
struct page_job {
	struct api *a;
	const struct list_kind *k;
	uint64_t deadline;
	int64_t limit; /* asked for: a page never holds more */
	char url[API_URL_MAX];
	void *items;
	size_t n;
	struct api_meta meta;
	int rc;
};

/* The accept of a page: its parse, into the job, and the item cap. */
static int page_accept(const struct http_req *r, void *arg)
{
	struct page_job *j = arg;
	struct api_meta meta;
	void *items = NULL;
	size_t n = 0;
	char esc[512];
	int rc;

	rc = j->k->parse(r->body, r->len, r->url, &items, &n, &meta);
	if (rc < 0)
		return rc;
	if ((int64_t)n > j->limit) {
		log_error(LOG_C_API,
			  "bad answer from \"%s\": %zu items where at most "
			  "%" PRId64 " were asked for",
			  log_escape(r->url, esc, sizeof(esc)), n, j->limit);
		j->k->free(items, n);
		return -EBADMSG;
	}
	j->items = items;
	j->n = n;
	j->meta = meta;
	return 0;
}

static void fetch_page(void *ctx, size_t i)
{
	struct page_job *j = (struct page_job *)ctx + i;
	struct http_req r = {.url = j->url,
			     .max_body = j->k->max_body,
			     .accept = page_accept,
			     .accept_arg = j};

	j->rc = fetch(j->a, &r, 1, j->deadline);
	http_req_release(&r);
}

/* Append the pages of a batch in order of their offsets; the first
 * failure is the result, and every page's items are freed either way. */
static int append_batch(const struct list_kind *k, struct page_job *jobs,
			size_t nb, void **all, size_t *nall)
{
	int rc = 0;

	for (size_t i = 0; i < nb; i++) {
		if (rc == 0)
			rc = jobs[i].rc;
		if (rc == 0)
			rc = append(k, all, nall, jobs[i].items, jobs[i].n);
		else if (jobs[i].rc == 0)
			k->free(jobs[i].items, jobs[i].n);
	}
	return rc;
}

static int page_url(char *buf, size_t bufsz, const struct api *a,
		    const char *path, int64_t limit, int64_t offset)
{
	int n = snprintf(buf, bufsz, "%s%s%climit=%" PRId64 "&offset=%" PRId64,
			 a->base, path, strchr(path, '?') ? '&' : '?', limit,
			 offset);

	return n < 0 || (size_t)n >= bufsz ? -ENAMETOOLONG : 0;
}

/*
 * A whole listing, in pages of API_PAGE_LIMIT. The first page gives the
 * total and the page size the server really uses (servers clamp limit);
 * the others are then fetched in bounded parallel batches. When the
 * caller expects more than a page (the parent listing's childCount), the
 * first batch is sent at once, page 0 included; if the server turns out
 * to clamp below API_PAGE_LIMIT, the pages after page 0 are dropped and
 * fetched again at its page size.
 */
static int fetch_list(struct api *a, const char *path,
		      const struct list_kind *k, int64_t expect,
		      uint64_t deadline, void **out, size_t *nout)
{
	struct page_job *jobs = calloc(API_PAGE_BATCH, sizeof(*jobs));
	const char *url0;
	void *all = NULL;
	size_t nall = 0, nspec = 1;
	struct api_meta meta;
	int64_t page, next;
	int rc;

	if (!jobs)
		return -ENOMEM;
	if (expect > API_PAGE_LIMIT) {
		int64_t want = (expect + API_PAGE_LIMIT - 1) / API_PAGE_LIMIT;

		nspec = want < API_PAGE_BATCH ? (size_t)want : API_PAGE_BATCH;
	}
	for (size_t i = 0; i < nspec; i++) {
		jobs[i] = (struct page_job){.a = a,
					    .k = k,
					    .deadline = deadline,
					    .limit = API_PAGE_LIMIT};
		rc = page_url(jobs[i].url, API_URL_MAX, a, path, API_PAGE_LIMIT,
			      (int64_t)i * API_PAGE_LIMIT);
		if (rc < 0) {
			free(jobs);
			return rc;
		}
	}
	run_parallel(nspec, fetch_page, jobs);
	url0 = jobs[0].url;
	meta = jobs[0].meta;
	page = (int64_t)jobs[0].n; /* what the server really gave */
	if (jobs[0].rc == 0 && page < API_PAGE_LIMIT) {
		/* clamped (or the whole list): only page 0 counts */
		for (size_t i = 1; i < nspec; i++)
			if (jobs[i].rc == 0)
				k->free(jobs[i].items, jobs[i].n);
		nspec = 1;
	}
	rc = append_batch(k, jobs, nspec, &all, &nall);
	if (rc < 0)
		goto out;
	if (meta.total_count > (int64_t)API_MAX_ITEMS) {
		log_error(LOG_C_API, "\"%s\": %" PRId64 " objects is too many",
			  url0, meta.total_count);
		rc = -EFBIG;
		goto out;
	}
	next = nspec == 1 ? page : (int64_t)nspec * API_PAGE_LIMIT;
	if (next < meta.total_count && page > 0) {
		size_t total =
			(size_t)((meta.total_count - next + page - 1) / page);

		if (total > API_MAX_PAGES) {
			log_error(LOG_C_API,
				  "\"%s\": %zu pages of %" PRId64
				  " is too many",
				  url0, total, page);
			rc = -EFBIG;
			goto out;
		}
		/* bounded batches: memory does not grow with a lying total */
		for (size_t done = 0; done < total;) {
			size_t nb = total - done < API_PAGE_BATCH
					    ? total - done
					    : API_PAGE_BATCH;
			int64_t off0 = next + (int64_t)done * page;

			for (size_t i = 0; i < nb; i++) {
				jobs[i] =
					(struct page_job){.a = a,
							  .k = k,
							  .deadline = deadline,
							  .limit = page};
				rc = page_url(jobs[i].url, API_URL_MAX, a, path,
					      page, off0 + (int64_t)i * page);
				if (rc < 0)
					goto out;
			}
			run_parallel(nb, fetch_page, jobs);
			rc = append_batch(k, jobs, nb, &all, &nall);
			if (rc < 0)
				goto out;
			done += nb;
		}
	}
	*out = all;
	*nout = nall;
	all = NULL;
	nall = 0;
out:
	if (all)
		k->free(all, nall);
	free(jobs);
	return rc;
}

void api_containers_free(struct api_container *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

void api_images_free(struct api_image *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		api_image_release(&v[i]);
	free(v);
}

void api_wells_free(struct api_well *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		api_well_release(&v[i]);
	free(v);
}

static int parse_containers(const char *b, size_t l, const char *w, void **i,
			    size_t *n, struct api_meta *m)
{
	return api_json_containers(b, l, w, (struct api_container **)i, n, m);
}

static void free_containers(void *v, size_t n)
{
	api_containers_free(v, n);
}

static int parse_images(const char *b, size_t l, const char *w, void **i,
			size_t *n, struct api_meta *m)
{
	return api_json_images(b, l, w, (struct api_image **)i, n, m);
}

static void free_images(void *v, size_t n)
{
	api_images_free(v, n);
}

static int parse_wells(const char *b, size_t l, const char *w, void **i,
		       size_t *n, struct api_meta *m)
{
	return api_json_wells(b, l, w, (struct api_well **)i, n, m);
}

static void free_wells(void *v, size_t n)
{
	api_wells_free(v, n);
}

static const struct list_kind containers_kind = {
	sizeof(struct api_container), parse_containers, free_containers,
	API_PAGE_MAX_BODY};
static const struct list_kind images_kind = {
	sizeof(struct api_image), parse_images, free_images, API_PAGE_MAX_BODY};
/* a well carries its fields: 1000 wells are not bounded by the limit */
static const struct list_kind wells_kind = {
	sizeof(struct api_well), parse_wells, free_wells, API_MAX_BODY};

static int list_containers(struct api *a, const char *path, uint64_t deadline,
			   struct api_container **out, size_t *n)
{
	return fetch_list(a, path, &containers_kind, -1, deadline, (void **)out,
			  n);
}

int api_list_projects(struct api *a, uint64_t deadline,
		      struct api_container **out, size_t *n)
{
	return list_containers(a, "/api/v0/m/projects/?childCount=true",
			       deadline, out, n);
}

int api_list_screens(struct api *a, uint64_t deadline,
		     struct api_container **out, size_t *n)
{
	return list_containers(a, "/api/v0/m/screens/?childCount=true",
			       deadline, out, n);
}

/* The containers at /api/v0/m/<kind>/<id>/<rest> */
static int list_related(struct api *a, const char *kind, int64_t id,
			const char *rest, uint64_t deadline,
			struct api_container **out, size_t *n)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v0/m/%s/%" PRId64 "/%s", kind, id,
		 rest);
	return list_containers(a, path, deadline, out, n);
}

int api_list_datasets(struct api *a, int64_t project_id, uint64_t deadline,
		      struct api_container **out, size_t *n)
{
	return list_related(a, "projects", project_id,
			    "datasets/?childCount=true", deadline, out, n);
}

int api_list_plates(struct api *a, int64_t screen_id, uint64_t deadline,
		    struct api_container **out, size_t *n)
{
	return list_related(a, "screens", screen_id, "plates/", deadline, out,
			    n);
}

int api_image_datasets(struct api *a, int64_t image_id, uint64_t deadline,
		       struct api_container **out, size_t *n)
{
	return list_related(a, "images", image_id, "datasets/", deadline, out,
			    n);
}

int api_dataset_projects(struct api *a, int64_t dataset_id, uint64_t deadline,
			 struct api_container **out, size_t *n)
{
	return list_related(a, "datasets", dataset_id, "projects/", deadline,
			    out, n);
}

int api_list_images(struct api *a, int64_t dataset_id, uint64_t deadline,
		    struct api_image **out, size_t *n)
{
	return api_list_images_expect(a, dataset_id, -1, deadline, out, n);
}

int api_list_images_expect(struct api *a, int64_t dataset_id, int64_t expect,
			   uint64_t deadline, struct api_image **out, size_t *n)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v0/m/datasets/%" PRId64 "/images/",
		 dataset_id);
	return fetch_list(a, path, &images_kind, expect, deadline, (void **)out,
			  n);
}

int api_list_wells(struct api *a, int64_t plate_id, uint64_t deadline,
		   struct api_well **out, size_t *n)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v0/m/plates/%" PRId64 "/wells/",
		 plate_id);
	return fetch_list(a, path, &wells_kind, -1, deadline, (void **)out, n);
}

static int accept_well(const struct http_req *r, void *out)
{
	return api_json_well(r->body, r->len, r->url, out);
}

static int accept_image(const struct http_req *r, void *out)
{
	return api_json_image(r->body, r->len, r->url, out);
}

/* One object, /api/v0/m/{kind}/{id}/, mapped by accept into arg. */
static int get_object(struct api *a, const char *kind, int64_t id,
		      http_accept_fn accept, void *arg, uint64_t deadline)
{
	char url[API_URL_MAX];
	struct http_req r = {.url = url,
			     .max_body = API_MAX_BODY,
			     .accept = accept,
			     .accept_arg = arg};
	int rc;

	snprintf(url, sizeof(url), "%s/api/v0/m/%s/%" PRId64 "/", a->base, kind,
		 id);
	rc = fetch(a, &r, 1, deadline);
	http_req_release(&r);
	return rc;
}

int api_get_well(struct api *a, int64_t well_id, uint64_t deadline,
		 struct api_well *out)
{
	struct api_well w;
	int rc = get_object(a, "wells", well_id, accept_well, &w, deadline);

	if (rc == 0)
		*out = w;
	return rc;
}

int api_get_image(struct api *a, int64_t image_id, uint64_t deadline,
		  struct api_image *out)
{
	struct api_image img;
	int rc =
		get_object(a, "images", image_id, accept_image, &img, deadline);

	if (rc == 0)
		*out = img;
	return rc;
}

/* imgData, or the back-off of a "busy, come back" answer. */
struct imgdata_answer {
	struct api_imgdata d;
	int64_t backoff_ms;
};

/* A busy answer is refused (-EAGAIN): it is no answer to keep. */
static int accept_imgdata(const struct http_req *r, void *arg)
{
	struct imgdata_answer *ans = arg;
	struct api_imgdata d = {0};
	int rc = api_json_imgdata(r->body, r->len, r->url, &d);

	if (rc < 0)
		return rc;
	if (d.backoff_ms > 0) {
		ans->backoff_ms = d.backoff_ms;
		api_imgdata_release(&d);
		return -EAGAIN;
	}
	ans->d = d;
	return 0;
}

/*
 * How long to wait after a busy answer: the server's backOff within
 * [API_BUSY_MIN_MS, API_BUSY_MAX_MS] (a backOff of 1 ms must not become a
 * tight loop, nor one of an hour a hang), then spread by +-25% so that
 * many clients do not come back together.
 * @unittest test_api
 */
#ifdef IDRFS_UNITTEST
uint64_t api_busy_wait_ms(int64_t backoff_ms, unsigned *seed);
#else
static
#endif
uint64_t api_busy_wait_ms(int64_t backoff_ms, unsigned *seed)
{
	uint64_t b = backoff_ms < API_BUSY_MIN_MS   ? API_BUSY_MIN_MS
		     : backoff_ms > API_BUSY_MAX_MS ? API_BUSY_MAX_MS
						    : (uint64_t)backoff_ms;
	uint64_t w = b - b / 4 + (uint64_t)rand_r(seed) % (b / 2 + 1);

	return w < API_BUSY_MIN_MS ? API_BUSY_MIN_MS : w;
}

int api_get_imgdata(struct api *a, int64_t image_id, uint64_t deadline,
		    struct api_imgdata *out)
{
	char url[API_URL_MAX];
	unsigned seed = (unsigned)(http_now_ms() ^ (uint64_t)image_id);
	int rc;

	snprintf(url, sizeof(url), "%s/webgateway/imgData/%" PRId64 "/",
		 a->base, image_id);
	for (;;) {
		struct imgdata_answer ans = {.backoff_ms = 0};
		struct http_req r = {.url = url,
				     .max_body = API_MAX_BODY,
				     .accept = accept_imgdata,
				     .accept_arg = &ans};

		rc = fetch(a, &r, 1, deadline);
		http_req_release(&r);
		if (rc == 0) {
			*out = ans.d;
			return 0;
		}
		if (rc != -EAGAIN)
			return rc;
		/* the rendering engine is busy (a pyramid being built) */
		uint64_t wait = api_busy_wait_ms(ans.backoff_ms, &seed);

		if (http_now_ms() + wait >= deadline) {
			log_error(LOG_C_API,
				  "\"%s\": server still busy at the deadline",
				  url);
			return -ETIMEDOUT;
		}
		log_debug(LOG_C_API, "\"%s\": busy, retry in %" PRIu64 " ms",
			  url, wait);
		struct timespec ts = {.tv_sec = (time_t)(wait / 1000u),
				      .tv_nsec =
					      (long)(wait % 1000u) * 1000000L};
		nanosleep(&ts, NULL);
	}
}

int api_session(struct api *a, uint64_t deadline)
{
	char url[API_URL_MAX];
	/* never from the metadata cache: the point is the cookie */
	struct http_req r = {.url = url, .max_body = 4u << 20, .nocache = true};
	int rc;

	snprintf(url, sizeof(url), "%s/webclient/?experimenter=-1", a->base);
	rc = fetch(a, &r, 1, deadline);
	http_req_release(&r);
	return rc;
}

int api_render_url(const struct api *a, const struct api_imgdata *d, uint32_t z,
		   uint32_t t, uint32_t y0, uint32_t h, char *out, size_t outsz)
{
	size_t o;
	int n;
	unsigned active = 0;

	n = snprintf(out, outsz,
		     "%s/webgateway/render_image_region/%" PRId64
		     "/%u/%u/?region=0,%u,%u,%u&c=",
		     a->base, d->id, z, t, y0, d->size_x, h);
	if (n < 0 || (size_t)n >= outsz)
		return -ENAMETOOLONG;
	o = (size_t)n;
	for (size_t i = 0; i < d->nchannels; i++) {
		const struct api_channel *ch = &d->channels[i];
		/* the service takes at most 10 active channels */
		bool on = ch->active && active < 10;

		if (on)
			active++;
		/* '|' and '$' percent-encoded: they are not URL-safe */
		n = snprintf(
			out + o, outsz - o, "%s%s%zu%%7C%.17g:%.17g%%24%06X",
			i ? "," : "", on ? "" : "-", i + 1, ch->window_start,
			ch->window_end, (unsigned)(ch->color_rgb & 0xffffffu));
		if (n < 0 || (size_t)n >= outsz - o)
			return -ENAMETOOLONG;
		o += (size_t)n;
	}
	n = snprintf(out + o, outsz - o, "&m=c&format=png");
	if (n < 0 || (size_t)n >= outsz - o)
		return -ENAMETOOLONG;
	return 0;
}

void api_files_free(struct api_file *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].path);
		free(v[i].url);
	}
	free(v);
}

/* A path segment that is "." or ".." once percent-decoded ("%2e%2e"):
 * a server that decodes twice would walk up with it. */
static bool dot_segment(const char *p, size_t n)
{
	size_t dots = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '.')
			dots++;
		else if (p[i] == '%' && i + 2 < n && p[i + 1] == '2' &&
			 (p[i + 2] == 'e' || p[i + 2] == 'E')) {
			dots++;
			i += 2;
		} else
			return false;
	}
	return dots == 1 || dots == 2;
}

/* A relative path we may show: no "..", no empty or "." segments (also
 * percent-encoded), no control characters (the names become directory
 * entries). */
static bool safe_rel_path(const char *p)
{
	if (*p == '\0' || *p == '/')
		return false;
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 0 || dot_segment(p, n) || n > 255)
			return false;
		for (size_t i = 0; i < n; i++) {
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
				return false;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

/* Length of the directory part all paths share ("a/b/" of "a/b/x"). */
static size_t common_dir(char **paths, size_t n)
{
	size_t len;

	if (n == 0)
		return 0;
	len = strlen(paths[0]);
	for (size_t i = 1; i < n; i++) {
		size_t j = 0;

		while (j < len && paths[i][j] && paths[i][j] == paths[0][j])
			j++;
		len = j;
	}
	while (len > 0 && paths[0][len - 1] != '/')
		len--;
	return len;
}

#define API_FILESETS_PREFIX "uod/idr/filesets/"

/* The path of a client path on the download root. */
static const char *root_rel(const char *p)
{
	size_t n = strlen(API_FILESETS_PREFIX);

	return strncmp(p, API_FILESETS_PREFIX, n) == 0 ? p + n : p;
}

/*
 * root + "/" + rel with each segment percent-encoded, so that '?', '#',
 * '%', spaces and non-ASCII bytes in a file name stay in the path.
 * @return 0, -ENOMEM, -ENAMETOOLONG (a segment over 255 bytes)
 * @unittest test_api
 */
#ifdef IDRFS_UNITTEST
int api_file_url(const char *root, const char *rel, char **out);
#else
static
#endif
int api_file_url(const char *root, const char *rel, char **out)
{
	size_t cap = strlen(root) + 3 * strlen(rel) + 2, o;
	char *u = malloc(cap);
	char seg[3 * 255 + 1];

	if (!u)
		return -ENOMEM;
	o = (size_t)snprintf(u, cap, "%s", root);
	while (*rel) {
		size_t n = strcspn(rel, "/");
		char raw[256];
		int rc = -ENAMETOOLONG;

		/* segments are at most 255 bytes (safe_rel_path) */
		if (n < sizeof(raw)) {
			memcpy(raw, rel, n);
			raw[n] = '\0';
			rc = api_url_escape(raw, seg, sizeof(seg));
		}
		if (rc < 0) {
			free(u);
			return rc;
		}
		o += (size_t)snprintf(u + o, cap - o, "/%s", seg);
		rel += n;
		if (*rel == '/')
			rel++;
	}
	*out = u;
	return 0;
}

struct paths_answer {
	char **v;
	size_t n;
	bool zarr_meta; /* keep only Zarr metadata files */
};

/* Is the last segment of a path a Zarr metadata file? */
static bool zarr_meta_file(const char *p)
{
	static const char *const names[] = {".zattrs", ".zgroup", ".zarray",
					    "zarr.json"};
	const char *base = strrchr(p, '/');

	base = base ? base + 1 : p;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(base, names[i]) == 0)
			return true;
	}
	return false;
}

/* Whether a path below the common directory is within the caps (levels,
 * bytes) and safe to put in a URL. */
static bool orig_path_ok(const char *full, const char *p)
{
	size_t len = strnlen(p, API_ORIG_PATH_MAX + 1), depth = 1;

	if (len > API_ORIG_PATH_MAX || !safe_rel_path(p) ||
	    !safe_rel_path(root_rel(full)))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '/' && ++depth > API_ORIG_DEPTH_MAX)
			return false;
	}
	return true;
}

/* The accept of original_file_paths: parsed and within the count cap; a
 * path too deep, too long or unsafe is left out, logged once, and the
 * rest kept. */
static int accept_paths(const struct http_req *r, void *arg)
{
	struct paths_answer *ans = arg;
	char esc[512], epath[512];
	char **v = NULL;
	size_t n = 0, skip, kept = 0;
	int rc;

	rc = api_json_client_paths(r->body, r->len, r->url, &v, &n);
	if (rc < 0)
		return rc;
	log_escape(r->url, esc, sizeof(esc));
	if (ans->zarr_meta) {
		/* a converted fileset lists every chunk: its metadata is
		 * what says where the images are */
		for (size_t i = 0; i < n; i++) {
			if (zarr_meta_file(v[i]))
				v[kept++] = v[i];
			else
				free(v[i]);
		}
		n = kept;
		kept = 0;
	}
	if (n > API_ORIG_MAX_FILES) {
		log_error(LOG_C_API,
			  "\"%s\": %zu original files, more than %u: not "
			  "listed",
			  esc, n, API_ORIG_MAX_FILES);
		api_strings_free(v, n);
		return -EFBIG;
	}
	skip = common_dir(v, n);
	for (size_t i = 0; i < n; i++) {
		if (orig_path_ok(v[i], v[i] + skip)) {
			v[kept++] = v[i];
			continue;
		}
		if (i == kept) /* the first left out */
			log_escape(v[i], epath, sizeof(epath));
		free(v[i]);
	}
	if (kept < n)
		log_warn(LOG_C_API,
			 "\"%s\": %zu original file path(s) left out (unsafe, "
			 "more than %u levels or %u bytes); the first is "
			 "\"%s\"",
			 esc, n - kept, API_ORIG_DEPTH_MAX, API_ORIG_PATH_MAX,
			 epath);
	ans->v = v;
	ans->n = kept;
	return 0;
}

int api_client_paths(struct api *a, int64_t image_id, bool zarr_meta,
		     uint64_t deadline, char ***paths, size_t *n)
{
	char url[API_URL_MAX];
	struct paths_answer ans = {NULL, 0, zarr_meta};
	struct http_req r = {.url = url,
			     .max_body = API_MAX_BODY,
			     .accept = accept_paths,
			     .accept_arg = &ans};
	int rc;

	snprintf(url, sizeof(url),
		 "%s/webgateway/original_file_paths/%" PRId64 "/", a->base,
		 image_id);
	rc = fetch(a, &r, 1, deadline);
	http_req_release(&r);
	if (rc < 0) {
		api_strings_free(ans.v, ans.n);
		return rc;
	}
	*paths = ans.v;
	*n = ans.n;
	return 0;
}

int api_client_url(const char *root, const char *client_path, char **out)
{
	return api_file_url(root, root_rel(client_path), out);
}

int api_original_files(struct api *a, int64_t image_id, const char *root,
		       uint64_t deadline, struct api_file **out, size_t *n)
{
	struct http_req *heads = NULL;
	struct api_file *files = NULL;
	char **paths = NULL;
	size_t np = 0, skip;
	int rc;

	rc = api_client_paths(a, image_id, false, deadline, &paths, &np);
	if (rc < 0)
		return rc;
	skip = common_dir(paths, np);
	files = calloc(np ? np : 1, sizeof(*files));
	heads = calloc(np ? np : 1, sizeof(*heads));
	if (!files || !heads) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < np; i++) {
		files[i].path = strdup(paths[i] + skip);
		rc = files[i].path ? api_file_url(root, root_rel(paths[i]),
						  &files[i].url)
				   : -ENOMEM;
		if (rc < 0)
			goto out;
		heads[i].url = files[i].url;
		heads[i].head = true;
		heads[i].max_body = 1;
	}
	rc = fetch(a, heads, np, deadline);
	for (size_t i = 0; rc == 0 && i < np; i++) {
		char esc[512];

		if (heads[i].content_length < 0) {
			log_error(LOG_C_API, "\"%s\": no Content-Length",
				  log_escape(files[i].url, esc, sizeof(esc)));
			rc = -EBADMSG;
		}
		files[i].size = (uint64_t)heads[i].content_length;
	}
	if (rc == 0) {
		*out = files;
		*n = np;
		files = NULL;
	}
out:
	for (size_t i = 0; heads && i < np; i++)
		http_req_release(&heads[i]);
	free(heads);
	api_files_free(files, np);
	api_strings_free(paths, np);
	return rc;
}

/* ---- requests for other modules, and key/values in bulk ---- */

int api_fetch(struct api *a, struct http_req *reqs, size_t n, uint64_t deadline)
{
	return fetch(a, reqs, n, deadline);
}

int api_check_json(const struct http_req *r)
{
	return check_json(r);
}

int api_accept_multiscales(const struct http_req *r, void *out)
{
	int rc = check_json(r);

	return rc < 0 ? rc : api_json_multiscales(r->body, r->len, r->url, out);
}

int api_accept_zarray(const struct http_req *r, void *out)
{
	int rc = check_json(r);

	return rc < 0 ? rc : api_json_zarray(r->body, r->len, r->url, out);
}

int api_accept_zarr3_array(const struct http_req *r, void *out)
{
	int rc = check_json(r);

	return rc < 0 ? rc : api_json_zarr3_array(r->body, r->len, r->url, out);
}

/* The authority of an http(s) URL ("host:port"): *len bytes at the
 * result; NULL if the URL is not http(s). */
static const char *url_authority(const char *url, size_t *len)
{
	const char *p;

	if (strncasecmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		p = url + 8;
	else
		return NULL;
	*len = strcspn(p, "/?#");
	return p;
}

int api_check_data_url(struct api *a, const char *what, const char *url)
{
	char esc[512], ehost[API_HOST_LEN * 4];
	const char *host, *own;
	size_t hl, ol;
	bool seen = false;

	host = url_authority(url, &hl);
	own = url_authority(a->base, &ol);
	if (host && memchr(host, '@', hl)) {
		/* not logged: the user information may be a password */
		log_error(LOG_C_API,
			  "%s: data URL with user information refused", what);
		return -EINVAL;
	}
	if (!host || hl == 0 || hl >= API_HOST_LEN) {
		log_error(LOG_C_API,
			  "%s: data URL \"%s\" refused: not an http(s) URL "
			  "of a host",
			  what, log_escape(url, esc, sizeof(esc)));
		return -EINVAL;
	}
	if (own && ol == hl && strncasecmp(own, host, hl) == 0)
		return 0;
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->nhosts && !seen; i++)
		seen = strlen(a->hosts[i]) == hl &&
		       strncasecmp(a->hosts[i], host, hl) == 0;
	if (!seen && a->nhosts < API_HOSTS_MAX) {
		memcpy(a->hosts[a->nhosts], host, hl);
		a->hosts[a->nhosts][hl] = '\0';
		a->nhosts++;
	}
	pthread_mutex_unlock(&a->lock);
	if (!seen) {
		char h[API_HOST_LEN];

		memcpy(h, host, hl);
		h[hl] = '\0';
		log_notice(LOG_C_API,
			   "%s: data on host \"%s\", not the API's: \"%s\"",
			   what, log_escape(h, ehost, sizeof(ehost)),
			   log_escape(url, esc, sizeof(esc)));
	}
	return 0;
}

int api_url_escape(const char *in, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		bool plain = (*p >= 'A' && *p <= 'Z') ||
			     (*p >= 'a' && *p <= 'z') ||
			     (*p >= '0' && *p <= '9') || *p == '-' ||
			     *p == '.' || *p == '_' || *p == '~';

		if ((plain ? 1u : 3u) >= outsz - o)
			return -ENAMETOOLONG;
		if (plain) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (o >= outsz)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return 0;
}

/* Requests of one parallel round, with their URLs. */
struct round {
	struct http_req *reqs;
	char **urls;
	size_t n;
};

static int round_alloc(struct round *r, size_t n)
{
	r->n = 0;
	r->reqs = calloc(n ? n : 1, sizeof(*r->reqs));
	r->urls = calloc(n ? n : 1, sizeof(*r->urls));
	return r->reqs && r->urls ? 0 : -ENOMEM;
}

static void round_free(struct round *r)
{
	for (size_t i = 0; r->reqs && i < r->n; i++) {
		http_req_release(&r->reqs[i]);
		free(r->urls[i]);
	}
	free(r->reqs);
	free(r->urls);
	memset(r, 0, sizeof(*r));
}

/* Add a request for url (taken over: freed by round_free). */
static void round_add(struct round *r, char *url)
{
	r->urls[r->n] = url;
	r->reqs[r->n].url = url;
	r->reqs[r->n].max_body = API_MAX_BODY;
	r->n++;
}

int api_get_wells(struct api *a, const int64_t *ids, size_t n,
		  uint64_t deadline, struct api_well *out)
{
	struct round r;
	struct api_well *w = calloc(n ? n : 1, sizeof(*w));
	size_t done = 0;
	int rc;

	rc = w ? round_alloc(&r, n) : -ENOMEM;
	if (rc < 0) {
		free(w);
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		char *url = NULL;

		if (asprintf(&url, "%s/api/v0/m/wells/%" PRId64 "/", a->base,
			     ids[i]) < 0) {
			rc = -ENOMEM;
			goto out;
		}
		round_add(&r, url);
		r.reqs[i].accept = accept_well;
		r.reqs[i].accept_arg = &w[i];
	}
	if (n > 0)
		rc = fetch(a, r.reqs, n, deadline);
	done = n;
	if (rc == 0) {
		memcpy(out, w, n * sizeof(*w));
		done = 0;
	}
out:
	/* the wells that were parsed before another failed */
	for (size_t i = 0; i < done && i < r.n; i++) {
		if (r.reqs[i].rc == 0 && r.reqs[i].accepted)
			api_well_release(&w[i]);
	}
	free(w);
	round_free(&r);
	return rc;
}

void api_kvsets_free(struct api_kvset *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		if (v[i].kvs)
			api_kvs_free(v[i].kvs, v[i].n);
	}
	free(v);
}

/* Append the values of annotation an to set (its strings move). */
static int kvset_take(struct api_kvset *set, struct api_annotation *an)
{
	struct api_kv *nv;

	if (an->nvalues == 0)
		return 0;
	nv = realloc(set->kvs, (set->n + an->nvalues) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	memcpy(nv + set->n, an->values, an->nvalues * sizeof(*nv));
	set->kvs = nv;
	set->n += an->nvalues;
	free(an->values);
	an->values = NULL;
	an->nvalues = 0;
	return 0;
}

struct id_pos {
	int64_t id;
	size_t pos;
};

static int id_pos_cmp(const void *a, const void *b)
{
	const struct id_pos *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* One request of map annotations, fetched and parsed by one worker. */
struct ann_job {
	struct api *a;
	uint64_t deadline;
	struct http_req *req;
	const char *url;
	struct api_annotation *anns;
	size_t n;
	int rc;
};

static int accept_anns(const struct http_req *r, void *arg)
{
	struct ann_job *j = arg;

	return api_json_map_annotations(r->body, r->len, r->url, &j->anns,
					&j->n);
}

static void fetch_anns(void *ctx, size_t i)
{
	struct ann_job *j = (struct ann_job *)ctx + i;

	j->req->accept = accept_anns;
	j->req->accept_arg = j;
	j->rc = fetch(j->a, j->req, 1, j->deadline);
	http_req_release(j->req);
}

int api_images_kvs(struct api *a, const int64_t *ids, size_t n,
		   uint64_t deadline, struct api_kvset **out)
{
	struct ann_job *jobs = NULL;
	struct api_kvset *sets = calloc(n ? n : 1, sizeof(*sets));
	struct id_pos *index = calloc(n ? n : 1, sizeof(*index));
	struct round r = {0};
	size_t nurls = 0;
	int rc = -ENOMEM;

	if (!sets || !index)
		goto out;
	rc = -ENAMETOOLONG;
	if (strlen(a->base) + 48 + 28 >= API_KVS_URL_MAX)
		goto out;
	for (size_t i = 0; i < n; i++)
		index[i] = (struct id_pos){ids[i], i};
	if (n > 0)
		qsort(index, n, sizeof(*index), id_pos_cmp);
	/* one URL per API_KVS_URL_MAX bytes of "&image=<id>" */
	for (size_t i = 0; i < n; nurls++) {
		size_t len = strlen(a->base) + 48;

		while (i < n && len + 28 < API_KVS_URL_MAX) {
			len += 28;
			i++;
		}
	}
	rc = round_alloc(&r, nurls);
	for (size_t i = 0; rc == 0 && i < n;) {
		char *url = r.n < nurls ? malloc(API_KVS_URL_MAX) : NULL;
		int k;

		if (!url) {
			rc = -ENOMEM;
			break;
		}
		k = snprintf(url, API_KVS_URL_MAX,
			     "%s/webclient/api/annotations/?type=map", a->base);
		while (i < n && k > 0 && (size_t)k + 28 < API_KVS_URL_MAX) {
			k += snprintf(url + k, API_KVS_URL_MAX - (size_t)k,
				      "&image=%" PRId64, ids[i]);
			i++;
		}
		round_add(&r, url);
	}
	if (rc == 0) {
		jobs = calloc(r.n ? r.n : 1, sizeof(*jobs));
		rc = jobs ? 0 : -ENOMEM;
	}
	if (rc == 0) {
		for (size_t u = 0; u < r.n; u++)
			jobs[u] = (struct ann_job){.a = a,
						   .deadline = deadline,
						   .req = &r.reqs[u],
						   .url = r.urls[u]};
		run_parallel(r.n, fetch_anns, jobs);
	}
	for (size_t u = 0; rc == 0 && u < r.n; u++) {
		struct api_annotation *anns = jobs[u].anns;
		size_t na = jobs[u].n;

		rc = jobs[u].rc;
		for (size_t j = 0; rc == 0 && j < na; j++) {
			struct id_pos key = {.id = anns[j].parent_id};
			struct id_pos *hit;

			if (anns[j].parent_class &&
			    strcmp(anns[j].parent_class, "ImageI") != 0)
				continue;
			hit = bsearch(&key, index, n, sizeof(*index),
				      id_pos_cmp);
			if (hit)
				rc = kvset_take(&sets[hit->pos], &anns[j]);
		}
		api_annotations_free(anns, na);
		jobs[u].anns = NULL;
	}
	if (rc == 0) {
		*out = sets;
		sets = NULL;
	}
out:
	for (size_t u = 0; jobs && u < r.n; u++)
		api_annotations_free(jobs[u].anns, jobs[u].n);
	free(jobs);
	api_kvsets_free(sets, n);
	free(index);
	round_free(&r);
	return rc;
}

int api_object_kvs(struct api *a, const char *kind, int64_t id, const char *ns,
		   uint64_t deadline, struct api_kv **kvs, size_t *n,
		   char **name)
{
	char *pname = NULL;
	char url[API_URL_MAX], ens[512];
	struct ann_job j = {.a = a, .url = url};
	struct http_req r = {.url = url,
			     .max_body = API_MAX_BODY,
			     .accept = accept_anns,
			     .accept_arg = &j};
	struct api_annotation *anns = NULL;
	struct api_kvset set = {0};
	size_t na = 0;
	int rc;

	rc = api_url_escape(ns ? ns : "", ens, sizeof(ens));
	if (rc < 0)
		return rc;
	snprintf(url, sizeof(url),
		 "%s/webclient/api/annotations/?type=map&%s=%" PRId64 "%s%s",
		 a->base, kind, id, ns ? "&ns=" : "", ens);
	rc = fetch(a, &r, 1, deadline);
	http_req_release(&r);
	anns = j.anns;
	na = j.n;
	for (size_t i = 0; rc == 0 && i < na; i++) {
		if (ns && (!anns[i].ns || strcmp(anns[i].ns, ns) != 0))
			continue;
		if (!pname && anns[i].parent_name) {
			pname = anns[i].parent_name;
			anns[i].parent_name = NULL;
		}
		rc = kvset_take(&set, &anns[i]);
	}
	api_annotations_free(anns, na);
	if (rc < 0) {
		api_kvs_free(set.kvs, set.n);
		free(pname);
		return rc;
	}
	*kvs = set.kvs;
	*n = set.n;
	if (name)
		*name = pname;
	else
		free(pname);
	return 0;
}
