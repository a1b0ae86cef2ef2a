/* SPDX-License-Identifier: MIT */
/* Unit tests of the virtual TIFF layout (sizes known before any pixel). */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "idrfs/tiff.h"

static void test_tiff_single_plane(void **state)
{
	struct tiff_geom g = {.x = 67,
			      .y = 45,
			      .c = 1,
			      .z = 1,
			      .t = 1,
			      .bps = 2,
			      .samples = 1};
	struct tiff_layout l;

	(void)state;
	/* one plane: head padded to 4 KiB, then the pixels, no tail */
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_int_equal(l.planes, 1);
	assert_int_equal(l.plane_size, 67 * 45 * 2);
	assert_int_equal(l.d0 % TIFF_HEAD_ALIGN, 0);
	assert_int_equal(l.size, l.d0 + l.plane_size);
	assert_int_equal(l.rows_per_strip, 45);
	assert_int_equal(l.strips, 1);
	assert_false(l.single_ifd);
}

static void test_tiff_tail(void **state)
{
	struct tiff_geom g = {.x = 100,
			      .y = 200,
			      .c = 2,
			      .z = 3,
			      .t = 4,
			      .bps = 2,
			      .samples = 1};
	struct tiff_layout l;

	(void)state;
	/* 24 planes in CZT order, 4 strips of 64 rows, tail at a stride */
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_int_equal(l.planes, 24);
	assert_int_equal(l.strips, 4);
	assert_int_equal(l.rows_per_strip, 64);
	assert_int_equal(l.t0 % 8, 0);
	assert_true(l.t0 >= l.d0 + 24 * l.plane_size);
	assert_int_equal(l.i0, l.t0 + 16 + 4 * 4);
	assert_int_equal(l.s1 % 8, 0);
	assert_true(l.s1 >= 2 + 12 * l.n1 + 4 + 4 * 4);
	assert_int_equal(l.size, l.i0 + 23 * l.s1);
}

static void test_tiff_rgb(void **state)
{
	struct tiff_geom g = {.x = 10,
			      .y = 10,
			      .c = 3,
			      .z = 2,
			      .t = 1,
			      .bps = 1,
			      .samples = 3};
	struct tiff_layout l;

	(void)state;
	/* rendered RGB: channels merge into one plane per z and t */
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_int_equal(l.planes, 2);
	assert_int_equal(l.plane_size, 300);
}

static void test_tiff_big(void **state)
{
	struct tiff_geom g = {.x = 2048,
			      .y = 2048,
			      .c = 2,
			      .z = 300,
			      .t = 1,
			      .bps = 2,
			      .samples = 1};
	struct tiff_layout l;

	(void)state;
	/* above 4 GiB: ImageJ's single-IFD form, size = D0 + N*P */
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_true(l.single_ifd);
	assert_int_equal(l.size, l.d0 + 600ull * 2048 * 2048 * 2);
	/* just below: classic with a tail, all offsets under 2^32 */
	g.z = 200;
	assert_int_equal(tiff_layout_compute(&g, &l), 0);
	assert_false(l.single_ifd);
	assert_true(l.size <= TIFF_CLASSIC_MAX);
}

static void test_tiff_bad_geometry(void **state)
{
	struct tiff_geom g = {
		.x = 0, .y = 1, .c = 1, .z = 1, .t = 1, .bps = 1, .samples = 1};
	struct tiff_layout l = {.size = 42};

	(void)state;
	/* zero sizes and odd sample sizes are refused, out untouched */
	assert_int_equal(tiff_layout_compute(&g, &l), -EINVAL);
	g.x = 1;
	g.bps = 8;
	assert_int_equal(tiff_layout_compute(&g, &l), -EINVAL);
	g.bps = 1;
	g.samples = 2;
	assert_int_equal(tiff_layout_compute(&g, &l), -EINVAL);
	assert_int_equal(l.size, 42);
	/* hostile sizes cannot overflow: too many planes, too many bytes */
	g.samples = 1;
	g.z = 1u << 20;
	g.t = 1u << 20;
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
	g = (struct tiff_geom){.x = 0x7fffffff,
			       .y = 0x7fffffff,
			       .c = 4,
			       .z = 1000,
			       .t = 1,
			       .bps = 4,
			       .samples = 1};
	assert_int_equal(tiff_layout_compute(&g, &l), -EFBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tiff_single_plane),
		cmocka_unit_test(test_tiff_tail),
		cmocka_unit_test(test_tiff_rgb),
		cmocka_unit_test(test_tiff_big),
		cmocka_unit_test(test_tiff_bad_geometry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
