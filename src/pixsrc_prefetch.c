/* SPDX-License-Identifier: MIT */
/*
 * pixsrc_prefetch: read-ahead. After each read of an open file, decide
 * whether its reader streams it (keeps reading where it stopped) and, if
 * so, queue jobs that fetch what it will read next: one job per fetch
 * unit, the .tif's chunk rows or rendered bands, the .ome.tif's tile rows
 * of a level. PIXSRC_PF_THREADS workers run the jobs through
 * pixsrc_image_load(), into the chunk table and the persistent cache,
 * each with its own deadline.
 *
 * Prefetch is a hint: a full queue drops a job, a job that finds no room
 * in the memory budget is dropped, and the reader loads those chunks
 * itself if it gets there. Random readers never trigger it.
 *
 * Lock order: pf->lock is taken alone (never with the chunk table's).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "idrfs/http.h"
#include "idrfs/pixsrc.h"
#include "idrfs/tiff.h"
#include "pixsrc_int.h"

/* how far out of order a sequential reader's requests may come: the
 * kernel's read-ahead (4 MiB by default) sends several at once */
#define PIXSRC_SEQ_SLACK (16u << 20)
/* requests below this size, or below two rows, are not .tif streams */
#define PIXSRC_SEQ_MIN (32u << 10)

/* ---- the queue and its workers ---- */

/* Queue a job; a full queue drops it (prefetch is a hint). */
static void pf_enqueue(struct pixsrc_prefetch *pf, struct pixsrc_image *im,
		       unsigned level, uint64_t plane, uint32_t row0,
		       uint32_t nrows)
{
	pthread_mutex_lock(&pf->lock);
	if (!atomic_load(&pf->stop) && pf->len < PIXSRC_PF_QUEUE) {
		struct pixsrc_pf_job *j =
			&pf->q[(pf->head + pf->len) % PIXSRC_PF_QUEUE];

		*j = (struct pixsrc_pf_job){pixsrc_image_hold(im), level, plane,
					    row0, nrows};
		pf->len++;
		pthread_cond_signal(&pf->cond);
	}
	pthread_mutex_unlock(&pf->lock);
}

static void *pf_worker(void *arg)
{
	struct pixsrc_prefetch *pf = arg;

	for (;;) {
		struct pixsrc_pf_job j;

		pthread_mutex_lock(&pf->lock);
		/* an idle worker waits for work, not for an operation: no
		 * deadline (pixsrc_prefetch_stop() wakes it) */
		while (pf->len == 0 && !atomic_load(&pf->stop))
			pthread_cond_wait(&pf->cond, &pf->lock);
		if (pf->len == 0) {
			pthread_mutex_unlock(&pf->lock);
			return NULL;
		}
		j = pf->q[pf->head];
		pf->head = (pf->head + 1) % PIXSRC_PF_QUEUE;
		pf->len--;
		pthread_mutex_unlock(&pf->lock);
		if (!atomic_load(&pf->stop))
			pixsrc_image_load(j.im, j.level, j.plane, j.row0,
					  j.nrows,
					  http_now_ms() + pf->job_timeout_ms);
		pixsrc_image_free(j.im);
	}
}

int pixsrc_prefetch_init(struct pixsrc_prefetch *pf, uint64_t bytes,
			 uint64_t job_timeout_ms)
{
	pthread_mutex_init(&pf->lock, NULL);
	pthread_cond_init(&pf->cond, NULL);
	atomic_init(&pf->stop, false);
	pf->head = pf->len = pf->nthreads = 0;
	pf->bytes = bytes;
	pf->job_timeout_ms = job_timeout_ms;
	pf->q = calloc(PIXSRC_PF_QUEUE, sizeof(*pf->q));
	if (!pf->q)
		return -ENOMEM;
	for (size_t i = 0; bytes && i < PIXSRC_PF_THREADS; i++) {
		if (pthread_create(&pf->threads[i], NULL, pf_worker, pf) != 0)
			break;
		pf->nthreads++;
	}
	return 0;
}

void pixsrc_prefetch_stop(struct pixsrc_prefetch *pf)
{
	pthread_mutex_lock(&pf->lock);
	atomic_store(&pf->stop, true);
	while (pf->len > 0) {
		pixsrc_image_free(pf->q[pf->head].im);
		pf->head = (pf->head + 1) % PIXSRC_PF_QUEUE;
		pf->len--;
	}
	pthread_cond_broadcast(&pf->cond);
	pthread_mutex_unlock(&pf->lock);
	for (size_t i = 0; i < pf->nthreads; i++)
		pthread_join(pf->threads[i], NULL);
	free(pf->q);
	pf->q = NULL;
	pthread_mutex_destroy(&pf->lock);
	pthread_cond_destroy(&pf->cond);
}

/* ---- streams ---- */

void pixsrc_stream_init(struct pixsrc_stream *s)
{
	atomic_init(&s->next_off, 0);
	atomic_init(&s->streak, 0);
	atomic_init(&s->seq_start, 0);
	atomic_init(&s->seq_bytes, 0);
	atomic_init(&s->pf_until, 0);
}

/*
 * Is a read the next of a stream (a reader that keeps reading where it
 * stopped)? The kernel's read-ahead sends neighbouring reads from several
 * threads, slightly out of order: near the last end is "in order"; a read
 * that does not go past it (several readers of the same bytes) is no
 * progress and no evidence either way. A read that is not @p counts
 * (too small to tell) is neither. On true, the run's bytes so far and
 * where it began.
 */
static bool seq_continues(const struct pixsrc_prefetch *pf,
			  struct pixsrc_stream *s, uint64_t off, size_t len,
			  bool counts, uint64_t *run, uint64_t *start)
{
	uint64_t end = off + len;
	uint64_t expect = atomic_load(&s->next_off);
	bool near = off <= expect + PIXSRC_SEQ_SLACK &&
		    off + PIXSRC_SEQ_SLACK >= expect;

	if (!counts || (near && end <= expect))
		return false;
	while (end > expect &&
	       !atomic_compare_exchange_weak(&s->next_off, &expect, end))
		;
	if (!near) {
		atomic_store(&s->next_off, end);
		atomic_store(&s->streak, 0);
		atomic_store(&s->seq_start, off);
		atomic_store(&s->seq_bytes, len);
		return false;
	}
	*run = atomic_fetch_add(&s->seq_bytes, len) + len;
	*start = atomic_load(&s->seq_start);
	return atomic_fetch_add(&s->streak, 1) >= 2 && pf->bytes > 0 &&
	       pf->nthreads > 0;
}

/* The window a stream gets past @p end: twice what it has read, up to
 * pf->bytes, and not past @p limit (the first byte not yet asked for,
 * *from, moves up to end). @return false: nothing to fetch. */
static bool pf_window(const struct pixsrc_prefetch *pf, struct pixsrc_stream *s,
		      uint64_t end, uint64_t run, uint64_t limit,
		      uint64_t *from, uint64_t *to)
{
	*from = atomic_load(&s->pf_until);
	if (*from < end)
		*from = end;
	*to = end + (2 * run < pf->bytes ? 2 * run : pf->bytes);
	if (*to > limit)
		*to = limit;
	if (*from >= *to)
		return false;
	atomic_store(&s->pf_until, *to);
	return true;
}

/*
 * The .tif: a reader that keeps reading where it stopped gets the next
 * bytes of the file fetched ahead of it, one job per fetch unit (chunk
 * row or band). The window grows with the run, as the kernel's does, so a
 * reader that stops early wasted little. Only requests of two rows or
 * PIXSRC_SEQ_MIN bytes count: the kernel sends a sequential reader's
 * read-ahead in large requests, while a reader of a tile (a little of
 * every row, in order) or a reader that said POSIX_FADV_RANDOM asks page
 * by page.
 */
static void prefetch_tif(struct pixsrc_prefetch *pf, struct pixsrc_image *im,
			 struct pixsrc_stream *s,
			 const struct pixsrc_pf_file *f, uint64_t off,
			 size_t len)
{
	const struct tiff_layout *l = f->tif;
	uint64_t end = off + len;
	uint64_t row_bytes = l->plane_size / f->size_y;
	uint64_t data_end = l->d0 + l->planes * l->plane_size;
	uint64_t run, start, from, to;

	if (!seq_continues(pf, s, off, len,
			   len >= PIXSRC_SEQ_MIN || len >= 2 * row_bytes, &run,
			   &start) ||
	    end <= l->d0 || end >= data_end)
		return;
	/* a reader of one plane (tifffile, a job reading a z-slice) gets the
	 * rest of that plane; one that came from the head (cp, dd) or ran
	 * across a plane boundary gets the next planes */
	uint64_t cur_plane = (end - 1 - l->d0) / l->plane_size;
	uint64_t limit = data_end;

	if (start >= l->d0 && (start - l->d0) / l->plane_size == cur_plane)
		limit = l->d0 + (cur_plane + 1) * l->plane_size;
	if (!pf_window(pf, s, end, run, limit, &from, &to))
		return;
	/* whole fetch units, from the one holding `from` (past d0: end is) */
	uint64_t rel = from - l->d0;
	uint64_t plane = rel / l->plane_size;
	uint32_t y = (uint32_t)((rel % l->plane_size) / row_bytes);

	y -= y % f->unit_rows;
	while (plane < l->planes &&
	       l->d0 + plane * l->plane_size + (uint64_t)y * row_bytes < to) {
		uint32_t n = f->unit_rows;

		if (y + n > f->size_y)
			n = f->size_y - y;
		pf_enqueue(pf, im, 0, plane, y, n);
		y += f->unit_rows;
		if (y >= f->size_y) {
			y = 0;
			plane++;
		}
	}
}

/* Where file offset @p at of the .ome.tif's pixels is (at >= d0, before
 * the end of the data): plane, level, tile row; and where that level's
 * tiles of that plane begin and end. */
struct ome_pos {
	uint64_t plane;
	unsigned level;
	uint32_t ty;
	uint64_t level_at, level_end;
};

static void ome_pos_of(const struct tiff_ome_layout *l, uint64_t at,
		       struct ome_pos *p)
{
	uint64_t rel = at - l->d0;
	uint64_t in = rel % l->plane_bytes;

	p->plane = rel / l->plane_bytes;
	p->level = 0;
	while (p->level + 1 < l->nlevels && in >= l->data_at[p->level + 1])
		p->level++;
	p->level_at = l->d0 + p->plane * l->plane_bytes + l->data_at[p->level];
	p->level_end = p->level_at + (uint64_t)l->ntx[p->level] *
					     l->nty[p->level] * l->tile_bytes;
	p->ty = (uint32_t)((at - p->level_at) /
			   ((uint64_t)l->ntx[p->level] * l->tile_bytes));
}

/*
 * The .ome.tif: a reader that streams it (cp, dd, rsync, a reader of
 * whole planes) gets the next tile rows fetched ahead of it, one job per
 * tile row of a level, like the .tif's chunk rows. A tile reader (napari,
 * tifffile's zarr store, QuPath) reads whole tiles, each in order but
 * few in a row (a region of 2 x 2 tiles is at most two tile rows of
 * bytes, read nearly in order): a run counts as a stream only once it
 * has read more than two tile rows of level 0. A reader that came from
 * inside one level of one plane gets the rest of that level; one from
 * elsewhere (the head) goes on across levels and planes. Levels the
 * source lacks (zeros in the file) are not fetched.
 */
static void prefetch_ome(struct pixsrc_prefetch *pf, struct pixsrc_image *im,
			 struct pixsrc_stream *s,
			 const struct pixsrc_pf_file *f, uint64_t off,
			 size_t len)
{
	const struct tiff_ome_layout *l = f->ome;
	uint64_t end = off + len;
	uint64_t data_end = l->d0 + l->planes * l->plane_bytes;
	uint64_t tile_row0 = (uint64_t)l->ntx[0] * l->tile_bytes;
	uint64_t run, start, from, to, limit = data_end;
	struct ome_pos p;

	if (!seq_continues(pf, s, off, len, true, &run, &start) ||
	    run <= 2 * tile_row0 || end <= l->d0 || end >= data_end)
		return;
	ome_pos_of(l, end - 1, &p);
	if (start >= p.level_at && start < p.level_end)
		limit = p.level_end;
	if (!pf_window(pf, s, end, run, limit, &from, &to))
		return;
	ome_pos_of(l, from, &p);
	for (;;) {
		uint64_t row_bytes = (uint64_t)l->ntx[p.level] * l->tile_bytes;
		uint64_t y0 = (uint64_t)p.ty * l->tile_h;

		if (p.level_at + p.ty * row_bytes >= to)
			return;
		if (p.level <= f->nlv)
			pf_enqueue(pf, im, p.level, p.plane, (uint32_t)y0,
				   (uint32_t)(l->ly[p.level] - y0 < l->tile_h
						      ? l->ly[p.level] - y0
						      : l->tile_h));
		if (p.level_at + (p.ty + 1) * row_bytes < p.level_end) {
			p.ty++;
			continue;
		}
		if (p.level_end >= data_end)
			return;
		ome_pos_of(l, p.level_end, &p);
	}
}

void pixsrc_prefetch_after(struct pixsrc_prefetch *pf, struct pixsrc_image *im,
			   struct pixsrc_stream *s,
			   const struct pixsrc_pf_file *f, uint64_t off,
			   size_t len)
{
	if (f->ome)
		prefetch_ome(pf, im, s, f, off, len);
	else if (f->tif)
		prefetch_tif(pf, im, s, f, off, len);
}
