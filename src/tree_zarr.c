/* SPDX-License-Identifier: MIT */
/*
 * tree_zarr: an image's OME-Zarr view, zarr/.../<stem>.zarr/ (the mirror
 * around it is tree_orig.c's). An OME-NGFF 0.4 group of Zarr v2 arrays,
 * one per level of the source's pyramid:
 *
 *   <stem>.zarr/.zgroup  .zattrs
 *   <stem>.zarr/<L>/.zarray
 *   <stem>.zarr/<L>/<t>/<c>/<z>/<y>/<x>      one file per chunk
 *
 * 5-D t, c, z, y, x whatever the source's axes (missing ones have size
 * 1), chunks of the source's stored unit (a shard for sharded v3), dtype
 * as stored but little-endian, compressor null: a chunk file is a decoded
 * chunk of the chunk table, byte for byte, so it comes from the same
 * memory and persistent cache as the .tif's pixels and costs no encoding.
 * Uncompressed rather than re-encoded: the cache keeps decoded chunks
 * (zstd-compressed in LMDB), so serving them as they are costs a memcpy,
 * and a reader on the same machine gains nothing from compression.
 *
 * The view's metadata (the source's .zattrs, every level's array,
 * imgData) is asked when <stem>.zarr/ is first listed or looked into, and
 * its JSON is made then, once: the files' sizes and bytes never change.
 * Nothing is asked for an image until its own directory is used, so a
 * walk of projects/ never pays for the views.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idrfs/log.h"
#include "idrfs/pixsrc.h"

#include "tree_int.h"

/* Entries of one chunk-index directory: a grid axis of 2^20 chunks is
 * more than any image (1024-pixel chunks of a 2^30-pixel axis). */
#define ZV_MAX_ENTRIES (1u << 20)
#define ZV_PATH_MAX    4096u

/* What a view's nodes share: its texts and grid, made once. */
struct zview {
	atomic_uint refs;
	uint64_t image; /* inode of the image's .tif */
	int64_t mtime;
	size_t nlevels;
	struct zarr_view_level lv[ZARR_MAX_LEVELS];
	uint64_t chunk_bytes[ZARR_MAX_LEVELS]; /* a chunk file's size */
	char *zattrs, *zarray[ZARR_MAX_LEVELS];
	size_t zattrs_len, zarray_len[ZARR_MAX_LEVELS];
};

/* A directory or file of a view. */
struct znode {
	struct zview *zv;
	unsigned level;
	unsigned depth;	  /* directories: indices fixed so far (0-5) */
	uint64_t idx[5];  /* t, c, z, y, x */
	const char *text; /* a JSON file (in zv), or NULL: a chunk */
	size_t text_len;
};

static const char zgroup[] = "{\n \"zarr_format\": 2\n}\n";

static void zview_put(struct zview *zv)
{
	if (!zv || atomic_fetch_sub(&zv->refs, 1) != 1)
		return;
	free(zv->zattrs);
	for (size_t l = 0; l < zv->nlevels; l++)
		free(zv->zarray[l]);
	free(zv);
}

static void znode_free(void *data)
{
	struct znode *z = data;

	if (z)
		zview_put(z->zv);
	free(z);
}

static uint64_t grid(const struct zview *zv, unsigned lvl, unsigned d)
{
	const struct zarr_view_level *l = &zv->lv[lvl];

	return (l->shape[d] + l->chunks[d] - 1) / l->chunks[d];
}

/* The image (its .tif node's data) a view shows, or NULL. */
static struct arch_image *image_of(struct tree *t, uint64_t ino)
{
	struct node *n = tree_node_find(t, ino);

	return n && n->kind == TREE_K_IMAGE ? n->data : NULL;
}

/* Make a view's shared part from its open source. */
static int zview_make(struct pixsrc_image *pix, uint64_t image, int64_t mtime,
		      struct zview **out)
{
	struct zview *zv = calloc(1, sizeof(*zv));
	struct zarr_view v;
	int rc;

	if (!zv)
		return -ENOMEM;
	atomic_init(&zv->refs, 1);
	pixsrc_zview(pix, &v);
	zv->image = image;
	zv->mtime = mtime;
	zv->nlevels = v.nlevels;
	memcpy(zv->lv, v.lv, sizeof(zv->lv));
	for (unsigned l = 0; l < v.nlevels; l++)
		zv->chunk_bytes[l] = zarr_view_chunk_bytes(&v, l);
	rc = api_zview_zattrs(&v, &zv->zattrs, &zv->zattrs_len);
	for (unsigned l = 0; rc == 0 && l < v.nlevels; l++)
		rc = api_zview_zarray(&v, l, &zv->zarray[l],
				      &zv->zarray_len[l]);
	if (rc < 0) {
		zview_put(zv);
		return rc;
	}
	*out = zv;
	return 0;
}

/* Add one entry of a view: a directory (text NULL, not a chunk), a JSON
 * file or a chunk file (chunk). */
static int add(struct tree_build *b, struct zview *zv, const struct znode *at,
	       const char *name, bool dir, const char *text, size_t text_len,
	       uint64_t size)
{
	struct znode *z = calloc(1, sizeof(*z));
	char salt[160];
	int n, rc;

	if (!z)
		return -ENOMEM;
	*z = *at;
	z->zv = zv;
	z->text = text;
	z->text_len = text_len;
	atomic_fetch_add(&zv->refs, 1);
	/* what the node is: its path in the view */
	n = snprintf(salt, sizeof(salt),
		     "%u/%u/%" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRIu64
		     "/%" PRIu64 "/%s",
		     z->level, z->depth, z->idx[0], z->idx[1], z->idx[2],
		     z->idx[3], z->idx[4], name);
	rc = tree_build_add(b, dir ? TREE_K_ZDIR : TREE_K_ZFILE,
			    tree_hash_ino(dir ? TREE_K_ZDIR : TREE_K_ZFILE,
					  zv->image, salt, (size_t)n),
			    strdup(name), 0, z);
	if (rc == 0) {
		tree_build_last(b)->mtime = zv->mtime;
		tree_build_last(b)->size = dir ? 0 : text ? text_len : size;
	}
	return rc;
}

static int zimage_list(struct tree *t, struct node *dir, uint64_t deadline,
		       struct tree_build *b)
{
	const struct tree_mirror *m = dir->data;
	struct arch_image *im = m ? image_of(t, m->arch) : NULL;
	struct pixsrc_image *pix = NULL;
	struct zview *zv = NULL;
	struct znode top = {0};
	int64_t mtime = 0;
	int rc;

	if (!im)
		return -EIO; /* internal: views come from image listings */
	tree_node_get(t, dir, NULL, &mtime);
	rc = arch_pix_take(t, dir, im, ARCH_ZARR, NULL, deadline, &pix);
	if (rc < 0)
		return rc; /* logged where it failed */
	rc = zview_make(pix, m->arch, mtime, &zv);
	arch_pix_drop(t, im, ARCH_ZARR);
	if (rc < 0)
		return rc;
	rc = add(b, zv, &top, ".zgroup", false, zgroup, sizeof(zgroup) - 1, 0);
	if (rc == 0)
		rc = add(b, zv, &top, ".zattrs", false, zv->zattrs,
			 zv->zattrs_len, 0);
	for (unsigned l = 0; rc == 0 && l < zv->nlevels; l++) {
		char name[16];

		snprintf(name, sizeof(name), "%u", l);
		top.level = l;
		rc = add(b, zv, &top, name, true, NULL, 0, 0);
	}
	zview_put(zv);
	return rc;
}

static int zdir_list(struct tree *t, struct node *dir, uint64_t deadline,
		     struct tree_build *b)
{
	const struct znode *z = dir->data;
	struct zview *zv;
	struct znode at;
	uint64_t n;
	char esc[ZV_PATH_MAX], path[ZV_PATH_MAX];
	int rc = 0;

	(void)deadline;
	if (!z || z->depth >= 5)
		return -EIO;
	zv = z->zv;
	n = grid(zv, z->level, z->depth);
	if (n > ZV_MAX_ENTRIES) {
		if (tree_path(t, dir, path, sizeof(path)) < 0)
			snprintf(path, sizeof(path), "a zarr/ view");
		log_error(LOG_C_TREE,
			  "'%s': %" PRIu64 " chunks along one axis: more than "
			  "a directory lists (%u)",
			  log_escape(path, esc, sizeof(esc)), n,
			  ZV_MAX_ENTRIES);
		return -EFBIG;
	}
	at = *z;
	if (z->depth == 0)
		rc = add(b, zv, &at, ".zarray", false, zv->zarray[z->level],
			 zv->zarray_len[z->level], 0);
	at.depth = z->depth + 1;
	for (uint64_t i = 0; rc == 0 && i < n; i++) {
		char name[24];

		snprintf(name, sizeof(name), "%" PRIu64, i);
		at.idx[z->depth] = i;
		/* the last axis (x) holds the chunk files */
		rc = add(b, zv, &at, name, z->depth < 4, NULL, 0,
			 zv->chunk_bytes[z->level]);
	}
	return rc;
}

const struct tree_ops tree_zimage_ops = {
	.type = TREE_T_DIR,
	.fixed = true,
	.list = zimage_list,
	.xattrs = orig_mirror_xattrs,
	.free = free, /* a struct tree_mirror */
};

const struct tree_ops tree_zdir_ops = {
	.type = TREE_T_DIR,
	.fixed = true,
	.list = zdir_list,
	.free = znode_free,
};

/* ---- files ---- */

static int zfile_open(struct tree *t, struct node *n, uint64_t deadline,
		      void **fh)
{
	const struct znode *z = n->data;
	struct arch_image *im;
	struct pixsrc_image *pix = NULL;

	(void)fh;
	if (!z || z->text)
		return 0;
	im = image_of(t, z->zv->image);
	if (!im)
		return -EIO;
	return arch_pix_take(t, n, im, ARCH_ZARR, NULL, deadline, &pix);
}

static void zfile_release(struct tree *t, struct node *n, void *fh)
{
	const struct znode *z = n->data;
	struct arch_image *im;

	(void)fh;
	if (!z || z->text)
		return;
	im = image_of(t, z->zv->image);
	if (im)
		arch_pix_drop(t, im, ARCH_ZARR);
}

static ssize_t zfile_read(struct tree *t, struct node *n, void *fh,
			  uint64_t off, size_t len, char *buf,
			  uint64_t deadline)
{
	const struct znode *z = n->data;
	struct arch_image *im;
	struct pixsrc_image *pix;

	(void)fh;
	if (!z)
		return -EIO;
	if (z->text) {
		if (off >= z->text_len)
			return 0;
		if (len > z->text_len - off)
			len = (size_t)(z->text_len - off);
		memcpy(buf, z->text + off, len);
		return (ssize_t)len;
	}
	im = image_of(t, z->zv->image);
	pthread_mutex_lock(&t->img_lock);
	/* valid until the last handle closes, after this read */
	pix = im ? im->pix[ARCH_ZARR].pix : NULL;
	pthread_mutex_unlock(&t->img_lock);
	if (!pix)
		return -EIO;
	return pixsrc_zview_read(pix, z->level, z->idx, off, len,
				 (uint8_t *)buf, deadline);
}

const struct tree_ops tree_zfile_ops = {
	.type = TREE_T_FILE,
	.open = zfile_open,
	.read = zfile_read,
	.release = zfile_release,
	.free = znode_free,
};
