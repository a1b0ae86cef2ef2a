/* SPDX-License-Identifier: MIT */
/*
 * main: wiring and process lifecycle. Parse options, check what can be
 * checked while the user still sees stderr (log file, cache directory),
 * initialise libcurl before any thread, then let fsops mount, daemonise
 * and call app_start(), which builds the http client, api and tree in the
 * process that will serve.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idrfs/app.h"
#include "idrfs/fsops.h"
#include "idrfs/log.h"
#include "idrfs/status.h"

struct daemon {
	struct opts o;
	struct app app;
};

/* @p s as the body of a JSON string (quotes, backslashes and controls
 * escaped; other bytes as they are), cut to fit @p out. */
static const char *json_esc(const char *s, char *out, size_t outsz)
{
	size_t o = 0;

	for (; *s && o + 7 < outsz; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20) {
			o += (size_t)snprintf(out + o, outsz - o, "\\u%04x",
					      ch);
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
	return out;
}

/* The memory lines of .idrfs/stats (mem=, what the chunks hold); in JSON
 * also the remote, for `idrfs status`. */
static size_t app_stats_mem(const struct app *app, bool json, char *buf,
			    size_t size)
{
	struct pixsrc_mem m = {0};
	char esc[2048];
	int n;

	if (app->pixsrc)
		pixsrc_mem_stats(app->pixsrc, &m);
	if (json)
		n = snprintf(buf, size,
			     ", \"remote\": \"%s\""
			     ", \"memory\": {\"budget\": %" PRIu64
			     ", \"chunks_budget\": %" PRIu64
			     ", \"held\": %" PRIu64 ", \"peak\": %" PRIu64
			     ", \"idle\": %" PRIu64 ", \"waits\": %" PRIu64
			     ", \"timeouts\": %" PRIu64
			     ", \"too_big\": %" PRIu64
			     ", \"prefetch_share\": %" PRIu64
			     ", \"prefetch_held\": %" PRIu64
			     ", \"prefetch_to_cache\": %" PRIu64
			     ", \"prefetch_dropped\": %" PRIu64 "}}\n",
			     json_esc(app->o->url, esc, sizeof(esc)),
			     app->o->mem, m.budget, m.held, m.peak, m.idle,
			     m.waits, m.timeouts, m.too_big, m.pf_share,
			     m.pf_held, m.pf_spills, m.pf_yields);
	else
		n = snprintf(buf, size,
			     "memory held       %" PRIu64 " of %" PRIu64
			     " bytes (peak %" PRIu64 "; mem=%" PRIu64 ")\n"
			     "memory waits      %" PRIu64 " (%" PRIu64
			     " timed out, %" PRIu64 " chunks too big)\n"
			     "prefetch held     %" PRIu64 " of %" PRIu64
			     " bytes (%" PRIu64 " to the cache only, %" PRIu64
			     " dropped)\n",
			     m.held, m.budget, m.peak, app->o->mem, m.waits,
			     m.timeouts, m.too_big, m.pf_held, m.pf_share,
			     m.pf_spills, m.pf_yields);
	return n < 0 ? 0 : (size_t)n;
}

/* .idrfs/stats and stats.json: every counter of the daemon. */
static size_t app_stats(void *arg, bool json, char *buf, size_t size)
{
	struct daemon *d = arg;
	struct app *app = &d->app;
	uint64_t req = 0, bytes = 0, errs = 0;
	uint64_t hist[HTTP_LAT_BUCKETS] = {0};
	unsigned inflight = 0;
	struct fetch_counters fc = {0};
	struct cache_counters cc = {0};
	uint64_t p50, p90, p99, probes, failovers = 0;
	char proxy[256];
	int n;

	http_client_stats(app->http, &req, &bytes, &errs);
	probes = http_client_probes(app->http);
	http_client_latency(app->http, &inflight, hist);
	http_client_proxy(app->http, proxy, sizeof(proxy), &failovers);
	fetch_get_counters(app->fetch, &fc);
	cache_counters(app->cache, &cc);
	p50 = http_percentile(hist, 50);
	p90 = http_percentile(hist, 90);
	p99 = http_percentile(hist, 99);
	if (json)
		n = snprintf(
			buf, size,
			"{\"requests\": %" PRIu64
			", \"bytes_received\": %" PRIu64
			", \"errors\": %" PRIu64 ", \"probes_404\": %" PRIu64
			", \"in_flight\": %u, "
			"\"latency_ms\": {\"p50\": %" PRIu64
			", \"p90\": %" PRIu64 ", \"p99\": %" PRIu64
			"}, \"metadata\": {\"hits\": %" PRIu64
			", \"stale\": %" PRIu64 ", \"offline_misses\": %" PRIu64
			"}, \"cache\": {\"hits\": %" PRIu64
			", \"seed_hits\": %" PRIu64 ", \"misses\": %" PRIu64
			", \"puts\": %" PRIu64 ", \"evictions\": %" PRIu64
			", \"skipped\": %" PRIu64 ", \"damaged\": %" PRIu64
			", \"bytes_stored\": %" PRIu64 ", \"limit\": %" PRIu64
			"}, \"proxy\": %s%s%s, \"proxy_failovers\": %" PRIu64
			", \"offline\": %s}\n",
			req, bytes, errs, probes, inflight, p50, p90, p99,
			fc.meta_hits, fc.meta_stale, fc.offline_misses, cc.hits,
			cc.seed_hits, cc.misses, cc.puts, cc.evictions,
			cc.skipped, cc.damaged, cc.bytes_stored, cc.limit,
			proxy[0] ? "\"" : "", proxy[0] ? proxy : "null",
			proxy[0] ? "\"" : "", failovers,
			app->o->offline ? "true" : "false");
	else
		n = snprintf(
			buf, size,
			"remote            %s%s\n"
			"proxy             %s (%" PRIu64 " failovers)\n"
			"requests          %" PRIu64 "\n"
			"bytes received    %" PRIu64 "\n"
			"errors            %" PRIu64 " (failures)\n"
			"expected 404s     %" PRIu64
			" (zarr.json probes of Zarr v2 images, absent "
			"chunks)\n"
			"in flight         %u\n"
			"latency (ms)      p50 <%" PRIu64 "  p90 <%" PRIu64
			"  p99 <%" PRIu64 "\n"
			"metadata answers  %" PRIu64 " from cache, %" PRIu64
			" stale, %" PRIu64 " offline misses\n"
			"cache hits        %" PRIu64 " (%" PRIu64
			" from the seed)\n"
			"cache misses      %" PRIu64 "\n"
			"cache puts        %" PRIu64 "\n"
			"cache evictions   %" PRIu64 "\n"
			"cache skipped     %" PRIu64 " (full)\n"
			"cache damaged     %" PRIu64
			" (not served, refetched)\n"
			"cache size        %" PRIu64 " of %" PRIu64 " bytes\n",
			app->o->url, app->o->offline ? " (offline)" : "",
			proxy[0] ? proxy : "none (the http_proxy variables)",
			failovers, req, bytes, errs, probes, inflight, p50, p90,
			p99, fc.meta_hits, fc.meta_stale, fc.offline_misses,
			cc.hits, cc.seed_hits, cc.misses, cc.puts, cc.evictions,
			cc.skipped, cc.damaged, cc.bytes_stored, cc.limit);
	/* the memory lines; in JSON, inside the object ("}\n" reopened) */
	if (n >= 2 && (size_t)n < size) {
		n -= json ? 2 : 0;
		n += (int)app_stats_mem(app, json, buf + n, size - (size_t)n);
	}
	return n < 0 ? 0 : (size_t)n;
}

static int app_start(void *arg, struct tree **tree)
{
	struct daemon *d = arg;
	struct app_hooks h = {.stats = app_stats, .stats_ctx = d};
	int rc;

	if (!d->o.foreground && !d->o.log_file)
		log_open(LOG_SINK_SYSLOG, NULL);
	rc = app_open(&d->app, &d->o, &h);
	if (rc < 0) {
		log_error(LOG_C_MAIN, "cannot start: %s", strerror(-rc));
		return rc;
	}
	log_notice(LOG_C_MAIN, "serving %s on %s%s", d->o.url, d->o.mountpoint,
		   d->o.offline ? " (offline)" : "");
	*tree = d->app.tree;
	return 0;
}

static void app_stop(void *arg)
{
	struct daemon *d = arg;
	uint64_t req = 0, bytes = 0, errs = 0;

	if (d->app.http)
		http_client_stats(d->app.http, &req, &bytes, &errs);
	log_info(LOG_C_MAIN,
		 "unmounting: %" PRIu64 " requests, %" PRIu64
		 " bytes received, %" PRIu64 " errors",
		 req, bytes, errs);
}

/*
 * Open and close the cache while the user still sees our errors: first
 * alone, then with its seed, so that the message names the one at fault.
 */
static int preflight_cache(const struct opts *o)
{
	struct cache_config cc = {
		.dir = o->cache_dir,
		.remote = o->url,
		.max_bytes = o->cache_size,
	};
	struct cache *c = NULL;
	int rc = cache_open(&cc, &c);

	if (rc < 0)
		fprintf(stderr, "idrfs: cannot open the cache in '%s': %s\n",
			o->cache_dir, strerror(-rc));
	cache_close(c);
	c = NULL;
	if (rc < 0 || !o->seed_cache)
		return rc;
	cc.seed = o->seed_cache;
	rc = cache_open(&cc, &c);
	if (rc < 0)
		fprintf(stderr,
			"idrfs: cannot use seed_cache=%s: %s (a seed is a "
			"cache_dir of a mount of %s; see the log)\n",
			o->seed_cache, strerror(-rc), o->url);
	cache_close(c);
	return rc;
}

int main(int argc, char *argv[])
{
	struct daemon app = {0};
	struct fsops_config fc = {0};
	const char *bad = NULL;
	size_t badlen = 0;
	int rc;

#ifdef __GLIBC__
	/*
	 * Chunks are MiB-sized buffers freed on other threads than the ones
	 * that allocated them; with one malloc arena per thread (glibc's
	 * default, up to 8 per core) freed memory piles up in each. One
	 * arena keeps the private memory near what the chunk table holds
	 * (1 GiB read cold: 479 MiB with 8 arenas, 172 with 2, 150 with 1,
	 * for 133 MiB of chunks at most) at no measurable cost in speed.
	 * (A fixed mmap threshold, every large buffer a mapping of its own,
	 * gave back all but cost a page fault per page: 8 times the CPU.)
	 */
	mallopt(M_ARENA_MAX, 1);
#endif
	/* `idrfs status MOUNTPOINT`: no URL is called "status" */
	if (argc == 3 && strcmp(argv[1], "status") == 0)
		return status_print(argv[2], stdout) < 0 ? 1 : 0;
	rc = opts_parse(argc, argv, &app.o);
	if (rc < 0)
		goto out;
	if (app.o.help) {
		opts_print_help(stdout, argv[0]);
		fsops_print_help();
		goto out;
	}
	if (app.o.version) {
		printf("idrfs version %s\n", PACKAGE_VERSION);
		fsops_print_version();
		goto out;
	}
	if (app.o.debug)
		log_set_level(LOG_LEVEL_DEBUG);
	if (app.o.trace && log_set_trace(app.o.trace, &bad, &badlen) < 0) {
		fprintf(stderr,
			"idrfs: unknown trace component '%.*s' (known: main, "
			"http, api, tree, fuse, cache, tiff, zarr, search, "
			"all)\n",
			(int)badlen, bad);
		rc = -EINVAL;
		goto out;
	}
	if (app.o.proxy && http_proxy_check(app.o.proxy, &bad, &badlen) < 0) {
		fprintf(stderr,
			"idrfs: proxy entry '%.*s' is not DIRECT or an http:// "
			"URL (entries are separated by ';', at most %d)\n",
			(int)badlen, bad, HTTP_PROXY_MAX);
		rc = -EINVAL;
		goto out;
	}
	if (app.o.log_file) {
		rc = log_open(LOG_SINK_FILE, app.o.log_file);
		if (rc < 0) {
			fprintf(stderr,
				"idrfs: cannot open log file '%s': %s\n",
				app.o.log_file, strerror(-rc));
			goto out;
		}
	}
	rc = app_make_dirs(app.o.cache_dir);
	if (rc < 0) {
		fprintf(stderr,
			"idrfs: cannot create cache directory '%s': %s\n",
			app.o.cache_dir, strerror(-rc));
		goto out;
	}
	rc = preflight_cache(&app.o);
	if (rc < 0)
		goto out;
	rc = http_global_init();
	if (rc < 0)
		goto out;
	fc.timeout_s = app.o.timeout;
	fc.ttl_s = app.o.ttl;
	fc.readahead_kb = app.o.readahead;
	fc.notify_pipe = app.o.notify_pipe;
	fc.start = app_start;
	fc.stop = app_stop;
	fc.arg = &app;
	rc = fsops_run(app.o.fuse_argc, app.o.fuse_argv, &fc);
	app_close(&app.app);
	http_global_cleanup();
out:
	opts_release(&app.o);
	log_close();
	return rc < 0 ? 1 : 0;
}
