/* SPDX-License-Identifier: MIT */
/*
 * app: the options of idrfs turned into its modules, in dependency order.
 * Shared by the daemon (main.c) and idrfs-warmup (warmup.c), so that a
 * warm-up fills the cache with exactly the keys a mount reads.
 */
#include "config.h"

#include "idrfs/app.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "idrfs/log.h"

#define APP_MAX_RETRIES 4
/* Of mem=, what is kept from the chunk table (at most a quarter): for
 * listings and metadata being parsed, HTTP transfers and FUSE's buffers,
 * about 14 MiB in use with 8 readers of a large image. */
#define APP_MEM_RESERVE (16ull << 20)

/* What the chunk table may hold of @p mem bytes (see APP_MEM_RESERVE). */
static size_t chunks_budget(uint64_t mem)
{
	uint64_t keep = mem / 4 < APP_MEM_RESERVE ? mem / 4 : APP_MEM_RESERVE;

	return (size_t)(mem - keep);
}

int app_open(struct app *app, const struct opts *o, const struct app_hooks *h)
{
	struct http_config hc = {
		.max_conns = o->max_conns,
		.max_retries = APP_MAX_RETRIES,
		.user_agent = PACKAGE_NAME "/" PACKAGE_VERSION,
		.verbose = log_enabled(LOG_LEVEL_DEBUG, LOG_C_HTTP),
		/* background builds outlive one operation's deadline: a
		 * connection silent for that long is dropped and retried */
		.stall_s = o->timeout,
		.proxy = o->proxy,
		.startup_jitter_ms = o->startup_jitter * 1000u,
		.proxy_forward_https = o->proxy_https &&
				       strcmp(o->proxy_https, "forward") == 0,
	};
	struct api_transport tr = {.fetch = fetch_do};
	struct cache_config cc = {
		.dir = o->cache_dir,
		.remote = o->url,
		.max_bytes = o->cache_size,
		.seed = o->seed_cache,
	};
	struct fetch_config fc = {
		.ttl_s = o->ttl,
		.offline = o->offline,
		.send = h ? h->send : NULL,
		.send_ctx = h ? h->send_ctx : NULL,
	};
	struct pixsrc_config pc = {
		.s3_scheme = o->s3_scheme,
		.mem_budget = chunks_budget(o->mem),
		.prefetch_bytes = (uint64_t)o->prefetch << 20,
		.job_timeout_ms = (uint64_t)o->timeout * 1000u,
	};
	struct search_config sc = {.backend = SEARCH_AUTO, .ttl_s = o->ttl};
	struct tree_config tc = {
		.remote_url = o->url,
		.ttl_s = o->ttl,
		/* a build may outlast one operation, not ten: a request
		 * stalled on a dead server cannot hold it for 5 minutes */
		.build_timeout_s = 10 * o->timeout,
		.originals_root = o->originals_root,
		.stats = h ? h->stats : NULL,
		.stats_ctx = h ? h->stats_ctx : NULL,
	};
	int rc;

	app->o = o;
	rc = http_client_new(&hc, &app->http);
	if (rc < 0)
		return rc;
	/* LMDB is opened here, in the process that serves (not before a
	 * fork) */
	rc = cache_open(&cc, &app->cache);
	if (rc < 0)
		return rc;
	fc.http = app->http;
	fc.cache = app->cache;
	rc = fetch_new(&fc, &app->fetch);
	if (rc < 0)
		return rc;
	tr.ctx = app->fetch;
	rc = api_new(o->url, &tr, &app->api);
	if (rc < 0)
		return rc;
	pc.api = app->api;
	pc.tr = tr;
	pc.cache = app->cache;
	rc = pixsrc_new(&pc, &app->pixsrc);
	if (rc < 0)
		return rc;
	/* the by-* menus: the backend is detected on first use, not now */
	sc.cache = app->cache;
	rc = search_backend_parse(o->ontology, &sc.backend);
	if (rc == 0)
		rc = search_new(app->api, &sc, &app->search);
	if (rc < 0)
		return rc;
	/* where images' Zarr is when the archive does not say (locate.h) */
	struct locate_config lc = {.tr = tr,
				   .cache = app->cache,
				   .ttl_s = o->ttl,
				   .zarr_url = o->zarr_url,
				   .catalogue = o->zarr_catalog,
				   .s3_scheme = o->s3_scheme,
				   .api = o->no_zarr_fileset ? NULL : app->api,
				   .originals_root = o->originals_root};

	rc = locate_new(&lc, &app->locate);
	if (rc < 0)
		return rc;
	tc.locate = app->locate;
	tc.pixsrc = app->pixsrc;
	tc.cache = app->cache;
	tc.search = app->search;
	return tree_new(app->api, &tc, &app->tree);
}

void app_close(struct app *app)
{
	tree_free(app->tree);
	search_free(app->search);
	locate_free(app->locate);
	pixsrc_free(app->pixsrc);
	api_free(app->api);
	fetch_free(app->fetch);
	cache_close(app->cache);
	http_client_free(app->http);
	memset(app, 0, sizeof(*app));
}

int app_make_dirs(const char *path)
{
	char *p = strdup(path);
	int rc = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s && rc == 0; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			rc = -errno;
		*s = '/';
	}
	if (rc == 0 && mkdir(p, 0700) < 0 && errno != EEXIST)
		rc = -errno;
	free(p);
	return rc;
}
