/* SPDX-License-Identifier: MIT */
/*
 * arith: checked arithmetic for every place where sizes, counts and
 * offsets from the remote meet (image dimensions, array shapes, chunk
 * grids, page counts, body lengths). Each helper returns 0 or -EOVERFLOW
 * and writes its out-parameter only on success, so a caller cannot use a
 * wrapped value by accident.
 *
 * Limits: unsigned 64-bit and size_t only; header-only, no state.
 */
#ifndef IDRFS_ARITH_H
#define IDRFS_ARITH_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

/** *out = a * b. @return 0 or -EOVERFLOW (*out untouched) */
static inline int arith_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	uint64_t r;

	if (__builtin_mul_overflow(a, b, &r))
		return -EOVERFLOW;
	*out = r;
	return 0;
}

/** *out = a + b. @return 0 or -EOVERFLOW (*out untouched) */
static inline int arith_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	uint64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return -EOVERFLOW;
	*out = r;
	return 0;
}

/** *out = a * b as a size_t. @return 0 or -EOVERFLOW (*out untouched) */
static inline int arith_mul_size(size_t a, size_t b, size_t *out)
{
	size_t r;

	if (__builtin_mul_overflow(a, b, &r))
		return -EOVERFLOW;
	*out = r;
	return 0;
}

/** *out = a + b as a size_t. @return 0 or -EOVERFLOW (*out untouched) */
static inline int arith_add_size(size_t a, size_t b, size_t *out)
{
	size_t r;

	if (__builtin_add_overflow(a, b, &r))
		return -EOVERFLOW;
	*out = r;
	return 0;
}

/**
 * *out = the product of v[0..n-1] (1 for n == 0).
 * @return 0 or -EOVERFLOW (*out untouched)
 */
static inline int arith_prod_u64(const uint64_t *v, size_t n, uint64_t *out)
{
	uint64_t r = 1;

	for (size_t i = 0; i < n; i++) {
		if (__builtin_mul_overflow(r, v[i], &r))
			return -EOVERFLOW;
	}
	*out = r;
	return 0;
}

/** ceil(a / b) without overflow; b must be > 0 (a caller invariant). */
static inline uint64_t arith_div_ceil_u64(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

#endif
