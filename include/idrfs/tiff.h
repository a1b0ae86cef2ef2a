/* SPDX-License-Identifier: MIT */
/*
 * tiff: the byte layout of the virtual TIFF of an image (FORMATS.md 2):
 * a classic little-endian TIFF, IFD0 and its values in a head reserved
 * before the pixels, planes contiguous in CZT order, tail IFDs after the
 * data at a fixed stride; above 4 GiB ImageJ's single-IFD form. The layout
 * depends only on the geometry, so a file's size is known at stat() time,
 * before any pixel or per-image metadata is fetched.
 *
 * The bytes: the head (header, IFD0, OME-XML and ImageJ descriptions, IJ
 * metadata) is built once per open file and fits in the space the layout
 * reserved; tail IFDs are computed on the fly; pixel bytes come from a
 * rows callback. libtiff is not used to write; tests use it to re-read.
 *
 * Limits: uncompressed classic TIFF, strips of TIFF_STRIP_ROWS rows; at
 * most TIFF_MAX_PLANES planes, TIFF_MAX_CHANNELS channels, rows of at
 * most TIFF_MAX_ROW_BYTES (a read inside a row buffers whole rows) and
 * TIFF_MAX_BYTES bytes; a strip under 4 GiB, and above 4 GiB plane 0's
 * strips starting below 4 GiB (IFD0 holds them as 32-bit offsets);
 * descriptions are cut (never the pixels) to fit the reserved head. Every
 * size is the remote's (Pixels SizeX..SizeT): the layout checks each sum
 * and product and refuses what does not fit, it never wraps.
 */
#ifndef IDRFS_TIFF_H
#define IDRFS_TIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TIFF_STRIP_ROWS 64u
#define TIFF_HEAD_ALIGN 4096u
#define TIFF_MAX_PLANES (1u << 24)
/* A read inside a row buffers whole rows: 16 MiB is 2^22 float pixels. */
#define TIFF_MAX_ROW_BYTES (16u << 20)
#define TIFF_CLASSIC_MAX   0xffffffffull
/*
 * The head reserves 2 KiB per channel and an open file keeps its ImageJ
 * LUTs (768 bytes per channel) in memory: 16384 channels cost 32 MiB of
 * head and 13 MiB of memory. Real multi-channel data has tens (IMC) to a
 * few thousand (spectral bins) channels; more is a broken answer.
 */
#define TIFF_MAX_CHANNELS (1u << 14)
/* Far above any image, far below where 64-bit offsets could wrap. */
#define TIFF_MAX_BYTES (1ull << 62)

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
 * Compute the layout of a geometry (any values: they are the remote's).
 * @param[out] out written only on success
 * @return 0, -EINVAL (a zero size, bps not 1/2/4, samples not 1/3),
 *         -EFBIG (the file cannot hold it: more than TIFF_MAX_PLANES
 *         planes or TIFF_MAX_CHANNELS channels, a row over
 *         TIFF_MAX_ROW_BYTES, over TIFF_MAX_BYTES, a
 *         product that overflows 64 bits, a strip of 4 GiB or more, or
 *         above 4 GiB a strip of plane 0 starting past 4 GiB)
 * @note Pure and thread-safe; logs nothing (see tiff_geom_log()).
 */
int tiff_layout_compute(const struct tiff_geom *g, struct tiff_layout *out);

/**
 * Log why an image's geometry has no file, naming the image (its id and,
 * if known, the URL of its pixels) and the sizes: for callers of
 * tiff_layout_compute(), which cannot know the image.
 * @param[in] url NULL if none; borrowed for the call
 * @param[in] rc what tiff_layout_compute() or tiff_file_new() returned
 */
void tiff_geom_log(const struct tiff_geom *g, int64_t image_id, const char *url,
		   int rc);

enum tiff_sample_format {
	TIFF_SF_UINT = 1,
	TIFF_SF_INT = 2,
	TIFF_SF_FLOAT = 3,
};

struct tiff_channel {
	const char *name;		 /* NULL: none */
	uint32_t color_rgb;		 /* 0xRRGGBB */
	double window_start, window_end; /* display range, in file values */
};

/*
 * What every file of an image says about it (the .tif's Info and the
 * .ome.tif's OME-XML): one struct, filled once by the pixel source.
 * Pointers are borrowed for tiff_file_new() and tiff_ome_file_new().
 */
struct tiff_about {
	int64_t image_id;
	const char *image_name; /* NULL: none */
	const char *source;	/* where the pixels come from; NULL: none */
	double phys_x, phys_y, phys_z; /* micrometres, 0 unknown */
	double time_increment;	       /* seconds, 0 unknown */
	size_t nchannels;	       /* the geometry's c entries, or 0 */
	const struct tiff_channel *channels;
};

/** What the file describes. Pointers are borrowed for tiff_file_new(). */
struct tiff_meta {
	struct tiff_geom g;
	enum tiff_sample_format format;
	const char *source_type; /* OME type of the source: "int8", "double" */
	bool int8_shifted;	 /* int8 stored as v+128 in uint8 */
	bool rendered;		 /* 8-bit RGB rendering, not raw data */
	struct tiff_about about;
};

struct tiff_file;

/**
 * Fill @p nrows whole rows (row0..row0+nrows-1) of plane @p plane (CZT
 * order; for RGB files z + Z*t) into @p dst, in the file's sample format,
 * little-endian: nrows * x * bps * samples bytes. Only columns
 * [col0, col0 + ncols) are read from dst afterwards (a read inside one
 * row, such as a page of a tile reader's row); the rest may be left as
 * is, so a source need not fetch what holds only those.
 * @return 0 or -errno (the read fails with it)
 */
typedef int (*tiff_rows_fn)(void *ctx, uint64_t plane, uint32_t row0,
			    uint32_t nrows, uint32_t col0, uint32_t ncols,
			    uint8_t *dst);

/**
 * Build a file: its layout (tiff_layout_compute(&m->g)) and head bytes.
 * A geometry the layout refuses is logged with m->about's id and source.
 * @param[out] out written only on success; free with tiff_file_free()
 * @return 0, -EINVAL/-EFBIG (geometry), -ENOMEM
 */
int tiff_file_new(const struct tiff_meta *m, struct tiff_file **out);
void tiff_file_free(struct tiff_file *f);

/** The layout of a file. @note owned by @p f. */
const struct tiff_layout *tiff_file_layout(const struct tiff_file *f);

/**
 * Read @p len bytes at @p off: head and tail from memory, pixels through
 * @p rows (called once per plane touched, for the rows touched).
 * @return bytes read (short only at end of file), or the callback's or
 *         -ENOMEM error
 * @note Thread-safe for concurrent reads of one file.
 */
ssize_t tiff_file_read(const struct tiff_file *f, uint64_t off, size_t len,
		       uint8_t *out, tiff_rows_fn rows, void *ctx);

/* ---- the tiled pyramidal BigTIFF OME-TIFF (tiff_ome.c) -------------- */

/*
 * <image>.ome.tif: a little-endian BigTIFF as the OME-TIFF specification
 * says (FORMATS.md 1.1, 2.10, 2.11): one IFD per plane of level 0 in the
 * main chain (CZT order), each with tag 330 SubIFDs naming that plane's
 * lower levels, tiles of one size in every level, native pixel types, the
 * OME-XML in IFD0's one ImageDescription. Like the .tif, the layout
 * depends only on the geometry, so the size is known at stat() time; the
 * IFDs and their arrays are computed on read, and only the OME-XML is held
 * per open file.
 */
#define TIFF_OME_TILE	    1024u /* IDR's usual Zarr chunk (bioformats2raw) */
#define TIFF_OME_MAX_LEVELS 32u

struct tiff_ome_geom {
	uint32_t x, y, c, z, t;
	unsigned bps; /* 1, 2, 4 or 8 (native type: int8..double) */
	enum tiff_sample_format format; /* uint, int, float */
};

/*
 * The file (offsets from the start):
 *
 *   0        BigTIFF header (16)
 *   16       plane 0's IFD group | plane 1's | ... each ifd_stride bytes:
 *            level 0's IFD [its tile arrays, SubIFDs] | level 1's | ...
 *   xml_at   OME-XML (IFD0's ImageDescription), xml_cap reserved
 *   d0       plane 0: level 0's tiles | level 1's | ... | plane 1: ...
 *            each tile tile_w * tile_h * bps bytes, row-major per level
 */
struct tiff_ome_layout {
	uint32_t tile_w, tile_h; /* min(TIFF_OME_TILE, roundup16(x or y)) */
	unsigned nlevels;	 /* reserved levels */
	uint32_t lx[TIFF_OME_MAX_LEVELS], ly[TIFF_OME_MAX_LEVELS];
	uint32_t ntx[TIFF_OME_MAX_LEVELS], nty[TIFF_OME_MAX_LEVELS]; /* tiles */
	uint64_t planes; /* c*z*t, one main-chain IFD per plane (CZT order) */
	uint64_t tile_bytes;
	uint64_t ifd_at[TIFF_OME_MAX_LEVELS];  /* level k's IFD in a group */
	uint64_t ifd_len[TIFF_OME_MAX_LEVELS]; /* with its arrays */
	uint64_t ifd_stride;		       /* one plane's IFD group */
	uint64_t xml_at, xml_cap;
	uint64_t d0;
	uint64_t data_at[TIFF_OME_MAX_LEVELS]; /* level k's tiles in a plane */
	uint64_t plane_bytes;		       /* all levels of one plane */
	uint64_t size;
};

/**
 * Compute the layout of a geometry (any values: they are the remote's).
 * Levels halve (floor, at least 1) while either side exceeds
 * TIFF_OME_TILE, as bioformats2raw and ome-zarr-py do.
 * @param[out] out written only on success
 * @return 0, -EINVAL (a zero size; bps not 1/2/4/8; a format that has no
 *         OME type at that bps), -EFBIG (more than TIFF_MAX_PLANES planes
 *         or TIFF_MAX_CHANNELS channels, over TIFF_MAX_BYTES, a product
 *         that overflows)
 * @note Pure and thread-safe; logs nothing.
 */
int tiff_ome_layout_compute(const struct tiff_ome_geom *g,
			    struct tiff_ome_layout *out);

/** What the file describes. Pointers are borrowed for tiff_ome_file_new(). */
struct tiff_ome_meta {
	struct tiff_ome_geom g;
	/*
	 * Levels the source has with exactly the layout's lx/ly (1..layout's);
	 * sub-levels past it are left out of SubIFDs (space stays, unused).
	 */
	unsigned nlevels;
	struct tiff_about about;
};

struct tiff_ome_file;

/**
 * Fill one tile: tile_w * tile_h * bps bytes, little-endian native
 * samples, zero outside the level's lx/ly. @p plane in CZT order
 * (c + C*(z + Z*t)); @p tx, @p ty: tile column and row.
 * @return 0 or -errno (the read fails with it)
 */
typedef int (*tiff_ome_tile_fn)(void *ctx, unsigned level, uint64_t plane,
				uint32_t tx, uint32_t ty, uint8_t *dst);

/**
 * Build a file: its layout and OME-XML.
 * @param[out] out written only on success; free with tiff_ome_file_free()
 * @return 0, -EINVAL/-EFBIG (geometry; nlevels 0 or past the layout's;
 *         nchannels neither 0 nor g.c), -ENOMEM
 */
int tiff_ome_file_new(const struct tiff_ome_meta *m,
		      struct tiff_ome_file **out);
void tiff_ome_file_free(struct tiff_ome_file *f);

/** The layout of a file. @note owned by @p f. */
const struct tiff_ome_layout *
tiff_ome_file_layout(const struct tiff_ome_file *f);

/**
 * Read @p len bytes at @p off: header, IFDs and XML from memory and
 * arithmetic, pixels through @p tile, once per tile touched (a part of a
 * tile goes through a scratch of one tile).
 * @return bytes read (short only at end of file), or the callback's or
 *         -ENOMEM error
 * @note Thread-safe for concurrent reads of one file.
 */
ssize_t tiff_ome_file_read(const struct tiff_ome_file *f, uint64_t off,
			   size_t len, uint8_t *out, tiff_ome_tile_fn tile,
			   void *ctx);

#endif
