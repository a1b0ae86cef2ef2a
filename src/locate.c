/* SPDX-License-Identifier: MIT */
/*
 * locate: the Zarr locator chain (locate.h has the rules and why).
 *
 * State: the configuration (read-only after locate_new), the catalogue
 * (loaded once: a file in locate_new, a URL on first use) and a table of
 * studies, one entry per (template, study): yes, no, or being probed.
 * l->lock guards the catalogue state and the table; it is never held
 * across a request: a prober marks its entry, lets go, asks, and takes
 * the lock again to publish; others of the same study wait on l->cond
 * until their deadline.
 */
#include "config.h"

#include "idrfs/locate.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "idrfs/http.h"
#include "idrfs/log.h"
#include "idrfs/zarr.h"

#define KEY_VERSION   "v1"
#define STUDY_KEY_MAX 128
#define NBUCKETS      1024
#define META_MAX      (4u << 20)
/* images of a container probed before it is taken as having none */
#define PROBE_TRIES 3
/* the memo slot of the fileset rule, after the templates' */
#define FS_SLOT LOCATE_TEMPLATES_MAX

/* ---- names and templates ---- */

void locate_study_of(const char *name, char study[8], char letter[3])
{
	const char *s = name ? name : "";
	const char *slash;
	size_t n;

	study[0] = letter[0] = '\0';
	if (strncasecmp(s, "idr", 3) == 0 && isdigit((unsigned char)s[3]) &&
	    isdigit((unsigned char)s[4]) && isdigit((unsigned char)s[5]) &&
	    isdigit((unsigned char)s[6]) && !isdigit((unsigned char)s[7]))
		snprintf(study, 8, "idr%.4s", s + 3);
	slash = strrchr(s, '/');
	if (!slash)
		return;
	s = slash + 1;
	if (strncasecmp(s, "experiment", 10) == 0)
		s += 10;
	else if (strncasecmp(s, "screen", 6) == 0)
		s += 6;
	else
		return;
	n = strlen(s);
	if (n < 1 || n > 2 || !isalpha((unsigned char)s[0]) ||
	    (n == 2 && !isalpha((unsigned char)s[1])))
		return;
	for (size_t i = 0; i < n; i++)
		letter[i] = (char)toupper((unsigned char)s[i]);
	letter[n] = '\0';
}

/* A plate row as its Zarr names it: A..Z, then AA, AB, ... */
static void row_name(int32_t row, char out[8])
{
	char tmp[8];
	size_t n = 0;
	int64_t r = row;

	do {
		tmp[n++] = (char)('A' + r % 26);
		r = r / 26 - 1;
	} while (r >= 0 && n < sizeof(tmp) - 1);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
}

int locate_expand(const char *tmpl, size_t len, const struct locate_vars *v,
		  char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < len && tmpl[i] != '|';) {
		char val[32];
		const char *s = NULL;
		size_t sl;

		if (tmpl[i] != '{') {
			if (o + 1 >= outsz)
				return -ENAMETOOLONG;
			out[o++] = tmpl[i++];
			continue;
		}
		const char *end = memchr(tmpl + i, '}', len - i);
		size_t nl = end ? (size_t)(end - tmpl - i - 1) : 0;
		const char *nm = tmpl + i + 1;

		if (!end)
			return -EINVAL;
		if (nl == 2 && memcmp(nm, "id", 2) == 0) {
			if (v->id <= 0)
				return -ENOENT;
			snprintf(val, sizeof(val), "%" PRId64, v->id);
			s = val;
		} else if (nl == 5 && memcmp(nm, "study", 5) == 0) {
			s = v->study;
		} else if (nl == 6 && memcmp(nm, "letter", 6) == 0) {
			s = v->letter;
		} else if (nl == 5 && memcmp(nm, "plate", 5) == 0) {
			if (v->plate <= 0)
				return -ENOENT;
			snprintf(val, sizeof(val), "%" PRId64, v->plate);
			s = val;
		} else if (nl == 3 && memcmp(nm, "row", 3) == 0) {
			if (v->row < 0)
				return -ENOENT;
			row_name(v->row, val);
			s = val;
		} else if (nl == 6 && memcmp(nm, "column", 6) == 0) {
			if (v->column < 0)
				return -ENOENT;
			snprintf(val, sizeof(val), "%" PRId32, v->column + 1);
			s = val;
		} else if (nl == 5 && memcmp(nm, "field", 5) == 0) {
			if (v->field < 0)
				return -ENOENT;
			snprintf(val, sizeof(val), "%" PRId32, v->field);
			s = val;
		} else {
			return -EINVAL;
		}
		if (!s || !s[0])
			return -ENOENT;
		sl = strlen(s);
		if (sl >= outsz - o)
			return -ENAMETOOLONG;
		memcpy(out + o, s, sl);
		o += sl;
		i += nl + 2;
	}
	if (o >= outsz)
		return -ENAMETOOLONG;
	out[o] = '\0';
	return (int)o;
}

/* Does a template (to its end or '|') hold placeholder @p name? */
static bool tmpl_has(const char *t, size_t len, const char *name)
{
	char want[16];
	size_t wl = (size_t)snprintf(want, sizeof(want), "{%s}", name);

	for (size_t i = 0; i + wl <= len; i++) {
		if (memcmp(t + i, want, wl) == 0)
			return true;
	}
	return false;
}

int locate_templates_check(const char *tmpls, char *msg, size_t msgsz)
{
	const struct locate_vars v = {.id = 1,
				      .study = "idr0000",
				      .letter = "A",
				      .plate = 1,
				      .row = 0,
				      .column = 0,
				      .field = 0};
	const char *s = tmpls ? tmpls : "";
	unsigned n = 0;

	for (;;) {
		size_t len = strcspn(s, "|");
		char out[LOCATE_URL_MAX];
		int rc;

		if (++n > LOCATE_TEMPLATES_MAX) {
			snprintf(msg, msgsz, "more than %u templates",
				 LOCATE_TEMPLATES_MAX);
			return -EINVAL;
		}
		if (len == 0) {
			snprintf(msg, msgsz, "an empty template");
			return -EINVAL;
		}
		if (strncmp(s, "http://", 7) != 0 &&
		    strncmp(s, "https://", 8) != 0) {
			snprintf(msg, msgsz,
				 "'%.*s' is not an http:// or https:// URL",
				 (int)(len < 200 ? len : 200), s);
			return -EINVAL;
		}
		rc = locate_expand(s, len, &v, out, sizeof(out));
		if (rc < 0) {
			snprintf(msg, msgsz, "'%.*s': %s",
				 (int)(len < 200 ? len : 200), s,
				 rc == -EINVAL ? "an unknown {placeholder} "
						 "(known: {id} {study} "
						 "{letter} {plate} {row} "
						 "{column} {field})"
					       : "too long");
			return -EINVAL;
		}
		if (!s[len])
			return 0;
		s += len + 1;
	}
}

/* ---- URLs found in catalogues ---- */

/* Percent-encode what may not stand in a URL (a space in a v0.5 name),
 * drop a trailing slash or metadata file name. @return 0 or -1 */
static int url_clean(const char *in, size_t len, char *out, size_t outsz)
{
	static const char bad[] = "\"<>\\^`{|}";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];

		if (ch <= 0x20 || ch >= 0x7f || strchr(bad, ch)) {
			if (outsz - o < 4)
				return -1;
			snprintf(out + o, 4, "%%%02X", ch);
			o += 3;
		} else {
			if (outsz - o < 2)
				return -1;
			out[o++] = (char)ch;
		}
	}
	out[o] = '\0';
	for (;;) {
		static const char *const tails[] = {"/.zattrs", "/.zgroup",
						    "/zarr.json", "/"};
		bool cut = false;

		for (size_t k = 0; k < 4 && !cut; k++) {
			size_t tl = strlen(tails[k]);

			if (o >= tl && strcmp(out + o - tl, tails[k]) == 0) {
				o -= tl;
				out[o] = '\0';
				cut = true;
			}
		}
		if (!cut)
			break;
	}
	return o > 0 ? 0 : -1;
}

/* An http(s) URL of a Zarr group from a catalogue cell; s3://host/path
 * (an Lsid) is made scheme://host/path. @return 0 or -1 (not usable) */
static int cell_url(const char *cell, size_t len, const char *s3_scheme,
		    char *out, size_t outsz)
{
	char tmp[LOCATE_URL_MAX];
	size_t q;

	if (len >= 5 && memcmp(cell, "s3://", 5) == 0) {
		int n = snprintf(tmp, sizeof(tmp), "%s://%.*s", s3_scheme,
				 (int)(len - 5), cell + 5);

		if (n < 0 || (size_t)n >= sizeof(tmp))
			return -1;
		cell = tmp;
		len = (size_t)n;
	}
	if (!(len > 7 && memcmp(cell, "http://", 7) == 0) &&
	    !(len > 8 && memcmp(cell, "https://", 8) == 0))
		return -1;
	q = strcspn(cell, "?#");
	return url_clean(cell, q < len ? q : len, out, outsz);
}

/* ---- catalogues ---- */

struct cat_ent {
	int64_t id;
	char *url;
	int version; /* OME-NGFF version x 100, -1 unknown */
	size_t row;  /* its row in the file: the first one wins a tie */
};

struct locate_cat {
	struct cat_ent *v;
	size_t n, cap;
	size_t skipped;
};

enum cat_col {
	COL_ID,
	COL_URL, /* the first of several, in order of preference */
	COL_THUMB,
	COL_IS_ZARR,
	COL_WELLS,
	COL_VERSION,
	COL_REPLACE,
	COL_WITH,
	COL_NCOLS
};

/* URL columns by preference; the header names are compared without
 * case and surrounding blanks. */
static const char *const url_names[] = {
	"zarr_url",	   "url",
	"file path",	   "embl-ebi bucket (current)",
	"embl-ebi s3 key", "external_info",
	"client_path",
};
#define NURLS (sizeof(url_names) / sizeof(url_names[0]))
static const char *const id_names[] = {"representative image id",
				       "image_id",
				       "image id",
				       "image",
				       "imageid",
				       "id"};
#define NIDS (sizeof(id_names) / sizeof(id_names[0]))

struct cat_cols {
	int id, id_rank; /* column; rank of its name (lower is better) */
	int url[NURLS];
	int other[COL_NCOLS];
};

/* Split one line into cells (CSV with "" quoting, or TSV); cells point
 * into @p line, which quoting rewrites in place. @return cells, or -1 */
static int split(char *line, size_t len, char sep, char **cell, size_t *clen,
		 size_t max)
{
	size_t n = 0, i = 0;

	for (;;) {
		char *start = line + i, *w = start;
		bool quoted = sep == ',' && i < len && line[i] == '"';

		if (n == max)
			return -1;
		if (quoted) {
			i++;
			for (;;) {
				if (i >= len)
					return -1; /* an unclosed quote */
				if (line[i] == '"' && i + 1 < len &&
				    line[i + 1] == '"') {
					*w++ = '"';
					i += 2;
				} else if (line[i] == '"') {
					i++;
					break;
				} else {
					*w++ = line[i++];
				}
			}
			if (i < len && line[i] != sep)
				return -1;
		} else {
			while (i < len && line[i] != sep)
				i++;
			w = line + i;
		}
		cell[n] = start;
		clen[n] = (size_t)(w - start);
		n++;
		if (i >= len)
			return (int)n;
		i++; /* the separator */
	}
}

/* A cell without surrounding blanks. */
static void trim(char **s, size_t *len)
{
	while (*len > 0 && isspace((unsigned char)**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && isspace((unsigned char)(*s)[*len - 1]))
		(*len)--;
}

static bool cell_is(const char *s, size_t len, const char *name)
{
	return strlen(name) == len && strncasecmp(s, name, len) == 0;
}

static void header_cols(char **cell, size_t *clen, int n, struct cat_cols *c)
{
	static const char *const others[COL_NCOLS] = {
		[COL_THUMB] = "thumbnail",
		[COL_IS_ZARR] = "is_zarr",
		[COL_WELLS] = "wells",
		[COL_VERSION] = "ome-ngff version",
		[COL_REPLACE] = "replace_this",
		[COL_WITH] = "with_this",
	};

	c->id = -1;
	c->id_rank = (int)NIDS;
	for (size_t k = 0; k < NURLS; k++)
		c->url[k] = -1;
	for (int k = 0; k < COL_NCOLS; k++)
		c->other[k] = -1;
	for (int i = 0; i < n; i++) {
		char *s = cell[i];
		size_t l = clen[i];

		trim(&s, &l);
		for (int k = 0; k < c->id_rank; k++) {
			if (cell_is(s, l, id_names[k])) {
				c->id = i;
				c->id_rank = k;
			}
		}
		for (size_t k = 0; k < NURLS; k++) {
			if (c->url[k] < 0 && cell_is(s, l, url_names[k]))
				c->url[k] = i;
		}
		for (int k = COL_THUMB; k < COL_NCOLS; k++) {
			if (c->other[k] < 0 && others[k] &&
			    cell_is(s, l, others[k]))
				c->other[k] = i;
		}
	}
}

/* Cell @p col of a row, trimmed ("" when the row is short). */
static size_t get_cell(char **cell, size_t *clen, int n, int col,
		       const char **out)
{
	char *s;
	size_t l;

	if (col < 0 || col >= n) {
		*out = "";
		return 0;
	}
	s = cell[col];
	l = clen[col];
	trim(&s, &l);
	*out = s;
	return l;
}

/* "0.4" -> 40; -1 if not a version. */
static int parse_version(const char *s, size_t l)
{
	unsigned a = 0, b = 0;
	char buf[16];

	if (l == 0 || l >= sizeof(buf))
		return -1;
	memcpy(buf, s, l);
	buf[l] = '\0';
	if (sscanf(buf, "%2u.%2u", &a, &b) != 2)
		return -1;
	return (int)(a * 100 + b);
}

static bool parse_id(const char *s, size_t l, int64_t *out)
{
	int64_t v = 0;

	if (l == 0 || l > 18)
		return false;
	for (size_t i = 0; i < l; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v <= 0)
		return false;
	*out = v;
	return true;
}

/* The URL of a row (the first usable of its URL columns), or -1. */
static int row_url(char **cell, size_t *clen, int n, const struct cat_cols *c,
		   const char *s3_scheme, char *out, size_t outsz)
{
	const char *th, *rep, *with;
	size_t thl, repl, withl;

	for (size_t k = 0; k < NURLS; k++) {
		const char *s;
		size_t l = get_cell(cell, clen, n, c->url[k], &s);
		char tmp[LOCATE_URL_MAX];

		if (l == 0)
			continue;
		repl = get_cell(cell, clen, n, c->other[COL_REPLACE], &rep);
		withl = get_cell(cell, clen, n, c->other[COL_WITH], &with);
		/* a client path: made a URL by the row's own rule */
		if (strcmp(url_names[k], "client_path") == 0 && repl > 0 &&
		    withl > 0 && l > repl && memcmp(s, rep, repl) == 0) {
			int m = snprintf(tmp, sizeof(tmp), "%.*s%.*s",
					 (int)withl, with, (int)(l - repl),
					 s + repl);

			if (m < 0 || (size_t)m >= sizeof(tmp))
				continue;
			/* the group is the path up to its .zarr */
			char *z = strstr(tmp, ".zarr/");

			if (z)
				z[5] = '\0';
			s = tmp;
			l = strlen(tmp);
		}
		if (cell_url(s, l, s3_scheme, out, outsz) < 0)
			continue;
		/* table.csv: a bioformats2raw store's image is its
		 * Thumbnail group, inside the store */
		thl = get_cell(cell, clen, n, c->other[COL_THUMB], &th);
		if (thl > strlen(out) && strncmp(th, out, strlen(out)) == 0 &&
		    th[strlen(out)] == '/') {
			char t2[LOCATE_URL_MAX];

			if (cell_url(th, thl, s3_scheme, t2, sizeof(t2)) == 0)
				snprintf(out, outsz, "%s", t2);
		}
		return 0;
	}
	return -1;
}

static int cat_add(struct locate_cat *cat, int64_t id, const char *url,
		   int version)
{
	if (cat->n == cat->cap) {
		size_t nc = cat->cap ? cat->cap * 2 : 64;
		struct cat_ent *nv;

		if (nc > LOCATE_CAT_MAX_ROWS)
			nc = LOCATE_CAT_MAX_ROWS;
		if (nc <= cat->n)
			return -EFBIG;
		nv = realloc(cat->v, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		cat->v = nv;
		cat->cap = nc;
	}
	cat->v[cat->n].url = strdup(url);
	if (!cat->v[cat->n].url)
		return -ENOMEM;
	cat->v[cat->n].id = id;
	cat->v[cat->n].version = version;
	cat->v[cat->n].row = cat->n;
	cat->n++;
	return 0;
}

/* Sort by id, then best first (higher version, then earlier row). */
static int ent_cmp(const void *a, const void *b)
{
	const struct cat_ent *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->version != y->version)
		return x->version > y->version ? -1 : 1;
	return x->row < y->row ? -1 : x->row > y->row;
}

void locate_cat_free(struct locate_cat *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].url);
	free(c->v);
	free(c);
}

int locate_cat_parse(const char *body, size_t len, const char *s3_scheme,
		     struct locate_cat **out)
{
	struct locate_cat *cat = NULL;
	struct cat_cols cols = {0};
	char **cell = NULL, *line = NULL;
	size_t *clen = NULL, pos = 0;
	bool have_header = false;
	char sep = ',';
	int rc = 0;

	if (len > LOCATE_CAT_MAX_BODY)
		return -EFBIG;
	cat = calloc(1, sizeof(*cat));
	cell = calloc(LOCATE_CAT_COLS_MAX, sizeof(*cell));
	clen = calloc(LOCATE_CAT_COLS_MAX, sizeof(*clen));
	line = malloc(LOCATE_CAT_LINE_MAX + 1);
	if (!cat || !cell || !clen || !line) {
		rc = -ENOMEM;
		goto out;
	}
	/* a UTF-8 byte order mark before the header */
	if (len >= 3 && memcmp(body, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (rc == 0 && pos < len) {
		const char *nl = memchr(body + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - body - pos) : len - pos;
		char url[LOCATE_URL_MAX];
		const char *s;
		size_t sl;
		int64_t id;
		int n;

		if (ll > LOCATE_CAT_LINE_MAX) {
			/* a line that long is no row of ours */
			cat->skipped++;
			pos += ll + 1;
			continue;
		}
		memcpy(line, body + pos, ll);
		pos += ll + 1;
		if (ll > 0 && line[ll - 1] == '\r')
			ll--;
		line[ll] = '\0';
		if (ll == 0 || memchr(line, '\0', ll))
			continue;
		if (!have_header) {
			sep = memchr(line, '\t', ll) ? '\t' : ',';
			n = split(line, ll, sep, cell, clen,
				  LOCATE_CAT_COLS_MAX);
			if (n < 0) {
				rc = -EBADMSG;
				break;
			}
			header_cols(cell, clen, n, &cols);
			have_header = true;
			bool any_url = false;

			for (size_t k = 0; k < NURLS; k++)
				any_url = any_url || cols.url[k] >= 0;
			if (cols.id < 0 || !any_url)
				rc = -EBADMSG;
			continue;
		}
		n = split(line, ll, sep, cell, clen, LOCATE_CAT_COLS_MAX);
		if (n < 0) {
			cat->skipped++;
			continue;
		}
		sl = get_cell(cell, clen, n, cols.other[COL_IS_ZARR], &s);
		if (sl > 0 && !cell_is(s, sl, "true") && !cell_is(s, sl, "1") &&
		    !cell_is(s, sl, "yes"))
			continue; /* not a Zarr: not an entry */
		sl = get_cell(cell, clen, n, cols.other[COL_WELLS], &s);
		if (sl > 0) {
			cat->skipped++; /* a plate names no image */
			continue;
		}
		sl = get_cell(cell, clen, n, cols.id, &s);
		if (!parse_id(s, sl, &id) ||
		    row_url(cell, clen, n, &cols, s3_scheme, url, sizeof(url)) <
			    0) {
			cat->skipped++;
			continue;
		}
		sl = get_cell(cell, clen, n, cols.other[COL_VERSION], &s);
		rc = cat_add(cat, id, url, parse_version(s, sl));
	}
	if (rc == 0 && !have_header)
		rc = -EBADMSG;
	if (rc == 0 && cat->n > 0) {
		size_t w = 0;

		qsort(cat->v, cat->n, sizeof(*cat->v), ent_cmp);
		for (size_t i = 0; i < cat->n; i++) {
			if (w > 0 && cat->v[w - 1].id == cat->v[i].id) {
				free(cat->v[i].url);
				continue;
			}
			cat->v[w++] = cat->v[i];
		}
		cat->n = w;
	}
out:
	free(cell);
	free(clen);
	free(line);
	if (rc < 0) {
		locate_cat_free(cat);
		return rc;
	}
	*out = cat;
	return 0;
}

const char *locate_cat_find(const struct locate_cat *c, int64_t id)
{
	size_t lo = 0, hi = c ? c->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->v[mid].id == id)
			return c->v[mid].url;
		if (c->v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

size_t locate_cat_size(const struct locate_cat *c, size_t *skipped)
{
	if (skipped)
		*skipped = c ? c->skipped : 0;
	return c ? c->n : 0;
}

/* ---- the locator ---- */

/* What a template's probes said of one container of a study. */
enum study_state { ST_OPEN, ST_YES, ST_NO };

struct study {
	char key[STUDY_KEY_MAX + 32];
	enum study_state state;	  /* OPEN: fewer than PROBE_TRIES said no, none
				   * yes: the next image is probed */
	bool probing;		  /* a caller asks the network now */
	uint64_t fresh_until;	  /* http_now_ms(); 0: ask again */
	int64_t neg[PROBE_TRIES]; /* images probed and not found */
	unsigned nneg;
	struct study *next;
};

struct locate {
	struct api_transport tr;
	struct cache *cache;
	uint64_t ttl_ms;
	char *s3_scheme;
	char *tmpls;
	size_t ntmpl;
	const char *tmpl[LOCATE_TEMPLATES_MAX]; /* into tmpls */
	size_t tlen[LOCATE_TEMPLATES_MAX];
	/* by rule slot: templates, then the fileset rule (FS_SLOT) */
	uint64_t thash[LOCATE_TEMPLATES_MAX + 1];
	struct api *api;   /* the fileset rule; NULL: off */
	char *orig_root;   /* where client paths are downloaded */
	char *cat_src;	   /* URL or path, or NULL */
	char cat_name[64]; /* its last path part, for answers */
	atomic_uint_fast64_t probes;

	/* lock: everything below */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct locate_cat *cat;
	bool cat_done;	  /* loaded, or failed for good */
	bool cat_loading; /* a fetch is under way */
	int cat_err;	  /* the lasting failure, 0 if none */
	struct study *buckets[NBUCKETS];
	size_t nstudies;
};

static int read_file(const char *path, char **body, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *b = NULL;
	size_t n = 0;
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > LOCATE_CAT_MAX_BODY) {
		rc = -EFBIG;
		goto out;
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		rc = -ENOMEM;
		goto out;
	}
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, b + n, (size_t)st.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : -EIO;
			goto out;
		}
		n += (size_t)r;
	}
	b[n] = '\0';
out:
	close(fd);
	if (rc < 0) {
		free(b);
		return rc;
	}
	*body = b;
	*len = n;
	return 0;
}

static void cat_log(const struct locate *l, const struct locate_cat *c)
{
	char esc[512];
	size_t skipped, n = locate_cat_size(c, &skipped);

	log_notice(LOG_C_ZARR, "catalogue \"%s\": %zu images, %zu rows skipped",
		   log_escape(l->cat_src, esc, sizeof(esc)), n, skipped);
}

struct cat_arg {
	const char *s3_scheme;
	struct locate_cat *cat;
};

/* The accept of a catalogue fetch: it keeps only what parses. */
static int cat_accept(const struct http_req *r, void *arg)
{
	struct cat_arg *a = arg;
	struct locate_cat *c = NULL;
	int rc = locate_cat_parse(r->body, r->len, a->s3_scheme, &c);

	if (rc < 0)
		return rc;
	locate_cat_free(a->cat);
	a->cat = c;
	return 0;
}

/* Load a catalogue URL once (l->lock held; dropped for the fetch). */
static int cat_ensure(struct locate *l, uint64_t deadline)
{
	struct cat_arg a = {.s3_scheme = l->s3_scheme};
	struct http_req r = {0};
	char esc[512];
	int rc;

	while (l->cat_loading) {
		rc = http_cond_wait(&l->cond, &l->lock, deadline);
		if (rc < 0)
			return rc;
	}
	if (l->cat_done)
		return 0;
	l->cat_loading = true;
	pthread_mutex_unlock(&l->lock);
	r.url = l->cat_src;
	r.max_body = LOCATE_CAT_MAX_BODY;
	r.accept = cat_accept;
	r.accept_arg = &a;
	l->tr.fetch(l->tr.ctx, &r, 1, deadline);
	rc = http_req_accept(&r);
	http_req_release(&r);
	pthread_mutex_lock(&l->lock);
	l->cat_loading = false;
	pthread_cond_broadcast(&l->cond);
	if (rc == 0) {
		l->cat = a.cat;
		l->cat_done = true;
		cat_log(l, l->cat);
		return 0;
	}
	locate_cat_free(a.cat);
	if (rc == -ENOENT || rc == -EACCES || rc == -EBADMSG || rc == -EPROTO ||
	    rc == -EFBIG || rc == -EINVAL) {
		/* the catalogue is not there or is none: said once, and
		 * every answer says it too */
		log_error(LOG_C_ZARR, "catalogue \"%s\" is unusable: %s",
			  log_escape(l->cat_src, esc, sizeof(esc)),
			  strerror(-rc));
		l->cat_done = true;
		l->cat_err = rc;
		return 0;
	}
	return rc; /* asked again next time */
}

static struct study **bucket(struct locate *l, const char *key)
{
	return &l->buckets[cache_ident_add(CACHE_IDENT_INIT, key, strlen(key)) %
			   NBUCKETS];
}

static struct study *study_find(struct locate *l, const char *key)
{
	for (struct study *s = *bucket(l, key); s; s = s->next) {
		if (strcmp(s->key, key) == 0)
			return s;
	}
	return NULL;
}

static void meta_key(const struct locate *l, size_t t, const char *skey,
		     char *out, size_t outsz)
{
	snprintf(out, outsz, "idrfs:locate:" KEY_VERSION ":%016" PRIx64 ":%s",
		 l->thash[t], skey);
}

/* The memo of an earlier mount: "+" or "-" and the ids probed without
 * a Zarr ("+ 2302 2303"). @return 0 (filled in), -1 none; *fresh:
 * within the TTL */
static int meta_get(struct locate *l, size_t t, const char *skey,
		    struct study *s, bool *fresh)
{
	char key[STUDY_KEY_MAX + 96], *body = NULL, *p, *end;
	size_t len = 0;
	int64_t at = 0, now = (int64_t)time(NULL);
	int rc = -1;

	if (!l->cache)
		return -1;
	meta_key(l, t, skey, key, sizeof(key));
	if (cache_meta_get(l->cache, key, &body, &len, &at) < 0)
		return -1;
	if (len >= 1 && (body[0] == '+' || body[0] == '-')) {
		s->state = body[0] == '+' ? ST_YES : ST_NO;
		s->nneg = 0;
		for (p = body + 1; s->nneg < PROBE_TRIES && *p == ' ';
		     p = end) {
			long long v = strtoll(p + 1, &end, 10);

			if (end == p + 1 || v <= 0)
				break;
			s->neg[s->nneg++] = v;
		}
		*fresh = now >= at && (uint64_t)(now - at) * 1000u < l->ttl_ms;
		rc = 0;
	}
	free(body);
	return rc;
}

static void meta_put(struct locate *l, size_t t, const char *skey,
		     const struct study *s)
{
	char key[STUDY_KEY_MAX + 96], v[16 + PROBE_TRIES * 24];
	size_t n = 0;

	if (!l->cache)
		return;
	meta_key(l, t, skey, key, sizeof(key));
	v[n++] = s->state == ST_YES ? '+' : '-';
	for (unsigned i = 0; i < s->nneg; i++)
		n += (size_t)snprintf(v + n, sizeof(v) - n, " %" PRId64,
				      s->neg[i]);
	cache_meta_put(l->cache, key, v, n, (int64_t)time(NULL));
}

/* One GET of a probe; the multiscales it parses is let go. */
static int probe1(struct locate *l, const char *url, bool keep_404,
		  uint64_t deadline)
{
	struct zarr_multiscale ms;
	struct http_req r = {0};
	int rc;

	r.url = url;
	r.max_body = META_MAX;
	r.accept = api_accept_multiscales;
	r.accept_arg = &ms;
	r.keep_404 = keep_404;
	atomic_fetch_add(&l->probes, 1);
	l->tr.fetch(l->tr.ctx, &r, 1, deadline);
	rc = http_req_accept(&r);
	if (rc == 0)
		zarr_multiscale_release(&ms);
	http_req_release(&r);
	return rc;
}

/* Is there a multiscales group at @p group? 1 yes, 0 no, or -errno:
 * the question went unanswered. */
static int probe(struct locate *l, const char *group, uint64_t deadline)
{
	char url[LOCATE_URL_MAX + 16];
	char esc[LOCATE_URL_MAX];
	int rc;

	snprintf(url, sizeof(url), "%s/.zattrs", group);
	rc = probe1(l, url, false, deadline);
	if (rc == -ENOENT) {
		/* Zarr v3 (NGFF 0.5): its 404 for a v2 group is kept */
		snprintf(url, sizeof(url), "%s/zarr.json", group);
		rc = probe1(l, url, true, deadline);
	}
	log_info(LOG_C_ZARR, "probe of \"%s\": %s",
		 log_escape(group, esc, sizeof(esc)),
		 rc == 0 ? "a multiscales group" : strerror(-rc));
	if (rc == 0)
		return 1;
	if (rc == -ENOENT || rc == -EACCES || rc == -EBADMSG || rc == -EPROTO ||
	    rc == -EINVAL || rc == -EFBIG)
		return 0;
	return rc;
}

static bool neg_has(const struct study *s, int64_t id)
{
	for (unsigned i = 0; i < s->nneg; i++) {
		if (s->neg[i] == id)
			return true;
	}
	return false;
}

/*
 * Does rule slot t (a template, or the fileset rule) find image @p id in
 * its study's container (key skey)? @p ask asks the network for this
 * image: 1 yes, 0 no, -errno (unanswered); so does this function. A container
 * is known once one probe found a group (yes: for all its images but those
 * probed without one) or PROBE_TRIES probes found none (no); until then
 * each image asked is probed. One caller asks at a time; the others of
 * the container wait for its answer.
 */
typedef int (*ask_fn)(struct locate *l, void *arg, uint64_t deadline);

static int study_answer(struct locate *l, size_t t, const char *skey,
			int64_t id, ask_fn ask, void *arg, uint64_t deadline)
{
	char key[STUDY_KEY_MAX + 32];
	struct study *s, old;
	bool fresh = false, loaded = false;
	int v, rc;

	int n = snprintf(key, sizeof(key), "%zu:%s", t, skey);

	if (n < 0 || (size_t)n >= sizeof(key))
		return -ENAMETOOLONG; /* keys must not collide by a cut */
	pthread_mutex_lock(&l->lock);
	for (;;) {
		s = study_find(l, key);
		if (!s || !s->probing)
			break;
		rc = http_cond_wait(&l->cond, &l->lock, deadline);
		if (rc < 0) {
			pthread_mutex_unlock(&l->lock);
			return rc;
		}
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s) {
			pthread_mutex_unlock(&l->lock);
			return -ENOMEM;
		}
		snprintf(s->key, sizeof(s->key), "%s", key);
		s->state = ST_OPEN;
		s->next = *bucket(l, key);
		*bucket(l, key) = s;
		l->nstudies++;
		/* a remount: the memo of the last mount, read once */
		loaded = meta_get(l, t, skey, s, &fresh) == 0;
		s->fresh_until =
			loaded && fresh ? http_now_ms() + l->ttl_ms : 0;
	}
	if (neg_has(s, id)) {
		pthread_mutex_unlock(&l->lock);
		return 0;
	}
	if (s->state != ST_OPEN && s->fresh_until > http_now_ms()) {
		v = s->state == ST_YES;
		pthread_mutex_unlock(&l->lock);
		return v;
	}
	/* open, or stale: this image is probed */
	old = *s;
	s->probing = true;
	pthread_mutex_unlock(&l->lock);

	rc = ask(l, arg, deadline);

	pthread_mutex_lock(&l->lock);
	s->probing = false;
	if (rc < 0 && old.state != ST_OPEN) {
		/* unanswered: the old answer holds, asked again soon */
		s->fresh_until = http_now_ms() + 4000u;
		v = old.state == ST_YES;
	} else if (rc < 0) {
		v = rc;
	} else {
		if (old.state != ST_OPEN) {
			/* a stale answer is asked anew from the start */
			s->state = ST_OPEN;
			s->nneg = 0;
		}
		if (rc == 1) {
			s->state = ST_YES;
		} else if (s->nneg < PROBE_TRIES) {
			s->neg[s->nneg++] = id;
			if (s->nneg == PROBE_TRIES && s->state == ST_OPEN)
				s->state = ST_NO;
		}
		s->fresh_until = http_now_ms() + l->ttl_ms;
		if (s->state != ST_OPEN)
			meta_put(l, t, skey, s);
		v = rc;
	}
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	return v;
}

static int ask_template(struct locate *l, void *url, uint64_t deadline)
{
	return probe(l, url, deadline);
}

/* The placeholders an image's place gives (study and letter: none). */
static struct locate_vars vars_of(const struct api_image *img,
				  const struct locate_ctx *ctx)
{
	struct locate_vars v = {
		.id = img->id, .row = -1, .column = -1, .field = -1};

	if (ctx && ctx->plate > 0) {
		v.plate = ctx->plate;
		v.row = ctx->row;
		v.column = ctx->column;
		v.field = ctx->field;
	}
	return v;
}

/* ---- filesets that are a Zarr ---- */

/* Length of the path up to and with its first segment named *.zarr
 * (".ome.zarr" too), 0 if none. */
static size_t zarr_root_len(const char *p)
{
	size_t i = 0;

	while (p[i]) {
		size_t n = strcspn(p + i, "/");

		if (n >= 5 && strncasecmp(p + i + n - 5, ".zarr", 5) == 0)
			return i + n;
		i += n;
		if (p[i] == '/')
			i++;
	}
	return 0;
}

/* Does the fileset list group @p g's file @p tail ("/.zattrs")? */
static bool has_file(const char *const *paths, size_t n, const char *g,
		     const char *tail)
{
	size_t gl = strlen(g);

	for (size_t i = 0; i < n; i++) {
		if (strncmp(paths[i], g, gl) == 0 &&
		    strcmp(paths[i] + gl, tail) == 0)
			return true;
	}
	return false;
}

int locate_fileset_group(const char *const *paths, size_t n,
			 const struct locate_vars *v, int32_t series, char *out,
			 size_t outsz)
{
	/* room in a candidate for the root and /row/column/field */
	char cand[3][LOCATE_URL_MAX], root[LOCATE_URL_MAX - 64], row[8];
	size_t rl = 0, nc = 0;

	for (size_t i = 0; i < n && !rl; i++) {
		rl = zarr_root_len(paths[i]);
		if (rl >= sizeof(root))
			return -ENAMETOOLONG;
		if (rl)
			snprintf(root, sizeof(root), "%.*s", (int)rl, paths[i]);
	}
	if (!rl)
		return -ENOENT;
	/* where the image may be: a plate's field, a bioformats2raw
	 * series, the root itself */
	if (v && v->plate > 0 && v->row >= 0 && v->column >= 0 &&
	    v->field >= 0) {
		row_name(v->row, row);
		snprintf(cand[nc++], sizeof(cand[0]),
			 "%s/%s/%" PRId32 "/%" PRId32, root, row, v->column + 1,
			 v->field);
	}
	snprintf(cand[nc++], sizeof(cand[0]), "%s/%" PRId32, root,
		 series > 0 ? series : 0);
	snprintf(cand[nc++], sizeof(cand[0]), "%s", root);
	/* an image group holds its level-0 array; failing that, take the
	 * first place that is a group at all (the probe checks it) */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t k = 0; k < nc; k++) {
			const char *t1 = pass ? "/.zattrs" : "/0/.zarray";
			const char *t2 = pass ? "/zarr.json" : "/0/zarr.json";

			if (!has_file(paths, n, cand[k], t1) &&
			    !has_file(paths, n, cand[k], t2))
				continue;
			if (strlen(cand[k]) >= outsz)
				return -ENAMETOOLONG;
			snprintf(out, outsz, "%s", cand[k]);
			return 0;
		}
	}
	return -ENOENT;
}

int locate_fileset(struct locate *l, const struct api_image *img,
		   const struct locate_ctx *ctx, uint64_t deadline, char *url,
		   size_t urlsz)
{
	const struct locate_vars v = vars_of(img, ctx);
	char group[LOCATE_URL_MAX];
	char **paths = NULL, *u = NULL;
	size_t n = 0;
	int rc;

	if (!l || !l->api)
		return -ENOENT;
	rc = api_client_paths(l->api, img->id, true, deadline, &paths, &n);
	if (rc < 0)
		return rc; /* logged by api */
	rc = locate_fileset_group((const char *const *)paths, n, &v,
				  img->series, group, sizeof(group));
	api_strings_free(paths, n);
	if (rc == 0)
		rc = api_client_url(l->orig_root, group, &u);
	if (rc == 0 && strlen(u) >= urlsz)
		rc = -ENAMETOOLONG;
	if (rc == 0)
		snprintf(url, urlsz, "%s", u);
	else
		log_info(LOG_C_ZARR, "image %" PRId64 ": its fileset %s",
			 img->id, rc == -ENOENT ? "is no Zarr" : strerror(-rc));
	free(u);
	return rc;
}

struct fs_ask {
	const struct api_image *img;
	const struct locate_ctx *ctx;
	char url[LOCATE_URL_MAX];
};

/* The fileset rule's probe of one image: its paths, then its group. */
static int ask_fileset(struct locate *l, void *arg, uint64_t deadline)
{
	struct fs_ask *a = arg;
	int rc;

	atomic_fetch_add(&l->probes, 1);
	rc = locate_fileset(l, a->img, a->ctx, deadline, a->url,
			    sizeof(a->url));
	/* no Zarr in the list, or no list for the image: no; an answer
	 * that did not parse is no answer (nothing is kept) */
	if (rc == -ENOENT || rc == -EACCES || rc == -EFBIG ||
	    rc == -ENAMETOOLONG)
		return 0;
	if (rc < 0)
		return rc;
	return probe(l, a->url, deadline);
}

static void why_add(char *why, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void why_add(char *why, size_t size, const char *fmt, ...)
{
	size_t n = strlen(why);
	va_list ap;

	if (n + 3 >= size)
		return;
	if (n > 0 && why[n - 1] != ' ') {
		memcpy(why + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(why + n, size - n, fmt, ap);
	va_end(ap);
}

int locate_image(struct locate *l, const struct api_image *img,
		 const struct locate_ctx *ctx, uint64_t deadline,
		 struct locate_answer *out)
{
	struct locate_vars v = vars_of(img, ctx);
	char study[8], letter[3], skey[STUDY_KEY_MAX], ckey[STUDY_KEY_MAX + 24];
	char notes[LOCATE_WHY_MAX] = "";
	const char *name = ctx ? ctx->study : NULL, *unit;
	int rc;

	memset(out, 0, sizeof(*out));

	if (l && l->cat_src) {
		const char *url = NULL;

		pthread_mutex_lock(&l->lock);
		rc = l->cat_done ? 0 : cat_ensure(l, deadline);
		if (rc == 0 && l->cat)
			url = locate_cat_find(l->cat, img->id);
		if (url) {
			out->rule = LOCATE_CATALOGUE;
			snprintf(out->url, sizeof(out->url), "%s", url);
			snprintf(out->why, sizeof(out->why), "catalogue %s",
				 l->cat_name);
		} else if (rc == 0) {
			why_add(notes, sizeof(notes),
				l->cat_err ? "catalogue %s unusable"
					   : "not in catalogue %s",
				l->cat_name);
		}
		pthread_mutex_unlock(&l->lock);
		if (rc < 0)
			return rc;
		if (url)
			return 0;
	}

	locate_study_of(name, study, letter);
	v.study = study;
	v.letter = letter;
	/* the unit a probe speaks for: idrNNNN and its letter, else the
	 * study's own name, else the whole archive (unit, in answers) */
	if (study[0])
		snprintf(skey, sizeof(skey), "%s%s", study, letter);
	else
		snprintf(skey, sizeof(skey), "%s", name ? name : "");
	unit = skey[0] ? skey : "the archive";
	/* probes are kept per container: a study may be converted in part
	 * (a dataset of images with no Zarr beside converted ones) */
	snprintf(ckey, sizeof(ckey), "%s/%" PRId64, skey,
		 ctx ? ctx->container : 0);
	for (size_t t = 0; l && t < l->ntmpl; t++) {
		char url[LOCATE_URL_MAX];
		int n = locate_expand(l->tmpl[t], l->tlen[t], &v, url,
				      sizeof(url));

		if (n == -ENOENT) {
			/* plate templates are for plates only: no note */
			if (!v.plate &&
			    tmpl_has(l->tmpl[t], l->tlen[t], "plate"))
				continue;
			why_add(notes, sizeof(notes),
				"zarr_url needs {study}{letter}: '%.60s' "
				"is no idrNNNN-.../experimentX name",
				name ? name : "");
			continue;
		}
		if (n < 0)
			continue;
		rc = study_answer(l, t, ckey, img->id, ask_template, url,
				  deadline);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			out->rule = LOCATE_TEMPLATE;
			snprintf(out->url, sizeof(out->url), "%s", url);
			snprintf(out->why, sizeof(out->why),
				 "zarr_url template (probed on %.100s)", unit);
			return 0;
		}
		why_add(notes, sizeof(notes), "zarr_url found none for %.100s",
			unit);
	}

	if (img->zarr_lsid) {
		out->rule = LOCATE_EXTERNALINFO;
		snprintf(out->why, sizeof(out->why), "externalinfo");
		return 0;
	}
	if (l && l->api) {
		struct fs_ask a = {.img = img, .ctx = ctx};

		rc = study_answer(l, FS_SLOT, ckey, img->id, ask_fileset, &a,
				  deadline);
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0) {
			/* a rule nobody asked for does not fail a listing:
			 * the image is rendered for now, nothing is kept,
			 * and the next listing asks again */
			why_add(notes, sizeof(notes), "fileset not asked (%s)",
				strerror(-rc));
		} else if (rc == 1) {
			/* the image probed has its URL; the others of the
			 * container find theirs when opened
			 * (locate_fileset()) */
			out->rule = LOCATE_FILESET;
			snprintf(out->url, sizeof(out->url), "%s", a.url);
			snprintf(out->why, sizeof(out->why),
				 "fileset is a zarr (probed on %.100s)", unit);
			return 0;
		} else {
			why_add(notes, sizeof(notes),
				"no zarr fileset in %.100s", unit);
		}
	}
	out->rule = LOCATE_NONE;
	snprintf(out->why, sizeof(out->why), "no zarr: ");
	why_add(out->why, sizeof(out->why), "%s", notes);
	if (!l || (!l->ntmpl && !l->cat_src)) {
		why_add(out->why, sizeof(out->why),
			"set -o zarr_url= or -o zarr_catalog=");
		return 0;
	}
	if (!l->ntmpl)
		why_add(out->why, sizeof(out->why), "try -o zarr_url=");
	if (!l->cat_src)
		why_add(out->why, sizeof(out->why), "try -o zarr_catalog=");
	return 0;
}

uint64_t locate_probes(const struct locate *l)
{
	return l ? atomic_load(&((struct locate *)l)->probes) : 0;
}

void locate_free(struct locate *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < NBUCKETS; i++) {
		while (l->buckets[i]) {
			struct study *s = l->buckets[i];

			l->buckets[i] = s->next;
			free(s);
		}
	}
	locate_cat_free(l->cat);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->cond);
	free(l->s3_scheme);
	free(l->orig_root);
	free(l->tmpls);
	free(l->cat_src);
	free(l);
}

int locate_new(const struct locate_config *cfg, struct locate **out)
{
	struct locate *l = calloc(1, sizeof(*l));
	char msg[512], esc[512];
	int rc = 0;

	if (!l)
		return -ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	http_cond_init(&l->cond);
	atomic_init(&l->probes, 0);
	l->tr = cfg->tr;
	l->cache = cfg->cache;
	l->ttl_ms = (uint64_t)(cfg->ttl_s ? cfg->ttl_s : 86400u) * 1000u;
	l->s3_scheme = strdup(cfg->s3_scheme ? cfg->s3_scheme : "https");
	if (!l->s3_scheme) {
		rc = -ENOMEM;
		goto out;
	}
	if (cfg->api && cfg->originals_root) {
		l->api = cfg->api;
		l->orig_root = strdup(cfg->originals_root);
		if (!l->orig_root) {
			rc = -ENOMEM;
			goto out;
		}
		/* memos of the rule are kept per download root */
		l->thash[FS_SLOT] = cache_ident_add(
			cache_ident_add(CACHE_IDENT_INIT, "fileset:", 8),
			l->orig_root, strlen(l->orig_root));
	}
	if (cfg->zarr_url) {
		const char *s;

		rc = locate_templates_check(cfg->zarr_url, msg, sizeof(msg));
		if (rc < 0) {
			log_error(LOG_C_ZARR, "zarr_url: %s",
				  log_escape(msg, esc, sizeof(esc)));
			goto out;
		}
		l->tmpls = strdup(cfg->zarr_url);
		if (!l->tmpls) {
			rc = -ENOMEM;
			goto out;
		}
		for (s = l->tmpls; l->ntmpl < LOCATE_TEMPLATES_MAX;) {
			size_t len = strcspn(s, "|");

			l->tmpl[l->ntmpl] = s;
			l->tlen[l->ntmpl] = len;
			l->thash[l->ntmpl] =
				cache_ident_add(CACHE_IDENT_INIT, s, len);
			l->ntmpl++;
			if (!s[len])
				break;
			s += len + 1;
		}
	}
	if (cfg->catalogue) {
		const char *base;
		size_t bl;

		l->cat_src = strdup(cfg->catalogue);
		if (!l->cat_src) {
			rc = -ENOMEM;
			goto out;
		}
		bl = strcspn(l->cat_src, "?#");
		while (bl > 0 && l->cat_src[bl - 1] == '/')
			bl--;
		base = l->cat_src + bl;
		while (base > l->cat_src && base[-1] != '/')
			base--;
		char raw[sizeof(l->cat_name)];

		snprintf(raw, sizeof(raw), "%.*s",
			 (int)(l->cat_src + bl - base), base);
		log_escape(raw, l->cat_name, sizeof(l->cat_name));
	}
	if (l->cat_src && strncmp(l->cat_src, "http://", 7) != 0 &&
	    strncmp(l->cat_src, "https://", 8) != 0) {
		char *body = NULL;
		size_t len = 0;

		rc = read_file(l->cat_src, &body, &len);
		if (rc == 0)
			rc = locate_cat_parse(body, len, l->s3_scheme, &l->cat);
		free(body);
		if (rc < 0) {
			log_error(LOG_C_ZARR, "catalogue \"%s\": %s",
				  log_escape(l->cat_src, esc, sizeof(esc)),
				  rc == -EBADMSG ? "no image id or URL column "
						   "in its header"
						 : strerror(-rc));
			rc = -EINVAL;
			goto out;
		}
		l->cat_done = true;
		cat_log(l, l->cat);
	}
out:
	if (rc < 0) {
		locate_free(l);
		return rc;
	}
	*out = l;
	return 0;
}
