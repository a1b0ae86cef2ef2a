/* SPDX-License-Identifier: MIT */
/*
 * log: formats one line per call and writes it to the sink. It knows nothing
 * of the other modules; adapters for libfuse and libcurl chatter live in the
 * modules that own those libraries and call log_msg().
 */
#include "config.h"

#include "idrfs/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

/* The only mutable global of idrfs; protected by lock for writes. */
static struct {
	pthread_mutex_t lock;
	enum log_sink sink;
	FILE *file;
	enum log_level level;
	unsigned trace;
} g_log = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.sink = LOG_SINK_STDERR,
	.level = LOG_LEVEL_NOTICE,
};

static const char *const component_names[] = {
	"main",	 "http", "api",	 "tree",   "fuse",
	"cache", "tiff", "zarr", "search",
};

static const char *const level_names[] = {
	[LOG_LEVEL_ERR] = "error",     [LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_NOTICE] = "notice", [LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

int log_open(enum log_sink sink, const char *path)
{
	FILE *f = NULL;

	if (sink == LOG_SINK_FILE) {
		f = fopen(path, "ae");
		if (!f)
			return -errno;
		setvbuf(f, NULL, _IOLBF, 0);
	}
	if (sink == LOG_SINK_SYSLOG)
		openlog("idrfs", LOG_PID, LOG_DAEMON);
	if (g_log.file)
		fclose(g_log.file);
	g_log.file = f;
	g_log.sink = sink;
	return 0;
}

void log_close(void)
{
	if (g_log.file)
		fclose(g_log.file);
	if (g_log.sink == LOG_SINK_SYSLOG)
		closelog();
	g_log.file = NULL;
	g_log.sink = LOG_SINK_STDERR;
}

void log_set_level(enum log_level level)
{
	g_log.level = level;
}

int log_set_trace(const char *spec, const char **bad, size_t *badlen)
{
	unsigned mask = 0;
	const char *p = spec;

	while (*p) {
		size_t len = strcspn(p, ",");
		bool neg = false;
		const char *w = p;
		size_t wl = len;
		unsigned bit = 0;

		if (wl > 0 && w[0] == '-') {
			neg = true;
			w++;
			wl--;
		}
		if (wl == 3 && memcmp(w, "all", 3) == 0)
			bit = LOG_C_ALL;
		for (size_t i = 0;
		     !bit &&
		     i < sizeof(component_names) / sizeof(component_names[0]);
		     i++) {
			if (strlen(component_names[i]) == wl &&
			    memcmp(component_names[i], w, wl) == 0)
				bit = 1u << i;
		}
		if (!bit && wl > 0) {
			if (bad)
				*bad = p;
			if (badlen)
				*badlen = len;
			return -EINVAL;
		}
		if (neg)
			mask &= ~bit;
		else
			mask |= bit;
		p += len;
		if (*p == ',')
			p++;
	}
	g_log.trace = mask;
	return 0;
}

bool log_enabled(enum log_level level, unsigned component)
{
	if (level <= g_log.level)
		return true;
	return level == LOG_LEVEL_DEBUG && (g_log.trace & component);
}

static const char *component_name(unsigned component)
{
	for (size_t i = 0;
	     i < sizeof(component_names) / sizeof(component_names[0]); i++) {
		if (component & (1u << i))
			return component_names[i];
	}
	return "main";
}

void log_msg(enum log_level level, unsigned component, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;

	if (g_log.sink == LOG_SINK_SYSLOG) {
		syslog((int)level, "%s: %s", component_name(component), line);
		return;
	}

	FILE *out = g_log.file ? g_log.file : stderr;
	char stamp[32] = "";
	struct timespec ts;
	struct tm tm;

	if (g_log.sink == LOG_SINK_FILE) {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	}
	pthread_mutex_lock(&g_log.lock);
	fprintf(out, "%sidrfs: %s: %s: %s\n", stamp, level_names[level],
		component_name(component), line);
	pthread_mutex_unlock(&g_log.lock);
}

/* See log.h. */
size_t log_utf8_len(const unsigned char *s)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

char *log_escape(const char *in, char *out, size_t outsz)
{
	const unsigned char *s = (const unsigned char *)(in ? in : "(null)");
	size_t o = 0;

	if (outsz == 0)
		return out;
	while (*s) {
		char tmp[12];
		size_t tl;
		size_t sl = log_utf8_len(s);

		if (sl == 2 && s[0] == 0xc2 && s[1] < 0xa0) {
			/* a C1 control (U+0080..U+009F): terminals obey it */
			tl = (size_t)snprintf(tmp, sizeof(tmp), "\\xc2\\x%02x",
					      s[1]);
		} else if (sl == 1 && (*s < 0x20 || *s == 0x7f || *s == '\\' ||
				       *s == '"')) {
			if (*s == '\\' || *s == '"')
				tl = (size_t)snprintf(tmp, sizeof(tmp), "\\%c",
						      *s);
			else
				tl = (size_t)snprintf(tmp, sizeof(tmp),
						      "\\x%02x", *s);
			sl = 1;
		} else if (sl == 0) {
			tl = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02x", *s);
			sl = 1;
		} else {
			memcpy(tmp, s, sl);
			tl = sl;
		}
		if (tl >= outsz - o)
			break;
		memcpy(out + o, tmp, tl);
		o += tl;
		s += sl;
	}
	out[o] = '\0';
	return out;
}

/* Per-thread pending fragment; part of the log sink's state. */
static __thread char frag[LOG_LINE_MAX];
static __thread size_t frag_len;

void log_fragment(enum log_level level, unsigned component, const char *fmt,
		  va_list ap)
{
	char piece[LOG_LINE_MAX];
	char *p = piece;
	int n = vsnprintf(piece, sizeof(piece), fmt, ap);

	if (n < 0)
		return;
	for (;;) {
		char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len > sizeof(frag) - 1 - frag_len)
			len = sizeof(frag) - 1 - frag_len;
		memcpy(frag + frag_len, p, len);
		frag_len += len;
		frag[frag_len] = '\0';
		if (!nl)
			break;
		if (log_enabled(level, component)) {
			const char *line = frag;

			if (strncmp(line, "fuse: ", 6) == 0)
				line += 6;
			log_msg(level, component, "%s", line);
		}
		frag_len = 0;
		frag[0] = '\0';
		p = nl + 1;
	}
}
