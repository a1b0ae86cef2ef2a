/* SPDX-License-Identifier: MIT */
/*
 * tree_orig: the directories of <image>.originals, from the paths of the
 * image's fileset. The whole tree (every subdirectory's listing) is built
 * from one answer, without the tree lock and without recursion: each path
 * is cut into its components, the components are sorted by (parent path,
 * name), and one scan makes every directory's entries; the lock is then
 * taken only to create the nodes and swap the listings in, which costs one
 * step per entry.
 *
 * Limits: a path of more than TREE_ORIG_DEPTH_MAX levels (directories
 * and the file) or longer than TREE_ORIG_PATH_MAX bytes is left out, with one
 * log line per listing naming the first such file's URL (a fileset of 60 000
 * nested directories would make a tree no program can walk). Names are made
 * safe and unique like every other name (tree_names.c).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idrfs/http.h"
#include "idrfs/log.h"

#include "tree_int.h"

/* One component of one file's path: path[start, end); its parent
 * directory is path[0, start) ("" for the top). */
struct orec {
	const char *path;
	size_t start, end;
	bool dir; /* a directory on the way, else the file itself */
	size_t file;
};

struct oent {
	char *name;
	enum tree_kind kind; /* ORIGSUB or ORIGFILE */
	uint64_t ino;
	size_t file; /* ORIGFILE: index in the files */
	char tag[12];
};

struct odir {
	uint64_t ino; /* 0: the <image>.originals directory itself */
	struct oent *ents;
	size_t n;
	struct ent *listing; /* its listing to be, names set, nodes not */
	size_t nlisting;
};

struct tree_orig {
	int64_t image;
	const struct api_file *files; /* borrowed from the caller */
	struct oent *ents;	      /* every entry; the dirs point in */
	size_t nents;
	struct odir *dirs;
	size_t ndirs;
};

uint64_t tree_orig_ino(enum tree_kind kind, int64_t image, const char *path,
		       size_t len)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)image;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)path[i]) * 1099511628211ull;
	return TREE_INO(kind, h & TREE_ID_MAX);
}

/* Compare two byte strings of given lengths like strcmp. */
static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	if (c == 0 && al != bl)
		c = al < bl ? -1 : 1;
	return c;
}

static int orec_parent_cmp(const struct orec *x, const struct orec *y)
{
	return bytes_cmp(x->path, x->start, y->path, y->start);
}

static int orec_cmp(const void *a, const void *b)
{
	const struct orec *x = a, *y = b;
	int c = orec_parent_cmp(x, y);

	if (c == 0)
		c = bytes_cmp(x->path + x->start, x->end - x->start,
			      y->path + y->start, y->end - y->start);
	if (c == 0 && x->dir != y->dir)
		c = x->dir ? 1 : -1;
	if (c == 0 && x->file != y->file)
		c = x->file < y->file ? -1 : 1;
	return c;
}

/* Components of a path, or 0 if it is left out (too deep or long, or an
 * empty component). */
static size_t path_depth(const char *p)
{
	size_t len = strnlen(p, TREE_ORIG_PATH_MAX + 1), depth = 1;

	if (len == 0 || len > TREE_ORIG_PATH_MAX || p[0] == '/' ||
	    p[len - 1] == '/')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] != '/')
			continue;
		if (p[i + 1] == '/' || ++depth > TREE_ORIG_DEPTH_MAX)
			return 0;
	}
	return depth;
}

static int path_cmp(const void *a, const void *b, void *files)
{
	const struct api_file *f = files;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(f[x].path, f[y].path);

	return c ? c : (x < y ? -1 : x > y);
}

static int rec_add(struct orec **r, size_t *n, size_t *cap, struct orec e)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct orec *nr;

		if (*n >= TREE_ORIG_ENTRIES_MAX)
			return -EFBIG;
		nr = realloc(*r, nc * sizeof(*nr));
		if (!nr)
			return -ENOMEM;
		*r = nr;
		*cap = nc;
	}
	(*r)[(*n)++] = e;
	return 0;
}

/*
 * One record per directory and per file. Sorted, the paths under one
 * directory are consecutive, so a directory is recorded where a path
 * first leaves the directories of the one before it: linear in the
 * bytes, never one record per file and level.
 */
static int make_records(const struct api_file *files, size_t nfiles,
			const char *what, struct orec **out, size_t *nout)
{
	size_t *idx = calloc(nfiles + 1, sizeof(*idx));
	size_t nidx = 0, dropped = 0, first = 0, nr = 0, cap = 0;
	struct orec *r = NULL;
	const char *prev = NULL;
	int rc = idx ? 0 : -ENOMEM;

	for (size_t i = 0; rc == 0 && i < nfiles; i++) {
		if (path_depth(files[i].path) > 0)
			idx[nidx++] = i;
		else if (dropped++ == 0)
			first = i;
	}
	if (dropped > 0) {
		char esc[512];

		log_warn(LOG_C_TREE,
			 "\"%s\": %zu original file(s) left out, more than "
			 "%u levels deep or with a path longer than %u bytes; "
			 "the first is \"%s\"",
			 what, dropped, TREE_ORIG_DEPTH_MAX, TREE_ORIG_PATH_MAX,
			 log_escape(files[first].url, esc, sizeof(esc)));
	}
	if (nidx > 0)
		qsort_r(idx, nidx, sizeof(*idx), path_cmp, (void *)files);
	for (size_t k = 0; rc == 0 && k < nidx; k++) {
		const char *p = files[idx[k]].path;
		size_t common = 0, start;

		/* the directories it shares with the path before */
		for (size_t j = 0; prev && prev[j] && prev[j] == p[j]; j++) {
			if (p[j] == '/')
				common = j + 1;
		}
		if (prev && strcmp(prev, p) == 0)
			continue; /* the same file twice */
		start = common;
		for (size_t j = common; rc == 0; j++) {
			if (p[j] != '/' && p[j] != '\0')
				continue;
			rc = rec_add(&r, &nr, &cap,
				     (struct orec){p, start, j, p[j] == '/',
						   idx[k]});
			if (p[j] == '\0')
				break;
			start = j + 1;
		}
		prev = p;
	}
	free(idx);
	if (rc == -EFBIG)
		log_error(LOG_C_TREE,
			  "\"%s\": more than %u original files and "
			  "directories; not listed",
			  what, TREE_ORIG_ENTRIES_MAX);
	if (rc < 0) {
		free(r);
		return rc;
	}
	*out = r;
	*nout = nr;
	return 0;
}

static uint32_t tag_hash(const char *p, size_t len, bool dir)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return (h ^ (dir ? 1u : 0u)) * 16777619u;
}

/* The entries of one directory: records r[0, n) share the parent (and
 * a directory is recorded once). */
static int make_dir(struct tree_orig *o, const struct orec *r, size_t n,
		    struct odir *d)
{
	struct tree_uname *u = calloc(n + 1, sizeof(*u));
	char **base = calloc(n + 1, sizeof(*base));
	int rc = u && base ? 0 : -ENOMEM;

	d->ents = o->ents + o->nents;
	d->n = 0;
	d->ino = r[0].start == 0 ? 0
				 : tree_orig_ino(TREE_K_ORIGSUB, o->image,
						 r[0].path, r[0].start);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct oent *e = &d->ents[i];
		char raw[TREE_NAME_MAX * 4 + 1], safe[TREE_NAME_MAX + 1];
		size_t len = r[i].end - r[i].start;

		if (len > sizeof(raw) - 1)
			len = sizeof(raw) - 1;
		memcpy(raw, r[i].path + r[i].start, len);
		raw[len] = '\0';
		tree_sanitize_name(raw, safe, TREE_NAME_MAX);
		base[i] = strdup(safe);
		e->kind = r[i].dir ? TREE_K_ORIGSUB : TREE_K_ORIGFILE;
		/* a directory is its path with the '/' */
		e->ino = tree_orig_ino(e->kind, o->image, r[i].path,
				       r[i].dir ? r[i].end + 1 : r[i].end);
		e->file = r[i].file;
		snprintf(e->tag, sizeof(e->tag), "#%08" PRIx32,
			 tag_hash(r[i].path, r[i].end, r[i].dir));
		u[i] = (struct tree_uname){.base = base[i],
					   .ext = "",
					   .tag = e->tag,
					   .order = e->ino};
		d->n++;
		if (!base[i])
			rc = -ENOMEM;
	}
	o->nents += d->n;
	if (rc == 0)
		rc = tree_names_unique(u, d->n, NULL, 0);
	for (size_t i = 0; rc == 0 && i < d->n; i++)
		d->ents[i].name = u[i].name;
	for (size_t i = 0; base && i < d->n; i++)
		free(base[i]);
	free(base);
	free(u);
	return rc;
}

static int oent_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct oent *)a)->name,
		      ((const struct oent *)b)->name);
}

void tree_orig_free(struct tree_orig *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->nents; i++)
		free(o->ents[i].name);
	for (size_t i = 0; i < o->ndirs; i++)
		tree_ents_free(o->dirs[i].listing, o->dirs[i].nlisting);
	free(o->ents);
	free(o->dirs);
	free(o);
}

int tree_orig_build(int64_t image, const struct api_file *files, size_t nfiles,
		    const char *what, struct tree_orig **out)
{
	struct tree_orig *o = calloc(1, sizeof(*o));
	struct orec *r = NULL;
	size_t nr = 0;
	int rc = o ? make_records(files, nfiles, what, &r, &nr) : -ENOMEM;

	if (rc < 0)
		goto out;
	o->image = image;
	o->files = files;
	o->ents = calloc(nr + 1, sizeof(*o->ents));
	o->dirs = calloc(nr + 1, sizeof(*o->dirs));
	if (!o->ents || !o->dirs) {
		rc = -ENOMEM;
		goto out;
	}
	if (nr > 0)
		qsort(r, nr, sizeof(*r), orec_cmp);
	for (size_t i = 0; rc == 0 && i < nr;) {
		size_t j = i + 1;

		while (j < nr && orec_parent_cmp(&r[i], &r[j]) == 0)
			j++;
		rc = make_dir(o, r + i, j - i, &o->dirs[o->ndirs]);
		if (rc == 0) {
			struct odir *d = &o->dirs[o->ndirs++];

			if (d->n > 0)
				qsort(d->ents, d->n, sizeof(*d->ents),
				      oent_name_cmp);
			/* the listing is made here, without the lock */
			d->listing = calloc(d->n + 1, sizeof(*d->listing));
			d->nlisting = d->n;
			if (!d->listing)
				rc = -ENOMEM;
			for (size_t k = 0; rc == 0 && k < d->n; k++) {
				d->listing[k].name = d->ents[k].name;
				d->ents[k].name = NULL;
			}
		}
		i = j;
	}
out:
	free(r);
	if (rc < 0) {
		tree_orig_free(o);
		return rc;
	}
	*out = o;
	return 0;
}

/* Install one directory's entries as dn's listing (t->lock held): the
 * nodes, and a swap. */
static int install_dir(struct tree *t, const struct tree_orig *o,
		       struct odir *d, struct node *dn, uint64_t now)
{
	struct ent *ents = d->listing;

	for (size_t i = 0; i < d->n; i++) {
		const struct oent *e = &d->ents[i];
		struct node *n = tree_node_get(t, e->kind, e->ino, o->image);

		if (!n)
			return -ENOMEM;
		if (e->kind == TREE_K_ORIGFILE) {
			n->size = o->files[e->file].size;
			/* read without the lock once set: never replaced */
			if (!n->url)
				n->url = strdup(o->files[e->file].url);
			if (!n->url)
				return -ENOMEM;
		}
		n->up = dn;
		ents[i].node = n;
	}
	/* the old listing goes with o (tree_orig_free) */
	d->listing = dn->ents;
	d->nlisting = dn->nents;
	dn->ents = ents;
	dn->nents = d->n;
	dn->listed_at = now;
	return 0;
}

int tree_orig_install(struct tree *t, struct node *dir, struct tree_orig *o)
{
	struct odir empty = {0}, *top = &empty;
	uint64_t now = http_now_ms();
	int rc = 0;

	/* the subdirectories first: dir's listing changes last */
	for (size_t i = 0; rc == 0 && i < o->ndirs; i++) {
		struct odir *d = &o->dirs[i];
		struct node *dn;

		if (d->ino == 0) {
			top = d;
			continue;
		}
		dn = tree_node_get(t, TREE_K_ORIGSUB, d->ino, o->image);
		rc = dn ? install_dir(t, o, d, dn, now) : -ENOMEM;
	}
	if (rc == 0)
		rc = install_dir(t, o, top, dir, now);
	if (top == &empty)
		tree_ents_free(empty.listing, empty.nlisting);
	return rc;
}
