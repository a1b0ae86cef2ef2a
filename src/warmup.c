/* SPDX-License-Identifier: MIT */
/*
 * idrfs-warmup: fill the cache that mounts use with the pixels of chosen
 * images, without a mount. The same core as the daemon (app.c) reads
 * every byte of every image's virtual file, so the chunks land in the
 * cache under the keys a mount reads; a run that finds them there makes
 * no pixel request, which is how a second run resumes.
 *
 * Workers (max_conns of them) take blocks of the list in order: the next
 * block of an open image, else the next image to open, so small images
 * are opened in parallel and a large one is read by every worker at
 * once. Each block and each open has the deadline of one operation. The
 * pixel requests are counted per image by a send hook under the metadata
 * cache, which knows the worker from its thread; in a dry run the hook
 * refuses them, so what reads back is exactly what the cache holds.
 */
#include "config.h"

#include "warmup_int.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "idrfs/log.h"

#define WARM_PROG	   "idrfs-warmup"
#define WARM_BLOCK	   (4u << 20)
#define WARM_PROGRESS_S	   5.0
#define WARM_BAR_S	   0.5
#define WARM_BAR_WIDTH	   20
#define WARM_FAILS_SHOWN   50
#define WARM_EXIT_FAILED   1
#define WARM_EXIT_USAGE	   2
#define WARM_REFUSED_ERRNO ECANCELED

uint64_t warm_deadline(const struct warm *w)
{
	return http_now_ms() + (uint64_t)w->o.timeout * 1000u;
}

uint64_t warm_walk_deadline(const struct warm *w)
{
	return http_now_ms() + (uint64_t)w->o.timeout * 10000u;
}

/* ---- the command line ---- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: " WARM_PROG " [options] URL TARGET...\n"
		"\n"
		"Fill the cache of idrfs mounts of URL with the pixels of "
		"every image of each\n"
		"TARGET, without mounting: a path as the mount shows it (a "
		"project, dataset,\n"
		"screen, plate, well, image or by-* directory), an images.tsv "
		"(its rows),\n"
		"or an image id (12345 or image:12345).\n"
		"\n"
		"options:\n"
		"    -h   --help             print this help and exit\n"
		"    -V   --version          print the version and exit\n"
		"    -o opt,[opt...]         idrfs options: cache_dir, "
		"cache_size, max_conns,\n"
		"                            timeout, ttl, zarr_url, "
		"s3_scheme, seed_cache, ...\n"
		"    -n   --dry-run          say what would be fetched; no "
		"pixel request\n"
		"    -l   --levels           every pyramid level too: read "
		"each image's .ome.tif\n"
		"                            (level 0 is the .tif's chunks) "
		"instead of its .tif\n"
		"         --rows=LIST        rows of each images.tsv target "
		"(1-100, 5,7,9-12)\n"
		"         --seed=DIR         build a seed cache in DIR (for "
		"-o seed_cache=DIR)\n"
		"         --progress=SECONDS progress line interval when not "
		"on a terminal\n"
		"                            (default 5; 0: summary only)\n"
		"    -q   --quiet            no progress and no summary; "
		"errors only\n"
		"\n"
		"Exit status: 0 all warmed, 1 something failed (named on "
		"stderr), 2 usage.\n");
}

static int usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* A one-line usage error. @return -EINVAL */
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, WARM_PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see " WARM_PROG " --help)\n");
	return -EINVAL;
}

/* Does an -o list name @p opt ("cache_dir=")? */
static bool list_has(const char *list, const char *opt)
{
	size_t len = strlen(opt);

	for (const char *p = list; *p;) {
		if (strncmp(p, opt, len) == 0)
			return true;
		p += strcspn(p, ",");
		if (*p == ',')
			p++;
	}
	return false;
}

/* Set the idrfs options of @p w from the -o lists and the URL. */
static int parse_idrfs_opts(struct warm *w, char **lists, int nlists, char *url,
			    const char *prog)
{
	char **av = calloc((size_t)nlists * 2 + 3, sizeof(*av));
	int ac = 0;
	int rc;

	if (!av)
		return -ENOMEM;
	av[ac++] = (char *)prog;
	for (int i = 0; i < nlists; i++) {
		av[ac++] = (char *)"-o";
		av[ac++] = lists[i];
	}
	av[ac++] = url;
	rc = opts_parse_tool(ac, av, &w->o);
	free(av);
	if (rc < 0)
		return rc;
	if (w->o.offline)
		return usage_error("%s makes no sense here: nothing could be "
				   "fetched",
				   "-o offline");
	/* reads cover every byte in order: no read-ahead of our own */
	w->o.prefetch = 0;
	return 0;
}

enum {
	OPT_ROWS = 256,
	OPT_SEED,
	OPT_PROGRESS,
};

static const struct option long_opts[] = {
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{"dry-run", no_argument, NULL, 'n'},
	{"levels", no_argument, NULL, 'l'},
	{"quiet", no_argument, NULL, 'q'},
	{"rows", required_argument, NULL, OPT_ROWS},
	{"seed", required_argument, NULL, OPT_SEED},
	{"progress", required_argument, NULL, OPT_PROGRESS},
	{NULL, 0, NULL, 0},
};

/*
 * @return 0 (go on), 1 (help or version printed), -EINVAL (usage error,
 *         printed), -ENOMEM
 */
static int parse_args(struct warm *w, int argc, char *argv[], int *first_target)
{
	char **lists = calloc((size_t)argc, sizeof(*lists));
	int nlists = 0;
	int c;
	int rc = 0;

	if (!lists)
		return -ENOMEM;
	w->progress_s = WARM_PROGRESS_S;
	opterr = 0;
	while (rc == 0) {
		char *end = NULL;

		c = getopt_long(argc, argv, ":hVnlqo:", long_opts, NULL);
		if (c == -1)
			break;
		switch (c) {
		case 'h':
			usage(stdout);
			rc = 1;
			break;
		case 'V':
			printf(WARM_PROG " version %s\n", PACKAGE_VERSION);
			rc = 1;
			break;
		case 'n':
			w->dry_run = true;
			break;
		case 'l':
			w->levels = true;
			break;
		case 'q':
			w->quiet = true;
			break;
		case 'o':
			lists[nlists++] = optarg;
			break;
		case OPT_ROWS:
			free(w->rows);
			w->rows = NULL;
			rc = warm_rows_parse(optarg, &w->rows, &w->nrows);
			if (rc == -EINVAL)
				rc = usage_error("--rows=%s is not a list of "
						 "rows (e.g. 1-100 or "
						 "5,7,9-12)",
						 optarg);
			break;
		case OPT_SEED:
			free(w->seed);
			w->seed = strdup(optarg);
			if (!w->seed)
				rc = -ENOMEM;
			else if (!*w->seed)
				rc = usage_error("%s needs a directory",
						 "--seed=");
			break;
		case OPT_PROGRESS:
			errno = 0;
			w->progress_s = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !(w->progress_s >= 0 && w->progress_s <= 86400))
				rc = usage_error("--progress=%s is not a "
						 "number of seconds (0..86400)",
						 optarg);
			break;
		case ':':
			rc = usage_error("%s needs an argument",
					 argv[optind - 1]);
			break;
		default:
			rc = usage_error("unknown option '%s'",
					 argv[optind - 1]);
			break;
		}
	}
	for (int i = 0; rc == 0 && w->seed && i < nlists; i++) {
		if (list_has(lists[i], "cache_dir=") ||
		    list_has(lists[i], "seed_cache="))
			rc = usage_error("%s: a seed is built alone (no "
					 "cache_dir= or seed_cache=)",
					 "--seed");
	}
	if (rc == 0 && argc - optind < 2)
		rc = usage_error("%s", argc - optind < 1 ? "no URL given"
							 : "no target given");
	if (rc == 0)
		rc = parse_idrfs_opts(w, lists, nlists, argv[optind], argv[0]);
	*first_target = optind + 1;
	free(lists);
	return rc;
}

/* ---- the network, counted ---- */

/* Pixel data (chunks, rendered bands, blocks of original files), as
 * opposed to metadata: what a warm-up is for, and what a dry run
 * refuses. */
static bool is_data(const struct http_req *r)
{
	return !r->head && (r->nocache || r->range_len > 0);
}

/* The item the calling thread reads, or NULL. Called with w->lock. */
static struct warm_item *item_of_thread(struct warm *w)
{
	pthread_t self = pthread_self();

	for (unsigned i = 0; i < w->nslots; i++) {
		if (w->slots[i].started && pthread_equal(w->slots[i].tid, self))
			return w->slots[i].item;
	}
	return NULL;
}

static int warm_send(void *ctx, struct http_req *reqs, size_t n,
		     uint64_t deadline)
{
	struct warm *w = ctx;
	struct warm_item *it;
	uint64_t nreq = 0, bytes = 0, refused = 0;
	bool data = false;
	int rc = 0;

	for (size_t i = 0; i < n; i++)
		data |= is_data(&reqs[i]);
	if (!data)
		return http_fetch(w->app.http, reqs, n, deadline);
	if (!w->dry_run) {
		rc = http_fetch(w->app.http, reqs, n, deadline);
	} else {
		for (size_t i = 0; i < n; i++) {
			int r = -WARM_REFUSED_ERRNO;

			if (!is_data(&reqs[i]))
				r = http_fetch(w->app.http, &reqs[i], 1,
					       deadline);
			else
				reqs[i].rc = r;
			if (rc == 0)
				rc = r;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!is_data(&reqs[i]))
			continue;
		if (reqs[i].rc == -WARM_REFUSED_ERRNO) {
			refused++;
			continue;
		}
		nreq++;
		if (reqs[i].rc == 0)
			bytes += reqs[i].len;
	}
	pthread_mutex_lock(&w->lock);
	it = item_of_thread(w);
	if (it) {
		it->data_reqs += nreq;
		it->data_bytes += bytes;
	}
	w->fetched_reqs += nreq;
	w->fetched_bytes += bytes;
	w->refused += refused;
	pthread_mutex_unlock(&w->lock);
	return rc;
}

/* ---- the workers ---- */

enum job {
	JOB_NONE,
	JOB_OPEN,
	JOB_READ,
};

/* Items before w->cur have nothing left to hand out. */
static bool handed_out(const struct warm_item *it)
{
	return it->state == WARM_DONE ||
	       (it->state == WARM_OPEN && it->next >= it->size);
}

/*
 * The next job, or JOB_NONE when nothing is left (waits while an open in
 * progress may bring blocks). Called with w->lock.
 */
static enum job next_job(struct warm *w, struct warm_item **out, uint64_t *off,
			 size_t *len)
{
	for (;;) {
		bool opening = false;

		while (w->cur < w->n && handed_out(&w->v[w->cur]))
			w->cur++;
		for (size_t i = w->cur; i < w->n; i++) {
			struct warm_item *it = &w->v[i];

			if (it->state == WARM_NEW) {
				it->state = WARM_OPENING;
				*out = it;
				return JOB_OPEN;
			}
			if (it->state == WARM_OPEN && it->next < it->size) {
				uint64_t left = it->size - it->next;

				*off = it->next;
				*len = left < WARM_BLOCK ? (size_t)left
							 : WARM_BLOCK;
				it->next += *len;
				it->readers++;
				*out = it;
				return JOB_READ;
			}
			opening |= it->state == WARM_OPENING;
		}
		if (!opening)
			return JOB_NONE;
		pthread_cond_wait(&w->cond, &w->lock);
	}
}

/*
 * Close an item whose last block is in (or that failed). Called with
 * w->lock; drops it around the release.
 */
static void maybe_close(struct warm *w, struct warm_item *it)
{
	uint64_t fh = it->fh;
	struct pixsrc_image *pim = it->pim;
	bool opened = it->state == WARM_OPEN;

	if (it->readers > 0 || (it->state == WARM_OPEN && it->next < it->size))
		return;
	it->state = WARM_DONE;
	it->pim = NULL;
	/* what was not read (an error, a short file) counts as done */
	w->done_bytes += it->size - it->done;
	it->done = it->size;
	w->items_done++;
	pthread_cond_broadcast(&w->cond);
	if (!opened)
		return;
	pthread_mutex_unlock(&w->lock);
	if (it->ino)
		tree_release(w->app.tree, it->ino, fh);
	else
		pixsrc_image_free(pim);
	pthread_mutex_lock(&w->lock);
}

/* Open an item (no lock held). */
static int item_open(struct warm *w, struct warm_item *it, uint64_t *fh,
		     struct pixsrc_image **pim, uint64_t *size)
{
	struct api_image img = {0};
	int rc;

	if (it->ino) {
		*size = it->size;
		return tree_open(w->app.tree, it->ino, warm_deadline(w), fh);
	}
	rc = api_get_image(w->app.api, it->id, warm_deadline(w), &img);
	if (rc < 0)
		return rc;
	/* with --levels, the .ome.tif where the image has one (a Zarr) */
	if (w->levels)
		rc = pixsrc_open_ome(w->app.pixsrc, &img, warm_deadline(w),
				     pim);
	if (!w->levels || rc == -ENOENT)
		rc = pixsrc_open(w->app.pixsrc, &img, warm_deadline(w), pim);
	api_image_release(&img);
	if (rc == 0)
		*size = pixsrc_size(*pim);
	return rc;
}

static void do_open(struct warm *w, struct warm_item *it)
{
	uint64_t fh = 0, size = 0;
	struct pixsrc_image *pim = NULL;
	int rc = item_open(w, it, &fh, &pim, &size);

	pthread_mutex_lock(&w->lock);
	if (rc < 0) {
		it->err = rc;
		it->state = WARM_DONE;
		w->items_done++;
		w->done_bytes += it->size;
		it->done = it->size;
		pthread_cond_broadcast(&w->cond);
		return;
	}
	if (!it->ino) {
		it->size = size;
		w->total_bytes += size;
	}
	it->fh = fh;
	it->pim = pim;
	it->state = WARM_OPEN;
	pthread_cond_broadcast(&w->cond);
	maybe_close(w, it); /* an empty file */
}

static void do_read(struct warm *w, struct warm_item *it, uint64_t off,
		    size_t len, char *buf)
{
	ssize_t n;

	if (it->ino)
		n = tree_read(w->app.tree, it->ino, it->fh, off, len, buf,
			      warm_deadline(w));
	else
		n = pixsrc_read(it->pim, off, len, (uint8_t *)buf,
				warm_deadline(w));
	pthread_mutex_lock(&w->lock);
	it->readers--;
	if (n >= 0) {
		it->done += (uint64_t)n;
		w->done_bytes += (uint64_t)n;
		if (w->dry_run)
			it->cached += (uint64_t)n;
		if ((size_t)n < len)
			it->next = it->size; /* shorter than said: stop */
	} else if (w->dry_run && n == -EIO) {
		/* a chunk the cache lacks (its request refused) */
		it->done += len;
		w->done_bytes += len;
	} else {
		if (!it->err)
			it->err = (int)n;
		it->next = it->size;
	}
	maybe_close(w, it);
}

static void *worker(void *arg)
{
	struct warm_slot *s = arg;
	struct warm *w = s->w;
	char *buf = malloc(WARM_BLOCK);

	pthread_mutex_lock(&w->lock);
	s->tid = pthread_self();
	s->started = true;
	while (buf) {
		struct warm_item *it = NULL;
		uint64_t off = 0;
		size_t len = 0;
		enum job j = next_job(w, &it, &off, &len);

		if (j == JOB_NONE)
			break;
		s->item = it;
		pthread_mutex_unlock(&w->lock);
		if (j == JOB_OPEN)
			do_open(w, it);
		else
			do_read(w, it, off, len, buf);
		/* both return with w->lock held */
		s->item = NULL;
	}
	w->running--;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	free(buf);
	return NULL;
}

/* ---- progress ---- */

/* "0 bytes", "512 bytes", "1.5 KiB", "3.4 MiB", ... */
static const char *human(uint64_t n, char *buf, size_t size)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	unsigned u = 0;

	if (n < 1024) {
		snprintf(buf, size, "%" PRIu64 " bytes", n);
		return buf;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}

static const char *duration(double s, char *buf, size_t size)
{
	uint64_t t = s < 0 ? 0 : (uint64_t)(s + 0.5);

	if (t < 60)
		snprintf(buf, size, "%" PRIu64 " s", t);
	else if (t < 3600)
		snprintf(buf, size, "%" PRIu64 ":%02" PRIu64, t / 60, t % 60);
	else
		snprintf(buf, size, "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64,
			 t / 3600, t / 60 % 60, t % 60);
	return buf;
}

struct snapshot {
	size_t done, n;
	uint64_t bytes, total, fetched;
};

static void progress(const struct snapshot *s, double secs, bool tty)
{
	char b1[32], b2[32], b3[32], b4[32], eta[32] = "?";
	double rate = secs > 0 ? (double)s->bytes / secs : 0;
	unsigned pct = s->total ? (unsigned)(100.0 * (double)s->bytes /
					     (double)s->total)
				: 0;

	if (rate > 0 && s->total >= s->bytes)
		duration((double)(s->total - s->bytes) / rate, eta,
			 sizeof(eta));
	human(s->bytes, b1, sizeof(b1));
	human(s->total, b2, sizeof(b2));
	human(s->fetched, b3, sizeof(b3));
	human((uint64_t)rate, b4, sizeof(b4));
	if (tty) {
		char bar[WARM_BAR_WIDTH + 1];
		unsigned fill = pct * WARM_BAR_WIDTH / 100;

		for (unsigned i = 0; i < WARM_BAR_WIDTH; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[WARM_BAR_WIDTH] = '\0';
		printf("\r\033[K[%s] %zu/%zu images  %s/%s  %s fetched  "
		       "%s/s  ETA %s",
		       bar, s->done, s->n, b1, b2, b3, b4, eta);
	} else {
		printf(WARM_PROG ": %zu/%zu images, %s of %s (%u%%), %s "
				 "fetched, %s/s, ETA %s\n",
		       s->done, s->n, b1, b2, pct, b3, b4, eta);
	}
	fflush(stdout);
}

static void snap(struct warm *w, struct snapshot *s)
{
	s->done = w->items_done;
	s->n = w->n;
	s->bytes = w->done_bytes;
	s->total = w->total_bytes;
	s->fetched = w->fetched_bytes;
}

/* Start the workers, report progress until they are done, join them. */
static int run(struct warm *w)
{
	bool tty = isatty(STDOUT_FILENO) == 1;
	double every = tty ? WARM_BAR_S : w->progress_s;
	bool show = !w->quiet && every > 0;
	uint64_t t0 = http_now_ms();
	uint64_t next = t0 + (uint64_t)(every * 1000);
	unsigned started = 0;
	int rc = 0;

	w->nslots = w->o.max_conns;
	w->slots = calloc(w->nslots, sizeof(*w->slots));
	if (!w->slots)
		return -ENOMEM;
	pthread_mutex_lock(&w->lock);
	for (unsigned i = 0; i < w->nslots; i++) {
		w->slots[i].w = w;
		rc = -pthread_create(&w->slots[i].tid, NULL, worker,
				     &w->slots[i]);
		if (rc < 0)
			break;
		started++;
		w->running++;
	}
	while (w->running > 0) {
		struct snapshot s;
		uint64_t now = http_now_ms();

		if (show && now >= next) {
			snap(w, &s);
			pthread_mutex_unlock(&w->lock);
			progress(&s, (double)(now - t0) / 1000.0, tty);
			pthread_mutex_lock(&w->lock);
			next = now + (uint64_t)(every * 1000);
		}
		http_cond_wait(&w->cond, &w->lock, http_now_ms() + 100);
	}
	pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(w->slots[i].tid, NULL);
	if (show && tty)
		printf("\r\033[K");
	if (rc < 0)
		fprintf(stderr, WARM_PROG ": cannot start a worker: %s\n",
			strerror(-rc));
	return started > 0 ? 0 : rc;
}

/* ---- the summary ---- */

static void print_fail(const char *what, int err, size_t *shown)
{
	if (*shown < WARM_FAILS_SHOWN)
		fprintf(stderr, WARM_PROG ": '%s': %s\n", what, strerror(-err));
	(*shown)++;
}

/* @return the number of failures */
static size_t summary(struct warm *w, double secs)
{
	size_t failed = 0, cached = 0, shown = 0;
	uint64_t cached_bytes = 0, failed_bytes = 0;
	char b1[32], b2[32], b3[32];

	for (size_t i = 0; i < w->nfails; i++)
		print_fail(w->fails[i].what, w->fails[i].err, &shown);
	for (size_t i = 0; i < w->n; i++) {
		const struct warm_item *it = &w->v[i];

		if (it->err) {
			print_fail(it->path, it->err, &shown);
			failed++;
			failed_bytes += it->size;
		} else if (w->dry_run ? it->cached == it->size
				      : it->data_reqs == 0) {
			cached++;
		}
		cached_bytes += it->err ? 0 : it->cached;
	}
	if (shown > WARM_FAILS_SHOWN)
		fprintf(stderr, WARM_PROG ": ... and %zu more failures\n",
			shown - WARM_FAILS_SHOWN);
	if (!w->quiet) {
		human(w->total_bytes, b1, sizeof(b1));
		human(cached_bytes, b2, sizeof(b2));
		human(w->total_bytes - cached_bytes - failed_bytes, b3,
		      sizeof(b3));
		if (w->dry_run)
			printf(WARM_PROG ": dry run: %zu images (%s): %zu "
					 "already cached (%s), %zu to fetch "
					 "(%s), %zu failed; no pixel request "
					 "made\n",
			       w->n, b1, cached, b2, w->n - cached - failed, b3,
			       failed + w->nfails);
		else
			printf(WARM_PROG ": %zu images (%s): %zu already "
					 "cached, %zu warmed, %zu failed; %s "
					 "fetched in %" PRIu64 " requests, "
					 "%.1f s\n",
			       w->n, b1, cached, w->n - cached - failed,
			       failed + w->nfails,
			       human(w->fetched_bytes, b2, sizeof(b2)),
			       w->fetched_reqs, secs);
		fflush(stdout);
	}
	return failed + w->nfails;
}

/* A seed must hold everything: evictions or skipped puts spoil it. */
static bool check_cache(struct warm *w)
{
	struct cache_counters cc = {0};
	char lim[32];

	cache_counters(w->app.cache, &cc);
	human(cc.limit, lim, sizeof(lim));
	if (cc.skipped > 0) {
		fprintf(stderr,
			WARM_PROG
			": %" PRIu64 " chunks were not stored: the "
			"cache is full (cache_size %s, or the disk)\n",
			cc.skipped, lim);
		return false;
	}
	if (cc.evictions > 0 && w->seed) {
		fprintf(stderr,
			WARM_PROG ": the seed '%s' is incomplete: %" PRIu64
				  " entries were evicted (cache_size %s is "
				  "too small)\n",
			w->seed, cc.evictions, lim);
		return false;
	}
	if (cc.evictions > 0 && !w->quiet)
		fprintf(stderr,
			WARM_PROG ": note: %" PRIu64 " older cache entries "
				  "were evicted (cache_size %s)\n",
			cc.evictions, lim);
	return true;
}

/* ---- main ---- */

/* The seed directory as the cache directory, made absolute. */
static int use_seed(struct warm *w)
{
	char *abs = NULL;
	int rc = app_make_dirs(w->seed);

	if (rc == 0) {
		abs = realpath(w->seed, NULL);
		if (!abs)
			rc = -errno;
	}
	if (rc < 0) {
		fprintf(stderr, WARM_PROG ": cannot create the seed '%s': %s\n",
			w->seed, strerror(-rc));
		return rc;
	}
	free(w->o.cache_dir);
	w->o.cache_dir = abs;
	return 0;
}

static int setup(struct warm *w)
{
	struct app_hooks h = {.send = warm_send, .send_ctx = w};
	const char *bad = NULL;
	size_t badlen = 0;
	int rc;

	log_set_level(w->o.debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARNING);
	if (w->o.trace && log_set_trace(w->o.trace, &bad, &badlen) < 0) {
		fprintf(stderr, WARM_PROG ": unknown trace component '%.*s'\n",
			(int)badlen, bad);
		return -EINVAL;
	}
	if (w->o.log_file) {
		rc = log_open(LOG_SINK_FILE, w->o.log_file);
		if (rc < 0) {
			fprintf(stderr,
				WARM_PROG ": cannot open log file '%s': %s\n",
				w->o.log_file, strerror(-rc));
			return rc;
		}
	}
	rc = w->seed ? use_seed(w) : app_make_dirs(w->o.cache_dir);
	if (rc < 0 && !w->seed)
		fprintf(stderr,
			WARM_PROG ": cannot create cache directory '%s': %s\n",
			w->o.cache_dir, strerror(-rc));
	if (rc < 0)
		return rc;
	rc = app_open(&w->app, &w->o, &h);
	if (rc < 0)
		fprintf(stderr,
			WARM_PROG ": cannot open the cache in '%s'%s%s: %s\n",
			w->o.cache_dir, w->o.seed_cache ? " or its seed " : "",
			w->o.seed_cache ? w->o.seed_cache : "", strerror(-rc));
	return rc;
}

static void warm_release(struct warm *w)
{
	app_close(&w->app);
	for (size_t i = 0; i < w->n; i++)
		free(w->v[i].path);
	for (size_t i = 0; i < w->nfails; i++)
		free(w->fails[i].what);
	free(w->v);
	free(w->fails);
	free(w->seen);
	free(w->slots);
	free(w->rows);
	free(w->seed);
	opts_release(&w->o);
}

int main(int argc, char *argv[])
{
	struct warm w = {.n = 0};
	uint64_t t0 = http_now_ms();
	int first = 0;
	int status = WARM_EXIT_FAILED;
	bool inited = false;
	int rc;

#ifdef __GLIBC__
	/* as the daemon (main.c): chunks are freed on other threads */
	mallopt(M_ARENA_MAX, 1);
#endif
	pthread_mutex_init(&w.lock, NULL);
	http_cond_init(&w.cond);
	rc = parse_args(&w, argc, argv, &first);
	if (rc == 1) {
		status = 0;
		goto out;
	}
	if (rc < 0) {
		status = rc == -EINVAL ? WARM_EXIT_USAGE : WARM_EXIT_FAILED;
		goto out;
	}
	/* before any thread starts (curl's rule) */
	rc = http_global_init();
	inited = rc == 0;
	if (rc == 0)
		rc = setup(&w);
	if (rc < 0)
		goto out;
	for (int i = first; rc == 0 && i < argc; i++)
		rc = warm_walk_target(&w, argv[i]);
	if (rc == 0 && w.rows && !w.rows_used) {
		fprintf(stderr, WARM_PROG ": --rows: no target is an "
					  "images.tsv\n");
		status = WARM_EXIT_USAGE;
		goto out;
	}
	if (rc == 0 && !w.quiet) {
		char b[32];

		printf(WARM_PROG ": %zu images, %s%s%s\n", w.n,
		       human(w.total_bytes, b, sizeof(b)),
		       w.unsized ? " and image ids sized once open" : "",
		       w.dry_run ? " (dry run: reading only what is cached)"
				 : "");
		fflush(stdout);
	}
	if (rc == 0 && w.total_bytes > w.o.cache_size)
		fprintf(stderr,
			WARM_PROG ": note: the images hold more than "
				  "cache_size: the first ones may be evicted "
				  "(compression may save them)\n");
	if (rc == 0)
		rc = run(&w);
	if (rc < 0) {
		fprintf(stderr, WARM_PROG ": %s\n", strerror(-rc));
		goto out;
	}
	if (summary(&w, (double)(http_now_ms() - t0) / 1000.0) == 0 &&
	    check_cache(&w))
		status = 0;
out:
	warm_release(&w);
	if (inited)
		http_global_cleanup();
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	log_close();
	return status;
}
