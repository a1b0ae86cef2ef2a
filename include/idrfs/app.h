/* SPDX-License-Identifier: MIT */
/*
 * app: the core of idrfs wired from its options, with no FUSE: http
 * client -> cache -> fetch -> api -> pixsrc -> search -> locate ->
 * tree. The daemon serves this tree through fsops; idrfs-warmup reads
 * it directly. One place decides how the options become the modules'
 * configurations.
 *
 * Limits: builds and frees only; the caller owns the process lifecycle
 * (http_global_init() first, no fork after app_open()).
 */
#ifndef IDRFS_APP_H
#define IDRFS_APP_H

#include <stdbool.h>
#include <stddef.h>

#include "idrfs/api.h"
#include "idrfs/cache.h"
#include "idrfs/fetch.h"
#include "idrfs/http.h"
#include "idrfs/locate.h"
#include "idrfs/opts.h"
#include "idrfs/pixsrc.h"
#include "idrfs/search.h"
#include "idrfs/tree.h"

/** What the caller adds to the wiring (all may be NULL). */
struct app_hooks {
	/* the network under the metadata cache (fetch_config.send): every
	 * request that leaves the process goes through it */
	int (*send)(void *ctx, struct http_req *reqs, size_t n,
		    uint64_t deadline);
	void *send_ctx;
	/* .idrfs/stats (tree_config.stats) */
	size_t (*stats)(void *ctx, bool json, char *buf, size_t size);
	void *stats_ctx;
};

/** The modules, each owned by the app; NULL until made. */
struct app {
	const struct opts *o; /* borrowed: must outlive the app */
	struct http_client *http;
	struct cache *cache;
	struct fetch *fetch;
	struct api *api;
	struct pixsrc *pixsrc;
	struct search *search;
	struct locate *locate;
	struct tree *tree;
};

/**
 * Build every module from @p o into @p app (zeroed by the caller).
 * @return 0, or the first module's error (-ENOMEM, -EIO, a cache_open()
 *         error); the modules made so far stay in @p app for app_close()
 */
int app_open(struct app *app, const struct opts *o, const struct app_hooks *h);

/** Free what app_open() made, in reverse order; safe on a partial app. */
void app_close(struct app *app);

/**
 * mkdir -p, mode 0700 for the parts it creates (the cache directory).
 * @return 0, -ENOMEM or -errno of mkdir()
 */
int app_make_dirs(const char *path);

#endif
