/* SPDX-License-Identifier: MIT */
/*
 * zarr: what a Zarr array's metadata means for its stored chunks. It checks
 * metadata for sizes idrfs can hold, names chunk keys, and turns a stored
 * chunk (v2 chunk, v3 chunk or v3 shard) into little-endian C-order samples
 * of the full chunk shape, through the codec module. It parses no JSON (the
 * api module does) and does no I/O.
 *
 * Decoding follows the specs: Zarr v2 ("Chunks": compressor only, filters
 * are refused at parse time), Zarr v3 core ("Decoding procedure": the
 * bytes-to-bytes codecs run in reverse order, then the bytes codec's
 * endian), and the sharding_indexed codec v1.0 (an index of
 * (offset, nbytes) little-endian uint64 pairs per inner chunk in C order,
 * at the start or the end of the shard, both 2^64-1 for an empty chunk).
 */
#include "config.h"

#include "idrfs/zarr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idrfs/arith.h"
#include "idrfs/log.h"

/* Shard index entry of an absent inner chunk (sharding spec). */
#define ZARR_SHARD_EMPTY UINT64_MAX

#define ZARR_SHARD_ENTRY 16u
#define ZARR_CRC_LEN	 4u

/* the refusals below quote the caps */
_Static_assert(ZARR_MAX_CHUNK_BYTES == 256u << 20, "update the message");
_Static_assert(ZARR_MAX_ARRAY_BYTES == UINT64_C(1) << 53, "update it");
_Static_assert(ZARR_MAX_GRID_CHUNKS == UINT64_C(1) << 40, "update it");
_Static_assert(ZARR_MAX_INNER_CHUNKS == UINT64_C(1) << 20, "update it");

void zarr_multiscale_release(struct zarr_multiscale *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < ZARR_MAX_LEVELS; i++)
		free(m->paths[i]);
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < 5; i++)
		m->axis[i] = -1;
}

static bool dtype_ok(const struct zarr_dtype *t)
{
	switch (t->kind) {
	case ZARR_INT:
	case ZARR_UINT:
		return t->size == 1 || t->size == 2 || t->size == 4 ||
		       t->size == 8;
	case ZARR_FLOAT:
		return t->size == 4 || t->size == 8;
	}
	return false;
}

static bool codecs_ok(const struct zarr_codec *c, size_t n)
{
	if (n > ZARR_MAX_CODECS)
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned)c[i].id > (unsigned)CODEC_BLOSC)
			return false;
	}
	return true;
}

/* Say what is wrong; -EBADMSG (the remote sent it, whatever it is). */
static int refuse(const char **field, const char **why, const char *f,
		  const char *w)
{
	if (field)
		*field = f;
	if (why)
		*why = w;
	return -EBADMSG;
}

/* Sizes common to every chunk layout: extents, chunk bytes, grid. */
static int check_sizes(const struct zarr_array *a, const char **field,
		       const char **why)
{
	uint64_t total = a->dtype.size, chunk = a->dtype.size, grid = 1;

	for (unsigned d = 0; d < a->ndim; d++) {
		/* an empty array is legal Zarr but has no image in it */
		if (a->shape[d] == 0)
			return refuse(field, why, "shape", "has a zero size");
		if (a->chunks[d] == 0)
			return refuse(field, why, "chunks", "has a zero size");
		if (a->shape[d] > ZARR_MAX_EXTENT)
			return refuse(field, why, "shape",
				      "is longer than any image axis");
		if (a->chunks[d] > ZARR_MAX_EXTENT)
			return refuse(field, why, "chunks",
				      "is longer than any image axis");
		if (arith_mul_u64(total, a->shape[d], &total) < 0 ||
		    total > ZARR_MAX_ARRAY_BYTES)
			return refuse(field, why, "shape",
				      "holds more than 2^53 bytes");
		if (arith_mul_u64(chunk, a->chunks[d], &chunk) < 0 ||
		    chunk > ZARR_MAX_CHUNK_BYTES)
			return refuse(field, why, "chunks",
				      "holds more than 256 MiB per chunk");
		if (arith_mul_u64(grid, zarr_grid(a, d), &grid) < 0 ||
		    grid > ZARR_MAX_GRID_CHUNKS)
			return refuse(field, why, "chunks",
				      "make a grid of more than 2^40 chunks");
	}
	return 0;
}

/* The inner chunks of a shard: dividing it, with an index of sane size. */
static int check_shard(const struct zarr_array *a, const char **field,
		       const char **why)
{
	const char *f = "codecs[sharding_indexed].chunk_shape";
	uint64_t nin = 1;

	if (!codecs_ok(a->inner_codecs, a->ninner_codecs))
		return refuse(field, why, "codecs[sharding_indexed].codecs",
			      "has an unknown codec or too many");
	for (unsigned d = 0; d < a->ndim; d++) {
		if (a->inner[d] == 0)
			return refuse(field, why, f, "has a zero size");
		if (a->chunks[d] % a->inner[d] != 0)
			return refuse(field, why, f,
				      "does not divide the shard");
		/* cannot overflow: the quotients multiply to <= chunk bytes */
		nin *= a->chunks[d] / a->inner[d];
	}
	if (nin > ZARR_MAX_INNER_CHUNKS)
		return refuse(field, why, f,
			      "makes more than 2^20 inner chunks per shard");
	return 0;
}

int zarr_array_check(const struct zarr_array *a, const char **field,
		     const char **why)
{
	int rc;

	if (a->format != 2 && a->format != 3)
		return refuse(field, why, "zarr_format", "is not 2 or 3");
	if (a->ndim < 2 || a->ndim > ZARR_MAX_DIMS)
		return refuse(field, why, "shape", "has not 2 to 5 dimensions");
	if (!dtype_ok(&a->dtype))
		return refuse(field, why, "dtype", "is not a numeric type");
	if (a->separator != '.' && a->separator != '/')
		return refuse(field, why, "dimension_separator",
			      "is not \".\" or \"/\"");
	if (a->v3_default_keys && a->format != 3)
		return refuse(field, why, "chunk_key_encoding",
			      "is v3's in a v2 array");
	if (!codecs_ok(a->codecs, a->ncodecs) ||
	    (a->format == 2 && (a->ncodecs > 1 || a->sharded)))
		return refuse(field, why, "codecs",
			      "has an unknown codec or too many");
	rc = check_sizes(a, field, why);
	if (rc == 0 && a->sharded)
		rc = check_shard(a, field, why);
	return rc;
}

uint64_t zarr_chunk_bytes(const struct zarr_array *a)
{
	uint64_t n = a->dtype.size;

	for (unsigned d = 0; d < a->ndim && d < ZARR_MAX_DIMS; d++) {
		if (arith_mul_u64(n, a->chunks[d], &n) < 0)
			return UINT64_MAX;
	}
	return n;
}

uint64_t zarr_grid(const struct zarr_array *a, unsigned d)
{
	if (d >= a->ndim || d >= ZARR_MAX_DIMS || a->chunks[d] == 0)
		return 0;
	return arith_div_ceil_u64(a->shape[d], a->chunks[d]);
}

int zarr_chunk_key(const struct zarr_array *a, const uint64_t *idx, char *out,
		   size_t outsz)
{
	char key[ZARR_KEY_MAX];
	size_t pos = 0;
	const char *sep = a->separator == '/' ? "/" : ".";

	/* v3 default encoding: "c" then each index after a separator */
	if (a->format == 3 && a->v3_default_keys)
		key[pos++] = 'c';
	for (unsigned d = 0; d < a->ndim && d < ZARR_MAX_DIMS; d++) {
		int n = snprintf(key + pos, sizeof(key) - pos, "%s%" PRIu64,
				 pos > 0 ? sep : "", idx[d]);

		if (n < 0 || (size_t)n >= sizeof(key) - pos)
			return -ENAMETOOLONG;
		pos += (size_t)n;
	}
	if (pos + 1 > outsz)
		return -ENAMETOOLONG;
	memcpy(out, key, pos + 1);
	return 0;
}

/* Repeat one element's bytes over a buffer of whole elements. */
static void fill_elems(uint8_t *dst, size_t nbytes, const uint8_t *elem,
		       size_t size)
{
	size_t done;
	bool same = true;

	for (size_t i = 1; i < size; i++)
		same = same && elem[i] == elem[0];
	if (same) {
		memset(dst, elem[0], nbytes);
		return;
	}
	if (nbytes < size)
		return;
	memcpy(dst, elem, size);
	/* doubling copies: log2(n) memcpy calls */
	for (done = size; done < nbytes;) {
		size_t n = done <= nbytes - done ? done : nbytes - done;

		memcpy(dst + done, dst, n);
		done += n;
	}
}

void zarr_chunk_fill(const struct zarr_array *a, void *dst)
{
	fill_elems(dst, (size_t)zarr_chunk_bytes(a), a->fill, a->dtype.size);
}

/* Big-endian samples to little-endian, in place (memcpy: no alignment). */
static void swap_to_le(uint8_t *p, size_t nbytes, unsigned size)
{
	size_t i;

	switch (size) {
	case 2:
		for (i = 0; i + 2 <= nbytes; i += 2) {
			uint16_t v;

			memcpy(&v, p + i, 2);
			v = __builtin_bswap16(v);
			memcpy(p + i, &v, 2);
		}
		break;
	case 4:
		for (i = 0; i + 4 <= nbytes; i += 4) {
			uint32_t v;

			memcpy(&v, p + i, 4);
			v = __builtin_bswap32(v);
			memcpy(p + i, &v, 4);
		}
		break;
	case 8:
		for (i = 0; i + 8 <= nbytes; i += 8) {
			uint64_t v;

			memcpy(&v, p + i, 8);
			v = __builtin_bswap64(v);
			memcpy(p + i, &v, 8);
		}
		break;
	default:
		break; /* one byte: nothing to swap */
	}
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* True if the last 4 bytes of p[0..len) are the CRC-32C of the rest. */
static bool crc_trailer_ok(const uint8_t *p, size_t len)
{
	uint32_t want, got;

	if (len < ZARR_CRC_LEN)
		return false;
	want = le32(p + len - ZARR_CRC_LEN);
	got = codec_crc32c(p, len - ZARR_CRC_LEN);
	return got == want;
}

/* Any failure of undecodable data is -EBADMSG to our callers. */
static int as_badmsg(int rc)
{
	return rc == 0 || rc == -ENOMEM ? rc : -EBADMSG;
}

/*
 * Bound on an intermediate stage of a codec chain (the input of the next
 * codec down): compressed data is at most a little larger than its input.
 */
static size_t stage_max(size_t n)
{
	return n + n / 2 + 65536;
}

/*
 * Run a chain of bytes-to-bytes codecs backwards: the outermost (last in
 * encode order) first, into growing buffers, and the innermost straight
 * into dst, which must end up exactly n bytes.
 */
static int run_chain(const struct zarr_codec *codecs, size_t ncodecs,
		     const uint8_t *src, size_t len, uint8_t *dst, size_t n)
{
	void *stage = NULL;
	const uint8_t *cur = src;
	size_t cur_len = len;
	int rc = 0;

	for (size_t i = ncodecs; i > 1; i--) {
		void *next = NULL;
		size_t next_len = 0;

		rc = codec_decode_alloc(codecs[i - 1].id, cur, cur_len,
					stage_max(n), &next, &next_len);
		if (rc < 0)
			goto out;
		free(stage);
		stage = next;
		cur = next;
		cur_len = next_len;
	}
	rc = codec_decode(ncodecs > 0 ? codecs[0].id : CODEC_NONE, cur, cur_len,
			  dst, n);
out:
	free(stage);
	return as_badmsg(rc);
}

/*
 * A v3 chain that ends in the crc32c codec (declared in zarr.json): the
 * last 4 bytes are the CRC-32C (little-endian) of everything before them;
 * a missing or wrong checksum is -EBADMSG.
 */
static int run_chain_v3(const struct zarr_codec *codecs, size_t ncodecs,
			bool crc32c, const uint8_t *src, size_t len,
			uint8_t *dst, size_t n)
{
	if (!crc32c)
		return run_chain(codecs, ncodecs, src, len, dst, n);
	if (!crc_trailer_ok(src, len))
		return -EBADMSG;
	return run_chain(codecs, ncodecs, src, len - ZARR_CRC_LEN, dst, n);
}

/* Copy an inner chunk (C order) into its place in the shard (C order). */
static void scatter(const struct zarr_array *a, const uint8_t *in,
		    const uint64_t *origin, uint8_t *shard)
{
	unsigned nd = a->ndim;
	unsigned last = nd - 1;
	size_t size = a->dtype.size;
	size_t row = (size_t)a->inner[last] * size;
	uint64_t stride[ZARR_MAX_DIMS];
	uint64_t pos[ZARR_MAX_DIMS] = {0};

	stride[last] = size;
	for (unsigned d = last; d > 0; d--)
		stride[d - 1] = stride[d] * a->chunks[d];
	for (;;) {
		uint64_t off = 0;
		unsigned d;

		for (d = 0; d < nd; d++)
			off += (origin[d] + pos[d]) * stride[d];
		memcpy(shard + off, in, row);
		in += row;
		/* next row: odometer over all dimensions but the last */
		for (d = last; d > 0; d--) {
			if (++pos[d - 1] < a->inner[d - 1])
				break;
			pos[d - 1] = 0;
		}
		if (d == 0)
			return;
	}
}

struct shard_range {
	uint64_t off, nb;
};

static int range_cmp(const void *pa, const void *pb)
{
	const struct shard_range *a = pa, *b = pb;

	return a->off < b->off ? -1 : a->off > b->off;
}

/* True if the ranges, sorted by offset, do not overlap. */
static bool ranges_disjoint(const struct shard_range *r, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		/* r[i-1] is inside the shard: off + nb cannot wrap */
		if (r[i].off < r[i - 1].off + r[i - 1].nb)
			return false;
	}
	return true;
}

/*
 * Check a shard index before any entry is used: each (offset, nbytes) is
 * the empty marker or lies inside the data part [lo, hi) of the shard,
 * and no two overlap. Overlaps are refused because they are how a small
 * shard makes the decoder read the same bytes once per inner chunk (2^20
 * times); writers never share bytes between inner chunks. Entries come
 * in C order and writers store them in that order, so the overlap test
 * is one pass; an index in another order is sorted first (a copy of at
 * most 16 MiB, no larger than the index itself).
 * @return 0, -EBADMSG (logged), -ENOMEM
 */
static int shard_index_check(const uint8_t *idx, uint64_t nch, size_t lo,
			     size_t hi)
{
	struct shard_range *r = NULL;
	uint64_t end = 0;
	bool sorted = true;
	size_t n = 0;
	int rc = 0;

	for (uint64_t k = 0; k < nch; k++) {
		uint64_t off = le64(idx + k * ZARR_SHARD_ENTRY);
		uint64_t nb = le64(idx + k * ZARR_SHARD_ENTRY + 8);

		if (off == ZARR_SHARD_EMPTY && nb == ZARR_SHARD_EMPTY)
			continue;
		if (off < lo || off > hi || nb > hi - off) {
			log_warn(LOG_C_ZARR,
				 "shard index entry %" PRIu64 " (%" PRIu64
				 ", %" PRIu64 ") is outside the shard",
				 k, off, nb);
			return -EBADMSG;
		}
		if (off < end)
			sorted = false;
		end = off + nb;
	}
	if (sorted)
		return 0;
	/* nch <= ZARR_MAX_INNER_CHUNKS: the size cannot overflow */
	r = malloc((size_t)nch * sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (uint64_t k = 0; k < nch; k++) {
		uint64_t off = le64(idx + k * ZARR_SHARD_ENTRY);
		uint64_t nb = le64(idx + k * ZARR_SHARD_ENTRY + 8);

		if (off != ZARR_SHARD_EMPTY || nb != ZARR_SHARD_EMPTY)
			r[n++] = (struct shard_range){off, nb};
	}
	qsort(r, n, sizeof(*r), range_cmp);
	if (!ranges_disjoint(r, n)) {
		log_warn(LOG_C_ZARR, "shard index has overlapping entries");
		rc = -EBADMSG;
	}
	free(r);
	return rc;
}

/*
 * Decode a whole shard. The index is checked whole (shard_index_check())
 * before any inner chunk is decoded.
 */
static int decode_shard(const struct zarr_array *a, const uint8_t *shard,
			size_t len, uint8_t *dst)
{
	unsigned nd = a->ndim;
	uint64_t nper[ZARR_MAX_DIMS];
	uint64_t q[ZARR_MAX_DIMS] = {0};
	uint64_t origin[ZARR_MAX_DIMS];
	uint64_t nch = 1;
	size_t inner_bytes = a->dtype.size;
	size_t isz, data_lo, data_hi;
	const uint8_t *idx;
	uint8_t *tmp = NULL;
	int rc = 0;

	for (unsigned d = 0; d < nd; d++) {
		nper[d] = a->chunks[d] / a->inner[d];
		nch *= nper[d];
		inner_bytes *= (size_t)a->inner[d];
	}
	/* nch <= ZARR_MAX_INNER_CHUNKS (zarr_array_check): no overflow */
	isz = (size_t)nch * ZARR_SHARD_ENTRY;
	if (a->index_crc32c)
		isz += ZARR_CRC_LEN;
	if (len < isz) {
		log_warn(
			LOG_C_ZARR,
			"shard of %zu bytes has no room for its %zu-byte index",
			len, isz);
		return -EBADMSG;
	}
	if (a->index_at_start) {
		idx = shard;
		data_lo = isz;
		data_hi = len;
	} else {
		idx = shard + len - isz;
		data_lo = 0;
		data_hi = len - isz;
	}
	if (a->index_crc32c) {
		size_t n = (size_t)nch * ZARR_SHARD_ENTRY;
		uint32_t crc = codec_crc32c(idx, n);

		if (crc != le32(idx + n)) {
			log_warn(LOG_C_ZARR, "shard index CRC-32C mismatch");
			return -EBADMSG;
		}
	}
	rc = shard_index_check(idx, nch, data_lo, data_hi);
	if (rc < 0)
		return rc;
	tmp = malloc(inner_bytes);
	if (!tmp)
		return -ENOMEM;
	for (uint64_t k = 0; k < nch; k++) {
		uint64_t off = le64(idx + k * ZARR_SHARD_ENTRY);
		uint64_t nb = le64(idx + k * ZARR_SHARD_ENTRY + 8);

		if (off == ZARR_SHARD_EMPTY && nb == ZARR_SHARD_EMPTY) {
			fill_elems(tmp, inner_bytes, a->fill, a->dtype.size);
		} else {
			rc = run_chain_v3(a->inner_codecs, a->ninner_codecs,
					  a->inner_crc32c, shard + off,
					  (size_t)nb, tmp, inner_bytes);
			if (rc < 0)
				goto out;
			if (a->inner_big_endian && a->dtype.size > 1)
				swap_to_le(tmp, inner_bytes, a->dtype.size);
		}
		for (unsigned d = 0; d < nd; d++)
			origin[d] = q[d] * a->inner[d];
		scatter(a, tmp, origin, dst);
		/* next inner chunk in C order */
		for (unsigned d = nd; d > 0; d--) {
			if (++q[d - 1] < nper[d - 1])
				break;
			q[d - 1] = 0;
		}
	}
out:
	free(tmp);
	return rc;
}

/*
 * Bound on a whole shard before its index is read: the decoded inner
 * chunks plus codec overhead, plus the largest index.
 */
static size_t shard_max(size_t n)
{
	return stage_max(n) +
	       (size_t)(ZARR_MAX_INNER_CHUNKS * ZARR_SHARD_ENTRY) +
	       ZARR_CRC_LEN;
}

/* A shard under bytes-to-bytes codecs of its own (rare), then its index. */
static int decode_sharded(const struct zarr_array *a, const uint8_t *src,
			  size_t len, uint8_t *dst, size_t n)
{
	void *shard = NULL;
	size_t shard_len = 0;
	int rc = 0;

	if (a->ncodecs == 0)
		return decode_shard(a, src, len, dst);
	for (size_t i = a->ncodecs; i > 0; i--) {
		void *next = NULL;
		size_t next_len = 0;

		rc = codec_decode_alloc(a->codecs[i - 1].id,
					shard ? shard : src,
					shard ? shard_len : len, shard_max(n),
					&next, &next_len);
		if (rc < 0)
			goto out;
		free(shard);
		shard = next;
		shard_len = next_len;
	}
	rc = decode_shard(a, shard, shard_len, dst);
out:
	free(shard);
	return as_badmsg(rc);
}

int zarr_chunk_decode(const struct zarr_array *a, const void *src, size_t len,
		      void *dst)
{
	const uint8_t *p = src;
	uint64_t n64 = zarr_chunk_bytes(a);
	size_t n;
	int rc;

	if (n64 > ZARR_MAX_CHUNK_BYTES) {
		log_error(LOG_C_ZARR, "internal error: unchecked zarr array");
		return -EBADMSG;
	}
	n = (size_t)n64;
	if (!a->sharded) {
		if (a->format == 3)
			rc = run_chain_v3(a->codecs, a->ncodecs, a->crc32c, p,
					  len, dst, n);
		else
			rc = run_chain(a->codecs, a->ncodecs, p, len, dst, n);
		if (rc == 0 && a->dtype.big_endian && a->dtype.size > 1)
			swap_to_le(dst, n, a->dtype.size);
		return rc;
	}
	/* a shard followed by a crc32c of its own (declared) */
	if (!a->crc32c)
		return decode_sharded(a, p, len, dst, n);
	if (!crc_trailer_ok(p, len))
		return -EBADMSG;
	return decode_sharded(a, p, len - ZARR_CRC_LEN, dst, n);
}

static int axis_of(const char *name)
{
	static const char letters[] = "tczyx";

	if (!name || name[0] == '\0' || name[1] != '\0')
		return -1;
	for (int i = 0; i < 5; i++) {
		if (name[0] == letters[i] || name[0] == letters[i] - 32)
			return i;
	}
	return -1;
}

int zarr_axes(struct zarr_multiscale *m, unsigned ndim,
	      const char *const *names)
{
	static const char *const tczyx[] = {"t", "c", "z", "y", "x"};
	int axis[5] = {-1, -1, -1, -1, -1};

	if (!names) {
		/* NGFF 0.1/0.2: always 5-D t, c, z, y, x */
		if (ndim != 5)
			return -EINVAL;
		names = tczyx;
	}
	if (ndim < 2 || ndim > ZARR_MAX_DIMS)
		return -EINVAL;
	for (unsigned d = 0; d < ndim; d++) {
		int k = axis_of(names[d]);

		if (k < 0 || axis[k] >= 0)
			return -EINVAL;
		axis[k] = (int)d;
	}
	if (axis[ZARR_Y] < 0 || axis[ZARR_X] < 0)
		return -EINVAL;
	m->ndim = ndim;
	memcpy(m->axis, axis, sizeof(axis));
	return 0;
}

uint64_t zarr_view_chunk_bytes(const struct zarr_view *v, unsigned lvl)
{
	uint64_t n = v->dtype.size;

	/* each axis is a chunk of a checked array: the product fits */
	for (unsigned d = 0; d < 5; d++)
		n *= v->lv[lvl].chunks[d];
	return n;
}
