/* SPDX-License-Identifier: MIT */
/*
 * fsops: the FUSE low-level file system over the tree. It owns the FUSE
 * session from creation to unmount, replies exactly once per request, and
 * turns every internal error into an errno the kernel may see (network and
 * data errors become EIO). Read-only: every write gets EROFS.
 *
 * Limits: the tree is created by the caller's start callback, after the
 * daemon has forked (libcurl threads and LMDB must not cross a fork).
 */
#ifndef IDRFS_FSOPS_H
#define IDRFS_FSOPS_H

#include "idrfs/tree.h"

struct fsops_config {
	unsigned timeout_s;	 /* deadline of each operation */
	unsigned ttl_s;		 /* attr/entry timeouts */
	const char *notify_pipe; /* FIFO told "ok\n"/"fail\n", or NULL */
	unsigned readahead_kb;	 /* the mount's read-ahead window; 0: the
				  * kernel's (setting it needs root) */
	/* Called once mounted and daemonised; sets *tree. 0 or -errno. */
	int (*start)(void *arg, struct tree **tree);
	/* Called after the loop ends, before unmounting. */
	void (*stop)(void *arg);
	void *arg;
};

/**
 * Create the session, mount, daemonise (unless -f), call start, run the
 * multithreaded loop until unmount or a signal, then tear down.
 * @param[in] argc,argv FUSE's arguments (argv[0], options, mountpoint)
 * @return 0, or -errno after logging why
 */
int fsops_run(int argc, char **argv, const struct fsops_config *cfg);

/** libfuse's own help for its options. */
void fsops_print_help(void);

/** libfuse's version line. */
void fsops_print_version(void);

#endif
