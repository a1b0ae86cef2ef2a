/* SPDX-License-Identifier: MIT */
/*
 * opts: the command line. `idrfs [options] [URL] MOUNTPOINT`; -o options
 * of idrfs with their defaults and checks; fstab noise accepted and
 * ignored; everything else handed on to FUSE as an argument vector.
 *
 * Limits: parsing only; printing FUSE's own help is the caller's job.
 */
#ifndef IDRFS_OPTS_H
#define IDRFS_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define OPTS_DEFAULT_URL	"https://idr.openmicroscopy.org"
#define OPTS_DEFAULT_TIMEOUT	30u
#define OPTS_DEFAULT_MAX_CONNS	8u
#define OPTS_DEFAULT_PREFETCH	256u
#define OPTS_DEFAULT_READAHEAD	4096u
#define OPTS_DEFAULT_CACHE_SIZE (10ull << 30)
#define OPTS_DEFAULT_MEM	(128ull << 20)
#define OPTS_MIN_MEM		(16ull << 20)
#define OPTS_DEFAULT_TTL	86400u
#define OPTS_DEFAULT_ORIGINALS	"https://ftp.ebi.ac.uk/pub/databases/IDR"

struct opts {
	char *url;
	char *mountpoint;
	char *cache_dir;  /* default $XDG_CACHE_HOME/idrfs or ~/.cache/idrfs */
	char *seed_cache; /* NULL or a read-only cache directory under it,
			   * made absolute */
	unsigned timeout;
	unsigned max_conns;
	unsigned ttl;
	unsigned prefetch;  /* MiB read ahead of sequential readers */
	unsigned readahead; /* KiB: the kernel's read-ahead window (root) */
	char *cache_size_str;
	uint64_t cache_size; /* bytes; from cache_size=SIZE */
	char *mem_str;
	uint64_t mem; /* bytes the daemon may hold; from mem=SIZE */
	bool offline;
	bool no_zarr_fileset; /* the locator's fileset rule off */
	char *log_file;
	char *trace;
	char *notify_pipe;
	char *zarr_url;	      /* templates, '|' between (locate.h) */
	char *zarr_catalog;   /* URL or file (made absolute), or NULL */
	char *s3_scheme;      /* https (default) or http */
	char *originals_root; /* download root of original files */
	char *ontology;	      /* auto, searchengine, mapr or none */

	char *proxy;		 /* NULL or a list for http_proxy_check() */
	unsigned startup_jitter; /* seconds, below timeout */
	char *proxy_https;	 /* NULL, "tunnel" or "forward" */

	bool foreground;
	bool debug;
	bool help;
	bool version;
	/* what FUSE gets: argv[0], its options, the mountpoint */
	int fuse_argc;
	char **fuse_argv;
};

/**
 * Parse the command line into @p o (zeroed by the caller).
 * @return 0; or -EINVAL after printing a one-line error to stderr
 * @note With help or version set, the rest may be incomplete.
 *       Free with opts_release() in every case.
 */
int opts_parse(int argc, char *argv[], struct opts *o);

/**
 * opts_parse() for a program that shares idrfs's -o options but mounts
 * nothing (idrfs-warmup): @p argv holds -o lists and at most one URL; no
 * mountpoint is asked for, an option idrfs does not know is an error
 * (there is no FUSE to take it), and fuse_argc/fuse_argv stay unset.
 * @return as opts_parse()
 */
int opts_parse_tool(int argc, char *argv[], struct opts *o);
void opts_release(struct opts *o);

/** Print idrfs's own usage and options with their defaults. */
void opts_print_help(FILE *out, const char *prog);

#endif
