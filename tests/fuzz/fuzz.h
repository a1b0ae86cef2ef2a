/* SPDX-License-Identifier: MIT */
/*
 * What the libFuzzer targets share: their start (fuzz.c), a failed
 * invariant that libFuzzer records as a crash, and a reader that takes
 * fixed-size fields off the front of an input (zeros once it is used up).
 * Each target is one .c with LLVMFuzzerTestOneInput(), linked with fuzz.c.
 */
#ifndef IDRFS_FUZZ_H
#define IDRFS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Every target's start (fuzz.c): log lines are still formatted, so
 * log_escape() sees the hostile text, but go to /dev/null unless FUZZ_LOG
 * is set: a target runs millions of inputs.
 */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken promise of the code under test: abort, libFuzzer saves it. */
static inline void fuzz_check(bool ok, const char *what, int line)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz: invariant failed at line %d: %s\n", line, what);
	abort();
}

#define FUZZ_CHECK(cond) fuzz_check((cond), #cond, __LINE__)

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint64_t fuzz_take(struct fuzz_in *in, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++) {
		uint8_t b = 0;

		if (in->n > 0) {
			b = *in->p++;
			in->n--;
		}
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}

/* A NUL-terminated heap copy of n bytes (NULs inside cut it short). */
static inline char *fuzz_strndup(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

#endif
