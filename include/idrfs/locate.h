/* SPDX-License-Identifier: MIT */
/*
 * locate: where an image's OME-Zarr is, when the archive does not say.
 * The public IDR sets no ExternalInfo yet (idr-api.md 6.4), but keeps its
 * Zarr copies under per-study prefixes (.../v0.4/idr0062A/6001240.zarr)
 * and lists some of them in catalogues (ome-ngff-samples table.csv,
 * download_urls.tsv). No single rule covers every study, so a chain of
 * rules is tried per image, first answer wins. What the user set up
 * comes before what the archive says (as -o zarr_url= always overrode
 * ExternalInfo: a mirror, a local copy), and an exact entry before a
 * pattern (v0.5 names hold no image id: no pattern finds them):
 *
 *   1. a catalogue entry for the image's id (-o zarr_catalog=URL|FILE);
 *   2. a template (-o zarr_url=T1|T2...) with {id}, {study}, {letter},
 *      {plate}, {row}, {column}, {field}: trusted for a container of a
 *      study (a dataset or a plate) once one request (the .zattrs, else
 *      zarr.json, of the first image asked) found a multiscales group
 *      there, and taken as finding nothing there after 3 images probed
 *      without one (the images probed without one stay without one).
 *      The answer is kept per container for the TTL (in memory and in
 *      the metadata cache, so a remount asks again only after the TTL).
 *      Per container, not per study: IDR studies are converted whole,
 *      but a study may hold a dataset of images that are not (the
 *      fake's rendered-only dataset), and the answer must not depend on
 *      which dataset is listed first. A template with {plate} serves
 *      plates' images only;
 *   3. ExternalInfo (the image's own Lsid), the archive's word;
 *   4. a fileset that is itself a Zarr (converted "mkngff" filesets,
 *      bioformats2raw output): the image's original_file_paths name a
 *      *.zarr directory; the image's group in it (a plate's
 *      <row>/<column>/<field>, a bioformats2raw <series>, else the root:
 *      the one holding a level-0 array) is read on the download root
 *      (-o originals_root=). Trusted per container like a template:
 *      the first image's paths and its group's .zattrs decide, up to 3
 *      images; the other images of a container found so learn their
 *      group when first opened (locate_fileset(): one request each, kept
 *      by the metadata cache), so a listing costs no request per image;
 *   5. none: the image is rendered, and the answer says which option
 *      would have found raw pixels.
 *
 * Every rule costs no request per image: the catalogue is read once
 * (a URL through the transport, kept in the metadata cache), a template
 * is probed once per study. A probe that fails for a reason other than
 * "not there" (timeout, 5xx, no network) decides nothing: the call fails
 * with that error, and an answer older than the TTL is used if there is
 * one.
 *
 * Limits: a catalogue maps image ids only (fileset ids would need one
 * request per image to learn each image's fileset); a catalogue row of a
 * plate (its Wells column set) names no image and is skipped. A
 * container whose first image's fileset is a Zarr is taken as converted
 * whole (IDR converts studies whole): an image of it whose fileset turns
 * out not to be one fails its open (EIO, logged), not the listing.
 */
#ifndef IDRFS_LOCATE_H
#define IDRFS_LOCATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idrfs/api.h"
#include "idrfs/cache.h"

#define LOCATE_URL_MAX 2048
#define LOCATE_WHY_MAX 256
/** Templates in one zarr_url= option, separated by '|'. */
#define LOCATE_TEMPLATES_MAX 8
/** Caps on a catalogue: its bytes, one line, columns, entries. */
#define LOCATE_CAT_MAX_BODY (64u << 20)
#define LOCATE_CAT_LINE_MAX (64u << 10)
#define LOCATE_CAT_COLS_MAX 256u
#define LOCATE_CAT_MAX_ROWS 20000000u

struct locate_config {
	struct api_transport tr;    /* probes and a catalogue URL */
	struct cache *cache;	    /* borrowed; NULL: answers not kept */
	unsigned ttl_s;		    /* how long an answer holds; 0: a day */
	const char *zarr_url;	    /* templates separated by '|', or NULL */
	const char *catalogue;	    /* http(s) URL, or a file path; or NULL */
	const char *s3_scheme;	    /* for s3:// URLs in a catalogue */
	struct api *api;	    /* borrowed; NULL: no fileset rule */
	const char *originals_root; /* download root of client paths */
};

/** Where an image sits, as the tree knows it (no request). */
struct locate_ctx {
	const char *study; /* its project's or screen's name, or NULL */
	int64_t container; /* its dataset's or plate's id; 0: none */
	int64_t plate;	   /* its plate's id; 0: not a plate's image */
	int32_t row;	   /* plate images: 0-based row, column, field */
	int32_t column;
	int32_t field;
};

enum locate_rule {
	LOCATE_EXTERNALINFO,
	LOCATE_CATALOGUE,
	LOCATE_TEMPLATE,
	LOCATE_FILESET,
	LOCATE_NONE,
};

struct locate_answer {
	enum locate_rule rule;
	char url[LOCATE_URL_MAX]; /* the Zarr group, no trailing slash
				   * (catalogue, template; fileset: the
				   * image probed); else "": ExternalInfo,
				   * or locate_fileset() when opened */
	char why[LOCATE_WHY_MAX]; /* the rule in words (user.idr.source_why) */
};

struct locate;

/**
 * @param[out] out written only on success
 * @return 0, -ENOMEM, -EINVAL (a template that locate_templates_check()
 *         refuses; a catalogue file that does not parse, logged)
 * @note A catalogue file is read here; a URL on first use.
 */
int locate_new(const struct locate_config *cfg, struct locate **out);
void locate_free(struct locate *l);

/**
 * Find the Zarr of an image by the chain above.
 * @param[in] ctx may be NULL (no study known)
 * @param[out] out always written when 0 is returned
 * @return 0 (also for LOCATE_NONE), or the error of a probe or of the
 *         catalogue's fetch that decided nothing (-ETIMEDOUT, -EIO,
 *         -ECONNREFUSED, -ENETDOWN, ...), -ENOMEM
 * @note Thread-safe. Costs a request only for a study not yet known (one
 *       or two per template) and for the catalogue's first fetch;
 *       concurrent callers of one study share one probe.
 */
int locate_image(struct locate *l, const struct api_image *img,
		 const struct locate_ctx *ctx, uint64_t deadline,
		 struct locate_answer *out);

/**
 * The Zarr group URL of an image whose fileset is a Zarr (rule 4), asked
 * now: its original_file_paths (one request; the metadata cache keeps
 * it), its group by locate_fileset_group(), on the download root.
 * @return 0, -ENOENT (no fileset rule, or the fileset is no Zarr or holds
 *         no group for the image), -ENAMETOOLONG, or the request's error
 */
int locate_fileset(struct locate *l, const struct api_image *img,
		   const struct locate_ctx *ctx, uint64_t deadline, char *url,
		   size_t urlsz);

/** Requests made for probes since locate_new(). */
uint64_t locate_probes(const struct locate *l);

/* ---- parts, public for the tests and opts ---- */

/**
 * The study ("idr0062") and its experiment or screen letter ("A") of a
 * project or screen name such as "idr0062-blin-nuclearsegmentation/
 * experimentA". Either is "" when the name does not say.
 */
void locate_study_of(const char *name, char study[8], char letter[3]);

/** What a template's placeholders are replaced with; NULL or <0: none. */
struct locate_vars {
	int64_t id;
	const char *study, *letter; /* "" or NULL: unknown */
	int64_t plate;		    /* 0: unknown */
	int32_t row, column, field; /* -1: unknown */
};

/**
 * Expand one template (up to its end or a '|').
 * @return the length written, -ENOENT (a placeholder has no value),
 *         -EINVAL (an unknown placeholder), -ENAMETOOLONG
 */
int locate_expand(const char *tmpl, size_t len, const struct locate_vars *v,
		  char *out, size_t outsz);

/**
 * Check a zarr_url= value: 1..LOCATE_TEMPLATES_MAX templates separated by
 * '|', each an http(s) URL with only known placeholders.
 * @param[out] msg why not (one line), when -EINVAL is returned
 */
int locate_templates_check(const char *tmpls, char *msg, size_t msgsz);

/**
 * The client path of an image's group in a fileset that is a Zarr: below
 * the first *.zarr directory of @p paths (Zarr metadata files), the
 * plate field <row>/<column>/<field> of @p v (plates), else <series>,
 * else the root: the first that holds a level-0 array (0/.zarray or
 * 0/zarr.json), failing that the first that is a group (.zattrs,
 * zarr.json).
 * @return 0, -ENOENT (none), -ENAMETOOLONG
 */
int locate_fileset_group(const char *const *paths, size_t n,
			 const struct locate_vars *v, int32_t series, char *out,
			 size_t outsz);

struct locate_cat;

/**
 * Parse a catalogue: CSV or TSV (the header line decides: a TAB makes it
 * TSV), columns found by their header names: the image id in
 * "Representative Image ID", "image_id", "Image ID", "Image" or "id"; the
 * URL in "zarr_url", "url", "File Path", "EMBL-EBI bucket (current)",
 * "EMBL-EBI S3 key", "external_info" or "client_path" (the first of them
 * that holds a usable URL; a relative client_path is made a URL with
 * replace_this/with_this); "Thumbnail" (table.csv: the image group of a
 * bioformats2raw store) when it lies inside the row's URL; "is_zarr"
 * False and "Wells" set skip a row; "OME-NGFF version" chooses between
 * rows of one image (the highest). Rows that do not parse are skipped and
 * counted. Nothing in it is trusted: sizes are capped (LOCATE_CAT_*).
 * @param[out] out written only on success (locate_cat_free())
 * @return 0, -EBADMSG (no id or no URL column: not a catalogue), -EFBIG
 *         (over a cap), -ENOMEM
 */
int locate_cat_parse(const char *body, size_t len, const char *s3_scheme,
		     struct locate_cat **out);
void locate_cat_free(struct locate_cat *c);
/** The Zarr group URL of an image, or NULL. @note owned by @p c. */
const char *locate_cat_find(const struct locate_cat *c, int64_t id);
/** Entries, and rows skipped as unusable. */
size_t locate_cat_size(const struct locate_cat *c, size_t *skipped);

#endif
