/* SPDX-License-Identifier: MIT */
/*
 * search: ontology menus over IDR's search engine or mapr.
 *
 * Backends. IDR switched mapr's JSON off in Nov 2024 (its URLs redirect to
 * an HTML page) and answers key/value queries from the search engine
 * (idr-api.md 7, idr-searchengine.md). Detection asks the engine for its
 * image keys; a 404 or 403 there means "no engine", and then mapr's config
 * plus one real mapr URL decide between mapr and none (IDR answers that
 * URL with a 302 to /searchengine/apidocs/). Anything else, a 5xx, a
 * reset, HTML, a bad body or another redirect, decides nothing: it is
 * retried at the next use, after a backoff that doubles per failure.
 * After detection, a 404 from the backend is a failure (-EIO), never "no
 * such term": only an answer listing nothing says that.
 *
 * Terms. A menu's terms are the values of one key (phenotypes: the CMPO
 * accession, labelled by "Phenotype Term Name"). The engine lists values
 * lower-cased (searchvaluesusingkey aggregates on a lowercase keyword), so
 * for menus small enough the first page of each term's images is fetched
 * and the value is spelled as the most images spell it, and labelled by
 * the label-key value that most images carrying the term have; the engine
 * flattens all of an image's map annotations into one list, ordered by
 * position inside each annotation, so with several phenotypes per image
 * only that vote (and, when it ties, the grouped annotations of one image)
 * can pair a label with its accession.
 *
 * Images. Engine pages hold 1000 images and chain by bookmark (the last
 * id), so pages come one after the other. mapr goes screens/projects ->
 * plates/datasets -> images, one parallel round per level. Every hit the
 * engine returns is checked to carry key = value itself (ignoring case),
 * which also lets values with '"' (the engine answers 500 for them with
 * "equals") be searched with "contains" and filtered here.
 */
#include "config.h"

#include "idrfs/search.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "idrfs/cache.h"
#include "idrfs/http.h"
#include "idrfs/log.h"

#define SE_PATH	      "/searchengine/api/v1/resources/"
#define SEARCH_URL    4096
#define PROBE_BATCH   8u
#define MAPR_PAGE     500
#define MAPR_BATCH    32u
#define SEARCH_DET_MS 10000u

static const struct menu_def {
	const char *dir;
	const char *key;       /* search engine key of the terms */
	const char *label_key; /* key of their labels, or NULL */
	const char *mapr;      /* mapr menu */
} menus[SEARCH_NMENUS] = {
	{"by-antibody", "Antibody Identifier", "Antibody Name", "antibody"},
	{"by-cell-line", "Cell Line", NULL, "cellline"},
	{"by-compound", "Compound Name", NULL, "compound"},
	{"by-gene", "Gene Symbol", NULL, "gene"},
	{"by-organism", "Organism", NULL, "organism"},
	{"by-phenotype", "Phenotype Term Accession", "Phenotype Term Name",
	 "phenotype"},
	{"by-protein", "Protein", NULL, "protein"},
	{"by-sirna", "siRNA Identifier", NULL, "sirna"},
};

struct search {
	struct api *api;
	enum search_backend want;
	unsigned retry_ms;
	unsigned probe_max;
	struct cache *cache; /* spellings kept (NULL: none) */
	unsigned ttl_s;

	/* lock protects the fields below; never held across a request */
	pthread_mutex_t lock;
	enum search_backend backend; /* SEARCH_AUTO: not detected yet */
	unsigned mask;
	bool wildcard[SEARCH_NMENUS]; /* mapr: the menu lists its values */
	unsigned fails;		      /* failed detections in a row */
	uint64_t retry_at;	      /* http_now_ms(): none before */
	unsigned retry_max_ms;
};

int search_new(struct api *api, const struct search_config *cfg,
	       struct search **out)
{
	struct search *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->api = api;
	s->want = cfg->backend;
	s->retry_ms = cfg->retry_ms ? cfg->retry_ms : SEARCH_RETRY_MS;
	s->retry_max_ms =
		cfg->retry_max_ms ? cfg->retry_max_ms : SEARCH_RETRY_MAX_MS;
	if (s->retry_max_ms < s->retry_ms)
		s->retry_max_ms = s->retry_ms;
	s->probe_max = cfg->probe_max ? cfg->probe_max : SEARCH_PROBE_MAX;
	s->cache = cfg->cache;
	s->ttl_s = cfg->ttl_s;
	s->backend = SEARCH_AUTO;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

void search_free(struct search *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

int search_backend_parse(const char *word, enum search_backend *out)
{
	static const struct {
		const char *word;
		enum search_backend b;
	} words[] = {
		{"auto", SEARCH_AUTO},
		{"searchengine", SEARCH_ENGINE},
		{"mapr", SEARCH_MAPR},
		{"none", SEARCH_NONE},
	};

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcmp(word, words[i].word) == 0) {
			*out = words[i].b;
			return 0;
		}
	}
	return -EINVAL;
}

const char *search_menu_dir(unsigned menu)
{
	return menu < SEARCH_NMENUS ? menus[menu].dir : "";
}

const char *search_menu_key(unsigned menu)
{
	return menu < SEARCH_NMENUS ? menus[menu].key : "";
}

bool search_menu_labelled(unsigned menu)
{
	return menu < SEARCH_NMENUS && menus[menu].label_key != NULL;
}

enum search_backend search_backend_of(struct search *s)
{
	enum search_backend b;

	pthread_mutex_lock(&s->lock);
	b = s->backend;
	pthread_mutex_unlock(&s->lock);
	return b;
}

void search_term_release(struct search_term *t)
{
	if (!t)
		return;
	free(t->value);
	free(t->label);
	t->value = NULL;
	t->label = NULL;
}

void search_terms_free(struct search_term *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		search_term_release(&v[i]);
	free(v);
}

/* ---- requests ---- */

/*
 * IDR's "no mapr": since Nov 2024 its proxy answers every /mapr/api/ URL
 * but the config with a 302 to /searchengine/apidocs/ (idr-api.md 7.1).
 * r is a request get_probe() made, which keeps status and location.
 */
static bool mapr_redirected(const struct http_req *r)
{
	static const char target[] = "/searchengine/apidocs/";
	size_t l = strlen(r->location), tl = sizeof(target) - 1;

	return r->status == 302 && l >= tl &&
	       strcmp(r->location + l - tl, target) == 0;
}

/* GET one JSON answer, mapped by accept (an api_accept_*) into arg: only
 * an answer it takes is kept (fetch.h). With @p mapr_302 non-NULL, it
 * says whether the answer was IDR's redirect of mapr to the search
 * engine's documentation (idr-api.md): the one redirect that means "no
 * mapr"; any other redirect is a fault. */
static int get_probe(struct search *s, const char *url, uint64_t deadline,
		     http_accept_fn accept, void *arg, bool *mapr_302)
{
	struct http_req r = {.url = url,
			     .max_body = API_MAX_BODY,
			     .accept = accept,
			     .accept_arg = arg};
	int rc = api_fetch(s->api, &r, 1, deadline);

	if (mapr_302)
		*mapr_302 = mapr_redirected(&r);
	http_req_release(&r);
	return rc;
}

static int get(struct search *s, const char *url, uint64_t deadline,
	       http_accept_fn accept, void *arg)
{
	return get_probe(s, url, deadline, accept, arg, NULL);
}

/* get() once the backend is known to be there: a 404 is then a fault,
 * never "no such term" (that is an answer listing nothing). */
static int get_answer(struct search *s, const char *url, uint64_t deadline,
		      http_accept_fn accept, void *arg)
{
	int rc = get(s, url, deadline, accept, arg);

	return rc == -ENOENT ? -EIO : rc; /* the 404 is logged (http) */
}

/* printf into a URL buffer of SEARCH_URL bytes. */
static int __attribute__((format(printf, 2, 3)))
url_printf(char *url, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(url, SEARCH_URL, fmt, ap);
	va_end(ap);
	return n < 0 || n >= SEARCH_URL ? -ENAMETOOLONG : 0;
}

/* The engine's image search URL for key = value after bookmark (-1:
 * first page). Values the engine cannot take with "equals" (a quote, a
 * backslash) are asked with "contains" and filtered by the caller. */
static int search_url(struct search *s, const char *key, const char *value,
		      int64_t bookmark, char *url)
{
	char ek[512], ev[1024], bm[32] = "";
	bool odd = strpbrk(value, "\"\\") != NULL;
	int rc;

	rc = api_url_escape(key, ek, sizeof(ek));
	if (rc == 0)
		rc = api_url_escape(value, ev, sizeof(ev));
	if (rc < 0)
		return rc;
	if (bookmark >= 0)
		snprintf(bm, sizeof(bm), "&bookmark=%" PRId64, bookmark);
	return url_printf(url, "%s" SE_PATH "image/search/?key=%s&value=%s%s%s",
			  api_base_url(s->api), ek, ev,
			  odd ? "&operator=contains" : "", bm);
}

/*
 * Whether an answer at detection says "this backend is not here". Only the
 * server saying so counts: 404/410 (-ENOENT), 401/403 (-EACCES), and
 * IDR's own answer for mapr (mapr_redirected). A 5xx, a 429, a reset, a
 * stall, a truncated or malformed body, HTML where JSON was expected or
 * any other redirect (a redirect loop, a captive portal) is a failure:
 * it decides nothing, and detection is tried again (search_detect).
 */
static bool absent(int rc)
{
	return rc == -ENOENT || rc == -EACCES;
}

/* ---- detection ---- */

static int detect_engine(struct search *s, uint64_t deadline, unsigned *mask)
{
	char url[SEARCH_URL];
	struct api_answer_list ans = {NULL, 0, NULL};
	char **keys;
	size_t n;
	int rc;

	rc = url_printf(url, "%s" SE_PATH "image/keys/", api_base_url(s->api));
	if (rc == 0)
		rc = get(s, url, deadline, api_accept_se_keys, &ans);
	if (rc < 0)
		return rc;
	keys = ans.v;
	n = ans.n;
	*mask = 0;
	for (unsigned m = 0; m < SEARCH_NMENUS; m++) {
		for (size_t i = 0; i < n; i++) {
			if (strcmp(keys[i], menus[m].key) == 0)
				*mask |= 1u << m;
		}
	}
	api_strings_free(keys, n);
	return 0;
}

/* mapr's menus; -ENOENT when the remote says it has no mapr. */
static int detect_mapr(struct search *s, uint64_t deadline, unsigned *mask,
		       bool *wildcard)
{
	char url[SEARCH_URL];
	struct api_answer_list ans = {NULL, 0, NULL};
	struct api_mapr_menu *cfg;
	bool redirected = false;
	size_t n;
	int rc;

	rc = url_printf(url, "%s/mapr/api/config/", api_base_url(s->api));
	if (rc == 0)
		rc = get(s, url, deadline, api_accept_mapr_config, &ans);
	if (rc < 0)
		return rc;
	cfg = ans.v;
	n = ans.n;
	*mask = 0;
	for (unsigned m = 0; m < SEARCH_NMENUS; m++) {
		for (size_t i = 0; i < n; i++) {
			if (strcmp(cfg[i].name, menus[m].mapr) == 0) {
				*mask |= 1u << m;
				wildcard[m] = cfg[i].wildcard;
			}
		}
	}
	api_mapr_menus_free(cfg, n);
	if (*mask == 0)
		return 0;
	/* IDR still serves the config but redirects the rest to a page */
	for (unsigned m = 0; m < SEARCH_NMENUS; m++) {
		if (!(*mask & (1u << m)))
			continue;
		rc = url_printf(url, "%s/mapr/api/%s/count/",
				api_base_url(s->api), menus[m].mapr);
		if (rc == 0)
			rc = get_probe(s, url, deadline, api_accept_json, NULL,
				       &redirected);
		if (rc == -EPROTO && redirected)
			rc = -ENOENT;
		break;
	}
	return rc;
}

static int detect(struct search *s, uint64_t deadline, enum search_backend *b,
		  unsigned *mask, bool *wildcard)
{
	int rc;

	*mask = 0;
	if (s->want == SEARCH_NONE) {
		*b = SEARCH_NONE;
		return 0;
	}
	if (s->want == SEARCH_ENGINE || s->want == SEARCH_AUTO) {
		rc = detect_engine(s, deadline, mask);
		if (rc == 0) {
			*b = SEARCH_ENGINE;
			return 0;
		}
		if (s->want == SEARCH_ENGINE || !absent(rc))
			return rc;
	}
	rc = detect_mapr(s, deadline, mask, wildcard);
	if (rc == 0) {
		*b = SEARCH_MAPR;
		return 0;
	}
	/* the backend asked for is not there: an error (logged), tried
	 * again like a failure */
	if (s->want == SEARCH_MAPR || !absent(rc))
		return rc;
	*mask = 0;
	*b = SEARCH_NONE;
	return 0;
}

int search_detect(struct search *s, uint64_t deadline, unsigned *mask)
{
	static const char *const names[] = {"auto", "the search engine", "mapr",
					    "none"};
	enum search_backend b = SEARCH_NONE;
	bool wildcard[SEARCH_NMENUS] = {false};
	unsigned m = 0;
	uint64_t now = http_now_ms();
	int rc;

	pthread_mutex_lock(&s->lock);
	if (s->backend != SEARCH_AUTO) {
		*mask = s->mask;
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	if (s->fails > 0 && now < s->retry_at) {
		pthread_mutex_unlock(&s->lock);
		return -EAGAIN;
	}
	pthread_mutex_unlock(&s->lock);

	/* small answers: do not let a hung server hold a listing long */
	if (deadline > now + SEARCH_DET_MS)
		deadline = now + SEARCH_DET_MS;
	rc = detect(s, deadline, &b, &m, wildcard);

	pthread_mutex_lock(&s->lock);
	if (rc == 0 && s->backend == SEARCH_AUTO) {
		s->backend = b;
		s->mask = m;
		memcpy(s->wildcard, wildcard, sizeof(wildcard));
		s->fails = 0;
		log_notice(LOG_C_SEARCH, "ontology menus: %s (%u menus)",
			   names[b], (unsigned)__builtin_popcount(m));
	} else if (rc < 0) {
		/* not a result: asked again after a backoff that doubles
		 * with each failure in a row, up to retry_max_ms */
		uint64_t wait = s->retry_ms;

		for (unsigned i = 1; i < s->fails + 1 && wait < s->retry_max_ms;
		     i++)
			wait *= 2;
		if (wait > s->retry_max_ms)
			wait = s->retry_max_ms;
		s->fails++;
		s->retry_at = http_now_ms() + wait;
		if (rc == -ENOENT) /* only for the backend asked for */
			log_warn(LOG_C_SEARCH,
				 "-o ontology=%s: the remote has no %s; trying "
				 "again in %.1f s at the next use",
				 s->want == SEARCH_MAPR ? "mapr"
							: "searchengine",
				 names[s->want], (double)wait / 1000.0);
		else
			log_warn(LOG_C_SEARCH,
				 "cannot tell which search backend the remote "
				 "has (%s); trying again in %.1f s at the next "
				 "use",
				 strerror(-rc), (double)wait / 1000.0);
	}
	*mask = s->mask;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* The backend for a menu's requests, or -ENOENT. */
static int backend_for(struct search *s, unsigned menu, enum search_backend *b,
		       bool *wildcard)
{
	int rc = 0;

	if (menu >= SEARCH_NMENUS)
		return -ENOENT;
	pthread_mutex_lock(&s->lock);
	*b = s->backend;
	*wildcard = s->wildcard[menu];
	if ((*b != SEARCH_ENGINE && *b != SEARCH_MAPR) ||
	    !(s->mask & (1u << menu)))
		rc = -ENOENT;
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* ---- spellings and labels from one page of images ---- */

/* Votes: the strings voted for, counted when the winner is asked (sort
 * and count runs: no scan per vote). */
struct votes {
	const char **v;
	size_t n, cap;
};

static int vote_for(struct votes *vs, const char *s)
{
	if (vs->n == vs->cap) {
		size_t nc = vs->cap ? vs->cap * 2 : 8;
		const char **nv = realloc(vs->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		vs->v = nv;
		vs->cap = nc;
	}
	vs->v[vs->n++] = s;
	return 0;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Drop repeated strings among the votes from `from` on (one image's). */
static void votes_unique_from(struct votes *vs, size_t from)
{
	size_t w = from;

	if (vs->n - from > 1)
		qsort(vs->v + from, vs->n - from, sizeof(*vs->v), str_cmp);
	for (size_t i = from; i < vs->n; i++) {
		if (w == from || strcmp(vs->v[w - 1], vs->v[i]) != 0)
			vs->v[w++] = vs->v[i];
	}
	vs->n = w;
}

/* The winner; *tie when another has as many votes. NULL if none. */
static const char *winner(struct votes *vs, bool *tie)
{
	const char *best = NULL;
	size_t best_n = 0;

	*tie = false;
	if (vs->n > 1)
		qsort(vs->v, vs->n, sizeof(*vs->v), str_cmp);
	for (size_t i = 0; i < vs->n;) {
		size_t j = i + 1;

		while (j < vs->n && strcmp(vs->v[i], vs->v[j]) == 0)
			j++;
		if (j - i > best_n) {
			best = vs->v[i];
			best_n = j - i;
			*tie = false;
		} else if (j - i == best_n) {
			*tie = true;
		}
		i = j;
	}
	return best;
}

/* The entry of h with key = value (both ignoring case), or NULL. */
static const struct api_kv *has_pair(const struct api_hit *h, const char *key,
				     const char *value)
{
	for (size_t i = 0; i < h->nkvs; i++) {
		if (strcasecmp(h->kvs[i].key, key) == 0 &&
		    strcasecmp(h->kvs[i].value, value) == 0)
			return &h->kvs[i];
	}
	return NULL;
}

/*
 * Fetch grouped map annotations from url and find the first annotation
 * holding the menu's key with value and a label (compared with cmp:
 * strcasecmp for the search engine's lower-cased values, strcmp for
 * mapr's exact ones); *label is its label_key value (*label is NULL on
 * entry), *found whether any annotation held the value.
 * @return 0 or -errno
 */
static int label_from(struct search *s, const char *url, unsigned menu,
		      const char *value, int (*cmp)(const char *, const char *),
		      uint64_t deadline, char **label, bool *found)
{
	struct api_answer_list ans = {NULL, 0, NULL};
	struct api_annotation *anns;
	size_t na;
	int rc;

	*found = false;
	rc = get_answer(s, url, deadline, api_accept_map_annotations, &ans);
	if (rc < 0)
		return rc;
	anns = ans.v;
	na = ans.n;
	/* *label is NULL on entry: stop at the first label found */
	for (size_t i = 0; rc == 0 && i < na && !*label; i++) {
		bool holds = false;

		for (size_t j = 0; j < anns[i].nvalues; j++) {
			holds = holds ||
				(strcmp(anns[i].values[j].key,
					menus[menu].key) == 0 &&
				 cmp(anns[i].values[j].value, value) == 0);
		}
		*found = *found || holds;
		for (size_t j = 0; holds && j < anns[i].nvalues; j++) {
			if (strcmp(anns[i].values[j].key,
				   menus[menu].label_key) == 0) {
				*label = strdup(anns[i].values[j].value);
				if (!*label)
					rc = -ENOMEM;
				break;
			}
		}
	}
	api_annotations_free(anns, na);
	return rc;
}

/* The label of a term from the grouped annotations of one image. */
static int label_of_image(struct search *s, unsigned menu, int64_t image,
			  const char *value, uint64_t deadline, char **label)
{
	char url[SEARCH_URL];
	bool found;
	int rc;

	/* the image's annotations, grouped: find the one holding value */
	rc = url_printf(url,
			"%s/webclient/api/annotations/?type=map&image=%" PRId64,
			api_base_url(s->api), image);
	if (rc == 0)
		rc = label_from(s, url, menu, value, strcasecmp, deadline,
				label, &found);
	return rc;
}

/*
 * From a page of a term's images: how the value is spelled (most images'
 * spelling), its label (the label-key value most of them carry), and how
 * many carry it (*nmatch).
 */
static int spell_and_label(struct search *s, unsigned menu, const char *value,
			   const struct api_se_page *p, uint64_t deadline,
			   char **spelling, char **label, size_t *nmatch)
{
	struct votes sp = {0}, lb = {0};
	const char *w;
	int64_t first = -1;
	bool tie;
	int rc = 0;

	*nmatch = 0;
	for (size_t i = 0; rc == 0 && i < p->n; i++) {
		const struct api_hit *h = &p->hits[i];
		const struct api_kv *e = has_pair(h, menus[menu].key, value);

		if (!e)
			continue;
		(*nmatch)++;
		if (first < 0)
			first = h->id;
		rc = vote_for(&sp, e->value);
		size_t from = lb.n;

		for (size_t j = 0;
		     rc == 0 && menus[menu].label_key && j < h->nkvs; j++) {
			if (strcmp(h->kvs[j].key, menus[menu].label_key) == 0)
				rc = vote_for(&lb, h->kvs[j].value);
		}
		/* one vote per image and label */
		votes_unique_from(&lb, from);
	}
	w = rc == 0 ? winner(&sp, &tie) : NULL;
	if (w) {
		*spelling = strdup(w);
		if (!*spelling)
			rc = -ENOMEM;
	}
	w = rc == 0 ? winner(&lb, &tie) : NULL;
	if (w && !tie) {
		*label = strdup(w);
		if (!*label)
			rc = -ENOMEM;
	} else if (w && first >= 0) {
		/* two labels on every image: ask how they are grouped */
		rc = label_of_image(s, menu, first, value, deadline, label);
	}
	free(sp.v);
	free(lb.v);
	return rc;
}

/*
 * A term's spelling and label, kept in the metadata cache once found (a
 * derived answer: from pages that were checked). A menu's probes parse a
 * page of up to 1000 images per term; kept, a listing cut by its deadline
 * goes on where it stopped at the next try, and a remount parses nothing.
 * Value: 'S' spelling NUL, or '-' NUL; then 'L' label NUL, or '-' NUL.
 */
#define SPELL_KEY_VERSION "1"

static int spell_key(unsigned menu, const char *value, char *key)
{
	return url_printf(key, "idrfs:spell:" SPELL_KEY_VERSION ":%s:%s",
			  menus[menu].key, value);
}

static int spell_memo_get(struct search *s, unsigned menu, const char *value,
			  char **spelling, char **label)
{
	char key[SEARCH_URL], *body = NULL;
	size_t len = 0;
	int64_t at = 0, now = (int64_t)time(NULL);
	int rc;

	if (!s->cache || spell_key(menu, value, key) < 0 ||
	    cache_meta_get(s->cache, key, &body, &len, &at) < 0)
		return -ENOENT;
	rc = -ENOENT;
	if (now >= at && (uint64_t)(now - at) < s->ttl_s) {
		const char *sp = body, *lb = memchr(body, '\0', len);

		lb = lb ? lb + 1 : NULL;
		if (lb && lb < body + len && (*sp == 'S' || *sp == '-') &&
		    (*lb == 'L' || *lb == '-')) {
			*spelling = *sp == 'S' ? strdup(sp + 1) : NULL;
			*label = *lb == 'L' ? strdup(lb + 1) : NULL;
			rc = (*sp == 'S' && !*spelling) ||
					     (*lb == 'L' && !*label)
				     ? -ENOMEM
				     : 0;
			if (rc < 0) {
				free(*spelling);
				free(*label);
				*spelling = *label = NULL;
			}
		}
	}
	free(body);
	return rc;
}

static void spell_memo_put(struct search *s, unsigned menu, const char *value,
			   const char *spelling, const char *label)
{
	char key[SEARCH_URL];
	size_t ls = spelling ? strlen(spelling) : 0;
	size_t ll = label ? strlen(label) : 0;
	char *v;

	if (!s->cache || spell_key(menu, value, key) < 0)
		return;
	v = malloc(ls + ll + 4);
	if (!v)
		return; /* a memo, not an answer */
	v[0] = spelling ? 'S' : '-';
	memcpy(v + 1, spelling ? spelling : "", ls + 1);
	v[ls + 2] = label ? 'L' : '-';
	memcpy(v + ls + 3, label ? label : "", ll + 1);
	cache_meta_put(s->cache, key, v, ls + ll + 4, (int64_t)time(NULL));
	free(v);
}

/* ---- search engine ---- */

static int se_value_cmp(const void *a, const void *b)
{
	return strcmp(((const struct api_se_value *)a)->value,
		      ((const struct api_se_value *)b)->value);
}

static int engine_terms(struct search *s, unsigned menu, uint64_t deadline,
			struct search_term **out, size_t *nout)
{
	char url[SEARCH_URL], ek[512];
	struct api_answer_list ans = {NULL, 0, NULL};
	struct api_se_value *vals;
	struct search_term *terms = NULL;
	size_t n, nt = 0;
	int rc;

	rc = api_url_escape(menus[menu].key, ek, sizeof(ek));
	if (rc == 0)
		rc = url_printf(
			url, "%s" SE_PATH "image/searchvaluesusingkey/?key=%s",
			api_base_url(s->api), ek);
	if (rc == 0)
		rc = get_answer(s, url, deadline, api_accept_se_values, &ans);
	if (rc < 0)
		return rc;
	vals = ans.v;
	n = ans.n;
	terms = calloc(n + 1, sizeof(*terms));
	if (!terms) {
		rc = -ENOMEM;
		goto out;
	}
	/* a key indexed in two spellings lists a value twice: sorted, the
	 * repeats are neighbours */
	if (n > 1)
		qsort(vals, n, sizeof(*vals), se_value_cmp);
	for (size_t i = 0; i < n; i++) {
		if (nt > 0 && strcmp(terms[nt - 1].value, vals[i].value) == 0) {
			if (vals[i].count > 0)
				terms[nt - 1].count += vals[i].count;
			continue;
		}
		terms[nt].value = vals[i].value;
		terms[nt].count = vals[i].count;
		vals[i].value = NULL;
		nt++;
	}
	/* small menus: spell and label every term from its images (those
	 * not kept from before), 8 pages at a time; what a batch got is
	 * kept even when the rest of it failed */
	for (size_t b = 0; rc == 0 && nt <= s->probe_max && b < nt;) {
		size_t nb = 0, idx[PROBE_BATCH];
		struct http_req reqs[PROBE_BATCH];
		struct api_se_page pages[PROBE_BATCH];
		char urls[PROBE_BATCH][SEARCH_URL];

		memset(reqs, 0, sizeof(reqs));
		memset(pages, 0, sizeof(pages));
		for (; rc == 0 && b < nt && nb < PROBE_BATCH; b++) {
			struct search_term *t = &terms[b];
			char *sp = NULL;

			if (spell_memo_get(s, menu, t->value, &sp, &t->label) ==
			    0) {
				if (sp) {
					free(t->value);
					t->value = sp;
				}
				continue;
			}
			rc = search_url(s, menus[menu].key, t->value, -1,
					urls[nb]);
			reqs[nb].url = urls[nb];
			reqs[nb].max_body = API_MAX_BODY;
			reqs[nb].accept = api_accept_se_page;
			reqs[nb].accept_arg = &pages[nb];
			idx[nb++] = b;
		}
		int frc = rc == 0 && nb > 0
				  ? api_fetch(s->api, reqs, nb, deadline)
				  : 0;

		for (size_t i = 0; rc == 0 && i < nb; i++) {
			struct search_term *t = &terms[idx[i]];
			char *sp = NULL;
			size_t nm = 0;

			if (reqs[i].rc < 0 || !reqs[i].accepted)
				continue;
			rc = spell_and_label(s, menu, t->value, &pages[i],
					     deadline, &sp, &t->label, &nm);
			if (rc == 0)
				spell_memo_put(s, menu, t->value, sp, t->label);
			if (rc == 0 && sp) {
				free(t->value);
				t->value = sp;
				sp = NULL;
			}
			free(sp);
		}
		if (rc == 0)
			rc = frc;
		for (size_t i = 0; i < nb; i++) {
			api_se_page_release(&pages[i]);
			http_req_release(&reqs[i]);
		}
	}
	if (rc == 0) {
		*out = terms;
		*nout = nt;
		terms = NULL;
	}
out:
	search_terms_free(terms, nt);
	api_se_values_free(vals, n);
	return rc;
}

static int engine_find(struct search *s, unsigned menu, const char *value,
		       uint64_t deadline, struct search_term *out)
{
	char url[SEARCH_URL];
	struct api_se_page p = {0};
	char *sp = NULL, *label = NULL;
	size_t nm = 0;
	int rc;

	rc = search_url(s, menus[menu].key, value, -1, url);
	if (rc == 0)
		rc = get_answer(s, url, deadline, api_accept_se_page, &p);
	if (rc < 0)
		return rc;
	rc = spell_and_label(s, menu, value, &p, deadline, &sp, &label, &nm);
	if (rc == 0 && nm == 0)
		rc = -ENOENT;
	if (rc == 0) {
		out->value = strdup(value);
		out->label = label;
		out->count = p.size >= 0 ? p.size : (int64_t)nm;
		label = NULL;
		if (!out->value)
			rc = -ENOMEM;
	}
	free(sp);
	free(label);
	api_se_page_release(&p);
	return rc;
}

static int hit_id_cmp(const void *a, const void *b)
{
	const struct api_hit *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Sort by id and keep one hit per image (an image in two datasets, or
 * met twice across pages); the new count. */
static size_t hits_unique(struct api_hit *v, size_t n)
{
	size_t w = n ? 1 : 0;

	if (n == 0)
		return 0;
	if (n > 0)
		qsort(v, n, sizeof(*v), hit_id_cmp);
	for (size_t i = 1; i < n; i++) {
		if (v[i].id == v[w - 1].id)
			api_hit_release(&v[i]);
		else
			v[w++] = v[i];
	}
	return w;
}

/* Append the hits of page p that carry key = value (moved out of p). */
static int take_hits(struct api_se_page *p, const char *key, const char *value,
		     struct api_hit **all, size_t *n, size_t *cap)
{
	for (size_t i = 0; i < p->n; i++) {
		if (p->hits[i].has_kvs && !has_pair(&p->hits[i], key, value))
			continue;
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 256;
			struct api_hit *nv = realloc(*all, nc * sizeof(*nv));

			if (!nv)
				return -ENOMEM;
			*all = nv;
			*cap = nc;
		}
		(*all)[(*n)++] = p->hits[i];
		memset(&p->hits[i], 0, sizeof(p->hits[i]));
	}
	return 0;
}

static int engine_images(struct search *s, unsigned menu, const char *value,
			 uint64_t deadline, struct api_hit **out, size_t *nout)
{
	char url[SEARCH_URL];
	struct api_hit *all = NULL;
	size_t n = 0, cap = 0, seen = 0;
	int64_t bookmark = -1;
	int rc = 0;

	for (;;) {
		struct api_se_page p = {0};

		rc = search_url(s, menus[menu].key, value, bookmark, url);
		if (rc == 0)
			rc = get_answer(s, url, deadline, api_accept_se_page,
					&p);
		if (rc < 0)
			break;
		if (p.n > 0)
			rc = take_hits(&p, menus[menu].key, value, &all, &n,
				       &cap);
		seen += p.n;
		if (rc == 0 && seen > SEARCH_MAX_HITS) {
			char esc[512];

			log_error(LOG_C_SEARCH,
				  "\"%s\": more than %u images; not listed",
				  log_escape(url, esc, sizeof(esc)),
				  SEARCH_MAX_HITS);
			rc = -EFBIG;
		}
		/* done: an empty page, all of them, or no way on */
		bool more = rc == 0 && p.n > 0 &&
			    (p.size < 0 || (int64_t)seen < p.size) &&
			    p.bookmark > bookmark;
		if (more)
			bookmark = p.bookmark;
		api_se_page_release(&p);
		if (!more)
			break;
	}
	if (rc < 0) {
		api_hits_free(all, n);
		return rc;
	}
	*out = all;
	*nout = hits_unique(all, n);
	return 0;
}

/* ---- mapr ---- */

/* /mapr/api/{menu}/annotations/?map=value: the label of the annotation
 * where value is the menu key's value. -ENOENT if there is none. */
static int mapr_label(struct search *s, unsigned menu, const char *value,
		      uint64_t deadline, char **label)
{
	char url[SEARCH_URL], ev[1024];
	bool found = false;
	int rc;

	rc = api_url_escape(value, ev, sizeof(ev));
	if (rc == 0)
		rc = url_printf(url, "%s/mapr/api/%s/annotations/?map=%s",
				api_base_url(s->api), menus[menu].mapr, ev);
	if (rc == 0)
		rc = label_from(s, url, menu, value, strcmp, deadline, label,
				&found);
	return rc == 0 && !found ? -ENOENT : rc;
}

static int mapr_terms(struct search *s, unsigned menu, bool wildcard,
		      uint64_t deadline, struct search_term **out, size_t *nout)
{
	char url[SEARCH_URL];
	struct api_answer_list ans = {NULL, 0, NULL};
	struct api_se_value *vals;
	struct search_term *terms;
	size_t n, nt = 0;
	int rc;

	if (!wildcard) {
		/* mapr lists values only for wildcard menus: lookups still
		 * work */
		*out = NULL;
		*nout = 0;
		return 0;
	}
	rc = url_printf(url, "%s/mapr/api/%s/?orphaned=true",
			api_base_url(s->api), menus[menu].mapr);
	if (rc == 0)
		rc = get_answer(s, url, deadline, api_accept_mapr_maps, &ans);
	if (rc < 0)
		return rc;
	vals = ans.v;
	n = ans.n;
	terms = calloc(n + 1, sizeof(*terms));
	if (!terms) {
		api_se_values_free(vals, n);
		return -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		char *label = NULL;

		if (menus[menu].label_key) {
			/* the menu's values mix keys: keep its key's */
			rc = mapr_label(s, menu, vals[i].value, deadline,
					&label);
			if (rc == -ENOENT) {
				rc = 0;
				continue;
			}
		}
		if (rc < 0)
			break;
		terms[nt].value = vals[i].value;
		terms[nt].label = label;
		terms[nt].count = vals[i].count;
		vals[i].value = NULL;
		nt++;
	}
	api_se_values_free(vals, n);
	if (rc < 0) {
		search_terms_free(terms, nt);
		return rc;
	}
	*out = terms;
	*nout = nt;
	return 0;
}

/* screens and projects of /mapr/api/{menu}/?value= */
static int mapr_studies(struct search *s, unsigned menu, const char *value,
			uint64_t deadline, struct api_container **sc,
			size_t *nsc, struct api_container **pr, size_t *npr)
{
	char url[SEARCH_URL], ev[1024];
	struct api_mapr_studies st;
	int rc;

	rc = api_url_escape(value, ev, sizeof(ev));
	if (rc == 0)
		rc = url_printf(url, "%s/mapr/api/%s/?value=%s",
				api_base_url(s->api), menus[menu].mapr, ev);
	if (rc == 0)
		rc = get_answer(s, url, deadline, api_accept_mapr_studies, &st);
	if (rc < 0)
		return rc;
	*sc = st.screens;
	*nsc = st.nscreens;
	*pr = st.projects;
	*npr = st.nprojects;
	return 0;
}

static int mapr_find(struct search *s, unsigned menu, const char *value,
		     uint64_t deadline, struct search_term *out)
{
	struct api_container *sc = NULL, *pr = NULL;
	size_t nsc = 0, npr = 0;
	char *label = NULL;
	int rc;

	rc = mapr_studies(s, menu, value, deadline, &sc, &nsc, &pr, &npr);
	if (rc < 0)
		return rc;
	api_containers_free(sc, nsc);
	api_containers_free(pr, npr);
	if (nsc + npr == 0)
		return -ENOENT;
	if (menus[menu].label_key) {
		rc = mapr_label(s, menu, value, deadline, &label);
		if (rc < 0)
			return rc;
	}
	out->value = strdup(value);
	out->label = label;
	out->count = -1;
	if (!out->value) {
		free(label);
		return -ENOMEM;
	}
	return 0;
}

/* A container whose images are fetched page by page. */
struct mapr_node {
	bool plate;
	int64_t study, id;
	int page; /* next page; 0: done */
};

/* One parallel round of requests (urls[i] for reqs[i]), each answer
 * mapped by accept into outs[i]; the caller releases reqs[0..n) and what
 * outs[] hold in every case. */
static int mapr_round(struct search *s, char (*urls)[SEARCH_URL], size_t n,
		      uint64_t deadline, struct http_req *reqs,
		      http_accept_fn accept, struct api_answer_list *outs)
{
	memset(reqs, 0, n * sizeof(*reqs));
	for (size_t i = 0; i < n; i++) {
		reqs[i].url = urls[i];
		reqs[i].max_body = API_MAX_BODY;
		reqs[i].accept = accept;
		reqs[i].accept_arg = &outs[i];
	}
	return n ? api_fetch(s->api, reqs, n, deadline) : 0;
}

static int mapr_images(struct search *s, unsigned menu, const char *value,
		       uint64_t deadline, struct api_hit **out, size_t *nout)
{
	struct api_container *sc = NULL, *pr = NULL;
	struct mapr_node *nodes = NULL;
	size_t nsc = 0, npr = 0, nn = 0, capn = 0;
	struct api_hit *all = NULL;
	size_t n = 0, cap = 0;
	struct http_req reqs[MAPR_BATCH];
	struct api_answer_list outs[MAPR_BATCH];
	char(*urls)[SEARCH_URL] = calloc(MAPR_BATCH, SEARCH_URL);
	char ev[1024];
	int rc;

	rc = urls ? api_url_escape(value, ev, sizeof(ev)) : -ENOMEM;
	if (rc == 0)
		rc = mapr_studies(s, menu, value, deadline, &sc, &nsc, &pr,
				  &npr);
	if (rc < 0) {
		free(urls);
		return rc;
	}
	/* plates of each screen, datasets of each project */
	for (size_t b = 0; rc == 0 && b < nsc + npr; b += MAPR_BATCH) {
		size_t nb =
			nsc + npr - b < MAPR_BATCH ? nsc + npr - b : MAPR_BATCH;

		memset(reqs, 0, sizeof(reqs));
		memset(outs, 0, sizeof(outs));
		for (size_t i = 0; rc == 0 && i < nb; i++) {
			bool scr = b + i < nsc;
			int64_t id = scr ? sc[b + i].id : pr[b + i - nsc].id;

			outs[i].list = scr ? "plates" : "datasets";
			rc = url_printf(
				urls[i],
				"%s/mapr/api/%s/%s/?value=%s&id=%" PRId64,
				api_base_url(s->api), menus[menu].mapr,
				outs[i].list, ev, id);
		}
		if (rc == 0)
			rc = mapr_round(s, urls, nb, deadline, reqs,
					api_accept_mapr_containers, outs);
		for (size_t i = 0; i < nb; i++) {
			bool scr = b + i < nsc;
			int64_t id = scr ? sc[b + i].id : pr[b + i - nsc].id;
			struct api_container *cs = outs[i].v;
			size_t nc = outs[i].n;

			if (rc == 0 && nn + nc > capn) {
				size_t ncap = (nn + nc) * 2;
				struct mapr_node *nv =
					realloc(nodes, ncap * sizeof(*nv));

				if (nv) {
					nodes = nv;
					capn = ncap;
				} else {
					rc = -ENOMEM;
				}
			}
			for (size_t j = 0; rc == 0 && j < nc; j++)
				nodes[nn++] = (struct mapr_node){scr, id,
								 cs[j].id, 1};
			api_containers_free(cs, nc);
		}
		for (size_t i = 0; i < nb; i++)
			http_req_release(&reqs[i]);
	}
	/* their images, page by page: one round per page number */
	for (bool more = true; rc == 0 && more;) {
		size_t pending[MAPR_BATCH], nb = 0;

		memset(reqs, 0, sizeof(reqs));
		memset(outs, 0, sizeof(outs));
		more = false;
		for (size_t i = 0; i < nn && nb < MAPR_BATCH; i++) {
			if (nodes[i].page > 0)
				pending[nb++] = i;
		}
		for (size_t i = 0; rc == 0 && i < nb; i++) {
			const struct mapr_node *m = &nodes[pending[i]];

			rc = url_printf(urls[i],
					"%s/mapr/api/%s/images/"
					"?value=%s&node=%s&id=%" PRId64
					"&page=%d&limit=%d",
					api_base_url(s->api), menus[menu].mapr,
					ev, m->plate ? "plate" : "dataset",
					m->id, m->page, MAPR_PAGE);
		}
		if (rc == 0)
			rc = mapr_round(s, urls, nb, deadline, reqs,
					api_accept_mapr_images, outs);
		for (size_t i = 0; i < nb; i++) {
			struct mapr_node *m = &nodes[pending[i]];
			struct api_hit *hs = outs[i].v;
			size_t nh = outs[i].n;

			if (rc == 0 && n + nh > SEARCH_MAX_HITS) {
				char esc[512];

				log_error(LOG_C_SEARCH,
					  "\"%s\": more than %u images; not "
					  "listed",
					  log_escape(urls[i], esc, sizeof(esc)),
					  SEARCH_MAX_HITS);
				rc = -EFBIG;
			}
			if (rc == 0 && n + nh > cap) {
				size_t ncap = (n + nh) * 2;
				struct api_hit *nv =
					realloc(all, ncap * sizeof(*nv));

				if (nv) {
					all = nv;
					cap = ncap;
				} else {
					rc = -ENOMEM;
				}
			}
			for (size_t j = 0; rc == 0 && j < nh; j++) {
				struct api_hit *h = &all[n++];

				*h = hs[j];
				memset(&hs[j], 0, sizeof(hs[j]));
				if (m->plate) {
					h->screen_id = m->study;
					h->plate_id = m->id;
				} else {
					h->project_id = m->study;
					h->dataset_id = m->id;
				}
			}
			api_hits_free(hs, nh);
			m->page = nh == MAPR_PAGE ? m->page + 1 : 0;
		}
		for (size_t i = 0; i < nb; i++)
			http_req_release(&reqs[i]);
		for (size_t i = 0; i < nn && !more; i++)
			more = nodes[i].page > 0;
	}
	if (rc == 0)
		n = hits_unique(all, n);
	api_containers_free(sc, nsc);
	api_containers_free(pr, npr);
	free(nodes);
	free(urls);
	if (rc < 0) {
		api_hits_free(all, n);
		return rc;
	}
	*out = all;
	*nout = n;
	return 0;
}

/* ---- public ---- */

int search_terms(struct search *s, unsigned menu, uint64_t deadline,
		 struct search_term **out, size_t *n)
{
	enum search_backend b;
	bool wildcard;
	int rc = backend_for(s, menu, &b, &wildcard);

	if (rc < 0)
		return rc;
	rc = b == SEARCH_ENGINE
		     ? engine_terms(s, menu, deadline, out, n)
		     : mapr_terms(s, menu, wildcard, deadline, out, n);
	/* a 404 in a batch of requests: a fault, not "no such menu" */
	return rc == -ENOENT ? -EIO : rc;
}

int search_term_find(struct search *s, unsigned menu, const char *value,
		     uint64_t deadline, struct search_term *out)
{
	enum search_backend b;
	bool wildcard;
	int rc = backend_for(s, menu, &b, &wildcard);

	if (rc < 0)
		return rc;
	if (*value == '\0')
		return -ENOENT;
	if (b == SEARCH_ENGINE)
		return engine_find(s, menu, value, deadline, out);
	return mapr_find(s, menu, value, deadline, out);
}

int search_images(struct search *s, unsigned menu, const char *value,
		  uint64_t deadline, struct api_hit **out, size_t *n)
{
	enum search_backend b;
	bool wildcard;
	int rc = backend_for(s, menu, &b, &wildcard);

	if (rc < 0)
		return rc;
	rc = b == SEARCH_ENGINE
		     ? engine_images(s, menu, value, deadline, out, n)
		     : mapr_images(s, menu, value, deadline, out, n);
	/* no images is an empty answer; a 404 is a fault */
	return rc == -ENOENT ? -EIO : rc;
}
