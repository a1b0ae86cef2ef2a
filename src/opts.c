/* SPDX-License-Identifier: MIT */
/*
 * opts: fuse_opt tables for idrfs's -o options. Positional arguments
 * (URL, MOUNTPOINT) come through the FUSE_OPT_KEY_NONOPT case; options FUSE
 * does not know are caught later by fuse_session_new(), which names them.
 */
#include "config.h"

#include "idrfs/opts.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fuse_opt.h>

#include "idrfs/locate.h"

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_FOREGROUND,
	KEY_DEBUG,
};

/* fuse_opt hands the same pointer to the offset table and to opt_proc,
 * so the options are the first member. */
struct parse_state {
	struct opts o;
	char *pos[2];
	int npos;
	int bad;
	bool tool; /* opts_parse_tool(): no mountpoint, nothing for FUSE */
};

#define IDRFS_OPT(t, p)                                                        \
	{                                                                      \
		t, offsetof(struct opts, p), 1                                 \
	}

static const struct fuse_opt opt_table[] = {
	IDRFS_OPT("cache_dir=%s", cache_dir),
	IDRFS_OPT("seed_cache=%s", seed_cache),
	IDRFS_OPT("timeout=%u", timeout),
	IDRFS_OPT("max_conns=%u", max_conns),
	IDRFS_OPT("ttl=%u", ttl),
	IDRFS_OPT("prefetch=%u", prefetch),
	IDRFS_OPT("readahead=%u", readahead),
	IDRFS_OPT("cache_size=%s", cache_size_str),
	IDRFS_OPT("mem=%s", mem_str),
	IDRFS_OPT("offline", offline),
	IDRFS_OPT("log_file=%s", log_file),
	IDRFS_OPT("trace=%s", trace),
	IDRFS_OPT("notify_pipe=%s", notify_pipe),
	IDRFS_OPT("zarr_url=%s", zarr_url),
	IDRFS_OPT("zarr_catalog=%s", zarr_catalog),
	IDRFS_OPT("no_zarr_fileset", no_zarr_fileset),
	IDRFS_OPT("s3_scheme=%s", s3_scheme),
	IDRFS_OPT("originals_root=%s", originals_root),
	IDRFS_OPT("ontology=%s", ontology),
	IDRFS_OPT("proxy=%s", proxy),
	IDRFS_OPT("startup_jitter=%u", startup_jitter),
	IDRFS_OPT("proxy_https=%s", proxy_https),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	/* fstab noise, so that mount -t fuse.idrfs works */
	FUSE_OPT_KEY("auto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("noauto", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("user", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nouser", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("users", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("_netdev", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("nofail", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_KEY("defaults", FUSE_OPT_KEY_DISCARD),
	FUSE_OPT_END,
};

static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct parse_state *ps = data;

	(void)outargs;
	switch (key) {
	case KEY_HELP:
		ps->o.help = true;
		return 0;
	case KEY_VERSION:
		ps->o.version = true;
		return 0;
	case KEY_FOREGROUND:
		ps->o.foreground = true;
		return 1;
	case KEY_DEBUG:
		ps->o.debug = true;
		ps->o.foreground = true;
		return 1;
	case FUSE_OPT_KEY_NONOPT:
		if (ps->npos == (ps->tool ? 1 : 2)) {
			fprintf(stderr, "idrfs: unexpected argument '%s'\n",
				arg);
			ps->bad = 1;
			return -1;
		}
		ps->pos[ps->npos] = strdup(arg);
		if (!ps->pos[ps->npos])
			return -1;
		ps->npos++;
		return 0;
	default:
		/* no FUSE after us to refuse what we do not know */
		if (ps->tool) {
			fprintf(stderr, "idrfs: unknown option '%s'\n", arg);
			ps->bad = 1;
			return -1;
		}
		return 1;
	}
}

static char *default_cache_dir(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	char *s = NULL;

	if (xdg && *xdg == '/') {
		if (asprintf(&s, "%s/idrfs", xdg) < 0)
			return NULL;
	} else if (home && *home) {
		if (asprintf(&s, "%s/.cache/idrfs", home) < 0)
			return NULL;
	} else {
		s = strdup("/var/cache/idrfs");
	}
	return s;
}

/*
 * "10G", "512M", "1.5T", "4096": bytes, with binary suffixes K, M, G, T.
 * @unittest test_opts
 */
static int parse_size(const char *s, uint64_t *out)
{
	char *end = NULL;
	double v;
	double mult = 1;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !(v >= 0))
		return -EINVAL;
	switch (*end) {
	case 'K':
	case 'k':
		mult = 1024.0;
		end++;
		break;
	case 'M':
	case 'm':
		mult = 1048576.0;
		end++;
		break;
	case 'G':
	case 'g':
		mult = 1073741824.0;
		end++;
		break;
	case 'T':
	case 't':
		mult = 1099511627776.0;
		end++;
		break;
	default:
		break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end != '\0' || v * mult > 1.0e18)
		return -EINVAL;
	*out = (uint64_t)(v * mult);
	return 0;
}

/*
 * Make a relative path absolute: the daemon changes to / before it opens
 * the cache.
 * @return 0, -ENOMEM, or -errno of getcwd()
 */
static int make_absolute(char **path)
{
	char cwd[4096];
	char *abs = NULL;

	if ((*path)[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	if (asprintf(&abs, "%s/%s", cwd, *path) < 0)
		return -ENOMEM;
	free(*path);
	*path = abs;
	return 0;
}

static int check(struct opts *o, bool tool)
{
	if (o->cache_size_str &&
	    parse_size(o->cache_size_str, &o->cache_size) < 0) {
		fprintf(stderr,
			"idrfs: cache_size=%s is not a size (e.g. 10G, 512M)\n",
			o->cache_size_str);
		return -EINVAL;
	}
	if (o->cache_size < (1u << 20)) {
		fprintf(stderr, "idrfs: cache_size is below 1M\n");
		return -EINVAL;
	}
	if (o->mem_str && parse_size(o->mem_str, &o->mem) < 0) {
		fprintf(stderr, "idrfs: mem=%s is not a size (e.g. 128M, 1G)\n",
			o->mem_str);
		return -EINVAL;
	}
	if (o->mem < OPTS_MIN_MEM || o->mem > (1ull << 40)) {
		fprintf(stderr, "idrfs: mem=%s is out of range (16M..1T)\n",
			o->mem_str);
		return -EINVAL;
	}
	if (!tool && !o->mountpoint) {
		fprintf(stderr,
			"idrfs: no mountpoint given (see idrfs --help)\n");
		return -EINVAL;
	}
	if (strncmp(o->url, "http://", 7) != 0 &&
	    strncmp(o->url, "https://", 8) != 0) {
		fprintf(stderr,
			"idrfs: '%s' is not an http:// or https:// URL\n",
			o->url);
		return -EINVAL;
	}
	if (o->timeout < 1 || o->timeout > 86400) {
		fprintf(stderr,
			"idrfs: timeout=%u is out of range (1..86400 "
			"seconds)\n",
			o->timeout);
		return -EINVAL;
	}
	if (strcmp(o->s3_scheme, "https") != 0 &&
	    strcmp(o->s3_scheme, "http") != 0) {
		fprintf(stderr, "idrfs: s3_scheme=%s is not http or https\n",
			o->s3_scheme);
		return -EINVAL;
	}
	char msg[512];

	if (o->zarr_url &&
	    locate_templates_check(o->zarr_url, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "idrfs: zarr_url: %s\n", msg);
		return -EINVAL;
	}
	if (o->zarr_catalog && strncmp(o->zarr_catalog, "http://", 7) != 0 &&
	    strncmp(o->zarr_catalog, "https://", 8) != 0 &&
	    (access(o->zarr_catalog, R_OK) < 0 ||
	     make_absolute(&o->zarr_catalog) < 0)) {
		fprintf(stderr,
			"idrfs: zarr_catalog=%s is no http(s) URL and no "
			"readable file\n",
			o->zarr_catalog);
		return -EINVAL;
	}
	if (strcmp(o->ontology, "auto") != 0 &&
	    strcmp(o->ontology, "searchengine") != 0 &&
	    strcmp(o->ontology, "mapr") != 0 &&
	    strcmp(o->ontology, "none") != 0) {
		fprintf(stderr,
			"idrfs: ontology=%s is not auto, searchengine, mapr "
			"or none\n",
			o->ontology);
		return -EINVAL;
	}
	if (strncmp(o->originals_root, "http://", 7) != 0 &&
	    strncmp(o->originals_root, "https://", 8) != 0) {
		fprintf(stderr,
			"idrfs: originals_root=%s is not an http:// or "
			"https:// "
			"URL\n",
			o->originals_root);
		return -EINVAL;
	}
	if (o->seed_cache && !o->seed_cache[0]) {
		fprintf(stderr, "idrfs: seed_cache= needs a directory\n");
		return -EINVAL;
	}
	/* the daemon changes to "/": paths given relative are made absolute
	 * here, where they were meant */
	char **paths[] = {&o->cache_dir, &o->log_file, &o->notify_pipe};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (*paths[i] && (*paths[i])[0] &&
		    make_absolute(paths[i]) < 0) {
			fprintf(stderr, "idrfs: %s: cannot make it absolute\n",
				*paths[i]);
			return -EINVAL;
		}
	}
	if (o->seed_cache && make_absolute(&o->seed_cache) < 0) {
		fprintf(stderr,
			"idrfs: seed_cache=%s: cannot make it absolute\n",
			o->seed_cache);
		return -EINVAL;
	}
	if (o->prefetch > 4096) {
		fprintf(stderr,
			"idrfs: prefetch=%u is out of range (0..4096 MiB)\n",
			o->prefetch);
		return -EINVAL;
	}
	if (o->readahead > 65536) {
		fprintf(stderr,
			"idrfs: readahead=%u is out of range (0..65536 KiB)\n",
			o->readahead);
		return -EINVAL;
	}
	if (o->proxy_https && strcmp(o->proxy_https, "tunnel") != 0 &&
	    strcmp(o->proxy_https, "forward") != 0) {
		fprintf(stderr,
			"idrfs: proxy_https=%s is not 'tunnel' or 'forward'\n",
			o->proxy_https);
		return -EINVAL;
	}
	if (o->startup_jitter >= o->timeout) {
		fprintf(stderr,
			"idrfs: startup_jitter=%u must be below timeout=%u "
			"(the first request waits up to it)\n",
			o->startup_jitter, o->timeout);
		return -EINVAL;
	}
	if (o->max_conns < 1 || o->max_conns > 256) {
		fprintf(stderr,
			"idrfs: max_conns=%u is out of range (1..256)\n",
			o->max_conns);
		return -EINVAL;
	}
	return 0;
}

/* The FUSE file system name: the URL without commas (an option list). */
static int add_mount_opts(struct fuse_args *args, const char *url)
{
	char *opt = NULL;
	int rc;

	if (asprintf(&opt, "-oro,subtype=idrfs,fsname=%s", url) < 0)
		return -ENOMEM;
	for (char *p = opt + strlen("-oro,subtype=idrfs,fsname="); *p; p++) {
		if (*p == ',' || *p == ' ' || *p == '\\')
			*p = '_';
	}
	rc = fuse_opt_add_arg(args, opt);
	free(opt);
	return rc < 0 ? -ENOMEM : 0;
}

static bool is_trace_word(const char *w, size_t len)
{
	static const char *const words[] = {
		"main",	 "http", "api",	 "tree",   "fuse",
		"cache", "tiff", "zarr", "search", "all",
	};

	if (len > 0 && w[0] == '-') {
		w++;
		len--;
	}
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strlen(words[i]) == len && memcmp(words[i], w, len) == 0)
			return true;
	}
	return false;
}

/*
 * "-o trace=http,api,allow_other": the commas of the trace list are also
 * fuse_opt's option separator. Escape the commas that are followed by a
 * component name, so that the list stays one option as documented.
 * @return a new string, or NULL (ENOMEM)
 */
static char *escape_trace_list(const char *opt)
{
	size_t n = strlen(opt);
	char *out = malloc(2 * n + 1);
	size_t o = 0;
	bool in_trace = false;
	const char *p = opt;

	if (!out)
		return NULL;
	while (*p) {
		size_t len = strcspn(p, ",");

		if (p != opt) {
			if (in_trace && is_trace_word(p, len))
				out[o++] = '\\';
			else
				in_trace = false;
			out[o++] = ',';
		}
		if (strncmp(p, "trace=", 6) == 0)
			in_trace = true;
		memcpy(out + o, p, len);
		o += len;
		p += len;
		if (*p == ',')
			p++;
	}
	out[o] = '\0';
	return out;
}

static int parse(int argc, char *argv[], struct opts *out, bool tool)
{
	struct opts *o;
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct parse_state ps = {.tool = tool};
	int rc = 0;

	o = &ps.o;
	/* work on our own copy of argv, with trace lists escaped */
	args.argv = calloc((size_t)argc + 1, sizeof(char *));
	if (!args.argv) {
		rc = -ENOMEM;
		goto out;
	}
	args.allocated = 1;
	for (int i = 0; i < argc; i++) {
		bool opt = i > 0 && (strcmp(argv[i - 1], "-o") == 0 ||
				     strncmp(argv[i], "-o", 2) == 0);

		args.argv[i] = opt && strstr(argv[i], "trace=")
				       ? escape_trace_list(argv[i])
				       : strdup(argv[i]);
		if (!args.argv[i]) {
			rc = -ENOMEM;
			goto out;
		}
	}
	o->timeout = OPTS_DEFAULT_TIMEOUT;
	o->max_conns = OPTS_DEFAULT_MAX_CONNS;
	o->ttl = OPTS_DEFAULT_TTL;
	o->prefetch = OPTS_DEFAULT_PREFETCH;
	o->readahead = OPTS_DEFAULT_READAHEAD;
	o->cache_size = OPTS_DEFAULT_CACHE_SIZE;
	o->mem = OPTS_DEFAULT_MEM;
	if (fuse_opt_parse(&args, &ps, opt_table, opt_proc) < 0) {
		if (!ps.bad)
			fprintf(stderr, "idrfs: cannot parse the options\n");
		rc = -EINVAL;
		goto out;
	}
	if (ps.npos == 2 || (tool && ps.npos == 1)) {
		o->url = ps.pos[0];
		o->mountpoint = ps.pos[1];
	} else {
		o->url = strdup(OPTS_DEFAULT_URL);
		o->mountpoint = ps.npos == 1 ? ps.pos[0] : NULL;
	}
	ps.pos[0] = ps.pos[1] = NULL;
	if (!o->cache_dir)
		o->cache_dir = default_cache_dir();
	if (!o->s3_scheme)
		o->s3_scheme = strdup("https");
	if (!o->originals_root)
		o->originals_root = strdup(OPTS_DEFAULT_ORIGINALS);
	if (!o->ontology)
		o->ontology = strdup("auto");
	if (!o->url || !o->cache_dir || !o->s3_scheme || !o->originals_root ||
	    !o->ontology) {
		rc = -ENOMEM;
		goto out;
	}
	if (o->help || o->version)
		goto done;
	rc = check(o, tool);
	if (rc < 0 || tool)
		goto out;
	rc = add_mount_opts(&args, o->url);
	if (rc == 0 && fuse_opt_add_arg(&args, o->mountpoint) < 0)
		rc = -ENOMEM;
	if (rc < 0)
		goto out;
done:
	o->fuse_argc = args.argc;
	o->fuse_argv = args.argv;
	args.argv = NULL;
	args.allocated = 0;
out:
	free(ps.pos[0]);
	free(ps.pos[1]);
	fuse_opt_free_args(&args);
	*out = ps.o;
	return rc;
}

int opts_parse(int argc, char *argv[], struct opts *out)
{
	return parse(argc, argv, out, false);
}

int opts_parse_tool(int argc, char *argv[], struct opts *out)
{
	return parse(argc, argv, out, true);
}

void opts_release(struct opts *o)
{
	struct fuse_args args = FUSE_ARGS_INIT(o->fuse_argc, o->fuse_argv);

	if (o->fuse_argv) {
		args.allocated = 1;
		fuse_opt_free_args(&args);
	}
	free(o->url);
	free(o->mountpoint);
	free(o->cache_dir);
	free(o->seed_cache);
	free(o->log_file);
	free(o->trace);
	free(o->notify_pipe);
	free(o->zarr_url);
	free(o->zarr_catalog);
	free(o->s3_scheme);
	free(o->originals_root);
	free(o->ontology);
	free(o->proxy);
	free(o->proxy_https);
	free(o->cache_size_str);
	free(o->mem_str);
	memset(o, 0, sizeof(*o));
}

void opts_print_help(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s [options] [URL] MOUNTPOINT\n"
		"       %s status MOUNTPOINT   one line: requests, cache, "
		"memory\n"
		"\n"
		"Mount an IDR-style bio-image archive (the Image Data Resource "
		"or any\n"
		"OMERO.web server) read-only. URL defaults to %s.\n"
		"\n"
		"general options:\n"
		"    -h   --help             print this help and exit\n"
		"    -V   --version          print the version and exit\n"
		"    -f                      stay in the foreground\n"
		"    -d   -o debug           debug output (implies -f)\n"
		"    -o opt,[opt...]         mount options\n"
		"\n"
		"idrfs options:\n"
		"    -o cache_dir=DIR        cache directory (default "
		"$XDG_CACHE_HOME/idrfs)\n"
		"    -o seed_cache=DIR       read-only cache directory read "
		"after the local one\n"
		"                            (made with cache_dir=DIR; default "
		"none)\n"
		"    -o timeout=SECONDS      deadline of each file operation "
		"(default %u)\n"
		"    -o max_conns=N          connections per host (default "
		"%u)\n"
		"    -o ttl=SECONDS          how long listings are cached "
		"(default %u)\n"
		"    -o mem=SIZE             memory the daemon may hold, K/M/G "
		"(default 128M)\n"
		"    -o prefetch=MIB         read ahead of sequential readers, "
		"0 off (default %u);\n"
		"                            what mem= cannot keep goes to the "
		"cache only\n"
		"    -o readahead=KIB        the kernel's read-ahead window "
		"(needs root; 0: the\n"
		"                            kernel's; default %u)\n"
		"    -o cache_size=SIZE      cache size limit, K/M/G/T "
		"(default "
		"10G)\n"
		"    -o offline              no network: serve what is cached, "
		"the rest is EIO\n"
		"    -o log_file=PATH        log to a file (default: stderr "
		"with "
		"-f, else syslog)\n"
		"    -o trace=LIST           debug lines of components: "
		"main,http,api,tree,fuse,\n"
		"                            cache,tiff,zarr,search or all; "
		"-name removes one\n"
		"    -o notify_pipe=PATH     write \"ok\" or \"fail\" to this "
		"FIFO once mounted\n"
		"    -o zarr_url=T[|T...]    Zarr URL templates with {id} "
		"{study} {letter}\n"
		"                            {plate} {row} {column} {field}, "
		"probed once per\n"
		"                            study (default none: the image's "
		"ExternalInfo)\n"
		"    -o zarr_catalog=SRC     CSV/TSV (URL or file) of image "
		"ids and Zarr URLs\n"
		"                            (default none)\n"
		"    -o no_zarr_fileset      do not look for a Zarr in "
		"images' filesets\n"
		"                            (default: look, on "
		"originals_root)\n"
		"    -o s3_scheme=SCHEME     scheme for s3:// ExternalInfo "
		"URLs "
		"(default https)\n"
		"    -o originals_root=URL   download root of original files "
		"(default\n"
		"                            %s)\n"
		"    -o ontology=BACKEND     by-* menus from: auto (detect), "
		"searchengine,\n"
		"                            mapr, or none (default auto)\n"
		"    -o proxy=URL[;URL...]   HTTP proxies in order of use, "
		"with "
		"failover; DIRECT:\n"
		"                            no proxy (default: the http_proxy "
		"variables)\n"
		"    -o startup_jitter=SECONDS  the first request waits a "
		"random "
		"time below it\n"
		"                            (default 0)\n"
		"    -o proxy_https=MODE     https:// through a proxy: tunnel "
		"(CONNECT,\n"
		"                            not cached; default) or forward "
		"(sent to it in\n"
		"                            plain HTTP, it fetches over TLS "
		"and caches)\n"
		"\n"
		"Accepted and ignored (fstab): auto, noauto, user, nouser, "
		"users, _netdev,\n"
		"nofail, defaults.\n"
		"\n",
		prog, prog, OPTS_DEFAULT_URL, OPTS_DEFAULT_TIMEOUT,
		OPTS_DEFAULT_MAX_CONNS, OPTS_DEFAULT_TTL, OPTS_DEFAULT_PREFETCH,
		OPTS_DEFAULT_READAHEAD, OPTS_DEFAULT_ORIGINALS);
}
