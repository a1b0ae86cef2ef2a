/* SPDX-License-Identifier: MIT */
/*
 * tree_int: what the files of the tree module share. Private to it.
 *
 *   tree.c          the core: the inode table, node lifetime, lookup
 *                   counts, single-flight listings with a TTL, background
 *                   jobs, and the public tree_* calls, which dispatch to
 *                   the node's kind through its ops table
 *   tree_archive.c  the archive model: projects, datasets, screens,
 *                   plates, wells and images as the api lists them, THE
 *                   naming (safe names, image stems, unique suffixes) and
 *                   canonical paths; image files (pixels) and the
 *                   extended attributes of archive objects
 *   tree_views.c    what the user browses: the root, projects/ and
 *                   screens/ (archive listings plus generated files), and
 *                   the by-* menus, terms and symlinks
 *   tree_orig.c     originals/: the parallel tree of original files, and
 *                   the mirror of projects/ and screens/ that originals/
 *                   and zarr/ both hang from
 *   tree_zarr.c     zarr/'s <stem>.zarr/ directories: an image's OME-Zarr
 *                   view, chunk files from the pixel source
 *   tree_gen.c      generated files: images.tsv, study.txt, README.txt,
 *                   .idrfs/stats, built in the background and kept in the
 *                   metadata cache
 *
 * Calls run one way: views -> orig, gen, archive; zarr -> orig, archive;
 * orig, gen -> archive; everything -> core. The archive calls nothing above it. The core calls
 * kinds only through their ops tables (kind_ops() in tree.c).
 *
 * Lock discipline (the only locks of the module, in order):
 *   1. a kind's own mutex (t->img_lock for images, a generated file's
 *      g->lock, t->view_lock): guards what that kind changes after a node
 *      exists (open pixel sources, key/values, generated text, term
 *      hits). Held for short, bounded work, never across a request.
 *   2. t->lock (innermost): the inode table, every node's core fields
 *      (nlookup, parent, name, size, mtime, sized, list, listed_at,
 *      loading) and the job queue. Taken only inside tree.c, never held
 *      while an op runs.
 * So an op runs with no tree lock held and may block on the network and
 * call back into the core; a kind lock may be held while calling a core
 * function that takes t->lock briefly (1 -> 2), never the reverse.
 *
 * Kind data (node->data) is set once, when the node is made, and is
 * immutable after (mutable parts live behind a kind lock). A listing
 * (struct tree_listing) is an immutable, reference-counted snapshot; a
 * relisting installs a new one, so holding a reference is enough to read
 * it. Every wait (a listing, a build, a pixel source in flight) is a
 * timed wait on CLOCK_MONOTONIC until the operation's deadline.
 */
#ifndef IDRFS_TREE_INT_H
#define IDRFS_TREE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "idrfs/api.h"
#include "idrfs/cache.h"
#include "idrfs/search.h"
#include "idrfs/tree.h"

/* Node kinds: the top byte of an inode, and the index of its ops. */
enum tree_kind {
	TREE_K_ROOT = 0,
	TREE_K_README,
	TREE_K_STATSDIR,
	TREE_K_STATS,
	/* the archive (tree_archive.c), shown by tree_views.c */
	TREE_K_PROJECTS,
	TREE_K_SCREENS,
	TREE_K_PROJECT,
	TREE_K_DATASET,
	TREE_K_SCREEN,
	TREE_K_PLATE,
	TREE_K_WELL,
	TREE_K_IMAGE,
	/* generated files (tree_gen.c) */
	TREE_K_TSV,
	TREE_K_STUDYTXT,
	/* originals/ (tree_orig.c): one mirror kind per archive kind, in
	 * the same order, so TREE_ORIG_OF(k) is the mirror of k */
	TREE_K_ORIGROOT,
	TREE_K_OPROJECTS,
	TREE_K_OSCREENS,
	TREE_K_OPROJECT,
	TREE_K_ODATASET,
	TREE_K_OSCREEN,
	TREE_K_OPLATE,
	TREE_K_OWELL,
	TREE_K_OIMAGE, /* an image's files */
	TREE_K_OSUB,   /* a directory among them */
	TREE_K_OFILE,  /* an original file */
	/* by-* (tree_views.c) */
	TREE_K_MENU,
	TREE_K_TERM,
	TREE_K_TSTUDY,
	TREE_K_LINK,
	/* an image's <stem>.ome.tif (tree_archive.c), beside its .tif */
	TREE_K_OMETIF,
	/* zarr/ (tree_orig.c mirrors, tree_zarr.c views): a mirror kind per
	 * archive kind in the same order, TREE_ZARR_OF(k) of k */
	TREE_K_ZARRROOT,
	TREE_K_ZPROJECTS,
	TREE_K_ZSCREENS,
	TREE_K_ZPROJECT,
	TREE_K_ZDATASET,
	TREE_K_ZSCREEN,
	TREE_K_ZPLATE,
	TREE_K_ZWELL,
	TREE_K_ZIMAGE, /* <stem>.zarr/: an image's OME-Zarr view */
	TREE_K_ZDIR,   /* a level, or a chunk index directory in it */
	TREE_K_ZFILE,  /* .zgroup, .zattrs, .zarray or a chunk */
	TREE_K_NKINDS
};

#define TREE_ORIG_OF(k)                                                        \
	((enum tree_kind)((k)-TREE_K_PROJECTS + TREE_K_OPROJECTS))
#define TREE_ARCH_OF(k)                                                        \
	((enum tree_kind)((k)-TREE_K_OPROJECTS + TREE_K_PROJECTS))
#define TREE_ZARR_OF(k)                                                        \
	((enum tree_kind)((k)-TREE_K_PROJECTS + TREE_K_ZPROJECTS))

#define TREE_ID_BITS	   56
#define TREE_ID_MAX	   ((1ull << TREE_ID_BITS) - 1)
#define TREE_INO(kind, id) (((uint64_t)(kind) << TREE_ID_BITS) | (uint64_t)(id))
#define TREE_KIND_OF(ino)  ((enum tree_kind)((ino) >> TREE_ID_BITS))

/* Fixed inode numbers. */
#define TREE_README_INO	   2u
#define TREE_PROJECTS_INO  3u
#define TREE_SCREENS_INO   4u
#define TREE_STATSDIR_INO  5u
#define TREE_STATS_INO	   6u
#define TREE_STATSJSON_INO 7u
#define TREE_ORIGROOT_INO  8u
#define TREE_OPROJECTS_INO 9u
#define TREE_OSCREENS_INO  10u
#define TREE_ZARRROOT_INO  11u
#define TREE_ZPROJECTS_INO 12u
#define TREE_ZSCREENS_INO  13u

/* Names idrfs gives its own files; no archive object takes them. */
#define TREE_TSV_NAME	"images.tsv"
#define TREE_STUDY_NAME "study.txt"

/* Background workers of the tree (builds of generated files). */
#define TREE_WORKERS 4

/* mtime of what has no date of its own: 2000-01-01T00:00:00Z. */
#define TREE_EPOCH 946684800

/* Listing TTLs a list op may ask for instead of the mount's. */
#define TREE_TTL_DEFAULT 0
#define TREE_TTL_NEVER	 UINT64_MAX
#define TREE_TTL_NOW	 1u /* relist at the next access */

struct tree;
struct node;

/* ---- listings ---- */

struct tree_ent {
	char *name;
	uint16_t stem;	   /* bytes of name before its extension */
	struct node *node; /* lives until tree_free() */
};

/** An immutable snapshot of a directory's entries. */
struct tree_listing {
	atomic_uint refs;
	size_t n;
	struct tree_ent *ents; /* sorted by name (strcmp) */
	uint32_t *by_ino;      /* indices of ents sorted by node inode */
	bool volatile_;	       /* listed with TREE_TTL_NOW */
};

/* One entry of a listing being built. */
struct tree_bent {
	enum tree_kind kind;
	uint64_t ino;
	char *name; /* heap; owned by the build */
	uint16_t stem;
	uint64_t size;
	int64_t mtime;
	bool sized; /* size is known (generated files: once built) */
	void *data; /* kind data for a new node (owned by the build) */
};

/** What a list op fills. */
struct tree_build {
	struct tree_bent *v;
	size_t n, cap;
	uint64_t ttl_ms; /* TREE_TTL_*, or a TTL in ms */
};

/* ---- kinds ---- */

enum tree_type {
	TREE_T_DIR = 0,
	TREE_T_FILE,
	TREE_T_LINK,
};

/* One user.idr.* attribute (heap strings). */
struct tree_xattr {
	char *name;
	char *value;
};

struct tree_xattrs {
	struct tree_xattr *v;
	size_t n, cap;
	int err;
};

/**
 * What a kind does. Every op runs with no tree lock held (tree_int.h
 * top); absent ops mean: not a directory / not readable / no attributes.
 */
struct tree_ops {
	enum tree_type type;
	bool live;  /* content changes while open (.idrfs/stats) */
	bool fixed; /* a directory listed once, never expired */
	/* directories: fetch and name the entries */
	int (*list)(struct tree *t, struct node *dir, uint64_t deadline,
		    struct tree_build *b);
	/* directories: resolve a name before listing (-ENOENT: not one of
	 * the names resolved this way) */
	int (*find)(struct tree *t, struct node *dir, const char *name,
		    uint64_t deadline, struct node **out);
	/* directories: a name the listing lacks (-ENOENT: none) */
	int (*lookup)(struct tree *t, struct node *dir, const char *name,
		      uint64_t deadline, struct node **out);
	/* files whose size is known once built: build (lookup, stat, open) */
	int (*prepare)(struct tree *t, struct node *n, uint64_t deadline);
	int (*open)(struct tree *t, struct node *n, uint64_t deadline,
		    void **fh);
	ssize_t (*read)(struct tree *t, struct node *n, void *fh, uint64_t off,
			size_t len, char *buf, uint64_t deadline);
	void (*release)(struct tree *t, struct node *n, void *fh);
	int (*readlink)(struct tree *t, struct node *n, char **out);
	/* the user.idr.* attributes; with_kv: also user.idr.kv.* (may cost
	 * a request) */
	int (*xattrs)(struct tree *t, struct node *n, bool with_kv,
		      uint64_t deadline, struct tree_xattrs *out);
	void (*free)(void *data);
};

extern const struct tree_ops tree_root_ops;	 /* tree_views.c */
extern const struct tree_ops tree_top_ops;	 /* projects/, screens/ */
extern const struct tree_ops tree_container_ops; /* project..well */
extern const struct tree_ops tree_menu_ops;
extern const struct tree_ops tree_term_ops;
extern const struct tree_ops tree_tstudy_ops;
extern const struct tree_ops tree_link_ops;
extern const struct tree_ops tree_image_ops;  /* tree_archive.c */
extern const struct tree_ops tree_readme_ops; /* tree_gen.c */
extern const struct tree_ops tree_statsdir_ops;
extern const struct tree_ops tree_stats_ops;
extern const struct tree_ops tree_tsv_ops;
extern const struct tree_ops tree_study_ops;
extern const struct tree_ops tree_origroot_ops; /* tree_orig.c */
extern const struct tree_ops tree_omirror_ops;
extern const struct tree_ops tree_oimage_ops;
extern const struct tree_ops tree_osub_ops;
extern const struct tree_ops tree_ofile_ops;
extern const struct tree_ops tree_zimage_ops; /* tree_zarr.c */
extern const struct tree_ops tree_zdir_ops;
extern const struct tree_ops tree_zfile_ops;

/* ---- nodes and the tree ---- */

struct node {
	uint64_t ino;
	enum tree_kind kind;
	void *data; /* kind data: set once, immutable (see its kind) */
	/* the rest: t->lock */
	uint64_t nlookup;
	struct node *hnext;
	struct node *parent; /* where it was last listed; NULL: the root */
	char *name;	     /* its name there */
	uint64_t size;
	int64_t mtime;
	bool sized; /* size known: readdirplus may hand attributes out */
	struct tree_listing *list;
	uint64_t listed_at; /* http_now_ms(); 0: never listed */
	uint64_t ttl_ms;    /* of that listing */
	bool loading;
};

struct tree_job;

struct tree {
	/* configuration, read-only after tree_new() */
	struct api *api;
	struct pixsrc *pixsrc;
	struct search *search;
	struct locate *locate;
	struct cache *cache;
	char *originals_root;
	char *remote_url;
	unsigned ttl_s;
	uint64_t ttl_ms;
	uint64_t build_ms;
	size_t (*stats)(void *ctx, bool json, char *buf, size_t size);
	void *stats_ctx;
	_Atomic(struct gen_text *) readme; /* tree_gen.c: made on first use */

	/* t->lock (tree.c): the table, node core fields, the job queue */
	pthread_mutex_t lock;
	pthread_cond_t cond;	 /* a listing changed state */
	pthread_cond_t job_cond; /* the job queue changed */
	struct node **buckets;
	size_t nbuckets;
	size_t nnodes;
	struct tree_job *jobs, *jobs_tail;
	pthread_t workers[TREE_WORKERS];
	unsigned nworkers;
	bool stopping;

	/* t->img_lock (tree_archive.c): images' open sources, key/values */
	pthread_mutex_t img_lock;
	pthread_cond_t img_cond;

	/* t->view_lock (tree_views.c): the by-* state */
	pthread_mutex_t view_lock;
	bool menus_known;   /* detection succeeded */
	unsigned menu_mask; /* then: the menus present */
};

/* ---- the core (tree.c) ---- */

/** The ops of a kind. */
const struct tree_ops *tree_kind_ops(enum tree_kind kind);

/** The node of an inode, or NULL. Takes t->lock. */
struct node *tree_node_find(struct tree *t, uint64_t ino);

/**
 * Find or make the node of an inode. A new node takes @p data (freed by
 * its kind's free op otherwise, also on failure).
 * @return 0 or -ENOMEM
 */
int tree_node_make(struct tree *t, enum tree_kind kind, uint64_t ino,
		   void *data, struct node *parent, const char *name,
		   struct node **out);

/** Set a node's size once it is known (generated files). */
void tree_node_set_size(struct tree *t, struct node *n, uint64_t size);

/** Set a node's mtime (one made before its directory is listed). */
void tree_node_set_mtime(struct tree *t, struct node *n, int64_t mtime);

/** A node's mtime and size, read under t->lock. */
void tree_node_get(struct tree *t, const struct node *n, uint64_t *size,
		   int64_t *mtime);

/**
 * The listing of @p dir, fresh (fetched by one thread, others wait until
 * their deadline; an expired listing is served when the refresh fails).
 * @param[out] out a reference (tree_listing_put()); only on success
 * @return 0, -ENOTDIR, or the listing's error (never -ENOENT: a failing
 *         listing is -EIO)
 */
int tree_listed(struct tree *t, struct node *dir, uint64_t deadline,
		struct tree_listing **out);

/** List several directories at once (those not fresh, in parallel). */
int tree_list_many(struct tree *t, struct node **dirs, size_t n,
		   uint64_t deadline);

struct tree_listing *tree_listing_get(struct tree_listing *l);
void tree_listing_put(struct tree_listing *l);
const struct tree_ent *tree_listing_find(const struct tree_listing *l,
					 const char *name);
const struct tree_ent *tree_listing_by_ino(const struct tree_listing *l,
					   uint64_t ino);

/**
 * Path of a node from the mount point, through the directories it was
 * listed in ("projects/p/d/i.tif"; "" for the root).
 * @return 0, -ENAMETOOLONG, -ENOENT (not reachable from the root)
 */
int tree_path(struct tree *t, const struct node *n, char *out, size_t outsz);

/** Add an entry to a listing being built (takes name and data, also on
 * failure). @return 0 or -ENOMEM */
int tree_build_add(struct tree_build *b, enum tree_kind kind, uint64_t ino,
		   char *name, uint16_t stem, void *data);
/** The entry just added, to set size, mtime, sized. */
struct tree_bent *tree_build_last(struct tree_build *b);

/** Free what a build still holds (names, data not taken by nodes). */
void tree_build_release(struct tree_build *b);

/**
 * Run fn(arg) on a worker thread (at most TREE_WORKERS at once; a queue
 * behind them). Jobs not started when the tree is freed are dropped
 * with cancel(arg).
 * @return 0 or -ENOMEM (nothing was queued)
 */
int tree_job_start(struct tree *t, void (*fn)(void *arg),
		   void (*cancel)(void *arg), void *arg);

/** An attribute to a set being built (copies name and value). */
void tree_xattr_add(struct tree_xattrs *x, const char *name, const char *value);
void tree_xattr_addf(struct tree_xattrs *x, const char *name, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));
void tree_xattrs_release(struct tree_xattrs *x);

/** 56-bit FNV-1a of a kind, a parent inode and a salt, as an inode. */
uint64_t tree_hash_ino(enum tree_kind kind, uint64_t parent, const char *salt,
		       size_t len);

/* ---- the archive (tree_archive.c) ---- */

/** Kind data of archive containers (projects/, project .. well). */
struct arch {
	int64_t id;
	char *name;	     /* the archive's own name; NULL for the tops */
	int64_t child_count; /* datasets: images announced, -1 unknown */
	bool rows_letters, columns_letters; /* plates */
	int64_t date;	 /* the study's release date (s); 0: none */
	int64_t *fields; /* wells: field image ids, as the plate lists them */
	size_t nfields;
	/* where it sits, for the Zarr locator (locate.h): the name of its
	 * project or screen (datasets, plates, wells; heap), and for wells
	 * their plate and place in it */
	char *study;
	int64_t plate;
	int32_t row, column;
};

/** Kind data of images. */
struct pixsrc_image;

/* The views of an image's pixels, each with its own open source. */
enum arch_view {
	ARCH_TIF = 0, /* <stem>.tif or .rendered.tif */
	ARCH_OME_TIF, /* <stem>.ome.tif */
	ARCH_ZARR,    /* zarr/.../<stem>.zarr/ */
	ARCH_VIEWS
};

/* The open pixel source of one of an image's files (t->img_lock). */
struct arch_pix {
	struct pixsrc_image *pix;
	unsigned opens;
	bool opening;
};

/* An image: the data of its .tif node and of its .ome.tif node (shared,
 * counted: both come from one listing). */
struct arch_image {
	atomic_uint refs;
	struct api_image img;
	bool rendered; /* only rendered: <stem>.rendered.tif */
	bool has_ome;  /* raw, with a usable geometry: <stem>.ome.tif */
	int64_t date;  /* mtime when the image has no acquisition date */
	/* the Zarr group the locator found (heap), or NULL: img.zarr_lsid
	 * (ExternalInfo), none, or a fileset-rule image not yet opened,
	 * whose first open sets it (once) */
	_Atomic(char *) zarr;
	/* the fileset rule without a URL yet: where the image sits (its
	 * group in a plate's Zarr) */
	bool fileset;
	int64_t plate;
	int32_t row, column, field;
	char *why; /* the rule that decided (user.idr.source_why; heap) */
	/* t->img_lock */
	struct arch_pix pix[ARCH_VIEWS]; /* by enum arch_view */
	struct arch_kvset *kvs;		 /* NULL: not fetched */
	uint64_t kvs_at;
};

/** Key/value pairs of an image: immutable, reference-counted. */
struct arch_kvset {
	atomic_uint refs;
	size_t n;
	struct api_kv *kvs;
};

void arch_kvset_put(struct arch_kvset *s);

/**
 * THE naming of a directory's entries. Each entry has a stem (safe, cut
 * to leave room for its extension and suffixes) and an extension; stems
 * and whole names that repeat, and whole names that are @p reserved (a
 * NULL-terminated list), get " (<id>)" appended to the stem, all members
 * of a group alike, until every name and stem is unique (so the result
 * does not depend on the order the server sent).
 */
struct tree_name {
	char stem[TREE_NAME_MAX + 1];
	const char *ext;   /* static: "", ".tif", ".rendered.tif" */
	uint64_t ome_size; /* images: its .ome.tif's size, 0 none */
	int64_t id;
	bool dropped; /* still not unique after every round: left out */
};
void tree_names_unique(struct tree_name *v, size_t n,
		       const char *const *reserved);

/**
 * The stem of an archive object's name: made safe, a trailing
 * .tif/.tiff/.ome.tif/.ome.tiff dropped (images), a leading '.' made
 * '_' (visible), cut at a UTF-8 boundary to TREE_STEM_MAX bytes.
 * @param[out] out TREE_NAME_MAX + 1 bytes
 */
size_t tree_object_stem(const char *name, bool image, char *out);

/** Longest stem before suffixes: room for ".rendered.tif" and two
 * " (<id>)". */
#define TREE_STEM_MAX (TREE_NAME_MAX - 13u - 2u * 22u)

/** File extension of an image. */
const char *arch_image_ext(const struct arch_image *im);

/**
 * The archive children of a container node (projects/ .. a well):
 * fetched through the api, named by tree_names_unique() with @p reserved
 * kept free, added to @p b. mtimes: acquisition date, else the study's
 * release date, else TREE_EPOCH.
 */
int arch_list(struct tree *t, struct node *dir, const char *const *reserved,
	      uint64_t deadline, struct tree_build *b);

/** The study's release date of a container (0: none), and whether a
 * node is an archive container. */
int64_t arch_date(const struct node *n);
bool arch_is_container(enum tree_kind kind);
/** The .tif (.rendered.tif) or the .ome.tif of an image. */
bool arch_is_image_file(enum tree_kind kind);

/**
 * Take a reference on an image's open source for @p view, opening it if
 * none is (one opener, the others wait until @p deadline). @p size, if
 * not NULL, is the size the file was listed with: a source of another
 * size is refused (-EIO, logged with @p n's path).
 * @return 0 (*out valid until arch_pix_drop()), or pixsrc's error
 */
int arch_pix_take(struct tree *t, struct node *n, struct arch_image *im,
		  enum arch_view view, const uint64_t *size, uint64_t deadline,
		  struct pixsrc_image **out);
/** Let go of a reference arch_pix_take() gave. */
void arch_pix_drop(struct tree *t, struct arch_image *im, enum arch_view view);

/** Where an image lives, as a search hit says (0: not said). */
struct arch_where {
	bool screen;
	int64_t study;	   /* project or screen */
	int64_t container; /* dataset or plate */
	int64_t well;	   /* screens; 0: find it from the plate */
	int64_t image;
};

/** A located image: its canonical path and node (NULL: not found). */
struct arch_place {
	char *path; /* heap, from the mount point */
	size_t name_off;
	size_t stem_len; /* of the file name at path + name_off */
	struct node *node;
};

/**
 * Find the canonical path of each image: from the listings of its study,
 * container (and well), the only source of names. Costs one request per
 * listing not fresh (wells in parallel), never one per image. Images
 * whose study or container is not listed keep path NULL (logged once).
 * @param[out] out n places, in the order of @p w (arch_places_free())
 */
int arch_locate(struct tree *t, const struct arch_where *w, size_t n,
		uint64_t deadline, struct arch_place **out);
void arch_places_free(struct arch_place *p, size_t n);

/** The name of a study as projects/ or screens/ shows it. */
int arch_study_name(struct tree *t, bool screen, int64_t id, uint64_t deadline,
		    char *out, size_t outsz, struct node **node);

/**
 * Make sure the images have their key/values (those not fresh, in
 * batches of about 500 per request, ids sorted so that the URLs are the
 * same at every build and the metadata cache answers them).
 */
int arch_fetch_kvs(struct tree *t, struct node **imgs, size_t n,
		   uint64_t deadline);

/** An image's key/values (a reference), or NULL if not fetched; @p fresh
 * (may be NULL): within the TTL. */
struct arch_kvset *arch_kvs_of(struct tree *t, struct node *img, bool *fresh);

/** The free op of containers' kind data. */
void arch_free(void *data);

/** The extended attributes of an archive container or image. */
int arch_xattrs(struct tree *t, struct node *n, bool with_kv, uint64_t deadline,
		struct tree_xattrs *out);

/** Key/value pairs of a study (its study/info annotation). */
int arch_study_kvs(struct tree *t, struct node *study, uint64_t deadline,
		   struct api_kv **kvs, size_t *n, char **name);

/* ---- generated files (tree_gen.c), for tree_views.c ---- */

struct gen_row {
	char *path; /* heap */
	struct node *img;
	struct arch_kvset *kvs; /* a reference, or NULL: the image's */
};

struct gen_rows {
	struct gen_row *v;
	size_t n, cap;
};

int gen_rows_add(struct gen_rows *r, char *path, struct node *img,
		 struct arch_kvset *kvs);
void gen_rows_release(struct gen_rows *r);

/** Rows of a term's images.tsv (tree_views.c gives them). */
typedef int (*gen_rows_fn)(struct tree *t, struct node *owner,
			   uint64_t deadline, struct gen_rows *out);

/**
 * Add the generated file @p name (TREE_TSV_NAME or TREE_STUDY_NAME) of
 * @p owner to a listing; rows: how a term's rows are found (NULL for
 * archive containers).
 */
int gen_add_file(struct tree *t, struct node *owner, const char *name,
		 gen_rows_fn rows, struct tree_build *b);

/** The node of a generated file of @p owner, made if needed. */
int gen_file_node(struct tree *t, struct node *owner, const char *name,
		  gen_rows_fn rows, struct node **out);

/** The root's fixed files (README.txt, .idrfs). */
int gen_add_root_files(struct tree *t, struct tree_build *b);

/** A text made once (README.txt): its length, then its bytes. */
struct gen_text {
	size_t len;
	char text[];
};

/* ---- originals/ (tree_orig.c), for tree_views.c ---- */

int orig_add_root(struct tree *t, struct tree_build *b);
/** zarr/: the same mirror, with an OME-Zarr view per raw image. */
int orig_add_zarr_root(struct tree *t, struct tree_build *b);

/** A mirror's attributes: those of the archive node it shows. */
int orig_mirror_xattrs(struct tree *t, struct node *n, bool with_kv,
		       uint64_t deadline, struct tree_xattrs *x);

/** A mirror directory (originals/, zarr/): the archive node it shows. */
struct tree_mirror {
	uint64_t arch; /* inode of the archive container or image */
};

#endif
