/* SPDX-License-Identifier: MIT */
/*
 * tree_int: what tree.c (the archive's own hierarchy) and tree_view.c (the
 * ontology menus, images.tsv, study.txt, symlinks and extended attributes)
 * share: the node graph, its lock, and the few helpers both use. Private
 * to the tree module.
 */
#ifndef IDRFS_TREE_INT_H
#define IDRFS_TREE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "idrfs/api.h"
#include "idrfs/search.h"
#include "idrfs/tree.h"

enum tree_kind {
	TREE_K_ROOT = 0,
	TREE_K_README,
	TREE_K_PROJECTS,
	TREE_K_SCREENS,
	TREE_K_PROJECT,
	TREE_K_DATASET,
	TREE_K_SCREEN,
	TREE_K_PLATE,
	TREE_K_WELL,
	TREE_K_IMAGE,
	TREE_K_ORIGDIR,	 /* <image>.originals, id = image id */
	TREE_K_ORIGSUB,	 /* a directory inside it */
	TREE_K_ORIGFILE, /* an original file */
	/* tree_view.c; ids are 56-bit hashes unless noted */
	TREE_K_MENU,	 /* by-<menu>, id = menu number */
	TREE_K_TERM,	 /* a term of a menu */
	TREE_K_TSTUDY,	 /* a study inside a term */
	TREE_K_LINK,	 /* a symlink to an image's canonical path */
	TREE_K_TSV,	 /* images.tsv of a container or term */
	TREE_K_STUDYTXT, /* study.txt of a project or screen */
	TREE_K_STATSDIR, /* .idrfs */
	TREE_K_STATS,	 /* .idrfs/stats (id 0) and stats.json (id 1) */
};

#define TREE_ID_BITS	    56
#define TREE_ID_MAX	    ((1ull << TREE_ID_BITS) - 1)
#define TREE_INO(kind, id)  (((uint64_t)(kind) << TREE_ID_BITS) | (uint64_t)(id))
#define TREE_README_INO	    2u
#define TREE_PROJECTS_INO   3u
#define TREE_SCREENS_INO    4u
#define TREE_STATSDIR_INO   5u
#define TREE_STATS_INO	    6u
#define TREE_STATSJSON_INO  7u
#define TREE_SUFFIX_RESERVE 24u	  /* " [" + 20 digits + "]" + NUL */
#define TREE_LOG_PATH	    1024u /* a node's path in a log line, escaped */

struct ent {
	char *name;
	struct node *node;
};

struct view; /* tree_view.c */

struct node {
	uint64_t ino;
	enum tree_kind kind;
	int64_t id;
	uint64_t nlookup;
	struct node *hnext;

	/* files */
	uint64_t size;
	int64_t mtime;
	struct api_image img;	  /* images: what the listing said */
	struct pixsrc_image *pix; /* open pixel source, or NULL */
	char *url;		  /* original files: where they are */
	unsigned opens;		  /* file handles open on it */
	bool pix_loading;

	/* plates: well naming */
	bool rows_letters;
	bool columns_letters;
	/* datasets: images the parent's listing announced (childCount); 0
	 * or -1 when it did not say */
	int64_t child_count;

	/* directories */
	struct ent *ents; /* sorted by name */
	size_t nents;
	uint64_t listed_at; /* http_now_ms(); 0: never listed */
	bool loading;

	/* the directory whose listing last named it (log lines); NULL for
	 * the root */
	struct node *up;

	/* tree_view.c */
	struct node *parent; /* containers: the directory listing them */
	bool rendered;	     /* images: shown as .rendered.tif */
	struct api_kv *kvs;  /* images: their key/values, once fetched */
	size_t nkvs;
	uint64_t kvs_at;      /* http_now_ms() of that fetch; 0: never */
	int64_t *field_ids;   /* wells: the field images the plate listed */
	bool *field_rendered; /* wells: and whether each is rendered */
	size_t nfields;
	struct view *view; /* view nodes: what they show */
};

struct tree {
	struct api *api;
	struct pixsrc *pixsrc;
	struct search *search; /* NULL: no ontology menus */
	char *originals_root;
	uint64_t ttl_ms;
	int64_t mount_time;
	char *readme;
	size_t readme_len;
	size_t (*stats)(void *ctx, bool json, char *buf, size_t size);
	void *stats_ctx;

	/* lock protects every node field and the table; lock order: only
	 * this lock, never held across an api call */
	pthread_mutex_t lock;
	pthread_cond_t load_cond;
	struct node **buckets;
	size_t nbuckets;
	size_t nnodes;
	bool menus_added; /* the by-* directories are in the root */
};

/* ---- tree_names.c (no lock needed unless noted) ---- */

/* An entry of a listing being named (tree_names_unique). */
struct tree_uname {
	const char *base; /* made safe (tree_sanitize_name), without ext */
	const char *ext;  /* "" or the extension (".tif") */
	const char *tag;  /* the suffix's text: "123" for " [123]" */
	uint64_t order;	  /* unique per entry: orders equal names and tags */
	char *name;	  /* out: heap, unique in the directory */
};

/**
 * Name every entry of a directory uniquely and unlike any of @p reserved
 * (the files the tree adds there), whatever the server sent; the result
 * depends only on the set of entries (see tree_names.c).
 * @return 0 (every v[i].name set), -ENOMEM or -EIO (none set)
 */
int tree_names_unique(struct tree_uname *v, size_t n,
		      const char *const *reserved, size_t nres);

/** Length of s[0..len) cut to at most max bytes on a UTF-8 boundary. */
size_t tree_utf8_cut(const char *s, size_t len, size_t max);

/** "dataset", "image"...: what a kind of node is, for log lines. */
const char *tree_kind_name(enum tree_kind kind);

/**
 * The path of a node from the mount point ("/projects/p/d/i.tif"), as the
 * listings that lead to it name it, escaped for a log line (t->lock held).
 * @param[out] out at least TREE_LOG_PATH bytes are enough
 * @return out
 */
char *tree_log_path(const struct node *n, char *out, size_t outsz);

/* ---- tree.c, for tree_view.c (t->lock held unless noted) ---- */

struct node *tree_node_find(struct tree *t, uint64_t ino);
struct node *tree_node_get(struct tree *t, enum tree_kind kind, uint64_t ino,
			   int64_t id);
int tree_ent_cmp(const void *a, const void *b);
void tree_ents_free(struct ent *e, size_t n);

/** Make sure dir has a fresh listing; drops the lock while fetching. */
int tree_ensure_listed(struct tree *t, struct node *dir, uint64_t deadline);

/** List every well of @p wells lacking a fresh listing, in one parallel
 * round; drops the lock while fetching. */
int tree_list_wells(struct tree *t, struct node **wells, size_t n,
		    uint64_t deadline);

/** Wait on load_cond until @p deadline; -ETIMEDOUT when it passed. */
int tree_wait(struct tree *t, uint64_t deadline);

/* ---- tree_view.c: the by-* menus ---- */

/** What a view node shows (menus, terms, studies, links, lazy files). */
struct view {
	unsigned menu;	      /* MENU, TERM */
	char *value;	      /* TERM: the value queried */
	char *label;	      /* TERM: its label, or NULL */
	struct api_hit *hits; /* TERM: its images, from its listing */
	size_t nhits;
	struct node *owner; /* TSTUDY: the term; TSV, STUDYTXT: the dir */
	bool screen;	    /* TSTUDY: a screen (else a project) */
	int64_t study;	    /* TSTUDY: the screen or project id */
	char *target;	    /* LINK: relative path to the image */
	char *text;	    /* TSV, STUDYTXT: the content */
	size_t len;
	struct ent *found; /* MENU: terms found by lookup only; sorted */
	size_t nfound;
};

/** The view data of a node, allocated on first use; NULL if out of memory. */
struct view *tree_view_of(struct node *n);

/** Inode of a view node: kind, parent inode and a salt, hashed. */
uint64_t tree_view_ino(enum tree_kind kind, uint64_t parent, const char *salt);

/** Kinds listed by tree_view_list(). */
bool tree_view_is_dir(enum tree_kind kind);

/**
 * The listing step of ensure_listed for view directories: fetch (lock
 * dropped) and install. dir->loading is set by the caller.
 */
int tree_view_list(struct tree *t, struct node *dir, uint64_t deadline);

/**
 * The root's by-* directories: detect the backend if that is due, add
 * what it has. Cheap once done; errors are logged, the root stays usable.
 * @return 0 (the menus are known), -EIO (detection failed, now or within
 *         its backoff), -ETIMEDOUT, ...
 */
int tree_view_root(struct tree *t, struct node *root, uint64_t deadline);

/**
 * A name a directory's listing lacks: in the root, after detection; in a
 * menu, a term looked up on demand. May drop the lock.
 * @return 0 with *out, -ENOENT, or a request error
 */
int tree_view_lookup(struct tree *t, struct node *dir, const char *name,
		     uint64_t deadline, struct node **out);

/** Free what tree_view.c and tree_files.c hang on a node. */
void tree_view_node_free(struct node *n);

/* An image to be placed at its canonical path. */
struct tree_place {
	int64_t id;
	const char *name; /* borrowed from the caller */
	bool screen;
	int64_t study;	   /* project or screen id */
	int64_t container; /* dataset or plate id */
	char *path;	   /* from the mount point; NULL: not found */
	bool rendered;
	struct node *well; /* screen images: the well */
	size_t hit;	   /* index in the caller's hits */
};

/**
 * The images of a term (all, or those of one study), each with its
 * canonical path from the listings of its study and container.
 * @param[out] out,nout places (tree_view_places_free()); hits,nhits a deep
 *             copy of the term's hits the places' names point into
 *             (api_hits_free()); all only on success
 */
int tree_view_term_places(struct tree *t, struct node *term, bool want_screen,
			  int64_t want_study, bool all, uint64_t deadline,
			  struct tree_place **out, size_t *nout,
			  struct api_hit **hits, size_t *nhits);
void tree_view_places_free(struct tree_place *p, size_t n);

/* ---- tree_orig.c: <image>.originals ---- */

/** An originals tree built without the lock. */
struct tree_orig;

/** Inode of a path inside an image's originals: a 56-bit hash. */
uint64_t tree_orig_ino(enum tree_kind kind, int64_t image, const char *path,
		       size_t len);

/**
 * Build every directory of an image's originals from its files (no lock
 * held; no recursion). Paths over the caps are left out and logged.
 * @param[in] files borrowed until tree_orig_free()
 * @param[in] what the directory's path, for log lines
 * @return 0, -ENOMEM, -EFBIG (more than TREE_ORIG_ENTRIES_MAX entries)
 */
int tree_orig_build(int64_t image, const struct api_file *files, size_t n,
		    const char *what, struct tree_orig **out);

/** Install a built tree as dir's listing and its subdirectories'
 * (t->lock held): one node lookup per entry, nothing more. */
int tree_orig_install(struct tree *t, struct node *dir, struct tree_orig *o);
void tree_orig_free(struct tree_orig *o);

/* ---- tree_files.c: images.tsv, study.txt, extended attributes ---- */

/** Kinds built on lookup, stat or open (images.tsv, study.txt). */
bool tree_files_is_lazy(enum tree_kind kind);

/** Whether a lazy file's content (and so its size) is fresh. */
bool tree_files_fresh(const struct tree *t, const struct node *n);

/** Build a lazy file if it is not fresh. May drop the lock. */
int tree_files_build(struct tree *t, struct node *n, uint64_t deadline);

/** Copy from a lazy file's content (takes the lock). */
ssize_t tree_files_read(struct tree *t, struct node *n, uint64_t off,
			size_t len, char *buf);

/**
 * The names of the files the tree adds to a directory of @p kind
 * (images.tsv, study.txt), which its children must not take.
 * @param[out] names room for TREE_FILES_MAX
 * @return how many
 */
#define TREE_FILES_MAX 2u
size_t tree_files_names(enum tree_kind kind, const char **names);

/**
 * Add the files every container has (images.tsv; study.txt in studies)
 * to a listing being installed (ents: *n entries, room for 2 more).
 */
int tree_files_container(struct tree *t, struct node *dir, struct ent *ents,
			 size_t *n);

#endif
