/* SPDX-License-Identifier: MIT */
/*
 * tree_archive: the archive model. Projects, datasets, screens, plates,
 * wells and images as the api lists them, and the one place they get
 * their names. Views (projects/, screens/, by-*, originals/, images.tsv,
 * extended attributes) never name an archive object themselves: they read
 * the names from the listings made here (arch_list), or ask arch_locate()
 * for the canonical path of an image, which walks those same listings.
 *
 * Names. An object's stem is its archive name made safe
 * (tree_sanitize_name), with a trailing .tif/.tiff/.ome.tif/.ome.tiff
 * dropped for images (so "a.ome.tif" is "a.tif", never "a.ome.tif.tif")
 * and a leading '.' made '_' (so nothing is hidden), cut once at a UTF-8
 * boundary; every derived name of an image (<stem>.tif,
 * <stem>.rendered.tif, originals/.../<stem>/) uses that one stem. Within
 * a directory, stems and names that repeat, or that are names idrfs
 * keeps for its own files, get " (<id>)", all members of a group alike,
 * until every one is unique; no glob metacharacter is ever added.
 *
 * Which name an image file has (.tif or .rendered.tif) depends on its
 * pixel source, which only the image's own listing says (a dataset's,
 * or the well's own answer: a plate's well listing carries image stubs
 * without Pixels or ExternalInfo). That is why a screen image is located
 * through its well's listing, never through the plate's.
 *
 * mtime: the acquisition date, else the study's release date (its
 * study/info annotation, read once per study listing), else TREE_EPOCH;
 * never the mount time, so rsync -a sees no change after a remount.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "idrfs/http.h"
#include "idrfs/locate.h"
#include "idrfs/log.h"
#include "idrfs/pixsrc.h"
#include "idrfs/tiff.h"

#include "tree_int.h"

#define NS_STUDY      "idr.openmicroscopy.org/study/info"
#define SUFFIX_ROUNDS 4
#define PATH_MAX_LEN  4096u

static const char *node_path(struct tree *t, const struct node *n, char *buf,
			     size_t size);

/* ---- names ---- */

/*
 * Length of the UTF-8 sequence at s; *bad is set when it must not appear
 * in a name (invalid UTF-8: one byte; a C1 control, which terminals take
 * as an escape: the whole sequence).
 */
static size_t utf8_len(const unsigned char *s, bool *bad)
{
	size_t n = log_utf8_len(s);

	if (n == 0) {
		*bad = true;
		return 1;
	}
	*bad = n == 1 ? s[0] < 0x20 || s[0] == 0x7f || s[0] == '/'
		      : n == 2 && s[0] == 0xc2 && s[1] < 0xa0;
	return n;
}

size_t tree_sanitize_name(const char *in, char *out, size_t max)
{
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	size_t o = 0;

	/* "." and ".." are no names: the same number of '_' */
	if (strcmp((const char *)s, ".") == 0 ||
	    strcmp((const char *)s, "..") == 0) {
		o = strlen((const char *)s) < max ? strlen((const char *)s)
						  : max;
		memset(out, '_', o);
		s += strlen((const char *)s);
	}
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
	if (o == 0) {
		const char *un = "unnamed";

		o = strlen(un) < max ? strlen(un) : max;
		memcpy(out, un, o);
	}
	out[o] = '\0';
	/* a cut never leaves "." or ".." ("..x" cut to two bytes is "_.") */
	if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
		out[0] = '_';
	return o;
}

/* Cut a valid UTF-8 string to at most max bytes, at a boundary. */
static size_t utf8_cut(char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	len = max;
	while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
		len--;
	s[len] = '\0';
	return len;
}

size_t tree_object_stem(const char *name, bool image, char *out)
{
	/* ".ome" too: "a.ome" would be "a.ome.tif", image "a"'s .ome.tif */
	static const char *const exts[] = {".ome.tiff", ".ome.tif", ".tiff",
					   ".tif", ".ome"};
	char buf[4 * TREE_NAME_MAX + 1];
	size_t n = tree_sanitize_name(name, buf, sizeof(buf) - 1);

	for (size_t i = 0; image && i < sizeof(exts) / sizeof(exts[0]); i++) {
		size_t el = strlen(exts[i]);

		if (n > el && strcasecmp(buf + n - el, exts[i]) == 0) {
			n -= el;
			buf[n] = '\0';
			break;
		}
	}
	/* nothing hidden: ".x" is "_x" */
	for (size_t i = 0; i < n && buf[i] == '.'; i++)
		buf[i] = '_';
	n = utf8_cut(buf, n, TREE_STEM_MAX);
	memcpy(out, buf, n + 1);
	return n;
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

struct nkey {
	const char *s; /* the stem or the whole name */
	size_t i;
};

static int nkey_cmp(const void *a, const void *b)
{
	const struct nkey *x = a, *y = b;
	int c = strcmp(x->s, y->s);

	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* Mark every member of a group of equal keys. */
static void mark_groups(struct nkey *k, size_t n, bool *mark)
{
	if (n > 0)
		qsort(k, n, sizeof(*k), nkey_cmp);
	for (size_t i = 0; i + 1 < n; i++) {
		if (strcmp(k[i].s, k[i + 1].s) == 0) {
			mark[k[i].i] = true;
			mark[k[i + 1].i] = true;
		}
	}
}

static void add_suffix(struct tree_name *e)
{
	char sfx[32];
	size_t sl = (size_t)snprintf(sfx, sizeof(sfx), " (%" PRId64 ")", e->id);
	size_t max = TREE_NAME_MAX - strlen(e->ext) - sl;
	size_t l = utf8_cut(e->stem, strlen(e->stem), max);

	memcpy(e->stem + l, sfx, sl + 1);
}

/*
 * @unittest test_tree
 * Each round compares stems with stems and whole names with whole names
 * and reserved names; the members of every group get their suffix. A
 * round makes the members of a group distinct (ids differ), so a new
 * collision can only come from a name that looked like a suffixed one;
 * the next round separates those too.
 */
void tree_names_unique(struct tree_name *v, size_t n,
		       const char *const *reserved)
{
	struct nkey *k = calloc(n + 1, sizeof(*k));
	char **full = calloc(n + 1, sizeof(*full));
	bool *mark = calloc(n + 1, sizeof(*mark));
	bool any = true;

	for (int round = 0; k && full && mark && any && round <= SUFFIX_ROUNDS;
	     round++) {
		size_t m = 0;

		any = false;
		memset(mark, 0, n * sizeof(*mark));
		for (size_t i = 0; i < n; i++) {
			free(full[i]);
			if (asprintf(&full[i], "%s%s", v[i].stem, v[i].ext) < 0)
				full[i] = NULL;
			if (!full[i])
				goto out;
			for (size_t r = 0; reserved && reserved[r]; r++)
				mark[i] |= strcmp(full[i], reserved[r]) == 0;
		}
		for (size_t i = 0; i < n; i++) {
			if (!v[i].dropped)
				k[m++] = (struct nkey){v[i].stem, i};
		}
		mark_groups(k, m, mark);
		m = 0;
		for (size_t i = 0; i < n; i++) {
			if (!v[i].dropped)
				k[m++] = (struct nkey){full[i], i};
		}
		mark_groups(k, m, mark);
		for (size_t i = 0; i < n; i++) {
			if (!mark[i] || v[i].dropped)
				continue;
			any = true;
			if (round == SUFFIX_ROUNDS)
				v[i].dropped = true; /* hostile: give up */
			else
				add_suffix(&v[i]);
		}
	}
out:
	if (!k || !full || !mark) {
		/* no memory to compare: keep none rather than clash */
		for (size_t i = 0; i < n; i++)
			v[i].dropped = true;
	}
	for (size_t i = 0; full && i < n; i++)
		free(full[i]);
	free(full);
	free(k);
	free(mark);
}

/* ---- kind data ---- */

void arch_free(void *data)
{
	struct arch *a = data;

	free(a->name);
	free(a->fields);
	free(a->study);
	free(a);
}

static void arch_image_free(void *data)
{
	struct arch_image *im = data;

	if (atomic_fetch_sub(&im->refs, 1) != 1)
		return;
	for (int v = 0; v < ARCH_VIEWS; v++)
		pixsrc_image_free(im->pix[v].pix);
	arch_kvset_put(im->kvs);
	free(atomic_load(&im->zarr));
	free(im->why);
	api_image_release(&im->img);
	free(im);
}

void arch_kvset_put(struct arch_kvset *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	api_kvs_free(s->kvs, s->n);
	free(s);
}

bool arch_is_container(enum tree_kind kind)
{
	return kind >= TREE_K_PROJECTS && kind <= TREE_K_WELL;
}

int64_t arch_date(const struct node *n)
{
	if (arch_is_container(n->kind) && n->data)
		return ((const struct arch *)n->data)->date;
	if (arch_is_image_file(n->kind) && n->data)
		return ((const struct arch_image *)n->data)->date;
	return 0;
}

bool arch_is_image_file(enum tree_kind kind)
{
	return kind == TREE_K_IMAGE || kind == TREE_K_OMETIF;
}

const char *arch_image_ext(const struct arch_image *im)
{
	return im->rendered ? ".rendered.tif" : ".tif";
}

#define OMETIF_EXT ".ome.tif"

/* The extension of an image file node's name. */
static const char *node_ext(const struct node *n)
{
	if (n->kind == TREE_K_OMETIF)
		return OMETIF_EXT;
	return arch_image_ext(n->data);
}

/* ---- listing the archive ---- */

/* Size of an image's virtual TIFF; 0 if the geometry is unusable. */
static uint64_t image_size(const struct api_image *img, bool rendered)
{
	struct tiff_geom g;
	struct tiff_layout l;
	unsigned bps = pixsrc_file_bps(img->px.type);

	if (!img->has_pixels || (!rendered && bps == 0))
		return 0;
	g = (struct tiff_geom){
		.x = img->px.size_x,
		.y = img->px.size_y,
		.c = img->px.size_c,
		.z = img->px.size_z,
		.t = img->px.size_t_,
		.bps = rendered ? 1 : bps,
		.samples = rendered ? 3 : 1,
	};
	if (tiff_layout_compute(&g, &l) < 0)
		return 0;
	return l.size;
}

/* Size of an image's .ome.tif; 0 if it has none (rendered, unusable). */
static uint64_t ome_size(const struct api_image *img, bool rendered)
{
	struct tiff_ome_geom g;
	struct tiff_ome_layout l;

	if (rendered || pixsrc_ome_geom(img, &g) < 0 ||
	    tiff_ome_layout_compute(&g, &l) < 0)
		return 0;
	return l.size;
}

static bool id_ok(int64_t id, const char *what)
{
	if (id >= 0 && (uint64_t)id <= TREE_ID_MAX)
		return true;
	log_warn(LOG_C_TREE, "%s id %" PRId64 " is out of range; left out",
		 what, id);
	return false;
}

/* Children being named: names, and the node data for each. */
struct kids {
	struct tree_name *names;
	void **data;
	enum tree_kind kind;
	size_t n;
	int64_t *mtime;
	uint64_t *size;
};

static int kids_alloc(struct kids *k, enum tree_kind kind, size_t n)
{
	k->kind = kind;
	k->n = 0;
	k->names = calloc(n + 1, sizeof(*k->names));
	k->data = calloc(n + 1, sizeof(*k->data));
	k->mtime = calloc(n + 1, sizeof(*k->mtime));
	k->size = calloc(n + 1, sizeof(*k->size));
	return k->names && k->data && k->mtime && k->size ? 0 : -ENOMEM;
}

static void kids_free(struct kids *k)
{
	for (size_t i = 0; k->data && i < k->n; i++) {
		if (k->data[i])
			tree_kind_ops(k->kind)->free(k->data[i]);
	}
	free(k->names);
	free(k->data);
	free(k->mtime);
	free(k->size);
}

/* Name the children and move them into the build. */
static int kids_build(struct kids *k, const char *const *reserved,
		      struct tree_build *b)
{
	int rc = 0;

	tree_names_unique(k->names, k->n, reserved);
	for (size_t i = 0; rc == 0 && i < k->n; i++) {
		struct tree_name *nm = &k->names[i];
		char *name = NULL;

		if (nm->dropped) {
			log_warn(LOG_C_TREE,
				 "object %" PRId64 ": no unique name; left "
				 "out",
				 nm->id);
			continue;
		}
		if (asprintf(&name, "%s%s", nm->stem, nm->ext) < 0)
			name = NULL;
		rc = tree_build_add(b, k->kind, TREE_INO(k->kind, nm->id), name,
				    (uint16_t)strlen(nm->stem), k->data[i]);
		if (rc == 0) {
			tree_build_last(b)->mtime = k->mtime[i];
			tree_build_last(b)->size = k->size[i];
		}
		/* a raw image's .ome.tif: the same image, the same stem */
		if (rc == 0 && k->kind == TREE_K_IMAGE && nm->ome_size > 0) {
			struct arch_image *im = k->data[i];

			atomic_fetch_add(&im->refs, 1);
			if (asprintf(&name, "%s" OMETIF_EXT, nm->stem) < 0)
				name = NULL;
			rc = tree_build_add(b, TREE_K_OMETIF,
					    TREE_INO(TREE_K_OMETIF, nm->id),
					    name, (uint16_t)strlen(nm->stem),
					    im);
			if (rc == 0) {
				tree_build_last(b)->mtime = k->mtime[i];
				tree_build_last(b)->size = nm->ome_size;
			}
		}
		k->data[i] = NULL;
	}
	return rc;
}

static int64_t or_epoch(int64_t s)
{
	return s > 0 ? s : TREE_EPOCH;
}

/* "2016-05-26" (and "2016-05-26 ...") as seconds; 0 if it is not one. */
static int64_t parse_date(const char *s)
{
	struct tm tm = {0};
	int y, m, d;
	char rest;

	if (!s || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &rest) < 3 ||
	    y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
		return 0;
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	return (int64_t)timegm(&tm);
}

int arch_study_kvs(struct tree *t, struct node *study, uint64_t deadline,
		   struct api_kv **kvs, size_t *n, char **name)
{
	const struct arch *a = study->data;

	return api_object_kvs(
		t->api, study->kind == TREE_K_SCREEN ? "screen" : "project",
		a ? a->id : 0, NS_STUDY, deadline, kvs, n, name);
}

/* The release date of a study (its study/info "Release Date"). */
static int study_date(struct tree *t, struct node *study, uint64_t deadline,
		      int64_t *out)
{
	struct api_kv *kvs = NULL;
	size_t n = 0;
	int rc = arch_study_kvs(t, study, deadline, &kvs, &n, NULL);

	*out = 0;
	for (size_t i = 0; rc == 0 && i < n && *out == 0; i++) {
		if (strcmp(kvs[i].key, "Release Date") == 0)
			*out = parse_date(kvs[i].value);
	}
	api_kvs_free(kvs, n);
	return rc;
}

/* study: the parent's name for children of a project or screen (the
 * locator's study context), or NULL */
static int list_containers(struct kids *k, enum tree_kind kind,
			   struct api_container *v, size_t n, int64_t date,
			   const char *study, int rc)
{
	if (rc == 0)
		rc = kids_alloc(k, kind, n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct arch *a;

		if (!id_ok(v[i].id, "container"))
			continue;
		a = calloc(1, sizeof(*a));
		if (!a) {
			rc = -ENOMEM;
			break;
		}
		*a = (struct arch){.id = v[i].id,
				   .name = v[i].name,
				   .child_count = v[i].child_count,
				   .rows_letters = v[i].rows_letters,
				   .columns_letters = v[i].columns_letters,
				   .date = date};
		v[i].name = NULL;
		if (study) {
			a->study = strdup(study);
			if (!a->study) {
				arch_free(a);
				rc = -ENOMEM;
				break;
			}
		}
		tree_object_stem(a->name, false, k->names[k->n].stem);
		k->names[k->n].ext = "";
		k->names[k->n].id = a->id;
		k->mtime[k->n] = or_epoch(date);
		k->data[k->n++] = a;
	}
	api_containers_free(v, n);
	return rc;
}

/*
 * An image of a listing as a child (its strings move into it). Its pixel
 * source, and so its name and size, is the locator's answer: no request
 * per image (one per study not yet known, locate.h); a question it could
 * not answer fails the listing, and the next one asks again.
 */
static int kid_image(struct tree *t, struct kids *k, struct api_image *img,
		     const char *label, int64_t date,
		     const struct locate_ctx *ctx, uint64_t deadline)
{
	struct locate_answer ans;
	struct arch_image *im;
	char *zarr;
	int rc;

	if (!id_ok(img->id, "image"))
		return 0;
	rc = locate_image(t->locate, img, ctx, deadline, &ans);
	if (rc < 0)
		return rc; /* logged where it failed */
	im = calloc(1, sizeof(*im));
	if (!im)
		return -ENOMEM;
	atomic_init(&im->refs, 1);
	im->why = strdup(ans.why);
	zarr = ans.url[0] ? strdup(ans.url) : NULL;
	atomic_init(&im->zarr, zarr);
	if (!im->why || (ans.url[0] && !zarr)) {
		free(im->why);
		free(im);
		return -ENOMEM;
	}
	im->img = *img;
	memset(img, 0, sizeof(*img));
	im->rendered = ans.rule == LOCATE_NONE;
	if (ans.rule == LOCATE_FILESET && !ans.url[0]) {
		im->fileset = true;
		im->plate = ctx ? ctx->plate : 0;
		im->row = ctx ? ctx->row : -1;
		im->column = ctx ? ctx->column : -1;
		im->field = ctx ? ctx->field : -1;
	}
	im->date = date;
	tree_object_stem(label ? label : im->img.name, true,
			 k->names[k->n].stem);
	k->names[k->n].ext = arch_image_ext(im);
	k->names[k->n].id = im->img.id;
	k->size[k->n] = image_size(&im->img, im->rendered);
	k->names[k->n].ome_size = ome_size(&im->img, im->rendered);
	im->has_ome = k->names[k->n].ome_size > 0;
	k->mtime[k->n] = im->img.acquisition_ms > 0
				 ? im->img.acquisition_ms / 1000
				 : or_epoch(date);
	k->data[k->n++] = im;
	return 0;
}

static int list_wells(struct kids *k, const struct arch *plate,
		      struct api_well *w, size_t n)
{
	int rc = kids_alloc(k, TREE_K_WELL, n);

	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct arch *a;

		if (!id_ok(w[i].id, "well"))
			continue;
		a = calloc(1, sizeof(*a));
		if (a)
			a->fields = calloc(w[i].nfields + 1, sizeof(int64_t));
		if (!a || !a->fields) {
			free(a);
			rc = -ENOMEM;
			break;
		}
		a->id = w[i].id;
		a->date = plate->date;
		a->plate = plate->id;
		a->row = w[i].row;
		a->column = w[i].column;
		if (plate->study) {
			a->study = strdup(plate->study);
			if (!a->study) {
				arch_free(a);
				rc = -ENOMEM;
				break;
			}
		}
		/* the plate's stubs say which images; only the well's own
		 * answer says what they are (and so their names) */
		for (size_t f = 0; f < w[i].nfields; f++)
			a->fields[f] = w[i].fields[f].id;
		a->nfields = w[i].nfields;
		tree_well_name(w[i].row, w[i].column, plate->rows_letters,
			       plate->columns_letters, k->names[k->n].stem,
			       sizeof(k->names[k->n].stem));
		k->names[k->n].ext = "";
		k->names[k->n].id = a->id;
		k->mtime[k->n] = or_epoch(plate->date);
		k->data[k->n++] = a;
	}
	return rc;
}

int arch_list(struct tree *t, struct node *dir, const char *const *reserved,
	      uint64_t deadline, struct tree_build *b)
{
	const struct arch *a = dir->data;
	struct api_container *cs = NULL;
	struct api_image *imgs = NULL;
	struct api_well *wells = NULL;
	struct api_well well = {0};
	struct kids k = {0};
	int64_t date = 0;
	size_t n = 0;
	int rc;

	if (!a)
		return -EIO; /* internal: containers always have data */
	switch (dir->kind) {
	case TREE_K_PROJECTS:
		rc = api_list_projects(t->api, deadline, &cs, &n);
		rc = list_containers(&k, TREE_K_PROJECT, cs, n, 0, NULL, rc);
		break;
	case TREE_K_SCREENS:
		rc = api_list_screens(t->api, deadline, &cs, &n);
		rc = list_containers(&k, TREE_K_SCREEN, cs, n, 0, NULL, rc);
		break;
	case TREE_K_PROJECT:
	case TREE_K_SCREEN:
		rc = study_date(t, dir, deadline, &date);
		if (rc == 0 && dir->kind == TREE_K_PROJECT)
			rc = api_list_datasets(t->api, a->id, deadline, &cs,
					       &n);
		else if (rc == 0)
			rc = api_list_plates(t->api, a->id, deadline, &cs, &n);
		rc = list_containers(&k,
				     dir->kind == TREE_K_PROJECT
					     ? TREE_K_DATASET
					     : TREE_K_PLATE,
				     cs, n, date, a->name, rc);
		break;
	case TREE_K_DATASET:
		rc = api_list_images_expect(t->api, a->id, a->child_count,
					    deadline, &imgs, &n);
		if (rc == 0)
			rc = kids_alloc(&k, TREE_K_IMAGE, n);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			const struct locate_ctx ctx = {.study = a->study,
						       .container = a->id};

			rc = kid_image(t, &k, &imgs[i], NULL, a->date, &ctx,
				       deadline);
		}
		api_images_free(imgs, n);
		break;
	case TREE_K_PLATE:
		rc = api_list_wells(t->api, a->id, deadline, &wells, &n);
		if (rc == 0)
			rc = list_wells(&k, a, wells, n);
		api_wells_free(wells, n);
		break;
	case TREE_K_WELL:
		rc = api_get_well(t->api, a->id, deadline, &well);
		if (rc == 0)
			rc = kids_alloc(&k, TREE_K_IMAGE, well.nfields);
		for (size_t i = 0; rc == 0 && i < well.nfields; i++) {
			char label[32];

			const struct locate_ctx ctx = {.study = a->study,
						       .container = a->plate,
						       .plate = a->plate,
						       .row = a->row,
						       .column = a->column,
						       .field = (int32_t)i};

			snprintf(label, sizeof(label), "field-%zu", i + 1);
			rc = kid_image(t, &k, &well.fields[i], label, a->date,
				       &ctx, deadline);
		}
		api_well_release(&well);
		break;
	default:
		rc = -ENOTDIR;
		break;
	}
	if (rc == 0)
		rc = kids_build(&k, reserved, b);
	kids_free(&k);
	return rc;
}

/* ---- canonical paths ---- */

/* projects/ or screens/ (made on first use, as the root lists them). */
static int top_node(struct tree *t, bool screen, struct node **out)
{
	struct node *root = tree_node_find(t, TREE_ROOT_INO);
	struct arch *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	return tree_node_make(t, screen ? TREE_K_SCREENS : TREE_K_PROJECTS,
			      screen ? TREE_SCREENS_INO : TREE_PROJECTS_INO, a,
			      root, screen ? "screens" : "projects", out);
}

int arch_study_name(struct tree *t, bool screen, int64_t id, uint64_t deadline,
		    char *out, size_t outsz, struct node **node)
{
	struct tree_listing *l = NULL;
	const struct tree_ent *e;
	struct node *top;
	int rc = top_node(t, screen, &top);

	if (rc == 0)
		rc = tree_listed(t, top, deadline, &l);
	if (rc < 0)
		return rc;
	e = tree_listing_by_ino(
		l, TREE_INO(screen ? TREE_K_SCREEN : TREE_K_PROJECT, id));
	if (e) {
		snprintf(out, outsz, "%s", e->name);
		*node = e->node;
	}
	tree_listing_put(l);
	return e ? 0 : -ENOENT;
}

void arch_places_free(struct arch_place *p, size_t n)
{
	for (size_t i = 0; p && i < n; i++)
		free(p[i].path);
	free(p);
}

static int where_cmp(const void *a, const void *b)
{
	const struct arch_where *x = *(const struct arch_where *const *)a;
	const struct arch_where *y = *(const struct arch_where *const *)b;

	if (x->screen != y->screen)
		return x->screen ? 1 : -1;
	if (x->study != y->study)
		return x->study < y->study ? -1 : 1;
	if (x->container != y->container)
		return x->container < y->container ? -1 : 1;
	return (x->image > y->image) - (x->image < y->image);
}

static int place_set(struct arch_place *p, const char *dir,
		     const struct tree_ent *e)
{
	if (asprintf(&p->path, "%s/%s", dir, e->name) < 0) {
		p->path = NULL;
		return -ENOMEM;
	}
	p->name_off = strlen(dir) + 1;
	p->stem_len = e->stem;
	p->node = e->node;
	return 0;
}

struct field_ref {
	int64_t image;
	const struct tree_ent *well;
};

static int field_ref_cmp(const void *a, const void *b)
{
	const struct field_ref *x = a, *y = b;

	return (x->image > y->image) - (x->image < y->image);
}

/* The wells of a plate's listing by the images they hold. */
static int plate_fields(const struct tree_listing *pl, struct field_ref **out,
			size_t *nout)
{
	struct field_ref *v;
	size_t n = 0;

	for (size_t i = 0; i < pl->n; i++) {
		const struct arch *a = pl->ents[i].node->data;

		if (pl->ents[i].node->kind == TREE_K_WELL && a)
			n += a->nfields;
	}
	v = calloc(n + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < pl->n; i++) {
		const struct arch *a = pl->ents[i].node->data;

		for (size_t f = 0; pl->ents[i].node->kind == TREE_K_WELL && a &&
				   f < a->nfields;
		     f++)
			v[n++] = (struct field_ref){a->fields[f], &pl->ents[i]};
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), field_ref_cmp);
	*out = v;
	*nout = n;
	return 0;
}

/* Place the images of one plate (w[0..n) share it). */
static int place_plate(struct tree *t, const char *dir,
		       const struct tree_listing *pl,
		       const struct arch_where *const *w, struct arch_place *p,
		       const struct arch_where *base, uint64_t deadline)
{
	struct field_ref *refs = NULL;
	const struct tree_ent **wells = NULL;
	struct node **todo = NULL;
	size_t nr = 0, nt = 0, n = 0;
	int rc;

	while (w[n] && w[n]->screen == w[0]->screen &&
	       w[n]->study == w[0]->study && w[n]->container == w[0]->container)
		n++;
	rc = plate_fields(pl, &refs, &nr);
	if (rc == 0) {
		wells = calloc(n + 1, sizeof(*wells));
		todo = calloc(n + 1, sizeof(*todo));
		rc = wells && todo ? 0 : -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct field_ref key = {.image = w[i]->image}, *r;

		if (w[i]->well > 0)
			wells[i] = tree_listing_by_ino(
				pl, TREE_INO(TREE_K_WELL, w[i]->well));
		if (!wells[i]) {
			r = nr ? bsearch(&key, refs, nr, sizeof(*refs),
					 field_ref_cmp)
			       : NULL;
			wells[i] = r ? r->well : NULL;
		}
		if (wells[i])
			todo[nt++] = wells[i]->node;
	}
	/* every well once, all at once: one request each, in parallel */
	if (rc == 0)
		rc = tree_list_many(t, todo, nt, deadline);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct tree_listing *wl = NULL;
		const struct tree_ent *e;
		char wdir[PATH_MAX_LEN];
		int k;

		if (!wells[i])
			continue;
		rc = tree_listed(t, wells[i]->node, deadline, &wl);
		if (rc < 0)
			break;
		e = tree_listing_by_ino(wl,
					TREE_INO(TREE_K_IMAGE, w[i]->image));
		k = snprintf(wdir, sizeof(wdir), "%s/%s", dir, wells[i]->name);
		if (e && k > 0 && (size_t)k < sizeof(wdir))
			rc = place_set(&p[w[i] - base], wdir, e);
		tree_listing_put(wl);
	}
	free(refs);
	free(wells);
	free(todo);
	return rc;
}

static void warn_unlisted(int64_t id, int64_t image, const char *what)
{
	log_warn(LOG_C_TREE,
		 "%s %" PRId64 " of image %" PRId64
		 " is not listed; its images are left out",
		 what, id, image);
}

/* Place the images of one study (w[0..) until the study changes). */
static int place_study(struct tree *t, const struct arch_where *const *w,
		       size_t n, struct arch_place *p,
		       const struct arch_where *base, uint64_t deadline)
{
	char sname[TREE_NAME_MAX + 1], dir[PATH_MAX_LEN];
	struct tree_listing *sl = NULL;
	struct node *study = NULL;
	bool screen = w[0]->screen;
	int rc = arch_study_name(t, screen, w[0]->study, deadline, sname,
				 sizeof(sname), &study);

	if (rc == -ENOENT) {
		warn_unlisted(w[0]->study, w[0]->image,
			      screen ? "screen" : "project");
		return 0;
	}
	if (rc == 0)
		rc = tree_listed(t, study, deadline, &sl);
	for (size_t i = 0; rc == 0 && i < n;) {
		const struct tree_ent *c = tree_listing_by_ino(
			sl, TREE_INO(screen ? TREE_K_PLATE : TREE_K_DATASET,
				     w[i]->container));
		struct tree_listing *cl = NULL;
		size_t j = i;

		while (j < n && w[j]->container == w[i]->container)
			j++;
		if (!c) {
			warn_unlisted(w[i]->container, w[i]->image,
				      screen ? "plate" : "dataset");
			i = j;
			continue;
		}
		if (snprintf(dir, sizeof(dir), "%s/%s/%s",
			     screen ? "screens" : "projects", sname,
			     c->name) >= (int)sizeof(dir)) {
			i = j; /* no such path: left out */
			continue;
		}
		rc = tree_listed(t, c->node, deadline, &cl);
		if (rc == 0 && screen)
			rc = place_plate(t, dir, cl, w + i, p, base, deadline);
		for (size_t k = i; rc == 0 && !screen && k < j; k++) {
			const struct tree_ent *e = tree_listing_by_ino(
				cl, TREE_INO(TREE_K_IMAGE, w[k]->image));

			if (e)
				rc = place_set(&p[w[k] - base], dir, e);
		}
		tree_listing_put(cl);
		i = j;
	}
	tree_listing_put(sl);
	return rc;
}

int arch_locate(struct tree *t, const struct arch_where *w, size_t n,
		uint64_t deadline, struct arch_place **out)
{
	const struct arch_where **order = calloc(n + 1, sizeof(*order));
	struct arch_place *p = calloc(n + 1, sizeof(*p));
	int rc = order && p ? 0 : -ENOMEM;

	for (size_t i = 0; rc == 0 && i < n; i++)
		order[i] = &w[i];
	if (rc == 0 && n > 0)
		qsort(order, n, sizeof(*order), where_cmp);
	for (size_t i = 0; rc == 0 && i < n;) {
		size_t j = i;

		while (j < n && order[j]->screen == order[i]->screen &&
		       order[j]->study == order[i]->study)
			j++;
		if (order[i]->study > 0)
			rc = place_study(t, order + i, j - i, p, w, deadline);
		i = j;
	}
	free(order);
	if (rc < 0) {
		arch_places_free(p, n);
		return rc;
	}
	*out = p;
	return 0;
}

int tree_image_path(struct tree *t, int64_t image_id, uint64_t deadline,
		    char **out)
{
	struct api_container *ds = NULL, *pr = NULL;
	struct arch_place *p = NULL;
	size_t nds = 0, npr = 0;
	int rc = api_image_datasets(t->api, image_id, deadline, &ds, &nds);

	if (rc == 0 && nds == 0)
		rc = -ENOENT; /* a plate's image, or an orphan */
	if (rc == 0)
		rc = api_dataset_projects(t->api, ds[0].id, deadline, &pr,
					  &npr);
	if (rc == 0 && npr == 0)
		rc = -ENOENT; /* an orphaned dataset: not in projects/ */
	if (rc == 0) {
		struct arch_where w = {.study = pr[0].id,
				       .container = ds[0].id,
				       .image = image_id};

		rc = arch_locate(t, &w, 1, deadline, &p);
	}
	if (rc == 0 && !p[0].path)
		rc = -ENOENT;
	if (rc == 0) {
		*out = strdup(p[0].path);
		rc = *out ? 0 : -ENOMEM;
	}
	if (p)
		arch_places_free(p, 1);
	api_containers_free(pr, npr);
	api_containers_free(ds, nds);
	return rc;
}

/* ---- key/values ---- */

static int node_ino_cmp(const void *a, const void *b)
{
	uint64_t x = (*(struct node *const *)a)->ino;
	uint64_t y = (*(struct node *const *)b)->ino;

	return (x > y) - (x < y);
}

int arch_fetch_kvs(struct tree *t, struct node **imgs, size_t n,
		   uint64_t deadline)
{
	struct node **todo = calloc(n + 1, sizeof(*todo));
	int64_t *ids = calloc(n + 1, sizeof(*ids));
	struct api_kvset *sets = NULL;
	uint64_t now = http_now_ms();
	size_t m = 0, w = 0;
	int rc = todo && ids ? 0 : -ENOMEM;

	pthread_mutex_lock(&t->img_lock);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct arch_image *im = imgs[i]->data;

		if (imgs[i]->kind != TREE_K_IMAGE || !im ||
		    (im->kvs && now - im->kvs_at < t->ttl_ms))
			continue;
		todo[m++] = imgs[i];
	}
	pthread_mutex_unlock(&t->img_lock);
	/* sorted and each once: the same URLs at every build */
	if (m > 0)
		qsort(todo, m, sizeof(*todo), node_ino_cmp);
	for (size_t i = 0; i < m; i++) {
		if (w == 0 || todo[w - 1] != todo[i])
			todo[w++] = todo[i];
	}
	m = w;
	for (size_t i = 0; i < m; i++)
		ids[i] = (int64_t)(todo[i]->ino & TREE_ID_MAX);
	if (rc == 0 && m > 0)
		rc = api_images_kvs(t->api, ids, m, deadline, &sets);
	for (size_t i = 0; rc == 0 && i < m; i++) {
		struct arch_kvset *s = calloc(1, sizeof(*s));
		struct arch_image *im = todo[i]->data;

		if (!s) {
			rc = -ENOMEM;
			break;
		}
		atomic_init(&s->refs, 1);
		s->kvs = sets[i].kvs;
		s->n = sets[i].n;
		sets[i].kvs = NULL;
		sets[i].n = 0;
		if (s->n > TREE_KV_MAX) {
			char esc[PATH_MAX_LEN];

			log_warn(LOG_C_TREE,
				 "'%s': %zu key/value pairs; only the first %u "
				 "are shown",
				 node_path(t, todo[i], esc, sizeof(esc)), s->n,
				 TREE_KV_MAX);
			for (size_t k = TREE_KV_MAX; k < s->n; k++) {
				free(s->kvs[k].ns);
				free(s->kvs[k].key);
				free(s->kvs[k].value);
			}
			s->n = TREE_KV_MAX;
		}
		pthread_mutex_lock(&t->img_lock);
		arch_kvset_put(im->kvs);
		im->kvs = s;
		im->kvs_at = http_now_ms();
		pthread_mutex_unlock(&t->img_lock);
	}
	if (sets)
		api_kvsets_free(sets, m);
	free(todo);
	free(ids);
	return rc;
}

struct arch_kvset *arch_kvs_of(struct tree *t, struct node *img, bool *fresh)
{
	struct arch_image *im = img->data;
	struct arch_kvset *s = NULL;

	if (fresh)
		*fresh = false;
	if (!arch_is_image_file(img->kind) || !im)
		return NULL;
	pthread_mutex_lock(&t->img_lock);
	s = im->kvs;
	if (s)
		atomic_fetch_add(&s->refs, 1);
	if (s && fresh)
		*fresh = http_now_ms() - im->kvs_at < t->ttl_ms;
	pthread_mutex_unlock(&t->img_lock);
	return s;
}

/* An image's key/values: with those of its dataset or well, at once. */
static int image_kvs(struct tree *t, struct node *n, uint64_t deadline)
{
	struct tree_listing *l = NULL;
	struct node **v = NULL;
	struct node *parent;
	size_t m = 0;
	int rc;

	pthread_mutex_lock(&t->lock);
	parent = n->parent;
	pthread_mutex_unlock(&t->lock);
	if (!parent || tree_listed(t, parent, deadline, &l) < 0)
		return arch_fetch_kvs(t, &n, 1, deadline);
	v = calloc(l->n + 1, sizeof(*v));
	if (!v) {
		tree_listing_put(l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (l->ents[i].node->kind == TREE_K_IMAGE)
			v[m++] = l->ents[i].node;
	}
	v[m++] = n; /* also when it is no longer listed there */
	rc = arch_fetch_kvs(t, v, m, deadline);
	free(v);
	tree_listing_put(l);
	return rc;
}

/* ---- extended attributes ---- */

/* "user.idr.kv." + the key with bytes outside [A-Za-z0-9._-] as '_'. */
static void kv_attr_name(const char *key, char *out, size_t outsz)
{
	size_t o = (size_t)snprintf(out, outsz, "user.idr.kv.");

	for (const unsigned char *p = (const unsigned char *)key;
	     *p && o + 1 < outsz; p++) {
		bool ok = (*p >= 'A' && *p <= 'Z') ||
			  (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
			  *p == '-';

		out[o++] = ok ? (char)*p : '_';
	}
	out[o] = '\0';
}

static void add_kvs(struct tree_xattrs *x, const struct api_kv *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char name[256];

		kv_attr_name(kvs[i].key, name, sizeof(name));
		tree_xattr_add(x, name, kvs[i].value);
	}
}

static const char *const kind_words[] = {
	[TREE_K_PROJECT] = "project", [TREE_K_DATASET] = "dataset",
	[TREE_K_SCREEN] = "screen",   [TREE_K_PLATE] = "plate",
	[TREE_K_WELL] = "well",	      [TREE_K_IMAGE] = "image",
};

static int image_xattrs(struct tree *t, struct node *n, bool with_kv,
			uint64_t deadline, struct tree_xattrs *x)
{
	const struct arch_image *im = n->data;
	const struct api_image *img = &im->img;
	struct arch_kvset *kvs;
	char path[PATH_MAX_LEN];
	bool fresh;
	int rc = 0;

	tree_xattr_addf(x, "user.idr.id", "%" PRId64, img->id);
	tree_xattr_addf(x, "user.idr.url", "%s/webclient/?show=image-%" PRId64,
			api_base_url(t->api), img->id);
	tree_xattr_add(x, "user.idr.source",
		       im->rendered ? "rendered" : "zarr");
	tree_xattr_add(x, "user.idr.source_why", im->why ? im->why : "");
	if (img->has_pixels) {
		tree_xattr_addf(x, "user.idr.dims", "X=%u Y=%u Z=%u C=%u T=%u",
				img->px.size_x, img->px.size_y, img->px.size_z,
				img->px.size_c, img->px.size_t_);
		tree_xattr_add(x, "user.idr.pixel_type",
			       api_pixel_type_name(img->px.type));
	}
	/* the parallel tree: the same path without the file extension;
	 * the other file of a raw image beside it */
	if (tree_path(t, n, path, sizeof(path)) == 0) {
		size_t l = strlen(path), el = strlen(node_ext(n));

		if (l > el) {
			tree_xattr_addf(x, "user.idr.originals",
					"originals/%.*s", (int)(l - el), path);
			if (im->has_ome) {
				tree_xattr_addf(x, "user.idr.ome_tif",
						"%.*s" OMETIF_EXT,
						(int)(l - el), path);
				tree_xattr_addf(x, "user.idr.zarr",
						"zarr/%.*s.zarr", (int)(l - el),
						path);
			}
		}
	}
	if (!with_kv)
		return 0;
	kvs = arch_kvs_of(t, n, &fresh);
	if (!fresh) {
		rc = image_kvs(t, n, deadline);
		if (rc == 0 || kvs) {
			/* served what we had when the refresh fails */
			rc = 0;
			arch_kvset_put(kvs);
			kvs = arch_kvs_of(t, n, NULL);
		}
	}
	if (kvs)
		add_kvs(x, kvs->kvs, kvs->n);
	arch_kvset_put(kvs);
	return rc;
}

int arch_xattrs(struct tree *t, struct node *n, bool with_kv, uint64_t deadline,
		struct tree_xattrs *x)
{
	const struct arch *a = n->data;
	struct api_kv *kvs = NULL;
	size_t nk = 0;
	int rc;

	if (arch_is_image_file(n->kind) && n->data)
		return image_xattrs(t, n, with_kv, deadline, x);
	if (!arch_is_container(n->kind) || !a || n->kind < TREE_K_PROJECT)
		return 0; /* projects/ and screens/ are no objects */
	tree_xattr_addf(x, "user.idr.id", "%" PRId64, a->id);
	tree_xattr_addf(x, "user.idr.url", "%s/webclient/?show=%s-%" PRId64,
			api_base_url(t->api), kind_words[n->kind], a->id);
	tree_xattr_add(x, "user.idr.type", kind_words[n->kind]);
	if (!with_kv || (n->kind != TREE_K_PROJECT && n->kind != TREE_K_SCREEN))
		return 0;
	rc = arch_study_kvs(t, n, deadline, &kvs, &nk, NULL);
	if (rc == 0)
		add_kvs(x, kvs, nk);
	api_kvs_free(kvs, nk);
	return rc;
}

/* ---- image files ---- */

static const char *node_path(struct tree *t, const struct node *n, char *buf,
			     size_t size)
{
	char raw[PATH_MAX_LEN];

	if (tree_path(t, n, raw, sizeof(raw)) < 0)
		snprintf(raw, sizeof(raw), "image %" PRIu64,
			 (uint64_t)(n->ino & TREE_ID_MAX));
	return log_escape(raw, buf, size);
}

/*
 * The Zarr URL of an image for pixsrc: the locator's, else (the fileset
 * rule) the one its fileset names, asked on first open and kept; NULL:
 * the image's own Lsid (img.zarr_lsid stays as it is).
 */
static int arch_zarr_url(struct tree *t, struct node *n, struct arch_image *im,
			 uint64_t deadline, char **url)
{
	const struct locate_ctx ctx = {.plate = im->plate,
				       .row = im->row,
				       .column = im->column,
				       .field = im->field};
	char found[LOCATE_URL_MAX], esc[PATH_MAX_LEN];
	char *mine, *want = NULL;
	int rc;

	mine = atomic_load(&im->zarr);
	if (mine)
		*url = mine;
	if (mine || !im->fileset)
		return 0;
	rc = locate_fileset(t->locate, &im->img, &ctx, deadline, found,
			    sizeof(found));
	if (rc < 0) {
		/* named raw by its container's probe: no raw pixels */
		log_error(LOG_C_TREE,
			  "'%s': no Zarr in the image's fileset (%s), though "
			  "its container's first image had one",
			  node_path(t, n, esc, sizeof(esc)), strerror(-rc));
		return rc == -ENOENT ? -EIO : rc;
	}
	mine = strdup(found);
	if (!mine)
		return -ENOMEM;
	if (!atomic_compare_exchange_strong(&im->zarr, &want, mine)) {
		free(mine); /* another open was first: the same answer */
		mine = want;
	}
	*url = mine;
	return 0;
}

int arch_pix_take(struct tree *t, struct node *n, struct arch_image *im,
		  enum arch_view view, const uint64_t *size, uint64_t deadline,
		  struct pixsrc_image **out)
{
	struct arch_pix *p = &im->pix[view];
	struct pixsrc_image *pix = NULL;
	struct api_image img;
	char esc[PATH_MAX_LEN];
	int rc = 0;

	if (!t->pixsrc)
		return -EIO;
	pthread_mutex_lock(&t->img_lock);
	/* one opener loads the source; others wait for it */
	while (p->opening && rc == 0)
		rc = http_cond_wait(&t->img_cond, &t->img_lock, deadline);
	if (rc == 0 && p->pix) {
		p->opens++;
		*out = p->pix;
	}
	if (rc < 0 || p->pix) {
		pthread_mutex_unlock(&t->img_lock);
		return rc;
	}
	p->opening = true;
	pthread_mutex_unlock(&t->img_lock);

	/* im->img is immutable: it may be read without a lock; the URL the
	 * locator found stands where the Lsid would */
	img = im->img;
	rc = arch_zarr_url(t, n, im, deadline, &img.zarr_lsid);
	if (rc == 0 && view == ARCH_OME_TIF)
		rc = pixsrc_open_ome(t->pixsrc, &img, deadline, &pix);
	else if (rc == 0 && view == ARCH_ZARR)
		rc = pixsrc_open_zview(t->pixsrc, &img, deadline, &pix);
	else if (rc == 0)
		rc = pixsrc_open(t->pixsrc, &img, deadline, &pix);
	if (rc == 0 && size && pixsrc_size(pix) != *size) {
		log_error(LOG_C_TREE,
			  "'%s': file size %" PRIu64
			  " differs from the listing's %" PRIu64,
			  node_path(t, n, esc, sizeof(esc)), pixsrc_size(pix),
			  *size);
		pixsrc_image_free(pix);
		pix = NULL;
		rc = -EIO;
	}

	pthread_mutex_lock(&t->img_lock);
	p->opening = false;
	if (rc == 0) {
		p->pix = pix;
		p->opens++;
		*out = pix;
	}
	pthread_cond_broadcast(&t->img_cond);
	pthread_mutex_unlock(&t->img_lock);
	return rc;
}

void arch_pix_drop(struct tree *t, struct arch_image *im, enum arch_view view)
{
	struct arch_pix *p = &im->pix[view];
	struct pixsrc_image *pix = NULL;

	pthread_mutex_lock(&t->img_lock);
	if (p->opens > 0 && --p->opens == 0) {
		/* no handle left: no read can be using it */
		pix = p->pix;
		p->pix = NULL;
	}
	pthread_mutex_unlock(&t->img_lock);
	pixsrc_image_free(pix);
}

static enum arch_view view_of(const struct node *n)
{
	return n->kind == TREE_K_OMETIF ? ARCH_OME_TIF : ARCH_TIF;
}

static int image_open(struct tree *t, struct node *n, uint64_t deadline,
		      void **fh)
{
	struct pixsrc_image *pix = NULL;
	uint64_t size = 0;

	(void)fh;
	if (!t->pixsrc || !n->data)
		return 0; /* reads will say EIO */
	tree_node_get(t, n, &size, NULL);
	return arch_pix_take(t, n, n->data, view_of(n), &size, deadline, &pix);
}

static void image_release(struct tree *t, struct node *n, void *fh)
{
	(void)fh;
	if (n->data)
		arch_pix_drop(t, n->data, view_of(n));
}

static ssize_t image_read(struct tree *t, struct node *n, void *fh,
			  uint64_t off, size_t len, char *buf,
			  uint64_t deadline)
{
	struct arch_image *im = n->data;
	struct pixsrc_image *pix;
	char esc[PATH_MAX_LEN];

	(void)fh;
	pthread_mutex_lock(&t->img_lock);
	/* valid until the last handle closes, after this read */
	pix = im ? im->pix[view_of(n)].pix : NULL;
	pthread_mutex_unlock(&t->img_lock);
	if (!pix) {
		log_error(LOG_C_TREE, "'%s': read with no open pixel source",
			  node_path(t, n, esc, sizeof(esc)));
		return -EIO;
	}
	return pixsrc_read(pix, off, len, (uint8_t *)buf, deadline);
}

const struct tree_ops tree_image_ops = {
	.type = TREE_T_FILE,
	.open = image_open,
	.read = image_read,
	.release = image_release,
	.xattrs = arch_xattrs,
	.free = arch_image_free,
};
