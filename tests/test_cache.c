/* SPDX-License-Identifier: MIT */
/* Unit tests of the cache: round trips, misses, damage, a full map, and
 * two processes sharing one directory. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "idrfs/cache.h"

struct fx {
	char dir[64];
	struct cache *c;
};

static int setup_size(void **state, uint64_t size)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct cache_config cfg = {.remote = "https://idr.example.org/",
				   .max_bytes = size};

	snprintf(f->dir, sizeof(f->dir), "/tmp/idrfs-test-cache-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	cfg.dir = f->dir;
	assert_int_equal(cache_open(&cfg, &f->c), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_size(state, 64u << 20);
}

static int setup_tiny(void **state)
{
	return setup_size(state, 256u << 10);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	cache_close(f->c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 2654435761u + seed) >> 7);
}

static void test_cache_roundtrip(void **state)
{
	struct fx *f = *state;
	uint64_t idx[3] = {1, 2, 3};
	struct cache_key k;
	uint8_t in[70000], out[70000];

	/* the environment sits in a directory named for the remote */
	assert_non_null(strstr(cache_path(f->c), "/idr.example.org"));
	cache_key_chunk(&k, "zarr", 2001, 0, idx, 3);
	/* a key never stored is a miss */
	assert_int_equal(cache_get(f->c, &k, out, sizeof(out)), -ENOENT);
	/* what goes in comes out, byte for byte */
	fill(in, sizeof(in), 1);
	assert_int_equal(cache_put(f->c, &k, in, sizeof(in)), 0);
	memset(out, 0, sizeof(out));
	assert_int_equal(cache_get(f->c, &k, out, sizeof(out)), 0);
	assert_memory_equal(in, out, sizeof(in));
	/* another length is refused, not truncated */
	assert_int_equal(cache_get(f->c, &k, out, 100), -EFBIG);
	/* keys differ by every field */
	struct cache_key k2;

	cache_key_chunk(&k2, "zarr", 2001, 1, idx, 3);
	assert_int_equal(cache_get(f->c, &k2, out, sizeof(out)), -ENOENT);
	cache_key_chunk(&k2, "render", 2001, 0, idx, 3);
	assert_int_equal(cache_get(f->c, &k2, out, sizeof(out)), -ENOENT);
	idx[2] = 4;
	cache_key_chunk(&k2, "zarr", 2001, 0, idx, 3);
	assert_int_equal(cache_get(f->c, &k2, out, sizeof(out)), -ENOENT);
}

/* Flip one byte of a stored value behind the cache's back. */
static void corrupt(const char *path, const struct cache_key *k, size_t at)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val key = {.mv_size = k->len, .mv_data = (void *)k->b};
	MDB_val val;
	uint8_t *copy;

	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
	assert_int_equal(mdb_env_set_mapsize(env, 64u << 20), 0);
	assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "chunks", 0, &dbi), 0);
	assert_int_equal(mdb_get(txn, dbi, &key, &val), 0);
	copy = malloc(val.mv_size);
	memcpy(copy, val.mv_data, val.mv_size);
	copy[at < val.mv_size ? at : val.mv_size - 1] ^= 0x40;
	val.mv_data = copy;
	assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	free(copy);
}

static void test_cache_damage(void **state)
{
	struct fx *f = *state;
	uint64_t idx[1] = {7};
	struct cache_key k;
	uint8_t in[4096], out[4096];

	fill(in, sizeof(in), 2);
	cache_key_chunk(&k, "zarr", 5, 0, idx, 1);
	assert_int_equal(cache_put(f->c, &k, in, sizeof(in)), 0);
	/* a damaged checksum: a miss (-EBADMSG), and the entry is gone */
	corrupt(cache_path(f->c), &k, 4);
	assert_int_equal(cache_get(f->c, &k, out, sizeof(out)), -EBADMSG);
	assert_int_equal(cache_get(f->c, &k, out, sizeof(out)), -ENOENT);
	/* a damaged zstd frame: the same */
	assert_int_equal(cache_put(f->c, &k, in, sizeof(in)), 0);
	corrupt(cache_path(f->c), &k, 20);
	assert_int_equal(cache_get(f->c, &k, out, sizeof(out)), -EBADMSG);
	assert_int_equal(cache_get(f->c, &k, out, sizeof(out)), -ENOENT);
	/* stored again, it reads again */
	assert_int_equal(cache_put(f->c, &k, in, sizeof(in)), 0);
	assert_int_equal(cache_get(f->c, &k, out, sizeof(out)), 0);
	assert_memory_equal(in, out, sizeof(in));
}

static void test_cache_full(void **state)
{
	struct fx *f = *state;
	uint8_t *in = malloc(64u << 10);
	uint8_t out[64];
	struct cache_key k;
	int rc = 0;
	uint64_t i;

	/* incompressible data into a 256 KiB map: puts are skipped with
	 * -ENOSPC once it is full, and what was stored still reads */
	for (i = 0; i < 64 && rc == 0; i++) {
		fill(in, 64u << 10, (unsigned)i * 7919u);
		for (size_t j = 0; j < (64u << 10); j++)
			in[j] ^= (uint8_t)(rand() & 0xff);
		cache_key_chunk(&k, "zarr", 1, 0, &i, 1);
		rc = cache_put(f->c, &k, in, 64u << 10);
	}
	assert_int_equal(rc, -ENOSPC);
	assert_true(i > 1);
	uint64_t first = 0;
	uint8_t *back = malloc(64u << 10);

	cache_key_chunk(&k, "zarr", 1, 0, &first, 1);
	assert_int_equal(cache_get(f->c, &k, back, 64u << 10), 0);
	(void)out;
	free(back);
	free(in);
}

static void test_cache_two_processes(void **state)
{
	struct fx *f = *state;
	uint64_t idx[1] = {42};
	struct cache_key k;
	uint8_t in[10000], out[10000];
	pid_t pid;
	int status;

	fill(in, sizeof(in), 3);
	cache_key_chunk(&k, "zarr", 9, 0, idx, 1);
	/* another process, with its own environment on the same directory,
	 * stores a chunk ... */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cache_config cfg = {.dir = f->dir,
					   .remote = "https://idr.example.org/",
					   .max_bytes = 64u << 20};
		struct cache *c2 = NULL;
		int ok = cache_open(&cfg, &c2) == 0 &&
			 cache_put(c2, &k, in, sizeof(in)) == 0;

		cache_close(c2);
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* ... and this one reads it */
	assert_int_equal(cache_get(f->c, &k, out, sizeof(out)), 0);
	assert_memory_equal(in, out, sizeof(in));
	uint64_t entries = 0, bytes = 0;

	assert_int_equal(cache_stat(f->c, &entries, &bytes), 0);
	assert_int_equal(entries, 1);
	assert_true(bytes > 0);
}

static void test_cache_bad_dir(void **state)
{
	struct cache_config cfg = {.dir = "/nonexistent/idrfs",
				   .remote = "http://x/",
				   .max_bytes = 1u << 20};
	struct cache *c = (struct cache *)0x1;

	(void)state;
	/* a directory that cannot be made: an error, out untouched */
	assert_int_equal(cache_open(&cfg, &c), -ENOENT);
	assert_ptr_equal(c, (struct cache *)0x1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cache_roundtrip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_damage, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_full, setup_tiny,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_two_processes, setup,
						teardown),
		cmocka_unit_test(test_cache_bad_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
