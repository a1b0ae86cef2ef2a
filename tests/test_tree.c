/* SPDX-License-Identifier: MIT */
/* Unit tests of the tree: names, inode numbers, listings, TTL, failures. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "idrfs/api.h"
#include "idrfs/tiff.h"
#include "idrfs/tree.h"

/* A fake remote: answers JSON API URLs from a small in-memory archive. */
struct fake {
	pthread_mutex_t lock;
	unsigned requests;
	int fail;	   /* when set, every request fails with this */
	unsigned delay_ms; /* per request */
	unsigned dataset_images;
	bool dup_names;
};

static char *json_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static char *image_json(int64_t id, const char *name, bool zarr)
{
	return json_printf(
		"{\"@id\": %" PRId64 ", \"Name\": \"%s\", "
		"\"omero:details\": {%s}, "
		"\"Pixels\": {\"SizeX\": 64, \"SizeY\": 48, \"SizeZ\": 3, "
		"\"SizeC\": 2, \"SizeT\": 1, \"Type\": {\"value\": "
		"\"uint16\"}, "
		"\"PhysicalSizeX\": {\"Value\": 0.5, \"Unit\": "
		"\"MICROMETER\"}}}",
		id, name,
		zarr ? "\"externalInfo\": {\"Lsid\": "
		       "\"s3://h/b/x.zarr?anonymous=true\"}"
		     : "");
}

static char *page(char **items, size_t n, size_t total, size_t offset)
{
	size_t len = 64;
	char *s, *p;

	for (size_t i = 0; i < n; i++)
		len += strlen(items[i]) + 2;
	s = malloc(len + 200);
	p = s;
	p += sprintf(p, "{\"data\": [");
	for (size_t i = 0; i < n; i++) {
		p += sprintf(p, "%s%s", i ? ", " : "", items[i]);
		free(items[i]);
	}
	sprintf(p,
		"], \"meta\": {\"offset\": %zu, \"limit\": 1000, "
		"\"maxLimit\": 1000, \"totalCount\": %zu}}",
		offset, total);
	return s;
}

static char *answer(struct fake *f, const char *url)
{
	char *items[1000];
	size_t n = 0;
	long off = 0;
	const char *o = strstr(url, "offset=");

	if (o)
		off = strtol(o + 7, NULL, 10);
	if (strstr(url, "/api/v0/m/projects/?")) {
		items[n++] = json_printf("{\"@id\": 11, \"Name\": \"idr0001/"
					 "experimentA\"}");
		items[n++] = json_printf("{\"@id\": 12, \"Name\": \"same\"}");
		items[n++] = json_printf("{\"@id\": 13, \"Name\": \"same\"}");
		return page(items, n, n, 0);
	}
	if (strstr(url, "/api/v0/m/projects/11/datasets/"))
		return json_printf("{\"data\": [{\"@id\": 21, \"Name\": "
				   "\"ds\"}], \"meta\": {\"offset\": 0, "
				   "\"limit\": 1000, \"maxLimit\": 1000, "
				   "\"totalCount\": 1}}");
	if (strstr(url, "/api/v0/m/datasets/21/images/")) {
		size_t total = f->dataset_images;

		for (size_t i = (size_t)off; i < total && n < 1000; i++) {
			char name[32];

			snprintf(name, sizeof(name), "%s%05zu",
				 f->dup_names && i < 3 ? "dup" : "img",
				 f->dup_names && i < 3 ? (size_t)0 : i);
			items[n++] =
				image_json(1000 + (int64_t)i, name, i != 1);
		}
		return page(items, n, total, (size_t)off);
	}
	if (strstr(url, "/api/v0/m/screens/?"))
		return json_printf("{\"data\": [{\"@id\": 31, \"Name\": "
				   "\"scr\"}], \"meta\": {\"offset\": 0, "
				   "\"limit\": 1000, \"maxLimit\": 1000, "
				   "\"totalCount\": 1}}");
	if (strstr(url, "/api/v0/m/screens/31/plates/"))
		return json_printf("{\"data\": [{\"@id\": 41, \"Name\": "
				   "\"plate\", \"RowNamingConvention\": "
				   "\"letter\", \"ColumnNamingConvention\": "
				   "\"number\"}], \"meta\": {\"offset\": 0, "
				   "\"limit\": 1000, \"maxLimit\": 1000, "
				   "\"totalCount\": 1}}");
	if (strstr(url, "/api/v0/m/plates/41/wells/"))
		return json_printf(
			"{\"data\": [{\"@id\": 51, \"Row\": 0, \"Column\": 0, "
			"\"WellSamples\": []}, {\"@id\": 52, \"Row\": 7, "
			"\"Column\": 11}], \"meta\": {\"offset\": 0, "
			"\"limit\": 1000, \"maxLimit\": 1000, "
			"\"totalCount\": 2}}");
	if (strstr(url, "/webgateway/original_file_paths/1000/"))
		return json_printf(
			"{\"repo\": [], \"fileset\": {\"id\": 9}, \"client\": "
			"[\"uod/idr/filesets/s/run/a.ome\", "
			"\"uod/idr/filesets/s/run/data/b.tif\"]}");
	if (strstr(url, "/webgateway/original_file_paths/1001/"))
		return json_printf("{\"client\": [\"uod/idr/filesets/s/../"
				   "../etc/passwd\"]}");
	if (strstr(url, "/webgateway/original_file_paths/"))
		return json_printf("{}");
	if (strstr(url, "http://root/"))
		return json_printf("");
	if (strstr(url, "/api/v0/m/wells/51/")) {
		char *a = image_json(7001, "w1", true);
		char *b = image_json(7002, "w2", false);
		char *s = json_printf(
			"{\"data\": {\"@id\": 51, \"Row\": 0, \"Column\": 0, "
			"\"WellSamples\": [{\"Image\": %s}, {\"Image\": %s}]}}",
			a, b);

		free(a);
		free(b);
		return s;
	}
	return NULL;
}

static int fake_fetch(void *ctx, struct http_req *reqs, size_t n,
		      uint64_t deadline)
{
	struct fake *f = ctx;
	int rc = 0;

	(void)deadline;
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&f->lock);
		f->requests++;
		int fail = f->fail;
		pthread_mutex_unlock(&f->lock);
		if (f->delay_ms)
			usleep(f->delay_ms * 1000);
		reqs[i].content_type[0] = '\0';
		reqs[i].body = fail ? NULL : answer(f, reqs[i].url);
		reqs[i].rc = fail ? fail : reqs[i].body ? 0 : -ENOENT;
		reqs[i].len = reqs[i].body ? strlen(reqs[i].body) : 0;
		/* HEAD of an original file: its size from its URL */
		reqs[i].content_length =
			reqs[i].head ? (int64_t)strlen(reqs[i].url) : -1;
		if (reqs[i].rc < 0 && rc == 0)
			rc = reqs[i].rc;
	}
	return rc;
}

struct fixture {
	struct fake fake;
	struct api *api;
	struct tree *tree;
};

static int setup_ttl(void **state, unsigned ttl)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct api_transport tr = {.fetch = fake_fetch};
	struct tree_config tc = {.remote_url = "http://fake",
				 .ttl_s = ttl,
				 .mount_time = 1700000000,
				 .originals_root = "http://root"};

	pthread_mutex_init(&fx->fake.lock, NULL);
	fx->fake.dataset_images = 5;
	tr.ctx = &fx->fake;
	assert_int_equal(api_new("http://fake/", &tr, &fx->api), 0);
	assert_int_equal(tree_new(fx->api, &tc, &fx->tree), 0);
	*state = fx;
	return 0;
}

static int setup(void **state)
{
	return setup_ttl(state, 3600);
}

static int setup_ttl0(void **state)
{
	return setup_ttl(state, 0);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	tree_free(fx->tree);
	api_free(fx->api);
	pthread_mutex_destroy(&fx->fake.lock);
	free(fx);
	return 0;
}

/* Resolve a path from the root; returns the lookup rc. */
static int walk(struct tree *t, const char *path, struct tree_attr *a)
{
	char buf[1024];
	uint64_t ino = TREE_ROOT_INO;
	char *save = NULL;
	int rc = 0;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *c = strtok_r(buf, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		rc = tree_lookup(t, ino, c, UINT64_MAX, a);
		if (rc < 0)
			return rc;
		ino = a->ino;
	}
	return rc;
}

static void test_tree_sanitize(void **state)
{
	char out[TREE_NAME_MAX + 1];

	(void)state;
	/* '/', control characters and DEL become '_' */
	tree_sanitize_name("a/b\tc\x01\x7f", out, TREE_NAME_MAX);
	assert_string_equal(out, "a_b_c__");
	/* "." and ".." cannot be names */
	tree_sanitize_name(".", out, TREE_NAME_MAX);
	assert_string_equal(out, "_.");
	tree_sanitize_name("..", out, TREE_NAME_MAX);
	assert_string_equal(out, "_..");
	/* other dot names are kept */
	tree_sanitize_name("...", out, TREE_NAME_MAX);
	assert_string_equal(out, "...");
	/* empty becomes a word */
	tree_sanitize_name("", out, TREE_NAME_MAX);
	assert_string_equal(out, "unnamed");
	/* invalid UTF-8 and C1 controls become '_', valid UTF-8 is kept */
	tree_sanitize_name("\xff\xc2\x85x\xc3\xbc", out, TREE_NAME_MAX);
	assert_string_equal(out, "__x\xc3\xbc");
	/* cut at a UTF-8 boundary: 3 bytes allowed, "ü" would be split */
	tree_sanitize_name("ab\xc3\xbc", out, 3);
	assert_string_equal(out, "ab");
	/* long names are cut to max */
	char longname[600];

	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(tree_sanitize_name(longname, out, TREE_NAME_MAX),
			 TREE_NAME_MAX);
}

static void test_tree_well_names(void **state)
{
	char out[32];

	(void)state;
	/* letter rows, number columns: A01 .. H12, AA after Z */
	tree_well_name(0, 0, true, false, out, sizeof(out));
	assert_string_equal(out, "A01");
	tree_well_name(7, 11, true, false, out, sizeof(out));
	assert_string_equal(out, "H12");
	tree_well_name(26, 0, true, false, out, sizeof(out));
	assert_string_equal(out, "AA01");
	/* both numbers need a separator */
	tree_well_name(2, 3, false, false, out, sizeof(out));
	assert_string_equal(out, "03-04");
}

static void test_tree_root(void **state)
{
	struct fixture *fx = *state;
	struct tree_dir *d = NULL;
	char buf[64];

	/* the root is fixed and costs no request */
	assert_int_equal(tree_opendir(fx->tree, TREE_ROOT_INO, UINT64_MAX, &d),
			 0);
	assert_int_equal(d->n, 3);
	assert_string_equal(d->ents[0].name, "README.txt");
	assert_string_equal(d->ents[1].name, "projects");
	assert_string_equal(d->ents[2].name, "screens");
	assert_false(d->ents[0].attr.is_dir);
	assert_true(d->ents[1].attr.is_dir);
	tree_dir_free(d);
	assert_int_equal(fx->fake.requests, 0);
	/* README.txt names the remote and is readable at any offset */
	assert_true(tree_read(fx->tree, 2, 0, sizeof(buf), buf, UINT64_MAX) >
		    0);
	assert_memory_equal(buf, "idrfs: http://fake,", 19);
	assert_int_equal(tree_read(fx->tree, 2, 1u << 20, 10, buf, UINT64_MAX),
			 0);
}

static void test_tree_names_unique(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;

	/* a '/' in a project name becomes '_'; equal names all get [id] */
	assert_int_equal(walk(fx->tree, "projects", &a), 0);
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	assert_int_equal(d->n, 3);
	assert_string_equal(d->ents[0].name, "idr0001_experimentA");
	assert_string_equal(d->ents[1].name, "same [12]");
	assert_string_equal(d->ents[2].name, "same [13]");
	tree_dir_free(d);
	assert_int_equal(walk(fx->tree, "projects/same [13]", &a), 0);
	assert_int_equal(walk(fx->tree, "projects/same", &a), -ENOENT);
}

static void test_tree_images(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a, b;
	struct tiff_layout l;
	struct tiff_geom g = {.x = 64,
			      .y = 48,
			      .c = 2,
			      .z = 3,
			      .t = 1,
			      .bps = 2,
			      .samples = 1};
	struct tiff_geom rg = {.x = 64,
			       .y = 48,
			       .c = 2,
			       .z = 3,
			       .t = 1,
			       .bps = 1,
			       .samples = 3};
	char buf[16];

	/* an image with a Zarr source is <name>.tif, sized from metadata */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img00000.tif",
			      &a),
			 0);
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_false(a.is_dir);
	assert_int_equal(a.size, l.size);
	/* the inode is the object's identity */
	assert_int_equal(a.ino & ((1ull << 56) - 1), 1000);
	/* one without is only rendered: .rendered.tif, 8-bit RGB size */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img00001.rendered.tif",
			      &b),
			 0);
	assert_int_equal(tiff_layout_compute(&rg, &l), 0);
	assert_int_equal(b.size, l.size);
	/* pixel reads are not served yet: EIO, not garbage */
	assert_int_equal(
		tree_read(fx->tree, a.ino, 0, sizeof(buf), buf, UINT64_MAX),
		-EIO);
	/* getattr agrees with lookup */
	assert_int_equal(tree_getattr(fx->tree, a.ino, &b), 0);
	assert_int_equal(b.size, a.size);
}

static void test_tree_duplicate_images(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;

	fx->fake.dup_names = true;
	/* three images named "dup" get their ids, the rest keep names */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "dup00000 [1000].tif",
			      &a),
			 0);
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "dup00000 [1002].tif",
			      &a),
			 0);
	/* names are compared whole: a .rendered.tif does not collide */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "dup00000.rendered.tif",
			      &a),
			 0);
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img00004.tif",
			      &a),
			 0);
}

static void test_tree_inodes_stable(void **state)
{
	struct fixture *fx = *state;
	struct tree_config tc = {.remote_url = "x", .ttl_s = 60};
	struct tree *t2 = NULL;
	struct tree_attr a, b;

	/* a second tree (a remount) gives every object the same inode */
	assert_int_equal(tree_new(fx->api, &tc, &t2), 0);
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img00003.tif",
			      &a),
			 0);
	assert_int_equal(walk(t2,
			      "projects/idr0001_experimentA/ds/"
			      "img00003.tif",
			      &b),
			 0);
	assert_int_equal(a.ino, b.ino);
	assert_int_equal(walk(fx->tree, "projects/idr0001_experimentA", &a), 0);
	assert_int_equal(walk(t2, "projects/idr0001_experimentA", &b), 0);
	assert_int_equal(a.ino, b.ino);
	tree_free(t2);
}

static void test_tree_listing_cost(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;

	/* 2 500 images: projects, datasets, then 3 pages of 1000 */
	fx->fake.dataset_images = 2500;
	assert_int_equal(walk(fx->tree, "projects/idr0001_experimentA/ds", &a),
			 0);
	fx->fake.requests = 0;
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	/* each image and its .originals directory */
	assert_int_equal(d->n, 5000);
	assert_int_equal(fx->fake.requests, 3);
	tree_dir_free(d);
	/* within the TTL, listing and lookups cost nothing */
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	tree_dir_free(d);
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img02499.tif",
			      &a),
			 0);
	assert_int_equal(fx->fake.requests, 3);
}

static void test_tree_ttl_and_stale(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;

	/* TTL 0: every listing refetches */
	assert_int_equal(walk(fx->tree, "projects", &a), 0);
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	tree_dir_free(d);
	unsigned before = fx->fake.requests;

	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	tree_dir_free(d);
	assert_int_equal(fx->fake.requests, before + 1);
	/* the remote fails: the listing from before is served */
	fx->fake.fail = -EIO;
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	assert_int_equal(d->n, 3);
	tree_dir_free(d);
	/* a directory never listed fails with the remote's error */
	assert_int_equal(walk(fx->tree, "screens/scr", &a), -EIO);
	fx->fake.fail = -ETIMEDOUT;
	assert_int_equal(walk(fx->tree, "screens/scr", &a), -ETIMEDOUT);
	/* and recovers when the remote does */
	fx->fake.fail = 0;
	assert_int_equal(walk(fx->tree, "screens/scr", &a), 0);
}

static void test_tree_wells(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;

	/* wells are named from row/column and the plate's conventions */
	assert_int_equal(walk(fx->tree, "screens/scr/plate", &a), 0);
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	assert_int_equal(d->n, 2);
	assert_string_equal(d->ents[0].name, "A01");
	assert_string_equal(d->ents[1].name, "H12");
	tree_dir_free(d);
	/* fields come from one request for the well, with Pixels */
	unsigned before = fx->fake.requests;

	assert_int_equal(walk(fx->tree, "screens/scr/plate/A01", &a), 0);
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	assert_int_equal(fx->fake.requests, before + 1);
	assert_int_equal(d->n, 4);
	assert_string_equal(d->ents[0].name, "field-1.originals");
	assert_true(d->ents[0].attr.is_dir);
	assert_string_equal(d->ents[1].name, "field-1.tif");
	assert_string_equal(d->ents[2].name, "field-2.originals");
	assert_string_equal(d->ents[3].name, "field-2.rendered.tif");
	assert_true(d->ents[1].attr.size > 64 * 48 * 2 * 6);
	tree_dir_free(d);
}

struct racer {
	struct tree *t;
	uint64_t ino;
	int rc;
	size_t n;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct tree_dir *d = NULL;

	r->rc = tree_opendir(r->t, r->ino, UINT64_MAX, &d);
	if (r->rc == 0)
		r->n = d->n;
	tree_dir_free(d);
	return NULL;
}

static void test_tree_single_flight(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	pthread_t th[8];
	struct racer r[8];

	/* eight readers of one unlisted directory cause one fetch */
	assert_int_equal(walk(fx->tree, "screens", &a), 0);
	unsigned before = fx->fake.requests;

	fx->fake.delay_ms = 100;
	for (int i = 0; i < 8; i++) {
		r[i] = (struct racer){.t = fx->tree, .ino = a.ino};
		pthread_create(&th[i], NULL, race, &r[i]);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].rc, 0);
		assert_int_equal(r[i].n, 1);
	}
	assert_int_equal(fx->fake.requests, before + 1);
}

static void test_tree_originals(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;

	/* beside each image, its .originals: the fileset's files below
	 * their common directory, subdirectories kept, sizes from HEAD */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img00000.originals",
			      &a),
			 0);
	assert_true(a.is_dir);
	unsigned before = fx->fake.requests;

	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	/* one request for the paths, one HEAD per file */
	assert_int_equal(fx->fake.requests, before + 3);
	assert_int_equal(d->n, 2);
	assert_string_equal(d->ents[0].name, "a.ome");
	assert_false(d->ents[0].attr.is_dir);
	assert_int_equal(d->ents[0].attr.size,
			 strlen("http://root/s/run/a.ome"));
	assert_string_equal(d->ents[1].name, "data");
	assert_true(d->ents[1].attr.is_dir);
	tree_dir_free(d);
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img00000.originals/data/b.tif",
			      &a),
			 0);
	assert_int_equal(a.size, strlen("http://root/s/run/data/b.tif"));
	/* subdirectories come with their parent: no request */
	assert_int_equal(fx->fake.requests, before + 3);
	/* a path that climbs out of the fileset is refused */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img00001.originals/x",
			      &a),
			 -EBADMSG);
	/* no fileset: empty */
	assert_int_equal(walk(fx->tree,
			      "projects/idr0001_experimentA/ds/"
			      "img00002.originals",
			      &a),
			 0);
	assert_int_equal(tree_opendir(fx->tree, a.ino, UINT64_MAX, &d), 0);
	assert_int_equal(d->n, 0);
	tree_dir_free(d);
}

static void test_tree_errors(void **state)
{
	struct fixture *fx = *state;
	struct tree_attr a;
	struct tree_dir *d = NULL;
	char name[300];

	/* a file is not a directory */
	assert_int_equal(tree_lookup(fx->tree, 2, "x", UINT64_MAX, &a),
			 -ENOTDIR);
	assert_int_equal(tree_opendir(fx->tree, 2, UINT64_MAX, &d), -ENOTDIR);
	/* unknown inodes and over-long names */
	assert_int_equal(tree_getattr(fx->tree, 999999, &a), -ENOENT);
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(
		tree_lookup(fx->tree, TREE_ROOT_INO, name, UINT64_MAX, &a),
		-ENAMETOOLONG);
	/* reading a directory */
	assert_int_equal(
		tree_read(fx->tree, TREE_ROOT_INO, 0, 1, name, UINT64_MAX),
		-EISDIR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_sanitize),
		cmocka_unit_test(test_tree_well_names),
		cmocka_unit_test_setup_teardown(test_tree_root, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_names_unique, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_images, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_duplicate_images,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_tree_inodes_stable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_listing_cost, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_ttl_and_stale,
						setup_ttl0, teardown),
		cmocka_unit_test_setup_teardown(test_tree_wells, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_single_flight, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_originals, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tree_errors, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
