/* SPDX-License-Identifier: MIT */
/*
 * tree_files: the files the archive does not have as such. images.tsv in
 * every project, dataset, screen, plate and term (one row per image below
 * it, its sizes and key/values), study.txt in every project and screen
 * (its study-info annotation), and the extended attributes of images
 * (user.idr.*).
 *
 * images.tsv and study.txt are built when they are looked up, stat'ed or
 * opened, because their size must be right at stat (no direct_io),
 * single-flight like listings, and kept for the listing TTL. Until then
 * readdirplus hands out no attributes for them (tree_attr.lazy). Building
 * costs what the listings below the container cost (one request per page,
 * per dataset, plate or well), plus the key/values of the images in
 * batches of about 500 per request; a term's images carry theirs when
 * they come from the search engine.
 *
 * Locking: as in tree_view.c, t->lock is held except around requests.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idrfs/http.h"
#include "idrfs/log.h"

#include "tree_int.h"

#define NS_STUDY	"idr.openmicroscopy.org/study/info"
#define TSV_NAME	"images.tsv"
#define STUDY_NAME	"study.txt"
#define TSV_MAX_BYTES	(512u << 20)
#define TSV_MAX_WELLS	20000u
#define XATTR_PREFIX	"user.idr."
#define XATTR_KV	"user.idr.kv."
#define XATTR_VALUE_MAX 65536u
#define XATTR_NAMES_MAX 65536u /* XATTR_LIST_MAX: the kernel takes no more */
#define VIEW_PATH_MAX	4096u

bool tree_files_is_lazy(enum tree_kind kind)
{
	return kind == TREE_K_TSV || kind == TREE_K_STUDYTXT;
}

bool tree_files_fresh(const struct tree *t, const struct node *n)
{
	return n->listed_at && http_now_ms() - n->listed_at < t->ttl_ms;
}

/* ---- growing strings with a cap ---- */

struct sbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (n > TSV_MAX_BYTES - b->len) {
		b->err = -EFBIG;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 4096;
		char *np;

		while (nc < b->len + n + 1)
			nc *= 2;
		np = realloc(b->p, nc);
		if (!np) {
			b->err = -ENOMEM;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3)))
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	char *tmp = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&tmp, fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (!b->err)
			b->err = -ENOMEM;
		return;
	}
	sb_add(b, tmp, (size_t)n);
	free(tmp);
}

/* A TSV cell: tabs, newlines and other control characters become ' '. */
static void sb_cell(struct sbuf *b, const char *s)
{
	const char *p = s ? s : "";

	while (*p) {
		size_t n = 0;

		while (p[n] && (unsigned char)p[n] >= 0x20 && p[n] != 0x7f)
			n++;
		sb_add(b, p, n);
		p += n;
		if (*p) {
			sb_add(b, " ", 1);
			p++;
		}
	}
}

/* ---- files of containers ---- */

size_t tree_files_names(enum tree_kind kind, const char **names)
{
	size_t n = 0;

	switch (kind) {
	case TREE_K_PROJECT:
	case TREE_K_SCREEN:
		names[n++] = STUDY_NAME;
		/* fall through */
	case TREE_K_DATASET:
	case TREE_K_PLATE:
	case TREE_K_TERM:
		names[n++] = TSV_NAME;
		break;
	default:
		break;
	}
	return n;
}

static int add_file(struct tree *t, struct node *dir, enum tree_kind kind,
		    const char *name, struct ent *ents, size_t *n)
{
	uint64_t ino = tree_view_ino(kind, dir->ino, name);
	struct node *f =
		tree_node_get(t, kind, ino, (int64_t)(ino & TREE_ID_MAX));

	if (!f || !tree_view_of(f))
		return -ENOMEM;
	/* the children's names were made unlike this one
	 * (tree_files_names) */
	f->view->owner = dir;
	f->up = dir;
	ents[*n].name = strdup(name);
	ents[*n].node = f;
	if (!ents[*n].name)
		return -ENOMEM;
	(*n)++;
	return 0;
}

int tree_files_container(struct tree *t, struct node *dir, struct ent *ents,
			 size_t *n)
{
	int rc = 0;

	switch (dir->kind) {
	case TREE_K_PROJECT:
	case TREE_K_SCREEN:
		rc = add_file(t, dir, TREE_K_STUDYTXT, STUDY_NAME, ents, n);
		/* fall through */
	case TREE_K_DATASET:
	case TREE_K_PLATE:
		if (rc == 0)
			rc = add_file(t, dir, TREE_K_TSV, TSV_NAME, ents, n);
		break;
	default:
		break;
	}
	return rc;
}

/* ---- images.tsv ---- */

struct row {
	char *path; /* from the mount point */
	int64_t id;
	struct node *img; /* sizes and key/values; may be NULL */
	bool rendered;
	const char *name;	   /* borrowed (img's or a hit's) */
	const struct api_hit *hit; /* search engine key/values, or NULL */
};

struct rows {
	struct row *v;
	size_t n, cap;
};

static int rows_add(struct rows *r, char *path, int64_t id, struct node *img,
		    bool rendered, const char *name, const struct api_hit *hit)
{
	if (!path)
		return -ENOMEM;
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 64;
		struct row *nv = realloc(r->v, nc * sizeof(*nv));

		if (!nv) {
			free(path);
			return -ENOMEM;
		}
		r->v = nv;
		r->cap = nc;
	}
	r->v[r->n++] = (struct row){path, id, img, rendered, name, hit};
	return 0;
}

static void rows_free(struct rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].path);
	free(r->v);
}

/* "projects/<p>/<d>" of a container, from the names its parents list. */
static int container_path(const struct node *n, char *out, size_t outsz)
{
	const char *names[4];
	size_t depth = 0;
	const struct node *c = n;

	while (c && c->kind != TREE_K_PROJECTS && c->kind != TREE_K_SCREENS &&
	       depth < 4) {
		const struct node *p = c->parent;
		const char *name = NULL;

		for (size_t i = 0; p && i < p->nents && !name; i++) {
			if (p->ents[i].node == c)
				name = p->ents[i].name;
		}
		if (!name)
			return -ENOENT;
		names[depth++] = name;
		c = p;
	}
	if (!c || (c->kind != TREE_K_PROJECTS && c->kind != TREE_K_SCREENS))
		return -ENOENT;
	int k = snprintf(out, outsz, "%s",
			 c->kind == TREE_K_PROJECTS ? "projects" : "screens");

	while (depth > 0 && k > 0 && (size_t)k < outsz) {
		depth--;
		k += snprintf(out + k, outsz - (size_t)k, "/%s", names[depth]);
	}
	return k > 0 && (size_t)k < outsz ? 0 : -ENAMETOOLONG;
}

/* Rows of the images a directory lists (a dataset or a well). */
static int rows_of_dir(struct rows *r, const struct node *dir,
		       const char *prefix)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < dir->nents; i++) {
		struct node *img = dir->ents[i].node;
		char *path = NULL;

		if (img->kind != TREE_K_IMAGE)
			continue;
		if (asprintf(&path, "%s/%s", prefix, dir->ents[i].name) < 0)
			path = NULL;
		rc = rows_add(r, path, img->id, img, img->rendered, NULL, NULL);
	}
	return rc;
}

static int rows_dataset(struct tree *t, struct node *ds, uint64_t deadline,
			struct rows *r)
{
	char prefix[VIEW_PATH_MAX];
	int rc = tree_ensure_listed(t, ds, deadline);

	if (rc == 0)
		rc = container_path(ds, prefix, sizeof(prefix));
	if (rc == 0)
		rc = rows_of_dir(r, ds, prefix);
	return rc;
}

/* The nodes of kind in dir's listing (a copy: the lock will drop). */
static int children_of(struct node *dir, enum tree_kind kind,
		       struct node ***out, size_t *n)
{
	struct node **v = calloc(dir->nents + 1, sizeof(*v));

	*n = 0;
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < dir->nents; i++) {
		if (dir->ents[i].node->kind == kind)
			v[(*n)++] = dir->ents[i].node;
	}
	*out = v;
	return 0;
}

static int rows_plate(struct tree *t, struct node *plate, uint64_t deadline,
		      size_t *wells_seen, struct rows *r)
{
	char prefix[VIEW_PATH_MAX];
	struct node **wells = NULL;
	size_t nw = 0;
	int rc = tree_ensure_listed(t, plate, deadline);

	if (rc == 0)
		rc = children_of(plate, TREE_K_WELL, &wells, &nw);
	if (rc == 0 && nw > TSV_MAX_WELLS - *wells_seen) {
		char path[TREE_LOG_PATH];

		log_error(LOG_C_TREE,
			  "images.tsv of \"%s\": more than %u wells to list; "
			  "not built",
			  tree_log_path(plate, path, sizeof(path)),
			  TSV_MAX_WELLS);
		rc = -EFBIG;
	}
	if (rc == 0) {
		*wells_seen += nw;
		rc = tree_list_wells(t, wells, nw, deadline);
	}
	for (size_t i = 0; rc == 0 && i < nw; i++) {
		rc = container_path(wells[i], prefix, sizeof(prefix));
		if (rc == 0)
			rc = rows_of_dir(r, wells[i], prefix);
	}
	free(wells);
	return rc;
}

static int ptr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a;
	uintptr_t y = (uintptr_t) * (void *const *)b;

	return x < y ? -1 : x > y;
}

/* Sort and drop repeated nodes; the new count. */
static size_t unique_nodes(struct node **v, size_t n)
{
	size_t w = 0;

	if (n > 0)
		qsort(v, n, sizeof(*v), ptr_cmp);
	for (size_t i = 0; i < n; i++) {
		if (w == 0 || v[w - 1] != v[i])
			v[w++] = v[i];
	}
	return w;
}

/* Keep an image's key/values (taking kvs): the first TREE_KV_MAX. */
static void kvs_set(struct node *img, struct api_kv *kvs, size_t n)
{
	if (n > TREE_KV_MAX) {
		char path[TREE_LOG_PATH];

		log_warn(LOG_C_TREE,
			 "\"%s\": %zu key/value pairs; only the first %u are "
			 "shown",
			 tree_log_path(img, path, sizeof(path)), n,
			 TREE_KV_MAX);
		for (size_t i = TREE_KV_MAX; i < n; i++) {
			free(kvs[i].ns);
			free(kvs[i].key);
			free(kvs[i].value);
		}
		n = TREE_KV_MAX;
	}
	api_kvs_free(img->kvs, img->nkvs);
	img->kvs = kvs;
	img->nkvs = n;
	img->kvs_at = http_now_ms();
}

/* Fetch the key/values of rows whose images have none fresh. */
static int rows_kvs(struct tree *t, struct rows *r, uint64_t deadline)
{
	struct api_kvset *sets = NULL;
	struct node **nodes = calloc(r->n + 1, sizeof(*nodes));
	int64_t *ids = calloc(r->n + 1, sizeof(*ids));
	uint64_t now = http_now_ms();
	size_t n = 0;
	int rc = nodes && ids ? 0 : -ENOMEM;

	for (size_t i = 0; rc == 0 && i < r->n; i++) {
		struct node *img = r->v[i].img;

		if (!img || (r->v[i].hit && r->v[i].hit->has_kvs) ||
		    (img->kvs_at && now - img->kvs_at < t->ttl_ms))
			continue;
		nodes[n++] = img;
	}
	/* an image listed twice (two datasets) is asked for once */
	n = unique_nodes(nodes, n);
	for (size_t i = 0; i < n; i++)
		ids[i] = nodes[i]->id;
	if (rc == 0 && n > 0) {
		pthread_mutex_unlock(&t->lock);
		rc = api_images_kvs(t->api, ids, n, deadline, &sets);
		pthread_mutex_lock(&t->lock);
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		kvs_set(nodes[i], sets[i].kvs, sets[i].n);
		sets[i].kvs = NULL;
		sets[i].n = 0;
	}
	if (rc == 0)
		api_kvsets_free(sets, n);
	free(nodes);
	free(ids);
	return rc;
}

static int row_path_cmp(const void *a, const void *b)
{
	return strcmp(((const struct row *)a)->path,
		      ((const struct row *)b)->path);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void row_kvs(const struct row *r, const struct api_kv **kvs, size_t *n)
{
	if (r->hit && r->hit->has_kvs) {
		/* as an image's own: the first TREE_KV_MAX */
		*kvs = r->hit->kvs;
		*n = r->hit->nkvs < TREE_KV_MAX ? r->hit->nkvs : TREE_KV_MAX;
	} else if (r->img) {
		*kvs = r->img->kvs;
		*n = r->img->nkvs;
	} else {
		*kvs = NULL;
		*n = 0;
	}
}

/* A row's key/values ordered by key (and as sent within a key). */
struct kv_ref {
	const struct api_kv *kv;
	size_t pos;
};

static int kv_ref_cmp(const void *a, const void *b)
{
	const struct kv_ref *x = a, *y = b;
	int c = strcmp(x->kv->key, y->kv->key);

	return c ? c : (x->pos < y->pos ? -1 : x->pos > y->pos);
}

/* The sorted distinct keys of every row. */
static int tsv_keys(const struct rows *r, const char ***out, size_t *nout)
{
	const char **keys = NULL;
	size_t nk = 0, capk = 0;

	for (size_t i = 0; i < r->n; i++) {
		const struct api_kv *kvs;
		size_t n;

		row_kvs(&r->v[i], &kvs, &n);
		for (size_t j = 0; j < n; j++) {
			if (nk == capk) {
				size_t nc = capk ? capk * 2 : 32;
				const char **nv =
					realloc(keys, nc * sizeof(*nv));

				if (!nv) {
					free(keys);
					return -ENOMEM;
				}
				keys = nv;
				capk = nc;
			}
			keys[nk++] = kvs[j].key;
		}
		/* keep the key list short as it grows */
		if (nk > 4096 || i + 1 == r->n) {
			if (nk > 0)
				qsort(keys, nk, sizeof(*keys), str_cmp);
			size_t w = 0;

			for (size_t j = 0; j < nk; j++) {
				if (w == 0 || strcmp(keys[w - 1], keys[j]))
					keys[w++] = keys[j];
			}
			nk = w;
		}
	}
	*out = keys;
	*nout = nk;
	return 0;
}

/* A row's key/value cells, one per key of the header: its key/values
 * sorted once and merged with the keys (no scan per key). */
static int tsv_kv_cells(struct sbuf *b, const struct row *w, const char **keys,
			size_t nk)
{
	const struct api_kv *kvs;
	struct kv_ref *ref;
	size_t n, p = 0;

	row_kvs(w, &kvs, &n);
	ref = calloc(n + 1, sizeof(*ref));
	if (!ref)
		return -ENOMEM;
	for (size_t j = 0; j < n; j++)
		ref[j] = (struct kv_ref){&kvs[j], j};
	if (n > 0)
		qsort(ref, n, sizeof(*ref), kv_ref_cmp);
	for (size_t k = 0; k < nk && !b->err; k++) {
		bool first = true;

		sb_add(b, "\t", 1);
		while (p < n && strcmp(ref[p].kv->key, keys[k]) < 0)
			p++;
		for (; p < n && strcmp(ref[p].kv->key, keys[k]) == 0; p++) {
			if (!first)
				sb_add(b, "; ", 2);
			sb_cell(b, ref[p].kv->value);
			first = false;
		}
	}
	free(ref);
	return 0;
}

/* The text of images.tsv: a header, then one row per image by path. */
static int tsv_format(struct rows *r, struct sbuf *b)
{
	const char **keys = NULL;
	size_t nk = 0;
	int rc;

	if (r->n > 0)
		qsort(r->v, r->n, sizeof(*r->v), row_path_cmp);
	rc = tsv_keys(r, &keys, &nk);
	if (rc < 0)
		return rc;
	sb_str(b, "path\tid\tname\tSizeX\tSizeY\tSizeZ\tSizeC\tSizeT\t"
		  "PixelType\tPhysicalSizeX\tPhysicalSizeY\tPhysicalSizeZ\t"
		  "source");
	for (size_t k = 0; k < nk && !b->err; k++) {
		sb_add(b, "\t", 1);
		sb_cell(b, keys[k]);
	}
	sb_add(b, "\n", 1);
	for (size_t i = 0; rc == 0 && i < r->n && !b->err; i++) {
		const struct row *w = &r->v[i];
		const struct api_image *img = w->img ? &w->img->img : NULL;

		sb_cell(b, w->path);
		sb_printf(b, "\t%" PRId64 "\t", w->id);
		sb_cell(b, img && img->name ? img->name : w->name);
		if (img && img->has_pixels) {
			const struct api_pixels *px = &img->px;

			sb_printf(b, "\t%u\t%u\t%u\t%u\t%u\t%s", px->size_x,
				  px->size_y, px->size_z, px->size_c,
				  px->size_t_, api_pixel_type_name(px->type));
			const double ps[3] = {px->phys_x, px->phys_y,
					      px->phys_z};

			for (int k = 0; k < 3; k++) {
				if (ps[k] > 0)
					sb_printf(b, "\t%.6g", ps[k]);
				else
					sb_add(b, "\t", 1);
			}
		} else {
			sb_str(b, "\t\t\t\t\t\t\t\t\t");
		}
		sb_str(b, w->rendered ? "\trendered" : "\tzarr");
		rc = tsv_kv_cells(b, w, keys, nk);
		sb_add(b, "\n", 1);
	}
	free(keys);
	return rc < 0 ? rc : b->err;
}

static int build_tsv(struct tree *t, struct node *f, uint64_t deadline,
		     struct sbuf *b)
{
	struct node *owner = f->view->owner;
	struct rows r = {0};
	struct node **kids = NULL;
	struct api_hit *hits = NULL;
	struct tree_place *p = NULL;
	size_t nk = 0, nh = 0, np = 0, wells = 0;
	int rc = 0;

	switch (owner->kind) {
	case TREE_K_DATASET:
		rc = rows_dataset(t, owner, deadline, &r);
		break;
	case TREE_K_PLATE:
		rc = rows_plate(t, owner, deadline, &wells, &r);
		break;
	case TREE_K_PROJECT:
	case TREE_K_SCREEN:
		rc = tree_ensure_listed(t, owner, deadline);
		if (rc == 0)
			rc = children_of(owner,
					 owner->kind == TREE_K_PROJECT
						 ? TREE_K_DATASET
						 : TREE_K_PLATE,
					 &kids, &nk);
		for (size_t i = 0; rc == 0 && i < nk; i++)
			rc = kids[i]->kind == TREE_K_DATASET
				     ? rows_dataset(t, kids[i], deadline, &r)
				     : rows_plate(t, kids[i], deadline, &wells,
						  &r);
		break;
	case TREE_K_TERM:
		rc = tree_view_term_places(t, owner, false, 0, true, deadline,
					   &p, &np, &hits, &nh);
		/* sizes of screen images: their wells' listings */
		if (rc == 0) {
			kids = calloc(np + 1, sizeof(*kids));
			if (!kids)
				rc = -ENOMEM;
		}
		for (size_t i = 0; rc == 0 && i < np; i++) {
			if (p[i].well)
				kids[nk++] = p[i].well;
		}
		nk = unique_nodes(kids, nk);
		if (rc == 0 && nk > TSV_MAX_WELLS) {
			char esc[256];

			log_error(LOG_C_TREE,
				  "images.tsv of \"%s\": more than %u wells to "
				  "list; not built",
				  log_escape(owner->view->value, esc,
					     sizeof(esc)),
				  TSV_MAX_WELLS);
			rc = -EFBIG;
		}
		if (rc == 0)
			rc = tree_list_wells(t, kids, nk, deadline);
		for (size_t i = 0; rc == 0 && i < np; i++) {
			const struct api_hit *h = &hits[p[i].hit];

			if (!p[i].path)
				continue;
			rc = rows_add(&r, strdup(p[i].path), p[i].id,
				      tree_node_find(t, TREE_INO(TREE_K_IMAGE,
								 p[i].id)),
				      p[i].rendered, p[i].name, h);
		}
		break;
	default:
		rc = -EINVAL;
		break;
	}
	if (rc == 0)
		rc = rows_kvs(t, &r, deadline);
	if (rc == 0)
		rc = tsv_format(&r, b);
	rows_free(&r);
	free(kids);
	tree_view_places_free(p, np);
	api_hits_free(hits, nh);
	return rc;
}

/* ---- study.txt ---- */

static const char *kv_get(const struct api_kv *kvs, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(kvs[i].key, key) == 0)
			return kvs[i].value;
	}
	return NULL;
}

/* Text up to the first space: "10.1091/x https://doi.org/..." -> DOI. */
static void first_word(const char *s, char *out, size_t outsz)
{
	size_t n = strcspn(s, " ");

	snprintf(out, outsz, "%.*s", (int)(n < outsz ? n : outsz - 1), s);
}

static int build_study(struct tree *t, struct node *f, uint64_t deadline,
		       struct sbuf *b)
{
	struct node *owner = f->view->owner;
	bool screen = owner->kind == TREE_K_SCREEN;
	char path[VIEW_PATH_MAX], doi[256] = "";
	struct api_kv *kvs = NULL;
	char *name = NULL;
	size_t n = 0;
	const char *v;
	int rc;

	int64_t id = owner->id;

	rc = container_path(owner, path, sizeof(path));
	if (rc < 0)
		return rc;
	pthread_mutex_unlock(&t->lock);
	rc = api_object_kvs(t->api, screen ? "screen" : "project", id, NS_STUDY,
			    deadline, &kvs, &n, &name);
	pthread_mutex_lock(&t->lock);
	if (rc < 0)
		return rc;
	/* the archive's name when the annotation says it, else ours */
	sb_str(b, "Study:       ");
	sb_cell(b, name ? name : strchr(path, '/') + 1);
	sb_str(b, "\n");
	free(name);
	sb_printf(b, "Remote:      %s/webclient/?show=%s-%" PRId64 "\n",
		  api_base_url(t->api), screen ? "screen" : "project",
		  owner->id);
	static const struct {
		const char *label, *key;
	} lines[] = {
		{"Title", "Study Title"},
		{"Type", "Study Type"},
		{"Publication", "Publication Title"},
		{"Authors", "Publication Authors"},
		{"DOI", "Publication DOI"},
		{"PubMed ID", "PubMed ID"},
		{"Licence", "License"},
		{"Copyright", "Copyright"},
		{"Released", "Release Date"},
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		v = kv_get(kvs, n, lines[i].key);
		if (!v)
			continue;
		char label[32];

		snprintf(label, sizeof(label), "%s:", lines[i].label);
		sb_printf(b, "%-12s ", label);
		sb_cell(b, v);
		sb_add(b, "\n", 1);
	}
	if (n == 0)
		sb_str(b, "\nThe archive has no study information for this "
			  "study.\n");
	v = kv_get(kvs, n, "Publication DOI");
	if (v)
		first_word(v, doi, sizeof(doi));
	sb_str(b, "\nHow to cite:\n  ");
	v = kv_get(kvs, n, "Publication Authors");
	if (v) {
		sb_cell(b, v);
		sb_str(b, ". ");
	}
	v = kv_get(kvs, n, "Publication Title");
	if (v) {
		sb_cell(b, v);
		sb_str(b, " ");
	}
	if (*doi) {
		sb_str(b, "doi:");
		sb_cell(b, doi);
	}
	sb_str(b, "\n  and the Image Data Resource: Williams E. et al. "
		  "(2017) Nature Methods\n  14, 775-781, "
		  "doi:10.1038/nmeth.4326\n");
	if (n > 0)
		sb_str(b, "\nStudy annotations (" NS_STUDY "):\n");
	for (size_t i = 0; i < n; i++) {
		sb_str(b, "  ");
		sb_cell(b, kvs[i].key);
		sb_str(b, ": ");
		sb_cell(b, kvs[i].value);
		sb_add(b, "\n", 1);
	}
	api_kvs_free(kvs, n);
	return b->err;
}

int tree_files_build(struct tree *t, struct node *n, uint64_t deadline)
{
	char path[TREE_LOG_PATH];
	struct sbuf b = {0};
	bool waited = false;
	int rc;

	for (;;) {
		if (tree_files_fresh(t, n))
			return 0;
		if (!n->loading)
			break;
		if (tree_wait(t, deadline) < 0)
			return -ETIMEDOUT;
		waited = true;
	}
	if (waited && n->listed_at && n->view && n->view->text)
		return 0; /* built by another thread just now (ttl 0) */
	if (!n->view || !n->view->owner)
		return -EIO; /* internal: a lazy file always has its directory
			      */
	n->loading = true;
	rc = n->kind == TREE_K_TSV ? build_tsv(t, n, deadline, &b)
				   : build_study(t, n, deadline, &b);
	if (rc == 0) {
		free(n->view->text);
		n->view->text = b.p;
		n->view->len = b.len;
		n->size = b.len;
		n->listed_at = http_now_ms();
		b.p = NULL;
	} else if (n->view->text) {
		log_warn(LOG_C_TREE,
			 "cannot rebuild \"%s\" (%s); serving the one from "
			 "before",
			 tree_log_path(n, path, sizeof(path)), strerror(-rc));
		rc = 0;
	} else {
		log_error(LOG_C_TREE, "cannot build \"%s\": %s",
			  tree_log_path(n, path, sizeof(path)), strerror(-rc));
		if (rc == -ENOENT)
			rc = -EIO; /* the file exists; building it failed */
	}
	free(b.p);
	n->loading = false;
	pthread_cond_broadcast(&t->load_cond);
	return rc;
}

ssize_t tree_files_read(struct tree *t, struct node *n, uint64_t off,
			size_t len, char *buf)
{
	ssize_t got = 0;

	pthread_mutex_lock(&t->lock);
	if (!n->view || !n->view->text) {
		got = -EIO;
	} else if (off < n->view->len) {
		if (len > n->view->len - off)
			len = n->view->len - off;
		memcpy(buf, n->view->text + off, len);
		got = (ssize_t)len;
	}
	pthread_mutex_unlock(&t->lock);
	return got;
}

/* ---- symlinks and extended attributes ---- */

int tree_readlink(struct tree *t, uint64_t ino, char **out)
{
	struct node *n;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	n = tree_node_find(t, ino);
	if (!n) {
		rc = -ENOENT;
	} else if (n->kind != TREE_K_LINK || !n->view || !n->view->target) {
		rc = -EINVAL;
	} else {
		*out = strdup(n->view->target);
		if (!*out)
			rc = -ENOMEM;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

/* An image's key/values, fetched (one request) when not fresh. */
static int image_kvs(struct tree *t, struct node *n, uint64_t deadline)
{
	struct api_kvset *set = NULL;
	int64_t id = n->id;
	int rc;

	if (n->kvs_at && http_now_ms() - n->kvs_at < t->ttl_ms)
		return 0;
	pthread_mutex_unlock(&t->lock);
	rc = api_images_kvs(t->api, &id, 1, deadline, &set);
	pthread_mutex_lock(&t->lock);
	if (rc < 0)
		return n->kvs_at ? 0 : rc; /* serve what we had */
	kvs_set(n, set[0].kvs, set[0].n);
	set[0].kvs = NULL;
	set[0].n = 0;
	api_kvsets_free(set, 1);
	return 0;
}

/* "user.idr.kv." + the key with bytes outside [A-Za-z0-9._-] as '_'. */
static void kv_attr_name(const char *key, char *out, size_t outsz)
{
	size_t o = snprintf(out, outsz, "%s", XATTR_KV);

	for (const unsigned char *p = (const unsigned char *)key;
	     *p && o + 1 < outsz; p++) {
		bool ok = (*p >= 'A' && *p <= 'Z') ||
			  (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
			  *p == '-';

		out[o++] = ok ? (char)*p : '_';
	}
	out[o] = '\0';
}

static const char *const fixed_attrs[] = {
	XATTR_PREFIX "id",   XATTR_PREFIX "url",	XATTR_PREFIX "source",
	XATTR_PREFIX "dims", XATTR_PREFIX "pixel_type",
};

/* The user.idr.kv.* names of an image, sorted and distinct (t->lock
 * held; at most TREE_KV_MAX: kvs_set). */
static int kv_attr_names(const struct node *n, char ***out, size_t *nout)
{
	char **names = calloc(n->nkvs + 1, sizeof(*names));
	size_t w = 0;

	if (!names)
		return -ENOMEM;
	for (size_t i = 0; i < n->nkvs; i++) {
		char name[256];

		kv_attr_name(n->kvs[i].key, name, sizeof(name));
		names[i] = strdup(name);
		if (!names[i]) {
			for (size_t j = 0; j < i; j++)
				free(names[j]);
			free(names);
			return -ENOMEM;
		}
	}
	if (n->nkvs > 0)
		qsort(names, n->nkvs, sizeof(*names), str_cmp);
	for (size_t i = 0; i < n->nkvs; i++) {
		if (w > 0 && strcmp(names[w - 1], names[i]) == 0)
			free(names[i]);
		else
			names[w++] = names[i];
	}
	*out = names;
	*nout = w;
	return 0;
}

int tree_listxattr(struct tree *t, uint64_t ino, uint64_t deadline, char **out,
		   size_t *len)
{
	char path[TREE_LOG_PATH] = "";
	struct sbuf b = {0};
	char **names = NULL;
	size_t nn = 0, nfixed = 0, left = 0;
	struct node *n;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	n = tree_node_find(t, ino);
	if (!n)
		rc = -ENOENT;
	else if (n->kind == TREE_K_IMAGE)
		rc = image_kvs(t, n, deadline);
	if (rc == 0 && n->kind == TREE_K_IMAGE) {
		nfixed = n->img.has_pixels ? 5 : 3;
		rc = kv_attr_names(n, &names, &nn);
		tree_log_path(n, path, sizeof(path));
	}
	pthread_mutex_unlock(&t->lock);
	sb_add(&b, "", 0);
	for (size_t i = 0; rc == 0 && i < nfixed; i++)
		sb_add(&b, fixed_attrs[i], strlen(fixed_attrs[i]) + 1);
	/* the kernel takes at most XATTR_NAMES_MAX bytes of names */
	for (size_t i = 0; rc == 0 && i < nn; i++) {
		size_t l = strlen(names[i]) + 1;

		if (l > XATTR_NAMES_MAX - b.len)
			left++;
		else
			sb_add(&b, names[i], l);
	}
	if (left > 0)
		log_warn(LOG_C_TREE,
			 "\"%s\": %zu key/value names left out of listxattr "
			 "(%u bytes at most)",
			 path, left, XATTR_NAMES_MAX);
	for (size_t i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	if (rc == 0)
		rc = b.err;
	if (rc < 0) {
		free(b.p);
		return rc;
	}
	*out = b.p;
	*len = b.len;
	return 0;
}

int tree_getxattr(struct tree *t, uint64_t ino, const char *name,
		  uint64_t deadline, char **out, size_t *len)
{
	struct sbuf b = {0};
	const struct api_image *img;
	struct node *n;
	int rc = 0;

	/* only our names: ls asks for security.* and ACLs on every file */
	if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) != 0)
		return -ENODATA;
	pthread_mutex_lock(&t->lock);
	n = tree_node_find(t, ino);
	if (!n) {
		rc = -ENOENT;
		goto out;
	}
	if (n->kind != TREE_K_IMAGE) {
		rc = -ENODATA;
		goto out;
	}
	img = &n->img;
	if (strcmp(name, XATTR_PREFIX "id") == 0) {
		sb_printf(&b, "%" PRId64, n->id);
	} else if (strcmp(name, XATTR_PREFIX "url") == 0) {
		sb_printf(&b, "%s/webclient/?show=image-%" PRId64,
			  api_base_url(t->api), n->id);
	} else if (strcmp(name, XATTR_PREFIX "source") == 0) {
		sb_str(&b, n->rendered ? "rendered" : "zarr");
	} else if (strcmp(name, XATTR_PREFIX "dims") == 0 && img->has_pixels) {
		sb_printf(&b, "X=%u Y=%u Z=%u C=%u T=%u", img->px.size_x,
			  img->px.size_y, img->px.size_z, img->px.size_c,
			  img->px.size_t_);
	} else if (strcmp(name, XATTR_PREFIX "pixel_type") == 0 &&
		   img->has_pixels) {
		sb_str(&b, api_pixel_type_name(img->px.type));
	} else if (strncmp(name, XATTR_KV, strlen(XATTR_KV)) == 0) {
		bool found = false;

		rc = image_kvs(t, n, deadline);
		for (size_t i = 0;
		     rc == 0 && i < n->nkvs && b.len <= XATTR_VALUE_MAX; i++) {
			char an[256];

			kv_attr_name(n->kvs[i].key, an, sizeof(an));
			if (strcmp(an, name) != 0)
				continue;
			if (found)
				sb_add(&b, "; ", 2);
			sb_str(&b, n->kvs[i].value);
			found = true;
		}
		if (rc == 0 && !found)
			rc = -ENODATA;
	} else {
		rc = -ENODATA;
	}
out:
	pthread_mutex_unlock(&t->lock);
	if (rc == 0)
		rc = b.err;
	if (rc == 0 && b.len > XATTR_VALUE_MAX)
		b.len = XATTR_VALUE_MAX;
	if (rc < 0) {
		free(b.p);
		return rc;
	}
	*out = b.p ? b.p : strdup("");
	*len = b.len;
	return *out ? 0 : -ENOMEM;
}
