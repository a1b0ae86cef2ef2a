/* SPDX-License-Identifier: MIT */
/*
 * status: `idrfs status MOUNTPOINT`. Checks in /proc/self/mountinfo that
 * the directory is an idrfs mount (fuse.idrfs), reads its
 * .idrfs/stats.json (written by main.c's app_stats) and prints one line.
 * It never mounts, never talks to the remote, and takes no lock.
 */
#include "config.h"

#include "idrfs/status.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idrfs/api.h"

#define STATUS_JSON_MAX (64u << 10)

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *o = s;

	while (*s) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 4;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

/*
 * The file system type of the mount on @p dir (the last one listed: the
 * one on top), into @p type.
 * @return 0, -ENOENT (no mount there), -errno of reading mountinfo
 */
static int mount_type(const char *dir, char *type, size_t tsz)
{
	FILE *fp = fopen("/proc/self/mountinfo", "r");
	char *line = NULL;
	size_t cap = 0;
	int rc = -ENOENT;

	if (!fp)
		return -errno;
	while (getline(&line, &cap, fp) > 0) {
		char *save = NULL, *f[5] = {0}, *sep, *t;

		/* id parent dev root MOUNTPOINT ... - TYPE source options */
		sep = strstr(line, " - ");
		if (!sep)
			continue;
		*sep = '\0';
		f[0] = strtok_r(line, " ", &save);
		for (int i = 1; i < 5 && f[i - 1]; i++)
			f[i] = strtok_r(NULL, " ", &save);
		t = strtok_r(sep + 3, " ", &save);
		if (!f[4] || !t)
			continue;
		unescape(f[4]);
		if (strcmp(f[4], dir) == 0 && strlen(t) < tsz) {
			memcpy(type, t, strlen(t) + 1);
			rc = 0;
		}
	}
	free(line);
	fclose(fp);
	return rc;
}

/* Read at most STATUS_JSON_MAX bytes of @p path into a heap buffer. */
static int read_all(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	size_t n = 0;
	ssize_t r = 1;
	int rc = 0;

	if (fd < 0)
		return -errno;
	buf = malloc(STATUS_JSON_MAX);
	if (!buf)
		rc = -ENOMEM;
	while (rc == 0 && r > 0 && n < STATUS_JSON_MAX) {
		r = read(fd, buf + n, STATUS_JSON_MAX - n);
		if (r < 0 && errno != EINTR)
			rc = -errno;
		n += r > 0 ? (size_t)r : 0;
	}
	close(fd);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* "1.8G": bytes with a binary suffix, as cache_size= and mem= take them. */
static const char *human(const char *bytes, char *out, size_t outsz)
{
	static const char units[] = "BKMGTP";
	double v = strtod(bytes, NULL);
	unsigned u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) - 1) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, outsz, "%.0fB", v);
	else
		snprintf(out, outsz, "%.1f%c", v, units[u]);
	return out;
}

/* A mount whose daemon died (ENOTCONN): what to do about it. */
static void gone(const char *mnt)
{
	fprintf(stderr,
		"idrfs: '%s': its daemon is gone (%s); unmount it with "
		"fusermount3 -u\n",
		mnt, strerror(ENOTCONN));
}

int status_print(const char *mnt, FILE *out)
{
	static const char *const keys[] = {
		"remote",      "requests",	     "errors",
		"cache.hits",  "cache.bytes_stored", "cache.limit",
		"memory.held", "memory.peak",	     "memory.budget",
		"offline",
	};
	char v[sizeof(keys) / sizeof(keys[0])][PATH_MAX];
	char h[5][32];
	char dir[PATH_MAX], type[64], path[PATH_MAX + 32];
	char *doc = NULL;
	size_t len = 0;
	int rc;

	if (!realpath(mnt, dir)) {
		rc = -errno;
		if (rc == -ENOTCONN)
			gone(mnt);
		else
			fprintf(stderr, "idrfs: '%s': %s\n", mnt,
				strerror(-rc));
		return rc;
	}
	rc = mount_type(dir, type, sizeof(type));
	if (rc == -ENOENT || (rc == 0 && strcmp(type, "fuse.idrfs") != 0)) {
		fprintf(stderr, "idrfs: '%s' is not an idrfs mount%s%s%s\n",
			mnt, rc == 0 ? " (it is " : "", rc == 0 ? type : "",
			rc == 0 ? ")" : "");
		return -EINVAL;
	}
	if (rc < 0) {
		fprintf(stderr, "idrfs: cannot read /proc/self/mountinfo: %s\n",
			strerror(-rc));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/.idrfs/stats.json", dir);
	rc = read_all(path, &doc, &len);
	if (rc < 0) {
		if (rc == -ENOTCONN)
			gone(mnt);
		else
			fprintf(stderr, "idrfs: cannot read '%s': %s\n", path,
				strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && rc == 0; i++)
		rc = api_json_lookup(doc, len, keys[i], v[i], sizeof(v[i]));
	free(doc);
	if (rc < 0) {
		fprintf(stderr, "idrfs: '%s' does not parse (%s)\n", path,
			strerror(-rc));
		return -EBADMSG;
	}
	fprintf(out,
		"%s: %s requests, %s errors; cache %s hits, %s of %s; memory "
		"%s of %s held (peak %s); %s\n",
		v[0], v[1], v[2], v[3], human(v[4], h[0], sizeof(h[0])),
		human(v[5], h[1], sizeof(h[1])),
		human(v[6], h[2], sizeof(h[2])),
		human(v[8], h[3], sizeof(h[3])),
		human(v[7], h[4], sizeof(h[4])),
		strcmp(v[9], "true") == 0 ? "offline" : "online");
	return 0;
}
