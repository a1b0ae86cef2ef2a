/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the Zarr locator (locate.c): study names, template
 * placeholders, catalogues in the shapes of IDR's ome-ngff-samples
 * table.csv and download_urls.tsv and hostile ones, and the chain over a
 * fake transport that counts its probes.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "idrfs/http.h"
#include "idrfs/locate.h"

/* ---- names ---- */

static void study(const char *name, const char *want_s, const char *want_l)
{
	char s[8], l[3];

	locate_study_of(name, s, l);
	assert_string_equal(s, want_s);
	assert_string_equal(l, want_l);
}

static void test_locate_study_names(void **state)
{
	(void)state;
	/* IDR's own names: study, then experiment or screen letter */
	study("idr0062-blin-nuclearsegmentation/experimentA", "idr0062", "A");
	study("idr0803-synth-screen/screenA", "idr0803", "A");
	study("IDR0010-x/screenab", "idr0010", "AB");
	/* names that do not say */
	study("my project", "", "");
	study("idr12-x/experimentA", "", "A");
	study("idr00123-x/experimentA", "", "A");
	study("idr0001-x/experimentABC", "idr0001", "");
	study("idr0001-x/experiment", "idr0001", "");
	study("idr0001-x/experiment1", "idr0001", "");
	study("idr0001-x/plateA", "idr0001", "");
	study("", "", "");
	study(NULL, "", "");
}

/* ---- templates ---- */

static void test_locate_expand(void **state)
{
	const struct locate_vars v = {.id = 6001240,
				      .study = "idr0062",
				      .letter = "A",
				      .plate = 2551,
				      .row = 5,
				      .column = 5,
				      .field = 0};
	struct locate_vars nov = {
		.id = 7, .row = -1, .column = -1, .field = -1};
	const char *t = "https://h/zarr/v0.4/{study}{letter}/{id}.zarr";
	char out[256];

	(void)state;
	/* every placeholder */
	assert_int_equal(locate_expand(t, strlen(t), &v, out, sizeof(out)),
			 strlen("https://h/zarr/v0.4/idr0062A/6001240.zarr"));
	assert_string_equal(out, "https://h/zarr/v0.4/idr0062A/6001240.zarr");
	t = "https://h/{plate}.zarr/{row}/{column}/{field}";
	assert_true(locate_expand(t, strlen(t), &v, out, sizeof(out)) > 0);
	assert_string_equal(out, "https://h/2551.zarr/F/6/0");
	/* rows past Z are AA, AB, ... (1536-well plates have 32 rows) */
	struct locate_vars r = v;

	r.row = 26;
	assert_true(locate_expand(t, strlen(t), &r, out, sizeof(out)) > 0);
	assert_string_equal(out, "https://h/2551.zarr/AA/6/0");
	r.row = 31;
	assert_true(locate_expand(t, strlen(t), &r, out, sizeof(out)) > 0);
	assert_string_equal(out, "https://h/2551.zarr/AF/6/0");
	/* a list: the first template only, up to '|' */
	t = "https://a/{id}|https://b/{id}";
	assert_true(locate_expand(t, strlen(t), &v, out, sizeof(out)) > 0);
	assert_string_equal(out, "https://a/6001240");
	/* a placeholder without a value */
	t = "https://h/{study}{letter}/{id}.zarr";
	assert_int_equal(locate_expand(t, strlen(t), &nov, out, sizeof(out)),
			 -ENOENT);
	t = "https://h/{plate}.zarr";
	assert_int_equal(locate_expand(t, strlen(t), &nov, out, sizeof(out)),
			 -ENOENT);
	/* unknown and unclosed placeholders */
	t = "https://h/{name}";
	assert_int_equal(locate_expand(t, strlen(t), &v, out, sizeof(out)),
			 -EINVAL);
	t = "https://h/{id";
	assert_int_equal(locate_expand(t, strlen(t), &v, out, sizeof(out)),
			 -EINVAL);
	/* too long for the buffer, at any point */
	t = "https://h/{study}{letter}/{id}.zarr";
	for (size_t n = 1; n <= strlen("https://h/idr0062A/6001240.zarr"); n++)
		assert_int_equal(locate_expand(t, strlen(t), &v, out, n),
				 -ENAMETOOLONG);
}

static void test_locate_templates_check(void **state)
{
	char msg[512], many[2048] = "";

	(void)state;
	assert_int_equal(
		locate_templates_check("https://h/{study}{letter}/{plate}.zarr/"
				       "{row}/{column}/{field}|http://h/{id}",
				       msg, sizeof(msg)),
		0);
	assert_int_equal(
		locate_templates_check("http://h/x.zarr", msg, sizeof(msg)), 0);
	assert_int_equal(
		locate_templates_check("ftp://h/{id}", msg, sizeof(msg)),
		-EINVAL);
	assert_non_null(strstr(msg, "not an http"));
	assert_int_equal(
		locate_templates_check("https://h/{id}|", msg, sizeof(msg)),
		-EINVAL);
	assert_non_null(strstr(msg, "empty"));
	assert_int_equal(
		locate_templates_check("https://h/{idd}", msg, sizeof(msg)),
		-EINVAL);
	assert_non_null(strstr(msg, "unknown"));
	for (int i = 0, o = 0; i < LOCATE_TEMPLATES_MAX + 1; i++)
		o += snprintf(many + o, sizeof(many) - (size_t)o, "%s",
			      i ? "|http://h/{id}" : "http://h/{id}");
	assert_int_equal(locate_templates_check(many, msg, sizeof(msg)),
			 -EINVAL);
}

/* ---- catalogues ---- */

static struct locate_cat *parse_ok(const char *text)
{
	struct locate_cat *c = NULL;

	assert_int_equal(locate_cat_parse(text, strlen(text), "https", &c), 0);
	assert_non_null(c);
	return c;
}

/* The shape of IDR/ome-ngff-samples _data/table.csv (own rows). */
static void test_locate_cat_table_csv(void **state)
{
	const char *csv =
		"\xef\xbb\xbfOME-NGFF version,File Path,SizeX,SizeY,SizeZ,"
		"SizeC,SizeT,Axes,Wells,Fields,Keywords,License,Study,DOI,"
		"Date added,Representative Image ID,Thumbnail\r\n"
		"0.1,https://s/idr/zarr/v0.1/101.zarr,10,10,1,1,1,XYZCT,,,,"
		"CC BY 4.0,idr0001,,2020-11-04,101,\r\n"
		"0.4,https://s/idr/zarr/v0.4/idr0001A/101.zarr,10,10,1,1,1,"
		"XYZCT,,,\"labels (a, b)\",CC BY 4.0,idr0001,,2022-05-05,101,"
		"\r\n"
		"0.3,https://s/idr/zarr/v0.3/102.zarr,1,1,,,,XY,,,,CC0,idr0002,"
		",2021,102,\n"
		/* a plate: names no image (its thumbnail is some field) */
		"0.4,https://s/idr/zarr/v0.4/idr0001A/2551.zarr,1,1,16,2,1,"
		"XYZC,96,6,,CC BY 4.0,idr0001,,2022,103,"
		"https://s/idr/zarr/v0.4/idr0001A/2551.zarr/F/6/0\n"
		/* bioformats2raw: the image is the thumbnail group */
		"0.4,https://s/idr/zarr/v0.4/idr0048A/104.zarr/,1,1,1,3,1,"
		"XYZCT,,,bioformats2raw.layout,CC BY 4.0,idr0048,,2023,104,"
		"https://s/idr/zarr/v0.4/idr0048A/104.zarr/0/\n"
		/* a name with spaces (v0.5) */
		"0.5,https://s/idr/zarr/v0.5/idr0157/A b/IMG 1.ome.zarr,1,1,1,"
		"3,1,XYZCT,,,,CC BY 4.0,idr0157,,2024,105,\n"
		/* no id */
		"0.1,https://s/idr/outreach/39529.zarr,1,1,1,1,1,XYZCT,,,,"
		"CC BY 4.0,idr0000,,2026,?,\n"
		"\n";
	struct locate_cat *c = parse_ok(csv);
	size_t skipped;

	(void)state;
	/* 101 twice: the highest NGFF version wins */
	assert_string_equal(locate_cat_find(c, 101),
			    "https://s/idr/zarr/v0.4/idr0001A/101.zarr");
	assert_string_equal(locate_cat_find(c, 102),
			    "https://s/idr/zarr/v0.3/102.zarr");
	assert_null(locate_cat_find(c, 103));
	assert_string_equal(locate_cat_find(c, 104),
			    "https://s/idr/zarr/v0.4/idr0048A/104.zarr/0");
	assert_string_equal(locate_cat_find(c, 105),
			    "https://s/idr/zarr/v0.5/idr0157/A%20b/"
			    "IMG%201.ome.zarr");
	assert_null(locate_cat_find(c, 106));
	assert_int_equal(locate_cat_size(c, &skipped), 4);
	assert_int_equal(skipped, 2); /* the plate and the "?" */
	locate_cat_free(c);
}

/* The shape of IDR/idr.openmicroscopy.org _data/download_urls.tsv. */
static void test_locate_cat_download_urls(void **state)
{
	const char *tsv =
		"idrid\timage_id\tdata_location\tis_zarr\tdownload_url\t"
		"replace_this\twith_this\tclient_path\tbia_ngff_id\tbia_url\t"
		"external_info\t\n"
		"idr0173\t201\t\tTrue\t\t\t\t\t\thttps://b/S-BIAD2216\t"
		"s3://h.example/bucket/S-BIAD2216/x.ome.zarr/"
		"?anonymous=true\t\n"
		"idr0165\t202\tIDR\tFalse\thttps://ftp/idr0165\tuod/idr/"
		"filesets\thttps://ftp/IDR\tuod/idr/filesets/idr0165/a.tif\t"
		"\t\t\t\n"
		"idr0138\t203\tIDR\tTrue\thttps://ftp/idr0138\tuod/idr/"
		"filesets\thttps://ftp/IDR\tuod/idr/filesets/idr0138/ngff/"
		"M.ome.zarr/1/0/0/0/3\t\t\t\t\n"
		"idr0090\t204\tEmbassy_S3\tTrue\thttps://e/pages/S.html\t\t\t"
		"https://e/S-BIAD882/u/u.zarr/.zattrs\tS-BIAD882\t"
		"https://l/S.html\n"
		/* a relative external_info: no host, not usable */
		"idr0168\t205\tBIA\tTrue\t\t\t\tbia-idr/S/x.zarr/OME/M.xml\t\t"
		"https://b\t/bia-idr/S-BIAD1891/x.zarr/0\t\n";
	struct locate_cat *c = parse_ok(tsv);
	size_t skipped;

	(void)state;
	assert_string_equal(locate_cat_find(c, 201),
			    "https://h.example/bucket/S-BIAD2216/x.ome.zarr");
	assert_null(locate_cat_find(c, 202)); /* is_zarr False */
	assert_string_equal(locate_cat_find(c, 203),
			    "https://ftp/IDR/idr0138/ngff/M.ome.zarr");
	assert_string_equal(locate_cat_find(c, 204),
			    "https://e/S-BIAD882/u/u.zarr");
	assert_null(locate_cat_find(c, 205));
	assert_int_equal(locate_cat_size(c, &skipped), 3);
	assert_int_equal(skipped, 1);
	locate_cat_free(c);
}

/* Nothing in a catalogue is trusted. */
static void test_locate_cat_hostile(void **state)
{
	struct locate_cat *c = NULL;
	size_t skipped, n;
	char *big;

	(void)state;
	/* not a catalogue: no id column, no URL column, no header, HTML */
	assert_int_equal(locate_cat_parse("a,b\n1,2\n", 8, "https", &c),
			 -EBADMSG);
	assert_int_equal(locate_cat_parse("id,b\n1,2\n", 9, "https", &c),
			 -EBADMSG);
	assert_int_equal(locate_cat_parse("", 0, "https", &c), -EBADMSG);
	assert_int_equal(locate_cat_parse("\n\n\n", 3, "https", &c), -EBADMSG);
	assert_int_equal(locate_cat_parse("<html><body>502</body></html>\n", 30,
					  "https", &c),
			 -EBADMSG);
	/* an unclosed quote in the header */
	assert_int_equal(
		locate_cat_parse("\"id,url\n1,http://h/x\n", 21, "https", &c),
		-EBADMSG);
	/* over the size cap: refused before a byte is read */
	assert_int_equal(locate_cat_parse("id,url\n", LOCATE_CAT_MAX_BODY + 1u,
					  "https", &c),
			 -EFBIG);
	assert_null(c);

	/* rows: short, long, odd; only the good ones are kept */
	n = LOCATE_CAT_LINE_MAX + 4096;
	big = malloc(n * 3);
	assert_non_null(big);
	size_t o = (size_t)snprintf(big, n, "id,url,extra\n");

	o += (size_t)snprintf(big + o, n, "1,http://h/1.zarr\n"); /* short */
	o += (size_t)snprintf(big + o, n, "2\n");		  /* no url */
	o += (size_t)snprintf(big + o, n, "x,http://h/x.zarr,\n");
	o += (size_t)snprintf(big + o, n, "-3,http://h/3.zarr,\n");
	o += (size_t)snprintf(big + o, n, "0,http://h/0.zarr,\n");
	o += (size_t)snprintf(big + o, n,
			      "99999999999999999999,http://h/9.zarr,\n");
	o += (size_t)snprintf(big + o, n, "4,ftp://h/4.zarr,\n");
	o += (size_t)snprintf(big + o, n, "5,\"http://h/5.zarr,\n");
	o += (size_t)snprintf(big + o, n, "6,\"http://h/\"\"6\"\".zarr\",\n");
	o += (size_t)snprintf(big + o, n, "7,http://h/7.zarr?x=1#f,\n");
	/* a line longer than the cap, then one of 300 cells */
	big[o++] = '8';
	big[o++] = ',';
	memset(big + o, 'a', LOCATE_CAT_LINE_MAX);
	o += LOCATE_CAT_LINE_MAX;
	big[o++] = '\n';
	o += (size_t)snprintf(big + o, n, "9,http://h/9.zarr");
	for (int i = 0; i < 300; i++)
		big[o++] = ',';
	big[o++] = '\n';
	/* a NUL inside a line, and a URL too long to keep */
	memcpy(big + o, "10,http://h/\0.zarr\n", 19);
	o += 19;
	o += (size_t)snprintf(big + o, n, "11,http://h/");
	memset(big + o, 'b', LOCATE_URL_MAX);
	o += LOCATE_URL_MAX;
	o += (size_t)snprintf(big + o, n, ",\n12,http://h/12.zarr");
	assert_int_equal(locate_cat_parse(big, o, "https", &c), 0);
	assert_string_equal(locate_cat_find(c, 1), "http://h/1.zarr");
	assert_string_equal(locate_cat_find(c, 6), "http://h/%226%22.zarr");
	assert_string_equal(locate_cat_find(c, 7), "http://h/7.zarr");
	/* the last line has no newline */
	assert_string_equal(locate_cat_find(c, 12), "http://h/12.zarr");
	for (int64_t id = 2; id <= 11; id++) {
		if (id != 6 && id != 7)
			assert_null(locate_cat_find(c, id));
	}
	assert_null(locate_cat_find(c, 0));
	assert_null(locate_cat_find(c, -3));
	assert_int_equal(locate_cat_size(c, &skipped), 4);
	assert_true(skipped >= 9);
	locate_cat_free(c);
	free(big);
}

/* ---- the chain, over a fake transport ---- */

struct fake {
	unsigned requests;
	unsigned cat_requests;
	unsigned paths_requests;
	bool paths_bad;	  /* original_file_paths answers a proxy's page */
	int fail;	  /* every request fails with it */
	const char *good; /* probes under this prefix find a group */
	const char *bad;  /* ... unless their URL holds this */
	const char *cat;  /* the catalogue's body */
};

static char *dup_str(const char *s)
{
	char *d = strdup(s);

	assert_non_null(d);
	return d;
}

static int fake_fetch(void *ctx, struct http_req *reqs, size_t n,
		      uint64_t deadline)
{
	struct fake *f = ctx;

	(void)deadline;
	for (size_t i = 0; i < n; i++) {
		const char *u = reqs[i].url;

		f->requests++;
		reqs[i].rc = -ENOENT;
		if (f->fail) {
			reqs[i].rc = f->fail;
		} else if (strstr(u, "/webgateway/original_file_paths/")) {
			/* images 1xxx: a bioformats2raw Zarr fileset (2
			 * series); others: a TIFF */
			long id = strtol(strrchr(u, 's') + 2, NULL, 10);
			char body[1024];

			f->paths_requests++;
			if (f->paths_bad)
				snprintf(body, sizeof(body), "<html>busy");
			else if (id >= 1000 && id < 2000)
				snprintf(body, sizeof(body),
					 "{\"client\": ["
					 "\"uod/idr/filesets/idr0801/mk/"
					 "%ld.ome.zarr/.zattrs\", "
					 "\"uod/idr/filesets/idr0801/mk/"
					 "%ld.ome.zarr/0/.zattrs\", "
					 "\"uod/idr/filesets/idr0801/mk/"
					 "%ld.ome.zarr/0/0/.zarray\", "
					 "\"uod/idr/filesets/idr0801/mk/"
					 "%ld.ome.zarr/0/0/0/0/0/0/0\", "
					 "\"uod/idr/filesets/idr0801/mk/"
					 "%ld.ome.zarr/1/.zattrs\", "
					 "\"uod/idr/filesets/idr0801/mk/"
					 "%ld.ome.zarr/1/0/.zarray\"]}",
					 id, id, id, id, id, id);
			else
				snprintf(body, sizeof(body),
					 "{\"client\": [\"uod/idr/filesets/"
					 "idr0802/%ld.tif\"]}",
					 id);
			reqs[i].body = dup_str(body);
			reqs[i].len = strlen(body);
			reqs[i].rc = 0;
		} else if (strstr(u, "/cat.csv")) {
			f->cat_requests++;
			if (f->cat) {
				reqs[i].body = dup_str(f->cat);
				reqs[i].len = strlen(f->cat);
				reqs[i].rc = 0;
			}
		} else if (f->good &&
			   strncmp(u, f->good, strlen(f->good)) == 0 &&
			   strstr(u, "/.zattrs") &&
			   !(f->bad && strstr(u, f->bad))) {
			reqs[i].body = dup_str(
				"{\"multiscales\": [{\"version\": \"0.4\", "
				"\"axes\": [{\"name\": \"y\"}, {\"name\": "
				"\"x\"}], \"datasets\": [{\"path\": \"0\", "
				"\"coordinateTransformations\": [{\"type\": "
				"\"scale\", \"scale\": [1, 1]}]}]}]}");
			reqs[i].len = strlen(reqs[i].body);
			reqs[i].rc = 0;
		}
	}
	return 0;
}

static struct locate *make(struct fake *f, const char *tmpl, const char *cat)
{
	struct locate_config cfg = {
		.tr = {.fetch = fake_fetch, .ctx = f},
		.ttl_s = 60,
		.zarr_url = tmpl,
		.catalogue = cat,
	};
	struct locate *l = NULL;

	assert_int_equal(locate_new(&cfg, &l), 0);
	return l;
}

static void test_locate_chain_template(void **state)
{
	struct fake f = {.good = "http://z/v0.4/idr0801A/"};
	struct locate *l = make(&f,
				"http://z/v0.4/{study}{letter}/{plate}.zarr/"
				"{row}/{column}/{field}|"
				"http://z/v0.4/{study}{letter}/{id}.zarr",
				NULL);
	const struct locate_ctx a = {.study = "idr0801-x/experimentA"};
	const struct locate_ctx b = {.study = "idr0802-y/experimentB"};
	struct api_image img = {.id = 0};
	struct locate_answer ans;

	(void)state;
	/* 1000 images of one study: one probe */
	for (int i = 0; i < 1000; i++) {
		img.id = 1000001 + i;
		assert_int_equal(
			locate_image(l, &img, &a, UINT64_MAX / 2, &ans), 0);
		assert_int_equal(ans.rule, LOCATE_TEMPLATE);
	}
	assert_string_equal(ans.url, "http://z/v0.4/idr0801A/1001000.zarr");
	assert_string_equal(ans.why, "zarr_url template (probed on idr0801A)");
	assert_int_equal(f.requests, 1);
	assert_int_equal(locate_probes(l), 1);
	/* another study, where nothing is: .zattrs and zarr.json of 3
	 * images, then no more */
	for (int i = 0; i < 100; i++) {
		img.id = 2001 + i;
		assert_int_equal(
			locate_image(l, &img, &b, UINT64_MAX / 2, &ans), 0);
		assert_int_equal(ans.rule, LOCATE_NONE);
	}
	assert_int_equal(f.requests, 7);
	assert_non_null(strstr(ans.why, "zarr_url found none for idr0802B"));
	assert_non_null(strstr(ans.why, "try -o zarr_catalog="));
	/* with ExternalInfo the archive's word decides where no option
	 * does */
	img.zarr_lsid = (char *)"s3://h/b/x.zarr";
	assert_int_equal(locate_image(l, &img, &b, UINT64_MAX / 2, &ans), 0);
	assert_int_equal(ans.rule, LOCATE_EXTERNALINFO);
	assert_string_equal(ans.why, "externalinfo");
	assert_string_equal(ans.url, "");
	img.zarr_lsid = NULL;
	/* a study whose name has no idrNNNN: the template cannot apply */
	const struct locate_ctx c = {.study = "My own project"};

	assert_int_equal(locate_image(l, &img, &c, UINT64_MAX / 2, &ans), 0);
	assert_int_equal(ans.rule, LOCATE_NONE);
	assert_non_null(strstr(ans.why, "needs {study}{letter}"));
	assert_int_equal(f.requests, 7);
	locate_free(l);
}

static void test_locate_chain_plate(void **state)
{
	struct fake f = {.good = "http://z/v0.4/idr0803A/3001.zarr/"};
	struct locate *l = make(&f,
				"http://z/v0.4/{study}{letter}/{plate}.zarr/"
				"{row}/{column}/{field}|"
				"http://z/v0.4/{study}{letter}/{id}.zarr",
				NULL);
	struct locate_ctx ctx = {.study = "idr0803-s/screenA", .plate = 3001};
	struct api_image img = {.id = 500001};
	struct locate_answer ans;

	(void)state;
	for (int r = 0; r < 8; r++) {
		for (int col = 0; col < 12; col++) {
			ctx.row = r;
			ctx.column = col;
			ctx.field = 1;
			assert_int_equal(locate_image(l, &img, &ctx,
						      UINT64_MAX / 2, &ans),
					 0);
			assert_int_equal(ans.rule, LOCATE_TEMPLATE);
		}
	}
	assert_string_equal(ans.url, "http://z/v0.4/idr0803A/3001.zarr/H/12/1");
	assert_int_equal(f.requests, 1);
	locate_free(l);
}

/* A container converted in part: the images probed without a Zarr stay
 * without one, the first found makes the rest Zarr. */
static void test_locate_chain_mixed(void **state)
{
	struct fake f = {.good = "http://z/idr0802B/", .bad = "/230"};
	struct locate *l = make(&f, "http://z/{study}{letter}/{id}.zarr", NULL);
	const struct locate_ctx a = {.study = "idr0802-y/experimentB",
				     .container = 1006};
	const struct locate_ctx other = {.study = "idr0802-y/experimentB",
					 .container = 1003};
	struct api_image img = {.id = 2302};
	struct locate_answer ans;

	(void)state;
	assert_int_equal(locate_image(l, &img, &a, UINT64_MAX / 2, &ans), 0);
	assert_int_equal(ans.rule, LOCATE_NONE);
	img.id = 2303;
	assert_int_equal(locate_image(l, &img, &a, UINT64_MAX / 2, &ans), 0);
	assert_int_equal(ans.rule, LOCATE_NONE);
	img.id = 2401;
	assert_int_equal(locate_image(l, &img, &a, UINT64_MAX / 2, &ans), 0);
	assert_int_equal(ans.rule, LOCATE_TEMPLATE);
	assert_int_equal(f.requests, 5);
	/* known now: no more probes, and 2302 is still without */
	img.id = 2402;
	assert_int_equal(locate_image(l, &img, &a, UINT64_MAX / 2, &ans), 0);
	assert_int_equal(ans.rule, LOCATE_TEMPLATE);
	img.id = 2302;
	assert_int_equal(locate_image(l, &img, &a, UINT64_MAX / 2, &ans), 0);
	assert_int_equal(ans.rule, LOCATE_NONE);
	assert_int_equal(f.requests, 5);
	/* another container of the study is asked on its own */
	img.id = 2001;
	assert_int_equal(locate_image(l, &img, &other, UINT64_MAX / 2, &ans),
			 0);
	assert_int_equal(ans.rule, LOCATE_TEMPLATE);
	assert_int_equal(f.requests, 6);
	locate_free(l);
}

static void test_locate_chain_failures(void **state)
{
	struct fake f = {.good = "http://z/", .fail = -ETIMEDOUT};
	struct locate *l = make(&f, "http://z/{study}{letter}/{id}.zarr", NULL);
	const struct locate_ctx a = {.study = "idr0801-x/experimentA"};
	struct api_image img = {.id = 5};
	struct locate_answer ans;

	(void)state;
	/* a probe that went unanswered decides nothing: the caller fails,
	 * and the next call asks again */
	assert_int_equal(locate_image(l, &img, &a, UINT64_MAX / 2, &ans),
			 -ETIMEDOUT);
	assert_int_equal(locate_image(l, &img, &a, UINT64_MAX / 2, &ans),
			 -ETIMEDOUT);
	assert_int_equal(f.requests, 2);
	f.fail = 0;
	assert_int_equal(locate_image(l, &img, &a, UINT64_MAX / 2, &ans), 0);
	assert_int_equal(ans.rule, LOCATE_TEMPLATE);
	assert_int_equal(f.requests, 3);
	/* once known, a failing server changes nothing within the TTL */
	f.fail = -EIO;
	assert_int_equal(locate_image(l, &img, &a, UINT64_MAX / 2, &ans), 0);
	assert_int_equal(ans.rule, LOCATE_TEMPLATE);
	assert_int_equal(f.requests, 3);
	locate_free(l);
}

static void test_locate_chain_catalogue(void **state)
{
	struct fake f = {
		.good = "http://z/v0.4/idr0802B/",
		.cat = "image_id,zarr_url\n2110,http://z/v0.5/2110.ome.zarr\n",
	};
	struct locate *l = make(&f, "http://z/v0.4/{study}{letter}/{id}.zarr",
				"http://c/cat.csv");
	const struct locate_ctx b = {.study = "idr0802-y/experimentB"};
	struct api_image img = {.id = 2110};
	struct locate_answer ans;

	(void)state;
	/* an exact entry wins over the pattern, and costs no probe */
	assert_int_equal(locate_image(l, &img, &b, UINT64_MAX / 2, &ans), 0);
	assert_int_equal(ans.rule, LOCATE_CATALOGUE);
	assert_string_equal(ans.url, "http://z/v0.5/2110.ome.zarr");
	assert_string_equal(ans.why, "catalogue cat.csv");
	assert_int_equal(f.requests, 1);
	/* the others of the study: the template, probed once */
	for (int i = 0; i < 50; i++) {
		img.id = 2001 + i;
		assert_int_equal(
			locate_image(l, &img, &b, UINT64_MAX / 2, &ans), 0);
		assert_int_equal(ans.rule, LOCATE_TEMPLATE);
	}
	/* the catalogue was fetched once */
	assert_int_equal(f.cat_requests, 1);
	assert_int_equal(f.requests, 2);
	locate_free(l);

	/* a catalogue URL that is not there: said in the answer, asked once */
	f = (struct fake){0};
	l = make(&f, NULL, "http://c/cat.csv");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(
			locate_image(l, &img, &b, UINT64_MAX / 2, &ans), 0);
		assert_int_equal(ans.rule, LOCATE_NONE);
	}
	assert_string_equal(ans.why, "no zarr: catalogue cat.csv unusable; "
				     "try -o zarr_url=");
	assert_int_equal(f.cat_requests, 1);
	locate_free(l);

	/* no options: the answer says which would help */
	l = make(&f, NULL, NULL);
	assert_int_equal(locate_image(l, &img, &b, UINT64_MAX / 2, &ans), 0);
	assert_string_equal(ans.why,
			    "no zarr: set -o zarr_url= or -o zarr_catalog=");
	locate_free(l);
	assert_int_equal(locate_image(NULL, &img, &b, UINT64_MAX / 2, &ans), 0);
	assert_int_equal(ans.rule, LOCATE_NONE);
}

static void test_locate_fileset_group(void **state)
{
	const char *b2r[] = {
		"d/x.ome.zarr/.zattrs",	    "d/x.ome.zarr/.zgroup",
		"d/x.ome.zarr/OME/.zattrs", "d/x.ome.zarr/0/.zattrs",
		"d/x.ome.zarr/0/0/.zarray", "d/x.ome.zarr/1/.zattrs",
		"d/x.ome.zarr/1/0/.zarray"};
	const char *plain3[] = {"d/y.ZARR/zarr.json", "d/y.ZARR/0/zarr.json",
				"d/y.ZARR/1/zarr.json"};
	const char *b2r3[] = {"d/z.zarr/zarr.json", "d/z.zarr/0/zarr.json",
			      "d/z.zarr/0/0/zarr.json"};
	const char *plate[] = {"p/pl.zarr/.zattrs", "p/pl.zarr/B/3/.zattrs",
			       "p/pl.zarr/B/3/1/.zattrs",
			       "p/pl.zarr/B/3/1/0/.zarray"};
	const char *odd[] = {"d/q.zarr/.zattrs", "d/q.zarr/s0/.zarray"};
	const char *none[] = {"d/a.tif", "d/zarr/b.tif", "d/x.zarrs/.zattrs"};
	struct locate_vars v = {.id = 5, .row = -1, .column = -1, .field = -1};
	char out[LOCATE_URL_MAX];

	(void)state;
	/* bioformats2raw: the series' group, series 0 if the image has none */
	assert_int_equal(locate_fileset_group(b2r, 7, &v, 1, out, sizeof(out)),
			 0);
	assert_string_equal(out, "d/x.ome.zarr/1");
	assert_int_equal(locate_fileset_group(b2r, 7, &v, 0, out, sizeof(out)),
			 0);
	assert_string_equal(out, "d/x.ome.zarr/0");
	/* a series the fileset does not hold: its root is a group, for the
	 * probe to judge */
	assert_int_equal(locate_fileset_group(b2r, 7, &v, 9, out, sizeof(out)),
			 0);
	assert_string_equal(out, "d/x.ome.zarr");
	/* Zarr v3: the root image (its 0 is an array) and a b2r one */
	assert_int_equal(
		locate_fileset_group(plain3, 3, &v, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "d/y.ZARR");
	assert_int_equal(locate_fileset_group(b2r3, 3, &v, 0, out, sizeof(out)),
			 0);
	assert_string_equal(out, "d/z.zarr/0");
	/* a plate's field */
	v.plate = 7;
	v.row = 1;
	v.column = 2;
	v.field = 1;
	assert_int_equal(
		locate_fileset_group(plate, 4, &v, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "p/pl.zarr/B/3/1");
	v.field = 0; /* not in the fileset: the plate root is no image */
	assert_int_equal(
		locate_fileset_group(plate, 4, &v, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "p/pl.zarr");
	/* levels not named 0: the root group */
	assert_int_equal(
		locate_fileset_group(odd, 2, NULL, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "d/q.zarr");
	/* no *.zarr directory, no files, no room */
	assert_int_equal(
		locate_fileset_group(none, 3, NULL, 0, out, sizeof(out)),
		-ENOENT);
	assert_int_equal(
		locate_fileset_group(none, 0, NULL, 0, out, sizeof(out)),
		-ENOENT);
	assert_int_equal(locate_fileset_group(b2r, 7, NULL, 0, out, 8),
			 -ENAMETOOLONG);
}

/* The fileset rule: one paths request and one .zattrs per container
 * that has Zarr filesets, three paths requests per one that has none;
 * the other images find their group when opened. */
static void test_locate_chain_fileset(void **state)
{
	struct fake f = {.good = "http://o/idr0801/mk/"};
	struct api_transport tr = {.fetch = fake_fetch, .ctx = &f};
	struct api *api = NULL;
	struct locate_config cfg = {.tr = tr,
				    .ttl_s = 60,
				    .api = NULL,
				    .originals_root = "http://o"};
	const struct locate_ctx a = {.study = "idr0801-x/experimentA",
				     .container = 11};
	const struct locate_ctx b = {.study = "idr0802-y/experimentA",
				     .container = 12};
	struct api_image img = {.id = 1001};
	struct locate_answer ans;
	struct locate *l = NULL;
	char url[LOCATE_URL_MAX];

	(void)state;
	assert_int_equal(api_new("http://api", &tr, &api), 0);
	cfg.api = api;
	assert_int_equal(locate_new(&cfg, &l), 0);
	assert_int_equal(locate_image(l, &img, &a, UINT64_MAX / 2, &ans), 0);
	assert_int_equal(ans.rule, LOCATE_FILESET);
	assert_string_equal(ans.url, "http://o/idr0801/mk/1001.ome.zarr/0");
	assert_string_equal(ans.why, "fileset is a zarr (probed on idr0801A)");
	assert_int_equal(f.requests, 2);
	for (int i = 0; i < 500; i++) {
		img.id = 1002 + i;
		assert_int_equal(
			locate_image(l, &img, &a, UINT64_MAX / 2, &ans), 0);
		assert_int_equal(ans.rule, LOCATE_FILESET);
		assert_string_equal(ans.url, "");
	}
	assert_int_equal(f.requests, 2);
	assert_int_equal(locate_probes(l), 2);
	/* opened: its own paths, its own series */
	img.id = 1400;
	img.series = 1;
	assert_int_equal(
		locate_fileset(l, &img, &a, UINT64_MAX / 2, url, sizeof(url)),
		0);
	assert_string_equal(url, "http://o/idr0801/mk/1400.ome.zarr/1");
	assert_int_equal(f.paths_requests, 2);
	img.series = 0;
	/* a container of TIFF filesets: 3 images asked, then no more */
	for (int i = 0; i < 20; i++) {
		img.id = 2001 + i;
		assert_int_equal(
			locate_image(l, &img, &b, UINT64_MAX / 2, &ans), 0);
		assert_int_equal(ans.rule, LOCATE_NONE);
	}
	assert_int_equal(f.paths_requests, 5);
	assert_int_equal(f.requests, 6);
	assert_non_null(strstr(ans.why, "no zarr fileset in idr0802A"));
	assert_int_equal(
		locate_fileset(l, &img, &b, UINT64_MAX / 2, url, sizeof(url)),
		-ENOENT);
	/* a network failure decides nothing: asked again next time */
	f.fail = -ETIMEDOUT;
	img.id = 3001;
	const struct locate_ctx c = {.study = "idr0803-z/screenA",
				     .container = 13};

	/* a rule the user did not ask for fails no listing: rendered for
	 * now, said why, kept nowhere */
	assert_int_equal(locate_image(l, &img, &c, UINT64_MAX / 2, &ans), 0);
	assert_int_equal(ans.rule, LOCATE_NONE);
	assert_non_null(strstr(ans.why, "fileset not asked (Connection timed "
					"out)"));
	/* nor does an answer that does not parse, and it is kept nowhere */
	f.fail = 0;
	f.paths_bad = true;
	assert_int_equal(locate_image(l, &img, &c, UINT64_MAX / 2, &ans), 0);
	assert_int_equal(ans.rule, LOCATE_NONE);
	assert_non_null(strstr(ans.why, "fileset not asked"));
	f.paths_bad = false;
	f.paths_requests = 0;
	assert_int_equal(locate_image(l, &img, &c, UINT64_MAX / 2, &ans), 0);
	assert_int_equal(ans.rule, LOCATE_NONE);
	assert_int_equal(f.paths_requests, 1);
	assert_non_null(strstr(ans.why, "no zarr fileset in idr0803A"));
	locate_free(l);
	api_free(api);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_locate_study_names),
		cmocka_unit_test(test_locate_expand),
		cmocka_unit_test(test_locate_templates_check),
		cmocka_unit_test(test_locate_cat_table_csv),
		cmocka_unit_test(test_locate_cat_download_urls),
		cmocka_unit_test(test_locate_cat_hostile),
		cmocka_unit_test(test_locate_chain_template),
		cmocka_unit_test(test_locate_chain_plate),
		cmocka_unit_test(test_locate_chain_mixed),
		cmocka_unit_test(test_locate_chain_failures),
		cmocka_unit_test(test_locate_chain_catalogue),
		cmocka_unit_test(test_locate_fileset_group),
		cmocka_unit_test(test_locate_chain_fileset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
