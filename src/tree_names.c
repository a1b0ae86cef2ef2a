/* SPDX-License-Identifier: MIT */
/*
 * tree_names: what the tree calls things. Archive names made safe for a
 * directory entry, made unique in their directory (against each other and
 * against the files the tree adds, such as images.tsv), well labels, and
 * the path of a node as log lines show it. No I/O, no lock of its own.
 *
 * Unique names. The remote's names repeat, and a suffixed name can equal
 * another entry's real name ("a", "a" and "a [5]"), or a file the tree
 * generates (a dataset called images.tsv). Resolution depends only on the
 * set of entries, never on the order the server sent them, so every mount
 * agrees: a name that occurs once, and is not one the tree reserves, is
 * kept as it is; every other entry gets " [id]" before its extension, all
 * members of a group alike; and when that too is taken, " [id-2]",
 * " [id-3]"... in the order of (name, id). The suffix is never cut: the
 * base name is cut instead, on a UTF-8 boundary, to stay within
 * TREE_NAME_MAX bytes.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idrfs/log.h"

#include "tree_int.h"

/* ---- names ---- */

/*
 * Length of the UTF-8 sequence at s; *bad is set when it must not appear
 * in a name (invalid UTF-8: one byte; a C1 control, which terminals take
 * as an escape: the whole sequence).
 */
static size_t utf8_len(const unsigned char *s, bool *bad)
{
	size_t n;
	uint32_t cp;

	*bad = false;
	if (s[0] < 0x80) {
		*bad = s[0] < 0x20 || s[0] == 0x7f || s[0] == '/';
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		*bad = true;
		return 1;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*bad = true;
			return 1;
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff)) {
		*bad = true;
		return 1;
	}
	*bad = cp >= 0x80 && cp < 0xa0;
	return n;
}

size_t tree_sanitize_name(const char *in, char *out, size_t max)
{
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	size_t o = 0;

	if (strcmp((const char *)s, ".") == 0 ||
	    strcmp((const char *)s, "..") == 0)
		out[o++] = '_';
	while (*s) {
		bool bad;
		size_t n = utf8_len(s, &bad);
		size_t w = bad ? 1 : n;

		if (w > max - o)
			break;
		if (bad)
			out[o] = '_';
		else
			memcpy(out + o, s, n);
		o += w;
		s += n;
	}
	/* a cut can leave a dot name (".x" at max 1) */
	if ((o == 1 || o == 2) && out[0] == '.' && out[o - 1] == '.')
		out[0] = '_';
	if (o == 0) {
		const char *un = "unnamed";

		o = strlen(un) < max ? strlen(un) : max;
		memcpy(out, un, o);
	}
	out[o] = '\0';
	return o;
}

static void letters(uint32_t v, char *out, size_t outsz)
{
	char tmp[16];
	size_t n = 0;

	/* 0 -> A, 25 -> Z, 26 -> AA (bijective base 26) */
	v++;
	while (v > 0 && n < sizeof(tmp)) {
		v--;
		tmp[n++] = (char)('A' + v % 26);
		v /= 26;
	}
	for (size_t i = 0; i < n && i + 1 < outsz; i++) {
		out[i] = tmp[n - 1 - i];
		out[i + 1] = '\0';
	}
}

void tree_well_name(int32_t row, int32_t column, bool rows_letters,
		    bool columns_letters, char *out, size_t outsz)
{
	char r[16] = "", c[16] = "";

	if (rows_letters)
		letters((uint32_t)row, r, sizeof(r));
	else
		snprintf(r, sizeof(r), "%02" PRId32, row + 1);
	if (columns_letters)
		letters((uint32_t)column, c, sizeof(c));
	else
		snprintf(c, sizeof(c), "%02" PRId32, column + 1);
	snprintf(out, outsz, "%s%s%s", r,
		 rows_letters != columns_letters ? "" : "-", c);
}

/* ---- unique names ---- */

/* A set of names: open addressing over borrowed strings. */
struct nameset {
	const char **slot;
	size_t mask;
};

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static int nameset_init(struct nameset *s, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n + 16)
		cap *= 2;
	s->slot = calloc(cap, sizeof(*s->slot));
	s->mask = cap - 1;
	return s->slot ? 0 : -ENOMEM;
}

/* Add name unless it is there; whether it was added. */
static bool nameset_add(struct nameset *s, const char *name)
{
	size_t i = name_hash(name) & s->mask;

	while (s->slot[i]) {
		if (strcmp(s->slot[i], name) == 0)
			return false;
		i = (i + 1) & s->mask;
	}
	s->slot[i] = name;
	return true;
}

static bool nameset_has(const struct nameset *s, const char *name)
{
	size_t i = name_hash(name) & s->mask;

	while (s->slot[i]) {
		if (strcmp(s->slot[i], name) == 0)
			return true;
		i = (i + 1) & s->mask;
	}
	return false;
}

size_t tree_utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	/* back off continuation bytes: never split a sequence */
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/* base (cut to fit) + suffix + ext, at most TREE_NAME_MAX bytes. */
static char *fit(const char *base, const char *suffix, const char *ext)
{
	size_t sl = strlen(suffix), el = strlen(ext), bl = strlen(base);
	size_t room = TREE_NAME_MAX > sl + el ? TREE_NAME_MAX - sl - el : 0;
	char *out;

	bl = tree_utf8_cut(base, bl, room);
	out = malloc(bl + sl + el + 1);
	if (!out)
		return NULL;
	memcpy(out, base, bl);
	memcpy(out + bl, suffix, sl);
	memcpy(out + bl + sl, ext, el + 1);
	return out;
}

struct uorder {
	struct tree_uname *u;
	char *natural;
	bool alone; /* its name is its own */
};

static int uorder_cmp(const void *a, const void *b)
{
	const struct uorder *x = a, *y = b;
	int c = strcmp(x->natural, y->natural);

	if (c == 0)
		c = strcmp(x->u->tag, y->u->tag);
	if (c == 0 && x->u->order != y->u->order)
		c = x->u->order < y->u->order ? -1 : 1;
	return c;
}

int tree_names_unique(struct tree_uname *v, size_t n,
		      const char *const *reserved, size_t nres)
{
	struct uorder *o = calloc(n + 1, sizeof(*o));
	struct nameset set = {0};
	int rc = o ? nameset_init(&set, n + nres) : -ENOMEM;

	for (size_t i = 0; rc == 0 && i < n; i++) {
		o[i].u = &v[i];
		o[i].natural = fit(v[i].base, "", v[i].ext);
		if (!o[i].natural)
			rc = -ENOMEM;
	}
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < nres; i++)
		nameset_add(&set, reserved[i]);
	if (n > 0)
		qsort(o, n, sizeof(*o), uorder_cmp);
	/* names that occur once and are free keep them */
	for (size_t i = 0; i < n; i++)
		o[i].alone =
			(i == 0 || strcmp(o[i - 1].natural, o[i].natural)) &&
			(i + 1 == n ||
			 strcmp(o[i + 1].natural, o[i].natural)) &&
			!nameset_has(&set, o[i].natural);
	for (size_t i = 0; i < n; i++) {
		if (!o[i].alone)
			continue;
		o[i].u->name = o[i].natural;
		o[i].natural = NULL;
		nameset_add(&set, o[i].u->name);
	}
	/* the others, in (name, tag) order: the first free suffix; each
	 * try differs from the ones before, so n + nres + 1 tries do */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct tree_uname *u = o[i].u;

		for (size_t k = 1; !u->name && k <= n + nres + 1; k++) {
			char sfx[64];
			char *cand;

			if (k == 1)
				snprintf(sfx, sizeof(sfx), " [%s]", u->tag);
			else
				snprintf(sfx, sizeof(sfx), " [%s-%zu]", u->tag,
					 k);
			cand = fit(u->base, sfx, u->ext);
			if (!cand) {
				rc = -ENOMEM;
				break;
			}
			if (nameset_add(&set, cand))
				u->name = cand;
			else
				free(cand);
		}
		if (rc == 0 && !u->name) {
			log_error(LOG_C_TREE, "internal error: no free name");
			rc = -EIO;
		}
	}
out:
	for (size_t i = 0; o && i < n; i++)
		free(o[i].natural);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++) {
			free(v[i].name);
			v[i].name = NULL;
		}
	}
	free(o);
	free(set.slot);
	return rc;
}

/* ---- paths for log lines ---- */

const char *tree_kind_name(enum tree_kind kind)
{
	static const char *const names[] = {
		[TREE_K_ROOT] = "root",
		[TREE_K_README] = "README.txt",
		[TREE_K_PROJECTS] = "projects",
		[TREE_K_SCREENS] = "screens",
		[TREE_K_PROJECT] = "project",
		[TREE_K_DATASET] = "dataset",
		[TREE_K_SCREEN] = "screen",
		[TREE_K_PLATE] = "plate",
		[TREE_K_WELL] = "well",
		[TREE_K_IMAGE] = "image",
		[TREE_K_ORIGDIR] = "originals of image",
		[TREE_K_ORIGSUB] = "originals directory",
		[TREE_K_ORIGFILE] = "original file",
		[TREE_K_MENU] = "menu",
		[TREE_K_TERM] = "term",
		[TREE_K_TSTUDY] = "study of a term",
		[TREE_K_LINK] = "link",
		[TREE_K_TSV] = "images.tsv",
		[TREE_K_STUDYTXT] = "study.txt",
		[TREE_K_STATSDIR] = ".idrfs",
		[TREE_K_STATS] = "stats",
	};

	return (size_t)kind < sizeof(names) / sizeof(names[0]) && names[kind]
		       ? names[kind]
		       : "node";
}

/* The name dir gives n, or NULL. */
static const char *name_in(const struct node *dir, const struct node *n)
{
	for (size_t i = 0; dir && i < dir->nents; i++) {
		if (dir->ents[i].node == n)
			return dir->ents[i].name;
	}
	for (size_t i = 0; dir && dir->view && i < dir->view->nfound; i++) {
		if (dir->view->found[i].node == n)
			return dir->view->found[i].name;
	}
	return NULL;
}

#define LOG_PATH_DEPTH 128u

char *tree_log_path(const struct node *n, char *out, size_t outsz)
{
	const char *names[LOG_PATH_DEPTH];
	char raw[TREE_LOG_PATH];
	const struct node *c = n;
	size_t depth = 0, o = 0;
	bool whole;

	while (c && c->kind != TREE_K_ROOT && depth < LOG_PATH_DEPTH) {
		const char *name = name_in(c->up, c);

		if (!name)
			break;
		names[depth++] = name;
		c = c->up;
	}
	whole = c && c->kind == TREE_K_ROOT;
	if (!whole && depth == LOG_PATH_DEPTH)
		o = (size_t)snprintf(raw, sizeof(raw), "...");
	else if (!whole) /* no listing names it (should not happen) */
		o = (size_t)snprintf(
			raw, sizeof(raw), "(unlisted %s %" PRId64 ")",
			c ? tree_kind_name(c->kind) : "node", c ? c->id : 0);
	else if (depth == 0)
		o = (size_t)snprintf(raw, sizeof(raw), "/");
	while (depth > 0 && o < sizeof(raw)) {
		depth--;
		o += (size_t)snprintf(raw + o, sizeof(raw) - o, "/%s",
				      names[depth]);
	}
	return log_escape(raw, out, outsz);
}
