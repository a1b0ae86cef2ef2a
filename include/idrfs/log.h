/* SPDX-License-Identifier: MIT */
/*
 * log: the one log sink of idrfs (stderr, a file or syslog), syslog-ordered
 * levels and a component mask for tracing (-o trace=http,api).
 *
 * Limits: one process-wide sink (the only mutable global in idrfs); lines
 * longer than LOG_LINE_MAX are cut; untrusted text must go through
 * log_escape() before it reaches a format string argument.
 */
#ifndef IDRFS_LOG_H
#define IDRFS_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Components, for trace=. Keep log.c's name table in the same order. */
enum log_component {
	LOG_C_MAIN = 1u << 0,
	LOG_C_HTTP = 1u << 1,
	LOG_C_API = 1u << 2,
	LOG_C_TREE = 1u << 3,
	LOG_C_FUSE = 1u << 4,
	LOG_C_CACHE = 1u << 5,
	LOG_C_TIFF = 1u << 6,
	LOG_C_ZARR = 1u << 7,
	LOG_C_SEARCH = 1u << 8,
	LOG_C_ALL = (1u << 9) - 1,
};

enum log_sink {
	LOG_SINK_STDERR,
	LOG_SINK_FILE,
	LOG_SINK_SYSLOG,
};

#define LOG_LINE_MAX 2048

/**
 * Route the log to a sink.
 * @param[in] sink where lines go
 * @param[in] path file to append to, for LOG_SINK_FILE (copied)
 * @return 0, or -errno if the file cannot be opened (the sink is unchanged)
 * @note Not thread-safe against concurrent log_msg(); call before threads.
 */
int log_open(enum log_sink sink, const char *path);

/** Close a file sink and fall back to stderr. */
void log_close(void);

/** Lines above @p level are dropped unless their component is traced. */
void log_set_level(enum log_level level);

/**
 * Parse a trace list such as "http,api" or "all,-fuse" and enable debug
 * lines of those components.
 * @return 0, or -EINVAL naming the bad word in *bad (points into @p spec,
 *         valid as long as @p spec)
 */
int log_set_trace(const char *spec, const char **bad, size_t *badlen);

/** True if a line of this level and component would be written. */
bool log_enabled(enum log_level level, unsigned component);

void log_msg(enum log_level level, unsigned component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * Take a piece of a line from a library that logs in fragments (libfuse):
 * text is kept per thread until a newline ends it, then logged as one line.
 */
void log_fragment(enum log_level level, unsigned component, const char *fmt,
		  va_list ap) __attribute__((format(printf, 3, 0)));

/**
 * Copy untrusted text into @p out with control characters, backslashes and
 * quotes escaped and invalid UTF-8 shown as \xNN, cut to @p outsz.
 * @return @p out, always NUL-terminated
 */
char *log_escape(const char *in, char *out, size_t outsz);

/**
 * Length of the valid UTF-8 sequence at @p s (NUL-terminated): 1 to 4, or
 * 0 if it is not one (a stray byte, an overlong form, a surrogate, past
 * U+10FFFF). The one UTF-8 rule of idrfs: the log's escaping and the
 * tree's names both use it.
 * @note Pure and thread-safe.
 */
size_t log_utf8_len(const unsigned char *s);

/* Arguments are evaluated only when the line will be written. */
#define LOG_AT(lvl, comp, ...)                                                 \
	do {                                                                   \
		if (log_enabled((lvl), (comp)))                                \
			log_msg((lvl), (comp), __VA_ARGS__);                   \
	} while (0)

#define log_error(comp, ...)  LOG_AT(LOG_LEVEL_ERR, (comp), __VA_ARGS__)
#define log_warn(comp, ...)   LOG_AT(LOG_LEVEL_WARNING, (comp), __VA_ARGS__)
#define log_notice(comp, ...) LOG_AT(LOG_LEVEL_NOTICE, (comp), __VA_ARGS__)
#define log_info(comp, ...)   LOG_AT(LOG_LEVEL_INFO, (comp), __VA_ARGS__)
#define log_debug(comp, ...)  LOG_AT(LOG_LEVEL_DEBUG, (comp), __VA_ARGS__)

#endif
