/* SPDX-License-Identifier: MIT */
/*
 * tree_views: what the user browses. The root; projects/ and screens/,
 * whose directories are the archive's listings (tree_archive.c) with the
 * generated files of each container added (tree_gen.c); and the by-*
 * menus: a menu lists the terms the search module finds, a term lists
 * the studies its images are in (and images.tsv), a study lists relative
 * symlinks to its images' canonical paths. A term the menu does not list
 * is found on lookup, like autofs.
 *
 * A symlink names exactly what projects/ and screens/ show because it is
 * made from arch_locate(), which reads the names from those listings.
 * That costs a request per container (and per well of a screen image),
 * never one per image.
 *
 * Inode numbers of view nodes hash what they are (menu + term name, term
 * + study, study + image), so they are the same after a remount.
 *
 * State that changes (which menus exist, a term's hits, terms found by
 * lookup) is under t->view_lock, never held across a request.
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

#define TERM_ACC_MAX 100u

/* A term's images as the search found them: immutable, shared. */
struct hits {
	atomic_uint refs;
	size_t n;
	struct api_hit *v;
};

struct found {
	char *name;
	struct node *node;
};

struct menu {
	unsigned menu;
	/* t->view_lock: terms found by lookup only, sorted by name */
	struct found *found;
	size_t nfound;
};

struct term {
	unsigned menu;
	char *value; /* the value queried */
	char *label; /* its label, or NULL */
	/* t->view_lock: its images, from its last listing */
	struct hits *hits;
};

struct tstudy {
	struct node *term;
	bool screen;
	int64_t study;
};

struct link {
	char *target;
};

/* ---- kind data ---- */

static void hits_put(struct hits *h)
{
	if (!h || atomic_fetch_sub(&h->refs, 1) != 1)
		return;
	api_hits_free(h->v, h->n);
	free(h);
}

static void menu_free(void *data)
{
	struct menu *m = data;

	for (size_t i = 0; i < m->nfound; i++)
		free(m->found[i].name);
	free(m->found);
	free(m);
}

static void term_free(void *data)
{
	struct term *tm = data;

	free(tm->value);
	free(tm->label);
	hits_put(tm->hits);
	free(tm);
}

static void plain_free(void *data)
{
	free(data);
}

static void link_free(void *data)
{
	struct link *l = data;

	free(l->target);
	free(l);
}

/* ---- the root ---- */

/* Detect the search backend (search retries a failure after a while).
 * @return 0 once known, else the error (never -ENOENT) */
static int detect(struct tree *t, uint64_t deadline, unsigned *mask)
{
	unsigned m = 0;
	bool known;
	int rc;

	pthread_mutex_lock(&t->view_lock);
	known = t->menus_known;
	m = t->menu_mask;
	pthread_mutex_unlock(&t->view_lock);
	if (!known) {
		rc = search_detect(t->search, deadline, &m);
		if (rc < 0)
			return rc == -ENOENT ? -EIO : rc;
		pthread_mutex_lock(&t->view_lock);
		t->menus_known = true;
		t->menu_mask = m;
		pthread_mutex_unlock(&t->view_lock);
	}
	*mask = m;
	return 0;
}

static int add_menu(struct tree_build *b, unsigned m)
{
	struct menu *md = calloc(1, sizeof(*md));
	char *name = strdup(search_menu_dir(m));

	if (!md) {
		free(name);
		return -ENOMEM;
	}
	md->menu = m;
	return tree_build_add(b, TREE_K_MENU, TREE_INO(TREE_K_MENU, m), name, 0,
			      md);
}

static int add_top(struct tree_build *b, bool screen)
{
	struct arch *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	return tree_build_add(b, screen ? TREE_K_SCREENS : TREE_K_PROJECTS,
			      screen ? TREE_SCREENS_INO : TREE_PROJECTS_INO,
			      strdup(screen ? "screens" : "projects"), 0, a);
}

/* The root's fixed entries: no request. */
static int root_fixed(struct tree *t, struct tree_build *b)
{
	int rc = gen_add_root_files(t, b);

	if (rc == 0)
		rc = add_top(b, false);
	if (rc == 0)
		rc = add_top(b, true);
	if (rc == 0)
		rc = orig_add_root(t, b);
	if (rc == 0)
		rc = orig_add_zarr_root(t, b);
	return rc;
}

static int root_list(struct tree *t, struct node *dir, uint64_t deadline,
		     struct tree_build *b)
{
	unsigned mask = 0;
	int rc = root_fixed(t, b);

	(void)dir;
	if (rc < 0)
		return rc;
	b->ttl_ms = TREE_TTL_NEVER;
	if (!t->search)
		return 0;
	if (detect(t, deadline, &mask) < 0) {
		/* logged by search; the root works without them, and is
		 * listed again at the next access, so they appear */
		b->ttl_ms = TREE_TTL_NOW;
		return 0;
	}
	for (unsigned m = 0; rc == 0 && m < SEARCH_NMENUS; m++) {
		if (mask & (1u << m))
			rc = add_menu(b, m);
	}
	return rc;
}

/* The fixed entries without listing the root (which detects the search
 * backend: a request). */
static int root_find(struct tree *t, struct node *dir, const char *name,
		     uint64_t deadline, struct node **out)
{
	struct tree_build b = {0};
	int rc = root_fixed(t, &b);

	(void)deadline;
	*out = NULL;
	for (size_t i = 0; rc == 0 && i < b.n; i++) {
		if (strcmp(b.v[i].name, name) != 0)
			continue;
		rc = tree_node_make(t, b.v[i].kind, b.v[i].ino, b.v[i].data,
				    dir, name, out);
		b.v[i].data = NULL;
		if (rc == 0)
			tree_node_set_size(t, *out, b.v[i].size);
		break;
	}
	tree_build_release(&b);
	if (rc == 0 && !*out)
		rc = -ENOENT;
	return rc;
}

/* by-<menu> before the root lists it (or while detection fails). */
static int root_lookup(struct tree *t, struct node *dir, const char *name,
		       uint64_t deadline, struct node **out)
{
	unsigned mask = 0;
	int rc;

	bool menu = false;

	for (unsigned m = 0; m < SEARCH_NMENUS && !menu; m++)
		menu = strcmp(search_menu_dir(m), name) == 0;
	if (!t->search || !menu)
		return -ENOENT; /* no menu has that name, whatever the remote */
	rc = detect(t, deadline, &mask);
	if (rc < 0)
		return -EIO; /* a failure, never "no such menu" */
	for (unsigned m = 0; m < SEARCH_NMENUS; m++) {
		struct menu *md;

		if (!(mask & (1u << m)) || strcmp(search_menu_dir(m), name))
			continue;
		md = calloc(1, sizeof(*md));
		if (!md)
			return -ENOMEM;
		md->menu = m;
		return tree_node_make(t, TREE_K_MENU, TREE_INO(TREE_K_MENU, m),
				      md, dir, name, out);
	}
	return -ENOENT;
}

const struct tree_ops tree_root_ops = {
	.type = TREE_T_DIR,
	.list = root_list,
	.find = root_find,
	.lookup = root_lookup,
};

/* ---- projects/, screens/ and their containers ---- */

static int top_list(struct tree *t, struct node *dir, uint64_t deadline,
		    struct tree_build *b)
{
	return arch_list(t, dir, NULL, deadline, b);
}

const struct tree_ops tree_top_ops = {
	.type = TREE_T_DIR,
	.list = top_list,
	.free = arch_free,
};

static const char *const study_files[] = {TREE_TSV_NAME, TREE_STUDY_NAME, NULL};
static const char *const container_files[] = {TREE_TSV_NAME, NULL};
static const char *const no_files[] = {NULL};

/* The generated files of a container kind. */
static const char *const *files_of(enum tree_kind kind)
{
	switch (kind) {
	case TREE_K_PROJECT:
	case TREE_K_SCREEN:
		return study_files;
	case TREE_K_DATASET:
	case TREE_K_PLATE:
		return container_files;
	default:
		return no_files;
	}
}

static int container_list(struct tree *t, struct node *dir, uint64_t deadline,
			  struct tree_build *b)
{
	const char *const *files = files_of(dir->kind);
	int rc = arch_list(t, dir, files, deadline, b);

	for (size_t i = 0; rc == 0 && files[i]; i++)
		rc = gen_add_file(t, dir, files[i], NULL, b);
	return rc;
}

/* images.tsv and study.txt are always theirs: no listing needed */
static int container_find(struct tree *t, struct node *dir, const char *name,
			  uint64_t deadline, struct node **out)
{
	const char *const *files = files_of(dir->kind);

	(void)deadline;
	for (size_t i = 0; files[i]; i++) {
		if (strcmp(name, files[i]) == 0)
			return gen_file_node(t, dir, files[i], NULL, out);
	}
	return -ENOENT;
}

const struct tree_ops tree_container_ops = {
	.type = TREE_T_DIR,
	.list = container_list,
	.find = container_find,
	.xattrs = arch_xattrs,
	.free = arch_free,
};

/* ---- menus ---- */

static uint32_t hash32(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* "<label> (<accession>)", or the value, made safe. */
static void term_stem(const char *value, const char *label, char *out)
{
	char acc[TERM_ACC_MAX + 1];
	size_t al, ll;

	if (!label || !*label) {
		tree_object_stem(value, false, out);
		return;
	}
	al = tree_sanitize_name(value, acc, TERM_ACC_MAX);
	ll = tree_object_stem(label, false, out);
	if (ll > TREE_STEM_MAX - al - 3)
		ll = TREE_STEM_MAX - al - 3;
	while (ll > 0 && ((unsigned char)out[ll] & 0xc0) == 0x80)
		ll--;
	snprintf(out + ll, TREE_NAME_MAX + 1 - ll, " (%s)", acc);
}

static struct term *term_new(unsigned menu, char **value, char **label)
{
	struct term *tm = calloc(1, sizeof(*tm));

	if (!tm)
		return NULL;
	tm->menu = menu;
	tm->value = *value;
	tm->label = *label;
	*value = NULL;
	*label = NULL;
	return tm;
}

static int menu_list(struct tree *t, struct node *dir, uint64_t deadline,
		     struct tree_build *b)
{
	const struct menu *md = dir->data;
	struct search_term *terms = NULL;
	struct tree_name *names = NULL;
	size_t n = 0;
	int rc = search_terms(t->search, md->menu, deadline, &terms, &n);

	if (rc == 0) {
		names = calloc(n + 1, sizeof(*names));
		rc = names ? 0 : -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		term_stem(terms[i].value, terms[i].label, names[i].stem);
		names[i].ext = "";
		names[i].id = hash32(terms[i].value);
	}
	if (rc == 0)
		tree_names_unique(names, n, NULL);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct term *tm;
		char *name;

		if (names[i].dropped)
			continue;
		tm = term_new(md->menu, &terms[i].value, &terms[i].label);
		name = strdup(names[i].stem);
		rc = tree_build_add(b, TREE_K_TERM,
				    tree_hash_ino(TREE_K_TERM, dir->ino,
						  names[i].stem,
						  strlen(names[i].stem)),
				    name, (uint16_t)strlen(names[i].stem), tm);
		if (rc == 0 && !tm)
			rc = -ENOMEM;
	}
	free(names);
	search_terms_free(terms, n);
	return rc;
}

static int found_cmp(const void *a, const void *b)
{
	return strcmp(((const struct found *)a)->name,
		      ((const struct found *)b)->name);
}

static struct node *found_get(struct tree *t, struct menu *md, const char *name)
{
	struct found key = {.name = (char *)name}, *f;
	struct node *n = NULL;

	pthread_mutex_lock(&t->view_lock);
	f = md->nfound ? bsearch(&key, md->found, md->nfound, sizeof(key),
				 found_cmp)
		       : NULL;
	if (f)
		n = f->node;
	pthread_mutex_unlock(&t->view_lock);
	return n;
}

static int found_add(struct tree *t, struct menu *md, const char *name,
		     struct node *n)
{
	struct found *v;
	char *nm = strdup(name);
	int rc = 0;

	if (!nm)
		return -ENOMEM;
	pthread_mutex_lock(&t->view_lock);
	v = realloc(md->found, (md->nfound + 1) * sizeof(*v));
	if (v) {
		md->found = v;
		v[md->nfound++] = (struct found){nm, n};
		qsort(md->found, md->nfound, sizeof(*v), found_cmp);
	} else {
		free(nm);
		rc = -ENOMEM;
	}
	pthread_mutex_unlock(&t->view_lock);
	return rc;
}

/* "<label> (<accession>)": the accession, and the label it must have. */
static int split_label(const char *name, char **value, char **label)
{
	const char *open = strrchr(name, '(');
	size_t l = strlen(name);

	*label = NULL;
	if (open && open > name + 1 && open[-1] == ' ' && l > 0 &&
	    name[l - 1] == ')' && open + 1 < name + l - 1) {
		*value = strndup(open + 1, (size_t)(name + l - 1 - open - 1));
		*label = strndup(name, (size_t)(open - 1 - name));
		if (!*value || !*label) {
			free(*value);
			free(*label);
			return -ENOMEM;
		}
		return 0;
	}
	*value = strdup(name);
	return *value ? 0 : -ENOMEM;
}

/* A term looked up by name: "<label> (<accession>)" or the value. */
static int menu_lookup(struct tree *t, struct node *dir, const char *name,
		       uint64_t deadline, struct node **out)
{
	struct menu *md = dir->data;
	struct search_term term = {0};
	char *value = NULL, *want = NULL, *label = NULL;
	struct term *tm;
	struct node *n = found_get(t, md, name);
	int rc;

	if (n) {
		*out = n;
		return 0;
	}
	if (search_menu_labelled(md->menu))
		rc = split_label(name, &value, &want);
	else
		rc = (value = strdup(name)) ? 0 : -ENOMEM;
	if (rc < 0)
		return rc;
	rc = search_term_find(t->search, md->menu, value, deadline, &term);
	if (rc == 0 && want &&
	    (!term.label || strcasecmp(term.label, want) != 0))
		rc = -ENOENT; /* the accession, but not that label */
	free(value);
	free(want);
	if (rc < 0) {
		search_term_release(&term);
		return rc; /* -ENOENT only when nothing has it */
	}
	value = term.value;
	label = term.label;
	tm = term_new(md->menu, &value, &label);
	if (!tm) {
		search_term_release(&term);
		return -ENOMEM;
	}
	rc = tree_node_make(
		t, TREE_K_TERM,
		tree_hash_ino(TREE_K_TERM, dir->ino, name, strlen(name)), tm,
		dir, name, &n);
	if (rc == 0 && !found_get(t, md, name))
		rc = found_add(t, md, name, n);
	if (rc == 0)
		*out = n;
	return rc;
}

const struct tree_ops tree_menu_ops = {
	.type = TREE_T_DIR,
	.list = menu_list,
	.lookup = menu_lookup,
	.free = menu_free,
};

/* ---- terms ---- */

static bool hit_screen(const struct api_hit *h)
{
	return h->screen_id > 0;
}

static int64_t hit_study(const struct api_hit *h)
{
	return hit_screen(h) ? h->screen_id : h->project_id;
}

static void hit_where(const struct api_hit *h, struct arch_where *w)
{
	*w = (struct arch_where){
		.screen = hit_screen(h),
		.study = hit_study(h),
		.container = hit_screen(h) ? h->plate_id : h->dataset_id,
		.well = hit_screen(h) ? h->well_id : 0,
		.image = h->id,
	};
}

/* The term's images (a reference), listing the term if needed. */
static int term_hits(struct tree *t, struct node *term, uint64_t deadline,
		     struct hits **out)
{
	struct term *tm = term->data;
	struct tree_listing *l = NULL;
	int rc = tree_listed(t, term, deadline, &l);

	tree_listing_put(l);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&t->view_lock);
	*out = tm->hits;
	if (*out)
		atomic_fetch_add(&(*out)->refs, 1);
	pthread_mutex_unlock(&t->view_lock);
	return *out ? 0 : -EIO;
}

/* Rows of a term's images.tsv: its images where projects/ has them. */
static int term_rows(struct tree *t, struct node *term, uint64_t deadline,
		     struct gen_rows *out)
{
	struct hits *h = NULL;
	struct arch_where *w = NULL;
	struct arch_place *p = NULL;
	int rc = term_hits(t, term, deadline, &h);

	if (rc == 0) {
		w = calloc(h->n + 1, sizeof(*w));
		rc = w ? 0 : -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < h->n; i++)
		hit_where(&h->v[i], &w[i]);
	if (rc == 0)
		rc = arch_locate(t, w, h->n, deadline, &p);
	for (size_t i = 0; rc == 0 && i < h->n; i++) {
		struct arch_kvset *kvs = NULL;
		const struct api_hit *hit = &h->v[i];

		if (!p[i].path)
			continue;
		/* the search engine's key/values: no annotation request */
		if (hit->has_kvs) {
			kvs = calloc(1, sizeof(*kvs));
			if (kvs)
				kvs->kvs = calloc(hit->nkvs + 1,
						  sizeof(*kvs->kvs));
			if (!kvs || !kvs->kvs) {
				free(kvs);
				rc = -ENOMEM;
				break;
			}
			atomic_init(&kvs->refs, 1);
			for (size_t k = 0; k < hit->nkvs && k < TREE_KV_MAX;
			     k++) {
				kvs->kvs[k].key = strdup(hit->kvs[k].key);
				kvs->kvs[k].value = strdup(hit->kvs[k].value);
				kvs->n++;
				if (!kvs->kvs[k].key || !kvs->kvs[k].value)
					rc = -ENOMEM;
			}
		}
		if (rc == 0)
			rc = gen_rows_add(out, p[i].path, p[i].node, kvs);
		else
			arch_kvset_put(kvs);
		p[i].path = NULL;
	}
	arch_places_free(p, h ? h->n : 0);
	free(w);
	hits_put(h);
	return rc;
}

static int term_list(struct tree *t, struct node *dir, uint64_t deadline,
		     struct tree_build *b)
{
	struct term *tm = dir->data;
	struct api_hit *v = NULL;
	struct tree_name *names = NULL;
	struct tstudy **data = NULL;
	struct hits *h = NULL;
	size_t n = 0, ns = 0;
	int rc =
		search_images(t->search, tm->menu, tm->value, deadline, &v, &n);

	if (rc == 0) {
		names = calloc(n + 1, sizeof(*names));
		data = calloc(n + 1, sizeof(*data));
		h = calloc(1, sizeof(*h));
		rc = names && data && h ? 0 : -ENOMEM;
	}
	/* one directory per study, named as projects/ or screens/ does */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		bool screen = hit_screen(&v[i]), seen = false;
		int64_t study = hit_study(&v[i]);
		struct node *sn;

		for (size_t j = 0; j < ns && !seen; j++)
			seen = data[j]->screen == screen &&
			       data[j]->study == study;
		if (seen || study <= 0)
			continue;
		rc = arch_study_name(t, screen, study, deadline, names[ns].stem,
				     sizeof(names[ns].stem), &sn);
		if (rc == -ENOENT) {
			log_warn(LOG_C_TREE,
				 "%s %" PRId64 " of image %" PRId64
				 " is not listed; its images are left out "
				 "of %s",
				 screen ? "screen" : "project", study, v[i].id,
				 search_menu_dir(tm->menu));
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
		data[ns] = calloc(1, sizeof(**data));
		if (!data[ns]) {
			rc = -ENOMEM;
			break;
		}
		*data[ns] = (struct tstudy){dir, screen, study};
		names[ns].ext = "";
		names[ns].id = study;
		ns++;
	}
	if (rc == 0)
		tree_names_unique(names, ns,
				  (const char *const[]){TREE_TSV_NAME, NULL});
	for (size_t i = 0; rc == 0 && i < ns; i++) {
		char salt[32];

		if (names[i].dropped)
			continue;
		snprintf(salt, sizeof(salt), "%c%" PRId64,
			 data[i]->screen ? 's' : 'p', data[i]->study);
		rc = tree_build_add(b, TREE_K_TSTUDY,
				    tree_hash_ino(TREE_K_TSTUDY, dir->ino, salt,
						  strlen(salt)),
				    strdup(names[i].stem),
				    (uint16_t)strlen(names[i].stem), data[i]);
		data[i] = NULL;
	}
	if (rc == 0)
		rc = gen_add_file(t, dir, TREE_TSV_NAME, term_rows, b);
	if (rc == 0) {
		struct hits *old;

		atomic_init(&h->refs, 1);
		h->v = v;
		h->n = n;
		v = NULL;
		pthread_mutex_lock(&t->view_lock);
		old = tm->hits;
		tm->hits = h;
		pthread_mutex_unlock(&t->view_lock);
		h = NULL;
		hits_put(old);
	}
	for (size_t i = 0; data && i < ns; i++)
		free(data[i]);
	free(data);
	free(names);
	free(h);
	api_hits_free(v, n);
	return rc;
}

static int term_find(struct tree *t, struct node *dir, const char *name,
		     uint64_t deadline, struct node **out)
{
	(void)deadline;
	if (strcmp(name, TREE_TSV_NAME) != 0)
		return -ENOENT;
	return gen_file_node(t, dir, TREE_TSV_NAME, term_rows, out);
}

const struct tree_ops tree_term_ops = {
	.type = TREE_T_DIR,
	.list = term_list,
	.find = term_find,
	.free = term_free,
};

/* ---- a term's study: symlinks ---- */

static int tstudy_list(struct tree *t, struct node *dir, uint64_t deadline,
		       struct tree_build *b)
{
	const struct tstudy *st = dir->data;
	struct hits *h = NULL;
	struct arch_where *w = NULL;
	struct arch_place *p = NULL;
	struct tree_name *names = NULL;
	size_t n = 0;
	int rc = term_hits(t, st->term, deadline, &h);

	if (rc == 0) {
		w = calloc(h->n + 1, sizeof(*w));
		rc = w ? 0 : -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < h->n; i++) {
		if (hit_screen(&h->v[i]) == st->screen &&
		    hit_study(&h->v[i]) == st->study)
			hit_where(&h->v[i], &w[n++]);
	}
	if (rc == 0)
		rc = arch_locate(t, w, n, deadline, &p);
	if (rc == 0) {
		names = calloc(n + 1, sizeof(*names));
		rc = names ? 0 : -ENOMEM;
	}
	/* a link is named by its image's stem, with the target's extension */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct arch_image *im =
			p[i].node ? p[i].node->data : NULL;

		if (!p[i].path || !im)
			continue;
		tree_object_stem(im->img.name, true, names[i].stem);
		names[i].ext = arch_image_ext(im);
		names[i].id = w[i].image;
	}
	for (size_t i = 0; rc == 0 && i < n; i++)
		names[i].dropped = !p[i].path || !p[i].node || !p[i].node->data;
	if (rc == 0)
		tree_names_unique(names, n, NULL);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct link *lk;
		char salt[32], *name = NULL;

		if (names[i].dropped)
			continue;
		lk = calloc(1, sizeof(*lk));
		/* by-<menu>/<term>/<study>/: three levels below the root */
		if (lk && asprintf(&lk->target, "../../../%s", p[i].path) < 0)
			lk->target = NULL;
		if (!lk || !lk->target) {
			free(lk);
			rc = -ENOMEM;
			break;
		}
		snprintf(salt, sizeof(salt), "%" PRId64, w[i].image);
		if (asprintf(&name, "%s%s", names[i].stem, names[i].ext) < 0)
			name = NULL;
		rc = tree_build_add(b, TREE_K_LINK,
				    tree_hash_ino(TREE_K_LINK, dir->ino, salt,
						  strlen(salt)),
				    name, (uint16_t)strlen(names[i].stem), lk);
		if (rc == 0)
			tree_build_last(b)->size = strlen(lk->target);
	}
	free(names);
	arch_places_free(p, n);
	free(w);
	hits_put(h);
	return rc;
}

const struct tree_ops tree_tstudy_ops = {
	.type = TREE_T_DIR,
	.list = tstudy_list,
	.free = plain_free,
};

static int link_readlink(struct tree *t, struct node *n, char **out)
{
	const struct link *lk = n->data;

	(void)t;
	if (!lk || !lk->target)
		return -EINVAL;
	*out = strdup(lk->target);
	return *out ? 0 : -ENOMEM;
}

const struct tree_ops tree_link_ops = {
	.type = TREE_T_LINK,
	.readlink = link_readlink,
	.free = link_free,
};
