/* SPDX-License-Identifier: MIT */
/*
 * fsops: low-level FUSE operations. Each handler computes the operation's
 * deadline, calls the tree, and replies once. Directory handles hold a
 * snapshot of the listing taken at opendir, so offsets stay valid while
 * the listing is refreshed underneath.
 */
#include "config.h"

#include "idrfs/fsops.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "idrfs/http.h"
#include "idrfs/log.h"

#define FSOPS_NEG_TIMEOUT 60.0
#define FSOPS_BLKSIZE	  131072

struct fsops {
	struct tree *tree;
	unsigned timeout_s;
	double ttl;
	uid_t uid;
	gid_t gid;
	unsigned readahead_kb; /* 0: the kernel's */
	char ra_path[96];      /* the mount's read_ahead_kb in sysfs, or "" */
	atomic_bool ra_done;
};

static struct fsops *ctx(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static uint64_t deadline(const struct fsops *f)
{
	return http_now_ms() + (uint64_t)f->timeout_s * 1000u;
}

/* What the kernel sees: remote and data failures are EIO (details are in
 * the log); errors that mean something to a caller pass through. */
static int kernel_errno(int rc)
{
	switch (-rc) {
	case ENOENT:
	case ENOTDIR:
	case EISDIR:
	case EROFS:
	case ENOMEM:
	case ENAMETOOLONG:
	case EACCES:
	case EINVAL:
	case ENODATA:
	case ERANGE:
	case ENOSYS:
	case EBADF:
	case EPERM:
	case ENOTEMPTY:
	case EAGAIN: /* a generated file still being built: try again */
		return -rc;
	default:
		return EIO;
	}
}

static void reply_err(fuse_req_t req, int rc)
{
	fuse_reply_err(req, kernel_errno(rc));
}

static void to_stat(const struct fsops *f, const struct tree_attr *a,
		    struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	/* writable modes, so that copies can be deleted; the mount itself
	 * refuses every write with EROFS */
	st->st_mode = a->is_dir	   ? S_IFDIR | 0755
		      : a->is_link ? S_IFLNK | 0777
				   : S_IFREG | 0644;
	st->st_nlink = a->nlink;
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	st->st_blksize = FSOPS_BLKSIZE;
	st->st_uid = f->uid;
	st->st_gid = f->gid;
	st->st_mtim.tv_sec = a->mtime;
	st->st_ctim.tv_sec = a->mtime;
	st->st_atim.tv_sec = a->mtime;
}

static void to_entry(const struct fsops *f, const struct tree_attr *a,
		     struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	e->generation = 1;
	e->attr_timeout = a->live ? 0 : f->ttl;
	e->entry_timeout = f->ttl;
	to_stat(f, a, &e->attr);
}

static void fsops_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
	/* no writeback cache, no locks: nothing is ever written */
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

static void fsops_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fsops *f = ctx(req);
	struct fuse_entry_param e;
	struct tree_attr a;
	int rc = tree_lookup(f->tree, parent, name, deadline(f), &a);

	if (rc == -ENOENT) {
		/* negative dentry: the kernel remembers the miss */
		memset(&e, 0, sizeof(e));
		e.entry_timeout =
			f->ttl < FSOPS_NEG_TIMEOUT ? f->ttl : FSOPS_NEG_TIMEOUT;
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc < 0) {
		reply_err(req, rc);
		return;
	}
	to_entry(f, &a, &e);
	fuse_reply_entry(req, &e);
}

static void fsops_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	tree_forget(ctx(req)->tree, ino, nlookup);
	fuse_reply_none(req);
}

static void fsops_forget_multi(fuse_req_t req, size_t count,
			       struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		tree_forget(ctx(req)->tree, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fsops_getattr(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct fsops *f = ctx(req);
	struct tree_attr a;
	struct stat st;
	/* images.tsv and study.txt are built here: stat gives their size */
	int rc = tree_stat(f->tree, ino, deadline(f), &a);

	(void)fi;
	if (rc < 0) {
		reply_err(req, rc);
		return;
	}
	to_stat(f, &a, &st);
	fuse_reply_attr(req, &st, a.live ? 0 : f->ttl);
}

static void fsops_opendir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct fsops *f = ctx(req);
	struct tree_dir *d = NULL;
	int rc = tree_opendir(f->tree, ino, deadline(f), &d);

	if (rc < 0) {
		reply_err(req, rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	/* a listing about to change (the root before its by-* menus are
	 * known) must not stay in the kernel's cache */
	fi->cache_readdir = !d->no_cache;
	fi->keep_cache = !d->no_cache;
	if (fuse_reply_open(req, fi) != 0)
		tree_dir_free(d);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct fsops *f = ctx(req);
	struct tree_dir *d = (struct tree_dir *)(uintptr_t)fi->fh;
	char *buf = calloc(1, size);
	size_t used = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t i = (size_t)off; i < d->n + 2; i++) {
		struct tree_attr dot = {.ino = ino, .is_dir = true, .nlink = 2};
		const struct tree_attr *a;
		const char *name;
		size_t need;

		if (i < 2) {
			name = i == 0 ? "." : "..";
			a = &dot;
		} else {
			name = d->ents[i - 2].name;
			a = &d->ents[i - 2].attr;
		}
		if (plus) {
			struct fuse_entry_param e;

			to_entry(f, a, &e);
			if (i < 2 || a->lazy) {
				/* . and .. carry no lookup count; a file built
				 * on lookup has no size yet: no attributes */
				mode_t m = e.attr.st_mode & S_IFMT;

				memset(&e, 0, sizeof(e));
				e.attr.st_ino = a->ino;
				e.attr.st_mode = m;
			}
			need = fuse_add_direntry_plus(req, buf + used,
						      size - used, name, &e,
						      (off_t)i + 1);
			if (need > size - used)
				break;
			if (i >= 2 && !a->lazy)
				tree_ref(f->tree, a->ino);
		} else {
			struct stat st = {0};

			st.st_ino = a->ino;
			st.st_mode = a->is_dir	  ? S_IFDIR
				     : a->is_link ? S_IFLNK
						  : S_IFREG;
			need = fuse_add_direntry(req, buf + used, size - used,
						 name, &st, (off_t)i + 1);
			if (need > size - used)
				break;
		}
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void fsops_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void fsops_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			      off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void fsops_releasedir(fuse_req_t req, fuse_ino_t ino,
			     struct fuse_file_info *fi)
{
	(void)ino;
	tree_dir_free((struct tree_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/*
 * The kernel reads ahead 128 KiB on a FUSE mount, one request at a time;
 * a larger window for the mount's backing device lets a sequential reader
 * send 1 MiB requests, several at once, which the daemon serves in
 * parallel. The device is the mount's "major:minor" in mountinfo; the
 * window can only be set once the kernel has our INIT reply (it takes the
 * minimum of both), so it is set at the first open. It needs root; a user
 * mount keeps the kernel's window.
 */
static void unescape_mountinfo(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' &&
		    r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 +
				      (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

static void find_bdi(struct fsops *f, const char *mountpoint)
{
	FILE *mi = fopen("/proc/self/mountinfo", "re");
	char line[4096];

	f->ra_path[0] = '\0';
	if (!mi)
		return;
	while (fgets(line, sizeof(line), mi)) {
		unsigned id, parent, major, minor;
		char mnt[PATH_MAX];
		int n = 0;

		if (sscanf(line, "%u %u %u:%u %*s %4095s%n", &id, &parent,
			   &major, &minor, mnt, &n) < 5 ||
		    !strstr(line + n, " - fuse"))
			continue;
		unescape_mountinfo(mnt);
		/* the last match is the newest mount on that path */
		if (strcmp(mnt, mountpoint) == 0)
			snprintf(f->ra_path, sizeof(f->ra_path),
				 "/sys/class/bdi/%u:%u/read_ahead_kb", major,
				 minor);
	}
	fclose(mi);
}

static void tune_readahead(struct fsops *f)
{
	char val[32];
	int fd, n;

	if (f->readahead_kb == 0 || !f->ra_path[0] ||
	    atomic_exchange(&f->ra_done, true))
		return;
	n = snprintf(val, sizeof(val), "%u\n", f->readahead_kb);
	fd = open(f->ra_path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, (size_t)n) != n)
		log_info(LOG_C_FUSE,
			 "read-ahead stays the kernel's: cannot write %s: %s",
			 f->ra_path, strerror(errno));
	else
		log_debug(LOG_C_FUSE, "read-ahead %u KiB (%s)", f->readahead_kb,
			  f->ra_path);
	if (fd >= 0)
		close(fd);
}

static void fsops_open(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fsops *f = ctx(req);
	struct tree_attr a;
	uint64_t fh = 0;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY ||
	    (fi->flags & (O_TRUNC | O_APPEND))) {
		fuse_reply_err(req, EROFS);
		return;
	}
	tune_readahead(f);
	rc = tree_getattr(f->tree, ino, &a);
	if (rc == 0)
		rc = tree_open(f->tree, ino, deadline(f), &fh);
	if (rc < 0) {
		reply_err(req, rc);
		return;
	}
	fi->fh = fh;
	/* published data is immutable: let the page cache keep it. Live
	 * counters are a snapshot per open whose length stat cannot know
	 * in advance: read with direct I/O, up to the end of the snapshot
	 * (never image files: their size is exact) */
	fi->keep_cache = !a.live;
	fi->direct_io = a.live;
	if (fuse_reply_open(req, fi) != 0)
		tree_release(f->tree, ino, fh);
}

static void fsops_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fsops *f = ctx(req);
	char *buf = malloc(size ? size : 1);
	ssize_t n;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = tree_read(f->tree, ino, fi->fh, (uint64_t)off, size, buf,
		      deadline(f));
	if (n < 0)
		reply_err(req, (int)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void fsops_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char *target = NULL;
	int rc = tree_readlink(ctx(req)->tree, ino, &target);

	if (rc < 0)
		reply_err(req, rc);
	else
		fuse_reply_readlink(req, target);
	free(target);
}

/* The xattr size protocol: size 0 asks for the length; a short buffer is
 * ERANGE. */
static void reply_xattr(fuse_req_t req, int rc, const char *buf, size_t len,
			size_t size)
{
	if (rc < 0)
		reply_err(req, rc);
	else if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, buf, len);
}

static void fsops_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   size_t size)
{
	struct fsops *f = ctx(req);
	char *buf = NULL;
	size_t len = 0;
	int rc = tree_getxattr(f->tree, ino, name, deadline(f), &buf, &len);

	reply_xattr(req, rc, buf, len, size);
	free(buf);
}

static void fsops_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fsops *f = ctx(req);
	char *buf = NULL;
	size_t len = 0;
	int rc = tree_listxattr(f->tree, ino, deadline(f), &buf, &len);

	reply_xattr(req, rc, buf, len, size);
	free(buf);
}

static void fsops_release(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	tree_release(ctx(req)->tree, ino, fi->fh);
	fuse_reply_err(req, 0);
}

static void fsops_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fsops *f = ctx(req);
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = FSOPS_BLKSIZE;
	sv.f_frsize = 4096;
	sv.f_files = tree_node_count(f->tree);
	sv.f_namemax = TREE_NAME_MAX;
	sv.f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV;
	fuse_reply_statfs(req, &sv);
}

/* Everything that would change the tree. */
static void fsops_erofs(fuse_req_t req)
{
	fuse_reply_err(req, EROFS);
}

static void fsops_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			  int to_set, struct fuse_file_info *fi)
{
	(void)ino;
	(void)attr;
	(void)to_set;
	(void)fi;
	fsops_erofs(req);
}

static void fsops_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode, dev_t rdev)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)rdev;
	fsops_erofs(req);
}

static void fsops_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode)
{
	(void)parent;
	(void)name;
	(void)mode;
	fsops_erofs(req);
}

static void fsops_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	fsops_erofs(req);
}

static void fsops_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
			  const char *name)
{
	(void)link;
	(void)parent;
	(void)name;
	fsops_erofs(req);
}

static void fsops_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname,
			 unsigned int flags)
{
	(void)parent;
	(void)name;
	(void)newparent;
	(void)newname;
	(void)flags;
	fsops_erofs(req);
}

static void fsops_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		       const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	fsops_erofs(req);
}

static void fsops_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
			size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	(void)buf;
	(void)size;
	(void)off;
	(void)fi;
	fsops_erofs(req);
}

static void fsops_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, struct fuse_file_info *fi)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)fi;
	fsops_erofs(req);
}

static void fsops_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   const char *value, size_t size, int flags)
{
	(void)ino;
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	fsops_erofs(req);
}

static void fsops_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino;
	(void)name;
	fsops_erofs(req);
}

static const struct fuse_lowlevel_ops fsops_ops = {
	.init = fsops_init,
	.lookup = fsops_lookup,
	.forget = fsops_forget,
	.forget_multi = fsops_forget_multi,
	.getattr = fsops_getattr,
	.opendir = fsops_opendir,
	.readdir = fsops_readdir,
	.readdirplus = fsops_readdirplus,
	.releasedir = fsops_releasedir,
	.open = fsops_open,
	.read = fsops_read,
	.readlink = fsops_readlink,
	.getxattr = fsops_getxattr,
	.listxattr = fsops_listxattr,
	.release = fsops_release,
	.statfs = fsops_statfs,
	.setattr = fsops_setattr,
	.mknod = fsops_mknod,
	.mkdir = fsops_mkdir,
	.unlink = fsops_unlink,
	.rmdir = fsops_unlink,
	.symlink = fsops_symlink,
	.rename = fsops_rename,
	.link = fsops_link,
	.write = fsops_write,
	.create = fsops_create,
	.setxattr = fsops_setxattr,
	.removexattr = fsops_removexattr,
};

static void fuse_log_cb(enum fuse_log_level level, const char *fmt, va_list ap)
{
	log_fragment(level <= FUSE_LOG_ERR	 ? LOG_LEVEL_ERR
		     : level == FUSE_LOG_WARNING ? LOG_LEVEL_WARNING
		     : level <= FUSE_LOG_INFO	 ? LOG_LEVEL_INFO
						 : LOG_LEVEL_DEBUG,
		     LOG_C_FUSE, fmt, ap);
}

static void notify(const char *path, const char *what)
{
	int fd;

	if (!path)
		return;
	/* no reader: nobody waits, and we must not block on it */
	fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		log_warn(LOG_C_FUSE, "cannot open notify pipe '%s': %s", path,
			 strerror(errno));
		return;
	}
	if (write(fd, what, strlen(what)) < 0)
		log_warn(LOG_C_FUSE, "cannot write to notify pipe '%s': %s",
			 path, strerror(errno));
	close(fd);
}

/*
 * Tell systemd (a Type=notify unit sets NOTIFY_SOCKET) that the mount
 * answers, or that it is going away. Without NOTIFY_SOCKET, or built
 * without libsystemd, nothing happens.
 */
static void notify_systemd(const char *state)
{
#ifdef HAVE_LIBSYSTEMD
	int rc = sd_notify(0, state);

	if (rc < 0)
		log_warn(LOG_C_FUSE, "cannot notify systemd of %s: %s", state,
			 strerror(-rc));
#else
	(void)state;
#endif
}

int fsops_run(int argc, char **argv, const struct fsops_config *cfg)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts co = {0};
	struct fuse_session *se = NULL;
	struct fuse_loop_config *lc = NULL;
	struct fsops f = {
		.timeout_s = cfg->timeout_s,
		.ttl = cfg->ttl_s,
		.uid = getuid(),
		.gid = getgid(),
		.readahead_kb = cfg->readahead_kb,
	};
	bool mounted = false, started = false;
	int rc = -EIO;

	if (fuse_parse_cmdline(&args, &co) != 0)
		return -EINVAL;
	if (!co.mountpoint) {
		log_error(LOG_C_FUSE, "no mountpoint given");
		rc = -EINVAL;
		goto out;
	}
	fuse_set_log_func(fuse_log_cb);
	se = fuse_session_new(&args, &fsops_ops, sizeof(fsops_ops), &f);
	if (!se) {
		rc = -EINVAL; /* libfuse said why (an unknown option) */
		goto out;
	}
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	if (fuse_session_mount(se, co.mountpoint) != 0) {
		log_error(LOG_C_FUSE, "cannot mount on '%s'", co.mountpoint);
		goto out;
	}
	mounted = true;
	find_bdi(&f, co.mountpoint);
	if (fuse_daemonize(co.foreground) != 0)
		goto out;
	rc = cfg->start(cfg->arg, &f.tree);
	if (rc < 0) {
		notify(cfg->notify_pipe, "fail\n");
		goto out;
	}
	started = true;
	/* the kernel queues requests until the loop below reads them: the
	 * mount answers from now on */
	notify(cfg->notify_pipe, "ok\n");
	notify_systemd("READY=1");

	if (co.singlethread) {
		rc = fuse_session_loop(se);
	} else {
		lc = fuse_loop_cfg_create();
		if (!lc) {
			rc = -ENOMEM;
			goto out;
		}
		fuse_loop_cfg_set_clone_fd(lc, (unsigned)co.clone_fd);
		/* UINT_MAX: not given, keep libfuse's defaults */
		if (co.max_idle_threads != UINT_MAX)
			fuse_loop_cfg_set_idle_threads(lc, co.max_idle_threads);
		if (co.max_threads != UINT_MAX && co.max_threads > 0)
			fuse_loop_cfg_set_max_threads(lc, co.max_threads);
		rc = fuse_session_loop_mt(se, lc);
	}
	rc = rc < 0 ? rc : 0; /* a positive value is the signal received */
out:
	if (started)
		notify_systemd("STOPPING=1");
	if (started && cfg->stop)
		cfg->stop(cfg->arg);
	if (lc)
		fuse_loop_cfg_destroy(lc);
	if (se) {
		if (mounted)
			fuse_session_unmount(se);
		fuse_remove_signal_handlers(se);
		fuse_session_destroy(se);
	}
	free(co.mountpoint);
	fuse_opt_free_args(&args);
	return rc;
}

void fsops_print_help(void)
{
	printf("FUSE options:\n");
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

void fsops_print_version(void)
{
	printf("FUSE library version %s\n", fuse_pkgversion());
	fflush(stdout);
	fuse_lowlevel_version();
}
