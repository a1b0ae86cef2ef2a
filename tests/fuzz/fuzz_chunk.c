/* SPDX-License-Identifier: MIT */
/*
 * fuzz_chunk: stored chunks through zarr_chunk_decode(), as a read does
 * it: the array's metadata (a v2 .zarray or a v3 zarr.json) says how the
 * chunk is encoded, the chunk is whatever the remote sent. That covers
 * every codec chain (none, zlib, gzip, zstd, blosc, crc32c, big-endian
 * samples) and the sharding_indexed index with its inner chunks.
 *
 * Input: the metadata, a NUL byte, the chunk bytes. The seed corpus pairs
 * each array of tests/data/zarr with its stored chunks (tests/fuzz/seed.py).
 * Arrays whose decoded chunk exceeds FUZZ_CHUNK_MAX are parsed but not
 * decoded, to keep the executions fast; the decoders never see the size
 * anyway, only the bytes.
 */
#include "config.h"

#include <errno.h>

#include "idrfs/api.h"
#include "idrfs/zarr.h"

#include "fuzz.h"

#define FUZZ_CHUNK_MAX (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t mlen = nul ? (size_t)(nul - data) : size;
	const uint8_t *chunk = nul ? nul + 1 : data + size;
	size_t clen = size - (size_t)(chunk - data);
	struct zarr_array a;
	uint8_t *src, *dst, *dst2;
	uint64_t n;
	int rc;

	rc = api_json_zarray((const char *)data, mlen, "fuzz", &a);
	if (rc < 0)
		rc = api_json_zarr3_array((const char *)data, mlen, "fuzz", &a);
	if (rc < 0)
		return 0;
	n = zarr_chunk_bytes(&a);
	FUZZ_CHECK(n > 0 && n <= ZARR_MAX_CHUNK_BYTES);
	if (n > FUZZ_CHUNK_MAX)
		return 0;
	/* an exact-size copy: ASan sees any read past the chunk */
	src = malloc(clen ? clen : 1);
	dst = malloc((size_t)n);
	dst2 = malloc((size_t)n);
	if (!src || !dst || !dst2)
		abort();
	memcpy(src, chunk, clen);
	memset(dst, 0x00, (size_t)n);
	memset(dst2, 0xff, (size_t)n);
	rc = zarr_chunk_decode(&a, src, clen, dst);
	/* zarr.h: 0, -EBADMSG or -ENOMEM, nothing else */
	FUZZ_CHECK(rc == 0 || rc == -EBADMSG || rc == -ENOMEM);
	if (rc == 0) {
		/* success writes every byte: two differently primed buffers
		 * end up equal */
		rc = zarr_chunk_decode(&a, src, clen, dst2);
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(memcmp(dst, dst2, (size_t)n) == 0);
	}
	zarr_chunk_fill(&a, dst);
	free(src);
	free(dst);
	free(dst2);
	return 0;
}
