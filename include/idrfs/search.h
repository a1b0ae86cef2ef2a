/* SPDX-License-Identifier: MIT */
/*
 * search: the archive's curated annotations as ontology menus (phenotype,
 * gene, organism, cell line, compound, antibody, siRNA, protein), through
 * IDR's search engine (/searchengine/api/v1/resources/...) or, on servers
 * that still run it, mapr's JSON API. It finds which backend the remote
 * has, lists the terms of a menu, looks a term up, and lists its images
 * with where they live. It knows nothing of names or inodes (tree does).
 *
 * Limits: detection happens on first use, never at mount; a failed one
 * decides nothing and is retried at the next use after a backoff
 * (retry_ms doubling to retry_max_ms); term spellings and labels come from one
 * page of each term's images, and only for menus of at most probe_max
 * terms (larger menus keep the engine's lower-cased values); a term's
 * image list is capped at SEARCH_MAX_HITS. All requests go through the
 * api's transport. Thread-safe; no lock is held during a request.
 */
#ifndef IDRFS_SEARCH_H
#define IDRFS_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idrfs/api.h"

struct cache;

#define SEARCH_NMENUS 8
/** Images of one term at most (a bigger term is -EFBIG). */
#define SEARCH_MAX_HITS 100000u
/** Menus up to this many terms get their spellings and labels probed. */
#define SEARCH_PROBE_MAX 256u
/** Wait after a failed detection before trying again; it doubles with
 * each failure in a row, up to SEARCH_RETRY_MAX_MS, and a success ends
 * it. */
#define SEARCH_RETRY_MS	    1000u
#define SEARCH_RETRY_MAX_MS 4000u

enum search_backend {
	SEARCH_AUTO = 0, /* detect: search engine, else mapr, else none */
	SEARCH_ENGINE,
	SEARCH_MAPR,
	SEARCH_NONE,
};

struct search_config {
	enum search_backend backend; /* AUTO, or the one to use */
	unsigned retry_ms;	     /* SEARCH_RETRY_MS if 0 */
	unsigned retry_max_ms;	     /* SEARCH_RETRY_MAX_MS if 0 */
	unsigned probe_max;	     /* SEARCH_PROBE_MAX if 0 */
	struct cache *cache;	     /* keeps terms' spellings; NULL: none */
	unsigned ttl_s;		     /* how long they are kept */
};

struct search;

/**
 * @param[in] api borrowed; must outlive the search
 * @param[out] out written only on success
 * @return 0 or -ENOMEM
 */
int search_new(struct api *api, const struct search_config *cfg,
	       struct search **out);
void search_free(struct search *s);

/**
 * Parse an -o ontology= word: "auto", "searchengine", "mapr", "none".
 * @return 0 or -EINVAL
 */
int search_backend_parse(const char *word, enum search_backend *out);

/** Directory name of a menu: "by-phenotype", ... @p menu < SEARCH_NMENUS */
const char *search_menu_dir(unsigned menu);

/** The annotation key a menu's terms are values of ("Gene Symbol"). */
const char *search_menu_key(unsigned menu);

/** Whether a menu's terms have labels ("<label> [<accession>]"). */
bool search_menu_labelled(unsigned menu);

/**
 * Detect the backend (once) and tell which menus the remote's
 * annotations have. Only a definite answer decides: the engine's keys; a
 * 404 or 403 from the engine, then mapr's config, or IDR's 302 from mapr
 * to /searchengine/apidocs/. A failure (5xx, 429, a reset, a timeout, a
 * bad body, any other redirect) is retried at the next call once its
 * backoff (retry_ms, doubling per failure in a row, to retry_max_ms) has
 * passed.
 * @param[out] mask bit m set: menu m is present (0 with no backend)
 * @return 0; -EAGAIN (the last detection failed and its backoff has not
 *         passed: no request made); or the error of this detection
 *         (-ETIMEDOUT, -EIO, -EPROTO, -EBADMSG; -ENOENT when the backend
 *         asked for with -o ontology= is not there), logged
 */
int search_detect(struct search *s, uint64_t deadline, unsigned *mask);

/** The backend in use; SEARCH_AUTO while not detected. */
enum search_backend search_backend_of(struct search *s);

struct search_term {
	char *value;   /* the value to query, spelled as in the annotations
			* when known (search engine: else lower-cased) */
	char *label;   /* labelled menus: the term's name, or NULL */
	int64_t count; /* images with it (key/value entries), -1 unknown */
};

void search_term_release(struct search_term *t);
void search_terms_free(struct search_term *v, size_t n);

/**
 * The terms of a menu, in no particular order, distinct values.
 * Search engine: 1 request, plus one per term (in parallel) for menus of
 * at most probe_max terms. mapr: 1 request for menus it can list (the
 * others list nothing), plus one per term for labelled menus.
 * @return 0, -ENOENT (no such menu here), or a request/answer error
 */
int search_terms(struct search *s, unsigned menu, uint64_t deadline,
		 struct search_term **out, size_t *n);

/**
 * Look a term up by value (the search engine ignores case, mapr does
 * not). One request, two for labelled menus with mapr.
 * @param[out] out value as given, label, count; only on success
 * @return 0, -ENOENT (no image has it), or a request/answer error
 */
int search_term_find(struct search *s, unsigned menu, const char *value,
		     uint64_t deadline, struct search_term *out);

/**
 * The images of a term, with their containers: search engine pages of
 * 1000 (bookmarks: one request per page, in turn), or mapr's screens and
 * projects, then plates and datasets, then their images (one request per
 * container and page). mapr hits have no key/values and no well.
 * @param[out] out,n written only on success (api_hits_free())
 * @return 0, -EFBIG (more than SEARCH_MAX_HITS), -ENOENT (no backend),
 *         or a request/answer error (-EIO for the engine's own errors,
 *         -EBADMSG for HTML or malformed JSON, -ETIMEDOUT)
 */
int search_images(struct search *s, unsigned menu, const char *value,
		  uint64_t deadline, struct api_hit **out, size_t *n);

#endif
