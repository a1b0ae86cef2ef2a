/* SPDX-License-Identifier: MIT */
/*
 * tree: nodes and names.
 *
 * Inode numbers. An object's inode is its kind in the top byte and its
 * archive id below (TREE_INO), so an image keeps its inode across remounts
 * and cache rebuilds, and an image shown in two places is one inode. The
 * root and the fixed files take small numbers.
 *
 * Names. Archive names are not unique and may hold anything; each listing
 * is made safe (tree_sanitize_name) and then every group of equal names is
 * given a " [id]" suffix, all members alike, so the result does not depend
 * on the order the server sent (which can shuffle between pages).
 *
 * Consistency. A directory's listing is fetched whole, outside the lock,
 * by the first thread that needs it; others wait on load_cond (which
 * releases the lock) and share the result. A listing older than ttl is
 * refetched; if that fails, the old one is served and a warning logged.
 * Lookup counts (nlookup) follow the FUSE protocol; nodes are kept until
 * tree_free() so that an inode the kernel still holds always resolves.
 *
 * The by-* menus are in tree_view.c, images.tsv, study.txt and extended
 * attributes in tree_files.c; tree_int.h is what the three share.
 */
#include "config.h"

#include "idrfs/tree.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idrfs/log.h"
#include "idrfs/tiff.h"

#include "tree_int.h"

/* ---- names ---- */

/*
 * Length of the UTF-8 sequence at s; *bad is set when it must not appear
 * in a name (invalid UTF-8: one byte; a C1 control, which terminals take
 * as an escape: the whole sequence).
 */
static size_t utf8_len(const unsigned char *s, bool *bad)
{
	size_t n;
	uint32_t cp;

	*bad = false;
	if (s[0] < 0x80) {
		*bad = s[0] < 0x20 || s[0] == 0x7f || s[0] == '/';
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		*bad = true;
		return 1;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*bad = true;
			return 1;
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff)) {
		*bad = true;
		return 1;
	}
	*bad = cp >= 0x80 && cp < 0xa0;
	return n;
}

size_t tree_sanitize_name(const char *in, char *out, size_t max)
{
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	size_t o = 0;

	if (strcmp((const char *)s, ".") == 0 ||
	    strcmp((const char *)s, "..") == 0)
		out[o++] = '_';
	while (*s) {
		bool bad;
		size_t n = utf8_len(s, &bad);
		size_t w = bad ? 1 : n;

		if (w > max - o)
			break;
		if (bad)
			out[o] = '_';
		else
			memcpy(out + o, s, n);
		o += w;
		s += n;
	}
	/* a cut can leave a dot name (".x" at max 1) */
	if ((o == 1 || o == 2) && out[0] == '.' && out[o - 1] == '.')
		out[0] = '_';
	if (o == 0) {
		const char *un = "unnamed";

		o = strlen(un) < max ? strlen(un) : max;
		memcpy(out, un, o);
	}
	out[o] = '\0';
	return o;
}

static void letters(uint32_t v, char *out, size_t outsz)
{
	char tmp[16];
	size_t n = 0;

	/* 0 -> A, 25 -> Z, 26 -> AA (bijective base 26) */
	v++;
	while (v > 0 && n < sizeof(tmp)) {
		v--;
		tmp[n++] = (char)('A' + v % 26);
		v /= 26;
	}
	for (size_t i = 0; i < n && i + 1 < outsz; i++) {
		out[i] = tmp[n - 1 - i];
		out[i + 1] = '\0';
	}
}

void tree_well_name(int32_t row, int32_t column, bool rows_letters,
		    bool columns_letters, char *out, size_t outsz)
{
	char r[16] = "", c[16] = "";

	if (rows_letters)
		letters((uint32_t)row, r, sizeof(r));
	else
		snprintf(r, sizeof(r), "%02" PRId32, row + 1);
	if (columns_letters)
		letters((uint32_t)column, c, sizeof(c));
	else
		snprintf(c, sizeof(c), "%02" PRId32, column + 1);
	snprintf(out, outsz, "%s%s%s", r,
		 rows_letters != columns_letters ? "" : "-", c);
}

/* ---- node table (t->lock held) ---- */

static struct node *node_find(struct tree *t, uint64_t ino)
{
	struct node *n = t->buckets[ino & (t->nbuckets - 1)];

	while (n && n->ino != ino)
		n = n->hnext;
	return n;
}

static int table_grow(struct tree *t)
{
	size_t nb = t->nbuckets * 2;
	struct node **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct node *n = t->buckets[i];

		while (n) {
			struct node *next = n->hnext;
			size_t h = n->ino & (nb - 1);

			n->hnext = b[h];
			b[h] = n;
			n = next;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
	return 0;
}

/* Find or create the node of an object. */
static struct node *node_get(struct tree *t, enum tree_kind kind, uint64_t ino,
			     int64_t id)
{
	struct node *n = node_find(t, ino);
	size_t h;

	if (n)
		return n;
	if (t->nnodes >= t->nbuckets && table_grow(t) < 0)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->ino = ino;
	n->kind = kind;
	n->id = id;
	n->mtime = t->mount_time;
	h = ino & (t->nbuckets - 1);
	n->hnext = t->buckets[h];
	t->buckets[h] = n;
	t->nnodes++;
	return n;
}

static bool is_dir(const struct node *n)
{
	return n->kind != TREE_K_README && n->kind != TREE_K_IMAGE &&
	       n->kind != TREE_K_ORIGFILE && n->kind != TREE_K_LINK &&
	       n->kind != TREE_K_TSV && n->kind != TREE_K_STUDYTXT &&
	       n->kind != TREE_K_STATS;
}

static void node_attr(const struct tree *t, const struct node *n,
		      struct tree_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = n->ino;
	a->is_dir = is_dir(n);
	a->is_link = n->kind == TREE_K_LINK;
	a->lazy = tree_files_is_lazy(n->kind) && !tree_files_fresh(t, n);
	a->nlink = a->is_dir ? 2 : 1;
	a->size = n->kind == TREE_K_README  ? t->readme_len
		  : n->kind == TREE_K_STATS ? TREE_STATS_SIZE
					    : n->size;
	a->live = n->kind == TREE_K_STATS;
	a->mtime = n->mtime;
}

static void ents_free(struct ent *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ent *)a)->name,
		      ((const struct ent *)b)->name);
}

/* ---- building listings (no lock held) ---- */

/* A child as fetched, before names are made unique. */
struct child {
	enum tree_kind kind;
	int64_t id;
	char base[TREE_NAME_MAX + 1];
	const char *ext;
	uint64_t size;
	int64_t mtime;
	bool rows_letters, columns_letters;
	int64_t child_count;  /* containers: childCount, -1 if not sent */
	struct api_image img; /* images; moved into the node */
	/* wells: their field images, as the plate listing gave them */
	int64_t *field_ids;
	bool *field_rendered;
	size_t nfields;
};

struct childvec {
	struct child *v;
	size_t n;
	struct api_file *files; /* TREE_K_ORIGDIR: the whole fileset */
	size_t nfiles;
};

static int childvec_alloc(struct childvec *cv, size_t n)
{
	cv->v = calloc(n ? n : 1, sizeof(*cv->v));
	cv->n = 0;
	return cv->v ? 0 : -ENOMEM;
}

static struct child *child_add(struct childvec *cv, enum tree_kind kind,
			       int64_t id, const char *name, const char *ext)
{
	struct child *c;
	size_t max = TREE_NAME_MAX - strlen(ext) - TREE_SUFFIX_RESERVE;

	if (id < 0 || (uint64_t)id > TREE_ID_MAX) {
		log_warn(LOG_C_TREE, "object id %" PRId64 " is out of range",
			 id);
		return NULL;
	}
	c = &cv->v[cv->n++];
	c->kind = kind;
	c->id = id;
	c->ext = ext;
	/* "." + ".tif" is a fine file name; only bare dot names clash */
	if (*ext && name && (strcmp(name, ".") == 0 || strcmp(name, "..") == 0))
		snprintf(c->base, sizeof(c->base), "%s", name);
	else
		tree_sanitize_name(name, c->base, max);
	return c;
}

static int child_id_cmp(const void *a, const void *b)
{
	const struct child *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return 0;
}

static int child_name_cmp(const void *a, const void *b)
{
	const struct child *x = a, *y = b;
	int c = strcmp(x->base, y->base);

	if (c == 0)
		c = strcmp(x->ext, y->ext);
	return c;
}

static void child_release(struct child *c)
{
	api_image_release(&c->img);
	free(c->field_ids);
	free(c->field_rendered);
	c->field_ids = NULL;
	c->field_rendered = NULL;
	c->nfields = 0;
}

/* Drop repeated ids (page shuffles) and give equal names a " [id]". */
static void children_unique(struct childvec *cv)
{
	size_t w = 0;

	if (cv->n == 0)
		return; /* also: no vector at all (an originals directory) */
	if (cv->n > 0)
		qsort(cv->v, cv->n, sizeof(*cv->v), child_id_cmp);
	for (size_t i = 0; i < cv->n; i++) {
		if (w > 0 && cv->v[w - 1].id == cv->v[i].id &&
		    cv->v[w - 1].kind == cv->v[i].kind) {
			child_release(&cv->v[i]);
			continue;
		}
		cv->v[w++] = cv->v[i];
	}
	cv->n = w;
	if (cv->n > 0)
		qsort(cv->v, cv->n, sizeof(*cv->v), child_name_cmp);
	for (size_t i = 0; i < cv->n;) {
		size_t j = i + 1;

		while (j < cv->n && child_name_cmp(&cv->v[i], &cv->v[j]) == 0)
			j++;
		if (j - i > 1) {
			for (size_t k = i; k < j; k++) {
				size_t l = strlen(cv->v[k].base);

				snprintf(cv->v[k].base + l,
					 sizeof(cv->v[k].base) - l,
					 " [%" PRId64 "]", cv->v[k].id);
			}
		}
		i = j;
	}
}

/* Size of an image's virtual TIFF; 0 if the geometry is unusable. */
static uint64_t image_size(const struct api_image *img, bool rendered)
{
	struct tiff_geom g;
	struct tiff_layout l;
	unsigned bps = pixsrc_file_bps(img->px.type);

	if (!img->has_pixels || (!rendered && bps == 0))
		return 0;
	g = (struct tiff_geom){
		.x = img->px.size_x,
		.y = img->px.size_y,
		.c = img->px.size_c,
		.z = img->px.size_z,
		.t = img->px.size_t_,
		.bps = rendered ? 1 : bps,
		.samples = rendered ? 3 : 1,
	};
	if (tiff_layout_compute(&g, &l) < 0)
		return 0;
	return l.size;
}

/* Whether an image is only rendered (from list data, no request). */
static bool image_rendered(const struct tree *t, const struct api_image *img)
{
	return t->pixsrc ? pixsrc_kind_of(t->pixsrc, img) == PIXSRC_RENDERED
			 : img->zarr_lsid == NULL;
}

/* Take an image from a listing (its strings move into the child). */
static void child_image(const struct tree *t, struct childvec *cv,
			struct api_image *img, const char *name)
{
	bool rendered = image_rendered(t, img);
	struct child *c = child_add(cv, TREE_K_IMAGE, img->id, name,
				    rendered ? ".rendered.tif" : ".tif");

	if (!c)
		return;
	c->size = image_size(img, rendered);
	c->mtime = img->acquisition_ms > 0 ? img->acquisition_ms / 1000 : 0;
	c->img = *img;
	img->name = NULL;
	img->zarr_lsid = NULL;
	/* its original files, listed when opened (no request now) */
	child_add(cv, TREE_K_ORIGDIR, c->id, name, ".originals");
}

static void childvec_free(struct childvec *cv)
{
	for (size_t i = 0; cv->v && i < cv->n; i++)
		child_release(&cv->v[i]);
	free(cv->v);
	api_files_free(cv->files, cv->nfiles);
}

/* Which images a well's fields are, as its plate's listing says. */
static int well_fields(const struct tree *t, struct child *c,
		       const struct api_well *w)
{
	c->nfields = 0;
	c->field_ids = calloc(w->nfields + 1, sizeof(*c->field_ids));
	c->field_rendered = calloc(w->nfields + 1, sizeof(*c->field_rendered));
	if (!c->field_ids || !c->field_rendered)
		return -ENOMEM;
	for (size_t i = 0; i < w->nfields; i++) {
		c->field_ids[i] = w->fields[i].id;
		c->field_rendered[i] = image_rendered(t, &w->fields[i]);
	}
	c->nfields = w->nfields;
	return 0;
}

/* The children of a well: field-<n> per field, in WellSample order. */
static int well_children(const struct tree *t, struct api_well *well,
			 struct childvec *cv)
{
	int rc = childvec_alloc(cv, 2 * well->nfields);

	for (size_t i = 0; rc == 0 && i < well->nfields; i++) {
		char label[32];

		snprintf(label, sizeof(label), "field-%zu", i + 1);
		child_image(t, cv, &well->fields[i], label);
	}
	return rc;
}

static int list_containers(struct childvec *cv, enum tree_kind kind,
			   struct api_container *v, size_t n, int rc)
{
	if (rc < 0)
		return rc;
	rc = childvec_alloc(cv, n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct child *c = child_add(cv, kind, v[i].id, v[i].name, "");

		if (c) {
			c->rows_letters = v[i].rows_letters;
			c->columns_letters = v[i].columns_letters;
			c->child_count = v[i].child_count;
		}
	}
	api_containers_free(v, n);
	return rc;
}

/* Fetch the children of a directory node (called without the lock). */
static int fetch_children(struct tree *t, enum tree_kind kind, int64_t id,
			  bool rows_letters, bool columns_letters,
			  int64_t expect, uint64_t deadline,
			  struct childvec *cv)
{
	struct api_container *cs = NULL;
	struct api_image *imgs = NULL;
	struct api_well *wells = NULL;
	struct api_well well = {0};
	size_t n = 0;
	int rc;

	switch (kind) {
	case TREE_K_PROJECTS:
		rc = api_list_projects(t->api, deadline, &cs, &n);
		return list_containers(cv, TREE_K_PROJECT, cs, n, rc);
	case TREE_K_SCREENS:
		rc = api_list_screens(t->api, deadline, &cs, &n);
		return list_containers(cv, TREE_K_SCREEN, cs, n, rc);
	case TREE_K_PROJECT:
		rc = api_list_datasets(t->api, id, deadline, &cs, &n);
		return list_containers(cv, TREE_K_DATASET, cs, n, rc);
	case TREE_K_SCREEN:
		rc = api_list_plates(t->api, id, deadline, &cs, &n);
		return list_containers(cv, TREE_K_PLATE, cs, n, rc);
	case TREE_K_DATASET:
		rc = api_list_images_expect(t->api, id, expect, deadline, &imgs,
					    &n);
		if (rc == 0)
			rc = childvec_alloc(cv, 2 * n);
		for (size_t i = 0; rc == 0 && i < n; i++)
			child_image(t, cv, &imgs[i], imgs[i].name);
		api_images_free(imgs, n);
		return rc;
	case TREE_K_PLATE:
		rc = api_list_wells(t->api, id, deadline, &wells, &n);
		if (rc == 0)
			rc = childvec_alloc(cv, n);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			char label[40];
			struct child *c;

			tree_well_name(wells[i].row, wells[i].column,
				       rows_letters, columns_letters, label,
				       sizeof(label));
			c = child_add(cv, TREE_K_WELL, wells[i].id, label, "");
			if (c)
				rc = well_fields(t, c, &wells[i]);
		}
		api_wells_free(wells, n);
		return rc;
	case TREE_K_WELL:
		rc = api_get_well(t->api, id, deadline, &well);
		if (rc == 0)
			rc = well_children(t, &well, cv);
		api_well_release(&well);
		return rc;
	case TREE_K_ORIGDIR:
		return api_original_files(t->api, id, t->originals_root,
					  deadline, &cv->files, &cv->nfiles);
	default:
		return -ENOTDIR;
	}
}

/* Install fetched children as the listing of n (t->lock held). */
static int install(struct tree *t, struct node *dir, struct childvec *cv)
{
	/* room for the files every container has (tree_view.c) */
	struct ent *ents = calloc(cv->n + 2, sizeof(*ents));
	size_t ne = 0;
	int rc;

	if (!ents)
		return -ENOMEM;
	for (size_t i = 0; i < cv->n; i++) {
		const struct child *c = &cv->v[i];
		struct node *n =
			node_get(t, c->kind, TREE_INO(c->kind, c->id), c->id);
		size_t bl = strlen(c->base), el = strlen(c->ext);

		if (!n)
			goto nomem;
		ents[ne].name = malloc(bl + el + 1);
		if (!ents[ne].name)
			goto nomem;
		memcpy(ents[ne].name, c->base, bl);
		memcpy(ents[ne].name + bl, c->ext, el + 1);
		ents[ne].node = n;
		ne++;
		if (c->kind == TREE_K_IMAGE) {
			n->size = c->size;
			if (c->mtime > 0)
				n->mtime = c->mtime;
			api_image_release(&n->img);
			n->img = c->img;
			n->rendered = strcmp(c->ext, ".tif") != 0;
			memset(&cv->v[i].img, 0, sizeof(c->img));
		} else if (c->kind == TREE_K_DATASET) {
			n->child_count = c->child_count;
		} else if (c->kind == TREE_K_PLATE) {
			n->rows_letters = c->rows_letters;
			n->columns_letters = c->columns_letters;
		} else if (c->kind == TREE_K_WELL && c->field_ids) {
			free(n->field_ids);
			free(n->field_rendered);
			n->field_ids = c->field_ids;
			n->field_rendered = c->field_rendered;
			n->nfields = c->nfields;
			cv->v[i].field_ids = NULL;
			cv->v[i].field_rendered = NULL;
			cv->v[i].nfields = 0;
		}
		if (c->kind != TREE_K_IMAGE && c->kind != TREE_K_ORIGDIR)
			n->parent = dir;
	}
	rc = tree_files_container(t, dir, ents, &ne);
	if (rc < 0) {
		ents_free(ents, ne);
		return rc;
	}
	if (ne > 0)
		qsort(ents, ne, sizeof(*ents), ent_cmp);
	ents_free(dir->ents, dir->nents);
	dir->ents = ents;
	dir->nents = ne;
	return 0;
nomem:
	ents_free(ents, ne);
	return -ENOMEM;
}

/* Inode of a path inside an image's originals: a 56-bit hash. */
static uint64_t orig_ino(enum tree_kind kind, int64_t image, const char *path,
			 size_t len)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)image;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)path[i]) * 1099511628211ull;
	return TREE_INO(kind, h & TREE_ID_MAX);
}

static int ent_push(struct ent **ents, size_t *n, size_t *cap, const char *name,
		    size_t nlen, struct node *node)
{
	char safe[TREE_NAME_MAX + 1];
	char raw[TREE_NAME_MAX + 1];

	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct ent *ne = realloc(*ents, nc * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		*ents = ne;
		*cap = nc;
	}
	if (nlen > TREE_NAME_MAX)
		nlen = TREE_NAME_MAX;
	memcpy(raw, name, nlen);
	raw[nlen] = '\0';
	tree_sanitize_name(raw, safe, TREE_NAME_MAX);
	(*ents)[*n].name = strdup(safe);
	(*ents)[*n].node = node;
	if (!(*ents)[*n].name)
		return -ENOMEM;
	(*n)++;
	return 0;
}

/*
 * Install the listing of an originals directory (prefix "" is the
 * <image>.originals root) and, recursively, of its subdirectories, which
 * never change and are never fetched on their own. t->lock held.
 */
static int install_files(struct tree *t, struct node *dir, int64_t image,
			 const struct api_file *files, size_t nfiles,
			 const char *prefix)
{
	size_t plen = strlen(prefix);
	struct ent *ents = NULL;
	size_t ne = 0, cap = 0;
	int rc = 0;

	for (size_t i = 0; i < nfiles && rc == 0; i++) {
		const char *p = files[i].path;
		const char *rest, *slash;
		struct node *n;

		if (strncmp(p, prefix, plen) != 0)
			continue;
		rest = p + plen;
		slash = strchr(rest, '/');
		if (!slash) {
			n = node_get(
				t, TREE_K_ORIGFILE,
				orig_ino(TREE_K_ORIGFILE, image, p, strlen(p)),
				image);
			if (!n)
				return -ENOMEM;
			n->size = files[i].size;
			if (!n->url)
				n->url = strdup(files[i].url);
			rc = ent_push(&ents, &ne, &cap, rest, strlen(rest), n);
			continue;
		}
		/* a subdirectory: once, at its first file */
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++) {
			seen = strncmp(files[j].path, p,
				       (size_t)(slash - p) + 1) == 0;
		}
		if (seen)
			continue;
		n = node_get(t, TREE_K_ORIGSUB,
			     orig_ino(TREE_K_ORIGSUB, image, p,
				      (size_t)(slash - p) + 1),
			     image);
		if (!n)
			return -ENOMEM;
		rc = ent_push(&ents, &ne, &cap, rest, (size_t)(slash - rest),
			      n);
		if (rc == 0) {
			char *sub = strndup(p, (size_t)(slash - p) + 1);

			rc = sub ? install_files(t, n, image, files, nfiles,
						 sub)
				 : -ENOMEM;
			free(sub);
		}
	}
	if (rc < 0) {
		ents_free(ents, ne);
		return rc;
	}
	if (ne > 0)
		if (ne > 0)
			qsort(ents, ne, sizeof(*ents), ent_cmp);
	ents_free(dir->ents, dir->nents);
	dir->ents = ents;
	dir->nents = ne;
	dir->listed_at = http_now_ms();
	return 0;
}

/* Make sure dir has a fresh listing. Called and returns with t->lock. */
static int ensure_listed(struct tree *t, struct node *dir, uint64_t deadline)
{
	struct childvec cv = {0};
	uint64_t now;
	int rc;

	if (dir->kind == TREE_K_ROOT)
		return 0;
	/* published files do not change: set up once by their parent;
	 * .idrfs is fixed at mount */
	if (dir->kind == TREE_K_ORIGSUB || dir->kind == TREE_K_STATSDIR)
		return dir->listed_at ? 0 : -ENOENT;
	for (;;) {
		now = http_now_ms();
		if (dir->listed_at && now - dir->listed_at < t->ttl_ms)
			return 0;
		if (!dir->loading)
			break;
		if (now >= deadline)
			return -ETIMEDOUT;
		tree_wait(t, deadline);
	}
	dir->loading = true;
	if (tree_view_is_dir(dir->kind)) {
		/* by-* menus, terms and their studies */
		rc = tree_view_list(t, dir, deadline);
		goto done;
	}
	enum tree_kind kind = dir->kind;
	int64_t id = dir->id;
	bool rl = dir->rows_letters, cl = dir->columns_letters;
	int64_t expect = dir->child_count;

	pthread_mutex_unlock(&t->lock);
	rc = fetch_children(t, kind, id, rl, cl, expect, deadline, &cv);
	if (rc == 0)
		children_unique(&cv);
	pthread_mutex_lock(&t->lock);

	if (rc == 0)
		rc = dir->kind == TREE_K_ORIGDIR
			     ? install_files(t, dir, dir->id, cv.files,
					     cv.nfiles, "")
			     : install(t, dir, &cv);
done:
	if (rc == 0) {
		dir->listed_at = http_now_ms();
	} else if (dir->listed_at) {
		log_warn(LOG_C_TREE,
			 "cannot refresh directory %" PRIu64
			 " (%s); serving the listing from before",
			 dir->ino, strerror(-rc));
		rc = 0;
	}
	dir->loading = false;
	pthread_cond_broadcast(&t->load_cond);
	childvec_free(&cv);
	return rc;
}

/* ---- for tree_view.c (tree_int.h) ---- */

int tree_wait(struct tree *t, uint64_t deadline)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline / 1000u),
		.tv_nsec = (long)(deadline % 1000u) * 1000000L,
	};

	if (http_now_ms() >= deadline)
		return -ETIMEDOUT;
	pthread_cond_timedwait(&t->load_cond, &t->lock, &ts);
	return 0;
}

struct node *tree_node_find(struct tree *t, uint64_t ino)
{
	return node_find(t, ino);
}

struct node *tree_node_get(struct tree *t, enum tree_kind kind, uint64_t ino,
			   int64_t id)
{
	return node_get(t, kind, ino, id);
}

int tree_ent_cmp(const void *a, const void *b)
{
	return ent_cmp(a, b);
}

void tree_ents_free(struct ent *e, size_t n)
{
	ents_free(e, n);
}

int tree_ensure_listed(struct tree *t, struct node *dir, uint64_t deadline)
{
	return ensure_listed(t, dir, deadline);
}

int tree_list_wells(struct tree *t, struct node **wells, size_t n,
		    uint64_t deadline)
{
	struct api_well *got = NULL;
	int64_t *ids = calloc(n + 1, sizeof(*ids));
	struct node **mine = calloc(n + 1, sizeof(*mine));
	size_t nm = 0;
	int rc = ids && mine ? 0 : -ENOMEM;
	uint64_t now = http_now_ms();

	/* the ones nobody lists now and that are not fresh: ours */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct node *w = wells[i];

		if (w->loading ||
		    (w->listed_at && now - w->listed_at < t->ttl_ms))
			continue;
		w->loading = true;
		ids[nm] = w->id;
		mine[nm++] = w;
	}
	if (nm > 0) {
		got = calloc(nm, sizeof(*got));
		pthread_mutex_unlock(&t->lock);
		rc = got ? api_get_wells(t->api, ids, nm, deadline, got)
			 : -ENOMEM;
		pthread_mutex_lock(&t->lock);
	}
	for (size_t i = 0; i < nm; i++) {
		struct childvec cv = {0};
		int r = rc;

		if (r == 0)
			r = well_children(t, &got[i], &cv);
		if (r == 0) {
			children_unique(&cv);
			r = install(t, mine[i], &cv);
		}
		if (r == 0)
			mine[i]->listed_at = http_now_ms();
		if (rc == 0 && r < 0)
			rc = r;
		childvec_free(&cv);
		if (got)
			api_well_release(&got[i]);
		mine[i]->loading = false;
	}
	if (nm > 0)
		pthread_cond_broadcast(&t->load_cond);
	free(got);
	free(ids);
	free(mine);
	/* the ones another thread was listing: wait for them */
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = ensure_listed(t, wells[i], deadline);
	return rc;
}

/* ---- public ---- */

static int make_readme(struct tree *t, const char *url)
{
	static const char fmt[] =
		"idrfs: %s, mounted read-only\n"
		"\n"
		"This directory is a view of a remote bio-image archive with "
		"an\n"
		"IDR-style HTTP API (the Image Data Resource, or any "
		"OMERO.web\n"
		"server). Nothing here is stored locally until it is read.\n"
		"\n"
		"  projects/<project>/<dataset>/<image>.tif\n"
		"  screens/<screen>/<plate>/<well>/field-<n>.tif\n"
		"\n"
		"Names come from the archive, made safe: '/' and control\n"
		"characters become '_', and names that repeat in one "
		"directory\n"
		"get the object id as a \" [id]\" suffix. A name ending in\n"
		".rendered.tif is an image the archive offers only as "
		"rendered\n"
		"8-bit RGB, never raw pixels.\n"
		"\n"
		"Beside each image, <image>.originals/ holds the files it was\n"
		"imported from, in their native formats (for "
		"Fiji/Bio-Formats),\n"
		"read by range requests from the archive's download root; it "
		"is\n"
		"empty when the image has none.\n"
		"\n"
		"Each <image>.tif is an uncompressed TIFF that is both an "
		"ImageJ\n"
		"hyperstack and an OME-TIFF, with the archive's raw pixels "
		"from\n"
		"its OME-Zarr. Only the parts a reader touches are fetched, "
		"and\n"
		"they are kept in the local cache. Pixel types ImageJ lacks "
		"are\n"
		"converted, and the TIFF description says so: int8 is stored "
		"as\n"
		"value+128 with a calibration back to the true value, double "
		"as\n"
		"float32.\n"
		"\n"
		"By annotation: by-phenotype/, by-gene/, by-organism/,\n"
		"by-cell-line/, by-compound/, by-antibody/, by-sirna/ and\n"
		"by-protein/ (those the archive's search engine has) hold one\n"
		"directory per term, \"<label> [<accession>]\" when there is "
		"an\n"
		"accession; inside, one directory per study with symlinks to "
		"the\n"
		"images under projects/ and screens/. Any term can be looked "
		"up\n"
		"by name (cd by-gene/CDK5) even when the menu does not list "
		"it.\n"
		"\n"
		"Every project, dataset, screen, plate and term has "
		"images.tsv:\n"
		"one row per image below it (path from the mount point, id, "
		"name,\n"
		"sizes, pixel type, physical sizes, source, key/values). "
		"Every\n"
		"study has study.txt (title, publication, DOI, licence, how "
		"to\n"
		"cite). Images carry extended attributes: getfattr -d "
		"<image>.\n"
		"\n"
		"Listings are cached for the listing TTL (-o ttl=). Errors "
		"and\n"
		"timeouts are logged with the URL that failed (-o log_file=).\n"
		"\n"
		"If you use data from the IDR, please cite: Williams E. et "
		"al.\n"
		"(2017) The Image Data Resource: A Bioimage Data Integration "
		"and\n"
		"Publication Platform. Nature Methods 14, 775-781,\n"
		"doi:10.1038/nmeth.4326, and the publication of each study.\n"
		"\n"
		"Unmount with: fusermount3 -u <mountpoint>\n";
	int n = snprintf(NULL, 0, fmt, url);

	if (n < 0)
		return -EINVAL;
	t->readme = malloc((size_t)n + 1);
	if (!t->readme)
		return -ENOMEM;
	snprintf(t->readme, (size_t)n + 1, fmt, url);
	t->readme_len = (size_t)n;
	return 0;
}

static int add_fixed(struct tree *t, struct node *root, const char *name,
		     enum tree_kind kind, uint64_t ino)
{
	struct node *n = node_get(t, kind, ino, 0);
	struct ent *e;

	if (!n)
		return -ENOMEM;
	e = realloc(root->ents, (root->nents + 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	root->ents = e;
	e[root->nents].name = strdup(name);
	e[root->nents].node = n;
	if (!e[root->nents].name)
		return -ENOMEM;
	root->nents++;
	if (root->nents > 0)
		qsort(root->ents, root->nents, sizeof(*e), ent_cmp);
	return 0;
}

int tree_new(struct api *api, const struct tree_config *cfg, struct tree **out)
{
	struct tree *t = calloc(1, sizeof(*t));
	pthread_condattr_t ca;
	struct node *root;
	int rc;

	if (!t)
		return -ENOMEM;
	t->api = api;
	t->pixsrc = cfg->pixsrc;
	t->search = cfg->search;
	t->originals_root =
		strdup(cfg->originals_root
			       ? cfg->originals_root
			       : "https://ftp.ebi.ac.uk/pub/databases/IDR");
	if (!t->originals_root) {
		free(t);
		return -ENOMEM;
	}
	t->ttl_ms = (uint64_t)cfg->ttl_s * 1000u;
	t->mount_time = cfg->mount_time;
	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->load_cond, &ca);
	pthread_condattr_destroy(&ca);
	t->nbuckets = 1024;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = make_readme(t, cfg->remote_url);
	if (rc < 0)
		goto fail;
	root = node_get(t, TREE_K_ROOT, TREE_ROOT_INO, 0);
	if (!root) {
		rc = -ENOMEM;
		goto fail;
	}
	root->nlookup = 1;
	rc = add_fixed(t, root, "README.txt", TREE_K_README, TREE_README_INO);
	if (rc == 0)
		rc = add_fixed(t, root, "projects", TREE_K_PROJECTS,
			       TREE_PROJECTS_INO);
	if (rc == 0)
		rc = add_fixed(t, root, "screens", TREE_K_SCREENS,
			       TREE_SCREENS_INO);
	if (rc == 0 && cfg->stats) {
		struct node *sd;

		t->stats = cfg->stats;
		t->stats_ctx = cfg->stats_ctx;
		rc = add_fixed(t, root, ".idrfs", TREE_K_STATSDIR,
			       TREE_STATSDIR_INO);
		sd = rc == 0 ? node_find(t, TREE_STATSDIR_INO) : NULL;
		if (sd) {
			rc = add_fixed(t, sd, "stats", TREE_K_STATS,
				       TREE_STATS_INO);
			if (rc == 0)
				rc = add_fixed(t, sd, "stats.json",
					       TREE_K_STATS,
					       TREE_STATSJSON_INO);
			sd->listed_at = 1;
		}
	}
	if (rc < 0)
		goto fail;
	*out = t;
	return 0;
fail:
	tree_free(t);
	return rc;
}

void tree_free(struct tree *t)
{
	if (!t)
		return;
	for (size_t i = 0; t->buckets && i < t->nbuckets; i++) {
		struct node *n = t->buckets[i];

		while (n) {
			struct node *next = n->hnext;

			ents_free(n->ents, n->nents);
			pixsrc_image_free(n->pix);
			api_image_release(&n->img);
			free(n->url);
			tree_view_node_free(n);
			free(n);
			n = next;
		}
	}
	free(t->buckets);
	free(t->readme);
	free(t->originals_root);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->load_cond);
	free(t);
}

static int locked_listed_dir(struct tree *t, uint64_t ino, uint64_t deadline,
			     struct node **out)
{
	struct node *d = node_find(t, ino);
	int rc;

	if (!d)
		return -ENOENT;
	if (!is_dir(d))
		return -ENOTDIR;
	rc = ensure_listed(t, d, deadline);
	if (rc < 0)
		return rc;
	*out = d;
	return 0;
}

int tree_lookup(struct tree *t, uint64_t parent, const char *name,
		uint64_t deadline, struct tree_attr *out)
{
	struct node *d;
	struct ent key = {.name = (char *)name};
	struct ent *e;
	int rc;

	if (strlen(name) > TREE_NAME_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&t->lock);
	rc = locked_listed_dir(t, parent, deadline, &d);
	if (rc == 0) {
		struct node *n = NULL;

		e = d->nents ? bsearch(&key, d->ents, d->nents, sizeof(*e),
				       ent_cmp)
			     : NULL;
		if (e)
			n = e->node;
		else if (d->kind == TREE_K_ROOT || d->kind == TREE_K_MENU)
			rc = tree_view_lookup(t, d, name, deadline, &n);
		else
			rc = -ENOENT;
		/* images.tsv, study.txt: their size is known once built */
		if (rc == 0 && tree_files_is_lazy(n->kind))
			rc = tree_files_build(t, n, deadline);
		if (rc == 0) {
			n->nlookup++;
			node_attr(t, n, out);
		}
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void tree_forget(struct tree *t, uint64_t ino, uint64_t n)
{
	struct node *nd;

	pthread_mutex_lock(&t->lock);
	nd = node_find(t, ino);
	if (nd) {
		if (nd->nlookup < n) {
			log_error(LOG_C_TREE,
				  "internal error: forget %" PRIu64
				  " of inode %" PRIu64 " with %" PRIu64
				  " lookups",
				  n, ino, nd->nlookup);
			nd->nlookup = 0;
		} else {
			nd->nlookup -= n;
		}
	}
	pthread_mutex_unlock(&t->lock);
}

void tree_ref(struct tree *t, uint64_t ino)
{
	struct node *nd;

	pthread_mutex_lock(&t->lock);
	nd = node_find(t, ino);
	if (nd)
		nd->nlookup++;
	pthread_mutex_unlock(&t->lock);
}

int tree_stat(struct tree *t, uint64_t ino, uint64_t deadline,
	      struct tree_attr *out)
{
	struct node *n;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	n = node_find(t, ino);
	if (!n)
		rc = -ENOENT;
	else if (tree_files_is_lazy(n->kind))
		rc = tree_files_build(t, n, deadline);
	if (rc == 0)
		node_attr(t, n, out);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int tree_getattr(struct tree *t, uint64_t ino, struct tree_attr *out)
{
	struct node *n;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	n = node_find(t, ino);
	if (n)
		node_attr(t, n, out);
	else
		rc = -ENOENT;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void tree_dir_free(struct tree_dir *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->ents[i].name);
	free(d->ents);
	free(d);
}

int tree_opendir(struct tree *t, uint64_t ino, uint64_t deadline,
		 struct tree_dir **out)
{
	struct tree_dir *s = NULL;
	struct node *d;
	int rc;

	pthread_mutex_lock(&t->lock);
	rc = locked_listed_dir(t, ino, deadline, &d);
	if (rc < 0)
		goto out;
	if (d->kind == TREE_K_ROOT)
		tree_view_root(t, d, deadline); /* the by-* menus, once known */
	s = calloc(1, sizeof(*s));
	if (s)
		s->ents = calloc(d->nents ? d->nents : 1, sizeof(*s->ents));
	if (!s || !s->ents) {
		rc = -ENOMEM;
		goto out;
	}
	s->no_cache = d->kind == TREE_K_ROOT && t->search && !t->menus_added;
	for (size_t i = 0; i < d->nents; i++) {
		s->ents[i].name = strdup(d->ents[i].name);
		if (!s->ents[i].name) {
			rc = -ENOMEM;
			goto out;
		}
		node_attr(t, d->ents[i].node, &s->ents[i].attr);
		s->n++;
	}
	*out = s;
	s = NULL;
out:
	pthread_mutex_unlock(&t->lock);
	tree_dir_free(s);
	return rc;
}

int tree_open(struct tree *t, uint64_t ino, uint64_t deadline)
{
	struct pixsrc_image *pix = NULL;
	struct api_image img = {0};
	struct node *n;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	n = node_find(t, ino);
	if (!n) {
		rc = -ENOENT;
		goto out;
	}
	if (is_dir(n)) {
		rc = -EISDIR;
		goto out;
	}
	if (tree_files_is_lazy(n->kind)) {
		rc = tree_files_build(t, n, deadline);
		goto out;
	}
	if (n->kind != TREE_K_IMAGE || !t->pixsrc)
		goto out;
	/* one opener loads the source; others wait for it */
	while (n->pix_loading) {
		struct timespec ts = {
			.tv_sec = (time_t)(deadline / 1000u),
			.tv_nsec = (long)(deadline % 1000u) * 1000000L,
		};

		if (pthread_cond_timedwait(&t->load_cond, &t->lock, &ts) ==
		    ETIMEDOUT) {
			rc = -ETIMEDOUT;
			goto out;
		}
	}
	if (n->pix) {
		n->opens++;
		goto out;
	}
	img = n->img;
	img.name = n->img.name ? strdup(n->img.name) : NULL;
	img.zarr_lsid = n->img.zarr_lsid ? strdup(n->img.zarr_lsid) : NULL;
	n->pix_loading = true;
	pthread_mutex_unlock(&t->lock);

	rc = pixsrc_open(t->pixsrc, &img, deadline, &pix);
	if (rc == 0 && pixsrc_size(pix) != n->size) {
		log_error(LOG_C_TREE,
			  "image %" PRId64 ": file size %" PRIu64
			  " differs from the listing's %" PRIu64,
			  img.id, pixsrc_size(pix), n->size);
		pixsrc_image_free(pix);
		pix = NULL;
		rc = -EIO;
	}
	api_image_release(&img);

	pthread_mutex_lock(&t->lock);
	n->pix_loading = false;
	if (rc == 0) {
		n->pix = pix;
		n->opens++;
	}
	pthread_cond_broadcast(&t->load_cond);
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void tree_release(struct tree *t, uint64_t ino)
{
	struct pixsrc_image *pix = NULL;
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = node_find(t, ino);
	if (n && n->kind == TREE_K_IMAGE && n->opens > 0 && --n->opens == 0) {
		/* no handle left: no read can be using it */
		pix = n->pix;
		n->pix = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	pixsrc_image_free(pix);
}

ssize_t tree_read(struct tree *t, uint64_t ino, uint64_t off, size_t len,
		  char *buf, uint64_t deadline)
{
	struct pixsrc_image *pix;
	struct node *n;
	enum tree_kind kind;
	int64_t id;

	pthread_mutex_lock(&t->lock);
	n = node_find(t, ino);
	kind = n ? n->kind : TREE_K_ROOT;
	id = n ? n->id : 0;
	/* valid until the last handle closes, after this read */
	pix = n ? n->pix : NULL;
	/* the URL and size of an original file never change once set */
	const char *url = n ? n->url : NULL;
	uint64_t size = n ? n->size : 0;
	pthread_mutex_unlock(&t->lock);
	if (!n)
		return -ENOENT;
	if (kind == TREE_K_STATS && t->stats) {
		char text[TREE_STATS_SIZE];
		size_t tl = t->stats(t->stats_ctx, ino == TREE_STATSJSON_INO,
				     text, sizeof(text));

		/* a fixed size, so stat and read agree: pad with spaces
		 * (valid in JSON too) before the last newline */
		if (tl > sizeof(text) - 1)
			tl = sizeof(text) - 1;
		memset(text + tl, ' ', sizeof(text) - tl);
		text[sizeof(text) - 1] = '\n';
		if (off >= sizeof(text))
			return 0;
		if (len > sizeof(text) - off)
			len = sizeof(text) - (size_t)off;
		memcpy(buf, text + off, len);
		return (ssize_t)len;
	}
	if (kind == TREE_K_README) {
		if (off >= t->readme_len)
			return 0;
		if (len > t->readme_len - off)
			len = t->readme_len - off;
		memcpy(buf, t->readme + off, len);
		return (ssize_t)len;
	}
	if (kind == TREE_K_IMAGE) {
		if (!pix) {
			log_error(LOG_C_TREE,
				  "image %" PRId64 ": read with no open source",
				  id);
			return -EIO;
		}
		return pixsrc_read(pix, off, len, (uint8_t *)buf, deadline);
	}
	if (kind == TREE_K_ORIGFILE) {
		if (!t->pixsrc || !url)
			return -EIO;
		return pixsrc_orig_read(t->pixsrc, url, size, off, len,
					(uint8_t *)buf, deadline);
	}
	if (tree_files_is_lazy(kind))
		return tree_files_read(t, n, off, len, buf);
	if (kind == TREE_K_LINK)
		return -EINVAL;
	return -EISDIR;
}

uint64_t tree_node_count(struct tree *t)
{
	uint64_t n;

	pthread_mutex_lock(&t->lock);
	n = t->nnodes;
	pthread_mutex_unlock(&t->lock);
	return n;
}
