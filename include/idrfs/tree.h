/* SPDX-License-Identifier: MIT */
/*
 * tree: the namespace of the mount. One archive model names every object
 * once (safe, unique, shell-friendly names); every view of it asks that
 * model, so a symlink always leads where the tree has the file.
 *
 *   /README.txt
 *   /projects/<project>/<dataset>/<image>.tif
 *   /screens/<screen>/<plate>/<well>/field-<n>.tif
 *   /originals/projects/<project>/<dataset>/<image>/...  original files
 *   /originals/screens/<screen>/<plate>/<well>/field-<n>/...
 *   /by-<menu>/<term>/<study>/<image>.tif  symlinks to the paths above
 *   images.tsv in every container and term; study.txt in every study
 *   /.idrfs/stats, stats.json
 *
 * Inode numbers and mtimes derive from what an object is, so they are the
 * same across remounts; nothing takes the mount time. Generated files are
 * built in the background and kept in the metadata cache.
 *
 * Limits: nodes live until tree_free() (memory grows with what was browsed,
 * not with the archive); a listing is fetched whole; an image's pixel
 * source is open while some file handle has it open. Under originals/,
 * paths more than TREE_ORIG_DEPTH_MAX levels deep or longer than
 * TREE_ORIG_PATH_MAX bytes are left out (by the api, logged with the
 * URL). An image shows the first TREE_KV_MAX of its key/value pairs (as
 * extended attributes and in images.tsv), and listxattr stops before
 * XATTR_LIST_MAX (64 KiB), the most the kernel takes.
 * Thread-safe; no lock is held across a request (src/tree_int.h has the
 * lock discipline).
 */
#ifndef IDRFS_TREE_H
#define IDRFS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "idrfs/api.h"
#include "idrfs/cache.h"
#include "idrfs/pixsrc.h"

#define TREE_ROOT_INO 1u
#define TREE_NAME_MAX 255u
/** Levels and bytes of a path below an image's originals/ directory: the
 * api's rule (api_original_files() leaves longer paths out). */
#define TREE_ORIG_DEPTH_MAX API_ORIG_DEPTH_MAX
#define TREE_ORIG_PATH_MAX  API_ORIG_PATH_MAX
/** Key/value pairs of one image the tree keeps. */
#define TREE_KV_MAX 1024u
/** The most listxattr gives (the kernel's XATTR_LIST_MAX). */
#define TREE_XATTR_LIST_MAX 65536u

struct tree;
struct tree_listing;
struct search;

struct tree_config {
	const char *remote_url;	    /* shown in README.txt (copied) */
	unsigned ttl_s;		    /* listing TTL */
	unsigned build_timeout_s;   /* deadline of a background build of a
				     * generated file; 0: 300 */
	struct pixsrc *pixsrc;	    /* borrowed; NULL: image reads give EIO */
	struct cache *cache;	    /* borrowed; NULL: generated files are
				     * not kept across remounts */
	const char *originals_root; /* download root of original files */
	/* .idrfs/stats: write the counters as text or JSON into buf;
	 * returns the length */
	size_t (*stats)(void *ctx, bool json, char *buf, size_t size);
	void *stats_ctx;
	struct search *search; /* borrowed; NULL: no by-* menus */
	struct locate *locate; /* borrowed; NULL: Zarr from ExternalInfo
				* only (locate.h) */
};

struct tree_attr {
	uint64_t ino;
	bool is_dir;
	bool is_link; /* a symlink (size: its target's length) */
	bool lazy;    /* a file whose size is known once built (images.tsv):
		       * readdirplus must not hand these attributes out */
	bool live;    /* content changes (.idrfs/stats): no caching, read
		       * with direct I/O */
	uint64_t size;
	uint32_t nlink;
	int64_t mtime;
};

struct tree_dirent {
	const char *name; /* owned by the snapshot */
	struct tree_attr attr;
};

/** A snapshot of a directory, for readdir. */
struct tree_dir {
	size_t n;
	struct tree_dirent *ents;
	bool no_cache; /* soon to change (the root before the by-* menus
			* are known): the kernel must not keep it */
	struct tree_listing *list; /* what the names point into */
};

/**
 * @param[in] api borrowed; must outlive the tree
 * @param[out] out written only on success
 * @return 0 or -ENOMEM
 */
int tree_new(struct api *api, const struct tree_config *cfg, struct tree **out);

/**
 * The path, from the mount's root, of the file of image @p image_id (its
 * .tif, or .rendered.tif), for a tool given bare ids (idrfs-warmup): its
 * dataset and that dataset's project asked of the API (two requests, kept
 * like any answer), then named by the listings as the tree names it.
 * @param[out] out heap, on success only
 * @return 0, -ENOENT (in no dataset, as an image of a plate is; or not
 *         in its dataset's listing), -ENOMEM, or a listing error
 */
int tree_image_path(struct tree *t, int64_t image_id, uint64_t deadline,
		    char **out);

/** Free the tree; waits for background builds (each has a deadline). */
void tree_free(struct tree *t);

/**
 * Find @p name in directory @p parent, listing it first if needed, and
 * count one lookup of the result (FUSE semantics). A generated file is
 * built first, so its size is right.
 * @return 0, -ENOENT (no such name: never for a failure), -ENOTDIR,
 *         -ENAMETOOLONG, -EAGAIN (a generated file still being built
 *         in the background), or a listing error (-EIO, -ETIMEDOUT,
 *         -EBADMSG, ...)
 */
int tree_lookup(struct tree *t, uint64_t parent, const char *name,
		uint64_t deadline, struct tree_attr *out);

/** Drop @p n lookups of @p ino. */
void tree_forget(struct tree *t, uint64_t ino, uint64_t n);

/** Count one more lookup (readdirplus hands out entries). */
void tree_ref(struct tree *t, uint64_t ino);

/** @return 0 or -ENOENT (unknown inode). No request: a generated file
 *  not built yet has attr.lazy set. */
int tree_getattr(struct tree *t, uint64_t ino, struct tree_attr *out);

/**
 * Attributes for stat: as tree_getattr(), but a generated file is built
 * first when it is not fresh, so its size is right.
 * @return 0, -ENOENT, -EAGAIN, or the build's error (-EIO, -EFBIG...)
 */
int tree_stat(struct tree *t, uint64_t ino, uint64_t deadline,
	      struct tree_attr *out);

/**
 * Target of a symlink (relative, e.g. "../../../projects/p/d/i.tif").
 * @param[out] out heap string, only on success
 * @return 0, -ENOENT, -EINVAL (not a symlink), -ENOMEM
 */
int tree_readlink(struct tree *t, uint64_t ino, char **out);

/**
 * Extended attributes (user.idr.*). Images: id, url, source, dims,
 * pixel_type, originals, and kv.<key> per key/value annotation (fetched
 * with those of the image's whole dataset or well: one request per ~500
 * images). Archive directories: id, url, type (studies: their study
 * annotation as kv.*). Other nodes have none.
 * @param[out] out,len heap buffer (names NUL-terminated one after the
 *             other; or the value), only on success
 * @return 0, -ENODATA (no such attribute), -ENOENT, or a request error
 */
int tree_listxattr(struct tree *t, uint64_t ino, uint64_t deadline, char **out,
		   size_t *len);
int tree_getxattr(struct tree *t, uint64_t ino, const char *name,
		  uint64_t deadline, char **out, size_t *len);

/**
 * Snapshot a directory's entries (listing it if needed or expired; an
 * expired listing is served stale if the refresh fails).
 * @param[out] out heap snapshot, free with tree_dir_free()
 * @return 0, -ENOENT, -ENOTDIR, or a listing error
 */
int tree_opendir(struct tree *t, uint64_t ino, uint64_t deadline,
		 struct tree_dir **out);
void tree_dir_free(struct tree_dir *d);

/**
 * Open a file for reading: for an image, open its pixel source (a few
 * metadata requests) unless another handle already has; for a live file,
 * take a snapshot of its content.
 * @param[out] fh the handle to pass to tree_read() and tree_release()
 * @return 0, -EISDIR, -ENOENT, -EAGAIN, or a pixsrc_open() error
 */
int tree_open(struct tree *t, uint64_t ino, uint64_t deadline, uint64_t *fh);

/** Close what tree_open() opened. */
void tree_release(struct tree *t, uint64_t ino, uint64_t fh);

/**
 * Read a file (opened with tree_open()).
 * @return bytes read (0 at EOF), -EISDIR, -ENOENT, -EINVAL (a symlink),
 *         -EIO (image not open), or a pixsrc_read() error
 */
ssize_t tree_read(struct tree *t, uint64_t ino, uint64_t fh, uint64_t off,
		  size_t len, char *buf, uint64_t deadline);

/** Nodes known, for statfs. */
uint64_t tree_node_count(struct tree *t);

/**
 * Make a name safe for a directory entry: no '/', NUL or control
 * characters (each becomes '_'), invalid UTF-8 bytes become '_', "." and
 * ".." become "_" and "__", an empty name becomes "unnamed", and the
 * result is cut at a UTF-8 boundary to @p max bytes.
 * @param[out] out at least max+1 bytes
 * @return length written
 */
size_t tree_sanitize_name(const char *in, char *out, size_t max);

/** Label of a well: "A01" for row 0, column 0 with letter rows. */
void tree_well_name(int32_t row, int32_t column, bool rows_letters,
		    bool columns_letters, char *out, size_t outsz);

#endif
