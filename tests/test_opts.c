/* SPDX-License-Identifier: MIT */
/* Unit tests of the command line. */
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

#include "idrfs/opts.h"

/* opts_parse takes char *argv[] as main does; give it writable copies. */
static int parse_with(int (*fn)(int, char **, struct opts *), struct opts *o,
		      int argc, const char *const *args)
{
	char *argv[32];
	int rc;

	for (int i = 0; i < argc; i++)
		argv[i] = strdup(args[i]);
	rc = fn(argc, argv, o);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return rc;
}

#define PARSE(o, a)                                                            \
	parse_with(opts_parse, (o), (int)(sizeof(a) / sizeof((a)[0])), (a))
#define PARSE_TOOL(o, a)                                                       \
	parse_with(opts_parse_tool, (o), (int)(sizeof(a) / sizeof((a)[0])), (a))

static bool has_arg(const struct opts *o, const char *s)
{
	for (int i = 0; i < o->fuse_argc; i++) {
		if (strcmp(o->fuse_argv[i], s) == 0)
			return true;
	}
	return false;
}

static void test_opts_defaults(void **state)
{
	const char *const argv[] = {"idrfs", "/mnt/idr"};
	struct opts o = {0};

	(void)state;
	/* one positional: the mountpoint, and IDR is the remote */
	setenv("XDG_CACHE_HOME", "/var/tmp/xdg", 1);
	assert_int_equal(PARSE(&o, argv), 0);
	assert_string_equal(o.url, OPTS_DEFAULT_URL);
	assert_string_equal(o.mountpoint, "/mnt/idr");
	assert_string_equal(o.cache_dir, "/var/tmp/xdg/idrfs");
	assert_null(o.seed_cache);
	assert_int_equal(o.timeout, 30);
	assert_int_equal(o.max_conns, 8);
	assert_int_equal(o.ttl, 86400);
	assert_int_equal(o.prefetch, 256);
	assert_int_equal(o.readahead, 4096);
	assert_true(o.mem == 128ull << 20);
	assert_false(o.foreground);
	/* FUSE gets the mountpoint and a read-only mount */
	assert_true(has_arg(&o, "/mnt/idr"));
	opts_release(&o);
}

static void test_opts_all(void **state)
{
	const char *const argv[] = {
		"idrfs",
		"-f",
		"-o",
		"cache_dir=/c,timeout=5,max_conns=3,ttl=60,seed_cache=/s/seed,"
		"readahead=0,mem=1.5G",
		"-o",
		"log_file=/l,trace=http,api,-fuse,notify_pipe=/p",
		"-o",
		"_netdev,noauto,user,nofail",
		"-o",
		"proxy=http://head:3128;DIRECT,startup_jitter=4",
		"http://127.0.0.1:8080/",
		"/mnt/x"};
	struct opts o = {0};

	(void)state;
	/* every option lands; fstab noise is dropped */
	assert_int_equal(PARSE(&o, argv), 0);
	assert_string_equal(o.url, "http://127.0.0.1:8080/");
	assert_string_equal(o.mountpoint, "/mnt/x");
	assert_string_equal(o.cache_dir, "/c");
	assert_string_equal(o.seed_cache, "/s/seed");
	assert_int_equal(o.timeout, 5);
	assert_int_equal(o.max_conns, 3);
	assert_int_equal(o.ttl, 60);
	assert_int_equal(o.readahead, 0);
	assert_true(o.mem == 3ull << 29);
	assert_string_equal(o.log_file, "/l");
	/* a trace list keeps its commas */
	assert_string_equal(o.trace, "http,api,-fuse");
	assert_string_equal(o.notify_pipe, "/p");
	/* a proxy list keeps its ';' */
	assert_string_equal(o.proxy, "http://head:3128;DIRECT");
	assert_int_equal(o.startup_jitter, 4);
	assert_true(o.foreground);
	for (int i = 0; i < o.fuse_argc; i++) {
		assert_null(strstr(o.fuse_argv[i], "_netdev"));
		assert_null(strstr(o.fuse_argv[i], "noauto"));
		assert_null(strstr(o.fuse_argv[i], "timeout"));
		assert_null(strstr(o.fuse_argv[i], "mem="));
	}
	assert_true(has_arg(&o, "-f"));
	opts_release(&o);
}

static void test_opts_relative_paths(void **state)
{
	const char *const rel[] = {"idrfs", "-o", "seed_cache=shared/seed",
				   "/m"};
	const char *const empty[] = {"idrfs", "-o", "seed_cache=", "/m"};
	struct opts o = {0};
	char cwd[4096], want[4200];

	(void)state;
	/* a relative seed is made absolute: the daemon runs in / */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/shared/seed", cwd);
	assert_int_equal(PARSE(&o, rel), 0);
	assert_string_equal(o.seed_cache, want);
	/* and it is not handed on to FUSE */
	for (int i = 0; i < o.fuse_argc; i++)
		assert_null(strstr(o.fuse_argv[i], "seed"));
	opts_release(&o);
	/* an empty one is refused */
	assert_int_equal(PARSE(&o, empty), -EINVAL);
	opts_release(&o);
	/* so are the cache, the log and the notify pipe */
	const char *const rel2[] = {"idrfs", "-o",
				    "cache_dir=c,log_file=l.log,notify_pipe=p",
				    "/m"};

	assert_int_equal(PARSE(&o, rel2), 0);
	snprintf(want, sizeof(want), "%s/c", cwd);
	assert_string_equal(o.cache_dir, want);
	snprintf(want, sizeof(want), "%s/l.log", cwd);
	assert_string_equal(o.log_file, want);
	snprintf(want, sizeof(want), "%s/p", cwd);
	assert_string_equal(o.notify_pipe, want);
	opts_release(&o);
}

static void test_opts_errors(void **state)
{
	const char *const noarg[] = {"idrfs"};
	const char *const three[] = {"idrfs", "http://a/", "/m", "/extra"};
	const char *const badurl[] = {"idrfs", "ftp://a/", "/m"};
	const char *const zero[] = {"idrfs", "-o", "timeout=0", "/m"};
	const char *const conns[] = {"idrfs", "-o", "max_conns=1000", "/m"};
	const char *const nonnum[] = {"idrfs", "-o", "ttl=abc", "/m"};
	const char *const jitter[] = {"idrfs", "-o", "startup_jitter=30", "/m"};
	const char *const mem[] = {"idrfs", "-o", "mem=15M", "/m"};
	struct opts o = {0};

	(void)state;
	/* each mistake is refused with -EINVAL */
	assert_int_equal(PARSE(&o, noarg), -EINVAL);
	opts_release(&o);
	assert_int_equal(PARSE(&o, three), -EINVAL);
	opts_release(&o);
	assert_int_equal(PARSE(&o, badurl), -EINVAL);
	opts_release(&o);
	assert_int_equal(PARSE(&o, zero), -EINVAL);
	opts_release(&o);
	assert_int_equal(PARSE(&o, conns), -EINVAL);
	opts_release(&o);
	assert_int_equal(PARSE(&o, nonnum), -EINVAL);
	opts_release(&o);
	/* a jitter as long as the deadline would fail the first request */
	assert_int_equal(PARSE(&o, jitter), -EINVAL);
	opts_release(&o);
	assert_int_equal(PARSE(&o, mem), -EINVAL);
	opts_release(&o);
}

static void test_opts_help_version(void **state)
{
	const char *const help[] = {"idrfs", "--help"};
	const char *const ver[] = {"idrfs", "-V"};
	struct opts o = {0};

	(void)state;
	/* help and version need no mountpoint */
	assert_int_equal(PARSE(&o, help), 0);
	assert_true(o.help);
	opts_release(&o);
	assert_int_equal(PARSE(&o, ver), 0);
	assert_true(o.version);
	opts_release(&o);
}

static void test_opts_tool(void **state)
{
	const char *const ok[] = {"idrfs-warmup", "-o",
				  "cache_dir=/c,max_conns=3", "http://a/"};
	const char *const fuse[] = {"idrfs-warmup", "-o", "allow_other",
				    "http://a/"};
	const char *const two[] = {"idrfs-warmup", "http://a/", "/m"};
	const char *const bad[] = {"idrfs-warmup", "-o", "max_conns=0",
				   "http://a/"};
	struct opts o = {0};

	(void)state;
	/* idrfs's options with their checks, no mountpoint, nothing for FUSE */
	assert_int_equal(PARSE_TOOL(&o, ok), 0);
	assert_string_equal(o.url, "http://a/");
	assert_string_equal(o.cache_dir, "/c");
	assert_int_equal(o.max_conns, 3);
	assert_int_equal(o.timeout, OPTS_DEFAULT_TIMEOUT);
	assert_null(o.mountpoint);
	assert_null(o.fuse_argv);
	opts_release(&o);
	/* an option only FUSE knows is refused: no FUSE follows */
	assert_int_equal(PARSE_TOOL(&o, fuse), -EINVAL);
	opts_release(&o);
	/* one positional, the URL */
	assert_int_equal(PARSE_TOOL(&o, two), -EINVAL);
	opts_release(&o);
	assert_int_equal(PARSE_TOOL(&o, bad), -EINVAL);
	opts_release(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_opts_defaults),
		cmocka_unit_test(test_opts_all),
		cmocka_unit_test(test_opts_relative_paths),
		cmocka_unit_test(test_opts_errors),
		cmocka_unit_test(test_opts_help_version),
		cmocka_unit_test(test_opts_tool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
