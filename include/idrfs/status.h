/* SPDX-License-Identifier: MIT */
/*
 * status: `idrfs status MOUNTPOINT`, the one-line summary of a running
 * mount for admins and job scripts, read from its .idrfs/stats.json.
 *
 * Limits: reads what the daemon already publishes; finds the mount in
 * /proc/self/mountinfo (this mount namespace only).
 */
#ifndef IDRFS_STATUS_H
#define IDRFS_STATUS_H

#include <stdio.h>

/**
 * Print one line about the idrfs mount at @p mnt to @p out: remote,
 * requests, errors, cache hits and size, memory held of the budget,
 * online or offline.
 * @return 0; or -EINVAL (not an idrfs mount), -ENOTCONN (its daemon is
 *         gone), -errno of reading the stats, -EBADMSG (they do not
 *         parse), each after a one-line message on stderr
 */
int status_print(const char *mnt, FILE *out);

#endif
