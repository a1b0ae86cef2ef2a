/* SPDX-License-Identifier: MIT */
/* Unit tests of the log: trace lists, levels, escaping, file sink. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "idrfs/log.h"

static void test_log_trace(void **state)
{
	const char *bad = NULL;
	size_t badlen = 0;

	(void)state;
	log_set_level(LOG_LEVEL_NOTICE);
	/* components listed are traced, others are not */
	assert_int_equal(log_set_trace("http,api", &bad, &badlen), 0);
	assert_true(log_enabled(LOG_LEVEL_DEBUG, LOG_C_HTTP));
	assert_true(log_enabled(LOG_LEVEL_DEBUG, LOG_C_API));
	assert_false(log_enabled(LOG_LEVEL_DEBUG, LOG_C_FUSE));
	/* "all,-fuse" is everything but fuse */
	assert_int_equal(log_set_trace("all,-fuse", &bad, &badlen), 0);
	assert_true(log_enabled(LOG_LEVEL_DEBUG, LOG_C_CACHE));
	assert_false(log_enabled(LOG_LEVEL_DEBUG, LOG_C_FUSE));
	/* an unknown word is named */
	assert_int_equal(log_set_trace("http,bogus,api", &bad, &badlen),
			 -EINVAL);
	assert_int_equal(badlen, 5);
	assert_memory_equal(bad, "bogus", 5);
	/* errors always pass, info does not at notice level */
	assert_int_equal(log_set_trace("", &bad, &badlen), 0);
	assert_true(log_enabled(LOG_LEVEL_ERR, LOG_C_HTTP));
	assert_false(log_enabled(LOG_LEVEL_INFO, LOG_C_HTTP));
	assert_false(log_enabled(LOG_LEVEL_DEBUG, LOG_C_HTTP));
}

static void test_log_escape(void **state)
{
	char out[64];

	(void)state;
	/* control characters, quotes and invalid UTF-8 are made visible */
	log_escape("a\nb\"c\\\x01\xff", out, sizeof(out));
	assert_string_equal(out, "a\\x0ab\\\"c\\\\\\x01\\xff");
	/* valid UTF-8 passes */
	log_escape("\xc3\xbc", out, sizeof(out));
	assert_string_equal(out, "\xc3\xbc");
	/* the output is cut, never overflowed, and whole escapes only */
	log_escape("\x01\x01\x01", out, 9);
	assert_string_equal(out, "\\x01\\x01");
	log_escape(NULL, out, sizeof(out));
	assert_string_equal(out, "(null)");
}

/* fuzz_name found it: input "\xc2\x9bc1" (a C1 CSI, then "c1") */
static void test_log_escape_c1(void **state)
{
	char out[64];

	(void)state;
	/* a C1 control (U+0080..U+009F) is a terminal escape: escaped */
	log_escape("\xc2\x9b"
		   "c1",
		   out, sizeof(out));
	assert_string_equal(out, "\\xc2\\x9bc1");
	log_escape("a\xc2\x80\xc2\x9f", out, sizeof(out));
	assert_string_equal(out, "a\\xc2\\x80\\xc2\\x9f");
	/* U+00A0 and up are printable and pass */
	log_escape("\xc2\xa0", out, sizeof(out));
	assert_string_equal(out, "\xc2\xa0");
	/* an escape is never cut in the middle */
	log_escape("\xc2\x9b", out, 8);
	assert_string_equal(out, "");
}

static void test_log_file(void **state)
{
	char path[] = "/tmp/idrfs-test-log-XXXXXX";
	int fd = mkstemp(path);
	char buf[512] = "";
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	/* lines go to the file with level and component */
	assert_int_equal(log_open(LOG_SINK_FILE, path), 0);
	log_error(LOG_C_HTTP, "GET \"%s\": HTTP %d", "u", 503);
	log_close();
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	unlink(path);
	assert_non_null(strstr(buf, "idrfs: error: http: GET \"u\": HTTP 503"));
	/* an unwritable file is refused and the sink unchanged */
	assert_int_equal(log_open(LOG_SINK_FILE, "/nonexistent/dir/log"),
			 -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log_trace),
		cmocka_unit_test(test_log_escape),
		cmocka_unit_test(test_log_escape_c1),
		cmocka_unit_test(test_log_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
