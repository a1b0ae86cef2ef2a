/* SPDX-License-Identifier: MIT */
/*
 * tree: the namespace of the mount. Nodes, names made safe and unique,
 * inode numbers derived from what an object is (so the same object has the
 * same inode across remounts), lookup counts, attributes, and directory
 * listings fetched through the api with a TTL.
 *
 *   /README.txt
 *   /projects/<project>/<dataset>/<image>.tif
 *   /screens/<screen>/<plate>/<well>/field-<n>.tif
 *   <image>.originals/...  beside each image: its fileset's files
 *   /by-<menu>/<term>/<study>/<image>.tif  symlinks to the paths above
 *   images.tsv in every container and term; study.txt in every study
 *
 * Limits: nodes live until tree_free() (memory grows with what was browsed,
 * not with the archive); a listing is fetched whole; an image's pixel
 * source is open while some file handle has it open. In <image>.originals,
 * files more than TREE_ORIG_DEPTH_MAX levels deep (directories and the
 * file) or with a path longer than TREE_ORIG_PATH_MAX bytes are left out
 * (logged with their URL), and
 * a fileset of more than TREE_ORIG_ENTRIES_MAX files and directories is
 * not listed (-EFBIG). An image shows the first TREE_KV_MAX of its
 * key/value pairs (as extended attributes and in images.tsv), and
 * listxattr stops before XATTR_LIST_MAX (64 KiB), the most the kernel
 * takes.
 * Thread-safe: one mutex, never held across api calls nor for work that
 * grows faster than the entries being installed; every wait for another
 * thread's request ends at the operation's deadline (-ETIMEDOUT).
 */
#ifndef IDRFS_TREE_H
#define IDRFS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "idrfs/api.h"
#include "idrfs/pixsrc.h"

#define TREE_ROOT_INO	1u
#define TREE_NAME_MAX	255u
#define TREE_STATS_SIZE 4096u
/** Levels and bytes of a path below <image>.originals: the api's rule
 * (api_original_files() leaves longer paths out). */
#define TREE_ORIG_DEPTH_MAX API_ORIG_DEPTH_MAX
#define TREE_ORIG_PATH_MAX  API_ORIG_PATH_MAX
/** Files and directories of one image's originals. */
#define TREE_ORIG_ENTRIES_MAX 262144u
/** Key/value pairs of one image the tree keeps. */
#define TREE_KV_MAX 1024u

struct tree;
struct search;

struct tree_config {
	const char *remote_url;	    /* shown in README.txt (copied) */
	unsigned ttl_s;		    /* listing TTL */
	int64_t mount_time;	    /* seconds since the epoch, dirs' mtime */
	struct pixsrc *pixsrc;	    /* borrowed; NULL: image reads give EIO */
	const char *originals_root; /* download root of original files */
	/* .idrfs/stats: write the counters as text or JSON into buf;
	 * returns the length (the tree pads it to TREE_STATS_SIZE) */
	size_t (*stats)(void *ctx, bool json, char *buf, size_t size);
	void *stats_ctx;
	struct search *search; /* borrowed; NULL: no by-* menus */
};

struct tree_attr {
	uint64_t ino;
	bool is_dir;
	bool is_link; /* a symlink (size: its target's length) */
	bool lazy;    /* a file built on stat whose size is not known yet:
		       * readdirplus must not hand these attributes out */
	bool live;    /* content changes (.idrfs/stats): no caching */
	uint64_t size;
	uint32_t nlink;
	int64_t mtime;
};

struct tree_dirent {
	char *name;
	struct tree_attr attr;
};

/** A snapshot of a directory, for readdir. */
struct tree_dir {
	size_t n;
	struct tree_dirent *ents;
	bool no_cache; /* soon to change (the root before the by-* menus
			* are known): the kernel must not keep it */
};

/**
 * @param[in] api borrowed; must outlive the tree
 * @param[out] out written only on success
 * @return 0 or -ENOMEM
 */
int tree_new(struct api *api, const struct tree_config *cfg, struct tree **out);
void tree_free(struct tree *t);

/**
 * Find @p name in directory @p parent, listing it first if needed, and
 * count one lookup of the result (FUSE semantics).
 * @return 0, -ENOENT, -ENOTDIR, -ENAMETOOLONG, or a listing error
 *         (-EIO, -ETIMEDOUT, -EBADMSG, ...)
 */
int tree_lookup(struct tree *t, uint64_t parent, const char *name,
		uint64_t deadline, struct tree_attr *out);

/** Drop @p n lookups of @p ino. */
void tree_forget(struct tree *t, uint64_t ino, uint64_t n);

/** Count one more lookup (readdirplus hands out entries). */
void tree_ref(struct tree *t, uint64_t ino);

/** @return 0 or -ENOENT (unknown inode). No request: a lazy file not
 *  built yet has attr.lazy set. */
int tree_getattr(struct tree *t, uint64_t ino, struct tree_attr *out);

/**
 * Attributes for stat: as tree_getattr(), but a lazy file (images.tsv,
 * study.txt) is built first when it is not fresh, so its size is right.
 * @return 0, -ENOENT, or the build's error (-EIO, -ETIMEDOUT, -EFBIG...)
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
 * Extended attributes. Images have user.idr.id, .url, .source, .dims,
 * .pixel_type and user.idr.kv.<key> per key/value annotation (fetched on
 * first use: one request); other nodes have none.
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
 * metadata requests) unless another handle already has.
 * @return 0, -EISDIR, -ENOENT, or a pixsrc_open() error
 */
int tree_open(struct tree *t, uint64_t ino, uint64_t deadline);

/** Close what tree_open() opened. */
void tree_release(struct tree *t, uint64_t ino);

/**
 * Read a file (images: opened with tree_open()).
 * @return bytes read (0 at EOF), -EISDIR, -ENOENT, -EBADF (image not
 *         open), or a pixsrc_read() error
 */
ssize_t tree_read(struct tree *t, uint64_t ino, uint64_t off, size_t len,
		  char *buf, uint64_t deadline);

/** Nodes known, for statfs. */
uint64_t tree_node_count(struct tree *t);

/**
 * Make an archive name safe for a directory entry: no '/', NUL or control
 * characters (each becomes '_'), invalid UTF-8 bytes become '_', "." and
 * ".." get a '_' prefix, an empty name becomes "unnamed", and the result
 * is cut at a UTF-8 boundary to @p max bytes.
 * @param[out] out at least max+1 bytes
 * @return length written
 */
size_t tree_sanitize_name(const char *in, char *out, size_t max);

/** Label of a well: "A01" for row 0, column 0 with letter rows. */
void tree_well_name(int32_t row, int32_t column, bool rows_letters,
		    bool columns_letters, char *out, size_t outsz);

#endif
