/* SPDX-License-Identifier: MIT */
/*
 * warmup_walk: the targets of idrfs-warmup turned into the files to read,
 * through the same tree a mount shows, with no FUSE. A path is resolved
 * one name at a time from the root, following symlinks (the by-* links)
 * as the kernel would; a directory is walked; an images.tsv is read and
 * its path column resolved; an id becomes its image's path when the image
 * is in a project's dataset, else it is kept as an id (read through
 * pixsrc).
 * Every file is taken once, by inode (an image reached by a link and by
 * its path is one image).
 *
 * Skipped in a walk: the generated files (images.tsv, study.txt,
 * README.txt at the root), .idrfs, and each image's .ome.tif (level 0 is
 * the .tif's chunks; with --levels the .tif stands for its .ome.tif, so
 * the pyramid's levels are warmed too); a walk of the root itself covers
 * projects/ and screens/ only (by-* and originals/ lead to the same
 * images, or to files nobody asked for).
 */
#include "config.h"

#include "warmup_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idrfs/log.h"

#define WARM_LINK_HOPS 8
#define WARM_DEPTH_MAX 128 /* names in one path */
#define WARM_TSV_NAME  "images.tsv"
#define WARM_ID_PREFIX "image:"
#define WARM_ID_FLAG   (1ull << 63) /* ids apart from inodes in seen */

/* ---- the set of what is taken already ---- */

static size_t seen_slot(const uint64_t *set, size_t cap, uint64_t key)
{
	size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 7) & (cap - 1);

	while (set[i] && set[i] != key)
		i = (i + 1) & (cap - 1);
	return i;
}

/* @return 1 if newly added, 0 if already there, -ENOMEM */
static int seen_add(struct warm *w, uint64_t key)
{
	size_t i;

	if (w->seen_n + 1 > w->seen_cap / 2) {
		size_t nc = w->seen_cap ? w->seen_cap * 2 : 1024;
		uint64_t *ns = calloc(nc, sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		for (size_t j = 0; j < w->seen_cap; j++) {
			if (w->seen[j])
				ns[seen_slot(ns, nc, w->seen[j])] = w->seen[j];
		}
		free(w->seen);
		w->seen = ns;
		w->seen_cap = nc;
	}
	i = seen_slot(w->seen, w->seen_cap, key);
	if (w->seen[i])
		return 0;
	w->seen[i] = key;
	w->seen_n++;
	return 1;
}

/* ---- the list ---- */

/* The image id of a tree file (user.idr.id, no request), or 0. */
static int64_t id_of(struct warm *w, uint64_t ino)
{
	char *v = NULL;
	size_t len = 0;
	int64_t id = 0;

	if (tree_getxattr(w->app.tree, ino, "user.idr.id",
			  warm_walk_deadline(w), &v, &len) == 0)
		id = strtoll(v, NULL, 10);
	free(v);
	return id > 0 ? id : 0;
}

/* Take a file once: an image by its id (a path and an id are one image),
 * another file by its inode. */
static int item_add(struct warm *w, const char *path, uint64_t ino, int64_t id,
		    uint64_t size)
{
	uint64_t key;
	int rc;

	if (ino)
		id = id_of(w, ino);
	key = id ? ((uint64_t)id | WARM_ID_FLAG) : ino;
	rc = seen_add(w, key);

	if (rc <= 0)
		return rc;
	if (w->n == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 256;
		struct warm_item *nv = realloc(w->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		w->v = nv;
		w->cap = nc;
	}
	w->v[w->n] = (struct warm_item){.ino = ino, .id = id, .size = size};
	w->v[w->n].path = strdup(path);
	if (!w->v[w->n].path)
		return -ENOMEM;
	w->n++;
	w->total_bytes += size;
	w->unsized += ino ? 0 : 1;
	return 0;
}

void warm_fail_add(struct warm *w, const char *what, int err)
{
	if (w->nfails == w->capfails) {
		size_t nc = w->capfails ? w->capfails * 2 : 16;
		struct warm_fail *nv = realloc(w->fails, nc * sizeof(*nv));

		if (!nv)
			return;
		w->fails = nv;
		w->capfails = nc;
	}
	w->fails[w->nfails].what = strdup(what);
	w->fails[w->nfails].err = err;
	if (w->fails[w->nfails].what)
		w->nfails++;
}

/* ---- paths ---- */

/* The names walked so far, with the inode each led to. */
struct stack {
	char *name[WARM_DEPTH_MAX];
	uint64_t ino[WARM_DEPTH_MAX];
	size_t n;
};

static void stack_release(struct stack *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->name[i]);
	s->n = 0;
}

static uint64_t stack_top(const struct stack *s)
{
	return s->n ? s->ino[s->n - 1] : TREE_ROOT_INO;
}

/* The path of the stack, "a/b/c" ("" for the root). NULL: ENOMEM. */
static char *stack_path(const struct stack *s)
{
	size_t len = 1;
	char *p;
	char *o;

	for (size_t i = 0; i < s->n; i++)
		len += strlen(s->name[i]) + 1;
	p = malloc(len);
	if (!p)
		return NULL;
	o = p;
	for (size_t i = 0; i < s->n; i++) {
		size_t l = strlen(s->name[i]);

		if (i > 0)
			*o++ = '/';
		memcpy(o, s->name[i], l);
		o += l;
	}
	*o = '\0';
	return p;
}

/*
 * Resolve @p path (from the root of the mount; a leading '/' is allowed)
 * as the kernel would: ".." goes up, symlinks are followed, the last one
 * too.
 * @param[out] canon the path reached, heap; on success only
 * @return 0, -ENOENT, -ENOTDIR, -ELOOP, -ENAMETOOLONG, -ENOMEM, or a
 *         listing error of the tree
 */
static int resolve(struct warm *w, const char *path, struct tree_attr *attr,
		   char **canon)
{
	struct stack s = {.n = 0};
	struct tree_attr a = {0};
	char *todo = strdup(path);
	char *cur;
	unsigned hops = 0;
	int rc = 0;

	if (!todo)
		return -ENOMEM;
	rc = tree_getattr(w->app.tree, TREE_ROOT_INO, &a);
	cur = todo;
	while (rc == 0 && *cur) {
		char *name = cur;
		char *slash = strchr(cur, '/');
		char *target = NULL;
		char *next = NULL;

		if (slash) {
			*slash = '\0';
			cur = slash + 1;
		} else {
			cur += strlen(cur);
		}
		if (!*name || strcmp(name, ".") == 0)
			continue;
		if (strcmp(name, "..") == 0) {
			if (s.n > 0)
				free(s.name[--s.n]);
			rc = tree_getattr(w->app.tree, stack_top(&s), &a);
			continue;
		}
		if (s.n == WARM_DEPTH_MAX) {
			rc = -ENAMETOOLONG;
			break;
		}
		rc = tree_lookup(w->app.tree, stack_top(&s), name,
				 warm_walk_deadline(w), &a);
		if (rc < 0)
			break;
		if (!a.is_link) {
			s.name[s.n] = strdup(name);
			s.ino[s.n] = a.ino;
			if (!s.name[s.n]) {
				rc = -ENOMEM;
				break;
			}
			s.n++;
			continue;
		}
		/* a link: its target, then what was left, from here */
		if (++hops > WARM_LINK_HOPS) {
			rc = -ELOOP;
			break;
		}
		rc = tree_readlink(w->app.tree, a.ino, &target);
		if (rc < 0)
			break;
		if (asprintf(&next, "%s/%s", target, cur) < 0)
			next = NULL;
		if (next && target[0] == '/')
			stack_release(&s);
		free(target);
		if (!next) {
			rc = -ENOMEM;
			break;
		}
		free(todo);
		todo = next;
		cur = todo;
		rc = tree_getattr(w->app.tree, stack_top(&s), &a);
	}
	if (rc == 0) {
		*canon = stack_path(&s);
		*attr = a;
		if (!*canon)
			rc = -ENOMEM;
	}
	stack_release(&s);
	free(todo);
	return rc;
}

/* ---- walking ---- */

static bool skipped(const char *dir, const char *name)
{
	size_t n = strlen(name);

	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strcmp(name, WARM_TSV_NAME) == 0 || strcmp(name, "study.txt") == 0)
		return true;
	/* an image's .ome.tif reads the .tif's chunks (and its pyramid's,
	 * which --levels takes through the .tif: take_file()) */
	if (n > 8 && strcmp(name + n - 8, ".ome.tif") == 0)
		return true;
	if (*dir)
		return false;
	/* the root: only the archive itself */
	return strcmp(name, "projects") != 0 && strcmp(name, "screens") != 0;
}

static int walk(struct warm *w, const char *path, const struct tree_attr *a,
		unsigned depth);

/*
 * Take a file. With --levels, an image's file stands for its .ome.tif,
 * as the tree names it (user.idr.ome_tif, which only a raw image has):
 * the .ome.tif holds every level, level 0 in the .tif's chunks; a
 * rendered image keeps its .tif.
 */
static int take_file(struct warm *w, const char *path,
		     const struct tree_attr *a)
{
	struct tree_attr oa;
	char *ome = NULL;
	char *oc = NULL;
	size_t len = 0;
	int rc;

	if (w->levels &&
	    tree_getxattr(w->app.tree, a->ino, "user.idr.ome_tif",
			  warm_walk_deadline(w), &ome, &len) == 0 &&
	    resolve(w, ome, &oa, &oc) == 0 && !oa.is_dir)
		rc = item_add(w, oc, oa.ino, 0, oa.size);
	else
		rc = item_add(w, path, a->ino, 0, a->size);
	free(oc);
	free(ome);
	return rc;
}

/* An entry of a directory being walked. */
static int walk_entry(struct warm *w, const char *dir,
		      const struct tree_dirent *e, unsigned depth)
{
	struct tree_attr a = e->attr;
	char *path = NULL;
	char *canon = NULL;
	int rc;

	if (asprintf(&path, "%s%s%s", dir, *dir ? "/" : "", e->name) < 0)
		return -ENOMEM;
	if (a.is_link) {
		rc = resolve(w, path, &a, &canon);
		if (rc < 0 && rc != -ENOMEM) {
			warm_fail_add(w, path, rc);
			rc = 0;
			goto out;
		}
		if (rc < 0)
			goto out;
	}
	rc = walk(w, canon ? canon : path, &a, depth + 1);
out:
	free(canon);
	free(path);
	return rc;
}

/* A file is taken, a directory is walked (each once). */
static int walk(struct warm *w, const char *path, const struct tree_attr *a,
		unsigned depth)
{
	struct tree_dir *d = NULL;
	int rc;

	if (!a->is_dir) {
		if (a->live || a->lazy)
			return 0; /* a generated file: nothing to warm */
		return take_file(w, path, a);
	}
	rc = seen_add(w, a->ino);
	if (rc <= 0)
		return rc;
	if (depth > WARM_DEPTH_MAX) {
		warm_fail_add(w, path, -ELOOP);
		return 0;
	}
	rc = tree_opendir(w->app.tree, a->ino, warm_walk_deadline(w), &d);
	if (rc < 0) {
		warm_fail_add(w, *path ? path : "/", rc);
		return rc == -ENOMEM ? rc : 0;
	}
	for (size_t i = 0; rc == 0 && i < d->n; i++) {
		if (!skipped(path, d->ents[i].name))
			rc = walk_entry(w, path, &d->ents[i], depth);
	}
	tree_dir_free(d);
	return rc;
}

/* ---- images.tsv ---- */

int warm_rows_parse(const char *spec, struct warm_rows **out, size_t *n)
{
	struct warm_rows *v = NULL;
	size_t nv = 0, cap = 0;
	const char *p = spec;

	while (*p) {
		struct warm_rows r;
		char *end = NULL;

		if (*p < '0' || *p > '9')
			goto bad;
		r.first = strtoull(p, &end, 10);
		r.last = r.first;
		if (*end == '-') {
			p = end + 1;
			if (*p < '0' || *p > '9')
				goto bad;
			r.last = strtoull(p, &end, 10);
		}
		if (r.first < 1 || r.last < r.first || (*end && *end != ','))
			goto bad;
		p = *end ? end + 1 : end;
		if (*end == ',' && !*p)
			goto bad;
		if (nv == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct warm_rows *nr = realloc(v, nc * sizeof(*nr));

			if (!nr) {
				free(v);
				return -ENOMEM;
			}
			v = nr;
			cap = nc;
		}
		v[nv++] = r;
	}
	if (nv == 0)
		goto bad;
	*out = v;
	*n = nv;
	return 0;
bad:
	free(v);
	return -EINVAL;
}

static bool row_wanted(const struct warm *w, uint64_t row)
{
	if (!w->rows)
		return true;
	for (size_t i = 0; i < w->nrows; i++) {
		if (row >= w->rows[i].first && row <= w->rows[i].last)
			return true;
	}
	return false;
}

/* The text of a generated file, whole. @param[out] out heap, NUL-ended */
static int read_whole(struct warm *w, const struct tree_attr *a, char **out)
{
	uint64_t fh = 0;
	char *buf = NULL;
	size_t len = 0;
	bool opened;
	int rc;

	if (a->size > (256ull << 20))
		return -EFBIG;
	buf = malloc((size_t)a->size + 1);
	if (!buf)
		return -ENOMEM;
	rc = tree_open(w->app.tree, a->ino, warm_walk_deadline(w), &fh);
	opened = rc == 0;
	while (rc == 0 && len < a->size) {
		ssize_t got = tree_read(w->app.tree, a->ino, fh, len,
					(size_t)a->size - len, buf + len,
					warm_walk_deadline(w));

		if (got < 0)
			rc = (int)got;
		else if (got == 0)
			break;
		else
			len += (size_t)got;
	}
	if (opened)
		tree_release(w->app.tree, a->ino, fh);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

/* The index of column @p name in a header line, or -1. */
static int column_of(const char *header, const char *name)
{
	size_t len = strlen(name);
	int col = 0;

	for (const char *p = header;; col++) {
		size_t cell = strcspn(p, "\t\n");

		if (cell == len && memcmp(p, name, len) == 0)
			return col;
		if (p[cell] != '\t')
			return -1;
		p += cell + 1;
	}
}

/* Cell @p col of a line, copied into @p out (cut). */
static void cell_of(const char *line, int col, char *out, size_t outsz)
{
	const char *p = line;
	size_t len;

	for (int i = 0; i < col && p; i++) {
		p = strchr(p, '\t');
		if (p)
			p++;
	}
	len = p ? strcspn(p, "\t\n") : 0;
	if (len >= outsz)
		len = outsz - 1;
	memcpy(out, p ? p : "", len);
	out[len] = '\0';
}

static int take_path(struct warm *w, const char *path);
static int take_id(struct warm *w, int64_t id);

/* The rows of an images.tsv (those --rows selects): their images. */
static int walk_tsv(struct warm *w, const char *path, const struct tree_attr *a)
{
	char *text = NULL;
	char *line;
	char cell[4096];
	int pcol, icol;
	uint64_t row = 0;
	int rc = read_whole(w, a, &text);

	if (rc < 0) {
		warm_fail_add(w, path, rc);
		return rc == -ENOMEM ? rc : 0;
	}
	pcol = column_of(text, "path");
	icol = column_of(text, "id");
	if (pcol < 0 && icol < 0) {
		log_error(LOG_C_MAIN, "'%s' has no path or id column", path);
		warm_fail_add(w, path, -EBADMSG);
		free(text);
		return 0;
	}
	w->rows_used = true;
	line = strchr(text, '\n');
	while (rc == 0 && line && line[1]) {
		line++;
		row++;
		if (row_wanted(w, row)) {
			cell[0] = '\0';
			if (pcol >= 0)
				cell_of(line, pcol, cell, sizeof(cell));
			if (cell[0]) {
				rc = take_path(w, cell);
			} else if (icol >= 0) {
				cell_of(line, icol, cell, sizeof(cell));
				rc = take_id(w, strtoll(cell, NULL, 10));
			}
		}
		line = strchr(line, '\n');
	}
	free(text);
	return rc;
}

/* ---- targets ---- */

/*
 * An image id: its file in the tree when the image is in a project's
 * dataset (so the locator finds its pixels as a mount does, and the keys
 * are the mount's); otherwise (a plate's image) the id itself, opened
 * through its ExternalInfo.
 */
static int take_id(struct warm *w, int64_t id)
{
	char what[32];
	char *path = NULL;
	int rc;

	snprintf(what, sizeof(what), WARM_ID_PREFIX "%" PRId64, id);
	if (id <= 0) {
		warm_fail_add(w, what, -EINVAL);
		return 0;
	}
	rc = tree_image_path(w->app.tree, id, warm_walk_deadline(w), &path);
	if (rc == -ENOMEM)
		return rc;
	if (rc == 0) {
		rc = take_path(w, path);
		free(path);
		return rc;
	}
	return item_add(w, what, 0, id, 0);
}

static int take_path(struct warm *w, const char *path)
{
	struct tree_attr a;
	char *canon = NULL;
	const char *base;
	int rc = resolve(w, path, &a, &canon);

	if (rc < 0) {
		warm_fail_add(w, path, rc);
		return rc == -ENOMEM ? rc : 0;
	}
	base = strrchr(canon, '/');
	base = base ? base + 1 : canon;
	/* the name is idrfs's own: no archive object takes it */
	if (!a.is_dir && strcmp(base, WARM_TSV_NAME) == 0) {
		rc = walk_tsv(w, canon, &a);
	} else if (!a.is_dir && (a.lazy || a.live)) {
		warm_fail_add(w, canon, -EINVAL); /* study.txt, stats */
	} else {
		rc = walk(w, canon, &a, 0);
	}
	free(canon);
	return rc;
}

/* "12345" or "image:12345": an image id (no name at the root is all
 * digits, so a bare number is never a path). */
static bool parse_id(const char *t, int64_t *id)
{
	char *end = NULL;
	long long v;

	if (strncmp(t, WARM_ID_PREFIX, strlen(WARM_ID_PREFIX)) == 0)
		t += strlen(WARM_ID_PREFIX);
	if (*t < '0' || *t > '9')
		return false;
	errno = 0;
	v = strtoll(t, &end, 10);
	if (errno || *end)
		return false;
	*id = v;
	return true;
}

int warm_walk_target(struct warm *w, const char *target)
{
	int64_t id;

	if (parse_id(target, &id))
		return take_id(w, id);
	return take_path(w, target);
}
