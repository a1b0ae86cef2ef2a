/* SPDX-License-Identifier: MIT */
/*
 * tiff: virtual TIFF layout. The picture (FORMATS.md 2.2-2.4):
 *
 *   0      header (8) | IFD0 | IFD0 values | descriptions (reserved)
 *   D0     plane 0 | plane 1 | ... | plane N-1        (CZT order, no gaps)
 *   T0     XRes, YRes [, StripByteCounts[S]]          (shared by the tail)
 *   I0     IFD1 | IFD2 | ... each S1 bytes [+ its StripOffsets[S]]
 *
 * The head is reserved from the geometry alone (a base budget plus one per
 * channel for the OME-XML and ImageJ descriptions and IJ metadata), so the
 * size never depends on names or annotations fetched later.
 */
#include "config.h"

#include "idrfs/tiff.h"

#include <errno.h>

#define TIFF_IFD0_ENTRIES     18u /* 14 base + 2 descriptions + 2 IJ tags */
#define TIFF_TAIL_ENTRIES     14u
#define TIFF_DESC_BASE	      16384u
#define TIFF_DESC_PER_CHANNEL 2048u /* text + 768-byte LUT + range */

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

int tiff_layout_compute(const struct tiff_geom *g, struct tiff_layout *out)
{
	struct tiff_layout l = {0};
	uint64_t head;
	uint64_t strip_arrays;

	if (!g->x || !g->y || !g->c || !g->z || !g->t)
		return -EINVAL;
	if ((g->bps != 1 && g->bps != 2 && g->bps != 4) ||
	    (g->samples != 1 && g->samples != 3))
		return -EINVAL;
	l.planes = (uint64_t)g->z * g->t * (g->samples == 3 ? 1 : g->c);
	if (l.planes > TIFF_MAX_PLANES)
		return -EFBIG;
	l.plane_size = (uint64_t)g->x * g->y * g->bps * g->samples;
	if (l.plane_size > (1ull << 62) / l.planes)
		return -EFBIG;
	l.rows_per_strip = g->y < TIFF_STRIP_ROWS ? g->y : TIFF_STRIP_ROWS;
	l.strips = (g->y + l.rows_per_strip - 1) / l.rows_per_strip;
	l.n0 = TIFF_IFD0_ENTRIES;
	l.n1 = TIFF_TAIL_ENTRIES;
	strip_arrays = l.strips > 1 ? 8ull * l.strips : 0;

	head = 8 + 2 + 12ull * l.n0 + 4 + 16 + strip_arrays + TIFF_DESC_BASE +
	       (uint64_t)TIFF_DESC_PER_CHANNEL * g->c;
	l.d0 = align_up(head, TIFF_HEAD_ALIGN);

	if (l.planes == 1) {
		l.size = l.d0 + l.plane_size;
	} else {
		l.t0 = align_up(l.d0 + l.planes * l.plane_size, 8);
		l.i0 = l.t0 + 16 + (l.strips > 1 ? 4ull * l.strips : 0);
		l.s1 = align_up(2 + 12ull * l.n1 + 4 +
					(l.strips > 1 ? 4ull * l.strips : 0),
				8);
		l.size = l.i0 + (l.planes - 1) * l.s1;
	}
	if (l.size > TIFF_CLASSIC_MAX) {
		/* every offset must fit in 32 bits: ImageJ's own form */
		l.single_ifd = true;
		l.t0 = l.i0 = l.s1 = 0;
		l.size = l.d0 + l.planes * l.plane_size;
	}
	*out = l;
	return 0;
}
