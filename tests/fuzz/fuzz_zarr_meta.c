/* SPDX-License-Identifier: MIT */
/*
 * fuzz_zarr_meta: Zarr metadata as the remote sends it, through its
 * parsers: a v2 .zarray, a v3 zarr.json and the OME-NGFF multiscales of a
 * .zattrs or a v3 group. Each input goes to all three. What a parser
 * accepts must keep the promises the readers rely on: it passes
 * zarr_array_check(), every chunk has a key, and the multiscales name 1 to
 * ZARR_MAX_LEVELS safe relative paths and axes with y and x.
 */
#include "config.h"

#include <errno.h>

#include "idrfs/api.h"
#include "idrfs/zarr.h"

#include "fuzz.h"

static void check_array(const struct zarr_array *a)
{
	uint64_t last[ZARR_MAX_DIMS] = {0};
	char key[ZARR_KEY_MAX];

	/* api.h: what the parsers return passes zarr_array_check() */
	FUZZ_CHECK(zarr_array_check(a, NULL, NULL) == 0);
	FUZZ_CHECK(zarr_chunk_bytes(a) <= ZARR_MAX_CHUNK_BYTES);
	for (unsigned d = 0; d < a->ndim; d++) {
		uint64_t g = zarr_grid(a, d);

		FUZZ_CHECK(g >= 1);
		last[d] = g - 1;
	}
	/* the last chunk's key, the longest, fits the documented maximum */
	FUZZ_CHECK(zarr_chunk_key(a, last, key, sizeof(key)) == 0);
	FUZZ_CHECK(strlen(key) < sizeof(key));
}

/* The promise of path_ok(): relative, no empty, "." or ".." segment. */
static void check_path(const char *p)
{
	size_t n, len;
	const char *seg = p;

	FUZZ_CHECK(p != NULL);
	n = strlen(p);
	FUZZ_CHECK(n > 0 && n <= 255 && p[0] != '/');
	for (size_t i = 0; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0') {
			FUZZ_CHECK((unsigned char)p[i] >= 0x20 &&
				   p[i] != 0x7f && p[i] != '\\');
			continue;
		}
		len = (size_t)(p + i - seg);
		FUZZ_CHECK(len > 0);
		FUZZ_CHECK(!(len == 1 && seg[0] == '.'));
		FUZZ_CHECK(!(len == 2 && seg[0] == '.' && seg[1] == '.'));
		seg = p + i + 1;
	}
}

static void check_multiscale(const struct zarr_multiscale *m)
{
	bool seen[ZARR_MAX_DIMS] = {false};

	FUZZ_CHECK(m->ndim >= 2 && m->ndim <= ZARR_MAX_DIMS);
	FUZZ_CHECK(m->nlevels >= 1 && m->nlevels <= ZARR_MAX_LEVELS);
	FUZZ_CHECK(m->axis[ZARR_Y] >= 0 && m->axis[ZARR_X] >= 0);
	for (int k = 0; k < 5; k++) {
		int d = m->axis[k];

		if (d < 0)
			continue;
		FUZZ_CHECK((unsigned)d < m->ndim);
		FUZZ_CHECK(!seen[d]);
		seen[d] = true;
	}
	for (size_t i = 0; i < m->nlevels; i++)
		check_path(m->paths[i]);
	for (size_t i = m->nlevels; i < ZARR_MAX_LEVELS; i++)
		FUZZ_CHECK(m->paths[i] == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *b = malloc(size ? size : 1);
	struct zarr_array a;
	struct zarr_multiscale m;
	int rc;

	if (!b)
		return 0;
	memcpy(b, data, size);
	rc = api_json_zarray(b, size, "fuzz", &a);
	FUZZ_CHECK(rc <= 0);
	if (rc == 0) {
		FUZZ_CHECK(a.format == 2);
		check_array(&a);
	}
	rc = api_json_zarr3_array(b, size, "fuzz", &a);
	FUZZ_CHECK(rc <= 0);
	if (rc == 0) {
		FUZZ_CHECK(a.format == 3);
		check_array(&a);
	}
	rc = api_json_multiscales(b, size, "fuzz", &m);
	FUZZ_CHECK(rc <= 0);
	if (rc == 0) {
		check_multiscale(&m);
		zarr_multiscale_release(&m);
	}
	free(b);
	return 0;
}
