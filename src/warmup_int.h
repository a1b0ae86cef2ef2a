/* SPDX-License-Identifier: MIT */
/*
 * warmup_int: what the two files of idrfs-warmup share. Private to it.
 *
 *   warmup.c       the command line, the workers that read every image's
 *                  bytes into the cache, progress and the summary
 *   warmup_walk.c  targets to a list of images: paths walked through the
 *                  tree (by-* links followed), rows of images.tsv, ids
 *
 * The walk runs alone, before any worker starts; the list is not resized
 * after it, so workers hold pointers into it.
 */
#ifndef IDRFS_WARMUP_INT_H
#define IDRFS_WARMUP_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idrfs/app.h"

enum warm_state {
	WARM_NEW = 0, /* not open */
	WARM_OPENING, /* a worker opens it */
	WARM_OPEN,    /* blocks are handed out */
	WARM_DONE,    /* closed: read, or failed */
};

/** One file to read: a tree inode, or an image id read through pixsrc. */
struct warm_item {
	char *path;    /* as the mount shows it, or "image:ID" (heap) */
	uint64_t ino;  /* tree inode; 0: an image id read through pixsrc */
	int64_t id;    /* the image id (0: a tree file that is no image) */
	uint64_t size; /* bytes of its file (an id's: once open) */
	/* the rest is protected by w->lock */
	enum warm_state state;
	uint64_t next;		  /* the next offset to hand out */
	unsigned readers;	  /* blocks being read now */
	uint64_t fh;		  /* tree handle, while open */
	struct pixsrc_image *pim; /* pixel source of an id, while open */
	uint64_t done;		  /* bytes read (or given up on) */
	uint64_t cached;	  /* dry run: bytes read from the cache */
	uint64_t data_reqs;	  /* pixel requests made for it */
	uint64_t data_bytes;	  /* and their bytes */
	int err;		  /* the first error, 0 if none */
};

/** A target that could not be resolved, for the summary. */
struct warm_fail {
	char *what; /* heap */
	int err;    /* -errno */
};

/** A worker thread, found again by the send hook to count its requests. */
struct warm_slot {
	struct warm *w;
	pthread_t tid;
	bool started;		/* tid is set; protected by w->lock */
	struct warm_item *item; /* what it reads now; protected by w->lock */
};

/** A range of rows of images.tsv, 1-based, inclusive. */
struct warm_rows {
	uint64_t first, last;
};

struct warm {
	struct opts o;
	struct app app;
	/* the warm-up's own options */
	bool dry_run;
	bool quiet;
	bool levels; /* every pyramid level: the .ome.tif, not the .tif */
	double progress_s;
	char *seed;
	struct warm_rows *rows; /* NULL: every row */
	size_t nrows;
	bool rows_used; /* an images.tsv target took --rows */
	/* what to read (built by the walk) */
	struct warm_item *v;
	size_t n, cap;
	uint64_t *seen; /* open-addressed set of inodes and ids, 0 empty */
	size_t seen_n, seen_cap;
	struct warm_fail *fails;
	size_t nfails, capfails;
	/* the run; lock order: w->lock is taken alone, never across I/O */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* an item or a worker changed state */
	size_t cur;	     /* items before it have nothing to hand out */
	struct warm_slot *slots;
	unsigned nslots, running;
	uint64_t total_bytes, done_bytes; /* protected by lock */
	size_t unsized; /* ids, whose size is known once open */
	uint64_t fetched_reqs, fetched_bytes, refused;
	size_t items_done;
};

/** Deadline of one operation (a block read, an open): timeout from now. */
uint64_t warm_deadline(const struct warm *w);
/** Deadline of a walk step (a listing, an images.tsv build): 10 timeouts. */
uint64_t warm_walk_deadline(const struct warm *w);

/** Note a failure for the summary (also printed at the end). */
void warm_fail_add(struct warm *w, const char *what, int err);

/**
 * Add the images of one TARGET to w->v (deduplicated); what fails is
 * noted with warm_fail_add().
 * @return 0, or -ENOMEM (nothing else stops the walk)
 */
int warm_walk_target(struct warm *w, const char *target);

/**
 * Parse a --rows list: "1-100", "5,7,9-12".
 * @return 0 or -EINVAL
 */
int warm_rows_parse(const char *spec, struct warm_rows **out, size_t *n);

#endif
