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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idrfs/log.h"

#define API_URL_MAX 2048

struct api {
	char *base; /* no trailing slash */
	struct api_transport tr;
	atomic_uint_fast64_t requests;
};

int api_new(const char *base_url, const struct api_transport *tr,
	    struct api **out)
{
	struct api *a;
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
	*out = a;
	return 0;
}

void api_free(struct api *a)
{
	if (!a)
		return;
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

static int fetch(struct api *a, struct http_req *reqs, size_t n,
		 uint64_t deadline)
{
	atomic_fetch_add(&a->requests, n);
	return a->tr.fetch(a->tr.ctx, reqs, n, deadline);
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

typedef int (*list_parse_fn)(const char *body, size_t len, const char *what,
			     void **items, size_t *n, struct api_meta *meta);
typedef void (*list_free_fn)(void *items, size_t n);

struct list_kind {
	size_t item_size;
	list_parse_fn parse;
	list_free_fn free;
};

/* Append src (n items) to *dst (dn items); src's storage is freed. */
static int append(const struct list_kind *k, void **dst, size_t *dn, void *src,
		  size_t n)
{
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
	nd = realloc(*dst, (*dn + n) * k->item_size);
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

static int page_url(char *buf, size_t bufsz, const struct api *a,
		    const char *path, int64_t limit, int64_t offset)
{
	int n = snprintf(buf, bufsz, "%s%s%climit=%" PRId64 "&offset=%" PRId64,
			 a->base, path, strchr(path, '?') ? '&' : '?', limit,
			 offset);

	return n < 0 || (size_t)n >= bufsz ? -ENAMETOOLONG : 0;
}

static int fetch_list(struct api *a, const char *path,
		      const struct list_kind *k, uint64_t deadline, void **out,
		      size_t *nout)
{
	char url[API_URL_MAX];
	struct http_req first = {.url = url, .max_body = API_MAX_BODY};
	struct http_req *reqs = NULL;
	char **urls = NULL;
	void *all = NULL;
	size_t nall = 0;
	size_t npages = 0;
	struct api_meta meta;
	void *items = NULL;
	size_t n = 0;
	int rc;

	rc = page_url(url, sizeof(url), a, path, API_PAGE_LIMIT, 0);
	if (rc < 0)
		return rc;
	rc = fetch(a, &first, 1, deadline);
	if (rc == 0)
		rc = check_json(&first);
	if (rc == 0)
		rc = k->parse(first.body, first.len, url, &items, &n, &meta);
	http_req_release(&first);
	if (rc < 0)
		return rc;
	all = items;
	nall = n;
	if (meta.total_count > (int64_t)API_MAX_ITEMS) {
		log_error(LOG_C_API, "\"%s\": %" PRId64 " objects is too many",
			  url, meta.total_count);
		rc = -EFBIG;
		goto out;
	}
	if ((int64_t)nall < meta.total_count && n > 0) {
		int64_t page = (int64_t)n; /* what the server really gave */

		npages =
			(size_t)((meta.total_count - (int64_t)nall + page - 1) /
				 page);
		reqs = calloc(npages, sizeof(*reqs));
		urls = calloc(npages, sizeof(*urls));
		if (!reqs || !urls) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < npages; i++) {
			urls[i] = malloc(API_URL_MAX);
			if (!urls[i]) {
				rc = -ENOMEM;
				goto out;
			}
			rc = page_url(urls[i], API_URL_MAX, a, path, page,
				      (int64_t)nall + (int64_t)i * page);
			if (rc < 0)
				goto out;
			reqs[i].url = urls[i];
			reqs[i].max_body = API_MAX_BODY;
		}
		rc = fetch(a, reqs, npages, deadline);
		if (rc < 0)
			goto out;
		for (size_t i = 0; i < npages; i++) {
			rc = check_json(&reqs[i]);
			if (rc == 0)
				rc = k->parse(reqs[i].body, reqs[i].len,
					      urls[i], &items, &n, &meta);
			if (rc == 0)
				rc = append(k, &all, &nall, items, n);
			if (rc < 0)
				goto out;
		}
	}
	*out = all;
	*nout = nall;
	all = NULL;
	nall = 0;
out:
	if (all)
		k->free(all, nall);
	for (size_t i = 0; i < npages; i++) {
		if (reqs)
			http_req_release(&reqs[i]);
		if (urls)
			free(urls[i]);
	}
	free(reqs);
	free(urls);
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
	sizeof(struct api_container), parse_containers, free_containers};
static const struct list_kind images_kind = {sizeof(struct api_image),
					     parse_images, free_images};
static const struct list_kind wells_kind = {sizeof(struct api_well),
					    parse_wells, free_wells};

static int list_containers(struct api *a, const char *path, uint64_t deadline,
			   struct api_container **out, size_t *n)
{
	return fetch_list(a, path, &containers_kind, deadline, (void **)out, n);
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

int api_list_datasets(struct api *a, int64_t project_id, uint64_t deadline,
		      struct api_container **out, size_t *n)
{
	char path[128];

	snprintf(path, sizeof(path),
		 "/api/v0/m/projects/%" PRId64 "/datasets/?childCount=true",
		 project_id);
	return list_containers(a, path, deadline, out, n);
}

int api_list_plates(struct api *a, int64_t screen_id, uint64_t deadline,
		    struct api_container **out, size_t *n)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v0/m/screens/%" PRId64 "/plates/",
		 screen_id);
	return list_containers(a, path, deadline, out, n);
}

int api_list_images(struct api *a, int64_t dataset_id, uint64_t deadline,
		    struct api_image **out, size_t *n)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v0/m/datasets/%" PRId64 "/images/",
		 dataset_id);
	return fetch_list(a, path, &images_kind, deadline, (void **)out, n);
}

int api_list_wells(struct api *a, int64_t plate_id, uint64_t deadline,
		   struct api_well **out, size_t *n)
{
	char path[128];

	snprintf(path, sizeof(path), "/api/v0/m/plates/%" PRId64 "/wells/",
		 plate_id);
	return fetch_list(a, path, &wells_kind, deadline, (void **)out, n);
}

int api_get_well(struct api *a, int64_t well_id, uint64_t deadline,
		 struct api_well *out)
{
	char url[API_URL_MAX];
	struct http_req r = {.url = url, .max_body = API_MAX_BODY};
	int rc;

	snprintf(url, sizeof(url), "%s/api/v0/m/wells/%" PRId64 "/", a->base,
		 well_id);
	rc = fetch(a, &r, 1, deadline);
	if (rc == 0)
		rc = check_json(&r);
	if (rc == 0)
		rc = api_json_well(r.body, r.len, url, out);
	http_req_release(&r);
	return rc;
}
