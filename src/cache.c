/* SPDX-License-Identifier: MIT */
/*
 * cache: LMDB environment, key schema and value frames. Read transactions
 * are short (one get, decompress straight out of the map, reset); write
 * transactions hold one put. Compression and checksums go through the
 * codec module, the owner of zstd.
 *
 * Durability: MDB_NOSYNC. A crash of the machine may lose the last puts
 * but leaves a consistent environment (LMDB keeps ACI without D); a kill
 * of the daemon loses nothing the kernel has. Every value is checked
 * against its CRC-32C when read, so a damaged entry is a miss, not data.
 */
#include "config.h"

#include "idrfs/cache.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "idrfs/codec.h"
#include "idrfs/log.h"

#define CACHE_HDR	 16
#define CACHE_ZSTD_LEVEL 3

struct cache {
	MDB_env *env;
	MDB_dbi chunks;
	char *path;
	atomic_bool full_logged;
};

/*
 * The one translation of LMDB errors.
 * @unittest test_cache
 */
static int cache_mdb_to_errno(int rc, const char *what, const char *path)
{
	int e;

	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		e = -ENOSPC;
		break;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		e = -EIO;
		break;
	default:
		e = rc > 0 && rc < 4096 ? -rc : -EIO;
		break;
	}
	log_error(LOG_C_CACHE, "%s '%s': %s", what, path, mdb_strerror(rc));
	return e;
}

/* A directory name for a remote: its host and port, made safe. */
static void remote_dir_name(const char *url, char *out, size_t outsz)
{
	const char *p = strstr(url, "://");
	size_t o = 0;

	p = p ? p + 3 : url;
	for (; *p && *p != '/' && o + 1 < outsz; p++) {
		char ch = *p;

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-'))
			ch = '_';
		out[o++] = ch;
	}
	if (o == 0)
		out[o++] = '_';
	out[o] = '\0';
}

int cache_open(const struct cache_config *cfg, struct cache **out)
{
	struct cache *c = calloc(1, sizeof(*c));
	char host[256];
	MDB_txn *txn = NULL;
	int rc;

	if (!c)
		return -ENOMEM;
	remote_dir_name(cfg->remote, host, sizeof(host));
	if (asprintf(&c->path, "%s/%s", cfg->dir, host) < 0) {
		c->path = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	if (mkdir(c->path, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		log_error(LOG_C_CACHE, "cannot create '%s': %s", c->path,
			  strerror(errno));
		goto fail;
	}
	rc = mdb_env_create(&c->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(c->env, 4);
	if (rc == 0)
		rc = mdb_env_set_mapsize(c->env, (size_t)cfg->max_bytes);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(c->env, 512);
	if (rc == 0)
		rc = mdb_env_open(c->env, c->path, MDB_NOTLS | MDB_NOSYNC,
				  0600);
	if (rc == 0)
		rc = mdb_txn_begin(c->env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "chunks", MDB_CREATE, &c->chunks);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (rc != 0) {
		rc = cache_mdb_to_errno(rc, "cannot open cache", c->path);
		goto fail;
	}
	*out = c;
	return 0;
fail:
	if (txn)
		mdb_txn_abort(txn);
	cache_close(c);
	return rc;
}

void cache_close(struct cache *c)
{
	if (!c)
		return;
	if (c->env)
		mdb_env_close(c->env);
	free(c->path);
	free(c);
}

const char *cache_path(const struct cache *c)
{
	return c->path;
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void cache_key_chunk(struct cache_key *k, const char *source, int64_t image,
		     uint32_t level, const uint64_t *idx, unsigned n)
{
	size_t sl = strlen(source);

	/* "c" | source | NUL | image | level | n | idx[n], little-endian */
	if (sl > 16)
		sl = 16;
	if (n > 5)
		n = 5;
	k->len = 0;
	k->b[k->len++] = 'c';
	memcpy(k->b + k->len, source, sl);
	k->len += sl;
	k->b[k->len++] = 0;
	put_u64(k->b + k->len, (uint64_t)image);
	k->len += 8;
	put_u32(k->b + k->len, level);
	k->len += 4;
	k->b[k->len++] = (uint8_t)n;
	for (unsigned i = 0; i < n; i++) {
		put_u64(k->b + k->len, idx[i]);
		k->len += 8;
	}
}

static void drop(struct cache *c, const struct cache_key *k)
{
	MDB_txn *txn = NULL;
	MDB_val key = {.mv_size = k->len, .mv_data = (void *)k->b};

	if (mdb_txn_begin(c->env, NULL, 0, &txn) != 0)
		return;
	if (mdb_del(txn, c->chunks, &key, NULL) == 0)
		mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
}

int cache_get(struct cache *c, const struct cache_key *k, void *dst, size_t len)
{
	MDB_txn *txn = NULL;
	MDB_val key = {.mv_size = k->len, .mv_data = (void *)k->b};
	MDB_val val;
	const uint8_t *v;
	int rc;

	rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return cache_mdb_to_errno(rc, "cannot read cache", c->path);
	rc = mdb_get(txn, c->chunks, &key, &val);
	if (rc == MDB_NOTFOUND) {
		rc = -ENOENT;
		goto out;
	}
	if (rc != 0) {
		rc = cache_mdb_to_errno(rc, "cannot read cache", c->path);
		goto out;
	}
	/* the value is borrowed from the map: use it inside the txn */
	v = val.mv_data;
	if (val.mv_size < CACHE_HDR || v[0] != CACHE_VERSION) {
		rc = -EBADMSG;
		goto out;
	}
	if (get_u64(v + 8) != len) {
		rc = -EFBIG;
		goto out;
	}
	rc = codec_decode(CODEC_ZSTD, v + CACHE_HDR, val.mv_size - CACHE_HDR,
			  dst, len);
	if (rc == 0 && codec_crc32c(dst, len) != get_u32(v + 4))
		rc = -EBADMSG;
out:
	mdb_txn_abort(txn);
	if (rc == -EBADMSG) {
		log_warn(LOG_C_CACHE,
			 "damaged entry in '%s' dropped; it will be fetched "
			 "again",
			 c->path);
		drop(c, k);
	}
	return rc;
}

int cache_put(struct cache *c, const struct cache_key *k, const void *data,
	      size_t len)
{
	void *z = NULL;
	size_t zlen = 0;
	MDB_txn *txn = NULL;
	MDB_val key = {.mv_size = k->len, .mv_data = (void *)k->b};
	MDB_val val;
	uint8_t *v;
	int rc;

	rc = codec_zstd_compress(data, len, CACHE_ZSTD_LEVEL, &z, &zlen);
	if (rc < 0)
		return rc;
	rc = mdb_txn_begin(c->env, NULL, 0, &txn);
	if (rc != 0)
		goto mdb_fail;
	val.mv_size = CACHE_HDR + zlen;
	rc = mdb_put(txn, c->chunks, &key, &val, MDB_RESERVE);
	if (rc != 0)
		goto mdb_fail;
	v = val.mv_data;
	memset(v, 0, CACHE_HDR);
	v[0] = CACHE_VERSION;
	put_u32(v + 4, codec_crc32c(data, len));
	put_u64(v + 8, len);
	memcpy(v + CACHE_HDR, z, zlen);
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto mdb_fail;
	free(z);
	return 0;
mdb_fail:
	if (txn)
		mdb_txn_abort(txn);
	free(z);
	if (rc == MDB_MAP_FULL) {
		if (!atomic_exchange(&c->full_logged, true))
			log_warn(LOG_C_CACHE,
				 "cache '%s' is full: new data is not cached",
				 c->path);
		return -ENOSPC;
	}
	return cache_mdb_to_errno(rc, "cannot write cache", c->path);
}

int cache_stat(struct cache *c, uint64_t *entries, uint64_t *bytes)
{
	MDB_txn *txn = NULL;
	MDB_stat st;
	int rc;

	rc = mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_stat(txn, c->chunks, &st);
	if (txn)
		mdb_txn_abort(txn);
	if (rc != 0)
		return cache_mdb_to_errno(rc, "cannot stat cache", c->path);
	*entries = st.ms_entries;
	*bytes = (uint64_t)st.ms_psize *
		 (st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages);
	return 0;
}
