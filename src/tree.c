/* SPDX-License-Identifier: MIT */
/*
 * tree: the core of the namespace. The inode table, node lifetime,
 * lookup counts, single-flight listings with a TTL, the background job
 * workers, and the public tree_* calls, each of which finds the node and
 * hands the work to its kind (tree_kind_ops()). It knows nothing of the
 * archive, names or the network; the kinds (tree_archive.c, tree_views.c,
 * tree_orig.c, tree_gen.c) know nothing of the table.
 *
 * Inode numbers. An archive object's inode is its kind in the top byte
 * and its archive id below (TREE_INO), so an image keeps its inode across
 * remounts and cache rebuilds, and an image shown in two places is one
 * inode. Other nodes hash what they are (tree_hash_ino). The root and
 * the fixed entries take small numbers.
 *
 * Consistency. A directory's listing is fetched whole by its kind's list
 * op, outside every lock, by the first thread that needs it; others wait
 * (until their deadline) and share the result, an immutable snapshot. A
 * listing older than the TTL is refetched; if that fails, the old one is
 * served and a warning logged with the directory's path. A failing
 * listing is never -ENOENT (the kernel would remember that as a negative
 * entry): it is -EIO. Lookup counts (nlookup) follow the FUSE protocol;
 * nodes are kept until tree_free() so that an inode the kernel still
 * holds always resolves.
 *
 * The lock discipline of the module is written down in tree_int.h.
 */
#include "config.h"

#include "idrfs/tree.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idrfs/http.h"
#include "idrfs/log.h"

#include "tree_int.h"

#define TREE_PATH_MAX	  4096u
#define TREE_DEPTH_MAX	  64u
#define TREE_XATTR_MAX	  65536u
#define TREE_LIST_THREADS 8u
#define XATTR_PREFIX	  "user.idr."
#define XATTR_KV	  "user.idr.kv."

static const struct tree_ops *const kind_table[TREE_K_NKINDS] = {
	[TREE_K_ROOT] = &tree_root_ops,
	[TREE_K_README] = &tree_readme_ops,
	[TREE_K_STATSDIR] = &tree_statsdir_ops,
	[TREE_K_STATS] = &tree_stats_ops,
	[TREE_K_PROJECTS] = &tree_top_ops,
	[TREE_K_SCREENS] = &tree_top_ops,
	[TREE_K_PROJECT] = &tree_container_ops,
	[TREE_K_DATASET] = &tree_container_ops,
	[TREE_K_SCREEN] = &tree_container_ops,
	[TREE_K_PLATE] = &tree_container_ops,
	[TREE_K_WELL] = &tree_container_ops,
	[TREE_K_IMAGE] = &tree_image_ops,
	[TREE_K_OMETIF] = &tree_image_ops,
	[TREE_K_ZARRROOT] = &tree_origroot_ops,
	[TREE_K_ZPROJECTS] = &tree_omirror_ops,
	[TREE_K_ZSCREENS] = &tree_omirror_ops,
	[TREE_K_ZPROJECT] = &tree_omirror_ops,
	[TREE_K_ZDATASET] = &tree_omirror_ops,
	[TREE_K_ZSCREEN] = &tree_omirror_ops,
	[TREE_K_ZPLATE] = &tree_omirror_ops,
	[TREE_K_ZWELL] = &tree_omirror_ops,
	[TREE_K_ZIMAGE] = &tree_zimage_ops,
	[TREE_K_ZDIR] = &tree_zdir_ops,
	[TREE_K_ZFILE] = &tree_zfile_ops,
	[TREE_K_TSV] = &tree_tsv_ops,
	[TREE_K_STUDYTXT] = &tree_study_ops,
	[TREE_K_ORIGROOT] = &tree_origroot_ops,
	[TREE_K_OPROJECTS] = &tree_omirror_ops,
	[TREE_K_OSCREENS] = &tree_omirror_ops,
	[TREE_K_OPROJECT] = &tree_omirror_ops,
	[TREE_K_ODATASET] = &tree_omirror_ops,
	[TREE_K_OSCREEN] = &tree_omirror_ops,
	[TREE_K_OPLATE] = &tree_omirror_ops,
	[TREE_K_OWELL] = &tree_omirror_ops,
	[TREE_K_OIMAGE] = &tree_oimage_ops,
	[TREE_K_OSUB] = &tree_osub_ops,
	[TREE_K_OFILE] = &tree_ofile_ops,
	[TREE_K_MENU] = &tree_menu_ops,
	[TREE_K_TERM] = &tree_term_ops,
	[TREE_K_TSTUDY] = &tree_tstudy_ops,
	[TREE_K_LINK] = &tree_link_ops,
};

const struct tree_ops *tree_kind_ops(enum tree_kind kind)
{
	static const struct tree_ops none = {.type = TREE_T_FILE};

	return (unsigned)kind < TREE_K_NKINDS && kind_table[kind]
		       ? kind_table[kind]
		       : &none;
}

/* ---- small helpers ---- */

uint64_t tree_hash_ino(enum tree_kind kind, uint64_t parent, const char *salt,
		       size_t len)
{
	uint64_t h = 1469598103934665603ull;

	h = (h ^ (uint8_t)kind) * 1099511628211ull;
	for (int i = 0; i < 8; i++)
		h = (h ^ (uint8_t)(parent >> (8 * i))) * 1099511628211ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)salt[i]) * 1099511628211ull;
	return TREE_INO(kind, h & TREE_ID_MAX);
}

static void free_data(enum tree_kind kind, void *data)
{
	const struct tree_ops *ops = tree_kind_ops(kind);

	if (data && ops->free)
		ops->free(data);
}

/* ---- the node table (t->lock held) ---- */

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

/* Find or create a node; a new one has no data, no size, the epoch. */
static struct node *node_get(struct tree *t, enum tree_kind kind, uint64_t ino)
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
	n->mtime = TREE_EPOCH;
	n->sized = tree_kind_ops(kind)->type != TREE_T_FILE ||
		   !tree_kind_ops(kind)->prepare;
	h = ino & (t->nbuckets - 1);
	n->hnext = t->buckets[h];
	t->buckets[h] = n;
	t->nnodes++;
	return n;
}

static void node_place(struct node *n, struct node *parent, const char *name)
{
	char *nn;

	if (!name ||
	    (n->name && n->parent == parent && strcmp(n->name, name) == 0))
		return;
	nn = strdup(name);
	if (!nn)
		return; /* keeps the old place: only paths in logs suffer */
	free(n->name);
	n->name = nn;
	n->parent = parent;
}

struct node *tree_node_find(struct tree *t, uint64_t ino)
{
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = node_find(t, ino);
	pthread_mutex_unlock(&t->lock);
	return n;
}

int tree_node_make(struct tree *t, enum tree_kind kind, uint64_t ino,
		   void *data, struct node *parent, const char *name,
		   struct node **out)
{
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = node_get(t, kind, ino);
	if (n && !n->data) {
		n->data = data;
		data = NULL;
	}
	if (n && !n->parent)
		node_place(n, parent, name);
	pthread_mutex_unlock(&t->lock);
	free_data(kind, data);
	if (!n)
		return -ENOMEM;
	*out = n;
	return 0;
}

void tree_node_set_size(struct tree *t, struct node *n, uint64_t size)
{
	pthread_mutex_lock(&t->lock);
	n->size = size;
	n->sized = true;
	pthread_mutex_unlock(&t->lock);
}

void tree_node_set_mtime(struct tree *t, struct node *n, int64_t mtime)
{
	pthread_mutex_lock(&t->lock);
	n->mtime = mtime;
	pthread_mutex_unlock(&t->lock);
}

void tree_node_get(struct tree *t, const struct node *n, uint64_t *size,
		   int64_t *mtime)
{
	pthread_mutex_lock(&t->lock);
	if (size)
		*size = n->size;
	if (mtime)
		*mtime = n->mtime;
	pthread_mutex_unlock(&t->lock);
}

static void node_attr(const struct node *n, struct tree_attr *a)
{
	const struct tree_ops *ops = tree_kind_ops(n->kind);

	memset(a, 0, sizeof(*a));
	a->ino = n->ino;
	a->is_dir = ops->type == TREE_T_DIR;
	a->is_link = ops->type == TREE_T_LINK;
	a->lazy = !n->sized;
	a->live = ops->live;
	a->nlink = a->is_dir ? 2 : 1;
	a->size = n->size;
	a->mtime = n->mtime;
}

/* Path of a node (t->lock held). */
static int path_locked(const struct node *n, char *out, size_t outsz)
{
	const char *names[TREE_DEPTH_MAX];
	size_t depth = 0, o = 0;

	while (n && n->ino != TREE_ROOT_INO) {
		if (depth == TREE_DEPTH_MAX || !n->name)
			return -ENOENT;
		names[depth++] = n->name;
		n = n->parent;
	}
	if (!n)
		return -ENOENT;
	if (outsz == 0)
		return -ENAMETOOLONG;
	out[0] = '\0';
	while (depth > 0) {
		const char *s = names[--depth];
		size_t l = strlen(s);

		if (l + 2 > outsz - o)
			return -ENAMETOOLONG;
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, s, l + 1);
		o += l;
	}
	return 0;
}

int tree_path(struct tree *t, const struct node *n, char *out, size_t outsz)
{
	int rc;

	pthread_mutex_lock(&t->lock);
	rc = path_locked(n, out, outsz);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

/* A path for a log line: the node's, or what it is. */
static const char *log_path(const struct node *n, char *buf, size_t size)
{
	char raw[TREE_PATH_MAX];

	if (path_locked(n, raw, sizeof(raw)) < 0)
		snprintf(raw, sizeof(raw), "%s", n->name ? n->name : "?");
	return log_escape(raw, buf, size);
}

/* ---- listings ---- */

struct tree_listing *tree_listing_get(struct tree_listing *l)
{
	if (l)
		atomic_fetch_add(&l->refs, 1);
	return l;
}

void tree_listing_put(struct tree_listing *l)
{
	if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->ents[i].name);
	free(l->ents);
	free(l->by_ino);
	free(l);
}

static int ent_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tree_ent *)a)->name,
		      ((const struct tree_ent *)b)->name);
}

const struct tree_ent *tree_listing_find(const struct tree_listing *l,
					 const char *name)
{
	struct tree_ent key = {.name = (char *)name};

	if (!l || l->n == 0)
		return NULL;
	return bsearch(&key, l->ents, l->n, sizeof(key), ent_name_cmp);
}

const struct tree_ent *tree_listing_by_ino(const struct tree_listing *l,
					   uint64_t ino)
{
	size_t lo = 0, hi = l ? l->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t m = l->ents[l->by_ino[mid]].node->ino;

		if (m == ino)
			return &l->ents[l->by_ino[mid]];
		if (m < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int tree_build_add(struct tree_build *b, enum tree_kind kind, uint64_t ino,
		   char *name, uint16_t stem, void *data)
{
	if (!name)
		goto nomem;
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 16;
		struct tree_bent *nv = realloc(b->v, nc * sizeof(*nv));

		if (!nv)
			goto nomem;
		b->v = nv;
		b->cap = nc;
	}
	b->v[b->n++] = (struct tree_bent){
		.kind = kind,
		.ino = ino,
		.name = name,
		.stem = stem,
		.mtime = TREE_EPOCH,
		.sized = true,
		.data = data,
	};
	return 0;
nomem:
	free(name);
	free_data(kind, data);
	return -ENOMEM;
}

struct tree_bent *tree_build_last(struct tree_build *b)
{
	return b->n ? &b->v[b->n - 1] : NULL;
}

void tree_build_release(struct tree_build *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->v[i].name);
		free_data(b->v[i].kind, b->v[i].data);
	}
	free(b->v);
	b->v = NULL;
	b->n = b->cap = 0;
}

static int bent_name_cmp(const void *a, const void *b)
{
	const struct tree_bent *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c == 0)
		c = x->ino < y->ino ? -1 : x->ino > y->ino;
	return c;
}

/* Sorts ents by name; repeated names (a kind's bug) keep the first. */
static void build_sort(struct tree *t, struct node *dir, struct tree_build *b)
{
	size_t w = 0;

	if (b->n > 0)
		qsort(b->v, b->n, sizeof(*b->v), bent_name_cmp);
	for (size_t i = 0; i < b->n; i++) {
		if (w > 0 && strcmp(b->v[w - 1].name, b->v[i].name) == 0) {
			char path[TREE_PATH_MAX], esc[512], pesc[512];

			if (tree_path(t, dir, path, sizeof(path)) < 0)
				snprintf(path, sizeof(path), "?");
			log_warn(LOG_C_TREE,
				 "two entries named \"%s\" in '%s'; one is "
				 "left out",
				 log_escape(b->v[i].name, esc, sizeof(esc)),
				 log_escape(path, pesc, sizeof(pesc)));
			free(b->v[i].name);
			free_data(b->v[i].kind, b->v[i].data);
			continue;
		}
		b->v[w++] = b->v[i];
	}
	b->n = w;
}

static _Thread_local const struct tree_bent *sort_base;

static int by_ino_cmp(const void *a, const void *b)
{
	uint64_t x = sort_base[*(const uint32_t *)a].ino;
	uint64_t y = sort_base[*(const uint32_t *)b].ino;

	return x < y ? -1 : x > y;
}

/* The snapshot of a sorted build (names move into it; no lock held). */
static int listing_new(struct tree_build *b, struct tree_listing **out)
{
	struct tree_listing *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	if (b->n > UINT32_MAX) {
		free(l);
		return -EFBIG;
	}
	l->ents = calloc(b->n ? b->n : 1, sizeof(*l->ents));
	l->by_ino = calloc(b->n ? b->n : 1, sizeof(*l->by_ino));
	if (!l->ents || !l->by_ino) {
		free(l->ents);
		free(l->by_ino);
		free(l);
		return -ENOMEM;
	}
	atomic_init(&l->refs, 1);
	l->n = b->n;
	for (size_t i = 0; i < b->n; i++)
		l->by_ino[i] = (uint32_t)i;
	sort_base = b->v;
	if (b->n > 0)
		qsort(l->by_ino, b->n, sizeof(*l->by_ino), by_ino_cmp);
	l->volatile_ = b->ttl_ms == TREE_TTL_NOW;
	*out = l;
	return 0;
}

/* Make the nodes of a listing and give it its names (t->lock held). */
static int install(struct tree *t, struct node *dir, struct tree_build *b,
		   struct tree_listing *l)
{
	for (size_t i = 0; i < b->n; i++) {
		struct tree_bent *e = &b->v[i];
		struct node *n = node_get(t, e->kind, e->ino);

		if (!n)
			return -ENOMEM;
		if (!n->data) {
			n->data = e->data;
			e->data = NULL;
		}
		node_place(n, dir, e->name);
		if (e->sized || !n->sized) {
			n->size = e->size;
			n->sized = e->sized;
		}
		n->mtime = e->mtime;
		l->ents[i].node = n;
	}
	for (size_t i = 0; i < b->n; i++) {
		l->ents[i].name = b->v[i].name;
		l->ents[i].stem = b->v[i].stem;
		b->v[i].name = NULL;
	}
	return 0;
}

static bool fresh(const struct tree *t, const struct node *d, uint64_t now)
{
	uint64_t ttl = d->ttl_ms == TREE_TTL_DEFAULT ? t->ttl_ms : d->ttl_ms;

	if (!d->list)
		return false;
	if (ttl == TREE_TTL_NEVER || tree_kind_ops(d->kind)->fixed)
		return true;
	return now - d->listed_at < ttl;
}

int tree_listed(struct tree *t, struct node *dir, uint64_t deadline,
		struct tree_listing **out)
{
	const struct tree_ops *ops = tree_kind_ops(dir->kind);
	struct tree_build b = {0};
	struct tree_listing *l = NULL, *old = NULL;
	char esc[TREE_PATH_MAX];
	int rc;

	if (ops->type != TREE_T_DIR || !ops->list)
		return -ENOTDIR;
	pthread_mutex_lock(&t->lock);
	for (;;) {
		if (fresh(t, dir, http_now_ms()))
			goto hit;
		if (!dir->loading)
			break;
		if (http_cond_wait(&t->cond, &t->lock, deadline) < 0) {
			if (dir->list)
				goto hit; /* what we have, rather than nothing
					   */
			pthread_mutex_unlock(&t->lock);
			return -ETIMEDOUT;
		}
	}
	dir->loading = true;
	pthread_mutex_unlock(&t->lock);

	rc = ops->list(t, dir, deadline, &b);
	if (rc == 0) {
		build_sort(t, dir, &b);
		rc = listing_new(&b, &l);
	}

	pthread_mutex_lock(&t->lock);
	if (rc == 0)
		rc = install(t, dir, &b, l);
	if (rc == 0) {
		old = dir->list;
		dir->list = l;
		dir->listed_at = http_now_ms();
		dir->ttl_ms = b.ttl_ms;
		l = NULL;
	} else if (dir->list) {
		log_warn(LOG_C_TREE,
			 "cannot refresh '%s' (%s); serving the listing from "
			 "before",
			 log_path(dir, esc, sizeof(esc)), strerror(-rc));
		rc = 0;
	} else {
		log_warn(LOG_C_TREE, "cannot list '%s': %s",
			 log_path(dir, esc, sizeof(esc)), strerror(-rc));
	}
	dir->loading = false;
	pthread_cond_broadcast(&t->cond);
	if (rc == 0)
		*out = tree_listing_get(dir->list);
	pthread_mutex_unlock(&t->lock);
	tree_listing_put(old);
	if (l) {
		/* not installed: its names are still the build's */
		for (size_t i = 0; i < l->n; i++)
			l->ents[i].name = NULL;
		tree_listing_put(l);
	}
	tree_build_release(&b);
	/* a directory that exists but cannot be listed is a failure */
	return rc == -ENOENT ? -EIO : rc;
hit:
	*out = tree_listing_get(dir->list);
	pthread_mutex_unlock(&t->lock);
	return 0;
}

struct many {
	struct tree *t;
	struct node **dirs;
	size_t n;
	uint64_t deadline;
	atomic_size_t next;
	atomic_int rc;
};

static void *many_worker(void *arg)
{
	struct many *m = arg;

	for (;;) {
		size_t i = atomic_fetch_add(&m->next, 1);
		struct tree_listing *l = NULL;
		int rc, zero = 0;

		if (i >= m->n)
			break;
		rc = tree_listed(m->t, m->dirs[i], m->deadline, &l);
		tree_listing_put(l);
		if (rc < 0)
			atomic_compare_exchange_strong(&m->rc, &zero, rc);
	}
	return NULL;
}

int tree_list_many(struct tree *t, struct node **dirs, size_t n,
		   uint64_t deadline)
{
	struct many m = {.t = t, .dirs = dirs, .n = n, .deadline = deadline};
	pthread_t th[TREE_LIST_THREADS];
	size_t nt = 0, want = n < TREE_LIST_THREADS ? n : TREE_LIST_THREADS;

	atomic_init(&m.next, 0);
	atomic_init(&m.rc, 0);
	/* the first worker is this thread */
	while (nt + 1 < want &&
	       pthread_create(&th[nt], NULL, many_worker, &m) == 0)
		nt++;
	many_worker(&m);
	for (size_t i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
	return atomic_load(&m.rc);
}

/* ---- jobs ---- */

struct tree_job {
	void (*fn)(void *arg);
	void (*cancel)(void *arg);
	void *arg;
	struct tree_job *next;
};

static void *worker(void *arg)
{
	struct tree *t = arg;

	pthread_mutex_lock(&t->lock);
	while (!t->stopping) {
		struct tree_job *j = t->jobs;

		if (!j) {
			/* idle: a timed wait like every other, re-armed */
			http_cond_wait(&t->job_cond, &t->lock,
				       http_now_ms() + 60000u);
			continue;
		}
		t->jobs = j->next;
		if (!t->jobs)
			t->jobs_tail = NULL;
		pthread_mutex_unlock(&t->lock);
		j->fn(j->arg);
		free(j);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

int tree_job_start(struct tree *t, void (*fn)(void *arg),
		   void (*cancel)(void *arg), void *arg)
{
	struct tree_job *j = calloc(1, sizeof(*j));
	int rc = 0;

	if (!j)
		return -ENOMEM;
	*j = (struct tree_job){.fn = fn, .cancel = cancel, .arg = arg};
	pthread_mutex_lock(&t->lock);
	if (t->stopping) {
		rc = -ECANCELED;
	} else {
		while (t->nworkers < TREE_WORKERS &&
		       pthread_create(&t->workers[t->nworkers], NULL, worker,
				      t) == 0)
			t->nworkers++;
		if (t->nworkers == 0)
			rc = -EAGAIN;
	}
	if (rc == 0) {
		if (t->jobs_tail)
			t->jobs_tail->next = j;
		else
			t->jobs = j;
		t->jobs_tail = j;
		pthread_cond_signal(&t->job_cond);
	}
	pthread_mutex_unlock(&t->lock);
	if (rc < 0)
		free(j);
	return rc;
}

static void jobs_stop(struct tree *t)
{
	struct tree_job *j;

	pthread_mutex_lock(&t->lock);
	t->stopping = true;
	pthread_cond_broadcast(&t->job_cond);
	j = t->jobs;
	t->jobs = t->jobs_tail = NULL;
	pthread_mutex_unlock(&t->lock);
	for (unsigned i = 0; i < t->nworkers; i++)
		pthread_join(t->workers[i], NULL);
	while (j) {
		struct tree_job *next = j->next;

		if (j->cancel)
			j->cancel(j->arg);
		free(j);
		j = next;
	}
}

/* ---- extended attributes ---- */

void tree_xattr_add(struct tree_xattrs *x, const char *name, const char *value)
{
	char *n = NULL, *v = NULL;

	if (x->err)
		return;
	if (x->n == x->cap) {
		size_t nc = x->cap ? x->cap * 2 : 16;
		struct tree_xattr *nv = realloc(x->v, nc * sizeof(*nv));

		if (!nv) {
			x->err = -ENOMEM;
			return;
		}
		x->v = nv;
		x->cap = nc;
	}
	n = strdup(name);
	v = strdup(value ? value : "");
	if (!n || !v) {
		free(n);
		free(v);
		x->err = -ENOMEM;
		return;
	}
	x->v[x->n++] = (struct tree_xattr){n, v};
}

void tree_xattr_addf(struct tree_xattrs *x, const char *name, const char *fmt,
		     ...)
{
	char *v = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&v, fmt, ap);
	va_end(ap);
	if (n < 0) {
		x->err = -ENOMEM;
		return;
	}
	tree_xattr_add(x, name, v);
	free(v);
}

void tree_xattrs_release(struct tree_xattrs *x)
{
	for (size_t i = 0; i < x->n; i++) {
		free(x->v[i].name);
		free(x->v[i].value);
	}
	free(x->v);
	memset(x, 0, sizeof(*x));
}

/* ---- public ---- */

int tree_new(struct api *api, const struct tree_config *cfg, struct tree **out)
{
	struct tree *t = calloc(1, sizeof(*t));
	struct node *root;
	int rc = -ENOMEM;

	if (!t)
		return -ENOMEM;
	t->api = api;
	t->pixsrc = cfg->pixsrc;
	t->locate = cfg->locate;
	t->search = cfg->search;
	t->cache = cfg->cache;
	t->ttl_s = cfg->ttl_s;
	t->ttl_ms = (uint64_t)cfg->ttl_s * 1000u;
	t->build_ms =
		(uint64_t)(cfg->build_timeout_s ? cfg->build_timeout_s : 300) *
		1000u;
	t->stats = cfg->stats;
	t->stats_ctx = cfg->stats_ctx;
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->img_lock, NULL);
	pthread_mutex_init(&t->view_lock, NULL);
	http_cond_init(&t->cond);
	http_cond_init(&t->job_cond);
	http_cond_init(&t->img_cond);
	t->originals_root =
		strdup(cfg->originals_root
			       ? cfg->originals_root
			       : "https://ftp.ebi.ac.uk/pub/databases/IDR");
	t->remote_url = strdup(cfg->remote_url ? cfg->remote_url : "");
	t->nbuckets = 1024;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->originals_root || !t->remote_url || !t->buckets)
		goto fail;
	root = node_get(t, TREE_K_ROOT, TREE_ROOT_INO);
	if (!root)
		goto fail;
	root->nlookup = 1;
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
	jobs_stop(t);
	for (size_t i = 0; t->buckets && i < t->nbuckets; i++) {
		struct node *n = t->buckets[i];

		while (n) {
			struct node *next = n->hnext;

			tree_listing_put(n->list);
			free(n->name);
			free_data(n->kind, n->data);
			free(n);
			n = next;
		}
	}
	free(t->buckets);
	free(atomic_load(&t->readme));
	free(t->originals_root);
	free(t->remote_url);
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->img_lock);
	pthread_mutex_destroy(&t->view_lock);
	pthread_cond_destroy(&t->cond);
	pthread_cond_destroy(&t->job_cond);
	pthread_cond_destroy(&t->img_cond);
	free(t);
}

/* The node of an inode and its ops, or -ENOENT. */
static int get_node(struct tree *t, uint64_t ino, struct node **n,
		    const struct tree_ops **ops)
{
	*n = tree_node_find(t, ino);
	if (!*n)
		return -ENOENT;
	*ops = tree_kind_ops((*n)->kind);
	return 0;
}

static void count_and_attr(struct tree *t, struct node *n, bool count,
			   struct tree_attr *out)
{
	pthread_mutex_lock(&t->lock);
	if (count)
		n->nlookup++;
	node_attr(n, out);
	pthread_mutex_unlock(&t->lock);
}

int tree_lookup(struct tree *t, uint64_t parent, const char *name,
		uint64_t deadline, struct tree_attr *out)
{
	const struct tree_ops *ops, *nops;
	struct tree_listing *l = NULL;
	const struct tree_ent *e;
	struct node *d, *n = NULL;
	int rc;

	if (strlen(name) > TREE_NAME_MAX)
		return -ENAMETOOLONG;
	rc = get_node(t, parent, &d, &ops);
	if (rc < 0)
		return rc;
	if (ops->type != TREE_T_DIR)
		return -ENOTDIR;
	rc = ops->find ? ops->find(t, d, name, deadline, &n) : -ENOENT;
	if (rc < 0 && rc != -ENOENT)
		return rc;
	if (!n) {
		rc = tree_listed(t, d, deadline, &l);
		if (rc < 0)
			return rc;
		e = tree_listing_find(l, name);
		if (e)
			n = e->node;
		tree_listing_put(l);
		if (!n && ops->lookup)
			rc = ops->lookup(t, d, name, deadline, &n);
		else if (!n)
			rc = -ENOENT;
		if (rc < 0)
			return rc;
	}
	nops = tree_kind_ops(n->kind);
	if (nops->prepare) {
		rc = nops->prepare(t, n, deadline);
		if (rc < 0)
			return rc;
	}
	count_and_attr(t, n, true, out);
	return 0;
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

int tree_getattr(struct tree *t, uint64_t ino, struct tree_attr *out)
{
	const struct tree_ops *ops;
	struct node *n;
	int rc = get_node(t, ino, &n, &ops);

	if (rc == 0)
		count_and_attr(t, n, false, out);
	return rc;
}

int tree_stat(struct tree *t, uint64_t ino, uint64_t deadline,
	      struct tree_attr *out)
{
	const struct tree_ops *ops;
	struct node *n;
	int rc = get_node(t, ino, &n, &ops);

	if (rc == 0 && ops->prepare)
		rc = ops->prepare(t, n, deadline);
	if (rc == 0)
		count_and_attr(t, n, false, out);
	return rc;
}

int tree_readlink(struct tree *t, uint64_t ino, char **out)
{
	const struct tree_ops *ops;
	struct node *n;
	int rc = get_node(t, ino, &n, &ops);

	if (rc < 0)
		return rc;
	if (ops->type != TREE_T_LINK || !ops->readlink)
		return -EINVAL;
	return ops->readlink(t, n, out);
}

static int xattrs_of(struct tree *t, uint64_t ino, bool with_kv,
		     uint64_t deadline, struct tree_xattrs *x)
{
	const struct tree_ops *ops;
	struct node *n;
	int rc = get_node(t, ino, &n, &ops);

	if (rc == 0 && ops->xattrs)
		rc = ops->xattrs(t, n, with_kv, deadline, x);
	if (rc == 0)
		rc = x->err;
	return rc;
}

static int xattr_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int tree_listxattr(struct tree *t, uint64_t ino, uint64_t deadline, char **out,
		   size_t *len)
{
	struct tree_xattrs x = {0};
	char **names = NULL, *buf = NULL;
	size_t total = 1, o = 0;
	int rc = xattrs_of(t, ino, true, deadline, &x);

	/* sorted, each name once: O(n log n) however many key/values */
	if (rc == 0) {
		names = calloc(x.n + 1, sizeof(*names));
		rc = names ? 0 : -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < x.n; i++) {
		names[i] = x.v[i].name;
		total += strlen(names[i]) + 1;
	}
	if (rc == 0 && x.n > 0)
		qsort(names, x.n, sizeof(*names), xattr_name_cmp);
	if (rc == 0) {
		buf = malloc(total);
		rc = buf ? 0 : -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < x.n; i++) {
		size_t l = strlen(names[i]) + 1;

		if (i > 0 && strcmp(names[i - 1], names[i]) == 0)
			continue;
		/* the kernel takes no more: stop at a whole name */
		if (l > TREE_XATTR_LIST_MAX - o)
			break;
		memcpy(buf + o, names[i], l);
		o += l;
	}
	free(names);
	tree_xattrs_release(&x);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = o;
	return 0;
}

int tree_getxattr(struct tree *t, uint64_t ino, const char *name,
		  uint64_t deadline, char **out, size_t *len)
{
	struct tree_xattrs x = {0};
	char *buf = NULL;
	size_t total = 1, o = 0, found = 0;
	int rc;

	/* only our names: ls asks for security.* and ACLs on every file */
	if (strncmp(name, XATTR_PREFIX, strlen(XATTR_PREFIX)) != 0)
		return -ENODATA;
	rc = xattrs_of(t, ino, strncmp(name, XATTR_KV, strlen(XATTR_KV)) == 0,
		       deadline, &x);
	for (size_t i = 0; rc == 0 && i < x.n; i++) {
		if (strcmp(x.v[i].name, name) == 0)
			total += strlen(x.v[i].value) + 2;
	}
	if (rc == 0) {
		buf = malloc(total);
		rc = buf ? 0 : -ENOMEM;
	}
	/* several values of one key (two annotations): joined with "; " */
	for (size_t i = 0; rc == 0 && i < x.n; i++) {
		size_t l = strlen(x.v[i].value);

		if (strcmp(x.v[i].name, name) != 0)
			continue;
		if (found++) {
			memcpy(buf + o, "; ", 2);
			o += 2;
		}
		memcpy(buf + o, x.v[i].value, l);
		o += l;
	}
	tree_xattrs_release(&x);
	if (rc == 0 && found == 0)
		rc = -ENODATA;
	if (rc < 0) {
		free(buf);
		return rc;
	}
	buf[o] = '\0';
	*out = buf;
	*len = o < TREE_XATTR_MAX ? o : TREE_XATTR_MAX;
	return 0;
}

void tree_dir_free(struct tree_dir *d)
{
	if (!d)
		return;
	tree_listing_put(d->list);
	free(d->ents);
	free(d);
}

int tree_opendir(struct tree *t, uint64_t ino, uint64_t deadline,
		 struct tree_dir **out)
{
	const struct tree_ops *ops;
	struct tree_listing *l = NULL;
	struct tree_dir *s;
	struct node *d;
	int rc = get_node(t, ino, &d, &ops);

	if (rc < 0)
		return rc;
	if (ops->type != TREE_T_DIR)
		return -ENOTDIR;
	rc = tree_listed(t, d, deadline, &l);
	if (rc < 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s)
		s->ents = calloc(l->n ? l->n : 1, sizeof(*s->ents));
	if (!s || !s->ents) {
		free(s);
		tree_listing_put(l);
		return -ENOMEM;
	}
	s->list = l;
	s->n = l->n;
	s->no_cache = l->volatile_;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < l->n; i++) {
		s->ents[i].name = l->ents[i].name;
		node_attr(l->ents[i].node, &s->ents[i].attr);
	}
	pthread_mutex_unlock(&t->lock);
	*out = s;
	return 0;
}

int tree_open(struct tree *t, uint64_t ino, uint64_t deadline, uint64_t *fh)
{
	const struct tree_ops *ops;
	void *h = NULL;
	struct node *n;
	int rc = get_node(t, ino, &n, &ops);

	if (rc < 0)
		return rc;
	if (ops->type == TREE_T_DIR)
		return -EISDIR;
	if (ops->prepare) {
		rc = ops->prepare(t, n, deadline);
		if (rc < 0)
			return rc;
	}
	if (ops->open) {
		rc = ops->open(t, n, deadline, &h);
		if (rc < 0)
			return rc;
	}
	*fh = (uint64_t)(uintptr_t)h;
	return 0;
}

void tree_release(struct tree *t, uint64_t ino, uint64_t fh)
{
	const struct tree_ops *ops;
	struct node *n;

	if (get_node(t, ino, &n, &ops) == 0 && ops->release)
		ops->release(t, n, (void *)(uintptr_t)fh);
}

ssize_t tree_read(struct tree *t, uint64_t ino, uint64_t fh, uint64_t off,
		  size_t len, char *buf, uint64_t deadline)
{
	const struct tree_ops *ops;
	struct node *n;
	int rc = get_node(t, ino, &n, &ops);

	if (rc < 0)
		return rc;
	if (ops->type == TREE_T_DIR)
		return -EISDIR;
	if (ops->type == TREE_T_LINK)
		return -EINVAL;
	if (!ops->read)
		return -EIO;
	return ops->read(t, n, (void *)(uintptr_t)fh, off, len, buf, deadline);
}

uint64_t tree_node_count(struct tree *t)
{
	uint64_t n;

	pthread_mutex_lock(&t->lock);
	n = t->nnodes;
	pthread_mutex_unlock(&t->lock);
	return n;
}
