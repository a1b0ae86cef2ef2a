/* SPDX-License-Identifier: MIT */
/* Unit tests of the cache: round trips, misses, damage, the size limit and
 * LRU eviction, batched access times, metadata, a full map, counters,
 * several processes sharing one directory, some killed with SIGKILL, and
 * a read-only seed under the local cache.
 *
 * Helper processes are this binary run again with a role in argv[1]
 * (child_main()): they start with no inherited LMDB handle (LMDB forbids
 * using one across fork()) and, under valgrind, run untraced, so the fork
 * and kill tests stay fast there too. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "idrfs/cache.h"

/* src/cache.c, non-static under IDRFS_UNITTEST. */
int cache_check(struct cache *c, uint64_t *entries, uint64_t *bytes);

#define REMOTE "https://idr.example.org/"
/* identities of two arrays (cache_ident_add() of their descriptions) */
#define ARRAY_A	     0x1234567890abcdefull
#define ARRAY_B	     0x1234567890abcdeeull
#define KILL_ROUNDS  12
#define CHURN_KEYS   48u
#define CHURN_MAXLEN (40u << 10)

/* this binary, run again for helper processes */
static char self_exe[PATH_MAX];

struct fx {
	char dir[64];
	uint64_t limit;
	struct cache *c;
	char seed[64];	   /* a seed cache directory, or "" */
	char seed_env[96]; /* its environment for REMOTE */
};

static struct cache *open_cache(const char *dir, uint64_t limit)
{
	struct cache_config cfg = {
		.dir = dir, .remote = REMOTE, .max_bytes = limit};
	struct cache *c = NULL;

	if (cache_open(&cfg, &c) != 0)
		return NULL;
	return c;
}

static int setup_size(void **state, uint64_t size)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/idrfs-test-cache-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->limit = size;
	f->c = open_cache(f->dir, size);
	assert_non_null(f->c);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_size(state, 64u << 20);
}

static int setup_1m(void **state)
{
	return setup_size(state, 1u << 20);
}

static int setup_512k(void **state)
{
	return setup_size(state, 512u << 10);
}

static int setup_tiny(void **state)
{
	return setup_size(state, 256u << 10);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[192];

	cache_close(f->c);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	if (f->seed[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->seed);
		assert_int_equal(system(cmd), 0);
	}
	free(f);
	return 0;
}

/* ---- content ---------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 2654435761u + seed) >> 7);
}

/* Incompressible bytes, the same for the same seed. */
static void noise(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t w = 0;

	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0)
			w = mix64(seed * 0x100000001b3ull + i);
		p[i] = (uint8_t)(w >> (8 * (i % 8)));
	}
}

static void key_of(struct cache_key *k, uint64_t i)
{
	cache_key_chunk(k, "zarr", ARRAY_A, 77, &i, 1);
}

static size_t len_of(uint64_t i, size_t maxlen)
{
	return 512 + (size_t)(mix64(i) % (maxlen - 512));
}

static void url_of(char *url, size_t n, uint64_t i)
{
	snprintf(url, n, REMOTE "api/v0/m/images/%" PRIu64 "/", i);
}

/* A JSON-like answer for URL i; *len bytes in buf (at least 4 KiB). */
static void body_of(char *buf, size_t *len, uint64_t i)
{
	size_t o = 0;

	for (unsigned r = 0; r < 1 + i % 9; r++)
		o += (size_t)snprintf(buf + o, 4096 - o,
				      "{\"@id\": %" PRIu64 ", \"r\": %u},", i,
				      r);
	*len = o;
}

/* 0 intact, 1 absent, 2 wrong bytes, 3 another error */
static int check_chunk(struct cache *c, uint64_t i, size_t maxlen, uint8_t *got,
		       uint8_t *want)
{
	struct cache_key k;
	size_t len = len_of(i, maxlen);
	int rc;

	key_of(&k, i);
	rc = cache_get(c, &k, got, len);
	if (rc == -ENOENT)
		return 1;
	if (rc != 0)
		return 3;
	noise(want, len, i);
	return memcmp(got, want, len) == 0 ? 0 : 2;
}

static int put_chunk(struct cache *c, uint64_t i, size_t maxlen, uint8_t *buf)
{
	struct cache_key k;
	size_t len = len_of(i, maxlen);

	key_of(&k, i);
	noise(buf, len, i);
	return cache_put(c, &k, buf, len);
}

/* as check_chunk() */
static int check_meta(struct cache *c, uint64_t i)
{
	char url[128], want[4096];
	char *body = NULL;
	size_t len = 0, wlen = 0;
	int64_t t = 0;
	int rc;

	url_of(url, sizeof(url), i);
	body_of(want, &wlen, i);
	rc = cache_meta_get(c, url, &body, &len, &t);
	if (rc == -ENOENT)
		return 1;
	if (rc != 0)
		return 3;
	rc = 0;
	if (len != wlen || memcmp(body, want, len) != 0 || body[len] != '\0')
		rc = 2;
	if (t != (int64_t)(1000 + i))
		rc = 2;
	free(body);
	return rc;
}

static int put_meta(struct cache *c, uint64_t i)
{
	char url[128], body[4096];
	size_t len = 0;

	url_of(url, sizeof(url), i);
	body_of(body, &len, i);
	return cache_meta_put(c, url, body, len, (int64_t)(1000 + i));
}

/*
 * Random puts and reads of keys below nkeys (one operation in eight on
 * metadata); ops == 0 runs until killed. Writes 'r' to ready_fd after 20
 * operations.
 * @return 0, 10+n (a read gave check code n), 20 (a put failed otherwise
 *         than -ENOSPC), 30 (no memory)
 */
static int churn(struct cache *c, uint64_t seed, unsigned nkeys, unsigned ops,
		 size_t maxlen, int ready_fd)
{
	uint8_t *a = malloc(maxlen), *b = malloc(maxlen);
	int bad = 0;

	if (!a || !b)
		bad = 30;
	for (unsigned op = 0; bad == 0 && (ops == 0 || op < ops); op++) {
		uint64_t r = mix64(seed * 7919 + op);
		uint64_t i = r % nkeys;
		unsigned kind = (unsigned)((r >> 32) % 8);
		int rc;

		if (kind == 0 && ((r >> 40) & 1)) {
			rc = put_meta(c, i);
			bad = rc == 0 || rc == -ENOSPC ? 0 : 20;
		} else if (kind == 0) {
			rc = check_meta(c, i);
			bad = rc <= 1 ? 0 : 10 + rc;
		} else if (kind < 4) {
			rc = check_chunk(c, i, maxlen, a, b);
			bad = rc <= 1 ? 0 : 10 + rc;
		} else {
			rc = put_chunk(c, i, maxlen, a);
			bad = rc == 0 || rc == -ENOSPC ? 0 : 20;
		}
		if (op == 20 && ready_fd >= 0 && write(ready_fd, "r", 1) != 1)
			bad = 40;
	}
	free(a);
	free(b);
	return bad;
}

/* Every key churn() may write reads intact or is absent. */
static void assert_all_intact(struct cache *c, unsigned nkeys, size_t maxlen)
{
	uint8_t *a = malloc(maxlen), *b = malloc(maxlen);

	for (uint64_t i = 0; i < nkeys; i++) {
		assert_in_range(check_chunk(c, i, maxlen, a, b), 0, 1);
		assert_in_range(check_meta(c, i), 0, 1);
	}
	free(a);
	free(b);
}

/* The index and the total agree with the values; the total is returned. */
static uint64_t assert_consistent(struct cache *c, uint64_t limit)
{
	struct cache_counters cn;
	uint64_t entries = 0, bytes = 0;

	assert_int_equal(cache_check(c, &entries, &bytes), 0);
	cache_counters(c, &cn);
	assert_int_equal(cn.bytes_stored, bytes);
	assert_true(bytes <= limit);
	return bytes;
}

/* ---- helper processes ------------------------------------------------- */

struct kid {
	pid_t pid;
	int to;	  /* its stdin */
	int from; /* its stdout */
};

static void spawn(struct kid *k, const char *const argv[])
{
	int to[2], from[2];

	assert_int_equal(pipe2(to, O_CLOEXEC), 0);
	assert_int_equal(pipe2(from, O_CLOEXEC), 0);
	k->pid = fork();
	assert_true(k->pid >= 0);
	if (k->pid == 0) {
		if (dup2(to[0], 0) < 0 || dup2(from[1], 1) < 0)
			_exit(126);
		execv(self_exe, (char *const *)argv);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	k->to = to[1];
	k->from = from[0];
}

static void kid_ready(struct kid *k)
{
	char ch = 0;

	assert_int_equal(read(k->from, &ch, 1), 1);
	assert_int_equal(ch, 'r');
}

/* Close its pipes and reap it; its wait status. */
static int kid_wait(struct kid *k)
{
	int status = 0;

	/* its stdout stays open until it is gone: a late write is no
	 * SIGPIPE */
	close(k->to);
	assert_int_equal(waitpid(k->pid, &status, 0), k->pid);
	close(k->from);
	return status;
}

static void kid_run_ok(const char *const argv[])
{
	struct kid k;
	int status;

	spawn(&k, argv);
	status = kid_wait(&k);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* out holds 2 * n + 1 bytes */
static void hex(char *out, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Flip one byte of a stored value behind the cache's back. */
static void corrupt(const char *path, const char *db, const void *key,
		    size_t klen, size_t at)
{
	char khex[2 * 512 + 1], off[32];
	const char *argv[] = {self_exe, "corrupt", path, db, khex, off, NULL};

	hex(khex, key, klen);
	snprintf(off, sizeof(off), "%zu", at);
	kid_run_ok(argv);
}

/* The id of the last committed write transaction. */
static uint64_t last_txnid(const char *path)
{
	const char *argv[] = {self_exe, "txnid", path, NULL};
	char buf[32] = {0};
	struct kid k;
	ssize_t n;

	spawn(&k, argv);
	n = read(k.from, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	assert_int_equal(kid_wait(&k), 0);
	return strtoull(buf, NULL, 10);
}

static MDB_env *raw_env(const char *path)
{
	MDB_env *env = NULL;

	if (mdb_env_create(&env) != 0)
		return NULL;
	/* no map size: the one recorded in the file */
	if (mdb_env_set_maxdbs(env, 8) != 0 ||
	    mdb_env_open(env, path, MDB_NOTLS, 0600) != 0) {
		mdb_env_close(env);
		return NULL;
	}
	return env;
}

static int unhex(uint8_t *out, const char *s)
{
	size_t n = strlen(s) / 2;
	unsigned v;

	for (size_t i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return (int)n;
}

static int role_corrupt(char **argv)
{
	MDB_env *env = raw_env(argv[0]);
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	uint8_t kb[512], *copy = NULL;
	MDB_val key = {.mv_data = kb}, val;
	size_t at = strtoull(argv[3], NULL, 10);
	int n = unhex(kb, argv[2]);
	int rc = env && n > 0 ? 0 : 1;

	key.mv_size = (size_t)n;
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, argv[1], 0, &dbi);
	if (rc == 0)
		rc = mdb_get(txn, dbi, &key, &val);
	if (rc == 0) {
		copy = malloc(val.mv_size);
		memcpy(copy, val.mv_data, val.mv_size);
		copy[at < val.mv_size ? at : val.mv_size - 1] ^= 0x40;
		val.mv_data = copy;
		rc = mdb_put(txn, dbi, &key, &val, 0);
	}
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (txn)
		mdb_txn_abort(txn);
	free(copy);
	mdb_env_close(env);
	return rc == 0 ? 0 : 1;
}

/* Delete the index and the total, as a version without them left it. */
static int role_strip(char **argv)
{
	static const char *const dbs[] = {"atime", "lru", "stats"};
	MDB_env *env = raw_env(argv[0]);
	MDB_txn *txn = NULL;
	MDB_dbi dbi;
	int rc = env ? 0 : 1;

	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	for (size_t i = 0; i < 3 && rc == 0; i++) {
		rc = mdb_dbi_open(txn, dbs[i], 0, &dbi);
		if (rc == 0)
			rc = mdb_drop(txn, dbi, 1);
	}
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc == 0 ? 0 : 1;
}

/* Hold a read transaction (an old snapshot) until stdin closes. */
static int role_pin(char **argv)
{
	MDB_env *env = raw_env(argv[0]);
	MDB_txn *txn = NULL;
	char ch;

	if (!env || mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
		return 1;
	if (write(1, "r", 1) != 1)
		return 1;
	while (read(0, &ch, 1) > 0)
		;
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return 0;
}

static int role_txnid(char **argv)
{
	MDB_env *env = raw_env(argv[0]);
	MDB_envinfo info;

	if (!env || mdb_env_info(env, &info) != 0)
		return 1;
	printf("%zu\n", info.me_last_txnid);
	mdb_env_close(env);
	return 0;
}

/* put DIR LIMIT KEY MAXLEN: store one chunk */
static int role_put(char **argv)
{
	struct cache *c = open_cache(argv[0], strtoull(argv[1], NULL, 10));
	size_t maxlen = strtoull(argv[3], NULL, 10);
	uint8_t *buf = malloc(maxlen);
	int rc = c && buf ? 0 : 1;

	if (rc == 0)
		rc = put_chunk(c, strtoull(argv[2], NULL, 10), maxlen, buf);
	cache_close(c);
	free(buf);
	return rc == 0 ? 0 : 1;
}

/* churn DIR LIMIT SEED NKEYS OPS MAXLEN */
static int role_churn(char **argv)
{
	struct cache *c = open_cache(argv[0], strtoull(argv[1], NULL, 10));
	int rc;

	if (!c)
		return 2;
	rc = churn(c, strtoull(argv[2], NULL, 10),
		   (unsigned)strtoul(argv[3], NULL, 10),
		   (unsigned)strtoul(argv[4], NULL, 10),
		   strtoull(argv[5], NULL, 10), 1);
	cache_close(c);
	return rc;
}

static int child_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int nargs;
		int (*fn)(char **argv);
	} roles[] = {
		{"corrupt", 4, role_corrupt}, {"pin", 1, role_pin},
		{"txnid", 1, role_txnid},     {"put", 4, role_put},
		{"churn", 6, role_churn},     {"strip", 1, role_strip},
	};

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(argv[1], roles[i].name) == 0 &&
		    argc == 2 + roles[i].nargs)
			return roles[i].fn(argv + 2);
	fprintf(stderr, "test_cache: unknown role '%s'\n", argv[1]);
	return 99;
}

/* ---- tests ------------------------------------------------------------ */

static void test_cache_roundtrip(void **state)
{
	struct fx *f = *state;
	uint64_t idx[3] = {1, 2, 3};
	struct cache_key k;
	uint8_t in[70000], out[70000];

	/* the environment sits in a directory named for the remote */
	assert_non_null(strstr(cache_path(f->c), "/idr.example.org"));
	cache_key_chunk(&k, "zarr", ARRAY_A, 2001, idx, 3);
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

	cache_key_chunk(&k2, "zarr", ARRAY_B, 2001, idx, 3);
	assert_int_equal(cache_get(f->c, &k2, out, sizeof(out)), -ENOENT);
	cache_key_chunk(&k2, "zarr", ARRAY_A, 2002, idx, 3);
	assert_int_equal(cache_get(f->c, &k2, out, sizeof(out)), -ENOENT);
	cache_key_chunk(&k2, "render", ARRAY_A, 2001, idx, 3);
	assert_int_equal(cache_get(f->c, &k2, out, sizeof(out)), -ENOENT);
	idx[2] = 4;
	cache_key_chunk(&k2, "zarr", ARRAY_A, 2001, idx, 3);
	assert_int_equal(cache_get(f->c, &k2, out, sizeof(out)), -ENOENT);
	idx[2] = 3;
	/* a second put of the key replaces the value, counted once */
	fill(in, sizeof(in), 2);
	assert_int_equal(cache_put(f->c, &k, in, sizeof(in)), 0);
	assert_int_equal(cache_get(f->c, &k, out, sizeof(out)), 0);
	assert_memory_equal(in, out, sizeof(in));
	assert_consistent(f->c, f->limit);
}

/* A chunk key as version 1 wrote it: "c" source NUL image level n idx. */
static void old_key(struct cache_key *k, int64_t image, const uint64_t *idx,
		    unsigned n)
{
	k->len = 0;
	k->b[k->len++] = 'c';
	memcpy(k->b + k->len, "zarr", 5);
	k->len += 5;
	for (int i = 0; i < 8; i++)
		k->b[k->len++] = (uint8_t)((uint64_t)image >> (8 * i));
	for (int i = 0; i < 4; i++)
		k->b[k->len++] = 0;
	k->b[k->len++] = (uint8_t)n;
	for (unsigned j = 0; j < n; j++) {
		for (int i = 0; i < 8; i++)
			k->b[k->len++] = (uint8_t)(idx[j] >> (8 * i));
	}
}

static void test_cache_key_identity(void **state)
{
	struct fx *f = *state;
	const char *a = "zarr2 dtype 1/1/le 4:1 64:32 96:32 fill00";
	const char *b = "zarr2 dtype 1/1/le 4:1 64:16 96:64 fill00";
	uint64_t idx[3] = {0, 1, 2};
	uint64_t ha = cache_ident_add(CACHE_IDENT_INIT, a, strlen(a));
	uint64_t hb = cache_ident_add(CACHE_IDENT_INIT, b, strlen(b));
	struct cache_key ko, ka, kb;
	static uint8_t in[100000], out[100000];

	/* arrays that differ in one field have different identities; the
	 * hash goes on where it stopped (fields added one at a time) */
	assert_true(ha != hb);
	assert_int_equal(
		cache_ident_add(cache_ident_add(CACHE_IDENT_INIT, a, 10),
				a + 10, strlen(a) - 10),
		ha);
	/* the same chunk of two arrays: two entries */
	cache_key_chunk(&ka, "zarr", ha, 2001, idx, 3);
	cache_key_chunk(&kb, "zarr", hb, 2001, idx, 3);
	noise(in, sizeof(in), 3);
	assert_int_equal(cache_put(f->c, &ka, in, sizeof(in)), 0);
	assert_int_equal(cache_get(f->c, &kb, out, sizeof(out)), -ENOENT);
	/* an entry of the old format (no identity) never answers a new key
	 * for the same image and chunk ... */
	old_key(&ko, 2001, idx, 3);
	noise(in, sizeof(in), 4);
	assert_int_equal(cache_put(f->c, &ko, in, sizeof(in)), 0);
	assert_int_equal(cache_get(f->c, &kb, out, sizeof(out)), -ENOENT);
	assert_int_equal(cache_get(f->c, &ka, out, sizeof(out)), 0);
	noise(in, sizeof(in), 3);
	assert_memory_equal(in, out, sizeof(in));
	/* ... and leaves by LRU like any other: a third entry passes the
	 * 256 KiB limit, and the old one is the least recently used */
	assert_int_equal(cache_flush(f->c), 0);
	noise(in, sizeof(in), 5);
	assert_int_equal(cache_put(f->c, &kb, in, sizeof(in)), 0);
	assert_int_equal(cache_get(f->c, &ko, out, sizeof(out)), -ENOENT);
	assert_int_equal(cache_get(f->c, &ka, out, sizeof(out)), 0);
	assert_consistent(f->c, f->limit);
}

static void test_cache_damage(void **state)
{
	struct fx *f = *state;
	const size_t offsets[] = {4, 20, 0, 8, 2000};
	uint64_t idx[1] = {7};
	struct cache_key k;
	struct cache_counters cn;
	uint8_t in[4096], out[4096];

	fill(in, sizeof(in), 2);
	noise(in + 1024, 2048, 5);
	cache_key_chunk(&k, "zarr", ARRAY_A, 5, idx, 1);
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		assert_int_equal(cache_put(f->c, &k, in, sizeof(in)), 0);
		/* a damaged checksum, zstd frame, version, raw length or
		 * payload: a miss (-EBADMSG), and the entry is gone with its
		 * index and its bytes */
		corrupt(cache_path(f->c), "chunks", k.b, k.len, offsets[i]);
		assert_int_equal(cache_get(f->c, &k, out, sizeof(out)),
				 -EBADMSG);
		assert_int_equal(cache_get(f->c, &k, out, sizeof(out)),
				 -ENOENT);
		assert_int_equal(assert_consistent(f->c, f->limit), 0);
	}
	/* stored again, it reads again */
	assert_int_equal(cache_put(f->c, &k, in, sizeof(in)), 0);
	assert_int_equal(cache_get(f->c, &k, out, sizeof(out)), 0);
	assert_memory_equal(in, out, sizeof(in));
	/* each damage was counted, and as a miss */
	cache_counters(f->c, &cn);
	assert_int_equal(cn.damaged, 5);
	assert_int_equal(cn.misses, 10);
	assert_int_equal(cn.hits, 1);
}

/* pixels are stored byte-shuffled: smaller, same bytes back, damage seen */
static void test_cache_shuffled(void **state)
{
	struct fx *f = *state;
	uint64_t ia[1] = {1}, ib[1] = {2}, ic[1] = {3};
	struct cache_key ka, kb, kc;
	struct cache_counters c0, c1, c2;
	static uint16_t px[65536], back[65536];
	uint32_t x = 99;

	/* a smooth image with 7 bits of noise, as a camera gives */
	for (size_t i = 0; i < 65536; i++) {
		x = x * 1103515245u + 12345u;
		px[i] = (uint16_t)(((i % 256) + (i / 256)) * 64 +
				   ((x >> 16) & 0x7Fu));
	}
	cache_key_chunk(&ka, "zarr", ARRAY_A, 9, ia, 1);
	cache_key_chunk(&kb, "zarr", ARRAY_A, 9, ib, 1);
	cache_key_chunk(&kc, "zarr", ARRAY_A, 9, ic, 1);
	cache_counters(f->c, &c0);
	assert_int_equal(cache_put(f->c, &ka, px, sizeof(px)), 0);
	cache_counters(f->c, &c1);
	assert_int_equal(cache_put_elems(f->c, &kb, px, sizeof(px), 2), 0);
	cache_counters(f->c, &c2);
	/* shuffled, the noisy low bytes no longer spoil the smooth high
	 * ones: clearly smaller */
	assert_true((c2.bytes_stored - c1.bytes_stored) * 10 <
		    (c1.bytes_stored - c0.bytes_stored) * 8);
	memset(back, 0, sizeof(back));
	assert_int_equal(cache_get(f->c, &kb, back, sizeof(back)), 0);
	assert_memory_equal(back, px, sizeof(px));
	assert_int_equal(cache_get(f->c, &ka, back, sizeof(back)), 0);
	assert_memory_equal(back, px, sizeof(px));
	/* a length that is not a multiple of the element: stored as is */
	assert_int_equal(cache_put_elems(f->c, &kc, px, sizeof(px) - 1, 2), 0);
	assert_int_equal(cache_get(f->c, &kc, back, sizeof(px) - 1), 0);
	assert_memory_equal(back, px, sizeof(px) - 1);
	/* a damaged shuffle byte or payload is a miss, never served */
	corrupt(cache_path(f->c), "chunks", kb.b, kb.len, 1);
	assert_int_equal(cache_get(f->c, &kb, back, sizeof(back)), -EBADMSG);
	assert_int_equal(cache_put_elems(f->c, &kb, px, sizeof(px), 2), 0);
	corrupt(cache_path(f->c), "chunks", kb.b, kb.len, 3000);
	assert_int_equal(cache_get(f->c, &kb, back, sizeof(back)), -EBADMSG);
	assert_consistent(f->c, f->limit);
}

static void test_cache_map_full(void **state)
{
	struct fx *f = *state;
	const size_t n = 64u << 10;
	const char *argv[] = {self_exe, "pin", cache_path(f->c), NULL};
	uint8_t *in = malloc(n), *back = malloc(n);
	struct cache_counters cn;
	struct cache_key k;
	struct kid pin;
	unsigned full = 0;
	uint64_t i;
	int rc = 0;

	/* incompressible data far past a 256 KiB limit: old entries are
	 * evicted; a put only ever succeeds or is skipped */
	for (i = 0; i < 64; i++) {
		noise(in, n, i);
		key_of(&k, i);
		rc = cache_put(f->c, &k, in, n);
		assert_true(rc == 0 || rc == -ENOSPC);
		assert_consistent(f->c, f->limit);
	}
	/* the last one reads back */
	assert_int_equal(rc, 0);
	assert_int_equal(cache_get(f->c, &k, back, n), 0);
	assert_memory_equal(in, back, n);
	/* another process holds an old snapshot, so freed pages cannot be
	 * reused and the map really fills (MDB_MAP_FULL): puts are skipped
	 * with -ENOSPC, never failed otherwise */
	spawn(&pin, argv);
	kid_ready(&pin);
	for (i = 64; i < 364; i++) {
		noise(in, n, i);
		key_of(&k, i);
		rc = cache_put(f->c, &k, in, n);
		assert_true(rc == 0 || rc == -ENOSPC);
		full += rc == -ENOSPC;
	}
	assert_true(full > 0);
	cache_counters(f->c, &cn);
	assert_int_equal(cn.skipped, full);
	/* nothing was corrupted: the index agrees, every entry reads intact
	 * or is gone */
	assert_consistent(f->c, f->limit);
	for (i = 0; i < 364; i++) {
		key_of(&k, i);
		rc = cache_get(f->c, &k, back, n);
		assert_true(rc == 0 || rc == -ENOENT);
		if (rc == 0) {
			noise(in, n, i);
			assert_memory_equal(in, back, n);
		}
	}
	/* once the snapshot is released, puts are stored again */
	assert_int_equal(kid_wait(&pin), 0);
	noise(in, n, 999);
	key_of(&k, 999);
	rc = cache_put(f->c, &k, in, n);
	if (rc == -ENOSPC)
		rc = cache_put(f->c, &k, in, n);
	assert_int_equal(rc, 0);
	assert_int_equal(cache_get(f->c, &k, back, n), 0);
	assert_memory_equal(in, back, n);
	assert_consistent(f->c, f->limit);
	free(back);
	free(in);
}

static void test_cache_two_processes(void **state)
{
	struct fx *f = *state;
	const char *argv[] = {self_exe, "put",	 f->dir, "67108864",
			      "42",	"10000", NULL};
	uint8_t out[10000], want[10000];
	uint64_t entries = 0, bytes = 0;

	/* another process, with its own environment on the same directory,
	 * stores a chunk ... */
	kid_run_ok(argv);
	/* ... and this one reads it */
	assert_int_equal(check_chunk(f->c, 42, 10000, out, want), 0);
	assert_int_equal(cache_stat(f->c, &entries, &bytes), 0);
	assert_int_equal(entries, 1);
	assert_true(bytes > 0);
	assert_consistent(f->c, f->limit);
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

static void test_cache_eviction_lru(void **state)
{
	struct fx *f = *state;
	const size_t n = 64u << 10;
	uint8_t *in = malloc(n), *back = malloc(n);
	struct cache_counters cn;
	struct cache_key k;
	uint64_t i, first = 0, bytes, biggest = 0, before = 0, evicted;

	/* ten distinct incompressible chunks into a 1 MiB limit: all fit */
	for (i = 0; i < 10; i++) {
		noise(in, n, i);
		key_of(&k, i);
		assert_int_equal(cache_put(f->c, &k, in, n), 0);
		bytes = assert_consistent(f->c, f->limit);
		if (bytes - before > biggest)
			biggest = bytes - before;
		before = bytes;
	}
	cache_counters(f->c, &cn);
	assert_int_equal(cn.evictions, 0);
	/* twenty more, reading chunks 0-2 (the oldest puts) after each and
	 * writing those access times: the total never passes the limit */
	for (i = 10; i < 30; i++) {
		noise(in, n, i);
		key_of(&k, i);
		assert_int_equal(cache_put(f->c, &k, in, n), 0);
		for (uint64_t j = 0; j < 3; j++) {
			key_of(&k, j);
			assert_int_equal(cache_get(f->c, &k, back, n), 0);
		}
		assert_int_equal(cache_flush(f->c), 0);
		bytes = assert_consistent(f->c, f->limit);
		/* once it evicts, no more than the new chunk needed */
		evicted = cn.evictions;
		cache_counters(f->c, &cn);
		if (cn.evictions > evicted)
			assert_true(f->limit - bytes < biggest);
	}
	assert_true(cn.evictions > 0);
	/* the recently read chunks 0-2 stay, though they were put first */
	for (i = 0; i < 3; i++) {
		key_of(&k, i);
		assert_int_equal(cache_get(f->c, &k, back, n), 0);
		noise(in, n, i);
		assert_memory_equal(in, back, n);
	}
	/* of the others, the least recently used went first: the present
	 * ones are exactly the newest puts */
	for (i = 3; i < 30; i++) {
		key_of(&k, i);
		if (cache_get(f->c, &k, back, n) == 0) {
			first = i;
			break;
		}
	}
	assert_true(first > 10);
	for (i = first; i < 30; i++) {
		key_of(&k, i);
		assert_int_equal(cache_get(f->c, &k, back, n), 0);
		noise(in, n, i);
		assert_memory_equal(in, back, n);
	}
	assert_int_equal(cn.evictions, first - 3);
	free(back);
	free(in);
}

static void test_cache_too_big(void **state)
{
	struct fx *f = *state;
	const size_t big = 2u << 20;
	uint8_t *in = malloc(big), *back = malloc(big);
	struct cache_counters before, after;
	struct cache_key k;
	uint64_t i;

	/* three chunks stored */
	for (i = 0; i < 3; i++) {
		noise(in, 64u << 10, i);
		key_of(&k, i);
		assert_int_equal(cache_put(f->c, &k, in, 64u << 10), 0);
	}
	cache_counters(f->c, &before);
	/* a chunk whose stored size passes the whole 1 MiB limit is skipped
	 * (-ENOSPC), and nothing is evicted for it */
	noise(in, big, 100);
	key_of(&k, 100);
	assert_int_equal(cache_put(f->c, &k, in, big), -ENOSPC);
	assert_int_equal(cache_get(f->c, &k, back, big), -ENOENT);
	cache_counters(f->c, &after);
	assert_int_equal(after.skipped, before.skipped + 1);
	assert_int_equal(after.evictions, before.evictions);
	assert_int_equal(after.bytes_stored, before.bytes_stored);
	for (i = 0; i < 3; i++) {
		key_of(&k, i);
		assert_int_equal(cache_get(f->c, &k, back, 64u << 10), 0);
	}
	/* the limit is on stored (compressed) bytes: 2 MiB of zeros fit */
	memset(in, 0, big);
	key_of(&k, 101);
	assert_int_equal(cache_put(f->c, &k, in, big), 0);
	memset(back, 1, big);
	assert_int_equal(cache_get(f->c, &k, back, big), 0);
	assert_memory_equal(in, back, big);
	/* a metadata answer larger than the limit is skipped too */
	assert_int_equal(cache_meta_put(f->c, REMOTE "huge", back, big, 1), 0);
	noise(in, big, 7);
	assert_int_equal(cache_meta_put(f->c, REMOTE "huge2", in, big, 1),
			 -ENOSPC);
	assert_consistent(f->c, f->limit);
	free(back);
	free(in);
}

static void test_cache_batch(void **state)
{
	struct fx *f = *state;
	const size_t n = 2048;
	uint8_t in[2048], back[2048];
	struct cache_key k;
	char path[256];
	uint64_t t0, t1, i;

	for (i = 0; i < 300; i++) {
		noise(in, n, i);
		key_of(&k, i);
		assert_int_equal(cache_put(f->c, &k, in, n), 0);
	}
	t0 = last_txnid(cache_path(f->c));
	/* a hundred reads of one chunk write nothing ... */
	key_of(&k, 5);
	for (i = 0; i < 100; i++)
		assert_int_equal(cache_get(f->c, &k, back, n), 0);
	assert_int_equal(last_txnid(cache_path(f->c)), t0);
	/* ... until the batch is flushed, in one transaction */
	assert_int_equal(cache_flush(f->c), 0);
	assert_int_equal(last_txnid(cache_path(f->c)), t0 + 1);
	/* an empty batch writes nothing */
	assert_int_equal(cache_flush(f->c), 0);
	assert_int_equal(last_txnid(cache_path(f->c)), t0 + 1);
	/* reads of 300 distinct chunks are written when the bounded batch
	 * fills: in a transaction or two, not one per read */
	for (i = 0; i < 300; i++) {
		key_of(&k, i);
		assert_int_equal(cache_get(f->c, &k, back, n), 0);
	}
	t1 = last_txnid(cache_path(f->c));
	assert_true(t1 >= t0 + 2 && t1 <= t0 + 3);
	/* what is left is written at close */
	snprintf(path, sizeof(path), "%s", cache_path(f->c));
	key_of(&k, 6);
	assert_int_equal(cache_get(f->c, &k, back, n), 0);
	assert_int_equal(last_txnid(path), t1);
	cache_close(f->c);
	f->c = NULL;
	assert_int_equal(last_txnid(path), t1 + 1);
	/* and the index is consistent */
	f->c = open_cache(f->dir, f->limit);
	assert_non_null(f->c);
	assert_consistent(f->c, f->limit);
}

static void test_cache_meta_roundtrip(void **state)
{
	struct fx *f = *state;
	const char *url = REMOTE "api/v0/m/projects/?limit=500&offset=0";
	const char *json =
		"{\"data\": [{\"@id\": 101, \"Name\": \"idr0001\"}]}";
	char longa[1100], longb[1100];
	char *body = (char *)0x1;
	size_t len = 7;
	int64_t t = 9;
	struct cache_key k;
	uint8_t out[64];

	/* a URL never stored is a miss, and the out-params are untouched */
	assert_int_equal(cache_meta_get(f->c, url, &body, &len, &t), -ENOENT);
	assert_ptr_equal(body, (char *)0x1);
	assert_int_equal(len, 7);
	assert_int_equal(t, 9);
	/* the answer and its fetch time come back, NUL-terminated */
	assert_int_equal(
		cache_meta_put(f->c, url, json, strlen(json), 1700000000), 0);
	assert_int_equal(cache_meta_get(f->c, url, &body, &len, &t), 0);
	assert_int_equal(len, strlen(json));
	assert_string_equal(body, json);
	assert_int_equal(t, 1700000000);
	free(body);
	/* a refetch replaces both */
	assert_int_equal(cache_meta_put(f->c, url, "[]", 2, 1700086400), 0);
	assert_int_equal(cache_meta_get(f->c, url, &body, &len, &t), 0);
	assert_string_equal(body, "[]");
	assert_int_equal(len, 2);
	assert_int_equal(t, 1700086400);
	free(body);
	/* an empty answer is an answer */
	assert_int_equal(cache_meta_put(f->c, REMOTE "empty", NULL, 0, -5), 0);
	assert_int_equal(cache_meta_get(f->c, REMOTE "empty", &body, &len, &t),
			 0);
	assert_int_equal(len, 0);
	assert_string_equal(body, "");
	assert_int_equal(t, -5);
	free(body);
	/* URLs too long to be keys, equal but for their last byte, are kept
	 * apart */
	memset(longa, 'a', sizeof(longa) - 1);
	longa[sizeof(longa) - 1] = '\0';
	memcpy(longb, longa, sizeof(longa));
	longb[sizeof(longb) - 2] = 'b';
	assert_int_equal(cache_meta_put(f->c, longa, "A", 1, 1), 0);
	assert_int_equal(cache_meta_put(f->c, longb, "B", 1, 2), 0);
	assert_int_equal(cache_meta_get(f->c, longa, &body, &len, &t), 0);
	assert_string_equal(body, "A");
	assert_int_equal(t, 1);
	free(body);
	assert_int_equal(cache_meta_get(f->c, longb, &body, &len, &t), 0);
	assert_string_equal(body, "B");
	assert_int_equal(t, 2);
	free(body);
	/* a chunk whose key has the bytes of a URL is another entry */
	k.len = strlen(url);
	memcpy(k.b, url, k.len);
	assert_int_equal(cache_get(f->c, &k, out, 3), -ENOENT);
	assert_int_equal(cache_put(f->c, &k, "xyz", 3), 0);
	assert_int_equal(cache_get(f->c, &k, out, 3), 0);
	assert_memory_equal(out, "xyz", 3);
	assert_int_equal(cache_meta_get(f->c, url, &body, &len, &t), 0);
	assert_string_equal(body, "[]");
	free(body);
	/* metadata is counted in the total like chunks */
	assert_consistent(f->c, f->limit);
}

static void test_cache_meta_damage(void **state)
{
	struct fx *f = *state;
	const size_t offsets[] = {4, 20, 0, 9, 40};
	const char *url = REMOTE "webclient/api/annotations/?type=map&image=1";
	char json[4096];
	char *body = NULL;
	size_t len = 0, jlen = 0;
	int64_t t = 0;
	struct cache_counters cn;

	body_of(json, &jlen, 8);
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		assert_int_equal(cache_meta_put(f->c, url, json, jlen, 42), 0);
		/* a damaged checksum, zstd frame, version, raw length or
		 * payload: -EBADMSG, never served, and dropped */
		corrupt(cache_path(f->c), "meta", url, strlen(url), offsets[i]);
		body = NULL;
		assert_int_equal(cache_meta_get(f->c, url, &body, &len, &t),
				 -EBADMSG);
		assert_null(body);
		assert_int_equal(cache_meta_get(f->c, url, &body, &len, &t),
				 -ENOENT);
		assert_int_equal(assert_consistent(f->c, f->limit), 0);
	}
	/* fetched again, it is served again */
	assert_int_equal(cache_meta_put(f->c, url, json, jlen, 43), 0);
	assert_int_equal(cache_meta_get(f->c, url, &body, &len, &t), 0);
	assert_int_equal(len, jlen);
	assert_memory_equal(body, json, jlen);
	assert_int_equal(t, 43);
	free(body);
	cache_counters(f->c, &cn);
	assert_int_equal(cn.damaged, 5);
}

static void test_cache_concurrent(void **state)
{
	struct fx *f = *state;
	char limit[32], maxlen[32];
	const char *a1[] = {self_exe, "churn", f->dir, limit, "1",
			    "64",     "300",   maxlen, NULL};
	const char *a2[] = {self_exe, "churn", f->dir, limit, "2",
			    "64",     "300",   maxlen, NULL};
	struct kid k1, k2;
	int s1, s2;

	snprintf(limit, sizeof(limit), "%" PRIu64, f->limit);
	snprintf(maxlen, sizeof(maxlen), "%u", 32u << 10);
	/* two other processes and this one put and read the same 64 keys
	 * (chunks and metadata) at once, under a 512 KiB limit; every read
	 * they make is intact or a miss */
	spawn(&k1, a1);
	spawn(&k2, a2);
	assert_int_equal(churn(f->c, 3, 64, 300, 32u << 10, -1), 0);
	s1 = kid_wait(&k1);
	s2 = kid_wait(&k2);
	assert_true(WIFEXITED(s1) && WIFEXITED(s2));
	assert_int_equal(WEXITSTATUS(s1), 0);
	assert_int_equal(WEXITSTATUS(s2), 0);
	/* afterwards the total is within the limit and matches the values,
	 * and every entry reads intact or is absent */
	assert_consistent(f->c, f->limit);
	assert_all_intact(f->c, 64, 32u << 10);
}

static void test_cache_kill9(void **state)
{
	struct fx *f = *state;
	char limit[32], seed[32], maxlen[32], keys[32];
	const char *argv[] = {self_exe, "churn", f->dir, limit, seed,
			      keys,	"0",	 maxlen, NULL};
	unsigned rs = (unsigned)time(NULL) ^ (unsigned)getpid();
	uint8_t *buf = malloc(CHURN_MAXLEN), *buf2 = malloc(CHURN_MAXLEN);
	struct kid k;
	int status;

	snprintf(limit, sizeof(limit), "%" PRIu64, f->limit);
	snprintf(maxlen, sizeof(maxlen), "%u", CHURN_MAXLEN);
	snprintf(keys, sizeof(keys), "%u", CHURN_KEYS);
	print_message("kill -9 rounds, seed %u\n", rs);
	cache_close(f->c);
	f->c = NULL;
	for (unsigned round = 0; round < KILL_ROUNDS; round++) {
		unsigned delay = (unsigned)rand_r(&rs) % 20000;

		/* a process puts and reads in a tight loop; it is killed at
		 * a random moment (in odd rounds, surely in mid-work) */
		snprintf(seed, sizeof(seed), "%u", round + 10);
		spawn(&k, argv);
		if (round % 2)
			kid_ready(&k);
		usleep(delay);
		assert_int_equal(kill(k.pid, SIGKILL), 0);
		status = kid_wait(&k);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGKILL);
		/* the next open uses the environment: consistent, within the
		 * limit, every entry intact or absent */
		f->c = open_cache(f->dir, f->limit);
		assert_non_null(f->c);
		assert_consistent(f->c, f->limit);
		assert_all_intact(f->c, CHURN_KEYS, CHURN_MAXLEN);
		/* and new puts and gets work */
		assert_int_equal(
			put_chunk(f->c, 1000 + round, CHURN_MAXLEN, buf), 0);
		assert_int_equal(put_meta(f->c, 1000 + round), 0);
		assert_int_equal(check_meta(f->c, 1000 + round), 0);
		assert_int_equal(check_chunk(f->c, 1000 + round, CHURN_MAXLEN,
					     buf, buf2),
				 0);
		cache_close(f->c);
		f->c = NULL;
	}
	f->c = open_cache(f->dir, f->limit);
	assert_non_null(f->c);
	free(buf2);
	free(buf);
}

struct worker {
	pthread_t tid;
	struct cache *c;
	uint64_t seed;
	int rc;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->rc = churn(w->c, w->seed, 64, 150, 32u << 10, -1);
	/* flushes race with the batch being filled by the others */
	if (w->rc == 0 && cache_flush(w->c) != 0)
		w->rc = 50;
	return NULL;
}

static void test_cache_threads(void **state)
{
	struct fx *f = *state;
	struct worker w[4];

	/* four threads of one process put, read and flush the same keys
	 * under a 512 KiB limit: every read is intact or a miss */
	for (unsigned i = 0; i < 4; i++) {
		w[i].c = f->c;
		w[i].seed = 100 + i;
		w[i].rc = -1;
		assert_int_equal(
			pthread_create(&w[i].tid, NULL, worker_main, &w[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(w[i].tid, NULL), 0);
		assert_int_equal(w[i].rc, 0);
	}
	/* and the environment is consistent and within the limit */
	assert_consistent(f->c, f->limit);
	assert_all_intact(f->c, 64, 32u << 10);
}

static void test_cache_remap(void **state)
{
	struct fx *f = *state;
	/* churn DIR LIMIT SEED NKEYS OPS MAXLEN */
	const char *argv[] = {self_exe, "churn", f->dir,  "67108864", "5",
			      "800",	"3000",	 "65536", NULL};
	uint8_t *a = malloc(64u << 10), *b = malloc(64u << 10);
	unsigned hits = 0;
	int rc;

	/* this process has a 256 KiB limit, so a map of about 9 MiB;
	 * another with a 64 MiB limit stores far more than that map holds */
	assert_int_equal(put_chunk(f->c, 0, 64u << 10, a), 0);
	kid_run_ok(argv);
	/* LMDB asks this process to remap (MDB_MAP_RESIZED): its reads see
	 * the other's data, intact */
	for (uint64_t i = 0; i < 800; i++) {
		rc = check_chunk(f->c, i, 64u << 10, a, b);
		assert_in_range(rc, 0, 1);
		hits += rc == 0;
	}
	assert_true(hits > 200);
	/* its next put evicts down to its own limit */
	assert_int_equal(put_chunk(f->c, 1000, 64u << 10, a), 0);
	assert_consistent(f->c, f->limit);
	assert_int_equal(check_chunk(f->c, 1000, 64u << 10, a, b), 0);
	free(a);
	free(b);
}

static void test_cache_old_env(void **state)
{
	struct fx *f = *state;
	const size_t n = 64u << 10;
	const char *argv[] = {self_exe, "strip", NULL, NULL};
	uint8_t *a = malloc(n), *b = malloc(n);
	char path[256];
	struct cache_counters cn;
	uint64_t i;

	/* an environment with entries but no index and no total, as a
	 * version without eviction wrote it */
	for (i = 0; i < 3; i++)
		assert_int_equal(put_chunk(f->c, i, n, a), 0);
	assert_int_equal(put_meta(f->c, 1), 0);
	snprintf(path, sizeof(path), "%s", cache_path(f->c));
	cache_close(f->c);
	argv[2] = path;
	kid_run_ok(argv);
	/* opening it rebuilds both */
	f->c = open_cache(f->dir, f->limit);
	assert_non_null(f->c);
	assert_true(assert_consistent(f->c, f->limit) > 3 * 512);
	/* the old entries count as oldest: new puts evict them first, and
	 * those left read intact */
	for (i = 10; i < 110; i++) {
		assert_int_equal(put_chunk(f->c, i, n, a), 0);
		cache_counters(f->c, &cn);
		if (cn.evictions > 0)
			break;
	}
	assert_true(cn.evictions > 0);
	assert_int_equal(check_chunk(f->c, 10, n, a, b), 0);
	assert_int_equal(
		check_chunk(f->c, 0, n, a, b) + check_chunk(f->c, 1, n, a, b) +
			check_chunk(f->c, 2, n, a, b) + check_meta(f->c, 1),
		cn.evictions);
	assert_consistent(f->c, f->limit);
	free(a);
	free(b);
}

static void test_cache_counters(void **state)
{
	struct fx *f = *state;
	struct cache_counters cn;
	struct cache_key k;
	uint8_t in[5000], out[5000];
	char *body = NULL;
	size_t len = 0;
	int64_t t = 0;
	uint64_t entries = 0, bytes = 0;

	/* a new cache has counted nothing and knows its limit */
	cache_counters(f->c, &cn);
	assert_int_equal(cn.hits + cn.misses + cn.puts + cn.evictions +
				 cn.skipped + cn.damaged + cn.bytes_stored,
			 0);
	assert_int_equal(cn.limit, 64u << 20);
	/* a miss, a put, a hit */
	key_of(&k, 1);
	assert_int_equal(cache_get(f->c, &k, out, sizeof(out)), -ENOENT);
	noise(in, sizeof(in), 1);
	assert_int_equal(cache_put(f->c, &k, in, sizeof(in)), 0);
	assert_int_equal(cache_get(f->c, &k, out, sizeof(out)), 0);
	cache_counters(f->c, &cn);
	assert_int_equal(cn.misses, 1);
	assert_int_equal(cn.puts, 1);
	assert_int_equal(cn.hits, 1);
	/* bytes_stored is the stored value: header + zstd frame */
	assert_true(cn.bytes_stored > sizeof(in) + 16);
	assert_true(cn.bytes_stored < sizeof(in) + 100);
	/* metadata counts the same way */
	assert_int_equal(cache_meta_put(f->c, REMOTE "x", "{}", 2, 1), 0);
	assert_int_equal(cache_meta_get(f->c, REMOTE "x", &body, &len, &t), 0);
	free(body);
	assert_int_equal(cache_meta_get(f->c, REMOTE "y", &body, &len, &t),
			 -ENOENT);
	cache_counters(f->c, &cn);
	assert_int_equal(cn.puts, 2);
	assert_int_equal(cn.hits, 2);
	assert_int_equal(cn.misses, 2);
	assert_int_equal(cn.evictions + cn.skipped + cn.damaged, 0);
	/* the total is the environment's, seen by another open too */
	assert_int_equal(cache_check(f->c, &entries, &bytes), 0);
	assert_int_equal(entries, 2);
	assert_int_equal(cn.bytes_stored, bytes);
	struct cache *c2 = open_cache(f->dir, 1u << 30);
	struct cache_counters cn2;

	assert_non_null(c2);
	cache_counters(c2, &cn2);
	assert_int_equal(cn2.bytes_stored, bytes);
	assert_int_equal(cn2.limit, 1u << 30);
	assert_int_equal(cn2.hits + cn2.misses + cn2.puts, 0);
	cache_close(c2);
}

/* ---- the seed --------------------------------------------------------- */

#define SEED_KEYS   8u
#define SEED_MAXLEN (16u << 10)

static struct cache *open_seeded(const char *dir, const char *seed)
{
	struct cache_config cfg = {.dir = dir,
				   .remote = REMOTE,
				   .max_bytes = 64u << 20,
				   .seed = seed};
	struct cache *c = NULL;

	if (cache_open(&cfg, &c) != 0)
		return NULL;
	return c;
}

/*
 * A seed filled as a site fills one (a cache of its own, SEED_KEYS chunks
 * and answers, closed), and an empty local cache on top of it.
 */
static int setup_seed(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	uint8_t *buf = malloc(SEED_MAXLEN);
	struct cache *s;

	snprintf(f->dir, sizeof(f->dir), "/tmp/idrfs-test-cache-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->seed, sizeof(f->seed), "/tmp/idrfs-test-seed-XXXXXX");
	assert_non_null(mkdtemp(f->seed));
	s = open_cache(f->seed, 64u << 20);
	assert_non_null(s);
	snprintf(f->seed_env, sizeof(f->seed_env), "%s", cache_path(s));
	for (uint64_t i = 0; i < SEED_KEYS; i++) {
		assert_int_equal(put_chunk(s, i, SEED_MAXLEN, buf), 0);
		assert_int_equal(put_meta(s, i), 0);
	}
	cache_close(s);
	f->limit = 64u << 20;
	f->c = open_seeded(f->dir, f->seed);
	assert_non_null(f->c);
	free(buf);
	*state = f;
	return 0;
}

/* What shows that a file was written: its size and modification time. */
static void file_stamp(const char *env, const char *name, struct stat *st)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", env, name);
	assert_int_equal(stat(path, st), 0);
}

static void assert_same_stamp(const struct stat *a, const struct stat *b)
{
	assert_int_equal(a->st_ino, b->st_ino);
	assert_int_equal(a->st_size, b->st_size);
	assert_int_equal(a->st_mtim.tv_sec, b->st_mtim.tv_sec);
	assert_int_equal(a->st_mtim.tv_nsec, b->st_mtim.tv_nsec);
}

static void test_cache_seed_hit(void **state)
{
	struct fx *f = *state;
	uint8_t a[SEED_MAXLEN], b[SEED_MAXLEN];
	struct cache_counters cn;
	uint64_t entries = 1, bytes = 1;

	/* every chunk and answer of the seed reads intact through an empty
	 * local cache */
	for (uint64_t i = 0; i < SEED_KEYS; i++) {
		assert_int_equal(check_chunk(f->c, i, SEED_MAXLEN, a, b), 0);
		assert_int_equal(check_meta(f->c, i), 0);
	}
	/* what neither holds is a miss */
	assert_int_equal(check_chunk(f->c, SEED_KEYS, SEED_MAXLEN, a, b), 1);
	assert_int_equal(check_meta(f->c, SEED_KEYS), 1);
	/* a hit of either kind, of which the seed served these */
	cache_counters(f->c, &cn);
	assert_int_equal(cn.hits, 2 * SEED_KEYS);
	assert_int_equal(cn.seed_hits, 2 * SEED_KEYS);
	assert_int_equal(cn.misses, 2);
	assert_int_equal(cn.puts + cn.damaged + cn.evictions, 0);
	/* seed hits are not copied into the local cache */
	assert_int_equal(cache_flush(f->c), 0);
	assert_int_equal(cache_check(f->c, &entries, &bytes), 0);
	assert_int_equal(entries, 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(cn.bytes_stored, 0);
	/* the local cache is in the cache directory, not in the seed */
	assert_non_null(strstr(cache_path(f->c), f->dir));
	/* a relative seed path works too */
	cache_close(f->c);
	assert_int_equal(chdir(f->seed), 0);
	f->c = open_seeded(f->dir, ".");
	assert_int_equal(chdir("/"), 0);
	assert_non_null(f->c);
	assert_int_equal(check_chunk(f->c, 3, SEED_MAXLEN, a, b), 0);
}

static void test_cache_seed_local_first(void **state)
{
	struct fx *f = *state;
	const size_t len = len_of(2, SEED_MAXLEN);
	uint8_t in[SEED_MAXLEN], out[SEED_MAXLEN];
	struct cache_counters cn;
	struct cache_key k;
	char url[128];
	char *body = NULL;
	size_t blen = 0;
	int64_t t = 0;

	/* the local cache holds other bytes under a key of the seed, and
	 * another answer under one of its URLs: the local ones are served */
	key_of(&k, 2);
	memset(in, 0x5a, len);
	assert_int_equal(cache_put(f->c, &k, in, len), 0);
	url_of(url, sizeof(url), 2);
	assert_int_equal(cache_meta_put(f->c, url, "local", 5, 7), 0);
	assert_int_equal(cache_get(f->c, &k, out, len), 0);
	assert_memory_equal(in, out, len);
	assert_int_equal(cache_meta_get(f->c, url, &body, &blen, &t), 0);
	assert_string_equal(body, "local");
	assert_int_equal(t, 7);
	free(body);
	cache_counters(f->c, &cn);
	assert_int_equal(cn.hits, 2);
	assert_int_equal(cn.seed_hits, 0);
	/* the other keys still come from the seed */
	assert_int_equal(check_chunk(f->c, 3, SEED_MAXLEN, in, out), 0);
	cache_counters(f->c, &cn);
	assert_int_equal(cn.seed_hits, 1);
}

static void test_cache_seed_never_written(void **state)
{
	struct fx *f = *state;
	uint8_t a[SEED_MAXLEN], b[SEED_MAXLEN];
	struct stat d0, d1, e0, e1;
	char lock[PATH_MAX];
	uint64_t t0, entries = 0, bytes = 0;
	struct cache *c2;

	/* no lock file: the seed is opened without one */
	cache_close(f->c);
	t0 = last_txnid(f->seed_env);
	snprintf(lock, sizeof(lock), "%s/lock.mdb", f->seed_env);
	assert_int_equal(unlink(lock), 0);
	file_stamp(f->seed_env, "data.mdb", &d0);
	assert_int_equal(stat(f->seed_env, &e0), 0);
	f->c = open_seeded(f->dir, f->seed);
	assert_non_null(f->c);
	/* reads (enough to write a batch of access times), puts of new keys
	 * and of keys the seed holds, metadata, flushes */
	for (unsigned r = 0; r < 40; r++)
		for (uint64_t i = 0; i < SEED_KEYS; i++)
			assert_int_equal(
				check_chunk(f->c, i, SEED_MAXLEN, a, b), 0);
	for (uint64_t i = SEED_KEYS - 2; i < SEED_KEYS + 4; i++) {
		assert_int_equal(put_chunk(f->c, i, SEED_MAXLEN, a), 0);
		assert_int_equal(put_meta(f->c, i), 0);
	}
	for (uint64_t i = 0; i < SEED_KEYS + 4; i++) {
		assert_int_equal(check_chunk(f->c, i, SEED_MAXLEN, a, b), 0);
		assert_int_equal(check_meta(f->c, i), 0);
	}
	assert_int_equal(cache_flush(f->c), 0);
	cache_close(f->c);
	f->c = NULL;
	/* the seed's file, directory and last transaction are as before */
	file_stamp(f->seed_env, "data.mdb", &d1);
	assert_same_stamp(&d0, &d1);
	assert_int_equal(stat(f->seed_env, &e1), 0);
	assert_same_stamp(&e0, &e1);
	assert_int_equal(access(lock, F_OK), -1);
	assert_int_equal(last_txnid(f->seed_env), t0);
	/* the puts went to the local cache, consistent and holding exactly
	 * them */
	f->c = open_cache(f->dir, f->limit);
	assert_non_null(f->c);
	assert_int_equal(cache_check(f->c, &entries, &bytes), 0);
	assert_int_equal(entries, 2 * 6);
	assert_int_equal(check_chunk(f->c, SEED_KEYS + 3, SEED_MAXLEN, a, b),
			 0);
	assert_int_equal(check_chunk(f->c, 0, SEED_MAXLEN, a, b), 1);
	/* and not to the seed: another empty cache on it does not see them */
	snprintf(lock, sizeof(lock), "%s/other", f->dir);
	assert_int_equal(mkdir(lock, 0700), 0);
	c2 = open_seeded(lock, f->seed);
	assert_non_null(c2);
	assert_int_equal(check_chunk(c2, SEED_KEYS + 3, SEED_MAXLEN, a, b), 1);
	assert_int_equal(check_meta(c2, SEED_KEYS + 3), 1);
	assert_int_equal(check_chunk(c2, 1, SEED_MAXLEN, a, b), 0);
	cache_close(c2);
}

static void test_cache_seed_damaged(void **state)
{
	struct fx *f = *state;
	uint8_t a[SEED_MAXLEN], b[SEED_MAXLEN];
	struct cache_counters cn;
	struct cache_key k;
	struct stat d0, d1;
	char url[128];
	char *body = NULL;
	size_t len = 0;
	int64_t t = 0;

	/* one chunk and one answer of the seed damaged, behind its back */
	cache_close(f->c);
	key_of(&k, 4);
	corrupt(f->seed_env, "chunks", k.b, k.len, 2000);
	url_of(url, sizeof(url), 5);
	corrupt(f->seed_env, "meta", url, strlen(url), 40);
	file_stamp(f->seed_env, "data.mdb", &d0);
	f->c = open_seeded(f->dir, f->seed);
	assert_non_null(f->c);
	/* they are misses, every time, never served ... */
	for (int r = 0; r < 3; r++) {
		memset(a, 0, sizeof(a));
		assert_int_equal(cache_get(f->c, &k, a, len_of(4, SEED_MAXLEN)),
				 -ENOENT);
		assert_int_equal(cache_meta_get(f->c, url, &body, &len, &t),
				 -ENOENT);
		assert_null(body);
	}
	/* ... counted as damaged once each, and left in the seed */
	cache_counters(f->c, &cn);
	assert_int_equal(cn.damaged, 2);
	assert_int_equal(cn.misses, 6);
	assert_int_equal(cn.seed_hits, 0);
	file_stamp(f->seed_env, "data.mdb", &d1);
	assert_same_stamp(&d0, &d1);
	/* fetched again and stored locally, they are served from there */
	assert_int_equal(put_chunk(f->c, 4, SEED_MAXLEN, a), 0);
	assert_int_equal(put_meta(f->c, 5), 0);
	assert_int_equal(check_chunk(f->c, 4, SEED_MAXLEN, a, b), 0);
	assert_int_equal(check_meta(f->c, 5), 0);
	cache_counters(f->c, &cn);
	assert_int_equal(cn.seed_hits, 0);
	/* a damaged local entry is dropped, and the seed's good copy is
	 * served in its place */
	assert_int_equal(put_chunk(f->c, 6, SEED_MAXLEN, a), 0);
	key_of(&k, 6);
	corrupt(cache_path(f->c), "chunks", k.b, k.len, 20);
	assert_int_equal(check_chunk(f->c, 6, SEED_MAXLEN, a, b), 0);
	cache_counters(f->c, &cn);
	assert_int_equal(cn.damaged, 3);
	assert_int_equal(cn.seed_hits, 1);
	assert_int_equal(assert_consistent(f->c, f->limit) > 0, 1);
}

static void test_cache_seed_bad(void **state)
{
	struct fx *f = *state;
	struct cache_config cfg = {
		.dir = f->dir, .remote = REMOTE, .max_bytes = 1u << 20};
	struct cache *c = (struct cache *)0x1;
	char path[PATH_MAX], other[160];
	FILE *fp;

	(void)state;
	cache_close(f->c);
	f->c = NULL;
	/* a seed that does not exist: an error, out untouched */
	cfg.seed = "/nonexistent/idrfs-seed";
	assert_int_equal(cache_open(&cfg, &c), -ENOENT);
	assert_ptr_equal(c, (struct cache *)0x1);
	/* a file */
	snprintf(path, sizeof(path), "%s/data.mdb", f->seed_env);
	cfg.seed = path;
	assert_int_equal(cache_open(&cfg, &c), -ENOTDIR);
	/* a directory without a cache of this remote */
	cfg.seed = f->seed;
	cfg.remote = "http://other.example.org:8080/";
	assert_int_equal(cache_open(&cfg, &c), -ENOENT);
	snprintf(other, sizeof(other), "%s/other.example.org_8080", f->seed);
	assert_int_equal(mkdir(other, 0700), 0);
	assert_int_equal(cache_open(&cfg, &c), -ENOENT);
	/* one that is not an LMDB environment */
	snprintf(path, sizeof(path), "%s/data.mdb", other);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 4096; i++)
		fputs("not lmdb", fp);
	fclose(fp);
	assert_int_equal(cache_open(&cfg, &c), -EIO);
	/* the cache directory itself */
	cfg.remote = REMOTE;
	cfg.seed = f->dir;
	assert_int_equal(cache_open(&cfg, &c), -EINVAL);
	assert_ptr_equal(c, (struct cache *)0x1);
	/* and the right one opens */
	cfg.seed = f->seed;
	assert_int_equal(cache_open(&cfg, &c), 0);
	f->c = c;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cache_roundtrip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_key_identity,
						setup_tiny, teardown),
		cmocka_unit_test_setup_teardown(test_cache_damage, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_shuffled, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_map_full, setup_tiny,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_two_processes, setup,
						teardown),
		cmocka_unit_test(test_cache_bad_dir),
		cmocka_unit_test_setup_teardown(test_cache_eviction_lru,
						setup_1m, teardown),
		cmocka_unit_test_setup_teardown(test_cache_too_big, setup_1m,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_batch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_meta_roundtrip,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_meta_damage, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_concurrent,
						setup_512k, teardown),
		cmocka_unit_test_setup_teardown(test_cache_kill9, setup_1m,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_counters, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_threads, setup_512k,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_remap, setup_tiny,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_old_env, setup_1m,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_seed_hit, setup_seed,
						teardown),
		cmocka_unit_test_setup_teardown(test_cache_seed_local_first,
						setup_seed, teardown),
		cmocka_unit_test_setup_teardown(test_cache_seed_never_written,
						setup_seed, teardown),
		cmocka_unit_test_setup_teardown(test_cache_seed_damaged,
						setup_seed, teardown),
		cmocka_unit_test_setup_teardown(test_cache_seed_bad, setup_seed,
						teardown),
	};
	ssize_t n;

	if (argc > 1)
		return child_main(argc, argv);
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		return 1;
	self_exe[n] = '\0';
	return cmocka_run_group_tests(tests, NULL, NULL);
}
