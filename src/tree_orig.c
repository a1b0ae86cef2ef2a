/* SPDX-License-Identifier: MIT */
/*
 * tree_orig: the parallel trees. zarr/ mirrors projects/ and screens/ as
 * originals/ does, with an image's OME-Zarr view (tree_zarr.c),
 * <stem>.zarr/, where originals/ has the image's directory; only raw
 * images have one.
 *
 * originals/, the parallel tree of the files each image was
 * imported from. originals/projects/<project>/<dataset>/<stem>/ and
 * originals/screens/<screen>/<plate>/<well>/field-<n>/ mirror projects/
 * and screens/: the same archive listings, the same names (an image's
 * directory is its file's stem), so a recursive tool over projects/ never
 * enters a per-image directory, and nothing here costs a request until an
 * image's own directory is listed.
 *
 * An image's files come from /webgateway/original_file_paths/ (one
 * request, then a HEAD per file for its size) and are read by range
 * requests from the download root (-o originals_root=). The api leaves
 * out paths too deep, too long or unsafe (api.h, API_ORIG_*: the one
 * place with that rule) and refuses filesets of more than
 * API_ORIG_MAX_FILES files. The fileset is kept sorted; each directory
 * inside it lists its own run of paths (found by bisection), so no level
 * costs more than its entries, nothing recurses, and no lock is held
 * while a level is made.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idrfs/log.h"
#include "idrfs/pixsrc.h"

#include "tree_int.h"

#define ORIG_PATH_MAX 4096u

/* An image's fileset: sorted by path, immutable, shared. */
struct fileset {
	atomic_uint refs;
	size_t n;
	struct api_file *v;
	int64_t mtime;
};

/* A directory inside a fileset ("" for the image's own). */
struct osub {
	struct fileset *fs;
	char *prefix; /* "" or "a/b/" */
	uint64_t image;
};

struct ofile {
	char *url;
};

static void fileset_put(struct fileset *fs)
{
	if (!fs || atomic_fetch_sub(&fs->refs, 1) != 1)
		return;
	api_files_free(fs->v, fs->n);
	free(fs);
}

static void plain_free(void *data)
{
	free(data);
}

static void osub_free(void *data)
{
	struct osub *s = data;

	fileset_put(s->fs);
	free(s->prefix);
	free(s);
}

static void ofile_free(void *data)
{
	struct ofile *f = data;

	free(f->url);
	free(f);
}

static int add_mirror(struct tree_build *b, enum tree_kind kind, uint64_t ino,
		      uint64_t arch, const char *name, int64_t mtime)
{
	struct tree_mirror *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	m->arch = arch;
	rc = tree_build_add(b, kind, ino, strdup(name), 0, m);
	if (rc == 0)
		tree_build_last(b)->mtime = mtime;
	return rc;
}

int orig_add_root(struct tree *t, struct tree_build *b)
{
	(void)t;
	return add_mirror(b, TREE_K_ORIGROOT, TREE_ORIGROOT_INO, 0, "originals",
			  TREE_EPOCH);
}

int orig_add_zarr_root(struct tree *t, struct tree_build *b)
{
	(void)t;
	return add_mirror(b, TREE_K_ZARRROOT, TREE_ZARRROOT_INO, 0, "zarr",
			  TREE_EPOCH);
}

/* Is k a kind of zarr/'s mirror (else originals/)? */
static bool in_zarr(enum tree_kind k)
{
	return k >= TREE_K_ZARRROOT && k <= TREE_K_ZIMAGE;
}

static int origroot_list(struct tree *t, struct node *dir, uint64_t deadline,
			 struct tree_build *b)
{
	bool z = in_zarr(dir->kind);
	int rc;

	(void)t;
	(void)deadline;
	rc = add_mirror(b, z ? TREE_K_ZPROJECTS : TREE_K_OPROJECTS,
			z ? TREE_ZPROJECTS_INO : TREE_OPROJECTS_INO,
			TREE_PROJECTS_INO, "projects", TREE_EPOCH);
	if (rc == 0)
		rc = add_mirror(b, z ? TREE_K_ZSCREENS : TREE_K_OSCREENS,
				z ? TREE_ZSCREENS_INO : TREE_OSCREENS_INO,
				TREE_SCREENS_INO, "screens", TREE_EPOCH);
	return rc;
}

const struct tree_ops tree_origroot_ops = {
	.type = TREE_T_DIR,
	.fixed = true,
	.list = origroot_list,
	.free = plain_free,
};

/* The archive node a mirror shows (the tops are made on first use). */
static int mirror_arch(struct tree *t, struct node *dir, uint64_t deadline,
		       struct node **out)
{
	const struct tree_mirror *m = dir->data;
	char name[TREE_NAME_MAX + 1];
	struct node *study;

	*out = m ? tree_node_find(t, m->arch) : NULL;
	if (*out)
		return 0;
	if (!m || (m->arch != TREE_PROJECTS_INO && m->arch != TREE_SCREENS_INO))
		return -EIO; /* internal: mirrors come from archive listings */
	/* a study id nobody has: lists the top, makes its node */
	arch_study_name(t, m->arch == TREE_SCREENS_INO, -1, deadline, name,
			sizeof(name), &study);
	*out = tree_node_find(t, m->arch);
	return *out ? 0 : -EIO;
}

static int mirror_list(struct tree *t, struct node *dir, uint64_t deadline,
		       struct tree_build *b)
{
	struct tree_listing *l = NULL;
	struct node *a;
	bool z = in_zarr(dir->kind);
	int rc = mirror_arch(t, dir, deadline, &a);

	if (rc == 0)
		rc = tree_listed(t, a, deadline, &l);
	for (size_t i = 0; rc == 0 && i < l->n; i++) {
		const struct tree_ent *e = &l->ents[i];
		enum tree_kind k = e->node->kind;
		uint64_t id = e->node->ino & TREE_ID_MAX;
		int64_t mtime = 0;
		char *name;

		tree_node_get(t, e->node, NULL, &mtime);
		if (arch_is_container(k) && k >= TREE_K_PROJECT) {
			enum tree_kind mk =
				z ? TREE_ZARR_OF(k) : TREE_ORIG_OF(k);

			rc = add_mirror(b, mk, TREE_INO(mk, id), e->node->ino,
					e->name, mtime);
		} else if (k == TREE_K_IMAGE && z) {
			const struct arch_image *im = e->node->data;

			/* a raw image's view: its file's stem .zarr */
			if (!im || !im->has_ome)
				continue;
			if (asprintf(&name, "%.*s.zarr", (int)e->stem,
				     e->name) < 0)
				name = NULL;
			rc = name ? add_mirror(b, TREE_K_ZIMAGE,
					       TREE_INO(TREE_K_ZIMAGE, id),
					       e->node->ino, name, mtime)
				  : -ENOMEM;
			free(name);
		} else if (k == TREE_K_IMAGE) {
			/* an image's directory: its file's stem */
			name = strndup(e->name, e->stem);
			rc = name ? add_mirror(b, TREE_K_OIMAGE,
					       TREE_INO(TREE_K_OIMAGE, id),
					       e->node->ino, name, mtime)
				  : -ENOMEM;
			free(name);
		}
	}
	tree_listing_put(l);
	return rc;
}

int orig_mirror_xattrs(struct tree *t, struct node *n, bool with_kv,
		       uint64_t deadline, struct tree_xattrs *x)
{
	const struct tree_mirror *m = n->data;
	struct node *a = m ? tree_node_find(t, m->arch) : NULL;

	return a ? arch_xattrs(t, a, with_kv, deadline, x) : 0;
}

const struct tree_ops tree_omirror_ops = {
	.type = TREE_T_DIR,
	.list = mirror_list,
	.xattrs = orig_mirror_xattrs,
	.free = plain_free,
};

/* ---- an image's files ---- */

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct api_file *)a)->path,
		      ((const struct api_file *)b)->path);
}

/* Sorted and each path once (the api left out what cannot be shown:
 * too deep, too long, unsafe). */
static void fileset_clean(struct fileset *fs)
{
	size_t w = 0;

	if (fs->n > 0)
		qsort(fs->v, fs->n, sizeof(*fs->v), file_cmp);
	for (size_t i = 0; i < fs->n; i++) {
		if (w > 0 && strcmp(fs->v[w - 1].path, fs->v[i].path) == 0) {
			free(fs->v[i].path);
			free(fs->v[i].url);
			continue;
		}
		fs->v[w++] = fs->v[i];
	}
	fs->n = w;
}

static bool unreachable(int rc)
{
	return rc == -ECONNREFUSED || rc == -EHOSTUNREACH || rc == -ETIMEDOUT ||
	       rc == -ENETUNREACH || rc == -ENETDOWN;
}

/* The entries of one directory of a fileset: its run of paths. */
static int fileset_level(struct tree *t, const struct fileset *fs,
			 struct fileset *ref, const char *prefix,
			 uint64_t image, struct tree_build *b)
{
	size_t pl = strlen(prefix), lo = 0, hi = fs->n;
	struct tree_name *names = NULL;
	size_t *first = NULL, nn = 0;
	bool *isdir = NULL;
	int rc = 0;

	/* the run of paths under prefix: the first, by bisection */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(fs->v[mid].path, prefix) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	hi = lo;
	while (hi < fs->n && strncmp(fs->v[hi].path, prefix, pl) == 0)
		hi++;
	names = calloc(hi - lo + 1, sizeof(*names));
	first = calloc(hi - lo + 1, sizeof(*first));
	isdir = calloc(hi - lo + 1, sizeof(*isdir));
	if (!names || !first || !isdir)
		rc = -ENOMEM;
	for (size_t i = lo; rc == 0 && i < hi;) {
		const char *rest = fs->v[i].path + pl;
		const char *slash = strchr(rest, '/');
		size_t cl = slash ? (size_t)(slash - rest) : strlen(rest);
		size_t j = i + 1;
		char comp[ORIG_PATH_MAX + 1];

		/* a subdirectory's paths follow each other (sorted) */
		while (slash && j < hi &&
		       strncmp(fs->v[j].path, fs->v[i].path, pl + cl + 1) == 0)
			j++;
		memcpy(comp, rest, cl);
		comp[cl] = '\0';
		/* original names are kept (".zattrs" too), only made safe */
		tree_sanitize_name(comp, names[nn].stem, TREE_NAME_MAX - 22);
		names[nn].ext = "";
		names[nn].id = (int64_t)i;
		isdir[nn] = slash != NULL;
		first[nn++] = i;
		i = j;
	}
	if (rc == 0)
		tree_names_unique(names, nn, NULL);
	for (size_t k = 0; rc == 0 && k < nn; k++) {
		bool dir = isdir[k];
		const struct api_file *f = &fs->v[first[k]];
		size_t plen = dir ? pl + strcspn(f->path + pl, "/") + 1
				  : strlen(f->path);
		uint64_t ino = tree_hash_ino(dir ? TREE_K_OSUB : TREE_K_OFILE,
					     image, f->path, plen);
		char *name = strdup(names[k].stem);

		if (names[k].dropped) {
			free(name);
			continue;
		}
		if (dir) {
			struct osub *s = calloc(1, sizeof(*s));

			if (s)
				s->prefix = strndup(f->path, plen);
			if (!s || !s->prefix) {
				free(s);
				free(name);
				rc = -ENOMEM;
				break;
			}
			s->fs = ref;
			atomic_fetch_add(&ref->refs, 1);
			s->image = image;
			rc = tree_build_add(b, TREE_K_OSUB, ino, name, 0, s);
		} else {
			struct ofile *of = calloc(1, sizeof(*of));

			if (of)
				of->url = strdup(f->url);
			if (!of || !of->url) {
				free(of);
				free(name);
				rc = -ENOMEM;
				break;
			}
			rc = tree_build_add(b, TREE_K_OFILE, ino, name, 0, of);
			if (rc == 0)
				tree_build_last(b)->size = f->size;
		}
		if (rc == 0)
			tree_build_last(b)->mtime = fs->mtime;
	}
	free(names);
	free(first);
	free(isdir);
	(void)t;
	return rc;
}

static int oimage_list(struct tree *t, struct node *dir, uint64_t deadline,
		       struct tree_build *b)
{
	const struct tree_mirror *m = dir->data;
	struct fileset *fs = calloc(1, sizeof(*fs));
	char path[ORIG_PATH_MAX], esc[512], resc[512];
	struct node *img = m ? tree_node_find(t, m->arch) : NULL;
	int rc;

	if (!fs)
		return -ENOMEM;
	atomic_init(&fs->refs, 1);
	if (tree_path(t, dir, path, sizeof(path)) < 0)
		snprintf(path, sizeof(path), "originals of image %" PRIu64,
			 m ? (uint64_t)(m->arch & TREE_ID_MAX) : 0);
	rc = m ? api_original_files(t->api, (int64_t)(m->arch & TREE_ID_MAX),
				    t->originals_root, deadline, &fs->v, &fs->n)
	       : -EIO;
	if (unreachable(rc))
		log_error(LOG_C_TREE,
			  "'%s': cannot reach the download root '%s' of the "
			  "original files (%s); -o originals_root=URL names "
			  "one that can be reached",
			  log_escape(path, esc, sizeof(esc)),
			  log_escape(t->originals_root, resc, sizeof(resc)),
			  strerror(-rc));
	if (rc == 0) {
		if (img)
			tree_node_get(t, img, NULL, &fs->mtime);
		else
			fs->mtime = TREE_EPOCH;
		fileset_clean(fs);
		rc = fileset_level(t, fs, fs, "", m->arch, b);
	}
	fileset_put(fs);
	return rc;
}

const struct tree_ops tree_oimage_ops = {
	.type = TREE_T_DIR,
	.fixed = true, /* published files do not change */
	.list = oimage_list,
	.xattrs = orig_mirror_xattrs,
	.free = plain_free,
};

static int osub_list(struct tree *t, struct node *dir, uint64_t deadline,
		     struct tree_build *b)
{
	struct osub *s = dir->data;

	(void)deadline;
	if (!s)
		return -EIO;
	return fileset_level(t, s->fs, s->fs, s->prefix, s->image, b);
}

const struct tree_ops tree_osub_ops = {
	.type = TREE_T_DIR,
	.fixed = true,
	.list = osub_list,
	.free = osub_free,
};

static ssize_t ofile_read(struct tree *t, struct node *n, void *fh,
			  uint64_t off, size_t len, char *buf,
			  uint64_t deadline)
{
	const struct ofile *f = n->data;
	uint64_t size = 0;

	(void)fh;
	if (!t->pixsrc || !f)
		return -EIO;
	tree_node_get(t, n, &size, NULL);
	return pixsrc_orig_read(t->pixsrc, f->url, size, off, len,
				(uint8_t *)buf, deadline);
}

const struct tree_ops tree_ofile_ops = {
	.type = TREE_T_FILE,
	.read = ofile_read,
	.free = ofile_free,
};
