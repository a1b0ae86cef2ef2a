/* SPDX-License-Identifier: MIT */
/*
 * tiff: the byte layout of the virtual TIFF of an image (FORMATS.md 2):
 * a classic little-endian TIFF, IFD0 and its values in a head reserved
 * before the pixels, planes contiguous in CZT order, tail IFDs after the
 * data at a fixed stride; above 4 GiB ImageJ's single-IFD form. The layout
 * depends only on the geometry, so a file's size is known at stat() time,
 * before any pixel or per-image metadata is fetched.
 *
 * Limits: layout only (the bytes arrive with the pixel module); strips of
 * TIFF_STRIP_ROWS rows; at most TIFF_MAX_PLANES planes.
 */
#ifndef IDRFS_TIFF_H
#define IDRFS_TIFF_H

#include <stdbool.h>
#include <stdint.h>

#define TIFF_STRIP_ROWS	 64u
#define TIFF_HEAD_ALIGN	 4096u
#define TIFF_MAX_PLANES	 (1u << 24)
#define TIFF_CLASSIC_MAX 0xffffffffull

struct tiff_geom {
	uint32_t x, y, c, z, t;
	unsigned bps;	  /* bytes per sample in the file: 1, 2 or 4 */
	unsigned samples; /* 1 (grey planes per channel) or 3 (RGB) */
};

struct tiff_layout {
	uint64_t planes;     /* N; RGB files merge C into one plane */
	uint64_t plane_size; /* P */
	uint32_t rows_per_strip;
	uint32_t strips;     /* S per plane */
	uint64_t d0;	     /* offset of the first pixel */
	uint64_t t0, i0, s1; /* tail block, IFD1, IFD stride */
	unsigned n0, n1;     /* entries of IFD0 and of the tail IFDs */
	bool single_ifd;     /* ImageJ's >4 GiB form: no tail */
	uint64_t size;
};

/**
 * Compute the layout of a geometry.
 * @param[out] out written only on success
 * @return 0, -EINVAL (a zero size, bps not 1/2/4, samples not 1/3),
 *         -EFBIG (more than TIFF_MAX_PLANES planes or over 2^62 bytes)
 * @note Pure and thread-safe.
 */
int tiff_layout_compute(const struct tiff_geom *g, struct tiff_layout *out);

#endif
