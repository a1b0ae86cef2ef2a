/* SPDX-License-Identifier: MIT */
/*
 * tree_gen: the files the archive does not have as such. README.txt;
 * .idrfs/stats and stats.json (live counters); images.tsv in every
 * project, dataset, screen, plate and term (one row per image below it:
 * its canonical path, sizes and key/values); study.txt in every project
 * and screen (its study/info annotation). They only read the archive
 * model (tree_archive.c), never change it.
 *
 * images.tsv and study.txt must have their true size at stat (no
 * direct_io), so they are built before lookup, stat and open answer. A
 * build runs on a worker thread with its own, longer deadline
 * (build_timeout); the operation that started it waits until its own
 * deadline, and when that passes first it fails with EAGAIN and a log
 * line naming the file's path while the build goes on, so the next try
 * finds it done. A built file is kept in the metadata cache (cache.h)
 * under a key of its own with the build time, and served from there
 * within the TTL after a remount (no request), or when a rebuild fails.
 * An expired file is served as it is while it is rebuilt.
 *
 * Costs of a build: what the listings below the container cost (one
 * request per page, per dataset, plate or well, in parallel), plus the
 * key/values of the images in batches of about 500 per request; a term's
 * images carry theirs when they come from the search engine.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idrfs/http.h"
#include "idrfs/log.h"

#include "tree_int.h"

/* v3: images.tsv has source_why; v4: ome_tif, zarr */
#define GEN_KEY_VERSION "v4"
#define GEN_MAX_BYTES	(512u << 20)
#define GEN_MAX_WELLS	20000u
#define GEN_PATH_MAX	4096u
#define STATS_MAX	8192u

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
	if (n > GEN_MAX_BYTES - b->len) {
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

/* ---- README.txt ---- */

/* README.txt, made at its first use (lock-free: a thread that loses the
 * race frees its copy). NULL only if out of memory. */
static const struct gen_text *readme(struct tree *t)
{
	struct gen_text *r = atomic_load(&t->readme), *none = NULL;
	const char *url = t->remote_url;
	static const char fmt[] =
		"idrfs: %s, mounted read-only\n"
		"\n"
		"This directory is a view of a remote bio-image archive with "
		"an\n"
		"IDR-style HTTP API (the Image Data Resource, or any "
		"OMERO.web\n"
		"server). Nothing here is stored locally until it is read.\n"
		"\n"
		"  projects/<project>/<dataset>/<image>.tif and .ome.tif\n"
		"  screens/<screen>/<plate>/<well>/field-<n>.tif\n"
		"  originals/projects/<project>/<dataset>/<image>/  its files\n"
		"  originals/screens/<screen>/<plate>/<well>/field-<n>/\n"
		"  zarr/projects/<project>/<dataset>/<image>.zarr/  its "
		"OME-Zarr\n"
		"  zarr/screens/<screen>/<plate>/<well>/field-<n>.zarr/\n"
		"  by-<menu>/<term>/<study>/<image>.tif  symlinks to the "
		"above\n"
		"\n"
		"Each <image>.tif is an uncompressed ImageJ hyperstack with "
		"the\n"
		"archive's raw pixels from its OME-Zarr (calibration, "
		"colours,\n"
		"channel names). Pixel types ImageJ lacks are converted, and "
		"its\n"
		"Info says so: int8 is stored as value+128 with a calibration\n"
		"back to the true value, double as float32. Beside it, "
		"<image>.ome.tif\n"
		"is a tiled BigTIFF OME-TIFF with the pixel types as stored "
		"and\n"
		"the archive's pyramid levels (SubIFDs), for Bio-Formats, "
		"QuPath\n"
		"and tifffile. Above 4 GiB the .tif is in ImageJ's own form,\n"
		"which libtiff-based readers see as one plane: use the "
		".ome.tif.\n"
		"Only the parts a reader touches are fetched, and they are "
		"kept\n"
		"in the local cache. A name ending in .rendered.tif is an "
		"image\n"
		"the archive offers only as rendered 8-bit RGB, never raw "
		"pixels.\n"
		"No raw pixels? The public IDR sets no ExternalInfo: mount "
		"with\n"
		"-o zarr_url= and -o zarr_catalog= (man idrfs, "
		"user.idr.source_why);\n"
		"converted filesets (a .zarr in originals/) are raw "
		"without them.\n"
		"\n"
		"Names come from the archive, made safe for a shell:\n"
		"  - '/' and control characters become '_'; a name that would\n"
		"    start with '.' (hidden) starts with '_' instead;\n"
		"  - an image named \"x.tif\", \"x.tiff\", \"x.ome.tif\" or\n"
		"    \"x.ome.tiff\" is x.tif (the extension is not doubled);\n"
		"  - names that repeat in one directory all get the object "
		"id,\n"
		"    as in \"dup (1204).tif\", and so does a name that would\n"
		"    clash with one idrfs uses (images.tsv, study.txt); what\n"
		"    idrfs adds never holds a glob character (no [ ] * ?);\n"
		"  - an image's names share one stem: <stem>.tif, and its\n"
		"    originals in originals/.../<stem>/;\n"
		"  - names are cut at 255 bytes, at a character boundary.\n"
		"\n"
		"originals/ mirrors projects/ and screens/: the directory of "
		"an\n"
		"image holds the files it was imported from, in their native\n"
		"formats (for Fiji/Bio-Formats), read by range requests from "
		"the\n"
		"archive's download root (-o originals_root=); it is empty "
		"when\n"
		"the image has none. Recursive tools (find, du, rsync, tar) "
		"over\n"
		"projects/ meet no per-image directory: they cost the "
		"listings\n"
		"only. getfattr -n user.idr.originals <image> gives the path.\n"
		"zarr/ mirrors them too: each raw image's <stem>.zarr/ is an\n"
		"OME-NGFF 0.4 group with every pyramid level, uncompressed "
		"chunk\n"
		"files served from the same cache (zarr.open() and napari take "
		"the\n"
		"path; getfattr -n user.idr.zarr <image> gives it).\n"
		"\n"
		"By annotation: by-phenotype/, by-gene/, by-organism/,\n"
		"by-cell-line/, by-compound/, by-antibody/, by-sirna/ and\n"
		"by-protein/ (those the archive's search engine has) hold one\n"
		"directory per term, \"<label> (<accession>)\" when there is "
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
		"sizes, pixel type, physical sizes, source and why, "
		"key/values). "
		"Every\n"
		"study has study.txt (title, publication, DOI, licence, how "
		"to\n"
		"cite). Both are built in the background and kept in the "
		"cache:\n"
		"a stat that says \"Resource temporarily unavailable\" means "
		"the\n"
		"build goes on; try again. Images and directories carry "
		"extended\n"
		"attributes: getfattr -d <image>.\n"
		"\n"
		"Files are 0644 and directories 0755, so copies can be "
		"deleted;\n"
		"the mount itself is read-only. Times are the acquisition "
		"date,\n"
		"else the study's release date, else 2000-01-01: the same "
		"after\n"
		"every remount, so rsync -a copies nothing twice.\n"
		"\n"
		"Listings are cached for the listing TTL (-o ttl=). Errors "
		"and\n"
		"timeouts are logged with the URL or the path that failed\n"
		"(-o log_file=). .idrfs/stats has the live counters.\n"
		"\n"
		"If you use data from the IDR, please cite: Williams E. et "
		"al.\n"
		"(2017) The Image Data Resource: A Bioimage Data Integration "
		"and\n"
		"Publication Platform. Nature Methods 14, 775-781,\n"
		"doi:10.1038/nmeth.4326, and the publication of each study.\n"
		"\n"
		"Unmount with: fusermount3 -u <mountpoint>\n";
	int n;

	if (r)
		return r;
	n = snprintf(NULL, 0, fmt, url);
	if (n < 0)
		return NULL;
	r = malloc(sizeof(*r) + (size_t)n + 1);
	if (!r)
		return NULL;
	snprintf(r->text, (size_t)n + 1, fmt, url);
	r->len = (size_t)n;
	if (!atomic_compare_exchange_strong(&t->readme, &none, r)) {
		free(r);
		r = none;
	}
	return r;
}

static ssize_t copy_out(const char *text, size_t tl, uint64_t off, size_t len,
			char *buf)
{
	if (off >= tl)
		return 0;
	if (len > tl - off)
		len = tl - (size_t)off;
	memcpy(buf, text + off, len);
	return (ssize_t)len;
}

static ssize_t readme_read(struct tree *t, struct node *n, void *fh,
			   uint64_t off, size_t len, char *buf,
			   uint64_t deadline)
{
	const struct gen_text *r = readme(t);

	(void)n;
	(void)fh;
	(void)deadline;
	return r ? copy_out(r->text, r->len, off, len, buf) : -ENOMEM;
}

const struct tree_ops tree_readme_ops = {
	.type = TREE_T_FILE,
	.read = readme_read,
};

int gen_add_root_files(struct tree *t, struct tree_build *b)
{
	const struct gen_text *r = readme(t);
	int rc = r ? tree_build_add(b, TREE_K_README, TREE_README_INO,
				    strdup("README.txt"), 0, NULL)
		   : -ENOMEM;

	if (rc == 0)
		tree_build_last(b)->size = r->len;
	if (rc == 0 && t->stats)
		rc = tree_build_add(b, TREE_K_STATSDIR, TREE_STATSDIR_INO,
				    strdup(".idrfs"), 0, NULL);
	return rc;
}

/* ---- .idrfs/stats ---- */

static int statsdir_list(struct tree *t, struct node *dir, uint64_t deadline,
			 struct tree_build *b)
{
	int rc;

	(void)t;
	(void)dir;
	(void)deadline;
	rc = tree_build_add(b, TREE_K_STATS, TREE_STATS_INO, strdup("stats"), 0,
			    NULL);
	if (rc == 0)
		tree_build_last(b)->sized = false;
	if (rc == 0)
		rc = tree_build_add(b, TREE_K_STATS, TREE_STATSJSON_INO,
				    strdup("stats.json"), 0, NULL);
	if (rc == 0)
		tree_build_last(b)->sized = false;
	return rc;
}

const struct tree_ops tree_statsdir_ops = {
	.type = TREE_T_DIR,
	.fixed = true,
	.list = statsdir_list,
};

struct snapshot {
	size_t len;
	char text[STATS_MAX];
};

static void stats_text(struct tree *t, const struct node *n, struct snapshot *s)
{
	s->len = t->stats ? t->stats(t->stats_ctx, n->ino == TREE_STATSJSON_INO,
				     s->text, sizeof(s->text))
			  : 0;
	if (s->len > sizeof(s->text) - 1)
		s->len = sizeof(s->text) - 1;
}

/* stat gives the true size now; reads use direct I/O (tree_attr.live) */
static int stats_prepare(struct tree *t, struct node *n, uint64_t deadline)
{
	struct snapshot s;

	(void)deadline;
	stats_text(t, n, &s);
	tree_node_set_size(t, n, s.len);
	return 0;
}

/* Each open reads one snapshot, so a reader sees consistent counters. */
static int stats_open(struct tree *t, struct node *n, uint64_t deadline,
		      void **fh)
{
	struct snapshot *s = malloc(sizeof(*s));

	(void)deadline;
	if (!s)
		return -ENOMEM;
	stats_text(t, n, s);
	*fh = s;
	return 0;
}

static ssize_t stats_read(struct tree *t, struct node *n, void *fh,
			  uint64_t off, size_t len, char *buf,
			  uint64_t deadline)
{
	struct snapshot *s = fh, now;

	(void)deadline;
	if (!s) {
		stats_text(t, n, &now);
		s = &now;
	}
	return copy_out(s->text, s->len, off, len, buf);
}

static void stats_release(struct tree *t, struct node *n, void *fh)
{
	(void)t;
	(void)n;
	free(fh);
}

const struct tree_ops tree_stats_ops = {
	.type = TREE_T_FILE,
	.live = true,
	.prepare = stats_prepare,
	.open = stats_open,
	.read = stats_read,
	.release = stats_release,
};

/* ---- images.tsv and study.txt: building, caching ---- */

struct gen_file {
	struct tree *t;
	uint64_t ino;
	struct node *owner;
	enum tree_kind kind; /* TREE_K_TSV or TREE_K_STUDYTXT */
	gen_rows_fn rows;    /* terms: where their rows come from */
	/* g->lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *text;
	size_t len;
	uint64_t fresh_until; /* http_now_ms(); 0: to be built */
	bool cache_tried;
	bool building;
	unsigned builds; /* finished (or cancelled) builds */
	int last_rc;
};

static void gen_free(void *data)
{
	struct gen_file *g = data;

	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
	free(g->text);
	free(g);
}

static const char *gen_name(const struct gen_file *g)
{
	return g->kind == TREE_K_TSV ? TREE_TSV_NAME : TREE_STUDY_NAME;
}

static struct gen_file *gen_new(struct tree *t, struct node *owner,
				enum tree_kind kind, uint64_t ino,
				gen_rows_fn rows)
{
	struct gen_file *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->t = t;
	g->ino = ino;
	g->owner = owner;
	g->kind = kind;
	g->rows = rows;
	pthread_mutex_init(&g->lock, NULL);
	http_cond_init(&g->cond);
	return g;
}

static enum tree_kind gen_kind(const char *name)
{
	return strcmp(name, TREE_TSV_NAME) == 0 ? TREE_K_TSV : TREE_K_STUDYTXT;
}

static uint64_t gen_ino(const struct node *owner, const char *name)
{
	return tree_hash_ino(gen_kind(name), owner->ino, name, strlen(name));
}

int gen_add_file(struct tree *t, struct node *owner, const char *name,
		 gen_rows_fn rows, struct tree_build *b)
{
	enum tree_kind kind = gen_kind(name);
	uint64_t ino = gen_ino(owner, name);
	struct gen_file *g = gen_new(t, owner, kind, ino, rows);
	int64_t date = arch_date(owner);
	int rc;

	if (!g)
		return -ENOMEM;
	rc = tree_build_add(b, kind, ino, strdup(name), 0, g);
	if (rc == 0) {
		tree_build_last(b)->sized = false;
		/* its directory's date: stable, never the build time (the
		 * same as gen_file_node() gives) */
		tree_build_last(b)->mtime = date > 0 ? date : TREE_EPOCH;
	}
	return rc;
}

int gen_file_node(struct tree *t, struct node *owner, const char *name,
		  gen_rows_fn rows, struct node **out)
{
	enum tree_kind kind = gen_kind(name);
	uint64_t ino = gen_ino(owner, name);
	struct node *n = tree_node_find(t, ino);
	int64_t date = arch_date(owner);
	int rc;

	if (n && n->data) {
		*out = n;
		return 0;
	}
	rc = tree_node_make(t, kind, ino, gen_new(t, owner, kind, ino, rows),
			    owner, name, out);
	/* the time its directory's listing gives it, before that listing */
	if (rc == 0)
		tree_node_set_mtime(t, *out, date > 0 ? date : TREE_EPOCH);
	return rc;
}

/* The key of a generated file in the metadata cache (no URL has it). */
static void gen_key(const struct gen_file *g, char *out, size_t outsz)
{
	snprintf(out, outsz, "idrfs:%s:%s:%016" PRIx64, gen_name(g),
		 GEN_KEY_VERSION, g->owner->ino);
}

static const char *gen_path(struct gen_file *g, char *esc, size_t escsz)
{
	struct node *n = tree_node_find(g->t, g->ino);
	char path[GEN_PATH_MAX];

	if (!n || tree_path(g->t, n, path, sizeof(path)) < 0)
		snprintf(path, sizeof(path), "%s", gen_name(g));
	return log_escape(path, esc, escsz);
}

/* ---- rows of images.tsv ---- */

int gen_rows_add(struct gen_rows *r, char *path, struct node *img,
		 struct arch_kvset *kvs)
{
	if (!path) {
		arch_kvset_put(kvs);
		return -ENOMEM;
	}
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 64;
		struct gen_row *nv = realloc(r->v, nc * sizeof(*nv));

		if (!nv) {
			free(path);
			arch_kvset_put(kvs);
			return -ENOMEM;
		}
		r->v = nv;
		r->cap = nc;
	}
	r->v[r->n++] = (struct gen_row){path, img, kvs};
	return 0;
}

void gen_rows_release(struct gen_rows *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].path);
		arch_kvset_put(r->v[i].kvs);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* Rows of the images a directory (a dataset or a well) lists. */
static int rows_of_dir(struct tree *t, struct node *dir, uint64_t deadline,
		       struct gen_rows *r)
{
	char prefix[GEN_PATH_MAX];
	struct tree_listing *l = NULL;
	int rc = tree_listed(t, dir, deadline, &l);

	if (rc == 0)
		rc = tree_path(t, dir, prefix, sizeof(prefix));
	for (size_t i = 0; rc == 0 && i < l->n; i++) {
		char *path = NULL;

		if (l->ents[i].node->kind != TREE_K_IMAGE)
			continue;
		if (asprintf(&path, "%s/%s", prefix, l->ents[i].name) < 0)
			path = NULL;
		rc = gen_rows_add(r, path, l->ents[i].node, NULL);
	}
	tree_listing_put(l);
	return rc;
}

/* The children of kind @p kind of each of dirs (listed first, all at
 * once), appended to *out. */
static int children(struct tree *t, struct node **dirs, size_t n,
		    enum tree_kind kind, uint64_t deadline, struct node ***out,
		    size_t *nout)
{
	int rc = tree_list_many(t, dirs, n, deadline);
	struct node **v = NULL;
	size_t m = 0, cap = 0;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct tree_listing *l = NULL;

		rc = tree_listed(t, dirs[i], deadline, &l);
		for (size_t k = 0; rc == 0 && k < l->n; k++) {
			if (l->ents[k].node->kind != kind)
				continue;
			if (m == cap) {
				size_t nc = cap ? cap * 2 : 64;
				struct node **nv = realloc(v, nc * sizeof(*nv));

				if (!nv) {
					rc = -ENOMEM;
					break;
				}
				v = nv;
				cap = nc;
			}
			v[m++] = l->ents[k].node;
		}
		tree_listing_put(l);
	}
	if (rc < 0) {
		free(v);
		return rc;
	}
	*out = v;
	*nout = m;
	return 0;
}

/* Rows of an archive container: the images below it, all levels. */
static int rows_of_container(struct tree *t, struct gen_file *g,
			     uint64_t deadline, struct gen_rows *r)
{
	struct node *owner = g->owner, **lvl = NULL, **next = NULL;
	size_t n = 1, nn = 0;
	enum tree_kind k = owner->kind;
	int rc = 0;
	char esc[GEN_PATH_MAX];

	lvl = malloc(sizeof(*lvl));
	if (!lvl)
		return -ENOMEM;
	lvl[0] = owner;
	/* down to the directories that list images: datasets or wells */
	while (rc == 0 && k != TREE_K_DATASET && k != TREE_K_WELL) {
		enum tree_kind sub = k == TREE_K_PROJECT  ? TREE_K_DATASET
				     : k == TREE_K_SCREEN ? TREE_K_PLATE
							  : TREE_K_WELL;

		rc = children(t, lvl, n, sub, deadline, &next, &nn);
		if (rc == 0 && sub == TREE_K_WELL && nn > GEN_MAX_WELLS) {
			log_error(LOG_C_TREE,
				  "'%s': more than %u wells to list; not built",
				  gen_path(g, esc, sizeof(esc)), GEN_MAX_WELLS);
			free(next);
			rc = -EFBIG;
		}
		if (rc < 0)
			break;
		free(lvl);
		lvl = next;
		n = nn;
		k = sub;
	}
	if (rc == 0)
		rc = tree_list_many(t, lvl, n, deadline);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = rows_of_dir(t, lvl[i], deadline, r);
	free(lvl);
	return rc;
}

static int row_path_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gen_row *)a)->path,
		      ((const struct gen_row *)b)->path);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort a list of keys and keep each once; the new count. */
static size_t keys_unique(const char **keys, size_t n)
{
	size_t w = 0;

	if (n > 0)
		qsort(keys, n, sizeof(*keys), str_cmp);
	for (size_t j = 0; j < n; j++) {
		if (w == 0 || strcmp(keys[w - 1], keys[j]))
			keys[w++] = keys[j];
	}
	return w;
}

/* The key/value set of each row (the hit's, else the image's). */
static int rows_kvs(struct tree *t, struct gen_rows *r,
		    struct arch_kvset ***out)
{
	struct arch_kvset **kv = calloc(r->n + 1, sizeof(*kv));

	if (!kv)
		return -ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		kv[i] = r->v[i].kvs;
		if (kv[i])
			atomic_fetch_add(&kv[i]->refs, 1);
		else if (r->v[i].img)
			kv[i] = arch_kvs_of(t, r->v[i].img, NULL);
	}
	*out = kv;
	return 0;
}

static int kvp_cmp(const void *a, const void *b)
{
	const struct api_kv *x = *(const struct api_kv *const *)a;
	const struct api_kv *y = *(const struct api_kv *const *)b;
	int c = strcmp(x->key, y->key);

	/* equal keys keep their order: the values are joined in it */
	return c ? c : (x > y) - (x < y);
}

/* The key/value cells of a row: its pairs sorted by key, merged with the
 * sorted key columns (linear, however many pairs and columns). */
static void tsv_kv_cells(struct sbuf *b, const struct arch_kvset *kv,
			 const char **keys, size_t nk)
{
	const struct api_kv **p = NULL;
	size_t n = kv ? kv->n : 0, j = 0;

	if (n > 0) {
		p = calloc(n, sizeof(*p));
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		for (size_t i = 0; i < n; i++)
			p[i] = &kv->kvs[i];
		qsort(p, n, sizeof(*p), kvp_cmp);
	}
	for (size_t k = 0; k < nk; k++) {
		bool first = true;

		sb_add(b, "\t", 1);
		while (j < n && strcmp(p[j]->key, keys[k]) < 0)
			j++;
		for (; j < n && strcmp(p[j]->key, keys[k]) == 0; j++) {
			if (!first)
				sb_add(b, "; ", 2);
			sb_cell(b, p[j]->value);
			first = false;
		}
	}
	free(p);
}

static void tsv_row(struct sbuf *b, const struct gen_row *w,
		    const struct arch_kvset *kv, const char **keys, size_t nk)
{
	const struct arch_image *im = w->img ? w->img->data : NULL;
	const struct api_image *img = im ? &im->img : NULL;

	sb_cell(b, w->path);
	sb_printf(b, "\t%" PRId64 "\t",
		  w->img ? (int64_t)(w->img->ino & TREE_ID_MAX) : 0);
	sb_cell(b, img ? img->name : NULL);
	if (img && img->has_pixels) {
		const struct api_pixels *px = &img->px;
		const double ps[3] = {px->phys_x, px->phys_y, px->phys_z};

		/* what the file holds: a rendered one is 8-bit RGB */
		sb_printf(
			b, "\t%u\t%u\t%u\t%u\t%u\t%s", px->size_x, px->size_y,
			px->size_z, im->rendered ? 3 : px->size_c, px->size_t_,
			im->rendered ? "uint8" : api_pixel_type_name(px->type));
		for (int k = 0; k < 3; k++) {
			if (ps[k] > 0)
				sb_printf(b, "\t%.6g", ps[k]);
			else
				sb_add(b, "\t", 1);
		}
	} else {
		sb_str(b, "\t\t\t\t\t\t\t\t\t");
	}
	sb_str(b, im && im->rendered ? "\trendered\t" : "\tzarr\t");
	sb_cell(b, im ? im->why : NULL);
	sb_add(b, "\t", 1);
	/* the views: the .ome.tif beside the .tif, and zarr/ (the same
	 * stem) */
	if (im && im->has_ome && w->path && strlen(w->path) > 4) {
		int stem = (int)(strlen(w->path) - 4);
		char *o = NULL, *z = NULL;

		if (asprintf(&o, "%.*s.ome.tif", stem, w->path) < 0)
			o = NULL;
		if (asprintf(&z, "zarr/%.*s.zarr", stem, w->path) < 0)
			z = NULL;
		if (!o || !z)
			b->err = -ENOMEM;
		sb_cell(b, o);
		sb_add(b, "\t", 1);
		sb_cell(b, z);
		free(o);
		free(z);
	} else {
		sb_add(b, "\t", 1);
	}
	tsv_kv_cells(b, kv, keys, nk);
	sb_add(b, "\n", 1);
}

/* The text of images.tsv: a header, then one row per image by path. */
static int tsv_format(struct tree *t, struct gen_rows *r, struct sbuf *b)
{
	struct arch_kvset **kv = NULL;
	const char **keys = NULL;
	size_t nk = 0, capk = 0;
	int rc;

	if (r->n > 0)
		qsort(r->v, r->n, sizeof(*r->v), row_path_cmp);
	rc = rows_kvs(t, r, &kv);
	for (size_t i = 0; rc == 0 && i < r->n; i++) {
		for (size_t j = 0; kv[i] && j < kv[i]->n; j++) {
			if (nk == capk) {
				size_t nc = capk ? capk * 2 : 32;
				const char **nv =
					realloc(keys, nc * sizeof(*nv));

				if (!nv) {
					rc = -ENOMEM;
					break;
				}
				keys = nv;
				capk = nc;
			}
			keys[nk++] = kv[i]->kvs[j].key;
		}
		/* keep the key list short as it grows */
		if (nk > 4096 || i + 1 == r->n)
			nk = keys_unique(keys, nk);
	}
	if (rc == 0) {
		sb_str(b, "path\tid\tname\tSizeX\tSizeY\tSizeZ\tSizeC\tSizeT\t"
			  "PixelType\tPhysicalSizeX\tPhysicalSizeY\t"
			  "PhysicalSizeZ\tsource\tsource_why\tome_tif\tzarr");
		for (size_t k = 0; k < nk; k++) {
			sb_add(b, "\t", 1);
			sb_cell(b, keys[k]);
		}
		sb_add(b, "\n", 1);
	}
	for (size_t i = 0; rc == 0 && i < r->n && !b->err; i++)
		tsv_row(b, &r->v[i], kv[i], keys, nk);
	for (size_t i = 0; kv && i < r->n; i++)
		arch_kvset_put(kv[i]);
	free(kv);
	free(keys);
	return rc < 0 ? rc : b->err;
}

static int build_tsv(struct tree *t, struct gen_file *g, uint64_t deadline,
		     struct sbuf *b)
{
	struct gen_rows r = {0};
	struct node **imgs = NULL;
	size_t m = 0;
	int rc = g->rows ? g->rows(t, g->owner, deadline, &r)
			 : rows_of_container(t, g, deadline, &r);

	if (rc == 0) {
		imgs = calloc(r.n + 1, sizeof(*imgs));
		rc = imgs ? 0 : -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < r.n; i++) {
		if (!r.v[i].kvs && r.v[i].img)
			imgs[m++] = r.v[i].img;
	}
	if (rc == 0)
		rc = arch_fetch_kvs(t, imgs, m, deadline);
	if (rc == 0)
		rc = tsv_format(t, &r, b);
	free(imgs);
	gen_rows_release(&r);
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

static void study_cite(struct sbuf *b, const struct api_kv *kvs, size_t n)
{
	const char *v = kv_get(kvs, n, "Publication DOI");
	char doi[256] = "";

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
}

static int build_study(struct tree *t, struct gen_file *g, uint64_t deadline,
		       struct sbuf *b)
{
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
	struct node *owner = g->owner;
	const struct arch *a = owner->data;
	bool screen = owner->kind == TREE_K_SCREEN;
	struct api_kv *kvs = NULL;
	char *name = NULL;
	size_t n = 0;
	int rc = arch_study_kvs(t, owner, deadline, &kvs, &n, &name);

	if (rc < 0)
		return rc;
	/* the archive's name when the annotation says it, else the listing's */
	sb_str(b, "Study:       ");
	sb_cell(b, name ? name : a && a->name ? a->name : "");
	sb_str(b, "\n");
	free(name);
	sb_printf(b, "Remote:      %s/webclient/?show=%s-%" PRId64 "\n",
		  api_base_url(t->api), screen ? "screen" : "project",
		  a ? a->id : 0);
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const char *v = kv_get(kvs, n, lines[i].key);
		char label[32];

		if (!v)
			continue;
		snprintf(label, sizeof(label), "%s:", lines[i].label);
		sb_printf(b, "%-12s ", label);
		sb_cell(b, v);
		sb_add(b, "\n", 1);
	}
	if (n == 0)
		sb_str(b, "\nThe archive has no study information for this "
			  "study.\n");
	study_cite(b, kvs, n);
	if (n > 0)
		sb_str(b, "\nStudy annotations (idr.openmicroscopy.org/study/"
			  "info):\n");
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

/* ---- the build job ---- */

static void gen_done(struct gen_file *g, int rc, struct sbuf *b)
{
	struct tree *t = g->t;
	struct node *n = tree_node_find(t, g->ino);
	char esc[GEN_PATH_MAX], key[128];

	if (rc < 0)
		gen_path(g, esc, sizeof(esc));
	pthread_mutex_lock(&g->lock);
	if (rc == 0) {
		free(g->text);
		g->text = b->p;
		g->len = b->len;
		b->p = NULL;
		g->fresh_until = http_now_ms() + t->ttl_ms;
		/* before the waiters wake: they answer with the size */
		if (n)
			tree_node_set_size(t, n, g->len);
	} else {
		/* logged before the waiters wake, who fail with it */
		log_error(LOG_C_TREE, "cannot build '%s': %s", esc,
			  strerror(-rc));
	}
	g->last_rc = rc;
	g->building = false;
	g->builds++;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
	if (rc < 0)
		return;
	/* only this job changes g->text, and no other runs: it stays */
	gen_key(g, key, sizeof(key));
	if (t->cache)
		cache_meta_put(t->cache, key, g->text, g->len,
			       (int64_t)time(NULL));
}

static void gen_job(void *arg)
{
	struct gen_file *g = arg;
	struct sbuf b = {0};
	uint64_t deadline = http_now_ms() + g->t->build_ms;
	int rc = g->kind == TREE_K_TSV ? build_tsv(g->t, g, deadline, &b)
				       : build_study(g->t, g, deadline, &b);

	if (rc == -ENOENT)
		rc = -EIO; /* the file exists; building it failed */
	gen_done(g, rc, &b);
	free(b.p);
}

static void gen_cancel(void *arg)
{
	struct gen_file *g = arg;

	pthread_mutex_lock(&g->lock);
	g->building = false;
	g->builds++;
	g->last_rc = -ECANCELED;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* Load a build from the metadata cache, once (g->lock held). */
static void gen_load(struct gen_file *g, struct node *n)
{
	struct tree *t = g->t;
	char key[128], *body = NULL;
	size_t len = 0;
	int64_t at = 0, now = (int64_t)time(NULL);

	g->cache_tried = true;
	gen_key(g, key, sizeof(key));
	if (!t->cache || cache_meta_get(t->cache, key, &body, &len, &at) < 0)
		return;
	free(g->text);
	g->text = body;
	g->len = len;
	if (now >= at && (uint64_t)(now - at) < t->ttl_s)
		g->fresh_until =
			http_now_ms() +
			((uint64_t)t->ttl_s - (uint64_t)(now - at)) * 1000u;
	tree_node_set_size(t, n, len);
}

static int gen_prepare(struct tree *t, struct node *n, uint64_t deadline)
{
	struct gen_file *g = n->data;
	char esc[GEN_PATH_MAX];
	unsigned seen;
	int rc = 0;

	if (!g)
		return -EIO; /* internal: made with its data */
	pthread_mutex_lock(&g->lock);
	if (!g->cache_tried)
		gen_load(g, n);
	if (g->text && http_now_ms() < g->fresh_until) {
		pthread_mutex_unlock(&g->lock);
		return 0;
	}
	if (!g->building) {
		g->building = true;
		rc = tree_job_start(t, gen_job, gen_cancel, g);
		if (rc < 0)
			g->building = false;
	}
	/* an expired file is served while it is rebuilt */
	if (rc < 0 || g->text) {
		pthread_mutex_unlock(&g->lock);
		return g->text ? 0 : rc;
	}
	seen = g->builds;
	while (g->builds == seen && rc == 0)
		rc = http_cond_wait(&g->cond, &g->lock, deadline);
	if (rc == 0)
		rc = g->text ? 0 : g->last_rc;
	pthread_mutex_unlock(&g->lock);
	if (rc == -ETIMEDOUT) {
		log_warn(LOG_C_TREE,
			 "'%s' is not built yet (the build goes on in the "
			 "background); try again",
			 gen_path(g, esc, sizeof(esc)));
		rc = -EAGAIN;
	}
	return rc;
}

static ssize_t gen_read(struct tree *t, struct node *n, void *fh, uint64_t off,
			size_t len, char *buf, uint64_t deadline)
{
	struct gen_file *g = n->data;
	ssize_t got;

	(void)t;
	(void)fh;
	(void)deadline;
	if (!g)
		return -EIO;
	pthread_mutex_lock(&g->lock);
	got = g->text ? copy_out(g->text, g->len, off, len, buf) : -EIO;
	pthread_mutex_unlock(&g->lock);
	return got;
}

const struct tree_ops tree_tsv_ops = {
	.type = TREE_T_FILE,
	.prepare = gen_prepare,
	.read = gen_read,
	.free = gen_free,
};

const struct tree_ops tree_study_ops = {
	.type = TREE_T_FILE,
	.prepare = gen_prepare,
	.read = gen_read,
	.free = gen_free,
};
