/* SPDX-License-Identifier: MIT */
/*
 * tree_view: the by-* menus. A menu lists the terms the search module
 * finds; a term lists the studies its images are in (and images.tsv); a
 * study lists relative symlinks to its images' canonical paths. A term the
 * menu does not list is found on lookup, like autofs. The files of
 * containers (images.tsv, study.txt) and the extended attributes of images
 * are in tree_files.c.
 *
 * Canonical paths. A symlink must name exactly what projects/ and screens/
 * show, suffixes and sanitising included, so it is read from those
 * listings, never recomputed: the study's listing for the dataset or
 * plate name, the dataset's listing for the image's file name, the
 * plate's listing (which records each well's field images) for the well
 * and "field-<n>". That costs a request per container, never one per
 * image.
 *
 * Inode numbers of view nodes are 56-bit FNV-1a hashes of what they are
 * (menu + term name, term + study, study + image, directory + file name),
 * so they are the same after a remount.
 *
 * Locking: every function here is called with t->lock held and returns
 * with it held; the lock is dropped only around requests (directly, or
 * inside tree_ensure_listed()), so no pointer into a listing is kept
 * across one.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "idrfs/http.h"
#include "idrfs/log.h"
#include "idrfs/search.h"

#include "tree_int.h"

#define TSV_NAME	 "images.tsv"
#define TERM_ACC_MAX	 100u
#define TERM_HASH_SUFFIX 12u /* " [#xxxxxxxx]" */

struct view *tree_view_of(struct node *n)
{
	if (!n->view)
		n->view = calloc(1, sizeof(*n->view));
	return n->view;
}

void tree_view_node_free(struct node *n)
{
	struct view *v = n->view;

	api_kvs_free(n->kvs, n->nkvs);
	free(n->field_ids);
	free(n->field_rendered);
	if (!v)
		return;
	free(v->value);
	free(v->label);
	api_hits_free(v->hits, v->nhits);
	free(v->target);
	free(v->text);
	for (size_t i = 0; i < v->nfound; i++)
		free(v->found[i].name);
	free(v->found);
	free(v);
	n->view = NULL;
}

bool tree_view_is_dir(enum tree_kind kind)
{
	return kind == TREE_K_MENU || kind == TREE_K_TERM ||
	       kind == TREE_K_TSTUDY;
}

/* Inode of a view node: FNV-1a of its kind, its parent and a salt. */
uint64_t tree_view_ino(enum tree_kind kind, uint64_t parent, const char *salt)
{
	uint64_t h = 1469598103934665603ull;

	h = (h ^ (uint8_t)kind) * 1099511628211ull;
	for (int i = 0; i < 8; i++)
		h = (h ^ (uint8_t)(parent >> (8 * i))) * 1099511628211ull;
	for (const char *p = salt; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	return TREE_INO(kind, h & TREE_ID_MAX);
}

/* ---- listings of view directories ---- */

/* A child of a view directory, before it is installed. */
struct vchild {
	enum tree_kind kind;
	char name[TREE_NAME_MAX + 1]; /* without ext */
	const char *ext;	      /* NULL or a static extension (".tif") */
	int64_t uniq;  /* " [uniq]" on equal names; < 0: a hash suffix */
	uint32_t hash; /* the hash suffix */
	char *value;   /* TERM */
	char *label;   /* TERM */
	bool screen;   /* TSTUDY */
	int64_t study; /* TSTUDY */
	char *target;  /* LINK */
	uint64_t ino;
	uint64_t order; /* unique per child: orders equal names */
	char tag[24];	/* the suffix's text */
	char *full;	/* the unique name, with ext (vchildren_unique) */
};

static void vchildren_free(struct vchild *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		free(c[i].value);
		free(c[i].label);
		free(c[i].target);
		free(c[i].full);
	}
	free(c);
}

/*
 * Name children uniquely, also unlike the files the tree adds to a
 * directory of dir_kind (tree_names.c): " [uniq]", or " [#hash]" for
 * terms.
 */
static int vchildren_unique(struct vchild *c, size_t n, enum tree_kind dir_kind)
{
	const char *reserved[TREE_FILES_MAX];
	size_t nres = tree_files_names(dir_kind, reserved);
	struct tree_uname *u = calloc(n + 1, sizeof(*u));
	int rc;

	if (!u)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (c[i].uniq >= 0)
			snprintf(c[i].tag, sizeof(c[i].tag), "%" PRId64,
				 c[i].uniq);
		else
			snprintf(c[i].tag, sizeof(c[i].tag), "#%08x",
				 c[i].hash);
		u[i] = (struct tree_uname){.base = c[i].name,
					   .ext = c[i].ext ? c[i].ext : "",
					   .tag = c[i].tag,
					   .order = c[i].order};
	}
	rc = tree_names_unique(u, n, reserved, nres);
	for (size_t i = 0; rc == 0 && i < n; i++)
		c[i].full = u[i].name;
	free(u);
	return rc;
}

/* Install children as dir's listing; their payloads move into nodes. */
static int vinstall(struct tree *t, struct node *dir, struct vchild *c,
		    size_t n)
{
	struct ent *ents = calloc(n + 1, sizeof(*ents));
	size_t ne = 0;

	if (!ents)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		uint64_t id = c[i].ino & TREE_ID_MAX;
		struct node *nd =
			tree_node_get(t, c[i].kind, c[i].ino, (int64_t)id);
		struct view *v = nd ? tree_view_of(nd) : NULL;

		if (!v)
			goto nomem;
		if (c[i].full) {
			ents[ne].name = c[i].full;
			c[i].full = NULL;
		} else if (asprintf(&ents[ne].name, "%s%s", c[i].name,
				    c[i].ext ? c[i].ext : "") < 0) {
			goto nomem;
		}
		ents[ne++].node = nd;
		nd->up = dir;
		switch (c[i].kind) {
		case TREE_K_TERM:
			v->menu = dir->view->menu;
			free(v->value);
			free(v->label);
			v->value = c[i].value;
			v->label = c[i].label;
			c[i].value = NULL;
			c[i].label = NULL;
			break;
		case TREE_K_TSTUDY:
			v->owner = dir;
			v->screen = c[i].screen;
			v->study = c[i].study;
			break;
		case TREE_K_LINK:
			free(v->target);
			v->target = c[i].target;
			c[i].target = NULL;
			nd->size = strlen(v->target);
			break;
		case TREE_K_TSV:
			v->owner = dir;
			break;
		default:
			break;
		}
	}
	if (ne > 0)
		qsort(ents, ne, sizeof(*ents), tree_ent_cmp);
	tree_ents_free(dir->ents, dir->nents);
	dir->ents = ents;
	dir->nents = ne;
	return 0;
nomem:
	tree_ents_free(ents, ne);
	return -ENOMEM;
}

/* "<label> [<accession>]", or the value, made safe, room for a suffix. */
static void term_name(const char *value, const char *label, char *out)
{
	size_t max = TREE_NAME_MAX - TERM_HASH_SUFFIX;

	if (label && *label) {
		char acc[TERM_ACC_MAX + 1];
		size_t al = tree_sanitize_name(value, acc, TERM_ACC_MAX);
		size_t ll = tree_sanitize_name(label, out, max - al - 3);

		snprintf(out + ll, TREE_NAME_MAX + 1 - ll, " [%s]", acc);
	} else {
		tree_sanitize_name(value, out, max);
	}
}

static uint32_t hash32(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static int list_menu(struct tree *t, struct node *dir, uint64_t deadline)
{
	unsigned menu = dir->view->menu;
	struct search_term *terms = NULL;
	struct vchild *c = NULL;
	size_t n = 0;
	int rc;

	pthread_mutex_unlock(&t->lock);
	rc = search_terms(t->search, menu, deadline, &terms, &n);
	if (rc == 0) {
		c = calloc(n + 1, sizeof(*c));
		if (!c)
			rc = -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		c[i].kind = TREE_K_TERM;
		c[i].uniq = -1;
		c[i].hash = hash32(terms[i].value);
		c[i].order = tree_view_ino(TREE_K_TERM, 0, terms[i].value);
		term_name(terms[i].value, terms[i].label, c[i].name);
		c[i].value = terms[i].value;
		c[i].label = terms[i].label;
		terms[i].value = NULL;
		terms[i].label = NULL;
	}
	search_terms_free(terms, n);
	if (rc == 0)
		rc = vchildren_unique(c, n, TREE_K_MENU);
	for (size_t i = 0; rc == 0 && i < n; i++)
		c[i].ino = tree_view_ino(TREE_K_TERM, dir->ino, c[i].full);
	pthread_mutex_lock(&t->lock);
	if (rc == 0)
		rc = vinstall(t, dir, c, n);
	vchildren_free(c, n);
	return rc;
}

/* An entry of a listing, copied: it outlives a dropped lock. */
struct named {
	int64_t id;
	struct node *node; /* nodes live until tree_free() */
	char *name;
};

static int named_cmp(const void *a, const void *b)
{
	const struct named *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static void named_free(struct named *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i].name);
	free(v);
}

/* The entries of kind in dir's listing, by id. */
static int named_of(const struct node *dir, enum tree_kind kind,
		    struct named **out, size_t *nout)
{
	struct named *v = calloc(dir->nents + 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < dir->nents; i++) {
		struct node *e = dir->ents[i].node;

		if (e->kind != kind)
			continue;
		v[n] = (struct named){e->id, e, strdup(dir->ents[i].name)};
		if (!v[n++].name) {
			named_free(v, n);
			return -ENOMEM;
		}
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), named_cmp);
	*out = v;
	*nout = n;
	return 0;
}

static const struct named *named_find(const struct named *v, size_t n,
				      int64_t id)
{
	struct named key = {.id = id};

	return n ? bsearch(&key, v, n, sizeof(*v), named_cmp) : NULL;
}

/* projects/ and screens/ as they name their studies (listed if needed;
 * may drop the lock), only those asked for. */
struct studies {
	struct named *v[2]; /* [0] projects, [1] screens */
	size_t n[2];
};

static int studies_get(struct tree *t, bool projects, bool screens,
		       uint64_t deadline, struct studies *out)
{
	int rc = 0;

	memset(out, 0, sizeof(*out));
	for (int k = 0; rc == 0 && k < 2; k++) {
		struct node *top = tree_node_find(t, k ? TREE_SCREENS_INO
						       : TREE_PROJECTS_INO);

		if (!(k ? screens : projects))
			continue;
		rc = top ? tree_ensure_listed(t, top, deadline) : -EIO;
		if (rc == 0)
			rc = named_of(top, k ? TREE_K_SCREEN : TREE_K_PROJECT,
				      &out->v[k], &out->n[k]);
	}
	if (rc < 0) {
		named_free(out->v[0], out->n[0]);
		named_free(out->v[1], out->n[1]);
	}
	return rc;
}

static const struct named *studies_find(const struct studies *s, bool screen,
					int64_t id)
{
	return named_find(s->v[screen], s->n[screen], id);
}

static void studies_release(struct studies *s)
{
	named_free(s->v[0], s->n[0]);
	named_free(s->v[1], s->n[1]);
}

struct study_key {
	bool screen;
	int64_t study;
	int64_t image; /* one image of it, for the log */
};

static int study_key_cmp(const void *a, const void *b)
{
	const struct study_key *x = a, *y = b;

	if (x->screen != y->screen)
		return x->screen ? 1 : -1;
	return x->study < y->study ? -1 : x->study > y->study;
}

/* The distinct studies of a term's hits, sorted. */
static int hit_studies(const struct api_hit *hits, size_t n,
		       struct study_key **out, size_t *nout, bool *projects,
		       bool *screens)
{
	struct study_key *k = calloc(n + 1, sizeof(*k));
	size_t nk = 0, w = 0;

	if (!k)
		return -ENOMEM;
	*projects = *screens = false;
	for (size_t i = 0; i < n; i++) {
		bool screen = hits[i].screen_id > 0;
		int64_t study = screen ? hits[i].screen_id : hits[i].project_id;

		if (study <= 0)
			continue;
		k[nk++] = (struct study_key){screen, study, hits[i].id};
		*(screen ? screens : projects) = true;
	}
	if (nk > 0)
		qsort(k, nk, sizeof(*k), study_key_cmp);
	for (size_t i = 0; i < nk; i++) {
		if (w == 0 || study_key_cmp(&k[w - 1], &k[i]) != 0)
			k[w++] = k[i];
	}
	*out = k;
	*nout = w;
	return 0;
}

static int list_term(struct tree *t, struct node *dir, uint64_t deadline)
{
	unsigned menu = dir->view->menu;
	char *value = strdup(dir->view->value ? dir->view->value : "");
	struct api_hit *hits = NULL;
	struct study_key *keys = NULL;
	struct studies st = {0};
	struct vchild *c = NULL;
	size_t n = 0, nk = 0, nc = 0, nmissing = 0, missing = 0;
	bool projects = false, screens = false;
	int rc;

	if (!value)
		return -ENOMEM;
	pthread_mutex_unlock(&t->lock);
	rc = search_images(t->search, menu, value, deadline, &hits, &n);
	if (rc == 0)
		rc = hit_studies(hits, n, &keys, &nk, &projects, &screens);
	pthread_mutex_lock(&t->lock);
	free(value);
	if (rc == 0)
		rc = studies_get(t, projects, screens, deadline, &st);
	if (rc == 0) {
		c = calloc(nk + 2, sizeof(*c));
		if (!c)
			rc = -ENOMEM;
	}
	/* one directory per study, named as projects/ or screens/ does */
	for (size_t i = 0; rc == 0 && i < nk; i++) {
		const struct named *sn =
			studies_find(&st, keys[i].screen, keys[i].study);
		char salt[32];

		if (!sn) {
			if (nmissing++ == 0)
				missing = i;
			continue;
		}
		snprintf(c[nc].name, sizeof(c[nc].name), "%s", sn->name);
		snprintf(salt, sizeof(salt), "%c%" PRId64,
			 keys[i].screen ? 's' : 'p', keys[i].study);
		c[nc].kind = TREE_K_TSTUDY;
		c[nc].screen = keys[i].screen;
		c[nc].study = keys[i].study;
		c[nc].uniq = keys[i].study;
		c[nc].ino = tree_view_ino(TREE_K_TSTUDY, dir->ino, salt);
		c[nc].order = c[nc].ino;
		nc++;
	}
	if (rc == 0 && nmissing > 0) {
		char path[TREE_LOG_PATH];

		log_warn(LOG_C_TREE,
			 "\"%s\": %zu studies of its images are not listed "
			 "(the first: %s %" PRId64 ", of image %" PRId64
			 "); their images are left out",
			 tree_log_path(dir, path, sizeof(path)), nmissing,
			 keys[missing].screen ? "screen" : "project",
			 keys[missing].study, keys[missing].image);
	}
	if (rc == 0)
		rc = vchildren_unique(c, nc, TREE_K_TERM);
	if (rc == 0) {
		c[nc].kind = TREE_K_TSV;
		snprintf(c[nc].name, sizeof(c[nc].name), TSV_NAME);
		c[nc].ino = tree_view_ino(TREE_K_TSV, dir->ino, TSV_NAME);
		nc++;
		rc = vinstall(t, dir, c, nc);
	}
	if (rc == 0) {
		api_hits_free(dir->view->hits, dir->view->nhits);
		dir->view->hits = hits;
		dir->view->nhits = n;
		hits = NULL;
		n = 0;
	}
	studies_release(&st);
	free(keys);
	api_hits_free(hits, n);
	vchildren_free(c, nc);
	return rc;
}

/* ---- canonical paths of images ---- */

static int place_cmp(const void *a, const void *b)
{
	const struct tree_place *x = a, *y = b;

	if (x->screen != y->screen)
		return x->screen ? 1 : -1;
	if (x->study != y->study)
		return x->study < y->study ? -1 : 1;
	if (x->container != y->container)
		return x->container < y->container ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

struct img_ref {
	int64_t id;
	size_t ent; /* in the container's listing */
	size_t field;
};

static int img_ref_cmp(const void *a, const void *b)
{
	const struct img_ref *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int path_join(char **out, const char *a, const char *b, const char *c,
		     const char *d, const char *e)
{
	if (asprintf(out, "%s/%s/%s/%s%s%s", a, b, c, d, e ? "/" : "",
		     e ? e : "") < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Place the images of one dataset or plate (p[0..n) share it). */
static int place_container(struct tree *t, const char *sname,
			   const struct named *c, struct tree_place *p,
			   size_t n, uint64_t deadline)
{
	enum tree_kind kind = p[0].screen ? TREE_K_PLATE : TREE_K_DATASET;
	const char *cname = c->name;
	struct node *cn = c->node;
	struct img_ref *refs = NULL;
	size_t nr = 0;
	int rc;

	rc = tree_ensure_listed(t, cn, deadline);
	if (rc < 0)
		return rc;
	/* index the listing by image id (wells: by their field images) */
	for (size_t i = 0; i < cn->nents; i++) {
		const struct node *e = cn->ents[i].node;

		nr += kind == TREE_K_PLATE ? e->nfields
					   : e->kind == TREE_K_IMAGE;
	}
	refs = calloc(nr + 1, sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	nr = 0;
	for (size_t i = 0; i < cn->nents; i++) {
		const struct node *e = cn->ents[i].node;

		if (kind == TREE_K_DATASET && e->kind == TREE_K_IMAGE)
			refs[nr++] = (struct img_ref){e->id, i, 0};
		for (size_t f = 0; kind == TREE_K_PLATE && f < e->nfields; f++)
			refs[nr++] = (struct img_ref){e->field_ids[f], i, f};
	}
	if (nr > 0)
		qsort(refs, nr, sizeof(*refs), img_ref_cmp);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct img_ref key = {.id = p[i].id};
		const struct img_ref *r =
			nr ? bsearch(&key, refs, nr, sizeof(*refs), img_ref_cmp)
			   : NULL;
		const struct ent *e = r ? &cn->ents[r->ent] : NULL;

		if (!e)
			continue;
		if (kind == TREE_K_DATASET) {
			p[i].rendered = e->node->rendered;
			rc = path_join(&p[i].path, "projects", sname, cname,
				       e->name, NULL);
		} else {
			char field[48];

			p[i].rendered = e->node->field_rendered[r->field];
			p[i].well = e->node;
			snprintf(field, sizeof(field), "field-%zu%s",
				 r->field + 1,
				 p[i].rendered ? ".rendered.tif" : ".tif");
			rc = path_join(&p[i].path, "screens", sname, cname,
				       e->name, field);
		}
	}
	free(refs);
	return rc;
}

/*
 * Find the canonical path of every place, from the listings of its study,
 * its dataset or plate (one request each when not cached). Places whose
 * study or container is not listed keep path NULL.
 */
static int resolve_places(struct tree *t, struct tree_place *p, size_t n,
			  uint64_t deadline)
{
	struct studies st = {0};
	bool projects = false, screens = false;
	int rc;

	if (n > 0)
		qsort(p, n, sizeof(*p), place_cmp);
	for (size_t i = 0; i < n; i++)
		*(p[i].screen ? &screens : &projects) = true;
	rc = studies_get(t, projects, screens, deadline, &st);
	for (size_t i = 0; rc == 0 && i < n;) {
		const struct named *sn =
			studies_find(&st, p[i].screen, p[i].study);
		struct named *cs = NULL;
		size_t j = i, ncs = 0;

		while (j < n && p[j].screen == p[i].screen &&
		       p[j].study == p[i].study)
			j++;
		/* a study not listed: its images are left out */
		if (sn)
			rc = tree_ensure_listed(t, sn->node, deadline);
		if (sn && rc == 0)
			rc = named_of(sn->node,
				      p[i].screen ? TREE_K_PLATE
						  : TREE_K_DATASET,
				      &cs, &ncs);
		for (size_t k = i; sn && rc == 0 && k < j;) {
			const struct named *c =
				named_find(cs, ncs, p[k].container);
			size_t l = k;

			while (l < j && p[l].container == p[k].container)
				l++;
			/* not (or no longer) listed: left out */
			if (c)
				rc = place_container(t, sn->name, c, p + k,
						     l - k, deadline);
			k = l;
		}
		named_free(cs, ncs);
		i = j;
	}
	studies_release(&st);
	return rc;
}

void tree_view_places_free(struct tree_place *p, size_t n)
{
	for (size_t i = 0; p && i < n; i++)
		free(p[i].path);
	free(p);
}

/* The places of a term's images; *hits is a deep copy of the term's. */
int tree_view_term_places(struct tree *t, struct node *term, bool want_screen,
			  int64_t want_study, bool all, uint64_t deadline,
			  struct tree_place **out, size_t *nout,
			  struct api_hit **hits_out, size_t *nhits_out)
{
	struct api_hit *hits = NULL;
	struct tree_place *p = NULL;
	size_t n = 0, np = 0;
	int rc = tree_ensure_listed(t, term, deadline);

	if (rc < 0)
		return rc;
	/* copies: the term may be relisted while the lock is dropped */
	hits = calloc(term->view->nhits + 1, sizeof(*hits));
	p = calloc(term->view->nhits + 1, sizeof(*p));
	if (!hits || !p)
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < term->view->nhits; i++) {
		const struct api_hit *h = &term->view->hits[i];
		bool screen = h->screen_id > 0;
		int64_t study = screen ? h->screen_id : h->project_id;

		if (!all && (screen != want_screen || study != want_study))
			continue;
		hits[n] = *h;
		hits[n].name = h->name ? strdup(h->name) : NULL;
		hits[n].kvs = NULL;
		hits[n].nkvs = 0;
		if (h->nkvs > 0) {
			hits[n].kvs = calloc(h->nkvs, sizeof(*h->kvs));
			for (size_t k = 0; hits[n].kvs && k < h->nkvs; k++) {
				hits[n].kvs[k].key = strdup(h->kvs[k].key);
				hits[n].kvs[k].value = strdup(h->kvs[k].value);
				hits[n].nkvs++;
				if (!hits[n].kvs[k].key ||
				    !hits[n].kvs[k].value)
					rc = -ENOMEM;
			}
			if (!hits[n].kvs)
				rc = -ENOMEM;
		}
		n++;
		if (h->name && !hits[n - 1].name)
			rc = -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		p[np++] = (struct tree_place){
			.id = hits[i].id,
			.name = hits[i].name,
			.screen = hits[i].screen_id > 0,
			.study = hits[i].screen_id > 0 ? hits[i].screen_id
						       : hits[i].project_id,
			.container = hits[i].screen_id > 0 ? hits[i].plate_id
							   : hits[i].dataset_id,
			.hit = i,
		};
	}
	if (rc == 0)
		rc = resolve_places(t, p, np, deadline);
	if (rc < 0) {
		tree_view_places_free(p, np);
		api_hits_free(hits, n);
		return rc;
	}
	*out = p;
	*nout = np;
	*hits_out = hits;
	*nhits_out = n;
	return 0;
}

static int list_study(struct tree *t, struct node *dir, uint64_t deadline)
{
	struct node *term = dir->view->owner;
	struct api_hit *hits = NULL;
	struct tree_place *p = NULL;
	struct vchild *c = NULL;
	size_t nh = 0, np = 0, nc = 0;
	int rc;

	rc = tree_view_term_places(t, term, dir->view->screen, dir->view->study,
				   false, deadline, &p, &np, &hits, &nh);
	if (rc < 0)
		return rc;
	c = calloc(np + 1, sizeof(*c));
	if (!c)
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < np; i++) {
		const char *ext = p[i].rendered ? ".rendered.tif" : ".tif";
		char base[TREE_NAME_MAX + 1], salt[32];

		if (!p[i].path)
			continue;
		if (p[i].name)
			tree_sanitize_name(p[i].name, base,
					   TREE_NAME_MAX - strlen(ext) -
						   TREE_SUFFIX_RESERVE);
		else
			snprintf(base, sizeof(base), "image-%" PRId64, p[i].id);
		snprintf(c[nc].name, sizeof(c[nc].name), "%s", base);
		c[nc].ext = ext;
		c[nc].kind = TREE_K_LINK;
		c[nc].uniq = p[i].id;
		snprintf(salt, sizeof(salt), "%" PRId64, p[i].id);
		c[nc].ino = tree_view_ino(TREE_K_LINK, dir->ino, salt);
		c[nc].order = c[nc].ino;
		/* by-<menu>/<term>/<study>/: three levels below the root */
		if (asprintf(&c[nc].target, "../../../%s", p[i].path) < 0) {
			c[nc].target = NULL;
			rc = -ENOMEM;
		}
		nc++;
	}
	if (rc == 0)
		rc = vchildren_unique(c, nc, TREE_K_TSTUDY);
	if (rc == 0)
		rc = vinstall(t, dir, c, nc);
	vchildren_free(c, nc);
	tree_view_places_free(p, np);
	api_hits_free(hits, nh);
	return rc;
}

int tree_view_list(struct tree *t, struct node *dir, uint64_t deadline)
{
	if (!t->search || !tree_view_of(dir))
		return t->search ? -ENOMEM : -ENOENT;
	switch (dir->kind) {
	case TREE_K_MENU:
		return list_menu(t, dir, deadline);
	case TREE_K_TERM:
		return list_term(t, dir, deadline);
	case TREE_K_TSTUDY:
		return list_study(t, dir, deadline);
	default:
		return -ENOTDIR;
	}
}

/* ---- the root and lookups on demand ---- */

/* Add an entry to dir's listing (kept sorted). */
static int add_ent(struct node *dir, const char *name, struct node *n)
{
	struct ent *e = realloc(dir->ents, (dir->nents + 1) * sizeof(*e));

	if (!e)
		return -ENOMEM;
	dir->ents = e;
	e[dir->nents].name = strdup(name);
	e[dir->nents].node = n;
	if (!e[dir->nents].name)
		return -ENOMEM;
	n->up = dir;
	dir->nents++;
	if (dir->nents > 0)
		qsort(dir->ents, dir->nents, sizeof(*e), tree_ent_cmp);
	return 0;
}

int tree_view_root(struct tree *t, struct node *root, uint64_t deadline)
{
	unsigned mask = 0;
	int rc;

	if (!t->search || t->menus_added)
		return 0;
	/* one detection at a time; the others wait for its outcome */
	while (root->loading) {
		rc = tree_wait(t, deadline);
		if (rc < 0)
			return rc;
	}
	if (t->menus_added)
		return 0;
	root->loading = true;
	pthread_mutex_unlock(&t->lock);
	rc = search_detect(t->search, deadline, &mask);
	pthread_mutex_lock(&t->lock);
	root->loading = false;
	pthread_cond_broadcast(&t->load_cond);
	/* not known (now, or since the last failure, within its backoff):
	 * a failure, never "there is none"; logged by search */
	if (rc < 0)
		return rc == -EAGAIN || rc == -ENOENT ? -EIO : rc;
	if (t->menus_added)
		return 0;
	for (unsigned m = 0; m < SEARCH_NMENUS; m++) {
		struct node *n;

		if (!(mask & (1u << m)))
			continue;
		n = tree_node_get(t, TREE_K_MENU, TREE_INO(TREE_K_MENU, m), m);
		if (!n || !tree_view_of(n) ||
		    add_ent(root, search_menu_dir(m), n)) {
			log_error(LOG_C_TREE,
				  "cannot add \"/%s\": out of memory",
				  search_menu_dir(m));
			continue;
		}
		n->view->menu = m;
	}
	t->menus_added = true;
	return 0;
}

/* A term looked up by name: "<label> [<accession>]" or the value. */
static int lookup_term(struct tree *t, struct node *menu, const char *name,
		       uint64_t deadline, struct node **out)
{
	struct view *mv = menu->view;
	struct search_term term = {0};
	char *value = strdup(name), *want_label = NULL;
	struct ent key = {.name = (char *)name};
	struct ent *e;
	struct node *n;
	int rc;

	if (!value)
		return -ENOMEM;
	if (search_menu_labelled(mv->menu)) {
		char *open = strstr(value, " [");
		size_t l = strlen(value);

		while (open && strstr(open + 2, " ["))
			open = strstr(open + 2, " [");
		if (open && l > 0 && value[l - 1] == ']') {
			value[l - 1] = '\0';
			*open = '\0';
			want_label = value;
			value = strdup(open + 2);
			if (!value) {
				free(want_label);
				return -ENOMEM;
			}
		}
	}
	pthread_mutex_unlock(&t->lock);
	rc = search_term_find(t->search, mv->menu, value, deadline, &term);
	pthread_mutex_lock(&t->lock);
	if (rc == 0 && want_label &&
	    (!term.label || strcasecmp(term.label, want_label) != 0))
		rc = -ENOENT; /* the accession, but not that label */
	free(value);
	free(want_label);
	if (rc < 0) {
		search_term_release(&term);
		return rc;
	}
	/* another thread may have found it meanwhile */
	e = mv->nfound ? bsearch(&key, mv->found, mv->nfound, sizeof(*e),
				 tree_ent_cmp)
		       : NULL;
	if (e) {
		search_term_release(&term);
		*out = e->node;
		return 0;
	}
	n = tree_node_get(t, TREE_K_TERM,
			  tree_view_ino(TREE_K_TERM, menu->ino, name), 0);
	if (!n || !tree_view_of(n)) {
		search_term_release(&term);
		return -ENOMEM;
	}
	n->id = (int64_t)(n->ino & TREE_ID_MAX);
	n->view->menu = mv->menu;
	free(n->view->value);
	free(n->view->label);
	n->view->value = term.value;
	n->view->label = term.label;
	e = realloc(mv->found, (mv->nfound + 1) * sizeof(*e));
	if (!e)
		return -ENOMEM;
	mv->found = e;
	e[mv->nfound].name = strdup(name);
	e[mv->nfound].node = n;
	if (!e[mv->nfound].name)
		return -ENOMEM;
	n->up = menu;
	mv->nfound++;
	if (mv->nfound > 0)
		qsort(mv->found, mv->nfound, sizeof(*e), tree_ent_cmp);
	*out = n;
	return 0;
}

int tree_view_lookup(struct tree *t, struct node *dir, const char *name,
		     uint64_t deadline, struct node **out)
{
	struct ent key = {.name = (char *)name};
	struct ent *e;

	if (dir->kind == TREE_K_ROOT) {
		bool menu = false;
		int rc;

		for (unsigned m = 0; m < SEARCH_NMENUS && !menu; m++)
			menu = strcmp(name, search_menu_dir(m)) == 0;
		/* the root's listing had it if detection found it */
		if (!t->search || !menu || t->menus_added)
			return -ENOENT;
		/* not known yet: detect, and if that fails, say so (EIO),
		 * never "no such menu" */
		rc = tree_view_root(t, dir, deadline);
		if (rc < 0)
			return rc;
		e = dir->nents ? bsearch(&key, dir->ents, dir->nents,
					 sizeof(*e), tree_ent_cmp)
			       : NULL;
		if (!e)
			return -ENOENT;
		*out = e->node;
		return 0;
	}
	if (dir->kind != TREE_K_MENU || !dir->view || !t->search)
		return -ENOENT;
	e = dir->view->nfound
		    ? bsearch(&key, dir->view->found, dir->view->nfound,
			      sizeof(*e), tree_ent_cmp)
		    : NULL;
	if (e) {
		*out = e->node;
		return 0;
	}
	return lookup_term(t, dir, name, deadline, out);
}
