/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the cmocka tests. Header-only, static. */
#ifndef IDRFS_TESTUTIL_H
#define IDRFS_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read tests/data/<name> whole; NUL-terminated; NULL on failure. */
static inline char *testutil_read(const char *name, size_t *len)
{
	char path[1024];
	FILE *f;
	char *buf = NULL;
	long n;

	snprintf(path, sizeof(path), "%s/%s", TESTS_DATA, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf) {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

#endif
